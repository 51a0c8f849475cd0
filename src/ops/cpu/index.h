/* index.h: CPU kernels of the index ops (ops/index.c): gather-style copies,
 * deterministic scatter-add, masked fill, triangles and one-hot. Index
 * arrays are contiguous i64 already checked to be in range by the caller. */
#ifndef VOLT_CPU_INDEX_H
#define VOLT_CPU_INDEX_H

#include "ops/ops_impl.h"

/* True when every idx[i] (i < n) lies in [0, size); otherwise false with
 * the first offending value in *bad. */
bool volt_cpu_index_in_range(const int64_t *idx, int64_t n, int64_t size, int64_t *bad);

/* For every position p of out: out[p] = a[p with coordinate `dim` replaced
 * by idx[sum_d p_d * idx_strides[d]]]. Gather uses the contiguous strides of
 * the index's shape (= out's); index_select 1 on dim and 0 elsewhere. Copies
 * elements of any dtype by size; a and out may have any strides. */
void volt_cpu_gather(volt_tensor *out, const volt_tensor *a, int dim, const int64_t *idx,
                     const int64_t *idx_strides);

/* For every position p of (ndim, shape) (within src's shape):
 * out[p with coordinate `dim` replaced by idx[p . idx_strides]] += src[p].
 * Deterministic: positions that meet in out are added in the order of their
 * `dim` coordinate, whatever the thread count. out and src have the same
 * dtype (f32, f64, i64, i32, u8); returns VOLT_ERR_DTYPE for others. */
volt_status volt_cpu_scatter_add(volt_tensor *out, int dim, const int64_t *idx,
                                 const int64_t *idx_strides, const volt_tensor *src, int ndim,
                                 const int64_t *shape);

/* out = mask ? value : a elementwise, mask (bool) and a broadcast to out's
 * shape; out may be a itself. `value` points to one element of out's dtype. */
void volt_cpu_masked_fill(volt_tensor *out, const volt_tensor *a, const volt_tensor *mask,
                          const void *value);

/* out = a on the kept triangle of the last two dims, 0 elsewhere: kept
 * where col - row <= diagonal (lower) or >= diagonal (upper). */
void volt_cpu_triangle(volt_tensor *out, const volt_tensor *a, int64_t diagonal, bool upper);

/* out (i64, contiguous [n, classes], zeroed) gets 1 at [i, idx[i]]. */
void volt_cpu_one_hot(volt_tensor *out, const int64_t *idx, int64_t n, int64_t classes);

#endif
