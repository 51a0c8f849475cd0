/* elementwise.c: the host side of the CUDA elementwise kernels (cuda_ops.h)
 * — the geometry of a launch (volt_cuda_iter: broadcast strides, dims
 * coalesced, host scalars), fill, copy and conversion (also between the CPU
 * and a device), binary, unary and where. */
#include <stdio.h>
#include <string.h>

#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/cuda_ops.h"

_Static_assert(VOLT_CUDA_F32 == (int)VOLT_F32 && VOLT_CUDA_F64 == (int)VOLT_F64 &&
                   VOLT_CUDA_BF16 == (int)VOLT_BF16 && VOLT_CUDA_F16 == (int)VOLT_F16 &&
                   VOLT_CUDA_I64 == (int)VOLT_I64 && VOLT_CUDA_I32 == (int)VOLT_I32 &&
                   VOLT_CUDA_U8 == (int)VOLT_U8 && VOLT_CUDA_BOOL == (int)VOLT_BOOL,
               "cuda_kernels.h spells volt_dtype's values");
_Static_assert(VOLT_CUDA_ADD == (int)VOLT_BIN_ADD && VOLT_CUDA_DIV == (int)VOLT_BIN_DIV &&
                   VOLT_CUDA_POW == (int)VOLT_BIN_POW &&
                   VOLT_CUDA_MINIMUM == (int)VOLT_BIN_MINIMUM && VOLT_CUDA_EQ == (int)VOLT_BIN_EQ &&
                   VOLT_CUDA_GE == (int)VOLT_BIN_GE && VOLT_CUDA_OR == (int)VOLT_BIN_OR &&
                   VOLT_BIN_OR + 1 == VOLT_BIN_COUNT,
               "cuda_kernels.h spells volt_binary_op's values");
_Static_assert(VOLT_CUDA_UN_EXP == (int)VOLT_UN_EXP && VOLT_CUDA_UN_NEG == (int)VOLT_UN_NEG &&
                   VOLT_CUDA_UN_CLAMP == (int)VOLT_UN_CLAMP &&
                   VOLT_CUDA_UN_RELU == (int)VOLT_UN_RELU &&
                   VOLT_CUDA_UN_GELU_TANH == (int)VOLT_UN_GELU_TANH &&
                   VOLT_CUDA_UN_HARDTANH == (int)VOLT_UN_HARDTANH &&
                   VOLT_CUDA_UN_LOGICAL_NOT == (int)VOLT_UN_LOGICAL_NOT &&
                   VOLT_UN_LOGICAL_NOT + 1 == VOLT_UN_COUNT,
               "cuda_kernels.h spells volt_unary_op's values");
_Static_assert(VOLT_CUDA_MAX_DIMS == VOLT_MAX_DIMS, "one limit on dimensions");

/* ------------------------------------------------------------- geometry */

/* The launch geometry of out (operand 0) and n_in inputs broadcast to out's
 * shape: a CPU input (a 0-d scalar, checked by the caller) becomes a host
 * scalar. Dims of size 1 are dropped, and neighbours every operand walks as
 * one are merged; the result is stored innermost first. */
static void iter_build(volt_cuda_iter *it, const volt_tensor *out, int n_in,
                       const volt_tensor *const *in) {
    memset(it, 0, sizeof *it);
    int n_ops = n_in + 1, ndim = out->ndim;
    int64_t st[VOLT_CUDA_MAX_OPERANDS][VOLT_MAX_DIMS];
    for (int k = 0; k < n_ops; k++) {
        const volt_tensor *t = k == 0 ? out : in[k - 1];
        if (t->device.type == VOLT_CPU) {
            it->value[k] = volt_tensor_item(t);
            for (int d = 0; d < ndim; d++) st[k][d] = 0;
        } else {
            it->ptr[k] = volt_tensor_data(t);
            volt_broadcast_strides(t, ndim, out->shape, st[k]);
        }
    }
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_CUDA_MAX_OPERANDS][VOLT_MAX_DIMS];
    int n = 0; /* outermost first while merging */
    for (int d = 0; d < ndim; d++) {
        if (out->shape[d] == 1) continue;
        bool merge = n > 0;
        for (int k = 0; k < n_ops && merge; k++)
            merge = strides[k][n - 1] == st[k][d] * out->shape[d];
        if (merge) {
            shape[n - 1] *= out->shape[d];
            for (int k = 0; k < n_ops; k++) strides[k][n - 1] = st[k][d];
            continue;
        }
        shape[n] = out->shape[d];
        for (int k = 0; k < n_ops; k++) strides[k][n] = st[k][d];
        n++;
    }
    if (n == 0) {
        shape[0] = 1;
        for (int k = 0; k < n_ops; k++) strides[k][0] = 0;
        n = 1;
    }
    it->ndim = n;
    it->n_operands = n_ops;
    it->numel = volt_tensor_numel(out);
    bool small = it->numel < ((int64_t)1 << 31);
    for (int d = 0; d < n; d++) it->shape[d] = shape[n - 1 - d];
    for (int k = 0; k < n_ops; k++) {
        int64_t span = 0;
        for (int d = 0; d < n; d++) {
            int64_t s = strides[k][n - 1 - d];
            it->strides[k][d] = s;
            small = small && s >= 0;
            span += (it->shape[d] - 1) * s;
        }
        small = small && span < ((int64_t)1 << 31);
    }
    it->small = small;
}

/* Makes out's device current; its stream, or NULL with the error. */
static bool on_device(const volt_tensor *out, void **stream) {
    int device = out->device.index;
    if (volt_cuda_set_device(device)) return false;
    *stream = volt_cuda_stream(device);
    return true;
}

/* ----------------------------------------------------------- fill, copy */

volt_status volt_cuda_fill(const char *op, volt_tensor *out, double value) {
    (void)op;
    uint64_t pattern = 0;
    volt_store_from_double(&pattern, out->dtype, value);
    int size = (int)volt_dtype_size(out->dtype);
    void *stream;
    if (!on_device(out, &stream)) return volt_error_status();
    if (volt_tensor_is_contiguous(out))
        return VOLT_CUDA_CHECK(volt_cuda_launch_fill(volt_tensor_data(out), volt_tensor_numel(out),
                                                     size, pattern, stream),
                               "the fill kernel");
    volt_cuda_iter it;
    iter_build(&it, out, 0, NULL);
    return VOLT_CUDA_CHECK(volt_cuda_launch_fill_strided(&it, size, pattern, stream),
                           "the fill kernel");
}

/* out = src on one CUDA device: converted, broadcast, strided. */
static volt_status copy_on_device(volt_tensor *out, const volt_tensor *src) {
    void *stream;
    if (!on_device(out, &stream)) return volt_error_status();
    volt_cuda_iter it;
    iter_build(&it, out, 1, &src);
    return VOLT_CUDA_CHECK(volt_cuda_launch_copy(&it, (int)out->dtype, (int)src->dtype, stream),
                           "the copy kernel");
}

static bool same_shape(const volt_tensor *a, const volt_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

/* One contiguous copy of the bytes of src (dtype and shape of out's). */
static volt_status copy_bytes(volt_tensor *out, const volt_tensor *src) {
    void *pinned = src->device.type == VOLT_CPU ? volt_storage_pinned_block(src->storage) : NULL;
    return volt_cuda_memcpy(volt_tensor_data(out), out->device, volt_tensor_data(src), src->device,
                            (size_t)volt_tensor_numel(out) * volt_dtype_size(out->dtype), pinned);
}

/* Between the CPU and a device: src staged as a contiguous tensor of
 * `dtype` and src's shape on the far side, moved, then copied into out
 * there (converted, broadcast, strided). */
static volt_status copy_across(volt_tensor *out, const volt_tensor *src) {
    bool to_gpu = out->device.type == VOLT_CUDA;
    /* Convert on the GPU: to_gpu stages src's dtype, from the GPU out's. */
    volt_dtype dtype = to_gpu ? src->dtype : out->dtype;
    volt_tensor *near = volt_tensor_new(dtype, src->device, src->ndim, src->shape);
    volt_tensor *far = volt_tensor_new(dtype, out->device, src->ndim, src->shape);
    volt_status st = near && far ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK && to_gpu) volt_cpu_copy(near, src);
    if (st == VOLT_OK && !to_gpu) st = copy_on_device(near, src);
    if (st == VOLT_OK) st = copy_bytes(far, near);
    if (st == VOLT_OK && to_gpu) st = copy_on_device(out, far);
    if (st == VOLT_OK && !to_gpu) volt_cpu_copy(out, far);
    volt_tensor_free(near);
    volt_tensor_free(far);
    return st;
}

volt_status volt_cuda_copy(const char *op, volt_tensor *out, const volt_tensor *src) {
    if (volt_device_equal(out->device, src->device)) return copy_on_device(out, src);
    bool plain = out->dtype == src->dtype && same_shape(out, src) &&
                 volt_tensor_is_contiguous(out) && volt_tensor_is_contiguous(src);
    if (plain) return copy_bytes(out, src);
    if (out->device.type == VOLT_CUDA && src->device.type == VOLT_CUDA)
        return volt_no_cuda_kernel(op, src,
                                   "a copy between two CUDA devices that converts, broadcasts "
                                   "or is strided");
    return copy_across(out, src);
}

/* --------------------------------------------------------------- binary */

static bool is_float(volt_dtype d) { return volt_dtype_is_float(d); }

static bool binary_takes(volt_binary_op op, volt_dtype dtype) {
    bool logical = op == VOLT_BIN_AND || op == VOLT_BIN_OR;
    if (dtype == VOLT_BOOL)
        return logical || op == VOLT_BIN_MAXIMUM || op == VOLT_BIN_MINIMUM || op >= VOLT_BIN_EQ;
    if (logical) return false;
    return is_float(dtype) || op != VOLT_BIN_DIV;
}

bool volt_cuda_binary_supported(const char *name, volt_binary_op op, volt_dtype dtype,
                                const volt_tensor *a, const volt_tensor *b, int ndim,
                                const int64_t *shape) {
    (void)ndim, (void)shape;
    if (binary_takes(op, dtype)) return true;
    char why[64];
    snprintf(why, sizeof why, "computed in %s", volt_dtype_name(dtype));
    volt_no_cuda_kernel(name, a->device.type == VOLT_CUDA ? a : b, why);
    return false;
}

volt_status volt_cuda_binary(volt_binary_op op, volt_tensor *out, const volt_tensor *a,
                             const volt_tensor *b, double alpha) {
    void *stream;
    if (!on_device(out, &stream)) return volt_error_status();
    const volt_tensor *in[2] = {a, b};
    volt_cuda_iter it;
    iter_build(&it, out, 2, in);
    volt_dtype dtype = a->device.type == VOLT_CUDA ? a->dtype : b->dtype;
    return VOLT_CUDA_CHECK(volt_cuda_launch_binary(&it, (int)op, (int)dtype, alpha, stream),
                           "the binary kernel");
}

/* ------------------------------------------------------- unary, where */

volt_status volt_cuda_unary(const char *name, volt_unary_op op, volt_tensor *out,
                            const volt_tensor *in, double p0, double p1) {
    void *stream;
    if (!on_device(out, &stream)) return volt_error_status();
    volt_cuda_iter it;
    iter_build(&it, out, 1, &in);
    int err = volt_cuda_launch_unary(&it, (int)op, (int)in->dtype, p0, p1, stream);
    if (err == cudaErrorInvalidValue) return volt_no_cuda_kernel(name, in, NULL);
    return VOLT_CUDA_CHECK(err, "the unary kernel");
}

volt_status volt_cuda_unary_backward(const char *name, volt_unary_op op, volt_tensor *grad_in,
                                     const volt_tensor *grad_out, const volt_tensor *saved,
                                     double p0, double p1) {
    void *stream;
    if (!on_device(grad_in, &stream)) return volt_error_status();
    const volt_tensor *in[2] = {grad_out, saved};
    volt_cuda_iter it;
    iter_build(&it, grad_in, 2, in);
    int err = volt_cuda_launch_unary_backward(&it, (int)op, (int)grad_in->dtype, p0, p1, stream);
    if (err == cudaErrorInvalidValue) return volt_no_cuda_kernel(name, saved, "backward");
    return VOLT_CUDA_CHECK(err, "the unary backward kernel");
}

volt_status volt_cuda_where(volt_tensor *out, const volt_tensor *cond, const volt_tensor *a,
                            const volt_tensor *b) {
    void *stream;
    if (!on_device(out, &stream)) return volt_error_status();
    const volt_tensor *in[3] = {cond, a, b};
    volt_cuda_iter it;
    iter_build(&it, out, 3, in);
    return VOLT_CUDA_CHECK(volt_cuda_launch_where(&it, (int)volt_dtype_size(out->dtype), stream),
                           "the where kernel");
}
