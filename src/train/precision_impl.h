/* precision_impl.h: the trainer's and Fabric's precision setting
 * (Lightning's values; config.c checks and maps them, with the accelerator
 * and strategy names): which values are taken, and the autocast
 * mode the loops switch on around the step hooks (training_step,
 * validation_step, test_step, predict_step; backward follows what the
 * forward recorded). */
#ifndef VOLT_PRECISION_IMPL_H
#define VOLT_PRECISION_IMPL_H

#include "volt/ops.h"

/* The precision values the trainer takes, NULL-terminated: "32-true" (the
 * default), "32", "bf16-mixed", "bf16", "bf16-true", and on a GPU
 * "16-mixed", "16", "16-true". */
extern const char *const volt_precision_values[];

/* Whether precision is "bf16-true": the trainer casts the module to bf16 at
 * setup (volt_module_to_dtype) and every op runs on bf16 tensors (no
 * autocast). */
bool volt_precision_bf16_true(const char *precision);
/* The dtype a "-true" precision casts the module and the batch's floating
 * fields to: VOLT_BF16 for "bf16-true", VOLT_F16 for "16-true", else
 * VOLT_F32 (no cast). */
volt_dtype volt_precision_true_dtype(const char *precision);
/* Whether precision is one of the float16 values ("16-mixed", "16",
 * "16-true"), which need a CUDA accelerator; "16-mixed" and "16" scale the
 * loss (grad_scaler.c). */
bool volt_precision_f16(const char *precision);

/* VOLT_AUTOCAST_BF16 for "bf16-mixed" and "bf16", VOLT_AUTOCAST_F16 for
 * "16-mixed" and "16", else VOLT_AUTOCAST_OFF (NULL and the "-true" values
 * included). */
volt_autocast_mode volt_precision_autocast(const char *precision);

/* Checks the names of a run's accelerator, strategy and precision (NULL:
 * the default) against what volt takes: VOLT_ERR_UNSUPPORTED for one of
 * Lightning's a later volt will take, VOLT_ERR_INVALID_ARGUMENT for an
 * unknown one; the message starts with `who` ("trainer", "fabric"). */
volt_status volt_check_run_names(const char *who, const char *accelerator, const char *strategy,
                                 const char *precision);

/* Whether `accelerator` (checked already) runs on a GPU: "cuda" and "gpu"
 * do; "auto" (or NULL) does when this machine has a CUDA device (asked of
 * the driver once per process), as Lightning's "auto" picks the GPU;
 * "cpu" never. */
bool volt_accelerator_is_cuda(const char *accelerator);
/* The device a process of local rank `local_rank` runs on for
 * `accelerator` (checked already): cuda:(local_rank mod the GPU count) when
 * volt_accelerator_is_cuda, else the CPU. */
volt_device volt_run_device(const char *accelerator, int local_rank);

#endif
