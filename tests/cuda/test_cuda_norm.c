/* test_cuda_norm.c (needs a GPU; skipped without one): the CUDA layer norm,
 * RMS norm and group norm against the CPU's f64 results on the same values
 * — rows read by a warp (n <= 1024) and by a block (3000, 1000003
 * elements), one row, weight and bias present or absent, a transposed
 * (non-contiguous) input, group norm with spatial dims and without — in
 * f32, f64, bf16 and f16, forward and the gradients of x, weight and bias
 * (of sum(op(x) * r) on both devices); the weight gradient is the same
 * bits on a second run (no atomics); f64 gradchecks through the device;
 * an integer input refused by name. Tolerances relative to the f64
 * reference: f32 1e-5 (forward) and 1e-4 for the gradients (sums over up
 * to 1000003 elements in f32), f16 2e-3, bf16 1e-2 (one rounding of the
 * result), with an absolute part of the same size for values near 0. */
#include "cuda_test.h"

static volt_generator gen;

static double rtol_of(volt_dtype d) {
    return d == VOLT_BF16 ? 1e-2 : d == VOLT_F16 ? 2e-3 : d == VOLT_F32 ? 1e-5 : 1e-11;
}

/* A CPU f64 tensor of values representable in dtype (randn + offset). */
static volt_tensor *values(int ndim, const int64_t *shape, volt_dtype dtype, double offset) {
    volt_tensor *t = volt_add_scalar(volt_randn(ndim, shape, VOLT_F64, &gen), offset);
    return volt_to_dtype(volt_to_dtype(t, dtype), VOLT_F64);
}

typedef enum { LAYER, RMS, GROUP } norm_kind;

static volt_tensor *run(norm_kind k, const volt_tensor *x, int64_t arg, const volt_tensor *w,
                        const volt_tensor *b) {
    if (k == LAYER) return volt_layer_norm(x, (int)arg, w, b, 1e-5);
    if (k == RMS) return volt_rms_norm(x, (int)arg, w, 1e-6);
    return volt_group_norm(x, arg, w, b, 1e-5);
}

static volt_tensor *gpu_leaf(const volt_tensor *t64, volt_dtype dtype) {
    return volt_requires_grad(
        volt_to_device(volt_to_dtype(volt_tensor_detach(t64), dtype), VT_CUDA0), true);
}

/* The op on CUDA in dtype against the CPU in f64: forward, then the x,
 * weight and bias gradients. transposed: x is the transpose of a leaf of
 * the last two dims swapped (a strided input). */
static void check(const char *what, norm_kind k, int ndim, const int64_t *shape, int64_t arg,
                  bool affine, bool transposed, volt_dtype dtype) {
    volt_scope_begin();
    char name[200];
    snprintf(name, sizeof name, "%s %s", what, volt_dtype_name(dtype));
    int64_t leaf_shape[VOLT_MAX_DIMS];
    for (int d = 0; d < ndim; d++) leaf_shape[d] = shape[d];
    if (transposed) leaf_shape[ndim - 1] = shape[ndim - 2], leaf_shape[ndim - 2] = shape[ndim - 1];
    volt_tensor *x64 = volt_requires_grad(values(ndim, leaf_shape, dtype, 0.5), true);
    volt_tensor *xg = gpu_leaf(x64, dtype);
    volt_tensor *xin64 = transposed ? volt_transpose(x64, ndim - 2, ndim - 1) : x64;
    volt_tensor *xing = transposed ? volt_transpose(xg, ndim - 2, ndim - 1) : xg;
    int pn = k == GROUP ? 1 : (int)arg;
    const int64_t *pshape = k == GROUP ? shape + 1 : shape + ndim - pn;
    volt_tensor *w64 = NULL, *b64 = NULL, *wg = NULL, *bg = NULL;
    if (affine) {
        w64 = volt_requires_grad(values(pn, pshape, dtype, 1.0), true);
        wg = gpu_leaf(w64, dtype);
        if (k != RMS) {
            b64 = volt_requires_grad(values(pn, pshape, dtype, 0.0), true);
            bg = gpu_leaf(b64, dtype);
        }
    }
    volt_tensor *want = run(k, xin64, arg, w64, b64), *got = run(k, xing, arg, wg, bg);
    VT_ASSERT_NO_ERROR();
    double rtol = rtol_of(dtype), gtol = dtype == VOLT_F32 ? 1e-4 : rtol * 4;
    VT_ASSERT_SAME_VALUES(got, want, rtol, rtol, name);
    volt_tensor *r = values(ndim, shape, dtype, 0.0);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(want, r))), VOLT_OK);
    volt_tensor *rg = volt_to_device(volt_to_dtype(r, dtype), VT_CUDA0);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(got, rg))), VOLT_OK);
    VT_ASSERT_NO_ERROR();
    char gname[240];
    snprintf(gname, sizeof gname, "%s: x gradient", name);
    VT_ASSERT_SAME_VALUES(xg->grad, x64->grad, gtol, gtol, gname);
    if (wg) {
        snprintf(gname, sizeof gname, "%s: weight gradient", name);
        VT_ASSERT_SAME_VALUES(wg->grad, w64->grad, gtol, gtol, gname);
    }
    if (bg) {
        snprintf(gname, sizeof gname, "%s: bias gradient", name);
        VT_ASSERT_SAME_VALUES(bg->grad, b64->grad, gtol, gtol, gname);
    }
    volt_scope_end();
}

static const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};

static void test_layer_norm(void **state) {
    (void)state;
    const int64_t rows[] = {37, 10}, wide[] = {5, 3000}, one[] = {1, 7}, cube[] = {3, 4, 6};
    for (int i = 0; i < 4; i++) {
        volt_dtype t = dtypes[i];
        check("layer_norm warp rows", LAYER, 2, rows, 1, true, false, t);
        check("layer_norm block rows", LAYER, 2, wide, 1, true, false, t);
        check("layer_norm one row", LAYER, 2, one, 1, true, false, t);
        check("layer_norm no affine", LAYER, 2, rows, 1, false, false, t);
        check("layer_norm last two dims", LAYER, 3, cube, 2, true, false, t);
        check("layer_norm transposed input", LAYER, 3, cube, 1, true, true, t);
        check("rms_norm warp rows", RMS, 2, rows, 1, true, false, t);
        check("rms_norm block rows", RMS, 2, wide, 1, true, false, t);
        check("rms_norm no weight", RMS, 3, cube, 1, false, true, t);
    }
    const int64_t huge[] = {1, 1000003}, many[] = {4099, 33};
    check("layer_norm 1000003 wide", LAYER, 2, huge, 1, true, false, VOLT_F32);
    check("layer_norm 4099 rows", LAYER, 2, many, 1, true, false, VOLT_F32);
}

static void test_group_norm(void **state) {
    (void)state;
    const int64_t image[] = {3, 6, 5, 7}, flat[] = {4, 6}, big[] = {2, 4, 1000};
    for (int i = 0; i < 4; i++) {
        volt_dtype t = dtypes[i];
        check("group_norm 3 groups", GROUP, 4, image, 3, true, false, t);
        check("group_norm 2 groups no affine", GROUP, 4, image, 2, false, false, t);
        check("group_norm [N, C]", GROUP, 2, flat, 3, true, false, t);
        check("group_norm 1 group transposed", GROUP, 4, image, 1, true, true, t);
        check("group_norm block rows", GROUP, 3, big, 2, true, false, t);
    }
}

/* The weight and bias gradients of layer norm are the same bits twice. */
static void test_affine_gradient_deterministic(void **state) {
    (void)state;
    const int64_t shape[] = {3000, 65};
    volt_tensor *x = volt_to_device(values(2, shape, VOLT_F32, 0.0), VT_CUDA0);
    x = volt_to_dtype(x, VOLT_F32);
    volt_tensor *g[2];
    for (int k = 0; k < 2; k++) {
        volt_tensor *w =
            volt_requires_grad(volt_to_device(volt_ones(VOLT_SHAPE(65), VOLT_F32), VT_CUDA0), true);
        volt_tensor *y = volt_layer_norm(x, 1, w, NULL, 1e-5);
        assert_int_equal(volt_backward(volt_sum_all(volt_mul(y, x))), VOLT_OK);
        g[k] = w->grad;
    }
    VT_ASSERT_SAME_VALUES(g[1], g[0], 0.0, 0.0, "layer_norm weight gradient, second run");
}

typedef struct {
    norm_kind k;
    int64_t arg;
} gc_ctx;

static volt_tensor *gpu_norm(volt_tensor **in, void *ctx) {
    gc_ctx *c = ctx;
    volt_tensor *x = volt_to_device(in[0], VT_CUDA0), *w = volt_to_device(in[1], VT_CUDA0);
    volt_tensor *b = c->k == RMS ? NULL : volt_to_device(in[2], VT_CUDA0);
    return volt_to_device(run(c->k, x, c->arg, w, b), VOLT_DEVICE_CPU);
}

static void test_gradcheck_f64(void **state) {
    (void)state;
    const gc_ctx cases[] = {{LAYER, 1}, {RMS, 1}, {GROUP, 2}};
    for (int i = 0; i < 3; i++) {
        const int64_t xs[] = {3, 4, 5}, ps[] = {i == 2 ? 4 : 5};
        volt_tensor *in[3] = {
            volt_requires_grad(volt_randn(3, xs, VOLT_F64, &gen), true),
            volt_requires_grad(volt_add_scalar(volt_randn(1, ps, VOLT_F64, &gen), 1.0), true),
            volt_requires_grad(volt_randn(1, ps, VOLT_F64, &gen), true),
        };
        gc_ctx c = cases[i];
        if (volt_gradcheck(gpu_norm, &c, c.k == RMS ? 2 : 3, in, NULL) != VOLT_OK)
            fail_msg("gradcheck (kind %d): %s", i, volt_error_message());
    }
}

static void test_refused(void **state) {
    (void)state;
    volt_tensor *x = volt_to_device(volt_zeros(VOLT_SHAPE(2, 3), VOLT_I64), VT_CUDA0);
    assert_null(volt_layer_norm(x, 1, NULL, NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "layer_norm: expected a floating-point tensor, got i64[2,3]");
    volt_tensor *f = volt_to_device(volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32), VT_CUDA0);
    volt_tensor *w = volt_zeros(VOLT_SHAPE(3), VOLT_F32);
    assert_null(volt_rms_norm(f, 1, w, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "rms_norm: tensors on cuda:0 and cpu");
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_norm");
    gen = volt_generator_make(31, 7);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_layer_norm),
        VT_CUDA_TEST(test_group_norm),
        VT_CUDA_TEST(test_affine_gradient_deterministic),
        VT_CUDA_TEST(test_gradcheck_f64),
        VT_CUDA_TEST(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
