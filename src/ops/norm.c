/* norm.c: layer norm, group norm and RMS norm — validation, one fused
 * forward kernel (statistics per row in double, then the affine
 * normalisation) and one fused backward node for the input, weight and
 * bias. Kernels: ops/cpu/norm.c; on CUDA (ops/cuda/norm.c) f32, f64, bf16
 * and f16, the statistics kept in f32 (f64 for f64). bf16 on the CPU
 * (precision "bf16-true"): the f32 op on the widened x, weight and bias,
 * rounded to bf16 once (ops/bf16.c). */
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "ops/autocast_impl.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/norm.h"
#include "ops/cuda/cuda_nn.h"

/* A contiguous tensor with t's values and no autograd history: an alias of
 * t when it already is contiguous, else a copy. NULL for NULL. */
static volt_tensor *dense(const volt_tensor *t) {
    if (!t) return NULL;
    if (volt_tensor_is_contiguous(t))
        return volt_tensor_alias(t, t->ndim, t->shape, t->strides, t->offset);
    if (t->device.type == VOLT_CUDA) {
        volt_tensor *c = NULL;
        VOLT_NO_GRAD { c = volt_contiguous(t); }
        return c;
    }
    volt_tensor *c = volt_tensor_new(t->dtype, t->device, t->ndim, t->shape);
    if (c) volt_cpu_copy(c, t);
    return c;
}

/* ------------------------------------------------------------ backward */

/* Node layout: inputs x, weight, bias (NULL entries when absent); iargs[0..3]
 * = rows, n, groups, inner; iargs[4] = rms; iargs[5] = has weight; saved:
 * x (contiguous) 0, mean 1, rstd 2, weight (contiguous) 3. */
static volt_status norm_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("norm_backward");
    volt_norm_geom geom = {node->iargs[0], node->iargs[1],      node->iargs[2],
                           node->iargs[3], node->iargs[4] != 0, 0.0};
    volt_tensor *x = volt_node_saved(node, 0), *mean = volt_node_saved(node, 1),
                *rstd = volt_node_saved(node, 2);
    volt_tensor *w = node->iargs[5] ? volt_node_saved(node, 3) : NULL;
    const volt_tensor *gd = volt_as_dtype(g, x->dtype);
    volt_tensor *gy = gd ? dense(gd) : NULL;
    if (!gy) return volt_error_status();
    volt_tensor *out[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        const volt_node_input *in = &node->inputs[i];
        if (!in->needs) continue;
        out[i] = volt_tensor_new(x->dtype, x->device, in->ndim, in->shape);
        if (!out[i]) return volt_error_status();
    }
    volt_status st = VOLT_OK;
    if (x->device.type == VOLT_CUDA)
        st = volt_cuda_norm_backward(node->name, &geom, out[0], out[1], out[2], gy, x, mean, rstd,
                                     w);
    else
        volt_cpu_norm_backward(&geom, out[0], out[1], out[2], gy, x, mean, rstd, w);
    volt_tensor_free(gy);
    for (int i = 0; i < 3; i++) grads[i] = out[i];
    return st;
}

/* ------------------------------------------------------------- forward */

/* Runs the kernel on validated arguments and records the node. */
static volt_tensor *norm_run(const char *op, const volt_tensor *x, const volt_norm_geom *geom,
                             const volt_tensor *weight, const volt_tensor *bias) {
    VOLT_BF16_VIA_F32_N(x, 3, ((const volt_tensor *const[]){x, weight, bias}), o,
                        norm_run(op, o.w[0], geom, o.w[1], o.w[2]))
    VOLT_TRACE_OP(op);
    volt_tensor *y = volt_tensor_new(x->dtype, x->device, x->ndim, x->shape);
    bool cuda = x->device.type == VOLT_CUDA;
    volt_dtype stats = cuda ? volt_cuda_norm_stats_dtype(x->dtype) : VOLT_F64;
    volt_tensor *mean = volt_tensor_new(stats, x->device, 1, &geom->rows);
    volt_tensor *rstd = volt_tensor_new(stats, x->device, 1, &geom->rows);
    volt_tensor *xc = dense(x), *wc = dense(weight), *bc = dense(bias);
    if (!y || !mean || !rstd || !xc || (weight && !wc) || (bias && !bc)) return NULL;
    if (!cuda)
        volt_cpu_norm_forward(geom, y, mean, rstd, xc, wc, bc);
    else if (volt_cuda_norm_forward(op, geom, y, mean, rstd, xc, wc, bc) != VOLT_OK)
        return NULL;
    const volt_tensor *inputs[3] = {x, weight, bias};
    if (volt_autograd_should_record(3, inputs)) {
        volt_node *node = volt_autograd_record(op, norm_backward, y, 3, inputs);
        if (!node) return NULL;
        node->iargs[0] = geom->rows;
        node->iargs[1] = geom->n;
        node->iargs[2] = geom->groups;
        node->iargs[3] = geom->inner;
        node->iargs[4] = geom->rms;
        node->iargs[5] = weight != NULL;
        node->args[0] = geom->eps;
        volt_node_save(node, xc);
        volt_node_save(node, mean);
        volt_node_save(node, rstd);
        if (wc) volt_node_save(node, wc);
    }
    volt_tensor_free(xc);
    volt_tensor_free(wc);
    volt_tensor_free(bc);
    volt_tensor_free(mean);
    volt_tensor_free(rstd);
    return y;
}

/* CPU: f32, f64 and bf16 (through f32); CUDA: every float dtype. */
static bool check_input(const char *op, const volt_tensor *x) {
    if (!volt_check_not_null(op, x, "x")) return false;
    if (x->device.type == VOLT_CUDA) return volt_check_float(op, x);
    return volt_check_device_supported(op, x) &&
           (x->dtype == VOLT_BF16 || volt_check_f32_f64(op, x));
}

static bool check_eps(const char *op, double eps) {
    if (eps >= 0.0 && !isinf(eps)) return true;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: eps %g (must be finite and >= 0)", op, eps);
    return false;
}

/* weight / bias (may be NULL): x's dtype and device, shape (ndim, shape). */
static bool check_param(const char *op, const char *name, const volt_tensor *p,
                        const volt_tensor *x, int ndim, const int64_t *shape) {
    if (!p) return true;
    if (!volt_check_same_device(op, x, p)) return false;
    char bp[96], bx[96];
    volt_shape_str(p, bp, sizeof bp);
    volt_shape_str(x, bx, sizeof bx);
    if (p->dtype != x->dtype) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: %s %s and input %s: dtypes differ", op, name, bp, bx);
        return false;
    }
    bool same = p->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = p->shape[i] == shape[i];
    if (!same) {
        char want[96] = "[";
        size_t len = 1;
        for (int i = 0; i < ndim && len < sizeof want; i++)
            len += (size_t)snprintf(want + len, sizeof want - len, i ? ",%lld" : "%lld",
                                    (long long)shape[i]);
        if (len < sizeof want) snprintf(want + len, sizeof want - len, "]");
        volt_error_set(VOLT_ERR_SHAPE, "%s: %s %s should have shape %s for input %s", op, name, bp,
                       want, bx);
        return false;
    }
    return true;
}

/* Validation shared by layer norm and RMS norm; fills rows and n. */
static bool check_last_dims(const char *op, const volt_tensor *x, int normalized_ndim,
                            const volt_tensor *weight, const volt_tensor *bias,
                            volt_norm_geom *geom) {
    if (!check_input(op, x)) return false;
    if (normalized_ndim < 1 || normalized_ndim > x->ndim) {
        char bx[96];
        volt_error_set(VOLT_ERR_SHAPE, "%s: normalized_ndim %d for %s (expected 1..%d)", op,
                       normalized_ndim, volt_shape_str(x, bx, sizeof bx), x->ndim);
        return false;
    }
    const int64_t *shape = x->shape + x->ndim - normalized_ndim;
    if (!check_param(op, "weight", weight, x, normalized_ndim, shape) ||
        !check_param(op, "bias", bias, x, normalized_ndim, shape))
        return false;
    geom->n = volt_shape_numel(normalized_ndim, shape);
    geom->rows = geom->n ? volt_tensor_numel(x) / geom->n : 0;
    geom->groups = 1;
    geom->inner = 1;
    return true;
}

volt_tensor *volt_layer_norm(const volt_tensor *x, int normalized_ndim, const volt_tensor *weight,
                             const volt_tensor *bias, double eps) {
    VOLT_AUTOCAST_F32(3, ((const volt_tensor *const[]){x, weight, bias}), o,
                      volt_layer_norm(o.w[0], normalized_ndim, o.w[1], o.w[2], eps))
    const char *op = "layer_norm";
    volt_norm_geom geom = {0, 0, 1, 1, false, eps};
    if (!check_last_dims(op, x, normalized_ndim, weight, bias, &geom) || !check_eps(op, eps))
        return NULL;
    return norm_run(op, x, &geom, weight, bias);
}

volt_tensor *volt_rms_norm(const volt_tensor *x, int normalized_ndim, const volt_tensor *weight,
                           double eps) {
    VOLT_AUTOCAST_F32(2, ((const volt_tensor *const[]){x, weight}), o,
                      volt_rms_norm(o.w[0], normalized_ndim, o.w[1], eps))
    const char *op = "rms_norm";
    volt_norm_geom geom = {0, 0, 1, 1, true, eps};
    if (!check_last_dims(op, x, normalized_ndim, weight, NULL, &geom)) return NULL;
    if (isnan(eps)) /* the machine epsilon of x's dtype */
        geom.eps = x->dtype == VOLT_F64    ? DBL_EPSILON
                   : x->dtype == VOLT_BF16 ? 0.0078125
                   : x->dtype == VOLT_F16  ? 0.0009765625
                                           : FLT_EPSILON;
    if (!check_eps(op, geom.eps)) return NULL;
    return norm_run(op, x, &geom, weight, NULL);
}

volt_tensor *volt_group_norm(const volt_tensor *x, int64_t num_groups, const volt_tensor *weight,
                             const volt_tensor *bias, double eps) {
    VOLT_AUTOCAST_F32(3, ((const volt_tensor *const[]){x, weight, bias}), o,
                      volt_group_norm(o.w[0], num_groups, o.w[1], o.w[2], eps))
    const char *op = "group_norm";
    if (!check_input(op, x)) return NULL;
    char bx[96];
    volt_shape_str(x, bx, sizeof bx);
    if (x->ndim < 2) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: expected an input [N, C, *], got %s", op, bx);
        return NULL;
    }
    int64_t channels = x->shape[1];
    if (num_groups < 1 || channels % num_groups != 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: num_groups %lld does not divide the %lld channels of %s", op,
                       (long long)num_groups, (long long)channels, bx);
        return NULL;
    }
    if (!check_param(op, "weight", weight, x, 1, &channels) ||
        !check_param(op, "bias", bias, x, 1, &channels) || !check_eps(op, eps))
        return NULL;
    int64_t inner = volt_shape_numel(x->ndim - 2, x->shape + 2);
    volt_norm_geom geom = {
        x->shape[0] * num_groups, channels / num_groups * inner, num_groups, inner, false, eps};
    if (inner == 0) geom.inner = 1, geom.n = 0, geom.rows = 0;
    return norm_run(op, x, &geom, weight, bias);
}
