/* index_kernels.h: the C ABI of the CUDA kernels of the embedding and the
 * index ops (index.cu). As in cuda_kernels.h, a launcher checks nothing: it
 * queues its kernels on `stream` of the current device and returns the
 * launch's cudaError_t as an int (0: queued). Dtypes are VOLT_CUDA_*
 * (cuda_kernels.h). Index arrays are i64 on the device, never read by the
 * host (that would wait for the device): an index outside its range makes
 * the element it selects read as `fill` (NaN for floats, 0 for integers)
 * and is skipped by the scatters.
 *
 * Not deterministic: the embedding backward and scatter_add add with
 * atomics (f32, f64, i32, i64), so float sums may differ in their last bits
 * from run to run when several indices meet. */
#ifndef VOLT_CUDA_INDEX_KERNELS_H
#define VOLT_CUDA_INDEX_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VOLT_CUDA_INDEX_MAX_DIMS 8

/* out [n, dim] (contiguous) = rows idx[i] of w [rows, dim] (contiguous),
 * NaN rows for an out-of-range index. Any float dtype. */
int volt_cuda_launch_embedding(int dtype, void *out, const void *w, const int64_t *idx, int64_t n,
                               int64_t rows, int64_t dim, void *stream);
/* acc [rows, dim] (zeroed before; f32, or f64 when dtype is f64) +=
 * g [n, dim] (contiguous, dtype) at rows idx[i], skipping padding_idx (-1:
 * none) and out-of-range indices. */
int volt_cuda_launch_embedding_backward(int dtype, void *acc, const void *g, const int64_t *idx,
                                        int64_t n, int64_t rows, int64_t dim, int64_t padding_idx,
                                        void *stream);

/* Positions p of an N-d shape (row-major) with each operand's element
 * strides; `dim` is the indexed dim and `size` the indexed operand's size
 * along it. */
typedef struct {
    int ndim, dim;
    int64_t size;
    int64_t shape[VOLT_CUDA_INDEX_MAX_DIMS];
    int64_t a_stride[VOLT_CUDA_INDEX_MAX_DIMS];   /* the indexed operand */
    int64_t idx_stride[VOLT_CUDA_INDEX_MAX_DIMS]; /* the index */
    int64_t src_stride[VOLT_CUDA_INDEX_MAX_DIMS]; /* scatter: the source */
} volt_cuda_index_geom;

/* out (contiguous, g's shape) [p] = a[p with coordinate dim = idx[p .
 * idx_stride]], elements of elem_size bytes (1, 2, 4, 8) copied as they
 * are; `fill` (elem_size bytes, little end) for an out-of-range index. */
int volt_cuda_launch_gather(int elem_size, void *out, const void *a, const int64_t *idx,
                            uint64_t fill, const volt_cuda_index_geom *g, void *stream);
/* out[p with coordinate dim = idx[p . idx_stride]] += src[p . src_stride]
 * for every p of g's shape, out addressed through a_stride: dtype f32, f64,
 * i32 or i64 (others: cudaErrorInvalidValue, refused by the caller). */
int volt_cuda_launch_scatter_add(int dtype, void *out, const void *src, const int64_t *idx,
                                 const volt_cuda_index_geom *g, void *stream);

/* out = a (both contiguous [batch, rows, cols], elements of elem_size
 * bytes) on the kept triangle (col - row <= diagonal, or >= when upper),
 * 0 elsewhere. */
int volt_cuda_launch_triangle(int elem_size, void *out, const void *a, int64_t batch, int64_t rows,
                              int64_t cols, int64_t diagonal, int upper, void *stream);

#ifdef __cplusplus
}
#endif

#endif
