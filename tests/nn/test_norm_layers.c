/* test_norm_layers.c: LayerNorm, GroupNorm and RMSNorm layers — default
 * parameters (weight ones, bias zeros; none without affine), forward values
 * against PyTorch for fixed weights, float64 gradchecks of each layer with
 * respect to its input and parameters, eps defaults, and the errors naming
 * the layer (wrong trailing shape or channel count, bad hyperparameters). */
#include "volt_test.h"

#include <float.h>
#include <math.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, tol, ...)                                                                        \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (tol), (tol))

static volt_tensor *arr(volt_dtype dtype, const double *v, int ndim, const int64_t *shape) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, ndim, shape);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

static void set_param(volt_module *m, const char *name, const double *v) {
    volt_tensor *p = volt_module_get(m, name);
    assert_non_null(p);
    VOLT_NO_GRAD { assert_non_null(volt_copy_(p, arr(VOLT_F64, v, p->ndim, p->shape))); }
}

/* Replaces the named parameters of m by f64 copies; returns the first. */
static void to_f64(volt_module *m, const char *const *names, int n) {
    for (int i = 0; i < n; i++) {
        volt_tensor *c = NULL;
        VOLT_NO_GRAD { c = volt_to_dtype(volt_module_get(m, names[i]), VOLT_F64); }
        assert_int_equal(volt_module_replace(m, names[i], c), VOLT_OK);
    }
}

/* f(i) = scale * sin(a i) + shift (or cos), for i < n, as f32 (like torch's
 * float32 arange). */
static volt_tensor *wave32(int ndim, const int64_t *shape, double a, bool cosine, double scale,
                           double shift) {
    double v[64];
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    for (int64_t i = 0; i < n; i++) {
        float ai = (float)a * (float)i; /* the f32 product torch computed */
        v[i] = (double)((float)(cosine ? cos((double)ai) : sin((double)ai)) * (float)scale +
                        (float)shift);
    }
    return arr(VOLT_F32, v, ndim, shape);
}

static const char *const affine_names[2] = {"weight", "bias"};

/* ------------------------------------------------------------ LayerNorm */

/* Expected values: Debian's torch 1.13 (/usr/bin/python3), float32:
 * nn.LayerNorm((2,3), eps=1e-3) with weight [[1,2,3],[-1,0.5,0.25]], bias
 * [[0,0.1,0.2],[0.3,0.4,0.5]] on x = sin(0.8 * arange(12)).reshape(2,2,3) * 2. */
static void test_layernorm_matches_torch(void **state) {
    (void)state;
    volt_layernorm *ln =
        volt_layernorm_new(NULL, "ln", VOLT_SHAPE(2, 3), &(volt_norm_options){.eps = 1e-3});
    assert_non_null(ln);
    assert_true(ln->eps == 1e-3 && ln->affine && ln->normalized_ndim == 2);
    volt_tensor *w = volt_module_get(&ln->base, "weight"), *b = volt_module_get(&ln->base, "bias");
    VT_ASSERT_SHAPE(w, 2, 3);
    for (int i = 0; i < 6; i++)
        assert_true(volt_tensor_get_flat(w, i) == 1 && volt_tensor_get_flat(b, i) == 0);
    set_param(&ln->base, "weight", (const double[]){1, 2, 3, -1, 0.5, 0.25});
    set_param(&ln->base, "bias", (const double[]){0, 0.1, 0.2, 0.3, 0.4, 0.5});
    volt_tensor *y = volt_layernorm_forward(ln, wave32(VOLT_SHAPE(2, 2, 3), 0.8, false, 2, 0));
    VT_ASSERT_SHAPE(y, 2, 2, 3);
    EXPECT(y, 2e-6, -0.44087424874305725, 1.6244949102401733, 3.906715154647827,
           -0.3919861316680908, 0.13061141967773438, 0.07246151566505432, -1.5513430833816528,
           -2.008695602416992, 0.09256061911582947, -0.5864309072494507, 0.9764816761016846,
           0.6505273580551147);
    volt_module_free(&ln->base);
    /* Default eps 1e-5; no affine: no parameters, plain normalisation. */
    ln = volt_layernorm_new(NULL, "plain", VOLT_SHAPE(4), &(volt_norm_options){.no_affine = true});
    assert_true(ln->eps == 1e-5);
    assert_int_equal(volt_module_num_parameters(&ln->base, false), 0);
    y = volt_module_forward(&ln->base, arr(VOLT_F64, (const double[]){1, 2, 3, 4}, VOLT_SHAPE(4)));
    /* (x - 2.5) / sqrt(1.25 + 1e-5) */
    double s = sqrt(1.25 + 1e-5);
    EXPECT(y, 1e-14, -1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s);
    volt_module_free(&ln->base);
    VT_ASSERT_NO_ERROR();
}

static volt_tensor *module_fn(volt_tensor **in, void *ctx) {
    return volt_module_forward(ctx, in[0]);
}

static void test_layernorm_gradcheck_f64(void **state) {
    (void)state;
    volt_layernorm *ln = volt_layernorm_new(NULL, "ln", VOLT_SHAPE(3, 4), NULL);
    to_f64(&ln->base, affine_names, 2);
    /* Move the parameters away from 1 / 0 so every term of the gradient shows. */
    set_param(&ln->base, "weight", (const double[]){1, 2, -1, 0.5, 3, 1, 1, -2, 0.3, 1.5, 2, 1});
    set_param(&ln->base, "bias", (const double[]){0, 1, -1, 0.5, 3, 1, 1, -2, 0.3, 1.5, 2, 1});
    VT_GRADCHECK(module_fn, &ln->base, 3, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 1, 1.0, 0.0),
                 volt_module_get(&ln->base, "weight"), volt_module_get(&ln->base, "bias"));
    volt_module_free(&ln->base);
}

/* ------------------------------------------------------------ GroupNorm */

/* torch (float32): nn.GroupNorm(2, 4) with weight [1,0.5,2,-1], bias
 * [0,0.1,0.2,0.3] on x = cos(0.45 * arange(16)).reshape(1,4,2,2) * 3. */
static void test_groupnorm_matches_torch(void **state) {
    (void)state;
    volt_groupnorm *gn = volt_groupnorm_new(NULL, "gn", 2, 4, NULL);
    assert_non_null(gn);
    VT_ASSERT_SHAPE(volt_module_get(&gn->base, "weight"), 4);
    VT_ASSERT_SHAPE(volt_module_get(&gn->base, "bias"), 4);
    set_param(&gn->base, "weight", (const double[]){1, 0.5, 2, -1});
    set_param(&gn->base, "bias", (const double[]){0, 0.1, 0.2, 0.3});
    volt_tensor *y = volt_groupnorm_forward(gn, wave32(VOLT_SHAPE(1, 4, 2, 2), 0.45, true, 3, 0));
    VT_ASSERT_SHAPE(y, 1, 4, 2, 2);
    EXPECT(y, 3e-6, 1.3351112604141235, 1.2025011777877808, 0.8310745358467102, 0.29478442668914795,
           -0.04979535564780235, -0.31685370206832886, -0.5006097555160522, -0.5644769072532654,
           -3.0952038764953613, -2.280966281890869, -1.1128612756729126, 0.17653238773345947,
           -0.26524507999420166, -0.6596265435218811, -0.7928861975669861, -0.6384915709495544);
    to_f64(&gn->base, affine_names, 2);
    VT_GRADCHECK(module_fn, &gn->base, 3, vt_leaf(VOLT_SHAPE(2, 4, 3), 2, 1.0, 0.0),
                 volt_module_get(&gn->base, "weight"), volt_module_get(&gn->base, "bias"));
    volt_module_free(&gn->base);
    gn = volt_groupnorm_new(NULL, "gn", 3, 3, &(volt_norm_options){.no_affine = true, .eps = 0.1});
    assert_null(volt_module_get(&gn->base, "weight"));
    assert_true(gn->eps == 0.1);
    VT_GRADCHECK(module_fn, &gn->base, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 3, 1.0, 0.0));
    volt_module_free(&gn->base);
    VT_ASSERT_NO_ERROR();
}

/* -------------------------------------------------------------- RMSNorm */

/* torch 1.13 has no nn.RMSNorm; torch.nn.RMSNorm(4) computes, in float32,
 * x * rsqrt(mean(x^2, -1) + finfo(float32).eps) * w: with w = [1,2,0.5,-1]
 * on x = sin(0.6 * arange(8)).reshape(2,4) + 0.5. */
static void test_rmsnorm_matches_torch(void **state) {
    (void)state;
    volt_rmsnorm *rms = volt_rmsnorm_new(NULL, "rms", VOLT_SHAPE(4), NULL);
    assert_non_null(rms);
    assert_true(isnan(rms->eps)); /* the input dtype's machine epsilon */
    assert_null(volt_module_get(&rms->base, "bias"));
    set_param(&rms->base, "weight", (const double[]){1, 2, 0.5, -1});
    volt_tensor *y = volt_rmsnorm_forward(rms, wave32(VOLT_SHAPE(2, 4), 0.6, false, 1, 0.5));
    EXPECT(y, 2e-6, 0.42233484983444214, 1.7985423803329468, 0.6047999858856201,
           -1.2449144124984741, 1.6904298067092896, 1.8439854383468628, 0.0413304828107357,
           0.5343621373176575);
    const char *names[1] = {"weight"};
    to_f64(&rms->base, names, 1);
    VT_GRADCHECK(module_fn, &rms->base, 2, vt_leaf(VOLT_SHAPE(3, 4), 4, 1.0, 0.3),
                 volt_module_get(&rms->base, "weight"));
    volt_module_free(&rms->base);
    /* An explicit eps, two dims, no affine: x / sqrt(mean(x^2) + eps). */
    rms = volt_rmsnorm_new(NULL, "rms2", VOLT_SHAPE(1, 2),
                           &(volt_norm_options){.eps = 1, .no_affine = true});
    y = volt_rmsnorm_forward(rms, arr(VOLT_F64, (const double[]){3, 4}, VOLT_SHAPE(1, 1, 2)));
    double r = sqrt(12.5 + 1);
    EXPECT(y, 1e-14, 3 / r, 4 / r);
    volt_module_free(&rms->base);
    VT_ASSERT_NO_ERROR();
}

/* --------------------------------------------------------------- errors */

static void test_norm_layer_errors(void **state) {
    (void)state;
    assert_null(volt_layernorm_new(NULL, "ln", VOLT_SHAPE(0), NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "LayerNorm 'ln': normalized_shape [0] has a size 0 (must be >= 1)");
    assert_null(volt_layernorm_new(NULL, "ln", 0, NULL, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "LayerNorm 'ln': normalized_shape needs 1 to 8 dimensions, got 0");
    assert_null(volt_layernorm_new(NULL, "ln", VOLT_SHAPE(4), &(volt_norm_options){.eps = -1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "LayerNorm 'ln': eps -1");
    assert_null(volt_groupnorm_new(NULL, "gn", 4, 6, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "GroupNorm 'gn': num_channels 6 must be divisible by num_groups 4");
    assert_null(volt_groupnorm_new(NULL, "gn", 0, 6, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "GroupNorm 'gn': num_groups 0 (must be >= 1)");
    assert_null(volt_groupnorm_new(NULL, "gn", 2, -4, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "num_channels -4");
    assert_null(volt_rmsnorm_new(NULL, "rms", VOLT_SHAPE(3, -1), NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "RMSNorm 'rms': normalized_shape [3,-1]");

    volt_layernorm *ln = volt_layernorm_new(NULL, "ln", VOLT_SHAPE(4), NULL);
    assert_null(volt_layernorm_forward(ln, volt_zeros(VOLT_SHAPE(2, 5), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "LayerNorm 'ln': input f32[2,5] does not end with the normalized shape [4]");
    assert_null(volt_layernorm_forward(ln, volt_zeros(VOLT_SHAPE(2, 4), VOLT_F64)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "LayerNorm 'ln': input f64[2,4] does not have the parameters' dtype f32");
    volt_module_free(&ln->base);
    volt_groupnorm *gn = volt_groupnorm_new(NULL, "gn", 2, 6, NULL);
    assert_null(volt_groupnorm_forward(gn, volt_zeros(VOLT_SHAPE(2, 5, 3), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "GroupNorm 'gn': input f32[2,5,3] should be [N, 6, *]");
    assert_null(volt_groupnorm_forward(gn, volt_zeros(VOLT_SHAPE(6), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "GroupNorm 'gn': input f32[6]");
    volt_module_free(&gn->base);
    volt_rmsnorm *rms = volt_rmsnorm_new(NULL, "rms", VOLT_SHAPE(2, 3), NULL);
    assert_null(volt_rmsnorm_forward(rms, volt_zeros(VOLT_SHAPE(3, 2), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "RMSNorm 'rms': input f32[3,2] does not end with the normalized shape [2,3]");
    volt_module_free(&rms->base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_layernorm_matches_torch), VT_TEST(test_layernorm_gradcheck_f64),
        VT_TEST(test_groupnorm_matches_torch), VT_TEST(test_rmsnorm_matches_torch),
        VT_TEST(test_norm_layer_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
