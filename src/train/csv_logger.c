/* csv_logger.c: Lightning's CSVLogger — rows of metrics kept in memory and
 * written whole (metrics.csv: the sorted union of the columns, "epoch" and
 * "step" among them) with hparams.yaml, atomically, under
 * <save_dir>/<name>/version_<N>, made when something is first written. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io_impl.h"
#include "train/train_impl.h"

typedef struct {
    volt_metrics m;
    int64_t step;
} csv_row;

typedef struct {
    volt_logger base;
    char *save_dir, *name, *dir;
    int64_t version;
    csv_row *rows;
    int64_t n_rows, cap_rows, flush_every, unflushed;
    char *hparams; /* the YAML text; NULL until log_hyperparams */
    bool dirty;
} csv_logger;

static int64_t next_version(const char *root) {
    DIR *d = opendir(root);
    if (!d) return 0;
    int64_t best = -1;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        char *end;
        if (strncmp(ent->d_name, "version_", 8) != 0) continue;
        long long v = strtoll(ent->d_name + 8, &end, 10);
        if (*end == 0 && end != ent->d_name + 8 && v > best) best = v;
    }
    closedir(d);
    return best + 1;
}

static const char *csv_log_dir(volt_logger *self) {
    csv_logger *l = (csv_logger *)self;
    if (l->dir) return l->dir;
    char root[4096];
    snprintf(root, sizeof root, "%s/%s", l->save_dir, l->name);
    if (l->version < 0) l->version = next_version(root);
    size_t n = strlen(root) + 32;
    l->dir = malloc(n);
    if (l->dir) snprintf(l->dir, n, "%s/version_%lld", root, (long long)l->version);
    return l->dir;
}

/* Whole numbers as integers, others as the shortest %g text that reads
 * back as v. */
static void fmt_number(char *buf, size_t n, double v) {
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends to a growing text buffer. */
typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} text;

static void put(text *t, const char *s) {
    size_t k = strlen(s);
    if (t->n + k + 1 > t->cap) {
        size_t cap = (t->cap ? t->cap : 256);
        while (cap < t->n + k + 1) cap *= 2;
        char *g = realloc(t->s, cap);
        if (!g) {
            t->oom = true;
            return;
        }
        t->s = g;
        t->cap = cap;
    }
    memcpy(t->s + t->n, s, k + 1);
    t->n += k;
}

static volt_status write_file(const char *dir, const char *file, const text *body) {
    if (body->oom) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv logger: out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    volt_atomic_file *f = volt_atomic_file_open(path, "csv logger");
    if (!f) return volt_error_status();
    volt_status st = volt_atomic_file_write(f, body->s ? body->s : "", body->n);
    if (st) {
        volt_atomic_file_abort(f);
        return st;
    }
    return volt_atomic_file_commit(f);
}

static volt_status csv_text(csv_logger *l, text *out) {
    volt_metrics cols = {0};
    volt_status st = volt_metrics_set(&cols, "step", 0);
    for (int64_t r = 0; r < l->n_rows && !st; r++)
        for (int64_t i = 0; i < l->rows[r].m.count && !st; i++)
            st = volt_metrics_set(&cols, l->rows[r].m.names[i], 0);
    if (st) {
        volt_metrics_release(&cols);
        return st;
    }
    qsort(cols.names, (size_t)cols.count, sizeof *cols.names, cmp_str);
    for (int64_t c = 0; c < cols.count; c++) {
        if (c) put(out, ",");
        put(out, cols.names[c]);
    }
    put(out, "\n");
    char num[40];
    for (int64_t r = 0; r < l->n_rows; r++) {
        for (int64_t c = 0; c < cols.count; c++) {
            if (c) put(out, ",");
            const volt_metrics *m = &l->rows[r].m;
            if (strcmp(cols.names[c], "step") == 0 && !volt_metrics_has(m, "step")) {
                fmt_number(num, sizeof num, (double)l->rows[r].step);
                put(out, num);
            } else if (volt_metrics_has(m, cols.names[c])) {
                fmt_number(num, sizeof num, volt_metrics_get(m, cols.names[c]));
                put(out, num);
            }
        }
        put(out, "\n");
    }
    volt_metrics_release(&cols);
    return VOLT_OK;
}

static volt_status csv_flush(volt_logger *self) {
    csv_logger *l = (csv_logger *)self;
    if (!l->dirty) return VOLT_OK;
    const char *dir = csv_log_dir(self);
    if (!dir) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv logger: out of memory");
    volt_status st = volt_make_dirs(dir, "csv logger");
    if (!st && l->hparams) {
        text y = {0};
        put(&y, l->hparams);
        st = write_file(dir, "hparams.yaml", &y);
        free(y.s);
    }
    if (!st && l->n_rows) {
        text c = {0};
        st = csv_text(l, &c);
        if (!st) st = write_file(dir, "metrics.csv", &c);
        free(c.s);
    }
    if (!st) {
        l->dirty = false;
        l->unflushed = 0;
    }
    return st;
}

static volt_status csv_log_metrics(volt_logger *self, const volt_metrics *m, int64_t step) {
    csv_logger *l = (csv_logger *)self;
    if (l->n_rows == l->cap_rows) {
        int64_t cap = l->cap_rows ? 2 * l->cap_rows : 64;
        csv_row *g = realloc(l->rows, (size_t)cap * sizeof *g);
        if (!g) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv logger: out of memory");
        l->rows = g;
        l->cap_rows = cap;
    }
    csv_row *row = &l->rows[l->n_rows];
    *row = (csv_row){.step = step};
    for (int64_t i = 0; i < m->count; i++) {
        volt_status st = volt_metrics_set(&row->m, m->names[i], m->values[i]);
        if (st) {
            volt_metrics_release(&row->m);
            return st;
        }
    }
    l->n_rows++;
    l->dirty = true;
    if (++l->unflushed >= l->flush_every) return csv_flush(self);
    return VOLT_OK;
}

static void yaml_string(text *y, const char *s) {
    put(y, "\"");
    for (; *s; s++) {
        char c[3] = {*s, 0, 0};
        if (*s == '"' || *s == '\\')
            c[0] = '\\', c[1] = *s;
        else if (*s == '\n')
            c[0] = '\\', c[1] = 'n';
        put(y, c);
    }
    put(y, "\"");
}

static volt_status csv_log_hyperparams(volt_logger *self, const volt_module *m) {
    csv_logger *l = (csv_logger *)self;
    text y = {0};
    int n = volt_module_hparam_count(m);
    for (int i = 0; i < n; i++) {
        put(&y, volt_module_hparam_name(m, i));
        put(&y, ": ");
        if (volt_module_hparam_type(m, i) == VOLT_HPARAM_STRING)
            yaml_string(&y, volt_module_hparam_text(m, i));
        else
            put(&y, volt_module_hparam_text(m, i));
        put(&y, "\n");
    }
    if (n == 0) put(&y, "{}\n");
    if (y.oom) {
        free(y.s);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv logger: out of memory");
    }
    free(l->hparams);
    l->hparams = y.s;
    l->dirty = true;
    return VOLT_OK;
}

static volt_status csv_finalize(volt_logger *self, bool success) {
    csv_logger *l = (csv_logger *)self;
    if (!success && l->n_rows == 0) return VOLT_OK; /* failed before logging anything */
    return csv_flush(self);
}

static void csv_free(volt_logger *self) {
    csv_logger *l = (csv_logger *)self;
    for (int64_t r = 0; r < l->n_rows; r++) volt_metrics_release(&l->rows[r].m);
    free(l->rows);
    free(l->save_dir);
    free(l->name);
    free(l->dir);
    free(l->hparams);
    free(l);
}

static const volt_logger_ops csv_ops = {
    .name = "CSVLogger",
    .log_hyperparams = csv_log_hyperparams,
    .log_metrics = csv_log_metrics,
    .flush = csv_flush,
    .finalize = csv_finalize,
    .log_dir = csv_log_dir,
    .free = csv_free,
};

volt_logger *volt_csv_logger_new(const char *save_dir, const char *name, int64_t version,
                                 int64_t flush_every) {
    if (!save_dir || !*save_dir || !name || !*name || strchr(name, '/') || flush_every < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "csv logger: needs a save_dir, a name without '/' and flush_every >= 0");
        return NULL;
    }
    csv_logger *l = calloc(1, sizeof *l);
    if (l) {
        l->save_dir = strdup(save_dir);
        l->name = strdup(name);
    }
    if (!l || !l->save_dir || !l->name) {
        if (l) csv_free(&l->base);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv logger: out of memory");
        return NULL;
    }
    l->base.ops = &csv_ops;
    l->version = version;
    l->flush_every = flush_every ? flush_every : 100;
    return &l->base;
}
