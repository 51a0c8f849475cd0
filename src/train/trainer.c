/* trainer.c: the trainer object (configuration, callbacks, loggers, metric
 * tables) and the entry points — fit, validate, test, predict, with a
 * datamodule or with loaders (wrapped in a borrowed datamodule) — with what
 * they share: argument checks, seeding, prepare_data/setup/teardown of the
 * datamodule, callbacks and module in Lightning's order, logger set-up and
 * the clean failure path (on_exception, loggers closed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/precision_impl.h"
#include "train/train_impl.h"

volt_trainer *volt_trainer_new(const volt_trainer_config *cfg) {
    volt_trainer_config c = cfg ? *cfg : volt_trainer_defaults();
    if (volt_trainer_config_check(&c)) return NULL;
    volt_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "trainer: out of memory");
        return NULL;
    }
    t->cfg = c;
    t->root_dir = strdup(c.default_root_dir ? c.default_root_dir : ".");
    t->clip_algorithm = strdup(c.gradient_clip_algorithm ? c.gradient_clip_algorithm : "norm");
    if (!t->root_dir || !t->clip_algorithm || volt_profiler_setup(t)) {
        volt_trainer_free(t);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "trainer: out of memory");
        return NULL;
    }
    t->cfg.default_root_dir = t->root_dir;
    t->cfg.gradient_clip_algorithm = t->clip_algorithm;
    if (c.barebones) {
        t->cfg.logger = t->cfg.enable_progress_bar = t->cfg.enable_model_summary = false;
        t->cfg.enable_checkpointing = false;
    }
    return t;
}

void volt_trainer_free(volt_trainer *t) {
    if (!t) return;
    volt_trainer_free_optims(t);
    free(t->optims);
    for (int i = 0; i < t->n_callbacks; i++)
        if (t->callbacks[i]->ops->free) t->callbacks[i]->ops->free(t->callbacks[i]);
    free(t->callbacks);
    for (int i = 0; i < t->n_loggers; i++) t->loggers[i]->ops->free(t->loggers[i]);
    free(t->loggers);
    volt_metrics_release(&t->callback_metrics);
    volt_metrics_release(&t->logged_metrics);
    volt_metrics_release(&t->pbar_metrics);
    volt_log_results_reset(&t->train_results);
    volt_log_results_reset(&t->eval_results);
    free(t->train_results.e);
    free(t->eval_results.e);
    free(t->root_dir);
    free(t->clip_algorithm);
    volt_ckpt_release(t);
    free(t->ckpt_path);
    free(t->ckpt_dir);
    volt_profiler_free(t->profiler);
    volt_strategy_free(t);
    free(t);
}

static bool grow(void **arr, int *cap, int n, size_t size) {
    if (n < *cap) return true;
    int c = *cap ? 2 * *cap : 4;
    void *g = realloc(*arr, (size_t)c * size);
    if (!g) return false;
    *arr = g;
    *cap = c;
    return true;
}

static bool is_checkpoint(const volt_callback *cb) {
    const char *n = cb->ops->name;
    return n && (strcmp(n, "ModelCheckpoint") == 0 || strcmp(n, "OnExceptionCheckpoint") == 0);
}

volt_status volt_trainer_add_callback(volt_trainer *t, volt_callback *cb) {
    if (!t || !cb || !cb->ops)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "add_callback: NULL trainer or callback");
    if (!grow((void **)&t->callbacks, &t->cap_callbacks, t->n_callbacks, sizeof *t->callbacks))
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "add_callback: out of memory");
    /* Lightning runs checkpoint callbacks last (after, say, an EMA that
     * swaps weights): others go before the first of them. */
    int at = t->n_callbacks;
    if (!is_checkpoint(cb))
        while (at > 0 && is_checkpoint(t->callbacks[at - 1])) at--;
    memmove(&t->callbacks[at + 1], &t->callbacks[at],
            (size_t)(t->n_callbacks - at) * sizeof *t->callbacks);
    t->callbacks[at] = cb;
    t->n_callbacks++;
    return VOLT_OK;
}

char *volt_callback_state_dict(volt_callback *cb) {
    if (cb && cb->ops && cb->ops->state_dict) return cb->ops->state_dict(cb);
    return strdup("{}");
}

volt_status volt_trainer_add_logger(volt_trainer *t, volt_logger *lg) {
    if (!t || !lg || !lg->ops || !lg->ops->free)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "add_logger: NULL trainer or logger");
    if (t->default_logger) { /* an explicit logger replaces the default ones */
        for (int i = 0; i < t->n_loggers; i++) t->loggers[i]->ops->free(t->loggers[i]);
        t->n_loggers = 0;
        t->default_logger = false;
    }
    if (!grow((void **)&t->loggers, &t->cap_loggers, t->n_loggers, sizeof *t->loggers))
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "add_logger: out of memory");
    t->loggers[t->n_loggers++] = lg;
    return VOLT_OK;
}

const char *volt_trainer_log_dir(const volt_trainer *t) {
    if (!t || t->n_loggers == 0 || !t->loggers[0]->ops->log_dir) return NULL;
    return t->loggers[0]->ops->log_dir(t->loggers[0]);
}

const volt_metrics *volt_trainer_callback_metrics(const volt_trainer *t) {
    return t ? &t->callback_metrics : NULL;
}
const volt_metrics *volt_trainer_logged_metrics(const volt_trainer *t) {
    return t ? &t->logged_metrics : NULL;
}
const volt_metrics *volt_trainer_progress_bar_metrics(const volt_trainer *t) {
    return t ? &t->pbar_metrics : NULL;
}
int64_t volt_trainer_current_epoch(const volt_trainer *t) { return t ? t->epoch : 0; }
int64_t volt_trainer_global_step(const volt_trainer *t) { return t ? t->global_step : 0; }
bool volt_trainer_sanity_checking(const volt_trainer *t) { return t && t->sanity; }
void volt_trainer_request_stop(volt_trainer *t) {
    if (t) t->should_stop = true;
}
const volt_trainer_config *volt_trainer_get_config(const volt_trainer *t) {
    return t ? &t->cfg : NULL;
}

/* ------------------------------------------------------------- entry points */

static volt_status check_args(volt_trainer *t, volt_stage stage, volt_module *m,
                              volt_datamodule *dm) {
    const char *what = volt_stage_name(stage);
    if (!t || !m || !dm)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL trainer, module or datamodule",
                              what);
    if (volt_error_status())
        return volt_error_set(volt_error_status(), "%s: an error is already recorded", what);
    if (t->running)
        return volt_error_set(VOLT_ERR_STATE, "%s: the trainer is already running", what);
    if (!m->ops)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: the module has no volt_module_ops (volt_module_init(&m, &ops))",
                              what);
    const char *name = m->ops->name ? m->ops->name : "module";
    static const char *const need[] = {"training_step", "validation_step", "test_step",
                                       "predict_step"};
    volt_step_fn fns[] = {m->ops->training_step, m->ops->validation_step, m->ops->test_step,
                          m->ops->predict_step};
    if (!fns[stage])
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: module '%s' has no %s", what, name,
                              need[stage]);
    if (stage == VOLT_STAGE_FIT && m->ops->manual_optimization &&
        t->cfg.accumulate_grad_batches > 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fit: accumulate_grad_batches = %lld needs automatic optimization "
                              "(module '%s' optimizes manually)",
                              (long long)t->cfg.accumulate_grad_batches, name);
    if (stage == VOLT_STAGE_FIT && m->ops->manual_optimization && t->cfg.gradient_clip_val > 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fit: gradient_clip_val needs automatic optimization (module '%s' "
                              "optimizes manually: clip in training_step)",
                              name);
    return VOLT_OK;
}

/* Lightning adds a ModelCheckpoint when enable_checkpointing and none was
 * given (not under fast_dev_run, which writes no files), and refuses one
 * when checkpointing is off. */
static volt_status add_default_checkpointing(volt_trainer *t) {
    if (!t->cfg.enable_checkpointing && volt_trainer_find_callback(t, "ModelCheckpoint", 0))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fit: enable_checkpointing is false%s but a ModelCheckpoint was "
                              "added; enable checkpointing or remove the callback",
                              t->cfg.barebones ? " (barebones)" : "");
    if (!t->cfg.enable_checkpointing || t->fast_dev ||
        volt_trainer_find_callback(t, "ModelCheckpoint", 0))
        return VOLT_OK;
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    volt_callback *cb = volt_model_checkpoint_new(&o);
    if (!cb) return volt_error_status();
    volt_status st = volt_trainer_add_callback(t, cb);
    if (st) cb->ops->free(cb);
    return st;
}

static volt_status prepare_loggers(volt_trainer *t) {
    t->log_enabled = !t->cfg.barebones && !t->fast_dev && (t->cfg.logger || t->n_loggers > 0) &&
                     t->rank == 0; /* loggers write on rank 0 only */
    if (!t->log_enabled) return VOLT_OK;
    if (t->n_loggers == 0) { /* CSV and TensorBoard, sharing volt_logs/version_<N> */
        volt_logger *csv = volt_csv_logger_new(t->root_dir, "volt_logs", -1, 100);
        const char *dir = csv ? csv->ops->log_dir(csv) : NULL;
        const char *v = dir ? strrchr(dir, '_') : NULL; /* ".../version_<N>" */
        volt_logger *tb =
            v ? volt_tensorboard_logger_new(t->root_dir, "volt_logs", strtoll(v + 1, NULL, 10), 120)
              : NULL;
        volt_status st = tb ? volt_trainer_add_logger(t, csv) : volt_error_status();
        if (!tb && !st) st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "loggers: out of memory");
        if (st) {
            if (csv) csv->ops->free(csv);
            if (tb) tb->ops->free(tb);
            return st;
        }
        st = volt_trainer_add_logger(t, tb);
        t->default_logger = true;
        if (st) {
            tb->ops->free(tb);
            return st;
        }
    }
    for (int i = 0; i < t->n_loggers; i++) {
        volt_logger *lg = t->loggers[i];
        if (!lg->ops->log_hyperparams) continue;
        volt_status st = lg->ops->log_hyperparams(lg, t->module);
        if (st) return st;
    }
    return VOLT_OK;
}

static volt_status finish_loggers(volt_trainer *t, bool success) {
    volt_status first = VOLT_OK;
    if (!t->log_enabled) return VOLT_OK;
    for (int i = 0; i < t->n_loggers; i++) {
        volt_logger *lg = t->loggers[i];
        volt_status st = lg->ops->finalize ? lg->ops->finalize(lg, success) : VOLT_OK;
        if (!first) first = st;
    }
    return first;
}

static volt_status run_stage(volt_trainer *t, volt_stage stage, volt_metrics *metrics,
                             volt_predictions *preds) {
    volt_step s = volt_step_make(t, NULL);
    volt_status st = volt_datamodule_prepare_data(t->data);
    if (!st) st = volt_datamodule_setup(t->data, stage);
    if (st) return volt_hook_fail(t, &s, VOLT_HK_SETUP, st);
    if ((st = volt_hook_run(t, &s, VOLT_HK_SETUP))) return st;
    /* bf16-true / 16-true: the module's parameters and buffers become bf16
     * / f16 after its setup and before configure_optimizers and any restore
     * (Lightning's precision plugin convert_module); they stay so after the
     * run. */
    volt_dtype cast = volt_precision_true_dtype(t->cfg.precision);
    if (cast != VOLT_F32 && (st = volt_module_to_dtype(t->module, cast)))
        return volt_hook_fail(t, &s, VOLT_HK_SETUP, st);
    /* accelerator: the module moves to its device after setup (and the
     * bf16-true cast), before configure_optimizers and any restore. */
    t->device = volt_run_device(t->cfg.accelerator, t->local_rank);
    if (t->device.type != VOLT_CPU && (st = volt_module_to_device(t->module, t->device)))
        return volt_hook_fail(t, &s, VOLT_HK_SETUP, st);
    if ((st = volt_ckpt_restore_modules(t))) return st;
    if (stage == VOLT_STAGE_FIT) {
        st = volt_fit_run(t);
    } else {
        volt_data_loader *dl = stage == VOLT_STAGE_VALIDATE ? volt_datamodule_val_loader(t->data)
                               : stage == VOLT_STAGE_TEST   ? volt_datamodule_test_loader(t->data)
                                                          : volt_datamodule_predict_loader(t->data);
        if (!dl) {
            if (volt_error_status()) return volt_hook_fail(t, &s, VOLT_HK_SETUP, VOLT_OK);
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: the datamodule has no %s loader",
                                  volt_stage_name(stage), volt_stage_name(stage));
        }
        double limit = stage == VOLT_STAGE_VALIDATE ? t->cfg.limit_val_batches
                       : stage == VOLT_STAGE_TEST   ? t->cfg.limit_test_batches
                                                    : t->cfg.limit_predict_batches;
        if (t->fast_dev) limit = VOLT_BATCHES(t->cfg.fast_dev_run);
        if ((st = volt_strategy_shard_loader(t, dl))) return st;
        int64_t n = volt_limit_batches(limit, volt_data_loader_len(dl), "limit_batches");
        if (n < 0) return volt_error_status();
        volt_eval_kind kind = stage == VOLT_STAGE_VALIDATE ? VOLT_EVAL_VAL
                              : stage == VOLT_STAGE_TEST   ? VOLT_EVAL_TEST
                                                           : VOLT_EVAL_PREDICT;
        st = volt_eval_run(t, kind, dl, n, metrics, preds);
    }
    if (st) return st;
    volt_strategy_release_loaders(t); /* teardown may free the loaders */
    if ((st = volt_datamodule_teardown(t->data, stage)))
        return volt_hook_fail(t, &s, VOLT_HK_TEARDOWN, st);
    if ((st = volt_hook_run(t, &s, VOLT_HK_TEARDOWN))) return st;
    return VOLT_OK;
}

/* At the first fit of the process, on rank 0: OpenBLAS's kernels unfit for
 * this CPU (volt_blas_advice), as Lightning warns of slow settings. */
static void warn_blas(const volt_trainer *t, volt_stage stage) {
    static bool warned;
    if (stage != VOLT_STAGE_FIT || t->rank != 0) return;
    if (__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED)) return;
    const char *advice = volt_blas_advice();
    if (advice) fprintf(stderr, "volt: warning: %s\n", advice);
}

static volt_status run(volt_trainer *t, volt_stage stage, volt_module *m, volt_datamodule *dm,
                       const char *ckpt_path, volt_metrics **metrics, volt_predictions **preds) {
    if (metrics) *metrics = NULL;
    if (preds) *preds = NULL;
    volt_status st = check_args(t, stage, m, dm);
    if (!st) st = volt_strategy_setup(t); /* may re-execute under mpiexec */
    if (st) return st;
    warn_blas(t, stage);
    volt_metrics *mt = metrics ? calloc(1, sizeof *mt) : NULL;
    volt_predictions *pr = preds ? calloc(1, sizeof *pr) : NULL;
    if ((metrics && !mt) || (preds && !pr)) {
        free(mt);
        free(pr);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", volt_stage_name(stage));
    }
    t->running = true;
    t->module = m;
    t->data = dm;
    t->stage = stage;
    t->failed = t->should_stop = t->sanity = false;
    t->epoch_skipped = t->window_grads = false;
    t->fast_dev = t->cfg.fast_dev_run > 0;
    if (stage == VOLT_STAGE_FIT) {
        t->epoch = t->global_step = t->log_step = t->total_batches = t->batch_pos = 0;
        t->phase = VOLT_PHASE_EPOCH_START;
        t->time_offset = 0;
        t->accumulate = t->cfg.accumulate_grad_batches;
        t->preempted = false;
        volt_grad_scaler_init(&t->scaler,
                              volt_precision_autocast(t->cfg.precision) == VOLT_AUTOCAST_F16);
    }
    volt_metrics_clear(&t->callback_metrics);
    volt_metrics_clear(&t->logged_metrics);
    volt_metrics_clear(&t->pbar_metrics);
    if (t->cfg.seed != VOLT_NONE) volt_seed_everything((uint64_t)t->cfg.seed);
    if (t->cfg.num_threads > 0) st = volt_set_num_threads(t->cfg.num_threads);
    t->start_time = volt_time_now();
    t->log_enabled = false;
    if (!st) st = volt_ckpt_prepare(t, stage, ckpt_path);
    if (!st && stage == VOLT_STAGE_FIT) st = add_default_checkpointing(t);
    if (st) { /* nothing ran: no hooks, no files */
        t->running = false;
        t->data = NULL;
        volt_metrics_free(mt);
        volt_predictions_free(pr);
        return st;
    }
    volt_profiler_run_start(t);
    volt_interrupt_arm();
    st = prepare_loggers(t);
    if (!st) st = volt_strategy_share_checkpoint_dir(t);
    if (!st) st = run_stage(t, stage, mt, pr);
    volt_interrupt_disarm();
    st = volt_profiler_run_end(t, st);
    if (st || volt_error_status()) {
        if (!st) st = volt_error_status();
        volt_hook_exception(t, st);
        char *msg = strdup(volt_error_message());
        volt_error_clear();
        finish_loggers(t, false);
        volt_error_clear();
        volt_error_set(st, "%s", msg ? msg + (strncmp(msg, "volt: ", 6) == 0 ? 6 : 0) : "");
        free(msg);
        volt_metrics_free(mt);
        volt_predictions_free(pr);
    } else {
        st = finish_loggers(t, true);
        if (metrics)
            *metrics = mt;
        else
            volt_metrics_free(mt);
        if (preds)
            *preds = pr;
        else
            volt_predictions_free(pr);
        if (st) {
            if (metrics) volt_metrics_free(*metrics), *metrics = NULL;
            if (preds) volt_predictions_free(*preds), *preds = NULL;
        }
    }
    volt_ckpt_release(t);
    volt_strategy_run_end(t);
    t->running = false;
    t->data = NULL; /* may be a borrowed loader wrapper on the caller's stack */
    t->train_dl = NULL;
    return st;
}

volt_status volt_trainer_fit(volt_trainer *t, volt_module *module, volt_datamodule *data,
                             const char *ckpt_path) {
    return run(t, VOLT_STAGE_FIT, module, data, ckpt_path, NULL, NULL);
}
volt_status volt_trainer_validate(volt_trainer *t, volt_module *module, volt_datamodule *data,
                                  const char *ckpt_path, volt_metrics **metrics) {
    return run(t, VOLT_STAGE_VALIDATE, module, data, ckpt_path, metrics, NULL);
}
volt_status volt_trainer_test(volt_trainer *t, volt_module *module, volt_datamodule *data,
                              const char *ckpt_path, volt_metrics **metrics) {
    return run(t, VOLT_STAGE_TEST, module, data, ckpt_path, metrics, NULL);
}
volt_status volt_trainer_predict(volt_trainer *t, volt_module *module, volt_datamodule *data,
                                 const char *ckpt_path, volt_predictions **out) {
    return run(t, VOLT_STAGE_PREDICT, module, data, ckpt_path, NULL, out);
}

/* ------------------------------------------------------- loader entry points */

/* A datamodule over borrowed loaders: no setup, teardown or free of its own. */
typedef struct {
    volt_datamodule base;
    volt_data_loader *train, *val, *eval;
} loader_dm;

static volt_data_loader *ld_train(volt_datamodule *d) { return ((loader_dm *)d)->train; }
static volt_data_loader *ld_val(volt_datamodule *d) { return ((loader_dm *)d)->val; }
static volt_data_loader *ld_eval(volt_datamodule *d) { return ((loader_dm *)d)->eval; }

static const volt_datamodule_ops loader_dm_ops = {
    .name = "loaders",
    .train_loader = ld_train,
    .val_loader = ld_val,
    .test_loader = ld_eval,
    .predict_loader = ld_eval,
};

static void loader_dm_init(loader_dm *d, volt_data_loader *train, volt_data_loader *val,
                           volt_data_loader *eval) {
    volt_datamodule_init(&d->base, &loader_dm_ops);
    d->train = train;
    d->val = val;
    d->eval = eval;
}

static volt_status need_loader(const volt_data_loader *dl, volt_stage stage, const char *which) {
    if (dl) return VOLT_OK;
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL %s loader", volt_stage_name(stage),
                          which);
}

volt_status volt_trainer_fit_loaders(volt_trainer *t, volt_module *module, volt_data_loader *train,
                                     volt_data_loader *val, const char *ckpt_path) {
    if (need_loader(train, VOLT_STAGE_FIT, "train")) return volt_error_status();
    loader_dm d;
    loader_dm_init(&d, train, val, NULL);
    return run(t, VOLT_STAGE_FIT, module, &d.base, ckpt_path, NULL, NULL);
}

/* validate/test/predict read their loader from the val (validate) or the
 * eval slot (test, predict). */
static volt_status eval_loaders(volt_trainer *t, volt_stage stage, volt_module *module,
                                volt_data_loader *dl, const char *ckpt_path, volt_metrics **metrics,
                                volt_predictions **preds) {
    if (metrics) *metrics = NULL;
    if (preds) *preds = NULL;
    if (need_loader(dl, stage, volt_stage_name(stage))) return volt_error_status();
    loader_dm d;
    loader_dm_init(&d, NULL, stage == VOLT_STAGE_VALIDATE ? dl : NULL,
                   stage == VOLT_STAGE_VALIDATE ? NULL : dl);
    return run(t, stage, module, &d.base, ckpt_path, metrics, preds);
}

volt_status volt_trainer_validate_loaders(volt_trainer *t, volt_module *module,
                                          volt_data_loader *loader, const char *ckpt_path,
                                          volt_metrics **metrics) {
    return eval_loaders(t, VOLT_STAGE_VALIDATE, module, loader, ckpt_path, metrics, NULL);
}
volt_status volt_trainer_test_loaders(volt_trainer *t, volt_module *module,
                                      volt_data_loader *loader, const char *ckpt_path,
                                      volt_metrics **metrics) {
    return eval_loaders(t, VOLT_STAGE_TEST, module, loader, ckpt_path, metrics, NULL);
}
volt_status volt_trainer_predict_loaders(volt_trainer *t, volt_module *module,
                                         volt_data_loader *loader, const char *ckpt_path,
                                         volt_predictions **out) {
    return eval_loaders(t, VOLT_STAGE_PREDICT, module, loader, ckpt_path, NULL, out);
}
