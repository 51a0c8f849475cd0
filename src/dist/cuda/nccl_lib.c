/* nccl_lib.c: opens NCCL at its first use and resolves the functions volt
 * calls (see nccl_lib.h for why it is not linked). */
#include <pthread.h>
#include <stdio.h>

#include "dist/cuda/nccl_lib.h"

#include "core/cuda/cuda_impl.h"

#define NCCL_SONAME "libnccl.so.2"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static volt_nccl_api table;
static bool loaded;
static char failure[512];

static void load(void) {
    /* Each field from the symbol of its name with the "nccl" prefix. */
    const volt_cuda_symbol symbols[] = {
#define SYMBOL(f) {"nccl" #f, (void **)&table.f}
        SYMBOL(GetVersion), SYMBOL(GetUniqueId),       SYMBOL(CommInitRank),   SYMBOL(CommDestroy),
        SYMBOL(CommAbort),  SYMBOL(CommGetAsyncError), SYMBOL(GetErrorString), SYMBOL(AllReduce),
        SYMBOL(Broadcast),  SYMBOL(AllGather),         SYMBOL(ReduceScatter),
#undef SYMBOL
    };
    loaded = volt_cuda_open_library(NCCL_SONAME, symbols, sizeof symbols / sizeof symbols[0],
                                    failure, sizeof failure) != NULL;
}

const volt_nccl_api *volt_nccl(void) {
    pthread_once(&once, load);
    if (loaded) return &table;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "nccl: cannot load %s (%s)", NCCL_SONAME, failure);
    return NULL;
}
