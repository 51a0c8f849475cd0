/* test_block_pool.c: the CUDA caching allocator's pool (core/block_pool.c)
 * on a host-memory backend, so that it runs on every machine: 512-byte
 * rounding, small requests carved from 2 MiB segments and large ones from
 * segments rounded to 2 MiB, splitting and best fit, merging of free
 * neighbours, free lists per stream, statistics, empty_cache, the
 * fail-after-N hook, the out-of-memory retry and its message, and a repeated
 * pattern that stops asking the backend after its first round. Every step
 * also checks the pool's invariants. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/block_pool.h"
#include "volt_test.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Host memory with a capacity (0: none), counting its calls. */
typedef struct {
    size_t capacity, live;
    int64_t n_alloc, n_free;
} host_backend;

static void *host_segment_alloc(void *ctx, size_t n) {
    host_backend *h = ctx;
    if (h->capacity && h->live + n > h->capacity) return NULL;
    void *p = aligned_alloc(512, n);
    if (p) {
        h->live += n;
        h->n_alloc++;
    }
    return p;
}

static void host_segment_free(void *ctx, void *p, size_t n) {
    host_backend *h = ctx;
    h->live -= n;
    h->n_free++;
    free(p);
}

static volt_block_pool *pool_new(host_backend *h) {
    volt_block_pool *p = volt_block_pool_new(
        "test:0", (volt_pool_backend){host_segment_alloc, host_segment_free, h});
    assert_non_null(p);
    return p;
}

/* Asserts the invariants; returns the number of cached free blocks. */
static int64_t check(volt_block_pool *p) {
    char why[160] = "";
    int64_t n_free = -1;
    if (!volt_block_pool_check(p, why, sizeof why, &n_free)) fail_msg("pool invariant: %s", why);
    return n_free;
}

static volt_pool_block *take(volt_block_pool *p, size_t n, void *stream) {
    volt_pool_block *b = volt_block_pool_alloc(p, n, stream);
    if (!b) fail_msg("alloc %zu: %s", n, volt_error_message());
    check(p);
    return b;
}

static void give(volt_pool_block *b) {
    volt_block_pool *p = b->pool;
    volt_block_pool_release(b);
    check(p);
}

static void test_rounding_and_segments(void **state) {
    (void)state;
    host_backend h = {0};
    volt_block_pool *p = pool_new(&h);
    volt_pool_block *a = take(p, 1, NULL), *b = take(p, 1000, NULL), *z = take(p, 0, NULL);
    assert_int_equal(a->size, 512);
    assert_int_equal(b->size, 1024);
    assert_int_equal(z->size, 512);
    volt_pool_block *small = take(p, MiB, NULL); /* the largest small request */
    assert_int_equal(small->size, MiB);
    /* All four come from one 2 MiB segment, one after the other. */
    assert_int_equal(h.n_alloc, 1);
    assert_ptr_equal((char *)a->ptr + 512, b->ptr);
    assert_ptr_equal((char *)b->ptr + 1024, z->ptr);
    /* 1 MiB + 1: large, 2 MiB segment of its own; the rest (< 1 MiB) is not
     * worth a block, so the block is the whole segment. */
    volt_pool_block *large = take(p, MiB + 1, NULL);
    assert_int_equal(large->size, 2 * MiB);
    assert_int_equal(h.n_alloc, 2);
    volt_memory_stats s = volt_block_pool_stats(p);
    assert_int_equal(s.reserved_bytes, 4 * MiB);
    assert_int_equal(s.allocated_bytes, 512 + 1024 + 512 + MiB + 2 * MiB);
    assert_int_equal(s.n_system_allocs, 2);
    assert_int_equal(s.n_allocs, 5);
    give(a), give(b), give(z), give(small), give(large);
    assert_int_equal(check(p), 2); /* each segment one free block again */
    volt_block_pool_free(p);
    assert_int_equal(h.n_free, 2);
    assert_int_equal(h.live, 0);
}

static void test_split_best_fit_and_merge(void **state) {
    (void)state;
    host_backend h = {0};
    volt_block_pool *p = pool_new(&h);
    volt_pool_block *b[4];
    for (int i = 0; i < 4; i++) b[i] = take(p, 4 * KiB, NULL);
    char *base = b[0]->ptr;
    give(b[1]); /* hole of 4 KiB at base + 4 KiB */
    assert_int_equal(check(p), 2);
    /* Best fit: 3 KiB goes into the 4 KiB hole, not the 2 MiB - 16 KiB rest. */
    volt_pool_block *c = take(p, 3 * KiB, NULL);
    assert_ptr_equal(c->ptr, base + 4 * KiB);
    assert_int_equal(check(p), 2); /* the hole's last 1 KiB, and the rest */
    give(c);
    assert_int_equal(check(p), 2); /* merged back into one 4 KiB hole */
    give(b[2]);                    /* merges with the hole: 8 KiB */
    assert_int_equal(check(p), 2);
    volt_pool_block *d = take(p, 8 * KiB, NULL);
    assert_ptr_equal(d->ptr, base + 4 * KiB);
    give(d), give(b[0]), give(b[3]);
    assert_int_equal(check(p), 1); /* the whole segment */
    assert_int_equal(h.n_alloc, 1);
    volt_block_pool_free(p);
}

static void test_large_blocks_split_when_the_rest_is_large(void **state) {
    (void)state;
    host_backend h = {0};
    volt_block_pool *p = pool_new(&h);
    /* 4.5 MiB: a 6 MiB segment; the 1.5 MiB rest (> 1 MiB) stays free. */
    volt_pool_block *a = take(p, 4 * MiB + MiB / 2, NULL);
    assert_int_equal(a->size, 4 * MiB + MiB / 2);
    assert_int_equal(volt_block_pool_stats(p).reserved_bytes, 6 * MiB);
    volt_pool_block *b = take(p, MiB + MiB / 5, NULL); /* large, fits the rest */
    assert_ptr_equal(b->ptr, (char *)a->ptr + a->size);
    assert_int_equal(b->size, MiB + MiB / 2); /* whole: the rest would be small */
    assert_int_equal(h.n_alloc, 1);
    /* A small request never takes a large block. */
    give(b);
    volt_pool_block *s = take(p, 512 * KiB, NULL);
    assert_int_equal(h.n_alloc, 2);
    give(s), give(a);
    volt_block_pool_free(p);
}

static void test_free_lists_per_stream(void **state) {
    (void)state;
    host_backend h = {0};
    volt_block_pool *p = pool_new(&h);
    void *s1 = (void *)(uintptr_t)0x1, *s2 = (void *)(uintptr_t)0x2;
    volt_pool_block *a = take(p, 64 * KiB, s1);
    assert_ptr_equal(a->stream, s1);
    give(a);
    volt_pool_block *b = take(p, 64 * KiB, s2); /* s1's cache is not s2's */
    assert_int_equal(h.n_alloc, 2);
    assert_ptr_equal(b->stream, s2);
    volt_pool_block *c = take(p, 64 * KiB, s1); /* s1 reuses its own */
    assert_int_equal(h.n_alloc, 2);
    assert_ptr_equal(c->stream, s1);
    give(b), give(c);
    assert_int_equal(check(p), 2);
    volt_block_pool_free(p);
}

static void test_stats_and_empty_cache(void **state) {
    (void)state;
    host_backend h = {0};
    volt_block_pool *p = pool_new(&h);
    volt_pool_block *a = take(p, 3 * MiB, NULL); /* 4 MiB segment, whole */
    volt_pool_block *b = take(p, 10 * KiB, NULL);
    volt_pool_block *c = take(p, 10 * KiB, NULL);
    volt_memory_stats s = volt_block_pool_stats(p);
    assert_int_equal(s.allocated_bytes, 4 * MiB + 20 * KiB); /* 3 MiB: the whole 4 MiB */
    assert_int_equal(s.peak_allocated_bytes, s.allocated_bytes);
    give(a);
    s = volt_block_pool_stats(p);
    assert_int_equal(s.allocated_bytes, 20 * KiB);
    assert_int_equal(s.peak_allocated_bytes, 4 * MiB + 20 * KiB);
    volt_block_pool_reset_peak(p);
    assert_int_equal(volt_block_pool_stats(p).peak_allocated_bytes, 20 * KiB);
    /* empty_cache returns the free 4 MiB segment, not the small one in use. */
    assert_int_equal(volt_block_pool_empty_cache(p), 4 * MiB);
    assert_int_equal(volt_block_pool_stats(p).reserved_bytes, 2 * MiB);
    assert_int_equal(h.n_free, 1);
    give(b), give(c);
    assert_int_equal(volt_block_pool_empty_cache(p), 2 * MiB);
    s = volt_block_pool_stats(p);
    assert_int_equal(s.reserved_bytes, 0);
    assert_int_equal(s.allocated_bytes, 0);
    assert_int_equal(s.n_system_allocs, 2);
    assert_int_equal(s.n_allocs, 3);
    assert_int_equal(h.live, 0);
    volt_block_pool_free(p);
}

static void test_fail_hook(void **state) {
    (void)state;
    host_backend h = {0};
    volt_block_pool *p = pool_new(&h);
    volt_block_pool_fail_after(p, 2);
    volt_pool_block *a = take(p, 100, NULL);
    assert_null(volt_block_pool_alloc(p, 1024, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY,
                    "test:0: out of memory allocating 1.0 KiB (allocated 512 B, reserved 2.0 MiB)");
    volt_pool_block *b = take(p, 1024, NULL); /* one failure only */
    assert_int_equal(volt_block_pool_stats(p).n_allocs, 2);
    give(a), give(b);
    volt_block_pool_free(p);
}

static void test_out_of_memory_frees_the_cache_and_retries(void **state) {
    (void)state;
    host_backend h = {.capacity = 8 * MiB};
    volt_block_pool *p = pool_new(&h);
    volt_pool_block *x[3];
    for (int i = 0; i < 3; i++) x[i] = take(p, 2 * MiB, NULL);
    for (int i = 0; i < 3; i++) give(x[i]);
    /* 6 MiB cached in three whole 2 MiB segments; 4 MiB does not fit beside
     * them (8 MiB), so the pool gives them back and asks again. */
    volt_pool_block *big = take(p, 4 * MiB, NULL);
    assert_int_equal(h.n_free, 3);
    assert_int_equal(h.n_alloc, 4);
    volt_memory_stats s = volt_block_pool_stats(p);
    assert_int_equal(s.reserved_bytes, 4 * MiB);
    /* More than the backend has, even with nothing cached: a clear error. */
    assert_null(volt_block_pool_alloc(p, 16 * MiB, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY, "test:0: out of memory allocating 16.0 MiB "
                                            "(allocated 4.0 MiB, reserved 4.0 MiB)");
    check(p);
    give(big);
    assert_null(volt_block_pool_alloc(p, (size_t)1 << 40, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY, "out of memory allocating 1.0 TiB (allocated 0 B, "
                                            "reserved 0 B)");
    volt_block_pool_free(p);
}

/* A training step's pattern: activations of several sizes alive together,
 * then freed in another order, and a large gradient buffer. */
static void step(volt_block_pool *p) {
    static const size_t sizes[] = {300 * KiB,   3 * MiB, 12 * KiB, 700 * KiB,
                                   5 * MiB + 7, 512,     90000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    volt_pool_block *live[N];
    for (int i = 0; i < N; i++) live[i] = take(p, sizes[i], NULL);
    for (int i = 0; i < N; i += 2) give(live[i]);
    volt_pool_block *grad = take(p, 8 * MiB, NULL);
    for (int i = 1; i < N; i += 2) give(live[i]);
    give(grad);
}

static void test_steady_state_makes_no_segments(void **state) {
    (void)state;
    host_backend h = {0};
    volt_block_pool *p = pool_new(&h);
    step(p);
    int64_t after_first = h.n_alloc;
    volt_memory_stats first = volt_block_pool_stats(p);
    for (int round = 0; round < 5; round++) step(p);
    assert_int_equal(h.n_alloc, after_first);
    assert_int_equal(h.n_free, 0);
    volt_memory_stats s = volt_block_pool_stats(p);
    assert_int_equal(s.n_system_allocs, first.n_system_allocs);
    assert_int_equal(s.reserved_bytes, first.reserved_bytes);
    assert_int_equal(s.allocated_bytes, 0);
    assert_int_equal(s.n_allocs, 6 * first.n_allocs);
    volt_block_pool_free(p);
    assert_int_equal(h.live, 0);
}

static void *churn(void *arg) {
    volt_block_pool *p = arg;
    for (int i = 0; i < 2000; i++) {
        volt_pool_block *a = volt_block_pool_alloc(p, (size_t)(i % 37 + 1) * KiB, NULL);
        volt_pool_block *b = volt_block_pool_alloc(p, (size_t)(i % 5 + 1) * MiB, NULL);
        if (!a || !b) return (void *)1;
        volt_block_pool_release(b);
        volt_block_pool_release(a);
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    host_backend h = {0};
    volt_block_pool *p = pool_new(&h);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, churn, p), 0);
    for (int i = 0; i < 3; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    check(p);
    assert_int_equal(volt_block_pool_stats(p).allocated_bytes, 0);
    volt_block_pool_free(p);
}

static void test_format_bytes(void **state) {
    (void)state;
    char buf[32];
    assert_string_equal(volt_format_bytes(0, buf, sizeof buf), "0 B");
    assert_string_equal(volt_format_bytes(1023, buf, sizeof buf), "1023 B");
    assert_string_equal(volt_format_bytes(1536, buf, sizeof buf), "1.5 KiB");
    assert_string_equal(volt_format_bytes((int64_t)2 << 30, buf, sizeof buf), "2.0 GiB");
    assert_string_equal(volt_format_bytes((int64_t)(70.1 * (1 << 30)), buf, sizeof buf),
                        "70.1 GiB");
    assert_string_equal(volt_format_bytes((int64_t)1 << 40, buf, sizeof buf), "1.0 TiB");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_rounding_and_segments),
        VT_TEST(test_split_best_fit_and_merge),
        VT_TEST(test_large_blocks_split_when_the_rest_is_large),
        VT_TEST(test_free_lists_per_stream),
        VT_TEST(test_stats_and_empty_cache),
        VT_TEST(test_fail_hook),
        VT_TEST(test_out_of_memory_frees_the_cache_and_retries),
        VT_TEST(test_steady_state_makes_no_segments),
        VT_TEST(test_threads),
        VT_TEST(test_format_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
