/* dist_impl.h: the process-group interface a backend implements (single,
 * MPI, and NCCL with VOLT_CUDA), and the helpers the dist layer's files
 * share. Not part of the public API.
 *
 * The generic layer (collectives.c, work.c) validates arguments, runs the
 * agreement check, owns the work handles and the timeouts; a backend only
 * moves bytes: it agrees on a few integers, starts a collective described by
 * a volt_work, and tests whether it finished. */
#ifndef VOLT_DIST_IMPL_H
#define VOLT_DIST_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "volt/dist.h"

#define VOLT_DIST_MESSAGE_CAPACITY 512
#define VOLT_DIST_AGREE_MAX 16

typedef enum {
    VOLT_COLL_ALL_REDUCE = 1,
    VOLT_COLL_BROADCAST,
    VOLT_COLL_ALL_GATHER,
    VOLT_COLL_REDUCE_SCATTER,
    VOLT_COLL_BARRIER,
} volt_collective;

/* "all_reduce", "broadcast", ... */
const char *volt_collective_name(volt_collective kind);

/* One collective in flight. A backend's work struct embeds this as its first
 * member (ops->work_size bytes, zeroed, allocated by the generic layer). */
struct volt_work {
    volt_process_group *pg;
    volt_collective kind;
    volt_tensor *out; /* written: all_reduce's and broadcast's t; retained */
    volt_tensor *in;  /* read: all_gather, reduce_scatter (NULL in place); retained */
    volt_reduce_op op;
    int root;
    bool in_place; /* all_gather: `in` is this rank's slice of `out` */
    bool done;
    bool abandoned; /* timed out: MPI may still write into the tensors */
    volt_status status;
    char message[VOLT_DIST_MESSAGE_CAPACITY];
};

typedef struct {
    const char *name; /* "single", "mpi" */
    size_t work_size; /* sizeof the backend's work struct */
    /* Whether CPU tensors are taken besides the group's device's (nccl:
     * they go through its MPI communicator). */
    bool takes_cpu;
    /* Dtypes the backend reduces / moves on `device` (VOLT_OK or an error
     * naming `what`). */
    volt_status (*check_dtype)(volt_process_group *pg, volt_collective kind, volt_dtype dtype,
                               volt_device device, const char *what);
    /* values[i] = min over ranks of values[i], for n <= VOLT_DIST_AGREE_MAX
     * values, waited for (bounded by pg->timeout_s); `what` names the
     * collective in errors. Failures go through volt_dist_fail. */
    volt_status (*agree_min)(volt_process_group *pg, int64_t *values, int n, const char *what);
    /* Starts the validated collective `w`. */
    volt_status (*start)(volt_work *w);
    /* Sets *done when `w` finished on this rank (and finishes it: a mean's
     * division); never blocks. */
    volt_status (*test)(volt_work *w, bool *done);
    /* Frees the backend's group (the generic fields live in it). */
    void (*free)(volt_process_group *pg);
} volt_process_group_ops;

/* A group. A backend's group struct embeds this as its first member. */
struct volt_process_group {
    const volt_process_group_ops *ops;
    int rank, world_size;
    int local_rank, local_world_size;
    int node_rank, num_nodes;
    volt_device device; /* where its tensors live */
    double timeout_s;
    bool skip_agreement_check;
    bool broken;
    char broken_reason[VOLT_DIST_MESSAGE_CAPACITY];
};

/* Records a failure: formats the message ("volt: " is added by the sticky
 * error), keeps it in `w` (if any) so that later waits report it, breaks `pg`
 * when `breaks` (if any, keeping the first reason), records the sticky error
 * and returns `status`. */
volt_status volt_dist_fail(volt_process_group *pg, volt_work *w, volt_status status, bool breaks,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Waiting policy of every wait loop: called with the time already waited;
 * spins first, then yields the core, then sleeps briefly (a rank that waits
 * minutes for another should not burn its core at full speed). */
void volt_dist_backoff(double waited_s);

/* The group's timeout from options or the environment (VOLT_DIST_TIMEOUT);
 * records an error naming the bad value. */
volt_status volt_dist_resolve_timeout(const volt_process_group_options *options, double *timeout_s);

/* Backends (single.c, mpi_group.c, cuda/nccl_group.c: without VOLT_CUDA,
 * cuda_none.c's refuses with VOLT_ERR_UNSUPPORTED). */
volt_process_group *volt_process_group_new_single(const volt_process_group_options *options);
volt_process_group *volt_process_group_new_mpi(const volt_process_group_options *options);
volt_process_group *volt_process_group_new_nccl(const volt_process_group_options *options);

#endif
