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

/* The backend's operations on collectives (mpi_collectives.c), for its
 * ops table (mpi_group.c); see volt_process_group_ops. */
volt_status volt_mpi_check_dtype(volt_process_group *pg, volt_collective kind, volt_dtype dtype,
                                 const char *what);
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
