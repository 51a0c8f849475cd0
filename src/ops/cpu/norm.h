/* norm.h: CPU kernels of layer norm, group norm and RMS norm
 * (ops/cpu/norm.c), forward and fused backward. The three share one
 * geometry: contiguous rows of n elements, each normalised on its own, and
 * an affine weight/bias indexed by channel. */
#ifndef VOLT_CPU_NORM_H
#define VOLT_CPU_NORM_H

#include "ops/ops_impl.h"

/* x is [rows, n] contiguous. Element i of row r belongs to channel
 *   (r % groups) * (n / inner) + i / inner
 * of the weight and bias (C = groups * n / inner channels):
 *   layer / RMS norm: groups 1, inner 1 (channel = position in the row);
 *   group norm of [N, C, *]: rows N * G, n = C / G * HW, groups G, inner HW. */
typedef struct {
    int64_t rows, n;
    int64_t groups, inner;
    bool rms; /* RMS norm: no centering (mean stays 0) */
    double eps;
} volt_norm_geom;

/* y = (x - mean) * rstd * w[c] + b[c] per row, with mean and rstd =
 * 1 / sqrt(var + eps) (biased var; RMS: mean 0, var = mean of x^2) computed
 * in double and written to mean / rstd (f64 [rows]). x, y, w, b contiguous
 * of one dtype (f32/f64); w and b may be NULL. */
void volt_cpu_norm_forward(const volt_norm_geom *geom, volt_tensor *y, volt_tensor *mean,
                           volt_tensor *rstd, const volt_tensor *x, const volt_tensor *w,
                           const volt_tensor *b);

/* From gy (contiguous, x's dtype), with xhat = (x - mean) * rstd and
 * h = gy * w[c]:
 *   gx = rstd * (h - mean(h) - xhat * mean(h * xhat))   (RMS: without mean(h))
 *   gw[c] = sum of gy * xhat over the channel's elements, gb[c] = sum of gy.
 * gx, gw, gb may each be NULL (not wanted); w may be NULL (ones). */
void volt_cpu_norm_backward(const volt_norm_geom *geom, volt_tensor *gx, volt_tensor *gw,
                            volt_tensor *gb, const volt_tensor *gy, const volt_tensor *x,
                            const volt_tensor *mean, const volt_tensor *rstd, const volt_tensor *w);

#endif
