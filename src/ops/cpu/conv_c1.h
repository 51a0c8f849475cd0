/* conv_c1.h: direct f32 kernels of the convolution with one input channel,
 * a 3x3 kernel, stride 1, dilation 1 and padding 1 — Conv2d(1, C, 3,
 * padding=1), a CNN's first layer on grey images — on contiguous NCHW:
 * the forward pass and the weight and bias gradients, each one pass over
 * the output (or its gradient) with no layout reorder. oneDNN runs this
 * layer in its blocked layout, which costs a reorder of the whole output
 * (or output gradient) each way. AVX-512 where cpuid has it, plain C
 * elsewhere. The input gradient (a conv1 input rarely needs one) is left to
 * the general paths. */
#ifndef VOLT_CONV_C1_H
#define VOLT_CONV_C1_H

#include "ops/cpu/conv_ref.h"

/* True for geometry g: groups 1, c 1, kernel 3x3, stride 1, dilation 1,
 * padding 1 (so oh == h, ow == w). */
bool volt_cpu_conv_c1_3x3_applies(const volt_conv_geom *g);

/* dst [n, o, h, w] = conv(src [n, 1, h, w], w [o, 1, 3, 3]) + b [o] (b may
 * be NULL). VOLT_OK, or an out-of-memory error (a padded copy of src). */
volt_status volt_cpu_conv_c1_3x3_forward_f32(const volt_conv_geom *g, const float *src,
                                             const float *w, const float *b, float *dst);

/* diff_w [o, 1, 3, 3] and diff_b [o] (may be NULL), overwritten, from src
 * and diff_dst [n, o, h, w]. Each output channel is summed by one thread in
 * a fixed order: results do not depend on the thread count. VOLT_OK, or an
 * out-of-memory error. */
volt_status volt_cpu_conv_c1_3x3_backward_weights_f32(const volt_conv_geom *g, const float *src,
                                                      const float *diff_dst, float *diff_w,
                                                      float *diff_b);

/* The same through the ReLU of conv2d_relu, fused: the forward pass stores
 * max(conv, 0) as volt's relu computes it (NaN and -0 pass), and the weight
 * and bias gradients take diff_dst where relu_out (that forward's output)
 * is not <= 0, else 0 — the ReLU's backward — without either pass of its
 * own. The same bits as the unfused kernels with the ReLU's kernels. */
volt_status volt_cpu_conv_c1_3x3_relu_forward_f32(const volt_conv_geom *g, const float *src,
                                                  const float *w, const float *b, float *dst);
volt_status volt_cpu_conv_c1_3x3_relu_backward_weights_f32(const volt_conv_geom *g,
                                                           const float *src, const float *diff_dst,
                                                           const float *relu_out, float *diff_w,
                                                           float *diff_b);

/* false: the portable bodies even where AVX-512 is there (tests compare
 * the two); returns the previous setting. Set it before use. */
bool volt_cpu_conv_c1_set_simd(bool enabled);
/* The setting (conv_c1_pool.c follows it too). */
bool volt_cpu_conv_c1_simd_wanted(void);

#endif
