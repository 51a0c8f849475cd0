/* test_tuner.c: the tuner on the tiny regression problem of train_fixture.h.
 * lr_find: the sweep has num_training points at exponential / linear rates
 * from min_lr to max_lr, the losses are the smoothing of the raw losses,
 * early stop on divergence cuts it short, the suggestion lies where the
 * loss falls and within a factor of the rate 1 / lambda_max computed here
 * from the data, the module (weights, gradients, mode), generator and
 * caller's trainer come back as they were and nothing but the CSV is
 * written (read back here), under bf16-true converted into the cast
 * module; scale_batch_size: power mode doubles until a
 * memory budget or an allocation failure stops it and returns the largest
 * passing size, halves from a failing init_val, binsearch bisects to two
 * adjacent sizes, the datamodule is left at the result; bad options refused
 * with messages naming them. */
#include <dirent.h>

#include "train_fixture.h"

#define D 3

/* ------------------------------------------------------------- helpers */

/* |got - want| <= tol, in double (cmocka's float comparison rounds). */
#define ASSERT_NEAR(got, want, tol) assert_near((got), (want), (tol), __FILE__, __LINE__)
static void assert_near(double got, double want, double tol, const char *file, int line) {
    if (fabs(got - want) <= tol) return;
    fail_msg("%s:%d: %.17g is not within %g of %.17g", file, line, got, tol, want);
}

typedef struct {
    unsigned char w[D * 8], b[8];
} weights;

static weights weights_of(const lin_module *m) {
    weights s;
    memcpy(s.w, volt_tensor_data(m->w), sizeof s.w);
    memcpy(s.b, volt_tensor_data(m->b), sizeof s.b);
    return s;
}

static void assert_weights(const lin_module *m, const weights *want) {
    weights got = weights_of(m);
    assert_memory_equal(got.w, want->w, sizeof got.w);
    assert_memory_equal(got.b, want->b, sizeof got.b);
}

static volt_lr_find_options quick_sweep(void) {
    volt_lr_find_options o = volt_lr_find_defaults();
    o.min_lr = 1e-5;
    o.max_lr = 10.0;
    o.num_training = 60;
    o.early_stop_threshold = NAN;
    return o;
}

/* The smoothing of Lightning's _LRCallback, recomputed from the raw losses. */
static void assert_smoothing(const volt_lr_find_result *r) {
    double avg = 0;
    for (int64_t i = 0; i < r->count; i++) {
        avg = 0.98 * avg + 0.02 * r->raw_losses[i];
        double want = avg / (1 - pow(0.98, (double)(i + 1)));
        if (isfinite(want)) ASSERT_NEAR(r->losses[i], want, 1e-12 * fabs(want));
    }
}

/* The largest eigenvalue of the loss's Hessian (2 / N) [x 1]^T [x 1] over the
 * n training rows of tiny_dataset, by power iteration: plain gradient
 * descent is fastest near 1 / lambda and diverges beyond 2 / lambda. */
static double hessian_lambda_max(int64_t n) {
    double h[D + 1][D + 1] = {{0}};
    for (int64_t i = 0; i < n; i++) {
        double a[D + 1];
        for (int j = 0; j < D; j++) a[j] = sin((double)i + 2.0 * j);
        a[D] = 1;
        for (int j = 0; j <= D; j++)
            for (int k = 0; k <= D; k++) h[j][k] += 2.0 * a[j] * a[k] / (double)n;
    }
    double v[D + 1] = {1, 1, 1, 1}, lambda = 0;
    for (int it = 0; it < 500; it++) {
        double u[D + 1] = {0}, norm = 0;
        for (int j = 0; j <= D; j++)
            for (int k = 0; k <= D; k++) u[j] += h[j][k] * v[k];
        for (int j = 0; j <= D; j++) norm += u[j] * u[j];
        norm = sqrt(norm);
        for (int j = 0; j <= D; j++) v[j] = u[j] / norm;
        lambda = norm;
    }
    return lambda;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

/* ------------------------------------------------------------- lr_find */

static void test_lr_find_exponential_sweep(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(64, 0, D, 8);
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    weights before = weights_of(&m);
    volt_lr_find_options o = quick_sweep();
    volt_lr_find_result *r = NULL;
    assert_int_equal(volt_tuner_lr_find(NULL, &m.base, dm, &o, &r), VOLT_OK);
    assert_non_null(r);
    assert_int_equal(r->count, 60);
    assert_false(r->stopped_early);
    assert_true(r->lrs[0] == 1e-5);
    assert_true(r->lrs[59] == 10.0);
    double ratio = pow(1e6, 1.0 / 59);
    for (int i = 1; i < 60; i++) ASSERT_NEAR(r->lrs[i] / r->lrs[i - 1], ratio, 1e-12);
    assert_smoothing(r);
    /* tiny rates barely move the loss, the largest blow it up */
    ASSERT_NEAR(r->losses[5], r->losses[0], 0.01 * r->losses[0]);
    assert_true(!(r->losses[59] < 10 * r->losses[0]));
    assert_weights(&m, &before);
    assert_null(m.w->grad);
    volt_lr_find_result_free(r);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_lr_find_linear_sweep(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(64, 0, D, 8);
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    volt_lr_find_options o = quick_sweep();
    o.mode = "linear";
    o.min_lr = 0.001;
    o.max_lr = 0.1;
    o.num_training = 12;
    volt_lr_find_result *r = NULL;
    assert_int_equal(volt_tuner_lr_find(NULL, &m.base, dm, &o, &r), VOLT_OK);
    assert_int_equal(r->count, 12);
    for (int i = 0; i < 12; i++) ASSERT_NEAR(r->lrs[i], 0.001 + 0.099 * i / 11.0, 1e-15);
    /* 12 points, 10 skipped at the start and 1 at the end: 1 left, no suggestion */
    assert_true(isnan(r->suggestion));
    assert_int_equal(r->suggestion_index, -1);
    int64_t idx;
    assert_true(volt_lr_find_suggest(r, 2, 1, &idx) == r->lrs[idx]);
    assert_in_range(idx, 2, 10);
    volt_lr_find_result_free(r);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_lr_find_early_stop(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(64, 0, D, 8);
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    weights before = weights_of(&m);
    volt_lr_find_options o = volt_lr_find_defaults(); /* threshold 4, 100 steps */
    o.min_lr = 1e-4;
    o.max_lr = 100;
    volt_lr_find_result *r = NULL;
    assert_int_equal(volt_tuner_lr_find(NULL, &m.base, dm, &o, &r), VOLT_OK);
    assert_true(r->stopped_early);
    assert_in_range(r->count, 20, 99);
    /* the last point is the first whose smoothed loss exceeds 4 x the best before it */
    double best = r->losses[0];
    for (int64_t i = 1; i < r->count - 1; i++) {
        assert_false(r->losses[i] > 4 * best);
        if (r->losses[i] < best) best = r->losses[i];
    }
    double last = r->losses[r->count - 1];
    assert_true(!isfinite(last) || last > 4 * best);
    assert_weights(&m, &before);
    volt_lr_find_result_free(r);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_lr_find_suggestion(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(64, 0, D, 64); /* full batches: plain GD */
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    volt_lr_find_options o = volt_lr_find_defaults();
    o.min_lr = 1e-6;
    o.max_lr = 10;
    volt_lr_find_result *r = NULL;
    assert_int_equal(volt_tuner_lr_find(NULL, &m.base, dm, &o, &r), VOLT_OK);
    int64_t k = r->suggestion_index;
    assert_in_range(k, 10, r->count - 2);
    assert_true(r->suggestion == r->lrs[k]);
    /* descending: below where the sweep started and still falling there */
    assert_true(r->losses[k] < r->losses[10]);
    assert_true(r->losses[k + 1] < r->losses[k - 1]);
    double good = 1.0 / hessian_lambda_max(64);
    print_message("lr_find: suggestion %g at step %lld, 1/lambda_max %g, 2/lambda_max %g\n",
                  r->suggestion, (long long)k, good, 2 * good);
    assert_true(r->suggestion >= good / 30 && r->suggestion <= 2 * good);
    assert_int_equal(volt_lr_find_suggest(r, 10, 1, NULL) == r->suggestion, 1);
    volt_lr_find_result_free(r);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

/* A module whose configure_optimizers adds schedulers that would change
 * the rate (StepLR every step) or fail without validation (a strict
 * plateau on val_loss), and which records the rate of every step. */
typedef struct {
    lin_module lin;
    bool plateau;
    int n_steps, n_batches;
    double used[64];
} sched_module;

static volt_status sched_configure(volt_module *self, volt_optim_setup *o) {
    sched_module *m = (sched_module *)self;
    volt_optimizer *sgd =
        volt_sgd_new(volt_module_parameters(self), &(volt_sgd_options){.lr = m->lin.lr});
    if (!m->plateau)
        return volt_optim_setup_add(o, sgd, volt_step_lr_new(sgd, 1, 0.5), VOLT_INTERVAL_STEP);
    volt_lr_scheduler_config c = {VOLT_INTERVAL_EPOCH, 1, "val_loss", true};
    return volt_optim_setup_add_ex(o, sgd, volt_reduce_lr_on_plateau_new(sgd, NULL), &c);
}

static volt_status sched_before_step(volt_module *self, volt_step *step) {
    sched_module *m = (sched_module *)self;
    if (m->n_steps < 64) m->used[m->n_steps++] = volt_optimizer_lr(volt_step_optimizer(step), 0);
    return VOLT_OK;
}

static volt_tensor *sched_training_step(volt_module *self, volt_batch *b, int64_t i,
                                        volt_step *step) {
    ((sched_module *)self)->n_batches++;
    return lin_training_step(self, b, i, step);
}

static void test_lr_find_owns_the_rate(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(64, 16, D, 8);
    volt_module_ops ops = lin_plain_ops;
    ops.configure_optimizers = sched_configure;
    ops.on_before_optimizer_step = sched_before_step;
    ops.training_step = sched_training_step;
    for (int plateau = 0; plateau < 2; plateau++) {
        sched_module m = {0};
        lin_init(&m.lin, &ops, D, 0.01);
        m.plateau = plateau;
        volt_trainer_config c = quiet_config();
        c.accumulate_grad_batches = 1 + plateau; /* two batches a step the second time */
        volt_trainer *t = volt_trainer_new(&c);
        volt_lr_find_options o = quick_sweep();
        o.num_training = 20;
        volt_lr_find_result *r = NULL;
        assert_int_equal(volt_tuner_lr_find(t, &m.lin.base, dm, &o, &r), VOLT_OK);
        assert_int_equal(r->count, 20);
        assert_int_equal(m.n_steps, 20);
        assert_int_equal(m.n_batches, 20 * (1 + plateau));
        for (int i = 0; i < 20; i++) assert_true(m.used[i] == r->lrs[i]);
        volt_lr_find_result_free(r);
        volt_trainer_free(t);
        volt_module_free(&m.lin.base);
    }
    volt_datamodule_free(dm);
}

static void test_lr_find_restores_and_writes_only_csv(void **state) {
    (void)state;
    const char *dir = fresh_dir("tuner_lr_find");
    char root[1100], csv[1200];
    snprintf(root, sizeof root, "%s/root", dir);
    snprintf(csv, sizeof csv, "%s/curve/lr.csv", dir);
    volt_trainer_config c = quiet_config();
    c.logger = c.enable_checkpointing = true; /* the caller's: the tuner's are off */
    c.default_root_dir = root;
    c.seed = 7;
    volt_trainer *t = volt_trainer_new(&c);
    volt_datamodule *dm = tiny_dm_new(64, 16, D, 8);
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    volt_module_train(&m.base, false);
    volt_seed_everything(99);
    volt_generator *g = volt_default_generator();
    uint32_t draw[4];
    volt_generator_next4(g, draw);
    volt_generator gen_before = *g;
    weights before = weights_of(&m);
    volt_lr_find_options o = quick_sweep();
    o.num_training = 30;
    o.csv_path = csv;
    o.update_attr = &m.lr;
    volt_lr_find_result *r = NULL;
    assert_int_equal(volt_tuner_lr_find(t, &m.base, dm, &o, &r), VOLT_OK);
    assert_weights(&m, &before);
    assert_false(volt_module_is_training(&m.base));
    assert_true(volt_global_seed() == 99);
    assert_memory_equal(volt_default_generator(), &gen_before, sizeof gen_before);
    assert_int_equal(volt_trainer_global_step(t), 0);
    assert_null(volt_trainer_log_dir(t));
    assert_int_equal(count_entries(dir), 1); /* curve/ only: no logs, no checkpoints */
    assert_true(m.lr == r->suggestion);
    FILE *f = fopen(csv, "r");
    assert_non_null(f);
    char line[128];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "lr,loss\n");
    int64_t rows = 0;
    double lr, loss;
    while (fscanf(f, "%lf,%lf\n", &lr, &loss) == 2) {
        assert_true(rows < r->count);
        assert_true(lr == r->lrs[rows]);
        assert_true(loss == r->losses[rows] || (isnan(loss) && isnan(r->losses[rows])));
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 30);
    /* the caller's trainer still fits as if nothing happened */
    volt_trainer_free(t);
    c.max_epochs = 2;
    t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(t), 16);
    volt_lr_find_result_free(r);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

/* Under precision "bf16-true" the search's fit casts the module to bf16;
 * the restore then puts the values taken before it back converted (as
 * Lightning's lr_find reloads its checkpoint into the cast module), and the
 * caller's fit goes on from them. */
static void test_lr_find_bf16_true(void **state) {
    (void)state;
    volt_trainer_config c = quiet_config();
    c.precision = "bf16-true";
    c.seed = 7;
    volt_trainer *t = volt_trainer_new(&c);
    volt_datamodule *dm = tiny_dm_new(64, 16, D, 8);
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    volt_lr_find_options o = quick_sweep();
    o.num_training = 20;
    volt_lr_find_result *r = NULL;
    if (volt_tuner_lr_find(t, &m.base, dm, &o, &r)) fail_msg("lr_find: %s", volt_error_message());
    assert_int_equal(r->count, 20);
    assert_int_equal(m.w->dtype, VOLT_BF16);
    for (int64_t j = 0; j < D; j++)
        assert_true(volt_tensor_get_flat(m.w, j) ==
                    volt_bf16_to_f32(volt_f32_to_bf16((float)(0.1 * (double)(j + 1)))));
    assert_true(volt_tensor_get_flat(m.b, 0) == 0.0);
    c.max_epochs = 1;
    volt_trainer_free(t);
    t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(t), 8);
    volt_lr_find_result_free(r);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_lr_find_failure_restores(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(64, 0, D, 8);
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    weights before = weights_of(&m);
    m.fail_epoch = 1;
    m.fail_batch = 2;
    volt_lr_find_result *r = (volt_lr_find_result *)&m; /* overwritten with NULL */
    assert_int_equal(volt_tuner_lr_find(NULL, &m.base, dm, NULL, &r), VOLT_ERR_INVALID_ARGUMENT);
    assert_null(r);
    assert_true(strstr(volt_error_message(), "lr_find: "));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "deliberate failure");
    assert_weights(&m, &before);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void expect_lr_refused(volt_lr_find_options o, const char *substr) {
    volt_datamodule *dm = tiny_dm_new(16, 0, D, 8);
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    volt_lr_find_result *r = NULL;
    assert_int_equal(volt_tuner_lr_find(NULL, &m.base, dm, &o, &r), VOLT_ERR_INVALID_ARGUMENT);
    assert_null(r);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, substr);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static volt_tensor *manual_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    return lin_training_step(self, b, i, s);
}

static void test_lr_find_bad_options(void **state) {
    (void)state;
    volt_lr_find_options o = volt_lr_find_defaults();
    o.mode = "cubic";
    expect_lr_refused(o, "lr_find: mode 'cubic' is not one of exponential, linear");
    o = volt_lr_find_defaults();
    o.min_lr = 0;
    expect_lr_refused(o, "min_lr must be finite and > 0 (got 0)");
    o = volt_lr_find_defaults();
    o.max_lr = 1e-9;
    expect_lr_refused(o, "max_lr must be finite and > min_lr");
    o = volt_lr_find_defaults();
    o.num_training = 1;
    expect_lr_refused(o, "num_training must be >= 2 (got 1)");
    o = volt_lr_find_defaults();
    o.early_stop_threshold = -1;
    expect_lr_refused(o, "early_stop_threshold must be finite and > 0");
    o = volt_lr_find_defaults();
    o.csv_path = "";
    expect_lr_refused(o, "csv_path is empty");

    volt_datamodule *dm = tiny_dm_new(16, 0, D, 8);
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    volt_lr_find_result *r = NULL;
    assert_int_equal(volt_tuner_lr_find(NULL, NULL, dm, NULL, &r), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "lr_find: NULL module");
    assert_int_equal(volt_tuner_lr_find(NULL, &m.base, NULL, NULL, &r), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "lr_find: NULL datamodule");
    assert_int_equal(volt_tuner_lr_find(NULL, &m.base, dm, NULL, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "lr_find: NULL result pointer");
    volt_module_ops manual = lin_plain_ops;
    manual.training_step = manual_step;
    manual.manual_optimization = true;
    m.base.ops = &manual;
    assert_int_equal(volt_tuner_lr_find(NULL, &m.base, dm, NULL, &r), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "lr_find: module 'lin' optimizes manually");
    m.base.ops = &lin_plain_ops;
    volt_trainer_config c = quiet_config();
    c.limit_train_batches = 0;
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_tuner_lr_find(t, &m.base, dm, NULL, &r), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "lr_find: no optimizer step ran");
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

/* ---------------------------------------------------- scale_batch_size */

#define BIG_D 32
#define BIG_N 256

typedef struct {
    int calls;
    int64_t last;
    int64_t oom_at; /* arm an allocation failure when set to this size */
} bs_ctx;

static volt_status tiny_set_batch_size(volt_datamodule *d, int64_t bs, void *ctx) {
    tiny_dm *dm = (tiny_dm *)d;
    bs_ctx *c = ctx;
    c->calls++;
    c->last = bs;
    volt_data_loader_free(dm->train);
    dm->train = volt_data_loader_new(dm->train_ds, &(volt_data_loader_options){.batch_size = bs});
    if (!dm->train) return volt_error_status();
    if (bs == c->oom_at) volt_cpu_alloc_fail_after(3);
    return VOLT_OK;
}

static volt_batch_size_options bs_options(bs_ctx *c) {
    volt_batch_size_options o = volt_batch_size_defaults();
    o.set_batch_size = tiny_set_batch_size;
    o.ctx = c;
    return o;
}

static int64_t trial_peak(const volt_batch_size_result *r, int64_t bs) {
    for (int64_t i = 0; i < r->n_trials; i++)
        if (r->trials[i].batch_size == bs) return r->trials[i].peak_bytes;
    fail_msg("no trial at batch size %lld", (long long)bs);
    return -1;
}

static const volt_batch_size_trial *trial_at(const volt_batch_size_result *r, int64_t bs) {
    for (int64_t i = 0; i < r->n_trials; i++)
        if (r->trials[i].batch_size == bs) return &r->trials[i];
    return NULL;
}

static void assert_sizes(const volt_batch_size_result *r, int n, const int64_t *sizes) {
    assert_int_equal(r->n_trials, n);
    for (int i = 0; i < n; i++) assert_int_equal(r->trials[i].batch_size, sizes[i]);
}

/* Without a budget: 2, 4, ... until the batch holds all 256 rows. */
static volt_batch_size_result *unbounded_run(lin_module *m, volt_datamodule *dm) {
    bs_ctx c = {0};
    volt_batch_size_options o = bs_options(&c);
    volt_batch_size_result *r = NULL;
    assert_int_equal(volt_tuner_scale_batch_size(NULL, &m->base, dm, &o, &r), VOLT_OK);
    return r;
}

static void test_batch_size_power_until_whole_set(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(BIG_N, 0, BIG_D, 4);
    lin_module m;
    lin_init(&m, &lin_plain_ops, BIG_D, 0.001);
    weights before = weights_of(&m);
    volt_batch_size_result *r = unbounded_run(&m, dm);
    assert_sizes(r, 8, (int64_t[]){2, 4, 8, 16, 32, 64, 128, 256});
    for (int i = 0; i < 8; i++) {
        assert_true(r->trials[i].passed);
        assert_string_equal(r->trials[i].why, "passed");
        assert_int_equal(r->trials[i].steps, 3);
        if (i > 0) assert_true(r->trials[i].peak_bytes > r->trials[i - 1].peak_bytes);
    }
    assert_int_equal(r->batch_size, 256);
    assert_int_equal(volt_data_loader_len(((tiny_dm *)dm)->train), 1); /* left at 256 */
    assert_weights(&m, &before);
    volt_batch_size_result_free(r);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_batch_size_power_budget(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(BIG_N, 0, BIG_D, 4);
    lin_module m;
    lin_init(&m, &lin_plain_ops, BIG_D, 0.001);
    weights before = weights_of(&m);
    volt_batch_size_result *free_run = unbounded_run(&m, dm);
    int64_t p16 = trial_peak(free_run, 16), p32 = trial_peak(free_run, 32);
    bs_ctx c = {0};
    volt_batch_size_options o = bs_options(&c);
    o.memory_budget = (p16 + p32) / 2;
    volt_batch_size_result *r = NULL;
    assert_int_equal(volt_tuner_scale_batch_size(NULL, &m.base, dm, &o, &r), VOLT_OK);
    assert_sizes(r, 5, (int64_t[]){2, 4, 8, 16, 32});
    for (int i = 0; i < 5; i++) /* the same trial, the same peak */
        assert_int_equal(r->trials[i].peak_bytes, trial_peak(free_run, r->trials[i].batch_size));
    assert_true(r->trials[3].passed);
    assert_false(r->trials[4].passed);
    assert_string_equal(r->trials[4].why, "over the memory budget");
    assert_int_equal(r->batch_size, 16);
    assert_int_equal(c.last, 16);
    assert_int_equal(volt_data_loader_len(((tiny_dm *)dm)->train), BIG_N / 16);
    assert_weights(&m, &before);
    volt_batch_size_result_free(r);

    /* from a failing init_val: halve until one passes, then stop */
    c = (bs_ctx){0};
    o.init_val = 128;
    o.memory_budget = (trial_peak(free_run, 4) + trial_peak(free_run, 8)) / 2;
    assert_int_equal(volt_tuner_scale_batch_size(NULL, &m.base, dm, &o, &r), VOLT_OK);
    assert_sizes(r, 6, (int64_t[]){128, 64, 32, 16, 8, 4});
    assert_int_equal(r->batch_size, 4);
    volt_batch_size_result_free(r);

    /* max_trials ends the doubling: the largest size tried that passed */
    o.init_val = 2;
    o.memory_budget = 0;
    o.max_trials = 3;
    assert_int_equal(volt_tuner_scale_batch_size(NULL, &m.base, dm, &o, &r), VOLT_OK);
    assert_sizes(r, 3, (int64_t[]){2, 4, 8});
    assert_int_equal(r->batch_size, 8);
    volt_batch_size_result_free(r);
    volt_batch_size_result_free(free_run);
    assert_weights(&m, &before);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_batch_size_binsearch(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(BIG_N, 0, BIG_D, 4);
    lin_module m;
    lin_init(&m, &lin_plain_ops, BIG_D, 0.001);
    weights before = weights_of(&m);
    volt_batch_size_result *free_run = unbounded_run(&m, dm);
    int64_t budget = (trial_peak(free_run, 16) + trial_peak(free_run, 32)) / 2;
    bs_ctx c = {0};
    volt_batch_size_options o = bs_options(&c);
    o.mode = "binsearch";
    o.memory_budget = budget;
    volt_batch_size_result *r = NULL;
    assert_int_equal(volt_tuner_scale_batch_size(NULL, &m.base, dm, &o, &r), VOLT_OK);
    /* doubling to the first failure, then the midpoint of 16 and 32 */
    assert_true(r->n_trials > 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r->trials[i].batch_size, ((int64_t[]){2, 4, 8, 16, 32, 24})[i]);
    for (int64_t i = 0; i < r->n_trials; i++)
        assert_int_equal(r->trials[i].passed, r->trials[i].peak_bytes <= budget);
    int64_t best = r->batch_size;
    assert_in_range(best, 16, 31);
    assert_true(trial_at(r, best) && trial_at(r, best)->passed);
    assert_true(trial_at(r, best + 1) && !trial_at(r, best + 1)->passed);
    for (int64_t i = 0; i < r->n_trials; i++) /* nothing larger passed */
        assert_true(!r->trials[i].passed || r->trials[i].batch_size <= best);
    assert_int_equal(c.last, best);
    assert_weights(&m, &before);
    print_message("binsearch: budget %lld bytes -> batch size %lld in %lld trials\n",
                  (long long)budget, (long long)best, (long long)r->n_trials);
    volt_batch_size_result_free(r);
    volt_batch_size_result_free(free_run);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_batch_size_allocation_failure(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(BIG_N, 0, BIG_D, 4);
    lin_module m;
    lin_init(&m, &lin_plain_ops, BIG_D, 0.001);
    weights before = weights_of(&m);
    bs_ctx c = {.oom_at = 32};
    volt_batch_size_options o = bs_options(&c);
    volt_batch_size_result *r = NULL;
    assert_int_equal(volt_tuner_scale_batch_size(NULL, &m.base, dm, &o, &r), VOLT_OK);
    assert_sizes(r, 5, (int64_t[]){2, 4, 8, 16, 32});
    assert_string_equal(r->trials[4].why, "out of memory");
    assert_int_equal(r->batch_size, 16);
    assert_weights(&m, &before);
    volt_batch_size_result_free(r);

    /* binsearch around the same failure: 16 passes, 32 fails, 24 ... */
    c = (bs_ctx){.oom_at = 32};
    o.mode = "binsearch";
    assert_int_equal(volt_tuner_scale_batch_size(NULL, &m.base, dm, &o, &r), VOLT_OK);
    assert_int_equal(r->batch_size, 31); /* every size below 32 passes */
    volt_batch_size_result_free(r);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_batch_size_nothing_fits(void **state) {
    (void)state;
    volt_datamodule *dm = tiny_dm_new(BIG_N, 0, BIG_D, 4);
    lin_module m;
    lin_init(&m, &lin_plain_ops, BIG_D, 0.001);
    weights before = weights_of(&m);
    bs_ctx c = {0};
    volt_batch_size_options o = bs_options(&c);
    o.memory_budget = 1;
    volt_batch_size_result *r = NULL;
    assert_int_equal(volt_tuner_scale_batch_size(NULL, &m.base, dm, &o, &r),
                     VOLT_ERR_OUT_OF_MEMORY);
    assert_null(r);
    VT_ASSERT_ERROR(VOLT_ERR_OUT_OF_MEMORY, "scale_batch_size: no batch size passed in 2 trials "
                                            "(the last, 1: over the memory budget");
    assert_weights(&m, &before);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void expect_bs_refused(volt_batch_size_options o, const char *substr) {
    volt_datamodule *dm = tiny_dm_new(16, 0, D, 8);
    lin_module m;
    lin_init(&m, &lin_plain_ops, D, 0.01);
    volt_batch_size_result *r = NULL;
    assert_int_equal(volt_tuner_scale_batch_size(NULL, &m.base, dm, &o, &r),
                     VOLT_ERR_INVALID_ARGUMENT);
    assert_null(r);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, substr);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_batch_size_bad_options(void **state) {
    (void)state;
    bs_ctx c = {0};
    volt_batch_size_options o = bs_options(&c);
    o.mode = "half";
    expect_bs_refused(o, "scale_batch_size: mode 'half' is not one of power, binsearch");
    o = volt_batch_size_defaults();
    expect_bs_refused(o, "scale_batch_size: set_batch_size is NULL");
    o = bs_options(&c);
    o.init_val = 0;
    expect_bs_refused(o, "init_val must be >= 1 (got 0)");
    o = bs_options(&c);
    o.max_trials = 0;
    expect_bs_refused(o, "max_trials must be >= 1 (got 0)");
    o = bs_options(&c);
    o.steps_per_trial = -2;
    expect_bs_refused(o, "steps_per_trial must be >= 1 (got -2)");
    o = bs_options(&c);
    o.memory_budget = -1;
    expect_bs_refused(o, "memory_budget must be >= 0 bytes");
    assert_int_equal(c.calls, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_lr_find_exponential_sweep),
        VT_TEST(test_lr_find_linear_sweep),
        VT_TEST(test_lr_find_early_stop),
        VT_TEST(test_lr_find_suggestion),
        VT_TEST(test_lr_find_owns_the_rate),
        VT_TEST(test_lr_find_restores_and_writes_only_csv),
        VT_TEST(test_lr_find_failure_restores),
        VT_TEST(test_lr_find_bf16_true),
        VT_TEST(test_lr_find_bad_options),
        VT_TEST(test_batch_size_power_until_whole_set),
        VT_TEST(test_batch_size_power_budget),
        VT_TEST(test_batch_size_binsearch),
        VT_TEST(test_batch_size_allocation_failure),
        VT_TEST(test_batch_size_nothing_fits),
        VT_TEST(test_batch_size_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
