/* test_bf16_ops.c: floating ops on bf16 tensors (precision "bf16-true").
 * The rule (ops/bf16.c): a bf16 op is the f32 op on the widened operands,
 * its result rounded to bf16 once; its gradients are the f32 backward on the
 * widened output gradient, rounded once. So each elementwise op, reduction,
 * softmax, loss, dropout, max-pool and batch norm, forward and backward,
 * must equal the f32 op on the same (bf16-representable) inputs rounded to
 * bf16 bit for bit; so must the pointwise losses, layer/group/RMS norm,
 * embedding, attention, scatter_add and the gathers' gradients, all of
 * whose operands' gradients are checked. Products (matmul, addmm/Linear, bmm) and conv2d run as
 * under bf16 autocast (f32 accumulation in another order than the plain f32 kernel): two f32 sums
 * of the same products differ by far less than half a bf16 step, so after rounding they differ by
 * at most one bf16 step, 2^-7 of a value in [1, 2) — the tolerance, taken relative to the largest
 * value. The optimizers update bf16 parameters in f32 and store bf16 parameters and state;
 * module_to_dtype casts parameters and floating buffers; ops that have no bf16 path still refuse it
 * with a dtype error. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>

#include "ops/cpu/dnnl_common.h"

/* randn values rounded to bf16 (so the f32 and bf16 inputs are equal). */
static volt_tensor *bf16_randn(int ndim, const int64_t *shape, uint64_t seed) {
    volt_generator g = volt_generator_make(seed, 0);
    return volt_to_dtype(volt_randn(ndim, shape, VOLT_F32, &g), VOLT_BF16);
}

static volt_tensor *leaf(const volt_tensor *t, volt_dtype d) {
    return volt_requires_grad(volt_to_dtype(t, d), true);
}

/* got (bf16) holds exactly want (f32) rounded to bf16. */
static void assert_rounded_equal(const volt_tensor *got, const volt_tensor *want,
                                 const char *what) {
    assert_non_null(got);
    assert_non_null(want);
    if (got->dtype != VOLT_BF16)
        fail_msg("%s: result is %s, not bf16", what, volt_dtype_name(got->dtype));
    volt_tensor *r = volt_to_dtype(want, VOLT_BF16);
    assert_int_equal(volt_tensor_numel(got), volt_tensor_numel(r));
    for (int64_t i = 0; i < volt_tensor_numel(r); i++) {
        double a = volt_tensor_get_flat(got, i), b = volt_tensor_get_flat(r, i);
        if (!(a == b || (isnan(a) && isnan(b))))
            fail_msg("%s: element %lld is %.9g, want %.9g", what, (long long)i, a, b);
    }
}

/* |got - bf16(want)| <= 2^-7 max|want| (one bf16 step). */
static void assert_within_step(const volt_tensor *got, const volt_tensor *want, const char *what) {
    assert_non_null(got);
    assert_non_null(want);
    assert_int_equal(got->dtype, VOLT_BF16);
    double m = 0, d = 0;
    for (int64_t i = 0; i < volt_tensor_numel(want); i++) {
        double w = volt_tensor_get_flat(want, i);
        m = fmax(m, fabs(w));
        d = fmax(d, fabs(volt_tensor_get_flat(got, i) - w));
    }
    if (d > ldexp(m, -7)) fail_msg("%s: max |diff| %g > 2^-7 * %g", what, d, m);
}

typedef volt_tensor *(*unary_fn)(const volt_tensor *x);

/* fn on bf16 x and on f32 x (same values): forward and backward (output
 * gradient gout, bf16) agree as the rule says. */
static void check_unary(unary_fn fn, const volt_tensor *x, const char *what, bool exact) {
    volt_tensor *xb = leaf(x, VOLT_BF16), *xf = leaf(x, VOLT_F32);
    volt_tensor *yb = fn(xb), *yf = fn(xf);
    assert_non_null(yb);
    VT_ASSERT_NO_ERROR();
    if (exact)
        assert_rounded_equal(yb, yf, what);
    else
        assert_within_step(yb, yf, what);
    volt_tensor *gout = bf16_randn(yb->ndim, yb->shape, 99);
    assert_int_equal(volt_backward_ex(yb, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(yf, volt_to_dtype(gout, VOLT_F32), false), VOLT_OK);
    assert_non_null(xb->grad);
    char gw[96];
    snprintf(gw, sizeof gw, "%s (gradient)", what);
    if (exact)
        assert_rounded_equal(xb->grad, xf->grad, gw);
    else
        assert_within_step(xb->grad, xf->grad, gw);
}

static volt_tensor *f_relu(const volt_tensor *x) { return volt_relu(x); }
static volt_tensor *f_tanh(const volt_tensor *x) { return volt_tanh(x); }
static volt_tensor *f_sigmoid(const volt_tensor *x) { return volt_sigmoid(x); }
static volt_tensor *f_gelu(const volt_tensor *x) { return volt_gelu(x, false); }
static volt_tensor *f_exp(const volt_tensor *x) { return volt_exp(x); }
static volt_tensor *f_neg(const volt_tensor *x) { return volt_neg(x); }
static volt_tensor *f_clamp(const volt_tensor *x) { return volt_clamp(x, -0.5, 0.5); }
/* ln and sqrt run on |x| (x is the bf16 input, abs is exact). */
static volt_tensor *f_log_abs(const volt_tensor *x) { return volt_ln(volt_abs(x)); }
static volt_tensor *f_sqrt_abs(const volt_tensor *x) { return volt_sqrt(volt_abs(x)); }
static volt_tensor *f_add_scalar(const volt_tensor *x) { return volt_add_scalar(x, 0.1); }
static volt_tensor *f_mul_scalar(const volt_tensor *x) { return volt_mul_scalar(x, 3.3); }
static volt_tensor *f_div_scalar(const volt_tensor *x) { return volt_div_scalar(x, 7.0); }
static volt_tensor *f_sum_dim(const volt_tensor *x) { return volt_sum(x, VOLT_DIMS(1), false); }
static volt_tensor *f_mean_all(const volt_tensor *x) { return volt_mean_all(x); }
static volt_tensor *f_mean_keep(const volt_tensor *x) { return volt_mean(x, VOLT_DIMS(0), true); }
static volt_tensor *f_var(const volt_tensor *x) { return volt_var(x, VOLT_DIMS(1), 1.0, false); }
static volt_tensor *f_logsumexp(const volt_tensor *x) {
    return volt_logsumexp(x, VOLT_DIMS(1), false);
}
static volt_tensor *f_max_dim(const volt_tensor *x) { return volt_max(x, 1, false, NULL); }
static volt_tensor *f_softmax(const volt_tensor *x) { return volt_softmax(x, 1); }
static volt_tensor *f_log_softmax(const volt_tensor *x) { return volt_log_softmax(x, -1); }
static volt_tensor *f_flatten_relu(const volt_tensor *x) {
    return volt_relu(volt_flatten(volt_reshape(x, VOLT_SHAPE(3, 2, 4)), 1, -1));
}

static void test_unary_and_reductions(void **state) {
    (void)state;
    volt_tensor *x = bf16_randn(VOLT_SHAPE(6, 4), 1);
    const struct {
        unary_fn fn;
        const char *name;
    } cases[] = {
        {f_relu, "relu"},
        {f_tanh, "tanh"},
        {f_sigmoid, "sigmoid"},
        {f_gelu, "gelu"},
        {f_exp, "exp"},
        {f_neg, "neg"},
        {f_clamp, "clamp"},
        {f_log_abs, "ln(|x|)"},
        {f_sqrt_abs, "sqrt(|x|)"},
        {f_add_scalar, "add_scalar"},
        {f_mul_scalar, "mul_scalar"},
        {f_div_scalar, "div_scalar"},
        {f_sum_dim, "sum(dim 1)"},
        {f_mean_all, "mean_all"},
        {f_mean_keep, "mean(keepdim)"},
        {f_var, "var"},
        {f_logsumexp, "logsumexp"},
        {f_max_dim, "max(dim)"},
        {f_softmax, "softmax"},
        {f_log_softmax, "log_softmax"},
        {f_flatten_relu, "reshape/flatten/relu"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        volt_scope_begin();
        check_unary(cases[i].fn, x, cases[i].name, true);
        volt_scope_end();
    }
}

/* Binary ops with broadcasting: both operands' gradients. */
static void test_binary(void **state) {
    (void)state;
    volt_tensor *a = bf16_randn(VOLT_SHAPE(3, 4), 2), *b = bf16_randn(VOLT_SHAPE(4), 3);
    volt_tensor *(*fns[])(const volt_tensor *, const volt_tensor *) = {volt_add, volt_sub, volt_mul,
                                                                       volt_div, volt_maximum};
    const char *names[] = {"add", "sub", "mul", "div", "maximum"};
    for (int k = 0; k < 5; k++) {
        volt_scope_begin();
        volt_tensor *ab = leaf(a, VOLT_BF16), *bb = leaf(b, VOLT_BF16);
        volt_tensor *af = leaf(a, VOLT_F32), *bf = leaf(b, VOLT_F32);
        volt_tensor *yb = fns[k](ab, bb), *yf = fns[k](af, bf);
        assert_rounded_equal(yb, yf, names[k]);
        volt_tensor *gout = bf16_randn(VOLT_SHAPE(3, 4), 7);
        assert_int_equal(volt_backward_ex(yb, gout, false), VOLT_OK);
        assert_int_equal(volt_backward_ex(yf, volt_to_dtype(gout, VOLT_F32), false), VOLT_OK);
        assert_rounded_equal(ab->grad, af->grad, names[k]);
        assert_rounded_equal(bb->grad, bf->grad, names[k]);
        volt_scope_end();
    }
    /* Comparisons give bool; bf16 with f32 gives f32 (like PyTorch). */
    volt_scope_begin();
    volt_tensor *ab = volt_to_dtype(a, VOLT_BF16);
    volt_tensor *gt = volt_gt(ab, volt_scalar(0.0, VOLT_BF16));
    assert_int_equal(gt->dtype, VOLT_BOOL);
    for (int64_t i = 0; i < 12; i++)
        assert_int_equal(volt_tensor_get_flat(gt, i) != 0, volt_tensor_get_flat(a, i) > 0);
    assert_int_equal(volt_add(ab, volt_to_dtype(a, VOLT_F32))->dtype, VOLT_F32);
    /* In place: f32 arithmetic, rounded into self: 1 + 2^-9 rounds to 1. */
    volt_tensor *one = volt_ones(VOLT_SHAPE(2), VOLT_BF16);
    assert_non_null(volt_add_scalar_(one, ldexp(1.0, -9)));
    assert_true(volt_tensor_get_flat(one, 0) == 1.0);
    assert_non_null(volt_mul_(one, volt_full(VOLT_SHAPE(2), 3.0, VOLT_F32)));
    assert_true(volt_tensor_get_flat(one, 1) == 3.0);
    assert_int_equal(one->dtype, VOLT_BF16);
    volt_scope_end();
}

static volt_tensor *f_linear(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_addmm(b, x, volt_transpose(w, 0, 1), 1.0, 1.0);
}

/* Linear (addmm with a transposed weight) and matmul: within one bf16 step
 * of the f32 product rounded, gradients likewise. */
static void test_products(void **state) {
    (void)state;
    volt_tensor *x = bf16_randn(VOLT_SHAPE(8, 16), 4), *w = bf16_randn(VOLT_SHAPE(5, 16), 5);
    volt_tensor *bias = bf16_randn(VOLT_SHAPE(5), 6);
    volt_tensor *xb = leaf(x, VOLT_BF16), *wb = leaf(w, VOLT_BF16), *bb = leaf(bias, VOLT_BF16);
    volt_tensor *xf = leaf(x, VOLT_F32), *wf = leaf(w, VOLT_F32), *bf = leaf(bias, VOLT_F32);
    volt_tensor *yb = f_linear(xb, wb, bb), *yf = f_linear(xf, wf, bf);
    assert_within_step(yb, yf, "linear");
    volt_tensor *gout = bf16_randn(VOLT_SHAPE(8, 5), 8);
    assert_int_equal(volt_backward_ex(yb, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(yf, volt_to_dtype(gout, VOLT_F32), false), VOLT_OK);
    assert_within_step(xb->grad, xf->grad, "linear dx");
    assert_within_step(wb->grad, wf->grad, "linear dw");
    assert_within_step(bb->grad, bf->grad, "linear db");
    volt_tensor *a3 = bf16_randn(VOLT_SHAPE(2, 3, 16), 9), *b3 = bf16_randn(VOLT_SHAPE(16, 4), 10);
    assert_within_step(volt_matmul(a3, b3),
                       volt_matmul(volt_to_dtype(a3, VOLT_F32), volt_to_dtype(b3, VOLT_F32)),
                       "batched matmul");
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_OFF); /* restored */
    assert_null(volt_matmul(xb, volt_zeros(VOLT_SHAPE(16, 5), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "dtypes differ (bf16 vs f32)");
}

typedef volt_tensor *(*product_fn)(const volt_tensor *a, const volt_tensor *b,
                                   const volt_tensor *c);

static volt_tensor *f_matmul(const volt_tensor *a, const volt_tensor *b, const volt_tensor *c) {
    (void)c;
    return volt_matmul(a, b);
}
static volt_tensor *f_addmm_scaled(const volt_tensor *a, const volt_tensor *b,
                                   const volt_tensor *c) {
    return volt_addmm(c, a, b, 0.5, -2.0);
}

/* fn on bf16 a, b, c is fn under bf16 autocast on f32 a, b, c of the same
 * values, its output and every gradient rounded to bf16 once: bit for bit
 * (the products write bf16 results directly, a bias added before the
 * rounding), on oneDNN's kernels and on the f32 fallback (fast off). */
static void check_product_rounded(product_fn fn, const volt_tensor *a, const volt_tensor *b,
                                  const volt_tensor *c, bool fast, const char *what) {
    volt_scope_begin();
    volt_set_fast_kernels(fast);
    volt_tensor *ab = leaf(a, VOLT_BF16), *bb = leaf(b, VOLT_BF16);
    volt_tensor *af = leaf(a, VOLT_F32), *bf = leaf(b, VOLT_F32);
    volt_tensor *cb = c ? leaf(c, VOLT_BF16) : NULL, *cf = c ? leaf(c, VOLT_F32) : NULL;
    volt_tensor *yb = fn(ab, bb, cb);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *yf = fn(af, bf, cf);
    volt_autocast_set(prev);
    char w[96];
    snprintf(w, sizeof w, "%s%s", what, fast ? "" : " (fallback)");
    assert_rounded_equal(yb, yf, w);
    volt_tensor *gout = bf16_randn(yb->ndim, yb->shape, 31);
    assert_int_equal(volt_backward_ex(yb, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(yf, volt_to_dtype(gout, VOLT_F32), false), VOLT_OK);
    assert_rounded_equal(ab->grad, af->grad, w);
    assert_rounded_equal(bb->grad, bf->grad, w);
    if (c) assert_rounded_equal(cb->grad, cf->grad, w);
    volt_set_fast_kernels(true);
    volt_scope_end();
}

static void test_products_rounded_once(void **state) {
    (void)state;
    for (int fast = 1; fast >= 0; fast--) {
        volt_tensor *x = bf16_randn(VOLT_SHAPE(33, 70), 1), *w = bf16_randn(VOLT_SHAPE(50, 70), 2);
        check_product_rounded(f_linear, x, w, bf16_randn(VOLT_SHAPE(50), 3), fast, "linear");
        volt_tensor *sq = bf16_randn(VOLT_SHAPE(40, 40), 4);
        check_product_rounded(f_addmm_scaled, sq, volt_transpose(sq, 0, 1),
                              bf16_randn(VOLT_SHAPE(40, 1), 5), fast, "addmm, column bias");
        volt_tensor *a3 = bf16_randn(VOLT_SHAPE(3, 5, 17), 6);
        check_product_rounded(f_matmul, a3, bf16_randn(VOLT_SHAPE(17, 6), 7), NULL, fast,
                              "batch against a shared matrix");
        check_product_rounded(f_matmul, bf16_randn(VOLT_SHAPE(2, 1, 4, 9), 8),
                              bf16_randn(VOLT_SHAPE(3, 9, 5), 9), NULL, fast,
                              "broadcast batch dims");
    }
}

/* conv2d runs as under bf16 autocast (like the products): one bf16 step of
 * the f32 convolution, forward and every gradient; one input channel (the
 * direct kernel) and several (oneDNN). */
static void check_conv(int64_t cin, uint64_t seed) {
    volt_tensor *x = bf16_randn(VOLT_SHAPE(2, cin, 9, 7), seed);
    volt_tensor *w = bf16_randn(VOLT_SHAPE(4, cin, 3, 3), seed + 1);
    volt_tensor *bias = bf16_randn(VOLT_SHAPE(4), seed + 2);
    volt_tensor *xb = leaf(x, VOLT_BF16), *wb = leaf(w, VOLT_BF16), *bb = leaf(bias, VOLT_BF16);
    volt_tensor *xf = leaf(x, VOLT_F32), *wf = leaf(w, VOLT_F32), *bf = leaf(bias, VOLT_F32);
    const int64_t pad[2] = {1, 1};
    volt_tensor *yb = volt_conv2d(xb, wb, bb, NULL, pad, NULL, 1);
    volt_tensor *yf = volt_conv2d(xf, wf, bf, NULL, pad, NULL, 1);
    assert_within_step(yb, yf, "conv2d");
    volt_tensor *gout = bf16_randn(yb->ndim, yb->shape, seed + 3);
    assert_int_equal(volt_backward_ex(yb, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(yf, volt_to_dtype(gout, VOLT_F32), false), VOLT_OK);
    assert_within_step(xb->grad, xf->grad, "conv2d dx");
    assert_within_step(wb->grad, wf->grad, "conv2d dw");
    assert_within_step(bb->grad, bf->grad, "conv2d db");
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_OFF);
}

static void test_conv(void **state) {
    (void)state;
    check_conv(1, 20);
    check_conv(3, 30);
    volt_tensor *x = volt_zeros(VOLT_SHAPE(1, 1, 4, 4), VOLT_BF16);
    volt_tensor *w = volt_zeros(VOLT_SHAPE(2, 1, 3, 3), VOLT_BF16);
    assert_null(volt_conv2d(x, w, volt_zeros(VOLT_SHAPE(2), VOLT_F32), NULL, NULL, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "must share a dtype");
}

static void test_loss_dropout_pool(void **state) {
    (void)state;
    volt_tensor *logits = bf16_randn(VOLT_SHAPE(6, 5), 11);
    volt_tensor *target = volt_from_array((int64_t[]){0, 4, 2, 1, 3, 0}, VOLT_I64, VOLT_SHAPE(6));
    volt_tensor *lb = leaf(logits, VOLT_BF16), *lf = leaf(logits, VOLT_F32);
    volt_tensor *loss_b = volt_cross_entropy(lb, target), *loss_f = volt_cross_entropy(lf, target);
    assert_rounded_equal(loss_b, loss_f, "cross_entropy"); /* the loss is bf16 */
    assert_int_equal(volt_backward(loss_b), VOLT_OK);
    assert_int_equal(volt_backward_ex(loss_f, volt_scalar(1.0, VOLT_F32), false), VOLT_OK);
    assert_rounded_equal(lb->grad, lf->grad, "cross_entropy gradient");

    /* Dropout: the same mask for the same generator state. */
    volt_tensor *x = bf16_randn(VOLT_SHAPE(4, 50), 12);
    volt_generator g1 = volt_generator_make(77, 0), g2 = volt_generator_make(77, 0);
    volt_tensor *xb = leaf(x, VOLT_BF16), *xf = leaf(x, VOLT_F32);
    volt_tensor *db = volt_dropout(xb, 0.3, true, &g1), *df = volt_dropout(xf, 0.3, true, &g2);
    assert_rounded_equal(db, df, "dropout");
    volt_tensor *gout = bf16_randn(VOLT_SHAPE(4, 50), 13);
    assert_int_equal(volt_backward_ex(db, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(df, volt_to_dtype(gout, VOLT_F32), false), VOLT_OK);
    assert_rounded_equal(xb->grad, xf->grad, "dropout gradient");

    /* Max pooling 2x2. */
    volt_tensor *img = bf16_randn(VOLT_SHAPE(2, 3, 6, 6), 14);
    volt_tensor *ib = leaf(img, VOLT_BF16), *iff = leaf(img, VOLT_F32);
    const int64_t k[2] = {2, 2};
    volt_tensor *pb = volt_max_pool2d(ib, k, NULL, NULL, NULL, false, NULL);
    volt_tensor *pf = volt_max_pool2d(iff, k, NULL, NULL, NULL, false, NULL);
    assert_rounded_equal(pb, pf, "max_pool2d");
    volt_tensor *gp = bf16_randn(VOLT_SHAPE(2, 3, 3, 3), 15);
    assert_int_equal(volt_backward_ex(pb, gp, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(pf, volt_to_dtype(gp, VOLT_F32), false), VOLT_OK);
    assert_rounded_equal(ib->grad, iff->grad, "max_pool2d gradient");
    volt_tensor *ab = volt_avg_pool2d(img, k, NULL, NULL, false, true);
    assert_rounded_equal(ab,
                         volt_avg_pool2d(volt_to_dtype(img, VOLT_F32), k, NULL, NULL, false, true),
                         "avg_pool2d");
}

/* An op of up to four tensor operands (NULL entries: absent; integer ones
 * are passed as they are). */
typedef volt_tensor *(*multi_fn)(volt_tensor *const *in);

/* fn on bf16 copies of the floating operands and on f32 ones (same
 * values): the result and every floating operand's gradient (output
 * gradient gout, bf16) are the f32 ones rounded once, bit for bit. */
static void check_multi(multi_fn fn, int n, volt_tensor *const *operands, const char *what) {
    volt_scope_begin();
    volt_tensor *b[4] = {NULL}, *f[4] = {NULL};
    for (int i = 0; i < n; i++) {
        const volt_tensor *t = operands[i];
        bool floating = t && volt_dtype_is_float(t->dtype);
        b[i] = floating ? leaf(t, VOLT_BF16) : (volt_tensor *)t;
        f[i] = floating ? leaf(t, VOLT_F32) : (volt_tensor *)t;
    }
    volt_tensor *yb = fn(b), *yf = fn(f);
    if (!yb) fail_msg("%s on bf16: %s", what, volt_error_message());
    assert_non_null(yf);
    assert_rounded_equal(yb, yf, what);
    volt_tensor *gout = bf16_randn(yb->ndim, yb->shape, 98);
    assert_int_equal(volt_backward_ex(yb, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(yf, volt_to_dtype(gout, VOLT_F32), false), VOLT_OK);
    for (int i = 0; i < n; i++) {
        if (!b[i] || !volt_dtype_is_float(b[i]->dtype)) continue;
        char gw[96];
        snprintf(gw, sizeof gw, "%s (gradient of operand %d)", what, i);
        if (!f[i]->grad) { /* an operand the op does not differentiate */
            assert_null(b[i]->grad);
            continue;
        }
        assert_rounded_equal(b[i]->grad, f[i]->grad, gw);
    }
    volt_scope_end();
}

static volt_tensor *m_mse(volt_tensor *const *t) {
    return volt_mse_loss(t[0], t[1], VOLT_REDUCTION_MEAN);
}
static volt_tensor *m_l1_none(volt_tensor *const *t) {
    return volt_l1_loss(t[0], t[1], VOLT_REDUCTION_NONE);
}
static volt_tensor *m_smooth_l1(volt_tensor *const *t) {
    return volt_smooth_l1_loss(t[0], t[1], VOLT_REDUCTION_SUM, 0.5);
}
static volt_tensor *m_bce(volt_tensor *const *t) {
    return volt_binary_cross_entropy(t[0], t[1], t[2], VOLT_REDUCTION_MEAN);
}
static volt_tensor *m_bce_logits(volt_tensor *const *t) {
    return volt_binary_cross_entropy_with_logits(t[0], t[1], t[2], t[3], VOLT_REDUCTION_MEAN);
}
static volt_tensor *m_kl_div(volt_tensor *const *t) {
    return volt_kl_div(t[0], t[1], VOLT_REDUCTION_BATCHMEAN, false);
}
static volt_tensor *m_layer_norm(volt_tensor *const *t) {
    return volt_layer_norm(t[0], 1, t[1], t[2], 1e-5);
}
static volt_tensor *m_rms_norm(volt_tensor *const *t) { return volt_rms_norm(t[0], 1, t[1], 1e-5); }
static volt_tensor *m_group_norm(volt_tensor *const *t) {
    return volt_group_norm(t[0], 2, t[1], t[2], 1e-5);
}
static volt_tensor *m_embedding(volt_tensor *const *t) { return volt_embedding(t[0], t[1], 1); }
static volt_tensor *m_attention(volt_tensor *const *t) {
    return volt_scaled_dot_product_attention(t[0], t[1], t[2], true, 0.0);
}
static volt_tensor *m_index_select(volt_tensor *const *t) {
    return volt_index_select(t[0], 0, t[1]);
}
static volt_tensor *m_gather(volt_tensor *const *t) { return volt_gather(t[0], 1, t[1]); }
static volt_tensor *m_scatter_add(volt_tensor *const *t) {
    return volt_scatter_add(t[0], 1, t[1], t[2]);
}

/* Ops whose bf16 path widens several operands, or sums a gradient in f32. */
static void test_multi_operand_ops(void **state) {
    (void)state;
    volt_tensor *x = bf16_randn(VOLT_SHAPE(4, 6), 21), *y = bf16_randn(VOLT_SHAPE(4, 6), 22);
    volt_tensor *w6 = bf16_randn(VOLT_SHAPE(6), 23), *b6 = bf16_randn(VOLT_SHAPE(6), 24);
    check_multi(m_mse, 2, (volt_tensor *const[]){x, y}, "mse_loss");
    check_multi(m_l1_none, 2, (volt_tensor *const[]){x, y}, "l1_loss (none)");
    check_multi(m_smooth_l1, 2, (volt_tensor *const[]){x, y}, "smooth_l1_loss");
    /* Probabilities and log-probabilities, bf16-representable. */
    volt_tensor *px = volt_sigmoid(x), *py = volt_sigmoid(y);
    volt_tensor *logp = volt_log_softmax(x, 1), *q = volt_softmax(y, 1);
    check_multi(m_bce, 3, (volt_tensor *const[]){px, py, volt_abs(w6)}, "binary_cross_entropy");
    check_multi(m_bce_logits, 4, (volt_tensor *const[]){x, py, volt_abs(w6), volt_abs(b6)},
                "binary_cross_entropy_with_logits");
    check_multi(m_kl_div, 2, (volt_tensor *const[]){logp, q}, "kl_div");
    check_multi(m_layer_norm, 3, (volt_tensor *const[]){x, w6, b6}, "layer_norm");
    check_multi(m_rms_norm, 2, (volt_tensor *const[]){x, w6}, "rms_norm");
    /* eps NaN: the machine epsilon of x's dtype, bf16's 2^-7 (as PyTorch's
     * finfo(x.dtype).eps). */
    assert_rounded_equal(
        volt_rms_norm(x, 1, w6, NAN),
        volt_rms_norm(volt_to_dtype(x, VOLT_F32), 1, volt_to_dtype(w6, VOLT_F32), 0.0078125),
        "rms_norm (eps of bf16)");
    volt_tensor *img = bf16_randn(VOLT_SHAPE(2, 4, 3), 25);
    volt_tensor *w4 = bf16_randn(VOLT_SHAPE(4), 26), *b4 = bf16_randn(VOLT_SHAPE(4), 27);
    check_multi(m_group_norm, 3, (volt_tensor *const[]){img, w4, b4}, "group_norm");
    /* Repeated indices: the gradient rows sum (in f32, rounded once); the
     * padding row's stays zero. */
    volt_tensor *rows = volt_from_array((int64_t[]){0, 2, 2, 1, 3, 2}, VOLT_I64, VOLT_SHAPE(2, 3));
    check_multi(m_embedding, 2, (volt_tensor *const[]){x, rows}, "embedding");
    volt_tensor *aq = bf16_randn(VOLT_SHAPE(2, 2, 5, 8), 28);
    volt_tensor *ak = bf16_randn(VOLT_SHAPE(2, 2, 5, 8), 29);
    volt_tensor *av = bf16_randn(VOLT_SHAPE(2, 2, 5, 8), 30);
    check_multi(m_attention, 3, (volt_tensor *const[]){aq, ak, av}, "scaled_dot_product_attention");
    volt_tensor *pick = volt_from_array((int64_t[]){3, 0, 3, 3, 1}, VOLT_I64, VOLT_SHAPE(5));
    check_multi(m_index_select, 2, (volt_tensor *const[]){x, pick}, "index_select");
    volt_tensor *cols =
        volt_from_array((int64_t[]){5, 5, 0, 1, 1, 1, 2, 5}, VOLT_I64, VOLT_SHAPE(4, 2));
    check_multi(m_gather, 2, (volt_tensor *const[]){x, cols}, "gather");
    check_multi(m_scatter_add, 3, (volt_tensor *const[]){x, cols, bf16_randn(VOLT_SHAPE(4, 2), 31)},
                "scatter_add");
}

/* Batch norm in training: f32 statistics, bf16 running statistics updated
 * like the f32 ones and rounded. */
static void test_batch_norm(void **state) {
    (void)state;
    volt_tensor *x = bf16_randn(VOLT_SHAPE(4, 3, 5), 16);
    volt_tensor *w = bf16_randn(VOLT_SHAPE(3), 17), *bias = bf16_randn(VOLT_SHAPE(3), 18);
    volt_tensor *xb = leaf(x, VOLT_BF16), *wb = leaf(w, VOLT_BF16), *bb = leaf(bias, VOLT_BF16);
    volt_tensor *xf = leaf(x, VOLT_F32), *wf = leaf(w, VOLT_F32), *bf = leaf(bias, VOLT_F32);
    volt_tensor *rmb = volt_zeros(VOLT_SHAPE(3), VOLT_BF16),
                *rvb = volt_ones(VOLT_SHAPE(3), VOLT_BF16);
    volt_tensor *rmf = volt_zeros(VOLT_SHAPE(3), VOLT_F32),
                *rvf = volt_ones(VOLT_SHAPE(3), VOLT_F32);
    volt_tensor *yb = volt_batch_norm(xb, rmb, rvb, wb, bb, true, 0.1, 1e-5);
    volt_tensor *yf = volt_batch_norm(xf, rmf, rvf, wf, bf, true, 0.1, 1e-5);
    assert_rounded_equal(yb, yf, "batch_norm");
    assert_rounded_equal(rmb, rmf, "running_mean");
    assert_rounded_equal(rvb, rvf, "running_var");
    volt_tensor *gout = bf16_randn(VOLT_SHAPE(4, 3, 5), 19);
    assert_int_equal(volt_backward_ex(yb, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(yf, volt_to_dtype(gout, VOLT_F32), false), VOLT_OK);
    assert_rounded_equal(xb->grad, xf->grad, "batch_norm dx");
    assert_rounded_equal(wb->grad, wf->grad, "batch_norm dweight");
    assert_rounded_equal(bb->grad, bf->grad, "batch_norm dbias");
}

/* SGD with momentum on a bf16 parameter: f32 arithmetic per element, the
 * parameter and momentum buffer stored as bf16 (computed by hand). */
static void test_sgd(void **state) {
    (void)state;
    volt_tensor *p = volt_persist(volt_requires_grad(bf16_randn(VOLT_SHAPE(7), 20), true));
    float p0[7], g[7], buf[7];
    for (int i = 0; i < 7; i++) p0[i] = (float)volt_tensor_get_flat(p, i);
    volt_optimizer *opt =
        volt_sgd_new((volt_params){1, &p, NULL}, &(volt_sgd_options){.lr = 0.1, .momentum = 0.9});
    assert_non_null(opt);
    for (int step = 0; step < 2; step++) {
        volt_scope_begin();
        volt_optimizer_zero_grad(opt);
        volt_tensor *loss = volt_sum_all(volt_mul(p, volt_mul(p, volt_scalar(1.5, VOLT_F32))));
        assert_int_equal(loss->dtype, VOLT_BF16);
        assert_int_equal(volt_backward(loss), VOLT_OK);
        assert_int_equal(p->grad->dtype, VOLT_BF16);
        for (int i = 0; i < 7; i++) g[i] = (float)volt_tensor_get_flat(p->grad, i);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        for (int i = 0; i < 7; i++) {
            float b = step == 0 ? g[i] : buf[i] * 0.9f + 1.0f * g[i];
            buf[i] = volt_bf16_to_f32(volt_f32_to_bf16(b));
            float want = volt_bf16_to_f32(volt_f32_to_bf16(p0[i] + -0.1f * b));
            assert_true((float)volt_tensor_get_flat(p, i) == want);
            p0[i] = want;
        }
        volt_scope_end();
    }
    assert_int_equal(p->dtype, VOLT_BF16);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
}

/* Gradient clipping on bf16 gradients: the norm of [3, 4] is 5; scaled to
 * norm 1: [0.6, 0.8] rounded to bf16; clip by value clamps. */
static void test_clip(void **state) {
    (void)state;
    volt_tensor *p = volt_persist(volt_requires_grad(volt_zeros(VOLT_SHAPE(2), VOLT_BF16), true));
    volt_scope_begin();
    volt_tensor *w = volt_from_array((float[]){3, 4}, VOLT_F32, VOLT_SHAPE(2));
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(p, w))), VOLT_OK);
    volt_scope_end();
    volt_params ps = {1, &p, NULL};
    assert_true(volt_clip_grad_norm(ps, 1.0, 2.0, true) == 5.0);
    assert_int_equal(p->grad->dtype, VOLT_BF16);
    assert_true(volt_tensor_get_flat(p->grad, 0) == volt_bf16_to_f32(volt_f32_to_bf16(0.6f)));
    assert_true(volt_tensor_get_flat(p->grad, 1) == volt_bf16_to_f32(volt_f32_to_bf16(0.8f)));
    assert_int_equal(volt_clip_grad_value(ps, 0.7), VOLT_OK);
    assert_true(volt_tensor_get_flat(p->grad, 1) == volt_bf16_to_f32(volt_f32_to_bf16(0.7f)));
    volt_tensor_free(p);
}

/* Adam: one step moves every element by about lr (sign of the gradient). */
static void test_adam(void **state) {
    (void)state;
    volt_tensor *p =
        volt_persist(volt_requires_grad(volt_full(VOLT_SHAPE(4), 1.0, VOLT_BF16), true));
    volt_optimizer *opt =
        volt_adam_new((volt_params){1, &p, NULL}, &(volt_adam_options){.lr = 0.125});
    assert_non_null(opt);
    volt_scope_begin();
    volt_tensor *loss = volt_sum_all(
        volt_mul(p, volt_from_array((float[]){1, -2, 3, -4}, VOLT_F32, VOLT_SHAPE(4))));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
    volt_scope_end();
    const double want[4] = {0.875, 1.125, 0.875, 1.125};
    VT_ASSERT_CLOSE(p, want, 4, 0, 1e-6);
    assert_int_equal(p->dtype, VOLT_BF16);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
}

static void test_module_to_dtype(void **state) {
    (void)state;
    volt_module m;
    volt_module_init(&m, NULL);
    volt_linear *fc = volt_linear_new(&m, "fc", 3, 2);
    volt_batch_norm1d *bn = volt_batch_norm1d_new(&m, "bn", 2, NULL);
    assert_non_null(fc);
    assert_non_null(bn);
    assert_int_equal(volt_module_to_dtype(&m, VOLT_BF16), VOLT_OK);
    volt_params ps = volt_module_parameters(&m);
    assert_int_equal(ps.count, 4);
    for (int64_t i = 0; i < ps.count; i++) {
        assert_int_equal(ps.tensors[i]->dtype, VOLT_BF16);
        assert_true(ps.tensors[i]->requires_grad);
    }
    assert_int_equal(volt_module_get(&m, "bn.running_mean")->dtype, VOLT_BF16);
    assert_int_equal(volt_module_get(&m, "bn.num_batches_tracked")->dtype, VOLT_I64);
    volt_scope_begin();
    volt_tensor *x = volt_to_dtype(volt_ones(VOLT_SHAPE(4, 3), VOLT_F32), VOLT_BF16);
    volt_tensor *y = volt_batch_norm1d_forward(bn, volt_linear_forward(fc, x));
    assert_non_null(y);
    assert_int_equal(y->dtype, VOLT_BF16);
    volt_scope_end();
    assert_int_equal(volt_module_to_dtype(&m, VOLT_I64), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "module_to_dtype: 'i64' is not a floating dtype");
    assert_int_equal(volt_module_to_dtype(&m, VOLT_F32), VOLT_OK);
    assert_int_equal(volt_module_get(&m, "fc.weight")->dtype, VOLT_F32);
    volt_module_free(&m);
}

/* Mixed dtypes and f16 are refused with a dtype error naming the op and the
 * tensor; f16 stays refused everywhere on the CPU. */
static void test_refused(void **state) {
    (void)state;
    volt_tensor *x = volt_zeros(VOLT_SHAPE(1, 1, 4, 4), VOLT_BF16);
    volt_tensor *w = volt_zeros(VOLT_SHAPE(2, 1, 3, 3), VOLT_F32);
    assert_null(volt_conv2d(x, w, NULL, NULL, NULL, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "conv2d: input bf16[1,1,4,4], weight f32[2,1,3,3]");
    assert_null(volt_layer_norm(volt_zeros(VOLT_SHAPE(2, 4), VOLT_F16), 1, NULL, NULL, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "layer_norm: f16[2,4] is not supported");
    assert_null(volt_mse_loss(volt_zeros(VOLT_SHAPE(2), VOLT_F32),
                              volt_zeros(VOLT_SHAPE(2), VOLT_BF16), VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "mse_loss: target bf16[2] is not supported");
    volt_tensor *h = volt_zeros(VOLT_SHAPE(2), VOLT_F16);
    assert_null(volt_relu(h));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "relu: f16[2] is not supported");
    assert_null(volt_sgd_new((volt_params){1, &h, NULL}, &(volt_sgd_options){.lr = 0.1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "is not f32, f64 or bf16");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_unary_and_reductions),
        VT_TEST(test_binary),
        VT_TEST(test_products),
        VT_TEST(test_products_rounded_once),
        VT_TEST(test_conv),
        VT_TEST(test_loss_dropout_pool),
        VT_TEST(test_multi_operand_ops),
        VT_TEST(test_batch_norm),
        VT_TEST(test_sgd),
        VT_TEST(test_clip),
        VT_TEST(test_adam),
        VT_TEST(test_module_to_dtype),
        VT_TEST(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
