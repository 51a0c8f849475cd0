/* embedding.c: the Embedding layer — a lookup table "weight" [num, dim]
 * drawn from N(0, 1), with an optional padding row that starts at zero and
 * never receives a gradient (the op volt_embedding does the work). */
#include "nn/layers_impl.h"

static volt_tensor *embedding_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_embedding_layer_forward((volt_embedding_layer *)self, x);
}

static const volt_module_class embedding_class = {"Embedding", embedding_forward_class, NULL,
                                                  sizeof(volt_embedding_layer)};

volt_embedding_layer *volt_embedding_layer_new(volt_module *parent, const char *name,
                                               int64_t num_embeddings, int64_t embedding_dim,
                                               int64_t padding_idx) {
    char label[160];
    volt_layer_label_of("Embedding", name, label, sizeof label);
    if (num_embeddings < 0 || embedding_dim < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s %lld (must be >= 0)", label,
                       num_embeddings < 0 ? "num_embeddings" : "embedding_dim",
                       (long long)(num_embeddings < 0 ? num_embeddings : embedding_dim));
        return NULL;
    }
    if (padding_idx != VOLT_NO_PADDING_IDX &&
        (padding_idx < -num_embeddings || padding_idx >= num_embeddings)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: padding_idx %lld must be within num_embeddings %lld", label,
                       (long long)padding_idx, (long long)num_embeddings);
        return NULL;
    }
    if (padding_idx != VOLT_NO_PADDING_IDX && padding_idx < 0) padding_idx += num_embeddings;
    volt_embedding_layer *l = (volt_embedding_layer *)volt_layer_create(&embedding_class, name);
    if (!l) return NULL;
    l->num_embeddings = num_embeddings;
    l->embedding_dim = embedding_dim;
    l->padding_idx = padding_idx;
    volt_tensor *w =
        volt_layer_add_param(&l->base, "weight", VOLT_SHAPE(num_embeddings, embedding_dim));
    bool ok = w && volt_init_normal_(w, 0.0, 1.0, NULL) == VOLT_OK;
    if (ok && padding_idx != VOLT_NO_PADDING_IDX) {
        volt_scope_begin();
        VOLT_NO_GRAD { ok = volt_zero_(volt_narrow(w, 0, padding_idx, 1)) != NULL; }
        volt_scope_end();
    }
    return (volt_embedding_layer *)volt_layer_attach(&l->base, parent, name, ok);
}

volt_tensor *volt_embedding_layer_forward(volt_embedding_layer *layer, const volt_tensor *indices) {
    if (!volt_layer_check_input("Embedding", layer ? &layer->base : NULL, indices, NULL))
        return NULL;
    if (indices->dtype != VOLT_I64 && indices->dtype != VOLT_I32) {
        char label[160], bi[96];
        volt_error_set(VOLT_ERR_DTYPE, "%s: input %s must hold i64 or i32 indices",
                       volt_layer_label(&layer->base, label, sizeof label),
                       volt_shape_str(indices, bi, sizeof bi));
        return NULL;
    }
    return volt_embedding(volt_layer_param(&layer->base, "weight"), indices, layer->padding_idx);
}
