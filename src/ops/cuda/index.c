/* index.c: the host side of the CUDA embedding and index ops
 * (cuda_index.h): geometry for the kernels, an f32 scratch for 16-bit
 * embedding gradients, one launch each. */
#include <math.h>
#include <string.h>

#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_index.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/index_kernels.h"

static bool is_float_dtype(volt_dtype d) {
    return d == VOLT_F32 || d == VOLT_F64 || d == VOLT_BF16 || d == VOLT_F16;
}

/* t itself when contiguous, else a contiguous copy (not recorded). */
static volt_tensor *dense(const volt_tensor *t) {
    if (volt_tensor_is_contiguous(t)) return (volt_tensor *)t;
    volt_tensor *c = NULL;
    VOLT_NO_GRAD { c = volt_contiguous(t); }
    return c;
}

volt_status volt_cuda_embedding(const char *op, volt_tensor *out, const volt_tensor *w,
                                const volt_tensor *idx) {
    if (!is_float_dtype(w->dtype)) return volt_no_cuda_kernel(op, w, NULL);
    int device = w->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st != VOLT_OK) return st;
    return VOLT_CUDA_CHECK(volt_cuda_launch_embedding((int)w->dtype, volt_tensor_data(out),
                                                      volt_tensor_data(w), volt_tensor_data(idx),
                                                      volt_tensor_numel(idx), w->shape[0],
                                                      w->shape[1], volt_cuda_stream(device)),
                           "the embedding kernel");
}

volt_status volt_cuda_embedding_backward(const char *op, volt_tensor *gw, const volt_tensor *g,
                                         const volt_tensor *idx, int64_t padding_idx) {
    if (!is_float_dtype(gw->dtype)) return volt_no_cuda_kernel(op, gw, NULL);
    bool narrow = volt_dtype_is_16bit(gw->dtype);
    volt_tensor *acc = narrow ? volt_tensor_new(VOLT_F32, gw->device, gw->ndim, gw->shape) : gw;
    volt_tensor *gc = dense(g);
    if (!acc || !gc) return volt_error_status();
    int device = gw->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st == VOLT_OK) st = volt_cuda_fill(op, acc, 0.0);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(volt_cuda_launch_embedding_backward(
                                 (int)gw->dtype, volt_tensor_data(acc), volt_tensor_data(gc),
                                 volt_tensor_data(idx), volt_tensor_numel(idx), gw->shape[0],
                                 gw->shape[1], padding_idx, volt_cuda_stream(device)),
                             "the embedding backward kernel");
    if (st == VOLT_OK && narrow) st = volt_cuda_copy(op, gw, acc);
    if (narrow) volt_tensor_free(acc);
    if (gc != g) volt_tensor_free(gc);
    return st;
}

/* The kernels' geometry over (ndim, shape) with a's strides. */
static bool index_geom(const char *op, const volt_tensor *t, volt_cuda_index_geom *g, int ndim,
                       const int64_t *shape, int dim, int64_t size, const int64_t *a_strides,
                       const int64_t *idx_strides, const int64_t *src_strides) {
    if (ndim > VOLT_CUDA_INDEX_MAX_DIMS) {
        volt_no_cuda_kernel(op, t, "more than 8 dimensions");
        return false;
    }
    memset(g, 0, sizeof *g);
    g->ndim = ndim;
    g->dim = dim;
    g->size = size;
    for (int d = 0; d < ndim; d++) {
        g->shape[d] = shape[d];
        g->a_stride[d] = a_strides[d];
        g->idx_stride[d] = idx_strides[d];
        g->src_stride[d] = src_strides ? src_strides[d] : 0;
    }
    return true;
}

/* NaN of a float dtype's bits, 0 for integers. */
static uint64_t fill_bits(volt_dtype d) {
    switch (d) {
    case VOLT_F32: return 0x7fc00000u;
    case VOLT_F64: return 0x7ff8000000000000ull;
    case VOLT_BF16: return 0x7fc0u;
    case VOLT_F16: return 0x7e00u;
    default: return 0;
    }
}

volt_status volt_cuda_gather(const char *op, volt_tensor *out, const volt_tensor *a, int dim,
                             const volt_tensor *idx, const int64_t *idx_strides) {
    volt_cuda_index_geom g;
    if (!index_geom(op, a, &g, out->ndim, out->shape, dim, a->shape[dim], a->strides, idx_strides,
                    NULL))
        return volt_error_status();
    int device = a->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st != VOLT_OK) return st;
    return VOLT_CUDA_CHECK(volt_cuda_launch_gather((int)volt_dtype_size(a->dtype),
                                                   volt_tensor_data(out), volt_tensor_data(a),
                                                   volt_tensor_data(idx), fill_bits(a->dtype), &g,
                                                   volt_cuda_stream(device)),
                           "the gather kernel");
}

volt_status volt_cuda_scatter_add(const char *op, volt_tensor *out, int dim, const volt_tensor *idx,
                                  const int64_t *idx_strides, const volt_tensor *src, int ndim,
                                  const int64_t *shape) {
    volt_dtype d = out->dtype;
    if (d != VOLT_F32 && d != VOLT_F64 && d != VOLT_I32 && d != VOLT_I64)
        return volt_no_cuda_kernel(op, out, NULL);
    volt_cuda_index_geom g;
    if (!index_geom(op, out, &g, ndim, shape, dim, out->shape[dim], out->strides, idx_strides,
                    src->strides))
        return volt_error_status();
    int device = out->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st != VOLT_OK) return st;
    return VOLT_CUDA_CHECK(
        volt_cuda_launch_scatter_add((int)d, volt_tensor_data(out), volt_tensor_data(src),
                                     volt_tensor_data(idx), &g, volt_cuda_stream(device)),
        "the scatter_add kernel");
}

volt_status volt_cuda_triangle(const char *op, volt_tensor *out, const volt_tensor *a,
                               int64_t diagonal, bool upper) {
    if (a->ndim < 2) return volt_no_cuda_kernel(op, a, "fewer than 2 dimensions");
    volt_tensor *ac = dense(a);
    if (!ac) return volt_error_status();
    int64_t rows = a->shape[a->ndim - 2], cols = a->shape[a->ndim - 1];
    int64_t batch = rows > 0 && cols > 0 ? volt_tensor_numel(a) / (rows * cols) : 0;
    int device = a->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(volt_cuda_launch_triangle((int)volt_dtype_size(a->dtype),
                                                       volt_tensor_data(out), volt_tensor_data(ac),
                                                       batch, rows, cols, diagonal, upper,
                                                       volt_cuda_stream(device)),
                             "the triangle kernel");
    if (ac != a) volt_tensor_free(ac);
    return st;
}
