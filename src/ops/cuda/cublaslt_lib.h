/* cublaslt_lib.h: cuBLASLt, opened at its first use (dlopen) instead of
 * linked. The library is over 500 MB; loading it with every program that
 * links volt cost 150 MB of resident memory and 0.1 s at start even on
 * machines that never touch a GPU (issue 9's start-up and memory goals), so
 * volt links only the small CUDA runtime and reaches cuBLASLt through this
 * table. Only compiled with VOLT_CUDA. */
#ifndef VOLT_CUBLASLT_LIB_H
#define VOLT_CUBLASLT_LIB_H

#include <cublasLt.h>

#include "volt/core.h"

/* The cuBLASLt functions volt calls, with the library's own signatures. */
typedef struct {
    __typeof__(&cublasLtCreate) Create;
    __typeof__(&cublasLtDestroy) Destroy;
    __typeof__(&cublasLtMatmul) Matmul;
    __typeof__(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic;
    __typeof__(&cublasLtMatmulDescCreate) MatmulDescCreate;
    __typeof__(&cublasLtMatmulDescDestroy) MatmulDescDestroy;
    __typeof__(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute;
    __typeof__(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate;
    __typeof__(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy;
    __typeof__(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute;
    __typeof__(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate;
    __typeof__(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy;
    __typeof__(&cublasLtMatrixLayoutSetAttribute) MatrixLayoutSetAttribute;
    __typeof__(&cublasLtGetStatusName) GetStatusName;
    __typeof__(&cublasLtGetStatusString) GetStatusString;
} volt_cublaslt_api;

/* The table, loaded once per process (thread-safe): the library is looked
 * up by its soname (LD_LIBRARY_PATH, the program's run path, the system's),
 * then in the toolkit's library directory volt was built against. NULL with
 * VOLT_ERR_DEVICE ("cuda: cannot load cuBLASLt (libcublasLt.so.13: ...)")
 * when it or one of its functions is missing. */
const volt_cublaslt_api *volt_cublaslt(void);

/* Evaluates `call` (a cublasStatus_t from a function of the table); on
 * failure records VOLT_ERR_DEVICE (VOLT_ERR_OUT_OF_MEMORY for
 * CUBLAS_STATUS_ALLOC_FAILED) naming the call, cuBLAS's reason, the file and
 * line and `hint` (may be NULL), like VOLT_CUDA_CHECK; returns the status. */
#define VOLT_CUBLAS_CHECK(call, hint)                                                              \
    volt_cublas_check_result((int)(call), #call, (hint), __FILE__, __LINE__)
volt_status volt_cublas_check_result(int status, const char *call, const char *hint,
                                     const char *file, int line);

#endif
