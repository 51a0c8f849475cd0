/* tensor.c: tensor creation over storage, views, geometry queries, element
 * access for tests and printing, and reference counting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"

int64_t volt_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void volt_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

int64_t volt_tensor_numel(const volt_tensor *t) {
    return t ? volt_shape_numel(t->ndim, t->shape) : 0;
}

bool volt_tensor_is_contiguous(const volt_tensor *t) {
    if (!t) return false;
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue;
        if (t->strides[i] != expected) return false;
        expected *= t->shape[i];
    }
    return true;
}

void *volt_tensor_data(const volt_tensor *t) {
    if (!t) return NULL;
    return (char *)volt_storage_data(t->storage) + t->offset * (int64_t)volt_dtype_size(t->dtype);
}

volt_status volt_check_new_tensor(const char *op, int ndim, const int64_t *shape,
                                  volt_dtype dtype) {
    if (!volt_dtype_is_valid(dtype))
        return volt_error_set(VOLT_ERR_DTYPE, "%s: invalid dtype %d", op, (int)dtype);
    if (ndim < 0 || ndim > VOLT_MAX_DIMS)
        return volt_error_set(VOLT_ERR_SHAPE, "%s: %d dimensions (at most %d)", op, ndim,
                              VOLT_MAX_DIMS);
    if (ndim > 0 && !shape) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL shape", op);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return volt_error_set(VOLT_ERR_SHAPE, "%s: negative size %lld in dimension %d", op,
                                  (long long)shape[i], i);
        if (__builtin_mul_overflow(numel, shape[i], &numel))
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY,
                                  "%s: shape is too large (the element count overflows)", op);
    }
    return VOLT_OK;
}

volt_tensor *volt_tensor_from_storage(volt_storage *storage, volt_dtype dtype, int ndim,
                                      const int64_t *shape, const int64_t *strides,
                                      int64_t offset) {
    if (!storage) return NULL;
    if (volt_check_new_tensor("tensor_from_storage", ndim, shape, dtype) != VOLT_OK) return NULL;
    volt_tensor *t = volt_cache_alloc(VOLT_CACHE_TENSOR, sizeof *t);
    if (!t) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "tensor_from_storage: out of memory");
        return NULL;
    }
    volt_storage_retain(storage);
    t->storage = storage;
    t->offset = offset;
    t->ndim = ndim;
    t->dtype = dtype;
    t->device = VOLT_DEVICE_CPU;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    if (strides)
        memcpy(t->strides, strides, (size_t)ndim * sizeof *strides);
    else
        volt_contiguous_strides(ndim, shape, t->strides);
    t->refcount = 1;
    volt_scope_adopt(t);
    return t;
}

volt_tensor *volt_tensor_alias(const volt_tensor *t, int ndim, const int64_t *shape,
                               const int64_t *strides, int64_t offset) {
    if (!t) return NULL;
    volt_tensor *v = volt_tensor_from_storage(t->storage, t->dtype, ndim, shape, strides, offset);
    if (v) v->device = t->device;
    return v;
}

volt_tensor *volt_tensor_new(volt_dtype dtype, volt_device device, int ndim, const int64_t *shape) {
    if (volt_check_new_tensor("tensor_new", ndim, shape, dtype) != VOLT_OK) return NULL;
    int64_t numel = volt_shape_numel(ndim, shape);
    size_t esize = volt_dtype_size(dtype);
    if (numel > 0 && (uint64_t)numel > SIZE_MAX / 2 / esize) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "tensor_new: %lld elements of %s is too large",
                       (long long)numel, volt_dtype_name(dtype));
        return NULL;
    }
    volt_storage *s = volt_storage_new(device, (size_t)numel * esize);
    if (!s) return NULL;
    volt_tensor *t = volt_tensor_from_storage(s, dtype, ndim, shape, NULL, 0);
    volt_storage_release(s);
    if (t) t->device = device;
    return t;
}

volt_status volt_tensor_set_data(volt_tensor *t, const volt_tensor *src) {
    if (!t || !src)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "tensor_set_data: NULL tensor");
    if (t->grad_fn)
        return volt_error_set(VOLT_ERR_STATE, "tensor_set_data: the tensor is not a leaf");
    volt_storage_retain(src->storage);
    volt_storage_release(t->storage);
    t->storage = src->storage;
    t->offset = src->offset;
    t->ndim = src->ndim;
    memcpy(t->shape, src->shape, sizeof t->shape);
    memcpy(t->strides, src->strides, sizeof t->strides);
    t->dtype = src->dtype;
    t->device = src->device;
    volt_tensor *grad = t->grad; /* owned by t, as in volt_autograd_tensor_freed */
    t->grad = NULL;
    volt_tensor_release(grad);
    return VOLT_OK;
}

volt_tensor *volt_tensor_retain(volt_tensor *t) {
    if (t) t->refcount++;
    return t;
}

void volt_tensor_release(volt_tensor *t) {
    if (!t) return;
    VOLT_ASSERT(t->refcount > 0);
    if (--t->refcount > 0) return;
    VOLT_ASSERT(t->scope_depth < 0);
    volt_autograd_tensor_freed(t);
    volt_storage_release(t->storage);
    volt_cache_free(VOLT_CACHE_TENSOR, t);
}

/* ----------------------------------------------------- element access */

double volt_load_as_double(const void *p, volt_dtype dtype) {
    switch (dtype) {
    case VOLT_F32: return *(const float *)p;
    case VOLT_F64: return *(const double *)p;
    case VOLT_BF16: return volt_bf16_to_f32(*(const uint16_t *)p);
    case VOLT_F16: return volt_f16_to_f32(*(const uint16_t *)p);
    case VOLT_I64: return (double)*(const int64_t *)p;
    case VOLT_I32: return *(const int32_t *)p;
    case VOLT_U8: return *(const uint8_t *)p;
    case VOLT_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
    case VOLT_DTYPE_COUNT: break;
    }
    return NAN;
}

void volt_store_from_double(void *p, volt_dtype dtype, double v) {
    switch (dtype) {
    case VOLT_F32: *(float *)p = (float)v; break;
    case VOLT_F64: *(double *)p = v; break;
    case VOLT_BF16: *(uint16_t *)p = volt_f32_to_bf16((float)v); break;
    case VOLT_F16: *(uint16_t *)p = volt_f32_to_f16((float)v); break;
    case VOLT_I64: *(int64_t *)p = (int64_t)v; break;
    case VOLT_I32: *(int32_t *)p = (int32_t)v; break;
    case VOLT_U8: *(uint8_t *)p = (uint8_t)v; break;
    case VOLT_BOOL: *(uint8_t *)p = v != 0.0; break;
    case VOLT_DTYPE_COUNT: break;
    }
}

/* Element offset (in elements, from the storage's start) of element
 * `flat` in row-major order. */
static int64_t element_offset(const volt_tensor *t, int64_t flat) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t n = t->shape[d];
        off += (flat % n) * t->strides[d];
        flat /= n;
    }
    return off;
}

/* The element at storage offset `off`, as a double; a CUDA tensor's is
 * copied to the host first (NaN with the copy's error). */
static double load_element(const volt_tensor *t, int64_t off) {
    size_t esize = volt_dtype_size(t->dtype);
    const char *p = (const char *)volt_storage_data(t->storage) + off * (int64_t)esize;
    if (t->device.type == VOLT_CPU) return volt_load_as_double(p, t->dtype);
    uint64_t buf = 0;
    if (volt_cuda_memcpy(&buf, VOLT_DEVICE_CPU, p, t->device, esize, NULL) != VOLT_OK) return NAN;
    return volt_load_as_double(&buf, t->dtype);
}

double volt_tensor_get_flat(const volt_tensor *t, int64_t i) {
    if (!t) return NAN;
    int64_t n = volt_tensor_numel(t);
    if (i < 0 || i >= n) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "tensor_get_flat: index %lld out of range for %lld elements", (long long)i,
                       (long long)n);
        return NAN;
    }
    return load_element(t, element_offset(t, i));
}

double volt_tensor_get(const volt_tensor *t, const int64_t *index) {
    if (!t) return NAN;
    int64_t flat = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] < 0 || index[d] >= t->shape[d]) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "tensor_get: index %lld out of range for dimension %d of size %lld",
                           (long long)index[d], d, (long long)t->shape[d]);
            return NAN;
        }
        flat = flat * t->shape[d] + index[d];
    }
    return load_element(t, element_offset(t, flat));
}

double volt_tensor_item(const volt_tensor *t) {
    if (!t) return NAN;
    if (volt_tensor_numel(t) != 1) {
        char buf[96];
        volt_error_set(VOLT_ERR_SHAPE, "item: %s has %lld elements, not one",
                       volt_shape_str(t, buf, sizeof buf), (long long)volt_tensor_numel(t));
        return NAN;
    }
    return load_element(t, element_offset(t, 0));
}

char *volt_shape_str(const volt_tensor *t, char *buf, size_t size) {
    if (!buf || size == 0) return buf;
    if (!t) {
        snprintf(buf, size, "NULL");
        return buf;
    }
    size_t n = (size_t)snprintf(buf, size, "%s[", volt_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

/* The elements of t (of n) converted into out, read from `base`, which
 * holds t's storage from element offset `first` on. */
static void gather(const volt_tensor *t, int64_t n, const char *base, int64_t first,
                   volt_dtype dtype, void *out) {
    size_t esize = volt_dtype_size(dtype), tsize = volt_dtype_size(t->dtype);
    for (int64_t i = 0; i < n; i++)
        volt_store_from_double(
            (char *)out + (size_t)i * esize, dtype,
            volt_load_as_double(base + (element_offset(t, i) - first) * (int64_t)tsize, t->dtype));
}

/* copy_to_array for a CUDA tensor: the span of storage its elements cover
 * comes to the host, then is gathered (straight into out when it is
 * contiguous and of the same dtype). */
static volt_status copy_device_to_array(const volt_tensor *t, int64_t n, volt_dtype dtype,
                                        void *out) {
    size_t tsize = volt_dtype_size(t->dtype);
    const char *data = volt_storage_data(t->storage);
    if (dtype == t->dtype && volt_tensor_is_contiguous(t))
        return volt_cuda_memcpy(out, VOLT_DEVICE_CPU, data + t->offset * (int64_t)tsize, t->device,
                                (size_t)n * tsize, NULL);
    int64_t lo = t->offset, hi = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        int64_t reach = (t->shape[d] - 1) * t->strides[d];
        if (reach < 0)
            lo += reach;
        else
            hi += reach;
    }
    size_t bytes = (size_t)(hi - lo + 1) * tsize;
    char *host = malloc(bytes);
    if (!host)
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY,
                              "tensor_copy_to_array: out of memory for %zu bytes", bytes);
    volt_status st =
        volt_cuda_memcpy(host, VOLT_DEVICE_CPU, data + lo * (int64_t)tsize, t->device, bytes, NULL);
    if (st == VOLT_OK) gather(t, n, host, lo, dtype, out);
    free(host);
    return st;
}

volt_status volt_tensor_copy_to_array(const volt_tensor *t, volt_dtype dtype, void *out) {
    if (!t || !out)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "tensor_copy_to_array: NULL argument");
    if (!volt_dtype_is_valid(dtype))
        return volt_error_set(VOLT_ERR_DTYPE, "tensor_copy_to_array: invalid dtype %d", (int)dtype);
    int64_t n = volt_tensor_numel(t);
    if (n == 0) return VOLT_OK;
    if (t->device.type != VOLT_CPU) return copy_device_to_array(t, n, dtype, out);
    size_t esize = volt_dtype_size(dtype);
    if (dtype == t->dtype && volt_tensor_is_contiguous(t)) {
        memcpy(out, volt_tensor_data(t), (size_t)n * esize);
        return VOLT_OK;
    }
    gather(t, n, volt_storage_data(t->storage), 0, dtype, out);
    return VOLT_OK;
}
