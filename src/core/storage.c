/* storage.c: reference-counted blocks of device memory with a version
 * counter for autograd's in-place checks. CPU storage comes from the CPU
 * allocator, CUDA storage from the device's caching allocator (and goes back
 * to it, to the stream it was made for), pinned host storage from the
 * pinned cache; storage_wrap holds memory volt does not own. */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/core_impl.h"

struct volt_storage {
    void *data;
    size_t nbytes;
    volt_device device;
    atomic_int refcount;
    atomic_uint_fast64_t version;
    void (*release)(void *data, void *ctx); /* gives data back; NULL: nothing to do */
    void *release_ctx;
    bool pinned;                        /* release_ctx is a pinned host block */
    volt_storage *twin;                 /* bf16, element for element (volt_storage_set_twin) */
    uint64_t twin_version, own_version; /* the versions when the twin was set */
};

static void storage_init(volt_storage *s, volt_device device, void *data, size_t nbytes,
                         void (*release)(void *, void *), void *ctx) {
    s->data = data;
    s->nbytes = nbytes;
    s->device = device;
    atomic_init(&s->refcount, 1);
    atomic_init(&s->version, 0);
    s->release = release;
    s->release_ctx = ctx;
    s->pinned = false;
    s->twin = NULL;
}

static void release_cpu(void *data, void *ctx) {
    (void)ctx;
    volt_cpu_free(data);
}

static void release_cuda(void *data, void *block) {
    (void)data;
    volt_cuda_free(block);
}

static void release_pinned(void *data, void *block) {
    (void)data;
    volt_cuda_host_free(block);
}

volt_storage *volt_storage_new(volt_device device, size_t nbytes) {
    if (volt_device_check(device) != VOLT_OK) return NULL;
    volt_storage *s = volt_cache_alloc(VOLT_CACHE_STORAGE, sizeof *s);
    if (!s) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "storage_new: out of host memory");
        return NULL;
    }
    if (device.type == VOLT_CUDA) {
        void *block = NULL, *data = volt_cuda_alloc(device.index, nbytes, &block);
        if (!data) {
            volt_cache_free(VOLT_CACHE_STORAGE, s);
            return NULL;
        }
        storage_init(s, device, data, nbytes, release_cuda, block);
        return s;
    }
    void *data = volt_cpu_alloc(nbytes ? nbytes : 1);
    if (!data) {
        volt_cache_free(VOLT_CACHE_STORAGE, s);
        volt_memory_stats m = volt_cpu_memory_stats();
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY,
                       "cpu: out of memory allocating %zu bytes (allocated %lld, reserved %lld)",
                       nbytes, (long long)m.allocated_bytes, (long long)m.reserved_bytes);
        return NULL;
    }
    storage_init(s, device, data, nbytes, release_cpu, NULL);
    return s;
}

volt_storage *volt_storage_new_pinned(size_t nbytes) {
    volt_storage *s = volt_cache_alloc(VOLT_CACHE_STORAGE, sizeof *s);
    void *block = NULL, *data = s ? volt_cuda_host_alloc(nbytes, &block) : NULL;
    if (!data) {
        if (!s) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "pin_memory: out of host memory");
        volt_cache_free(VOLT_CACHE_STORAGE, s);
        return NULL;
    }
    storage_init(s, VOLT_DEVICE_CPU, data, nbytes, release_pinned, block);
    s->pinned = true;
    return s;
}

void *volt_storage_pinned_block(const volt_storage *s) {
    return s && s->pinned ? s->release_ctx : NULL;
}

volt_storage *volt_storage_wrap(volt_device device, void *data, size_t nbytes,
                                void (*release)(void *data, void *ctx), void *ctx) {
    if (volt_device_check(device) != VOLT_OK) return NULL;
    if (!data && nbytes) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "storage_wrap: NULL data of %zu bytes", nbytes);
        return NULL;
    }
    volt_storage *s = volt_cache_alloc(VOLT_CACHE_STORAGE, sizeof *s);
    if (!s) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "storage_wrap: out of memory");
        return NULL;
    }
    storage_init(s, device, data, nbytes, release, ctx);
    return s;
}

void volt_storage_retain(volt_storage *s) {
    if (s) atomic_fetch_add_explicit(&s->refcount, 1, memory_order_relaxed);
}

void volt_storage_release(volt_storage *s) {
    if (!s) return;
    if (atomic_fetch_sub_explicit(&s->refcount, 1, memory_order_acq_rel) != 1) return;
    volt_storage_release(s->twin);
    if (s->release) s->release(s->data, s->release_ctx);
    volt_cache_free(VOLT_CACHE_STORAGE, s);
}

void *volt_storage_data(const volt_storage *s) { return s ? s->data : NULL; }

int volt_storage_refcount(const volt_storage *s) {
    return s ? atomic_load_explicit(&s->refcount, memory_order_acquire) : 0;
}

size_t volt_storage_nbytes(const volt_storage *s) { return s ? s->nbytes : 0; }

uint64_t volt_storage_version(const volt_storage *s) {
    return s ? (uint64_t)atomic_load_explicit(&s->version, memory_order_relaxed) : 0;
}

void volt_storage_bump_version(volt_storage *s) {
    if (s) atomic_fetch_add_explicit(&s->version, 1, memory_order_relaxed);
}

void volt_storage_set_twin(volt_storage *wide, volt_storage *narrow) {
    if (!wide || wide == narrow) return;
    volt_storage_retain(narrow);
    volt_storage_release(wide->twin);
    wide->twin = narrow;
    wide->twin_version = volt_storage_version(narrow);
    wide->own_version = volt_storage_version(wide);
}

volt_storage *volt_storage_twin(const volt_storage *wide) {
    if (!wide || !wide->twin) return NULL;
    bool fresh = volt_storage_version(wide) == wide->own_version &&
                 volt_storage_version(wide->twin) == wide->twin_version;
    return fresh ? wide->twin : NULL;
}
