/* norm.c: CPU kernels of layer norm, group norm and RMS norm (norm.h):
 * per-row statistics in one pass in double (sums shifted by the row's first
 * element, so a large common offset costs no precision), the affine
 * normalisation (in double too: x * scale + shift cancels), and the fused
 * backward. Rows are split across threads for the forward and the input
 * gradient; the weight and bias gradients are split by blocks of channels,
 * each summed over rows in a fixed order, so results do not depend on the
 * thread count. f32 rows whose channels are their elements (inner 1:
 * layer norm, RMS norm, group norm of [N, C]) take a fast path of straight
 * loops over a row, compiled for AVX-512, AVX2 and baseline x86-64 and
 * picked at load time (GCC's target_clones), run on the threads the
 * parallel cost model gives (parallel.h). */
#include <math.h>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/norm.h"
#include "ops/cpu/parallel.h"

#define LANES 8
#define CHANNEL_BLOCK 16 /* channels per task in the weight gradient (inner < 16) */

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

#define NORM_KERNELS(SUF, T)                                                                       \
    /* mean and rstd of one row of n > 0 elements. */                                              \
    VOLT_CPU_CLONES static void row_stats_##SUF(const T *x, int64_t n, bool rms, double eps,       \
                                                double *mean, double *rstd) {                      \
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

/* ------------------------------------------------ f32 rows with inner 1 */
/* The general kernels' arithmetic, element by element (no contraction into
 * fused multiply-adds, which ISO C mode leaves off), so the forward and the
 * weight and bias gradients give the same bits as they would; the input
 * gradient's two row sums go in LANES partial sums like row_stats (another
 * order of the double additions than the general kernel's one chain). */

#define AFFINE_BLOCK 32 /* channels per task of the weight gradient */

/* y = x a + (b - mean a), a = rstd w, per element of a row. */
VOLT_CPU_CLONES static void ln_row_forward(float *y, const float *x, const float *w, const float *b,
                                           int64_t n, double mean, double rstd) {
    for (int64_t c = 0; c < n; c++) {
        double a = rstd * (w ? (double)w[c] : 1.0);
        double shift = (b ? (double)b[c] : 0.0) - mean * a;
        y[c] = (float)((double)x[c] * a + shift);
    }
}

/* *sum1 = sum of h, *sum2 = sum of h xhat over a row (h = gy w; w NULL:
 * ones), in LANES partial sums. Inlined with w either a pointer or NULL, so
 * that each copy has no branch in its loop and vectorises. */
static inline __attribute__((always_inline)) void ln_row_grad_sums(const float *gy, const float *x,
                                                                   const float *w, int64_t n,
                                                                   double mean, double rstd,
                                                                   double *sum1, double *sum2) {
    double s1[LANES] = {0}, s2[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            double gv = (double)gy[i + k], wv = w ? (double)w[i + k] : 1.0;
            s1[k] += wv * gv;
            s2[k] += wv * (gv * ((double)x[i + k] - mean)) * rstd;
        }
    for (; i < n; i++) {
        double gv = (double)gy[i], wv = w ? (double)w[i] : 1.0;
        s1[0] += wv * gv;
        s2[0] += wv * (gv * ((double)x[i] - mean)) * rstd;
    }
    *sum1 = *sum2 = 0.0;
    for (int k = 0; k < LANES; k++) {
        *sum1 += s1[k];
        *sum2 += s2[k];
    }
}

/* gx = rstd (h - mean(h) - xhat mean(h xhat)) of a row, h = gy w. */
VOLT_CPU_CLONES static void ln_row_grad_input(float *gx, const float *gy, const float *x,
                                              const float *w, int64_t n, double mean, double rstd,
                                              bool rms) {
    double sum1, sum2;
    if (w)
        ln_row_grad_sums(gy, x, w, n, mean, rstd, &sum1, &sum2);
    else
        ln_row_grad_sums(gy, x, NULL, n, mean, rstd, &sum1, &sum2);
    double c1 = rms ? 0.0 : sum1 / (double)n, c2 = sum2 / (double)n;
    for (int64_t c = 0; c < n; c++) {
        double wv = w ? (double)w[c] : 1.0, xh = ((double)x[c] - mean) * rstd;
        gx[c] = (float)(rstd * ((double)gy[c] * wv - c1 - xh * c2));
    }
}

/* aw[c] += gy xhat, ab[c] += gy over the rows, for `width` channels from
 * column c0 (each channel summed in row order). */
VOLT_CPU_CLONES static void ln_block_grad_affine(double *aw, double *ab, const float *gy,
                                                 const float *x, const double *mean,
                                                 const double *rstd, int64_t rows, int64_t n,
                                                 int64_t c0, int64_t width) {
    for (int64_t r = 0; r < rows; r++) {
        const float *gr = gy + r * n + c0, *xr = x + r * n + c0;
        double m = mean[r], rs = rstd[r];
        for (int64_t c = 0; c < width; c++) {
            double gv = (double)gr[c];
            aw[c] += (gv * ((double)xr[c] - m)) * rs;
            ab[c] += gv;
        }
    }
}

static void ln_forward_f32(const volt_norm_geom *g, float *y, double *mean, double *rstd,
                           const float *x, const float *w, const float *b) {
    int64_t n = g->n;
    int threads = volt_cpu_threads_for_bytes(12.0 * (double)(g->rows * n));
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int64_t r = 0; r < g->rows; r++) {
        int64_t c0 = (r % g->groups) * n;
        row_stats_f32(x + r * n, n, g->rms, g->eps, &mean[r], &rstd[r]);
        ln_row_forward(y + r * n, x + r * n, w ? w + c0 : NULL, b ? b + c0 : NULL, n, mean[r],
                       rstd[r]);
    }
}

static void ln_grad_input_f32(const volt_norm_geom *g, float *gx, const float *gy, const float *x,
                              const double *mean, const double *rstd, const float *w) {
    int64_t n = g->n;
    int threads = volt_cpu_threads_for_bytes(20.0 * (double)(g->rows * n));
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int64_t r = 0; r < g->rows; r++) {
        const float *wr = w ? w + (r % g->groups) * n : NULL;
        ln_row_grad_input(gx + r * n, gy + r * n, x + r * n, wr, n, mean[r], rstd[r], g->rms);
    }
}

/* groups 1 (each row holds every channel). */
static void ln_grad_affine_f32(const volt_norm_geom *g, float *gw, float *gb, const float *gy,
                               const float *x, const double *mean, const double *rstd) {
    int64_t n = g->n, blocks = (n + AFFINE_BLOCK - 1) / AFFINE_BLOCK;
    int threads = blocks > 1 ? volt_cpu_threads_for_bytes(8.0 * (double)(g->rows * n)) : 1;
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int64_t blk = 0; blk < blocks; blk++) {
        double aw[AFFINE_BLOCK] = {0}, ab[AFFINE_BLOCK] = {0};
        int64_t c0 = blk * AFFINE_BLOCK, width = min64(n - c0, AFFINE_BLOCK);
        ln_block_grad_affine(aw, ab, gy, x, mean, rstd, g->rows, n, c0, width);
        for (int64_t c = 0; c < width; c++) {
            if (gw) gw[c0 + c] = (float)aw[c];
            if (gb) gb[c0 + c] = (float)ab[c];
        }
    }
}

static const void *data_or_null(const volt_tensor *t) { return t ? volt_tensor_data(t) : NULL; }

void volt_cpu_norm_forward(const volt_norm_geom *geom, volt_tensor *y, volt_tensor *mean,
                           volt_tensor *rstd, const volt_tensor *x, const volt_tensor *w,
                           const volt_tensor *b) {
    if (geom->rows == 0 || geom->n == 0) return;
    double *pm = volt_tensor_data(mean), *pr = volt_tensor_data(rstd);
    if (x->dtype == VOLT_F32)
        (geom->inner == 1 ? ln_forward_f32 : forward_f32)(geom, volt_tensor_data(y), pm, pr,
                                                          volt_tensor_data(x), data_or_null(w),
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
        const float *pw = data_or_null(w);
        float *pgw = gw ? volt_tensor_data(gw) : NULL, *pgb = gb ? volt_tensor_data(gb) : NULL;
        bool rows = geom->inner == 1; /* the fast path; its weight gradient wants groups 1 */
        if (gx)
            (rows ? ln_grad_input_f32 : grad_input_f32)(
                geom, volt_tensor_data(gx), volt_tensor_data(gy), volt_tensor_data(x), pm, pr, pw);
        if (gw || gb)
            (rows && geom->groups == 1 ? ln_grad_affine_f32 : grad_affine_f32)(
                geom, pgw, pgb, volt_tensor_data(gy), volt_tensor_data(x), pm, pr);
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
