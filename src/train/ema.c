/* ema.c: the EMA callback — an exponential moving average of the module's
 * parameters, updated after every update_every_n_steps optimizer steps
 * (ema = decay * ema + (1 - decay) * w), swapped into the module for
 * validation and back after, saved in checkpoints as "ema.<name>" tensors
 * and resumed from them.
 *
 * Life of the average:
 *  - on_fit_start copies every parameter (volt_module_parameters: frozen
 *    ones too; buffers are not averaged) into tensors the callback owns,
 *    unless fit resumes from a checkpoint whose "ema.*" tensors were
 *    already read (on_load_checkpoint), in either hook order;
 *  - on_train_batch_end averages when the global step moved past the last
 *    averaged step and is a multiple of update_every_n_steps;
 *  - on_validation_start swaps the average into the module and
 *    on_validation_end swaps it back (in place, under no-grad; the module's
 *    tensors keep their identity, so optimizers and graphs see the same
 *    parameters), also during the sanity check (where the average still
 *    equals the weights, unless resumed) and in validate() after a fit;
 *    on_exception swaps back when validation failed half-way, and so does
 *    a checkpoint saved while swapped (see on_save_checkpoint);
 *  - at fit end nothing is applied: the module keeps its trained weights;
 *    the average is in the checkpoints ("ema.<name>"), from which users
 *    copy it into a module. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "volt/autograd.h"
#include "volt/train.h"

#define EMA_PREFIX "ema."

typedef struct {
    volt_callback base;
    volt_ema_options opt;
    volt_module *module; /* the module the average was made for; NULL: none yet */
    int64_t n;
    volt_tensor **ema;        /* caller-owned (persisted), one per parameter */
    char **names;             /* the parameters' dotted names */
    int64_t last_update_step; /* the global step of the last average (or of the start) */
    bool swapped;             /* the module holds the average, ema[] the weights */
    bool ema_loaded;          /* on_load_checkpoint filled ema[] */
    bool state_loaded;        /* load_state_dict set last_update_step */
} ema_cb;

/* --------------------------------------------------------------- tensors */

static void release(ema_cb *e) {
    for (int64_t i = 0; i < e->n; i++) {
        volt_tensor_free(e->ema[i]);
        free(e->names[i]);
    }
    free(e->ema);
    free(e->names);
    e->ema = NULL;
    e->names = NULL;
    e->n = 0;
    e->module = NULL;
    e->swapped = e->ema_loaded = false;
}

static bool same_shape(const volt_tensor *a, const volt_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

/* Whether the average belongs to `m` as its parameters are now. */
static bool matches(const ema_cb *e, volt_module *m) {
    if (!e->module || e->module != m) return false;
    volt_params p = volt_module_parameters(m);
    if (p.count != e->n) return false;
    for (int64_t i = 0; i < p.count; i++)
        if (strcmp(p.names[i], e->names[i]) != 0 || !same_shape(p.tensors[i], e->ema[i]) ||
            p.tensors[i]->dtype != e->ema[i]->dtype)
            return false;
    return true;
}

/* A fresh average of m: a copy of each parameter. */
static volt_status bind(ema_cb *e, volt_module *m) {
    release(e);
    volt_params p = volt_module_parameters(m);
    e->ema = calloc((size_t)(p.count ? p.count : 1), sizeof *e->ema);
    e->names = calloc((size_t)(p.count ? p.count : 1), sizeof *e->names);
    if (!e->ema || !e->names) {
        release(e);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "EMA: out of memory");
    }
    volt_status st = VOLT_OK;
    volt_scope_begin();
    volt_no_grad_begin();
    for (int64_t i = 0; i < p.count && !st; i++) {
        volt_tensor *copy = volt_clone(p.tensors[i]);
        e->names[i] = strdup(p.names[i]);
        if (!copy || !e->names[i]) {
            free(e->names[i]);
            st = volt_error_status() ? volt_error_status()
                                     : volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "EMA: out of memory");
            break;
        }
        e->ema[i] = volt_persist(copy);
        e->n = i + 1;
    }
    volt_no_grad_end();
    volt_scope_end();
    if (st) {
        release(e);
        return st;
    }
    e->module = m;
    return VOLT_OK;
}

/* ema = decay * ema + (1 - decay) * w for each floating parameter, in the
 * parameter's dtype. */
static volt_status average(ema_cb *e, volt_params p) {
    volt_status st = VOLT_OK;
    volt_scope_begin();
    volt_no_grad_begin();
    for (int64_t i = 0; i < p.count && !st; i++) {
        if (!volt_dtype_is_float(e->ema[i]->dtype)) continue;
        volt_tensor *part = volt_mul_scalar(p.tensors[i], 1.0 - e->opt.decay);
        if (!volt_mul_scalar_(e->ema[i], e->opt.decay) || !volt_add_(e->ema[i], part))
            st = volt_error_status();
    }
    volt_no_grad_end();
    volt_scope_end();
    return st;
}

/* Exchanges the values of the module's parameters and of the average. */
static volt_status swap(ema_cb *e, volt_params p) {
    volt_status st = VOLT_OK;
    volt_scope_begin();
    volt_no_grad_begin();
    for (int64_t i = 0; i < p.count && !st; i++) {
        volt_tensor *w = volt_clone(p.tensors[i]);
        if (!w || !volt_copy_(p.tensors[i], e->ema[i]) || !volt_copy_(e->ema[i], w))
            st = volt_error_status();
    }
    volt_no_grad_end();
    volt_scope_end();
    if (!st) e->swapped = !e->swapped;
    return st;
}

/* ----------------------------------------------------------------- hooks */

static ema_cb *self_of(volt_callback *cb) { return (ema_cb *)cb; }

/* A new average from the weights, unless fit resumes from a checkpoint whose
 * average and state were already read. */
static volt_status on_fit_start(volt_callback *cb, volt_module *m, volt_step *step) {
    ema_cb *e = self_of(cb);
    volt_trainer *t = volt_step_trainer(step);
    bool resuming = volt_trainer_ckpt_path(t) != NULL;
    if (!(resuming && e->ema_loaded && matches(e, m))) {
        volt_status st = bind(e, m);
        if (st) return st;
    }
    if (!(resuming && e->state_loaded)) e->last_update_step = volt_trainer_global_step(t);
    return VOLT_OK;
}

/* Resumed state is consumed: a later fit from scratch starts a new average. */
static volt_status on_train_start(volt_callback *cb, volt_module *m, volt_step *step) {
    (void)m, (void)step;
    self_of(cb)->ema_loaded = self_of(cb)->state_loaded = false;
    return VOLT_OK;
}

static volt_status on_train_batch_end(volt_callback *cb, volt_module *m, volt_step *step) {
    ema_cb *e = self_of(cb);
    int64_t g = volt_trainer_global_step(volt_step_trainer(step));
    if (g <= e->last_update_step || g % e->opt.update_every_n_steps != 0) return VOLT_OK;
    if (!matches(e, m))
        return volt_error_set(VOLT_ERR_STATE,
                              "EMA: the module's parameters changed since fit started (the "
                              "average has %lld tensors)",
                              (long long)e->n);
    volt_status st = average(e, volt_module_parameters(m));
    if (!st) e->last_update_step = g;
    return st;
}

static volt_status on_validation_start(volt_callback *cb, volt_module *m, volt_step *step) {
    (void)step;
    ema_cb *e = self_of(cb);
    if (e->opt.validate_original_weights || e->swapped || !matches(e, m)) return VOLT_OK;
    return swap(e, volt_module_parameters(m));
}

static volt_status on_validation_end(volt_callback *cb, volt_module *m, volt_step *step) {
    (void)step;
    ema_cb *e = self_of(cb);
    return e->swapped ? swap(e, volt_module_parameters(m)) : VOLT_OK;
}

/* The run failed: the module gets its own weights back. */
static volt_status on_exception(volt_callback *cb, volt_module *m, volt_step *step) {
    (void)step;
    ema_cb *e = self_of(cb);
    e->ema_loaded = e->state_loaded = false;
    if (!e->swapped) return VOLT_OK;
    if (matches(e, m)) return swap(e, volt_module_parameters(m));
    e->swapped = false;
    return volt_error_set(VOLT_ERR_STATE, "EMA: cannot restore the module's weights after "
                                          "validation: its parameters changed");
}

/* Adds "ema.<name>" for every parameter. A save while the average is
 * swapped in (a callback added before this one saving in
 * on_validation_end, a save from a validation step) first swaps the
 * weights back: the trainer reads the module's tensors after the hooks, so
 * the file holds the trained weights as state_dict.* either way; the rest
 * of that validation sees the trained weights. */
static volt_status on_save_checkpoint(volt_callback *cb, volt_module *m, volt_step *step) {
    ema_cb *e = self_of(cb);
    volt_checkpoint *ck = volt_step_checkpoint(step);
    if (!ck) return volt_error_set(VOLT_ERR_STATE, "EMA: on_save_checkpoint without a checkpoint");
    if (!matches(e, m)) return VOLT_OK; /* no average of this module yet */
    volt_status st = e->swapped ? swap(e, volt_module_parameters(m)) : VOLT_OK;
    for (int64_t i = 0; i < e->n && !st; i++) {
        char name[512];
        snprintf(name, sizeof name, EMA_PREFIX "%s", e->names[i]);
        st = volt_checkpoint_add_tensor(ck, name, e->ema[i]);
    }
    return st;
}

/* The error of a tensor volt_checkpoint_tensor could not give. */
static volt_status missing(volt_checkpoint *ck, const char *name) {
    volt_status st = volt_error_status();
    const char *path = volt_checkpoint_path(ck) ? volt_checkpoint_path(ck) : "?";
    if (st == VOLT_ERR_INVALID_ARGUMENT) { /* absent */
        volt_error_clear();
        return volt_error_set(st,
                              "EMA: checkpoint %s has no tensor '%s' (saved without the EMA "
                              "callback?)",
                              path, name);
    }
    return st ? st : volt_error_set(VOLT_ERR_IO, "EMA: cannot read '%s' from %s", name, path);
}

/* Reads "ema.<name>" for every parameter of m into the average (made for m
 * first if needed). */
static volt_status on_load_checkpoint(volt_callback *cb, volt_module *m, volt_step *step) {
    ema_cb *e = self_of(cb);
    volt_checkpoint *ck = volt_step_checkpoint(step);
    if (!ck) return volt_error_set(VOLT_ERR_STATE, "EMA: on_load_checkpoint without a checkpoint");
    if (e->swapped)
        return volt_error_set(VOLT_ERR_STATE, "EMA: checkpoint loaded while validating");
    volt_status st = matches(e, m) ? VOLT_OK : bind(e, m);
    volt_scope_begin();
    volt_no_grad_begin();
    for (int64_t i = 0; i < e->n && !st; i++) {
        char name[512];
        snprintf(name, sizeof name, EMA_PREFIX "%s", e->names[i]);
        volt_tensor *saved = volt_checkpoint_tensor(ck, name);
        if (!saved) {
            st = missing(ck, name);
        } else if (!same_shape(saved, e->ema[i])) {
            char a[64], b[64];
            st = volt_error_set(
                VOLT_ERR_SHAPE, "EMA: checkpoint tensor '%s' is %s, parameter is %s", name,
                volt_shape_str(saved, a, sizeof a), volt_shape_str(e->ema[i], b, sizeof b));
        } else if (!volt_copy_(e->ema[i], saved)) {
            st = volt_error_status();
        }
    }
    volt_no_grad_end();
    volt_scope_end();
    if (st) {
        release(e);
        return st;
    }
    e->ema_loaded = true;
    return VOLT_OK;
}

/* ------------------------------------------------------------------ state */

/* {"decay": shortest text that reads back, "update_every_n_steps": n,
 * "last_update_step": the global step of the last update} */
static char *state_dict(volt_callback *cb) {
    ema_cb *e = self_of(cb);
    char decay[32], buf[160];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(decay, sizeof decay, "%.*g", prec, e->opt.decay);
        if (strtod(decay, NULL) == e->opt.decay) break;
    }
    snprintf(buf, sizeof buf,
             "{\"decay\":%s,\"update_every_n_steps\":%lld,\"last_update_step\":%lld}", decay,
             (long long)e->opt.update_every_n_steps, (long long)e->last_update_step);
    return strdup(buf);
}

static volt_status load_state_dict(volt_callback *cb, const char *json) {
    ema_cb *e = self_of(cb);
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(o, "last_update_step");
    volt_status st = VOLT_OK;
    if (!cJSON_IsObject(o) || !cJSON_IsNumber(last) ||
        last->valuedouble != floor(last->valuedouble))
        st = volt_error_set(VOLT_ERR_FORMAT,
                            "EMA: state '%s' is not an object with an integer 'last_update_step'",
                            json ? json : "(null)");
    else
        e->last_update_step = (int64_t)last->valuedouble;
    cJSON_Delete(o);
    if (!st) e->state_loaded = true;
    return st;
}

static void ema_free(volt_callback *cb) {
    ema_cb *e = self_of(cb);
    release(e);
    free(e);
}

static const volt_callback_ops ema_ops = {
    .name = "EMA",
    .on_fit_start = on_fit_start,
    .on_train_start = on_train_start,
    .on_train_batch_end = on_train_batch_end,
    .on_validation_start = on_validation_start,
    .on_validation_end = on_validation_end,
    .on_save_checkpoint = on_save_checkpoint,
    .on_load_checkpoint = on_load_checkpoint,
    .on_exception = on_exception,
    .state_dict = state_dict,
    .load_state_dict = load_state_dict,
    .free = ema_free,
};

volt_ema_options volt_ema_defaults(void) {
    return (volt_ema_options){.decay = 0.999, .update_every_n_steps = 1};
}

volt_callback *volt_ema_new(const volt_ema_options *opt) {
    volt_ema_options o = opt ? *opt : volt_ema_defaults();
    if (!(o.decay >= 0 && o.decay <= 1)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "EMA: decay must be in [0, 1] (got %g)", o.decay);
        return NULL;
    }
    if (o.update_every_n_steps < 1) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "EMA: update_every_n_steps must be >= 1 (got %lld)",
                       (long long)o.update_every_n_steps);
        return NULL;
    }
    ema_cb *e = calloc(1, sizeof *e);
    if (!e) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "EMA: out of memory");
        return NULL;
    }
    e->base.ops = &ema_ops;
    e->opt = o;
    return &e->base;
}
