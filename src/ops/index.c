/* index.c: index ops and their gradients — index_select, gather,
 * scatter_add, masked_fill (and in place), one_hot, tril and triu. Index
 * tensors are i64 (i32 accepted), checked in range before any work.
 * Kernels: ops/cpu/index.c. On CUDA (ops/cuda/index.c): the same ops, with
 * indices not range-checked on the host (that would wait for the device:
 * an out-of-range index reads NaN, or 0 for integers, and scatters
 * nothing) and scatter_add (and so the gathers' gradients) summed with
 * atomics; masked_fill through where; one_hot through the CPU (it must
 * read the indices). bf16 on the CPU (precision "bf16-true"): scatter_add
 * and the gathers' gradients sum in f32 and round to bf16 once. */
#include <string.h>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/index.h"
#include "ops/cuda/cuda_index.h"
#include "ops/cuda/cuda_ops.h"

static bool on_cuda(const volt_tensor *t) { return t->device.type == VOLT_CUDA; }

/* The index as a contiguous i64 tensor (index itself when it already is
 * one), or NULL with a dtype error. */
static const volt_tensor *index_as_i64(const char *op, const volt_tensor *index) {
    if (index->dtype != VOLT_I64 && index->dtype != VOLT_I32) {
        char bi[96];
        volt_error_set(VOLT_ERR_DTYPE, "%s: index must be i64 or i32, got %s", op,
                       volt_shape_str(index, bi, sizeof bi));
        return NULL;
    }
    if (index->dtype == VOLT_I64 && volt_tensor_is_contiguous(index)) return index;
    volt_tensor *c = volt_tensor_new(VOLT_I64, index->device, index->ndim, index->shape);
    if (c && on_cuda(index)) {
        if (volt_cuda_copy(op, c, index) == VOLT_OK) return c;
        volt_tensor_free(c);
        return NULL;
    }
    if (c) volt_cpu_copy(c, index);
    return c;
}

/* Refuses any index outside [0, size) of dimension dim. */
static bool check_in_range(const char *op, const volt_tensor *idx, int dim, int64_t size) {
    int64_t bad;
    if (on_cuda(idx)) return true; /* not read on the host (see above) */
    if (volt_cpu_index_in_range(volt_tensor_data(idx), volt_tensor_numel(idx), size, &bad))
        return true;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                   "%s: index %lld is out of range for dimension %d with size %lld", op,
                   (long long)bad, dim, (long long)size);
    return false;
}

/* Checks that a and index exist, share a supported device, and that a has
 * at least one dimension; returns dim normalised, or -1. */
static int check_indexed(const char *op, const volt_tensor *a, const volt_tensor *index, int dim) {
    if (!volt_check_not_null(op, a, "a") || !volt_check_not_null(op, index, "index")) return -1;
    if ((!on_cuda(a) && !volt_check_device_supported(op, a)) ||
        !volt_check_same_device(op, a, index))
        return -1;
    if (a->ndim == 0) {
        char ba[96];
        volt_error_set(VOLT_ERR_SHAPE, "%s: cannot index a 0-d tensor %s (reshape it to [1])", op,
                       volt_shape_str(a, ba, sizeof ba));
        return -1;
    }
    return volt_normalize_dim(op, a, dim);
}

/* Index strides for index_select: the one index along dim. */
static void select_strides(int ndim, int dim, int64_t *strides) {
    for (int d = 0; d < ndim; d++) strides[d] = d == dim ? 1 : 0;
}

/* scatter_into_zeros on CUDA: bf16 and f16 summed in an f32 scratch. */
static volt_tensor *scatter_into_zeros_cuda(const volt_node_input *in, const volt_tensor *g,
                                            int dim, const volt_tensor *idx,
                                            const int64_t *idx_strides) {
    const char *op = "backward";
    bool narrow = volt_dtype_is_16bit(g->dtype);
    volt_tensor *z = volt_tensor_new(g->dtype, g->device, in->ndim, in->shape);
    volt_tensor *acc = narrow ? volt_tensor_new(VOLT_F32, g->device, in->ndim, in->shape) : z;
    volt_tensor *src =
        narrow ? volt_tensor_new(VOLT_F32, g->device, g->ndim, g->shape) : (volt_tensor *)g;
    volt_status st = z && acc && src ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK && narrow) st = volt_cuda_copy(op, src, g);
    if (st == VOLT_OK) st = volt_cuda_fill(op, acc, 0.0);
    if (st == VOLT_OK)
        st = volt_cuda_scatter_add(op, acc, dim, idx, idx_strides, src, g->ndim, g->shape);
    if (st == VOLT_OK && narrow) st = volt_cuda_copy(op, z, acc);
    if (narrow) volt_tensor_free(acc), volt_tensor_free(src);
    if (st == VOLT_OK) return z;
    volt_tensor_free(z);
    return NULL;
}

/* zeros(shape) with g added at idx along dim (the gradient of the gathers);
 * bf16 summed in f32 and rounded once. */
static volt_tensor *scatter_into_zeros(const volt_node_input *in, const volt_tensor *g, int dim,
                                       const volt_tensor *idx, const int64_t *idx_strides) {
    if (on_cuda(g)) return scatter_into_zeros_cuda(in, g, dim, idx, idx_strides);
    bool narrow = g->dtype == VOLT_BF16;
    volt_tensor *src = narrow ? volt_bf16_convert(g, VOLT_F32) : (volt_tensor *)g;
    if (!src) return NULL;
    volt_tensor *z = volt_tensor_new(src->dtype, g->device, in->ndim, in->shape);
    bool ok = z != NULL;
    if (ok) {
        volt_cpu_fill(z, 0.0);
        ok = volt_cpu_scatter_add(z, dim, volt_tensor_data(idx), idx_strides, src, g->ndim,
                                  g->shape) == VOLT_OK;
        if (!ok)
            volt_error_set(VOLT_ERR_DTYPE, "backward: no scatter_add kernel for %s",
                           volt_dtype_name(g->dtype));
    }
    if (narrow) volt_tensor_free(src);
    if (!ok) {
        volt_tensor_free(z);
        return NULL;
    }
    if (!narrow) return z;
    volt_tensor *rounded = volt_bf16_convert(z, VOLT_BF16);
    volt_tensor_free(z);
    return rounded;
}

/* volt_cpu_gather, or its CUDA kernel; frees out on failure. */
static bool run_gather(const char *op, volt_tensor *out, const volt_tensor *a, int dim,
                       const volt_tensor *idx, const int64_t *idx_strides) {
    if (!on_cuda(a)) {
        volt_cpu_gather(out, a, dim, volt_tensor_data(idx), idx_strides);
        return true;
    }
    if (volt_cuda_gather(op, out, a, dim, idx, idx_strides) == VOLT_OK) return true;
    volt_tensor_free(out);
    return false;
}

/* ------------------------------------------------------- index_select */

/* iargs[0] = dim; saved: the i64 index. */
static volt_status index_select_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    int dim = (int)node->iargs[0];
    int64_t strides[VOLT_MAX_DIMS];
    select_strides(g->ndim, dim, strides);
    grads[0] = scatter_into_zeros(&node->inputs[0], g, dim, volt_node_saved(node, 0), strides);
    return grads[0] ? VOLT_OK : volt_error_status();
}

volt_tensor *volt_index_select(const volt_tensor *a, int dim, const volt_tensor *index) {
    const char *op = "index_select";
    int d = check_indexed(op, a, index, dim);
    if (d < 0) return NULL;
    if (index->ndim > 1) {
        char bi[96];
        volt_error_set(VOLT_ERR_SHAPE, "index_select: index must be 0-d or 1-D, got %s",
                       volt_shape_str(index, bi, sizeof bi));
        return NULL;
    }
    const volt_tensor *idx = index_as_i64(op, index);
    if (!idx || !check_in_range(op, idx, d, a->shape[d])) return NULL;
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    for (int k = 0; k < a->ndim; k++) shape[k] = k == d ? volt_tensor_numel(idx) : a->shape[k];
    volt_tensor *out = volt_tensor_new(a->dtype, a->device, a->ndim, shape);
    if (!out) return NULL;
    select_strides(a->ndim, d, strides);
    if (!run_gather(op, out, a, d, idx, strides)) return NULL;
    if (volt_autograd_should_record(1, &a)) {
        volt_node *node = volt_autograd_record(op, index_select_backward, out, 1, &a);
        if (!node) return NULL;
        node->iargs[0] = d;
        volt_node_save(node, idx);
    }
    return out;
}

/* ------------------------------------------------------------- gather */

/* Checks index [same ndim as a, no larger than ref outside dim (and than
 * a on every dim when `within_all`)]. */
static bool check_index_shape(const char *op, const volt_tensor *index, const volt_tensor *ref,
                              const char *ref_name, int dim, bool within_all) {
    char bi[96], br[96];
    if (index->ndim != ref->ndim) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: index %s must have as many dimensions as %s %s", op,
                       volt_shape_str(index, bi, sizeof bi), ref_name,
                       volt_shape_str(ref, br, sizeof br));
        return false;
    }
    for (int k = 0; k < ref->ndim; k++) {
        if ((k == dim && !within_all) || index->shape[k] <= ref->shape[k]) continue;
        volt_error_set(VOLT_ERR_SHAPE, "%s: index %s is larger than %s %s in dimension %d", op,
                       volt_shape_str(index, bi, sizeof bi), ref_name,
                       volt_shape_str(ref, br, sizeof br), k);
        return false;
    }
    return true;
}

/* iargs[0] = dim; saved: the i64 index (contiguous, out's shape). */
static volt_status gather_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const volt_tensor *idx = volt_node_saved(node, 0);
    grads[0] = scatter_into_zeros(&node->inputs[0], g, (int)node->iargs[0], idx, idx->strides);
    return grads[0] ? VOLT_OK : volt_error_status();
}

volt_tensor *volt_gather(const volt_tensor *a, int dim, const volt_tensor *index) {
    const char *op = "gather";
    int d = check_indexed(op, a, index, dim);
    if (d < 0 || !check_index_shape(op, index, a, "a", d, false)) return NULL;
    const volt_tensor *idx = index_as_i64(op, index);
    if (!idx || !check_in_range(op, idx, d, a->shape[d])) return NULL;
    volt_tensor *out = volt_tensor_new(a->dtype, a->device, idx->ndim, idx->shape);
    if (!out) return NULL;
    if (!run_gather(op, out, a, d, idx, idx->strides)) return NULL;
    if (volt_autograd_should_record(1, &a)) {
        volt_node *node = volt_autograd_record(op, gather_backward, out, 1, &a);
        if (!node) return NULL;
        node->iargs[0] = d;
        volt_node_save(node, idx);
    }
    return out;
}

/* -------------------------------------------------------- scatter_add */

/* scatter_add's src gradient on CUDA: g gathered at idx into a contiguous
 * tensor of idx's shape, copied into the zeroed gs. */
static volt_status scatter_add_src_grad_cuda(volt_tensor *gs, const volt_tensor *g, int dim,
                                             const volt_tensor *idx, volt_tensor **grads) {
    const char *op = "backward";
    volt_status st = VOLT_OK;
    if (volt_tensor_numel(gs) == volt_tensor_numel(idx)) {
        st = volt_cuda_gather(op, gs, g, dim, idx, idx->strides);
    } else {
        volt_tensor *part = volt_tensor_new(g->dtype, g->device, idx->ndim, idx->shape);
        volt_tensor *view =
            part ? volt_tensor_alias(gs, idx->ndim, idx->shape, gs->strides, gs->offset) : NULL;
        st = part && view ? volt_cuda_fill(op, gs, 0.0) : volt_error_status();
        if (st == VOLT_OK) st = volt_cuda_gather(op, part, g, dim, idx, idx->strides);
        if (st == VOLT_OK) st = volt_cuda_copy(op, view, part);
        volt_tensor_free(part);
        volt_tensor_free(view);
    }
    if (st != VOLT_OK) return st;
    grads[1] = gs;
    return VOLT_OK;
}

/* a: identity; src: g gathered at index, zero where index does not reach
 * (iargs[0] = dim; saved: the i64 index). */
static volt_status scatter_add_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    if (node->inputs[0].needs) grads[0] = g;
    if (!node->inputs[1].needs) return VOLT_OK;
    const volt_node_input *in = &node->inputs[1];
    const volt_tensor *idx = volt_node_saved(node, 0);
    volt_tensor *gs = volt_tensor_new(g->dtype, g->device, in->ndim, in->shape);
    if (!gs) return volt_error_status();
    if (on_cuda(g)) return scatter_add_src_grad_cuda(gs, g, (int)node->iargs[0], idx, grads);
    if (volt_tensor_numel(gs) != volt_tensor_numel(idx)) volt_cpu_fill(gs, 0.0);
    volt_tensor *part = volt_tensor_alias(gs, idx->ndim, idx->shape, gs->strides, gs->offset);
    if (!part) return volt_error_status();
    volt_cpu_gather(part, g, (int)node->iargs[0], volt_tensor_data(idx), idx->strides);
    volt_tensor_free(part);
    grads[1] = gs;
    return VOLT_OK;
}

volt_tensor *volt_scatter_add(const volt_tensor *a, int dim, const volt_tensor *index,
                              const volt_tensor *src) {
    const char *op = "scatter_add";
    int d = check_indexed(op, a, index, dim);
    if (d < 0 || !volt_check_not_null(op, src, "src") || !volt_check_same_device(op, a, src))
        return NULL;
    char ba[96], bs[96];
    if (a->dtype != src->dtype) {
        volt_error_set(VOLT_ERR_DTYPE, "scatter_add: a %s and src %s must have the same dtype",
                       volt_shape_str(a, ba, sizeof ba), volt_shape_str(src, bs, sizeof bs));
        return NULL;
    }
    VOLT_BF16_VIA_F32_N(a, 2, ((const volt_tensor *const[]){a, src}), o,
                        volt_scatter_add(o.w[0], dim, index, o.w[1]))
    if (volt_dtype_is_16bit(a->dtype) || a->dtype == VOLT_BOOL) {
        volt_error_set(VOLT_ERR_DTYPE,
                       "scatter_add: %s is not supported (f32, f64, i64, i32 and u8 are; "
                       "bf16 on the CPU)",
                       volt_shape_str(a, ba, sizeof ba));
        return NULL;
    }
    if (!check_index_shape(op, index, a, "a", d, false) ||
        !check_index_shape(op, index, src, "src", d, true))
        return NULL;
    const volt_tensor *idx = index_as_i64(op, index);
    if (!idx || !check_in_range(op, idx, d, a->shape[d])) return NULL;
    volt_tensor *out = volt_tensor_new(a->dtype, a->device, a->ndim, a->shape);
    if (!out) return NULL;
    if (on_cuda(a)) {
        if (volt_cuda_copy(op, out, a) != VOLT_OK ||
            volt_cuda_scatter_add(op, out, d, idx, idx->strides, src, idx->ndim, idx->shape) !=
                VOLT_OK) {
            volt_tensor_free(out);
            return NULL;
        }
    } else {
        volt_cpu_copy(out, a);
        volt_cpu_scatter_add(out, d, volt_tensor_data(idx), idx->strides, src, idx->ndim,
                             idx->shape);
    }
    const volt_tensor *inputs[2] = {a, src};
    if (volt_autograd_should_record(2, inputs)) {
        volt_node *node = volt_autograd_record(op, scatter_add_backward, out, 2, inputs);
        if (!node) return NULL;
        node->iargs[0] = d;
        volt_node_save(node, idx);
    }
    return out;
}

/* -------------------------------------------------------- masked_fill */

/* Checks mask (bool, broadcastable to a's shape) and converts value to one
 * element of a's dtype in `bytes`. */
static bool check_mask(const char *op, const volt_tensor *a, const volt_tensor *mask, double value,
                       char bytes[8]) {
    if (!volt_check_not_null(op, a, "a") || !volt_check_not_null(op, mask, "mask")) return false;
    if ((!on_cuda(a) && !volt_check_device_supported(op, a)) ||
        !volt_check_same_device(op, a, mask))
        return false;
    char ba[96], bm[96];
    if (mask->dtype != VOLT_BOOL) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: mask must be bool, got %s", op,
                       volt_shape_str(mask, bm, sizeof bm));
        return false;
    }
    bool fits = mask->ndim <= a->ndim;
    for (int k = 1; fits && k <= mask->ndim; k++) {
        int64_t m = mask->shape[mask->ndim - k];
        fits = m == 1 || m == a->shape[a->ndim - k];
    }
    if (!fits) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: mask %s cannot be broadcast to %s", op,
                       volt_shape_only(mask, bm, sizeof bm), volt_shape_only(a, ba, sizeof ba));
        return false;
    }
    volt_tensor *v = volt_scalar(value, a->dtype);
    if (!v) return false;
    memcpy(bytes, volt_tensor_data(v), volt_dtype_size(a->dtype));
    volt_tensor_free(v);
    return true;
}

/* out = mask ? value : a on CUDA (out may be a): where with value as a 0-d
 * tensor of a's dtype on the device. */
static volt_status masked_fill_cuda(const char *op, volt_tensor *out, const volt_tensor *a,
                                    const volt_tensor *mask, double value) {
    volt_tensor *v = volt_tensor_new(a->dtype, a->device, 0, NULL);
    volt_status st = v ? volt_cuda_fill(op, v, value) : volt_error_status();
    if (st == VOLT_OK) st = volt_cuda_where(out, mask, v, a);
    volt_tensor_free(v);
    return st;
}

/* saved: the mask; the filled elements get no gradient. */
static volt_status masked_fill_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    grads[0] = volt_masked_fill(g, volt_node_saved(node, 0), 0.0);
    return grads[0] ? VOLT_OK : volt_error_status();
}

volt_tensor *volt_masked_fill(const volt_tensor *a, const volt_tensor *mask, double value) {
    char bytes[8];
    if (!check_mask("masked_fill", a, mask, value, bytes)) return NULL;
    volt_tensor *out = volt_tensor_new(a->dtype, a->device, a->ndim, a->shape);
    if (!out) return NULL;
    if (!on_cuda(a)) {
        volt_cpu_masked_fill(out, a, mask, bytes);
    } else if (masked_fill_cuda("masked_fill", out, a, mask, value) != VOLT_OK) {
        volt_tensor_free(out);
        return NULL;
    }
    if (volt_autograd_should_record(1, &a)) {
        volt_node *node = volt_autograd_record("masked_fill", masked_fill_backward, out, 1, &a);
        if (!node) return NULL;
        volt_node_save(node, mask);
    }
    return out;
}

volt_tensor *volt_masked_fill_(volt_tensor *self, const volt_tensor *mask, double value) {
    char bytes[8];
    if (!volt_check_not_null("masked_fill_", self, "self")) return NULL;
    if (!volt_check_inplace("masked_fill_", self) ||
        !check_mask("masked_fill_", self, mask, value, bytes))
        return NULL;
    if (!on_cuda(self))
        volt_cpu_masked_fill(self, self, mask, bytes);
    else if (masked_fill_cuda("masked_fill_", self, self, mask, value) != VOLT_OK)
        return NULL;
    volt_storage_bump_version(self->storage);
    return self;
}

/* ------------------------------------------------------------ one_hot */

/* On CUDA: the indices read on the host (their values decide the shape and
 * the errors, so this waits for the device), the result copied back. */
static volt_tensor *one_hot_cuda(const volt_tensor *index, int64_t num_classes) {
    if (volt_device_check(index->device) != VOLT_OK) return NULL;
    volt_tensor *host = volt_to_device(index, (volt_device){VOLT_CPU, 0});
    volt_tensor *cpu = host ? volt_one_hot(host, num_classes) : NULL;
    volt_tensor *out = cpu ? volt_to_device(cpu, index->device) : NULL;
    volt_tensor_free(host);
    volt_tensor_free(cpu);
    return out;
}

volt_tensor *volt_one_hot(const volt_tensor *index, int64_t num_classes) {
    const char *op = "one_hot";
    if (!volt_check_not_null(op, index, "index")) return NULL;
    if (on_cuda(index)) return one_hot_cuda(index, num_classes);
    if (!volt_check_device_supported(op, index)) return NULL;
    char bi[96];
    if (index->ndim >= VOLT_MAX_DIMS) {
        volt_error_set(VOLT_ERR_SHAPE, "one_hot: %s has too many dimensions (at most %d)",
                       volt_shape_str(index, bi, sizeof bi), VOLT_MAX_DIMS - 1);
        return NULL;
    }
    const volt_tensor *idx = index_as_i64(op, index);
    if (!idx) return NULL;
    const int64_t *p = volt_tensor_data(idx);
    int64_t n = volt_tensor_numel(idx), max = -1;
    for (int64_t i = 0; i < n; i++) {
        if (p[i] < 0) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "one_hot: class index %lld is negative",
                           (long long)p[i]);
            return NULL;
        }
        if (p[i] > max) max = p[i];
    }
    if (num_classes < 0) {
        if (n == 0) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "one_hot: cannot infer the number of classes from an empty index %s",
                           volt_shape_str(index, bi, sizeof bi));
            return NULL;
        }
        num_classes = max + 1;
    } else if (max >= num_classes) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "one_hot: class index %lld is out of range for %lld classes", (long long)max,
                       (long long)num_classes);
        return NULL;
    }
    int64_t shape[VOLT_MAX_DIMS];
    for (int k = 0; k < index->ndim; k++) shape[k] = index->shape[k];
    shape[index->ndim] = num_classes;
    volt_tensor *out = volt_tensor_new(VOLT_I64, index->device, index->ndim + 1, shape);
    if (!out) return NULL;
    volt_cpu_fill(out, 0.0);
    volt_cpu_one_hot(out, p, n, num_classes);
    return out;
}

/* ---------------------------------------------------------- tril, triu */

/* iargs[0] = diagonal; the same mask applies to g. */
static volt_status tril_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    grads[0] = volt_tril(g, node->iargs[0]);
    return grads[0] ? VOLT_OK : volt_error_status();
}

static volt_status triu_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    grads[0] = volt_triu(g, node->iargs[0]);
    return grads[0] ? VOLT_OK : volt_error_status();
}

static volt_tensor *triangle(const char *op, const volt_tensor *a, int64_t diagonal, bool upper) {
    if (!volt_check_not_null(op, a, "a") || (!on_cuda(a) && !volt_check_device_supported(op, a)))
        return NULL;
    if (a->ndim < 2) {
        char ba[96];
        volt_error_set(VOLT_ERR_SHAPE, "%s: needs at least 2 dimensions, got %s", op,
                       volt_shape_str(a, ba, sizeof ba));
        return NULL;
    }
    volt_tensor *out = volt_tensor_new(a->dtype, a->device, a->ndim, a->shape);
    if (!out) return NULL;
    /* Beyond these bounds every element is kept or none is. */
    int64_t rows = a->shape[a->ndim - 2], cols = a->shape[a->ndim - 1];
    int64_t d = diagonal < -rows ? -rows : diagonal > cols ? cols : diagonal;
    if (!on_cuda(a)) {
        volt_cpu_triangle(out, a, d, upper);
    } else if (volt_cuda_triangle(op, out, a, d, upper) != VOLT_OK) {
        volt_tensor_free(out);
        return NULL;
    }
    if (volt_autograd_should_record(1, &a)) {
        volt_node *node =
            volt_autograd_record(op, upper ? triu_backward : tril_backward, out, 1, &a);
        if (!node) return NULL;
        node->iargs[0] = d;
    }
    return out;
}

volt_tensor *volt_tril(const volt_tensor *a, int64_t diagonal) {
    return triangle("tril", a, diagonal, false);
}

volt_tensor *volt_triu(const volt_tensor *a, int64_t diagonal) {
    return triangle("triu", a, diagonal, true);
}
