/* conv.c: convolutions — conv2d, conv1d (a conv2d over a height of 1) and
 * conv_transpose2d (the input-gradient of a conv2d, run forward) — with
 * validation, "same" padding, unbatched inputs, and their gradients for
 * input, weight and bias. f32 goes to the direct kernel for one input
 * channel (ops/cpu/conv_c1.c) or oneDNN (ops/cpu/dnnl_conv.c), f64 and what
 * oneDNN declines to the reference kernels (ops/cpu/conv_ref.c). Under bf16
 * autocast (volt/ops.h) convolutions of f32 (or bf16) operands and their
 * gradients run in bf16 and return bf16, f32 operands getting f32
 * gradients: oneDNN's bf16 kernels, or the f32 path on operands rounded to
 * bf16 where those are missing or slower (one input channel). CUDA tensors
 * (f32, f64, bf16, f16) go to cuDNN (ops/cuda/cuda_dnn.h) in their own
 * dtype, gradients too; under autocast, in the autocast dtype (bf16, or
 * f16 for 16-mixed), which the result keeps. */
#include <stdio.h>
#include <stdlib.h>

#include "ops/autocast_impl.h"
#include "ops/conv_impl.h"
#include "ops/cpu/conv_c1.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/unary.h"
#include "ops/cuda/cuda_dnn.h"

volt_tensor *volt_dense_as(const volt_tensor *t, int ndim, const int64_t *shape) {
    if (!t) return NULL;
    if (volt_tensor_is_contiguous(t)) return volt_tensor_alias(t, ndim, shape, NULL, t->offset);
    volt_tensor *c = NULL;
    if (t->device.type == VOLT_CUDA) {
        VOLT_NO_GRAD { c = volt_contiguous(t); }
    } else if ((c = volt_tensor_new(t->dtype, t->device, t->ndim, t->shape))) {
        volt_cpu_copy(c, t);
    }
    if (!c) return NULL;
    volt_tensor *v = volt_tensor_alias(c, ndim, shape, NULL, c->offset);
    volt_tensor_free(c);
    return v;
}

/* ------------------------------------------------------------ dispatch */

static bool use_dnnl(const volt_tensor *t) {
    return t->dtype == VOLT_F32 && volt_fast_kernels_enabled();
}

/* Copies of the operands rounded to bf16 (f32), for the bf16 fallback; each
 * NULL where its operand is NULL. false with an error when out of memory. */
static bool rounded(const volt_tensor *t1, const volt_tensor *t2, const volt_tensor *t3,
                    volt_tensor **r) {
    const volt_tensor *in[3] = {t1, t2, t3};
    bool ok = true;
    for (int i = 0; i < 3; i++) {
        r[i] = in[i] && ok ? volt_bf16_rounded(in[i]) : NULL;
        ok = ok && (r[i] || !in[i]);
    }
    return ok;
}

static void free3(volt_tensor **r) {
    for (int i = 0; i < 3; i++) volt_tensor_free(r[i]);
}

/* The f32 kernels of each pass, in one place: the direct kernel of
 * ops/cpu/conv_c1.c where it applies (one input channel, 3x3, padding 1:
 * no layout reorders), oneDNN, then the reference kernel where oneDNN
 * declines. *relu: conv2d_relu's ReLU is wanted; set to false when the
 * kernel applied it (the direct kernel does, on its stores). */
static volt_status forward_f32(const volt_conv_geom *g, const volt_tensor *src,
                               const volt_tensor *w, const volt_tensor *b, volt_tensor *dst,
                               volt_dnnl_weight_cache *cache, bool *relu) {
    if (use_dnnl(dst) && volt_cpu_conv_c1_3x3_applies(g)) {
        const float *pb = b ? volt_tensor_data(b) : NULL;
        bool fuse = *relu;
        *relu = false;
        return (fuse ? volt_cpu_conv_c1_3x3_relu_forward_f32 : volt_cpu_conv_c1_3x3_forward_f32)(
            g, volt_tensor_data(src), volt_tensor_data(w), pb, volt_tensor_data(dst));
    }
    if (use_dnnl(dst)) {
        volt_status st = volt_dnnl_conv_forward(g, src, w, b, dst, cache, false);
        if (st != VOLT_ERR_UNSUPPORTED) return st;
    }
    return volt_cpu_conv_forward_ref(g, src, w, b, dst);
}

static volt_status backward_f32(const volt_conv_geom *g, const volt_tensor *src,
                                const volt_tensor *diff_dst, const volt_tensor *w,
                                volt_tensor *diff_src, volt_tensor *diff_w, volt_tensor *diff_b) {
    if (use_dnnl(diff_dst) && volt_cpu_conv_c1_3x3_applies(g) && diff_w && !diff_src)
        return volt_cpu_conv_c1_3x3_backward_weights_f32(
            g, volt_tensor_data(src), volt_tensor_data(diff_dst), volt_tensor_data(diff_w),
            diff_b ? volt_tensor_data(diff_b) : NULL);
    if (use_dnnl(diff_dst)) {
        volt_status st =
            volt_dnnl_conv_backward(g, src, diff_dst, w, diff_src, diff_w, diff_b, false);
        if (st != VOLT_ERR_UNSUPPORTED) return st;
    }
    volt_status st = VOLT_OK;
    if (diff_src) st = volt_cpu_conv_backward_data_ref(g, diff_dst, w, diff_src);
    if (st == VOLT_OK && diff_w)
        st = volt_cpu_conv_backward_weights_ref(g, src, diff_dst, diff_w, diff_b);
    return st;
}

/* Whether a bf16 convolution of this shape runs faster as the f32 kernels
 * on operands rounded to bf16 (the same numbers) than on oneDNN's bf16
 * ones. Measured (bench/layers/conv_bf16.c, batch 128, 2 threads, paired
 * runs): for the CNN's Conv2d(1, 32, 3, padding=1) on 28x28 the bf16
 * products are tiny and converting the 32-channel output and its gradient
 * to and from oneDNN's bf16 layouts costs most of the time: the direct f32
 * kernel on plain NCHW takes about 0.9 ms forward and 2.6 ms for the weight
 * gradient (rounding included) against 2.6 and 5.4 on oneDNN's bf16
 * primitives. With 32 input channels (conv2) the AMX convolutions win.
 * So: where the direct kernel applies, and for the backward pass only when
 * no input gradient is wanted (the kernel computes weight gradients). */
static bool bf16_on_f32_kernels(const volt_conv_geom *g, bool wants_diff_src) {
    return volt_cpu_conv_c1_3x3_applies(g) && !wants_diff_src;
}

static volt_status run_forward(const volt_conv_geom *g, const volt_tensor *src,
                               const volt_tensor *w, const volt_tensor *b, volt_tensor *dst,
                               volt_dnnl_weight_cache *cache, bool bf16, bool *relu) {
    if (!bf16) return forward_f32(g, src, w, b, dst, cache, relu);
    if (use_dnnl(dst) && !bf16_on_f32_kernels(g, false)) {
        volt_status st = volt_dnnl_conv_forward(g, src, w, b, dst, cache, true);
        if (st != VOLT_ERR_UNSUPPORTED) return st;
    }
    /* the f32 path on rounded operands */
    volt_tensor *r[3];
    volt_status st = rounded(src, w, NULL, r) ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK) st = forward_f32(g, r[0], r[1], b, dst, NULL, relu);
    free3(r);
    return st;
}

/* The gradients of the convolution src -> dst: diff_src, diff_w and diff_b
 * (each NULL when not wanted; diff_b only with diff_w). */
static volt_status run_backward(const volt_conv_geom *g, const volt_tensor *src,
                                const volt_tensor *diff_dst, const volt_tensor *w,
                                volt_tensor *diff_src, volt_tensor *diff_w, volt_tensor *diff_b,
                                bool bf16) {
    if (!bf16) return backward_f32(g, src, diff_dst, w, diff_src, diff_w, diff_b);
    if (use_dnnl(diff_dst) && !bf16_on_f32_kernels(g, diff_src != NULL)) {
        volt_status st =
            volt_dnnl_conv_backward(g, src, diff_dst, w, diff_src, diff_w, diff_b, true);
        if (st != VOLT_ERR_UNSUPPORTED) return st;
    }
    /* the f32 path on rounded operands */
    volt_tensor *r[3];
    bool ok = rounded(diff_w ? src : NULL, diff_dst, diff_src ? w : NULL, r);
    volt_status st = ok ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK) st = backward_f32(g, r[0], r[1], r[2], diff_src, diff_w, diff_b);
    free3(r);
    return st;
}

/* ------------------------------------------------------------ gradient */

/* node->extra: the geometry (of the convolution a transposed one inverts);
 * iargs[0], iargs[1]: saved slots of the 4-D x and w (-1: not saved). */
typedef struct {
    volt_conv_geom g;
    bool transposed;
    int64_t w4[4]; /* the weight seen as 4-D */
    bool bf16;     /* the forward ran in bf16 (bf16 autocast): so do the gradients */
    int relu_slot; /* conv2d_relu: the saved slot of the output (the mask); else -1 */
} conv_info;

/* The fused ReLU of conv2d_relu: y = relu(y) in place, and its backward
 * out = g where y > 0, else 0 (out may be g): the unary family's kernels. */
static volt_status relu_in_place(volt_tensor *y) {
    return volt_cpu_unary(VOLT_UN_RELU, y, y, &(volt_unary_args){0});
}

static volt_status relu_mask(volt_tensor *out, const volt_tensor *g, const volt_tensor *y) {
    return volt_cpu_unary_backward(VOLT_UN_RELU, out, g, y, &(volt_unary_args){0});
}

/* gw (and gb, may be NULL) of conv2d_relu on the direct kernel of one input
 * channel, from x4, g4 and the forward's output y (the mask). */
static volt_status relu_weights_c1(const volt_conv_geom *geo, const volt_tensor *x4,
                                   const volt_tensor *g4, const volt_tensor *y, const int64_t *out4,
                                   volt_tensor *gw, volt_tensor *gb) {
    volt_tensor *y4 = volt_dense_as(y, 4, out4);
    volt_status st = y4 ? volt_cpu_conv_c1_3x3_relu_backward_weights_f32(
                              geo, volt_tensor_data(x4), volt_tensor_data(g4), volt_tensor_data(y4),
                              volt_tensor_data(gw), gb ? volt_tensor_data(gb) : NULL)
                        : volt_error_status();
    volt_tensor_free(y4);
    return st;
}

/* A new tensor of shape (ndim, shape) in t's dtype, or an alias of t4 with the
 * input's original shape. */
static volt_tensor *as_input_shape(volt_tensor *t4, const volt_node_input *in) {
    if (!t4 || t4->ndim == in->ndim) return t4;
    volt_tensor *v = volt_tensor_alias(t4, in->ndim, in->shape, NULL, t4->offset);
    volt_tensor_free(t4);
    return v;
}

/* The gradients of a convolution on CUDA (cuDNN, in the forward's dtype):
 * gx, gw and gb of x4 [n, c, h, w], the saved x4 and w4, and g4 (the output
 * gradient, masked by conv2d_relu's ReLU). */
static volt_status cuda_gradients(const conv_info *ci, const volt_node_input *in,
                                  const volt_tensor *x4, const volt_tensor *w4,
                                  const volt_tensor *g4, volt_tensor *gx, volt_tensor *gw,
                                  volt_tensor *gb) {
    const volt_conv_geom *geo = &ci->g;
    volt_status st = VOLT_OK;
    if (ci->transposed) { /* the inverted convolution maps g to x */
        if (gx) st = volt_cuda_conv_forward(geo, g4, w4, NULL, gx, false);
        if (!st && gw) st = volt_cuda_conv_backward_filter(geo, g4, x4, gw);
    } else {
        if (gx) st = volt_cuda_conv_backward_data(geo, g4, w4, gx);
        if (!st && gw) st = volt_cuda_conv_backward_filter(geo, x4, g4, gw);
    }
    if (!st && in[2].needs) st = volt_cuda_channel_sum(g4, gb);
    return st;
}

static volt_status conv_backward_cuda(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const conv_info *ci = node->extra;
    const volt_conv_geom *geo = &ci->g;
    const volt_node_input *in = node->inputs;
    volt_dtype dt = in[0].dtype;
    int64_t out4[4] = {geo->n, ci->transposed ? geo->c : geo->o, ci->transposed ? geo->h : geo->oh,
                       ci->transposed ? geo->w : geo->ow};
    int64_t x4s[4] = {geo->n, ci->transposed ? geo->o : geo->c, ci->transposed ? geo->oh : geo->h,
                      ci->transposed ? geo->ow : geo->w};
    const volt_tensor *gd = volt_as_dtype(g, dt);
    volt_tensor *g4 = gd ? volt_dense_as(gd, 4, out4) : NULL;
    volt_tensor *y = ci->relu_slot >= 0 ? volt_node_saved(node, ci->relu_slot) : NULL;
    if (g4 && y) { /* conv2d_relu: g where the output is > 0 */
        volt_tensor *masked = volt_tensor_new(dt, g4->device, 4, out4);
        volt_tensor *y4 = masked ? volt_dense_as(y, 4, out4) : NULL;
        volt_status ms = y4 ? volt_cuda_relu_mask(masked, g4, y4) : volt_error_status();
        volt_tensor_free(y4);
        volt_tensor_free(g4);
        g4 = ms ? NULL : masked;
        if (ms) volt_tensor_free(masked);
    }
    if (!g4) return volt_error_status();
    volt_tensor *x4 = node->iargs[0] >= 0 ? volt_node_saved(node, (int)node->iargs[0]) : NULL;
    volt_tensor *w4 = node->iargs[1] >= 0 ? volt_node_saved(node, (int)node->iargs[1]) : NULL;
    volt_tensor *gx = in[0].needs ? volt_tensor_new(dt, g->device, 4, x4s) : NULL;
    volt_tensor *gw = in[1].needs ? volt_tensor_new(dt, g->device, 4, ci->w4) : NULL;
    volt_tensor *gb = in[2].needs ? volt_tensor_new(dt, g->device, 1, in[2].shape) : NULL;
    volt_status st = (gx || !in[0].needs) && (gw || !in[1].needs) && (gb || !in[2].needs)
                         ? cuda_gradients(ci, in, x4, w4, g4, gx, gw, gb)
                         : volt_error_status();
    volt_tensor_free(g4);
    if (st != VOLT_OK) {
        volt_tensor_free(gx);
        volt_tensor_free(gw);
        volt_tensor_free(gb);
        return st;
    }
    grads[0] = as_input_shape(gx, &in[0]);
    grads[1] = as_input_shape(gw, &in[1]);
    grads[2] = gb;
    return VOLT_OK;
}

static volt_status conv_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("conv_backward");
    if (g->device.type == VOLT_CUDA) return conv_backward_cuda(node, g, grads);
    const conv_info *ci = node->extra;
    const volt_conv_geom *geo = &ci->g;
    volt_dtype dt = node->inputs[0].dtype;
    int64_t out4[4] = {geo->n, ci->transposed ? geo->c : geo->o, ci->transposed ? geo->h : geo->oh,
                       ci->transposed ? geo->w : geo->ow};
    const volt_tensor *gd = volt_as_dtype(g, dt);
    volt_tensor *y = ci->relu_slot >= 0 ? volt_node_saved(node, ci->relu_slot) : NULL;
    /* The fused ReLU: its mask applied to g, in place when g allows, unless
     * the direct kernel of one input channel computes the weight gradients
     * (no input gradient): it masks g as it reads it. */
    const volt_node_input *in = node->inputs;
    bool mask_in_kernel = y && gd && use_dnnl(gd) && !ci->transposed && !ci->bf16 && !in[0].needs &&
                          in[1].needs && volt_cpu_conv_c1_3x3_applies(geo);
    bool mask_in_place = y && !mask_in_kernel && gd == g && volt_grad_reusable(g, y);
    if (mask_in_place && relu_mask(g, g, y)) return volt_error_status();
    volt_tensor *g4 = gd ? volt_dense_as(gd, 4, out4) : NULL;
    if (g4 && y && !mask_in_place && !mask_in_kernel) {
        volt_tensor *masked = volt_tensor_new(g4->dtype, g4->device, 4, out4);
        volt_tensor *y4 = masked ? volt_dense_as(y, 4, out4) : NULL;
        volt_status ms = y4 ? relu_mask(masked, g4, y4) : volt_error_status();
        volt_tensor_free(y4);
        volt_tensor_free(g4);
        g4 = ms ? NULL : masked;
        if (ms) volt_tensor_free(masked);
    }
    if (!g4) return volt_error_status();
    volt_tensor *x4 = node->iargs[0] >= 0 ? volt_node_saved(node, (int)node->iargs[0]) : NULL;
    volt_tensor *w4 = node->iargs[1] >= 0 ? volt_node_saved(node, (int)node->iargs[1]) : NULL;
    /* For a transposed convolution the roles swap: its input gradient is the
     * forward convolution of g, its weight gradient takes g as the source. */
    int64_t x4s[4] = {geo->n, ci->transposed ? geo->o : geo->c, ci->transposed ? geo->oh : geo->h,
                      ci->transposed ? geo->ow : geo->w};
    volt_tensor *gx = in[0].needs ? volt_tensor_new(dt, g->device, 4, x4s) : NULL;
    volt_tensor *gw = in[1].needs ? volt_tensor_new(dt, g->device, 4, ci->w4) : NULL;
    bool fused_bias = in[1].needs && in[2].needs && !ci->transposed;
    volt_tensor *gb = in[2].needs ? volt_tensor_new(dt, g->device, 1, in[2].shape) : NULL;
    volt_status st = (gx || !in[0].needs) && (gw || !in[1].needs) && (gb || !in[2].needs)
                         ? VOLT_OK
                         : volt_error_status();
    if (st == VOLT_OK && ci->transposed) {
        if (gx) st = run_forward(geo, g4, w4, NULL, gx, NULL, ci->bf16, &(bool){false});
        if (st == VOLT_OK && gw) st = run_backward(geo, g4, x4, NULL, NULL, gw, NULL, ci->bf16);
    } else if (st == VOLT_OK && mask_in_kernel) {
        st = relu_weights_c1(geo, x4, g4, y, out4, gw, gb);
    } else if (st == VOLT_OK && (gx || gw)) {
        st = run_backward(geo, x4, g4, w4, gx, gw, fused_bias ? gb : NULL, ci->bf16);
    }
    if (st == VOLT_OK && gb && !fused_bias) volt_cpu_channel_sum(g4, gb);
    if (st == VOLT_OK) {
        grads[0] = as_input_shape(gx, &in[0]);
        grads[1] = as_input_shape(gw, &in[1]);
        grads[2] = gb;
    } else {
        volt_tensor_free(gx);
        volt_tensor_free(gw);
        volt_tensor_free(gb);
    }
    volt_tensor_free(g4);
    return st;
}

/* ---------------------------------------------------------- validation */

/* What the caller asked for, per spatial dim (index 0: H, 1: W). */
typedef struct {
    const char *op;
    int64_t stride[2], padding[2], dilation[2], output_padding[2], groups;
    bool transposed, one_d;
    bool relu; /* conv2d_relu: max(conv, 0) as one op */
} conv_args;

static bool check_tensors(const conv_args *a, const volt_tensor *x, const volt_tensor *w,
                          const volt_tensor *bias) {
    const char *op = a->op;
    if (!volt_check_not_null(op, x, "x") || !volt_check_not_null(op, w, "weight")) return false;
    /* CUDA: every float dtype reaches cuDNN, which refuses by name what it
     * lacks (volt_cuda_conv_supported). */
    bool cuda = x->device.type == VOLT_CUDA;
    if (!volt_check_same_device(op, x, w) || (bias && !volt_check_same_device(op, x, bias)) ||
        !(cuda ? volt_check_float(op, x) : volt_check_f32_f64(op, x)))
        return false;
    char bx[96], bw[96], bb[96];
    if (w->dtype != x->dtype || (bias && bias->dtype != x->dtype)) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: input %s, weight %s and bias %s must share a dtype", op,
                       volt_shape_str(x, bx, sizeof bx), volt_shape_str(w, bw, sizeof bw),
                       bias ? volt_shape_str(bias, bb, sizeof bb) : "NULL");
        return false;
    }
    int sp = a->one_d ? 1 : 2;
    if ((x->ndim != sp + 2 && x->ndim != sp + 1) || w->ndim != sp + 2) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: input %s, weight %s: expected a %d-D or %d-D input and "
                       "a %d-D weight",
                       op, volt_shape_only(x, bx, sizeof bx), volt_shape_only(w, bw, sizeof bw),
                       sp + 1, sp + 2, sp + 2);
        return false;
    }
    return true;
}

static bool check_params(const conv_args *a, const volt_tensor *x) {
    char bx[96];
    for (int i = 0; i < 2; i++) {
        const char *what = NULL;
        int64_t v = 0;
        if (a->stride[i] < 1)
            what = "stride", v = a->stride[i];
        else if (a->dilation[i] < 1)
            what = "dilation", v = a->dilation[i];
        else if (a->padding[i] < 0 && a->padding[i] != VOLT_PADDING_SAME)
            what = "padding", v = a->padding[i];
        else if (a->output_padding[i] < 0)
            what = "output_padding", v = a->output_padding[i];
        if (what) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: input %s: %s %lld is invalid (%s)",
                           a->op, volt_shape_only(x, bx, sizeof bx), what, (long long)v,
                           what[0] == 'p' || what[0] == 'o' ? "must be >= 0" : "must be >= 1");
            return false;
        }
        if (a->padding[i] == VOLT_PADDING_SAME && (a->stride[i] != 1 || a->transposed)) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "%s: input %s: padding 'same' needs stride 1%s", a->op,
                           volt_shape_only(x, bx, sizeof bx),
                           a->transposed ? " and a non-transposed convolution" : "");
            return false;
        }
        if (a->transposed && a->output_padding[i] >= a->stride[i] &&
            a->output_padding[i] >= a->dilation[i]) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "%s: input %s: output_padding %lld must be "
                           "smaller than the stride (%lld) or the dilation (%lld)",
                           a->op, volt_shape_only(x, bx, sizeof bx),
                           (long long)a->output_padding[i], (long long)a->stride[i],
                           (long long)a->dilation[i]);
            return false;
        }
    }
    if (a->groups < 1) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: input %s: groups %lld (must be >= 1)", a->op,
                       volt_shape_only(x, bx, sizeof bx), (long long)a->groups);
        return false;
    }
    return true;
}

/* Channels and groups: x4 [N, C, H, W], w4 [O, C/g, kh, kw] (transposed:
 * [C, O/g, kh, kw]). x, w, bias: the user's tensors, for messages. */
static bool check_channels(const conv_args *a, const volt_tensor *x, const volt_tensor *w,
                           const volt_tensor *bias, const int64_t *x4, const int64_t *w4) {
    char bx[96], bw[96], bb[96];
    const char *op = a->op;
    volt_shape_only(x, bx, sizeof bx);
    volt_shape_only(w, bw, sizeof bw);
    int64_t c = x4[1], g = a->groups;
    int64_t out = a->transposed ? w4[1] * g : w4[0];
    if (c % g != 0 || (!a->transposed && w4[0] % g != 0)) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: input %s, weight %s: groups %lld must divide the "
                       "input channels (%lld) and the output channels (%lld)",
                       op, bx, bw, (long long)g, (long long)c, (long long)out);
        return false;
    }
    if (a->transposed ? w4[0] != c : w4[1] * g != c) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: input %s has %lld channels but weight %s expects %lld "
                       "(groups %lld)",
                       op, bx, (long long)c, bw, (long long)(a->transposed ? w4[0] : w4[1] * g),
                       (long long)g);
        return false;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != out)) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: weight %s: bias %s should be [%lld]", op, bw,
                       volt_shape_only(bias, bb, sizeof bb), (long long)out);
        return false;
    }
    return true;
}

/* Fills the geometry for spatial dim i (0: H, 1: W); false with an error for
 * an empty output. */
static bool fill_dim(const conv_args *a, const volt_tensor *x, int64_t in, int64_t k, int i,
                     int64_t *pad_begin, int64_t *out) {
    int64_t s = a->stride[i], d = a->dilation[i], p = a->padding[i], span = d * (k - 1) + 1;
    char bx[96];
    if (a->transposed) {
        *out = (in - 1) * s - 2 * p + span + a->output_padding[i];
        *pad_begin = p;
        if (*out < 1) {
            volt_error_set(VOLT_ERR_SHAPE, "%s: input %s: output size %lld in dim %d is empty",
                           a->op, volt_shape_only(x, bx, sizeof bx), (long long)*out,
                           x->ndim - (a->one_d ? 1 : 2) + i);
            return false;
        }
        return true;
    }
    int64_t total = p == VOLT_PADDING_SAME ? span - 1 : 2 * p;
    *pad_begin = p == VOLT_PADDING_SAME ? total / 2 : p;
    if (in + total < span) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: input %s: kernel %lld (dilated: %lld) larger than the "
                       "padded input (%lld) in dim %d",
                       a->op, volt_shape_only(x, bx, sizeof bx), (long long)k, (long long)span,
                       (long long)(in + total), x->ndim - (a->one_d ? 1 : 2) + i);
        return false;
    }
    *out = (in + total - span) / s + 1;
    return true;
}

/* ----------------------------------------------------------------- op */

/* Validates everything and fills the geometry, x4 / w4 (the 4-D views:
 * [N, C, H, W] and [O, C/g, kh, kw]; 1-D: H = kh = 1) and y4 (the 4-D
 * output). */
static bool conv_geometry(const conv_args *a, const volt_tensor *x, const volt_tensor *w,
                          const volt_tensor *bias, volt_conv_geom *geo, int64_t x4[4],
                          int64_t w4[4], int64_t y4[4]) {
    if (!check_tensors(a, x, w, bias) || !check_params(a, x)) return false;
    bool batched = x->ndim == (a->one_d ? 3 : 4);
    x4[0] = batched ? x->shape[0] : 1;
    x4[1] = x->shape[batched ? 1 : 0];
    x4[2] = a->one_d ? 1 : x->shape[x->ndim - 2];
    x4[3] = x->shape[x->ndim - 1];
    w4[0] = w->shape[0], w4[1] = w->shape[1];
    w4[2] = a->one_d ? 1 : w->shape[2], w4[3] = w->shape[w->ndim - 1];
    if (!check_channels(a, x, w, bias, x4, w4)) return false;
    int64_t out[2], pad[2];
    if (!fill_dim(a, x, x4[2], w4[2], 0, &pad[0], &out[0]) ||
        !fill_dim(a, x, x4[3], w4[3], 1, &pad[1], &out[1]))
        return false;
    int64_t o = a->transposed ? w4[1] * a->groups : w4[0];
    *geo = (volt_conv_geom){.n = x4[0], .kh = w4[2], .kw = w4[3], .groups = a->groups};
    geo->sh = a->stride[0], geo->sw = a->stride[1], geo->dh = a->dilation[0];
    geo->dw = a->dilation[1], geo->ph = pad[0], geo->pw = pad[1];
    if (a->transposed) { /* the convolution it inverts: out -> x */
        geo->c = o, geo->h = out[0], geo->w = out[1];
        geo->o = x4[1], geo->oh = x4[2], geo->ow = x4[3];
    } else {
        geo->c = x4[1], geo->h = x4[2], geo->w = x4[3];
        geo->o = o, geo->oh = out[0], geo->ow = out[1];
        geo->with_bias = bias != NULL;
    }
    y4[0] = geo->n, y4[1] = o, y4[2] = out[0], y4[3] = out[1];
    return true;
}

/* The 4-D output seen with the caller's rank (drops N when unbatched, H for
 * 1-D). */
static volt_tensor *to_caller_rank(volt_tensor *y, const conv_args *a, const volt_tensor *x) {
    if (!y || x->ndim == 4) return y;
    bool batched = x->ndim == (a->one_d ? 3 : 4);
    int64_t shape[4];
    int nd = 0;
    for (int i = 0; i < 4; i++)
        if ((i != 0 || batched) && (i != 2 || !a->one_d)) shape[nd++] = y->shape[i];
    volt_tensor *v = volt_tensor_alias(y, nd, shape, NULL, y->offset);
    volt_tensor_free(y);
    return v;
}

static void record(const conv_args *a, volt_tensor *y, const volt_tensor *const *inputs,
                   const volt_conv_geom *geo, volt_tensor *xd, volt_tensor *wd, bool bf16) {
    if (!volt_autograd_should_record(3, inputs)) return;
    conv_info *info = malloc(sizeof *info);
    volt_node *node = info ? volt_autograd_record(a->op, conv_backward, y, 3, inputs) : NULL;
    if (!node) {
        free(info);
        if (!info) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", a->op);
        return;
    }
    *info = (conv_info){
        *geo, a->transposed, {wd->shape[0], wd->shape[1], wd->shape[2], wd->shape[3]}, bf16, -1};
    if (a->relu) info->relu_slot = volt_node_save_output(node, y);
    node->extra = info;
    node->iargs[0] = inputs[1]->requires_grad ? volt_node_save(node, xd) : -1;
    node->iargs[1] = inputs[0]->requires_grad ? volt_node_save(node, wd) : -1;
}

static volt_tensor *conv_op(const conv_args *a, const volt_tensor *x, const volt_tensor *w,
                            const volt_tensor *bias, volt_dnnl_weight_cache *cache);

static volt_tensor *conv_run(const conv_args *a, const volt_tensor *x, const volt_tensor *w,
                             const volt_tensor *bias, volt_dnnl_weight_cache *cache, bool bf16);

/* bf16 operands on the CPU (precision "bf16-true", or mixed with f32 ones
 * under autocast): the f32 convolution in bf16 on the widened operands
 * (the same products: bf16 inputs, f32 sums), its result rounded to bf16
 * once; backward through the widening. */
static volt_tensor *conv_bf16(const conv_args *a, const volt_tensor *x, const volt_tensor *w,
                              const volt_tensor *bias, bool autocast) {
    if (!autocast && (w->dtype != VOLT_BF16 || (bias && bias->dtype != VOLT_BF16))) {
        char bx[96], bw[96], bb[96];
        volt_error_set(VOLT_ERR_DTYPE, "%s: input %s, weight %s and bias %s must share a dtype",
                       a->op, volt_shape_str(x, bx, sizeof bx), volt_shape_str(w, bw, sizeof bw),
                       bias ? volt_shape_str(bias, bb, sizeof bb) : "NULL");
        return NULL;
    }
    const volt_tensor *wx = volt_bf16_widen(x), *ww = volt_bf16_widen(w);
    const volt_tensor *wb = volt_bf16_widen(bias);
    volt_tensor *r = NULL;
    if (wx && ww && (wb || !bias))
        r = conv_run(a, wx, ww, wb, NULL, true); /* a widened weight is new: no cache */
    volt_bf16_drop(wx, x);
    volt_bf16_drop(ww, w);
    volt_bf16_drop(wb, bias);
    return volt_bf16_narrow(r);
}

/* The convolution on CUDA (cuDNN): y = conv(xd, wd) + bd, ReLU'd for
 * conv2d_relu; a transposed convolution is the input gradient of the one it
 * inverts. */
static volt_status run_cuda(const conv_args *a, const volt_conv_geom *geo, const volt_tensor *xd,
                            const volt_tensor *wd, const volt_tensor *bd, volt_tensor *y) {
    if (!a->transposed) return volt_cuda_conv_forward(geo, xd, wd, bd, y, a->relu);
    volt_status st = volt_cuda_conv_backward_data(geo, xd, wd, y);
    return st || !bd ? st : volt_cuda_channel_add(y, bd);
}

static volt_tensor *conv_op(const conv_args *a, const volt_tensor *x, const volt_tensor *w,
                            const volt_tensor *bias, volt_dnnl_weight_cache *cache);

/* t in dtype: t itself, or a differentiable cast. */
static const volt_tensor *as_low(const volt_tensor *t, volt_dtype dtype) {
    return !t || t->dtype == dtype ? t : volt_to_dtype(t, dtype);
}

/* Autocast on CUDA (bf16-mixed, 16-mixed): the f32 operands cast to the
 * autocast dtype (differentiable casts, so f32 weights get f32 gradients),
 * cuDNN in that dtype, which the result keeps. */
static volt_tensor *conv_autocast_cuda(const conv_args *a, const volt_tensor *x,
                                       const volt_tensor *w, const volt_tensor *bias,
                                       volt_dtype dtype) {
    const volt_tensor *cx = as_low(x, dtype), *cw = as_low(w, dtype), *cb = as_low(bias, dtype);
    return cx && cw && (cb || !bias) ? conv_run(a, cx, cw, cb, NULL, false) : NULL;
}

static void copy2(int64_t dst[2], const int64_t *src, int64_t dflt) {
    dst[0] = src ? src[0] : dflt;
    dst[1] = src ? src[1] : dflt;
}

/* The total padding 'same' adds along spatial dim i (0: H, 1: W) of geo:
 * the dilated kernel's span less one. */
static int64_t same_total(const volt_conv_geom *geo, int i) {
    return i == 0 ? geo->dh * (geo->kh - 1) : geo->dw * (geo->kw - 1);
}

/* Whether padding 'same' pads dim i more at the end than at the start (an
 * odd total: an even dilated kernel). */
static bool same_is_uneven(const conv_args *a, const volt_conv_geom *geo, int i) {
    return a->padding[i] == VOLT_PADDING_SAME && same_total(geo, i) % 2 == 1;
}

/* Padding 'same' with more at the end than at the start, which cuDNN cannot
 * express: the convolution padded with the end's amount on both sides
 * (stride 1: one more output row / column than input), then that first
 * extra row / column dropped (a differentiable narrow). */
static volt_tensor *conv_same_widened(const conv_args *a, const volt_conv_geom *geo,
                                      const volt_tensor *x, const volt_tensor *w,
                                      const volt_tensor *bias) {
    conv_args wide = *a;
    int64_t in[2] = {geo->h, geo->w};
    for (int i = 0; i < 2; i++)
        if (same_is_uneven(a, geo, i)) wide.padding[i] = same_total(geo, i) / 2 + 1;
    volt_scope_begin(); /* only the narrowed view outlives the call */
    volt_tensor *y = conv_op(&wide, x, w, bias, NULL);
    for (int i = 0; i < 2 && y; i++)
        if (same_is_uneven(a, geo, i)) y = volt_narrow(y, y->ndim - 2 + i, 1, in[i]);
    if (y) volt_keep(y);
    volt_scope_end();
    return y;
}

volt_tensor *volt_conv2d_same_widened(const volt_tensor *x, const volt_tensor *w,
                                      const volt_tensor *bias, const int64_t dilation[2],
                                      int64_t groups) {
    conv_args a = {.op = "conv2d", .stride = {1, 1}, .groups = groups};
    a.padding[0] = a.padding[1] = VOLT_PADDING_SAME;
    copy2(a.dilation, dilation, 1);
    volt_conv_geom geo;
    int64_t x4[4], w4[4], y4[4];
    if (!conv_geometry(&a, x, w, bias, &geo, x4, w4, y4)) return NULL;
    return conv_same_widened(&a, &geo, x, w, bias);
}

/* Under autocast (volt/ops.h) f32 operands, or operands already in the
 * autocast dtype, in any mix: the convolution in that dtype, its result in
 * it too. On the CPU: bf16 operands widened (conv_bf16), or f32 ones run
 * in bf16 (the kernels round them) and the result rounded. */
static volt_tensor *conv_op(const conv_args *a, const volt_tensor *x, const volt_tensor *w,
                            const volt_tensor *bias, volt_dnnl_weight_cache *cache) {
    if (!x || !w) return conv_run(a, x, w, bias, cache, false);
    bool cuda = x->device.type == VOLT_CUDA;
    volt_dtype low = volt_autocast_dtype(x->device);
    bool autocast = volt_autocast_casts(x, low) && volt_autocast_casts(w, low) &&
                    volt_autocast_casts(bias, low);
    if (cuda) {
        bool all_low = x->dtype == low && w->dtype == low && (!bias || bias->dtype == low);
        if (autocast && !all_low) return conv_autocast_cuda(a, x, w, bias, low);
        return conv_run(a, x, w, bias, cache, false);
    }
    bool has_bf16 = x->dtype == VOLT_BF16 || (autocast && w->dtype == VOLT_BF16) ||
                    (autocast && bias && bias->dtype == VOLT_BF16);
    if (has_bf16) return conv_bf16(a, x, w, bias, autocast);
    if (!autocast) return conv_run(a, x, w, bias, cache, false);
    return volt_bf16_narrow(conv_run(a, x, w, bias, cache, true));
}

/* The convolution of operands of one dtype: in their dtype, or when bf16
 * (f32 operands on the CPU) in bf16 — the kernels round the operands —
 * with an f32 result. */
static volt_tensor *conv_run(const conv_args *a, const volt_tensor *x, const volt_tensor *w,
                             const volt_tensor *bias, volt_dnnl_weight_cache *cache, bool bf16) {
    bool cuda = x && x->device.type == VOLT_CUDA;
    VOLT_TRACE_OP(a->op);
    volt_conv_geom geo;
    int64_t x4[4], w4[4], y4[4];
    if (!conv_geometry(a, x, w, bias, &geo, x4, w4, y4)) return NULL;
    if (cuda && !a->transposed && (same_is_uneven(a, &geo, 0) || same_is_uneven(a, &geo, 1)))
        return conv_same_widened(a, &geo, x, w, bias);
    if (cuda && !volt_cuda_conv_supported(a->op, &geo, x)) return NULL;
    volt_tensor *xd = volt_dense_as(x, 4, x4), *wd = volt_dense_as(w, 4, w4);
    const volt_tensor *bd =
        bias && !volt_tensor_is_contiguous(bias) ? volt_dense_as(bias, 1, bias->shape) : bias;
    volt_tensor *y = xd && wd && (bd || !bias) ? volt_tensor_new(x->dtype, x->device, 4, y4) : NULL;
    volt_status st = y ? VOLT_OK : volt_error_status();
    bool relu = a->relu; /* still to apply */
    if (st == VOLT_OK && cuda) {
        st = run_cuda(a, &geo, xd, wd, bd, y);
        relu = false;
    } else if (st == VOLT_OK && a->transposed) {
        st = run_backward(&geo, NULL, xd, wd, y, NULL, NULL, bf16);
        if (st == VOLT_OK && bd) volt_cpu_channel_add(y, bd);
    } else if (st == VOLT_OK) {
        st = run_forward(&geo, xd, wd, bd, y, cache, bf16, &relu);
    }
    if (st == VOLT_OK && relu) st = relu_in_place(y);
    if (bd != bias) volt_tensor_free((volt_tensor *)bd);
    if (st != VOLT_OK) {
        volt_tensor_free(y);
        y = NULL;
    }
    y = to_caller_rank(y, a, x);
    const volt_tensor *inputs[3] = {x, w, bias};
    if (y) record(a, y, inputs, &geo, xd, wd, bf16);
    volt_tensor_free(xd);
    volt_tensor_free(wd);
    return y;
}

/* conv2d's arguments (NULL arrays: the defaults), fused with a ReLU or not. */
static volt_tensor *conv2d_op(const char *op, bool relu, const volt_tensor *x, const volt_tensor *w,
                              const volt_tensor *bias, const int64_t stride[2],
                              const int64_t padding[2], const int64_t dilation[2], int64_t groups,
                              volt_dnnl_weight_cache *cache) {
    conv_args a = {.op = op, .groups = groups, .relu = relu};
    copy2(a.stride, stride, 1);
    copy2(a.padding, padding, 0);
    copy2(a.dilation, dilation, 1);
    return conv_op(&a, x, w, bias, cache);
}

volt_tensor *volt_conv2d_cached(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                                const int64_t stride[2], const int64_t padding[2],
                                const int64_t dilation[2], int64_t groups,
                                volt_dnnl_weight_cache *cache) {
    return conv2d_op("conv2d", false, x, w, bias, stride, padding, dilation, groups, cache);
}

volt_tensor *volt_conv2d(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                         const int64_t stride[2], const int64_t padding[2],
                         const int64_t dilation[2], int64_t groups) {
    return conv2d_op("conv2d", false, x, w, bias, stride, padding, dilation, groups, NULL);
}

volt_tensor *volt_conv2d_relu_cached(const volt_tensor *x, const volt_tensor *w,
                                     const volt_tensor *bias, const int64_t stride[2],
                                     const int64_t padding[2], const int64_t dilation[2],
                                     int64_t groups, volt_dnnl_weight_cache *cache) {
    return conv2d_op("conv2d_relu", true, x, w, bias, stride, padding, dilation, groups, cache);
}

volt_tensor *volt_conv2d_relu(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                              const int64_t stride[2], const int64_t padding[2],
                              const int64_t dilation[2], int64_t groups) {
    return conv2d_op("conv2d_relu", true, x, w, bias, stride, padding, dilation, groups, NULL);
}

volt_tensor *volt_conv1d_cached(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                                int64_t stride, int64_t padding, int64_t dilation, int64_t groups,
                                volt_dnnl_weight_cache *cache) {
    conv_args a = {.op = "conv1d",
                   .stride = {1, stride},
                   .padding = {0, padding},
                   .dilation = {1, dilation},
                   .groups = groups,
                   .one_d = true};
    return conv_op(&a, x, w, bias, cache);
}

volt_tensor *volt_conv1d(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                         int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
    return volt_conv1d_cached(x, w, bias, stride, padding, dilation, groups, NULL);
}

volt_tensor *volt_conv_transpose2d(const volt_tensor *x, const volt_tensor *w,
                                   const volt_tensor *bias, const int64_t stride[2],
                                   const int64_t padding[2], const int64_t output_padding[2],
                                   const int64_t dilation[2], int64_t groups) {
    conv_args a = {.op = "conv_transpose2d", .groups = groups, .transposed = true};
    copy2(a.stride, stride, 1);
    copy2(a.padding, padding, 0);
    copy2(a.output_padding, output_padding, 0);
    copy2(a.dilation, dilation, 1);
    return conv_op(&a, x, w, bias, NULL);
}
