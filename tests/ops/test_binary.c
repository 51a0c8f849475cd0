/* test_binary.c: binary elementwise ops — add, sub, mul, div, pow, maximum,
 * minimum, their scalar variants and add_scaled, comparisons and logical
 * and/or, and the in-place forms: values, NumPy broadcasting, PyTorch's dtype
 * promotion, gradients (pow's conventions, maximum/minimum tie split),
 * float64 gradchecks with broadcast and strided inputs, version counters and
 * the error paths. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define VEC(dtype, ...) vec((dtype), (const double[]){__VA_ARGS__}, COUNT(__VA_ARGS__))
#define EXPECT(t, rtol, ...)                                                                       \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (rtol), 1e-300)
#define LEAF(...) volt_requires_grad(VEC(VOLT_F64, __VA_ARGS__), true)

static volt_tensor *vec(volt_dtype dtype, const double *v, int64_t n) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, 1, &n);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

static volt_tensor *mat(volt_tensor *t, int64_t rows, int64_t cols) {
    return volt_reshape(t, VOLT_SHAPE(rows, cols));
}

static const volt_dtype floats[2] = {VOLT_F32, VOLT_F64};

/* ------------------------------------------------------------- values */

static void test_arithmetic_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *a = VEC(d, 1, -2, 3.5, 0), *b = VEC(d, 2, 4, -0.5, 3);
        volt_tensor *s = volt_add(a, b);
        assert_int_equal(s->dtype, d);
        EXPECT(s, 0, 3, 2, 3, 3);
        EXPECT(volt_sub(a, b), 0, -1, -6, 4, -3);
        EXPECT(volt_mul(a, b), 0, 2, -8, -1.75, 0);
        EXPECT(volt_div(a, b), 0, 0.5, -0.5, -7, 0);
        EXPECT(volt_pow(VEC(d, 2, -2, 4, 0, 9), VEC(d, 3, 2, 0.5, 0, -0.5)), 1e-7, 8, 4, 2, 1,
               0.3333333333333333);
        EXPECT(volt_maximum(a, b), 0, 2, 4, 3.5, 3);
        EXPECT(volt_minimum(a, b), 0, 1, -2, -0.5, 0);
        EXPECT(volt_add_scaled(a, b, 2.5), 0, 6, 8, 2.25, 7.5);
        /* IEEE corner cases, NaN propagation in maximum / minimum. */
        volt_tensor *q = volt_div(VEC(d, 1, -1, 0), VEC(d, 0, 0, 0));
        assert_true(isinf(volt_tensor_get_flat(q, 0)) && volt_tensor_get_flat(q, 0) > 0);
        assert_true(isinf(volt_tensor_get_flat(q, 1)) && volt_tensor_get_flat(q, 1) < 0);
        assert_true(isnan(volt_tensor_get_flat(q, 2)));
        volt_tensor *n = VEC(d, NAN, 1), *m = VEC(d, 0, NAN);
        assert_true(isnan(volt_tensor_get_flat(volt_maximum(n, m), 0)));
        assert_true(isnan(volt_tensor_get_flat(volt_maximum(n, m), 1)));
        assert_true(isnan(volt_tensor_get_flat(volt_minimum(n, m), 0)));
        assert_true(isnan(volt_tensor_get_flat(volt_minimum(n, m), 1)));
    }
    VT_ASSERT_NO_ERROR();
}

static void test_integer_arithmetic(void **state) {
    (void)state;
    volt_tensor *a = VEC(VOLT_I64, 7, -3, 0), *b = VEC(VOLT_I64, 2, 5, -4);
    volt_tensor *s = volt_add(a, b);
    assert_int_equal(s->dtype, VOLT_I64);
    EXPECT(s, 0, 9, 2, -4);
    EXPECT(volt_sub(a, b), 0, 5, -8, 4);
    EXPECT(volt_mul(a, b), 0, 14, -15, 0);
    EXPECT(volt_maximum(a, b), 0, 7, 5, 0);
    EXPECT(volt_minimum(a, b), 0, 2, -3, -4);
    EXPECT(volt_pow(VEC(VOLT_I32, 2, 3), VEC(VOLT_I32, 10, 2)), 0, 1024, 9);
    EXPECT(volt_add_scaled(a, b, -2), 0, 3, -13, 8);
    /* True division of integers gives f32. */
    volt_tensor *q = volt_div(a, b);
    assert_int_equal(q->dtype, VOLT_F32);
    EXPECT(q, 1e-7, 3.5, -0.6, -0.0);
    /* u8 wraps. */
    EXPECT(volt_add(VEC(VOLT_U8, 250), VEC(VOLT_U8, 10)), 0, 4);
    /* Exact beyond 2^53. */
    int64_t big = INT64_C(9007199254740993);
    volt_tensor *bt = volt_from_array(&big, VOLT_I64, 0, NULL);
    volt_tensor *r = volt_add(bt, volt_scalar(2, VOLT_I64));
    assert_true(*(const int64_t *)volt_tensor_data(r) == INT64_C(9007199254740995));
    VT_ASSERT_NO_ERROR();
}

static void test_scalar_variants(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *a = VEC(d, 1, -2, 4);
        volt_tensor *s = volt_add_scalar(a, 0.5);
        assert_int_equal(s->dtype, d);
        EXPECT(s, 0, 1.5, -1.5, 4.5);
        EXPECT(volt_mul_scalar(a, -3), 0, -3, 6, -12);
        EXPECT(volt_div_scalar(a, 4), 0, 0.25, -0.5, 1);
        EXPECT(volt_pow_scalar(a, 2), 0, 1, 4, 16);
        EXPECT(volt_pow_scalar(VEC(d, 4, 9), 0.5), 0, 2, 3);
    }
    /* Integer tensors keep their dtype with integral scalars, and become f32
     * with fractional ones (like PyTorch); division is always floating. */
    volt_tensor *i = VEC(VOLT_I64, 1, -2, 4);
    volt_tensor *r = volt_add_scalar(i, 2);
    assert_int_equal(r->dtype, VOLT_I64);
    EXPECT(r, 0, 3, 0, 6);
    r = volt_mul_scalar(i, 2.5);
    assert_int_equal(r->dtype, VOLT_F32);
    EXPECT(r, 0, 2.5, -5, 10);
    r = volt_div_scalar(i, 2);
    assert_int_equal(r->dtype, VOLT_F32);
    EXPECT(r, 0, 0.5, -1, 2);
    r = volt_pow_scalar(i, 2);
    assert_int_equal(r->dtype, VOLT_I64);
    EXPECT(r, 0, 1, 4, 16);
    r = volt_add_scalar(i, INFINITY);
    assert_int_equal(r->dtype, VOLT_F32);
    assert_true(isinf(volt_tensor_get_flat(r, 0)));
    /* A bool tensor with an integer scalar gives i64. */
    r = volt_add_scalar(volt_to_dtype(VEC(VOLT_F64, 1, 0), VOLT_BOOL), 1);
    assert_int_equal(r->dtype, VOLT_I64);
    EXPECT(r, 0, 2, 1);
    VT_ASSERT_NO_ERROR();
}

static void test_broadcasting(void **state) {
    (void)state;
    /* [3, 1] + [4] -> [3, 4]. */
    volt_tensor *col = mat(VEC(VOLT_F64, 0, 10, 20), 3, 1);
    volt_tensor *row = VEC(VOLT_F64, 1, 2, 3, 4);
    volt_tensor *s = volt_add(col, row);
    VT_ASSERT_SHAPE(s, 3, 4);
    EXPECT(s, 0, 1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24);
    VT_ASSERT_SHAPE(volt_add(row, col), 3, 4);
    /* 0-d with 2-d, either side. */
    volt_tensor *m = mat(VEC(VOLT_F32, 1, 2, 3, 4, 5, 6), 2, 3);
    volt_tensor *t = volt_sub(volt_scalar(10, VOLT_F32), m);
    VT_ASSERT_SHAPE(t, 2, 3);
    EXPECT(t, 0, 9, 8, 7, 6, 5, 4);
    EXPECT(volt_mul(m, volt_scalar(2, VOLT_F32)), 0, 2, 4, 6, 8, 10, 12);
    /* [2, 1, 3] * [4, 1] -> [2, 4, 3]. */
    volt_tensor *a = volt_reshape(VEC(VOLT_F64, 1, 2, 3, 4, 5, 6), VOLT_SHAPE(2, 1, 3));
    volt_tensor *b = mat(VEC(VOLT_F64, 1, 10, 100, 1000), 4, 1);
    volt_tensor *p = volt_mul(a, b);
    VT_ASSERT_SHAPE(p, 2, 4, 3);
    assert_true(volt_tensor_get(p, (const int64_t[]){1, 2, 0}) == 400);
    assert_true(volt_tensor_get(p, (const int64_t[]){0, 3, 2}) == 3000);
    /* Strided operands: a transposed view. */
    volt_tensor *tr =
        volt_tensor_alias(m, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 3}, m->offset);
    EXPECT(volt_add(tr, mat(VEC(VOLT_F32, 0, 0, 0, 0, 100, 100), 3, 2)), 0, 1, 4, 2, 5, 103, 106);
    /* Empty. */
    VT_ASSERT_SHAPE(volt_add(volt_zeros(VOLT_SHAPE(0, 3), VOLT_F32), VEC(VOLT_F32, 1, 2, 3)), 0, 3);
    VT_ASSERT_NO_ERROR();
}

static void test_dtype_promotion(void **state) {
    (void)state;
    volt_tensor *i64 = VEC(VOLT_I64, 1, 2), *f32 = VEC(VOLT_F32, 0.5, 0.25);
    volt_tensor *f64 = VEC(VOLT_F64, 0.5, 0.25);
    volt_tensor *r = volt_add(i64, f32);
    assert_int_equal(r->dtype, VOLT_F32);
    EXPECT(r, 0, 1.5, 2.25);
    assert_int_equal(volt_add(f32, f64)->dtype, VOLT_F64);
    /* A 0-d operand does not raise the dtype within its kind... */
    volt_tensor *z = volt_add(f32, volt_scalar(0.1, VOLT_F64));
    assert_int_equal(z->dtype, VOLT_F32);
    EXPECT(z, 0, (double)(0.5f + 0.1f), (double)(0.25f + 0.1f));
    assert_int_equal(volt_mul(VEC(VOLT_I32, 1), volt_scalar(3, VOLT_I64))->dtype, VOLT_I32);
    /* ...but a floating 0-d makes an integer tensor f32. */
    assert_int_equal(volt_mul(i64, volt_scalar(1.5, VOLT_F64))->dtype, VOLT_F32);
    assert_int_equal(volt_add(VEC(VOLT_I32, 1), VEC(VOLT_I64, 1))->dtype, VOLT_I64);
    assert_int_equal(volt_add(VEC(VOLT_U8, 1), VEC(VOLT_I32, 1))->dtype, VOLT_I32);
    assert_int_equal(volt_div(VEC(VOLT_I32, 1), VEC(VOLT_I32, 2))->dtype, VOLT_F32);
    assert_int_equal(volt_div(i64, f64)->dtype, VOLT_F64);
    /* Comparisons are bool whatever the operands. */
    volt_tensor *c = volt_lt(f32, i64);
    assert_int_equal(c->dtype, VOLT_BOOL);
    EXPECT(c, 0, 1, 1);
    volt_tensor *bt = volt_to_dtype(VEC(VOLT_F64, 1, 0), VOLT_BOOL);
    volt_tensor *e = volt_eq(bt, bt);
    assert_int_equal(e->dtype, VOLT_BOOL);
    EXPECT(e, 0, 1, 1);
    EXPECT(volt_gt(bt, VEC(VOLT_I64, 0, 0)), 0, 1, 0);
    VT_ASSERT_NO_ERROR();
}

static void test_comparisons_and_logical(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_tensor *a = VEC(floats[k], 1, 2, 3, NAN), *b = VEC(floats[k], 2, 2, 2, NAN);
        EXPECT(volt_eq(a, b), 0, 0, 1, 0, 0);
        EXPECT(volt_ne(a, b), 0, 1, 0, 1, 1);
        EXPECT(volt_lt(a, b), 0, 1, 0, 0, 0);
        EXPECT(volt_le(a, b), 0, 1, 1, 0, 0);
        EXPECT(volt_gt(a, b), 0, 0, 0, 1, 0);
        EXPECT(volt_ge(a, b), 0, 0, 1, 1, 0);
    }
    volt_tensor *i = VEC(VOLT_I64, -1, 0, 5);
    EXPECT(volt_ge(i, volt_scalar(0, VOLT_I64)), 0, 0, 1, 1);
    /* Broadcast comparison: [3, 1] < [2] -> [3, 2]. */
    volt_tensor *c = volt_lt(mat(VEC(VOLT_F64, 0, 1, 2), 3, 1), VEC(VOLT_F64, 1, 2));
    VT_ASSERT_SHAPE(c, 3, 2);
    EXPECT(c, 0, 1, 1, 0, 1, 0, 0);
    /* Logical ops take any dtype: nonzero (and NaN) is true. */
    volt_tensor *x = VEC(VOLT_F32, 0, 0, 2, NAN), *y = VEC(VOLT_F32, 0, -1, 0.5, 0);
    volt_tensor *and = volt_logical_and(x, y), * or = volt_logical_or(x, y);
    assert_int_equal(and->dtype, VOLT_BOOL);
    EXPECT(and, 0, 0, 0, 1, 0);
    EXPECT(or, 0, 0, 1, 1, 1);
    EXPECT(volt_logical_and(VEC(VOLT_I64, 3, 0), VEC(VOLT_U8, 1, 1)), 0, 1, 0);
    volt_tensor *bt = volt_to_dtype(VEC(VOLT_F64, 1, 0), VOLT_BOOL);
    EXPECT(volt_logical_or(bt, volt_scalar(0, VOLT_BOOL)), 0, 1, 0);
    EXPECT(volt_logical_and(bt, volt_scalar(1, VOLT_F64)), 0, 1, 0);
    VT_ASSERT_NO_ERROR();
}

/* Large operands go through the threaded loop (one long row, and many rows
 * with a broadcast operand): results must not depend on the thread count. */
static void test_threads_do_not_change_results(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    volt_generator g = volt_generator_make(3, 0);
    volt_tensor *a = volt_randn(VOLT_SHAPE(400, 300), VOLT_F32, &g);
    volt_tensor *b = volt_randn(VOLT_SHAPE(300), VOLT_F32, &g);
    volt_tensor *r[2][2];
    for (int t = 0; t < 2; t++) {
        volt_set_num_threads(t + 1);
        r[t][0] = volt_mul(a, a);
        r[t][1] = volt_sub(a, b);
    }
    volt_set_num_threads(saved);
    for (int j = 0; j < 2; j++)
        assert_memory_equal(volt_tensor_data(r[0][j]), volt_tensor_data(r[1][j]),
                            400 * 300 * sizeof(float));
    const float *pa = volt_tensor_data(a), *pb = volt_tensor_data(b);
    const float *ps = volt_tensor_data(r[1][1]);
    assert_true(ps[301 * 5] == pa[301 * 5] - pb[(301 * 5) % 300]);
    VT_ASSERT_NO_ERROR();
}

/* ---------------------------------------------------------- gradients */

static void test_gradient_values(void **state) {
    (void)state;
    volt_tensor *a = LEAF(1, -2, 4), *b = LEAF(2, 4, -0.5);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(a, b))), VOLT_OK);
    EXPECT(a->grad, 0, 2, 4, -0.5);
    EXPECT(b->grad, 0, 1, -2, 4);
    a = LEAF(1, -2, 4), b = LEAF(2, 4, -0.5);
    assert_int_equal(volt_backward(volt_sum_all(volt_div(a, b))), VOLT_OK);
    EXPECT(a->grad, 1e-15, 0.5, 0.25, -2);
    EXPECT(b->grad, 1e-15, -0.25, 0.125, -16); /* -a / b^2 */
    a = LEAF(1, -2, 4), b = LEAF(2, 4, -0.5);
    assert_int_equal(volt_backward(volt_sum_all(volt_sub(a, b))), VOLT_OK);
    EXPECT(a->grad, 0, 1, 1, 1);
    EXPECT(b->grad, 0, -1, -1, -1);
    a = LEAF(1, -2, 4), b = LEAF(2, 4, -0.5);
    assert_int_equal(volt_backward(volt_sum_all(volt_add_scaled(a, b, -1.5))), VOLT_OK);
    EXPECT(a->grad, 0, 1, 1, 1);
    EXPECT(b->grad, 0, -1.5, -1.5, -1.5);
    /* Broadcast: [3, 1] + [4]: gradients summed back to each shape. */
    volt_tensor *col = volt_requires_grad(mat(VEC(VOLT_F64, 1, 2, 3), 3, 1), true);
    volt_tensor *row = LEAF(1, 2, 3, 4);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(col, row))), VOLT_OK);
    VT_ASSERT_SHAPE(col->grad, 3, 1);
    EXPECT(col->grad, 0, 10, 10, 10);
    VT_ASSERT_SHAPE(row->grad, 4);
    EXPECT(row->grad, 0, 6, 6, 6, 6);
    /* Only the input that requires grad gets one. */
    a = LEAF(3, 4);
    volt_tensor *c = VEC(VOLT_F64, 5, 6);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(a, c))), VOLT_OK);
    EXPECT(a->grad, 0, 5, 6);
    assert_null(c->grad);
    /* Through dtype promotion: an f32 leaf gets an f32 gradient. */
    volt_tensor *f = volt_requires_grad(VEC(VOLT_F32, 1, 2), true);
    volt_tensor *out = volt_mul(f, LEAF(3, 5));
    assert_int_equal(out->dtype, VOLT_F64);
    assert_int_equal(volt_backward(volt_sum_all(out)), VOLT_OK);
    assert_int_equal(f->grad->dtype, VOLT_F32);
    EXPECT(f->grad, 0, 3, 5);
    assert_string_equal(volt_grad_fn_name(volt_pow(a, a)), "pow");
    VT_ASSERT_NO_ERROR();
}

/* d(a^b)/da = b a^(b-1) (0 where b == 0); d(a^b)/db = a^b log a (0 where
 * a == 0 and b >= 0), like PyTorch. */
static void test_pow_gradient_conventions(void **state) {
    (void)state;
    volt_tensor *a = LEAF(2, 0, 0, 0.5, 0);
    volt_tensor *b = LEAF(3, 2, 0, 0, 0.5);
    assert_int_equal(volt_backward(volt_sum_all(volt_pow(a, b))), VOLT_OK);
    double ga[5], gb[5];
    for (int i = 0; i < 5; i++) {
        ga[i] = volt_tensor_get_flat(a->grad, i);
        gb[i] = volt_tensor_get_flat(b->grad, i);
    }
    assert_true(ga[0] == 12 && ga[1] == 0 && ga[2] == 0 && ga[3] == 0);
    assert_true(isinf(ga[4]) && ga[4] > 0); /* 0.5 * 0^-0.5 */
    assert_true(fabs(gb[0] - 5.545177444479562) < 1e-14);
    assert_true(gb[1] == 0 && gb[2] == 0 && gb[4] == 0);
    assert_true(fabs(gb[3] + 0.6931471805599453) < 1e-15);
    /* pow_scalar: exponent 0 gives a zero gradient even at 0. */
    volt_tensor *x = LEAF(0, 3);
    assert_int_equal(volt_backward(volt_sum_all(volt_pow_scalar(x, 0))), VOLT_OK);
    EXPECT(x->grad, 0, 0, 0);
    x = LEAF(0, 3, -2);
    assert_int_equal(volt_backward(volt_sum_all(volt_pow_scalar(x, 2))), VOLT_OK);
    EXPECT(x->grad, 0, 0, 6, -4);
    VT_ASSERT_NO_ERROR();
}

/* Ties split the gradient evenly between the two inputs. */
static void test_maximum_minimum_tie_split(void **state) {
    (void)state;
    volt_tensor *a = LEAF(1, 2, 3), *b = LEAF(3, 2, 1);
    assert_int_equal(volt_backward(volt_sum_all(volt_maximum(a, b))), VOLT_OK);
    EXPECT(a->grad, 0, 0, 0.5, 1);
    EXPECT(b->grad, 0, 1, 0.5, 0);
    a = LEAF(1, 2, 3), b = LEAF(3, 2, 1);
    assert_int_equal(volt_backward(volt_sum_all(volt_minimum(a, b))), VOLT_OK);
    EXPECT(a->grad, 0, 1, 0.5, 0);
    EXPECT(b->grad, 0, 0, 0.5, 1);
    /* Broadcast tie against a 0-d: its gradient sums the shares. */
    a = LEAF(2, 2, 5);
    volt_tensor *s = volt_requires_grad(volt_scalar(2, VOLT_F64), true);
    assert_int_equal(volt_backward(volt_sum_all(volt_maximum(a, s))), VOLT_OK);
    EXPECT(a->grad, 0, 0.5, 0.5, 1);
    EXPECT(s->grad, 0, 1);
    VT_ASSERT_NO_ERROR();
}

typedef enum {
    B_ADD,
    B_SUB,
    B_MUL,
    B_DIV,
    B_POW,
    B_MAX,
    B_MIN,
    B_ADD_SCALED,
    B_ADD_SCALAR,
    B_MUL_SCALAR,
    B_DIV_SCALAR,
    B_POW_SCALAR,
    B_POW_SCALAR_INT
} bop;

static volt_tensor *bin_fn(volt_tensor **in, void *ctx) {
    switch (*(const bop *)ctx) {
    case B_ADD: return volt_add(in[0], in[1]);
    case B_SUB: return volt_sub(in[0], in[1]);
    case B_MUL: return volt_mul(in[0], in[1]);
    case B_DIV: return volt_div(in[0], in[1]);
    case B_POW: return volt_pow(in[0], in[1]);
    case B_MAX: return volt_maximum(in[0], in[1]);
    case B_MIN: return volt_minimum(in[0], in[1]);
    case B_ADD_SCALED: return volt_add_scaled(in[0], in[1], 2.5);
    case B_ADD_SCALAR: return volt_add_scalar(in[0], 1.5);
    case B_MUL_SCALAR: return volt_mul_scalar(in[0], -2.5);
    case B_DIV_SCALAR: return volt_div_scalar(in[0], 3);
    case B_POW_SCALAR: return volt_pow_scalar(in[0], 2.5);
    case B_POW_SCALAR_INT: return volt_pow_scalar(in[0], 3);
    }
    return NULL;
}

static void test_gradcheck_binary(void **state) {
    (void)state;
    for (bop op = B_ADD; op <= B_ADD_SCALED; op++) {
        /* Inputs away from the trouble spots: b > 0 for div, a > 0 for pow. */
        double sa = op == B_POW ? 0.3 : 1, ha = op == B_POW ? 2 : 0;
        double sb = op == B_DIV ? 0.3 : 1, hb = op == B_DIV ? 2 : 0;
        bop c = op;
        VT_GRADCHECK(bin_fn, &c, 2, vt_leaf(VOLT_SHAPE(3, 4), 1, sa, ha),
                     vt_leaf(VOLT_SHAPE(3, 4), 2, sb, hb));
        VT_GRADCHECK(bin_fn, &c, 2, vt_leaf_strided(VOLT_SHAPE(3, 4), 3, sa, ha),
                     vt_leaf_strided(VOLT_SHAPE(3, 4), 4, sb, hb));
        VT_GRADCHECK(bin_fn, &c, 2, vt_leaf(VOLT_SHAPE(3, 1), 5, sa, ha),
                     vt_leaf(VOLT_SHAPE(4), 6, sb, hb));
        VT_GRADCHECK(bin_fn, &c, 2, vt_leaf(0, NULL, 7, sa, ha),
                     vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 8, sb, hb));
        VT_GRADCHECK(bin_fn, &c, 2, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 9, sa, ha),
                     vt_leaf(VOLT_SHAPE(1, 4), 10, sb, hb));
        VT_GRADCHECK(bin_fn, &c, 2, vt_leaf_strided(VOLT_SHAPE(5), 11, sa, ha),
                     vt_leaf(0, NULL, 12, sb, hb));
    }
    for (bop op = B_ADD_SCALAR; op <= B_POW_SCALAR_INT; op++) {
        double s = op == B_POW_SCALAR ? 0.3 : 1, h = op == B_POW_SCALAR ? 2 : 0;
        bop c = op;
        VT_GRADCHECK(bin_fn, &c, 1, vt_leaf(0, NULL, 13, s, h));
        VT_GRADCHECK(bin_fn, &c, 1, vt_leaf_strided(VOLT_SHAPE(6), 14, s, h));
        VT_GRADCHECK(bin_fn, &c, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 15, s, h));
    }
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------------- in place */

static void test_inplace_values_and_versions(void **state) {
    (void)state;
    volt_tensor *x = VEC(VOLT_F64, 1, 2, 3);
    uint64_t v = volt_storage_version(x->storage);
    assert_ptr_equal(volt_add_(x, VEC(VOLT_F64, 10, 20, 30)), x);
    EXPECT(x, 0, 11, 22, 33);
    assert_true(volt_storage_version(x->storage) == v + 1);
    assert_ptr_equal(volt_sub_(x, volt_scalar(1, VOLT_F64)), x);
    EXPECT(x, 0, 10, 21, 32);
    assert_ptr_equal(volt_mul_(x, VEC(VOLT_F64, 2, 0.5, -1)), x);
    EXPECT(x, 0, 20, 10.5, -32);
    assert_ptr_equal(volt_div_(x, volt_scalar(4, VOLT_F64)), x);
    EXPECT(x, 0, 5, 2.625, -8);
    assert_ptr_equal(volt_mul_scalar_(x, 2), x);
    EXPECT(x, 0, 10, 5.25, -16);
    assert_ptr_equal(volt_add_scalar_(x, -0.25), x);
    EXPECT(x, 0, 9.75, 5, -16.25);
    assert_true(volt_storage_version(x->storage) == v + 6);
    /* other broadcast into self, with conversion (f32 into f64, i64 into f32). */
    volt_tensor *m = volt_zeros(VOLT_SHAPE(2, 3), VOLT_F64);
    volt_add_(m, VEC(VOLT_F32, 1, 2, 3));
    volt_add_(m, mat(VEC(VOLT_F64, 10, 20), 2, 1));
    EXPECT(m, 0, 11, 12, 13, 21, 22, 23);
    volt_tensor *f = VEC(VOLT_F32, 1, 2);
    volt_mul_(f, VEC(VOLT_I64, 3, 4));
    EXPECT(f, 0, 3, 8);
    /* Into a strided view: only its elements change. */
    volt_tensor *base = VEC(VOLT_F64, 1, 2, 3, 4, 5, 6);
    volt_tensor *even =
        volt_tensor_alias(base, 1, (const int64_t[]){3}, (const int64_t[]){2}, base->offset);
    volt_mul_scalar_(even, 10);
    EXPECT(base, 0, 10, 2, 30, 4, 50, 6);
    assert_true(volt_storage_version(base->storage) == volt_storage_version(even->storage));
    /* Integer self with integer operands. */
    volt_tensor *i = VEC(VOLT_I64, 1, 2);
    volt_add_scalar_(volt_mul_(i, VEC(VOLT_I64, 5, 6)), 1);
    EXPECT(i, 0, 6, 13);
    VT_ASSERT_NO_ERROR();
}

static void test_inplace_refusals(void **state) {
    (void)state;
    volt_tensor *leaf = LEAF(1, 2, 3);
    uint64_t v = volt_storage_version(leaf->storage);
    assert_null(volt_add_(leaf, VEC(VOLT_F64, 1, 1, 1)));
    VT_ASSERT_ERROR(VOLT_ERR_STATE,
                    "add_: in-place operation on f64[3], which requires grad (use VOLT_NO_GRAD)");
    assert_null(volt_mul_scalar_(leaf, 2));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "mul_scalar_: in-place operation on f64[3]");
    assert_null(volt_add_scalar_(leaf, 2));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "add_scalar_: in-place operation");
    assert_true(volt_storage_version(leaf->storage) == v);
    EXPECT(leaf, 0, 1, 2, 3);
    /* Allowed with grad mode off (an optimizer step). */
    VOLT_NO_GRAD { assert_ptr_equal(volt_sub_(leaf, VEC(VOLT_F64, 1, 1, 1)), leaf); }
    EXPECT(leaf, 0, 0, 1, 2);
    /* other must broadcast into self's shape. */
    volt_tensor *x = VEC(VOLT_F32, 1, 2, 3);
    assert_null(volt_add_(x, volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "add_: [2,3] cannot be broadcast into [3] in place");
    assert_null(volt_mul_(x, VEC(VOLT_F32, 1, 2)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "mul_: [3] and [2]: shapes cannot be broadcast");
    /* Dtypes: no true division into integers, no floating result into an
     * integer self, nothing but bool into a bool self. */
    volt_tensor *i = VEC(VOLT_I64, 4, 6, 8);
    assert_null(volt_div_(i, volt_scalar(2, VOLT_I64)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "div_: true division into i64[3] in place");
    assert_null(volt_add_(i, VEC(VOLT_F32, 1, 1, 1)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "add_: the result type f32 cannot be written into i64[3] in place");
    assert_null(volt_mul_scalar_(i, 2.5));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "mul_scalar_: the result type f32 cannot be written into i64[3]");
    assert_null(volt_add_scalar_(volt_to_dtype(i, VOLT_BOOL), 1));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "add_scalar_: the result type i64 cannot be written into bool[3]");
    EXPECT(i, 0, 4, 6, 8);
    assert_null(volt_add_(NULL, x));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "add_: argument 'self' is NULL");
    assert_null(volt_sub_(x, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "sub_: argument 'other' is NULL");
    assert_null(volt_mul_scalar_(NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "mul_scalar_: argument 'self' is NULL");
}

/* --------------------------------------------------------------- errors */

static void test_binary_errors(void **state) {
    (void)state;
    volt_tensor *a = volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32), *b = VEC(VOLT_F32, 1, 2, 3, 4);
    assert_null(volt_add(a, b));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "volt: add: [2,3] and [4]: shapes cannot be broadcast (3 vs 4 in dimension 1)");
    assert_null(volt_maximum(volt_zeros(VOLT_SHAPE(2, 1, 3), VOLT_F64),
                             volt_zeros(VOLT_SHAPE(5, 2), VOLT_F64)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "maximum: [2,1,3] and [5,2]: shapes cannot be broadcast");
    assert_null(volt_lt(a, b));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "lt: [2,3] and [4]");
    assert_null(volt_mul(NULL, b));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "mul: argument 'a' is NULL");
    assert_null(volt_pow(a, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "pow: argument 'b' is NULL");
    assert_null(volt_add_scalar(NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "add_scalar: argument 'a' is NULL");
    assert_null(volt_div_scalar(NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "div_scalar: argument 'a' is NULL");
    volt_tensor *h = volt_zeros(VOLT_SHAPE(2), VOLT_F16); /* bf16 runs (test_bf16_ops.c) */
    assert_null(volt_add(h, h));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "add: f16[2] and f16[2]: no kernel for f16");
    assert_null(volt_eq(h, h));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "eq: f16[2] and f16[2]: no kernel for f16");
    volt_tensor *bt = volt_zeros(VOLT_SHAPE(2), VOLT_BOOL);
    assert_null(volt_mul(bt, bt));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "mul: bool[2] and bool[2]: no kernel for bool");
    assert_null(volt_add_scaled(VEC(VOLT_I64, 1), VEC(VOLT_I64, 1), 0.5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "add: alpha 0.5 must be an integer for i64 operands");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_arithmetic_values),
        VT_TEST(test_integer_arithmetic),
        VT_TEST(test_scalar_variants),
        VT_TEST(test_broadcasting),
        VT_TEST(test_dtype_promotion),
        VT_TEST(test_comparisons_and_logical),
        VT_TEST(test_threads_do_not_change_results),
        VT_TEST(test_gradient_values),
        VT_TEST(test_pow_gradient_conventions),
        VT_TEST(test_maximum_minimum_tie_split),
        VT_TEST(test_gradcheck_binary),
        VT_TEST(test_inplace_values_and_versions),
        VT_TEST(test_inplace_refusals),
        VT_TEST(test_binary_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
