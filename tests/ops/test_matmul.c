/* test_matmul.c: matmul (dot, matrix, vector, batched with broadcast batch
 * dims), bmm, addmm and outer: hand-computed values, a naive reference for
 * batched and strided operands, transposed views giving bit-identical results
 * to contiguous copies, empty operands, float64 gradchecks of every case
 * (1-D, 2-D, batched broadcast, addmm with broadcast bias, strided inputs),
 * and the error messages. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/cpu/matmul.h"

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

static const volt_dtype floats[2] = {VOLT_F32, VOLT_F64};

static volt_tensor *randn(volt_dtype d, int ndim, const int64_t *shape, uint64_t seed) {
    volt_generator g = volt_generator_make(seed, 0);
    return volt_randn(ndim, shape, d, &g);
}

/* A view with the last two dims swapped (no copy). */
static volt_tensor *tview(const volt_tensor *t) {
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    int nd = t->ndim;
    memcpy(shape, t->shape, sizeof shape);
    memcpy(strides, t->strides, sizeof strides);
    shape[nd - 2] = t->shape[nd - 1];
    shape[nd - 1] = t->shape[nd - 2];
    strides[nd - 2] = t->strides[nd - 1];
    strides[nd - 1] = t->strides[nd - 2];
    return volt_tensor_alias(t, nd, shape, strides, t->offset);
}

/* A contiguous copy (no autograd). */
static volt_tensor *copy_of(const volt_tensor *t) {
    volt_tensor *c = volt_empty(t->ndim, t->shape, t->dtype);
    return volt_copy_(c, t);
}

/* Naive a @ b for operands of >= 2 dims with broadcast batch dims, into
 * expected[] (row-major); returns the element count. */
static int64_t naive(const volt_tensor *a, const volt_tensor *b, double *expected) {
    int nb = (a->ndim > b->ndim ? a->ndim : b->ndim) - 2;
    int64_t bshape[VOLT_MAX_DIMS], batch = 1;
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - (a->ndim - 2)), ib = i - (nb - (b->ndim - 2));
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        bshape[i] = sa > sb ? sa : sb;
        batch *= bshape[i];
    }
    int64_t n = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1], m = b->shape[b->ndim - 1];
    int64_t count = 0;
    for (int64_t bi = 0; bi < batch; bi++) {
        int64_t idx[VOLT_MAX_DIMS], ia[VOLT_MAX_DIMS], ib[VOLT_MAX_DIMS], rem = bi;
        for (int i = nb - 1; i >= 0; i--) {
            idx[i] = rem % bshape[i];
            rem /= bshape[i];
        }
        for (int i = 0; i < a->ndim - 2; i++) {
            int j = i + nb - (a->ndim - 2);
            ia[i] = a->shape[i] == 1 ? 0 : idx[j];
        }
        for (int i = 0; i < b->ndim - 2; i++) {
            int j = i + nb - (b->ndim - 2);
            ib[i] = b->shape[i] == 1 ? 0 : idx[j];
        }
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < m; c++) {
                double s = 0;
                for (int64_t q = 0; q < k; q++) {
                    ia[a->ndim - 2] = r;
                    ia[a->ndim - 1] = q;
                    ib[b->ndim - 2] = q;
                    ib[b->ndim - 1] = c;
                    s += volt_tensor_get(a, ia) * volt_tensor_get(b, ib);
                }
                expected[count++] = s;
            }
    }
    return count;
}

static void check_naive(const volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                        double rtol) {
    static double expected[1 << 16];
    int64_t n = naive(a, b, expected);
    VT_ASSERT_CLOSE(out, expected, n, rtol, rtol);
}

/* ------------------------------------------------------------ values */

static void test_values(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++) {
        volt_dtype d = floats[t];
        volt_tensor *a = MAT(d, 2, 3, 1, 2, 3, 4, 5, 6);
        volt_tensor *b = MAT(d, 3, 2, 7, 8, 9, 10, 11, 12);
        volt_tensor *c = volt_matmul(a, b);
        VT_ASSERT_SHAPE(c, 2, 2);
        assert_int_equal(c->dtype, d);
        EXPECT(c, 0, 58, 64, 139, 154);
        EXPECT(volt_matmul(b, a), 0, 39, 54, 69, 49, 68, 87, 59, 82, 105);
        /* dot -> 0-d */
        volt_tensor *dot = volt_matmul(VEC(d, 1, 2, 3), VEC(d, 4, 5, 6));
        VT_ASSERT_SHAPE(dot);
        EXPECT(dot, 0, 32);
        /* [2] @ [2,3] -> [3]; [2,3] @ [3] -> [2] */
        volt_tensor *vm = volt_matmul(VEC(d, 1, 2), a);
        VT_ASSERT_SHAPE(vm, 3);
        EXPECT(vm, 0, 9, 12, 15);
        volt_tensor *mv = volt_matmul(a, VEC(d, 1, 2, 3));
        VT_ASSERT_SHAPE(mv, 2);
        EXPECT(mv, 0, 14, 32);
        /* [2,2,3] @ [3] -> [2,2]; [2] @ [2,2,3] -> [2,3] */
        volt_tensor *a3 =
            volt_reshape(VEC(d, 1, 2, 3, 4, 5, 6, 0, 1, 0, 1, 0, 1), VOLT_SHAPE(2, 2, 3));
        volt_tensor *nv = volt_matmul(a3, VEC(d, 1, 2, 3));
        VT_ASSERT_SHAPE(nv, 2, 2);
        EXPECT(nv, 0, 14, 32, 2, 4);
        volt_tensor *vn = volt_matmul(VEC(d, 1, -1), a3);
        VT_ASSERT_SHAPE(vn, 2, 3);
        EXPECT(vn, 0, -3, -3, -3, -1, 1, -1);
        /* bmm: batch 0 is the identity, batch 1 doubles. */
        volt_tensor *m2 = volt_reshape(VEC(d, 1, 0, 0, 1, 2, 0, 0, 2), VOLT_SHAPE(2, 2, 2));
        volt_tensor *x2 = volt_reshape(VEC(d, 1, 2, 3, 4, 5, 6, 7, 8), VOLT_SHAPE(2, 2, 2));
        volt_tensor *bm = volt_bmm(m2, x2);
        VT_ASSERT_SHAPE(bm, 2, 2, 2);
        EXPECT(bm, 0, 1, 2, 3, 4, 10, 12, 14, 16);
        /* outer */
        volt_tensor *o = volt_outer(VEC(d, 1, 2, 3), VEC(d, 4, 5));
        VT_ASSERT_SHAPE(o, 3, 2);
        EXPECT(o, 0, 4, 5, 8, 10, 12, 15);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_addmm(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++) {
        volt_dtype d = floats[t];
        volt_tensor *a = MAT(d, 2, 3, 1, 2, 3, 4, 5, 6);
        volt_tensor *b = MAT(d, 3, 2, 7, 8, 9, 10, 11, 12); /* a @ b = 58 64 139 154 */
        EXPECT(volt_addmm(VEC(d, 1, 2), a, b, 1, 1), 0, 59, 66, 140, 156);
        EXPECT(volt_addmm(MAT(d, 2, 1, 10, 20), a, b, 0.5, 2), 0, 121, 133, 288, 318);
        EXPECT(volt_addmm(MAT(d, 2, 2, 1, 1, 1, 1), a, b, -1, 1), 0, 57, 63, 138, 153);
        EXPECT(volt_addmm(volt_scalar(3, d), a, b, 1, 0), 0, 3, 3, 3, 3);
        /* beta 0 ignores the bias, NaN included (like PyTorch). */
        EXPECT(volt_addmm(VEC(d, NAN, NAN), a, b, 0, 1), 0, 58, 64, 139, 154);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_batched_broadcast(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++) {
        volt_dtype d = floats[t];
        double rtol = d == VOLT_F32 ? 1e-5 : 1e-12;
        volt_tensor *a = randn(d, VOLT_SHAPE(2, 1, 3, 4), 1);
        volt_tensor *b = randn(d, VOLT_SHAPE(3, 4, 2), 2);
        volt_tensor *c = volt_matmul(a, b);
        VT_ASSERT_SHAPE(c, 2, 3, 3, 2);
        check_naive(c, a, b, rtol);
        /* 2-D broadcast against a batch, either side. */
        volt_tensor *w = randn(d, VOLT_SHAPE(4, 5), 3);
        volt_tensor *x = randn(d, VOLT_SHAPE(2, 3, 4), 4);
        int64_t allocs = volt_cpu_memory_stats().n_allocs;
        c = volt_matmul(x, w); /* stacked into one gemm */
        assert_int_equal(volt_cpu_memory_stats().n_allocs - allocs, 1);
        VT_ASSERT_SHAPE(c, 2, 3, 5);
        check_naive(c, x, w, rtol);
        volt_tensor *y = randn(d, VOLT_SHAPE(2, 5, 3), 5);
        c = volt_matmul(w, y);
        VT_ASSERT_SHAPE(c, 2, 4, 3);
        check_naive(c, w, y, rtol);
        /* Batches that do not stack: rows 0..2 of a [2,4,4] storage. */
        volt_tensor *s = randn(d, VOLT_SHAPE(2, 4, 4), 6);
        volt_tensor *xs = volt_tensor_alias(s, 3, (int64_t[]){2, 3, 4}, (int64_t[]){16, 4, 1}, 0);
        c = volt_matmul(xs, w);
        check_naive(c, xs, w, rtol);
        /* A transposed weight on a batch (the linear layer layout). */
        volt_tensor *wt = tview(randn(d, VOLT_SHAPE(5, 4), 7));
        c = volt_matmul(x, wt);
        check_naive(c, x, wt, rtol);
        /* Expanded (stride 0) batch operand and many small batches. */
        volt_tensor *e = volt_expand(randn(d, VOLT_SHAPE(1, 4, 3), 8), VOLT_SHAPE(64, 4, 3));
        volt_tensor *many = randn(d, VOLT_SHAPE(64, 2, 4), 9);
        allocs = volt_cpu_memory_stats().n_allocs;
        c = volt_bmm(many, e); /* the expanded operand is not copied */
        assert_int_equal(volt_cpu_memory_stats().n_allocs - allocs, 1);
        VT_ASSERT_SHAPE(c, 64, 2, 3);
        check_naive(c, many, e, rtol);
    }
    VT_ASSERT_NO_ERROR();
}

/* Transposed views go to BLAS as CblasTrans: same numbers as copies. */
static void test_transposed_views_exact(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++) {
        volt_dtype d = floats[t];
        volt_tensor *at = tview(randn(d, VOLT_SHAPE(53, 37), 10)); /* [37,53] */
        volt_tensor *bt = tview(randn(d, VOLT_SHAPE(29, 53), 11)); /* [53,29] */
        volt_tensor *b = randn(d, VOLT_SHAPE(53, 29), 12);
        assert_false(volt_tensor_is_contiguous(at));
        size_t es = volt_dtype_size(d), bytes = 37 * 29 * es;
        bool trans;
        int64_t ld;
        assert_true(volt_cpu_gemm_operand(at, &trans, &ld) && trans && ld == 37);
        volt_tensor *ref = volt_matmul(copy_of(at), copy_of(bt));
        int64_t allocs = volt_cpu_memory_stats().n_allocs;
        volt_tensor *got = volt_matmul(at, bt);
        assert_int_equal(volt_cpu_memory_stats().n_allocs - allocs, 1); /* the output only */
        assert_memory_equal(volt_tensor_data(ref), volt_tensor_data(got), bytes);
        ref = volt_matmul(copy_of(at), b);
        got = volt_matmul(at, b);
        assert_memory_equal(volt_tensor_data(ref), volt_tensor_data(got), bytes);
        /* batched, both operands transposed */
        volt_tensor *ab = tview(randn(d, VOLT_SHAPE(3, 6, 5), 13));
        volt_tensor *bb = tview(randn(d, VOLT_SHAPE(3, 4, 6), 14));
        ref = volt_bmm(copy_of(ab), copy_of(bb));
        got = volt_bmm(ab, bb);
        assert_memory_equal(volt_tensor_data(ref), volt_tensor_data(got), 3 * 5 * 4 * es);
        /* A layout BLAS cannot read (stride 2 columns) is copied first. */
        volt_tensor *wide = randn(d, VOLT_SHAPE(37, 106), 15);
        volt_tensor *sl = volt_tensor_alias(wide, 2, (int64_t[]){37, 53}, (int64_t[]){106, 2}, 1);
        ref = volt_matmul(copy_of(sl), b);
        got = volt_matmul(sl, b);
        assert_memory_equal(volt_tensor_data(ref), volt_tensor_data(got), bytes);
        check_naive(got, sl, b, d == VOLT_F32 ? 1e-4 : 1e-12);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_larger_f32(void **state) {
    (void)state;
    volt_tensor *a = randn(VOLT_F32, VOLT_SHAPE(64, 784), 20);
    volt_tensor *b = randn(VOLT_F32, VOLT_SHAPE(784, 16), 21);
    check_naive(volt_matmul(a, b), a, b, 1e-4);
    VT_ASSERT_NO_ERROR();
}

static void test_empty(void **state) {
    (void)state;
    volt_tensor *c =
        volt_matmul(volt_zeros(VOLT_SHAPE(0, 3), VOLT_F32), volt_ones(VOLT_SHAPE(3, 2), VOLT_F32));
    VT_ASSERT_SHAPE(c, 0, 2);
    c = volt_matmul(volt_ones(VOLT_SHAPE(2, 0), VOLT_F64), volt_ones(VOLT_SHAPE(0, 3), VOLT_F64));
    VT_ASSERT_SHAPE(c, 2, 3);
    EXPECT(c, 0, 0, 0, 0, 0, 0, 0);
    c = volt_matmul(volt_ones(VOLT_SHAPE(0), VOLT_F32), volt_ones(VOLT_SHAPE(0), VOLT_F32));
    VT_ASSERT_SHAPE(c);
    EXPECT(c, 0, 0);
    c = volt_addmm(volt_ones(VOLT_SHAPE(2), VOLT_F32), volt_ones(VOLT_SHAPE(2, 0), VOLT_F32),
                   volt_ones(VOLT_SHAPE(0, 2), VOLT_F32), 2, 1);
    EXPECT(c, 0, 2, 2, 2, 2);
    c = volt_bmm(volt_ones(VOLT_SHAPE(0, 2, 3), VOLT_F32),
                 volt_ones(VOLT_SHAPE(0, 3, 4), VOLT_F32));
    VT_ASSERT_SHAPE(c, 0, 2, 4);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------- gradchecks */

enum { OP_MATMUL, OP_BMM, OP_ADDMM, OP_OUTER };

typedef struct {
    int op;
    double beta, alpha;
} mspec;

static volt_tensor *apply(volt_tensor **in, void *ctx) {
    const mspec *s = ctx;
    switch (s->op) {
    case OP_MATMUL: return volt_matmul(in[0], in[1]);
    case OP_BMM: return volt_bmm(in[0], in[1]);
    case OP_ADDMM: return volt_addmm(in[0], in[1], in[2], s->beta, s->alpha);
    default: return volt_outer(in[0], in[1]);
    }
}

typedef struct {
    int na;
    int64_t a[4];
    int nb;
    int64_t b[4];
} pair;

static void test_gradcheck_matmul(void **state) {
    (void)state;
    const pair pairs[] = {
        {2, {3, 4}, 2, {4, 2}},
        {1, {4}, 1, {4}},
        {1, {4}, 2, {4, 3}},
        {2, {3, 4}, 1, {4}},
        {4, {2, 1, 3, 4}, 3, {3, 4, 2}},
        {3, {2, 3, 4}, 1, {4}},
        {1, {4}, 3, {2, 4, 3}},
        {3, {2, 3, 4}, 2, {4, 5}},
        {2, {3, 4}, 3, {2, 4, 5}},
        {3, {1, 3, 2}, 3, {4, 2, 2}},
    };
    mspec s = {OP_MATMUL, 0, 1};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        for (int strided = 0; strided < 2; strided++) {
            const pair *p = &pairs[i];
            volt_tensor *a = strided ? vt_leaf_strided(p->na, p->a, 40 + i, 1, 0)
                                     : vt_leaf(p->na, p->a, 40 + i, 1, 0);
            volt_tensor *b = strided ? vt_leaf_strided(p->nb, p->b, 60 + i, 1, 0)
                                     : vt_leaf(p->nb, p->b, 60 + i, 1, 0);
            volt_tensor *in[2] = {a, b};
            if (volt_gradcheck(apply, &s, 2, in, NULL) != VOLT_OK) {
                fprintf(stderr, "pair %zu strided %d: %s\n", i, strided, volt_error_message());
                fail();
            }
        }
    }
    /* Only one operand requiring grad. */
    volt_tensor *a = vt_leaf(VOLT_SHAPE(2, 3, 4), 80, 1, 0);
    volt_tensor *w = volt_requires_grad(randn(VOLT_F64, VOLT_SHAPE(4, 2), 81), false);
    VT_GRADCHECK(apply, &s, 1, a, w);
    VT_ASSERT_NO_ERROR();
}

static void test_gradcheck_bmm_addmm_outer(void **state) {
    (void)state;
    mspec bmm = {OP_BMM, 0, 1};
    VT_GRADCHECK(apply, &bmm, 2, vt_leaf(VOLT_SHAPE(2, 3, 4), 90, 1, 0),
                 vt_leaf(VOLT_SHAPE(2, 4, 5), 91, 1, 0));
    VT_GRADCHECK(apply, &bmm, 2, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 92, 1, 0),
                 vt_leaf_strided(VOLT_SHAPE(2, 4, 5), 93, 1, 0));
    const int64_t biases[][3] = {{1, 5}, {2, 3, 1}, {2, 3, 5}, {2, 1, 5}, {0}};
    const mspec ab[] = {{OP_ADDMM, 1, 1}, {OP_ADDMM, 0.5, -2}, {OP_ADDMM, 0, 1}};
    for (size_t i = 0; i < sizeof biases / sizeof biases[0]; i++) {
        for (size_t j = 0; j < sizeof ab / sizeof ab[0]; j++) {
            volt_tensor *bias = vt_leaf((int)biases[i][0], biases[i] + 1, 100 + i, 1, 0);
            volt_tensor *in[3] = {bias, vt_leaf(VOLT_SHAPE(3, 4), 110 + j, 1, 0),
                                  vt_leaf_strided(VOLT_SHAPE(4, 5), 120 + j, 1, 0)};
            if (volt_gradcheck(apply, (void *)&ab[j], 3, in, NULL) != VOLT_OK) {
                fprintf(stderr, "bias %zu alpha/beta %zu: %s\n", i, j, volt_error_message());
                fail();
            }
        }
    }
    mspec outer = {OP_OUTER, 0, 1};
    VT_GRADCHECK(apply, &outer, 2, vt_leaf(VOLT_SHAPE(3), 130, 1, 0),
                 vt_leaf_strided(VOLT_SHAPE(4), 131, 1, 0));
    VT_ASSERT_NO_ERROR();
}

/* The gradient of a shared weight in [B,T,C] @ [C,D] is summed over B. */
static void test_shared_weight_gradient(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(volt_ones(VOLT_SHAPE(3, 2, 4), VOLT_F32), true);
    volt_tensor *w = volt_requires_grad(volt_ones(VOLT_SHAPE(4, 5), VOLT_F32), true);
    assert_int_equal(volt_backward(volt_sum_all(volt_matmul(x, w))), VOLT_OK);
    VT_ASSERT_SHAPE(w->grad, 4, 5);
    for (int64_t i = 0; i < 20; i++) assert_true(volt_tensor_get_flat(w->grad, i) == 6.0);
    VT_ASSERT_SHAPE(x->grad, 3, 2, 4);
    for (int64_t i = 0; i < 24; i++) assert_true(volt_tensor_get_flat(x->grad, i) == 5.0);
    assert_string_equal(volt_grad_fn_name(volt_matmul(x, w)), "matmul");
    VT_ASSERT_NO_ERROR();
}

/* -------------------------------------------------------------- errors */

static void test_errors(void **state) {
    (void)state;
    volt_tensor *a = volt_zeros(VOLT_SHAPE(64, 784), VOLT_F32);
    volt_tensor *b = volt_zeros(VOLT_SHAPE(512, 10), VOLT_F32);
    assert_null(volt_matmul(a, b));
    assert_string_equal(volt_error_message(),
                        "volt: matmul: [64,784] @ [512,10]: inner dimensions differ (784 vs 512)");
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "inner dimensions differ");
    volt_tensor *v3 = volt_zeros(VOLT_SHAPE(3), VOLT_F32),
                *v4 = volt_zeros(VOLT_SHAPE(4), VOLT_F32);
    assert_null(volt_matmul(v3, v4));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "matmul: [3] @ [4]: inner dimensions differ (3 vs 4)");
    assert_null(volt_matmul(volt_scalar(1, VOLT_F32), v3));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "matmul: [] @ [3]: 0-d operand");
    assert_null(volt_matmul(NULL, v3));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "matmul: argument 'a' is NULL");
    assert_null(volt_matmul(v3, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "matmul: argument 'b' is NULL");
    volt_tensor *i = volt_zeros(VOLT_SHAPE(2, 2), VOLT_I64);
    assert_null(volt_matmul(i, i));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "matmul: i64[2,2] @ i64[2,2]: integer and bool products are not supported");
    assert_null(volt_matmul(volt_zeros(VOLT_SHAPE(2, 2), VOLT_F32),
                            volt_zeros(VOLT_SHAPE(2, 2), VOLT_F64)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "matmul: f32[2,2] @ f64[2,2]: dtypes differ (f32 vs f64)");
    volt_tensor *h = volt_zeros(VOLT_SHAPE(2, 2), VOLT_F16);
    assert_null(volt_matmul(h, h));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "f16 is not supported (f32, f64, bf16 are)");
    assert_null(volt_matmul(volt_zeros(VOLT_SHAPE(2, 3, 4), VOLT_F32),
                            volt_zeros(VOLT_SHAPE(5, 4, 6), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "matmul: [2,3,4] @ [5,4,6]: batch dimensions cannot be broadcast (2 vs 5)");

    volt_tensor *m23 = volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32);
    volt_tensor *b234 = volt_zeros(VOLT_SHAPE(2, 3, 4), VOLT_F32);
    assert_null(volt_bmm(m23, b234));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "bmm: [2,3] @ [2,3,4]: expected 3-D tensors");
    assert_null(volt_bmm(b234, volt_zeros(VOLT_SHAPE(3, 4, 5), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "bmm: [2,3,4] @ [3,4,5]: batch sizes differ (2 vs 3)");
    assert_null(volt_bmm(b234, b234));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "bmm: [2,3,4] @ [2,3,4]: inner dimensions differ (4 vs 3)");
    assert_null(volt_bmm(NULL, b234));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "bmm: argument 'a' is NULL");

    volt_tensor *m34 = volt_zeros(VOLT_SHAPE(3, 4), VOLT_F32);
    assert_null(volt_addmm(v4, m23, m23, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "addmm: [2,3] @ [2,3]: inner dimensions differ (3 vs 2)");
    assert_null(volt_addmm(v4, v3, m34, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "addmm: [3] @ [3,4]: expected 2-D matrices");
    assert_null(volt_addmm(volt_zeros(VOLT_SHAPE(3, 5), VOLT_F32), m23, m34, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "addmm: bias [3,5] cannot be broadcast to [2,4]");
    assert_null(volt_addmm(volt_zeros(VOLT_SHAPE(1, 2, 4), VOLT_F32), m23, m34, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "addmm: bias [1,2,4] cannot be broadcast to [2,4]");
    assert_null(volt_addmm(volt_zeros(VOLT_SHAPE(4), VOLT_F64), m23, m34, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "addmm: f64[4] and f32[2,3]: dtypes differ");
    assert_null(volt_addmm(NULL, m23, m34, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "addmm: argument 'bias' is NULL");

    assert_null(volt_outer(m23, v3));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "outer: [2,3] and [3]: expected 1-D tensors");
    assert_null(volt_outer(v3, volt_zeros(VOLT_SHAPE(2), VOLT_I32)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "outer: f32[3] and i32[2]: dtypes differ");
    assert_null(volt_outer(NULL, v3));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "outer: argument 'a' is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_values),
        VT_TEST(test_addmm),
        VT_TEST(test_batched_broadcast),
        VT_TEST(test_transposed_views_exact),
        VT_TEST(test_larger_f32),
        VT_TEST(test_empty),
        VT_TEST(test_gradcheck_matmul),
        VT_TEST(test_gradcheck_bmm_addmm_outer),
        VT_TEST(test_shared_weight_gradient),
        VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
