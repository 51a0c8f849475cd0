/* batch_norm.c: batch normalisation over x [N, C, *] — batch statistics in
 * training (updating the running statistics in place, unbiased variance),
 * running statistics in eval — with gradients to x, weight and bias in both
 * modes. f32 goes to the fused kernels of ops/cpu/batch_norm.c (faster than
 * oneDNN's here: see batch_norm.h), f64 to the reference kernels
 * (ops/cpu/batch_norm_ref.c). CUDA tensors (f32, f64; bf16 widened as on
 * the CPU) go to cuDNN (ops/cuda/cuda_dnn.h), which updates the running
 * statistics itself, with the same formula. */
#include <math.h>

#include "ops/autocast_impl.h"
#include "ops/conv_impl.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/batch_norm.h"
#include "ops/cpu/dnnl_common.h"
#include "ops/cuda/cuda_dnn.h"
#include "ops/cuda/cuda_ops.h"

static bool use_fast(const volt_tensor *t) {
    return t->dtype == VOLT_F32 && volt_fast_kernels_enabled();
}

static volt_status run_forward(const volt_bn_geom *g, const volt_tensor *x, volt_tensor *y,
                               volt_tensor *mean, volt_tensor *var, const volt_tensor *w,
                               const volt_tensor *b) {
    if (!use_fast(x)) return volt_cpu_batch_norm_ref(g, x, y, mean, var, w, b);
    volt_cpu_batch_norm(g, x, y, mean, var, w, b);
    return VOLT_OK;
}

/* ------------------------------------------------------------ gradient */

/* Saved: 0 x (dense [N, C, S, 1]), 1 mean, 2 var (on CUDA in training: 1 /
 * sqrt(var + eps), cuDNN's saved statistic), 3 weight (if any); iargs[0]
 * training, iargs[1..3] = N, C, S; args[0] = eps. */
static volt_status batch_norm_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("batch_norm_backward");
    volt_bn_geom geo = {node->iargs[1], node->iargs[2], node->iargs[3], node->args[0],
                        node->iargs[0] != 0};
    volt_tensor *x = volt_node_saved(node, 0), *mean = volt_node_saved(node, 1);
    volt_tensor *var = volt_node_saved(node, 2);
    volt_tensor *w = node->n_saved > 3 ? volt_node_saved(node, 3) : NULL;
    const volt_tensor *gd = volt_as_dtype(g, x->dtype);
    volt_tensor *g4 = gd ? volt_dense_as(gd, 4, x->shape) : NULL;
    if (!g4) return volt_error_status();
    volt_tensor *gx = volt_tensor_new(x->dtype, x->device, 4, x->shape);
    volt_tensor *gw = volt_tensor_new(x->dtype, x->device, 1, (int64_t[]){geo.c});
    volt_tensor *gb = volt_tensor_new(x->dtype, x->device, 1, (int64_t[]){geo.c});
    volt_status st = gx && gw && gb ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK && x->device.type == VOLT_CUDA)
        st = geo.training
                 ? volt_cuda_batch_norm_backward(&geo, x, g4, w, mean, var, gx, gw, gb)
                 : volt_cuda_batch_norm_backward_eval(&geo, x, g4, w, mean, var, gx, gw, gb);
    else if (st == VOLT_OK && use_fast(x))
        volt_cpu_batch_norm_backward(&geo, x, g4, mean, var, w, gx, gw, gb);
    else if (st == VOLT_OK)
        st = volt_cpu_batch_norm_backward_ref(&geo, x, g4, mean, var, w, gx, gw, gb);
    volt_tensor_free(g4);
    if (st == VOLT_OK) {
        const volt_node_input *in = &node->inputs[0];
        grads[0] = in->needs ? volt_tensor_alias(gx, in->ndim, in->shape, NULL, gx->offset) : NULL;
        grads[1] = node->inputs[1].needs ? gw : NULL;
        grads[2] = node->inputs[2].needs ? gb : NULL;
    }
    volt_tensor_free(gx);
    if (st != VOLT_OK || !grads[1]) volt_tensor_free(gw);
    if (st != VOLT_OK || !grads[2]) volt_tensor_free(gb);
    return st;
}

/* ---------------------------------------------------------- validation */

static bool check_channel_tensor(const volt_tensor *x, const volt_tensor *t, const char *name) {
    if (!t) return true;
    char bx[96], bt[96];
    if (!volt_check_same_device("batch_norm", x, t)) return false;
    if (t->dtype != x->dtype || t->ndim != 1 || t->shape[0] != x->shape[1]) {
        volt_error_set(t->dtype != x->dtype ? VOLT_ERR_DTYPE : VOLT_ERR_SHAPE,
                       "batch_norm: input %s: %s %s should be %s[%lld]",
                       volt_shape_str(x, bx, sizeof bx), name, volt_shape_str(t, bt, sizeof bt),
                       volt_dtype_name(x->dtype), (long long)x->shape[1]);
        return false;
    }
    return true;
}

static bool check_args(const volt_tensor *x, const volt_tensor *rm, const volt_tensor *rv,
                       const volt_tensor *w, const volt_tensor *b, bool training, double momentum,
                       double eps) {
    const char *op = "batch_norm";
    if (!volt_check_not_null(op, x, "x") || !volt_check_f32_f64(op, x)) return false;
    char bx[96];
    volt_shape_only(x, bx, sizeof bx);
    if (x->ndim < 2) {
        volt_error_set(VOLT_ERR_SHAPE, "batch_norm: input %s: expected [N, C, ...] (2-D or more)",
                       bx);
        return false;
    }
    if (!check_channel_tensor(x, rm, "running_mean") ||
        !check_channel_tensor(x, rv, "running_var") || !check_channel_tensor(x, w, "weight") ||
        !check_channel_tensor(x, b, "bias"))
        return false;
    if (!rm != !rv || (!training && !rm)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "batch_norm: input %s: %s", bx,
                       training ? "running_mean and running_var go together"
                                : "eval mode needs running_mean and running_var");
        return false;
    }
    if (!(eps >= 0) || !isfinite(eps) || (training && rm && !isfinite(momentum))) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "batch_norm: input %s: eps %g / momentum %g "
                       "(eps must be >= 0, momentum finite)",
                       bx, eps, momentum);
        return false;
    }
    if (training && volt_tensor_numel(x) / x->shape[1] <= 1) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "batch_norm: input %s: expected more than 1 value per "
                       "channel when training",
                       bx);
        return false;
    }
    return true;
}

/* A running statistic as cuDNN updates it in place: t itself when
 * contiguous, else a contiguous copy of it (NULL with the error recorded
 * when that fails). */
static volt_tensor *dense_running(volt_tensor *t) {
    if (!t || volt_tensor_is_contiguous(t)) return t;
    volt_tensor *d = volt_tensor_new(t->dtype, t->device, 1, t->shape);
    if (d && volt_cuda_copy("batch_norm", d, t) != VOLT_OK) {
        volt_tensor_free(d);
        return NULL;
    }
    return d;
}

/* Training on CUDA: cuDNN normalizes x4 into y, writes the batch statistics
 * to mean / var and updates the running ones (through dense copies when
 * they are strided, written back after). */
static bool cuda_train_forward(const volt_bn_geom *geo, const volt_tensor *x4, volt_tensor *y,
                               volt_tensor *running_mean, volt_tensor *running_var,
                               const volt_tensor *w, const volt_tensor *b, double momentum,
                               volt_tensor *mean, volt_tensor *var) {
    volt_tensor *rm = dense_running(running_mean);
    volt_tensor *rv = rm || !running_mean ? dense_running(running_var) : NULL;
    bool ok =
        (rm || !running_mean) && (rv || !running_var) &&
        volt_cuda_batch_norm_forward(geo, x4, y, rm, rv, w, b, momentum, mean, var) == VOLT_OK;
    if (ok && rm != running_mean) ok = volt_cuda_copy("batch_norm", running_mean, rm) == VOLT_OK;
    if (ok && rv != running_var) ok = volt_cuda_copy("batch_norm", running_var, rv) == VOLT_OK;
    if (ok && running_mean) {
        volt_storage_bump_version(running_mean->storage);
        volt_storage_bump_version(running_var->storage);
    }
    if (rm != running_mean) volt_tensor_free(rm);
    if (rv != running_var) volt_tensor_free(rv);
    return ok;
}

/* r = (1 - momentum) r + momentum s, in place (s: [C] of r's dtype). */
static void update_running(volt_tensor *r, const volt_tensor *s, double momentum, double factor) {
    volt_tensor *next = volt_tensor_new(r->dtype, r->device, 1, r->shape);
    volt_tensor *cur = volt_tensor_new(r->dtype, r->device, 1, r->shape);
    if (next && cur) {
        volt_cpu_copy(cur, r);
        for (int64_t i = 0; i < r->shape[0]; i++) {
            double v = (1.0 - momentum) * volt_tensor_get_flat(cur, i) +
                       momentum * factor * volt_tensor_get_flat(s, i);
            if (r->dtype == VOLT_F32)
                ((float *)volt_tensor_data(next))[i] = (float)v;
            else
                ((double *)volt_tensor_data(next))[i] = v;
        }
        volt_cpu_copy(r, next);
        volt_storage_bump_version(r->storage);
    }
    volt_tensor_free(next);
    volt_tensor_free(cur);
}

/* ----------------------------------------------------------------- op */

/* bf16 -> f32 with its gradient: ops/bf16.c's on the CPU, volt_to_dtype's
 * conversion kernels on CUDA. */
static const volt_tensor *widen(const volt_tensor *t) {
    if (!t || t->device.type != VOLT_CUDA) return volt_bf16_widen(t);
    return t->dtype == VOLT_BF16 ? volt_to_dtype(t, VOLT_F32) : t;
}

static volt_tensor *narrow(volt_tensor *t) {
    if (!t || t->device.type != VOLT_CUDA) return volt_bf16_narrow(t);
    volt_tensor *r = volt_to_dtype(t, VOLT_BF16);
    volt_tensor_free(t);
    return r;
}

volt_tensor *volt_batch_norm_bf16(volt_batch_norm_train_fn train, void *ctx, const volt_tensor *x,
                                  volt_tensor *rm, volt_tensor *rv, const volt_tensor *weight,
                                  const volt_tensor *bias, bool training, double momentum,
                                  double eps) {
    const volt_tensor *wx = widen(x), *ww = widen(weight);
    const volt_tensor *wb = widen(bias), *wm = NULL, *wv = NULL;
    VOLT_NO_GRAD {
        wm = widen(rm);
        wv = widen(rv);
    }
    volt_tensor *r = NULL;
    if (wx && (ww || !weight) && (wb || !bias) && (wm || !rm) && (wv || !rv))
        r = train && training
                ? train(ctx, wx, (volt_tensor *)wm, (volt_tensor *)wv, ww, wb, momentum, eps)
                : volt_batch_norm(wx, (volt_tensor *)wm, (volt_tensor *)wv, ww, wb, training,
                                  momentum, eps);
    if (r && training && rm && wm != rm) {
        VOLT_NO_GRAD {
            if (!volt_copy_(rm, wm) || !volt_copy_(rv, wv)) {
                volt_tensor_free(r);
                r = NULL;
            }
        }
    }
    volt_bf16_drop(wx, x);
    volt_bf16_drop(ww, weight);
    volt_bf16_drop(wb, bias);
    volt_bf16_drop(wm, rm);
    volt_bf16_drop(wv, rv);
    return narrow(r);
}

volt_tensor *volt_batch_norm(const volt_tensor *x, volt_tensor *running_mean,
                             volt_tensor *running_var, const volt_tensor *weight,
                             const volt_tensor *bias, bool training, double momentum, double eps) {
    VOLT_AUTOCAST_F32(
        3, ((const volt_tensor *const[]){x, weight, bias}), o,
        volt_batch_norm(o.w[0], running_mean, running_var, o.w[1], o.w[2], training, momentum, eps))
    VOLT_TRACE_OP("batch_norm");
    if (x && x->dtype == VOLT_BF16)
        return volt_batch_norm_bf16(NULL, NULL, x, running_mean, running_var, weight, bias,
                                    training, momentum, eps);
    if (!check_args(x, running_mean, running_var, weight, bias, training, momentum, eps))
        return NULL;
    int64_t n = x->shape[0], c = x->shape[1], s = c ? volt_tensor_numel(x) / n / c : 0;
    if (n == 0) s = 0;
    volt_bn_geom geo = {n, c, s, eps, training};
    int64_t shape4[4] = {n, c, s, 1}, cs[1] = {c};
    volt_tensor *x4 = volt_dense_as(x, 4, shape4);
    volt_tensor *w = weight ? volt_dense_as(weight, 1, cs) : NULL;
    volt_tensor *b = bias ? volt_dense_as(bias, 1, cs) : NULL;
    /* Statistics used: the batch's (computed), or copies of the running ones
     * (later updates of those must not change the saved values). */
    volt_tensor *mean = volt_tensor_new(x->dtype, x->device, 1, cs);
    volt_tensor *var = volt_tensor_new(x->dtype, x->device, 1, cs);
    volt_tensor *y = volt_tensor_new(x->dtype, x->device, 4, shape4);
    bool ok = x4 && (w || !weight) && (b || !bias) && mean && var && y;
    bool cuda = x->device.type == VOLT_CUDA;
    if (ok && !training && cuda) {
        ok = !volt_cuda_copy("batch_norm", mean, running_mean) &&
             !volt_cuda_copy("batch_norm", var, running_var);
    } else if (ok && !training) {
        volt_cpu_copy(mean, running_mean);
        volt_cpu_copy(var, running_var);
    }
    if (ok && cuda && training) {
        ok = cuda_train_forward(&geo, x4, y, running_mean, running_var, w, b, momentum, mean, var);
    } else if (ok && cuda) {
        ok = volt_cuda_batch_norm_forward(&geo, x4, y, mean, var, w, b, momentum, mean, var) ==
             VOLT_OK;
    } else {
        ok = ok && run_forward(&geo, x4, y, mean, var, w, b) == VOLT_OK;
    }
    if (ok && training && running_mean && !cuda) {
        double count = (double)(n * s);
        update_running(running_mean, mean, momentum, 1.0);
        update_running(running_var, var, momentum, count / (count - 1.0));
    }
    volt_tensor *out = ok ? volt_tensor_alias(y, x->ndim, x->shape, NULL, y->offset) : NULL;
    const volt_tensor *inputs[3] = {x, weight, bias};
    if (out && volt_autograd_should_record(3, inputs)) {
        volt_node *node = volt_autograd_record("batch_norm", batch_norm_backward, out, 3, inputs);
        if (node) {
            volt_node_save(node, x4);
            volt_node_save(node, mean);
            volt_node_save(node, var);
            if (w) volt_node_save(node, w);
            node->iargs[0] = training;
            node->iargs[1] = n, node->iargs[2] = c, node->iargs[3] = s;
            node->args[0] = eps;
        }
    }
    volt_tensor *temps[6] = {x4, w, b, mean, var, y};
    for (int i = 0; i < 6; i++) volt_tensor_free(temps[i]);
    return out;
}
