/* pool_kernels.h: volt's own CUDA pooling kernels (pool.cu), for what
 * cuDNN does not take — max pooling returning indices, dilated windows, the
 * extra window of ceil_mode (max and average) — and the window arithmetic
 * they run on, written once for the device and the host: C code includes
 * it too, so the CPU checks these formulas against its reference kernels
 * (tests/ops/test_pool_window.c).
 *
 * Conventions are the CPU reference's (ops/cpu/pool_ref.c, PyTorch's): a
 * max window's first element counts when all are -inf, NaN wins, an index is
 * the position iy * w + ix in its plane; an average divides by the window
 * within input + padding (count_include_pad) or by its part inside the
 * input. The backward passes gather — each input element sums, in a fixed
 * order, what the outputs whose windows hold it send it — so they are
 * deterministic. A launcher queues its kernel on `stream` (a cudaStream_t)
 * of the current device and returns the launch's cudaError_t as an int
 * (0: queued); dtype is volt's enum value (f32 0, f64 1, bf16 2, f16 3),
 * computing in f32 (f64 for f64). */
#ifndef VOLT_CUDA_POOL_KERNELS_H
#define VOLT_CUDA_POOL_KERNELS_H

#include <stdint.h>

#ifdef __CUDACC__
#define VOLT_POOL_FN __host__ __device__ __forceinline__
#else
#define VOLT_POOL_FN static inline
#endif

/* One pooling: input planes n * c of h x w, output oh x ow; kernel, stride,
 * padding, dilation per dim. */
typedef struct {
    int64_t n, c, h, w, oh, ow;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int count_include_pad;
} volt_pool_dims;

/* The elements of a max window along one dim: first, first + d, ... < end
 * (first inside the input; end clipped to it). */
VOLT_POOL_FN void volt_pool_max_span(int64_t o, int64_t k, int64_t s, int64_t p, int64_t d,
                                     int64_t in, int64_t *first, int64_t *end) {
    int64_t start = o * s - p;
    *first = start < 0 ? start + (-start + d - 1) / d * d : start;
    *end = start + (k - 1) * d + 1 < in ? start + (k - 1) * d + 1 : in;
}

/* An average window along one dim: [*first, *end) inside the input, and
 * its length within input + padding (`padded`). */
VOLT_POOL_FN void volt_pool_avg_span(int64_t o, int64_t k, int64_t s, int64_t p, int64_t in,
                                     int64_t *first, int64_t *end, int64_t *padded) {
    int64_t start = o * s - p, stop = start + k < in + p ? start + k : in + p;
    *padded = stop - start;
    *first = start < 0 ? 0 : start;
    *end = stop > in ? in : stop;
}

/* The outputs [*o0, *o1) along one dim whose windows' extents (first to
 * last element, d apart) reach input position i: the candidates a backward
 * gather visits (a dilated window may step over i: max pooling's index
 * decides). */
VOLT_POOL_FN void volt_pool_reach(int64_t i, int64_t k, int64_t s, int64_t p, int64_t d,
                                  int64_t out, int64_t *o0, int64_t *o1) {
    int64_t lo = i + p - (k - 1) * d; /* o s >= lo */
    int64_t first = lo <= 0 ? 0 : (lo + s - 1) / s;
    int64_t last = (i + p) / s; /* o s <= i + p */
    *o0 = first;
    *o1 = last + 1 < out ? last + 1 : out;
}

#ifdef __cplusplus
extern "C" {
#endif

/* y [n, c, oh, ow] = the window maxima of x [n, c, h, w]; idx (i64, y's
 * shape) their positions. */
int volt_cuda_launch_max_pool(int dtype, void *y, int64_t *idx, const void *x,
                              const volt_pool_dims *g, void *stream);
/* dx [n, c, h, w] = the sum of dy over the outputs whose idx is that
 * element. */
int volt_cuda_launch_max_pool_backward(int dtype, void *dx, const void *dy, const int64_t *idx,
                                       const volt_pool_dims *g, void *stream);
/* y = the window averages of x (dilation 1). */
int volt_cuda_launch_avg_pool(int dtype, void *y, const void *x, const volt_pool_dims *g,
                              void *stream);
/* dx = each element's share of the dy of every window holding it. */
int volt_cuda_launch_avg_pool_backward(int dtype, void *dx, const void *dy, const volt_pool_dims *g,
                                       void *stream);

#ifdef __cplusplus
}
#endif

#endif
