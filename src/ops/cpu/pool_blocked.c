/* pool_blocked.c: ReLU + 2x2 max pooling on channel blocks (see
 * pool_blocked.h). In aBcd16b, and in NHWC, a pixel's 16 channels of a
 * group are one vector, so each output vector is four loads, four ReLUs
 * (volt's expression) and pool_fast.c's comparisons, in its order; it
 * leaves as a scatter into the 16 NCHW planes, and its codes as 16
 * contiguous bytes. Backward: one gather of the 16 planes' gradients per
 * output, split by the codes into the four window positions, four stores
 * (of f32, or of bf16 for the bf16 convolution's backward).
 * OpenMP over the (image, 16-channel group) pairs. */
#include "ops/cpu/pool_blocked.h"
#include "ops/cpu/bf16_round.h"
#include "ops/cpu/parallel.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_PATH 1
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#else
#define HAVE_AVX512_PATH 0
#endif

bool volt_cpu_pool_blocked16_available(void) {
#if HAVE_AVX512_PATH
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

/* Either way a pass moves 4 bytes per input element and 5 per output. */
static int threads_for(const volt_pool_geom *g) {
    double in = (double)(g->n * g->c * g->h * g->w), out = (double)(g->n * g->c * g->oh * g->ow);
    return volt_cpu_threads_for_bytes(4.0 * in + 5.0 * out);
}

#if HAVE_AVX512_PATH
/* Where v takes over from m (greater, or NaN): pool_fast.c's rule. */
AVX512 static inline __mmask16 takes16(__m512 v, __m512 m) {
    return (__mmask16)(_mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) |
                       _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
}

AVX512 static inline __m512 relu16(__m512 v) { return _mm512_max_ps(_mm512_setzero_ps(), v); }

/* The 16 NCHW planes of a block: lane l at l * plane. */
AVX512 static inline __m512i plane_offsets(int64_t plane) {
    return _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)plane));
}

/* One 16-channel group of an image: x (pixel (y, x) at (y w + x) ps, 16
 * channels there) -> dst's 16 planes, codes [oh][ow][16]. */
AVX512 static void forward_block(const volt_pool_geom *g, int64_t ps, bool round, const float *x,
                                 float *dst, uint8_t *code) {
    int64_t plane = g->oh * g->ow, row = g->w * ps;
    __m512i lanes = plane_offsets(plane);
    for (int64_t py = 0; py < g->oh; py++)
        for (int64_t px = 0; px < g->ow; px++) {
            const float *r0 = x + 2 * py * row + 2 * px * ps, *r1 = r0 + row;
            __m512 a = relu16(_mm512_loadu_ps(r0)), b = relu16(_mm512_loadu_ps(r0 + ps));
            __m512 c = relu16(_mm512_loadu_ps(r1)), d = relu16(_mm512_loadu_ps(r1 + ps));
            if (round) {
                a = volt_round_bf16_16(a), b = volt_round_bf16_16(b);
                c = volt_round_bf16_16(c), d = volt_round_bf16_16(d);
            }
            __mmask16 kt = takes16(b, a), kb = takes16(d, c);
            __m512 top = _mm512_mask_blend_ps(kt, a, b), bottom = _mm512_mask_blend_ps(kb, c, d);
            __mmask16 kr = takes16(bottom, top);
            __m512 best = _mm512_mask_blend_ps(kr, top, bottom);
            _mm512_i32scatter_ps(dst + py * g->ow + px, lanes, best, 4);
            if (code) {
                __mmask16 dx = (__mmask16)((kr & kb) | (~kr & kt));
                __mmask16 none = _mm512_cmp_ps_mask(best, _mm512_setzero_ps(), _CMP_LE_OQ);
                __m128i k = _mm_or_si128(_mm_maskz_set1_epi8(dx, 1), _mm_maskz_set1_epi8(kr, 2));
                k = _mm_mask_blend_epi8(none, k, _mm_set1_epi8(4));
                _mm_storeu_si128((__m128i *)(code + (py * g->ow + px) * 16), k);
            }
        }
}

/* v stored at p: 16 floats, or (bf16) 16 bf16 values, v rounded first. */
AVX512 static inline void store16(void *p, __m512 v, bool bf16) {
    if (!bf16) {
        _mm512_storeu_ps(p, v);
        return;
    }
    volt_bf16_store_16(p, v);
}

/* The group's 16 channels at every pixel of gx (laid out as forward_block's
 * x; f32 or bf16 elements), every one written. */
AVX512 static void backward_block(const volt_pool_geom *g, int64_t ps, const float *gy,
                                  const uint8_t *code, void *gx, bool bf16) {
    int64_t plane = g->oh * g->ow, row = g->w * ps, es = bf16 ? 2 : 4;
    __m512i lanes = plane_offsets(plane);
    char *base = gx;
    for (int64_t py = 0; py < g->oh; py++) {
        char *r0 = base + 2 * py * row * es, *r1 = r0 + row * es;
        for (int64_t px = 0; px < g->ow; px++) {
            __m512 v = _mm512_i32gather_ps(lanes, gy + py * g->ow + px, 4);
            __m128i k = _mm_loadu_si128((const __m128i *)(code + (py * g->ow + px) * 16));
            char *at0 = r0 + 2 * px * ps * es, *at1 = r1 + 2 * px * ps * es;
            store16(at0, _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(k, _mm_set1_epi8(0)), v), bf16);
            store16(at0 + ps * es, _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(k, _mm_set1_epi8(1)), v),
                    bf16);
            store16(at1, _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(k, _mm_set1_epi8(2)), v), bf16);
            store16(at1 + ps * es, _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(k, _mm_set1_epi8(3)), v),
                    bf16);
        }
        if (g->w > 2 * g->ow) { /* the column floor mode leaves out */
            store16(r0 + 2 * g->ow * ps * es, _mm512_setzero_ps(), bf16);
            store16(r1 + 2 * g->ow * ps * es, _mm512_setzero_ps(), bf16);
        }
    }
    if (g->h > 2 * g->oh) /* the row floor mode leaves out */
        for (int64_t x = 0; x < g->w; x++)
            store16(base + (2 * g->oh * row + x * ps) * es, _mm512_setzero_ps(), bf16);
}

/* Where group q (of c / 16) of image i starts in the blocked layout, block
 * 16 (aBcd16b) or c (NHWC); its pixels are `block` floats apart. */
static int64_t group_offset(const volt_pool_geom *g, int64_t block, int64_t i, int64_t q) {
    return i * g->c * g->h * g->w + (block == 16 ? q * 16 * g->h * g->w : q * 16);
}
#endif

void volt_cpu_relu_pool2x2_blocked_f32(const volt_pool_geom *g, int64_t block, bool round_bf16,
                                       const float *src, float *dst, uint8_t *code) {
#if HAVE_AVX512_PATH
    int64_t groups = g->c / 16, n = g->n * groups, out = 16 * g->oh * g->ow;
#pragma omp parallel for num_threads(threads_for(g)) schedule(static)
    for (int64_t p = 0; p < n; p++) { /* group p % groups of image p / groups */
        const float *x = src + group_offset(g, block, p / groups, p % groups);
        forward_block(g, block, round_bf16, x, dst + p * out, code ? code + p * out : NULL);
    }
#else
    (void)g, (void)block, (void)round_bf16, (void)src, (void)dst, (void)code;
#endif
}

void volt_cpu_relu_pool2x2_blocked_backward(const volt_pool_geom *g, int64_t block,
                                            const float *diff_dst, const uint8_t *code,
                                            void *diff_src, bool bf16) {
#if HAVE_AVX512_PATH
    int64_t groups = g->c / 16, n = g->n * groups, out = 16 * g->oh * g->ow;
#pragma omp parallel for num_threads(threads_for(g)) schedule(static)
    for (int64_t p = 0; p < n; p++) {
        int64_t at = group_offset(g, block, p / groups, p % groups);
        void *gx = bf16 ? (void *)((uint16_t *)diff_src + at) : (void *)((float *)diff_src + at);
        backward_block(g, block, diff_dst + p * out, code + p * out, gx, bf16);
    }
#else
    (void)g, (void)block, (void)diff_dst, (void)code, (void)diff_src, (void)bf16;
#endif
}
