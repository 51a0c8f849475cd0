/* unary.cu: the unary elementwise kernels and activations, forward and fused
 * backward (cuda_kernels.h), on the strided engine of elementwise.cuh, with
 * the CPU kernels' formulas and boundary conventions (ops/cpu/unary.c):
 * stable sigmoid and softplus, GELU in its erf and tanh forms. bf16/f16
 * compute in f32. One kernel per (dtype, direction) picks the op by a
 * uniform switch: these kernels are bound by memory, not by the branch. */
#include <type_traits>

#include "ops/cuda/elementwise.cuh"

template <typename A> __device__ __forceinline__ A clamp_of(A x, A lo, A hi) {
    A v = x < lo ? lo : x; /* NaN passes through */
    return v > hi ? hi : v;
}

template <typename A> __device__ __forceinline__ A sigmoid_of(A x) {
    A e = exp(-fabs(x));
    A r = (A)1 / ((A)1 + e);
    return x >= 0 ? r : e * r;
}

template <typename A> __device__ __forceinline__ A softplus_of(A x, A beta, A threshold) {
    A bx = beta * x;
    if (bx > threshold) return x;
    return ((bx > 0 ? bx : (A)0) + log1p(exp(-fabs(bx)))) / beta;
}

template <typename A> __device__ __forceinline__ A gelu_tanh_inner(A x) {
    return tanh((A)0.79788456080286535588 * (x + (A)0.044715 * x * x * x));
}

template <typename A> __device__ __forceinline__ A gelu_grad(A x) {
    A cdf = (A)0.5 * ((A)1 + erf(x * (A)0.70710678118654752440));
    A pdf = exp((A)-0.5 * x * x) * (A)0.39894228040143267794;
    return cdf + x * pdf;
}

template <typename A> __device__ __forceinline__ A gelu_tanh_grad(A x) {
    const A k = (A)0.79788456080286535588, c = (A)0.044715;
    A t = gelu_tanh_inner(x);
    A d_inner = k * ((A)1 + (A)3 * c * x * x);
    return (A)0.5 * ((A)1 + t) + (A)0.5 * x * ((A)1 - t * t) * d_inner;
}

/* Forward, float compute type A. */
template <typename A> struct float_unary_fn {
    int op;
    A p0, p1;
    __device__ __forceinline__ A operator()(A x) const {
        switch (op) {
        case VOLT_CUDA_UN_EXP: return exp(x);
        case VOLT_CUDA_UN_LOG: return log(x);
        case VOLT_CUDA_UN_LOG1P: return log1p(x);
        case VOLT_CUDA_UN_SQRT: return sqrt(x);
        case VOLT_CUDA_UN_RSQRT: return (A)1 / sqrt(x);
        case VOLT_CUDA_UN_NEG: return -x;
        case VOLT_CUDA_UN_ABS: return fabs(x);
        case VOLT_CUDA_UN_SIGN: return (A)((x > 0) - (x < 0));
        case VOLT_CUDA_UN_CLAMP:
        case VOLT_CUDA_UN_HARDTANH: return clamp_of(x, p0, p1);
        case VOLT_CUDA_UN_RELU: return x < 0 ? (A)0 : x;
        case VOLT_CUDA_UN_LEAKY_RELU: return x > 0 ? x : x * p0;
        case VOLT_CUDA_UN_ELU: return x > 0 ? x : p0 * expm1(x);
        case VOLT_CUDA_UN_GELU: return (A)0.5 * x * ((A)1 + erf(x * (A)0.70710678118654752440));
        case VOLT_CUDA_UN_GELU_TANH: return (A)0.5 * x * ((A)1 + gelu_tanh_inner(x));
        case VOLT_CUDA_UN_SILU: return x * sigmoid_of(x);
        case VOLT_CUDA_UN_SIGMOID: return sigmoid_of(x);
        case VOLT_CUDA_UN_TANH: return tanh(x);
        case VOLT_CUDA_UN_SOFTPLUS: return softplus_of(x, p0, p1);
        }
        return x;
    }
};

/* Backward: g the incoming gradient, v the saved input or output. */
template <typename A> struct float_backward_fn {
    int op;
    A p0, p1;
    __device__ __forceinline__ A operator()(A g, A v) const {
        switch (op) {
        case VOLT_CUDA_UN_EXP: return g * v;
        case VOLT_CUDA_UN_LOG: return g / v;
        case VOLT_CUDA_UN_LOG1P: return g / ((A)1 + v);
        case VOLT_CUDA_UN_SQRT: return g / ((A)2 * v);
        case VOLT_CUDA_UN_RSQRT: return (A)-0.5 * g * v * v * v;
        case VOLT_CUDA_UN_ABS: return g * (A)((v > 0) - (v < 0));
        case VOLT_CUDA_UN_CLAMP: return (v >= p0 && v <= p1) ? g : (A)0;
        case VOLT_CUDA_UN_RELU: return v <= 0 ? (A)0 : g;
        case VOLT_CUDA_UN_LEAKY_RELU: return v > 0 ? g : g * p0;
        case VOLT_CUDA_UN_ELU: return v <= 0 ? g * p0 * exp(v) : g;
        case VOLT_CUDA_UN_GELU: return g * gelu_grad(v);
        case VOLT_CUDA_UN_GELU_TANH: return g * gelu_tanh_grad(v);
        case VOLT_CUDA_UN_SILU: {
            A s = sigmoid_of(v);
            return g * s * ((A)1 + v * ((A)1 - s));
        }
        case VOLT_CUDA_UN_SIGMOID: return g * v * ((A)1 - v);
        case VOLT_CUDA_UN_TANH: return g * ((A)1 - v * v);
        case VOLT_CUDA_UN_SOFTPLUS: return v * p0 > p1 ? g : g * sigmoid_of(v * p0);
        case VOLT_CUDA_UN_HARDTANH: return (v <= p0 || v >= p1) ? (A)0 : g;
        }
        return g;
    }
};

/* Integers: negation and abs wrap (through uint64_t); clamp bounds are in
 * the type's range. */
template <typename A> __device__ __forceinline__ bool negative(A x) {
    if constexpr (std::is_signed<A>::value)
        return x < 0;
    else
        return false;
}

template <typename A> struct int_unary_fn {
    int op;
    int64_t lo, hi;
    __device__ __forceinline__ A operator()(A x) const {
        switch (op) {
        case VOLT_CUDA_UN_NEG: return (A)(0ull - (uint64_t)x);
        case VOLT_CUDA_UN_ABS: return negative(x) ? (A)(0ull - (uint64_t)x) : x;
        case VOLT_CUDA_UN_SIGN: return (A)((x > 0) - negative(x));
        case VOLT_CUDA_UN_CLAMP: {
            int64_t v = (int64_t)x < lo ? lo : (int64_t)x;
            return (A)(v > hi ? hi : v);
        }
        }
        return x;
    }
};

template <typename A> struct not_fn {
    __device__ __forceinline__ uint8_t operator()(A x) const { return x == (A)0; }
};

static bool is_int_op(int op) {
    return op == VOLT_CUDA_UN_NEG || op == VOLT_CUDA_UN_ABS || op == VOLT_CUDA_UN_SIGN ||
           op == VOLT_CUDA_UN_CLAMP;
}

template <typename T> static int run_not(const volt_cuda_iter &it, cudaStream_t s) {
    return volt_cuda_run<1, uint8_t, T>(it, not_fn<volt_cuda_acc<T>>{}, s);
}

extern "C" int volt_cuda_launch_unary(const volt_cuda_iter *it, int op, int dtype, double p0,
                                      double p1, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (it->numel <= 0) return (int)cudaSuccess;
    if (op == VOLT_CUDA_UN_LOGICAL_NOT) {
        if (dtype == VOLT_CUDA_BOOL) return run_not<uint8_t>(*it, s);
        VOLT_CUDA_FLOAT_CASES(dtype, T, return run_not<T>(*it, s))
        VOLT_CUDA_INT_CASES(dtype, T, return run_not<T>(*it, s))
        return (int)cudaErrorInvalidValue;
    }
    if (op < 0 || op > VOLT_CUDA_UN_HARDTANH) return (int)cudaErrorInvalidValue;
    VOLT_CUDA_FLOAT_CASES(dtype, T, {
        typedef volt_cuda_acc<T> A;
        return volt_cuda_run<1, T, T>(it[0], float_unary_fn<A>{op, (A)p0, (A)p1}, s);
    })
    if (!is_int_op(op)) return (int)cudaErrorInvalidValue;
    VOLT_CUDA_INT_CASES(dtype, T, {
        return volt_cuda_run<1, T, T>(it[0], int_unary_fn<T>{op, (int64_t)p0, (int64_t)p1}, s);
    })
    return (int)cudaErrorInvalidValue;
}

extern "C" int volt_cuda_launch_unary_backward(const volt_cuda_iter *it, int op, int dtype,
                                               double p0, double p1, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (it->numel <= 0) return (int)cudaSuccess;
    if (op < 0 || op > VOLT_CUDA_UN_HARDTANH || op == VOLT_CUDA_UN_NEG || op == VOLT_CUDA_UN_SIGN)
        return (int)cudaErrorInvalidValue;
    VOLT_CUDA_FLOAT_CASES(dtype, T, {
        typedef volt_cuda_acc<T> A;
        return volt_cuda_run<2, T, T, T>(it[0], float_backward_fn<A>{op, (A)p0, (A)p1}, s);
    })
    return (int)cudaErrorInvalidValue;
}
