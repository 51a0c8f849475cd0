/* conv_c1_pool.c: Conv2d(1, o, 3, padding=1) + ReLU + MaxPool2d(2) in f32 in
 * one pass (see conv_c1_pool.h). The input is copied once into zero-padded
 * planes with each row split into its even and odd columns, so that the
 * four convolution outputs of a run of pooling windows — rows 2py and
 * 2py + 1, columns 2j and 2j + 1 — are plain vectors: output column 2j + dx
 * reads padded column 2j + dx + kx, the even half at j + (dx + kx) / 2 when
 * dx + kx is even, the odd half otherwise. Forward: per image (OpenMP over
 * the images), each run of 16 windows loads its 4 x 4 input vectors once
 * and gives every channel 36 fused multiply-adds (in conv_c1.c's order, so
 * the same bits), the ReLU, and the pooling kernel's comparisons. Weight
 * gradient: each thread takes a range of channels and walks the images;
 * the pooled gradient, split by the code into the four window positions,
 * meets the same input vectors. Row tails are masked. AVX-512 F/BW/VL where
 * cpuid has them and conv_c1's SIMD switch is on; plain C elsewhere. */
#include "ops/cpu/conv_c1_pool.h"
#include "ops/cpu/bf16_round.h"
#include "ops/cpu/conv_c1.h"
#include "ops/cpu/parallel.h"

#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_PATH 1
#else
#define HAVE_AVX512_PATH 0
#endif

bool volt_cpu_conv_c1_relu_pool_applies(const volt_conv_geom *g) {
    return volt_cpu_conv_c1_3x3_applies(g) && g->h >= 2 && g->w >= 2;
}

/* The split padded input: per image h + 2 rows, each `half` even columns
 * then `half` odd ones of the padded row (zero border, zero past it). */
typedef struct {
    float *data;
    int64_t half, row, image; /* floats per half row, row, image */
} split_input;

static bool split_copy(const volt_conv_geom *g, const float *src, split_input *s) {
    s->half = (g->w + 3) / 2;
    s->row = 2 * s->half;
    s->image = (g->h + 2) * s->row;
    s->data = calloc((size_t)(g->n * s->image), sizeof *s->data);
    if (!s->data) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "conv2d_relu_max_pool2x2: out of memory (input)");
        return false;
    }
    for (int64_t i = 0; i < g->n; i++)
        for (int64_t y = 0; y < g->h; y++) {
            const float *in = src + (i * g->h + y) * g->w;
            float *row = s->data + i * s->image + (y + 1) * s->row;
            for (int64_t x = 0; x < g->w; x++) /* padded column x + 1 */
                row[(x + 1) % 2 * s->half + (x + 1) / 2] = in[x];
        }
    return true;
}

/* ------------------------------------------------------------ portable */

/* Whether v takes over the running maximum m: greater, or NaN. */
static inline bool takes(float v, float m) { return v > m || isnan(v); }

/* Padded column c of padded row r of one image's split input. */
static inline float at(const split_input *s, const float *xi, int64_t r, int64_t c) {
    return xi[r * s->row + c % 2 * s->half + c / 2];
}

static void forward_image_c(const volt_conv_geom *g, const split_input *s, const float *xi,
                            const float *w, const float *b, bool round, float *y, uint8_t *code) {
    int64_t ph = g->h / 2, pw = g->w / 2;
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t py = 0; py < ph; py++)
            for (int64_t px = 0; px < pw; px++) {
                float c[4];
                for (int p = 0; p < 4; p++) { /* conv_c1.c's expression */
                    int64_t r = 2 * py + p / 2, x = 2 * px + p % 2;
                    float v = b ? b[o] : 0.0f;
                    for (int64_t k = 0; k < 9; k++)
                        v += w[o * 9 + k] * at(s, xi, r + k / 3, x + k % 3);
                    c[p] = v < 0 ? 0.0f : v;
                    if (round) c[p] = volt_round_bf16(c[p]);
                }
                /* pool_fast.c's order: each row's pair, then the rows */
                int top = takes(c[1], c[0]), bottom = 2 + takes(c[3], c[2]);
                int best = takes(c[bottom], c[top]) ? bottom : top;
                int64_t at_out = (o * ph + py) * pw + px;
                y[at_out] = c[best];
                if (code)
                    code[at_out] = (uint8_t)(c[best] <= 0 ? VOLT_CONV_POOL_NO_GRADIENT : best);
            }
}

/* Channel o's 9 weight gradients and bias gradient, summed in double. */
static void weight_grad_channel_c(const volt_conv_geom *g, const split_input *s, const float *gy,
                                  const uint8_t *code, int64_t o, float *dw, float *db) {
    int64_t ph = g->h / 2, pw = g->w / 2;
    double acc[9] = {0}, accb = 0;
    for (int64_t i = 0; i < g->n; i++) {
        int64_t plane = (i * g->o + o) * ph * pw;
        const float *xi = s->data + i * s->image;
        for (int64_t py = 0; py < ph; py++)
            for (int64_t px = 0; px < pw; px++) {
                int p = code[plane + py * pw + px];
                if (p == VOLT_CONV_POOL_NO_GRADIENT) continue;
                double v = gy[plane + py * pw + px];
                int64_t r = 2 * py + p / 2, x = 2 * px + p % 2;
                accb += v;
                for (int64_t k = 0; k < 9; k++) acc[k] += v * at(s, xi, r + k / 3, x + k % 3);
            }
    }
    for (int k = 0; k < 9; k++) dw[k] = (float)acc[k];
    if (db) *db = (float)accb;
}

static void weight_grad_channels_c(const volt_conv_geom *g, const split_input *s, const float *gy,
                                   const uint8_t *code, int64_t o0, int64_t o1, float *dw,
                                   float *db) {
    for (int64_t o = o0; o < o1; o++)
        weight_grad_channel_c(g, s, gy, code, o, dw + o * 9, db ? db + o : NULL);
}

/* ------------------------------------------------------------- AVX-512 */

#if HAVE_AVX512_PATH
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512 static inline __mmask16 lanes(int64_t n) {
    return (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1u);
}

AVX512 static inline __mmask16 takes16(__m512 v, __m512 m) {
    return (__mmask16)(_mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) |
                       _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
}

/* The 4 x 4 input vectors of windows j.. of pooled row py: t[r][q] is
 * padded row 2 py + r, padded columns 2 (j + lane) + q. */
AVX512 static inline void load_window_inputs(const split_input *s, const float *xi, int64_t py,
                                             int64_t j, __mmask16 m, __m512 t[4][4]) {
    for (int r = 0; r < 4; r++) {
        const float *even = xi + (2 * py + r) * s->row + j, *odd = even + s->half;
        t[r][0] = _mm512_maskz_loadu_ps(m, even);
        t[r][1] = _mm512_maskz_loadu_ps(m, odd);
        t[r][2] = _mm512_maskz_loadu_ps(m, even + 1);
        t[r][3] = _mm512_maskz_loadu_ps(m, odd + 1);
    }
}

AVX512 static void forward_image_avx512(const volt_conv_geom *g, const split_input *s,
                                        const float *xi, const float *w, const float *b, bool round,
                                        float *y, uint8_t *code) {
    int64_t ph = g->h / 2, pw = g->w / 2, plane = ph * pw;
    for (int64_t py = 0; py < ph; py++)
        for (int64_t j = 0; j < pw; j += 16) {
            __mmask16 m = lanes(pw - j);
            __m512 t[4][4];
            load_window_inputs(s, xi, py, j, m, t);
            for (int64_t o = 0; o < g->o; o++) {
                const float *wo = w + o * 9;
                __m512 c[4];
                for (int p = 0; p < 4; p++) { /* conv_c1.c's order of the taps */
                    int dy = p / 2, dx = p % 2;
                    __m512 v = _mm512_set1_ps(b ? b[o] : 0.0f);
                    for (int k = 0; k < 9; k++)
                        v = _mm512_fmadd_ps(_mm512_set1_ps(wo[k]), t[dy + k / 3][dx + k % 3], v);
                    c[p] = _mm512_max_ps(_mm512_setzero_ps(), v); /* NaN and -0 pass */
                    if (round) c[p] = volt_round_bf16_16(c[p]);
                }
                __mmask16 kt = takes16(c[1], c[0]), kb = takes16(c[3], c[2]);
                __m512 top = _mm512_mask_blend_ps(kt, c[0], c[1]);
                __m512 bottom = _mm512_mask_blend_ps(kb, c[2], c[3]);
                __mmask16 kr = takes16(bottom, top);
                __m512 best = _mm512_mask_blend_ps(kr, top, bottom);
                int64_t at_out = o * plane + py * pw + j;
                _mm512_mask_storeu_ps(y + at_out, m, best);
                if (code) {
                    __mmask16 dx = (__mmask16)((kr & kb) | (~kr & kt));
                    __mmask16 none = _mm512_cmp_ps_mask(best, _mm512_setzero_ps(), _CMP_LE_OQ);
                    __m128i k =
                        _mm_or_si128(_mm_maskz_set1_epi8(dx, 1), _mm_maskz_set1_epi8(kr, 2));
                    k = _mm_mask_blend_epi8(none, k, _mm_set1_epi8(VOLT_CONV_POOL_NO_GRADIENT));
                    _mm_mask_storeu_epi8(code + at_out, m, k);
                }
            }
        }
}

/* Channel o's gradients over every image: 9 + 1 vector sums, reduced at
 * the end. */
AVX512 static void weight_grad_channel_avx512(const volt_conv_geom *g, const split_input *s,
                                              const float *gy, const uint8_t *code, int64_t o,
                                              float *dw, float *db) {
    int64_t ph = g->h / 2, pw = g->w / 2, plane = ph * pw;
    __m512 acc[10];
    for (int k = 0; k < 10; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t i = 0; i < g->n; i++) {
        const float *xi = s->data + i * s->image, *gp = gy + (i * g->o + o) * plane;
        const uint8_t *cp = code + (i * g->o + o) * plane;
        for (int64_t py = 0; py < ph; py++)
            for (int64_t j = 0; j < pw; j += 16) {
                __mmask16 m = lanes(pw - j);
                __m512 v = _mm512_maskz_loadu_ps(m, gp + py * pw + j);
                __m128i k = _mm_maskz_loadu_epi8(m, cp + py * pw + j);
                __m512 t[4][4];
                load_window_inputs(s, xi, py, j, m, t);
                for (int p = 0; p < 4; p++) {
                    __m512 vp =
                        _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(k, _mm_set1_epi8((char)p)), v);
                    int dy = p / 2, dx = p % 2;
                    acc[9] = _mm512_add_ps(acc[9], vp);
                    for (int q = 0; q < 9; q++)
                        acc[q] = _mm512_fmadd_ps(vp, t[dy + q / 3][dx + q % 3], acc[q]);
                }
            }
    }
    for (int q = 0; q < 9; q++) dw[q] = _mm512_reduce_add_ps(acc[q]);
    if (db) *db = _mm512_reduce_add_ps(acc[9]);
}

AVX512 static void weight_grad_channels_avx512(const volt_conv_geom *g, const split_input *s,
                                               const float *gy, const uint8_t *code, int64_t o0,
                                               int64_t o1, float *dw, float *db) {
    for (int64_t o = o0; o < o1; o++)
        weight_grad_channel_avx512(g, s, gy, code, o, dw + o * 9, db ? db + o : NULL);
}
#endif

static bool use_simd(void) {
#if HAVE_AVX512_PATH
    __builtin_cpu_init();
    return volt_cpu_conv_c1_simd_wanted() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

/* ---------------------------------------------------------------- entry */

/* Threads worth using: 36 multiply-adds per pooled output. */
static int threads_for(const volt_conv_geom *g) {
    return volt_cpu_threads_for_flops(72.0 * (double)(g->n * g->o * (g->h / 2) * (g->w / 2)));
}

volt_status volt_cpu_conv_c1_relu_pool_forward_f32(const volt_conv_geom *g, const float *src,
                                                   const float *w, const float *b, bool round_bf16,
                                                   float *dst, uint8_t *code) {
    split_input s;
    if (!split_copy(g, src, &s)) return VOLT_ERR_OUT_OF_MEMORY;
    void (*image)(const volt_conv_geom *, const split_input *, const float *, const float *,
                  const float *, bool, float *, uint8_t *) = forward_image_c;
#if HAVE_AVX512_PATH
    if (use_simd()) image = forward_image_avx512;
#endif
    int64_t out = g->o * (g->h / 2) * (g->w / 2);
#pragma omp parallel for num_threads(threads_for(g)) schedule(static)
    for (int64_t i = 0; i < g->n; i++)
        image(g, &s, s.data + i * s.image, w, b, round_bf16, dst + i * out,
              code ? code + i * out : NULL);
    free(s.data);
    return VOLT_OK;
}

volt_status volt_cpu_conv_c1_relu_pool_backward_weights_f32(const volt_conv_geom *g,
                                                            const float *src, const float *diff_dst,
                                                            const uint8_t *code, float *diff_w,
                                                            float *diff_b) {
    split_input s;
    if (!split_copy(g, src, &s)) return VOLT_ERR_OUT_OF_MEMORY;
    void (*channels)(const volt_conv_geom *, const split_input *, const float *, const uint8_t *,
                     int64_t, int64_t, float *, float *) = weight_grad_channels_c;
#if HAVE_AVX512_PATH
    if (use_simd()) channels = weight_grad_channels_avx512;
#endif
    int threads = threads_for(g);
    if (threads > g->o) threads = (int)g->o;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++)
        channels(g, &s, diff_dst, code, g->o * t / threads, g->o * (t + 1) / threads, diff_w,
                 diff_b);
    free(s.data);
    return VOLT_OK;
}
