/* train_impl.h: trainer internals shared by the files of src/train — the
 * trainer struct, hook identifiers and dispatch, the step context, logged
 * results, loop entry points, the progress bar and the model summary. */
#ifndef VOLT_TRAIN_IMPL_H
#define VOLT_TRAIN_IMPL_H

#include <stdio.h>

#include "volt/train.h"

/* ------------------------------------------------------------------ hooks */

typedef enum {
    VOLT_HK_SETUP = 0,
    VOLT_HK_TEARDOWN,
    VOLT_HK_ON_FIT_START,
    VOLT_HK_ON_FIT_END,
    VOLT_HK_ON_SANITY_CHECK_START,
    VOLT_HK_ON_SANITY_CHECK_END,
    VOLT_HK_ON_TRAIN_START,
    VOLT_HK_ON_TRAIN_END,
    VOLT_HK_ON_TRAIN_EPOCH_START,
    VOLT_HK_ON_TRAIN_EPOCH_END,
    VOLT_HK_ON_TRAIN_BATCH_START,
    VOLT_HK_ON_TRAIN_BATCH_END,
    VOLT_HK_ON_VALIDATION_START,
    VOLT_HK_ON_VALIDATION_END,
    VOLT_HK_ON_VALIDATION_EPOCH_START,
    VOLT_HK_ON_VALIDATION_EPOCH_END,
    VOLT_HK_ON_VALIDATION_BATCH_START,
    VOLT_HK_ON_VALIDATION_BATCH_END,
    VOLT_HK_ON_TEST_START,
    VOLT_HK_ON_TEST_END,
    VOLT_HK_ON_TEST_EPOCH_START,
    VOLT_HK_ON_TEST_EPOCH_END,
    VOLT_HK_ON_TEST_BATCH_START,
    VOLT_HK_ON_TEST_BATCH_END,
    VOLT_HK_ON_PREDICT_START,
    VOLT_HK_ON_PREDICT_END,
    VOLT_HK_ON_PREDICT_EPOCH_START,
    VOLT_HK_ON_PREDICT_EPOCH_END,
    VOLT_HK_ON_PREDICT_BATCH_START,
    VOLT_HK_ON_PREDICT_BATCH_END,
    VOLT_HK_ON_BEFORE_BACKWARD,
    VOLT_HK_ON_AFTER_BACKWARD,
    VOLT_HK_ON_BEFORE_OPTIMIZER_STEP,
    VOLT_HK_ON_BEFORE_ZERO_GRAD,
    VOLT_HK_ON_SAVE_CHECKPOINT,
    VOLT_HK_ON_LOAD_CHECKPOINT,
    VOLT_HK_ON_EXCEPTION,
    /* module-only */
    VOLT_HK_OPTIMIZER_STEP,
    VOLT_HK_CONFIGURE_GRADIENT_CLIPPING,
    VOLT_HK_TRAINING_STEP,
    VOLT_HK_VALIDATION_STEP,
    VOLT_HK_TEST_STEP,
    VOLT_HK_PREDICT_STEP,
    VOLT_HK_CONFIGURE_OPTIMIZERS,
    VOLT_HK_ON_VALIDATION_MODEL_EVAL,
    VOLT_HK_ON_VALIDATION_MODEL_TRAIN,
    VOLT_HK_ON_TEST_MODEL_EVAL,
    VOLT_HK_ON_TEST_MODEL_TRAIN,
    VOLT_HK_ON_PREDICT_MODEL_EVAL,
    VOLT_HK_ON_BEFORE_BATCH_TRANSFER,
    VOLT_HK_TRANSFER_BATCH_TO_DEVICE,
    VOLT_HK_ON_AFTER_BATCH_TRANSFER,
    VOLT_HK_BACKWARD,   /* not hooks: the trainer's own work (for messages) */
    VOLT_HK_DATALOADER, /* the next batch */
    VOLT_HK_INTERRUPT,  /* SIGINT */
    VOLT_HK_COUNT
} volt_hook_id;

/* Where volt_log is allowed in a hook (Lightning's _FxValidator). */
typedef enum {
    VOLT_LOGRULE_REFUSED = 0,
    VOLT_LOGRULE_STEP,      /* default on_step; both allowed */
    VOLT_LOGRULE_EVAL_STEP, /* default on_epoch; both allowed */
    VOLT_LOGRULE_EPOCH,     /* on_epoch only */
} volt_log_rule;

const char *volt_hook_name(volt_hook_id id);
volt_log_rule volt_hook_log_rule(volt_hook_id id);

/* --------------------------------------------------------------- results */

typedef struct {
    char *name;
    bool on_step, on_epoch, prog_bar, logger;
    unsigned reduce; /* 0 mean, else VOLT_LOG_REDUCE_* */
    bool fresh;      /* logged since the last step end */
    double value;    /* the last value */
    double sum, weight, min, max;
    int64_t n;
} volt_log_entry;

typedef struct {
    volt_log_entry *e;
    int64_t n, cap;
} volt_log_results;

void volt_log_results_reset(volt_log_results *r);

/* ------------------------------------------------------------ step context */

struct volt_step {
    volt_trainer *trainer;
    volt_hook_id hook;
    volt_batch *batch;
    int64_t batch_idx;
    volt_tensor *outputs;
    volt_optimizer *optimizer;
    const char *error;
    volt_log_results *results;   /* where volt_log writes; NULL: nowhere */
    bool skip_epoch;             /* volt_step_skip_epoch was called */
    volt_checkpoint *checkpoint; /* on_save_checkpoint / on_load_checkpoint */
};

/* ------------------------------------------------------------ the trainer */

typedef struct {
    volt_optimizer *opt;
    volt_lr_scheduler *sched;
    volt_lr_scheduler_config cfg;
    char *monitor;
} volt_optim_entry;

struct volt_optim_setup {
    volt_trainer *trainer;
};

/* Where the fit loop is, for checkpoints and exact resume. */
typedef enum {
    VOLT_PHASE_EPOCH_START = 0, /* epoch `epoch` has not begun */
    VOLT_PHASE_BATCH_END,       /* batch `batch_pos - 1` reached on_train_batch_end */
    VOLT_PHASE_BATCH_DONE,      /* ... and everything after it, validation included */
    VOLT_PHASE_EPOCH_END,       /* the batches of `epoch` are done: on_train_epoch_end */
} volt_loop_phase;

typedef struct {
    bool enabled, tty;
    double last_print;
    double stage_start;
    int last_len;
} volt_progress;

/* Dynamic loss scaling for precision "16-mixed" (grad_scaler.c). */
typedef struct {
    bool enabled;           /* precision "16-mixed" / "16" */
    bool found_inf;         /* the last unscale saw an inf or NaN gradient */
    double scale;           /* 65536 at the start */
    int64_t growth_tracker; /* good steps in a row since the last change */
} volt_grad_scaler;

struct volt_trainer {
    volt_trainer_config cfg;
    char *root_dir;
    char *clip_algorithm;

    volt_callback **callbacks;
    int n_callbacks, cap_callbacks;
    volt_logger **loggers;
    int n_loggers, cap_loggers;
    bool default_logger; /* loggers[] were all made by the trainer */

    volt_optim_entry *optims;
    int n_optims, cap_optims;
    volt_configure_optimizers_fn configure_override; /* the CLI's optimizer section */
    void *configure_ctx;

    /* the current run */
    volt_module *module;
    volt_datamodule *data;
    volt_stage stage;
    bool running, sanity, should_stop, failed, log_enabled, fast_dev;
    int64_t epoch, global_step, total_batches;
    int64_t log_step;   /* batches that stepped (loggers' step) */
    bool epoch_skipped; /* on_train_batch_start asked to skip the rest of the epoch */
    bool window_grads;  /* the open accumulation window holds gradients */
    double start_time;
    double time_offset; /* seconds of the runs resumed from */

    /* checkpoints */
    volt_loop_phase phase;
    int64_t batch_pos;          /* batches of this epoch through on_train_batch_end */
    bool batch_stepped;         /* that batch closed an accumulation window */
    int64_t accumulate;         /* the accumulation factor in force */
    char *ckpt_path;            /* resumed from (resolved), NULL: none */
    volt_checkpoint *ckpt;      /* open while a run restores from it */
    char *ckpt_dir;             /* volt_trainer_default_checkpoint_dir's answer */
    volt_data_loader *train_dl; /* fit's, while it runs */
    int64_t num_val_batches;    /* fit's per validation run */
    bool preempted;             /* the last fit stopped for a preemption signal */

    /* distribution (strategy.c, over the fabric) */
    struct volt_fabric *fabric;             /* made and launched by the first entry point */
    volt_process_group *pg;                 /* the fabric's; NULL: one process, single device */
    bool zero1;                             /* strategy "zero1" */
    struct volt_zero1 *zero1_state;         /* the fabric's, during a fit under zero1 */
    int rank, world, local_rank, node_rank; /* the fabric's */
    volt_device device;                     /* where the module and batches live (accelerator) */
    volt_grad_scaler scaler;                /* precision "16-mixed" */
    bool ckpt_dir_shared;                   /* ckpt_dir holds rank 0's default for this run */

    volt_metrics callback_metrics, logged_metrics, pbar_metrics;
    volt_log_results train_results, eval_results;
    volt_progress progress;
    struct volt_profiler *profiler; /* config.profiler; NULL: off */
};

/* hooks.c: runs hook `id` on the callbacks (monitoring ones last when
 * monitoring_last) and the module; returns the status, with a failure
 * wrapped as "<stage>: <hook> failed at epoch E[, batch B]: <message>". */
volt_status volt_hook_run(volt_trainer *t, volt_step *s, volt_hook_id id);
volt_status volt_hook_run_ex(volt_trainer *t, volt_step *s, volt_hook_id id, bool monitoring_last);
/* Wraps the current (or a new) error for hook `id`; returns the status. */
volt_status volt_hook_fail(volt_trainer *t, const volt_step *s, volt_hook_id id,
                           volt_status status);
/* Calls a step function and checks its result; *out its tensor. */
volt_status volt_hook_step(volt_trainer *t, volt_step *s, volt_hook_id id, volt_step_fn fn,
                           volt_tensor **out);
/* Whether the module defines hook `id` (module-only hooks with defaults). */
bool volt_hook_defined(const volt_trainer *t, volt_hook_id id);
/* The batch-transfer hooks of a batch (s->batch set), in Lightning's order. */
volt_status volt_hook_batch_transfer(volt_trainer *t, volt_step *s);
/* A step context for hook calls outside batches. */
volt_step volt_step_make(volt_trainer *t, volt_log_results *results);
/* on_exception hooks with the saved message; restores the error after. */
void volt_hook_exception(volt_trainer *t, volt_status status);

/* metrics.c: frees the arrays of a table embedded in other memory. */
void volt_metrics_release(volt_metrics *m);

/* log.c */
/* After a batch: step values to callback/logged/progress-bar metrics; a row
 * to the loggers when write. */
volt_status volt_log_step_end(volt_trainer *t, volt_log_results *r, bool write, int64_t step);
/* After an epoch: epoch reductions into the metric tables; a row to the
 * loggers when write; *epoch_metrics (may be NULL) receives them too. */
volt_status volt_log_epoch_end(volt_trainer *t, volt_log_results *r, bool write, int64_t step,
                               volt_metrics *epoch_metrics);
volt_status volt_loggers_write(volt_trainer *t, volt_metrics *row, int64_t step);

/* config.c: the effective number of batches of a loader of n batches under
 * a limit value; -1 + error when a fraction leaves none. */
int64_t volt_limit_batches(double limit, int64_t n, const char *field);
/* Whether a limit value is a count, and which. */
bool volt_limit_is_count(double v, int64_t *count);

/* fit_loop.c / eval_loop.c */
volt_status volt_fit_run(volt_trainer *t);
typedef enum {
    VOLT_EVAL_SANITY = 0,
    VOLT_EVAL_VAL,
    VOLT_EVAL_TEST,
    VOLT_EVAL_PREDICT
} volt_eval_kind;
volt_status volt_eval_run(volt_trainer *t, volt_eval_kind kind, volt_data_loader *dl,
                          int64_t n_batches, volt_metrics *epoch_metrics, volt_predictions *preds);

/* interrupt.c: SIGINT during a run sets a flag the loops check after each
 * batch (volt_interrupt_check records the error). */
void volt_interrupt_arm(void);
void volt_interrupt_disarm(void);
volt_status volt_interrupt_check(void);

/* trainer.c */
void volt_trainer_free_optims(volt_trainer *t);

/* strategy.c: the strategy of a run, over a volt_fabric (t->fabric, made
 * from the trainer's configuration). setup (every entry point, before
 * anything runs) makes and launches the fabric once per trainer: strategy /
 * devices / num_nodes resolved against the launcher, the self-launch (not
 * returning then), the process group. fit_setup (after configure_optimizers
 * and the checkpoint restore) sets the module and optimizers up on the
 * fabric: rank 0's module state broadcast, batch norm converted with
 * sync_batchnorm, the gradient reducer or zero1's sharding. shard_loader
 * sets a loader up for the run; run_end undoes what the run set up.
 * sync_gradients: before the optimizer step of a window (automatic
 * optimization); before_backward tells the fabric whether this backward
 * ends the window. */
volt_status volt_strategy_setup(volt_trainer *t);
volt_status volt_strategy_fit_setup(volt_trainer *t);
volt_status volt_strategy_shard_loader(volt_trainer *t, volt_data_loader *dl);
void volt_strategy_before_backward(volt_trainer *t, bool closes_window);
volt_status volt_strategy_sync_gradients(volt_trainer *t);
/* zero1: after the optimizer step, every rank gets the updated parameters. */
volt_status volt_strategy_after_optimizer_step(volt_trainer *t);
void volt_strategy_run_end(volt_trainer *t);
/* Restores the sharded loaders (before the datamodule's teardown, which
 * may free them; run_end does it for a run that failed before). */
void volt_strategy_release_loaders(volt_trainer *t);
/* After the loggers are made: every rank takes rank 0's default checkpoint
 * directory (which names rank 0's log version) for the run. */
volt_status volt_strategy_share_checkpoint_dir(volt_trainer *t);
void volt_strategy_free(volt_trainer *t);
/* zero1.c: strategy "zero1" (ZeRO stage 1) over the single optimizer's
 * parameters. Each parameter is owned by one rank (a balanced partition by
 * size, a pure function of the parameter shapes and the world size). After
 * the window's last backward, reduce_gradients reduce-scatters the
 * gradients so that each rank holds the mean gradient of the parameters it
 * owns and none (grad NULL) for the others — so the optimizer steps, and
 * keeps state for, only its 1/N; after the optimizer step,
 * gather_parameters all-gathers the updated parameters to every rank. */
typedef struct volt_zero1 volt_zero1;
/* Over pg, a collective call: the ranks check that their optimizers have
 * the same parameters (count, dtypes, shapes; all of one dtype, f32 or f64)
 * or all fail, naming the first that differs. The partition: largest
 * parameter first to the least-loaded rank (the lower on ties). */
volt_zero1 *volt_zero1_new_over(volt_process_group *pg, volt_optimizer *opt);
/* The same over t->pg. */
volt_zero1 *volt_zero1_new(volt_trainer *t, volt_optimizer *opt);
void volt_zero1_free(volt_zero1 *z);
/* The optimizer it shards (NULL for NULL). */
volt_optimizer *volt_zero1_optimizer(const volt_zero1 *z);
volt_status volt_zero1_reduce_gradients(volt_zero1 *z);
volt_status volt_zero1_gather_parameters(volt_zero1 *z);
/* The rank owning parameter i of the optimizer. */
int volt_zero1_owner(const volt_zero1 *z, int64_t i);
/* torch's clip_grad_norm_ (2-norm, no error on a non-finite norm) over the
 * gradients of every rank's shard, a collective call (after
 * reduce_gradients): the norm of all owned gradients together (the sum of
 * squares all-reduced), and the owned gradients scaled by max_norm / (norm
 * + 1e-6) when that is below 1. *total_norm (may be NULL) gets the norm. */
volt_status volt_zero1_clip_grad_norm(volt_zero1 *z, double max_norm, double *total_norm);
/* The optimizer's state as volt_optimizer_state_dict of the unsharded
 * optimizer gives it (same names, same JSON), a collective call: every
 * rank gets the full JSON; rank 0 gets every tensor, the other ranks only
 * their own. The dict owns none of its tensors: they are the optimizer's
 * own or new tensors of the current scope (open one, and keep it open while
 * they are used: a checkpoint save). */
volt_state_dict *volt_zero1_state_dict(volt_zero1 *z, char **json);
/* Cuts a full optimizer state (sd's "state.<i>.<slot>" tensors, freed if
 * sd owns them, and the "state" entries of `optimizer`, its parsed JSON)
 * down to the parameters this rank owns, for volt_optimizer_load_state_dict.
 * Local. */
struct cJSON;
volt_status volt_zero1_keep_owned(const volt_zero1 *z, volt_state_dict *sd,
                                  struct cJSON *optimizer);

/* The value reduced over ranks for volt_log's sync_dist: op 0 the
 * weighted mean (value, weight summed), else VOLT_LOG_REDUCE_*. */
volt_status volt_strategy_sync_value(volt_trainer *t, unsigned reduce, double *value,
                                     double *weight);
/* Rank 0's string (a path) on every rank: *s replaced (malloc'd). */
volt_status volt_strategy_broadcast_string(volt_trainer *t, char **s);

/* checkpoint_restore.c: resolves ckpt_path ("last", "best", a file) and
 * opens and checks it against the module before anything runs (t->ckpt,
 * t->ckpt_path; a "last" that finds nothing leaves both NULL for fit). */
volt_status volt_ckpt_prepare(volt_trainer *t, volt_stage stage, const char *ckpt_path);
/* After setup: the module's weights, the datamodule, (fit) the callbacks,
 * with the on_load_checkpoint hooks. */
volt_status volt_ckpt_restore_modules(volt_trainer *t);
/* After configure_optimizers (fit): optimizers, schedulers, generator, loop
 * counters and the train loader's position. */
volt_status volt_ckpt_restore_training(volt_trainer *t, volt_data_loader *train_dl);
/* Closes t->ckpt (the run no longer needs it). */
void volt_ckpt_release(volt_trainer *t);

/* grad_scaler.c: dynamic loss scaling for precision "16-mixed" (the state
 * is volt_grad_scaler, above). */
/* Disabled: the other functions do nothing (scale returns the loss). */
void volt_grad_scaler_init(volt_grad_scaler *s, bool enabled);
/* loss * scale (a new tensor in the current scope), or loss when disabled. */
volt_tensor *volt_grad_scaler_scale(const volt_grad_scaler *s, volt_tensor *loss);
/* Divides the gradients of opt's parameters by the scale in place and sets
 * found_inf (reads one number from the device). */
volt_status volt_grad_scaler_unscale(volt_grad_scaler *s, volt_optimizer *opt);
/* After the step (skipped when found_inf): halve the scale on an inf,
 * double it after 2000 good steps. */
void volt_grad_scaler_update(volt_grad_scaler *s);
/* {"scale": S, "growth_tracker": N}; NULL when out of memory. */
struct cJSON *volt_grad_scaler_to_json(const volt_grad_scaler *s);
/* Restores from that text; NULL (a checkpoint written without 16-mixed)
 * keeps the state; VOLT_ERR_FORMAT naming the checkpoint when malformed. */
volt_status volt_grad_scaler_from_json(volt_grad_scaler *s, const char *text, const char *path);

/* loop_state.c: the loop counters, results and metrics as JSON text, and back. */
char *volt_loop_state_to_json(const volt_trainer *t);
volt_status volt_loop_state_from_json(volt_trainer *t, const char *json, const char *path);

/* checkpoint.c: the checkpoint object shared by save and restore. */
volt_checkpoint *volt_checkpoint_for_write(void);
/* Adds a tensor by reference (the caller keeps it alive until the write). */
volt_status volt_checkpoint_put(volt_checkpoint *ck, const char *name, volt_tensor *t);
/* Sets a metadata key the format owns. */
volt_status volt_checkpoint_put_meta(volt_checkpoint *ck, const char *key, const char *value);
/* The state_dict.* tensors of an open checkpoint as a state dict (owning
 * its tensors, names without the prefix); NULL + error. */
volt_state_dict *volt_checkpoint_state_dict(volt_checkpoint *ck);
/* The checkpoint key of callback i: its state_key (or name), with "#k"
 * for the k-th callback of the same key; malloc'd. */
char *volt_callback_key(const volt_trainer *t, int i);
/* Rewrites the recorded error as "<prefix>: <message>"; returns status. */
volt_status volt_error_prefix(volt_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Computes the checksum and writes the file atomically. */
volt_status volt_checkpoint_write(volt_checkpoint *ck, const char *path);
/* checkpoint_state.c: the parts of a checkpoint that the trainer's save and
 * restore and Fabric's save and load share. `op` names the caller in
 * out-of-memory errors ("save_checkpoint", "fabric: save"). */
/* Metadata `key`: an integer / a cJSON value's text (v freed, also on
 * failure). */
volt_status volt_checkpoint_put_int(volt_checkpoint *ck, const char *key, int64_t v);
volt_status volt_checkpoint_put_json(volt_checkpoint *ck, const char *key, struct cJSON *v,
                                     const char *op);
/* The module's parameters and persistent buffers as state_dict.<name> (by
 * reference: the module's own tensors). */
volt_status volt_checkpoint_put_module(volt_checkpoint *ck, volt_module *m);
/* The module's hyperparameters as metadata "hparams" (a JSON object). */
volt_status volt_checkpoint_put_hparams(volt_checkpoint *ck, const volt_module *m, const char *op);
/* n optimizers' state: tensors optimizer.<i>.<param>.<slot> (<param> the
 * parameter's dotted name in m, else its index in the optimizer), metadata
 * "optimizers" (their JSON) and "lr_schedulers" (scheds[i]'s state, null
 * when scheds or scheds[i] is NULL). The optimizer that z shards (z may be
 * NULL) is saved unsharded, gathered by volt_zero1_state_dict: a collective
 * call then, and its tensors live in the current scope (keep it open until
 * the write). */
volt_status volt_checkpoint_put_optimizers(volt_checkpoint *ck, volt_module *m, int n,
                                           volt_optimizer *const *opts,
                                           volt_lr_scheduler *const *scheds, volt_zero1 *z,
                                           const char *op);
/* Restores optimizer i (opt, over parameters of m) from its tensors in ck
 * and `json`, its entry of metadata "optimizers"; when z shards opt, only
 * this rank's part of the state is kept (json is changed then). Errors name
 * the tensor or the optimizer's mismatch, without the path. */
volt_status volt_checkpoint_load_optimizer(volt_checkpoint *ck, volt_module *m, int i,
                                           volt_optimizer *opt, struct cJSON *json,
                                           const volt_zero1 *z);
/* A scheduler's state from its entry of metadata "lr_schedulers". */
volt_status volt_checkpoint_load_scheduler(volt_lr_scheduler *sched, const struct cJSON *json);
/* Runs on_save_checkpoint / on_load_checkpoint (callbacks, then the module;
 * fit only for the callbacks' on_load_checkpoint). */
volt_status volt_checkpoint_hooks(volt_trainer *t, volt_checkpoint *ck, volt_hook_id id,
                                  bool callbacks);

/* progress.c: the bar (stderr). */
void volt_progress_begin(volt_trainer *t, const char *stage, int64_t n);
void volt_progress_update(volt_trainer *t, const char *stage, int64_t i, int64_t n, bool force);
void volt_progress_end(volt_trainer *t, const char *stage, int64_t n);

/* summary.c: the model summary table, depth-limited (max_depth < 0: all
 * levels); with the module's forward and example_input, the input and
 * output shapes of the children that run through their class forward. */
void volt_model_summary_print(volt_module *m, int max_depth, FILE *out);

/* -------------------------------------------------------------- profiler */

/* profiler.c, profiler_trace.c: config.profiler. When it is on the trainer
 * holds one (t->profiler) and the calls below time spans on the trainer's
 * thread: begin returns a token for the matching end, which closes that span
 * and any left open inside it. Off, each is one branch. An action is a
 * string literal (keyed by its address) or a hook of a callback or of the
 * module. No allocation per span beyond the growth of buffers. */
typedef struct volt_profiler volt_profiler;
/* volt_trainer_new: makes t->profiler when config.profiler asks, and points
 * the config's profiler strings at the profiler's copies. */
volt_status volt_profiler_setup(volt_trainer *t);
void volt_profiler_free(volt_profiler *p);
/* run(): opens the run's span (and, for a trace, hooks the ops) / closes
 * every span, prints the report or writes the trace. run_end returns `st`,
 * or when st is VOLT_OK the failure to write the report or trace. */
void volt_profiler_run_start(volt_trainer *t);
volt_status volt_profiler_run_end(volt_trainer *t, volt_status st);
int volt_profiler_begin(volt_profiler *p, const char *action);
int volt_profiler_begin_hook(volt_profiler *p, bool callback, const void *owner,
                             const char *owner_name, volt_hook_id id);
void volt_profiler_end(volt_profiler *p, int token);
/* The action names of an evaluation loop: its run, a batch, a data wait. */
typedef enum { VOLT_PROF_EVAL_RUN = 0, VOLT_PROF_EVAL_BATCH, VOLT_PROF_EVAL_NEXT } volt_prof_eval;
static inline const char *volt_profiler_eval_action(volt_eval_kind kind, volt_prof_eval what) {
    static const char *const names[][3] = {
        [VOLT_EVAL_SANITY] = {"run_sanity_check", "run_validation_batch", "get_validation_batch"},
        [VOLT_EVAL_VAL] = {"run_validation_epoch", "run_validation_batch", "get_validation_batch"},
        [VOLT_EVAL_TEST] = {"run_test_epoch", "run_test_batch", "get_test_batch"},
        [VOLT_EVAL_PREDICT] = {"run_predict_epoch", "run_predict_batch", "get_predict_batch"},
    };
    return names[kind][what];
}

static inline int volt_profile_begin(volt_trainer *t, const char *action) {
    return t->profiler ? volt_profiler_begin(t->profiler, action) : -1;
}
static inline int volt_profile_callback(volt_trainer *t, const volt_callback *cb, volt_hook_id id) {
    return t->profiler ? volt_profiler_begin_hook(t->profiler, true, cb, cb->ops->name, id) : -1;
}
static inline int volt_profile_module(volt_trainer *t, volt_hook_id id) {
    return t->profiler
               ? volt_profiler_begin_hook(t->profiler, false, t->module, t->module->ops->name, id)
               : -1;
}
static inline void volt_profile_end(volt_trainer *t, int token) {
    if (token >= 0) volt_profiler_end(t->profiler, token);
}
/* volt_data_loader_next timed as `action` (a data wait). */
static inline bool volt_profiled_next(volt_trainer *t, volt_data_loader *dl, volt_batch *b,
                                      const char *action) {
    int token = volt_profile_begin(t, action);
    bool got = volt_data_loader_next(dl, b);
    volt_profile_end(t, token);
    return got;
}

#endif
