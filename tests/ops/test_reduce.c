/* test_reduce.c: the reductions — sum, mean, prod, var/std, logsumexp, norm,
 * max/min (with indices), argmax/argmin, max_all/min_all, sum_all/mean_all:
 * hand-computed values, every dim combination of a 3-D tensor (negative dims,
 * keepdim) on contiguous and non-contiguous inputs against a naive
 * reference, 0-d and empty inputs, integer and bool inputs, f32 accuracy of
 * long sums, the fast kernels against the reference kernel, results
 * independent of the thread count, exact gradients at ties and zeros,
 * float64 gradchecks of every differentiable reduction, and the error paths. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/cpu/reduce.h"

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define VEC(dtype, ...)                                                                            \
    make((dtype), (const double[]){__VA_ARGS__}, 1, (int64_t[]){COUNT(__VA_ARGS__)})
#define MAT(dtype, r, c, ...) make((dtype), (const double[]){__VA_ARGS__}, 2, (int64_t[]){(r), (c)})
#define EXPECT(t, rtol, ...)                                                                       \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (rtol), 1e-300)

static volt_tensor *make(volt_dtype dtype, const double *v, int ndim, const int64_t *shape) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, ndim, shape);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

static volt_tensor *leaf(volt_tensor *t) { return volt_requires_grad(t, true); }

/* A transposed view of a 2-D tensor. */
static volt_tensor *tview(volt_tensor *t) {
    return volt_tensor_alias(t, 2, (int64_t[]){t->shape[1], t->shape[0]},
                             (int64_t[]){t->strides[1], t->strides[0]}, t->offset);
}

static const volt_dtype floats[2] = {VOLT_F32, VOLT_F64};

static double tol(volt_dtype d) { return d == VOLT_F32 ? 2e-6 : 1e-13; }

/* ------------------------------------------------------------ values */

static void test_hand_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = MAT(d, 2, 3, 1, 2, 3, 4, 5, 6);
        volt_tensor *s = volt_sum(x, VOLT_DIMS(0), false);
        VT_ASSERT_SHAPE(s, 3);
        assert_int_equal(s->dtype, d);
        EXPECT(s, 0, 5, 7, 9);
        EXPECT(volt_sum(x, VOLT_DIMS(1), false), 0, 6, 15);
        VT_ASSERT_SHAPE(volt_sum(x, VOLT_DIMS(-1), true), 2, 1);
        EXPECT(volt_sum(x, VOLT_DIMS(-1), true), 0, 6, 15);
        VT_ASSERT_SHAPE(volt_sum_all(x));
        EXPECT(volt_sum_all(x), 0, 21);
        VT_ASSERT_SHAPE(volt_sum(x, VOLT_ALL_DIMS, true), 1, 1);
        EXPECT(volt_sum(x, VOLT_DIMS(1, 0), false), 0, 21);
        EXPECT(volt_mean(x, VOLT_DIMS(0), false), tol(d), 2.5, 3.5, 4.5);
        EXPECT(volt_mean_all(x), tol(d), 3.5);
        EXPECT(volt_prod(x, VOLT_DIMS(1), false), tol(d), 6, 120);
        EXPECT(volt_prod(x, VOLT_ALL_DIMS, false), tol(d), 720);
        /* var of 1,2,3 = 1 (unbiased), 2/3 (population). */
        EXPECT(volt_var(x, VOLT_DIMS(1), 1, false), tol(d), 1, 1);
        EXPECT(volt_var(x, VOLT_DIMS(1), 0, false), tol(d), 2.0 / 3, 2.0 / 3);
        EXPECT(volt_var(x, VOLT_ALL_DIMS, 1, false), tol(d), 3.5);
        EXPECT(volt_std(x, VOLT_DIMS(0), 1, true), tol(d), sqrt(4.5), sqrt(4.5), sqrt(4.5));
        EXPECT(volt_std(x, VOLT_ALL_DIMS, 0, false), tol(d), sqrt(35.0 / 12));
        EXPECT(volt_logsumexp(x, VOLT_DIMS(1), false), tol(d), 3.40760596444438, 6.40760596444438);
        volt_tensor *v = MAT(d, 2, 2, 3, -4, 0, -1);
        EXPECT(volt_norm(v, 2, VOLT_DIMS(1), false), tol(d), 5, 1);
        EXPECT(volt_norm(v, 1, VOLT_DIMS(1), false), tol(d), 7, 1);
        EXPECT(volt_norm(v, INFINITY, VOLT_DIMS(1), false), tol(d), 4, 1);
        EXPECT(volt_norm(v, 2, VOLT_ALL_DIMS, false), tol(d), sqrt(26));
        EXPECT(volt_max_all(x), 0, 6);
        EXPECT(volt_min_all(x), 0, 1);
    }
    VT_ASSERT_NO_ERROR();
}

/* X[i,j,k] = 2 sin(1 + 12 i + 4 j + k), shape [2,3,4]. */
static double xval(int64_t i, int64_t j, int64_t k) {
    return 2.0 * sin(1.0 + (double)(12 * i + 4 * j + k));
}

enum { R_SUM, R_MEAN, R_PROD, R_VAR1, R_VAR0, R_STD1, R_LSE, R_NORM1, R_NORM2, R_NORMINF, R_COUNT };

static double naive(int op, const double *v, int n) {
    double s = 0, p = 1, a1 = 0, a2 = 0, amax = 0, e = 0;
    for (int i = 0; i < n; i++) {
        s += v[i];
        p *= v[i];
        a1 += fabs(v[i]);
        a2 += v[i] * v[i];
        amax = fmax(amax, fabs(v[i]));
        e += exp(v[i]);
    }
    double mean = s / n, dev = 0;
    for (int i = 0; i < n; i++) dev += (v[i] - mean) * (v[i] - mean);
    switch (op) {
    case R_SUM: return s;
    case R_MEAN: return mean;
    case R_PROD: return p;
    case R_VAR1: return dev / (n - 1);
    case R_VAR0: return dev / n;
    case R_STD1: return sqrt(dev / (n - 1));
    case R_LSE: return log(e);
    case R_NORM1: return a1;
    case R_NORM2: return sqrt(a2);
    default: return amax;
    }
}

static volt_tensor *apply_dims(int op, const volt_tensor *x, int n, const int *dims, bool keep) {
    switch (op) {
    case R_SUM: return volt_sum(x, n, dims, keep);
    case R_MEAN: return volt_mean(x, n, dims, keep);
    case R_PROD: return volt_prod(x, n, dims, keep);
    case R_VAR1: return volt_var(x, n, dims, 1, keep);
    case R_VAR0: return volt_var(x, n, dims, 0, keep);
    case R_STD1: return volt_std(x, n, dims, 1, keep);
    case R_LSE: return volt_logsumexp(x, n, dims, keep);
    case R_NORM1: return volt_norm(x, 1, n, dims, keep);
    case R_NORM2: return volt_norm(x, 2, n, dims, keep);
    default: return volt_norm(x, INFINITY, n, dims, keep);
    }
}

/* Every non-empty set of dims of a [2,3,4] tensor, as positive and negative
 * dims, with and without keepdim, on a contiguous tensor and on a permuted
 * view of other storage, in f32 and f64, against the naive reference. */
static void test_all_dim_combinations(void **state) {
    (void)state;
    const int64_t shape[3] = {2, 3, 4};
    double xs[24], base[24];
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 3; j++)
            for (int64_t k = 0; k < 4; k++) {
                xs[(i * 3 + j) * 4 + k] = xval(i, j, k);
                base[(k * 3 + j) * 2 + i] = xval(i, j, k); /* storage [4,3,2] */
            }
    for (int t = 0; t < 2; t++) {
        volt_dtype d = floats[t];
        volt_tensor *xc = make(d, xs, 3, shape);
        volt_tensor *xb = make(d, base, 3, (int64_t[]){4, 3, 2});
        volt_tensor *xp = volt_tensor_alias(xb, 3, shape, (int64_t[]){1, 2, 6}, 0);
        assert_false(volt_tensor_is_contiguous(xp));
        for (int mask = 1; mask < 8; mask++) {
            int dims[3], neg[3], n = 0;
            for (int dd = 0; dd < 3; dd++)
                if (mask & (1 << dd)) {
                    dims[n] = dd;
                    neg[n++] = dd - 3;
                }
            /* Expected values: groups in row-major order of the kept dims. */
            double expect[24], group[24];
            int n_out = 0;
            int64_t kept_shape[3], kshape[3];
            int nk = 0;
            for (int dd = 0; dd < 3; dd++) {
                kshape[dd] = (mask & (1 << dd)) ? 1 : shape[dd];
                if (!(mask & (1 << dd))) kept_shape[nk++] = shape[dd];
            }
            int64_t outs = 1;
            for (int q = 0; q < nk; q++) outs *= kept_shape[q];
            for (int op = 0; op < R_COUNT; op++) {
                for (int64_t o = 0; o < outs; o++) {
                    int gn = 0;
                    for (int64_t e = 0; e < 24; e++) {
                        int64_t idx[3] = {e / 12, (e / 4) % 3, e % 4}, flat = 0;
                        for (int dd = 0; dd < 3; dd++)
                            if (!(mask & (1 << dd))) flat = flat * shape[dd] + idx[dd];
                        if (flat == o) group[gn++] = xs[e];
                    }
                    expect[o] = naive(op, group, gn);
                }
                n_out = (int)outs;
                for (int v = 0; v < 2; v++) {
                    const volt_tensor *x = v ? xp : xc;
                    volt_tensor *r = apply_dims(op, x, n, dims, false);
                    vt_assert_shape(r, nk, kept_shape, __FILE__, __LINE__);
                    VT_ASSERT_CLOSE(r, expect, n_out, d == VOLT_F32 ? 1e-5 : 1e-12,
                                    d == VOLT_F32 ? 1e-5 : 1e-12);
                    r = apply_dims(op, x, n, neg, true);
                    vt_assert_shape(r, 3, kshape, __FILE__, __LINE__);
                    VT_ASSERT_CLOSE(r, expect, n_out, d == VOLT_F32 ? 1e-5 : 1e-12,
                                    d == VOLT_F32 ? 1e-5 : 1e-12);
                }
            }
        }
    }
    VT_ASSERT_NO_ERROR();
}

static void test_sliced_and_transposed(void **state) {
    (void)state;
    /* Columns 1, 3, 5, 7 of a [3, 10] tensor of 0..29. */
    volt_tensor *base = volt_arange(0, 30, 1, VOLT_F32);
    volt_tensor *s = volt_tensor_alias(base, 2, (int64_t[]){3, 4}, (int64_t[]){10, 2}, 1);
    EXPECT(volt_sum(s, VOLT_DIMS(0), false), 0, 33, 39, 45, 51);
    EXPECT(volt_sum(s, VOLT_DIMS(1), false), 0, 16, 56, 96);
    EXPECT(volt_max_all(s), 0, 27);
    volt_tensor *idx;
    EXPECT(volt_max(s, 1, false, &idx), 0, 7, 17, 27);
    EXPECT(idx, 0, 3, 3, 3);
    volt_tensor *t = tview(MAT(VOLT_F64, 2, 3, 1, 2, 3, 4, 5, 6)); /* [[1,4],[2,5],[3,6]] */
    EXPECT(volt_sum(t, VOLT_DIMS(0), false), 0, 6, 15);
    EXPECT(volt_sum(t, VOLT_DIMS(1), false), 0, 5, 7, 9);
    EXPECT(volt_prod(t, VOLT_DIMS(1), false), 0, 4, 10, 18);
    EXPECT(volt_min(t, 0, false, &idx), 0, 1, 4);
    EXPECT(idx, 0, 0, 0);
    /* An expanded (stride 0) input. */
    volt_tensor *row = VEC(VOLT_F64, 1, 2, 3);
    volt_tensor *e = volt_expand(row, VOLT_SHAPE(4, 3));
    EXPECT(volt_sum(e, VOLT_DIMS(0), false), 0, 4, 8, 12);
    EXPECT(volt_sum_all(e), 0, 24);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------- 0-d, empty, integer */

static void test_zero_dim(void **state) {
    (void)state;
    volt_tensor *x = volt_scalar(2.5, VOLT_F64);
    volt_tensor *s = volt_sum(x, VOLT_ALL_DIMS, false);
    VT_ASSERT_SHAPE(s);
    EXPECT(s, 0, 2.5);
    VT_ASSERT_SHAPE(volt_sum(x, VOLT_DIMS(0), true));
    EXPECT(volt_mean(x, VOLT_DIMS(-1), false), 0, 2.5);
    EXPECT(volt_prod(x, VOLT_ALL_DIMS, false), 0, 2.5);
    EXPECT(volt_var(x, VOLT_ALL_DIMS, 0, false), 0, 0);
    EXPECT(volt_logsumexp(x, VOLT_ALL_DIMS, false), 1e-15, 2.5);
    EXPECT(volt_norm(volt_scalar(-3, VOLT_F32), 2, VOLT_ALL_DIMS, false), 0, 3);
    volt_tensor *idx;
    volt_tensor *m = volt_max(x, 0, false, &idx);
    VT_ASSERT_SHAPE(m);
    VT_ASSERT_SHAPE(idx);
    EXPECT(m, 0, 2.5);
    EXPECT(idx, 0, 0);
    EXPECT(volt_argmin(x, -1, true), 0, 0);
    EXPECT(volt_max_all(x), 0, 2.5);
    VT_ASSERT_NO_ERROR();
}

static void test_empty(void **state) {
    (void)state;
    volt_tensor *e = volt_zeros(VOLT_SHAPE(0), VOLT_F32);
    EXPECT(volt_sum_all(e), 0, 0);
    EXPECT(volt_prod(e, VOLT_ALL_DIMS, false), 0, 1);
    assert_true(isnan(volt_tensor_item(volt_mean_all(e))));
    assert_true(isnan(volt_tensor_item(volt_var(e, VOLT_ALL_DIMS, 1, false))));
    assert_true(volt_tensor_item(volt_logsumexp(e, VOLT_ALL_DIMS, false)) == -INFINITY);
    EXPECT(volt_norm(e, 2, VOLT_ALL_DIMS, false), 0, 0);
    volt_tensor *e2 = volt_zeros(VOLT_SHAPE(0, 3), VOLT_F64);
    volt_tensor *s = volt_sum(e2, VOLT_DIMS(0), false);
    VT_ASSERT_SHAPE(s, 3);
    EXPECT(s, 0, 0, 0, 0);
    VT_ASSERT_SHAPE(volt_sum(e2, VOLT_DIMS(1), false), 0);
    volt_tensor *m = volt_mean(e2, VOLT_DIMS(0), true);
    VT_ASSERT_SHAPE(m, 1, 3);
    assert_true(isnan(volt_tensor_get_flat(m, 2)));
    /* max over a non-empty dim of an empty tensor is empty; over an empty
     * dim it is an error. */
    volt_tensor *idx;
    volt_tensor *mx = volt_max(e2, 1, false, &idx);
    VT_ASSERT_SHAPE(mx, 0);
    VT_ASSERT_SHAPE(idx, 0);
    assert_null(volt_max(e2, 0, false, &idx));
    assert_null(idx);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "max: dimension 0 of f64[0,3] has size 0");
    assert_null(volt_argmin(e2, 0, false));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "argmin: dimension 0 of f64[0,3] has size 0");
    assert_null(volt_max_all(e));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "max_all: f32[0] has no elements");
    assert_null(volt_min_all(volt_zeros(VOLT_SHAPE(2, 0), VOLT_I64)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "min_all: i64[2,0] has no elements");
    EXPECT(volt_sum_all(volt_zeros(VOLT_SHAPE(0), VOLT_I32)), 0, 0);
}

static void test_integer_and_bool(void **state) {
    (void)state;
    volt_tensor *x = MAT(VOLT_I32, 2, 3, 1, -2, 3, 4, 5, -6);
    volt_tensor *s = volt_sum(x, VOLT_DIMS(1), false);
    assert_int_equal(s->dtype, VOLT_I64);
    EXPECT(s, 0, 2, 3);
    volt_tensor *p = volt_prod(x, VOLT_DIMS(0), false);
    assert_int_equal(p->dtype, VOLT_I64);
    EXPECT(p, 0, 4, -10, -18);
    /* i64 sums stay exact beyond 2^53. */
    volt_tensor *big = volt_full(VOLT_SHAPE(3), 0, VOLT_I64);
    int64_t *bp = volt_tensor_data(big);
    bp[0] = (int64_t)1 << 60;
    bp[1] = 1;
    bp[2] = 2;
    assert_true(*(int64_t *)volt_tensor_data(volt_sum_all(big)) == ((int64_t)1 << 60) + 3);
    volt_tensor *b = volt_gt(x, volt_scalar(0, VOLT_I32));
    volt_tensor *bs = volt_sum_all(b);
    assert_int_equal(bs->dtype, VOLT_I64);
    EXPECT(bs, 0, 4);
    volt_tensor *idx;
    volt_tensor *m = volt_max(x, 1, false, &idx);
    assert_int_equal(m->dtype, VOLT_I32);
    EXPECT(m, 0, 3, 5);
    EXPECT(idx, 0, 2, 1);
    assert_int_equal(idx->dtype, VOLT_I64);
    EXPECT(volt_min(x, 0, true, &idx), 0, 1, -2, -6);
    EXPECT(idx, 0, 0, 0, 1);
    EXPECT(volt_argmax(x, 0, false), 0, 1, 1, 0);
    EXPECT(volt_argmin(x, -1, false), 0, 1, 2);
    EXPECT(volt_max_all(x), 0, 5);
    EXPECT(volt_min_all(tview(x)), 0, -6); /* non-contiguous */
    EXPECT(volt_max_all(b), 0, 1);
    EXPECT(volt_argmax(b, 1, false), 0, 0, 0);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------- max and min */

static void test_max_min_ties_nan(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = MAT(d, 2, 4, 1, 5, 5, 2, 3, 3, 0, 3);
        volt_tensor *idx;
        volt_tensor *m = volt_max(x, 1, true, &idx);
        VT_ASSERT_SHAPE(m, 2, 1);
        VT_ASSERT_SHAPE(idx, 2, 1);
        EXPECT(m, 0, 5, 3);
        EXPECT(idx, 0, 1, 0); /* first index on ties */
        EXPECT(volt_min(x, -1, false, &idx), 0, 1, 0);
        EXPECT(idx, 0, 0, 2);
        /* Along dim 0 (the column layout). */
        EXPECT(volt_max(x, 0, false, &idx), 0, 3, 5, 5, 3);
        EXPECT(idx, 0, 1, 0, 0, 1);
        EXPECT(volt_argmin(x, 0, false), 0, 0, 1, 1, 0);
        /* NaN propagates: the value is NaN and its index the first NaN. */
        volt_tensor *n = MAT(d, 2, 3, 1, NAN, 3, NAN, 2, NAN);
        m = volt_max(n, 1, false, &idx);
        assert_true(isnan(volt_tensor_get_flat(m, 0)) && isnan(volt_tensor_get_flat(m, 1)));
        EXPECT(idx, 0, 1, 0);
        m = volt_min(n, 0, false, &idx);
        assert_true(isnan(volt_tensor_get_flat(m, 0)));
        EXPECT(idx, 0, 1, 0, 1);
        EXPECT(volt_argmax(n, 1, false), 0, 1, 0);
        assert_true(isnan(volt_tensor_item(volt_max_all(n))));
        assert_true(isnan(volt_tensor_item(volt_min_all(n))));
        assert_true(isnan(volt_tensor_item(volt_norm(n, INFINITY, VOLT_ALL_DIMS, false))));
        assert_true(isnan(volt_tensor_item(volt_sum_all(n))));
        /* max without indices */
        EXPECT(volt_max(x, 1, false, NULL), 0, 5, 3);
    }
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------- stability and accuracy */

static void test_logsumexp_stable(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        EXPECT(volt_logsumexp(VEC(d, 1000, 1000), VOLT_ALL_DIMS, false), tol(d), 1000 + log(2));
        EXPECT(volt_logsumexp(VEC(d, -1000, -1000, -1000), VOLT_ALL_DIMS, false), tol(d),
               -1000 + log(3));
        assert_true(volt_tensor_item(volt_logsumexp(VEC(d, -INFINITY, -INFINITY), VOLT_ALL_DIMS,
                                                    false)) == -INFINITY);
        assert_true(volt_tensor_item(volt_logsumexp(VEC(d, INFINITY, 1), VOLT_ALL_DIMS, false)) ==
                    INFINITY);
        EXPECT(volt_logsumexp(VEC(d, -INFINITY, 0), VOLT_ALL_DIMS, false), 0, 0);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_f32_long_sum_accuracy(void **state) {
    (void)state;
    volt_tensor *x = volt_full(VOLT_SHAPE(1000000), 0.1, VOLT_F32);
    /* float(0.1) * 1e6 = 100000.0015: one f32 ulp at 1e5 is 0.0078. */
    double s = volt_tensor_item(volt_sum_all(x));
    assert_true(fabs(s - 100000.0) <= 0.008);
    assert_true(fabs(volt_tensor_item(volt_mean_all(x)) - 0.1) <= 1e-8);
    /* A few long rows (blocked path) and a long column reduction. */
    volt_tensor *rows = volt_full(VOLT_SHAPE(2, 500000), 0.1, VOLT_F32);
    volt_tensor *r = volt_sum(rows, VOLT_DIMS(1), false);
    assert_true(fabs(volt_tensor_get_flat(r, 0) - 50000.0) <= 0.004);
    assert_true(fabs(volt_tensor_get_flat(r, 1) - 50000.0) <= 0.004);
    volt_tensor *cols = volt_full(VOLT_SHAPE(250000, 4), 0.1, VOLT_F32);
    volt_tensor *c = volt_sum(cols, VOLT_DIMS(0), false);
    for (int i = 0; i < 4; i++) assert_true(fabs(volt_tensor_get_flat(c, i) - 25000.0) <= 0.002);
    /* var of a large offset stays exact-ish (two passes in double). */
    volt_tensor *v = VEC(VOLT_F32, 1e4 + 1, 1e4 + 2, 1e4 + 3, 1e4 + 4);
    EXPECT(volt_var(v, VOLT_ALL_DIMS, 1, false), 1e-6, 5.0 / 3);
    VT_ASSERT_NO_ERROR();
}

/* The fast paths (rows, columns, blocks) against the plain strided loop. */
static void test_fast_paths_match_reference(void **state) {
    (void)state;
    /* Column and row layouts, groups long enough to be cut into blocks
     * (> 16384), and dims that merge. */
    const int64_t shapes[][3] = {
        {64, 256, 1}, {2, 33000, 1}, {6000, 3, 1}, {6, 50, 70}, {1, 1, 33000}};
    const int masks[] = {1, 2, 3, 4, 5, 6, 7};
    volt_generator g = volt_generator_make(11, 0);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        for (int t = 0; t < 2; t++) {
            volt_tensor *x = volt_randn(3, shapes[si], floats[t], &g);
            for (size_t mi = 0; mi < sizeof masks / sizeof masks[0]; mi++) {
                bool mask[VOLT_MAX_DIMS] = {0};
                for (int dd = 0; dd < 3; dd++) mask[dd] = masks[mi] & (1 << dd);
                int64_t n_out = 1;
                for (int dd = 0; dd < 3; dd++)
                    if (!mask[dd]) n_out *= shapes[si][dd];
                for (int op = 0; op < VOLT_RED_COUNT; op++) {
                    if (op == VOLT_RED_PROD && n_out < 4) continue; /* under/overflows */
                    volt_tensor *center = volt_zeros(1, &n_out, VOLT_F64);
                    volt_tensor *fast = volt_empty(1, &n_out, VOLT_F64);
                    volt_tensor *ref = volt_empty(1, &n_out, VOLT_F64);
                    volt_reduce_final fin =
                        op == VOLT_RED_EXPSUM ? VOLT_RED_FINAL_LOG_ADD : VOLT_RED_FINAL_NONE;
                    volt_cpu_reduce(op, fin, 1, fast, x, mask, volt_tensor_data(center));
                    volt_cpu_reduce_reference(op, fin, 1, ref, x, mask, volt_tensor_data(center));
                    const double *f = volt_tensor_data(fast), *r = volt_tensor_data(ref);
                    for (int64_t i = 0; i < n_out; i++) {
                        double scale = op == VOLT_RED_PROD ? fabs(r[i]) : 1 + fabs(r[i]);
                        if (!(fabs(f[i] - r[i]) <= 1e-9 * scale + 1e-290)) {
                            fprintf(stderr, "shape %zu mask %d op %d: %.17g vs %.17g\n", si,
                                    masks[mi], op, f[i], r[i]);
                            fail();
                        }
                    }
                    volt_tensor_free(center);
                    volt_tensor_free(fast);
                    volt_tensor_free(ref);
                }
            }
            volt_tensor_free(x);
        }
    }
    VT_ASSERT_NO_ERROR();
}

static void test_thread_count_independent(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(5, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(3, 300000), VOLT_F32, &g);
    volt_tensor *y = volt_randn(VOLT_SHAPE(200000, 5), VOLT_F32, &g);
    int saved = volt_get_num_threads();
    float r[2][6];
    for (int t = 0; t < 2; t++) {
        volt_set_num_threads(t == 0 ? 1 : 4);
        r[t][0] = *(float *)volt_tensor_data(volt_sum_all(x));
        r[t][1] = *(float *)volt_tensor_data(volt_sum(x, VOLT_DIMS(1), false));
        r[t][2] = *(float *)volt_tensor_data(volt_var(x, VOLT_DIMS(1), 1, false));
        r[t][3] = *(float *)volt_tensor_data(volt_logsumexp(x, VOLT_DIMS(-1), false));
        r[t][4] = *(float *)volt_tensor_data(volt_sum(y, VOLT_DIMS(0), false));
        r[t][5] = *(float *)volt_tensor_data(volt_norm(y, 2, VOLT_ALL_DIMS, false));
    }
    volt_set_num_threads(saved);
    assert_memory_equal(r[0], r[1], sizeof r[0]);
    VT_ASSERT_NO_ERROR();
}

/* --------------------------------------------------- exact gradients */

static volt_tensor *grad_of(volt_tensor *x, volt_tensor *y) {
    assert_non_null(y);
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    assert_non_null(x->grad);
    return x->grad;
}

static void test_exact_gradients(void **state) {
    (void)state;
    volt_tensor *x = leaf(VEC(VOLT_F64, 1, 3, 3, 2));
    EXPECT(grad_of(x, volt_max_all(x)), 0, 0, 0.5, 0.5, 0); /* split among ties */
    volt_tensor_clear_grad(x);
    EXPECT(grad_of(x, volt_max(x, 0, false, NULL)), 0, 0, 1, 0, 0); /* first index */
    volt_tensor_clear_grad(x);
    EXPECT(grad_of(x, volt_min_all(x)), 0, 1, 0, 0, 0);
    volt_tensor_clear_grad(x);
    EXPECT(grad_of(x, volt_mean_all(x)), 0, 0.25, 0.25, 0.25, 0.25);
    volt_tensor *n = leaf(VEC(VOLT_F64, 3, -3, 1));
    EXPECT(grad_of(n, volt_norm(n, INFINITY, VOLT_ALL_DIMS, false)), 0, 0.5, -0.5, 0);
    volt_tensor_clear_grad(n);
    EXPECT(grad_of(n, volt_norm(n, 1, VOLT_ALL_DIMS, false)), 0, 1, -1, 1);
    volt_tensor *z = leaf(VEC(VOLT_F64, 0, 0, 0));
    EXPECT(grad_of(z, volt_norm(z, 2, VOLT_ALL_DIMS, false)), 0, 0, 0, 0); /* 0 at 0 */
    volt_tensor_clear_grad(z);
    EXPECT(grad_of(z, volt_std(z, VOLT_ALL_DIMS, 1, false)), 0, 0, 0, 0);
    volt_tensor *p1 = leaf(VEC(VOLT_F64, 2, 0, 3));
    EXPECT(grad_of(p1, volt_prod(p1, VOLT_ALL_DIMS, false)), 0, 0, 6, 0);
    volt_tensor *p2 = leaf(VEC(VOLT_F64, 0, 0, 3));
    EXPECT(grad_of(p2, volt_prod(p2, VOLT_ALL_DIMS, false)), 0, 0, 0, 0);
    volt_tensor *p3 = leaf(MAT(VOLT_F64, 2, 3, 1, 2, 3, 0, 5, 6));
    EXPECT(grad_of(p3, volt_prod(p3, VOLT_DIMS(1), false)), 0, 6, 3, 2, 30, 0, 0);
    /* max along dim 0 of [[1,4],[2,3]] sends each gradient to its row. */
    volt_tensor *m = leaf(MAT(VOLT_F64, 2, 2, 1, 4, 2, 3));
    EXPECT(grad_of(m, volt_max(m, 0, true, NULL)), 0, 0, 1, 1, 0);
    /* f32 gradients keep their dtype. */
    volt_tensor *f = leaf(VEC(VOLT_F32, 1, 2, 3, 4));
    volt_tensor *gf = grad_of(f, volt_var(f, VOLT_ALL_DIMS, 1, false));
    assert_int_equal(gf->dtype, VOLT_F32);
    EXPECT(gf, 1e-6, -1, -1.0 / 3, 1.0 / 3, 1);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------- gradchecks */

enum { G_STD0 = R_COUNT, G_MAX, G_MIN, G_MAX_ALL, G_MIN_ALL, G_SUM_ALL, G_MEAN_ALL, G_COUNT };

typedef struct {
    int op;
    int n;
    int dims[3];
    bool keep;
} spec;

static volt_tensor *apply_spec(volt_tensor **in, void *ctx) {
    const spec *s = ctx;
    volt_tensor *x = in[0];
    const int *dims = s->n ? s->dims : NULL;
    switch (s->op) {
    case G_STD0: return volt_std(x, s->n, dims, 0, s->keep);
    case G_MAX: return volt_max(x, s->dims[0], s->keep, NULL);
    case G_MIN: return volt_min(x, s->dims[0], s->keep, NULL);
    case G_MAX_ALL: return volt_max_all(x);
    case G_MIN_ALL: return volt_min_all(x);
    case G_SUM_ALL: return volt_sum_all(x);
    case G_MEAN_ALL: return volt_mean_all(x);
    default: return apply_dims(s->op, x, s->n, dims, s->keep);
    }
}

typedef struct {
    int ndim;
    int64_t shape[3];
    bool strided;
    int n;
    int dims[3];
    bool keep;
} gcase;

static void test_gradchecks(void **state) {
    (void)state;
    const gcase cases[] = {
        {1, {5}, false, 0, {0}, false},      {1, {6}, true, 1, {0}, true},
        {2, {3, 4}, false, 1, {0}, false},   {2, {3, 4}, false, 1, {-1}, true},
        {2, {3, 4}, false, 0, {0}, false},   {2, {3, 4}, true, 1, {0}, false},
        {2, {3, 4}, true, 1, {1}, true},     {3, {2, 3, 4}, false, 2, {0, 2}, false},
        {3, {2, 3, 4}, false, 1, {1}, true}, {3, {2, 3, 4}, true, 2, {-1, -2}, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const gcase *k = &cases[c];
        for (int op = 0; op < G_COUNT; op++) {
            if ((op == G_MAX || op == G_MIN) && k->n != 1) continue;
            spec s = {op, k->n, {k->dims[0], k->dims[1], k->dims[2]}, k->keep};
            double scale = 1.0, shift = 0.0;
            if (op == R_PROD) {
                scale = 0.3;
                shift = 1.0;
            }
            uint64_t seed = 100 + c * 31 + (uint64_t)op;
            volt_tensor *x = k->strided ? vt_leaf_strided(k->ndim, k->shape, seed, scale, shift)
                                        : vt_leaf(k->ndim, k->shape, seed, scale, shift);
            if (volt_gradcheck(apply_spec, &s, 1, &x, NULL) != VOLT_OK) {
                fprintf(stderr, "case %zu op %d: %s\n", c, op, volt_error_message());
                fail();
            }
        }
    }
    VT_ASSERT_NO_ERROR();
}

static void test_gradcheck_prod_zeros(void **state) {
    (void)state;
    spec all = {R_PROD, 0, {0}, false}, rows = {R_PROD, 1, {1}, false};
    volt_tensor *one = leaf(VEC(VOLT_F64, 2, 0, 3, -1.5));
    VT_GRADCHECK(apply_spec, &all, 1, one);
    volt_tensor *two = leaf(VEC(VOLT_F64, 0, 2, 0, 3));
    VT_GRADCHECK(apply_spec, &all, 1, two);
    volt_tensor *m = leaf(MAT(VOLT_F64, 3, 3, 0, 2, 3, 1, 0, 0, 4, 5, 6));
    VT_GRADCHECK(apply_spec, &rows, 1, m);
    VT_GRADCHECK(apply_spec, &all, 1, m);
}

/* -------------------------------------------------------------- errors */

static void test_errors(void **state) {
    (void)state;
    volt_tensor *x = MAT(VOLT_F32, 2, 3, 1, 2, 3, 4, 5, 6);
    assert_null(volt_sum(NULL, VOLT_ALL_DIMS, false));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "sum: argument 'a' is NULL");
    assert_null(volt_max(NULL, 0, false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "max: argument 'a' is NULL");
    assert_null(volt_max_all(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "max_all: argument 'a' is NULL");
    assert_null(volt_mean(x, VOLT_DIMS(2), false));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "mean: dimension 2 out of range for f32[2,3] (expected -2..1)");
    assert_null(volt_prod(x, VOLT_DIMS(0, -2), false));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "prod: dimension -2 appears twice for f32[2,3]");
    volt_tensor *idx = x;
    assert_null(volt_max(x, -3, false, &idx));
    assert_null(idx);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "max: dimension -3 out of range");
    assert_null(volt_argmax(x, 2, false));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "argmax: dimension 2 out of range");
    volt_tensor *i = VEC(VOLT_I64, 1, 2, 3);
    const char *float_ops[] = {"mean", "var", "std", "logsumexp", "norm"};
    volt_tensor *results[5] = {0};
    results[0] = volt_mean(i, VOLT_ALL_DIMS, false);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "mean: expected a floating-point tensor, got i64[3]");
    results[1] = volt_var(i, VOLT_ALL_DIMS, 1, false);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "var: expected a floating-point tensor, got i64[3]");
    results[2] = volt_std(i, VOLT_ALL_DIMS, 1, false);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "std: expected a floating-point tensor");
    results[3] = volt_logsumexp(i, VOLT_ALL_DIMS, false);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "logsumexp: expected a floating-point tensor");
    results[4] = volt_norm(i, 2, VOLT_ALL_DIMS, false);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "norm: expected a floating-point tensor");
    for (int k = 0; k < 5; k++) {
        if (results[k]) fprintf(stderr, "%s accepted an integer tensor\n", float_ops[k]);
        assert_null(results[k]);
    }
    volt_tensor *h = volt_zeros(VOLT_SHAPE(3), VOLT_F16); /* bf16 runs (test_bf16_ops.c) */
    assert_null(volt_sum_all(h));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "sum: f16[3] is not supported (f32 and f64 are)");
    assert_null(volt_max(h, 0, false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "max: f16[3] is not supported");
    assert_null(volt_min_all(h));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "min_all: f16[3] is not supported");
    assert_null(volt_norm(x, 3, VOLT_ALL_DIMS, false));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "norm: p = 3 is not supported for f32[2,3] (p must be 1, 2 or INFINITY)");
    assert_null(volt_norm(x, 0, VOLT_ALL_DIMS, false));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "norm: p = 0 is not supported");
    assert_null(volt_norm(x, -INFINITY, VOLT_ALL_DIMS, false));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "norm: p = -inf is not supported");
    assert_null(volt_sum(x, 1, NULL, false));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "sum: NULL dims");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_hand_values),
        VT_TEST(test_all_dim_combinations),
        VT_TEST(test_sliced_and_transposed),
        VT_TEST(test_zero_dim),
        VT_TEST(test_empty),
        VT_TEST(test_integer_and_bool),
        VT_TEST(test_max_min_ties_nan),
        VT_TEST(test_logsumexp_stable),
        VT_TEST(test_f32_long_sum_accuracy),
        VT_TEST(test_fast_paths_match_reference),
        VT_TEST(test_thread_count_independent),
        VT_TEST(test_exact_gradients),
        VT_TEST(test_gradchecks),
        VT_TEST(test_gradcheck_prod_zeros),
        VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
