/* gemm.cu: the small kernels around the matrix products (gemm_kernels.h) —
 * the broadcast bias fill of addmm where cuBLASLt's bias epilogue does not
 * apply, and the reference attention path's scaled causal softmax and its
 * backward (one warp per row, warp-shuffle reductions, f32 arithmetic for
 * the 16-bit types, f64 for f64). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/gemm_kernels.h"
#include "ops/cuda/elementwise.cuh"

/* ------------------------------------------------------------ bias fill */

template <typename T>
__global__ void bias_fill_kernel(T *out, const T *bias, int64_t n, int64_t m, int64_t s0,
                                 int64_t s1, double beta) {
    typedef typename volt_cuda_type<T>::acc A;
    int64_t total = n * m;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / m, c = i % m;
        out[i] = volt_cuda_type<T>::store((A)beta * volt_cuda_type<T>::load(bias[r * s0 + c * s1]));
    }
}

static unsigned blocks_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > 65536 ? 65536 : b);
}

template <typename T>
static int bias_fill(void *out, const void *bias, int64_t n, int64_t m, int64_t s0, int64_t s1,
                     double beta, cudaStream_t s) {
    bias_fill_kernel<T>
        <<<blocks_for(n * m, 256), 256, 0, s>>>((T *)out, (const T *)bias, n, m, s0, s1, beta);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_bias_fill(void *out, int dtype, const void *bias, int64_t n,
                                          int64_t m, int64_t s0, int64_t s1, double beta,
                                          void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    switch (dtype) {
    case VOLT_CUDA_F32: return bias_fill<float>(out, bias, n, m, s0, s1, beta, s);
    case VOLT_CUDA_F64: return bias_fill<double>(out, bias, n, m, s0, s1, beta, s);
    case VOLT_CUDA_BF16: return bias_fill<__nv_bfloat16>(out, bias, n, m, s0, s1, beta, s);
    case VOLT_CUDA_F16: return bias_fill<__half>(out, bias, n, m, s0, s1, beta, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* ------------------------------------------------- reference softmax */

#define ROWS_PER_BLOCK 8 /* one warp each */

/* Keys row r of a [.., nt, ns] score tensor sees (as the CPU kernel). */
__device__ __forceinline__ int64_t visible_keys(int64_t r, int64_t nt, int64_t ns, int causal) {
    if (!causal) return ns;
    int64_t i = r % nt + 1;
    return i < ns ? i : ns;
}

template <typename A> __device__ __forceinline__ A warp_max(A v) {
    for (int o = 16; o > 0; o /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

template <typename A> __device__ __forceinline__ A warp_sum(A v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <typename T>
__global__ void softmax_kernel(T *p, int64_t rows, int64_t nt, int64_t ns, int causal,
                               double scale) {
    typedef typename volt_cuda_type<T>::acc A;
    int64_t r = (int64_t)blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (r >= rows) return; /* the whole warp leaves together */
    T *row = p + r * ns;
    int64_t n = visible_keys(r, nt, ns, causal);
    A sc = (A)scale, mx = -INFINITY;
    for (int64_t j = lane; j < n; j += 32) mx = fmax(mx, sc * volt_cuda_type<T>::load(row[j]));
    mx = warp_max(mx);
    A sum = 0;
    for (int64_t j = lane; j < n; j += 32) sum += exp(sc * volt_cuda_type<T>::load(row[j]) - mx);
    A inv = (A)1 / warp_sum(sum);
    for (int64_t j = lane; j < ns; j += 32)
        row[j] = volt_cuda_type<T>::store(
            j < n ? exp(sc * volt_cuda_type<T>::load(row[j]) - mx) * inv : (A)0);
}

template <typename T>
__global__ void softmax_backward_kernel(T *d, const T *p, int64_t rows, int64_t nt, int64_t ns,
                                        int causal, double scale) {
    typedef typename volt_cuda_type<T>::acc A;
    int64_t r = (int64_t)blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (r >= rows) return;
    T *dr = d + r * ns;
    const T *pr = p + r * ns;
    int64_t n = visible_keys(r, nt, ns, causal);
    A dot = 0;
    for (int64_t j = lane; j < n; j += 32)
        dot += volt_cuda_type<T>::load(dr[j]) * volt_cuda_type<T>::load(pr[j]);
    dot = warp_sum(dot);
    for (int64_t j = lane; j < ns; j += 32)
        dr[j] = volt_cuda_type<T>::store(j < n ? (A)scale * volt_cuda_type<T>::load(pr[j]) *
                                                     (volt_cuda_type<T>::load(dr[j]) - dot)
                                               : (A)0);
}

static unsigned row_blocks(int64_t rows) {
    return (unsigned)((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
}

template <typename T>
static int softmax(void *p, int64_t rows, int64_t nt, int64_t ns, int causal, double scale,
                   cudaStream_t s) {
    softmax_kernel<T>
        <<<row_blocks(rows), 32 * ROWS_PER_BLOCK, 0, s>>>((T *)p, rows, nt, ns, causal, scale);
    return (int)cudaGetLastError();
}

template <typename T>
static int softmax_backward(void *d, const void *p, int64_t rows, int64_t nt, int64_t ns,
                            int causal, double scale, cudaStream_t s) {
    softmax_backward_kernel<T><<<row_blocks(rows), 32 * ROWS_PER_BLOCK, 0, s>>>(
        (T *)d, (const T *)p, rows, nt, ns, causal, scale);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_attention_softmax(void *p, int dtype, int64_t rows, int64_t nt,
                                                  int64_t ns, int causal, double scale,
                                                  void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (rows <= 0 || ns <= 0) return 0;
    switch (dtype) {
    case VOLT_CUDA_F32: return softmax<float>(p, rows, nt, ns, causal, scale, s);
    case VOLT_CUDA_F64: return softmax<double>(p, rows, nt, ns, causal, scale, s);
    case VOLT_CUDA_BF16: return softmax<__nv_bfloat16>(p, rows, nt, ns, causal, scale, s);
    case VOLT_CUDA_F16: return softmax<__half>(p, rows, nt, ns, causal, scale, s);
    }
    return (int)cudaErrorInvalidValue;
}

extern "C" int volt_cuda_launch_attention_softmax_backward(void *d, const void *p, int dtype,
                                                           int64_t rows, int64_t nt, int64_t ns,
                                                           int causal, double scale, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (rows <= 0 || ns <= 0) return 0;
    switch (dtype) {
    case VOLT_CUDA_F32: return softmax_backward<float>(d, p, rows, nt, ns, causal, scale, s);
    case VOLT_CUDA_F64: return softmax_backward<double>(d, p, rows, nt, ns, causal, scale, s);
    case VOLT_CUDA_BF16:
        return softmax_backward<__nv_bfloat16>(d, p, rows, nt, ns, causal, scale, s);
    case VOLT_CUDA_F16: return softmax_backward<__half>(d, p, rows, nt, ns, causal, scale, s);
    }
    return (int)cudaErrorInvalidValue;
}
