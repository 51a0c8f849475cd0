/* cudnn_bn.c: batch normalisation on CUDA through cuDNN (cuda_dnn.h) —
 * training (batch statistics, running statistics updated by cuDNN with the
 * unbiased variance, as the CPU op does) and eval, forward and backward,
 * over x seen as [n, c, s, 1] (cuDNN's spatial mode), f32 and f64. The
 * eval-mode backward is expressed with cuDNN calls too: dx is an inference
 * pass over dy (mean 0, the running variance, scale w), dw the weight
 * gradient of a depthwise 1x1 convolution of the normalised x with dy. */
#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_dnn.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cudnn_lib.h"

/* A new [c] tensor of x's dtype and device filled with v; NULL with an
 * error. */
static volt_tensor *channel_const(const volt_tensor *x, int64_t c, double v) {
    volt_tensor *t = volt_tensor_new(x->dtype, x->device, 1, (int64_t[]){c});
    if (t && volt_cuda_fill("batch_norm", t, v)) {
        volt_tensor_free(t);
        t = NULL;
    }
    return t;
}

/* The descriptors of x [n, c, s, 1] and of the per-channel [1, c, 1, 1]. */
typedef struct {
    volt_cudnn_ctx ctx;
    cudnnTensorDescriptor_t x, ch;
} bn_descs;

static void descs_destroy(bn_descs *d) {
    if (d->ch) d->ctx.api->DestroyTensorDescriptor(d->ch);
    if (d->x) d->ctx.api->DestroyTensorDescriptor(d->x);
}

static volt_status descs_make(bn_descs *d, const volt_bn_geom *g, const volt_tensor *x) {
    *d = (bn_descs){0};
    if (!volt_cudnn_ctx_of(x, &d->ctx)) return volt_error_status();
    int64_t xs[4] = {g->n, g->c, g->s, 1}, cs[4] = {1, g->c, 1, 1};
    if (!volt_cudnn_fits_int(4, xs) || g->n * g->c * g->s > INT32_MAX)
        return volt_no_cuda_kernel("batch_norm", x, "sizes beyond 2^31");
    if (!(d->x = volt_cudnn_tensor_desc(&d->ctx, x->dtype, xs)) ||
        !(d->ch = volt_cudnn_tensor_desc(&d->ctx, x->dtype, cs)))
        return volt_error_status();
    return VOLT_OK;
}

/* y = (x - mean) / sqrt(var + eps) * w + b, statistics given. */
static volt_status inference(const bn_descs *d, const volt_bn_geom *g, const volt_tensor *x,
                             volt_tensor *y, const volt_tensor *w, const volt_tensor *b,
                             const volt_tensor *mean, const volt_tensor *var) {
    volt_cudnn_scalar one = volt_cudnn_scalar_of(x->dtype, 1.0);
    volt_cudnn_scalar zero = volt_cudnn_scalar_of(x->dtype, 0.0);
    return VOLT_CUDNN_CHECK(d->ctx.api->BatchNormalizationForwardInference(
                                d->ctx.handle, CUDNN_BATCHNORM_SPATIAL, &one, &zero, d->x,
                                volt_tensor_data(x), d->x, volt_tensor_data(y), d->ch,
                                volt_tensor_data(w), volt_tensor_data(b), volt_tensor_data(mean),
                                volt_tensor_data(var), g->eps),
                            "batch norm (eval)");
}

volt_status volt_cuda_batch_norm_forward(const volt_bn_geom *g, const volt_tensor *x,
                                         volt_tensor *y, volt_tensor *running_mean,
                                         volt_tensor *running_var, const volt_tensor *w,
                                         const volt_tensor *b, double momentum,
                                         volt_tensor *save_mean, volt_tensor *save_invstd) {
    if (g->c == 0) return VOLT_OK;
    bn_descs d;
    volt_status st = descs_make(&d, g, x);
    volt_tensor *ones = !st && !w ? channel_const(x, g->c, 1.0) : NULL;
    volt_tensor *zeros = !st && !b ? channel_const(x, g->c, 0.0) : NULL;
    if (!st && ((!w && !ones) || (!b && !zeros))) st = volt_error_status();
    const volt_tensor *scale = w ? w : ones, *shift = b ? b : zeros;
    volt_cudnn_scalar one = volt_cudnn_scalar_of(x->dtype, 1.0);
    volt_cudnn_scalar zero = volt_cudnn_scalar_of(x->dtype, 0.0);
    if (!st && g->training)
        st = VOLT_CUDNN_CHECK(d.ctx.api->BatchNormalizationForwardTraining(
                                  d.ctx.handle, CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.x,
                                  volt_tensor_data(x), d.x, volt_tensor_data(y), d.ch,
                                  volt_tensor_data(scale), volt_tensor_data(shift), momentum,
                                  running_mean ? volt_tensor_data(running_mean) : NULL,
                                  running_var ? volt_tensor_data(running_var) : NULL, g->eps,
                                  volt_tensor_data(save_mean), volt_tensor_data(save_invstd)),
                              "batch norm (training)");
    else if (!st)
        st = inference(&d, g, x, y, scale, shift, running_mean, running_var);
    volt_tensor_free(ones);
    volt_tensor_free(zeros);
    descs_destroy(&d);
    return st;
}

volt_status volt_cuda_batch_norm_backward(const volt_bn_geom *g, const volt_tensor *x,
                                          const volt_tensor *dy, const volt_tensor *w,
                                          const volt_tensor *save_mean,
                                          const volt_tensor *save_invstd, volt_tensor *dx,
                                          volt_tensor *dw, volt_tensor *db) {
    if (g->c == 0) return VOLT_OK;
    bn_descs d;
    volt_status st = descs_make(&d, g, x);
    volt_tensor *ones = !st && !w ? channel_const(x, g->c, 1.0) : NULL;
    if (!st && !w && !ones) st = volt_error_status();
    volt_cudnn_scalar one = volt_cudnn_scalar_of(x->dtype, 1.0);
    volt_cudnn_scalar zero = volt_cudnn_scalar_of(x->dtype, 0.0);
    if (!st)
        st = VOLT_CUDNN_CHECK(d.ctx.api->BatchNormalizationBackward(
                                  d.ctx.handle, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero,
                                  d.x, volt_tensor_data(x), d.x, volt_tensor_data(dy), d.x,
                                  volt_tensor_data(dx), d.ch, volt_tensor_data(w ? w : ones),
                                  volt_tensor_data(dw), volt_tensor_data(db), g->eps,
                                  volt_tensor_data(save_mean), volt_tensor_data(save_invstd)),
                              "batch norm's gradient");
    volt_tensor_free(ones);
    descs_destroy(&d);
    return st;
}

volt_status volt_cuda_batch_norm_backward_eval(const volt_bn_geom *g, const volt_tensor *x,
                                               const volt_tensor *dy, const volt_tensor *w,
                                               const volt_tensor *mean, const volt_tensor *var,
                                               volt_tensor *dx, volt_tensor *dw, volt_tensor *db) {
    if (g->c == 0) return VOLT_OK;
    bn_descs d;
    volt_status st = descs_make(&d, g, x);
    volt_tensor *ones = !st ? channel_const(x, g->c, 1.0) : NULL;
    volt_tensor *zeros = ones ? channel_const(x, g->c, 0.0) : NULL;
    volt_tensor *xhat = zeros ? volt_tensor_new(x->dtype, x->device, 4, x->shape) : NULL;
    if (!st && !xhat) st = volt_error_status();
    /* dx = dy * w / sqrt(var + eps): the inference pass over dy, mean 0. */
    if (!st) st = inference(&d, g, dy, dx, w ? w : ones, zeros, zeros, var);
    /* xhat = (x - mean) / sqrt(var + eps); dw = sum(dy * xhat) per channel:
     * the weight gradient of a depthwise 1x1 convolution. */
    if (!st) st = inference(&d, g, x, xhat, ones, zeros, mean, var);
    volt_conv_geom cg = {.n = g->n,
                         .c = g->c,
                         .h = g->s,
                         .w = 1,
                         .o = g->c,
                         .oh = g->s,
                         .ow = 1,
                         .kh = 1,
                         .kw = 1,
                         .sh = 1,
                         .sw = 1,
                         .dh = 1,
                         .dw = 1,
                         .groups = g->c};
    volt_tensor *dw4 =
        !st ? volt_tensor_alias(dw, 4, (int64_t[]){g->c, 1, 1, 1}, NULL, dw->offset) : NULL;
    if (!st && !dw4) st = volt_error_status();
    if (!st) st = volt_cuda_conv_backward_filter(&cg, xhat, dy, dw4);
    if (!st) st = volt_cuda_channel_sum(dy, db);
    volt_tensor_free(dw4);
    volt_tensor_free(xhat);
    volt_tensor_free(zeros);
    volt_tensor_free(ones);
    descs_destroy(&d);
    return st;
}
