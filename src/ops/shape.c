/* shape.c: shape ops — views that share storage where the geometry allows
 * (reshape/view, expand, ...) and copies where it does not (contiguous). */
#include "ops/cpu/cpu_kernels.h"

/* Resolves a -1 entry and checks the element count. */
static bool resolve_shape(const char *op, const volt_tensor *a, int ndim, const int64_t *shape,
                          int64_t *out) {
    char ba[96];
    if (ndim < 0 || ndim > VOLT_MAX_DIMS || (ndim > 0 && !shape)) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: %d dimensions for %s (at most %d)", op, ndim,
                       volt_shape_str(a, ba, sizeof ba), VOLT_MAX_DIMS);
        return false;
    }
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape[i] < 0) {
            volt_error_set(VOLT_ERR_SHAPE, "%s: invalid size %lld in dimension %d for %s", op,
                           (long long)shape[i], i, volt_shape_str(a, ba, sizeof ba));
            return false;
        } else {
            known *= shape[i];
        }
        out[i] = shape[i];
    }
    int64_t numel = volt_tensor_numel(a);
    if (infer >= 0) {
        if (known == 0 || numel % known != 0) {
            volt_error_set(VOLT_ERR_SHAPE, "%s: %s cannot take a shape with %lld elements per -1",
                           op, volt_shape_str(a, ba, sizeof ba), (long long)known);
            return false;
        }
        out[infer] = numel / known;
        known *= out[infer];
    }
    if (known != numel) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: %s has %lld elements, the new shape %lld", op,
                       volt_shape_str(a, ba, sizeof ba), (long long)numel, (long long)known);
        return false;
    }
    return true;
}

/* Strides for viewing a as `shape` without a copy, if possible: each run of
 * old dims that is contiguous in memory can be split or merged freely. */
static bool view_strides(const volt_tensor *a, int ndim, const int64_t *shape, int64_t *strides) {
    if (volt_tensor_numel(a) == 0 || volt_tensor_is_contiguous(a)) {
        volt_contiguous_strides(ndim, shape, strides);
        return true;
    }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = a->ndim ? a->strides[a->ndim - 1] : 1;
    int64_t tensor_numel = 1, view_numel = 1;
    for (int d = a->ndim - 1; d >= 0; d--) {
        tensor_numel *= a->shape[d];
        if (d == 0 || (a->shape[d - 1] != 1 && a->strides[d - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                strides[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (d > 0) {
                chunk_base_stride = a->strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

static volt_status reshape_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const volt_node_input *in = &node->inputs[0];
    grads[0] = volt_reshape(g, in->ndim, in->shape);
    return VOLT_OK;
}

static volt_tensor *reshape_impl(const char *op, const volt_tensor *a, int ndim,
                                 const int64_t *shape, bool allow_copy) {
    if (!volt_check_not_null(op, a, "a")) return NULL;
    int64_t resolved[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    if (!resolve_shape(op, a, ndim, shape, resolved)) return NULL;
    volt_tensor *out;
    if (view_strides(a, ndim, resolved, strides)) {
        out = volt_tensor_alias(a, ndim, resolved, strides, a->offset);
    } else if (allow_copy) {
        volt_tensor *c = volt_tensor_new(a->dtype, a->device, a->ndim, a->shape);
        if (!c) return NULL;
        volt_cpu_copy(c, a);
        out = volt_tensor_alias(c, ndim, resolved, NULL, 0);
        volt_tensor_free(c);
    } else {
        char ba[96];
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: %s is not laid out to be viewed with this shape (use reshape)", op,
                       volt_shape_str(a, ba, sizeof ba));
        return NULL;
    }
    if (out && volt_autograd_should_record(1, &a))
        volt_autograd_record(op, reshape_backward, out, 1, &a);
    return out;
}

volt_tensor *volt_reshape(const volt_tensor *a, int ndim, const int64_t *shape) {
    return reshape_impl("reshape", a, ndim, shape, true);
}

volt_tensor *volt_view(const volt_tensor *a, int ndim, const int64_t *shape) {
    return reshape_impl("view", a, ndim, shape, false);
}

static volt_status expand_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    (void)node;
    grads[0] = g; /* the engine sums it back to the input's shape */
    return VOLT_OK;
}

volt_tensor *volt_expand(const volt_tensor *a, int ndim, const int64_t *shape) {
    if (!volt_check_not_null("expand", a, "a")) return NULL;
    char ba[96];
    if (ndim < a->ndim || ndim > VOLT_MAX_DIMS || (ndim > 0 && !shape)) {
        volt_error_set(VOLT_ERR_SHAPE, "expand: %s cannot be expanded to %d dimensions",
                       volt_shape_str(a, ba, sizeof ba), ndim);
        return NULL;
    }
    int64_t out_shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    int lead = ndim - a->ndim;
    for (int d = 0; d < ndim; d++) {
        int64_t size = shape[d];
        if (d < lead) {
            if (size < 0) {
                volt_error_set(VOLT_ERR_SHAPE, "expand: size -1 is not allowed in new leading dimension %d", d);
                return NULL;
            }
            out_shape[d] = size;
            strides[d] = 0;
            continue;
        }
        int64_t have = a->shape[d - lead];
        if (size == -1) size = have;
        if (size != have && have != 1) {
            volt_error_set(VOLT_ERR_SHAPE,
                           "expand: %s cannot be expanded to size %lld in dimension %d (size %lld is not 1)",
                           volt_shape_str(a, ba, sizeof ba), (long long)size, d, (long long)have);
            return NULL;
        }
        out_shape[d] = size;
        strides[d] = size == have ? a->strides[d - lead] : 0;
    }
    volt_tensor *out = volt_tensor_alias(a, ndim, out_shape, strides, a->offset);
    if (out && volt_autograd_should_record(1, &a))
        volt_autograd_record("expand", expand_backward, out, 1, &a);
    return out;
}

volt_tensor *volt_contiguous(const volt_tensor *a) {
    if (!volt_check_not_null("contiguous", a, "a")) return NULL;
    if (volt_tensor_is_contiguous(a)) return volt_alias_with_grad(a, "contiguous");
    return volt_clone(a);
}
