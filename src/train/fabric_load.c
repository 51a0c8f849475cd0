/* fabric_load.c: volt_fabric_load — a checkpoint (volt_fabric_save's or
 * the trainer's) read on every rank into a module, its optimizers and
 * schedulers and two counters, with every rank learning the outcome. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train/fabric_impl.h"

#define OP "fabric: load"

static volt_status check_args(const char *path, const volt_fabric_state *s) {
    if (!path || !*path)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": NULL or empty path");
    if (!s || !s->module)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %s: no state or no module", path);
    if (s->n_optimizers < 0 || (s->n_optimizers > 0 && !s->optimizers))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              OP ": %s: n_optimizers = %d without an optimizers array", path,
                              s->n_optimizers);
    for (int i = 0; i < s->n_optimizers; i++)
        if (!s->optimizers[i])
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %s: optimizer %d is NULL", path,
                                  i);
    return VOLT_OK;
}

static volt_status load_module(volt_checkpoint *ck, volt_module *m) {
    volt_state_dict *sd = volt_checkpoint_state_dict(ck);
    volt_status st = sd ? volt_module_load_state_dict(m, sd, true, NULL) : volt_error_status();
    volt_state_dict_free(sd);
    return st;
}

/* The index in `op` of the parameter named `name` (its dotted name in the
 * module, or its index when the module does not hold it); -1 if none. */
static int64_t find_param(volt_params mp, volt_params op, const char *name, size_t len) {
    for (int64_t q = 0; q < op.count; q++) {
        const char *pn = NULL;
        for (int64_t r = 0; r < mp.count && !pn; r++)
            if (mp.tensors[r] == op.tensors[q]) pn = mp.names[r];
        char own[32];
        if (!pn) snprintf(own, sizeof own, "%" PRId64, q), pn = own;
        if (strlen(pn) == len && strncmp(pn, name, len) == 0) return q;
    }
    return -1;
}

/* Optimizer i's tensors "optimizer.<i>.<param>.<slot>" as
 * "state.<j>.<slot>" into sd (room for every tensor of the file). */
static volt_status optimizer_tensors(volt_checkpoint *ck, volt_module *m, int i,
                                     volt_optimizer *opt, volt_state_dict *sd) {
    volt_safetensors *file = volt_checkpoint_file(ck);
    volt_params mp = volt_module_parameters(m), op = volt_optimizer_params(opt);
    char prefix[32], name[640];
    snprintf(prefix, sizeof prefix, "optimizer.%d.", i);
    size_t pl = strlen(prefix);
    for (int k = 0; k < volt_safetensors_count(file); k++) {
        const char *n = volt_safetensors_name(file, k);
        if (strncmp(n, prefix, pl) != 0) continue;
        const char *rest = n + pl, *dot = strrchr(rest, '.');
        int64_t j = dot ? find_param(mp, op, rest, (size_t)(dot - rest)) : -1;
        if (j < 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "'%s' names no parameter of optimizer %d (%s)", n, i,
                                  volt_optimizer_name(opt));
        volt_tensor *v = volt_safetensors_get(file, n);
        if (!v) return volt_error_status();
        snprintf(name, sizeof name, "state.%" PRId64 ".%s", j, dot + 1);
        sd->tensors[sd->count] = volt_persist(v);
        if (!(sd->names[sd->count++] = strdup(name)))
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    }
    return VOLT_OK;
}

static volt_status load_optimizer(volt_checkpoint *ck, volt_module *m, int i, volt_optimizer *opt,
                                  const cJSON *json) {
    int n = volt_safetensors_count(volt_checkpoint_file(ck));
    volt_state_dict sd = {.owns_tensors = true};
    sd.names = calloc((size_t)n + 1, sizeof *sd.names);
    sd.tensors = calloc((size_t)n + 1, sizeof *sd.tensors);
    char *text = cJSON_PrintUnformatted(json);
    volt_status st = sd.names && sd.tensors && text
                         ? optimizer_tensors(ck, m, i, opt, &sd)
                         : volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    if (!st) st = volt_optimizer_load_state_dict(opt, &sd, text);
    cJSON_free(text);
    for (int64_t k = 0; k < sd.count; k++) {
        free(sd.names[k]);
        volt_tensor_free(sd.tensors[k]);
    }
    free(sd.names);
    free(sd.tensors);
    return st;
}

static volt_status load_scheduler(volt_lr_scheduler *sched, int i, const cJSON *json) {
    if (!json || cJSON_IsNull(json))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "optimizer %d has no scheduler state in the checkpoint, but a "
                              "scheduler was given",
                              i);
    char *text = cJSON_PrintUnformatted(json);
    volt_status st = text ? volt_lr_scheduler_load_state_dict(sched, text)
                          : volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    cJSON_free(text);
    return st;
}

static volt_status load_optimizers(volt_checkpoint *ck, volt_fabric_state *s) {
    if (s->n_optimizers == 0) return VOLT_OK;
    cJSON *opts = cJSON_Parse(volt_checkpoint_meta(ck, "optimizers"));
    cJSON *scheds = cJSON_Parse(volt_checkpoint_meta(ck, "lr_schedulers"));
    volt_status st = VOLT_OK;
    int have = cJSON_IsArray(opts) ? cJSON_GetArraySize(opts) : 0;
    if (have < s->n_optimizers)
        st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                            "it holds the state of %d optimizers; %d given", have, s->n_optimizers);
    for (int i = 0; i < s->n_optimizers && !st; i++) {
        st = load_optimizer(ck, s->module, i, s->optimizers[i], cJSON_GetArrayItem(opts, i));
        volt_lr_scheduler *sched = s->schedulers ? s->schedulers[i] : NULL;
        if (!st && sched) st = load_scheduler(sched, i, cJSON_GetArrayItem(scheds, i));
    }
    cJSON_Delete(opts);
    cJSON_Delete(scheds);
    return st;
}

/* This rank's part. */
static volt_status load_file(const char *path, volt_fabric_state *s, char **extra_json) {
    volt_checkpoint *ck = volt_checkpoint_open(path);
    if (!ck) return volt_error_prefix(volt_error_status(), OP);
    volt_status st = load_module(ck, s->module);
    if (!st) st = load_optimizers(ck, s);
    if (!st && extra_json) {
        const char *extra = volt_checkpoint_meta(ck, "fabric");
        if (!(*extra_json = strdup(extra ? extra : "{}")))
            st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    }
    if (!st) {
        s->epoch = volt_checkpoint_epoch(ck);
        s->step = volt_checkpoint_global_step(ck);
    }
    volt_checkpoint_close(ck);
    return st ? volt_error_prefix(st, OP ": checkpoint %s", path) : VOLT_OK;
}

volt_status volt_fabric_load(volt_fabric *f, const char *path, volt_fabric_state *state,
                             char **extra_json) {
    if (extra_json) *extra_json = NULL;
    volt_status st = volt_fabric_need_launch(f, "load");
    if (st) return st;
    st = check_args(path, state);
    if (!st) st = load_file(path, state, extra_json);
    st = volt_fabric_share_outcome(f, st, "load", VOLT_ERR_IO);
    if (st && extra_json) {
        free(*extra_json);
        *extra_json = NULL;
    }
    return st;
}
