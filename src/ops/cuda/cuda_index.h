/* cuda_index.h: the CUDA side of the embedding and the index ops — what
 * embedding.c and index.c call for CUDA tensors once they have validated
 * their arguments (host code in ops/cuda/index.c; stubs in
 * ops/cuda_none.c). Index tensors are contiguous i64 on the device and are
 * never read by the host (that would wait for the device): an out-of-range
 * index gives NaN (floats) or 0 (integers) where it selects, and is
 * skipped where it scatters. The embedding backward and scatter_add add
 * with atomics: float results may differ in their last bits between runs
 * when indices repeat (index_kernels.h). Each returns VOLT_OK or records
 * and returns an error; what has no kernel is refused by name. */
#ifndef VOLT_CUDA_INDEX_H
#define VOLT_CUDA_INDEX_H

#include "ops/ops_impl.h"

/* out (contiguous [idx..., dim]) = rows idx of w (CUDA, contiguous 2-D,
 * float dtype); idx contiguous i64. */
volt_status volt_cuda_embedding(const char *op, volt_tensor *out, const volt_tensor *w,
                                const volt_tensor *idx);
/* gw (contiguous [rows, dim], float dtype) = the rows of g (contiguous
 * [n, dim] in effect, gw's dtype) summed at idx, padding_idx (-1: none)
 * left at zero. bf16 / f16 accumulate in an f32 scratch. */
volt_status volt_cuda_embedding_backward(const char *op, volt_tensor *gw, const volt_tensor *g,
                                         const volt_tensor *idx, int64_t padding_idx);

/* = volt_cpu_gather (ops/cpu/index.h) for CUDA out (contiguous) and a (any
 * strides, any dtype); idx contiguous i64 on the device. */
volt_status volt_cuda_gather(const char *op, volt_tensor *out, const volt_tensor *a, int dim,
                             const volt_tensor *idx, const int64_t *idx_strides);
/* = volt_cpu_scatter_add for CUDA out and src (any strides) of f32, f64,
 * i32 or i64 (others refused by name; bf16 / f16 callers go through an f32
 * copy). */
volt_status volt_cuda_scatter_add(const char *op, volt_tensor *out, int dim, const volt_tensor *idx,
                                  const int64_t *idx_strides, const volt_tensor *src, int ndim,
                                  const int64_t *shape);
/* = volt_cpu_triangle for CUDA out (contiguous) and a (any layout). */
volt_status volt_cuda_triangle(const char *op, volt_tensor *out, const volt_tensor *a,
                               int64_t diagonal, bool upper);

#endif
