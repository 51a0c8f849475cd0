/* cudnn_kernels.cu: conv2d_relu's ReLU and its backward on CUDA (see
 * cudnn_kernels.h), as the CPU's relu computes them: y = x < 0 ? 0 : x (NaN
 * and -0 pass), grad = !(y <= 0) ? g : 0. Grid-stride loops over
 * contiguous elements, 32-bit indices when they fit, 16-byte vector
 * accesses for f32 when aligned; bf16 and f16 compare in f32. Channel sums
 * (the bias gradient): one block per channel, a block-wide tree reduction
 * after warp shuffles, in a fixed order. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "ops/cuda/cudnn_kernels.h"

#define THREADS 256

static unsigned blocks_for(int64_t n) {
    int64_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65536 ? 65536 : b);
}

template <typename T> __device__ __forceinline__ bool negative(T v) { return v < T(0); }
template <> __device__ __forceinline__ bool negative(__nv_bfloat16 v) {
    return __bfloat162float(v) < 0.0f;
}
template <> __device__ __forceinline__ bool negative(__half v) { return __half2float(v) < 0.0f; }

template <typename T> __device__ __forceinline__ bool not_positive(T v) { return v <= T(0); }
template <> __device__ __forceinline__ bool not_positive(__nv_bfloat16 v) {
    return __bfloat162float(v) <= 0.0f;
}
template <> __device__ __forceinline__ bool not_positive(__half v) {
    return __half2float(v) <= 0.0f;
}

template <typename T, typename I> __global__ void relu_kernel(T *y, I n) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x)
        if (negative(y[i])) y[i] = T(0);
}

__global__ void relu4_kernel(float4 *y, int64_t n4) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4;
         i += (int64_t)gridDim.x * blockDim.x) {
        float4 v = y[i];
        v.x = v.x < 0.0f ? 0.0f : v.x;
        v.y = v.y < 0.0f ? 0.0f : v.y;
        v.z = v.z < 0.0f ? 0.0f : v.z;
        v.w = v.w < 0.0f ? 0.0f : v.w;
        y[i] = v;
    }
}

template <typename T, typename I>
__global__ void relu_mask_kernel(T *out, const T *g, const T *y, I n) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x)
        out[i] = not_positive(y[i]) ? T(0) : g[i];
}

template <typename T> static void relu_typed(void *y, int64_t n, cudaStream_t s) {
    if (n < INT32_MAX)
        relu_kernel<T, int32_t><<<blocks_for(n), THREADS, 0, s>>>((T *)y, (int32_t)n);
    else
        relu_kernel<T, int64_t><<<blocks_for(n), THREADS, 0, s>>>((T *)y, n);
}

template <typename T>
static void relu_mask_typed(void *out, const void *g, const void *y, int64_t n, cudaStream_t s) {
    if (n < INT32_MAX)
        relu_mask_kernel<T, int32_t>
            <<<blocks_for(n), THREADS, 0, s>>>((T *)out, (const T *)g, (const T *)y, (int32_t)n);
    else
        relu_mask_kernel<T, int64_t>
            <<<blocks_for(n), THREADS, 0, s>>>((T *)out, (const T *)g, (const T *)y, n);
}

extern "C" int volt_cudnn_launch_relu(void *y, int64_t n, int dtype, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    switch (dtype) {
    case 0:
        if (n % 4 == 0 && (uintptr_t)y % 16 == 0)
            relu4_kernel<<<blocks_for(n / 4), THREADS, 0, s>>>((float4 *)y, n / 4);
        else
            relu_typed<float>(y, n, s);
        break;
    case 1: relu_typed<double>(y, n, s); break;
    case 2: relu_typed<__nv_bfloat16>(y, n, s); break;
    case 3: relu_typed<__half>(y, n, s); break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

extern "C" int volt_cudnn_launch_relu_mask(void *out, const void *g, const void *y, int64_t n,
                                           int dtype, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    switch (dtype) {
    case 0: relu_mask_typed<float>(out, g, y, n, s); break;
    case 1: relu_mask_typed<double>(out, g, y, n, s); break;
    case 2: relu_mask_typed<__nv_bfloat16>(out, g, y, n, s); break;
    case 3: relu_mask_typed<__half>(out, g, y, n, s); break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

template <typename T> struct acc_of { typedef float type; };
template <> struct acc_of<double> { typedef double type; };

__device__ __forceinline__ float load_acc(float v) { return v; }
__device__ __forceinline__ double load_acc(double v) { return v; }
__device__ __forceinline__ float load_acc(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float load_acc(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T store_as(float v) { return (T)v; }
template <> __device__ __forceinline__ __nv_bfloat16 store_as(float v) {
    return __float2bfloat16_rn(v);
}
template <> __device__ __forceinline__ __half store_as(float v) { return __float2half_rn(v); }

template <typename T>
__global__ void channel_sum_kernel(T *db, const T *dy, int64_t n, int64_t c, int64_t s) {
    typedef typename acc_of<T>::type A;
    __shared__ A partial[THREADS / 32];
    int64_t ch = blockIdx.x;
    A sum = 0;
    for (int64_t b = 0; b < n; b++) {
        const T *row = dy + (b * c + ch) * s;
        for (int64_t i = threadIdx.x; i < s; i += blockDim.x) sum += load_acc(row[i]);
    }
    for (int off = 16; off > 0; off /= 2) sum += __shfl_down_sync(0xffffffffu, sum, off);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
    __syncthreads();
    if (threadIdx.x < 32) {
        sum = threadIdx.x < THREADS / 32 ? partial[threadIdx.x] : A(0);
        for (int off = 16; off > 0; off /= 2) sum += __shfl_down_sync(0xffffffffu, sum, off);
        if (threadIdx.x == 0) db[ch] = store_as<T>(sum);
    }
}

template <>
__global__ void channel_sum_kernel<double>(double *db, const double *dy, int64_t n, int64_t c,
                                           int64_t s) {
    __shared__ double partial[THREADS / 32];
    int64_t ch = blockIdx.x;
    double sum = 0;
    for (int64_t b = 0; b < n; b++) {
        const double *row = dy + (b * c + ch) * s;
        for (int64_t i = threadIdx.x; i < s; i += blockDim.x) sum += row[i];
    }
    for (int off = 16; off > 0; off /= 2) sum += __shfl_down_sync(0xffffffffu, sum, off);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
    __syncthreads();
    if (threadIdx.x < 32) {
        sum = threadIdx.x < THREADS / 32 ? partial[threadIdx.x] : 0.0;
        for (int off = 16; off > 0; off /= 2) sum += __shfl_down_sync(0xffffffffu, sum, off);
        if (threadIdx.x == 0) db[ch] = sum;
    }
}

extern "C" int volt_cudnn_launch_channel_sum(void *db, const void *dy, int64_t n, int64_t c,
                                             int64_t s, int dtype, void *stream) {
    cudaStream_t st = (cudaStream_t)stream;
    unsigned blocks = (unsigned)c;
    switch (dtype) {
    case 0:
        channel_sum_kernel<float>
            <<<blocks, THREADS, 0, st>>>((float *)db, (const float *)dy, n, c, s);
        break;
    case 1:
        channel_sum_kernel<double>
            <<<blocks, THREADS, 0, st>>>((double *)db, (const double *)dy, n, c, s);
        break;
    case 2:
        channel_sum_kernel<__nv_bfloat16>
            <<<blocks, THREADS, 0, st>>>((__nv_bfloat16 *)db, (const __nv_bfloat16 *)dy, n, c, s);
        break;
    case 3:
        channel_sum_kernel<__half>
            <<<blocks, THREADS, 0, st>>>((__half *)db, (const __half *)dy, n, c, s);
        break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}
