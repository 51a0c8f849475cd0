/* random.cu: Philox-4x32-10 on the device (the same rounds and constants as
 * core/philox.c) and the kernels that turn its blocks into uniform and
 * normal numbers, Bernoulli draws and dropout masks (random_kernels.h): a
 * thread per block of four words, grid-stride, each element from the block
 * and word the CPU kernels use. */
#include <cuda_runtime.h>
#include <math.h>

#include "ops/cuda/elementwise.cuh"
#include "ops/cuda/random_kernels.h"

struct words4 {
    uint32_t w[4];
};

/* Block `counter` of the stream keyed by (seed, stream). */
__device__ __forceinline__ words4 philox_block(const volt_cuda_philox &ph, uint64_t counter) {
    uint32_t k0 = (uint32_t)ph.seed, k1 = (uint32_t)(ph.seed >> 32);
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = (uint32_t)ph.stream,
             c3 = (uint32_t)(ph.stream >> 32);
#pragma unroll
    for (int round = 0; round < 10; round++) {
        uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return words4{{c0, c1, c2, c3}};
}

/* = volt_uniform_from_u32 / volt_uniform_from_u64 (exact: no rounding). */
__device__ __forceinline__ float uniform32(uint32_t x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}
__device__ __forceinline__ double uniform64(uint32_t hi, uint32_t lo) {
    uint64_t bits = (((uint64_t)hi << 32) | lo) >> 11;
    return (double)bits * (1.0 / 9007199254740992.0);
}

/* Elements per block: 2 for f64, 4 otherwise. */
template <typename T> struct per_block { static const int value = 4; };
template <> struct per_block<double> { static const int value = 2; };

/* The uniforms of one block in T's layout (the first per_block<T> used). */
template <typename T> __device__ __forceinline__ void uniforms(const words4 &r, double u[4]) {
    if constexpr (per_block<T>::value == 2) {
        u[0] = uniform64(r.w[0], r.w[1]);
        u[1] = uniform64(r.w[2], r.w[3]);
    } else {
#pragma unroll
        for (int k = 0; k < 4; k++) u[k] = (double)uniform32(r.w[k]);
    }
}

/* The normals of one block as volt_cpu_normal computes them (in double,
 * rounded once). */
template <typename T> __device__ __forceinline__ void normals(const words4 &r, double z[4]) {
    const double two_pi = 6.283185307179586;
    if constexpr (per_block<T>::value == 2) {
        double u1 = 1.0 - uniform64(r.w[0], r.w[1]), u2 = uniform64(r.w[2], r.w[3]);
        double rad = sqrt(-2.0 * log(u1));
        z[0] = rad * cos(two_pi * u2);
        z[1] = rad * sin(two_pi * u2);
    } else {
#pragma unroll
        for (int k = 0; k < 4; k += 2) {
            double u1 = 1.0 - (double)uniform32(r.w[k]), u2 = (double)uniform32(r.w[k + 1]);
            double rad = sqrt(-2.0 * log(u1));
            z[k] = (double)(float)(rad * cos(two_pi * u2));
            z[k + 1] = (double)(float)(rad * sin(two_pi * u2));
        }
    }
}

/* Stores a double result in T (bf16 / f16 through f32, as the CPU narrows
 * an f32 result). */
template <typename T> __device__ __forceinline__ T store_from(double v) {
    return volt_cuda_type<T>::store((volt_cuda_acc<T>)v);
}

template <typename T>
__global__ void random_kernel(int normal, T *out, int64_t n, volt_cuda_philox ph) {
    const int P = per_block<T>::value;
    const int64_t blocks = (n + P - 1) / P;
    for (int64_t b = volt_cuda_thread_index(); b < blocks; b += volt_cuda_thread_stride()) {
        words4 r = philox_block(ph, ph.first + (uint64_t)b);
        double v[4];
        if (normal)
            normals<T>(r, v);
        else
            uniforms<T>(r, v);
#pragma unroll
        for (int k = 0; k < P; k++)
            if (b * P + k < n) out[b * P + k] = store_from<T>(v[k]);
    }
}

template <typename T>
__global__ void bernoulli_kernel(T *out, const T *p, int64_t n, volt_cuda_philox ph) {
    typedef volt_cuda_type<T> L;
    const int P = per_block<T>::value;
    const int64_t blocks = (n + P - 1) / P;
    for (int64_t b = volt_cuda_thread_index(); b < blocks; b += volt_cuda_thread_stride()) {
        words4 r = philox_block(ph, ph.first + (uint64_t)b);
        double u[4];
        uniforms<T>(r, u);
#pragma unroll
        for (int k = 0; k < P; k++) {
            int64_t i = b * P + k;
            /* the CPU compares u (in p's dtype) with p */
            if (i < n) out[i] = L::store(u[k] < (double)L::load(p[i]) ? 1 : 0);
        }
    }
}

/* Four elements per block whatever T (the f32 layout, as the CPU's dropout
 * draws for every dtype). */
template <typename T>
__global__ void dropout_kernel(T *out, uint8_t *mask, const T *x, int64_t n, double p, double scale,
                               volt_cuda_philox ph) {
    typedef volt_cuda_type<T> L;
    typedef volt_cuda_acc<T> A;
    const A s = (A)scale;
    const int64_t blocks = (n + 3) / 4;
    for (int64_t b = volt_cuda_thread_index(); b < blocks; b += volt_cuda_thread_stride()) {
        words4 r = philox_block(ph, ph.first + (uint64_t)b);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            int64_t i = 4 * b + k;
            if (i >= n) break;
            uint8_t keep = (double)uniform32(r.w[k]) >= p;
            mask[i] = keep;
            out[i] = L::store((A)L::load(x[i]) * (A)keep * s);
        }
    }
}

template <typename T>
__global__ void dropout_backward_kernel(T *gx, const T *g, const uint8_t *mask, int64_t n,
                                        double scale) {
    typedef volt_cuda_type<T> L;
    typedef volt_cuda_acc<T> A;
    const A s = (A)scale;
    for (int64_t i = volt_cuda_thread_index(); i < n; i += volt_cuda_thread_stride())
        gx[i] = L::store((A)L::load(g[i]) * (A)mask[i] * s);
}

static unsigned blocks_for(int64_t n, int per) { return volt_cuda_blocks((n + per - 1) / per); }

#define VOLT_RANDOM_DISPATCH(dtype, CALL)                                                          \
    switch (dtype) {                                                                               \
    case VOLT_CUDA_F32: {                                                                          \
        typedef float T;                                                                           \
        CALL;                                                                                      \
        break;                                                                                     \
    }                                                                                              \
    case VOLT_CUDA_F64: {                                                                          \
        typedef double T;                                                                          \
        CALL;                                                                                      \
        break;                                                                                     \
    }                                                                                              \
    case VOLT_CUDA_BF16: {                                                                         \
        typedef __nv_bfloat16 T;                                                                   \
        CALL;                                                                                      \
        break;                                                                                     \
    }                                                                                              \
    case VOLT_CUDA_F16: {                                                                          \
        typedef __half T;                                                                          \
        CALL;                                                                                      \
        break;                                                                                     \
    }                                                                                              \
    default: return (int)cudaErrorInvalidValue;                                                    \
    }

extern "C" int volt_cuda_launch_random(int dtype, int normal, void *out, int64_t n,
                                       volt_cuda_philox ph, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n == 0) return (int)cudaSuccess;
    VOLT_RANDOM_DISPATCH(
        dtype, (random_kernel<T><<<blocks_for(n, per_block<T>::value), VOLT_CUDA_THREADS, 0, s>>>(
                   normal, (T *)out, n, ph)))
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_bernoulli(int dtype, void *out, const void *p, int64_t n,
                                          volt_cuda_philox ph, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n == 0) return (int)cudaSuccess;
    VOLT_RANDOM_DISPATCH(dtype, (bernoulli_kernel<T>
                                 <<<blocks_for(n, per_block<T>::value), VOLT_CUDA_THREADS, 0, s>>>(
                                     (T *)out, (const T *)p, n, ph)))
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_dropout(int dtype, void *out, uint8_t *mask, const void *x,
                                        int64_t n, double p, double scale, volt_cuda_philox ph,
                                        void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n == 0) return (int)cudaSuccess;
    VOLT_RANDOM_DISPATCH(dtype, (dropout_kernel<T><<<blocks_for(n, 4), VOLT_CUDA_THREADS, 0, s>>>(
                                    (T *)out, mask, (const T *)x, n, p, scale, ph)))
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_dropout_backward(int dtype, void *gx, const void *g,
                                                 const uint8_t *mask, int64_t n, double scale,
                                                 void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n == 0) return (int)cudaSuccess;
    VOLT_RANDOM_DISPATCH(
        dtype, (dropout_backward_kernel<T><<<volt_cuda_blocks(n), VOLT_CUDA_THREADS, 0, s>>>(
                   (T *)gx, (const T *)g, mask, n, scale)))
    return (int)cudaGetLastError();
}
