/* cudnn_pool.c: 2-D max and average pooling on CUDA through cuDNN
 * (cuda_dnn.h), forward and backward, NCHW, f32 / f64 / bf16 / f16. Max
 * pooling uses cuDNN's deterministic mode; its backward recomputes each
 * window's maximum from x and y (nothing saved beyond them). */
#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_dnn.h"
#include "ops/cuda/cudnn_lib.h"

bool volt_cuda_pool_cudnn_takes(const volt_pool_geom *g, const volt_tensor *x) {
    cudnnDataType_t type;
    int64_t sizes[] = {g->n,  g->c,  g->h,  g->w,  g->oh, g->ow,
                       g->kh, g->kw, g->sh, g->sw, g->ph, g->pw};
    return volt_cudnn_dtype(x->dtype, &type) &&
           volt_cudnn_fits_int((int)(sizeof sizes / sizeof sizes[0]), sizes) &&
           g->n * g->c * g->h * g->w <= INT32_MAX && g->dh == 1 && g->dw == 1 &&
           (g->h + 2 * g->ph - g->kh) / g->sh + 1 == g->oh &&
           (g->w + 2 * g->pw - g->kw) / g->sw + 1 == g->ow;
}

/* The descriptors of one pooling. */
typedef struct {
    volt_cudnn_ctx ctx;
    cudnnTensorDescriptor_t x, y;
    cudnnPoolingDescriptor_t pool;
} pool_descs;

static void descs_destroy(pool_descs *d) {
    const volt_cudnn_api *api = d->ctx.api;
    if (!api) return;
    if (d->pool) api->DestroyPoolingDescriptor(d->pool);
    if (d->y) api->DestroyTensorDescriptor(d->y);
    if (d->x) api->DestroyTensorDescriptor(d->x);
}

static volt_status descs_make(pool_descs *d, bool max, const volt_pool_geom *g,
                              const volt_tensor *x) {
    *d = (pool_descs){0};
    if (!volt_cudnn_ctx_of(x, &d->ctx)) return volt_error_status();
    int64_t xs[4] = {g->n, g->c, g->h, g->w}, ys[4] = {g->n, g->c, g->oh, g->ow};
    if (!(d->x = volt_cudnn_tensor_desc(&d->ctx, x->dtype, xs)) ||
        !(d->y = volt_cudnn_tensor_desc(&d->ctx, x->dtype, ys)))
        return volt_error_status();
    cudnnPoolingMode_t mode = max                    ? CUDNN_POOLING_MAX_DETERMINISTIC
                              : g->count_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                     : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
    const volt_cudnn_api *api = d->ctx.api;
    if (VOLT_CUDNN_CHECK(api->CreatePoolingDescriptor(&d->pool), NULL) ||
        VOLT_CUDNN_CHECK(api->SetPooling2dDescriptor(d->pool, mode, CUDNN_PROPAGATE_NAN, (int)g->kh,
                                                     (int)g->kw, (int)g->ph, (int)g->pw, (int)g->sh,
                                                     (int)g->sw),
                         NULL))
        return volt_error_status();
    return VOLT_OK;
}

volt_status volt_cuda_pool_forward(bool max, const volt_pool_geom *g, const volt_tensor *x,
                                   volt_tensor *y) {
    if (volt_tensor_numel(y) == 0) return VOLT_OK;
    pool_descs d;
    volt_status st = descs_make(&d, max, g, x);
    volt_cudnn_scalar one = volt_cudnn_scalar_of(x->dtype, 1.0);
    volt_cudnn_scalar zero = volt_cudnn_scalar_of(x->dtype, 0.0);
    if (!st)
        st = VOLT_CUDNN_CHECK(d.ctx.api->PoolingForward(d.ctx.handle, d.pool, &one, d.x,
                                                        volt_tensor_data(x), &zero, d.y,
                                                        volt_tensor_data(y)),
                              "the pooling");
    descs_destroy(&d);
    return st;
}

volt_status volt_cuda_pool_backward(bool max, const volt_pool_geom *g, const volt_tensor *x,
                                    const volt_tensor *y, const volt_tensor *dy, volt_tensor *dx) {
    if (volt_tensor_numel(dx) == 0) return VOLT_OK;
    pool_descs d;
    volt_status st = descs_make(&d, max, g, dx);
    volt_cudnn_scalar one = volt_cudnn_scalar_of(dx->dtype, 1.0);
    volt_cudnn_scalar zero = volt_cudnn_scalar_of(dx->dtype, 0.0);
    /* Average pooling reads neither x nor y: dy stands in for them. */
    const void *px = x ? volt_tensor_data(x) : volt_tensor_data(dx);
    const void *py = y ? volt_tensor_data(y) : volt_tensor_data(dy);
    if (!st)
        st = VOLT_CUDNN_CHECK(d.ctx.api->PoolingBackward(d.ctx.handle, d.pool, &one, d.y, py, d.y,
                                                         volt_tensor_data(dy), d.x, px, &zero, d.x,
                                                         volt_tensor_data(dx)),
                              "the pooling's gradient");
    descs_destroy(&d);
    return st;
}
