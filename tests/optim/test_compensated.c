/* test_compensated.c: compensated updates of bf16 parameters
 * (volt_optimizer_set_compensated). SGD's bf16 kernels (the first step,
 * the vectorised momentum loop with its tail, weight decay with nesterov)
 * against the arithmetic written out in float here — the parameter's value
 * p + c, the new value q, p = bf16(q), c = bf16(q - p) — bit for bit on 1
 * and 2 threads; updates below half a bf16 step, which plain rounding loses
 * and compensated ones add up, for SGD (its own kernel) and Lion (on f32
 * copies, as every other optimizer); f32 parameters untouched by the setting; the compensation
 * saved as "state.<i>.compensation" and a reloaded optimizer continuing bit
 * for bit, dropped by an optimizer without compensated updates, refused for
 * an f32 parameter; turning it off frees it; NULL refused. */
#include "optim_helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volt_tensor *rand_bf16(int64_t n, uint64_t seed, double scale) {
    volt_generator g = volt_generator_make(seed, 0);
    volt_scope_begin();
    volt_tensor *t = volt_persist(
        volt_to_dtype(volt_mul_scalar(volt_randn(VOLT_SHAPE(n), VOLT_F32, &g), scale), VOLT_BF16));
    volt_scope_end();
    return t;
}

static float widen(uint16_t v) {
    uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The data of a state tensor named "state.0.<slot>" in a state dict. */
static const volt_tensor *state_tensor(const volt_state_dict *sd, const char *slot) {
    char name[64];
    snprintf(name, sizeof name, "state.0.%s", slot);
    return volt_state_dict_get(sd, name);
}

/* SGD(lr, momentum, weight decay, nesterov) with compensated updates on a
 * bf16 parameter of n elements for `steps` steps, each checked against the
 * float arithmetic in PyTorch's order on the value p + c. */
static void check_sgd(int64_t n, int steps, double wd, bool nesterov) {
    const double lr = 0.01, momentum = 0.9;
    volt_tensor *p = volt_requires_grad(rand_bf16(n, 1, 1.0), true);
    volt_optimizer *opt =
        volt_sgd_new(OH_PARAMS(p),
                     &(volt_sgd_options){
                         .lr = lr, .momentum = momentum, .weight_decay = wd, .nesterov = nesterov});
    assert_non_null(opt);
    assert_false(volt_optimizer_compensated(opt));
    assert_int_equal(volt_optimizer_set_compensated(opt, true), VOLT_OK);
    assert_true(volt_optimizer_compensated(opt));
    uint16_t *want = malloc((size_t)n * 2), *buf = malloc((size_t)n * 2);
    uint16_t *comp = calloc((size_t)n, 2);
    memcpy(want, volt_tensor_data(p), (size_t)n * 2);
    const float mom = (float)momentum, neg_lr = (float)(-lr), fwd = (float)wd;
    for (int s = 0; s < steps; s++) {
        volt_tensor *g = rand_bf16(n, 100 + (uint64_t)s, 1.0);
        const uint16_t *gv = volt_tensor_data(g);
        oh_set_grad_tensor(p, g);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        for (int64_t i = 0; i < n; i++) {
            float v = widen(want[i]) + widen(comp[i]);
            float d = widen(gv[i]);
            if (wd != 0) {
                volatile float decay = fwd * v;
                d = d + decay;
            }
            volatile float prod = widen(buf[i]) * mom, keep = 1.0f * d;
            float b = s == 0 ? d : prod + keep;
            buf[i] = volt_f32_to_bf16(b);
            if (nesterov) {
                volatile float mb = mom * b;
                d = d + mb;
            } else {
                d = b;
            }
            volatile float step = neg_lr * d;
            float q = v + step;
            want[i] = volt_f32_to_bf16(q);
            comp[i] = volt_f32_to_bf16(q - widen(want[i]));
        }
        char *json = NULL;
        volt_state_dict *sd = volt_optimizer_state_dict(opt, &json);
        assert_non_null(sd);
        const uint16_t *got = volt_tensor_data(p);
        const uint16_t *gc = volt_tensor_data(state_tensor(sd, "compensation"));
        for (int64_t i = 0; i < n; i++)
            if (got[i] != want[i] || gc[i] != comp[i])
                fail_msg("n %lld step %d element %lld: got p %.9g c %.9g, want p %.9g c %.9g",
                         (long long)n, s, (long long)i, (double)widen(got[i]), (double)widen(gc[i]),
                         (double)widen(want[i]), (double)widen(comp[i]));
        volt_state_dict_free(sd);
        free(json);
        volt_tensor_free(g);
    }
    free(want);
    free(buf);
    free(comp);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
}

static void test_sgd_bitwise(void **state) {
    (void)state;
    const int64_t sizes[] = {1, 33, 4099};
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(volt_set_num_threads(threads), VOLT_OK);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            check_sgd(sizes[i], 4, 0.0, false); /* the first step, then the fast loop */
            check_sgd(sizes[i], 3, 0.01, true); /* the general kernel */
        }
    }
    VT_ASSERT_NO_ERROR();
}

/* 100 updates of 1e-3 each to a weight of 1 (half a bf16 step there is
 * 2^-8 ~ 3.9e-3): plain rounding leaves 1; compensated updates reach 0.9.
 * The compensation, below half a bf16 step of the weight (2^-9 in [0.5,
 * 1)), is itself bf16: each store may drop up to half its own step, 2^-18,
 * so parameter + compensation is within 100 * 2^-18 ~ 3.8e-4 of 0.9 and the
 * parameter within that and half a bf16 step. make builds the optimizer. */
static void check_small_updates(const char *who, volt_optimizer *(*make)(volt_tensor *p),
                                double grad) {
    const double drift = 100 * ldexp(1, -18);
    for (int compensated = 0; compensated <= 1; compensated++) {
        volt_tensor *p = oh_param((double[]){1, 1, 1, 1}, 1, (int64_t[]){4}, VOLT_BF16);
        volt_optimizer *opt = make(p);
        assert_non_null(opt);
        assert_int_equal(volt_optimizer_set_compensated(opt, compensated), VOLT_OK);
        for (int s = 0; s < 100; s++) {
            oh_set_grad(p, (double[]){grad, grad, grad, grad});
            assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        }
        char *json = NULL;
        volt_state_dict *sd = volt_optimizer_state_dict(opt, &json);
        assert_non_null(sd);
        const volt_tensor *c = state_tensor(sd, "compensation");
        for (int64_t i = 0; i < 4; i++) {
            double v = volt_tensor_get_flat(p, i);
            if (!compensated) {
                assert_null(c);
                if (v != 1.0)
                    fail_msg("%s, plain bf16: %.9g, want 1 (updates below half a step)", who, v);
            } else {
                assert_non_null(c);
                double sum = v + volt_tensor_get_flat(c, i);
                if (fabs(v - 0.9) > ldexp(1, -9) + drift || fabs(sum - 0.9) > drift)
                    fail_msg("%s, compensated: p %.9g, p + c %.9g, want 0.9", who, v, sum);
            }
        }
        volt_state_dict_free(sd);
        free(json);
        volt_optimizer_free(opt);
        volt_tensor_free(p);
    }
}

static volt_optimizer *make_sgd(volt_tensor *p) {
    return volt_sgd_new(OH_PARAMS(p), &(volt_sgd_options){.lr = 1e-3});
}
static volt_optimizer *make_lion(volt_tensor *p) {
    return volt_lion_new(OH_PARAMS(p), &(volt_lion_options){.lr = 1e-3});
}

static void test_small_updates_add_up(void **state) {
    (void)state;
    check_small_updates("SGD", make_sgd, 1.0);
    check_small_updates("Lion", make_lion, 0.5);
    VT_ASSERT_NO_ERROR();
}

/* An f32 parameter is updated as without the setting and gets no
 * compensation. */
static void test_f32_untouched(void **state) {
    (void)state;
    double v0[3] = {1, -2, 3};
    volt_tensor *a = oh_param(v0, 1, (int64_t[]){3}, VOLT_F32);
    volt_tensor *b = oh_param(v0, 1, (int64_t[]){3}, VOLT_F32);
    volt_optimizer *oa = volt_adam_new(OH_PARAMS(a), NULL);
    volt_optimizer *ob = volt_adam_new(OH_PARAMS(b), NULL);
    assert_int_equal(volt_optimizer_set_compensated(ob, true), VOLT_OK);
    for (int s = 0; s < 3; s++) {
        oh_set_grad(a, (double[]){0.1, -0.2, 0.3});
        oh_set_grad(b, (double[]){0.1, -0.2, 0.3});
        assert_int_equal(volt_optimizer_step(oa), VOLT_OK);
        assert_int_equal(volt_optimizer_step(ob), VOLT_OK);
    }
    for (int64_t i = 0; i < 3; i++)
        assert_true(volt_tensor_get_flat(a, i) == volt_tensor_get_flat(b, i));
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(ob, &json);
    assert_non_null(sd);
    assert_null(state_tensor(sd, "compensation"));
    assert_int_equal(sd->count, 2); /* exp_avg, exp_avg_sq */
    volt_state_dict_free(sd);
    free(json);
    volt_optimizer_free(oa);
    volt_optimizer_free(ob);
    volt_tensor_free(a);
    volt_tensor_free(b);
    VT_ASSERT_NO_ERROR();
}

/* A run of Adam on a bf16 parameter saved after 3 steps and loaded into a
 * fresh optimizer over a copy continues bit for bit (the compensation comes
 * back); one without compensated updates drops it; an f32 parameter refuses
 * it; turning the setting off frees it. */
static void test_state_round_trip(void **state) {
    (void)state;
    const int64_t n = 37;
    volt_tensor *p = volt_requires_grad(rand_bf16(n, 3, 1.0), true);
    volt_optimizer *opt = volt_adam_new(OH_PARAMS(p), &(volt_adam_options){.lr = 1e-3});
    assert_int_equal(volt_optimizer_set_compensated(opt, true), VOLT_OK);
    volt_tensor *grads[6];
    for (int s = 0; s < 6; s++) grads[s] = rand_bf16(n, 50 + (uint64_t)s, 0.1);
    for (int s = 0; s < 3; s++) {
        oh_set_grad_tensor(p, grads[s]);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
    }
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(opt, &json);
    assert_non_null(sd);
    const volt_tensor *c = state_tensor(sd, "compensation");
    assert_non_null(c);
    assert_int_equal(c->dtype, VOLT_BF16);
    int nonzero = 0;
    for (int64_t i = 0; i < n; i++) nonzero += volt_tensor_get_flat(c, i) != 0;
    assert_true(nonzero > 0);

    volt_tensor *q = volt_requires_grad(rand_bf16(n, 3, 1.0), true);
    memcpy(volt_tensor_data(q), volt_tensor_data(p), (size_t)n * 2);
    volt_optimizer *resumed = volt_adam_new(OH_PARAMS(q), &(volt_adam_options){.lr = 1e-3});
    assert_int_equal(volt_optimizer_set_compensated(resumed, true), VOLT_OK);
    assert_int_equal(volt_optimizer_load_state_dict(resumed, sd, json), VOLT_OK);
    for (int s = 3; s < 6; s++) {
        oh_set_grad_tensor(p, grads[s]);
        oh_set_grad_tensor(q, grads[s]);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        assert_int_equal(volt_optimizer_step(resumed), VOLT_OK);
    }
    assert_memory_equal(volt_tensor_data(p), volt_tensor_data(q), (size_t)n * 2);
    char *ja = NULL, *jb = NULL;
    volt_state_dict *sa = volt_optimizer_state_dict(opt, &ja);
    volt_state_dict *sb = volt_optimizer_state_dict(resumed, &jb);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_memory_equal(volt_tensor_data(state_tensor(sa, "compensation")),
                        volt_tensor_data(state_tensor(sb, "compensation")), (size_t)n * 2);
    volt_state_dict_free(sa);
    volt_state_dict_free(sb);
    free(ja);
    free(jb);

    /* Without compensated updates the load drops it. */
    volt_tensor *r = volt_requires_grad(rand_bf16(n, 3, 1.0), true);
    volt_optimizer *plain = volt_adam_new(OH_PARAMS(r), &(volt_adam_options){.lr = 1e-3});
    assert_int_equal(volt_optimizer_load_state_dict(plain, sd, json), VOLT_OK);
    char *json2 = NULL;
    volt_state_dict *sd2 = volt_optimizer_state_dict(plain, &json2);
    assert_non_null(sd2);
    assert_null(state_tensor(sd2, "compensation"));
    assert_non_null(state_tensor(sd2, "exp_avg"));
    volt_state_dict_free(sd2);
    free(json2);

    /* An f32 parameter has none to take. */
    volt_tensor *w = volt_persist(volt_zeros(1, (int64_t[]){n}, VOLT_F32));
    volt_requires_grad(w, true);
    volt_optimizer *wide = volt_adam_new(OH_PARAMS(w), &(volt_adam_options){.lr = 1e-3});
    assert_int_equal(volt_optimizer_set_compensated(wide, true), VOLT_OK);
    assert_int_equal(volt_optimizer_load_state_dict(wide, sd, json), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "tensor 'state.0.compensation' bf16[37] does not match its "
                                    "parameter f32[37] (only 16-bit ones have one)");

    /* Off: freed, and the next state has none. */
    assert_int_equal(volt_optimizer_set_compensated(opt, false), VOLT_OK);
    sd2 = volt_optimizer_state_dict(opt, &json2);
    assert_non_null(sd2);
    assert_null(state_tensor(sd2, "compensation"));
    volt_state_dict_free(sd2);
    free(json2);

    volt_state_dict_free(sd);
    free(json);
    for (int s = 0; s < 6; s++) volt_tensor_free(grads[s]);
    volt_optimizer_free(opt);
    volt_optimizer_free(resumed);
    volt_optimizer_free(plain);
    volt_optimizer_free(wide);
    volt_tensor_free(p);
    volt_tensor_free(q);
    volt_tensor_free(r);
    volt_tensor_free(w);
    VT_ASSERT_NO_ERROR();
}

static void test_null_refused(void **state) {
    (void)state;
    assert_int_equal(volt_optimizer_set_compensated(NULL, true), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "optimizer_set_compensated: optimizer is NULL");
    assert_false(volt_optimizer_compensated(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_sgd_bitwise),   VT_TEST(test_small_updates_add_up),
        VT_TEST(test_f32_untouched), VT_TEST(test_state_round_trip),
        VT_TEST(test_null_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
