/* index.cu: the embedding (forward: rows copied with 16-byte vectors where
 * the row width allows; backward: atomic adds into an f32 / f64
 * accumulator), gather (index_select and gather share it), scatter_add
 * (atomic adds) and the triangle masks of tril / triu (index_kernels.h).
 * Grid-stride loops; 32-bit index arithmetic where the element count
 * allows. */
#include <cuda_runtime.h>
#include <math.h>
#include <string.h>

#include "ops/cuda/elementwise.cuh"
#include "ops/cuda/index_kernels.h"

/* ------------------------------------------------------------ embedding */

/* A NaN of each element type. */
template <typename T> __device__ __forceinline__ T nan_of();
template <> __device__ __forceinline__ float nan_of<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ __forceinline__ double nan_of<double>() {
    return __longlong_as_double(0x7ff8000000000000LL);
}
template <> __device__ __forceinline__ __nv_bfloat16 nan_of<__nv_bfloat16>() {
    return __float2bfloat16_rn(__int_as_float(0x7fc00000));
}
template <> __device__ __forceinline__ __half nan_of<__half>() {
    return __float2half_rn(__int_as_float(0x7fc00000));
}

/* out row i = w row idx[i], V elements of T at a time (V divides dim, the
 * pointers aligned to V elements). I: the index type of the loop. */
template <typename T, int V, typename I>
__global__ void embedding_kernel(T *out, const T *w, const int64_t *idx, I n, I rows, I dim) {
    typedef volt_cuda_vec<T, V> Vec;
    const I per_row = dim / V, total = n * per_row;
    for (I e = (I)(blockIdx.x * blockDim.x + threadIdx.x); e < total;
         e += (I)(gridDim.x * blockDim.x)) {
        I i = e / per_row, j = e % per_row;
        int64_t r = idx[i];
        Vec v;
        if (r >= 0 && r < (int64_t)rows) {
            v = ((const Vec *)(w + (I)r * dim))[j];
        } else {
#pragma unroll
            for (int k = 0; k < V; k++) v.v[k] = nan_of<T>();
        }
        ((Vec *)(out + i * dim))[j] = v;
    }
}

template <typename T, int V>
static void embedding_launch(T *out, const T *w, const int64_t *idx, int64_t n, int64_t rows,
                             int64_t dim, cudaStream_t s) {
    unsigned b = volt_cuda_blocks(n * (dim / V));
    if (n * dim < INT32_MAX && rows * dim < INT32_MAX)
        embedding_kernel<T, V, int32_t>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>(out, w, idx, (int32_t)n, (int32_t)rows, (int32_t)dim);
    else
        embedding_kernel<T, V, int64_t><<<b, VOLT_CUDA_THREADS, 0, s>>>(out, w, idx, n, rows, dim);
}

template <typename T>
static int embedding_typed(void *out, const void *w, const int64_t *idx, int64_t n, int64_t rows,
                           int64_t dim, cudaStream_t s) {
    const int V = 16 / (int)sizeof(T);
    bool vec = dim % V == 0 && ((uintptr_t)out % 16) == 0 && ((uintptr_t)w % 16) == 0;
    if (vec)
        embedding_launch<T, V>((T *)out, (const T *)w, idx, n, rows, dim, s);
    else
        embedding_launch<T, 1>((T *)out, (const T *)w, idx, n, rows, dim, s);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_embedding(int dtype, void *out, const void *w, const int64_t *idx,
                                          int64_t n, int64_t rows, int64_t dim, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n * dim == 0) return (int)cudaSuccess;
    switch (dtype) {
    case VOLT_CUDA_F32: return embedding_typed<float>(out, w, idx, n, rows, dim, s);
    case VOLT_CUDA_F64: return embedding_typed<double>(out, w, idx, n, rows, dim, s);
    case VOLT_CUDA_BF16: return embedding_typed<__nv_bfloat16>(out, w, idx, n, rows, dim, s);
    case VOLT_CUDA_F16: return embedding_typed<__half>(out, w, idx, n, rows, dim, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* acc[idx[i], j] += g[i, j] (A: f32, or f64 for f64). */
template <typename T, typename A>
__global__ void embedding_backward_kernel(A *acc, const T *g, const int64_t *idx, int64_t n,
                                          int64_t rows, int64_t dim, int64_t padding_idx) {
    const int64_t total = n * dim;
    for (int64_t e = volt_cuda_thread_index(); e < total; e += volt_cuda_thread_stride()) {
        int64_t i = e / dim, j = e % dim, r = idx[i];
        if (r < 0 || r >= rows || r == padding_idx) continue;
        atomicAdd(acc + r * dim + j, (A)volt_cuda_type<T>::load(g[e]));
    }
}

extern "C" int volt_cuda_launch_embedding_backward(int dtype, void *acc, const void *g,
                                                   const int64_t *idx, int64_t n, int64_t rows,
                                                   int64_t dim, int64_t padding_idx, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n * dim == 0) return (int)cudaSuccess;
    unsigned b = volt_cuda_blocks(n * dim);
    float *af = (float *)acc;
    switch (dtype) {
    case VOLT_CUDA_F32:
        embedding_backward_kernel<float, float>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>(af, (const float *)g, idx, n, rows, dim, padding_idx);
        break;
    case VOLT_CUDA_F64:
        embedding_backward_kernel<double, double><<<b, VOLT_CUDA_THREADS, 0, s>>>(
            (double *)acc, (const double *)g, idx, n, rows, dim, padding_idx);
        break;
    case VOLT_CUDA_BF16:
        embedding_backward_kernel<__nv_bfloat16, float><<<b, VOLT_CUDA_THREADS, 0, s>>>(
            af, (const __nv_bfloat16 *)g, idx, n, rows, dim, padding_idx);
        break;
    case VOLT_CUDA_F16:
        embedding_backward_kernel<__half, float>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>(af, (const __half *)g, idx, n, rows, dim, padding_idx);
        break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

/* ------------------------------------------------------ gather, scatter */

/* Offsets of position e in the indexed operand (without dim), the index
 * and the source. */
template <typename I> struct index_offsets { I a, idx, src, coord_dim; };
template <typename I>
__device__ __forceinline__ index_offsets<I> offsets_of(I e, const volt_cuda_index_geom &g) {
    index_offsets<I> o{0, 0, 0, 0};
    for (int d = g.ndim - 1; d >= 0; d--) {
        I size = (I)g.shape[d], c = e % size;
        e /= size;
        o.idx += c * (I)g.idx_stride[d];
        o.src += c * (I)g.src_stride[d];
        if (d != g.dim) o.a += c * (I)g.a_stride[d];
    }
    return o;
}

template <typename T, typename I>
__global__ void gather_kernel(T *out, const T *a, const int64_t *idx, T fill, I total,
                              volt_cuda_index_geom g) {
    for (I e = (I)(blockIdx.x * blockDim.x + threadIdx.x); e < total;
         e += (I)(gridDim.x * blockDim.x)) {
        index_offsets<I> o = offsets_of<I>(e, g);
        int64_t k = idx[o.idx];
        out[e] = k >= 0 && k < g.size ? a[o.a + (I)k * (I)g.a_stride[g.dim]] : fill;
    }
}

static int64_t numel_of(const volt_cuda_index_geom *g) {
    int64_t n = 1;
    for (int d = 0; d < g->ndim; d++) n *= g->shape[d];
    return n;
}

/* Whether every offset of the geometry fits 32 bits (a's extent bounded by
 * its size along dim). */
static bool fits32(const volt_cuda_index_geom *g, int64_t total) {
    int64_t ext = g->size * (g->ndim ? g->a_stride[g->dim] : 1), ei = 0, es = 0;
    for (int d = 0; d < g->ndim; d++) {
        int64_t m = g->shape[d] - 1;
        if (d != g->dim) ext += m * g->a_stride[d];
        ei += m * g->idx_stride[d];
        es += m * g->src_stride[d];
    }
    return total < INT32_MAX && ext < INT32_MAX && ei < INT32_MAX && es < INT32_MAX;
}

template <typename T>
static int gather_typed(void *out, const void *a, const int64_t *idx, uint64_t fill,
                        const volt_cuda_index_geom *g, cudaStream_t s) {
    int64_t total = numel_of(g);
    if (total == 0) return (int)cudaSuccess;
    T f;
    memcpy(&f, &fill, sizeof f);
    unsigned b = volt_cuda_blocks(total);
    if (fits32(g, total))
        gather_kernel<T, int32_t>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>((T *)out, (const T *)a, idx, f, (int32_t)total, *g);
    else
        gather_kernel<T, int64_t>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>((T *)out, (const T *)a, idx, f, total, *g);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_gather(int elem_size, void *out, const void *a, const int64_t *idx,
                                       uint64_t fill, const volt_cuda_index_geom *g, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    switch (elem_size) {
    case 1: return gather_typed<uint8_t>(out, a, idx, fill, g, s);
    case 2: return gather_typed<uint16_t>(out, a, idx, fill, g, s);
    case 4: return gather_typed<uint32_t>(out, a, idx, fill, g, s);
    case 8: return gather_typed<uint64_t>(out, a, idx, fill, g, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* atomicAdd for the scatter's types (i64 as two's complement u64). */
__device__ __forceinline__ void add_to(float *p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void add_to(double *p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void add_to(int32_t *p, int32_t v) { atomicAdd(p, v); }
__device__ __forceinline__ void add_to(int64_t *p, int64_t v) {
    atomicAdd((unsigned long long *)p, (unsigned long long)v);
}

template <typename T, typename I>
__global__ void scatter_add_kernel(T *out, const T *src, const int64_t *idx, I total,
                                   volt_cuda_index_geom g) {
    for (I e = (I)(blockIdx.x * blockDim.x + threadIdx.x); e < total;
         e += (I)(gridDim.x * blockDim.x)) {
        index_offsets<I> o = offsets_of<I>(e, g);
        int64_t k = idx[o.idx];
        if (k >= 0 && k < g.size) add_to(out + o.a + (I)k * (I)g.a_stride[g.dim], src[o.src]);
    }
}

template <typename T>
static int scatter_typed(void *out, const void *src, const int64_t *idx,
                         const volt_cuda_index_geom *g, cudaStream_t s) {
    int64_t total = numel_of(g);
    if (total == 0) return (int)cudaSuccess;
    unsigned b = volt_cuda_blocks(total);
    if (fits32(g, total))
        scatter_add_kernel<T, int32_t>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>((T *)out, (const T *)src, idx, (int32_t)total, *g);
    else
        scatter_add_kernel<T, int64_t>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>((T *)out, (const T *)src, idx, total, *g);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_scatter_add(int dtype, void *out, const void *src,
                                            const int64_t *idx, const volt_cuda_index_geom *g,
                                            void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    switch (dtype) {
    case VOLT_CUDA_F32: return scatter_typed<float>(out, src, idx, g, s);
    case VOLT_CUDA_F64: return scatter_typed<double>(out, src, idx, g, s);
    case VOLT_CUDA_I32: return scatter_typed<int32_t>(out, src, idx, g, s);
    case VOLT_CUDA_I64: return scatter_typed<int64_t>(out, src, idx, g, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* ------------------------------------------------------------ triangles */

template <typename T>
__global__ void triangle_kernel(T *out, const T *a, int64_t total, int64_t rows, int64_t cols,
                                int64_t diagonal, int upper) {
    for (int64_t e = volt_cuda_thread_index(); e < total; e += volt_cuda_thread_stride()) {
        int64_t col = e % cols, row = (e / cols) % rows, d = col - row;
        bool keep = upper ? d >= diagonal : d <= diagonal;
        out[e] = keep ? a[e] : (T)0;
    }
}

template <typename T>
static int triangle_typed(void *out, const void *a, int64_t total, int64_t rows, int64_t cols,
                          int64_t diagonal, int upper, cudaStream_t s) {
    triangle_kernel<T><<<volt_cuda_blocks(total), VOLT_CUDA_THREADS, 0, s>>>(
        (T *)out, (const T *)a, total, rows, cols, diagonal, upper);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_triangle(int elem_size, void *out, const void *a, int64_t batch,
                                         int64_t rows, int64_t cols, int64_t diagonal, int upper,
                                         void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    int64_t total = batch * rows * cols;
    if (total == 0) return (int)cudaSuccess;
    switch (elem_size) {
    case 1: return triangle_typed<uint8_t>(out, a, total, rows, cols, diagonal, upper, s);
    case 2: return triangle_typed<uint16_t>(out, a, total, rows, cols, diagonal, upper, s);
    case 4: return triangle_typed<uint32_t>(out, a, total, rows, cols, diagonal, upper, s);
    case 8: return triangle_typed<uint64_t>(out, a, total, rows, cols, diagonal, upper, s);
    }
    return (int)cudaErrorInvalidValue;
}
