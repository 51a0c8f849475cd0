/* elementwise.cuh: what volt's elementwise kernels share — the geometry of
 * grid-stride loops, and each element type's compute type with its loads
 * and stores (bf16 and f16 compute in f32, rounding to nearest even once on
 * the way out, as the CPU kernels do). Included by .cu files only. */
#ifndef VOLT_CUDA_ELEMENTWISE_CUH
#define VOLT_CUDA_ELEMENTWISE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#define VOLT_CUDA_THREADS 256
#define VOLT_CUDA_MAX_BLOCKS 65536

/* Blocks for n elements: one element per thread up to the cap, beyond which
 * each thread loops. */
static inline unsigned volt_cuda_blocks(int64_t n) {
    int64_t b = (n + VOLT_CUDA_THREADS - 1) / VOLT_CUDA_THREADS;
    return (unsigned)(b < 1 ? 1 : b > VOLT_CUDA_MAX_BLOCKS ? VOLT_CUDA_MAX_BLOCKS : b);
}

__device__ __forceinline__ int64_t volt_cuda_thread_index() {
    return (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ int64_t volt_cuda_thread_stride() {
    return (int64_t)gridDim.x * blockDim.x;
}

/* volt_cuda_type<T>::acc is the type T computes in; load widens, store
 * rounds back. */
template <typename T> struct volt_cuda_type;

template <> struct volt_cuda_type<float> {
    typedef float acc;
    static __device__ __forceinline__ float load(float x) { return x; }
    static __device__ __forceinline__ float store(float a) { return a; }
};

template <> struct volt_cuda_type<double> {
    typedef double acc;
    static __device__ __forceinline__ double load(double x) { return x; }
    static __device__ __forceinline__ double store(double a) { return a; }
};

template <> struct volt_cuda_type<__nv_bfloat16> {
    typedef float acc;
    static __device__ __forceinline__ float load(__nv_bfloat16 x) { return __bfloat162float(x); }
    static __device__ __forceinline__ __nv_bfloat16 store(float a) { return __float2bfloat16_rn(a); }
};

template <> struct volt_cuda_type<__half> {
    typedef float acc;
    static __device__ __forceinline__ float load(__half x) { return __half2float(x); }
    static __device__ __forceinline__ __half store(float a) { return __float2half_rn(a); }
};

#endif
