/* test_loss.c: cross_entropy (class indices and probabilities, ignore_index,
 * label smoothing, class weights with the mean normalisation, K-dim inputs),
 * nll_loss, mse/l1/smooth_l1, binary_cross_entropy (with logits) and kl_div:
 * values from the formulas (arithmetic in the comments), agreement with the
 * same loss composed from other ops, large logits, float64 gradchecks of
 * every op and option (strided inputs too), and the error paths. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define VEC(dtype, ...) vec((dtype), (const double[]){__VA_ARGS__}, COUNT(__VA_ARGS__))
#define EXPECT(t, rtol, ...)                                                                       \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (rtol), 1e-300)
/* A [rows, cols] tensor of dtype from row-major values. */
#define MAT(dtype, rows, cols, ...) mat((dtype), (rows), (cols), (const double[]){__VA_ARGS__})
/* An i64 tensor of class indices. */
#define IDX(...)                                                                                   \
    idx((const int64_t[]){__VA_ARGS__},                                                            \
        (int64_t)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

static volt_tensor *vec(volt_dtype dtype, const double *v, int64_t n) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, 1, &n);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

static volt_tensor *mat(volt_dtype dtype, int64_t rows, int64_t cols, const double *v) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, VOLT_SHAPE(rows, cols));
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

static volt_tensor *idx(const int64_t *v, int64_t n) { return volt_from_array(v, VOLT_I64, 1, &n); }

static double tol(volt_dtype d) { return d == VOLT_F32 ? 1e-6 : 1e-13; }

static const volt_dtype floats[2] = {VOLT_F32, VOLT_F64};

static double item(const volt_tensor *t) { return volt_tensor_item(t); }

static volt_cross_entropy_options ce_opts(volt_reduction r, int64_t ignore, double eps,
                                          const volt_tensor *w) {
    volt_cross_entropy_options o = volt_cross_entropy_defaults();
    o.reduction = r;
    o.ignore_index = ignore;
    o.label_smoothing = eps;
    o.weight = w;
    return o;
}

/* The logits used below: rows [1,2,3], [3,1,2], [0,0,0]. The first two share
 * logsumexp = 3 + log(1 + e^-1 + e^-2) = 3.40760596444438; the third log 3. */
static volt_tensor *logits3(volt_dtype d) { return MAT(d, 3, 3, 1, 2, 3, 3, 1, 2, 0, 0, 0); }

/* ------------------------------------------------- cross_entropy values */

static void test_ce_single_row(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        /* lse([1,2,3]) - 3 = 0.40760596444438. */
        volt_tensor *l = volt_cross_entropy(MAT(d, 1, 3, 1, 2, 3), IDX(2));
        assert_int_equal(l->ndim, 0);
        assert_int_equal(l->dtype, d);
        EXPECT(l, tol(d), 0.40760596444438);
        /* [C] logits with a 0-d target (i32 accepted). */
        int32_t t = 2;
        volt_tensor *t0 = volt_from_array(&t, VOLT_I32, 0, NULL);
        EXPECT(volt_cross_entropy(VEC(d, 1, 2, 3), t0), tol(d), 0.40760596444438);
        volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_NONE, -100, 0, NULL);
        volt_tensor *none = volt_cross_entropy_ex(VEC(d, 1, 2, 3), t0, &o);
        assert_int_equal(none->ndim, 0);
        EXPECT(none, tol(d), 0.40760596444438);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_ce_reductions(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = logits3(d), *t = IDX(2, 0, 1);
        /* Per row: 3.40760596444438 - 3, 3.40760596444438 - 3, log 3 - 0. */
        volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_NONE, -100, 0, NULL);
        volt_tensor *none = volt_cross_entropy_ex(x, t, &o);
        VT_ASSERT_SHAPE(none, 3);
        EXPECT(none, tol(d), 0.40760596444438, 0.40760596444438, 1.0986122886681098);
        o.reduction = VOLT_REDUCTION_SUM; /* 2 * 0.40760596444438 + 1.0986122886681098 */
        EXPECT(volt_cross_entropy_ex(x, t, &o), tol(d), 1.913824217556871);
        EXPECT(volt_cross_entropy(x, t), tol(d), 1.913824217556871 / 3);
        /* The same through log_softmax + nll_loss. */
        EXPECT(volt_nll_loss(volt_log_softmax(x, 1), t, NULL, -100, VOLT_REDUCTION_MEAN), tol(d),
               1.913824217556871 / 3);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_ce_ignore_index(void **state) {
    (void)state;
    volt_tensor *x = logits3(VOLT_F64);
    /* Row 1 ignored: none gives 0 there; mean = (0.4076... + 1.0986...) / 2. */
    volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_NONE, -100, 0, NULL);
    EXPECT(volt_cross_entropy_ex(x, IDX(2, -100, 1), &o), 1e-13, 0.40760596444438, 0,
           1.0986122886681098);
    EXPECT(volt_cross_entropy(x, IDX(2, -100, 1)), 1e-13, 0.7531091265562452);
    /* ignore_index may be a valid class: targets equal to it are skipped. */
    o = ce_opts(VOLT_REDUCTION_MEAN, 1, 0, NULL);
    EXPECT(volt_cross_entropy_ex(x, IDX(2, 0, 1), &o), 1e-13, 0.40760596444438);
    /* Every target ignored: mean is 0/0 = NaN (like PyTorch), sum 0. */
    o = ce_opts(VOLT_REDUCTION_MEAN, -1, 0, NULL);
    volt_tensor *all = volt_cross_entropy_ex(x, IDX(-1, -1, -1), &o);
    assert_true(isnan(item(all)));
    o.reduction = VOLT_REDUCTION_SUM;
    EXPECT(volt_cross_entropy_ex(x, IDX(-1, -1, -1), &o), 0, 0);
    VT_ASSERT_NO_ERROR();
}

static void test_ce_weights(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = logits3(d), *w = VEC(d, 1, 2, 4);
        /* Targets [2,0,1] take weights 4, 1, 2: losses 4 * 0.40760596444438,
         * 1 * 0.40760596444438, 2 * 1.0986122886681098 summing to
         * 4.235254399558123; mean divides by 4 + 1 + 2 = 7. */
        volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_NONE, -100, 0, w);
        EXPECT(volt_cross_entropy_ex(x, IDX(2, 0, 1), &o), tol(d), 1.6304238577775223,
               0.40760596444438, 2.1972245773362196);
        o.reduction = VOLT_REDUCTION_SUM;
        EXPECT(volt_cross_entropy_ex(x, IDX(2, 0, 1), &o), tol(d), 4.235254399558123);
        o.reduction = VOLT_REDUCTION_MEAN;
        EXPECT(volt_cross_entropy_ex(x, IDX(2, 0, 1), &o), tol(d), 4.235254399558123 / 7);
        /* Ignored targets leave the denominator: (1.6304... + 2.1972...) / (4 + 2). */
        EXPECT(volt_cross_entropy_ex(x, IDX(2, -100, 1), &o), tol(d), 3.827648435113742 / 6);
        /* Weights in f64 with f32 logits are converted. */
        o.weight = VEC(VOLT_F64, 1, 2, 4);
        EXPECT(volt_cross_entropy_ex(x, IDX(2, 0, 1), &o), tol(d), 4.235254399558123 / 7);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_ce_label_smoothing(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        /* eps 0.1, one row [1,2,3] target 2: 0.9 * 0.40760596444438 + 0.1 / 3 *
         * (2.40760596444438 + 1.40760596444438 + 0.40760596444438)
         * = 0.366845368 + 0.140760596 = 0.50760596444438. */
        volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_MEAN, -100, 0.1, NULL);
        EXPECT(volt_cross_entropy_ex(MAT(d, 1, 3, 1, 2, 3), IDX(2), &o), tol(d), 0.50760596444438);
        /* Three rows: the third is uniform, so smoothing leaves log 3; mean of
         * 0.5076..., 0.5076..., 1.0986... */
        EXPECT(volt_cross_entropy_ex(logits3(d), IDX(2, 0, 1), &o), tol(d), 0.7046080725189571);
        /* With weights [1,2,4]: row loss = 0.9 w[t] nll + 0.1 / 3 sum_c w[c] (-logp[c]),
         * e.g. row 0: 0.9 * 4 * 0.40760596 + 0.1 / 3 * (2.40760596 + 2 * 1.40760596
         * + 4 * 0.40760596) = 1.695822863703459; mean divides by sum of w[t] = 7. */
        volt_tensor *w = VEC(d, 1, 2, 4);
        o = ce_opts(VOLT_REDUCTION_NONE, -100, 0.1, w);
        EXPECT(volt_cross_entropy_ex(logits3(d), IDX(2, 0, 1), &o), tol(d), 1.695822863703459,
               0.7286200930369646, 2.23384498695849);
        o.reduction = VOLT_REDUCTION_MEAN;
        EXPECT(volt_cross_entropy_ex(logits3(d), IDX(2, 0, 1), &o), tol(d), 4.658287943698914 / 7);
        /* Ignoring row 1: (1.6958... + 2.2338...) / (4 + 2). */
        EXPECT(volt_cross_entropy_ex(logits3(d), IDX(2, -100, 1), &o), tol(d), 0.6549446417769915);
        /* eps = 1: only the uniform part is left: mean of (lse - mean(x)). */
        o = ce_opts(VOLT_REDUCTION_SUM, -100, 1.0, NULL);
        EXPECT(volt_cross_entropy_ex(MAT(d, 1, 3, 1, 2, 3), IDX(0), &o), tol(d),
               3.40760596444438 - 2.0);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_ce_probability_targets(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *p = MAT(d, 3, 3, 0.1, 0.2, 0.7, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3);
        /* -sum q logp = lse - sum q x (q sums to 1): 3.40760596 - (0.1 + 0.4 + 2.1),
         * 3.40760596 - (1.5 + 0.5), log 3. */
        volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_NONE, -100, 0, NULL);
        volt_tensor *none = volt_cross_entropy_ex(logits3(d), p, &o);
        VT_ASSERT_SHAPE(none, 3);
        EXPECT(none, tol(d), 0.80760596444438, 1.40760596444438, 1.0986122886681098);
        EXPECT(volt_cross_entropy(logits3(d), p), tol(d), 1.1046080725189569);
        /* One-hot probabilities give the class-index loss. */
        EXPECT(volt_cross_entropy(MAT(d, 1, 3, 1, 2, 3), MAT(d, 1, 3, 0, 0, 1)), tol(d),
               0.40760596444438);
        /* Weights [1,2,4] and smoothing 0.3 (q = 0.7 p + 0.1): mean divides by
         * the number of rows (3), not by weights, like PyTorch. */
        o = ce_opts(VOLT_REDUCTION_SUM, -100, 0.3, VEC(d, 1, 2, 4));
        EXPECT(volt_cross_entropy_ex(logits3(d), p, &o), tol(d), 7.523633064314174);
        o.reduction = VOLT_REDUCTION_MEAN;
        EXPECT(volt_cross_entropy_ex(logits3(d), p, &o), tol(d), 7.523633064314174 / 3);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_ce_large_logits(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        /* lse([1000, 0, -1000]) = 1000 + log(1 + e^-1000 + e^-2000) = 1000. */
        volt_tensor *x = MAT(d, 3, 3, 1000, 0, -1000, 1000, 0, -1000, 1000, 0, -1000);
        volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_NONE, -100, 0, NULL);
        EXPECT(volt_cross_entropy_ex(x, IDX(0, 1, 2), &o), tol(d), 0, 1000, 2000);
        volt_tensor *xg = volt_requires_grad(MAT(d, 1, 3, 1000, 1000, 999), true);
        volt_tensor *l = volt_cross_entropy(xg, IDX(2));
        /* 1000 - 999 + log(2 + e^-1) = 1.8619948040582512. */
        EXPECT(l, tol(d), 1.8619948040582512);
        assert_int_equal(volt_backward(l), VOLT_OK);
        /* softmax - onehot = [0.4223, 0.4223, 0.1554 - 1]. */
        EXPECT(xg->grad, 1e-5, 0.4223187982515182, 0.4223187982515182, 0.15536240349696362 - 1);
    }
    VT_ASSERT_NO_ERROR();
}

/* Reference of the [N, C, d] loss from the formula, element by element. */
static double ce_kdim_reference(const volt_tensor *x, const int64_t *t, const double *w, double eps,
                                bool mean) {
    double total = 0, denom = 0;
    int64_t N = x->shape[0], C = x->shape[1], K = x->shape[2];
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) {
            int64_t target = t[n * K + k];
            if (target == -100) continue;
            double m = -INFINITY, s = 0, smooth = 0;
            for (int64_t c = 0; c < C; c++) m = fmax(m, volt_tensor_get(x, (int64_t[]){n, c, k}));
            for (int64_t c = 0; c < C; c++) s += exp(volt_tensor_get(x, (int64_t[]){n, c, k}) - m);
            double lse = m + log(s);
            for (int64_t c = 0; c < C; c++)
                smooth += w[c] * (lse - volt_tensor_get(x, (int64_t[]){n, c, k}));
            double nll = lse - volt_tensor_get(x, (int64_t[]){n, target, k});
            total += (1 - eps) * w[target] * nll + eps / (double)C * smooth;
            denom += w[target];
        }
    return mean ? total / denom : total;
}

static void test_ce_kdim(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(9, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 4, 3), VOLT_F64, &g);
    int64_t tv[6] = {0, 3, 1, 2, -100, 3};
    volt_tensor *t = volt_from_array(tv, VOLT_I64, VOLT_SHAPE(2, 3));
    double ones[4] = {1, 1, 1, 1}, wv[4] = {0.5, 2, 1, 3};
    volt_tensor *w = volt_from_array(wv, VOLT_F64, VOLT_SHAPE(4));
    volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_MEAN, -100, 0, NULL);
    EXPECT(volt_cross_entropy_ex(x, t, &o), 1e-13, ce_kdim_reference(x, tv, ones, 0, true));
    o = ce_opts(VOLT_REDUCTION_MEAN, -100, 0.2, w);
    EXPECT(volt_cross_entropy_ex(x, t, &o), 1e-13, ce_kdim_reference(x, tv, wv, 0.2, true));
    o.reduction = VOLT_REDUCTION_SUM;
    EXPECT(volt_cross_entropy_ex(x, t, &o), 1e-13, ce_kdim_reference(x, tv, wv, 0.2, false));
    o.reduction = VOLT_REDUCTION_NONE;
    volt_tensor *none = volt_cross_entropy_ex(x, t, &o);
    VT_ASSERT_SHAPE(none, 2, 3);
    assert_true(volt_tensor_get(none, (int64_t[]){1, 1}) == 0); /* ignored */
    /* The same data laid out [N, d, C] and flattened to rows gives the same loss. */
    volt_tensor *rows = volt_reshape(volt_contiguous(volt_transpose(x, 1, 2)), VOLT_SHAPE(6, 4));
    o = ce_opts(VOLT_REDUCTION_MEAN, -100, 0.2, w);
    EXPECT(volt_cross_entropy_ex(rows, volt_reshape(t, VOLT_SHAPE(6)), &o), 1e-13,
           ce_kdim_reference(x, tv, wv, 0.2, true));
    /* Probability targets in [N, C, d]: softmax of random numbers. */
    volt_tensor *p = volt_softmax(volt_randn(VOLT_SHAPE(2, 4, 3), VOLT_F64, &g), 1);
    volt_tensor *lp = volt_log_softmax(x, 1);
    double expect = 0;
    for (int64_t i = 0; i < 24; i++)
        expect -= volt_tensor_get_flat(p, i) * volt_tensor_get_flat(lp, i);
    EXPECT(volt_cross_entropy(x, p), 1e-13, expect / 6);
    VT_ASSERT_NO_ERROR();
}

/* The fused kernel against the same loss composed from other ops:
 * -mean(gather(log_softmax(x), 1, t)), on a non-contiguous f32 input. */
static void test_ce_matches_composition(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(21, 0);
    volt_tensor *base = volt_randn(VOLT_SHAPE(10, 64), VOLT_F32, &g);
    volt_tensor *x = volt_transpose(base, 0, 1); /* [64, 10], strided */
    volt_tensor *t = volt_randint(0, 10, VOLT_SHAPE(64), VOLT_I64, &g);
    volt_tensor *picked = volt_gather(volt_log_softmax(x, 1), 1, volt_unsqueeze(t, 1));
    volt_tensor *composed = volt_neg(volt_mean_all(picked));
    EXPECT(volt_cross_entropy(x, t), 1e-5, item(composed));
    /* log_softmax against x - logsumexp(x). */
    volt_tensor *ref = volt_sub(x, volt_logsumexp(x, VOLT_DIMS(1), true));
    volt_tensor *ls = volt_log_softmax(x, 1);
    for (int64_t i = 0; i < 640; i++)
        assert_true(fabs(volt_tensor_get_flat(ls, i) - volt_tensor_get_flat(ref, i)) < 1e-5);
    VT_ASSERT_NO_ERROR();
}

static void test_ce_thread_count_independent(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(5, 0);
    volt_tensor *x = volt_requires_grad(volt_randn(VOLT_SHAPE(128, 500), VOLT_F32, &g), true);
    volt_tensor *t = volt_randint(0, 500, VOLT_SHAPE(128), VOLT_I64, &g);
    volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_MEAN, -100, 0.1, NULL);
    int threads = volt_get_num_threads();
    double v[2];
    volt_tensor *grads[2];
    for (int k = 0; k < 2; k++) {
        volt_set_num_threads(k == 0 ? 1 : (threads > 1 ? threads : 2));
        volt_tensor *l = volt_cross_entropy_ex(x, t, &o);
        v[k] = item(l);
        assert_int_equal(volt_backward(l), VOLT_OK);
        grads[k] = volt_clone(x->grad);
        volt_tensor_clear_grad(x);
    }
    volt_set_num_threads(threads);
    assert_true(v[0] == v[1]);
    for (int64_t i = 0; i < 128 * 500; i += 97)
        assert_true(volt_tensor_get_flat(grads[0], i) == volt_tensor_get_flat(grads[1], i));
    VT_ASSERT_NO_ERROR();
}

/* The f32 kernels (vectorised exp, contiguous rows of 1003 classes) against
 * the f64 ones, forward and gradient, with smoothing and weights. */
static void test_ce_f32_matches_f64(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(31, 0);
    volt_tensor *x32 = volt_to_dtype(
        volt_mul_scalar(volt_randn(VOLT_SHAPE(9, 1003), VOLT_F64, &g), 3.0), VOLT_F32);
    volt_tensor *w32 = volt_to_dtype(volt_rand(VOLT_SHAPE(1003), VOLT_F64, &g), VOLT_F32);
    volt_tensor *t = volt_randint(0, 1003, VOLT_SHAPE(9), VOLT_I64, &g);
    volt_tensor *x64 = volt_to_dtype(x32, VOLT_F64);
    volt_tensor *xs[2] = {volt_requires_grad(x32, true), volt_requires_grad(x64, true)};
    for (int opt = 0; opt < 4; opt++) {
        volt_cross_entropy_options o =
            ce_opts(VOLT_REDUCTION_MEAN, -100, opt & 1 ? 0.1 : 0, opt & 2 ? w32 : NULL);
        double v[2];
        for (int k = 0; k < 2; k++) {
            volt_tensor *l = volt_cross_entropy_ex(xs[k], t, &o);
            v[k] = item(l);
            assert_int_equal(volt_backward(l), VOLT_OK);
        }
        assert_true(fabs(v[0] - v[1]) <= 1e-6 * fabs(v[1]));
        for (int64_t i = 0; i < 9 * 1003; i++) {
            double a = volt_tensor_get_flat(xs[0]->grad, i),
                   b = volt_tensor_get_flat(xs[1]->grad, i);
            assert_true(fabs(a - b) <= 1e-5 * fabs(b) + 1e-9);
        }
        volt_tensor_clear_grad(xs[0]);
        volt_tensor_clear_grad(xs[1]);
    }
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------ cross_entropy gradients */

static void test_ce_gradient_values(void **state) {
    (void)state;
    /* d/dx mean CE = softmax - onehot; with smoothing eps: softmax - (1 - eps)
     * onehot - eps / C. */
    volt_tensor *x = volt_requires_grad(MAT(VOLT_F64, 1, 3, 1, 2, 3), true);
    assert_int_equal(volt_backward(volt_cross_entropy(x, IDX(2))), VOLT_OK);
    EXPECT(x->grad, 1e-13, 0.09003057317038046, 0.24472847105479767, 0.6652409557748219 - 1);
    volt_tensor_clear_grad(x);
    volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_MEAN, -100, 0.1, NULL);
    assert_int_equal(volt_backward(volt_cross_entropy_ex(x, IDX(2), &o)), VOLT_OK);
    EXPECT(x->grad, 1e-13, 0.09003057317038046 - 0.1 / 3, 0.24472847105479767 - 0.1 / 3,
           0.6652409557748219 - 0.9 - 0.1 / 3);
    volt_tensor_clear_grad(x);
    VT_ASSERT_NO_ERROR();
}

typedef struct {
    const volt_tensor *target;
    volt_cross_entropy_options opts;
    bool nll;
} ce_ctx;

static volt_tensor *ce_fn(volt_tensor **in, void *ctx) {
    ce_ctx *c = ctx;
    if (c->nll)
        return volt_nll_loss(in[0], c->target, c->opts.weight, c->opts.ignore_index,
                             c->opts.reduction);
    return volt_cross_entropy_ex(in[0], c->target, &c->opts);
}

static volt_tensor *ce_prob_fn(volt_tensor **in, void *ctx) {
    ce_ctx *c = ctx;
    return volt_cross_entropy_ex(in[0], in[1], &c->opts);
}

static void test_ce_gradcheck_class_indices(void **state) {
    (void)state;
    volt_tensor *w = VEC(VOLT_F64, 0.5, 2, 1, 3);
    volt_tensor *t4 = IDX(0, 3, -100, 2, 1),
                *t_kd = volt_reshape(IDX(0, 3, 1, -100, 2, 2), VOLT_SHAPE(2, 3));
    const volt_reduction reds[3] = {VOLT_REDUCTION_MEAN, VOLT_REDUCTION_SUM, VOLT_REDUCTION_NONE};
    for (int r = 0; r < 3; r++)
        for (int opt = 0; opt < 4; opt++) {
            ce_ctx c = {t4, ce_opts(reds[r], -100, opt & 1 ? 0.15 : 0.0, opt & 2 ? w : NULL),
                        false};
            VT_GRADCHECK(ce_fn, &c, 1, vt_leaf(VOLT_SHAPE(5, 4), 10 + opt, 1.5, 0.0));
            VT_GRADCHECK(ce_fn, &c, 1, vt_leaf_strided(VOLT_SHAPE(5, 4), 20 + opt, 1.5, 0.0));
            c.target = t_kd; /* [N, C, d]: the class dim is not innermost */
            VT_GRADCHECK(ce_fn, &c, 1, vt_leaf(VOLT_SHAPE(2, 4, 3), 30 + opt, 1.5, 0.0));
            VT_GRADCHECK(ce_fn, &c, 1, vt_leaf_strided(VOLT_SHAPE(2, 4, 3), 40 + opt, 1.5, 0.0));
            /* nll_loss on arbitrary "log-probabilities" (no smoothing there). */
            ce_ctx n = {t4, ce_opts(reds[r], -100, 0, opt & 2 ? w : NULL), true};
            VT_GRADCHECK(ce_fn, &n, 1, vt_leaf(VOLT_SHAPE(5, 4), 50 + opt, 1.0, -1.0));
            n.target = t_kd;
            VT_GRADCHECK(ce_fn, &n, 1, vt_leaf_strided(VOLT_SHAPE(2, 4, 3), 60 + opt, 1.0, -1.0));
        }
    /* [C] logits and a 0-d target. */
    int64_t three = 3;
    ce_ctx c = {volt_from_array(&three, VOLT_I64, 0, NULL),
                ce_opts(VOLT_REDUCTION_MEAN, -100, 0.2, w), false};
    VT_GRADCHECK(ce_fn, &c, 1, vt_leaf(VOLT_SHAPE(4), 70, 1.0, 0.0));
    VT_ASSERT_NO_ERROR();
}

static void test_ce_gradcheck_probabilities(void **state) {
    (void)state;
    volt_tensor *w = VEC(VOLT_F64, 0.5, 2, 1, 3);
    const volt_reduction reds[3] = {VOLT_REDUCTION_MEAN, VOLT_REDUCTION_SUM, VOLT_REDUCTION_NONE};
    for (int r = 0; r < 3; r++)
        for (int opt = 0; opt < 4; opt++) {
            ce_ctx c = {NULL, ce_opts(reds[r], -100, opt & 1 ? 0.25 : 0.0, opt & 2 ? w : NULL),
                        false};
            /* Targets need not sum to 1 for the gradient to be right. */
            VT_GRADCHECK(ce_prob_fn, &c, 2, vt_leaf(VOLT_SHAPE(3, 4), 80 + opt, 1.0, 0.0),
                         vt_leaf(VOLT_SHAPE(3, 4), 90 + opt, 0.2, 0.25));
            VT_GRADCHECK(ce_prob_fn, &c, 2,
                         vt_leaf_strided(VOLT_SHAPE(2, 4, 3), 100 + opt, 1.0, 0.0),
                         vt_leaf_strided(VOLT_SHAPE(2, 4, 3), 110 + opt, 0.2, 0.25));
        }
    VT_ASSERT_NO_ERROR();
}

/* --------------------------------------------------------------- nll_loss */

static void test_nll_loss_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *lp = MAT(d, 3, 3, -1, -2, -3, -0.5, -1.5, -2.5, -4, -5, -6);
        /* Picks -lp[r, t[r]]: 2, 0.5, 6. */
        EXPECT(volt_nll_loss(lp, IDX(1, 0, 2), NULL, -100, VOLT_REDUCTION_NONE), tol(d), 2, 0.5, 6);
        EXPECT(volt_nll_loss(lp, IDX(1, 0, 2), NULL, -100, VOLT_REDUCTION_SUM), tol(d), 8.5);
        EXPECT(volt_nll_loss(lp, IDX(1, 0, 2), NULL, -100, VOLT_REDUCTION_MEAN), tol(d), 8.5 / 3);
        /* Weights [1, 2, 4]: (2 * 2 + 1 * 0.5 + 4 * 6) / (2 + 1 + 4) = 28.5 / 7. */
        volt_tensor *w = VEC(d, 1, 2, 4);
        EXPECT(volt_nll_loss(lp, IDX(1, 0, 2), w, -100, VOLT_REDUCTION_MEAN), tol(d), 28.5 / 7);
        /* ignore_index 0 drops row 1: (4 + 24) / (2 + 4). */
        EXPECT(volt_nll_loss(lp, IDX(1, 0, 2), w, 0, VOLT_REDUCTION_MEAN), tol(d), 28.0 / 6);
        /* Gradient: -w[t] / sum(w[t]) at the target, 0 elsewhere. */
        volt_tensor *x = volt_requires_grad(MAT(d, 2, 2, -1, -2, -3, -4), true);
        assert_int_equal(
            volt_backward(volt_nll_loss(x, IDX(1, 0), VEC(d, 1, 3), -100, VOLT_REDUCTION_MEAN)),
            VOLT_OK);
        EXPECT(x->grad, tol(d), 0, -0.75, -0.25, 0);
    }
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------- regression losses */

static void test_regression_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        volt_tensor *x = VEC(d, 1, 2, 3), *y = VEC(d, 1.5, 2, 5);
        /* d = x - y = [-0.5, 0, -2]. */
        EXPECT(volt_mse_loss(x, y, VOLT_REDUCTION_NONE), tol(d), 0.25, 0, 4);
        EXPECT(volt_mse_loss(x, y, VOLT_REDUCTION_SUM), tol(d), 4.25);
        EXPECT(volt_mse_loss(x, y, VOLT_REDUCTION_MEAN), tol(d), 4.25 / 3);
        EXPECT(volt_l1_loss(x, y, VOLT_REDUCTION_NONE), tol(d), 0.5, 0, 2);
        EXPECT(volt_l1_loss(x, y, VOLT_REDUCTION_MEAN), tol(d), 2.5 / 3);
        /* beta 1: 0.5 d^2 below 1, |d| - 0.5 above: [0.125, 0, 1.5]. */
        EXPECT(volt_smooth_l1_loss(x, y, VOLT_REDUCTION_NONE, 1.0), tol(d), 0.125, 0, 1.5);
        EXPECT(volt_smooth_l1_loss(x, y, VOLT_REDUCTION_SUM, 1.0), tol(d), 1.625);
        /* beta 4: all quadratic, 0.5 d^2 / 4: [0.03125, 0, 0.5]. */
        EXPECT(volt_smooth_l1_loss(x, y, VOLT_REDUCTION_NONE, 4.0), tol(d), 0.03125, 0, 0.5);
        /* beta 0 is the l1 loss. */
        EXPECT(volt_smooth_l1_loss(x, y, VOLT_REDUCTION_NONE, 0.0), tol(d), 0.5, 0, 2);
    }
    /* Mean of an empty loss is NaN, like PyTorch. */
    volt_tensor *e = volt_zeros(VOLT_SHAPE(0), VOLT_F32);
    assert_true(isnan(item(volt_mse_loss(e, e, VOLT_REDUCTION_MEAN))));
    /* Against the composition mean((x - y)^2) and mean(|x - y|) on strided inputs. */
    volt_tensor *a = vt_leaf_strided(VOLT_SHAPE(7, 5), 1, 1.0, 0.0);
    volt_tensor *b = vt_leaf(VOLT_SHAPE(7, 5), 2, 1.0, 0.0);
    volt_tensor *diff = volt_sub(a, b);
    EXPECT(volt_mse_loss(a, b, VOLT_REDUCTION_MEAN), 1e-13,
           item(volt_mean_all(volt_mul(diff, diff))));
    EXPECT(volt_l1_loss(a, b, VOLT_REDUCTION_SUM), 1e-13, item(volt_sum_all(volt_abs(diff))));
    /* f32 input with an f64 target computes in f64. */
    assert_int_equal(volt_mse_loss(VEC(VOLT_F32, 1), VEC(VOLT_F64, 2), VOLT_REDUCTION_SUM)->dtype,
                     VOLT_F64);
    VT_ASSERT_NO_ERROR();
}

static void test_regression_gradient_values(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(VEC(VOLT_F64, 1, 2, 3), true);
    volt_tensor *y = volt_requires_grad(VEC(VOLT_F64, 1.5, 2, 5), true);
    /* mse mean: 2 (x - y) / 3 and its negative; l1 sum: sign(x - y) (0 at 0). */
    assert_int_equal(volt_backward(volt_mse_loss(x, y, VOLT_REDUCTION_MEAN)), VOLT_OK);
    EXPECT(x->grad, 1e-15, -1.0 / 3, 0, -4.0 / 3);
    EXPECT(y->grad, 1e-15, 1.0 / 3, 0, 4.0 / 3);
    volt_tensor_clear_grad(x);
    volt_tensor_clear_grad(y);
    assert_int_equal(volt_backward(volt_l1_loss(x, y, VOLT_REDUCTION_SUM)), VOLT_OK);
    EXPECT(x->grad, 0, -1, 0, -1);
    EXPECT(y->grad, 0, 1, 0, 1);
    volt_tensor_clear_grad(x);
    volt_tensor_clear_grad(y);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------------ binary losses */

static void test_bce_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        /* -log 0.8, -log 0.9, -(0.3 + 0.7) log 0.5 = log 2. */
        volt_tensor *x = VEC(d, 0.2, 0.9, 0.5), *y = VEC(d, 0, 1, 0.3);
        EXPECT(volt_binary_cross_entropy(x, y, NULL, VOLT_REDUCTION_NONE), tol(d),
               0.2231435513142097, 0.10536051565782628, 0.6931471805599453);
        EXPECT(volt_binary_cross_entropy(x, y, NULL, VOLT_REDUCTION_MEAN), tol(d),
               0.34055041584399376);
        /* Weight [1, 2, 3] multiplies each element's loss. */
        EXPECT(volt_binary_cross_entropy(x, y, VEC(d, 1, 2, 3), VOLT_REDUCTION_SUM), tol(d),
               0.2231435513142097 + 2 * 0.10536051565782628 + 3 * 0.6931471805599453);
        /* log clamped at -100: x = 0 with target 1 costs 100; x = 1, target 1 costs 0. */
        EXPECT(
            volt_binary_cross_entropy(VEC(d, 0, 1, 1), VEC(d, 1, 1, 0), NULL, VOLT_REDUCTION_NONE),
            tol(d), 100, 0, 100);
    }
    /* Gradient (x - y) / (x (1 - x)): [0.2 / 0.16, -0.1 / 0.09, 0.2 / 0.25]. */
    volt_tensor *x = volt_requires_grad(VEC(VOLT_F64, 0.2, 0.9, 0.5), true);
    assert_int_equal(volt_backward(volt_binary_cross_entropy(x, VEC(VOLT_F64, 0, 1, 0.3), NULL,
                                                             VOLT_REDUCTION_SUM)),
                     VOLT_OK);
    EXPECT(x->grad, 1e-13, 1.25, -1.1111111111111112, 0.8);
    volt_tensor_clear_grad(x);
    VT_ASSERT_NO_ERROR();
}

static void test_bce_with_logits_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        /* y softplus(-x) + (1 - y) softplus(x): log 2, log(1 + e^2),
         * 0.5 (softplus(3) + softplus(-3)). */
        volt_tensor *x = VEC(d, 0, 2, -3), *y = VEC(d, 1, 0, 0.5);
        EXPECT(volt_binary_cross_entropy_with_logits(x, y, NULL, NULL, VOLT_REDUCTION_NONE), tol(d),
               0.6931471805599453, 2.1269280110429727, 1.548587351573742);
        EXPECT(volt_binary_cross_entropy_with_logits(x, y, NULL, NULL, VOLT_REDUCTION_MEAN), tol(d),
               1.4562208477255532);
        /* pos_weight [3, 2, 5] multiplies the positive term: 3 log 2,
         * 2.1269... (y = 0), 5 * 0.5 softplus(3) + 0.5 softplus(-3). */
        EXPECT(
            volt_binary_cross_entropy_with_logits(x, y, NULL, VEC(d, 3, 2, 5), VOLT_REDUCTION_NONE),
            tol(d), 2.0794415416798357, 2.1269280110429727, 7.645762054721226);
        /* Huge logits stay finite: softplus(1000) = 1000. */
        EXPECT(volt_binary_cross_entropy_with_logits(VEC(d, 1000, -1000, 1000), VEC(d, 0, 1, 1),
                                                     NULL, NULL, VOLT_REDUCTION_NONE),
               tol(d), 1000, 1000, 0);
        /* Agrees with binary_cross_entropy(sigmoid(x)). */
        volt_tensor *bce = volt_binary_cross_entropy(volt_sigmoid(x), y, NULL, VOLT_REDUCTION_SUM);
        EXPECT(volt_binary_cross_entropy_with_logits(x, y, NULL, NULL, VOLT_REDUCTION_SUM),
               d == VOLT_F32 ? 1e-5 : 1e-12, item(bce));
    }
    /* pos_weight [3] broadcast along the last dim of [2, 3]; weight [2, 1]. */
    volt_tensor *x = MAT(VOLT_F64, 2, 3, 0, 2, -3, 0, 2, -3),
                *y = MAT(VOLT_F64, 2, 3, 1, 0, 0.5, 1, 0, 0.5);
    volt_tensor *w = volt_reshape(VEC(VOLT_F64, 1, 2), VOLT_SHAPE(2, 1));
    EXPECT(
        volt_binary_cross_entropy_with_logits(x, y, w, VEC(VOLT_F64, 3, 2, 5), VOLT_REDUCTION_NONE),
        1e-13, 2.0794415416798357, 2.1269280110429727, 7.645762054721226, 2 * 2.0794415416798357,
        2 * 2.1269280110429727, 2 * 7.645762054721226);
    /* Gradient sigmoid(x) (1 + (pw - 1) y) - pw y. */
    volt_tensor *xg = volt_requires_grad(VEC(VOLT_F64, 0, 2, -3), true);
    assert_int_equal(
        volt_backward(volt_binary_cross_entropy_with_logits(
            xg, VEC(VOLT_F64, 1, 0, 0.5), NULL, VEC(VOLT_F64, 3, 2, 5), VOLT_REDUCTION_SUM)),
        VOLT_OK);
    EXPECT(xg->grad, 1e-13, -1.5, 0.8807970779778823, -2.3577223804672998);
    volt_tensor_clear_grad(xg);
    VT_ASSERT_NO_ERROR();
}

static void test_kl_div_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        /* input log q = log [0.25, 0.25, 0.5], target p = [0.5, 0.5, 0]:
         * p (log p - log q) = 0.5 log 2 twice and 0 where p = 0. */
        volt_tensor *lq = volt_ln(VEC(d, 0.25, 0.25, 0.5)), *p = VEC(d, 0.5, 0.5, 0);
        EXPECT(volt_kl_div(lq, p, VOLT_REDUCTION_NONE, false), tol(d), 0.34657359027997264,
               0.34657359027997264, 0);
        EXPECT(volt_kl_div(lq, p, VOLT_REDUCTION_SUM, false), tol(d), 0.6931471805599453);
        EXPECT(volt_kl_div(lq, p, VOLT_REDUCTION_MEAN, false), tol(d), 0.6931471805599453 / 3);
        /* batchmean divides by the first dim: [1, 3] -> 1, [3] -> 3. */
        EXPECT(volt_kl_div(volt_reshape(lq, VOLT_SHAPE(1, 3)), volt_reshape(p, VOLT_SHAPE(1, 3)),
                           VOLT_REDUCTION_BATCHMEAN, false),
               tol(d), 0.6931471805599453);
        EXPECT(volt_kl_div(lq, p, VOLT_REDUCTION_BATCHMEAN, false), tol(d), 0.6931471805599453 / 3);
        /* log_target: exp(lp) (lp - lq) with p = [0.5, 0.3, 0.2]. */
        volt_tensor *lp = volt_ln(VEC(d, 0.5, 0.3, 0.2));
        EXPECT(volt_kl_div(lq, lp, VOLT_REDUCTION_NONE, true), d == VOLT_F32 ? 1e-5 : 1e-13,
               0.34657359027997264, 0.054696467038186335, -0.183258146374831);
    }
    VT_ASSERT_NO_ERROR();
}

/* -------------------------------------------- pointwise gradchecks */

typedef struct {
    int which; /* 0 mse, 1 l1, 2 smooth_l1, 3 bce, 4 bce_logits, 5 kl, 6 kl log_target */
    volt_reduction reduction;
    double beta;
    const volt_tensor *pos_weight;
} pw_ctx;

static volt_tensor *pw_fn(volt_tensor **in, void *ctx) {
    pw_ctx *c = ctx;
    switch (c->which) {
    case 0: return volt_mse_loss(in[0], in[1], c->reduction);
    case 1: return volt_l1_loss(in[0], in[1], c->reduction);
    case 2: return volt_smooth_l1_loss(in[0], in[1], c->reduction, c->beta);
    case 3: return volt_binary_cross_entropy(in[0], in[1], in[2], c->reduction);
    case 4:
        return volt_binary_cross_entropy_with_logits(in[0], in[1], in[2], c->pos_weight,
                                                     c->reduction);
    case 5: return volt_kl_div(in[0], in[1], c->reduction, false);
    default: return volt_kl_div(in[0], in[1], c->reduction, true);
    }
}

static void test_pointwise_gradcheck(void **state) {
    (void)state;
    const volt_reduction reds[4] = {VOLT_REDUCTION_MEAN, VOLT_REDUCTION_SUM, VOLT_REDUCTION_NONE,
                                    VOLT_REDUCTION_BATCHMEAN};
    for (int which = 0; which < 7; which++)
        for (int r = 0; r < (which >= 5 ? 4 : 3); r++)
            for (int layout = 0; layout < 2; layout++) {
                pw_ctx c = {which, reds[r], 0.7, NULL};
                uint64_t seed = (uint64_t)(100 * which + 10 * r + layout);
                volt_tensor *(*make)(int, const int64_t *, uint64_t, double, double) =
                    layout ? vt_leaf_strided : vt_leaf;
                /* Inputs away from the kinks and inside each loss's domain. */
                double xs = 1.0, xm = 0.0, ys = 1.0, ym = 0.0;
                if (which == 3) xs = 0.08, xm = 0.5, ys = 0.3, ym = 0.5; /* x in (0,1) */
                if (which == 5) ys = 0.1, ym = 1.0;                      /* p > 0 */
                volt_tensor *x = make(VOLT_SHAPE(4, 3), seed, xs, xm);
                volt_tensor *y = make(VOLT_SHAPE(4, 3), seed + 1000, ys, ym);
                volt_tensor *w =
                    which == 3 || which == 4 ? vt_leaf(VOLT_SHAPE(3), seed + 2000, 0.3, 1.0) : NULL;
                if (which == 4) c.pos_weight = VEC(VOLT_F64, 0.5, 2.0, 3.0);
                VT_GRADCHECK(pw_fn, &c, 3, x, y, w ? w : vt_leaf(VOLT_SHAPE(1), 1, 1, 0));
            }
    /* smooth_l1 with beta 0 (the l1 loss) and a 1-d pair. */
    pw_ctx c = {2, VOLT_REDUCTION_MEAN, 0.0, NULL};
    VT_GRADCHECK(pw_fn, &c, 3, vt_leaf(VOLT_SHAPE(6), 5, 1, 0), vt_leaf(VOLT_SHAPE(6), 6, 1, 0),
                 vt_leaf(VOLT_SHAPE(1), 7, 1, 0));
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------------------ errors */

static void test_ce_errors(void **state) {
    (void)state;
    volt_tensor *x = logits3(VOLT_F32);
    assert_null(volt_cross_entropy(NULL, IDX(0)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "cross_entropy: argument 'input' is NULL");
    assert_null(volt_cross_entropy(x, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "cross_entropy: argument 'target' is NULL");
    assert_null(volt_cross_entropy(x, IDX(0, 3, 1)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "cross_entropy: target 3 (element 1) is out of range for 3 classes (expected "
                    "0..2, or ignore_index -100)");
    assert_null(volt_cross_entropy(x, IDX(0, 1, -1)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "target -1 (element 2) is out of range");
    assert_null(volt_cross_entropy(x, IDX(0, 1)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "cross_entropy: input [3,3] and target [2]: expected a target of shape [3] "
                    "(class indices) or [3,3] (probabilities)");
    assert_null(volt_cross_entropy(x, MAT(VOLT_F32, 3, 2, 0, 0, 0, 0, 0, 0)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "input [3,3] and target [3,2]");
    assert_null(volt_cross_entropy(x, volt_zeros(VOLT_SHAPE(3, 3), VOLT_I64)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "cross_entropy: target i64[3,3] has the input's shape but holds integers");
    assert_null(volt_cross_entropy(x, volt_zeros(VOLT_SHAPE(3), VOLT_U8)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "cross_entropy: target u8[3] must hold class indices (i64 or i32) or class "
                    "probabilities (f32 or f64)");
    assert_null(volt_cross_entropy(volt_zeros(VOLT_SHAPE(3, 3), VOLT_I64), IDX(0, 0, 0)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "cross_entropy: i64[3,3] is not supported (f32 and f64 are)");
    assert_null(volt_cross_entropy(volt_zeros(VOLT_SHAPE(3, 3), VOLT_F16), IDX(0, 0, 0)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "cross_entropy: f16[3,3] is not supported");
    assert_null(volt_cross_entropy(volt_scalar(1, VOLT_F32), IDX(0)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "cross_entropy: input f32[] has no class dimension");
    volt_cross_entropy_options o = ce_opts(VOLT_REDUCTION_MEAN, -100, 1.5, NULL);
    assert_null(volt_cross_entropy_ex(x, IDX(0, 0, 0), &o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "cross_entropy: label_smoothing must be between 0.0 and 1.0, got 1.5");
    o = ce_opts(VOLT_REDUCTION_MEAN, -100, 0, VEC(VOLT_F32, 1, 2));
    assert_null(volt_cross_entropy_ex(x, IDX(0, 0, 0), &o));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "cross_entropy: weight [2] does not match 3 classes (expected [3])");
    o = ce_opts(VOLT_REDUCTION_MEAN, -100, 0, volt_zeros(VOLT_SHAPE(3), VOLT_I64));
    assert_null(volt_cross_entropy_ex(x, IDX(0, 0, 0), &o));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "cross_entropy: weight i64[3] is not supported");
    o = ce_opts(VOLT_REDUCTION_BATCHMEAN, -100, 0, NULL);
    assert_null(volt_cross_entropy_ex(x, IDX(0, 0, 0), &o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "cross_entropy: reduction batchmean is only for kl_div");
    o = ce_opts((volt_reduction)17, -100, 0, NULL);
    assert_null(volt_cross_entropy_ex(x, IDX(0, 0, 0), &o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "cross_entropy: invalid reduction 17");
    o = ce_opts(VOLT_REDUCTION_MEAN, 0, 0, NULL);
    assert_null(volt_cross_entropy_ex(x, volt_zeros_like(x), &o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "cross_entropy: ignore_index 0 is not supported with probability targets");
    /* nll_loss takes class indices only. */
    assert_null(volt_nll_loss(x, volt_zeros_like(x), NULL, -100, VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "nll_loss: target f32[3,3] must hold class indices (i64 or i32)");
    assert_null(volt_nll_loss(x, IDX(0, 1, 5), NULL, -100, VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "nll_loss: target 5 (element 2) is out of range");
    assert_null(volt_nll_loss(x, IDX(0, 1, 2, 0), NULL, -100, VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(
        VOLT_ERR_SHAPE,
        "nll_loss: input [3,3] and target [4]: expected a target of shape [3] (class indices)");
}

static void test_pointwise_errors(void **state) {
    (void)state;
    volt_tensor *a = VEC(VOLT_F32, 0.5, 0.5, 0.5), *b = VEC(VOLT_F32, 1, 0, 1);
    assert_null(volt_mse_loss(NULL, a, VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "mse_loss: argument 'input' is NULL");
    assert_null(volt_l1_loss(a, NULL, VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "l1_loss: argument 'target' is NULL");
    /* No silent broadcasting between input and target. */
    assert_null(volt_mse_loss(a, VEC(VOLT_F32, 1), VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "mse_loss: input [3] and target [1] have different shapes");
    assert_null(volt_kl_div(MAT(VOLT_F32, 1, 3, 0, 0, 0), a, VOLT_REDUCTION_SUM, false));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "kl_div: input [1,3] and target [3] have different shapes");
    assert_null(volt_l1_loss(a, volt_zeros(VOLT_SHAPE(3), VOLT_I64), VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "l1_loss: target i64[3] is not supported (f32 and f64 are)");
    assert_null(volt_mse_loss(volt_zeros(VOLT_SHAPE(3), VOLT_F16), a, VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "mse_loss: input f16[3] is not supported");
    assert_null(volt_smooth_l1_loss(a, b, VOLT_REDUCTION_MEAN, -1.0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "smooth_l1_loss: beta must be >= 0 and finite, got -1");
    assert_null(volt_mse_loss(a, b, VOLT_REDUCTION_BATCHMEAN));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "mse_loss: reduction batchmean is only for kl_div");
    assert_null(
        volt_binary_cross_entropy(VEC(VOLT_F32, 0.5, 1.5, 0.2), b, NULL, VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "binary_cross_entropy: all elements of input should be between 0 and 1, got "
                    "1.5 at element 1 of f32[3]");
    assert_null(volt_binary_cross_entropy(VEC(VOLT_F64, NAN, 0.5, 0.2), VEC(VOLT_F64, 1, 0, 1),
                                          NULL, VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "got nan at element 0");
    assert_null(volt_binary_cross_entropy(a, b, VEC(VOLT_F32, 1, 2), VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "binary_cross_entropy: weight [2] cannot be broadcast to input [3]");
    assert_null(volt_binary_cross_entropy_with_logits(
        a, b, NULL, MAT(VOLT_F32, 2, 3, 1, 1, 1, 1, 1, 1), VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(
        VOLT_ERR_SHAPE,
        "binary_cross_entropy_with_logits: pos_weight [2,3] cannot be broadcast to input [3]");
    assert_null(volt_binary_cross_entropy_with_logits(a, b, NULL, VEC(VOLT_F32, 1, 2),
                                                      VOLT_REDUCTION_MEAN));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "pos_weight [2] cannot be broadcast to input [3]");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_ce_single_row),
        VT_TEST(test_ce_reductions),
        VT_TEST(test_ce_ignore_index),
        VT_TEST(test_ce_weights),
        VT_TEST(test_ce_label_smoothing),
        VT_TEST(test_ce_probability_targets),
        VT_TEST(test_ce_large_logits),
        VT_TEST(test_ce_kdim),
        VT_TEST(test_ce_matches_composition),
        VT_TEST(test_ce_thread_count_independent),
        VT_TEST(test_ce_f32_matches_f64),
        VT_TEST(test_ce_gradient_values),
        VT_TEST(test_ce_gradcheck_class_indices),
        VT_TEST(test_ce_gradcheck_probabilities),
        VT_TEST(test_nll_loss_values),
        VT_TEST(test_regression_values),
        VT_TEST(test_regression_gradient_values),
        VT_TEST(test_bce_values),
        VT_TEST(test_bce_with_logits_values),
        VT_TEST(test_kl_div_values),
        VT_TEST(test_pointwise_gradcheck),
        VT_TEST(test_ce_errors),
        VT_TEST(test_pointwise_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
