/* gpt.c: the built-in GPT-style decoder (GPT-2, as nanoGPT writes it) — a
 * token embedding and a learned position embedding, n_layer pre-norm blocks
 * (x + attn(ln_1(x)), then x + mlp(ln_2(x)); causal multi-head
 * self-attention through the fused scaled-dot-product op; an MLP of GELU
 * with the tanh approximation), a final LayerNorm and a language-model
 * head tied to the token embedding. Its steps (next-token cross entropy),
 * its optimizer (AdamW with decay on 2-D weights only), GPT-2's
 * initialisation and its option table. Sampling: gpt_generate.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/models/models_impl.h"
#include "train/option_tables_impl.h"

/* ------------------------------------------------------------- LayerNorm */

/* LayerNorm over the last dim with "weight" and, with bias, "bias" (torch's
 * LayerNorm(bias=False) is nanoGPT's own; volt's layer has both or none). */
static volt_tensor *ln_forward(volt_module *self, const volt_tensor *x) {
    return volt_layer_norm(x, 1, volt_module_get(self, "weight"), volt_module_get(self, "bias"),
                           1e-5);
}

static const volt_module_class ln_class = {
    .type_name = "LayerNorm", .forward = ln_forward, .size = sizeof(volt_module)};

static volt_module *ln_new(volt_module *parent, const char *name, int64_t e, bool bias) {
    volt_module *m = volt_module_new(parent, name, &ln_class);
    if (!m || !volt_module_add_parameter(m, "weight", volt_ones(VOLT_SHAPE(e), VOLT_F32)))
        return NULL;
    if (bias && !volt_module_add_parameter(m, "bias", volt_zeros(VOLT_SHAPE(e), VOLT_F32)))
        return NULL;
    return m;
}

/* ------------------------------------------------------------- attention */

typedef struct {
    volt_module base;
    int64_t n_head;
    double dropout;
    volt_linear *c_attn, *c_proj; /* E -> 3E (q, k, v stacked), E -> E */
} gpt_attention;

static volt_tensor *maybe_dropout(volt_module *m, volt_tensor *x, double p) {
    return p > 0 ? volt_dropout(x, p, volt_module_is_training(m), NULL) : x;
}

/* x [B, T, E] -> [B, T, E]: attention of the heads packed in c_attn's
 * output (volt_attention_qkv). The attention probabilities are not dropped
 * (the fused op has no dropout). */
static volt_tensor *attention_forward(volt_module *self, const volt_tensor *x) {
    gpt_attention *a = (gpt_attention *)self;
    if (!x || x->ndim != 3) {
        char buf[96];
        if (x)
            volt_error_set(VOLT_ERR_SHAPE, "gpt: attention input %s must be [B, T, E]",
                           volt_shape_str(x, buf, sizeof buf));
        return NULL;
    }
    volt_tensor *y = volt_attention_qkv(volt_linear_forward(a->c_attn, x), a->n_head, true, 0.0);
    return maybe_dropout(self, volt_linear_forward(a->c_proj, y), a->dropout);
}

static const volt_module_class attention_class = {.type_name = "CausalSelfAttention",
                                                  .forward = attention_forward,
                                                  .size = sizeof(gpt_attention)};

/* ------------------------------------------------------------------- MLP */

typedef struct {
    volt_module base;
    double dropout;
    volt_linear *c_fc, *c_proj; /* E -> 4E, 4E -> E */
} gpt_mlp;

static volt_tensor *mlp_forward(volt_module *self, const volt_tensor *x) {
    gpt_mlp *m = (gpt_mlp *)self;
    volt_tensor *h = volt_gelu(volt_linear_forward(m->c_fc, x), true);
    return maybe_dropout(self, volt_linear_forward(m->c_proj, h), m->dropout);
}

static const volt_module_class mlp_class = {
    .type_name = "MLP", .forward = mlp_forward, .size = sizeof(gpt_mlp)};

/* ----------------------------------------------------------------- block */

typedef struct {
    volt_module base;
    volt_module *ln_1, *attn, *ln_2, *mlp;
} gpt_block;

/* A block runs in a scope of its own that hands only its output on: what
 * the backward pass does not need (the layer norms' f32 outputs, whose
 * bf16 casts the Linears save under autocast; f32 copies of bf16 residual
 * branches; the attention's temporaries) is freed as the block ends rather
 * than with the step's scope. The graph holds what it saved. */
static volt_tensor *block_forward(volt_module *self, const volt_tensor *x) {
    gpt_block *b = (gpt_block *)self;
    volt_scope_begin();
    volt_tensor *h = volt_add(x, volt_module_forward(b->attn, volt_module_forward(b->ln_1, x)));
    volt_tensor *y = volt_add(h, volt_module_forward(b->mlp, volt_module_forward(b->ln_2, h)));
    volt_keep(y);
    volt_scope_end();
    return y;
}

static const volt_module_class block_class = {
    .type_name = "Block", .forward = block_forward, .size = sizeof(gpt_block)};

static const volt_module_class container_class = {.type_name = "ModuleDict",
                                                  .size = sizeof(volt_module)};

/* ----------------------------------------------------------------- model */

typedef struct {
    volt_module base;
    volt_gpt_options o;
    volt_module *transformer; /* wte, wpe, h (the blocks), ln_f */
    volt_embedding_layer *wte, *wpe;
    volt_sequential *h;
    volt_module *ln_f;
} gpt;

static const volt_module_class gpt_class;

static gpt *as_gpt(volt_module *m, const char *who) {
    if (m && m->cls == &gpt_class) return (gpt *)m;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s is not a model made by volt_gpt_new", who,
                   m ? "the module" : "NULL");
    return NULL;
}

/* idx: [B, T] integer token ids, 1 <= T <= block_size, each in
 * [0, vocab_size) (checked on the CPU; a device tensor is left to the
 * embedding op's own check). */
static bool check_tokens(const gpt *m, const volt_tensor *idx) {
    char buf[96];
    if (!idx || idx->ndim != 2 || (idx->dtype != VOLT_I64 && idx->dtype != VOLT_I32) ||
        idx->shape[0] < 1 || idx->shape[1] < 1) {
        if (idx)
            volt_error_set(VOLT_ERR_SHAPE, "gpt: input %s must be token ids [B, T] (i64 or i32)",
                           volt_shape_str(idx, buf, sizeof buf));
        else if (volt_error_status() == VOLT_OK)
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "gpt: the input is NULL");
        return false;
    }
    if (idx->shape[1] > m->o.block_size) {
        volt_error_set(VOLT_ERR_SHAPE, "gpt: sequence length %lld exceeds block_size %lld",
                       (long long)idx->shape[1], (long long)m->o.block_size);
        return false;
    }
    if (idx->device.type != VOLT_CPU) return true;
    int64_t n = volt_tensor_numel(idx), t = idx->shape[1];
    const int64_t *p = idx->dtype == VOLT_I64 && volt_tensor_is_contiguous(idx)
                           ? (const int64_t *)volt_tensor_data(idx)
                           : NULL;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = p ? p[i] : (int64_t)volt_tensor_get_flat(idx, i);
        if (v >= 0 && v < m->o.vocab_size) continue;
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "gpt: token id %lld at [%lld, %lld] is out of range for vocab_size %lld",
                       (long long)v, (long long)(i / t), (long long)(i % t),
                       (long long)m->o.vocab_size);
        return false;
    }
    return true;
}

/* The final hidden states ln_f(h(drop(wte[idx] + wpe[:T]))) [B, T, E]. */
static volt_tensor *hidden_states(gpt *m, const volt_tensor *idx) {
    if (!check_tokens(m, idx)) return NULL;
    volt_tensor *wpe = volt_module_get(&m->wpe->base, "weight");
    volt_tensor *x =
        volt_add(volt_embedding_layer_forward(m->wte, idx), volt_narrow(wpe, 0, 0, idx->shape[1]));
    x = maybe_dropout(&m->base, x, m->o.dropout);
    x = volt_sequential_forward(m->h, x);
    return volt_module_forward(m->ln_f, x);
}

/* The tied head: x [N, E] @ wte^T -> logits [N, V] (wte read through a
 * transposed view, no copy; its gradient adds to the embedding's). */
static volt_tensor *lm_head(gpt *m, const volt_tensor *x) {
    volt_tensor *wte = volt_module_get(&m->wte->base, "weight");
    return volt_matmul(x, volt_transpose(wte, 0, 1));
}

/* Logits [B * T, V] of idx [B, T]. */
static volt_tensor *flat_logits(gpt *m, const volt_tensor *idx) {
    volt_tensor *x = hidden_states(m, idx);
    return x ? lm_head(m, volt_reshape(x, VOLT_SHAPE(-1, m->o.n_embd))) : NULL;
}

volt_tensor *volt_gpt_forward(volt_module *model, const volt_tensor *idx) {
    gpt *m = as_gpt(model, "gpt_forward");
    volt_tensor *logits = m ? flat_logits(m, idx) : NULL;
    return logits ? volt_reshape(logits, VOLT_SHAPE(idx->shape[0], idx->shape[1], -1)) : NULL;
}

volt_tensor *volt_gpt_last_logits(volt_module *model, const volt_tensor *idx) {
    gpt *m = as_gpt(model, "gpt_generate");
    volt_tensor *x = m ? hidden_states(m, idx) : NULL;
    if (!x) return NULL;
    volt_tensor *last = volt_narrow(x, 1, x->shape[1] - 1, 1);
    return lm_head(m, volt_reshape(last, VOLT_SHAPE(-1, m->o.n_embd)));
}

int64_t volt_gpt_block_size(volt_module *model) {
    gpt *m = as_gpt(model, "gpt");
    return m ? m->o.block_size : -1;
}

int64_t volt_gpt_vocab_size(volt_module *model) {
    gpt *m = as_gpt(model, "gpt");
    return m ? m->o.vocab_size : -1;
}

/* ----------------------------------------------------------------- steps */

/* Mean next-token cross entropy of the batch: x [B, T] tokens, y [B, T]
 * the tokens that follow. */
static volt_tensor *lm_loss(volt_module *self, const volt_batch *b) {
    char bx[96], by[96];
    if (!b->x || !b->y) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "gpt: the batch needs fields 'x' (tokens [B, T]) and 'y' (the next tokens "
                       "[B, T]); it has no '%s'",
                       b->x ? "y" : "x");
        return NULL;
    }
    if (b->x->ndim == 2 &&
        (b->y->ndim != 2 || b->y->shape[0] != b->x->shape[0] || b->y->shape[1] != b->x->shape[1])) {
        volt_error_set(VOLT_ERR_SHAPE, "gpt: targets y %s do not match tokens x %s ([B, T] both)",
                       volt_shape_str(b->y, by, sizeof by), volt_shape_str(b->x, bx, sizeof bx));
        return NULL;
    }
    /* The logits ([B T, vocab], the largest activation) go as soon as the
     * loss is made: the cross entropy keeps what its backward needs. */
    volt_scope_begin();
    volt_tensor *logits = flat_logits((gpt *)self, b->x);
    volt_tensor *loss =
        logits ? volt_cross_entropy(logits, volt_reshape(b->y, VOLT_SHAPE(-1))) : NULL;
    volt_keep(loss);
    volt_scope_end();
    return loss;
}

static volt_tensor *gpt_training_step(volt_module *self, volt_batch *b, int64_t i,
                                      volt_step *step) {
    (void)i;
    volt_tensor *loss = lm_loss(self, b);
    if (!loss || volt_log(step, "train_loss", loss, VOLT_LOG_PROG_BAR) != VOLT_OK) return NULL;
    return loss;
}

static volt_tensor *eval_step(volt_module *self, volt_batch *b, volt_step *step, const char *name) {
    volt_tensor *loss = lm_loss(self, b);
    if (loss) volt_log(step, name, loss, VOLT_LOG_PROG_BAR | VOLT_LOG_SYNC_DIST);
    return NULL;
}

static volt_tensor *gpt_validation_step(volt_module *self, volt_batch *b, int64_t i,
                                        volt_step *step) {
    (void)i;
    return eval_step(self, b, step, "val_loss");
}

static volt_tensor *gpt_test_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    return eval_step(self, b, step, "test_loss");
}

static volt_tensor *gpt_predict_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    (void)step;
    if (!b->x) volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "gpt: the batch has no field 'x'");
    return b->x ? volt_gpt_forward(self, b->x) : NULL;
}

static volt_tensor *gpt_forward_class(volt_module *self, const volt_tensor *x) {
    return volt_gpt_forward(self, x);
}

static volt_tensor *gpt_example_input(volt_module *self) {
    int64_t t = ((gpt *)self)->o.block_size < 8 ? ((gpt *)self)->o.block_size : 8;
    return volt_zeros(VOLT_SHAPE(1, t), VOLT_I64);
}

/* ------------------------------------------------------------- optimizer */

static double real(double v) { return v == 0 ? VOLT_OPTIM_ZERO : v; }

/* nanoGPT's configure_optimizers: AdamW at lr and betas, weight decay on
 * the parameters of two or more dims (matmul weights, embeddings), none on
 * biases and LayerNorm weights (a second group). Frozen parameters stay out. */
static volt_status gpt_configure_optimizers(volt_module *self, volt_optim_setup *setup) {
    gpt *m = (gpt *)self;
    volt_params all = volt_module_parameters(self);
    volt_tensor **sorted = malloc((size_t)(all.count ? all.count : 1) * sizeof *sorted);
    if (!sorted) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "gpt: out of memory");
    int64_t n_decay = 0, n_other = 0;
    for (int64_t i = 0; i < all.count; i++) /* decay first, the others from the end */
        if (all.tensors[i]->requires_grad && all.tensors[i]->ndim >= 2)
            sorted[n_decay++] = all.tensors[i];
    for (int64_t i = all.count - 1; i >= 0; i--)
        if (all.tensors[i]->requires_grad && all.tensors[i]->ndim < 2)
            sorted[all.count - 1 - n_other++] = all.tensors[i];
    volt_adam_options o = {.lr = m->o.lr,
                           .beta1 = real(m->o.beta1),
                           .beta2 = real(m->o.beta2),
                           .weight_decay = real(m->o.weight_decay)};
    volt_optimizer *opt = volt_adamw_new((volt_params){n_decay, sorted, NULL}, &o);
    volt_status st = opt ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK && n_other > 0) {
        volt_adam_options g = o;
        g.weight_decay = VOLT_OPTIM_ZERO;
        st = volt_optimizer_add_param_group(
            opt, (volt_params){n_other, sorted + all.count - n_other, NULL}, &g);
    }
    free(sorted);
    if (st != VOLT_OK) {
        volt_optimizer_free(opt);
        return st;
    }
    return volt_optim_setup_add(setup, opt, NULL, VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops gpt_ops = {
    .name = "gpt",
    .training_step = gpt_training_step,
    .validation_step = gpt_validation_step,
    .test_step = gpt_test_step,
    .predict_step = gpt_predict_step,
    .configure_optimizers = gpt_configure_optimizers,
    .forward = gpt_forward_class,
    .example_input = gpt_example_input,
};

static const volt_module_class gpt_class = {
    .type_name = "GPT", .forward = gpt_forward_class, .size = sizeof(gpt)};

/* --------------------------------------------------------- construction */

volt_gpt_options volt_gpt_defaults(void) {
    return (volt_gpt_options){.vocab_size = 0,
                              .block_size = 128,
                              .n_layer = 4,
                              .n_head = 4,
                              .n_embd = 128,
                              .dropout = 0.0,
                              .bias = true,
                              .lr = 1e-3,
                              .weight_decay = 0.1,
                              .beta1 = 0.9,
                              .beta2 = 0.95};
}

static volt_status check(const volt_gpt_options *o) {
    if (o->vocab_size == 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "gpt: vocab_size must be >= 1 (got 0; 0 means \"from the data\", "
                              "which the volt CLI resolves with data 'text')");
    if (volt_model_check_int("gpt", "vocab_size", o->vocab_size, 1) != VOLT_OK ||
        volt_model_check_int("gpt", "block_size", o->block_size, 1) != VOLT_OK ||
        volt_model_check_int("gpt", "n_layer", o->n_layer, 1) != VOLT_OK ||
        volt_model_check_int("gpt", "n_head", o->n_head, 1) != VOLT_OK ||
        volt_model_check_int("gpt", "n_embd", o->n_embd, 1) != VOLT_OK ||
        volt_model_check_prob("gpt", "dropout", o->dropout) != VOLT_OK ||
        volt_model_check_lr("gpt", o->lr, o->weight_decay) != VOLT_OK ||
        volt_model_check_prob("gpt", "beta1", o->beta1) != VOLT_OK ||
        volt_model_check_prob("gpt", "beta2", o->beta2) != VOLT_OK)
        return volt_error_status();
    if (o->n_embd % o->n_head != 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "gpt: n_embd %lld must be divisible by n_head %lld",
                              (long long)o->n_embd, (long long)o->n_head);
    return VOLT_OK;
}

static volt_status record_hparams(volt_module *m, const volt_gpt_options *o) {
    const char *ints[] = {"vocab_size", "block_size", "n_layer", "n_head", "n_embd"};
    const int64_t iv[] = {o->vocab_size, o->block_size, o->n_layer, o->n_head, o->n_embd};
    const char *reals[] = {"dropout", "lr", "weight_decay", "beta1", "beta2"};
    const double rv[] = {o->dropout, o->lr, o->weight_decay, o->beta1, o->beta2};
    volt_status st = VOLT_OK;
    for (int i = 0; i < 5 && st == VOLT_OK; i++) st = volt_module_set_hparam_int(m, ints[i], iv[i]);
    if (st == VOLT_OK) st = volt_module_set_hparam_bool(m, "bias", o->bias);
    for (int i = 0; i < 5 && st == VOLT_OK; i++)
        st = volt_module_set_hparam_double(m, reals[i], rv[i]);
    return st;
}

static volt_linear *linear_new(volt_module *parent, const char *name, int64_t in, int64_t out,
                               bool bias) {
    volt_linear_options lo = {.no_bias = !bias};
    return volt_linear_new_ex(parent, name, in, out, &lo);
}

static bool block_new(volt_module *parent, const char *name, const volt_gpt_options *o) {
    gpt_block *b = (gpt_block *)volt_module_new(parent, name, &block_class);
    if (!b || !(b->ln_1 = ln_new(&b->base, "ln_1", o->n_embd, o->bias))) return false;
    gpt_attention *a = (gpt_attention *)volt_module_new(&b->base, "attn", &attention_class);
    if (!(b->attn = &a->base)) return false;
    a->n_head = o->n_head;
    a->dropout = o->dropout;
    if (!(a->c_attn = linear_new(&a->base, "c_attn", o->n_embd, 3 * o->n_embd, o->bias)) ||
        !(a->c_proj = linear_new(&a->base, "c_proj", o->n_embd, o->n_embd, o->bias)) ||
        !(b->ln_2 = ln_new(&b->base, "ln_2", o->n_embd, o->bias)))
        return false;
    gpt_mlp *mlp = (gpt_mlp *)volt_module_new(&b->base, "mlp", &mlp_class);
    if (!(b->mlp = &mlp->base)) return false;
    mlp->dropout = o->dropout;
    return (mlp->c_fc = linear_new(&mlp->base, "c_fc", o->n_embd, 4 * o->n_embd, o->bias)) &&
           (mlp->c_proj = linear_new(&mlp->base, "c_proj", 4 * o->n_embd, o->n_embd, o->bias));
}

/* GPT-2's initialisation (nanoGPT's _init_weights): every Linear weight and
 * both embeddings N(0, 0.02), the residual projections (attn.c_proj,
 * mlp.c_proj) N(0, 0.02 / sqrt(2 n_layer)), biases 0, LayerNorms 1 and 0,
 * in registration order from the default generator. */
static volt_status init_weights(gpt *m) {
    volt_params p = volt_module_parameters(&m->base);
    double proj_std = 0.02 / sqrt(2.0 * (double)m->o.n_layer);
    for (int64_t i = 0; i < p.count; i++) {
        const char *name = p.names[i];
        size_t n = strlen(name);
        bool proj = n > 14 && strcmp(name + n - 14, ".c_proj.weight") == 0;
        volt_status st = VOLT_OK;
        if (p.tensors[i]->ndim >= 2)
            st = volt_init_normal_(p.tensors[i], 0.0, proj ? proj_std : 0.02, NULL);
        else if (n > 5 && strcmp(name + n - 5, ".bias") == 0)
            st = volt_init_zeros_(p.tensors[i]);
        if (st != VOLT_OK) return st;
    }
    return VOLT_OK;
}

static bool build(gpt *m) {
    const volt_gpt_options *o = &m->o;
    m->transformer = volt_module_new(&m->base, "transformer", &container_class);
    if (!m->transformer) return false;
    m->wte = volt_embedding_layer_new(m->transformer, "wte", o->vocab_size, o->n_embd,
                                      VOLT_NO_PADDING_IDX);
    m->wpe = volt_embedding_layer_new(m->transformer, "wpe", o->block_size, o->n_embd,
                                      VOLT_NO_PADDING_IDX);
    m->h = m->wte && m->wpe ? volt_sequential_new(m->transformer, "h") : NULL;
    for (int64_t i = 0; m->h && i < o->n_layer; i++) {
        char name[24];
        snprintf(name, sizeof name, "%lld", (long long)i);
        if (!block_new(&m->h->base, name, o)) return false;
    }
    return m->h && (m->ln_f = ln_new(m->transformer, "ln_f", o->n_embd, o->bias)) &&
           init_weights(m) == VOLT_OK;
}

volt_module *volt_gpt_new(const volt_gpt_options *opt) {
    volt_gpt_options o = opt ? *opt : volt_gpt_defaults();
    if (check(&o) != VOLT_OK) return NULL;
    gpt *m = (gpt *)volt_module_new(NULL, NULL, &gpt_class);
    if (!m) return NULL;
    m->base.ops = &gpt_ops;
    m->o = o;
    if (!build(m) || record_hparams(&m->base, &o) != VOLT_OK) {
        volt_module_free(&m->base);
        return NULL;
    }
    return &m->base;
}

/* ---------------------------------------------------------- option table */

#define G(f, T, d, h, ...) VOLT_OPT(volt_gpt_options, f, T, d, h, __VA_ARGS__)
const volt_option volt_gpt_table[] = {
    G(vocab_size, INT, "0",
      "tokens in the vocabulary (0: from the data; the text datamodule's characters)", VOLT_GE(0)),
    G(block_size, INT, "128", "longest sequence (positions embedded)", VOLT_GE(1)),
    G(n_layer, INT, "4", "transformer blocks", VOLT_GE(1)),
    G(n_head, INT, "4", "attention heads (dividing n_embd)", VOLT_GE(1)),
    G(n_embd, INT, "128", "embedding width", VOLT_GE(1)),
    G(dropout, DOUBLE, "0.0", "dropout on the embeddings and after each attention and MLP block",
      VOLT_RANGE(0, 1)),
    G(bias, BOOL, "true", "biases in the Linear layers and LayerNorms (GPT-2: true)"),
    G(lr, DOUBLE, "0.001", "learning rate of the default optimizer (AdamW)", VOLT_GE(0)),
    G(weight_decay, DOUBLE, "0.1", "AdamW's decoupled weight decay, on 2-D weights only",
      VOLT_GE(0)),
    G(beta1, DOUBLE, "0.9", "AdamW's beta1", VOLT_RANGE(0, 1)),
    G(beta2, DOUBLE, "0.95", "AdamW's beta2", VOLT_RANGE(0, 1)),
    {0},
};
