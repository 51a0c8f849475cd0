/* basic.c: the parameter-free layers — Dropout (active only in training
 * mode), Flatten and Identity. */
#include <math.h>

#include "nn/layers_impl.h"

/* ------------------------------------------------------------- Dropout */

static volt_tensor *dropout_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_dropout_layer_forward((volt_dropout_layer *)self, x);
}

static const volt_module_class dropout_class = {"Dropout", dropout_forward_class, NULL,
                                                sizeof(volt_dropout_layer)};

volt_dropout_layer *volt_dropout_layer_new(volt_module *parent, const char *name, double p) {
    if (!(p >= 0.0 && p <= 1.0)) {
        char label[160];
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: dropout probability p %g has to be between 0 and 1",
                       volt_layer_label_of("Dropout", name, label, sizeof label), p);
        return NULL;
    }
    volt_dropout_layer *l = (volt_dropout_layer *)volt_layer_create(&dropout_class, name);
    if (l) l->p = p;
    return (volt_dropout_layer *)volt_layer_attach(l ? &l->base : NULL, parent, name, true);
}

volt_tensor *volt_dropout_layer_forward(volt_dropout_layer *layer, const volt_tensor *x) {
    if (!volt_layer_check_input("Dropout", layer ? &layer->base : NULL, x, NULL)) return NULL;
    return volt_dropout(x, layer->p, volt_module_is_training(&layer->base), NULL);
}

/* ------------------------------------------------------------- Flatten */

static volt_tensor *flatten_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_flatten_layer_forward((volt_flatten_layer *)self, x);
}

static const volt_module_class flatten_class = {"Flatten", flatten_forward_class, NULL,
                                                sizeof(volt_flatten_layer)};

volt_flatten_layer *volt_flatten_layer_new(volt_module *parent, const char *name, int start_dim,
                                           int end_dim) {
    volt_flatten_layer *l = (volt_flatten_layer *)volt_layer_create(&flatten_class, name);
    if (l) {
        l->start_dim = start_dim;
        l->end_dim = end_dim;
    }
    return (volt_flatten_layer *)volt_layer_attach(l ? &l->base : NULL, parent, name, true);
}

volt_tensor *volt_flatten_layer_forward(volt_flatten_layer *layer, const volt_tensor *x) {
    if (!volt_layer_check_input("Flatten", layer ? &layer->base : NULL, x, NULL)) return NULL;
    int n = x->ndim > 0 ? x->ndim : 1;
    int s = layer->start_dim < 0 ? layer->start_dim + n : layer->start_dim;
    int e = layer->end_dim < 0 ? layer->end_dim + n : layer->end_dim;
    if (s < 0 || s >= n || e < 0 || e >= n || s > e) {
        char label[160], bx[96];
        volt_error_set(VOLT_ERR_SHAPE, "%s: cannot flatten dims %d..%d of input %s",
                       volt_layer_label(&layer->base, label, sizeof label), layer->start_dim,
                       layer->end_dim, volt_shape_str(x, bx, sizeof bx));
        return NULL;
    }
    return volt_flatten(x, layer->start_dim, layer->end_dim);
}

/* ------------------------------------------------------------ Identity */

static volt_tensor *identity_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_identity_forward((volt_identity *)self, x);
}

static const volt_module_class identity_class = {"Identity", identity_forward_class, NULL,
                                                 sizeof(volt_identity)};

volt_identity *volt_identity_new(volt_module *parent, const char *name) {
    volt_module *m = volt_layer_create(&identity_class, name);
    return (volt_identity *)volt_layer_attach(m, parent, name, true);
}

volt_tensor *volt_identity_forward(volt_identity *layer, const volt_tensor *x) {
    if (!volt_layer_check_input("Identity", layer ? &layer->base : NULL, x, NULL)) return NULL;
    return volt_alias_with_grad(x, "identity");
}
