/* test_index.c: the index ops (index_select, gather, scatter_add,
 * masked_fill and masked_fill_, one_hot, tril, triu): values worked out by
 * hand, i64 and i32 indices, non-contiguous inputs and indices, negative
 * dims, scatter_add's determinism whatever the thread count, float64
 * gradchecks, and the error messages (indices out of range, wrong dtypes,
 * wrong shapes, NULL inputs). */
#include "volt_test.h"

#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
/* A 1-d tensor of `dtype` holding the listed values. */
#define VEC(dtype, ...) vec((dtype), (const double[]){__VA_ARGS__}, COUNT(__VA_ARGS__))
/* A tensor of `dtype` and shape `shape` (a VOLT_SHAPE) holding the listed values. */
#define MAT(dtype, shape, ...) volt_reshape(VEC(dtype, __VA_ARGS__), shape)
/* Asserts t holds exactly the listed values (row-major). */
#define EXPECT(t, ...)                                                                             \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), 0, 0)

static volt_tensor *vec(volt_dtype dtype, const double *v, int64_t n) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, 1, &n);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

/* 0, 1, 2, ... in an f64 tensor of the given shape. */
static volt_tensor *seq(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return volt_reshape(volt_arange(0, (double)n, 1, VOLT_F64), ndim, shape);
}

/* -------------------------------------------------------- index_select */

static void test_index_select(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(3, 4));
    volt_tensor *s = volt_index_select(a, 0, VEC(VOLT_I64, 2, 0, 2));
    VT_ASSERT_SHAPE(s, 3, 4);
    EXPECT(s, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11);
    s = volt_index_select(a, 1, VEC(VOLT_I32, 3, 1));
    VT_ASSERT_SHAPE(s, 3, 2);
    EXPECT(s, 3, 1, 7, 5, 11, 9);
    s = volt_index_select(a, -1, VEC(VOLT_I64, 0));
    VT_ASSERT_SHAPE(s, 3, 1);
    EXPECT(s, 0, 4, 8);
    /* A 0-d index keeps the dim with size 1; an empty one gives size 0. */
    s = volt_index_select(a, 0, volt_scalar(1, VOLT_I64));
    VT_ASSERT_SHAPE(s, 1, 4);
    EXPECT(s, 4, 5, 6, 7);
    VT_ASSERT_SHAPE(volt_index_select(a, 0, volt_zeros(VOLT_SHAPE(0), VOLT_I64)), 0, 4);
    /* Transposed input: rows of t are columns of a. */
    volt_tensor *t = volt_transpose(a, 0, 1);
    EXPECT(volt_index_select(t, 0, VEC(VOLT_I64, 3, 0)), 3, 7, 11, 0, 4, 8);
    EXPECT(volt_index_select(t, 1, VEC(VOLT_I64, 2)), 8, 9, 10, 11);
    /* A strided index (every other element of [2, 9, 1, 9]). */
    volt_tensor *idx = volt_slice(VEC(VOLT_I64, 2, 9, 1, 9), 0, 0, 4, 2);
    EXPECT(volt_index_select(a, 0, idx), 8, 9, 10, 11, 4, 5, 6, 7);
    /* Other dtypes copy their elements. */
    s = volt_index_select(VEC(VOLT_I32, 5, 6, 7), 0, VEC(VOLT_I64, 2, 2, 0));
    assert_int_equal(s->dtype, VOLT_I32);
    EXPECT(s, 7, 7, 5);
    EXPECT(volt_index_select(VEC(VOLT_BOOL, 1, 0), 0, VEC(VOLT_I64, 1, 0, 1)), 0, 1, 0);
    EXPECT(volt_index_select(VEC(VOLT_F32, 0.5, 1.5), 0, VEC(VOLT_I32, 1)), 1.5);
    VT_ASSERT_NO_ERROR();
}

/* Large enough for the threaded path, contiguous rows and strided ones. */
static void test_index_select_large(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(1000, 70));
    volt_tensor *idx = volt_empty(VOLT_SHAPE(900), VOLT_I64);
    int64_t *p = volt_tensor_data(idx);
    for (int64_t i = 0; i < 900; i++) p[i] = (i * 7) % 1000;
    volt_tensor *s = volt_index_select(a, 0, idx);
    for (int64_t i = 0; i < 900; i++)
        for (int64_t j = 0; j < 70; j += 23)
            assert_true(volt_tensor_get(s, (int64_t[]){i, j}) == (double)(p[i] * 70 + j));
    /* The same rows read from a transposed copy. */
    volt_tensor *at = volt_transpose(volt_contiguous(volt_transpose(a, 0, 1)), 0, 1);
    volt_tensor *s2 = volt_index_select(at, 0, idx);
    for (int64_t i = 0; i < 900 * 70; i += 97)
        assert_true(volt_tensor_get_flat(s2, i) == volt_tensor_get_flat(s, i));
}

static void test_index_select_errors(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(3, 4));
    assert_null(volt_index_select(a, 0, VEC(VOLT_I64, 0, 3)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "index_select: index 3 is out of range for dimension 0 with size 3");
    assert_null(volt_index_select(a, 0, VEC(VOLT_I32, -1)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "index_select: index -1 is out of range for dimension 0 with size 3");
    assert_null(volt_index_select(a, -1, VEC(VOLT_I64, 4)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "index 4 is out of range for dimension 1 with size 4");
    assert_null(volt_index_select(a, 0, VEC(VOLT_F32, 1, 2)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "index_select: index must be i64 or i32, got f32[2]");
    assert_null(volt_index_select(a, 0, volt_zeros(VOLT_SHAPE(1, 2), VOLT_I64)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "index_select: index must be 0-d or 1-D, got i64[1,2]");
    assert_null(volt_index_select(a, 2, VEC(VOLT_I64, 0)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "index_select: dimension 2 out of range for f64[3,4]");
    assert_null(volt_index_select(volt_scalar(1, VOLT_F64), 0, VEC(VOLT_I64, 0)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "index_select: cannot index a 0-d tensor f64[]");
    assert_null(volt_index_select(NULL, 0, VEC(VOLT_I64, 0)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "index_select: argument 'a' is NULL");
    assert_null(volt_index_select(a, 0, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "index_select: argument 'index' is NULL");
}

/* -------------------------------------------------------------- gather */

static void test_gather(void **state) {
    (void)state;
    volt_tensor *a = MAT(VOLT_F64, VOLT_SHAPE(2, 2), 1, 2, 3, 4);
    /* out[i][j] = a[i][idx[i][j]] */
    volt_tensor *g = volt_gather(a, 1, MAT(VOLT_I64, VOLT_SHAPE(2, 2), 0, 0, 1, 0));
    VT_ASSERT_SHAPE(g, 2, 2);
    EXPECT(g, 1, 1, 4, 3);
    EXPECT(volt_gather(a, -1, MAT(VOLT_I32, VOLT_SHAPE(2, 2), 0, 0, 1, 0)), 1, 1, 4, 3);
    /* out[i][j] = a[idx[i][j]][j] */
    EXPECT(volt_gather(a, 0, MAT(VOLT_I64, VOLT_SHAPE(2, 2), 1, 0, 0, 0)), 3, 2, 1, 2);
    /* The index may be longer than a along dim and shorter elsewhere. */
    g = volt_gather(a, 1, MAT(VOLT_I64, VOLT_SHAPE(1, 3), 1, 0, 1));
    VT_ASSERT_SHAPE(g, 1, 3);
    EXPECT(g, 2, 1, 2);
    volt_tensor *m = seq(VOLT_SHAPE(3, 4));
    EXPECT(volt_gather(m, 1, MAT(VOLT_I64, VOLT_SHAPE(2, 1), 3, 0)), 3, 4);
    EXPECT(volt_gather(m, 0, MAT(VOLT_I64, VOLT_SHAPE(1, 3), 2, 1, 0)), 8, 5, 2);
    /* Transposed input t [4,3], t[i][j] = m[j][i]. */
    volt_tensor *t = volt_transpose(m, 0, 1);
    EXPECT(volt_gather(t, 1, MAT(VOLT_I64, VOLT_SHAPE(2, 1), 2, 0)), 8, 1);
    /* A transposed index: idx = [[2,0],[1,1]]^T = [[2,1],[0,1]]. */
    volt_tensor *it = volt_transpose(MAT(VOLT_I64, VOLT_SHAPE(2, 2), 2, 0, 1, 1), 0, 1);
    EXPECT(volt_gather(m, 0, it), 8, 5, 0, 5);
    /* The middle dim of [2,3,2]: out[i][0][k] = b[i][idx[i][0][k]][k]. */
    volt_tensor *b = seq(VOLT_SHAPE(2, 3, 2));
    g = volt_gather(b, 1, MAT(VOLT_I64, VOLT_SHAPE(2, 1, 2), 2, 0, 1, 1));
    VT_ASSERT_SHAPE(g, 2, 1, 2);
    EXPECT(g, 4, 1, 8, 9);
    g = volt_gather(VEC(VOLT_I64, 10, 20, 30), 0, VEC(VOLT_I64, 2, 2, 1, 0));
    assert_int_equal(g->dtype, VOLT_I64);
    EXPECT(g, 30, 30, 20, 10);
    VT_ASSERT_NO_ERROR();
}

static void test_gather_errors(void **state) {
    (void)state;
    volt_tensor *a = MAT(VOLT_F64, VOLT_SHAPE(2, 2), 1, 2, 3, 4);
    assert_null(volt_gather(a, 1, VEC(VOLT_I64, 0, 1)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "gather: index i64[2] must have as many dimensions as a f64[2,2]");
    assert_null(volt_gather(a, 1, volt_zeros(VOLT_SHAPE(3, 1), VOLT_I64)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "gather: index i64[3,1] is larger than a f64[2,2] in dimension 0");
    assert_null(volt_gather(a, 1, MAT(VOLT_I64, VOLT_SHAPE(2, 1), 0, 2)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "gather: index 2 is out of range for dimension 1 with size 2");
    assert_null(volt_gather(a, 0, MAT(VOLT_I32, VOLT_SHAPE(1, 1), -2)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "gather: index -2 is out of range for dimension 0 with size 2");
    assert_null(volt_gather(a, 0, volt_zeros(VOLT_SHAPE(1, 1), VOLT_U8)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "gather: index must be i64 or i32, got u8[1,1]");
    assert_null(volt_gather(a, -3, volt_zeros(VOLT_SHAPE(1, 1), VOLT_I64)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "gather: dimension -3 out of range");
    assert_null(volt_gather(NULL, 0, a));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "gather: argument 'a' is NULL");
    assert_null(volt_gather(a, 0, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "gather: argument 'index' is NULL");
}

/* --------------------------------------------------------- scatter_add */

static void test_scatter_add(void **state) {
    (void)state;
    volt_tensor *src = volt_add_scalar(seq(VOLT_SHAPE(2, 5)), 1); /* 1..10 */
    volt_tensor *index = MAT(VOLT_I64, VOLT_SHAPE(2, 5), 0, 1, 2, 0, 0, 2, 0, 0, 1, 2);
    volt_tensor *a = volt_zeros(VOLT_SHAPE(3, 5), VOLT_F64);
    /* out[index[i][j]][j] += src[i][j] */
    volt_tensor *out = volt_scatter_add(a, 0, index, src);
    VT_ASSERT_SHAPE(out, 3, 5);
    EXPECT(out, 1, 7, 8, 4, 5, 0, 2, 0, 9, 0, 6, 0, 3, 0, 10);
    EXPECT(a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    EXPECT(volt_scatter_add(volt_ones(VOLT_SHAPE(3, 5), VOLT_F64), -2, index, src), 2, 8, 9, 5, 6,
           1, 3, 1, 10, 1, 7, 1, 4, 1, 11);
    /* Along the last dim, with repeated indices: out[i][index[i][j]] += src[i][j]. */
    out = volt_scatter_add(volt_zeros(VOLT_SHAPE(2, 3), VOLT_F64), 1,
                           MAT(VOLT_I32, VOLT_SHAPE(2, 3), 0, 0, 2, 1, 1, 1),
                           MAT(VOLT_F64, VOLT_SHAPE(2, 3), 1, 2, 3, 4, 5, 6));
    EXPECT(out, 3, 0, 3, 0, 15, 0);
    /* An index smaller than src: only src[0][0..1] is used. */
    out = volt_scatter_add(volt_zeros(VOLT_SHAPE(3, 2), VOLT_F64), 0,
                           MAT(VOLT_I64, VOLT_SHAPE(1, 2), 2, 0), src);
    EXPECT(out, 0, 2, 0, 0, 1, 0);
    /* Integer dtypes. */
    out = volt_scatter_add(VEC(VOLT_I64, 1, 1), 0, VEC(VOLT_I64, 1, 1, 0), VEC(VOLT_I64, 5, 6, 7));
    assert_int_equal(out->dtype, VOLT_I64);
    EXPECT(out, 8, 12);
    EXPECT(volt_scatter_add(VEC(VOLT_U8, 1, 1), 0, VEC(VOLT_I64, 1), VEC(VOLT_U8, 5)), 1, 6);
    EXPECT(volt_scatter_add(VEC(VOLT_F32, 0.5, 0), 0, VEC(VOLT_I64, 0, 0), VEC(VOLT_F32, 1, 2)),
           3.5, 0);
    /* Transposed a and src: a^T = zeros, src^T of [5,2] = 1..10 as above. */
    volt_tensor *at = volt_transpose(volt_zeros(VOLT_SHAPE(5, 3), VOLT_F64), 0, 1);
    volt_tensor *st = volt_transpose(volt_contiguous(volt_transpose(src, 0, 1)), 0, 1);
    EXPECT(volt_scatter_add(at, 0, index, st), 1, 7, 8, 4, 5, 0, 2, 0, 9, 0, 6, 0, 3, 0, 10);
    VT_ASSERT_NO_ERROR();
}

/* out[i][k] += src[j][k] at i = idx[j][k] (dim 0), or out[i][idx[i][k]] +=
 * src[i][k] (dim 1), summed in f32 in the order of j (or k): the kernel must
 * give exactly this, on one thread or several. */
static void scatter_reference(float *out, const int64_t *idx, const float *src, int64_t rows,
                              int64_t cols, int64_t out_cols, int dim) {
    for (int64_t j = 0; j < rows; j++)
        for (int64_t k = 0; k < cols; k++) {
            int64_t at =
                dim == 0 ? idx[j * cols + k] * out_cols + k : j * out_cols + idx[j * cols + k];
            out[at] += src[j * cols + k];
        }
}

static void check_scatter_deterministic(int dim, int64_t rows, int64_t cols, int64_t bins) {
    int64_t out_rows = dim == 0 ? bins : rows, out_cols = dim == 0 ? cols : bins;
    volt_generator gen = volt_generator_make(42, 0);
    volt_tensor *src = volt_randn(VOLT_SHAPE(rows, cols), VOLT_F32, &gen);
    volt_tensor *index = volt_randint(0, bins, VOLT_SHAPE(rows, cols), VOLT_I64, &gen);
    volt_tensor *a = volt_zeros(VOLT_SHAPE(out_rows, out_cols), VOLT_F32);
    int threads = volt_get_num_threads();
    volt_set_num_threads(1);
    volt_tensor *one = volt_scatter_add(a, dim, index, src);
    volt_set_num_threads(4);
    volt_tensor *many = volt_scatter_add(a, dim, index, src);
    volt_set_num_threads(threads);
    volt_tensor *ref = volt_zeros(VOLT_SHAPE(out_rows, out_cols), VOLT_F32);
    scatter_reference(volt_tensor_data(ref), volt_tensor_data(index), volt_tensor_data(src), rows,
                      cols, out_cols, dim);
    size_t bytes = (size_t)(out_rows * out_cols) * sizeof(float);
    assert_memory_equal(volt_tensor_data(one), volt_tensor_data(ref), bytes);
    assert_memory_equal(volt_tensor_data(many), volt_tensor_data(ref), bytes);
}

static void test_scatter_add_deterministic(void **state) {
    (void)state;
    check_scatter_deterministic(0, 300, 3000, 4); /* row pieces in parallel */
    check_scatter_deterministic(1, 64, 2048, 8);  /* rows in parallel */
    check_scatter_deterministic(0, 70000, 1, 3);  /* one long serial column */
}

static void test_scatter_add_errors(void **state) {
    (void)state;
    volt_tensor *a = volt_zeros(VOLT_SHAPE(2, 2), VOLT_F32);
    volt_tensor *idx = volt_zeros(VOLT_SHAPE(2, 2), VOLT_I64);
    assert_null(volt_scatter_add(a, 0, idx, volt_ones(VOLT_SHAPE(2, 2), VOLT_F64)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "scatter_add: a f32[2,2] and src f64[2,2] must have the same dtype");
    volt_tensor *b = volt_zeros(VOLT_SHAPE(2, 2), VOLT_BOOL);
    assert_null(volt_scatter_add(b, 0, idx, b));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "scatter_add: bool[2,2] is not supported");
    assert_null(volt_scatter_add(a, 1, volt_zeros(VOLT_SHAPE(2, 3), VOLT_I64), a));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "scatter_add: index i64[2,3] is larger than src f32[2,2] in dimension 1");
    assert_null(volt_scatter_add(a, 1, volt_zeros(VOLT_SHAPE(3, 1), VOLT_I64),
                                 volt_zeros(VOLT_SHAPE(3, 3), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "scatter_add: index i64[3,1] is larger than a f32[2,2] in dimension 0");
    assert_null(volt_scatter_add(a, 0, VEC(VOLT_I64, 0), a));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "scatter_add: index i64[1] must have as many dimensions as a");
    assert_null(volt_scatter_add(a, 1, MAT(VOLT_I64, VOLT_SHAPE(1, 2), 0, 5), a));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "scatter_add: index 5 is out of range for dimension 1 with size 2");
    assert_null(volt_scatter_add(a, 0, volt_zeros(VOLT_SHAPE(2, 2), VOLT_F32), a));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "scatter_add: index must be i64 or i32, got f32[2,2]");
    assert_null(volt_scatter_add(a, 0, idx, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "scatter_add: argument 'src' is NULL");
    assert_null(volt_scatter_add(NULL, 0, idx, a));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "scatter_add: argument 'a' is NULL");
}

/* --------------------------------------------------------- masked_fill */

static void test_masked_fill(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(2, 3));
    volt_tensor *f = volt_masked_fill(a, VEC(VOLT_BOOL, 1, 0, 1), -1);
    VT_ASSERT_SHAPE(f, 2, 3);
    EXPECT(f, -1, 1, -1, -1, 4, -1);
    EXPECT(a, 0, 1, 2, 3, 4, 5);
    EXPECT(volt_masked_fill(a, MAT(VOLT_BOOL, VOLT_SHAPE(2, 1), 1, 0), 9), 9, 9, 9, 3, 4, 5);
    EXPECT(volt_masked_fill(a, volt_scalar(1, VOLT_BOOL), 2), 2, 2, 2, 2, 2, 2);
    /* Transposed input t = [[0,3],[1,4],[2,5]], mask along its last dim. */
    EXPECT(volt_masked_fill(volt_transpose(a, 0, 1), VEC(VOLT_BOOL, 0, 1), 7), 0, 7, 1, 7, 2, 7);
    /* Other dtypes. */
    f = volt_masked_fill(VEC(VOLT_I64, 1, 2, 3), VEC(VOLT_BOOL, 0, 1, 0), 7);
    assert_int_equal(f->dtype, VOLT_I64);
    EXPECT(f, 1, 7, 3);
    EXPECT(volt_masked_fill(VEC(VOLT_BOOL, 1, 1, 0), VEC(VOLT_BOOL, 1, 0, 0), 0), 0, 1, 0);
    f = volt_masked_fill(VEC(VOLT_F32, 1, 2), VEC(VOLT_BOOL, 1, 0), 0.1);
    assert_int_equal(f->dtype, VOLT_F32);
    EXPECT(f, (double)0.1f, 2);
    VT_ASSERT_NO_ERROR();
}

static void test_masked_fill_inplace(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(2, 3));
    uint64_t before = volt_storage_version(a->storage);
    assert_ptr_equal(volt_masked_fill_(a, VEC(VOLT_BOOL, 0, 1, 0), -5), a);
    EXPECT(a, 0, -5, 2, 3, -5, 5);
    assert_true(volt_storage_version(a->storage) > before);
    /* Through a transposed view, into its base. */
    volt_tensor *b = seq(VOLT_SHAPE(2, 3));
    volt_tensor *t = volt_transpose(b, 0, 1);
    assert_non_null(volt_masked_fill_(t, MAT(VOLT_BOOL, VOLT_SHAPE(3, 2), 1, 0, 0, 0, 0, 1), 8));
    EXPECT(b, 8, 1, 2, 3, 4, 8);
    /* A leaf that requires grad is refused in grad mode, allowed without. */
    volt_tensor *x = vt_leaf(VOLT_SHAPE(3), 1, 1, 0);
    assert_null(volt_masked_fill_(x, VEC(VOLT_BOOL, 1, 0, 0), 0));
    VT_ASSERT_ERROR(VOLT_ERR_STATE,
                    "masked_fill_: in-place operation on f64[3], which requires grad");
    VOLT_NO_GRAD { assert_non_null(volt_masked_fill_(x, VEC(VOLT_BOOL, 1, 0, 0), 0)); }
    assert_true(volt_tensor_get_flat(x, 0) == 0);

    assert_null(volt_masked_fill_(a, VEC(VOLT_BOOL, 1, 0), 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "masked_fill_: mask [2] cannot be broadcast to [2,3]");
    assert_null(volt_masked_fill_(NULL, VEC(VOLT_BOOL, 1), 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "masked_fill_: argument 'self' is NULL");
    assert_null(volt_masked_fill_(a, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "masked_fill_: argument 'mask' is NULL");
}

static void test_masked_fill_errors(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(2, 3));
    assert_null(volt_masked_fill(a, VEC(VOLT_U8, 1, 0, 1), 0));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "masked_fill: mask must be bool, got u8[3]");
    assert_null(volt_masked_fill(a, volt_zeros(VOLT_SHAPE(4), VOLT_BOOL), 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "masked_fill: mask [4] cannot be broadcast to [2,3]");
    assert_null(volt_masked_fill(a, volt_zeros(VOLT_SHAPE(2, 2, 3), VOLT_BOOL), 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "masked_fill: mask [2,2,3] cannot be broadcast to [2,3]");
    assert_null(volt_masked_fill(NULL, VEC(VOLT_BOOL, 1), 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "masked_fill: argument 'a' is NULL");
    assert_null(volt_masked_fill(a, NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "masked_fill: argument 'mask' is NULL");
}

/* ------------------------------------------------------------- one_hot */

static void test_one_hot(void **state) {
    (void)state;
    volt_tensor *o = volt_one_hot(VEC(VOLT_I64, 3, 0, 1), -1);
    assert_int_equal(o->dtype, VOLT_I64);
    VT_ASSERT_SHAPE(o, 3, 4);
    EXPECT(o, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0);
    EXPECT(volt_one_hot(VEC(VOLT_I32, 1), 3), 0, 1, 0);
    o = volt_one_hot(MAT(VOLT_I64, VOLT_SHAPE(2, 2), 0, 2, 1, 1), 3);
    VT_ASSERT_SHAPE(o, 2, 2, 3);
    EXPECT(o, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0);
    VT_ASSERT_SHAPE(volt_one_hot(volt_zeros(VOLT_SHAPE(0), VOLT_I64), 3), 0, 3);
    o = volt_one_hot(volt_scalar(2, VOLT_I64), -1);
    VT_ASSERT_SHAPE(o, 3);
    EXPECT(o, 0, 0, 1);
    /* A strided index. */
    EXPECT(volt_one_hot(volt_slice(VEC(VOLT_I64, 1, 5, 0), 0, 0, 3, 2), 2), 0, 1, 1, 0);

    assert_null(volt_one_hot(VEC(VOLT_I64, 1, -1), 3));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "one_hot: class index -1 is negative");
    assert_null(volt_one_hot(VEC(VOLT_I64, 3, 1), 3));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "one_hot: class index 3 is out of range for 3 classes");
    assert_null(volt_one_hot(volt_zeros(VOLT_SHAPE(0), VOLT_I64), -1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "one_hot: cannot infer the number of classes from an empty index i64[0]");
    assert_null(volt_one_hot(VEC(VOLT_F32, 1), 2));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "one_hot: index must be i64 or i32, got f32[1]");
    assert_null(volt_one_hot(NULL, 2));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "one_hot: argument 'index' is NULL");
}

/* ----------------------------------------------------------- tril, triu */

static void test_tril_triu(void **state) {
    (void)state;
    volt_tensor *m = volt_add_scalar(seq(VOLT_SHAPE(3, 4)), 1); /* 1..12 */
    EXPECT(volt_tril(m, 0), 1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0);
    EXPECT(volt_tril(m, 1), 1, 2, 0, 0, 5, 6, 7, 0, 9, 10, 11, 12);
    EXPECT(volt_tril(m, -1), 0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0);
    EXPECT(volt_triu(m, 0), 1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12);
    EXPECT(volt_triu(m, 1), 0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12);
    EXPECT(volt_triu(m, -1), 1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 11, 12);
    EXPECT(volt_tril(m, 100), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    EXPECT(volt_tril(m, INT64_MIN), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    EXPECT(volt_triu(m, INT64_MIN), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    EXPECT(volt_triu(m, INT64_MAX), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    /* Batched over the leading dims. */
    volt_tensor *b = volt_add_scalar(seq(VOLT_SHAPE(2, 2, 2)), 1);
    EXPECT(volt_tril(b, 0), 1, 0, 3, 4, 5, 0, 7, 8);
    EXPECT(volt_triu(b, 0), 1, 2, 0, 4, 5, 6, 0, 8);
    /* Transposed input: t = [[1,5,9],[2,6,10],[3,7,11],[4,8,12]]. */
    EXPECT(volt_tril(volt_transpose(m, 0, 1), 0), 1, 0, 0, 2, 6, 0, 3, 7, 11, 4, 8, 12);
    volt_tensor *i = volt_triu(MAT(VOLT_I32, VOLT_SHAPE(2, 2), 1, 2, 3, 4), 0);
    assert_int_equal(i->dtype, VOLT_I32);
    EXPECT(i, 1, 2, 0, 4);
    EXPECT(volt_tril(volt_ones(VOLT_SHAPE(2, 2), VOLT_BOOL), 0), 1, 0, 1, 1);

    assert_null(volt_tril(VEC(VOLT_F64, 1, 2, 3), 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "tril: needs at least 2 dimensions, got f64[3]");
    assert_null(volt_triu(NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "triu: argument 'a' is NULL");
}

/* ----------------------------------------------------------- gradchecks */

typedef struct {
    int dim;
    volt_tensor *index;
    volt_tensor *mask;
    int64_t diagonal;
} gc_ctx;

static volt_tensor *gc_index_select(volt_tensor **in, void *ctx) {
    gc_ctx *c = ctx;
    return volt_index_select(in[0], c->dim, c->index);
}

static volt_tensor *gc_gather(volt_tensor **in, void *ctx) {
    gc_ctx *c = ctx;
    return volt_gather(in[0], c->dim, c->index);
}

static volt_tensor *gc_scatter_add(volt_tensor **in, void *ctx) {
    gc_ctx *c = ctx;
    return volt_scatter_add(in[0], c->dim, c->index, in[1]);
}

static volt_tensor *gc_masked_fill(volt_tensor **in, void *ctx) {
    gc_ctx *c = ctx;
    return volt_masked_fill(in[0], c->mask, 3.0);
}

static volt_tensor *gc_tril(volt_tensor **in, void *ctx) {
    gc_ctx *c = ctx;
    return volt_tril(in[0], c->diagonal);
}

static volt_tensor *gc_triu(volt_tensor **in, void *ctx) {
    gc_ctx *c = ctx;
    return volt_triu(in[0], c->diagonal);
}

static void test_gradcheck_index_select_gather(void **state) {
    (void)state;
    gc_ctx c = {.dim = 0, .index = VEC(VOLT_I64, 3, 0, 3)};
    VT_GRADCHECK(gc_index_select, &c, 1, vt_leaf(VOLT_SHAPE(4, 3), 1, 1, 0));
    VT_GRADCHECK(gc_index_select, &c, 1, vt_leaf_strided(VOLT_SHAPE(4, 3), 2, 1, 0));
    c = (gc_ctx){.dim = -1, .index = VEC(VOLT_I32, 2, 2, 0, 1)};
    VT_GRADCHECK(gc_index_select, &c, 1, vt_leaf_strided(VOLT_SHAPE(2, 3), 3, 1, 0));
    VT_GRADCHECK(gc_index_select, &c, 1, vt_leaf(VOLT_SHAPE(2, 2, 3), 4, 1, 0));

    c = (gc_ctx){.dim = 1, .index = MAT(VOLT_I64, VOLT_SHAPE(2, 3), 0, 3, 3, 1, 1, 0)};
    VT_GRADCHECK(gc_gather, &c, 1, vt_leaf(VOLT_SHAPE(3, 4), 5, 1, 0));
    VT_GRADCHECK(gc_gather, &c, 1, vt_leaf_strided(VOLT_SHAPE(3, 4), 6, 1, 0));
    c = (gc_ctx){.dim = 0, .index = MAT(VOLT_I32, VOLT_SHAPE(1, 4), 2, 0, 2, 1)};
    VT_GRADCHECK(gc_gather, &c, 1, vt_leaf_strided(VOLT_SHAPE(3, 4), 7, 1, 0));
    c = (gc_ctx){.dim = 1, .index = MAT(VOLT_I64, VOLT_SHAPE(2, 2, 2), 2, 0, 0, 0, 1, 2, 1, 1)};
    VT_GRADCHECK(gc_gather, &c, 1, vt_leaf(VOLT_SHAPE(2, 3, 2), 8, 1, 0));
}

static void test_gradcheck_scatter_add(void **state) {
    (void)state;
    gc_ctx c = {.dim = 0, .index = MAT(VOLT_I64, VOLT_SHAPE(2, 4), 0, 2, 2, 1, 2, 2, 0, 1)};
    VT_GRADCHECK(gc_scatter_add, &c, 2, vt_leaf(VOLT_SHAPE(3, 4), 9, 1, 0),
                 vt_leaf(VOLT_SHAPE(2, 4), 10, 1, 0));
    /* src larger than the index: its extra elements get no gradient. */
    VT_GRADCHECK(gc_scatter_add, &c, 2, vt_leaf_strided(VOLT_SHAPE(3, 4), 11, 1, 0),
                 vt_leaf_strided(VOLT_SHAPE(3, 5), 12, 1, 0));
    c = (gc_ctx){.dim = -1, .index = MAT(VOLT_I32, VOLT_SHAPE(2, 3), 1, 1, 0, 2, 0, 2)};
    VT_GRADCHECK(gc_scatter_add, &c, 2, vt_leaf(VOLT_SHAPE(2, 3), 13, 1, 0),
                 vt_leaf_strided(VOLT_SHAPE(2, 3), 14, 1, 0));
}

static void test_gradcheck_masked_fill_triangles(void **state) {
    (void)state;
    gc_ctx c = {.mask = VEC(VOLT_BOOL, 1, 0, 0, 1)};
    VT_GRADCHECK(gc_masked_fill, &c, 1, vt_leaf(VOLT_SHAPE(3, 4), 15, 1, 0));
    VT_GRADCHECK(gc_masked_fill, &c, 1, vt_leaf_strided(VOLT_SHAPE(2, 4), 16, 1, 0));
    c.mask = MAT(VOLT_BOOL, VOLT_SHAPE(2, 1), 0, 1);
    VT_GRADCHECK(gc_masked_fill, &c, 1, vt_leaf_strided(VOLT_SHAPE(2, 3), 17, 1, 0));
    int64_t diagonals[3] = {0, 1, -1};
    for (int i = 0; i < 3; i++) {
        c.diagonal = diagonals[i];
        VT_GRADCHECK(gc_tril, &c, 1, vt_leaf(VOLT_SHAPE(3, 4), 18, 1, 0));
        VT_GRADCHECK(gc_triu, &c, 1, vt_leaf(VOLT_SHAPE(3, 4), 19, 1, 0));
        VT_GRADCHECK(gc_tril, &c, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 3), 20, 1, 0));
        VT_GRADCHECK(gc_triu, &c, 1, vt_leaf_strided(VOLT_SHAPE(2, 4, 3), 21, 1, 0));
    }
}

/* Autograd through the index ops reaches the leaf with the right values. */
static void test_index_autograd(void **state) {
    (void)state;
    volt_tensor *x = vt_leaf(VOLT_SHAPE(3), 1, 1, 0);
    /* index_select(x, [2, 0, 2]) sums to x2 + x0 + x2: grads 1, 0, 2. */
    volt_tensor *loss = volt_sum_all(volt_index_select(x, 0, VEC(VOLT_I64, 2, 0, 2)));
    assert_string_equal(volt_grad_fn_name(volt_index_select(x, 0, VEC(VOLT_I64, 1))),
                        "index_select");
    assert_int_equal(volt_backward(loss), VOLT_OK);
    EXPECT(x->grad, 1, 0, 2);
    volt_tensor_clear_grad(x);
    /* masked_fill: the filled elements get nothing. */
    loss = volt_sum_all(volt_masked_fill(x, VEC(VOLT_BOOL, 0, 1, 0), 5));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    EXPECT(x->grad, 1, 0, 1);
    volt_tensor_clear_grad(x);
    /* scatter_add(zeros, x): gradient of src is g gathered at the index. */
    volt_tensor *w = VEC(VOLT_F64, 10, 20);
    volt_tensor *s =
        volt_scatter_add(volt_zeros(VOLT_SHAPE(2), VOLT_F64), 0, VEC(VOLT_I64, 1, 1, 0), x);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(s, w))), VOLT_OK);
    EXPECT(x->grad, 20, 20, 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_index_select),
        VT_TEST(test_index_select_large),
        VT_TEST(test_index_select_errors),
        VT_TEST(test_gather),
        VT_TEST(test_gather_errors),
        VT_TEST(test_scatter_add),
        VT_TEST(test_scatter_add_deterministic),
        VT_TEST(test_scatter_add_errors),
        VT_TEST(test_masked_fill),
        VT_TEST(test_masked_fill_inplace),
        VT_TEST(test_masked_fill_errors),
        VT_TEST(test_one_hot),
        VT_TEST(test_tril_triu),
        VT_TEST(test_gradcheck_index_select_gather),
        VT_TEST(test_gradcheck_scatter_add),
        VT_TEST(test_gradcheck_masked_fill_triangles),
        VT_TEST(test_index_autograd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
