/* nn_rows.cuh: the row machinery of the reduction, softmax, loss and norm
 * kernels (nn_kernels.h's row geometry): a row is read by a group of G
 * threads — 1 (a thread per row, for rows strided by inner > 1), 32 (a
 * warp) or 256 (a block) — and the group combines its partial results with
 * warp shuffles (and shared memory across warps), always in the same order:
 * results are deterministic. Included by .cu files only. */
#ifndef VOLT_CUDA_NN_ROWS_CUH
#define VOLT_CUDA_NN_ROWS_CUH

#include "ops/cuda/elementwise.cuh"

#define VOLT_ROW_BLOCK 256

/* The group size for rows of n elements strided by inner. */
static inline int volt_row_group(int64_t n, int64_t inner) {
    return inner > 1 ? 1 : n <= 1024 ? 32 : VOLT_ROW_BLOCK;
}

/* Blocks for `rows` rows read by groups of G (grid-stride beyond the cap). */
static inline unsigned volt_row_blocks(int64_t rows, int G) {
    int64_t per = VOLT_ROW_BLOCK / G, b = (rows + per - 1) / per;
    return (unsigned)(b < 1 ? 1 : b > VOLT_CUDA_MAX_BLOCKS ? VOLT_CUDA_MAX_BLOCKS : b);
}

/* A (value, index) pair and an online (max, sum of exp(x - max)) pair. */
template <typename A> struct volt_vi {
    A v;
    int64_t i;
};
template <typename A> struct volt_ms { A m, s; };

__device__ __forceinline__ float volt_shfl(float v, int o) {
    return __shfl_xor_sync(0xffffffffu, v, o);
}
__device__ __forceinline__ double volt_shfl(double v, int o) {
    return __shfl_xor_sync(0xffffffffu, v, o);
}
template <typename A> __device__ __forceinline__ volt_vi<A> volt_shfl(volt_vi<A> p, int o) {
    return volt_vi<A>{volt_shfl(p.v, o), (int64_t)__shfl_xor_sync(0xffffffffu, (long long)p.i, o)};
}
template <typename A> __device__ __forceinline__ volt_ms<A> volt_shfl(volt_ms<A> p, int o) {
    return volt_ms<A>{volt_shfl(p.m, o), volt_shfl(p.s, o)};
}

/* Row r's place: its first element and the stride between its elements. */
struct volt_row {
    int64_t base, stride;
};
__device__ __forceinline__ volt_row volt_row_at(int64_t r, int64_t n, int64_t inner) {
    if (inner == 1) return volt_row{r * n, 1};
    return volt_row{(r / inner) * n * inner + r % inner, inner};
}

/* Every thread of the group gets the combination of the group's values
 * (combine(a, b) must treat a as the earlier elements' part). */
template <int G, typename A, typename F> __device__ __forceinline__ A volt_group_reduce(A v, F f) {
    if constexpr (G == 1) {
        return v;
    } else {
        /* xor butterfly: every lane ends with the same value, combined in
         * the same order */
        for (int o = 1; o < 32; o <<= 1) {
            A other = volt_shfl(v, o);
            v = (threadIdx.x & o) ? f(other, v) : f(v, other);
        }
        if constexpr (G == 32) {
            return v;
        } else {
            __shared__ A part[VOLT_ROW_BLOCK / 32];
            __syncthreads(); /* an earlier reduction's readers are done */
            if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
            __syncthreads();
            A r = part[0];
            for (int w = 1; w < G / 32; w++) r = f(r, part[w]);
            return r;
        }
    }
}

/* Loops a row in group order: thread `lane` takes k = lane, lane + G, ... */
#define VOLT_ROW_FOR(k, lane, n, G) for (int64_t k = (lane); k < (n); k += (G))

/* The rows of this launch for groups of G: calls body(r, lane) for each row
 * r < rows (whole groups skip together). */
template <int G, typename F> __device__ __forceinline__ void volt_for_rows(int64_t rows, F body) {
    const int per = VOLT_ROW_BLOCK / G;
    int lane = G == 1 ? 0 : (int)(threadIdx.x % G);
    for (int64_t rb = blockIdx.x; rb * per < rows; rb += gridDim.x) {
        int64_t r = rb * per + threadIdx.x / G;
        if (r < rows) body(r, lane);
    }
}

#endif
