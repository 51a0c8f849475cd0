/* test_allocator.c: the CPU allocator — 64-byte alignment, reuse of freed
 * blocks (a steady-state loop makes no system allocations; a smaller last
 * batch reuses the blocks of the full ones, within twice its size; a new
 * large block gives back the cached large ones too small to serve it, never
 * larger ones), statistics, empty_cache, and the fail-after-N hook turning into clean OOM
 * errors. */
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

/* One "step" of a batch of b rows: three f32 tensors alive at once. */
static void batch_step(int64_t b) {
    volt_scope_begin();
    assert_non_null(volt_zeros(VOLT_SHAPE(b, 1000), VOLT_F32));
    assert_non_null(volt_zeros(VOLT_SHAPE(b, 300), VOLT_F32));
    assert_non_null(volt_zeros(VOLT_SHAPE(b, 64), VOLT_F32));
    volt_scope_end();
}

static void test_smaller_batch_reuses_larger_blocks(void **state) {
    (void)state;
    volt_cpu_empty_cache();
    batch_step(128);
    volt_memory_stats full = volt_cpu_memory_stats();
    /* 96 rows: 384000, 115200 and 24576 bytes fit (classes 393216, 131072,
     * 24576) the cached blocks of 128 rows (classes 524288, 163840, 32768),
     * each at most twice their size: no new block, nothing more reserved. */
    batch_step(96);
    batch_step(128);
    batch_step(96);
    volt_memory_stats after = volt_cpu_memory_stats();
    assert_int_equal(after.n_system_allocs, full.n_system_allocs);
    assert_int_equal(after.reserved_bytes, full.reserved_bytes);
    assert_int_equal(after.allocated_bytes, full.allocated_bytes);
    /* A block counts at its own class while it is lent to a smaller size. */
    volt_tensor *t = volt_empty(VOLT_SHAPE(96, 1000), VOLT_F32);
    assert_int_equal(volt_cpu_memory_stats().allocated_bytes - after.allocated_bytes, 524288);
    volt_tensor_free(t);
    /* 64000 bytes (class 65536) would leave more than half of a 524288-byte
     * block unused: a block of its own. */
    t = volt_empty(VOLT_SHAPE(16, 1000), VOLT_F32);
    volt_memory_stats small = volt_cpu_memory_stats();
    assert_int_equal(small.n_system_allocs, after.n_system_allocs + 1);
    assert_int_equal(small.reserved_bytes, after.reserved_bytes + 65536);
    volt_tensor_free(t);
}

static void test_large_miss_releases_smaller_blocks(void **state) {
    (void)state;
    volt_cpu_empty_cache();
    volt_memory_stats s0 = volt_cpu_memory_stats();
    volt_tensor *a = volt_empty(VOLT_SHAPE(512 * 1024), VOLT_F32); /* 2 MiB */
    volt_tensor *b = volt_empty(VOLT_SHAPE(512 * 1024), VOLT_F32);
    volt_tensor *small = volt_empty(VOLT_SHAPE(1000), VOLT_F32); /* class 4096 */
    volt_tensor_free(a);
    volt_tensor_free(b);
    volt_tensor_free(small);
    volt_memory_stats s1 = volt_cpu_memory_stats();
    assert_int_equal(s1.reserved_bytes - s0.reserved_bytes, 2 * 2097152 + 4096);
    /* 8 MiB: the two cached 2 MiB blocks cannot serve it and go back to the
     * system; the small block stays. */
    volt_tensor *big = volt_empty(VOLT_SHAPE(2 * 1024 * 1024), VOLT_F32);
    volt_memory_stats s2 = volt_cpu_memory_stats();
    assert_int_equal(s2.n_system_allocs, s1.n_system_allocs + 1);
    assert_int_equal(s2.reserved_bytes - s0.reserved_bytes, 8388608 + 4096);
    volt_tensor_free(big);
    /* 2 MiB again: the cached 8 MiB block is more than twice its size and
     * stays cached (a miss never gives back a larger block). */
    a = volt_empty(VOLT_SHAPE(512 * 1024), VOLT_F32);
    volt_memory_stats s3 = volt_cpu_memory_stats();
    assert_int_equal(s3.n_system_allocs, s2.n_system_allocs + 1);
    assert_int_equal(s3.reserved_bytes - s0.reserved_bytes, 8388608 + 2097152 + 4096);
    volt_tensor_free(a);
    /* And from here on the same sizes come from the cache. */
    big = volt_empty(VOLT_SHAPE(2 * 1024 * 1024), VOLT_F32);
    a = volt_empty(VOLT_SHAPE(512 * 1024), VOLT_F32);
    assert_int_equal(volt_cpu_memory_stats().n_system_allocs, s3.n_system_allocs);
    volt_tensor_free(a);
    volt_tensor_free(big);
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
        VT_TEST(test_smaller_batch_reuses_larger_blocks),
        VT_TEST(test_large_miss_releases_smaller_blocks),
        VT_TEST(test_stats_and_peak),
        VT_TEST(test_fail_after_gives_clean_errors),
        VT_TEST(test_too_large_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
