/* checkpoint_restore.c: resuming from ckpt_path — resolving "last" and
 * "best", opening and checking the file against the module before anything
 * runs, then restoring in Lightning's order: after setup the module's
 * weights, the datamodule and (fit) the callbacks with the on_load_checkpoint
 * hooks; after configure_optimizers the optimizers, schedulers, generator,
 * loop counters and the train loader's position. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "train/train_impl.h"

/* ------------------------------------------------------ "last", "best" */

typedef struct {
    char path[4096];
    struct timespec mtime;
    bool found;
} newest;

static bool later(struct timespec a, struct timespec b) {
    return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

/* Considers the last*.ckpt files of `dir`. */
static void scan_dir(const char *dir, newest *best) {
    DIR *d = dir && *dir ? opendir(dir) : NULL;
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "last", 4) != 0 || n < 5 || strcmp(e->d_name + n - 5, ".ckpt") != 0)
            continue;
        char path[4096];
        struct stat sb;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (!best->found || later(sb.st_mtim, best->mtime) ||
            (!later(best->mtime, sb.st_mtim) && strcmp(path, best->path) > 0)) {
            memcpy(best->path, path, strlen(path) + 1);
            best->mtime = sb.st_mtim;
            best->found = true;
        }
    }
    closedir(d);
}

/* Considers <parent>/version_* /checkpoints. */
static void scan_versions(const char *parent, newest *best) {
    DIR *d = opendir(parent);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "version_", 8) != 0) continue;
        char dir[4096];
        if (snprintf(dir, sizeof dir, "%s/%s/checkpoints", parent, e->d_name) < (int)sizeof dir)
            scan_dir(dir, best);
    }
    closedir(d);
}

static void find_last(volt_trainer *t, newest *best) {
    for (int k = 0;; k++) {
        volt_callback *cb = volt_trainer_find_callback(t, "ModelCheckpoint", k);
        if (!cb) break;
        scan_dir(volt_model_checkpoint_dirpath(cb), best);
    }
    char dir[4096];
    for (int i = 0; i < t->n_loggers; i++) { /* <save_dir>/<name>/version_* of each logger */
        const char *ld =
            t->loggers[i]->ops->log_dir ? t->loggers[i]->ops->log_dir(t->loggers[i]) : NULL;
        const char *slash = ld ? strrchr(ld, '/') : NULL;
        if (!slash || (size_t)(slash - ld) >= sizeof dir) continue;
        memcpy(dir, ld, (size_t)(slash - ld));
        dir[slash - ld] = '\0';
        scan_versions(dir, best);
    }
    snprintf(dir, sizeof dir, "%s/volt_logs", t->root_dir);
    scan_versions(dir, best);
    snprintf(dir, sizeof dir, "%s/checkpoints", t->root_dir);
    scan_dir(dir, best);
}

/* The file ckpt_path names; NULL with no error: "last" found nothing. */
static const char *resolve(volt_trainer *t, volt_stage stage, const char *ckpt_path, newest *last) {
    const char *what = volt_stage_name(stage);
    if (strcmp(ckpt_path, "last") == 0) {
        find_last(t, last);
        if (last->found) return last->path;
        if (stage == VOLT_STAGE_FIT) {
            fprintf(stderr,
                    "volt: fit: ckpt_path = \"last\": no last*.ckpt found under %s; "
                    "starting from scratch\n",
                    t->root_dir);
            return NULL;
        }
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: ckpt_path = \"last\": no last*.ckpt found under %s", what, t->root_dir);
        return NULL;
    }
    if (strcmp(ckpt_path, "best") == 0) {
        volt_callback *cb = volt_trainer_find_callback(t, "ModelCheckpoint", 0);
        const char *best = cb ? volt_model_checkpoint_best_model_path(cb) : NULL;
        if (best && *best) return best;
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: ckpt_path = \"best\": %s", what,
                       cb ? "the ModelCheckpoint has no best checkpoint yet (run fit first)"
                          : "there is no ModelCheckpoint callback to say which is best");
        return NULL;
    }
    return ckpt_path;
}

/* Every state_dict.* tensor matches the module by name and shape. */
static volt_status check_module(volt_checkpoint *ck, volt_module *m) {
    volt_safetensors *f = volt_checkpoint_file(ck);
    const char *path = volt_checkpoint_path(ck);
    volt_state_dict *sd = volt_module_state_dict(m);
    if (!sd) return volt_error_status();
    volt_status st = VOLT_OK;
    char name[600];
    int64_t matched = 0;
    for (int64_t i = 0; i < sd->count && !st; i++) {
        snprintf(name, sizeof name, "state_dict.%s", sd->names[i]);
        int ndim = 0;
        int64_t shape[VOLT_MAX_DIMS];
        if (volt_safetensors_info(f, name, NULL, &ndim, shape)) {
            volt_error_clear();
            st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                "checkpoint %s does not match the module: key '%s' is missing "
                                "(the checkpoint of another model?)",
                                path, name);
            break;
        }
        const volt_tensor *p = sd->tensors[i];
        bool same = ndim == p->ndim;
        for (int d = 0; same && d < ndim; d++) same = shape[d] == p->shape[d];
        if (!same) {
            char want[64];
            st = volt_error_set(VOLT_ERR_SHAPE,
                                "checkpoint %s does not match the module: '%s' has another shape "
                                "than the module's %s",
                                path, name, volt_shape_str(p, want, sizeof want));
        }
        matched++;
    }
    for (int i = 0; !st && i < volt_safetensors_count(f); i++) {
        const char *n = volt_safetensors_name(f, i);
        if (strncmp(n, "state_dict.", 11) == 0 && !volt_state_dict_get(sd, n + 11))
            st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                "checkpoint %s does not match the module: unexpected key '%s'",
                                path, n);
    }
    volt_state_dict_free(sd);
    return st;
}

volt_status volt_ckpt_prepare(volt_trainer *t, volt_stage stage, const char *ckpt_path) {
    volt_ckpt_release(t);
    free(t->ckpt_path);
    t->ckpt_path = NULL;
    if (!ckpt_path) return VOLT_OK;
    const char *what = volt_stage_name(stage);
    if (!*ckpt_path)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: ckpt_path is empty (NULL, \"last\", \"best\" or a file)", what);
    newest last = {0};
    const char *path = resolve(t, stage, ckpt_path, &last);
    if (!path) return volt_error_status();
    volt_checkpoint *ck = volt_checkpoint_open(path);
    volt_status st = ck ? VOLT_OK : volt_error_status();
    if (!st && stage == VOLT_STAGE_FIT && volt_checkpoint_weights_only(ck))
        st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                            "checkpoint %s is weights-only: fit cannot resume from it (load the "
                            "weights with volt_module_load_checkpoint and fit from scratch)",
                            path);
    if (!st) st = check_module(ck, t->module);
    if (!st && !(t->ckpt_path = strdup(path)))
        st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    if (st) {
        volt_checkpoint_close(ck);
        return volt_error_prefix(st, "%s: cannot resume from ckpt_path '%s'", what, ckpt_path);
    }
    t->ckpt = ck;
    return VOLT_OK;
}

void volt_ckpt_release(volt_trainer *t) {
    volt_checkpoint_close(t->ckpt);
    t->ckpt = NULL;
}

/* --------------------------------------------------------------- restore */

static volt_status restore_callbacks(volt_trainer *t, volt_checkpoint *ck) {
    const char *path = volt_checkpoint_path(ck);
    cJSON *all = cJSON_Parse(volt_checkpoint_meta(ck, "callbacks"));
    if (!cJSON_IsObject(all)) {
        cJSON_Delete(all);
        return volt_error_set(VOLT_ERR_FORMAT,
                              "checkpoint %s: 'callbacks' is missing or not a "
                              "JSON object",
                              path);
    }
    volt_status st = VOLT_OK;
    for (int i = 0; i < t->n_callbacks && !st; i++) {
        volt_callback *cb = t->callbacks[i];
        char *key = volt_callback_key(t, i);
        const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(all, key) : NULL;
        char *text = v ? cJSON_PrintUnformatted(v) : NULL;
        if (text && cb->ops->load_state_dict && (st = cb->ops->load_state_dict(cb, text)))
            volt_error_prefix(st, "checkpoint %s: callback '%s'", path, key);
        cJSON_free(text);
        free(key);
    }
    cJSON_Delete(all);
    return st;
}

volt_status volt_ckpt_restore_modules(volt_trainer *t) {
    volt_checkpoint *ck = t->ckpt;
    if (!ck) return VOLT_OK;
    volt_state_dict *sd = volt_checkpoint_state_dict(ck);
    volt_status st =
        sd ? volt_module_load_state_dict(t->module, sd, true, NULL) : volt_error_status();
    volt_state_dict_free(sd);
    bool fit = t->stage == VOLT_STAGE_FIT;
    const char *dm = volt_checkpoint_meta(ck, "datamodule");
    if (!st && fit && dm) st = volt_datamodule_load_state_dict(t->data, dm);
    if (!st && fit) st = restore_callbacks(t, ck);
    if (!st) st = volt_checkpoint_hooks(t, ck, VOLT_HK_ON_LOAD_CHECKPOINT, fit);
    return st;
}

static volt_status restore_optimizers(volt_trainer *t, volt_checkpoint *ck) {
    const char *path = volt_checkpoint_path(ck);
    cJSON *opts = cJSON_Parse(volt_checkpoint_meta(ck, "optimizers"));
    cJSON *scheds = cJSON_Parse(volt_checkpoint_meta(ck, "lr_schedulers"));
    volt_status st = VOLT_OK;
    if (!cJSON_IsArray(opts) || !cJSON_IsArray(scheds))
        st = volt_error_set(VOLT_ERR_FORMAT,
                            "checkpoint %s: 'optimizers' or 'lr_schedulers' is missing or not a "
                            "JSON array",
                            path);
    else if (cJSON_GetArraySize(opts) != t->n_optims)
        st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                            "checkpoint %s holds %d optimizers; configure_optimizers added %d",
                            path, cJSON_GetArraySize(opts), t->n_optims);
    for (int i = 0; i < t->n_optims && !st; i++) {
        st = volt_checkpoint_load_optimizer(ck, t->module, i, t->optims[i].opt,
                                            cJSON_GetArrayItem(opts, i), t->zero1_state);
        if (st) volt_error_prefix(st, "checkpoint %s", path);
        const cJSON *s = cJSON_GetArrayItem(scheds, i);
        volt_lr_scheduler *sched = t->optims[i].sched;
        if (!st && (cJSON_IsNull(s) || !s) != !sched)
            st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                "checkpoint %s: optimizer %d %s a scheduler in the checkpoint but "
                                "%s in configure_optimizers",
                                path, i, sched ? "has no" : "has", sched ? "one" : "none");
        if (!st && sched) st = volt_checkpoint_load_scheduler(sched, s);
    }
    cJSON_Delete(opts);
    cJSON_Delete(scheds);
    return st;
}

static volt_status restore_rng(volt_checkpoint *ck) {
    cJSON *o = cJSON_Parse(volt_checkpoint_meta(ck, "rng"));
    const char *keys[] = {"seed", "stream", "counter", "global_seed"};
    uint64_t v[4];
    bool ok = cJSON_IsObject(o);
    for (int i = 0; ok && i < 4; i++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        char *end = NULL;
        v[i] = cJSON_IsString(s) ? strtoull(s->valuestring, &end, 10) : 0;
        ok = end && end != s->valuestring && !*end;
    }
    cJSON_Delete(o);
    if (!ok)
        return volt_error_set(VOLT_ERR_FORMAT, "checkpoint %s: 'rng' is missing or malformed",
                              volt_checkpoint_path(ck));
    volt_seed_everything(v[3]);
    *volt_default_generator() = (volt_generator){.seed = v[0], .stream = v[1], .counter = v[2]};
    return VOLT_OK;
}

/* A mid-epoch checkpoint of another world size (ddp shards the loader, so
 * its batches per epoch differ): resumes at the same fraction of the epoch
 * (exact when the global batch is the same), saying that the rest of the
 * epoch's order is not the uninterrupted run's. */
static volt_status convert_position(volt_trainer *t, volt_checkpoint *ck, volt_data_loader *dl,
                                    volt_data_loader_state *ls) {
    const char *w = volt_checkpoint_meta(ck, "world_size");
    int64_t saved_world = w ? strtoll(w, NULL, 10) : 1, n = volt_data_loader_len(dl);
    if (saved_world == volt_trainer_world_size(t) || ls->n_batches == n || ls->n_batches <= 0)
        return VOLT_OK;
    int64_t pos = ls->position * n / ls->n_batches;
    if (pos < 1) pos = 1;
    if (pos > n) pos = n;
    if (volt_trainer_is_global_zero(t))
        fprintf(stderr,
                "volt: checkpoint %s was written by %lld processes and resumes on %d: the epoch "
                "goes on from batch %lld of %lld (was %lld of %lld), in this world size's order\n",
                volt_checkpoint_path(ck), (long long)saved_world, volt_trainer_world_size(t),
                (long long)pos, (long long)n, (long long)ls->position, (long long)ls->n_batches);
    ls->position = pos;
    ls->n_batches = n;
    t->batch_pos = pos;
    return VOLT_OK;
}

volt_status volt_ckpt_restore_training(volt_trainer *t, volt_data_loader *train_dl) {
    volt_checkpoint *ck = t->ckpt;
    if (!ck) return VOLT_OK;
    const char *path = volt_checkpoint_path(ck);
    volt_status st = restore_optimizers(t, ck);
    if (!st) st = volt_loop_state_from_json(t, volt_checkpoint_meta(ck, "loops"), path);
    if (!st) st = restore_rng(ck);
    if (!st && t->scaler.enabled)
        st = volt_grad_scaler_from_json(&t->scaler, volt_checkpoint_meta(ck, "grad_scaler"), path);
    bool mid = t->phase == VOLT_PHASE_BATCH_END || t->phase == VOLT_PHASE_BATCH_DONE;
    if (!st && mid) {
        volt_data_loader_state ls;
        st = volt_data_loader_state_from_json(volt_checkpoint_meta(ck, "train_loader"), &ls);
        if (!st) st = convert_position(t, ck, train_dl, &ls);
        if (!st) st = volt_data_loader_state_set(train_dl, &ls);
        if (st) volt_error_prefix(st, "checkpoint %s: the train loader's position", path);
    }
    return st;
}
