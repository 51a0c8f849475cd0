/* pool_ref.h: the geometry of 2-D pooling and the reference kernels (direct
 * loops in double over contiguous f32/f64 tensors, one input plane per
 * thread) for max, average and adaptive average pooling and their
 * gradients, with PyTorch's conventions (window starts, divisors, the index
 * of the first maximum, NaN propagating). */
#ifndef VOLT_POOL_REF_H
#define VOLT_POOL_REF_H

#include "ops/ops_impl.h"

/* src [n, c, h, w] -> dst [n, c, oh, ow]; window of output row y starts at
 * input row y * sh - ph, taps k * dh for k < kh. */
typedef struct {
    int64_t n, c, h, w;
    int64_t oh, ow;
    int64_t kh, kw;
    int64_t sh, sw;
    int64_t ph, pw;
    int64_t dh, dw;
    bool count_include_pad; /* average pooling */
} volt_pool_geom;

/* Each returns VOLT_OK or an out-of-memory error (f64 temporaries). */
/* dst = max over windows; indices (i64, dst's shape) = position iy * w + ix
 * of each maximum in its plane. */
volt_status volt_cpu_max_pool_ref(const volt_pool_geom *g, const volt_tensor *src, volt_tensor *dst,
                                  volt_tensor *indices);
/* diff_src = diff_dst added at indices. */
volt_status volt_cpu_max_pool_backward_ref(const volt_pool_geom *g, const volt_tensor *diff_dst,
                                           const volt_tensor *indices, volt_tensor *diff_src);
volt_status volt_cpu_avg_pool_ref(const volt_pool_geom *g, const volt_tensor *src,
                                  volt_tensor *dst);
volt_status volt_cpu_avg_pool_backward_ref(const volt_pool_geom *g, const volt_tensor *diff_dst,
                                           volt_tensor *diff_src);
/* Adaptive: g->oh, g->ow only (the windows come from the sizes). */
volt_status volt_cpu_adaptive_avg_pool_ref(const volt_pool_geom *g, const volt_tensor *src,
                                           volt_tensor *dst);
volt_status volt_cpu_adaptive_avg_pool_backward_ref(const volt_pool_geom *g,
                                                    const volt_tensor *diff_dst,
                                                    volt_tensor *diff_src);

#endif
