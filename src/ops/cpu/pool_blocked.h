/* pool_blocked.h: ReLU + 2x2 max pooling straight from a convolution's
 * output in oneDNN's 16-channel blocks (aBcd16b: [n][c / 16][h][w][16]) or
 * in NHWC ([n][h][w][c], as its bf16 AMX kernels leave it), for
 * conv2d_relu_max_pool2x2 (ops/conv_pool.c): the pooled output comes
 * out as plain NCHW, and the gradient goes back into the blocked layout
 * the convolution's backward primitives read, so neither the convolution's
 * output nor its gradient is reordered, and the ReLU costs no pass of its
 * own. The values are those of volt's ReLU followed by the 2x2 max pooling
 * kernel (pool_fast.h), bit for bit. AVX-512 only: a CPU without it gets
 * another blocking from oneDNN, and the op runs unfused. */
#ifndef VOLT_POOL_BLOCKED_H
#define VOLT_POOL_BLOCKED_H

#include "ops/cpu/pool_ref.h"

/* Whether the kernels can run here (AVX-512 F, BW and VL). */
bool volt_cpu_pool_blocked16_available(void);

/* g: the pooling's geometry (2x2, stride 2, floor: oh = h / 2, ow = w / 2;
 * c a multiple of 16); block: 16 (src in aBcd16b) or c (src in NHWC).
 * dst [n, c, oh, ow] (NCHW) = the pooled max(src, 0), each max(src, 0)
 * first rounded to bf16 with round_bf16 (bf16_round.h: precision
 * "bf16-true", so the pooling compares what the bf16 ops compare); code
 * [n][c / 16][oh][ow][16] (NULL: not wanted) = each output's window
 * position 2 * dy + dx, or 4 where the output is <= 0 (no gradient). */
void volt_cpu_relu_pool2x2_blocked_f32(const volt_pool_geom *g, int64_t block, bool round_bf16,
                                       const float *src, float *dst, uint8_t *code);

/* diff_src (src's layout, block as there), every element written, from
 * diff_dst [n, c, oh, ow] (NCHW, f32) and the forward's code: the gradient
 * of both ReLU and pooling, in f32, or with bf16 rounded to bf16 (nearest
 * even, bf16_round.h) and stored as bf16 — what a bf16 convolution's
 * backward reads. */
void volt_cpu_relu_pool2x2_blocked_backward(const volt_pool_geom *g, int64_t block,
                                            const float *diff_dst, const uint8_t *code,
                                            void *diff_src, bool bf16);

#endif
