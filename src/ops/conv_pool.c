/* conv_pool.c: conv2d_relu_max_pool2x2 — a CNN block, max_pool2d(relu(
 * conv2d(x)), 2) — as one op, in f32 on the CPU, two ways:
 *  - one input channel, 3x3, padding 1, an input that needs no gradient (a
 *    CNN's first block on grey images): one pass (ops/cpu/conv_c1_pool.c)
 *    that never stores the convolution's [n, o, h, w] output, only the
 *    pooled output and a byte per output for the weight gradients. Under
 *    bf16 autocast it runs on x, w and the incoming gradient rounded to
 *    bf16, as conv2d_relu does for one input channel (the routed gradient
 *    is the pooled gradient's elements, so rounding either is the same);
 *  - other ungrouped stride-1 convolutions (not of one input channel,
 *    3x3, padding 1, whose direct kernel wins) with a multiple of 16 output
 *    channels, where oneDNN's primitive leaves its output in 16-channel
 *    blocks (f32) or NHWC (its bf16 AMX kernels, under autocast): the ReLU
 *    and pooling read it in that layout, and the gradient is written back
 *    in it (ops/cpu/pool_blocked.c; in bf16, rounded to nearest even
 *    bf16, so the backward primitives read it as it is), so
 *    neither the output nor the gradient is reordered, and the ReLU costs
 *    no pass of its own.
 * bf16 tensors (precision "bf16-true") take either path widened, as under
 * autocast, with each convolution value rounded to bf16 before the pooling
 * (the bf16 ops' values and pooling choices). Every other case runs conv2d_relu and max_pool2d,
 * which check the arguments and name what is wrong. Either way the values
 * are the same. */
#include <stdlib.h>

#include "ops/autocast_impl.h"
#include "ops/conv_impl.h"
#include "ops/cpu/conv_c1_pool.h"
#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/pool_blocked.h"

static const char OP[] = "conv2d_relu_max_pool2x2";

/* node->extra. Saved slots (-1: not saved): x and w as 4-D, the codes. */
typedef struct {
    volt_conv_geom g;
    bool blocked;  /* the oneDNN path; else the one-pass kernel */
    bool bf16;     /* the forward ran under bf16 autocast: so does the backward */
    int64_t block; /* the oneDNN path: channels per block of its output */
    int x_slot, w_slot, code_slot;
    bool x_nhwc; /* x_slot holds x as the bf16 convolution read it (bf16 NHWC) */
} fused_info;

/* The pooling's geometry over the convolution's output. */
static volt_pool_geom pool_geom(const volt_conv_geom *g) {
    return (volt_pool_geom){.n = g->n,
                            .c = g->o,
                            .h = g->oh,
                            .w = g->ow,
                            .oh = g->oh / 2,
                            .ow = g->ow / 2,
                            .kh = 2,
                            .kw = 2,
                            .sh = 2,
                            .sw = 2,
                            .dh = 1,
                            .dw = 1};
}

/* ------------------------------------------------------------ gradient */

/* gx (blocked path only), gw and gb from the pooled output's gradient g4. */
static volt_status gradients(const volt_node *node, const fused_info *fi, const volt_tensor *g4,
                             volt_tensor *gx, volt_tensor *gw, volt_tensor *gb) {
    const volt_conv_geom *geo = &fi->g;
    volt_tensor *x = fi->x_slot >= 0 ? volt_node_saved(node, fi->x_slot) : NULL;
    const uint8_t *code = volt_tensor_data(volt_node_saved(node, fi->code_slot));
    if (!fi->blocked) {
        volt_tensor *gr = fi->bf16 ? volt_bf16_rounded(g4) : NULL;
        if (fi->bf16 && !gr) return volt_error_status();
        volt_status st = volt_cpu_conv_c1_relu_pool_backward_weights_f32(
            geo, volt_tensor_data(x), volt_tensor_data(gr ? gr : g4), code, volt_tensor_data(gw),
            gb ? volt_tensor_data(gb) : NULL);
        volt_tensor_free(gr);
        return st;
    }
    /* In bf16 the gradient is written rounded, as the primitives read it. */
    size_t es = fi->bf16 ? sizeof(uint16_t) : sizeof(float);
    void *gy = volt_dnnl_scratch((size_t)(geo->n * geo->o * geo->oh * geo->ow) * es);
    if (!gy) return volt_error_status();
    volt_pool_geom pg = pool_geom(geo);
    volt_cpu_relu_pool2x2_blocked_backward(&pg, fi->block, volt_tensor_data(g4), code, gy,
                                           fi->bf16);
    volt_tensor *w = fi->w_slot >= 0 ? volt_node_saved(node, fi->w_slot) : NULL;
    volt_status st =
        volt_dnnl_conv_backward_blocked(geo, fi->x_nhwc ? NULL : x, fi->x_nhwc ? x : NULL, gy,
                                        fi->bf16, fi->block, w, gx, gw, gb, fi->bf16);
    volt_dnnl_scratch_free(gy);
    if (st == VOLT_ERR_UNSUPPORTED) /* its forward ran: not expected */
        st = volt_error_set(VOLT_ERR_INTERNAL, "%s: oneDNN declined the backward pass", OP);
    return st;
}

static volt_status fused_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("conv_pool_backward");
    const fused_info *fi = node->extra;
    const volt_conv_geom *geo = &fi->g;
    const volt_node_input *in = node->inputs;
    const volt_tensor *gd = volt_as_dtype(g, VOLT_F32);
    volt_tensor *g4 =
        gd ? volt_dense_as(gd, 4, (int64_t[]){geo->n, geo->o, geo->oh / 2, geo->ow / 2}) : NULL;
    /* The kernels give the bias's gradient with the weight's: gw is made
     * either way and dropped when only the bias needs one. */
    bool want_w = in[1].needs || in[2].needs;
    volt_tensor *gx =
        g4 && in[0].needs ? volt_tensor_new(VOLT_F32, g->device, in[0].ndim, in[0].shape) : NULL;
    volt_tensor *gw =
        g4 && want_w ? volt_tensor_new(VOLT_F32, g->device, in[1].ndim, in[1].shape) : NULL;
    volt_tensor *gb =
        g4 && in[2].needs ? volt_tensor_new(VOLT_F32, g->device, 1, in[2].shape) : NULL;
    volt_status st = g4 && (gx || !in[0].needs) && (gw || !want_w) && (gb || !in[2].needs)
                         ? gradients(node, fi, g4, gx, gw, gb)
                         : volt_error_status();
    volt_tensor_free(g4);
    if (st != VOLT_OK || !in[1].needs) {
        volt_tensor_free(gw);
        gw = NULL;
    }
    if (st != VOLT_OK) {
        volt_tensor_free(gx);
        volt_tensor_free(gb);
        return st;
    }
    grads[0] = gx;
    grads[1] = gw;
    grads[2] = gb;
    return VOLT_OK;
}

/* ------------------------------------------------------------------ op */

/* v (NULL: the default, 1) is {1, 1}. */
static bool pair_is_one(const int64_t *v) { return !v || (v[0] == 1 && v[1] == 1); }

/* Whether a fused path takes these arguments, all of dtype d (f32; bf16
 * for fused_bf16); fills geo and *blocked (which one) when so. Anything
 * unusual (including every bad input) goes to the three ops. */
static bool fused_applies(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                          const int64_t stride[2], const int64_t padding[2],
                          const int64_t dilation[2], int64_t groups, volt_dtype d, bool autocast,
                          volt_conv_geom *geo, bool *blocked) {
    if (!x || !w || x->device.type != VOLT_CPU || w->device.type != VOLT_CPU || x->ndim != 4 ||
        w->ndim != 4)
        return false;
    /* operands of dtype d, or under autocast f32 and bf16 ones in any mix */
    if (autocast ? !volt_autocast_casts(x, d) || !volt_autocast_casts(w, d) ||
                       !volt_autocast_casts(bias, d)
                 : x->dtype != d || w->dtype != d || (bias && bias->dtype != d))
        return false;
    if (bias && (bias->device.type != VOLT_CPU || bias->ndim != 1 || bias->shape[0] != w->shape[0]))
        return false;
    int64_t ph = padding ? padding[0] : 0, pw = padding ? padding[1] : 0;
    if (!volt_fast_kernels_enabled() || groups != 1 || !pair_is_one(stride) ||
        !pair_is_one(dilation) || ph < 0 || pw < 0 || x->shape[1] != w->shape[1])
        return false;
    *geo = (volt_conv_geom){.n = x->shape[0],
                            .c = x->shape[1],
                            .h = x->shape[2],
                            .w = x->shape[3],
                            .o = w->shape[0],
                            .kh = w->shape[2],
                            .kw = w->shape[3],
                            .sh = 1,
                            .sw = 1,
                            .dh = 1,
                            .dw = 1,
                            .ph = ph,
                            .pw = pw,
                            .groups = 1,
                            .with_bias = bias != NULL};
    geo->oh = geo->h + 2 * ph - geo->kh + 1;
    geo->ow = geo->w + 2 * pw - geo->kw + 1;
    if (geo->n < 1 || geo->oh < 2 || geo->ow < 2) return false;
    /* One input channel: the one-pass kernel, or (x needing its gradient)
     * conv2d_relu's direct kernel, faster than oneDNN's there. */
    *blocked = !volt_cpu_conv_c1_relu_pool_applies(geo);
    if (!*blocked) return !(x->requires_grad && volt_grad_enabled());
    return geo->o % 16 == 0 && volt_cpu_pool_blocked16_available();
}

/* x_nhwc: the bf16 convolution's own copy of x (run_blocked's keep_src),
 * saved for the weight gradient instead of xd when not NULL. */
static void record(volt_tensor *y, const volt_tensor *const *inputs, const volt_conv_geom *geo,
                   bool blocked, bool bf16, int64_t block, volt_tensor *xd, volt_tensor *x_nhwc,
                   volt_tensor *wd, volt_tensor *code) {
    fused_info *info = malloc(sizeof *info);
    volt_node *node = info ? volt_autograd_record(OP, fused_backward, y, 3, inputs) : NULL;
    if (!node) {
        free(info);
        if (!info) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", OP);
        return;
    }
    bool weights = inputs[1]->requires_grad || (inputs[2] && inputs[2]->requires_grad);
    *info = (fused_info){*geo, blocked, bf16, block, -1, -1, -1, x_nhwc != NULL};
    info->x_slot = weights ? volt_node_save(node, x_nhwc ? x_nhwc : xd) : -1;
    info->w_slot = blocked && inputs[0]->requires_grad ? volt_node_save(node, wd) : -1;
    info->code_slot = volt_node_save(node, code);
    node->extra = info;
}

/* The pooled output and codes of the oneDNN path (in bf16 with bf16; the
 * convolution's values rounded to bf16 before pooling with round), and
 * *block; VOLT_ERR_UNSUPPORTED (no error) when oneDNN's layout is neither
 * 16-channel blocks nor NHWC. */
static volt_status run_blocked(const volt_conv_geom *geo, const volt_tensor *xd,
                               const volt_tensor *wd, const volt_tensor *bd,
                               volt_dnnl_weight_cache *cache, bool bf16, bool round, volt_tensor *y,
                               volt_tensor *code, int64_t *block, volt_tensor **keep_x) {
    float *conv = NULL;
    volt_status st =
        volt_dnnl_conv_forward_blocked(geo, xd, wd, bd, cache, bf16, &conv, block, keep_x);
    if (st != VOLT_OK) return st;
    volt_pool_geom pg = pool_geom(geo);
    volt_cpu_relu_pool2x2_blocked_f32(&pg, *block, round, conv, volt_tensor_data(y),
                                      code ? volt_tensor_data(code) : NULL);
    volt_dnnl_scratch_free(conv);
    return VOLT_OK;
}

/* *out = the op's result (round_bf16: each convolution value is rounded to
 * bf16 before the pooling, see fused_bf16). VOLT_ERR_UNSUPPORTED, no
 * error recorded, when oneDNN declines: the caller runs the three ops. */
static volt_status fused(const volt_conv_geom *geo, bool blocked, bool round_bf16,
                         const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                         volt_dnnl_weight_cache *cache, volt_tensor **out) {
    VOLT_TRACE_OP(OP);
    const volt_tensor *inputs[3] = {x, w, bias};
    bool recording = volt_autograd_should_record(3, inputs);
    int64_t y4[4] = {geo->n, geo->o, geo->oh / 2, geo->ow / 2};
    /* Under bf16 autocast the one-pass kernel takes x and w rounded; oneDNN
     * converts them itself. */
    bool bf16 = volt_autocast_bf16_for(VOLT_F32), round_inputs = bf16 && !blocked;
    volt_tensor *xd = round_inputs ? volt_bf16_rounded(x) : volt_dense_as(x, 4, x->shape);
    volt_tensor *wd = round_inputs ? volt_bf16_rounded(w) : volt_dense_as(w, 4, w->shape);
    int64_t block = 0;
    volt_tensor *bd = bias ? volt_dense_as(bias, 1, bias->shape) : NULL;
    volt_tensor *y = xd && wd && (bd || !bias) ? volt_tensor_new(VOLT_F32, x->device, 4, y4) : NULL;
    volt_tensor *code = y && recording ? volt_tensor_new(VOLT_U8, x->device, 4, y4) : NULL;
    volt_status st = y && (code || !recording) ? VOLT_OK : volt_error_status();
    /* The bf16 convolution's copy of x serves the weight gradient. */
    volt_tensor *x_nhwc = NULL;
    bool keep = recording && bf16 && (w->requires_grad || (bias && bias->requires_grad));
    if (st == VOLT_OK && blocked)
        st = run_blocked(geo, xd, wd, bd, cache, bf16, round_bf16, y, code, &block,
                         keep ? &x_nhwc : NULL);
    else if (st == VOLT_OK)
        st = volt_cpu_conv_c1_relu_pool_forward_f32(
            geo, volt_tensor_data(xd), volt_tensor_data(wd), bd ? volt_tensor_data(bd) : NULL,
            round_bf16, volt_tensor_data(y), code ? volt_tensor_data(code) : NULL);
    if (st != VOLT_OK) {
        volt_tensor_free(y);
        y = NULL;
    }
    if (y && recording) record(y, inputs, geo, blocked, bf16, block, xd, x_nhwc, wd, code);
    volt_tensor_free(x_nhwc);
    volt_tensor_free(xd);
    volt_tensor_free(wd);
    volt_tensor_free(bd);
    volt_tensor_free(code);
    *out = y;
    return st;
}

/* bf16 x, w and bias (precision "bf16-true"), or under bf16 autocast f32
 * and bf16 ones in any mix: those in bf16 widened to f32 (exact) and run
 * in bf16, each convolution value rounded to bf16 after its ReLU in the
 * pooling kernel — as conv2d_relu rounds its bf16 result — so that the
 * pooling compares, and picks, what the bf16 ops do; the result narrowed
 * (exact). The gradients come back through the widening, rounded once.
 * VOLT_ERR_UNSUPPORTED, no error, when oneDNN declines: the caller runs the
 * three ops. */
static volt_status fused_bf16(const volt_conv_geom *geo, bool blocked, const volt_tensor *x,
                              const volt_tensor *w, const volt_tensor *bias,
                              volt_dnnl_weight_cache *cache, volt_tensor **out) {
    const volt_tensor *wx = volt_bf16_widen(x), *ww = wx ? volt_bf16_widen(w) : NULL;
    const volt_tensor *wb = ww ? volt_bf16_widen(bias) : NULL;
    volt_status st = ww && (wb || !bias) ? VOLT_OK : volt_error_status();
    volt_tensor *y = NULL;
    if (st == VOLT_OK) {
        volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
        /* a widened weight is new: no weight cache */
        st = fused(geo, blocked, true, wx, ww, wb, ww == w ? cache : NULL, &y);
        volt_autocast_set(prev);
    }
    *out = st == VOLT_OK ? volt_bf16_narrow(y) : NULL;
    if (st == VOLT_OK && !*out) st = volt_error_status();
    volt_bf16_drop(wx, x);
    volt_bf16_drop(ww, w);
    volt_bf16_drop(wb, bias);
    return st;
}

volt_tensor *volt_conv2d_relu_max_pool2x2_cached(const volt_tensor *x, const volt_tensor *w,
                                                 const volt_tensor *bias, const int64_t stride[2],
                                                 const int64_t padding[2],
                                                 const int64_t dilation[2], int64_t groups,
                                                 volt_dnnl_weight_cache *cache) {
    volt_conv_geom geo;
    bool blocked, autocast = volt_autocast_dtype(VOLT_DEVICE_CPU) == VOLT_BF16;
    if (!autocast && fused_applies(x, w, bias, stride, padding, dilation, groups, VOLT_F32, false,
                                   &geo, &blocked)) {
        volt_tensor *y = NULL;
        if (fused(&geo, blocked, false, x, w, bias, cache, &y) != VOLT_ERR_UNSUPPORTED) return y;
    }
    if (fused_applies(x, w, bias, stride, padding, dilation, groups, VOLT_BF16, autocast, &geo,
                      &blocked)) {
        volt_tensor *y = NULL;
        if (fused_bf16(&geo, blocked, x, w, bias, cache, &y) != VOLT_ERR_UNSUPPORTED) return y;
    }
    volt_tensor *h = volt_conv2d_relu_cached(x, w, bias, stride, padding, dilation, groups, cache);
    if (!h) return NULL;
    volt_tensor *y = volt_max_pool2d(h, (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
    volt_tensor_free(h);
    return y;
}

volt_tensor *volt_conv2d_relu_max_pool2x2(const volt_tensor *x, const volt_tensor *w,
                                          const volt_tensor *bias, const int64_t stride[2],
                                          const int64_t padding[2], const int64_t dilation[2],
                                          int64_t groups) {
    return volt_conv2d_relu_max_pool2x2_cached(x, w, bias, stride, padding, dilation, groups, NULL);
}
