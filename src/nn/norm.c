/* norm.c: the normalisation layers LayerNorm, GroupNorm and RMSNorm —
 * shape checks naming the layer, PyTorch's initialisation (weight ones, bias
 * zeros), and the fused ops volt_layer_norm / volt_group_norm /
 * volt_rms_norm. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/layers_impl.h"

/* "[2,3]" of a shape. */
static const char *shape_text(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

/* eps from the options (0: fallback); false with an error when negative. */
static bool options_eps(const char *label, const volt_norm_options *opt, double fallback,
                        double *eps) {
    double e = opt ? opt->eps : 0.0;
    if (e == 0.0 || isnan(e)) e = fallback;
    if (e < 0 || isinf(e)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: eps %g (must be finite and >= 0)", label, e);
        return false;
    }
    *eps = e;
    return true;
}

/* A normalized shape: 1..VOLT_MAX_DIMS dims, each >= 1. */
static bool check_normalized_shape(const char *label, int ndim, const int64_t *shape) {
    if (ndim < 1 || ndim > VOLT_MAX_DIMS || !shape) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: normalized_shape needs 1 to %d dimensions, got %d", label,
                       VOLT_MAX_DIMS, ndim);
        return false;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1) {
            char bs[96];
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "%s: normalized_shape %s has a size %lld (must be >= 1)", label,
                           shape_text(ndim, shape, bs, sizeof bs), (long long)shape[i]);
            return false;
        }
    return true;
}

/* Adds "weight" = ones (and "bias" = zeros when with_bias) of the shape. */
static bool add_affine(volt_module *m, int ndim, const int64_t *shape, bool with_bias) {
    volt_tensor *w = volt_layer_add_param(m, "weight", ndim, shape);
    if (!w || volt_init_ones_(w) != VOLT_OK) return false;
    if (!with_bias) return true;
    volt_tensor *b = volt_layer_add_param(m, "bias", ndim, shape);
    return b && volt_init_zeros_(b) == VOLT_OK;
}

/* x ends with (ndim, shape); error naming the layer otherwise. */
static bool check_trailing(const volt_module *m, const volt_tensor *x, int ndim,
                           const int64_t *shape) {
    bool ok = x->ndim >= ndim;
    for (int i = 0; ok && i < ndim; i++) ok = x->shape[x->ndim - ndim + i] == shape[i];
    if (ok) return true;
    char label[160], bx[96], bs[96];
    volt_error_set(VOLT_ERR_SHAPE, "%s: input %s does not end with the normalized shape %s",
                   volt_layer_label(m, label, sizeof label), volt_shape_str(x, bx, sizeof bx),
                   shape_text(ndim, shape, bs, sizeof bs));
    return false;
}

/* ----------------------------------------------------------- LayerNorm */

static volt_tensor *layernorm_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_layernorm_forward((volt_layernorm *)self, x);
}

static const volt_module_class layernorm_class = {"LayerNorm", layernorm_forward_class, NULL,
                                                  sizeof(volt_layernorm)};

volt_layernorm *volt_layernorm_new(volt_module *parent, const char *name, int normalized_ndim,
                                   const int64_t *normalized_shape,
                                   const volt_norm_options *options) {
    char label[160];
    volt_layer_label_of("LayerNorm", name, label, sizeof label);
    double eps;
    if (!check_normalized_shape(label, normalized_ndim, normalized_shape) ||
        !options_eps(label, options, 1e-5, &eps))
        return NULL;
    volt_layernorm *l = (volt_layernorm *)volt_layer_create(&layernorm_class, name);
    if (!l) return NULL;
    l->normalized_ndim = normalized_ndim;
    memcpy(l->normalized_shape, normalized_shape, (size_t)normalized_ndim * sizeof(int64_t));
    l->eps = eps;
    l->affine = !(options && options->no_affine);
    bool ok = !l->affine || add_affine(&l->base, normalized_ndim, normalized_shape, true);
    return (volt_layernorm *)volt_layer_attach(&l->base, parent, name, ok);
}

volt_tensor *volt_layernorm_forward(volt_layernorm *layer, const volt_tensor *x) {
    volt_tensor *w = layer && layer->affine ? volt_layer_param(&layer->base, "weight") : NULL;
    if (!volt_layer_check_input("LayerNorm", layer ? &layer->base : NULL, x, w) ||
        !check_trailing(&layer->base, x, layer->normalized_ndim, layer->normalized_shape))
        return NULL;
    volt_tensor *b = layer->affine ? volt_layer_param(&layer->base, "bias") : NULL;
    return volt_layer_norm(x, layer->normalized_ndim, w, b, layer->eps);
}

/* ----------------------------------------------------------- GroupNorm */

static volt_tensor *groupnorm_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_groupnorm_forward((volt_groupnorm *)self, x);
}

static const volt_module_class groupnorm_class = {"GroupNorm", groupnorm_forward_class, NULL,
                                                  sizeof(volt_groupnorm)};

volt_groupnorm *volt_groupnorm_new(volt_module *parent, const char *name, int64_t num_groups,
                                   int64_t num_channels, const volt_norm_options *options) {
    char label[160];
    volt_layer_label_of("GroupNorm", name, label, sizeof label);
    double eps;
    if (num_groups < 1 || num_channels < 1) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s %lld (must be >= 1)", label,
                       num_groups < 1 ? "num_groups" : "num_channels",
                       (long long)(num_groups < 1 ? num_groups : num_channels));
        return NULL;
    }
    if (num_channels % num_groups != 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: num_channels %lld must be divisible by num_groups %lld", label,
                       (long long)num_channels, (long long)num_groups);
        return NULL;
    }
    if (!options_eps(label, options, 1e-5, &eps)) return NULL;
    volt_groupnorm *l = (volt_groupnorm *)volt_layer_create(&groupnorm_class, name);
    if (!l) return NULL;
    l->num_groups = num_groups;
    l->num_channels = num_channels;
    l->eps = eps;
    l->affine = !(options && options->no_affine);
    bool ok = !l->affine || add_affine(&l->base, 1, &num_channels, true);
    return (volt_groupnorm *)volt_layer_attach(&l->base, parent, name, ok);
}

volt_tensor *volt_groupnorm_forward(volt_groupnorm *layer, const volt_tensor *x) {
    volt_tensor *w = layer && layer->affine ? volt_layer_param(&layer->base, "weight") : NULL;
    if (!volt_layer_check_input("GroupNorm", layer ? &layer->base : NULL, x, w)) return NULL;
    if (x->ndim < 2 || x->shape[1] != layer->num_channels) {
        char label[160], bx[96];
        volt_error_set(VOLT_ERR_SHAPE, "%s: input %s should be [N, %lld, *]",
                       volt_layer_label(&layer->base, label, sizeof label),
                       volt_shape_str(x, bx, sizeof bx), (long long)layer->num_channels);
        return NULL;
    }
    volt_tensor *b = layer->affine ? volt_layer_param(&layer->base, "bias") : NULL;
    return volt_group_norm(x, layer->num_groups, w, b, layer->eps);
}

/* ------------------------------------------------------------- RMSNorm */

static volt_tensor *rmsnorm_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_rmsnorm_forward((volt_rmsnorm *)self, x);
}

static const volt_module_class rmsnorm_class = {"RMSNorm", rmsnorm_forward_class, NULL,
                                                sizeof(volt_rmsnorm)};

volt_rmsnorm *volt_rmsnorm_new(volt_module *parent, const char *name, int normalized_ndim,
                               const int64_t *normalized_shape, const volt_norm_options *options) {
    char label[160];
    volt_layer_label_of("RMSNorm", name, label, sizeof label);
    double eps;
    if (!check_normalized_shape(label, normalized_ndim, normalized_shape) ||
        !options_eps(label, options, NAN, &eps))
        return NULL;
    volt_rmsnorm *l = (volt_rmsnorm *)volt_layer_create(&rmsnorm_class, name);
    if (!l) return NULL;
    l->normalized_ndim = normalized_ndim;
    memcpy(l->normalized_shape, normalized_shape, (size_t)normalized_ndim * sizeof(int64_t));
    l->eps = eps;
    l->affine = !(options && options->no_affine);
    bool ok = !l->affine || add_affine(&l->base, normalized_ndim, normalized_shape, false);
    return (volt_rmsnorm *)volt_layer_attach(&l->base, parent, name, ok);
}

volt_tensor *volt_rmsnorm_forward(volt_rmsnorm *layer, const volt_tensor *x) {
    volt_tensor *w = layer && layer->affine ? volt_layer_param(&layer->base, "weight") : NULL;
    if (!volt_layer_check_input("RMSNorm", layer ? &layer->base : NULL, x, w) ||
        !check_trailing(&layer->base, x, layer->normalized_ndim, layer->normalized_shape))
        return NULL;
    return volt_rms_norm(x, layer->normalized_ndim, w, layer->eps);
}
