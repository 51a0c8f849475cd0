/* conv_c1_pool.h: a CNN's first block — Conv2d(1, o, 3, padding=1), ReLU,
 * MaxPool2d(2) — as one pass in f32 on contiguous NCHW, for
 * volt_conv2d_relu_max_pool2x2 (ops/conv_pool.c). The convolution's output
 * is never stored: each 2x2 window's four values are computed, ReLU'd and
 * pooled in registers, and only the pooled output and a one-byte code per
 * output leave the kernel — a quarter of the memory traffic of the three
 * ops apart, each way. The pooled values are the same bits as
 * conv2d_relu's direct kernel (conv_c1.h) followed by the 2x2 max pooling
 * kernel (pool_fast.h). The input gradient is left to the unfused ops. */
#ifndef VOLT_CONV_C1_POOL_H
#define VOLT_CONV_C1_POOL_H

#include "ops/cpu/conv_ref.h"

/* The code of an output whose maximum is <= 0 (its ReLU passes no
 * gradient); other codes are the window position 2 * dy + dx of the
 * maximum. */
#define VOLT_CONV_POOL_NO_GRADIENT 4

/* True for geometry g when volt_cpu_conv_c1_3x3_applies(g) and the pooled
 * output is not empty (h, w >= 2). */
bool volt_cpu_conv_c1_relu_pool_applies(const volt_conv_geom *g);

/* dst [n, o, h / 2, w / 2] = 2x2 max pooling (floor) of max(conv(src
 * [n, 1, h, w], w [o, 1, 3, 3]) + b, 0) (b may be NULL); with round_bf16,
 * each value after the ReLU is first rounded to bf16 (nearest even, kept as
 * f32), as the bf16 ops round their results (precision "bf16-true"), so the
 * pooling compares what they compare. code (NULL: not wanted) receives, per
 * output, the position of its maximum (the pooling kernel's conventions:
 * the first maximum, a NaN taking over) or VOLT_CONV_POOL_NO_GRADIENT.
 * VOLT_OK, or an out-of-memory error. */
volt_status volt_cpu_conv_c1_relu_pool_forward_f32(const volt_conv_geom *g, const float *src,
                                                   const float *w, const float *b, bool round_bf16,
                                                   float *dst, uint8_t *code);

/* diff_w [o, 1, 3, 3] and diff_b [o] (may be NULL), overwritten, from src,
 * diff_dst [n, o, h / 2, w / 2] and the forward's code: the gradients of
 * the three ops. Each output channel is summed by one thread in a fixed
 * order: results do not depend on the thread count. VOLT_OK, or an
 * out-of-memory error. */
volt_status volt_cpu_conv_c1_relu_pool_backward_weights_f32(const volt_conv_geom *g,
                                                            const float *src, const float *diff_dst,
                                                            const uint8_t *code, float *diff_w,
                                                            float *diff_b);

#endif
