/* tuner_impl.h: what the two tuners (tuner_lr_find.c, tuner_batch_size.c)
 * share, in tuner_state.c — the argument checks, a snapshot of the module
 * restored bit for bit, and the private trainer a search runs its short fits
 * on. */
#ifndef VOLT_TUNER_IMPL_H
#define VOLT_TUNER_IMPL_H

#include "train/train_impl.h"

/* Checks what both tuners take: a trainer that is not running (NULL: one
 * with the defaults), a module with a training_step in automatic
 * optimization, a datamodule and a result pointer. `op` ("lr_find",
 * "scale_batch_size") starts the messages. */
volt_status volt_tuner_check_args(const volt_trainer *t, const volt_module *module,
                                  const volt_datamodule *data, const void *out, const char *op);

/* The module's parameters and persistent buffers (their bytes), which
 * parameters had a gradient and its bytes, the module's train/eval mode and
 * the default generator: what a search changes and puts back. */
typedef struct volt_tuner_snapshot volt_tuner_snapshot;
/* NULL + error (out of memory, a non-contiguous tensor). */
volt_tuner_snapshot *volt_tuner_snapshot_take(volt_module *module, const char *op);
/* Writes everything back (the tensors in place, their storage versions
 * bumped); an error if the module's tensors no longer match the snapshot. */
volt_status volt_tuner_snapshot_restore(const volt_tuner_snapshot *s, volt_module *module,
                                        const char *op);
void volt_tuner_snapshot_free(volt_tuner_snapshot *s);

/* A trainer for one short fit: t's configuration (NULL: defaults) and its
 * configure_optimizers override, with max_steps = max_steps, any number of
 * epochs, no logger, checkpointing, progress bar, model summary, sanity
 * check, validation, min/max time, fast_dev_run or detect_anomaly. NULL +
 * error. */
volt_trainer *volt_tuner_trainer_new(const volt_trainer *t, int64_t max_steps, const char *op);

/* Frees the LR schedulers configure_optimizers added to the private trainer
 * (Lightning's tuners replace them): called at on_fit_start. */
void volt_tuner_drop_schedulers(volt_trainer *t);

#endif
