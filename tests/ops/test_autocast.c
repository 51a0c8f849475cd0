/* test_autocast.c: bf16 autocast (volt/ops.h). The mode: per thread, set
 * returns the previous one, off by default. The conversions round to
 * nearest even like volt_f32_to_bf16. matmul, addmm (Linear's product), bmm,
 * batched matmul with broadcast, outer, conv2d, conv1d and conv_transpose2d
 * under autocast: bf16 outputs, and f32 input gradients, equal to a float64
 * reference computed on the bf16-rounded operands (and output gradient), up
 * to f32 accumulation order and the output's own rounding, on oneDNN's
 * bf16 kernels and on the f32 fallback
 * (fast kernels off); they differ from the plain f32 results by about bf16's
 * rounding; a node keeps its forward's mode when backward runs with
 * autocast off; f64 operands and other ops are unaffected; a tensor widened
 * from bf16 goes back through its twin only while neither was written. */
#include "volt_test.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "ops/autocast_impl.h"
#include "ops/cpu/dnnl_common.h"

static volt_tensor *randn(int ndim, const int64_t *shape, uint64_t seed) {
    volt_generator g = volt_generator_make(seed, 0);
    return volt_randn(ndim, shape, VOLT_F32, &g);
}

/* t's values rounded to bf16, as f64 (a plain copy when round is false). */
static volt_tensor *as_f64(const volt_tensor *t, bool round) {
    return volt_to_dtype(round ? volt_to_dtype(t, VOLT_BF16) : t, VOLT_F64);
}

/* f32 leaf copy of t requiring grad. */
static volt_tensor *leaf32(const volt_tensor *t) { return volt_requires_grad(volt_clone(t), true); }

static volt_tensor *leaf64(const volt_tensor *t, bool round) {
    return volt_requires_grad(as_f64(t, round), true);
}

/* Largest |a - b| over elements (f32 or f64 tensors of one shape). */
static double max_diff(const volt_tensor *a, const volt_tensor *b) {
    double m = 0;
    for (int64_t i = 0; i < volt_tensor_numel(a); i++) {
        double d = fabs(volt_tensor_get_flat(a, i) - volt_tensor_get_flat(b, i));
        m = d > m ? d : m;
    }
    return m;
}

static double max_abs(const volt_tensor *a) {
    double m = 0;
    for (int64_t i = 0; i < volt_tensor_numel(a); i++) {
        double v = fabs(volt_tensor_get_flat(a, i));
        m = v > m ? v : m;
    }
    return m;
}

/* |got - want| <= tol * max|want| elementwise. */
static void assert_near(const volt_tensor *got, const volt_tensor *want, double tol,
                        const char *what) {
    assert_non_null(got);
    assert_non_null(want);
    assert_int_equal(volt_tensor_numel(got), volt_tensor_numel(want));
    double d = max_diff(got, want), scale = max_abs(want);
    if (d > tol * scale) fail_msg("%s: max |diff| %g > %g * %g", what, d, tol, scale);
}

/* |got - want| <= rel * |want| + abs elementwise: a result rounded to bf16
 * (rel 2^-8) on top of an f32 computation's error (abs). */
static void assert_rounded(const volt_tensor *got, const volt_tensor *want, double rel, double abs,
                           const char *what) {
    assert_int_equal(volt_tensor_numel(got), volt_tensor_numel(want));
    for (int64_t i = 0; i < volt_tensor_numel(got); i++) {
        double g = volt_tensor_get_flat(got, i), w = volt_tensor_get_flat(want, i);
        if (fabs(g - w) > rel * fabs(w) + abs)
            fail_msg("%s: element %lld: %g vs %g", what, (long long)i, g, w);
    }
}

/* ---------------------------------------------------------------- mode */

static void *other_thread(void *arg) {
    *(volt_autocast_mode *)arg = volt_autocast_get();
    return NULL;
}

static void test_mode(void **state) {
    (void)state;
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_OFF);
    assert_int_equal(volt_autocast_set(VOLT_AUTOCAST_BF16), VOLT_AUTOCAST_OFF);
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_BF16);
    volt_autocast_mode seen = VOLT_AUTOCAST_BF16;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, &seen), 0);
    pthread_join(th, NULL);
    assert_int_equal(seen, VOLT_AUTOCAST_OFF); /* per thread */
    assert_int_equal(volt_autocast_set(VOLT_AUTOCAST_BF16), VOLT_AUTOCAST_BF16);
    assert_int_equal(volt_autocast_set((volt_autocast_mode)7), VOLT_AUTOCAST_BF16);
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_OFF);
    assert_true(volt_autocast_bf16_native() == volt_dnnl_has_bf16());
}

static void test_conversion(void **state) {
    (void)state;
    /* 1 + 2^-8 is a tie between 1 and 1 + 2^-7: to even (1); 1 + 3 * 2^-8
     * goes up to 1 + 2^-6; just above a tie rounds up. */
    const float v[] = {1.0f,       1.00390625f, 1.01171875f, nextafterf(1.00390625f, 2.0f),
                       -2.5f,      3.4e38f,     INFINITY,    -INFINITY,
                       NAN,        1e-40f,      0.0f,        -0.0f,
                       0.33333334f};
    enum { N = sizeof v / sizeof v[0] };
    uint16_t bf[N];
    float rounded[N];
    volt_cpu_f32_to_bf16(bf, v, N);
    volt_cpu_round_bf16(rounded, v, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(bf[i], volt_f32_to_bf16(v[i]));
        float back = volt_bf16_to_f32(bf[i]);
        assert_memory_equal(&rounded[i], &back, sizeof back);
    }
    assert_true(volt_bf16_to_f32(bf[1]) == 1.0f);
    assert_true(volt_bf16_to_f32(bf[2]) == 1.015625f);
    assert_true(volt_bf16_to_f32(bf[3]) == 1.0078125f);
    assert_true(isnan(volt_bf16_to_f32(bf[8])));
    assert_true(volt_bf16_to_f32(bf[5]) == INFINITY || volt_bf16_to_f32(bf[5]) > 3.3e38f);
    /* A large array goes through the parallel loop. */
    volt_tensor *big = randn(VOLT_SHAPE(70001), 3);
    volt_tensor *r = volt_bf16_rounded(big);
    for (int64_t i = 0; i < 70001; i += 997) {
        float x = ((const float *)volt_tensor_data(big))[i];
        float want = volt_bf16_to_f32(volt_f32_to_bf16(x));
        assert_true(((const float *)volt_tensor_data(r))[i] == want);
    }
}

/* ------------------------------------------------------------- products */

/* A product of two operands (and an optional bias) through the op under
 * test. */
typedef volt_tensor *(*binary_fn)(const volt_tensor *a, const volt_tensor *b,
                                  const volt_tensor *bias);

static volt_tensor *f_linear(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_addmm(b, x, volt_transpose(w, 0, 1), 1.0, 1.0);
}
static volt_tensor *f_matmul(const volt_tensor *a, const volt_tensor *b, const volt_tensor *c) {
    (void)c;
    return volt_matmul(a, b);
}
static volt_tensor *f_bmm(const volt_tensor *a, const volt_tensor *b, const volt_tensor *c) {
    (void)c;
    return volt_bmm(a, b);
}
static volt_tensor *f_outer(const volt_tensor *a, const volt_tensor *b, const volt_tensor *c) {
    (void)c;
    return volt_outer(a, b);
}
static volt_tensor *f_addmm_scaled(const volt_tensor *a, const volt_tensor *b,
                                   const volt_tensor *c) {
    return volt_addmm(c, a, b, 0.5, -2.0);
}

/* Runs fn on (a, b, bias) under autocast: a bf16 result, equal to the f64
 * reference on rounded a and b (the bias not rounded) up to the result's
 * own rounding; f32 gradients (of a bf16 output gradient) equal to the
 * reference's. Also checks the output is off the plain f32 output by more
 * than f32 noise (so rounding happened). */
static void check_product(binary_fn fn, const volt_tensor *a, const volt_tensor *b,
                          const volt_tensor *bias, bool fast) {
    volt_scope_begin();
    volt_set_fast_kernels(fast);
    volt_tensor *la = leaf32(a), *lb = leaf32(b), *lc = bias ? leaf32(bias) : NULL;
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *y = fn(la, lb, lc);
    volt_autocast_set(prev); /* backward runs with autocast off: the node remembers */
    assert_non_null(y);
    assert_int_equal(y->dtype, VOLT_BF16);
    volt_tensor *g = randn(y->ndim, y->shape, 99);
    assert_int_equal(volt_backward_ex(y, volt_to_dtype(g, VOLT_BF16), false), VOLT_OK);
    assert_int_equal(la->grad->dtype, VOLT_F32);

    volt_tensor *ra = leaf64(a, true), *rb = leaf64(b, true),
                *rc = bias ? leaf64(bias, false) : NULL;
    volt_tensor *ry = fn(ra, rb, rc);
    assert_int_equal(volt_backward_ex(ry, as_f64(g, true), false), VOLT_OK);
    /* f32 sums of k terms, then the rounding to bf16: half a step, at most
     * 2^-8 of the value */
    const double tol = 2e-6 * (double)a->shape[a->ndim - 1];
    assert_rounded(y, ry, 1.0 / 256, tol * max_abs(ry), "output");
    assert_near(la->grad, ra->grad, 1e-4, "grad a");
    assert_near(lb->grad, rb->grad, 1e-4, "grad b");
    if (bias) {
        assert_int_equal(lc->grad->dtype, VOLT_F32);
        assert_near(lc->grad, rc->grad, 1e-6, "grad bias");
    }
    /* Plain f32 differs by about bf16's relative step (2^-8) times the terms. */
    volt_tensor *y32 = fn(a, b, bias);
    double d = max_diff(y, y32);
    assert_true(d > 1e-5 * max_abs(y32));
    assert_true(d < 3e-2 * max_abs(y32));
    volt_set_fast_kernels(true);
    volt_scope_end();
}

static void products(bool fast) {
    volt_tensor *x = randn(VOLT_SHAPE(33, 70), 1), *w = randn(VOLT_SHAPE(50, 70), 2);
    volt_tensor *bias = randn(VOLT_SHAPE(50), 3);
    check_product(f_linear, x, w, bias, fast); /* Linear: x W^T + b */
    volt_tensor *a3 = randn(VOLT_SHAPE(3, 5, 17), 4), *b2 = randn(VOLT_SHAPE(17, 6), 5);
    check_product(f_matmul, a3, b2, NULL, fast); /* batch against a shared matrix */
    volt_tensor *b3 = randn(VOLT_SHAPE(3, 17, 6), 6);
    check_product(f_bmm, a3, b3, NULL, fast);
    volt_tensor *a4 = randn(VOLT_SHAPE(2, 1, 4, 9), 7), *b4 = randn(VOLT_SHAPE(3, 9, 5), 8);
    check_product(f_matmul, a4, b4, NULL, fast); /* broadcast batch dims */
    volt_tensor *v = randn(VOLT_SHAPE(17), 9);
    check_product(f_matmul, a3, v, NULL, fast); /* matrix @ vector */
    check_product(f_outer, randn(VOLT_SHAPE(12), 10), randn(VOLT_SHAPE(7), 11), NULL, fast);
    volt_tensor *sq = randn(VOLT_SHAPE(40, 40), 12), *bias2 = randn(VOLT_SHAPE(40, 1), 13);
    check_product(f_addmm_scaled, sq, volt_transpose(sq, 0, 1), bias2, fast);
}

static void test_products_native(void **state) {
    (void)state;
    products(true);
}

static void test_products_fallback(void **state) {
    (void)state;
    products(false);
}

/* f64 operands and ops other than products and convolutions are unaffected;
 * a product recorded without autocast keeps f32 gradients under it. */
static void test_unaffected(void **state) {
    (void)state;
    volt_tensor *a = volt_to_dtype(randn(VOLT_SHAPE(8, 30), 1), VOLT_F64);
    volt_tensor *b = volt_to_dtype(randn(VOLT_SHAPE(30, 4), 2), VOLT_F64);
    volt_tensor *plain = volt_matmul(a, b);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *under = volt_matmul(a, b);
    volt_tensor *e = volt_exp(volt_to_dtype(a, VOLT_F32));
    volt_autocast_set(prev);
    assert_int_equal(under->dtype, VOLT_F64);
    assert_true(max_diff(plain, under) == 0);
    assert_true(max_diff(e, volt_exp(volt_to_dtype(a, VOLT_F32))) == 0);

    volt_tensor *x = leaf32(randn(VOLT_SHAPE(6, 50), 3)), *w = randn(VOLT_SHAPE(50, 5), 4);
    volt_tensor *y = volt_matmul(x, w);
    prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    assert_int_equal(volt_backward_ex(y, volt_ones_like(y), false), VOLT_OK);
    volt_autocast_set(prev);
    volt_tensor *x64 = volt_requires_grad(as_f64(volt_tensor_detach(x), false), true);
    volt_tensor *y64 = volt_matmul(x64, as_f64(w, false));
    assert_int_equal(volt_backward_ex(y64, volt_ones_like(y64), false), VOLT_OK);
    assert_near(x->grad, x64->grad, 1e-6, "f32 gradient of a product recorded without autocast");
}

/* --------------------------------------------------------- convolutions */

typedef volt_tensor *(*conv_fn)(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b);

static volt_tensor *f_conv2d(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_conv2d(x, w, b, NULL, (const int64_t[]){1, 1}, NULL, 1);
}
static volt_tensor *f_conv2d_s2g2(const volt_tensor *x, const volt_tensor *w,
                                  const volt_tensor *b) {
    return volt_conv2d(x, w, b, (const int64_t[]){2, 2}, (const int64_t[]){1, 0}, NULL, 2);
}
static volt_tensor *f_conv1d(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_conv1d(x, w, b, 1, 2, 1, 1);
}
static volt_tensor *f_convt(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_conv_transpose2d(x, w, b, (const int64_t[]){2, 2}, (const int64_t[]){1, 1},
                                 (const int64_t[]){1, 1}, NULL, 1);
}

/* As check_product for a convolution: a bf16 result; x and w rounded, and
 * the (bf16) output gradient, for the gradients of x and w. The bias
 * gradient is a sum of the output gradient, rounded to bf16 where the
 * kernels fuse it: within bf16's relative step. */
static void check_conv(conv_fn fn, const volt_tensor *x, const volt_tensor *w, const volt_tensor *b,
                       bool fast) {
    volt_scope_begin();
    volt_set_fast_kernels(fast);
    volt_tensor *lx = leaf32(x), *lw = leaf32(w), *lb = leaf32(b);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *y = fn(lx, lw, lb);
    volt_autocast_set(prev);
    assert_non_null(y);
    assert_int_equal(y->dtype, VOLT_BF16);
    volt_tensor *g = randn(y->ndim, y->shape, 77);
    assert_int_equal(volt_backward_ex(y, volt_to_dtype(g, VOLT_BF16), false), VOLT_OK);
    assert_int_equal(lx->grad->dtype, VOLT_F32);
    assert_int_equal(lw->grad->dtype, VOLT_F32);

    volt_tensor *rx = leaf64(x, true), *rw = leaf64(w, true), *rb = leaf64(b, false);
    volt_tensor *ry = fn(rx, rw, rb);
    assert_int_equal(volt_backward_ex(ry, as_f64(g, true), false), VOLT_OK);
    assert_rounded(y, ry, 1.0 / 256, 1e-5 * max_abs(ry), "output");
    assert_near(lx->grad, rx->grad, 1e-5, "grad x");
    assert_near(lw->grad, rw->grad, 1e-5, "grad w");
    assert_near(lb->grad, rb->grad, 1e-2, "grad bias");
    volt_tensor *y32 = fn(x, w, b);
    double d = max_diff(y, y32);
    assert_true(d > 1e-5 * max_abs(y32));
    assert_true(d < 3e-2 * max_abs(y32));
    volt_set_fast_kernels(true);
    volt_scope_end();
}

static void convs(bool fast) {
    check_conv(f_conv2d, randn(VOLT_SHAPE(2, 3, 9, 9), 1), randn(VOLT_SHAPE(8, 3, 3, 3), 2),
               randn(VOLT_SHAPE(8), 3), fast);
    /* The first layer of the benchmark's CNN (one input channel). */
    check_conv(f_conv2d, randn(VOLT_SHAPE(4, 1, 12, 12), 4), randn(VOLT_SHAPE(16, 1, 3, 3), 5),
               randn(VOLT_SHAPE(16), 6), fast);
    check_conv(f_conv2d_s2g2, randn(VOLT_SHAPE(2, 4, 8, 7), 7), randn(VOLT_SHAPE(6, 2, 3, 3), 8),
               randn(VOLT_SHAPE(6), 9), fast);
    check_conv(f_conv1d, randn(VOLT_SHAPE(3, 4, 20), 10), randn(VOLT_SHAPE(5, 4, 5), 11),
               randn(VOLT_SHAPE(5), 12), fast);
    check_conv(f_convt, randn(VOLT_SHAPE(2, 6, 5, 5), 13), randn(VOLT_SHAPE(6, 4, 3, 3), 14),
               randn(VOLT_SHAPE(4), 15), fast);
}

static void test_convs_native(void **state) {
    (void)state;
    convs(true);
}

static void test_convs_fallback(void **state) {
    (void)state;
    convs(false);
}

/* A tensor widened from bf16 keeps its source as its storage's twin, which
 * autocast's products then read instead of converting again: only while
 * neither was written since, only for whole contiguous tensors; the product
 * sees the values the f32 tensor holds, twin or not. */
static void test_widened_twin(void **state) {
    (void)state;
    volt_tensor *x16 = volt_to_dtype(randn(VOLT_SHAPE(6, 5), 31), VOLT_BF16);
    volt_tensor *w = randn(VOLT_SHAPE(5, 4), 32);
    volt_tensor *x = volt_to_dtype(x16, VOLT_F32);
    assert_ptr_equal(volt_storage_twin(x->storage), x16->storage);
    volt_tensor *kept = NULL;
    assert_true(volt_bf16_copy_kept(x, &kept));
    assert_non_null(kept);
    assert_ptr_equal(kept->storage, x16->storage);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *want = volt_matmul(volt_clone(x), w); /* a clone has no twin */
    VT_ASSERT_CLOSE(volt_to_dtype(volt_matmul(x, w), VOLT_F64),
                    (double *)volt_tensor_data(volt_to_dtype(want, VOLT_F64)), 24, 0, 0);
    /* Writing the f32 tensor, or its bf16 source, drops the twin. */
    volt_mul_scalar_(x, 3.0);
    assert_null(volt_storage_twin(x->storage));
    want = volt_matmul(volt_clone(x), w);
    VT_ASSERT_CLOSE(volt_to_dtype(volt_matmul(x, w), VOLT_F64),
                    (double *)volt_tensor_data(volt_to_dtype(want, VOLT_F64)), 24, 0, 0);
    volt_tensor *y = volt_to_dtype(x16, VOLT_F32);
    assert_non_null(volt_storage_twin(y->storage));
    volt_fill_(x16, 1.0);
    assert_null(volt_storage_twin(y->storage));
    want = volt_matmul(volt_clone(y), w);
    VT_ASSERT_CLOSE(volt_to_dtype(volt_matmul(y, w), VOLT_F64),
                    (double *)volt_tensor_data(volt_to_dtype(want, VOLT_F64)), 24, 0, 0);
    volt_autocast_set(prev);
    /* a view of part of a bf16 storage: no twin */
    volt_tensor *part = volt_to_dtype(volt_narrow(x16, 0, 1, 3), VOLT_F32);
    assert_null(volt_storage_twin(part->storage));
    VT_ASSERT_NO_ERROR();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_mode),
        VT_TEST(test_conversion),
        VT_TEST(test_products_native),
        VT_TEST(test_products_fallback),
        VT_TEST(test_unaffected),
        VT_TEST(test_convs_native),
        VT_TEST(test_convs_fallback),
        VT_TEST(test_widened_twin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
