/* fabric_backward.c: volt_fabric_backward (backward of the loss, scaled
 * under 16-mixed, then the set-up modules' gradients averaged over the
 * ranks by their reducers, or zero1's reduce-scatter),
 * volt_fabric_no_backward_sync (accumulation windows without
 * communication), volt_fabric_clip_gradients, volt_fabric_optimizer_step
 * (16-mixed's skipped steps, zero1's all-gather after the step), and the
 * explicit synchronization the trainer uses. */
#include <math.h>
#include <string.h>

#include "train/fabric_impl.h"

static const char *module_name(const volt_module *m) {
    return m->ops && m->ops->name ? m->ops->name : "module";
}

static volt_status not_set_up(const char *op, const volt_module *m) {
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                          "fabric: %s: module '%s' was not set up (volt_fabric_setup_module)", op,
                          module_name(m));
}

volt_status volt_fabric_backward(volt_fabric *f, volt_tensor *loss, volt_module *module) {
    volt_status st = volt_fabric_need_launch(f, "backward");
    if (st) return st;
    if (f->n_modules == 0)
        return volt_error_set(VOLT_ERR_STATE, "fabric: backward: no module is set up (call "
                                              "volt_fabric_setup_module before training)");
    if (module && !volt_fabric_find_module(f, module)) return not_set_up("backward", module);
    if (!loss) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: backward: NULL loss");
    if (strcmp(f->strategy, "zero1") == 0 && volt_fabric_distributed(f) && !f->zero1)
        return volt_error_set(VOLT_ERR_STATE,
                              "fabric: backward: strategy 'zero1' reduces the gradients of the "
                              "optimizer's parameters: set the optimizer up "
                              "(volt_fabric_setup_optimizers) before backward");
    bool zero1_sync = true; /* no selected module inside a no_backward_sync window */
    for (int i = 0; i < f->n_modules; i++) {
        volt_fabric_module *e = &f->modules[i];
        bool selected = !module || e->module == module;
        if (selected && e->no_sync) zero1_sync = false;
        if (e->reducer) volt_grad_reducer_set_sync(e->reducer, !e->no_sync && selected);
    }
    volt_tensor *scaled = volt_fabric_scale_loss(f, loss); /* 16-mixed */
    if (!scaled || (st = volt_backward(scaled)))
        return volt_error_prefix(volt_error_status(), "fabric: backward");
    for (int i = 0; i < f->n_modules && !st; i++) {
        volt_fabric_module *e = &f->modules[i];
        if (!e->reducer || !volt_grad_reducer_sync(e->reducer)) continue;
        if ((st = volt_grad_reducer_finish(e->reducer)))
            st = volt_error_prefix(st,
                                   "fabric: backward: ddp: averaging the gradients of module "
                                   "'%s'",
                                   module_name(e->module));
    }
    if (!st && f->zero1 && zero1_sync && (st = volt_zero1_reduce_gradients(f->zero1)))
        st = volt_error_prefix(st, "fabric: backward: zero1: averaging the gradients");
    return st;
}

volt_status volt_fabric_no_backward_sync(volt_fabric *f, volt_module *module, bool enabled) {
    volt_status st = volt_fabric_need_launch(f, "no_backward_sync");
    if (st) return st;
    volt_fabric_module *one = module ? volt_fabric_find_module(f, module) : NULL;
    if (module && !one) return not_set_up("no_backward_sync", module);
    for (int i = 0; i < f->n_modules; i++) {
        volt_fabric_module *e = &f->modules[i];
        if (one && e != one) continue;
        e->no_sync = enabled;
        /* for a plain volt_backward too (the trainer's); backward sets it again */
        if (e->reducer) volt_grad_reducer_set_sync(e->reducer, !enabled);
    }
    return VOLT_OK;
}

static volt_status check_clip(volt_fabric *f, volt_module *module, volt_optimizer *optimizer,
                              double clip_val, double max_norm) {
    if (!module && !optimizer)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: clip_gradients: module and optimizer are both NULL (give "
                              "the module, the optimizer, or both)");
    if (module && !volt_fabric_find_module(f, module)) return not_set_up("clip_gradients", module);
    if (optimizer && !volt_fabric_has_optimizer(f, optimizer))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: clip_gradients: the %s optimizer was not set up "
                              "(volt_fabric_setup_optimizers)",
                              volt_optimizer_name(optimizer));
    if (!(clip_val >= 0) || !(max_norm >= 0) || isinf(clip_val) || isinf(max_norm))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: clip_gradients: clip_val = %g, max_norm = %g (each must be "
                              "finite and >= 0; 0: not given)",
                              clip_val, max_norm);
    if ((clip_val > 0) == (max_norm > 0))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: clip_gradients: give exactly one of clip_val (%g) and "
                              "max_norm (%g)",
                              clip_val, max_norm);
    if (f->scaler.enabled && !optimizer)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: clip_gradients: precision '16-mixed' needs the optimizer "
                              "(its gradients are unscaled before they are clipped)");
    return VOLT_OK;
}

volt_status volt_fabric_clip_gradients(volt_fabric *f, volt_module *module,
                                       volt_optimizer *optimizer, double clip_val, double max_norm,
                                       double *total_norm) {
    if (total_norm) *total_norm = NAN;
    volt_status st = volt_fabric_need_launch(f, "clip_gradients");
    if (!st) st = check_clip(f, module, optimizer, clip_val, max_norm);
    if (st) return st;
    volt_fabric_optimizer *e = volt_fabric_find_optimizer(f, optimizer);
    if (e && (st = volt_fabric_unscale(f, e)))
        return volt_error_prefix(st, "fabric: clip_gradients");
    if (e && e->found_inf) { /* 16-mixed overflowed: the step will be skipped */
        if (total_norm) *total_norm = INFINITY;
        return VOLT_OK;
    }
    volt_params ps = optimizer ? volt_optimizer_params(optimizer) : volt_module_parameters(module);
    if (clip_val > 0) {
        st = volt_clip_grad_value(ps, clip_val);
        return st ? volt_error_prefix(st, "fabric: clip_gradients") : VOLT_OK;
    }
    /* zero1: each rank holds its shard's gradients; the norm is global */
    bool sharded = f->zero1 && (!optimizer || optimizer == volt_zero1_optimizer(f->zero1));
    double norm = NAN;
    if (sharded && (st = volt_zero1_clip_grad_norm(f->zero1, max_norm, &norm)))
        return volt_error_prefix(st, "fabric: clip_gradients");
    if (!sharded) norm = volt_clip_grad_norm(ps, max_norm, 2.0, true);
    if (!isfinite(norm) && sharded)
        return volt_error_set(
            VOLT_ERR_STATE, "fabric: clip_gradients: the total norm of the gradients is %g", norm);
    if (!isfinite(norm))
        return volt_error_prefix(volt_error_status() ? volt_error_status() : VOLT_ERR_STATE,
                                 "fabric: clip_gradients");
    if (total_norm) *total_norm = norm;
    return VOLT_OK;
}

/* ------------------------------------------------------ optimizer step */

volt_status volt_fabric_after_step(volt_fabric *f, volt_optimizer *optimizer) {
    if (!f->zero1 || optimizer != volt_zero1_optimizer(f->zero1)) return VOLT_OK;
    return volt_zero1_gather_parameters(f->zero1);
}

volt_status volt_fabric_optimizer_step(volt_fabric *f, volt_optimizer *optimizer) {
    volt_status st = volt_fabric_need_launch(f, "optimizer_step");
    if (st) return st;
    volt_fabric_optimizer *e = volt_fabric_find_optimizer(f, optimizer);
    if (!e)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: optimizer_step: %s",
                              optimizer ? "the optimizer was not set up "
                                          "(volt_fabric_setup_optimizers)"
                                        : "NULL optimizer");
    /* A rank whose step failed still takes part in zero1's all-gather (the
     * others would wait for it); its error is its own. */
    volt_status step = volt_fabric_scaled_step(f, e);
    if (step) volt_error_prefix(step, "fabric: optimizer_step");
    st = volt_fabric_after_step(f, optimizer);
    if (step) return step;
    return st ? volt_error_prefix(st, "fabric: optimizer_step: zero1: gathering the parameters")
              : VOLT_OK;
}

/* ------------------------------------------------------ the trainer's */

bool volt_fabric_syncs_gradients(const volt_fabric *f) {
    if (!f) return false;
    if (f->zero1) return true;
    for (int i = 0; i < f->n_modules; i++)
        if (f->modules[i].reducer) return true;
    return false;
}

volt_status volt_fabric_sync_gradients(volt_fabric *f) {
    volt_status st = VOLT_OK;
    for (int i = 0; i < f->n_modules && !st; i++)
        if (f->modules[i].reducer) st = volt_grad_reducer_finish(f->modules[i].reducer);
    if (!st && f->zero1) st = volt_zero1_reduce_gradients(f->zero1);
    return st;
}

volt_grad_reducer_stats volt_fabric_gradient_sync_stats(const volt_fabric *f) {
    volt_grad_reducer_stats sum = {0};
    bool live = false;
    for (int i = 0; f && i < f->n_modules; i++) {
        if (!f->modules[i].reducer) continue;
        volt_grad_reducer_stats s = volt_grad_reducer_get_stats(f->modules[i].reducer);
        sum.reductions += s.reductions;
        sum.buckets += s.buckets;
        sum.bytes += s.bytes;
        sum.wait_seconds += s.wait_seconds;
        live = true;
    }
    return live || !f ? sum : f->last_stats;
}
