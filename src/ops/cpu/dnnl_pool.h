/* dnnl_pool.h: f32 2-D max and average pooling through oneDNN's pooling
 * primitives (pooling_v2: dilation) on contiguous NCHW tensors, with the
 * max-pooling workspace kept as a volt tensor between the passes. */
#ifndef VOLT_DNNL_POOL_H
#define VOLT_DNNL_POOL_H

#include "ops/cpu/pool_ref.h"

/* Each returns VOLT_OK; VOLT_ERR_UNSUPPORTED, with no error recorded, when
 * oneDNN takes no such problem (or would count the divisor unlike
 * PyTorch); or another status with an error recorded. */

/* dst = pool(src). max: with workspace non-NULL, *workspace receives a new
 * u8 tensor (current scope) that the backward pass needs. */
volt_status volt_dnnl_pool_forward(const volt_pool_geom *g, bool max, const volt_tensor *src,
                                   volt_tensor *dst, volt_tensor **workspace);
/* diff_src from diff_dst (and, for max, the forward's workspace). */
volt_status volt_dnnl_pool_backward(const volt_pool_geom *g, bool max, const volt_tensor *diff_dst,
                                    const volt_tensor *workspace, volt_tensor *diff_src);

#endif
