/* loss.c: CPU kernels of the losses. The class-dimension kernel fuses
 * log-softmax, the negative log-likelihood, label smoothing and class
 * weights into one pass per row (forward) and writes softmax - target
 * directly (backward); rows are split across threads, each computed by one
 * thread in a fixed order. The pointwise kernels evaluate a loss or one of
 * its derivatives element by element. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math") /* vectorises volt_expf: see softmax.h */
#endif
#include <math.h>

#include "ops/cpu/loss.h"
#include "ops/cpu/softmax.h"

/* ------------------------------------------------ class-dimension losses */

/* Plan slots: 0 = x, 1 = probs, 2 = gx, 3 = gprobs. */
static void class_plan(volt_row_plan *p, const volt_tensor *x, const volt_class_loss_args *a,
                       const volt_tensor *gx, const volt_tensor *gprobs) {
    const volt_tensor *t[4] = {x, a->probs, gx, gprobs};
    volt_row_plan_init(p, x->ndim ? a->class_dim : 0, 4, t);
}

#define CLASS_LOSS(SUF, T, EXP)                                                                    \
    /* logsumexp of one row, shifted by its max (NaN in, NaN out). */                              \
    static inline double row_lse_##SUF(const T *x, int64_t s, int64_t n) {                         \
        T m = volt_row_max_##SUF(x, s, n);                                                         \
        return (double)m + log(volt_row_expsum_##SUF(x, s, m, n));                                 \
    }                                                                                              \
                                                                                                   \
    /* Loss of a row with class-index target t (not ignored). */                                   \
    static inline double index_row_##SUF(const T *xr, int64_t sx, int64_t C, int64_t t,            \
                                         const T *W, const volt_class_loss_args *a, double *lse) { \
        double l = a->from_logits ? row_lse_##SUF(xr, sx, C) : 0.0;                                \
        double eps = a->smoothing, wt = W ? (double)W[t] : 1.0;                                    \
        double val = -(1.0 - eps) * wt * ((double)xr[t * sx] - l);                                 \
        if (eps > 0) /* sum_c w[c] (x[c] - l) */                                                   \
            val -= eps / (double)C * (volt_row_dot_##SUF(xr, sx, W, 1, C) - l * a->weight_total);  \
        *lse = l;                                                                                  \
        return val;                                                                                \
    }                                                                                              \
                                                                                                   \
    /* Loss of a row with probability targets p: -sum_c w[c] q[c] logp[c]. */                      \
    static inline double prob_row_##SUF(const T *xr, int64_t sx, const T *pr, int64_t sp,          \
                                        int64_t C, const T *W, double eps, double *lse) {          \
        double l = row_lse_##SUF(xr, sx, C), val = 0.0, eps_c = eps / (double)C;                   \
        for (int64_t c = 0; c < C; c++) {                                                          \
            double q = (1.0 - eps) * (double)pr[c * sp] + eps_c;                                   \
            val -= (W ? (double)W[c] : 1.0) * q * ((double)xr[c * sx] - l);                        \
        }                                                                                          \
        *lse = l;                                                                                  \
        return val;                                                                                \
    }                                                                                              \
                                                                                                   \
    static void class_loss_##SUF(const volt_tensor *x, const volt_class_loss_args *a,              \
                                 volt_tensor *loss, volt_tensor *lse) {                            \
        volt_row_plan p;                                                                           \
        class_plan(&p, x, a, NULL, NULL);                                                          \
        const T *X = volt_tensor_data(x), *W = a->weight;                                          \
        const T *P = a->probs ? volt_tensor_data(a->probs) : NULL;                                 \
        T *L = volt_tensor_data(loss), *LSE = lse ? volt_tensor_data(lse) : NULL;                  \
        const int64_t C = p.n, sx = p.dim_stride[0], sp = p.dim_stride[1];                         \
        _Pragma("omp parallel for if (p.rows * C > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t r = 0;        \
                                                                             r < p.rows; r++) {    \
            const T *xr = X + volt_row_offset(&p, 0, r);                                           \
            double val = 0.0, l = 0.0;                                                             \
            if (P)                                                                                 \
                val = prob_row_##SUF(xr, sx, P + volt_row_offset(&p, 1, r), sp, C, W,              \
                                     a->smoothing, &l);                                            \
            else if (a->target[r] != a->ignore_index && sx == 1)                                   \
                val = index_row_##SUF(xr, 1, C, a->target[r], W, a, &l);                           \
            else if (a->target[r] != a->ignore_index)                                              \
                val = index_row_##SUF(xr, sx, C, a->target[r], W, a, &l);                          \
            L[r] = (T)val;                                                                         \
            if (LSE) LSE[r] = (T)l;                                                                \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* d/dx of a class-index row: A p[j] - B w[j], minus (1 - eps) w[t] gs at t, with              \
     * A = gs ((1 - eps) w[t] + eps W / C), B = gs eps / C, p = softmax (0 for nll). */            \
    static inline void index_row_backward_##SUF(T *gx, int64_t sgx, const T *xr, int64_t sx,       \
                                                int64_t C, int64_t t, T l, const T *W,             \
                                                const volt_class_loss_args *a, double gs) {        \
        const double eps_c = a->smoothing / (double)C;                                             \
        const double hit = (1.0 - a->smoothing) * (W ? (double)W[t] : 1.0);                        \
        const T A = (T)(gs * (hit + eps_c * a->weight_total)), B = (T)(gs * eps_c);                \
        if (a->from_logits && W)                                                                   \
            for (int64_t j = 0; j < C; j++) gx[j * sgx] = A * EXP(xr[j * sx] - l) - B * W[j];      \
        else if (a->from_logits)                                                                   \
            for (int64_t j = 0; j < C; j++) gx[j * sgx] = A * EXP(xr[j * sx] - l) - B;             \
        else                                                                                       \
            for (int64_t j = 0; j < C; j++) gx[j * sgx] = 0;                                       \
        gx[t * sgx] -= (T)(gs * hit);                                                              \
    }                                                                                              \
                                                                                                   \
    /* d/dx and d/dprobs of a probability row. */                                                  \
    static inline void prob_row_backward_##SUF(                                                    \
        T *gx, int64_t sgx, T *gp, int64_t sgp, const T *xr, int64_t sx, const T *pr, int64_t sp,  \
        int64_t C, T l, const T *W, double eps, double gs) {                                       \
        double eps_c = eps / (double)C, sum_wq = 0.0;                                              \
        for (int64_t c = 0; c < C; c++)                                                            \
            sum_wq += (W ? (double)W[c] : 1.0) * ((1.0 - eps) * (double)pr[c * sp] + eps_c);       \
        for (int64_t j = 0; j < C; j++) {                                                          \
            double wj = W ? (double)W[j] : 1.0;                                                    \
            double qj = (1.0 - eps) * (double)pr[j * sp] + eps_c;                                  \
            double pj = (double)EXP(xr[j * sx] - l);                                               \
            gx[j * sgx] = (T)(gs * (pj * sum_wq - wj * qj));                                       \
            if (gp) gp[j * sgp] = (T)(-gs * (1.0 - eps) * wj * (double)(xr[j * sx] - l));          \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void class_loss_backward_##SUF(const volt_tensor *x, const volt_class_loss_args *a,     \
                                          const volt_tensor *lse, const volt_tensor *g,            \
                                          double scale, volt_tensor *gx, volt_tensor *gp) {        \
        volt_row_plan p;                                                                           \
        class_plan(&p, x, a, gx, gp);                                                              \
        const T *X = volt_tensor_data(x), *W = a->weight;                                          \
        const T *P = a->probs ? volt_tensor_data(a->probs) : NULL;                                 \
        const T *LSE = lse ? volt_tensor_data(lse) : NULL;                                         \
        const T *Gr = g ? volt_tensor_data(g) : NULL;                                              \
        T *GX = volt_tensor_data(gx), *GP = gp ? volt_tensor_data(gp) : NULL;                      \
        const int64_t C = p.n, sx = p.dim_stride[0], sp = p.dim_stride[1];                         \
        const int64_t sgx = p.dim_stride[2], sgp = p.dim_stride[3];                                \
        _Pragma("omp parallel for if (p.rows * C > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t r = 0;        \
                                                                             r < p.rows; r++) {    \
            const T *xr = X + volt_row_offset(&p, 0, r);                                           \
            T *gxr = GX + volt_row_offset(&p, 2, r);                                               \
            const double gs = scale * (Gr ? (double)Gr[r] : 1.0);                                  \
            const T l = LSE ? LSE[r] : (T)0;                                                       \
            if (P) {                                                                               \
                prob_row_backward_##SUF(gxr, sgx, GP ? GP + volt_row_offset(&p, 3, r) : NULL, sgp, \
                                        xr, sx, P + volt_row_offset(&p, 1, r), sp, C, l, W,        \
                                        a->smoothing, gs);                                         \
            } else if (a->target[r] == a->ignore_index) {                                          \
                for (int64_t j = 0; j < C; j++) gxr[j * sgx] = 0;                                  \
            } else if (sx == 1 && sgx == 1) {                                                      \
                index_row_backward_##SUF(gxr, 1, xr, 1, C, a->target[r], l, W, a, gs);             \
            } else {                                                                               \
                index_row_backward_##SUF(gxr, sgx, xr, sx, C, a->target[r], l, W, a, gs);          \
            }                                                                                      \
        }                                                                                          \
    }

CLASS_LOSS(f32, float, volt_expf)
CLASS_LOSS(f64, double, exp)

void volt_cpu_class_loss(const volt_tensor *x, const volt_class_loss_args *a, volt_tensor *loss,
                         volt_tensor *lse) {
    if (x->dtype == VOLT_F32)
        class_loss_f32(x, a, loss, lse);
    else if (x->dtype == VOLT_F64)
        class_loss_f64(x, a, loss, lse);
    else
        VOLT_ASSERT(!"class loss kernel for this dtype");
}

void volt_cpu_class_loss_backward(const volt_tensor *x, const volt_class_loss_args *a,
                                  const volt_tensor *lse, const volt_tensor *g, double scale,
                                  volt_tensor *gx, volt_tensor *gprobs) {
    if (x->dtype == VOLT_F32)
        class_loss_backward_f32(x, a, lse, g, scale, gx, gprobs);
    else if (x->dtype == VOLT_F64)
        class_loss_backward_f64(x, a, lse, g, scale, gx, gprobs);
    else
        VOLT_ASSERT(!"class loss backward kernel for this dtype");
}

double volt_cpu_sum_flat(const volt_tensor *t) {
    int64_t n = volt_tensor_numel(t);
    double acc = 0.0;
    if (t->dtype == VOLT_F32) {
        const float *p = volt_tensor_data(t);
        for (int64_t i = 0; i < n; i++) acc += (double)p[i];
    } else {
        VOLT_ASSERT(t->dtype == VOLT_F64);
        const double *p = volt_tensor_data(t);
        for (int64_t i = 0; i < n; i++) acc += p[i];
    }
    return acc;
}

/* --------------------------------------------------------- pointwise losses */

static inline double sign_of(double d) { return d > 0 ? 1.0 : d < 0 ? -1.0 : d; }

/* log(1 + exp(-x)) without overflow. */
static inline double softplus_neg(double x) { return log1p(exp(-fabs(x))) + fmax(-x, 0.0); }

/* 1 / (1 + exp(x)) without overflow. */
static inline double sigmoid_neg(double x) {
    double e = exp(-fabs(x));
    return x >= 0 ? e / (1.0 + e) : 1.0 / (1.0 + e);
}

static inline double pw_eval(volt_pointwise_loss kind, volt_pointwise_what what, double x, double y,
                             double w, double beta) {
    double d = x - y;
    switch (kind) {
    case VOLT_PW_MSE:
        return what == VOLT_PW_VALUE ? d * d : what == VOLT_PW_GRAD_X ? 2 * d : -2 * d;
    case VOLT_PW_L1:
        return what == VOLT_PW_VALUE ? fabs(d) : what == VOLT_PW_GRAD_X ? sign_of(d) : -sign_of(d);
    case VOLT_PW_SMOOTH_L1: {
        double ad = fabs(d);
        if (what == VOLT_PW_VALUE) return ad < beta ? 0.5 * d * d / beta : ad - 0.5 * beta;
        double gd = ad < beta ? d / beta : sign_of(d);
        return what == VOLT_PW_GRAD_X ? gd : -gd;
    }
    case VOLT_PW_BCE: {
        double lx = fmax(log(x), -100.0), l1x = fmax(log1p(-x), -100.0);
        if (what == VOLT_PW_VALUE) return -(y * lx + (1 - y) * l1x);
        if (what == VOLT_PW_GRAD_X) return (x - y) / fmax((1 - x) * x, 1e-12);
        return l1x - lx;
    }
    case VOLT_PW_BCE_LOGITS: {
        double sp = softplus_neg(x), lw = 1 + (w - 1) * y;
        if (what == VOLT_PW_VALUE) return (1 - y) * x + lw * sp;
        if (what == VOLT_PW_GRAD_X) return (1 - y) - lw * sigmoid_neg(x);
        return -x + (w - 1) * sp;
    }
    case VOLT_PW_KL:
        if (what == VOLT_PW_VALUE) return (y == 0 ? 0.0 : y * log(y)) - y * x;
        return what == VOLT_PW_GRAD_X ? -y : log(y) + 1 - x;
    case VOLT_PW_KL_LOG: {
        double e = exp(y);
        if (what == VOLT_PW_VALUE) return e * (y - x);
        return what == VOLT_PW_GRAD_X ? -e : e * (y - x + 1);
    }
    }
    return NAN;
}

#define POINTWISE_LOOP(SUF, T)                                                                     \
    static void pointwise_##SUF(volt_pointwise_loss kind, volt_pointwise_what what, double beta,   \
                                volt_tensor *out, volt_flat_arg x, volt_flat_arg y,                \
                                volt_flat_arg w, volt_flat_arg g) {                                \
        T *o = volt_tensor_data(out);                                                              \
        const T *X = x.data, *Y = y.data, *Wp = w.data, *G = g.data;                               \
        const int64_t n = volt_tensor_numel(out);                                                  \
        _Pragma("omp parallel for if (n > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t i = 0; i < n; \
                                                                             i++) {                \
            double wi = Wp ? (double)Wp[i * w.stride] : 1.0;                                       \
            double gi = G ? (double)G[i * g.stride] : 1.0;                                         \
            o[i] = (T)(gi * pw_eval(kind, what, (double)X[i * x.stride], (double)Y[i * y.stride],  \
                                    wi, beta));                                                    \
        }                                                                                          \
    }

POINTWISE_LOOP(f32, float)
POINTWISE_LOOP(f64, double)

void volt_cpu_pointwise_loss(volt_pointwise_loss kind, volt_pointwise_what what, double beta,
                             volt_tensor *out, volt_flat_arg x, volt_flat_arg y, volt_flat_arg w,
                             volt_flat_arg g) {
    if (out->dtype == VOLT_F32)
        pointwise_f32(kind, what, beta, out, x, y, w, g);
    else if (out->dtype == VOLT_F64)
        pointwise_f64(kind, what, beta, out, x, y, w, g);
    else
        VOLT_ASSERT(!"pointwise loss kernel for this dtype");
}

int64_t volt_cpu_first_outside(const volt_tensor *t, double lo, double hi) {
    int64_t n = volt_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = t->dtype == VOLT_F32 ? (double)((const float *)volt_tensor_data(t))[i]
                                        : ((const double *)volt_tensor_data(t))[i];
        if (!(v >= lo && v <= hi)) return i;
    }
    return -1;
}
