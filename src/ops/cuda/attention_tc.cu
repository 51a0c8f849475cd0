/* attention_tc.cu: flash attention on the tensor cores for bf16 and f16 at
 * head dims 64 and 128 (attention_tc.cuh; attention.cu dispatches here).
 * sm_80+ mma.sync m16n8k16 with f32 accumulation; tiles move through
 * shared memory with cp.async (16-byte copies, the next tile loading while
 * the current one is used) and reach the tensor cores through ldmatrix.
 *
 * Forward: a block of 4 warps takes 64 queries (16 per warp, their Q
 * fragments kept in registers) and streams 64-key tiles of K and V; the
 * online softmax (exp2 of pre-scaled scores) runs on the score fragments in
 * registers, which then become the A operand of P V directly. Causal tiles
 * wholly above the diagonal are never visited; query tiles are scheduled
 * heaviest first.
 *
 * Backward: a block takes 64 keys (16 per warp) and streams tiles of BQ
 * queries (64 at head dim 64, 32 at 128) with their dO, lse and delta;
 * each warp computes its S^T = K Q^T and dP^T = V dO^T, then P^T and
 * dS^T = P^T (dP^T - delta) in registers, accumulates dV += P^T dO and
 * dK += dS^T Q in registers, and the block computes dQ = dS K for the tile
 * from dS^T staged in shared memory, added into an f32 buffer with
 * atomics (so dQ's last bits may vary run to run). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "ops/cuda/attention_tc.cuh"

#define TC_WARPS 4
#define TC_THREADS (32 * TC_WARPS)
#define TC_BK 64 /* keys per tile (forward) or per block (backward) */
#define TC_PAD 8 /* elements of padding per shared row: ldmatrix without bank conflicts */
#define TC_LOG2E 1.4426950408889634f
#define TC_LN2 0.6931471805599453f

/* ------------------------------------------------------------ primitives */

template <typename T> struct tc_type;

template <> struct tc_type<__nv_bfloat16> {
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    }
    /* c += a b for one m16n8k16 tile (a: 4 registers, b: 2). */
    static __device__ __forceinline__ void mma(float *c, const uint32_t *a, const uint32_t *b) {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
            "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};

template <> struct tc_type<__half> {
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        __half2 h = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    }
    static __device__ __forceinline__ void mma(float *c, const uint32_t *a, const uint32_t *b) {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
            "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};

/* Four 8x8 b16 matrices from shared memory; each lane gives one row's
 * address (lanes 8i .. 8i+7: matrix i). */
__device__ __forceinline__ void ldsm4(uint32_t *r, const void *p) {
    uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

/* The same, each matrix transposed. */
__device__ __forceinline__ void ldsm4_t(uint32_t *r, const void *p) {
    uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

/* 16 bytes global -> shared without registers; zeros when !valid. */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool valid) {
    uint32_t d = (uint32_t)__cvta_generic_to_shared(dst);
    int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(n));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

__device__ __forceinline__ void cp_async_wait_all() {
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

/* Queues rows [row0, row0 + ROWS) of an [n, HD] matrix with rows ld
 * elements apart into a [ROWS, HD + TC_PAD] tile; rows past n become
 * zeros. */
template <typename T, int ROWS, int HD>
__device__ __forceinline__ void load_rows(T *tile, const T *src, int row0, int n, int64_t ld) {
    constexpr int CH = HD / 8;
    for (int e = threadIdx.x; e < ROWS * CH; e += TC_THREADS) {
        int r = e / CH, c = e % CH;
        bool ok = row0 + r < n;
        cp_async16(tile + r * (HD + TC_PAD) + c * 8, src + (ok ? (row0 + r) * ld + c * 8 : 0), ok);
    }
}

/* The offset of head bh's row 0 (tc_layout). */
__device__ __forceinline__ int64_t tc_base(tc_layout l, int64_t bh, int64_t heads) {
    return (bh / heads) * l.batch + (bh % heads) * l.head;
}

/* Max and sum over the 4 lanes that hold one fragment row. */
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

__device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

/* p[0..1] += (x, y), one vector atomic where the architecture has it. */
__device__ __forceinline__ void atomic_add2(float *p, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    atomicAdd(reinterpret_cast<float2 *>(p), make_float2(x, y));
#else
    atomicAdd(p, x);
    atomicAdd(p + 1, y);
#endif
}

/* ------------------------------------------------------------- forward */

/* Fragment layout (m16n8k16): lane = 4 g + t holds rows g and g + 8 and
 * columns 2t, 2t + 1 of each 8-column block of an accumulator. */
template <typename T, int HD>
__global__ void __launch_bounds__(TC_THREADS)
    tc_forward_kernel(const T *q, const T *k, const T *v, T *o, float *lse, tc_layout lq,
                      tc_layout lk, tc_layout lv, tc_layout lo, int64_t heads, int nt, int ns,
                      int causal, float scale_log2) {
    constexpr int BQ = 16 * TC_WARPS, LD = HD + TC_PAD, KB = HD / 16, NB = TC_BK / 8, OB = HD / 8;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    T *qs = reinterpret_cast<T *>(tc_smem), *ks = qs + BQ * LD, *vs = ks + 2 * TC_BK * LD;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    int64_t bh = blockIdx.x;
    int q0 = (int)(gridDim.y - 1 - blockIdx.y) * BQ; /* heaviest (causal) tiles first */
    const T *qb = q + tc_base(lq, bh, heads), *kb = k + tc_base(lk, bh, heads),
            *vb = v + tc_base(lv, bh, heads);
    int kv_end = causal ? min(ns, q0 + BQ) : ns;
    int ntiles = (kv_end + TC_BK - 1) / TC_BK;
    load_rows<T, BQ, HD>(qs, qb, q0, nt, lq.row);
    if (ntiles > 0) {
        load_rows<T, TC_BK, HD>(ks, kb, 0, ns, lk.row);
        load_rows<T, TC_BK, HD>(vs, vb, 0, ns, lv.row);
    }
    cp_async_commit();
    uint32_t qf[KB][4];
    float acc[OB][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
    for (int ob = 0; ob < OB; ob++) acc[ob][0] = acc[ob][1] = acc[ob][2] = acc[ob][3] = 0.f;
    int row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
    for (int j = 0; j < ntiles; j++) {
        cp_async_wait_all();
        __syncthreads(); /* tile j landed; tile j - 1's buffer is free */
        if (j == 0) {
#pragma unroll
            for (int kk = 0; kk < KB; kk++)
                ldsm4(qf[kk], qs + (warp * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
        }
        if (j + 1 < ntiles) {
            int nb_ = (j + 1) & 1;
            load_rows<T, TC_BK, HD>(ks + nb_ * TC_BK * LD, kb, (j + 1) * TC_BK, ns, lk.row);
            load_rows<T, TC_BK, HD>(vs + nb_ * TC_BK * LD, vb, (j + 1) * TC_BK, ns, lv.row);
        }
        cp_async_commit();
        const T *kt = ks + (j & 1) * TC_BK * LD, *vt = vs + (j & 1) * TC_BK * LD;
        int kv0 = j * TC_BK;
        float s[NB][4];
#pragma unroll
        for (int nb = 0; nb < NB; nb++) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < KB; kk++)
#pragma unroll
            for (int nb = 0; nb < NB; nb += 2) {
                uint32_t b[4];
                ldsm4(b, kt + (nb * 8 + (lane / 16) * 8 + lane % 8) * LD + kk * 16 +
                             ((lane / 8) % 2) * 8);
                tc_type<T>::mma(s[nb], qf[kk], b);
                tc_type<T>::mma(s[nb + 1], qf[kk], b + 2);
            }
        bool mask = kv0 + TC_BK > ns || (causal && kv0 + TC_BK - 1 > q0);
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nb = 0; nb < NB; nb++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float x = s[nb][e] * scale_log2;
                int key = kv0 + nb * 8 + 2 * t + (e & 1);
                if (mask && (key >= ns || (causal && key > row[e / 2]))) x = -INFINITY;
                s[nb][e] = x;
                mx[e / 2] = fmaxf(mx[e / 2], x);
            }
        float alpha[2], mu[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            float mn = fmaxf(m[i], quad_max(mx[i]));
            mu[i] = mn == -INFINITY ? 0.f : mn;
            alpha[i] = exp2f(m[i] - mu[i]);
            m[i] = mn;
            l[i] *= alpha[i]; /* a per-lane partial sum until the end */
        }
#pragma unroll
        for (int nb = 0; nb < NB; nb++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float p = exp2f(s[nb][e] - mu[e / 2]);
                s[nb][e] = p;
                l[e / 2] += p;
            }
#pragma unroll
        for (int ob = 0; ob < OB; ob++) {
            acc[ob][0] *= alpha[0], acc[ob][1] *= alpha[0];
            acc[ob][2] *= alpha[1], acc[ob][3] *= alpha[1];
        }
#pragma unroll
        for (int kk = 0; kk < TC_BK / 16; kk++) {
            uint32_t a[4] = {tc_type<T>::pack(s[2 * kk][0], s[2 * kk][1]),
                             tc_type<T>::pack(s[2 * kk][2], s[2 * kk][3]),
                             tc_type<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             tc_type<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int ob = 0; ob < OB; ob += 2) {
                uint32_t b[4];
                ldsm4_t(b, vt + (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * LD + ob * 8 +
                               (lane / 16) * 8);
                tc_type<T>::mma(acc[ob], a, b);
                tc_type<T>::mma(acc[ob + 1], a, b + 2);
            }
        }
    }
    cp_async_wait_all(); /* nothing left in flight (ntiles == 0) */
#pragma unroll
    for (int i = 0; i < 2; i++) {
        float sum = quad_sum(l[i]);
        if (row[i] >= nt) continue;
        float inv = sum > 0.f ? 1.f / sum : 0.f;
        T *orow = o + tc_base(lo, bh, heads) + row[i] * lo.row;
#pragma unroll
        for (int ob = 0; ob < OB; ob++)
            *reinterpret_cast<uint32_t *>(orow + ob * 8 + 2 * t) =
                tc_type<T>::pack(acc[ob][2 * i] * inv, acc[ob][2 * i + 1] * inv);
        if (t == 0) lse[bh * nt + row[i]] = sum > 0.f ? (m[i] + log2f(sum)) * TC_LN2 : -INFINITY;
    }
}

/* ------------------------------------------------------------ backward */

template <typename T, int HD, int BQ>
__global__ void __launch_bounds__(TC_THREADS, HD == 64 ? 3 : 2)
    tc_backward_kernel(const T *q, const T *k, const T *v, const T *dout, const float *lse,
                       const float *delta, float *dq32, T *dk, T *dv, tc_bwd_args a) {
    constexpr int LD = HD + TC_PAD, LDS = BQ + TC_PAD, KB = HD / 16, NQ = BQ / 8, OB = HD / 8;
    constexpr int QG = BQ / 16, DG = TC_WARPS / QG, DW = HD / DG, DB = DW / 8;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    T *ks = reinterpret_cast<T *>(tc_smem), *vs = ks + TC_BK * LD, *qs = vs + TC_BK * LD;
    T *dos = qs + 2 * BQ * LD, *dss = dos + 2 * BQ * LD;
    float *ls = reinterpret_cast<float *>(dss + TC_BK * LDS), *dl = ls + 2 * BQ;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    int64_t bh = blockIdx.x, heads = a.heads;
    int kv0 = (int)blockIdx.y * TC_BK, nt = (int)a.nt, ns = (int)a.ns, causal = a.causal;
    float scale = a.scale;
    const T *qb = q + tc_base(a.lq, bh, heads), *kb = k + tc_base(a.lk, bh, heads),
            *vb = v + tc_base(a.lv, bh, heads);
    const T *dob = dout + tc_base(a.ldout, bh, heads);
    const float *lb = lse + bh * nt, *db = delta + bh * nt;
    int q_start = causal ? kv0 : 0; /* earlier queries see none of these keys */
    int ntiles = nt > q_start ? (nt - q_start + BQ - 1) / BQ : 0;
    load_rows<T, TC_BK, HD>(ks, kb, kv0, ns, a.lk.row);
    load_rows<T, TC_BK, HD>(vs, vb, kv0, ns, a.lv.row);
    auto load_q_tile = [&](int it) {
        int q0 = q_start + it * BQ, buf = it & 1;
        load_rows<T, BQ, HD>(qs + buf * BQ * LD, qb, q0, nt, a.lq.row);
        load_rows<T, BQ, HD>(dos + buf * BQ * LD, dob, q0, nt, a.ldout.row);
        for (int r = threadIdx.x; r < BQ; r += TC_THREADS) {
            bool ok = q0 + r < nt;
            float x = ok ? lb[q0 + r] : INFINITY;
            /* log2 domain; a row that saw no key (lse -inf) gets p = 0 */
            ls[buf * BQ + r] = x == -INFINITY ? INFINITY : x * TC_LOG2E;
            dl[buf * BQ + r] = ok ? db[q0 + r] : 0.f;
        }
    };
    if (ntiles > 0) load_q_tile(0);
    cp_async_commit();
    float dka[OB][4], dva[OB][4];
#pragma unroll
    for (int ob = 0; ob < OB; ob++)
#pragma unroll
        for (int e = 0; e < 4; e++) dka[ob][e] = dva[ob][e] = 0.f;
    float sl2 = scale * TC_LOG2E;
    int key[2] = {kv0 + warp * 16 + g, kv0 + warp * 16 + g + 8};
    for (int it = 0; it < ntiles; it++) {
        int q0 = q_start + it * BQ, buf = it & 1;
        cp_async_wait_all();
        __syncthreads(); /* tile it landed; tile it - 1's buffers and dS are free */
        if (it + 1 < ntiles) load_q_tile(it + 1);
        cp_async_commit();
        const T *qt = qs + buf * BQ * LD, *dot = dos + buf * BQ * LD;
        const float *lt = ls + buf * BQ, *dlt = dl + buf * BQ;
        float st[NQ][4], dpt[NQ][4];
#pragma unroll
        for (int nb = 0; nb < NQ; nb++)
#pragma unroll
            for (int e = 0; e < 4; e++) st[nb][e] = dpt[nb][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < KB; kk++) {
            uint32_t ka[4], va[4];
            ldsm4(ka, ks + (warp * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
            ldsm4(va, vs + (warp * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
#pragma unroll
            for (int nb = 0; nb < NQ; nb += 2) {
                int off =
                    (nb * 8 + (lane / 16) * 8 + lane % 8) * LD + kk * 16 + ((lane / 8) % 2) * 8;
                uint32_t b[4];
                ldsm4(b, qt + off);
                tc_type<T>::mma(st[nb], ka, b);
                tc_type<T>::mma(st[nb + 1], ka, b + 2);
                ldsm4(b, dot + off);
                tc_type<T>::mma(dpt[nb], va, b);
                tc_type<T>::mma(dpt[nb + 1], va, b + 2);
            }
        }
        bool mask = kv0 + TC_BK > ns || (causal && q0 < kv0 + TC_BK - 1);
#pragma unroll
        for (int nb = 0; nb < NQ; nb++) {
            float2 lq = *reinterpret_cast<const float2 *>(lt + nb * 8 + 2 * t);
            float2 dq = *reinterpret_cast<const float2 *>(dlt + nb * 8 + 2 * t);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int query = q0 + nb * 8 + 2 * t + (e & 1), kr = key[e / 2];
                float p = exp2f(st[nb][e] * sl2 - ((e & 1) ? lq.y : lq.x));
                if (mask && (kr >= ns || (causal && kr > query))) p = 0.f;
                st[nb][e] = p;
                dpt[nb][e] = p * (dpt[nb][e] - ((e & 1) ? dq.y : dq.x));
            }
        }
        /* dV += P^T dO, dK += dS^T Q over this tile's queries. */
#pragma unroll
        for (int kk = 0; kk < BQ / 16; kk++) {
            uint32_t pa[4] = {tc_type<T>::pack(st[2 * kk][0], st[2 * kk][1]),
                              tc_type<T>::pack(st[2 * kk][2], st[2 * kk][3]),
                              tc_type<T>::pack(st[2 * kk + 1][0], st[2 * kk + 1][1]),
                              tc_type<T>::pack(st[2 * kk + 1][2], st[2 * kk + 1][3])};
            uint32_t da[4] = {tc_type<T>::pack(dpt[2 * kk][0], dpt[2 * kk][1]),
                              tc_type<T>::pack(dpt[2 * kk][2], dpt[2 * kk][3]),
                              tc_type<T>::pack(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]),
                              tc_type<T>::pack(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3])};
            /* dS^T, rounded as the products use it, for the block's dQ */
            int srow = warp * 16 + g, scol = kk * 16 + 2 * t;
            *reinterpret_cast<uint32_t *>(dss + srow * LDS + scol) = da[0];
            *reinterpret_cast<uint32_t *>(dss + (srow + 8) * LDS + scol) = da[1];
            *reinterpret_cast<uint32_t *>(dss + srow * LDS + scol + 8) = da[2];
            *reinterpret_cast<uint32_t *>(dss + (srow + 8) * LDS + scol + 8) = da[3];
#pragma unroll
            for (int ob = 0; ob < OB; ob += 2) {
                int off =
                    (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * LD + ob * 8 + (lane / 16) * 8;
                uint32_t b[4];
                ldsm4_t(b, dot + off);
                tc_type<T>::mma(dva[ob], pa, b);
                tc_type<T>::mma(dva[ob + 1], pa, b + 2);
                ldsm4_t(b, qt + off);
                tc_type<T>::mma(dka[ob], da, b);
                tc_type<T>::mma(dka[ob + 1], da, b + 2);
            }
        }
        __syncthreads(); /* dS^T complete */
        /* dQ[BQ, HD] += dS K: warp -> 16 queries x DW columns. */
        int qg = warp % QG, dg = warp / QG;
        float dqa[DB][4];
#pragma unroll
        for (int i = 0; i < DB; i++) dqa[i][0] = dqa[i][1] = dqa[i][2] = dqa[i][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < TC_BK / 16; kk++) {
            uint32_t a[4];
            ldsm4_t(a, dss + (kk * 16 + (lane / 16) * 8 + lane % 8) * LDS + qg * 16 +
                           ((lane / 8) % 2) * 8);
#pragma unroll
            for (int i = 0; i < DB; i += 2) {
                uint32_t b[4];
                ldsm4_t(b, ks + (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * LD + dg * DW + i * 8 +
                               (lane / 16) * 8);
                tc_type<T>::mma(dqa[i], a, b);
                tc_type<T>::mma(dqa[i + 1], a, b + 2);
            }
        }
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int query = q0 + qg * 16 + g + 8 * h;
            if (query >= nt) continue;
            float *dst = dq32 + (bh * nt + query) * HD + dg * DW + 2 * t;
#pragma unroll
            for (int i = 0; i < DB; i++)
                atomic_add2(dst + i * 8, scale * dqa[i][2 * h], scale * dqa[i][2 * h + 1]);
        }
    }
    cp_async_wait_all(); /* nothing left in flight (ntiles == 0) */
#pragma unroll
    for (int h = 0; h < 2; h++) {
        if (key[h] >= ns) continue;
        T *dkr = dk + tc_base(a.ldk, bh, heads) + key[h] * a.ldk.row + 2 * t;
        T *dvr = dv + tc_base(a.ldv, bh, heads) + key[h] * a.ldv.row + 2 * t;
#pragma unroll
        for (int ob = 0; ob < OB; ob++) {
            *reinterpret_cast<uint32_t *>(dkr + ob * 8) =
                tc_type<T>::pack(scale * dka[ob][2 * h], scale * dka[ob][2 * h + 1]);
            *reinterpret_cast<uint32_t *>(dvr + ob * 8) =
                tc_type<T>::pack(dva[ob][2 * h], dva[ob][2 * h + 1]);
        }
    }
}

/* ------------------------------------------- backward's helper passes */

__device__ __forceinline__ float tc_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float tc_float(__half x) { return __half2float(x); }

/* The offset of row r of the [bh * nt] rows (tc_layout). */
__device__ __forceinline__ int64_t tc_row(tc_layout l, int64_t r, int64_t nt, int64_t heads) {
    return tc_base(l, r / nt, heads) + (r % nt) * l.row;
}

/* delta[r] = sum_d dout[r, d] o[r, d] and dq32[r, :] = 0: HD / 8 lanes per
 * row, 16 bytes of o and dout each. */
template <typename T, int HD>
__global__ void tc_prep_kernel(const T *o, const T *dout, float *delta, float *dq32, int64_t rows,
                               tc_layout lo, tc_layout ldout, int64_t nt, int64_t heads) {
    constexpr int G = HD / 8;
    int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / G;
    int c = threadIdx.x % G;
    bool ok = r < rows;
    float sum = 0.f;
    if (ok) {
        uint4 a = *reinterpret_cast<const uint4 *>(o + tc_row(lo, r, nt, heads) + c * 8);
        uint4 b = *reinterpret_cast<const uint4 *>(dout + tc_row(ldout, r, nt, heads) + c * 8);
        const T *x = reinterpret_cast<const T *>(&a), *y = reinterpret_cast<const T *>(&b);
#pragma unroll
        for (int i = 0; i < 8; i++) sum = fmaf(tc_float(x[i]), tc_float(y[i]), sum);
        float4 *z = reinterpret_cast<float4 *>(dq32 + r * HD + c * 8);
        z[0] = z[1] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int off = G / 2; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (ok && c == 0) delta[r] = sum;
}

/* dq (layout ldq) = dq32 rounded, 8 elements per step. */
template <typename T, int HD>
__global__ void tc_store_dq_kernel(T *dq, const float *dq32, int64_t n8, tc_layout ldq, int64_t nt,
                                   int64_t heads) {
    constexpr int G = HD / 8;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n8;
         i += (int64_t)gridDim.x * blockDim.x) {
        float4 a = reinterpret_cast<const float4 *>(dq32)[2 * i];
        float4 b = reinterpret_cast<const float4 *>(dq32)[2 * i + 1];
        uint4 out = {tc_type<T>::pack(a.x, a.y), tc_type<T>::pack(a.z, a.w),
                     tc_type<T>::pack(b.x, b.y), tc_type<T>::pack(b.z, b.w)};
        *reinterpret_cast<uint4 *>(dq + tc_row(ldq, i / G, nt, heads) + (i % G) * 8) = out;
    }
}

/* -------------------------------------------------------------- launch */

static bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

bool volt_tc_attention_applies(int is16, int64_t hd, const void *const *ptrs, int n,
                               const tc_layout *layouts, int n_layouts) {
    if (!is16 || (hd != 64 && hd != 128)) return false;
    for (int i = 0; i < n; i++)
        if (!aligned16(ptrs[i])) return false;
    for (int i = 0; i < n_layouts; i++)
        if (layouts[i].batch % 8 || layouts[i].head % 8 || layouts[i].row % 8) return false;
    return true;
}

template <typename T, int HD> static int tc_forward(const tc_fwd_args *a, cudaStream_t s) {
    constexpr int BQ = 16 * TC_WARPS;
    size_t smem = sizeof(T) * (size_t)(BQ + 4 * TC_BK) * (HD + TC_PAD);
    cudaError_t e = cudaFuncSetAttribute(tc_forward_kernel<T, HD>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)a->bh, (unsigned)((a->nt + BQ - 1) / BQ));
    tc_forward_kernel<T, HD><<<grid, TC_THREADS, smem, s>>>(
        (const T *)a->q, (const T *)a->k, (const T *)a->v, (T *)a->o, a->lse, a->lq, a->lk, a->lv,
        a->lo, a->heads, (int)a->nt, (int)a->ns, a->causal, a->scale * TC_LOG2E);
    return (int)cudaGetLastError();
}

int volt_tc_attention_forward(const tc_fwd_args *a, int bf16, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (a->bh == 0 || a->nt == 0) return 0;
    if (bf16)
        return a->hd == 64 ? tc_forward<__nv_bfloat16, 64>(a, s)
                           : tc_forward<__nv_bfloat16, 128>(a, s);
    return a->hd == 64 ? tc_forward<__half, 64>(a, s) : tc_forward<__half, 128>(a, s);
}

template <typename T, int HD, int BQ> static int tc_backward(const tc_bwd_args *a, cudaStream_t s) {
    int64_t rows = a->bh * a->nt, n8 = rows * HD / 8;
    if (rows > 0) {
        unsigned blocks = (unsigned)((rows * (HD / 8) + 255) / 256);
        tc_prep_kernel<T, HD><<<blocks, 256, 0, s>>>((const T *)a->o, (const T *)a->dout, a->delta,
                                                     a->dq32, rows, a->lo, a->ldout, a->nt,
                                                     a->heads);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return (int)e;
    }
    if (a->ns > 0) {
        size_t smem = sizeof(T) * ((size_t)(2 * TC_BK + 4 * BQ) * (HD + TC_PAD) +
                                   (size_t)TC_BK * (BQ + TC_PAD)) +
                      sizeof(float) * 4 * BQ;
        cudaError_t e = cudaFuncSetAttribute(
            tc_backward_kernel<T, HD, BQ>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return (int)e;
        dim3 grid((unsigned)a->bh, (unsigned)((a->ns + TC_BK - 1) / TC_BK));
        tc_backward_kernel<T, HD, BQ><<<grid, TC_THREADS, smem, s>>>(
            (const T *)a->q, (const T *)a->k, (const T *)a->v, (const T *)a->dout, a->lse, a->delta,
            a->dq32, (T *)a->dk, (T *)a->dv, *a);
        if ((e = cudaGetLastError()) != cudaSuccess) return (int)e;
    }
    if (n8 > 0) {
        int64_t blocks = (n8 + 255) / 256;
        tc_store_dq_kernel<T, HD><<<(unsigned)(blocks > 8192 ? 8192 : blocks), 256, 0, s>>>(
            (T *)a->dq, a->dq32, n8, a->ldq, a->nt, a->heads);
    }
    return (int)cudaGetLastError();
}

int volt_tc_attention_backward(const tc_bwd_args *a, int bf16, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (a->bh == 0 || (a->nt == 0 && a->ns == 0)) return 0;
    if (bf16)
        return a->hd == 64 ? tc_backward<__nv_bfloat16, 64, 64>(a, s)
                           : tc_backward<__nv_bfloat16, 128, 32>(a, s);
    return a->hd == 64 ? tc_backward<__half, 64, 64>(a, s) : tc_backward<__half, 128, 32>(a, s);
}
