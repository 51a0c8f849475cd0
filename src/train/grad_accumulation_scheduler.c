/* grad_accumulation_scheduler.c: Lightning's GradientAccumulationScheduler —
 * a schedule epoch -> accumulation factor, applied at each training epoch
 * start through volt_trainer_set_accumulate_grad_batches. Before the first
 * scheduled epoch the factor is 1 (Lightning adds {0: 1} when 0 is not in
 * the schedule). Refused, as Lightning refuses it, with manual optimization
 * and with a trainer whose accumulate_grad_batches is not 1. */
#include <stdlib.h>
#include <string.h>

#include "volt/train.h"

#define WHO "GradientAccumulationScheduler"

typedef struct {
    volt_callback base;
    int n;
    int64_t *epochs, *factors; /* epochs strictly ascending */
} gas_cb;

/* The factor of `epoch`: that of the last scheduled epoch <= epoch, else 1. */
static int64_t factor_at(const gas_cb *g, int64_t epoch) {
    int64_t f = 1;
    for (int i = 0; i < g->n && g->epochs[i] <= epoch; i++) f = g->factors[i];
    return f;
}

static volt_status on_fit_start(volt_callback *cb, volt_module *m, volt_step *step) {
    (void)cb;
    if (m->ops && m->ops->manual_optimization)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              WHO ": module '%s' uses manual optimization; automatic gradient "
                                  "accumulation does not apply to it (remove the callback)",
                              m->ops->name ? m->ops->name : "?");
    const volt_trainer_config *c = volt_trainer_get_config(volt_step_trainer(step));
    if (c && c->accumulate_grad_batches != 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              WHO ": the trainer has accumulate_grad_batches = %lld; the callback "
                                  "sets the factor itself: leave accumulate_grad_batches at 1 or "
                                  "remove the callback",
                              (long long)c->accumulate_grad_batches);
    return VOLT_OK;
}

static volt_status on_train_epoch_start(volt_callback *cb, volt_module *m, volt_step *step) {
    (void)m;
    volt_trainer *t = volt_step_trainer(step);
    return volt_trainer_set_accumulate_grad_batches(
        t, factor_at((const gas_cb *)cb, volt_trainer_current_epoch(t)));
}

static void gas_free(volt_callback *cb) {
    gas_cb *g = (gas_cb *)cb;
    free(g->epochs);
    free(g->factors);
    free(g);
}

static const volt_callback_ops gas_ops = {
    .name = WHO,
    .on_fit_start = on_fit_start,
    .on_train_epoch_start = on_train_epoch_start,
    .free = gas_free,
};

static bool check(int n, const int64_t *epochs, const int64_t *factors) {
    if (n < 1 || !epochs || !factors) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       WHO
                       ": the schedule needs at least one entry (n = %d, epochs %s, factors %s)",
                       n, epochs ? "given" : "NULL", factors ? "given" : "NULL");
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (epochs[i] < 0) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, WHO ": epochs[%d] = %lld is negative", i,
                           (long long)epochs[i]);
            return false;
        }
        if (i > 0 && epochs[i] <= epochs[i - 1]) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           WHO ": epochs must be strictly ascending: epochs[%d] = %lld after "
                               "epochs[%d] = %lld",
                           i, (long long)epochs[i], i - 1, (long long)epochs[i - 1]);
            return false;
        }
        if (factors[i] < 1) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           WHO ": factors[%d] = %lld (epoch %lld) must be >= 1", i,
                           (long long)factors[i], (long long)epochs[i]);
            return false;
        }
    }
    return true;
}

volt_callback *volt_grad_accumulation_scheduler_new(int n, const int64_t *epochs,
                                                    const int64_t *factors) {
    if (!check(n, epochs, factors)) return NULL;
    gas_cb *g = calloc(1, sizeof *g);
    if (g) {
        g->epochs = malloc((size_t)n * sizeof *g->epochs);
        g->factors = malloc((size_t)n * sizeof *g->factors);
    }
    if (!g || !g->epochs || !g->factors) {
        if (g) gas_free(&g->base);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, WHO ": out of memory");
        return NULL;
    }
    memcpy(g->epochs, epochs, (size_t)n * sizeof *epochs);
    memcpy(g->factors, factors, (size_t)n * sizeof *factors);
    g->n = n;
    g->base.ops = &gas_ops;
    return &g->base;
}
