/* kernel_trace.h: bench_gpu_gpu_train's kernels=1 — what the GPU ran during
 * the timed steps, recorded with CUPTI's activity API (compiled in when
 * CMake finds CUDA::cupti, which defines VOLT_BENCH_CUPTI; otherwise
 * kernel_trace_start fails with a message). Included by gpu_train.c only.
 *
 * kernel_trace_start() begins recording kernels, copies, memsets and CUDA
 * runtime/driver calls; kernel_trace_stop() ends it and flushes the records;
 * kernel_trace_report(steps) prints
 * one JSON line per step: the time the GPU was busy (the union of its
 * activities), launches, the kernels by total time, the runtime and driver
 * calls by host time, and the idle gaps on the GPU by the activity that
 * preceded them. A diagnosis, not a timing: CUPTI adds a little to each
 * launch. */
#ifndef VOLT_BENCH_KERNEL_TRACE_H
#define VOLT_BENCH_KERNEL_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VOLT_BENCH_CUPTI
#include <cupti.h>

typedef struct {
    uint64_t start, end;
    const char *name;
} trace_span;

typedef struct {
    const char *name;
    double ns;
    int64_t count;
} trace_total;

enum { TRACE_MAX_TOTALS = 512, TRACE_BUFFER = 8 << 20 };

static struct {
    trace_span *gpu, *api;
    size_t n_gpu, cap_gpu, n_api, cap_api;
    bool failed;
} trace_rec;

static void trace_push(trace_span **a, size_t *n, size_t *cap, trace_span s) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 65536;
        trace_span *p = realloc(*a, c * sizeof *p);
        if (!p) {
            trace_rec.failed = true;
            return;
        }
        *a = p, *cap = c;
    }
    (*a)[(*n)++] = s;
}

static void CUPTIAPI trace_buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records) {
    *buffer = aligned_alloc(8, TRACE_BUFFER);
    *size = *buffer ? TRACE_BUFFER : 0;
    *max_records = 0;
}

static const char *trace_api_name(CUpti_CallbackDomain domain, CUpti_CallbackId cbid) {
    const char *name = NULL;
    return cuptiGetCallbackName(domain, cbid, &name) == CUPTI_SUCCESS && name ? name : "?";
}

static void CUPTIAPI trace_buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer,
                                            size_t size, size_t valid) {
    (void)ctx, (void)stream, (void)size;
    CUpti_Activity *r = NULL;
    while (cuptiActivityGetNextRecord(buffer, valid, &r) == CUPTI_SUCCESS) {
        switch (r->kind) {
        case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
            CUpti_ActivityKernel10 *k = (CUpti_ActivityKernel10 *)r;
            trace_push(&trace_rec.gpu, &trace_rec.n_gpu, &trace_rec.cap_gpu,
                       (trace_span){k->start, k->end, k->name});
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMCPY: {
            CUpti_ActivityMemcpy6 *c = (CUpti_ActivityMemcpy6 *)r;
            static const char *kinds[] = {
                "memcpy ?",    "memcpy HtoD", "memcpy DtoH", "memcpy HtoA", "memcpy AtoH",
                "memcpy AtoA", "memcpy AtoD", "memcpy DtoA", "memcpy DtoD", "memcpy HtoH"};
            trace_push(&trace_rec.gpu, &trace_rec.n_gpu, &trace_rec.cap_gpu,
                       (trace_span){c->start, c->end, kinds[c->copyKind < 10 ? c->copyKind : 0]});
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMSET: {
            CUpti_ActivityMemset4 *m = (CUpti_ActivityMemset4 *)r;
            trace_push(&trace_rec.gpu, &trace_rec.n_gpu, &trace_rec.cap_gpu,
                       (trace_span){m->start, m->end, "memset"});
            break;
        }
        case CUPTI_ACTIVITY_KIND_RUNTIME:
        case CUPTI_ACTIVITY_KIND_DRIVER: {
            CUpti_ActivityAPI *a = (CUpti_ActivityAPI *)r;
            CUpti_CallbackDomain d = r->kind == CUPTI_ACTIVITY_KIND_RUNTIME
                                         ? CUPTI_CB_DOMAIN_RUNTIME_API
                                         : CUPTI_CB_DOMAIN_DRIVER_API;
            trace_push(&trace_rec.api, &trace_rec.n_api, &trace_rec.cap_api,
                       (trace_span){a->start, a->end, trace_api_name(d, a->cbid)});
            break;
        }
        default: break;
        }
    }
    free(buffer);
}

static const CUpti_ActivityKind trace_kinds[] = {
    CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY, CUPTI_ACTIVITY_KIND_MEMSET,
    CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_ACTIVITY_KIND_DRIVER};

static bool kernel_trace_start(void) {
    if (cuptiActivityRegisterCallbacks(trace_buffer_requested, trace_buffer_completed) !=
        CUPTI_SUCCESS) {
        fprintf(stderr, "kernels=1: CUPTI refused its callbacks\n");
        return false;
    }
    for (size_t i = 0; i < sizeof trace_kinds / sizeof trace_kinds[0]; i++)
        if (cuptiActivityEnable(trace_kinds[i]) != CUPTI_SUCCESS) {
            fprintf(stderr, "kernels=1: CUPTI cannot record activity kind %d\n",
                    (int)trace_kinds[i]);
            return false;
        }
    return true;
}

static int trace_by_start(const void *a, const void *b) {
    uint64_t x = ((const trace_span *)a)->start, y = ((const trace_span *)b)->start;
    return x < y ? -1 : x > y;
}

static int trace_by_ns(const void *a, const void *b) {
    double d = ((const trace_total *)b)->ns - ((const trace_total *)a)->ns;
    return d > 0 ? 1 : d < 0 ? -1 : 0;
}

/* Adds ns to name's total (names are CUPTI's or static strings). */
static void trace_add(trace_total *t, int *n, const char *name, double ns) {
    int i = 0;
    while (i < *n && strcmp(t[i].name, name) != 0) i++;
    if (i == TRACE_MAX_TOTALS) return;
    if (i == *n) t[(*n)++] = (trace_total){name, 0, 0};
    t[i].ns += ns, t[i].count++;
}

static void trace_print(const char *key, trace_total *t, int n, int top, double steps) {
    qsort(t, (size_t)n, sizeof *t, trace_by_ns);
    printf(", \"%s\": [", key);
    for (int i = 0; i < n && i < top; i++)
        printf("%s{\"name\": \"%.90s\", \"ms\": %.3f, \"calls\": %.1f}", i ? ", " : "", t[i].name,
               t[i].ns * 1e-6 / steps, (double)t[i].count / steps);
    printf("]");
}

static void kernel_trace_stop(void) {
    for (size_t i = 0; i < sizeof trace_kinds / sizeof trace_kinds[0]; i++)
        cuptiActivityDisable(trace_kinds[i]);
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
}

static void kernel_trace_report(int64_t steps) {
    if (trace_rec.failed || trace_rec.n_gpu == 0) {
        fprintf(stderr, "kernels=1: no GPU activity recorded\n");
        return;
    }
    static trace_total kernels[TRACE_MAX_TOTALS], gaps[TRACE_MAX_TOTALS], api[TRACE_MAX_TOTALS];
    int n_kernels = 0, n_gaps = 0, n_api = 0;
    trace_span *g = trace_rec.gpu;
    qsort(g, trace_rec.n_gpu, sizeof *g, trace_by_start);
    double busy = 0, idle = 0;
    uint64_t covered = g[0].start;
    const char *last = g[0].name;
    for (size_t i = 0; i < trace_rec.n_gpu; i++) {
        trace_add(kernels, &n_kernels, g[i].name, (double)(g[i].end - g[i].start));
        if (g[i].start > covered) {
            idle += (double)(g[i].start - covered);
            trace_add(gaps, &n_gaps, last, (double)(g[i].start - covered));
        }
        if (g[i].end > covered) {
            busy += (double)(g[i].end - (g[i].start > covered ? g[i].start : covered));
            covered = g[i].end, last = g[i].name;
        }
    }
    for (size_t i = 0; i < trace_rec.n_api; i++)
        trace_add(api, &n_api, trace_rec.api[i].name,
                  (double)(trace_rec.api[i].end - trace_rec.api[i].start));
    double s = (double)steps;
    printf("{\"gpu_busy_ms\": %.3f, \"gpu_idle_ms\": %.3f, \"gpu_activities\": %.1f",
           busy * 1e-6 / s, idle * 1e-6 / s, (double)trace_rec.n_gpu / s);
    trace_print("kernels", kernels, n_kernels, 40, s);
    trace_print("idle_after", gaps, n_gaps, 15, s);
    trace_print("host_calls", api, n_api, 15, s);
    printf("}\n");
    free(trace_rec.gpu), free(trace_rec.api);
}

#else

static bool kernel_trace_start(void) {
    fprintf(stderr, "kernels=1: built without CUPTI (CMake found no CUDA::cupti)\n");
    return false;
}

static void kernel_trace_stop(void) {}

static void kernel_trace_report(int64_t steps) { (void)steps; }

#endif
#endif
