/* checkpoint_state.c: the parts of a checkpoint file that the trainer's
 * save and restore (checkpoint_save.c, checkpoint_restore.c) and Fabric's
 * (fabric_save.c, fabric_load.c) share — integer and JSON metadata, the
 * module's tensors and hyperparameters, the optimizers' state with their
 * tensors named by parameter and their schedulers, and the way back. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train/train_impl.h"

static volt_status oom(const char *op) {
    return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
}

/* ------------------------------------------------------------------ save */

volt_status volt_checkpoint_put_int(volt_checkpoint *ck, const char *key, int64_t v) {
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    return volt_checkpoint_put_meta(ck, key, text);
}

volt_status volt_checkpoint_put_json(volt_checkpoint *ck, const char *key, cJSON *v,
                                     const char *op) {
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);
    if (!text) return oom(op);
    volt_status st = volt_checkpoint_put_meta(ck, key, text);
    cJSON_free(text);
    return st;
}

volt_status volt_checkpoint_put_module(volt_checkpoint *ck, volt_module *m) {
    volt_state_dict *sd = volt_module_state_dict(m);
    if (!sd) return volt_error_status();
    volt_status st = VOLT_OK;
    char name[600];
    for (int64_t i = 0; i < sd->count && !st; i++) {
        snprintf(name, sizeof name, "state_dict.%s", sd->names[i]);
        st = volt_checkpoint_put(ck, name, sd->tensors[i]);
    }
    volt_state_dict_free(sd); /* not the tensors: the module's own */
    return st;
}

volt_status volt_checkpoint_put_hparams(volt_checkpoint *ck, const volt_module *m, const char *op) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < volt_module_hparam_count(m); i++) {
        const char *text = volt_module_hparam_text(m, i);
        cJSON *v = volt_module_hparam_type(m, i) == VOLT_HPARAM_STRING ? cJSON_CreateString(text)
                                                                       : cJSON_CreateRaw(text);
        if (!v || !cJSON_AddItemToObject(o, volt_module_hparam_name(m, i), v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return oom(op);
        }
    }
    return volt_checkpoint_put_json(ck, "hparams", o, op);
}

/* The dotted name of parameter p in the module, or NULL. */
static const char *param_name(const volt_params *mp, const volt_tensor *p) {
    for (int64_t i = 0; i < mp->count; i++)
        if (mp->tensors[i] == p) return mp->names[i];
    return NULL;
}

/* "state.<j>.<slot>" of optimizer i -> "optimizer.<i>.<param name>.<slot>",
 * its JSON appended to list. z: zero1's sharding of opt (the state is then
 * gathered unsharded), or NULL. */
static volt_status put_optimizer(volt_checkpoint *ck, volt_module *m, int i, volt_optimizer *opt,
                                 volt_zero1 *z, cJSON *list, const char *op) {
    char *json = NULL;
    volt_state_dict *sd =
        z ? volt_zero1_state_dict(z, &json) : volt_optimizer_state_dict(opt, &json);
    if (!sd) return volt_error_status();
    cJSON *v = cJSON_Parse(json);
    free(json);
    volt_status st = v && cJSON_AddItemToArray(list, v) ? VOLT_OK : oom(op);
    if (st) cJSON_Delete(v);
    volt_params mp = volt_module_parameters(m), ps = volt_optimizer_params(opt);
    char name[640];
    for (int64_t k = 0; k < sd->count && !st; k++) {
        long long j;
        int used = 0;
        if (sscanf(sd->names[k], "state.%lld.%n", &j, &used) != 1 || used == 0 || j < 0 ||
            j >= ps.count) {
            st = volt_error_set(VOLT_ERR_INTERNAL, "%s: optimizer state name '%s'", op,
                                sd->names[k]);
            break;
        }
        const char *pn = param_name(&mp, ps.tensors[j]);
        if (pn)
            snprintf(name, sizeof name, "optimizer.%d.%s.%s", i, pn, sd->names[k] + used);
        else
            snprintf(name, sizeof name, "optimizer.%d.%lld.%s", i, j, sd->names[k] + used);
        st = volt_checkpoint_put(ck, name, sd->tensors[k]);
    }
    volt_state_dict_free(sd); /* the tensors stay valid: see volt_checkpoint_put_optimizers */
    return st;
}

/* A scheduler's state (null without one) appended to list. */
static volt_status put_scheduler(volt_lr_scheduler *sched, cJSON *list, const char *op) {
    cJSON *s = NULL;
    if (sched) {
        char *text = volt_lr_scheduler_state_dict(sched);
        s = text ? cJSON_Parse(text) : NULL;
        free(text);
        if (!s) return volt_error_status() ? volt_error_status() : oom(op);
    } else if (!(s = cJSON_CreateNull())) {
        return oom(op);
    }
    if (cJSON_AddItemToArray(list, s)) return VOLT_OK;
    cJSON_Delete(s);
    return oom(op);
}

volt_status volt_checkpoint_put_optimizers(volt_checkpoint *ck, volt_module *m, int n,
                                           volt_optimizer *const *opts,
                                           volt_lr_scheduler *const *scheds, volt_zero1 *z,
                                           const char *op) {
    cJSON *opts_json = cJSON_CreateArray(), *scheds_json = cJSON_CreateArray();
    volt_status st = opts_json && scheds_json ? VOLT_OK : oom(op);
    for (int i = 0; i < n && !st; i++) {
        volt_zero1 *zi = z && volt_zero1_optimizer(z) == opts[i] ? z : NULL;
        st = put_optimizer(ck, m, i, opts[i], zi, opts_json, op);
        if (!st) st = put_scheduler(scheds ? scheds[i] : NULL, scheds_json, op);
    }
    if (st) {
        cJSON_Delete(opts_json);
        cJSON_Delete(scheds_json);
        return st;
    }
    st = volt_checkpoint_put_json(ck, "optimizers", opts_json, op);
    if (st) {
        cJSON_Delete(scheds_json);
        return st;
    }
    return volt_checkpoint_put_json(ck, "lr_schedulers", scheds_json, op);
}

/* --------------------------------------------------------------- restore */

/* The index in `ps` (the optimizer's parameters) of the one named by the
 * `len` characters at `name`: its dotted name in the module (mp), or its
 * index when the module does not hold it; -1 if none. */
static int64_t find_param(const volt_params *mp, const volt_params *ps, const char *name,
                          size_t len) {
    for (int64_t q = 0; q < ps->count; q++) {
        const char *pn = param_name(mp, ps->tensors[q]);
        char own[32];
        if (!pn) snprintf(own, sizeof own, "%" PRId64, q), pn = own;
        if (strlen(pn) == len && strncmp(pn, name, len) == 0) return q;
    }
    return -1;
}

/* Optimizer i's tensors "optimizer.<i>.<param>.<slot>" as "state.<j>.<slot>"
 * into out (room for every tensor of the file; it owns what it gets). */
static volt_status optimizer_tensors(volt_checkpoint *ck, volt_module *m, int i,
                                     volt_optimizer *opt, volt_state_dict *out) {
    volt_safetensors *file = volt_checkpoint_file(ck);
    volt_params mp = volt_module_parameters(m), ps = volt_optimizer_params(opt);
    char prefix[32], name[640];
    snprintf(prefix, sizeof prefix, "optimizer.%d.", i);
    size_t pl = strlen(prefix);
    for (int k = 0; k < volt_safetensors_count(file); k++) {
        const char *n = volt_safetensors_name(file, k);
        if (strncmp(n, prefix, pl) != 0) continue;
        const char *rest = n + pl, *dot = strrchr(rest, '.');
        int64_t j = dot ? find_param(&mp, &ps, rest, (size_t)(dot - rest)) : -1;
        if (j < 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "'%s' names no parameter of optimizer %d (%s)", n, i,
                                  volt_optimizer_name(opt));
        volt_tensor *v = volt_safetensors_get(file, n);
        if (!v) return volt_error_status();
        snprintf(name, sizeof name, "state.%" PRId64 ".%s", j, dot + 1);
        out->tensors[out->count] = volt_persist(v);
        if (!(out->names[out->count++] = strdup(name))) return oom("checkpoint");
    }
    return VOLT_OK;
}

volt_status volt_checkpoint_load_optimizer(volt_checkpoint *ck, volt_module *m, int i,
                                           volt_optimizer *opt, cJSON *json, const volt_zero1 *z) {
    int n = volt_safetensors_count(volt_checkpoint_file(ck));
    volt_state_dict sd = {.owns_tensors = true};
    sd.names = calloc((size_t)n + 1, sizeof *sd.names);
    sd.tensors = calloc((size_t)n + 1, sizeof *sd.tensors);
    volt_status st =
        sd.names && sd.tensors ? optimizer_tensors(ck, m, i, opt, &sd) : oom("checkpoint");
    /* zero1: this rank's shard of the (always unsharded) state */
    if (!st && z && volt_zero1_optimizer(z) == opt) st = volt_zero1_keep_owned(z, &sd, json);
    char *text = st ? NULL : cJSON_PrintUnformatted(json);
    if (!st && !text) st = oom("checkpoint");
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

volt_status volt_checkpoint_load_scheduler(volt_lr_scheduler *sched, const cJSON *json) {
    char *text = cJSON_PrintUnformatted(json);
    volt_status st = text ? volt_lr_scheduler_load_state_dict(sched, text) : oom("checkpoint");
    cJSON_free(text);
    return st;
}
