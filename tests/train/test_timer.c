/* test_timer.c: the Timer callback, without timing thresholds — duration 0
 * stops fit at once; a duration shorter than any step (the step waits for
 * the clock to move) stops after the first step or, per epoch, after the
 * first epoch; no duration: remaining is NAN and fit runs out; elapsed is
 * >= 0, grows while a stage runs and is fixed after it, per stage
 * (train, validate, test, predict); the state holds each stage's time and a
 * restored training time continues the clock (a spent one stops fit at
 * once); option and accessor errors. */
#include <float.h>

#include <cjson/cJSON.h>

#include "train_fixture.h"

/* -------------------------------------------------------------- the module */

typedef struct {
    lin_module lin;
    volt_callback *timer;
    int n_seen;
    double seen[64];   /* time_elapsed(fit) at each on_train_batch_end */
    double val_during; /* time_elapsed(validate) inside a validation batch */
} tm_module;

/* Waits until the clock moves, so that every step takes some time. */
static void tick(void) {
    double t0 = volt_time_now();
    while (volt_time_now() == t0) {
    }
}

static volt_tensor *tm_training_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    tick();
    return lin_training_step(self, b, i, step);
}

static volt_tensor *tm_eval_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    tick();
    return lin_eval_step(self, b, i, step);
}

static volt_status tm_batch_end(volt_module *self, volt_step *step) {
    (void)step;
    tm_module *m = (tm_module *)self;
    if (m->n_seen < 64) m->seen[m->n_seen++] = volt_timer_time_elapsed(m->timer, VOLT_STAGE_FIT);
    return VOLT_OK;
}

static volt_tensor *tm_val_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    tm_module *m = (tm_module *)self;
    m->val_during = volt_timer_time_elapsed(m->timer, VOLT_STAGE_VALIDATE);
    return tm_eval_step(self, b, i, step);
}

static const volt_module_ops tm_ops = {
    .name = "timed",
    .training_step = tm_training_step,
    .validation_step = tm_val_step,
    .test_step = tm_eval_step,
    .predict_step = tm_eval_step,
    .configure_optimizers = lin_configure,
    .on_train_batch_end = tm_batch_end,
};

typedef struct {
    tm_module m;
    volt_trainer *t;
    volt_datamodule *dm;
} tm_run;

/* 3 training batches and 1 validation batch per epoch; the timer added. */
static void tm_setup(tm_run *r, volt_callback *timer, int64_t max_epochs) {
    memset(r, 0, sizeof *r);
    lin_init(&r->m.lin, &tm_ops, 2, 0.05);
    r->m.timer = timer;
    r->dm = tiny_dm_new(12, 4, 2, 4);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = max_epochs;
    cfg.num_sanity_val_steps = 0;
    cfg.enable_checkpointing = false;
    cfg.default_root_dir = fresh_dir("timer");
    r->t = volt_trainer_new(&cfg);
    assert_non_null(r->t);
    assert_non_null(timer);
    assert_int_equal(volt_trainer_add_callback(r->t, timer), VOLT_OK);
}

static void tm_done(tm_run *r) {
    volt_trainer_free(r->t);
    volt_datamodule_free(r->dm);
    volt_module_free(&r->m.lin.base);
}

/* ------------------------------------------------------------- stopping */

/* Duration 0 is spent before training starts: fit stops at the first
 * point it honours a stop (Lightning: before any step; volt's loop: after
 * the first one). */
static void test_duration_zero_stops_at_once(void **state) {
    (void)state;
    tm_run r;
    tm_setup(&r, volt_timer_new(&(volt_timer_options){.duration = 0.0}), 5);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL), VOLT_OK);
    assert_true(volt_trainer_global_step(r.t) <= 1);
    assert_true(volt_timer_time_remaining(r.m.timer, VOLT_STAGE_FIT) <= 0.0);
    tm_done(&r);
}

/* A duration shorter than any step: not spent at fit start (the training
 * clock has not started), spent after the first step. Per step: fit stops
 * after it; per epoch: after the first epoch's 3 steps. */
static void test_stop_after_first_step_or_epoch(void **state) {
    (void)state;
    tm_run r;
    tm_setup(&r, volt_timer_new(&(volt_timer_options){.duration = DBL_MIN}), 5);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(r.t), 1);
    tm_done(&r);

    tm_setup(&r,
             volt_timer_new(
                 &(volt_timer_options){.duration = DBL_MIN, .interval = "epoch", .verbose = true}),
             5);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(r.t), 3);
    assert_int_equal(r.m.n_seen, 3);
    tm_done(&r);
}

/* ------------------------------------------------------------ measuring */

static void test_elapsed_per_stage(void **state) {
    (void)state;
    tm_run r;
    tm_setup(&r, volt_timer_new(&(volt_timer_options){.duration = NAN}), 2);
    volt_callback *tm = r.m.timer;
    for (int s = 0; s < VOLT_STAGE_COUNT; s++) {
        assert_true(volt_timer_time_elapsed(tm, (volt_stage)s) == 0.0);
        assert_true(isnan(volt_timer_time_remaining(tm, (volt_stage)s)));
    }
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(r.t), 6); /* no duration: runs out */
    assert_true(isnan(volt_timer_time_remaining(tm, VOLT_STAGE_FIT)));
    /* while training: positive and growing */
    assert_int_equal(r.m.n_seen, 6);
    assert_true(r.m.seen[0] > 0.0);
    for (int i = 1; i < r.m.n_seen; i++) assert_true(r.m.seen[i] > r.m.seen[i - 1]);
    /* after: fixed, and past the last reading */
    double fit = volt_timer_time_elapsed(tm, VOLT_STAGE_FIT);
    assert_true(fit >= r.m.seen[5]);
    assert_true(volt_timer_time_elapsed(tm, VOLT_STAGE_FIT) == fit);
    /* validation ran inside fit (and was measured while it ran) */
    double val = volt_timer_time_elapsed(tm, VOLT_STAGE_VALIDATE);
    assert_true(r.m.val_during >= 0.0);
    assert_true(val > r.m.val_during && val < fit);
    assert_true(volt_timer_time_elapsed(tm, VOLT_STAGE_VALIDATE) == val);
    assert_true(volt_timer_time_elapsed(tm, VOLT_STAGE_TEST) == 0.0);
    assert_true(volt_timer_time_elapsed(tm, VOLT_STAGE_PREDICT) == 0.0);

    assert_int_equal(volt_trainer_test(r.t, &r.m.lin.base, r.dm, NULL, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_predict(r.t, &r.m.lin.base, r.dm, NULL, NULL), VOLT_OK);
    double test = volt_timer_time_elapsed(tm, VOLT_STAGE_TEST);
    double pred = volt_timer_time_elapsed(tm, VOLT_STAGE_PREDICT);
    assert_true(test > 0.0 && pred > 0.0);
    assert_true(volt_timer_time_elapsed(tm, VOLT_STAGE_TEST) == test);
    assert_true(volt_timer_time_elapsed(tm, VOLT_STAGE_FIT) == fit); /* untouched */
    tm_done(&r);
}

/* With a duration, remaining = duration - elapsed (fixed after the run). */
static void test_remaining(void **state) {
    (void)state;
    tm_run r;
    tm_setup(&r, volt_timer_new(&(volt_timer_options){.duration = 3600.0}), 1);
    assert_true(volt_timer_time_remaining(r.m.timer, VOLT_STAGE_FIT) == 3600.0);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(r.t), 3);
    double el = volt_timer_time_elapsed(r.m.timer, VOLT_STAGE_FIT);
    assert_true(volt_timer_time_remaining(r.m.timer, VOLT_STAGE_FIT) == 3600.0 - el);
    assert_true(volt_timer_time_remaining(r.m.timer, VOLT_STAGE_TEST) == 3600.0);
    tm_done(&r);
}

/* ---------------------------------------------------------------- state */

static double stage_time(const char *json, const char *stage) {
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "time_elapsed");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, stage);
    assert_true(cJSON_IsNumber(v));
    double d = v->valuedouble;
    cJSON_Delete(root);
    return d;
}

static void test_state_round_trip(void **state) {
    (void)state;
    tm_run r;
    tm_setup(&r, volt_timer_new(&(volt_timer_options){.duration = NAN}), 1);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL), VOLT_OK);
    char *json = volt_callback_state_dict(r.m.timer);
    assert_true(stage_time(json, "train") == volt_timer_time_elapsed(r.m.timer, VOLT_STAGE_FIT));
    assert_true(stage_time(json, "validate") ==
                volt_timer_time_elapsed(r.m.timer, VOLT_STAGE_VALIDATE));
    assert_true(stage_time(json, "test") == 0.0);
    assert_true(stage_time(json, "predict") == 0.0);

    /* a fresh timer continues the training clock from the state */
    volt_callback *copy = volt_timer_new(&(volt_timer_options){.duration = NAN});
    assert_int_equal(copy->ops->load_state_dict(copy, json), VOLT_OK);
    assert_true(volt_timer_time_elapsed(copy, VOLT_STAGE_FIT) ==
                volt_timer_time_elapsed(r.m.timer, VOLT_STAGE_FIT));
    assert_true(volt_timer_time_elapsed(copy, VOLT_STAGE_VALIDATE) == 0.0);
    char *again = volt_callback_state_dict(copy);
    assert_true(stage_time(again, "train") == stage_time(json, "train"));
    free(again);

    /* bad states change nothing */
    assert_int_equal(copy->ops->load_state_dict(copy, "nope"), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "Timer: state is not a JSON object");
    assert_int_equal(copy->ops->load_state_dict(copy, "{\"time_elapsed\": {\"train\": -1}}"),
                     VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "'train' is a number of seconds >= 0");
    assert_true(volt_timer_time_elapsed(copy, VOLT_STAGE_FIT) == stage_time(json, "train"));
    /* absent keys: a zero offset (Lightning's defaults) */
    assert_int_equal(copy->ops->load_state_dict(copy, "{}"), VOLT_OK);
    assert_true(volt_timer_time_elapsed(copy, VOLT_STAGE_FIT) == 0.0);
    copy->ops->free(copy);
    free(json);
    tm_done(&r);
}

/* A restored training time counts: 100 s restored, another run adds to it;
 * a duration it already exceeds stops fit at once. */
static void test_resumed_clock(void **state) {
    (void)state;
    const char *restored = "{\"time_elapsed\": {\"train\": 100.0, \"validate\": 7.0}}";
    volt_callback *tm = volt_timer_new(&(volt_timer_options){.duration = NAN});
    assert_int_equal(tm->ops->load_state_dict(tm, restored), VOLT_OK);
    tm_run r;
    tm_setup(&r, tm, 1);
    assert_true(volt_timer_time_elapsed(tm, VOLT_STAGE_FIT) == 100.0);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(r.t), 3);
    assert_true(r.m.seen[0] > 100.0);
    assert_true(volt_timer_time_elapsed(tm, VOLT_STAGE_FIT) > 100.0);
    tm_done(&r);

    tm = volt_timer_new(&(volt_timer_options){.duration = 50.0, .interval = "epoch"});
    assert_int_equal(tm->ops->load_state_dict(tm, restored), VOLT_OK);
    assert_true(volt_timer_time_remaining(tm, VOLT_STAGE_FIT) == -50.0);
    tm_setup(&r, tm, 5);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL), VOLT_OK);
    assert_true(volt_trainer_global_step(r.t) <= 1); /* spent at fit start, whatever the interval */
    tm_done(&r);
}

/* Through a checkpoint: the resumed fit's training clock starts from the
 * first run's (a fresh Timer gets it from the file). */
static void test_resume_from_checkpoint(void **state) {
    (void)state;
    char path[1200];
    snprintf(path, sizeof path, "%s/timer.ckpt", fresh_dir("timer_ckpt"));
    tm_run r;
    tm_setup(&r, volt_timer_new(&(volt_timer_options){.duration = NAN}), 1);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_save_checkpoint(r.t, path, false), VOLT_OK);
    double first = volt_timer_time_elapsed(r.m.timer, VOLT_STAGE_FIT);
    tm_done(&r);

    tm_setup(&r, volt_timer_new(&(volt_timer_options){.duration = NAN}), 2);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.lin.base, r.dm, path), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(r.t), 6);
    assert_int_equal(r.m.n_seen, 3); /* the second epoch only */
    assert_true(r.m.seen[0] > first);
    assert_true(volt_timer_time_elapsed(r.m.timer, VOLT_STAGE_FIT) > r.m.seen[2]);
    tm_done(&r);
}

/* -------------------------------------------------------------- errors */

static void test_errors(void **state) {
    (void)state;
    assert_null(volt_timer_new(&(volt_timer_options){.duration = 1.0, .interval = "batch"}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "unsupported interval 'batch'");
    assert_null(volt_timer_new(&(volt_timer_options){.duration = -1.0}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "duration -1");

    volt_callback *tm = volt_timer_new(NULL); /* no duration, per step */
    assert_non_null(tm);
    assert_string_equal(tm->ops->name, "Timer");
    assert_true(isnan(volt_timer_time_remaining(tm, VOLT_STAGE_FIT)));
    assert_true(isnan(volt_timer_time_elapsed(tm, VOLT_STAGE_COUNT)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "unknown stage");
    volt_early_stopping_options eo = volt_early_stopping_defaults();
    eo.monitor = "val_loss";
    volt_callback *es = volt_early_stopping_new(&eo);
    assert_true(isnan(volt_timer_time_elapsed(es, VOLT_STAGE_FIT)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "EarlyStopping is not a Timer callback");
    es->ops->free(es);
    tm->ops->free(tm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_duration_zero_stops_at_once),
        VT_TEST(test_stop_after_first_step_or_epoch),
        VT_TEST(test_elapsed_per_stage),
        VT_TEST(test_remaining),
        VT_TEST(test_state_round_trip),
        VT_TEST(test_resumed_clock),
        VT_TEST(test_resume_from_checkpoint),
        VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
