/* fabric_save.c: volt_fabric_save — a module, its optimizers and schedulers,
 * two counters and user values as one checkpoint file in the trainer's
 * format (checkpoint.c writes it: checksum, atomic write), written by rank 0
 * with every rank learning the outcome. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io/io_impl.h"
#include "train/fabric_impl.h"

#define OP "fabric: save"

static volt_status oom(void) {
    return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
}

/* What every rank checks before rank 0 writes. */
static volt_status check_state(const char *path, const volt_fabric_state *s) {
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
    if (s->extra_json) {
        cJSON *v = cJSON_Parse(s->extra_json);
        bool object = cJSON_IsObject(v);
        cJSON_Delete(v);
        if (!object)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  OP ": %s: extra_json is not a JSON object: %.60s", path,
                                  s->extra_json);
    }
    return VOLT_OK;
}

/* Puts v (freed) as the JSON text of metadata `key`. */
static volt_status put_json(volt_checkpoint *ck, const char *key, cJSON *v) {
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);
    if (!text) return oom();
    volt_status st = volt_checkpoint_put_meta(ck, key, text);
    cJSON_free(text);
    return st;
}

static volt_status put_int(volt_checkpoint *ck, const char *key, int64_t v) {
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    return volt_checkpoint_put_meta(ck, key, text);
}

static volt_status put_hparams(volt_checkpoint *ck, const volt_module *m) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < volt_module_hparam_count(m); i++) {
        const char *text = volt_module_hparam_text(m, i);
        cJSON *v = volt_module_hparam_type(m, i) == VOLT_HPARAM_STRING ? cJSON_CreateString(text)
                                                                       : cJSON_CreateRaw(text);
        if (!v || !cJSON_AddItemToObject(o, volt_module_hparam_name(m, i), v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return oom();
        }
    }
    return put_json(ck, "hparams", o);
}

/* Tensors put by reference, kept alive until the write: the state dicts. */
typedef struct {
    volt_state_dict *sds[64];
    int n;
} held;

static volt_status put_module(volt_checkpoint *ck, volt_module *m, held *h) {
    volt_state_dict *sd = volt_module_state_dict(m);
    if (!sd) return volt_error_status();
    h->sds[h->n++] = sd;
    char name[512];
    volt_status st = VOLT_OK;
    for (int64_t i = 0; i < sd->count && !st; i++) {
        snprintf(name, sizeof name, "state_dict.%s", sd->names[i]);
        st = volt_checkpoint_put(ck, name, sd->tensors[i]);
    }
    return st;
}

/* The dotted module name of the optimizer's parameter p, or NULL. */
static const char *param_name(volt_params mp, const volt_tensor *p) {
    for (int64_t i = 0; i < mp.count; i++)
        if (mp.tensors[i] == p) return mp.names[i];
    return NULL;
}

/* Optimizer i: tensors "state.<j>.<slot>" as "optimizer.<i>.<param>.<slot>"
 * (<param> its name in the module, else j), its JSON into `list`. */
static volt_status put_optimizer(volt_checkpoint *ck, volt_module *m, int i, volt_optimizer *opt,
                                 cJSON *list, held *h) {
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(opt, &json);
    if (!sd) return volt_error_status();
    h->sds[h->n++] = sd;
    cJSON *v = cJSON_Parse(json);
    free(json);
    if (!v || !cJSON_AddItemToArray(list, v)) {
        cJSON_Delete(v);
        return oom();
    }
    volt_params mp = volt_module_parameters(m), op = volt_optimizer_params(opt);
    char name[640];
    for (int64_t k = 0; k < sd->count; k++) {
        long long j;
        int used = 0;
        if (sscanf(sd->names[k], "state.%lld.%n", &j, &used) != 1 || used == 0 || j < 0 ||
            j >= op.count)
            return volt_error_set(VOLT_ERR_INTERNAL, OP ": optimizer state name '%s'",
                                  sd->names[k]);
        const char *pn = param_name(mp, op.tensors[j]);
        if (pn)
            snprintf(name, sizeof name, "optimizer.%d.%s.%s", i, pn, sd->names[k] + used);
        else
            snprintf(name, sizeof name, "optimizer.%d.%lld.%s", i, j, sd->names[k] + used);
        volt_status st = volt_checkpoint_put(ck, name, sd->tensors[k]);
        if (st) return st;
    }
    return VOLT_OK;
}

static volt_status put_optimizers(volt_checkpoint *ck, const volt_fabric_state *s, held *h) {
    if (s->n_optimizers > (int)(sizeof h->sds / sizeof *h->sds) - 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %d optimizers (at most %d)",
                              s->n_optimizers, (int)(sizeof h->sds / sizeof *h->sds) - 1);
    cJSON *opts = cJSON_CreateArray(), *scheds = cJSON_CreateArray();
    volt_status st = opts && scheds ? VOLT_OK : oom();
    for (int i = 0; i < s->n_optimizers && !st; i++) {
        st = put_optimizer(ck, s->module, i, s->optimizers[i], opts, h);
        volt_lr_scheduler *sched = s->schedulers ? s->schedulers[i] : NULL;
        char *text = !st && sched ? volt_lr_scheduler_state_dict(sched) : NULL;
        cJSON *v = sched ? (text ? cJSON_Parse(text) : NULL) : cJSON_CreateNull();
        free(text);
        if (!st && !(v && cJSON_AddItemToArray(scheds, v)))
            st = volt_error_status() ? volt_error_status() : oom();
        if (st) cJSON_Delete(v);
    }
    if (st) {
        cJSON_Delete(opts);
        cJSON_Delete(scheds);
        return st;
    }
    st = put_json(ck, "optimizers", opts);
    return st ? (cJSON_Delete(scheds), st) : put_json(ck, "lr_schedulers", scheds);
}

static volt_status fill(volt_checkpoint *ck, volt_fabric *f, const volt_fabric_state *s, held *h) {
    volt_status st = volt_checkpoint_put_meta(ck, "format", "volt-checkpoint-1");
    if (!st) st = volt_checkpoint_put_meta(ck, "volt_version", volt_version());
    if (!st) st = put_int(ck, "epoch", s->epoch);
    if (!st) st = put_int(ck, "global_step", s->step);
    if (!st) st = put_int(ck, "world_size", f->world);
    if (!st) st = volt_checkpoint_put_meta(ck, "weights_only", s->n_optimizers ? "false" : "true");
    if (!st) st = volt_checkpoint_put_meta(ck, "precision", "{\"precision\": \"32-true\"}");
    if (!st) st = volt_checkpoint_put_meta(ck, "fabric", s->extra_json ? s->extra_json : "{}");
    if (!st) st = put_hparams(ck, s->module);
    if (!st) st = put_module(ck, s->module, h);
    if (!st && s->n_optimizers) st = put_optimizers(ck, s, h);
    return st;
}

/* Rank 0's part. */
static volt_status write_file(volt_fabric *f, const char *path, const volt_fabric_state *s) {
    if (volt_make_parent_dirs(path, OP)) return volt_error_status();
    volt_checkpoint *ck = volt_checkpoint_for_write();
    if (!ck) return volt_error_status();
    held h = {.n = 0};
    volt_scope_begin();
    volt_status st = fill(ck, f, s, &h);
    if (!st && (st = volt_checkpoint_write(ck, path))) volt_error_prefix(st, OP);
    volt_checkpoint_close(ck);
    volt_scope_end();
    for (int i = 0; i < h.n; i++) volt_state_dict_free(h.sds[i]);
    return st;
}

volt_status volt_fabric_save(volt_fabric *f, const char *path, const volt_fabric_state *state) {
    volt_status st = volt_fabric_need_launch(f, "save");
    if (st) return st;
    st = volt_fabric_share_outcome(f, check_state(path, state), "save", VOLT_ERR_INVALID_ARGUMENT);
    if (st) return st;
    if (f->rank == 0) st = write_file(f, path, state);
    return volt_fabric_share_outcome(f, st, "save", VOLT_ERR_IO);
}
