/* loop_state.c: the fit loop's state in a checkpoint ("loops"): where the
 * loop was (phase, epoch, batch), its counters, the epoch's logged results
 * so far and callback_metrics — everything a resumed run needs to go on as
 * the uninterrupted one would. Reals are written as "%.17g" strings, which
 * read back exactly (NaN and infinities included). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train/train_impl.h"

static const char *const phase_names[] = {"epoch_start", "batch_end", "batch_done", "epoch_end"};

static bool add_real(cJSON *o, const char *key, double v) {
    char text[40];
    snprintf(text, sizeof text, "%.17g", v);
    return cJSON_AddStringToObject(o, key, text) != NULL;
}

static bool add_int(cJSON *o, const char *key, int64_t v) {
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    return cJSON_AddItemToObject(o, key, cJSON_CreateRaw(text));
}

static cJSON *results_json(const volt_log_results *r) {
    cJSON *list = cJSON_CreateArray();
    for (int64_t i = 0; list && i < r->n; i++) {
        const volt_log_entry *e = &r->e[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(list, o)) {
            cJSON_Delete(o);
            cJSON_Delete(list);
            return NULL;
        }
        bool ok = cJSON_AddStringToObject(o, "name", e->name) &&
                  cJSON_AddBoolToObject(o, "on_step", e->on_step) &&
                  cJSON_AddBoolToObject(o, "on_epoch", e->on_epoch) &&
                  cJSON_AddBoolToObject(o, "prog_bar", e->prog_bar) &&
                  cJSON_AddBoolToObject(o, "logger", e->logger) &&
                  add_int(o, "reduce", e->reduce) && cJSON_AddBoolToObject(o, "fresh", e->fresh) &&
                  add_real(o, "value", e->value) && add_real(o, "sum", e->sum) &&
                  add_real(o, "weight", e->weight) && add_real(o, "min", e->min) &&
                  add_real(o, "max", e->max) && add_int(o, "n", e->n);
        if (!ok) {
            cJSON_Delete(list);
            return NULL;
        }
    }
    return list;
}

static cJSON *metrics_json(const volt_metrics *m) {
    cJSON *o = cJSON_CreateObject();
    for (int64_t i = 0; o && i < m->count; i++)
        if (!add_real(o, m->names[i], m->values[i])) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

char *volt_loop_state_to_json(const volt_trainer *t) {
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "phase", phase_names[t->phase]) &&
              add_int(o, "epoch", t->epoch) && add_int(o, "batch", t->batch_pos) &&
              cJSON_AddBoolToObject(o, "stepped", t->batch_stepped) &&
              add_int(o, "global_step", t->global_step) && add_int(o, "log_step", t->log_step) &&
              add_int(o, "total_batches", t->total_batches) &&
              add_int(o, "accumulate_grad_batches", t->accumulate) &&
              cJSON_AddBoolToObject(o, "should_stop", t->should_stop) &&
              add_real(o, "time_elapsed", volt_trainer_time_elapsed(t));
    cJSON *res = ok ? results_json(&t->train_results) : NULL;
    ok = res && cJSON_AddItemToObject(o, "train_results", res);
    if (!ok) cJSON_Delete(res);
    cJSON *cm = ok ? metrics_json(&t->callback_metrics) : NULL;
    ok = cm && cJSON_AddItemToObject(o, "callback_metrics", cm);
    if (!ok) cJSON_Delete(cm);
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "save_checkpoint: out of memory");
    char *out = text ? strdup(text) : NULL;
    cJSON_free(text);
    return out;
}

/* ---------------------------------------------------------------- read */

typedef struct {
    const char *path;
    bool bad;
    const char *what;
} reader;

static const cJSON *field(reader *r, const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v && !r->bad) {
        r->bad = true;
        r->what = key;
    }
    return v;
}

static int64_t get_int(reader *r, const cJSON *o, const char *key) {
    const cJSON *v = field(r, o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        if (!r->bad) r->bad = true, r->what = key;
        return 0;
    }
    return (int64_t)v->valuedouble;
}

static bool get_bool(reader *r, const cJSON *o, const char *key) {
    const cJSON *v = field(r, o, key);
    if (!cJSON_IsBool(v) && !r->bad) r->bad = true, r->what = key;
    return cJSON_IsTrue(v);
}

static double get_real(reader *r, const cJSON *o, const char *key) {
    const cJSON *v = field(r, o, key);
    char *end = NULL;
    double d = cJSON_IsString(v) ? strtod(v->valuestring, &end) : 0;
    if ((!end || *end) && !r->bad) r->bad = true, r->what = key;
    return d;
}

static volt_status read_results(reader *r, const cJSON *list, volt_log_results *out) {
    volt_log_results_reset(out);
    int n = cJSON_GetArraySize(list);
    if (n > out->cap) {
        volt_log_entry *e = realloc(out->e, (size_t)n * sizeof *e);
        if (!e) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
        out->e = e;
        out->cap = n;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, list) {
        const cJSON *name = field(r, o, "name");
        if (!cJSON_IsString(name)) break;
        volt_log_entry *e = &out->e[out->n];
        memset(e, 0, sizeof *e);
        if (!(e->name = strdup(name->valuestring)))
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
        out->n++;
        e->on_step = get_bool(r, o, "on_step");
        e->on_epoch = get_bool(r, o, "on_epoch");
        e->prog_bar = get_bool(r, o, "prog_bar");
        e->logger = get_bool(r, o, "logger");
        e->reduce = (unsigned)get_int(r, o, "reduce");
        e->fresh = get_bool(r, o, "fresh");
        e->value = get_real(r, o, "value");
        e->sum = get_real(r, o, "sum");
        e->weight = get_real(r, o, "weight");
        e->min = get_real(r, o, "min");
        e->max = get_real(r, o, "max");
        e->n = get_int(r, o, "n");
    }
    return VOLT_OK;
}

volt_status volt_loop_state_from_json(volt_trainer *t, const char *json, const char *path) {
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return volt_error_set(VOLT_ERR_FORMAT, "checkpoint %s: 'loops' is %s", path,
                              json ? "not a JSON object"
                                   : "missing (a weights-only checkpoint "
                                     "cannot resume training)");
    }
    reader r = {.path = path};
    const cJSON *ph = field(&r, o, "phase");
    int phase = -1;
    for (int i = 0; cJSON_IsString(ph) && i < 4; i++)
        if (strcmp(ph->valuestring, phase_names[i]) == 0) phase = i;
    if (phase < 0 && !r.bad) r.bad = true, r.what = "phase";
    t->phase = (volt_loop_phase)(phase < 0 ? 0 : phase);
    t->epoch = get_int(&r, o, "epoch");
    t->batch_pos = get_int(&r, o, "batch");
    t->batch_stepped = get_bool(&r, o, "stepped");
    t->global_step = get_int(&r, o, "global_step");
    t->log_step = get_int(&r, o, "log_step");
    t->total_batches = get_int(&r, o, "total_batches");
    t->accumulate = get_int(&r, o, "accumulate_grad_batches");
    t->should_stop = get_bool(&r, o, "should_stop");
    t->time_offset = get_real(&r, o, "time_elapsed");
    volt_status st = VOLT_OK;
    const cJSON *res = field(&r, o, "train_results");
    if (cJSON_IsArray(res))
        st = read_results(&r, res, &t->train_results);
    else if (!r.bad)
        r.bad = true, r.what = "train_results";
    const cJSON *cm = field(&r, o, "callback_metrics"), *it;
    volt_metrics_clear(&t->callback_metrics);
    cJSON_ArrayForEach(it, cm) {
        if (st) break;
        double v = get_real(&r, cm, it->string);
        st = volt_metrics_set(&t->callback_metrics, it->string, v);
    }
    if (!st &&
        (r.bad || t->epoch < 0 || t->batch_pos < 0 || t->global_step < 0 || t->accumulate < 1))
        st = volt_error_set(VOLT_ERR_FORMAT,
                            "checkpoint %s: 'loops' metadata: '%s' is missing or malformed", path,
                            r.bad ? r.what : "a counter");
    cJSON_Delete(o);
    return st;
}
