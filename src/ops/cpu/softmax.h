/* softmax.h: CPU kernels of softmax and log_softmax (forward and backward),
 * and the row geometry they share with the fused cross-entropy kernels
 * (ops/cpu/loss.c): a "row" is the vector of elements along one dim at one
 * position of the other dims. */
#ifndef VOLT_CPU_SOFTMAX_H
#define VOLT_CPU_SOFTMAX_H

#include <math.h>
#include <string.h>

#include "ops/ops_impl.h"

#define VOLT_ROW_PLAN_MAX 4

/* Up to four tensors of the same logical shape (NULL entries allowed), seen
 * as `rows` rows of `n` elements along `dim`. Row r is the r-th position of
 * the other dims in row-major order, so a contiguous tensor of the shape
 * without `dim` holds one value per row at index r. */
typedef struct {
    int64_t rows, n;
    int n_tensors, n_other;
    int64_t other_shape[VOLT_MAX_DIMS];
    int64_t other_stride[VOLT_ROW_PLAN_MAX][VOLT_MAX_DIMS];
    int64_t dim_stride[VOLT_ROW_PLAN_MAX]; /* element stride along dim */
    bool simple; /* all contiguous with dim innermost: row r starts at r * n */
} volt_row_plan;

/* `dim` must be valid for t[0] (0 for a 0-d tensor). */
void volt_row_plan_init(volt_row_plan *p, int dim, int n_tensors, const volt_tensor *const *t);

/* Element offset (from element [0,...,0]) of row r's first element in tensor k. */
static inline int64_t volt_row_offset(const volt_row_plan *p, int k, int64_t r) {
    if (p->simple) return r * p->n;
    int64_t off = 0;
    for (int d = p->n_other - 1; d >= 0; d--) {
        off += (r % p->other_shape[d]) * p->other_stride[k][d];
        r /= p->other_shape[d];
    }
    return off;
}

/* ------------------------------------------------------ row primitives */
/* Shared by the softmax and cross-entropy kernels. Sums run over 8 lanes in
 * double, combined in a fixed order, so they vectorise (without -ffast-math)
 * and do not depend on the thread count. GCC vectorises the float selects of
 * volt_expf only without -ftrapping-math, so a kernel file using these opens
 * (before any include) with
 *     #if defined(__GNUC__) && !defined(__clang__)
 *     #pragma GCC optimize("no-trapping-math")
 *     #endif
 * (volt never reads the floating-point exception flags). */

#define VOLT_ROW_LANES 8

/* exp for the f32 kernels: range reduction x = n ln2 + r, |r| <= ln2 / 2,
 * and a degree-7 polynomial for exp(r) (Cephes' coefficients); within 2 ulp
 * of exp for -87.5 <= x <= 88.375, 0 below (no subnormal results), inf
 * above, NaN for NaN. Branch-free, so unlike libm's expf it vectorises:
 * rows of softmax and cross-entropy run several times faster. Tests hold it
 * to libm's exp. */
static inline float volt_expf(float x) {
    float xc = x > -87.5f ? x : -87.5f;
    xc = xc < 88.375f ? xc : 88.375f;
    /* n = round(x / ln2) by the 1.5 * 2^23 trick; t's low bits hold n. */
    float t = xc * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    int32_t ti;
    memcpy(&ti, &t, sizeof ti);
    int32_t bits = (ti - 0x4B400000 + 127) * (1 << 23); /* 2^n */
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = (p * r * r + r + 1.0f) * two_n;
    e = x < -87.5f ? 0.0f : e;
    e = x > 88.375f ? (float)INFINITY : e;
    return x != x ? x : e;
}

static inline double volt_exp_f64(double x) { return exp(x); }

/* Defines, for element type T (SUF f32 / f64) with exp function EXP:
 *   volt_row_max_SUF(x, sx, n):           max of the row, NaNs skipped (-inf if
 *                                         none): a NaN still reaches every
 *                                         result through the sum of exponentials;
 *   volt_row_expsum_SUF(x, sx, shift, n): sum of EXP(x - shift) in double;
 *   volt_row_exp_SUF(y, sy, x, sx, shift, n): y = EXP(x - shift), returns its sum;
 *   volt_row_dot_SUF(a, sa, b, sb, n):    sum of a * b in double (b NULL: sum of a). */
#define VOLT_ROW_PRIMITIVES(SUF, T, EXP)                                                           \
    static inline T volt_row_max_##SUF(const T *x, int64_t sx, int64_t n) {                        \
        T m[VOLT_ROW_LANES];                                                                       \
        for (int k = 0; k < VOLT_ROW_LANES; k++) m[k] = (T)-INFINITY;                              \
        int64_t i = 0;                                                                             \
        for (; i + VOLT_ROW_LANES <= n; i += VOLT_ROW_LANES)                                       \
            for (int k = 0; k < VOLT_ROW_LANES; k++) {                                             \
                T v = x[(i + k) * sx];                                                             \
                m[k] = v > m[k] ? v : m[k];                                                        \
            }                                                                                      \
        for (; i < n; i++) m[0] = x[i * sx] > m[0] ? x[i * sx] : m[0];                             \
        T r = m[0];                                                                                \
        for (int k = 1; k < VOLT_ROW_LANES; k++) r = m[k] > r ? m[k] : r;                          \
        return r;                                                                                  \
    }                                                                                              \
                                                                                                   \
    static inline double volt_row_expsum_##SUF(const T *x, int64_t sx, T shift, int64_t n) {       \
        double acc[VOLT_ROW_LANES] = {0};                                                          \
        int64_t i = 0;                                                                             \
        for (; i + VOLT_ROW_LANES <= n; i += VOLT_ROW_LANES)                                       \
            for (int k = 0; k < VOLT_ROW_LANES; k++)                                               \
                acc[k] += (double)EXP(x[(i + k) * sx] - shift);                                    \
        for (; i < n; i++) acc[0] += (double)EXP(x[i * sx] - shift);                               \
        double s = 0.0;                                                                            \
        for (int k = 0; k < VOLT_ROW_LANES; k++) s += acc[k];                                      \
        return s;                                                                                  \
    }                                                                                              \
                                                                                                   \
    static inline double volt_row_exp_##SUF(T *y, int64_t sy, const T *x, int64_t sx, T shift,     \
                                            int64_t n) {                                           \
        double acc[VOLT_ROW_LANES] = {0};                                                          \
        int64_t i = 0;                                                                             \
        for (; i + VOLT_ROW_LANES <= n; i += VOLT_ROW_LANES)                                       \
            for (int k = 0; k < VOLT_ROW_LANES; k++) {                                             \
                T e = EXP(x[(i + k) * sx] - shift);                                                \
                y[(i + k) * sy] = e;                                                               \
                acc[k] += (double)e;                                                               \
            }                                                                                      \
        for (; i < n; i++) {                                                                       \
            T e = EXP(x[i * sx] - shift);                                                          \
            y[i * sy] = e;                                                                         \
            acc[0] += (double)e;                                                                   \
        }                                                                                          \
        double s = 0.0;                                                                            \
        for (int k = 0; k < VOLT_ROW_LANES; k++) s += acc[k];                                      \
        return s;                                                                                  \
    }                                                                                              \
                                                                                                   \
    static inline double volt_row_dot_##SUF(const T *a, int64_t sa, const T *b, int64_t sb,        \
                                            int64_t n) {                                           \
        double acc[VOLT_ROW_LANES] = {0};                                                          \
        int64_t i = 0;                                                                             \
        for (; i + VOLT_ROW_LANES <= n; i += VOLT_ROW_LANES)                                       \
            for (int k = 0; k < VOLT_ROW_LANES; k++)                                               \
                acc[k] += (double)a[(i + k) * sa] * (b ? (double)b[(i + k) * sb] : 1.0);           \
        for (; i < n; i++) acc[0] += (double)a[i * sa] * (b ? (double)b[i * sb] : 1.0);            \
        double s = 0.0;                                                                            \
        for (int k = 0; k < VOLT_ROW_LANES; k++) s += acc[k];                                      \
        return s;                                                                                  \
    }

VOLT_ROW_PRIMITIVES(f32, float, volt_expf)
VOLT_ROW_PRIMITIVES(f64, double, volt_exp_f64)

/* ------------------------------------------------------------- kernels */

/* out = softmax (or log_softmax) of x along dim; out is contiguous, same
 * shape and dtype (f32/f64); x may have any strides. */
void volt_cpu_softmax(volt_tensor *out, const volt_tensor *x, int dim, bool lg);

/* Gradients from the saved output y (contiguous) and the output gradient g
 * (any strides) into gx (contiguous):
 *   softmax:     gx = y * (g - sum(g * y))
 *   log_softmax: gx = g - exp(y) * sum(g)     (sums along dim) */
void volt_cpu_softmax_backward(volt_tensor *gx, const volt_tensor *g, const volt_tensor *y, int dim,
                               bool lg);

#endif
