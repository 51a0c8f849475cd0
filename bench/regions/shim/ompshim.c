/* ompshim.c: an LD_PRELOAD shim that counts and times libgomp's parallel
 * regions (GOMP_parallel, which GCC's `omp parallel`, oneDNN and OpenBLAS
 * all enter) by call site: the caller's address and the first frame in the
 * main executable above it (which names volt's function when the caller is
 * inside a library). Per site it sums: regions, regions whose team had more
 * than one thread, wall time in GOMP_parallel, the master's time in the
 * region body, and (team > 1) the latest start of another thread after the
 * call (the wake-up) and the longest body among them. Written at exit to
 * $OMPSHIM_OUT (else stderr) as "site count multi total master wake worker"
 * lines, addresses as FILE+0xOFFSET; bench/regions/sites.py turns two such
 * files into per-step figures. Nested regions pass through uncounted.
 * Built and used by bench/regions/run.sh; not part of volt. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*body_fn)(void *);
typedef void (*gomp_parallel_fn)(body_fn, void *, unsigned, unsigned);

#define MAX_SITES 512

typedef struct {
    void *caller, *exe_frame;
    long count, multi;
    double total, master, wake, worker;
} site;

static site sites[MAX_SITES];
static int n_sites;
static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int depth;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* What the wrapped body records. */
typedef struct {
    body_fn fn;
    void *data;
    double t0, master, last_start, longest;
    int team;
    pthread_mutex_t lock;
} region;

static void wrapped(void *p) {
    region *r = p;
    int me = omp_get_thread_num();
    double s = now();
    if (me == 0) r->team = omp_get_num_threads();
    r->fn(r->data);
    double e = now();
    if (me == 0) {
        r->master = e - s;
        return;
    }
    pthread_mutex_lock(&r->lock);
    if (s - r->t0 > r->last_start) r->last_start = s - r->t0;
    if (e - s > r->longest) r->longest = e - s;
    pthread_mutex_unlock(&r->lock);
}

static int is_library(void *addr, Dl_info *info) {
    return dladdr(addr, info) && info->dli_fname && strstr(info->dli_fname, ".so");
}

/* The first frame in the main executable above GOMP_parallel's caller
 * (NULL when the caller is in it itself). */
static void *exe_frame(void *caller) {
    Dl_info info;
    if (!is_library(caller, &info)) return NULL;
    void *frames[32];
    int n = backtrace(frames, 32);
    for (int i = 2; i < n; i++)
        if (!is_library(frames[i], &info)) return frames[i];
    return NULL;
}

static site *find(void *caller, void *exe) {
    for (int i = 0; i < n_sites; i++)
        if (sites[i].caller == caller && sites[i].exe_frame == exe) return &sites[i];
    if (n_sites == MAX_SITES) return &sites[MAX_SITES - 1];
    sites[n_sites].caller = caller;
    sites[n_sites].exe_frame = exe;
    return &sites[n_sites++];
}

void GOMP_parallel(body_fn fn, void *data, unsigned num_threads, unsigned flags) {
    static gomp_parallel_fn real;
    if (!real) real = (gomp_parallel_fn)dlsym(RTLD_NEXT, "GOMP_parallel");
    void *caller = __builtin_return_address(0);
    if (depth) {
        real(fn, data, num_threads, flags);
        return;
    }
    depth++;
    region r = {.fn = fn, .data = data, .lock = PTHREAD_MUTEX_INITIALIZER};
    r.t0 = now();
    real(wrapped, &r, num_threads, flags);
    double total = now() - r.t0;
    depth--;
    void *exe = exe_frame(caller); /* after the timing: backtrace is slow */
    pthread_mutex_lock(&sites_lock);
    site *s = find(caller, exe);
    s->count++;
    s->total += total;
    s->master += r.master;
    if (r.team > 1) {
        s->multi++;
        s->wake += r.last_start;
        s->worker += r.longest;
    }
    pthread_mutex_unlock(&sites_lock);
}

/* FILE+0xOFFSET of addr (the file's base name). */
static void name_of(void *addr, char *buf, size_t size) {
    Dl_info info;
    if (!dladdr(addr, &info) || !info.dli_fname) {
        snprintf(buf, size, "?+%p", addr);
        return;
    }
    const char *base = strrchr(info.dli_fname, '/');
    snprintf(buf, size, "%s+0x%lx", base ? base + 1 : info.dli_fname,
             (unsigned long)((char *)addr - (char *)info.dli_fbase));
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("OMPSHIM_OUT");
    FILE *f = path ? fopen(path, "w") : stderr;
    if (!f) return;
    for (int i = 0; i < n_sites; i++) {
        const site *s = &sites[i];
        char a[256], b[256] = "-";
        name_of(s->caller, a, sizeof a);
        if (s->exe_frame) name_of(s->exe_frame, b, sizeof b);
        fprintf(f, "%s|%s %ld %ld %.9f %.9f %.9f %.9f\n", a, b, s->count, s->multi, s->total,
                s->master, s->wake, s->worker);
    }
    if (path) fclose(f);
}
