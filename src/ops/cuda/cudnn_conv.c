/* cudnn_conv.c: convolutions on CUDA through cuDNN (cuda_dnn.h) — forward
 * (with bias and the fused ReLU of conv2d_relu), input, weight and bias
 * gradients, grouped and dilated, NCHW. f32 runs with FMA math only (no
 * TF32, like the CPU's f32 and PyTorch's default for convolutions with
 * allow_tf32 off), f64 in f64, bf16 and f16 with f32 accumulation on tensor
 * cores. Each pass's algorithm is chosen once per shape by cuDNN's
 * heuristics (cudnnGet*Algorithm_v7: no trial runs, so no host sync) and
 * cached; workspaces are volt tensors from the caching allocator. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_dnn.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cudnn_kernels.h"
#include "ops/cuda/cudnn_lib.h"

typedef enum { PASS_FORWARD, PASS_DATA, PASS_FILTER } conv_pass;

/* ----------------------------------------------------- algorithm cache */

typedef struct {
    int64_t dims[16]; /* geometry, dtype, device, pass */
    int algo;
    cudnnMathType_t math;
    size_t workspace;
} algo_entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static algo_entry *cache;
static size_t cache_len, cache_cap;

static void key_of(const volt_conv_geom *g, volt_dtype dtype, int device, conv_pass pass,
                   int64_t key[16]) {
    int64_t k[16] = {g->n,
                     g->c,
                     g->h,
                     g->w,
                     g->o,
                     g->kh,
                     g->kw,
                     g->sh,
                     g->sw,
                     g->dh,
                     g->dw,
                     g->ph,
                     g->pw * 64 + g->groups,
                     dtype,
                     device,
                     pass};
    memcpy(key, k, sizeof k);
}

static bool cache_find(const int64_t key[16], algo_entry *out) {
    pthread_mutex_lock(&cache_lock);
    bool found = false;
    for (size_t i = 0; i < cache_len && !found; i++)
        if (memcmp(cache[i].dims, key, sizeof cache[i].dims) == 0) {
            *out = cache[i];
            found = true;
        }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

static void cache_add(const algo_entry *e) {
    pthread_mutex_lock(&cache_lock);
    if (cache_len == cache_cap) {
        size_t cap = cache_cap ? 2 * cache_cap : 64;
        algo_entry *grown = realloc(cache, cap * sizeof *grown);
        if (grown) cache = grown, cache_cap = cap;
    }
    if (cache_len < cache_cap) cache[cache_len++] = *e; /* else: chosen again next time */
    pthread_mutex_unlock(&cache_lock);
}

/* ---------------------------------------------------------- descriptors */

/* The descriptors of one convolution: x [n, c, h, w], y [n, o, oh, ow],
 * the filter and the convolution. */
typedef struct {
    volt_cudnn_ctx ctx;
    volt_dtype dtype;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
} conv_descs;

static void descs_destroy(conv_descs *d) {
    const volt_cudnn_api *api = d->ctx.api;
    if (!api) return;
    if (d->conv) api->DestroyConvolutionDescriptor(d->conv);
    if (d->w) api->DestroyFilterDescriptor(d->w);
    if (d->y) api->DestroyTensorDescriptor(d->y);
    if (d->x) api->DestroyTensorDescriptor(d->x);
}

/* The math cuDNN may use for dtype: FMA only for f32 (no TF32) and f64. */
static cudnnMathType_t math_for(volt_dtype dtype) {
    return volt_dtype_is_16bit(dtype) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
}

static volt_status descs_make(conv_descs *d, const volt_conv_geom *g, const volt_tensor *t) {
    memset(d, 0, sizeof *d);
    d->dtype = t->dtype;
    if (!volt_cudnn_ctx_of(t, &d->ctx)) return volt_error_status();
    const volt_cudnn_api *api = d->ctx.api;
    cudnnDataType_t type, compute;
    volt_cudnn_dtype(t->dtype, &type);
    compute = t->dtype == VOLT_F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    int64_t xs[4] = {g->n, g->c, g->h, g->w}, ys[4] = {g->n, g->o, g->oh, g->ow};
    if (!(d->x = volt_cudnn_tensor_desc(&d->ctx, t->dtype, xs)) ||
        !(d->y = volt_cudnn_tensor_desc(&d->ctx, t->dtype, ys)))
        return volt_error_status();
    if (VOLT_CUDNN_CHECK(api->CreateFilterDescriptor(&d->w), NULL) ||
        VOLT_CUDNN_CHECK(api->SetFilter4dDescriptor(d->w, type, CUDNN_TENSOR_NCHW, (int)g->o,
                                                    (int)(g->c / g->groups), (int)g->kh,
                                                    (int)g->kw),
                         NULL) ||
        VOLT_CUDNN_CHECK(api->CreateConvolutionDescriptor(&d->conv), NULL) ||
        VOLT_CUDNN_CHECK(api->SetConvolution2dDescriptor(
                             d->conv, (int)g->ph, (int)g->pw, (int)g->sh, (int)g->sw, (int)g->dh,
                             (int)g->dw, CUDNN_CROSS_CORRELATION, compute),
                         NULL) ||
        VOLT_CUDNN_CHECK(api->SetConvolutionGroupCount(d->conv, (int)g->groups), NULL) ||
        VOLT_CUDNN_CHECK(api->SetConvolutionMathType(d->conv, math_for(t->dtype)), NULL))
        return volt_error_status();
    return VOLT_OK;
}

/* Whether a heuristic's math type keeps f32 in f32 (no TF32 for f32). */
static bool math_allowed(volt_dtype dtype, cudnnMathType_t math) {
    return volt_dtype_is_16bit(dtype) || math == CUDNN_FMA_MATH ||
           (dtype == VOLT_F64 && math == CUDNN_DEFAULT_MATH);
}

#define PICK(results, n, dtype, e)                                                                 \
    for (int i_ = 0; i_ < (n) && (e)->algo < 0; i_++)                                              \
        if ((results)[i_].status == CUDNN_STATUS_SUCCESS &&                                        \
            math_allowed((dtype), (results)[i_].mathType))                                         \
            (e)->algo = (int)(results)[i_].algo, (e)->math = (results)[i_].mathType,               \
            (e)->workspace = (results)[i_].memory;

/* The algorithm of `pass` for d (cached per shape). */
static volt_status choose(const conv_descs *d, const volt_conv_geom *g, conv_pass pass,
                          algo_entry *e) {
    key_of(g, d->dtype, d->ctx.device, pass, e->dims);
    if (cache_find(e->dims, e)) return VOLT_OK;
    const volt_cudnn_api *api = d->ctx.api;
    e->algo = -1;
    int n = 0;
    volt_status st;
    if (pass == PASS_FORWARD) {
        cudnnConvolutionFwdAlgoPerf_t r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        st = VOLT_CUDNN_CHECK(
            api->GetConvolutionForwardAlgorithm_v7(d->ctx.handle, d->x, d->w, d->conv, d->y,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, r),
            "choosing a convolution algorithm");
        if (!st) PICK(r, n, d->dtype, e)
    } else if (pass == PASS_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        st = VOLT_CUDNN_CHECK(api->GetConvolutionBackwardDataAlgorithm_v7(
                                  d->ctx.handle, d->w, d->y, d->conv, d->x,
                                  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, r),
                              "choosing a convolution algorithm");
        if (!st) PICK(r, n, d->dtype, e)
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        st = VOLT_CUDNN_CHECK(api->GetConvolutionBackwardFilterAlgorithm_v7(
                                  d->ctx.handle, d->x, d->y, d->conv, d->w,
                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, r),
                              "choosing a convolution algorithm");
        if (!st) PICK(r, n, d->dtype, e)
    }
    if (st) return st;
    if (e->algo < 0) {
        static const char *const names[] = {"forward", "input gradient", "weight gradient"};
        return volt_error_set(VOLT_ERR_DEVICE,
                              "conv2d: cuDNN has no %s algorithm for %s [%lld,%lld,%lld,%lld] "
                              "with weight [%lld,%lld,%lld,%lld] (groups %lld)",
                              names[pass], volt_dtype_name(d->dtype), (long long)g->n,
                              (long long)g->c, (long long)g->h, (long long)g->w, (long long)g->o,
                              (long long)(g->c / g->groups), (long long)g->kh, (long long)g->kw,
                              (long long)g->groups);
    }
    cache_add(e);
    return VOLT_OK;
}

/* A workspace of e->workspace bytes (NULL tensor for none); false with an
 * error. Freed by the caller after queueing its call: the caching
 * allocator reuses it only for work queued later on the same stream. */
static bool workspace_for(const conv_descs *d, const algo_entry *e, volt_tensor **ws) {
    *ws = NULL;
    if (e->workspace == 0) return true;
    *ws = volt_tensor_new(VOLT_U8, (volt_device){VOLT_CUDA, d->ctx.device}, 1,
                          (int64_t[]){(int64_t)e->workspace});
    return *ws != NULL;
}

/* ------------------------------------------------------------- checks */

bool volt_cuda_conv_supported(const char *op, const volt_conv_geom *g, const volt_tensor *x) {
    cudnnDataType_t type;
    if (!volt_cudnn_dtype(x->dtype, &type)) {
        volt_no_cuda_kernel(op, x, NULL);
        return false;
    }
    int64_t sizes[] = {g->n,  g->c,  g->h,  g->w,  g->o,  g->oh, g->ow, g->kh,
                       g->kw, g->sh, g->sw, g->dh, g->dw, g->ph, g->pw, g->groups};
    if (!volt_cudnn_fits_int((int)(sizeof sizes / sizeof sizes[0]), sizes) ||
        g->n * g->c * g->h * g->w > INT32_MAX || g->n * g->o * g->oh * g->ow > INT32_MAX) {
        volt_no_cuda_kernel(op, x, "sizes beyond 2^31");
        return false;
    }
    /* cuDNN pads both sides alike: the output size must follow from that. */
    int64_t oh = (g->h + 2 * g->ph - g->dh * (g->kh - 1) - 1) / g->sh + 1;
    int64_t ow = (g->w + 2 * g->pw - g->dw * (g->kw - 1) - 1) / g->sw + 1;
    if (oh != g->oh || ow != g->ow) {
        volt_no_cuda_kernel(op, x, "asymmetric padding");
        return false;
    }
    return true;
}

/* ----------------------------------------------------------------- ops */

volt_status volt_cuda_channel_add(volt_tensor *y, const volt_tensor *b) {
    volt_cudnn_ctx ctx;
    if (!volt_cudnn_ctx_of(y, &ctx)) return volt_error_status();
    int64_t bs[4] = {1, b->shape[0], 1, 1};
    cudnnTensorDescriptor_t dy = volt_cudnn_tensor_desc(&ctx, y->dtype, y->shape);
    cudnnTensorDescriptor_t db = dy ? volt_cudnn_tensor_desc(&ctx, b->dtype, bs) : NULL;
    volt_cudnn_scalar one = volt_cudnn_scalar_of(y->dtype, 1.0);
    volt_status st =
        db ? VOLT_CUDNN_CHECK(ctx.api->AddTensor(ctx.handle, &one, db, volt_tensor_data(b), &one,
                                                 dy, volt_tensor_data(y)),
                              "adding the bias")
           : volt_error_status();
    if (db) ctx.api->DestroyTensorDescriptor(db);
    if (dy) ctx.api->DestroyTensorDescriptor(dy);
    return st;
}

volt_status volt_cuda_channel_sum(const volt_tensor *dy, volt_tensor *db) {
    /* Our own kernel: cudnnConvolutionBackwardBias refuses some dtypes. */
    int64_t n = dy->shape[0], c = dy->shape[1], s = volt_tensor_numel(dy) / (n * c > 0 ? n * c : 1);
    if (c == 0) return VOLT_OK;
    if (n * s == 0) return volt_cuda_fill("conv2d", db, 0.0);
    if (volt_cuda_set_device(db->device.index)) return volt_error_status();
    return VOLT_CUDA_CHECK(volt_cudnn_launch_channel_sum(volt_tensor_data(db), volt_tensor_data(dy),
                                                         n, c, s, (int)db->dtype,
                                                         volt_cuda_stream(db->device.index)),
                           "the bias gradient");
}

volt_status volt_cuda_relu_mask(volt_tensor *out, const volt_tensor *g, const volt_tensor *y) {
    if (volt_cuda_set_device(out->device.index)) return volt_error_status();
    int64_t n = volt_tensor_numel(out);
    if (n == 0) return VOLT_OK;
    return VOLT_CUDA_CHECK(volt_cudnn_launch_relu_mask(volt_tensor_data(out), volt_tensor_data(g),
                                                       volt_tensor_data(y), n, (int)out->dtype,
                                                       volt_cuda_stream(out->device.index)),
                           "the ReLU's backward of conv2d_relu");
}

volt_status volt_cuda_conv_forward(const volt_conv_geom *g, const volt_tensor *x,
                                   const volt_tensor *w, const volt_tensor *b, volt_tensor *y,
                                   bool relu) {
    if (volt_tensor_numel(y) == 0) return VOLT_OK;
    conv_descs d;
    algo_entry e;
    volt_tensor *ws = NULL;
    volt_status st = descs_make(&d, g, x);
    if (!st) st = choose(&d, g, PASS_FORWARD, &e);
    if (!st && !workspace_for(&d, &e, &ws)) st = volt_error_status();
    if (!st) st = VOLT_CUDNN_CHECK(d.ctx.api->SetConvolutionMathType(d.conv, e.math), NULL);
    volt_cudnn_scalar one = volt_cudnn_scalar_of(x->dtype, 1.0);
    volt_cudnn_scalar zero = volt_cudnn_scalar_of(x->dtype, 0.0);
    if (!st)
        st = VOLT_CUDNN_CHECK(d.ctx.api->ConvolutionForward(
                                  d.ctx.handle, &one, d.x, volt_tensor_data(x), d.w,
                                  volt_tensor_data(w), d.conv, (cudnnConvolutionFwdAlgo_t)e.algo,
                                  ws ? volt_tensor_data(ws) : NULL, e.workspace, &zero, d.y,
                                  volt_tensor_data(y)),
                              "the convolution");
    volt_tensor_free(ws);
    descs_destroy(&d);
    if (!st && b) st = volt_cuda_channel_add(y, b);
    if (!st && relu)
        st = VOLT_CUDA_CHECK(volt_cudnn_launch_relu(volt_tensor_data(y), volt_tensor_numel(y),
                                                    (int)y->dtype,
                                                    volt_cuda_stream(y->device.index)),
                             "the ReLU of conv2d_relu");
    return st;
}

volt_status volt_cuda_conv_backward_data(const volt_conv_geom *g, const volt_tensor *dy,
                                         const volt_tensor *w, volt_tensor *dx) {
    if (volt_tensor_numel(dx) == 0) return VOLT_OK;
    conv_descs d;
    algo_entry e;
    volt_tensor *ws = NULL;
    volt_status st = descs_make(&d, g, dy);
    if (!st) st = choose(&d, g, PASS_DATA, &e);
    if (!st && !workspace_for(&d, &e, &ws)) st = volt_error_status();
    if (!st) st = VOLT_CUDNN_CHECK(d.ctx.api->SetConvolutionMathType(d.conv, e.math), NULL);
    volt_cudnn_scalar one = volt_cudnn_scalar_of(dy->dtype, 1.0);
    volt_cudnn_scalar zero = volt_cudnn_scalar_of(dy->dtype, 0.0);
    if (!st)
        st = VOLT_CUDNN_CHECK(
            d.ctx.api->ConvolutionBackwardData(
                d.ctx.handle, &one, d.w, volt_tensor_data(w), d.y, volt_tensor_data(dy), d.conv,
                (cudnnConvolutionBwdDataAlgo_t)e.algo, ws ? volt_tensor_data(ws) : NULL,
                e.workspace, &zero, d.x, volt_tensor_data(dx)),
            "the convolution's input gradient");
    volt_tensor_free(ws);
    descs_destroy(&d);
    return st;
}

volt_status volt_cuda_conv_backward_filter(const volt_conv_geom *g, const volt_tensor *x,
                                           const volt_tensor *dy, volt_tensor *dw) {
    if (volt_tensor_numel(dw) == 0) return VOLT_OK;
    if (g->n * g->oh * g->ow == 0) return volt_cuda_fill("conv2d", dw, 0.0); /* an empty sum */
    conv_descs d;
    algo_entry e;
    volt_tensor *ws = NULL;
    volt_status st = descs_make(&d, g, dy);
    if (!st) st = choose(&d, g, PASS_FILTER, &e);
    if (!st && !workspace_for(&d, &e, &ws)) st = volt_error_status();
    if (!st) st = VOLT_CUDNN_CHECK(d.ctx.api->SetConvolutionMathType(d.conv, e.math), NULL);
    volt_cudnn_scalar one = volt_cudnn_scalar_of(dy->dtype, 1.0);
    volt_cudnn_scalar zero = volt_cudnn_scalar_of(dy->dtype, 0.0);
    if (!st)
        st = VOLT_CUDNN_CHECK(
            d.ctx.api->ConvolutionBackwardFilter(
                d.ctx.handle, &one, d.x, volt_tensor_data(x), d.y, volt_tensor_data(dy), d.conv,
                (cudnnConvolutionBwdFilterAlgo_t)e.algo, ws ? volt_tensor_data(ws) : NULL,
                e.workspace, &zero, d.w, volt_tensor_data(dw)),
            "the convolution's weight gradient");
    volt_tensor_free(ws);
    descs_destroy(&d);
    return st;
}
