/* dnnl_conv.h: f32 (and bf16 autocast) 2-D convolution through oneDNN —
 * forward, backward data, backward weights — on contiguous NCHW tensors
 * (volt_conv_geom), and the
 * cache of weights reordered into the forward primitive's layout that a
 * layer keeps between steps. */
#ifndef VOLT_DNNL_CONV_H
#define VOLT_DNNL_CONV_H

#include "ops/cpu/conv_ref.h"

/* Weights reordered for the forward primitive, reused while the weight's
 * storage, offset and version are unchanged (an optimizer step or any other
 * in-place write bumps the version and so invalidates it). Owned by a layer:
 * it holds a reference to the weight's storage until freed. */
typedef struct volt_dnnl_weight_cache volt_dnnl_weight_cache;
volt_dnnl_weight_cache *volt_dnnl_weight_cache_new(void);
void volt_dnnl_weight_cache_free(volt_dnnl_weight_cache *cache);
/* Reorders of weights into a cache done since the process started. */
int64_t volt_dnnl_weight_reorders(void);
/* Input gradients computed as the forward convolution of diff_dst with the
 * flipped weights (stride 1, one group, a jit kernel; f32 or bf16) since the process
 * started; the others ran oneDNN's backward-data primitive or the
 * reference kernel. */
int64_t volt_dnnl_flipped_backward_data(void);

/* Each takes contiguous f32 tensors shaped as g says (weights [o, c/groups,
 * kh, kw]) and returns VOLT_OK; VOLT_ERR_UNSUPPORTED, with no error
 * recorded, when oneDNN takes no such problem (the caller then runs the
 * reference kernel); or another status with an error recorded. bf16: the
 * pass's inputs (src and weights; diff_dst backward) are rounded to bf16
 * and multiplied with f32 accumulation, outputs stay f32; unsupported where
 * the CPU has no bf16 instructions or oneDNN has only its reference
 * implementation for the problem. */

/* dst = conv(src, w) + b (b may be NULL); cache may be NULL. */
volt_status volt_dnnl_conv_forward(const volt_conv_geom *g, const volt_tensor *src,
                                   const volt_tensor *w, const volt_tensor *b, volt_tensor *dst,
                                   volt_dnnl_weight_cache *cache, bool bf16);
/* The gradients of src (diff_src), of the weights (diff_w) and of the bias
 * (diff_b, only with diff_w), each NULL when not wanted; src is needed for
 * diff_w, w for diff_src. diff_dst is reordered once for both (f32: the
 * input gradient of a stride-1 ungrouped convolution runs on the forward
 * kernel, see volt_dnnl_flipped_backward_data). */
volt_status volt_dnnl_conv_backward(const volt_conv_geom *g, const volt_tensor *src,
                                    const volt_tensor *diff_dst, const volt_tensor *w,
                                    volt_tensor *diff_src, volt_tensor *diff_w, volt_tensor *diff_b,
                                    bool bf16);

/* The forward pass (bf16: as volt_dnnl_conv_forward's) with dst, f32, left
 * in oneDNN's layout when that is channel blocks a pooling kernel can read
 * (pool_blocked.h): 16 channels per block (aBcd16b: [n][o / 16][oh][ow][16],
 * *block = 16), or NHWC ([n][oh][ow][o], *block = o), o a multiple of 16;
 * for conv2d_relu_max_pool2x2. *dst receives a new scratch buffer
 * (volt_dnnl_scratch_free). keep_src (may be NULL): where the primitive
 * reads src as bf16 NHWC (the AMX kernels), *keep_src receives that copy as
 * a new bf16 tensor [n, h, w, c] for the backward pass, which then need not
 * convert src again; else NULL. VOLT_ERR_UNSUPPORTED, no error, when the
 * primitive wants another layout. */
volt_status volt_dnnl_conv_forward_blocked(const volt_conv_geom *g, const volt_tensor *src,
                                           const volt_tensor *w, const volt_tensor *b,
                                           volt_dnnl_weight_cache *cache, bool bf16, float **dst,
                                           int64_t *block, volt_tensor **keep_src);
/* volt_dnnl_conv_backward with diff_dst in that blocked layout: f32, or
 * bf16 already when diff_bf16 (bf16 passes only; no reorder then where the
 * primitives read that layout). src_nhwc: the forward's *keep_src, read
 * instead of src (which may then be NULL), or NULL. */
volt_status volt_dnnl_conv_backward_blocked(const volt_conv_geom *g, const volt_tensor *src,
                                            const volt_tensor *src_nhwc, const void *diff_dst,
                                            bool diff_bf16, int64_t block, const volt_tensor *w,
                                            volt_tensor *diff_src, volt_tensor *diff_w,
                                            volt_tensor *diff_b, bool bf16);

#endif
