/* model_checkpoint.c: Lightning's ModelCheckpoint callback — its options
 * (defaults, checks, the trigger rules of __init_triggers), its hooks
 * (setup resolves the directory; train batch end, train epoch end and
 * validation end decide whether to save, with Lightning's
 * _should_skip_saving_checkpoint and _should_save_on_train_epoch_end) and
 * the accessors of its results. Saving is in model_checkpoint_save.c, the
 * state in model_checkpoint_state.c. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/model_checkpoint_impl.h"

static const volt_callback_ops mc_ops;

volt_model_ckpt *volt_mc_from(volt_callback *cb) {
    return cb && cb->ops == &mc_ops ? (volt_model_ckpt *)cb : NULL;
}

volt_status volt_mc_set_str(char **dst, const char *src) {
    char *copy = NULL;
    if (src && !(copy = strdup(src)))
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "ModelCheckpoint: out of memory");
    free(*dst);
    *dst = copy;
    return VOLT_OK;
}

/* ----------------------------------------------------------------- options */

volt_model_checkpoint_options volt_model_checkpoint_defaults(void) {
    return (volt_model_checkpoint_options){
        .dirpath = NULL,
        .filename = NULL,
        .monitor = NULL,
        .verbose = false,
        .save_last = VOLT_SAVE_LAST_NO,
        .save_top_k = 1,
        .save_weights_only = false,
        .mode = "min",
        .auto_insert_metric_name = true,
        .every_n_train_steps = 0,
        .train_time_interval = 0,
        .every_n_epochs = VOLT_NONE,
        .save_on_train_epoch_end = -1,
        .enable_version_counter = true,
    };
}

static volt_status bad(const char *fmt, const char *what, double value) {
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, fmt, what, value);
}

/* The checks of Lightning's __init__ (its MisconfigurationExceptions). */
static volt_status check_options(const volt_model_checkpoint_options *o, int64_t every_n_epochs) {
    const char *num = "ModelCheckpoint: %s = %g is invalid";
    if (o->mode && strcmp(o->mode, "min") != 0 && strcmp(o->mode, "max") != 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: mode = '%s' is invalid (\"min\" or \"max\")",
                              o->mode);
    if (o->save_top_k < -1)
        return bad("ModelCheckpoint: %s = %g is invalid (>= -1)", "save_top_k",
                   (double)o->save_top_k);
    if (o->every_n_train_steps < 0)
        return bad("ModelCheckpoint: %s = %g is invalid (>= 0; 0: off)", "every_n_train_steps",
                   (double)o->every_n_train_steps);
    if (every_n_epochs < 0)
        return bad("ModelCheckpoint: %s = %g is invalid (>= 0, or VOLT_NONE)", "every_n_epochs",
                   (double)every_n_epochs);
    if (!(o->train_time_interval >= 0) || isinf(o->train_time_interval))
        return bad(num, "train_time_interval", o->train_time_interval);
    if (o->save_last != VOLT_SAVE_LAST_NO && o->save_last != VOLT_SAVE_LAST_YES &&
        o->save_last != VOLT_SAVE_LAST_LINK)
        return bad(num, "save_last", (double)o->save_last);
    if (o->save_on_train_epoch_end < -1 || o->save_on_train_epoch_end > 1)
        return bad("ModelCheckpoint: %s = %g is invalid (-1: auto, 0 or 1)",
                   "save_on_train_epoch_end", (double)o->save_on_train_epoch_end);
    if (o->monitor && !*o->monitor)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: monitor = \"\" is invalid (NULL: none)");
    int triggers =
        (o->every_n_train_steps >= 1) + (every_n_epochs >= 1) + (o->train_time_interval > 0);
    if (triggers > 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: every_n_train_steps = %lld, every_n_epochs = %lld "
                              "and train_time_interval = %g should be mutually exclusive",
                              (long long)o->every_n_train_steps, (long long)every_n_epochs,
                              o->train_time_interval);
    if (!o->monitor && o->save_top_k != -1 && o->save_top_k != 0 && o->save_top_k != 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: save_top_k = %lld with monitor = NULL is invalid: "
                              "no quantity to rank the top k by (set monitor, or save_top_k to "
                              "-1, 0 or 1)",
                              (long long)o->save_top_k);
    /* the template, once with no metrics: syntax and specs */
    char name[PATH_MAX];
    return volt_checkpoint_format_name(o->filename, NULL, 0, 0, o->auto_insert_metric_name, name,
                                       sizeof name);
}

static void mc_free(volt_callback *cb) {
    volt_model_ckpt *mc = volt_mc_from(cb);
    if (!mc) return;
    volt_mc_best_clear(mc);
    free(mc->best);
    free(mc->dirpath);
    free(mc->filename);
    free(mc->monitor);
    free(mc->kth_best_model_path);
    free(mc->best_model_path);
    free(mc->last_model_path);
    free(mc->last_saved);
    free(mc->pending_state);
    free(mc);
}

static volt_status copy_options(volt_model_ckpt *mc, const volt_model_checkpoint_options *o) {
    volt_status st = VOLT_OK;
    if (o->dirpath && *o->dirpath) {
        char abs[PATH_MAX];
        if (!volt_mc_abs_path(o->dirpath, abs))
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "ModelCheckpoint: dirpath is longer than PATH_MAX (%d): '%s'",
                                  PATH_MAX, o->dirpath);
        st = volt_mc_set_str(&mc->dirpath, abs);
        mc->dirpath_given = true;
    }
    if (!st && o->filename && *o->filename) st = volt_mc_set_str(&mc->filename, o->filename);
    if (!st) st = volt_mc_set_str(&mc->monitor, o->monitor);
    if (!st) st = volt_mc_set_str(&mc->kth_best_model_path, "");
    if (!st) st = volt_mc_set_str(&mc->best_model_path, "");
    if (!st) st = volt_mc_set_str(&mc->last_model_path, "");
    if (!st) st = volt_mc_set_str(&mc->last_saved, "");
    return st;
}

volt_callback *volt_model_checkpoint_new(const volt_model_checkpoint_options *opt) {
    volt_model_checkpoint_options o = opt ? *opt : volt_model_checkpoint_defaults();
    int64_t every_n_epochs = o.every_n_epochs;
    if (every_n_epochs == VOLT_NONE) /* Lightning's __init_triggers */
        every_n_epochs = (o.every_n_train_steps == 0 && o.train_time_interval == 0) ? 1 : 0;
    if (check_options(&o, every_n_epochs)) return NULL;
    volt_model_ckpt *mc = calloc(1, sizeof *mc);
    if (!mc) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "ModelCheckpoint: out of memory");
        return NULL;
    }
    mc->base.ops = &mc_ops;
    mc->verbose = o.verbose;
    mc->weights_only = o.save_weights_only;
    mc->mode_max = o.mode && strcmp(o.mode, "max") == 0;
    mc->auto_insert = o.auto_insert_metric_name;
    mc->version_counter = o.enable_version_counter;
    mc->save_last = o.save_last;
    mc->save_top_k = o.save_top_k;
    mc->every_n_train_steps = o.every_n_train_steps;
    mc->every_n_epochs = every_n_epochs;
    mc->train_time_interval = o.train_time_interval;
    mc->save_on_train_epoch_end = o.save_on_train_epoch_end;
    mc->kth_value = mc->mode_max ? -INFINITY : INFINITY;
    mc->best_model_score = mc->current_score = NAN;
    if (copy_options(mc, &o)) {
        mc_free(&mc->base);
        return NULL;
    }
    return &mc->base;
}

/* ------------------------------------------------------------------ hooks */

/* Lightning's __warn_if_dir_not_empty. */
static void warn_if_not_empty(const volt_model_ckpt *mc) {
    if (mc->save_top_k == 0) return;
    DIR *d = opendir(mc->dirpath);
    if (!d) return;
    bool empty = true;
    for (struct dirent *e; empty && (e = readdir(d));)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    if (!empty)
        fprintf(stderr,
                "volt: warning: ModelCheckpoint: checkpoint directory %s exists and is "
                "not empty.\n",
                mc->dirpath);
}

/* Lightning's __resolve_ckpt_dir: the option, else the trainer's default
 * (<log_dir>/checkpoints or <default_root_dir>/checkpoints). */
static volt_status resolve_dir(volt_model_ckpt *mc, volt_trainer *t) {
    if (mc->dirpath_given) return VOLT_OK;
    const char *dir = volt_trainer_default_checkpoint_dir(t);
    if (dir && *dir) return volt_mc_set_str(&mc->dirpath, dir);
    if (volt_error_status()) return volt_error_status();
    const volt_trainer_config *c = volt_trainer_get_config(t);
    const char *root = c && c->default_root_dir ? c->default_root_dir : ".";
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/checkpoints", root) >= (int)sizeof path)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: default_root_dir is longer than PATH_MAX (%d): "
                              "'%s'",
                              PATH_MAX, root);
    return volt_mc_set_str(&mc->dirpath, path);
}

static volt_status mc_setup(volt_callback *cb, volt_module *m, volt_step *s) {
    (void)m;
    volt_model_ckpt *mc = (volt_model_ckpt *)cb;
    if (volt_step_stage(s) != VOLT_STAGE_FIT) return VOLT_OK;
    volt_status st = resolve_dir(mc, volt_step_trainer(s));
    if (st) return st;
    mc->val_has_run = mc->val_seen = mc->warned_missing = false;
    warn_if_not_empty(mc);
    if (mc->pending_state) {
        char *json = mc->pending_state;
        mc->pending_state = NULL;
        st = volt_mc_apply_state(mc, json);
        free(json);
    }
    return st;
}

/* Lightning's _should_skip_saving_checkpoint. */
static bool skip_saving(const volt_model_ckpt *mc, const volt_trainer *t, const volt_step *s) {
    const volt_trainer_config *c = volt_trainer_get_config(t);
    return (c && c->fast_dev_run > 0) || volt_step_stage(s) != VOLT_STAGE_FIT ||
           volt_trainer_sanity_checking(t) || mc->last_step_saved == volt_trainer_global_step(t);
}

/* Lightning's _should_save_on_train_epoch_end. Its "no validation batches"
 * is "no validation with batches ran in this fit so far" here: with
 * check_val_every_n_epoch = 1 and val_check_interval != 1, a validation
 * with batches runs inside every epoch. val_check_interval = one batch is
 * Lightning's int 1, which equals 1.0 there. */
static bool save_on_train_epoch_end(const volt_model_ckpt *mc, const volt_trainer *t) {
    if (mc->save_on_train_epoch_end >= 0) return mc->save_on_train_epoch_end == 1;
    const volt_trainer_config *c = volt_trainer_get_config(t);
    if (c->check_val_every_n_epoch != 1) return false;
    if (volt_trainer_num_val_batches(t) == 0) return true;
    return c->val_check_interval == 1.0 || c->val_check_interval == VOLT_BATCHES(1);
}

static volt_status mc_on_train_start(volt_callback *cb, volt_module *m, volt_step *s) {
    (void)m, (void)s;
    ((volt_model_ckpt *)cb)->last_time_checked = volt_time_now();
    return VOLT_OK;
}

static volt_status mc_on_train_batch_end(volt_callback *cb, volt_module *m, volt_step *s) {
    (void)m;
    volt_model_ckpt *mc = (volt_model_ckpt *)cb;
    volt_trainer *t = volt_step_trainer(s);
    if (skip_saving(mc, t, s)) return VOLT_OK;
    bool skip_batch =
        mc->every_n_train_steps < 1 || volt_trainer_global_step(t) % mc->every_n_train_steps != 0;
    bool skip_time = true;
    double now = volt_time_now();
    if (mc->train_time_interval > 0)
        skip_time = now - mc->last_time_checked < mc->train_time_interval;
    if (skip_batch && skip_time) return VOLT_OK;
    if (!skip_time) mc->last_time_checked = now;
    volt_status st = volt_mc_save_topk(mc, t);
    return st ? st : volt_mc_save_last(mc, t);
}

/* Train epoch end (at_train_end) or validation end: every_n_epochs decides
 * the top-k save; the last checkpoint is saved either way. */
static volt_status epoch_save(volt_model_ckpt *mc, volt_trainer *t) {
    volt_status st = VOLT_OK;
    if (mc->every_n_epochs >= 1 && (volt_trainer_current_epoch(t) + 1) % mc->every_n_epochs == 0)
        st = volt_mc_save_topk(mc, t);
    return st ? st : volt_mc_save_last(mc, t);
}

static volt_status mc_on_train_epoch_end(volt_callback *cb, volt_module *m, volt_step *s) {
    (void)m;
    volt_model_ckpt *mc = (volt_model_ckpt *)cb;
    volt_trainer *t = volt_step_trainer(s);
    if (skip_saving(mc, t, s) || !save_on_train_epoch_end(mc, t)) return VOLT_OK;
    return epoch_save(mc, t);
}

static volt_status mc_on_validation_start(volt_callback *cb, volt_module *m, volt_step *s) {
    (void)m;
    if (volt_step_stage(s) == VOLT_STAGE_FIT) ((volt_model_ckpt *)cb)->val_seen = true;
    return VOLT_OK;
}

static volt_status mc_on_validation_end(volt_callback *cb, volt_module *m, volt_step *s) {
    (void)m;
    volt_model_ckpt *mc = (volt_model_ckpt *)cb;
    volt_trainer *t = volt_step_trainer(s);
    if (volt_step_stage(s) == VOLT_STAGE_FIT && !volt_trainer_sanity_checking(t))
        mc->val_has_run = true;
    if (skip_saving(mc, t, s) || save_on_train_epoch_end(mc, t)) return VOLT_OK;
    return epoch_save(mc, t);
}

static const volt_callback_ops mc_ops = {
    .name = "ModelCheckpoint",
    .monitoring = true,
    .setup = mc_setup,
    .on_train_start = mc_on_train_start,
    .on_train_batch_end = mc_on_train_batch_end,
    .on_train_epoch_end = mc_on_train_epoch_end,
    .on_validation_start = mc_on_validation_start,
    .on_validation_end = mc_on_validation_end,
    .state_dict = volt_mc_state_dict,
    .load_state_dict = volt_mc_load_state_dict,
    .free = mc_free,
    .state_key = volt_mc_state_key,
};

/* -------------------------------------------------------------- accessors */

static volt_model_ckpt *checked(volt_callback *cb, const char *fn) {
    volt_model_ckpt *mc = volt_mc_from(cb);
    if (!mc)
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s is not a ModelCheckpoint", fn,
                       cb ? (cb->ops && cb->ops->name ? cb->ops->name : "the callback") : "NULL");
    return mc;
}

const char *volt_model_checkpoint_dirpath(volt_callback *cb) {
    volt_model_ckpt *mc = checked(cb, "model_checkpoint_dirpath");
    return mc && mc->dirpath ? mc->dirpath : "";
}

const char *volt_model_checkpoint_best_model_path(volt_callback *cb) {
    volt_model_ckpt *mc = checked(cb, "model_checkpoint_best_model_path");
    return mc ? mc->best_model_path : "";
}

double volt_model_checkpoint_best_model_score(volt_callback *cb) {
    volt_model_ckpt *mc = checked(cb, "model_checkpoint_best_model_score");
    return mc ? mc->best_model_score : NAN;
}

const char *volt_model_checkpoint_last_model_path(volt_callback *cb) {
    volt_model_ckpt *mc = checked(cb, "model_checkpoint_last_model_path");
    return mc ? mc->last_model_path : "";
}

int volt_model_checkpoint_best_k_count(volt_callback *cb) {
    volt_model_ckpt *mc = checked(cb, "model_checkpoint_best_k_count");
    return mc ? mc->n_best : 0;
}

static int best_k_index(volt_callback *cb, int i, const char *fn) {
    volt_model_ckpt *mc = checked(cb, fn);
    if (!mc) return -1;
    if (i < 0 || i >= mc->n_best) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: index %d out of range (%d entries)", fn, i,
                       mc->n_best);
        return -1;
    }
    return volt_mc_best_rank(mc, i);
}

const char *volt_model_checkpoint_best_k_path(volt_callback *cb, int i) {
    int k = best_k_index(cb, i, "model_checkpoint_best_k_path");
    return k < 0 ? "" : ((volt_model_ckpt *)cb)->best[k].path;
}

double volt_model_checkpoint_best_k_score(volt_callback *cb, int i) {
    int k = best_k_index(cb, i, "model_checkpoint_best_k_score");
    return k < 0 ? NAN : ((volt_model_ckpt *)cb)->best[k].score;
}
