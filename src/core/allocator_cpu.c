/* allocator_cpu.c: the CPU allocator — 64-byte aligned blocks rounded up to
 * size classes (four per power of two, so at most 25% is wasted), freed blocks
 * cached per class for reuse, statistics, and a fail-after-N test hook. */
#include <pthread.h>
#include <stdlib.h>

#include "core/core_impl.h"

#define ALIGNMENT 64
#define N_CLASSES 240
#define BLOCK_MAGIC 0x766f6c74u /* "volt" */

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

void *volt_cpu_alloc(size_t nbytes) {
    size_t class_bytes;
    int k = size_class_of(nbytes, &class_bytes);
    if (k >= N_CLASSES) return NULL;
    pthread_mutex_lock(&lock);
    if (fail_countdown > 0 && --fail_countdown == 0) {
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    block_header *h = free_lists[k];
    if (h) {
        free_lists[k] = h->next_free;
    } else {
        pthread_mutex_unlock(&lock);
        void *mem = NULL;
        if (posix_memalign(&mem, ALIGNMENT, ALIGNMENT + class_bytes) != 0) return NULL;
        h = mem;
        h->magic = BLOCK_MAGIC;
        h->size_class = k;
        pthread_mutex_lock(&lock);
        stats.n_system_allocs++;
        stats.reserved_bytes += (int64_t)class_bytes;
    }
    stats.n_allocs++;
    stats.allocated_bytes += (int64_t)class_bytes;
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
            free(h);
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
