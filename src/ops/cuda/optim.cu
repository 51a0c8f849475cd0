/* optim.cu: the multi-tensor kernels of the optimizers (SGD, Adam, AdamW,
 * RMSprop, Adagrad, Lion) and of gradient clipping (norm, scale, clamp):
 * one launch over a list of tensors (optim_kernels.h). Each element follows
 * src/optim/cpu_update.c operation by operation with correctly rounded
 * operations and no fused multiply-adds (__fmul_rn, ...), so an update
 * equals the CPU's bit for bit; bf16 tensors compute in f32 and round once
 * per stored value, as the CPU's bf16 path does, and so do f16 ones
 * (precision "16-true"; the CPU has no f16 update), and a compensated
 * 16-bit parameter starts from p + c and keeps its rounding remainder in c
 * as the CPU's does. Contiguous chunks take
 * 16-byte vector loads when every pointer of the tensor is aligned. */
#include <cuda_runtime.h>

#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/elementwise.cuh"
#include "ops/cuda/optim_kernels.h"

#define OPTIM_THREADS 256

/* ------------------------------------------------ correctly rounded ops */

__device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float sub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float dv(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ float sq(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double sub(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double dv(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ double sq(double a) { return __dsqrt_rn(a); }

/* ------------------------------------------------- block -> tensor map */

/* The index of the tensor whose blocks hold this block (first_block is
 * non-decreasing), found by thread 0 and shared. */
template <typename D> __device__ __forceinline__ int find_tensor(const D *ts, int n) {
    __shared__ int which;
    if (threadIdx.x == 0) {
        int lo = 0, hi = n - 1;
        int64_t b = blockIdx.x;
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (ts[mid].first_block <= b)
                lo = mid;
            else
                hi = mid - 1;
        }
        which = lo;
    }
    __syncthreads();
    return which;
}

/* Sixteen bytes of T. */
template <typename T> struct alignas(16) pack { T v[16 / sizeof(T)]; };

/* ---------------------------------------------------------- optimizers */

/* The hyperparameters in the compute type A. */
template <typename A> struct coef {
    A neg_lr, mom, keep, wd, b1, one_b1, b2, one_b2, decay, eps, alpha, one_alpha, c0, c1;
    bool use_wd, use_mom, nesterov, maximize, amsgrad, centered, l2, decoupled, fresh;
};

template <typename A>
__device__ coef<A> make_coef(const volt_cuda_optim_hparams &h, const volt_cuda_optim_tensor &t) {
    coef<A> c;
    c.neg_lr = (A)h.neg_lr, c.mom = (A)h.momentum, c.keep = (A)h.keep, c.wd = (A)h.weight_decay;
    c.b1 = (A)h.beta1, c.one_b1 = (A)h.one_beta1, c.b2 = (A)h.beta2, c.one_b2 = (A)h.one_beta2;
    c.decay = (A)h.decay, c.eps = (A)h.eps, c.alpha = (A)h.alpha, c.one_alpha = (A)h.one_alpha;
    c.c0 = (A)t.c0, c.c1 = (A)t.c1;
    c.use_wd = h.use_wd, c.use_mom = h.use_mom, c.nesterov = h.nesterov, c.maximize = h.maximize;
    c.amsgrad = h.amsgrad, c.centered = h.centered, c.l2 = h.l2, c.decoupled = h.decoupled;
    c.fresh = t.fresh;
    return c;
}

/* One element: p, its gradient g and slots s0..s2 (unused ones ignored). */
template <int KIND, typename A>
__device__ __forceinline__ void update(A &p, A g, A &s0, A &s1, A &s2, const coef<A> &c) {
    A gi = c.maximize ? -g : g;
    if (KIND == VOLT_CUDA_OPTIM_SGD) {
        if (c.use_wd) gi = add(gi, mul(c.wd, p));
        if (c.use_mom) {
            A b = c.fresh ? gi : add(mul(s0, c.mom), mul(c.keep, gi));
            s0 = b;
            gi = c.nesterov ? add(gi, mul(c.mom, b)) : b;
        }
        p = add(p, mul(c.neg_lr, gi));
    } else if (KIND == VOLT_CUDA_OPTIM_ADAM || KIND == VOLT_CUDA_OPTIM_ADAMW) {
        A pi = p;
        if (c.decoupled)
            pi = mul(pi, c.decay);
        else if (c.l2)
            gi = add(gi, mul(c.wd, pi));
        A m = add(mul(s0, c.b1), mul(c.one_b1, gi));
        A v = add(mul(s1, c.b2), mul(mul(c.one_b2, gi), gi));
        s0 = m;
        s1 = v;
        if (c.amsgrad) {
            A mx = (isnan(v) || v > s2) ? v : s2;
            s2 = mx;
            v = mx;
        }
        A den = add(dv(sq(v), c.c1), c.eps);
        p = add(pi, dv(mul(c.c0, m), den));
    } else if (KIND == VOLT_CUDA_OPTIM_RMSPROP) { /* s0 square_avg, s1 momentum, s2 grad_avg */
        if (c.use_wd) gi = add(gi, mul(c.wd, p));
        A s = add(mul(s0, c.alpha), mul(mul(c.one_alpha, gi), gi));
        s0 = s;
        A avg;
        if (c.centered) {
            A a = add(mul(s2, c.alpha), mul(c.one_alpha, gi));
            s2 = a;
            avg = sq(sub(s, mul(a, a)));
        } else {
            avg = sq(s);
        }
        avg = add(avg, c.eps);
        if (c.use_mom) {
            A b = add(mul(s1, c.mom), dv(gi, avg));
            s1 = b;
            p = add(p, mul(c.neg_lr, b));
        } else {
            p = add(p, dv(mul(c.neg_lr, gi), avg));
        }
    } else if (KIND == VOLT_CUDA_OPTIM_ADAGRAD) {
        if (c.use_wd) gi = add(gi, mul(c.wd, p));
        A s = add(s0, mul(gi, gi));
        s0 = s;
        p = add(p, dv(mul(c.c0, gi), add(sq(s), c.eps)));
    } else { /* Lion */
        A m = add(mul(s0, c.b1), mul(c.one_b1, gi));
        A sign = (A)(m > (A)0) - (A)(m < (A)0);
        p = add(mul(p, c.decay), mul(c.neg_lr, sign));
        s0 = add(mul(s0, c.b2), mul(c.one_b2, gi));
    }
}

/* Stores the updated value q as the parameter *p and, with a compensation
 * *cp, what the rounding dropped. */
template <typename T, typename A>
__device__ __forceinline__ void store_param(T *p, T *cp, A q) {
    typedef volt_cuda_type<T> io;
    T r = io::store(q);
    *p = r;
    if (cp) *cp = io::store(sub(q, io::load(r)));
}

/* Element i of p, g, the slots (present ones) and the compensation cp
 * (when present), updated in place. */
template <int KIND, typename T, typename A>
__device__ __forceinline__ void update_at(T *p, const T *g, T *s0, T *s1, T *s2, T *cp, int i,
                                          const coef<A> &c) {
    typedef volt_cuda_type<T> io;
    A pv = io::load(p[i]), a0 = 0, a1 = 0, a2 = 0;
    if (cp) pv = add(pv, io::load(cp[i]));
    if (s0) a0 = io::load(s0[i]);
    if (s1) a1 = io::load(s1[i]);
    if (s2) a2 = io::load(s2[i]);
    update<KIND, A>(pv, io::load(g[i]), a0, a1, a2, c);
    store_param<T, A>(p + i, cp ? cp + i : nullptr, pv);
    if (s0) s0[i] = io::store(a0);
    if (s1) s1[i] = io::store(a1);
    if (s2) s2[i] = io::store(a2);
}

/* Elements [i, i + V) as 16-byte packs. */
template <int KIND, typename T, typename A>
__device__ __forceinline__ void update_pack(T *p, const T *g, T *s0, T *s1, T *s2, T *cp, int i,
                                            const coef<A> &c) {
    typedef volt_cuda_type<T> io;
    const int V = 16 / sizeof(T);
    pack<T> P = *(const pack<T> *)(p + i), G = *(const pack<T> *)(g + i), S0 = P, S1 = P, S2 = P;
    pack<T> C = P;
    if (cp) C = *(const pack<T> *)(cp + i);
    if (s0) S0 = *(const pack<T> *)(s0 + i);
    if (s1) S1 = *(const pack<T> *)(s1 + i);
    if (s2) S2 = *(const pack<T> *)(s2 + i);
#pragma unroll
    for (int k = 0; k < V; k++) {
        A pv = io::load(P.v[k]), a0 = s0 ? io::load(S0.v[k]) : (A)0;
        A a1 = s1 ? io::load(S1.v[k]) : (A)0, a2 = s2 ? io::load(S2.v[k]) : (A)0;
        if (cp) pv = add(pv, io::load(C.v[k]));
        update<KIND, A>(pv, io::load(G.v[k]), a0, a1, a2, c);
        store_param<T, A>(&P.v[k], cp ? &C.v[k] : nullptr, pv);
        if (s0) S0.v[k] = io::store(a0);
        if (s1) S1.v[k] = io::store(a1);
        if (s2) S2.v[k] = io::store(a2);
    }
    *(pack<T> *)(p + i) = P;
    if (cp) *(pack<T> *)(cp + i) = C;
    if (s0) *(pack<T> *)(s0 + i) = S0;
    if (s1) *(pack<T> *)(s1 + i) = S1;
    if (s2) *(pack<T> *)(s2 + i) = S2;
}

template <int KIND, typename T>
__global__ void __launch_bounds__(OPTIM_THREADS)
    optim_kernel(const volt_cuda_optim_tensor *ts, int n_tensors, volt_cuda_optim_hparams h) {
    typedef typename volt_cuda_type<T>::acc A;
    const volt_cuda_optim_tensor &t = ts[find_tensor(ts, n_tensors)];
    int64_t start = ((int64_t)blockIdx.x - t.first_block) * VOLT_CUDA_OPTIM_CHUNK;
    int64_t left = t.n - start;
    int len = left < VOLT_CUDA_OPTIM_CHUNK ? (int)left : VOLT_CUDA_OPTIM_CHUNK;
    coef<A> c = make_coef<A>(h, t);
    T *p = (T *)t.param + start, *s0 = (T *)t.slot[0], *s1 = (T *)t.slot[1], *s2 = (T *)t.slot[2];
    T *cp = (T *)t.comp;
    const T *g = (const T *)t.grad + start;
    if (cp) cp += start;
    if (s0) s0 += start;
    if (s1) s1 += start;
    if (s2) s2 += start;
    int i = 0;
    if (t.vec) {
        const int V = 16 / sizeof(T);
        int whole = len / V * V;
        for (i = threadIdx.x * V; i < whole; i += OPTIM_THREADS * V)
            update_pack<KIND, T, A>(p, g, s0, s1, s2, cp, i, c);
        i = whole;
    }
    for (i += threadIdx.x; i < len; i += OPTIM_THREADS)
        update_at<KIND, T, A>(p, g, s0, s1, s2, cp, i, c);
}

template <typename T>
static int launch_optim(const volt_cuda_optim_hparams *h, const volt_cuda_optim_tensor *ts, int n,
                        unsigned blocks, cudaStream_t s) {
    switch (h->kind) {
    case VOLT_CUDA_OPTIM_SGD:
        optim_kernel<VOLT_CUDA_OPTIM_SGD, T><<<blocks, OPTIM_THREADS, 0, s>>>(ts, n, *h);
        break;
    case VOLT_CUDA_OPTIM_ADAM:
    case VOLT_CUDA_OPTIM_ADAMW:
        optim_kernel<VOLT_CUDA_OPTIM_ADAM, T><<<blocks, OPTIM_THREADS, 0, s>>>(ts, n, *h);
        break;
    case VOLT_CUDA_OPTIM_RMSPROP:
        optim_kernel<VOLT_CUDA_OPTIM_RMSPROP, T><<<blocks, OPTIM_THREADS, 0, s>>>(ts, n, *h);
        break;
    case VOLT_CUDA_OPTIM_ADAGRAD:
        optim_kernel<VOLT_CUDA_OPTIM_ADAGRAD, T><<<blocks, OPTIM_THREADS, 0, s>>>(ts, n, *h);
        break;
    case VOLT_CUDA_OPTIM_LION:
        optim_kernel<VOLT_CUDA_OPTIM_LION, T><<<blocks, OPTIM_THREADS, 0, s>>>(ts, n, *h);
        break;
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_optim(const volt_cuda_optim_hparams *hp,
                                      const volt_cuda_optim_tensor *tensors, int n_tensors,
                                      int64_t n_blocks, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n_tensors <= 0 || n_blocks <= 0) return (int)cudaSuccess;
    if (n_blocks > 0x7fffffff) return (int)cudaErrorInvalidValue;
    unsigned blocks = (unsigned)n_blocks;
    switch (hp->dtype) {
    case VOLT_CUDA_F32: return launch_optim<float>(hp, tensors, n_tensors, blocks, s);
    case VOLT_CUDA_F64: return launch_optim<double>(hp, tensors, n_tensors, blocks, s);
    case VOLT_CUDA_BF16: return launch_optim<__nv_bfloat16>(hp, tensors, n_tensors, blocks, s);
    case VOLT_CUDA_F16: return launch_optim<__half>(hp, tensors, n_tensors, blocks, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* -------------------------------------------------------------- norms */

/* Combines two partial accumulations of `mode`. */
__device__ __forceinline__ double combine(double a, double b, int mode) {
    if (mode != VOLT_CUDA_NORM_INF) return a + b;
    if (isnan(a)) return a;
    if (isnan(b)) return b;
    return a > b ? a : b;
}

__device__ __forceinline__ double term(double x, int mode, double p) {
    double a = fabs(x);
    switch (mode) {
    case VOLT_CUDA_NORM_1:
    case VOLT_CUDA_NORM_INF: return a;
    case VOLT_CUDA_NORM_2: return a * a;
    default: return pow(a, p);
    }
}

/* The block's combination of every thread's v (a fixed tree: warp
 * shuffles, then the warps' results in order); valid in thread 0. */
__device__ double block_combine(double v, int mode) {
    __shared__ double warps[OPTIM_THREADS / 32];
    for (int off = 16; off > 0; off /= 2)
        v = combine(v, __shfl_down_sync(0xffffffffu, v, off), mode);
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) warps[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < OPTIM_THREADS / 32 ? warps[lane] : 0.0;
        for (int off = 16; off > 0; off /= 2)
            v = combine(v, __shfl_down_sync(0xffffffffu, v, off), mode);
    }
    return v;
}

template <typename T>
__device__ double accumulate(const T *x, int len, bool vec, int mode, double p) {
    typedef volt_cuda_type<T> io;
    double acc = 0;
    int i = 0;
    if (vec) {
        const int V = 16 / sizeof(T);
        int whole = len / V * V;
        for (i = threadIdx.x * V; i < whole; i += OPTIM_THREADS * V) {
            pack<T> P = *(const pack<T> *)(x + i);
#pragma unroll
            for (int k = 0; k < V; k++)
                acc = combine(acc, term((double)io::load(P.v[k]), mode, p), mode);
        }
        i = whole;
    }
    for (i += threadIdx.x; i < len; i += OPTIM_THREADS)
        acc = combine(acc, term((double)io::load(x[i]), mode, p), mode);
    return acc;
}

__global__ void __launch_bounds__(OPTIM_THREADS)
    norm_partial_kernel(const volt_cuda_mt_tensor *ts, int n_tensors, int mode, double p,
                        double *partials) {
    const volt_cuda_mt_tensor &t = ts[find_tensor(ts, n_tensors)];
    int64_t start = ((int64_t)blockIdx.x - t.first_block) * VOLT_CUDA_OPTIM_CHUNK;
    int64_t left = t.n - start;
    int len = left < VOLT_CUDA_OPTIM_CHUNK ? (int)left : VOLT_CUDA_OPTIM_CHUNK;
    double acc;
    if (t.dtype == VOLT_CUDA_F32)
        acc = accumulate((const float *)t.data + start, len, t.vec, mode, p);
    else if (t.dtype == VOLT_CUDA_F64)
        acc = accumulate((const double *)t.data + start, len, t.vec, mode, p);
    else if (t.dtype == VOLT_CUDA_BF16)
        acc = accumulate((const __nv_bfloat16 *)t.data + start, len, t.vec, mode, p);
    else
        acc = accumulate((const __half *)t.data + start, len, t.vec, mode, p);
    acc = block_combine(acc, mode);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(OPTIM_THREADS)
    norm_final_kernel(const double *partials, int64_t n, int mode, double *out) {
    double acc = 0;
    for (int64_t i = threadIdx.x; i < n; i += OPTIM_THREADS) acc = combine(acc, partials[i], mode);
    acc = block_combine(acc, mode);
    if (threadIdx.x == 0) *out = acc;
}

extern "C" int volt_cuda_launch_norm(const volt_cuda_mt_tensor *tensors, int n_tensors,
                                     int64_t n_blocks, int mode, double p, double *partials,
                                     double *out, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (n_blocks > 0x7fffffff) return (int)cudaErrorInvalidValue;
    if (n_tensors > 0 && n_blocks > 0)
        norm_partial_kernel<<<(unsigned)n_blocks, OPTIM_THREADS, 0, s>>>(tensors, n_tensors, mode,
                                                                         p, partials);
    norm_final_kernel<<<1, OPTIM_THREADS, 0, s>>>(partials, n_tensors > 0 ? n_blocks : 0, mode,
                                                  out);
    return (int)cudaGetLastError();
}

/* ------------------------------------------------------- scale, clamp */

/* x = x * a (CLAMP false) or clamp(x, a, b) in T's compute type. */
template <bool CLAMP, typename A> __device__ __forceinline__ A pointwise(A x, A a, A b) {
    if (!CLAMP) return mul(x, a);
    A v = x < a ? a : x; /* NaN passes through */
    return v > b ? b : v;
}

template <bool CLAMP, typename T>
__device__ void pointwise_span(T *x, int len, bool vec, double a, double b) {
    typedef volt_cuda_type<T> io;
    typedef typename io::acc A;
    A aa = (A)a, bb = (A)b;
    int i = 0;
    if (vec) {
        const int V = 16 / sizeof(T);
        int whole = len / V * V;
        for (i = threadIdx.x * V; i < whole; i += OPTIM_THREADS * V) {
            pack<T> P = *(const pack<T> *)(x + i);
#pragma unroll
            for (int k = 0; k < V; k++)
                P.v[k] = io::store(pointwise<CLAMP, A>(io::load(P.v[k]), aa, bb));
            *(pack<T> *)(x + i) = P;
        }
        i = whole;
    }
    for (i += threadIdx.x; i < len; i += OPTIM_THREADS)
        x[i] = io::store(pointwise<CLAMP, A>(io::load(x[i]), aa, bb));
}

template <bool CLAMP>
__global__ void __launch_bounds__(OPTIM_THREADS)
    pointwise_kernel(const volt_cuda_mt_tensor *ts, int n_tensors, double a, double b) {
    const volt_cuda_mt_tensor &t = ts[find_tensor(ts, n_tensors)];
    int64_t start = ((int64_t)blockIdx.x - t.first_block) * VOLT_CUDA_OPTIM_CHUNK;
    int64_t left = t.n - start;
    int len = left < VOLT_CUDA_OPTIM_CHUNK ? (int)left : VOLT_CUDA_OPTIM_CHUNK;
    if (t.dtype == VOLT_CUDA_F32)
        pointwise_span<CLAMP>((float *)t.data + start, len, t.vec, a, b);
    else if (t.dtype == VOLT_CUDA_F64)
        pointwise_span<CLAMP>((double *)t.data + start, len, t.vec, a, b);
    else if (t.dtype == VOLT_CUDA_BF16)
        pointwise_span<CLAMP>((__nv_bfloat16 *)t.data + start, len, t.vec, a, b);
    else
        pointwise_span<CLAMP>((__half *)t.data + start, len, t.vec, a, b);
}

extern "C" int volt_cuda_launch_scale(const volt_cuda_mt_tensor *tensors, int n_tensors,
                                      int64_t n_blocks, double scale, void *stream) {
    if (n_tensors <= 0 || n_blocks <= 0) return (int)cudaSuccess;
    if (n_blocks > 0x7fffffff) return (int)cudaErrorInvalidValue;
    pointwise_kernel<false><<<(unsigned)n_blocks, OPTIM_THREADS, 0, (cudaStream_t)stream>>>(
        tensors, n_tensors, scale, 0.0);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_clamp(const volt_cuda_mt_tensor *tensors, int n_tensors,
                                      int64_t n_blocks, double lo, double hi, void *stream) {
    if (n_tensors <= 0 || n_blocks <= 0) return (int)cudaSuccess;
    if (n_blocks > 0x7fffffff) return (int)cudaErrorInvalidValue;
    pointwise_kernel<true><<<(unsigned)n_blocks, OPTIM_THREADS, 0, (cudaStream_t)stream>>>(
        tensors, n_tensors, lo, hi);
    return (int)cudaGetLastError();
}
