/* cublaslt_lib.c: opens cuBLASLt at its first use and resolves the
 * functions volt calls (see cublaslt_lib.h for why it is not linked);
 * VOLT_CUBLAS_CHECK's report. */
#include <pthread.h>
#include <stdio.h>

#include "ops/cuda/cublaslt_lib.h"

#include "core/cuda/cuda_impl.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static volt_cublaslt_api table;
static bool loaded;
static char failure[512];

static void load(void) {
    /* Each field from the symbol of its name with the "cublasLt" prefix. */
    const volt_cuda_symbol symbols[] = {
#define SYMBOL(f) {"cublasLt" #f, (void **)&table.f}
        SYMBOL(Create),
        SYMBOL(Destroy),
        SYMBOL(Matmul),
        SYMBOL(MatmulAlgoGetHeuristic),
        SYMBOL(MatmulDescCreate),
        SYMBOL(MatmulDescDestroy),
        SYMBOL(MatmulDescSetAttribute),
        SYMBOL(MatmulPreferenceCreate),
        SYMBOL(MatmulPreferenceDestroy),
        SYMBOL(MatmulPreferenceSetAttribute),
        SYMBOL(MatrixLayoutCreate),
        SYMBOL(MatrixLayoutDestroy),
        SYMBOL(MatrixLayoutSetAttribute),
        SYMBOL(GetStatusName),
        SYMBOL(GetStatusString),
#undef SYMBOL
    };
    loaded =
        volt_cuda_open_library(VOLT_CUBLASLT_SONAME, symbols, sizeof symbols / sizeof symbols[0],
                               failure, sizeof failure) != NULL;
}

const volt_cublaslt_api *volt_cublaslt(void) {
    pthread_once(&once, load);
    if (loaded) return &table;
    volt_error_set(VOLT_ERR_DEVICE, "cuda: cannot load cuBLASLt (%s)", failure);
    return NULL;
}

volt_status volt_cublas_check_result(int status, const char *call, const char *hint,
                                     const char *file, int line) {
    if (status == CUBLAS_STATUS_SUCCESS) return VOLT_OK;
    cublasStatus_t s = (cublasStatus_t)status;
    /* A failed call came from the table, so it is loaded. */
    return volt_error_set(s == CUBLAS_STATUS_ALLOC_FAILED ? VOLT_ERR_OUT_OF_MEMORY
                                                          : VOLT_ERR_DEVICE,
                          "cublas: %s failed: %s (%s) at %s:%d%s%s", call, table.GetStatusString(s),
                          table.GetStatusName(s), volt_cuda_short_path(file), line,
                          hint ? "; " : "", hint ? hint : "");
}
