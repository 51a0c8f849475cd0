/* device_copy.c: moving tensors between devices — volt_to_device
 * (differentiable: the gradient is copied back to the source's device) —
 * and pinned host memory (volt_pin_memory), whose copies to a GPU do not
 * block. The copies themselves: core/cuda/memcpy.c. */
#include "ops/cuda/cuda_ops.h"

/* node->iargs[0], [1]: the source's device type and index. */
static volt_status to_device_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_device source = {(volt_device_type)node->iargs[0], (int)node->iargs[1]};
    grads[0] = volt_to_device(g, source);
    return grads[0] ? VOLT_OK : volt_error_status();
}

/* t itself when contiguous, else a contiguous copy on t's device (no
 * autograd). */
static const volt_tensor *contiguous_source(const volt_tensor *t) {
    if (volt_tensor_is_contiguous(t)) return t;
    if (t->device.type != VOLT_CPU) { /* a contiguous copy on its device first */
        volt_tensor *c = volt_tensor_new(t->dtype, t->device, t->ndim, t->shape);
        if (c && volt_cuda_copy("to_device", c, t) != VOLT_OK) {
            volt_tensor_free(c);
            return NULL;
        }
        return c;
    }
    volt_tensor *c = volt_tensor_new(t->dtype, t->device, t->ndim, t->shape);
    if (c) volt_cpu_copy(c, t);
    return c;
}

volt_tensor *volt_to_device(const volt_tensor *t, volt_device device) {
    VOLT_TRACE_OP("to_device");
    if (!volt_check_not_null("to_device", t, "t")) return NULL;
    if (volt_device_equal(t->device, device)) return volt_alias_with_grad(t, "to_device");
    if (device.type == VOLT_CUDA ? volt_cuda_check_device("to_device", device.index)
                                 : volt_device_check(device))
        return NULL;
    const volt_tensor *src = contiguous_source(t);
    if (!src) return NULL;
    volt_tensor *out = volt_tensor_new(t->dtype, device, t->ndim, t->shape);
    void *pinned = src->device.type == VOLT_CPU ? volt_storage_pinned_block(src->storage) : NULL;
    size_t nbytes = (size_t)volt_tensor_numel(t) * volt_dtype_size(t->dtype);
    volt_status st = out ? volt_cuda_memcpy(volt_tensor_data(out), device, volt_tensor_data(src),
                                            src->device, nbytes, pinned)
                         : volt_error_status();
    if (src != t) volt_tensor_free((volt_tensor *)src);
    if (st != VOLT_OK) {
        volt_tensor_free(out);
        return NULL;
    }
    if (volt_autograd_should_record(1, &t)) {
        volt_node *node = volt_autograd_record("to_device", to_device_backward, out, 1, &t);
        if (node) {
            node->iargs[0] = t->device.type;
            node->iargs[1] = t->device.index;
        }
    }
    return out;
}

volt_tensor *volt_pin_memory(const volt_tensor *t) {
    if (!volt_check_not_null("pin_memory", t, "t")) return NULL;
    if (t->device.type != VOLT_CPU) {
        char shape[96], dev[32];
        volt_error_set(VOLT_ERR_DEVICE, "pin_memory: %s is on %s (only CPU tensors are pinned)",
                       volt_shape_str(t, shape, sizeof shape),
                       volt_device_str(t->device, dev, sizeof dev));
        return NULL;
    }
    if (volt_cuda_check_device("pin_memory", 0)) return NULL;
    volt_storage *s =
        volt_storage_new_pinned((size_t)volt_tensor_numel(t) * volt_dtype_size(t->dtype));
    if (!s) return NULL;
    volt_tensor *out = volt_tensor_from_storage(s, t->dtype, t->ndim, t->shape, NULL, 0);
    volt_storage_release(s);
    if (out) volt_cpu_copy(out, t);
    return out;
}

bool volt_tensor_is_pinned(const volt_tensor *t) {
    return t && volt_storage_pinned_block(t->storage) != NULL;
}
