/* checks.c: argument validation with volt's standard error messages,
 * broadcasting and dtype promotion shared by every op. */
#include <stdio.h>

#include "ops/ops_impl.h"

const char *volt_shape_only(const volt_tensor *t, char *buf, size_t size) {
    if (!t) {
        snprintf(buf, size, "NULL");
        return buf;
    }
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

bool volt_check_not_null(const char *op, const volt_tensor *t, const char *name) {
    if (t) return true;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: argument '%s' is NULL", op, name);
    return false;
}

bool volt_check_float(const char *op, const volt_tensor *t) {
    if (volt_dtype_is_float(t->dtype)) return true;
    char buf[96];
    volt_error_set(VOLT_ERR_DTYPE, "%s: expected a floating-point tensor, got %s", op,
                   volt_shape_str(t, buf, sizeof buf));
    return false;
}

bool volt_check_f32_f64(const char *op, const volt_tensor *t) {
    if (t->dtype == VOLT_F32 || t->dtype == VOLT_F64) return true;
    char buf[96];
    volt_error_set(VOLT_ERR_DTYPE, "%s: %s is not supported (f32 and f64 are)", op,
                   volt_shape_str(t, buf, sizeof buf));
    return false;
}

bool volt_check_same_device(const char *op, const volt_tensor *a, const volt_tensor *b) {
    if (volt_device_equal(a->device, b->device)) return true;
    char da[32], db[32];
    volt_error_set(VOLT_ERR_DEVICE, "%s: tensors on %s and %s", op,
                   volt_device_str(a->device, da, sizeof da),
                   volt_device_str(b->device, db, sizeof db));
    return false;
}

bool volt_check_operand_devices(const char *op, const volt_tensor *a, const volt_tensor *b,
                                volt_device *device) {
    *device = a->device;
    if (volt_device_equal(a->device, b->device)) return true;
    if (a->device.type == VOLT_CUDA && b->device.type == VOLT_CPU && b->ndim == 0) return true;
    *device = b->device;
    if (b->device.type == VOLT_CUDA && a->device.type == VOLT_CPU && a->ndim == 0) return true;
    return volt_check_same_device(op, a, b);
}

volt_status volt_no_cuda_kernel(const char *op, const volt_tensor *t, const char *why) {
    char shape[96], device[32];
    return volt_error_set(VOLT_ERR_DEVICE, "%s: no CUDA kernel yet for %s on %s%s%s%s", op,
                          volt_shape_str(t, shape, sizeof shape),
                          volt_device_str(t->device, device, sizeof device), why ? " (" : "",
                          why ? why : "", why ? ")" : "");
}

bool volt_check_device_supported(const char *op, const volt_tensor *t) {
    if (t->device.type == VOLT_CPU) return true;
    volt_no_cuda_kernel(op, t, NULL);
    return false;
}

int volt_normalize_dim(const char *op, const volt_tensor *t, int dim) {
    int n = t->ndim > 0 ? t->ndim : 1; /* a 0-d tensor accepts dim 0 / -1 */
    if (dim >= -n && dim < n) return dim < 0 ? dim + n : dim;
    char buf[96];
    volt_error_set(VOLT_ERR_SHAPE, "%s: dimension %d out of range for %s (expected %d..%d)", op,
                   dim, volt_shape_str(t, buf, sizeof buf), -n, n - 1);
    return -1;
}

bool volt_dims_to_mask(const char *op, const volt_tensor *t, int n_dims, const int *dims,
                       bool mask[VOLT_MAX_DIMS]) {
    for (int i = 0; i < VOLT_MAX_DIMS; i++) mask[i] = n_dims == 0 && i < t->ndim;
    if (n_dims > 0 && !dims) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL dims with n_dims %d", op, n_dims);
        return false;
    }
    for (int i = 0; i < n_dims; i++) {
        int d = volt_normalize_dim(op, t, dims[i]);
        if (d < 0) return false;
        if (t->ndim == 0) continue;
        if (mask[d]) {
            char buf[96];
            volt_error_set(VOLT_ERR_SHAPE, "%s: dimension %d appears twice for %s", op, dims[i],
                           volt_shape_str(t, buf, sizeof buf));
            return false;
        }
        mask[d] = true;
    }
    return true;
}

bool volt_check_inplace(const char *op, const volt_tensor *self) {
    if (!self->requires_grad || !volt_grad_enabled()) return true;
    char buf[96];
    volt_error_set(VOLT_ERR_STATE,
                   "%s: in-place operation on %s, which requires grad (use VOLT_NO_GRAD)", op,
                   volt_shape_str(self, buf, sizeof buf));
    return false;
}

bool volt_broadcast_shapes(const char *op, const volt_tensor *a, const volt_tensor *b, int *ndim,
                           int64_t shape[VOLT_MAX_DIMS]) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = a->ndim - n + i, ib = b->ndim - n + i;
        int64_t sa = ia >= 0 ? a->shape[ia] : 1;
        int64_t sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char ba[96], bb[96];
            volt_error_set(
                VOLT_ERR_SHAPE,
                "%s: %s and %s: shapes cannot be broadcast (%lld vs %lld in dimension %d)", op,
                volt_shape_only(a, ba, sizeof ba), volt_shape_only(b, bb, sizeof bb), (long long)sa,
                (long long)sb, i);
            return false;
        }
        shape[i] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return true;
}

void volt_broadcast_strides(const volt_tensor *t, int ndim, const int64_t *shape,
                            int64_t strides[VOLT_MAX_DIMS]) {
    for (int i = 0; i < ndim; i++) {
        int it = t->ndim - ndim + i;
        strides[i] = (it >= 0 && t->shape[it] == shape[i] && shape[i] != 1) ? t->strides[it] : 0;
    }
}

/* Rank of a dtype in the promotion lattice, and its kind (0 bool, 1 integer,
 * 2 floating). */
static int type_rank(volt_dtype d) {
    switch (d) {
    case VOLT_BOOL: return 0;
    case VOLT_U8: return 1;
    case VOLT_I32: return 2;
    case VOLT_I64: return 3;
    case VOLT_F16: return 4;
    case VOLT_BF16: return 4;
    case VOLT_F32: return 5;
    case VOLT_F64: return 6;
    case VOLT_DTYPE_COUNT: break;
    }
    return -1;
}

static int type_kind(volt_dtype d) { return d == VOLT_BOOL ? 0 : volt_dtype_is_float(d) ? 2 : 1; }

volt_dtype volt_promote_types(const volt_tensor *a, const volt_tensor *b) {
    if (a->dtype == b->dtype) return a->dtype;
    /* A 0-d operand does not raise the other's dtype within the same kind. */
    bool a_dim = a->ndim > 0, b_dim = b->ndim > 0;
    if (a_dim != b_dim) {
        const volt_tensor *dimmed = a_dim ? a : b, *zero_d = a_dim ? b : a;
        if (type_kind(zero_d->dtype) <= type_kind(dimmed->dtype)) return dimmed->dtype;
        if (type_kind(zero_d->dtype) == 2) return VOLT_F32; /* int tensor * float scalar */
    }
    if ((a->dtype == VOLT_F16 && b->dtype == VOLT_BF16) ||
        (a->dtype == VOLT_BF16 && b->dtype == VOLT_F16))
        return VOLT_F32;
    return type_rank(a->dtype) >= type_rank(b->dtype) ? a->dtype : b->dtype;
}

const volt_tensor *volt_as_dtype(const volt_tensor *t, volt_dtype dtype) {
    return t->dtype == dtype ? t : volt_to_dtype(t, dtype);
}

bool volt_grad_reusable(const volt_tensor *g, const volt_tensor *v) {
    if (g->refcount != 1 || g->scope_depth >= 0 || g->offset != 0 || g->dtype != v->dtype ||
        g->ndim != v->ndim || !volt_tensor_is_contiguous(g) ||
        volt_storage_refcount(g->storage) != 1)
        return false;
    for (int i = 0; i < g->ndim; i++)
        if (g->shape[i] != v->shape[i]) return false;
    return true;
}
