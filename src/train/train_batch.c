/* train_batch.c: one training batch in Lightning's order — batch transfer
 * hooks, batch start (which may skip the rest of the epoch), training_step
 * (NULL without an error: the batch is skipped), zero_grad (first batch of
 * an accumulation window that produces gradients), backward with its hooks,
 * then (last batch of the window) on_before_optimizer_step, gradient
 * clipping, optimizer_step and step-interval schedulers — and the scheduler
 * stepping shared with the epoch loop. */
#include <math.h>
#include <string.h>

#include "ops/cpu/parallel.h"
#include "train/precision_impl.h"
#include "train/train_impl.h"
#include "train/train_loop.h"

/* Steps the schedulers of `interval` (plateau ones only when `plateau`,
 * the others only when not), honouring each one's frequency. */
volt_status volt_fit_step_schedulers(volt_trainer *t, volt_interval interval, bool plateau,
                                     int64_t count) {
    for (int i = 0; i < t->n_optims; i++) {
        volt_optim_entry *e = &t->optims[i];
        if (!e->sched || e->cfg.interval != interval) continue;
        bool needs = volt_lr_scheduler_needs_metric(e->sched);
        if (needs != plateau || count % e->cfg.frequency != 0) continue;
        volt_status st;
        if (!needs) {
            st = volt_lr_scheduler_step(e->sched);
        } else if (!volt_metrics_has(&t->callback_metrics, e->monitor)) {
            if (!e->cfg.strict) continue;
            st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                "%s conditioned on metric '%s', which is not available (log it, "
                                "or set strict = false)",
                                volt_lr_scheduler_name(e->sched), e->monitor);
        } else {
            st = volt_lr_scheduler_step_metric(e->sched,
                                               volt_metrics_get(&t->callback_metrics, e->monitor));
        }
        if (st) return st;
    }
    return VOLT_OK;
}

static volt_status check_loss(volt_trainer *t, volt_step *s, volt_tensor *loss) {
    if (volt_tensor_numel(loss) != 1) {
        char buf[64];
        return volt_hook_fail(t, s, VOLT_HK_TRAINING_STEP,
                              volt_error_set(VOLT_ERR_SHAPE, "the loss %s is not a scalar",
                                             volt_shape_str(loss, buf, sizeof buf)));
    }
    if (t->cfg.detect_anomaly) {
        double v = volt_tensor_item(loss);
        if (!isfinite(v))
            return volt_hook_fail(
                t, s, VOLT_HK_TRAINING_STEP,
                volt_error_set(VOLT_ERR_STATE, "detect_anomaly: the loss is %g", v));
    }
    return VOLT_OK;
}

/* Beside the parameters' update (on the calling thread, while the other
 * threads update), the training loader builds the batch it delivers next:
 * Lightning too fetches the next batch before the current step ends. */
static void build_next_batch(void *loader) { volt_data_loader_prefetch(loader); }

/* The optimizer part of a batch that ends an accumulation window; with
 * build_next (not the epoch's last batch) the built-in step builds the
 * next batch beside its update. Under 16-mixed the gradients are unscaled
 * first (so hooks and clipping see true values), and a step whose
 * gradients hold an inf or NaN is skipped (the module's optimizer_step
 * hook too) but counted, as Lightning counts it. */
static volt_status optimizer_step(volt_trainer *t, volt_step *s, bool build_next) {
    const volt_module_ops *ops = t->module->ops;
    volt_status st = volt_grad_scaler_unscale(&t->scaler, s->optimizer);
    if (st) return volt_hook_fail(t, s, VOLT_HK_OPTIMIZER_STEP, st);
    st = volt_hook_run(t, s, VOLT_HK_ON_BEFORE_OPTIMIZER_STEP);
    if (st) return st;
    if (ops->configure_gradient_clipping) {
        st = volt_hook_run(t, s, VOLT_HK_CONFIGURE_GRADIENT_CLIPPING);
    } else {
        st = volt_clip_gradients(s, s->optimizer, t->cfg.gradient_clip_val,
                                 t->cfg.gradient_clip_algorithm);
        if (st) st = volt_hook_fail(t, s, VOLT_HK_CONFIGURE_GRADIENT_CLIPPING, st);
    }
    if (st) return st;
    int pt = volt_profile_begin(t, "optimizer_step");
    if (t->scaler.found_inf) {
        st = VOLT_OK;
    } else if (ops->optimizer_step) {
        st = volt_hook_run(t, s, VOLT_HK_OPTIMIZER_STEP);
    } else {
        if (build_next) volt_cpu_beside_set(build_next_batch, t->train_dl);
        st = volt_optimizer_step(s->optimizer);
        volt_cpu_beside_set(NULL, NULL);
        if (st) st = volt_hook_fail(t, s, VOLT_HK_OPTIMIZER_STEP, st);
    }
    volt_profile_end(t, pt);
    volt_grad_scaler_update(&t->scaler);
    if (!st && (st = volt_strategy_after_optimizer_step(t)))
        st = volt_hook_fail(t, s, VOLT_HK_OPTIMIZER_STEP, st);
    if (st) return st;
    t->window_grads = false;
    t->global_step++;
    st = volt_fit_step_schedulers(t, VOLT_INTERVAL_STEP, false, t->global_step);
    if (!st) st = volt_fit_step_schedulers(t, VOLT_INTERVAL_STEP, true, t->global_step);
    return st ? volt_hook_fail(t, s, VOLT_HK_OPTIMIZER_STEP, st) : VOLT_OK;
}

static volt_status automatic(volt_trainer *t, volt_step *s, volt_tensor *loss, bool last,
                             bool *stepped) {
    int64_t acc = t->accumulate;
    bool closes = (s->batch_idx + 1) % acc == 0 || last;
    s->optimizer = t->optims[0].opt;
    if (!loss) { /* skipped: no gradient from this batch */
        *stepped = closes && t->window_grads;
        volt_status st = *stepped ? volt_strategy_sync_gradients(t) : VOLT_OK;
        if (st) st = volt_hook_fail(t, s, VOLT_HK_BACKWARD, st);
        if (!st && *stepped) st = optimizer_step(t, s, !last);
        s->outputs = NULL;
        return st;
    }
    volt_status st = check_loss(t, s, loss);
    if (st) return st;
    if (!t->window_grads) {
        if ((st = volt_hook_run(t, s, VOLT_HK_ON_BEFORE_ZERO_GRAD))) return st;
        int pt = volt_profile_begin(t, "zero_grad");
        volt_optimizer_zero_grad(s->optimizer);
        volt_profile_end(t, pt);
    }
    volt_tensor *scaled = acc > 1 ? volt_div_scalar(loss, (double)acc) : loss;
    s->outputs = scaled;
    if ((st = volt_hook_run(t, s, VOLT_HK_ON_BEFORE_BACKWARD))) return st;
    volt_strategy_before_backward(t, closes); /* ddp: no_sync inside the window */
    int pt = volt_profile_begin(t, "backward");
    volt_tensor *scaled_up = volt_grad_scaler_scale(&t->scaler, scaled);
    st = scaled_up ? volt_backward(scaled_up) : volt_error_status();
    volt_profile_end(t, pt);
    if (!st && closes) st = volt_strategy_sync_gradients(t);
    if (st) return volt_hook_fail(t, s, VOLT_HK_BACKWARD, st);
    t->window_grads = true;
    if ((st = volt_hook_run(t, s, VOLT_HK_ON_AFTER_BACKWARD))) return st;
    *stepped = closes;
    if (*stepped && (st = optimizer_step(t, s, !last))) return st;
    s->outputs = loss;
    return VOLT_OK;
}

static int64_t optimizer_steps(const volt_trainer *t) {
    int64_t n = 0;
    for (int i = 0; i < t->n_optims; i++) n += volt_optimizer_step_count(t->optims[i].opt);
    return n;
}

volt_status volt_fit_train_batch(volt_trainer *t, volt_batch *b, int64_t i, bool last) {
    volt_step s = volt_step_make(t, &t->train_results);
    s.batch = b;
    s.batch_idx = i;
    volt_status st = volt_hook_batch_transfer(t, &s);
    if (!st) st = volt_hook_run(t, &s, VOLT_HK_ON_TRAIN_BATCH_START);
    if (st) return st;
    if (s.skip_epoch) {
        t->epoch_skipped = true;
        return VOLT_OK;
    }
    bool manual = t->module->ops->manual_optimization, stepped = true;
    int64_t before = manual ? optimizer_steps(t) : 0;
    volt_tensor *loss = NULL;
    volt_autocast_mode ac = volt_autocast_set(volt_precision_autocast(t->cfg.precision));
    st = volt_hook_step(t, &s, VOLT_HK_TRAINING_STEP, t->module->ops->training_step, &loss);
    volt_autocast_set(ac);
    if (st) return st;
    if (manual) {
        s.outputs = loss;
        t->global_step += optimizer_steps(t) - before;
    } else if ((st = automatic(t, &s, loss, last, &stepped))) {
        return st;
    }
    t->phase = VOLT_PHASE_BATCH_END; /* a checkpoint written now resumes after this hook */
    t->batch_pos = i + 1;
    t->batch_stepped = stepped;
    if ((st = volt_hook_run(t, &s, VOLT_HK_ON_TRAIN_BATCH_END))) return st;
    return volt_fit_batch_end_log(t, i);
}

volt_status volt_fit_batch_end_log(volt_trainer *t, int64_t i) {
    if (!t->batch_stepped) return VOLT_OK;
    int64_t every = t->cfg.log_every_n_steps;
    bool write = every > 0 && (t->log_step + 1) % every == 0;
    volt_status st = volt_log_step_end(t, &t->train_results, write, t->log_step);
    t->log_step++;
    if (!st) return VOLT_OK;
    volt_step s = volt_step_make(t, &t->train_results);
    s.batch_idx = i;
    return volt_hook_fail(t, &s, VOLT_HK_ON_TRAIN_BATCH_END, st);
}
