/* test_unary.c: the unary elementwise ops (neg, exp, log, log1p, sqrt, rsqrt,
 * abs, sign, clamp, logical_not, where): values from the math in f32 and f64,
 * integer behaviour, PyTorch's gradient conventions, float64 gradchecks on
 * contiguous and strided inputs of several shapes, and the error paths. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
/* A 1-d tensor of `dtype` holding the listed values. */
#define VEC(dtype, ...) vec((dtype), (const double[]){__VA_ARGS__}, COUNT(__VA_ARGS__))
/* Asserts t holds the listed values within rtol (+ a tiny atol). */
#define EXPECT(t, rtol, ...)                                                                       \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (rtol), 1e-300)

static volt_tensor *vec(volt_dtype dtype, const double *v, int64_t n) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, 1, &n);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

/* An f64 leaf requiring grad with the listed values. */
#define LEAF(...) volt_requires_grad(VEC(VOLT_F64, __VA_ARGS__), true)

static double tol(volt_dtype d) { return d == VOLT_F32 ? 2e-7 : 1e-15; }

static const volt_dtype floats[2] = {VOLT_F32, VOLT_F64};

/* ------------------------------------------------------------- values */

static void test_exp_log_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *e = volt_exp(VEC(d, 0, 1, -1, 2, -1000));
        assert_int_equal(e->dtype, d);
        EXPECT(e, tol(d), 1, 2.718281828459045, 0.36787944117144233, 7.38905609893065, 0);
        assert_true(isinf(volt_tensor_get_flat(volt_exp(VEC(d, 1000)), 0)));
        volt_tensor *l = volt_ln(VEC(d, 1, 2.718281828459045, 0.5, 0, -1));
        assert_true(fabs(volt_tensor_get_flat(l, 0)) <= tol(d));
        assert_true(fabs(volt_tensor_get_flat(l, 1) - 1) <= 2 * tol(d));
        assert_true(fabs(volt_tensor_get_flat(l, 2) + 0.6931471805599453) <= tol(d));
        double l0 = volt_tensor_get_flat(l, 3), lneg = volt_tensor_get_flat(l, 4);
        assert_true(isinf(l0) && l0 < 0);
        assert_true(isnan(lneg));
    }
    VT_ASSERT_NO_ERROR();
}

static void test_log1p_sqrt_rsqrt_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        /* log1p keeps the precision that log(1 + x) loses for tiny x. */
        EXPECT(volt_log1p(VEC(d, 0, 1e-10, 1, -0.5)), tol(d), 0, 9.999999999500001e-11,
               0.6931471805599453, -0.6931471805599453);
        EXPECT(volt_sqrt(VEC(d, 4, 2, 0, 0.25)), tol(d), 2, 1.4142135623730951, 0, 0.5);
        EXPECT(volt_rsqrt(VEC(d, 4, 0.25, 2)), tol(d), 0.5, 2, 0.7071067811865475);
        assert_true(isinf(volt_tensor_get_flat(volt_rsqrt(VEC(d, 0)), 0)));
        assert_true(isnan(volt_tensor_get_flat(volt_sqrt(VEC(d, -1)), 0)));
    }
    VT_ASSERT_NO_ERROR();
}

static void test_neg_abs_sign_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        EXPECT(volt_neg(VEC(d, 1.5, -2, 0)), 0, -1.5, 2, 0);
        EXPECT(volt_abs(VEC(d, 1.5, -2, 0, -0.25)), 0, 1.5, 2, 0, 0.25);
        EXPECT(volt_sign(VEC(d, 1.5, -2, 0, -1e-30)), 0, 1, -1, 0, -1);
        assert_true(volt_tensor_get_flat(volt_sign(VEC(d, NAN)), 0) == 0);
    }
    /* Integer dtypes keep their dtype. */
    volt_dtype ints[2] = {VOLT_I64, VOLT_I32};
    for (int k = 0; k < 2; k++) {
        volt_tensor *n = volt_neg(VEC(ints[k], 3, -4, 0));
        assert_int_equal(n->dtype, ints[k]);
        EXPECT(n, 0, -3, 4, 0);
        EXPECT(volt_abs(VEC(ints[k], 3, -4, 0)), 0, 3, 4, 0);
        EXPECT(volt_sign(VEC(ints[k], 3, -4, 0)), 0, 1, -1, 0);
    }
    /* u8 negation wraps like PyTorch's; abs and sign are the identity / 0-1. */
    volt_tensor *u = volt_neg(VEC(VOLT_U8, 1, 0, 200));
    assert_int_equal(u->dtype, VOLT_U8);
    EXPECT(u, 0, 255, 0, 56);
    EXPECT(volt_abs(VEC(VOLT_U8, 7, 0)), 0, 7, 0);
    EXPECT(volt_sign(VEC(VOLT_U8, 7, 0)), 0, 1, 0);
    /* The most negative value wraps, like PyTorch's. */
    int64_t lowest = INT64_MIN;
    volt_tensor *m = volt_from_array(&lowest, VOLT_I64, 0, NULL);
    assert_true(*(const int64_t *)volt_tensor_data(volt_neg(m)) == INT64_MIN);
    assert_true(*(const int64_t *)volt_tensor_data(volt_abs(m)) == INT64_MIN);
    /* Large i64 values survive exactly. */
    int64_t big[2] = {INT64_C(9007199254740993), -INT64_C(9007199254740993)};
    volt_tensor *b = volt_neg(volt_from_array(big, VOLT_I64, 1, (const int64_t[]){2}));
    const int64_t *pb = volt_tensor_data(b);
    assert_true(pb[0] == -INT64_C(9007199254740993) && pb[1] == INT64_C(9007199254740993));
    VT_ASSERT_NO_ERROR();
}

static void test_clamp_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = VEC(d, -2, -1, 0, 0.5, 1, 2);
        EXPECT(volt_clamp(x, -1, 1), 0, -1, -1, 0, 0.5, 1, 1);
        EXPECT(volt_clamp(x, -INFINITY, 0.25), 0, -2, -1, 0, 0.25, 0.25, 0.25);
        EXPECT(volt_clamp(x, 0.25, INFINITY), 0, 0.25, 0.25, 0.25, 0.5, 1, 2);
        EXPECT(volt_clamp(x, -INFINITY, INFINITY), 0, -2, -1, 0, 0.5, 1, 2);
        /* min > max: everything becomes max (min(max(x, lo), hi)). */
        EXPECT(volt_clamp(x, 1, 0), 0, 0, 0, 0, 0, 0, 0);
        /* NaN passes through. */
        assert_true(isnan(volt_tensor_get_flat(volt_clamp(VEC(d, NAN), -1, 1), 0)));
    }
    volt_tensor *i = volt_clamp(VEC(VOLT_I64, -5, 0, 3, 9), -1, 4);
    assert_int_equal(i->dtype, VOLT_I64);
    EXPECT(i, 0, -1, 0, 3, 4);
    EXPECT(volt_clamp(VEC(VOLT_I32, -5, 0, 3, 9), 0, INFINITY), 0, 0, 0, 3, 9);
    /* Bounds beyond the dtype's range saturate to it. */
    volt_tensor *u = volt_clamp(VEC(VOLT_U8, 0, 7, 255), -10, 300);
    assert_int_equal(u->dtype, VOLT_U8);
    EXPECT(u, 0, 0, 7, 255);
    EXPECT(volt_clamp(VEC(VOLT_U8, 0, 7, 255), 300, 400), 0, 255, 255, 255);
    /* A fractional bound makes an integer clamp floating, like PyTorch. */
    volt_tensor *f = volt_clamp(VEC(VOLT_I64, 1, 2, 3), 1.5, INFINITY);
    assert_int_equal(f->dtype, VOLT_F32);
    EXPECT(f, 0, 1.5, 2, 3);
    VT_ASSERT_NO_ERROR();
}

static void test_math_ops_promote_integers_to_f32(void **state) {
    (void)state;
    volt_tensor *e = volt_exp(VEC(VOLT_I64, 0, 1));
    assert_int_equal(e->dtype, VOLT_F32);
    EXPECT(e, 1e-7, 1, 2.718281828459045);
    volt_tensor *s = volt_sqrt(VEC(VOLT_U8, 4, 9));
    assert_int_equal(s->dtype, VOLT_F32);
    EXPECT(s, 0, 2, 3);
    volt_tensor *l = volt_ln(volt_to_dtype(VEC(VOLT_F64, 1, 0), VOLT_BOOL));
    assert_int_equal(l->dtype, VOLT_F32);
    assert_true(volt_tensor_get_flat(l, 0) == 0 && isinf(volt_tensor_get_flat(l, 1)));
    VT_ASSERT_NO_ERROR();
}

static void test_logical_not(void **state) {
    (void)state;
    volt_tensor *f = volt_logical_not(VEC(VOLT_F32, 0, 1, -0.0, NAN, -3));
    assert_int_equal(f->dtype, VOLT_BOOL);
    EXPECT(f, 0, 1, 0, 1, 0, 0);
    EXPECT(volt_logical_not(VEC(VOLT_F64, 0, 2)), 0, 1, 0);
    EXPECT(volt_logical_not(VEC(VOLT_I64, 0, -7, 1)), 0, 1, 0, 0);
    EXPECT(volt_logical_not(VEC(VOLT_I32, 5, 0)), 0, 0, 1);
    EXPECT(volt_logical_not(VEC(VOLT_U8, 0, 200)), 0, 1, 0);
    volt_tensor *b = volt_logical_not(volt_to_dtype(VEC(VOLT_F64, 1, 0), VOLT_BOOL));
    assert_int_equal(b->dtype, VOLT_BOOL);
    EXPECT(b, 0, 0, 1);
    EXPECT(volt_logical_not(volt_to_dtype(VEC(VOLT_F32, 0, -0.0, 0.5), VOLT_BF16)), 0, 1, 1, 0);
    EXPECT(volt_logical_not(volt_to_dtype(VEC(VOLT_F32, 2, -0.0), VOLT_F16)), 0, 0, 1);
    VT_ASSERT_NO_ERROR();
}

static void test_strided_and_empty_inputs(void **state) {
    (void)state;
    /* A transposed [3, 2] view of a [2, 3] tensor. */
    volt_tensor *base = volt_reshape(VEC(VOLT_F64, 0, 1, 2, 3, 4, 5), VOLT_SHAPE(2, 3));
    volt_tensor *t =
        volt_tensor_alias(base, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 3}, base->offset);
    volt_tensor *e = volt_exp(t);
    VT_ASSERT_SHAPE(e, 3, 2);
    assert_true(volt_tensor_is_contiguous(e));
    double want[6];
    const double order[6] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) want[i] = exp(order[i]);
    VT_ASSERT_CLOSE(e, want, 6, 1e-15, 0);
    /* A broadcast (stride 0) input. */
    volt_tensor *x = volt_expand(VEC(VOLT_F32, -2), VOLT_SHAPE(4));
    EXPECT(volt_abs(x), 0, 2, 2, 2, 2);
    /* 0-d and empty tensors. */
    volt_tensor *s = volt_sqrt(volt_scalar(9, VOLT_F64));
    assert_int_equal(s->ndim, 0);
    EXPECT(s, 0, 3);
    volt_tensor *empty = volt_neg(volt_zeros(VOLT_SHAPE(0, 3), VOLT_F32));
    VT_ASSERT_SHAPE(empty, 0, 3);
    VT_ASSERT_NO_ERROR();
}

/* Large inputs go through the threaded loop: the result must not depend on
 * the thread count. */
static void test_threads_do_not_change_results(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    volt_generator g = volt_generator_make(5, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(300, 700), VOLT_F32, &g);
    volt_set_num_threads(1);
    volt_tensor *one = volt_exp(x);
    volt_set_num_threads(2);
    volt_tensor *two = volt_exp(x);
    volt_set_num_threads(saved);
    assert_memory_equal(volt_tensor_data(one), volt_tensor_data(two), 300 * 700 * sizeof(float));
    float v = ((const float *)volt_tensor_data(two))[12345];
    assert_true(fabsf(v - expf(((const float *)volt_tensor_data(x))[12345])) <= 1e-6f * v);
    VT_ASSERT_NO_ERROR();
}

/* -------------------------------------------------------------- where */

static void test_where_values(void **state) {
    (void)state;
    volt_tensor *cond = volt_to_dtype(VEC(VOLT_F64, 1, 0, 1), VOLT_BOOL);
    volt_tensor *w = volt_where(cond, VEC(VOLT_F64, 1, 2, 3), VEC(VOLT_F64, -1, -2, -3));
    assert_int_equal(w->dtype, VOLT_F64);
    EXPECT(w, 0, 1, -2, 3);
    /* Three-way broadcast: cond [3, 1], a [4], b 0-d -> [3, 4]. */
    volt_tensor *c31 = volt_reshape(cond, VOLT_SHAPE(3, 1));
    volt_tensor *w2 = volt_where(c31, VEC(VOLT_F32, 10, 20, 30, 40), volt_scalar(-1, VOLT_F32));
    VT_ASSERT_SHAPE(w2, 3, 4);
    EXPECT(w2, 0, 10, 20, 30, 40, -1, -1, -1, -1, 10, 20, 30, 40);
    /* Promotion: i64 a with f32 b gives f32; a 0-d f64 does not raise f32. */
    volt_tensor *w3 = volt_where(cond, VEC(VOLT_I64, 1, 2, 3), VEC(VOLT_F32, 0.5, 0.5, 0.5));
    assert_int_equal(w3->dtype, VOLT_F32);
    EXPECT(w3, 0, 1, 0.5, 3);
    volt_tensor *w4 = volt_where(cond, VEC(VOLT_F32, 1, 2, 3), volt_scalar(7, VOLT_F64));
    assert_int_equal(w4->dtype, VOLT_F32);
    EXPECT(w4, 0, 1, 7, 3);
    /* Integer and bool operands. */
    volt_tensor *w5 = volt_where(cond, VEC(VOLT_I32, 1, 2, 3), VEC(VOLT_I32, 4, 5, 6));
    assert_int_equal(w5->dtype, VOLT_I32);
    EXPECT(w5, 0, 1, 5, 3);
    volt_tensor *w6 = volt_where(cond, cond, volt_logical_not(cond));
    assert_int_equal(w6->dtype, VOLT_BOOL);
    EXPECT(w6, 0, 1, 1, 1);
    /* A strided a. */
    volt_tensor *base = volt_reshape(VEC(VOLT_F64, 0, 1, 2, 3, 4, 5), VOLT_SHAPE(2, 3));
    volt_tensor *col =
        volt_tensor_alias(base, 1, (const int64_t[]){3}, (const int64_t[]){1}, base->offset + 3);
    EXPECT(volt_where(cond, col, volt_scalar(0, VOLT_F64)), 0, 3, 0, 5);
    VT_ASSERT_NO_ERROR();
}

static void test_where_gradient(void **state) {
    (void)state;
    volt_tensor *cond =
        volt_reshape(volt_to_dtype(VEC(VOLT_F64, 1, 0), VOLT_BOOL), VOLT_SHAPE(2, 1));
    volt_tensor *a = LEAF(1, 2, 3);
    volt_tensor *b = LEAF(5);
    volt_tensor *w = volt_where(cond, a, b); /* [2, 3] */
    assert_string_equal(volt_grad_fn_name(w), "where");
    assert_int_equal(volt_backward(volt_sum_all(w)), VOLT_OK);
    EXPECT(a->grad, 0, 1, 1, 1);
    EXPECT(b->grad, 0, 3);
    /* The gradient reaches an f32 input through promotion. */
    volt_tensor *a32 = volt_requires_grad(VEC(VOLT_F32, 1, 2), true);
    volt_tensor *c2 = volt_to_dtype(VEC(VOLT_F64, 0, 1), VOLT_BOOL);
    volt_tensor *w2 = volt_where(c2, a32, LEAF(0, 0));
    assert_int_equal(w2->dtype, VOLT_F64);
    assert_int_equal(volt_backward(volt_sum_all(w2)), VOLT_OK);
    assert_int_equal(a32->grad->dtype, VOLT_F32);
    EXPECT(a32->grad, 0, 0, 1);
    VT_ASSERT_NO_ERROR();
}

static volt_tensor *where_fn(volt_tensor **in, void *ctx) {
    return volt_where((const volt_tensor *)ctx, in[0], in[1]);
}

static void test_where_gradcheck(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(11, 0);
    volt_tensor *c34 =
        volt_lt(volt_rand(VOLT_SHAPE(3, 4), VOLT_F64, &g), volt_scalar(0.5, VOLT_F64));
    volt_tensor *c31 =
        volt_lt(volt_rand(VOLT_SHAPE(3, 1), VOLT_F64, &g), volt_scalar(0.5, VOLT_F64));
    volt_tensor *c0 = volt_scalar(1, VOLT_BOOL);
    VT_GRADCHECK(where_fn, c34, 2, vt_leaf(VOLT_SHAPE(3, 4), 1, 1, 0),
                 vt_leaf_strided(VOLT_SHAPE(3, 4), 2, 1, 0));
    VT_GRADCHECK(where_fn, c34, 2, vt_leaf(VOLT_SHAPE(4), 3, 1, 0), vt_leaf(0, NULL, 4, 1, 0));
    VT_GRADCHECK(where_fn, c31, 2, vt_leaf(VOLT_SHAPE(1, 4), 5, 1, 0),
                 vt_leaf_strided(VOLT_SHAPE(2, 3, 1), 6, 1, 0));
    VT_GRADCHECK(where_fn, c0, 2, vt_leaf(0, NULL, 7, 1, 0), vt_leaf(VOLT_SHAPE(2, 3, 4), 8, 1, 0));
    VT_GRADCHECK(where_fn, c31, 2, vt_leaf_strided(VOLT_SHAPE(5), 9, 1, 0),
                 vt_leaf(VOLT_SHAPE(3, 5), 10, 1, 0));
    VT_ASSERT_NO_ERROR();
}

static void test_where_errors(void **state) {
    (void)state;
    volt_tensor *a = VEC(VOLT_F32, 1, 2, 3);
    volt_tensor *cond = volt_to_dtype(VEC(VOLT_F64, 1, 0, 1), VOLT_BOOL);
    assert_null(volt_where(VEC(VOLT_F32, 1, 0, 1), a, a));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "where: the condition must be bool, got f32[3]");
    assert_null(volt_where(VEC(VOLT_I64, 1, 0, 1), a, a));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "must be bool, got i64[3]");
    assert_null(volt_where(cond, a, VEC(VOLT_F32, 1, 2)));
    VT_ASSERT_ERROR(
        VOLT_ERR_SHAPE,
        "where: cond [3], a [3], b [2]: shapes cannot be broadcast (3 vs 2 in dimension 0)");
    assert_null(volt_where(volt_reshape(cond, VOLT_SHAPE(3, 1)),
                           volt_zeros(VOLT_SHAPE(2, 4), VOLT_F32), a));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "cond [3,1], a [2,4], b [3]: shapes cannot be broadcast");
    assert_null(volt_where(NULL, a, a));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "where: argument 'cond' is NULL");
    assert_null(volt_where(cond, NULL, a));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "where: argument 'a' is NULL");
    assert_null(volt_where(cond, a, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "where: argument 'b' is NULL");
}

/* ---------------------------------------------------------- gradients */

static void test_gradient_conventions(void **state) {
    (void)state;
    /* abs: sign(x), so 0 at 0. */
    volt_tensor *x = LEAF(-2, 0, 3);
    assert_int_equal(volt_backward(volt_sum_all(volt_abs(x))), VOLT_OK);
    EXPECT(x->grad, 0, -1, 0, 1);
    /* clamp: 1 where min <= x <= max, boundaries included (PyTorch). */
    volt_tensor *c = LEAF(-2, -1, 0, 1, 2);
    assert_int_equal(volt_backward(volt_sum_all(volt_clamp(c, -1, 1))), VOLT_OK);
    EXPECT(c->grad, 0, 0, 1, 1, 1, 0);
    volt_tensor *c1 = LEAF(-5, 0.5, 5);
    assert_int_equal(volt_backward(volt_sum_all(volt_clamp(c1, -INFINITY, 0.5))), VOLT_OK);
    EXPECT(c1->grad, 0, 1, 1, 0);
    /* sign: a zero gradient, present as a tensor. */
    volt_tensor *s = LEAF(-2, 0, 3);
    assert_int_equal(volt_backward(volt_sum_all(volt_sign(s))), VOLT_OK);
    assert_non_null(s->grad);
    EXPECT(s->grad, 0, 0, 0, 0);
    /* neg, exp (from the saved output), log, log1p, sqrt, rsqrt. */
    volt_tensor *n = LEAF(1, -2);
    assert_int_equal(volt_backward(volt_sum_all(volt_neg(n))), VOLT_OK);
    EXPECT(n->grad, 0, -1, -1);
    volt_tensor *e = LEAF(0, 1, -1);
    assert_int_equal(volt_backward(volt_sum_all(volt_exp(e))), VOLT_OK);
    EXPECT(e->grad, 1e-15, 1, 2.718281828459045, 0.36787944117144233);
    volt_tensor *l = LEAF(0.5, 4);
    assert_int_equal(volt_backward(volt_sum_all(volt_ln(l))), VOLT_OK);
    EXPECT(l->grad, 1e-15, 2, 0.25);
    volt_tensor *l1 = LEAF(0, 3);
    assert_int_equal(volt_backward(volt_sum_all(volt_log1p(l1))), VOLT_OK);
    EXPECT(l1->grad, 1e-15, 1, 0.25);
    volt_tensor *q = LEAF(4, 0.25);
    assert_int_equal(volt_backward(volt_sum_all(volt_sqrt(q))), VOLT_OK);
    EXPECT(q->grad, 1e-15, 0.25, 1);
    volt_tensor *r = LEAF(4, 0.25);
    assert_int_equal(volt_backward(volt_sum_all(volt_rsqrt(r))), VOLT_OK);
    EXPECT(r->grad, 1e-15, -0.0625, -4); /* -x^(-3/2) / 2 */
    VT_ASSERT_NO_ERROR();
}

static void test_f32_backward_and_graph(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(VEC(VOLT_F32, 1, 4), true);
    volt_tensor *y = volt_sqrt(x);
    assert_string_equal(volt_grad_fn_name(y), "sqrt");
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    assert_int_equal(x->grad->dtype, VOLT_F32);
    EXPECT(x->grad, 1e-7, 0.5, 0.25);
    /* No graph in no-grad mode, nor for integer inputs. */
    VOLT_NO_GRAD {
        volt_tensor *z = volt_exp(x);
        assert_false(z->requires_grad);
        assert_null(z->grad_fn);
    }
    assert_false(volt_neg(VEC(VOLT_I64, 1))->requires_grad);
    VT_ASSERT_NO_ERROR();
}

/* exp saves its output: changing it in place breaks the backward pass
 * cleanly. */
static void test_saved_output_changed_in_place(void **state) {
    (void)state;
    volt_tensor *x = LEAF(0, 1);
    volt_tensor *y = volt_exp(x);
    volt_tensor *loss = volt_sum_all(y);
    VOLT_NO_GRAD { volt_add_scalar_(y, 1); }
    assert_int_equal(volt_backward(loss), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "modified by an in-place operation");
}

typedef volt_tensor *(*unary_fn)(const volt_tensor *a, const double *p);
static volt_tensor *op_exp(const volt_tensor *a, const double *p) {
    (void)p;
    return volt_exp(a);
}
static volt_tensor *op_log(const volt_tensor *a, const double *p) {
    (void)p;
    return volt_ln(a);
}
static volt_tensor *op_log1p(const volt_tensor *a, const double *p) {
    (void)p;
    return volt_log1p(a);
}
static volt_tensor *op_sqrt(const volt_tensor *a, const double *p) {
    (void)p;
    return volt_sqrt(a);
}
static volt_tensor *op_rsqrt(const volt_tensor *a, const double *p) {
    (void)p;
    return volt_rsqrt(a);
}
static volt_tensor *op_neg(const volt_tensor *a, const double *p) {
    (void)p;
    return volt_neg(a);
}
static volt_tensor *op_abs(const volt_tensor *a, const double *p) {
    (void)p;
    return volt_abs(a);
}
static volt_tensor *op_sign(const volt_tensor *a, const double *p) {
    (void)p;
    return volt_sign(a);
}
static volt_tensor *op_clamp(const volt_tensor *a, const double *p) {
    return volt_clamp(a, p[0], p[1]);
}

typedef struct {
    unary_fn fn;
    double p[2];
    double scale, shift; /* inputs: randn * scale + shift */
    double kinks[2];     /* points to keep inputs away from (NAN: none) */
} grad_case;

static volt_tensor *case_fn(volt_tensor **in, void *ctx) {
    const grad_case *c = ctx;
    return c->fn(in[0], c->p);
}

static double *element(volt_tensor *t, int64_t flat) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (flat % t->shape[d]) * t->strides[d];
        flat /= t->shape[d];
    }
    return (double *)volt_storage_data(t->storage) + off;
}

/* Moves elements within 0.05 of a kink to 0.05 away from it. */
static volt_tensor *away_from_kinks(volt_tensor *t, const grad_case *c) {
    for (int64_t i = 0; i < volt_tensor_numel(t); i++) {
        double *p = element(t, i);
        for (int k = 0; k < 2; k++)
            if (!isnan(c->kinks[k]) && fabs(*p - c->kinks[k]) < 0.05)
                *p = c->kinks[k] + (*p >= c->kinks[k] ? 0.05 : -0.05);
    }
    return t;
}

/* Gradcheck over 0-d, 1-d, 2-d and 3-d inputs, contiguous and strided. */
static void gradcheck_case(const grad_case *c) {
    static const int64_t s1[1] = {5}, s2[2] = {3, 4}, s3[3] = {2, 3, 4};
    uint64_t seed = 100;
    grad_case cc = *c;
    VT_GRADCHECK(case_fn, &cc, 1, away_from_kinks(vt_leaf(0, NULL, seed++, c->scale, c->shift), c));
    VT_GRADCHECK(case_fn, &cc, 1, away_from_kinks(vt_leaf(1, s1, seed++, c->scale, c->shift), c));
    VT_GRADCHECK(case_fn, &cc, 1,
                 away_from_kinks(vt_leaf_strided(1, s1, seed++, c->scale, c->shift), c));
    VT_GRADCHECK(case_fn, &cc, 1,
                 away_from_kinks(vt_leaf_strided(2, s2, seed++, c->scale, c->shift), c));
    VT_GRADCHECK(case_fn, &cc, 1, away_from_kinks(vt_leaf(3, s3, seed++, c->scale, c->shift), c));
    VT_GRADCHECK(case_fn, &cc, 1,
                 away_from_kinks(vt_leaf_strided(3, s3, seed++, c->scale, c->shift), c));
}

static void test_gradcheck_unary(void **state) {
    (void)state;
    const grad_case cases[] = {
        {op_exp, {0, 0}, 1, 0, {NAN, NAN}},
        {op_log, {0, 0}, 0.5, 3, {NAN, NAN}},
        {op_log1p, {0, 0}, 0.3, 1, {NAN, NAN}},
        {op_sqrt, {0, 0}, 0.5, 3, {NAN, NAN}},
        {op_rsqrt, {0, 0}, 0.5, 3, {NAN, NAN}},
        {op_neg, {0, 0}, 1, 0, {NAN, NAN}},
        {op_abs, {0, 0}, 1, 0, {0, NAN}},
        {op_sign, {0, 0}, 1, 0, {0, NAN}},
        {op_clamp, {-0.5, 0.7}, 1, 0, {-0.5, 0.7}},
        {op_clamp, {-INFINITY, 0.3}, 1, 0, {0.3, NAN}},
        {op_clamp, {-0.2, INFINITY}, 1, 0, {-0.2, NAN}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) gradcheck_case(&cases[i]);
    VT_ASSERT_NO_ERROR();
}

/* --------------------------------------------------------------- errors */

static void test_unary_errors(void **state) {
    (void)state;
    assert_null(volt_exp(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "exp: argument 'a' is NULL");
    assert_null(volt_clamp(NULL, 0, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clamp: argument 'a' is NULL");
    assert_null(volt_logical_not(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "logical_not: argument 'a' is NULL");
    volt_tensor *h = volt_zeros(VOLT_SHAPE(2), VOLT_F16); /* bf16 runs (test_bf16_ops.c) */
    assert_null(volt_exp(h));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "exp: f16[2] is not supported (f32 and f64 are)");
    assert_null(volt_sqrt(volt_zeros(VOLT_SHAPE(2, 2), VOLT_F16)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "sqrt: f16[2,2] is not supported");
    assert_null(volt_neg(h));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "neg: f16[2] is not supported (f32, f64 and integer dtypes are)");
    assert_null(volt_abs(volt_zeros(VOLT_SHAPE(3), VOLT_BOOL)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "abs: bool[3] is not supported");
    assert_null(volt_clamp(VEC(VOLT_F32, 1), NAN, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clamp: bounds [nan, 1] contain NaN");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_exp_log_values),
        VT_TEST(test_log1p_sqrt_rsqrt_values),
        VT_TEST(test_neg_abs_sign_values),
        VT_TEST(test_clamp_values),
        VT_TEST(test_math_ops_promote_integers_to_f32),
        VT_TEST(test_logical_not),
        VT_TEST(test_strided_and_empty_inputs),
        VT_TEST(test_threads_do_not_change_results),
        VT_TEST(test_where_values),
        VT_TEST(test_where_gradient),
        VT_TEST(test_where_gradcheck),
        VT_TEST(test_where_errors),
        VT_TEST(test_gradient_conventions),
        VT_TEST(test_f32_backward_and_graph),
        VT_TEST(test_saved_output_changed_in_place),
        VT_TEST(test_gradcheck_unary),
        VT_TEST(test_unary_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
