/* bilinear.c: the Bilinear layer — y[o] = x1^T W[o] x2 + b[o] — computed as
 * one product of x2 with W viewed as [out * in1, in2] (transposed view, no
 * copy), then a multiply by x1 summed over in1. PyTorch's initialisation:
 * weight and bias U(+-1/sqrt(in1)). */
#include <math.h>

#include "nn/layers_impl.h"

static const volt_module_class bilinear_class = {"Bilinear", NULL, NULL, sizeof(volt_bilinear)};

volt_bilinear *volt_bilinear_new(volt_module *parent, const char *name, int64_t in1_features,
                                 int64_t in2_features, int64_t out_features,
                                 const volt_linear_options *options) {
    volt_linear_options opt = options ? *options : (volt_linear_options){0};
    char label[160];
    volt_layer_label_of("Bilinear", name, label, sizeof label);
    const char *names[3] = {"in1_features", "in2_features", "out_features"};
    int64_t sizes[3] = {in1_features, in2_features, out_features};
    for (int i = 0; i < 3; i++)
        if (sizes[i] < 0) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s %lld (must be >= 0)", label, names[i],
                           (long long)sizes[i]);
            return NULL;
        }
    volt_bilinear *l = (volt_bilinear *)volt_layer_create(&bilinear_class, name);
    if (!l) return NULL;
    l->in1_features = in1_features;
    l->in2_features = in2_features;
    l->out_features = out_features;
    l->has_bias = !opt.no_bias;
    double bound = in1_features > 0 ? 1.0 / sqrt((double)in1_features) : 0.0;
    volt_tensor *w = volt_layer_add_param(&l->base, "weight",
                                          VOLT_SHAPE(out_features, in1_features, in2_features));
    bool ok = w && volt_init_uniform_(w, -bound, bound, opt.gen) == VOLT_OK;
    if (ok && l->has_bias) {
        volt_tensor *b = volt_layer_add_param(&l->base, "bias", VOLT_SHAPE(out_features));
        ok = b && volt_init_uniform_(b, -bound, bound, opt.gen) == VOLT_OK;
    }
    return (volt_bilinear *)volt_layer_attach(&l->base, parent, name, ok);
}

/* x1 and x2 end with the layer's feature counts and share leading dims. */
static bool check_inputs(volt_bilinear *l, const volt_tensor *x1, const volt_tensor *x2) {
    char label[160], b1[96], b2[96];
    volt_layer_label(&l->base, label, sizeof label);
    volt_shape_str(x1, b1, sizeof b1);
    volt_shape_str(x2, b2, sizeof b2);
    if (x1->ndim < 1 || x2->ndim != x1->ndim) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: inputs %s and %s must have the same number of dimensions (at least 1)",
                       label, b1, b2);
        return false;
    }
    int nd = x1->ndim;
    if (x1->shape[nd - 1] != l->in1_features || x2->shape[nd - 1] != l->in2_features) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: inputs %s and %s have %lld and %lld features, expected %lld and %lld",
                       label, b1, b2, (long long)x1->shape[nd - 1], (long long)x2->shape[nd - 1],
                       (long long)l->in1_features, (long long)l->in2_features);
        return false;
    }
    for (int i = 0; i < nd - 1; i++)
        if (x1->shape[i] != x2->shape[i]) {
            volt_error_set(VOLT_ERR_SHAPE, "%s: inputs %s and %s have different leading dims",
                           label, b1, b2);
            return false;
        }
    return true;
}

volt_tensor *volt_bilinear_forward(volt_bilinear *layer, const volt_tensor *x1,
                                   const volt_tensor *x2) {
    volt_tensor *w = layer ? volt_layer_param(&layer->base, "weight") : NULL;
    if (!volt_layer_check_input("Bilinear", layer ? &layer->base : NULL, x1, w) ||
        !volt_layer_check_input("Bilinear", &layer->base, x2, w) || !check_inputs(layer, x1, x2))
        return NULL;
    int64_t in1 = layer->in1_features, in2 = layer->in2_features, out = layer->out_features;
    int nd = x1->ndim;
    int64_t rows = volt_shape_numel(nd - 1, x1->shape);
    int64_t shape[VOLT_MAX_DIMS];
    for (int i = 0; i < nd - 1; i++) shape[i] = x1->shape[i];
    shape[nd - 1] = out;
    /* z[r, o, i] = sum_j x2[r, j] W[o, i, j]; y[r, o] = sum_i z[r, o, i] x1[r, i]. */
    volt_tensor *w2 = volt_reshape(w, VOLT_SHAPE(out * in1, in2));
    volt_tensor *z = volt_layer_linear(volt_reshape(x2, VOLT_SHAPE(rows, in2)), w2, NULL);
    volt_tensor *z3 = z ? volt_reshape(z, VOLT_SHAPE(rows, out, in1)) : NULL;
    volt_tensor *x13 = volt_reshape(x1, VOLT_SHAPE(rows, 1, in1));
    volt_tensor *prod = z3 && x13 ? volt_mul(z3, x13) : NULL;
    volt_tensor *y = prod ? volt_sum(prod, VOLT_DIMS(-1), false) : NULL;
    if (y && layer->has_bias) y = volt_add(y, volt_layer_param(&layer->base, "bias"));
    return y ? volt_reshape(y, nd, shape) : NULL;
}
