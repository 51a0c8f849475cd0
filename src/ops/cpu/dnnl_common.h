/* dnnl_common.h: the oneDNN glue shared by convolution, pooling and matmul
 * (DESIGN.md §7: oneDNN 2.x C API, v2 style — dnnl_*_desc_init +
 * dnnl_primitive_desc_create). One CPU engine and one stream, created once;
 * a small LRU cache of primitives keyed by (kind, shapes, parameters, thread
 * count) so a training step reuses them; reorders between memory layouts;
 * scratch memory from volt's CPU allocator; the check macro that turns a
 * failed oneDNN call into a volt error.
 *
 * Locking: the cache, the stream and every primitive run under one mutex —
 * take it with volt_dnnl_lock() around a whole op (lookups and executions),
 * release it with volt_dnnl_unlock(). oneDNN parallelises each primitive
 * itself (OpenMP), with volt_get_num_threads() threads, unless the caller
 * splits a problem into single-thread parts (volt_dnnl_execute_parts). */
#ifndef VOLT_DNNL_COMMON_H
#define VOLT_DNNL_COMMON_H

#include <oneapi/dnnl/dnnl.h>

#include "ops/ops_impl.h"

/* Records "dnnl: <call> failed: <status> (file:line)" and returns false when
 * status is not dnnl_success. */
bool volt_dnnl_check(dnnl_status_t status, const char *call, const char *file, int line);
#define VOLT_DNNL_CHECK(call) volt_dnnl_check((call), #call, __FILE__, __LINE__)
/* "dnnl_invalid_arguments", ... */
const char *volt_dnnl_status_name(dnnl_status_t status);

/* Whether f32 conv, pooling and batch norm run their fast kernels (oneDNN;
 * batch norm's own) — true unless switched off, e.g. by tests that compare
 * them with the reference kernels; process-wide. */
bool volt_fast_kernels_enabled(void);
void volt_set_fast_kernels(bool enabled);

/* Whether oneDNN runs bf16 primitives on bf16 instructions here (its
 * effective ISA, capped by ONEDNN_MAX_CPU_ISA, has AVX-512-BF16; AMX
 * includes it). */
bool volt_dnnl_has_bf16(void);
/* Whether that ISA has AMX's bf16 tiles (oneDNN's fastest bf16 kernels). */
bool volt_dnnl_has_amx(void);

/* Takes the glue's mutex, creating the engine and stream on first use, and
 * makes this thread's OpenMP team size volt_get_num_threads(). false (error
 * recorded, lock not held) if the engine cannot be created. */
bool volt_dnnl_lock(void);
void volt_dnnl_unlock(void);
/* Lowers the team size of the primitives this thread creates and runs
 * next to `threads` (lock held): for problems too small to pay for waking
 * more threads (ops/cpu/parallel.h); the cache keys primitives by team
 * size. Returns the team size before, which the caller gives back to
 * volt_dnnl_restore_threads when done (OpenBLAS, and the caller's own
 * OpenMP code, read the same setting). */
int volt_dnnl_limit_threads(int threads);
void volt_dnnl_restore_threads(int team);

/* Arguments of one primitive execution, at most. */
#define VOLT_DNNL_MAX_ARGS 12

/* A cached primitive and its descriptor (owned by the cache; valid while the
 * lock is held), with the oneDNN memory objects of its last execution
 * (argument ids in mem_arg; NULL: none), which volt_dnnl_execute points at
 * new data instead of creating new ones. */
typedef struct {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t *mem; /* VOLT_DNNL_MAX_ARGS entries */
    int *mem_arg;
} volt_dnnl_prim;

/* Creates the primitive descriptor for a cache miss. Return dnnl_unimplemented
 * or dnnl_invalid_arguments (without recording an error) when oneDNN does not
 * take this problem: the caller then falls back to the reference kernel. */
typedef dnnl_status_t (*volt_dnnl_make_pd_fn)(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                              void *ctx);

/* Key of a cached primitive: what it computes, on which sizes. `kind` tells
 * the families apart; p[] holds their sizes and parameters (unused entries
 * zero). The thread count is added by the cache. */
#define VOLT_DNNL_KEY_PARAMS 24
typedef struct {
    int32_t kind;
    int32_t n_threads;
    int64_t p[VOLT_DNNL_KEY_PARAMS];
} volt_dnnl_key;

/* The primitive for key (lock held): a hit, or a new one made with make(ctx).
 * Returns NULL with *unsupported = true and no error when make says oneDNN
 * has no implementation, NULL with an error on a failure. */
const volt_dnnl_prim *volt_dnnl_cache_get(volt_dnnl_key *key, volt_dnnl_make_pd_fn make, void *ctx,
                                          bool *unsupported);
/* Primitives created since the process started (cache misses, reorders
 * included): tests use it to see a second call reuse the first's. */
int64_t volt_dnnl_primitives_created(void);
/* volt_dnnl_execute_parts calls (parallel regions of split products) since
 * the process started: tests use it to see two products share one. */
int64_t volt_dnnl_part_regions(void);

/* A memory descriptor of a contiguous f32 tensor of this shape (row-major,
 * ndim <= 5). */
bool volt_dnnl_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *shape);
/* A memory descriptor of data_type with these dims and element strides. */
bool volt_dnnl_md_strided(dnnl_memory_desc_t *md, int ndim, const int64_t *shape,
                          const int64_t *strides, dnnl_data_type_t data_type);
/* The descriptor of argument `what` (dnnl_query_src_md, ...; index 1 of
 * dnnl_query_weights_md is the bias) of p. */
const dnnl_memory_desc_t *volt_dnnl_query_md(const volt_dnnl_prim *p, dnnl_query_t what, int index);
/* true when a and b describe the same layout. */
bool volt_dnnl_md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);

/* Runs p with n arguments (at most VOLT_DNNL_MAX_ARGS): arg ids, their
 * descriptors and data pointers, reusing p's memory objects where an
 * argument keeps its descriptor. false with an error on failure. */
bool volt_dnnl_execute(const volt_dnnl_prim *p, int n, const int *args,
                       const dnnl_memory_desc_t *const *mds, void *const *data);

/* One execution for volt_dnnl_execute_parts: a primitive created for one
 * thread and its arguments, as volt_dnnl_execute takes them. */
typedef struct {
    const volt_dnnl_prim *p;
    int n;
    const int *args;
    const dnnl_memory_desc_t *const *mds;
    void *const *data;
} volt_dnnl_part;
/* Parts of problems split by the caller (disjoint outputs), at most
 * VOLT_DNNL_MAX_PARTS, run in one OpenMP region of `team` threads (1 <=
 * team <= n_parts): part i on thread i % team, in order of i, the calling
 * thread being thread 0; each on a stream of its own (lock held; the parts
 * must be distinct primitives: a primitive's memory objects are shared by
 * its executions). For a split the caller chooses itself, e.g. a larger
 * share for the calling thread, which starts at once while the others
 * wake, or two independent products in one region. false with an error on
 * failure. */
#define VOLT_DNNL_MAX_PARTS 64
bool volt_dnnl_execute_parts(const volt_dnnl_part *parts, int n_parts, int team);
/* Copies src laid out as `from` into dst laid out as `to` (a cached reorder
 * primitive; lock held), on as many threads as the copy pays for
 * (volt_cpu_threads_for_bytes), at most the current team size. */
bool volt_dnnl_reorder(const dnnl_memory_desc_t *from, const void *src,
                       const dnnl_memory_desc_t *to, void *dst);

/* Data in the layout `want`: `data` itself when `have` is that layout,
 * otherwise a scratch buffer (volt_dnnl_scratch_free) holding the reorder.
 * *scratch receives the buffer to free (NULL when none). NULL on failure. */
void *volt_dnnl_as_layout(const dnnl_memory_desc_t *have, const void *data,
                          const dnnl_memory_desc_t *want, void **scratch);
/* Where a primitive writes an output that volt keeps in layout `have` at
 * `data`: data itself when the primitive's layout `want` is the same,
 * otherwise a scratch buffer (*scratch) that volt_dnnl_output_finish
 * reorders into data and frees. NULL on failure. */
void *volt_dnnl_output(const dnnl_memory_desc_t *want, const dnnl_memory_desc_t *have, void *data,
                       void **scratch);
bool volt_dnnl_output_finish(const dnnl_memory_desc_t *want, void *scratch,
                             const dnnl_memory_desc_t *have, void *data);
/* Scratch memory for one op (64-byte aligned, from volt's CPU allocator);
 * NULL with an out-of-memory error. */
void *volt_dnnl_scratch(size_t nbytes);
void volt_dnnl_scratch_free(void *p);

#endif
