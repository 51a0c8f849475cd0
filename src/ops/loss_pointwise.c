/* loss_pointwise.c: the elementwise losses — mse, l1, smooth_l1,
 * binary_cross_entropy (with logits) and kl_div: a fused kernel for the
 * elementwise loss and for each of its derivatives, then the reduction.
 * Kernels: ops/cpu/loss.c; on CUDA (ops/cuda/loss.c) every float dtype
 * (computed in f32, f64 for f64), bce's input not range-checked on the host
 * (that would wait for the device; outside [0, 1] the loss is NaN). A bf16
 * input on the CPU (precision "bf16-true") runs the f32 loss on its widened
 * operands, the loss rounded to bf16 once (ops/bf16.c). */
#include <math.h>

#include "ops/autocast_impl.h"
#include "ops/cpu/loss.h"
#include "ops/cuda/cuda_nn.h"
#include "ops/loss_impl.h"

bool volt_loss_check_reduction(const char *op, volt_reduction reduction, bool allow_batchmean) {
    if (reduction == VOLT_REDUCTION_MEAN || reduction == VOLT_REDUCTION_SUM ||
        reduction == VOLT_REDUCTION_NONE ||
        (allow_batchmean && reduction == VOLT_REDUCTION_BATCHMEAN))
        return true;
    if (reduction == VOLT_REDUCTION_BATCHMEAN)
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: reduction batchmean is only for kl_div", op);
    else
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: invalid reduction %d (expected mean, sum or none)", op, (int)reduction);
    return false;
}

volt_tensor *volt_loss_reduce(volt_tensor *elem, volt_reduction reduction) {
    if (!elem || reduction == VOLT_REDUCTION_NONE) return elem;
    volt_tensor *sum = volt_sum_all(elem);
    if (reduction == VOLT_REDUCTION_SUM) return sum;
    double count = reduction == VOLT_REDUCTION_BATCHMEAN
                       ? (elem->ndim ? (double)elem->shape[0] : 1.0)
                       : (double)volt_tensor_numel(elem);
    return volt_div_scalar(sum, count);
}

/* One value seen at every position: a single element, or all strides 0. */
static bool is_one_value(const volt_tensor *t) {
    if (volt_tensor_numel(t) == 1) return true;
    for (int d = 0; d < t->ndim; d++)
        if (t->strides[d] != 0 && t->shape[d] != 1) return false;
    return true;
}

/* t in `dtype` as a flat kernel operand: one value broadcast (stride 0), or
 * a contiguous tensor of like's shape (t broadcast to it; like NULL: t's own
 * shape). Computed without recording. */
static const volt_tensor *flat_tensor(const volt_tensor *t, volt_dtype dtype,
                                      const volt_tensor *like, int64_t *stride) {
    const volt_tensor *c = NULL;
    *stride = 1;
    VOLT_NO_GRAD {
        c = volt_as_dtype(t, dtype);
        if (c && like && is_one_value(c)) {
            *stride = 0;
        } else if (c) {
            if (like) c = volt_expand(c, like->ndim, like->shape);
            if (c) c = volt_contiguous(c);
        }
    }
    return c;
}

static volt_flat_arg flat_arg(const volt_tensor *t, int64_t stride) {
    return (volt_flat_arg){t ? volt_tensor_data(t) : NULL, stride};
}

/* node: iargs[0] = kind, iargs[1..3] = saved slots of x, y, w (-1: none),
 * iargs[4] = w's flat stride; args[0] = beta. Inputs: 0 = input, 1 = target. */
static volt_status pointwise_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *x = volt_node_saved(node, (int)node->iargs[1]);
    volt_tensor *y = volt_node_saved(node, (int)node->iargs[2]);
    volt_tensor *w = node->iargs[3] >= 0 ? volt_node_saved(node, (int)node->iargs[3]) : NULL;
    int64_t gs, ws = node->iargs[4];
    const volt_tensor *gf = flat_tensor(g, x->dtype, x, &gs);
    if (!gf) return volt_error_status();
    for (int i = 0; i < 2; i++) {
        if (!node->inputs[i].needs) continue;
        volt_tensor *out = volt_tensor_new(x->dtype, x->device, x->ndim, x->shape);
        if (!out) return volt_error_status();
        volt_pointwise_loss kind = (volt_pointwise_loss)node->iargs[0];
        volt_pointwise_what what = i == 0 ? VOLT_PW_GRAD_X : VOLT_PW_GRAD_Y;
        volt_flat_arg fx = flat_arg(x, 1), fy = flat_arg(y, 1), fw = flat_arg(w, ws),
                      fg = flat_arg(gf, gs);
        grads[i] = out;
        if (x->device.type != VOLT_CUDA)
            volt_cpu_pointwise_loss(kind, what, node->args[0], out, fx, fy, fw, fg);
        else if (volt_cuda_pointwise_loss(node->name, kind, what, node->args[0], out, fx, fy, fw,
                                          fg) != VOLT_OK)
            return volt_error_status();
    }
    return VOLT_OK;
}

static bool same_shape(const volt_tensor *a, const volt_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

/* Checks input/target and returns them converted to their common dtype. */
static bool check_pair(const char *op, const volt_tensor *input, const volt_tensor *target,
                       const volt_tensor **xc, const volt_tensor **yc) {
    if (!volt_check_not_null(op, input, "input") || !volt_check_not_null(op, target, "target"))
        return false;
    bool cuda = input->device.type == VOLT_CUDA;
    if ((!cuda && !volt_check_device_supported(op, input)) ||
        !volt_check_same_device(op, input, target))
        return false;
    char bi[96], bt[96];
    const char *names[2] = {"input", "target"};
    const volt_tensor *ts[2] = {input, target};
    for (int k = 0; k < 2; k++) {
        if (cuda && volt_dtype_is_float(ts[k]->dtype)) continue;
        if (ts[k]->dtype != VOLT_F32 && ts[k]->dtype != VOLT_F64) {
            volt_error_set(VOLT_ERR_DTYPE, "%s: %s %s is not supported (f32 and f64 are)", op,
                           names[k], volt_shape_str(ts[k], bi, sizeof bi));
            return false;
        }
    }
    if (!same_shape(input, target)) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: input %s and target %s have different shapes", op,
                       volt_shape_only(input, bi, sizeof bi),
                       volt_shape_only(target, bt, sizeof bt));
        return false;
    }
    volt_dtype dtype = volt_promote_types(input, target);
    *xc = volt_as_dtype(input, dtype);
    *yc = volt_as_dtype(target, dtype);
    return *xc && *yc;
}

/* The elementwise loss of (input, target) with an optional extra operand w
 * (pos_weight) broadcast to input, as a differentiable op. */
static volt_tensor *pointwise(const char *op, volt_pointwise_loss kind, const volt_tensor *xc,
                              const volt_tensor *yc, const volt_tensor *w, double beta) {
    VOLT_TRACE_OP(op);
    int64_t sx, sy, sw = 0;
    const volt_tensor *xf = flat_tensor(xc, xc->dtype, NULL, &sx);
    const volt_tensor *yf = flat_tensor(yc, xc->dtype, NULL, &sy);
    const volt_tensor *wf = w ? flat_tensor(w, xc->dtype, xc, &sw) : NULL;
    if (!xf || !yf || (w && !wf)) return NULL;
    bool cuda = xc->device.type == VOLT_CUDA;
    if (kind == VOLT_PW_BCE && !cuda) {
        int64_t bad = volt_cpu_first_outside(xf, 0.0, 1.0);
        if (bad >= 0) {
            char b[96];
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "%s: all elements of input should be between 0 and 1, got %g at "
                           "element %lld of %s",
                           op, volt_tensor_get_flat(xf, bad), (long long)bad,
                           volt_shape_str(xc, b, sizeof b));
            return NULL;
        }
    }
    volt_tensor *out = volt_tensor_new(xc->dtype, xc->device, xc->ndim, xc->shape);
    if (!out) return NULL;
    volt_flat_arg none = {NULL, 0}, fw = wf ? flat_arg(wf, sw) : none;
    if (!cuda) {
        volt_cpu_pointwise_loss(kind, VOLT_PW_VALUE, beta, out, flat_arg(xf, sx), flat_arg(yf, sy),
                                fw, none);
    } else if (volt_cuda_pointwise_loss(op, kind, VOLT_PW_VALUE, beta, out, flat_arg(xf, sx),
                                        flat_arg(yf, sy), fw, none) != VOLT_OK) {
        volt_tensor_free(out);
        return NULL;
    }
    const volt_tensor *inputs[2] = {xc, yc};
    if (volt_autograd_should_record(2, inputs)) {
        volt_node *node = volt_autograd_record(op, pointwise_backward, out, 2, inputs);
        if (node) {
            node->iargs[0] = kind;
            node->iargs[1] = volt_node_save(node, xf);
            node->iargs[2] = volt_node_save(node, yf);
            node->iargs[3] = wf ? volt_node_save(node, wf) : -1;
            node->iargs[4] = wf ? sw : 0;
            node->args[0] = beta;
        }
    }
    return out;
}

/* A weight broadcast to input's shape (no larger), in input's dtype. */
static const volt_tensor *check_weight(const char *op, const char *name, const volt_tensor *w,
                                       const volt_tensor *input) {
    if (!volt_check_same_device(op, input, w)) return NULL;
    char bw[96], bi[96];
    bool ok = w->dtype == VOLT_F32 || w->dtype == VOLT_F64 ||
              (w->device.type == VOLT_CUDA && volt_dtype_is_float(w->dtype));
    if (!ok) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: %s %s is not supported (f32 and f64 are)", op, name,
                       volt_shape_str(w, bw, sizeof bw));
        return NULL;
    }
    bool fits = w->ndim <= input->ndim;
    for (int d = 0; fits && d < w->ndim; d++) {
        int64_t have = w->shape[w->ndim - 1 - d], want = input->shape[input->ndim - 1 - d];
        fits = have == want || have == 1;
    }
    if (!fits) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: %s %s cannot be broadcast to input %s", op, name,
                       volt_shape_only(w, bw, sizeof bw), volt_shape_only(input, bi, sizeof bi));
        return NULL;
    }
    return volt_as_dtype(w, input->dtype);
}

volt_tensor *volt_mse_loss(const volt_tensor *input, const volt_tensor *target,
                           volt_reduction reduction) {
    VOLT_AUTOCAST_F32(2, ((const volt_tensor *const[]){input, target}), o,
                      volt_mse_loss(o.w[0], o.w[1], reduction))
    VOLT_BF16_VIA_F32_N(input, 2, ((const volt_tensor *const[]){input, target}), o,
                        volt_mse_loss(o.w[0], o.w[1], reduction))
    const volt_tensor *x, *y;
    if (!check_pair("mse_loss", input, target, &x, &y) ||
        !volt_loss_check_reduction("mse_loss", reduction, false))
        return NULL;
    return volt_loss_reduce(pointwise("mse_loss", VOLT_PW_MSE, x, y, NULL, 0.0), reduction);
}

volt_tensor *volt_l1_loss(const volt_tensor *input, const volt_tensor *target,
                          volt_reduction reduction) {
    VOLT_AUTOCAST_F32(2, ((const volt_tensor *const[]){input, target}), o,
                      volt_l1_loss(o.w[0], o.w[1], reduction))
    VOLT_BF16_VIA_F32_N(input, 2, ((const volt_tensor *const[]){input, target}), o,
                        volt_l1_loss(o.w[0], o.w[1], reduction))
    const volt_tensor *x, *y;
    if (!check_pair("l1_loss", input, target, &x, &y) ||
        !volt_loss_check_reduction("l1_loss", reduction, false))
        return NULL;
    return volt_loss_reduce(pointwise("l1_loss", VOLT_PW_L1, x, y, NULL, 0.0), reduction);
}

volt_tensor *volt_smooth_l1_loss(const volt_tensor *input, const volt_tensor *target,
                                 volt_reduction reduction, double beta) {
    VOLT_AUTOCAST_F32(2, ((const volt_tensor *const[]){input, target}), o,
                      volt_smooth_l1_loss(o.w[0], o.w[1], reduction, beta))
    VOLT_BF16_VIA_F32_N(input, 2, ((const volt_tensor *const[]){input, target}), o,
                        volt_smooth_l1_loss(o.w[0], o.w[1], reduction, beta))
    const volt_tensor *x, *y;
    if (!check_pair("smooth_l1_loss", input, target, &x, &y) ||
        !volt_loss_check_reduction("smooth_l1_loss", reduction, false))
        return NULL;
    if (!(beta >= 0) || isinf(beta)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "smooth_l1_loss: beta must be >= 0 and finite, got %g", beta);
        return NULL;
    }
    /* beta 0 is the l1 loss (PyTorch's convention). */
    volt_pointwise_loss kind = beta > 0 ? VOLT_PW_SMOOTH_L1 : VOLT_PW_L1;
    return volt_loss_reduce(pointwise("smooth_l1_loss", kind, x, y, NULL, beta), reduction);
}

volt_tensor *volt_binary_cross_entropy(const volt_tensor *input, const volt_tensor *target,
                                       const volt_tensor *weight, volt_reduction reduction) {
    VOLT_AUTOCAST_F32(3, ((const volt_tensor *const[]){input, target, weight}), o,
                      volt_binary_cross_entropy(o.w[0], o.w[1], o.w[2], reduction))
    VOLT_BF16_VIA_F32_N(input, 3, ((const volt_tensor *const[]){input, target, weight}), o,
                        volt_binary_cross_entropy(o.w[0], o.w[1], o.w[2], reduction))
    const char *op = "binary_cross_entropy";
    const volt_tensor *x, *y, *w = NULL;
    if (!check_pair(op, input, target, &x, &y) || !volt_loss_check_reduction(op, reduction, false))
        return NULL;
    if (weight && !(w = check_weight(op, "weight", weight, x))) return NULL;
    volt_tensor *elem = pointwise(op, VOLT_PW_BCE, x, y, NULL, 0.0);
    if (elem && w) elem = volt_mul(elem, w);
    return volt_loss_reduce(elem, reduction);
}

volt_tensor *volt_binary_cross_entropy_with_logits(const volt_tensor *logits,
                                                   const volt_tensor *target,
                                                   const volt_tensor *weight,
                                                   const volt_tensor *pos_weight,
                                                   volt_reduction reduction) {
    VOLT_AUTOCAST_F32(
        4, ((const volt_tensor *const[]){logits, target, weight, pos_weight}), o,
        volt_binary_cross_entropy_with_logits(o.w[0], o.w[1], o.w[2], o.w[3], reduction))
    VOLT_BF16_VIA_F32_N(
        logits, 4, ((const volt_tensor *const[]){logits, target, weight, pos_weight}), o,
        volt_binary_cross_entropy_with_logits(o.w[0], o.w[1], o.w[2], o.w[3], reduction))
    const char *op = "binary_cross_entropy_with_logits";
    const volt_tensor *x, *y, *w = NULL, *pw = NULL;
    if (!check_pair(op, logits, target, &x, &y) || !volt_loss_check_reduction(op, reduction, false))
        return NULL;
    if (weight && !(w = check_weight(op, "weight", weight, x))) return NULL;
    if (pos_weight && !(pw = check_weight(op, "pos_weight", pos_weight, x))) return NULL;
    volt_tensor *elem = pointwise(op, VOLT_PW_BCE_LOGITS, x, y, pw, 0.0);
    if (elem && w) elem = volt_mul(elem, w);
    return volt_loss_reduce(elem, reduction);
}

volt_tensor *volt_kl_div(const volt_tensor *input, const volt_tensor *target,
                         volt_reduction reduction, bool log_target) {
    VOLT_AUTOCAST_F32(2, ((const volt_tensor *const[]){input, target}), o,
                      volt_kl_div(o.w[0], o.w[1], reduction, log_target))
    VOLT_BF16_VIA_F32_N(input, 2, ((const volt_tensor *const[]){input, target}), o,
                        volt_kl_div(o.w[0], o.w[1], reduction, log_target))
    const volt_tensor *x, *y;
    if (!check_pair("kl_div", input, target, &x, &y) ||
        !volt_loss_check_reduction("kl_div", reduction, true))
        return NULL;
    volt_pointwise_loss kind = log_target ? VOLT_PW_KL_LOG : VOLT_PW_KL;
    return volt_loss_reduce(pointwise("kl_div", kind, x, y, NULL, 0.0), reduction);
}
