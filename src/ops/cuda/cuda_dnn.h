/* cuda_dnn.h: the CUDA side of the convolution, pooling and batch-norm ops
 * (ops/conv.c, pool.c, batch_norm.c) through cuDNN (cudnn_conv.c,
 * cudnn_pool.c, cudnn_bn.c; ops/cuda_none.c answers them in a build
 * without CUDA). Tensors are dense NCHW on one CUDA device, of one dtype:
 * f32 (f32 arithmetic: no TF32), f64, bf16 or f16 (f32 accumulation, tensor
 * cores allowed). Each function returns VOLT_OK, or records and returns an
 * error: for what cuDNN cannot express, VOLT_ERR_DEVICE "conv2d: no CUDA
 * kernel yet for f32[...] on cuda:0 (why)"; a cuDNN or CUDA failure
 * otherwise. Work is queued on the device's stream; none waits for it. */
#ifndef VOLT_CUDA_DNN_H
#define VOLT_CUDA_DNN_H

#include "ops/cpu/batch_norm_ref.h"
#include "ops/cpu/conv_ref.h"
#include "ops/cpu/pool_ref.h"

/* ---------------------------------------------------------- convolution */

/* Whether the convolution g (of the op named `op`, on x's device and dtype)
 * has a cuDNN kernel: sizes within int, padding the same on both sides
 * (what "same" with an even kernel is not). Records the refusal when not. */
bool volt_cuda_conv_supported(const char *op, const volt_conv_geom *g, const volt_tensor *x);

/* y [n, o, oh, ow] = conv(x [n, c, h, w], w [o, c/groups, kh, kw]) + b [o]
 * (b may be NULL), then max(y, 0) when relu. Algorithms are chosen once
 * per shape (cuDNN's heuristics), workspaces come from the caching
 * allocator. */
volt_status volt_cuda_conv_forward(const volt_conv_geom *g, const volt_tensor *x,
                                   const volt_tensor *w, const volt_tensor *b, volt_tensor *y,
                                   bool relu);
/* dx [n, c, h, w] = the input gradient of g given dy [n, o, oh, ow]. */
volt_status volt_cuda_conv_backward_data(const volt_conv_geom *g, const volt_tensor *dy,
                                         const volt_tensor *w, volt_tensor *dx);
/* dw [o, c/groups, kh, kw] = the weight gradient of g from x and dy. */
volt_status volt_cuda_conv_backward_filter(const volt_conv_geom *g, const volt_tensor *x,
                                           const volt_tensor *dy, volt_tensor *dw);
/* db [c] = the sum of dy [n, c, h, w] over n, h and w. */
volt_status volt_cuda_channel_sum(const volt_tensor *dy, volt_tensor *db);
/* y [n, c, h, w] += b [c] (broadcast over n, h, w). */
volt_status volt_cuda_channel_add(volt_tensor *y, const volt_tensor *b);
/* out = g where y > 0, else 0 (the ReLU's backward from its output y);
 * all of one shape and dtype, contiguous; out may be g. */
volt_status volt_cuda_relu_mask(volt_tensor *out, const volt_tensor *g, const volt_tensor *y);

/* -------------------------------------------------------------- pooling */

/* Whether cuDNN takes the pooling g of x (max, or average with
 * g->count_include_pad): x's dtype, dilation 1, the output size cuDNN
 * computes (floor: not ceil_mode's extra window), sizes within int.
 * Records nothing: volt's kernels below take the rest. */
bool volt_cuda_pool_cudnn_takes(const volt_pool_geom *g, const volt_tensor *x);
/* y [n, c, oh, ow] = the pooling of x [n, c, h, w]. */
volt_status volt_cuda_pool_forward(bool max, const volt_pool_geom *g, const volt_tensor *x,
                                   volt_tensor *y);
/* dx = the gradient of that pooling given x, its output y and dy (max
 * pooling: each window's gradient goes to one of its maxima). */
volt_status volt_cuda_pool_backward(bool max, const volt_pool_geom *g, const volt_tensor *x,
                                    const volt_tensor *y, const volt_tensor *dy, volt_tensor *dx);

/* The same pooling through volt's kernels (ops/cuda/pool.cu), any
 * geometry, f32 / f64 / bf16 / f16: y from x, and for max pooling indices
 * (i64, y's shape: the position iy * w + ix of each maximum in its plane;
 * NULL for average pooling). */
volt_status volt_cuda_pool_direct_forward(bool max, const volt_pool_geom *g, const volt_tensor *x,
                                          volt_tensor *y, volt_tensor *indices);
/* dx = its gradient given dy (and the forward's indices for max pooling),
 * deterministic. */
volt_status volt_cuda_pool_direct_backward(bool max, const volt_pool_geom *g,
                                           const volt_tensor *indices, const volt_tensor *dy,
                                           volt_tensor *dx);

/* ----------------------------------------------------------- batch norm */

/* y = batch norm of x [n, c, s, 1] (f32 or f64; w, b [c] of x's dtype, NULL:
 * 1 and 0). Training: the batch statistics, written to save_mean and
 * save_invstd [c] (1 / sqrt(biased var + eps)) for the backward pass, and
 * running_mean / running_var (may be NULL) updated as
 * (1 - momentum) r + momentum s with the unbiased variance, like the CPU op.
 * Eval: running_mean / running_var are used (save_* untouched, may be NULL). */
volt_status volt_cuda_batch_norm_forward(const volt_bn_geom *g, const volt_tensor *x,
                                         volt_tensor *y, volt_tensor *running_mean,
                                         volt_tensor *running_var, const volt_tensor *w,
                                         const volt_tensor *b, double momentum,
                                         volt_tensor *save_mean, volt_tensor *save_invstd);
/* The gradients of a training-mode batch norm (its x, w (NULL: 1) and
 * saved statistics): dx, dw and db, all written. */
volt_status volt_cuda_batch_norm_backward(const volt_bn_geom *g, const volt_tensor *x,
                                          const volt_tensor *dy, const volt_tensor *w,
                                          const volt_tensor *save_mean,
                                          const volt_tensor *save_invstd, volt_tensor *dx,
                                          volt_tensor *dw, volt_tensor *db);
/* The gradients of an eval-mode batch norm (its x, w (NULL: 1) and the
 * running statistics it used): dx, dw and db, all written. */
volt_status volt_cuda_batch_norm_backward_eval(const volt_bn_geom *g, const volt_tensor *x,
                                               const volt_tensor *dy, const volt_tensor *w,
                                               const volt_tensor *mean, const volt_tensor *var,
                                               volt_tensor *dx, volt_tensor *dw, volt_tensor *db);

#endif
