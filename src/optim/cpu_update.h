/* cpu_update.h: the fused CPU update of each built-in optimizer (one pass
 * over a contiguous f32/f64 parameter, its gradient and its state slots;
 * SGD's also over bf16, compensated or not). */
#ifndef VOLT_OPTIM_CPU_UPDATE_H
#define VOLT_OPTIM_CPU_UPDATE_H

#include "optim/optim_impl.h"

/* slot 0: momentum_buffer (when momentum != 0). */
void volt_cpu_sgd_update(const volt_optim_update *u);
/* slots: exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad). Adam adds the L2
 * term to the gradient, AdamW decays the parameter (decoupled). */
void volt_cpu_adam_update(const volt_optim_update *u);
void volt_cpu_adamw_update(const volt_optim_update *u);
/* slots: square_avg, momentum_buffer (momentum > 0), grad_avg (centered). */
void volt_cpu_rmsprop_update(const volt_optim_update *u);
/* slot 0: sum. */
void volt_cpu_adagrad_update(const volt_optim_update *u);
/* slot 0: exp_avg. */
void volt_cpu_lion_update(const volt_optim_update *u);

/* Compensated updates of a bf16 parameter p with compensation c, run on an
 * f32 copy q of p (optimizer.c's generic bf16 path), n elements, one
 * thread: before the update q += c; after it p = round(q), c = round(q -
 * p) — what SGD's bf16 kernels do in place. */
void volt_cpu_comp_add(float *q, const uint16_t *c, int64_t n);
void volt_cpu_comp_store(uint16_t *p, uint16_t *c, const float *q, int64_t n);

#endif
