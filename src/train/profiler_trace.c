/* profiler_trace.c: config.profiler = "trace" — the ops hook (core.h's
 * volt_trace_hook: every op on the trainer's thread becomes a span), the
 * buffer of closed spans, and the Chrome/Perfetto trace file: the JSON
 * object format, {"traceEvents": [...]} with one complete ("X") event per
 * span (ts and dur in microseconds), written atomically. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_impl.h"
#include "train/profiler_impl.h"

/* Op spans stop being recorded past this many events (about 24 MiB of
 * buffer, 120 MiB of JSON), the others past twice as many: a trace viewer
 * chokes on more. What is left out is counted in the file. */
#define OP_EVENT_CAP ((int64_t)1 << 20)

/* ------------------------------------------------------------------- ops */

static void op_begin(void *ctx, const char *name) {
    volt_profiler *p = ctx;
    volt_prof_push(p, volt_prof_action(p, name, NULL, -2, PROF_OP, name));
}

static void op_end(void *ctx) {
    volt_profiler *p = ctx;
    if (p->depth > 0 && p->actions[p->stack[p->depth - 1].action].kind == PROF_OP)
        volt_prof_pop_to(p, p->depth - 1);
}

void volt_prof_trace_hook_ops(volt_profiler *p, bool on) {
    if (on) {
        p->hook = (volt_trace_hook){op_begin, op_end, p};
        p->prev_hook = volt_trace_hook_set(&p->hook);
    } else {
        volt_trace_hook_set(p->prev_hook);
        p->prev_hook = NULL;
    }
}

/* ---------------------------------------------------------------- events */

void volt_prof_trace_event(volt_profiler *p, int action, int depth, int64_t start_ns,
                           int64_t dur_ns) {
    bool op = p->actions[action].kind == PROF_OP;
    if (p->n_events >= (op ? OP_EVENT_CAP : 2 * OP_EVENT_CAP)) {
        p->dropped++;
        return;
    }
    if (p->n_events == p->cap_events) {
        int64_t cap = p->cap_events ? 2 * p->cap_events : 4096;
        prof_event *grown = realloc(p->events, (size_t)cap * sizeof *grown);
        if (!grown) {
            p->dropped++;
            return;
        }
        p->events = grown;
        p->cap_events = cap;
    }
    p->events[p->n_events++] = (prof_event){action, depth, start_ns, dur_ns};
}

/* Parents before children: by start, then longest first, then outermost. */
static int by_start(const void *a, const void *b) {
    const prof_event *x = a, *y = b;
    if (x->start_ns != y->start_ns) return x->start_ns < y->start_ns ? -1 : 1;
    if (x->dur_ns != y->dur_ns) return x->dur_ns > y->dur_ns ? -1 : 1;
    return (x->depth > y->depth) - (x->depth < y->depth);
}

/* ---------------------------------------------------------------- output */

typedef struct {
    volt_atomic_file *f;
    char buf[1 << 16];
    size_t n;
    volt_status st;
} out_buf;

static void flush_out(out_buf *o) {
    if (!o->st && o->n) o->st = volt_atomic_file_write(o->f, o->buf, o->n);
    o->n = 0;
}

static void put(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_buf *o, const char *fmt, ...) {
    if (sizeof o->buf - o->n < 512) flush_out(o);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->n, sizeof o->buf - o->n, fmt, ap);
    va_end(ap);
    if (k > 0) o->n += (size_t)k < sizeof o->buf - o->n ? (size_t)k : sizeof o->buf - o->n - 1;
}

/* A JSON string (quotes included), escaped; long names are cut at 200 bytes. */
static void put_string(out_buf *o, const char *s) {
    char esc[1300];
    size_t k = 0;
    esc[k++] = '"';
    for (size_t i = 0; s[i] && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)c;
        } else if (c < 0x20) {
            k += (size_t)snprintf(esc + k, sizeof esc - k, "\\u%04x", c);
        } else {
            esc[k++] = (char)c;
        }
    }
    esc[k++] = '"';
    if (sizeof o->buf - o->n < k) flush_out(o);
    memcpy(o->buf + o->n, esc, k);
    o->n += k;
}

/* Nanoseconds as microseconds with three decimals, exactly. */
static void put_us(out_buf *o, int64_t ns) {
    put(o, "%lld.%03lld", (long long)(ns / 1000), (long long)(ns % 1000));
}

static void put_event(out_buf *o, const volt_profiler *p, const prof_event *e) {
    const prof_action *x = &p->actions[e->action];
    put(o, ",\n{\"name\":");
    put_string(o, x->name);
    put(o, ",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":", x->cat);
    put_us(o, e->start_ns - p->origin_ns);
    put(o, ",\"dur\":");
    put_us(o, e->dur_ns);
    put(o, ",\"pid\":%ld,\"tid\":%ld}", p->pid, p->tid);
}

volt_status volt_prof_trace_write(volt_profiler *p, const char *path) {
    out_buf *o = malloc(sizeof *o);
    if (!o) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "profiler: out of memory");
    o->n = 0;
    o->st = VOLT_OK;
    o->f = volt_atomic_file_open(path, "profiler");
    if (!o->f) {
        free(o);
        return volt_error_status();
    }
    qsort(p->events, (size_t)p->n_events, sizeof *p->events, by_start);
    put(o, "{\"traceEvents\":[\n");
    put(o,
        "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%ld,\"tid\":%ld,"
        "\"args\":{\"name\":\"volt\"}},\n",
        p->pid, p->tid);
    put(o,
        "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%ld,\"tid\":%ld,"
        "\"args\":{\"name\":\"trainer\"}}",
        p->pid, p->tid);
    for (int64_t i = 0; i < p->n_events; i++) put_event(o, p, &p->events[i]);
    put(o, "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"volt_version\":");
    put_string(o, volt_version());
    put(o, ",\"dropped_events\":%lld}}\n", (long long)p->dropped);
    flush_out(o);
    volt_status st = o->st;
    if (st)
        volt_atomic_file_abort(o->f);
    else
        st = volt_atomic_file_commit(o->f);
    free(o);
    return st;
}
