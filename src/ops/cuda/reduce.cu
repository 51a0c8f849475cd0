/* reduce.cu: the CUDA reductions (nn_kernels.h) — sum, prod, sum of squares
 * or of |x|, max/min (of x or |x|), variance and logsumexp over rows (warp,
 * block or thread per row; long rows split into fixed chunks and finished
 * by a second kernel; strided rows with many elements in column chunks,
 * likewise) or over any geometry (a thread per output), max/min
 * with indices, and the elementwise kernels of the reductions' gradients. */
#include <cuda_runtime.h>
#include <math.h>

#include "ops/cuda/nn_kernels.h"
#include "ops/cuda/nn_rows.cuh"

/* Chunk of a split row, and the output count below which rows split. */
#define CHUNK 16384
#define SPLIT_OUTPUTS 1024
/* Rows of a column chunk (strided reductions, inner > 1: a bias gradient
 * sums [tokens, features] over its tokens), and the threads of its block:
 * 32 columns x 8 row lanes. */
#define COL_ROWS 256
#define COL_LANES 8

template <typename A> __device__ __forceinline__ bool isnan_(A x) { return x != x; }

/* The accumulation of op: its identity, one element's contribution, and
 * the combination of two partial results (a: the earlier elements'). */
template <int OP, typename A> struct red {
    static __device__ __forceinline__ A init() {
        return OP == VOLT_CUDA_RED_PROD  ? (A)1
               : OP == VOLT_CUDA_RED_MAX ? (A)-INFINITY
               : OP == VOLT_CUDA_RED_MIN ? (A)INFINITY
                                         : (A)0;
    }
    static __device__ __forceinline__ A map(A x) {
        return OP == VOLT_CUDA_RED_SUMSQ                                    ? x * x
               : (OP == VOLT_CUDA_RED_ABSSUM || OP == VOLT_CUDA_RED_MAXABS) ? fabs(x)
                                                                            : x;
    }
    static __device__ __forceinline__ A combine(A a, A b) {
        switch (OP) {
        case VOLT_CUDA_RED_PROD: return a * b;
        case VOLT_CUDA_RED_MAX:
        case VOLT_CUDA_RED_MAXABS: return isnan_(a) ? a : (isnan_(b) || b > a) ? b : a;
        case VOLT_CUDA_RED_MIN: return isnan_(a) ? a : (isnan_(b) || b < a) ? b : a;
        default: return a + b;
        }
    }
};

template <typename A> __device__ __forceinline__ A finish(int final, A acc, A p) {
    return final == VOLT_CUDA_FINAL_DIV        ? acc / p
           : final == VOLT_CUDA_FINAL_SQRT_DIV ? sqrt(acc / p)
                                               : acc;
}

/* ------------------------------------------------------------ row kernels */

/* One pass of a one-pass op over the row, reduced over the group. */
template <int G, int OP, typename T, typename A>
__device__ __forceinline__ A row_accumulate(const T *x, volt_row w, int64_t n, int lane) {
    typedef red<OP, A> R;
    A acc = R::init();
    VOLT_ROW_FOR(k, lane, n, G)
    acc = R::combine(acc, R::map((A)volt_cuda_type<T>::load(x[w.base + k * w.stride])));
    return volt_group_reduce<G>(acc, [](A a, A b) { return R::combine(a, b); });
}

template <int G, typename T, typename A>
__device__ __forceinline__ A row_sum(const T *x, volt_row w, int64_t n, int lane) {
    return row_accumulate<G, VOLT_CUDA_RED_SUM, T, A>(x, w, n, lane);
}

/* sum (x - mean)^2, the mean from a first pass. */
template <int G, typename T, typename A>
__device__ __forceinline__ A row_var(const T *x, volt_row w, int64_t n, int lane) {
    A mean = row_sum<G, T, A>(x, w, n, lane) / (A)n;
    A acc = 0;
    VOLT_ROW_FOR(k, lane, n, G) {
        A d = (A)volt_cuda_type<T>::load(x[w.base + k * w.stride]) - mean;
        acc += d * d;
    }
    return volt_group_reduce<G>(acc, [](A a, A b) { return a + b; });
}

/* log(sum exp(x - m)) + m, m the max (0 when not finite). */
template <int G, typename T, typename A>
__device__ __forceinline__ A row_lse(const T *x, volt_row w, int64_t n, int lane) {
    A m = row_accumulate<G, VOLT_CUDA_RED_MAX, T, A>(x, w, n, lane);
    if (!isfinite(m)) m = 0;
    A acc = 0;
    VOLT_ROW_FOR(k, lane, n, G)
    acc += exp((A)volt_cuda_type<T>::load(x[w.base + k * w.stride]) - m);
    return log(volt_group_reduce<G>(acc, [](A a, A b) { return a + b; })) + m;
}

template <int G, int OP, typename T, typename A, typename TO>
__global__ void reduce_rows_kernel(TO *out, const T *x, int64_t rows, int64_t n, int64_t inner,
                                   int final, A p) {
    volt_for_rows<G>(rows, [&](int64_t r, int lane) {
        volt_row w = volt_row_at(r, n, inner);
        A v;
        if (OP == VOLT_CUDA_RED_VAR)
            v = row_var<G, T, A>(x, w, n, lane);
        else if (OP == VOLT_CUDA_RED_LSE)
            v = row_lse<G, T, A>(x, w, n, lane);
        else
            v = row_accumulate<G, OP, T, A>(x, w, n, lane);
        if (lane == 0) out[r] = volt_cuda_type<TO>::store(finish(final, v, p));
    });
}

/* Split rows: block (row, chunk) accumulates its chunk into part[row, chunk]. */
template <int OP, typename T, typename A>
__global__ void reduce_chunks_kernel(A *part, const T *x, int64_t rows, int64_t n, int64_t chunks) {
    for (int64_t b = blockIdx.x; b < rows * chunks; b += gridDim.x) {
        int64_t r = b / chunks, c = b % chunks;
        int64_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
        A v = row_accumulate<VOLT_ROW_BLOCK, OP, T, A>(x, volt_row{r * n + lo, 1}, len,
                                                       (int)threadIdx.x);
        if (threadIdx.x == 0) part[b] = v;
    }
}

/* Column chunks: block (column tile, chunk) reduces rows [c * COL_ROWS, ...)
 * of 32 columns into part[o, c, col] — 8 lanes each take every 8th row,
 * then lane 0 combines them in lane order (deterministic). */
template <int OP, typename T, typename A>
__global__ void reduce_cols_kernel(A *part, const T *x, int64_t outer, int64_t n, int64_t inner,
                                   int64_t chunks) {
    typedef red<OP, A> R;
    __shared__ A lanes[COL_LANES][33];
    int tx = (int)threadIdx.x, ty = (int)threadIdx.y;
    int64_t col = (int64_t)blockIdx.x * 32 + tx;
    for (int64_t oc = blockIdx.y; oc < outer * chunks; oc += gridDim.y) {
        int64_t o = oc / chunks, lo = (oc % chunks) * COL_ROWS;
        int64_t hi = n - lo < COL_ROWS ? n : lo + COL_ROWS;
        A acc = R::init();
        if (col < inner)
            for (int64_t r = lo + ty; r < hi; r += COL_LANES)
                acc = R::combine(acc,
                                 R::map((A)volt_cuda_type<T>::load(x[(o * n + r) * inner + col])));
        lanes[ty][tx] = acc;
        __syncthreads();
        if (ty == 0 && col < inner) {
            A v = lanes[0][tx];
            for (int k = 1; k < COL_LANES; k++) v = R::combine(v, lanes[k][tx]);
            part[oc * inner + col] = v;
        }
        __syncthreads();
    }
}

/* Whether a strided reduction (inner > 1) splits its rows into column chunks. */
static bool col_split(int op, int64_t n, int64_t inner) {
    return inner > 1 && n >= 2 * COL_ROWS && op != VOLT_CUDA_RED_VAR && op != VOLT_CUDA_RED_LSE;
}

template <int G, int OP, typename T>
static int launch_rows(int final, double p, void *out, const void *x, int64_t rows, int64_t n,
                       int64_t inner, cudaStream_t s) {
    typedef typename volt_cuda_type<T>::acc A;
    reduce_rows_kernel<G, OP, T, A, T><<<volt_row_blocks(rows, G), VOLT_ROW_BLOCK, 0, s>>>(
        (T *)out, (const T *)x, rows, n, inner, final, (A)p);
    return (int)cudaGetLastError();
}

template <int OP, typename T>
static int rows_by_group(int final, double p, void *out, const void *x, int64_t rows, int64_t n,
                         int64_t inner, cudaStream_t s) {
    switch (volt_row_group(n, inner)) {
    case 1: return launch_rows<1, OP, T>(final, p, out, x, rows, n, inner, s);
    case 32: return launch_rows<32, OP, T>(final, p, out, x, rows, n, inner, s);
    default: return launch_rows<VOLT_ROW_BLOCK, OP, T>(final, p, out, x, rows, n, inner, s);
    }
}

/* Two passes: chunks into part, then part's rows (of acc type) into out. */
template <int OP, typename T>
static int rows_split(int final, double p, void *out, const void *x, int64_t rows, int64_t n,
                      void *part, cudaStream_t s) {
    typedef typename volt_cuda_type<T>::acc A;
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
    unsigned blocks =
        (unsigned)(rows * chunks < VOLT_CUDA_MAX_BLOCKS ? rows * chunks : VOLT_CUDA_MAX_BLOCKS);
    reduce_chunks_kernel<OP, T, A>
        <<<blocks, VOLT_ROW_BLOCK, 0, s>>>((A *)part, (const T *)x, rows, n, chunks);
    int err = (int)cudaGetLastError();
    if (err) return err;
    /* the op a second pass applies to partial results */
    const int POP = OP == VOLT_CUDA_RED_SUMSQ || OP == VOLT_CUDA_RED_ABSSUM ? VOLT_CUDA_RED_SUM
                    : OP == VOLT_CUDA_RED_MAXABS                            ? VOLT_CUDA_RED_MAX
                                                                            : OP;
    reduce_rows_kernel<32, POP, A, A, T><<<volt_row_blocks(rows, 32), VOLT_ROW_BLOCK, 0, s>>>(
        (T *)out, (const A *)part, rows, chunks, 1, final, (A)p);
    return (int)cudaGetLastError();
}

/* Two passes for strided rows: column chunks into part [outer, chunks,
 * inner], then each output's chunks (a thread per output, few elements). */
template <int OP, typename T>
static int cols_split(int final, double p, void *out, const void *x, int64_t outer, int64_t n,
                      int64_t inner, void *part, cudaStream_t s) {
    typedef typename volt_cuda_type<T>::acc A;
    int64_t chunks = (n + COL_ROWS - 1) / COL_ROWS, tiles = (inner + 31) / 32;
    int64_t ys = outer * chunks < 65535 ? outer * chunks : 65535;
    if (tiles > 2147483647) return (int)cudaErrorInvalidValue;
    reduce_cols_kernel<OP, T, A>
        <<<dim3((unsigned)tiles, (unsigned)ys), dim3(32, COL_LANES), 0, s>>>(
            (A *)part, (const T *)x, outer, n, inner, chunks);
    int err = (int)cudaGetLastError();
    if (err) return err;
    const int POP = OP == VOLT_CUDA_RED_SUMSQ || OP == VOLT_CUDA_RED_ABSSUM ? VOLT_CUDA_RED_SUM
                    : OP == VOLT_CUDA_RED_MAXABS                            ? VOLT_CUDA_RED_MAX
                                                                            : OP;
    int64_t rows = outer * inner;
    reduce_rows_kernel<1, POP, A, A, T><<<volt_row_blocks(rows, 1), VOLT_ROW_BLOCK, 0, s>>>(
        (T *)out, (const A *)part, rows, chunks, inner, final, (A)p);
    return (int)cudaGetLastError();
}

extern "C" int64_t volt_cuda_reduce_partial_count(int op, int64_t outer, int64_t n, int64_t inner) {
    if (col_split(op, n, inner)) return outer * ((n + COL_ROWS - 1) / COL_ROWS) * inner;
    if (inner != 1 || outer > SPLIT_OUTPUTS || n <= 2 * CHUNK || op == VOLT_CUDA_RED_VAR ||
        op == VOLT_CUDA_RED_LSE)
        return 0;
    return outer * ((n + CHUNK - 1) / CHUNK);
}

template <typename T>
static int reduce_rows_typed(int op, int final, double p, void *out, const void *x, int64_t outer,
                             int64_t n, int64_t inner, void *part, cudaStream_t s) {
    int64_t rows = outer * inner;
    bool split = part && volt_cuda_reduce_partial_count(op, outer, n, inner) > 0;
    bool cols = split && inner > 1;
#define VOLT_RED_CASE(OP)                                                                          \
    case OP:                                                                                       \
        return cols    ? cols_split<OP, T>(final, p, out, x, outer, n, inner, part, s)             \
               : split ? rows_split<OP, T>(final, p, out, x, rows, n, part, s)                     \
                       : rows_by_group<OP, T>(final, p, out, x, rows, n, inner, s);
    switch (op) {
        VOLT_RED_CASE(VOLT_CUDA_RED_SUM)
        VOLT_RED_CASE(VOLT_CUDA_RED_PROD)
        VOLT_RED_CASE(VOLT_CUDA_RED_SUMSQ)
        VOLT_RED_CASE(VOLT_CUDA_RED_ABSSUM)
        VOLT_RED_CASE(VOLT_CUDA_RED_MAXABS)
        VOLT_RED_CASE(VOLT_CUDA_RED_MAX)
        VOLT_RED_CASE(VOLT_CUDA_RED_MIN)
        VOLT_RED_CASE(VOLT_CUDA_RED_VAR)
        VOLT_RED_CASE(VOLT_CUDA_RED_LSE)
    }
#undef VOLT_RED_CASE
    return (int)cudaErrorInvalidValue;
}

extern "C" int volt_cuda_launch_reduce_rows(int op, int final, double p, int dtype, void *out,
                                            const void *x, int64_t outer, int64_t n, int64_t inner,
                                            void *partial, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (outer * inner == 0) return (int)cudaSuccess;
    switch (dtype) {
    case VOLT_CUDA_F32:
        return reduce_rows_typed<float>(op, final, p, out, x, outer, n, inner, partial, s);
    case VOLT_CUDA_F64:
        return reduce_rows_typed<double>(op, final, p, out, x, outer, n, inner, partial, s);
    case VOLT_CUDA_BF16:
        return reduce_rows_typed<__nv_bfloat16>(op, final, p, out, x, outer, n, inner, partial, s);
    case VOLT_CUDA_F16:
        return reduce_rows_typed<__half>(op, final, p, out, x, outer, n, inner, partial, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* ------------------------------------------------------- general geometry */

/* Offset of the idx-th position (row-major) of (n, shape, stride). */
__device__ __forceinline__ int64_t geom_offset(int64_t idx, int n, const int64_t *shape,
                                               const int64_t *stride) {
    int64_t off = 0;
    for (int d = n - 1; d >= 0; d--) {
        off += (idx % shape[d]) * stride[d];
        idx /= shape[d];
    }
    return off;
}

template <int OP, typename T, typename A>
__device__ A general_pass(const T *x, const volt_cuda_reduce_geom &g, int64_t count, A center) {
    typedef red<OP, A> R;
    A acc = R::init();
    for (int64_t j = 0; j < count; j++) {
        A v = (A)volt_cuda_type<T>::load(x[geom_offset(j, g.n_red, g.red_shape, g.red_stride)]);
        if (OP == VOLT_CUDA_RED_VAR)
            acc += (v - center) * (v - center);
        else if (OP == VOLT_CUDA_RED_LSE)
            acc += exp(v - center);
        else
            acc = R::combine(acc, R::map(v));
    }
    return acc;
}

template <int OP, typename T>
__global__ void reduce_general_kernel(T *out, const T *x, volt_cuda_reduce_geom g, int64_t n_out,
                                      int final, typename volt_cuda_type<T>::acc p) {
    typedef typename volt_cuda_type<T>::acc A;
    int64_t count = 1;
    for (int d = 0; d < g.n_red; d++) count *= g.red_shape[d];
    for (int64_t o = volt_cuda_thread_index(); o < n_out; o += volt_cuda_thread_stride()) {
        const T *xo = x + geom_offset(o, g.n_keep, g.keep_shape, g.keep_stride);
        A v;
        if (OP == VOLT_CUDA_RED_VAR) {
            A mean = general_pass<VOLT_CUDA_RED_SUM, T, A>(xo, g, count, 0) / (A)count;
            v = general_pass<VOLT_CUDA_RED_VAR, T, A>(xo, g, count, mean);
        } else if (OP == VOLT_CUDA_RED_LSE) {
            A m = general_pass<VOLT_CUDA_RED_MAX, T, A>(xo, g, count, 0);
            if (!isfinite(m)) m = 0;
            v = log(general_pass<VOLT_CUDA_RED_LSE, T, A>(xo, g, count, m)) + m;
        } else {
            v = general_pass<OP, T, A>(xo, g, count, 0);
        }
        out[o] = volt_cuda_type<T>::store(finish(final, v, p));
    }
}

template <typename T>
static int reduce_general_typed(int op, int final, double p, void *out, const void *x,
                                const volt_cuda_reduce_geom *g, int64_t n_out, cudaStream_t s) {
    typedef typename volt_cuda_type<T>::acc A;
    unsigned b = volt_cuda_blocks(n_out);
#define VOLT_RED_CASE(OP)                                                                          \
    case OP:                                                                                       \
        reduce_general_kernel<OP, T>                                                               \
            <<<b, VOLT_CUDA_THREADS, 0, s>>>((T *)out, (const T *)x, *g, n_out, final, (A)p);      \
        break;
    switch (op) {
        VOLT_RED_CASE(VOLT_CUDA_RED_SUM)
        VOLT_RED_CASE(VOLT_CUDA_RED_PROD)
        VOLT_RED_CASE(VOLT_CUDA_RED_SUMSQ)
        VOLT_RED_CASE(VOLT_CUDA_RED_ABSSUM)
        VOLT_RED_CASE(VOLT_CUDA_RED_MAXABS)
        VOLT_RED_CASE(VOLT_CUDA_RED_MAX)
        VOLT_RED_CASE(VOLT_CUDA_RED_MIN)
        VOLT_RED_CASE(VOLT_CUDA_RED_VAR)
        VOLT_RED_CASE(VOLT_CUDA_RED_LSE)
    default: return (int)cudaErrorInvalidValue;
    }
#undef VOLT_RED_CASE
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_reduce_general(int op, int final, double p, int dtype, void *out,
                                               const void *x, const volt_cuda_reduce_geom *g,
                                               int64_t n_out, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n_out == 0) return (int)cudaSuccess;
    switch (dtype) {
    case VOLT_CUDA_F32: return reduce_general_typed<float>(op, final, p, out, x, g, n_out, s);
    case VOLT_CUDA_F64: return reduce_general_typed<double>(op, final, p, out, x, g, n_out, s);
    case VOLT_CUDA_BF16:
        return reduce_general_typed<__nv_bfloat16>(op, final, p, out, x, g, n_out, s);
    case VOLT_CUDA_F16: return reduce_general_typed<__half>(op, final, p, out, x, g, n_out, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* ------------------------------------------------------ max/min, indices */

/* Whether (a) is better than (b): NaN first, then the larger (smaller), then
 * the smaller index. */
template <bool MAX, typename A> __device__ __forceinline__ bool better(volt_vi<A> a, volt_vi<A> b) {
    bool an = isnan_(a.v), bn = isnan_(b.v);
    if (an || bn) return an && (!bn || a.i < b.i);
    if (a.v != b.v) return MAX ? a.v > b.v : a.v < b.v;
    return a.i < b.i;
}

template <int G, bool MAX, typename T>
__global__ void max_rows_kernel(T *values, int64_t *indices, const T *x, int64_t rows, int64_t n,
                                int64_t inner) {
    typedef typename volt_cuda_type<T>::acc A;
    volt_for_rows<G>(rows, [&](int64_t r, int lane) {
        volt_row w = volt_row_at(r, n, inner);
        volt_vi<A> best{(A)0, -1};
        VOLT_ROW_FOR(k, lane, n, G) {
            volt_vi<A> c{(A)volt_cuda_type<T>::load(x[w.base + k * w.stride]), k};
            if (best.i < 0 || better<MAX>(c, best)) best = c;
        }
        best = volt_group_reduce<G>(best, [](volt_vi<A> a, volt_vi<A> b) {
            return b.i >= 0 && (a.i < 0 || better<MAX>(b, a)) ? b : a;
        });
        if (lane == 0) {
            values[r] = x[w.base + best.i * w.stride];
            if (indices) indices[r] = best.i;
        }
    });
}

template <bool MAX, typename T>
static int max_rows_typed(void *values, int64_t *indices, const void *x, int64_t outer, int64_t n,
                          int64_t inner, cudaStream_t s) {
    int64_t rows = outer * inner;
    int G = volt_row_group(n, inner);
    unsigned b = volt_row_blocks(rows, G);
    T *v = (T *)values;
    const T *xx = (const T *)x;
    if (G == 1)
        max_rows_kernel<1, MAX, T><<<b, VOLT_ROW_BLOCK, 0, s>>>(v, indices, xx, rows, n, inner);
    else if (G == 32)
        max_rows_kernel<32, MAX, T><<<b, VOLT_ROW_BLOCK, 0, s>>>(v, indices, xx, rows, n, inner);
    else
        max_rows_kernel<VOLT_ROW_BLOCK, MAX, T>
            <<<b, VOLT_ROW_BLOCK, 0, s>>>(v, indices, xx, rows, n, inner);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_max_rows(int is_max, int dtype, void *values, int64_t *indices,
                                         const void *x, int64_t outer, int64_t n, int64_t inner,
                                         void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (outer * inner == 0) return (int)cudaSuccess;
#define VOLT_MAX_CASE(CODE, T)                                                                     \
    case CODE:                                                                                     \
        return is_max ? max_rows_typed<true, T>(values, indices, x, outer, n, inner, s)            \
                      : max_rows_typed<false, T>(values, indices, x, outer, n, inner, s);
    switch (dtype) {
        VOLT_MAX_CASE(VOLT_CUDA_F32, float)
        VOLT_MAX_CASE(VOLT_CUDA_F64, double)
        VOLT_MAX_CASE(VOLT_CUDA_BF16, __nv_bfloat16)
        VOLT_MAX_CASE(VOLT_CUDA_F16, __half)
    }
#undef VOLT_MAX_CASE
    return (int)cudaErrorInvalidValue;
}

/* --------------------------------------------------------- gradient kernels */

template <typename A> __device__ __forceinline__ A sign_(A x) {
    return x > 0 ? (A)1 : x < 0 ? (A)-1 : (A)0;
}

template <int OP, typename A> __device__ __forceinline__ A grad_of(A x, A c, A s, A p) {
    switch (OP) {
    case VOLT_CUDA_RGRAD_CENTERED: return s * (x - c);
    case VOLT_CUDA_RGRAD_EXP: return s * exp(x - c);
    case VOLT_CUDA_RGRAD_SIGN: return s * sign_(x);
    case VOLT_CUDA_RGRAD_SCALE: return s * x;
    case VOLT_CUDA_RGRAD_ABSMAX_MASK: return (fabs(x) == c || isnan_(x)) ? (A)1 : (A)0;
    case VOLT_CUDA_RGRAD_ABSMAX_SIGN: return (fabs(x) == c || isnan_(x)) ? s * sign_(x) : (A)0;
    case VOLT_CUDA_RGRAD_VALUE_MASK: return (x == c || (isnan_(x) && isnan_(c))) ? (A)1 : (A)0;
    case VOLT_CUDA_RGRAD_VALUE_SELECT: return (x == c || (isnan_(x) && isnan_(c))) ? s : (A)0;
    case VOLT_CUDA_RGRAD_DIV_OR_ZERO: return c == 0 ? (A)0 : s / c;
    default: return s * p;
    }
}

template <int OP, typename T>
__global__ void reduce_grad_kernel(T *out, const T *x, const T *c, const T *s,
                                   typename volt_cuda_type<T>::acc p, volt_cuda_bcast_geom g,
                                   int64_t n) {
    typedef typename volt_cuda_type<T>::acc A;
    typedef volt_cuda_type<T> L;
    for (int64_t i = volt_cuda_thread_index(); i < n; i += volt_cuda_thread_stride()) {
        int64_t j = geom_offset(i, g.ndim, g.shape, g.gstride);
        A xv = x ? (A)L::load(x[i]) : (A)0, cv = c ? (A)L::load(c[j]) : (A)0;
        A sv = s ? (A)L::load(s[j]) : (A)0;
        out[i] = L::store(grad_of<OP, A>(xv, cv, sv, p));
    }
}

template <typename T>
static int reduce_grad_typed(int op, void *out, const void *x, const void *c, const void *s,
                             double p, const volt_cuda_bcast_geom *g, int64_t n, cudaStream_t st) {
    typedef typename volt_cuda_type<T>::acc A;
    unsigned b = volt_cuda_blocks(n);
#define VOLT_GRAD_CASE(OP)                                                                         \
    case OP:                                                                                       \
        reduce_grad_kernel<OP, T><<<b, VOLT_CUDA_THREADS, 0, st>>>(                                \
            (T *)out, (const T *)x, (const T *)c, (const T *)s, (A)p, *g, n);                      \
        break;
    switch (op) {
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_CENTERED)
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_EXP)
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_SIGN)
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_SCALE)
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_ABSMAX_MASK)
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_ABSMAX_SIGN)
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_VALUE_MASK)
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_VALUE_SELECT)
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_DIV_OR_ZERO)
        VOLT_GRAD_CASE(VOLT_CUDA_RGRAD_BROADCAST)
    default: return (int)cudaErrorInvalidValue;
    }
#undef VOLT_GRAD_CASE
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_reduce_grad(int op, int dtype, void *out, const void *x,
                                            const void *c, const void *s, double p,
                                            const volt_cuda_bcast_geom *g, int64_t n,
                                            void *stream) {
    cudaStream_t st = (cudaStream_t)stream;
    if (n == 0) return (int)cudaSuccess;
    switch (dtype) {
    case VOLT_CUDA_F32: return reduce_grad_typed<float>(op, out, x, c, s, p, g, n, st);
    case VOLT_CUDA_F64: return reduce_grad_typed<double>(op, out, x, c, s, p, g, n, st);
    case VOLT_CUDA_BF16: return reduce_grad_typed<__nv_bfloat16>(op, out, x, c, s, p, g, n, st);
    case VOLT_CUDA_F16: return reduce_grad_typed<__half>(op, out, x, c, s, p, g, n, st);
    }
    return (int)cudaErrorInvalidValue;
}

template <typename T>
__global__ void scatter_rows_kernel(T *out, const int64_t *index, const T *g, int64_t rows,
                                    int64_t n, int64_t inner) {
    for (int64_t r = volt_cuda_thread_index(); r < rows; r += volt_cuda_thread_stride()) {
        volt_row w = volt_row_at(r, n, inner);
        out[w.base + index[r] * w.stride] = g[r];
    }
}

extern "C" int volt_cuda_launch_scatter_rows(int dtype, void *out, const int64_t *index,
                                             const void *g, int64_t outer, int64_t n, int64_t inner,
                                             void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    int64_t rows = outer * inner;
    if (rows == 0) return (int)cudaSuccess;
    unsigned b = volt_cuda_blocks(rows);
    switch (dtype) {
    case VOLT_CUDA_F32:
        scatter_rows_kernel<float>
            <<<b, VOLT_CUDA_THREADS, 0, s>>>((float *)out, index, (const float *)g, rows, n, inner);
        break;
    case VOLT_CUDA_F64:
        scatter_rows_kernel<double><<<b, VOLT_CUDA_THREADS, 0, s>>>(
            (double *)out, index, (const double *)g, rows, n, inner);
        break;
    case VOLT_CUDA_BF16:
        scatter_rows_kernel<__nv_bfloat16><<<b, VOLT_CUDA_THREADS, 0, s>>>(
            (__nv_bfloat16 *)out, index, (const __nv_bfloat16 *)g, rows, n, inner);
        break;
    case VOLT_CUDA_F16:
        scatter_rows_kernel<__half><<<b, VOLT_CUDA_THREADS, 0, s>>>(
            (__half *)out, index, (const __half *)g, rows, n, inner);
        break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}
