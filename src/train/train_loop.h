/* train_loop.h: declarations shared by the fit loop files (fit_loop.c,
 * train_batch.c). */
#ifndef VOLT_TRAIN_LOOP_H
#define VOLT_TRAIN_LOOP_H

#include "train/train_impl.h"

/* One training batch (batch hooks, step, backward, optimizer step, step
 * logging); `last`: the epoch's last batch (closes an accumulation window). */
volt_status volt_fit_train_batch(volt_trainer *t, volt_batch *b, int64_t i, bool last);
/* After batch i's on_train_batch_end: its step logging (when it stepped);
 * also what a run resumed from a checkpoint written in that hook does
 * first. */
volt_status volt_fit_batch_end_log(volt_trainer *t, int64_t i);
/* Steps the schedulers of `interval` whose frequency divides `count`;
 * plateau: the ReduceLROnPlateau ones (from callback_metrics), else the rest. */
volt_status volt_fit_step_schedulers(volt_trainer *t, volt_interval interval, bool plateau,
                                     int64_t count);

#endif
