/* nccl_lib.h: NCCL, opened at its first use (dlopen of libnccl.so.2)
 * instead of linked, like cuBLASLt (ops/cuda/cublaslt_lib.h): programs that
 * never run a CUDA collective neither load it nor need it installed. Only
 * compiled with VOLT_CUDA (the header is the toolkit's nccl.h). */
#ifndef VOLT_NCCL_LIB_H
#define VOLT_NCCL_LIB_H

#include <nccl.h>

#include "volt/core.h"

/* The NCCL functions volt calls, with the library's own signatures. */
typedef struct {
    __typeof__(&ncclGetVersion) GetVersion;
    __typeof__(&ncclGetUniqueId) GetUniqueId;
    __typeof__(&ncclCommInitRank) CommInitRank;
    __typeof__(&ncclCommDestroy) CommDestroy;
    __typeof__(&ncclCommAbort) CommAbort;
    __typeof__(&ncclCommGetAsyncError) CommGetAsyncError;
    __typeof__(&ncclGetErrorString) GetErrorString;
    __typeof__(&ncclAllReduce) AllReduce;
    __typeof__(&ncclBroadcast) Broadcast;
    __typeof__(&ncclAllGather) AllGather;
    __typeof__(&ncclReduceScatter) ReduceScatter;
} volt_nccl_api;

/* The table, loaded once per process (thread-safe): libnccl.so.2 by its
 * soname, then in the toolkit's library directory volt was built against.
 * NULL with VOLT_ERR_UNSUPPORTED ("nccl: cannot load libnccl.so.2 (...)")
 * when it or one of its functions is missing. */
const volt_nccl_api *volt_nccl(void);

#endif
