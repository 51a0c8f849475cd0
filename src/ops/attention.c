/* attention.c: scaled dot-product attention, softmax(q k^T * scale + mask) v,
 * as one autograd node: the score and output products go to BLAS (k^T as
 * a transposed view, no copy), the scaled causal softmax is one kernel pass,
 * and the backward runs from the saved probabilities. Kernels:
 * ops/cpu/attention.c. On CUDA (f32, f64, bf16, f16): the fused
 * flash-attention kernels (ops/cuda/attention.cu, and attention_tc.cu's
 * tensor-core ones for bf16/f16 at head dims 64 and 128: no [T, S] matrix;
 * the node saves the output and the log-sum-exp, from which the backward
 * recomputes the probabilities) where they apply, else the same reference
 * path as the CPU's with cuBLASLt products and a CUDA softmax kernel
 * (volt_cuda_attention_use_reference selects it). Views (a GPT's heads)
 * are copied contiguous for the fused kernels. Under autocast attention
 * runs in its dtype (bf16 or f16), the result too. bf16 on the CPU
 * (precision "bf16-true"): the f32 op on the widened q, k and v, rounded to
 * bf16 once (ops/bf16.c). */
#include <math.h>

#include "ops/autocast_impl.h"
#include "ops/cpu/attention.h"
#include "ops/cuda/cuda_gemm.h"

/* A view of t with its last two dims swapped (no autograd). */
static volt_tensor *swap_last(const volt_tensor *t) {
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    int nd = t->ndim;
    for (int i = 0; i < nd; i++) {
        int j = i == nd - 2 ? nd - 1 : i == nd - 1 ? nd - 2 : i;
        shape[i] = t->shape[j];
        strides[i] = t->strides[j];
    }
    return volt_tensor_alias(t, nd, shape, strides, t->offset);
}

/* a @ swap_last(b) and swap_last(a) @ b, with grad mode off (callers). */
static volt_tensor *mm_bt(const volt_tensor *a, const volt_tensor *b) {
    volt_tensor *bt = swap_last(b);
    volt_tensor *out = bt ? volt_matmul(a, bt) : NULL;
    volt_tensor_free(bt);
    return out;
}

static volt_tensor *mm_at(const volt_tensor *a, const volt_tensor *b) {
    volt_tensor *at = swap_last(a);
    volt_tensor *out = at ? volt_matmul(at, b) : NULL;
    volt_tensor_free(at);
    return out;
}

/* args[0] = scale; iargs[0] = causal; saved: q 0, k 1, v 2, probabilities 3.
 *   dv = p^T g,  dp = g v^T,  ds = scale * p * (dp - rowsum(dp * p)),
 *   dq = ds k,   dk = ds^T q. */
static volt_status attention_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *q = volt_node_saved(node, 0), *k = volt_node_saved(node, 1),
                *v = volt_node_saved(node, 2), *p = volt_node_saved(node, 3);
    const volt_tensor *gd = volt_as_dtype(g, q->dtype);
    if (!gd) return volt_error_status();
    if (node->inputs[2].needs && !(grads[2] = mm_at(p, gd))) return volt_error_status();
    if (!node->inputs[0].needs && !node->inputs[1].needs) return VOLT_OK;
    volt_tensor *ds = mm_bt(gd, v); /* a new contiguous tensor */
    if (!ds) return volt_error_status();
    if (ds->device.type == VOLT_CUDA) {
        if (volt_cuda_attention_softmax_backward(ds, p, node->iargs[0] != 0, node->args[0]))
            return volt_error_status();
    } else {
        volt_cpu_attention_softmax_backward(ds, p, node->iargs[0] != 0, node->args[0]);
    }
    if (node->inputs[0].needs && !(grads[0] = volt_matmul(ds, k))) return volt_error_status();
    if (node->inputs[1].needs && !(grads[1] = mm_at(ds, q))) return volt_error_status();
    volt_tensor_free(ds);
    return VOLT_OK;
}

/* args[0] = scale; iargs[0] = causal; saved: q 0, k 1, v 2, out 3, lse 4.
 * The flash kernels' backward: dq, dk, dv in one pass over key tiles, from
 * the saved output and log-sum-exp (nothing is recomputed forward). */
static volt_status flash_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *q = volt_node_saved(node, 0), *k = volt_node_saved(node, 1),
                *v = volt_node_saved(node, 2), *out = volt_node_saved(node, 3),
                *lse = volt_node_saved(node, 4);
    const volt_tensor *gd = volt_as_dtype(g, q->dtype);
    if (gd && !volt_tensor_is_contiguous(gd)) gd = volt_contiguous(gd);
    if (!gd) return volt_error_status();
    volt_tensor *dq = volt_tensor_new(q->dtype, q->device, q->ndim, q->shape);
    volt_tensor *dk = dq ? volt_tensor_new(k->dtype, k->device, k->ndim, k->shape) : NULL;
    volt_tensor *dv = dk ? volt_tensor_new(v->dtype, v->device, v->ndim, v->shape) : NULL;
    if (!dv || volt_cuda_flash_backward(dq, dk, dv, q, k, v, out, gd, lse, node->iargs[0] != 0,
                                        node->args[0]))
        return volt_error_status();
    grads[0] = node->inputs[0].needs ? dq : NULL;
    grads[1] = node->inputs[1].needs ? dk : NULL;
    grads[2] = node->inputs[2].needs ? dv : NULL;
    return VOLT_OK;
}

/* The fused forward on CUDA (volt_cuda_flash_applies) and its node. */
static volt_tensor *flash_attention(const volt_tensor *q, const volt_tensor *k,
                                    const volt_tensor *v, bool causal, double scale) {
    int nd = q->ndim;
    volt_tensor *out = volt_tensor_new(q->dtype, q->device, nd, q->shape);
    volt_tensor *lse = out ? volt_tensor_new(VOLT_F32, q->device, nd - 1, q->shape) : NULL;
    if (!lse || volt_cuda_flash_forward(out, lse, q, k, v, causal, scale)) {
        volt_tensor_free(out);
        volt_tensor_free(lse);
        return NULL;
    }
    const volt_tensor *inputs[3] = {q, k, v};
    if (volt_autograd_should_record(3, inputs)) {
        volt_node *node =
            volt_autograd_record("scaled_dot_product_attention", flash_backward, out, 3, inputs);
        if (!node) return NULL;
        node->args[0] = scale;
        node->iargs[0] = causal;
        volt_node_save(node, q);
        volt_node_save(node, k);
        volt_node_save(node, v);
        volt_node_save_output(node, out);
        volt_node_save(node, lse);
    }
    volt_tensor_free(lse);
    return out;
}

/* The dtypes attention takes: f32, f64 and bf16 (on the CPU through f32);
 * on CUDA also f16. */
static bool check_dtype(const char *op, const volt_tensor *q) {
    if (q->dtype == VOLT_BF16) return true;
    if (q->device.type == VOLT_CUDA && q->dtype == VOLT_F16) return true;
    return volt_check_f32_f64(op, q);
}

/* q [..., T, D], k [..., S, D], v [..., S, Dv]: same dtype (f32/f64),
 * device, rank and leading dims. */
static bool check_qkv(const char *op, const volt_tensor *q, const volt_tensor *k,
                      const volt_tensor *v) {
    if (!volt_check_not_null(op, q, "q") || !volt_check_not_null(op, k, "k") ||
        !volt_check_not_null(op, v, "v"))
        return false;
    if ((q->device.type != VOLT_CUDA && !volt_check_device_supported(op, q)) ||
        !volt_check_same_device(op, q, k) || !volt_check_same_device(op, q, v) ||
        !check_dtype(op, q))
        return false;
    char bq[96], bk[96], bv[96];
    volt_shape_str(q, bq, sizeof bq);
    volt_shape_str(k, bk, sizeof bk);
    volt_shape_str(v, bv, sizeof bv);
    volt_dtype low = volt_autocast_dtype(q->device); /* which takes f32 and it mixed */
    bool autocast =
        volt_autocast_casts(q, low) && volt_autocast_casts(k, low) && volt_autocast_casts(v, low);
    if (!autocast && (k->dtype != q->dtype || v->dtype != q->dtype)) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: q %s, k %s, v %s: dtypes differ", op, bq, bk, bv);
        return false;
    }
    int nd = q->ndim;
    bool ok = nd >= 2 && k->ndim == nd && v->ndim == nd;
    for (int i = 0; ok && i < nd - 2; i++)
        ok = k->shape[i] == q->shape[i] && v->shape[i] == q->shape[i];
    if (!ok) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: q %s, k %s, v %s: expected [..., T, D], [..., S, D], [..., S, Dv] "
                       "with the same leading dims",
                       op, bq, bk, bv);
        return false;
    }
    if (k->shape[nd - 1] != q->shape[nd - 1]) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: q %s and k %s: head dims differ (%lld vs %lld)", op, bq,
                       bk, (long long)q->shape[nd - 1], (long long)k->shape[nd - 1]);
        return false;
    }
    if (v->shape[nd - 2] != k->shape[nd - 2]) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: k %s and v %s: key counts differ (%lld vs %lld)", op,
                       bk, bv, (long long)k->shape[nd - 2], (long long)v->shape[nd - 2]);
        return false;
    }
    return true;
}

/* Attention of CUDA q, k, v made ready for the flash kernels (which read
 * contiguous operands), through differentiable contiguous copies. The head
 * views of a fused qkv projection (a GPT's) would otherwise take the
 * reference path and its [T, S] products. */
static volt_tensor *cuda_flash_ready(const volt_tensor *q, const volt_tensor *k,
                                     const volt_tensor *v, bool causal, double scale) {
    const volt_tensor *in[3] = {q, k, v};
    volt_tensor *c[3] = {NULL, NULL, NULL}, *out = NULL;
    bool ok = true;
    for (int i = 0; i < 3 && ok; i++) ok = (c[i] = volt_contiguous(in[i])) != NULL;
    out = ok ? volt_scaled_dot_product_attention(c[0], c[1], c[2], causal, scale) : NULL;
    for (int i = 0; i < 3; i++) volt_tensor_free(c[i]);
    return out;
}

/* Under autocast (volt/ops.h) q, k and v, f32 or in its dtype, go to that
 * dtype (differentiable casts) and attention runs on them with autocast
 * off: a result in that dtype, as torch.autocast gives. NULL with *done
 * false when autocast does not apply. */
static volt_tensor *attention_autocast(const volt_tensor *q, const volt_tensor *k,
                                       const volt_tensor *v, bool causal, double scale,
                                       bool *done) {
    volt_dtype low = volt_autocast_dtype(q->device);
    *done =
        volt_autocast_casts(q, low) && volt_autocast_casts(k, low) && volt_autocast_casts(v, low);
    if (!*done) return NULL;
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_OFF);
    const volt_tensor *in[3] = {q, k, v}, *c[3] = {NULL, NULL, NULL};
    bool ok = true;
    for (int i = 0; i < 3 && ok; i++)
        ok = (c[i] = in[i]->dtype == low ? in[i] : volt_to_dtype(in[i], low)) != NULL;
    volt_tensor *out =
        ok ? volt_scaled_dot_product_attention(c[0], c[1], c[2], causal, scale) : NULL;
    for (int i = 0; i < 3; i++)
        if (c[i] != in[i]) volt_tensor_free((volt_tensor *)c[i]);
    volt_autocast_set(prev);
    return out;
}

volt_tensor *volt_scaled_dot_product_attention(const volt_tensor *q, const volt_tensor *k,
                                               const volt_tensor *v, bool causal, double scale) {
    const char *op = "scaled_dot_product_attention";
    if (!check_qkv(op, q, k, v)) return NULL;
    bool autocast;
    volt_tensor *y = attention_autocast(q, k, v, causal, scale, &autocast);
    if (autocast) return y;
    VOLT_BF16_VIA_F32_N(q, 3, ((const volt_tensor *const[]){q, k, v}), o,
                        volt_scaled_dot_product_attention(o.w[0], o.w[1], o.w[2], causal, scale))
    VOLT_TRACE_OP(op);
    if (isinf(scale)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: scale %g (must be finite)", op, scale);
        return NULL;
    }
    int64_t d = q->shape[q->ndim - 1];
    if (scale == 0.0 || isnan(scale)) scale = d > 0 ? 1.0 / sqrt((double)d) : 1.0;
    bool cuda = q->device.type == VOLT_CUDA;
    if (cuda && (!volt_tensor_is_contiguous(q) || !volt_tensor_is_contiguous(k) ||
                 !volt_tensor_is_contiguous(v)))
        return cuda_flash_ready(q, k, v, causal, scale);
    if (cuda && volt_cuda_flash_applies(q, k, v)) return flash_attention(q, k, v, causal, scale);
    volt_tensor *p = NULL, *out = NULL;
    VOLT_NO_GRAD {
        p = mm_bt(q, k);
        if (p && cuda && volt_cuda_attention_softmax(p, causal, scale)) {
            volt_tensor_free(p);
            p = NULL;
        } else if (p && !cuda) {
            volt_cpu_attention_softmax(p, causal, scale);
        }
        out = p ? volt_matmul(p, v) : NULL;
    }
    if (!out) return NULL;
    const volt_tensor *inputs[3] = {q, k, v};
    if (volt_autograd_should_record(3, inputs)) {
        volt_node *node = volt_autograd_record(op, attention_backward, out, 3, inputs);
        if (!node) return NULL;
        node->args[0] = scale;
        node->iargs[0] = causal;
        volt_node_save(node, q);
        volt_node_save(node, k);
        volt_node_save(node, v);
        volt_node_save(node, p);
    }
    volt_tensor_free(p);
    return out;
}
