/* tensorboard_logger.c: Lightning's TensorBoardLogger — one event file
 * (io/tfevents.h) under <save_dir>/<name>/version_<N> with a scalar per
 * logged metric and the module's hyperparameters as the HPARAMS plugin's
 * session summaries. One logger keeps one writer, so every run of a
 * trainer (fit, then validate/test/predict) appends to the same file: each
 * finalize writes what is buffered and leaves the file open for the next
 * run; free closes it (fsync). Records are buffered and reach the file at
 * the first row, when a write finds flush_secs passed since the last flush,
 * on flush and at the end of each run.
 *
 * The HPARAMS session: TensorBoard reads the first session_start_info and
 * the first session_end_info of a run directory, so the file holds one of
 * each: the start at the first run that logs hyperparameters, the end (its
 * status) at the end of that run. A first run that fails before logging a
 * metric leaves nothing (the file is never made); a later one adds nothing. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/tfevents.h"
#include "train/train_impl.h"

typedef struct {
    volt_logger base;
    char *save_dir, *name, *dir;
    int64_t version;
    double flush_secs, last_flush; /* last_flush: monotonic seconds */
    volt_tfevents *w;              /* NULL until something is logged; then kept until free */
    bool session;                  /* w holds a session_start_info */
    bool session_ended;            /* ... and its session_end_info */
    bool rows;                     /* w holds metrics */
} tb_logger;

static double mono_secs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One more than the largest version_<N> in root; 0 when there is none. */
static int64_t first_free_version(const char *root) {
    DIR *d = opendir(root);
    if (!d) return 0;
    int64_t top = -1;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, "version_", 8) != 0) continue;
        long long v = strtoll(e->d_name + 8, &end, 10);
        if (end != e->d_name + 8 && *end == 0 && v > top) top = v;
    }
    closedir(d);
    return top + 1;
}

static const char *tb_log_dir(volt_logger *self) {
    tb_logger *l = (tb_logger *)self;
    if (l->dir) return l->dir;
    size_t n = strlen(l->save_dir) + strlen(l->name) + 40;
    char *dir = malloc(n);
    if (!dir) return NULL;
    snprintf(dir, n, "%s/%s", l->save_dir, l->name);
    if (l->version < 0) l->version = first_free_version(dir);
    snprintf(dir, n, "%s/%s/version_%lld", l->save_dir, l->name, (long long)l->version);
    l->dir = dir;
    return dir;
}

static volt_tfevents *writer(tb_logger *l) {
    if (l->w) return l->w;
    const char *dir = tb_log_dir(&l->base);
    if (!dir) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "tensorboard logger: out of memory");
        return NULL;
    }
    l->w = volt_tfevents_new(dir);
    l->last_flush = mono_secs();
    l->session = l->session_ended = l->rows = false;
    return l->w;
}

static volt_status tb_flush(volt_logger *self) {
    tb_logger *l = (tb_logger *)self;
    if (!l->w || !l->rows) return VOLT_OK; /* hyperparameters alone wait for a metric */
    l->last_flush = mono_secs();
    return volt_tfevents_flush(l->w);
}

static volt_status tb_log_metrics(volt_logger *self, const volt_metrics *m, int64_t step) {
    tb_logger *l = (tb_logger *)self;
    if (m->count == 0) return VOLT_OK;
    if (!writer(l)) return volt_error_status();
    volt_status st =
        volt_tfevents_add_scalars(l->w, step, m->count, (const char *const *)m->names, m->values);
    if (st) return st;
    bool first = !l->rows;
    l->rows = true;
    if (first || mono_secs() - l->last_flush >= l->flush_secs) return tb_flush(self);
    return VOLT_OK;
}

static volt_status tb_log_hyperparams(volt_logger *self, const volt_module *m) {
    tb_logger *l = (tb_logger *)self;
    int n = volt_module_hparam_count(m);
    if (n <= 0) return VOLT_OK;     /* no HPARAMS row for a module without any */
    if (l->session) return VOLT_OK; /* one session per file: TensorBoard reads the first */
    volt_tfevents_hparam *hp = calloc((size_t)n, sizeof *hp);
    if (!hp) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "tensorboard logger: out of memory");
    for (int i = 0; i < n; i++) {
        hp[i].name = volt_module_hparam_name(m, i);
        switch (volt_module_hparam_type(m, i)) {
        case VOLT_HPARAM_STRING:
            hp[i].kind = VOLT_TFEVENTS_STRING;
            hp[i].string = volt_module_hparam_text(m, i);
            break;
        case VOLT_HPARAM_BOOL:
            hp[i].kind = VOLT_TFEVENTS_BOOL;
            hp[i].boolean = strcmp(volt_module_hparam_text(m, i), "true") == 0;
            break;
        default:
            hp[i].kind = VOLT_TFEVENTS_NUMBER;
            hp[i].number = volt_module_hparam_number(m, hp[i].name);
        }
    }
    volt_status st = writer(l) ? volt_tfevents_add_session_start(l->w, hp, n) : volt_error_status();
    if (!st) l->session = true;
    free(hp);
    return st;
}

/* The end of a run: the session's end (once, with this run's status) and
 * everything buffered go to the file, which stays open for the trainer's
 * next run. A run that fails before the file exists and logged no metric
 * writes nothing: the writer is dropped, and the next run starts afresh. */
static volt_status tb_finalize(volt_logger *self, bool success) {
    tb_logger *l = (tb_logger *)self;
    if (!l->w) return VOLT_OK;
    if (!success && !l->rows && !volt_tfevents_path(l->w)) {
        volt_tfevents_free(l->w);
        l->w = NULL;
        l->session = l->session_ended = l->rows = false;
        return VOLT_OK;
    }
    if (l->session && !l->session_ended) {
        volt_status st = volt_tfevents_add_session_end(l->w, success);
        if (st) return st;
        l->session_ended = true;
    }
    l->last_flush = mono_secs();
    return volt_tfevents_flush(l->w);
}

/* Closes the file (flush, fsync). A free cannot report a failure: with an
 * error already recorded the file is closed without a sync, and an error of
 * the close itself is dropped. */
static void tb_free(volt_logger *self) {
    tb_logger *l = (tb_logger *)self;
    if (l->w && !volt_error_status() && volt_tfevents_path(l->w)) {
        volt_tfevents_close(l->w);
        volt_error_clear();
    } else {
        volt_tfevents_free(l->w);
    }
    free(l->save_dir);
    free(l->name);
    free(l->dir);
    free(l);
}

static const volt_logger_ops tb_ops = {
    .name = "TensorBoardLogger",
    .log_hyperparams = tb_log_hyperparams,
    .log_metrics = tb_log_metrics,
    .flush = tb_flush,
    .finalize = tb_finalize,
    .log_dir = tb_log_dir,
    .free = tb_free,
};

volt_logger *volt_tensorboard_logger_new(const char *save_dir, const char *name, int64_t version,
                                         double flush_secs) {
    if (!save_dir || !*save_dir || !name || !*name || strchr(name, '/') || !(flush_secs >= 0)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "tensorboard logger: needs a save_dir, a name without '/' and "
                       "flush_secs >= 0");
        return NULL;
    }
    tb_logger *l = calloc(1, sizeof *l);
    if (l) {
        l->save_dir = strdup(save_dir);
        l->name = strdup(name);
    }
    if (!l || !l->save_dir || !l->name) {
        if (l) tb_free(&l->base);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "tensorboard logger: out of memory");
        return NULL;
    }
    l->base.ops = &tb_ops;
    l->version = version;
    l->flush_secs = flush_secs;
    return &l->base;
}
