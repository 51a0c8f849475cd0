/* test_activation.c: relu, leaky_relu, elu, gelu (erf and tanh forms), silu,
 * sigmoid, tanh, softplus and hardtanh: values from the math in f32 and f64,
 * stability at large |x|, PyTorch's gradient formulas and boundary
 * conventions, float64 gradchecks on contiguous and strided inputs of several
 * shapes, and the error paths. */
#include "volt_test.h"

#include <math.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define VEC(dtype, ...) vec((dtype), (const double[]){__VA_ARGS__}, COUNT(__VA_ARGS__))
#define EXPECT(t, rtol, ...)                                                                       \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (rtol), 1e-300)
#define LEAF(dtype, ...) volt_requires_grad(VEC(dtype, __VA_ARGS__), true)

static volt_tensor *vec(volt_dtype dtype, const double *v, int64_t n) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, 1, &n);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

static const volt_dtype floats[2] = {VOLT_F32, VOLT_F64};

static double tol(volt_dtype d) { return d == VOLT_F32 ? 5e-7 : 1e-15; }

/* The gradient of sum(y) with respect to the leaf x. */
static volt_tensor *grad_of_sum(volt_tensor *x, volt_tensor *y) {
    assert_non_null(y);
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    assert_non_null(x->grad);
    assert_int_equal(x->grad->dtype, x->dtype);
    return x->grad;
}

/* ------------------------------------------------------------- values */

static void test_relu_family_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *r = volt_relu(VEC(d, -1, 0, 2, -1e-30));
        assert_int_equal(r->dtype, d);
        EXPECT(r, 0, 0, 0, 2, 0);
        EXPECT(volt_leaky_relu(VEC(d, -2, 0, 3), 0.01), tol(d), -0.02, 0, 3);
        EXPECT(volt_leaky_relu(VEC(d, -2, 3), 0.2), tol(d), -0.4, 3);
        EXPECT(volt_elu(VEC(d, -1, 0, 2, -0.5), 1.0), tol(d), -0.6321205588285577, 0, 2,
               -0.3934693402873666);
        EXPECT(volt_elu(VEC(d, -1, 1), 0.5), tol(d), -0.31606027941427883, 1);
        EXPECT(volt_hardtanh(VEC(d, -2, -1, 0.5, 1, 3), -1, 1), 0, -1, -1, 0.5, 1, 1);
        EXPECT(volt_hardtanh(VEC(d, -2, 3, 7), 0, 6), 0, 0, 3, 6);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_smooth_activation_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = VEC(d, 1, -1, 2, -0.5, 0);
        EXPECT(volt_gelu(x, false), tol(d), 0.8413447460685429, -0.15865525393145707,
               1.9544997361036416, -0.15426876936299344, 0);
        EXPECT(volt_gelu(x, true), tol(d), 0.8411919906082768, -0.15880800939172324,
               1.954597694087775, -0.15428599017485606, 0);
        EXPECT(volt_silu(x), tol(d), 0.7310585786300049, -0.2689414213699951, 1.7615941559557646,
               -0.1887703343990727, 0);
        EXPECT(volt_sigmoid(x), tol(d), 0.7310585786300049, 0.2689414213699951, 0.8807970779778823,
               0.3775406687981454, 0.5);
        EXPECT(volt_tanh(x), tol(d), 0.7615941559557649, -0.7615941559557649, 0.9640275800758169,
               -0.46211715726000974, 0);
        EXPECT(volt_softplus(x, 1, 20), tol(d), 1.3132616875182228, 0.31326168751822286,
               2.1269280110429727, 0.4740769841801067, 0.6931471805599453);
        /* beta 2: log(1 + exp(2x)) / 2. */
        EXPECT(volt_softplus(x, 2, 20), tol(d), 1.0634640055214863, 0.06346400552148625,
               2.0090749639589047, 0.15663084375911143, 0.34657359027997264);
        /* Linear where beta x > threshold: x itself. */
        EXPECT(volt_softplus(x, 1, 1.5), tol(d), 1.3132616875182228, 0.31326168751822286, 2,
               0.4740769841801067, 0.6931471805599453);
    }
    VT_ASSERT_NO_ERROR();
}

/* No overflow to NaN at large |x|, in either dtype. */
static void test_large_inputs_are_stable(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = VEC(d, -800, 800, -30, 100);
        EXPECT(volt_sigmoid(x), 1e-6, 0, 1, 9.357622968839299e-14, 1);
        EXPECT(volt_softplus(x, 1, 20), 1e-6, 0, 800, 9.357622968839737e-14, 100);
        /* A threshold above every input still may not overflow. */
        EXPECT(volt_softplus(x, 1, 1e30), 1e-6, 0, 800, 9.357622968839737e-14, 100);
        EXPECT(volt_silu(x), 1e-6, 0, 800, -2.8072868906517896e-12, 100);
        EXPECT(volt_tanh(x), 0, -1, 1, -1, 1);
        EXPECT(volt_gelu(x, false), 0, 0, 800, 0, 100);
        EXPECT(volt_gelu(x, true), 1e-6, 0, 800, 0, 100);
        EXPECT(volt_elu(x, 1.5), 1e-6, -1.5, 800, -1.5, 100);
        /* Gradients there are finite too. */
        volt_tensor *xs[6];
        volt_tensor *ys[6];
        for (int i = 0; i < 6; i++) xs[i] = LEAF(d, -800, 800);
        ys[0] = volt_sigmoid(xs[0]);
        ys[1] = volt_softplus(xs[1], 1, 1e30);
        ys[2] = volt_silu(xs[2]);
        ys[3] = volt_tanh(xs[3]);
        ys[4] = volt_gelu(xs[4], false);
        ys[5] = volt_gelu(xs[5], true);
        EXPECT(grad_of_sum(xs[0], ys[0]), 0, 0, 0);
        EXPECT(grad_of_sum(xs[1], ys[1]), 0, 0, 1);
        EXPECT(grad_of_sum(xs[2], ys[2]), 0, 0, 1);
        EXPECT(grad_of_sum(xs[3], ys[3]), 0, 0, 0);
        EXPECT(grad_of_sum(xs[4], ys[4]), 0, 0, 1);
        EXPECT(grad_of_sum(xs[5], ys[5]), 0, 0, 1);
    }
    VT_ASSERT_NO_ERROR();
}

/* NaN propagates through the piecewise activations, like PyTorch's. */
static void test_nan_propagates(void **state) {
    (void)state;
    volt_tensor *x = VEC(VOLT_F32, NAN);
    volt_tensor *outs[6] = {volt_relu(x),    volt_leaky_relu(x, 0.1),
                            volt_elu(x, 1),  volt_hardtanh(x, -1, 1),
                            volt_sigmoid(x), volt_softplus(x, 1, 20)};
    for (int i = 0; i < 6; i++) assert_true(isnan(volt_tensor_get_flat(outs[i], 0)));
    VT_ASSERT_NO_ERROR();
}

static void test_strided_inputs(void **state) {
    (void)state;
    /* A transposed [3, 2] view of a [2, 3] tensor, and a broadcast view. */
    volt_tensor *base = volt_reshape(VEC(VOLT_F64, -3, -2, -1, 1, 2, 3), VOLT_SHAPE(2, 3));
    volt_tensor *t =
        volt_tensor_alias(base, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 3}, base->offset);
    volt_tensor *r = volt_relu(t);
    VT_ASSERT_SHAPE(r, 3, 2);
    EXPECT(r, 0, 0, 1, 0, 2, 0, 3);
    EXPECT(volt_hardtanh(t, -1.5, 2.5), 0, -1.5, 1, -1.5, 2, -1, 2.5);
    volt_tensor *e = volt_expand(VEC(VOLT_F32, 1), VOLT_SHAPE(3));
    EXPECT(volt_sigmoid(e), 1e-7, 0.7310585786300049, 0.7310585786300049, 0.7310585786300049);
    volt_tensor *s = volt_tanh(volt_scalar(0.5, VOLT_F64));
    assert_int_equal(s->ndim, 0);
    EXPECT(s, 1e-15, 0.46211715726000974);
    VT_ASSERT_SHAPE(volt_gelu(volt_zeros(VOLT_SHAPE(2, 0), VOLT_F32), false), 2, 0);
    VT_ASSERT_NO_ERROR();
}

/* ---------------------------------------------------------- gradients */

/* PyTorch's conventions at the kinks. */
static void test_gradient_conventions(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = LEAF(d, -1, 0, 2);
        EXPECT(grad_of_sum(x, volt_relu(x)), 0, 0, 0, 1); /* 0 at 0 */
        x = LEAF(d, -1, 0, 2);
        EXPECT(grad_of_sum(x, volt_leaky_relu(x, 0.1)), tol(d), 0.1, 0.1, 1); /* slope at 0 */
        x = LEAF(d, -1, 0, 2);
        /* alpha * exp(x) for x <= 0 (alpha at 0), 1 above. */
        EXPECT(grad_of_sum(x, volt_elu(x, 0.5)), tol(d), 0.18393972058572117, 0.5, 1);
        x = LEAF(d, -2, -1, 0, 1, 2);
        /* 0 outside (min, max), boundaries included. */
        EXPECT(grad_of_sum(x, volt_hardtanh(x, -1, 1)), 0, 0, 0, 1, 0, 0);
        x = LEAF(d, -1, 1, 3);
        /* softplus: sigmoid(beta x) below the threshold, 1 above. */
        EXPECT(grad_of_sum(x, volt_softplus(x, 1, 2)), tol(d), 0.2689414213699951,
               0.7310585786300049, 1);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_gradient_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        double t = d == VOLT_F32 ? 1e-6 : 1e-14;
        volt_tensor *x = LEAF(d, 1, -1, 2, -0.5);
        EXPECT(grad_of_sum(x, volt_gelu(x, false)), t, 1.0833154705876864, -0.08331547058768629,
               1.085231801078197, 0.13250487534383712);
        x = LEAF(d, 1, -1, 2, -0.5);
        EXPECT(grad_of_sum(x, volt_gelu(x, true)), t, 1.0829640838457826, -0.08296408384578255,
               1.0860992566236183, 0.13263009646535764);
        x = LEAF(d, 1, -1, 2, -0.5);
        EXPECT(grad_of_sum(x, volt_silu(x)), t, 0.9276705118714869, 0.07232948812851325,
               1.0907842487848955, 0.2600388126973482);
        x = LEAF(d, 1, -1, 2, -0.5);
        EXPECT(grad_of_sum(x, volt_sigmoid(x)), t, 0.19661193324148185, 0.19661193324148185,
               0.10499358540350662, 0.2350037122015945);
        x = LEAF(d, 1, -1, 2, -0.5);
        EXPECT(grad_of_sum(x, volt_tanh(x)), t, 0.41997434161402614, 0.41997434161402614,
               0.07065082485316443, 0.7864477329659274);
        x = LEAF(d, 1, -1, 2, -0.5);
        EXPECT(grad_of_sum(x, volt_softplus(x, 1, 20)), t, 0.7310585786300049, 0.2689414213699951,
               0.8807970779778823, 0.3775406687981454);
    }
    VT_ASSERT_NO_ERROR();
}

/* The f32 GELU of the tanh form (its tanh from volt_expf) against the f64
 * one over [-12, 12] in steps of 1/128, forward and backward: within 3e-7
 * (forward) and 1e-6 (gradient) times max(1, |x|). */
static void test_gelu_tanh_f32_accuracy(void **state) {
    (void)state;
    enum { N = 3073 };
    static double v[N];
    for (int i = 0; i < N; i++) v[i] = -12.0 + i / 128.0;
    volt_tensor *x64 = volt_requires_grad(vec(VOLT_F64, v, N), true);
    volt_tensor *x32 = volt_requires_grad(vec(VOLT_F32, v, N), true);
    volt_tensor *y64 = volt_gelu(x64, true), *y32 = volt_gelu(x32, true);
    volt_tensor *g64 = grad_of_sum(x64, y64), *g32 = grad_of_sum(x32, y32);
    for (int i = 0; i < N; i++) {
        double scale = fmax(1.0, fabs(v[i]));
        double dy = fabs(volt_tensor_get_flat(y32, i) - volt_tensor_get_flat(y64, i));
        double dg = fabs(volt_tensor_get_flat(g32, i) - volt_tensor_get_flat(g64, i));
        if (dy > 3e-7 * scale || dg > 1e-6 * scale)
            fail_msg("gelu_tanh f32 at x = %g: value off by %g, gradient by %g", v[i], dy, dg);
    }
    VT_ASSERT_NO_ERROR();
}

/* The backward pass scales by the incoming gradient and handles a strided
 * (broadcast) one. */
static void test_backward_with_grad_output(void **state) {
    (void)state;
    volt_tensor *x = LEAF(VOLT_F64, -1, 0.5, 2);
    volt_tensor *y = volt_tanh(x);
    volt_tensor *g = volt_expand(VEC(VOLT_F64, 2), VOLT_SHAPE(3));
    assert_int_equal(volt_backward_ex(y, g, false), VOLT_OK);
    EXPECT(x->grad, 1e-14, 2 * 0.41997434161402614, 2 * 0.7864477329659274,
           2 * 0.07065082485316443);
    assert_string_equal(volt_grad_fn_name(volt_relu(x)), "relu");
    assert_string_equal(volt_grad_fn_name(volt_gelu(x, true)), "gelu");
    assert_string_equal(volt_grad_fn_name(volt_softplus(x, 1, 20)), "softplus");
    VOLT_NO_GRAD { assert_null(volt_sigmoid(x)->grad_fn); }
    VT_ASSERT_NO_ERROR();
}

/* relu saves its output: changing it in place is detected at backward. */
static void test_saved_tensor_changed_in_place(void **state) {
    (void)state;
    volt_tensor *x = LEAF(VOLT_F64, -1, 2);
    volt_tensor *y = volt_relu(x);
    volt_tensor *loss = volt_sum_all(y);
    VOLT_NO_GRAD { volt_mul_scalar_(y, 2); }
    assert_int_equal(volt_backward(loss), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "saved by 'relu' was modified by an in-place operation");
}

typedef enum {
    A_RELU,
    A_LEAKY,
    A_ELU,
    A_GELU,
    A_GELU_TANH,
    A_SILU,
    A_SIGMOID,
    A_TANH,
    A_SOFTPLUS,
    A_HARDTANH
} act;

typedef struct {
    act kind;
    double p[2];
    double kinks[2]; /* points to keep inputs away from (NAN: none) */
} act_case;

static volt_tensor *act_fn(volt_tensor **in, void *ctx) {
    const act_case *c = ctx;
    const volt_tensor *a = in[0];
    switch (c->kind) {
    case A_RELU: return volt_relu(a);
    case A_LEAKY: return volt_leaky_relu(a, c->p[0]);
    case A_ELU: return volt_elu(a, c->p[0]);
    case A_GELU: return volt_gelu(a, false);
    case A_GELU_TANH: return volt_gelu(a, true);
    case A_SILU: return volt_silu(a);
    case A_SIGMOID: return volt_sigmoid(a);
    case A_TANH: return volt_tanh(a);
    case A_SOFTPLUS: return volt_softplus(a, c->p[0], c->p[1]);
    case A_HARDTANH: return volt_hardtanh(a, c->p[0], c->p[1]);
    }
    return NULL;
}

static double *element(volt_tensor *t, int64_t flat) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (flat % t->shape[d]) * t->strides[d];
        flat /= t->shape[d];
    }
    return (double *)volt_storage_data(t->storage) + off;
}

static volt_tensor *away_from_kinks(volt_tensor *t, const act_case *c) {
    for (int64_t i = 0; i < volt_tensor_numel(t); i++) {
        double *p = element(t, i);
        for (int k = 0; k < 2; k++)
            if (!isnan(c->kinks[k]) && fabs(*p - c->kinks[k]) < 0.05)
                *p = c->kinks[k] + (*p >= c->kinks[k] ? 0.05 : -0.05);
    }
    return t;
}

static void gradcheck_case(act_case *c) {
    static const int64_t s1[1] = {6}, s2[2] = {3, 4}, s3[3] = {2, 3, 4};
    VT_GRADCHECK(act_fn, c, 1, away_from_kinks(vt_leaf(0, NULL, 21, 1.5, 0), c));
    VT_GRADCHECK(act_fn, c, 1, away_from_kinks(vt_leaf(1, s1, 22, 1.5, 0), c));
    VT_GRADCHECK(act_fn, c, 1, away_from_kinks(vt_leaf_strided(1, s1, 23, 1.5, 0), c));
    VT_GRADCHECK(act_fn, c, 1, away_from_kinks(vt_leaf_strided(2, s2, 24, 1.5, 0), c));
    VT_GRADCHECK(act_fn, c, 1, away_from_kinks(vt_leaf(3, s3, 25, 1.5, 0), c));
    VT_GRADCHECK(act_fn, c, 1, away_from_kinks(vt_leaf_strided(3, s3, 26, 1.5, 0), c));
}

static void test_gradcheck_activations(void **state) {
    (void)state;
    act_case cases[] = {
        {A_RELU, {0, 0}, {0, NAN}},
        {A_LEAKY, {0.01, 0}, {0, NAN}},
        {A_LEAKY, {0.3, 0}, {0, NAN}},
        {A_ELU, {1.0, 0}, {0, NAN}},
        {A_ELU, {0.4, 0}, {0, NAN}},
        {A_GELU, {0, 0}, {NAN, NAN}},
        {A_GELU_TANH, {0, 0}, {NAN, NAN}},
        {A_SILU, {0, 0}, {NAN, NAN}},
        {A_SIGMOID, {0, 0}, {NAN, NAN}},
        {A_TANH, {0, 0}, {NAN, NAN}},
        {A_SOFTPLUS, {1, 20}, {NAN, NAN}},
        {A_SOFTPLUS, {2, 1}, {0.5, NAN}}, /* linear above x = 0.5 */
        {A_HARDTANH, {-1, 1}, {-1, 1}},
        {A_HARDTANH, {-0.5, 2}, {-0.5, 2}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) gradcheck_case(&cases[i]);
    VT_ASSERT_NO_ERROR();
}

/* --------------------------------------------------------------- errors */

static void test_activation_errors(void **state) {
    (void)state;
    assert_null(volt_relu(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "relu: argument 'a' is NULL");
    assert_null(volt_gelu(NULL, true));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "gelu: argument 'a' is NULL");
    assert_null(volt_softplus(NULL, 1, 20));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "softplus: argument 'a' is NULL");
    assert_null(volt_relu(VEC(VOLT_I64, 1, 2, 3)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "relu: i64[3] is not supported (f32 and f64 are)");
    assert_null(volt_sigmoid(volt_zeros(VOLT_SHAPE(2, 2), VOLT_F16)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "sigmoid: f16[2,2] is not supported (f32 and f64 are)");
    assert_null(volt_tanh(volt_zeros(VOLT_SHAPE(1), VOLT_F16)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "tanh: f16[1] is not supported");
    assert_null(volt_silu(volt_zeros(VOLT_SHAPE(1), VOLT_BOOL)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "silu: bool[1] is not supported");
    volt_tensor *x = VEC(VOLT_F32, 1);
    assert_null(volt_hardtanh(x, 1, -1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "hardtanh: min_val 1 must not be greater than max_val -1");
    assert_null(volt_softplus(x, 0, 20));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "softplus: beta 0, threshold 20");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_relu_family_values),
        VT_TEST(test_smooth_activation_values),
        VT_TEST(test_large_inputs_are_stable),
        VT_TEST(test_nan_propagates),
        VT_TEST(test_strided_inputs),
        VT_TEST(test_gradient_conventions),
        VT_TEST(test_gradient_values),
        VT_TEST(test_gelu_tanh_f32_accuracy),
        VT_TEST(test_backward_with_grad_output),
        VT_TEST(test_saved_tensor_changed_in_place),
        VT_TEST(test_gradcheck_activations),
        VT_TEST(test_activation_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
