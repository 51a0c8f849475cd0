/* trainer_state.c: what callbacks read and set on a running trainer — the
 * checkpoint resumed from, the default checkpoint directory, the elapsed
 * time, the accumulation factor, writing rows to the loggers, the loggers'
 * step, finding callbacks by name — and the exit status of a run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_impl.h"

volt_callback *volt_trainer_find_callback(const volt_trainer *t, const char *name, int n) {
    for (int i = 0; t && name && i < t->n_callbacks; i++) {
        const char *cn = t->callbacks[i]->ops->name;
        if (cn && strcmp(cn, name) == 0 && n-- == 0) return t->callbacks[i];
    }
    return NULL;
}

const char *volt_trainer_ckpt_path(const volt_trainer *t) { return t ? t->ckpt_path : NULL; }

const char *volt_trainer_default_checkpoint_dir(volt_trainer *t) {
    if (!t) return NULL;
    if (t->ckpt_dir_shared) return t->ckpt_dir; /* rank 0's, for this run */
    const char *log_dir = t->log_enabled ? volt_trainer_log_dir(t) : NULL;
    const char *base = log_dir ? log_dir : t->root_dir;
    size_t n = strlen(base) + sizeof "/checkpoints";
    char *dir = malloc(n);
    if (!dir) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "default_checkpoint_dir: out of memory");
        return NULL;
    }
    snprintf(dir, n, "%s/checkpoints", base);
    free(t->ckpt_dir);
    t->ckpt_dir = dir;
    return dir;
}

double volt_trainer_time_elapsed(const volt_trainer *t) {
    if (!t) return 0;
    return t->time_offset + (t->running ? volt_time_now() - t->start_time : 0);
}

volt_status volt_trainer_set_accumulate_grad_batches(volt_trainer *t, int64_t n) {
    if (!t) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "set_accumulate_grad_batches: NULL");
    if (n < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "set_accumulate_grad_batches: %lld (must be >= 1)", (long long)n);
    if (n > 1 && t->module && t->module->ops && t->module->ops->manual_optimization)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "set_accumulate_grad_batches: %lld needs automatic optimization",
                              (long long)n);
    t->accumulate = n;
    return VOLT_OK;
}

int64_t volt_trainer_accumulate_grad_batches(const volt_trainer *t) {
    return t ? t->accumulate : 1;
}

volt_status volt_trainer_log_metrics(volt_trainer *t, const volt_metrics *metrics, int64_t step) {
    if (!t || !metrics)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "trainer_log_metrics: NULL argument");
    volt_metrics row = {0};
    volt_status st = VOLT_OK;
    for (int64_t i = 0; i < metrics->count && !st; i++)
        st = volt_metrics_set(&row, metrics->names[i], metrics->values[i]);
    if (!st && row.count) st = volt_loggers_write(t, &row, step);
    volt_metrics_release(&row);
    return st;
}

int64_t volt_trainer_num_val_batches(const volt_trainer *t) { return t ? t->num_val_batches : 0; }

int64_t volt_trainer_logger_step(const volt_trainer *t) { return t ? t->log_step : 0; }

int volt_exit_code(const volt_trainer *t, volt_status status) {
    if (status == VOLT_OK) return 0;
    return t && t->preempted ? VOLT_EXIT_PREEMPTED : 1;
}

void volt_trainer_set_configure_optimizers(volt_trainer *t, volt_configure_optimizers_fn fn,
                                           void *ctx) {
    if (!t) return;
    t->configure_override = fn;
    t->configure_ctx = fn ? ctx : NULL;
}
