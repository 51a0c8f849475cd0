/* test_shape.c: the shape ops (flatten, transpose, permute, squeeze,
 * unsqueeze, narrow, slice, split, chunk, cat, stack, repeat, and the
 * reshape/view/expand/contiguous basics): values worked out by hand, views
 * sharing storage with their base, non-contiguous inputs, negative dims, the
 * edge cases of Python slices and of split/chunk, float64 gradchecks of every
 * op on contiguous and strided inputs, and the error messages. */
#include "volt_test.h"

#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
/* A 1-d tensor of `dtype` holding the listed values. */
#define VEC(dtype, ...) vec((dtype), (const double[]){__VA_ARGS__}, COUNT(__VA_ARGS__))
/* Asserts t holds exactly the listed values (row-major). */
#define EXPECT(t, ...)                                                                             \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), 0, 0)
/* The element of t at the listed coordinates. */
#define AT(t, ...) volt_tensor_get((t), (const int64_t[]){__VA_ARGS__})

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

/* Writes v into element `flat` of a contiguous f64 tensor's storage. */
static void poke(volt_tensor *t, int64_t flat, double v) {
    ((double *)volt_tensor_data(t))[flat] = v;
}

/* --------------------------------------------------------------- views */

static void test_flatten(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(2, 3, 4));
    volt_tensor *f = volt_flatten(a, 1, 2);
    VT_ASSERT_SHAPE(f, 2, 12);
    assert_ptr_equal(f->storage, a->storage);
    VT_ASSERT_SHAPE(volt_flatten(a, 0, -1), 24);
    VT_ASSERT_SHAPE(volt_flatten(a, -2, -1), 2, 12);
    VT_ASSERT_SHAPE(volt_flatten(a, 0, 1), 6, 4);
    VT_ASSERT_SHAPE(volt_flatten(a, 1, 1), 2, 3, 4);
    /* A transposed input cannot be merged without a copy: t[i][j][k] =
     * a[k][j][i] = 12k + 4j + i, and f[3i + j][k] = t[i][j][k]. */
    volt_tensor *t = volt_transpose(a, 0, 2);
    f = volt_flatten(t, 0, 1);
    VT_ASSERT_SHAPE(f, 12, 2);
    assert_ptr_not_equal(f->storage, a->storage);
    assert_true(AT(f, 1, 1) == 16 && AT(f, 11, 0) == 11 && AT(f, 11, 1) == 23);
    /* A 0-d tensor flattens to [1]. */
    f = volt_flatten(volt_scalar(5, VOLT_F64), 0, -1);
    VT_ASSERT_SHAPE(f, 1);
    EXPECT(f, 5);

    assert_null(volt_flatten(a, 2, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "flatten: start_dim 2 comes after end_dim 1 for f64[2,3,4]");
    assert_null(volt_flatten(a, 0, 3));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "flatten: dimension 3 out of range for f64[2,3,4] (expected -3..2)");
}

static void test_transpose(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(2, 3));
    volt_tensor *t = volt_transpose(a, 0, 1);
    VT_ASSERT_SHAPE(t, 3, 2);
    EXPECT(t, 0, 3, 1, 4, 2, 5);
    assert_ptr_equal(t->storage, a->storage);
    assert_false(volt_tensor_is_contiguous(t));
    poke(a, 1, 100); /* a[0][1] */
    assert_true(AT(t, 1, 0) == 100);
    EXPECT(volt_transpose(a, -1, -2), 0, 3, 100, 4, 2, 5);
    EXPECT(volt_transpose(a, 1, 1), 0, 100, 2, 3, 4, 5);
    /* 3-D: t[i][j][k] = b[k][j][i] = 12k + 4j + i. */
    volt_tensor *b = seq(VOLT_SHAPE(2, 3, 4));
    t = volt_transpose(b, 0, 2);
    VT_ASSERT_SHAPE(t, 4, 3, 2);
    assert_true(AT(t, 1, 2, 0) == 9 && AT(t, 3, 1, 1) == 19);

    assert_null(volt_transpose(a, 0, 2));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "transpose: dimension 2 out of range for f64[2,3] (expected -2..1)");
}

static void test_permute(void **state) {
    (void)state;
    volt_tensor *b = seq(VOLT_SHAPE(2, 3, 4));
    /* p[i][j][k] = b[j][k][i] = 12j + 4k + i. */
    volt_tensor *p = volt_permute(b, VOLT_DIMS(2, 0, 1));
    VT_ASSERT_SHAPE(p, 4, 2, 3);
    assert_ptr_equal(p->storage, b->storage);
    assert_true(AT(p, 3, 1, 2) == 23 && AT(p, 1, 0, 1) == 5);
    p = volt_permute(b, VOLT_DIMS(-1, 0, -2));
    VT_ASSERT_SHAPE(p, 4, 2, 3);
    assert_true(AT(p, 3, 1, 2) == 23);
    poke(b, 23, -7);
    assert_true(AT(p, 3, 1, 2) == -7);
    /* The identity permutation of a 0-d tensor. */
    assert_int_equal(volt_permute(volt_scalar(1, VOLT_F64), 0, NULL)->ndim, 0);

    assert_null(volt_permute(b, VOLT_DIMS(0, 1)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "permute: 2 dims given for f64[2,3,4] (expected 3)");
    assert_null(volt_permute(b, VOLT_DIMS(0, 0, 1)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "permute: dimension 0 appears twice for f64[2,3,4]");
    assert_null(volt_permute(b, VOLT_DIMS(0, 1, 3)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "permute: dimension 3 out of range");
}

static void test_squeeze_unsqueeze(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(2, 1, 3));
    volt_tensor *s = volt_squeeze(a, 1);
    VT_ASSERT_SHAPE(s, 2, 3);
    assert_ptr_equal(s->storage, a->storage);
    EXPECT(s, 0, 1, 2, 3, 4, 5);
    VT_ASSERT_SHAPE(volt_squeeze(a, -2), 2, 3);
    /* Squeezing a dim whose size is not 1 is a no-op view. */
    s = volt_squeeze(a, 0);
    VT_ASSERT_SHAPE(s, 2, 1, 3);
    assert_ptr_equal(s->storage, a->storage);
    poke(a, 4, 40);
    assert_true(AT(s, 1, 0, 1) == 40);
    VT_ASSERT_SHAPE(volt_squeeze_all(seq(VOLT_SHAPE(1, 2, 1, 3, 1))), 2, 3);
    assert_int_equal(volt_squeeze_all(seq(VOLT_SHAPE(1, 1)))->ndim, 0);
    VT_ASSERT_SHAPE(volt_squeeze_all(a), 2, 3);

    volt_tensor *m = seq(VOLT_SHAPE(2, 3));
    VT_ASSERT_SHAPE(volt_unsqueeze(m, 0), 1, 2, 3);
    VT_ASSERT_SHAPE(volt_unsqueeze(m, 1), 2, 1, 3);
    VT_ASSERT_SHAPE(volt_unsqueeze(m, 2), 2, 3, 1);
    VT_ASSERT_SHAPE(volt_unsqueeze(m, -1), 2, 3, 1);
    VT_ASSERT_SHAPE(volt_unsqueeze(m, -3), 1, 2, 3);
    volt_tensor *u = volt_unsqueeze(m, 1);
    assert_ptr_equal(u->storage, m->storage);
    assert_true(volt_tensor_is_contiguous(u));
    EXPECT(u, 0, 1, 2, 3, 4, 5);
    /* Unsqueezing a transposed view keeps its layout. */
    u = volt_unsqueeze(volt_transpose(m, 0, 1), 1);
    VT_ASSERT_SHAPE(u, 3, 1, 2);
    EXPECT(u, 0, 3, 1, 4, 2, 5);
    VT_ASSERT_SHAPE(volt_unsqueeze(volt_scalar(2, VOLT_F64), 0), 1);

    assert_null(volt_unsqueeze(m, 3));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "unsqueeze: dimension 3 out of range for f64[2,3] (expected -3..2)");
    assert_null(volt_unsqueeze(m, -4));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "unsqueeze: dimension -4 out of range");
    volt_tensor *big = volt_zeros(VOLT_SHAPE(1, 1, 1, 1, 1, 1, 1, 1), VOLT_F32);
    assert_null(volt_unsqueeze(big, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "already has 8 dimensions");
    assert_null(volt_squeeze(a, 3));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "squeeze: dimension 3 out of range");
}

static void test_narrow(void **state) {
    (void)state;
    volt_tensor *x = seq(VOLT_SHAPE(10));
    volt_tensor *n = volt_narrow(x, 0, 2, 3);
    EXPECT(n, 2, 3, 4);
    assert_ptr_equal(n->storage, x->storage);
    assert_int_equal(n->offset, 2);
    EXPECT(volt_narrow(x, 0, -3, 2), 7, 8);
    VT_ASSERT_SHAPE(volt_narrow(x, 0, 10, 0), 0);
    poke(x, 3, 33);
    assert_true(AT(n, 1) == 33);
    /* Along dim 1 of a transposed view: t = [[0,3],[1,4],[2,5]]. */
    volt_tensor *t = volt_transpose(seq(VOLT_SHAPE(2, 3)), 0, 1);
    EXPECT(volt_narrow(t, -1, 1, 1), 3, 4, 5);
    EXPECT(volt_narrow(t, 0, 1, 2), 1, 4, 2, 5);

    assert_null(volt_narrow(x, 0, 8, 3));
    VT_ASSERT_ERROR(
        VOLT_ERR_SHAPE,
        "narrow: start 8 and length 3 are out of range for dimension 0 of f64[10] (size 10)");
    assert_null(volt_narrow(x, 0, -11, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "narrow: start -11 and length 1 are out of range");
    assert_null(volt_narrow(x, 0, 0, -1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "narrow: start 0 and length -1");
    assert_null(volt_narrow(x, 1, 0, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "narrow: dimension 1 out of range");
    assert_null(volt_narrow(volt_scalar(1, VOLT_F64), 0, 0, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "narrow: cannot be applied to a 0-d tensor f64[]");
}

static void test_slice(void **state) {
    (void)state;
    volt_tensor *x = seq(VOLT_SHAPE(10));
    /* Python: list(range(10))[-100:100:3], [1:-2:3], [-4:10:3], [8:2], [2:3:5]. */
    EXPECT(volt_slice(x, 0, -100, 100, 3), 0, 3, 6, 9);
    EXPECT(volt_slice(x, 0, 1, -2, 3), 1, 4, 7);
    EXPECT(volt_slice(x, 0, -4, 10, 3), 6, 9);
    EXPECT(volt_slice(x, -1, 0, INT64_MAX, 4), 0, 4, 8);
    VT_ASSERT_SHAPE(volt_slice(x, 0, 8, 2, 1), 0);
    VT_ASSERT_SHAPE(volt_slice(x, 0, 20, 30, 1), 0);
    EXPECT(volt_slice(x, 0, 2, 3, 5), 2);
    EXPECT(volt_slice(x, 0, INT64_MIN, -8, 1), 0, 1);

    volt_tensor *m = seq(VOLT_SHAPE(3, 4));
    volt_tensor *s = volt_slice(m, 1, 1, 4, 2);
    VT_ASSERT_SHAPE(s, 3, 2);
    EXPECT(s, 1, 3, 5, 7, 9, 11);
    assert_ptr_equal(s->storage, m->storage);
    poke(m, 3, 50); /* m[0][3] */
    assert_true(AT(s, 0, 1) == 50);
    /* Rows 1 and 3 of a transposed view are columns 1 and 3 of m. */
    s = volt_slice(volt_transpose(m, 0, 1), 0, 1, 4, 2);
    EXPECT(s, 1, 5, 9, 50, 7, 11);
    /* A slice of a slice. */
    EXPECT(volt_slice(volt_slice(x, 0, 1, 10, 2), 0, 1, 5, 2), 3, 7);

    assert_null(volt_slice(x, 0, 0, 5, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "slice: step 0 must be at least 1 (dimension 0 of f64[10])");
    assert_null(volt_slice(x, 0, 0, 5, -1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "slice: step -1 must be at least 1");
    assert_null(volt_slice(volt_scalar(1, VOLT_F64), 0, 0, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "slice: cannot be applied to a 0-d tensor");
    assert_null(volt_slice(m, -3, 0, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "slice: dimension -3 out of range for f64[3,4] (expected -2..1)");
}

static void test_split(void **state) {
    (void)state;
    volt_tensor *p[8];
    volt_tensor *x = seq(VOLT_SHAPE(10));
    assert_int_equal(volt_split(x, 4, 0, p, 8), 3);
    EXPECT(p[0], 0, 1, 2, 3);
    EXPECT(p[1], 4, 5, 6, 7);
    EXPECT(p[2], 8, 9);
    assert_ptr_equal(p[2]->storage, x->storage);
    poke(x, 9, 99);
    assert_true(AT(p[2], 1) == 99);
    assert_int_equal(volt_split(x, 3, -1, p, 4), 4);
    VT_ASSERT_SHAPE(p[3], 1);
    assert_int_equal(volt_split(x, 10, 0, p, 1), 1);
    assert_int_equal(volt_split(x, 100, 0, p, 1), 1);
    VT_ASSERT_SHAPE(p[0], 10);

    volt_tensor *m = seq(VOLT_SHAPE(2, 5));
    assert_int_equal(volt_split(m, 2, 1, p, 8), 3);
    EXPECT(p[0], 0, 1, 5, 6);
    EXPECT(p[2], 4, 9);
    /* An empty dim splits into one empty piece. */
    volt_tensor *e = volt_zeros(VOLT_SHAPE(0, 3), VOLT_F64);
    assert_int_equal(volt_split(e, 2, 0, p, 8), 1);
    VT_ASSERT_SHAPE(p[0], 0, 3);
    assert_int_equal(volt_split(e, 0, 0, p, 8), 1);
    VT_ASSERT_SHAPE(p[0], 0, 3);

    assert_int_equal(volt_split(x, 3, 0, p, 2), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "split: f64[10] splits into 4 pieces along dimension 0, more than max_out 2");
    assert_int_equal(volt_split(x, 3, 0, NULL, 8), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "more than max_out 0");
    assert_int_equal(volt_split(x, 0, 0, p, 8), -1);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "split: split_size 0 is invalid for dimension 0 of f64[10] (size 10)");
    assert_int_equal(volt_split(x, -2, 0, p, 8), -1);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "split: split_size -2 is invalid");
    assert_int_equal(volt_split(m, 2, 2, p, 8), -1);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "split: dimension 2 out of range");
}

static void test_chunk(void **state) {
    (void)state;
    volt_tensor *p[8];
    volt_tensor *x = seq(VOLT_SHAPE(10));
    /* ceil(10 / 3) = 4: 4, 4, 2. */
    assert_int_equal(volt_chunk(x, 3, 0, p, 8), 3);
    EXPECT(p[2], 8, 9);
    /* ceil(10 / 4) = 3: 3, 3, 3, 1. */
    assert_int_equal(volt_chunk(x, 4, 0, p, 8), 4);
    EXPECT(p[3], 9);
    /* ceil(10 / 6) = 2: five pieces, fewer than asked. */
    assert_int_equal(volt_chunk(x, 6, -1, p, 8), 5);
    EXPECT(p[4], 8, 9);
    /* A dim smaller than the chunk count. */
    assert_int_equal(volt_chunk(VEC(VOLT_F64, 7, 8), 4, 0, p, 8), 2);
    EXPECT(p[0], 7);
    EXPECT(p[1], 8);
    /* An empty dim gives `chunks` empty pieces, like PyTorch. */
    volt_tensor *e = volt_zeros(VOLT_SHAPE(0, 3), VOLT_F64);
    assert_int_equal(volt_chunk(e, 3, 0, p, 8), 3);
    for (int i = 0; i < 3; i++) VT_ASSERT_SHAPE(p[i], 0, 3);
    /* Along dim 0 of a transposed view t = [[0,3],[1,4],[2,5]]. */
    volt_tensor *t = volt_transpose(seq(VOLT_SHAPE(2, 3)), 0, 1);
    assert_int_equal(volt_chunk(t, 2, 0, p, 8), 2);
    EXPECT(p[0], 0, 3, 1, 4);
    EXPECT(p[1], 2, 5);

    assert_int_equal(volt_chunk(x, 0, 0, p, 8), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "chunk: chunks must be at least 1, got 0");
    assert_int_equal(volt_chunk(x, 5, 0, p, 4), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "chunk: f64[10] splits into 5 pieces");
    assert_int_equal(volt_chunk(volt_scalar(1, VOLT_F64), 2, 0, p, 8), -1);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "chunk: cannot be applied to a 0-d tensor");
}

/* -------------------------------------------------------- cat, stack */

static void test_cat(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(2, 3));
    volt_tensor *b = volt_add_scalar(seq(VOLT_SHAPE(1, 3)), 10);
    volt_tensor *c = volt_cat(2, (volt_tensor *[]){a, b}, 0);
    VT_ASSERT_SHAPE(c, 3, 3);
    EXPECT(c, 0, 1, 2, 3, 4, 5, 10, 11, 12);
    volt_tensor *b2 = volt_add_scalar(seq(VOLT_SHAPE(2, 2)), 20);
    c = volt_cat(2, (volt_tensor *[]){a, b2}, -1);
    VT_ASSERT_SHAPE(c, 2, 5);
    EXPECT(c, 0, 1, 2, 20, 21, 3, 4, 5, 22, 23);
    /* Three inputs, one of them transposed: t = [[0,2,4],[1,3,5]]. */
    volt_tensor *t = volt_transpose(seq(VOLT_SHAPE(3, 2)), 0, 1);
    c = volt_cat(3, (volt_tensor *[]){a, t, b}, 0);
    VT_ASSERT_SHAPE(c, 5, 3);
    EXPECT(c, 0, 1, 2, 3, 4, 5, 0, 2, 4, 1, 3, 5, 10, 11, 12);
    c = volt_cat(2, (volt_tensor *[]){t, a}, 1);
    EXPECT(c, 0, 2, 4, 0, 1, 2, 1, 3, 5, 3, 4, 5);
    /* One tensor: a copy. */
    c = volt_cat(1, &a, 0);
    assert_ptr_not_equal(c->storage, a->storage);
    EXPECT(c, 0, 1, 2, 3, 4, 5);
    /* Empty pieces, and PyTorch's legacy skip of 1-d empty tensors. */
    volt_tensor *e = volt_zeros(VOLT_SHAPE(0, 3), VOLT_F64);
    EXPECT(volt_cat(3, (volt_tensor *[]){e, a, e}, 0), 0, 1, 2, 3, 4, 5);
    volt_tensor *legacy = volt_zeros(VOLT_SHAPE(0), VOLT_F32);
    c = volt_cat(3, (volt_tensor *[]){legacy, a, legacy}, 1);
    VT_ASSERT_SHAPE(c, 2, 3);
    EXPECT(c, 0, 1, 2, 3, 4, 5);
    EXPECT(volt_cat(2, (volt_tensor *[]){legacy, VEC(VOLT_F64, 4, 5)}, 0), 4, 5);
    VT_ASSERT_NO_ERROR();
}

static void test_cat_dtype_promotion(void **state) {
    (void)state;
    volt_tensor *f = VEC(VOLT_F32, 1.5, 2.5);
    volt_tensor *d = VEC(VOLT_F64, 0.125);
    volt_tensor *i = VEC(VOLT_I64, 7, -3);
    volt_tensor *c = volt_cat(2, (volt_tensor *[]){f, i}, 0);
    assert_int_equal(c->dtype, VOLT_F32);
    EXPECT(c, 1.5, 2.5, 7, -3);
    c = volt_cat(3, (volt_tensor *[]){f, d, i}, 0);
    assert_int_equal(c->dtype, VOLT_F64);
    EXPECT(c, 1.5, 2.5, 0.125, 7, -3);
    c = volt_cat(2, (volt_tensor *[]){VEC(VOLT_BOOL, 1, 0), VEC(VOLT_I32, 5)}, 0);
    assert_int_equal(c->dtype, VOLT_I32);
    EXPECT(c, 1, 0, 5);
    c = volt_cat(2, (volt_tensor *[]){VEC(VOLT_BOOL, 1, 0), VEC(VOLT_BOOL, 1)}, 0);
    assert_int_equal(c->dtype, VOLT_BOOL);
    EXPECT(c, 1, 0, 1);
}

static void test_cat_errors(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(2, 3));
    assert_null(volt_cat(2, (volt_tensor *[]){a, seq(VOLT_SHAPE(3, 4))}, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "cat: sizes must match except in dimension 0: [2,3] (tensor "
                                    "0) and [3,4] (tensor 1) differ in dimension 1");
    assert_null(volt_cat(3, (volt_tensor *[]){a, a, seq(VOLT_SHAPE(3, 2))}, -1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "cat: sizes must match except in dimension 1: [2,3] (tensor "
                                    "0) and [3,2] (tensor 2) differ in dimension 0");
    assert_null(volt_cat(2, (volt_tensor *[]){a, seq(VOLT_SHAPE(3))}, 0));
    VT_ASSERT_ERROR(
        VOLT_ERR_SHAPE,
        "cat: [2,3] (tensor 0) and [3] (tensor 1) have different numbers of dimensions");
    assert_null(volt_cat(2, (volt_tensor *[]){a, a}, 2));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "cat: dimension 2 out of range for f64[2,3] (expected -2..1)");
    assert_null(volt_cat(2, (volt_tensor *[]){a, volt_scalar(1, VOLT_F64)}, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "cat: tensor 1 (f64[]) is 0-d and cannot be concatenated");
    assert_null(volt_cat(2, (volt_tensor *[]){a, NULL}, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "cat: tensor 1 is NULL");
    assert_null(volt_cat(0, (volt_tensor *[]){a}, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "cat: expected at least one tensor, got 0");
    assert_null(volt_cat(2, NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "cat: expected at least one tensor");
}

static void test_stack(void **state) {
    (void)state;
    volt_tensor *x = VEC(VOLT_F64, 1, 2), *y = VEC(VOLT_F64, 3, 4), *z = VEC(VOLT_F64, 5, 6);
    volt_tensor *s = volt_stack(3, (volt_tensor *[]){x, y, z}, 0);
    VT_ASSERT_SHAPE(s, 3, 2);
    EXPECT(s, 1, 2, 3, 4, 5, 6);
    s = volt_stack(3, (volt_tensor *[]){x, y, z}, 1);
    VT_ASSERT_SHAPE(s, 2, 3);
    EXPECT(s, 1, 3, 5, 2, 4, 6);
    EXPECT(volt_stack(3, (volt_tensor *[]){x, y, z}, -1), 1, 3, 5, 2, 4, 6);
    EXPECT(volt_stack(3, (volt_tensor *[]){x, y, z}, -2), 1, 2, 3, 4, 5, 6);
    /* [2,3] tensors (one transposed) stacked along dim 1: [2,2,3]. */
    volt_tensor *a = seq(VOLT_SHAPE(2, 3)), *t = volt_transpose(seq(VOLT_SHAPE(3, 2)), 0, 1);
    s = volt_stack(2, (volt_tensor *[]){a, t}, 1);
    VT_ASSERT_SHAPE(s, 2, 2, 3);
    EXPECT(s, 0, 1, 2, 0, 2, 4, 3, 4, 5, 1, 3, 5);
    s = volt_stack(2, (volt_tensor *[]){VEC(VOLT_I64, 1), VEC(VOLT_F32, 0.5)}, 0);
    assert_int_equal(s->dtype, VOLT_F32);
    EXPECT(s, 1, 0.5);

    assert_null(volt_stack(2, (volt_tensor *[]){x, VEC(VOLT_F64, 1, 2, 3)}, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "stack: expects tensors of equal shape, got [2] (tensor 0) and [3] (tensor 1)");
    assert_null(volt_stack(2, (volt_tensor *[]){x, y}, -3));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "stack: dimension -3 out of range for f64[2] (expected -2..1)");
    assert_null(volt_stack(2, (volt_tensor *[]){x, NULL}, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "stack: tensor 1 is NULL");
    assert_null(volt_stack(0, NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "stack: expected at least one tensor");
}

/* ------------------------------------------------------------- repeat */

static void test_repeat(void **state) {
    (void)state;
    volt_tensor *r = volt_repeat(VEC(VOLT_F64, 1, 2), VOLT_SHAPE(2, 3));
    VT_ASSERT_SHAPE(r, 2, 6);
    EXPECT(r, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2);
    volt_tensor *b = seq(VOLT_SHAPE(2, 2));
    EXPECT(volt_repeat(b, VOLT_SHAPE(1, 2)), 0, 1, 0, 1, 2, 3, 2, 3);
    EXPECT(volt_repeat(b, VOLT_SHAPE(2, 1)), 0, 1, 2, 3, 0, 1, 2, 3);
    r = volt_repeat(b, VOLT_SHAPE(1, 1));
    assert_ptr_not_equal(r->storage, b->storage);
    EXPECT(r, 0, 1, 2, 3);
    r = volt_repeat(b, VOLT_SHAPE(2, 1, 1));
    VT_ASSERT_SHAPE(r, 2, 2, 2);
    EXPECT(r, 0, 1, 2, 3, 0, 1, 2, 3);
    /* Transposed input t = [[0,2],[1,3]]. */
    EXPECT(volt_repeat(volt_transpose(b, 0, 1), VOLT_SHAPE(1, 2)), 0, 2, 0, 2, 1, 3, 1, 3);
    VT_ASSERT_SHAPE(volt_repeat(b, VOLT_SHAPE(0, 2)), 0, 4);
    EXPECT(volt_repeat(volt_scalar(3, VOLT_F64), VOLT_SHAPE(2)), 3, 3);
    r = volt_repeat(VEC(VOLT_I32, 4, 5), VOLT_SHAPE(2));
    assert_int_equal(r->dtype, VOLT_I32);
    EXPECT(r, 4, 5, 4, 5);
    EXPECT(volt_repeat(VEC(VOLT_BOOL, 1, 0), VOLT_SHAPE(2)), 1, 0, 1, 0);
    /* c [2,1,3] padded to [1,2,1,3] and tiled (2,2,3,2): out [2,4,3,6] with
     * out[i][j][k][l] = c[j % 2][0][l % 3] = 3 (j % 2) + l % 3. */
    r = volt_repeat(seq(VOLT_SHAPE(2, 1, 3)), VOLT_SHAPE(2, 2, 3, 2));
    VT_ASSERT_SHAPE(r, 2, 4, 3, 6);
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 4; j++)
            for (int64_t k = 0; k < 3; k++)
                for (int64_t l = 0; l < 6; l++)
                    assert_true(AT(r, i, j, k, l) == (double)(3 * (j % 2) + l % 3));

    assert_null(volt_repeat(b, VOLT_SHAPE(2)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "repeat: 1 repeats for f64[2,2] (expected 2 to 8)");
    assert_null(volt_repeat(b, VOLT_SHAPE(-1, 2)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "repeat: negative repeat -1 in dimension 0 for f64[2,2]");
}

/* ------------------------------------ reshape, view, expand, contiguous */

static void test_reshape_view_expand(void **state) {
    (void)state;
    volt_tensor *a = seq(VOLT_SHAPE(2, 3));
    volt_tensor *r = volt_reshape(a, VOLT_SHAPE(3, -1));
    VT_ASSERT_SHAPE(r, 3, 2);
    assert_ptr_equal(r->storage, a->storage);
    volt_tensor *t = volt_transpose(a, 0, 1);
    r = volt_reshape(t, VOLT_SHAPE(6));
    assert_ptr_not_equal(r->storage, a->storage);
    EXPECT(r, 0, 3, 1, 4, 2, 5);
    assert_null(volt_view(t, VOLT_SHAPE(6)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "view: f64[3,2] is not laid out to be viewed");
    /* A slice along the outer dim still views. */
    volt_tensor *v = volt_view(volt_slice(seq(VOLT_SHAPE(4, 3)), 0, 1, 3, 1), VOLT_SHAPE(6));
    EXPECT(v, 3, 4, 5, 6, 7, 8);
    volt_tensor *e = volt_expand(VEC(VOLT_F64, 1, 2), VOLT_SHAPE(2, -1));
    EXPECT(e, 1, 2, 1, 2);
    assert_null(volt_expand(VEC(VOLT_F64, 1, 2), VOLT_SHAPE(3, -2)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "expand: f64[2] cannot be expanded to size -2 in dimension 1");
    assert_null(volt_expand(volt_zeros(VOLT_SHAPE(1), VOLT_F64), VOLT_SHAPE(-3)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "expand: f64[1] cannot be expanded to size -3");
    volt_tensor *c = volt_contiguous(t);
    assert_true(volt_tensor_is_contiguous(c));
    EXPECT(c, 0, 3, 1, 4, 2, 5);
    assert_ptr_equal(volt_contiguous(a)->storage, a->storage);
}

static void test_null_inputs(void **state) {
    (void)state;
    volt_tensor *p[2];
    const char *msg = "argument 'a' is NULL";
    assert_null(volt_flatten(NULL, 0, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "flatten: argument 'a' is NULL");
    assert_null(volt_transpose(NULL, 0, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "transpose: argument 'a' is NULL");
    assert_null(volt_permute(NULL, VOLT_DIMS(0)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, msg);
    assert_null(volt_squeeze(NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, msg);
    assert_null(volt_squeeze_all(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, msg);
    assert_null(volt_unsqueeze(NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "unsqueeze: argument 'a' is NULL");
    assert_null(volt_repeat(NULL, VOLT_SHAPE(2)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "repeat: argument 'a' is NULL");
    assert_null(volt_narrow(NULL, 0, 0, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "narrow: argument 'a' is NULL");
    assert_null(volt_slice(NULL, 0, 0, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "slice: argument 'a' is NULL");
    assert_int_equal(volt_split(NULL, 1, 0, p, 2), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "split: argument 'a' is NULL");
    assert_int_equal(volt_chunk(NULL, 1, 0, p, 2), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "chunk: argument 'a' is NULL");
    assert_null(volt_expand(NULL, VOLT_SHAPE(2)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "expand: argument 'a' is NULL");
}

/* Views record their op, and a graph through them reaches the leaf. */
static void test_views_autograd(void **state) {
    (void)state;
    volt_tensor *x = vt_leaf(VOLT_SHAPE(2, 3), 1, 1, 0);
    volt_tensor *t = volt_transpose(x, 0, 1);
    assert_string_equal(volt_grad_fn_name(t), "transpose");
    assert_string_equal(volt_grad_fn_name(volt_narrow(x, 1, 0, 2)), "narrow");
    assert_string_equal(volt_grad_fn_name(volt_slice(x, 1, 0, 2, 2)), "slice");
    assert_string_equal(volt_grad_fn_name(volt_cat(2, (volt_tensor *[]){x, x}, 0)), "cat");
    /* d/dx sum(slice(x, 1, 0, 3, 2) * 3) = 3 on columns 0 and 2, else 0. */
    volt_tensor *loss = volt_sum_all(volt_mul_scalar(volt_slice(x, 1, 0, 3, 2), 3));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    EXPECT(x->grad, 3, 0, 3, 3, 0, 3);
    /* cat(x, x) sends both halves back to x: 2 everywhere. */
    volt_tensor_clear_grad(x);
    assert_int_equal(volt_backward(volt_sum_all(volt_cat(2, (volt_tensor *[]){x, x}, 1))), VOLT_OK);
    EXPECT(x->grad, 2, 2, 2, 2, 2, 2);
    /* repeat(x, (2, 3)) uses every element 6 times. */
    volt_tensor_clear_grad(x);
    assert_int_equal(volt_backward(volt_sum_all(volt_repeat(x, VOLT_SHAPE(2, 3)))), VOLT_OK);
    EXPECT(x->grad, 6, 6, 6, 6, 6, 6);
    /* cat promotes f32 and f64 to f64; each gradient returns in its input's dtype. */
    volt_tensor_clear_grad(x);
    volt_tensor *y = volt_requires_grad(volt_ones(VOLT_SHAPE(1, 3), VOLT_F32), true);
    volt_tensor *c = volt_cat(2, (volt_tensor *[]){x, y}, 0);
    assert_int_equal(c->dtype, VOLT_F64);
    volt_tensor *w = volt_reshape(volt_arange(1, 10, 1, VOLT_F64), VOLT_SHAPE(3, 3));
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(c, w))), VOLT_OK);
    EXPECT(x->grad, 1, 2, 3, 4, 5, 6);
    assert_int_equal(y->grad->dtype, VOLT_F32);
    EXPECT(y->grad, 7, 8, 9);
    /* Only a piece that is used gets a gradient. */
    volt_tensor_clear_grad(x);
    volt_tensor *p[3];
    assert_int_equal(volt_split(x, 2, 1, p, 3), 2);
    assert_int_equal(volt_backward(volt_sum_all(p[1])), VOLT_OK);
    EXPECT(x->grad, 0, 0, 1, 0, 0, 1);
}

/* ----------------------------------------------------------- gradchecks */

static volt_tensor *gc_transpose(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_transpose(in[0], 0, -1);
}

static volt_tensor *gc_permute(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_permute(in[0], VOLT_DIMS(2, 0, 1));
}

static volt_tensor *gc_flatten(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_flatten(in[0], 0, 1);
}

static volt_tensor *gc_squeeze_unsqueeze(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_unsqueeze(volt_squeeze(volt_unsqueeze(in[0], 1), 1), -1);
}

static volt_tensor *gc_squeeze_all(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_squeeze_all(in[0]);
}

static volt_tensor *gc_narrow(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_narrow(in[0], -1, 1, 2);
}

static volt_tensor *gc_slice(volt_tensor **in, void *ctx) {
    (void)ctx;
    /* A slice of a slice: every third row, then columns 1 and 3. */
    return volt_slice(volt_slice(in[0], 0, -100, 100, 3), 1, 1, 4, 2);
}

static volt_tensor *gc_split(volt_tensor **in, void *ctx) {
    (void)ctx;
    volt_tensor *p[4];
    if (volt_split(in[0], 2, 1, p, 4) != 3) return NULL;
    return volt_cat(2, (volt_tensor *[]){p[2], volt_mul_scalar(p[0], 2)}, 1);
}

static volt_tensor *gc_chunk(volt_tensor **in, void *ctx) {
    (void)ctx;
    volt_tensor *p[4];
    if (volt_chunk(in[0], 2, 0, p, 4) != 2) return NULL;
    return volt_cat(2, (volt_tensor *[]){volt_mul_scalar(p[1], 3), p[0]}, 0);
}

static volt_tensor *gc_cat(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_cat(3, in, 1);
}

static volt_tensor *gc_stack(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_stack(2, in, *(int *)ctx);
}

static volt_tensor *gc_repeat(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_repeat(in[0], VOLT_SHAPE(2, 1, 3));
}

static volt_tensor *gc_reshape_expand(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_expand(volt_reshape(in[0], VOLT_SHAPE(1, -1)), VOLT_SHAPE(3, -1));
}

static void test_gradcheck_views(void **state) {
    (void)state;
    VT_GRADCHECK(gc_transpose, NULL, 1, vt_leaf(VOLT_SHAPE(3, 4), 1, 1, 0));
    VT_GRADCHECK(gc_transpose, NULL, 1, vt_leaf_strided(VOLT_SHAPE(3, 4), 2, 1, 0));
    VT_GRADCHECK(gc_transpose, NULL, 1, vt_leaf(VOLT_SHAPE(2, 3, 4), 3, 1, 0));
    VT_GRADCHECK(gc_permute, NULL, 1, vt_leaf(VOLT_SHAPE(2, 3, 4), 4, 1, 0));
    VT_GRADCHECK(gc_permute, NULL, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 5, 1, 0));
    VT_GRADCHECK(gc_flatten, NULL, 1, vt_leaf(VOLT_SHAPE(2, 3, 4), 6, 1, 0));
    VT_GRADCHECK(gc_flatten, NULL, 1, vt_leaf_strided(VOLT_SHAPE(3, 4), 7, 1, 0));
    VT_GRADCHECK(gc_squeeze_unsqueeze, NULL, 1, vt_leaf(VOLT_SHAPE(3, 4), 8, 1, 0));
    VT_GRADCHECK(gc_squeeze_unsqueeze, NULL, 1, vt_leaf_strided(VOLT_SHAPE(4), 9, 1, 0));
    VT_GRADCHECK(gc_squeeze_all, NULL, 1, vt_leaf_strided(VOLT_SHAPE(3, 1, 4), 10, 1, 0));
    VT_GRADCHECK(gc_reshape_expand, NULL, 1, vt_leaf_strided(VOLT_SHAPE(2, 3), 11, 1, 0));
}

static void test_gradcheck_slices(void **state) {
    (void)state;
    VT_GRADCHECK(gc_narrow, NULL, 1, vt_leaf(VOLT_SHAPE(3, 4), 12, 1, 0));
    VT_GRADCHECK(gc_narrow, NULL, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 13, 1, 0));
    VT_GRADCHECK(gc_slice, NULL, 1, vt_leaf(VOLT_SHAPE(7, 5), 14, 1, 0));
    VT_GRADCHECK(gc_slice, NULL, 1, vt_leaf_strided(VOLT_SHAPE(4, 4), 15, 1, 0));
    VT_GRADCHECK(gc_split, NULL, 1, vt_leaf(VOLT_SHAPE(3, 5), 16, 1, 0));
    VT_GRADCHECK(gc_split, NULL, 1, vt_leaf_strided(VOLT_SHAPE(2, 5), 17, 1, 0));
    VT_GRADCHECK(gc_chunk, NULL, 1, vt_leaf(VOLT_SHAPE(5, 3), 18, 1, 0));
    VT_GRADCHECK(gc_chunk, NULL, 1, vt_leaf_strided(VOLT_SHAPE(3, 2), 19, 1, 0));
}

static void test_gradcheck_cat_stack_repeat(void **state) {
    (void)state;
    VT_GRADCHECK(gc_cat, NULL, 3, vt_leaf_strided(VOLT_SHAPE(2, 3), 20, 1, 0),
                 vt_leaf(VOLT_SHAPE(2, 1), 21, 1, 0), vt_leaf(VOLT_SHAPE(2, 2), 22, 1, 0));
    VT_GRADCHECK(gc_cat, NULL, 3, vt_leaf(VOLT_SHAPE(1, 2, 2), 23, 1, 0),
                 vt_leaf_strided(VOLT_SHAPE(1, 3, 2), 24, 1, 0),
                 vt_leaf(VOLT_SHAPE(1, 1, 2), 25, 1, 0));
    int dims[3] = {0, 1, -1};
    for (int i = 0; i < 3; i++)
        VT_GRADCHECK(gc_stack, &dims[i], 2, vt_leaf(VOLT_SHAPE(2, 3), 26, 1, 0),
                     vt_leaf_strided(VOLT_SHAPE(2, 3), 27, 1, 0));
    VT_GRADCHECK(gc_repeat, NULL, 1, vt_leaf(VOLT_SHAPE(2, 3), 28, 1, 0));
    VT_GRADCHECK(gc_repeat, NULL, 1, vt_leaf_strided(VOLT_SHAPE(2, 3), 29, 1, 0));
    VT_GRADCHECK(gc_repeat, NULL, 1, vt_leaf(VOLT_SHAPE(3), 30, 1, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_flatten),
        VT_TEST(test_transpose),
        VT_TEST(test_permute),
        VT_TEST(test_squeeze_unsqueeze),
        VT_TEST(test_narrow),
        VT_TEST(test_slice),
        VT_TEST(test_split),
        VT_TEST(test_chunk),
        VT_TEST(test_cat),
        VT_TEST(test_cat_dtype_promotion),
        VT_TEST(test_cat_errors),
        VT_TEST(test_stack),
        VT_TEST(test_repeat),
        VT_TEST(test_reshape_view_expand),
        VT_TEST(test_null_inputs),
        VT_TEST(test_views_autograd),
        VT_TEST(test_gradcheck_views),
        VT_TEST(test_gradcheck_slices),
        VT_TEST(test_gradcheck_cat_stack_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
