/* pool_direct.c: the host side of volt's own CUDA pooling kernels
 * (pool_kernels.h, pool.cu) — what cuDNN does not take: max pooling with
 * indices, dilation, ceil_mode's extra window (cuda_dnn.h). */
#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_dnn.h"
#include "ops/cuda/pool_kernels.h"

static volt_pool_dims dims_of(const volt_pool_geom *g) {
    return (volt_pool_dims){g->n,  g->c,  g->h,  g->w,  g->oh,
                            g->ow, g->kh, g->kw, g->sh, g->sw,
                            g->ph, g->pw, g->dh, g->dw, g->count_include_pad};
}

volt_status volt_cuda_pool_direct_forward(bool max, const volt_pool_geom *g, const volt_tensor *x,
                                          volt_tensor *y, volt_tensor *indices) {
    if (volt_tensor_numel(y) == 0) return VOLT_OK;
    if (volt_cuda_set_device(y->device.index)) return volt_error_status();
    volt_pool_dims d = dims_of(g);
    void *stream = volt_cuda_stream(y->device.index);
    int rc =
        max ? volt_cuda_launch_max_pool((int)y->dtype, volt_tensor_data(y),
                                        volt_tensor_data(indices), volt_tensor_data(x), &d, stream)
            : volt_cuda_launch_avg_pool((int)y->dtype, volt_tensor_data(y), volt_tensor_data(x), &d,
                                        stream);
    return VOLT_CUDA_CHECK(rc, max ? "max_pool2d" : "avg_pool2d");
}

volt_status volt_cuda_pool_direct_backward(bool max, const volt_pool_geom *g,
                                           const volt_tensor *indices, const volt_tensor *dy,
                                           volt_tensor *dx) {
    if (volt_tensor_numel(dx) == 0) return VOLT_OK;
    if (volt_cuda_set_device(dx->device.index)) return volt_error_status();
    volt_pool_dims d = dims_of(g);
    void *stream = volt_cuda_stream(dx->device.index);
    int rc = max ? volt_cuda_launch_max_pool_backward((int)dx->dtype, volt_tensor_data(dx),
                                                      volt_tensor_data(dy),
                                                      volt_tensor_data(indices), &d, stream)
                 : volt_cuda_launch_avg_pool_backward((int)dx->dtype, volt_tensor_data(dx),
                                                      volt_tensor_data(dy), &d, stream);
    return VOLT_CUDA_CHECK(rc, max ? "max_pool2d's gradient" : "avg_pool2d's gradient");
}
