/* softmax.cu: softmax and log_softmax over rows (nn_kernels.h), forward
 * with an online max (one pass for the row's max and sum of exponentials,
 * one to write) and backward (one pass for the row's sum, one to write). */
#include <cuda_runtime.h>
#include <math.h>

#include "ops/cuda/nn_kernels.h"
#include "ops/cuda/nn_rows.cuh"

/* (m, s) with s = sum exp(x - m) of two parts, merged at their larger max
 * (a -inf part adds nothing; a NaN anywhere makes s NaN). */
template <typename A> __device__ __forceinline__ volt_ms<A> ms_merge(volt_ms<A> a, volt_ms<A> b) {
    A m = fmax(a.m, b.m);
    A sa = a.m == (A)-INFINITY ? (A)0 : a.s * exp(a.m - m);
    A sb = b.m == (A)-INFINITY ? (A)0 : b.s * exp(b.m - m);
    if (a.m != a.m || b.m != b.m) sa = a.m + b.m;
    return volt_ms<A>{m, sa + sb};
}

template <int G, typename T>
__global__ void softmax_kernel(int lg, T *y, const T *x, int64_t rows, int64_t n, int64_t inner) {
    typedef typename volt_cuda_type<T>::acc A;
    typedef volt_cuda_type<T> L;
    volt_for_rows<G>(rows, [&](int64_t r, int lane) {
        volt_row w = volt_row_at(r, n, inner);
        volt_ms<A> ms{(A)-INFINITY, (A)0};
        VOLT_ROW_FOR(k, lane, n, G)
        ms = ms_merge(ms, volt_ms<A>{(A)L::load(x[w.base + k * w.stride]), (A)1});
        ms = volt_group_reduce<G>(ms, [](volt_ms<A> a, volt_ms<A> b) { return ms_merge(a, b); });
        A log_s = log(ms.s), inv = (A)1 / ms.s;
        VOLT_ROW_FOR(k, lane, n, G) {
            A v = (A)L::load(x[w.base + k * w.stride]) - ms.m;
            y[w.base + k * w.stride] = L::store(lg ? v - log_s : exp(v) * inv);
        }
    });
}

template <int G, typename T>
__global__ void softmax_backward_kernel(int lg, T *gx, const T *g, const T *y, int64_t rows,
                                        int64_t n, int64_t inner) {
    typedef typename volt_cuda_type<T>::acc A;
    typedef volt_cuda_type<T> L;
    volt_for_rows<G>(rows, [&](int64_t r, int lane) {
        volt_row w = volt_row_at(r, n, inner);
        A acc = 0;
        VOLT_ROW_FOR(k, lane, n, G) {
            int64_t i = w.base + k * w.stride;
            acc += lg ? (A)L::load(g[i]) : (A)L::load(g[i]) * (A)L::load(y[i]);
        }
        acc = volt_group_reduce<G>(acc, [](A a, A b) { return a + b; });
        VOLT_ROW_FOR(k, lane, n, G) {
            int64_t i = w.base + k * w.stride;
            A gv = (A)L::load(g[i]), yv = (A)L::load(y[i]);
            gx[i] = L::store(lg ? gv - exp(yv) * acc : yv * (gv - acc));
        }
    });
}

template <typename T>
static int softmax_typed(int lg, void *y, const void *x, int64_t outer, int64_t n, int64_t inner,
                         cudaStream_t s) {
    int64_t rows = outer * inner;
    int G = volt_row_group(n, inner);
    unsigned b = volt_row_blocks(rows, G);
    if (G == 1)
        softmax_kernel<1, T><<<b, VOLT_ROW_BLOCK, 0, s>>>(lg, (T *)y, (const T *)x, rows, n, inner);
    else if (G == 32)
        softmax_kernel<32, T>
            <<<b, VOLT_ROW_BLOCK, 0, s>>>(lg, (T *)y, (const T *)x, rows, n, inner);
    else
        softmax_kernel<VOLT_ROW_BLOCK, T>
            <<<b, VOLT_ROW_BLOCK, 0, s>>>(lg, (T *)y, (const T *)x, rows, n, inner);
    return (int)cudaGetLastError();
}

template <typename T>
static int backward_typed(int lg, void *gx, const void *g, const void *y, int64_t outer, int64_t n,
                          int64_t inner, cudaStream_t s) {
    int64_t rows = outer * inner;
    int G = volt_row_group(n, inner);
    unsigned b = volt_row_blocks(rows, G);
    T *o = (T *)gx;
    const T *gg = (const T *)g, *yy = (const T *)y;
    if (G == 1)
        softmax_backward_kernel<1, T><<<b, VOLT_ROW_BLOCK, 0, s>>>(lg, o, gg, yy, rows, n, inner);
    else if (G == 32)
        softmax_backward_kernel<32, T><<<b, VOLT_ROW_BLOCK, 0, s>>>(lg, o, gg, yy, rows, n, inner);
    else
        softmax_backward_kernel<VOLT_ROW_BLOCK, T>
            <<<b, VOLT_ROW_BLOCK, 0, s>>>(lg, o, gg, yy, rows, n, inner);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_softmax(int log, int dtype, void *y, const void *x, int64_t outer,
                                        int64_t n, int64_t inner, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (outer * inner * n == 0) return (int)cudaSuccess;
    switch (dtype) {
    case VOLT_CUDA_F32: return softmax_typed<float>(log, y, x, outer, n, inner, s);
    case VOLT_CUDA_F64: return softmax_typed<double>(log, y, x, outer, n, inner, s);
    case VOLT_CUDA_BF16: return softmax_typed<__nv_bfloat16>(log, y, x, outer, n, inner, s);
    case VOLT_CUDA_F16: return softmax_typed<__half>(log, y, x, outer, n, inner, s);
    }
    return (int)cudaErrorInvalidValue;
}

extern "C" int volt_cuda_launch_softmax_backward(int log, int dtype, void *gx, const void *g,
                                                 const void *y, int64_t outer, int64_t n,
                                                 int64_t inner, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (outer * inner * n == 0) return (int)cudaSuccess;
    switch (dtype) {
    case VOLT_CUDA_F32: return backward_typed<float>(log, gx, g, y, outer, n, inner, s);
    case VOLT_CUDA_F64: return backward_typed<double>(log, gx, g, y, outer, n, inner, s);
    case VOLT_CUDA_BF16: return backward_typed<__nv_bfloat16>(log, gx, g, y, outer, n, inner, s);
    case VOLT_CUDA_F16: return backward_typed<__half>(log, gx, g, y, outer, n, inner, s);
    }
    return (int)cudaErrorInvalidValue;
}
