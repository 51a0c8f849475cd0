/* fabric_backward.c: volt_fabric_backward (backward, then the set-up
 * modules' gradients averaged over the ranks by their reducers),
 * volt_fabric_no_backward_sync (accumulation windows without
 * communication) and volt_fabric_clip_gradients. */
#include <math.h>

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
    for (int i = 0; i < f->n_modules; i++) {
        volt_fabric_module *e = &f->modules[i];
        if (e->reducer)
            volt_grad_reducer_set_sync(e->reducer, !e->no_sync && (!module || e->module == module));
    }
    if ((st = volt_backward(loss))) return volt_error_prefix(st, "fabric: backward");
    for (int i = 0; i < f->n_modules && !st; i++) {
        volt_fabric_module *e = &f->modules[i];
        if (!e->reducer || !volt_grad_reducer_sync(e->reducer)) continue;
        if ((st = volt_grad_reducer_finish(e->reducer)))
            st = volt_error_prefix(st,
                                   "fabric: backward: ddp: averaging the gradients of module "
                                   "'%s'",
                                   module_name(e->module));
    }
    return st;
}

volt_status volt_fabric_no_backward_sync(volt_fabric *f, volt_module *module, bool enabled) {
    volt_status st = volt_fabric_need_launch(f, "no_backward_sync");
    if (st) return st;
    volt_fabric_module *one = module ? volt_fabric_find_module(f, module) : NULL;
    if (module && !one) return not_set_up("no_backward_sync", module);
    for (int i = 0; i < f->n_modules; i++)
        if (!one || &f->modules[i] == one) f->modules[i].no_sync = enabled;
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
    return VOLT_OK;
}

volt_status volt_fabric_clip_gradients(volt_fabric *f, volt_module *module,
                                       volt_optimizer *optimizer, double clip_val, double max_norm,
                                       double *total_norm) {
    if (total_norm) *total_norm = NAN;
    volt_status st = volt_fabric_need_launch(f, "clip_gradients");
    if (!st) st = check_clip(f, module, optimizer, clip_val, max_norm);
    if (st) return st;
    volt_params ps = optimizer ? volt_optimizer_params(optimizer) : volt_module_parameters(module);
    if (clip_val > 0) {
        st = volt_clip_grad_value(ps, clip_val);
        return st ? volt_error_prefix(st, "fabric: clip_gradients") : VOLT_OK;
    }
    double norm = volt_clip_grad_norm(ps, max_norm, 2.0, true);
    if (!isfinite(norm))
        return volt_error_prefix(volt_error_status() ? volt_error_status() : VOLT_ERR_STATE,
                                 "fabric: clip_gradients");
    if (total_norm) *total_norm = norm;
    return VOLT_OK;
}
