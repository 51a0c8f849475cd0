/* norm.c: the host side of the CUDA layer norm, RMS norm and group norm
 * (cuda_nn.h): the geometry passed through, scratch for the weight and
 * bias gradients' partial sums from the caching allocator, one launch for
 * the forward and at most three for the backward. */
#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_nn.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/nn_kernels.h"

static bool is_kernel_dtype(volt_dtype d) {
    return d == VOLT_F32 || d == VOLT_F64 || d == VOLT_BF16 || d == VOLT_F16;
}

static volt_cuda_norm_geom kernel_geom(const volt_norm_geom *g) {
    return (volt_cuda_norm_geom){g->rows, g->n, g->groups, g->inner, g->rms, g->eps};
}

static void *data_or_null(const volt_tensor *t) { return t ? volt_tensor_data(t) : NULL; }

volt_dtype volt_cuda_norm_stats_dtype(volt_dtype x) { return x == VOLT_F64 ? VOLT_F64 : VOLT_F32; }

volt_status volt_cuda_norm_forward(const char *op, const volt_norm_geom *geom, volt_tensor *y,
                                   volt_tensor *mean, volt_tensor *rstd, const volt_tensor *x,
                                   const volt_tensor *w, const volt_tensor *b) {
    if (!is_kernel_dtype(x->dtype)) return volt_no_cuda_kernel(op, x, NULL);
    int device = x->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st != VOLT_OK) return st;
    volt_cuda_norm_geom g = kernel_geom(geom);
    return VOLT_CUDA_CHECK(volt_cuda_launch_norm_forward(
                               (int)x->dtype, &g, volt_tensor_data(y), volt_tensor_data(mean),
                               volt_tensor_data(rstd), volt_tensor_data(x), data_or_null(w),
                               data_or_null(b), volt_cuda_stream(device)),
                           "the norm forward kernel");
}

volt_status volt_cuda_norm_backward(const char *op, const volt_norm_geom *geom, volt_tensor *gx,
                                    volt_tensor *gw, volt_tensor *gb, const volt_tensor *gy,
                                    const volt_tensor *x, const volt_tensor *mean,
                                    const volt_tensor *rstd, const volt_tensor *w) {
    if (!is_kernel_dtype(x->dtype)) return volt_no_cuda_kernel(op, x, NULL);
    int device = x->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st != VOLT_OK) return st;
    if (geom->rows == 0 || geom->n == 0) { /* no elements: zero weight and bias gradients */
        if (gw && (st = volt_cuda_fill(op, gw, 0.0)) != VOLT_OK) return st;
        if (gb && (st = volt_cuda_fill(op, gb, 0.0)) != VOLT_OK) return st;
        return VOLT_OK;
    }
    volt_cuda_norm_geom g = kernel_geom(geom);
    int64_t count = (gw || gb) ? volt_cuda_norm_partial_count(&g) : 0;
    volt_tensor *partial = NULL;
    if (count > 0) {
        partial = volt_tensor_new(volt_cuda_norm_stats_dtype(x->dtype), x->device, 1, &count);
        if (!partial) return volt_error_status();
    }
    st = VOLT_CUDA_CHECK(volt_cuda_launch_norm_backward(
                             (int)x->dtype, &g, data_or_null(gx), data_or_null(gw),
                             data_or_null(gb), data_or_null(partial), volt_tensor_data(gy),
                             volt_tensor_data(x), volt_tensor_data(mean), volt_tensor_data(rstd),
                             data_or_null(w), volt_cuda_stream(device)),
                         "the norm backward kernels");
    volt_tensor_free(partial);
    return st;
}
