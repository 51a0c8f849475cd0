/* dnnl_common.c: the oneDNN engine and streams, the primitive cache (LRU,
 * byte keys), executions (whole, or in parts on a team), reorders, scratch
 * memory and the status check shared by the oneDNN paths of conv, pooling
 * and matmul (see dnnl_common.h), and the switch of the fast kernels. */
#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/parallel.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_CAPACITY 96

typedef struct {
    void *key; /* NULL: free slot */
    size_t key_size;
    uint64_t last_use;
    volt_dnnl_prim p;
} cache_entry;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static dnnl_stream_t part_streams[VOLT_DNNL_MAX_PARTS]; /* [0] is stream; made on first use */
static dnnl_status_t init_status = dnnl_success;
static cache_entry cache[CACHE_CAPACITY];
static uint64_t use_clock;
static int64_t n_created;
static int64_t n_part_regions;
static bool disabled;

const char *volt_dnnl_status_name(dnnl_status_t status) {
    switch (status) {
    case dnnl_success: return "dnnl_success";
    case dnnl_out_of_memory: return "dnnl_out_of_memory";
    case dnnl_invalid_arguments: return "dnnl_invalid_arguments";
    case dnnl_unimplemented: return "dnnl_unimplemented";
    case dnnl_iterator_ends: return "dnnl_iterator_ends";
    case dnnl_runtime_error: return "dnnl_runtime_error";
    case dnnl_not_required: return "dnnl_not_required";
    }
    return "unknown dnnl status";
}

bool volt_dnnl_check(dnnl_status_t status, const char *call, const char *file, int line) {
    if (status == dnnl_success) return true;
    volt_error_set(status == dnnl_out_of_memory ? VOLT_ERR_OUT_OF_MEMORY : VOLT_ERR_INTERNAL,
                   "dnnl: %s failed: %s (%s:%d)", call, volt_dnnl_status_name(status), file, line);
    return false;
}

bool volt_fast_kernels_enabled(void) { return !__atomic_load_n(&disabled, __ATOMIC_RELAXED); }

void volt_set_fast_kernels(bool enabled) {
    __atomic_store_n(&disabled, !enabled, __ATOMIC_RELAXED);
}

static bool has_isa(dnnl_cpu_isa_t wanted) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), w = (unsigned)wanted;
    return (isa & w) == w;
}

bool volt_dnnl_has_bf16(void) { return has_isa(dnnl_cpu_isa_avx512_core_bf16); }

bool volt_dnnl_has_amx(void) { return has_isa(dnnl_cpu_isa_avx512_core_amx); }

static const char *init_call = "dnnl_engine_create(&engine, dnnl_cpu, 0)";

static void init_engine(void) {
    init_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (init_status != dnnl_success) return;
    init_call = "dnnl_stream_create(&stream, engine, dnnl_stream_default_flags)";
    init_status = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
}

bool volt_dnnl_lock(void) {
    pthread_once(&init_once, init_engine);
    if (!volt_dnnl_check(init_status, init_call, __FILE__, __LINE__)) return false;
    pthread_mutex_lock(&mutex);
    /* oneDNN (OpenMP build) runs with the calling thread's team size. */
    int n = volt_get_num_threads();
    if (omp_get_max_threads() != n) omp_set_num_threads(n);
    return true;
}

void volt_dnnl_unlock(void) { pthread_mutex_unlock(&mutex); }

int volt_dnnl_limit_threads(int threads) {
    int team = omp_get_max_threads();
    if (threads >= 1 && threads < team) omp_set_num_threads(threads);
    return team;
}

void volt_dnnl_restore_threads(int team) {
    if (omp_get_max_threads() != team) omp_set_num_threads(team);
}

static void entry_clear(cache_entry *e) {
    for (int i = 0; e->p.mem && i < VOLT_DNNL_MAX_ARGS; i++)
        if (e->p.mem[i]) dnnl_memory_destroy(e->p.mem[i]);
    free(e->p.mem);
    free(e->p.mem_arg);
    if (e->p.prim) dnnl_primitive_destroy(e->p.prim);
    if (e->p.pd) dnnl_primitive_desc_destroy(e->p.pd);
    free(e->key);
    memset(e, 0, sizeof *e);
}

int64_t volt_dnnl_primitives_created(void) { return __atomic_load_n(&n_created, __ATOMIC_RELAXED); }

int64_t volt_dnnl_part_regions(void) { return __atomic_load_n(&n_part_regions, __ATOMIC_RELAXED); }

/* The entry for key, made with make(ctx) on a miss (the least recently used
 * entry is evicted when the cache is full). */
static const volt_dnnl_prim *cache_get(const void *key, size_t key_size, volt_dnnl_make_pd_fn make,
                                       void *ctx, bool *unsupported) {
    *unsupported = false;
    cache_entry *victim = NULL; /* a free slot, else the least recently used */
    for (int i = 0; i < CACHE_CAPACITY; i++) {
        cache_entry *e = &cache[i];
        if (e->key && e->key_size == key_size && memcmp(e->key, key, key_size) == 0) {
            e->last_use = ++use_clock;
            return &e->p;
        }
        if (!e->key) {
            if (!victim || victim->key) victim = e;
        } else if (!victim || (victim->key && e->last_use < victim->last_use)) {
            victim = e;
        }
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = make(&pd, engine, ctx);
    if (st == dnnl_unimplemented || st == dnnl_invalid_arguments) {
        if (pd) dnnl_primitive_desc_destroy(pd);
        *unsupported = true;
        return NULL;
    }
    if (!VOLT_DNNL_CHECK(st)) return NULL;
    dnnl_primitive_t prim = NULL;
    if (!VOLT_DNNL_CHECK(dnnl_primitive_create(&prim, pd))) {
        dnnl_primitive_desc_destroy(pd);
        return NULL;
    }
    void *k = malloc(key_size);
    dnnl_memory_t *mem = calloc(VOLT_DNNL_MAX_ARGS, sizeof *mem);
    int *mem_arg = calloc(VOLT_DNNL_MAX_ARGS, sizeof *mem_arg);
    if (!k || !mem || !mem_arg) {
        free(k);
        free(mem);
        free(mem_arg);
        dnnl_primitive_destroy(prim);
        dnnl_primitive_desc_destroy(pd);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "dnnl: out of memory for the primitive cache");
        return NULL;
    }
    memcpy(k, key, key_size);
    entry_clear(victim);
    victim->key = k;
    victim->key_size = key_size;
    victim->last_use = ++use_clock;
    victim->p.pd = pd;
    victim->p.prim = prim;
    victim->p.mem = mem;
    victim->p.mem_arg = mem_arg;
    __atomic_add_fetch(&n_created, 1, __ATOMIC_RELAXED);
    return &victim->p;
}

const volt_dnnl_prim *volt_dnnl_cache_get(volt_dnnl_key *key, volt_dnnl_make_pd_fn make, void *ctx,
                                          bool *unsupported) {
    key->n_threads = omp_get_max_threads();
    return cache_get(key, sizeof *key, make, ctx, unsupported);
}

bool volt_dnnl_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *shape) {
    dnnl_dims_t dims = {0}, strides = {0};
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        dims[i] = shape[i];
        strides[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
    return VOLT_DNNL_CHECK(dnnl_memory_desc_init_by_strides(md, ndim, dims, dnnl_f32, strides));
}

bool volt_dnnl_md_strided(dnnl_memory_desc_t *md, int ndim, const int64_t *shape,
                          const int64_t *strides, dnnl_data_type_t data_type) {
    dnnl_dims_t dims = {0}, st = {0};
    for (int i = 0; i < ndim; i++) {
        dims[i] = shape[i];
        st[i] = strides[i];
    }
    return VOLT_DNNL_CHECK(dnnl_memory_desc_init_by_strides(md, ndim, dims, data_type, st));
}

const dnnl_memory_desc_t *volt_dnnl_query_md(const volt_dnnl_prim *p, dnnl_query_t what,
                                             int index) {
    return dnnl_primitive_desc_query_md(p->pd, what, index);
}

bool volt_dnnl_md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) {
    return dnnl_memory_desc_equal(a, b) != 0;
}

/* p's memory object for argument `arg`, described by md, pointing at data:
 * the one of an earlier execution with its handle swapped, or a new one. */
static dnnl_memory_t memory_for(const volt_dnnl_prim *p, int arg, const dnnl_memory_desc_t *md,
                                void *data) {
    int slot = -1; /* arg's slot, else a free one */
    for (int i = 0; i < VOLT_DNNL_MAX_ARGS; i++) {
        if (p->mem[i] && p->mem_arg[i] == arg) {
            slot = i;
            break;
        }
        if (!p->mem[i] && slot < 0) slot = i;
    }
    VOLT_ASSERT(slot >= 0);
    dnnl_memory_t m = p->mem[slot];
    const dnnl_memory_desc_t *have = NULL;
    if (m && dnnl_memory_get_memory_desc(m, &have) == dnnl_success && volt_dnnl_md_equal(have, md))
        return VOLT_DNNL_CHECK(dnnl_memory_set_data_handle(m, data)) ? m : NULL;
    if (m) dnnl_memory_destroy(m);
    p->mem[slot] = NULL;
    if (!VOLT_DNNL_CHECK(dnnl_memory_create(&m, md, engine, data))) return NULL;
    p->mem[slot] = m;
    p->mem_arg[slot] = arg;
    return m;
}

bool volt_dnnl_execute(const volt_dnnl_prim *p, int n, const int *args,
                       const dnnl_memory_desc_t *const *mds, void *const *data) {
    VOLT_ASSERT(n <= VOLT_DNNL_MAX_ARGS);
    dnnl_exec_arg_t exec[VOLT_DNNL_MAX_ARGS] = {{0, NULL}};
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        exec[i].arg = args[i];
        exec[i].memory = memory_for(p, args[i], mds[i], data[i]);
        ok = exec[i].memory != NULL;
    }
    if (ok) ok = VOLT_DNNL_CHECK(dnnl_primitive_execute(p->prim, stream, n, exec));
    if (ok) ok = VOLT_DNNL_CHECK(dnnl_stream_wait(stream));
    return ok;
}

bool volt_dnnl_execute_parts(const volt_dnnl_part *parts, int n_parts, int team) {
    VOLT_ASSERT(n_parts >= 1 && n_parts <= VOLT_DNNL_MAX_PARTS && team >= 1 && team <= n_parts);
    dnnl_exec_arg_t exec[VOLT_DNNL_MAX_PARTS][VOLT_DNNL_MAX_ARGS];
    dnnl_status_t status[VOLT_DNNL_MAX_PARTS];
    part_streams[0] = stream;
    for (int i = 0; i < n_parts; i++) {
        VOLT_ASSERT(parts[i].n <= VOLT_DNNL_MAX_ARGS);
        if (!part_streams[i] && !VOLT_DNNL_CHECK(dnnl_stream_create(&part_streams[i], engine,
                                                                    dnnl_stream_default_flags)))
            return false;
        for (int a = 0; a < parts[i].n; a++) {
            exec[i][a].arg = parts[i].args[a];
            exec[i][a].memory =
                memory_for(parts[i].p, parts[i].args[a], parts[i].mds[a], parts[i].data[a]);
            if (!exec[i][a].memory) return false;
        }
    }
    __atomic_add_fetch(&n_part_regions, 1, __ATOMIC_RELAXED);
    /* oneDNN runs a primitive on one thread inside a parallel region. */
#pragma omp parallel num_threads(team)
    for (int i = omp_get_thread_num(); i < n_parts; i += omp_get_num_threads()) {
        status[i] = dnnl_primitive_execute(parts[i].p->prim, part_streams[i], parts[i].n, exec[i]);
        if (status[i] == dnnl_success) status[i] = dnnl_stream_wait(part_streams[i]);
    }
    for (int i = 0; i < n_parts; i++)
        if (!VOLT_DNNL_CHECK(status[i])) return false;
    return true;
}

typedef struct {
    const dnnl_memory_desc_t *from, *to;
} reorder_ctx;

static dnnl_status_t make_reorder(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, void *ctx) {
    reorder_ctx *c = ctx;
    return dnnl_reorder_primitive_desc_create(pd, c->from, eng, c->to, eng, NULL);
}

bool volt_dnnl_reorder(const dnnl_memory_desc_t *from, const void *src,
                       const dnnl_memory_desc_t *to, void *dst) {
    struct {
        int32_t kind, n_threads;
        dnnl_memory_desc_t from, to;
    } key;
    memset(&key, 0, sizeof key);
    int team = volt_dnnl_limit_threads(volt_cpu_threads_for_bytes(
        (double)(dnnl_memory_desc_get_size(from) + dnnl_memory_desc_get_size(to))));
    key.kind = -1;
    key.n_threads = omp_get_max_threads();
    key.from = *from;
    key.to = *to;
    reorder_ctx ctx = {from, to};
    bool unsupported;
    const volt_dnnl_prim *p = cache_get(&key, sizeof key, make_reorder, &ctx, &unsupported);
    bool ok = p != NULL;
    if (!ok && unsupported)
        volt_error_set(VOLT_ERR_INTERNAL, "dnnl: no reorder between these memory layouts");
    if (ok) {
        const int args[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
        const dnnl_memory_desc_t *mds[2] = {from, to};
        void *data[2] = {(void *)src, dst};
        ok = volt_dnnl_execute(p, 2, args, mds, data);
    }
    volt_dnnl_restore_threads(team);
    return ok;
}

void *volt_dnnl_scratch(size_t nbytes) {
    void *p = volt_cpu_alloc(nbytes ? nbytes : 64);
    if (!p)
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "dnnl: out of memory for %zu bytes of scratch",
                       nbytes);
    return p;
}

void volt_dnnl_scratch_free(void *p) {
    if (p) volt_cpu_free(p);
}

void *volt_dnnl_as_layout(const dnnl_memory_desc_t *have, const void *data,
                          const dnnl_memory_desc_t *want, void **scratch) {
    *scratch = NULL;
    if (volt_dnnl_md_equal(have, want)) return (void *)data;
    void *buf = volt_dnnl_scratch(dnnl_memory_desc_get_size(want));
    if (!buf) return NULL;
    if (!volt_dnnl_reorder(have, data, want, buf)) {
        volt_dnnl_scratch_free(buf);
        return NULL;
    }
    *scratch = buf;
    return buf;
}

void *volt_dnnl_output(const dnnl_memory_desc_t *want, const dnnl_memory_desc_t *have, void *data,
                       void **scratch) {
    *scratch = NULL;
    if (volt_dnnl_md_equal(want, have)) return data;
    *scratch = volt_dnnl_scratch(dnnl_memory_desc_get_size(want));
    return *scratch;
}

bool volt_dnnl_output_finish(const dnnl_memory_desc_t *want, void *scratch,
                             const dnnl_memory_desc_t *have, void *data) {
    if (!scratch) return true;
    bool ok = volt_dnnl_reorder(want, scratch, have, data);
    volt_dnnl_scratch_free(scratch);
    return ok;
}
