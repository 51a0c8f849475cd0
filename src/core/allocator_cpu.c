/* allocator_cpu.c: the CPU allocator — 64-byte aligned blocks rounded up to
 * size classes (four per power of two, so at most 25% is wasted), freed blocks
 * cached per class for reuse, statistics, and a fail-after-N test hook. A
 * request whose class has no cached block takes a cached one of the next
 * classes up to twice its size before it asks the system, so that a smaller
 * batch (the last one of an epoch) reuses the blocks of the full ones instead
 * of reserving a second set; the block keeps its class. Large blocks (1 MiB
 * and more) are mapped directly, and a large request that must be mapped
 * first unmaps cached large blocks too small to serve it (up to its size):
 * the forward pass's activations that backward's larger gradients cannot
 * use. Smaller requests never give back larger blocks, so a repeated pattern
 * of sizes settles and its steady state maps nothing. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "core/core_impl.h"

#define ALIGNMENT 64
#define N_CLASSES 240
#define BLOCK_MAGIC 0x766f6c74u /* "volt" */
/* A miss may take a block of up to this many classes above its own (four
 * classes: one power of two, so at most half the block is unused). */
#define MAX_CLASSES_UP 4
/* Blocks of classes this large are mapped and unmapped directly, so that
 * releasing one gives its pages back to the system. */
#define LARGE_BYTES ((size_t)1 << 20)

/* Sits in the 64 bytes before the pointer handed out. */
typedef struct block_header {
    struct block_header *next_free;
    uint32_t magic;
    int32_t size_class;
} block_header;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static block_header *free_lists[N_CLASSES];
static volt_memory_stats stats;
static int64_t fail_countdown;

/* Class k holds blocks of 64 bytes for k = 0, then for size in (2^p, 2^(p+1)]
 * (p >= 6) the four steps 2^p + j * 2^(p-2), j = 1..4. */
static int size_class_of(size_t nbytes, size_t *class_bytes) {
    if (nbytes <= ALIGNMENT) {
        *class_bytes = ALIGNMENT;
        return 0;
    }
    int p = 63 - __builtin_clzll((unsigned long long)(nbytes - 1)); /* 2^p < n <= 2^(p+1) */
    size_t step = (size_t)1 << (p - 2);
    size_t j = (nbytes - ((size_t)1 << p) + step - 1) / step; /* 1..4 */
    *class_bytes = ((size_t)1 << p) + j * step;
    return 1 + (p - 6) * 4 + (int)(j - 1);
}

static size_t class_size(int k) {
    if (k == 0) return ALIGNMENT;
    int p = (k - 1) / 4 + 6;
    size_t j = (size_t)((k - 1) % 4 + 1);
    return ((size_t)1 << p) + j * ((size_t)1 << (p - 2));
}

/* A cached block of class k, else of the smallest class above it within
 * MAX_CLASSES_UP; NULL when there is none. Under the lock. */
static block_header *take_cached(int k) {
    for (int c = k; c < N_CLASSES && c <= k + MAX_CLASSES_UP; c++) {
        block_header *h = free_lists[c];
        if (h) {
            free_lists[c] = h->next_free;
            return h;
        }
    }
    return NULL;
}

/* A new block of class k from the system (the lock not held); NULL when
 * there is no memory. */
static block_header *system_alloc(int k) {
    size_t bytes = ALIGNMENT + class_size(k);
    void *mem = NULL;
    if (class_size(k) >= LARGE_BYTES) {
        mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) return NULL;
    } else if (posix_memalign(&mem, ALIGNMENT, bytes) != 0) {
        return NULL;
    }
    block_header *h = mem;
    h->magic = BLOCK_MAGIC;
    h->size_class = k;
    return h;
}

static void system_free(block_header *h) {
    size_t bytes = class_size(h->size_class);
    if (bytes >= LARGE_BYTES)
        munmap(h, ALIGNMENT + bytes);
    else
        free(h);
}

/* Before a large block of class k is made: gives back cached large blocks
 * too small to serve it (the smallest first) — those of a pattern that has
 * moved on, such as the forward activations while the larger gradients of
 * backward are made — up to the size of the new block. Under the lock;
 * the released blocks are handed back through *out. */
static void release_smaller(int k, block_header **out) {
    int64_t want = (int64_t)class_size(k);
    for (int c = 0; c < k && want > 0; c++) {
        if (class_size(c) < LARGE_BYTES) continue;
        while (free_lists[c] && want > 0) {
            block_header *h = free_lists[c];
            free_lists[c] = h->next_free;
            h->next_free = *out;
            *out = h;
            want -= (int64_t)class_size(c);
            stats.reserved_bytes -= (int64_t)class_size(c);
        }
    }
}

void *volt_cpu_alloc(size_t nbytes) {
    size_t class_bytes;
    int k = size_class_of(nbytes, &class_bytes);
    if (k >= N_CLASSES) return NULL;
    pthread_mutex_lock(&lock);
    if (fail_countdown > 0 && --fail_countdown == 0) {
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    block_header *h = take_cached(k);
    if (!h) {
        block_header *released = NULL;
        if (class_bytes >= LARGE_BYTES) release_smaller(k, &released);
        pthread_mutex_unlock(&lock);
        while (released) {
            block_header *next = released->next_free;
            system_free(released);
            released = next;
        }
        h = system_alloc(k);
        if (!h) return NULL;
        pthread_mutex_lock(&lock);
        stats.n_system_allocs++;
        stats.reserved_bytes += (int64_t)class_bytes;
    }
    stats.n_allocs++;
    stats.allocated_bytes += (int64_t)class_size(h->size_class);
    if (stats.allocated_bytes > stats.peak_allocated_bytes)
        stats.peak_allocated_bytes = stats.allocated_bytes;
    pthread_mutex_unlock(&lock);
    h->next_free = NULL;
    return (char *)h + ALIGNMENT;
}

void volt_cpu_free(void *p) {
    if (!p) return;
    block_header *h = (block_header *)((char *)p - ALIGNMENT);
    VOLT_ASSERT(h->magic == BLOCK_MAGIC);
    int k = h->size_class;
    pthread_mutex_lock(&lock);
    stats.allocated_bytes -= (int64_t)class_size(k);
    h->next_free = free_lists[k];
    free_lists[k] = h;
    pthread_mutex_unlock(&lock);
}

volt_memory_stats volt_cpu_memory_stats(void) {
    pthread_mutex_lock(&lock);
    volt_memory_stats s = stats;
    pthread_mutex_unlock(&lock);
    return s;
}

void volt_cpu_reset_peak_memory_stats(void) {
    pthread_mutex_lock(&lock);
    stats.peak_allocated_bytes = stats.allocated_bytes;
    pthread_mutex_unlock(&lock);
}

void volt_cpu_empty_cache(void) {
    pthread_mutex_lock(&lock);
    for (int k = 0; k < N_CLASSES; k++) {
        block_header *h = free_lists[k];
        while (h) {
            block_header *next = h->next_free;
            stats.reserved_bytes -= (int64_t)class_size(k);
            system_free(h);
            h = next;
        }
        free_lists[k] = NULL;
    }
    pthread_mutex_unlock(&lock);
}

void volt_cpu_alloc_fail_after(int64_t n) {
    pthread_mutex_lock(&lock);
    fail_countdown = n > 0 ? n : 0;
    pthread_mutex_unlock(&lock);
}
