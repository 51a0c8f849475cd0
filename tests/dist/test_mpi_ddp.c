/* test_mpi_ddp.c: strategy "ddp" in the trainer on two ranks (ctest runs
 * it under mpiexec -n 2): 2 ranks x batch B train to the weights of one
 * process x batch 2B (rank 1 starting from other weights, which the
 * broadcast replaces; shuffled loaders whose seeds differ, which the
 * sharding aligns; with gradient accumulation); sync_dist; EarlyStopping
 * decided by any rank; loggers and checkpoints on rank 0 only; and
 * checkpoints written by 2 ranks resuming in 1 process and the reverse. */
#include "volt_test.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <volt/volt.h>

enum { N = 160, D = 6, B = 4 };

static int rank;

/* ------------------------------------------------------------------ data */

typedef struct {
    volt_datamodule base;
    volt_dataset *ds;
    volt_data_loader *train, *val;
} sin_dm;

static volt_data_loader *dm_train(volt_datamodule *d) { return ((sin_dm *)d)->train; }
static volt_data_loader *dm_val(volt_datamodule *d) { return ((sin_dm *)d)->val; }
static void dm_free(volt_datamodule *d) {
    sin_dm *dm = (sin_dm *)d;
    volt_data_loader_free(dm->train);
    volt_data_loader_free(dm->val);
    volt_dataset_free(dm->ds);
    free(dm);
}
static const volt_datamodule_ops dm_ops = {
    .name = "sin", .train_loader = dm_train, .val_loader = dm_val, .free = dm_free};

/* x[i][j] = sin(i + 2j), y = (sum x, x0 - x1) in f32. */
static volt_datamodule *dm_new(int64_t batch, bool shuffle, uint64_t seed) {
    float x[N * D], y[N * 2];
    for (int i = 0; i < N; i++) {
        float s = 0;
        for (int j = 0; j < D; j++) s += x[i * D + j] = (float)sin(i + 2.0 * j);
        y[2 * i] = s;
        y[2 * i + 1] = x[i * D] - x[i * D + 1];
    }
    sin_dm *dm = calloc(1, sizeof *dm);
    volt_datamodule_init(&dm->base, &dm_ops);
    volt_scope_begin();
    volt_tensor *tx = volt_from_array(x, VOLT_F32, 2, (int64_t[]){N, D});
    volt_tensor *ty = volt_from_array(y, VOLT_F32, 2, (int64_t[]){N, 2});
    dm->ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){tx, ty});
    volt_scope_end();
    dm->train = volt_data_loader_new(
        dm->ds, &(volt_data_loader_options){.batch_size = batch, .shuffle = shuffle, .seed = seed});
    dm->val = volt_data_loader_new(dm->ds, &(volt_data_loader_options){.batch_size = batch});
    return &dm->base;
}

/* ---------------------------------------------------------------- module */

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
    double val_rank_metric; /* what validation logs as "rank_metric" */
} net;

static volt_tensor *net_loss(net *m, volt_batch *b) {
    volt_tensor *h = volt_relu(volt_linear_forward(m->fc1, b->x));
    return volt_mse_loss(volt_linear_forward(m->fc2, h), b->y, VOLT_REDUCTION_MEAN);
}

static volt_tensor *net_training_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    volt_tensor *loss = net_loss((net *)self, b);
    volt_log(s, "train_loss", loss, 0);
    return loss;
}

static volt_tensor *net_validation_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    net *m = (net *)self;
    volt_log(s, "val_loss", net_loss(m, b), VOLT_LOG_SYNC_DIST);
    volt_log_ex(s, "rank_metric", m->val_rank_metric, 0, 0);
    volt_log_ex(s, "rank_mean", (double)rank, VOLT_LOG_SYNC_DIST, 0);
    volt_log_ex(s, "rank_max", (double)rank, VOLT_LOG_SYNC_DIST | VOLT_LOG_REDUCE_MAX, 0);
    return NULL;
}

static volt_status net_configure(volt_module *self, volt_optim_setup *o) {
    volt_optimizer *sgd = volt_sgd_new(volt_module_parameters(self),
                                       &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
    return volt_optim_setup_add(o, sgd, NULL, VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops net_ops = {.name = "net",
                                        .training_step = net_training_step,
                                        .validation_step = net_validation_step,
                                        .configure_optimizers = net_configure};

static void net_init(net *m, uint64_t seed) {
    volt_seed_everything(seed);
    *m = (net){0};
    volt_module_init(&m->base, &net_ops);
    m->fc1 = volt_linear_new(&m->base, "fc1", D, 8);
    m->fc2 = volt_linear_new(&m->base, "fc2", 8, 2);
}

/* ------------------------------------------------------------- trainers */

static volt_trainer_config quiet(const char *strategy) {
    volt_trainer_config c = volt_trainer_defaults();
    c.strategy = strategy;
    c.logger = c.enable_checkpointing = c.enable_progress_bar = c.enable_model_summary = false;
    c.num_sanity_val_steps = 0;
    c.limit_val_batches = 0;
    c.max_epochs = 1;
    return c;
}

/* Same weights as b, within rtol (naming this rank on failure). */
static void assert_same_weights(net *a, net *b, double rtol) {
    char who[32];
    snprintf(who, sizeof who, "rank %d", rank);
    VT_ASSERT_SAME_PARAMS(&a->base, &b->base, rtol, who);
}

/* Trains `m` with cfg on data of batch `batch`, from ckpt (NULL: scratch). */
static void train(net *m, volt_trainer_config cfg, int64_t batch, bool shuffle, uint64_t seed,
                  const char *ckpt, volt_callback *cb) {
    volt_datamodule *dm = dm_new(batch, shuffle, seed);
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_non_null(t);
    if (cb) assert_int_equal(volt_trainer_add_callback(t, cb), VOLT_OK);
    volt_status st = volt_trainer_fit(t, &m->base, dm, ckpt);
    if (st) fprintf(stderr, "rank %d: %s\n", rank, volt_error_message());
    assert_int_equal(st, VOLT_OK);
    if (strcmp(cfg.strategy, "ddp") == 0) {
        assert_int_equal(volt_trainer_world_size(t), 2);
        assert_int_equal(volt_trainer_global_rank(t), rank);
        assert_true(volt_trainer_is_global_zero(t) == (rank == 0));
    }
    volt_trainer_free(t);
    volt_datamodule_free(dm);
}

/* 2 ranks x B equal 1 process x 2B: rank 1 starts elsewhere (broadcast),
 * the loaders shuffle with different seeds (the sharding takes rank 0's). */
static void check_equivalence(bool shuffle, int64_t accumulate, int64_t epochs) {
    net ref, ddp;
    net_init(&ref, 1);
    net_init(&ddp, rank == 0 ? 1 : 99);
    volt_trainer_config c = quiet("single_device");
    c.accumulate_grad_batches = accumulate;
    c.max_epochs = epochs;
    c.max_steps = epochs * (N / (2 * B)) / accumulate - 3; /* stops inside the last epoch */
    train(&ref, c, 2 * B, shuffle, 7, NULL, NULL);
    c.strategy = "ddp";
    train(&ddp, c, B, shuffle, 7 + (uint64_t)rank, NULL, NULL);
    assert_same_weights(&ddp, &ref, 1e-5);
    volt_module_free(&ref.base);
    volt_module_free(&ddp.base);
}

static void test_ddp_equals_one_process_of_twice_the_batch(void **state) {
    (void)state;
    check_equivalence(false, 1, 1);
}

static void test_ddp_shuffled_and_accumulating(void **state) {
    (void)state;
    check_equivalence(true, 1, 2);
    check_equivalence(true, 2, 2);
}

/* ------------------------------------------------------------ sync_dist */

static void test_sync_dist_and_early_stopping(void **state) {
    (void)state;
    net m;
    net_init(&m, 1);
    /* rank_metric: 1.0 on rank 0 (never improves after the first check),
     * worse each epoch only on rank 1 ... both must stop together. */
    m.val_rank_metric = 5.0;
    volt_trainer_config c = quiet("ddp");
    c.limit_val_batches = 1.0;
    c.max_epochs = 6;
    volt_early_stopping_options eo = volt_early_stopping_defaults();
    eo.monitor = rank == 0 ? "val_loss" : "rank_metric";
    eo.patience = 1;
    volt_datamodule *dm = dm_new(B, false, 3);
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_add_callback(t, volt_early_stopping_new(&eo)), VOLT_OK);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    const volt_metrics *cm = volt_trainer_callback_metrics(t);
    /* the mean of 0 and 1 (equal batch sizes), the max, the local value */
    assert_float_equal(volt_metrics_get(cm, "rank_mean"), 0.5, 1e-12);
    assert_float_equal(volt_metrics_get(cm, "rank_max"), 1.0, 1e-12);
    assert_float_equal(volt_metrics_get(cm, "rank_metric"), 5.0, 1e-12);
    /* rank 1's constant metric stops it after epoch 1 (patience 1); rank 0
     * improves its val_loss every epoch but stops with it */
    assert_int_equal(volt_trainer_current_epoch(t), 2);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

/* ----------------------------------------------------- rank 0 writes alone */

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static char root[512];

static void test_outputs_on_rank_zero(void **state) {
    (void)state;
    /* a directory of this job's own (both ranks share mpiexec as parent) */
    snprintf(root, sizeof root, "%s/ddp_out_%d", getenv("VOLT_TEST_TMPDIR"), (int)getppid());
    net m;
    net_init(&m, 1);
    volt_trainer_config c = quiet("ddp");
    c.default_root_dir = root;
    c.logger = c.enable_checkpointing = true;
    c.limit_val_batches = 1.0;
    c.max_epochs = 2;
    volt_model_checkpoint_options mo = volt_model_checkpoint_defaults();
    mo.monitor = "val_loss";
    mo.save_top_k = 1;
    volt_callback *mc = volt_model_checkpoint_new(&mo);
    volt_datamodule *dm = dm_new(B, false, 3);
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_add_callback(t, mc), VOLT_OK);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_barrier(t), VOLT_OK);
    char path[700];
    snprintf(path, sizeof path, "%s/volt_logs", root);
    assert_int_equal(count_entries(path), 1); /* one version_0, made by rank 0 */
    snprintf(path, sizeof path, "%s/volt_logs/version_0/checkpoints", root);
    assert_int_equal(count_entries(path), 1); /* top 1 */
    /* both ranks know the same best file */
    const char *best = volt_model_checkpoint_best_model_path(mc);
    assert_true(strncmp(best, path, strlen(path)) == 0);
    assert_true(volt_trainer_log_dir(t) ? rank == 0 : rank == 1);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

/* ---------------------------------------------------- across world sizes */

/* A ModelCheckpoint that keeps every file saved each `every` steps. */
static volt_callback *every_steps(const char *dir, int64_t every) {
    volt_model_checkpoint_options mo = volt_model_checkpoint_defaults();
    mo.dirpath = dir;
    mo.filename = "{step}";
    mo.every_n_train_steps = every;
    mo.save_top_k = -1;
    return volt_model_checkpoint_new(&mo);
}

static void test_checkpoints_across_world_sizes(void **state) {
    (void)state;
    char dir2[600], dir1[600], ckpt[700];
    const char *tmp = getenv("VOLT_TEST_TMPDIR");
    int job = (int)getppid(); /* this job's own files */
    snprintf(dir2, sizeof dir2, "%s/ddp_ckpt_2_%d", tmp, job);
    snprintf(dir1, sizeof dir1, "%s/ddp_ckpt_1_%d_rank%d", tmp, job, rank);
    volt_trainer_config c = quiet("single_device");
    c.max_epochs = 2; /* 40 steps; checkpoints mid-epoch (step 10) */
    net ref;
    net_init(&ref, 1);
    train(&ref, c, 2 * B, true, 7, NULL, NULL);

    /* written by 2 ranks at step 10, resumed by 1 process */
    net a;
    net_init(&a, 1);
    volt_trainer_config d = c;
    d.strategy = "ddp";
    d.enable_checkpointing = true;
    d.max_steps = 10;
    train(&a, d, B, true, 7, NULL, every_steps(dir2, 10));
    snprintf(ckpt, sizeof ckpt, "%s/step=10.ckpt", dir2);
    net b;
    net_init(&b, 5);
    train(&b, c, 2 * B, true, 7, ckpt, NULL);
    assert_same_weights(&b, &ref, 1e-5);

    /* written by 1 process at step 30 (each rank its own identical file, so
     * that neither waits for the other's), resumed by 2 */
    net e;
    net_init(&e, 1);
    volt_trainer_config s = c;
    s.enable_checkpointing = true;
    s.max_steps = 30;
    train(&e, s, 2 * B, true, 7, NULL, every_steps(dir1, 30));
    snprintf(ckpt, sizeof ckpt, "%s/step=30.ckpt", dir1); /* each rank its own copy */
    net f;
    net_init(&f, 5);
    d.max_steps = -1;
    d.enable_checkpointing = false;
    train(&f, d, B, true, 7, ckpt, NULL);
    assert_same_weights(&f, &ref, 1e-5);

    volt_module_free(&ref.base);
    volt_module_free(&a.base);
    volt_module_free(&b.base);
    volt_module_free(&e.base);
    volt_module_free(&f.base);
}

/* ------------------------------------------------------------ bad input */

static void test_mismatched_models_fail_on_every_rank(void **state) {
    (void)state;
    net m;
    volt_seed_everything(1);
    m = (net){0};
    volt_module_init(&m.base, &net_ops);
    m.fc1 = volt_linear_new(&m.base, "fc1", D, rank == 0 ? 8 : 9);
    m.fc2 = volt_linear_new(&m.base, "fc2", rank == 0 ? 8 : 9, 2);
    volt_datamodule *dm = dm_new(B, false, 3);
    volt_trainer_config c = quiet("ddp");
    volt_trainer *t = volt_trainer_new(&c);
    volt_status st = volt_trainer_fit(t, &m.base, dm, NULL);
    assert_int_not_equal(st, VOLT_OK);
    fprintf(stderr, "rank %d (expected error): %s\n", rank, volt_error_message());
    assert_non_null(strstr(volt_error_message(), "fc1.weight"));
    volt_error_clear();
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

int main(void) {
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    rank = r ? atoi(r) : 0;
    const struct CMUnitTest tests[] = {
        VT_TEST(test_ddp_equals_one_process_of_twice_the_batch),
        VT_TEST(test_ddp_shuffled_and_accumulating),
        VT_TEST(test_sync_dist_and_early_stopping),
        VT_TEST(test_outputs_on_rank_zero),
        VT_TEST(test_checkpoints_across_world_sizes),
        VT_TEST(test_mismatched_models_fail_on_every_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
