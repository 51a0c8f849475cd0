/* reduce.c: the host side of the CUDA reductions (cuda_nn.h): the input's
 * dims coalesced into kept and reduced groups, then the row kernels when a
 * contiguous input has one reduced group ([outer, n, inner]), else the
 * general kernel; max/min with indices; the gradient kernels. */
#include "core/cuda/cuda_impl.h"
#include "ops/cpu/reduce.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/cuda_nn.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/nn_kernels.h"

_Static_assert(VOLT_CUDA_RED_LSE == (int)VOLT_CR_LSE &&
                   VOLT_CUDA_FINAL_SQRT_DIV == (int)VOLT_CR_FINAL_SQRT_DIV,
               "nn_kernels.h spells volt_cuda_red and volt_cuda_final");
_Static_assert(VOLT_CUDA_RGRAD_DIV_OR_ZERO == (int)VOLT_RGRAD_DIV_OR_ZERO &&
                   VOLT_CUDA_RGRAD_BROADCAST == (int)VOLT_RGRAD_COUNT,
               "nn_kernels.h spells volt_reduce_grad_op");

static bool is_kernel_dtype(volt_dtype d) { return volt_dtype_is_float(d); }

/* Dims of a (size > 1), adjacent ones of the same kind merged where their
 * strides allow, split into kept and reduced lists. */
static void coalesce(const volt_tensor *a, const bool mask[VOLT_MAX_DIMS],
                     volt_cuda_reduce_geom *g) {
    g->n_keep = g->n_red = 0;
    int prev = -1;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] == 1) continue;
        int kind = mask[d] ? 1 : 0;
        int *count = kind ? &g->n_red : &g->n_keep;
        int64_t *shape = kind ? g->red_shape : g->keep_shape;
        int64_t *stride = kind ? g->red_stride : g->keep_stride;
        if (kind == prev && stride[*count - 1] == a->strides[d] * a->shape[d]) {
            shape[*count - 1] *= a->shape[d];
            stride[*count - 1] = a->strides[d];
            continue;
        }
        shape[*count] = a->shape[d];
        stride[*count] = a->strides[d];
        (*count)++;
        prev = kind;
    }
}

/* A non-empty contiguous tensor with one reduced group (the kept dims on
 * either side of it merge): its [outer, n, inner] form. */
static bool row_form(const volt_tensor *a, const volt_cuda_reduce_geom *g, int64_t *outer,
                     int64_t *n, int64_t *inner) {
    if (volt_tensor_numel(a) == 0 || !volt_tensor_is_contiguous(a) || g->n_red > 1) return false;
    *n = g->n_red ? g->red_shape[0] : 1;
    *inner = g->n_red ? g->red_stride[0] : 1;
    *outer = volt_tensor_numel(a) / (*n * *inner);
    return true;
}

volt_status volt_cuda_reduce(const char *op, volt_cuda_red red, volt_cuda_final final, double p,
                             volt_tensor *out, const volt_tensor *a,
                             const bool mask[VOLT_MAX_DIMS]) {
    if (!is_kernel_dtype(a->dtype)) return volt_no_cuda_kernel(op, a, NULL);
    volt_cuda_reduce_geom g;
    coalesce(a, mask, &g);
    int64_t outer, n, inner;
    int device = a->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    void *stream = volt_cuda_stream(device);
    if (!row_form(a, &g, &outer, &n, &inner))
        return VOLT_CUDA_CHECK(volt_cuda_launch_reduce_general(
                                   (int)red, (int) final, p, (int)a->dtype, volt_tensor_data(out),
                                   volt_tensor_data(a), &g, volt_tensor_numel(out), stream),
                               "the reduction kernel");
    int64_t parts = volt_cuda_reduce_partial_count((int)red, outer, n, inner);
    volt_tensor *partial = NULL;
    if (parts > 0) {
        partial = volt_tensor_new(a->dtype == VOLT_F64 ? VOLT_F64 : VOLT_F32, a->device, 1, &parts);
        if (!partial) return volt_error_status();
    }
    volt_status st = VOLT_CUDA_CHECK(
        volt_cuda_launch_reduce_rows((int)red, (int) final, p, (int)a->dtype, volt_tensor_data(out),
                                     volt_tensor_data(a), outer, n, inner,
                                     partial ? volt_tensor_data(partial) : NULL, stream),
        "the reduction kernel");
    volt_tensor_free(partial); /* the caching allocator orders its reuse on the stream */
    return st;
}

/* t contiguous (t itself, or a copy to free), NULL stays NULL. */
static const volt_tensor *dense(const volt_tensor *t, bool *fail) {
    if (!t || volt_tensor_is_contiguous(t)) return t;
    const volt_tensor *c = NULL;
    VOLT_NO_GRAD { c = volt_contiguous(t); }
    if (!c) *fail = true;
    return c;
}

static void drop(const volt_tensor *c, const volt_tensor *t) {
    if (c && c != t) volt_tensor_free((volt_tensor *)c);
}

/* a as [outer, shape[dim], inner] (contiguous). */
static void dim_form(const volt_tensor *a, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = *inner = 1;
    *n = a->ndim ? a->shape[dim] : 1;
    for (int d = 0; d < a->ndim; d++) {
        if (d < dim) *outer *= a->shape[d];
        if (d > dim) *inner *= a->shape[d];
    }
}

volt_status volt_cuda_max_dim(const char *op, bool is_max, volt_tensor *values,
                              volt_tensor *indices, const volt_tensor *a, int dim) {
    if (!is_kernel_dtype(a->dtype)) return volt_no_cuda_kernel(op, a, NULL);
    bool fail = false;
    const volt_tensor *c = dense(a, &fail);
    if (fail) return volt_error_status();
    int64_t outer, n, inner;
    dim_form(c, dim, &outer, &n, &inner);
    int device = a->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(volt_cuda_launch_max_rows(
                                 is_max, (int)a->dtype, volt_tensor_data(values),
                                 indices ? volt_tensor_data(indices) : NULL, volt_tensor_data(c),
                                 outer, n, inner, volt_cuda_stream(device)),
                             "the max/min kernel");
    drop(c, a);
    return st;
}

/* out's dims (size > 1) coalesced, with the strides of the group tensor
 * (keepdim shape gshape, contiguous): 0 where gshape is 1. */
static void bcast_geom(const volt_tensor *out, const int64_t *gshape, volt_cuda_bcast_geom *g) {
    int64_t gstride[VOLT_MAX_DIMS], s = 1;
    for (int d = out->ndim - 1; d >= 0; d--) {
        gstride[d] = gshape[d] == 1 ? 0 : s;
        s *= gshape[d];
    }
    g->ndim = 0;
    for (int d = 0; d < out->ndim; d++) {
        if (out->shape[d] == 1) continue;
        int k = g->ndim;
        bool merge =
            k > 0 && ((gstride[d] == 0 && g->gstride[k - 1] == 0) ||
                      (gstride[d] != 0 && g->gstride[k - 1] == gstride[d] * out->shape[d]));
        if (merge) {
            g->shape[k - 1] *= out->shape[d];
            g->gstride[k - 1] = gstride[d];
        } else {
            g->shape[k] = out->shape[d];
            g->gstride[k] = gstride[d];
            g->ndim++;
        }
    }
}

volt_status volt_cuda_reduce_grad(const char *op, int grad_op, volt_tensor *out,
                                  const volt_tensor *x, const volt_tensor *c, const volt_tensor *s,
                                  double p) {
    if (!is_kernel_dtype(out->dtype)) return volt_no_cuda_kernel(op, out, NULL);
    bool fail = false;
    const volt_tensor *xc = dense(x, &fail), *cc = dense(c, &fail), *sc = dense(s, &fail);
    volt_status st = fail ? volt_error_status() : VOLT_OK;
    const volt_tensor *group = sc ? sc : cc;
    if (st == VOLT_OK) {
        int64_t gshape[VOLT_MAX_DIMS];
        for (int d = 0; d < out->ndim; d++)
            gshape[d] = group->ndim == out->ndim ? group->shape[d] : 1;
        volt_cuda_bcast_geom g;
        bcast_geom(out, gshape, &g);
        int device = out->device.index;
        st = volt_cuda_set_device(device);
        if (st == VOLT_OK)
            st = VOLT_CUDA_CHECK(
                volt_cuda_launch_reduce_grad(grad_op, (int)out->dtype, volt_tensor_data(out),
                                             xc ? volt_tensor_data(xc) : NULL,
                                             cc ? volt_tensor_data(cc) : NULL,
                                             sc ? volt_tensor_data(sc) : NULL, p, &g,
                                             volt_tensor_numel(out), volt_cuda_stream(device)),
                "the reduction gradient kernel");
    }
    drop(xc, x), drop(cc, c), drop(sc, s);
    return st;
}

volt_status volt_cuda_scatter_dim(const char *op, volt_tensor *grad, int dim,
                                  const volt_tensor *index, const volt_tensor *g) {
    if (!is_kernel_dtype(grad->dtype)) return volt_no_cuda_kernel(op, grad, NULL);
    bool fail = false;
    const volt_tensor *ic = dense(index, &fail), *gc = dense(g, &fail);
    volt_status st = fail ? volt_error_status() : volt_cuda_fill(op, grad, 0.0);
    if (st == VOLT_OK) {
        int64_t outer, n, inner;
        dim_form(grad, dim, &outer, &n, &inner);
        int device = grad->device.index;
        st = VOLT_CUDA_CHECK(volt_cuda_launch_scatter_rows(
                                 (int)grad->dtype, volt_tensor_data(grad), volt_tensor_data(ic),
                                 volt_tensor_data(gc), outer, n, inner, volt_cuda_stream(device)),
                             "the scatter kernel");
    }
    drop(ic, index), drop(gc, g);
    return st;
}
