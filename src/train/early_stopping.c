/* early_stopping.c: Lightning's EarlyStopping callback — watches a metric of
 * volt_trainer_callback_metrics at the end of each validation run (or of
 * each training epoch), counts the checks without improvement (min_delta,
 * mode), stops fit after `patience` of them, on a non-finite value, past a
 * stopping or divergence threshold, records and prints why, and keeps its
 * counters in checkpoints. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h" /* exact JSON numbers */
#include "volt/train.h"

typedef struct {
    volt_callback base;
    char *monitor;
    bool max;         /* mode "max": larger is better */
    double min_delta; /* signed as Lightning's: >= 0 for max, <= 0 for min */
    int64_t patience;
    bool verbose, strict, check_finite, on_train_epoch_end;
    double stopping_threshold, divergence_threshold; /* NAN: none */
    int64_t wait_count, stopped_epoch;
    double best_score;
    char *reason;   /* the last stop's reason; "" until then */
    bool announced; /* a stop reason went to stderr in this fit */
} early_stopping;

static const volt_callback_ops es_ops;

volt_early_stopping_options volt_early_stopping_defaults(void) {
    return (volt_early_stopping_options){
        .monitor = NULL,
        .min_delta = 0.0,
        .patience = 3,
        .verbose = false,
        .mode = "min",
        .strict = true,
        .check_finite = true,
        .stopping_threshold = NAN,
        .divergence_threshold = NAN,
        .check_on_train_epoch_end = false,
    };
}

/* ----------------------------------------------------------- formatting */

/* printf into malloc'd memory; NULL when out of memory. */
static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* x as Python's str(float) writes it (what Lightning's messages show): the
 * fewest digits that read back, positional for exponents in [-4, 16) with
 * at least one decimal ("6.0"), else "1e-05"; "nan", "inf", "-inf". */
static void py_float(double x, char *buf, size_t size) {
    if (isnan(x) || isinf(x)) {
        snprintf(buf, size, "%s", isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
        return;
    }
    char sci[40];
    int digits = 1;
    for (; digits < 17; digits++) {
        snprintf(sci, sizeof sci, "%.*e", digits - 1, x);
        if (strtod(sci, NULL) == x) break;
    }
    snprintf(sci, sizeof sci, "%.*e", digits - 1, x);
    int exp = atoi(strchr(sci, 'e') + 1);
    if (exp < -4 || exp >= 16) {
        snprintf(buf, size, "%s", sci);
        return;
    }
    int decimals = digits - 1 - exp;
    snprintf(buf, size, "%.*f", decimals < 1 ? 1 : decimals, x);
}

/* -------------------------------------------------------------- checking */

static bool better(const early_stopping *es, double a, double b) { return es->max ? a > b : a < b; }

/* Lightning's _evaluate_stopping_criteria: whether to stop; *reason gets a
 * malloc'd message (stop or improvement) or NULL. */
static bool evaluate(early_stopping *es, double current, char **reason) {
    char cur[40], thr[40];
    py_float(current, cur, sizeof cur);
    const char *m = es->monitor;
    *reason = NULL;
    if (es->check_finite && !isfinite(current)) {
        *reason = format("Monitored metric %s = %s is not finite. Previous best value was %.3f. "
                         "Signaling Trainer to stop.",
                         m, cur, es->best_score);
        return true;
    }
    if (!isnan(es->stopping_threshold) && better(es, current, es->stopping_threshold)) {
        py_float(es->stopping_threshold, thr, sizeof thr);
        *reason = format("Stopping threshold reached: %s = %s %s %s. Signaling Trainer to stop.", m,
                         cur, es->max ? ">" : "<", thr);
        return true;
    }
    if (!isnan(es->divergence_threshold) && better(es, -current, -es->divergence_threshold)) {
        py_float(es->divergence_threshold, thr, sizeof thr);
        *reason = format("Divergence threshold reached: %s = %s %s %s. Signaling Trainer to stop.",
                         m, cur, es->max ? "<" : ">", thr);
        return true;
    }
    if (better(es, current - es->min_delta, es->best_score)) {
        char delta[40];
        py_float(fabs(es->min_delta), delta, sizeof delta);
        *reason = isfinite(es->best_score)
                      ? format("Metric %s improved by %.3f >= min_delta = %s. New best score: %.3f",
                               m, fabs(es->best_score - current), delta, current)
                      : format("Metric %s improved. New best score: %.3f", m, current);
        es->best_score = current;
        es->wait_count = 0;
        return false;
    }
    es->wait_count++;
    if (es->wait_count < es->patience) return false;
    *reason = format("Monitored metric %s did not improve in the last %lld records. Best score: "
                     "%.3f. Signaling Trainer to stop.",
                     m, (long long)es->wait_count, es->best_score);
    return true;
}

/* The names in callback_metrics, for the error of a missing monitor. */
static char *available(const volt_metrics *logs) {
    size_t n = 1;
    for (int64_t i = 0; i < logs->count; i++) n += strlen(logs->names[i]) + 4;
    char *s = malloc(n + 16);
    if (!s) return NULL;
    s[0] = '\0';
    for (int64_t i = 0; i < logs->count; i++) {
        if (i) strcat(s, ", ");
        strcat(s, "'");
        strcat(s, logs->names[i]);
        strcat(s, "'");
    }
    if (logs->count == 0) strcpy(s, "(none logged)");
    return s;
}

static volt_status missing_monitor(const early_stopping *es, const volt_metrics *logs) {
    char *names = available(logs);
    const char *list = names ? names : "?";
    volt_status st = VOLT_OK;
    if (es->strict)
        st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                            "EarlyStopping conditioned on metric '%s', which is not available; "
                            "use one of the logged metrics: %s (or strict = false)",
                            es->monitor, list);
    else if (es->verbose)
        fprintf(stderr,
                "volt: warning: EarlyStopping conditioned on metric '%s', which is not "
                "available (logged: %s); skipped\n",
                es->monitor, list);
    free(names);
    return st;
}

/* Lightning's _run_early_stopping_check. */
static volt_status run_check(early_stopping *es, volt_trainer *t) {
    if (volt_trainer_get_config(t)->fast_dev_run > 0) return VOLT_OK;
    const volt_metrics *logs = volt_trainer_callback_metrics(t);
    if (!volt_metrics_has(logs, es->monitor)) return missing_monitor(es, logs);
    char *reason = NULL;
    bool stop = evaluate(es, volt_metrics_get(logs, es->monitor), &reason);
    volt_status st = volt_trainer_reduce_bool(t, &stop, false); /* ddp: any rank stops all */
    if (st) {
        free(reason);
        return st;
    }
    if (stop) {
        volt_trainer_request_stop(t);
        es->stopped_epoch = volt_trainer_current_epoch(t);
        if (reason) {
            free(es->reason);
            es->reason = reason;
            reason = NULL;
            if (es->verbose || !es->announced) fprintf(stderr, "%s\n", es->reason);
            es->announced = true;
        }
    } else if (reason && es->verbose) {
        fprintf(stderr, "%s\n", reason);
    }
    free(reason);
    return VOLT_OK;
}

/* Lightning's _should_skip_check: only while fitting, never in the sanity
 * check. */
static bool skip(volt_step *step) {
    return volt_step_stage(step) != VOLT_STAGE_FIT ||
           volt_trainer_sanity_checking(volt_step_trainer(step));
}

static volt_status es_on_fit_start(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m, (void)step;
    ((early_stopping *)self)->announced = false; /* each fit prints its stop once */
    return VOLT_OK;
}

static volt_status es_on_validation_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    early_stopping *es = (early_stopping *)self;
    if (es->on_train_epoch_end || skip(step)) return VOLT_OK;
    return run_check(es, volt_step_trainer(step));
}

static volt_status es_on_train_epoch_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    early_stopping *es = (early_stopping *)self;
    if (!es->on_train_epoch_end || skip(step)) return VOLT_OK;
    return run_check(es, volt_step_trainer(step));
}

/* ----------------------------------------------------------------- state */

static char *es_state_dict(volt_callback *self) {
    const early_stopping *es = (const early_stopping *)self;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    volt_json_add_number(o, "wait_count", (double)es->wait_count);
    volt_json_add_number(o, "stopped_epoch", (double)es->stopped_epoch);
    volt_json_add_number(o, "best_score", es->best_score);
    volt_json_add_number(o, "patience", (double)es->patience);
    char *text = volt_json_print(o);
    cJSON_Delete(o);
    if (!text) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "EarlyStopping: state: out of memory");
    return text;
}

static volt_status es_load_state_dict(volt_callback *self, const char *json) {
    early_stopping *es = (early_stopping *)self;
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return volt_error_set(VOLT_ERR_FORMAT, "EarlyStopping: state is not a JSON object");
    }
    static const char *const keys[] = {"wait_count", "stopped_epoch", "patience", "best_score"};
    int64_t ints[3] = {0};
    double best = NAN;
    const char *bad = NULL;
    for (int k = 0; k < 4 && !bad; k++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, keys[k]);
        bool ok = k < 3 ? volt_json_get_int(item, &ints[k]) : volt_json_get_number(item, &best);
        if (!ok) bad = keys[k];
    }
    cJSON_Delete(o);
    if (bad)
        return volt_error_set(VOLT_ERR_FORMAT, "EarlyStopping: state: '%s' is missing or not %s",
                              bad, strcmp(bad, "best_score") == 0 ? "a number" : "an integer");
    es->wait_count = ints[0];
    es->stopped_epoch = ints[1];
    es->patience = ints[2];
    es->best_score = best;
    return VOLT_OK;
}

static char *es_state_key(volt_callback *self) {
    const early_stopping *es = (const early_stopping *)self;
    char *key = format("EarlyStopping{monitor=%s,mode=%s}", es->monitor, es->max ? "max" : "min");
    if (!key) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "EarlyStopping: out of memory");
    return key;
}

static void es_free(volt_callback *self) {
    early_stopping *es = (early_stopping *)self;
    if (!es) return;
    free(es->monitor);
    free(es->reason);
    free(es);
}

static const volt_callback_ops es_ops = {
    .name = "EarlyStopping",
    .monitoring = true,
    .on_fit_start = es_on_fit_start,
    .on_validation_end = es_on_validation_end,
    .on_train_epoch_end = es_on_train_epoch_end,
    .state_dict = es_state_dict,
    .load_state_dict = es_load_state_dict,
    .free = es_free,
    .state_key = es_state_key,
};

/* ----------------------------------------------------------- construction */

static bool check_options(const volt_early_stopping_options *o) {
    if (!o->monitor || !*o->monitor) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "EarlyStopping: monitor is required (the name of a logged metric)");
        return false;
    }
    if (o->mode && strcmp(o->mode, "min") != 0 && strcmp(o->mode, "max") != 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "EarlyStopping: mode can be min, max, got '%s'",
                       o->mode);
        return false;
    }
    if (o->patience < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "EarlyStopping: patience %lld must be >= 0",
                       (long long)o->patience);
        return false;
    }
    if (!isfinite(o->min_delta)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "EarlyStopping: min_delta %g must be finite",
                       o->min_delta);
        return false;
    }
    return true;
}

volt_callback *volt_early_stopping_new(const volt_early_stopping_options *opt) {
    if (!opt) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "EarlyStopping: NULL options (start from volt_early_stopping_defaults())");
        return NULL;
    }
    if (!check_options(opt)) return NULL;
    early_stopping *es = calloc(1, sizeof *es);
    if (es) es->monitor = strdup(opt->monitor);
    if (es) es->reason = strdup("");
    if (!es || !es->monitor || !es->reason) {
        es_free(es ? &es->base : NULL);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "EarlyStopping: out of memory");
        return NULL;
    }
    es->base.ops = &es_ops;
    es->max = opt->mode && strcmp(opt->mode, "max") == 0;
    es->min_delta = es->max ? opt->min_delta : -opt->min_delta;
    es->patience = opt->patience;
    es->verbose = opt->verbose;
    es->strict = opt->strict;
    es->check_finite = opt->check_finite;
    es->stopping_threshold = opt->stopping_threshold;
    es->divergence_threshold = opt->divergence_threshold;
    es->on_train_epoch_end = opt->check_on_train_epoch_end;
    es->stopped_epoch = -1;
    es->best_score = es->max ? -INFINITY : INFINITY;
    return &es->base;
}

/* ------------------------------------------------------------- accessors */

static early_stopping *es_of(volt_callback *cb, const char *fn) {
    if (cb && cb->ops == &es_ops) return (early_stopping *)cb;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s is not an EarlyStopping callback", fn,
                   cb && cb->ops && cb->ops->name ? cb->ops->name : "the callback");
    return NULL;
}

const char *volt_early_stopping_reason(volt_callback *cb) {
    early_stopping *es = es_of(cb, "early_stopping_reason");
    return es ? es->reason : "";
}

int64_t volt_early_stopping_stopped_epoch(volt_callback *cb) {
    early_stopping *es = es_of(cb, "early_stopping_stopped_epoch");
    return es ? es->stopped_epoch : -1;
}

int64_t volt_early_stopping_wait_count(volt_callback *cb) {
    early_stopping *es = es_of(cb, "early_stopping_wait_count");
    return es ? es->wait_count : 0;
}
