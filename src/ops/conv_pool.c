/* conv_pool.c: conv2d_relu_max_pool2x2 — a CNN block, max_pool2d(relu(
 * conv2d(x)), 2) — as one op. A CNN's first block on grey images,
 * Conv2d(1, o, 3, padding=1) in f32 on the CPU with an input that needs no
 * gradient, runs as one pass (ops/cpu/conv_c1_pool.c) that never stores
 * the convolution's [n, o, h, w] output: it keeps the pooled output and a
 * one-byte code per output for the weight gradients. Every other case runs
 * conv2d_relu and max_pool2d, which check the arguments and name what is
 * wrong. Either way the values are the same. */
#include <stdlib.h>

#include "ops/autocast_impl.h"
#include "ops/conv_impl.h"
#include "ops/cpu/conv_c1_pool.h"
#include "ops/cpu/dnnl_common.h"

static const char OP[] = "conv2d_relu_max_pool2x2";

/* ------------------------------------------------------------ gradient */

/* node->extra: the geometry; saved slot 0: x as [n, 1, h, w], slot 1: the
 * code tensor [n, o, h / 2, w / 2] (u8). */
static volt_status fused_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("conv_pool_backward");
    const volt_conv_geom *geo = node->extra;
    const volt_node_input *in = node->inputs;
    const volt_tensor *gd = volt_as_dtype(g, VOLT_F32);
    volt_tensor *g4 =
        gd ? volt_dense_as(gd, 4, (int64_t[]){geo->n, geo->o, geo->h / 2, geo->w / 2}) : NULL;
    /* The kernel computes both; gw is dropped when only the bias needs one. */
    volt_tensor *gw = g4 ? volt_tensor_new(VOLT_F32, g->device, in[1].ndim, in[1].shape) : NULL;
    volt_tensor *gb = gw && in[2].needs ? volt_tensor_new(VOLT_F32, g->device, 1, in[2].shape)
                                        : NULL;
    volt_status st = gw && (gb || !in[2].needs)
                         ? volt_cpu_conv_c1_relu_pool_backward_weights_f32(
                               geo, volt_tensor_data(volt_node_saved(node, 0)),
                               volt_tensor_data(g4), volt_tensor_data(volt_node_saved(node, 1)),
                               volt_tensor_data(gw), gb ? volt_tensor_data(gb) : NULL)
                         : volt_error_status();
    volt_tensor_free(g4);
    if (st != VOLT_OK || !in[1].needs) {
        volt_tensor_free(gw);
        gw = NULL;
    }
    if (st != VOLT_OK) {
        volt_tensor_free(gb);
        return st;
    }
    grads[1] = gw;
    grads[2] = gb;
    return VOLT_OK;
}

/* ------------------------------------------------------------------ op */

static bool pair_is(const int64_t *v, int64_t value, bool null_ok) {
    return v ? v[0] == value && v[1] == value : null_ok;
}

/* Whether the one-pass kernel takes these arguments; fills geo when so.
 * Anything unusual (including every bad input) goes to the three ops. */
static bool fused_applies(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                          const int64_t stride[2], const int64_t padding[2],
                          const int64_t dilation[2], int64_t groups, volt_conv_geom *geo) {
    if (!x || !w || x->device.type != VOLT_CPU || w->device.type != VOLT_CPU ||
        x->dtype != VOLT_F32 || w->dtype != VOLT_F32 || x->ndim != 4 || w->ndim != 4)
        return false;
    if (bias && (bias->device.type != VOLT_CPU || bias->dtype != VOLT_F32 || bias->ndim != 1 ||
                 bias->shape[0] != w->shape[0]))
        return false;
    if (!volt_fast_kernels_enabled() || volt_autocast_bf16_for(VOLT_F32) ||
        (x->requires_grad && volt_grad_enabled()) || groups != 1 || !pair_is(stride, 1, true) ||
        !pair_is(padding, 1, false) || !pair_is(dilation, 1, true) || x->shape[1] != 1 ||
        w->shape[1] != 1 || w->shape[2] != 3 || w->shape[3] != 3)
        return false;
    *geo = (volt_conv_geom){.n = x->shape[0], .c = 1, .h = x->shape[2], .w = x->shape[3],
                            .o = w->shape[0], .oh = x->shape[2], .ow = x->shape[3],
                            .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .ph = 1,
                            .pw = 1, .groups = 1, .with_bias = bias != NULL};
    return volt_cpu_conv_c1_relu_pool_applies(geo);
}

static void record(volt_tensor *y, const volt_tensor *const *inputs, const volt_conv_geom *geo,
                   volt_tensor *xd, volt_tensor *code) {
    volt_conv_geom *info = malloc(sizeof *info);
    volt_node *node = info ? volt_autograd_record(OP, fused_backward, y, 3, inputs) : NULL;
    if (!node) {
        free(info);
        if (!info) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", OP);
        return;
    }
    *info = *geo;
    node->extra = info;
    volt_node_save(node, xd);
    volt_node_save(node, code);
}

static volt_tensor *fused(const volt_conv_geom *geo, const volt_tensor *x, const volt_tensor *w,
                          const volt_tensor *bias) {
    VOLT_TRACE_OP(OP);
    const volt_tensor *inputs[3] = {x, w, bias};
    bool recording = volt_autograd_should_record(3, inputs);
    int64_t y4[4] = {geo->n, geo->o, geo->h / 2, geo->w / 2};
    volt_tensor *xd = volt_dense_as(x, 4, x->shape), *wd = volt_dense_as(w, 4, w->shape);
    volt_tensor *bd = bias ? volt_dense_as(bias, 1, bias->shape) : NULL;
    volt_tensor *y = xd && wd && (bd || !bias) ? volt_tensor_new(VOLT_F32, x->device, 4, y4) : NULL;
    volt_tensor *code = y && recording ? volt_tensor_new(VOLT_U8, x->device, 4, y4) : NULL;
    volt_status st = y && (code || !recording) ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK)
        st = volt_cpu_conv_c1_relu_pool_forward_f32(geo, volt_tensor_data(xd),
                                                    volt_tensor_data(wd),
                                                    bd ? volt_tensor_data(bd) : NULL,
                                                    volt_tensor_data(y),
                                                    code ? volt_tensor_data(code) : NULL);
    if (st != VOLT_OK) {
        volt_tensor_free(y);
        y = NULL;
    }
    if (y && recording) record(y, inputs, geo, xd, code);
    volt_tensor_free(xd);
    volt_tensor_free(wd);
    volt_tensor_free(bd);
    volt_tensor_free(code);
    return y;
}

volt_tensor *volt_conv2d_relu_max_pool2x2_cached(const volt_tensor *x, const volt_tensor *w,
                                                 const volt_tensor *bias, const int64_t stride[2],
                                                 const int64_t padding[2],
                                                 const int64_t dilation[2], int64_t groups,
                                                 volt_dnnl_weight_cache *cache) {
    volt_conv_geom geo;
    if (fused_applies(x, w, bias, stride, padding, dilation, groups, &geo))
        return fused(&geo, x, w, bias);
    volt_tensor *h =
        volt_conv2d_relu_cached(x, w, bias, stride, padding, dilation, groups, cache);
    if (!h) return NULL;
    volt_tensor *y = volt_max_pool2d(h, (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
    volt_tensor_free(h);
    return y;
}

volt_tensor *volt_conv2d_relu_max_pool2x2(const volt_tensor *x, const volt_tensor *w,
                                          const volt_tensor *bias, const int64_t stride[2],
                                          const int64_t padding[2], const int64_t dilation[2],
                                          int64_t groups) {
    return volt_conv2d_relu_max_pool2x2_cached(x, w, bias, stride, padding, dilation, groups,
                                               NULL);
}
