/* process_group.c: creating a process group (choosing its backend), its
 * accessors, and the helpers every backend shares — failure recording, the
 * timeout, the waiting policy. */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist_impl.h"

#define DEFAULT_TIMEOUT_S 1800.0

volt_status volt_dist_fail(volt_process_group *pg, volt_work *w, volt_status status, bool breaks,
                           const char *fmt, ...) {
    char msg[VOLT_DIST_MESSAGE_CAPACITY];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w && w->status == VOLT_OK) {
        w->status = status;
        snprintf(w->message, sizeof w->message, "%s", msg);
    }
    if (pg && breaks && !pg->broken) {
        pg->broken = true;
        snprintf(pg->broken_reason, sizeof pg->broken_reason, "%s", msg);
    }
    return volt_error_set(status, "%s", msg);
}

void volt_dist_backoff(double waited_s) {
    if (waited_s < 1e-4) return; /* spin: a collective between ranks on one node */
    if (waited_s < 0.1) {
        sched_yield(); /* let an oversubscribed rank run */
        return;
    }
    struct timespec ts = {0, waited_s < 5.0 ? 100000 : 1000000}; /* 0.1 ms, then 1 ms */
    nanosleep(&ts, NULL);
}

volt_status volt_dist_resolve_timeout(const volt_process_group_options *options,
                                      double *timeout_s) {
    if (options && options->timeout_s != 0) {
        if (!(options->timeout_s > 0) || !isfinite(options->timeout_s))
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "process_group: timeout_s must be a positive number of seconds "
                                  "(got %g)",
                                  options->timeout_s);
        *timeout_s = options->timeout_s;
        return VOLT_OK;
    }
    *timeout_s = DEFAULT_TIMEOUT_S;
    const char *s = getenv("VOLT_DIST_TIMEOUT");
    if (!s || !*s) return VOLT_OK;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || !isfinite(v))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "process_group: VOLT_DIST_TIMEOUT='%s' is not a positive number of "
                              "seconds",
                              s);
    *timeout_s = v;
    return VOLT_OK;
}

/* "auto": MPI when the launcher says there is more than one rank. */
static const char *auto_backend(void) {
    bool clean = volt_error_status() == VOLT_OK;
    volt_cluster_env env = volt_cluster_env_detect();
    if (clean && volt_error_status() != VOLT_OK) return NULL;
    return env.world_size > 1 ? "mpi" : "single";
}

volt_process_group *volt_process_group_new(const char *backend,
                                           const volt_process_group_options *options) {
    if (!backend || strcmp(backend, "auto") == 0) {
        backend = auto_backend();
        if (!backend) return NULL;
    }
    if (strcmp(backend, "single") == 0) return volt_process_group_new_single(options);
    if (strcmp(backend, "mpi") == 0) return volt_process_group_new_mpi(options);
    if (strcmp(backend, "nccl") == 0) return volt_process_group_new_nccl(options);
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                   "process_group: unknown backend '%s' (auto, single, mpi, nccl)", backend);
    return NULL;
}

void volt_process_group_free(volt_process_group *pg) {
    if (pg) pg->ops->free(pg);
}

const char *volt_process_group_backend(const volt_process_group *pg) {
    return pg ? pg->ops->name : "?";
}

int volt_process_group_rank(const volt_process_group *pg) { return pg ? pg->rank : -1; }
int volt_process_group_world_size(const volt_process_group *pg) { return pg ? pg->world_size : -1; }
int volt_process_group_local_rank(const volt_process_group *pg) { return pg ? pg->local_rank : -1; }
int volt_process_group_local_world_size(const volt_process_group *pg) {
    return pg ? pg->local_world_size : -1;
}
int volt_process_group_node_rank(const volt_process_group *pg) { return pg ? pg->node_rank : -1; }
int volt_process_group_num_nodes(const volt_process_group *pg) { return pg ? pg->num_nodes : -1; }
double volt_process_group_timeout(const volt_process_group *pg) { return pg ? pg->timeout_s : 0; }
bool volt_process_group_is_broken(const volt_process_group *pg) { return pg && pg->broken; }
volt_device volt_process_group_device(const volt_process_group *pg) {
    return pg ? pg->device : VOLT_DEVICE_CPU;
}

const char *volt_reduce_op_name(volt_reduce_op op) {
    switch (op) {
    case VOLT_REDUCE_SUM: return "sum";
    case VOLT_REDUCE_MEAN: return "mean";
    case VOLT_REDUCE_MIN: return "min";
    case VOLT_REDUCE_MAX: return "max";
    }
    return "?";
}

const char *volt_collective_name(volt_collective kind) {
    switch (kind) {
    case VOLT_COLL_ALL_REDUCE: return "all_reduce";
    case VOLT_COLL_BROADCAST: return "broadcast";
    case VOLT_COLL_ALL_GATHER: return "all_gather";
    case VOLT_COLL_REDUCE_SCATTER: return "reduce_scatter";
    case VOLT_COLL_BARRIER: return "barrier";
    }
    return "?";
}
