/* relu_simd.c: ReLU forward and backward over contiguous f32 spans (see
 * relu_simd.h): AVX-512 bodies, 64 elements a step with a masked tail,
 * compiled with a target attribute and chosen at run time from cpuid; the
 * portable bodies are the scalar expressions (which the compiler vectorises
 * for the baseline ISA). */
#include "ops/cpu/relu_simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_PATH 1
#else
#define HAVE_AVX512_PATH 0
#endif

static bool simd_wanted = true;

bool volt_cpu_relu_set_simd(bool enabled) {
    bool was = simd_wanted;
    simd_wanted = enabled;
    return was;
}

static void relu_c(float *out, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = x[i] < 0 ? 0.0f : x[i];
}

static void relu_backward_c(float *gx, const float *gy, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) gx[i] = y[i] <= 0 ? 0.0f : gy[i];
}

#if HAVE_AVX512_PATH
#define AVX512 __attribute__((target("avx512f")))

/* max(0, x) keeps the second operand unless 0 > x: NaN and -0 pass. */
AVX512 static inline __m512 relu16(__m512 x) { return _mm512_max_ps(_mm512_setzero_ps(), x); }

/* g where y is not <= 0 (NaN y keeps g). */
AVX512 static inline __m512 relu_grad16(__m512 g, __m512 y) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_NLE_UQ), g);
}

/* Spans from this many elements on store with non-temporal writes: the
 * output, larger than the L2 cache, would otherwise be read in first. */
#define STREAM_MIN (1 << 20)

AVX512 static void relu_stream_avx512(float *out, const float *x, int64_t n) {
    int64_t i = 0;
    while (i < n && ((uintptr_t)(out + i) & 63) != 0) {
        out[i] = x[i] < 0 ? 0.0f : x[i];
        i++;
    }
    for (; i + 16 <= n; i += 16) _mm512_stream_ps(out + i, relu16(_mm512_loadu_ps(x + i)));
    _mm_sfence();
    for (; i < n; i++) out[i] = x[i] < 0 ? 0.0f : x[i];
}

AVX512 static void relu_avx512(float *out, const float *x, int64_t n) {
    int64_t i = 0;
    if (n >= STREAM_MIN && out != x) {
        relu_stream_avx512(out, x, n);
        return;
    }
    for (; i + 64 <= n; i += 64) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        __m512 c = _mm512_loadu_ps(x + i + 32), d = _mm512_loadu_ps(x + i + 48);
        _mm512_storeu_ps(out + i, relu16(a));
        _mm512_storeu_ps(out + i + 16, relu16(b));
        _mm512_storeu_ps(out + i + 32, relu16(c));
        _mm512_storeu_ps(out + i + 48, relu16(d));
    }
    for (; i < n; i += 16) {
        __mmask16 m = (__mmask16)(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(out + i, m, relu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

AVX512 static void relu_backward_avx512(float *gx, const float *gy, const float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 g0 = _mm512_loadu_ps(gy + i), g1 = _mm512_loadu_ps(gy + i + 16);
        __m512 y0 = _mm512_loadu_ps(y + i), y1 = _mm512_loadu_ps(y + i + 16);
        _mm512_storeu_ps(gx + i, relu_grad16(g0, y0));
        _mm512_storeu_ps(gx + i + 16, relu_grad16(g1, y1));
    }
    for (; i < n; i += 16) {
        __mmask16 m = (__mmask16)(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1u);
        __m512 g = _mm512_maskz_loadu_ps(m, gy + i), v = _mm512_maskz_loadu_ps(m, y + i);
        _mm512_mask_storeu_ps(gx + i, m, relu_grad16(g, v));
    }
}

static bool use_simd(void) {
    __builtin_cpu_init();
    return simd_wanted && __builtin_cpu_supports("avx512f");
}
#endif

void volt_cpu_relu_span_f32(float *out, const float *x, int64_t n) {
#if HAVE_AVX512_PATH
    if (use_simd()) {
        relu_avx512(out, x, n);
        return;
    }
#endif
    relu_c(out, x, n);
}

void volt_cpu_relu_backward_span_f32(float *gx, const float *gy, const float *y, int64_t n) {
#if HAVE_AVX512_PATH
    if (use_simd()) {
        relu_backward_avx512(gx, gy, y, n);
        return;
    }
#endif
    relu_backward_c(gx, gy, y, n);
}
