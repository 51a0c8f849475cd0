/* pool_fast.c: 2x2 stride-2 max pooling in f32 on contiguous NCHW, forward
 * (maximum and a one-byte argmax per output) and backward (each input
 * gradient written once: no zero fill and scatter). One output row at a
 * time from its two input rows, a plane per call; OpenMP over the planes
 * above a size where the threads pay. The AVX-512 row kernels (compiled with a target
 * attribute, used only where cpuid reports F, BW and VL) handle 16 outputs
 * per step: the two input rows split into their even and odd columns with
 * two-source permutes, the four candidates folded in the reference's order;
 * the portable row kernels are plain C. */
#include "ops/cpu/pool_fast.h"
#include "ops/cpu/parallel.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_PATH 1
#else
#define HAVE_AVX512_PATH 0
#endif

/* One plane: x [h, w] -> y [oh, ow] (argmax NULL: not wanted), and back:
 * gy [oh, ow] -> gx [h, w]. */
typedef void (*forward_plane_fn)(const volt_pool_geom *g, const float *x, float *y,
                                 uint8_t *argmax);
typedef void (*backward_plane_fn)(const volt_pool_geom *g, const float *gy, const uint8_t *argmax,
                                  float *gx);

static bool simd_wanted = true;

bool volt_cpu_max_pool2x2_applies(const volt_pool_geom *g) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
           g->dh == 1 && g->dw == 1 && g->oh == g->h / 2 && g->ow == g->w / 2 && g->oh > 0 &&
           g->ow > 0;
}

/* ------------------------------------------------------------ portable */

/* The reference's step: v replaces the running maximum when greater, or
 * when NaN. */
static inline bool takes(float v, float m) { return v > m || isnan(v); }

static void forward_row_c(const float *r0, const float *r1, int64_t ow, float *y, uint8_t *argmax) {
    for (int64_t j = 0; j < ow; j++) {
        const float c[4] = {r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
        float m = c[0];
        uint8_t k = 0;
        for (uint8_t i = 1; i < 4; i++)
            if (takes(c[i], m)) m = c[i], k = i;
        y[j] = m;
        if (argmax) argmax[j] = k;
    }
}

static void forward_plane_c(const volt_pool_geom *g, const float *x, float *y, uint8_t *argmax) {
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const float *r0 = x + 2 * oy * g->w;
        forward_row_c(r0, r0 + g->w, g->ow, y + oy * g->ow, argmax ? argmax + oy * g->ow : NULL);
    }
}

static void backward_row_c(const float *gy, const uint8_t *argmax, int64_t ow, int64_t w, float *g0,
                           float *g1) {
    for (int64_t j = 0; j < ow; j++) {
        float g = gy[j];
        unsigned k = argmax[j];
        g0[2 * j] = k == 0 ? g : 0.0f;
        g0[2 * j + 1] = k == 1 ? g : 0.0f;
        g1[2 * j] = k == 2 ? g : 0.0f;
        g1[2 * j + 1] = k == 3 ? g : 0.0f;
    }
    for (int64_t x = 2 * ow; x < w; x++) g0[x] = g1[x] = 0.0f;
}

static void backward_plane_c(const volt_pool_geom *g, const float *gy, const uint8_t *argmax,
                             float *gx) {
    for (int64_t oy = 0; oy < g->oh; oy++)
        backward_row_c(gy + oy * g->ow, argmax + oy * g->ow, g->ow, g->w, gx + 2 * oy * g->w,
                       gx + (2 * oy + 1) * g->w);
}

/* ------------------------------------------------------------- AVX-512 */

#if HAVE_AVX512_PATH
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* Lanes [0, n) of 16, n in [0, 16]. */
AVX512 static inline __mmask16 lanes(int64_t n) {
    return (__mmask16)(n >= 16 ? 0xffffu : n <= 0 ? 0u : (1u << n) - 1u);
}

/* Where v takes over from m (greater, or NaN). */
AVX512 static inline __mmask16 takes16(__m512 v, __m512 m) {
    return (__mmask16)(_mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) |
                       _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
}

AVX512 static inline void forward_row_avx512(const float *r0, const float *r1, int64_t ow, float *y,
                                             uint8_t *argmax) {
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd =
        _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t j = 0; j < ow; j += 16) {
        __mmask16 mo = lanes(ow - j), lo = lanes(2 * (ow - j)), hi = lanes(2 * (ow - j) - 16);
        __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * j);
        __m512 a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * j + 16);
        __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * j);
        __m512 b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * j + 16);
        /* The window's candidates in the reference's order: a b / c d. */
        __m512 a = _mm512_permutex2var_ps(a0, even, a1), b = _mm512_permutex2var_ps(a0, odd, a1);
        __m512 c = _mm512_permutex2var_ps(b0, even, b1), d = _mm512_permutex2var_ps(b0, odd, b1);
        __mmask16 kb = takes16(b, a), kd = takes16(d, c);
        __m512 ab = _mm512_mask_blend_ps(kb, a, b), cd = _mm512_mask_blend_ps(kd, c, d);
        __mmask16 kr = takes16(cd, ab); /* the lower row wins */
        _mm512_mask_storeu_ps(y + j, mo, _mm512_mask_blend_ps(kr, ab, cd));
        if (argmax) {
            __mmask16 dx = (__mmask16)((kr & kd) | (~kr & kb));
            __m128i k = _mm_or_si128(_mm_maskz_set1_epi8(dx, 1), _mm_maskz_set1_epi8(kr, 2));
            _mm_mask_storeu_epi8(argmax + j, mo, k);
        }
    }
}

AVX512 static inline void backward_row_avx512(const float *gy, const uint8_t *argmax, int64_t ow,
                                              int64_t w, float *g0, float *g1) {
    /* Interleave two sources: lanes 0..7 (low) or 8..15 (high) of each. */
    const __m512i lo_i = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_i =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int64_t j = 0; j < ow; j += 16) {
        __mmask16 mo = lanes(ow - j), lo = lanes(2 * (ow - j)), hi = lanes(2 * (ow - j) - 16);
        __m512 g = _mm512_maskz_loadu_ps(mo, gy + j);
        __m128i k = _mm_maskz_loadu_epi8(mo, argmax + j);
        __m512 va = _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(k, _mm_set1_epi8(0)), g);
        __m512 vb = _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(k, _mm_set1_epi8(1)), g);
        __m512 vc = _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(k, _mm_set1_epi8(2)), g);
        __m512 vd = _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(k, _mm_set1_epi8(3)), g);
        _mm512_mask_storeu_ps(g0 + 2 * j, lo, _mm512_permutex2var_ps(va, lo_i, vb));
        _mm512_mask_storeu_ps(g0 + 2 * j + 16, hi, _mm512_permutex2var_ps(va, hi_i, vb));
        _mm512_mask_storeu_ps(g1 + 2 * j, lo, _mm512_permutex2var_ps(vc, lo_i, vd));
        _mm512_mask_storeu_ps(g1 + 2 * j + 16, hi, _mm512_permutex2var_ps(vc, hi_i, vd));
    }
    for (int64_t x = 2 * ow; x < w; x++) g0[x] = g1[x] = 0.0f;
}

AVX512 static void forward_plane_avx512(const volt_pool_geom *g, const float *x, float *y,
                                        uint8_t *argmax) {
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const float *r0 = x + 2 * oy * g->w;
        forward_row_avx512(r0, r0 + g->w, g->ow, y + oy * g->ow,
                           argmax ? argmax + oy * g->ow : NULL);
    }
}

AVX512 static void backward_plane_avx512(const volt_pool_geom *g, const float *gy,
                                         const uint8_t *argmax, float *gx) {
    for (int64_t oy = 0; oy < g->oh; oy++)
        backward_row_avx512(gy + oy * g->ow, argmax + oy * g->ow, g->ow, g->w, gx + 2 * oy * g->w,
                            gx + (2 * oy + 1) * g->w);
}

static bool cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}
#endif

static bool use_simd(void) {
#if HAVE_AVX512_PATH
    return simd_wanted && cpu_has_avx512();
#else
    return false;
#endif
}

bool volt_cpu_pool_fast_set_simd(bool enabled) {
    bool was = simd_wanted;
    simd_wanted = enabled;
    return was;
}

/* ---------------------------------------------------------------- entry */

/* Threads worth using: either way a pass reads or writes 4 bytes per input
 * element and 5 per output (value and argmax). */
static int threads_for(const volt_pool_geom *g) {
    double in = (double)(g->n * g->c * g->h * g->w), out = (double)(g->n * g->c * g->oh * g->ow);
    return volt_cpu_threads_for_bytes(4.0 * in + 5.0 * out);
}

void volt_cpu_max_pool2x2_f32(const volt_pool_geom *g, const float *src, float *dst,
                              uint8_t *argmax) {
    forward_plane_fn plane = forward_plane_c;
#if HAVE_AVX512_PATH
    if (use_simd()) plane = forward_plane_avx512;
#endif
    int64_t planes = g->n * g->c, in = g->h * g->w, out = g->oh * g->ow;
#pragma omp parallel for num_threads(threads_for(g)) schedule(static)
    for (int64_t p = 0; p < planes; p++)
        plane(g, src + p * in, dst + p * out, argmax ? argmax + p * out : NULL);
}

void volt_cpu_max_pool2x2_backward_f32(const volt_pool_geom *g, const float *diff_dst,
                                       const uint8_t *argmax, float *diff_src) {
    backward_plane_fn plane = backward_plane_c;
#if HAVE_AVX512_PATH
    if (use_simd()) plane = backward_plane_avx512;
#endif
    int64_t planes = g->n * g->c, h = g->h, w = g->w, in = h * w, out = g->oh * g->ow;
    int64_t rest = (h - 2 * g->oh) * w; /* the last row, left out by floor mode */
#pragma omp parallel for num_threads(threads_for(g)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        plane(g, diff_dst + p * out, argmax + p * out, diff_src + p * in);
        if (rest) memset(diff_src + p * in + 2 * g->oh * w, 0, (size_t)rest * sizeof *diff_src);
    }
}
