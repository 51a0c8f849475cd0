/* attention.c: multi-head self-attention (torch.nn.MultiheadAttention with
 * batch_first, query = key = value) — one stacked q/k/v in-projection, the
 * heads' attention (volt_attention_qkv on the packed projection, or a reference
 * composition of plain ops that also carries attention dropout), and the
 * out-projection Linear. Parameter names and initialisation follow
 * PyTorch's. */
#include <math.h>

#include "nn/layers_impl.h"

static volt_tensor *mha_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_multihead_attention_forward((volt_multihead_attention *)self, x);
}

static const volt_module_class mha_class = {"MultiheadAttention", mha_forward_class, NULL,
                                            sizeof(volt_multihead_attention)};

volt_multihead_attention *
volt_multihead_attention_new(volt_module *parent, const char *name, int64_t embed_dim,
                             int64_t num_heads, const volt_multihead_attention_options *options) {
    volt_multihead_attention_options opt =
        options ? *options : (volt_multihead_attention_options){0};
    char label[160];
    volt_layer_label_of("MultiheadAttention", name, label, sizeof label);
    if (embed_dim < 1 || num_heads < 1) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s %lld (must be >= 1)", label,
                       embed_dim < 1 ? "embed_dim" : "num_heads",
                       (long long)(embed_dim < 1 ? embed_dim : num_heads));
        return NULL;
    }
    if (embed_dim % num_heads != 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: embed_dim %lld must be divisible by num_heads %lld", label,
                       (long long)embed_dim, (long long)num_heads);
        return NULL;
    }
    if (!(opt.dropout >= 0.0 && opt.dropout <= 1.0)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: dropout probability %g has to be between 0 and 1", label, opt.dropout);
        return NULL;
    }
    volt_multihead_attention *l = (volt_multihead_attention *)volt_layer_create(&mha_class, name);
    if (!l) return NULL;
    l->embed_dim = embed_dim;
    l->num_heads = num_heads;
    l->dropout = opt.dropout;
    l->causal = opt.causal;
    l->has_bias = !opt.no_bias;
    volt_tensor *w =
        volt_layer_add_param(&l->base, "in_proj_weight", VOLT_SHAPE(3 * embed_dim, embed_dim));
    bool ok = w && volt_init_xavier_uniform_(w, 1.0, opt.gen) == VOLT_OK;
    if (ok && l->has_bias) {
        volt_tensor *b = volt_layer_add_param(&l->base, "in_proj_bias", VOLT_SHAPE(3 * embed_dim));
        ok = b && volt_init_zeros_(b) == VOLT_OK;
    }
    if (ok) {
        volt_linear_options lo = {.no_bias = opt.no_bias, .gen = opt.gen};
        l->out_proj = volt_linear_new_ex(&l->base, "out_proj", embed_dim, embed_dim, &lo);
        ok = l->out_proj != NULL;
    }
    if (ok && l->has_bias)
        ok = volt_init_zeros_(volt_layer_param(&l->base, "out_proj.bias")) == VOLT_OK;
    return (volt_multihead_attention *)volt_layer_attach(&l->base, parent, name, ok);
}

/* The packed projection qkv [B, T, 3E] of x [B, T, E] or [T, E] (*batched
 * false: a batch of one is added). */
static volt_tensor *packed(volt_multihead_attention *l, const volt_tensor *x, bool *batched) {
    volt_tensor *w = l ? volt_layer_param(&l->base, "in_proj_weight") : NULL;
    if (!volt_layer_check_input("MultiheadAttention", l ? &l->base : NULL, x, w)) return NULL;
    int64_t e = l->embed_dim;
    if ((x->ndim != 2 && x->ndim != 3) || x->shape[x->ndim - 1] != e) {
        char label[160], bx[96];
        volt_error_set(VOLT_ERR_SHAPE, "%s: input %s should be [B, T, %lld] or [T, %lld]",
                       volt_layer_label(&l->base, label, sizeof label),
                       volt_shape_str(x, bx, sizeof bx), (long long)e, (long long)e);
        return NULL;
    }
    *batched = x->ndim == 3;
    volt_tensor *x3 = *batched ? (volt_tensor *)x : volt_unsqueeze(x, 0);
    return x3 ? volt_layer_linear(x3, w, volt_layer_param(&l->base, "in_proj_bias")) : NULL;
}

/* The heads' q, k, v [B, H, T, D] from x (as packed). */
static bool project(volt_multihead_attention *l, const volt_tensor *x, volt_tensor **qkv_heads,
                    bool *batched) {
    volt_tensor *qkv = packed(l, x, batched), *parts[3];
    if (!qkv || volt_chunk(qkv, 3, -1, parts, 3) != 3) return false;
    int64_t b = qkv->shape[0], t = qkv->shape[1], e = l->embed_dim, h = l->num_heads;
    for (int i = 0; i < 3; i++) {
        volt_tensor *split = volt_reshape(parts[i], VOLT_SHAPE(b, t, h, e / h));
        qkv_heads[i] = split ? volt_transpose(split, 1, 2) : NULL;
        if (!qkv_heads[i]) return false;
    }
    return true;
}

/* out_proj of the heads' output [B, H, T, D], back to x's rank. */
static volt_tensor *combine(volt_multihead_attention *l, volt_tensor *heads, bool batched) {
    if (!heads) return NULL;
    int64_t b = heads->shape[0], t = heads->shape[2];
    volt_tensor *merged = volt_reshape(volt_transpose(heads, 1, 2), VOLT_SHAPE(b, t, l->embed_dim));
    volt_tensor *y = merged ? volt_linear_forward(l->out_proj, merged) : NULL;
    return y && !batched ? volt_squeeze(y, 0) : y;
}

volt_tensor *volt_multihead_attention_forward_reference(volt_multihead_attention *layer,
                                                        const volt_tensor *x) {
    volt_tensor *qkv[3];
    bool batched;
    if (!project(layer, x, qkv, &batched)) return NULL;
    int64_t t = qkv[0]->shape[2], d = qkv[0]->shape[3];
    volt_tensor *scores =
        volt_mul_scalar(volt_matmul(qkv[0], volt_transpose(qkv[1], -2, -1)), 1.0 / sqrt((double)d));
    if (scores && layer->causal) {
        volt_tensor *pos = volt_arange(0, (double)t, 1, VOLT_I64);
        if (pos && scores->device.type != VOLT_CPU) pos = volt_to_device(pos, scores->device);
        volt_tensor *row = volt_reshape(pos, VOLT_SHAPE(t, 1)),
                    *col = volt_reshape(pos, VOLT_SHAPE(1, t));
        volt_tensor *mask = row && col ? volt_gt(col, row) : NULL; /* key j after query i */
        scores = mask ? volt_masked_fill(scores, mask, -INFINITY) : NULL;
    }
    volt_tensor *p = scores ? volt_softmax(scores, -1) : NULL;
    if (p) p = volt_dropout(p, layer->dropout, volt_module_is_training(&layer->base), NULL);
    return combine(layer, p ? volt_matmul(p, qkv[2]) : NULL, batched);
}

volt_tensor *volt_multihead_attention_forward(volt_multihead_attention *layer,
                                              const volt_tensor *x) {
    if (layer && layer->dropout > 0 && volt_module_is_training(&layer->base))
        return volt_multihead_attention_forward_reference(layer, x);
    bool batched;
    volt_tensor *qkv = packed(layer, x, &batched);
    volt_tensor *y = qkv ? volt_attention_qkv(qkv, layer->num_heads, layer->causal, 0.0) : NULL;
    y = y ? volt_linear_forward(layer->out_proj, y) : NULL;
    return y && !batched ? volt_squeeze(y, 0) : y;
}
