/* pool.c: the MaxPool2d, AvgPool2d and AdaptiveAvgPool2d layers — no
 * parameters; hyperparameter checks at construction, input checks naming
 * the layer — over the pooling ops (src/ops/pool.c). */
#include <stdio.h>

#include "nn/conv_layers_impl.h"

static volt_tensor *max_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_max_pool2d_layer_forward((volt_pool2d_layer *)self, x);
}
static volt_tensor *avg_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_avg_pool2d_layer_forward((volt_pool2d_layer *)self, x);
}
static volt_tensor *adaptive_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_adaptive_avg_pool2d_layer_forward((volt_adaptive_avg_pool2d_layer *)self, x);
}

static const volt_module_class max_class = {"MaxPool2d", max_forward_class, NULL,
                                            sizeof(volt_pool2d_layer)};
static const volt_module_class avg_class = {"AvgPool2d", avg_forward_class, NULL,
                                            sizeof(volt_pool2d_layer)};
static const volt_module_class adaptive_class = {"AdaptiveAvgPool2d", adaptive_forward_class, NULL,
                                                 sizeof(volt_adaptive_avg_pool2d_layer)};

static volt_pool2d_layer *pool_new(const volt_module_class *cls, volt_module *parent,
                                   const char *name, int64_t kh, int64_t kw,
                                   const volt_pool_options *options) {
    volt_pool_options o = options ? *options : (volt_pool_options){0};
    volt_pool2d_layer p = {
        .kernel_size = {kh, kw}, .ceil_mode = o.ceil_mode, .count_include_pad = !o.exclude_pad};
    char label[160];
    volt_layer_label_of(cls->type_name, name, label, sizeof label);
    for (int i = 0; i < 2; i++) {
        p.stride[i] = o.stride[i] ? o.stride[i] : p.kernel_size[i];
        p.padding[i] = o.padding[i];
        p.dilation[i] = o.dilation[i] ? o.dilation[i] : 1;
        const char *what = p.kernel_size[i] < 1 ? "kernel_size"
                           : p.stride[i] < 1    ? "stride"
                           : p.dilation[i] < 1  ? "dilation"
                           : p.padding[i] < 0   ? "padding"
                                                : NULL;
        int64_t v = p.kernel_size[i] < 1 ? p.kernel_size[i]
                    : p.stride[i] < 1    ? p.stride[i]
                    : p.dilation[i] < 1  ? p.dilation[i]
                                         : p.padding[i];
        if (what) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s %lld (must be >= %d)", label, what,
                           (long long)v, what[0] == 'p' ? 0 : 1);
            return NULL;
        }
        int64_t span = p.dilation[i] * (p.kernel_size[i] - 1) + 1;
        if (p.padding[i] > span / 2) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "%s: padding %lld (must be at most half the kernel, %lld)", label,
                           (long long)p.padding[i], (long long)(span / 2));
            return NULL;
        }
    }
    volt_pool2d_layer *l = (volt_pool2d_layer *)volt_layer_create(cls, name);
    if (!l) return NULL;
    volt_module base = l->base;
    *l = p;
    l->base = base;
    return (volt_pool2d_layer *)volt_layer_attach(&l->base, parent, name, true);
}

volt_max_pool2d_layer *volt_max_pool2d_layer_new(volt_module *parent, const char *name,
                                                 int64_t kernel_h, int64_t kernel_w,
                                                 const volt_pool_options *options) {
    return pool_new(&max_class, parent, name, kernel_h, kernel_w, options);
}

volt_avg_pool2d_layer *volt_avg_pool2d_layer_new(volt_module *parent, const char *name,
                                                 int64_t kernel_h, int64_t kernel_w,
                                                 const volt_pool_options *options) {
    return pool_new(&avg_class, parent, name, kernel_h, kernel_w, options);
}

volt_tensor *volt_max_pool2d_layer_forward(volt_max_pool2d_layer *l, const volt_tensor *x) {
    if (!volt_conv_layer_check("MaxPool2d", l ? &l->base : NULL, x, NULL, 4, 3, 0, -1)) return NULL;
    bool had_error = volt_error_status() != VOLT_OK;
    volt_tensor *y =
        volt_max_pool2d(x, l->kernel_size, l->stride, l->padding, l->dilation, l->ceil_mode, NULL);
    return volt_conv_layer_result(&l->base, y, had_error);
}

volt_tensor *volt_avg_pool2d_layer_forward(volt_avg_pool2d_layer *l, const volt_tensor *x) {
    if (!volt_conv_layer_check("AvgPool2d", l ? &l->base : NULL, x, NULL, 4, 3, 0, -1)) return NULL;
    bool had_error = volt_error_status() != VOLT_OK;
    volt_tensor *y = volt_avg_pool2d(x, l->kernel_size, l->stride, l->padding, l->ceil_mode,
                                     l->count_include_pad);
    return volt_conv_layer_result(&l->base, y, had_error);
}

volt_adaptive_avg_pool2d_layer *volt_adaptive_avg_pool2d_layer_new(volt_module *parent,
                                                                   const char *name, int64_t out_h,
                                                                   int64_t out_w) {
    if (out_h < 1 || out_w < 1) {
        char label[160];
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: output size %lldx%lld (must be >= 1)",
                       volt_layer_label_of("AdaptiveAvgPool2d", name, label, sizeof label),
                       (long long)out_h, (long long)out_w);
        return NULL;
    }
    volt_adaptive_avg_pool2d_layer *l =
        (volt_adaptive_avg_pool2d_layer *)volt_layer_create(&adaptive_class, name);
    if (!l) return NULL;
    l->output_size[0] = out_h;
    l->output_size[1] = out_w;
    return (volt_adaptive_avg_pool2d_layer *)volt_layer_attach(&l->base, parent, name, true);
}

volt_tensor *volt_adaptive_avg_pool2d_layer_forward(volt_adaptive_avg_pool2d_layer *l,
                                                    const volt_tensor *x) {
    if (!volt_conv_layer_check("AdaptiveAvgPool2d", l ? &l->base : NULL, x, NULL, 4, 3, 0, -1))
        return NULL;
    bool had_error = volt_error_status() != VOLT_OK;
    volt_tensor *y = volt_adaptive_avg_pool2d(x, l->output_size[0], l->output_size[1]);
    return volt_conv_layer_result(&l->base, y, had_error);
}
