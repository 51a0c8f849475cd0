/* allocator.c (CUDA): the device caching allocator — one block pool
 * (core/block_pool.c) per device whose segments come from cudaMalloc, so
 * that a steady-state training step calls neither cudaMalloc nor cudaFree —
 * and its public statistics, empty_cache and fail-after-N hook. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/block_pool.h"
#include "core/cuda/cuda_impl.h"

static pthread_once_t pools_once = PTHREAD_ONCE_INIT;
static volt_block_pool **pools; /* one per device; NULL when the table failed */
static int n_pools;

/* The backend: cudaMalloc / cudaFree on the device of the pool (ctx), the
 * caller's current device restored. */
static void *segment_alloc(void *ctx, size_t nbytes) {
    int device = (int)(intptr_t)ctx, prev = -1;
    void *p = NULL;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    if (volt_cuda_set_device(device) != VOLT_OK) return NULL;
    cudaError_t e = cudaMalloc(&p, nbytes);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError(); /* the pool frees its cache, retries, or reports */
        p = NULL;
    } else if (e != cudaSuccess) {
        volt_cuda_check_result(e, "cudaMalloc(&p, nbytes)", "allocating a segment of device memory",
                               __FILE__, __LINE__);
        p = NULL;
    }
    if (prev >= 0 && prev != device) (void)cudaSetDevice(prev);
    return p;
}

static void segment_free(void *ctx, void *ptr, size_t nbytes) {
    (void)nbytes;
    int device = (int)(intptr_t)ctx, prev = -1;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    if (volt_cuda_set_device(device) == VOLT_OK)
        VOLT_CUDA_CHECK(cudaFree(ptr), "returning a cached segment to the device");
    if (prev >= 0 && prev != device) (void)cudaSetDevice(prev);
}

static void make_pools(void) {
    int n = volt_cuda_device_count();
    if (n == 0) return;
    pools = calloc((size_t)n, sizeof *pools);
    if (!pools) return;
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "cuda:%d", i);
        pools[i] = volt_block_pool_new(
            name, (volt_pool_backend){segment_alloc, segment_free, (void *)(intptr_t)i});
    }
    n_pools = n;
}

/* The pool of a device (checked by the caller), or NULL. */
static volt_block_pool *pool_of(int device) {
    pthread_once(&pools_once, make_pools);
    return device >= 0 && device < n_pools ? pools[device] : NULL;
}

void *volt_cuda_alloc(int device, size_t nbytes, void **block) {
    *block = NULL;
    volt_block_pool *pool = pool_of(device);
    if (!pool) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "cuda:%d: out of host memory for the allocator",
                       device);
        return NULL;
    }
    volt_pool_block *b = volt_block_pool_alloc(pool, nbytes, volt_cuda_stream(device));
    *block = b;
    return b ? b->ptr : NULL;
}

void volt_cuda_free(void *block) { volt_block_pool_release(block); }

volt_memory_stats volt_cuda_memory_stats(int device) {
    if (volt_cuda_check_device("cuda_memory_stats", device)) return (volt_memory_stats){0};
    volt_block_pool *pool = pool_of(device);
    return pool ? volt_block_pool_stats(pool) : (volt_memory_stats){0};
}

void volt_cuda_reset_peak_memory_stats(int device) {
    if (volt_cuda_check_device("cuda_reset_peak_memory_stats", device)) return;
    volt_block_pool *pool = pool_of(device);
    if (pool) volt_block_pool_reset_peak(pool);
}

void volt_cuda_empty_cache(void) {
    for (int i = 0; i < volt_cuda_device_count(); i++) {
        volt_block_pool *pool = pool_of(i);
        if (pool) volt_block_pool_empty_cache(pool);
    }
    volt_cuda_pinned_empty_cache();
}

void volt_cuda_alloc_fail_after(int64_t n) {
    for (int i = 0; i < volt_cuda_device_count(); i++) {
        volt_block_pool *pool = pool_of(i);
        if (pool) volt_block_pool_fail_after(pool, n);
    }
}
