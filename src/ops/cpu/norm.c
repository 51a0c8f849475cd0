/* norm.c: CPU kernels of layer norm, group norm and RMS norm (norm.h):
 * per-row statistics in one pass in double (sums shifted by the row's first
 * element, so a large common offset costs no precision), the affine
 * normalisation (in double too: x * scale + shift cancels), and the fused
 * backward. Rows are split across threads for the forward and the input
 * gradient; the weight and bias gradients are split by blocks of channels,
 * each summed over rows in a fixed order, so results do not depend on the
 * thread count. */
#include <math.h>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/norm.h"

#define LANES 8
#define CHANNEL_BLOCK 16 /* channels per task in the weight gradient (inner < 16) */

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

#define NORM_KERNELS(SUF, T)                                                                       \
    /* mean and rstd of one row of n > 0 elements. */                                              \
    static void row_stats_##SUF(const T *x, int64_t n, bool rms, double eps, double *mean,         \
                                double *rstd) {                                                    \
        double shift = rms ? 0.0 : (double)x[0];                                                   \
        double s[LANES] = {0}, ss[LANES] = {0};                                                    \
        int64_t i = 0;                                                                             \
        for (; i + LANES <= n; i += LANES)                                                         \
            for (int k = 0; k < LANES; k++) {                                                      \
                double d = (double)x[i + k] - shift;                                               \
                s[k] += d;                                                                         \
                ss[k] += d * d;                                                                    \
            }                                                                                      \
        for (; i < n; i++) {                                                                       \
            double d = (double)x[i] - shift;                                                       \
            s[0] += d;                                                                             \
            ss[0] += d * d;                                                                        \
        }                                                                                          \
        double sum = 0.0, sumsq = 0.0;                                                             \
        for (int k = 0; k < LANES; k++) {                                                          \
            sum += s[k];                                                                           \
            sumsq += ss[k];                                                                        \
        }                                                                                          \
        double m = sum / (double)n, var = sumsq / (double)n;                                       \
        if (!rms) var -= m * m;                                                                    \
        if (var < 0.0) var = 0.0;                                                                  \
        *mean = rms ? 0.0 : shift + m;                                                             \
        *rstd = 1.0 / sqrt(var + eps);                                                             \
    }                                                                                              \
                                                                                                   \
    static void forward_##SUF(const volt_norm_geom *g, T *y, double *mean, double *rstd,           \
                              const T *x, const T *w, const T *b) {                                \
        int64_t n = g->n, inner = g->inner, cpg = n / inner;                                       \
        _Pragma("omp parallel for if (g->rows * n > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t r = 0;        \
                                                                             r < g->rows; r++) {   \
            const T *xr = x + r * n;                                                               \
            T *yr = y + r * n;                                                                     \
            row_stats_##SUF(xr, n, g->rms, g->eps, &mean[r], &rstd[r]);                            \
            int64_t c0 = (r % g->groups) * cpg;                                                    \
            for (int64_t cl = 0; cl < cpg; cl++) {                                                 \
                double a = rstd[r] * (w ? (double)w[c0 + cl] : 1.0);                               \
                double shift = (b ? (double)b[c0 + cl] : 0.0) - mean[r] * a;                       \
                const T *xs = xr + cl * inner;                                                     \
                T *ys = yr + cl * inner;                                                           \
                for (int64_t j = 0; j < inner; j++) ys[j] = (T)((double)xs[j] * a + shift);        \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void grad_input_##SUF(const volt_norm_geom *g, T *gx, const T *gy, const T *x,          \
                                 const double *mean, const double *rstd, const T *w) {             \
        int64_t n = g->n, inner = g->inner, cpg = n / inner;                                       \
        _Pragma("omp parallel for if (g->rows * n > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t r = 0;        \
                                                                             r < g->rows; r++) {   \
            const T *xr = x + r * n, *gr = gy + r * n;                                             \
            T *out = gx + r * n;                                                                   \
            double m = mean[r], rs = rstd[r], s1 = 0.0, s2 = 0.0;                                  \
            int64_t c0 = (r % g->groups) * cpg;                                                    \
            for (int64_t cl = 0; cl < cpg; cl++) {                                                 \
                double wv = w ? (double)w[c0 + cl] : 1.0, a1 = 0.0, a2 = 0.0;                      \
                for (int64_t j = 0; j < inner; j++) {                                              \
                    double gv = (double)gr[cl * inner + j];                                        \
                    a1 += gv;                                                                      \
                    a2 += gv * ((double)xr[cl * inner + j] - m);                                   \
                }                                                                                  \
                s1 += wv * a1;                                                                     \
                s2 += wv * a2 * rs;                                                                \
            }                                                                                      \
            double c1 = g->rms ? 0.0 : s1 / (double)n, c2 = s2 / (double)n;                        \
            for (int64_t cl = 0; cl < cpg; cl++) {                                                 \
                double wv = w ? (double)w[c0 + cl] : 1.0;                                          \
                for (int64_t j = 0; j < inner; j++) {                                              \
                    int64_t i = cl * inner + j;                                                    \
                    double xh = ((double)xr[i] - m) * rs;                                          \
                    out[i] = (T)(rs * ((double)gr[i] * wv - c1 - xh * c2));                        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void grad_affine_##SUF(const volt_norm_geom *g, T *gw, T *gb, const T *gy, const T *x,  \
                                  const double *mean, const double *rstd) {                        \
        int64_t n = g->n, inner = g->inner, cpg = n / inner, channels = g->groups * cpg;           \
        int64_t cb = inner >= CHANNEL_BLOCK ? 1 : CHANNEL_BLOCK;                                   \
        int64_t blocks = (channels + cb - 1) / cb;                                                 \
        _Pragma("omp parallel for if (g->rows * n > VOLT_PARALLEL_GRAIN && blocks > 1) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t blk = 0;      \
                                                                             blk < blocks;         \
                                                                             blk++) {              \
            double aw[CHANNEL_BLOCK] = {0}, ab[CHANNEL_BLOCK] = {0};                               \
            int64_t c_lo = blk * cb, c_hi = min64(channels, c_lo + cb);                            \
            for (int64_t r = 0; r < g->rows; r++) {                                                \
                int64_t first = (r % g->groups) * cpg;                                             \
                int64_t lo = max64(c_lo, first), hi = min64(c_hi, first + cpg);                    \
                double m = mean[r], rs = rstd[r];                                                  \
                for (int64_t c = lo; c < hi; c++) {                                                \
                    const T *xs = x + r * n + (c - first) * inner;                                 \
                    const T *gs = gy + r * n + (c - first) * inner;                                \
                    double sw = 0.0, sb = 0.0;                                                     \
                    for (int64_t j = 0; j < inner; j++) {                                          \
                        sw += (double)gs[j] * ((double)xs[j] - m);                                 \
                        sb += (double)gs[j];                                                       \
                    }                                                                              \
                    aw[c - c_lo] += sw * rs;                                                       \
                    ab[c - c_lo] += sb;                                                            \
                }                                                                                  \
            }                                                                                      \
            for (int64_t c = c_lo; c < c_hi; c++) {                                                \
                if (gw) gw[c] = (T)aw[c - c_lo];                                                   \
                if (gb) gb[c] = (T)ab[c - c_lo];                                                   \
            }                                                                                      \
        }                                                                                          \
    }

NORM_KERNELS(f32, float)
NORM_KERNELS(f64, double)

static const void *data_or_null(const volt_tensor *t) { return t ? volt_tensor_data(t) : NULL; }

void volt_cpu_norm_forward(const volt_norm_geom *geom, volt_tensor *y, volt_tensor *mean,
                           volt_tensor *rstd, const volt_tensor *x, const volt_tensor *w,
                           const volt_tensor *b) {
    if (geom->rows == 0 || geom->n == 0) return;
    double *pm = volt_tensor_data(mean), *pr = volt_tensor_data(rstd);
    if (x->dtype == VOLT_F32)
        forward_f32(geom, volt_tensor_data(y), pm, pr, volt_tensor_data(x), data_or_null(w),
                    data_or_null(b));
    else if (x->dtype == VOLT_F64)
        forward_f64(geom, volt_tensor_data(y), pm, pr, volt_tensor_data(x), data_or_null(w),
                    data_or_null(b));
    else
        VOLT_ASSERT(!"norm kernel for this dtype");
}

void volt_cpu_norm_backward(const volt_norm_geom *geom, volt_tensor *gx, volt_tensor *gw,
                            volt_tensor *gb, const volt_tensor *gy, const volt_tensor *x,
                            const volt_tensor *mean, const volt_tensor *rstd,
                            const volt_tensor *w) {
    if (geom->rows == 0 || geom->n == 0) {
        if (gw) volt_cpu_fill(gw, 0.0);
        if (gb) volt_cpu_fill(gb, 0.0);
        return;
    }
    const double *pm = volt_tensor_data(mean), *pr = volt_tensor_data(rstd);
    if (x->dtype == VOLT_F32) {
        if (gx)
            grad_input_f32(geom, volt_tensor_data(gx), volt_tensor_data(gy), volt_tensor_data(x),
                           pm, pr, data_or_null(w));
        if (gw || gb)
            grad_affine_f32(geom, gw ? volt_tensor_data(gw) : NULL,
                            gb ? volt_tensor_data(gb) : NULL, volt_tensor_data(gy),
                            volt_tensor_data(x), pm, pr);
    } else if (x->dtype == VOLT_F64) {
        if (gx)
            grad_input_f64(geom, volt_tensor_data(gx), volt_tensor_data(gy), volt_tensor_data(x),
                           pm, pr, data_or_null(w));
        if (gw || gb)
            grad_affine_f64(geom, gw ? volt_tensor_data(gw) : NULL,
                            gb ? volt_tensor_data(gb) : NULL, volt_tensor_data(gy),
                            volt_tensor_data(x), pm, pr);
    } else {
        VOLT_ASSERT(!"norm backward kernel for this dtype");
    }
}
