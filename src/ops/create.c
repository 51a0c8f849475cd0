/* create.c: creation ops (empty, zeros, ones, full, scalar, *_like, arange,
 * linspace, eye, from_array), clone and dtype conversion, and the whole-tensor
 * in-place writes fill_, zero_ and copy_. */
#include <math.h>
#include <string.h>

#include "ops/cpu/cpu_kernels.h"

volt_tensor *volt_empty(int ndim, const int64_t *shape, volt_dtype dtype) {
    return volt_tensor_new(dtype, VOLT_DEVICE_CPU, ndim, shape);
}

volt_tensor *volt_full(int ndim, const int64_t *shape, double value, volt_dtype dtype) {
    volt_tensor *t = volt_empty(ndim, shape, dtype);
    if (t) volt_cpu_fill(t, value);
    return t;
}

volt_tensor *volt_zeros(int ndim, const int64_t *shape, volt_dtype dtype) {
    return volt_full(ndim, shape, 0.0, dtype);
}

volt_tensor *volt_ones(int ndim, const int64_t *shape, volt_dtype dtype) {
    return volt_full(ndim, shape, 1.0, dtype);
}

volt_tensor *volt_scalar(double value, volt_dtype dtype) { return volt_full(0, NULL, value, dtype); }

volt_tensor *volt_empty_like(const volt_tensor *t) {
    if (!volt_check_not_null("empty_like", t, "t")) return NULL;
    return volt_tensor_new(t->dtype, t->device, t->ndim, t->shape);
}

volt_tensor *volt_full_like(const volt_tensor *t, double value) {
    volt_tensor *out = volt_empty_like(t);
    if (out) volt_cpu_fill(out, value);
    return out;
}

volt_tensor *volt_zeros_like(const volt_tensor *t) { return volt_full_like(t, 0.0); }

volt_tensor *volt_ones_like(const volt_tensor *t) { return volt_full_like(t, 1.0); }

volt_tensor *volt_arange(double start, double end, double step, volt_dtype dtype) {
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step) ||
        (end - start) / step < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "arange: start %g, end %g, step %g do not make a finite range", start, end,
                       step);
        return NULL;
    }
    int64_t n = (int64_t)ceil((end - start) / step);
    volt_tensor *t = volt_empty(1, &n, dtype);
    if (!t) return NULL;
    volt_tensor *f = volt_empty(1, &n, VOLT_F64);
    if (!f) return NULL;
    double *p = volt_tensor_data(f);
    for (int64_t i = 0; i < n; i++) p[i] = start + (double)i * step;
    volt_cpu_copy(t, f);
    volt_tensor_free(f);
    return t;
}

volt_tensor *volt_linspace(double start, double end, int64_t steps, volt_dtype dtype) {
    if (steps < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "linspace: %lld steps (need >= 0)",
                       (long long)steps);
        return NULL;
    }
    volt_tensor *f = volt_empty(1, &steps, VOLT_F64);
    if (!f) return NULL;
    double *p = volt_tensor_data(f);
    double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0.0;
    /* Fill from both ends, as PyTorch does, so the last value is exactly end. */
    for (int64_t i = 0; i < steps; i++)
        p[i] = i < steps / 2 ? start + step * (double)i : end - step * (double)(steps - 1 - i);
    volt_tensor *t = volt_empty(1, &steps, dtype);
    if (t) volt_cpu_copy(t, f);
    volt_tensor_free(f);
    return t;
}

volt_tensor *volt_eye(int64_t n, int64_t m, volt_dtype dtype) {
    volt_tensor *t = volt_zeros(VOLT_SHAPE(n, m), dtype);
    if (!t) return NULL;
    volt_tensor *one = volt_scalar(1.0, dtype);
    if (!one) return NULL;
    size_t es = volt_dtype_size(dtype);
    char *base = volt_tensor_data(t);
    for (int64_t i = 0; i < n && i < m; i++)
        memcpy(base + (size_t)(i * m + i) * es, volt_tensor_data(one), es);
    volt_tensor_free(one);
    return t;
}

volt_tensor *volt_from_array(const void *data, volt_dtype dtype, int ndim, const int64_t *shape) {
    if (!data) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "from_array: data is NULL");
        return NULL;
    }
    volt_tensor *t = volt_empty(ndim, shape, dtype);
    if (t) memcpy(volt_tensor_data(t), data, (size_t)volt_tensor_numel(t) * volt_dtype_size(dtype));
    return t;
}

static volt_status identity_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    (void)node;
    grads[0] = g;
    return VOLT_OK;
}

volt_tensor *volt_clone(const volt_tensor *t) {
    if (!volt_check_not_null("clone", t, "t")) return NULL;
    volt_tensor *out = volt_empty_like(t);
    if (!out) return NULL;
    volt_cpu_copy(out, t);
    if (volt_autograd_should_record(1, &t)) volt_autograd_record("clone", identity_backward, out, 1, &t);
    return out;
}

volt_tensor *volt_to_dtype(const volt_tensor *t, volt_dtype dtype) {
    if (!volt_check_not_null("to_dtype", t, "t")) return NULL;
    if (!volt_dtype_is_valid(dtype)) {
        volt_error_set(VOLT_ERR_DTYPE, "to_dtype: invalid dtype %d", (int)dtype);
        return NULL;
    }
    volt_tensor *out = volt_tensor_new(dtype, t->device, t->ndim, t->shape);
    if (!out) return NULL;
    volt_cpu_copy(out, t);
    /* The engine converts the gradient back to the input's dtype. */
    if (volt_dtype_is_float(dtype) && volt_autograd_should_record(1, &t))
        volt_autograd_record("to_dtype", identity_backward, out, 1, &t);
    return out;
}

volt_tensor *volt_alias_with_grad(const volt_tensor *a, const char *op) {
    volt_tensor *out = volt_tensor_alias(a, a->ndim, a->shape, a->strides, a->offset);
    if (out && volt_autograd_should_record(1, &a))
        volt_autograd_record(op, identity_backward, out, 1, &a);
    return out;
}

volt_tensor *volt_fill_(volt_tensor *self, double value) {
    if (!volt_check_not_null("fill_", self, "self") || !volt_check_inplace("fill_", self))
        return NULL;
    volt_cpu_fill(self, value);
    volt_storage_bump_version(self->storage);
    return self;
}

volt_tensor *volt_zero_(volt_tensor *self) {
    if (!volt_check_not_null("zero_", self, "self") || !volt_check_inplace("zero_", self))
        return NULL;
    volt_cpu_fill(self, 0.0);
    volt_storage_bump_version(self->storage);
    return self;
}

volt_tensor *volt_copy_(volt_tensor *self, const volt_tensor *src) {
    if (!volt_check_not_null("copy_", self, "self") || !volt_check_not_null("copy_", src, "src"))
        return NULL;
    if (!volt_check_inplace("copy_", self) || !volt_check_same_device("copy_", self, src))
        return NULL;
    int ndim;
    int64_t shape[VOLT_MAX_DIMS];
    if (!volt_broadcast_shapes("copy_", self, src, &ndim, shape)) return NULL;
    bool same = ndim == self->ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] == self->shape[i];
    if (!same) {
        char bs[96], bo[96];
        volt_error_set(VOLT_ERR_SHAPE, "copy_: %s cannot be broadcast into %s",
                       volt_shape_only(src, bo, sizeof bo), volt_shape_only(self, bs, sizeof bs));
        return NULL;
    }
    volt_cpu_copy(self, src);
    volt_storage_bump_version(self->storage);
    return self;
}
