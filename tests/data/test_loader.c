/* test_loader.c: the data loader — length, order, u8 -> f32, shuffling per
 * epoch; bitwise identical batches for 0, 1 and 3 workers (with transforms,
 * on synthetic data, a dataset without a fast path, and the real
 * Fashion-MNIST test set); exact mid-epoch resume through the state (and its
 * JSON); early stop with batches in flight (no leak, no hang: run under
 * ASan/LSan and TSan); errors raised in workers; batches built ahead
 * (volt_data_loader_prefetch); samplers in loaders; scope ownership of
 * delivered batches; bad options. */
#include "volt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <volt/data.h>

#define N_ITEMS 103

/* x u8 [N, 1, 8, 8] random bytes, y i64 [N] = i; a tensor dataset. */
static volt_dataset *make_images(int64_t n) {
    volt_generator g = volt_generator_make(99, 0);
    volt_tensor *x = volt_randint(0, 256, VOLT_SHAPE(n, 1, 8, 8), VOLT_U8, &g);
    volt_tensor *y = volt_arange(0, (double)n, 1, VOLT_I64);
    return volt_tensor_dataset_new(2, (const char *[]){"x", "y"}, (volt_tensor *[]){x, y});
}

/* A dataset without get_batch: x f32 [1, 4, 4] = i + pixel / 16, y = i;
 * sleeps `delay_us` per item; item `broken` fails. */
typedef struct {
    volt_dataset base;
    int64_t n, broken, delay_us;
} slow_dataset;

static int64_t slow_len(const volt_dataset *self) { return ((const slow_dataset *)self)->n; }

static int slow_gets; /* items the slow datasets built */

static volt_status slow_get(const volt_dataset *self, int64_t i, volt_sample *out) {
    const slow_dataset *d = (const slow_dataset *)self;
    __atomic_fetch_add(&slow_gets, 1, __ATOMIC_RELAXED);
    if (d->delay_us) nanosleep(&(struct timespec){0, d->delay_us * 1000}, NULL);
    if (i == d->broken)
        return volt_error_set(VOLT_ERR_FORMAT, "slow: item %lld is broken", (long long)i);
    volt_tensor *x = volt_empty(VOLT_SHAPE(1, 4, 4), VOLT_F32);
    for (int k = 0; k < 16; k++) ((float *)volt_tensor_data(x))[k] = (float)i + (float)k / 16.0f;
    volt_sample_set(out, "x", x);
    return volt_sample_set(out, "y", volt_scalar((double)i, VOLT_I64));
}

static const volt_dataset_ops slow_ops = {.name = "slow", .len = slow_len, .get = slow_get};

/* ------------------------------------------------------- recorded runs */

#define MAX_BATCHES 128

typedef struct {
    int n;
    int64_t size[MAX_BATCHES], x_numel[MAX_BATCHES];
    float *x[MAX_BATCHES];
    int64_t *y[MAX_BATCHES];
} run;

static bool prefetching; /* record() builds each batch ahead first */

/* Copies up to `limit` batches (all: -1) of the current epoch into r. */
static void record(volt_data_loader *l, run *r, int limit) {
    memset(r, 0, sizeof *r);
    for (;;) {
        if (limit >= 0 && r->n == limit) return;
        if (prefetching) {
            int64_t position = volt_data_loader_state_get(l).position;
            volt_data_loader_prefetch(l);
            volt_data_loader_prefetch(l); /* a batch is ahead already: nothing */
            VT_ASSERT_NO_ERROR();
            assert_int_equal(volt_data_loader_state_get(l).position, position);
        }
        volt_scope_begin();
        volt_batch b;
        bool more = volt_data_loader_next(l, &b);
        if (more) {
            assert_true(r->n < MAX_BATCHES);
            assert_int_equal(b.x->dtype, VOLT_F32);
            int64_t nx = volt_tensor_numel(b.x), ny = volt_tensor_numel(b.y);
            assert_int_equal(ny, b.size);
            r->size[r->n] = b.size;
            r->x_numel[r->n] = nx;
            r->x[r->n] = malloc((size_t)nx * sizeof(float));
            r->y[r->n] = malloc((size_t)ny * sizeof(int64_t));
            memcpy(r->x[r->n], volt_tensor_data(b.x), (size_t)nx * sizeof(float));
            memcpy(r->y[r->n], volt_tensor_data(b.y), (size_t)ny * sizeof(int64_t));
            r->n++;
        }
        volt_scope_end();
        if (!more) break;
    }
    VT_ASSERT_NO_ERROR();
}

static void free_run(run *r) {
    for (int i = 0; i < r->n; i++) {
        free(r->x[i]);
        free(r->y[i]);
    }
    r->n = 0;
}

/* Batches a[from..] equal b[0..] bitwise. */
static void assert_same(const run *a, int from, const run *b) {
    assert_int_equal(a->n - from, b->n);
    for (int i = 0; i < b->n; i++) {
        assert_int_equal(a->size[from + i], b->size[i]);
        assert_int_equal(a->x_numel[from + i], b->x_numel[i]);
        assert_memory_equal(a->x[from + i], b->x[i], (size_t)b->x_numel[i] * sizeof(float));
        assert_memory_equal(a->y[from + i], b->y[i], (size_t)b->size[i] * sizeof(int64_t));
    }
}

/* --------------------------------------------------------------- order */

static void test_len_and_sequential_order(void **state) {
    (void)state;
    volt_dataset *ds = make_images(N_ITEMS);
    volt_data_loader *l = volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 10});
    assert_int_equal(volt_data_loader_len(l), 11);
    run r;
    record(l, &r, -1);
    assert_int_equal(r.n, 11);
    for (int k = 0; k < 11; k++) {
        assert_int_equal(r.size[k], k < 10 ? 10 : 3);
        for (int j = 0; j < r.size[k]; j++) assert_int_equal(r.y[k][j], 10 * k + j);
    }
    /* u8 pixels arrive as f32 value / 255. */
    volt_sample s;
    assert_int_equal(volt_dataset_get(ds, 100, &s), VOLT_OK);
    const uint8_t *px = volt_tensor_data(s.fields[0]);
    for (int k = 0; k < 64; k++) assert_true(r.x[10][k] == (float)px[k] / 255.0f);
    volt_data_loader_state st = volt_data_loader_state_get(l);
    assert_int_equal(st.epoch, 1);
    assert_int_equal(st.position, 0);
    free_run(&r);
    volt_data_loader_free(l);

    l = volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 10, .drop_last = true});
    assert_int_equal(volt_data_loader_len(l), 10);
    record(l, &r, -1);
    assert_int_equal(r.n, 10);
    assert_int_equal(r.y[9][9], 99);
    free_run(&r);
    volt_data_loader_free(l);
    volt_dataset_free(ds);
}

static void test_shuffle_per_epoch(void **state) {
    (void)state;
    volt_dataset *ds = make_images(N_ITEMS);
    volt_data_loader_options o = {.batch_size = 16, .shuffle = true, .seed = 5};
    volt_data_loader *a = volt_data_loader_new(ds, &o), *b = volt_data_loader_new(ds, &o);
    run e0, e1, again;
    record(a, &e0, -1);
    record(a, &e1, -1);
    record(b, &again, -1);
    assert_same(&e0, 0, &again);
    int seen[N_ITEMS] = {0}, same_place = 0, k = 0;
    int64_t *sampler_order = malloc(N_ITEMS * sizeof *sampler_order);
    volt_sampler *rs = volt_random_sampler_new(N_ITEMS, 5);
    assert_int_equal(volt_sampler_indices(rs, sampler_order), VOLT_OK);
    for (int i = 0; i < e0.n; i++)
        for (int j = 0; j < e0.size[i]; j++, k++) {
            seen[e0.y[i][j]]++;
            same_place += e0.y[i][j] == e1.y[i][j];
            assert_int_equal(e0.y[i][j], sampler_order[k]); /* the random sampler's order */
        }
    for (int i = 0; i < N_ITEMS; i++) assert_int_equal(seen[i], 1);
    assert_true(same_place < 10);
    free(sampler_order);
    volt_sampler_free(rs);
    free_run(&e0);
    free_run(&e1);
    free_run(&again);
    volt_data_loader_free(a);
    volt_data_loader_free(b);
    volt_dataset_free(ds);
}

/* ------------------------------------------------ workers: same batches */

static volt_transform augment[4];

static void set_augment(int64_t size, int64_t pad) {
    augment[0] = volt_transform_random_crop(size, pad);
    augment[1] = volt_transform_random_hflip(0.5);
    augment[2] = volt_transform_normalize(1, (double[]){0.3}, (double[]){0.35});
    augment[3] = volt_transform_random_erasing(0.5);
}

/* Two epochs with 0 workers, then with 1 and 3 workers (various prefetch),
 * must be bitwise identical. */
static void check_workers_identical(volt_dataset *ds, int64_t batch, bool transforms) {
    static const int workers[] = {1, 3, 3};
    static const int prefetch[] = {0, 1, 4};
    volt_data_loader_options o = {.batch_size = batch,
                                  .shuffle = true,
                                  .seed = 77,
                                  .transforms = augment,
                                  .n_transforms = transforms ? 4 : 0,
                                  .flatten = true};
    volt_data_loader *l = volt_data_loader_new(ds, &o);
    assert_non_null(l);
    run ref[2], got;
    record(l, &ref[0], -1);
    record(l, &ref[1], -1);
    volt_data_loader_free(l);
    for (size_t c = 0; c < sizeof workers / sizeof *workers; c++) {
        o.num_workers = workers[c];
        o.prefetch_factor = prefetch[c];
        l = volt_data_loader_new(ds, &o);
        for (int e = 0; e < 2; e++) {
            record(l, &got, -1);
            assert_same(&ref[e], 0, &got);
            free_run(&got);
        }
        volt_data_loader_free(l);
    }
    free_run(&ref[0]);
    free_run(&ref[1]);
}

static void test_workers_identical(void **state) {
    (void)state;
    volt_dataset *ds = make_images(N_ITEMS);
    set_augment(8, 2);
    check_workers_identical(ds, 10, true);
    check_workers_identical(ds, 7, false);
    volt_dataset_free(ds);
    slow_dataset slow = {{&slow_ops}, 50, -1, 0};
    set_augment(4, 1);
    check_workers_identical(&slow.base, 6, true);
}

static void test_workers_identical_fashion_mnist(void **state) {
    (void)state;
    volt_dataset *ds = volt_idx_dataset_new(VOLT_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz",
                                            VOLT_FASHION_MNIST_DIR "/t10k-labels-idx1-ubyte.gz");
    assert_non_null(ds);
    set_augment(28, 4);
    check_workers_identical(ds, 128, true);
    volt_dataset_free(ds);
}

/* ------------------------------------------------------------- resume */

static void test_resume_mid_epoch(void **state) {
    (void)state;
    volt_dataset *ds = make_images(N_ITEMS);
    set_augment(8, 2);
    volt_data_loader_options o = {.batch_size = 8,
                                  .shuffle = true,
                                  .seed = 123,
                                  .transforms = augment,
                                  .n_transforms = 4,
                                  .num_workers = 2};
    volt_data_loader *full = volt_data_loader_new(ds, &o);
    run e[3];
    for (int i = 0; i < 3; i++) record(full, &e[i], -1);
    volt_data_loader_free(full);

    /* Stop after 4 batches of epoch 1, save, restore into a fresh loader
     * with another worker count. */
    o.num_workers = 3;
    volt_data_loader *first = volt_data_loader_new(ds, &o);
    volt_data_loader_set_epoch(first, 1);
    run head;
    record(first, &head, 4);
    volt_data_loader_state saved = volt_data_loader_state_get(first);
    assert_int_equal(saved.epoch, 1);
    assert_int_equal(saved.position, 4);
    assert_int_equal(saved.n_batches, 13);
    assert_true(saved.seed == 123);
    char *json = volt_data_loader_state_to_json(&saved);
    assert_string_equal(json,
                        "{\"seed\": \"123\", \"epoch\": 1, \"position\": 4, \"n_batches\": 13}");
    volt_data_loader_free(first);

    o.num_workers = 0;
    o.seed = 999; /* the state's seed wins */
    volt_data_loader *second = volt_data_loader_new(ds, &o);
    volt_data_loader_state restored;
    assert_int_equal(volt_data_loader_state_from_json(json, &restored), VOLT_OK);
    free(json);
    assert_int_equal(volt_data_loader_state_set(second, &restored), VOLT_OK);
    run rest, next_epoch;
    record(second, &rest, -1);
    record(second, &next_epoch, -1);
    for (int i = 0; i < 4; i++) {
        assert_memory_equal(head.x[i], e[1].x[i], (size_t)head.x_numel[i] * sizeof(float));
        assert_memory_equal(head.y[i], e[1].y[i], (size_t)head.size[i] * sizeof(int64_t));
    }
    assert_same(&e[1], 4, &rest); /* exactly the remaining batches */
    assert_same(&e[2], 0, &next_epoch);

    /* Restored at the very end of an epoch: it ends at once, then the next
     * epoch starts. */
    restored.position = 13;
    assert_int_equal(volt_data_loader_state_set(second, &restored), VOLT_OK);
    volt_batch b;
    assert_false(volt_data_loader_next(second, &b));
    VT_ASSERT_NO_ERROR();
    assert_int_equal(volt_data_loader_state_get(second).epoch, 2);
    free_run(&rest);
    free_run(&next_epoch);
    free_run(&head);
    for (int i = 0; i < 3; i++) free_run(&e[i]);
    volt_data_loader_free(second);
    volt_dataset_free(ds);
}

static void test_state_errors(void **state) {
    (void)state;
    volt_dataset *ds = make_images(N_ITEMS);
    volt_data_loader *l = volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 10});
    volt_data_loader_state s = {.seed = 1, .epoch = 0, .position = 2, .n_batches = 12};
    assert_int_equal(volt_data_loader_state_set(l, &s), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "saved by a loader of 12 batches per epoch, this one has 11");
    s.n_batches = 11;
    s.position = 12;
    assert_int_equal(volt_data_loader_state_set(l, &s), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "position 12 out of range");
    static const char *const bad[] = {
        "not json",
        "[1, 2]",
        "{\"epoch\": 1, \"position\": 0, \"n_batches\": 11}",
        "{\"seed\": 5, \"epoch\": 1, \"position\": 0, \"n_batches\": 11}",
        "{\"seed\": \"-5\", \"epoch\": 1, \"position\": 0, \"n_batches\": 11}",
        "{\"seed\": \"5\", \"epoch\": 1.5, \"position\": 0, \"n_batches\": 11}",
        "{\"seed\": \"5\", \"epoch\": 1, \"position\": -1, \"n_batches\": 11}",
        "{\"seed\": \"5\", \"epoch\": 1, \"position\": 0}",
    };
    static const char *const why[] = {
        "not a JSON object", "not a JSON object", "'seed'",     "'seed'", "'seed'",
        "'epoch'",           "'position'",        "'n_batches'"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(volt_data_loader_state_from_json(bad[i], &s), VOLT_ERR_FORMAT);
        VT_ASSERT_ERROR(VOLT_ERR_FORMAT, why[i]);
    }
    assert_int_equal(volt_data_loader_state_from_json(
                         "{\"seed\": \"18446744073709551615\", \"epoch\": 7, \"position\": 3, "
                         "\"n_batches\": 11}",
                         &s),
                     VOLT_OK);
    assert_true(s.seed == UINT64_MAX && s.epoch == 7 && s.position == 3);
    volt_data_loader_free(l);
    volt_dataset_free(ds);
}

/* ---------------------------------------------------------- early stop */

static void test_early_stop(void **state) {
    (void)state;
    slow_dataset slow = {{&slow_ops}, 200, -1, 200};
    volt_data_loader_options o = {.batch_size = 4, .num_workers = 3, .prefetch_factor = 4};
    /* Freed with batches in flight and parked. */
    volt_data_loader *l = volt_data_loader_new(&slow.base, &o);
    run r;
    record(l, &r, 2);
    free_run(&r);
    volt_data_loader_free(l);
    /* Stopped, then resumed after the last delivered batch. */
    l = volt_data_loader_new(&slow.base, &o);
    record(l, &r, 3);
    volt_data_loader_stop(l);
    volt_data_loader_stop(l); /* twice is harmless */
    run rest;
    record(l, &rest, 2);
    assert_int_equal(rest.y[0][0], 12);
    assert_int_equal(rest.y[1][3], 19);
    free_run(&r);
    free_run(&rest);
    /* set_epoch restarts from the first batch. */
    volt_data_loader_set_epoch(l, 0);
    record(l, &r, 1);
    assert_int_equal(r.y[0][0], 0);
    free_run(&r);
    volt_data_loader_free(l);
    /* Freed before iterating, and right after starting. */
    volt_data_loader_free(volt_data_loader_new(&slow.base, &o));
    l = volt_data_loader_new(&slow.base, &o);
    record(l, &r, 1);
    volt_data_loader_free(l);
    free_run(&r);
}

/* ------------------------------------------------------- worker errors */

static void test_worker_error(void **state) {
    (void)state;
    slow_dataset broken = {{&slow_ops}, 100, 37, 0};
    for (int workers = 0; workers <= 3; workers += 3) {
        volt_data_loader *l = volt_data_loader_new(
            &broken.base, &(volt_data_loader_options){.batch_size = 10, .num_workers = workers});
        volt_batch b;
        for (int k = 0; k < 3; k++) {
            volt_scope_begin();
            assert_true(volt_data_loader_next(l, &b));
            volt_scope_end();
        }
        assert_false(volt_data_loader_next(l, &b));
        VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "slow: item 37 is broken");
        assert_int_equal(volt_data_loader_state_get(l).position, 3);
        assert_false(volt_data_loader_next(l, &b)); /* the same batch fails again */
        VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "slow: item 37 is broken");
        volt_data_loader_free(l);
    }
}

/* ------------------------------------------------------------ prefetch */

/* Batches built ahead (volt_data_loader_prefetch before every next(), also
 * before an epoch starts and after its last batch) are the batches next()
 * builds otherwise, each built once, and the state counts only the
 * delivered ones: with 0 workers (prefetch builds) and 2 (it does
 * nothing), across epochs, a mid-epoch save and restore, and a stop. */
static void test_prefetch_same_batches(void **state) {
    (void)state;
    slow_dataset ds = {{&slow_ops}, 45, -1, 0};
    set_augment(4, 1);
    volt_data_loader_options o = {
        .batch_size = 4, .shuffle = true, .seed = 31, .transforms = augment, .n_transforms = 4};
    volt_data_loader *l = volt_data_loader_new(&ds.base, &o);
    run ref[2], got, rest;
    record(l, &ref[0], -1);
    record(l, &ref[1], -1);
    volt_data_loader_free(l);
    for (int workers = 0; workers <= 2; workers += 2) {
        o.num_workers = workers;
        l = volt_data_loader_new(&ds.base, &o);
        prefetching = true;
        slow_gets = 0;
        for (int e = 0; e < 2; e++) {
            record(l, &got, -1);
            assert_same(&ref[e], 0, &got);
            free_run(&got);
        }
        assert_int_equal(slow_gets, 2 * 45);

        /* Five batches of epoch 1 delivered, the sixth built ahead. */
        volt_data_loader_set_epoch(l, 1);
        record(l, &got, 5);
        free_run(&got);
        volt_data_loader_prefetch(l);
        volt_data_loader_state saved = volt_data_loader_state_get(l);
        assert_int_equal(saved.position, 5);
        volt_data_loader *other = volt_data_loader_new(&ds.base, &o);
        assert_int_equal(volt_data_loader_state_set(other, &saved), VOLT_OK);
        record(other, &rest, -1);
        assert_same(&ref[1], 5, &rest);
        free_run(&rest);
        volt_data_loader_free(other);
        record(l, &rest, -1); /* this one goes on from the batch ahead */
        assert_same(&ref[1], 5, &rest);
        free_run(&rest);

        /* A stop frees the batch ahead; next() resumes at the same batch. */
        volt_data_loader_set_epoch(l, 0);
        record(l, &got, 3);
        free_run(&got);
        volt_data_loader_prefetch(l);
        volt_data_loader_stop(l);
        record(l, &rest, -1);
        assert_same(&ref[0], 3, &rest);
        free_run(&rest);
        prefetching = false;
        volt_data_loader_prefetch(l); /* built ahead, then freed with the loader */
        volt_data_loader_free(l);
    }
    free_run(&ref[0]);
    free_run(&ref[1]);
}

/* A batch that fails while built ahead leaves no error behind: next()
 * builds it again and raises the error. With an error already pending,
 * prefetch builds nothing and keeps it. */
static void test_prefetch_error(void **state) {
    (void)state;
    slow_dataset broken = {{&slow_ops}, 100, 37, 0};
    volt_data_loader *l = volt_data_loader_new(
        &broken.base, &(volt_data_loader_options){.batch_size = 10, .num_workers = 0});
    volt_batch b;
    for (int k = 0; k < 3; k++) {
        volt_scope_begin();
        assert_true(volt_data_loader_next(l, &b));
        volt_scope_end();
    }
    volt_data_loader_prefetch(l);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(volt_data_loader_state_get(l).position, 3);
    assert_false(volt_data_loader_next(l, &b));
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "slow: item 37 is broken");
    assert_int_equal(volt_data_loader_state_get(l).position, 3);

    volt_data_loader_set_epoch(l, 0);
    volt_scope_begin();
    assert_true(volt_data_loader_next(l, &b));
    volt_scope_end();
    volt_error_set(VOLT_ERR_STATE, "an earlier failure");
    slow_gets = 0;
    volt_data_loader_prefetch(l);
    assert_int_equal(slow_gets, 0);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "an earlier failure");
    volt_scope_begin();
    assert_true(volt_data_loader_next(l, &b)); /* built now */
    assert_int_equal(((int64_t *)volt_tensor_data(b.y))[0], 10);
    volt_scope_end();
    assert_int_equal(slow_gets, 10);
    volt_data_loader_free(l);
}

/* Allocation failures (the allocator's fail-after-N hook) inside a batch
 * build, in the caller's thread or in a worker, end the epoch with a clear
 * error and leak nothing. */
static void test_out_of_memory(void **state) {
    (void)state;
    volt_dataset *ds = make_images(N_ITEMS);
    for (int workers = 0; workers <= 2; workers += 2) {
        volt_data_loader *l = volt_data_loader_new(
            ds, &(volt_data_loader_options){.batch_size = 10, .num_workers = workers});
        volt_cpu_alloc_fail_after(3);
        int delivered = 0;
        volt_batch b;
        for (;;) {
            volt_scope_begin();
            bool more = volt_data_loader_next(l, &b);
            volt_scope_end();
            if (!more) break;
            delivered++;
        }
        volt_cpu_alloc_fail_after(0);
        assert_true(delivered < 11);
        VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY, "cpu: out of memory allocating");
        volt_data_loader_free(l);
    }
    volt_dataset_free(ds);
}

/* ------------------------------------------------------------ samplers */

typedef struct {
    volt_sampler base;
} bad_sampler;

static int64_t bad_len(const volt_sampler *s) {
    (void)s;
    return 3;
}

static volt_status bad_indices(const volt_sampler *s, int64_t epoch, int64_t *out) {
    (void)s, (void)epoch;
    out[0] = 0, out[1] = 1, out[2] = 500;
    return VOLT_OK;
}

static const volt_sampler_ops bad_sampler_ops = {
    .name = "bad_sampler", .len = bad_len, .indices = bad_indices};

static void test_samplers_in_loader(void **state) {
    (void)state;
    volt_dataset *ds = make_images(N_ITEMS);
    int seen[N_ITEMS] = {0};
    for (int rank = 0; rank < 2; rank++) {
        volt_sampler *s = volt_distributed_sampler_new(N_ITEMS, rank, 2, true, false, 4);
        volt_data_loader *l = volt_data_loader_new(
            ds, &(volt_data_loader_options){.batch_size = 8, .sampler = s, .num_workers = rank});
        assert_int_equal(volt_data_loader_len(l), 7); /* ceil(52 / 8) */
        run r;
        volt_data_loader_set_epoch(l, 3);
        record(l, &r, -1);
        for (int i = 0; i < r.n; i++)
            for (int j = 0; j < r.size[i]; j++) seen[r.y[i][j]]++;
        free_run(&r);
        volt_data_loader_free(l);
        volt_sampler_free(s);
    }
    int total = 0;
    for (int i = 0; i < N_ITEMS; i++) {
        assert_true(seen[i] == 1 || seen[i] == 2);
        total += seen[i];
    }
    assert_int_equal(total, 104);

    bad_sampler bad = {{&bad_sampler_ops, 0}};
    volt_data_loader *l = volt_data_loader_new(
        ds, &(volt_data_loader_options){.batch_size = 2, .sampler = &bad.base});
    volt_batch b;
    assert_false(volt_data_loader_next(l, &b));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "bad_sampler gave index 500 for a dataset of 103 items");
    volt_data_loader_free(l);
    volt_dataset_free(ds);
}

/* ----------------------------------------------------- ownership, misc */

static void test_batches_belong_to_caller(void **state) {
    (void)state;
    volt_dataset *ds = make_images(N_ITEMS);
    volt_data_loader *l =
        volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 10, .num_workers = 2});
    int64_t before = volt_cpu_memory_stats().allocated_bytes;
    volt_scope_begin();
    volt_batch b;
    assert_true(volt_data_loader_next(l, &b));
    assert_true(volt_cpu_memory_stats().allocated_bytes > before);
    volt_scope_end(); /* frees the batch */
    volt_data_loader_stop(l);
    assert_int_equal(volt_cpu_memory_stats().allocated_bytes, before);

    /* With no scope open, the caller owns the batch: volt_batch_free. */
    int depth = volt_scope_depth();
    for (int i = 0; i < depth; i++) volt_scope_end();
    for (int k = 0; k < 2; k++) {
        assert_true(volt_data_loader_next(l, &b));
        assert_int_equal(b.x->scope_depth, -1);
        volt_batch_free(&b);
        assert_null(b.x);
    }
    for (int i = 0; i < depth; i++) volt_scope_begin();
    volt_data_loader_free(l);
    volt_dataset_free(ds);
}

static void test_u8_kept_and_empty_epoch(void **state) {
    (void)state;
    volt_dataset *ds = make_images(5);
    volt_data_loader *l = volt_data_loader_new(
        ds, &(volt_data_loader_options){.batch_size = 2, .keep_u8 = true, .flatten = true});
    volt_batch b;
    assert_true(volt_data_loader_next(l, &b));
    assert_int_equal(b.x->dtype, VOLT_U8);
    VT_ASSERT_SHAPE(b.x, 2, 64);
    volt_data_loader_free(l);
    l = volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 10, .drop_last = true});
    assert_int_equal(volt_data_loader_len(l), 0);
    assert_false(volt_data_loader_next(l, &b));
    VT_ASSERT_NO_ERROR();
    assert_int_equal(volt_data_loader_state_get(l).epoch, 1);
    volt_data_loader_free(l);
    /* Transforms and flatten need a field "x". */
    volt_tensor *a = volt_zeros(VOLT_SHAPE(4, 2), VOLT_F32);
    volt_dataset *no_x = volt_tensor_dataset_new(1, (const char *[]){"a"}, &a);
    l = volt_data_loader_new(no_x, &(volt_data_loader_options){.batch_size = 2, .flatten = true});
    assert_false(volt_data_loader_next(l, &b));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "act on a field named 'x', and the tensor_dataset has none");
    volt_data_loader_free(l);
    volt_dataset_free(no_x);
    volt_dataset_free(ds);
}

static void test_bad_options(void **state) {
    (void)state;
    volt_dataset *ds = make_images(5);
    volt_sampler *s = volt_sequential_sampler_new(5);
    volt_transform bad_t = volt_transform_random_hflip(2);
    struct {
        volt_data_loader_options o;
        const char *message;
    } cases[] = {
        {{.batch_size = 0}, "batch_size must be >= 1 (got 0)"},
        {{.batch_size = -3}, "batch_size must be >= 1 (got -3)"},
        {{.batch_size = 2, .num_workers = 65}, "num_workers must be in [0, 64] (got 65)"},
        {{.batch_size = 2, .num_workers = -1}, "num_workers must be in [0, 64] (got -1)"},
        {{.batch_size = 2, .prefetch_factor = -1}, "prefetch_factor must be in [0, 1024] (got -1)"},
        {{.batch_size = 2, .sampler = s, .shuffle = true}, "a sampler and shuffle together"},
        {{.batch_size = 2, .n_transforms = 1}, "1 transforms but a NULL array"},
        {{.batch_size = 2, .transforms = &bad_t, .n_transforms = 1}, "random_hflip: p = 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_null(volt_data_loader_new(ds, &cases[i].o));
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, cases[i].message);
    }
    assert_null(volt_data_loader_new(NULL, &(volt_data_loader_options){.batch_size = 1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL dataset");
    assert_null(volt_data_loader_new(ds, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL options");
    assert_false(volt_data_loader_next(NULL, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL loader");
    assert_int_equal(volt_data_loader_len(NULL), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL loader");
    volt_sampler_free(s);
    volt_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_len_and_sequential_order),
        VT_TEST(test_shuffle_per_epoch),
        VT_TEST(test_workers_identical),
        VT_TEST(test_workers_identical_fashion_mnist),
        VT_TEST(test_resume_mid_epoch),
        VT_TEST(test_state_errors),
        VT_TEST(test_early_stop),
        VT_TEST(test_worker_error),
        VT_TEST(test_prefetch_same_batches),
        VT_TEST(test_prefetch_error),
        VT_TEST(test_out_of_memory),
        VT_TEST(test_samplers_in_loader),
        VT_TEST(test_batches_belong_to_caller),
        VT_TEST(test_u8_kept_and_empty_epoch),
        VT_TEST(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
