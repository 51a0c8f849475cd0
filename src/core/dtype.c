/* dtype.c: element types — sizes, names, and f32 <-> bf16/f16 conversions
 * with round-to-nearest-even. */
#include <math.h>
#include <string.h>

#include "volt/core.h"

static const struct {
    const char *name;
    size_t size;
    bool is_float;
} dtype_info[VOLT_DTYPE_COUNT] = {
    [VOLT_F32] = {"f32", 4, true},   [VOLT_F64] = {"f64", 8, true},
    [VOLT_BF16] = {"bf16", 2, true}, [VOLT_F16] = {"f16", 2, true},
    [VOLT_I64] = {"i64", 8, false},  [VOLT_I32] = {"i32", 4, false},
    [VOLT_U8] = {"u8", 1, false},    [VOLT_BOOL] = {"bool", 1, false},
};

bool volt_dtype_is_valid(volt_dtype dtype) { return (unsigned)dtype < VOLT_DTYPE_COUNT; }

size_t volt_dtype_size(volt_dtype dtype) {
    return volt_dtype_is_valid(dtype) ? dtype_info[dtype].size : 0;
}

const char *volt_dtype_name(volt_dtype dtype) {
    return volt_dtype_is_valid(dtype) ? dtype_info[dtype].name : "?";
}

bool volt_dtype_is_float(volt_dtype dtype) {
    return volt_dtype_is_valid(dtype) && dtype_info[dtype].is_float;
}

bool volt_dtype_is_16bit(volt_dtype dtype) { return dtype == VOLT_BF16 || dtype == VOLT_F16; }

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

uint16_t volt_f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if (isnan(x)) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN, sign kept */
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

float volt_bf16_to_f32(uint16_t x) { return bits_f32((uint32_t)x << 16); }

uint16_t volt_f32_to_f16(float x) {
    uint32_t u = f32_bits(x);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (abs < 0x38800000u) {
        /* Result is subnormal (or zero): value = abs * 2^24 units of 2^-24. */
        if (abs < 0x33000000u) return (uint16_t)sign; /* below half the smallest */
        uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(abs >> 23); /* 14..24 */
        uint32_t q = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    /* Normal: rebias exponent 127 -> 15 and round 13 mantissa bits away. */
    uint32_t v = abs - 0x38000000u;
    uint32_t q = v >> 13;
    uint32_t rem = v & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

float volt_f16_to_f32(uint16_t x) {
    uint32_t sign = (uint32_t)(x & 0x8000u) << 16;
    uint32_t exp = (x >> 10) & 0x1fu;
    uint32_t mant = x & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}
