/* test_norm_rows.c: the f32 fast path of the norms over rows whose channels
 * are their elements (ops/cpu/norm.c: layer norm, RMS norm, group norm of
 * [N, C]) held to the general kernels, which f64 inputs take: the same
 * values cast to f64 give the reference forward and gradients, and the
 * f32 results must agree to f32 precision — for row lengths that leave
 * partial lane groups and weight-gradient blocks, with and without weight
 * and bias, with a large common offset — and be the same bits on one and
 * two threads with every loop forced parallel. */
#include "volt_test.h"

#include <math.h>

#include "ops/cpu/parallel.h"

typedef enum { LAYER, LAYER_PLAIN, RMS, GROUP } norm_kind;

/* The norm of x (gradients into x, w, b where they require them). */
static volt_tensor *apply(norm_kind kind, volt_tensor *x, volt_tensor *w, volt_tensor *b) {
    switch (kind) {
    case LAYER: return volt_layer_norm(x, 1, w, b, 1e-5);
    case LAYER_PLAIN: return volt_layer_norm(x, 1, NULL, NULL, 1e-5);
    case RMS: return volt_rms_norm(x, 1, w, 1e-6);
    case GROUP: return volt_group_norm(x, 3, w, b, 1e-5);
    }
    return NULL;
}

typedef struct {
    volt_tensor *y, *gx, *gw, *gb;
} results;

/* Forward and backward (upstream gradient gy) of the norm on x, w, b cast
 * to dtype. */
static results run(norm_kind kind, volt_dtype dtype, const volt_tensor *x, const volt_tensor *w,
                   const volt_tensor *b, const volt_tensor *gy) {
    volt_tensor *xd = volt_requires_grad(volt_to_dtype(x, dtype), true);
    volt_tensor *wd = volt_requires_grad(volt_to_dtype(w, dtype), true);
    volt_tensor *bd = volt_requires_grad(volt_to_dtype(b, dtype), true);
    volt_tensor *y = apply(kind, xd, wd, bd);
    assert_non_null(y);
    assert_int_equal(volt_backward_ex(y, volt_to_dtype(gy, dtype), false), VOLT_OK);
    return (results){y, xd->grad, wd->grad, bd->grad};
}

/* |f32 - f64| <= tol * (1 + |f64|) for every element. */
static void assert_close(const volt_tensor *a, const volt_tensor *ref, double tol,
                         const char *what) {
    assert_non_null(a);
    assert_non_null(ref);
    int64_t n = volt_tensor_numel(ref);
    assert_int_equal(volt_tensor_numel(a), n);
    for (int64_t i = 0; i < n; i++) {
        double va = volt_tensor_get_flat(a, i), vr = volt_tensor_get_flat(ref, i);
        if (!(fabs(va - vr) <= tol * (1.0 + fabs(vr))))
            fail_msg("%s[%lld]: f32 path %.9g, f64 reference %.9g", what, (long long)i, va, vr);
    }
}

/* The f32 fast path against the f64 general kernels, on x [rows, n] of
 * values around `offset`. */
static void check_against_f64(norm_kind kind, int64_t rows, int64_t n, double offset) {
    volt_generator g = volt_generator_make((uint64_t)(rows * 1000 + n), 0);
    volt_tensor *x = volt_add_scalar(volt_randn(VOLT_SHAPE(rows, n), VOLT_F32, &g), offset);
    volt_tensor *w = volt_add_scalar(volt_randn(VOLT_SHAPE(n), VOLT_F32, &g), 1.0);
    volt_tensor *b = volt_randn(VOLT_SHAPE(n), VOLT_F32, &g);
    volt_tensor *gy = volt_randn(VOLT_SHAPE(rows, n), VOLT_F32, &g);
    results f = run(kind, VOLT_F32, x, w, b, gy), d = run(kind, VOLT_F64, x, w, b, gy);
    /* Gradients of x scale with rstd, the weight's and bias's sum over rows. */
    assert_close(f.y, d.y, 2e-6, "y");
    assert_close(f.gx, d.gx, 1e-5, "gx");
    if (kind != LAYER_PLAIN) assert_close(f.gw, d.gw, 1e-5, "gw");
    if (kind == LAYER || kind == GROUP) assert_close(f.gb, d.gb, 1e-5, "gb");
}

static void test_layer_norm_rows_match_f64(void **state) {
    (void)state;
    const int64_t lengths[] = {1, 3, 8, 13, 45, 128, 130};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        check_against_f64(LAYER, 37, lengths[i], 0.0);
        check_against_f64(LAYER_PLAIN, 5, lengths[i], 0.0);
        check_against_f64(RMS, 7, lengths[i], 0.0);
    }
    check_against_f64(LAYER, 64, 128, 0.0); /* the GPT's rows */
    VT_ASSERT_NO_ERROR();
}

/* A large common offset: the statistics still come out right (shifted
 * sums in double), so y and the gradients keep f32 precision. */
static void test_layer_norm_rows_large_offset(void **state) {
    (void)state;
    check_against_f64(LAYER, 9, 45, 1e4);
    VT_ASSERT_NO_ERROR();
}

/* Group norm of [N, C] (one element per channel): rows N * G of C / G
 * channels, each row's weight slice at its group's channels; the weight
 * gradient goes through the general kernel. */
static void test_group_norm_rows_match_f64(void **state) {
    (void)state;
    check_against_f64(GROUP, 10, 12, 0.0);
    check_against_f64(GROUP, 4, 51, 2.0);
    VT_ASSERT_NO_ERROR();
}

/* The same bits on 1 and 2 threads, every loop going parallel on 2. */
static void test_norm_rows_thread_count_independent(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(77, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(93, 70), VOLT_F32, &g);
    volt_tensor *w = volt_randn(VOLT_SHAPE(70), VOLT_F32, &g);
    volt_tensor *gy = volt_randn(VOLT_SHAPE(93, 70), VOLT_F32, &g);
    int threads = volt_get_num_threads();
    results r[2];
    volt_cpu_set_region_ns(0);
    for (int k = 0; k < 2; k++) {
        volt_set_num_threads(k + 1);
        r[k] = run(LAYER, VOLT_F32, x, w, w, gy);
    }
    volt_cpu_set_region_ns(-1);
    volt_set_num_threads(threads);
    volt_tensor *a[4] = {r[0].y, r[0].gx, r[0].gw, r[0].gb},
                *c[4] = {r[1].y, r[1].gx, r[1].gw, r[1].gb};
    for (int t = 0; t < 4; t++)
        for (int64_t i = 0; i < volt_tensor_numel(a[t]); i++)
            assert_true(volt_tensor_get_flat(a[t], i) == volt_tensor_get_flat(c[t], i));
    VT_ASSERT_NO_ERROR();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_layer_norm_rows_match_f64),
        VT_TEST(test_layer_norm_rows_large_offset),
        VT_TEST(test_group_norm_rows_match_f64),
        VT_TEST(test_norm_rows_thread_count_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
