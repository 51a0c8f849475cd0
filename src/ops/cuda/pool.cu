/* pool.cu: volt's own pooling kernels (pool_kernels.h) — max pooling with
 * indices, dilation and ceil_mode's windows, average pooling with
 * ceil_mode's windows — forward one thread per output element, backward
 * one thread per input element gathering from the outputs that reach it
 * (grid-stride loops, 64-bit positions). */
#include <cuda_runtime.h>
#include <math.h>

#include "ops/cuda/elementwise.cuh"
#include "ops/cuda/pool_kernels.h"

template <typename T> __device__ __forceinline__ bool is_nan(T v) { return v != v; }

template <typename T>
__global__ void max_pool_kernel(T *y, int64_t *idx, const T *x, volt_pool_dims g) {
    typedef volt_cuda_type<T> C;
    typedef volt_cuda_acc<T> A;
    const int64_t total = g.n * g.c * g.oh * g.ow;
    for (int64_t o = volt_cuda_thread_index(); o < total; o += volt_cuda_thread_stride()) {
        int64_t ox = o % g.ow, oy = o / g.ow % g.oh, plane = o / (g.ow * g.oh);
        int64_t y0, y1, x0, x1;
        volt_pool_max_span(oy, g.kh, g.sh, g.ph, g.dh, g.h, &y0, &y1);
        volt_pool_max_span(ox, g.kw, g.sw, g.pw, g.dw, g.w, &x0, &x1);
        const T *xp = x + plane * g.h * g.w;
        int64_t best = y0 * g.w + x0;
        A m = -(A)INFINITY;
        for (int64_t iy = y0; iy < y1; iy += g.dh)
            for (int64_t ix = x0; ix < x1; ix += g.dw) {
                A v = C::load(xp[iy * g.w + ix]);
                if (v > m || is_nan(v)) {
                    m = v;
                    best = iy * g.w + ix;
                }
            }
        y[o] = C::store(m);
        idx[o] = best;
    }
}

template <typename T>
__global__ void max_pool_backward_kernel(T *dx, const T *dy, const int64_t *idx, volt_pool_dims g) {
    typedef volt_cuda_type<T> C;
    typedef volt_cuda_acc<T> A;
    const int64_t total = g.n * g.c * g.h * g.w;
    for (int64_t e = volt_cuda_thread_index(); e < total; e += volt_cuda_thread_stride()) {
        int64_t pos = e % (g.h * g.w), plane = e / (g.h * g.w);
        int64_t iy = pos / g.w, ix = pos % g.w;
        int64_t oy0, oy1, ox0, ox1;
        volt_pool_reach(iy, g.kh, g.sh, g.ph, g.dh, g.oh, &oy0, &oy1);
        volt_pool_reach(ix, g.kw, g.sw, g.pw, g.dw, g.ow, &ox0, &ox1);
        const int64_t base = plane * g.oh * g.ow;
        A sum = 0;
        for (int64_t oy = oy0; oy < oy1; oy++)
            for (int64_t ox = ox0; ox < ox1; ox++) {
                int64_t o = base + oy * g.ow + ox;
                if (idx[o] == pos) sum += C::load(dy[o]);
            }
        dx[e] = C::store(sum);
    }
}

template <typename T> __global__ void avg_pool_kernel(T *y, const T *x, volt_pool_dims g) {
    typedef volt_cuda_type<T> C;
    typedef volt_cuda_acc<T> A;
    const int64_t total = g.n * g.c * g.oh * g.ow;
    for (int64_t o = volt_cuda_thread_index(); o < total; o += volt_cuda_thread_stride()) {
        int64_t ox = o % g.ow, oy = o / g.ow % g.oh, plane = o / (g.ow * g.oh);
        int64_t y0, y1, x0, x1, ph, pw;
        volt_pool_avg_span(oy, g.kh, g.sh, g.ph, g.h, &y0, &y1, &ph);
        volt_pool_avg_span(ox, g.kw, g.sw, g.pw, g.w, &x0, &x1, &pw);
        const T *xp = x + plane * g.h * g.w;
        A sum = 0;
        for (int64_t iy = y0; iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++) sum += C::load(xp[iy * g.w + ix]);
        int64_t div = g.count_include_pad ? ph * pw : (y1 - y0) * (x1 - x0);
        y[o] = C::store(sum / (A)div);
    }
}

template <typename T>
__global__ void avg_pool_backward_kernel(T *dx, const T *dy, volt_pool_dims g) {
    typedef volt_cuda_type<T> C;
    typedef volt_cuda_acc<T> A;
    const int64_t total = g.n * g.c * g.h * g.w;
    for (int64_t e = volt_cuda_thread_index(); e < total; e += volt_cuda_thread_stride()) {
        int64_t pos = e % (g.h * g.w), plane = e / (g.h * g.w);
        int64_t oy0, oy1, ox0, ox1;
        volt_pool_reach(pos / g.w, g.kh, g.sh, g.ph, 1, g.oh, &oy0, &oy1);
        volt_pool_reach(pos % g.w, g.kw, g.sw, g.pw, 1, g.ow, &ox0, &ox1);
        const T *dp = dy + plane * g.oh * g.ow;
        A sum = 0;
        for (int64_t oy = oy0; oy < oy1; oy++) {
            int64_t y0, y1, ph;
            volt_pool_avg_span(oy, g.kh, g.sh, g.ph, g.h, &y0, &y1, &ph);
            for (int64_t ox = ox0; ox < ox1; ox++) {
                int64_t x0, x1, pw;
                volt_pool_avg_span(ox, g.kw, g.sw, g.pw, g.w, &x0, &x1, &pw);
                int64_t div = g.count_include_pad ? ph * pw : (y1 - y0) * (x1 - x0);
                sum += C::load(dp[oy * g.ow + ox]) / (A)div;
            }
        }
        dx[e] = C::store(sum);
    }
}

/* Runs K<T> for volt's dtype enum value; cudaErrorInvalidValue for others. */
#define POOL_DISPATCH(dtype, LAUNCH)                                                               \
    switch (dtype) {                                                                               \
    case VOLT_CUDA_F32: LAUNCH(float); break;                                                      \
    case VOLT_CUDA_F64: LAUNCH(double); break;                                                     \
    case VOLT_CUDA_BF16: LAUNCH(__nv_bfloat16); break;                                             \
    case VOLT_CUDA_F16: LAUNCH(__half); break;                                                     \
    default: return (int)cudaErrorInvalidValue;                                                    \
    }                                                                                              \
    return (int)cudaGetLastError();

extern "C" int volt_cuda_launch_max_pool(int dtype, void *y, int64_t *idx, const void *x,
                                         const volt_pool_dims *g, void *stream) {
    unsigned b = volt_cuda_blocks(g->n * g->c * g->oh * g->ow);
    cudaStream_t s = (cudaStream_t)stream;
#define LAUNCH(T) max_pool_kernel<T><<<b, VOLT_CUDA_THREADS, 0, s>>>((T *)y, idx, (const T *)x, *g)
    POOL_DISPATCH(dtype, LAUNCH)
#undef LAUNCH
}

extern "C" int volt_cuda_launch_max_pool_backward(int dtype, void *dx, const void *dy,
                                                  const int64_t *idx, const volt_pool_dims *g,
                                                  void *stream) {
    unsigned b = volt_cuda_blocks(g->n * g->c * g->h * g->w);
    cudaStream_t s = (cudaStream_t)stream;
#define LAUNCH(T)                                                                                  \
    max_pool_backward_kernel<T><<<b, VOLT_CUDA_THREADS, 0, s>>>((T *)dx, (const T *)dy, idx, *g)
    POOL_DISPATCH(dtype, LAUNCH)
#undef LAUNCH
}

extern "C" int volt_cuda_launch_avg_pool(int dtype, void *y, const void *x, const volt_pool_dims *g,
                                         void *stream) {
    unsigned b = volt_cuda_blocks(g->n * g->c * g->oh * g->ow);
    cudaStream_t s = (cudaStream_t)stream;
#define LAUNCH(T) avg_pool_kernel<T><<<b, VOLT_CUDA_THREADS, 0, s>>>((T *)y, (const T *)x, *g)
    POOL_DISPATCH(dtype, LAUNCH)
#undef LAUNCH
}

extern "C" int volt_cuda_launch_avg_pool_backward(int dtype, void *dx, const void *dy,
                                                  const volt_pool_dims *g, void *stream) {
    unsigned b = volt_cuda_blocks(g->n * g->c * g->h * g->w);
    cudaStream_t s = (cudaStream_t)stream;
#define LAUNCH(T)                                                                                  \
    avg_pool_backward_kernel<T><<<b, VOLT_CUDA_THREADS, 0, s>>>((T *)dx, (const T *)dy, *g)
    POOL_DISPATCH(dtype, LAUNCH)
#undef LAUNCH
}
