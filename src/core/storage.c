/* storage.c: reference-counted blocks of device memory with a version
 * counter for autograd's in-place checks. */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/core_impl.h"

struct volt_storage {
    void *data;
    size_t nbytes;
    volt_device device;
    atomic_int refcount;
    atomic_uint_fast64_t version;
    void (*release)(void *data, void *ctx); /* NULL: volt's allocator owns data */
    void *release_ctx;
    bool external;
};

static void storage_init(volt_storage *s, volt_device device, void *data, size_t nbytes,
                         void (*release)(void *, void *), void *ctx, bool external) {
    s->data = data;
    s->nbytes = nbytes;
    s->device = device;
    atomic_init(&s->refcount, 1);
    atomic_init(&s->version, 0);
    s->release = release;
    s->release_ctx = ctx;
    s->external = external;
}

volt_storage *volt_storage_new(volt_device device, size_t nbytes) {
    if (volt_device_check(device) != VOLT_OK) return NULL;
    volt_storage *s = volt_cache_alloc(VOLT_CACHE_STORAGE, sizeof *s);
    void *data = s ? volt_cpu_alloc(nbytes ? nbytes : 1) : NULL;
    if (!data) {
        volt_cache_free(VOLT_CACHE_STORAGE, s);
        volt_memory_stats m = volt_cpu_memory_stats();
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY,
                       "cpu: out of memory allocating %zu bytes (allocated %lld, reserved %lld)",
                       nbytes, (long long)m.allocated_bytes, (long long)m.reserved_bytes);
        return NULL;
    }
    storage_init(s, device, data, nbytes, NULL, NULL, false);
    return s;
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
    storage_init(s, device, data, nbytes, release, ctx, true);
    return s;
}

void volt_storage_retain(volt_storage *s) {
    if (s) atomic_fetch_add_explicit(&s->refcount, 1, memory_order_relaxed);
}

void volt_storage_release(volt_storage *s) {
    if (!s) return;
    if (atomic_fetch_sub_explicit(&s->refcount, 1, memory_order_acq_rel) != 1) return;
    if (s->external) {
        if (s->release) s->release(s->data, s->release_ctx);
    } else {
        volt_cpu_free(s->data);
    }
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
