/* test_cuda_nn.c (needs a GPU; skipped without one): the fused CUDA
 * cross-entropy and NLL against the CPU's f64 results on the same values —
 * [N, C] rows (warp and block per row), [N, C, d] (class dim strided),
 * reductions none / sum / mean, class weights, label smoothing,
 * ignore_index, forward and gradient, in f32, f64, bf16 and f16 (tolerances
 * relative: f32 2e-5, f16 2e-3, bf16 1e-2); probability targets (composed
 * on the device) likewise, with the target's gradient. The pointwise losses (mse, l1, smooth_l1,
 * bce, bce_with_logits with weight and pos_weight, kl_div) likewise, every reduction, gradients of
 * input and target. Under autocast, bf16 and f16 logits give an f32 loss
 * and a 16-bit gradient. */
#include "cuda_test.h"

static volt_generator gen;

static double rtol_of(volt_dtype d) {
    return d == VOLT_BF16 ? 1e-2 : d == VOLT_F16 ? 2e-3 : d == VOLT_F32 ? 2e-5 : 1e-11;
}

/* Class indices in [0, C) for shape, every 5th one ignore (-100) when asked. */
static volt_tensor *targets(int ndim, const int64_t *shape, int64_t C, bool ignore) {
    volt_tensor *t = volt_randint(0, C, ndim, shape, VOLT_I64, &gen);
    if (ignore)
        for (int64_t i = 0; i < volt_tensor_numel(t); i += 5)
            ((int64_t *)volt_tensor_data(t))[i] = -100;
    return t;
}

/* Backward of sum(want * g) on the CPU and of sum(got * g) on the GPU, for
 * one random g whose values dtype holds exactly. */
static void backward_both(const volt_tensor *want, const volt_tensor *got, volt_dtype dtype) {
    volt_tensor *gw = volt_randn(want->ndim, want->shape, VOLT_F64, &gen);
    gw = volt_to_dtype(volt_to_dtype(gw, dtype), VOLT_F64);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(want, gw))), VOLT_OK);
    volt_tensor *gwg = volt_to_device(volt_to_dtype(gw, dtype), VT_CUDA0);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(got, gwg))), VOLT_OK);
    VT_ASSERT_NO_ERROR();
}

/* autocast (bf16 / f16 dtype): the GPU side runs under autocast to that
 * dtype, where the loss is f32 (cross-entropy reads the 16-bit logits as
 * they are; NLL widens them) and the logits' gradient 16-bit. */
static void check_ce_ex(const char *what, int ndim, const int64_t *shape, volt_dtype dtype,
                        volt_reduction red, bool weighted, double smoothing, bool ignore, bool nll,
                        bool autocast) {
    volt_scope_begin();
    char name[160];
    snprintf(name, sizeof name, "%s %s%s", what, volt_dtype_name(dtype),
             autocast ? " autocast" : "");
    int64_t C = shape[ndim == 1 ? 0 : 1], tshape[VOLT_MAX_DIMS];
    int tn = 0;
    for (int d = 0; d < ndim; d++)
        if (d != (ndim == 1 ? 0 : 1)) tshape[tn++] = shape[d];
    volt_tensor *x64 =
        volt_to_dtype(volt_to_dtype(volt_randn(ndim, shape, VOLT_F64, &gen), dtype), VOLT_F64);
    volt_tensor *xg = volt_requires_grad(volt_to_device(volt_to_dtype(x64, dtype), VT_CUDA0), true);
    x64 = volt_requires_grad(x64, true);
    volt_tensor *t = targets(tn, tshape, C, ignore), *tg = volt_to_device(t, VT_CUDA0);
    volt_tensor *w64 = NULL, *wg = NULL;
    if (weighted) {
        w64 = volt_add_scalar(volt_rand(VOLT_SHAPE(C), VOLT_F64, &gen), 0.5);
        w64 = volt_to_dtype(volt_to_dtype(w64, dtype), VOLT_F64);
        wg = volt_to_device(volt_to_dtype(w64, dtype == VOLT_F64 ? VOLT_F64 : VOLT_F32), VT_CUDA0);
    }
    volt_tensor *want, *got;
    volt_autocast_mode prev = volt_autocast_set(!autocast            ? VOLT_AUTOCAST_OFF
                                                : dtype == VOLT_BF16 ? VOLT_AUTOCAST_BF16
                                                                     : VOLT_AUTOCAST_F16);
    if (nll) {
        want = volt_nll_loss(x64, t, w64, -100, red);
        got = volt_nll_loss(xg, tg, wg, -100, red);
    } else {
        volt_cross_entropy_options o = volt_cross_entropy_defaults();
        o.reduction = red;
        o.label_smoothing = smoothing;
        o.weight = w64;
        want = volt_cross_entropy_ex(x64, t, &o);
        o.weight = wg;
        got = volt_cross_entropy_ex(xg, tg, &o);
    }
    volt_autocast_set(prev);
    VT_ASSERT_NO_ERROR();
    double rtol = rtol_of(dtype);
    if (autocast) {
        assert_int_equal(got->dtype, VOLT_F32);
        VT_ASSERT_SAME_VALUES(got, want, 2e-5, 2e-7, name); /* an f32 loss of exact logits */
    } else {
        VT_ASSERT_SAME_VALUES(got, want, rtol, rtol * 1e-2, name);
    }
    backward_both(want, got, dtype);
    snprintf(name, sizeof name, "%s %s gradient", what, volt_dtype_name(dtype));
    assert_int_equal(xg->grad->dtype, dtype);
    VT_ASSERT_SAME_VALUES(xg->grad, x64->grad, rtol * 4, rtol * 2, name);
    volt_scope_end();
}

static void check_ce(const char *what, int ndim, const int64_t *shape, volt_dtype dtype,
                     volt_reduction red, bool weighted, double smoothing, bool ignore, bool nll) {
    check_ce_ex(what, ndim, shape, dtype, red, weighted, smoothing, ignore, nll, false);
}

static const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};

static void test_cross_entropy(void **state) {
    (void)state;
    const int64_t rows[] = {37, 10}, wide[] = {5, 3000}, spatial[] = {3, 7, 4, 5}, one[] = {9};
    for (int i = 0; i < 4; i++) {
        volt_dtype t = dtypes[i];
        check_ce("ce mean", 2, rows, t, VOLT_REDUCTION_MEAN, false, 0.0, false, false);
        check_ce("ce sum weighted", 2, rows, t, VOLT_REDUCTION_SUM, true, 0.0, true, false);
        check_ce("ce none smoothing", 2, rows, t, VOLT_REDUCTION_NONE, false, 0.1, true, false);
        check_ce("ce mean weighted smoothing ignore", 2, rows, t, VOLT_REDUCTION_MEAN, true, 0.2,
                 true, false);
        check_ce("ce wide (block per row)", 2, wide, t, VOLT_REDUCTION_MEAN, false, 0.1, false,
                 false);
        check_ce("ce spatial", 4, spatial, t, VOLT_REDUCTION_MEAN, true, 0.1, true, false);
        check_ce("nll mean", 2, rows, t, VOLT_REDUCTION_MEAN, true, 0.0, true, true);
        check_ce("nll spatial none", 4, spatial, t, VOLT_REDUCTION_NONE, false, 0.0, false, true);
    }
    check_ce("ce one row [C]", 1, one, VOLT_F32, VOLT_REDUCTION_MEAN, false, 0.0, false, false);
    for (int i = 2; i < 4; i++) { /* 16-bit logits under autocast: an f32 loss */
        volt_dtype t = dtypes[i];
        check_ce_ex("ce mean", 2, rows, t, VOLT_REDUCTION_MEAN, false, 0.0, false, false, true);
        check_ce_ex("ce weighted smoothing ignore", 2, rows, t, VOLT_REDUCTION_MEAN, true, 0.2,
                    true, false, true);
        check_ce_ex("ce wide none", 2, wide, t, VOLT_REDUCTION_NONE, false, 0.1, false, false,
                    true);
        check_ce_ex("ce spatial sum", 4, spatial, t, VOLT_REDUCTION_SUM, true, 0.1, true, false,
                    true);
        check_ce_ex("nll mean", 2, rows, t, VOLT_REDUCTION_MEAN, true, 0.0, true, true, true);
    }
}

/* Cross-entropy with class probabilities (softmax of randn rows) on both
 * devices: values, the input's and the target's gradients. */
static void check_ce_probs(const char *what, int ndim, const int64_t *shape, volt_dtype dtype,
                           volt_reduction red, bool weighted, double smoothing) {
    volt_scope_begin();
    char name[160];
    snprintf(name, sizeof name, "%s %s", what, volt_dtype_name(dtype));
    int class_dim = ndim == 1 ? 0 : 1;
    int64_t C = shape[class_dim];
    volt_tensor *x64 =
        volt_to_dtype(volt_to_dtype(volt_randn(ndim, shape, VOLT_F64, &gen), dtype), VOLT_F64);
    volt_tensor *p64 = volt_softmax(volt_randn(ndim, shape, VOLT_F64, &gen), class_dim);
    p64 = volt_to_dtype(volt_to_dtype(p64, dtype), VOLT_F64);
    volt_tensor *xg = volt_requires_grad(volt_to_device(volt_to_dtype(x64, dtype), VT_CUDA0), true);
    volt_tensor *pg = volt_requires_grad(volt_to_device(volt_to_dtype(p64, dtype), VT_CUDA0), true);
    x64 = volt_requires_grad(x64, true);
    p64 = volt_requires_grad(p64, true);
    volt_cross_entropy_options o = volt_cross_entropy_defaults();
    o.reduction = red;
    o.label_smoothing = smoothing;
    volt_tensor *w64 = NULL;
    if (weighted) {
        w64 = volt_add_scalar(volt_rand(VOLT_SHAPE(C), VOLT_F64, &gen), 0.5);
        w64 = volt_to_dtype(volt_to_dtype(w64, dtype), VOLT_F64);
    }
    o.weight = w64;
    volt_tensor *want = volt_cross_entropy_ex(x64, p64, &o);
    o.weight = w64 ? volt_to_device(w64, VT_CUDA0) : NULL;
    volt_tensor *got = volt_cross_entropy_ex(xg, pg, &o);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(got->dtype, dtype);
    double rtol = rtol_of(dtype);
    VT_ASSERT_SAME_VALUES(got, want, rtol * 2, rtol * 1e-2, name);
    backward_both(want, got, dtype);
    snprintf(name, sizeof name, "%s %s input gradient", what, volt_dtype_name(dtype));
    VT_ASSERT_SAME_VALUES(xg->grad, x64->grad, rtol * 4, rtol * 2, name);
    snprintf(name, sizeof name, "%s %s target gradient", what, volt_dtype_name(dtype));
    VT_ASSERT_SAME_VALUES(pg->grad, p64->grad, rtol * 4, rtol * 2, name);
    volt_scope_end();
}

static void test_cross_entropy_probabilities(void **state) {
    (void)state;
    const int64_t rows[] = {37, 10}, spatial[] = {3, 7, 4, 5}, one[] = {9};
    for (int i = 0; i < 4; i++) {
        volt_dtype t = dtypes[i];
        check_ce_probs("ce probs mean", 2, rows, t, VOLT_REDUCTION_MEAN, false, 0.0);
        check_ce_probs("ce probs sum weighted smoothing", 2, rows, t, VOLT_REDUCTION_SUM, true,
                       0.2);
        check_ce_probs("ce probs spatial none", 4, spatial, t, VOLT_REDUCTION_NONE, true, 0.1);
    }
    check_ce_probs("ce probs [C]", 1, one, VOLT_F32, VOLT_REDUCTION_MEAN, true, 0.1);
}

static void test_cross_entropy_refused(void **state) {
    (void)state;
    volt_tensor *x = volt_to_device(volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32), VT_CUDA0);
    volt_tensor *p = volt_to_device(volt_full(VOLT_SHAPE(2, 3), 1.0 / 3, VOLT_F32), VT_CUDA0);
    volt_cross_entropy_options o = volt_cross_entropy_defaults();
    o.ignore_index = 1;
    assert_null(volt_cross_entropy_ex(x, p, &o)); /* as on the CPU */
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "cross_entropy: ignore_index 1 is not supported with probability targets");
    volt_tensor *t = volt_to_device(volt_zeros(VOLT_SHAPE(3), VOLT_I64), VT_CUDA0);
    assert_null(volt_cross_entropy(x, t));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "cross_entropy: input [2,3] and target [3]");
}

/* ------------------------------------------------------ pointwise losses */

typedef enum { MSE, L1, SMOOTH, SMOOTH0, BCE, BCE_LOGITS, KL, KL_LOG } pw_kind;
static const char *const pw_names[] = {"mse",
                                       "l1",
                                       "smooth_l1 beta 0.5",
                                       "smooth_l1 beta 0",
                                       "bce",
                                       "bce_with_logits",
                                       "kl_div",
                                       "kl_div log_target"};

static volt_tensor *pw_run(pw_kind k, const volt_tensor *x, const volt_tensor *y,
                           const volt_tensor *w, const volt_tensor *pw, volt_reduction red) {
    switch (k) {
    case MSE: return volt_mse_loss(x, y, red);
    case L1: return volt_l1_loss(x, y, red);
    case SMOOTH: return volt_smooth_l1_loss(x, y, red, 0.5);
    case SMOOTH0: return volt_smooth_l1_loss(x, y, red, 0.0);
    case BCE: return volt_binary_cross_entropy(x, y, w, red);
    case BCE_LOGITS: return volt_binary_cross_entropy_with_logits(x, y, w, pw, red);
    case KL: return volt_kl_div(x, y, red, false);
    case KL_LOG: return volt_kl_div(x, y, red, true);
    }
    return NULL;
}

/* f64 CPU values representable in dtype: x in (0.05, 0.95) for bce, y in
 * [0, 1] for the bce targets, positive for kl_div's. */
static volt_tensor *pw_values(pw_kind k, bool target, const int64_t *shape, volt_dtype dtype) {
    volt_tensor *t;
    if ((k == BCE && !target) || ((k == BCE || k == BCE_LOGITS) && target))
        t = volt_add_scalar(volt_mul_scalar(volt_rand(2, shape, VOLT_F64, &gen), 0.9), 0.05);
    else if (k == KL && target)
        t = volt_add_scalar(volt_rand(2, shape, VOLT_F64, &gen), 0.1);
    else
        t = volt_randn(2, shape, VOLT_F64, &gen);
    return volt_to_dtype(volt_to_dtype(t, dtype), VOLT_F64);
}

static volt_tensor *leaf_on(const volt_tensor *t64, volt_dtype dtype) {
    return volt_requires_grad(
        volt_to_device(volt_to_dtype(volt_tensor_detach(t64), dtype), VT_CUDA0), true);
}

static void check_pw(pw_kind k, volt_reduction red, bool weighted, volt_dtype dtype) {
    volt_scope_begin();
    char name[160];
    snprintf(name, sizeof name, "%s reduction %d%s %s", pw_names[k], (int)red,
             weighted ? " weighted" : "", volt_dtype_name(dtype));
    const int64_t shape[] = {7, 33};
    volt_tensor *x64 = volt_requires_grad(pw_values(k, false, shape, dtype), true);
    volt_tensor *y64 = volt_requires_grad(pw_values(k, true, shape, dtype), true);
    volt_tensor *xg = leaf_on(x64, dtype), *yg = leaf_on(y64, dtype);
    volt_tensor *w64 = NULL, *pw64 = NULL, *wg = NULL, *pwg = NULL;
    if (weighted) {
        w64 = volt_to_dtype(
            volt_to_dtype(volt_add_scalar(volt_rand(VOLT_SHAPE(33), VOLT_F64, &gen), 0.5), dtype),
            VOLT_F64);
        pw64 = volt_to_dtype(
            volt_to_dtype(volt_add_scalar(volt_rand(VOLT_SHAPE(7, 1), VOLT_F64, &gen), 0.5), dtype),
            VOLT_F64);
        wg = volt_to_device(volt_to_dtype(w64, dtype), VT_CUDA0);
        pwg = volt_to_device(volt_to_dtype(pw64, dtype), VT_CUDA0);
    }
    volt_tensor *want = pw_run(k, x64, y64, w64, pw64, red), *got = pw_run(k, xg, yg, wg, pwg, red);
    VT_ASSERT_NO_ERROR();
    double rtol = rtol_of(dtype) * (dtype == VOLT_F32 ? 5 : 1); /* f32 math vs the CPU's double */
    /* A sum or mean adds elements each rounded to dtype once: absolute
     * error up to rtol times the sum (mean) of their magnitudes. */
    double atol = rtol * 1e-1;
    if (red != VOLT_REDUCTION_NONE) {
        volt_tensor *mag = volt_abs(pw_run(k, x64, y64, w64, pw64, VOLT_REDUCTION_NONE));
        atol = rtol * volt_tensor_item(volt_sum_all(mag)) /
               (red == VOLT_REDUCTION_SUM    ? 1.0
                : red == VOLT_REDUCTION_MEAN ? 231.0
                                             : 7.0);
    }
    VT_ASSERT_SAME_VALUES(got, want, rtol, atol, name);
    volt_tensor *r = volt_to_dtype(
        volt_to_dtype(volt_randn(want->ndim, want->shape, VOLT_F64, &gen), dtype), VOLT_F64);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(want, r))), VOLT_OK);
    assert_int_equal(volt_backward(volt_sum_all(
                         volt_mul(got, volt_to_device(volt_to_dtype(r, dtype), VT_CUDA0)))),
                     VOLT_OK);
    VT_ASSERT_NO_ERROR();
    char gname[200];
    snprintf(gname, sizeof gname, "%s: input gradient", name);
    VT_ASSERT_SAME_VALUES(xg->grad, x64->grad, rtol * 4, rtol, gname);
    snprintf(gname, sizeof gname, "%s: target gradient", name);
    VT_ASSERT_SAME_VALUES(yg->grad, y64->grad, rtol * 4, rtol, gname);
    volt_scope_end();
}

static void test_pointwise_losses(void **state) {
    (void)state;
    const volt_reduction reds[] = {VOLT_REDUCTION_NONE, VOLT_REDUCTION_SUM, VOLT_REDUCTION_MEAN};
    for (int i = 0; i < 4; i++)
        for (int k = MSE; k <= KL_LOG; k++)
            for (int r = 0; r < 3; r++) {
                /* l1 and smooth_l1 beta 0: sign(x - y) has no slope; x != y here */
                check_pw((pw_kind)k, reds[r], false, dtypes[i]);
                if (k == BCE || k == BCE_LOGITS) check_pw((pw_kind)k, reds[r], true, dtypes[i]);
            }
    check_pw(KL, VOLT_REDUCTION_BATCHMEAN, false, VOLT_F32);
}

static void test_pointwise_refused(void **state) {
    (void)state;
    volt_tensor *x = volt_to_device(volt_zeros(VOLT_SHAPE(2, 3), VOLT_I64), VT_CUDA0);
    assert_null(volt_mse_loss(x, x, VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "mse_loss: input i64[2,3] is not supported");
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_nn");
    gen = volt_generator_make(2025, 11);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_cross_entropy),         VT_CUDA_TEST(test_cross_entropy_probabilities),
        VT_CUDA_TEST(test_cross_entropy_refused), VT_CUDA_TEST(test_pointwise_losses),
        VT_CUDA_TEST(test_pointwise_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
