/* test_norm.c: layer_norm, group_norm and rms_norm — forward values and
 * gradients against numbers from PyTorch (f32 and f64), precision with a
 * large common offset, thread-count independence, float64 gradchecks
 * (with and without affine parameters, several normalized ranks, strided
 * inputs) and the error paths. */
#include "volt_test.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, rtol, ...)                                                                       \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (rtol), (rtol))

static volt_tensor *arr(volt_dtype dtype, const double *v, int ndim, const int64_t *shape) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, ndim, shape);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

static double tol(volt_dtype d) { return d == VOLT_F32 ? 2e-6 : 1e-12; }

static const volt_dtype floats[2] = {VOLT_F32, VOLT_F64};

/* ------------------------------------------------------------ layer norm */

/* Expected values: Debian's torch 1.13 (/usr/bin/python3), float64:
 *   x = [[1,2,3,4],[-1,0.5,2,8]], w = [0.5,1,1.5,2], b = [0.1,0.2,0.3,0.4]
 *   y = F.layer_norm(x, (4,), w, b, 1e-5); y.backward(g) with
 *   g = [[1,-2,0.5,3],[0.25,1,-1,2]]; also F.layer_norm(x, (4,)). */
static const double ln_x[8] = {1, 2, 3, 4, -1, 0.5, 2, 8};
static const double ln_w[4] = {0.5, 1, 1.5, 2}, ln_b[4] = {0.1, 0.2, 0.3, 0.4};
static const double ln_g[8] = {1, -2, 0.5, 3, 0.25, 1, -1, 2};

static void test_layer_norm_values_match_torch(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = volt_requires_grad(arr(d, ln_x, VOLT_SHAPE(2, 4)), true);
        volt_tensor *w = volt_requires_grad(arr(d, ln_w, VOLT_SHAPE(4)), true);
        volt_tensor *b = volt_requires_grad(arr(d, ln_b, VOLT_SHAPE(4)), true);
        volt_tensor *y = volt_layer_norm(x, 1, w, b, 1e-5);
        assert_int_equal(y->dtype, d);
        VT_ASSERT_SHAPE(y, 2, 4);
        EXPECT(y, tol(d), -0.5708177099844636, -0.2472118066563091, 0.9708177099844633,
               3.0832708399378537, -0.3939389583599884, -0.3488210648444315, 0.13535368054667057,
               3.692926389066589);
        assert_int_equal(volt_backward_ex(y, arr(d, ln_g, VOLT_SHAPE(2, 4)), false), VOLT_OK);
        EXPECT(x->grad, 10 * tol(d), 1.8559083366035027, -2.1019023782913795, -1.363989123295016,
               1.609983164982891, 0.21071164684022092, 0.27154499242299973, -0.6554995787141981,
               0.1732429394509774);
        EXPECT(w->grad, tol(d), -1.5886048991489212, 0.3456025484681867, 0.3333701162970407,
               7.317832648973369);
        EXPECT(b->grad, tol(d), 1.25, -1.0, -0.5, 5.0);
        EXPECT(volt_layer_norm(x, 1, NULL, NULL, 1e-5), tol(d), -1.341635419968927,
               -0.4472118066563091, 0.4472118066563089, 1.3416354199689269, -0.9878779167199767,
               -0.5488210648444315, -0.10976421296888628, 1.6464631945332946);
    }
    VT_ASSERT_NO_ERROR();
}

/* torch: x2 = arange(12).reshape(2,2,3) ** 1.5, w2 = [[1,2,3],[-1,0.5,0.25]],
 * F.layer_norm(x2, (2,3), w2, None, 1e-3). */
static void test_layer_norm_two_dims_weight_only(void **state) {
    (void)state;
    double xv[12], wv[6] = {1, 2, 3, -1, 0.5, 0.25};
    for (int i = 0; i < 12; i++) xv[i] = pow(i, 1.5);
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *y = volt_layer_norm(arr(d, xv, VOLT_SHAPE(2, 2, 3)), 2,
                                         arr(d, wv, VOLT_SHAPE(2, 3)), NULL, 1e-3);
        EXPECT(y, tol(d), -1.1977518103409197, -1.8859108967161093, -1.4312366064658053,
               -0.12620892327318073, 0.4203095427610005, 0.4127395296814319, -1.4035304221917786,
               -1.7811700439243066, -1.0186781733704398, -0.2470762855120931, 0.43363925214660126,
               0.379830011368029);
    }
    VT_ASSERT_NO_ERROR();
}

/* Rows of 1e4 + small values: the statistics are taken in double around the
 * row's first element, so f32 keeps its precision (compare with f64). */
static void test_layer_norm_large_offset_precision(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(5, 0);
    volt_tensor *x64 = volt_add_scalar(volt_randn(VOLT_SHAPE(16, 300), VOLT_F64, &g), 1e4);
    volt_tensor *x32 = volt_to_dtype(x64, VOLT_F32);
    x64 = volt_to_dtype(x32, VOLT_F64);
    volt_tensor *a = volt_layer_norm(x32, 1, NULL, NULL, 1e-5);
    volt_tensor *b = volt_layer_norm(x64, 1, NULL, NULL, 1e-5);
    /* Each output is (x - mean) / std with |x - mean| ~ 1: f32's own rounding
     * of x (ulp(1e4) = 1e-3) is in both, so only the arithmetic may differ. */
    for (int64_t i = 0; i < 16 * 300; i++)
        assert_true(fabs(volt_tensor_get_flat(a, i) - volt_tensor_get_flat(b, i)) < 1e-5);
    /* Mean 0, variance 1 per row (f64). */
    volt_tensor *m = volt_mean(b, VOLT_DIMS(1), false), *v = volt_var(b, VOLT_DIMS(1), 0, false);
    for (int64_t r = 0; r < 16; r++) {
        assert_true(fabs(volt_tensor_get_flat(m, r)) < 1e-10);
        assert_true(fabs(volt_tensor_get_flat(v, r) - 1.0) < 1e-4); /* eps 1e-5 */
    }
    VT_ASSERT_NO_ERROR();
}

static void test_norms_thread_count_independent(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(9, 0);
    volt_tensor *x = volt_requires_grad(volt_randn(VOLT_SHAPE(64, 8, 100), VOLT_F32, &g), true);
    volt_tensor *w = volt_requires_grad(volt_randn(VOLT_SHAPE(100), VOLT_F32, &g), true);
    volt_tensor *wc = volt_requires_grad(volt_randn(VOLT_SHAPE(8), VOLT_F32, &g), true);
    volt_tensor *gy = volt_randn(VOLT_SHAPE(64, 8, 100), VOLT_F32, &g);
    volt_tensor *res[2][6];
    int threads = volt_get_num_threads();
    for (int run = 0; run < 2; run++) {
        volt_set_num_threads(run == 0 ? 1 : (threads > 1 ? threads : 2));
        volt_tensor *y1 = volt_layer_norm(x, 1, w, w, 1e-5);
        volt_tensor *y2 = volt_group_norm(x, 4, wc, wc, 1e-5);
        assert_int_equal(volt_backward_ex(y1, gy, false), VOLT_OK);
        assert_int_equal(volt_backward_ex(y2, gy, false), VOLT_OK);
        res[run][0] = y1;
        res[run][1] = y2;
        res[run][2] = volt_clone(x->grad);
        res[run][3] = volt_clone(w->grad);
        res[run][4] = volt_clone(wc->grad);
        res[run][5] = volt_rms_norm(x, 2, NULL, NAN);
        volt_tensor_clear_grad(x);
        volt_tensor_clear_grad(w);
        volt_tensor_clear_grad(wc);
    }
    volt_set_num_threads(threads);
    for (int k = 0; k < 6; k++) {
        int64_t n = volt_tensor_numel(res[0][k]);
        for (int64_t i = 0; i < n; i++)
            assert_true(volt_tensor_get_flat(res[0][k], i) == volt_tensor_get_flat(res[1][k], i));
    }
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------------ group norm */

/* torch: xg = sin(0.7 * arange(24)).reshape(2,4,3) * 3, wg = [1,0.5,2,-1],
 * bg = [0,0.1,0.2,0.3]; yg = F.group_norm(xg, 2, wg, bg, 1e-5);
 * yg.backward(cos(0.3 * arange(24)).reshape(2,4,3)). */
static void test_group_norm_values_match_torch(void **state) {
    (void)state;
    double xv[24], gv[24], wv[4] = {1, 0.5, 2, -1}, bv[4] = {0, 0.1, 0.2, 0.3};
    for (int i = 0; i < 24; i++) {
        xv[i] = sin(0.7 * i) * 3;
        gv[i] = cos(0.3 * i);
    }
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = volt_requires_grad(arr(d, xv, VOLT_SHAPE(2, 4, 3)), true);
        volt_tensor *w = volt_requires_grad(arr(d, wv, VOLT_SHAPE(4)), true);
        volt_tensor *b = volt_requires_grad(arr(d, bv, VOLT_SHAPE(4)), true);
        volt_tensor *y = volt_group_norm(x, 2, w, b, 1e-5);
        VT_ASSERT_SHAPE(y, 2, 4, 3);
        EXPECT(y, 2 * tol(d), -0.8723389669467596, 0.4888826439555449, 1.2099004615761075,
               0.5758042700369008, 0.01774280302688253, -0.7067691423562302, -1.7457018069681163,
               -2.0394743684653394, -1.1089932763932413, 0.09593916376072611, -0.7521422435172163,
               -1.1908816461568583, 1.7155526459319141, 0.9046414599443345, -0.13353200453579236,
               -0.3553492726278036, -0.4306722972762013, -0.15730948076622306, -1.3729660344099577,
               1.284103038369773, 2.6254403560989688, -0.6100970096379229, 0.5234895813283934,
               1.9548961083389216);
        assert_int_equal(volt_backward_ex(y, arr(d, gv, VOLT_SHAPE(2, 4, 3)), false), VOLT_OK);
        VT_ASSERT_CLOSE(
            x->grad,
            ((const double[]){0.3981497104037818,    0.23851203042398628,    0.0790538776366882,
                              -0.2590222867094438,   -0.2452214642889936,    -0.21147186746601881,
                              0.1784737674468267,    -0.010129280308362049,  -0.3948034621516794,
                              0.32480894431033513,   0.035919765259611935,   -0.1342697345567323,
                              0.028643715626336386,  -0.03367064523659449,   -0.104882813324058,
                              -0.052976852774957256, -0.0052871763933223515, 0.16817377210259576,
                              0.9045813610398967,    0.7378945405184948,     0.6878467796937369,
                              -1.244225556180505,    -0.8297480986778176,    -0.2563490263938058}),
            24, 10 * tol(d), 10 * tol(d));
        EXPECT(w->grad, 5 * tol(d), -1.536396820018547, 0.3223694463356412, 2.3866504725998787,
               -3.350653131447399);
        EXPECT(b->grad, 5 * tol(d), 0.6677205621602975, 1.309385851136688, 0.9601340325979697,
               -0.11572808005906898);
    }
    VT_ASSERT_NO_ERROR();
}

/* group_norm with one group per channel and [N, C] inputs. */
static void test_group_norm_shapes(void **state) {
    (void)state;
    /* [N, C] with C groups of one element each: every output is 0 (x - x). */
    volt_tensor *y = volt_group_norm(volt_arange(0, 6, 1, VOLT_F64), 1, NULL, NULL, 1e-5);
    assert_null(y);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "[N, C, *]");
    y = volt_group_norm(volt_reshape(volt_arange(0, 6, 1, VOLT_F64), VOLT_SHAPE(2, 3)), 3, NULL,
                        NULL, 1e-5);
    EXPECT(y, 1e-12, 0, 0, 0, 0, 0, 0);
    /* [N, C] in one group = layer norm over C. */
    volt_tensor *x = volt_reshape(volt_arange(0, 6, 1, VOLT_F64), VOLT_SHAPE(2, 3));
    volt_tensor *a = volt_group_norm(x, 1, NULL, NULL, 1e-5),
                *b = volt_layer_norm(x, 1, NULL, NULL, 1e-5);
    for (int i = 0; i < 6; i++)
        assert_true(fabs(volt_tensor_get_flat(a, i) - volt_tensor_get_flat(b, i)) < 1e-14);
    /* [N, C, H, W] in G groups = layer norm of [N, G, C/G * H * W]. */
    volt_generator g = volt_generator_make(3, 0);
    volt_tensor *x4 = volt_randn(VOLT_SHAPE(2, 6, 3, 2), VOLT_F64, &g);
    a = volt_group_norm(x4, 3, NULL, NULL, 1e-5);
    b = volt_layer_norm(volt_reshape(x4, VOLT_SHAPE(2, 3, 12)), 1, NULL, NULL, 1e-5);
    for (int i = 0; i < 72; i++)
        assert_true(fabs(volt_tensor_get_flat(a, i) - volt_tensor_get_flat(b, i)) < 1e-14);
    VT_ASSERT_NO_ERROR();
}

/* -------------------------------------------------------------- rms norm */

/* torch (1.13 has no rms_norm; the formula torch.nn.RMSNorm computes):
 * x * rsqrt(mean(x^2, -1) + eps) * w for x = [[1,-2,3],[0.5,0.25,-4]],
 * w = [2,0.5,1], eps = finfo(float32).eps and 1e-2. */
static void test_rms_norm_values(void **state) {
    (void)state;
    const double xv[6] = {1, -2, 3, 0.5, 0.25, -4}, wv[3] = {2, 0.5, 1};
    volt_tensor *x = arr(VOLT_F32, xv, VOLT_SHAPE(2, 3)), *w = arr(VOLT_F32, wv, VOLT_SHAPE(3));
    EXPECT(volt_rms_norm(x, 1, w, NAN), 2e-6, 0.925820087947585, -0.4629100439737925,
           1.3887301319213774, 0.428845009234216, 0.053605626154277, -1.715380036936864);
    EXPECT(volt_rms_norm(x, 1, w, 1e-2), 2e-6, 0.924829741029713, -0.4624148705148565,
           1.3872446115445696, 0.42845121677774417, 0.05355640209721802, -1.7138048671109767);
    volt_tensor *x64 = arr(VOLT_F64, xv, VOLT_SHAPE(2, 3)), *w64 = arr(VOLT_F64, wv, VOLT_SHAPE(3));
    EXPECT(volt_rms_norm(x64, 1, w64, 1e-2), 1e-13, 0.924829741029713, -0.4624148705148565,
           1.3872446115445696, 0.42845121677774417, 0.05355640209721802, -1.7138048671109767);
    /* Default eps of f64 is DBL_EPSILON: x / rms(x) per row, rms = sqrt(14/3). */
    volt_tensor *y = volt_rms_norm(x64, 2, NULL, NAN);
    double rms = sqrt((1 + 4 + 9 + 0.25 + 0.0625 + 16) / 6.0 + DBL_EPSILON);
    EXPECT(y, 1e-14, 1 / rms, -2 / rms, 3 / rms, 0.5 / rms, 0.25 / rms, -4 / rms);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------------- gradients */

typedef struct {
    int kind; /* 0 layer, 1 group, 2 rms */
    int k;    /* normalized_ndim or num_groups */
    int n_params;
} norm_ctx;

static volt_tensor *norm_fn(volt_tensor **in, void *vctx) {
    norm_ctx *c = vctx;
    volt_tensor *w = c->n_params > 0 ? in[1] : NULL, *b = c->n_params > 1 ? in[2] : NULL;
    if (c->kind == 0) return volt_layer_norm(in[0], c->k, w, b, 1e-5);
    if (c->kind == 1) return volt_group_norm(in[0], c->k, w, b, 1e-5);
    return volt_rms_norm(in[0], c->k, w, 1e-3);
}

static void test_layer_norm_gradcheck(void **state) {
    (void)state;
    norm_ctx c = {0, 1, 2};
    VT_GRADCHECK(norm_fn, &c, 3, vt_leaf(VOLT_SHAPE(3, 5), 1, 1.0, 0.3),
                 vt_leaf(VOLT_SHAPE(5), 2, 1.0, 1.0), vt_leaf(VOLT_SHAPE(5), 3, 1.0, 0.0));
    /* Strided input, two normalized dims. */
    c = (norm_ctx){0, 2, 2};
    VT_GRADCHECK(norm_fn, &c, 3, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 4, 1.0, 0.0),
                 vt_leaf_strided(VOLT_SHAPE(3, 4), 5, 1.0, 1.0),
                 vt_leaf(VOLT_SHAPE(3, 4), 6, 1.0, 0.0));
    c = (norm_ctx){0, 1, 0};
    VT_GRADCHECK(norm_fn, &c, 1, vt_leaf(VOLT_SHAPE(4, 6), 7, 2.0, 5.0));
    /* Weight only (as an input not requiring grad, the others are checked). */
    c = (norm_ctx){0, 3, 1};
    VT_GRADCHECK(norm_fn, &c, 2, vt_leaf(VOLT_SHAPE(2, 2, 3), 8, 1.0, 0.0),
                 vt_leaf(VOLT_SHAPE(2, 2, 3), 9, 1.0, 0.0));
}

static void test_group_norm_gradcheck(void **state) {
    (void)state;
    norm_ctx c = {1, 2, 2};
    VT_GRADCHECK(norm_fn, &c, 3, vt_leaf(VOLT_SHAPE(2, 4, 3), 11, 1.0, 0.0),
                 vt_leaf(VOLT_SHAPE(4), 12, 1.0, 1.0), vt_leaf(VOLT_SHAPE(4), 13, 1.0, 0.0));
    c = (norm_ctx){1, 3, 2};
    VT_GRADCHECK(norm_fn, &c, 3, vt_leaf_strided(VOLT_SHAPE(2, 6, 2, 2), 14, 1.0, 0.0),
                 vt_leaf_strided(VOLT_SHAPE(6), 15, 1.0, 1.0),
                 vt_leaf(VOLT_SHAPE(6), 16, 1.0, 0.0));
    c = (norm_ctx){1, 1, 0};
    VT_GRADCHECK(norm_fn, &c, 1, vt_leaf(VOLT_SHAPE(3, 4), 17, 1.0, 2.0));
}

static void test_rms_norm_gradcheck(void **state) {
    (void)state;
    norm_ctx c = {2, 1, 1};
    VT_GRADCHECK(norm_fn, &c, 2, vt_leaf(VOLT_SHAPE(3, 5), 21, 1.0, 0.5),
                 vt_leaf(VOLT_SHAPE(5), 22, 1.0, 1.0));
    c = (norm_ctx){2, 2, 0};
    VT_GRADCHECK(norm_fn, &c, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 23, 1.0, 0.0));
}

/* Parameters that do not require grad get none; the input alone does. */
static void test_norm_partial_gradients(void **state) {
    (void)state;
    volt_tensor *x = vt_leaf(VOLT_SHAPE(2, 3), 31, 1.0, 0.0);
    volt_tensor *w = volt_ones(VOLT_SHAPE(3), VOLT_F64);
    volt_tensor *y = volt_layer_norm(x, 1, w, NULL, 1e-5);
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    assert_null(w->grad);
    /* sum of a layer norm (w = 1, b = 0) is constant: gradient 0. */
    for (int i = 0; i < 6; i++) assert_true(fabs(volt_tensor_get_flat(x->grad, i)) < 1e-12);
    /* No grad mode: no node. */
    VOLT_NO_GRAD { y = volt_group_norm(volt_reshape(x, VOLT_SHAPE(2, 3, 1)), 3, NULL, NULL, 1e-5); }
    assert_null(y->grad_fn);
    assert_false(y->requires_grad);
    VT_ASSERT_NO_ERROR();
}

/* ---------------------------------------------------------------- errors */

static void test_norm_errors(void **state) {
    (void)state;
    volt_tensor *x = volt_zeros(VOLT_SHAPE(2, 4), VOLT_F32);
    assert_null(volt_layer_norm(NULL, 1, NULL, NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "layer_norm: argument 'x' is NULL");
    assert_null(volt_layer_norm(x, 3, NULL, NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "layer_norm: normalized_ndim 3 for f32[2,4] (expected 1..2)");
    assert_null(volt_layer_norm(x, 0, NULL, NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "normalized_ndim 0");
    assert_null(volt_layer_norm(x, 1, volt_ones(VOLT_SHAPE(3), VOLT_F32), NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "layer_norm: weight f32[3] should have shape [4] for input f32[2,4]");
    assert_null(volt_layer_norm(x, 1, NULL, volt_ones(VOLT_SHAPE(4), VOLT_F64), 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "layer_norm: bias f64[4] and input f32[2,4]: dtypes differ");
    assert_null(volt_layer_norm(x, 1, NULL, NULL, -1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "layer_norm: eps -1");
    assert_null(volt_layer_norm(volt_zeros(VOLT_SHAPE(2, 4), VOLT_I64), 1, NULL, NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "layer_norm: i64[2,4] is not supported");
    assert_null(volt_rms_norm(volt_zeros(VOLT_SHAPE(2, 4), VOLT_F16), 1, NULL, NAN));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "rms_norm: f16[2,4] is not supported");
    assert_null(volt_rms_norm(x, 1, volt_ones(VOLT_SHAPE(2, 4), VOLT_F32), NAN));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "rms_norm: weight f32[2,4] should have shape [4]");
    assert_null(volt_rms_norm(x, 1, NULL, -INFINITY));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "rms_norm: eps -inf");
    volt_tensor *x3 = volt_zeros(VOLT_SHAPE(2, 6, 5), VOLT_F32);
    assert_null(volt_group_norm(x3, 4, NULL, NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "group_norm: num_groups 4 does not divide the 6 channels of f32[2,6,5]");
    assert_null(volt_group_norm(x3, 0, NULL, NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "num_groups 0");
    assert_null(volt_group_norm(x3, 3, volt_ones(VOLT_SHAPE(3), VOLT_F32), NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "group_norm: weight f32[3] should have shape [6]");
    assert_null(volt_group_norm(NULL, 3, NULL, NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "group_norm: argument 'x' is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_layer_norm_values_match_torch),
        VT_TEST(test_layer_norm_two_dims_weight_only),
        VT_TEST(test_layer_norm_large_offset_precision),
        VT_TEST(test_norms_thread_count_independent),
        VT_TEST(test_group_norm_values_match_torch),
        VT_TEST(test_group_norm_shapes),
        VT_TEST(test_rms_norm_values),
        VT_TEST(test_layer_norm_gradcheck),
        VT_TEST(test_group_norm_gradcheck),
        VT_TEST(test_rms_norm_gradcheck),
        VT_TEST(test_norm_partial_gradients),
        VT_TEST(test_norm_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
