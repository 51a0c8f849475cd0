/* batch.c: samples and batches (named tensors), their ownership helpers, and
 * volt_collate, which stacks items into batch tensors. */
#include <errno.h>
#include <string.h>

#include "data/data_impl.h"

static int find_field(int n, const char *const *names, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

static volt_status set_field(int *n, const char **names, volt_tensor **fields, const char *name,
                             volt_tensor *t, const char *who) {
    if (!name || !t)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL %s", who,
                              name ? "tensor" : "name");
    int i = find_field(*n, names, name);
    if (i < 0) {
        if (*n == VOLT_DATA_MAX_FIELDS)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "%s: more than %d fields (adding '%s')", who,
                                  VOLT_DATA_MAX_FIELDS, name);
        i = (*n)++;
        names[i] = name;
    }
    fields[i] = t;
    return VOLT_OK;
}

volt_status volt_sample_set(volt_sample *s, const char *name, volt_tensor *t) {
    if (!s) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "sample_set: NULL sample");
    return set_field(&s->n_fields, s->names, s->fields, name, t, "sample_set");
}

volt_tensor *volt_sample_get(const volt_sample *s, const char *name) {
    if (!s || !name) return NULL;
    int i = find_field(s->n_fields, s->names, name);
    return i < 0 ? NULL : s->fields[i];
}

static void sync_xy(volt_batch *b) {
    b->x = volt_batch_get(b, "x");
    b->y = volt_batch_get(b, "y");
}

volt_tensor *volt_batch_get(const volt_batch *b, const char *name) {
    if (!b || !name) return NULL;
    int i = find_field(b->n_fields, b->names, name);
    return i < 0 ? NULL : b->fields[i];
}

volt_status volt_batch_set(volt_batch *b, const char *name, volt_tensor *t) {
    if (!b) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "batch_set: NULL batch");
    volt_status st = set_field(&b->n_fields, b->names, b->fields, name, t, "batch_set");
    sync_xy(b);
    return st;
}

void volt_batch_free(volt_batch *b) {
    if (!b) return;
    for (int i = 0; i < b->n_fields; i++) volt_tensor_free(b->fields[i]);
    memset(b, 0, sizeof *b);
}

void volt_batch_persist(volt_batch *b) {
    for (int i = 0; i < b->n_fields; i++) volt_persist(b->fields[i]);
}

void volt_batch_adopt(volt_batch *b) {
    for (int i = 0; i < b->n_fields; i++) volt_scope_adopt(b->fields[i]);
}

void volt_batch_replace(volt_batch *b, int i, volt_tensor *t) {
    volt_tensor_free(b->fields[i]);
    b->fields[i] = t;
    sync_xy(b);
}

volt_status volt_data_io_error(const char *what, const char *path) {
    return volt_error_set(VOLT_ERR_IO, "%s: %s: %s", what, path, strerror(errno));
}

/* ---------------------------------------------------------------- collate */

static bool same_shape(const volt_tensor *a, const volt_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

/* Item j's field f must exist and match item 0's (name, dtype, shape). */
static volt_status check_item(const volt_sample *items, int64_t j, int f) {
    const volt_sample *s0 = &items[0], *s = &items[j];
    if (f >= s->n_fields || strcmp(s->names[f], s0->names[f]) != 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "collate: item %lld has fields different from item 0 ('%s' at "
                              "position %d, expected '%s')",
                              (long long)j, f < s->n_fields ? s->names[f] : "(none)", f,
                              s0->names[f]);
    const volt_tensor *t = s->fields[f], *t0 = s0->fields[f];
    if (!t || !t0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "collate: item %lld field '%s' is NULL",
                              (long long)(t ? 0 : j), s0->names[f]);
    char a[96], b[96];
    if (t->dtype != t0->dtype)
        return volt_error_set(VOLT_ERR_DTYPE, "collate: item %lld field '%s' is %s, item 0 has %s",
                              (long long)j, s0->names[f], volt_shape_str(t, a, sizeof a),
                              volt_shape_str(t0, b, sizeof b));
    if (!same_shape(t, t0))
        return volt_error_set(VOLT_ERR_SHAPE, "collate: item %lld field '%s' is %s, item 0 has %s",
                              (long long)j, s0->names[f], volt_shape_str(t, a, sizeof a),
                              volt_shape_str(t0, b, sizeof b));
    if (t->device.type != VOLT_CPU)
        return volt_error_set(VOLT_ERR_DEVICE, "collate: item %lld field '%s' is not on the CPU",
                              (long long)j, s0->names[f]);
    return VOLT_OK;
}

static volt_tensor *stack_field(const volt_sample *items, int64_t n, int f) {
    for (int64_t j = 0; j < n; j++)
        if (check_item(items, j, f) != VOLT_OK) return NULL;
    const volt_tensor *t0 = items[0].fields[f];
    if (t0->ndim + 1 > VOLT_MAX_DIMS) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "collate: field '%s' has %d dims; a batch of it would "
                       "exceed %d",
                       items[0].names[f], t0->ndim, VOLT_MAX_DIMS);
        return NULL;
    }
    int64_t shape[VOLT_MAX_DIMS];
    shape[0] = n;
    memcpy(shape + 1, t0->shape, (size_t)t0->ndim * sizeof *shape);
    volt_tensor *out = volt_tensor_new(t0->dtype, VOLT_DEVICE_CPU, t0->ndim + 1, shape);
    if (!out) return NULL;
    size_t item_bytes = (size_t)volt_tensor_numel(t0) * volt_dtype_size(t0->dtype);
    char *dst = volt_tensor_data(out);
    for (int64_t j = 0; j < n; j++) {
        const volt_tensor *t = items[j].fields[f];
        if (volt_tensor_is_contiguous(t)) {
            memcpy(dst + (size_t)j * item_bytes, volt_tensor_data(t), item_bytes);
        } else if (volt_tensor_copy_to_array(t, t->dtype, dst + (size_t)j * item_bytes) !=
                   VOLT_OK) {
            volt_tensor_free(out);
            return NULL;
        }
    }
    return out;
}

volt_status volt_collate(const volt_sample *items, int64_t n, volt_batch *out) {
    if (!items || !out || n < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "collate: %s",
                              n < 1 ? "no items" : "NULL argument");
    memset(out, 0, sizeof *out);
    if (items[0].n_fields == 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "collate: item 0 has no fields");
    for (int f = 0; f < items[0].n_fields; f++) {
        volt_tensor *t = stack_field(items, n, f);
        if (!t) {
            volt_batch_free(out);
            return volt_error_status() != VOLT_OK ? volt_error_status() : VOLT_ERR_INTERNAL;
        }
        out->names[f] = items[0].names[f];
        out->fields[f] = t;
        out->n_fields = f + 1;
    }
    for (int64_t j = 1; j < n; j++)
        if (items[j].n_fields != items[0].n_fields) {
            volt_batch_free(out);
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "collate: item %lld has %d fields, item 0 has %d", (long long)j,
                                  items[j].n_fields, items[0].n_fields);
        }
    out->size = n;
    sync_xy(out);
    return VOLT_OK;
}
