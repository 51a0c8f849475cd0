/* test_loader_distributed.c: volt_data_loader_set_distributed — the shards
 * of distributed training. Over a 10-item dataset (y = item index): the
 * shards of a shuffled loader are disjoint apart from the padding, cover
 * every item, have equal lengths, and interleave into the order one process
 * delivers for the same seed and epoch (so that 2 ranks x batch B see the
 * batches of 1 process x 2B); sequential and sampler orders shard as
 * computed by hand; workers deliver the same; a mid-epoch state restores the
 * rest of the shard; world size 1 restores the whole order; set_seed makes
 * two loaders agree; bad ranks are refused. */
#include "volt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/data.h>

#define N 10
#define MAX_ITEMS 64

/* x f32 [N, 2] = (i, -i), y i64 [N] = i. */
static volt_dataset *make_dataset(void) {
    volt_tensor *x = volt_empty(VOLT_SHAPE(N, 2), VOLT_F32);
    for (int i = 0; i < N; i++) {
        ((float *)volt_tensor_data(x))[2 * i] = (float)i;
        ((float *)volt_tensor_data(x))[2 * i + 1] = -(float)i;
    }
    volt_tensor *y = volt_arange(0, N, 1, VOLT_I64);
    return volt_tensor_dataset_new(2, (const char *[]){"x", "y"}, (volt_tensor *[]){x, y});
}

typedef struct {
    int n_batches;
    int64_t n; /* items */
    int64_t y[MAX_ITEMS];
    int64_t size[MAX_ITEMS];
} epoch;

/* The y values of up to `limit` batches (-1: the rest of the epoch). */
static void take(volt_data_loader *l, epoch *e, int limit) {
    memset(e, 0, sizeof *e);
    for (;;) {
        if (limit >= 0 && e->n_batches == limit) return;
        volt_scope_begin();
        volt_batch b;
        bool more = volt_data_loader_next(l, &b);
        if (more) {
            assert_true(e->n + b.size <= MAX_ITEMS);
            const int64_t *y = volt_tensor_data(b.y);
            const float *x = volt_tensor_data(b.x);
            for (int64_t j = 0; j < b.size; j++) {
                assert_true(x[2 * j] == (float)y[j]); /* x travels with its y */
                e->y[e->n++] = y[j];
            }
            e->size[e->n_batches++] = b.size;
        }
        volt_scope_end();
        if (!more) break;
    }
    VT_ASSERT_NO_ERROR();
}

static volt_data_loader *make_loader(volt_dataset *ds, bool shuffle, int workers, int rank,
                                     int world) {
    volt_data_loader *l = volt_data_loader_new(
        ds, &(volt_data_loader_options){
                .batch_size = 3, .shuffle = shuffle, .num_workers = workers, .seed = 42});
    assert_non_null(l);
    assert_int_equal(volt_data_loader_set_distributed(l, rank, world), VOLT_OK);
    return l;
}

/* Shard `rank` of `world` of the epoch's whole order: what one process's
 * shuffled loader (world 1, seed 42) delivers, which is also
 * volt_random_sampler_new(N, 42)'s order; padded with its first indices,
 * every world-th from rank. */
static void expected_shard(int rank, int world, int64_t ep, int64_t *out, int64_t *n) {
    volt_sampler *s = volt_random_sampler_new(N, 42);
    int64_t order[N];
    volt_sampler_set_epoch(s, ep);
    assert_int_equal(volt_sampler_indices(s, order), VOLT_OK);
    volt_sampler_free(s);

    volt_dataset *ds = make_dataset();
    volt_data_loader *one = volt_data_loader_new(
        ds, &(volt_data_loader_options){.batch_size = 3, .shuffle = true, .seed = 42});
    volt_data_loader_set_epoch(one, ep);
    epoch whole;
    take(one, &whole, -1);
    assert_int_equal(whole.n, N);
    assert_memory_equal(whole.y, order, sizeof order);
    volt_data_loader_free(one);
    volt_dataset_free(ds);

    *n = (N + world - 1) / world;
    for (int64_t k = 0; k < *n; k++) out[k] = order[(rank + k * world) % N];
}

/* ------------------------------------------------------ shuffled shards */

/* Two epochs of every rank's shard of a shuffled loader: equal lengths,
 * every world-th index of one process's order, together every item, the
 * extra ones being the padding (the first world * len - N of the order). */
static void check_shuffled_shards(int world, int workers) {
    volt_dataset *ds = make_dataset();
    int64_t len = (N + world - 1) / world, batches = (len + 2) / 3;
    for (int64_t ep = 0; ep < 2; ep++) {
        int count[N] = {0};
        int64_t first[MAX_ITEMS]; /* position p of the padded order, from the shards */
        for (int r = 0; r < world; r++) {
            volt_data_loader *l = make_loader(ds, true, workers, r, world);
            volt_data_loader_set_epoch(l, ep);
            assert_int_equal(volt_data_loader_len(l), batches);
            epoch e;
            take(l, &e, -1);
            assert_int_equal(e.n_batches, batches);
            assert_int_equal(e.n, len);
            int64_t want[MAX_ITEMS], n;
            expected_shard(r, world, ep, want, &n);
            assert_int_equal(n, len);
            assert_memory_equal(e.y, want, (size_t)len * sizeof *want);
            for (int64_t k = 0; k < len; k++) {
                count[e.y[k]]++;
                first[r + k * world] = e.y[k];
            }
            volt_data_loader_free(l);
        }
        int64_t padding = world * len - N;
        for (int i = 0; i < N; i++) {
            bool padded = false;
            for (int64_t p = 0; p < padding; p++) padded |= first[p] == i;
            assert_int_equal(count[i], padded ? 2 : 1);
        }
        /* The padding repeats the first indices of the order. */
        for (int64_t p = 0; p < padding; p++) assert_int_equal(first[N + p], first[p]);
    }
    volt_dataset_free(ds);
}

static void test_two_shuffled_shards(void **state) {
    (void)state;
    check_shuffled_shards(2, 0); /* 5 + 5 items, no padding: disjoint */
}

static void test_three_shuffled_shards_with_padding(void **state) {
    (void)state;
    check_shuffled_shards(3, 0); /* 4 + 4 + 4 items, two repeated */
}

static void test_workers_give_the_same_shards(void **state) {
    (void)state;
    check_shuffled_shards(2, 2);
    check_shuffled_shards(3, 3);
}

/* Rank 0's and rank 1's batch k of size 2 together are batch k of size 4
 * of one process, for a shuffled loader (DDP's equivalence). */
static void test_two_ranks_make_the_batches_of_one(void **state) {
    (void)state;
    volt_dataset *ds = make_dataset();
    epoch ranks[2], one;
    for (int r = 0; r < 2; r++) {
        volt_data_loader *l = volt_data_loader_new(
            ds, &(volt_data_loader_options){.batch_size = 2, .shuffle = true, .seed = 42});
        assert_int_equal(volt_data_loader_set_distributed(l, r, 2), VOLT_OK);
        volt_data_loader_set_epoch(l, 1);
        take(l, &ranks[r], -1);
        volt_data_loader_free(l);
    }
    volt_data_loader *l = volt_data_loader_new(
        ds, &(volt_data_loader_options){.batch_size = 4, .shuffle = true, .seed = 42});
    volt_data_loader_set_epoch(l, 1);
    take(l, &one, -1);
    assert_int_equal(one.n_batches, 3);
    for (int r = 0; r < 2; r++) assert_int_equal(ranks[r].n_batches, 3); /* 2, 2, 1 */
    for (int64_t p = 0; p < N; p++) assert_int_equal(ranks[p % 2].y[p / 2], one.y[p]);
    volt_data_loader_free(l);
    volt_dataset_free(ds);
}

static void test_epochs_differ(void **state) {
    (void)state;
    volt_dataset *ds = make_dataset();
    volt_data_loader *l = make_loader(ds, true, 0, 0, 2);
    epoch a, b;
    take(l, &a, -1);
    take(l, &b, -1);
    assert_int_equal(a.n, 5);
    assert_int_equal(b.n, 5);
    assert_memory_not_equal(a.y, b.y, 5 * sizeof *a.y);
    volt_data_loader_free(l);
    volt_dataset_free(ds);
}

/* ------------------------------------------- sequential, sampler orders */

static void test_sequential_shards_by_hand(void **state) {
    (void)state;
    volt_dataset *ds = make_dataset();
    /* 0..9 padded to 0..9, 0, 1; rank r takes r, r + 3, ... */
    const int64_t want[3][4] = {{0, 3, 6, 9}, {1, 4, 7, 0}, {2, 5, 8, 1}};
    for (int r = 0; r < 3; r++) {
        volt_data_loader *l = make_loader(ds, false, 0, r, 3);
        assert_int_equal(volt_data_loader_len(l), 2);
        epoch e;
        take(l, &e, -1);
        assert_int_equal(e.n, 4);
        assert_int_equal(e.size[0], 3);
        assert_int_equal(e.size[1], 1);
        assert_memory_equal(e.y, want[r], sizeof want[r]);
        volt_data_loader_free(l);
    }
    volt_dataset_free(ds);
}

static void test_sampler_order_is_sharded(void **state) {
    (void)state;
    volt_dataset *ds = make_dataset();
    volt_sampler *s = volt_random_sampler_new(N, 7);
    int64_t order[N];
    volt_sampler_set_epoch(s, 1);
    assert_int_equal(volt_sampler_indices(s, order), VOLT_OK);
    for (int r = 0; r < 2; r++) {
        volt_data_loader *l =
            volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 2, .sampler = s});
        assert_int_equal(volt_data_loader_set_distributed(l, r, 2), VOLT_OK);
        volt_data_loader_set_epoch(l, 1);
        epoch e;
        take(l, &e, -1);
        assert_int_equal(e.n, 5);
        for (int k = 0; k < 5; k++) assert_int_equal(e.y[k], order[r + 2 * k]);
        volt_data_loader_free(l);
    }
    volt_sampler_free(s);

    /* One index for two ranks: rank 1's shard is the padding, index 0. */
    volt_sampler *one = volt_sequential_sampler_new(1);
    volt_data_loader *l =
        volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 4, .sampler = one});
    assert_int_equal(volt_data_loader_set_distributed(l, 1, 2), VOLT_OK);
    epoch e;
    take(l, &e, -1);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.y[0], 0);
    volt_data_loader_free(l);
    volt_sampler_free(one);
    volt_dataset_free(ds);
}

static void test_drop_last_applies_to_the_shard(void **state) {
    (void)state;
    volt_dataset *ds = make_dataset();
    volt_data_loader *l = volt_data_loader_new(
        ds, &(volt_data_loader_options){.batch_size = 3, .drop_last = true, .seed = 42});
    assert_int_equal(volt_data_loader_len(l), 3);
    assert_int_equal(volt_data_loader_set_distributed(l, 1, 2), VOLT_OK);
    assert_int_equal(volt_data_loader_len(l), 1); /* 5 items: one batch of 3 */
    epoch e;
    take(l, &e, -1);
    assert_int_equal(e.n_batches, 1);
    assert_memory_equal(e.y, ((int64_t[]){1, 3, 5}), 3 * sizeof(int64_t));
    volt_data_loader_free(l);
    volt_dataset_free(ds);
}

/* ----------------------------------------------------- state, world 1 */

static void test_state_restores_mid_shard(void **state) {
    (void)state;
    volt_dataset *ds = make_dataset();
    volt_data_loader *a = make_loader(ds, true, 0, 1, 3); /* 4 items: batches of 3, 1 */
    epoch whole, head, rest;
    volt_data_loader_set_epoch(a, 2);
    take(a, &whole, -1);
    volt_data_loader_set_epoch(a, 2);
    take(a, &head, 1);
    volt_data_loader_state s = volt_data_loader_state_get(a);
    assert_int_equal(s.epoch, 2);
    assert_int_equal(s.position, 1);
    assert_int_equal(s.n_batches, 2);

    volt_data_loader *b = make_loader(ds, true, 2, 1, 3);
    assert_int_equal(volt_data_loader_state_set(b, &s), VOLT_OK);
    take(b, &rest, -1);
    assert_int_equal(head.n + rest.n, whole.n);
    assert_memory_equal(head.y, whole.y, (size_t)head.n * sizeof *whole.y);
    assert_memory_equal(rest.y, whole.y + head.n, (size_t)rest.n * sizeof *whole.y);

    /* A loader over the whole order has another length: refused. */
    volt_data_loader *c = make_loader(ds, true, 0, 0, 1);
    assert_int_equal(volt_data_loader_state_set(c, &s), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "saved by a loader of 2 batches per epoch, this "
                                               "one has 4 (rank 0 of 1)");
    volt_data_loader_free(a);
    volt_data_loader_free(b);
    volt_data_loader_free(c);
    volt_dataset_free(ds);
}

static void test_world_one_restores_the_whole_order(void **state) {
    (void)state;
    volt_dataset *ds = make_dataset();
    volt_data_loader *plain = volt_data_loader_new(
        ds, &(volt_data_loader_options){.batch_size = 3, .shuffle = true, .seed = 42});
    volt_data_loader *l = make_loader(ds, true, 0, 1, 2);
    assert_int_equal(volt_data_loader_len(l), 2);
    epoch e, p;
    take(l, &e, 1); /* mid-epoch 0 */
    assert_int_equal(volt_data_loader_set_distributed(l, 0, 1), VOLT_OK);
    assert_int_equal(volt_data_loader_rank(l), 0);
    assert_int_equal(volt_data_loader_world_size(l), 1);
    assert_int_equal(volt_data_loader_len(l), 4);
    volt_data_loader_state s = volt_data_loader_state_get(l);
    assert_int_equal(s.epoch, 0); /* kept */
    assert_int_equal(s.position, 0);
    take(l, &e, -1);
    take(plain, &p, -1);
    assert_int_equal(e.n, N);
    assert_memory_equal(e.y, p.y, N * sizeof *p.y);
    volt_data_loader_free(plain);
    volt_data_loader_free(l);
    volt_dataset_free(ds);
}

static void test_set_seed_makes_loaders_agree(void **state) {
    (void)state;
    volt_dataset *ds = make_dataset();
    volt_data_loader *a = volt_data_loader_new(
        ds, &(volt_data_loader_options){.batch_size = 3, .shuffle = true, .seed = 1});
    volt_data_loader *b = volt_data_loader_new(
        ds, &(volt_data_loader_options){.batch_size = 3, .shuffle = true, .seed = 2});
    assert_int_equal(volt_data_loader_set_distributed(a, 0, 2), VOLT_OK);
    assert_int_equal(volt_data_loader_set_distributed(b, 1, 2), VOLT_OK);
    epoch ea, eb;
    take(a, &ea, 1);
    assert_int_equal(volt_data_loader_set_seed(a, 42), VOLT_OK);
    assert_int_equal(volt_data_loader_set_seed(b, 42), VOLT_OK);
    assert_int_equal(volt_data_loader_state_get(a).seed, 42);
    volt_data_loader_set_epoch(a, 0);
    take(a, &ea, -1);
    take(b, &eb, -1);
    int64_t want[8], n;
    expected_shard(0, 2, 0, want, &n);
    assert_memory_equal(ea.y, want, 5 * sizeof *want);
    expected_shard(1, 2, 0, want, &n);
    assert_memory_equal(eb.y, want, 5 * sizeof *want);
    volt_data_loader_free(a);
    volt_data_loader_free(b);
    volt_dataset_free(ds);
}

/* --------------------------------------------------------- bad input */

static void test_bad_shards_refused(void **state) {
    (void)state;
    volt_dataset *ds = make_dataset();
    volt_data_loader *l = make_loader(ds, false, 0, 1, 2);
    const int bad[][2] = {{2, 2}, {-1, 2}, {0, 0}, {0, -3}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(volt_data_loader_set_distributed(l, bad[i][0], bad[i][1]),
                         VOLT_ERR_INVALID_ARGUMENT);
        char expected[160];
        snprintf(expected, sizeof expected,
                 "data_loader_set_distributed: rank %d of world size %d (need world_size >= 1 "
                 "and 0 <= rank < world_size)",
                 bad[i][0], bad[i][1]);
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, expected);
    }
    /* the shard is unchanged */
    assert_int_equal(volt_data_loader_rank(l), 1);
    assert_int_equal(volt_data_loader_world_size(l), 2);
    assert_int_equal(volt_data_loader_set_distributed(NULL, 0, 1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "data_loader_set_distributed: NULL loader");
    assert_int_equal(volt_data_loader_set_seed(NULL, 1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "data_loader_set_seed: NULL loader");
    assert_int_equal(volt_data_loader_rank(NULL), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "data_loader_rank: NULL loader");
    assert_int_equal(volt_data_loader_world_size(NULL), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "data_loader_world_size: NULL loader");
    volt_data_loader_free(l);
    volt_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_two_shuffled_shards),
        VT_TEST(test_three_shuffled_shards_with_padding),
        VT_TEST(test_workers_give_the_same_shards),
        VT_TEST(test_two_ranks_make_the_batches_of_one),
        VT_TEST(test_epochs_differ),
        VT_TEST(test_sequential_shards_by_hand),
        VT_TEST(test_sampler_order_is_sharded),
        VT_TEST(test_drop_last_applies_to_the_shard),
        VT_TEST(test_state_restores_mid_shard),
        VT_TEST(test_world_one_restores_the_whole_order),
        VT_TEST(test_set_seed_makes_loaders_agree),
        VT_TEST(test_bad_shards_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
