/* volt/train.h: the train layer (DESIGN.md §4) — the module's training hooks
 * (volt_module_ops), optimizer setup, the trainer and its configuration,
 * volt_log, callbacks, loggers (CSV) and metric tables.
 *
 * A module embeds volt_module first and points it at a const
 * volt_module_ops table; the trainer runs the loops:
 *
 *     volt_trainer_config cfg = volt_trainer_defaults();
 *     cfg.max_epochs = 5;
 *     volt_trainer *t = volt_trainer_new(&cfg);
 *     volt_status st = volt_trainer_fit(t, &m.base, data, NULL);
 *     if (st == VOLT_OK) st = volt_trainer_test(t, &m.base, data, NULL, NULL);
 *     volt_trainer_free(t);
 *
 * Lifetimes. The trainer opens one scope per step (training, validation,
 * test and predict batches): every tensor a step or a hook creates is freed
 * at its end, so model code never frees an intermediate. Optimizers and
 * schedulers added in configure_optimizers belong to the trainer and are
 * freed when the next fit starts or the trainer is freed.
 *
 * Hook order (PyTorch Lightning 2.x): a callback's hook runs before the
 * module's hook of the same name; in a training batch:
 * on_before_batch_transfer, transfer_batch_to_device,
 * on_after_batch_transfer, on_train_batch_start, training_step,
 * on_before_zero_grad, zero_grad, on_before_backward, backward,
 * on_after_backward, on_before_optimizer_step, configure_gradient_clipping,
 * optimizer_step, on_train_batch_end (zero_grad on the first batch of an
 * accumulation window that produces a gradient, the optimizer hooks on its
 * last); at the end of a training epoch the monitoring callbacks run after
 * the module. An evaluation run (validation, sanity check, test, predict):
 * on_<stage>_model_eval, on_<stage>_start, on_<stage>_epoch_start, per
 * batch the three transfer hooks, on_<stage>_batch_start, the step,
 * on_<stage>_batch_end; on_<stage>_epoch_end, on_<stage>_end,
 * on_<stage>_model_train (not for predict).
 *
 * Errors. A hook or step that returns an error status, returns NULL where a
 * value is required, or leaves the sticky error set stops the run: the
 * on_exception hooks run, loggers are flushed and closed, and the entry
 * point returns the status with a message naming the hook, the epoch and the
 * batch ("volt: fit: training_step failed at epoch 2, batch 17: ...").
 *
 * Set-up and tear-down (Lightning's order): prepare_data, then setup(stage)
 * of the datamodule, the callbacks and the module; at the end of a
 * successful run teardown(stage) of the datamodule, the callbacks and the
 * module (after on_fit_end / on_*_end). A failed run skips the teardown
 * hooks (as Lightning does) after on_exception. */
#ifndef VOLT_TRAIN_H
#define VOLT_TRAIN_H

#include "volt/core.h"
#include "volt/data.h"
#include "volt/dist.h"
#include "volt/io.h"
#include "volt/nn.h"
#include "volt/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct volt_trainer volt_trainer;
typedef struct volt_step volt_step;
typedef struct volt_optim_setup volt_optim_setup;
typedef struct volt_callback volt_callback;
typedef struct volt_logger volt_logger;

/* "None" for the integer and real fields of volt_trainer_config that
 * Lightning lets be None (exactly representable as a double too). */
#define VOLT_NONE INT64_MIN
/* A count of batches for the limit_*_batches, overfit_batches and
 * val_check_interval fields, Lightning's int (VOLT_BATCHES(1) is one batch;
 * 1.0 is all of them). A whole number > 1 written plainly is a count too;
 * other negative values are refused. */
#define VOLT_BATCHES_TAG 1e15
#define VOLT_BATCHES(n) (-(VOLT_BATCHES_TAG + (double)(n)))

/* -------------------------------------------------------- metric tables */

/* name -> value, in insertion order. Owned by whoever returned it. */
typedef struct {
    int64_t count;
    char **names;
    double *values;
    int64_t cap;
} volt_metrics;

/* The value of `name`, NAN when absent (no error). */
double volt_metrics_get(const volt_metrics *m, const char *name);
bool volt_metrics_has(const volt_metrics *m, const char *name);
/* Sets (adds or replaces) name -> value. */
volt_status volt_metrics_set(volt_metrics *m, const char *name, double value);
/* Empties the table (keeps it usable). */
void volt_metrics_clear(volt_metrics *m);
/* Frees a table returned by volt_trainer_validate/test. NULL is a no-op. */
void volt_metrics_free(volt_metrics *m);

/* Predictions of volt_trainer_predict: one CPU tensor per batch (copied
 * from the GPU under accelerator "cuda"), caller-owned (outside every
 * scope); free the whole list with volt_predictions_free. */
typedef struct {
    int64_t count;
    volt_tensor **items;
} volt_predictions;
void volt_predictions_free(volt_predictions *p);

/* ------------------------------------------------------- optimizer setup */

typedef enum { VOLT_INTERVAL_EPOCH = 0, VOLT_INTERVAL_STEP } volt_interval;

/* Lightning's lr_scheduler_config. */
typedef struct {
    volt_interval interval; /* epoch */
    int64_t frequency;      /* 0: 1; step every `frequency` intervals */
    const char *monitor;    /* ReduceLROnPlateau's metric (a callback_metrics key; copied) */
    bool strict;            /* true: a missing monitor is an error (else skipped) */
} volt_lr_scheduler_config;

/* Adds an optimizer and its scheduler (NULL: none); the trainer owns both
 * from now on, also when this fails (then it frees them). NULL optimizer:
 * error. */
volt_status volt_optim_setup_add(volt_optim_setup *setup, volt_optimizer *optimizer,
                                 volt_lr_scheduler *scheduler, volt_interval interval);
/* The same with a full scheduler configuration (config NULL: epoch, 1,
 * no monitor, strict). */
volt_status volt_optim_setup_add_ex(volt_optim_setup *setup, volt_optimizer *optimizer,
                                    volt_lr_scheduler *scheduler,
                                    const volt_lr_scheduler_config *config);

/* ------------------------------------------------------------ the module */

/* Every hook gets the step context: the trainer, the batch and its index
 * (batch hooks), the loss (on_before_backward), the optimizer (optimizer
 * hooks); see the volt_step_* accessors. Return VOLT_OK to go on. */
typedef volt_status (*volt_module_hook)(volt_module *self, volt_step *step);
/* A step: returns a tensor in the step's scope. training_step returns the
 * scalar loss. NULL with an error recorded is a failure (fit stops, naming
 * the hook, epoch and batch); NULL with no error recorded skips the batch
 * (Lightning's returning None): in automatic optimization it contributes no
 * gradient — no zero_grad, backward or optimizer hooks run for it, and
 * on_train_batch_end sees NULL outputs; an accumulation window whose other
 * batches produced gradients still steps at its end. In manual optimization
 * the return value is ignored. validation_step and test_step usually return
 * NULL (with no error recorded); predict_step returns the prediction (kept
 * by volt_trainer_predict). */
typedef volt_tensor *(*volt_step_fn)(volt_module *self, volt_batch *batch, int64_t batch_idx,
                                     volt_step *step);

struct volt_module_ops {
    const char *name;
    volt_step_fn training_step; /* required by fit */
    volt_step_fn validation_step;
    volt_step_fn test_step;
    volt_step_fn predict_step;
    /* Adds optimizers (and schedulers) with volt_optim_setup_add. Adding
     * none is an error in automatic optimization. NULL: no optimizer. */
    volt_status (*configure_optimizers)(volt_module *self, volt_optim_setup *setup);
    /* Lightning's automatic_optimization = False: training_step does its own
     * volt_manual_backward and volt_optimizer_step. */
    bool manual_optimization;

    /* Hooks; NULL = Lightning's default (nothing). */
    volt_module_hook setup, teardown; /* volt_step_stage() says which stage */
    volt_module_hook on_fit_start, on_fit_end;
    volt_module_hook on_sanity_check_start, on_sanity_check_end;
    volt_module_hook on_train_start, on_train_end;
    volt_module_hook on_train_epoch_start, on_train_epoch_end;
    volt_module_hook on_train_batch_start, on_train_batch_end;
    volt_module_hook on_validation_start, on_validation_end;
    volt_module_hook on_validation_epoch_start, on_validation_epoch_end;
    volt_module_hook on_validation_batch_start, on_validation_batch_end;
    volt_module_hook on_test_start, on_test_end;
    volt_module_hook on_test_epoch_start, on_test_epoch_end;
    volt_module_hook on_test_batch_start, on_test_batch_end;
    volt_module_hook on_predict_start, on_predict_end;
    volt_module_hook on_predict_epoch_start, on_predict_epoch_end;
    volt_module_hook on_predict_batch_start, on_predict_batch_end;
    volt_module_hook on_before_backward, on_after_backward;
    volt_module_hook on_before_optimizer_step, on_before_zero_grad;
    /* Default: volt_optimizer_step(volt_step_optimizer(step)). */
    volt_module_hook optimizer_step;
    /* Default: volt_clip_gradients(step, gradient_clip_val, algorithm). */
    volt_module_hook configure_gradient_clipping;
    /* Checkpoints: the file being written / read is volt_step_checkpoint();
     * add or read extra entries there (Lightning's checkpoint dict). */
    volt_module_hook on_save_checkpoint, on_load_checkpoint;
    volt_module_hook on_exception; /* the error is volt_step_error() */

    /* Module-only hooks of Lightning 2.x (callbacks have none of these). */
    /* Mode switches around evaluation. Default on_*_model_eval: the module
     * and its children to eval mode (before on_validation_start /
     * on_test_start / on_predict_start); default on_*_model_train: back to
     * the mode the module had before (after on_validation_end /
     * on_test_end). An override replaces the default. Predict has no
     * model_train hook (Lightning's neither); volt restores the mode
     * silently after predict. */
    volt_module_hook on_validation_model_eval, on_validation_model_train;
    volt_module_hook on_test_model_eval, on_test_model_train;
    volt_module_hook on_predict_model_eval;
    /* Batch transfer, before on_<stage>_batch_start of every batch (train,
     * validation, test, predict): on_before_batch_transfer,
     * transfer_batch_to_device (to volt_step_device(); default: every field
     * not there is copied there, through pinned memory from the CPU, so the
     * copy does not wait for the GPU), on_after_batch_transfer.
     * They edit volt_step_batch(step) in place (volt_batch_set); tensors they
     * make live in the batch's scope. */
    volt_module_hook on_before_batch_transfer, transfer_batch_to_device, on_after_batch_transfer;

    /* The model summary (Lightning's example_input_array): when both are
     * set, the summary at fit start runs forward(example_input()) once in
     * eval mode under no-grad (the module's mode is restored after) and
     * shows the input and output shapes of every child that ran through its
     * class forward (volt_module_forward, Sequential); children called
     * otherwise, or with no example input, show "?". Tensors in the
     * summary's own scope. */
    volt_tensor *(*forward)(volt_module *self, const volt_tensor *x);
    volt_tensor *(*example_input)(volt_module *self);
};

/* ------------------------------------------------------ the step context */

/* What a step or hook can read. Pointers live until the hook returns. */
volt_trainer *volt_step_trainer(const volt_step *step);
const char *volt_step_hook_name(const volt_step *step); /* "training_step", ... */
volt_stage volt_step_stage(const volt_step *step);      /* the running entry point */
volt_batch *volt_step_batch(const volt_step *step);     /* batch hooks; else NULL */
int64_t volt_step_batch_idx(const volt_step *step);     /* -1 outside batch hooks */
/* training: the loss (on_before_backward, on_train_batch_end); the step's
 * output in validation/test/predict batch-end hooks; else NULL. */
volt_tensor *volt_step_outputs(const volt_step *step);
/* The optimizer of the optimizer hooks; else NULL. */
volt_optimizer *volt_step_optimizer(const volt_step *step);
/* The message of the failure (on_exception); else "". */
const char *volt_step_error(const volt_step *step);
/* The device batches go to (transfer_batch_to_device): the trainer's
 * accelerator's (cuda:<local rank mod GPUs> for "cuda"/"gpu", else the
 * CPU). */
volt_device volt_step_device(const volt_step *step);
/* Lightning's returning -1 from on_train_batch_start: called there (by the
 * module or a callback), the rest of the current training epoch is skipped —
 * this batch does not run (no training_step, no on_train_batch_end, no
 * validation at it) and the epoch ends as usual (on_train_epoch_end, epoch
 * logging, epoch-interval schedulers; gradients of an unfinished
 * accumulation window are dropped). Elsewhere: VOLT_ERR_STATE naming the
 * hook. */
volt_status volt_step_skip_epoch(volt_step *step);

/* Default gradient clipping: clips the gradients of `optimizer`'s parameters
 * by norm ("norm", 2-norm) or value ("value"); clip_val <= 0: nothing.
 * What configure_gradient_clipping overrides call. */
volt_status volt_clip_gradients(volt_step *step, volt_optimizer *optimizer, double clip_val,
                                const char *algorithm);
/* Manual optimization: backward of `loss` with the backward hooks around it. */
volt_status volt_manual_backward(volt_step *step, volt_tensor *loss);
/* LightningCLI's optimizer: / lr_scheduler: sections: fn replaces the
 * module's configure_optimizers (called with ctx) from the next fit on;
 * NULL restores the module's own. */
typedef volt_status (*volt_configure_optimizers_fn)(void *ctx, volt_module *module,
                                                    volt_optim_setup *setup);
void volt_trainer_set_configure_optimizers(volt_trainer *t, volt_configure_optimizers_fn fn,
                                           void *ctx);
/* The i-th optimizer / scheduler (manual optimization); NULL + error if absent. */
volt_optimizer *volt_trainer_optimizer(volt_trainer *t, int i);
volt_lr_scheduler *volt_trainer_lr_scheduler(volt_trainer *t, int i);
int volt_trainer_num_optimizers(const volt_trainer *t);

/* ----------------------------------------------------------------- logging */

/* Flags of volt_log. With neither ON_STEP nor ON_EPOCH the hook's defaults
 * apply (training_step and training batch hooks: on_step; validation/test
 * steps and epoch hooks: on_epoch); naming either sets both explicitly. */
enum {
    VOLT_LOG_PROG_BAR = 1u << 0,   /* shown in the progress bar */
    VOLT_LOG_ON_STEP = 1u << 1,    /* the value of each step */
    VOLT_LOG_ON_EPOCH = 1u << 2,   /* the epoch's reduction */
    VOLT_LOG_NO_LOGGER = 1u << 3,  /* not sent to the loggers (logger=False) */
    VOLT_LOG_REDUCE_SUM = 1u << 4, /* epoch reduction: sum (default: batch-size-weighted mean) */
    VOLT_LOG_REDUCE_MIN = 1u << 5,
    VOLT_LOG_REDUCE_MAX = 1u << 6,
    /* reduce over the processes at each call (one process: nothing): the
     * batch-size-weighted mean, or the sum/min/max with a REDUCE flag */
    VOLT_LOG_SYNC_DIST = 1u << 7,
};

/* Lightning's self.log: records `value` (a one-element tensor; read at once)
 * under `name`. Both on_step and on_epoch: logged as name_step and
 * name_epoch. The epoch value is the mean of the step values weighted by
 * the batch size (the batch's size; volt_log_ex to give another). Refused
 * (VOLT_ERR_STATE, naming the hook) where Lightning refuses it: setup,
 * teardown, on_fit_*, on_train_end, on_*_end of validation/test, predict,
 * configure_optimizers, checkpoint hooks, on_exception; on_step in epoch-level
 * hooks. A no-op under barebones. */
volt_status volt_log(volt_step *step, const char *name, const volt_tensor *value, unsigned flags);
/* With a plain value and an explicit batch size (0: the batch's). */
volt_status volt_log_ex(volt_step *step, const char *name, double value, unsigned flags,
                        int64_t batch_size);
/* volt_log of n (name, value) pairs. */
volt_status volt_log_dict(volt_step *step, int n, const char *const *names,
                          volt_tensor *const *values, unsigned flags);

/* -------------------------------------------------------------- callbacks */

typedef volt_status (*volt_callback_hook)(volt_callback *self, volt_module *module,
                                          volt_step *step);

/* A callback: hooks of the same names and meanings as the module's, run
 * before the module's (monitoring callbacks run after it at train epoch
 * end), plus its state for checkpoints. */
typedef struct {
    const char *name;
    bool monitoring; /* checkpoint and early-stopping kinds */
    volt_callback_hook setup, teardown;
    volt_callback_hook on_fit_start, on_fit_end;
    volt_callback_hook on_sanity_check_start, on_sanity_check_end;
    volt_callback_hook on_train_start, on_train_end;
    volt_callback_hook on_train_epoch_start, on_train_epoch_end;
    volt_callback_hook on_train_batch_start, on_train_batch_end;
    volt_callback_hook on_validation_start, on_validation_end;
    volt_callback_hook on_validation_epoch_start, on_validation_epoch_end;
    volt_callback_hook on_validation_batch_start, on_validation_batch_end;
    volt_callback_hook on_test_start, on_test_end;
    volt_callback_hook on_test_epoch_start, on_test_epoch_end;
    volt_callback_hook on_test_batch_start, on_test_batch_end;
    volt_callback_hook on_predict_start, on_predict_end;
    volt_callback_hook on_predict_epoch_start, on_predict_epoch_end;
    volt_callback_hook on_predict_batch_start, on_predict_batch_end;
    volt_callback_hook on_before_backward, on_after_backward;
    volt_callback_hook on_before_optimizer_step, on_before_zero_grad;
    volt_callback_hook on_save_checkpoint, on_load_checkpoint;
    volt_callback_hook on_exception;
    /* malloc'd JSON object text (NULL entry: "{}"), and its restore. */
    char *(*state_dict)(volt_callback *self);
    volt_status (*load_state_dict)(volt_callback *self, const char *json);
    /* Frees the callback (NULL: the trainer only borrows it). */
    void (*free)(volt_callback *self);
    /* The key of its state in checkpoints (Lightning's state_key), malloc'd:
     * callbacks of one kind with other settings need other keys
     * ("ModelCheckpoint{monitor=val_loss,mode=min,...}"). NULL entry: the
     * name; a key used twice gets "#2", "#3", ... in the order added. */
    char *(*state_key)(volt_callback *self);
} volt_callback_ops;

/* Embed first in a callback struct, or use `state` for private data. */
struct volt_callback {
    const volt_callback_ops *ops;
    void *state;
};

/* Adds a callback. Callbacks run in the order added, except that the
 * checkpoint kinds (ModelCheckpoint, OnExceptionCheckpoint) run after all
 * others, as in Lightning. The trainer frees it with ops->free when it is
 * freed. */
volt_status volt_trainer_add_callback(volt_trainer *t, volt_callback *cb);
/* The n-th (0-based) callback whose ops->name is `name`; NULL if none. */
volt_callback *volt_trainer_find_callback(const volt_trainer *t, const char *name, int n);
/* The callback's state (its state_dict, or "{}"); malloc'd. */
char *volt_callback_state_dict(volt_callback *cb);

/* ---------------------------------------------------------------- loggers */

/* The logger interface (CSV here; TensorBoard and others implement it). */
typedef struct {
    const char *name;
    /* The module's hyperparameter record (volt_module_hparam_*). */
    volt_status (*log_hyperparams)(volt_logger *self, const volt_module *module);
    /* One row of metrics at `step` (metrics may hold "epoch"). */
    volt_status (*log_metrics)(volt_logger *self, const volt_metrics *metrics, int64_t step);
    /* Writes what is buffered (whole files, atomically). */
    volt_status (*flush)(volt_logger *self);
    /* The run ended (success or not): write everything buffered. The
     * trainer keeps its loggers for its next run, so a logger may keep its
     * files open until free. */
    volt_status (*finalize)(volt_logger *self, bool success);
    /* Its directory ("<root>/volt_logs/version_3"); NULL before it has one. */
    const char *(*log_dir)(volt_logger *self);
    void (*free)(volt_logger *self);
} volt_logger_ops;

struct volt_logger {
    const volt_logger_ops *ops;
};

/* Lightning's CSVLogger: <save_dir>/<name>/version_<N>/metrics.csv (one row
 * per logged step, the union of the columns, "epoch" and "step" among them)
 * and hparams.yaml. version < 0: one more than the largest existing. The
 * directory is made when something is first written; files are rewritten
 * whole and atomically on flush (every flush_every rows, 0: 100) and at the
 * end. NULL + error on bad arguments. */
volt_logger *volt_csv_logger_new(const char *save_dir, const char *name, int64_t version,
                                 int64_t flush_every);
/* Lightning's TensorBoardLogger: an event file
 * <save_dir>/<name>/version_<N>/events.out.tfevents.<time>.<host>.<pid>.<n>
 * (`tensorboard --logdir <save_dir>/<name>`) with one scalar per logged
 * metric at its step ("epoch" among them) and the module's hyperparameters
 * for the HPARAMS tab (a session start summary, and its end with the run's
 * status). version < 0: one more than the largest existing. Records are
 * buffered: the file is made at the first row of metrics, then written to
 * when a row finds flush_secs (>= 0; Lightning's default is 120; 0: every
 * row) passed since the last write, on flush and at the end. One file per
 * logger: every run of the trainer (fit, then test, ...) appends to it and
 * free closes it; the HPARAMS session is started by the first run that logs
 * hyperparameters and ended with that run's status. A run that fails
 * before logging a metric leaves nothing. NULL + error on bad
 * arguments. */
volt_logger *volt_tensorboard_logger_new(const char *save_dir, const char *name, int64_t version,
                                         double flush_secs);
/* Adds a logger (the trainer owns it). With none added, fit/validate/test
 * use a CSV and a TensorBoard logger at <default_root_dir>/volt_logs (one
 * version_N for both) when config.logger. */
volt_status volt_trainer_add_logger(volt_trainer *t, volt_logger *lg);
/* The first logger's directory, NULL when there is none. */
const char *volt_trainer_log_dir(const volt_trainer *t);

/* ------------------------------------------------------------- the trainer */

/* Lightning's Trainer arguments with their names, defaults and meanings.
 * Start from volt_trainer_defaults() (a function: overriding fields of a
 * designated-initialiser macro trips -Woverride-init) and set fields.
 * Strings are copied by volt_trainer_new where the trainer keeps them
 * (default_root_dir, gradient_clip_algorithm). */
typedef struct {
    /* Hardware and precision (later issues: other values are refused). */
    /* "auto": a GPU when the machine has one (as Lightning's "auto"), else
     * the CPU; "cpu"; or "cuda"/"gpu", checked against the machine (a clear
     * error without a driver or device). On a GPU the module is moved to
     * cuda:<local rank mod GPUs> after setup (in place:
     * volt_module_to_device), batches follow (transfer_batch_to_device),
     * checkpoints are written from CPU copies and load on any device, and
     * predictions come back on the CPU. */
    const char *accelerator;
    /* "auto": "ddp" when the processes are more than one (devices * num_nodes
     * > 1, or a launcher started several), else "single_device". "ddp":
     * data parallel over MPI (see "Distributed training" below). "zero1":
     * "ddp" with the optimizer state sharded across the processes. */
    const char *strategy;
    /* Processes per node (1; -1: one per GPU on a GPU, else one per CPU
     * core available).
     * With a launcher around the program (mpirun, srun) the launcher's
     * process count is used: devices must be 1 (the default, which adopts
     * it) or equal it per node. Without one and devices > 1, the trainer
     * starts the processes itself (see below). */
    int64_t devices;
    int64_t num_nodes; /* 1 */
    /* "32-true" (default); "bf16-mixed" (alias "bf16"): bf16 autocast in the
     * step hooks; "bf16-true": the module and batches in bf16; on a GPU also
     * "16-mixed" (alias "16": f16 autocast with dynamic loss scaling) and
     * "16-true" (docs/precision.md, docs/gpu.md); others refused */
    const char *precision;
    /* true: under "bf16-true" and "16-true" the optimizers keep what
     * rounding each updated parameter to 16 bits drops and add it back at
     * the next update (volt_optimizer_set_compensated), so that updates
     * smaller than half a bf16 step are not lost; false: PyTorch's plain
     * rounding. Other precisions keep f32 parameters and ignore it. */
    bool compensated_updates;
    bool sync_batchnorm;          /* false; true: batch norm statistics over every process */
    bool use_distributed_sampler; /* true: each process gets its own shard of every loader */
    double bucket_cap_mb;         /* 25: DDP gradient bucket size (DDPStrategy's bucket_cap_mb) */

    /* Loop lengths. */
    int64_t max_epochs; /* VOLT_NONE: 1000 unless max_steps/max_time; -1: no limit */
    int64_t min_epochs; /* VOLT_NONE (0) */
    int64_t max_steps;  /* -1: no limit (optimizer steps) */
    int64_t min_steps;  /* VOLT_NONE (0) */
    double max_time;    /* seconds since fit began (Lightning: "DD:HH:MM:SS"); VOLT_NONE */

    /* Batches per stage: a fraction in [0, 1] or a count (VOLT_BATCHES). */
    double limit_train_batches;      /* 1.0 */
    double limit_val_batches;        /* 1.0 */
    double limit_test_batches;       /* 1.0 */
    double limit_predict_batches;    /* 1.0 */
    double overfit_batches;          /* 0.0: off; else the same first batches every epoch */
    double val_check_interval;       /* 1.0: every epoch; fraction or count */
    int64_t check_val_every_n_epoch; /* 1; VOLT_NONE: counts run across epochs */
    int64_t num_sanity_val_steps;    /* 2; -1: all */
    int64_t fast_dev_run;            /* 0; n: n batches per stage, no loggers, 1 epoch */

    /* Optimization. */
    int64_t accumulate_grad_batches;     /* 1 */
    double gradient_clip_val;            /* 0 (None): no clipping */
    const char *gradient_clip_algorithm; /* NULL: "norm"; "value" */

    /* Logging and output. */
    int64_t log_every_n_steps;       /* 50 */
    const char *default_root_dir;    /* NULL: the current directory */
    bool logger;                     /* true: CSV + TensorBoard loggers unless one was added */
    bool enable_checkpointing;       /* true: a ModelCheckpoint unless one was added */
    bool enable_progress_bar;        /* true */
    bool enable_model_summary;       /* true */
    int64_t model_summary_max_depth; /* 1 (ModelSummary's max_depth); -1: all; 0: no rows */
    bool barebones;                  /* false; true: none of the above, volt_log a no-op */
    /* Lightning's profiler. NULL or "": off. "simple": at the end of each
     * fit/validate/test/predict, a table of the time spent per action —
     * loops (run_training_epoch, run_training_batch, ...), data waits
     * (get_train_batch, ...), backward, optimizer_step, zero_grad, each hook
     * of each callback and of the module ("[Callback]ModelCheckpoint.
     * on_train_epoch_end", "[LightningModule]mlp.training_step") — with its
     * calls, mean, total and percentage of the run, on stderr. "trace": a
     * Chrome/Perfetto trace (JSON; chrome://tracing, ui.perfetto.dev) of the
     * same actions and of the ops (matmul, conv2d, ...) on the trainer's
     * thread, holding every run of the trainer, rewritten atomically at the
     * end of each. Refused with barebones (as in Lightning). */
    const char *profiler;
    /* simple: NULL (or ""), stderr; else the report is written to this
     * file. trace: NULL (or ""), <log_dir>/trace.json (the first logger's
     * directory; with no logger <default_root_dir>/trace.json); else this
     * file. Copied. */
    const char *profiler_path;

    /* Behaviour. */
    /* false. true: the run is reproducible bit for bit — the same
     * configuration, module, data and seed give bitwise-identical weights,
     * metrics and predictions on the same machine and thread count. volt's
     * CPU kernels are deterministic by design and data loaders (workers
     * included) deliver batches in a seeded order, so what it adds is: a seed is
     * required (volt_seed_everything(seed) at each entry point), and the
     * settings whose effect depends on the clock are refused (max_time). */
    bool deterministic;
    /* true. Evaluation loops (validation, test, predict, sanity check) run
     * with gradient recording off either way: Lightning's inference_mode=True
     * (torch.inference_mode) and False (torch.no_grad) are both no-grad, and
     * volt has a single no-grad mode, so this flag changes nothing today;
     * predictions never require grad. */
    bool inference_mode;
    bool detect_anomaly;                       /* false; true: a NaN/Inf loss stops fit */
    int64_t reload_dataloaders_every_n_epochs; /* 0 */
    int64_t seed;    /* VOLT_NONE; else volt_seed_everything(seed) at each entry */
    int num_threads; /* 0: unchanged; else volt_set_num_threads */
} volt_trainer_config;

volt_trainer_config volt_trainer_defaults(void);
/* Checks a configuration: the first invalid value or combination is an
 * error (VOLT_ERR_INVALID_ARGUMENT) naming the field and the value. */
volt_status volt_trainer_config_check(const volt_trainer_config *cfg);

/* A trainer with a copy of cfg (NULL: defaults); NULL + error if invalid. */
volt_trainer *volt_trainer_new(const volt_trainer_config *cfg);
void volt_trainer_free(volt_trainer *t);

/* The entry points. ckpt_path: NULL (fit: from scratch; the others: the
 * module's current weights), a checkpoint file, "last" or "best" (see
 * Checkpoints below). validate/test write the
 * epoch metrics of the run into *metrics (caller-owned; metrics may be NULL);
 * predict writes the predictions into *out (out may be NULL). */
volt_status volt_trainer_fit(volt_trainer *t, volt_module *module, volt_datamodule *data,
                             const char *ckpt_path);
volt_status volt_trainer_validate(volt_trainer *t, volt_module *module, volt_datamodule *data,
                                  const char *ckpt_path, volt_metrics **metrics);
volt_status volt_trainer_test(volt_trainer *t, volt_module *module, volt_datamodule *data,
                              const char *ckpt_path, volt_metrics **metrics);
volt_status volt_trainer_predict(volt_trainer *t, volt_module *module, volt_datamodule *data,
                                 const char *ckpt_path, volt_predictions **out);

/* The same with loaders instead of a datamodule (Lightning's
 * train_dataloaders / val_dataloaders / dataloaders arguments). The caller
 * keeps the loaders: the trainer borrows them for the call and never frees
 * them. fit: train required, val NULL: no validation (nor sanity check);
 * validate/test/predict: the loader is required. Module hooks
 * (setup/teardown included) run as with a datamodule; there is no
 * datamodule setup/teardown. */
volt_status volt_trainer_fit_loaders(volt_trainer *t, volt_module *module, volt_data_loader *train,
                                     volt_data_loader *val, const char *ckpt_path);
volt_status volt_trainer_validate_loaders(volt_trainer *t, volt_module *module,
                                          volt_data_loader *loader, const char *ckpt_path,
                                          volt_metrics **metrics);
volt_status volt_trainer_test_loaders(volt_trainer *t, volt_module *module,
                                      volt_data_loader *loader, const char *ckpt_path,
                                      volt_metrics **metrics);
volt_status volt_trainer_predict_loaders(volt_trainer *t, volt_module *module,
                                         volt_data_loader *loader, const char *ckpt_path,
                                         volt_predictions **out);

/* Lightning's trainer.callback_metrics, logged_metrics, progress_bar_metrics
 * (owned by the trainer, valid until its next run). */
const volt_metrics *volt_trainer_callback_metrics(const volt_trainer *t);
const volt_metrics *volt_trainer_logged_metrics(const volt_trainer *t);
const volt_metrics *volt_trainer_progress_bar_metrics(const volt_trainer *t);

/* Progress. */
int64_t volt_trainer_current_epoch(const volt_trainer *t);
int64_t volt_trainer_global_step(const volt_trainer *t); /* optimizer steps */
bool volt_trainer_sanity_checking(const volt_trainer *t);
/* Asks fit to stop after the current batch (Lightning's should_stop; it still
 * honours min_epochs/min_steps). */
void volt_trainer_request_stop(volt_trainer *t);
const volt_trainer_config *volt_trainer_get_config(const volt_trainer *t);

/* ---------------------------------------------------- distributed training */
/* strategy "ddp" (DESIGN.md §5; Lightning's DDPStrategy over MPI). Every
 * process runs the same program and the same trainer calls; the trainer
 * makes them one training run:
 * - Launch. Under `mpirun -np N` / `mpiexec -n N` (Open MPI) or `srun`
 *   (SLURM, with --mpi=pmix) each process is one rank. Without a launcher,
 *   devices = N > 1 re-executes the program under `mpiexec -n N` at the
 *   start of the first entry point (volt_dist_launch, volt/dist.h): the
 *   program starts again in N processes, so what it did before runs again
 *   in each, and mpiexec's exit status becomes the program's. Several nodes:
 *   start the program on each with mpirun/srun (num_nodes = the nodes,
 *   devices = the processes per node).
 * - Setup (fit): after configure_optimizers and any checkpoint restore,
 *   rank 0's parameters and buffers are broadcast to the others; with
 *   sync_batchnorm the module's batch norm layers use statistics over all
 *   ranks (volt_sync_batch_norm_convert) for the run.
 * - Gradients: averaged across ranks by a volt_grad_reducer (buckets of
 *   bucket_cap_mb, all-reduced while backward runs); no communication on
 *   the micro-batches of an accumulation window but its last. A module
 *   that optimizes manually calls volt_trainer_all_reduce_gradients before
 *   its optimizer step.
 * - Data: with use_distributed_sampler, every loader the trainer iterates
 *   is sharded for the run (volt_data_loader_set_distributed: each rank a
 *   disjoint shard of equal length; the ranks' loader seeds are set to
 *   rank 0's) and restored afterwards.
 * - Output: loggers, the progress bar, the model summary and checkpoint
 *   files exist on rank 0 only; a checkpoint save is collective (every rank
 *   calls it, rank 0 writes, all wait for it and share its outcome).
 *   volt_log(..., VOLT_LOG_SYNC_DIST) reduces the value over the ranks.
 *   ModelCheckpoint saves when every rank finds the score in its top k;
 *   EarlyStopping stops when any rank asks to.
 * - Failures: a rank that fails or dies makes the others fail within the
 *   group's timeout (VOLT_DIST_TIMEOUT) instead of hanging (volt/dist.h).
 * strategy "zero1": the same, with the optimizer state sharded: each rank
 * owns a balanced share of the parameters, receives their mean gradient by
 * a reduce-scatter (so on_after_backward and on_before_optimizer_step see
 * gradients of the owned parameters only; the others are NULL), updates and
 * keeps state for them alone, then the ranks all-gather the parameters.
 * Gradient clipping by norm uses the global norm. Checkpoints gather the
 * whole optimizer state on rank 0: they load at any world size, under any
 * strategy. Automatic optimization only.
 * With one process every call below is trivial. */

/* This process's rank among all (0 .. world_size-1), the number of
 * processes, its rank on its node, its node. Known once an entry point
 * started (before: 0, 1, 0, 0). */
int volt_trainer_global_rank(const volt_trainer *t);
int volt_trainer_world_size(const volt_trainer *t);
int volt_trainer_local_rank(const volt_trainer *t);
int volt_trainer_node_rank(const volt_trainer *t);
/* Lightning's is_global_zero: rank 0 (always true with one process). */
bool volt_trainer_is_global_zero(const volt_trainer *t);
/* The trainer's process group (NULL with one process and a single-device
 * strategy). Borrowed; lives as long as the trainer. */
volt_process_group *volt_trainer_process_group(const volt_trainer *t);
/* Lightning's strategy.reduce_boolean_decision, a collective call: *value
 * becomes true when every rank's is true (all) / any rank's is (!all). */
volt_status volt_trainer_reduce_bool(volt_trainer *t, bool *value, bool all);
/* Waits for every rank (strategy.barrier). */
volt_status volt_trainer_barrier(volt_trainer *t);
/* Averages the module's gradients across ranks now (manual optimization,
 * before the optimizer step; automatic optimization does it itself). */
volt_status volt_trainer_all_reduce_gradients(volt_trainer *t);
/* The gradient reducer's figures (volt/dist.h) of the running or last fit
 * under ddp: reductions, buckets, bytes, seconds waited for the buckets
 * after backward. Zeros otherwise. */
volt_grad_reducer_stats volt_trainer_gradient_sync_stats(const volt_trainer *t);

/* ------------------------------------------------------------- checkpoints */

/* A checkpoint (DESIGN.md §4) is one safetensors file (it opens with
 * Python's safetensors and torch) holding the tensors
 *     state_dict.<name>             the module's parameters and persistent buffers
 *     optimizer.<i>.<param>.<slot>  optimizer i's state; <param> the parameter's
 *                                   dotted name in the module (its index in the
 *                                   optimizer if the module does not hold it)
 *     <name>                        tensors a hook added (volt_checkpoint_add_tensor)
 * and, as metadata strings (JSON where structured): "format"
 * ("volt-checkpoint-1"; readers refuse other versions), "volt_version",
 * "epoch", "global_step", "weights_only", "loops" (every loop counter and
 * where in the loop it was written), "optimizers", "lr_schedulers",
 * "callbacks" (each callback's state under its state key), "rng" (the
 * default generator), "train_loader" (the data-loader position),
 * "datamodule", "hparams", "precision", the keys hooks added, and
 * "checksum" ("crc32:<8 hex digits>" of the data section). Writes are
 * atomic: a temporary file in the same directory, fsync, rename, fsync of
 * the directory; a failed save (full disk, unwritable directory) leaves the
 * previous file intact and removes the temporary one. */
typedef struct volt_checkpoint volt_checkpoint;

/* Lightning's trainer.save_checkpoint: writes the state of the current (or
 * last) run of `t` to `path`. weights_only: the module's tensors, epoch,
 * global step, hparams and the keys of on_save_checkpoint hooks, nothing to
 * resume training from. The on_save_checkpoint hooks of the callbacks and the
 * module run first. The directory is created if need be. VOLT_ERR_STATE
 * before any run. */
volt_status volt_trainer_save_checkpoint(volt_trainer *t, const char *path, bool weights_only);

/* Opens and checks a checkpoint: valid safetensors, the format version, the
 * checksum. NULL + an error naming the file and the fault (VOLT_ERR_IO,
 * VOLT_ERR_FORMAT). */
volt_checkpoint *volt_checkpoint_open(const char *path);
void volt_checkpoint_close(volt_checkpoint *ck);
/* volt_checkpoint_open + close: VOLT_OK for a sound checkpoint. */
volt_status volt_checkpoint_verify(const char *path);
const char *volt_checkpoint_path(const volt_checkpoint *ck);
int64_t volt_checkpoint_epoch(const volt_checkpoint *ck);
int64_t volt_checkpoint_global_step(const volt_checkpoint *ck);
bool volt_checkpoint_weights_only(const volt_checkpoint *ck);
/* The underlying file (tensor and metadata listing). */
volt_safetensors *volt_checkpoint_file(volt_checkpoint *ck);

/* In on_save_checkpoint / on_load_checkpoint hooks: the checkpoint being
 * written or read; NULL elsewhere. */
volt_checkpoint *volt_step_checkpoint(const volt_step *step);
/* Extra entries, as Lightning's hooks add keys to the checkpoint dict.
 * set_meta (on_save_checkpoint): key -> value, both copied; keys the format
 * uses are refused. add_tensor: a copy of the tensor (CPU) is written under
 * `name`; names starting with "state_dict." or "optimizer." are refused. meta / tensor read either
 * checkpoint: meta NULL when absent (no error); tensor NULL + VOLT_ERR_INVALID_ARGUMENT when
 * absent, else a new tensor in the current scope. */
volt_status volt_checkpoint_set_meta(volt_checkpoint *ck, const char *key, const char *value);
const char *volt_checkpoint_meta(const volt_checkpoint *ck, const char *key);
volt_status volt_checkpoint_add_tensor(volt_checkpoint *ck, const char *name,
                                       const volt_tensor *tensor);
volt_tensor *volt_checkpoint_tensor(volt_checkpoint *ck, const char *name);

/* Lightning's load_from_checkpoint for the weights: copies the checkpoint's
 * state_dict.* tensors into m (strict and report as volt_module_load_state_dict),
 * after checking the file as volt_checkpoint_open does. */
volt_status volt_module_load_checkpoint(volt_module *m, const char *path, bool strict,
                                        volt_load_report *report);

/* Resuming: ckpt_path = a file, "last" or "best".
 *  - fit restores everything and continues where the run stopped — at an
 *    epoch boundary or mid-epoch (the data loader's position, the loop
 *    counters, the generator, the optimizers, schedulers and callbacks), so a
 *    deterministic run resumed from any checkpoint ends bitwise equal to the
 *    uninterrupted one. validate/test/predict load the module's weights.
 *  - "last": the newest (by modification time) last*.ckpt among the dirpaths
 *    of the ModelCheckpoint callbacks, the loggers' <save_dir>/<name>/
 *    version_* /checkpoints, <default_root_dir>/volt_logs/version_*
 *    /checkpoints and <default_root_dir>/checkpoints, all searched together;
 *    none found: a warning on stderr and fit starts from scratch
 *    (validate/test/predict: an error).
 *  - "best": the best_model_path of the first ModelCheckpoint; none: an error.
 * A checkpoint that does not open, fails its checksum or does not match the
 * module (missing, unexpected or mis-shaped keys; other optimizers) is an
 * error naming the file and the key before any training, and nothing is
 * written. The path resumed from, NULL when none: */
const char *volt_trainer_ckpt_path(const volt_trainer *t);
/* Where checkpoints go by default (Lightning's): <log_dir>/checkpoints with a
 * logger, else <default_root_dir>/checkpoints. Valid until the next run. */
const char *volt_trainer_default_checkpoint_dir(volt_trainer *t);
/* Seconds of fit so far, the time of the runs resumed from included. */
double volt_trainer_time_elapsed(const volt_trainer *t);
/* GradientAccumulationScheduler's knob: the accumulation factor from the
 * next accumulation window on (>= 1; automatic optimization only; call it in
 * on_train_epoch_start). */
volt_status volt_trainer_set_accumulate_grad_batches(volt_trainer *t, int64_t n);
int64_t volt_trainer_accumulate_grad_batches(const volt_trainer *t);
/* Writes a row of metrics to every logger at `step` (LearningRateMonitor's
 * way in; a no-op when logging is off). */
volt_status volt_trainer_log_metrics(volt_trainer *t, const volt_metrics *metrics, int64_t step);
/* Validation batches per validation run of the current fit (0: none). */
int64_t volt_trainer_num_val_batches(const volt_trainer *t);
/* Optimizer steps counted for the loggers (Lightning's
 * _batches_that_stepped): the `step` of logged rows. */
int64_t volt_trainer_logger_step(const volt_trainer *t);

/* The status fit returns after a preemption signal (see
 * volt_preemption_new), and the exit status a program should end with then:
 * sysexits' EX_TEMPFAIL, "try again". */
#define VOLT_EXIT_PREEMPTED 75
/* 0 for VOLT_OK, VOLT_EXIT_PREEMPTED after a preemption, 1 otherwise. */
int volt_exit_code(const volt_trainer *t, volt_status status);

/* --------------------------------------------------- built-in callbacks */
/* Each constructor returns a callback the trainer frees after
 * volt_trainer_add_callback (free it with ops->free if never added), or NULL
 * + VOLT_ERR_INVALID_ARGUMENT naming the bad option. Options start from the
 * *_defaults() function (Lightning's defaults). */

/* Lightning's ModelCheckpoint. */
typedef enum { VOLT_SAVE_LAST_NO = 0, VOLT_SAVE_LAST_YES, VOLT_SAVE_LAST_LINK } volt_save_last;
typedef struct {
    const char *dirpath;  /* NULL: volt_trainer_default_checkpoint_dir() at setup */
    const char *filename; /* NULL: "{epoch}-{step}"; {name} and {name:.4f} fields */
    const char *monitor;  /* NULL: none (keeps the latest) */
    bool verbose;
    volt_save_last save_last;     /* NO */
    int64_t save_top_k;           /* 1; -1: all; 0: none */
    bool save_weights_only;       /* false */
    const char *mode;             /* "min" or "max" */
    bool auto_insert_metric_name; /* true: "epoch=3-val_loss=0.2811.ckpt" */
    int64_t every_n_train_steps;  /* 0: off */
    double train_time_interval;   /* seconds; 0: off */
    int64_t every_n_epochs;       /* VOLT_NONE: 1 unless one of the two above */
    int save_on_train_epoch_end;  /* -1 (None): auto; 0; 1 */
    bool enable_version_counter;  /* true: "name-v1.ckpt" when "name.ckpt" exists */
} volt_model_checkpoint_options;
volt_model_checkpoint_options volt_model_checkpoint_defaults(void);
volt_callback *volt_model_checkpoint_new(const volt_model_checkpoint_options *opt);
/* Its results ("" / NAN when none yet); strings valid until its next save. */
const char *volt_model_checkpoint_dirpath(volt_callback *cb);
const char *volt_model_checkpoint_best_model_path(volt_callback *cb);
double volt_model_checkpoint_best_model_score(volt_callback *cb);
const char *volt_model_checkpoint_last_model_path(volt_callback *cb);
/* best_k_models: count, then the i-th path and score (best first). */
int volt_model_checkpoint_best_k_count(volt_callback *cb);
const char *volt_model_checkpoint_best_k_path(volt_callback *cb, int i);
double volt_model_checkpoint_best_k_score(volt_callback *cb, int i);

/* Lightning's EarlyStopping. */
typedef struct {
    const char *monitor;           /* required */
    double min_delta;              /* 0 */
    int64_t patience;              /* 3 validation checks */
    bool verbose;                  /* false */
    const char *mode;              /* "min" or "max" */
    bool strict;                   /* true: a missing monitor is an error */
    bool check_finite;             /* true: stop on NaN/Inf */
    double stopping_threshold;     /* NAN: none */
    double divergence_threshold;   /* NAN: none */
    bool check_on_train_epoch_end; /* false: at validation end */
} volt_early_stopping_options;
volt_early_stopping_options volt_early_stopping_defaults(void);
volt_callback *volt_early_stopping_new(const volt_early_stopping_options *opt);
/* Why it stopped ("" while it has not), the epoch it stopped at (-1:
 * not), the checks without improvement so far. */
const char *volt_early_stopping_reason(volt_callback *cb);
int64_t volt_early_stopping_stopped_epoch(volt_callback *cb);
int64_t volt_early_stopping_wait_count(volt_callback *cb);

/* Lightning's LearningRateMonitor: logs "lr-<Optimizer>" ("lr-SGD/pg1" for
 * several groups; "lr-SGD-momentum", "lr-SGD-weight_decay" when asked). */
typedef struct {
    const char *logging_interval; /* NULL: each scheduler's interval; "step"; "epoch" */
    bool log_momentum;
    bool log_weight_decay;
} volt_lr_monitor_options;
volt_callback *volt_lr_monitor_new(const volt_lr_monitor_options *opt);

/* Lightning's Timer: stops fit after `duration` seconds (checked at every
 * step or epoch); elapsed time per stage; its state resumes. */
typedef struct {
    double duration;      /* seconds; NAN: none (only measures) */
    const char *interval; /* "step" (default) or "epoch" */
    bool verbose;
} volt_timer_options;
volt_timer_options volt_timer_defaults(void);                 /* NAN, "step", verbose */
volt_callback *volt_timer_new(const volt_timer_options *opt); /* NULL: defaults but quiet */
double volt_timer_time_elapsed(volt_callback *cb, volt_stage stage);
double volt_timer_time_remaining(volt_callback *cb, volt_stage stage); /* NAN: no duration */

/* Lightning's OnExceptionCheckpoint: when fit fails, saves
 * <dirpath>/<filename>.ckpt (filename NULL: "on_exception"). */
volt_callback *volt_on_exception_checkpoint_new(const char *dirpath, const char *filename);

/* Lightning's GradientAccumulationScheduler: from epoch epochs[i] on,
 * accumulate factors[i] batches (epochs ascending, factors >= 1). */
volt_callback *volt_grad_accumulation_scheduler_new(int n, const int64_t *epochs,
                                                    const int64_t *factors);

/* An exponential moving average of the weights: after every
 * update_every_n_steps optimizer steps, ema = decay * ema + (1 - decay) * w.
 * Validation runs with the EMA weights (swapped in and back); checkpoints
 * hold them as "ema.<name>" tensors and resume them. */
typedef struct {
    double decay;                   /* in [0, 1]; 0.999 */
    int64_t update_every_n_steps;   /* 1 */
    bool validate_original_weights; /* false: validate the EMA weights */
} volt_ema_options;
volt_ema_options volt_ema_defaults(void);
volt_callback *volt_ema_new(const volt_ema_options *opt); /* NULL: defaults */

/* Preemption: while fit runs, SIGTERM or SIGUSR1 makes it save a checkpoint
 * at the next step boundary (path NULL: <default checkpoint dir>/last.ckpt,
 * which ckpt_path = "last" finds) and stop cleanly: fit returns
 * VOLT_ERR_STATE with "preempted (SIGTERM): checkpoint saved to ..." and
 * volt_exit_code() gives VOLT_EXIT_PREEMPTED. The previous handlers are
 * restored when fit ends. */
volt_callback *volt_preemption_new(const char *path);

/* ------------------------------------------ option tables and the command line */
/* An option table describes the fields of an options struct, one entry per
 * field, in the manner of FFmpeg's AVOption (DESIGN.md §4); one engine
 * derives from it the defaults, parsing from text and YAML, YAML output,
 * --help and range checks. A table ends with an entry whose name is NULL.
 *
 * Text forms (what YAML scalars and --section.key=VALUE hold): integers
 * ("3", "-1"), reals ("0.1", "1e-3", ".inf"), booleans (true/false, yes/no,
 * on/off), null ("null", "~", empty); counts of batches are integers ("10")
 * and fractions are reals ("0.25", "1.0"); lists of integers "[30, 60]".
 *
 * Strings. The engine owns the strings it stores: a struct filled by
 * volt_options_defaults holds copies, each set frees the string it
 * replaces, and volt_options_release frees them all. Never pass the engine
 * a struct whose strings it did not make (from a *_defaults() function). */
typedef enum {
    VOLT_OPTION_BOOL = 1, /* bool */
    VOLT_OPTION_INT,      /* int64_t */
    VOLT_OPTION_INT32,    /* int */
    VOLT_OPTION_UINT64,   /* uint64_t */
    VOLT_OPTION_DOUBLE,   /* double */
    VOLT_OPTION_STRING,   /* const char * */
    VOLT_OPTION_CHOICE,   /* const char *, one of `choices` (matched ignoring case) */
    VOLT_OPTION_ENUM,     /* int: choices[i] stores values[i] (values NULL: i) */
    VOLT_OPTION_BATCHES,  /* double: a fraction in [0, 1] or VOLT_BATCHES(count) */
    VOLT_OPTION_INT_LIST, /* volt_int_list */
} volt_option_type;

enum {
    /* null is allowed: VOLT_NONE (INT, DOUBLE), NULL (strings), -1 (ENUM),
     * n = 0 (INT_LIST). */
    VOLT_OPTION_NULLABLE = 1u << 0,
    VOLT_OPTION_NULL_NAN = 1u << 1,    /* DOUBLE: null is NAN (implies NULLABLE) */
    VOLT_OPTION_REQUIRED = 1u << 2,    /* null by default, but must be set */
    VOLT_OPTION_OPTIM_ZERO = 1u << 3,  /* DOUBLE: 0 is stored as VOLT_OPTIM_ZERO */
    VOLT_OPTION_TRUE_IS_ONE = 1u << 4, /* INT: true and false also read as 1 and 0 */
};

#define VOLT_INT_LIST_MAX 32
typedef struct {
    int n;
    int64_t v[VOLT_INT_LIST_MAX];
} volt_int_list;

typedef struct {
    const char *name; /* the key; NULL ends the table */
    volt_option_type type;
    size_t offset;              /* offsetof(struct, field) */
    const char *def;            /* the default, as text ("10", "null", "auto") */
    const char *help;           /* one line */
    double min, max;            /* numbers (and list items) allowed; both 0: any */
    const char *const *choices; /* CHOICE, ENUM: NULL-terminated */
    const int *values;          /* ENUM */
    unsigned flags;
} volt_option;

/* Sets every field the table describes to its default. */
volt_status volt_options_defaults(const volt_option *table, void *obj);
/* Frees the strings the engine stored (the fields become NULL). */
void volt_options_release(const volt_option *table, void *obj);
/* Sets `key` from text (value NULL: null). Errors (VOLT_ERR_INVALID_ARGUMENT)
 * name `section`, the key and the value: "unknown key 'max_epoch' in
 * trainer (did you mean max_epochs?)", "trainer.max_epochs: 'x' is not an
 * integer", "ema.decay: 2 is out of range [0, 1]", "trainer.
 * gradient_clip_algorithm: 'nrm' is not one of norm, value (did you mean
 * norm?)". */
volt_status volt_options_set(const volt_option *table, void *obj, const char *section,
                             const char *key, const char *value);
/* VOLT_ERR_INVALID_ARGUMENT naming the first REQUIRED field still null. */
volt_status volt_options_check(const volt_option *table, const void *obj, const char *section);
/* Sets the keys of a YAML file holding one mapping of the table's keys (an
 * empty file sets none): errors name the file, line and column (syntax
 * errors, unknown keys, bad values; VOLT_ERR_IO for a missing file). */
volt_status volt_options_load_yaml(const volt_option *table, void *obj, const char *section,
                                   const char *path);
/* obj as YAML text (one mapping, every key) that volt_options_load_yaml
 * reads back to the same values; malloc'd (free() it), NULL + error. */
char *volt_options_to_yaml(const volt_option *table, const void *obj);
/* The help of a table, malloc'd: one entry per key (--section.key, type,
 * default, range or choices, help). */
char *volt_options_help(const volt_option *table, const char *section);

/* The tables of volt's option structs. */
extern const volt_option volt_trainer_config_table[];
extern const volt_option volt_model_checkpoint_table[], volt_early_stopping_table[],
    volt_lr_monitor_table[], volt_timer_table[], volt_ema_table[];
extern const volt_option volt_sgd_table[], volt_adam_table[], volt_adamw_table[],
    volt_rmsprop_table[], volt_adagrad_table[], volt_lion_table[];
extern const volt_option volt_mlp_table[], volt_cnn_table[], volt_resnet_table[], volt_gpt_table[];
/* The text datamodule's (volt_text_datamodule_options, volt/data.h). */
extern const volt_option volt_text_datamodule_table[];

/* LightningCLI for C. A registry names the models and datamodules a program
 * can build: each class has an options table, the size of its options
 * struct and a constructor taking that struct (filled from the config;
 * strings in it live until the run ends). new_module returns a module that
 * volt_module_free frees whole (volt_module_new(NULL, NULL, &cls) with
 * cls.size the size of the module's struct); new_datamodule one that
 * volt_datamodule_free frees; NULL + error refuses the options. The key
 * "name" is the class's. */
typedef struct {
    const char *name;                                /* chosen by model.name / data.name ("cnn") */
    const char *help;                                /* one line */
    const volt_option *options;                      /* its options table */
    size_t options_size;                             /* sizeof its options struct */
    volt_module *(*new_module)(const void *options); /* models */
    volt_datamodule *(*new_datamodule)(const void *options); /* datamodules */
} volt_cli_class;

typedef struct {
    const char *prog; /* the program's name in usage and messages; NULL: argv[0] */
    const volt_cli_class *models;
    int n_models; /* the first is the default */
    const volt_cli_class *datamodules;
    int n_datamodules; /* the first is the default */
} volt_cli_registry;

/* Models mlp, cnn, resnet, gpt; datamodules fashion-mnist, csv, text. A gpt
 * model with vocab_size 0 takes the vocabulary size of the text
 * datamodule (LightningCLI's link_arguments): the resolved configuration
 * holds the number. */
const volt_cli_registry *volt_cli_builtin_registry(void);

/* The whole command line (LightningCLI): argv[1] is a subcommand — fit,
 * validate, test, predict, tune — followed by -c/--config FILE (YAML,
 * repeatable), overrides --section.key=VALUE (or --section.key VALUE),
 * --print-config (the resolved YAML, which -c reads back) and --help
 * [SECTION | CLASS]. Environment variables VOLT_<SECTION>__<KEY> are
 * defaults; files and overrides apply in order, later ones winning.
 * Top-level keys seed_everything, ckpt_path, test_after_fit,
 * predictions_path; sections trainer (with callbacks: a list of built-in
 * callbacks by name; --trainer.callbacks+=NAME), model and data (name: a
 * registry class), optimizer and lr_scheduler (replace the module's
 * configure_optimizers), tuner (for tune). Fit saves the resolved YAML as
 * <log_dir>/config.yaml. Prints progress and results on stdout, errors on
 * stderr; returns the exit status: 0; 1 when the run fails; 2 for a bad
 * command line or configuration (nothing has run); VOLT_EXIT_PREEMPTED.
 * Never exits the process. */
int volt_cli_main(int argc, char **argv, const volt_cli_registry *registry);

/* ------------------------------------------------------------------ tuner */
/* Lightning's Tuner (lightning.pytorch.tuner). Each search runs short fits
 * of `module` on `data` with a private trainer made from t's configuration
 * (t NULL: volt_trainer_defaults()) and t's configure_optimizers override,
 * with no logger, checkpointing, progress bar, model summary, sanity check,
 * validation, callbacks, detect_anomaly or LR schedulers (those
 * configure_optimizers adds are dropped), so nothing is written to disk
 * but the files asked for; t itself is not touched (it must not be
 * running). Afterwards the module's parameters and persistent buffers come
 * back bit for bit, with its gradients, its train/eval mode and the default
 * generator; the optimizers made during the search are freed. The module
 * must use automatic optimization. Errors name the tuner ("lr_find: ...",
 * "scale_batch_size: ...") and the bad option. */

/* Tuner.lr_find: num_training optimizer steps, step i at
 * lr_i = min_lr * (max_lr / min_lr)^(i / (num_training - 1)) ("exponential")
 * or min_lr + (max_lr - min_lr) i / (num_training - 1) ("linear") for every
 * group of the optimizer, recording after each step the loss smoothed as
 * Lightning does: avg = 0.98 avg + 0.02 loss, smoothed = avg / (1 - 0.98^(i+1))
 * (the mean loss of the step's batches under gradient accumulation). */
typedef struct {
    double min_lr;               /* 1e-8; finite, > 0 */
    double max_lr;               /* 1; finite, > min_lr */
    int64_t num_training;        /* 100 optimizer steps; >= 2 */
    const char *mode;            /* "exponential" (NULL) or "linear" */
    double early_stop_threshold; /* 4: stop once the smoothed loss > 4 x the best so far
                                    (or is NaN/Inf); NAN: never stop early */
    double *update_attr;         /* NULL; else receives the suggestion when there is
                                    one (Lightning's update_attr: e.g. &my_module.lr) */
    const char *csv_path;        /* NULL; else the curve, "lr,loss" then one row per
                                    step (smoothed loss), written atomically */
    bool verbose;                /* false; true: early stop and suggestion on stderr */
} volt_lr_find_options;
volt_lr_find_options volt_lr_find_defaults(void);

typedef struct {
    int64_t count;            /* steps recorded: num_training unless stopped early */
    double *lrs;              /* the learning rate of each step */
    double *losses;           /* the smoothed loss after it */
    double *raw_losses;       /* the loss training_step returned */
    bool stopped_early;       /* the loss diverged (early_stop_threshold) */
    double suggestion;        /* volt_lr_find_suggest(r, 10, 1, ...); NAN: none */
    int64_t suggestion_index; /* its step; -1: none */
} volt_lr_find_result;
void volt_lr_find_result_free(volt_lr_find_result *r);

/* Runs the sweep; *out (caller-owned) receives the result. A sweep whose
 * suggestion cannot be computed (too few finite points) still succeeds with
 * suggestion NAN. options NULL: the defaults. */
volt_status volt_tuner_lr_find(volt_trainer *t, volt_module *module, volt_datamodule *data,
                               const volt_lr_find_options *options, volt_lr_find_result **out);
/* Lightning's LRFinder.suggestion(skip_begin, skip_end): of the points
 * [skip_begin, count - skip_end) with a finite smoothed loss, the learning
 * rate where the loss falls fastest (the smallest torch.gradient of the
 * losses, unit spacing); *index (may be NULL) its step. NAN and -1 with
 * fewer than 2 such points. */
double volt_lr_find_suggest(const volt_lr_find_result *r, int64_t skip_begin, int64_t skip_end,
                            int64_t *index);

/* Tuner.scale_batch_size. The datamodule's batch size is changed through
 * set_batch_size, which must make the datamodule's loaders deliver batches
 * of `batch_size` from the next fit on (rebuild them). Each trial sets the
 * size and fits steps_per_trial optimizer steps; it fails when the fit
 * runs out of memory (VOLT_ERR_OUT_OF_MEMORY: the error is cleared and the
 * search goes on; any other error ends it), when memory_budget > 0 and the
 * peak bytes allocated by volt's CPU allocator during the trial (its
 * peak_allocated_bytes, reset before the trial; everything the process
 * holds counts) exceed the budget, or when it ran no optimizer
 * step (a batch larger than the data with drop_last). "power": from
 * init_val, doubling while trials pass (halving while none has); the
 * result is the largest size that passed. "binsearch": doubling until a
 * failure, then bisecting between the largest size that passed and the
 * smallest that failed until they are adjacent. A size whose batch holds
 * the whole training set ends the growth. At most max_trials trials. On
 * success the datamodule is left at the result (set_batch_size called with
 * it); with no size passing: VOLT_ERR_OUT_OF_MEMORY naming the last trial. */
typedef volt_status (*volt_set_batch_size_fn)(volt_datamodule *dm, int64_t batch_size, void *ctx);
typedef struct {
    const char *mode;                      /* "power" (NULL) or "binsearch" */
    int64_t init_val;                      /* 2; >= 1 */
    int64_t max_trials;                    /* 25; >= 1 */
    int64_t steps_per_trial;               /* 3; >= 1 */
    int64_t memory_budget;                 /* bytes; 0: none (only allocation failures) */
    volt_set_batch_size_fn set_batch_size; /* required */
    void *ctx;                             /* passed to set_batch_size */
    bool verbose;                          /* false; true: each trial on stderr */
} volt_batch_size_options;
volt_batch_size_options volt_batch_size_defaults(void);

typedef struct {
    int64_t batch_size; /* the trial's size */
    int64_t peak_bytes; /* the allocator's peak during it */
    int64_t steps;      /* optimizer steps it ran */
    bool passed;
    const char *why; /* "passed", "out of memory", "over the memory budget",
                        "no training batch" (static) */
} volt_batch_size_trial;
typedef struct {
    int64_t batch_size; /* the largest size that passed */
    int64_t n_trials;
    volt_batch_size_trial *trials; /* in the order run */
} volt_batch_size_result;
void volt_batch_size_result_free(volt_batch_size_result *r);

volt_status volt_tuner_scale_batch_size(volt_trainer *t, volt_module *module, volt_datamodule *data,
                                        const volt_batch_size_options *options,
                                        volt_batch_size_result **out);

/* ---------------------------------------------------------- built-in models */
/* Modules the volt program trains by name (src/train/models/). mlp, cnn and
 * resnet are classifiers of [B, C, H, W] or [B, F] images into num_classes
 * (gpt, a language model, comes last): each logs
 * train_loss, val_loss, val_acc, test_loss, test_acc (prog_bar), returns the
 * logits from predict_step, and configures its default optimizer (Adam at
 * `lr`, weight_decay; the CLI's optimizer section replaces it). Free with
 * volt_module_free. NULL + VOLT_ERR_INVALID_ARGUMENT naming a bad option. */
typedef struct {
    int64_t in_features; /* 784 */
    int64_t hidden;      /* 256 */
    int64_t num_classes; /* 10 */
    double dropout;      /* 0 */
    double lr;           /* 1e-3 */
    double weight_decay; /* 0 */
} volt_mlp_options;
volt_mlp_options volt_mlp_defaults(void);
volt_module *volt_mlp_new(const volt_mlp_options *opt);

/* Two conv blocks (conv 3x3, batch norm, ReLU, 2x2 max pool), dropout, two
 * linear layers. Input [B, in_channels, H, W]. */
typedef struct {
    int64_t in_channels; /* 1 */
    int64_t image_size;  /* 28 (square) */
    int64_t channels;    /* 32: first block; the second has twice as many */
    int64_t hidden;      /* 128 */
    int64_t num_classes; /* 10 */
    double dropout;      /* 0.25 */
    double lr;           /* 1e-3 */
    double weight_decay; /* 0 */
} volt_cnn_options;
volt_cnn_options volt_cnn_defaults(void);
volt_module *volt_cnn_new(const volt_cnn_options *opt);

/* A small ResNet for 28x28 inputs: a stem, `blocks` basic blocks per stage
 * over three stages (width, 2 width, 4 width; stride 2 between stages),
 * global average pooling, a linear head. */
typedef struct {
    int64_t in_channels; /* 1 */
    int64_t width;       /* 16 */
    int64_t blocks;      /* 2 */
    int64_t num_classes; /* 10 */
    double lr;           /* 1e-3 */
    double weight_decay; /* 5e-4 */
} volt_resnet_options;
volt_resnet_options volt_resnet_defaults(void);
volt_module *volt_resnet_new(const volt_resnet_options *opt);

/* A GPT-style decoder (GPT-2 as nanoGPT writes it), not a classifier: token
 * ids x [B, T] (i64 or i32, T <= block_size) -> logits [B, T, vocab_size].
 * Token embedding "transformer.wte.weight" [V, E] plus a learned position
 * embedding "transformer.wpe.weight" [block_size, E], dropout; n_layer
 * pre-norm blocks "transformer.h.<i>" computing x + attn(ln_1(x)) then
 * x + mlp(ln_2(x)): causal multi-head self-attention (attn.c_attn, a
 * Linear E -> 3E giving q, k, v; the fused scaled-dot-product op, causal;
 * attn.c_proj, E -> E; dropout after it, none on the attention
 * probabilities) and an MLP (mlp.c_fc E -> 4E, GELU with the tanh
 * approximation as GPT-2, mlp.c_proj 4E -> E, dropout); a final LayerNorm
 * "transformer.ln_f" (eps 1e-5); the language-model head is the token
 * embedding itself (weight tying): logits = x wte^T. The tied weight is one
 * parameter used twice — its gradient is the sum of both uses, and the
 * state dict holds it once, as "transformer.wte.weight" (there is no
 * "lm_head.weight": nanoGPT's state dict carries it twice as an alias, and
 * Hugging Face's GPT-2 leaves it out on save; load such a file
 * non-strictly or drop that key). Names follow nanoGPT's (which are
 * Hugging Face GPT-2's, whose Conv1D weights are stored transposed).
 * Initialisation is GPT-2's: Linear weights and embeddings N(0, 0.02), the
 * residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02 / sqrt(2
 * n_layer)), biases 0, LayerNorms 1 and 0, drawn from the default generator
 * (volt_seed_everything). training_step: batch x [B, T] tokens and y [B, T]
 * the next tokens, mean cross entropy over [B * T, V], logged as
 * train_loss; validation_step / test_step log val_loss / test_loss
 * (prog_bar, sync_dist); predict_step returns the logits. The default
 * optimizer is nanoGPT's: AdamW at lr, (beta1, beta2), weight_decay on the
 * parameters of 2 or more dims (group 0: embeddings and Linear weights),
 * none on biases and LayerNorm weights (group 1), at a constant lr. Errors
 * name the model and the values: "gpt: n_embd 130 must be divisible by
 * n_head 4", "gpt: sequence length 300 exceeds block_size 256", "gpt:
 * token id 70 at [0, 5] is out of range for vocab_size 65". */
typedef struct {
    int64_t vocab_size;  /* 0: take it from the data (the volt CLI sets it from the
                            text datamodule); volt_gpt_new needs >= 1 */
    int64_t block_size;  /* 128: the longest sequence */
    int64_t n_layer;     /* 4 */
    int64_t n_head;      /* 4; divides n_embd */
    int64_t n_embd;      /* 128 */
    double dropout;      /* 0; in [0, 1) */
    bool bias;           /* true: biases in the Linears and LayerNorms (GPT-2) */
    double lr;           /* 1e-3 */
    double weight_decay; /* 0.1 (decoupled, on 2-D weights) */
    double beta1, beta2; /* 0.9, 0.95; each in [0, 1) */
} volt_gpt_options;
volt_gpt_options volt_gpt_defaults(void);
volt_module *volt_gpt_new(const volt_gpt_options *opt);
/* Logits [B, T, vocab_size] of token ids idx [B, T] (in the current scope,
 * through the module's mode: dropout while training). NULL + error for a
 * module not made by volt_gpt_new or bad tokens (see above). */
volt_tensor *volt_gpt_forward(volt_module *gpt, const volt_tensor *idx);
/* Samples n_new tokens after context[0..n_context) (n_context >= 1, each in
 * [0, vocab_size)) into out[0..n_new), one at a time: the model (in eval
 * mode, under no-grad; its mode is restored after) sees the last
 * block_size tokens so far, the last position's logits are divided by
 * temperature (> 0, finite), cut to the top_k largest (top_k 0: all; ties
 * with the k-th largest stay), and a token is drawn from their softmax by
 * one uniform number from `gen` (a Philox generator; NULL: the default
 * one) per token: the same generator state gives the same tokens.
 * VOLT_ERR_INVALID_ARGUMENT naming the bad argument (and the forward's
 * errors). */
volt_status volt_gpt_generate(volt_module *gpt, const int64_t *context, int64_t n_context,
                              int64_t n_new, double temperature, int64_t top_k, volt_generator *gen,
                              int64_t *out);

/* ---------------------------------------------------------------- metrics */

/* Fraction of rows whose argmax over the last dim of logits [N, C] equals
 * target [N] (integer), as an f32 scalar in the current scope (no grad). */
volt_tensor *volt_accuracy(const volt_tensor *logits, const volt_tensor *target);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_TRAIN_H */
