/* conv_ref.h: the geometry of a 2-D convolution and the reference kernels
 * (direct loops, f32 and f64, accumulating in double) for its forward pass
 * and its two gradients. A transposed convolution is described by the
 * convolution it transposes: its input is that convolution's output. */
#ifndef VOLT_CONV_REF_H
#define VOLT_CONV_REF_H

#include "ops/ops_impl.h"

/* src [n, c, h, w] -> dst [n, o, oh, ow] with weights [o, c / groups, kh, kw].
 * Input row of output row y, tap k: y * sh - ph + k * dh (outside [0, h):
 * padding, zero). The bottom/right padding follows from the sizes. */
typedef struct {
    int64_t n, c, h, w;
    int64_t o, oh, ow;
    int64_t kh, kw;
    int64_t sh, sw;
    int64_t dh, dw;
    int64_t ph, pw;
    int64_t groups;
    bool with_bias; /* the forward pass had a bias (a hint for oneDNN) */
} volt_conv_geom;

/* All tensors contiguous, f32 or f64 (one dtype). Each returns VOLT_OK, or
 * an out-of-memory error for its f64 temporaries. */
/* dst = conv(src, w) + b (b may be NULL). */
volt_status volt_cpu_conv_forward_ref(const volt_conv_geom *g, const volt_tensor *src,
                                      const volt_tensor *w, const volt_tensor *b, volt_tensor *dst);
/* diff_src = gradient of conv(src, w) w.r.t. src, given diff_dst. */
volt_status volt_cpu_conv_backward_data_ref(const volt_conv_geom *g, const volt_tensor *diff_dst,
                                            const volt_tensor *w, volt_tensor *diff_src);
/* diff_w (and diff_b unless NULL) given src and diff_dst. */
volt_status volt_cpu_conv_backward_weights_ref(const volt_conv_geom *g, const volt_tensor *src,
                                               const volt_tensor *diff_dst, volt_tensor *diff_w,
                                               volt_tensor *diff_b);

/* y [n, c, h, w] += b[c] (contiguous, f32/f64). */
void volt_cpu_channel_add(volt_tensor *y, const volt_tensor *b);
/* gb[c] = sum of gy [n, c, h, w] over n, h, w (contiguous, f32/f64). */
void volt_cpu_channel_sum(const volt_tensor *gy, volt_tensor *gb);

#endif
