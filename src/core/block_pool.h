/* block_pool.h: the logic of the CUDA caching allocator, apart from CUDA:
 * blocks carved from segments that a backend allocates (cudaMalloc for a
 * GPU, host memory in the tests), so that it runs and is tested on any
 * machine.
 *
 *   - Requests are rounded up to 512 bytes. Requests up to 1 MiB ("small")
 *     are carved from 2 MiB segments; larger ones from segments of their size
 *     rounded up to 2 MiB. Small and large blocks never share a segment.
 *   - A request takes the smallest cached free block that fits (best fit),
 *     split when the rest is worth keeping (>= 512 bytes of a small segment,
 *     > 1 MiB of a large one); the rest stays free for later requests.
 *   - A freed block merges with its free neighbours in the segment, so a
 *     segment whose blocks are all free is one free block again.
 *   - Free blocks are listed per stream: a block made for stream S is only
 *     reused for S, where the work queued on it is ordered before the new
 *     use (a segment belongs to the stream it was made for).
 *   - When the backend has no memory for a new segment, the pool gives back
 *     every cached free segment and asks once more; then the request fails
 *     with "<name>: out of memory allocating 2.0 GiB (allocated 70.1 GiB,
 *     reserved 71.0 GiB)".
 * A repeated pattern of requests therefore settles: after its first round
 * the backend is not called again. Thread-safe (one mutex per pool). */
#ifndef VOLT_BLOCK_POOL_H
#define VOLT_BLOCK_POOL_H

#include "core/core_impl.h"

#define VOLT_POOL_ROUND ((size_t)512)
#define VOLT_POOL_SMALL_LIMIT ((size_t)1 << 20)   /* largest small request */
#define VOLT_POOL_SMALL_SEGMENT ((size_t)2 << 20) /* small requests' segments */
#define VOLT_POOL_LARGE_ROUND ((size_t)2 << 20)   /* large segments: multiples of this */

typedef struct {
    /* A new segment of nbytes; NULL when out of memory (or with an error
     * recorded, which then stays the first error). */
    void *(*segment_alloc)(void *ctx, size_t nbytes);
    void (*segment_free)(void *ctx, void *ptr, size_t nbytes);
    void *ctx;
} volt_pool_backend;

typedef struct volt_block_pool volt_block_pool;

/* A block handed out: read its fields, never change them. */
typedef struct volt_pool_block {
    void *ptr;
    size_t size;  /* rounded; what the stats count */
    void *stream; /* the stream it was made for */
    volt_block_pool *pool;
    /* private: */
    struct volt_pool_block *prev, *next;           /* neighbours in the segment */
    struct volt_pool_block *free_prev, *free_next; /* its free list (when free) */
    struct volt_pool_block *seg_prev, *seg_next;   /* the pool's segments (first blocks) */
    bool allocated, small;
} volt_pool_block;

/* A pool named `name` in its messages ("cuda:0"); NULL when out of memory. */
volt_block_pool *volt_block_pool_new(const char *name, volt_pool_backend backend);
/* Returns the cached segments to the backend and frees the pool; blocks
 * still handed out are leaked (their segments stay with the backend). */
void volt_block_pool_free(volt_block_pool *pool);

/* A block of at least nbytes for `stream`; NULL with VOLT_ERR_OUT_OF_MEMORY
 * recorded (see above). */
volt_pool_block *volt_block_pool_alloc(volt_block_pool *pool, size_t nbytes, void *stream);
/* Gives a block back to its pool (to its stream's free list). */
void volt_block_pool_release(volt_pool_block *block);

/* allocated_bytes (in blocks handed out), reserved_bytes (in segments),
 * peak_allocated_bytes, n_system_allocs (segments made by the backend),
 * n_allocs (requests served). */
volt_memory_stats volt_block_pool_stats(volt_block_pool *pool);
void volt_block_pool_reset_peak(volt_block_pool *pool);
/* Returns every cached segment whose blocks are all free to the backend;
 * returns the bytes given back. */
int64_t volt_block_pool_empty_cache(volt_block_pool *pool);
/* Test hook: the n-th request from now (1: the next) fails as if out of
 * memory, without asking the backend; 0 switches it off. */
void volt_block_pool_fail_after(volt_block_pool *pool, int64_t n);

/* Checks the pool's invariants (blocks tile their segments, free lists
 * sorted and holding exactly the free blocks, the stats match); false with
 * a description in why (for tests). Also counts the free blocks cached. */
bool volt_block_pool_check(volt_block_pool *pool, char *why, size_t why_size,
                           int64_t *n_free_blocks);

/* "512 B", "1.5 KiB", "2.0 GiB" into buf; returns buf. */
char *volt_format_bytes(int64_t bytes, char *buf, size_t size);

#endif
