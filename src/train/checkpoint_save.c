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
#include "train/fabric_impl.h"

#define OP "save_checkpoint"

static volt_status oom(void) {
    return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
}

/* Puts malloc'd JSON text as `key` (NULL text: the error is recorded). */
static volt_status put_text(volt_checkpoint *ck, const char *key, char *text) {
    if (!text) return volt_error_status() ? volt_error_status() : oom();
    volt_status st = volt_checkpoint_put_meta(ck, key, text);
    free(text);
    return st;
}

/* zero1's sharding of optimizer 0 (NULL: none): the run's, or for a save
 * after the run, which freed it, the same one made again (*made; a
 * collective call, as the save is). */
static volt_zero1 *zero1_sharding(volt_trainer *t, bool *made) {
    *made = !t->zero1_state && t->zero1 && t->pg && t->n_optims > 0 &&
            !t->module->ops->manual_optimization;
    return *made ? volt_zero1_new_over(t->pg, t->optims[0].opt) : t->zero1_state;
}

static volt_status add_optimizers(volt_checkpoint *ck, volt_trainer *t) {
    int n = t->n_optims;
    volt_optimizer **opts = malloc((size_t)(n ? n : 1) * sizeof *opts);
    volt_lr_scheduler **scheds = malloc((size_t)(n ? n : 1) * sizeof *scheds);
    volt_status st = opts && scheds ? VOLT_OK : oom();
    for (int i = 0; i < n && !st; i++) {
        opts[i] = t->optims[i].opt;
        scheds[i] = t->optims[i].sched;
    }
    bool made = false;
    volt_zero1 *z = st ? NULL : zero1_sharding(t, &made);
    if (made && !z) st = volt_error_status();
    if (!st) st = volt_checkpoint_put_optimizers(ck, t->module, n, opts, scheds, z, OP);
    if (made) volt_zero1_free(z);
    free(opts);
    free(scheds);
    return st;
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
    return volt_checkpoint_put_json(ck, "callbacks", o, OP);
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
    if (!st && t->scaler.enabled)
        st = volt_checkpoint_put_json(ck, "grad_scaler", volt_grad_scaler_to_json(&t->scaler), OP);
    return st;
}

/* Every rank returns an error when any rank failed (one process: st). */
static volt_status share_outcome(volt_trainer *t, const char *path, volt_status st) {
    if (!t->pg || t->world < 2) return st;
    char what[4200];
    snprintf(what, sizeof what, OP ": %s", path);
    return volt_fabric_share_outcome(t->fabric, st, what, VOLT_ERR_IO);
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
    if (!st) st = volt_checkpoint_put_int(ck, "epoch", t->epoch);
    if (!st) st = volt_checkpoint_put_int(ck, "global_step", t->global_step);
    if (!st) st = volt_checkpoint_put_int(ck, "world_size", t->world > 0 ? t->world : 1);
    if (!st) st = volt_checkpoint_put_meta(ck, "weights_only", weights_only ? "true" : "false");
    if (!st) st = volt_checkpoint_put_module(ck, t->module);
    if (!st) st = volt_checkpoint_put_hparams(ck, t->module, OP);
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
