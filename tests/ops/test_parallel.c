/* test_parallel.c: the cost model that decides when a CPU loop goes
 * parallel (ops/cpu/parallel.h) — the wait policy read as libgomp reads
 * it, the thread count a given amount of work pays for — and loops forced
 * parallel at small sizes (an elementwise op, broadcast and strided; row
 * and column sums; a max pooling; a small matrix product) giving the bits
 * of one thread; a product run on fewer threads than the team leaving the
 * team size as it was; the calling thread's larger share of a region's
 * work and the parts it makes. */
#include "volt_test.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops/cpu/parallel.h"

static void test_wait_policy(void **state) {
    (void)state;
    assert_false(volt_cpu_threads_sleep(NULL, NULL)); /* libgomp's default: spin, then sleep */
    assert_true(volt_cpu_threads_sleep("passive", NULL));
    assert_true(volt_cpu_threads_sleep(" PASSIVE ", NULL));
    assert_true(volt_cpu_threads_sleep("Passive", ""));
    assert_false(volt_cpu_threads_sleep("active", NULL));
    assert_false(volt_cpu_threads_sleep("passives", NULL));
    assert_false(volt_cpu_threads_sleep("", NULL));
    /* GOMP_SPINCOUNT, when set, decides */
    assert_true(volt_cpu_threads_sleep(NULL, "0"));
    assert_true(volt_cpu_threads_sleep("active", "0"));
    assert_false(volt_cpu_threads_sleep("passive", "10000"));
    assert_false(volt_cpu_threads_sleep("passive", "infinite"));
    assert_false(volt_cpu_threads_sleep(NULL, "300k"));
}

static void test_threads_for_work(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    volt_set_num_threads(4);
    volt_cpu_set_region_ns(50000);
    assert_true(volt_cpu_region_ns() == 50000);
    assert_int_equal(volt_cpu_threads_for_ns(0), 1);
    assert_int_equal(volt_cpu_threads_for_ns(99999), 1); /* two threads save 50 us: not enough */
    assert_int_equal(volt_cpu_threads_for_ns(100000), 2);
    assert_int_equal(volt_cpu_threads_for_ns(160000), 3);
    assert_int_equal(volt_cpu_threads_for_ns(1e9), 4); /* at most the thread count */
    assert_int_equal(volt_cpu_threads_for_ns(NAN), 1);
    /* 3 MB streamed at 30 bytes/ns: 100 us; 10 MFLOP at 100 flops/ns: 100 us */
    assert_int_equal(volt_cpu_threads_for_bytes(2.9e6), 1);
    assert_int_equal(volt_cpu_threads_for_bytes(3e6), 2);
    assert_int_equal(volt_cpu_threads_for_flops(1e7), 2);
    volt_set_num_threads(1);
    assert_int_equal(volt_cpu_threads_for_ns(1e9), 1);
    volt_set_num_threads(4);
    volt_cpu_set_region_ns(0); /* tests: everything splits */
    assert_int_equal(volt_cpu_threads_for_ns(1), 4);
    volt_cpu_set_region_ns(-1); /* back to the wait policy's */
    double r = volt_cpu_region_ns();
    assert_true(r == VOLT_CPU_REGION_NS_SPIN || r == VOLT_CPU_REGION_NS_PASSIVE);
    volt_set_num_threads(saved);
}

/* The calling thread's larger share, and the parts it gives: disjoint,
 * covering [0, n) in order, in whole units but for the last. */
static void test_lead_share(void **state) {
    (void)state;
    volt_cpu_set_region_ns(50000);
    /* 2 threads, 500 us of work: thread 0 ends with the other, woken 50 us
     * late, at (500 + 50) / 2 us: 0.55 of the work */
    assert_true(fabs(volt_cpu_lead_share(500000, 2) - 0.55) < 1e-12);
    assert_true(fabs(volt_cpu_lead_share(300000, 3) - 400.0 / 900.0) < 1e-12);
    assert_true(volt_cpu_lead_share(1000, 2) == 1.0); /* at most all of it */
    assert_true(volt_cpu_lead_share(1e6, 1) == 1.0);
    assert_true(volt_cpu_lead_share(0, 4) == 0.25);
    volt_cpu_set_region_ns(0);
    assert_true(volt_cpu_lead_share(1e6, 4) == 0.25); /* no wake-up: even */
    volt_cpu_set_region_ns(-1);
    const struct {
        int64_t n, unit;
        double lead;
        int t;
        int64_t first; /* thread 0's items */
    } cases[] = {{500, 16, 0.6, 2, 304}, {500, 16, 0.0, 3, 0}, {100, 1, 0.5, 3, 50},
                 {10, 16, 0.5, 2, 0},    {7, 1, 1.0, 4, 4},    {1000, 16, 0.25, 4, 256},
                 {33, 16, 0.9, 2, 32}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t at = 0;
        for (int i = 0; i < cases[c].t; i++) {
            int64_t lo, hi;
            volt_cpu_share(cases[c].n, cases[c].unit, cases[c].lead, cases[c].t, i, &lo, &hi);
            assert_int_equal(lo, at);
            assert_true(hi >= lo);
            if (hi < cases[c].n) assert_int_equal(hi % cases[c].unit, 0);
            if (i == 0) assert_int_equal(hi, cases[c].first);
            at = hi;
        }
        assert_int_equal(at, cases[c].n);
    }
}

/* The ops whose loops take the model, on small operands. */
static void compute(volt_tensor **out) {
    volt_generator g = volt_generator_make(21, 0);
    volt_tensor *a = volt_randn(VOLT_SHAPE(37, 129), VOLT_F32, &g);
    volt_tensor *b = volt_randn(VOLT_SHAPE(129), VOLT_F32, &g);
    volt_tensor *x = volt_randn(VOLT_SHAPE(3, 5, 10, 12), VOLT_F32, &g);
    volt_tensor *w = volt_randn(VOLT_SHAPE(129, 10), VOLT_F32, &g);
    out[0] = volt_mul(volt_transpose(volt_exp(a), 0, 1), volt_reshape(b, VOLT_SHAPE(129, 1)));
    out[1] = volt_sum(a, VOLT_DIMS(0), false); /* columns */
    out[2] = volt_sum(a, VOLT_DIMS(1), false); /* rows */
    out[3] = volt_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
    out[4] = volt_matmul(a, w);
}

static void test_forced_parallel_same_bits(void **state) {
    (void)state;
    enum { N = 5 };
    int saved = volt_get_num_threads();
    volt_tensor *one[N], *many[N];
    volt_set_num_threads(1);
    compute(one);
    volt_cpu_set_region_ns(0);
    for (int threads = 2; threads <= 3; threads++) {
        volt_set_num_threads(threads);
        compute(many);
        VT_ASSERT_NO_ERROR();
        for (int i = 0; i < N; i++) {
            assert_int_equal(volt_tensor_numel(one[i]), volt_tensor_numel(many[i]));
            volt_tensor *c1 = volt_contiguous(one[i]), *c2 = volt_contiguous(many[i]);
            if (memcmp(volt_tensor_data(c1), volt_tensor_data(c2),
                       (size_t)volt_tensor_numel(c1) * sizeof(float)) != 0)
                fail_msg("result %d differs on %d threads", i, threads);
        }
    }
    volt_cpu_set_region_ns(-1);
    volt_set_num_threads(saved);
}

/* A product too small for two threads runs its oneDNN primitive on one,
 * and leaves the thread's OpenMP team size as it found it (OpenBLAS and
 * the caller's own regions read it). */
static void test_small_product_restores_team(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    volt_set_num_threads(2);
    volt_cpu_set_region_ns(1e12); /* nothing pays for a region */
    volt_generator g = volt_generator_make(5, 0);
    volt_tensor *a = volt_randn(VOLT_SHAPE(8, 64), VOLT_F32, &g);
    volt_tensor *b = volt_randn(VOLT_SHAPE(64, 8), VOLT_F32, &g);
    volt_tensor *c = volt_matmul(a, b);
    assert_non_null(c);
    assert_int_equal(omp_get_max_threads(), 2);
    volt_cpu_set_region_ns(-1);
    volt_set_num_threads(saved);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_wait_policy),
        VT_TEST(test_threads_for_work),
        VT_TEST(test_lead_share),
        VT_TEST(test_forced_parallel_same_bits),
        VT_TEST(test_small_product_restores_team),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
