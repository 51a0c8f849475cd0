/* nccl_group.c: the "nccl" backend — a process group whose CUDA tensors
 * move through NCCL and whose CPU tensors (and barriers and agreement
 * checks) go through the MPI group it is built on. Each rank uses
 * cuda:(local rank), one device per rank as NCCL requires (more ranks on a
 * node than devices is refused by name); rank 0's NCCL unique id is broadcast
 * over MPI and one communicator is made per group. A collective is queued on
 * volt's stream of the device (after the kernels that produced its data,
 * before those that read its result) and followed by an event; its work is
 * done when the event is reached, which volt_work_wait polls within the
 * group's timeout, checking NCCL's asynchronous errors meanwhile. */
#include <stdio.h>
#include <stdlib.h>

#include "core/cuda/cuda_impl.h"
#include "dist/cuda/nccl_lib.h"
#include "dist/mpi_impl.h"

typedef struct {
    volt_mpi_group mpi; /* first: the MPI backend's functions take the group */
    ncclComm_t comm;
} nccl_group;

typedef struct {
    volt_mpi_work mpi; /* first: CPU collectives are MPI works */
    cudaEvent_t event; /* NULL for an MPI work */
} nccl_work;

/* VOLT_OK, or the failure of an NCCL call recorded through volt_dist_fail
 * (breaking the group). */
static volt_status nccl_check(ncclResult_t rc, volt_process_group *pg, volt_work *w,
                              const char *what, const char *call) {
    if (rc == ncclSuccess) return VOLT_OK;
    const volt_nccl_api *api = volt_nccl();
    return volt_dist_fail(pg, w, VOLT_ERR_IO, true, "%s: %s failed: %s (nccl error %d)", what, call,
                          api ? api->GetErrorString(rc) : "?", (int)rc);
}

static bool on_gpu(const volt_work *w) {
    const volt_tensor *t = w->out ? w->out : w->in;
    return w->kind != VOLT_COLL_BARRIER && t && t->device.type == VOLT_CUDA;
}

/* --------------------------------------------------------------- dtypes */

static bool nccl_type(volt_dtype dtype, ncclDataType_t *out) {
    switch (dtype) {
    case VOLT_F32: *out = ncclFloat32; return true;
    case VOLT_F64: *out = ncclFloat64; return true;
    case VOLT_BF16: *out = ncclBfloat16; return true;
    case VOLT_F16: *out = ncclFloat16; return true;
    case VOLT_I64: *out = ncclInt64; return true;
    case VOLT_I32: *out = ncclInt32; return true;
    case VOLT_U8:
    case VOLT_BOOL: *out = ncclUint8; return true;
    case VOLT_DTYPE_COUNT: break;
    }
    return false;
}

static volt_status nccl_check_dtype(volt_process_group *pg, volt_collective kind, volt_dtype dtype,
                                    volt_device device, const char *what) {
    if (device.type == VOLT_CPU) return volt_mpi_check_dtype(pg, kind, dtype, device, what);
    bool reduces = kind == VOLT_COLL_ALL_REDUCE || kind == VOLT_COLL_REDUCE_SCATTER;
    ncclDataType_t t;
    if (!nccl_type(dtype, &t) || (reduces && dtype == VOLT_BOOL))
        return volt_error_set(VOLT_ERR_DTYPE, "%s: the nccl backend does not %s %s tensors", what,
                              reduces ? "reduce" : "move", volt_dtype_name(dtype));
    return VOLT_OK;
}

static ncclRedOp_t nccl_op(volt_reduce_op op) {
    switch (op) {
    case VOLT_REDUCE_MEAN: return ncclAvg;
    case VOLT_REDUCE_MIN: return ncclMin;
    case VOLT_REDUCE_MAX: return ncclMax;
    case VOLT_REDUCE_SUM: break;
    }
    return ncclSum;
}

/* ---------------------------------------------------------- collectives */

static ncclResult_t enqueue(nccl_group *g, volt_work *w, cudaStream_t stream) {
    const volt_nccl_api *api = volt_nccl();
    ncclDataType_t type = ncclUint8;
    nccl_type(w->out->dtype, &type);
    void *out = volt_tensor_data(w->out);
    size_t n = (size_t)volt_tensor_numel(w->out);
    switch (w->kind) {
    case VOLT_COLL_ALL_REDUCE:
        return api->AllReduce(out, out, n, type, nccl_op(w->op), g->comm, stream);
    case VOLT_COLL_BROADCAST: return api->Broadcast(out, out, n, type, w->root, g->comm, stream);
    case VOLT_COLL_ALL_GATHER: {
        size_t each = n / (size_t)w->pg->world_size;
        const char *in = w->in_place ? (const char *)out + each * (size_t)w->pg->rank *
                                                               volt_dtype_size(w->out->dtype)
                                     : volt_tensor_data(w->in);
        return api->AllGather(in, out, each, type, g->comm, stream);
    }
    case VOLT_COLL_REDUCE_SCATTER:
        return api->ReduceScatter(volt_tensor_data(w->in), out, n, type, nccl_op(w->op), g->comm,
                                  stream);
    case VOLT_COLL_BARRIER: break;
    }
    return ncclInvalidUsage;
}

static volt_status nccl_start(volt_work *w) {
    if (!on_gpu(w)) return volt_mpi_start(w);
    nccl_group *g = (nccl_group *)w->pg;
    nccl_work *nw = (nccl_work *)w;
    const char *what = volt_collective_name(w->kind);
    int device = w->pg->device.index;
    if (volt_cuda_set_device(device))
        return volt_dist_fail(w->pg, w, VOLT_ERR_DEVICE, false, "%s: %s", what,
                              volt_error_message());
    cudaStream_t stream = volt_cuda_stream(device);
    volt_status st = nccl_check(enqueue(g, w, stream), w->pg, w, what, "the NCCL collective");
    if (st != VOLT_OK) return st;
    if (VOLT_CUDA_CHECK(cudaEventCreateWithFlags(&nw->event, cudaEventDisableTiming),
                        "an event for the NCCL collective") ||
        VOLT_CUDA_CHECK(cudaEventRecord(nw->event, stream), "an event for the NCCL collective"))
        return volt_dist_fail(w->pg, w, VOLT_ERR_DEVICE, true, "%s: %s", what,
                              volt_error_message());
    return VOLT_OK;
}

static volt_status nccl_test(volt_work *w, bool *done) {
    nccl_work *nw = (nccl_work *)w;
    if (!nw->event) return volt_mpi_test(w, done);
    nccl_group *g = (nccl_group *)w->pg;
    const char *what = volt_collective_name(w->kind);
    cudaError_t e = cudaEventQuery(nw->event);
    *done = e != cudaErrorNotReady;
    if (e == cudaErrorNotReady) {
        ncclResult_t async = ncclSuccess;
        volt_nccl()->CommGetAsyncError(g->comm, &async);
        return nccl_check(async, w->pg, w, what, "the NCCL communicator");
    }
    cudaEventDestroy(nw->event);
    nw->event = NULL;
    if (e != cudaSuccess) {
        VOLT_CUDA_CHECK(e, "the NCCL collective's kernel");
        return volt_dist_fail(w->pg, w, VOLT_ERR_DEVICE, true, "%s: %s", what,
                              volt_error_message());
    }
    return VOLT_OK;
}

/* ---------------------------------------------------------------- group */

static void nccl_free(volt_process_group *pg) {
    nccl_group *g = (nccl_group *)pg;
    const volt_nccl_api *api = g->comm ? volt_nccl() : NULL;
    if (api) {
        if (pg->broken)
            api->CommAbort(g->comm);
        else
            api->CommDestroy(g->comm);
    }
    if (pg->broken) return; /* MPI requests may be in flight (as mpi_free) */
    volt_mpi_group_close(&g->mpi);
    free(g);
}

static const volt_process_group_ops nccl_ops = {
    .name = "nccl",
    .work_size = sizeof(nccl_work),
    .takes_cpu = true,
    .check_dtype = nccl_check_dtype,
    .agree_min = volt_mpi_agree_min,
    .start = nccl_start,
    .test = nccl_test,
    .free = nccl_free,
};

/* This rank's device, agreed on: every rank must have one (the others fail
 * naming the rank that has none). */
static volt_status pick_device(nccl_group *g) {
    volt_process_group *pg = &g->mpi.base;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) cudaGetLastError();
    int64_t ok[1] = {e == cudaSuccess && count > 0 ? pg->world_size : pg->rank};
    if (volt_mpi_agree_min(pg, ok, 1, "process_group") != VOLT_OK) return volt_error_status();
    if (e != cudaSuccess || count == 0)
        return volt_error_set(VOLT_ERR_DEVICE,
                              "process_group: the nccl backend needs a CUDA device on rank %d (%s)",
                              pg->rank, e == cudaSuccess ? "none found" : cudaGetErrorString(e));
    if (ok[0] < pg->world_size)
        return volt_error_set(VOLT_ERR_DEVICE,
                              "process_group: the nccl backend needs a CUDA device on every rank; "
                              "rank %lld has none",
                              (long long)ok[0]);
    /* NCCL refuses two ranks of one communicator on one GPU. The layout is
     * the same on every rank of a node, so they all fail alike. */
    if (pg->local_world_size > count)
        return volt_error_set(VOLT_ERR_DEVICE,
                              "process_group: the nccl backend needs a CUDA device per rank: %d "
                              "ranks on this node, %d device%s (NCCL refuses two ranks on one "
                              "GPU); start at most %d rank%s per node",
                              pg->local_world_size, count, count == 1 ? "" : "s", count,
                              count == 1 ? "" : "s");
    pg->device = (volt_device){VOLT_CUDA, pg->local_rank};
    return volt_cuda_set_device(pg->device.index);
}

/* Rank 0's unique id to every rank over MPI, then the communicator. A rank
 * that cannot load NCCL sends a zero flag with the id, so that all fail. */
static volt_status open_comm(nccl_group *g) {
    volt_process_group *pg = &g->mpi.base;
    const volt_nccl_api *api = volt_nccl();
    struct {
        ncclUniqueId id;
        int64_t ok;
    } msg = {.ok = api != NULL};
    if (pg->rank == 0 && api &&
        nccl_check(api->GetUniqueId(&msg.id), pg, NULL, "process_group", "ncclGetUniqueId"))
        msg.ok = 0;
    MPI_Request req;
    volt_status st =
        VOLT_MPI_CHECK(MPI_Ibcast(&msg, (int)sizeof msg, MPI_BYTE, 0, g->mpi.comm, &req), pg, NULL,
                       "process_group");
    if (st == VOLT_OK) st = volt_mpi_wait(pg, &req, pg->timeout_s, "process_group");
    int64_t ok[1] = {msg.ok && api ? 1 : 0};
    if (st == VOLT_OK) st = volt_mpi_agree_min(pg, ok, 1, "process_group");
    if (st != VOLT_OK) return st;
    if (!ok[0])
        return api ? volt_error_set(VOLT_ERR_UNSUPPORTED,
                                    "process_group: nccl could not start on another rank")
                   : volt_error_status();
    return nccl_check(api->CommInitRank(&g->comm, pg->world_size, msg.id, pg->rank), pg, NULL,
                      "process_group", "ncclCommInitRank");
}

volt_process_group *volt_process_group_new_nccl(const volt_process_group_options *options) {
    if (volt_device_check((volt_device){VOLT_CUDA, 0}) != VOLT_OK) {
        char why[400];
        snprintf(why, sizeof why, "%s", volt_error_message());
        volt_error_clear();
        volt_error_set(VOLT_ERR_UNSUPPORTED,
                       "process_group: the nccl backend needs a CUDA device (%s); CPU tensors: mpi",
                       why);
        return NULL;
    }
    nccl_group *g = calloc(1, sizeof *g);
    if (!g) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "process_group: out of memory");
        return NULL;
    }
    volt_status st = volt_mpi_group_open(&g->mpi, options, &nccl_ops);
    if (st == VOLT_OK) st = pick_device(g);
    if (st == VOLT_OK) st = open_comm(g);
    if (st != VOLT_OK) {
        nccl_free(&g->mpi.base);
        return NULL;
    }
    return &g->mpi.base;
}
