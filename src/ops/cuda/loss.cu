/* loss.cu: the fused cross-entropy / NLL kernels (nn_kernels.h): one pass
 * per class row for its logsumexp (online max) and one for the loss with
 * label smoothing and class weights; the mean over rows by one block; the
 * backward from the saved logsumexp, one block per class row (or, for
 * classes along an inner dim, one elementwise kernel). Logits and their
 * gradient are of type T; the losses, logsumexps, class weights and the
 * loss's gradient of type S: T itself, or f32 for 16-bit logits under
 * autocast. */
#include <cuda_runtime.h>
#include <math.h>

#include "ops/cuda/nn_kernels.h"
#include "ops/cuda/nn_rows.cuh"

template <typename A> __device__ __forceinline__ volt_ms<A> ms_merge(volt_ms<A> a, volt_ms<A> b) {
    A m = fmax(a.m, b.m);
    A sa = a.m == (A)-INFINITY ? (A)0 : a.s * exp(a.m - m);
    A sb = b.m == (A)-INFINITY ? (A)0 : b.s * exp(b.m - m);
    if (a.m != a.m || b.m != b.m) sa = a.m + b.m;
    return volt_ms<A>{m, sa + sb};
}

template <typename T, typename A> __device__ __forceinline__ A weight_of(const void *w, int64_t c) {
    return w ? (A)volt_cuda_type<T>::load(((const T *)w)[c]) : (A)1;
}

template <int G, typename T, typename S>
__global__ void class_loss_kernel(const T *x, volt_cuda_class_args a, S *loss, S *lse, S *wrow,
                                  int64_t rows, int64_t n, int64_t inner) {
    typedef typename volt_cuda_type<T>::acc A;
    typedef volt_cuda_type<T> L;
    typedef volt_cuda_type<S> LS;
    volt_for_rows<G>(rows, [&](int64_t r, int lane) {
        volt_row w = inner == 1 ? volt_row{r * a.ld, 1} : volt_row_at(r, n, inner);
        A l = 0;
        if (a.from_logits) {
            volt_ms<A> ms{(A)-INFINITY, (A)0};
            VOLT_ROW_FOR(k, lane, n, G)
            ms = ms_merge(ms, volt_ms<A>{(A)L::load(x[w.base + k * w.stride]), (A)1});
            ms =
                volt_group_reduce<G>(ms, [](volt_ms<A> p, volt_ms<A> q) { return ms_merge(p, q); });
            l = ms.m + log(ms.s);
        }
        A smooth = 0;
        if (a.smoothing > 0) {
            VOLT_ROW_FOR(k, lane, n, G)
            smooth += weight_of<S, A>(a.weight, k) * (l - (A)L::load(x[w.base + k * w.stride]));
            smooth = volt_group_reduce<G>(smooth, [](A p, A q) { return p + q; });
        }
        if (lane != 0) return;
        int64_t t = a.target[r];
        A value, wt = 0;
        if (t == a.ignore_index) {
            value = 0;
        } else if (t < 0 || t >= n) {
            value = (A)NAN;
        } else {
            wt = weight_of<S, A>(a.weight, t);
            A eps = (A)a.smoothing;
            value = ((A)1 - eps) * wt * (l - (A)L::load(x[w.base + t * w.stride])) +
                    eps / (A)n * smooth;
        }
        loss[r] = LS::store(value);
        wrow[r] = LS::store(wt);
        if (lse) lse[r] = LS::store(l);
    });
}

template <typename T>
__global__ void class_loss_total_kernel(T *out, T *denom, const T *loss, const T *wrow,
                                        int64_t rows, int mean) {
    typedef typename volt_cuda_type<T>::acc A;
    typedef volt_cuda_type<T> L;
    A s = 0, c = 0;
    for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
        s += (A)L::load(loss[r]);
        c += (A)L::load(wrow[r]);
    }
    s = volt_group_reduce<VOLT_ROW_BLOCK>(s, [](A p, A q) { return p + q; });
    c = volt_group_reduce<VOLT_ROW_BLOCK>(c, [](A p, A q) { return p + q; });
    if (threadIdx.x == 0) {
        A d = mean ? c : (A)1;
        out[0] = L::store(s / d);
        denom[0] = L::store(d);
    }
}

template <typename T, typename S>
__global__ void class_loss_backward_kernel(T *gx, const T *x, volt_cuda_class_args a, const S *lse,
                                           const S *g_rows, const S *g_scalar, const S *denom,
                                           int64_t n, int64_t inner, int64_t total) {
    typedef typename volt_cuda_type<T>::acc A;
    typedef volt_cuda_type<T> L;
    typedef volt_cuda_type<S> LS;
    A scale_all = 0;
    if (!g_rows) scale_all = (A)LS::load(g_scalar[0]) / (denom ? (A)LS::load(denom[0]) : (A)1);
    for (int64_t e = volt_cuda_thread_index(); e < total; e += volt_cuda_thread_stride()) {
        int64_t o = e / (n * inner), j = (e / inner) % n, r = o * inner + e % inner;
        int64_t t = a.target[r];
        if (t == a.ignore_index || t < 0 || t >= n) {
            gx[e] = L::store(t == a.ignore_index ? (A)0 : (A)NAN);
            continue;
        }
        A scale = g_rows ? (A)LS::load(g_rows[r]) : scale_all;
        A eps = (A)a.smoothing, wt = weight_of<S, A>(a.weight, t),
          wj = weight_of<S, A>(a.weight, j);
        A hit = j == t ? (A)1 : (A)0, v;
        if (a.from_logits) {
            A p = exp((A)L::load(x[inner == 1 ? o * a.ld + j : e]) - (A)LS::load(lse[r]));
            A wsum = 0; /* sum of the weights, for the smoothing term */
            if (eps > 0) {
                if (a.weight)
                    for (int64_t c = 0; c < n; c++) wsum += weight_of<S, A>(a.weight, c);
                else
                    wsum = (A)n;
            }
            v = ((A)1 - eps) * wt * (p - hit) + (eps > 0 ? eps / (A)n * (wsum * p - wj) : (A)0);
        } else {
            v = -((A)1 - eps) * wt * hit - eps / (A)n * wj;
        }
        gx[e] = L::store(scale * v);
    }
}

/* The backward for one class row per block (inner == 1, no smoothing with
 * class weights): the elementwise kernel's value without its per-element
 * index division, the row's target, scale and logsumexp read once. */
template <typename T, typename S>
__global__ void class_loss_backward_rows_kernel(T *gx, const T *x, volt_cuda_class_args a,
                                                const S *lse, const S *g_rows, const S *g_scalar,
                                                const S *denom, int64_t n, int64_t rows) {
    typedef typename volt_cuda_type<T>::acc A;
    typedef volt_cuda_type<T> L;
    typedef volt_cuda_type<S> LS;
    A scale_all = 0;
    if (!g_rows) scale_all = (A)LS::load(g_scalar[0]) / (denom ? (A)LS::load(denom[0]) : (A)1);
    A eps = (A)a.smoothing, keep = (A)1 - eps, spread = eps / (A)n;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        int64_t t = a.target[r];
        T *gr = gx + r * n;
        const T *xr = x + r * a.ld;
        if (t == a.ignore_index || t < 0 || t >= n) {
            T fill = L::store(t == a.ignore_index ? (A)0 : (A)NAN);
            for (int64_t j = threadIdx.x; j < n; j += blockDim.x) gr[j] = fill;
            continue;
        }
        A scale = g_rows ? (A)LS::load(g_rows[r]) : scale_all;
        A wt = weight_of<S, A>(a.weight, t), l = a.from_logits ? (A)LS::load(lse[r]) : (A)0;
        /* U loads in flight per thread before their uses (against 1 they took
         * 2.44 -> 2.18 ms at 8192 x 50257 on the H100; still about half the
         * bandwidth of the elementwise kernels, for reasons not found) */
        constexpr int U = 4;
        for (int64_t j0 = threadIdx.x; j0 < n; j0 += U * (int64_t)blockDim.x) {
            A xv[U];
#pragma unroll
            for (int u = 0; u < U; u++) {
                int64_t j = j0 + u * (int64_t)blockDim.x;
                xv[u] = a.from_logits && j < n ? (A)L::load(xr[j]) : (A)0;
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                int64_t j = j0 + u * (int64_t)blockDim.x;
                if (j >= n) break;
                A hit = j == t ? (A)1 : (A)0, v;
                if (a.from_logits) {
                    A p = exp(xv[u] - l);
                    v = keep * wt * (p - hit) + (eps > 0 ? spread * (p * (A)n - (A)1) : (A)0);
                } else {
                    v = -keep * wt * hit - spread * weight_of<S, A>(a.weight, j);
                }
                gr[j] = L::store(scale * v);
            }
        }
    }
}

template <typename T, typename S>
static int class_loss_typed(const void *x, volt_cuda_class_args a, void *loss, void *lse,
                            void *wrow, int64_t outer, int64_t n, int64_t inner, cudaStream_t s) {
    int64_t rows = outer * inner;
    int G = volt_row_group(n, inner);
    unsigned b = volt_row_blocks(rows, G);
    const T *xx = (const T *)x;
    S *l = (S *)loss, *ls = (S *)lse, *w = (S *)wrow;
    if (G == 1)
        class_loss_kernel<1, T, S><<<b, VOLT_ROW_BLOCK, 0, s>>>(xx, a, l, ls, w, rows, n, inner);
    else if (G == 32)
        class_loss_kernel<32, T, S><<<b, VOLT_ROW_BLOCK, 0, s>>>(xx, a, l, ls, w, rows, n, inner);
    else
        class_loss_kernel<VOLT_ROW_BLOCK, T, S>
            <<<b, VOLT_ROW_BLOCK, 0, s>>>(xx, a, l, ls, w, rows, n, inner);
    return (int)cudaGetLastError();
}

#define VOLT_DTYPE_SWITCH(dtype, ...)                                                              \
    switch (dtype) {                                                                               \
    case VOLT_CUDA_F32: {                                                                          \
        typedef float T;                                                                           \
        __VA_ARGS__;                                                                               \
    } break;                                                                                       \
    case VOLT_CUDA_F64: {                                                                          \
        typedef double T;                                                                          \
        __VA_ARGS__;                                                                               \
    } break;                                                                                       \
    case VOLT_CUDA_BF16: {                                                                         \
        typedef __nv_bfloat16 T;                                                                   \
        __VA_ARGS__;                                                                               \
    } break;                                                                                       \
    case VOLT_CUDA_F16: {                                                                          \
        typedef __half T;                                                                          \
        __VA_ARGS__;                                                                               \
    } break;                                                                                       \
    default: return (int)cudaErrorInvalidValue;                                                    \
    }

/* The pairs (T, S) the kernels take: (T, T) for each dtype, and 16-bit
 * logits with f32 losses (autocast). */
#define VOLT_PAIR_SWITCH(dtype, loss_dtype, ...)                                                   \
    if ((loss_dtype) == (dtype)) {                                                                 \
        VOLT_DTYPE_SWITCH(dtype, typedef T S; __VA_ARGS__)                                         \
    } else if ((loss_dtype) == VOLT_CUDA_F32 && (dtype) == VOLT_CUDA_BF16) {                       \
        typedef __nv_bfloat16 T;                                                                   \
        typedef float S;                                                                           \
        __VA_ARGS__;                                                                               \
    } else if ((loss_dtype) == VOLT_CUDA_F32 && (dtype) == VOLT_CUDA_F16) {                        \
        typedef __half T;                                                                          \
        typedef float S;                                                                           \
        __VA_ARGS__;                                                                               \
    } else {                                                                                       \
        return (int)cudaErrorInvalidValue;                                                         \
    }

extern "C" int volt_cuda_launch_class_loss(int dtype, int loss_dtype, const void *x,
                                           volt_cuda_class_args a, void *loss, void *lse,
                                           void *wrow, int64_t outer, int64_t n, int64_t inner,
                                           void *stream) {
    if (outer * inner == 0) return (int)cudaSuccess;
    VOLT_PAIR_SWITCH(
        dtype, loss_dtype,
        return class_loss_typed<T, S>(x, a, loss, lse, wrow, outer, n, inner, (cudaStream_t)stream))
    return (int)cudaErrorInvalidValue;
}

extern "C" int volt_cuda_launch_class_loss_total(int dtype, void *out, void *denom,
                                                 const void *loss, const void *wrow, int64_t rows,
                                                 int mean, void *stream) {
    VOLT_DTYPE_SWITCH(dtype,
                      class_loss_total_kernel<T><<<1, VOLT_ROW_BLOCK, 0, (cudaStream_t)stream>>>(
                          (T *)out, (T *)denom, (const T *)loss, (const T *)wrow, rows, mean))
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_class_loss_backward(int dtype, int loss_dtype, void *gx,
                                                    const void *x, volt_cuda_class_args a,
                                                    const void *lse, const void *g_rows,
                                                    const void *g_scalar, const void *denom,
                                                    int64_t outer, int64_t n, int64_t inner,
                                                    void *stream) {
    int64_t total = outer * n * inner;
    if (total == 0) return (int)cudaSuccess;
    if (inner == 1 && !(a.smoothing > 0 && a.weight)) {
        unsigned rb = (unsigned)(outer < 65536 ? outer : 65536);
        VOLT_PAIR_SWITCH(dtype, loss_dtype,
                         class_loss_backward_rows_kernel<T, S>
                         <<<rb, VOLT_CUDA_THREADS, 0, (cudaStream_t)stream>>>(
                             (T *)gx, (const T *)x, a, (const S *)lse, (const S *)g_rows,
                             (const S *)g_scalar, (const S *)denom, n, outer))
        return (int)cudaGetLastError();
    }
    unsigned b = volt_cuda_blocks(total);
    VOLT_PAIR_SWITCH(dtype, loss_dtype,
                     class_loss_backward_kernel<T, S>
                     <<<b, VOLT_CUDA_THREADS, 0, (cudaStream_t)stream>>>(
                         (T *)gx, (const T *)x, a, (const S *)lse, (const S *)g_rows,
                         (const S *)g_scalar, (const S *)denom, n, inner, total))
    return (int)cudaGetLastError();
}
