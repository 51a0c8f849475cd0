/* batch_norm_ref.h: reference batch-norm kernels (direct loops in double,
 * one channel per thread) on x seen as contiguous [n, c, s] (s: the product
 * of the spatial sizes), f32 or f64, with per-channel [c] statistics. */
#ifndef VOLT_BATCH_NORM_REF_H
#define VOLT_BATCH_NORM_REF_H

#include "ops/ops_impl.h"

/* Shapes of one batch-norm problem. */
typedef struct {
    int64_t n, c, s;
    double eps;
    bool training; /* statistics of the batch (else the given ones) */
} volt_bn_geom;

/* y = (x - mean) / sqrt(var + eps) * scale + shift (scale, shift may be
 * NULL). training: writes the batch mean and biased variance into mean and
 * var; else reads them. VOLT_OK or an out-of-memory error. */
volt_status volt_cpu_batch_norm_ref(const volt_bn_geom *g, const volt_tensor *x, volt_tensor *y,
                                    volt_tensor *mean, volt_tensor *var, const volt_tensor *scale,
                                    const volt_tensor *shift);
/* Gradients given the forward's x, mean, var and scale: gx (may be NULL),
 * gscale and gshift (may be NULL). In training the statistics depend on x. */
volt_status volt_cpu_batch_norm_backward_ref(const volt_bn_geom *g, const volt_tensor *x,
                                             const volt_tensor *gy, const volt_tensor *mean,
                                             const volt_tensor *var, const volt_tensor *scale,
                                             volt_tensor *gx, volt_tensor *gscale,
                                             volt_tensor *gshift);

#endif
