/* elementwise.cu: the fill, copy/convert and where kernels (cuda_kernels.h)
 * on the strided engine of elementwise.cuh. Conversions follow the CPU's
 * (volt_cpu_copy): between the float types directly, otherwise through
 * double (integers truncate toward zero; bool is "nonzero"); a copy within
 * one dtype moves the element's bits. */
#include <string.h>

#include <type_traits>

#include "ops/cuda/elementwise.cuh"

/* Unsigned type of each element size, for bitwise copies and fills. */
template <int Bytes> struct bits_of;
template <> struct bits_of<1> { typedef uint8_t type; };
template <> struct bits_of<2> { typedef uint16_t type; };
template <> struct bits_of<4> { typedef uint32_t type; };
template <> struct bits_of<8> { typedef uint64_t type; };

/* ----------------------------------------------------------------- fill */

template <typename T> struct constant_fn {
    T value;
    __device__ __forceinline__ T operator()(uint8_t) const { return value; }
};

/* The fill as a one-operand iteration: input 1 is a host scalar the functor
 * ignores. */
template <typename T> static int run_fill(volt_cuda_iter it, uint64_t pattern, cudaStream_t s) {
    T value;
    memcpy(&value, &pattern, sizeof value); /* the low bytes, little-endian */
    it.ptr[1] = NULL;
    for (int d = 0; d < VOLT_CUDA_MAX_DIMS; d++) it.strides[1][d] = 0;
    return volt_cuda_run<1, T, uint8_t>(it, constant_fn<T>{value}, s);
}

extern "C" int volt_cuda_launch_fill_strided(const volt_cuda_iter *it, int elem_size,
                                             uint64_t pattern, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    switch (elem_size) {
    case 1: return run_fill<uint8_t>(*it, pattern, s);
    case 2: return run_fill<uint16_t>(*it, pattern, s);
    case 4: return run_fill<uint32_t>(*it, pattern, s);
    case 8: return run_fill<uint64_t>(*it, pattern, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* A contiguous 1-d iteration over n elements of out and in (NULL: none). */
static volt_cuda_iter flat_iter(void *out, const void *in, int64_t n) {
    volt_cuda_iter it;
    memset(&it, 0, sizeof it);
    it.ndim = 1;
    it.n_operands = 2;
    it.numel = n;
    it.small = n < ((int64_t)1 << 31);
    it.shape[0] = n;
    it.strides[0][0] = 1;
    it.strides[1][0] = in ? 1 : 0;
    it.ptr[0] = out;
    it.ptr[1] = (void *)in;
    return it;
}

extern "C" int volt_cuda_launch_fill(void *out, int64_t n, int elem_size, uint64_t pattern,
                                     void *stream) {
    if (n <= 0) return (int)cudaSuccess;
    volt_cuda_iter it = flat_iter(out, NULL, n);
    return volt_cuda_launch_fill_strided(&it, elem_size, pattern, stream);
}

/* ----------------------------------------------------------------- copy */

template <typename T> struct identity_fn {
    __device__ __forceinline__ T operator()(T x) const { return x; }
};

/* x (From's compute type) in To's compute type, as the CPU converts. */
template <typename To, typename From, bool ToBool> struct convert_fn {
    __device__ __forceinline__ volt_cuda_acc<To> operator()(volt_cuda_acc<From> x) const {
        typedef volt_cuda_acc<To> to_acc;
        if constexpr (ToBool)
            return (to_acc)(x != (volt_cuda_acc<From>)0);
        else if constexpr (std::is_same<to_acc, float>::value &&
                           std::is_same<volt_cuda_acc<From>, float>::value)
            return (to_acc)x; /* float to float */
        else if constexpr (std::is_integral<to_acc>::value)
            return (to_acc)(int64_t)(double)x; /* wraps out of range, as the CPU's x86 code */
        else
            return (to_acc)(double)x;
    }
};

template <typename To, bool ToBool>
static int run_copy_to(const volt_cuda_iter &it, int in_dtype, cudaStream_t s) {
    switch (in_dtype) {
    case VOLT_CUDA_F32: return volt_cuda_run<1, To, float>(it, convert_fn<To, float, ToBool>{}, s);
    case VOLT_CUDA_F64:
        return volt_cuda_run<1, To, double>(it, convert_fn<To, double, ToBool>{}, s);
    case VOLT_CUDA_BF16:
        return volt_cuda_run<1, To, __nv_bfloat16>(it, convert_fn<To, __nv_bfloat16, ToBool>{}, s);
    case VOLT_CUDA_F16:
        return volt_cuda_run<1, To, __half>(it, convert_fn<To, __half, ToBool>{}, s);
    case VOLT_CUDA_I64:
        return volt_cuda_run<1, To, int64_t>(it, convert_fn<To, int64_t, ToBool>{}, s);
    case VOLT_CUDA_I32:
        return volt_cuda_run<1, To, int32_t>(it, convert_fn<To, int32_t, ToBool>{}, s);
    case VOLT_CUDA_U8:
    case VOLT_CUDA_BOOL:
        return volt_cuda_run<1, To, uint8_t>(it, convert_fn<To, uint8_t, ToBool>{}, s);
    }
    return (int)cudaErrorInvalidValue;
}

static int dtype_size(int dtype) {
    switch (dtype) {
    case VOLT_CUDA_F64:
    case VOLT_CUDA_I64: return 8;
    case VOLT_CUDA_F32:
    case VOLT_CUDA_I32: return 4;
    case VOLT_CUDA_BF16:
    case VOLT_CUDA_F16: return 2;
    default: return 1;
    }
}

template <typename T> static int run_same(const volt_cuda_iter &it, cudaStream_t s) {
    return volt_cuda_run<1, T, T>(it, identity_fn<T>{}, s);
}

extern "C" int volt_cuda_launch_copy(const volt_cuda_iter *it, int out_dtype, int in_dtype,
                                     void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (out_dtype == in_dtype) {
        switch (dtype_size(out_dtype)) {
        case 1: return run_same<uint8_t>(*it, s);
        case 2: return run_same<uint16_t>(*it, s);
        case 4: return run_same<uint32_t>(*it, s);
        case 8: return run_same<uint64_t>(*it, s);
        }
    }
    switch (out_dtype) {
    case VOLT_CUDA_F32: return run_copy_to<float, false>(*it, in_dtype, s);
    case VOLT_CUDA_F64: return run_copy_to<double, false>(*it, in_dtype, s);
    case VOLT_CUDA_BF16: return run_copy_to<__nv_bfloat16, false>(*it, in_dtype, s);
    case VOLT_CUDA_F16: return run_copy_to<__half, false>(*it, in_dtype, s);
    case VOLT_CUDA_I64: return run_copy_to<int64_t, false>(*it, in_dtype, s);
    case VOLT_CUDA_I32: return run_copy_to<int32_t, false>(*it, in_dtype, s);
    case VOLT_CUDA_U8: return run_copy_to<uint8_t, false>(*it, in_dtype, s);
    case VOLT_CUDA_BOOL: return run_copy_to<uint8_t, true>(*it, in_dtype, s);
    }
    return (int)cudaErrorInvalidValue;
}

extern "C" int volt_cuda_launch_convert(void *out, int out_dtype, const void *in, int in_dtype,
                                        int64_t n, void *stream) {
    if (n <= 0) return (int)cudaSuccess;
    volt_cuda_iter it = flat_iter(out, in, n);
    return volt_cuda_launch_copy(&it, out_dtype, in_dtype, stream);
}

/* ---------------------------------------------------------------- where */

template <typename T> struct select_fn {
    __device__ __forceinline__ T operator()(uint8_t c, T a, T b) const { return c ? a : b; }
};

template <typename T> static int run_where(const volt_cuda_iter &it, cudaStream_t s) {
    return volt_cuda_run<3, T, uint8_t, T, T>(it, select_fn<T>{}, s);
}

extern "C" int volt_cuda_launch_where(const volt_cuda_iter *it, int elem_size, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    switch (elem_size) {
    case 1: return run_where<uint8_t>(*it, s);
    case 2: return run_where<uint16_t>(*it, s);
    case 4: return run_where<uint32_t>(*it, s);
    case 8: return run_where<uint64_t>(*it, s);
    }
    return (int)cudaErrorInvalidValue;
}
