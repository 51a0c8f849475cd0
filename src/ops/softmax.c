/* softmax.c: softmax and log_softmax along one dim (f32, f64) with their
 * fused backward. Kernels: ops/cpu/softmax.c. bf16: computed in f32, the
 * result rounded to bf16 (ops/bf16.c). On CUDA (ops/cuda/softmax.c): f32,
 * f64, bf16 and f16 natively. */
#include "ops/autocast_impl.h"
#include "ops/cpu/softmax.h"
#include "ops/cuda/cuda_nn.h"

/* node->iargs[0] = dim, iargs[1] = 1 for log_softmax; saved[0] = output. */
static volt_status softmax_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("softmax_backward");
    volt_tensor *y = volt_node_saved(node, 0);
    volt_tensor *gx = volt_tensor_new(y->dtype, y->device, y->ndim, y->shape);
    if (!gx) return volt_error_status();
    const volt_tensor *gg = volt_as_dtype(g, y->dtype);
    if (!gg) return volt_error_status();
    if (y->device.type == VOLT_CUDA) {
        volt_status st = volt_cuda_softmax_backward(node->name, node->iargs[1] != 0, gx, gg, y,
                                                    (int)node->iargs[0]);
        if (st != VOLT_OK) return st;
        grads[0] = gx;
        return VOLT_OK;
    }
    volt_cpu_softmax_backward(gx, gg, y, (int)node->iargs[0], node->iargs[1] != 0);
    grads[0] = gx;
    return VOLT_OK;
}

static volt_tensor *softmax_impl(const char *op, const volt_tensor *a, int dim, bool log) {
    VOLT_TRACE_OP(op);
    bool cuda = a && a->device.type == VOLT_CUDA;
    if (!cuda) VOLT_BF16_VIA_F32(a, w, softmax_impl(op, w, dim, log))
    if (!volt_check_not_null(op, a, "a") ||
        (!cuda && (!volt_check_device_supported(op, a) || !volt_check_f32_f64(op, a))) ||
        (cuda && !volt_check_float(op, a)))
        return NULL;
    int d = volt_normalize_dim(op, a, dim);
    if (d < 0) return NULL;
    volt_tensor *out = volt_tensor_new(a->dtype, a->device, a->ndim, a->shape);
    if (!out) return NULL;
    if (cuda) {
        if (volt_cuda_softmax(op, log, out, a, d) != VOLT_OK) {
            volt_tensor_free(out);
            return NULL;
        }
    } else {
        volt_cpu_softmax(out, a, d, log);
    }
    if (volt_autograd_should_record(1, &a)) {
        volt_node *node = volt_autograd_record(op, softmax_backward, out, 1, &a);
        if (node) {
            node->iargs[0] = d;
            node->iargs[1] = log;
            volt_node_save_output(node, out);
        }
    }
    return out;
}

volt_tensor *volt_softmax(const volt_tensor *a, int dim) {
    VOLT_AUTOCAST_F32(1, ((const volt_tensor *const[]){a}), o, volt_softmax(o.w[0], dim))
    return softmax_impl("softmax", a, dim, false);
}

volt_tensor *volt_log_softmax(const volt_tensor *a, int dim) {
    VOLT_AUTOCAST_F32(1, ((const volt_tensor *const[]){a}), o, volt_log_softmax(o.w[0], dim))
    return softmax_impl("log_softmax", a, dim, true);
}
