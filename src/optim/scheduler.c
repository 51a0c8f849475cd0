/* scheduler.c: the LR scheduler base (PyTorch's _LRScheduler) — allocation
 * with initial_lr / base_lrs, the initial step, the generic step (the
 * chainable get_lr) and step to an epoch (the closed form), writing lrs into
 * the optimizer, the public entry points, and the state as JSON. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"

#define FORMAT "volt-lr-scheduler-1"

volt_lr_scheduler *volt_sched_fail(const char *name, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s", name, msg);
    return NULL;
}

volt_lr_scheduler *volt_sched_alloc(volt_optimizer *opt, const volt_sched_class *cls, size_t size,
                                    bool record_initial) {
    if (!opt) return volt_sched_fail(cls->name, "optimizer is NULL");
    volt_lr_scheduler *s = calloc(1, size);
    int n = opt->n_groups;
    if (s) {
        s->base_lrs = calloc((size_t)n, sizeof(double));
        s->last_lr = calloc((size_t)n, sizeof(double));
        s->scratch = calloc((size_t)n, sizeof(double));
    }
    if (!s || !s->base_lrs || !s->last_lr || !s->scratch) {
        if (s) volt_sched_destroy(s);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", cls->name);
        return NULL;
    }
    s->cls = cls;
    s->opt = opt;
    s->n_groups = n;
    s->last_epoch = -1;
    for (int g = 0; g < n; g++) {
        if (record_initial && isnan(volt_optim_initial_lr(opt, g)))
            volt_optim_set_initial_lr(opt, g, opt->groups[g].hp.lr);
        double initial = volt_optim_initial_lr(opt, g);
        s->base_lrs[g] = isnan(initial) ? opt->groups[g].hp.lr : initial;
    }
    volt_sched_record_lrs(s);
    return s;
}

void volt_sched_destroy(volt_lr_scheduler *s) {
    if (!s) return;
    if (s->cls && s->cls->destroy) s->cls->destroy(s);
    free(s->base_lrs);
    free(s->last_lr);
    free(s->scratch);
    free(s);
}

volt_lr_scheduler *volt_sched_initial_step(volt_lr_scheduler *s) {
    s->step_count = 0;
    if (volt_sched_step(s) != VOLT_OK) {
        volt_sched_destroy(s);
        return NULL;
    }
    return s;
}

bool volt_sched_check_groups(const volt_lr_scheduler *s) {
    if (s->opt->n_groups == s->n_groups) return true;
    volt_error_set(VOLT_ERR_STATE,
                   "%s: the optimizer has %d param groups, %d when the scheduler "
                   "was made (make schedulers after the last add_param_group)",
                   s->cls->name, s->opt->n_groups, s->n_groups);
    return false;
}

void volt_sched_record_lrs(volt_lr_scheduler *s) {
    for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = s->opt->groups[g].hp.lr;
}

volt_status volt_sched_apply(volt_lr_scheduler *s, const double *lrs) {
    /* Finite, but not necessarily >= 0: PyTorch's formulas may step just
     * below 0 (OneCycleLR's linear anneal one step past total_steps), and
     * volt keeps its arithmetic. */
    for (int g = 0; g < s->n_groups; g++)
        if (!isfinite(lrs[g]))
            return volt_error_set(VOLT_ERR_STATE,
                                  "%s: epoch %lld: lr %g for param group %d "
                                  "(must be finite)",
                                  s->cls->name, (long long)s->last_epoch, lrs[g], g);
    for (int g = 0; g < s->n_groups; g++) s->opt->groups[g].hp.lr = lrs[g];
    volt_sched_record_lrs(s);
    return VOLT_OK;
}

static volt_status step_generic(volt_lr_scheduler *s) {
    s->step_count++;
    s->last_epoch++;
    volt_status st = s->cls->get_lr(s, s->scratch);
    if (st == VOLT_OK) st = volt_sched_apply(s, s->scratch);
    if (st != VOLT_OK) {
        s->step_count--;
        s->last_epoch--;
    }
    return st;
}

volt_status volt_sched_step(volt_lr_scheduler *s) {
    if (!volt_sched_check_groups(s)) return volt_error_status();
    return s->cls->step ? s->cls->step(s) : step_generic(s);
}

volt_status volt_sched_step_to(volt_lr_scheduler *s, int64_t epoch) {
    if (!volt_sched_check_groups(s)) return volt_error_status();
    if (s->cls->step_to) return s->cls->step_to(s, epoch);
    int64_t old_epoch = s->last_epoch;
    s->step_count++;
    s->last_epoch = epoch;
    volt_status st = VOLT_OK;
    if (s->cls->closed_form)
        s->cls->closed_form(s, s->scratch);
    else
        st = s->cls->get_lr(s, s->scratch);
    if (st == VOLT_OK) st = volt_sched_apply(s, s->scratch);
    if (st != VOLT_OK) {
        s->step_count--;
        s->last_epoch = old_epoch;
    }
    return st;
}

/* ------------------------------------------------------------- public API */

volt_status volt_lr_scheduler_step(volt_lr_scheduler *s) {
    if (!s)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "lr_scheduler_step: scheduler is NULL");
    if (s->cls->step_metric)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: step needs the monitored metric "
                              "(volt_lr_scheduler_step_metric)",
                              s->cls->name);
    return volt_sched_step(s);
}

volt_status volt_lr_scheduler_step_metric(volt_lr_scheduler *s, double metric) {
    if (!s)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "lr_scheduler_step_metric: scheduler "
                                                         "is NULL");
    if (!s->cls->step_metric)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: takes no metric (step_metric is "
                              "for ReduceLROnPlateau; use volt_lr_scheduler_step)",
                              s->cls->name);
    if (!volt_sched_check_groups(s)) return volt_error_status();
    return s->cls->step_metric(s, metric);
}

bool volt_lr_scheduler_needs_metric(const volt_lr_scheduler *s) { return s && s->cls->step_metric; }

double volt_lr_scheduler_last_lr(const volt_lr_scheduler *s, int group) {
    if (!s) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "lr_scheduler_last_lr: scheduler is NULL");
        return NAN;
    }
    if (group < 0 || group >= s->n_groups) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: last_lr: param group %d out of range (%d "
                       "groups)",
                       s->cls->name, group, s->n_groups);
        return NAN;
    }
    return s->last_lr[group];
}

int64_t volt_lr_scheduler_last_epoch(const volt_lr_scheduler *s) { return s ? s->last_epoch : 0; }

const char *volt_lr_scheduler_name(const volt_lr_scheduler *s) { return s ? s->cls->name : ""; }

void volt_lr_scheduler_free(volt_lr_scheduler *s) {
    if (!s) return;
    if (s->owned) {
        volt_error_set(VOLT_ERR_STATE,
                       "%s: owned by a SequentialLR or ChainedScheduler, which "
                       "frees it",
                       s->cls->name);
        return;
    }
    volt_sched_destroy(s);
}

/* ------------------------------------------------------------------ JSON */

static cJSON *number_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, volt_json_number(v[i]));
    return a;
}

cJSON *volt_sched_to_json(const volt_lr_scheduler *s) {
    cJSON *obj = cJSON_CreateObject();
    if (!obj) return NULL;
    cJSON_AddStringToObject(obj, "format", FORMAT);
    cJSON_AddStringToObject(obj, "type", s->cls->name);
    volt_json_add_number(obj, "last_epoch", (double)s->last_epoch);
    volt_json_add_number(obj, "step_count", (double)s->step_count);
    cJSON_AddItemToObject(obj, "base_lrs", number_array(s->base_lrs, s->n_groups));
    cJSON_AddItemToObject(obj, "last_lr", number_array(s->last_lr, s->n_groups));
    if (s->cls->save) s->cls->save(s, obj);
    return obj;
}

static bool read_array(const cJSON *a, int n, double *out) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return false;
    for (int i = 0; i < n; i++) {
        double v;
        if (!volt_json_get_number(cJSON_GetArrayItem(a, i), &v)) return false;
        if (out) out[i] = v;
    }
    return true;
}

bool volt_sched_from_json(volt_lr_scheduler *s, const cJSON *obj, bool apply) {
    const char *name = s->cls->name;
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(obj, "format");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(obj, "base_lrs");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(obj, "last_lr");
    int64_t last_epoch, step_count;
    if (!cJSON_IsString(format) || strcmp(format->valuestring, FORMAT) != 0) {
        volt_error_set(VOLT_ERR_FORMAT, "%s: load_state_dict: unknown format '%s' (expected %s)",
                       name, cJSON_IsString(format) ? format->valuestring : "", FORMAT);
        return false;
    }
    if (!cJSON_IsString(type) || strcmp(type->valuestring, name) != 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: load_state_dict: state type '%s' does "
                       "not match this scheduler '%s'",
                       name, cJSON_IsString(type) ? type->valuestring : "?", name);
        return false;
    }
    if (!volt_json_get_int(cJSON_GetObjectItemCaseSensitive(obj, "last_epoch"), &last_epoch) ||
        !volt_json_get_int(cJSON_GetObjectItemCaseSensitive(obj, "step_count"), &step_count)) {
        volt_error_set(VOLT_ERR_FORMAT,
                       "%s: load_state_dict: 'last_epoch' or 'step_count' "
                       "missing or not an integer",
                       name);
        return false;
    }
    if (!read_array(base, s->n_groups, NULL) || !read_array(last, s->n_groups, NULL)) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: load_state_dict: 'base_lrs' and 'last_lr' must hold "
                       "%d numbers (one per param group)",
                       name, s->n_groups);
        return false;
    }
    if (s->cls->load && !s->cls->load(s, obj, false)) return false;
    if (apply) {
        s->last_epoch = last_epoch;
        s->step_count = step_count;
        read_array(base, s->n_groups, s->base_lrs);
        read_array(last, s->n_groups, s->last_lr);
        if (s->cls->load) s->cls->load(s, obj, true);
    }
    return true;
}

char *volt_lr_scheduler_state_dict(const volt_lr_scheduler *s) {
    if (!s) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "lr_scheduler_state_dict: scheduler is NULL");
        return NULL;
    }
    cJSON *obj = volt_sched_to_json(s);
    char *text = obj ? volt_json_print(obj) : NULL;
    cJSON_Delete(obj);
    if (!text)
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: state_dict: out of memory", s->cls->name);
    return text;
}

volt_status volt_lr_scheduler_load_state_dict(volt_lr_scheduler *s, const char *json) {
    if (!s || !json)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "lr_scheduler_load_state_dict: NULL %s",
                              s ? "json" : "scheduler");
    cJSON *obj = cJSON_Parse(json);
    if (!obj) {
        const char *at = cJSON_GetErrorPtr();
        return volt_error_set(VOLT_ERR_FORMAT,
                              "%s: load_state_dict: the JSON does not parse "
                              "(near '%.24s')",
                              s->cls->name, at ? at : "");
    }
    bool ok = volt_sched_from_json(s, obj, false) && volt_sched_from_json(s, obj, true);
    cJSON_Delete(obj);
    return ok ? VOLT_OK : volt_error_status();
}
