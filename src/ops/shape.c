/* shape.c: shape ops and their gradients — views that share storage with
 * their input (reshape/view where the layout allows, expand, flatten,
 * transpose, permute, squeeze, unsqueeze, narrow, slice, split, chunk) and
 * the ops that copy (contiguous, cat, stack, repeat). The copies run on the
 * tensors' device (ops/cuda/elementwise.c on CUDA: strided, broadcast,
 * converting). */
#include <stdlib.h>
#include <string.h>

#include "ops/cuda/cuda_ops.h"

/* out = src converted and broadcast to out's shape, on their (one) device;
 * false with the error recorded. */
static bool copy_into(const char *op, volt_tensor *out, const volt_tensor *src) {
    if (out->device.type == VOLT_CUDA) return volt_cuda_copy(op, out, src) == VOLT_OK;
    volt_cpu_copy(out, src);
    return true;
}

/* Every element of t = 0, on its device; false with the error recorded. */
static bool zero_fill(const char *op, volt_tensor *t) {
    if (t->device.type == VOLT_CUDA) return volt_cuda_fill(op, t, 0.0) == VOLT_OK;
    volt_cpu_fill(t, 0.0);
    return true;
}

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
        if (d == 0 ||
            (a->shape[d - 1] != 1 && a->strides[d - 1] != tensor_numel * chunk_base_stride)) {
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
        if (!c || !copy_into(op, c, a)) {
            volt_tensor_free(c);
            return NULL;
        }
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
                volt_error_set(VOLT_ERR_SHAPE,
                               "expand: size %lld is not allowed in new leading dimension %d",
                               (long long)size, d);
                return NULL;
            }
            out_shape[d] = size;
            strides[d] = 0;
            continue;
        }
        int64_t have = a->shape[d - lead];
        if (size == -1) size = have;
        if (size < 0 || (size != have && have != 1)) {
            volt_error_set(VOLT_ERR_SHAPE,
                           "expand: %s cannot be expanded to size %lld in dimension %d (size %lld "
                           "is not 1)",
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
    VOLT_TRACE_OP("contiguous");
    if (!volt_check_not_null("contiguous", a, "a")) return NULL;
    if (volt_tensor_is_contiguous(a)) return volt_alias_with_grad(a, "contiguous");
    return volt_clone(a);
}

/* ----------------------------------------------------------- views */

/* A view of a with the given geometry that records `backward` when a
 * requires grad; *node (if not NULL) receives the node or NULL. */
static volt_tensor *make_view(const char *op, const volt_tensor *a, int ndim, const int64_t *shape,
                              const int64_t *strides, int64_t offset, volt_backward_fn backward,
                              volt_node **node) {
    if (node) *node = NULL;
    volt_tensor *out = volt_tensor_alias(a, ndim, shape, strides, offset);
    if (!out || !volt_autograd_should_record(1, &a)) return out;
    volt_node *n = volt_autograd_record(op, backward, out, 1, &a);
    if (!n) return NULL;
    if (node) *node = n;
    return out;
}

volt_tensor *volt_flatten(const volt_tensor *a, int start_dim, int end_dim) {
    if (!volt_check_not_null("flatten", a, "a")) return NULL;
    int s = volt_normalize_dim("flatten", a, start_dim);
    int e = s < 0 ? -1 : volt_normalize_dim("flatten", a, end_dim);
    if (s < 0 || e < 0) return NULL;
    if (a->ndim == 0) return reshape_impl("flatten", a, 1, (const int64_t[]){1}, true);
    if (s > e) {
        char ba[96];
        volt_error_set(VOLT_ERR_SHAPE, "flatten: start_dim %d comes after end_dim %d for %s",
                       start_dim, end_dim, volt_shape_str(a, ba, sizeof ba));
        return NULL;
    }
    int64_t shape[VOLT_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < s; d++) shape[n++] = a->shape[d];
    int64_t merged = 1;
    for (int d = s; d <= e; d++) merged *= a->shape[d];
    shape[n++] = merged;
    for (int d = e + 1; d < a->ndim; d++) shape[n++] = a->shape[d];
    return reshape_impl("flatten", a, n, shape, true);
}

static volt_status transpose_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    grads[0] = volt_transpose(g, (int)node->iargs[0], (int)node->iargs[1]);
    return grads[0] ? VOLT_OK : volt_error_status();
}

volt_tensor *volt_transpose(const volt_tensor *a, int dim0, int dim1) {
    if (!volt_check_not_null("transpose", a, "a")) return NULL;
    int d0 = volt_normalize_dim("transpose", a, dim0);
    int d1 = d0 < 0 ? -1 : volt_normalize_dim("transpose", a, dim1);
    if (d0 < 0 || d1 < 0) return NULL;
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    memcpy(strides, a->strides, sizeof strides);
    shape[d0] = a->shape[d1];
    shape[d1] = a->shape[d0];
    strides[d0] = a->strides[d1];
    strides[d1] = a->strides[d0];
    volt_node *node;
    volt_tensor *out =
        make_view("transpose", a, a->ndim, shape, strides, a->offset, transpose_backward, &node);
    if (node) {
        node->iargs[0] = d0;
        node->iargs[1] = d1;
    }
    return out;
}

/* iargs[i] = the input dim that output dim i comes from. */
static volt_status permute_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    int inverse[VOLT_MAX_DIMS];
    for (int d = 0; d < g->ndim; d++) inverse[node->iargs[d]] = d;
    grads[0] = volt_permute(g, g->ndim, inverse);
    return grads[0] ? VOLT_OK : volt_error_status();
}

volt_tensor *volt_permute(const volt_tensor *a, int ndim, const int *dims) {
    if (!volt_check_not_null("permute", a, "a")) return NULL;
    char ba[96];
    if (ndim != a->ndim || (ndim > 0 && !dims)) {
        volt_error_set(VOLT_ERR_SHAPE, "permute: %d dims given for %s (expected %d)", ndim,
                       volt_shape_str(a, ba, sizeof ba), a->ndim);
        return NULL;
    }
    bool seen[VOLT_MAX_DIMS] = {false};
    int perm[VOLT_MAX_DIMS];
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        int d = volt_normalize_dim("permute", a, dims[i]);
        if (d < 0) return NULL;
        if (seen[d]) {
            volt_error_set(VOLT_ERR_SHAPE, "permute: dimension %d appears twice for %s", dims[i],
                           volt_shape_str(a, ba, sizeof ba));
            return NULL;
        }
        seen[d] = true;
        perm[i] = d;
        shape[i] = a->shape[d];
        strides[i] = a->strides[d];
    }
    volt_node *node;
    volt_tensor *out =
        make_view("permute", a, ndim, shape, strides, a->offset, permute_backward, &node);
    if (node)
        for (int i = 0; i < ndim; i++) node->iargs[i] = perm[i];
    return out;
}

/* Removes the size-1 dims (`only`: just that one; -1: all of them). */
static volt_tensor *squeeze_impl(const char *op, const volt_tensor *a, int only) {
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] == 1 && (only < 0 || only == d)) continue;
        shape[n] = a->shape[d];
        strides[n++] = a->strides[d];
    }
    return make_view(op, a, n, shape, strides, a->offset, reshape_backward, NULL);
}

volt_tensor *volt_squeeze(const volt_tensor *a, int dim) {
    if (!volt_check_not_null("squeeze", a, "a")) return NULL;
    int d = volt_normalize_dim("squeeze", a, dim);
    if (d < 0) return NULL;
    return squeeze_impl("squeeze", a, d);
}

volt_tensor *volt_squeeze_all(const volt_tensor *a) {
    if (!volt_check_not_null("squeeze_all", a, "a")) return NULL;
    return squeeze_impl("squeeze_all", a, -1);
}

/* Normalises the position of a new dim, in [-ndim-1, ndim]; -1 on error. */
static int normalize_new_dim(const char *op, const volt_tensor *a, int dim) {
    char ba[96];
    int n = a->ndim + 1;
    if (a->ndim >= VOLT_MAX_DIMS) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: %s already has %d dimensions (at most %d)", op,
                       volt_shape_str(a, ba, sizeof ba), a->ndim, VOLT_MAX_DIMS);
        return -1;
    }
    if (dim < -n || dim >= n) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: dimension %d out of range for %s (expected %d..%d)", op,
                       dim, volt_shape_str(a, ba, sizeof ba), -n, n - 1);
        return -1;
    }
    return dim < 0 ? dim + n : dim;
}

static volt_tensor *unsqueeze_at(const char *op, const volt_tensor *a, int d) {
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    for (int i = 0, j = 0; i <= a->ndim; i++) {
        if (i == d) {
            shape[i] = 1;
            strides[i] = d < a->ndim ? a->shape[d] * a->strides[d] : 1;
            continue;
        }
        shape[i] = a->shape[j];
        strides[i] = a->strides[j++];
    }
    return make_view(op, a, a->ndim + 1, shape, strides, a->offset, reshape_backward, NULL);
}

volt_tensor *volt_unsqueeze(const volt_tensor *a, int dim) {
    if (!volt_check_not_null("unsqueeze", a, "a")) return NULL;
    int d = normalize_new_dim("unsqueeze", a, dim);
    return d < 0 ? NULL : unsqueeze_at("unsqueeze", a, d);
}

/* ------------------------------------------------ narrow, slice, split */

/* The gradient of a slice: zeros of the input's shape with g copied into
 * elements start, start + step, ... along dim (iargs: dim, start, step). */
static volt_status slice_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const volt_node_input *in = &node->inputs[0];
    int d = (int)node->iargs[0];
    volt_tensor *z = volt_tensor_new(g->dtype, g->device, in->ndim, in->shape);
    if (!z || !zero_fill("slice", z)) return volt_error_status();
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    memcpy(shape, z->shape, sizeof shape);
    memcpy(strides, z->strides, sizeof strides);
    shape[d] = g->shape[d];
    strides[d] *= node->iargs[2];
    volt_tensor *part =
        volt_tensor_alias(z, in->ndim, shape, strides, z->offset + node->iargs[1] * z->strides[d]);
    bool copied = part && copy_into("slice", part, g);
    volt_tensor_free(part);
    if (!copied) return volt_error_status();
    grads[0] = z;
    return VOLT_OK;
}

/* a[start : start + step * length : step] along dim d (validated). */
static volt_tensor *slice_view(const char *op, const volt_tensor *a, int d, int64_t start,
                               int64_t length, int64_t step) {
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    memcpy(strides, a->strides, sizeof strides);
    shape[d] = length;
    strides[d] *= step;
    volt_node *node;
    volt_tensor *out = make_view(op, a, a->ndim, shape, strides, a->offset + start * a->strides[d],
                                 slice_backward, &node);
    if (node) {
        node->iargs[0] = d;
        node->iargs[1] = start;
        node->iargs[2] = step;
    }
    return out;
}

/* Normalises dim for ops that need at least one dimension; -1 on error. */
static int dim_of_nonscalar(const char *op, const volt_tensor *a, int dim) {
    if (a->ndim == 0) {
        char ba[96];
        volt_error_set(VOLT_ERR_SHAPE, "%s: cannot be applied to a 0-d tensor %s", op,
                       volt_shape_str(a, ba, sizeof ba));
        return -1;
    }
    return volt_normalize_dim(op, a, dim);
}

volt_tensor *volt_narrow(const volt_tensor *a, int dim, int64_t start, int64_t length) {
    if (!volt_check_not_null("narrow", a, "a")) return NULL;
    int d = dim_of_nonscalar("narrow", a, dim);
    if (d < 0) return NULL;
    int64_t size = a->shape[d];
    int64_t s = start < 0 ? start + size : start;
    if (s < 0 || s > size || length < 0 || length > size - s) {
        char ba[96];
        volt_error_set(VOLT_ERR_SHAPE,
                       "narrow: start %lld and length %lld are out of range for dimension %d of "
                       "%s (size %lld)",
                       (long long)start, (long long)length, dim, volt_shape_str(a, ba, sizeof ba),
                       (long long)size);
        return NULL;
    }
    return slice_view("narrow", a, d, s, length, 1);
}

/* A Python slice bound: negative counts from the end, then clamped. */
static int64_t clamp_bound(int64_t i, int64_t size) {
    if (i < 0) i += size;
    return i < 0 ? 0 : i > size ? size : i;
}

volt_tensor *volt_slice(const volt_tensor *a, int dim, int64_t start, int64_t end, int64_t step) {
    if (!volt_check_not_null("slice", a, "a")) return NULL;
    int d = dim_of_nonscalar("slice", a, dim);
    if (d < 0) return NULL;
    if (step < 1) {
        char ba[96];
        volt_error_set(VOLT_ERR_SHAPE, "slice: step %lld must be at least 1 (dimension %d of %s)",
                       (long long)step, dim, volt_shape_str(a, ba, sizeof ba));
        return NULL;
    }
    int64_t s = clamp_bound(start, a->shape[d]), e = clamp_bound(end, a->shape[d]);
    int64_t length = e > s ? (e - s - 1) / step + 1 : 0;
    return slice_view("slice", a, d, s, length, step);
}

/* `count` views of split_size elements along d (the last ones shorter or
 * empty) into out[0..count). */
static int split_pieces(const char *op, const volt_tensor *a, int d, int64_t split_size,
                        int64_t count, volt_tensor **out, int max_out) {
    if (!out || count > max_out) {
        char ba[96];
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: %s splits into %lld pieces along dimension %d, more than max_out %d",
                       op, volt_shape_str(a, ba, sizeof ba), (long long)count, d,
                       out ? max_out : 0);
        return -1;
    }
    int64_t size = a->shape[d];
    for (int64_t i = 0; i < count; i++) {
        int64_t start = i * split_size < size ? i * split_size : size;
        int64_t length = size - start < split_size ? size - start : split_size;
        out[i] = slice_view(op, a, d, start, length, 1);
        if (!out[i]) return -1;
    }
    return (int)count;
}

int volt_split(const volt_tensor *a, int64_t split_size, int dim, volt_tensor **out, int max_out) {
    if (!volt_check_not_null("split", a, "a")) return -1;
    int d = dim_of_nonscalar("split", a, dim);
    if (d < 0) return -1;
    int64_t size = a->shape[d];
    if (split_size < 0 || (split_size == 0 && size > 0)) {
        char ba[96];
        volt_error_set(
            VOLT_ERR_SHAPE, "split: split_size %lld is invalid for dimension %d of %s (size %lld)",
            (long long)split_size, dim, volt_shape_str(a, ba, sizeof ba), (long long)size);
        return -1;
    }
    int64_t count = size == 0 ? 1 : (size + split_size - 1) / split_size;
    return split_pieces("split", a, d, split_size, count, out, max_out);
}

int volt_chunk(const volt_tensor *a, int chunks, int dim, volt_tensor **out, int max_out) {
    if (!volt_check_not_null("chunk", a, "a")) return -1;
    int d = dim_of_nonscalar("chunk", a, dim);
    if (d < 0) return -1;
    if (chunks < 1) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "chunk: chunks must be at least 1, got %d",
                       chunks);
        return -1;
    }
    int64_t size = a->shape[d];
    /* An empty dim gives `chunks` empty pieces, like PyTorch. */
    if (size == 0) return split_pieces("chunk", a, d, 0, chunks, out, max_out);
    int64_t split_size = (size + chunks - 1) / chunks;
    return split_pieces("chunk", a, d, split_size, (size + split_size - 1) / split_size, out,
                        max_out);
}

/* ------------------------------------------------------- cat, stack */

/* PyTorch's legacy rule: 1-D empty tensors are skipped whatever the shapes
 * of the others. */
static bool cat_skipped(const volt_tensor *t) { return t->ndim == 1 && t->shape[0] == 0; }

/* iargs[0] = dim; each input's gradient is its slice of g. */
static volt_status cat_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    int d = (int)node->iargs[0];
    int64_t offset = 0;
    for (int i = 0; i < node->n_inputs; i++) {
        const volt_node_input *in = &node->inputs[i];
        if (in->ndim != g->ndim) continue; /* a skipped empty tensor */
        if (in->needs) {
            grads[i] = volt_narrow(g, d, offset, in->shape[d]);
            if (!grads[i]) return volt_error_status();
        }
        offset += in->shape[d];
    }
    return VOLT_OK;
}

/* Checks the inputs of cat (entry `ref` is the first one not skipped) and
 * computes the output shape and dtype. */
static bool cat_check(const char *op, int n, volt_tensor *const *ts, int ref, int d, int64_t *shape,
                      volt_dtype *dtype) {
    const volt_tensor *r = ts[ref];
    char ba[96], bb[96];
    memcpy(shape, r->shape, sizeof r->shape);
    shape[d] = 0;
    volt_tensor probe = {.ndim = 1, .dtype = ts[0]->dtype};
    for (int i = 0; i < n; i++) {
        const volt_tensor *t = ts[i];
        probe.dtype = volt_promote_types(&probe, t);
        if (cat_skipped(t)) continue;
        if (t->ndim != r->ndim) {
            volt_error_set(VOLT_ERR_SHAPE,
                           "%s: %s (tensor %d) and %s (tensor %d) have different numbers of "
                           "dimensions",
                           op, volt_shape_only(r, ba, sizeof ba), ref,
                           volt_shape_only(t, bb, sizeof bb), i);
            return false;
        }
        for (int k = 0; k < r->ndim; k++) {
            if (k == d || t->shape[k] == r->shape[k]) continue;
            volt_error_set(VOLT_ERR_SHAPE,
                           "%s: sizes must match except in dimension %d: %s (tensor %d) and %s "
                           "(tensor %d) differ in dimension %d",
                           op, d, volt_shape_only(r, ba, sizeof ba), ref,
                           volt_shape_only(t, bb, sizeof bb), i, k);
            return false;
        }
        shape[d] += t->shape[d];
    }
    *dtype = probe.dtype;
    return true;
}

static volt_tensor *cat_impl(const char *op, int n, volt_tensor *const *ts, int dim) {
    VOLT_TRACE_OP(op);
    if (n < 1 || !ts) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: expected at least one tensor, got %d", op,
                       ts ? n : 0);
        return NULL;
    }
    int ref = -1;
    for (int i = 0; i < n; i++) {
        char ba[96];
        if (!ts[i]) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: tensor %d is NULL", op, i);
            return NULL;
        }
        if (!volt_check_same_device(op, ts[0], ts[i])) return NULL;
        if (ts[i]->ndim == 0) {
            volt_error_set(VOLT_ERR_SHAPE, "%s: tensor %d (%s) is 0-d and cannot be concatenated",
                           op, i, volt_shape_str(ts[i], ba, sizeof ba));
            return NULL;
        }
        if (ref < 0 && !cat_skipped(ts[i])) ref = i;
    }
    if (ref < 0) ref = 0;
    const volt_tensor *r = ts[ref];
    int d = volt_normalize_dim(op, r, dim);
    int64_t shape[VOLT_MAX_DIMS];
    volt_dtype dtype;
    if (d < 0 || !cat_check(op, n, ts, ref, d, shape, &dtype)) return NULL;
    volt_tensor *out = volt_tensor_new(dtype, r->device, r->ndim, shape);
    if (!out) return NULL;
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const volt_tensor *t = ts[i];
        if (cat_skipped(t) && r->ndim != 1) continue;
        volt_tensor *part = volt_tensor_alias(out, t->ndim, t->shape, out->strides,
                                              out->offset + offset * out->strides[d]);
        bool copied = part && copy_into(op, part, t);
        volt_tensor_free(part);
        if (!copied) return NULL;
        offset += t->shape[d];
    }
    const volt_tensor *const *inputs = (const volt_tensor *const *)ts;
    if (volt_autograd_should_record(n, inputs)) {
        volt_node *node = volt_autograd_record(op, cat_backward, out, n, inputs);
        if (!node) return NULL;
        node->iargs[0] = d;
    }
    return out;
}

volt_tensor *volt_cat(int n, volt_tensor *const *tensors, int dim) {
    return cat_impl("cat", n, tensors, dim);
}

volt_tensor *volt_stack(int n, volt_tensor *const *tensors, int dim) {
    if (n < 1 || !tensors) return cat_impl("stack", n, tensors, dim); /* its error */
    for (int i = 0; i < n; i++) {
        if (!tensors[i]) return cat_impl("stack", n, tensors, dim);
        bool same = tensors[i]->ndim == tensors[0]->ndim;
        for (int k = 0; same && k < tensors[0]->ndim; k++)
            same = tensors[i]->shape[k] == tensors[0]->shape[k];
        if (!same) {
            char ba[96], bb[96];
            volt_error_set(VOLT_ERR_SHAPE,
                           "stack: expects tensors of equal shape, got %s (tensor 0) and %s "
                           "(tensor %d)",
                           volt_shape_only(tensors[0], ba, sizeof ba),
                           volt_shape_only(tensors[i], bb, sizeof bb), i);
            return NULL;
        }
    }
    int d = normalize_new_dim("stack", tensors[0], dim);
    if (d < 0) return NULL;
    volt_tensor **views = calloc((size_t)n, sizeof *views);
    if (!views) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "stack: out of memory");
        return NULL;
    }
    volt_tensor *out = NULL;
    int made = 0;
    while (made < n && (views[made] = unsqueeze_at("stack", tensors[made], d))) made++;
    if (made == n) out = cat_impl("stack", n, views, d);
    for (int i = 0; i < made; i++) volt_tensor_free(views[i]);
    free(views);
    return out;
}

/* ----------------------------------------------------------- repeat */

/* g [r0 s0, r1 s1, ...] summed over the tiles, one repeated dim at a time:
 * viewed as [outer, r, s, inner] and summed over r (iargs: repeats). */
static volt_status repeat_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const volt_node_input *in = &node->inputs[0];
    int nd = g->ndim, pad = nd - in->ndim;
    int64_t cur[VOLT_MAX_DIMS];
    memcpy(cur, g->shape, sizeof cur);
    for (int d = 0; d < nd && g; d++) {
        int64_t r = node->iargs[d], s = d < pad ? 1 : in->shape[d - pad];
        if (r == 1) continue;
        int64_t outer = 1, inner = 1;
        for (int k = 0; k < d; k++) outer *= cur[k];
        for (int k = d + 1; k < nd; k++) inner *= cur[k];
        g = volt_sum(volt_reshape(g, VOLT_SHAPE(outer, r, s, inner)), VOLT_DIMS(1), false);
        cur[d] = s;
    }
    grads[0] = volt_reshape(g, in->ndim, in->shape);
    return grads[0] ? VOLT_OK : volt_error_status();
}

/* x (contiguous, [..., s, ...]) tiled r times along d into a new tensor. */
static volt_tensor *tile_dim(volt_tensor *x, int d, int64_t r) {
    int64_t outer = 1, inner = 1, s = x->shape[d], shape[VOLT_MAX_DIMS];
    for (int k = 0; k < d; k++) outer *= x->shape[k];
    for (int k = d + 1; k < x->ndim; k++) inner *= x->shape[k];
    volt_tensor *src = volt_tensor_alias(x, VOLT_SHAPE(outer, 1, s, inner), NULL, x->offset);
    volt_tensor *tiled = volt_tensor_new(x->dtype, x->device, VOLT_SHAPE(outer, r, s, inner));
    bool copied = src && tiled && copy_into("repeat", tiled, src); /* src broadcast along r */
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = r * s;
    volt_tensor *out = copied ? volt_tensor_alias(tiled, x->ndim, shape, NULL, 0) : NULL;
    volt_tensor_free(src);
    volt_tensor_free(tiled);
    return out;
}

volt_tensor *volt_repeat(const volt_tensor *a, int ndim, const int64_t *repeats) {
    if (!volt_check_not_null("repeat", a, "a")) return NULL;
    char ba[96];
    if (ndim < a->ndim || ndim > VOLT_MAX_DIMS || (ndim > 0 && !repeats)) {
        volt_error_set(VOLT_ERR_SHAPE, "repeat: %d repeats for %s (expected %d to %d)", ndim,
                       volt_shape_str(a, ba, sizeof ba), a->ndim, VOLT_MAX_DIMS);
        return NULL;
    }
    int pad = ndim - a->ndim;
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    bool tiles = false;
    for (int d = 0; d < ndim; d++) {
        if (repeats[d] < 0) {
            volt_error_set(VOLT_ERR_SHAPE, "repeat: negative repeat %lld in dimension %d for %s",
                           (long long)repeats[d], d, volt_shape_str(a, ba, sizeof ba));
            return NULL;
        }
        tiles = tiles || repeats[d] != 1;
        shape[d] = d < pad ? 1 : a->shape[d - pad];
        strides[d] = d < pad ? 0 : a->strides[d - pad];
    }
    /* The first tiling reads a padded view of a directly when it is
     * contiguous; otherwise (or with nothing to tile) a is copied first. */
    volt_tensor *x = volt_tensor_alias(a, ndim, shape, strides, a->offset);
    if (x && (!tiles || !volt_tensor_is_contiguous(x))) {
        volt_tensor *copy = volt_tensor_new(a->dtype, a->device, ndim, shape);
        if (copy && !copy_into("repeat", copy, x)) {
            volt_tensor_free(copy);
            copy = NULL;
        }
        volt_tensor_free(x);
        x = copy;
    }
    for (int d = 0; d < ndim && x; d++) {
        if (repeats[d] == 1) continue;
        volt_tensor *next = tile_dim(x, d, repeats[d]);
        volt_tensor_free(x);
        x = next;
    }
    if (x && volt_autograd_should_record(1, &a)) {
        volt_node *node = volt_autograd_record("repeat", repeat_backward, x, 1, &a);
        if (!node) return NULL;
        for (int d = 0; d < ndim; d++) node->iargs[d] = repeats[d];
    }
    return x;
}
