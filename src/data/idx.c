/* idx.c: the IDX reader (MNIST / Fashion-MNIST files, gzip'd or raw: zlib
 * reads both) and the image-classification dataset over an images file and a
 * labels file. The dataset reads its images in place, one record per item
 * with pread: from a raw file itself, from the uncompressed copy of a
 * gzip'd one in the cache (idx_cache.c, made on first use), or — when there
 * is no cache to be had — from the file decompressed into memory; labels
 * are always in memory. Batches are converted straight from the u8 records
 * into f32 (value / 255). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_impl.h"

#define IDX_U8 0x08
#define IDX_MAX_DIMS VOLT_MAX_DIMS
#define IDX_FIRST_CHUNK ((size_t)1 << 24)
/* Smaller gzip'd files are decompressed into memory, not cached. */
#define IDX_CACHE_MIN ((int64_t)1 << 20)
#define IDX_COPY_CHUNK ((size_t)1 << 20)
/* Records up to this size are read into a buffer on the stack. */
#define IDX_STACK_RECORD 4096

typedef struct {
    uint8_t *data; /* the elements in memory, or NULL when read from fd */
    int fd;        /* -1, or a raw IDX file whose elements start at offset */
    int64_t offset;
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

static volt_status truncated_error(const char *path, size_t have, size_t want) {
    return volt_error_set(VOLT_ERR_FORMAT,
                          "idx: %s: truncated: %zu of the %zu data bytes its header declares", path,
                          have, want);
}

static volt_status trailing_error(const char *path, size_t want) {
    return volt_error_set(VOLT_ERR_FORMAT,
                          "idx: %s: trailing bytes after the %zu data bytes its header declares",
                          path, want);
}

/* VOLT_OK when f holds nothing more. */
static volt_status check_end(gzFile f, const char *path, size_t want) {
    uint8_t extra;
    int64_t more = gz_read(f, path, &extra, 1);
    if (more < 0) return volt_error_status();
    return more == 0 ? VOLT_OK : trailing_error(path, want);
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
            return truncated_error(path, have, want);
        }
    }
    if (check_end(f, path, want) != VOLT_OK) {
        free(buf);
        return volt_error_status();
    }
    out->data = buf;
    return VOLT_OK;
}

static int64_t header_bytes(const idx_file *file) { return 4 + 4 * (int64_t)file->ndim; }

/* A raw file read in place: its size checked against the header, an fd of
 * its own. */
static volt_status open_in_place(const char *path, idx_file *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        volt_status s = volt_data_io_error("idx", path);
        if (fd >= 0) close(fd);
        return s;
    }
    int64_t have = (int64_t)st.st_size - header_bytes(out);
    volt_status s = have < out->numel   ? truncated_error(path, (size_t)have, (size_t)out->numel)
                    : have > out->numel ? trailing_error(path, (size_t)out->numel)
                                        : VOLT_OK;
    if (s != VOLT_OK) {
        close(fd);
        return s;
    }
    out->fd = fd;
    out->offset = header_bytes(out);
    return VOLT_OK;
}

/* Opens a u8 IDX file of want_ndim dims (0: any) and checks its header;
 * NULL with the error recorded. The caller gzcloses it. */
static gzFile idx_open(const char *path, int want_ndim, idx_file *out) {
    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (!path) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "idx: NULL path");
        return NULL;
    }
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        if (errno == 0) errno = ENOMEM;
        volt_data_io_error("idx", path);
        return NULL;
    }
    gzbuffer(f, 1 << 18);
    if (read_header(f, path, want_ndim, out) == VOLT_OK) return f;
    gzclose(f);
    return NULL;
}

/* Loads a u8 IDX file of want_ndim dims (0: any): a raw one in place when
 * in_place, else (and gzip'd ones always) its elements into memory. */
static volt_status idx_load(const char *path, int want_ndim, bool in_place, idx_file *out) {
    gzFile f = idx_open(path, want_ndim, out);
    if (!f) return volt_error_status();
    volt_status st = in_place && gzdirect(f) ? open_in_place(path, out) : read_body(f, path, out);
    gzclose(f);
    return st;
}

static void idx_file_close(idx_file *file) {
    free(file->data);
    if (file->fd >= 0) close(file->fd);
    file->data = NULL;
    file->fd = -1;
}

/* ------------------------------------------------------------ the cache */

/* The header bytes of `file`: magic 0x000008NN and big-endian sizes. */
static size_t encode_header(const idx_file *file, uint8_t *h) {
    h[0] = h[1] = 0;
    h[2] = IDX_U8;
    h[3] = (uint8_t)file->ndim;
    for (int d = 0; d < file->ndim; d++)
        for (int b = 0; b < 4; b++) h[4 + 4 * d + b] = (uint8_t)(file->dims[d] >> (24 - 8 * b));
    return (size_t)header_bytes(file);
}

/* Copies the elements after f's header to fd: VOLT_OK, or the source's
 * error (recorded), or *write_failed when the copy could not be written. */
static volt_status copy_body(gzFile f, const char *path, const idx_file *file, int fd,
                             bool *write_failed) {
    uint8_t *buf = malloc(IDX_COPY_CHUNK);
    *write_failed = !buf;
    size_t want = (size_t)file->numel, have = 0;
    while (!*write_failed && have < want) {
        size_t n = want - have < IDX_COPY_CHUNK ? want - have : IDX_COPY_CHUNK;
        int64_t got = gz_read(f, path, buf, n);
        if (got < 0 || (size_t)got < n) {
            free(buf);
            return got < 0 ? volt_error_status() : truncated_error(path, have + (size_t)got, want);
        }
        *write_failed = !volt_idx_cache_write(fd, buf, n);
        have += n;
    }
    free(buf);
    return *write_failed ? VOLT_ERR_IO : check_end(f, path, want);
}

/* Fills the cache file `cache` from gzip'd `path`: 1 done, 0 no cache to be
 * had (nothing recorded), -1 the source's error (recorded). */
static int fill_cache(const char *path, const char *cache, int want_ndim) {
    idx_file file;
    gzFile f = idx_open(path, want_ndim, &file);
    if (!f) return -1;
    char *tmp;
    int fd = file.numel >= IDX_CACHE_MIN ? volt_idx_cache_begin(cache, &tmp) : -1;
    if (fd < 0) {
        gzclose(f);
        return 0;
    }
    uint8_t h[4 + 4 * IDX_MAX_DIMS];
    bool write_failed = !volt_idx_cache_write(fd, h, encode_header(&file, h));
    volt_status st = write_failed ? VOLT_ERR_IO : copy_body(f, path, &file, fd, &write_failed);
    gzclose(f);
    if (st != VOLT_OK) {
        volt_idx_cache_abort(fd, tmp);
        return write_failed ? 0 : -1;
    }
    return volt_idx_cache_commit(fd, tmp, cache) ? 1 : 0;
}

/* Opens an existing cache file in place; false (nothing recorded when
 * `clean`) when there is none or it is not whole. */
static bool open_cache_file(const char *cache, int want_ndim, bool clean, idx_file *out) {
    if (access(cache, F_OK) != 0) return false;
    if (idx_load(cache, want_ndim, true, out) == VOLT_OK) return true;
    if (clean) volt_error_clear(); /* a foreign file under its name: made anew */
    return false;
}

/* Opens the cache file of gzip'd `path` in place, filling it first when
 * needed: 1 done, 0 no cache (nothing recorded), -1 the source's error. */
static int open_cached(const char *path, int want_ndim, idx_file *out) {
    char *cache = volt_idx_cache_path(path);
    if (!cache) return 0;
    bool clean = volt_error_status() == VOLT_OK;
    int got = open_cache_file(cache, want_ndim, clean, out) ? 1 : 0;
    if (!got) {
        got = fill_cache(path, cache, want_ndim);
        if (got == 1 && !open_cache_file(cache, want_ndim, clean, out)) got = 0;
    }
    free(cache);
    return got;
}

/* The images of the dataset: in place (raw, or cached), else in memory. */
static volt_status load_images(const char *path, idx_file *out) {
    int cached = open_cached(path, 3, out);
    if (cached != 0) return cached > 0 ? VOLT_OK : volt_error_status();
    return idx_load(path, 3, true, out);
}

static void release_buffer(void *data, void *ctx) {
    (void)ctx;
    free(data);
}

volt_tensor *volt_idx_read(const char *path) {
    idx_file file;
    if (idx_load(path, 0, false, &file) != VOLT_OK) return NULL;
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
    idx_file images;   /* [N, H, W] */
    idx_file labels;   /* [N], in memory */
    char *images_path; /* for messages */
} idx_dataset;

static int64_t idx_len(const volt_dataset *self) {
    return ((const idx_dataset *)self)->images.dims[0];
}

static int64_t record_bytes(const idx_dataset *d) { return d->images.dims[1] * d->images.dims[2]; }

/* Image `index`'s bytes: in memory, or read into buf (record_bytes long). */
static const uint8_t *read_record(const idx_dataset *d, int64_t index, uint8_t *buf) {
    size_t n = (size_t)record_bytes(d);
    if (d->images.data) return d->images.data + (size_t)index * n;
    off_t at = (off_t)(d->images.offset + index * (int64_t)n);
    for (size_t done = 0; done < n;) {
        ssize_t got = pread(d->images.fd, buf + done, n - done, at + (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0)
                volt_error_set(VOLT_ERR_IO,
                               "idx: %s: image %lld: the file got shorter while in use",
                               d->images_path, (long long)index);
            else
                volt_data_io_error("idx", d->images_path);
            return NULL;
        }
        done += (size_t)got;
    }
    return buf;
}

/* value / 255 exactly as PyTorch's ToTensor (a division, which vectorizes). */
static void convert(const uint8_t *src, int64_t n, float *dst) {
    for (int64_t k = 0; k < n; k++) dst[k] = (float)src[k] / 255.0f;
}

/* Images indices[0..n) as f32 into dst, one record after the other. */
static volt_status convert_records(const idx_dataset *d, const int64_t *indices, int64_t n,
                                   float *dst) {
    int64_t item = record_bytes(d);
    uint8_t stack[IDX_STACK_RECORD];
    uint8_t *buf = d->images.data || item <= IDX_STACK_RECORD ? stack : malloc((size_t)item);
    if (!buf) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "idx: out of memory");
    volt_status st = VOLT_OK;
    for (int64_t j = 0; j < n && st == VOLT_OK; j++) {
        const uint8_t *src = read_record(d, indices[j], buf);
        if (src)
            convert(src, item, dst + j * item);
        else
            st = volt_error_status();
    }
    if (buf != stack) free(buf);
    return st;
}

static volt_status idx_get(const volt_dataset *self, int64_t index, volt_sample *out) {
    const idx_dataset *d = (const idx_dataset *)self;
    int64_t shape[3] = {1, d->images.dims[1], d->images.dims[2]};
    volt_tensor *x = volt_tensor_new(VOLT_F32, VOLT_DEVICE_CPU, 3, shape);
    volt_tensor *y = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 0, shape);
    if (!x || !y || convert_records(d, &index, 1, volt_tensor_data(x)) != VOLT_OK) {
        volt_tensor_free(x);
        volt_tensor_free(y);
        return volt_error_status();
    }
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
    if (!x || !y || convert_records(d, indices, n, volt_tensor_data(x)) != VOLT_OK) {
        volt_tensor_free(x);
        volt_tensor_free(y);
        return volt_error_status();
    }
    int64_t *py = volt_tensor_data(y);
    for (int64_t j = 0; j < n; j++) py[j] = d->labels.data[indices[j]];
    volt_batch_set(out, "x", x);
    volt_batch_set(out, "y", y);
    out->size = n;
    return VOLT_OK;
}

static void idx_free(volt_dataset *self) {
    idx_dataset *d = (idx_dataset *)self;
    idx_file_close(&d->images);
    idx_file_close(&d->labels);
    free(d->images_path);
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
    if (d) d->images_path = images_path ? strdup(images_path) : NULL;
    if (!d || (images_path && !d->images_path)) {
        free(d);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "idx: out of memory");
        return NULL;
    }
    d->base.ops = &idx_ops;
    d->images.fd = d->labels.fd = -1;
    volt_status st = load_images(images_path, &d->images);
    if (st == VOLT_OK) st = idx_load(labels_path, 1, false, &d->labels);
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
