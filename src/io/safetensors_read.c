/* safetensors_read.c: volt_safetensors_open and friends — reads the header,
 * validates every rule of the format (refusing a corrupt file with a message
 * that names the file and the fault), then reads tensors on demand with
 * pread from the open descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "io/io_impl.h"

/* The reference implementation's limit on the header. */
#define MAX_HEADER_BYTES 100000000ULL

typedef struct {
    char *name;
    volt_dtype dtype;
    int ndim;
    int64_t shape[VOLT_MAX_DIMS];
    uint64_t begin, end; /* within the data section */
} entry;

struct volt_safetensors {
    int fd;
    char *path;
    uint64_t data_start; /* 8 + header length */
    uint64_t data_bytes; /* the data section's length */
    int count;
    entry *entries;        /* in header order */
    const entry **by_name; /* the entries sorted by name */
    int meta_count;
    char **meta_keys, **meta_values;
};

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static volt_status format_error(const volt_safetensors *f, const char *what) {
    return volt_error_set(VOLT_ERR_FORMAT, "safetensors_open: %s: %s", f->path, what);
}

static volt_status io_error(const char *op, const char *path, const char *what, int err) {
    char buf[128];
    return volt_error_set(VOLT_ERR_IO, "%s: %s: %s: %s", op, path, what,
                          strerror_r(err, buf, sizeof buf));
}

/* Reads exactly n bytes at offset; false (errno set, 0 at end of file) if not. */
static bool read_at(int fd, void *dst, size_t n, uint64_t offset) {
    char *p = dst;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)offset);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = 0;
            return false;
        }
        p += r;
        n -= (size_t)r;
        offset += (uint64_t)r;
    }
    return true;
}

/* A non-negative integer JSON number (exact in a double). */
static bool json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || floor(d) != d) return false;
    *out = (uint64_t)d;
    return true;
}

static volt_status entry_error(const volt_safetensors *f, const char *name, const char *what) {
    return volt_error_set(VOLT_ERR_FORMAT, "safetensors_open: %s: tensor '%s': %s", f->path, name,
                          what);
}

static volt_status parse_entry(volt_safetensors *f, const cJSON *item, entry *e,
                               uint64_t data_bytes) {
    const char *name = item->string;
    char msg[160];
    if (!cJSON_IsObject(item)) return entry_error(f, name, "entry is not a JSON object");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype)) return entry_error(f, name, "no \"dtype\" string");
    if (!volt_safetensors_dtype_parse(dtype->valuestring, &e->dtype)) {
        snprintf(msg, sizeof msg,
                 "unknown dtype \"%.20s\" (volt reads F32 F64 BF16 F16 I64 I32 U8 BOOL)",
                 dtype->valuestring);
        return entry_error(f, name, msg);
    }
    if (!cJSON_IsArray(shape)) return entry_error(f, name, "no \"shape\" array");
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > VOLT_MAX_DIMS) {
        snprintf(msg, sizeof msg, "shape has %d dimensions (volt takes at most %d)", ndim,
                 VOLT_MAX_DIMS);
        return entry_error(f, name, msg);
    }
    e->ndim = ndim;
    uint64_t numel = 1, esize = volt_dtype_size(e->dtype);
    bool overflow = false;
    for (int d = 0; d < ndim; d++) {
        uint64_t s;
        if (!json_uint(cJSON_GetArrayItem(shape, d), &s))
            return entry_error(f, name, "shape holds something other than a size >= 0");
        e->shape[d] = (int64_t)s;
        if (s != 0 && numel > (UINT64_MAX / esize) / s)
            overflow = true;
        else
            numel *= s;
    }
    if (cJSON_GetArraySize(offsets) != 2 || !cJSON_IsArray(offsets) ||
        !json_uint(cJSON_GetArrayItem(offsets, 0), &e->begin) ||
        !json_uint(cJSON_GetArrayItem(offsets, 1), &e->end))
        return entry_error(f, name, "\"data_offsets\" is not a pair of offsets >= 0");
    if (e->begin > e->end || e->end > data_bytes) {
        snprintf(msg, sizeof msg,
                 "data_offsets [%" PRIu64 ", %" PRIu64 "] lie outside the data section "
                 "(%" PRIu64 " bytes)",
                 e->begin, e->end, data_bytes);
        return entry_error(f, name, msg);
    }
    for (int d = 0; d < ndim; d++) /* a zero size makes numel 0 whatever the others */
        if (e->shape[d] == 0) numel = 0, overflow = false;
    if (overflow || numel * esize != e->end - e->begin) {
        snprintf(msg, sizeof msg,
                 "shape and dtype %s need %" PRIu64 " bytes, data_offsets [%" PRIu64 ", %" PRIu64
                 "] hold %" PRIu64,
                 dtype->valuestring, overflow ? UINT64_MAX : numel * esize, e->begin, e->end,
                 e->end - e->begin);
        return entry_error(f, name, msg);
    }
    e->name = str_dup(name);
    return e->name ? VOLT_OK
                   : volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "safetensors_open: out of memory");
}

static volt_status parse_metadata(volt_safetensors *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta)) return format_error(f, "\"__metadata__\" is not a JSON object");
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = calloc((size_t)n + 1, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)n + 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "safetensors_open: out of memory");
    for (const cJSON *it = meta->child; it; it = it->next) {
        if (!cJSON_IsString(it)) {
            char msg[160];
            snprintf(msg, sizeof msg, "metadata value of '%.60s' is not a string", it->string);
            return format_error(f, msg);
        }
        char *key = str_dup(it->string), *value = str_dup(it->valuestring);
        f->meta_keys[f->meta_count] = key;
        f->meta_values[f->meta_count] = value;
        f->meta_count++;
        if (!key || !value)
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "safetensors_open: out of memory");
    }
    return VOLT_OK;
}

static int by_name_cmp(const void *a, const void *b) {
    return strcmp((*(const entry *const *)a)->name, (*(const entry *const *)b)->name);
}

static int by_offset_cmp(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Names distinct; offsets tile [0, data_bytes) in order with no gap or overlap. */
static volt_status check_layout(volt_safetensors *f, uint64_t data_bytes) {
    int n = f->count;
    const entry **order = malloc(((size_t)n + 1) * sizeof *order);
    f->by_name = malloc(((size_t)n + 1) * sizeof *f->by_name);
    if (!order || !f->by_name) {
        free(order);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "safetensors_open: out of memory");
    }
    for (int i = 0; i < n; i++) order[i] = f->by_name[i] = &f->entries[i];
    qsort(f->by_name, (size_t)n, sizeof *f->by_name, by_name_cmp);
    qsort(order, (size_t)n, sizeof *order, by_offset_cmp);
    volt_status st = VOLT_OK;
    char msg[200];
    for (int i = 1; i < n && st == VOLT_OK; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            st = entry_error(f, f->by_name[i]->name, "appears twice in the header");
    uint64_t expected = 0;
    for (int i = 0; i < n && st == VOLT_OK; i++) {
        const entry *e = order[i];
        if (e->begin != expected) {
            snprintf(msg, sizeof msg,
                     "data_offsets [%" PRIu64 ", %" PRIu64 "] %s the previous tensor, "
                     "which ends at %" PRIu64 " (tensors must tile the data section)",
                     e->begin, e->end, e->begin < expected ? "overlap" : "leave a gap after",
                     expected);
            st = entry_error(f, e->name, msg);
        }
        expected = e->end;
    }
    if (st == VOLT_OK && expected != data_bytes) {
        snprintf(msg, sizeof msg,
                 "%" PRIu64 " bytes of data after the last tensor (data section of %" PRIu64
                 " bytes, tensors end at %" PRIu64 ")",
                 data_bytes - expected, data_bytes, expected);
        st = format_error(f, msg);
    }
    free(order);
    return st;
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), as the format requires of the header. */
static bool valid_utf8(const unsigned char *s, uint64_t n) {
    uint64_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        int more = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : -1;
        if (more == 0) {
            i++;
            continue;
        }
        if (more < 0 || (more == 1 && c < 0xc2) || (more == 3 && c > 0xf4) ||
            n - i <= (uint64_t)more)
            return false;
        unsigned next = s[i + 1];
        if ((more == 2 && c == 0xe0 && next < 0xa0) || (more == 2 && c == 0xed && next > 0x9f) ||
            (more == 3 && c == 0xf0 && next < 0x90) || (more == 3 && c == 0xf4 && next > 0x8f))
            return false;
        for (int k = 1; k <= more; k++)
            if ((s[i + (uint64_t)k] & 0xc0) != 0x80) return false;
        i += (uint64_t)more + 1;
    }
    return true;
}

static volt_status parse_header(volt_safetensors *f, char *text, uint64_t len,
                                uint64_t data_bytes) {
    if (strlen(text) != len) return format_error(f, "header holds a NUL byte");
    if (!valid_utf8((const unsigned char *)text, len))
        return format_error(f, "header is not valid UTF-8");
    if (text[0] != '{')
        return format_error(f, "header does not start with '{' (not a safetensors file?)");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    char msg[160];
    if (!root) {
        snprintf(msg, sizeof msg, "header is not valid JSON (error near byte %lld of %" PRIu64 ")",
                 end ? (long long)(end - text) : -1LL, len);
        return format_error(f, msg);
    }
    volt_status st = VOLT_OK;
    for (const char *p = end; *p && st == VOLT_OK; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            st = format_error(f, "header has text after its JSON object");
    if (st == VOLT_OK && !cJSON_IsObject(root)) st = format_error(f, "header is not a JSON object");
    int n = st == VOLT_OK ? cJSON_GetArraySize(root) : 0;
    f->entries = calloc((size_t)n + 1, sizeof *f->entries);
    if (st == VOLT_OK && !f->entries)
        st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "safetensors_open: out of memory");
    for (const cJSON *it = st == VOLT_OK ? root->child : NULL; it && st == VOLT_OK; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (f->meta_keys)
                st = format_error(f, "\"__metadata__\" appears twice");
            else
                st = parse_metadata(f, it);
        } else {
            st = parse_entry(f, it, &f->entries[f->count], data_bytes);
            if (st == VOLT_OK) f->count++;
        }
    }
    cJSON_Delete(root);
    return st == VOLT_OK ? check_layout(f, data_bytes) : st;
}

/* Reads and checks the 8-byte length and the header; fills f. */
static volt_status read_header(volt_safetensors *f) {
    struct stat sb;
    if (fstat(f->fd, &sb) != 0) return io_error("safetensors_open", f->path, "cannot stat", errno);
    if (!S_ISREG(sb.st_mode)) return format_error(f, "not a regular file");
    uint64_t size = (uint64_t)sb.st_size;
    char msg[160];
    if (size < 8) {
        snprintf(msg, sizeof msg, "file of %" PRIu64 " bytes is too short for a header", size);
        return format_error(f, msg);
    }
    unsigned char len8[8];
    if (!read_at(f->fd, len8, 8, 0))
        return io_error("safetensors_open", f->path, "cannot read", errno);
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = len << 8 | len8[i];
    if (len < 2 || len > size - 8 || len > MAX_HEADER_BYTES) {
        snprintf(msg, sizeof msg, "header length %" PRIu64 " is %s (file of %" PRIu64 " bytes%s)",
                 len, len < 2 ? "too small" : "larger than the file allows", size,
                 len > MAX_HEADER_BYTES ? ", limit 100 MB" : "");
        return format_error(f, msg);
    }
    char *text = malloc(len + 1);
    if (!text) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "safetensors_open: out of memory");
    volt_status st = VOLT_OK;
    if (!read_at(f->fd, text, len, 8))
        st = io_error("safetensors_open", f->path, "cannot read", errno);
    text[len] = '\0';
    f->data_start = 8 + len;
    f->data_bytes = size - 8 - len;
    if (st == VOLT_OK) st = parse_header(f, text, len, size - 8 - len);
    free(text);
    return st;
}

volt_safetensors *volt_safetensors_open(const char *path) {
    if (!path || !*path) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "safetensors_open: empty or NULL path");
        return NULL;
    }
    volt_safetensors *f = calloc(1, sizeof *f);
    if (f) f->path = str_dup(path);
    if (!f || !f->path) {
        free(f);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "safetensors_open: out of memory");
        return NULL;
    }
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        io_error("safetensors_open", path, "cannot open", errno);
        volt_safetensors_close(f);
        return NULL;
    }
    if (read_header(f) != VOLT_OK) {
        volt_safetensors_close(f);
        return NULL;
    }
    return f;
}

void volt_safetensors_close(volt_safetensors *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    for (int i = 0; f->entries && i < f->count; i++) free(f->entries[i].name);
    for (int i = 0; i < f->meta_count; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->entries);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    free(f);
}

int volt_safetensors_count(const volt_safetensors *f) { return f ? f->count : 0; }

const char *volt_safetensors_name(const volt_safetensors *f, int i) {
    return f && i >= 0 && i < f->count ? f->entries[i].name : NULL;
}

static const entry *find(const volt_safetensors *f, const char *name) {
    int lo = 0, hi = f->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const entry *e = f->by_name[mid];
        int c = strcmp(name, e->name);
        if (c == 0) return e;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const entry *find_or_error(const volt_safetensors *f, const char *name, const char *op) {
    if (!f || !name) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL file or name", op);
        return NULL;
    }
    const entry *e = find(f, name);
    if (!e)
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: no tensor named '%s'", op, f->path,
                       name);
    return e;
}

volt_status volt_safetensors_info(const volt_safetensors *f, const char *name, volt_dtype *dtype,
                                  int *ndim, int64_t *shape) {
    const entry *e = find_or_error(f, name, "safetensors_info");
    if (!e) return volt_error_status();
    if (dtype) *dtype = e->dtype;
    if (ndim) *ndim = e->ndim;
    if (shape) memcpy(shape, e->shape, (size_t)e->ndim * sizeof *shape);
    return VOLT_OK;
}

volt_tensor *volt_safetensors_get(volt_safetensors *f, const char *name) {
    const entry *e = find_or_error(f, name, "safetensors_get");
    if (!e) return NULL;
    volt_tensor *t = volt_tensor_new(e->dtype, VOLT_DEVICE_CPU, e->ndim, e->shape);
    if (!t) return NULL;
    size_t nbytes = (size_t)(e->end - e->begin);
    if (nbytes > 0 && !read_at(f->fd, volt_tensor_data(t), nbytes, f->data_start + e->begin)) {
        if (errno == 0)
            volt_error_set(VOLT_ERR_IO,
                           "safetensors_get: %s: tensor '%s': file ends early "
                           "(truncated since it was opened?)",
                           f->path, name);
        else
            io_error("safetensors_get", f->path, "cannot read", errno);
        volt_tensor_free(t);
        return NULL;
    }
    if (e->dtype == VOLT_BOOL) { /* any nonzero byte is true; volt's bools are 0/1 */
        unsigned char *p = volt_tensor_data(t);
        for (size_t i = 0; i < nbytes; i++) p[i] = p[i] != 0;
    }
    return t;
}

int volt_safetensors_metadata_count(const volt_safetensors *f) { return f ? f->meta_count : 0; }

const char *volt_safetensors_metadata_key(const volt_safetensors *f, int i) {
    return f && i >= 0 && i < f->meta_count ? f->meta_keys[i] : NULL;
}

const char *volt_safetensors_metadata(const volt_safetensors *f, const char *key) {
    for (int i = 0; f && key && i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

volt_status volt_safetensors_crc32(volt_safetensors *f, uint32_t *crc) {
    if (!f || !crc)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "safetensors_crc32: NULL argument");
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "safetensors_crc32: out of memory");
    uLong c = crc32(0L, Z_NULL, 0);
    volt_status st = VOLT_OK;
    for (uint64_t done = 0; done < f->data_bytes && st == VOLT_OK;) {
        uint64_t left = f->data_bytes - done;
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        if (!read_at(f->fd, buf, n, f->data_start + done)) {
            st = errno ? io_error("safetensors_crc32", f->path, "cannot read", errno)
                       : volt_error_set(VOLT_ERR_IO,
                                        "safetensors_crc32: %s: file ends early (truncated "
                                        "since it was opened?)",
                                        f->path);
            break;
        }
        c = crc32(c, buf, (uInt)n);
        done += n;
    }
    free(buf);
    if (st == VOLT_OK) *crc = (uint32_t)c;
    return st;
}

const char *volt_safetensors_path(const volt_safetensors *f) { return f ? f->path : NULL; }
