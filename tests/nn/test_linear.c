/* test_linear.c: the Linear and Bilinear layers — PyTorch's default
 * initialisation (bounds and spread), forward values and gradients against
 * PyTorch for fixed weights (2-D, 3-D and 1-D inputs), float64 gradchecks
 * of each layer with respect to its input and parameters (parameters
 * replaced by f64 copies), options, naming, and the error paths. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, tol, ...)                                                                        \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (tol), (tol))

static volt_tensor *arr(volt_dtype dtype, const double *v, int ndim, const int64_t *shape) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, ndim, shape);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

/* Writes values into parameter `name` of m (under no-grad). */
static void set_param(volt_module *m, const char *name, const double *v) {
    volt_tensor *p = volt_module_get(m, name);
    assert_non_null(p);
    VOLT_NO_GRAD { assert_non_null(volt_copy_(p, arr(VOLT_F64, v, p->ndim, p->shape))); }
}

/* Replaces every parameter of m (own, local names) by an f64 copy. */
static void to_f64(volt_module *m, const char *const *names, int n) {
    for (int i = 0; i < n; i++) {
        volt_tensor *p = volt_module_get(m, names[i]);
        volt_tensor *c = NULL;
        VOLT_NO_GRAD { c = volt_to_dtype(p, VOLT_F64); }
        assert_int_equal(volt_module_replace(m, names[i], c), VOLT_OK);
    }
}

static double max_abs(const volt_tensor *t) {
    double m = 0;
    for (int64_t i = 0; i < volt_tensor_numel(t); i++)
        m = fmax(m, fabs(volt_tensor_get_flat(t, i)));
    return m;
}

static double std_of(const volt_tensor *t) {
    int64_t n = volt_tensor_numel(t);
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += volt_tensor_get_flat(t, i);
    for (int64_t i = 0; i < n; i++) {
        double d = volt_tensor_get_flat(t, i) - s / (double)n;
        ss += d * d;
    }
    return sqrt(ss / (double)n);
}

/* --------------------------------------------------------------- Linear */

static void test_linear_default_init(void **state) {
    (void)state;
    volt_linear *fc = volt_linear_new(NULL, "fc", 400, 256);
    assert_non_null(fc);
    volt_tensor *w = volt_module_get(&fc->base, "weight"), *b = volt_module_get(&fc->base, "bias");
    VT_ASSERT_SHAPE(w, 256, 400);
    VT_ASSERT_SHAPE(b, 256);
    assert_int_equal(w->dtype, VOLT_F32);
    assert_true(w->requires_grad && b->requires_grad);
    /* kaiming_uniform(a = sqrt 5) and the bias: both U(+-1/sqrt(400)) = U(+-0.05). */
    assert_true(max_abs(w) <= 0.05 && max_abs(w) > 0.0499);
    assert_true(fabs(std_of(w) - 0.05 / sqrt(3.0)) < 0.01 * 0.05);
    assert_true(max_abs(b) <= 0.05 && max_abs(b) > 0.04);
    assert_int_equal(volt_module_num_parameters(&fc->base, false), 256 * 400 + 256);
    assert_string_equal(fc->base.cls->type_name, "Linear");
    assert_int_equal(fc->in_features, 400);
    assert_int_equal(fc->out_features, 256);
    volt_module_free(&fc->base);
    /* no_bias, and a seeded generator: same seed, same weights. */
    volt_generator g1 = volt_generator_make(3, 0), g2 = volt_generator_make(3, 0);
    volt_linear *a =
        volt_linear_new_ex(NULL, "a", 5, 4, &(volt_linear_options){.no_bias = true, .gen = &g1});
    volt_linear *c = volt_linear_new_ex(NULL, "c", 5, 4, &(volt_linear_options){.gen = &g2});
    assert_null(volt_module_get(&a->base, "bias"));
    assert_false(a->has_bias);
    for (int i = 0; i < 20; i++)
        assert_true(volt_tensor_get_flat(volt_module_get(&a->base, "weight"), i) ==
                    volt_tensor_get_flat(volt_module_get(&c->base, "weight"), i));
    volt_module_free(&a->base);
    volt_module_free(&c->base);
    VT_ASSERT_NO_ERROR();
}

/* Expected values: Debian's torch 1.13 (/usr/bin/python3): nn.Linear(3, 2)
 * with weight [[0.1,-0.2,0.3],[0.4,0.5,-0.6]] and bias [0.05,-0.1] (copied
 * from float32 tensors, so they are the f32 values volt holds), in float64:
 * l(x) for x = [[1,2,3],[-1,0.5,2]], backward of g = [[1,-1],[0.5,2]];
 * l(x3) for x3 = (0.5 * arange(12) - 2).reshape(2,2,3); l([1,-2,0.5]). */
static const double lin_w[6] = {0.1, -0.2, 0.3, 0.4, 0.5, -0.6}, lin_b[2] = {0.05, -0.1};

static void test_linear_matches_torch(void **state) {
    (void)state;
    volt_linear *fc = volt_linear_new(NULL, "fc", 3, 2);
    set_param(&fc->base, "weight", lin_w);
    set_param(&fc->base, "bias", lin_b);
    const double xv[6] = {1, 2, 3, -1, 0.5, 2}, gv[4] = {1, -1, 0.5, 2};
    volt_tensor *x = volt_requires_grad(arr(VOLT_F32, xv, VOLT_SHAPE(2, 3)), true);
    volt_tensor *y = volt_linear_forward(fc, x);
    VT_ASSERT_SHAPE(y, 2, 2);
    assert_string_equal(volt_grad_fn_name(y), "addmm"); /* one fused product + bias */
    EXPECT(y, 1e-6, 0.6500000320374966, -0.5000000670552254, 0.45000002160668373,
           -1.4500000551342964);
    assert_int_equal(volt_backward_ex(y, arr(VOLT_F32, gv, VOLT_SHAPE(2, 2)), false), VOLT_OK);
    EXPECT(x->grad, 1e-6, -0.30000000447034836, -0.7000000029802322, 0.9000000357627869,
           0.850000012665987, 0.8999999985098839, -1.0500000417232513);
    EXPECT(volt_module_get(&fc->base, "weight")->grad, 1e-6, 0.5, 2.25, 4.0, -3.0, -1.0, 1.0);
    EXPECT(volt_module_get(&fc->base, "bias")->grad, 1e-6, 1.5, 1.0);
    double x3v[12];
    for (int i = 0; i < 12; i++) x3v[i] = 0.5 * i - 2;
    y = volt_linear_forward(fc, arr(VOLT_F32, x3v, VOLT_SHAPE(2, 2, 3)));
    VT_ASSERT_SHAPE(y, 2, 2, 2);
    EXPECT(y, 1e-6, -0.15000000968575478, -1.0499999895691872, 0.15000000596046448,
           -0.6000000163912773, 0.45000002160668373, -0.15000004321336746, 0.750000037252903,
           0.2999999299645424);
    y = volt_linear_forward(fc, arr(VOLT_F32, (const double[]){1, -2, 0.5}, VOLT_SHAPE(3)));
    VT_ASSERT_SHAPE(y, 2);
    EXPECT(y, 1e-6, 0.7000000141561031, -1.0000000074505806);
    /* Through the class forward (what Sequential calls). */
    EXPECT(volt_module_forward(&fc->base, x), 1e-6, 0.6500000320374966, -0.5000000670552254,
           0.45000002160668373, -1.4500000551342964);
    volt_module_free(&fc->base);
    VT_ASSERT_NO_ERROR();
}

static volt_tensor *linear_fn(volt_tensor **in, void *ctx) {
    return volt_linear_forward(ctx, in[0]);
}

static void test_linear_gradcheck_f64(void **state) {
    (void)state;
    for (int bias = 0; bias < 2; bias++) {
        volt_linear *fc =
            volt_linear_new_ex(NULL, "fc", 4, 3, &(volt_linear_options){.no_bias = !bias});
        const char *names[2] = {"weight", "bias"};
        to_f64(&fc->base, names, 1 + bias);
        volt_tensor *w = volt_module_get(&fc->base, "weight"),
                    *b = volt_module_get(&fc->base, "bias");
        assert_int_equal(w->dtype, VOLT_F64);
        assert_true(w->requires_grad);
        if (bias)
            VT_GRADCHECK(linear_fn, fc, 3, vt_leaf(VOLT_SHAPE(5, 4), 1, 1.0, 0.0), w, b);
        else
            VT_GRADCHECK(linear_fn, fc, 2, vt_leaf(VOLT_SHAPE(5, 4), 1, 1.0, 0.0), w);
        /* Strided and 3-D inputs. */
        VT_GRADCHECK(linear_fn, fc, 2, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 2, 1.0, 0.0), w);
        VT_GRADCHECK(linear_fn, fc, 1, vt_leaf(VOLT_SHAPE(4), 3, 1.0, 0.0));
        volt_module_free(&fc->base);
    }
}

static void test_linear_errors(void **state) {
    (void)state;
    assert_null(volt_linear_new(NULL, "fc1", -1, 3));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Linear 'fc1': in_features -1 (must be >= 0)");
    assert_null(volt_linear_new(NULL, "fc1", 3, -2));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Linear 'fc1': out_features -2");
    volt_module root;
    volt_module_init(&root, NULL);
    volt_linear *fc = volt_linear_new(&root, "fc1", 784, 10);
    assert_non_null(fc);
    assert_null(volt_linear_new(&root, "fc1", 3, 3));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the name 'fc1' is already used");
    assert_int_equal(root.n_children, 1);
    assert_null(volt_linear_forward(fc, volt_zeros(VOLT_SHAPE(64, 785), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "volt: Linear 'fc1': input f32[64,785] has 785 features, expected 784");
    assert_null(volt_linear_forward(fc, volt_scalar(1, VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "Linear 'fc1': input f32[] needs at least 1 dimension");
    assert_null(volt_linear_forward(fc, volt_zeros(VOLT_SHAPE(2, 784), VOLT_F64)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "Linear 'fc1': input f64[2,784] does not have the parameters' dtype f32");
    assert_null(volt_linear_forward(fc, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Linear 'fc1': input is NULL");
    assert_null(volt_linear_forward(NULL, volt_zeros(VOLT_SHAPE(2, 784), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Linear: layer is NULL");
    volt_module_free(&root);
}

/* ------------------------------------------------------------- Bilinear */

/* torch: nn.Bilinear(2, 3, 2) with weight = (0.1 * arange(12) - 0.5).reshape(2,2,3),
 * bias = [0.3, -0.2] (from float32), float64: b(x1, x2) for
 * x1 = [[1,2],[-0.5,1.5]], x2 = [[0.5,-1,2],[1,1,-1]], backward of [[1,2],[-1,0.5]]. */
static void test_bilinear_matches_torch(void **state) {
    (void)state;
    volt_bilinear *bl = volt_bilinear_new(NULL, "bil", 2, 3, 2, NULL);
    assert_non_null(bl);
    VT_ASSERT_SHAPE(volt_module_get(&bl->base, "weight"), 2, 2, 3);
    VT_ASSERT_SHAPE(volt_module_get(&bl->base, "bias"), 2);
    /* Default init U(+-1/sqrt(in1)). */
    assert_true(max_abs(volt_module_get(&bl->base, "weight")) <= 1 / sqrt(2.0));
    double wv[12];
    for (int i = 0; i < 12; i++) wv[i] = 0.1 * i - 0.5;
    set_param(&bl->base, "weight", wv);
    set_param(&bl->base, "bias", (const double[]){0.3, -0.2});
    volt_tensor *x1 = volt_requires_grad(
        arr(VOLT_F32, (const double[]){1, 2, -0.5, 1.5}, VOLT_SHAPE(2, 2)), true);
    volt_tensor *x2 = volt_requires_grad(
        arr(VOLT_F32, (const double[]){0.5, -1, 2, 1, 1, -1}, VOLT_SHAPE(2, 3)), true);
    volt_tensor *y = volt_bilinear_forward(bl, x1, x2);
    VT_ASSERT_SHAPE(y, 2, 2);
    EXPECT(y, 2e-6, -0.149999988079071, 2.049999997019768, 0.15000001192092907, 0.2499999970197676);
    assert_int_equal(
        volt_backward_ex(y, arr(VOLT_F32, (const double[]){1, 2, -1, 0.5}, VOLT_SHAPE(2, 2)),
                         false),
        VOLT_OK);
    EXPECT(x1->grad, 2e-6, 0.45, 1.8, 0.6, 0.45);
    EXPECT(x2->grad, 2e-6, 0.9, 1.8, 2.7, 0.325, 0.275, 0.225);
    EXPECT(volt_module_get(&bl->base, "weight")->grad, 2e-6, 1.0, -0.5, 1.5, -0.5, -3.5, 5.5, 0.75,
           -2.25, 4.25, 2.75, -3.25, 7.25);
    EXPECT(volt_module_get(&bl->base, "bias")->grad, 2e-6, 0.0, 2.5);
    /* Leading dims [2, 1]: same numbers. */
    y = volt_bilinear_forward(bl, volt_reshape(x1, VOLT_SHAPE(2, 1, 2)),
                              volt_reshape(x2, VOLT_SHAPE(2, 1, 3)));
    VT_ASSERT_SHAPE(y, 2, 1, 2);
    EXPECT(y, 2e-6, -0.149999988079071, 2.049999997019768, 0.15000001192092907, 0.2499999970197676);
    volt_module_free(&bl->base);
    VT_ASSERT_NO_ERROR();
}

static volt_tensor *bilinear_fn(volt_tensor **in, void *ctx) {
    return volt_bilinear_forward(ctx, in[0], in[1]);
}

static void test_bilinear_gradcheck_f64(void **state) {
    (void)state;
    volt_bilinear *bl = volt_bilinear_new(NULL, "bil", 3, 2, 4, NULL);
    const char *names[2] = {"weight", "bias"};
    to_f64(&bl->base, names, 2);
    VT_GRADCHECK(bilinear_fn, bl, 4, vt_leaf(VOLT_SHAPE(5, 3), 1, 1.0, 0.0),
                 vt_leaf_strided(VOLT_SHAPE(5, 2), 2, 1.0, 0.0),
                 volt_module_get(&bl->base, "weight"), volt_module_get(&bl->base, "bias"));
    volt_module_free(&bl->base);
    bl = volt_bilinear_new(NULL, "nb", 2, 2, 1, &(volt_linear_options){.no_bias = true});
    assert_null(volt_module_get(&bl->base, "bias"));
    to_f64(&bl->base, names, 1);
    VT_GRADCHECK(bilinear_fn, bl, 3, vt_leaf(VOLT_SHAPE(2, 3, 2), 3, 1.0, 0.0),
                 vt_leaf(VOLT_SHAPE(2, 3, 2), 4, 1.0, 0.0), volt_module_get(&bl->base, "weight"));
    volt_module_free(&bl->base);
}

static void test_bilinear_errors(void **state) {
    (void)state;
    assert_null(volt_bilinear_new(NULL, "b", 2, -3, 1, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Bilinear 'b': in2_features -3 (must be >= 0)");
    volt_bilinear *bl = volt_bilinear_new(NULL, "b", 2, 3, 4, NULL);
    volt_tensor *x1 = volt_zeros(VOLT_SHAPE(5, 2), VOLT_F32),
                *x2 = volt_zeros(VOLT_SHAPE(5, 3), VOLT_F32);
    assert_null(volt_bilinear_forward(bl, x2, x2));
    VT_ASSERT_ERROR(
        VOLT_ERR_SHAPE,
        "Bilinear 'b': inputs f32[5,3] and f32[5,3] have 3 and 3 features, expected 2 and 3");
    assert_null(volt_bilinear_forward(bl, x1, volt_zeros(VOLT_SHAPE(4, 3), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "have different leading dims");
    assert_null(volt_bilinear_forward(bl, x1, volt_zeros(VOLT_SHAPE(1, 5, 3), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "must have the same number of dimensions");
    assert_null(volt_bilinear_forward(bl, x1, volt_zeros(VOLT_SHAPE(5, 3), VOLT_F64)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "Bilinear 'b': input f64[5,3]");
    /* No class forward: it takes two inputs. */
    assert_null(volt_module_forward(&bl->base, x1));
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED, "has no forward");
    volt_module_free(&bl->base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_linear_default_init),    VT_TEST(test_linear_matches_torch),
        VT_TEST(test_linear_gradcheck_f64),   VT_TEST(test_linear_errors),
        VT_TEST(test_bilinear_matches_torch), VT_TEST(test_bilinear_gradcheck_f64),
        VT_TEST(test_bilinear_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
