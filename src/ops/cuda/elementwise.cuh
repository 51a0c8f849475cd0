/* elementwise.cuh: what volt's elementwise kernels share — the geometry of
 * grid-stride loops, each element type's compute type with its loads and
 * stores (bf16 and f16 compute in f32, rounding to nearest even once on the
 * way out, as the CPU kernels do), and the strided N-d engine every
 * elementwise op runs on: volt_cuda_run(it, f, stream) applies a functor to
 * the inputs of a volt_cuda_iter (cuda_kernels.h) and stores into its
 * output, through one of three kernels — a contiguous one with 16-byte
 * vector loads (every operand contiguous or broadcast from one element, the
 * pointers aligned), a strided one with 32-bit index arithmetic, and a
 * strided one with 64-bit. Included by .cu files only. */
#ifndef VOLT_CUDA_ELEMENTWISE_CUH
#define VOLT_CUDA_ELEMENTWISE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "ops/cuda/cuda_kernels.h"

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
 * rounds back (integers and bool, stored as uint8_t, compute as
 * themselves). */
template <typename T> struct volt_cuda_type {
    typedef T acc;
    static __device__ __forceinline__ T load(T x) { return x; }
    static __device__ __forceinline__ T store(T a) { return a; }
};

template <> struct volt_cuda_type<__nv_bfloat16> {
    typedef float acc;
    static __device__ __forceinline__ float load(__nv_bfloat16 x) { return __bfloat162float(x); }
    static __device__ __forceinline__ __nv_bfloat16 store(float a) {
        return __float2bfloat16_rn(a);
    }
};

template <> struct volt_cuda_type<__half> {
    typedef float acc;
    static __device__ __forceinline__ float load(__half x) { return __half2float(x); }
    static __device__ __forceinline__ __half store(float a) { return __float2half_rn(a); }
};

template <typename T> using volt_cuda_acc = typename volt_cuda_type<T>::acc;

/* ------------------------------------------------------------ the engine */

/* Input k (1..3) of element `off`: its element widened, or the host
 * scalar. */
template <typename T>
__device__ __forceinline__ volt_cuda_acc<T> volt_cuda_in(const volt_cuda_iter &it, int k,
                                                         int64_t off) {
    const T *p = (const T *)it.ptr[k];
    return p ? volt_cuda_type<T>::load(p[off]) : (volt_cuda_acc<T>)it.value[k];
}

/* f applied to inputs 1..NIN (types T1..T3) at their offsets, stored into
 * the output at off[0]. */
template <int NIN, typename Out, typename T1, typename T2, typename T3, typename F, typename I>
__device__ __forceinline__ void volt_cuda_apply(const volt_cuda_iter &it, const F &f,
                                                const I *off) {
    Out *o = (Out *)it.ptr[0];
    if constexpr (NIN == 1)
        o[off[0]] = volt_cuda_type<Out>::store(f(volt_cuda_in<T1>(it, 1, off[1])));
    else if constexpr (NIN == 2)
        o[off[0]] = volt_cuda_type<Out>::store(
            f(volt_cuda_in<T1>(it, 1, off[1]), volt_cuda_in<T2>(it, 2, off[2])));
    else
        o[off[0]] = volt_cuda_type<Out>::store(f(volt_cuda_in<T1>(it, 1, off[1]),
                                                 volt_cuda_in<T2>(it, 2, off[2]),
                                                 volt_cuda_in<T3>(it, 3, off[3])));
}

/* The general kernel: each linear index split into coordinates (innermost
 * first), offsets summed per operand, in index type I. */
template <int NIN, typename I, typename Out, typename T1, typename T2, typename T3, typename F>
__global__ void volt_cuda_strided_kernel(volt_cuda_iter it, F f) {
    const I n = (I)it.numel;
    for (I i = (I)(blockIdx.x * blockDim.x + threadIdx.x); i < n;
         i += (I)(gridDim.x * blockDim.x)) {
        I off[NIN + 1];
#pragma unroll
        for (int k = 0; k <= NIN; k++) off[k] = 0;
        I rem = i;
#pragma unroll
        for (int d = 0; d < VOLT_CUDA_MAX_DIMS; d++) {
            if (d == it.ndim) break;
            I size = (I)it.shape[d];
            I idx = rem % size;
            rem /= size;
#pragma unroll
            for (int k = 0; k <= NIN; k++) off[k] += idx * (I)it.strides[k][d];
        }
        volt_cuda_apply<NIN, Out, T1, T2, T3>(it, f, off);
    }
}

template <typename T, int V> struct alignas(sizeof(T) * V) volt_cuda_vec { T v[V]; };

/* Loads V elements of input k at linear index base: a vector load when it
 * is contiguous, else its one element (or host scalar) repeated. */
template <typename T, int V>
__device__ __forceinline__ void volt_cuda_in_vec(const volt_cuda_iter &it, int k, int64_t base,
                                                 volt_cuda_acc<T> *out) {
    const T *p = (const T *)it.ptr[k];
    if (p && it.strides[k][0] == 1) {
        volt_cuda_vec<T, V> v = *(const volt_cuda_vec<T, V> *)(p + base);
#pragma unroll
        for (int j = 0; j < V; j++) out[j] = volt_cuda_type<T>::load(v.v[j]);
    } else {
        volt_cuda_acc<T> x = volt_cuda_in<T>(it, k, 0);
#pragma unroll
        for (int j = 0; j < V; j++) out[j] = x;
    }
}

/* The contiguous kernel (ndim 1; output stride 1, inputs stride 1 or 0):
 * V elements per step with vector loads and stores, the tail one by one. */
template <int NIN, int V, typename Out, typename T1, typename T2, typename T3, typename F>
__global__ void volt_cuda_contiguous_kernel(volt_cuda_iter it, F f) {
    const int64_t n = it.numel;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x * V;
    for (int64_t base = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * V; base < n;
         base += stride) {
        if (base + V > n) {
            for (int64_t i = base; i < n; i++) {
                int64_t off[4] = {i, i * it.strides[1][0], i * it.strides[2][0],
                                  i * it.strides[3][0]};
                volt_cuda_apply<NIN, Out, T1, T2, T3>(it, f, off);
            }
            return;
        }
        volt_cuda_acc<T1> a[V];
        volt_cuda_acc<T2> b[V];
        volt_cuda_acc<T3> c[V];
        volt_cuda_in_vec<T1, V>(it, 1, base, a);
        if constexpr (NIN >= 2) volt_cuda_in_vec<T2, V>(it, 2, base, b);
        if constexpr (NIN >= 3) volt_cuda_in_vec<T3, V>(it, 3, base, c);
        volt_cuda_vec<Out, V> r;
#pragma unroll
        for (int j = 0; j < V; j++) {
            if constexpr (NIN == 1)
                r.v[j] = volt_cuda_type<Out>::store(f(a[j]));
            else if constexpr (NIN == 2)
                r.v[j] = volt_cuda_type<Out>::store(f(a[j], b[j]));
            else
                r.v[j] = volt_cuda_type<Out>::store(f(a[j], b[j], c[j]));
        }
        *(volt_cuda_vec<Out, V> *)((Out *)it.ptr[0] + base) = r;
    }
}

template <typename T> constexpr int volt_cuda_max_size(int s) {
    return (int)sizeof(T) > s ? (int)sizeof(T) : s;
}

/* Whether operand k can be read (or written) as vectors of `bytes`. */
static inline bool volt_cuda_vectorizable(const volt_cuda_iter &it, int k, int bytes) {
    if (!it.ptr[k] || it.strides[k][0] == 0) return k > 0;
    return it.strides[k][0] == 1 && (uintptr_t)it.ptr[k] % (uintptr_t)bytes == 0;
}

/* Runs f over it: out (type Out) = f(inputs 1..NIN of types T1..T3, in
 * their compute types). Returns the launch's cudaError_t. */
template <int NIN, typename Out, typename T1, typename T2 = uint8_t, typename T3 = uint8_t,
          typename F>
int volt_cuda_run(const volt_cuda_iter &it, F f, cudaStream_t s) {
    if (it.numel <= 0) return (int)cudaSuccess;
    constexpr int widest = volt_cuda_max_size<Out>(volt_cuda_max_size<T1>(
        NIN >= 2 ? volt_cuda_max_size<T2>(NIN >= 3 ? (int)sizeof(T3) : 1) : 1));
    constexpr int V = 16 / widest;
    bool contiguous = it.ndim == 1 && volt_cuda_vectorizable(it, 0, V * (int)sizeof(Out)) &&
                      volt_cuda_vectorizable(it, 1, V * (int)sizeof(T1)) &&
                      (NIN < 2 || volt_cuda_vectorizable(it, 2, V * (int)sizeof(T2))) &&
                      (NIN < 3 || volt_cuda_vectorizable(it, 3, V * (int)sizeof(T3)));
    if (contiguous)
        volt_cuda_contiguous_kernel<NIN, V, Out, T1, T2, T3>
            <<<volt_cuda_blocks((it.numel + V - 1) / V), VOLT_CUDA_THREADS, 0, s>>>(it, f);
    else if (it.small)
        volt_cuda_strided_kernel<NIN, uint32_t, Out, T1, T2, T3>
            <<<volt_cuda_blocks(it.numel), VOLT_CUDA_THREADS, 0, s>>>(it, f);
    else
        volt_cuda_strided_kernel<NIN, int64_t, Out, T1, T2, T3>
            <<<volt_cuda_blocks(it.numel), VOLT_CUDA_THREADS, 0, s>>>(it, f);
    return (int)cudaGetLastError();
}

/* Runs the body (the macro's last arguments) with T typedef'd to the element type of a float dtype;
 * `fail` for another. */
#define VOLT_CUDA_FLOAT_CASES(dtype, T, ...)                                                       \
    switch (dtype) {                                                                               \
    case VOLT_CUDA_F32: {                                                                          \
        typedef float T;                                                                           \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case VOLT_CUDA_F64: {                                                                          \
        typedef double T;                                                                          \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case VOLT_CUDA_BF16: {                                                                         \
        typedef __nv_bfloat16 T;                                                                   \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case VOLT_CUDA_F16: {                                                                          \
        typedef __half T;                                                                          \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    default: break;                                                                                \
    }

/* The same for the integer dtypes (bool not included). */
#define VOLT_CUDA_INT_CASES(dtype, T, ...)                                                         \
    switch (dtype) {                                                                               \
    case VOLT_CUDA_I64: {                                                                          \
        typedef int64_t T;                                                                         \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case VOLT_CUDA_I32: {                                                                          \
        typedef int32_t T;                                                                         \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    case VOLT_CUDA_U8: {                                                                           \
        typedef uint8_t T;                                                                         \
        __VA_ARGS__;                                                                               \
    }                                                                                              \
    default: break;                                                                                \
    }

#endif
