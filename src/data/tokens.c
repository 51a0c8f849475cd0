/* tokens.c: flat binary token files for language modelling — the writer, and
 * a memory-mapped dataset of (x, y) windows, y the tokens that follow x. The
 * versioned 32-byte header is described in volt/data.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_impl.h"

#define TOKEN_MAGIC "VOLTTOKS"
#define TOKEN_VERSION 1u
#define TOKEN_HEADER 32

static void put_le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

volt_status volt_token_file_write(const char *path, int token_bytes, const int64_t *tokens,
                                  int64_t n) {
    if (!path || (n > 0 && !tokens) || n < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "token_file_write: %s",
                              !path ? "NULL path" : "bad token array");
    if (token_bytes != 2 && token_bytes != 4)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "token_file_write: %s: token width %d (expected 2 or 4)", path,
                              token_bytes);
    int64_t limit = (int64_t)1 << (8 * token_bytes);
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= limit)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "token_file_write: %s: tokens[%lld] = "
                                  "%lld does not fit %d bytes",
                                  path, (long long)i, (long long)tokens[i], token_bytes);
    FILE *f = fopen(path, "wb");
    if (!f) return volt_data_io_error("token_file_write", path);
    uint8_t header[TOKEN_HEADER] = {0}, chunk[4096];
    memcpy(header, TOKEN_MAGIC, 8);
    put_le(header + 8, TOKEN_VERSION, 4);
    put_le(header + 12, (uint64_t)token_bytes, 4);
    put_le(header + 16, (uint64_t)n, 8);
    bool ok = fwrite(header, 1, sizeof header, f) == sizeof header;
    int per_chunk = (int)sizeof chunk / token_bytes;
    for (int64_t i = 0; ok && i < n; i += per_chunk) {
        int64_t m = n - i < per_chunk ? n - i : per_chunk;
        for (int64_t k = 0; k < m; k++)
            put_le(chunk + k * token_bytes, (uint64_t)tokens[i + k], token_bytes);
        ok = fwrite(chunk, (size_t)token_bytes, (size_t)m, f) == (size_t)m;
    }
    if (fclose(f) != 0) ok = false;
    if (!ok) return volt_data_io_error("token_file_write", path);
    return VOLT_OK;
}

/* ------------------------------------------------------------ the dataset */

typedef struct {
    volt_dataset base;
    uint8_t *map;
    size_t map_size;
    const uint8_t *tokens;
    int width;
    int64_t n_tokens, seq_len, stride, n_items;
} token_dataset;

static int64_t token_len(const volt_dataset *self) {
    return ((const token_dataset *)self)->n_items;
}

/* x = window, y = window shifted by one, into rows j of two [.., seq_len] arrays. */
static void fill_window(const token_dataset *d, int64_t index, int64_t *x, int64_t *y) {
    const uint8_t *p = d->tokens + (size_t)(index * d->stride) * (size_t)d->width;
    for (int64_t t = 0; t < d->seq_len; t++) {
        x[t] = (int64_t)get_le(p + t * d->width, d->width);
        y[t] = (int64_t)get_le(p + (t + 1) * d->width, d->width);
    }
}

static volt_status token_get_batch(const volt_dataset *self, const int64_t *indices, int64_t n,
                                   volt_batch *out) {
    const token_dataset *d = (const token_dataset *)self;
    int64_t shape[2] = {n, d->seq_len};
    volt_tensor *x = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 2, shape);
    volt_tensor *y = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 2, shape);
    if (!x || !y) {
        volt_tensor_free(x);
        volt_tensor_free(y);
        return volt_error_status();
    }
    int64_t *px = volt_tensor_data(x), *py = volt_tensor_data(y);
    for (int64_t j = 0; j < n; j++)
        fill_window(d, indices[j], px + j * d->seq_len, py + j * d->seq_len);
    volt_batch_set(out, "x", x);
    volt_batch_set(out, "y", y);
    out->size = n;
    return VOLT_OK;
}

static volt_status token_get(const volt_dataset *self, int64_t index, volt_sample *out) {
    const token_dataset *d = (const token_dataset *)self;
    volt_tensor *x = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 1, &d->seq_len);
    volt_tensor *y = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 1, &d->seq_len);
    if (!x || !y) {
        volt_tensor_free(x);
        volt_tensor_free(y);
        return volt_error_status();
    }
    fill_window(d, index, volt_tensor_data(x), volt_tensor_data(y));
    volt_sample_set(out, "x", x);
    return volt_sample_set(out, "y", y);
}

static void token_free(volt_dataset *self) {
    token_dataset *d = (token_dataset *)self;
    if (d->map) munmap(d->map, d->map_size);
    free(d);
}

static const volt_dataset_ops token_ops = {
    .name = "token_dataset",
    .len = token_len,
    .get = token_get,
    .get_batch = token_get_batch,
    .free = token_free,
};

static volt_status check_header(token_dataset *d, const char *path) {
    const uint8_t *h = d->map;
    if (memcmp(h, TOKEN_MAGIC, 8) != 0)
        return volt_error_set(VOLT_ERR_FORMAT, "tokens: %s: bad magic (expected \"%s\")", path,
                              TOKEN_MAGIC);
    uint64_t version = get_le(h + 8, 4), width = get_le(h + 12, 4), n = get_le(h + 16, 8);
    if (version != TOKEN_VERSION)
        return volt_error_set(VOLT_ERR_FORMAT,
                              "tokens: %s: format version %llu is not supported "
                              "(this volt reads version %u)",
                              path, (unsigned long long)version, TOKEN_VERSION);
    if (width != 2 && width != 4)
        return volt_error_set(VOLT_ERR_FORMAT, "tokens: %s: token width %llu (expected 2 or 4)",
                              path, (unsigned long long)width);
    uint64_t data = d->map_size - TOKEN_HEADER;
    if (n > data / width || n * width != data)
        return volt_error_set(VOLT_ERR_FORMAT,
                              "tokens: %s: %llu data bytes, but the header "
                              "declares %llu tokens of %llu bytes (%s)",
                              path, (unsigned long long)data, (unsigned long long)n,
                              (unsigned long long)width,
                              n > data / width ? "truncated" : "trailing bytes");
    d->width = (int)width;
    d->n_tokens = (int64_t)n;
    d->tokens = h + TOKEN_HEADER;
    return VOLT_OK;
}

static volt_status map_file(token_dataset *d, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return volt_data_io_error("tokens", path);
    struct stat st;
    volt_status status = VOLT_OK;
    if (fstat(fd, &st) != 0) {
        status = volt_data_io_error("tokens", path);
    } else if (st.st_size < TOKEN_HEADER) {
        status = volt_error_set(VOLT_ERR_FORMAT,
                                "tokens: %s: truncated: %lld bytes, shorter than "
                                "the %d-byte header",
                                path, (long long)st.st_size, TOKEN_HEADER);
    } else {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            status = volt_data_io_error("tokens: mmap", path);
        else {
            d->map = m;
            d->map_size = (size_t)st.st_size;
        }
    }
    close(fd);
    return status;
}

volt_dataset *volt_token_dataset_new(const char *path, const volt_token_options *opt) {
    if (!path || !opt || opt->seq_len < 1 || opt->stride < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "tokens: %s",
                       !path  ? "NULL path"
                       : !opt ? "NULL options (seq_len is required)"
                              : "seq_len must be >= 1 and stride >= 0");
        return NULL;
    }
    token_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "tokens: out of memory");
        return NULL;
    }
    d->base.ops = &token_ops;
    d->seq_len = opt->seq_len;
    d->stride = opt->stride ? opt->stride : opt->seq_len;
    volt_status st = map_file(d, path);
    if (st == VOLT_OK) st = check_header(d, path);
    if (st == VOLT_OK && d->n_tokens < d->seq_len + 1)
        st = volt_error_set(VOLT_ERR_FORMAT,
                            "tokens: %s: %lld tokens, fewer than seq_len + 1 = %lld", path,
                            (long long)d->n_tokens, (long long)d->seq_len + 1);
    if (st != VOLT_OK) {
        token_free(&d->base);
        return NULL;
    }
    d->n_items = (d->n_tokens - d->seq_len - 1) / d->stride + 1;
    return &d->base;
}
