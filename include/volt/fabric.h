/* volt/fabric.h: Fabric (DESIGN.md §4, §5) — Lightning Fabric's API in C,
 * for users who write their own training loop: the accelerator, strategy,
 * precision and process group behind a handful of calls, so that the same
 * loop runs in one process, under `mpiexec -n N`, or with devices = N (the
 * program re-executes itself under mpiexec).
 *
 *     volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.devices = 2});
 *     if (!f || volt_fabric_launch(f)) ...;          // 2 processes from here on
 *     volt_fabric_seed_everything(f, 42);
 *     ... build the module m and the optimizer opt ...
 *     volt_fabric_setup_module(f, &m.base);          // rank 0's weights everywhere
 *     volt_fabric_setup_optimizers(f, opt);
 *     volt_fabric_setup_dataloaders(f, train, true, true); // its shard, on the device
 *     for (each epoch, each batch b of train, inside a scope) {
 *         volt_tensor *loss = ...;
 *         volt_optimizer_zero_grad(opt);
 *         volt_fabric_backward(f, loss, NULL);       // gradients averaged over ranks
 *         volt_optimizer_step(opt);
 *     }
 *     volt_fabric_save(f, "model.ckpt", &(volt_fabric_state){.module = &m.base});
 *     volt_fabric_free(f);
 *
 * examples/fabric_loop.c is a complete program; docs/fabric.md the guide.
 *
 * Collective calls. With more than one process, the calls marked
 * "collective" must be made by every rank, in the same order (they talk to
 * the other ranks); a rank whose own arguments are bad still takes part,
 * so that every rank fails with an error instead of waiting forever. The
 * others are local.
 *
 * Errors: functions record the sticky error (volt/core.h) and return a
 * status (or NULL / NAN): VOLT_ERR_INVALID_ARGUMENT for bad arguments (the
 * message names the function and the argument), VOLT_ERR_STATE for a call
 * out of order (setup before launch, launch twice), VOLT_ERR_UNSUPPORTED
 * for an option value a later volt will take, and the errors of the layers
 * underneath (volt/dist.h: a failed or timed-out collective; volt/io.h:
 * files). Nothing prints, aborts or exits, except the launch that
 * re-executes the program.
 *
 * Threads: one thread at a time per fabric (the training loop's). */
#ifndef VOLT_FABRIC_H
#define VOLT_FABRIC_H

#include "volt/core.h"
#include "volt/data.h"
#include "volt/dist.h"
#include "volt/nn.h"
#include "volt/optim.h"
#include "volt/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct volt_fabric volt_fabric;

/* Lightning's Fabric(...) arguments. A zeroed field means the default in
 * brackets, so `&(volt_fabric_options){.devices = 2}` is a whole
 * configuration; NULL options are all defaults. */
typedef struct {
    /* NULL or "auto": a GPU when the machine has one (as Lightning's), else
     * the CPU; "cpu"; "cuda"/"gpu" (checked against the machine: a CUDA
     * device, devices <= their count). On a GPU each rank works on
     * cuda:(local rank) (volt_fabric_device), setup_module moves modules
     * there, volt_fabric_to_device moves batches, and ddp / zero1 talk
     * through NCCL (the "nccl" process group, even with one rank, as
     * Lightning's DDP does). */
    const char *accelerator;
    /* NULL: "auto" — "ddp" when there is more than one process (devices *
     * num_nodes > 1, or a launcher started several), else "single_device".
     * "single_device": this process alone (under a launcher too: each rank
     * then trains on its own). "ddp": data parallel over MPI. "zero1": ddp
     * with the optimizer state sharded (ZeRO stage 1): each rank owns a
     * balanced share of the parameters of the one optimizer set up,
     * receives their mean gradient (a reduce-scatter in volt_fabric_backward;
     * the other parameters' gradients are NULL afterwards), updates and keeps
     * state for them alone, and volt_fabric_optimizer_step all-gathers the
     * updated parameters; volt_fabric_save gathers the whole optimizer state
     * (the file loads at any world size, under any strategy). */
    const char *strategy;
    /* Processes per node (0: 1; -1: one per GPU on a GPU, else one per CPU
     * available).
     * Under a launcher (mpirun, srun) its process count is used: devices
     * must then be 0 or 1 (adopt it) or equal it per node. Without one and
     * devices > 1, launch re-executes the program under mpiexec. */
    int64_t devices;
    int64_t num_nodes; /* 0: 1; > 1 needs a launcher (mpirun/srun) on each node */
    /* NULL: "32-true"; "bf16-mixed" (alias "bf16"): volt_fabric_autocast_begin
     * turns bf16 autocast on (volt/ops.h, docs/precision.md); "bf16-true":
     * setup_module casts modules to bf16 and to_device casts batches. Also
     * "32". On a GPU also "16-mixed" (alias "16"): f16 autocast and dynamic
     * loss scaling — volt_fabric_backward scales the loss, and the step
     * must be volt_fabric_optimizer_step, which unscales the gradients and
     * skips a step whose gradients overflowed (Lightning's
     * MixedPrecision plugin with torch's GradScaler); and "16-true", as
     * "bf16-true" in f16. Without a GPU the float16 values are refused
     * (VOLT_ERR_UNSUPPORTED). */
    const char *precision;
    double bucket_cap_mb; /* 0: 25; DDP gradient buckets (volt_grad_reducer) */
    double timeout_s;     /* 0: VOLT_DIST_TIMEOUT or 1800; bound on waits for other ranks */
    bool sync_batchnorm;  /* true: set-up modules' batch norm over every rank (ddp) */
    /* NULL: "."; the default logger's directory: <root_dir>/volt_logs/version_N
     * (made by the first volt_fabric_log, on rank 0). Copied. */
    const char *root_dir;
} volt_fabric_options;

/* Checks the options (the first bad one is an error naming it, and NULL is
 * returned) and makes a fabric; nothing else happens until launch. Local. */
volt_fabric *volt_fabric_new(const volt_fabric_options *options);
/* Finalizes and frees the loggers (rank 0 writes their files), frees the
 * gradient reducers and zero1's sharding, restores plain batch norm in modules that
 * sync_batchnorm converted, then frees the process group. The modules,
 * optimizers and loaders set up stay the caller's (loaders stay sharded:
 * volt_data_loader_set_distributed(l, 0, 1) undoes it). Local (no
 * communication); NULL is ignored. A logger that fails to write its files
 * leaves the sticky error set. */
void volt_fabric_free(volt_fabric *f);

/* ---------------------------------------------------------------- launch */

/* Lightning's fabric.launch(): resolves strategy / devices / num_nodes
 * against the launcher, as the trainer does (see "Distributed training" in
 * volt/train.h), and makes the process group:
 *  - under mpirun / mpiexec / srun: this process is one rank of the
 *    launcher's job (devices 0 or 1 adopts its size; another devices *
 *    num_nodes than the launcher's count is an error);
 *  - no launcher, devices * num_nodes > 1: volt_dist_launch re-executes
 *    the program under `mpiexec -n devices` and this call DOES NOT RETURN
 *    in the original process: every rank runs the program again from the
 *    start and returns from its own launch (so launch early, before work or
 *    output the ranks would repeat). num_nodes > 1 needs a launcher;
 *  - otherwise one process (world size 1).
 * Collective (with several ranks). Errors: VOLT_ERR_STATE when launched
 * already; the launcher's (volt_dist_launch) and the process group's. */
volt_status volt_fabric_launch(volt_fabric *f);
/* Whether launch succeeded. */
bool volt_fabric_launched(const volt_fabric *f);
/* This process's rank (0 .. world_size-1), the number of processes, its
 * rank on its node, its node; before launch (or NULL): 0, 1, 0, 0. */
int volt_fabric_global_rank(const volt_fabric *f);
int volt_fabric_world_size(const volt_fabric *f);
int volt_fabric_local_rank(const volt_fabric *f);
int volt_fabric_node_rank(const volt_fabric *f);
/* Rank 0 (true with one process, before launch, and for NULL). */
bool volt_fabric_is_global_zero(const volt_fabric *f);
/* The resolved strategy ("single_device", "ddp", "zero1"); before launch the
 * option as given ("auto" when NULL). */
const char *volt_fabric_strategy(const volt_fabric *f);
/* The process group (the "single" backend with one process); NULL before
 * launch. Borrowed: it lives as long as the fabric. */
volt_process_group *volt_fabric_process_group(const volt_fabric *f);
/* Lightning's fabric.device: cuda:(local rank) with accelerator "cuda" /
 * "gpu" once launched, else the CPU (also before launch and for NULL). */
volt_device volt_fabric_device(const volt_fabric *f);
/* Lightning's fabric.to_device: every field of `batch` not on the fabric's
 * device is replaced by its copy there (a tensor of the current scope; a CPU
 * field goes through pinned memory, so the copy does not wait for the device).
 * Nothing moves on the CPU. Under "bf16-true" ("16-true") every f32/f64 field
 * is also cast to bf16 (f16) (Lightning's convert_input; labels keep their
 * integer dtype), on the CPU too: pass batches through it. Local. Errors:
 * VOLT_ERR_STATE before launch, VOLT_ERR_INVALID_ARGUMENT for NULL, the copy's
 * (naming the field). */
volt_status volt_fabric_to_device(volt_fabric *f, volt_batch *batch);
/* The same for one tensor: t itself when it is on the device already (and
 * needs no bf16 cast), else its copy there (current scope); NULL with an
 * error. */
volt_tensor *volt_fabric_tensor_to_device(volt_fabric *f, const volt_tensor *t);

/* Lightning's seed_everything: volt_seed_everything(seed) in this process
 * (every rank calls it with the same seed, so modules built afterwards start
 * alike; setup_module makes them equal anyway). Local. VOLT_ERR_INVALID_ARGUMENT
 * for a NULL fabric. */
volt_status volt_fabric_seed_everything(volt_fabric *f, uint64_t seed);

/* ----------------------------------------------------------------- setup */

/* Lightning's fabric.setup(model): under "bf16-true" ("16-true") the module's
 * floating parameters and buffers first become bf16 (f16) in place
 * (volt_module_to_dtype; optimizers built before stay valid, and make bf16
 * state at their first step); on a GPU the module then moves to
 * volt_fabric_device in place (volt_module_to_device: optimizers built before
 * stay valid; gradients are dropped). Under ddp, rank 0's parameters and
 * persistent buffers are copied to every rank, a gradient reducer (volt/dist.h)
 * is made over the parameters that require grad (the ranks must hold the same
 * ones: count, dtypes and shapes; a mismatch fails on every rank naming the
 * first parameter that differs), and with sync_batchnorm its batch norm layers
 * are synchronized. With one process only the bookkeeping. The module stays the
 * caller's and must outlive the fabric; several modules may be set up (a GAN's
 * two), each once. Collective. Errors: VOLT_ERR_STATE before launch,
 * VOLT_ERR_INVALID_ARGUMENT for a NULL module or one set up already, the
 * collectives'. */
volt_status volt_fabric_setup_module(volt_fabric *f, volt_module *module);
/* Lightning's fabric.setup_optimizers(opt): checks that every parameter of
 * the optimizer belongs to a module set up before (else
 * VOLT_ERR_INVALID_ARGUMENT naming the parameter's index; its gradient would
 * never be averaged) and registers it; its step is the plain
 * volt_optimizer_step, or volt_fabric_optimizer_step. Local; under zero1
 * with several ranks collective: the optimizer is sharded (one optimizer
 * only, all of its parameters of one dtype, the same on every rank: a
 * mismatch fails on every rank naming the first parameter that differs).
 * Errors: VOLT_ERR_STATE before launch, NULL or repeated optimizer,
 * VOLT_ERR_UNSUPPORTED for a second optimizer under zero1. */
volt_status volt_fabric_setup_optimizers(volt_fabric *f, volt_optimizer *optimizer);
/* Under "bf16-true" and "16-true" it also turns the optimizer's compensated
 * updates on (volt_optimizer_set_compensated), as the trainer does by
 * default; turn them off after it for PyTorch's plain rounding. */
/* Lightning's fabric.setup_dataloaders(loader, use_distributed_sampler,
 * move_to_device): with move_to_device, every batch the loader delivers has
 * been through volt_fabric_to_device (moved to the fabric's device, cast
 * under "bf16-true" / "16-true": a loader hook, volt_data_loader_set_hook;
 * after volt_fabric_free the loader's next() fails with VOLT_ERR_STATE
 * until another hook replaces it). With several ranks and use_distributed_sampler, the loader
 * delivers this rank's shard of every epoch (volt_data_loader_set_distributed: disjoint shards of
 * equal length, ceil(n / world_size) items, the order of volt_distributed_sampler_new with the same
 * seed) and takes rank 0's seed, so that the ranks' shuffles agree and the shards are disjoint. It
 * restarts from its first batch of the current epoch. One process, or
 * use_distributed_sampler false: nothing changes. The loader stays the
 * caller's. Collective (with sharding). Errors: VOLT_ERR_STATE before
 * launch, VOLT_ERR_INVALID_ARGUMENT for NULL, the collectives'. */
volt_status volt_fabric_setup_dataloaders(volt_fabric *f, volt_data_loader *loader,
                                          bool use_distributed_sampler, bool move_to_device);

/* --------------------------------------------------------------- backward */

/* Lightning's fabric.backward(loss, model=module): volt_backward(loss) (of the
 * loss times the loss scale under "16-mixed"); then, under ddp, the gradients
 * of the set-up modules are averaged over the ranks (their buckets all-reduced
 * while backward ran, waited for here), so that when it returns every rank
 * holds the same gradients, as with DDP. module NULL: every set-up module
 * synchronizes; a module: that one alone (the others' gradients stay local for
 * this pass). A module in a no_backward_sync window does not communicate (its
 * gradients accumulate locally); its first synchronized backward averages the
 * accumulated sums. Under zero1 the optimizer's gradients are reduce-scattered
 * instead (each rank keeps the mean gradient of the parameters it owns, NULL
 * for the others) when no selected module is in a no_backward_sync window.
 * Collective (ddp, zero1). Errors: VOLT_ERR_STATE before launch, with no module
 * set up, or under zero1 with no optimizer set up; VOLT_ERR_INVALID_ARGUMENT
 * for a NULL loss or a module that was not set up, volt_backward's, and the
 * reduction's (a timeout, a broken group: "ddp: averaging the gradients of
 * module ...: ..."). */
volt_status volt_fabric_backward(volt_fabric *f, volt_tensor *loss, volt_module *module);
/* Lightning's `with fabric.autocast():`, C style: begin switches this thread's
 * autocast to the fabric's precision (bf16 for "bf16-mixed", f16 for
 * "16-mixed", off otherwise) and end restores the mode begin found. Put the
 * forward and the loss between them, not backward (it follows what the forward
 * recorded). Local. Errors: VOLT_ERR_INVALID_ARGUMENT for NULL, VOLT_ERR_STATE
 * for begin twice or end without begin. */
volt_status volt_fabric_autocast_begin(volt_fabric *f);
volt_status volt_fabric_autocast_end(volt_fabric *f);
/* "32-true", "bf16-mixed", "bf16-true", "16-mixed" or "16-true" (aliases
 * resolved); NULL for NULL. */
const char *volt_fabric_precision(const volt_fabric *f);
/* Lightning's `with fabric.no_backward_sync(module, enabled)`, C style: a
 * switch instead of a context. enabled true: the following
 * volt_fabric_backward calls of `module` (NULL: every set-up module) skip
 * the communication — gradient accumulation; false: they synchronize again
 * (the default); the switch also holds for a plain volt_backward of the
 * module (its reducer then starts no bucket). Typical loop:
 *     bool accumulating = (i + 1) % k != 0;
 *     volt_fabric_no_backward_sync(f, NULL, accumulating);
 *     volt_fabric_backward(f, loss, NULL);
 *     if (!accumulating) { volt_optimizer_step(opt); volt_optimizer_zero_grad(opt); }
 * Local. Errors: VOLT_ERR_INVALID_ARGUMENT for a module not set up,
 * VOLT_ERR_STATE before launch. */
volt_status volt_fabric_no_backward_sync(volt_fabric *f, volt_module *module, bool enabled);

/* Lightning's fabric.clip_gradients(module, optimizer, clip_val, max_norm):
 * clips the gradients of the optimizer's parameters (optimizer NULL: the
 * module's) — by value into [-clip_val, clip_val] (volt_clip_grad_value),
 * or by their joint 2-norm to max_norm (volt_clip_grad_norm, an error when
 * the norm is not finite, Lightning's error_if_nonfinite). Exactly one of
 * clip_val and max_norm is > 0 (0: not given). *total_norm (may be NULL)
 * receives the norm before clipping (max_norm), or NAN (clip_val). Call it
 * after volt_fabric_backward: the gradients are then the same on every
 * rank, so every rank clips alike. Under "16-mixed" the optimizer is
 * required: its gradients are unscaled first (once per step; the step then
 * does not unscale them again), and gradients that overflowed are not
 * clipped: *total_norm is inf and the next optimizer_step skips. Local;
 * under zero1 clipping by norm is collective (the norm over every rank's
 * shard; a non-finite norm is reported after the gradients were scaled).
 * Errors: VOLT_ERR_INVALID_ARGUMENT for both or neither value, a negative
 * one, module and optimizer both NULL, or either not set up, or no
 * optimizer under "16-mixed"; VOLT_ERR_STATE before launch. */
volt_status volt_fabric_clip_gradients(volt_fabric *f, volt_module *module,
                                       volt_optimizer *optimizer, double clip_val, double max_norm,
                                       double *total_norm);

/* Lightning's optimizer.step() on a set-up optimizer: volt_optimizer_step;
 * under "16-mixed" the gradients are first divided by the loss scale (unless
 * clip_gradients did), the step is skipped when they hold an inf or NaN (every
 * rank alike), and the scale is updated: halved after a skipped step, doubled
 * after 2000 good steps in a row (from 65536, as torch's GradScaler). Under
 * zero1 (the optimizer it shards) the ranks then all-gather the updated
 * parameters, so that every rank holds the whole model again (a rank whose step
 * failed still takes part and returns its error). Local; collective under
 * zero1. Errors: VOLT_ERR_STATE before launch, VOLT_ERR_INVALID_ARGUMENT for
 * NULL or an optimizer not set up, the step's and the all-gather's. */
volt_status volt_fabric_optimizer_step(volt_fabric *f, volt_optimizer *optimizer);

/* The gradient reducers' figures (volt/dist.h) summed over the set-up
 * modules under ddp: reductions, buckets, bytes, seconds waited. Zeros with
 * one process, under zero1, before launch and for NULL. Local. */
volt_grad_reducer_stats volt_fabric_gradient_sync_stats(const volt_fabric *f);

/* ------------------------------------------------------------ collectives */

/* Lightning's all_reduce / broadcast / all_gather / barrier over the
 * fabric's process group, in place (volt/dist.h for the contract: CPU,
 * contiguous, same dtype and element count on every rank; MEAN needs f32 or
 * f64). With one process they check their arguments and leave the data as
 * it is. All collective. Errors: VOLT_ERR_STATE before launch, the
 * collectives' (named "fabric: all_reduce: ..."). */
volt_status volt_fabric_all_reduce(volt_fabric *f, volt_tensor *t, volt_reduce_op op);
volt_status volt_fabric_broadcast(volt_fabric *f, volt_tensor *t, int src);
/* out: world_size * numel(in) elements, rank r's `in` at [r*n, (r+1)*n). */
volt_status volt_fabric_all_gather(volt_fabric *f, volt_tensor *out, const volt_tensor *in);
volt_status volt_fabric_barrier(volt_fabric *f);
/* The same for one number: *value becomes the reduction over ranks /
 * rank src's value. */
volt_status volt_fabric_all_reduce_double(volt_fabric *f, double *value, volt_reduce_op op);
volt_status volt_fabric_broadcast_double(volt_fabric *f, double *value, int src);
/* Lightning's strategy.reduce_boolean_decision: *value becomes true when
 * every rank's is true (all) / any rank's is (!all). Collective. Errors:
 * VOLT_ERR_STATE before launch, VOLT_ERR_INVALID_ARGUMENT for NULL (on
 * every rank), the collective's. */
volt_status volt_fabric_reduce_bool(volt_fabric *f, bool *value, bool all);
/* Rank src's string on every rank (Lightning's broadcast of an object):
 * on the other ranks *s is freed and replaced by a malloc'd copy (NULL when
 * rank src's is NULL); rank src's stays. One process: unchanged.
 * Collective. Errors: VOLT_ERR_STATE before launch,
 * VOLT_ERR_INVALID_ARGUMENT for a NULL s or a bad src, the collectives'. */
volt_status volt_fabric_broadcast_string(volt_fabric *f, char **s, int src);

/* ------------------------------------------------------------ checkpoints */

/* What volt_fabric_save writes and volt_fabric_load restores (Lightning's
 * state dict): a module, its optimizers with their schedulers, two
 * counters and user values. */
typedef struct {
    volt_module *module;                  /* required */
    int n_optimizers;                     /* 0: no optimizer state */
    volt_optimizer *const *optimizers;    /* n_optimizers entries */
    volt_lr_scheduler *const *schedulers; /* NULL, or n_optimizers entries (NULL: none) */
    int64_t epoch, step;                  /* the checkpoint's epoch and global_step */
    /* save: NULL or a JSON object text ({"best_acc": 0.9, "note": "..."}),
     * stored as the metadata string "fabric". load: ignored (see
     * volt_fabric_load's extra_json). */
    const char *extra_json;
} volt_fabric_state;

/* Lightning's fabric.save(path, state): one file in the trainer's checkpoint
 * format (volt/train.h "Checkpoints": safetensors, tensors state_dict.<name>
 * and optimizer.<i>.<param>.<slot>, metadata format, epoch, global_step,
 * weights_only (true when there is no optimizer), world_size, hparams,
 * optimizers, lr_schedulers, precision, grad_scaler (the loss scale under
 * "16-mixed"), fabric, checksum; written atomically, parent directories made),
 * so that `volt ckpt inspect`, volt_checkpoint_open,
 * volt_module_load_checkpoint and the trainer's validate/test/predict with
 * ckpt_path open it (the trainer's fit cannot resume from it: it holds no loop
 * state). Rank 0 writes; every rank checks its arguments and returns the same
 * outcome (an error on every rank when rank 0 failed). Collective. Errors:
 * VOLT_ERR_INVALID_ARGUMENT (NULL or empty path, no module, optimizers without
 * entries, extra_json not a JSON object), the write's (VOLT_ERR_IO naming the
 * file). */
volt_status volt_fabric_save(volt_fabric *f, const char *path, const volt_fabric_state *state);
/* Lightning's fabric.load(path, state), on every rank: checks the file
 * (volt_checkpoint_open: format, checksum), loads its state_dict.* into
 * state->module (strict: a missing, unexpected or mis-shaped key is an
 * error naming it), the optimizers' and schedulers' state into those given
 * (the checkpoint must hold at least as many; each of the same type over
 * parameters of the same shapes), under "16-mixed" the loss scale (when
 * the file has one), and sets state->epoch and state->step.
 * extra_json (may be NULL) receives the saved user values, malloc'd (free
 * it), "{}" when none. Every rank returns an error when any rank failed.
 * The module is loaded before the optimizers: after an optimizer's error it
 * may hold the checkpoint's weights already. Collective. Errors: the file's
 * (VOLT_ERR_IO, VOLT_ERR_FORMAT), mismatches (VOLT_ERR_INVALID_ARGUMENT,
 * VOLT_ERR_SHAPE), naming the file. */
volt_status volt_fabric_load(volt_fabric *f, const char *path, volt_fabric_state *state,
                             char **extra_json);

/* ----------------------------------------------------------------- logging */

/* Adds a logger (volt_csv_logger_new, volt_tensorboard_logger_new, or one
 * of your own); the fabric owns it from now on (also on failure). With none
 * added, the first volt_fabric_log makes a CSV logger at
 * <root_dir>/volt_logs/version_N. Local. */
volt_status volt_fabric_add_logger(volt_fabric *f, volt_logger *logger);
/* Lightning's fabric.log(name, value, step): one row {name: value} to every
 * logger, on rank 0 only (a no-op elsewhere). step < 0: one more than the
 * last step logged (0 at first). Local. Errors: VOLT_ERR_INVALID_ARGUMENT
 * for a NULL or empty name; the loggers'. */
volt_status volt_fabric_log(volt_fabric *f, const char *name, double value, int64_t step);
/* fabric.log_dict: n values in one row. */
volt_status volt_fabric_log_dict(volt_fabric *f, int n, const char *const *names,
                                 const double *values, int64_t step);
/* The first logger's directory on rank 0 (NULL elsewhere, and before
 * anything was logged with the default logger). */
const char *volt_fabric_log_dir(volt_fabric *f);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_FABRIC_H */
