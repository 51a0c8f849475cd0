/* block_pool.c: the caching allocator's pool (block_pool.h) — segments from
 * a backend carved into blocks by best fit and splitting, merged back when
 * freed, free lists per (stream, small/large), statistics, the
 * out-of-memory retry and the fail-after-N hook. Free lists are sorted
 * linked lists: a training step caches tens to hundreds of blocks, where a
 * walk costs less than a cudaMalloc by orders of magnitude. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/block_pool.h"

typedef struct {
    void *stream;
    volt_pool_block *free[2]; /* [0] small, [1] large: by size, then address */
} stream_lists;

struct volt_block_pool {
    pthread_mutex_t lock;
    char name[32];
    volt_pool_backend backend;
    stream_lists *streams;
    int n_streams, cap_streams;
    volt_pool_block *segments; /* their first blocks, linked by seg_next */
    volt_pool_block *spare;    /* unused block structs, linked by free_next */
    volt_memory_stats stats;
    int64_t fail_countdown;
};

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* --------------------------------------------------------- block structs */

static volt_pool_block *block_new(volt_block_pool *p) {
    volt_pool_block *b = p->spare;
    if (b)
        p->spare = b->free_next;
    else
        b = malloc(sizeof *b);
    if (b) memset(b, 0, sizeof *b);
    return b;
}

static void block_recycle(volt_block_pool *p, volt_pool_block *b) {
    b->free_next = p->spare;
    p->spare = b;
}

/* ------------------------------------------------------------ free lists */

static stream_lists *lists_of(volt_block_pool *p, void *stream, bool create) {
    for (int i = 0; i < p->n_streams; i++)
        if (p->streams[i].stream == stream) return &p->streams[i];
    if (!create) return NULL;
    if (p->n_streams == p->cap_streams) {
        int cap = p->cap_streams ? 2 * p->cap_streams : 4;
        stream_lists *s = realloc(p->streams, (size_t)cap * sizeof *s);
        if (!s) return NULL;
        p->streams = s;
        p->cap_streams = cap;
    }
    stream_lists *l = &p->streams[p->n_streams++];
    *l = (stream_lists){.stream = stream};
    return l;
}

static volt_pool_block **list_head(volt_block_pool *p, const volt_pool_block *b) {
    stream_lists *l = lists_of(p, b->stream, false);
    VOLT_ASSERT(l != NULL);
    return &l->free[b->small ? 0 : 1];
}

static bool sorts_before(const volt_pool_block *a, const volt_pool_block *b) {
    return a->size < b->size || (a->size == b->size && (uintptr_t)a->ptr < (uintptr_t)b->ptr);
}

static void list_insert(volt_block_pool *p, volt_pool_block *b) {
    volt_pool_block **head = list_head(p, b);
    volt_pool_block *prev = NULL, *cur = *head;
    while (cur && sorts_before(cur, b)) {
        prev = cur;
        cur = cur->free_next;
    }
    b->free_prev = prev;
    b->free_next = cur;
    if (cur) cur->free_prev = b;
    if (prev)
        prev->free_next = b;
    else
        *head = b;
}

static void list_remove(volt_block_pool *p, volt_pool_block *b) {
    if (b->free_prev)
        b->free_prev->free_next = b->free_next;
    else
        *list_head(p, b) = b->free_next;
    if (b->free_next) b->free_next->free_prev = b->free_prev;
    b->free_prev = b->free_next = NULL;
}

/* The smallest free block of at least size bytes (best fit), or NULL. */
static volt_pool_block *best_fit(const stream_lists *l, bool small, size_t size) {
    for (volt_pool_block *b = l->free[small ? 0 : 1]; b; b = b->free_next)
        if (b->size >= size) return b;
    return NULL;
}

/* -------------------------------------------------------------- segments */

static void segment_link(volt_block_pool *p, volt_pool_block *first) {
    first->seg_prev = NULL;
    first->seg_next = p->segments;
    if (p->segments) p->segments->seg_prev = first;
    p->segments = first;
}

static void segment_unlink(volt_block_pool *p, volt_pool_block *first) {
    if (first->seg_prev)
        first->seg_prev->seg_next = first->seg_next;
    else
        p->segments = first->seg_next;
    if (first->seg_next) first->seg_next->seg_prev = first->seg_prev;
}

/* Gives every segment that is one free block back to the backend. */
static int64_t release_cached(volt_block_pool *p) {
    int64_t freed = 0;
    volt_pool_block *b = p->segments;
    while (b) {
        volt_pool_block *next = b->seg_next;
        if (!b->allocated && !b->next) {
            list_remove(p, b);
            segment_unlink(p, b);
            p->backend.segment_free(p->backend.ctx, b->ptr, b->size);
            p->stats.reserved_bytes -= (int64_t)b->size;
            freed += (int64_t)b->size;
            block_recycle(p, b);
        }
        b = next;
    }
    return freed;
}

/* A new segment for a request of `size` bytes, as one free block (in no
 * list); when the backend has no memory, the cache is given back and the
 * backend asked once more. NULL when that fails too. */
static volt_pool_block *segment_new(volt_block_pool *p, size_t size, bool small, void *stream) {
    size_t bytes = small ? VOLT_POOL_SMALL_SEGMENT : round_up(size, VOLT_POOL_LARGE_ROUND);
    volt_pool_block *b = block_new(p);
    if (!b) return NULL;
    void *ptr = p->backend.segment_alloc(p->backend.ctx, bytes);
    if (!ptr && release_cached(p) > 0) ptr = p->backend.segment_alloc(p->backend.ctx, bytes);
    if (!ptr) {
        block_recycle(p, b);
        return NULL;
    }
    *b = (volt_pool_block){.ptr = ptr, .size = bytes, .stream = stream, .pool = p, .small = small};
    segment_link(p, b);
    p->stats.reserved_bytes += (int64_t)bytes;
    p->stats.n_system_allocs++;
    return b;
}

/* --------------------------------------------------------------- blocks */

/* Whether the rest of b after `size` bytes is worth a block of its own. */
static bool worth_splitting(const volt_pool_block *b, size_t size) {
    size_t rest = b->size - size;
    return b->small ? rest >= VOLT_POOL_ROUND : rest > VOLT_POOL_SMALL_LIMIT;
}

/* Cuts b to size bytes; the rest becomes a free block after it (b stays
 * whole when there is no memory for the rest's struct). */
static void split(volt_block_pool *p, volt_pool_block *b, size_t size) {
    volt_pool_block *rest = block_new(p);
    if (!rest) return;
    *rest = (volt_pool_block){.ptr = (char *)b->ptr + size,
                              .size = b->size - size,
                              .stream = b->stream,
                              .pool = p,
                              .prev = b,
                              .next = b->next,
                              .small = b->small};
    if (b->next) b->next->prev = rest;
    b->next = rest;
    b->size = size;
    list_insert(p, rest);
}

static volt_pool_block *take(volt_block_pool *p, size_t size, void *stream) {
    bool small = size <= VOLT_POOL_SMALL_LIMIT;
    stream_lists *l = lists_of(p, stream, true);
    if (!l) return NULL;
    volt_pool_block *b = best_fit(l, small, size);
    if (b)
        list_remove(p, b);
    else if (!(b = segment_new(p, size, small, stream)))
        return NULL;
    if (worth_splitting(b, size)) split(p, b, size);
    b->allocated = true;
    return b;
}

static void oom_error(volt_block_pool *p, size_t nbytes) {
    char want[32], allocated[32], reserved[32];
    volt_error_set(
        VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory allocating %s (allocated %s, reserved %s)",
        p->name,
        volt_format_bytes((int64_t)(nbytes > INT64_MAX ? INT64_MAX : nbytes), want, sizeof want),
        volt_format_bytes(p->stats.allocated_bytes, allocated, sizeof allocated),
        volt_format_bytes(p->stats.reserved_bytes, reserved, sizeof reserved));
}

volt_pool_block *volt_block_pool_alloc(volt_block_pool *p, size_t nbytes, void *stream) {
    pthread_mutex_lock(&p->lock);
    volt_pool_block *b = NULL;
    bool hooked = p->fail_countdown > 0 && --p->fail_countdown == 0;
    if (!hooked && nbytes <= SIZE_MAX / 2)
        b = take(p, round_up(nbytes ? nbytes : 1, VOLT_POOL_ROUND), stream);
    if (b) {
        p->stats.n_allocs++;
        p->stats.allocated_bytes += (int64_t)b->size;
        if (p->stats.allocated_bytes > p->stats.peak_allocated_bytes)
            p->stats.peak_allocated_bytes = p->stats.allocated_bytes;
    } else {
        oom_error(p, nbytes);
    }
    pthread_mutex_unlock(&p->lock);
    return b;
}

void volt_block_pool_release(volt_pool_block *b) {
    if (!b) return;
    volt_block_pool *p = b->pool;
    pthread_mutex_lock(&p->lock);
    VOLT_ASSERT(b->allocated);
    b->allocated = false;
    p->stats.allocated_bytes -= (int64_t)b->size;
    volt_pool_block *n = b->next;
    if (n && !n->allocated) { /* b absorbs its free successor */
        list_remove(p, n);
        b->size += n->size;
        b->next = n->next;
        if (n->next) n->next->prev = b;
        block_recycle(p, n);
    }
    volt_pool_block *q = b->prev;
    if (q && !q->allocated) { /* its free predecessor absorbs b */
        list_remove(p, q);
        q->size += b->size;
        q->next = b->next;
        if (b->next) b->next->prev = q;
        block_recycle(p, b);
        b = q;
    }
    list_insert(p, b);
    pthread_mutex_unlock(&p->lock);
}

/* ------------------------------------------------------------ the pool */

volt_block_pool *volt_block_pool_new(const char *name, volt_pool_backend backend) {
    volt_block_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->lock, NULL);
    snprintf(p->name, sizeof p->name, "%s", name ? name : "pool");
    p->backend = backend;
    return p;
}

void volt_block_pool_free(volt_block_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    release_cached(p);
    pthread_mutex_unlock(&p->lock);
    while (p->spare) {
        volt_pool_block *next = p->spare->free_next;
        free(p->spare);
        p->spare = next;
    }
    free(p->streams);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

volt_memory_stats volt_block_pool_stats(volt_block_pool *p) {
    pthread_mutex_lock(&p->lock);
    volt_memory_stats s = p->stats;
    pthread_mutex_unlock(&p->lock);
    return s;
}

void volt_block_pool_reset_peak(volt_block_pool *p) {
    pthread_mutex_lock(&p->lock);
    p->stats.peak_allocated_bytes = p->stats.allocated_bytes;
    pthread_mutex_unlock(&p->lock);
}

int64_t volt_block_pool_empty_cache(volt_block_pool *p) {
    pthread_mutex_lock(&p->lock);
    int64_t freed = release_cached(p);
    pthread_mutex_unlock(&p->lock);
    return freed;
}

void volt_block_pool_fail_after(volt_block_pool *p, int64_t n) {
    pthread_mutex_lock(&p->lock);
    p->fail_countdown = n > 0 ? n : 0;
    pthread_mutex_unlock(&p->lock);
}

char *volt_format_bytes(int64_t bytes, char *buf, size_t size) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, size, "%lld B", (long long)bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = -1;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

/* --------------------------------------------------------- invariants */

/* Checks one segment (first block `first`); adds its bytes to the totals. */
static bool check_segment(const volt_pool_block *first, int64_t *reserved, int64_t *allocated,
                          int64_t *n_free, char *why, size_t size) {
    if (first->prev) return snprintf(why, size, "a segment's first block has a predecessor"), false;
    for (const volt_pool_block *b = first; b; b = b->next) {
        *reserved += (int64_t)b->size;
        if (b->allocated)
            *allocated += (int64_t)b->size;
        else
            (*n_free)++;
        if (b->size == 0 || b->size % VOLT_POOL_ROUND)
            return snprintf(why, size, "a block of %zu bytes", b->size), false;
        if (!b->next) continue;
        if ((char *)b->ptr + b->size != b->next->ptr || b->next->prev != b)
            return snprintf(why, size, "blocks of a segment are not adjacent"), false;
        if (b->next->stream != b->stream || b->next->small != b->small)
            return snprintf(why, size, "a segment's blocks differ in stream or kind"), false;
        if (!b->allocated && !b->next->allocated)
            return snprintf(why, size, "two free neighbours were not merged"), false;
    }
    return true;
}

/* Checks the free lists: sorted, free blocks of the right stream and kind. */
static bool check_lists(const volt_block_pool *p, int64_t *n_listed, char *why, size_t size) {
    for (int i = 0; i < p->n_streams; i++) {
        for (int k = 0; k < 2; k++) {
            const volt_pool_block *prev = NULL;
            for (const volt_pool_block *b = p->streams[i].free[k]; b; b = b->free_next) {
                (*n_listed)++;
                if (b->allocated || b->stream != p->streams[i].stream || b->small != (k == 0))
                    return snprintf(why, size, "a listed block is in the wrong list"), false;
                if (b->free_prev != prev || (prev && !sorts_before(prev, b)))
                    return snprintf(why, size, "a free list is not sorted"), false;
                prev = b;
            }
        }
    }
    return true;
}

bool volt_block_pool_check(volt_block_pool *p, char *why, size_t why_size, int64_t *n_free_blocks) {
    pthread_mutex_lock(&p->lock);
    int64_t reserved = 0, allocated = 0, n_free = 0, n_listed = 0;
    bool ok = true;
    for (const volt_pool_block *s = p->segments; ok && s; s = s->seg_next)
        ok = check_segment(s, &reserved, &allocated, &n_free, why, why_size);
    if (ok) ok = check_lists(p, &n_listed, why, why_size);
    if (ok && n_listed != n_free) {
        snprintf(why, why_size, "%lld free blocks, %lld listed", (long long)n_free,
                 (long long)n_listed);
        ok = false;
    }
    if (ok && (reserved != p->stats.reserved_bytes || allocated != p->stats.allocated_bytes)) {
        snprintf(why, why_size, "stats say %lld allocated, %lld reserved; blocks %lld, %lld",
                 (long long)p->stats.allocated_bytes, (long long)p->stats.reserved_bytes,
                 (long long)allocated, (long long)reserved);
        ok = false;
    }
    if (n_free_blocks) *n_free_blocks = n_free;
    pthread_mutex_unlock(&p->lock);
    return ok;
}
