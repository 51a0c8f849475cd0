/* test_cuda_reduce.c (needs a GPU; skipped without one): the CUDA
 * reductions and softmax against the CPU's f64 results on the same values —
 * sum, mean, var, std, logsumexp, norm (1, 2, inf), prod, max/min all,
 * max/min/argmax along a dim, softmax and log_softmax — in f32, f64, bf16
 * and f16 (integer and bool sums, products and extremes, which run on a
 * host copy, exactly), over inner, outer, middle and scattered dims, odd sizes (1, 7,
 * 1000003: the split rows), strided inputs, forward and backward (the
 * gradient of sum(op(x) * w) on both devices). Tolerances relative to the
 * f64 reference: f32 1e-5 (2e-5 for sums of long rows: f32 accumulation in
 * a tree), f16 1e-3 and bf16 1e-2 (one rounding of the result). */
#include "cuda_test.h"

static volt_generator gen;

static double rtol_of(volt_dtype d) {
    return d == VOLT_BF16 ? 1e-2 : d == VOLT_F16 ? 2e-3 : d == VOLT_F32 ? 2e-5 : 1e-11;
}

/* A CPU tensor of randn values representable in dtype, as f64. */
static volt_tensor *values(int ndim, const int64_t *shape, volt_dtype dtype) {
    volt_tensor *t = volt_randn(ndim, shape, VOLT_F64, &gen);
    return volt_to_dtype(volt_to_dtype(t, dtype), VOLT_F64);
}

typedef volt_tensor *(*op_fn)(const volt_tensor *x, const int *dims, int n_dims);

/* Compares op on CUDA (x in dtype) with op on the CPU in f64, forward and,
 * when grad, the gradient of sum(op(x) * w). */
static void check(const char *what, op_fn op, int ndim, const int64_t *shape, const int *dims,
                  int n_dims, volt_dtype dtype, bool grad) {
    volt_scope_begin();
    char name[160];
    snprintf(name, sizeof name, "%s %s", what, volt_dtype_name(dtype));
    volt_tensor *x64 = values(ndim, shape, dtype);
    volt_tensor *xg = volt_requires_grad(volt_to_device(volt_to_dtype(x64, dtype), VT_CUDA0), grad);
    x64 = volt_requires_grad(x64, grad);
    volt_tensor *want = op(x64, dims, n_dims);
    volt_tensor *got = op(xg, dims, n_dims);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(got->dtype, dtype);
    assert_true(volt_device_equal(got->device, VT_CUDA0));
    double rtol = rtol_of(dtype);
    VT_ASSERT_SAME_VALUES(got, want, rtol, rtol * 1e-2, name);
    if (grad) {
        volt_tensor *w = values(want->ndim, want->shape, dtype);
        assert_int_equal(volt_backward(volt_sum_all(volt_mul(want, w))), VOLT_OK);
        volt_tensor *wg = volt_to_device(volt_to_dtype(w, dtype), VT_CUDA0);
        assert_int_equal(volt_backward(volt_sum_all(volt_mul(got, wg))), VOLT_OK);
        VT_ASSERT_NO_ERROR();
        assert_non_null(xg->grad);
        snprintf(name, sizeof name, "%s %s gradient", what, volt_dtype_name(dtype));
        VT_ASSERT_SAME_VALUES(xg->grad, x64->grad, rtol * 4, rtol * 4, name);
    }
    volt_scope_end();
}

static volt_tensor *op_sum(const volt_tensor *x, const int *d, int n) {
    return volt_sum(x, n, d, false);
}
static volt_tensor *op_sum_keep(const volt_tensor *x, const int *d, int n) {
    return volt_sum(x, n, d, true);
}
static volt_tensor *op_mean(const volt_tensor *x, const int *d, int n) {
    return volt_mean(x, n, d, false);
}
static volt_tensor *op_var(const volt_tensor *x, const int *d, int n) {
    return volt_var(x, n, d, 1.0, false);
}
static volt_tensor *op_std(const volt_tensor *x, const int *d, int n) {
    return volt_std(x, n, d, 0.0, true);
}
static volt_tensor *op_lse(const volt_tensor *x, const int *d, int n) {
    return volt_logsumexp(x, n, d, false);
}
static volt_tensor *op_norm1(const volt_tensor *x, const int *d, int n) {
    return volt_norm(x, 1.0, n, d, false);
}
static volt_tensor *op_norm2(const volt_tensor *x, const int *d, int n) {
    return volt_norm(x, 2.0, n, d, false);
}
static volt_tensor *op_norminf(const volt_tensor *x, const int *d, int n) {
    return volt_norm(x, INFINITY, n, d, false);
}
static volt_tensor *op_prod(const volt_tensor *x, const int *d, int n) {
    return volt_prod(x, n, d, false);
}
static volt_tensor *op_max_all(const volt_tensor *x, const int *d, int n) {
    (void)d, (void)n;
    return volt_max_all(x);
}
static volt_tensor *op_min_all(const volt_tensor *x, const int *d, int n) {
    (void)d, (void)n;
    return volt_min_all(x);
}
static volt_tensor *op_max(const volt_tensor *x, const int *d, int n) {
    (void)n;
    return volt_max(x, d[0], false, NULL);
}
static volt_tensor *op_min(const volt_tensor *x, const int *d, int n) {
    (void)n;
    return volt_min(x, d[0], true, NULL);
}
static volt_tensor *op_softmax(const volt_tensor *x, const int *d, int n) {
    (void)n;
    return volt_softmax(x, d[0]);
}
static volt_tensor *op_log_softmax(const volt_tensor *x, const int *d, int n) {
    (void)n;
    return volt_log_softmax(x, d[0]);
}
/* x transposed (dims 0 and last): a strided input */
static volt_tensor *op_sum_t(const volt_tensor *x, const int *d, int n) {
    return volt_sum(volt_transpose(x, 0, x->ndim - 1), n, d, false);
}

static const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};
#define N_DTYPES 4

static void test_sum_mean_dims(void **state) {
    (void)state;
    const int64_t shape[] = {7, 33, 5};
    const int inner[] = {2}, middle[] = {1}, outer[] = {0}, scattered[] = {0, 2}, two[] = {1, 2};
    for (int i = 0; i < N_DTYPES; i++) {
        volt_dtype t = dtypes[i];
        check("sum inner", op_sum, 3, shape, inner, 1, t, true);
        check("sum middle", op_sum_keep, 3, shape, middle, 1, t, true);
        check("sum outer", op_sum, 3, shape, outer, 1, t, true);
        check("sum scattered", op_sum, 3, shape, scattered, 2, t, true);
        check("sum all", op_sum, 3, shape, NULL, 0, t, true);
        check("sum strided", op_sum_t, 3, shape, middle, 1, t, true);
        check("mean rows", op_mean, 3, shape, two, 2, t, true);
        check("mean middle", op_mean, 3, shape, middle, 1, t, true);
    }
    const int64_t one[] = {1}, big[] = {1000003}, rows[] = {3, 70001};
    const int d0[] = {0}, d1[] = {1};
    check("sum of one", op_sum, 1, one, NULL, 0, VOLT_F32, true);
    check("sum 1000003 (split rows)", op_sum, 1, big, NULL, 0, VOLT_F32, true);
    check("mean 1000003 (split rows)", op_mean, 1, big, d0, 1, VOLT_F64, false);
    check("sum 3 long rows", op_sum, 2, rows, d1, 1, VOLT_BF16, false);
    check("mean 3 long rows", op_mean, 2, rows, d1, 1, VOLT_F32, false);
    /* strided rows of 512+ elements: column chunks of 256 rows (a bias
     * gradient), with a partial last chunk and a partial column tile */
    const int64_t tokens[] = {1000, 37}, batched[] = {3, 700, 45};
    for (int i = 0; i < N_DTYPES; i++) {
        check("sum column chunks", op_sum, 2, tokens, d0, 1, dtypes[i], true);
        check("mean column chunks", op_mean, 3, batched, d1, 1, dtypes[i], true);
        check("norm 2 column chunks", op_norm2, 2, tokens, d0, 1, dtypes[i], false);
        check("norm inf column chunks", op_norminf, 3, batched, d1, 1, dtypes[i], false);
    }
}

static void test_statistics(void **state) {
    (void)state;
    const int64_t shape[] = {6, 7, 40}, long_rows[] = {2, 5000};
    const int last[] = {2}, middle[] = {1}, scattered[] = {0, 2}, d1[] = {1};
    for (int i = 0; i < N_DTYPES; i++) {
        volt_dtype t = dtypes[i];
        check("var last", op_var, 3, shape, last, 1, t, true);
        check("var middle", op_var, 3, shape, middle, 1, t, true);
        check("std scattered", op_std, 3, shape, scattered, 2, t, true);
        check("logsumexp last", op_lse, 3, shape, last, 1, t, true);
        check("logsumexp middle", op_lse, 3, shape, middle, 1, t, true);
        check("norm 1", op_norm1, 3, shape, last, 1, t, true);
        check("norm 2", op_norm2, 3, shape, middle, 1, t, true);
        check("norm inf", op_norminf, 3, shape, scattered, 2, t, true);
        check("max_all", op_max_all, 3, shape, NULL, 0, t, true);
        check("min_all", op_min_all, 3, shape, NULL, 0, t, true);
    }
    check("var long rows (block per row)", op_var, 2, long_rows, d1, 1, VOLT_F32, true);
    check("logsumexp long rows", op_lse, 2, long_rows, d1, 1, VOLT_F32, true);
    const int64_t small[] = {4, 5, 3};
    /* the backward runs on the host (no CUDA kernel): the same values */
    for (int i = 0; i < N_DTYPES; i++) check("prod", op_prod, 3, small, middle, 1, dtypes[i], true);
    check("prod f64 last", op_prod, 3, small, last, 1, VOLT_F64, true);
}

static void test_max_min_dim(void **state) {
    (void)state;
    const int64_t shape[] = {5, 9, 1500};
    const int d0[] = {0}, d1[] = {1}, d2[] = {2};
    for (int i = 0; i < N_DTYPES; i++) {
        check("max last", op_max, 3, shape, d2, 1, dtypes[i], true);
        check("max middle", op_max, 3, shape, d1, 1, dtypes[i], true);
        check("min first", op_min, 3, shape, d0, 1, dtypes[i], true);
    }
    /* Indices: ties go to the first, a NaN wins. */
    const double v[] = {1, 3, 3, 2, /**/ 0, NAN, 5, NAN, /**/ -1, -1, -1, -1};
    volt_tensor *x = volt_from_array(v, VOLT_F64, VOLT_SHAPE(3, 4));
    for (int i = 0; i < N_DTYPES; i++) {
        volt_tensor *g = volt_to_device(volt_to_dtype(x, dtypes[i]), VT_CUDA0);
        volt_tensor *idx = NULL;
        volt_tensor *mx = volt_max(g, 1, false, &idx);
        VT_ASSERT_NO_ERROR();
        const double want_idx[] = {1, 1, 0}, want_min_idx[] = {0, 1, 0};
        VT_ASSERT_SAME_VALUES(idx, volt_from_array(want_idx, VOLT_F64, VOLT_SHAPE(3)), 0, 0,
                              "argmax with ties and NaN");
        assert_true(isnan(volt_tensor_get_flat(mx, 1)));
        VT_ASSERT_SAME_VALUES(volt_argmin(g, 1, false),
                              volt_from_array(want_min_idx, VOLT_F64, VOLT_SHAPE(3)), 0, 0,
                              "argmin with ties and NaN");
        volt_tensor *r = values(VOLT_SHAPE(40, 70), dtypes[i]);
        volt_tensor *rg = volt_to_device(volt_to_dtype(r, dtypes[i]), VT_CUDA0);
        VT_ASSERT_SAME_VALUES(volt_argmax(rg, 0, true), volt_argmax(r, 0, true), 0, 0, "argmax");
        VT_ASSERT_SAME_VALUES(volt_argmin(rg, 1, false), volt_argmin(r, 1, false), 0, 0, "argmin");
    }
}

static void test_softmax(void **state) {
    (void)state;
    const int64_t shape[] = {6, 7, 33}, one[] = {3, 1}, wide[] = {2, 3000};
    const int last[] = {2}, middle[] = {1}, d1[] = {1};
    for (int i = 0; i < N_DTYPES; i++) {
        volt_dtype t = dtypes[i];
        check("softmax last", op_softmax, 3, shape, last, 1, t, true);
        check("softmax middle", op_softmax, 3, shape, middle, 1, t, true);
        check("log_softmax last", op_log_softmax, 3, shape, last, 1, t, true);
        check("log_softmax middle", op_log_softmax, 3, shape, middle, 1, t, true);
        check("log_softmax wide (block per row)", op_log_softmax, 2, wide, d1, 1, t, true);
    }
    check("softmax of one class", op_softmax, 2, one, d1, 1, VOLT_F32, true);
    check("softmax wide", op_softmax, 2, wide, d1, 1, VOLT_F32, true);
}

/* An integer or bool reduction of a CUDA tensor: on cuda:0, the CPU's
 * exact values (and dtype). */
static void check_exact(const char *what, volt_tensor *got, volt_tensor *want) {
    VT_ASSERT_NO_ERROR();
    assert_non_null(got);
    assert_true(volt_device_equal(got->device, VT_CUDA0));
    assert_int_equal(got->dtype, want->dtype);
    VT_ASSERT_SAME_VALUES(got, want, 0, 0, what);
}

static void test_integer(void **state) {
    (void)state;
    /* h: i64 [3, 4] of -5 .. 6; big: 2^58 + (k - 5) 2^20 + k (beyond f64's exact
     * integers: a sum through floating point would round); a bool mask */
    volt_tensor *h = volt_reshape(volt_arange(-5, 7, 1, VOLT_I64), VOLT_SHAPE(3, 4));
    int64_t b[12];
    for (int k = 0; k < 12; k++) b[k] = ((int64_t)1 << 58) + (int64_t)(k - 5) * (1 << 20) + k;
    volt_tensor *big = volt_from_array(b, VOLT_I64, VOLT_SHAPE(3, 4));
    volt_tensor *mask = volt_gt(h, volt_scalar(0, VOLT_I64));
    volt_tensor *hg = volt_to_device(h, VT_CUDA0), *bg = volt_to_device(big, VT_CUDA0);
    volt_tensor *mg = volt_to_device(mask, VT_CUDA0);
    check_exact("sum all i64", volt_sum_all(bg), volt_sum_all(big));
    check_exact("sum dim 1 bool", volt_sum(mg, VOLT_DIMS(1), false),
                volt_sum(mask, VOLT_DIMS(1), false));
    check_exact("prod dim 0", volt_prod(hg, VOLT_DIMS(0), true), volt_prod(h, VOLT_DIMS(0), true));
    check_exact("max_all", volt_max_all(bg), volt_max_all(big));
    check_exact("min_all bool", volt_min_all(mg), volt_min_all(mask));
    volt_tensor *gi = NULL, *wi = NULL;
    check_exact("max dim 1", volt_max(hg, 1, false, &gi), volt_max(h, 1, false, &wi));
    check_exact("max dim 1 indices", gi, wi);
    check_exact("argmin dim 0", volt_argmin(hg, 0, true), volt_argmin(h, 0, true));
    check_exact("argmax bool", volt_argmax(mg, 1, false), volt_argmax(mask, 1, false));
}

static void test_refused(void **state) {
    (void)state;
    volt_tensor *i = volt_to_device(volt_arange(0, 6, 1, VOLT_I64), VT_CUDA0);
    assert_null(volt_mean(i, VOLT_ALL_DIMS, false)); /* as on the CPU */
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "mean: expected a floating-point tensor, got i64[6]");
    volt_tensor *x =
        volt_requires_grad(volt_to_device(values(VOLT_SHAPE(3), VOLT_F32), VT_CUDA0), true);
    assert_null(volt_norm(x, 3.0, VOLT_ALL_DIMS, false));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "norm: p = 3 is not supported");
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_reduce");
    gen = volt_generator_make(2025, 3);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_sum_mean_dims), VT_CUDA_TEST(test_statistics),
        VT_CUDA_TEST(test_max_min_dim),   VT_CUDA_TEST(test_softmax),
        VT_CUDA_TEST(test_integer),       VT_CUDA_TEST(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
