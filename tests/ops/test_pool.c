/* test_pool.c: max_pool2d, avg_pool2d and adaptive_avg_pool2d — values,
 * indices and gradients against numbers from PyTorch (ceil_mode, padding,
 * dilation, count_include_pad), ties, float64 gradchecks, oneDNN's f32
 * results held to the reference kernels, primitive reuse, the adaptive
 * pool as two products (CUDA's route for unequal windows) against the
 * reference kernel, and the error paths. */
#include "volt_test.h"

#include <math.h>
#include <stdlib.h>

#include "ops/conv_impl.h"
#include "ops/cpu/dnnl_common.h"

/* x[i] = ((7 i) % 11 - 5) / 4 + ((3 i) % 13 - 6) / 100 (few ties). */
static volt_tensor *px(volt_dtype d, int ndim, const int64_t *shape) {
    volt_tensor *t = volt_empty(ndim, shape, VOLT_F64);
    double *p = volt_tensor_data(t);
    for (int64_t i = 0; i < volt_tensor_numel(t); i++)
        p[i] = (double)((i * 7) % 11 - 5) * 0.25 + (double)((i * 3) % 13 - 6) * 0.01;
    return volt_requires_grad(d == VOLT_F64 ? t : volt_to_dtype(t, d), true);
}
#define PX(d, ...) px(d, VOLT_SHAPE(__VA_ARGS__))

/* Backward with the upstream gradient ((3 i) % 8 - 4) / 2. */
static void backward_pattern(volt_tensor *y) {
    assert_non_null(y);
    volt_tensor *gy = volt_empty(y->ndim, y->shape, VOLT_F64);
    double *p = volt_tensor_data(gy);
    for (int64_t i = 0; i < volt_tensor_numel(gy); i++) p[i] = (double)((i * 3) % 8 - 4) * 0.5;
    assert_int_equal(volt_backward_ex(y, volt_to_dtype(gy, y->dtype), false), VOLT_OK);
}

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, tol, ...)                                                                        \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (tol), (tol))

static const volt_dtype dtypes[2] = {VOLT_F32, VOLT_F64};

/* Expected numbers: Debian's torch 1.13, float64, the same inputs, e.g.
 *   y, idx = F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
 *   y.backward(gy); print(y, x.grad, idx) */
static void test_max_pool_torch_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = dtypes[k];
        double tol = d == VOLT_F32 ? 1e-6 : 1e-12;
        volt_tensor *x = PX(d, 1, 1, 5, 6), *idx = NULL;
        volt_tensor *y = volt_max_pool2d(x, (int64_t[]){3, 3}, (int64_t[]){2, 2}, (int64_t[]){1, 1},
                                         NULL, true, &idx);
        VT_ASSERT_SHAPE(y, 1, 1, 3, 4);
        EXPECT(y, tol, 0.99, 1.28, 1.28, -0.79, 0.99, 1.22, 1.06, 1.06, 1.29, 1.29, 1, 0.48);
        assert_int_equal(idx->dtype, VOLT_I64);
        EXPECT(idx, 0, 6, 3, 3, 5, 6, 14, 17, 17, 25, 25, 28, 23);
        backward_pattern(y);
        EXPECT(x->grad, tol, 0, 0, 0, 0.5, 0, -1.5, -2, 0, 0, 0, 0, 0, 0, 0, 1.5, 0, 0, -0.5, 0, 0,
               0, 0, 0, -1.5, 0, -2.5, 0, 0, 1, 0);
        /* kernel 2, stride 1, dilation 2 (no indices: oneDNN for f32). */
        x = PX(d, 1, 2, 5, 5);
        y = volt_max_pool2d(x, (int64_t[]){2, 2}, (int64_t[]){1, 1}, NULL, (int64_t[]){2, 2}, false,
                            NULL);
        EXPECT(y, tol, 0.54, 1.28, 1.22, 1.06, 0.99, 1.06, 0.77, 0.48, 1.22, 1.29, 1.23, 0.94, 0.78,
               0.71, 0.78, 1.3, 1.23, 1.3);
        backward_pattern(y);
        EXPECT(x->grad, tol, 0, 0, 0, -0.5, 0, 0, 0, 0, 0, 0, 0, 0, -2, 0, -1, 0, 0, 0, 0, 0, -1, 0,
               0, 0.5, 0, -0.5, 0, 0, 0, 0, 0, 1.5, 0, 0, 0, 0, -1, 0, 0, -1.5, 0, 0, -1, 0, 0, 0,
               0, 0, 0, 0);
    }
    VT_ASSERT_NO_ERROR();
}

/* F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True / False)
 * and F.adaptive_avg_pool2d(x, (3, 2)), as above. */
static void test_avg_pool_torch_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = dtypes[k];
        double tol = d == VOLT_F32 ? 1e-6 : 1e-9;
        volt_tensor *x = PX(d, 1, 1, 5, 6);
        volt_tensor *y =
            volt_avg_pool2d(x, (int64_t[]){3, 3}, (int64_t[]){2, 2}, (int64_t[]){1, 1}, true, true);
        EXPECT(y, tol, 0.01888888889, 0.1133333333, -0.001111111111, -0.3383333333, -0.006666666667,
               0.02666666667, -0.1377777778, 0.05, -0.02777777778, 0.02888888889, -0.08555555556,
               0.085);
        backward_pattern(y);
        EXPECT(x->grad, tol, -0.2222222222, -0.2777777778, -0.05555555556, 0.05555555556,
               0.1111111111, -0.1388888889, -0.2222222222, -0.1111111111, 0.1111111111,
               0.1111111111, 0, -0.1666666667, 0, 0.1666666667, 0.1666666667, 0.05555555556,
               -0.1111111111, -0.02777777778, -0.2222222222, -0.1111111111, 0.1111111111,
               0.1111111111, 0, -0.1666666667, -0.2222222222, -0.2777777778, -0.05555555556,
               0.05555555556, 0.1111111111, -0.1388888889);
        x = PX(d, 1, 1, 5, 6);
        y = volt_avg_pool2d(x, (int64_t[]){3, 3}, (int64_t[]){2, 2}, (int64_t[]){1, 1}, true,
                            false);
        EXPECT(y, tol, 0.0425, 0.17, -0.001666666667, -1.015, -0.01, 0.02666666667, -0.1377777778,
               0.1, -0.0625, 0.04333333333, -0.1283333333, 0.255);
        backward_pattern(y);
        EXPECT(x->grad, tol, -0.5, -0.5833333333, -0.08333333333, 0.08333333333, 0.1666666667,
               -0.5833333333, -0.5, -0.4166666667, 0.08333333333, 0.1388888889, 0.05555555556,
               -0.5277777778, 0, 0.1666666667, 0.1666666667, 0.05555555556, -0.1111111111,
               0.05555555556, -0.5, -0.4166666667, 0.08333333333, 0.1388888889, 0.05555555556,
               -0.5277777778, -0.5, -0.5833333333, -0.08333333333, 0.08333333333, 0.1666666667,
               -0.5833333333);
        x = PX(d, 1, 1, 5, 7);
        y = volt_adaptive_avg_pool2d(x, 3, 2);
        VT_ASSERT_SHAPE(y, 1, 1, 3, 2);
        EXPECT(y, tol, -0.07, 0.0325, -0.01666666667, -0.045, -0.08875, -0.0025);
        backward_pattern(y);
        EXPECT(x->grad, tol, -0.25, -0.25, -0.25, -0.3125, -0.0625, -0.0625, -0.0625, -0.1666666667,
               -0.1666666667, -0.1666666667, -0.3541666667, -0.1875, -0.1875, -0.1875,
               0.08333333333, 0.08333333333, 0.08333333333, -0.04166666667, -0.125, -0.125, -0.125,
               0.08333333333, 0.08333333333, 0.08333333333, 0.1458333333, 0.0625, 0.0625, 0.0625, 0,
               0, 0, 0.1875, 0.1875, 0.1875, 0.1875);
    }
    VT_ASSERT_NO_ERROR();
}

/* Equal values: each window's gradient goes to its first element. */
static void test_max_pool_ties(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_tensor *x = volt_requires_grad(volt_ones(VOLT_SHAPE(1, 1, 4, 4), dtypes[k]), true);
        volt_tensor *y = volt_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
        assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
        EXPECT(x->grad, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_shapes(void **state) {
    (void)state;
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 3, 28, 28), VOLT_F32, NULL);
    VT_ASSERT_SHAPE(volt_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL), 2, 3, 14,
                    14);
    /* (7 + 2 - 3 + 1) / 2 + 1 = 4 with ceil_mode, 3 without. */
    volt_tensor *x7 = volt_randn(VOLT_SHAPE(3, 7, 7), VOLT_F32, NULL);
    VT_ASSERT_SHAPE(
        volt_avg_pool2d(x7, (int64_t[]){3, 3}, (int64_t[]){2, 2}, (int64_t[]){1, 1}, true, true), 3,
        4, 4);
    VT_ASSERT_SHAPE(volt_avg_pool2d(x7, (int64_t[]){3, 3}, (int64_t[]){3, 3}, NULL, false, true), 3,
                    2, 2);
    VT_ASSERT_SHAPE(volt_adaptive_avg_pool2d(x, 1, 1), 2, 3, 1, 1);
    VT_ASSERT_SHAPE(volt_adaptive_avg_pool2d(x, 5, 3), 2, 3, 5, 3);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------------ gradcheck */

typedef struct {
    int kind; /* 0 max, 1 avg, 2 adaptive */
    int64_t kernel[2], stride[2], padding[2], dilation[2];
    bool ceil_mode, include_pad;
} pool_case;

static volt_tensor *pool_fn(volt_tensor **in, void *ctx) {
    const pool_case *c = ctx;
    if (c->kind == 0)
        return volt_max_pool2d(in[0], c->kernel, c->stride, c->padding, c->dilation, c->ceil_mode,
                               NULL);
    if (c->kind == 1)
        return volt_avg_pool2d(in[0], c->kernel, c->stride, c->padding, c->ceil_mode,
                               c->include_pad);
    return volt_adaptive_avg_pool2d(in[0], c->kernel[0], c->kernel[1]);
}

static void check_case(pool_case c, int nd, const int64_t *shape, bool strided) {
    volt_scope_begin();
    volt_tensor *x =
        strided ? vt_leaf_strided(nd, shape, 5, 1.0, 0.0) : vt_leaf(nd, shape, 5, 1.0, 0.0);
    VT_GRADCHECK(pool_fn, &c, 1, x);
    volt_scope_end();
}

static void test_gradcheck(void **state) {
    (void)state;
    check_case((pool_case){0, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, false}, 4,
               (int64_t[]){2, 2, 5, 6}, false);
    check_case((pool_case){0, {2, 3}, {1, 2}, {0, 1}, {2, 1}, false, false}, 3,
               (int64_t[]){2, 6, 7}, true);
    check_case((pool_case){1, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, true}, 4,
               (int64_t[]){1, 2, 5, 6}, true);
    check_case((pool_case){1, {2, 3}, {2, 1}, {1, 0}, {1, 1}, true, false}, 3, (int64_t[]){2, 5, 4},
               false);
    check_case((pool_case){2, {3, 2}, {0}, {0}, {0}, false, false}, 4, (int64_t[]){1, 2, 5, 7},
               true);
    check_case((pool_case){2, {2, 2}, {0}, {0}, {0}, false, false}, 3, (int64_t[]){2, 4, 6}, false);
    VT_ASSERT_NO_ERROR();
}

/* volt_adaptive_avg_pool2d_by_products against the reference kernel, f64:
 * values and the gradient of sum(y * w), unequal windows (4-D, 3-D,
 * upsampling 3 -> 5) and a strided input. */
static void check_products(int nd, const int64_t *shape, int64_t oh, int64_t ow, bool strided) {
    volt_scope_begin();
    volt_tensor *a =
        strided ? vt_leaf_strided(nd, shape, 9, 1.0, 0.0) : vt_leaf(nd, shape, 9, 1.0, 0.0);
    volt_tensor *b = NULL;
    VOLT_NO_GRAD { b = volt_requires_grad(volt_clone(a), true); }
    volt_tensor *want = volt_adaptive_avg_pool2d(a, oh, ow);
    volt_tensor *got = volt_adaptive_avg_pool2d_by_products(b, oh, ow);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(got->ndim, want->ndim);
    VT_ASSERT_CLOSE(got, volt_tensor_data(want), volt_tensor_numel(want), 1e-14, 1e-14);
    volt_tensor *w = vt_leaf(want->ndim, want->shape, 4, 1.0, 0.0);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(want, w))), VOLT_OK);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(got, w))), VOLT_OK);
    VT_ASSERT_CLOSE(b->grad, volt_tensor_data(volt_contiguous(a->grad)), volt_tensor_numel(a),
                    1e-14, 1e-14);
    volt_scope_end();
}

static void test_adaptive_by_products(void **state) {
    (void)state;
    check_products(4, (int64_t[]){2, 3, 7, 10}, 3, 4, false);
    check_products(3, (int64_t[]){2, 5, 7}, 2, 3, true);
    check_products(4, (int64_t[]){1, 2, 3, 3}, 5, 5, false);
    check_products(4, (int64_t[]){1, 1, 9, 6}, 9, 1, false);
    /* f32 under bf16 autocast: f32 products all the same (bf16 would be off
     * by about 1e-3) */
    volt_scope_begin();
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 3, 7, 10), VOLT_F32, NULL);
    volt_tensor *want = volt_to_dtype(volt_adaptive_avg_pool2d(x, 3, 4), VOLT_F64);
    volt_autocast_mode mode = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *got = volt_adaptive_avg_pool2d_by_products(x, 3, 4);
    volt_autocast_set(mode);
    VT_ASSERT_CLOSE(got, volt_tensor_data(want), volt_tensor_numel(want), 1e-5, 1e-6);
    volt_scope_end();
}

/* ---------------------------------------------- oneDNN vs reference */

static double *run_f32(const pool_case *c, const int64_t *shape, double **gx, int64_t *n,
                       int64_t *nx) {
    volt_scope_begin();
    volt_generator gen = volt_generator_make(11, 0);
    volt_tensor *x = volt_requires_grad(volt_randn(4, shape, VOLT_F32, &gen), true);
    volt_tensor *y = pool_fn(&x, (void *)c);
    assert_non_null(y);
    volt_tensor *gy = volt_randn(y->ndim, y->shape, VOLT_F32, &gen);
    assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);
    *n = volt_tensor_numel(y);
    *nx = volt_tensor_numel(x);
    double *out = malloc((size_t)*n * sizeof *out);
    *gx = malloc((size_t)*nx * sizeof **gx);
    volt_tensor_copy_to_array(y, VOLT_F64, out);
    volt_tensor_copy_to_array(x->grad, VOLT_F64, *gx);
    volt_scope_end();
    return out;
}

static void compare_case(pool_case c, const int64_t *shape) {
    double *gx_fast, *gx_ref;
    int64_t n, nx;
    double *fast = run_f32(&c, shape, &gx_fast, &n, &nx);
    volt_set_fast_kernels(false);
    double *ref = run_f32(&c, shape, &gx_ref, &n, &nx);
    volt_set_fast_kernels(true);
    for (int64_t i = 0; i < n; i++)
        assert_true(fabs(fast[i] - ref[i]) <= 1e-4 * (1 + fabs(ref[i])));
    for (int64_t i = 0; i < nx; i++)
        assert_true(fabs(gx_fast[i] - gx_ref[i]) <= 1e-4 * (1 + fabs(gx_ref[i])));
    free(fast);
    free(ref);
    free(gx_fast);
    free(gx_ref);
}

static void test_onednn_matches_reference(void **state) {
    (void)state;
    compare_case((pool_case){0, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false, false},
                 (int64_t[]){4, 32, 28, 28});
    compare_case((pool_case){0, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, false},
                 (int64_t[]){2, 3, 11, 13});
    compare_case((pool_case){0, {3, 2}, {1, 2}, {1, 0}, {2, 1}, false, false},
                 (int64_t[]){2, 5, 9, 8});
    compare_case((pool_case){1, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false, true},
                 (int64_t[]){2, 3, 11, 13});
    compare_case((pool_case){1, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, false},
                 (int64_t[]){2, 3, 11, 13});
    compare_case((pool_case){2, {7, 7}, {0}, {0}, {0}, false, false}, (int64_t[]){2, 16, 14, 14});
    compare_case((pool_case){2, {1, 1}, {0}, {0}, {0}, false, false}, (int64_t[]){2, 16, 7, 7});
    VT_ASSERT_NO_ERROR();
}

static void test_primitive_reuse(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(volt_randn(VOLT_SHAPE(2, 4, 8, 8), VOLT_F32, NULL), true);
    for (int step = 0; step < 2; step++) {
        int64_t before = volt_dnnl_primitives_created();
        volt_scope_begin();
        volt_tensor *y = volt_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
        y = volt_avg_pool2d(y, (int64_t[]){2, 2}, NULL, NULL, false, true);
        assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
        volt_scope_end();
        volt_tensor_clear_grad(x);
        if (step == 1) assert_int_equal(volt_dnnl_primitives_created(), before);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_errors(void **state) {
    (void)state;
    volt_tensor *x = volt_randn(VOLT_SHAPE(1, 2, 5, 5), VOLT_F32, NULL);
    int64_t k2[2] = {2, 2};
    assert_null(volt_max_pool2d(NULL, k2, NULL, NULL, NULL, false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "max_pool2d: argument 'x' is NULL");
    assert_null(volt_max_pool2d(volt_randn(VOLT_SHAPE(5, 5), VOLT_F32, NULL), k2, NULL, NULL, NULL,
                                false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "max_pool2d: input [5,5]: expected a 3-D or 4-D input");
    assert_null(volt_max_pool2d(x, (int64_t[]){0, 2}, NULL, NULL, NULL, false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "kernel_size 0 is invalid");
    assert_null(volt_avg_pool2d(x, k2, (int64_t[]){1, 0}, NULL, false, true));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "avg_pool2d: input [1,2,5,5]: stride 0 is invalid");
    assert_null(volt_avg_pool2d(x, k2, NULL, (int64_t[]){2, 0}, false, true));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "padding 2 should be at most half");
    assert_null(volt_max_pool2d(x, (int64_t[]){7, 7}, NULL, NULL, NULL, false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "kernel 7 (dilated: 7) larger than the padded input (5)");
    assert_null(volt_max_pool2d(volt_zeros(VOLT_SHAPE(1, 2, 5, 5), VOLT_I32), k2, NULL, NULL, NULL,
                                false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "(f32 and f64 are)");
    assert_null(volt_adaptive_avg_pool2d(x, 0, 2));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "adaptive_avg_pool2d: input [1,2,5,5]: output size 0x2");
    assert_null(volt_max_pool2d(x, NULL, NULL, NULL, NULL, false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "argument 'kernel' is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_max_pool_torch_values),
        VT_TEST(test_avg_pool_torch_values),
        VT_TEST(test_max_pool_ties),
        VT_TEST(test_shapes),
        VT_TEST(test_gradcheck),
        VT_TEST(test_adaptive_by_products),
        VT_TEST(test_onednn_matches_reference),
        VT_TEST(test_primitive_reuse),
        VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
