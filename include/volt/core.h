/* volt/core.h: the core layer — dtypes, devices, storage and allocators,
 * tensors and views, scopes (lifetimes), the sticky error, the Philox
 * generator and thread control. Every other layer stands on this header.
 *
 * Lifetimes (DESIGN.md §2). Every tensor is owned either by a scope or by its
 * caller:
 *   - inside volt_scope_begin()/volt_scope_end(), a tensor created by any
 *     function is owned by the innermost open scope and freed when it ends,
 *     unless volt_keep() handed it to the enclosing scope first;
 *   - with no scope open, the caller owns what it creates and frees it with
 *     volt_tensor_free(); volt_persist() takes a tensor out of its scope so
 *     that its caller owns it (parameters, buffers, optimizer state).
 * Tensors are reference counted underneath: the autograd graph holds its own
 * references to what it saved, so freeing a tensor early never breaks a
 * backward pass.
 *
 * Errors. An operation given bad arguments records a thread-local sticky error
 * (the first one is kept until volt_error_clear()) and returns NULL; given a
 * NULL input it returns NULL without a new message. Functions that do I/O
 * return volt_status. */
#ifndef VOLT_CORE_H
#define VOLT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VOLT_VERSION_MAJOR 0
#define VOLT_VERSION_MINOR 1
#define VOLT_VERSION_PATCH 0
#define VOLT_VERSION_STRING "0.1.0"

/* "0.1.0": the version of the library actually linked. */
const char *volt_version(void);

/* ---------------------------------------------------------------- status */

typedef enum {
    VOLT_OK = 0,
    VOLT_ERR_INVALID_ARGUMENT, /* a NULL, a negative size, a bad option */
    VOLT_ERR_SHAPE,            /* shapes that do not fit together */
    VOLT_ERR_DTYPE,            /* a dtype the operation does not take */
    VOLT_ERR_DEVICE,           /* tensors on two devices, an absent device */
    VOLT_ERR_OUT_OF_MEMORY,
    VOLT_ERR_IO,          /* a file or system call failed */
    VOLT_ERR_FORMAT,      /* a file's contents are not what they claim */
    VOLT_ERR_STATE,       /* a call in the wrong state (backward twice, ...) */
    VOLT_ERR_UNSUPPORTED, /* valid, but not implemented for these arguments */
    VOLT_ERR_INTERNAL,    /* volt's own bug */
} volt_status;

/* The message of the first error recorded on this thread since the last
 * volt_error_clear(), e.g. "volt: matmul: [64,784] @ [512,10]: inner
 * dimensions differ (784 vs 512)"; "" when there is none. Never NULL. */
const char *volt_error_message(void);
/* The status of that error; VOLT_OK when there is none. */
volt_status volt_error_status(void);
/* Forgets this thread's error. */
void volt_error_clear(void);
/* Records an error (printf-style, prefixed with "volt: ") unless one is
 * already recorded; returns `status`. For volt's layers and for extensions. */
volt_status volt_error_set(volt_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Name of a status, e.g. "VOLT_ERR_SHAPE". */
const char *volt_status_name(volt_status status);

/* Always-on check of volt's own invariants (never of user input): prints the
 * file, line and condition, then aborts. */
#define VOLT_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) volt_assert_fail(__FILE__, __LINE__, #cond);                                  \
    } while (0)
_Noreturn void volt_assert_fail(const char *file, int line, const char *cond);

/* ---------------------------------------------------------------- dtypes */

typedef enum {
    VOLT_F32 = 0,
    VOLT_F64,
    VOLT_BF16,
    VOLT_F16,
    VOLT_I64,
    VOLT_I32,
    VOLT_U8,
    VOLT_BOOL,
    VOLT_DTYPE_COUNT
} volt_dtype;

size_t volt_dtype_size(volt_dtype dtype);      /* bytes per element; 0 if invalid */
const char *volt_dtype_name(volt_dtype dtype); /* "f32", "bf16", ...; "?" if invalid */
bool volt_dtype_is_float(volt_dtype dtype);    /* f32, f64, bf16, f16 */
bool volt_dtype_is_16bit(volt_dtype dtype);    /* bf16, f16 */
bool volt_dtype_is_valid(volt_dtype dtype);

/* Conversions with round-to-nearest-even (NaN stays NaN, overflow to inf). */
uint16_t volt_f32_to_bf16(float x);
float volt_bf16_to_f32(uint16_t x);
uint16_t volt_f32_to_f16(float x);
float volt_f16_to_f32(uint16_t x);

/* --------------------------------------------------------------- devices */

typedef enum { VOLT_CPU = 0, VOLT_CUDA = 1 } volt_device_type;

typedef struct {
    volt_device_type type;
    int index;
} volt_device;

#define VOLT_DEVICE_CPU ((volt_device){VOLT_CPU, 0})

bool volt_device_equal(volt_device a, volt_device b);
/* Records VOLT_ERR_DEVICE and returns it unless `device` exists in this
 * build and on this machine: "cuda:0: no CUDA device is available
 * (cudaGetDeviceCount: <reason>)", "cuda:3: this machine has 1 CUDA device
 * (cuda:0)", or "cuda:0: this build of volt has no CUDA backend". */
volt_status volt_device_check(volt_device device);
/* Writes "cpu" or "cuda:1" into buf (always terminated); returns buf. */
char *volt_device_str(volt_device device, char *buf, size_t size);

/* Whether this build of volt has the CUDA backend (configured with
 * VOLT_CUDA, the default where nvcc was found). */
bool volt_cuda_is_built(void);
/* The CUDA devices this process can use (asks the CUDA runtime once, at the
 * first call): 0 without the backend, a driver or a device. */
int volt_cuda_device_count(void);
/* volt_cuda_device_count() > 0. */
bool volt_cuda_is_available(void);
/* Waits until the work queued on cuda:device is done; reports a kernel's
 * failure (VOLT_ERR_DEVICE) or a bad device. */
volt_status volt_cuda_synchronize(int device);

/* ------------------------------------------------------------ allocators */

/* The CPU allocator: 64-byte aligned blocks in size classes, freed blocks kept
 * for reuse so that a steady-state training step does not call malloc. */
typedef struct {
    int64_t allocated_bytes; /* in live blocks (rounded to their class) */
    int64_t reserved_bytes;  /* live + cached */
    int64_t peak_allocated_bytes;
    int64_t n_system_allocs; /* calls that reached the system allocator */
    int64_t n_allocs;        /* all allocations */
} volt_memory_stats;

volt_memory_stats volt_cpu_memory_stats(void);
/* Starts a new peak: peak_allocated_bytes = allocated_bytes now. */
void volt_cpu_reset_peak_memory_stats(void);
/* Returns cached free blocks to the system. */
void volt_cpu_empty_cache(void);
/* Test hook: the n-th CPU allocation from now (1 = the next one) fails as if
 * out of memory; 0 switches the hook off. */
void volt_cpu_alloc_fail_after(int64_t n);

/* The CUDA caching allocator, one per device (like PyTorch's): requests
 * rounded to 512 bytes; up to 1 MiB carved from 2 MiB segments, larger ones
 * from segments rounded up to 2 MiB; blocks split and merged within their
 * segment; free blocks cached per stream. A steady-state training step
 * calls neither cudaMalloc nor cudaFree. When cudaMalloc fails, the cached
 * free segments are released and it is tried once more; then the
 * allocation fails with VOLT_ERR_OUT_OF_MEMORY, "cuda:0: out of memory
 * allocating 2.0 GiB (allocated 70.1 GiB, reserved 71.0 GiB)".
 * The stats of cuda:device: allocated_bytes (in live blocks, rounded),
 * reserved_bytes (in segments from cudaMalloc), peak_allocated_bytes,
 * n_system_allocs (cudaMalloc calls), n_allocs. A device that does not
 * exist records VOLT_ERR_DEVICE and gives zeros. */
volt_memory_stats volt_cuda_memory_stats(int device);
void volt_cuda_reset_peak_memory_stats(int device);
/* Returns every cached segment whose blocks are all free to the device
 * (cudaFree), on every device, and frees the cached pinned host blocks. */
void volt_cuda_empty_cache(void);
/* Test hook: on each device, the n-th CUDA allocation from now (1 = the
 * next one) fails as if out of memory; 0 switches the hook off. */
void volt_cuda_alloc_fail_after(int64_t n);

/* --------------------------------------------------------------- tensors */

#define VOLT_MAX_DIMS 8

typedef struct volt_storage volt_storage;
typedef struct volt_node volt_node;
typedef struct volt_tensor volt_tensor;

/* A tensor. Its fields are public for reading; change them only through the
 * API. Shape and strides are in elements; `offset` is the element offset of
 * element [0,...,0] in the storage. */
struct volt_tensor {
    volt_storage *storage;
    int64_t offset;
    int ndim;
    int64_t shape[VOLT_MAX_DIMS];
    int64_t strides[VOLT_MAX_DIMS];
    volt_dtype dtype;
    volt_device device;
    bool requires_grad;
    volt_tensor *grad;  /* leaf gradient, owned by the tensor; NULL until backward */
    volt_node *grad_fn; /* the node that produced it; NULL for leaves */
    /* private: */
    int32_t refcount;
    int32_t scope_depth; /* -1: owned by the caller */
    int64_t scope_slot;
    volt_node *grad_acc; /* accumulate-grad node of a leaf */
    struct volt_grad_hook *hooks;
};

/* Number of elements (1 for a 0-d tensor). */
int64_t volt_tensor_numel(const volt_tensor *t);
bool volt_tensor_is_contiguous(const volt_tensor *t);
/* Pointer to element [0,...,0] — device memory for a CUDA tensor, which
 * only CUDA code may dereference; NULL for a NULL tensor. */
void *volt_tensor_data(const volt_tensor *t);
/* Element access (get, get_flat, item, copy_to_array) works on every
 * device: a CUDA tensor's elements are copied to the host first, after the
 * work queued on its device (so it synchronises; not for inner loops). */
/* Reads one element, converted to double; `index` has t->ndim entries.
 * Returns NaN and records an error on a bad index. */
double volt_tensor_get(const volt_tensor *t, const int64_t *index);
/* Reads element i of the tensor in row-major order, converted to double. */
double volt_tensor_get_flat(const volt_tensor *t, int64_t i);
/* The value of a one-element tensor as a double (NaN + error otherwise). */
double volt_tensor_item(const volt_tensor *t);
/* Writes "f32[2,3]" into buf (always terminated); returns buf. */
char *volt_shape_str(const volt_tensor *t, char *buf, size_t size);
/* Copies the elements in row-major order, converted to `dtype`, into `out`
 * (room for numel elements). */
volt_status volt_tensor_copy_to_array(const volt_tensor *t, volt_dtype dtype, void *out);

/* A new tensor on `storage` (takes a reference) with the given geometry;
 * strides NULL means contiguous. Owned by the current scope. */
volt_tensor *volt_tensor_from_storage(volt_storage *storage, volt_dtype dtype, int ndim,
                                      const int64_t *shape, const int64_t *strides, int64_t offset);
/* A view of `t` with another geometry over the same storage (no autograd
 * recording: the ops layer wraps this). */
volt_tensor *volt_tensor_alias(const volt_tensor *t, int ndim, const int64_t *shape,
                               const int64_t *strides, int64_t offset);

/* Allocates an uninitialised contiguous tensor, owned by the current scope.
 * Records VOLT_ERR_OUT_OF_MEMORY / VOLT_ERR_INVALID_ARGUMENT and returns NULL
 * on failure. */
volt_tensor *volt_tensor_new(volt_dtype dtype, volt_device device, int ndim, const int64_t *shape);

/* Storage: a reference-counted block of device memory. */
volt_storage *volt_storage_new(volt_device device, size_t nbytes);
/* Storage over memory volt does not own (a memory-mapped file, a user's
 * array): `release(data, ctx)` is called when the last reference goes; it may
 * be NULL. */
volt_storage *volt_storage_wrap(volt_device device, void *data, size_t nbytes,
                                void (*release)(void *data, void *ctx), void *ctx);
void volt_storage_retain(volt_storage *s);
void volt_storage_release(volt_storage *s);
void *volt_storage_data(const volt_storage *s);
size_t volt_storage_nbytes(const volt_storage *s);
/* The version counter, bumped by every in-place write (autograd checks it). */
uint64_t volt_storage_version(const volt_storage *s);
void volt_storage_bump_version(volt_storage *s);

/* ---------------------------------------------------------------- scopes */

/* Opens a scope on this thread's stack. */
void volt_scope_begin(void);
/* Frees (releases) every tensor the innermost scope owns, then closes it.
 * Records VOLT_ERR_STATE if no scope is open. */
void volt_scope_end(void);
/* Number of open scopes on this thread. */
int volt_scope_depth(void);
/* Hands `t` from the scope that owns it to the enclosing scope (or to the
 * caller when it is the outermost scope); returns t. */
volt_tensor *volt_keep(volt_tensor *t);
/* Takes `t` out of its scope: the caller now owns it and frees it with
 * volt_tensor_free(); returns t. */
volt_tensor *volt_persist(volt_tensor *t);
/* Frees a tensor the caller owns (or drops it from its scope now). Its
 * storage lives on while other views or saved graph nodes use it. */
void volt_tensor_free(volt_tensor *t);

/* torch's `t.data = src`: leaf t takes src's storage (shared, not copied),
 * offset, shape, strides, dtype and device, and drops its gradient; t keeps
 * its identity (what holds t — a module, an optimizer — sees the new data)
 * and requires_grad. For moving parameters between devices. Refused with
 * VOLT_ERR_STATE for a t that has a grad_fn (not a leaf). */
volt_status volt_tensor_set_data(volt_tensor *t, const volt_tensor *src);

/* Internal reference counting (autograd, containers). */
volt_tensor *volt_tensor_retain(volt_tensor *t);
void volt_tensor_release(volt_tensor *t);

/* ------------------------------------------------------------ randomness */

/* Philox-4x32-10: a counter-based generator. A stream of random numbers is
 * keyed by (seed, stream); `counter` counts the 128-bit blocks drawn. The
 * same (seed, stream, counter) gives the same numbers on every device and
 * thread count. */
typedef struct {
    uint64_t seed;
    uint64_t stream;
    uint64_t counter;
} volt_generator;

/* One Philox-4x32-10 block: key (2 words) and counter (4 words) -> 4 words. */
void volt_philox4x32(const uint32_t key[2], const uint32_t counter[4], uint32_t out[4]);

volt_generator volt_generator_make(uint64_t seed, uint64_t stream);
/* Draws one block of four 32-bit words and advances the counter. */
void volt_generator_next4(volt_generator *g, uint32_t out[4]);
/* Reserves `n_blocks` consecutive blocks; returns the first counter. Kernels
 * then compute block (first + i) independently, in any order or thread. */
uint64_t volt_generator_reserve(volt_generator *g, uint64_t n_blocks);
/* Uniform [0, 1) from a 32-bit word (24 random bits). */
float volt_uniform_from_u32(uint32_t x);
/* Uniform [0, 1) double from two 32-bit words (53 random bits). */
double volt_uniform_from_u64(uint32_t hi, uint32_t lo);

/* The process's default generator (seed 0 until volt_seed_everything).
 * Random ops reserve their blocks from it atomically. */
volt_generator *volt_default_generator(void);
/* Resets the default generator to (seed, stream 0, counter 0) and remembers
 * the seed for the layers that key their own streams by it (data loaders). */
void volt_seed_everything(uint64_t seed);
uint64_t volt_global_seed(void);

/* --------------------------------------------------------------- threads */

/* Sets the number of threads CPU kernels and OpenBLAS use (>= 1). */
volt_status volt_set_num_threads(int n);
/* The current count: VOLT_NUM_THREADS if set at first use, else the number of
 * cores, unless volt_set_num_threads changed it. */
int volt_get_num_threads(void);

/* NULL when OpenBLAS (which computes volt's f64 products and its f32 ones
 * with a short inner dimension) runs kernels fit for this CPU; else what is
 * wrong and the OPENBLAS_CORETYPE to export, e.g. "OpenBLAS runs its generic
 * Prescott kernels on this CPU, which has AVX-512 (...): ... export
 * OPENBLAS_CORETYPE=SkylakeX before starting the program". OpenBLAS picks
 * its kernels when it loads, so only the environment can change them. The
 * trainer prints it as a warning when fit starts (rank 0, once per
 * process). Thread-safe; the text is static. */
const char *volt_blas_advice(void);

/* Monotonic wall-clock time in seconds. */
double volt_time_now(void);

/* ------------------------------------------------------------ op tracing */

/* The profiler's seam into the ops layer: while a hook is installed on a
 * thread, the heavy ops that thread runs (matmul and its kin, convolution,
 * pooling, norms, softmax, losses, reductions, element-wise arithmetic and
 * activations, forward and backward alike) call begin(ctx, name) before their
 * work and end(ctx) after it, properly nested; `name` is a string literal
 * ("matmul", "conv2d", "add", ...). Ops on other threads (data-loader workers)
 * are not reported. With no hook installed anywhere an op pays one load and
 * one predictable branch. */
typedef struct {
    void (*begin)(void *ctx, const char *name);
    void (*end)(void *ctx);
    void *ctx;
} volt_trace_hook;
/* Installs `hook` (borrowed: it must outlive its installation) for the
 * calling thread; NULL removes it. Returns the hook it replaces (NULL: none),
 * so nested users can restore it. */
const volt_trace_hook *volt_trace_hook_set(const volt_trace_hook *hook);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_CORE_H */
