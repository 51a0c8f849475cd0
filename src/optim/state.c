/* state.c: an optimizer's state for checkpoints — its slots as named tensors
 * ("state.<param index>.<slot>", a 16-bit parameter's compensation among
 * them) plus a JSON document of the groups'
 * hyperparameters, the parameters' shapes and step counts; and loading it
 * back after checking everything first, so that a refused load changes
 * nothing and an accepted one resumes bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"

#define FORMAT "volt-optimizer-1"

/* ------------------------------------------------------------------ save */

static cJSON *shape_json(const volt_tensor *t) {
    cJSON *a = cJSON_CreateArray();
    for (int d = 0; a && d < t->ndim; d++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)t->shape[d]));
    return a;
}

static cJSON *group_json(const volt_optimizer *opt, const volt_optim_group *g) {
    cJSON *obj = cJSON_CreateObject();
    if (!obj) return NULL;
    for (const volt_optim_field *f = opt->cls->fields; f->key; f++) {
        const char *at = (const char *)&g->hp + f->offset;
        if (f->kind == VOLT_FIELD_BOOL) {
            cJSON_AddBoolToObject(obj, f->key, *(const bool *)at);
        } else if (f->kind == VOLT_FIELD_BETAS) {
            cJSON *b = cJSON_AddArrayToObject(obj, f->key);
            cJSON_AddItemToArray(b, volt_json_number(g->hp.beta1));
            cJSON_AddItemToArray(b, volt_json_number(g->hp.beta2));
        } else {
            volt_json_add_number(obj, f->key, *(const double *)at);
        }
    }
    if (!isnan(g->initial_lr)) volt_json_add_number(obj, "initial_lr", g->initial_lr);
    cJSON *params = cJSON_AddArrayToObject(obj, "params");
    cJSON *shapes = cJSON_AddArrayToObject(obj, "shapes");
    for (int64_t i = g->first; i < g->first + g->count; i++) {
        cJSON_AddItemToArray(params, cJSON_CreateNumber((double)i));
        cJSON_AddItemToArray(shapes, shape_json(opt->params[i]));
    }
    return obj;
}

static bool slot_saved(const volt_optim_pstate *st, int s) {
    return st->slot[s] && !(st->fresh & (1u << s));
}

volt_state_dict *volt_optim_state_dict(volt_optimizer *opt, char **json) {
    const volt_optim_class *cls = opt->cls;
    volt_state_dict *sd = calloc(1, sizeof *sd);
    cJSON *root = cJSON_CreateObject();
    int64_t n = 0;
    for (int64_t i = 0; i < opt->n_params; i++)
        for (int s = 0; s < volt_optim_n_state(cls); s++) n += slot_saved(&opt->state[i], s);
    if (sd) {
        sd->names = calloc((size_t)n + 1, sizeof *sd->names);
        sd->tensors = calloc((size_t)n + 1, sizeof *sd->tensors);
    }
    bool ok = sd && root && sd->names && sd->tensors;
    if (ok) {
        cJSON_AddStringToObject(root, "format", FORMAT);
        cJSON_AddStringToObject(root, "type", cls->name);
        volt_json_add_number(root, "step_count", (double)opt->step_count);
        cJSON *groups = cJSON_AddArrayToObject(root, "param_groups");
        for (int g = 0; g < opt->n_groups; g++)
            cJSON_AddItemToArray(groups, group_json(opt, &opt->groups[g]));
        cJSON *state = cJSON_AddObjectToObject(root, "state");
        for (int64_t i = 0; i < opt->n_params; i++) {
            const volt_optim_pstate *st = &opt->state[i];
            if (st->step == 0) continue;
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)i);
            cJSON *entry = cJSON_AddObjectToObject(state, key);
            volt_json_add_number(entry, "step", (double)st->step);
        }
        for (int64_t i = 0; ok && i < opt->n_params; i++)
            for (int s = 0; ok && s < volt_optim_n_state(cls); s++) {
                if (!slot_saved(&opt->state[i], s)) continue;
                char name[96];
                snprintf(name, sizeof name, "state.%lld.%s", (long long)i,
                         volt_optim_state_name(cls, s));
                sd->names[sd->count] = strdup(name);
                sd->tensors[sd->count] = opt->state[i].slot[s];
                ok = sd->names[sd->count++] != NULL;
            }
    }
    *json = ok ? volt_json_print(root) : NULL;
    cJSON_Delete(root);
    if (!*json) {
        volt_state_dict_free(sd);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: state_dict: out of memory", cls->name);
        return NULL;
    }
    return sd;
}

/* ------------------------------------------------------------------ load */

typedef struct {
    volt_optimizer *opt;
    const char *name;
    volt_optim_hparams *hp;                      /* per group */
    double *initial_lr;                          /* per group */
    int64_t *step;                               /* per parameter */
    volt_tensor *(*slots)[VOLT_OPTIM_MAX_STATE]; /* per parameter: the dict's tensors */
    int64_t step_count;
} load_plan;

static bool fail(const load_plan *p, volt_status st, const char *what) {
    volt_error_set(st, "%s: load_state_dict: %s", p->name, what);
    return false;
}

static bool shape_matches(const cJSON *shape, const volt_tensor *t) {
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != t->ndim) return false;
    for (int d = 0; d < t->ndim; d++) {
        int64_t v;
        if (!volt_json_get_int(cJSON_GetArrayItem(shape, d), &v) || v != t->shape[d]) return false;
    }
    return true;
}

static bool read_hparams(load_plan *p, int g, const cJSON *obj) {
    char msg[256], who[96];
    volt_optim_hparams *hp = &p->hp[g];
    *hp = p->opt->groups[g].hp;
    for (const volt_optim_field *f = p->opt->cls->fields; f->key; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->key);
        char *at = (char *)hp + f->offset;
        bool ok;
        if (f->kind == VOLT_FIELD_BOOL) {
            ok = cJSON_IsBool(v);
            if (ok) *(bool *)at = cJSON_IsTrue(v);
        } else if (f->kind == VOLT_FIELD_BETAS) {
            ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 &&
                 volt_json_get_number(cJSON_GetArrayItem(v, 0), &hp->beta1) &&
                 volt_json_get_number(cJSON_GetArrayItem(v, 1), &hp->beta2);
        } else {
            ok = volt_json_get_number(v, (double *)at);
        }
        if (!ok) {
            snprintf(msg, sizeof msg, "param group %d: '%s' is %s", g, f->key,
                     v ? "not what it should be" : "missing");
            return fail(p, VOLT_ERR_FORMAT, msg);
        }
    }
    p->initial_lr[g] = NAN;
    const cJSON *ilr = cJSON_GetObjectItemCaseSensitive(obj, "initial_lr");
    if (ilr && !volt_json_get_number(ilr, &p->initial_lr[g])) {
        snprintf(msg, sizeof msg, "param group %d: 'initial_lr' is not a number", g);
        return fail(p, VOLT_ERR_FORMAT, msg);
    }
    snprintf(who, sizeof who, "%s: load_state_dict: param group %d", p->name, g);
    if (!isfinite(hp->lr)) { /* a scheduler may have left it just below 0, as in PyTorch */
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: invalid lr %g (must be finite)", who,
                       hp->lr);
        return false;
    }
    return p->opt->cls->validate(who, hp);
}

static bool read_group(load_plan *p, int g, const cJSON *obj) {
    const volt_optim_group *grp = &p->opt->groups[g];
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(obj, "params");
    const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(obj, "shapes");
    char msg[320];
    if (!cJSON_IsArray(params) || !cJSON_IsArray(shapes) ||
        cJSON_GetArraySize(params) != cJSON_GetArraySize(shapes)) {
        snprintf(msg, sizeof msg, "param group %d: 'params' and 'shapes' missing or unequal", g);
        return fail(p, VOLT_ERR_FORMAT, msg);
    }
    if (cJSON_GetArraySize(params) != grp->count) {
        snprintf(msg, sizeof msg, "param group %d has %d parameters in the state, %lld here", g,
                 cJSON_GetArraySize(params), (long long)grp->count);
        return fail(p, VOLT_ERR_SHAPE, msg);
    }
    for (int64_t k = 0; k < grp->count; k++) {
        const volt_tensor *t = p->opt->params[grp->first + k];
        const cJSON *shape = cJSON_GetArrayItem(shapes, (int)k);
        if (!shape_matches(shape, t)) {
            char here[96], *there = cJSON_PrintUnformatted(shape);
            snprintf(msg, sizeof msg,
                     "parameter %lld (group %d) has shape %s in the state, %s here",
                     (long long)(grp->first + k), g, there ? there : "?",
                     volt_shape_str(t, here, sizeof here));
            cJSON_free(there);
            return fail(p, VOLT_ERR_SHAPE, msg);
        }
    }
    return read_hparams(p, g, obj);
}

static bool read_steps(load_plan *p, const cJSON *root) {
    char msg[256];
    if (!volt_json_get_int(cJSON_GetObjectItemCaseSensitive(root, "step_count"), &p->step_count) ||
        p->step_count < 0)
        return fail(p, VOLT_ERR_FORMAT, "'step_count' missing or not a count");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "state");
    if (!cJSON_IsObject(state)) return fail(p, VOLT_ERR_FORMAT, "'state' missing");
    const cJSON *e;
    cJSON_ArrayForEach(e, state) {
        char *end;
        long long i = strtoll(e->string, &end, 10);
        int64_t step;
        if (*end || end == e->string || i < 0 || i >= p->opt->n_params) {
            snprintf(msg, sizeof msg,
                     "state of parameter '%s', which this optimizer lacks (%lld "
                     "parameters)",
                     e->string, (long long)p->opt->n_params);
            return fail(p, VOLT_ERR_SHAPE, msg);
        }
        if (!volt_json_get_int(cJSON_GetObjectItemCaseSensitive(e, "step"), &step) || step < 1) {
            snprintf(msg, sizeof msg, "state of parameter %lld: 'step' missing or not >= 1", i);
            return fail(p, VOLT_ERR_FORMAT, msg);
        }
        p->step[i] = step;
    }
    return true;
}

static bool read_tensors(load_plan *p, const volt_state_dict *sd) {
    const volt_optim_class *cls = p->opt->cls;
    char msg[384];
    for (int64_t k = 0; sd && k < sd->count; k++) {
        const char *name = sd->names[k];
        const volt_tensor *t = sd->tensors[k];
        long long i = -1;
        int off = 0, s = -1;
        if (name && sscanf(name, "state.%lld.%n", &i, &off) == 1 && off > 0)
            for (int j = 0; j < volt_optim_n_state(cls); j++)
                if (strcmp(name + off, volt_optim_state_name(cls, j)) == 0) s = j;
        if (s < 0 || i < 0 || i >= p->opt->n_params) {
            snprintf(msg, sizeof msg,
                     "unexpected tensor '%s' (a %s state has state.<i>.<slot> "
                     "for i < %lld)",
                     name ? name : "(null)", cls->name, (long long)p->opt->n_params);
            return fail(p, VOLT_ERR_INVALID_ARGUMENT, msg);
        }
        const volt_tensor *param = p->opt->params[i];
        char ts[96] = "NULL", ps[96];
        bool comp = s == cls->n_slots, narrow = volt_dtype_is_16bit(param->dtype);
        bool same =
            t && t->ndim == param->ndim && volt_dtype_is_float(t->dtype) && (!comp || narrow);
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == param->shape[d];
        if (!same || p->slots[i][s] || p->step[i] == 0) {
            if (t) volt_shape_str(t, ts, sizeof ts);
            volt_shape_str(param, ps, sizeof ps);
            snprintf(msg, sizeof msg, "tensor '%s' %s %s", name, ts,
                     !same            ? "does not match its parameter"
                     : p->slots[i][s] ? "appears twice"
                                      : "has no step count");
            if (!same) snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " %s", ps);
            if (!same && comp && !narrow)
                snprintf(msg + strlen(msg), sizeof msg - strlen(msg),
                         " (only 16-bit ones have one)");
            return fail(p, VOLT_ERR_SHAPE, msg);
        }
        if (comp && !p->opt->compensated) continue; /* dropped: compensated updates are off */
        p->slots[i][s] = (volt_tensor *)t;
    }
    for (int g = 0; g < p->opt->n_groups; g++) {
        const volt_optim_group *grp = &p->opt->groups[g];
        for (int64_t i = grp->first; i < grp->first + grp->count; i++)
            for (int s = 0; p->step[i] > 0 && s < cls->n_slots; s++)
                if (cls->slot_used(&p->hp[g], s) && !p->slots[i][s]) {
                    snprintf(msg, sizeof msg, "the state of parameter %lld lacks state.%lld.%s",
                             (long long)i, (long long)i, cls->slot_names[s]);
                    return fail(p, VOLT_ERR_INVALID_ARGUMENT, msg);
                }
    }
    return true;
}

static bool check(load_plan *p, const volt_state_dict *sd, const char *json) {
    char msg[256];
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        snprintf(msg, sizeof msg, "the JSON does not parse (near '%.24s')", at ? at : "");
        return fail(p, VOLT_ERR_FORMAT, msg);
    }
    bool ok = true;
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "param_groups");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, FORMAT) != 0) {
        snprintf(msg, sizeof msg, "unknown format '%s' (expected %s)",
                 cJSON_IsString(format) ? format->valuestring : "", FORMAT);
        ok = fail(p, VOLT_ERR_FORMAT, msg);
    } else if (!cJSON_IsString(type) || strcmp(type->valuestring, p->name) != 0) {
        snprintf(msg, sizeof msg, "state type '%s' does not match this optimizer '%s'",
                 cJSON_IsString(type) ? type->valuestring : "?", p->name);
        ok = fail(p, VOLT_ERR_INVALID_ARGUMENT, msg);
    } else if (!cJSON_IsArray(groups) || cJSON_GetArraySize(groups) != p->opt->n_groups) {
        snprintf(msg, sizeof msg, "%d param groups in the state, %d here",
                 cJSON_IsArray(groups) ? cJSON_GetArraySize(groups) : 0, p->opt->n_groups);
        ok = fail(p, VOLT_ERR_SHAPE, msg);
    }
    for (int g = 0; ok && g < p->opt->n_groups; g++)
        ok = read_group(p, g, cJSON_GetArrayItem(groups, g));
    ok = ok && read_steps(p, root) && read_tensors(p, sd);
    cJSON_Delete(root);
    return ok;
}

/* A copy of slot t in param's dtype on param's device (never a view of t);
 * the conversion runs where the data is on the CPU. */
static volt_tensor *slot_copy(const volt_tensor *t, const volt_tensor *param) {
    volt_scope_begin();
    const volt_tensor *c = t;
    bool same_device = volt_device_equal(c->device, param->device);
    if (c->device.type == VOLT_CPU || same_device) {
        c = volt_to_dtype(c, param->dtype);
        if (c && !same_device) c = volt_to_device(c, param->device);
    } else {
        c = volt_to_device(c, param->device);
        if (c) c = volt_to_dtype(c, param->dtype);
    }
    volt_tensor *kept = c ? volt_persist((volt_tensor *)c) : NULL;
    volt_scope_end();
    return kept;
}

/* Copies of the dict's tensors in the parameters' dtypes, on their devices;
 * false (all freed) on failure. */
static bool copy_slots(load_plan *p, volt_tensor *(*copies)[VOLT_OPTIM_MAX_STATE]) {
    bool ok = true;
    volt_no_grad_begin();
    for (int64_t i = 0; ok && i < p->opt->n_params; i++)
        for (int s = 0; ok && s < VOLT_OPTIM_MAX_STATE; s++) {
            if (!p->slots[i][s]) continue;
            copies[i][s] = slot_copy(p->slots[i][s], p->opt->params[i]);
            ok = copies[i][s] != NULL;
        }
    volt_no_grad_end();
    if (!ok)
        for (int64_t i = 0; i < p->opt->n_params; i++)
            for (int s = 0; s < VOLT_OPTIM_MAX_STATE; s++) volt_tensor_free(copies[i][s]);
    return ok;
}

volt_status volt_optim_load_state_dict(volt_optimizer *opt, const volt_state_dict *sd,
                                       const char *json) {
    load_plan p = {.opt = opt, .name = opt->cls->name};
    size_t ng = (size_t)opt->n_groups, np = (size_t)opt->n_params;
    p.hp = calloc(ng, sizeof *p.hp);
    p.initial_lr = calloc(ng, sizeof *p.initial_lr);
    p.step = calloc(np, sizeof *p.step);
    p.slots = calloc(np, sizeof *p.slots);
    volt_tensor *(*copies)[VOLT_OPTIM_MAX_STATE] = calloc(np, sizeof *copies);
    volt_status st = VOLT_OK;
    if (!p.hp || !p.initial_lr || !p.step || !p.slots || !copies)
        st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: load_state_dict: out of memory", p.name);
    else if (!check(&p, sd, json) || !copy_slots(&p, copies))
        st = volt_error_status();
    if (st == VOLT_OK) {
        for (int64_t i = 0; i < opt->n_params; i++) {
            volt_optim_clear_state(opt, i);
            memcpy(opt->state[i].slot, copies[i], sizeof copies[i]);
            opt->state[i].step = p.step[i];
        }
        for (int g = 0; g < opt->n_groups; g++) {
            opt->groups[g].hp = p.hp[g];
            opt->groups[g].initial_lr = p.initial_lr[g];
        }
        opt->step_count = p.step_count;
    }
    free(p.hp);
    free(p.initial_lr);
    free(p.step);
    free(p.slots);
    free(copies);
    return st;
}
