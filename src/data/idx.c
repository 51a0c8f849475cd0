/* idx.c: the IDX reader (MNIST / Fashion-MNIST files, gzip'd or raw: zlib
 * reads both) and the image-classification dataset over an images file and a
 * labels file. Pixels stay u8 in memory; batches are converted straight from
 * them into f32 (value / 255). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/data_impl.h"

#define IDX_U8 0x08
#define IDX_MAX_DIMS VOLT_MAX_DIMS
#define IDX_FIRST_CHUNK ((size_t)1 << 24)

typedef struct {
    uint8_t *data;
    int ndim;
    int64_t dims[IDX_MAX_DIMS];
    int64_t numel;
} idx_file;

/* What a file of `want_ndim` dims holds, for messages. */
static const char *idx_kind(int want_ndim) {
    return want_ndim == 3 ? "u8 images" : want_ndim == 1 ? "u8 labels" : "u8 data";
}

/* Reads up to n bytes; returns the count read, or -1 with the error recorded. */
static int64_t gz_read(gzFile f, const char *path, void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        size_t want = n - done > ((size_t)1 << 30) ? (size_t)1 << 30 : n - done;
        int got = gzread(f, (char *)buf + done, (unsigned)want);
        if (got < 0) {
            int code = 0;
            const char *msg = gzerror(f, &code);
            if (code == Z_ERRNO)
                volt_data_io_error("idx", path);
            else
                volt_error_set(VOLT_ERR_FORMAT, "idx: %s: corrupt gzip data (%s)", path, msg);
            return -1;
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    return (int64_t)done;
}

static volt_status read_header(gzFile f, const char *path, int want_ndim, idx_file *out) {
    uint8_t h[4 + 4 * IDX_MAX_DIMS];
    int64_t got = gz_read(f, path, h, 4);
    if (got < 0) return volt_error_status();
    if (got < 4)
        return volt_error_set(VOLT_ERR_FORMAT,
                              "idx: %s: truncated: %lld bytes, shorter than the "
                              "4-byte magic number",
                              path, (long long)got);
    uint32_t magic = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    int ndim = h[3];
    if (h[0] != 0 || h[1] != 0 || ndim == 0) {
        if (want_ndim > 0)
            return volt_error_set(VOLT_ERR_FORMAT,
                                  "idx: %s: bad magic 0x%08x (expected 0x000008%02x "
                                  "for %s)",
                                  path, magic, want_ndim, idx_kind(want_ndim));
        return volt_error_set(VOLT_ERR_FORMAT,
                              "idx: %s: bad magic 0x%08x (expected 0x000008NN, "
                              "NN the number of dimensions)",
                              path, magic);
    }
    if (h[2] != IDX_U8)
        return volt_error_set(VOLT_ERR_FORMAT,
                              "idx: %s: element type 0x%02x is not supported "
                              "(only u8, 0x08)",
                              path, h[2]);
    if (want_ndim > 0 && ndim != want_ndim)
        return volt_error_set(VOLT_ERR_FORMAT,
                              "idx: %s: %d dimensions (magic 0x%08x), expected %d "
                              "for %s",
                              path, ndim, magic, want_ndim, idx_kind(want_ndim));
    if (ndim > IDX_MAX_DIMS)
        return volt_error_set(VOLT_ERR_FORMAT,
                              "idx: %s: %d dimensions (magic 0x%08x), more than "
                              "the %d a tensor has",
                              path, ndim, magic, IDX_MAX_DIMS);
    got = gz_read(f, path, h + 4, (size_t)(4 * ndim));
    if (got < 0) return volt_error_status();
    if (got < 4 * ndim)
        return volt_error_set(VOLT_ERR_FORMAT,
                              "idx: %s: truncated in the header (%d sizes "
                              "expected)",
                              path, ndim);
    out->ndim = ndim;
    out->numel = 1;
    for (int d = 0; d < ndim; d++) {
        const uint8_t *p = h + 4 + 4 * d;
        int64_t size =
            (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        if (size == 0)
            return volt_error_set(VOLT_ERR_FORMAT, "idx: %s: size of dimension %d is 0", path, d);
        if (out->numel > ((int64_t)1 << 48) / size)
            return volt_error_set(VOLT_ERR_FORMAT, "idx: %s: sizes too large (over 2^48 bytes)",
                                  path);
        out->dims[d] = size;
        out->numel *= size;
    }
    return VOLT_OK;
}

/* Reads the data, growing the buffer as bytes arrive (a lying header on a
 * small file fails at its end, without a huge allocation first). */
static volt_status read_body(gzFile f, const char *path, idx_file *out) {
    size_t want = (size_t)out->numel, cap = 0, have = 0;
    uint8_t *buf = NULL;
    while (have < want) {
        size_t next = cap ? 2 * cap : IDX_FIRST_CHUNK;
        if (next > want) next = want;
        uint8_t *grown = realloc(buf, next);
        if (!grown) {
            free(buf);
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "idx: %s: out of memory for %zu bytes",
                                  path, want);
        }
        buf = grown;
        cap = next;
        int64_t got = gz_read(f, path, buf + have, cap - have);
        if (got < 0) {
            free(buf);
            return volt_error_status();
        }
        have += (size_t)got;
        if (have < cap) {
            free(buf);
            return volt_error_set(VOLT_ERR_FORMAT,
                                  "idx: %s: truncated: %zu of the %zu data bytes "
                                  "its header declares",
                                  path, have, want);
        }
    }
    uint8_t extra;
    int64_t more = gz_read(f, path, &extra, 1);
    if (more != 0) {
        free(buf);
        if (more < 0) return volt_error_status();
        return volt_error_set(VOLT_ERR_FORMAT,
                              "idx: %s: trailing bytes after the %zu data bytes "
                              "its header declares",
                              path, want);
    }
    out->data = buf;
    return VOLT_OK;
}

/* Loads a u8 IDX file of want_ndim dims (0: any). */
static volt_status idx_load(const char *path, int want_ndim, idx_file *out) {
    memset(out, 0, sizeof *out);
    if (!path) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "idx: NULL path");
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        if (errno == 0) errno = ENOMEM;
        return volt_data_io_error("idx", path);
    }
    gzbuffer(f, 1 << 18);
    volt_status st = read_header(f, path, want_ndim, out);
    if (st == VOLT_OK) st = read_body(f, path, out);
    gzclose(f);
    return st;
}

static void release_buffer(void *data, void *ctx) {
    (void)ctx;
    free(data);
}

volt_tensor *volt_idx_read(const char *path) {
    idx_file file;
    if (idx_load(path, 0, &file) != VOLT_OK) return NULL;
    volt_storage *s =
        volt_storage_wrap(VOLT_DEVICE_CPU, file.data, (size_t)file.numel, release_buffer, NULL);
    if (!s) {
        free(file.data);
        return NULL;
    }
    volt_tensor *t = volt_tensor_from_storage(s, VOLT_U8, file.ndim, file.dims, NULL, 0);
    volt_storage_release(s);
    return t;
}

/* ------------------------------------------------------------ the dataset */

typedef struct {
    volt_dataset base;
    idx_file images; /* [N, H, W] */
    idx_file labels; /* [N] */
} idx_dataset;

static int64_t idx_len(const volt_dataset *self) {
    return ((const idx_dataset *)self)->images.dims[0];
}

/* value / 255 exactly as PyTorch's ToTensor (a division, which vectorizes). */
static void convert(const idx_dataset *d, int64_t index, float *dst) {
    int64_t n = d->images.dims[1] * d->images.dims[2];
    const uint8_t *src = d->images.data + index * n;
    for (int64_t k = 0; k < n; k++) dst[k] = (float)src[k] / 255.0f;
}

static volt_status idx_get(const volt_dataset *self, int64_t index, volt_sample *out) {
    const idx_dataset *d = (const idx_dataset *)self;
    int64_t shape[3] = {1, d->images.dims[1], d->images.dims[2]};
    volt_tensor *x = volt_tensor_new(VOLT_F32, VOLT_DEVICE_CPU, 3, shape);
    volt_tensor *y = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 0, shape);
    if (!x || !y) {
        volt_tensor_free(x);
        volt_tensor_free(y);
        return volt_error_status();
    }
    convert(d, index, volt_tensor_data(x));
    *(int64_t *)volt_tensor_data(y) = d->labels.data[index];
    volt_sample_set(out, "x", x);
    return volt_sample_set(out, "y", y);
}

static volt_status idx_get_batch(const volt_dataset *self, const int64_t *indices, int64_t n,
                                 volt_batch *out) {
    const idx_dataset *d = (const idx_dataset *)self;
    int64_t shape[4] = {n, 1, d->images.dims[1], d->images.dims[2]};
    volt_tensor *x = volt_tensor_new(VOLT_F32, VOLT_DEVICE_CPU, 4, shape);
    volt_tensor *y = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 1, shape);
    if (!x || !y) {
        volt_tensor_free(x);
        volt_tensor_free(y);
        return volt_error_status();
    }
    float *px = volt_tensor_data(x);
    int64_t *py = volt_tensor_data(y);
    int64_t item = shape[2] * shape[3];
    for (int64_t j = 0; j < n; j++) {
        convert(d, indices[j], px + j * item);
        py[j] = d->labels.data[indices[j]];
    }
    volt_batch_set(out, "x", x);
    volt_batch_set(out, "y", y);
    out->size = n;
    return VOLT_OK;
}

static void idx_free(volt_dataset *self) {
    idx_dataset *d = (idx_dataset *)self;
    free(d->images.data);
    free(d->labels.data);
    free(d);
}

static const volt_dataset_ops idx_ops = {
    .name = "idx_dataset",
    .len = idx_len,
    .get = idx_get,
    .get_batch = idx_get_batch,
    .free = idx_free,
};

volt_dataset *volt_idx_dataset_new(const char *images_path, const char *labels_path) {
    idx_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "idx: out of memory");
        return NULL;
    }
    d->base.ops = &idx_ops;
    volt_status st = idx_load(images_path, 3, &d->images);
    if (st == VOLT_OK) st = idx_load(labels_path, 1, &d->labels);
    if (st == VOLT_OK && d->images.dims[0] != d->labels.dims[0])
        st = volt_error_set(VOLT_ERR_FORMAT, "idx: %s has %lld images but %s has %lld labels",
                            images_path, (long long)d->images.dims[0], labels_path,
                            (long long)d->labels.dims[0]);
    if (st != VOLT_OK) {
        idx_free(&d->base);
        return NULL;
    }
    return &d->base;
}
