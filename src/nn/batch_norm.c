/* batch_norm.c: the BatchNorm1d and BatchNorm2d layers — affine parameters,
 * running statistics and num_batches_tracked as buffers (PyTorch's state
 * dict keys), momentum or the cumulative average, train/eval behaviour —
 * over volt_batch_norm (src/ops/batch_norm.c), or in training over the
 * replacement a caller installed (train_fn: dist's sync batch norm). */
#include <math.h>

#include "nn/conv_layers_impl.h"

static volt_tensor *bn1_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_batch_norm1d_forward((volt_batch_norm_layer *)self, x);
}
static volt_tensor *bn2_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_batch_norm2d_forward((volt_batch_norm_layer *)self, x);
}

static const volt_module_class bn1_class = {"BatchNorm1d", bn1_forward_class, NULL,
                                            sizeof(volt_batch_norm_layer)};
static const volt_module_class bn2_class = {"BatchNorm2d", bn2_forward_class, NULL,
                                            sizeof(volt_batch_norm_layer)};

static volt_tensor *add_buffer(volt_module *m, const char *name, volt_tensor *t) {
    return t ? volt_module_add_buffer(m, name, t, true) : NULL;
}

static volt_batch_norm_layer *bn_new(const volt_module_class *cls, int dims, volt_module *parent,
                                     const char *name, int64_t num_features,
                                     const volt_batch_norm_options *options) {
    volt_batch_norm_options o = options ? *options : (volt_batch_norm_options){0};
    double eps = o.eps != 0 ? o.eps : 1e-5, momentum = o.momentum != 0 ? o.momentum : 0.1;
    char label[160];
    volt_layer_label_of(cls->type_name, name, label, sizeof label);
    if (num_features < 1 || !(eps > 0) || !isfinite(eps) || isinf(momentum)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s", label,
                       num_features < 1  ? "num_features must be >= 1"
                       : isinf(momentum) ? "momentum must be finite (or NAN: cumulative average)"
                                         : "eps must be > 0");
        return NULL;
    }
    volt_batch_norm_layer *l = (volt_batch_norm_layer *)volt_layer_create(cls, name);
    if (!l) return NULL;
    l->num_features = num_features;
    l->eps = eps;
    l->momentum = momentum;
    l->affine = !o.no_affine;
    l->track_running_stats = !o.no_track_running_stats;
    l->dims = dims;
    bool ok = true;
    if (l->affine) {
        ok = volt_module_add_parameter(&l->base, "weight",
                                       volt_ones(VOLT_SHAPE(num_features), VOLT_F32)) &&
             volt_module_add_parameter(&l->base, "bias",
                                       volt_zeros(VOLT_SHAPE(num_features), VOLT_F32));
    }
    if (ok && l->track_running_stats) {
        ok = add_buffer(&l->base, "running_mean", volt_zeros(VOLT_SHAPE(num_features), VOLT_F32)) &&
             add_buffer(&l->base, "running_var", volt_ones(VOLT_SHAPE(num_features), VOLT_F32)) &&
             add_buffer(&l->base, "num_batches_tracked", volt_scalar(0, VOLT_I64));
    }
    return (volt_batch_norm_layer *)volt_layer_attach(&l->base, parent, name, ok);
}

volt_batch_norm1d *volt_batch_norm1d_new(volt_module *parent, const char *name,
                                         int64_t num_features,
                                         const volt_batch_norm_options *options) {
    return bn_new(&bn1_class, 1, parent, name, num_features, options);
}

volt_batch_norm2d *volt_batch_norm2d_new(volt_module *parent, const char *name,
                                         int64_t num_features,
                                         const volt_batch_norm_options *options) {
    return bn_new(&bn2_class, 2, parent, name, num_features, options);
}

static volt_tensor *bn_forward(const char *type, volt_batch_norm_layer *l, const volt_tensor *x) {
    volt_tensor *w = l && l->affine ? volt_layer_param(&l->base, "weight") : NULL;
    int rank_a = l && l->dims == 1 ? 2 : 4, rank_b = l && l->dims == 1 ? 3 : 4;
    if (!volt_conv_layer_check(type, l ? &l->base : NULL, x, w, rank_a, rank_b, 1,
                               l ? l->num_features : -1))
        return NULL;
    volt_tensor *b = l->affine ? volt_layer_param(&l->base, "bias") : NULL;
    volt_tensor *rm = l->track_running_stats ? volt_layer_param(&l->base, "running_mean") : NULL;
    volt_tensor *rv = l->track_running_stats ? volt_layer_param(&l->base, "running_var") : NULL;
    bool training = volt_module_is_training(&l->base);
    double factor = isnan(l->momentum) ? 0.0 : l->momentum;
    volt_tensor *nbt = volt_layer_param(&l->base, "num_batches_tracked");
    if (training && rm && nbt && nbt->dtype == VOLT_I64 && volt_tensor_numel(nbt) == 1) {
        int64_t *count = volt_tensor_data(nbt);
        *count += 1;
        volt_storage_bump_version(nbt->storage);
        if (isnan(l->momentum)) factor = 1.0 / (double)*count;
    }
    bool had_error = volt_error_status() != VOLT_OK;
    /* Batch statistics in training, and in eval without running ones. */
    volt_tensor *y = training && l->train_fn
                         ? l->train_fn(l->train_ctx, x, rm, rv, w, b, factor, l->eps)
                         : volt_batch_norm(x, rm, rv, w, b, training || !rm, factor, l->eps);
    return volt_conv_layer_result(&l->base, y, had_error);
}

volt_tensor *volt_batch_norm1d_forward(volt_batch_norm1d *layer, const volt_tensor *x) {
    return bn_forward("BatchNorm1d", layer, x);
}

volt_tensor *volt_batch_norm2d_forward(volt_batch_norm2d *layer, const volt_tensor *x) {
    return bn_forward("BatchNorm2d", layer, x);
}

static int64_t set_train_fn(volt_module *m, volt_batch_norm_train_fn fn, void *ctx) {
    int64_t count = 0;
    if (m->cls == &bn1_class || m->cls == &bn2_class) {
        volt_batch_norm_layer *l = (volt_batch_norm_layer *)m;
        l->train_fn = fn;
        l->train_ctx = fn ? ctx : NULL;
        count++;
    }
    for (int i = 0; i < m->n_children; i++) count += set_train_fn(m->children[i].module, fn, ctx);
    return count;
}

int64_t volt_batch_norm_set_train_fn(volt_module *m, volt_batch_norm_train_fn fn, void *ctx) {
    if (!m) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "volt_batch_norm_set_train_fn: module is NULL");
        return -1;
    }
    return set_train_fn(m, fn, ctx);
}
