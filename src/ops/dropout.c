/* dropout.c: dropout — in training, zeroes each element with probability p
 * (mask drawn from a Philox generator) and scales the rest by 1 / (1 - p),
 * saving the mask for the backward; otherwise an identity view. Kernels:
 * ops/cpu/dropout.c. bf16: x * mask * scale in f32, rounded to bf16. On
 * CUDA (ops/cuda/random.c): every float dtype natively, the mask drawn from
 * the same Philox blocks, so a generator state gives the same mask on both
 * devices. */
#include "ops/cpu/dropout.h"
#include "ops/cuda/cuda_random.h"

/* saved[0] = mask (u8), args[0] = scale. */
static volt_status dropout_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const volt_node_input *in = &node->inputs[0];
    volt_tensor *gx = volt_tensor_new(in->dtype, g->device, in->ndim, in->shape);
    const volt_tensor *gg = volt_as_dtype(g, in->dtype);
    if (!gx || !gg) return volt_error_status();
    if (gx->device.type == VOLT_CUDA) {
        grads[0] = gx;
        return volt_cuda_dropout_backward("dropout", gx, gg, volt_node_saved(node, 0),
                                          node->args[0]);
    }
    volt_cpu_dropout_backward(gx, gg, volt_node_saved(node, 0), node->args[0]);
    grads[0] = gx;
    return VOLT_OK;
}

volt_tensor *volt_dropout(const volt_tensor *a, double p, bool training, volt_generator *gen) {
    VOLT_TRACE_OP("dropout");
    if (!volt_check_not_null("dropout", a, "a")) return NULL;
    if (!(p >= 0.0 && p <= 1.0)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "dropout: probability p has to be between 0 and 1, got %g", p);
        return NULL;
    }
    if (!training || p == 0.0) return volt_alias_with_grad(a, "dropout");
    bool cuda = a->device.type == VOLT_CUDA;
    if (!cuda) VOLT_BF16_VIA_F32(a, w, volt_dropout(w, p, training, gen))
    if (cuda ? !volt_check_float("dropout", a)
             : !volt_check_device_supported("dropout", a) || !volt_check_f32_f64("dropout", a))
        return NULL;
    /* Like PyTorch: x * 0 (NaN and inf give NaN), gradient zero. */
    if (p == 1.0) return volt_mul_scalar(a, 0.0);
    const volt_tensor *x = NULL;
    VOLT_NO_GRAD { x = volt_contiguous(a); }
    volt_tensor *out = volt_tensor_new(a->dtype, a->device, a->ndim, a->shape);
    volt_tensor *mask = volt_tensor_new(VOLT_U8, a->device, a->ndim, a->shape);
    if (!x || !out || !mask) return NULL;
    if (!gen) gen = volt_default_generator();
    int64_t n = volt_tensor_numel(a);
    uint64_t first = volt_generator_reserve(gen, (uint64_t)((n + 3) / 4));
    double scale = 1.0 / (1.0 - p);
    volt_status st = VOLT_OK;
    if (cuda)
        st = volt_cuda_dropout("dropout", out, mask, x, p, scale, gen, first);
    else
        volt_cpu_dropout(out, mask, x, p, scale, gen, first);
    volt_tensor_free((volt_tensor *)x);
    if (st != VOLT_OK) {
        volt_tensor_free(out);
        volt_tensor_free(mask);
        return NULL;
    }
    if (volt_autograd_should_record(1, &a)) {
        volt_node *node = volt_autograd_record("dropout", dropout_backward, out, 1, &a);
        if (node) {
            volt_node_save(node, mask);
            node->args[0] = scale;
        }
    }
    volt_tensor_free(mask);
    return out;
}
