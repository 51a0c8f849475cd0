/* loss_impl.h: what the loss op files share — the reduction check and the
 * reduction of an elementwise loss (defined in loss_pointwise.c). */
#ifndef VOLT_LOSS_IMPL_H
#define VOLT_LOSS_IMPL_H

#include "ops/ops_impl.h"

/* Refuses an unknown reduction, and batchmean unless allow_batchmean. */
bool volt_loss_check_reduction(const char *op, volt_reduction reduction, bool allow_batchmean);

/* none: elem itself; sum: its sum; mean: sum / numel (NaN when empty);
 * batchmean: sum / elem->shape[0] (differentiable, 0-d). */
volt_tensor *volt_loss_reduce(volt_tensor *elem, volt_reduction reduction);

#endif
