/* csv.c: a dataset over a CSV file of numbers — a header (or none), feature
 * columns and one label column; missing or non-numeric values are refused
 * with the file, line and column. Fields may be quoted ("1.5") but may not
 * contain the delimiter. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

typedef struct {
    volt_dataset base;
    int64_t n_rows, n_features;
    float *x;       /* [n_rows, n_features] */
    int64_t *y_int; /* [n_rows] class indices, or */
    float *y_float; /* [n_rows] regression targets */
} csv_dataset;

/* ----------------------------------------------------------------- parsing */

typedef struct {
    const char *path;
    char delim;
    int n_cols;
    char **names; /* header names (pointers into the text), NULL without a header */
    int label;    /* label column */
    bool float_label;
    int64_t line;  /* current line number, from 1 */
    char **fields; /* the current line's fields */
    int cap_fields;
    int64_t rows, cap_rows;
    float *x;
    double *y;
} csv_parser;

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* Splits `line` (NUL-terminated, changed in place) into p->fields; returns
 * the count or -1 when out of memory. */
static int split(csv_parser *p, char *line) {
    int n = 0;
    for (char *s = line;;) {
        if (n == p->cap_fields) {
            int cap = p->cap_fields ? 2 * p->cap_fields : 16;
            char **f = realloc(p->fields, (size_t)cap * sizeof *f);
            if (!f) return -1;
            p->fields = f;
            p->cap_fields = cap;
        }
        char *end = strchr(s, p->delim);
        if (end) *end = '\0';
        p->fields[n++] = trim(s);
        if (!end) return n;
        s = end + 1;
    }
}

static const char *column_name(const csv_parser *p, int c, char *buf, size_t size) {
    if (p->names) return p->names[c];
    snprintf(buf, size, "%d", c);
    return buf;
}

static bool is_missing(const char *s) {
    static const char *const missing[] = {"",    "NA",   "N/A",  "NaN", "nan",
                                          "NAN", "null", "NULL", "?"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++)
        if (strcmp(s, missing[i]) == 0) return true;
    return false;
}

static volt_status parse_value(const csv_parser *p, int c, const char *s, double *v) {
    char name[24];
    const char *col = column_name(p, c, name, sizeof name);
    if (is_missing(s))
        return volt_error_set(VOLT_ERR_FORMAT,
                              "csv: %s:%lld: column '%s' is missing a value "
                              "('%s'); missing values are not supported",
                              p->path, (long long)p->line, col, s);
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (*end != '\0')
        return volt_error_set(VOLT_ERR_FORMAT, "csv: %s:%lld: column '%s': '%s' is not a number",
                              p->path, (long long)p->line, col, s);
    if (!isfinite(*v))
        return volt_error_set(VOLT_ERR_FORMAT, "csv: %s:%lld: column '%s': '%s' is not finite",
                              p->path, (long long)p->line, col, s);
    if (c == p->label && !p->float_label && (*v != floor(*v) || fabs(*v) > 9007199254740992.0))
        return volt_error_set(VOLT_ERR_FORMAT,
                              "csv: %s:%lld: label column '%s' holds %s, not an "
                              "integer class index (set float_label for regression)",
                              p->path, (long long)p->line, col, s);
    return VOLT_OK;
}

static volt_status add_row(csv_parser *p, int n) {
    if (n != p->n_cols)
        return volt_error_set(VOLT_ERR_FORMAT, "csv: %s:%lld: %d fields, expected %d", p->path,
                              (long long)p->line, n, p->n_cols);
    if (p->rows == p->cap_rows) {
        int64_t cap = p->cap_rows ? 2 * p->cap_rows : 256;
        float *x = realloc(p->x, (size_t)cap * (size_t)(p->n_cols - 1) * sizeof *x);
        if (x) p->x = x;
        double *y = realloc(p->y, (size_t)cap * sizeof *y);
        if (y) p->y = y;
        if (!x || !y)
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv: %s: out of memory", p->path);
        p->cap_rows = cap;
    }
    float *xr = p->x + p->rows * (p->n_cols - 1);
    for (int c = 0, k = 0; c < n; c++) {
        double v = 0;
        if (parse_value(p, c, p->fields[c], &v) != VOLT_OK) return volt_error_status();
        if (c == p->label)
            p->y[p->rows] = v;
        else
            xr[k++] = (float)v;
    }
    p->rows++;
    return VOLT_OK;
}

static volt_status set_columns(csv_parser *p, int n, bool header, const char *label_column) {
    p->n_cols = n;
    if (header) {
        p->names = malloc((size_t)n * sizeof *p->names);
        if (!p->names) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv: out of memory");
        memcpy(p->names, p->fields, (size_t)n * sizeof *p->names);
    }
    if (n < 2)
        return volt_error_set(VOLT_ERR_FORMAT, "csv: %s: %d column; need features and a label",
                              p->path, n);
    p->label = n - 1;
    if (!label_column) return VOLT_OK;
    char name[24];
    for (int c = 0; c < n; c++)
        if (strcmp(column_name(p, c, name, sizeof name), label_column) == 0) {
            p->label = c;
            return VOLT_OK;
        }
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                          "csv: %s: no column '%s' (%d columns, the "
                          "first '%s')",
                          p->path, label_column, n, column_name(p, 0, name, sizeof name));
}

static volt_status parse(csv_parser *p, char *text, const volt_csv_options *opt) {
    bool need_header = !opt->no_header;
    bool have_columns = false;
    p->line = 0;
    for (char *s = text; *s;) {
        char *end = strchr(s, '\n');
        if (end) *end = '\0';
        size_t len = strlen(s);
        if (len > 0 && s[len - 1] == '\r') s[len - 1] = '\0';
        p->line++;
        char *next = end ? end + 1 : s + len;
        bool blank = true;
        for (char *c = s; *c && blank; c++) blank = isspace((unsigned char)*c);
        if (!blank) {
            int n = split(p, s);
            if (n < 0) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv: out of memory");
            volt_status st = VOLT_OK;
            if (!have_columns) {
                st = set_columns(p, n, need_header, opt->label_column);
                have_columns = true;
                if (st == VOLT_OK && !need_header) st = add_row(p, n);
            } else {
                st = add_row(p, n);
            }
            if (st != VOLT_OK) return st;
        }
        s = next;
    }
    if (p->rows == 0) return volt_error_set(VOLT_ERR_FORMAT, "csv: %s: no data rows", p->path);
    return VOLT_OK;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        volt_data_io_error("csv", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1 || ferror(f)) break;
        char *grown = realloc(buf, 2 * cap);
        if (!grown) free(buf);
        buf = grown;
        cap *= 2;
    }
    if (!buf)
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv: %s: out of memory", path);
    else if (ferror(f)) {
        volt_data_io_error("csv", path);
        free(buf);
        buf = NULL;
    } else
        buf[n] = '\0';
    fclose(f);
    if (buf && memchr(buf, '\0', n)) {
        volt_error_set(VOLT_ERR_FORMAT, "csv: %s: contains NUL bytes (not a text file)", path);
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* ----------------------------------------------------------------- dataset */

static int64_t csv_len(const volt_dataset *self) { return ((const csv_dataset *)self)->n_rows; }

static volt_tensor *label_tensor(const csv_dataset *d, int ndim, const int64_t *shape) {
    return volt_tensor_new(d->y_int ? VOLT_I64 : VOLT_F32, VOLT_DEVICE_CPU, ndim, shape);
}

static void copy_label(const csv_dataset *d, int64_t row, volt_tensor *y, int64_t j) {
    if (d->y_int)
        ((int64_t *)volt_tensor_data(y))[j] = d->y_int[row];
    else
        ((float *)volt_tensor_data(y))[j] = d->y_float[row];
}

static volt_status csv_get_batch(const volt_dataset *self, const int64_t *indices, int64_t n,
                                 volt_batch *out) {
    const csv_dataset *d = (const csv_dataset *)self;
    int64_t shape[2] = {n, d->n_features};
    volt_tensor *x = volt_tensor_new(VOLT_F32, VOLT_DEVICE_CPU, 2, shape);
    volt_tensor *y = label_tensor(d, 1, shape);
    if (!x || !y) {
        volt_tensor_free(x);
        volt_tensor_free(y);
        return volt_error_status();
    }
    size_t row = (size_t)d->n_features * sizeof(float);
    for (int64_t j = 0; j < n; j++) {
        memcpy((char *)volt_tensor_data(x) + (size_t)j * row, d->x + indices[j] * d->n_features,
               row);
        copy_label(d, indices[j], y, j);
    }
    volt_batch_set(out, "x", x);
    volt_batch_set(out, "y", y);
    out->size = n;
    return VOLT_OK;
}

static volt_status csv_get(const volt_dataset *self, int64_t index, volt_sample *out) {
    const csv_dataset *d = (const csv_dataset *)self;
    volt_tensor *x = volt_tensor_new(VOLT_F32, VOLT_DEVICE_CPU, 1, &d->n_features);
    volt_tensor *y = label_tensor(d, 0, NULL);
    if (!x || !y) {
        volt_tensor_free(x);
        volt_tensor_free(y);
        return volt_error_status();
    }
    memcpy(volt_tensor_data(x), d->x + index * d->n_features,
           (size_t)d->n_features * sizeof(float));
    copy_label(d, index, y, 0);
    volt_sample_set(out, "x", x);
    return volt_sample_set(out, "y", y);
}

static void csv_free(volt_dataset *self) {
    csv_dataset *d = (csv_dataset *)self;
    free(d->x);
    free(d->y_int);
    free(d->y_float);
    free(d);
}

static const volt_dataset_ops csv_ops = {
    .name = "csv_dataset",
    .len = csv_len,
    .get = csv_get,
    .get_batch = csv_get_batch,
    .free = csv_free,
};

volt_dataset *volt_csv_dataset_new(const char *path, const volt_csv_options *opt) {
    volt_csv_options o = opt ? *opt : (volt_csv_options){0};
    if (!path) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "csv: NULL path");
        return NULL;
    }
    if (o.delimiter == '\n' || o.delimiter == '"') {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "csv: delimiter '\\x%02x' is not allowed",
                       (unsigned char)o.delimiter);
        return NULL;
    }
    char *text = read_text(path);
    if (!text) return NULL;
    csv_parser p = {
        .path = path, .delim = o.delimiter ? o.delimiter : ',', .float_label = o.float_label};
    volt_status st = parse(&p, text, &o);
    csv_dataset *d = st == VOLT_OK ? calloc(1, sizeof *d) : NULL;
    if (st == VOLT_OK && !d) st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv: out of memory");
    if (d) {
        *d = (csv_dataset){
            .base.ops = &csv_ops, .n_rows = p.rows, .n_features = p.n_cols - 1, .x = p.x};
        p.x = NULL;
        if (o.float_label) {
            d->y_float = malloc((size_t)p.rows * sizeof *d->y_float);
            for (int64_t r = 0; d->y_float && r < p.rows; r++) d->y_float[r] = (float)p.y[r];
        } else {
            d->y_int = malloc((size_t)p.rows * sizeof *d->y_int);
            for (int64_t r = 0; d->y_int && r < p.rows; r++) d->y_int[r] = (int64_t)p.y[r];
        }
        if (!d->y_float && !d->y_int)
            st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "csv: out of memory");
    }
    free(p.x);
    free(p.y);
    free(p.names);
    free(p.fields);
    free(text);
    if (st != VOLT_OK && d) {
        csv_free(&d->base);
        d = NULL;
    }
    return d ? &d->base : NULL;
}
