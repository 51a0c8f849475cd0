/* object_cache.c: thread-local free lists for volt's small fixed-size
 * structs (tensors, storages, graph nodes), so that creating an op's output
 * does not go through malloc. A thread's lists are freed when it exits. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"

#define CACHE_LIMIT 4096 /* objects kept per kind and thread */

typedef struct free_object {
    struct free_object *next;
} free_object;

typedef struct {
    free_object *head[VOLT_CACHE_KINDS];
    int count[VOLT_CACHE_KINDS];
} thread_cache;

static _Thread_local thread_cache cache;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local bool registered;

static void release_thread_cache(void *unused) {
    (void)unused;
    for (int k = 0; k < VOLT_CACHE_KINDS; k++) {
        free_object *o = cache.head[k];
        while (o) {
            free_object *next = o->next;
            free(o);
            o = next;
        }
        cache.head[k] = NULL;
        cache.count[k] = 0;
    }
}

static void make_key(void) { pthread_key_create(&exit_key, release_thread_cache); }

void *volt_cache_alloc(volt_cache_kind kind, size_t size) {
    free_object *o = cache.head[kind];
    if (o) {
        cache.head[kind] = o->next;
        cache.count[kind]--;
        memset(o, 0, size);
        return o;
    }
    if (!registered) {
        /* The key's destructor frees this thread's lists when it exits. */
        pthread_once(&key_once, make_key);
        pthread_setspecific(exit_key, &cache);
        registered = true;
    }
    return calloc(1, size < sizeof(free_object) ? sizeof(free_object) : size);
}

void volt_cache_free(volt_cache_kind kind, void *p) {
    if (!p) return;
    if (cache.count[kind] >= CACHE_LIMIT) {
        free(p);
        return;
    }
    free_object *o = p;
    o->next = cache.head[kind];
    cache.head[kind] = o;
    cache.count[kind]++;
}
