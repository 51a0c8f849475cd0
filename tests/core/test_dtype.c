/* test_dtype.c: dtype sizes and names, and f32 <-> bf16/f16 rounding
 * (round-to-nearest-even, NaN, infinities, subnormals). */
#include <math.h>
#include <string.h>

#include "volt_test.h"

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static void test_sizes_and_names(void **state) {
    (void)state;
    assert_int_equal(volt_dtype_size(VOLT_F32), 4);
    assert_int_equal(volt_dtype_size(VOLT_F64), 8);
    assert_int_equal(volt_dtype_size(VOLT_BF16), 2);
    assert_int_equal(volt_dtype_size(VOLT_F16), 2);
    assert_int_equal(volt_dtype_size(VOLT_I64), 8);
    assert_int_equal(volt_dtype_size(VOLT_I32), 4);
    assert_int_equal(volt_dtype_size(VOLT_U8), 1);
    assert_int_equal(volt_dtype_size(VOLT_BOOL), 1);
    assert_int_equal(volt_dtype_size((volt_dtype)99), 0);
    assert_string_equal(volt_dtype_name(VOLT_BF16), "bf16");
    assert_string_equal(volt_dtype_name((volt_dtype)-1), "?");
    assert_true(volt_dtype_is_float(VOLT_F16));
    assert_false(volt_dtype_is_float(VOLT_I64));
    assert_false(volt_dtype_is_float(VOLT_BOOL));
    assert_true(volt_dtype_is_16bit(VOLT_BF16));
    assert_true(volt_dtype_is_16bit(VOLT_F16));
    assert_false(volt_dtype_is_16bit(VOLT_F32));
    assert_false(volt_dtype_is_16bit(VOLT_I64));
    assert_false(volt_dtype_is_16bit((volt_dtype)99));
}

static void test_bf16_rounding(void **state) {
    (void)state;
    assert_int_equal(volt_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(volt_f32_to_bf16(-2.0f), 0xc000);
    /* 1 + 2^-8 is exactly half-way between bf16 1.0 and 1.0078125: ties to
     * even keep 1.0; 1 + 3 * 2^-8 ties up to the even 1.015625. */
    assert_int_equal(volt_f32_to_bf16(1.0f + 0.00390625f), 0x3f80);
    assert_int_equal(volt_f32_to_bf16(1.0f + 3 * 0.00390625f), 0x3f82);
    /* Just above half-way rounds up. */
    assert_int_equal(volt_f32_to_bf16(from_bits(0x3f808001u)), 0x3f81);
    /* The largest finite f32 rounds to infinity in bf16. */
    assert_int_equal(volt_f32_to_bf16(from_bits(0x7f7fffffu)), 0x7f80);
    assert_int_equal(volt_f32_to_bf16(INFINITY), 0x7f80);
    uint16_t nan = volt_f32_to_bf16(NAN);
    assert_true(isnan(volt_bf16_to_f32(nan)));
    /* A NaN whose payload sits only in the low bits stays NaN. */
    assert_true(isnan(volt_bf16_to_f32(volt_f32_to_bf16(from_bits(0x7f800001u)))));
    assert_true(volt_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(volt_bf16_to_f32(0x4049) == 3.140625f);
}

static void test_f16_rounding(void **state) {
    (void)state;
    assert_int_equal(volt_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(volt_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(volt_f32_to_f16(65504.0f), 0x7bff); /* largest finite */
    assert_int_equal(volt_f32_to_f16(65520.0f), 0x7c00); /* rounds to inf */
    assert_int_equal(volt_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(volt_f32_to_f16(0.0f), 0x0000);
    assert_int_equal(volt_f32_to_f16(-0.0f), 0x8000);
    /* 1 + 2^-11 is half-way between 1 and 1 + 2^-10: ties to even. */
    assert_int_equal(volt_f32_to_f16(1.0f + 0.00048828125f), 0x3c00);
    assert_int_equal(volt_f32_to_f16(1.0f + 3 * 0.00048828125f), 0x3c02);
    /* Subnormals: 2^-24 is the smallest; half of it ties to even (0). */
    assert_int_equal(volt_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
    assert_int_equal(volt_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);
    assert_int_equal(volt_f32_to_f16(ldexpf(1.5f, -25)), 0x0001);
    assert_int_equal(volt_f32_to_f16(ldexpf(3.0f, -25)), 0x0002); /* 1.5 ulp ties to even 2 */
    assert_int_equal(volt_f32_to_f16(ldexpf(1.0f, -14)), 0x0400); /* smallest normal */
    assert_int_equal(volt_f32_to_f16(INFINITY), 0x7c00);
    assert_true(isnan(volt_f16_to_f32(volt_f32_to_f16(NAN))));
    /* Every f16 value survives f16 -> f32 -> f16 exactly. */
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) continue; /* NaNs */
        assert_int_equal(volt_f32_to_f16(volt_f16_to_f32((uint16_t)h)), h);
    }
    assert_true(volt_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(volt_f16_to_f32(0xc000) == -2.0f);
    (void)bits;
}

static void test_bf16_roundtrip_all(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7f80u) == 0x7f80u && (h & 0x7fu)) continue; /* NaNs */
        assert_int_equal(volt_f32_to_bf16(volt_bf16_to_f32((uint16_t)h)), h);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_sizes_and_names),
        VT_TEST(test_bf16_rounding),
        VT_TEST(test_f16_rounding),
        VT_TEST(test_bf16_roundtrip_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
