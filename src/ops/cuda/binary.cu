/* binary.cu: the binary elementwise kernels (cuda_kernels.h) on the strided
 * engine of elementwise.cuh — arithmetic, maximum/minimum, comparisons and
 * logical and/or, with the CPU kernels' formulas (ops/cpu/binary.c):
 * bf16/f16 compute in f32, integers in their own type (wrapping), pow of
 * integers through double, NaN-propagating maximum/minimum. The cheap
 * variants of one family (add/sub, maximum/minimum, the six comparisons,
 * and/or) share a kernel and pick by a uniform flag. */
#include <type_traits>

#include "ops/cuda/elementwise.cuh"

template <typename A> struct add_fn {
    A alpha;
    bool subtract;
    __device__ __forceinline__ A operator()(A x, A y) const {
        return subtract ? (A)(x - alpha * y) : (A)(x + alpha * y);
    }
};

template <typename A> struct mul_fn {
    __device__ __forceinline__ A operator()(A x, A y) const { return (A)(x * y); }
};

template <typename A> struct div_fn {
    __device__ __forceinline__ A operator()(A x, A y) const { return x / y; }
};

template <typename A> struct pow_fn {
    __device__ __forceinline__ A operator()(A x, A y) const {
        if constexpr (std::is_floating_point<A>::value)
            return pow(x, y);
        else
            return (A)pow((double)x, (double)y);
    }
};

/* NaN wins (x != x is false for integers). */
template <typename A> struct extremum_fn {
    bool maximum;
    __device__ __forceinline__ A operator()(A x, A y) const {
        return (x != x || (maximum ? x > y : x < y)) ? x : y;
    }
};

template <typename A> struct compare_fn {
    int op;
    __device__ __forceinline__ uint8_t operator()(A x, A y) const {
        switch (op) {
        case VOLT_CUDA_EQ: return x == y;
        case VOLT_CUDA_NE: return x != y;
        case VOLT_CUDA_LT: return x < y;
        case VOLT_CUDA_LE: return x <= y;
        case VOLT_CUDA_GT: return x > y;
        default: return x >= y;
        }
    }
};

struct logical_fn {
    bool is_or;
    __device__ __forceinline__ uint8_t operator()(uint8_t x, uint8_t y) const {
        return is_or ? (x != 0 || y != 0) : (x != 0 && y != 0);
    }
};

/* Arithmetic, extrema and comparisons of T (a float or integer type). */
template <typename T>
static int run_numeric(const volt_cuda_iter &it, int op, double alpha, cudaStream_t s) {
    typedef volt_cuda_acc<T> A;
    switch (op) {
    case VOLT_CUDA_ADD:
    case VOLT_CUDA_SUB:
        return volt_cuda_run<2, T, T, T>(it, add_fn<A>{(A)alpha, op == VOLT_CUDA_SUB}, s);
    case VOLT_CUDA_MUL: return volt_cuda_run<2, T, T, T>(it, mul_fn<A>{}, s);
    case VOLT_CUDA_DIV:
        if constexpr (std::is_floating_point<A>::value)
            return volt_cuda_run<2, T, T, T>(it, div_fn<A>{}, s);
        break;
    case VOLT_CUDA_POW: return volt_cuda_run<2, T, T, T>(it, pow_fn<A>{}, s);
    case VOLT_CUDA_MAXIMUM:
    case VOLT_CUDA_MINIMUM:
        return volt_cuda_run<2, T, T, T>(it, extremum_fn<A>{op == VOLT_CUDA_MAXIMUM}, s);
    case VOLT_CUDA_EQ:
    case VOLT_CUDA_NE:
    case VOLT_CUDA_LT:
    case VOLT_CUDA_LE:
    case VOLT_CUDA_GT:
    case VOLT_CUDA_GE: return volt_cuda_run<2, uint8_t, T, T>(it, compare_fn<A>{op}, s);
    }
    return (int)cudaErrorInvalidValue;
}

static int run_bool(const volt_cuda_iter &it, int op, cudaStream_t s) {
    switch (op) {
    case VOLT_CUDA_MAXIMUM:
    case VOLT_CUDA_MINIMUM:
        return volt_cuda_run<2, uint8_t, uint8_t, uint8_t>(
            it, extremum_fn<uint8_t>{op == VOLT_CUDA_MAXIMUM}, s);
    case VOLT_CUDA_AND:
    case VOLT_CUDA_OR:
        return volt_cuda_run<2, uint8_t, uint8_t, uint8_t>(it, logical_fn{op == VOLT_CUDA_OR}, s);
    case VOLT_CUDA_EQ:
    case VOLT_CUDA_NE:
    case VOLT_CUDA_LT:
    case VOLT_CUDA_LE:
    case VOLT_CUDA_GT:
    case VOLT_CUDA_GE:
        return volt_cuda_run<2, uint8_t, uint8_t, uint8_t>(it, compare_fn<uint8_t>{op}, s);
    }
    return (int)cudaErrorInvalidValue;
}

extern "C" int volt_cuda_launch_binary(const volt_cuda_iter *it, int op, int dtype, double alpha,
                                       void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (it->numel <= 0) return (int)cudaSuccess;
    if (dtype == VOLT_CUDA_BOOL) return run_bool(*it, op, s);
    if (op == VOLT_CUDA_AND || op == VOLT_CUDA_OR) return (int)cudaErrorInvalidValue;
    VOLT_CUDA_FLOAT_CASES(dtype, T, return run_numeric<T>(*it, op, alpha, s))
    VOLT_CUDA_INT_CASES(dtype, T, return run_numeric<T>(*it, op, alpha, s))
    return (int)cudaErrorInvalidValue;
}
