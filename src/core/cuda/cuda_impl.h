/* cuda_impl.h: what volt's CUDA host code shares (core/cuda, ops/cuda; only
 * compiled with VOLT_CUDA) — the check macros that turn a failed CUDA or
 * cuBLAS call into a volt error naming the call, its file and line and a
 * hint, the current stream, and device selection. */
#ifndef VOLT_CUDA_IMPL_H
#define VOLT_CUDA_IMPL_H

#include <cuda_runtime_api.h>

#include "core/core_impl.h"

/* Evaluates `call` (a cudaError_t); on failure records VOLT_ERR_DEVICE
 * (VOLT_ERR_OUT_OF_MEMORY for cudaErrorMemoryAllocation), e.g. "cuda:
 * cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost) failed: an illegal memory
 * access was encountered (cudaErrorIllegalAddress) at
 * src/core/cuda/memcpy.c:40; <hint>", clears the runtime's last error, and
 * returns the status (VOLT_OK on success). Never asserts. */
#define VOLT_CUDA_CHECK(call, hint)                                                                \
    volt_cuda_check_result((int)(call), #call, (hint), __FILE__, __LINE__)

volt_status volt_cuda_check_result(int err, const char *call, const char *hint, const char *file,
                                   int line);
/* __FILE__ from "src/" on (CMake passes absolute paths), for messages. */
const char *volt_cuda_short_path(const char *file);

/* A function of a library opened at run time: its name and where its
 * address goes. */
typedef struct {
    const char *name;
    void **slot;
} volt_cuda_symbol;
/* Opens `soname` (the loader's search path, then the toolkit's library
 * directory, VOLT_CUDA_LIBRARY_DIR) and fills every symbol's slot. Returns
 * the library handle, or NULL with why in failure (the loader's message,
 * or "<soname> has no <name>"). */
void *volt_cuda_open_library(const char *soname, const volt_cuda_symbol *symbols, size_t n,
                             char *failure, size_t size);

/* Makes cuda:index (checked by the caller) the calling thread's current
 * device; VOLT_OK or a CUDA error. */
volt_status volt_cuda_set_device(int index);

/* Frees the cached pinned host blocks (after their pending copies). */
void volt_cuda_pinned_empty_cache(void);
/* Notes an asynchronous copy from pinned `block` queued on `stream` of
 * cuda:device (the current device): the block is not reused before it ends. */
volt_status volt_cuda_pinned_record(void *block, int device, cudaStream_t stream);

/* The stream volt's work on cuda:device is queued on: the legacy default
 * stream (NULL) for now, which orders everything on the device. */
static inline cudaStream_t volt_cuda_stream(int device) {
    (void)device;
    return (cudaStream_t)0;
}

#endif
