/* conv_impl.h: what the conv, pool and batch-norm op files share with each
 * other and with the layers in src/nn: the conv ops with a layer's weight
 * cache, and the helpers for dense 4-D views. */
#ifndef VOLT_CONV_IMPL_H
#define VOLT_CONV_IMPL_H

#include "ops/cpu/dnnl_conv.h"
#include "volt/nn.h" /* volt_batch_norm_train_fn */

/* volt_conv2d / volt_conv2d_relu / volt_conv2d_relu_max_pool2x2 / volt_conv1d
 * reusing `cache` (may be
 * NULL) for the weights reordered into oneDNN's layout (f32). */
volt_tensor *volt_conv2d_cached(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                                const int64_t stride[2], const int64_t padding[2],
                                const int64_t dilation[2], int64_t groups,
                                volt_dnnl_weight_cache *cache);
volt_tensor *volt_conv2d_relu_cached(const volt_tensor *x, const volt_tensor *w,
                                     const volt_tensor *bias, const int64_t stride[2],
                                     const int64_t padding[2], const int64_t dilation[2],
                                     int64_t groups, volt_dnnl_weight_cache *cache);
volt_tensor *volt_conv2d_relu_max_pool2x2_cached(const volt_tensor *x, const volt_tensor *w,
                                                 const volt_tensor *bias, const int64_t stride[2],
                                                 const int64_t padding[2],
                                                 const int64_t dilation[2], int64_t groups,
                                                 volt_dnnl_weight_cache *cache);
volt_tensor *volt_conv1d_cached(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                                int64_t stride, int64_t padding, int64_t dilation, int64_t groups,
                                volt_dnnl_weight_cache *cache);

/* conv2d(x, w, bias) with stride 1 and padding 'same' computed as CUDA
 * computes it when a kernel's dilated size is even (cuDNN pads both sides
 * alike, 'same' then pads one more at the end): padded on both sides by
 * the end's amount, the first output row / column of each such dim
 * dropped (a view; differentiable). The same values as volt_conv2d on any
 * device; exposed so the CPU can check the composition. */
volt_tensor *volt_conv2d_same_widened(const volt_tensor *x, const volt_tensor *w,
                                      const volt_tensor *bias, const int64_t dilation[2],
                                      int64_t groups);

/* A contiguous tensor holding t's elements seen as (ndim, shape) (same
 * count): an alias of t when t is contiguous, else a copy. No autograd. */
volt_tensor *volt_dense_as(const volt_tensor *t, int ndim, const int64_t *shape);

/* adaptive_avg_pool2d(x, out_h, out_w) as two products, A_h x A_w^T with
 * A [out, in] the averaging matrices (row i: 1 / size over the window
 * [floor(i in / out), ceil((i + 1) in / out))), without autocast: the same
 * values up to rounding, differentiable through the products, on any
 * device with products (CUDA takes unequal windows this way). x [N, C, H,
 * W] or [C, H, W], checked by the caller. */
volt_tensor *volt_adaptive_avg_pool2d_by_products(const volt_tensor *x, int64_t out_h,
                                                  int64_t out_w);

/* Batch norm of a bf16 x (precision "bf16-true"): x, weight and bias widened
 * to f32, the f32 batch norm run on them (volt_batch_norm, or in training
 * `train` with ctx when not NULL: sync batch norm), the result rounded to
 * bf16; bf16 running statistics updated in f32 copies rounded back into
 * them (f32 ones updated directly). */
volt_tensor *volt_batch_norm_bf16(volt_batch_norm_train_fn train, void *ctx, const volt_tensor *x,
                                  volt_tensor *running_mean, volt_tensor *running_var,
                                  const volt_tensor *weight, const volt_tensor *bias, bool training,
                                  double momentum, double eps);

#endif
