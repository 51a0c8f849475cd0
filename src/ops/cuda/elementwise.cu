/* elementwise.cu: the fill and dtype-conversion kernels (cuda_kernels.h):
 * grid-stride loops over contiguous elements. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <string.h>

#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/elementwise.cuh"

template <typename T> __global__ void fill_kernel(T *out, int64_t n, T value) {
    for (int64_t i = volt_cuda_thread_index(); i < n; i += volt_cuda_thread_stride()) out[i] = value;
}

template <typename T> static void launch_fill(void *out, int64_t n, uint64_t pattern, cudaStream_t s) {
    T value;
    memcpy(&value, &pattern, sizeof value); /* the low bytes, little-endian */
    fill_kernel<T><<<volt_cuda_blocks(n), VOLT_CUDA_THREADS, 0, s>>>((T *)out, n, value);
}

extern "C" int volt_cuda_launch_fill(void *out, int64_t n, int elem_size, uint64_t pattern,
                                     void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n <= 0) return (int)cudaSuccess;
    switch (elem_size) {
    case 1: launch_fill<uint8_t>(out, n, pattern, s); break;
    case 2: launch_fill<uint16_t>(out, n, pattern, s); break;
    case 4: launch_fill<uint32_t>(out, n, pattern, s); break;
    case 8: launch_fill<uint64_t>(out, n, pattern, s); break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

/* Through To's compute type: f64 -> bf16 rounds to f32 first, as the CPU's
 * conversion does. */
template <typename To, typename From>
__global__ void convert_kernel(To *out, const From *in, int64_t n) {
    typedef typename volt_cuda_type<To>::acc acc;
    for (int64_t i = volt_cuda_thread_index(); i < n; i += volt_cuda_thread_stride())
        out[i] = volt_cuda_type<To>::store((acc)volt_cuda_type<From>::load(in[i]));
}

template <typename From>
static int launch_convert_from(void *out, int out_dtype, const void *in, int64_t n, cudaStream_t s) {
    const From *src = (const From *)in;
    unsigned blocks = volt_cuda_blocks(n);
    switch (out_dtype) {
    case VOLT_CUDA_F32: convert_kernel<<<blocks, VOLT_CUDA_THREADS, 0, s>>>((float *)out, src, n); break;
    case VOLT_CUDA_F64: convert_kernel<<<blocks, VOLT_CUDA_THREADS, 0, s>>>((double *)out, src, n); break;
    case VOLT_CUDA_BF16:
        convert_kernel<<<blocks, VOLT_CUDA_THREADS, 0, s>>>((__nv_bfloat16 *)out, src, n);
        break;
    case VOLT_CUDA_F16: convert_kernel<<<blocks, VOLT_CUDA_THREADS, 0, s>>>((__half *)out, src, n); break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_convert(void *out, int out_dtype, const void *in, int in_dtype,
                                        int64_t n, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n <= 0) return (int)cudaSuccess;
    switch (in_dtype) {
    case VOLT_CUDA_F32: return launch_convert_from<float>(out, out_dtype, in, n, s);
    case VOLT_CUDA_F64: return launch_convert_from<double>(out, out_dtype, in, n, s);
    case VOLT_CUDA_BF16: return launch_convert_from<__nv_bfloat16>(out, out_dtype, in, n, s);
    case VOLT_CUDA_F16: return launch_convert_from<__half>(out, out_dtype, in, n, s);
    }
    return (int)cudaErrorInvalidValue;
}
