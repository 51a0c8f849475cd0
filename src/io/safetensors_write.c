/* safetensors_write.c: volt_safetensors_save — validates the tensors, names
 * and metadata, builds the JSON header with cJSON, and writes header and
 * packed row-major data through an atomic file (io_impl.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io/io_impl.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "volt's safetensors io writes host bytes: it needs a little-endian host"
#endif

#define OP "safetensors_save"

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static volt_status check_tensors(const char *path, int n, const char *const *names,
                                 volt_tensor *const *tensors) {
    if (n < 0) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %s: n = %d", path, n);
    if (n > 0 && (!names || !tensors))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %s: NULL names or tensors array",
                              path);
    for (int i = 0; i < n; i++) {
        const char *name = names[i];
        if (!name || !*name)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %s: name %d is %s", path, i,
                                  name ? "empty" : "NULL");
        if (strcmp(name, "__metadata__") == 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  OP ": %s: '__metadata__' is reserved, not a tensor name", path);
        const volt_tensor *t = tensors[i];
        if (!t)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %s: tensor '%s' is NULL", path,
                                  name);
        if (!volt_dtype_is_valid(t->dtype))
            return volt_error_set(VOLT_ERR_DTYPE, OP ": %s: tensor '%s' has an invalid dtype", path,
                                  name);
    }
    if (n < 2) return VOLT_OK;
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    memcpy(sorted, names, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_names);
    volt_status st = VOLT_OK;
    for (int i = 1; i < n && st == VOLT_OK; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %s: tensor name '%s' used twice",
                                path, sorted[i]);
    free(sorted);
    return st;
}

/* The parsed metadata object (every value a string), or NULL with an error. */
static cJSON *parse_metadata(const char *path, const char *json) {
    cJSON *meta = cJSON_Parse(json);
    if (!meta || !cJSON_IsObject(meta)) {
        cJSON_Delete(meta);
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %s: metadata is not a JSON object: %.60s",
                       path, json);
        return NULL;
    }
    for (const cJSON *it = meta->child; it; it = it->next) {
        if (!cJSON_IsString(it)) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           OP ": %s: metadata value of '%s' is not a string "
                              "(safetensors metadata maps strings to strings)",
                           path, it->string);
            cJSON_Delete(meta);
            return NULL;
        }
    }
    return meta;
}

static cJSON *raw_int(int64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return cJSON_CreateRaw(buf);
}

static size_t tensor_nbytes(const volt_tensor *t) {
    return (size_t)volt_tensor_numel(t) * volt_dtype_size(t->dtype);
}

/* The header text, padded with spaces to a multiple of 8; NULL on error. */
static char *build_header(int n, const char *const *names, volt_tensor *const *tensors, cJSON *meta,
                          size_t *len) {
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && meta)
        ok = cJSON_AddItemToObject(root, "__metadata__", meta);
    else
        cJSON_Delete(meta);
    int64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        const volt_tensor *t = tensors[i];
        cJSON *entry = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        cJSON *offsets = cJSON_CreateArray();
        ok = entry && shape && offsets &&
             cJSON_AddStringToObject(entry, "dtype", volt_safetensors_dtype_name(t->dtype));
        for (int d = 0; ok && d < t->ndim; d++)
            ok = cJSON_AddItemToArray(shape, raw_int(t->shape[d]));
        int64_t end = offset + (int64_t)tensor_nbytes(t);
        ok = ok && cJSON_AddItemToArray(offsets, raw_int(offset)) &&
             cJSON_AddItemToArray(offsets, raw_int(end));
        ok = ok && cJSON_AddItemToObject(entry, "shape", shape);
        if (!ok) cJSON_Delete(shape);
        ok = ok && cJSON_AddItemToObject(entry, "data_offsets", offsets);
        if (!ok) cJSON_Delete(offsets);
        ok = ok && cJSON_AddItemToObject(root, names[i], entry);
        if (!ok) cJSON_Delete(entry);
        offset = end;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory building the header");
        return NULL;
    }
    size_t raw = strlen(text), padded = (raw + 7) / 8 * 8;
    char *out = malloc(padded + 1);
    if (out) {
        memcpy(out, text, raw);
        memset(out + raw, ' ', padded - raw);
        out[padded] = '\0';
        *len = padded;
    } else {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory building the header");
    }
    cJSON_free(text);
    return out;
}

/* Writes t's elements in row-major order (a strided tensor through a buffer;
 * a GPU tensor through a CPU copy). */
static volt_status write_tensor(volt_atomic_file *f, const volt_tensor *t) {
    size_t nbytes = tensor_nbytes(t);
    if (nbytes == 0) return VOLT_OK;
    if (t->device.type != VOLT_CPU) {
        volt_scope_begin();
        volt_tensor *host;
        VOLT_NO_GRAD { host = volt_to_device(t, VOLT_DEVICE_CPU); }
        volt_status st = host ? write_tensor(f, host) : volt_error_status();
        volt_scope_end();
        return st;
    }
    const char *base = volt_tensor_data(t);
    if (volt_tensor_is_contiguous(t)) return volt_atomic_file_write(f, base, nbytes);
    enum { BUF = 1 << 16 };
    char buf[BUF];
    size_t esize = volt_dtype_size(t->dtype), used = 0;
    int64_t idx[VOLT_MAX_DIMS] = {0}, n = volt_tensor_numel(t), off = 0;
    for (int64_t i = 0; i < n; i++) {
        memcpy(buf + used, base + off * (int64_t)esize, esize);
        used += esize;
        if (used + esize > BUF) {
            volt_status st = volt_atomic_file_write(f, buf, used);
            if (st != VOLT_OK) return st;
            used = 0;
        }
        for (int d = t->ndim - 1; d >= 0; d--) { /* next index, row-major */
            off += t->strides[d];
            if (++idx[d] < t->shape[d]) break;
            off -= t->strides[d] * t->shape[d];
            idx[d] = 0;
        }
    }
    return used ? volt_atomic_file_write(f, buf, used) : VOLT_OK;
}

volt_status volt_safetensors_save(const char *path, int n, const char *const *names,
                                  volt_tensor *const *tensors, const char *metadata_json) {
    if (!path || !*path)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": empty or NULL path");
    volt_status st = check_tensors(path, n, names, tensors);
    if (st != VOLT_OK) return st;
    cJSON *meta = NULL;
    if (metadata_json && !(meta = parse_metadata(path, metadata_json))) return volt_error_status();
    size_t header_len = 0;
    char *header = build_header(n, names, tensors, meta, &header_len);
    if (!header) return volt_error_status();
    volt_atomic_file *f = volt_atomic_file_open(path, OP);
    if (!f) {
        free(header);
        return volt_error_status();
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    st = volt_atomic_file_write(f, len8, 8);
    if (st == VOLT_OK) st = volt_atomic_file_write(f, header, header_len);
    free(header);
    for (int i = 0; st == VOLT_OK && i < n; i++) st = write_tensor(f, tensors[i]);
    if (st != VOLT_OK) {
        volt_atomic_file_abort(f);
        return st;
    }
    return volt_atomic_file_commit(f);
}
