/* text_chars.c: character-level text — the byte vocabulary (the sorted
 * distinct bytes of a text) with its encoder and decoder, reading a corpus
 * from files, directories and lists of both, and an in-memory dataset of
 * (x, y) next-token windows over the encoded text (tokens.c's windows,
 * without the file: the corpus is read and encoded in memory). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/text_impl.h"

/* ------------------------------------------------------------ vocabulary */

void volt_char_vocab_build(volt_char_vocab *v, const void *text, int64_t n) {
    bool seen[256] = {false};
    const uint8_t *p = text;
    for (int64_t i = 0; p && i < n; i++) seen[p[i]] = true;
    v->size = 0;
    for (int c = 0; c < 256; c++) {
        v->index[c] = (int16_t)(seen[c] ? v->size : -1);
        if (seen[c]) v->chars[v->size++] = (uint8_t)c;
    }
}

volt_status volt_char_vocab_encode(const volt_char_vocab *v, const char *text, int64_t n,
                                   int64_t *tokens) {
    if (!v || (n > 0 && (!text || !tokens)) || n < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "char_vocab_encode: %s",
                              !v ? "NULL vocabulary" : "bad text or token array");
    for (int64_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)text[i];
        if (v->index[c] < 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "char_vocab_encode: byte 0x%02x ('%c') at %lld is not in the "
                                  "vocabulary of %d characters",
                                  c, c >= 32 && c < 127 ? c : '?', (long long)i, v->size);
        tokens[i] = v->index[c];
    }
    return VOLT_OK;
}

volt_status volt_char_vocab_decode(const volt_char_vocab *v, const int64_t *tokens, int64_t n,
                                   char *text) {
    if (!v || !text || n < 0 || (n > 0 && !tokens))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "char_vocab_decode: %s",
                              !v ? "NULL vocabulary" : "bad token array or text buffer");
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= v->size) {
            text[i] = '\0';
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "char_vocab_decode: token %lld at %lld is out of range for a "
                                  "vocabulary of %d characters",
                                  (long long)tokens[i], (long long)i, v->size);
        }
        text[i] = (char)v->chars[tokens[i]];
    }
    text[n] = '\0';
    return VOLT_OK;
}

/* ---------------------------------------------------------------- reading */

typedef struct {
    uint8_t *data;
    int64_t n, cap;
} byte_buf;

static volt_status append_file(byte_buf *b, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return volt_data_io_error("text", path);
    volt_status st = VOLT_OK;
    for (;;) {
        if (b->cap - b->n < 65536) {
            int64_t cap = b->cap ? 2 * b->cap : 1 << 20;
            uint8_t *d = realloc(b->data, (size_t)cap);
            if (!d) {
                st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "text: %s: out of memory", path);
                break;
            }
            b->data = d;
            b->cap = cap;
        }
        size_t got = fread(b->data + b->n, 1, (size_t)(b->cap - b->n), f);
        b->n += (int64_t)got;
        if (got == 0) {
            if (ferror(f)) st = volt_data_io_error("text", path);
            break;
        }
    }
    fclose(f);
    return st;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_text_name(const char *name) {
    size_t n = strlen(name);
    return name[0] != '.' && !(n >= 4 && strcmp(name + n - 4, ".dat") == 0);
}

/* The names of dir's regular files (not symbolic links) that is_text_name
 * accepts, sorted; *count of them. */
static volt_status list_dir(const char *dir, char ***names, int *count) {
    DIR *d = opendir(dir);
    if (!d) return volt_data_io_error("text", dir);
    volt_status st = VOLT_OK;
    int n = 0, cap = 0;
    char **v = NULL, path[4096];
    for (struct dirent *e; st == VOLT_OK && (e = readdir(d));) {
        struct stat s;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!is_text_name(e->d_name) || lstat(path, &s) != 0 || !S_ISREG(s.st_mode)) continue;
        char **w = n < cap ? v : realloc(v, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *w);
        if (w) v = w;
        if (!w || !(v[n] = strdup(e->d_name)))
            st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "text: %s: out of memory", dir);
        else
            n++;
    }
    closedir(d);
    if (v) qsort(v, (size_t)n, sizeof *v, by_name);
    *names = v;
    *count = n;
    return st;
}

static volt_status append_dir(byte_buf *b, const char *dir) {
    char **names = NULL, path[4096];
    int n = 0;
    volt_status st = list_dir(dir, &names, &n);
    if (st == VOLT_OK && n == 0)
        st = volt_error_set(VOLT_ERR_IO,
                            "text: %s: no text files in the directory (hidden files, *.dat files "
                            "and symbolic links are skipped)",
                            dir);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (st == VOLT_OK) st = append_file(b, path);
        free(names[i]);
    }
    free(names);
    return st;
}

static volt_status append_path(byte_buf *b, const char *path) {
    struct stat s;
    if (stat(path, &s) != 0) return volt_data_io_error("text", path);
    if (S_ISDIR(s.st_mode)) return append_dir(b, path);
    if (S_ISREG(s.st_mode)) return append_file(b, path);
    return volt_error_set(VOLT_ERR_IO, "text: %s: not a file or a directory", path);
}

volt_status volt_text_read(const char *path, uint8_t **text, int64_t *n) {
    *text = NULL;
    *n = 0;
    if (!path || !*path) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "text: path is required");
    char *list = strdup(path);
    if (!list) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "text: out of memory");
    byte_buf b = {0};
    volt_status st = VOLT_OK;
    char *save = NULL;
    for (char *p = strtok_r(list, ":", &save); p && st == VOLT_OK; p = strtok_r(NULL, ":", &save))
        st = append_path(&b, p);
    if (st == VOLT_OK && b.n == 0)
        st = volt_error_set(VOLT_ERR_FORMAT, "text: %s: no text (the files are empty)", path);
    free(list);
    if (st != VOLT_OK) {
        free(b.data);
        return st;
    }
    *text = b.data;
    *n = b.n;
    return VOLT_OK;
}

/* ---------------------------------------------------------------- windows */

typedef struct {
    volt_dataset base;
    const uint8_t *tokens;
    int64_t n, block, stride, n_items;
} windows;

static int64_t windows_len(const volt_dataset *self) { return ((const windows *)self)->n_items; }

static void fill(const windows *w, int64_t index, int64_t *x, int64_t *y) {
    const uint8_t *p = w->tokens + index * w->stride;
    for (int64_t t = 0; t < w->block; t++) {
        x[t] = p[t];
        y[t] = p[t + 1];
    }
}

static volt_status windows_get_batch(const volt_dataset *self, const int64_t *indices, int64_t n,
                                     volt_batch *out) {
    const windows *w = (const windows *)self;
    int64_t shape[2] = {n, w->block};
    volt_tensor *x = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 2, shape);
    volt_tensor *y = x ? volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 2, shape) : NULL;
    if (!y) {
        volt_tensor_free(x);
        return volt_error_status();
    }
    int64_t *px = volt_tensor_data(x), *py = volt_tensor_data(y);
    for (int64_t j = 0; j < n; j++) fill(w, indices[j], px + j * w->block, py + j * w->block);
    volt_batch_set(out, "x", x);
    volt_batch_set(out, "y", y);
    out->size = n;
    return VOLT_OK;
}

static volt_status windows_get(const volt_dataset *self, int64_t index, volt_sample *out) {
    const windows *w = (const windows *)self;
    volt_tensor *x = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 1, &w->block);
    volt_tensor *y = x ? volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 1, &w->block) : NULL;
    if (!y) {
        volt_tensor_free(x);
        return volt_error_status();
    }
    fill(w, index, volt_tensor_data(x), volt_tensor_data(y));
    volt_sample_set(out, "x", x);
    return volt_sample_set(out, "y", y);
}

static void windows_free(volt_dataset *self) { free(self); }

static const volt_dataset_ops windows_ops = {
    .name = "text_windows",
    .len = windows_len,
    .get = windows_get,
    .get_batch = windows_get_batch,
    .free = windows_free,
};

volt_dataset *volt_text_windows_new(const uint8_t *tokens, int64_t n, int64_t block,
                                    int64_t stride) {
    windows *w = calloc(1, sizeof *w);
    if (!w) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "text: out of memory");
        return NULL;
    }
    *w = (windows){.base.ops = &windows_ops,
                   .tokens = tokens,
                   .n = n,
                   .block = block,
                   .stride = stride,
                   .n_items = (n - block - 1) / stride + 1};
    return &w->base;
}
