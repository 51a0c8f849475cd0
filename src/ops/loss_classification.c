/* loss_classification.c: cross_entropy (class indices or probabilities,
 * ignore_index, label smoothing, class weights) and nll_loss, both on the
 * fused class-dimension kernel: one pass per row computes log-softmax and
 * the loss, and the backward writes softmax - target directly. Semantics are
 * PyTorch's. Kernels: ops/cpu/loss.c; on CUDA (ops/cuda/loss.c) class
 * indices in every floating dtype, the mean's divisor kept on the device. */
#include <math.h>
#include <stdio.h>

#include "ops/autocast_impl.h"
#include "ops/cpu/loss.h"
#include "ops/cuda/cuda_nn.h"
#include "ops/loss_impl.h"

volt_cross_entropy_options volt_cross_entropy_defaults(void) {
    volt_cross_entropy_options o = {.reduction = VOLT_REDUCTION_MEAN,
                                    .ignore_index = -100,
                                    .label_smoothing = 0.0,
                                    .weight = NULL};
    return o;
}

typedef struct {
    const char *op;
    volt_reduction reduction;
    int64_t ignore_index;
    double smoothing;
    bool from_logits;
    /* CUDA, 16-bit logits under autocast: an f32 loss read from them as
     * they are (no f32 copy of the logits), their gradient 16-bit */
    bool f32_loss;
} class_loss_options;

/* node->iargs: 0 class_dim, 1 ignore_index, 2 reduction, 3 from_logits,
 * 4 probability targets, 5 slot of x, 6 slot of the target, 7 slot of lse
 * (-1), 8 slot of the weight (-1). args: 0 smoothing, 1 scale of a mean,
 * 2 sum of the weights. Inputs: 0 = logits, 1 = probabilities (if any). */
static volt_status class_loss_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("class_loss_backward");
    const int64_t *ia = node->iargs;
    volt_tensor *x = volt_node_saved(node, (int)ia[5]);
    volt_tensor *target = volt_node_saved(node, (int)ia[6]);
    volt_tensor *lse = ia[7] >= 0 ? volt_node_saved(node, (int)ia[7]) : NULL;
    volt_tensor *weight = ia[8] >= 0 ? volt_node_saved(node, (int)ia[8]) : NULL;
    volt_class_loss_args a = {
        .class_dim = (int)ia[0],
        .target = ia[4] ? NULL : volt_tensor_data(target),
        .probs = ia[4] ? target : NULL,
        .weight = weight ? volt_tensor_data(weight) : NULL,
        .weight_total = node->args[2],
        .ignore_index = ia[1],
        .smoothing = node->args[0],
        .from_logits = ia[3] != 0,
    };
    double scale = 1.0;
    const volt_tensor *g_rows = NULL;
    if ((volt_reduction)ia[2] == VOLT_REDUCTION_NONE) {
        g_rows = volt_contiguous(volt_as_dtype(g, x->dtype));
        if (!g_rows) return volt_error_status();
    } else {
        scale = node->args[1] * volt_tensor_item(g);
    }
    volt_tensor *gx = volt_tensor_new(x->dtype, x->device, x->ndim, x->shape);
    volt_tensor *gp = NULL;
    if (ia[4] && node->inputs[1].needs)
        gp = volt_tensor_new(x->dtype, x->device, x->ndim, x->shape);
    if (!gx || (ia[4] && node->inputs[1].needs && !gp)) return volt_error_status();
    volt_cpu_class_loss_backward(x, &a, lse, g_rows, scale, gx, gp);
    if (node->inputs[0].needs) grads[0] = gx;
    grads[1] = gp;
    return VOLT_OK;
}

/* Shape of x without its class dim ("[N, d1, ...]"). */
static int rows_shape(const volt_tensor *x, int class_dim, int64_t *shape) {
    int n = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != class_dim) shape[n++] = x->shape[d];
    return n;
}

static bool check_shapes(const class_loss_options *o, const volt_tensor *x,
                         const volt_tensor *target, int class_dim, bool probs) {
    int64_t want[VOLT_MAX_DIMS];
    int n = rows_shape(x, class_dim, want);
    bool ok = probs ? target->ndim == x->ndim : target->ndim == n;
    for (int d = 0; ok && d < target->ndim; d++)
        ok = target->shape[d] == (probs ? x->shape[d] : want[d]);
    if (ok) return true;
    char bx[96], bt[96], bw[96] = "[";
    bool like_x = target->ndim == x->ndim;
    for (int d = 0; like_x && d < x->ndim; d++) like_x = target->shape[d] == x->shape[d];
    if (like_x && o->from_logits) {
        volt_error_set(VOLT_ERR_DTYPE,
                       "%s: target %s has the input's shape but holds integers (probabilities "
                       "must be f32 or f64)",
                       o->op, volt_shape_str(target, bt, sizeof bt));
        return false;
    }
    size_t len = 1;
    for (int d = 0; d < n && len < sizeof bw; d++)
        len +=
            (size_t)snprintf(bw + len, sizeof bw - len, d ? ",%lld" : "%lld", (long long)want[d]);
    if (len < sizeof bw) snprintf(bw + len, sizeof bw - len, "]");
    char alt[128] = "";
    if (o->from_logits)
        snprintf(alt, sizeof alt, " or %s (probabilities)", volt_shape_only(x, bx, sizeof bx));
    volt_error_set(VOLT_ERR_SHAPE,
                   "%s: input %s and target %s: expected a target of shape %s (class indices)%s",
                   o->op, volt_shape_only(x, bx, sizeof bx), volt_shape_only(target, bt, sizeof bt),
                   bw, alt);
    return false;
}

/* Checks every class index; returns the sum of the weights of the targets
 * that are not ignored (their count without weights), or NaN on error. */
static double check_targets(const class_loss_options *o, const volt_tensor *t64, int64_t C,
                            const volt_tensor *weight) {
    const int64_t *t = volt_tensor_data(t64);
    int64_t rows = volt_tensor_numel(t64);
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        if (t[r] == o->ignore_index) continue;
        if (t[r] < 0 || t[r] >= C) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "%s: target %lld (element %lld) is out of range for %lld classes "
                           "(expected 0..%lld, or ignore_index %lld)",
                           o->op, (long long)t[r], (long long)r, (long long)C, (long long)(C - 1),
                           (long long)o->ignore_index);
            return NAN;
        }
        total += weight ? volt_tensor_get_flat(weight, t[r]) : 1.0;
    }
    return total;
}

/* The weight as a contiguous [C] tensor of dtype, or NULL with an error. */
/* The class weights w checked against x's C classes, in dtype (contiguous). */
static const volt_tensor *check_class_weight(const class_loss_options *o, const volt_tensor *w,
                                             const volt_tensor *x, int64_t C, volt_dtype dtype) {
    char bw[96];
    if (!volt_check_same_device(o->op, x, w)) return NULL;
    if (w->dtype != VOLT_F32 && w->dtype != VOLT_F64) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: weight %s is not supported (f32 and f64 are)", o->op,
                       volt_shape_str(w, bw, sizeof bw));
        return NULL;
    }
    if (w->ndim != 1 || w->shape[0] != C) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: weight %s does not match %lld classes (expected [%lld])", o->op,
                       volt_shape_only(w, bw, sizeof bw), (long long)C, (long long)C);
        return NULL;
    }
    const volt_tensor *c = NULL;
    VOLT_NO_GRAD {
        c = volt_as_dtype(w, dtype);
        if (c) c = volt_contiguous(c);
    }
    return c;
}

static bool check_target(const class_loss_options *o, const volt_tensor *target, bool any_float);

static bool check_options(const class_loss_options *o, const volt_tensor *x,
                          const volt_tensor *target) {
    if (!volt_check_not_null(o->op, x, "input") || !volt_check_not_null(o->op, target, "target"))
        return false;
    if (!volt_check_device_supported(o->op, x) || !volt_check_same_device(o->op, x, target) ||
        !volt_check_f32_f64(o->op, x) || !volt_loss_check_reduction(o->op, o->reduction, false))
        return false;
    char b[96];
    if (x->ndim == 0) {
        volt_error_set(
            VOLT_ERR_SHAPE,
            "%s: input %s has no class dimension (expected [C], [N, C] or [N, C, d1, ...])", o->op,
            volt_shape_str(x, b, sizeof b));
        return false;
    }
    if (!(o->smoothing >= 0.0 && o->smoothing <= 1.0)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: label_smoothing must be between 0.0 and 1.0, got %g", o->op,
                       o->smoothing);
        return false;
    }
    return check_target(o, target, false);
}

/* The target's kind: class indices (i64 or i32), or with cross_entropy
 * probabilities (f32 or f64; any floating dtype where `any_float`, on
 * CUDA) without an ignore_index. */
static bool check_target(const class_loss_options *o, const volt_tensor *target, bool any_float) {
    char b[96];
    bool index = target->dtype == VOLT_I64 || target->dtype == VOLT_I32;
    bool probs =
        o->from_logits && (any_float ? volt_dtype_is_float(target->dtype)
                                     : target->dtype == VOLT_F32 || target->dtype == VOLT_F64);
    if (!index && !probs) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: target %s must hold class indices (i64 or i32)%s",
                       o->op, volt_shape_str(target, b, sizeof b),
                       o->from_logits ? " or class probabilities (f32 or f64)" : "");
        return false;
    }
    if (probs && o->ignore_index >= 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: ignore_index %lld is not supported with probability targets %s", o->op,
                       (long long)o->ignore_index, volt_shape_str(target, b, sizeof b));
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ CUDA */

/* node->iargs as class_loss_backward's (class indices only), but iargs[4]
 * is the loss's dtype, slot 7 holds `aux` (rows + 1 values: each row's
 * logsumexp when from_logits, then the mean's divisor; or -1) and
 * iargs[9] = 1 when the divisor is there (reduction mean). */
static volt_status class_loss_backward_cuda(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const int64_t *ia = node->iargs;
    volt_tensor *x = volt_node_saved(node, (int)ia[5]);
    volt_tensor *target = volt_node_saved(node, (int)ia[6]);
    volt_tensor *aux = ia[7] >= 0 ? volt_node_saved(node, (int)ia[7]) : NULL;
    volt_tensor *weight = ia[8] >= 0 ? volt_node_saved(node, (int)ia[8]) : NULL;
    volt_tensor *lse = ia[3] ? aux : NULL;
    volt_tensor *denom =
        ia[9] ? volt_tensor_alias(aux, 0, NULL, NULL, aux->offset + aux->shape[0] - 1) : NULL;
    if (ia[9] && !denom) return volt_error_status();
    const volt_tensor *gg = volt_as_dtype(g, (volt_dtype)ia[4]); /* the loss's dtype */
    if (gg && !volt_tensor_is_contiguous(gg)) gg = volt_contiguous(gg);
    volt_tensor *gx = gg ? volt_tensor_new(x->dtype, x->device, x->ndim, x->shape) : NULL;
    if (!gx) {
        volt_tensor_free(denom);
        return volt_error_status();
    }
    bool none = (volt_reduction)ia[2] == VOLT_REDUCTION_NONE;
    volt_status st =
        volt_cuda_class_loss_backward(node->name, gx, x, target, weight, ia[1], node->args[0],
                                      ia[3] != 0, lse, none ? gg : NULL, none ? NULL : gg, denom);
    volt_tensor_free(denom);
    if (st != VOLT_OK) return st;
    grads[0] = gx;
    return VOLT_OK;
}

/* Cross-entropy with class probabilities on CUDA, composed of log_softmax,
 * products and sums on the device (so autograd reaches x and the target),
 * with the CPU kernel's meaning: a row's loss is -sum_c w_c t_c
 * log_softmax(x)_c, t smoothed to (1 - s) t + s / C, and a mean divides by
 * the number of rows. w: NULL or [C] in x's dtype. */
static volt_tensor *probs_terms(const class_loss_options *o, const volt_tensor *x,
                                const volt_tensor *target, const volt_tensor *w, int class_dim,
                                int64_t C) {
    const volt_tensor *t = volt_as_dtype(target, x->dtype);
    if (t && o->smoothing > 0)
        t = volt_add_scalar(volt_mul_scalar(t, 1.0 - o->smoothing), o->smoothing / (double)C);
    volt_tensor *terms = t ? volt_mul(t, volt_log_softmax(x, class_dim)) : NULL;
    if (terms && w) {
        int64_t shape[VOLT_MAX_DIMS];
        for (int d = 0; d < x->ndim; d++) shape[d] = d == class_dim ? C : 1;
        terms = volt_mul(terms, volt_reshape(w, x->ndim, shape));
    }
    volt_tensor *rows = terms ? volt_neg(volt_sum(terms, VOLT_DIMS(class_dim), false)) : NULL;
    if (!rows || o->reduction == VOLT_REDUCTION_NONE) return rows;
    volt_tensor *total = volt_sum_all(rows);
    if (!total || o->reduction == VOLT_REDUCTION_SUM) return total;
    return volt_div_scalar(total, (double)volt_tensor_numel(rows));
}

/* probs_terms in a scope of its own: only the loss outlives the call. */
static volt_tensor *probs_loss_cuda(const class_loss_options *o, const volt_tensor *x,
                                    const volt_tensor *target, const volt_tensor *w, int class_dim,
                                    int64_t C) {
    volt_scope_begin();
    volt_tensor *loss = probs_terms(o, x, target, w, class_dim, C);
    if (loss) volt_keep(loss);
    volt_scope_end();
    return loss;
}

/* class_loss for a CUDA x (checked by the caller but for the device). */
static volt_tensor *class_loss_cuda(const class_loss_options *o, const volt_tensor *x,
                                    const volt_tensor *target, const volt_tensor *weight) {
    if (!volt_check_same_device(o->op, x, target) || !volt_check_float(o->op, x)) return NULL;
    if (!volt_loss_check_reduction(o->op, o->reduction, false)) return NULL;
    char b[96];
    if (x->ndim == 0 || !(o->smoothing >= 0.0 && o->smoothing <= 1.0)) {
        volt_error_set(x->ndim == 0 ? VOLT_ERR_SHAPE : VOLT_ERR_INVALID_ARGUMENT,
                       "%s: %s with label_smoothing %g: expected [C], [N, C] or [N, C, d1, ...] "
                       "and label_smoothing between 0.0 and 1.0",
                       o->op, volt_shape_str(x, b, sizeof b), o->smoothing);
        return NULL;
    }
    const int class_dim = x->ndim == 1 ? 0 : 1;
    const int64_t C = x->shape[class_dim];
    if (!check_target(o, target, true)) return NULL;
    bool probs = volt_dtype_is_float(target->dtype);
    if (!check_shapes(o, x, target, class_dim, probs)) return NULL;
    volt_dtype ld = o->f32_loss ? VOLT_F32 : x->dtype; /* the loss's */
    const volt_tensor *w = weight ? check_class_weight(o, weight, x, C, ld) : NULL;
    if (weight && !w) return NULL;
    if (probs) return probs_loss_cuda(o, x, target, w, class_dim, C);
    const volt_tensor *tgt = NULL;
    VOLT_NO_GRAD {
        tgt = volt_as_dtype(target, VOLT_I64);
        if (tgt && !volt_tensor_is_contiguous(tgt)) tgt = volt_contiguous(tgt);
    }
    if (!tgt) return NULL;
    int64_t shape[VOLT_MAX_DIMS];
    int n = rows_shape(x, class_dim, shape);
    volt_tensor *loss = volt_tensor_new(ld, x->device, n, shape);
    volt_tensor *wrow = loss ? volt_tensor_new(ld, x->device, n, shape) : NULL;
    /* aux: the rows' logsumexp, then the mean's divisor (one saved tensor) */
    int64_t aux_n = volt_tensor_numel(loss ? loss : x) + 1;
    volt_tensor *aux = wrow ? volt_tensor_new(ld, x->device, 1, &aux_n) : NULL;
    if (!aux) return NULL;
    if (volt_cuda_class_loss(o->op, x, tgt, w, o->ignore_index, o->smoothing, o->from_logits, loss,
                             o->from_logits ? aux : NULL, wrow) != VOLT_OK)
        return NULL;
    volt_tensor *out = loss, *denom = NULL;
    if (o->reduction != VOLT_REDUCTION_NONE) {
        out = volt_tensor_new(ld, x->device, 0, NULL);
        denom = out ? volt_tensor_alias(aux, 0, NULL, NULL, aux->offset + aux_n - 1) : NULL;
        if (!denom || volt_cuda_class_loss_total(out, denom, loss, wrow,
                                                 o->reduction == VOLT_REDUCTION_MEAN) != VOLT_OK)
            return NULL;
    }
    if (volt_autograd_should_record(1, &x)) {
        volt_node *node = volt_autograd_record(o->op, class_loss_backward_cuda, out, 1, &x);
        if (node) {
            node->iargs[0] = class_dim;
            node->iargs[1] = o->ignore_index;
            node->iargs[2] = o->reduction;
            node->iargs[3] = o->from_logits;
            node->iargs[4] = ld;
            node->iargs[5] = volt_node_save(node, x);
            node->iargs[6] = volt_node_save(node, tgt);
            bool mean = o->reduction == VOLT_REDUCTION_MEAN;
            node->iargs[7] = o->from_logits || mean ? volt_node_save(node, aux) : -1;
            node->iargs[8] = w ? volt_node_save(node, w) : -1;
            node->iargs[9] = mean;
            node->args[0] = o->smoothing;
        }
    }
    if (out != loss) volt_tensor_free(loss);
    volt_tensor_free(wrow);
    volt_tensor_free(aux);
    volt_tensor_free(denom);
    return out;
}

static volt_tensor *class_loss(const class_loss_options *o, const volt_tensor *x,
                               const volt_tensor *target, const volt_tensor *weight) {
    VOLT_TRACE_OP(o->op);
    if (x && target && x->device.type == VOLT_CUDA) return class_loss_cuda(o, x, target, weight);
    /* bf16 input: the loss of its f32 widening, rounded to bf16 (PyTorch
     * returns a bf16 loss for bf16 logits); its gradient is bf16. */
    VOLT_BF16_VIA_F32(x, w, class_loss(o, w, target, weight))
    if (!check_options(o, x, target)) return NULL;
    const int class_dim = x->ndim == 1 ? 0 : 1;
    const int64_t C = x->shape[class_dim];
    const bool probs = volt_dtype_is_float(target->dtype);
    if (!check_shapes(o, x, target, class_dim, probs)) return NULL;
    const volt_tensor *w = weight ? check_class_weight(o, weight, x, C, x->dtype) : NULL;
    if (weight && !w) return NULL;
    volt_class_loss_args a = {.class_dim = class_dim,
                              .weight = w ? volt_tensor_data(w) : NULL,
                              .weight_total = w ? volt_cpu_sum_flat(w) : (double)C,
                              .ignore_index = o->ignore_index,
                              .smoothing = o->smoothing,
                              .from_logits = o->from_logits};
    const volt_tensor *tgt; /* saved for backward: i64 indices or probabilities */
    double denominator;
    if (probs) {
        tgt = volt_as_dtype(target, x->dtype); /* differentiable */
        a.probs = tgt;
        int64_t rs[VOLT_MAX_DIMS];
        denominator = (double)volt_shape_numel(rows_shape(x, class_dim, rs), rs);
    } else {
        VOLT_NO_GRAD {
            tgt = volt_as_dtype(target, VOLT_I64);
            if (tgt) tgt = volt_contiguous(tgt);
        }
        if (!tgt) return NULL;
        a.target = volt_tensor_data(tgt);
        denominator = check_targets(o, tgt, C, w);
        if (isnan(denominator)) return NULL;
    }
    if (!tgt) return NULL;
    int64_t shape[VOLT_MAX_DIMS];
    int n = rows_shape(x, class_dim, shape);
    volt_tensor *loss = volt_tensor_new(x->dtype, x->device, n, shape);
    volt_tensor *lse = o->from_logits ? volt_tensor_new(x->dtype, x->device, n, shape) : NULL;
    if (!loss || (o->from_logits && !lse)) return NULL;
    volt_cpu_class_loss(x, &a, loss, lse);
    volt_tensor *out = loss;
    if (o->reduction != VOLT_REDUCTION_NONE) {
        double total = volt_cpu_sum_flat(loss);
        if (o->reduction == VOLT_REDUCTION_MEAN) total /= denominator;
        volt_tensor_free(loss);
        out = volt_tensor_new(x->dtype, x->device, 0, NULL);
        if (!out) return NULL;
        if (x->dtype == VOLT_F32)
            *(float *)volt_tensor_data(out) = (float)total;
        else
            *(double *)volt_tensor_data(out) = total;
    }
    const volt_tensor *inputs[2] = {x, probs ? tgt : NULL};
    if (volt_autograd_should_record(2, inputs)) {
        volt_node *node = volt_autograd_record(o->op, class_loss_backward, out, 2, inputs);
        if (node) {
            node->iargs[0] = class_dim;
            node->iargs[1] = o->ignore_index;
            node->iargs[2] = o->reduction;
            node->iargs[3] = o->from_logits;
            node->iargs[4] = probs;
            node->iargs[5] = volt_node_save(node, x);
            node->iargs[6] = volt_node_save(node, tgt);
            node->iargs[7] = lse ? volt_node_save(node, lse) : -1;
            node->iargs[8] = w ? volt_node_save(node, w) : -1;
            node->args[0] = o->smoothing;
            node->args[1] = o->reduction == VOLT_REDUCTION_MEAN ? 1.0 / denominator : 1.0;
            node->args[2] = a.weight_total;
        }
    }
    if (lse) volt_tensor_free(lse);
    return out;
}

volt_tensor *volt_cross_entropy_ex(const volt_tensor *logits, const volt_tensor *target,
                                   const volt_cross_entropy_options *options) {
    volt_cross_entropy_options d = volt_cross_entropy_defaults();
    if (!options) options = &d;
    class_loss_options o = {"cross_entropy",
                            options->reduction,
                            options->ignore_index,
                            options->label_smoothing,
                            true,
                            false};
    /* Under autocast 16-bit CUDA logits with class indices give an f32 loss
     * without an f32 copy of the logits (a GPT head's are hundreds of MB);
     * elsewhere the logits are widened (volt/ops.h). */
    const volt_tensor *widened[2] = {logits, options->weight};
    o.f32_loss = logits && target && logits->device.type == VOLT_CUDA &&
                 logits->dtype != VOLT_F32 && !volt_dtype_is_float(target->dtype) &&
                 volt_autocast_widens(2, widened) &&
                 (!options->weight || options->weight->dtype == VOLT_F32);
    if (o.f32_loss) return class_loss(&o, logits, target, options->weight);
    VOLT_AUTOCAST_F32(2, ((const volt_tensor *const[]){logits, options->weight}), w,
                      volt_cross_entropy_ex(
                          w.w[0], target,
                          &(volt_cross_entropy_options){options->reduction, options->ignore_index,
                                                        options->label_smoothing, w.w[1]}))
    return class_loss(&o, logits, target, options->weight);
}

volt_tensor *volt_cross_entropy(const volt_tensor *logits, const volt_tensor *target) {
    return volt_cross_entropy_ex(logits, target, NULL);
}

volt_tensor *volt_nll_loss(const volt_tensor *log_probs, const volt_tensor *target,
                           const volt_tensor *weight, int64_t ignore_index,
                           volt_reduction reduction) {
    VOLT_AUTOCAST_F32(2, ((const volt_tensor *const[]){log_probs, weight}), w,
                      volt_nll_loss(w.w[0], target, w.w[1], ignore_index, reduction))
    class_loss_options o = {"nll_loss", reduction, ignore_index, 0.0, false, false};
    return class_loss(&o, log_probs, target, weight);
}
