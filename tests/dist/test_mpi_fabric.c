/* test_mpi_fabric.c: volt_fabric on two ranks (ctest runs it under
 * mpiexec -n 2): launch adopts the launcher's world; a hand-written ddp
 * loop (2 ranks x batch B, rank 1 starting from other weights, loaders
 * shuffled with other seeds, gradient clipping) trains to the weights of a
 * plain one-process loop with batch 2B; no_backward_sync accumulation
 * equals accumulation over batches of 2B (and really skips the
 * communication); all_reduce / broadcast / all_gather / barrier; a
 * checkpoint saved by 2 ranks (rank 0 writes) loads in a one-process
 * fabric; logs on rank 0 only; and bad input on one rank (other modules,
 * other flags, bad save arguments, a missing file) failing on both with a
 * clear error instead of a hang. */
#include "volt_test.h"

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 64, D = 6, B = 4 };

static int rank;

/* ------------------------------------------------------------- fixtures */

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
} net;

static const volt_module_ops net_ops = {.name = "net"};

static void net_init(net *m, uint64_t seed, int64_t hidden) {
    volt_seed_everything(seed);
    *m = (net){0};
    volt_module_init(&m->base, &net_ops);
    m->fc1 = volt_linear_new(&m->base, "fc1", D, hidden);
    m->fc2 = volt_linear_new(&m->base, "fc2", hidden, 2);
}

static volt_tensor *net_loss(net *m, const volt_batch *b) {
    volt_tensor *h = volt_tanh(volt_linear_forward(m->fc1, b->x));
    return volt_mse_loss(volt_linear_forward(m->fc2, h), b->y, VOLT_REDUCTION_MEAN);
}

typedef struct {
    volt_dataset *ds;
    volt_data_loader *dl;
} data;

/* x[i][j] = sin(i + 2j), y = (sum x, x0 - x1). */
static data data_new(int64_t batch, uint64_t seed) {
    float x[N * D], y[N * 2];
    for (int i = 0; i < N; i++) {
        float s = 0;
        for (int j = 0; j < D; j++) s += x[i * D + j] = (float)sin(i + 2.0 * j);
        y[2 * i] = s;
        y[2 * i + 1] = x[i * D] - x[i * D + 1];
    }
    data d;
    volt_scope_begin();
    volt_tensor *tx = volt_from_array(x, VOLT_F32, VOLT_SHAPE(N, D));
    volt_tensor *ty = volt_from_array(y, VOLT_F32, VOLT_SHAPE(N, 2));
    d.ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){tx, ty});
    volt_scope_end();
    d.dl = volt_data_loader_new(
        d.ds, &(volt_data_loader_options){.batch_size = batch, .shuffle = true, .seed = seed});
    assert_non_null(d.dl);
    return d;
}

static void data_free(data *d) {
    volt_data_loader_free(d->dl);
    volt_dataset_free(d->ds);
}

static volt_optimizer *sgd(net *m) {
    return volt_sgd_new(volt_module_parameters(&m->base),
                        &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
}

static volt_fabric *launched(const char *strategy) {
    volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.strategy = strategy, .timeout_s = 60});
    assert_non_null(f);
    volt_status st = volt_fabric_launch(f);
    if (st) fprintf(stderr, "rank %d: %s\n", rank, volt_error_message());
    assert_int_equal(st, VOLT_OK);
    return f;
}

/* Same weights as b, within rtol (naming this rank on failure). */
static void assert_same_weights(net *a, net *b, double rtol) {
    char who[32];
    snprintf(who, sizeof who, "rank %d", rank);
    VT_ASSERT_SAME_PARAMS(&a->base, &b->base, rtol, who);
}

/* The next batch of the loader (the next epoch's first at an epoch end),
 * in the current scope. */
static void next_batch(volt_data_loader *dl, volt_batch *b) {
    if (!volt_data_loader_next(dl, b)) assert_true(volt_data_loader_next(dl, b));
}

/* -------------------------------------------------------------- launch */

static void test_launch_adopts_the_launcher(void **state) {
    (void)state;
    volt_fabric *f = launched(NULL);
    assert_int_equal(volt_fabric_world_size(f), 2);
    assert_int_equal(volt_fabric_global_rank(f), rank);
    assert_int_equal(volt_fabric_local_rank(f), rank); /* one node */
    assert_int_equal(volt_fabric_node_rank(f), 0);
    assert_true(volt_fabric_is_global_zero(f) == (rank == 0));
    assert_string_equal(volt_fabric_strategy(f), "ddp");
    assert_string_equal(volt_process_group_backend(volt_fabric_process_group(f)), "mpi");
    volt_fabric_free(f);
    /* single_device under a launcher: each rank alone */
    f = launched("single_device");
    assert_int_equal(volt_fabric_world_size(f), 1);
    assert_int_equal(volt_fabric_global_rank(f), 0);
    volt_fabric_free(f);
    /* devices that disagree with the launcher: refused on every rank */
    f = volt_fabric_new(&(volt_fabric_options){.devices = 3});
    assert_int_equal(volt_fabric_launch(f), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "devices * num_nodes = 3, but the launcher");
    volt_fabric_free(f);
}

/* ------------------------------------------------------------- training */

/* One process, batch 2B, clipped to max_norm 0.5: the reference. */
static void train_reference(net *m, int steps, int micro) {
    data d = data_new(2 * B, 7);
    volt_optimizer *opt = sgd(m);
    for (int s = 0; s < steps; s++) {
        volt_scope_begin();
        volt_optimizer_zero_grad(opt);
        for (int k = 0; k < micro; k++) {
            volt_batch b;
            next_batch(d.dl, &b);
            assert_int_equal(volt_backward(net_loss(m, &b)), VOLT_OK);
        }
        volt_clip_grad_norm(volt_module_parameters(&m->base), 0.5, 2, true);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        volt_scope_end();
    }
    volt_optimizer_free(opt);
    data_free(&d);
}

/* rank 0's gradient equals rank 1's, checked with an all_gather. */
static bool same_grad_on_both_ranks(volt_fabric *f, volt_tensor *p) {
    int64_t n = volt_tensor_numel(p);
    volt_tensor *all = volt_zeros(VOLT_SHAPE(2 * n), p->grad->dtype);
    assert_int_equal(volt_fabric_all_gather(f, all, volt_reshape(p->grad, VOLT_SHAPE(n))), VOLT_OK);
    bool same = true;
    for (int64_t k = 0; k < n; k++)
        same = same && volt_tensor_get_flat(all, k) == volt_tensor_get_flat(all, n + k);
    return same;
}

/* The fabric loop: batch B per rank, `micro` micro-batches per step, the
 * first micro - 1 of them inside no_backward_sync. */
static void train_fabric(net *m, int steps, int micro) {
    volt_fabric *f = launched(NULL);
    data d = data_new(B, 7 + (uint64_t)rank); /* the seeds differ: setup aligns them */
    volt_optimizer *opt = sgd(m);
    assert_int_equal(volt_fabric_setup_module(f, &m->base), VOLT_OK);
    assert_int_equal(volt_fabric_setup_optimizers(f, opt), VOLT_OK);
    assert_int_equal(volt_fabric_setup_dataloaders(f, d.dl, true, false), VOLT_OK);
    assert_int_equal(volt_data_loader_world_size(d.dl), 2);
    assert_int_equal(volt_data_loader_len(d.dl), N / 2 / B);
    volt_tensor *w = volt_module_get(&m->base, "fc1.weight");
    for (int s = 0; s < steps; s++) {
        volt_scope_begin();
        volt_optimizer_zero_grad(opt);
        for (int k = 0; k < micro; k++) {
            volt_batch b;
            next_batch(d.dl, &b);
            bool accumulating = k < micro - 1;
            assert_int_equal(volt_fabric_no_backward_sync(f, NULL, accumulating), VOLT_OK);
            assert_int_equal(volt_fabric_backward(f, net_loss(m, &b), NULL), VOLT_OK);
            /* local gradients while accumulating, averaged after */
            assert_true(same_grad_on_both_ranks(f, w) == !accumulating);
        }
        double norm = 0;
        assert_int_equal(volt_fabric_clip_gradients(f, &m->base, opt, 0, 0.5, &norm), VOLT_OK);
        assert_true(norm > 0);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        volt_scope_end();
    }
    volt_optimizer_free(opt);
    data_free(&d);
    volt_fabric_free(f);
}

static void test_ddp_equals_one_process_of_twice_the_batch(void **state) {
    (void)state;
    net ref, m;
    net_init(&ref, 1, 8);
    net_init(&m, rank == 0 ? 1 : 99, 8); /* rank 1 elsewhere: the broadcast replaces it */
    train_reference(&ref, 20, 1);        /* 2.5 epochs */
    train_fabric(&m, 20, 1);
    assert_same_weights(&m, &ref, 1e-5);
    volt_module_free(&ref.base);
    volt_module_free(&m.base);
}

static void test_no_backward_sync_accumulation(void **state) {
    (void)state;
    net ref, m;
    net_init(&ref, 2, 8);
    net_init(&m, 2, 8);
    train_reference(&ref, 6, 2);
    train_fabric(&m, 6, 2);
    assert_same_weights(&m, &ref, 1e-5);
    volt_module_free(&ref.base);
    volt_module_free(&m.base);
}

/* ---------------------------------------------------------- collectives */

static void test_collectives(void **state) {
    (void)state;
    volt_fabric *f = launched(NULL);
    double r = rank + 1;
    volt_tensor *t = volt_from_array((double[]){r, 2 * r}, VOLT_F64, VOLT_SHAPE(2));
    assert_int_equal(volt_fabric_all_reduce(f, t, VOLT_REDUCE_SUM), VOLT_OK);
    VT_ASSERT_CLOSE(t, ((double[]){3, 6}), 2, 0, 0);
    t = volt_from_array((float[]){(float)r, -(float)r}, VOLT_F32, VOLT_SHAPE(2));
    assert_int_equal(volt_fabric_all_reduce(f, t, VOLT_REDUCE_MEAN), VOLT_OK);
    VT_ASSERT_CLOSE(t, ((double[]){1.5, -1.5}), 2, 0, 0);
    t = volt_from_array((int64_t[]){rank, -rank}, VOLT_I64, VOLT_SHAPE(2));
    assert_int_equal(volt_fabric_all_reduce(f, t, VOLT_REDUCE_MAX), VOLT_OK);
    VT_ASSERT_CLOSE(t, ((double[]){1, 0}), 2, 0, 0);
    t = volt_from_array((int32_t[]){10 * rank + 1}, VOLT_I32, VOLT_SHAPE(1));
    assert_int_equal(volt_fabric_broadcast(f, t, 1), VOLT_OK);
    VT_ASSERT_CLOSE(t, ((double[]){11}), 1, 0, 0);
    volt_tensor *in = volt_from_array((float[]){(float)r, 0.5f}, VOLT_F32, VOLT_SHAPE(2));
    volt_tensor *out = volt_zeros(VOLT_SHAPE(2, 2), VOLT_F32);
    assert_int_equal(volt_fabric_all_gather(f, out, in), VOLT_OK);
    VT_ASSERT_CLOSE(out, ((double[]){1, 0.5, 2, 0.5}), 4, 0, 0);
    assert_int_equal(volt_fabric_barrier(f), VOLT_OK);
    double v = r;
    assert_int_equal(volt_fabric_all_reduce_double(f, &v, VOLT_REDUCE_MEAN), VOLT_OK);
    assert_float_equal(v, 1.5, 0);
    v = r;
    assert_int_equal(volt_fabric_broadcast_double(f, &v, 1), VOLT_OK);
    assert_float_equal(v, 2, 0);
    /* rank 0 reduces 3 numbers, rank 1 two: both fail, neither hangs */
    t = volt_zeros(VOLT_SHAPE(rank == 0 ? 3 : 2), VOLT_F32);
    assert_int_not_equal(volt_fabric_all_reduce(f, t, VOLT_REDUCE_SUM), VOLT_OK);
    fprintf(stderr, "rank %d (expected error): %s\n", rank, volt_error_message());
    VT_ASSERT_ERROR(volt_error_status(), "fabric: all_reduce");
    /* a NULL value on rank 1 only */
    v = 1;
    assert_int_not_equal(volt_fabric_all_reduce_double(f, rank == 1 ? NULL : &v, VOLT_REDUCE_SUM),
                         VOLT_OK);
    VT_ASSERT_ERROR(volt_error_status(), "all_reduce_double");
    assert_int_equal(volt_fabric_barrier(f), VOLT_OK); /* still usable */
    volt_fabric_free(f);
}

/* ---------------------------------------------------------- checkpoints */

static const char *tmp(const char *name) {
    static char path[1024];
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/tmp", name);
    return path;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_save_on_two_ranks_load_in_one(void **state) {
    (void)state;
    char path[1100], dir[1024];
    snprintf(dir, sizeof dir, "%s", tmp("fabric_ckpt"));
    snprintf(path, sizeof path, "%s/two_ranks.ckpt", dir);
    net m;
    net_init(&m, rank == 0 ? 3 : 4, 8);
    train_fabric(&m, 5, 1);
    volt_fabric *f = launched(NULL);
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    volt_fabric_state s = {
        .module = &m.base, .epoch = 0, .step = 5, .extra_json = "{\"ranks\": 2}"};
    assert_int_equal(volt_fabric_save(f, path, &s), VOLT_OK);
    assert_int_equal(count_entries(dir), 1); /* one file, no temporary */

    /* rank 1's bad argument: both ranks fail, nothing is written */
    volt_fabric_state bad = s;
    bad.extra_json = rank == 1 ? "not json" : "{}";
    char other[1100];
    snprintf(other, sizeof other, "%s/never.ckpt", dir);
    assert_int_equal(volt_fabric_save(f, other, &bad), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    rank == 1 ? "extra_json is not a JSON object" : "another rank failed");
    assert_int_equal(count_entries(dir), 1);
    /* rank 1 loads a missing file: both fail */
    net n1;
    net_init(&n1, 5, 8);
    volt_fabric_state l = {.module = &n1.base};
    assert_int_not_equal(volt_fabric_load(f, rank == 1 ? other : path, &l, NULL), VOLT_OK);
    VT_ASSERT_ERROR(volt_error_status(), rank == 1 ? "never.ckpt" : "another rank failed");
    volt_fabric_free(f);

    /* one process reads what the two wrote */
    volt_fabric *one = launched("single_device");
    char *extra = NULL;
    assert_int_equal(volt_fabric_load(one, path, &l, &extra), VOLT_OK);
    assert_string_equal(extra, "{\"ranks\": 2}");
    assert_int_equal(l.step, 5);
    free(extra);
    assert_same_weights(&n1, &m, 0);
    volt_checkpoint *ck = volt_checkpoint_open(path);
    assert_non_null(ck);
    assert_string_equal(volt_checkpoint_meta(ck, "world_size"), "2");
    assert_true(volt_checkpoint_weights_only(ck));
    volt_checkpoint_close(ck);
    volt_fabric_free(one);
    volt_module_free(&m.base);
    volt_module_free(&n1.base);
}

/* --------------------------------------------------------------- logging */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void test_logs_on_rank_zero_only(void **state) {
    (void)state;
    char root[1024], logs[1100];
    snprintf(root, sizeof root, "%s", tmp("fabric_logs"));
    snprintf(logs, sizeof logs, "%s/volt_logs", root);
    volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.root_dir = root, .timeout_s = 60});
    assert_int_equal(volt_fabric_launch(f), VOLT_OK);
    if (rank == 0) nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS); /* an earlier run's */
    assert_int_equal(volt_fabric_barrier(f), VOLT_OK);
    assert_int_equal(volt_fabric_log(f, "loss", 1.0 + rank, 0), VOLT_OK);
    assert_true((volt_fabric_log_dir(f) != NULL) == (rank == 0));
    volt_fabric_free(f); /* rank 0 writes the file */
    f = launched(NULL);
    assert_int_equal(volt_fabric_barrier(f), VOLT_OK);
    assert_int_equal(count_entries(logs), 1);
    volt_fabric_free(f);
}

/* ------------------------------------------------------------- bad input */

static void test_mismatches_fail_on_both_ranks(void **state) {
    (void)state;
    volt_fabric *f = launched(NULL);
    /* other shapes */
    net m;
    net_init(&m, 1, rank == 0 ? 8 : 9);
    assert_int_not_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    fprintf(stderr, "rank %d (expected error): %s\n", rank, volt_error_message());
    VT_ASSERT_ERROR(volt_error_status(), "broadcasting 'fc1.weight' from rank 0");
    volt_module_free(&m.base);
    /* another number of tensors */
    net_init(&m, 1, 8);
    if (rank == 1) volt_linear_new(&m.base, "extra", 2, 2);
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the ranks' modules differ: between 4 and 6");
    volt_module_free(&m.base);
    /* a NULL module on rank 1 */
    net_init(&m, 1, 8);
    assert_int_equal(volt_fabric_setup_module(f, rank == 1 ? NULL : &m.base),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, rank == 1 ? "NULL module" : "another rank failed");
    /* use_distributed_sampler differs */
    data d = data_new(B, 1);
    assert_int_equal(volt_fabric_setup_dataloaders(f, d.dl, rank == 0, false),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "disagree on use_distributed_sampler");
    assert_int_equal(volt_data_loader_world_size(d.dl), 1); /* left as it was */
    /* the group is still usable */
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    data_free(&d);
    volt_fabric_free(f);
    volt_module_free(&m.base);
}

int main(void) {
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    rank = r ? atoi(r) : 0;
    const struct CMUnitTest tests[] = {
        VT_TEST(test_launch_adopts_the_launcher),
        VT_TEST(test_ddp_equals_one_process_of_twice_the_batch),
        VT_TEST(test_no_backward_sync_accumulation),
        VT_TEST(test_collectives),
        VT_TEST(test_save_on_two_ranks_load_in_one),
        VT_TEST(test_logs_on_rank_zero_only),
        VT_TEST(test_mismatches_fail_on_both_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
