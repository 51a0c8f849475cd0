/* log.c: volt_log / volt_log_dict with Lightning's semantics — per-hook
 * on_step/on_epoch defaults and refusals, batch-size-weighted epoch means
 * (or sum/min/max), name_step/name_epoch when both — and the move of logged
 * values into callback, logged and progress-bar metrics and logger rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_impl.h"

void volt_log_results_reset(volt_log_results *r) {
    for (int64_t i = 0; i < r->n; i++) free(r->e[i].name);
    r->n = 0;
}

static volt_log_entry *entry(volt_log_results *r, const char *name) {
    for (int64_t i = 0; i < r->n; i++)
        if (strcmp(r->e[i].name, name) == 0) return &r->e[i];
    if (r->n == r->cap) {
        int64_t cap = r->cap ? 2 * r->cap : 8;
        volt_log_entry *grown = realloc(r->e, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        r->e = grown;
        r->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return NULL;
    volt_log_entry *e = &r->e[r->n++];
    *e = (volt_log_entry){.name = copy, .min = INFINITY, .max = -INFINITY};
    return e;
}

volt_status volt_log_ex(volt_step *step, const char *name, double value, unsigned flags,
                        int64_t batch_size) {
    if (!step || !step->trainer)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "log: NULL step context");
    if (!name || !*name) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "log: empty name");
    volt_trainer *t = step->trainer;
    if (t->cfg.barebones) return VOLT_OK;
    const char *hook = volt_hook_name(step->hook);
    volt_log_rule rule = volt_hook_log_rule(step->hook);
    if (rule == VOLT_LOGRULE_REFUSED || !step->results)
        return volt_error_set(VOLT_ERR_STATE, "log('%s'): logging is not allowed in %s", name,
                              hook);
    bool on_step = rule == VOLT_LOGRULE_STEP, on_epoch = !on_step;
    if (flags & (VOLT_LOG_ON_STEP | VOLT_LOG_ON_EPOCH)) {
        on_step = flags & VOLT_LOG_ON_STEP;
        on_epoch = flags & VOLT_LOG_ON_EPOCH;
    }
    if (on_step && rule == VOLT_LOGRULE_EPOCH)
        return volt_error_set(VOLT_ERR_STATE,
                              "log('%s', on_step): %s runs once per epoch; on_step is not allowed "
                              "there",
                              name, hook);
    unsigned reduce = flags & (VOLT_LOG_REDUCE_SUM | VOLT_LOG_REDUCE_MIN | VOLT_LOG_REDUCE_MAX);
    if (reduce & (reduce - 1))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "log('%s'): more than one of REDUCE_SUM, REDUCE_MIN, REDUCE_MAX",
                              name);
    if (batch_size < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "log('%s'): batch_size %lld < 0", name,
                              (long long)batch_size);
    if (batch_size == 0) batch_size = step->batch && step->batch->size > 0 ? step->batch->size : 1;
    double weight = (double)batch_size;
    if (flags & VOLT_LOG_SYNC_DIST) { /* the value over every rank (weights summed) */
        volt_status st = volt_strategy_sync_value(t, reduce, &value, &weight);
        if (st) return volt_error_prefix(st, "log('%s', sync_dist)", name);
    }
    volt_log_entry *e = entry(step->results, name);
    if (!e) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "log('%s'): out of memory", name);
    e->on_step = on_step;
    e->on_epoch = on_epoch;
    e->prog_bar = flags & VOLT_LOG_PROG_BAR;
    e->logger = !(flags & VOLT_LOG_NO_LOGGER);
    e->reduce = reduce;
    e->fresh = true;
    e->value = value;
    e->sum += reduce == VOLT_LOG_REDUCE_SUM ? value : value * weight;
    e->weight += weight;
    if (value < e->min) e->min = value;
    if (value > e->max) e->max = value;
    e->n++;
    return VOLT_OK;
}

volt_status volt_log(volt_step *step, const char *name, const volt_tensor *value, unsigned flags) {
    if (step && step->trainer && step->trainer->cfg.barebones) return VOLT_OK;
    if (!value) {
        if (volt_error_status()) return volt_error_status();
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "log('%s'): NULL value",
                              name ? name : "?");
    }
    if (volt_tensor_numel(value) != 1) {
        char buf[64];
        return volt_error_set(VOLT_ERR_SHAPE, "log('%s'): value %s is not a scalar (one element)",
                              name ? name : "?", volt_shape_str(value, buf, sizeof buf));
    }
    double v = volt_tensor_item(value);
    if (volt_error_status()) return volt_error_status();
    return volt_log_ex(step, name, v, flags, 0);
}

volt_status volt_log_dict(volt_step *step, int n, const char *const *names,
                          volt_tensor *const *values, unsigned flags) {
    if (n < 0 || (n > 0 && (!names || !values)))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "log_dict: bad arguments");
    for (int i = 0; i < n; i++) {
        volt_status st = volt_log(step, names[i], values[i], flags);
        if (st) return st;
    }
    return VOLT_OK;
}

/* ---------------------------------------------- into the metric tables */

static volt_status put(volt_trainer *t, const volt_log_entry *e, const char *key, double v,
                       volt_metrics *row, volt_metrics *out) {
    volt_status st = volt_metrics_set(&t->callback_metrics, e->name, v);
    if (!st && key != e->name) st = volt_metrics_set(&t->callback_metrics, key, v);
    if (!st && e->logger) st = volt_metrics_set(&t->logged_metrics, key, v);
    if (!st && e->logger && row) st = volt_metrics_set(row, key, v);
    if (!st && e->prog_bar) st = volt_metrics_set(&t->pbar_metrics, key, v);
    if (!st && out) st = volt_metrics_set(out, key, v);
    return st;
}

volt_status volt_log_step_end(volt_trainer *t, volt_log_results *r, bool write, int64_t step) {
    volt_metrics row = {0};
    volt_status st = VOLT_OK;
    for (int64_t i = 0; i < r->n && !st; i++) {
        volt_log_entry *e = &r->e[i];
        if (!e->fresh) continue;
        e->fresh = false;
        if (!e->on_step) continue;
        char key[256];
        snprintf(key, sizeof key, "%s_step", e->name);
        st = put(t, e, e->on_epoch ? key : e->name, e->value, &row, NULL);
    }
    if (!st && write && row.count) st = volt_loggers_write(t, &row, step);
    volt_metrics_release(&row);
    return st;
}

static double reduced(const volt_log_entry *e) {
    switch (e->reduce) {
    case VOLT_LOG_REDUCE_SUM: return e->sum;
    case VOLT_LOG_REDUCE_MIN: return e->min;
    case VOLT_LOG_REDUCE_MAX: return e->max;
    default: return e->weight > 0 ? e->sum / e->weight : NAN;
    }
}

volt_status volt_log_epoch_end(volt_trainer *t, volt_log_results *r, bool write, int64_t step,
                               volt_metrics *epoch_metrics) {
    volt_metrics row = {0};
    volt_status st = VOLT_OK;
    for (int64_t i = 0; i < r->n && !st; i++) {
        volt_log_entry *e = &r->e[i];
        e->fresh = false;
        if (!e->on_epoch || e->n == 0) continue;
        char key[256];
        snprintf(key, sizeof key, "%s_epoch", e->name);
        st = put(t, e, e->on_step ? key : e->name, reduced(e), &row, epoch_metrics);
    }
    if (!st && write && row.count) st = volt_loggers_write(t, &row, step);
    volt_metrics_release(&row);
    return st;
}

volt_status volt_loggers_write(volt_trainer *t, volt_metrics *row, int64_t step) {
    if (!t->log_enabled || t->n_loggers == 0) return VOLT_OK;
    volt_status st = VOLT_OK;
    if (!volt_metrics_has(row, "epoch")) st = volt_metrics_set(row, "epoch", (double)t->epoch);
    for (int i = 0; i < t->n_loggers && !st; i++) {
        volt_logger *lg = t->loggers[i];
        if (lg->ops->log_metrics) st = lg->ops->log_metrics(lg, row, step < 0 ? 0 : step);
    }
    return st;
}
