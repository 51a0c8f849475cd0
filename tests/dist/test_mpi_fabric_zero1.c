/* test_mpi_fabric_zero1.c: what Fabric gained as the trainer's lower layer,
 * on two ranks (ctest runs it under mpiexec -n 2): strategy "zero1" in a
 * hand-written loop (volt_fabric_backward reduce-scatters, each rank keeps
 * the gradients of its own parameters only, volt_fabric_optimizer_step
 * all-gathers) ends with the weights of the same loop under "ddp", with
 * Adam and clipping by the global norm; its checkpoint holds the whole
 * optimizer state, equal to ddp's, and loads back under zero1; the reducer
 * figures (volt_fabric_gradient_sync_stats); the boolean and string
 * collectives; and zero1's misuse failing on both ranks. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 32, D = 5, B = 4, STEPS = 8 };

static int rank;

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
} net;

static const volt_module_ops net_ops = {.name = "net"};

static void net_init(net *m, uint64_t seed) {
    volt_seed_everything(seed);
    *m = (net){0};
    volt_module_init(&m->base, &net_ops);
    m->fc1 = volt_linear_new(&m->base, "fc1", D, 7);
    m->fc2 = volt_linear_new(&m->base, "fc2", 7, 1);
}

/* x[i][j] = cos(i - 3j), y = sum x / 2. */
static volt_data_loader *loader_new(volt_dataset **ds) {
    float x[N * D], y[N];
    for (int i = 0; i < N; i++) {
        float s = 0;
        for (int j = 0; j < D; j++) s += x[i * D + j] = (float)cos(i - 3.0 * j);
        y[i] = s / 2;
    }
    volt_scope_begin();
    volt_tensor *tx = volt_from_array(x, VOLT_F32, VOLT_SHAPE(N, D));
    volt_tensor *ty = volt_from_array(y, VOLT_F32, VOLT_SHAPE(N, 1));
    *ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){tx, ty});
    volt_scope_end();
    return volt_data_loader_new(
        *ds, &(volt_data_loader_options){.batch_size = B, .shuffle = true, .seed = 11});
}

static volt_fabric *launched(const char *strategy) {
    volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.strategy = strategy, .timeout_s = 60});
    assert_non_null(f);
    volt_status st = volt_fabric_launch(f);
    if (st) fprintf(stderr, "rank %d: %s\n", rank, volt_error_message());
    assert_int_equal(st, VOLT_OK);
    return f;
}

typedef struct {
    net m;
    volt_optimizer *opt;
    volt_fabric *f;
    int with_grad; /* parameters holding a gradient after the last backward */
} run;

/* STEPS steps of Adam with the gradients clipped to norm 0.3. */
static void train(run *r, const char *strategy) {
    net_init(&r->m, 5);
    r->f = launched(strategy);
    volt_dataset *ds;
    volt_data_loader *dl = loader_new(&ds);
    r->opt = volt_adam_new(volt_module_parameters(&r->m.base), &(volt_adam_options){.lr = 0.02});
    assert_int_equal(volt_fabric_setup_module(r->f, &r->m.base), VOLT_OK);
    assert_int_equal(volt_fabric_setup_optimizers(r->f, r->opt), VOLT_OK);
    assert_int_equal(volt_fabric_setup_dataloaders(r->f, dl, true, false), VOLT_OK);
    for (int s = 0; s < STEPS; s++) {
        volt_scope_begin();
        volt_batch b;
        if (!volt_data_loader_next(dl, &b)) assert_true(volt_data_loader_next(dl, &b));
        volt_optimizer_zero_grad(r->opt);
        volt_tensor *h = volt_tanh(volt_linear_forward(r->m.fc1, b.x));
        volt_tensor *loss =
            volt_mse_loss(volt_linear_forward(r->m.fc2, h), b.y, VOLT_REDUCTION_MEAN);
        assert_int_equal(volt_fabric_backward(r->f, loss, NULL), VOLT_OK);
        volt_params ps = volt_module_parameters(&r->m.base);
        r->with_grad = 0;
        for (int64_t i = 0; i < ps.count; i++) r->with_grad += ps.tensors[i]->grad != NULL;
        double norm = 0;
        assert_int_equal(volt_fabric_clip_gradients(r->f, NULL, r->opt, 0, 0.3, &norm), VOLT_OK);
        assert_true(norm > 0);
        assert_int_equal(volt_fabric_optimizer_step(r->f, r->opt), VOLT_OK);
        volt_scope_end();
    }
    volt_data_loader_free(dl);
    volt_dataset_free(ds);
}

static void run_free(run *r) {
    volt_fabric_free(r->f);
    volt_optimizer_free(r->opt);
    volt_module_free(&r->m.base);
}

/* Same weights as b, within rtol (naming this rank on failure). */
static void assert_same_weights(net *a, net *b, double rtol) {
    char who[32];
    snprintf(who, sizeof who, "rank %d", rank);
    VT_ASSERT_SAME_PARAMS(&a->base, &b->base, rtol, who);
}

static const char *tmp(const char *name) {
    static char path[1024];
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/tmp", name);
    return path;
}

/* Every tensor of a's file is in b's with the same shape and values. */
static void assert_same_tensors(const char *a, const char *b) {
    volt_checkpoint *ca = volt_checkpoint_open(a), *cb = volt_checkpoint_open(b);
    assert_non_null(ca);
    assert_non_null(cb);
    volt_safetensors *fa = volt_checkpoint_file(ca), *fb = volt_checkpoint_file(cb);
    assert_int_equal(volt_safetensors_count(fa), volt_safetensors_count(fb));
    int optimizer_tensors = 0;
    for (int i = 0; i < volt_safetensors_count(fa); i++) {
        const char *name = volt_safetensors_name(fa, i);
        optimizer_tensors += strncmp(name, "optimizer.0.", 12) == 0;
        volt_scope_begin();
        volt_tensor *x = volt_safetensors_get(fa, name), *y = volt_safetensors_get(fb, name);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal(volt_tensor_numel(x), volt_tensor_numel(y));
        for (int64_t k = 0; k < volt_tensor_numel(x); k++)
            if (fabs(volt_tensor_get_flat(x, k) - volt_tensor_get_flat(y, k)) > 1e-5)
                fail_msg("%s[%lld] differs", name, (long long)k);
        volt_scope_end();
    }
    assert_int_equal(optimizer_tensors, 8); /* exp_avg, exp_avg_sq of 4 parameters */
    volt_checkpoint_close(ca);
    volt_checkpoint_close(cb);
}

/* ---------------------------------------------------------------- zero1 */

static void test_zero1_equals_ddp(void **state) {
    (void)state;
    run ddp, z;
    train(&ddp, "ddp");
    train(&z, "zero1");
    assert_string_equal(volt_fabric_strategy(z.f), "zero1");
    assert_int_equal(ddp.with_grad, 4);
    assert_true(z.with_grad >= 1 && z.with_grad < 4); /* its own parameters only */
    double owned = z.with_grad;                       /* each parameter on exactly one rank */
    assert_int_equal(volt_fabric_all_reduce_double(z.f, &owned, VOLT_REDUCE_SUM), VOLT_OK);
    assert_true(owned == 4);
    assert_same_weights(&z.m, &ddp.m, 1e-5);
    /* the reducer's figures under ddp: one reduction per step; none under zero1 */
    volt_grad_reducer_stats s = volt_fabric_gradient_sync_stats(ddp.f);
    assert_int_equal(s.reductions, STEPS);
    assert_true(s.buckets >= 1 && s.bytes > 0);
    assert_int_equal(volt_fabric_gradient_sync_stats(z.f).reductions, 0);

    /* checkpoints: zero1 gathers the whole optimizer state, equal to ddp's */
    char zpath[1100], dpath[1100];
    snprintf(zpath, sizeof zpath, "%s", tmp("fabric_zero1.ckpt"));
    snprintf(dpath, sizeof dpath, "%s", tmp("fabric_ddp.ckpt"));
    volt_optimizer *const zopts[] = {z.opt}, *const dopts[] = {ddp.opt};
    volt_fabric_state zs = {.module = &z.m.base, .n_optimizers = 1, .optimizers = zopts};
    volt_fabric_state ds = {.module = &ddp.m.base, .n_optimizers = 1, .optimizers = dopts};
    assert_int_equal(volt_fabric_save(z.f, zpath, &zs), VOLT_OK);
    assert_int_equal(volt_fabric_save(ddp.f, dpath, &ds), VOLT_OK);
    if (rank == 0) assert_same_tensors(zpath, dpath);
    assert_int_equal(volt_fabric_barrier(z.f), VOLT_OK);
    /* loading it back under zero1 keeps this rank's shard: one more step
     * on both sides still agrees */
    assert_int_equal(volt_fabric_load(z.f, zpath, &zs, NULL), VOLT_OK);
    volt_scope_begin();
    volt_tensor *x = volt_full(VOLT_SHAPE(2, D), 0.25, VOLT_F32);
    run *rs[2] = {&ddp, &z};
    for (int k = 0; k < 2; k++) {
        volt_optimizer_zero_grad(rs[k]->opt);
        volt_tensor *y =
            volt_linear_forward(rs[k]->m.fc2, volt_tanh(volt_linear_forward(rs[k]->m.fc1, x)));
        assert_int_equal(volt_fabric_backward(rs[k]->f, volt_sum_all(y), NULL), VOLT_OK);
        assert_int_equal(volt_fabric_optimizer_step(rs[k]->f, rs[k]->opt), VOLT_OK);
    }
    volt_scope_end();
    assert_same_weights(&z.m, &ddp.m, 1e-5);
    run_free(&ddp);
    run_free(&z);
}

static void test_zero1_misuse_fails_on_both_ranks(void **state) {
    (void)state;
    net m;
    net_init(&m, 3);
    volt_fabric *f = launched("zero1");
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    volt_scope_begin();
    volt_tensor *loss =
        volt_sum_all(volt_linear_forward(m.fc1, volt_ones(VOLT_SHAPE(1, D), VOLT_F32)));
    assert_int_equal(volt_fabric_backward(f, loss, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "set the optimizer up (volt_fabric_setup_optimizers) before");
    volt_scope_end();
    volt_params ps = volt_module_parameters(&m.base);
    volt_optimizer *a = volt_sgd_new(ps, &(volt_sgd_options){.lr = 0.1});
    volt_optimizer *b = volt_sgd_new(ps, &(volt_sgd_options){.lr = 0.1});
    assert_int_equal(volt_fabric_setup_optimizers(f, a), VOLT_OK);
    assert_int_equal(volt_fabric_setup_optimizers(f, b), VOLT_ERR_UNSUPPORTED);
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED, "strategy 'zero1' shards one optimizer");
    assert_int_equal(volt_fabric_optimizer_step(f, b), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "optimizer_step: the optimizer was not set up");
    volt_fabric_free(f);
    volt_optimizer_free(a);
    volt_optimizer_free(b);
    volt_module_free(&m.base);
}

/* ---------------------------------------------------------- collectives */

static void test_bool_and_string_collectives(void **state) {
    (void)state;
    volt_fabric *f = launched(NULL);
    bool v = rank == 0; /* true on rank 0 only */
    assert_int_equal(volt_fabric_reduce_bool(f, &v, true), VOLT_OK);
    assert_false(v);
    v = rank == 0;
    assert_int_equal(volt_fabric_reduce_bool(f, &v, false), VOLT_OK);
    assert_true(v);
    v = true;
    assert_int_equal(volt_fabric_reduce_bool(f, &v, true), VOLT_OK);
    assert_true(v);
    /* NULL on rank 1: both fail */
    assert_int_not_equal(volt_fabric_reduce_bool(f, rank == 1 ? NULL : &v, true), VOLT_OK);
    VT_ASSERT_ERROR(volt_error_status(), rank == 1 ? "reduce_bool: NULL value" : "reduce_bool");
    volt_error_clear();

    char *s = strdup(rank == 1 ? "from rank 1" : "rank 0's own");
    assert_int_equal(volt_fabric_broadcast_string(f, &s, 1), VOLT_OK);
    assert_string_equal(s, "from rank 1");
    char *none = rank == 0 ? NULL : strdup("dropped");
    assert_int_equal(volt_fabric_broadcast_string(f, &none, 0), VOLT_OK);
    assert_null(none);
    assert_int_equal(volt_fabric_broadcast_string(f, &s, 2), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "broadcast_string: src = 2 (world size 2)");
    free(s);
    volt_fabric_free(f);
}

int main(void) {
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    rank = r ? atoi(r) : 0;
    const struct CMUnitTest tests[] = {
        VT_TEST(test_zero1_equals_ddp),
        VT_TEST(test_zero1_misuse_fails_on_both_ranks),
        VT_TEST(test_bool_and_string_collectives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
