/* reduce.c: reductions over a set of dims with keepdim, and their
 * gradients. Kernels: ops/cpu/reduce.c. */
#include "ops/cpu/cpu_kernels.h"

/* Output shape: a's shape with reduced dims set to 1 (keepdim) or removed. */
static int reduced_shape(const volt_tensor *a, const bool mask[VOLT_MAX_DIMS], bool keepdim,
                         int64_t *shape) {
    int n = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (!mask[d])
            shape[n++] = a->shape[d];
        else if (keepdim)
            shape[n++] = 1;
    }
    return n;
}

/* The gradient of a reduction broadcast back over a's shape: g reshaped to
 * keepdim form (size 1 on reduced dims). */
static volt_tensor *grad_keepdim(volt_tensor *g, const volt_node *node) {
    const volt_node_input *in = &node->inputs[0];
    int64_t shape[VOLT_MAX_DIMS];
    for (int d = 0; d < in->ndim; d++) shape[d] = node->iargs[d] ? 1 : in->shape[d];
    return volt_reshape(g, in->ndim, shape);
}

static volt_status sum_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const volt_node_input *in = &node->inputs[0];
    grads[0] = volt_expand(grad_keepdim(g, node), in->ndim, in->shape);
    return VOLT_OK;
}

volt_tensor *volt_sum(const volt_tensor *a, int n_dims, const int *dims, bool keepdim) {
    if (!volt_check_not_null("sum", a, "a") || !volt_check_device_supported("sum", a)) return NULL;
    bool mask[VOLT_MAX_DIMS];
    if (!volt_dims_to_mask("sum", a, n_dims, dims, mask)) return NULL;
    /* Integer and bool sums are i64, like PyTorch. */
    const volt_tensor *src = a;
    if (!volt_dtype_is_float(a->dtype)) src = volt_to_dtype(a, VOLT_I64);
    else if (!volt_check_f32_f64("sum", a)) return NULL;
    if (!src) return NULL;
    int64_t shape[VOLT_MAX_DIMS];
    int n = reduced_shape(a, mask, keepdim, shape);
    volt_tensor *out = volt_tensor_new(src->dtype, a->device, n, shape);
    if (!out) return NULL;
    volt_cpu_sum(out, src, mask);
    if (volt_autograd_should_record(1, &a)) {
        volt_node *node = volt_autograd_record("sum", sum_backward, out, 1, &a);
        if (node)
            for (int d = 0; d < a->ndim; d++) node->iargs[d] = mask[d];
    }
    return out;
}

volt_tensor *volt_sum_all(const volt_tensor *a) { return volt_sum(a, VOLT_ALL_DIMS, false); }

volt_tensor *volt_sum_to_shape(volt_tensor *grad, int ndim, const int64_t *shape) {
    if (!grad) return NULL;
    bool same = grad->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = grad->shape[i] == shape[i];
    if (same) return grad;
    /* Sum the leading extra dims and the dims broadcast from size 1. */
    int lead = grad->ndim - ndim;
    VOLT_ASSERT(lead >= 0);
    int dims[VOLT_MAX_DIMS], n = 0;
    for (int d = 0; d < grad->ndim; d++)
        if (d < lead || (shape[d - lead] == 1 && grad->shape[d] != 1)) dims[n++] = d;
    volt_tensor *s = n ? volt_sum(grad, n, dims, true) : grad;
    return volt_reshape(s, ndim, shape);
}
