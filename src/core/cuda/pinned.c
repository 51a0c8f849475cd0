/* pinned.c (CUDA): page-locked host memory for buffers copied to the GPU
 * (loader batches, volt_pin_memory) — blocks of power-of-two sizes (at
 * least 4 KiB) from cudaHostAlloc, cached per size when freed. An
 * asynchronous copy from a block records an event; a cached block is
 * handed out again only after that event, so a buffer is never overwritten
 * while its copy is in flight. */
#include <pthread.h>
#include <stdlib.h>

#include "core/cuda/cuda_impl.h"

#define MIN_SHIFT 12 /* 4 KiB */
#define N_CLASSES 40 /* up to 2^51 bytes */

typedef struct pinned_block {
    void *ptr;
    int size_class;
    cudaEvent_t copied; /* recorded after the last asynchronous copy; NULL: none */
    int event_device;
    struct pinned_block *next;
} pinned_block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pinned_block *free_lists[N_CLASSES];

static int class_of(size_t nbytes) {
    int shift = MIN_SHIFT;
    while (shift < MIN_SHIFT + N_CLASSES && ((size_t)1 << shift) < nbytes) shift++;
    return shift - MIN_SHIFT;
}

/* Waits for the block's last copy and forgets its event. */
static volt_status block_settle(pinned_block *b) {
    if (!b->copied) return VOLT_OK;
    volt_status st =
        VOLT_CUDA_CHECK(cudaEventSynchronize(b->copied), "waiting for a copy from pinned memory");
    (void)cudaEventDestroy(b->copied);
    b->copied = NULL;
    return st;
}

static pinned_block *take_cached(int c) {
    pthread_mutex_lock(&lock);
    pinned_block *b = free_lists[c];
    if (b) free_lists[c] = b->next;
    pthread_mutex_unlock(&lock);
    return b;
}

static void *host_alloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
    if (e == cudaErrorMemoryAllocation) { /* the cache may hold what is needed */
        (void)cudaGetLastError();
        volt_cuda_pinned_empty_cache();
        e = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
    }
    if (e == cudaSuccess) return p;
    volt_cuda_check_result(e, "cudaHostAlloc(&p, bytes, cudaHostAllocPortable)",
                           "allocating page-locked host memory (pin_memory)", __FILE__, __LINE__);
    return NULL;
}

void *volt_cuda_host_alloc(size_t nbytes, void **block) {
    *block = NULL;
    int c = class_of(nbytes ? nbytes : 1);
    if (c >= N_CLASSES) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "pinned memory: %zu bytes is too large", nbytes);
        return NULL;
    }
    pinned_block *b = take_cached(c);
    if (b && block_settle(b)) {
        volt_cuda_host_free(b);
        return NULL;
    }
    if (!b) {
        b = calloc(1, sizeof *b);
        void *p = b ? host_alloc((size_t)1 << (c + MIN_SHIFT)) : NULL;
        if (!p) {
            if (!b) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "pinned memory: out of host memory");
            free(b);
            return NULL;
        }
        *b = (pinned_block){.ptr = p, .size_class = c};
    }
    *block = b;
    return b->ptr;
}

void volt_cuda_host_free(void *block) {
    pinned_block *b = block;
    if (!b) return;
    pthread_mutex_lock(&lock);
    b->next = free_lists[b->size_class];
    free_lists[b->size_class] = b;
    pthread_mutex_unlock(&lock);
}

volt_status volt_cuda_pinned_record(void *block, int device, cudaStream_t stream) {
    pinned_block *b = block;
    pthread_mutex_lock(&lock);
    volt_status st = VOLT_OK;
    if (b->copied && b->event_device != device) st = block_settle(b);
    if (!st && !b->copied) {
        st = VOLT_CUDA_CHECK(cudaEventCreateWithFlags(&b->copied, cudaEventDisableTiming),
                             "an event for a copy from pinned memory");
        if (st) b->copied = NULL;
        b->event_device = device;
    }
    if (!st)
        st = VOLT_CUDA_CHECK(cudaEventRecord(b->copied, stream), "after a copy from pinned memory");
    pthread_mutex_unlock(&lock);
    return st;
}

void volt_cuda_pinned_empty_cache(void) {
    pthread_mutex_lock(&lock);
    for (int c = 0; c < N_CLASSES; c++) {
        while (free_lists[c]) {
            pinned_block *b = free_lists[c];
            free_lists[c] = b->next;
            block_settle(b);
            VOLT_CUDA_CHECK(cudaFreeHost(b->ptr), "returning pinned host memory");
            free(b);
        }
    }
    pthread_mutex_unlock(&lock);
}
