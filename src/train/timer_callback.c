/* timer_callback.c: Lightning's Timer callback — measures the time of each
 * stage (training, validation, test, predict: from on_<stage>_start to
 * on_<stage>_end), stops fit once the training time reaches `duration`
 * (checked at fit start and after every step or epoch), and keeps the
 * training time in checkpoints so that a resumed run continues its clock. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h" /* exact JSON numbers */
#include "volt/train.h"

typedef struct {
    volt_callback base;
    double duration; /* seconds; NAN: none */
    bool per_epoch, verbose;
    double start[VOLT_STAGE_COUNT], end[VOLT_STAGE_COUNT]; /* NAN: not yet */
    double offset;  /* training seconds of the runs resumed from */
    bool announced; /* the stop went to stderr in this fit */
} timer_cb;

static const volt_callback_ops timer_ops;

/* RunningStage values, Lightning's keys of the state. */
static const char *const stage_keys[VOLT_STAGE_COUNT] = {
    [VOLT_STAGE_FIT] = "train",
    [VOLT_STAGE_VALIDATE] = "validate",
    [VOLT_STAGE_TEST] = "test",
    [VOLT_STAGE_PREDICT] = "predict",
};

static double elapsed(const timer_cb *tm, volt_stage stage) {
    double offset = stage == VOLT_STAGE_FIT ? tm->offset : 0.0;
    if (isnan(tm->start[stage])) return offset;
    double end = isnan(tm->end[stage]) ? volt_time_now() : tm->end[stage];
    return end - tm->start[stage] + offset;
}

/* ----------------------------------------------------------------- hooks */

/* H:MM:SS, with "N day(s), " in front past a day (Python's timedelta). */
static void format_duration(double seconds, char *buf, size_t size) {
    long long s = seconds > 0 ? (long long)seconds : 0;
    long long days = s / 86400;
    s %= 86400;
    int n = 0;
    if (days > 0) n = snprintf(buf, size, "%lld day%s, ", days, days == 1 ? "" : "s");
    if (n < 0 || (size_t)n >= size) return;
    snprintf(buf + n, size - (size_t)n, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

static volt_status check_time(timer_cb *tm, volt_step *step) {
    if (isnan(tm->duration)) return VOLT_OK;
    double spent = elapsed(tm, VOLT_STAGE_FIT);
    if (spent < tm->duration) return VOLT_OK;
    volt_trainer_request_stop(volt_step_trainer(step));
    if (tm->verbose && !tm->announced) {
        char buf[64];
        format_duration(spent, buf, sizeof buf);
        fprintf(stderr, "Time limit reached. Elapsed time is %s. Signaling Trainer to stop.\n",
                buf);
        tm->announced = true;
    }
    return VOLT_OK;
}

static volt_status timer_on_fit_start(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    timer_cb *tm = (timer_cb *)self;
    tm->announced = false;
    /* a restored clock may already be spent, whatever the interval */
    return check_time(tm, step);
}

static volt_status timer_on_train_batch_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    timer_cb *tm = (timer_cb *)self;
    return tm->per_epoch ? VOLT_OK : check_time(tm, step);
}

static volt_status timer_on_train_epoch_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    timer_cb *tm = (timer_cb *)self;
    return tm->per_epoch ? check_time(tm, step) : VOLT_OK;
}

static void mark(volt_callback *self, volt_stage stage, bool start) {
    timer_cb *tm = (timer_cb *)self;
    double now = volt_time_now();
    if (start) tm->start[stage] = now;
    tm->end[stage] = start ? NAN : now;
}

#define STAGE_HOOKS(prefix, stage)                                                                 \
    static volt_status timer_on_##prefix##_start(volt_callback *self, volt_module *m,              \
                                                 volt_step *step) {                                \
        (void)m, (void)step;                                                                       \
        mark(self, stage, true);                                                                   \
        return VOLT_OK;                                                                            \
    }                                                                                              \
    static volt_status timer_on_##prefix##_end(volt_callback *self, volt_module *m,                \
                                               volt_step *step) {                                  \
        (void)m, (void)step;                                                                       \
        mark(self, stage, false);                                                                  \
        return VOLT_OK;                                                                            \
    }
STAGE_HOOKS(train, VOLT_STAGE_FIT)
STAGE_HOOKS(validation, VOLT_STAGE_VALIDATE)
STAGE_HOOKS(test, VOLT_STAGE_TEST)
STAGE_HOOKS(predict, VOLT_STAGE_PREDICT)
#undef STAGE_HOOKS

/* ----------------------------------------------------------------- state */

static char *timer_state_dict(volt_callback *self) {
    const timer_cb *tm = (const timer_cb *)self;
    cJSON *o = cJSON_CreateObject();
    cJSON *e = o ? cJSON_AddObjectToObject(o, "time_elapsed") : NULL;
    char *text = NULL;
    if (e) {
        for (int s = 0; s < VOLT_STAGE_COUNT; s++)
            volt_json_add_number(e, stage_keys[s], elapsed(tm, (volt_stage)s));
        text = volt_json_print(o);
    }
    cJSON_Delete(o);
    if (!text) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "Timer: state: out of memory");
    return text;
}

/* Lightning's load_state_dict: the training time of the state becomes the
 * offset of the clock (absent: 0). */
static volt_status timer_load_state_dict(volt_callback *self, const char *json) {
    timer_cb *tm = (timer_cb *)self;
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return volt_error_set(VOLT_ERR_FORMAT, "Timer: state is not a JSON object");
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "time_elapsed");
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(e, "train");
    double offset = 0.0;
    bool ok = (!e || cJSON_IsObject(e)) &&
              (!train || (volt_json_get_number(train, &offset) && offset >= 0 && isfinite(offset)));
    cJSON_Delete(o);
    if (!ok)
        return volt_error_set(VOLT_ERR_FORMAT,
                              "Timer: state: 'time_elapsed' must be an object whose 'train' is a "
                              "number of seconds >= 0");
    tm->offset = offset;
    return VOLT_OK;
}

static void timer_free(volt_callback *self) { free(self); }

static const volt_callback_ops timer_ops = {
    .name = "Timer",
    .on_fit_start = timer_on_fit_start,
    .on_train_start = timer_on_train_start,
    .on_train_end = timer_on_train_end,
    .on_train_batch_end = timer_on_train_batch_end,
    .on_train_epoch_end = timer_on_train_epoch_end,
    .on_validation_start = timer_on_validation_start,
    .on_validation_end = timer_on_validation_end,
    .on_test_start = timer_on_test_start,
    .on_test_end = timer_on_test_end,
    .on_predict_start = timer_on_predict_start,
    .on_predict_end = timer_on_predict_end,
    .state_dict = timer_state_dict,
    .load_state_dict = timer_load_state_dict,
    .free = timer_free,
};

/* ----------------------------------------------------------- construction */

volt_timer_options volt_timer_defaults(void) {
    return (volt_timer_options){.duration = NAN, .interval = "step", .verbose = true};
}

volt_callback *volt_timer_new(const volt_timer_options *opt) {
    double duration = opt ? opt->duration : NAN;
    const char *interval = opt && opt->interval ? opt->interval : "step";
    if (strcmp(interval, "step") != 0 && strcmp(interval, "epoch") != 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "Timer: unsupported interval '%s' (possible choices: step, epoch)",
                       interval);
        return NULL;
    }
    if (!isnan(duration) && !(duration >= 0)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "Timer: duration %g must be >= 0 seconds (NAN: no limit)", duration);
        return NULL;
    }
    timer_cb *tm = calloc(1, sizeof *tm);
    if (!tm) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "Timer: out of memory");
        return NULL;
    }
    tm->base.ops = &timer_ops;
    tm->duration = duration;
    tm->per_epoch = strcmp(interval, "epoch") == 0;
    tm->verbose = opt && opt->verbose;
    for (int s = 0; s < VOLT_STAGE_COUNT; s++) tm->start[s] = tm->end[s] = NAN;
    return &tm->base;
}

static timer_cb *timer_of(volt_callback *cb, volt_stage stage, const char *fn) {
    if (!cb || cb->ops != &timer_ops) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s is not a Timer callback", fn,
                       cb && cb->ops && cb->ops->name ? cb->ops->name : "the callback");
        return NULL;
    }
    if ((int)stage < 0 || stage >= VOLT_STAGE_COUNT) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: unknown stage %d", fn, (int)stage);
        return NULL;
    }
    return (timer_cb *)cb;
}

double volt_timer_time_elapsed(volt_callback *cb, volt_stage stage) {
    timer_cb *tm = timer_of(cb, stage, "timer_time_elapsed");
    return tm ? elapsed(tm, stage) : NAN;
}

double volt_timer_time_remaining(volt_callback *cb, volt_stage stage) {
    timer_cb *tm = timer_of(cb, stage, "timer_time_remaining");
    return tm ? tm->duration - elapsed(tm, stage) : NAN;
}
