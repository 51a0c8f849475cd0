/* binary.cu: add, sub, mul and div on f32, f64, bf16 and f16 — contiguous
 * operands of the output's shape, one-element operands (stride 0) and host
 * scalars (cuda_kernels.h), in one grid-stride kernel per (type, op). */
#include <cuda_runtime.h>

#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/elementwise.cuh"

/* An operand on the device: element i at ptr[i * stride], or `value`. */
template <typename T> struct operand {
    const T *ptr;
    int64_t stride;
    typename volt_cuda_type<T>::acc value;

    __device__ __forceinline__ typename volt_cuda_type<T>::acc at(int64_t i) const {
        return ptr ? volt_cuda_type<T>::load(ptr[i * stride]) : value;
    }
};

template <typename T, int OP>
__global__ void binary_kernel(T *out, operand<T> a, operand<T> b,
                              typename volt_cuda_type<T>::acc alpha, int64_t n) {
    for (int64_t i = volt_cuda_thread_index(); i < n; i += volt_cuda_thread_stride()) {
        typename volt_cuda_type<T>::acc x = a.at(i), y = b.at(i), r;
        if (OP == VOLT_CUDA_ADD)
            r = x + alpha * y;
        else if (OP == VOLT_CUDA_SUB)
            r = x - alpha * y;
        else if (OP == VOLT_CUDA_MUL)
            r = x * y;
        else
            r = x / y;
        out[i] = volt_cuda_type<T>::store(r);
    }
}

template <typename T> static operand<T> device_operand(volt_cuda_operand o) {
    typedef typename volt_cuda_type<T>::acc acc;
    return operand<T>{(const T *)o.ptr, o.stride, (acc)o.value};
}

template <typename T>
static int launch(int op, void *out, volt_cuda_operand a, volt_cuda_operand b, double alpha,
                  int64_t n, cudaStream_t s) {
    typedef typename volt_cuda_type<T>::acc acc;
    operand<T> da = device_operand<T>(a), db = device_operand<T>(b);
    unsigned blocks = volt_cuda_blocks(n);
    T *o = (T *)out;
    switch (op) {
    case VOLT_CUDA_ADD:
        binary_kernel<T, VOLT_CUDA_ADD><<<blocks, VOLT_CUDA_THREADS, 0, s>>>(o, da, db, (acc)alpha, n);
        break;
    case VOLT_CUDA_SUB:
        binary_kernel<T, VOLT_CUDA_SUB><<<blocks, VOLT_CUDA_THREADS, 0, s>>>(o, da, db, (acc)alpha, n);
        break;
    case VOLT_CUDA_MUL:
        binary_kernel<T, VOLT_CUDA_MUL><<<blocks, VOLT_CUDA_THREADS, 0, s>>>(o, da, db, (acc)alpha, n);
        break;
    case VOLT_CUDA_DIV:
        binary_kernel<T, VOLT_CUDA_DIV><<<blocks, VOLT_CUDA_THREADS, 0, s>>>(o, da, db, (acc)alpha, n);
        break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_binary(int op, int dtype, void *out, volt_cuda_operand a,
                                       volt_cuda_operand b, double alpha, int64_t n, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n <= 0) return (int)cudaSuccess;
    switch (dtype) {
    case VOLT_CUDA_F32: return launch<float>(op, out, a, b, alpha, n, s);
    case VOLT_CUDA_F64: return launch<double>(op, out, a, b, alpha, n, s);
    case VOLT_CUDA_BF16: return launch<__nv_bfloat16>(op, out, a, b, alpha, n, s);
    case VOLT_CUDA_F16: return launch<__half>(op, out, a, b, alpha, n, s);
    }
    return (int)cudaErrorInvalidValue;
}
