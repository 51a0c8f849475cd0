/* dataset.c: the dataset interface's checked entry points (len, get,
 * get_batch with its per-item fallback, free) and the tensor dataset. */
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

static const char *ds_name(const volt_dataset *ds) {
    return ds->ops->name ? ds->ops->name : "dataset";
}

int64_t volt_dataset_len(const volt_dataset *ds) {
    if (!ds || !ds->ops || !ds->ops->len) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "dataset_len: %s",
                       ds ? "dataset has no len function" : "NULL dataset");
        return -1;
    }
    return ds->ops->len(ds);
}

/* A status that is an error always leaves a message behind. */
static volt_status ensure_message(volt_status st, const volt_dataset *ds, const char *what) {
    if (st != VOLT_OK && volt_error_status() == VOLT_OK)
        volt_error_set(st, "%s: %s failed (%s) without a message", ds_name(ds), what,
                       volt_status_name(st));
    return st;
}

static volt_status check_index(const volt_dataset *ds, int64_t index, int64_t len) {
    if (index < 0 || index >= len)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: index %lld out of range [0, %lld)",
                              ds_name(ds), (long long)index, (long long)len);
    return VOLT_OK;
}

volt_status volt_dataset_get(const volt_dataset *ds, int64_t index, volt_sample *out) {
    if (!out) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "dataset_get: NULL sample");
    memset(out, 0, sizeof *out);
    int64_t len = volt_dataset_len(ds);
    if (len < 0) return volt_error_status();
    if (!ds->ops->get)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: no get function", ds_name(ds));
    if (check_index(ds, index, len) != VOLT_OK) return VOLT_ERR_INVALID_ARGUMENT;
    return ensure_message(ds->ops->get(ds, index, out), ds, "get");
}

/* get of each item in a scope of its own, then collate. */
static volt_status get_batch_by_items(const volt_dataset *ds, const int64_t *indices, int64_t n,
                                      volt_batch *out) {
    volt_sample *items = calloc((size_t)n, sizeof *items);
    if (!items) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", ds_name(ds));
    volt_status st = VOLT_OK;
    volt_scope_begin();
    for (int64_t j = 0; j < n && st == VOLT_OK; j++)
        st = ensure_message(ds->ops->get(ds, indices[j], &items[j]), ds, "get");
    if (st == VOLT_OK) st = volt_collate(items, n, out);
    if (st == VOLT_OK) volt_batch_persist(out);
    volt_scope_end();
    free(items);
    if (st == VOLT_OK) volt_batch_adopt(out);
    return st;
}

volt_status volt_dataset_get_batch(const volt_dataset *ds, const int64_t *indices, int64_t n,
                                   volt_batch *out) {
    if (!out || !indices || n < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "dataset_get_batch: %s",
                              n < 1 ? "no indices" : "NULL argument");
    memset(out, 0, sizeof *out);
    int64_t len = volt_dataset_len(ds);
    if (len < 0) return volt_error_status();
    if (!ds->ops->get)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: no get function", ds_name(ds));
    for (int64_t j = 0; j < n; j++)
        if (check_index(ds, indices[j], len) != VOLT_OK) return VOLT_ERR_INVALID_ARGUMENT;
    if (!ds->ops->get_batch) return get_batch_by_items(ds, indices, n, out);
    volt_status st = ensure_message(ds->ops->get_batch(ds, indices, n, out), ds, "get_batch");
    if (st != VOLT_OK)
        volt_batch_free(out);
    else if (out->size == 0)
        out->size = n;
    return st;
}

void volt_dataset_free(volt_dataset *ds) {
    if (ds && ds->ops && ds->ops->free) ds->ops->free(ds);
}

/* --------------------------------------------------------- tensor dataset */

typedef struct {
    volt_dataset base;
    int n;
    int64_t len;
    char *names[VOLT_DATA_MAX_FIELDS];
    volt_tensor *tensors[VOLT_DATA_MAX_FIELDS]; /* contiguous, owned */
} tensor_dataset;

static int64_t tensor_len(const volt_dataset *self) { return ((const tensor_dataset *)self)->len; }

static volt_status tensor_get(const volt_dataset *self, int64_t index, volt_sample *out) {
    const tensor_dataset *d = (const tensor_dataset *)self;
    for (int f = 0; f < d->n; f++) {
        const volt_tensor *t = d->tensors[f];
        volt_tensor *row = volt_tensor_alias(t, t->ndim - 1, t->shape + 1, t->strides + 1,
                                             t->offset + index * t->strides[0]);
        if (!row || volt_sample_set(out, d->names[f], row) != VOLT_OK) return volt_error_status();
    }
    return VOLT_OK;
}

static volt_status tensor_get_batch(const volt_dataset *self, const int64_t *indices, int64_t n,
                                    volt_batch *out) {
    const tensor_dataset *d = (const tensor_dataset *)self;
    for (int f = 0; f < d->n; f++) {
        const volt_tensor *t = d->tensors[f];
        int64_t shape[VOLT_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        shape[0] = n;
        volt_tensor *b = volt_tensor_new(t->dtype, VOLT_DEVICE_CPU, t->ndim, shape);
        if (!b) return volt_error_status();
        size_t row = (size_t)(t->strides[0]) * volt_dtype_size(t->dtype);
        const char *src = volt_tensor_data(t);
        char *dst = volt_tensor_data(b);
        for (int64_t j = 0; j < n; j++)
            memcpy(dst + (size_t)j * row, src + (size_t)indices[j] * row, row);
        volt_batch_set(out, d->names[f], b);
    }
    out->size = n;
    return VOLT_OK;
}

static void tensor_free(volt_dataset *self) {
    tensor_dataset *d = (tensor_dataset *)self;
    for (int f = 0; f < d->n; f++) {
        free(d->names[f]);
        volt_tensor_free(d->tensors[f]);
    }
    free(d);
}

static const volt_dataset_ops tensor_dataset_ops = {
    .name = "tensor_dataset",
    .len = tensor_len,
    .get = tensor_get,
    .get_batch = tensor_get_batch,
    .free = tensor_free,
};

static volt_status check_tensors(int n, const char *const *names, volt_tensor *const *tensors) {
    if (n < 1 || n > VOLT_DATA_MAX_FIELDS || !names || !tensors)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "tensor_dataset: %d tensors (expected 1 to %d, names and tensors "
                              "non-NULL)",
                              n, VOLT_DATA_MAX_FIELDS);
    for (int f = 0; f < n; f++) {
        if (!names[f] || !names[f][0] || !tensors[f])
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "tensor_dataset: tensor %d has a %s",
                                  f, tensors[f] ? "NULL or empty name" : "NULL tensor");
        for (int g = 0; g < f; g++)
            if (strcmp(names[g], names[f]) == 0)
                return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                      "tensor_dataset: two tensors named '%s'", names[f]);
        char a[96], b[96];
        if (tensors[f]->ndim < 1 || tensors[f]->device.type != VOLT_CPU)
            return volt_error_set(VOLT_ERR_SHAPE,
                                  "tensor_dataset: '%s' is %s (need a CPU tensor "
                                  "with a leading item dimension)",
                                  names[f], volt_shape_str(tensors[f], a, sizeof a));
        if (tensors[f]->shape[0] != tensors[0]->shape[0])
            return volt_error_set(VOLT_ERR_SHAPE,
                                  "tensor_dataset: '%s' is %s but '%s' is %s "
                                  "(leading sizes differ)",
                                  names[f], volt_shape_str(tensors[f], a, sizeof a), names[0],
                                  volt_shape_str(tensors[0], b, sizeof b));
    }
    return VOLT_OK;
}

/* A caller-owned contiguous tensor with t's values (a view when possible). */
static volt_tensor *contiguous_copy(const volt_tensor *t) {
    volt_tensor *c;
    if (volt_tensor_is_contiguous(t)) {
        c = volt_tensor_alias(t, t->ndim, t->shape, t->strides, t->offset);
    } else {
        c = volt_tensor_new(t->dtype, VOLT_DEVICE_CPU, t->ndim, t->shape);
        if (c && volt_tensor_copy_to_array(t, t->dtype, volt_tensor_data(c)) != VOLT_OK) {
            volt_tensor_free(c);
            c = NULL;
        }
    }
    return volt_persist(c);
}

volt_dataset *volt_tensor_dataset_new(int n, const char *const *names,
                                      volt_tensor *const *tensors) {
    if (check_tensors(n, names, tensors) != VOLT_OK) return NULL;
    tensor_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "tensor_dataset: out of memory");
        return NULL;
    }
    d->base.ops = &tensor_dataset_ops;
    d->len = tensors[0]->shape[0];
    for (int f = 0; f < n; f++) {
        d->names[f] = strdup(names[f]);
        d->tensors[f] = contiguous_copy(tensors[f]);
        d->n = f + 1;
        if (!d->names[f] || !d->tensors[f]) {
            volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "tensor_dataset: out of memory");
            tensor_free(&d->base);
            return NULL;
        }
    }
    return &d->base;
}
