/* layer.c: helpers shared by the layers (layers_impl.h) — construction
 * before registration, labels for messages, parameter lookup, input checks,
 * and the affine map x W^T + b that Linear and attention share. */
#include <stdio.h>

#include "nn/layers_impl.h"

const char *volt_layer_label_of(const char *type, const char *name, char *buf, size_t size) {
    if (name && *name)
        snprintf(buf, size, "%s '%s'", type, name);
    else
        snprintf(buf, size, "%s", type);
    return buf;
}

const char *volt_layer_label(const volt_module *m, char *buf, size_t size) {
    return volt_layer_label_of(m && m->cls ? m->cls->type_name : "module", volt_module_name(m), buf,
                               size);
}

volt_module *volt_layer_create(const volt_module_class *cls, const char *name) {
    return volt_module_new(NULL, name, cls);
}

volt_module *volt_layer_attach(volt_module *m, volt_module *parent, const char *name, bool ok) {
    if (!m) return NULL;
    if (ok && parent && volt_module_add_child(parent, name, m) != VOLT_OK) ok = false;
    if (!ok) {
        volt_module_free(m);
        return NULL;
    }
    return m;
}

volt_tensor *volt_layer_add_param(volt_module *m, const char *name, int ndim,
                                  const int64_t *shape) {
    volt_tensor *t = volt_empty(ndim, shape, VOLT_F32);
    return t ? volt_module_add_parameter(m, name, t) : NULL;
}

volt_tensor *volt_layer_param(const volt_module *m, const char *name) {
    return volt_module_get(m, name);
}

bool volt_layer_check_input(const char *type, const volt_module *m, const volt_tensor *x,
                            const volt_tensor *param) {
    char label[160], bx[96];
    if (!m) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: layer is NULL", type);
        return false;
    }
    volt_layer_label(m, label, sizeof label);
    if (!x) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: input is NULL", label);
        return false;
    }
    /* Under autocast an input in its dtype (a product's result) meets f32
     * parameters. */
    bool autocast = param && param->dtype == VOLT_F32 && x->dtype != VOLT_F32 &&
                    x->dtype == volt_autocast_dtype(x->device);
    if (param && x->dtype != param->dtype && !autocast) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: input %s does not have the parameters' dtype %s", label,
                       volt_shape_str(x, bx, sizeof bx), volt_dtype_name(param->dtype));
        return false;
    }
    return true;
}

volt_tensor *volt_layer_linear(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    int64_t in = w->shape[1], out = w->shape[0];
    volt_tensor *wt = volt_transpose(w, 0, 1);
    if (!wt) return NULL;
    volt_tensor *y;
    if (x->ndim == 2) {
        y = b ? volt_addmm(b, x, wt, 1.0, 1.0) : volt_matmul(x, wt);
    } else {
        int64_t rows = x->ndim >= 1 ? volt_shape_numel(x->ndim - 1, x->shape) : 1;
        int64_t shape[VOLT_MAX_DIMS];
        for (int i = 0; i + 1 < x->ndim; i++) shape[i] = x->shape[i];
        shape[x->ndim > 0 ? x->ndim - 1 : 0] = out;
        volt_tensor *x2 = volt_reshape(x, VOLT_SHAPE(rows, in));
        volt_tensor *y2 = x2 ? (b ? volt_addmm(b, x2, wt, 1.0, 1.0) : volt_matmul(x2, wt)) : NULL;
        y = y2 ? volt_reshape(y2, x->ndim > 0 ? x->ndim : 1, shape) : NULL;
        volt_tensor_free(x2);
        volt_tensor_free(y2);
    }
    volt_tensor_free(wt);
    return y;
}
