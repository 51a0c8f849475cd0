/* state_dict.c: a module's state as (dotted name, tensor) pairs, and loading
 * one back — strict (all or nothing) or not (with a report of the keys that
 * did not match). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct {
    volt_state_dict *sd;
    bool failed;
} collect_ctx;

static void count_entry(const char *name, volt_tensor *t, bool is_param, void *vctx) {
    (void)name, (void)t, (void)is_param;
    ((collect_ctx *)vctx)->sd->count++;
}

static void add_entry(const char *name, volt_tensor *t, bool is_param, void *vctx) {
    (void)is_param;
    collect_ctx *c = vctx;
    volt_state_dict *sd = c->sd;
    sd->names[sd->count] = strdup(name);
    sd->tensors[sd->count] = t;
    if (!sd->names[sd->count]) c->failed = true;
    sd->count++;
}

volt_state_dict *volt_module_state_dict(volt_module *m) {
    if (!m) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "state_dict: module is NULL");
        return NULL;
    }
    volt_state_dict *sd = calloc(1, sizeof *sd);
    collect_ctx c = {sd, false};
    if (sd) volt_module_visit(m, true, true, count_entry, &c);
    int64_t n = sd ? sd->count : 0;
    if (sd) {
        sd->names = calloc((size_t)n + 1, sizeof *sd->names);
        sd->tensors = calloc((size_t)n + 1, sizeof *sd->tensors);
        sd->count = 0;
    }
    if (sd && sd->names && sd->tensors) volt_module_visit(m, true, true, add_entry, &c);
    if (!sd || !sd->names || !sd->tensors || c.failed) {
        volt_state_dict_free(sd);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "state_dict: out of memory");
        return NULL;
    }
    return sd;
}

void volt_state_dict_free(volt_state_dict *sd) {
    if (!sd) return;
    for (int64_t i = 0; i < sd->count; i++) {
        if (sd->names) free(sd->names[i]);
        if (sd->owns_tensors && sd->tensors) volt_tensor_free(sd->tensors[i]);
    }
    free(sd->names);
    free(sd->tensors);
    free(sd);
}

volt_tensor *volt_state_dict_get(const volt_state_dict *sd, const char *name) {
    if (!sd || !name) return NULL;
    for (int64_t i = 0; i < sd->count; i++)
        if (sd->names[i] && strcmp(sd->names[i], name) == 0) return sd->tensors[i];
    return NULL;
}

void volt_load_report_free(volt_load_report *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n_missing; i++) free(r->missing[i]);
    for (int64_t i = 0; i < r->n_unexpected; i++) free(r->unexpected[i]);
    for (int64_t i = 0; i < r->n_mismatched; i++) free(r->mismatched[i]);
    free(r->missing);
    free(r->unexpected);
    free(r->mismatched);
    memset(r, 0, sizeof *r);
}

static bool same_shape(const volt_tensor *a, const volt_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

static bool report_push(char ***list, int64_t *n, const char *text) {
    char **grown = realloc(*list, (size_t)(*n + 1) * sizeof *grown);
    if (!grown) return false;
    *list = grown;
    if (!(grown[*n] = strdup(text))) return false;
    (*n)++;
    return true;
}

volt_status volt_module_load_state_dict(volt_module *m, const volt_state_dict *sd, bool strict,
                                        volt_load_report *report) {
    if (!m || !sd)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "load_state_dict: %s is NULL",
                              m ? "state dict" : "module");
    volt_state_dict *mine = volt_module_state_dict(m);
    if (!mine) return volt_error_status();
    volt_load_report local = {0};
    bool oom = false;
    /* Compare the two key sets first; nothing is written before that. */
    for (int64_t i = 0; i < mine->count && !oom; i++) {
        volt_tensor *src = volt_state_dict_get(sd, mine->names[i]);
        if (!src) {
            oom = !report_push(&local.missing, &local.n_missing, mine->names[i]);
        } else if (!same_shape(src, mine->tensors[i])) {
            char a[96], b[96], text[400];
            snprintf(text, sizeof text, "%s: %s in the dict, %s in the module", mine->names[i],
                     volt_shape_str(src, a, sizeof a),
                     volt_shape_str(mine->tensors[i], b, sizeof b));
            oom = !report_push(&local.mismatched, &local.n_mismatched, text);
        }
    }
    for (int64_t i = 0; i < sd->count && !oom; i++)
        if (!volt_state_dict_get(mine, sd->names[i]))
            oom = !report_push(&local.unexpected, &local.n_unexpected, sd->names[i]);
    volt_status st = VOLT_OK;
    const char *owner = m->name ? m->name : (m->cls ? m->cls->type_name : "module");
    if (oom) {
        st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "load_state_dict: out of memory");
    } else if (strict && (local.n_missing || local.n_unexpected || local.n_mismatched)) {
        st = volt_error_set(
            VOLT_ERR_FORMAT,
            "load_state_dict: the state dict does not match %s: %lld missing key(s)%s%s, %lld "
            "unexpected key(s)%s%s, %lld shape mismatch(es)%s%s",
            owner, (long long)local.n_missing, local.n_missing ? ", first " : "",
            local.n_missing ? local.missing[0] : "", (long long)local.n_unexpected,
            local.n_unexpected ? ", first " : "", local.n_unexpected ? local.unexpected[0] : "",
            (long long)local.n_mismatched, local.n_mismatched ? ", first " : "",
            local.n_mismatched ? local.mismatched[0] : "");
    } else {
        VOLT_NO_GRAD {
            for (int64_t i = 0; i < mine->count && st == VOLT_OK; i++) {
                volt_tensor *src = volt_state_dict_get(sd, mine->names[i]);
                if (src && same_shape(src, mine->tensors[i]) && !volt_copy_(mine->tensors[i], src))
                    st = volt_error_status();
            }
        }
    }
    volt_state_dict_free(mine);
    if (report && st == VOLT_OK)
        *report = local;
    else
        volt_load_report_free(&local);
    return st;
}
