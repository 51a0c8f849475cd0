/* volt/dist.h: the dist layer (DESIGN.md §1, §5) — process groups, the
 * collectives between their ranks, and detection of the cluster environment
 * a program was launched in.
 *
 * A process group is one of N cooperating processes ("ranks"). Its backend
 * moves the bytes: "single" (world size 1, no MPI needed) and "mpi" (Open
 * MPI, CPU tensors) now; "nccl" (CUDA tensors, bootstrapped over MPI) later,
 * behind the same functions. Every collective is called by every rank of the
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
 * "nccl" records VOLT_ERR_UNSUPPORTED until that backend is built. options
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

#ifdef __cplusplus
}
#endif

#endif /* VOLT_DIST_H */
