/* gemm_types.cuh: what gemm.cu and attention.cu share — each element type's
 * arithmetic type (bf16 and f16 compute in f32, rounded to nearest even once
 * on the way out; f32 and f64 as themselves) with its load and store.
 * Included by .cu files only. */
#ifndef VOLT_CUDA_GEMM_TYPES_CUH
#define VOLT_CUDA_GEMM_TYPES_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

template <typename T> struct gemm_type {
    typedef T acc;
    static __device__ __forceinline__ T load(T x) { return x; }
    static __device__ __forceinline__ T store(T a) { return a; }
};

template <> struct gemm_type<__nv_bfloat16> {
    typedef float acc;
    static __device__ __forceinline__ float load(__nv_bfloat16 x) { return __bfloat162float(x); }
    static __device__ __forceinline__ __nv_bfloat16 store(float a) {
        return __float2bfloat16_rn(a);
    }
};

template <> struct gemm_type<__half> {
    typedef float acc;
    static __device__ __forceinline__ float load(__half x) { return __half2float(x); }
    static __device__ __forceinline__ __half store(float a) { return __float2half_rn(a); }
};

#endif
