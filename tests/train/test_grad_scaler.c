/* test_grad_scaler.c: the dynamic loss scaler of precision "16-mixed"
 * (src/train/grad_scaler.c) on CPU tensors, where every machine runs it —
 * the loss scaled by 65536, gradients divided back exactly, an inf or NaN
 * anywhere found (and nothing found in large finite gradients), the scale
 * halved on an overflow and doubled after 2000 good steps, the state
 * through its checkpoint JSON, a malformed state refused naming the file,
 * and a disabled scaler that changes nothing. The trainer's use of it runs
 * on a GPU (tests/cuda/test_cuda_trainer.c). */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train/train_impl.h"
#include "volt_test.h"

/* Two parameters whose gradients are set by hand. */
typedef struct {
    volt_tensor *p[2];
    volt_optimizer *opt;
} fixture;

static fixture make(const double *g0, const double *g1) {
    fixture f;
    for (int i = 0; i < 2; i++) {
        f.p[i] = volt_persist(volt_requires_grad(volt_zeros(1, (int64_t[]){3}, VOLT_F32), true));
        volt_tensor *g = volt_from_array(i ? g1 : g0, VOLT_F64, 1, (int64_t[]){3});
        f.p[i]->grad = volt_persist(volt_to_dtype(g, VOLT_F32)); /* owned by the parameter */
    }
    volt_params ps = {2, f.p, (const char *const[]){"a", "b"}};
    f.opt = volt_sgd_new(ps, &(volt_sgd_options){.lr = 0.1});
    return f;
}

static void drop(fixture *f) {
    volt_optimizer_free(f->opt);
    for (int i = 0; i < 2; i++) volt_tensor_free(f->p[i]);
}

static void test_scale_and_unscale(void **state) {
    (void)state;
    volt_grad_scaler s;
    volt_grad_scaler_init(&s, true);
    assert_true(s.scale == 65536.0);
    volt_tensor *loss = volt_scalar(0.75, VOLT_F32);
    assert_true(volt_tensor_item(volt_grad_scaler_scale(&s, loss)) == 0.75 * 65536.0);
    /* gradients as backward of the scaled loss leaves them: divided back exactly */
    double g0[3] = {65536.0, -3 * 65536.0, 0.5 * 65536.0}, g1[3] = {1e30, -1e30, 3e37};
    fixture f = make(g0, g1);
    assert_int_equal(volt_grad_scaler_unscale(&s, f.opt), VOLT_OK);
    assert_false(s.found_inf); /* large but finite: the probe does not overflow */
    assert_true(volt_tensor_get_flat(f.p[0]->grad, 0) == 1.0);
    assert_true(volt_tensor_get_flat(f.p[0]->grad, 1) == -3.0);
    assert_true(volt_tensor_get_flat(f.p[0]->grad, 2) == 0.5);
    drop(&f);
}

static void test_found_inf_and_nan(void **state) {
    (void)state;
    const double bad[2] = {INFINITY, NAN};
    for (int k = 0; k < 2; k++) {
        volt_grad_scaler s;
        volt_grad_scaler_init(&s, true);
        double g0[3] = {1, 2, 3}, g1[3] = {4, bad[k], 6};
        fixture f = make(g0, g1);
        assert_int_equal(volt_grad_scaler_unscale(&s, f.opt), VOLT_OK);
        assert_true(s.found_inf);
        volt_grad_scaler_update(&s);
        assert_true(s.scale == 32768.0);
        assert_int_equal(s.growth_tracker, 0);
        drop(&f);
    }
}

static void test_growth(void **state) {
    (void)state;
    volt_grad_scaler s;
    volt_grad_scaler_init(&s, true);
    for (int i = 0; i < 1999; i++) volt_grad_scaler_update(&s);
    assert_true(s.scale == 65536.0);
    assert_int_equal(s.growth_tracker, 1999);
    volt_grad_scaler_update(&s);
    assert_true(s.scale == 131072.0);
    assert_int_equal(s.growth_tracker, 0);
    s.found_inf = true; /* an overflow restarts the count */
    volt_grad_scaler_update(&s);
    assert_true(s.scale == 65536.0);
}

static void test_checkpoint_state(void **state) {
    (void)state;
    volt_grad_scaler s, back;
    volt_grad_scaler_init(&s, true);
    s.scale = 8192.0, s.growth_tracker = 17;
    cJSON *o = volt_grad_scaler_to_json(&s);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    volt_grad_scaler_init(&back, true);
    assert_int_equal(volt_grad_scaler_from_json(&back, text, "x.ckpt"), VOLT_OK);
    assert_true(back.scale == 8192.0);
    assert_int_equal(back.growth_tracker, 17);
    cJSON_free(text);
    /* written without 16-mixed: the initial state stays */
    volt_grad_scaler_init(&back, true);
    assert_int_equal(volt_grad_scaler_from_json(&back, NULL, "x.ckpt"), VOLT_OK);
    assert_true(back.scale == 65536.0);
    const char *bad[] = {"{\"scale\": 0, \"growth_tracker\": 1}", "{\"scale\": 2}", "[1, 2]",
                         "not json"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(volt_grad_scaler_from_json(&back, bad[i], "run/last.ckpt"),
                         VOLT_ERR_FORMAT);
        VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "checkpoint run/last.ckpt: 'grad_scaler' is malformed");
    }
}

static void test_disabled(void **state) {
    (void)state;
    volt_grad_scaler s;
    volt_grad_scaler_init(&s, false);
    volt_tensor *loss = volt_scalar(2.0, VOLT_F32);
    assert_ptr_equal(volt_grad_scaler_scale(&s, loss), loss);
    double g0[3] = {1, INFINITY, 3}, g1[3] = {4, 5, 6};
    fixture f = make(g0, g1);
    assert_int_equal(volt_grad_scaler_unscale(&s, f.opt), VOLT_OK);
    assert_false(s.found_inf);
    assert_true(volt_tensor_get_flat(f.p[1]->grad, 0) == 4.0);
    volt_grad_scaler_update(&s);
    assert_true(s.scale == 65536.0);
    drop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_scale_and_unscale), VT_TEST(test_found_inf_and_nan), VT_TEST(test_growth),
        VT_TEST(test_checkpoint_state),  VT_TEST(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
