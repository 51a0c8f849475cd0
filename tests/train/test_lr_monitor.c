/* test_lr_monitor.c: the LearningRateMonitor callback, read through an
 * in-memory logger — SGD + StepLR logged per epoch and per step (the
 * schedule's values at the logger steps), log_every_n_steps, an optimizer
 * without a scheduler, names and values for several parameter groups with
 * momentum and weight decay, two optimizers of one type (scheduled one
 * first, "-1" for the next) and one without momentum; the errors without a
 * logger, without optimizers and for a bad interval. */
#include "train_fixture.h"

/* ------------------------------------------------------ an in-memory logger */

#define MEM_ROWS 256

typedef struct {
    volt_logger base;
    int n;
    int64_t steps[MEM_ROWS];
    volt_metrics *rows[MEM_ROWS];
} mem_logger;

static volt_status mem_log_metrics(volt_logger *self, const volt_metrics *metrics, int64_t step) {
    mem_logger *lg = (mem_logger *)self;
    if (lg->n >= MEM_ROWS) return VOLT_OK;
    volt_metrics *row = calloc(1, sizeof *row);
    for (int64_t i = 0; i < metrics->count; i++)
        volt_metrics_set(row, metrics->names[i], metrics->values[i]);
    lg->steps[lg->n] = step;
    lg->rows[lg->n++] = row;
    return VOLT_OK;
}

static void mem_free(volt_logger *self) {
    mem_logger *lg = (mem_logger *)self;
    for (int i = 0; i < lg->n; i++) volt_metrics_free(lg->rows[i]);
    free(lg);
}

static const volt_logger_ops mem_ops = {
    .name = "memory",
    .log_metrics = mem_log_metrics,
    .free = mem_free,
};

/* The rows holding `key`: their steps and values (at most max); the count. */
static int rows_with(const mem_logger *lg, const char *key, int64_t *steps, double *values,
                     int max) {
    int k = 0;
    for (int i = 0; i < lg->n; i++) {
        if (!volt_metrics_has(lg->rows[i], key)) continue;
        if (k < max) {
            steps[k] = lg->steps[i];
            values[k] = volt_metrics_get(lg->rows[i], key);
        }
        k++;
    }
    return k;
}

/* Rows with any "lr-" key. */
static int lr_rows(const mem_logger *lg) {
    int k = 0;
    for (int i = 0; i < lg->n; i++) {
        bool any = false;
        for (int64_t j = 0; j < lg->rows[i]->count; j++)
            any = any || strncmp(lg->rows[i]->names[j], "lr-", 3) == 0;
        k += any;
    }
    return k;
}

static void assert_series(const mem_logger *lg, const char *key, int n, const int64_t *steps,
                          const double *values) {
    int64_t got_steps[64];
    double got[64];
    int k = rows_with(lg, key, got_steps, got, 64);
    if (k != n) fail_msg("%s: %d rows, want %d", key, k, n);
    for (int i = 0; i < n; i++) {
        if (got_steps[i] != steps[i] || got[i] != values[i])
            fail_msg("%s row %d: step %lld value %.17g, want step %lld value %.17g", key, i,
                     (long long)got_steps[i], got[i], (long long)steps[i], values[i]);
    }
}

/* --------------------------------------------------------- the modules */

typedef enum {
    OPT_SGD_STEPLR_EPOCH, /* SGD lr 0.1, StepLR(1, 0.5) stepped per epoch */
    OPT_SGD_STEPLR_STEP,  /* the same stepped per optimizer step */
    OPT_SGD_PLAIN,        /* SGD lr 0.1, no scheduler */
    OPT_SGD_GROUPS,       /* SGD: w (lr 0.1) and b (lr 0.01), momentum 0.9, wd 0.01 / 0.001 */
    OPT_MANUAL_THREE,     /* manual: Adam(w), Adam(b) + StepLR, Adagrad(b) */
    OPT_MANUAL_NONE,      /* manual, no optimizer */
} opt_kind;

typedef struct {
    lin_module lin;
    opt_kind kind;
} lr_module;

#define ONE(t) ((volt_params){1, (volt_tensor *const[]){(t)}, NULL})

static volt_status lr_configure(volt_module *self, volt_optim_setup *o) {
    lr_module *m = (lr_module *)self;
    volt_params all = volt_module_parameters(self);
    volt_optimizer *opt;
    switch (m->kind) {
    case OPT_SGD_STEPLR_EPOCH:
    case OPT_SGD_STEPLR_STEP:
        opt = volt_sgd_new(all, &(volt_sgd_options){.lr = 0.1});
        return volt_optim_setup_add(o, opt, volt_step_lr_new(opt, 1, 0.5),
                                    m->kind == OPT_SGD_STEPLR_STEP ? VOLT_INTERVAL_STEP
                                                                   : VOLT_INTERVAL_EPOCH);
    case OPT_SGD_PLAIN:
        return volt_optim_setup_add(o, volt_sgd_new(all, &(volt_sgd_options){.lr = 0.1}), NULL,
                                    VOLT_INTERVAL_EPOCH);
    case OPT_SGD_GROUPS:
        opt = volt_sgd_new(ONE(m->lin.w),
                           &(volt_sgd_options){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
        volt_optimizer_add_param_group(opt, ONE(m->lin.b),
                                       &(volt_sgd_options){.lr = 0.01, .weight_decay = 0.001});
        return volt_optim_setup_add(o, opt, NULL, VOLT_INTERVAL_EPOCH);
    case OPT_MANUAL_THREE: {
        volt_optimizer *a = volt_adam_new(ONE(m->lin.w), &(volt_adam_options){.lr = 0.001});
        volt_optimizer *b = volt_adam_new(ONE(m->lin.b), &(volt_adam_options){.lr = 0.002});
        volt_optimizer *c = volt_adagrad_new(ONE(m->lin.b), &(volt_adagrad_options){.lr = 0.05});
        volt_status st = volt_optim_setup_add(o, a, NULL, VOLT_INTERVAL_EPOCH);
        if (!st) st = volt_optim_setup_add(o, b, volt_step_lr_new(b, 1, 0.5), VOLT_INTERVAL_EPOCH);
        if (!st) st = volt_optim_setup_add(o, c, NULL, VOLT_INTERVAL_EPOCH);
        return st;
    }
    case OPT_MANUAL_NONE: return VOLT_OK;
    }
    return VOLT_OK;
}

/* Manual optimization: one backward, every optimizer steps. */
static volt_tensor *manual_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    lr_module *m = (lr_module *)self;
    volt_trainer *t = volt_step_trainer(step);
    int n = volt_trainer_num_optimizers(t);
    volt_tensor *loss = volt_mse_loss(lin_forward(&m->lin, b->x), b->y, VOLT_REDUCTION_MEAN);
    for (int k = 0; k < n; k++) volt_optimizer_zero_grad(volt_trainer_optimizer(t, k));
    if (volt_manual_backward(step, loss)) return NULL;
    for (int k = 0; k < n; k++)
        if (volt_optimizer_step(volt_trainer_optimizer(t, k))) return NULL;
    return loss;
}

static const volt_module_ops lr_auto_ops = {
    .name = "lr",
    .training_step = lin_training_step,
    .configure_optimizers = lr_configure,
};

static const volt_module_ops lr_manual_ops = {
    .name = "lr_manual",
    .training_step = manual_step,
    .configure_optimizers = lr_configure,
    .manual_optimization = true,
};

/* One fit with the monitor and (with_logger) an in-memory logger. */
typedef struct {
    lr_module m;
    volt_trainer *t;
    mem_logger *lg;
    volt_datamodule *dm;
} lr_run;

static volt_status lr_fit(lr_run *r, opt_kind kind, const volt_lr_monitor_options *o,
                          int64_t max_epochs, int64_t log_every, bool with_logger) {
    memset(r, 0, sizeof *r);
    bool manual = kind == OPT_MANUAL_THREE || kind == OPT_MANUAL_NONE;
    lin_init(&r->m.lin, manual ? &lr_manual_ops : &lr_auto_ops, 2, 0.1);
    r->m.kind = kind;
    r->dm = tiny_dm_new(8, 0, 2, 4); /* 2 batches per epoch, no validation */
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = max_epochs;
    cfg.log_every_n_steps = log_every;
    cfg.enable_checkpointing = false;
    cfg.default_root_dir = fresh_dir("lr_monitor");
    r->t = volt_trainer_new(&cfg);
    assert_non_null(r->t);
    if (with_logger) {
        r->lg = calloc(1, sizeof *r->lg);
        r->lg->base.ops = &mem_ops;
        assert_int_equal(volt_trainer_add_logger(r->t, &r->lg->base), VOLT_OK);
    }
    volt_callback *cb = volt_lr_monitor_new(o);
    assert_non_null(cb);
    assert_string_equal(cb->ops->name, "LearningRateMonitor");
    assert_int_equal(volt_trainer_add_callback(r->t, cb), VOLT_OK);
    return volt_trainer_fit(r->t, &r->m.lin.base, r->dm, NULL);
}

static void lr_done(lr_run *r) {
    volt_trainer_free(r->t);
    volt_datamodule_free(r->dm);
    volt_module_free(&r->m.lin.base);
}

/* ------------------------------------------------------------ intervals */

/* An epoch-interval StepLR with no logging_interval: once per epoch, at its
 * start, with the logger step of that moment (2 batches per epoch). */
static void test_epoch_scheduler_logs_per_epoch(void **state) {
    (void)state;
    lr_run r;
    assert_int_equal(lr_fit(&r, OPT_SGD_STEPLR_EPOCH, NULL, 3, 1, true), VOLT_OK);
    assert_series(r.lg, "lr-SGD", 3, (int64_t[]){0, 2, 4}, (double[]){0.1, 0.05, 0.025});
    assert_int_equal(lr_rows(r.lg), 3);
    lr_done(&r);

    /* "epoch" says the same */
    assert_int_equal(lr_fit(&r, OPT_SGD_STEPLR_EPOCH,
                            &(volt_lr_monitor_options){.logging_interval = "epoch"}, 3, 1, true),
                     VOLT_OK);
    assert_series(r.lg, "lr-SGD", 3, (int64_t[]){0, 2, 4}, (double[]){0.1, 0.05, 0.025});
    lr_done(&r);
}

/* "step": at the start of every logged step (log_every_n_steps), before
 * the step runs: the lr that step uses. */
static void test_step_interval(void **state) {
    (void)state;
    lr_run r;
    volt_lr_monitor_options o = {.logging_interval = "step"};
    assert_int_equal(lr_fit(&r, OPT_SGD_STEPLR_EPOCH, &o, 3, 1, true), VOLT_OK);
    assert_series(r.lg, "lr-SGD", 6, (int64_t[]){0, 1, 2, 3, 4, 5},
                  (double[]){0.1, 0.1, 0.05, 0.05, 0.025, 0.025});
    assert_int_equal(lr_rows(r.lg), 6);
    lr_done(&r);

    /* every second step: Lightning's (batches_that_stepped + 1) % 2 == 0 */
    assert_int_equal(lr_fit(&r, OPT_SGD_STEPLR_EPOCH, &o, 3, 2, true), VOLT_OK);
    assert_series(r.lg, "lr-SGD", 3, (int64_t[]){1, 3, 5}, (double[]){0.1, 0.05, 0.025});
    lr_done(&r);
}

/* A step-interval StepLR with no logging_interval: per step, halving. */
static void test_step_scheduler_logs_per_step(void **state) {
    (void)state;
    lr_run r;
    assert_int_equal(lr_fit(&r, OPT_SGD_STEPLR_STEP, NULL, 3, 1, true), VOLT_OK);
    assert_series(r.lg, "lr-SGD", 6, (int64_t[]){0, 1, 2, 3, 4, 5},
                  (double[]){0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125});
    assert_int_equal(lr_rows(r.lg), 6);
    lr_done(&r);
}

/* No scheduler, no logging_interval: Lightning logs such an optimizer both
 * at epoch starts and at logged steps. */
static void test_no_scheduler_logs_both(void **state) {
    (void)state;
    lr_run r;
    assert_int_equal(lr_fit(&r, OPT_SGD_PLAIN, NULL, 2, 1, true), VOLT_OK);
    assert_series(r.lg, "lr-SGD", 6, (int64_t[]){0, 0, 1, 2, 2, 3},
                  (double[]){0.1, 0.1, 0.1, 0.1, 0.1, 0.1});
    lr_done(&r);

    /* with the default log_every_n_steps (50) only the epoch starts */
    assert_int_equal(lr_fit(&r, OPT_SGD_PLAIN, NULL, 2, 50, true), VOLT_OK);
    assert_series(r.lg, "lr-SGD", 2, (int64_t[]){0, 2}, (double[]){0.1, 0.1});
    lr_done(&r);
}

/* ---------------------------------------------------------------- names */

static void assert_row_value(const mem_logger *lg, const char *key, double want) {
    int64_t steps[4];
    double got[4];
    int k = rows_with(lg, key, steps, got, 4);
    if (k != 1) fail_msg("%s: %d rows, want 1", key, k);
    if (got[0] != want) fail_msg("%s = %.17g, want %.17g", key, got[0], want);
}

static int lr_keys(const mem_logger *lg) {
    int k = 0;
    for (int i = 0; i < lg->n; i++)
        for (int64_t j = 0; j < lg->rows[i]->count; j++)
            k += strncmp(lg->rows[i]->names[j], "lr-", 3) == 0;
    return k;
}

static void test_groups_momentum_weight_decay(void **state) {
    (void)state;
    lr_run r;
    volt_lr_monitor_options o = {
        .logging_interval = "epoch", .log_momentum = true, .log_weight_decay = true};
    assert_int_equal(lr_fit(&r, OPT_SGD_GROUPS, &o, 1, 50, true), VOLT_OK);
    assert_row_value(r.lg, "lr-SGD/pg1", 0.1);
    assert_row_value(r.lg, "lr-SGD/pg2", 0.01);
    assert_row_value(r.lg, "lr-SGD/pg1-momentum", 0.9);
    assert_row_value(r.lg, "lr-SGD/pg2-momentum", 0.9); /* inherited from the constructor */
    assert_row_value(r.lg, "lr-SGD/pg1-weight_decay", 0.01);
    assert_row_value(r.lg, "lr-SGD/pg2-weight_decay", 0.001);
    assert_int_equal(lr_keys(r.lg), 6);
    lr_done(&r);

    /* without the flags: the two learning rates only */
    assert_int_equal(lr_fit(&r, OPT_SGD_GROUPS,
                            &(volt_lr_monitor_options){.logging_interval = "epoch"}, 1, 50, true),
                     VOLT_OK);
    assert_row_value(r.lg, "lr-SGD/pg1", 0.1);
    assert_row_value(r.lg, "lr-SGD/pg2", 0.01);
    assert_int_equal(lr_keys(r.lg), 2);
    lr_done(&r);
}

/* Optimizers with schedulers are named first: the scheduled Adam (lr
 * 0.002) is "lr-Adam", the other "lr-Adam-1"; Adagrad has no momentum
 * (logged as 0, as Lightning does); Adam's momentum is beta1. */
static void test_same_type_names(void **state) {
    (void)state;
    lr_run r;
    volt_lr_monitor_options o = {.logging_interval = "epoch", .log_momentum = true};
    assert_int_equal(lr_fit(&r, OPT_MANUAL_THREE, &o, 1, 50, true), VOLT_OK);
    assert_row_value(r.lg, "lr-Adam", 0.002);
    assert_row_value(r.lg, "lr-Adam-1", 0.001);
    assert_row_value(r.lg, "lr-Adagrad", 0.05);
    assert_row_value(r.lg, "lr-Adam-momentum", 0.9);
    assert_row_value(r.lg, "lr-Adam-1-momentum", 0.9);
    assert_row_value(r.lg, "lr-Adagrad-momentum", 0.0);
    assert_int_equal(lr_keys(r.lg), 6);
    lr_done(&r);
}

/* --------------------------------------------------------------- errors */

static void test_errors(void **state) {
    (void)state;
    assert_null(volt_lr_monitor_new(&(volt_lr_monitor_options){.logging_interval = "batch"}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "logging_interval should be");

    lr_run r;
    assert_int_equal(lr_fit(&r, OPT_SGD_PLAIN, NULL, 1, 50, false), VOLT_ERR_INVALID_ARGUMENT);
    const char *msg = volt_error_message();
    assert_non_null(strstr(msg, "on_train_start"));
    assert_non_null(strstr(msg, "LearningRateMonitor"));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "has no logger");
    lr_done(&r);

    assert_int_equal(lr_fit(&r, OPT_MANUAL_NONE, NULL, 1, 50, true), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "has no optimizers");
    lr_done(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_epoch_scheduler_logs_per_epoch),
        VT_TEST(test_step_interval),
        VT_TEST(test_step_scheduler_logs_per_step),
        VT_TEST(test_no_scheduler_logs_both),
        VT_TEST(test_groups_momentum_weight_decay),
        VT_TEST(test_same_type_names),
        VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
