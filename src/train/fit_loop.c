/* fit_loop.c: Lightning's fit loop — configure_optimizers, model summary,
 * on_fit_start, the sanity check, epochs of training batches with
 * validation at val_check_interval / check_val_every_n_epoch, epoch-end
 * hooks, logging and schedulers, and the stopping rules (max/min epochs and
 * steps, max_time, fast_dev_run, should_stop, an epoch cut short by
 * volt_step_skip_epoch). */
#include <stdlib.h>

#include "train/precision_impl.h"
#include "train/train_impl.h"
#include "train/train_loop.h"

typedef struct {
    volt_data_loader *train_dl, *val_dl;
    int64_t n_train, n_val, val_check_batch;
    int64_t max_epochs, min_epochs, max_steps, min_steps;
    bool done;
} fit_plan;

static volt_status configure(volt_trainer *t, volt_step *s) {
    volt_trainer_free_optims(t);
    const volt_module_ops *ops = t->module->ops;
    const char *name = ops->name ? ops->name : "module";
    if (ops->configure_optimizers || t->configure_override) {
        volt_optim_setup setup = {t};
        s->hook = VOLT_HK_CONFIGURE_OPTIMIZERS;
        volt_status st = t->configure_override
                             ? t->configure_override(t->configure_ctx, t->module, &setup)
                             : ops->configure_optimizers(t->module, &setup);
        s->hook = VOLT_HK_COUNT;
        if (st || volt_error_status())
            return volt_hook_fail(t, s, VOLT_HK_CONFIGURE_OPTIMIZERS, st);
    }
    /* bf16-true / 16-true: compensated updates of the 16-bit parameters,
     * before any restore (which then brings their compensations back). */
    bool compensate =
        t->cfg.compensated_updates && volt_precision_true_dtype(t->cfg.precision) != VOLT_F32;
    for (int i = 0; compensate && i < t->n_optims; i++)
        volt_optimizer_set_compensated(t->optims[i].opt, true);
    if (ops->manual_optimization) return VOLT_OK;
    if (t->n_optims == 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fit: configure_optimizers of module '%s' added no optimizer "
                              "(automatic optimization needs one)",
                              name);
    if (t->n_optims > 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fit: configure_optimizers of module '%s' added %d optimizers; "
                              "automatic optimization takes one (set manual_optimization)",
                              name, t->n_optims);
    return VOLT_OK;
}

static volt_status plan_loaders(volt_trainer *t, fit_plan *p) {
    const volt_trainer_config *c = &t->cfg;
    p->train_dl = volt_datamodule_train_loader(t->data);
    t->train_dl = p->train_dl;
    if (!p->train_dl)
        return volt_error_status() ? volt_error_status()
                                   : volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                                    "fit: the datamodule has no train loader");
    volt_status st = volt_strategy_shard_loader(t, p->train_dl);
    if (st) return st;
    double fdr = VOLT_BATCHES(c->fast_dev_run);
    double lt = t->fast_dev               ? fdr
                : c->overfit_batches != 0 ? c->overfit_batches
                                          : c->limit_train_batches;
    p->n_train = volt_limit_batches(lt, volt_data_loader_len(p->train_dl), "limit_train_batches");
    if (p->n_train < 0) return volt_error_status();
    p->val_dl = t->module->ops->validation_step ? volt_datamodule_val_loader(t->data) : NULL;
    if (!p->val_dl && volt_error_status()) return volt_error_status();
    if (p->val_dl && (st = volt_strategy_shard_loader(t, p->val_dl))) return st;
    if (p->val_dl) {
        double lv = t->fast_dev               ? fdr
                    : c->overfit_batches != 0 ? c->overfit_batches
                                              : c->limit_val_batches;
        p->n_val = volt_limit_batches(lv, volt_data_loader_len(p->val_dl), "limit_val_batches");
        if (p->n_val < 0) return volt_error_status();
    }
    t->num_val_batches = p->val_dl ? p->n_val : 0;
    int64_t count;
    if (t->fast_dev) {
        p->val_check_batch = p->n_train;
    } else if (volt_limit_is_count(c->val_check_interval, &count)) {
        if (c->check_val_every_n_epoch != VOLT_NONE && count > p->n_train && p->n_val > 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "fit: val_check_interval = %lld batches exceeds the %lld "
                                  "training batches of an epoch; set check_val_every_n_epoch = "
                                  "VOLT_NONE to count across epochs, or limit_val_batches = 0 "
                                  "to skip validation",
                                  (long long)count, (long long)p->n_train);
        p->val_check_batch = count;
    } else {
        p->val_check_batch = (int64_t)((double)p->n_train * c->val_check_interval);
        if (p->val_check_batch < 1) p->val_check_batch = 1;
    }
    return VOLT_OK;
}

static void plan_lengths(const volt_trainer *t, fit_plan *p) {
    const volt_trainer_config *c = &t->cfg;
    p->max_epochs = c->max_epochs;
    if (p->max_epochs == VOLT_NONE)
        p->max_epochs = (c->max_steps == -1 && c->max_time == (double)VOLT_NONE) ? 1000 : -1;
    p->max_steps = c->max_steps;
    if (t->fast_dev) {
        p->max_epochs = 1;
        p->max_steps = c->fast_dev_run;
    }
    p->min_epochs = c->min_epochs == VOLT_NONE ? 0 : c->min_epochs;
    p->min_steps = c->min_steps == VOLT_NONE ? 0 : c->min_steps;
}

static bool time_up(const volt_trainer *t) {
    return t->cfg.max_time != (double)VOLT_NONE && volt_trainer_time_elapsed(t) >= t->cfg.max_time;
}

static bool should_validate(const volt_trainer *t, const fit_plan *p, int64_t i) {
    if (!p->val_dl || p->n_val == 0) return false;
    int64_t every = t->cfg.check_val_every_n_epoch;
    if (every != VOLT_NONE && (t->epoch + 1) % every != 0) return false;
    int64_t it = every == VOLT_NONE ? t->total_batches : i;
    return (it + 1) % p->val_check_batch == 0;
}

static volt_status validate(volt_trainer *t, fit_plan *p) {
    volt_progress saved = t->progress; /* the training bar goes on after */
    volt_status st = volt_eval_run(t, VOLT_EVAL_VAL, p->val_dl, p->n_val, NULL, NULL);
    t->progress = saved;
    return st;
}

/* What follows batch i's on_train_batch_end: counters, the epoch-interval
 * schedulers after the epoch's last batch, validation when due (all
 * skipped when resuming from a checkpoint written after them), then the
 * stopping rules. */
static volt_status after_batch(volt_trainer *t, fit_plan *p, int64_t i, bool done_already) {
    volt_status st;
    if (!done_already) {
        t->total_batches++;
        volt_progress_update(t, "train", i + 1, p->n_train, false);
        if (i == p->n_train - 1 &&
            (st = volt_fit_step_schedulers(t, VOLT_INTERVAL_EPOCH, false, t->epoch + 1)))
            return volt_hook_fail(t, NULL, VOLT_HK_ON_TRAIN_EPOCH_END, st);
        t->phase = VOLT_PHASE_BATCH_DONE;
        if (should_validate(t, p, i) && (st = validate(t, p))) return st;
    }
    bool min_done = t->epoch >= p->min_epochs && t->global_step >= p->min_steps;
    if ((p->max_steps >= 0 && t->global_step >= p->max_steps) || time_up(t) ||
        (t->should_stop && min_done))
        p->done = true;
    return VOLT_OK;
}

/* The batches of one epoch, from batch `first` (a resumed run: the one after
 * the checkpoint's, whose remaining work runs first). */
static volt_status epoch_batches(volt_trainer *t, fit_plan *p, volt_loop_phase from) {
    int64_t first = 0;
    volt_status st = VOLT_OK;
    if (from == VOLT_PHASE_BATCH_END || from == VOLT_PHASE_BATCH_DONE) {
        first = t->batch_pos;
        if (from == VOLT_PHASE_BATCH_END) st = volt_fit_batch_end_log(t, first - 1);
        if (!st) st = after_batch(t, p, first - 1, from == VOLT_PHASE_BATCH_DONE);
        if (st || p->done) return st;
    }
    for (int64_t i = first; i < p->n_train; i++) {
        volt_scope_begin();
        volt_batch b;
        if (volt_profiled_next(t, p->train_dl, &b, "get_train_batch")) {
            int pt = volt_profile_begin(t, "run_training_batch");
            st = volt_fit_train_batch(t, &b, i, i == p->n_train - 1);
            volt_profile_end(t, pt);
        } else
            st = volt_error_status()
                     ? volt_error_status()
                     : volt_error_set(VOLT_ERR_STATE, "the train loader ended early");
        volt_scope_end();
        volt_hook_id where = VOLT_HK_DATALOADER;
        if (!st && (st = volt_interrupt_check())) where = VOLT_HK_INTERRUPT;
        if (st) {
            volt_step s = volt_step_make(t, NULL);
            s.batch_idx = i;
            return volt_hook_fail(t, &s, where, st);
        }
        if (t->epoch_skipped) { /* the epoch ends here: its schedulers still step */
            st = volt_fit_step_schedulers(t, VOLT_INTERVAL_EPOCH, false, t->epoch + 1);
            return st ? volt_hook_fail(t, NULL, VOLT_HK_ON_TRAIN_EPOCH_END, st) : VOLT_OK;
        }
        if ((st = after_batch(t, p, i, false))) return st;
        if (p->done) break;
    }
    return VOLT_OK;
}

/* One epoch, or the rest of one from a checkpoint's phase. A resumed
 * mid-epoch run calls on_train_epoch_start again, as Lightning does. */
static volt_status run_epoch(volt_trainer *t, fit_plan *p, volt_loop_phase from) {
    t->epoch_skipped = t->window_grads = false;
    volt_step s = volt_step_make(t, &t->train_results);
    volt_status st;
    int64_t step = t->log_step > 0 ? t->log_step - 1 : 0;
    if (from != VOLT_PHASE_EPOCH_END) {
        if (from == VOLT_PHASE_EPOCH_START) {
            volt_log_results_reset(&t->train_results);
            t->batch_pos = 0;
            volt_data_loader_set_epoch(p->train_dl, t->cfg.overfit_batches != 0 ? 0 : t->epoch);
        }
        if ((st = volt_hook_run(t, &s, VOLT_HK_ON_TRAIN_EPOCH_START))) return st;
        volt_progress_begin(t, "train", p->n_train);
        st = epoch_batches(t, p, from);
        volt_data_loader_stop(p->train_dl);
        if (st) return st;
        step = t->log_step > 0 ? t->log_step - 1 : 0;
        if ((st = volt_log_epoch_end(t, &t->train_results, false, step, NULL)))
            return volt_hook_fail(t, &s, VOLT_HK_ON_TRAIN_EPOCH_END, st);
        t->phase = VOLT_PHASE_EPOCH_END;
        if ((st = volt_hook_run_ex(t, &s, VOLT_HK_ON_TRAIN_EPOCH_END, true))) return st;
    }
    if ((st = volt_log_epoch_end(t, &t->train_results, true, step, NULL)))
        return volt_hook_fail(t, &s, VOLT_HK_ON_TRAIN_EPOCH_END, st);
    volt_progress_end(t, "train", p->n_train);
    st = volt_fit_step_schedulers(t, VOLT_INTERVAL_EPOCH, true, t->epoch + 1);
    return st ? volt_hook_fail(t, &s, VOLT_HK_ON_TRAIN_EPOCH_END, st) : VOLT_OK;
}

static volt_status sanity_check(volt_trainer *t, fit_plan *p, volt_step *s) {
    int64_t n = t->cfg.num_sanity_val_steps;
    if (t->fast_dev || !p->val_dl || n == 0 || p->n_val == 0) return VOLT_OK;
    if (n < 0 || n > p->n_val) n = p->n_val;
    t->sanity = true;
    /* Nothing of the check survives it: the generator (Lightning's
     * isolate_rng) and the callback metrics (empty, or a checkpoint's). */
    volt_generator rng = *volt_default_generator();
    volt_metrics kept = {0};
    volt_status st = VOLT_OK;
    for (int64_t i = 0; i < t->callback_metrics.count && !st; i++)
        st = volt_metrics_set(&kept, t->callback_metrics.names[i], t->callback_metrics.values[i]);
    if (!st) st = volt_hook_run(t, s, VOLT_HK_ON_SANITY_CHECK_START);
    if (!st) st = volt_eval_run(t, VOLT_EVAL_SANITY, p->val_dl, n, NULL, NULL);
    if (!st) st = volt_hook_run(t, s, VOLT_HK_ON_SANITY_CHECK_END);
    *volt_default_generator() = rng;
    t->sanity = false;
    volt_metrics_release(&t->callback_metrics);
    t->callback_metrics = kept;
    volt_metrics_clear(&t->logged_metrics);
    volt_metrics_clear(&t->pbar_metrics);
    return st;
}

static volt_status epochs(volt_trainer *t, fit_plan *p, volt_step *s) {
    volt_status st = volt_hook_run(t, s, VOLT_HK_ON_TRAIN_START);
    int64_t reload = t->cfg.reload_dataloaders_every_n_epochs;
    volt_loop_phase from = t->phase; /* EPOCH_START unless resuming */
    while (!st && !p->done && (p->max_epochs < 0 || t->epoch < p->max_epochs)) {
        if (from == VOLT_PHASE_EPOCH_START && reload > 0 && t->epoch > 0 &&
            t->epoch % reload == 0 && (st = plan_loaders(t, p)))
            break;
        int pt = volt_profile_begin(t, "run_training_epoch");
        st = run_epoch(t, p, from);
        volt_profile_end(t, pt);
        if (st) break;
        from = VOLT_PHASE_EPOCH_START;
        t->epoch++;
        t->phase = VOLT_PHASE_EPOCH_START;
        t->batch_pos = 0;
        bool min_done = t->epoch >= p->min_epochs && t->global_step >= p->min_steps;
        if (time_up(t) || (t->should_stop && min_done)) p->done = true;
    }
    if (!st) st = volt_hook_run(t, s, VOLT_HK_ON_TRAIN_END);
    return st;
}

volt_status volt_fit_run(volt_trainer *t) {
    volt_step s = volt_step_make(t, NULL);
    fit_plan p = {0};
    volt_status st = configure(t, &s);
    if (!st) st = plan_loaders(t, &p);
    if (st) return st;
    if ((st = volt_strategy_fit_setup(t))) return st;
    if ((st = volt_ckpt_restore_training(t, p.train_dl)))
        return volt_hook_fail(t, &s, VOLT_HK_ON_LOAD_CHECKPOINT, st);
    volt_ckpt_release(t);
    plan_lengths(t, &p);
    if (t->cfg.enable_model_summary && t->rank == 0)
        volt_model_summary_print(t->module, (int)t->cfg.model_summary_max_depth, stderr);
    volt_module_train(t->module, true);
    if ((st = volt_hook_run(t, &s, VOLT_HK_ON_FIT_START))) return st;
    if ((st = sanity_check(t, &p, &s))) return st;
    if (p.n_train > 0 && (st = epochs(t, &p, &s))) return st;
    return volt_hook_run(t, &s, VOLT_HK_ON_FIT_END);
}
