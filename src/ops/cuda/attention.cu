/* attention.cu: fused scaled dot-product attention on CUDA, flash-attention
 * style (gemm_kernels.h): the forward streams tiles of 64 keys and values
 * through shared memory past a block of 64 queries, keeping each query's
 * running max, sum and output in registers (online softmax in f32, exp2 of
 * pre-scaled scores), so no [T, S] matrix exists; it saves each row's
 * log-sum-exp. The backward gives each block a tile of 64 keys, recomputes
 * the probabilities of every query tile that sees them from the saved
 * log-sum-exp, accumulates dK and dV in registers, and adds dQ into an f32
 * buffer with atomics (so dQ's last bits may vary run to run). Element
 * types f32, bf16, f16, read into f32 tiles; head dims up to 128 (the tiles
 * are compiled for 32, 64 and 128 and padded with zeros). The products are
 * f32 FMAs from shared memory. bf16 and f16 at head dims 64 and 128 go to
 * the tensor-core kernels of attention_tc.cu instead (both directions). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#include "ops/cuda/attention_tc.cuh"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/gemm_kernels.h"
#include "ops/cuda/elementwise.cuh"

#define THREADS 256
#define FWD_BQ 64
#define FWD_BK 64
#define BWD_BQ 32
#define BWD_BK 64
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

/* Loads rows [row0, row0 + rows) of a [n, hd] matrix into a [rows, HD + 1]
 * f32 tile, times mul; zeros past n and hd. */
template <typename T, int HD>
__device__ __forceinline__ void load_tile(float *tile, const T *src, int64_t row0, int rows,
                                          int64_t n, int hd, float mul) {
    for (int e = threadIdx.x; e < rows * HD; e += THREADS) {
        int r = e / HD, d = e % HD;
        float x = 0.f;
        if (row0 + r < n && d < hd) x = volt_cuda_type<T>::load(src[(row0 + r) * hd + d]) * mul;
        tile[r * (HD + 1) + d] = x;
    }
}

/* The max and sum over the 16 lanes that share a row (lanes 16 apart hold
 * other rows). */
__device__ __forceinline__ float row_max16(float v) {
    for (int o = 8; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float row_sum16(float v) {
    for (int o = 8; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* ------------------------------------------------------------- forward */

/* Thread t holds query rows t / 16 + 16 i (i < 4) and, of each, key
 * columns t % 16 + 16 j (j < 4) of the score tile and output columns
 * t % 16 + 16 c (c < HD / 16). */
template <typename T, int HD>
__global__ void __launch_bounds__(THREADS)
    flash_forward_kernel(const T *q, const T *k, const T *v, T *o, float *lse, int64_t nt,
                         int64_t ns, int hd, int causal, float scale_log2) {
    extern __shared__ float smem[];
    const int LD = HD + 1, PL = FWD_BK + 1, NC = HD / 16;
    float *qs = smem, *ks = qs + FWD_BQ * LD, *vs = ks + FWD_BK * LD, *ps = vs + FWD_BK * LD;
    int64_t bh = blockIdx.x, q0 = (int64_t)blockIdx.y * FWD_BQ;
    const T *qb = q + bh * nt * hd, *kb = k + bh * ns * hd, *vb = v + bh * ns * hd;
    int tr = threadIdx.x / 16, tc = threadIdx.x % 16;
    load_tile<T, HD>(qs, qb, q0, FWD_BQ, nt, hd, scale_log2);
    float acc[4][NC], m[4], l[4];
    for (int i = 0; i < 4; i++) {
        m[i] = -INFINITY, l[i] = 0.f;
        for (int c = 0; c < NC; c++) acc[i][c] = 0.f;
    }
    int64_t kv_end = causal ? min(ns, q0 + FWD_BQ) : ns;
    for (int64_t kv0 = 0; kv0 < kv_end; kv0 += FWD_BK) {
        __syncthreads(); /* the previous tile is no longer read */
        load_tile<T, HD>(ks, kb, kv0, FWD_BK, ns, hd, 1.f);
        load_tile<T, HD>(vs, vb, kv0, FWD_BK, ns, hd, 1.f);
        __syncthreads();
        float s[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) s[i][j] = 0.f;
        for (int d = 0; d < HD; d++) {
            float qv[4], kv[4];
            for (int i = 0; i < 4; i++) qv[i] = qs[(tr + 16 * i) * LD + d];
            for (int j = 0; j < 4; j++) kv[j] = ks[(tc + 16 * j) * LD + d];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) s[i][j] = fmaf(qv[i], kv[j], s[i][j]);
        }
        for (int i = 0; i < 4; i++) {
            int64_t query = q0 + tr + 16 * i;
            float mx = -INFINITY;
            for (int j = 0; j < 4; j++) {
                int64_t key = kv0 + tc + 16 * j;
                if (key >= ns || (causal && key > query)) s[i][j] = -INFINITY;
                mx = fmaxf(mx, s[i][j]);
            }
            float m_new = fmaxf(m[i], row_max16(mx));
            float m_use = m_new == -INFINITY ? 0.f : m_new;
            float alpha = exp2f(m[i] - m_use), sum = 0.f;
            for (int j = 0; j < 4; j++) {
                float p = exp2f(s[i][j] - m_use);
                sum += p;
                ps[(tr + 16 * i) * PL + tc + 16 * j] = p;
            }
            l[i] = l[i] * alpha + row_sum16(sum);
            m[i] = m_new;
            for (int c = 0; c < NC; c++) acc[i][c] *= alpha;
        }
        __syncthreads();
        for (int kk = 0; kk < FWD_BK; kk++) {
            float pv[4], vv[NC];
            for (int i = 0; i < 4; i++) pv[i] = ps[(tr + 16 * i) * PL + kk];
            for (int c = 0; c < NC; c++) vv[c] = vs[kk * LD + tc + 16 * c];
            for (int i = 0; i < 4; i++)
                for (int c = 0; c < NC; c++) acc[i][c] = fmaf(pv[i], vv[c], acc[i][c]);
        }
    }
    for (int i = 0; i < 4; i++) {
        int64_t query = q0 + tr + 16 * i;
        if (query >= nt) continue;
        float inv = l[i] > 0.f ? 1.f / l[i] : 0.f;
        for (int c = 0; c < NC; c++) {
            int d = tc + 16 * c;
            if (d < hd) o[(bh * nt + query) * hd + d] = volt_cuda_type<T>::store(acc[i][c] * inv);
        }
        if (tc == 0) lse[bh * nt + query] = l[i] > 0.f ? (m[i] + log2f(l[i])) * LN2 : -INFINITY;
    }
}

/* ------------------------------------------------------------ backward */

/* delta[r] = sum_d dout[r, d] * o[r, d] (one warp per row). */
template <typename T>
__global__ void flash_delta_kernel(const T *o, const T *dout, float *delta, int64_t rows, int hd) {
    int64_t r = (int64_t)blockIdx.x * (THREADS / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (r >= rows) return;
    float s = 0.f;
    for (int d = lane; d < hd; d += 32)
        s += volt_cuda_type<T>::load(o[r * hd + d]) * volt_cuda_type<T>::load(dout[r * hd + d]);
    for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) delta[r] = s;
}

template <typename T> __global__ void store_kernel(T *out, const float *in, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = volt_cuda_type<T>::store(in[i]);
}

/* Block: keys [kv0, kv0 + 64) of one (batch, head). Thread t holds, of each
 * query tile, score rows t / 16 + 16 i (i < 2) at key columns t % 16 + 16 j
 * (j < 4); dK and dV rows t / 16 + 16 i (i < 4) at columns t % 16 + 16 c;
 * dQ rows t / 16 + 16 i (i < 2) at columns t % 16 + 16 c. */
template <typename T, int HD>
__global__ void __launch_bounds__(THREADS)
    flash_backward_kernel(const T *q, const T *k, const T *v, const T *dout, const float *lse,
                          const float *delta, float *dq32, T *dk, T *dv, int64_t nt, int64_t ns,
                          int hd, int causal, float scale) {
    extern __shared__ float smem[];
    const int LD = HD + 1, PL = BWD_BK + 1, NC = HD / 16;
    float *ks = smem, *vs = ks + BWD_BK * LD, *qs = vs + BWD_BK * LD, *dos = qs + BWD_BQ * LD;
    float *ps = dos + BWD_BQ * LD, *dss = ps + BWD_BQ * PL, *ls = dss + BWD_BQ * PL;
    float *ds_row = ls + BWD_BQ;
    int64_t bh = blockIdx.x, kv0 = (int64_t)blockIdx.y * BWD_BK;
    const T *qb = q + bh * nt * hd, *kb = k + bh * ns * hd, *vb = v + bh * ns * hd;
    const T *dob = dout + bh * nt * hd;
    int tr = threadIdx.x / 16, tc = threadIdx.x % 16;
    load_tile<T, HD>(ks, kb, kv0, BWD_BK, ns, hd, 1.f);
    load_tile<T, HD>(vs, vb, kv0, BWD_BK, ns, hd, 1.f);
    float dk_acc[4][NC], dv_acc[4][NC];
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < NC; c++) dk_acc[i][c] = dv_acc[i][c] = 0.f;
    int64_t q_start = causal ? (kv0 / BWD_BQ) * BWD_BQ : 0;
    for (int64_t q0 = q_start; q0 < nt; q0 += BWD_BQ) {
        __syncthreads();
        load_tile<T, HD>(qs, qb, q0, BWD_BQ, nt, hd, 1.f);
        load_tile<T, HD>(dos, dob, q0, BWD_BQ, nt, hd, 1.f);
        for (int r = threadIdx.x; r < BWD_BQ; r += THREADS) {
            bool ok = q0 + r < nt;
            ls[r] = ok ? lse[bh * nt + q0 + r] : 0.f;
            ds_row[r] = ok ? delta[bh * nt + q0 + r] : 0.f;
        }
        __syncthreads();
        float s[2][4], dp[2][4];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++) s[i][j] = dp[i][j] = 0.f;
        for (int d = 0; d < HD; d++) {
            float qv[2], dov[2], kv[4], vv[4];
            for (int i = 0; i < 2; i++) {
                qv[i] = qs[(tr + 16 * i) * LD + d];
                dov[i] = dos[(tr + 16 * i) * LD + d];
            }
            for (int j = 0; j < 4; j++) {
                kv[j] = ks[(tc + 16 * j) * LD + d];
                vv[j] = vs[(tc + 16 * j) * LD + d];
            }
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 4; j++) {
                    s[i][j] = fmaf(qv[i], kv[j], s[i][j]);
                    dp[i][j] = fmaf(dov[i], vv[j], dp[i][j]);
                }
        }
        for (int i = 0; i < 2; i++) {
            int r = tr + 16 * i;
            int64_t query = q0 + r;
            for (int j = 0; j < 4; j++) {
                int c = tc + 16 * j;
                int64_t key = kv0 + c;
                bool ok = query < nt && key < ns && !(causal && key > query) && ls[r] > -INFINITY;
                float p = ok ? __expf(scale * s[i][j] - ls[r]) : 0.f;
                ps[r * PL + c] = p;
                dss[r * PL + c] = p * (dp[i][j] - ds_row[r]);
            }
        }
        __syncthreads();
        for (int r = 0; r < BWD_BQ; r++) {
            float pv[4], dsv[4], dov[NC], qv[NC];
            for (int i = 0; i < 4; i++) {
                pv[i] = ps[r * PL + tr + 16 * i];
                dsv[i] = dss[r * PL + tr + 16 * i];
            }
            for (int c = 0; c < NC; c++) {
                dov[c] = dos[r * LD + tc + 16 * c];
                qv[c] = qs[r * LD + tc + 16 * c];
            }
            for (int i = 0; i < 4; i++)
                for (int c = 0; c < NC; c++) {
                    dv_acc[i][c] = fmaf(pv[i], dov[c], dv_acc[i][c]);
                    dk_acc[i][c] = fmaf(dsv[i], qv[c], dk_acc[i][c]);
                }
        }
        for (int i = 0; i < 2; i++) {
            int r = tr + 16 * i;
            if (q0 + r >= nt) continue;
            float dq[NC];
            for (int c = 0; c < NC; c++) dq[c] = 0.f;
            for (int kk = 0; kk < BWD_BK; kk++) {
                float dsv = dss[r * PL + kk];
                for (int c = 0; c < NC; c++) dq[c] = fmaf(dsv, ks[kk * LD + tc + 16 * c], dq[c]);
            }
            for (int c = 0; c < NC; c++) {
                int d = tc + 16 * c;
                if (d < hd) atomicAdd(&dq32[(bh * nt + q0 + r) * hd + d], scale * dq[c]);
            }
        }
    }
    for (int i = 0; i < 4; i++) {
        int64_t key = kv0 + tr + 16 * i;
        if (key >= ns) continue;
        for (int c = 0; c < NC; c++) {
            int d = tc + 16 * c;
            if (d >= hd) continue;
            dk[(bh * ns + key) * hd + d] = volt_cuda_type<T>::store(scale * dk_acc[i][c]);
            dv[(bh * ns + key) * hd + d] = volt_cuda_type<T>::store(dv_acc[i][c]);
        }
    }
}

/* -------------------------------------------------------------- launch */

static size_t forward_smem(int hd) {
    return sizeof(float) *
           (size_t)(FWD_BQ * (hd + 1) + 2 * FWD_BK * (hd + 1) + FWD_BQ * (FWD_BK + 1));
}

static size_t backward_smem(int hd) {
    return sizeof(float) * (size_t)(2 * BWD_BK * (hd + 1) + 2 * BWD_BQ * (hd + 1) +
                                    2 * BWD_BQ * (BWD_BK + 1) + 2 * BWD_BQ);
}

template <typename T, int HD>
static int forward(const void *q, const void *k, const void *v, void *o, float *lse, int64_t bh,
                   int64_t nt, int64_t ns, int hd, int causal, float scale, cudaStream_t s) {
    size_t smem = forward_smem(HD);
    cudaError_t e = cudaFuncSetAttribute(flash_forward_kernel<T, HD>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)bh, (unsigned)((nt + FWD_BQ - 1) / FWD_BQ));
    flash_forward_kernel<T, HD><<<grid, THREADS, smem, s>>>(
        (const T *)q, (const T *)k, (const T *)v, (T *)o, lse, nt, ns, hd, causal, scale * LOG2E);
    return (int)cudaGetLastError();
}

template <typename T>
static int forward_hd(const void *q, const void *k, const void *v, void *o, float *lse, int64_t bh,
                      int64_t nt, int64_t ns, int hd, int causal, float scale, cudaStream_t s) {
    if (hd <= 32) return forward<T, 32>(q, k, v, o, lse, bh, nt, ns, hd, causal, scale, s);
    if (hd <= 64) return forward<T, 64>(q, k, v, o, lse, bh, nt, ns, hd, causal, scale, s);
    return forward<T, 128>(q, k, v, o, lse, bh, nt, ns, hd, causal, scale, s);
}

extern "C" int volt_cuda_launch_flash_forward(const void *q, const void *k, const void *v, void *o,
                                              float *lse, int dtype, int64_t bh, int64_t nt,
                                              int64_t ns, int64_t hd, int causal, float scale,
                                              void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (hd < 1 || hd > VOLT_CUDA_FLASH_MAX_HEAD_DIM || bh > INT32_MAX ||
        (nt + FWD_BQ - 1) / FWD_BQ > 65535)
        return (int)cudaErrorInvalidValue;
    if (bh == 0 || nt == 0) return 0;
    const void *ptrs[5] = {q, k, v, o, lse};
    if (volt_tc_attention_applies(dtype == VOLT_CUDA_BF16 || dtype == VOLT_CUDA_F16, hd, ptrs, 5,
                                  NULL, 0)) {
        tc_layout lq = tc_dense(nt, hd), lk = tc_dense(ns, hd);
        tc_fwd_args a = {q, k, v, o, lse, lq, lk, lk, lq, bh, 1, nt, ns, hd, causal, scale};
        return volt_tc_attention_forward(&a, dtype == VOLT_CUDA_BF16, stream);
    }
    int h = (int)hd;
    switch (dtype) {
    case VOLT_CUDA_F32: return forward_hd<float>(q, k, v, o, lse, bh, nt, ns, h, causal, scale, s);
    case VOLT_CUDA_BF16:
        return forward_hd<__nv_bfloat16>(q, k, v, o, lse, bh, nt, ns, h, causal, scale, s);
    case VOLT_CUDA_F16: return forward_hd<__half>(q, k, v, o, lse, bh, nt, ns, h, causal, scale, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* The backward's arguments, passed along the dispatch. */
typedef struct {
    const void *q, *k, *v, *o, *dout;
    const float *lse;
    float *delta, *dq32;
    void *dq, *dk, *dv;
    int64_t bh, nt, ns;
    int hd, causal;
    float scale;
} bwd_args;

template <typename T, int HD> static int backward(const bwd_args *a, cudaStream_t s) {
    size_t smem = backward_smem(HD);
    cudaError_t e = cudaFuncSetAttribute(flash_backward_kernel<T, HD>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)a->bh, (unsigned)((a->ns + BWD_BK - 1) / BWD_BK));
    flash_backward_kernel<T, HD><<<grid, THREADS, smem, s>>>(
        (const T *)a->q, (const T *)a->k, (const T *)a->v, (const T *)a->dout, a->lse, a->delta,
        a->dq32, (T *)a->dk, (T *)a->dv, a->nt, a->ns, a->hd, a->causal, a->scale);
    return (int)cudaGetLastError();
}

template <typename T> struct is_bf16 { static const int value = 0; };
template <> struct is_bf16<__nv_bfloat16> { static const int value = 1; };

template <typename T> static int backward_all(const bwd_args *a, cudaStream_t s) {
    const void *ptrs[10] = {a->q, a->k, a->v, a->o, a->dout, a->dq32, a->dq, a->dk, a->dv, a->lse};
    if (sizeof(T) == 2 && volt_tc_attention_applies(1, a->hd, ptrs, 10, NULL, 0)) {
        tc_layout lq = tc_dense(a->nt, a->hd), lk = tc_dense(a->ns, a->hd);
        tc_bwd_args t = {a->q,  a->k,  a->v, a->o,  a->dout, a->lse, a->delta,  a->dq32, a->dq,
                         a->dk, a->dv, lq,   lk,    lk,      lq,     lq,        lq,      lk,
                         lk,    a->bh, 1,    a->nt, a->ns,   a->hd,  a->causal, a->scale};
        return volt_tc_attention_backward(&t, is_bf16<T>::value, s);
    }
    int64_t rows = a->bh * a->nt, nq = rows * a->hd;
    cudaError_t e = cudaMemsetAsync(a->dq32, 0, (size_t)nq * sizeof(float), s);
    if (e != cudaSuccess) return (int)e;
    unsigned row_blocks = (unsigned)((rows + THREADS / 32 - 1) / (THREADS / 32));
    if (rows > 0)
        flash_delta_kernel<T><<<row_blocks, THREADS, 0, s>>>((const T *)a->o, (const T *)a->dout,
                                                             a->delta, rows, a->hd);
    if ((e = cudaGetLastError()) != cudaSuccess) return (int)e;
    int r = 0;
    if (a->ns > 0)
        r = a->hd <= 32   ? backward<T, 32>(a, s)
            : a->hd <= 64 ? backward<T, 64>(a, s)
                          : backward<T, 128>(a, s);
    if (r) return r;
    int64_t blocks = (nq + THREADS - 1) / THREADS;
    if (nq > 0)
        store_kernel<T><<<(unsigned)(blocks > 65536 ? 65536 : blocks), THREADS, 0, s>>>(
            (T *)a->dq, a->dq32, nq);
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_flash_backward(const void *q, const void *k, const void *v,
                                               const void *o, const void *dout, const float *lse,
                                               float *delta, float *dq32, void *dq, void *dk,
                                               void *dv, int dtype, int64_t bh, int64_t nt,
                                               int64_t ns, int64_t hd, int causal, float scale,
                                               void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (hd < 1 || hd > VOLT_CUDA_FLASH_MAX_HEAD_DIM || bh > INT32_MAX ||
        (ns + BWD_BK - 1) / BWD_BK > 65535)
        return (int)cudaErrorInvalidValue;
    if (bh == 0 || (nt == 0 && ns == 0)) return 0;
    bwd_args a = {q,  k,  v,  o,  dout, lse,     delta,  dq32, dq,
                  dk, dv, bh, nt, ns,   (int)hd, causal, scale};
    switch (dtype) {
    case VOLT_CUDA_F32: return backward_all<float>(&a, s);
    case VOLT_CUDA_BF16: return backward_all<__nv_bfloat16>(&a, s);
    case VOLT_CUDA_F16: return backward_all<__half>(&a, s);
    }
    return (int)cudaErrorInvalidValue;
}

/* The packed launchers: q, k, v the three E-wide thirds of qkv's rows. */
static void packed_layouts(int64_t heads, int64_t nt, int64_t hd, tc_layout *in, tc_layout *out) {
    int64_t e = heads * hd;
    *in = tc_layout{nt * 3 * e, hd, 3 * e};
    *out = tc_layout{nt * e, hd, e};
}

extern "C" int volt_cuda_launch_flash_qkv_forward(const void *qkv, void *o, float *lse, int dtype,
                                                  int64_t batch, int64_t heads, int64_t nt,
                                                  int64_t hd, int causal, float scale,
                                                  void *stream) {
    tc_layout in, out;
    packed_layouts(heads, nt, hd, &in, &out);
    int64_t bh = batch * heads, e = heads * hd;
    const char *base = (const char *)qkv;
    const void *ptrs[3] = {qkv, o, lse};
    if (bh > INT32_MAX || (nt + FWD_BQ - 1) / FWD_BQ > 65535 ||
        !volt_tc_attention_applies(dtype == VOLT_CUDA_BF16 || dtype == VOLT_CUDA_F16, hd, ptrs, 3,
                                   &in, 1))
        return (int)cudaErrorInvalidValue;
    if (bh == 0 || nt == 0) return 0;
    tc_fwd_args a = {base, base + 2 * e, base + 4 * e, o,  lse, in, in,     in,
                     out,  bh,           heads,        nt, nt,  hd, causal, scale};
    return volt_tc_attention_forward(&a, dtype == VOLT_CUDA_BF16, stream);
}

extern "C" int volt_cuda_launch_flash_qkv_backward(const void *qkv, const void *o, const void *dout,
                                                   const float *lse, float *delta, float *dq32,
                                                   void *dqkv, int dtype, int64_t batch,
                                                   int64_t heads, int64_t nt, int64_t hd,
                                                   int causal, float scale, void *stream) {
    tc_layout in, out;
    packed_layouts(heads, nt, hd, &in, &out);
    int64_t bh = batch * heads, e = heads * hd;
    const char *base = (const char *)qkv;
    char *dbase = (char *)dqkv;
    const void *ptrs[7] = {qkv, o, dout, lse, delta, dq32, dqkv};
    if (bh > INT32_MAX || (nt + BWD_BK - 1) / BWD_BK > 65535 ||
        !volt_tc_attention_applies(dtype == VOLT_CUDA_BF16 || dtype == VOLT_CUDA_F16, hd, ptrs, 7,
                                   &in, 1))
        return (int)cudaErrorInvalidValue;
    if (bh == 0 || nt == 0) return 0;
    tc_bwd_args a = {base,          base + 2 * e, base + 4 * e, o,     dout,
                     lse,           delta,        dq32,         dbase, dbase + 2 * e,
                     dbase + 4 * e, in,           in,           in,    out,
                     out,           in,           in,           in,    bh,
                     heads,         nt,           nt,           hd,    causal,
                     scale};
    return volt_tc_attention_backward(&a, dtype == VOLT_CUDA_BF16, stream);
}
