/* linear.c: the Linear layer — y = x W^T + b over the last dim, with
 * PyTorch's default initialisation (kaiming_uniform a = sqrt(5) for the
 * weight, U(+-1/sqrt(in)) for the bias). */
#include <math.h>

#include "nn/layers_impl.h"

static volt_tensor *linear_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_linear_forward((volt_linear *)self, x);
}

static const volt_module_class linear_class = {"Linear", linear_forward_class, NULL,
                                               sizeof(volt_linear)};

volt_linear *volt_linear_new_ex(volt_module *parent, const char *name, int64_t in_features,
                                int64_t out_features, const volt_linear_options *options) {
    volt_linear_options opt = options ? *options : (volt_linear_options){0};
    char label[160];
    volt_layer_label_of("Linear", name, label, sizeof label);
    if (in_features < 0 || out_features < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s %lld (must be >= 0)", label,
                       in_features < 0 ? "in_features" : "out_features",
                       (long long)(in_features < 0 ? in_features : out_features));
        return NULL;
    }
    volt_linear *l = (volt_linear *)volt_layer_create(&linear_class, name);
    if (!l) return NULL;
    l->in_features = in_features;
    l->out_features = out_features;
    l->has_bias = !opt.no_bias;
    volt_tensor *w =
        volt_layer_add_param(&l->base, "weight", VOLT_SHAPE(out_features, in_features));
    bool ok = w && volt_init_kaiming_uniform_(w, sqrt(5.0), VOLT_FAN_IN, "leaky_relu", opt.gen) ==
                       VOLT_OK;
    if (ok && l->has_bias) {
        volt_tensor *b = volt_layer_add_param(&l->base, "bias", VOLT_SHAPE(out_features));
        double bound = in_features > 0 ? 1.0 / sqrt((double)in_features) : 0.0;
        ok = b && volt_init_uniform_(b, -bound, bound, opt.gen) == VOLT_OK;
    }
    return (volt_linear *)volt_layer_attach(&l->base, parent, name, ok);
}

volt_linear *volt_linear_new(volt_module *parent, const char *name, int64_t in_features,
                             int64_t out_features) {
    return volt_linear_new_ex(parent, name, in_features, out_features, NULL);
}

volt_tensor *volt_linear_forward(volt_linear *layer, const volt_tensor *x) {
    volt_tensor *w = layer ? volt_layer_param(&layer->base, "weight") : NULL;
    if (!volt_layer_check_input("Linear", layer ? &layer->base : NULL, x, w)) return NULL;
    char label[160], bx[96];
    volt_layer_label(&layer->base, label, sizeof label);
    volt_shape_str(x, bx, sizeof bx);
    if (x->ndim < 1) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: input %s needs at least 1 dimension [..., %lld]", label,
                       bx, (long long)layer->in_features);
        return NULL;
    }
    int64_t features = x->shape[x->ndim - 1];
    if (features != layer->in_features) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: input %s has %lld features, expected %lld", label, bx,
                       (long long)features, (long long)layer->in_features);
        return NULL;
    }
    return volt_layer_linear(x, w, layer->has_bias ? volt_layer_param(&layer->base, "bias") : NULL);
}
