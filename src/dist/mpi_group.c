/* mpi_group.c: the MPI backend's process group — MPI's lifetime
 * (MPI_Init_thread when needed, MPI_Finalize from an exit handler, skipped
 * when the process fails so that the launcher ends the job), the group's
 * communicator, and where each rank sits (local rank, node). */
#include <stdio.h>
#include <stdlib.h>

#include "dist/mpi_impl.h"

/* ------------------------------------------------------- MPI's lifetime */

/* What the exit handler needs: a communicator of its own for the final
 * barrier, and how long to wait there. */
typedef struct {
    MPI_Comm comm;
    double timeout_s;
} exit_state;

/* on_exit handler: a clean exit (status 0) meets the other ranks at a
 * barrier, then finalizes MPI. A failed exit (status != 0) or a barrier
 * that times out leaves MPI unfinalized: Open MPI's launcher then ends the
 * whole job at once, where MPI_Finalize would wait forever for ranks stuck
 * in a collective with this one. */
static void finalize_at_exit(int status, void *arg) {
    exit_state *s = arg;
    int finalized = 1;
    MPI_Finalized(&finalized);
    if (!finalized && status == 0) {
        MPI_Request req;
        volt_status st = VOLT_MPI_CHECK(MPI_Ibarrier(s->comm, &req), NULL, NULL, "exit");
        if (st == VOLT_OK) st = volt_mpi_wait(NULL, &req, s->timeout_s, "exit");
        if (st == VOLT_OK) {
            MPI_Comm_free(&s->comm);
            MPI_Finalize();
        } else {
            int rank = -1;
            MPI_Comm_rank(s->comm, &rank);
            fprintf(stderr,
                    "volt: rank %d: the other ranks did not reach the end of the program within "
                    "%g s; exiting without MPI_Finalize so that the launcher ends the job\n",
                    rank, s->timeout_s);
        }
    }
    free(s);
}

/* Initializes MPI unless it already is, and registers the exit handler. */
static volt_status init_mpi(double timeout_s) {
    int initialized = 0, finalized = 0, provided = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (finalized)
        return volt_error_set(VOLT_ERR_STATE,
                              "process_group: MPI was already finalized in this process (it "
                              "cannot start twice)");
    if (initialized) {
        MPI_Query_thread(&provided);
    } else {
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
        if (VOLT_MPI_CHECK(rc, NULL, NULL, "process_group") != VOLT_OK) return VOLT_ERR_IO;
        exit_state *s = malloc(sizeof *s);
        if (!s) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "process_group: out of memory");
        s->timeout_s = timeout_s;
        if (VOLT_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &s->comm), NULL, NULL, "process_group") !=
            VOLT_OK) {
            free(s);
            return VOLT_ERR_IO;
        }
        MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN);
        on_exit(finalize_at_exit, s);
    }
    if (provided < MPI_THREAD_SERIALIZED)
        return volt_error_set(VOLT_ERR_UNSUPPORTED,
                              "process_group: MPI provides thread level %d; volt needs "
                              "MPI_THREAD_SERIALIZED (%d) or more",
                              provided, MPI_THREAD_SERIALIZED);
    return VOLT_OK;
}

/* ------------------------------------------------------------ the group */

/* Local rank and size from the ranks sharing this node's memory; node
 * index and count from the nodes' lowest ranks. */
static volt_status node_layout(volt_mpi_group *g) {
    volt_process_group *pg = &g->base;
    const char *what = "process_group";
    MPI_Comm local = MPI_COMM_NULL, leaders = MPI_COMM_NULL;
    int node[2] = {0, 1};
    volt_status st = VOLT_MPI_CHECK(
        MPI_Comm_split_type(g->comm, MPI_COMM_TYPE_SHARED, pg->rank, MPI_INFO_NULL, &local), pg,
        NULL, what);
    if (st == VOLT_OK) st = VOLT_MPI_CHECK(MPI_Comm_rank(local, &pg->local_rank), pg, NULL, what);
    if (st == VOLT_OK)
        st = VOLT_MPI_CHECK(MPI_Comm_size(local, &pg->local_world_size), pg, NULL, what);
    if (st == VOLT_OK)
        st = VOLT_MPI_CHECK(
            MPI_Comm_split(g->comm, pg->local_rank == 0 ? 0 : MPI_UNDEFINED, pg->rank, &leaders),
            pg, NULL, what);
    if (st == VOLT_OK && leaders != MPI_COMM_NULL) {
        st = VOLT_MPI_CHECK(MPI_Comm_rank(leaders, &node[0]), pg, NULL, what);
        if (st == VOLT_OK) st = VOLT_MPI_CHECK(MPI_Comm_size(leaders, &node[1]), pg, NULL, what);
    }
    if (st == VOLT_OK) st = VOLT_MPI_CHECK(MPI_Bcast(node, 2, MPI_INT, 0, local), pg, NULL, what);
    pg->node_rank = node[0], pg->num_nodes = node[1];
    if (leaders != MPI_COMM_NULL) MPI_Comm_free(&leaders);
    if (local != MPI_COMM_NULL) MPI_Comm_free(&local);
    return st;
}

/* The launcher's idea of the world size must be MPI's: `srun` without
 * --mpi=pmix starts N single-rank MPI jobs that would each train alone. */
static volt_status check_launcher(const volt_process_group *pg) {
    bool clean = volt_error_status() == VOLT_OK;
    volt_cluster_env env = volt_cluster_env_detect();
    if (clean && volt_error_status() != VOLT_OK) return volt_error_status();
    if (env.source == VOLT_CLUSTER_NONE || env.world_size == pg->world_size) return VOLT_OK;
    return volt_error_set(VOLT_ERR_IO,
                          "process_group: MPI sees %d process(es) but the %s environment says %d "
                          "(under SLURM start the program with srun --mpi=pmix; with RANK and "
                          "WORLD_SIZE set, start it with mpiexec instead)",
                          pg->world_size, volt_cluster_source_name(env.source), env.world_size);
}

void volt_mpi_group_close(volt_mpi_group *g) {
    int finalized = 1;
    MPI_Finalized(&finalized);
    if (!g->base.broken && !finalized && g->comm != MPI_COMM_NULL) MPI_Comm_free(&g->comm);
}

static void mpi_free(volt_process_group *pg) {
    /* A broken group may have requests in flight that still use its
     * communicator and memory: it is left as it is (the job is ending). */
    if (pg->broken) return;
    volt_mpi_group_close((volt_mpi_group *)pg);
    free(pg);
}

static const volt_process_group_ops mpi_ops = {
    .name = "mpi",
    .work_size = sizeof(volt_mpi_work),
    .check_dtype = volt_mpi_check_dtype,
    .agree_min = volt_mpi_agree_min,
    .start = volt_mpi_start,
    .test = volt_mpi_test,
    .free = mpi_free,
};

/* The group's own communicator: a duplicate of MPI_COMM_WORLD whose errors
 * return (MPI_ERRORS_RETURN) instead of aborting, waited for with the
 * timeout (a rank that never creates its group fails the others). */
static volt_status open_comm(volt_mpi_group *g) {
    volt_process_group *pg = &g->base;
    MPI_Request req;
    volt_status st =
        VOLT_MPI_CHECK(MPI_Comm_idup(MPI_COMM_WORLD, &g->comm, &req), pg, NULL, "process_group");
    if (st == VOLT_OK) st = volt_mpi_wait(pg, &req, pg->timeout_s, "process_group");
    if (st != VOLT_OK) return st;
    st = VOLT_MPI_CHECK(MPI_Comm_set_errhandler(g->comm, MPI_ERRORS_RETURN), pg, NULL,
                        "process_group");
    if (st == VOLT_OK)
        st = VOLT_MPI_CHECK(MPI_Comm_rank(g->comm, &pg->rank), pg, NULL, "process_group");
    if (st == VOLT_OK)
        st = VOLT_MPI_CHECK(MPI_Comm_size(g->comm, &pg->world_size), pg, NULL, "process_group");
    return st;
}

volt_status volt_mpi_group_open(volt_mpi_group *g, const volt_process_group_options *options,
                                const volt_process_group_ops *ops) {
    double timeout_s;
    g->comm = MPI_COMM_NULL;
    if (volt_dist_resolve_timeout(options, &timeout_s) != VOLT_OK) return volt_error_status();
    if (init_mpi(timeout_s) != VOLT_OK) return volt_error_status();
    g->base =
        (volt_process_group){.ops = ops,
                             .device = VOLT_DEVICE_CPU,
                             .timeout_s = timeout_s,
                             .skip_agreement_check = options && options->skip_agreement_check};
    volt_status st = open_comm(g);
    if (st == VOLT_OK) st = node_layout(g);
    if (st == VOLT_OK) st = check_launcher(&g->base);
    return st;
}

volt_process_group *volt_process_group_new_mpi(const volt_process_group_options *options) {
    volt_mpi_group *g = calloc(1, sizeof *g);
    if (!g) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "process_group: out of memory");
        return NULL;
    }
    if (volt_mpi_group_open(g, options, &mpi_ops) != VOLT_OK) {
        mpi_free(&g->base);
        return NULL;
    }
    return &g->base;
}
