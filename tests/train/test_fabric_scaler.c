/* test_fabric_scaler.c: fabric's loss scaling for precision "16-mixed"
 * (src/train/fabric_precision.c) on the CPU. "16-mixed" itself needs a GPU
 * (its products are f16), so these tests switch the scaler of a CPU fabric
 * on by hand: the scaling does not depend on the dtype. Checked: backward
 * scales the gradients by 65536; optimizer_step divides them back before
 * stepping (the SGD step computed by hand, exact: the scale is a power of
 * two); clip_gradients unscales once, needs the optimizer, and leaves
 * overflowed gradients alone with an inf norm; a step with an inf gradient
 * is skipped and halves the scale; save writes the scale and load restores
 * it. The GPU run: tests/cuda/test_cuda_fabric.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/fabric_impl.h"
#include "volt_test.h"
#include "lin_fixture.h"

typedef struct {
    lin m;
    volt_fabric *f;
    volt_optimizer *opt;
} rig;

/* A launched CPU fabric with its scaler on, the module and an SGD (lr 0.1)
 * set up. */
static void rig_make(rig *r) {
    lin_init(&r->m);
    r->f = volt_fabric_new(&(volt_fabric_options){.accelerator = "cpu"});
    assert_non_null(r->f);
    assert_int_equal(volt_fabric_launch(r->f), VOLT_OK);
    volt_grad_scaler_init(&r->f->scaler, true);
    r->opt = volt_sgd_new(volt_module_parameters(&r->m.base), &(volt_sgd_options){.lr = 0.1});
    assert_int_equal(volt_fabric_setup_module(r->f, &r->m.base), VOLT_OK);
    assert_int_equal(volt_fabric_setup_optimizers(r->f, r->opt), VOLT_OK);
}

static void rig_free(rig *r) {
    volt_fabric_free(r->f);
    volt_optimizer_free(r->opt);
    volt_module_free(&r->m.base);
}

/* backward of sum(fc(x)) at x = (3, 4): d/dw = x, d/db = 1, times the
 * scale. */
static void backward(rig *r) {
    volt_scope_begin();
    volt_tensor *x = volt_from_array((float[]){3, 4}, VOLT_F32, VOLT_SHAPE(1, 2));
    volt_tensor *loss = volt_sum_all(volt_linear_forward(r->m.fc, x));
    assert_int_equal(volt_fabric_backward(r->f, loss, NULL), VOLT_OK);
    volt_scope_end();
}

static const float *weight(rig *r) {
    return volt_tensor_data(volt_module_get(&r->m.base, "fc.weight"));
}

static const float *weight_grad(rig *r) {
    return volt_tensor_data(volt_module_get(&r->m.base, "fc.weight")->grad);
}

static void test_scaled_step(void **state) {
    (void)state;
    rig r;
    rig_make(&r);
    backward(&r);
    assert_float_equal(weight_grad(&r)[0], 3.0 * 65536, 0);
    assert_float_equal(weight_grad(&r)[1], 4.0 * 65536, 0);
    assert_int_equal(volt_fabric_optimizer_step(r.f, r.opt), VOLT_OK);
    /* SGD on the true gradient: w = (1, 2) - 0.1 (3, 4) */
    assert_float_equal(weight(&r)[0], 1.0f - 0.1f * 3.0f, 0);
    assert_float_equal(weight(&r)[1], 2.0f - 0.1f * 4.0f, 0);
    assert_float_equal(r.f->scaler.scale, 65536, 0);
    assert_int_equal(r.f->scaler.growth_tracker, 1);
    rig_free(&r);
}

/* clip_gradients unscales, and the step does not unscale again. */
static void test_clip_unscales_once(void **state) {
    (void)state;
    rig r;
    rig_make(&r);
    backward(&r);
    double norm = 0;
    assert_int_equal(volt_fabric_clip_gradients(r.f, &r.m.base, NULL, 0, 10, &norm),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "fabric: clip_gradients: precision '16-mixed' needs the optimizer");
    assert_int_equal(volt_fabric_clip_gradients(r.f, &r.m.base, r.opt, 0, 100, &norm), VOLT_OK);
    assert_float_equal(norm, sqrt(9 + 16 + 1), 1e-6); /* the true gradient's norm */
    assert_float_equal(weight_grad(&r)[0], 3.0, 0);
    assert_int_equal(volt_fabric_optimizer_step(r.f, r.opt), VOLT_OK);
    assert_float_equal(weight(&r)[0], 1.0f - 0.1f * 3.0f, 0);
    assert_float_equal(weight(&r)[1], 2.0f - 0.1f * 4.0f, 0);
    /* the next step's gradients are scaled again, and unscaled again */
    volt_optimizer_zero_grad(r.opt);
    backward(&r);
    assert_float_equal(weight_grad(&r)[0], 3.0 * 65536, 0);
    assert_int_equal(volt_fabric_optimizer_step(r.f, r.opt), VOLT_OK);
    assert_float_equal(weight(&r)[0], 1.0f - 0.1f * 3.0f - 0.1f * 3.0f, 1e-6);
    rig_free(&r);
}

/* An inf in a gradient: clipping leaves it (inf norm), the step is
 * skipped and the scale halved; the next good step runs. */
static void test_overflow_skips(void **state) {
    (void)state;
    rig r;
    rig_make(&r);
    backward(&r);
    volt_tensor *g = volt_module_get(&r.m.base, "fc.bias")->grad;
    ((float *)volt_tensor_data(g))[0] = INFINITY;
    double norm = 0;
    assert_int_equal(volt_fabric_clip_gradients(r.f, NULL, r.opt, 0, 1, &norm), VOLT_OK);
    assert_true(isinf(norm));
    assert_int_equal(volt_fabric_optimizer_step(r.f, r.opt), VOLT_OK);
    assert_float_equal(weight(&r)[0], 1.0, 0); /* skipped */
    assert_float_equal(weight(&r)[1], 2.0, 0);
    assert_float_equal(r.f->scaler.scale, 32768, 0);
    assert_int_equal(r.f->scaler.growth_tracker, 0);
    volt_optimizer_zero_grad(r.opt);
    backward(&r);
    assert_float_equal(weight_grad(&r)[0], 3.0 * 32768, 0);
    assert_int_equal(volt_fabric_optimizer_step(r.f, r.opt), VOLT_OK);
    assert_float_equal(weight(&r)[0], 1.0f - 0.1f * 3.0f, 0);
    rig_free(&r);
}

/* save writes the scale; load restores it into another fabric. */
static void test_save_and_load(void **state) {
    (void)state;
    rig r, s;
    rig_make(&r);
    rig_make(&s);
    r.f->scaler.scale = 1024;
    r.f->scaler.growth_tracker = 7;
    char path[1024];
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/fabric_scaler.ckpt", dir ? dir : "/tmp");
    volt_fabric_state st = {.module = &r.m.base, .n_optimizers = 1, .optimizers = &r.opt};
    assert_int_equal(volt_fabric_save(r.f, path, &st), VOLT_OK);
    volt_safetensors *file = volt_safetensors_open(path);
    assert_non_null(file);
    const char *scaler = volt_safetensors_metadata(file, "grad_scaler");
    assert_non_null(scaler);
    assert_non_null(strstr(scaler, "\"scale\":1024"));
    volt_safetensors_close(file);
    volt_fabric_state back = {.module = &s.m.base, .n_optimizers = 1, .optimizers = &s.opt};
    assert_int_equal(volt_fabric_load(s.f, path, &back, NULL), VOLT_OK);
    assert_float_equal(s.f->scaler.scale, 1024, 0);
    assert_int_equal(s.f->scaler.growth_tracker, 7);
    remove(path);
    rig_free(&r);
    rig_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_scaled_step),
        VT_TEST(test_clip_unscales_once),
        VT_TEST(test_overflow_skips),
        VT_TEST(test_save_and_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
