/* core_impl.h: declarations shared inside the core layer and with the layers
 * above it, not part of the public API. */
#ifndef VOLT_CORE_IMPL_H
#define VOLT_CORE_IMPL_H

#include "volt/core.h"

/* CPU allocator (allocator_cpu.c): 64-byte aligned blocks in size classes. */
void *volt_cpu_alloc(size_t nbytes);
void volt_cpu_free(void *p);

/* ------------------------------------------------------------------ CUDA
 * Implemented by the files in core/cuda/, or by core/cuda_none.c in a
 * build without CUDA — where no CUDA tensor can exist (volt_device_check refuses them), so
 * only the device check and the pinned-memory request are reachable there. */

/* VOLT_OK when cuda:index exists in this build and on this machine, else
 * records VOLT_ERR_DEVICE: "<op>: cuda:0: no CUDA device is available
 * (cudaGetDeviceCount: <reason>)", "cuda:3: this machine has 1 CUDA device
 * (cuda:0)", or "cuda:0: this build of volt has no CUDA backend".
 * `op` (may be NULL) prefixes the message. */
volt_status volt_cuda_check_device(const char *op, int index);
/* Device memory for at least nbytes on cuda:device (checked by the caller)
 * from its caching allocator, for work on that device's current stream;
 * *block receives the handle volt_cuda_free takes. NULL with
 * VOLT_ERR_OUT_OF_MEMORY ("cuda:0: out of memory allocating 2.0 GiB
 * (allocated 70.1 GiB, reserved 71.0 GiB)") or a CUDA error. */
void *volt_cuda_alloc(int device, size_t nbytes, void **block);
/* Gives a block back to its device's cache, on the stream it was made for. */
void volt_cuda_free(void *block);
/* Page-locked host memory from a small cache (cudaHostAlloc), for buffers
 * copied to the GPU without blocking; *block as above. NULL with an error. */
void *volt_cuda_host_alloc(size_t nbytes, void **block);
void volt_cuda_host_free(void *block);
/* Copies n bytes from src on src_dev to dst on dst_dev (CPU or CUDA, at
 * least one CUDA). Host-to-device from a pinned block (`pinned`, else NULL)
 * is asynchronous on the destination's current stream, and the block is not
 * reused until the copy is done; other copies return when the data is in
 * place (device-to-host waits for the work queued before it). */
volt_status volt_cuda_memcpy(void *dst, volt_device dst_dev, const void *src, volt_device src_dev,
                             size_t n, void *pinned);

/* Copies `rows` rows of `width` bytes, src's pitch bytes apart, to dst's
 * rows dpitch bytes apart, on CUDA device's stream (queued, not waited for). */
volt_status volt_cuda_memcpy_2d(void *dst, size_t dpitch, const void *src, size_t spitch,
                                size_t width, size_t rows, int device);

/* Storage (storage.c) in page-locked host memory, on the CPU device. */
volt_storage *volt_storage_new_pinned(size_t nbytes);
/* The pinned block of a storage made by volt_storage_new_pinned, else NULL. */
void *volt_storage_pinned_block(const volt_storage *s);

/* Thread-local free lists for fixed-size structs (object_cache.c). An
 * object may be freed on another thread than the one that allocated it. */
typedef enum {
    VOLT_CACHE_TENSOR,
    VOLT_CACHE_STORAGE,
    VOLT_CACHE_NODE,
    VOLT_CACHE_KINDS
} volt_cache_kind;
/* Zeroed memory of `size` bytes (always the same size per kind). */
void *volt_cache_alloc(volt_cache_kind kind, size_t size);
void volt_cache_free(volt_cache_kind kind, void *p);

/* Scope bookkeeping (scope.c): registers a new tensor with the innermost scope
 * (or marks it caller-owned when none is open). */
void volt_scope_adopt(volt_tensor *t);
/* Removes t from its scope without releasing it. */
void volt_scope_forget(volt_tensor *t);

/* Grad-hook list of a leaf (autograd layer frees it with the tensor). */
void volt_autograd_tensor_freed(volt_tensor *t);

/* Validates a new tensor's dtype and shape (ndim within limits, sizes >= 0,
 * element count without overflow), naming `op` in the error. */
volt_status volt_check_new_tensor(const char *op, int ndim, const int64_t *shape, volt_dtype dtype);

/* One element of `dtype` at p, as a double / written from a double (with
 * the dtype's rounding; bool stores v != 0). */
double volt_load_as_double(const void *p, volt_dtype dtype);
void volt_store_from_double(void *p, volt_dtype dtype, double v);

/* References to a storage (tensors and views sharing it). */
int volt_storage_refcount(const volt_storage *s);
/* An f32 storage's bf16 twin: narrow holds, element for element, wide's
 * values rounded to bf16 (exactly: wide was widened from it). set_twin
 * takes a reference to narrow (released with wide) and notes both
 * versions; volt_storage_twin returns it while neither was written since
 * (their versions unchanged), else NULL. Lets a widened tensor go back to
 * bf16 without a conversion (ops/bf16.c). */
void volt_storage_set_twin(volt_storage *wide, volt_storage *narrow);
volt_storage *volt_storage_twin(const volt_storage *wide);

/* Geometry helpers. */
int64_t volt_shape_numel(int ndim, const int64_t *shape);
void volt_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);

/* Op tracing (trace.c, core.h's volt_trace_hook). An op marks its body with
 * VOLT_TRACE_OP("name"); at its first statement: begin now, end when the
 * function returns (any return). Off — no hook on any thread — it is one
 * load and branch on entry and a branch on a local at exit. */
extern int volt_trace_hooks_installed __attribute__((visibility("hidden")));
bool volt_trace_begin_slow(const char *name);
void volt_trace_end_slow(void);
static inline bool volt_trace_begin(const char *name) {
    if (__builtin_expect(__atomic_load_n(&volt_trace_hooks_installed, __ATOMIC_RELAXED) == 0, 1))
        return false;
    return volt_trace_begin_slow(name);
}
static inline void volt_trace_end(const bool *began) {
    if (__builtin_expect(*began, 0)) volt_trace_end_slow();
}
#define VOLT_TRACE_OP(name)                                                                        \
    __attribute__((cleanup(volt_trace_end))) const bool volt_trace_began_ = volt_trace_begin(name)

/* Philox-4x32-10's multipliers and Weyl key increments (philox.c; the CPU
 * kernels' 16-block form in ops/cpu/random.c). */
#define VOLT_PHILOX_M0 0xD2511F53u
#define VOLT_PHILOX_M1 0xCD9E8D57u
#define VOLT_PHILOX_W0 0x9E3779B9u
#define VOLT_PHILOX_W1 0xBB67AE85u

/* volt_uniform_from_u32 / _u64 (core.h) inline, for the kernels' loops. */
static inline float volt_uniform_u32_inline(uint32_t x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}
static inline double volt_uniform_u64_inline(uint32_t hi, uint32_t lo) {
    uint64_t bits = (((uint64_t)hi << 32) | lo) >> 11;
    return (double)bits * (1.0 / 9007199254740992.0);
}

#endif
