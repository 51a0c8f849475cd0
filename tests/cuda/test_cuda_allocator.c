/* test_cuda_allocator.c (needs a GPU; skipped without one): the CUDA
 * caching allocator on a real device — rounding and statistics, a repeated
 * training-step pattern that reaches zero cudaMalloc calls after its first
 * round, peak and its reset, empty_cache giving whole free segments back,
 * the fail-after-N hook, and out of memory (1 TiB) with its message, after
 * which the device still works. The pool's logic itself is tested on every
 * machine by tests/core/test_block_pool.c. */
#include "cuda_test.h"

#define MiB ((int64_t)1 << 20)

static volt_tensor *device_f32(int64_t n) {
    volt_tensor *t = volt_tensor_new(VOLT_F32, VT_CUDA0, VOLT_SHAPE(n));
    if (!t) fail_msg("cuda:0: %lld floats: %s", (long long)n, volt_error_message());
    return t;
}

static void test_rounding_and_stats(void **state) {
    (void)state;
    volt_cuda_empty_cache();
    volt_memory_stats before = volt_cuda_memory_stats(0);
    volt_tensor *t = device_f32(1000); /* 4000 bytes -> 4096 */
    volt_memory_stats s = volt_cuda_memory_stats(0);
    assert_int_equal(s.allocated_bytes - before.allocated_bytes, 4096);
    assert_int_equal(s.n_allocs - before.n_allocs, 1);
    assert_true(s.reserved_bytes >= 2 * MiB);
    assert_true(s.peak_allocated_bytes >= s.allocated_bytes);
    volt_tensor_free(t);
    assert_int_equal(volt_cuda_memory_stats(0).allocated_bytes, before.allocated_bytes);
    VT_ASSERT_NO_ERROR();
}

/* One step: activations of several sizes alive together, some freed early,
 * then a large gradient buffer; everything freed at the end of the scope. */
static void step(void) {
    volt_scope_begin();
    const int64_t sizes[] = {1000, 3 * MiB / 4, 77777, 300000, 5 * MiB / 4 + 3, 128};
    volt_tensor *live[6];
    for (int i = 0; i < 6; i++) live[i] = device_f32(sizes[i]);
    volt_tensor_free(live[1]);
    volt_tensor_free(live[4]);
    volt_tensor *grad = device_f32(2 * MiB);
    volt_tensor *sum = volt_add(grad, grad);
    assert_non_null(sum);
    volt_scope_end();
}

static void test_steady_state_calls_no_cudamalloc(void **state) {
    (void)state;
    step();
    volt_memory_stats first = volt_cuda_memory_stats(0);
    for (int round = 0; round < 10; round++) step();
    volt_memory_stats s = volt_cuda_memory_stats(0);
    assert_int_equal(s.n_system_allocs, first.n_system_allocs);
    assert_int_equal(s.reserved_bytes, first.reserved_bytes);
    assert_int_equal(s.allocated_bytes, first.allocated_bytes);
    assert_true(s.n_allocs >= first.n_allocs + 10 * 8);
}

static void test_peak_and_empty_cache(void **state) {
    (void)state;
    volt_cuda_empty_cache();
    volt_cuda_reset_peak_memory_stats(0);
    volt_memory_stats base = volt_cuda_memory_stats(0);
    volt_tensor *big = device_f32(16 * MiB); /* 64 MiB */
    volt_memory_stats s = volt_cuda_memory_stats(0);
    assert_int_equal(s.peak_allocated_bytes, base.allocated_bytes + 64 * MiB);
    assert_int_equal(s.reserved_bytes, base.reserved_bytes + 64 * MiB);
    volt_tensor_free(big);
    s = volt_cuda_memory_stats(0);
    assert_int_equal(s.reserved_bytes, base.reserved_bytes + 64 * MiB); /* cached */
    assert_int_equal(s.peak_allocated_bytes, base.allocated_bytes + 64 * MiB);
    volt_cuda_reset_peak_memory_stats(0);
    assert_int_equal(volt_cuda_memory_stats(0).peak_allocated_bytes, base.allocated_bytes);
    volt_cuda_empty_cache();
    assert_int_equal(volt_cuda_memory_stats(0).reserved_bytes, base.reserved_bytes);
    VT_ASSERT_NO_ERROR();
}

static void test_fail_hook(void **state) {
    (void)state;
    volt_cuda_alloc_fail_after(2);
    volt_tensor *a = device_f32(10);
    assert_null(volt_tensor_new(VOLT_F32, VT_CUDA0, VOLT_SHAPE(256)));
    VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY, "cuda:0: out of memory allocating 1.0 KiB (allocated ");
    volt_tensor *b = device_f32(10); /* one failure only */
    volt_tensor_free(a);
    volt_tensor_free(b);
}

static void test_out_of_memory(void **state) {
    (void)state;
    volt_tensor *keep = device_f32(MiB); /* something allocated, to be reported */
    int64_t n = ((int64_t)1 << 40) / 4;  /* 1 TiB of f32 */
    assert_null(volt_tensor_new(VOLT_F32, VT_CUDA0, VOLT_SHAPE(n)));
    VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY, "cuda:0: out of memory allocating 1.0 TiB (allocated ");
    /* The cache was given back on the way; the device still works. */
    volt_tensor *t = volt_fill_(device_f32(1 << 20), 2.0);
    assert_non_null(t);
    assert_true(volt_tensor_get_flat(t, 12345) == 2.0);
    volt_tensor_free(t);
    volt_tensor_free(keep);
    assert_int_equal(volt_cuda_synchronize(0), VOLT_OK);
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_allocator");
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_rounding_and_stats),
        VT_CUDA_TEST(test_steady_state_calls_no_cudamalloc),
        VT_CUDA_TEST(test_peak_and_empty_cache),
        VT_CUDA_TEST(test_fail_hook),
        VT_CUDA_TEST(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
