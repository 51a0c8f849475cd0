/* test_allocator.c: the CPU allocator — 64-byte alignment, reuse of freed
 * blocks (a steady-state loop makes no system allocations), statistics,
 * empty_cache, and the fail-after-N hook turning into clean OOM errors. */
#include "volt_test.h"

static void test_alignment(void **state) {
    (void)state;
    for (int64_t n = 0; n < 300; n += 7) {
        volt_tensor *t = volt_empty(VOLT_SHAPE(n), VOLT_U8);
        assert_non_null(t);
        assert_int_equal((uintptr_t)volt_tensor_data(t) % 64, 0);
    }
}

static void test_steady_state_reuses_blocks(void **state) {
    (void)state;
    /* Warm up once, then the same pattern of sizes must be served from the
     * cache. */
    for (int round = 0; round < 3; round++) {
        volt_memory_stats before = volt_cpu_memory_stats();
        volt_scope_begin();
        for (int i = 1; i < 50; i++) {
            volt_tensor *t = volt_zeros(VOLT_SHAPE(i * 37), VOLT_F32);
            assert_non_null(t);
        }
        volt_scope_end();
        volt_memory_stats after = volt_cpu_memory_stats();
        assert_int_equal(after.allocated_bytes, before.allocated_bytes);
        if (round > 0) assert_int_equal(after.n_system_allocs, before.n_system_allocs);
        assert_true(after.n_allocs > before.n_allocs);
    }
}

static void test_stats_and_peak(void **state) {
    (void)state;
    volt_memory_stats s0 = volt_cpu_memory_stats();
    volt_tensor *t = volt_empty(VOLT_SHAPE(1000), VOLT_F64); /* 8000 bytes */
    volt_memory_stats s1 = volt_cpu_memory_stats();
    /* Size classes waste at most 25%. */
    assert_true(s1.allocated_bytes - s0.allocated_bytes >= 8000);
    assert_true(s1.allocated_bytes - s0.allocated_bytes <= 10000);
    assert_true(s1.peak_allocated_bytes >= s1.allocated_bytes);
    assert_true(s1.reserved_bytes >= s1.allocated_bytes);
    volt_tensor_free(t);
    assert_int_equal(volt_cpu_memory_stats().allocated_bytes, s0.allocated_bytes);
    volt_cpu_empty_cache();
    volt_memory_stats s2 = volt_cpu_memory_stats();
    assert_int_equal(s2.reserved_bytes, s2.allocated_bytes);
}

static void test_fail_after_gives_clean_errors(void **state) {
    (void)state;
    volt_tensor *a = volt_ones(VOLT_SHAPE(4), VOLT_F32);
    volt_cpu_alloc_fail_after(1);
    volt_tensor *b = volt_zeros(VOLT_SHAPE(1 << 20), VOLT_F32);
    assert_null(b);
    VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY, "cpu: out of memory allocating 4194304 bytes");
    /* The hook fires once; the next allocation works. */
    volt_tensor *c = volt_add(a, a);
    assert_non_null(c);
    /* An op whose output allocation fails returns NULL and keeps the error,
     * and every op fed that NULL returns NULL too. */
    volt_cpu_alloc_fail_after(1);
    volt_tensor *d = volt_mul(a, a);
    assert_null(d);
    assert_null(volt_add(d, a));
    VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY, "out of memory");
    volt_cpu_alloc_fail_after(0);
}

static void test_too_large_is_refused(void **state) {
    (void)state;
    assert_null(volt_empty(VOLT_SHAPE(INT64_C(1) << 40, INT64_C(1) << 30), VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY, "too large");
    assert_null(volt_empty(VOLT_SHAPE(3, -2), VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "negative size -2 in dimension 1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_alignment),
        VT_TEST(test_steady_state_reuses_blocks),
        VT_TEST(test_stats_and_peak),
        VT_TEST(test_fail_after_gives_clean_errors),
        VT_TEST(test_too_large_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
