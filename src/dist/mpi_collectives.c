/* mpi_collectives.c: the MPI backend's collectives — each one an MPI_I*
 * call on the group's communicator, tested with MPI_Test; the agreement
 * check's small all-reduce; MPI errors turned into volt errors. */
#include <stdio.h>
#include <string.h>

#include "dist/mpi_impl.h"

volt_status volt_mpi_check(int rc, volt_process_group *pg, volt_work *w, const char *what,
                           const char *call, const char *file, int line) {
    if (rc == MPI_SUCCESS) return VOLT_OK;
    char reason[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, reason, &len) != MPI_SUCCESS)
        snprintf(reason, sizeof reason, "MPI error code %d", rc);
    const char *base = strrchr(file, '/');
    int call_len = (int)strcspn(call, "(");
    return volt_dist_fail(pg, w, VOLT_ERR_IO, true, "%s: %.*s failed: %s (%s:%d)", what, call_len,
                          call, reason, base ? base + 1 : file, line);
}

volt_status volt_mpi_wait(volt_process_group *pg, MPI_Request *request, double timeout_s,
                          const char *what) {
    double start = volt_time_now();
    for (;;) {
        int flag = 0;
        volt_status st =
            VOLT_MPI_CHECK(MPI_Test(request, &flag, MPI_STATUS_IGNORE), pg, NULL, what);
        if (st != VOLT_OK || flag) return st;
        double waited = volt_time_now() - start;
        if (waited > timeout_s)
            return volt_dist_fail(pg, NULL, VOLT_ERR_IO, true,
                                  "%s: timed out after %g s waiting for the other ranks (a rank "
                                  "died, is stuck, or called another collective)",
                                  what, timeout_s);
        volt_dist_backoff(waited);
    }
}

/* ---------------------------------------------------------------- types */

static bool reducible(volt_dtype dtype) {
    return dtype == VOLT_F32 || dtype == VOLT_F64 || dtype == VOLT_I64 || dtype == VOLT_I32 ||
           dtype == VOLT_U8;
}

/* The MPI type of an element: its own for reducible dtypes, one of the same
 * size for the others (only moved, never reduced). */
static MPI_Datatype mpi_type(volt_dtype dtype) {
    switch (dtype) {
    case VOLT_F32: return MPI_FLOAT;
    case VOLT_F64: return MPI_DOUBLE;
    case VOLT_I64: return MPI_INT64_T;
    case VOLT_I32: return MPI_INT32_T;
    case VOLT_BF16:
    case VOLT_F16: return MPI_UINT16_T;
    case VOLT_U8:
    case VOLT_BOOL:
    case VOLT_DTYPE_COUNT: break;
    }
    return MPI_UINT8_T;
}

static MPI_Op mpi_op(volt_reduce_op op) {
    switch (op) {
    case VOLT_REDUCE_MIN: return MPI_MIN;
    case VOLT_REDUCE_MAX: return MPI_MAX;
    case VOLT_REDUCE_SUM:
    case VOLT_REDUCE_MEAN: break;
    }
    return MPI_SUM;
}

volt_status volt_mpi_check_dtype(volt_process_group *pg, volt_collective kind, volt_dtype dtype,
                                 volt_device device, const char *what) {
    (void)pg, (void)device;
    bool reduces = kind == VOLT_COLL_ALL_REDUCE || kind == VOLT_COLL_REDUCE_SCATTER;
    if (reduces && !reducible(dtype))
        return volt_error_set(VOLT_ERR_DTYPE,
                              "%s: the mpi backend reduces f32, f64, i64, i32 and u8, not %s", what,
                              volt_dtype_name(dtype));
    return VOLT_OK;
}

/* ---------------------------------------------------------- collectives */

volt_status volt_mpi_agree_min(volt_process_group *pg, int64_t *values, int n, const char *what) {
    volt_mpi_group *g = (volt_mpi_group *)pg;
    VOLT_ASSERT(n <= VOLT_DIST_AGREE_MAX);
    /* The buffer lives in the group: after a timeout MPI may still write it. */
    memcpy(g->agree_buffer, values, (size_t)n * sizeof *values);
    MPI_Request req;
    volt_status st = VOLT_MPI_CHECK(
        MPI_Iallreduce(MPI_IN_PLACE, g->agree_buffer, n, MPI_INT64_T, MPI_MIN, g->comm, &req), pg,
        NULL, what);
    if (st == VOLT_OK) st = volt_mpi_wait(pg, &req, pg->timeout_s, what);
    if (st == VOLT_OK) memcpy(values, g->agree_buffer, (size_t)n * sizeof *values);
    return st;
}

static int count(const volt_tensor *t) { return (int)volt_tensor_numel(t); }

volt_status volt_mpi_start(volt_work *w) {
    volt_mpi_group *g = (volt_mpi_group *)w->pg;
    MPI_Request *req = &((volt_mpi_work *)w)->request;
    const char *what = volt_collective_name(w->kind);
    volt_tensor *out = w->out;
    void *data = out ? volt_tensor_data(out) : NULL;
    MPI_Datatype type = out ? mpi_type(out->dtype) : MPI_BYTE;
    switch (w->kind) {
    case VOLT_COLL_ALL_REDUCE:
        return VOLT_MPI_CHECK(
            MPI_Iallreduce(MPI_IN_PLACE, data, count(out), type, mpi_op(w->op), g->comm, req),
            w->pg, w, what);
    case VOLT_COLL_BROADCAST:
        return VOLT_MPI_CHECK(MPI_Ibcast(data, count(out), type, w->root, g->comm, req), w->pg, w,
                              what);
    case VOLT_COLL_ALL_GATHER: {
        int n = count(out) / w->pg->world_size;
        if (w->in_place)
            return VOLT_MPI_CHECK(
                MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, n, type, g->comm, req),
                w->pg, w, what);
        return VOLT_MPI_CHECK(
            MPI_Iallgather(volt_tensor_data(w->in), n, type, data, n, type, g->comm, req), w->pg, w,
            what);
    }
    case VOLT_COLL_REDUCE_SCATTER:
        return VOLT_MPI_CHECK(MPI_Ireduce_scatter_block(volt_tensor_data(w->in), data, count(out),
                                                        type, mpi_op(w->op), g->comm, req),
                              w->pg, w, what);
    case VOLT_COLL_BARRIER: return VOLT_MPI_CHECK(MPI_Ibarrier(g->comm, req), w->pg, w, what);
    }
    return volt_dist_fail(w->pg, w, VOLT_ERR_INTERNAL, false, "%s: unknown collective", what);
}

/* VOLT_REDUCE_MEAN: MPI sums, then each rank divides. */
static void divide(volt_tensor *t, int world_size) {
    int64_t n = volt_tensor_numel(t);
    if (t->dtype == VOLT_F32) {
        float *p = volt_tensor_data(t), d = (float)world_size;
        for (int64_t i = 0; i < n; i++) p[i] /= d;
    } else {
        double *p = volt_tensor_data(t), d = world_size;
        for (int64_t i = 0; i < n; i++) p[i] /= d;
    }
}

volt_status volt_mpi_test(volt_work *w, bool *done) {
    int flag = 0;
    volt_status st =
        VOLT_MPI_CHECK(MPI_Test(&((volt_mpi_work *)w)->request, &flag, MPI_STATUS_IGNORE), w->pg, w,
                       volt_collective_name(w->kind));
    if (st != VOLT_OK) return st;
    *done = flag != 0;
    bool reduces = w->kind == VOLT_COLL_ALL_REDUCE || w->kind == VOLT_COLL_REDUCE_SCATTER;
    if (*done && reduces && w->op == VOLT_REDUCE_MEAN) divide(w->out, w->pg->world_size);
    return VOLT_OK;
}
