/* sync_batch_norm_impl.h: the synchronized path of volt_sync_batch_norm
 * (sync_batch_norm.c) on its own, for tests of its arithmetic in one
 * process. Not part of the public API. */
#ifndef VOLT_SYNC_BATCH_NORM_IMPL_H
#define VOLT_SYNC_BATCH_NORM_IMPL_H

#include "volt/dist.h"

/* volt_sync_batch_norm in training mode through the all_gather / all_reduce
 * path even at world size 1 (where the public op is plain volt_batch_norm).
 * pg must not be NULL (VOLT_ERR_INVALID_ARGUMENT). */
volt_tensor *volt_sync_batch_norm_train(volt_process_group *pg, const volt_tensor *x,
                                        volt_tensor *running_mean, volt_tensor *running_var,
                                        const volt_tensor *weight, const volt_tensor *bias,
                                        double momentum, double eps);

#endif
