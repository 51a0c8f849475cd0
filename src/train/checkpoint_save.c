/* checkpoint_save.c: volt_trainer_save_checkpoint — gathers the module's
 * tensors, the optimizers' state (named by parameter), and as metadata the
 * loop state, schedulers, callbacks, generator, data-loader position,
 * datamodule, hyperparameters and precision; runs the on_save_checkpoint
 * hooks; writes one safetensors file atomically with its checksum. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io/io_impl.h"
#include "train/train_impl.h"

#define OP "save_checkpoint"

static volt_status oom(void) {
    return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
}

static volt_status put_int(volt_checkpoint *ck, const char *key, int64_t v) {
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    return volt_checkpoint_put_meta(ck, key, text);
}

/* Puts a cJSON value as the text of `key`; frees it. */
static volt_status put_json(volt_checkpoint *ck, const char *key, cJSON *v) {
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);
    if (!text) return oom();
    volt_status st = volt_checkpoint_put_meta(ck, key, text);
    cJSON_free(text);
    return st;
}

/* Puts malloc'd JSON text as `key` (NULL text: the error is recorded). */
static volt_status put_text(volt_checkpoint *ck, const char *key, char *text) {
    if (!text) return volt_error_status() ? volt_error_status() : oom();
    volt_status st = volt_checkpoint_put_meta(ck, key, text);
    free(text);
    return st;
}

static volt_status add_module(volt_checkpoint *ck, volt_module *m) {
    volt_state_dict *sd = volt_module_state_dict(m);
    if (!sd) return volt_error_status();
    volt_status st = VOLT_OK;
    char name[512];
    for (int64_t i = 0; i < sd->count && !st; i++) {
        snprintf(name, sizeof name, "state_dict.%s", sd->names[i]);
        st = volt_checkpoint_put(ck, name, sd->tensors[i]);
    }
    volt_state_dict_free(sd);
    return st;
}

static volt_status add_hparams(volt_checkpoint *ck, const volt_module *m) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < volt_module_hparam_count(m); i++) {
        const char *name = volt_module_hparam_name(m, i), *text = volt_module_hparam_text(m, i);
        cJSON *v = volt_module_hparam_type(m, i) == VOLT_HPARAM_STRING ? cJSON_CreateString(text)
                                                                       : cJSON_CreateRaw(text);
        if (!v || !cJSON_AddItemToObject(o, name, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return oom();
        }
    }
    return put_json(ck, "hparams", o);
}

/* The dotted name of parameter p in the module, or NULL. */
static const char *param_name(const volt_params *mp, const volt_tensor *p) {
    for (int64_t i = 0; i < mp->count; i++)
        if (mp->tensors[i] == p) return mp->names[i];
    return NULL;
}

/* "state.<j>.<slot>" of optimizer i -> "optimizer.<i>.<param name>.<slot>".
 * z: zero1's sharded state of opt (gathered: the unsharded state), or NULL. */
static volt_status add_optimizer(volt_checkpoint *ck, volt_module *m, int i, volt_optimizer *opt,
                                 volt_zero1 *z, cJSON *list) {
    char *json = NULL;
    volt_state_dict *sd =
        z ? volt_zero1_state_dict(z, &json) : volt_optimizer_state_dict(opt, &json);
    if (!sd) return volt_error_status();
    cJSON *v = cJSON_Parse(json);
    free(json);
    volt_status st = v && cJSON_AddItemToArray(list, v) ? VOLT_OK : oom();
    if (st) cJSON_Delete(v);
    volt_params mp = volt_module_parameters(m), op = volt_optimizer_params(opt);
    char name[600];
    for (int64_t k = 0; k < sd->count && !st; k++) {
        long long j;
        int used = 0;
        if (sscanf(sd->names[k], "state.%lld.%n", &j, &used) != 1 || j < 0 || j >= op.count) {
            st = volt_error_set(VOLT_ERR_INTERNAL, OP ": optimizer state name '%s'", sd->names[k]);
            break;
        }
        const char *pn = param_name(&mp, op.tensors[j]);
        if (pn)
            snprintf(name, sizeof name, "optimizer.%d.%s.%s", i, pn, sd->names[k] + used);
        else
            snprintf(name, sizeof name, "optimizer.%d.%lld.%s", i, j, sd->names[k] + used);
        st = volt_checkpoint_put(ck, name, sd->tensors[k]);
    }
    volt_state_dict_free(sd);
    return st;
}

/* zero1's sharding of optimizer 0 (NULL: none): the run's, or for a save
 * after the run, which freed it, the same one made again (*made; a
 * collective call, as the save is). */
static volt_zero1 *zero1_sharding(volt_trainer *t, bool *made) {
    *made = !t->zero1_state && t->zero1 && t->pg && t->n_optims > 0 &&
            !t->module->ops->manual_optimization;
    return *made ? volt_zero1_new(t, t->optims[0].opt) : t->zero1_state;
}

static volt_status add_optimizers(volt_checkpoint *ck, volt_trainer *t) {
    cJSON *opts = cJSON_CreateArray(), *scheds = cJSON_CreateArray();
    volt_status st = opts && scheds ? VOLT_OK : oom();
    bool made = false;
    volt_zero1 *z = st ? NULL : zero1_sharding(t, &made);
    if (made && !z) st = volt_error_status();
    for (int i = 0; i < t->n_optims && !st; i++) {
        st = add_optimizer(ck, t->module, i, t->optims[i].opt, i == 0 ? z : NULL, opts);
        if (st) break;
        cJSON *s = NULL;
        if (t->optims[i].sched) {
            char *text = volt_lr_scheduler_state_dict(t->optims[i].sched);
            s = text ? cJSON_Parse(text) : NULL;
            free(text);
            if (!s) st = volt_error_status() ? volt_error_status() : oom();
        } else {
            s = cJSON_CreateNull();
        }
        if (!st && !cJSON_AddItemToArray(scheds, s)) st = oom();
        if (st) cJSON_Delete(s);
    }
    if (made) volt_zero1_free(z);
    if (st) {
        cJSON_Delete(opts);
        cJSON_Delete(scheds);
        return st;
    }
    st = put_json(ck, "optimizers", opts);
    return st ? (cJSON_Delete(scheds), st) : put_json(ck, "lr_schedulers", scheds);
}

static char *raw_key(volt_callback *cb) {
    if (cb->ops->state_key) return cb->ops->state_key(cb);
    return strdup(cb->ops->name ? cb->ops->name : "callback");
}

char *volt_callback_key(const volt_trainer *t, int i) {
    char *mine = raw_key(t->callbacks[i]);
    if (!mine) return NULL;
    int repeat = 1;
    for (int k = 0; k < i; k++) {
        char *other = raw_key(t->callbacks[k]);
        repeat += other && strcmp(other, mine) == 0;
        free(other);
    }
    if (repeat == 1) return mine;
    size_t n = strlen(mine) + 16;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s#%d", mine, repeat);
    free(mine);
    return out;
}

static volt_status add_callbacks(volt_checkpoint *ck, volt_trainer *t) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return oom();
    for (int i = 0; i < t->n_callbacks; i++) {
        char *key = volt_callback_key(t, i);
        char *text = volt_callback_state_dict(t->callbacks[i]);
        cJSON *v = text ? cJSON_Parse(text) : NULL;
        bool ok = key && v && cJSON_AddItemToObject(o, key, v);
        if (!ok) {
            if (text && !v)
                volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                               OP ": callback '%s': its state_dict is not JSON: %.60s",
                               key ? key : "?", text);
            cJSON_Delete(v);
        }
        free(key);
        free(text);
        if (!ok) {
            cJSON_Delete(o);
            return volt_error_status() ? volt_error_status() : oom();
        }
    }
    return put_json(ck, "callbacks", o);
}

static volt_status add_rng(volt_checkpoint *ck) {
    const volt_generator *g = volt_default_generator();
    char text[160];
    snprintf(text, sizeof text,
             "{\"seed\": \"%" PRIu64 "\", \"stream\": \"%" PRIu64 "\", \"counter\": \"%" PRIu64
             "\", \"global_seed\": \"%" PRIu64 "\"}",
             g->seed, g->stream, g->counter, volt_global_seed());
    return volt_checkpoint_put_meta(ck, "rng", text);
}

static volt_status add_training_state(volt_checkpoint *ck, volt_trainer *t) {
    volt_status st = add_optimizers(ck, t);
    if (!st) st = put_text(ck, "loops", volt_loop_state_to_json(t));
    if (!st) st = add_callbacks(ck, t);
    if (!st) st = add_rng(ck);
    if (!st && t->train_dl) {
        volt_data_loader_state ls = volt_data_loader_state_get(t->train_dl);
        /* the batches done, not those delivered: a save after a failed batch
         * (OnExceptionCheckpoint) resumes with that batch */
        if (t->phase == VOLT_PHASE_BATCH_END || t->phase == VOLT_PHASE_BATCH_DONE)
            ls.position = t->batch_pos;
        st = put_text(ck, "train_loader", volt_data_loader_state_to_json(&ls));
    }
    if (!st && t->data) st = put_text(ck, "datamodule", volt_datamodule_state_dict(t->data));
    if (!st) {
        char text[96];
        snprintf(text, sizeof text, "{\"precision\": \"%s\"}",
                 t->cfg.precision ? t->cfg.precision : "32-true");
        st = volt_checkpoint_put_meta(ck, "precision", text);
    }
    return st;
}

/* Every rank returns an error when any rank failed (one process: st). */
static volt_status share_outcome(volt_trainer *t, const char *path, volt_status st) {
    if (!t->pg || t->world < 2) return st;
    bool ok = st == VOLT_OK;
    volt_status cst = volt_trainer_reduce_bool(t, &ok, true);
    if (st || cst) return st ? st : cst;
    if (!ok)
        return volt_error_set(VOLT_ERR_IO,
                              OP ": %s: another rank failed to save it (see its error)", path);
    return VOLT_OK;
}

volt_status volt_trainer_save_checkpoint(volt_trainer *t, const char *path, bool weights_only) {
    if (!t || !path || !*path)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": NULL trainer or empty path");
    if (!t->module)
        return volt_error_set(VOLT_ERR_STATE,
                              OP ": %s: the trainer has no module yet (save after or during a run)",
                              path);
    /* Collective under ddp (Lightning's order): every rank builds the
     * checkpoint and runs the hooks, rank 0 writes, all learn the outcome. */
    bool writer = t->rank == 0;
    /* a failure on rank 0 is shared at the end, after the collectives every
     * rank goes through (zero1's gather of the optimizer state) */
    volt_status early = writer ? volt_make_parent_dirs(path, OP) : VOLT_OK;
    char *early_msg = early ? strdup(volt_error_message()) : NULL;
    if (early) volt_error_clear(); /* raised again below */
    volt_checkpoint *ck = volt_checkpoint_for_write();
    if (!ck) {
        free(early_msg);
        return share_outcome(t, path, volt_error_status());
    }
    volt_scope_begin();
    volt_status st = volt_checkpoint_put_meta(ck, "format", "volt-checkpoint-1");
    if (!st) st = volt_checkpoint_put_meta(ck, "volt_version", volt_version());
    if (!st) st = put_int(ck, "epoch", t->epoch);
    if (!st) st = put_int(ck, "global_step", t->global_step);
    if (!st) st = put_int(ck, "world_size", t->world > 0 ? t->world : 1);
    if (!st) st = volt_checkpoint_put_meta(ck, "weights_only", weights_only ? "true" : "false");
    if (!st) st = add_module(ck, t->module);
    if (!st) st = add_hparams(ck, t->module);
    if (!st && !weights_only) st = add_training_state(ck, t);
    if (!st) st = volt_checkpoint_hooks(t, ck, VOLT_HK_ON_SAVE_CHECKPOINT, !weights_only);
    if (!st && writer && !early) st = volt_checkpoint_write(ck, path);
    if (!st && early) /* the message without its "volt: " */
        st = volt_error_set(early, "%s",
                            early_msg ? early_msg + 6 * !strncmp(early_msg, "volt: ", 6) : OP);
    free(early_msg);
    volt_checkpoint_close(ck);
    volt_scope_end();
    return share_outcome(t, path, st);
}
