/* test_early_stopping.c: the EarlyStopping callback on a module that logs a
 * scripted metric (a table indexed by epoch) — the epoch it stops at under
 * patience, min_delta, mode min/max, stopping and divergence thresholds and
 * check_finite; min_epochs still honoured; the sanity check, fast_dev_run and
 * validate() ignored; the check at train epoch end; strict's error naming
 * the metric and the logged ones; Lightning's reason strings, printed once;
 * option errors; the state round trip and state key. */
#include <fcntl.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "train_fixture.h"

/* ------------------------------------------------- a scripted-metric module */

typedef struct {
    lin_module lin;
    const double *vals; /* the metric at epoch e (the last one after the table) */
    int n_vals;
    const char *name; /* logged under this name */
    bool in_train;    /* logged by training_step (on_epoch) instead of validation_step */
    int epochs_run;   /* on_train_epoch_end calls */
} es_module;

static double scripted(const es_module *m, volt_step *step) {
    int64_t e = volt_trainer_current_epoch(volt_step_trainer(step));
    return m->vals[e < m->n_vals ? e : m->n_vals - 1];
}

static volt_tensor *es_training_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    es_module *m = (es_module *)self;
    if (m->in_train && volt_log_ex(step, m->name, scripted(m, step), VOLT_LOG_ON_EPOCH, 0))
        return NULL;
    return lin_training_step(self, b, i, step);
}

static volt_tensor *es_val_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    es_module *m = (es_module *)self;
    if (!m->in_train && volt_log_ex(step, m->name, scripted(m, step), 0, 0)) return NULL;
    return lin_eval_step(self, b, i, step);
}

static volt_status es_epoch_end(volt_module *self, volt_step *step) {
    (void)step;
    ((es_module *)self)->epochs_run++;
    return VOLT_OK;
}

static const volt_module_ops es_module_ops = {
    .name = "scripted",
    .training_step = es_training_step,
    .validation_step = es_val_step,
    .configure_optimizers = lin_configure,
    .on_train_epoch_end = es_epoch_end,
};

/* One fit: the module, a trainer with the callback, the data. */
typedef struct {
    es_module m;
    volt_trainer *t;
    volt_callback *es;
    volt_datamodule *dm;
} es_run;

static volt_trainer_config es_config(int64_t max_epochs) {
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = max_epochs;
    cfg.enable_checkpointing = false;
    cfg.default_root_dir = fresh_dir("early_stopping");
    return cfg;
}

/* The module, data (2 training batches and, with_val, 1 validation batch
 * per epoch), a trainer and the callback. */
static void es_setup(es_run *r, const double *vals, int n_vals, bool with_val,
                     const volt_early_stopping_options *o, const volt_trainer_config *cfg) {
    memset(r, 0, sizeof *r);
    lin_init(&r->m.lin, &es_module_ops, 2, 0.05);
    r->m.vals = vals;
    r->m.n_vals = n_vals;
    r->m.in_train = !with_val;
    r->m.name = with_val ? "val_loss" : "train_metric";
    r->dm = tiny_dm_new(8, with_val ? 4 : 0, 2, 4);
    r->t = volt_trainer_new(cfg);
    assert_non_null(r->t);
    r->es = volt_early_stopping_new(o);
    assert_non_null(r->es);
    assert_int_equal(volt_trainer_add_callback(r->t, r->es), VOLT_OK);
}

static volt_status es_fit(es_run *r, const double *vals, int n_vals, bool with_val,
                          const volt_early_stopping_options *o, const volt_trainer_config *cfg) {
    es_setup(r, vals, n_vals, with_val, o, cfg);
    return volt_trainer_fit(r->t, &r->m.lin.base, r->dm, NULL);
}

static void es_done(es_run *r) {
    volt_trainer_free(r->t);
    volt_datamodule_free(r->dm);
    volt_module_free(&r->m.lin.base);
}

static volt_early_stopping_options es_options(const char *monitor, int64_t patience) {
    volt_early_stopping_options o = volt_early_stopping_defaults();
    o.monitor = monitor;
    o.patience = patience;
    return o;
}

/* ------------------------------------------------------- stderr capture */

typedef struct {
    int saved;
    char path[1100];
} capture;

static void capture_begin(capture *c) {
    const char *dir = fresh_dir("early_stopping_stderr");
    snprintf(c->path, sizeof c->path, "%s/stderr.txt", dir);
    fflush(stderr);
    c->saved = dup(2);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(c->saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
}

/* Restores stderr; returns what was written (malloc'd). */
static char *capture_end(capture *c) {
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    FILE *f = fopen(c->path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    fputs(text, stderr); /* still visible in the test log */
    return text;
}

static int occurrences(const char *text, const char *what) {
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

/* ------------------------------------------------------------- patience */

/* min mode, patience 2: 1.0 and 0.9 improve, 0.95 and 0.92 do not -> the
 * second miss (epoch 3) stops fit after that epoch. */
static void test_patience_min(void **state) {
    (void)state;
    static const double vals[] = {1.0, 0.9, 0.95, 0.92, 0.91, 0.5};
    volt_trainer_config cfg = es_config(10);
    volt_early_stopping_options o = es_options("val_loss", 2);
    es_run r;
    assert_int_equal(es_fit(&r, vals, 6, true, &o, &cfg), VOLT_OK);
    assert_int_equal(r.m.epochs_run, 4);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 3);
    assert_int_equal(volt_early_stopping_wait_count(r.es), 2);
    assert_string_equal(volt_early_stopping_reason(r.es),
                        "Monitored metric val_loss did not improve in the last 2 records. Best "
                        "score: 0.900. Signaling Trainer to stop.");
    es_done(&r);
}

/* A fresh callback has not stopped: "" and -1. */
static void test_fresh_accessors(void **state) {
    (void)state;
    volt_early_stopping_options o = es_options("val_loss", 3);
    volt_callback *es = volt_early_stopping_new(&o);
    assert_string_equal(volt_early_stopping_reason(es), "");
    assert_int_equal(volt_early_stopping_stopped_epoch(es), -1);
    assert_int_equal(volt_early_stopping_wait_count(es), 0);
    assert_string_equal(es->ops->name, "EarlyStopping");
    assert_true(es->ops->monitoring);
    es->ops->free(es);
    /* another kind of callback is refused by the accessors */
    volt_timer_options to = {.duration = NAN};
    volt_callback *timer = volt_timer_new(&to);
    assert_int_equal(volt_early_stopping_stopped_epoch(timer), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Timer is not an EarlyStopping callback");
    timer->ops->free(timer);
}

/* min_delta 0.1: 0.95 is not 0.1 below 1.0 (miss), 0.8 is (best 0.8), 0.79
 * and 0.75 are not 0.1 below 0.8 -> stop at epoch 4. Without min_delta the
 * falling values all improve and fit runs to max_epochs. */
static void test_min_delta(void **state) {
    (void)state;
    static const double vals[] = {1.0, 0.95, 0.8, 0.79, 0.75, 0.6};
    volt_trainer_config cfg = es_config(6);
    volt_early_stopping_options o = es_options("val_loss", 2);
    o.min_delta = 0.1;
    es_run r;
    assert_int_equal(es_fit(&r, vals, 6, true, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 4);
    assert_int_equal(r.m.epochs_run, 5);
    assert_string_equal(volt_early_stopping_reason(r.es),
                        "Monitored metric val_loss did not improve in the last 2 records. Best "
                        "score: 0.800. Signaling Trainer to stop.");
    es_done(&r);

    o.min_delta = 0.0;
    assert_int_equal(es_fit(&r, vals, 6, true, &o, &cfg), VOLT_OK);
    assert_int_equal(r.m.epochs_run, 6);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), -1);
    assert_int_equal(volt_early_stopping_wait_count(r.es), 0);
    es_done(&r);
}

/* max mode: an equal value is no improvement. */
static void test_mode_max(void **state) {
    (void)state;
    static const double vals[] = {0.5, 0.6, 0.6, 0.55, 0.9};
    volt_trainer_config cfg = es_config(10);
    volt_early_stopping_options o = es_options("val_loss", 2);
    o.mode = "max";
    es_run r;
    assert_int_equal(es_fit(&r, vals, 5, true, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 3);
    assert_int_equal(r.m.epochs_run, 4);
    assert_string_equal(volt_early_stopping_reason(r.es),
                        "Monitored metric val_loss did not improve in the last 2 records. Best "
                        "score: 0.600. Signaling Trainer to stop.");
    es_done(&r);
}

/* ----------------------------------------------------------- thresholds */

static void test_stopping_threshold(void **state) {
    (void)state;
    static const double vals[] = {1.0, 0.7, 0.4, 0.3};
    volt_trainer_config cfg = es_config(10);
    volt_early_stopping_options o = es_options("val_loss", 10);
    o.stopping_threshold = 0.5;
    es_run r;
    assert_int_equal(es_fit(&r, vals, 4, true, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 2);
    assert_int_equal(r.m.epochs_run, 3);
    assert_string_equal(volt_early_stopping_reason(r.es),
                        "Stopping threshold reached: val_loss = 0.4 < 0.5. Signaling Trainer to "
                        "stop.");
    es_done(&r);

    /* max mode: above the threshold */
    static const double up[] = {0.2, 0.5, 0.95};
    o.mode = "max";
    o.stopping_threshold = 0.9;
    assert_int_equal(es_fit(&r, up, 3, true, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 2);
    assert_string_equal(volt_early_stopping_reason(r.es),
                        "Stopping threshold reached: val_loss = 0.95 > 0.9. Signaling Trainer to "
                        "stop.");
    es_done(&r);
}

static void test_divergence_threshold(void **state) {
    (void)state;
    static const double vals[] = {1.0, 2.0, 6.0, 7.0};
    volt_trainer_config cfg = es_config(10);
    volt_early_stopping_options o = es_options("val_loss", 10);
    o.divergence_threshold = 5.0;
    es_run r;
    assert_int_equal(es_fit(&r, vals, 4, true, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 2);
    assert_int_equal(r.m.epochs_run, 3);
    assert_string_equal(volt_early_stopping_reason(r.es),
                        "Divergence threshold reached: val_loss = 6.0 > 5.0. Signaling Trainer to "
                        "stop.");
    es_done(&r);
}

/* A NaN stops at once with check_finite; without it a NaN is a miss. */
static void test_check_finite(void **state) {
    (void)state;
    static const double vals[] = {1.0, NAN, 0.5};
    volt_trainer_config cfg = es_config(3);
    volt_early_stopping_options o = es_options("val_loss", 2);
    es_run r;
    assert_int_equal(es_fit(&r, vals, 3, true, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 1);
    assert_int_equal(r.m.epochs_run, 2);
    assert_string_equal(volt_early_stopping_reason(r.es),
                        "Monitored metric val_loss = nan is not finite. Previous best value was "
                        "1.000. Signaling Trainer to stop.");
    es_done(&r);

    static const double inf[] = {2.5, INFINITY};
    assert_int_equal(es_fit(&r, inf, 2, true, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 1);
    assert_string_equal(volt_early_stopping_reason(r.es),
                        "Monitored metric val_loss = inf is not finite. Previous best value was "
                        "2.500. Signaling Trainer to stop.");
    es_done(&r);

    o.check_finite = false;
    assert_int_equal(es_fit(&r, vals, 3, true, &o, &cfg), VOLT_OK);
    assert_int_equal(r.m.epochs_run, 3);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), -1);
    assert_int_equal(volt_early_stopping_wait_count(r.es), 0); /* 0.5 improved after the miss */
    es_done(&r);
}

/* ------------------------------------------------------ what it ignores */

/* The trainer keeps going until min_epochs; the callback keeps counting
 * and asking. Its reason goes to stderr once. */
static void test_min_epochs_honoured(void **state) {
    (void)state;
    static const double vals[] = {1.0, 1.1, 1.2, 1.3, 1.4, 1.5};
    volt_trainer_config cfg = es_config(10);
    cfg.min_epochs = 4;
    volt_early_stopping_options o = es_options("val_loss", 1);
    es_run r;
    capture c;
    capture_begin(&c);
    volt_status st = es_fit(&r, vals, 6, true, &o, &cfg);
    char *err = capture_end(&c);
    assert_int_equal(st, VOLT_OK);
    assert_int_equal(r.m.epochs_run, 4);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 3);
    assert_int_equal(volt_early_stopping_wait_count(r.es), 3);
    assert_int_equal(occurrences(err, "Signaling Trainer to stop."), 1);
    assert_int_equal(occurrences(err, "Monitored metric val_loss did not improve in the last 1 "
                                      "records. Best score: 1.000. Signaling Trainer to stop.\n"),
                     1);
    free(err);
    es_done(&r);
}

/* verbose: every decision is printed (improvements too). */
static void test_verbose_messages(void **state) {
    (void)state;
    static const double vals[] = {1.0, 0.9, 0.9};
    volt_trainer_config cfg = es_config(10);
    volt_early_stopping_options o = es_options("val_loss", 1);
    o.verbose = true;
    es_run r;
    capture c;
    capture_begin(&c);
    volt_status st = es_fit(&r, vals, 3, true, &o, &cfg);
    char *err = capture_end(&c);
    assert_int_equal(st, VOLT_OK);
    assert_non_null(strstr(err, "Metric val_loss improved. New best score: 1.000\n"));
    assert_non_null(strstr(
        err, "Metric val_loss improved by 0.100 >= min_delta = 0.0. New best score: 0.900\n"));
    assert_int_equal(occurrences(err, "did not improve in the last 1 records. Best score: 0.900"),
                     1);
    free(err);
    es_done(&r);
}

/* The sanity check's validation is not a check: with it counted, the equal
 * values would stop fit at epoch 0. */
static void test_sanity_check_skipped(void **state) {
    (void)state;
    static const double vals[] = {1.0};
    volt_trainer_config cfg = es_config(10);
    cfg.num_sanity_val_steps = 2;
    volt_early_stopping_options o = es_options("val_loss", 1);
    es_run r;
    assert_int_equal(es_fit(&r, vals, 1, true, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 1);
    assert_int_equal(r.m.epochs_run, 2);
    es_done(&r);
}

/* fast_dev_run disables it, NaN or not. */
static void test_fast_dev_run_skipped(void **state) {
    (void)state;
    static const double vals[] = {NAN};
    volt_trainer_config cfg = es_config(10);
    cfg.fast_dev_run = 1;
    volt_early_stopping_options o = es_options("val_loss", 0);
    es_run r;
    assert_int_equal(es_fit(&r, vals, 1, true, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), -1);
    assert_string_equal(volt_early_stopping_reason(r.es), "");
    es_done(&r);
}

/* validate() is not fitting: a strict monitor that is missing is no error. */
static void test_validate_skipped(void **state) {
    (void)state;
    static const double vals[] = {1.0};
    volt_trainer_config cfg = es_config(1);
    volt_early_stopping_options o = es_options("val_acc", 0);
    es_run r;
    es_setup(&r, vals, 1, true, &o, &cfg);
    assert_int_equal(volt_trainer_validate(r.t, &r.m.lin.base, r.dm, NULL, NULL), VOLT_OK);
    assert_int_equal(volt_early_stopping_wait_count(r.es), 0);
    es_done(&r);
}

/* ------------------------------------------------------- strict monitor */

static void test_strict_missing_metric(void **state) {
    (void)state;
    static const double vals[] = {1.0, 2.0};
    volt_trainer_config cfg = es_config(3);
    volt_early_stopping_options o = es_options("val_acc", 1);
    es_run r;
    assert_int_equal(es_fit(&r, vals, 2, true, &o, &cfg), VOLT_ERR_INVALID_ARGUMENT);
    const char *msg = volt_error_message();
    assert_non_null(strstr(msg, "on_validation_end"));
    assert_non_null(strstr(msg, "'val_acc', which is not available"));
    assert_non_null(strstr(msg, "logged metrics: 'val_loss'"));
    volt_error_clear();
    es_done(&r);

    /* not strict: skipped, fit runs to max_epochs */
    o.strict = false;
    assert_int_equal(es_fit(&r, vals, 2, true, &o, &cfg), VOLT_OK);
    assert_int_equal(r.m.epochs_run, 3);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), -1);
    assert_int_equal(volt_early_stopping_wait_count(r.es), 0);
    es_done(&r);
}

/* -------------------------------------------- check at train epoch end */

static void test_check_on_train_epoch_end(void **state) {
    (void)state;
    static const double vals[] = {1.0, 2.0, 3.0};
    volt_trainer_config cfg = es_config(3);
    volt_early_stopping_options o = es_options("train_metric", 1);
    o.check_on_train_epoch_end = true;
    es_run r;
    assert_int_equal(es_fit(&r, vals, 3, false, &o, &cfg), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 1);
    assert_int_equal(r.m.epochs_run, 2);
    es_done(&r);

    /* at validation end (the default), without validation: never checked */
    o.check_on_train_epoch_end = false;
    assert_int_equal(es_fit(&r, vals, 3, false, &o, &cfg), VOLT_OK);
    assert_int_equal(r.m.epochs_run, 3);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), -1);
    es_done(&r);
}

/* -------------------------------------------------------------- options */

static void test_bad_options(void **state) {
    (void)state;
    assert_null(volt_early_stopping_new(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "volt_early_stopping_defaults");
    volt_early_stopping_options o = volt_early_stopping_defaults();
    assert_null(volt_early_stopping_new(&o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "monitor is required");
    o.monitor = "val_loss";
    o.mode = "avg";
    assert_null(volt_early_stopping_new(&o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "mode can be min, max, got 'avg'");
    o.mode = "max";
    o.patience = -1;
    assert_null(volt_early_stopping_new(&o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "patience -1");
    o.patience = 3;
    o.min_delta = NAN;
    assert_null(volt_early_stopping_new(&o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "min_delta");
}

/* ---------------------------------------------------------------- state */

static double json_number(const cJSON *o, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(item) && strcmp(item->valuestring, "inf") == 0) return INFINITY;
    assert_true(cJSON_IsNumber(item));
    return item->valuedouble;
}

static void test_state_round_trip(void **state) {
    (void)state;
    static const double vals[] = {1.0, 0.75, 0.8, 0.9};
    volt_trainer_config cfg = es_config(10);
    volt_early_stopping_options o = es_options("val_loss", 2);
    es_run r;
    assert_int_equal(es_fit(&r, vals, 4, true, &o, &cfg), VOLT_OK);
    char *json = volt_callback_state_dict(r.es);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    assert_true(json_number(root, "wait_count") == 2);
    assert_true(json_number(root, "stopped_epoch") == 3);
    assert_true(json_number(root, "best_score") == 0.75);
    assert_true(json_number(root, "patience") == 2);
    cJSON_Delete(root);
    char *key = r.es->ops->state_key(r.es);
    assert_string_equal(key, "EarlyStopping{monitor=val_loss,mode=min}");
    free(key);

    /* into a fresh callback (other patience): counters, best and patience */
    volt_early_stopping_options o2 = es_options("val_loss", 7);
    volt_callback *copy = volt_early_stopping_new(&o2);
    assert_int_equal(copy->ops->load_state_dict(copy, json), VOLT_OK);
    assert_int_equal(volt_early_stopping_wait_count(copy), 2);
    assert_int_equal(volt_early_stopping_stopped_epoch(copy), 3);
    char *again = volt_callback_state_dict(copy);
    assert_string_equal(again, json);
    free(again);

    /* a fresh one's best is +inf (min) / -inf (max), and reads back */
    o2.mode = "max";
    volt_callback *fresh = volt_early_stopping_new(&o2);
    char *fj = volt_callback_state_dict(fresh);
    assert_non_null(strstr(fj, "\"best_score\":\"-inf\""));
    assert_int_equal(copy->ops->load_state_dict(copy, fj), VOLT_OK);
    char *fj2 = volt_callback_state_dict(copy);
    assert_string_equal(fj2, fj);
    key = fresh->ops->state_key(fresh);
    assert_string_equal(key, "EarlyStopping{monitor=val_loss,mode=max}");
    free(key);

    /* bad states change nothing */
    assert_int_equal(copy->ops->load_state_dict(copy, "[1, 2]"), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "not a JSON object");
    assert_int_equal(copy->ops->load_state_dict(
                         copy, "{\"wait_count\": 1, \"stopped_epoch\": 2, \"best_score\": 0.5}"),
                     VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "'patience' is missing");
    assert_int_equal(copy->ops->load_state_dict(copy, "{\"wait_count\": 1.5, \"stopped_epoch\": "
                                                      "2, \"best_score\": 0.5, \"patience\": 3}"),
                     VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "'wait_count' is missing or not an integer");
    free(fj2);
    fj2 = volt_callback_state_dict(copy);
    assert_string_equal(fj2, fj);

    free(fj2);
    free(fj);
    free(json);
    fresh->ops->free(fresh);
    copy->ops->free(copy);
    es_done(&r);
}

/* Through a checkpoint: 2 epochs, saved, resumed with a fresh callback for
 * up to 10 -> it stops at epoch 3 as the uninterrupted run does (a fresh
 * state would count 0.95 and 0.92 as improvements and never stop). */
static void test_resume_from_checkpoint(void **state) {
    (void)state;
    static const double vals[] = {1.0, 0.9, 0.95, 0.92, 0.91, 0.5};
    volt_trainer_config cfg = es_config(2);
    char path[1200];
    snprintf(path, sizeof path, "%s/es.ckpt", cfg.default_root_dir);
    volt_early_stopping_options o = es_options("val_loss", 2);
    es_run r;
    assert_int_equal(es_fit(&r, vals, 6, true, &o, &cfg), VOLT_OK);
    assert_int_equal(r.m.epochs_run, 2);
    assert_int_equal(volt_trainer_save_checkpoint(r.t, path, false), VOLT_OK);
    es_done(&r);

    cfg.max_epochs = 10;
    es_setup(&r, vals, 6, true, &o, &cfg);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, path), VOLT_OK);
    assert_int_equal(volt_early_stopping_stopped_epoch(r.es), 3);
    assert_int_equal(volt_early_stopping_wait_count(r.es), 2);
    assert_int_equal(r.m.epochs_run, 2); /* epochs 2 and 3 */
    assert_string_equal(volt_early_stopping_reason(r.es),
                        "Monitored metric val_loss did not improve in the last 2 records. Best "
                        "score: 0.900. Signaling Trainer to stop.");
    es_done(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_patience_min),
        VT_TEST(test_fresh_accessors),
        VT_TEST(test_min_delta),
        VT_TEST(test_mode_max),
        VT_TEST(test_stopping_threshold),
        VT_TEST(test_divergence_threshold),
        VT_TEST(test_check_finite),
        VT_TEST(test_min_epochs_honoured),
        VT_TEST(test_verbose_messages),
        VT_TEST(test_sanity_check_skipped),
        VT_TEST(test_fast_dev_run_skipped),
        VT_TEST(test_validate_skipped),
        VT_TEST(test_strict_missing_metric),
        VT_TEST(test_check_on_train_epoch_end),
        VT_TEST(test_bad_options),
        VT_TEST(test_state_round_trip),
        VT_TEST(test_resume_from_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
