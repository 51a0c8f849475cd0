/* profiler.c: config.profiler — actions (named once, found by a hash of
 * their key), spans on a stack (begin/end tokens), per-run totals, the
 * run's life (volt_trainer_new, run start and end) and Lightning's
 * SimpleProfiler report: calls, mean, total and share of the run per action.
 * The trace output lives in profiler_trace.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/io_impl.h"
#include "train/profiler_impl.h"

int64_t volt_prof_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- actions */

static size_t slot_of(const volt_profiler *p, const void *key, const void *key2, int id) {
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15u;
    h ^= ((uint64_t)(uintptr_t)key2 + 0x632BE59BD9B4E019u) * 0xBF58476D1CE4E5B9u;
    h ^= (uint64_t)(uint32_t)id * 0xD6E8FEB86659FD93u;
    h ^= h >> 31;
    return (size_t)h & (size_t)(p->n_slots - 1);
}

static int find(const volt_profiler *p, const void *key, const void *key2, int id) {
    if (p->n_slots == 0) return -1;
    for (size_t s = slot_of(p, key, key2, id);; s = (s + 1) & (size_t)(p->n_slots - 1)) {
        const prof_key *k = &p->keys[s];
        if (k->action < 0) return -1;
        if (k->key == key && k->key2 == key2 && k->id == id) return k->action;
    }
}

static void put_key(volt_profiler *p, prof_key k) {
    size_t s = slot_of(p, k.key, k.key2, k.id);
    while (p->keys[s].action >= 0) s = (s + 1) & (size_t)(p->n_slots - 1);
    p->keys[s] = k;
}

static bool add_key(volt_profiler *p, const void *key, const void *key2, int id, int action) {
    if (2 * (p->n_keys + 1) > p->n_slots) {
        int n = p->n_slots ? 2 * p->n_slots : 64, old = p->n_slots;
        prof_key *keys = malloc((size_t)n * sizeof *keys), *prev = p->keys;
        if (!keys) return false;
        for (int i = 0; i < n; i++) keys[i].action = -1;
        p->keys = keys;
        p->n_slots = n;
        for (int i = 0; i < old; i++)
            if (prev[i].action >= 0) put_key(p, prev[i]);
        free(prev);
    }
    put_key(p, (prof_key){key, key2, id, action});
    p->n_keys++;
    return true;
}

static const char *category(const char *name, int kind) {
    static const char *const stages[] = {"fit", "validate", "test", "predict"};
    if (kind == PROF_HOOK) return "hook";
    if (kind == PROF_OP) return "op";
    for (size_t i = 0; i < sizeof stages / sizeof *stages; i++)
        if (strcmp(name, stages[i]) == 0) return "stage";
    if (strncmp(name, "run_", 4) == 0) return "loop";
    if (strncmp(name, "get_", 4) == 0) return "data";
    return "trainer";
}

/* The action named `name` of `kind`, made if new; `owned` (malloc'd or
 * NULL) is taken. One name is one action, whatever the key that found it:
 * the same literal at two addresses, two callbacks of one name. */
static int named(volt_profiler *p, int kind, const char *name, char *owned) {
    const char *nm = owned ? owned : name;
    for (int a = 0; a < p->n_actions; a++)
        if (p->actions[a].kind == kind && strcmp(p->actions[a].name, nm) == 0) {
            free(owned);
            return a;
        }
    if (p->n_actions == p->cap_actions) {
        int cap = p->cap_actions ? 2 * p->cap_actions : 64;
        prof_action *grown = realloc(p->actions, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(owned);
            return -1;
        }
        p->actions = grown;
        p->cap_actions = cap;
    }
    p->actions[p->n_actions] = (prof_action){nm, owned, category(nm, kind), kind, 0, 0};
    return p->n_actions++;
}

/* The action of a key not seen before, and the key recorded for it. */
static int resolve(volt_profiler *p, const void *key, const void *key2, int id, int kind,
                   const char *name, char *owned) {
    int a = named(p, kind, name, owned);
    if (a >= 0 && !add_key(p, key, key2, id, a)) return -1;
    return a;
}

int volt_prof_action(volt_profiler *p, const void *key, const void *key2, int id, int kind,
                     const char *name) {
    int a = find(p, key, key2, id);
    return a >= 0 ? a : resolve(p, key, key2, id, kind, name, NULL);
}

/* ------------------------------------------------------------------ spans */

int volt_prof_push(volt_profiler *p, int action) {
    if (action < 0) return -1;
    if (p->depth == p->cap_stack) {
        int cap = p->cap_stack ? 2 * p->cap_stack : 32;
        prof_open *grown = realloc(p->stack, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        p->stack = grown;
        p->cap_stack = cap;
    }
    p->stack[p->depth] = (prof_open){action, volt_prof_now_ns()};
    return p->depth++;
}

void volt_prof_pop_to(volt_profiler *p, int token) {
    if (token < 0 || token >= p->depth) return;
    int64_t now = volt_prof_now_ns();
    while (p->depth > token) {
        const prof_open *o = &p->stack[--p->depth];
        prof_action *x = &p->actions[o->action];
        x->calls++;
        x->total_ns += now - o->start_ns;
        if (p->trace) volt_prof_trace_event(p, o->action, p->depth, o->start_ns, now - o->start_ns);
    }
}

int volt_profiler_begin(volt_profiler *p, const char *action) {
    return volt_prof_push(p, volt_prof_action(p, action, NULL, -1, PROF_LITERAL, action));
}

int volt_profiler_begin_hook(volt_profiler *p, bool callback, const void *owner,
                             const char *owner_name, volt_hook_id id) {
    int a = find(p, owner, owner_name, (int)id);
    if (a < 0) {
        const char *who = owner_name ? owner_name : callback ? "callback" : "module";
        const char *kind = callback ? "[Callback]" : "[LightningModule]";
        const char *hook = volt_hook_name(id);
        size_t n = strlen(kind) + strlen(who) + strlen(hook) + 2;
        char *name = malloc(n);
        if (!name) return -1;
        snprintf(name, n, "%s%s.%s", kind, who, hook);
        a = resolve(p, owner, owner_name, (int)id, PROF_HOOK, NULL, name);
    }
    return volt_prof_push(p, a);
}

void volt_profiler_end(volt_profiler *p, int token) { volt_prof_pop_to(p, token); }

/* ------------------------------------------------------------- life cycle */

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

volt_status volt_profiler_setup(volt_trainer *t) {
    const char *kind = t->cfg.profiler, *path = t->cfg.profiler_path;
    t->cfg.profiler = t->cfg.profiler_path = NULL; /* never the caller's strings */
    if (!kind || !*kind) return VOLT_OK;
    volt_profiler *p = calloc(1, sizeof *p);
    if (!p) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "trainer: out of memory");
    t->profiler = p; /* volt_trainer_free frees it whatever happens next */
    p->kind = strdup(kind);
    p->path = dup_or_null(path);
    p->trace = strcmp(kind, "trace") == 0;
    p->run_token = -1;
    p->origin_ns = -1;
    p->pid = (long)getpid();
    if (!p->kind || (path && *path && !p->path))
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "trainer: out of memory");
    t->cfg.profiler = p->kind;
    t->cfg.profiler_path = p->path;
    return VOLT_OK;
}

void volt_profiler_free(volt_profiler *p) {
    if (!p) return;
    for (int a = 0; a < p->n_actions; a++) free(p->actions[a].owned);
    free(p->actions);
    free(p->keys);
    free(p->stack);
    free(p->events);
    free(p->kind);
    free(p->path);
    free(p);
}

void volt_profiler_run_start(volt_trainer *t) {
    volt_profiler *p = t->profiler;
    if (!p) return;
    for (int a = 0; a < p->n_actions; a++) p->actions[a].calls = p->actions[a].total_ns = 0;
    p->depth = 0;
    p->run_ns = 0;
    p->stage = volt_stage_name(t->stage);
    p->tid = (long)gettid();
    p->run_token = volt_profiler_begin(p, p->stage);
    if (p->origin_ns < 0 && p->run_token >= 0) p->origin_ns = p->stack[p->run_token].start_ns;
    if (p->trace) volt_prof_trace_hook_ops(p, true);
}

/* ----------------------------------------------------------------- report */

static int by_total(const void *a, const void *b) {
    const prof_action *x = *(const prof_action *const *)a, *y = *(const prof_action *const *)b;
    if (x->total_ns != y->total_ns) return x->total_ns < y->total_ns ? 1 : -1;
    return strcmp(x->name, y->name);
}

static void report_row(FILE *f, int width, const char *name, const char *mean, int64_t calls,
                       double total, double percent) {
    fprintf(f, "%-*s  |  %12s  |  %9lld  |  %12.5g  |  %7.2f\n", width, name, mean,
            (long long)calls, total, percent);
}

/* Lightning's SimpleProfiler table: every action of the run but the run
 * itself (the Total row), by total time. */
static void report_print(const volt_profiler *p, FILE *f) {
    const prof_action **rows = malloc((size_t)(p->n_actions ? p->n_actions : 1) * sizeof *rows);
    int n = 0, width = 6;
    int64_t calls = 0;
    for (int a = 0; rows && a < p->n_actions; a++) {
        const prof_action *x = &p->actions[a];
        if (x->calls == 0 || a == p->run_action) continue;
        rows[n++] = x;
        calls += x->calls;
        int w = (int)strlen(x->name);
        if (w > width) width = w < 96 ? w : 96;
    }
    if (rows) qsort(rows, (size_t)n, sizeof *rows, by_total);
    double run_s = (double)p->run_ns * 1e-9;
    char stage[16];
    size_t k = 0;
    for (; p->stage[k] && k < sizeof stage - 1; k++)
        stage[k] =
            (char)(p->stage[k] >= 'a' && p->stage[k] <= 'z' ? p->stage[k] - 32 : p->stage[k]);
    stage[k] = 0;
    fprintf(f, "%s Profiler Report\n\n", stage);
    fprintf(f, "%-*s  |  %12s  |  %9s  |  %12s  |  %7s\n", width, "Action", "Mean (s)", "Calls",
            "Total (s)", "Percent");
    int line = width + 2 + 5 + 12 + 5 + 9 + 5 + 12 + 5 + 7;
    for (int i = 0; i < line; i++) fputc('-', f);
    fputc('\n', f);
    report_row(f, width, "Total", "-", calls, run_s, 100.0);
    for (int i = 0; i < line; i++) fputc('-', f);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        const prof_action *x = rows[i];
        char mean[32];
        snprintf(mean, sizeof mean, "%.5g", (double)x->total_ns * 1e-9 / (double)x->calls);
        double pct = p->run_ns > 0 ? 100.0 * (double)x->total_ns / (double)p->run_ns : 0.0;
        report_row(f, width, x->name, mean, x->calls, (double)x->total_ns * 1e-9, pct);
    }
    fputc('\n', f);
    free(rows);
}

static volt_status report_write(volt_profiler *p) {
    if (!p->path) {
        report_print(p, stderr);
        fflush(stderr);
        return VOLT_OK;
    }
    volt_status st = volt_make_parent_dirs(p->path, "profiler");
    if (st) return st;
    FILE *f = fopen(p->path, p->report_written ? "a" : "w");
    if (!f) return volt_error_set(VOLT_ERR_IO, "profiler: cannot open %s for writing", p->path);
    report_print(p, f);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return volt_error_set(VOLT_ERR_IO, "profiler: cannot write %s", p->path);
    p->report_written = true;
    return VOLT_OK;
}

/* The trace file: profiler_path, else trace.json in the log directory (the
 * root directory without a logger). */
static volt_status trace_write(volt_trainer *t, volt_profiler *p) {
    if (p->path) {
        volt_status st = volt_make_parent_dirs(p->path, "profiler");
        return st ? st : volt_prof_trace_write(p, p->path);
    }
    const char *dir = t->log_enabled ? volt_trainer_log_dir(t) : NULL;
    if (!dir) dir = t->root_dir;
    size_t n = strlen(dir) + sizeof "/trace.json";
    char *path = malloc(n);
    if (!path) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "profiler: out of memory");
    snprintf(path, n, "%s/trace.json", dir);
    volt_status st = volt_make_parent_dirs(path, "profiler");
    if (!st) st = volt_prof_trace_write(p, path);
    free(path);
    return st;
}

volt_status volt_profiler_run_end(volt_trainer *t, volt_status st) {
    volt_profiler *p = t->profiler;
    if (!p || p->run_token < 0) return st;
    if (p->trace) volt_prof_trace_hook_ops(p, false);
    p->run_action = p->stack[p->run_token].action;
    volt_prof_pop_to(p, p->run_token);
    p->run_ns = p->actions[p->run_action].total_ns;
    p->run_token = -1;
    bool failed = st != VOLT_OK || volt_error_status() != VOLT_OK;
    volt_status had = volt_error_status();
    volt_status w = p->trace ? trace_write(t, p) : report_write(p);
    if (!failed) return w;
    if (w && !had) volt_error_clear(); /* the run's failure is the news, not the file's */
    return st;
}
