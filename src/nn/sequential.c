/* sequential.c: the Sequential container — children run in registration
 * order through their class forward; volt_sequential_append names them by
 * position ("0", "1", ...). */
#include <stdio.h>

#include "nn/layers_impl.h"

static volt_tensor *sequential_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_sequential_forward((volt_sequential *)self, x);
}

static const volt_module_class sequential_class = {"Sequential", sequential_forward_class, NULL,
                                                   sizeof(volt_sequential)};

volt_sequential *volt_sequential_new(volt_module *parent, const char *name) {
    volt_module *m = volt_layer_create(&sequential_class, name);
    return (volt_sequential *)volt_layer_attach(m, parent, name, true);
}

volt_status volt_sequential_append(volt_sequential *seq, volt_module *layer) {
    if (!seq || !layer)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "sequential_append: %s is NULL",
                              seq ? "layer" : "sequential");
    char name[32], label[160];
    snprintf(name, sizeof name, "%d", seq->base.n_children);
    if (layer->parent)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: cannot append '%s', it is already a child of another module",
                              volt_layer_label(&seq->base, label, sizeof label),
                              volt_module_name(layer));
    return volt_module_add_child(&seq->base, name, layer);
}

volt_tensor *volt_sequential_forward(volt_sequential *seq, const volt_tensor *x) {
    if (!volt_layer_check_input("Sequential", seq ? &seq->base : NULL, x, NULL)) return NULL;
    if (seq->base.n_children == 0) return volt_alias_with_grad(x, "sequential");
    volt_tensor *y = (volt_tensor *)x;
    for (int i = 0; i < seq->base.n_children; i++) {
        volt_module *child = seq->base.children[i].module;
        if (!child->cls || !child->cls->forward) {
            char label[160];
            volt_error_set(VOLT_ERR_UNSUPPORTED, "%s: child '%s' (%s) has no single-input forward",
                           volt_layer_label(&seq->base, label, sizeof label),
                           seq->base.children[i].name,
                           child->cls ? child->cls->type_name : "user module");
            return NULL;
        }
        /* Intermediates stay in the caller's scope like any op's output (a
         * child may hand back a tensor it owns, so none is freed here). */
        y = child->cls->forward(child, y);
        if (!y) return NULL;
    }
    return y;
}
