/* test_philox.c: Philox-4x32-10 against the published known-answer vectors,
 * the generator's counter and stream behaviour, and seed_everything. */
#include <math.h>

#include "volt_test.h"

static void check_block(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t c2,
                        uint32_t c3, uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
    uint32_t key[2] = {k0, k1}, ctr[4] = {c0, c1, c2, c3}, out[4];
    volt_philox4x32(key, ctr, out);
    assert_int_equal(out[0], e0);
    assert_int_equal(out[1], e1);
    assert_int_equal(out[2], e2);
    assert_int_equal(out[3], e3);
}

/* The known-answer tests published with Random123 (philox4x32_10). */
static void test_known_answers(void **state) {
    (void)state;
    check_block(0, 0, 0, 0, 0, 0, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
    check_block(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
                0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
    check_block(0xa4093822u, 0x299f31d0u, 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u,
                0xd16cfe09u, 0x94fdcceBu, 0x5001e420u, 0x24126ea1u);
}

static void test_generator_counter_and_stream(void **state) {
    (void)state;
    volt_generator a = volt_generator_make(42, 0), b = volt_generator_make(42, 0);
    volt_generator c = volt_generator_make(42, 1), d = volt_generator_make(43, 0);
    uint32_t ra[4], rb[4], rc[4], rd[4];
    volt_generator_next4(&a, ra);
    volt_generator_next4(&b, rb);
    volt_generator_next4(&c, rc);
    volt_generator_next4(&d, rd);
    assert_memory_equal(ra, rb, sizeof ra);
    assert_memory_not_equal(ra, rc, sizeof ra);
    assert_memory_not_equal(ra, rd, sizeof ra);
    assert_int_equal(a.counter, 1);
    /* Reserving hands out consecutive blocks: block 1 of a fresh generator
     * equals the second draw. */
    volt_generator e = volt_generator_make(42, 0);
    assert_int_equal(volt_generator_reserve(&e, 5), 0);
    assert_int_equal(volt_generator_reserve(&e, 1), 5);
    uint32_t second[4], again[4];
    volt_generator_next4(&a, second);
    volt_generator f = volt_generator_make(42, 0);
    f.counter = 1;
    volt_generator_next4(&f, again);
    assert_memory_equal(second, again, sizeof second);
    /* The key is the seed and the counter's high words are the stream: the
     * block equals a raw Philox call with those words. */
    uint32_t key[2] = {42, 0}, ctr[4] = {0, 0, 1, 0}, raw[4];
    volt_philox4x32(key, ctr, raw);
    assert_memory_equal(raw, rc, sizeof raw);
}

static void test_uniform_conversions(void **state) {
    (void)state;
    assert_true(volt_uniform_from_u32(0) == 0.0f);
    assert_true(volt_uniform_from_u32(0xffffffffu) < 1.0f);
    assert_true(volt_uniform_from_u64(0, 0) == 0.0);
    assert_true(volt_uniform_from_u64(0xffffffffu, 0xffffffffu) < 1.0);
    /* Mean of many uniforms is near 1/2. */
    volt_generator g = volt_generator_make(7, 3);
    double sum = 0;
    for (int i = 0; i < 25000; i++) {
        uint32_t r[4];
        volt_generator_next4(&g, r);
        for (int k = 0; k < 4; k++) sum += volt_uniform_from_u32(r[k]);
    }
    assert_true(fabs(sum / 100000 - 0.5) < 0.005);
}

static void test_seed_everything(void **state) {
    (void)state;
    volt_seed_everything(1234);
    assert_int_equal(volt_global_seed(), 1234);
    volt_tensor *a = volt_randn(VOLT_SHAPE(100), VOLT_F32, NULL);
    volt_seed_everything(1234);
    volt_tensor *b = volt_randn(VOLT_SHAPE(100), VOLT_F32, NULL);
    volt_tensor *c = volt_randn(VOLT_SHAPE(100), VOLT_F32, NULL);
    assert_memory_equal(volt_tensor_data(a), volt_tensor_data(b), 400);
    assert_memory_not_equal(volt_tensor_data(b), volt_tensor_data(c), 400);
    volt_seed_everything(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_known_answers),
        VT_TEST(test_generator_counter_and_stream),
        VT_TEST(test_uniform_conversions),
        VT_TEST(test_seed_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
