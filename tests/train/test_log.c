/* test_log.c: volt_log — epoch values as batch-size-weighted means (and
 * sum/min/max) against hand-computed numbers, name_step/name_epoch, the
 * three metric tables, refusals where Lightning refuses — and the CSV
 * logger's files (metrics.csv rows and columns, hparams.yaml, versions,
 * what a failed fit leaves). */
#include "train/train_impl.h"
#include <dirent.h>
#include <unistd.h>

#include "train_fixture.h"

/* |a - b| <= 1e-12, printing both otherwise. */
#define assert_near(a, b) near_((a), (b), __FILE__, __LINE__)
static void near_(double a, double b, const char *file, int line) {
    if (fabs(a - b) <= 1e-12) return;
    fail_msg("%s:%d: %.17g != %.17g", file, line, a, b);
}

typedef struct {
    lin_module lin;
    int mode; /* which test */
    volt_status hook_status;
} log_module;

/* Validation of 10 items in batches of 4, 4, 2: batch i logs v = i + 1. */
static volt_tensor *log_val_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)self;
    (void)b;
    double v = (double)(i + 1);
    volt_log_ex(s, "mean_v", v, VOLT_LOG_PROG_BAR, 0);
    volt_log_ex(s, "sum_v", v, VOLT_LOG_REDUCE_SUM, 0);
    volt_log_ex(s, "max_v", v, VOLT_LOG_REDUCE_MAX, 0);
    volt_log_ex(s, "min_v", v, VOLT_LOG_REDUCE_MIN, 0);
    volt_log_ex(s, "both_v", v, VOLT_LOG_ON_STEP | VOLT_LOG_ON_EPOCH, 0);
    volt_log_ex(s, "bs_v", v, 0, 10 - i); /* explicit batch sizes 10, 9, 8 */
    return NULL;
}

/* Training: logs 10 * epoch + batch_idx on step; 7 on epoch in the epoch end. */
static volt_tensor *log_train_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    volt_trainer *t = volt_step_trainer(s);
    double v = 10.0 * (double)volt_trainer_current_epoch(t) + (double)i;
    volt_log_ex(s, "train_v", v, 0, 0);
    volt_log_ex(s, "hidden_v", v, VOLT_LOG_NO_LOGGER, 0);
    return volt_mse_loss(lin_forward((lin_module *)self, b->x), b->y, VOLT_REDUCTION_MEAN);
}

static volt_tensor *const_val_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)self;
    (void)b;
    (void)i;
    volt_log_ex(s, "val_v", 0.5, 0, 0);
    return NULL;
}

static volt_status epoch_end_log(volt_module *self, volt_step *s) {
    log_module *m = (log_module *)self;
    if (m->mode == 1) return volt_log_ex(s, "epoch_v", 7, 0, 0);
    if (m->mode == 2) return volt_log_ex(s, "bad", 1, VOLT_LOG_ON_STEP, 0);
    return VOLT_OK;
}

static volt_status train_end_log(volt_module *self, volt_step *s) {
    log_module *m = (log_module *)self;
    if (m->mode == 3) return volt_log_ex(s, "late", 1, 0, 0);
    return VOLT_OK;
}

static const volt_module_ops agg_ops = {
    .name = "agg", .training_step = lin_training_step, .validation_step = log_val_step};
static const volt_module_ops csv_ops = {
    .name = "csv",
    .training_step = log_train_step,
    .validation_step = const_val_step,
    .configure_optimizers = lin_configure,
    .on_train_epoch_end = epoch_end_log,
    .on_train_end = train_end_log,
    .on_exception = lin_hook,
};

static void test_epoch_aggregation(void **state) {
    (void)state;
    log_module m = {0};
    lin_init(&m.lin, &agg_ops, 3, 0.1);
    volt_datamodule *dm = tiny_dm_new(4, 10, 3, 4);
    volt_trainer_config cfg = quiet_config();
    volt_trainer *t = volt_trainer_new(&cfg);
    volt_metrics *res = NULL;
    assert_int_equal(volt_trainer_validate(t, &m.lin.base, dm, NULL, &res), VOLT_OK);
    /* batch sizes 4, 4, 2; values 1, 2, 3 */
    assert_near(volt_metrics_get(res, "mean_v"), (1 * 4 + 2 * 4 + 3 * 2) / 10.0);
    assert_near(volt_metrics_get(res, "sum_v"), 6);
    assert_near(volt_metrics_get(res, "max_v"), 3);
    assert_near(volt_metrics_get(res, "min_v"), 1);
    assert_near(volt_metrics_get(res, "both_v_epoch"), 1.8);
    assert_false(volt_metrics_has(res, "both_v"));
    assert_near(volt_metrics_get(res, "bs_v"), (1 * 10 + 2 * 9 + 3 * 8) / 27.0);
    const volt_metrics *cb = volt_trainer_callback_metrics(t);
    assert_near(volt_metrics_get(cb, "both_v_step"), 3); /* the last step */
    assert_near(volt_metrics_get(cb, "both_v_epoch"), 1.8);
    assert_near(volt_metrics_get(cb, "both_v"), 1.8);
    const volt_metrics *pb = volt_trainer_progress_bar_metrics(t);
    assert_true(volt_metrics_has(pb, "mean_v"));
    assert_false(volt_metrics_has(pb, "sum_v"));
    assert_true(volt_metrics_has(volt_trainer_logged_metrics(t), "sum_v"));
    volt_metrics_free(res);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

static char *read_text(const char *dir, const char *file) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static volt_status csv_fit(const char *root, int mode, int64_t max_epochs, log_module *m) {
    memset(m, 0, sizeof *m);
    lin_init(&m->lin, &csv_ops, 3, 0.1);
    m->mode = mode;
    volt_module_set_hparam_int(&m->lin.base, "hidden", 3);
    volt_module_set_hparam_string(&m->lin.base, "act", "relu");
    volt_module_set_hparam_double(&m->lin.base, "lr", 0.1);
    volt_datamodule *dm = tiny_dm_new(4, 2, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.logger = true;
    cfg.default_root_dir = root;
    cfg.max_epochs = max_epochs;
    cfg.num_sanity_val_steps = 0;
    cfg.log_every_n_steps = 1;
    volt_trainer *t = volt_trainer_new(&cfg);
    volt_status st = volt_trainer_fit(t, &m->lin.base, dm, NULL);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m->lin.base);
    return st;
}

/* The default loggers (CSV and TensorBoard) share version_N; a logger
 * added after a run replaces both (LeakSanitizer: both freed). */
static void test_default_loggers_replaced(void **state) {
    (void)state;
    char root[1024], path[1200];
    snprintf(root, sizeof root, "%s", fresh_dir("default_loggers"));
    log_module m;
    memset(&m, 0, sizeof m);
    lin_init(&m.lin, &csv_ops, 3, 0.1);
    volt_datamodule *dm = tiny_dm_new(4, 2, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.logger = true;
    cfg.default_root_dir = root;
    cfg.max_epochs = 1;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    snprintf(path, sizeof path, "%s/volt_logs/version_0/metrics.csv", root);
    assert_int_equal(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/volt_logs/version_0", root);
    DIR *d = opendir(path);
    int events = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        events += strncmp(e->d_name, "events.out.tfevents.", 20) == 0;
    if (d) closedir(d);
    assert_int_equal(events, 1);
    volt_logger *mine = volt_csv_logger_new(root, "mine", 0, 0);
    assert_int_equal(volt_trainer_add_logger(t, mine), VOLT_OK);
    assert_non_null(strstr(volt_trainer_log_dir(t), "mine/version_0"));
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

static void test_csv_contents(void **state) {
    (void)state;
    const char *root0 = fresh_dir("csv");
    char root[1024];
    snprintf(root, sizeof root, "%s", root0);
    log_module m;
    assert_int_equal(csv_fit(root, 1, 2, &m), VOLT_OK);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/volt_logs/version_0", root);
    const char *csv = read_text(dir, "metrics.csv");
    assert_non_null(csv);
    /* 2 epochs of 2 batches, validation at each epoch end (step of the last
     * batch), the train epoch row with the epoch-end value */
    assert_string_equal(csv, "epoch,epoch_v,step,train_v,val_v\n"
                             "0,,0,0,\n"
                             "0,,1,1,\n"
                             "0,,1,,0.5\n"
                             "0,7,1,,\n"
                             "1,,2,10,\n"
                             "1,,3,11,\n"
                             "1,,3,,0.5\n"
                             "1,7,3,,\n");
    const char *yaml = read_text(dir, "hparams.yaml");
    assert_non_null(yaml);
    assert_string_equal(yaml, "hidden: 3\nact: \"relu\"\nlr: 0.1\n");
    /* a second run gets version_1 */
    assert_int_equal(csv_fit(root, 0, 1, &m), VOLT_OK);
    snprintf(dir, sizeof dir, "%s/volt_logs/version_1", root);
    assert_non_null(read_text(dir, "metrics.csv"));
}

static void test_refusals_and_failures(void **state) {
    (void)state;
    const char *root0 = fresh_dir("refusals");
    char root[1024];
    snprintf(root, sizeof root, "%s", root0);
    log_module m;
    /* on_step in an epoch-level hook */
    assert_int_equal(csv_fit(root, 2, 1, &m), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "on_train_epoch_end failed at epoch 0: log('bad', on_step): "
                                    "on_train_epoch_end runs once per epoch");
    assert_true(m.lin.exception_seen);
    /* what was logged before the failure is on disk, whole */
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/volt_logs/version_0", root);
    const char *csv = read_text(dir, "metrics.csv");
    assert_non_null(csv);
    assert_string_equal(csv, "epoch,step,train_v,val_v\n0,0,0,\n0,1,1,\n0,1,,0.5\n");
    /* logging refused in on_train_end */
    assert_int_equal(csv_fit(root, 3, 1, &m), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "log('late'): logging is not allowed in on_train_end");
}

static void test_log_bad_values(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    volt_trainer *t = volt_trainer_new(&cfg);
    volt_log_results res = {0};
    volt_step s = {.trainer = t, .hook = VOLT_HK_TRAINING_STEP, .batch_idx = 0, .results = &res};
    volt_tensor *v = volt_zeros(1, (int64_t[]){3}, VOLT_F32);
    assert_int_equal(volt_log(&s, "v", v, 0), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "log('v'): value f32[3] is not a scalar");
    assert_int_equal(volt_log(&s, "v", NULL, 0), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "log('v'): NULL value");
    assert_int_equal(volt_log_ex(&s, "v", 1, VOLT_LOG_REDUCE_SUM | VOLT_LOG_REDUCE_MAX, 0),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "more than one of REDUCE_SUM");
    s.hook = VOLT_HK_PREDICT_STEP;
    assert_int_equal(volt_log_ex(&s, "v", 1, 0, 0), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "logging is not allowed in predict_step");
    volt_log_results_reset(&res);
    free(res.e);
    volt_trainer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_epoch_aggregation),        VT_TEST(test_csv_contents),
        VT_TEST(test_default_loggers_replaced), VT_TEST(test_refusals_and_failures),
        VT_TEST(test_log_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
