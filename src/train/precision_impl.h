/* precision_impl.h: the trainer's precision setting (Lightning's values;
 * config.c checks and maps them): which values are taken, and the autocast
 * mode the loops switch on around the step hooks (training_step,
 * validation_step, test_step, predict_step; backward follows what the
 * forward recorded). */
#ifndef VOLT_PRECISION_IMPL_H
#define VOLT_PRECISION_IMPL_H

#include "volt/ops.h"

/* The precision values the trainer takes, NULL-terminated: "32-true" (the
 * default), "32", "bf16-mixed", "bf16". */
extern const char *const volt_precision_values[];

/* VOLT_AUTOCAST_BF16 for "bf16-mixed" and "bf16", else VOLT_AUTOCAST_OFF
 * (NULL included). */
volt_autocast_mode volt_precision_autocast(const char *precision);

#endif
