/* conv_c1.c: Conv2d(1, o, 3, padding=1) in f32 on contiguous NCHW (see
 * conv_c1.h). The input is copied once into zero-padded planes [n, h + 2,
 * w + 2] (small: one channel), so every tap is a plain load. Forward: per
 * image (OpenMP over the images), each run of 16 outputs of a row loads
 * its 9 shifted input vectors once and gives every output channel 9 fused
 * multiply-adds. Weight gradient: each thread takes a range of output
 * channels and walks the images, streaming its channels' planes of each
 * (contiguous) into 9 + 1 vector accumulators per channel, reduced at the
 * end: every channel is summed in the same order whatever the thread
 * count. Row tails are masked. The ReLU of conv2d_relu can ride along: on
 * the stores of the forward pass, and as the mask of the gradient's loads. */
#include "ops/cpu/conv_c1.h"
#include "ops/cpu/parallel.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_PATH 1
#else
#define HAVE_AVX512_PATH 0
#endif

/* Channels whose weight-gradient sums a thread keeps at once (AVX-512). */
#define ACC_CHANNELS 64

static bool simd_wanted = true;

bool volt_cpu_conv_c1_set_simd(bool enabled) {
    bool was = simd_wanted;
    simd_wanted = enabled;
    return was;
}

bool volt_cpu_conv_c1_simd_wanted(void) { return simd_wanted; }

bool volt_cpu_conv_c1_3x3_applies(const volt_conv_geom *g) {
    return g->groups == 1 && g->c == 1 && g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 &&
           g->dh == 1 && g->dw == 1 && g->ph == 1 && g->pw == 1 && g->oh == g->h && g->ow == g->w &&
           g->n > 0 && g->o > 0 && g->h > 0 && g->w > 0;
}

/* src [n, 1, h, w] with a zero border: [n, h + 2, w + 2]; NULL (error
 * recorded) when out of memory. */
static float *padded_copy(const volt_conv_geom *g, const float *src) {
    int64_t pw = g->w + 2, ph = g->h + 2;
    float *p = calloc((size_t)(g->n * ph * pw), sizeof *p);
    if (!p) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "conv2d: out of memory (padded input)");
        return NULL;
    }
    for (int64_t i = 0; i < g->n; i++)
        for (int64_t y = 0; y < g->h; y++)
            memcpy(p + (i * ph + y + 1) * pw + 1, src + (i * g->h + y) * g->w,
                   (size_t)g->w * sizeof *p);
    return p;
}

/* Threads worth using for `elements` outputs (9 multiply-adds each). */
static int threads_for(int64_t elements) {
    return volt_cpu_threads_for_flops(18.0 * (double)elements);
}

/* ------------------------------------------------------------ portable */

/* One image: xp [h + 2, w + 2] -> y [o, h, w], through max(., 0) when relu
 * (relu_simd.c's expressions: NaN passes). */
static void forward_image_c(const volt_conv_geom *g, const float *xp, const float *w,
                            const float *b, bool relu, float *y) {
    int64_t pw = g->w + 2;
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t r = 0; r < g->h; r++)
            for (int64_t x = 0; x < g->w; x++) {
                float s = b ? b[o] : 0.0f;
                for (int64_t k = 0; k < 9; k++)
                    s += w[o * 9 + k] * xp[(r + k / 3) * pw + x + k % 3];
                y[(o * g->h + r) * g->w + x] = relu && s < 0 ? 0.0f : s;
            }
}

/* Channel o's 9 weight gradients and bias gradient, summed in double; gy
 * masked by relu_y > 0 (NaN passes) when relu_y is not NULL. */
static void weight_grad_channel_c(const volt_conv_geom *g, const float *xp, const float *gy,
                                  const float *relu_y, int64_t o, float *dw, float *db) {
    int64_t pw = g->w + 2, plane = (g->h + 2) * pw;
    double acc[9] = {0}, accb = 0;
    for (int64_t i = 0; i < g->n; i++) {
        int64_t at = (i * g->o + o) * g->h * g->w;
        const float *gp = gy + at, *yp = relu_y ? relu_y + at : NULL, *xi = xp + i * plane;
        for (int64_t r = 0; r < g->h; r++)
            for (int64_t x = 0; x < g->w; x++) {
                double v = yp && yp[r * g->w + x] <= 0 ? 0.0f : gp[r * g->w + x];
                accb += v;
                for (int64_t k = 0; k < 9; k++) acc[k] += v * xi[(r + k / 3) * pw + x + k % 3];
            }
    }
    for (int k = 0; k < 9; k++) dw[k] = (float)acc[k];
    if (db) *db = (float)accb;
}

static void weight_grad_channels_c(const volt_conv_geom *g, const float *xp, const float *gy,
                                   const float *relu_y, int64_t o0, int64_t o1, float *dw,
                                   float *db) {
    for (int64_t o = o0; o < o1; o++)
        weight_grad_channel_c(g, xp, gy, relu_y, o, dw + o * 9, db ? db + o : NULL);
}

/* ------------------------------------------------------------- AVX-512 */

#if HAVE_AVX512_PATH
#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __mmask16 lanes(int64_t n) {
    return (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1u);
}

AVX512 static void forward_image_avx512(const volt_conv_geom *g, const float *xp, const float *w,
                                        const float *b, bool relu, float *y) {
    int64_t pw = g->w + 2, hw = g->h * g->w;
    for (int64_t r = 0; r < g->h; r++)
        for (int64_t x = 0; x < g->w; x += 16) {
            __mmask16 m = lanes(g->w - x);
            __m512 t[9];
            for (int k = 0; k < 9; k++)
                t[k] = _mm512_maskz_loadu_ps(m, xp + (r + k / 3) * pw + x + k % 3);
            float *out = y + r * g->w + x;
            for (int64_t o = 0; o < g->o; o++) {
                const float *wo = w + o * 9;
                __m512 s = _mm512_set1_ps(b ? b[o] : 0.0f);
                for (int k = 0; k < 9; k++) s = _mm512_fmadd_ps(_mm512_set1_ps(wo[k]), t[k], s);
                if (relu) s = _mm512_max_ps(_mm512_setzero_ps(), s); /* NaN and -0 pass */
                _mm512_mask_storeu_ps(out + o * hw, m, s);
            }
        }
}

/* Adds plane gp [h, w] (one image, one channel; masked by yp > 0, NaN
 * passing, when yp is not NULL) times the 9 shifted views of xi [h + 2,
 * w + 2] into acc[0..8], and gp itself into acc[9]. */
AVX512 static void weight_grad_plane_avx512(const volt_conv_geom *g, const float *xi,
                                            const float *gp, const float *yp, __m512 *acc) {
    int64_t pw = g->w + 2;
    __m512 a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5];
    __m512 a6 = acc[6], a7 = acc[7], a8 = acc[8], ab = acc[9];
    for (int64_t r = 0; r < g->h; r++)
        for (int64_t x = 0; x < g->w; x += 16) {
            __mmask16 m = lanes(g->w - x);
            __m512 v = _mm512_maskz_loadu_ps(m, gp + r * g->w + x);
            if (yp) {
                __m512 y = _mm512_maskz_loadu_ps(m, yp + r * g->w + x);
                v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_NLE_UQ), v);
            }
            const float *t0 = xi + r * pw + x, *t1 = t0 + pw, *t2 = t1 + pw;
            ab = _mm512_add_ps(ab, v);
            a0 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, t0), a0);
            a1 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, t0 + 1), a1);
            a2 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, t0 + 2), a2);
            a3 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, t1), a3);
            a4 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, t1 + 1), a4);
            a5 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, t1 + 2), a5);
            a6 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, t2), a6);
            a7 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, t2 + 1), a7);
            a8 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, t2 + 2), a8);
        }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5;
    acc[6] = a6, acc[7] = a7, acc[8] = a8, acc[9] = ab;
}

/* Channels [o0, o1): image by image (each thread streams its channels'
 * planes of an image, contiguous), each channel's sums in a fixed order. */
AVX512 static void weight_grad_channels_avx512(const volt_conv_geom *g, const float *xp,
                                               const float *gy, const float *relu_y, int64_t o0,
                                               int64_t o1, float *dw, float *db) {
    __m512 acc[ACC_CHANNELS][10];
    int64_t plane = (g->h + 2) * (g->w + 2), hw = g->h * g->w;
    for (int64_t c0 = o0; c0 < o1; c0 += ACC_CHANNELS) {
        int64_t c1 = c0 + ACC_CHANNELS < o1 ? c0 + ACC_CHANNELS : o1;
        for (int64_t o = c0; o < c1; o++)
            for (int k = 0; k < 10; k++) acc[o - c0][k] = _mm512_setzero_ps();
        for (int64_t i = 0; i < g->n; i++)
            for (int64_t o = c0; o < c1; o++) {
                int64_t at = (i * g->o + o) * hw;
                weight_grad_plane_avx512(g, xp + i * plane, gy + at, relu_y ? relu_y + at : NULL,
                                         acc[o - c0]);
            }
        for (int64_t o = c0; o < c1; o++) {
            for (int k = 0; k < 9; k++) dw[o * 9 + k] = _mm512_reduce_add_ps(acc[o - c0][k]);
            if (db) db[o] = _mm512_reduce_add_ps(acc[o - c0][9]);
        }
    }
}

static bool use_simd(void) {
    __builtin_cpu_init();
    return simd_wanted && __builtin_cpu_supports("avx512f");
}
#endif

/* ---------------------------------------------------------------- entry */

static volt_status forward(const volt_conv_geom *g, const float *src, const float *w,
                           const float *b, bool relu, float *dst) {
    float *xp = padded_copy(g, src);
    if (!xp) return VOLT_ERR_OUT_OF_MEMORY;
    void (*image)(const volt_conv_geom *, const float *, const float *, const float *, bool,
                  float *) = forward_image_c;
#if HAVE_AVX512_PATH
    if (use_simd()) image = forward_image_avx512;
#endif
    int64_t in = (g->h + 2) * (g->w + 2), out = g->o * g->h * g->w;
#pragma omp parallel for num_threads(threads_for(g->n *out)) schedule(static)
    for (int64_t i = 0; i < g->n; i++) image(g, xp + i * in, w, b, relu, dst + i * out);
    free(xp);
    return VOLT_OK;
}

volt_status volt_cpu_conv_c1_3x3_forward_f32(const volt_conv_geom *g, const float *src,
                                             const float *w, const float *b, float *dst) {
    return forward(g, src, w, b, false, dst);
}

volt_status volt_cpu_conv_c1_3x3_relu_forward_f32(const volt_conv_geom *g, const float *src,
                                                  const float *w, const float *b, float *dst) {
    return forward(g, src, w, b, true, dst);
}

volt_status volt_cpu_conv_c1_3x3_backward_weights_f32(const volt_conv_geom *g, const float *src,
                                                      const float *diff_dst, float *diff_w,
                                                      float *diff_b) {
    return volt_cpu_conv_c1_3x3_relu_backward_weights_f32(g, src, diff_dst, NULL, diff_w, diff_b);
}

volt_status volt_cpu_conv_c1_3x3_relu_backward_weights_f32(const volt_conv_geom *g,
                                                           const float *src, const float *diff_dst,
                                                           const float *relu_out, float *diff_w,
                                                           float *diff_b) {
    float *xp = padded_copy(g, src);
    if (!xp) return VOLT_ERR_OUT_OF_MEMORY;
    void (*channels)(const volt_conv_geom *, const float *, const float *, const float *, int64_t,
                     int64_t, float *, float *) = weight_grad_channels_c;
#if HAVE_AVX512_PATH
    if (use_simd()) channels = weight_grad_channels_avx512;
#endif
    int threads = threads_for(g->n * g->o * g->h * g->w);
    if (threads > g->o) threads = (int)g->o;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++)
        channels(g, xp, diff_dst, relu_out, g->o * t / threads, g->o * (t + 1) / threads, diff_w,
                 diff_b);
    free(xp);
    return VOLT_OK;
}
