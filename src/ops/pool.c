/* pool.c: 2-D pooling — max_pool2d (indices optional), avg_pool2d and
 * adaptive_avg_pool2d — with PyTorch's output sizes (ceil_mode), validation,
 * unbatched inputs and gradients. f32 max pooling 2x2 / stride 2 goes to
 * the direct kernels (ops/cpu/pool_fast.c; a one-byte argmax per output
 * kept for the backward pass), other f32 pooling to oneDNN
 * (ops/cpu/dnnl_pool.c; max pooling keeps its workspace), f64, max pooling
 * with indices and what oneDNN declines to the reference kernels
 * (ops/cpu/pool_ref.c). CUDA tensors (f32, f64, bf16, f16) go to cuDNN
 * (ops/cuda/cuda_dnn.h) in their own dtype, max pooling there saving x and
 * y for its backward pass; what cuDNN does not take (indices, dilation,
 * ceil_mode's extra window) to volt's own kernels (ops/cuda/pool.cu, max
 * pooling saving its indices); an adaptive average pool with unequal
 * windows runs as two products. */
#include <stdlib.h>

#include "ops/conv_impl.h"
#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/dnnl_pool.h"
#include "ops/cpu/pool_fast.h"
#include "ops/cuda/cuda_dnn.h"

typedef enum { POOL_MAX, POOL_AVG, POOL_ADAPTIVE } pool_kind;

/* What saved slot 0 of a max-pooling node holds. */
typedef enum {
    SAVED_INDICES,
    SAVED_DNNL_WORKSPACE,
    SAVED_ARGMAX_2X2,
    SAVED_CUDA,       /* cuDNN: slot 0 the dense x, slot 1 the output (max pooling) */
    SAVED_CUDA_DIRECT /* volt's CUDA kernels: slot 0 the indices (max pooling) */
} saved_kind;

/* node->extra: the geometry; iargs[0]: the kind; iargs[1]: the saved_kind
 * (max pooling). */
typedef struct {
    volt_pool_geom g;
} pool_info;

static bool use_dnnl(const volt_tensor *t) {
    return t->dtype == VOLT_F32 && volt_fast_kernels_enabled();
}

static volt_status pool_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("pool_backward");
    const volt_pool_geom *geo = &((const pool_info *)node->extra)->g;
    pool_kind kind = (pool_kind)node->iargs[0];
    const volt_node_input *in = &node->inputs[0];
    const volt_tensor *gd = volt_as_dtype(g, in->dtype);
    volt_tensor *g4 =
        gd ? volt_dense_as(gd, 4, (int64_t[]){geo->n, geo->c, geo->oh, geo->ow}) : NULL;
    volt_tensor *gx =
        g4 ? volt_tensor_new(in->dtype, g->device, 4, (int64_t[]){geo->n, geo->c, geo->h, geo->w})
           : NULL;
    volt_status st = gx ? VOLT_ERR_UNSUPPORTED : volt_error_status();
    if (gx && (saved_kind)node->iargs[1] == SAVED_CUDA) {
        bool max = kind == POOL_MAX;
        volt_tensor *y4 = max ? volt_dense_as(volt_node_saved(node, 1), 4, g4->shape) : NULL;
        st = max && !y4 ? volt_error_status()
                        : volt_cuda_pool_backward(max, geo, max ? volt_node_saved(node, 0) : NULL,
                                                  y4, g4, gx);
        volt_tensor_free(y4);
    } else if (gx && (saved_kind)node->iargs[1] == SAVED_CUDA_DIRECT) {
        bool max = kind == POOL_MAX;
        st =
            volt_cuda_pool_direct_backward(max, geo, max ? volt_node_saved(node, 0) : NULL, g4, gx);
    } else if (kind == POOL_MAX && gx) {
        volt_tensor *saved = volt_node_saved(node, 0);
        saved_kind sk = (saved_kind)node->iargs[1];
        if (sk == SAVED_ARGMAX_2X2) {
            volt_cpu_max_pool2x2_backward_f32(geo, volt_tensor_data(g4), volt_tensor_data(saved),
                                              volt_tensor_data(gx));
            st = VOLT_OK;
        } else {
            st = sk == SAVED_DNNL_WORKSPACE ? volt_dnnl_pool_backward(geo, true, g4, saved, gx)
                                            : volt_cpu_max_pool_backward_ref(geo, g4, saved, gx);
        }
    } else if (gx) {
        if (kind == POOL_AVG && use_dnnl(gx))
            st = volt_dnnl_pool_backward(geo, false, g4, NULL, gx);
        if (st == VOLT_ERR_UNSUPPORTED)
            st = kind == POOL_AVG ? volt_cpu_avg_pool_backward_ref(geo, g4, gx)
                                  : volt_cpu_adaptive_avg_pool_backward_ref(geo, g4, gx);
    }
    if (st == VOLT_ERR_UNSUPPORTED)
        st = volt_error_set(VOLT_ERR_INTERNAL, "%s: no backward kernel", node->name);
    volt_tensor_free(g4);
    if (st != VOLT_OK) {
        volt_tensor_free(gx);
        return st;
    }
    grads[0] = in->ndim == 4 ? gx : volt_tensor_alias(gx, in->ndim, in->shape, NULL, gx->offset);
    if (grads[0] != gx) volt_tensor_free(gx);
    return VOLT_OK;
}

/* ---------------------------------------------------------- validation */

typedef struct {
    const char *op;
    int64_t kernel[2], stride[2], padding[2], dilation[2];
    bool ceil_mode;
} pool_args;

static bool check_input(const char *op, const volt_tensor *x) {
    if (!volt_check_not_null(op, x, "x")) return false;
    /* CUDA: every float dtype has a kernel (cuDNN's or volt's). */
    if (x->device.type == VOLT_CUDA ? !volt_check_float(op, x)
                                    : x->dtype != VOLT_BF16 && !volt_check_f32_f64(op, x))
        return false;
    if (x->ndim != 3 && x->ndim != 4) {
        char b[96];
        volt_error_set(VOLT_ERR_SHAPE, "%s: input %s: expected a 3-D or 4-D input", op,
                       volt_shape_only(x, b, sizeof b));
        return false;
    }
    return true;
}

/* PyTorch's pooling_output_shape, with its checks. */
static bool pool_dim(const pool_args *a, const volt_tensor *x, int i, int64_t in, int64_t *out) {
    int64_t k = a->kernel[i], s = a->stride[i], p = a->padding[i], d = a->dilation[i];
    char b[96];
    volt_shape_only(x, b, sizeof b);
    const char *what = k < 1 ? "kernel_size" : s < 1 ? "stride" : d < 1 ? "dilation" : NULL;
    if (what || p < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: input %s: %s %lld is invalid (%s)", a->op, b,
                       what ? what : "padding",
                       (long long)(k < 1   ? k
                                   : s < 1 ? s
                                   : d < 1 ? d
                                           : p),
                       what ? "must be >= 1" : "must be >= 0");
        return false;
    }
    int64_t span = d * (k - 1) + 1;
    if (p > span / 2) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: input %s: padding %lld should be at most half "
                       "of the (dilated) kernel %lld",
                       a->op, b, (long long)p, (long long)span);
        return false;
    }
    int64_t num = in + 2 * p - span + (a->ceil_mode ? s - 1 : 0);
    *out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (a->ceil_mode && (*out - 1) * s >= in + p) --*out;
    if (*out < 1) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: input %s: kernel %lld (dilated: %lld) larger than the "
                       "padded input (%lld) in dim %d",
                       a->op, b, (long long)k, (long long)span, (long long)(in + 2 * p),
                       x->ndim - 2 + i);
        return false;
    }
    return true;
}

/* ----------------------------------------------------------------- op */

/* The direct 2x2 max-pooling kernel; *argmax (when the backward pass will
 * need it) a new u8 tensor of y's shape. */
static volt_status max_pool_2x2(const volt_pool_geom *g, const volt_tensor *x4, volt_tensor *y,
                                bool want_grad, volt_tensor **argmax) {
    if (want_grad && !(*argmax = volt_tensor_new(VOLT_U8, y->device, 4, y->shape)))
        return volt_error_status();
    volt_cpu_max_pool2x2_f32(g, volt_tensor_data(x4), volt_tensor_data(y),
                             want_grad ? volt_tensor_data(*argmax) : NULL);
    return VOLT_OK;
}

/* Runs the forward kernel; *saved receives what max pooling's backward
 * needs (argmax, workspace or indices), *saved_as which one. */
static volt_status pool_forward(pool_kind kind, const volt_pool_geom *g, const volt_tensor *x4,
                                volt_tensor *y, bool want_indices, bool want_grad,
                                volt_tensor **saved, saved_kind *saved_as) {
    volt_status st = VOLT_ERR_UNSUPPORTED;
    *saved_as = SAVED_INDICES;
    if (kind == POOL_MAX && use_dnnl(y) && !want_indices && volt_cpu_max_pool2x2_applies(g)) {
        *saved_as = SAVED_ARGMAX_2X2;
        return max_pool_2x2(g, x4, y, want_grad, saved);
    }
    if (kind != POOL_ADAPTIVE && use_dnnl(y) && !want_indices) {
        st = volt_dnnl_pool_forward(g, kind == POOL_MAX, x4, y,
                                    kind == POOL_MAX && want_grad ? saved : NULL);
        if (st == VOLT_OK) *saved_as = SAVED_DNNL_WORKSPACE;
    }
    if (st != VOLT_ERR_UNSUPPORTED) return st;
    if (kind == POOL_AVG) return volt_cpu_avg_pool_ref(g, x4, y);
    if (kind == POOL_ADAPTIVE) return volt_cpu_adaptive_avg_pool_ref(g, x4, y);
    if (!want_indices && !want_grad) return volt_cpu_max_pool_ref(g, x4, y, NULL);
    *saved = volt_tensor_new(VOLT_I64, x4->device, 4, y->shape);
    return *saved ? volt_cpu_max_pool_ref(g, x4, y, *saved) : volt_error_status();
}

/* Back to the caller's rank (3-D input: drop N). */
static volt_tensor *unbatch(volt_tensor *t, const volt_tensor *x) {
    if (!t || x->ndim == 4) return t;
    volt_tensor *v = volt_tensor_alias(t, 3, t->shape + 1, NULL, t->offset);
    volt_tensor_free(t);
    return v;
}

/* Pooling on CUDA: cuDNN when it takes the geometry and no indices are
 * wanted, else volt's kernels, which write max pooling's indices to a new
 * *saved (kept for the backward pass or returned). */
static volt_status cuda_pool_forward(pool_kind kind, const char *op, const volt_pool_geom *g,
                                     const volt_tensor *x4, volt_tensor *y, bool want_indices,
                                     volt_tensor **saved, saved_kind *saved_as) {
    bool max = kind == POOL_MAX;
    if (kind == POOL_ADAPTIVE) /* volt_adaptive_avg_pool2d composes it */
        return volt_no_cuda_kernel(op, x4, "windows of unequal sizes");
    if (!want_indices && volt_cuda_pool_cudnn_takes(g, x4)) {
        *saved_as = SAVED_CUDA;
        return volt_cuda_pool_forward(max, g, x4, y);
    }
    *saved_as = SAVED_CUDA_DIRECT;
    if (max && !(*saved = volt_tensor_new(VOLT_I64, x4->device, 4, y->shape)))
        return volt_error_status();
    return volt_cuda_pool_direct_forward(max, g, x4, y, max ? *saved : NULL);
}

static volt_tensor *pool_op(pool_kind kind, const char *op, const volt_tensor *x,
                            volt_pool_geom geo, volt_tensor **indices) {
    VOLT_TRACE_OP(op);
    bool cuda = x->device.type == VOLT_CUDA;
    /* bf16 on the CPU: pooled in f32, rounded back (exact for max pooling). */
    if (!cuda) {
        VOLT_BF16_VIA_F32(x, w, pool_op(kind, op, w, geo, indices))
    }
    bool batched = x->ndim == 4;
    geo.n = batched ? x->shape[0] : 1;
    geo.c = x->shape[x->ndim - 3];
    geo.h = x->shape[x->ndim - 2];
    geo.w = x->shape[x->ndim - 1];
    volt_tensor *x4 = volt_dense_as(x, 4, (int64_t[]){geo.n, geo.c, geo.h, geo.w});
    volt_tensor *y =
        x4 ? volt_tensor_new(x->dtype, x->device, 4, (int64_t[]){geo.n, geo.c, geo.oh, geo.ow})
           : NULL;
    bool record = volt_autograd_should_record(1, &x);
    saved_kind saved_as = SAVED_INDICES;
    volt_tensor *saved = NULL;
    volt_status st =
        !y     ? volt_error_status()
        : cuda ? cuda_pool_forward(kind, op, &geo, x4, y, indices != NULL, &saved, &saved_as)
               : pool_forward(kind, &geo, x4, y, indices != NULL, record, &saved, &saved_as);
    volt_tensor *cuda_x = saved_as == SAVED_CUDA && kind == POOL_MAX && record ? x4 : NULL;
    if (st != VOLT_OK) {
        volt_tensor_free(x4);
        volt_tensor_free(y);
        volt_tensor_free(saved);
        return NULL;
    }
    y = unbatch(y, x);
    pool_info *info = record ? malloc(sizeof *info) : NULL;
    volt_node *node = info ? volt_autograd_record(op, pool_backward, y, 1, &x) : NULL;
    if (node) {
        info->g = geo;
        node->extra = info;
        node->iargs[0] = kind;
        node->iargs[1] = saved_as;
        if (saved) volt_node_save(node, saved);
        if (cuda_x) {
            volt_node_save(node, cuda_x);
            volt_node_save_output(node, y);
        }
    } else {
        free(info);
        if (record && !info) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    }
    volt_tensor_free(x4);
    if (indices)
        *indices = unbatch(saved, x);
    else
        volt_tensor_free(saved);
    return y;
}

static void copy2(int64_t dst[2], const int64_t *src, int64_t dflt) {
    dst[0] = src ? src[0] : dflt;
    dst[1] = src ? src[1] : dflt;
}

static bool window_geom(pool_args *a, const volt_tensor *x, const int64_t *kernel,
                        const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                        volt_pool_geom *g) {
    if (!check_input(a->op, x)) return false;
    if (!kernel) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: argument 'kernel' is NULL", a->op);
        return false;
    }
    copy2(a->kernel, kernel, 0);
    copy2(a->stride, stride ? stride : kernel, 0);
    copy2(a->padding, padding, 0);
    copy2(a->dilation, dilation, 1);
    if (!pool_dim(a, x, 0, x->shape[x->ndim - 2], &g->oh) ||
        !pool_dim(a, x, 1, x->shape[x->ndim - 1], &g->ow))
        return false;
    g->kh = a->kernel[0], g->kw = a->kernel[1], g->sh = a->stride[0], g->sw = a->stride[1];
    g->ph = a->padding[0], g->pw = a->padding[1], g->dh = a->dilation[0], g->dw = a->dilation[1];
    return true;
}

volt_tensor *volt_max_pool2d(const volt_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                             const int64_t padding[2], const int64_t dilation[2], bool ceil_mode,
                             volt_tensor **indices) {
    if (indices) *indices = NULL;
    pool_args a = {.op = "max_pool2d", .ceil_mode = ceil_mode};
    volt_pool_geom g = {0};
    if (!window_geom(&a, x, kernel, stride, padding, dilation, &g)) return NULL;
    return pool_op(POOL_MAX, a.op, x, g, indices);
}

volt_tensor *volt_avg_pool2d(const volt_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                             const int64_t padding[2], bool ceil_mode, bool count_include_pad) {
    pool_args a = {.op = "avg_pool2d", .ceil_mode = ceil_mode};
    volt_pool_geom g = {.count_include_pad = count_include_pad};
    if (!window_geom(&a, x, kernel, stride, padding, NULL, &g)) return NULL;
    return pool_op(POOL_AVG, a.op, x, g, NULL);
}

volt_tensor *volt_adaptive_avg_pool2d(const volt_tensor *x, int64_t out_h, int64_t out_w) {
    const char *op = "adaptive_avg_pool2d";
    if (!check_input(op, x)) return NULL;
    int64_t h = x->shape[x->ndim - 2], w = x->shape[x->ndim - 1];
    if (out_h < 1 || out_w < 1 || h < 1 || w < 1) {
        char b[96];
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: input %s: output size %lldx%lld (both sizes must be "
                       ">= 1, as must the input's)",
                       op, volt_shape_only(x, b, sizeof b), (long long)out_h, (long long)out_w);
        return NULL;
    }
    volt_pool_geom g = {.oh = out_h, .ow = out_w};
    if (h % out_h == 0 && w % out_w == 0) { /* plain average pooling: oneDNN takes it */
        g.kh = g.sh = h / out_h, g.kw = g.sw = w / out_w, g.dh = g.dw = 1;
        return pool_op(POOL_AVG, op, x, g, NULL);
    }
    if (x->device.type == VOLT_CUDA) return volt_adaptive_avg_pool2d_by_products(x, out_h, out_w);
    return pool_op(POOL_ADAPTIVE, op, x, g, NULL);
}

/* The [out, in] averaging matrix of an adaptive pool over `in` positions,
 * in dtype on device. */
static volt_tensor *averaging_matrix(int64_t out, int64_t in, volt_dtype dtype,
                                     volt_device device) {
    volt_tensor *m = volt_zeros(VOLT_SHAPE(out, in), VOLT_F64);
    if (!m) return NULL;
    double *d = volt_tensor_data(m);
    for (int64_t i = 0; i < out; i++) {
        int64_t start = i * in / out, end = ((i + 1) * in + out - 1) / out;
        for (int64_t j = start; j < end; j++) d[i * in + j] = 1.0 / (double)(end - start);
    }
    volt_tensor *c = volt_to_dtype(m, dtype);
    return c && device.type != VOLT_CPU ? volt_to_device(c, device) : c;
}

volt_tensor *volt_adaptive_avg_pool2d_by_products(const volt_tensor *x, int64_t out_h,
                                                  int64_t out_w) {
    volt_scope_begin(); /* only y outlives the call */
    volt_tensor *ah = averaging_matrix(out_h, x->shape[x->ndim - 2], x->dtype, x->device);
    volt_tensor *aw =
        ah ? averaging_matrix(out_w, x->shape[x->ndim - 1], x->dtype, x->device) : NULL;
    volt_autocast_mode mode = volt_autocast_set(VOLT_AUTOCAST_OFF);
    volt_tensor *right = aw ? volt_matmul(x, volt_transpose(aw, 0, 1)) : NULL;
    volt_tensor *y = right ? volt_matmul(ah, right) : NULL;
    volt_autocast_set(mode);
    if (y) volt_keep(y);
    volt_scope_end();
    return y;
}
