/* norm.cu: layer norm, RMS norm and group norm (nn_kernels.h's norm
 * geometry): the forward (a warp or a block per row: the row's mean, then
 * its variance about it, then the affine output), the input gradient (a
 * warp or a block per row) and the weight and bias gradients — per-chunk
 * partial sums over rows then a second pass over the chunks (rows with
 * every channel: layer / RMS norm), or a block per channel (group norm),
 * always in the same order: deterministic, no atomics. */
#include <cuda_runtime.h>
#include <math.h>

#include "ops/cuda/nn_kernels.h"
#include "ops/cuda/nn_rows.cuh"

#define TILE_COLS 32 /* channels per block of the partial-sum kernel */
#define TILE_ROWS 8  /* threads along the rows of that block */

/* A pair of sums, combined in the row machinery's order. */
template <typename A> __device__ __forceinline__ volt_ms<A> pair_add(volt_ms<A> a, volt_ms<A> b) {
    return volt_ms<A>{a.m + b.m, a.s + b.s};
}

/* The channel of element k of row r (norm geometry). */
__device__ __forceinline__ int64_t channel_of(int64_t r, int64_t k, const volt_cuda_norm_geom &g,
                                              int64_t cpg) {
    int64_t c0 = (g.groups == 1 ? 0 : r % g.groups) * cpg;
    return c0 + (g.inner == 1 ? k : k / g.inner);
}

template <int G, typename T>
__global__ void norm_forward_kernel(volt_cuda_norm_geom g, T *y, volt_cuda_acc<T> *mean,
                                    volt_cuda_acc<T> *rstd, const T *x, const T *w, const T *b) {
    typedef volt_cuda_acc<T> A;
    typedef volt_cuda_type<T> L;
    const int64_t n = g.n, cpg = g.n / g.inner;
    volt_for_rows<G>(g.rows, [&](int64_t r, int lane) {
        const T *xr = x + r * n;
        T *yr = y + r * n;
        A m = 0;
        if (!g.rms) {
            A s = 0;
            VOLT_ROW_FOR(k, lane, n, G) s += (A)L::load(xr[k]);
            m = volt_group_reduce<G>(s, [](A p, A q) { return p + q; }) / (A)n;
        }
        A v = 0;
        VOLT_ROW_FOR(k, lane, n, G) {
            A d = (A)L::load(xr[k]) - m;
            v += d * d;
        }
        v = volt_group_reduce<G>(v, [](A p, A q) { return p + q; }) / (A)n;
        A rs = (A)1 / sqrt(v + (A)g.eps);
        if (lane == 0) mean[r] = m, rstd[r] = rs;
        VOLT_ROW_FOR(k, lane, n, G) {
            int64_t c = channel_of(r, k, g, cpg);
            A a = rs * (w ? (A)L::load(w[c]) : (A)1);
            A o = ((A)L::load(xr[k]) - m) * a + (b ? (A)L::load(b[c]) : (A)0);
            yr[k] = L::store(o);
        }
    });
}

/* gx = rstd (h - mean(h) - xhat mean(h xhat)), h = gy w (RMS: no mean(h)). */
template <int G, typename T>
__global__ void norm_grad_input_kernel(volt_cuda_norm_geom g, T *gx, const T *gy, const T *x,
                                       const volt_cuda_acc<T> *mean, const volt_cuda_acc<T> *rstd,
                                       const T *w) {
    typedef volt_cuda_acc<T> A;
    typedef volt_cuda_type<T> L;
    const int64_t n = g.n, cpg = g.n / g.inner;
    volt_for_rows<G>(g.rows, [&](int64_t r, int lane) {
        const T *xr = x + r * n, *gr = gy + r * n;
        A m = mean[r], rs = rstd[r];
        volt_ms<A> s{0, 0};
        VOLT_ROW_FOR(k, lane, n, G) {
            A h = (A)L::load(gr[k]) * (w ? (A)L::load(w[channel_of(r, k, g, cpg)]) : (A)1);
            s.m += h;
            s.s += h * (((A)L::load(xr[k]) - m) * rs);
        }
        s = volt_group_reduce<G>(s, [](volt_ms<A> p, volt_ms<A> q) { return pair_add(p, q); });
        A c1 = g.rms ? (A)0 : s.m / (A)n, c2 = s.s / (A)n;
        VOLT_ROW_FOR(k, lane, n, G) {
            A h = (A)L::load(gr[k]) * (w ? (A)L::load(w[channel_of(r, k, g, cpg)]) : (A)1);
            A xh = ((A)L::load(xr[k]) - m) * rs;
            gx[r * n + k] = L::store(rs * (h - c1 - xh * c2));
        }
    });
}

/* Rows holding every channel (groups 1, inner 1): block (bx, chunk) sums
 * gy xhat and gy over the chunk's rows for TILE_COLS channels; partial
 * holds [chunks, n] sums of gy xhat, then [chunks, n] sums of gy. */
template <typename T>
__global__ void affine_partial_kernel(volt_cuda_acc<T> *partial, const T *gy, const T *x,
                                      const volt_cuda_acc<T> *mean, const volt_cuda_acc<T> *rstd,
                                      int64_t rows, int64_t n, int64_t rows_per_chunk) {
    typedef volt_cuda_acc<T> A;
    typedef volt_cuda_type<T> L;
    __shared__ A sw[TILE_ROWS][TILE_COLS + 1], sb[TILE_ROWS][TILE_COLS + 1];
    int tx = (int)threadIdx.x % TILE_COLS, ty = (int)threadIdx.x / TILE_COLS;
    int64_t c = (int64_t)blockIdx.x * TILE_COLS + tx, chunk = blockIdx.y;
    int64_t r0 = chunk * rows_per_chunk,
            r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
    A aw = 0, ab = 0;
    if (c < n)
        for (int64_t r = r0 + ty; r < r1; r += TILE_ROWS) {
            A gv = (A)L::load(gy[r * n + c]);
            aw += gv * ((A)L::load(x[r * n + c]) - mean[r]) * rstd[r];
            ab += gv;
        }
    sw[ty][tx] = aw;
    sb[ty][tx] = ab;
    __syncthreads();
    if (ty == 0 && c < n) {
        for (int k = 1; k < TILE_ROWS; k++) aw += sw[k][tx], ab += sb[k][tx];
        int64_t chunks = gridDim.y;
        partial[chunk * n + c] = aw;
        partial[(chunks + chunk) * n + c] = ab;
    }
}

/* gw[c], gb[c] = the chunks' partial sums of channel c, in chunk order. */
template <typename T>
__global__ void affine_finish_kernel(T *gw, T *gb, const volt_cuda_acc<T> *partial, int64_t n,
                                     int64_t chunks) {
    typedef volt_cuda_acc<T> A;
    for (int64_t c = volt_cuda_thread_index(); c < n; c += volt_cuda_thread_stride()) {
        A aw = 0, ab = 0;
        for (int64_t k = 0; k < chunks; k++)
            aw += partial[k * n + c], ab += partial[(chunks + k) * n + c];
        if (gw) gw[c] = volt_cuda_type<T>::store(aw);
        if (gb) gb[c] = volt_cuda_type<T>::store(ab);
    }
}

/* Any geometry (group norm): a block per channel, summing its elements of
 * every row that holds it. */
template <typename T>
__global__ void affine_channel_kernel(volt_cuda_norm_geom g, T *gw, T *gb, const T *gy, const T *x,
                                      const volt_cuda_acc<T> *mean, const volt_cuda_acc<T> *rstd) {
    typedef volt_cuda_acc<T> A;
    typedef volt_cuda_type<T> L;
    const int64_t cpg = g.n / g.inner, channels = g.groups * cpg,
                  per = (g.rows / g.groups) * g.inner;
    for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
        int64_t grp = c / cpg, cl = c % cpg;
        volt_ms<A> s{0, 0};
        for (int64_t e = threadIdx.x; e < per; e += blockDim.x) {
            int64_t r = (e / g.inner) * g.groups + grp, i = r * g.n + cl * g.inner + e % g.inner;
            A gv = (A)L::load(gy[i]);
            s.m += gv * ((A)L::load(x[i]) - mean[r]) * rstd[r];
            s.s += gv;
        }
        s = volt_group_reduce<VOLT_ROW_BLOCK>(
            s, [](volt_ms<A> p, volt_ms<A> q) { return pair_add(p, q); });
        if (threadIdx.x == 0) {
            if (gw) gw[c] = L::store(s.m);
            if (gb) gb[c] = L::store(s.s);
        }
    }
}

/* Chunks of rows of the partial-sum kernel: a function of the shape only.
 * 256 rows each: the finishing kernel's serial sum over chunks stays short
 * (at 64 rows, 8192 rows took it 15 us of a GPT layer norm's backward). */
static int64_t affine_chunks(int64_t rows) {
    int64_t c = (rows + 255) / 256;
    return c < 1 ? 1 : c > 1024 ? 1024 : c;
}

static bool rows_hold_channels(const volt_cuda_norm_geom *g) {
    return g->groups == 1 && g->inner == 1;
}

extern "C" int64_t volt_cuda_norm_partial_count(const volt_cuda_norm_geom *g) {
    return rows_hold_channels(g) ? 2 * affine_chunks(g->rows) * g->n : 0;
}

template <typename T>
static int forward_typed(const volt_cuda_norm_geom &g, void *y, void *mean, void *rstd,
                         const void *x, const void *w, const void *b, cudaStream_t s) {
    typedef volt_cuda_acc<T> A;
    int G = volt_row_group(g.n, 1);
    unsigned blocks = volt_row_blocks(g.rows, G);
    T *yy = (T *)y;
    A *mm = (A *)mean, *rr = (A *)rstd;
    const T *xx = (const T *)x, *ww = (const T *)w, *bb = (const T *)b;
    if (G == 32)
        norm_forward_kernel<32, T><<<blocks, VOLT_ROW_BLOCK, 0, s>>>(g, yy, mm, rr, xx, ww, bb);
    else
        norm_forward_kernel<VOLT_ROW_BLOCK, T>
            <<<blocks, VOLT_ROW_BLOCK, 0, s>>>(g, yy, mm, rr, xx, ww, bb);
    return (int)cudaGetLastError();
}

template <typename T>
static int backward_typed(const volt_cuda_norm_geom &g, void *gx, void *gw, void *gb, void *partial,
                          const void *gy, const void *x, const void *mean, const void *rstd,
                          const void *w, cudaStream_t s) {
    typedef volt_cuda_acc<T> A;
    const T *gg = (const T *)gy, *xx = (const T *)x, *ww = (const T *)w;
    const A *mm = (const A *)mean, *rr = (const A *)rstd;
    if (gx) {
        int G = volt_row_group(g.n, 1);
        unsigned blocks = volt_row_blocks(g.rows, G);
        if (G == 32)
            norm_grad_input_kernel<32, T>
                <<<blocks, VOLT_ROW_BLOCK, 0, s>>>(g, (T *)gx, gg, xx, mm, rr, ww);
        else
            norm_grad_input_kernel<VOLT_ROW_BLOCK, T>
                <<<blocks, VOLT_ROW_BLOCK, 0, s>>>(g, (T *)gx, gg, xx, mm, rr, ww);
        int err = (int)cudaGetLastError();
        if (err) return err;
    }
    if (!gw && !gb) return (int)cudaSuccess;
    if (rows_hold_channels(&g)) {
        int64_t chunks = affine_chunks(g.rows), per = (g.rows + chunks - 1) / chunks;
        dim3 grid((unsigned)((g.n + TILE_COLS - 1) / TILE_COLS), (unsigned)chunks);
        affine_partial_kernel<T>
            <<<grid, TILE_COLS * TILE_ROWS, 0, s>>>((A *)partial, gg, xx, mm, rr, g.rows, g.n, per);
        int err = (int)cudaGetLastError();
        if (err) return err;
        affine_finish_kernel<T><<<volt_cuda_blocks(g.n), VOLT_CUDA_THREADS, 0, s>>>(
            (T *)gw, (T *)gb, (const A *)partial, g.n, chunks);
    } else {
        int64_t channels = g.groups * (g.n / g.inner);
        unsigned blocks =
            (unsigned)(channels > VOLT_CUDA_MAX_BLOCKS ? VOLT_CUDA_MAX_BLOCKS : channels);
        affine_channel_kernel<T>
            <<<blocks, VOLT_ROW_BLOCK, 0, s>>>(g, (T *)gw, (T *)gb, gg, xx, mm, rr);
    }
    return (int)cudaGetLastError();
}

extern "C" int volt_cuda_launch_norm_forward(int dtype, const volt_cuda_norm_geom *g, void *y,
                                             void *mean, void *rstd, const void *x, const void *w,
                                             const void *b, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (g->rows == 0 || g->n == 0) return (int)cudaSuccess;
    switch (dtype) {
    case VOLT_CUDA_F32: return forward_typed<float>(*g, y, mean, rstd, x, w, b, s);
    case VOLT_CUDA_F64: return forward_typed<double>(*g, y, mean, rstd, x, w, b, s);
    case VOLT_CUDA_BF16: return forward_typed<__nv_bfloat16>(*g, y, mean, rstd, x, w, b, s);
    case VOLT_CUDA_F16: return forward_typed<__half>(*g, y, mean, rstd, x, w, b, s);
    }
    return (int)cudaErrorInvalidValue;
}

extern "C" int volt_cuda_launch_norm_backward(int dtype, const volt_cuda_norm_geom *g, void *gx,
                                              void *gw, void *gb, void *partial, const void *gy,
                                              const void *x, const void *mean, const void *rstd,
                                              const void *w, void *stream) {
    cudaStream_t s = (cudaStream_t)stream;
    if (g->rows == 0 || g->n == 0) return (int)cudaSuccess; /* the caller zeroes gw, gb */
    switch (dtype) {
    case VOLT_CUDA_F32:
        return backward_typed<float>(*g, gx, gw, gb, partial, gy, x, mean, rstd, w, s);
    case VOLT_CUDA_F64:
        return backward_typed<double>(*g, gx, gw, gb, partial, gy, x, mean, rstd, w, s);
    case VOLT_CUDA_BF16:
        return backward_typed<__nv_bfloat16>(*g, gx, gw, gb, partial, gy, x, mean, rstd, w, s);
    case VOLT_CUDA_F16:
        return backward_typed<__half>(*g, gx, gw, gb, partial, gy, x, mean, rstd, w, s);
    }
    return (int)cudaErrorInvalidValue;
}
