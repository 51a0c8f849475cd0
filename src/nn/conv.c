/* conv.c: the Conv1d, Conv2d and ConvTranspose2d layers — hyperparameter
 * checks, PyTorch's default initialisation, input checks naming the layer,
 * and the oneDNN weight cache a layer keeps between steps — over the conv
 * ops (src/ops/conv.c); plus the input checks and error relabelling shared
 * with the pool and batch-norm layers (conv_layers_impl.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/conv_layers_impl.h"
#include "ops/conv_impl.h"

bool volt_conv_layer_check(const char *type, const volt_module *m, const volt_tensor *x,
                           const volt_tensor *param, int rank_a, int rank_b, int channel_dim,
                           int64_t channels) {
    if (!volt_layer_check_input(type, m, x, param)) return false;
    char label[160], bx[96];
    volt_layer_label(m, label, sizeof label);
    volt_shape_str(x, bx, sizeof bx);
    if (x->ndim != rank_a && x->ndim != rank_b) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: input %s should be %d-D or %d-D", label, bx, rank_a,
                       rank_b);
        return false;
    }
    int d = channel_dim < 0 ? x->ndim + channel_dim : channel_dim;
    if (channels >= 0 && x->shape[d] != channels) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: input %s has %lld channels, expected %lld", label, bx,
                       (long long)x->shape[d], (long long)channels);
        return false;
    }
    return true;
}

volt_tensor *volt_conv_layer_result(const volt_module *m, volt_tensor *y, bool had_error) {
    if (y || had_error || volt_error_status() == VOLT_OK) return y;
    char label[160], msg[512];
    const char *text = volt_error_message();
    if (strncmp(text, "volt: ", 6) == 0) text += 6;
    snprintf(msg, sizeof msg, "%s", text);
    volt_status st = volt_error_status();
    volt_error_clear();
    volt_error_set(st, "%s: %s", volt_layer_label(m, label, sizeof label), msg);
    return NULL;
}

/* ------------------------------------------------------------- layers */

static void conv_destroy(volt_module *self) {
    volt_dnnl_weight_cache_free(((volt_conv_layer *)self)->weight_cache);
}

static volt_tensor *conv1d_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_conv1d_layer_forward((volt_conv_layer *)self, x);
}
static volt_tensor *conv2d_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_conv2d_layer_forward((volt_conv_layer *)self, x);
}
static volt_tensor *conv_t_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_conv_transpose2d_layer_forward((volt_conv_layer *)self, x);
}

static const volt_module_class conv1d_class = {"Conv1d", conv1d_forward_class, conv_destroy,
                                               sizeof(volt_conv_layer)};
static const volt_module_class conv2d_class = {"Conv2d", conv2d_forward_class, conv_destroy,
                                               sizeof(volt_conv_layer)};
static const volt_module_class conv_t_class = {"ConvTranspose2d", conv_t_forward_class,
                                               conv_destroy, sizeof(volt_conv_layer)};

/* The first bad hyperparameter, as "kernel_size 0 (must be >= 1)", or NULL. */
static const char *bad_hparam(const volt_conv_layer *l, char *buf, size_t size) {
    struct {
        const char *name;
        int64_t v, min;
    } checks[] = {{"in_channels", l->in_channels, 1},
                  {"out_channels", l->out_channels, 1},
                  {"groups", l->groups, 1}};
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++)
        if (checks[i].v < checks[i].min) {
            snprintf(buf, size, "%s %lld (must be >= %lld)", checks[i].name, (long long)checks[i].v,
                     (long long)checks[i].min);
            return buf;
        }
    for (int i = 0; i < l->dims; i++) {
        const char *name = l->kernel_size[i] < 1 ? "kernel_size"
                           : l->stride[i] < 1    ? "stride"
                           : l->dilation[i] < 1  ? "dilation"
                                                 : NULL;
        int64_t v = l->kernel_size[i] < 1 ? l->kernel_size[i]
                    : l->stride[i] < 1    ? l->stride[i]
                                          : l->dilation[i];
        if (name) {
            snprintf(buf, size, "%s %lld (must be >= 1)", name, (long long)v);
            return buf;
        }
        bool same = l->padding[i] == VOLT_PADDING_SAME;
        if (l->padding[i] < 0 && !same) {
            snprintf(buf, size, "padding %lld (must be >= 0 or VOLT_PADDING_SAME)",
                     (long long)l->padding[i]);
            return buf;
        }
        if (same && (l->stride[i] != 1 || l->transposed)) {
            snprintf(buf, size, "padding 'same' needs stride 1%s (stride %lld)",
                     l->transposed ? " and is not taken by ConvTranspose2d" : "",
                     (long long)l->stride[i]);
            return buf;
        }
        int64_t op = l->output_padding[i];
        if (op < 0 || (op > 0 && !l->transposed) || (op >= l->stride[i] && op >= l->dilation[i])) {
            snprintf(buf, size,
                     "output_padding %lld (must be >= 0 and smaller than the stride or "
                     "the dilation)",
                     (long long)op);
            return buf;
        }
    }
    if (l->in_channels % l->groups || l->out_channels % l->groups) {
        snprintf(buf, size, "groups %lld must divide in_channels (%lld) and out_channels (%lld)",
                 (long long)l->groups, (long long)l->in_channels, (long long)l->out_channels);
        return buf;
    }
    return NULL;
}

static volt_conv_layer *conv_new(const volt_module_class *cls, int dims, bool transposed,
                                 volt_module *parent, const char *name, int64_t in, int64_t out,
                                 const int64_t *kernel, const volt_conv_options *options) {
    volt_conv_options o = options ? *options : (volt_conv_options){0};
    char label[160], bad[192];
    volt_layer_label_of(cls->type_name, name, label, sizeof label);
    volt_conv_layer probe = {.in_channels = in,
                             .out_channels = out,
                             .dims = dims,
                             .transposed = transposed,
                             .groups = o.groups ? o.groups : 1,
                             .has_bias = !o.no_bias};
    for (int i = 0; i < 2; i++) {
        probe.kernel_size[i] = i < dims ? kernel[i] : 1;
        probe.stride[i] = i < dims && o.stride[i] ? o.stride[i] : 1;
        probe.padding[i] = i < dims ? o.padding[i] : 0;
        probe.output_padding[i] = i < dims ? o.output_padding[i] : 0;
        probe.dilation[i] = i < dims && o.dilation[i] ? o.dilation[i] : 1;
    }
    if (bad_hparam(&probe, bad, sizeof bad)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s", label, bad);
        return NULL;
    }
    volt_conv_layer *l = (volt_conv_layer *)volt_layer_create(cls, name);
    if (!l) return NULL;
    volt_module base = l->base;
    *l = probe;
    l->base = base;
    /* weight [out, in / g, k...] ([in, out / g, k...] transposed). */
    int64_t shape[4] = {transposed ? in : out, (transposed ? out : in) / l->groups,
                        l->kernel_size[0], l->kernel_size[1]};
    volt_tensor *w = volt_layer_add_param(&l->base, "weight", dims + 2, shape);
    bool ok =
        w && volt_init_kaiming_uniform_(w, sqrt(5.0), VOLT_FAN_IN, "leaky_relu", o.gen) == VOLT_OK;
    int64_t fan_in = 0, fan_out = 0;
    if (ok && l->has_bias) {
        ok = volt_init_fans(w, &fan_in, &fan_out) == VOLT_OK;
        volt_tensor *b = ok ? volt_layer_add_param(&l->base, "bias", VOLT_SHAPE(out)) : NULL;
        double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
        ok = b && volt_init_uniform_(b, -bound, bound, o.gen) == VOLT_OK;
    }
    if (ok && !transposed) ok = (l->weight_cache = volt_dnnl_weight_cache_new()) != NULL;
    return (volt_conv_layer *)volt_layer_attach(&l->base, parent, name, ok);
}

volt_conv1d_layer *volt_conv1d_layer_new(volt_module *parent, const char *name, int64_t in_channels,
                                         int64_t out_channels, int64_t kernel_size,
                                         const volt_conv_options *options) {
    int64_t k[1] = {kernel_size};
    return conv_new(&conv1d_class, 1, false, parent, name, in_channels, out_channels, k, options);
}

volt_conv2d_layer *volt_conv2d_layer_new(volt_module *parent, const char *name, int64_t in_channels,
                                         int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
                                         const volt_conv_options *options) {
    int64_t k[2] = {kernel_h, kernel_w};
    return conv_new(&conv2d_class, 2, false, parent, name, in_channels, out_channels, k, options);
}

volt_conv_transpose2d_layer *volt_conv_transpose2d_layer_new(volt_module *parent, const char *name,
                                                             int64_t in_channels,
                                                             int64_t out_channels, int64_t kernel_h,
                                                             int64_t kernel_w,
                                                             const volt_conv_options *options) {
    int64_t k[2] = {kernel_h, kernel_w};
    return conv_new(&conv_t_class, 2, true, parent, name, in_channels, out_channels, k, options);
}

/* What follows the convolution inside the same op. */
typedef enum { THEN_NOTHING, THEN_RELU, THEN_RELU_POOL } conv_then;

static volt_tensor *conv_forward(const char *type, volt_conv_layer *l, const volt_tensor *x,
                                 conv_then then) {
    volt_tensor *w = l ? volt_layer_param(&l->base, "weight") : NULL;
    int rank = l ? l->dims + 2 : 4;
    if (!volt_conv_layer_check(type, l ? &l->base : NULL, x, w, rank, rank - 1, -(rank - 1),
                               l ? l->in_channels : -1))
        return NULL;
    volt_tensor *b = l->has_bias ? volt_layer_param(&l->base, "bias") : NULL;
    bool had_error = volt_error_status() != VOLT_OK;
    volt_tensor *y;
    if (l->transposed)
        y = volt_conv_transpose2d(x, w, b, l->stride, l->padding, l->output_padding, l->dilation,
                                  l->groups);
    else if (l->dims == 1)
        y = volt_conv1d_cached(x, w, b, l->stride[0], l->padding[0], l->dilation[0], l->groups,
                               l->weight_cache);
    else if (then == THEN_RELU_POOL)
        y = volt_conv2d_relu_max_pool2x2_cached(x, w, b, l->stride, l->padding, l->dilation,
                                                l->groups, l->weight_cache);
    else if (then == THEN_RELU)
        y = volt_conv2d_relu_cached(x, w, b, l->stride, l->padding, l->dilation, l->groups,
                                    l->weight_cache);
    else
        y = volt_conv2d_cached(x, w, b, l->stride, l->padding, l->dilation, l->groups,
                               l->weight_cache);
    return volt_conv_layer_result(&l->base, y, had_error);
}

volt_tensor *volt_conv1d_layer_forward(volt_conv1d_layer *layer, const volt_tensor *x) {
    return conv_forward("Conv1d", layer, x, THEN_NOTHING);
}

volt_tensor *volt_conv2d_layer_forward(volt_conv2d_layer *layer, const volt_tensor *x) {
    return conv_forward("Conv2d", layer, x, THEN_NOTHING);
}

volt_tensor *volt_conv2d_relu_layer_forward(volt_conv2d_layer *layer, const volt_tensor *x) {
    return conv_forward("Conv2d", layer, x, THEN_RELU);
}

volt_tensor *volt_conv2d_relu_max_pool2x2_layer_forward(volt_conv2d_layer *layer,
                                                        const volt_tensor *x) {
    return conv_forward("Conv2d", layer, x, THEN_RELU_POOL);
}

volt_tensor *volt_conv_transpose2d_layer_forward(volt_conv_transpose2d_layer *layer,
                                                 const volt_tensor *x) {
    return conv_forward("ConvTranspose2d", layer, x, THEN_NOTHING);
}
