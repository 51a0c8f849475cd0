/* embedding.c: the embedding lookup — rows of a weight matrix picked by an
 * integer index tensor of any shape — and its gradient, a deterministic
 * scatter-add of the output gradient's rows that leaves the padding row at
 * zero. Kernels: ops/cpu/embedding.c; on CUDA (ops/cuda/index.c) every
 * float dtype, indices not range-checked on the host (an out-of-range one
 * gives a NaN row: checking would wait for the device) and the gradient
 * summed with atomics (not bitwise deterministic where indices repeat).
 * A bf16 weight on the CPU (precision "bf16-true"): rows copied as they
 * are, the gradient summed in f32 and rounded to bf16 once. */
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/embedding.h"
#include "ops/cpu/index.h"
#include "ops/cuda/cuda_index.h"
#include "ops/cuda/cuda_ops.h"

/* A contiguous tensor with t's values and no autograd history (an alias
 * when t already is contiguous), converted to dtype. */
static volt_tensor *dense_as(const volt_tensor *t, volt_dtype dtype) {
    if (t->dtype == dtype && volt_tensor_is_contiguous(t))
        return volt_tensor_alias(t, t->ndim, t->shape, t->strides, t->offset);
    volt_tensor *c = volt_tensor_new(dtype, t->device, t->ndim, t->shape);
    if (!c || t->device.type != VOLT_CUDA) {
        if (c) volt_cpu_copy(c, t);
        return c;
    }
    if (volt_cuda_copy("embedding", c, t) == VOLT_OK) return c;
    volt_tensor_free(c);
    return NULL;
}

/* iargs[0] = padding_idx (normalised, or -1); saved: the i64 indices. */
static volt_status embedding_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const volt_node_input *in = &node->inputs[0];
    volt_tensor *idx = volt_node_saved(node, 0);
    bool narrow = in->dtype == VOLT_BF16 && g->device.type != VOLT_CUDA;
    volt_dtype sum_dtype = narrow ? VOLT_F32 : in->dtype;
    volt_tensor *gc = dense_as(g, sum_dtype);
    volt_tensor *gw = volt_tensor_new(sum_dtype, g->device, 2, in->shape);
    if (!gc || !gw) return volt_error_status();
    if (g->device.type == VOLT_CUDA) {
        volt_status st = volt_cuda_embedding_backward(node->name, gw, gc, idx, node->iargs[0]);
        volt_tensor_free(gc);
        grads[0] = gw;
        return st;
    }
    volt_cpu_embedding_backward(gw, gc, volt_tensor_data(idx), volt_tensor_numel(idx),
                                node->iargs[0]);
    volt_tensor_free(gc);
    if (narrow) {
        volt_tensor *rounded = volt_bf16_convert(gw, VOLT_BF16);
        volt_tensor_free(gw);
        if (!rounded) return volt_error_status();
        gw = rounded;
    }
    grads[0] = gw;
    return VOLT_OK;
}

volt_tensor *volt_embedding(const volt_tensor *weight, const volt_tensor *indices,
                            int64_t padding_idx) {
    const char *op = "embedding";
    VOLT_TRACE_OP(op);
    if (!volt_check_not_null(op, weight, "weight") || !volt_check_not_null(op, indices, "indices"))
        return NULL;
    bool cuda = weight->device.type == VOLT_CUDA;
    if ((!cuda && !volt_check_device_supported(op, weight)) ||
        !volt_check_same_device(op, weight, indices))
        return NULL;
    char bw[96], bi[96];
    volt_shape_str(weight, bw, sizeof bw);
    volt_shape_str(indices, bi, sizeof bi);
    if (weight->ndim != 2) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: weight must be 2-D [num_embeddings, dim], got %s", op,
                       bw);
        return NULL;
    }
    if (cuda ? !volt_check_float(op, weight)
             : weight->dtype != VOLT_BF16 && !volt_check_f32_f64(op, weight))
        return NULL;
    if (indices->dtype != VOLT_I64 && indices->dtype != VOLT_I32) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: indices must be i64 or i32, got %s", op, bi);
        return NULL;
    }
    if (indices->ndim >= VOLT_MAX_DIMS) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: indices %s have too many dimensions (at most %d)", op,
                       bi, VOLT_MAX_DIMS - 1);
        return NULL;
    }
    int64_t rows = weight->shape[0];
    if (padding_idx != VOLT_NO_PADDING_IDX) {
        if (padding_idx < -rows || padding_idx >= rows) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "%s: padding_idx %lld is out of range for weight %s", op,
                           (long long)padding_idx, bw);
            return NULL;
        }
        if (padding_idx < 0) padding_idx += rows;
    } else {
        padding_idx = -1;
    }
    volt_tensor *idx = dense_as(indices, VOLT_I64);
    if (!idx) return NULL;
    int64_t n = volt_tensor_numel(idx), bad;
    if (!cuda && !volt_cpu_index_in_range(volt_tensor_data(idx), n, rows, &bad)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: index %lld is out of range for weight %s",
                       op, (long long)bad, bw);
        volt_tensor_free(idx);
        return NULL;
    }
    int64_t shape[VOLT_MAX_DIMS];
    for (int i = 0; i < indices->ndim; i++) shape[i] = indices->shape[i];
    shape[indices->ndim] = weight->shape[1];
    volt_tensor *out = volt_tensor_new(weight->dtype, weight->device, indices->ndim + 1, shape);
    volt_tensor *w = dense_as(weight, weight->dtype);
    if (out && w && cuda && volt_cuda_embedding(op, out, w, idx) != VOLT_OK) {
        volt_tensor_free(out);
        out = NULL;
    }
    if (out && w && !cuda) volt_cpu_embedding(out, w, volt_tensor_data(idx), n);
    volt_tensor_free(w);
    if (out && volt_autograd_should_record(1, &weight)) {
        volt_node *node = volt_autograd_record(op, embedding_backward, out, 1, &weight);
        if (node) {
            node->iargs[0] = padding_idx;
            volt_node_save(node, idx);
        } else {
            out = NULL;
        }
    }
    volt_tensor_free(idx);
    return out;
}
