/* test_sampler.c: the samplers — sequential; random (a permutation per
 * epoch, reproducible: the expected orders were computed by an independent
 * Python implementation of Philox-4x32-10 + splitmix64 + Fisher-Yates);
 * weighted (frequencies, zero weights, without replacement); distributed
 * (PyTorch's padding and drop_last by hand, disjoint complete shuffled shards,
 * set_epoch, the order of a loader sharded with the same seed); and their
 * argument errors. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/data.h>

static int64_t *indices_of(volt_sampler *s) {
    int64_t n = volt_sampler_len(s);
    int64_t *out = calloc((size_t)(n > 0 ? n : 1), sizeof *out);
    assert_int_equal(volt_sampler_indices(s, out), VOLT_OK);
    return out;
}

static void assert_indices(volt_sampler *s, const int64_t *expected, int64_t n) {
    assert_int_equal(volt_sampler_len(s), n);
    int64_t *got = indices_of(s);
    for (int64_t i = 0; i < n; i++) {
        if (got[i] != expected[i])
            fprintf(stderr, "index %lld: %lld, expected %lld\n", (long long)i, (long long)got[i],
                    (long long)expected[i]);
        assert_int_equal(got[i], expected[i]);
    }
    free(got);
}

static void test_sequential(void **state) {
    (void)state;
    volt_sampler *s = volt_sequential_sampler_new(5);
    assert_indices(s, (int64_t[]){0, 1, 2, 3, 4}, 5);
    volt_sampler_set_epoch(s, 3);
    assert_indices(s, (int64_t[]){0, 1, 2, 3, 4}, 5);
    volt_sampler_free(s);
    assert_null(volt_sequential_sampler_new(-1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "sequential_sampler: -1 items");
}

static void test_random_reproducible(void **state) {
    (void)state;
    volt_sampler *s = volt_random_sampler_new(10, 42);
    assert_indices(s, (int64_t[]){8, 2, 9, 3, 1, 6, 7, 0, 4, 5}, 10);
    volt_sampler_set_epoch(s, 1);
    assert_indices(s, (int64_t[]){5, 2, 4, 7, 6, 8, 0, 3, 1, 9}, 10);
    volt_sampler_set_epoch(s, 0);
    assert_indices(s, (int64_t[]){8, 2, 9, 3, 1, 6, 7, 0, 4, 5}, 10);
    volt_sampler_free(s);
}

static void test_random_is_permutation(void **state) {
    (void)state;
    volt_sampler *a = volt_random_sampler_new(1000, 1), *b = volt_random_sampler_new(1000, 2);
    int64_t *x = indices_of(a), *y = indices_of(b);
    int seen[1000] = {0}, same = 0;
    for (int i = 0; i < 1000; i++) {
        seen[x[i]]++;
        same += x[i] == y[i];
    }
    for (int i = 0; i < 1000; i++) assert_int_equal(seen[i], 1);
    assert_true(same < 20); /* another seed, another order (about 1 match expected) */
    free(x);
    free(y);
    volt_sampler_free(a);
    volt_sampler_free(b);
}

static void test_weighted_with_replacement(void **state) {
    (void)state;
    volt_sampler *s = volt_weighted_sampler_new((double[]){1, 0, 3}, 3, 40000, true, 5);
    int64_t *x = indices_of(s);
    int count[3] = {0};
    for (int i = 0; i < 40000; i++) count[x[i]]++;
    assert_int_equal(count[1], 0);
    double p2 = count[2] / 40000.0; /* 0.75, std 0.0022 */
    assert_true(p2 > 0.74 && p2 < 0.76);
    free(x);
    volt_sampler_free(s);
    /* A trailing zero weight is never drawn either. */
    s = volt_weighted_sampler_new((double[]){2, 0}, 2, 1000, true, 5);
    x = indices_of(s);
    for (int i = 0; i < 1000; i++) assert_int_equal(x[i], 0);
    free(x);
    volt_sampler_free(s);
}

static void test_weighted_without_replacement(void **state) {
    (void)state;
    volt_sampler *s = volt_weighted_sampler_new((double[]){1, 0, 2, 5}, 4, 3, false, 9);
    int64_t *x = indices_of(s);
    int seen[4] = {0};
    for (int i = 0; i < 3; i++) seen[x[i]]++;
    assert_int_equal(seen[0] + seen[2] + seen[3], 3); /* each positive weight once */
    assert_int_equal(seen[1], 0);
    free(x);
    volt_sampler_free(s);
    /* P(first draw = 1) = 9 / 10 for weights {1, 9}: over 2000 epochs. */
    s = volt_weighted_sampler_new((double[]){1, 9}, 2, 1, false, 3);
    int firsts = 0;
    for (int e = 0; e < 2000; e++) {
        volt_sampler_set_epoch(s, e);
        int64_t i;
        assert_int_equal(volt_sampler_indices(s, &i), VOLT_OK);
        firsts += i == 1;
    }
    assert_true(firsts > 1740 && firsts < 1860); /* 1800 +- 4.5 std */
    volt_sampler_free(s);
}

static void test_weighted_errors(void **state) {
    (void)state;
    assert_null(volt_weighted_sampler_new((double[]){1, -1}, 2, 3, true, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "weights[1] = -1");
    assert_null(volt_weighted_sampler_new((double[]){0, 0}, 2, 3, true, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "every weight is 0");
    assert_null(volt_weighted_sampler_new((double[]){1, 0, 1}, 3, 3, false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "3 samples without replacement, but only 2 weights");
    assert_null(volt_weighted_sampler_new((double[]){1, NAN}, 2, 1, true, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "nan (need finite, >= 0)");
}

static void test_distributed_ordered(void **state) {
    (void)state;
    /* PyTorch's DistributedSampler(shuffle=False) on 10 items, 3 replicas:
     * padded to 12 with items 0, 1; rank r takes r, r + 3, ... */
    static const int64_t padded[3][4] = {{0, 3, 6, 9}, {1, 4, 7, 0}, {2, 5, 8, 1}};
    static const int64_t dropped[3][3] = {{0, 3, 6}, {1, 4, 7}, {2, 5, 8}};
    for (int r = 0; r < 3; r++) {
        volt_sampler *s = volt_distributed_sampler_new(10, r, 3, false, false, 0);
        assert_indices(s, padded[r], 4);
        volt_sampler_free(s);
        s = volt_distributed_sampler_new(10, r, 3, false, true, 0);
        assert_indices(s, dropped[r], 3);
        volt_sampler_free(s);
    }
    /* Fewer items than ranks: every rank still gets one (padding repeats). */
    volt_sampler *s = volt_distributed_sampler_new(2, 2, 3, false, false, 0);
    assert_indices(s, (int64_t[]){0}, 1);
    volt_sampler_free(s);
    s = volt_distributed_sampler_new(2, 2, 3, false, true, 0);
    assert_int_equal(volt_sampler_len(s), 0);
    volt_sampler_free(s);
}

static void test_distributed_shuffled_shards(void **state) {
    (void)state;
    enum { N = 103, W = 4 };
    volt_sampler *s[W];
    for (int r = 0; r < W; r++) s[r] = volt_distributed_sampler_new(N, r, W, true, false, 7);
    int64_t rank0[3][26];
    for (int e = 0; e < 3; e++) {
        int seen[N] = {0};
        for (int r = 0; r < W; r++) {
            volt_sampler_set_epoch(s[r], e);
            assert_int_equal(volt_sampler_len(s[r]), 26); /* ceil(103 / 4), equal lengths */
            int64_t *x = indices_of(s[r]);
            for (int k = 0; k < 26; k++) seen[x[k]]++;
            if (r == 0) memcpy(rank0[e], x, sizeof rank0[e]);
            free(x);
        }
        int total = 0;
        for (int i = 0; i < N; i++) {
            assert_true(seen[i] >= 1 && seen[i] <= 2); /* complete; one repeat at most */
            total += seen[i];
        }
        assert_int_equal(total, 104); /* 103 + 1 padding */
    }
    assert_true(memcmp(rank0[0], rank0[1], sizeof rank0[0]) != 0); /* reshuffled */
    assert_true(memcmp(rank0[1], rank0[2], sizeof rank0[0]) != 0);
    /* Without padding (12 items, 3 ranks) the shards are an exact partition,
     * in the order of the shuffle, and set_epoch reshuffles. */
    /* The loader's shuffle stream (the random sampler's), computed by the
     * same independent Python model as the random orders above. */
    static const int64_t perm[12] = {2, 3, 0, 6, 10, 7, 8, 5, 4, 11, 1, 9};
    for (int r = 0; r < 3; r++) {
        volt_sampler *d = volt_distributed_sampler_new(12, r, 3, true, false, 7);
        int64_t expected[4] = {perm[r], perm[r + 3], perm[r + 6], perm[r + 9]};
        assert_indices(d, expected, 4);
        volt_sampler_set_epoch(d, 1);
        int64_t *x = indices_of(d);
        assert_true(memcmp(x, expected, sizeof expected) != 0);
        free(x);
        volt_sampler_free(d);
    }
    for (int r = 0; r < W; r++) volt_sampler_free(s[r]);
}

/* A shuffled loader sharded like the trainer's and Fabric's
 * use_distributed_sampler (volt_data_loader_set_distributed) and a shuffled
 * distributed sampler of the same seed give every rank the same items in
 * the same order, epoch after epoch (with 10 items and 3 ranks: padded). */
static void test_distributed_sampler_matches_sharded_loader(void **state) {
    (void)state;
    volt_scope_begin();
    volt_tensor *x = volt_reshape(volt_arange(0, 10, 1, VOLT_F32), VOLT_SHAPE(10, 1));
    volt_dataset *ds =
        volt_tensor_dataset_new(1, (const char *const[]){"x"}, (volt_tensor *const[]){x});
    volt_scope_end();
    for (int r = 0; r < 3; r++) {
        volt_data_loader *dl = volt_data_loader_new(
            ds, &(volt_data_loader_options){.batch_size = 1, .shuffle = true, .seed = 7});
        assert_int_equal(volt_data_loader_set_distributed(dl, r, 3), VOLT_OK);
        volt_sampler *s = volt_distributed_sampler_new(10, r, 3, true, false, 7);
        for (int e = 0; e < 2; e++) {
            volt_sampler_set_epoch(s, e);
            int64_t *want = indices_of(s);
            volt_data_loader_set_epoch(dl, e);
            volt_batch b;
            for (int k = 0; k < 4; k++) {
                volt_scope_begin();
                assert_true(volt_data_loader_next(dl, &b));
                assert_int_equal((int64_t)volt_tensor_get_flat(b.x, 0), want[k]);
                volt_scope_end();
            }
            free(want);
        }
        volt_sampler_free(s);
        volt_data_loader_free(dl);
    }
    volt_dataset_free(ds);
}

static void test_distributed_errors(void **state) {
    (void)state;
    assert_null(volt_distributed_sampler_new(10, 3, 3, true, false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "rank 3 of world size 3");
    assert_null(volt_distributed_sampler_new(10, 0, 0, true, false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "world size 0");
    assert_int_equal(volt_sampler_len(NULL), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL sampler");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_sequential),
        VT_TEST(test_random_reproducible),
        VT_TEST(test_random_is_permutation),
        VT_TEST(test_weighted_with_replacement),
        VT_TEST(test_weighted_without_replacement),
        VT_TEST(test_weighted_errors),
        VT_TEST(test_distributed_ordered),
        VT_TEST(test_distributed_shuffled_shards),
        VT_TEST(test_distributed_sampler_matches_sharded_loader),
        VT_TEST(test_distributed_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
