/* create.c: creation ops (empty, zeros, ones, full, scalar, *_like, arange,
 * linspace, eye, from_array), clone and dtype conversion, and the whole-tensor
 * in-place writes fill_, zero_ and copy_. On CUDA (ops/cuda/elementwise.c):
 * *_like, fill_, zero_, clone, to_dtype (between any two dtypes) and copy_
 * (also between devices, with broadcast and conversion), any layout. The
 * creators that take no tensor make CPU tensors. */
#include <math.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"

/* Checks a creation op's dtype and shape, naming the op in the error. */
static bool check_new(const char *op, int ndim, const int64_t *shape, volt_dtype dtype) {
    return volt_check_new_tensor(op, ndim, shape, dtype) == VOLT_OK;
}

/* Whether `value` converts to dtype without undefined behaviour (integers:
 * finite and in range). */
static bool check_value(const char *op, double value, volt_dtype dtype) {
    double lo = 0, hi = 0;
    switch (dtype) {
    case VOLT_I64: lo = -9223372036854775808.0, hi = 9223372036854775807.0; break;
    case VOLT_I32: lo = -2147483648.0, hi = 2147483647.0; break;
    case VOLT_U8: lo = 0, hi = 255; break;
    default: return true;
    }
    /* hi of i64 rounds up to 2^63, which is out of range. */
    if (value >= lo && (dtype == VOLT_I64 ? value < hi : value <= hi)) return true;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: value %g cannot be converted to %s", op, value,
                   volt_dtype_name(dtype));
    return false;
}

/* Every element of t = value, on t's device; false with an error. */
static bool fill_on_device(const char *op, volt_tensor *t, double value) {
    if (t->device.type == VOLT_CUDA) return volt_cuda_fill(op, t, value) == VOLT_OK;
    volt_cpu_fill(t, value);
    return true;
}

/* out = src (same shape), converted to out's dtype, on their devices. */
static bool copy_on_device(const char *op, volt_tensor *out, const volt_tensor *src) {
    if (out->device.type == VOLT_CUDA || src->device.type == VOLT_CUDA)
        return volt_cuda_copy(op, out, src) == VOLT_OK;
    volt_cpu_copy(out, src);
    return true;
}

static volt_tensor *full_named(const char *op, int ndim, const int64_t *shape, double value,
                               volt_dtype dtype) {
    if (!check_new(op, ndim, shape, dtype) || !check_value(op, value, dtype)) return NULL;
    volt_tensor *t = volt_tensor_new(dtype, VOLT_DEVICE_CPU, ndim, shape);
    if (t) volt_cpu_fill(t, value);
    return t;
}

volt_tensor *volt_empty(int ndim, const int64_t *shape, volt_dtype dtype) {
    if (!check_new("empty", ndim, shape, dtype)) return NULL;
    return volt_tensor_new(dtype, VOLT_DEVICE_CPU, ndim, shape);
}

volt_tensor *volt_full(int ndim, const int64_t *shape, double value, volt_dtype dtype) {
    return full_named("full", ndim, shape, value, dtype);
}

volt_tensor *volt_zeros(int ndim, const int64_t *shape, volt_dtype dtype) {
    return full_named("zeros", ndim, shape, 0.0, dtype);
}

volt_tensor *volt_ones(int ndim, const int64_t *shape, volt_dtype dtype) {
    return full_named("ones", ndim, shape, 1.0, dtype);
}

volt_tensor *volt_scalar(double value, volt_dtype dtype) {
    return full_named("scalar", 0, NULL, value, dtype);
}

volt_tensor *volt_empty_like(const volt_tensor *t) {
    if (!volt_check_not_null("empty_like", t, "t")) return NULL;
    return volt_tensor_new(t->dtype, t->device, t->ndim, t->shape);
}

static volt_tensor *full_like_named(const char *op, const volt_tensor *t, double value) {
    if (!volt_check_not_null(op, t, "t") || !check_value(op, value, t->dtype)) return NULL;
    volt_tensor *out = volt_tensor_new(t->dtype, t->device, t->ndim, t->shape);
    if (out && !fill_on_device(op, out, value)) {
        volt_tensor_free(out);
        return NULL;
    }
    return out;
}

volt_tensor *volt_full_like(const volt_tensor *t, double value) {
    return full_like_named("full_like", t, value);
}

volt_tensor *volt_zeros_like(const volt_tensor *t) { return full_like_named("zeros_like", t, 0.0); }

volt_tensor *volt_ones_like(const volt_tensor *t) { return full_like_named("ones_like", t, 1.0); }

volt_tensor *volt_arange(double start, double end, double step, volt_dtype dtype) {
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step) ||
        (end - start) / step < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "arange: start %g, end %g, step %g do not make a finite range", start, end,
                       step);
        return NULL;
    }
    double count = ceil((end - start) / step);
    if (count > 4.0e18) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "arange: start %g, end %g, step %g: too many values", start, end, step);
        return NULL;
    }
    int64_t n = (int64_t)count;
    if (!check_new("arange", 1, &n, dtype)) return NULL;
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
    if (!check_new("linspace", 1, &steps, dtype)) return NULL;
    volt_tensor *f = volt_empty(1, &steps, VOLT_F64);
    if (!f) return NULL;
    double *p = volt_tensor_data(f);
    double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0.0;
    /* Fill from both ends, as PyTorch does, so the last value is exactly end
     * (one step: just start). */
    for (int64_t i = 0; i < steps; i++)
        p[i] = i < steps / 2 || steps == 1 ? start + step * (double)i
                                           : end - step * (double)(steps - 1 - i);
    volt_tensor *t = volt_empty(1, &steps, dtype);
    if (t) volt_cpu_copy(t, f);
    volt_tensor_free(f);
    return t;
}

volt_tensor *volt_eye(int64_t n, int64_t m, volt_dtype dtype) {
    volt_tensor *t = full_named("eye", VOLT_SHAPE(n, m), 0.0, dtype);
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
    if (!check_new("from_array", ndim, shape, dtype)) return NULL;
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
    if (!copy_on_device("clone", out, t)) {
        volt_tensor_free(out);
        return NULL;
    }
    if (volt_autograd_should_record(1, &t))
        volt_autograd_record("clone", identity_backward, out, 1, &t);
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
    if (!copy_on_device("to_dtype", out, t)) {
        volt_tensor_free(out);
        return NULL;
    }
    volt_bf16_note_twin(out, t);
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
    if (!volt_check_not_null("fill_", self, "self") || !volt_check_inplace("fill_", self) ||
        !check_value("fill_", value, self->dtype) || !fill_on_device("fill_", self, value))
        return NULL;
    volt_storage_bump_version(self->storage);
    return self;
}

volt_tensor *volt_zero_(volt_tensor *self) {
    if (!volt_check_not_null("zero_", self, "self") || !volt_check_inplace("zero_", self) ||
        !fill_on_device("zero_", self, 0.0))
        return NULL;
    volt_storage_bump_version(self->storage);
    return self;
}

volt_tensor *volt_copy_(volt_tensor *self, const volt_tensor *src) {
    if (!volt_check_not_null("copy_", self, "self") || !volt_check_not_null("copy_", src, "src"))
        return NULL;
    if (!volt_check_inplace("copy_", self)) return NULL;
    /* Between devices: one of them CUDA (ops/cuda/elementwise.c). */
    bool cuda = self->device.type == VOLT_CUDA || src->device.type == VOLT_CUDA;
    if (!cuda && !volt_check_same_device("copy_", self, src)) return NULL;
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
    if (!copy_on_device("copy_", self, src)) return NULL;
    volt_storage_bump_version(self->storage);
    return self;
}
