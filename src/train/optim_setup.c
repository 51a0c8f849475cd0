/* optim_setup.c: what configure_optimizers fills (optimizers with their
 * schedulers and scheduler configurations, owned by the trainer), gradient
 * clipping as the trainer does it, and manual backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_impl.h"

volt_status volt_optim_setup_add_ex(volt_optim_setup *setup, volt_optimizer *optimizer,
                                    volt_lr_scheduler *scheduler,
                                    const volt_lr_scheduler_config *config) {
    volt_lr_scheduler_config cfg =
        config ? *config : (volt_lr_scheduler_config){VOLT_INTERVAL_EPOCH, 1, NULL, true};
    const char *why = NULL;
    if (!setup || !setup->trainer)
        why = "NULL setup";
    else if (!optimizer)
        why = "NULL optimizer (did its constructor fail?)";
    else if (cfg.interval != VOLT_INTERVAL_EPOCH && cfg.interval != VOLT_INTERVAL_STEP)
        why = "interval must be VOLT_INTERVAL_EPOCH or VOLT_INTERVAL_STEP";
    else if (cfg.frequency < 0)
        why = "frequency must be >= 1";
    else if (scheduler && volt_lr_scheduler_needs_metric(scheduler) && !cfg.monitor)
        why = "ReduceLROnPlateau needs a monitor (volt_optim_setup_add_ex)";
    if (why) {
        volt_lr_scheduler_free(scheduler);
        volt_optimizer_free(optimizer);
        if (volt_error_status()) return volt_error_status();
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "configure_optimizers: %s", why);
    }
    volt_trainer *t = setup->trainer;
    if (t->n_optims == t->cap_optims) {
        int cap = t->cap_optims ? 2 * t->cap_optims : 4;
        volt_optim_entry *grown = realloc(t->optims, (size_t)cap * sizeof *grown);
        if (!grown) {
            volt_lr_scheduler_free(scheduler);
            volt_optimizer_free(optimizer);
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "configure_optimizers: out of memory");
        }
        t->optims = grown;
        t->cap_optims = cap;
    }
    if (cfg.frequency == 0) cfg.frequency = 1;
    char *monitor = cfg.monitor ? strdup(cfg.monitor) : NULL;
    cfg.monitor = monitor;
    t->optims[t->n_optims++] = (volt_optim_entry){optimizer, scheduler, cfg, monitor};
    return VOLT_OK;
}

volt_status volt_optim_setup_add(volt_optim_setup *setup, volt_optimizer *optimizer,
                                 volt_lr_scheduler *scheduler, volt_interval interval) {
    volt_lr_scheduler_config cfg = {interval, 1, NULL, true};
    return volt_optim_setup_add_ex(setup, optimizer, scheduler, &cfg);
}

void volt_trainer_free_optims(volt_trainer *t) {
    for (int i = 0; i < t->n_optims; i++) {
        volt_lr_scheduler_free(t->optims[i].sched);
        volt_optimizer_free(t->optims[i].opt);
        free(t->optims[i].monitor);
    }
    t->n_optims = 0;
}

volt_optimizer *volt_trainer_optimizer(volt_trainer *t, int i) {
    if (!t || i < 0 || i >= t->n_optims) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "trainer: no optimizer %d (there are %d)", i,
                       t ? t->n_optims : 0);
        return NULL;
    }
    return t->optims[i].opt;
}

volt_lr_scheduler *volt_trainer_lr_scheduler(volt_trainer *t, int i) {
    if (!t || i < 0 || i >= t->n_optims || !t->optims[i].sched) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "trainer: no lr scheduler %d", i);
        return NULL;
    }
    return t->optims[i].sched;
}

int volt_trainer_num_optimizers(const volt_trainer *t) { return t ? t->n_optims : 0; }

volt_status volt_clip_gradients(volt_step *step, volt_optimizer *optimizer, double clip_val,
                                const char *algorithm) {
    if (!optimizer)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "clip_gradients: NULL optimizer");
    if (!(clip_val > 0) || clip_val == (double)VOLT_NONE) return VOLT_OK;
    volt_params p = volt_optimizer_params(optimizer);
    if (algorithm && strcmp(algorithm, "value") == 0) return volt_clip_grad_value(p, clip_val);
    if (algorithm && strcmp(algorithm, "norm") != 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "clip_gradients: unknown algorithm '%s' (\"norm\" or \"value\")",
                              algorithm);
    /* zero1: each rank holds its shard's gradients; the norm is global */
    volt_trainer *t = step ? step->trainer : NULL;
    if (t && t->zero1_state && t->n_optims > 0 && optimizer == t->optims[0].opt)
        return volt_zero1_clip_grad_norm(t->zero1_state, clip_val, NULL);
    double norm = volt_clip_grad_norm(p, clip_val, 2.0, false);
    return isnan(norm) && volt_error_status() ? volt_error_status() : VOLT_OK;
}

volt_status volt_manual_backward(volt_step *step, volt_tensor *loss) {
    if (!step || !step->trainer)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "manual_backward: NULL step");
    if (!loss) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "manual_backward: NULL loss");
    volt_trainer *t = step->trainer;
    volt_tensor *saved = step->outputs;
    step->outputs = loss;
    volt_status st = volt_hook_run(t, step, VOLT_HK_ON_BEFORE_BACKWARD);
    if (!st) {
        int pt = volt_profile_begin(t, "backward");
        st = volt_backward(loss);
        volt_profile_end(t, pt);
        if (st) st = volt_hook_fail(t, step, VOLT_HK_BACKWARD, st);
    }
    if (!st) st = volt_hook_run(t, step, VOLT_HK_ON_AFTER_BACKWARD);
    step->outputs = saved;
    return st;
}
