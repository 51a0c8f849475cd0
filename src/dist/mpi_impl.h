/* mpi_impl.h: the MPI backend's structs and helpers, shared by
 * mpi_group.c (MPI's lifetime, creating a group) and mpi_collectives.c
 * (starting and testing collectives). */
#ifndef VOLT_MPI_IMPL_H
#define VOLT_MPI_IMPL_H

#include <mpi.h>

#include "dist/dist_impl.h"

typedef struct {
    volt_process_group base;
    MPI_Comm comm;                             /* a duplicate of MPI_COMM_WORLD */
    int64_t agree_buffer[VOLT_DIST_AGREE_MAX]; /* in flight during the agreement check */
} volt_mpi_group;

typedef struct {
    volt_work base;
    MPI_Request request;
} volt_mpi_work;

/* Opens group g (zeroed by the caller, which may embed it first in a
 * larger struct) with `ops`: MPI initialized if needed, a communicator of
 * its own, rank, size and node layout. On failure g holds what must be
 * closed. volt_mpi_group_close frees its communicator (not g; nothing for a
 * broken group, whose requests may be in flight). */
volt_status volt_mpi_group_open(volt_mpi_group *g, const volt_process_group_options *options,
                                const volt_process_group_ops *ops);
void volt_mpi_group_close(volt_mpi_group *g);

/* The backend's operations on collectives (mpi_collectives.c), for its
 * ops table (mpi_group.c); see volt_process_group_ops. */
volt_status volt_mpi_check_dtype(volt_process_group *pg, volt_collective kind, volt_dtype dtype,
                                 volt_device device, const char *what);
volt_status volt_mpi_agree_min(volt_process_group *pg, int64_t *values, int n, const char *what);
volt_status volt_mpi_start(volt_work *w);
volt_status volt_mpi_test(volt_work *w, bool *done);

/* VOLT_OK when rc is MPI_SUCCESS; else records "what: MPI_Xxx failed:
 * <MPI's reason> (file:line)" through volt_dist_fail (breaking pg, failing
 * w; either may be NULL) and returns VOLT_ERR_IO. */
volt_status volt_mpi_check(int rc, volt_process_group *pg, volt_work *w, const char *what,
                           const char *call, const char *file, int line);
#define VOLT_MPI_CHECK(call, pg, w, what)                                                          \
    volt_mpi_check((call), (pg), (w), (what), #call, __FILE__, __LINE__)

/* Waits for `request` at most timeout_s seconds. VOLT_ERR_IO on failure or
 * timeout (then the request is left in flight, and pg, if any, is broken). */
volt_status volt_mpi_wait(volt_process_group *pg, MPI_Request *request, double timeout_s,
                          const char *what);

#endif
