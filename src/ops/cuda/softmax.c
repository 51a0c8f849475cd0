/* softmax.c: the host side of the CUDA softmax and log_softmax
 * (cuda_nn.h): the tensor seen as rows along dim, then one launch. */
#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_nn.h"
#include "ops/cuda/nn_kernels.h"

/* t (contiguous) as [outer, shape[dim], inner]. */
static void rows_of(const volt_tensor *t, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = *inner = 1;
    *n = t->ndim ? t->shape[dim] : 1;
    for (int d = 0; d < t->ndim; d++) {
        if (d < dim) *outer *= t->shape[d];
        if (d > dim) *inner *= t->shape[d];
    }
}

/* t itself when contiguous, else a contiguous copy (not recorded). */
static volt_tensor *dense(const volt_tensor *t) {
    if (volt_tensor_is_contiguous(t)) return (volt_tensor *)t;
    volt_tensor *c = NULL;
    VOLT_NO_GRAD { c = volt_contiguous(t); }
    return c;
}

static bool is_kernel_dtype(volt_dtype d) { return volt_dtype_is_float(d); }

volt_status volt_cuda_softmax(const char *op, bool log, volt_tensor *out, const volt_tensor *x,
                              int dim) {
    if (!is_kernel_dtype(x->dtype)) return volt_no_cuda_kernel(op, x, NULL);
    volt_tensor *xc = dense(x);
    if (!xc) return volt_error_status();
    int64_t outer, n, inner;
    rows_of(xc, dim, &outer, &n, &inner);
    int device = x->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(volt_cuda_launch_softmax(log, (int)x->dtype, volt_tensor_data(out),
                                                      volt_tensor_data(xc), outer, n, inner,
                                                      volt_cuda_stream(device)),
                             "the softmax kernel");
    if (xc != x) volt_tensor_free(xc);
    return st;
}

volt_status volt_cuda_softmax_backward(const char *op, bool log, volt_tensor *gx,
                                       const volt_tensor *g, const volt_tensor *y, int dim) {
    if (!is_kernel_dtype(y->dtype)) return volt_no_cuda_kernel(op, y, NULL);
    volt_tensor *gc = dense(g);
    if (!gc) return volt_error_status();
    int64_t outer, n, inner;
    rows_of(y, dim, &outer, &n, &inner);
    int device = y->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(volt_cuda_launch_softmax_backward(
                                 log, (int)y->dtype, volt_tensor_data(gx), volt_tensor_data(gc),
                                 volt_tensor_data(y), outer, n, inner, volt_cuda_stream(device)),
                             "the softmax backward kernel");
    if (gc != g) volt_tensor_free(gc);
    return st;
}
