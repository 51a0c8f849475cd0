/* bf16_round.h: f32 values rounded to the nearest bf16 value (ties to
 * even), as volt_f32_to_bf16 rounds (a NaN stays a quiet NaN) — the one
 * rounding the CPU kernels share: the bits (the f32 -> bf16 conversions,
 * bf16 SGD), the value kept as f32 (kernels that must compare what the bf16
 * ops compare, precision "bf16-true"), and, on x86-64 with GCC, AVX-512
 * forms for 16 lanes — the rounding, and bf16 loads and rounded stores
 * (callers compiled for AVX-512 F use them). */
#ifndef VOLT_BF16_ROUND_H
#define VOLT_BF16_ROUND_H

#include <stdint.h>
#include <string.h>

/* The bf16 bits of v: its upper 16 bits rounded to nearest even; a NaN
 * stays a quiet NaN. Integer operations and a select only, so loops over
 * it vectorise. */
static inline uint16_t volt_bf16_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    uint32_t quiet = (u >> 16) | 0x40u, rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

/* v rounded to bf16, kept as f32. */
static inline float volt_round_bf16(float v) {
    uint32_t u = (uint32_t)volt_bf16_bits(v) << 16;
    memcpy(&v, &u, sizeof v);
    return v;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static inline __m512 volt_round_bf16_16(__m512 v) {
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    __m512i u = _mm512_castps_si512(v);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd);
    __m512i q = _mm512_or_si512(u, _mm512_set1_epi32(0x400000));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_mask_blend_epi32(nan, r, q), high));
}

/* 16 bf16 values at src, widened to f32 (exact). */
__attribute__((target("avx512f"))) static inline __m512 volt_bf16_load_16(const uint16_t *src) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)src));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

/* v rounded to bf16 (volt_round_bf16_16) and stored as 16 bf16 values. */
__attribute__((target("avx512f"))) static inline void volt_bf16_store_16(uint16_t *dst, __m512 v) {
    __m512i hi = _mm512_srli_epi32(_mm512_castps_si512(volt_round_bf16_16(v)), 16);
    _mm256_storeu_si256((__m256i *)dst, _mm512_cvtepi32_epi16(hi));
}
#endif

#endif
