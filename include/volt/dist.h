/* volt/dist.h: the dist layer (DESIGN.md §1, §5) — process groups, the
 * collectives between their ranks, and detection of the cluster environment
 * a program was launched in.
 *
 * A process group is one of N cooperating processes ("ranks"). Its backend
 * moves the bytes: "single" (world size 1, no MPI needed), "mpi" (Open
 * MPI, CPU tensors) and, in a build with CUDA, "nccl" (CUDA tensors through
 * NCCL, bootstrapped over MPI; CPU tensors through MPI), behind the same
 * functions. Every collective is called by every rank of the
 * group, in the same order, with matching arguments:
 *
 *     volt_process_group *pg = volt_process_group_new(NULL, NULL); // auto
 *     volt_dist_all_reduce(pg, grad, VOLT_REDUCE_MEAN);            // in place
 *     volt_work *w = volt_dist_all_reduce_async(pg, bucket, VOLT_REDUCE_SUM);
 *     ... compute ...
 *     volt_work_wait(w); volt_work_free(w);
 *     volt_process_group_free(pg);
 *
 * Launch: `mpiexec -n 2 ./prog` (Open MPI; add --oversubscribe when ranks
 * outnumber cores, --allow-run-as-root as root) or `srun --mpi=pmix
 * --kill-on-bad-exit=1 ./prog` under SLURM.
 *
 * Agreement check. Before each collective the ranks compare what they were
 * asked to do — the collective, the dtype, the element count, the reduce op,
 * the root, and whether each rank's arguments were valid — with one small
 * all-reduce of a few integers (a few microseconds on one node). A mismatch
 * (rank 0 all-reduces 10 elements, rank 1 six; rank 1 passed a NULL tensor;
 * rank 0 broadcasts while rank 1 all-gathers) fails the collective on every
 * rank with the same clear error instead of hanging or corrupting memory, and
 * the group stays usable. volt_process_group_options.skip_agreement_check
 * turns it off for callers that already guarantee agreement (a DDP bucket
 * layout verified at setup); then a mismatch is undefined (MPI may hang).
 *
 * Failures and timeouts. Open MPI's mpiexec ends the whole job within about
 * a second, printing which rank failed, when a rank is killed by a signal or
 * exits before MPI_Finalize. volt finalizes MPI in an exit handler (see
 * volt_process_group_new), and skips MPI_Finalize when the process exits with
 * a non-zero status, so a rank that fails with an error and exits non-zero
 * also ends the job at once — instead of finalizing while the others wait in
 * a collective, which hangs them forever. Every wait (collectives, the
 * agreement check, the exit handler's final barrier) is bounded by the
 * group's timeout (default 1800 s, like PyTorch's; VOLT_DIST_TIMEOUT, in
 * seconds, or the option below change it): a rank that is alive but stuck,
 * or that called another collective, makes the wait fail with VOLT_ERR_IO
 * naming the collective and the timeout. After such a failure (or any MPI
 * error) the group is broken: every later collective on it fails at once
 * with VOLT_ERR_STATE and the first failure's message; the program should
 * exit non-zero, which ends the job.
 *
 * Tensors. Collectives take contiguous tensors on the backend's device (CPU
 * for "mpi" and "single") and work in place on their data (the storage's
 * version is bumped, as for any in-place write; no autograd is recorded).
 * The mpi backend reduces f32, f64, i64, i32 and u8 and moves every dtype
 * (broadcast, all_gather); the single backend takes every dtype;
 * VOLT_REDUCE_MEAN needs f32 or f64 on both. At most INT_MAX elements
 * per call. An asynchronous collective keeps a reference to its tensors until
 * its work is freed, so they may leave their scope meanwhile; their contents
 * are undefined until the work completed.
 *
 * Threads: one thread at a time per process group (the trainer's thread).
 *
 * Errors: functions record the sticky error (volt/core.h) and return a
 * status or NULL: VOLT_ERR_INVALID_ARGUMENT (NULL, a bad root, mismatched
 * arguments across ranks), VOLT_ERR_SHAPE (sizes), VOLT_ERR_DTYPE,
 * VOLT_ERR_DEVICE, VOLT_ERR_IO (an MPI failure or a timeout; the message
 * names the collective, the MPI call and MPI's reason), VOLT_ERR_STATE (a
 * broken group), VOLT_ERR_UNSUPPORTED (a backend not built). */
#ifndef VOLT_DIST_H
#define VOLT_DIST_H

#include "volt/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------- cluster environment */

typedef enum {
    VOLT_CLUSTER_NONE = 0, /* no launcher: one process */
    VOLT_CLUSTER_OPENMPI,  /* mpiexec / mpirun of Open MPI: OMPI_COMM_WORLD_* */
    VOLT_CLUSTER_SLURM,    /* an srun step: SLURM_PROCID, SLURM_NTASKS, ... */
    VOLT_CLUSTER_ENV,      /* plain RANK, WORLD_SIZE, LOCAL_RANK, NODE_RANK */
} volt_cluster_source;

/* Where this process sits in its job, as the launcher describes it. -1 for
 * what the launcher does not say (the MPI process group computes every
 * field itself from MPI; this is what a program can know before it). */
typedef struct {
    volt_cluster_source source;
    int rank;             /* 0 .. world_size-1 */
    int world_size;       /* >= 1 */
    int local_rank;       /* rank among the processes on this node */
    int local_world_size; /* processes on this node */
    int node_rank;        /* index of this node, 0 .. num_nodes-1 */
    int num_nodes;
} volt_cluster_env;

/* Reads the environment, first match wins:
 *   Open MPI  OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE, and
 *             OMPI_MCA_orte_num_nodes (node_rank is known only on one node:
 *             0; else -1);
 *   SLURM     SLURM_PROCID with SLURM_STEP_NUM_TASKS (an srun step) or
 *             SLURM_NTASKS; SLURM_LOCALID, SLURM_NODEID, SLURM_STEP_NUM_NODES
 *             or SLURM_NNODES, SLURM_STEP_TASKS_PER_NODE or
 *             SLURM_TASKS_PER_NODE ("4" or "4(x2)": local_world_size 4 when
 *             every node has the same count);
 *   plain     RANK and WORLD_SIZE, with LOCAL_RANK, LOCAL_WORLD_SIZE,
 *             NODE_RANK (or GROUP_RANK), NUM_NODES (torchrun's and
 *             Lightning's names);
 *   none      rank 0 of 1 on node 0 of 1.
 * A variable that is set but not a number, or values that do not fit
 * together (RANK=4 with WORLD_SIZE=4), record VOLT_ERR_INVALID_ARGUMENT
 * naming the variable and its value; the result is then source NONE. */
volt_cluster_env volt_cluster_env_detect(void);
/* "none", "openmpi", "slurm", "env". */
const char *volt_cluster_source_name(volt_cluster_source source);

/* -------------------------------------------------------- process groups */

typedef struct volt_process_group volt_process_group;

typedef struct {
    /* Bound on every wait for the other ranks, in seconds; 0: the
     * VOLT_DIST_TIMEOUT environment variable, else 1800. */
    double timeout_s;
    /* true: no agreement check before collectives (see the top of this
     * file). */
    bool skip_agreement_check;
} volt_process_group_options;

/* A process group over every rank of the job (MPI_COMM_WORLD), a
 * collective call. `backend`: "single", "mpi", or NULL / "auto" — "mpi" when
 * volt_cluster_env_detect() finds more than one rank, else "single" (so a
 * program run without a launcher, or under `mpiexec -n 1`, needs no MPI).
 * "nccl": each rank on cuda:(local rank), one GPU per rank (a node with more
 * ranks than GPUs is refused naming both numbers), CUDA tensors through NCCL
 * queued on volt's stream of that device (mean: ncclAvg, also for bf16 and
 * f16), CPU tensors through MPI; VOLT_ERR_UNSUPPORTED in a build without
 * CUDA, VOLT_ERR_DEVICE on a machine without a GPU. options
 * may be NULL (defaults). Free with volt_process_group_free.
 *
 * MPI lifetime: the first "mpi" group initializes MPI (MPI_Init_thread,
 * asking for MPI_THREAD_MULTIPLE, needing at least MPI_THREAD_SERIALIZED)
 * unless the program already did, and registers an exit handler (on_exit)
 * that finalizes it when the process exits — not when the group is freed,
 * because MPI cannot be initialized twice in a process and a program may
 * create and free several groups (one per trainer). The handler waits for
 * every rank at a barrier bounded by the first group's timeout and then
 * calls MPI_Finalize; when the exit status is non-zero it skips
 * MPI_Finalize, and when the barrier times out it prints one line to stderr
 * ("volt: rank 1: the other ranks did not reach the end of the program
 * within 1800 s; exiting without MPI_Finalize ...") and skips it too, so
 * that the launcher ends the job instead of hanging (see the top of this
 * file). A program that initialized MPI itself finalizes it itself, after
 * freeing its groups.
 *
 * Errors: VOLT_ERR_IO when MPI fails or was already finalized, or when the
 * launcher's rank count differs from MPI's (a SLURM step started without
 * --mpi=pmix gives N independent one-rank jobs: the message says so). */
volt_process_group *volt_process_group_new(const char *backend,
                                           const volt_process_group_options *options);
/* Frees the group (a local call for the backends here). Free every work
 * first. A broken MPI group is left in place instead (its requests may
 * still be in flight; the job is ending). NULL is ignored. */
void volt_process_group_free(volt_process_group *pg);

/* "single", "mpi". */
const char *volt_process_group_backend(const volt_process_group *pg);
/* Rank in the group (0 .. world_size-1), its size, the rank among the
 * group's processes on this node and their count, the index of this node
 * among the group's nodes (in the order of their lowest ranks) and their
 * count. -1 for a NULL group. */
int volt_process_group_rank(const volt_process_group *pg);
int volt_process_group_world_size(const volt_process_group *pg);
int volt_process_group_local_rank(const volt_process_group *pg);
int volt_process_group_local_world_size(const volt_process_group *pg);
/* The device of the tensors the group's collectives take: cuda:(local
 * rank) for "nccl" (which takes CPU tensors too, through MPI), the CPU for
 * the others (and for NULL). */
volt_device volt_process_group_device(const volt_process_group *pg);
int volt_process_group_node_rank(const volt_process_group *pg);
int volt_process_group_num_nodes(const volt_process_group *pg);
/* The bound on waits, in seconds. */
double volt_process_group_timeout(const volt_process_group *pg);
/* Whether an earlier failure made the group unusable (see the top). */
bool volt_process_group_is_broken(const volt_process_group *pg);

/* ----------------------------------------------------------- collectives */

typedef enum {
    VOLT_REDUCE_SUM = 0,
    VOLT_REDUCE_MEAN, /* the sum divided by the world size (f32, f64) */
    VOLT_REDUCE_MIN,
    VOLT_REDUCE_MAX,
} volt_reduce_op;

/* "sum", "mean", "min", "max". */
const char *volt_reduce_op_name(volt_reduce_op op);

/* The handle of an asynchronous collective. */
typedef struct volt_work volt_work;

/* Each rank's `t` becomes the element-wise reduction of every rank's `t`
 * (same dtype and element count on every rank; the shapes may differ). */
volt_status volt_dist_all_reduce(volt_process_group *pg, volt_tensor *t, volt_reduce_op op);
/* Every rank's `t` becomes rank `root`'s `t` (0 <= root < world size, the
 * same on every rank). */
volt_status volt_dist_broadcast(volt_process_group *pg, volt_tensor *t, int root);
/* `out` (world_size * numel(in) elements, the dtype of `in`) receives every
 * rank's `in` in rank order: rank r's at elements [r*n, (r+1)*n), n =
 * numel(in), the same on every rank. `in` may be exactly that slice of
 * `out` (in place); no other overlap is allowed. */
volt_status volt_dist_all_gather(volt_process_group *pg, volt_tensor *out, const volt_tensor *in);
/* Rank r's `out` (n elements, the same n on every rank) receives the
 * reduction over ranks of elements [r*n, (r+1)*n) of their `in`
 * (world_size * n elements, the dtype of `out`). in and out must not
 * overlap. */
volt_status volt_dist_reduce_scatter(volt_process_group *pg, volt_tensor *out,
                                     const volt_tensor *in, volt_reduce_op op);
/* Returns once every rank has called it. */
volt_status volt_dist_barrier(volt_process_group *pg);

/* The same collectives, started and not waited for: each returns a work to
 * wait on and free, or NULL with the error recorded (arguments, agreement
 * check, a broken group). The agreement check runs before the return, so
 * a mismatch is reported here, never by the wait. The work holds references
 * to its tensors until freed. MPI moves a pending collective along only
 * inside MPI calls: volt_work_is_completed(), any later collective or wait. */
volt_work *volt_dist_all_reduce_async(volt_process_group *pg, volt_tensor *t, volt_reduce_op op);
volt_work *volt_dist_broadcast_async(volt_process_group *pg, volt_tensor *t, int root);
volt_work *volt_dist_all_gather_async(volt_process_group *pg, volt_tensor *out,
                                      const volt_tensor *in);
volt_work *volt_dist_reduce_scatter_async(volt_process_group *pg, volt_tensor *out,
                                          const volt_tensor *in, volt_reduce_op op);
volt_work *volt_dist_barrier_async(volt_process_group *pg);

/* Waits until the collective finished on this rank, at most the group's
 * timeout: VOLT_OK, or the status of its failure (recorded again on this
 * thread on each call). Waiting again returns the same status at once. */
volt_status volt_work_wait(volt_work *w);
/* Whether it finished (successfully or not), without blocking; moves MPI
 * along. false for NULL. */
bool volt_work_is_completed(volt_work *w);
/* Waits if needed (errors recorded), then frees the work and drops its
 * references. NULL is ignored. A work that timed out keeps its tensors'
 * storage alive for good: MPI may still write into it. */
void volt_work_free(volt_work *w);

/* ------------------------------------------------------ gradient reducer */

/* Data-parallel gradient averaging (DESIGN.md §5), what strategy="ddp" and
 * volt_fabric use: gradients are packed into buckets of about bucket_cap_mb
 * megabytes in reverse parameter order (the order backward produces them),
 * and each bucket is all-reduced asynchronously as soon as the grad-ready
 * hooks (volt/autograd.h) of all its parameters fired, while backward goes
 * on with the earlier layers. volt_grad_reducer_finish waits for every
 * bucket and writes the averaged gradients back, so that after it every
 * rank holds the same gradients: the mean over ranks of each rank's
 * gradient. Buckets are started strictly in bucket order on every rank
 * (a ready bucket waits for the ones before it), so the ranks' collectives
 * always match. Each bucket also carries one flag per parameter, whether
 * that rank produced a gradient for it: a parameter no rank produced a
 * gradient for keeps grad NULL (the optimizer skips it, as without
 * distribution); one that only some ranks produced counts as zero on the
 * others.
 *
 *     volt_grad_reducer *r = volt_grad_reducer_new(pg, params.tensors,
 *                                                  params.names, params.count, NULL);
 *     for (micro-batch) {
 *         volt_grad_reducer_set_sync(r, last_micro_batch); // no_sync otherwise
 *         loss = ...; volt_backward(loss);
 *     }
 *     volt_grad_reducer_finish(r);   // after the last micro-batch's backward
 *     volt_optimizer_step(opt);
 *
 * With sync off the hooks do nothing and gradients accumulate locally
 * (Lightning's no_sync on accumulation micro-batches). Parameters must be
 * contiguous f32, f64 or bf16 CPU leaves requiring grad (buckets hold one
 * dtype; bf16 gradients are summed widened, in f32 buckets, and their mean
 * rounded to bf16 once). */
typedef struct volt_grad_reducer volt_grad_reducer;

typedef struct {
    /* Bucket capacity in megabytes (10^6 bytes); 0: 25 (PyTorch's). A
     * parameter larger than the capacity gets a bucket of its own. */
    double bucket_cap_mb;
} volt_grad_reducer_options;

/* Where the time of the reductions went, since the reducer was made. */
typedef struct {
    int64_t reductions;  /* finished volt_grad_reducer_finish calls */
    int64_t buckets;     /* buckets per reduction */
    int64_t bytes;       /* bytes all-reduced per reduction (flags included) */
    double wait_seconds; /* time spent inside finish waiting for the buckets */
} volt_grad_reducer_stats;

/* A reducer over params[0..n) (names[i] names them in messages; names may
 * be NULL), a collective call: the ranks check that they have the same
 * parameters (count, dtypes, shapes), or fail on every rank with a message
 * naming the first parameter that differs and the shapes on both ranks (a
 * rank whose own arguments are bad fails with its message, the others
 * naming that rank). The hooks it adds to the parameters cannot be removed:
 * they stay, doing nothing once it is freed (16 bytes per parameter stay
 * allocated for the process's life); the caller keeps the parameters alive
 * longer than the reducer.
 * NULL + error (VOLT_ERR_INVALID_ARGUMENT for bad parameters or options,
 * the group's errors). */
volt_grad_reducer *volt_grad_reducer_new(volt_process_group *pg, volt_tensor *const *params,
                                         const char *const *names, int64_t n,
                                         const volt_grad_reducer_options *options);
/* Waits for any bucket in flight, then frees. NULL is ignored. */
void volt_grad_reducer_free(volt_grad_reducer *r);
/* true (the default): the next backward passes start the buckets; false:
 * the hooks do nothing (gradient accumulation without communication). */
void volt_grad_reducer_set_sync(volt_grad_reducer *r, bool sync);
bool volt_grad_reducer_sync(const volt_grad_reducer *r);
/* After the last backward of an accumulation window: starts the buckets
 * still waiting — their parameters whose hook did not fire in a
 * synchronized pass contribute their current grad (accumulated during
 * no_sync passes), or zeros and a 0 flag when they have none — waits for
 * all of them (bounded by the group's timeout), and writes the mean into
 * each parameter's grad (allocating it where a rank had none). So finish
 * also works after passes that all ran with sync off (every bucket is then
 * started here), and with no backward at all. Resets for the next window.
 * A failure (a timeout, a broken group, a hook that could not copy a
 * gradient, a second backward reaching a parameter after its hook fired in
 * a synchronized pass of this window) is returned here with its message;
 * the grads are then left as backward made them. */
volt_status volt_grad_reducer_finish(volt_grad_reducer *r);
volt_grad_reducer_stats volt_grad_reducer_get_stats(const volt_grad_reducer *r);

/* -------------------------------------------------------------- launcher */

/* Makes this program one of `nprocs` ranks — Lightning's subprocess
 * launcher, the MPI way; what the trainer does at the start of
 * fit/validate/test/predict when devices > 1, and volt_fabric's launch.
 *
 *   nprocs <= 1: VOLT_OK, nothing happens.
 *   Already a rank of a job (volt_cluster_env_detect() finds a launcher:
 *   mpirun, srun, RANK/WORLD_SIZE): VOLT_OK when the launcher started
 *   exactly nprocs processes, else VOLT_ERR_INVALID_ARGUMENT ("devices=4
 *   but the launcher (openmpi) started 2 processes; ...").
 *   No launcher: the process REPLACES ITSELF (execv) by
 *       mpiexec -n N --oversubscribe --bind-to none [--allow-run-as-root]
 *               <this executable> <this program's arguments>
 *   and does not return; each rank then calls volt_dist_launch(N) again,
 *   sees the launcher, and goes on.
 *
 * Consequences, as with Lightning: everything the program did before the
 * call runs again in every rank (so call it early, before expensive work,
 * output or files the ranks would repeat); the ranks' stdout and stderr go
 * to the terminal (mpiexec forwards them; stdin goes to rank 0); the exit
 * status of the command is mpiexec's (non-zero when a rank fails). Output
 * buffered before the call is flushed first (fflush(NULL)). The ranks start
 * in the working directory of the call, with this environment and the
 * arguments the program was started with (/proc/self/cmdline).
 *
 * Environment:
 *   VOLT_MPIEXEC             the mpiexec to run (a path, or a name looked up
 *                            in PATH); default: mpiexec from PATH. It must be
 *                            Open MPI's (the one volt was built against).
 *   VOLT_ALLOW_OVERSUBSCRIBE =1 allows more processes than CPUs available
 *                            to this process (its affinity mask); without
 *                            it that is refused with an error.
 *   VOLT_NUM_THREADS         when unset, the ranks get max(1, CPUs / N), so
 *                            that N ranks do not each run a thread per CPU.
 *   VOLT_LAUNCHED            set to N for the ranks: a rank that finds no
 *                            launcher environment fails (VOLT_ERR_STATE)
 *                            instead of starting mpiexec again.
 * Ranks are not pinned to cores (--bind-to none): the kernel spreads them.
 * --oversubscribe is always passed because volt counts the CPUs itself and
 * Open MPI's own count (cores, not hardware threads) can be lower.
 *
 * Errors, when it returns: VOLT_ERR_INVALID_ARGUMENT (nprocs above the
 * CPUs, a launcher with another size, a malformed launcher environment),
 * VOLT_ERR_UNSUPPORTED (no mpiexec: the message names the package,
 * openmpi-bin, and the alternative, `mpirun -np N <program>`),
 * VOLT_ERR_STATE (VOLT_LAUNCHED without a launcher), VOLT_ERR_IO (execv
 * failed: the reason from errno). Single-node only; across hosts start the
 * program with mpirun/srun yourself (the top of this file). */
volt_status volt_dist_launch(int nprocs);

/* ------------------------------------------------------ sync batch norm */

/* Synchronized batch normalization (PyTorch's SyncBatchNorm), what
 * sync_batchnorm=true turns on under strategy="ddp": in training mode the
 * batch statistics of each BatchNorm layer are those of the batch made of
 * every rank's batch (the ranks' batch sizes may differ), so that the
 * layer behaves as if one process ran the concatenated batch:
 *
 *   forward   one all_gather of each rank's [count, mean[C], M2[C]] (f64),
 *             combined in rank order (Chan et al.'s pairwise update, stable
 *             where sums of squares are not), so every rank gets the same
 *             global mean and biased variance; the running statistics are
 *             updated with them (the unbiased variance uses the global
 *             count), identically on every rank;
 *   backward  one all_reduce(sum) of [sum(dy)[C], sum(dy * xhat)[C]] (f64),
 *             when x needs its gradient: the input gradient is the one of
 *             the concatenated batch. The weight and bias gradients stay
 *             this rank's sums, as in PyTorch: their sum over the ranks
 *             (DDP's average times the world size) is the concatenated
 *             batch's.
 *
 * Every rank of pg must run each synchronized layer's forward and backward,
 * in the same order (collective calls). Eval mode is plain batch norm with
 * the running statistics, no communication. A rank's batch may be empty,
 * as long as the ranks together have more than one value per channel. */
typedef struct volt_module volt_module;

/* Makes every BatchNorm1d / BatchNorm2d layer among m and its descendants
 * synchronized over pg (through the layers' train_fn, volt/nn.h), in
 * place; pg NULL or a group of world size 1 restores plain batch norm.
 * pg is not owned: keep it alive while m trains, or convert back with NULL
 * before freeing it. Not a collective call. A module without batch norm
 * layers is left as it is (VOLT_OK). Errors: VOLT_ERR_INVALID_ARGUMENT for
 * a NULL m. */
volt_status volt_sync_batch_norm_convert(volt_module *m, volt_process_group *pg);

/* The op underneath: volt_batch_norm (volt/ops.h), same arguments and
 * contract, with training-mode statistics over every rank of pg as above
 * (a collective call in training mode; its autograd node is named
 * "sync_batch_norm"). Not training, pg NULL or world size 1: exactly
 * volt_batch_norm (PyTorch's SyncBatchNorm does the same). The node keeps
 * pg for the backward: free the group only after that ran or the graph was
 * dropped. Errors: volt_batch_norm's, named "sync_batch_norm: input
 * f32[4,3]: ...", with "expected more than 1 value per channel when
 * training" counting the values of every rank, and the group's errors
 * ("sync_batch_norm: all_gather: ..."). A rank whose arguments are invalid
 * still takes part in the collective, so that every rank fails (the others
 * with "rank 1 passed invalid arguments") instead of waiting for it. */
volt_tensor *volt_sync_batch_norm(volt_process_group *pg, const volt_tensor *x,
                                  volt_tensor *running_mean, volt_tensor *running_var,
                                  const volt_tensor *weight, const volt_tensor *bias, bool training,
                                  double momentum, double eps);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_DIST_H */
