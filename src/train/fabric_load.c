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

static volt_status load_module(volt_checkpoint *ck, volt_module *m) {
    volt_state_dict *sd = volt_checkpoint_state_dict(ck);
    volt_status st = sd ? volt_module_load_state_dict(m, sd, true, NULL) : volt_error_status();
    volt_state_dict_free(sd);
    return st;
}

static volt_status load_optimizers(volt_fabric *f, volt_checkpoint *ck, volt_fabric_state *s) {
    if (s->n_optimizers == 0) return VOLT_OK;
    cJSON *opts = cJSON_Parse(volt_checkpoint_meta(ck, "optimizers"));
    cJSON *scheds = cJSON_Parse(volt_checkpoint_meta(ck, "lr_schedulers"));
    volt_status st = VOLT_OK;
    int have = cJSON_IsArray(opts) ? cJSON_GetArraySize(opts) : 0;
    if (have < s->n_optimizers)
        st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                            "it holds the state of %d optimizers; %d given", have, s->n_optimizers);
    for (int i = 0; i < s->n_optimizers && !st; i++) {
        st = volt_checkpoint_load_optimizer(ck, s->module, i, s->optimizers[i],
                                            cJSON_GetArrayItem(opts, i), f->zero1);
        volt_lr_scheduler *sched = s->schedulers ? s->schedulers[i] : NULL;
        const cJSON *sj = cJSON_GetArrayItem(scheds, i);
        if (!st && sched && (!sj || cJSON_IsNull(sj)))
            st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                "optimizer %d has no scheduler state in the checkpoint, but a "
                                "scheduler was given",
                                i);
        if (!st && sched) st = volt_checkpoint_load_scheduler(sched, sj);
    }
    cJSON_Delete(opts);
    cJSON_Delete(scheds);
    return st;
}

/* This rank's part. */
static volt_status load_file(volt_fabric *f, const char *path, volt_fabric_state *s,
                             char **extra_json) {
    volt_checkpoint *ck = volt_checkpoint_open(path);
    if (!ck) return volt_error_prefix(volt_error_status(), OP);
    volt_status st = load_module(ck, s->module);
    if (!st) st = load_optimizers(f, ck, s);
    if (!st && extra_json) {
        const char *extra = volt_checkpoint_meta(ck, "fabric");
        if (!(*extra_json = strdup(extra ? extra : "{}")))
            st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    }
    if (!st) {
        s->epoch = volt_checkpoint_epoch(ck);
        s->step = volt_checkpoint_global_step(ck);
    }
    if (st) volt_error_prefix(st, OP ": checkpoint %s", path);
    /* 16-mixed: the saved loss scale (a file without one keeps the current
     * scale; the error names the file) */
    if (!st && f->scaler.enabled &&
        (st =
             volt_grad_scaler_from_json(&f->scaler, volt_checkpoint_meta(ck, "grad_scaler"), path)))
        volt_error_prefix(st, OP);
    volt_checkpoint_close(ck);
    return st;
}

volt_status volt_fabric_load(volt_fabric *f, const char *path, volt_fabric_state *state,
                             char **extra_json) {
    if (extra_json) *extra_json = NULL;
    volt_status st = volt_fabric_need_launch(f, "load");
    if (st) return st;
    st = volt_fabric_check_state(OP, path, state);
    if (!st) st = load_file(f, path, state, extra_json);
    st = volt_fabric_share_outcome(f, st, "load", VOLT_ERR_IO);
    if (st && extra_json) {
        free(*extra_json);
        *extra_json = NULL;
    }
    return st;
}
