/* profiler_impl.h: the profiler's state, shared by profiler.c (actions,
 * spans, the run's life and the simple report) and profiler_trace.c (the
 * ops hook and the Chrome/Perfetto trace file). */
#ifndef VOLT_PROFILER_IMPL_H
#define VOLT_PROFILER_IMPL_H

#include "train/train_impl.h"

/* An action: what a span times, one per name and kind. Keys find it: a
 * literal's address, an op name's address, the owner of a hook (with its
 * name and the hook). */
enum { PROF_LITERAL = 0, PROF_OP, PROF_HOOK };

typedef struct {
    const char *name; /* the literal, or `owned` */
    char *owned;
    const char *cat;  /* the trace category: stage, loop, data, hook, trainer, op */
    int kind;         /* PROF_* */
    int64_t calls;    /* this run */
    int64_t total_ns; /* this run */
} prof_action;

typedef struct {
    const void *key, *key2;
    int id;     /* the hook; -1 */
    int action; /* -1: an empty slot */
} prof_key;

typedef struct {
    int action;
    int64_t start_ns;
} prof_open;

/* A closed span (trace only). */
typedef struct {
    int32_t action, depth;
    int64_t start_ns, dur_ns;
} prof_event;

struct volt_profiler {
    bool trace;
    char *kind, *path; /* copies of config.profiler, config.profiler_path (NULL) */

    prof_action *actions;
    int n_actions, cap_actions;
    prof_key *keys; /* open addressing; n_slots a power of 2 */
    int n_keys, n_slots;

    prof_open *stack;
    int depth, cap_stack;

    prof_event *events; /* every run of the trainer */
    int64_t n_events, cap_events, dropped;

    int64_t origin_ns; /* the trace's time zero: the first run's start */
    int64_t run_ns;    /* the last run's length */
    int run_token;     /* the run's span; -1 outside runs */
    int run_action;    /* the run's action (the report's Total row) */
    const char *stage; /* of the run */
    long pid, tid;
    bool report_written; /* simple with a path: later runs append */

    volt_trace_hook hook; /* ops -> spans (trace) */
    const volt_trace_hook *prev_hook;
};

/* profiler.c */
int64_t volt_prof_now_ns(void);
/* The action of (key, key2, id), named `name` of `kind` when the key is new;
 * -1 on no memory. */
int volt_prof_action(volt_profiler *p, const void *key, const void *key2, int id, int kind,
                     const char *name);
/* Opens a span of `action` (-1: none); returns its token, -1 when it could
 * not. pop_to closes the span of `token` and every span inside it. */
int volt_prof_push(volt_profiler *p, int action);
void volt_prof_pop_to(volt_profiler *p, int token);

/* profiler_trace.c */
/* Records a closed span (trace): an event, unless the buffer is full. */
void volt_prof_trace_event(volt_profiler *p, int action, int depth, int64_t start_ns,
                           int64_t dur_ns);
/* Installs / removes the ops hook on the calling thread. */
void volt_prof_trace_hook_ops(volt_profiler *p, bool on);
/* Writes every event so far to the trace file, atomically. */
volt_status volt_prof_trace_write(volt_profiler *p, const char *path);

#endif
