/* attention_qkv.c: attention of the heads packed in one projection's output
 * (volt_attention_qkv) — what a GPT block and MultiheadAttention run. It is
 * the composition chunk -> reshape -> transpose -> scaled dot-product
 * attention -> transpose -> reshape, and runs as that composition except on
 * CUDA where the tensor-core flash kernels apply (16-bit: bf16 or f16
 * tensors, or under autocast; head dims 64 and 128): there one node reads q, k and v in place
 * in a 16-bit qkv, writes the heads' outputs side by side, and its backward
 * writes the whole qkv gradient in one buffer — no copies of the head views
 * and no zero-filled slices of the gradient summed together. */
#include <math.h>

#include "ops/autocast_impl.h"
#include "ops/cuda/cuda_gemm.h"

/* The composition, on qkv [B, T, 3E]. */
static volt_tensor *composed(const volt_tensor *qkv, int64_t heads, bool causal, double scale) {
    int64_t b = qkv->shape[0], t = qkv->shape[1], e = qkv->shape[2] / 3;
    volt_tensor *part[3];
    if (volt_chunk(qkv, 3, -1, part, 3) != 3) return NULL;
    for (int i = 0; i < 3; i++) {
        part[i] = volt_transpose(volt_reshape(part[i], VOLT_SHAPE(b, t, heads, e / heads)), 1, 2);
        if (!part[i]) return NULL;
    }
    volt_tensor *y = volt_scaled_dot_product_attention(part[0], part[1], part[2], causal, scale);
    return y ? volt_reshape(volt_transpose(y, 1, 2), VOLT_SHAPE(b, t, e)) : NULL;
}

/* args[0] = scale; iargs[0] = causal, iargs[1] = heads; saved: the 16-bit
 * qkv 0 (contiguous), the output 1, lse 2. */
static volt_status fused_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *qkv = volt_node_saved(node, 0), *out = volt_node_saved(node, 1),
                *lse = volt_node_saved(node, 2);
    const volt_tensor *gd = volt_as_dtype(g, qkv->dtype);
    if (gd && !volt_tensor_is_contiguous(gd)) gd = volt_contiguous(gd);
    volt_tensor *dqkv = gd ? volt_tensor_new(qkv->dtype, qkv->device, qkv->ndim, qkv->shape) : NULL;
    if (!dqkv || volt_cuda_flash_qkv_backward(dqkv, qkv, out, gd, lse, node->iargs[1],
                                              node->iargs[0] != 0, node->args[0]))
        return volt_error_status();
    grads[0] = dqkv;
    return VOLT_OK;
}

/* The fused path on a 16-bit CUDA qkv [B, T, 3E]
 * (volt_cuda_flash_qkv_applies). */
static volt_tensor *fused(const volt_tensor *qkv, int64_t heads, bool causal, double scale) {
    const volt_tensor *q16 = qkv;
    if (!volt_tensor_is_contiguous(qkv)) VOLT_NO_GRAD {
            q16 = volt_contiguous(qkv);
        }
    int64_t b = qkv->shape[0], t = qkv->shape[1], e = qkv->shape[2] / 3;
    volt_tensor *out = q16 ? volt_tensor_new(qkv->dtype, qkv->device, VOLT_SHAPE(b, t, e)) : NULL;
    volt_tensor *lse = out ? volt_tensor_new(VOLT_F32, qkv->device, VOLT_SHAPE(b, heads, t)) : NULL;
    if (!lse || volt_cuda_flash_qkv_forward(out, lse, q16, heads, causal, scale)) return NULL;
    const volt_tensor *inputs[1] = {qkv};
    if (volt_autograd_should_record(1, inputs)) {
        volt_node *node = volt_autograd_record("attention_qkv", fused_backward, out, 1, inputs);
        if (!node) return NULL;
        node->args[0] = scale;
        node->iargs[0] = causal;
        node->iargs[1] = heads;
        volt_node_save(node, q16);
        volt_node_save_output(node, out);
        volt_node_save(node, lse);
    }
    return out;
}

static bool check_qkv(const char *op, const volt_tensor *qkv, int64_t heads) {
    if (!volt_check_not_null(op, qkv, "qkv")) return false;
    char bq[96];
    if (heads < 1) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: num_heads %lld must be at least 1", op,
                       (long long)heads);
        return false;
    }
    bool half =
        qkv->dtype == VOLT_BF16 || (qkv->dtype == VOLT_F16 && qkv->device.type == VOLT_CUDA);
    if (!half && !volt_check_f32_f64(op, qkv)) return false;
    if (qkv->ndim != 2 && qkv->ndim != 3) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: qkv %s must be [B, T, 3E] or [T, 3E]", op,
                       volt_shape_str(qkv, bq, sizeof bq));
        return false;
    }
    int64_t width = qkv->shape[qkv->ndim - 1];
    if (width == 0 || width % (3 * heads) != 0) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: qkv %s: the last dim %lld is not 3 x E with E a multiple of "
                       "num_heads %lld",
                       op, volt_shape_str(qkv, bq, sizeof bq), (long long)width, (long long)heads);
        return false;
    }
    return true;
}

volt_tensor *volt_attention_qkv(const volt_tensor *qkv, int64_t num_heads, bool causal,
                                double scale) {
    const char *op = "attention_qkv";
    if (!check_qkv(op, qkv, num_heads)) return NULL;
    /* Under autocast (volt/ops.h): an f32 qkv cast to its dtype, attention in
     * that dtype with autocast off, the result in it. */
    volt_dtype low = volt_autocast_dtype(qkv->device);
    if (volt_autocast_casts(qkv, low)) {
        volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_OFF);
        volt_tensor *c = qkv->dtype == low ? NULL : volt_to_dtype(qkv, low);
        volt_tensor *y = c || qkv->dtype == low
                             ? volt_attention_qkv(c ? c : qkv, num_heads, causal, scale)
                             : NULL;
        volt_tensor_free(c);
        volt_autocast_set(prev);
        return y;
    }
    VOLT_TRACE_OP(op);
    volt_scope_begin();
    const volt_tensor *x = qkv->ndim == 3 ? qkv : volt_unsqueeze(qkv, 0);
    int64_t d = x ? x->shape[2] / 3 / num_heads : 0;
    if (d > 0 && (scale == 0.0 || isnan(scale))) scale = 1.0 / sqrt((double)d);
    bool half = volt_dtype_is_16bit(qkv->dtype);
    volt_tensor *y = NULL;
    if (x && x->device.type == VOLT_CUDA && half && !isinf(scale) &&
        volt_cuda_flash_qkv_applies(x, num_heads))
        y = fused(x, num_heads, causal, scale);
    else if (x)
        y = composed(x, num_heads, causal, scale);
    if (y && qkv->ndim == 2) y = volt_squeeze(y, 0);
    if (y) volt_keep(y);
    volt_scope_end();
    return y;
}
