/* test_gpt.c: the built-in GPT (volt_gpt_new) — output shapes, parameter
 * counts by hand, nanoGPT's state-dict names with the tied embedding held
 * once, causality (later tokens never change earlier logits), the tied
 * weight's gradient equal to the sum of its two uses computed untied,
 * GPT-2's initialisation, a float64 gradient check, parity with PyTorch on
 * recorded vectors (tests/parity/record_gpt.py), AdamW's two parameter
 * groups, a short fit on repetitive text whose validation loss falls far
 * below ln(vocab), sampling (deterministic for a seed, in the vocabulary,
 * top_k 1 greedy), the option table, and the refusals. */
#include "train_fixture.h"

#include <cjson/cJSON.h>

#include "autograd/autograd_impl.h"
#include "core/core_impl.h"
#include "train/cli_impl.h"

static volt_gpt_options tiny(int64_t vocab, int64_t block, int64_t layers, int64_t heads,
                             int64_t embd) {
    volt_gpt_options o = volt_gpt_defaults();
    o.vocab_size = vocab, o.block_size = block, o.n_layer = layers, o.n_head = heads;
    o.n_embd = embd;
    return o;
}

static volt_tensor *tokens(int64_t b, int64_t t, const int64_t *values) {
    return volt_from_array(values, VOLT_I64, VOLT_SHAPE(b, t));
}

/* ------------------------------------------------- shapes and parameters */

/* nanoGPT's count: V E + block E + L (12 E^2 + 13 E) + 2 E with biases,
 * V E + block E + L (12 E^2 + 2 E) + E without. */
static int64_t gpt_count(int64_t v, int64_t block, int64_t l, int64_t e, bool bias) {
    int64_t per_block = bias ? 2 * e + (3 * e * e + 3 * e) + (e * e + e) + 2 * e +
                                   (4 * e * e + 4 * e) + (4 * e * e + e)
                             : e + 3 * e * e + e * e + e + 4 * e * e + 4 * e * e;
    return v * e + block * e + l * per_block + (bias ? 2 * e : e);
}

static void test_shapes_and_counts(void **state) {
    (void)state;
    volt_gpt_options o = tiny(11, 8, 2, 2, 16);
    volt_module *m = volt_gpt_new(&o);
    assert_non_null(m);
    /* 176 + 128 + 2 (12 * 256 + 13 * 16) + 32 = 6,896 */
    assert_int_equal(gpt_count(11, 8, 2, 16, true), 6896);
    assert_int_equal(volt_module_num_parameters(m, false), 6896);
    volt_tensor *logits =
        volt_gpt_forward(m, tokens(2, 5, (int64_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    VT_ASSERT_SHAPE(logits, 2, 5, 11);
    VT_ASSERT_SHAPE(volt_module_forward(m, tokens(1, 8, (int64_t[]){1, 1, 1, 1, 2, 2, 2, 2})), 1, 8,
                    11);
    VT_ASSERT_SHAPE(m->ops->example_input(m), 1, 8);
    volt_module_free(m);
    o.bias = false;
    m = volt_gpt_new(&o);
    assert_int_equal(volt_module_num_parameters(m, false), gpt_count(11, 8, 2, 16, false));
    volt_module_free(m);
    /* the defaults with a vocabulary of 65 (nanoGPT's shakespeare_char at 4 x 128) */
    o = volt_gpt_defaults();
    o.vocab_size = 65;
    m = volt_gpt_new(&o);
    assert_int_equal(volt_module_num_parameters(m, false), gpt_count(65, 128, 4, 128, true));
    volt_module_free(m);
}

static void test_state_dict_names(void **state) {
    (void)state;
    volt_gpt_options o = tiny(11, 8, 2, 2, 16);
    volt_module *m = volt_gpt_new(&o);
    volt_state_dict *sd = volt_module_state_dict(m);
    const char *keys[] = {"transformer.wte.weight",
                          "transformer.wpe.weight",
                          "transformer.h.0.ln_1.weight",
                          "transformer.h.0.ln_1.bias",
                          "transformer.h.0.attn.c_attn.weight",
                          "transformer.h.1.attn.c_proj.bias",
                          "transformer.h.1.ln_2.weight",
                          "transformer.h.1.mlp.c_fc.weight",
                          "transformer.h.1.mlp.c_proj.bias",
                          "transformer.ln_f.bias"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!volt_state_dict_get(sd, keys[i])) fail_msg("no '%s' in the state dict", keys[i]);
    /* 2 embeddings + 2 blocks x 12 + ln_f 2; the head is the embedding, held once */
    assert_int_equal(sd->count, 28);
    assert_null(volt_state_dict_get(sd, "lm_head.weight"));
    volt_tensor *wte = volt_module_get(m, "transformer.wte.weight");
    int seen = 0;
    for (int64_t i = 0; i < sd->count; i++) seen += sd->tensors[i] == wte;
    assert_int_equal(seen, 1);
    volt_params p = volt_module_parameters(m);
    seen = 0;
    for (int64_t i = 0; i < p.count; i++) seen += p.tensors[i] == wte;
    assert_int_equal(seen, 1);
    volt_state_dict_free(sd);
    volt_module_free(m);
}

/* mean and standard deviation of t's elements */
static void moments(const volt_tensor *t, double *mean, double *std) {
    int64_t n = volt_tensor_numel(t);
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = volt_tensor_get_flat(t, i);
        s += v, q += v * v;
    }
    *mean = s / (double)n;
    *std = sqrt(q / (double)n - *mean * *mean);
}

static void test_init(void **state) {
    (void)state;
    volt_seed_everything(1);
    volt_gpt_options o = tiny(300, 64, 8, 4, 64);
    volt_module *m = volt_gpt_new(&o);
    double mean, std;
    moments(volt_module_get(m, "transformer.wte.weight"), &mean, &std);
    assert_true(fabs(mean) < 0.002 && fabs(std - 0.02) < 0.001);
    moments(volt_module_get(m, "transformer.h.3.mlp.c_fc.weight"), &mean, &std);
    assert_true(fabs(std - 0.02) < 0.001);
    /* residual projections: 0.02 / sqrt(2 * 8) = 0.005 */
    moments(volt_module_get(m, "transformer.h.5.attn.c_proj.weight"), &mean, &std);
    assert_true(fabs(std - 0.005) < 0.0005);
    moments(volt_module_get(m, "transformer.h.7.mlp.c_proj.weight"), &mean, &std);
    assert_true(fabs(std - 0.005) < 0.0003);
    moments(volt_module_get(m, "transformer.h.2.attn.c_attn.bias"), &mean, &std);
    assert_true(mean == 0 && std == 0);
    moments(volt_module_get(m, "transformer.ln_f.weight"), &mean, &std);
    assert_true(mean == 1 && std == 0);
    volt_module_free(m);
    /* the same seed, the same weights */
    volt_seed_everything(1);
    volt_module *a = volt_gpt_new(&o);
    volt_seed_everything(1);
    volt_module *b = volt_gpt_new(&o);
    VT_ASSERT_SAME_PARAMS(a, b, 0, "same seed");
    volt_module_free(a);
    volt_module_free(b);
}

/* --------------------------------------------------------------- causality */

static void test_causal(void **state) {
    (void)state;
    volt_gpt_options o = tiny(13, 10, 2, 2, 16);
    volt_module *m = volt_gpt_new(&o);
    int64_t a[20], b[20];
    for (int i = 0; i < 20; i++) a[i] = b[i] = (i * 7 + 3) % 13;
    for (int t = 0; t < 10; t++) { /* change tokens t+1.. of both rows */
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 10; j++)
                b[r * 10 + j] = j <= t ? a[r * 10 + j] : (a[r * 10 + j] + 1 + j % 5) % 13;
        volt_tensor *la = volt_gpt_forward(m, tokens(2, 10, a));
        volt_tensor *lb = volt_gpt_forward(m, tokens(2, 10, b));
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 10; j++)
                for (int v = 0; v < 13; v++) {
                    double x = volt_tensor_get(la, (int64_t[]){r, j, v});
                    double y = volt_tensor_get(lb, (int64_t[]){r, j, v});
                    if (j <= t && fabs(x - y) > 1e-6)
                        fail_msg("position %d changed when tokens after %d did", j, t);
                    if (j == t + 1 && v == 0 && x == y)
                        fail_msg("position %d did not see its own new token", j);
                }
    }
    volt_module_free(m);
}

/* ------------------------------------------------------------ weight tying */

/* The loss of m on (x, y) computed through its parts with two separate
 * copies of the token embedding: e_in for the lookup, e_out for the head. */
static volt_tensor *untied_loss(volt_module *m, volt_tensor *x, volt_tensor *y, volt_tensor *e_in,
                                volt_tensor *e_out) {
    int64_t t = x->shape[1];
    volt_tensor *h = volt_add(volt_embedding(e_in, x, VOLT_NO_PADDING_IDX),
                              volt_narrow(volt_module_get(m, "transformer.wpe.weight"), 0, 0, t));
    h = volt_module_forward(volt_module_child(m, "transformer.h"), h);
    h = volt_module_forward(volt_module_child(m, "transformer.ln_f"), h);
    volt_tensor *logits =
        volt_matmul(volt_reshape(h, VOLT_SHAPE(-1, e_in->shape[1])), volt_transpose(e_out, 0, 1));
    return volt_cross_entropy(logits, volt_reshape(y, VOLT_SHAPE(-1)));
}

static volt_tensor *model_loss(volt_module *m, volt_tensor *x, volt_tensor *y) {
    volt_tensor *logits = volt_gpt_forward(m, x);
    return volt_cross_entropy(volt_reshape(logits, VOLT_SHAPE(-1, logits->shape[2])),
                              volt_reshape(y, VOLT_SHAPE(-1)));
}

/* Bytes of the distinct storages the graph behind `t` holds (each node's
 * saved tensors, with the bf16 twin a widened f32 one keeps), and of t. */
typedef struct {
    const volt_node *nodes[512];
    const volt_storage *held[512];
    int n_nodes, n_held;
    int64_t bytes;
} graph_walk;

static void hold(graph_walk *w, const volt_storage *s) {
    for (int i = 0; s && i < w->n_held; i++)
        if (w->held[i] == s) return;
    if (!s) return;
    assert_true(w->n_held < 512);
    w->held[w->n_held++] = s;
    w->bytes += (int64_t)volt_storage_nbytes(s);
    hold(w, volt_storage_twin(s));
}

static void walk_graph(graph_walk *w, const volt_node *n) {
    if (!n) return;
    for (int i = 0; i < w->n_nodes; i++)
        if (w->nodes[i] == n) return;
    assert_true(w->n_nodes < 512);
    w->nodes[w->n_nodes++] = n;
    for (int s = 0; s < n->n_saved; s++)
        if (n->saved[s]) hold(w, n->saved[s]->storage);
    for (int i = 0; i < n->n_inputs; i++) walk_graph(w, n->inputs[i].fn);
}

/* After a forward under bf16 autocast, what is allocated is about what the
 * backward pass holds: each block runs in a scope of its own, so what it
 * made on the way and the backward does not use (the layer norms' f32
 * outputs, whose bf16 casts the Linears save, the f32 copies of the bf16
 * branches added to the stream, GELU's f32 output: 36 n_embd bytes a token
 * per block) is freed as the block ends, not with the step. Per block (2
 * blocks less 1), at most 16 n_embd bytes a token are allocated that the
 * graph does not hold (10 measured: the allocator's reuse of larger cached
 * blocks, a few small casts). */
static void test_blocks_free_their_temporaries(void **state) {
    (void)state;
    const int64_t B = 2, T = 32, E = 64, H = 4, V = 64;
    int64_t unheld[2];
    for (int layers = 1; layers <= 2; layers++) {
        volt_gpt_options o = tiny(V, T, layers, H, E);
        volt_module *m = volt_gpt_new(&o);
        assert_non_null(m);
        volt_scope_begin();
        volt_generator g = volt_generator_make(5, 0);
        volt_tensor *idx = volt_randint(0, V, VOLT_SHAPE(B, T), VOLT_I64, &g);
        volt_cpu_empty_cache();
        int64_t before = volt_cpu_memory_stats().allocated_bytes;
        volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
        volt_tensor *logits = volt_gpt_forward(m, idx);
        volt_autocast_set(prev);
        assert_non_null(logits);
        graph_walk *w = calloc(1, sizeof *w);
        walk_graph(w, logits->grad_fn);
        hold(w, logits->storage);
        unheld[layers - 1] = volt_cpu_memory_stats().allocated_bytes - before - w->bytes;
        free(w);
        volt_scope_end();
        volt_module_free(m);
    }
    int64_t per_block = unheld[1] - unheld[0], slack = B * T * 16 * E;
    if (per_block > slack)
        fail_msg("a block leaves %lld bytes the backward does not hold (at most %lld expected)",
                 (long long)per_block, (long long)slack);
}

static void test_tied_gradient(void **state) {
    (void)state;
    volt_gpt_options o = tiny(9, 6, 2, 2, 8);
    volt_module *m = volt_gpt_new(&o);
    int64_t xv[12], yv[12];
    for (int i = 0; i < 12; i++) xv[i] = (i * 5) % 9, yv[i] = (i * 5 + 5) % 9;
    volt_tensor *x = tokens(2, 6, xv), *y = tokens(2, 6, yv);
    volt_tensor *wte = volt_module_get(m, "transformer.wte.weight");
    assert_int_equal(volt_backward(model_loss(m, x, y)), VOLT_OK);
    double tied[72], sum[72];
    assert_int_equal(volt_tensor_copy_to_array(wte->grad, VOLT_F64, tied), VOLT_OK);
    volt_module_zero_grad(m);
    volt_tensor *e_in = volt_requires_grad(volt_tensor_detach(volt_clone(wte)), true);
    volt_tensor *e_out = volt_requires_grad(volt_tensor_detach(volt_clone(wte)), true);
    volt_tensor *loss = untied_loss(m, x, y, e_in, e_out);
    VT_ASSERT_CLOSE(loss, ((double[]){volt_tensor_item(model_loss(m, x, y))}), 1, 1e-6, 1e-7);
    assert_int_equal(volt_backward(loss), VOLT_OK);
    double in_only = 0, out_only = 0;
    for (int i = 0; i < 72; i++) {
        double gi = volt_tensor_get_flat(e_in->grad, i), go = volt_tensor_get_flat(e_out->grad, i);
        sum[i] = gi + go;
        in_only += fabs(gi), out_only += fabs(go);
    }
    assert_true(in_only > 1e-4 && out_only > 1e-4); /* both uses contribute */
    VT_ASSERT_CLOSE(volt_from_array(tied, VOLT_F64, VOLT_SHAPE(72)), sum, 72, 1e-5, 1e-7);
    volt_module_free(m);
}

/* ------------------------------------------------------- gradient check */

typedef struct {
    volt_module *m;
    volt_tensor *x, *y;
} loss_ctx;

static volt_tensor *loss_fn(volt_tensor **in, void *ctx) {
    (void)in; /* the inputs are the model's own parameters */
    loss_ctx *c = ctx;
    return model_loss(c->m, c->x, c->y);
}

static void test_gradcheck(void **state) {
    (void)state;
    volt_gpt_options o = tiny(7, 5, 2, 2, 4);
    volt_module *m = volt_gpt_new(&o);
    assert_int_equal(volt_module_to_dtype(m, VOLT_F64), VOLT_OK);
    /* larger weights than GPT-2's init, so that every path matters */
    volt_params p = volt_module_parameters(m);
    for (int64_t i = 0; i < p.count; i++)
        if (p.tensors[i]->ndim >= 2 || strstr(p.names[i], ".bias"))
            assert_int_equal(volt_init_normal_(p.tensors[i], 0.0, 0.5, NULL), VOLT_OK);
    loss_ctx c = {m, tokens(2, 5, (int64_t[]){0, 3, 6, 2, 2, 5, 1, 4, 0, 6}),
                  tokens(2, 5, (int64_t[]){3, 6, 2, 2, 1, 1, 4, 0, 6, 5})};
    VT_GRADCHECK(loss_fn, &c, 6, volt_module_get(m, "transformer.wte.weight"),
                 volt_module_get(m, "transformer.wpe.weight"),
                 volt_module_get(m, "transformer.h.0.attn.c_attn.weight"),
                 volt_module_get(m, "transformer.h.1.mlp.c_fc.bias"),
                 volt_module_get(m, "transformer.h.1.ln_2.weight"),
                 volt_module_get(m, "transformer.ln_f.bias"));
    volt_module_free(m);
}

/* ------------------------------------------------------------ parity */

static volt_safetensors *open_vectors(void) {
    const char *src = getenv("VOLT_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/parity/vectors/gpt.safetensors", src ? src : ".");
    volt_safetensors *f = volt_safetensors_open(path);
    if (!f) fail_msg("%s", volt_error_message());
    const char *format = volt_safetensors_metadata(f, "format");
    assert_non_null(format);
    assert_string_equal(format, "volt-parity-1");
    return f;
}

static volt_tensor *vec(volt_safetensors *f, const char *cs, const char *prefix, const char *key) {
    char name[256];
    snprintf(name, sizeof name, "%s/%s%s", cs, prefix, key);
    volt_tensor *t = volt_safetensors_get(f, name);
    if (!t) fail_msg("%s", volt_error_message());
    return t;
}

static void expect_close(const char *cs, const char *what, const volt_tensor *got,
                         const volt_tensor *want) {
    int64_t n = volt_tensor_numel(want);
    assert_int_equal(volt_tensor_numel(got), n);
    for (int64_t i = 0; i < n; i++) {
        double a = volt_tensor_get_flat(got, i), b = volt_tensor_get_flat(want, i);
        if (!(fabs(a - b) <= 1e-6 + 1e-5 * fabs(b)))
            fail_msg("%s: %s[%lld]: volt %.8g, torch %.8g", cs, what, (long long)i, a, b);
    }
}

static void parity_case(volt_safetensors *f, const char *cs) {
    cJSON *spec = cJSON_Parse(volt_safetensors_metadata(f, cs));
    const cJSON *cfg = cJSON_GetObjectItem(spec, "config"),
                *params = cJSON_GetObjectItem(spec, "params");
    volt_gpt_options o = volt_gpt_defaults();
    o.vocab_size = (int64_t)cJSON_GetObjectItem(cfg, "vocab_size")->valuedouble;
    o.block_size = (int64_t)cJSON_GetObjectItem(cfg, "block_size")->valuedouble;
    o.n_layer = (int64_t)cJSON_GetObjectItem(cfg, "n_layer")->valuedouble;
    o.n_head = (int64_t)cJSON_GetObjectItem(cfg, "n_head")->valuedouble;
    o.n_embd = (int64_t)cJSON_GetObjectItem(cfg, "n_embd")->valuedouble;
    o.bias = cJSON_IsTrue(cJSON_GetObjectItem(cfg, "bias"));
    volt_module *m = volt_gpt_new(&o);
    assert_non_null(m);
    /* torch's keys are volt's, the tied weight once; a strict load */
    char *names[64];
    volt_tensor *values[64];
    volt_state_dict sd = {.names = names, .tensors = values};
    const cJSON *it;
    cJSON_ArrayForEach(it, params) {
        names[sd.count] = it->valuestring;
        values[sd.count++] = vec(f, cs, "p.", it->valuestring);
    }
    if (volt_module_load_state_dict(m, &sd, true, NULL) != VOLT_OK)
        fail_msg("%s: %s", cs, volt_error_message());
    volt_tensor *x = vec(f, cs, "", "x"), *y = vec(f, cs, "", "y");
    volt_tensor *logits = volt_gpt_forward(m, x);
    expect_close(cs, "logits", logits, vec(f, cs, "", "logits"));
    volt_tensor *loss = volt_cross_entropy(volt_reshape(logits, VOLT_SHAPE(-1, o.vocab_size)),
                                           volt_reshape(y, VOLT_SHAPE(-1)));
    expect_close(cs, "loss", loss, vec(f, cs, "", "loss"));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    cJSON_ArrayForEach(it, params) {
        volt_tensor *p = volt_module_get(m, it->valuestring);
        assert_non_null(p->grad);
        expect_close(cs, it->valuestring, p->grad, vec(f, cs, "grad.", it->valuestring));
    }
    cJSON_Delete(spec);
    volt_module_free(m);
}

static void test_torch_parity(void **state) {
    (void)state;
    volt_safetensors *f = open_vectors();
    parity_case(f, "gpt_bias");
    parity_case(f, "gpt_no_bias");
    volt_safetensors_close(f);
}

/* ----------------------------------------------------- training, sampling */

static const char *write_text(const char *dir) {
    static char path[1100];
    snprintf(path, sizeof path, "%s/rhyme.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 120; i++)
        fputs("twinkle twinkle little star, how i wonder what you are. ", f);
    fclose(f);
    return path;
}

/* nanoGPT's groups: AdamW with weight_decay on the 2-D parameters (group 0:
 * embeddings, Linear weights), none on the 1-D ones (group 1), betas (0.9,
 * 0.95); every parameter once. */
static void check_param_groups(volt_module *m, volt_optimizer *opt, const volt_gpt_options *o) {
    assert_string_equal(volt_optimizer_name(opt), "AdamW");
    assert_int_equal(volt_optimizer_num_groups(opt), 2);
    volt_params p = volt_optimizer_params(opt), all = volt_module_parameters(m);
    assert_int_equal(p.count, all.count);
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(opt, &json);
    assert_non_null(sd);
    cJSON *root = cJSON_Parse(json);
    const cJSON *groups = cJSON_GetObjectItem(root, "param_groups"), *g, *i;
    int k = 0;
    int64_t seen = 0;
    cJSON_ArrayForEach(g, groups) {
        double wd = cJSON_GetObjectItem(g, "weight_decay")->valuedouble;
        assert_true(wd == (k == 0 ? o->weight_decay : 0.0));
        const cJSON *betas = cJSON_GetObjectItem(g, "betas");
        assert_true(cJSON_GetArrayItem(betas, 0)->valuedouble == 0.9 &&
                    cJSON_GetArrayItem(betas, 1)->valuedouble == 0.95);
        cJSON_ArrayForEach(i, cJSON_GetObjectItem(g, "params")) {
            int ndim = p.tensors[(int64_t)i->valuedouble]->ndim;
            if ((k == 0) != (ndim >= 2)) fail_msg("a %d-d parameter in group %d", ndim, k);
            seen++;
        }
        k++;
    }
    assert_int_equal(seen, all.count);
    cJSON_Delete(root);
    free(json);
    volt_state_dict_free(sd);
}

/* The rhyme's datamodule (in a fresh dir_name), a tiny GPT (*o) over its
 * vocabulary and a trainer of 200 steps at `precision`, seeded alike. */
static volt_trainer *rhyme_run(const char *dir_name, const char *precision, volt_datamodule **dm,
                               volt_module **m, volt_gpt_options *o) {
    const char *dir = fresh_dir(dir_name);
    volt_seed_everything(7);
    volt_text_datamodule_options d = volt_text_datamodule_defaults();
    d.path = write_text(dir);
    d.block_size = 32, d.stride = 1, d.batch_size = 16;
    *dm = volt_text_datamodule_new(&d);
    const volt_char_vocab *vocab = volt_text_datamodule_vocab(*dm);
    assert_non_null(vocab);
    assert_int_equal(vocab->size, 18); /* " ,.adehiklnorstuwy" */
    *o = tiny(vocab->size, 32, 2, 2, 32);
    o->lr = 3e-3;
    *m = volt_gpt_new(o);
    volt_trainer_config cfg = quiet_config();
    cfg.max_steps = 200;
    cfg.limit_val_batches = VOLT_BATCHES(4);
    cfg.val_check_interval = VOLT_BATCHES(200);
    cfg.num_sanity_val_steps = 0;
    cfg.precision = precision;
    return volt_trainer_new(&cfg);
}

static void test_fit_and_sample(void **state) {
    (void)state;
    volt_datamodule *dm;
    volt_module *m;
    volt_gpt_options o;
    volt_trainer *t = rhyme_run("gpt_fit", "32-true", &dm, &m, &o);
    const volt_char_vocab *vocab = volt_text_datamodule_vocab(dm);
    volt_metrics *r = NULL;
    assert_int_equal(volt_trainer_validate(t, m, dm, NULL, &r), VOLT_OK);
    double before = volt_metrics_get(r, "val_loss");
    volt_metrics_free(r);
    assert_int_equal(volt_trainer_fit(t, m, dm, NULL), VOLT_OK);
    double after = volt_metrics_get(volt_trainer_callback_metrics(t), "val_loss");
    /* from about ln 18 = 2.89 to a text that repeats every 56 characters */
    assert_true(before > 2.6);
    assert_true(after < 0.25);
    check_param_groups(m, volt_trainer_optimizer(t, 0), &o);

    /* sampling: the same seed, the same text; in the vocabulary; it learned the rhyme */
    int64_t ctx[8], out1[40], out2[40], out3[40];
    assert_int_equal(volt_char_vocab_encode(vocab, "how i wo", 8, ctx), VOLT_OK);
    volt_generator g1 = volt_generator_make(42, 0), g2 = volt_generator_make(42, 0),
                   g3 = volt_generator_make(43, 0);
    assert_int_equal(volt_gpt_generate(m, ctx, 8, 40, 1.0, 0, &g1, out1), VOLT_OK);
    assert_int_equal(volt_gpt_generate(m, ctx, 8, 40, 1.0, 0, &g2, out2), VOLT_OK);
    assert_memory_equal(out1, out2, sizeof out1);
    assert_int_equal(volt_gpt_generate(m, ctx, 8, 40, 1.5, 0, &g3, out3), VOLT_OK);
    for (int i = 0; i < 40; i++) assert_true(out3[i] >= 0 && out3[i] < vocab->size);
    /* greedy (top_k 1) continues the rhyme; it is the argmax of the forward */
    int64_t greedy[24];
    assert_int_equal(volt_gpt_generate(m, ctx, 8, 24, 1.0, 1, NULL, greedy), VOLT_OK);
    char text[25];
    assert_int_equal(volt_char_vocab_decode(vocab, greedy, 24, text), VOLT_OK);
    assert_string_equal(text, "nder what you are. twink");
    volt_module_train(m, false);
    volt_tensor *argmax = volt_argmax(volt_gpt_forward(m, tokens(1, 8, ctx)), -1, false);
    assert_int_equal((int64_t)volt_tensor_get_flat(argmax, 7), greedy[0]);
    assert_true(volt_module_is_training(m) == false);
    volt_trainer_free(t);
    volt_module_free(m);
    volt_datamodule_free(dm);
}

/* precision "bf16-mixed" on the CPU: the blocks' products return bf16
 * (attention and the MLP run on them), layer norm and the loss in f32;
 * the model learns the rhyme as in f32. */
static void test_fit_bf16_mixed(void **state) {
    (void)state;
    volt_datamodule *dm;
    volt_module *m;
    volt_gpt_options o;
    volt_trainer *t = rhyme_run("gpt_fit_bf16", "bf16-mixed", &dm, &m, &o);
    const volt_char_vocab *vocab = volt_text_datamodule_vocab(dm);
    assert_int_equal(volt_trainer_fit(t, m, dm, NULL), VOLT_OK);
    double after = volt_metrics_get(volt_trainer_callback_metrics(t), "val_loss");
    if (!(after < 0.25)) fail_msg("bf16-mixed: val_loss %g after 200 steps", after);
    int64_t ctx[8];
    assert_int_equal(volt_char_vocab_encode(vocab, "how i wo", 8, ctx), VOLT_OK);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *logits = volt_gpt_forward(m, tokens(1, 8, ctx));
    volt_autocast_set(prev);
    assert_non_null(logits);
    assert_int_equal(logits->dtype, VOLT_BF16);
    volt_trainer_free(t);
    volt_module_free(m);
    volt_datamodule_free(dm);
}

/* A context longer than block_size is cropped to its last block_size tokens. */
static void test_generate_crops(void **state) {
    (void)state;
    volt_gpt_options o = tiny(5, 4, 1, 1, 8);
    volt_module *m = volt_gpt_new(&o);
    assert_true(volt_module_is_training(m));
    int64_t long_ctx[9] = {0, 1, 2, 3, 4, 0, 1, 2, 3}, short_ctx[4] = {0, 1, 2, 3};
    int64_t a[6], b[6];
    volt_generator g1 = volt_generator_make(5, 1), g2 = volt_generator_make(5, 1);
    assert_int_equal(volt_gpt_generate(m, long_ctx, 9, 6, 0.8, 3, &g1, a), VOLT_OK);
    assert_int_equal(volt_gpt_generate(m, short_ctx, 4, 6, 0.8, 3, &g2, b), VOLT_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_true(volt_module_is_training(m)); /* the mode comes back */
    assert_int_equal(volt_gpt_generate(m, short_ctx, 4, 0, 1.0, 0, NULL, NULL), VOLT_OK);
    volt_module_free(m);
}

/* ------------------------------------------------------- option table */

static void test_option_table(void **state) {
    (void)state;
    /* defaults and coverage: tests/train/test_options.c */
    volt_gpt_options t = volt_gpt_defaults();
    int n = 0;
    while (volt_gpt_table[n].name) n++;
    assert_int_equal(n, 11); /* one entry per field */
    assert_int_equal(volt_options_set(volt_gpt_table, &t, "model", "n_embd", "768"), VOLT_OK);
    assert_int_equal(t.n_embd, 768);
    assert_int_not_equal(volt_options_set(volt_gpt_table, &t, "model", "n_emb", "768"), VOLT_OK);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "did you mean n_embd?");
    volt_options_release(volt_gpt_table, &t);
}

/* `volt fit --model=gpt --data=text --data.path=...`: the model's
 * vocab_size 0 becomes the text's vocabulary; mismatches are refused. */
static volt_status resolve(const char *yaml, cli_resolved *r) {
    cli_config c;
    cli_config_init(&c, volt_cli_builtin_registry());
    volt_status st = cli_config_load_text(&c, yaml, strlen(yaml), "test");
    if (st == VOLT_OK) st = cli_resolve(&c, r, false);
    cli_config_free(&c);
    return st;
}

static void test_cli_links_vocab(void **state) {
    (void)state;
    const char *path = write_text(fresh_dir("gpt_cli"));
    char yaml[1600];
    snprintf(yaml, sizeof yaml, "model:\n  name: gpt\ndata:\n  name: text\n  path: %s\n", path);
    cli_resolved r;
    assert_int_equal(resolve(yaml, &r), VOLT_OK);
    assert_int_equal(((volt_gpt_options *)r.model.opts)->vocab_size, 18);
    char *text = cli_resolved_yaml(&r);
    assert_non_null(strstr(text, "vocab_size: 18"));
    free(text);
    cli_resolved_free(&r);
    snprintf(yaml, sizeof yaml,
             "model:\n  name: gpt\n  vocab_size: 40\ndata:\n  name: text\n  path: %s\n", path);
    assert_int_equal(resolve(yaml, &r), VOLT_OK);
    assert_int_equal(((volt_gpt_options *)r.model.opts)->vocab_size, 40); /* set: kept */
    cli_resolved_free(&r);
    snprintf(yaml, sizeof yaml,
             "model:\n  name: gpt\ndata:\n  name: text\n  block_size: 256\n  path: %s\n", path);
    assert_int_not_equal(resolve(yaml, &r), VOLT_OK);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "data.block_size 256 exceeds model.block_size 128");
    cli_resolved_free(&r);
    snprintf(yaml, sizeof yaml, "model:\n  name: gpt\ndata:\n  name: csv\n  train_path: %s\n",
             path);
    assert_int_not_equal(resolve(yaml, &r), VOLT_OK);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "model.vocab_size is 0 (from the data), but data 'csv' has no vocabulary");
    cli_resolved_free(&r);
    assert_int_not_equal(
        resolve("model:\n  name: gpt\ndata:\n  name: text\n  path: /no/such/corpus\n", &r),
        VOLT_OK);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "data: text: path: /no/such/corpus: No such file or directory");
    cli_resolved_free(&r);
}

/* ------------------------------------------------------------ refusals */

#define REFUSED(call, status, substr)                                                              \
    do {                                                                                           \
        assert_null(call);                                                                         \
        VT_ASSERT_ERROR(status, substr);                                                           \
    } while (0)

static void test_refusals(void **state) {
    (void)state;
    volt_gpt_options o = tiny(10, 8, 1, 4, 18);
    REFUSED(volt_gpt_new(&o), VOLT_ERR_INVALID_ARGUMENT,
            "gpt: n_embd 18 must be divisible by n_head 4");
    o = tiny(0, 8, 1, 2, 8);
    REFUSED(volt_gpt_new(&o), VOLT_ERR_INVALID_ARGUMENT, "gpt: vocab_size must be >= 1 (got 0;");
    o = tiny(10, 0, 1, 2, 8);
    REFUSED(volt_gpt_new(&o), VOLT_ERR_INVALID_ARGUMENT, "gpt: block_size must be >= 1 (got 0)");
    o = tiny(10, 8, 0, 2, 8);
    REFUSED(volt_gpt_new(&o), VOLT_ERR_INVALID_ARGUMENT, "gpt: n_layer must be >= 1 (got 0)");
    o = tiny(10, 8, 1, 2, 8);
    o.dropout = 1;
    REFUSED(volt_gpt_new(&o), VOLT_ERR_INVALID_ARGUMENT, "gpt: dropout must be in [0, 1) (got 1)");
    o.dropout = 0, o.beta2 = 1.5;
    REFUSED(volt_gpt_new(&o), VOLT_ERR_INVALID_ARGUMENT, "gpt: beta2 must be in [0, 1) (got 1.5)");

    o = tiny(10, 4, 1, 2, 8);
    volt_module *m = volt_gpt_new(&o);
    REFUSED(volt_gpt_forward(m, tokens(1, 5, (int64_t[]){1, 2, 3, 4, 5})), VOLT_ERR_SHAPE,
            "gpt: sequence length 5 exceeds block_size 4");
    REFUSED(volt_gpt_forward(m, tokens(2, 2, (int64_t[]){1, 2, 3, 10})), VOLT_ERR_INVALID_ARGUMENT,
            "gpt: token id 10 at [1, 1] is out of range for vocab_size 10");
    REFUSED(volt_gpt_forward(m, tokens(1, 2, (int64_t[]){-1, 2})), VOLT_ERR_INVALID_ARGUMENT,
            "gpt: token id -1 at [0, 0] is out of range");
    REFUSED(volt_gpt_forward(m, volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32)), VOLT_ERR_SHAPE,
            "gpt: input f32[2,3] must be token ids [B, T] (i64 or i32)");
    REFUSED(volt_gpt_forward(m, volt_zeros(VOLT_SHAPE(3), VOLT_I64)), VOLT_ERR_SHAPE,
            "gpt: input i64[3] must be token ids [B, T]");
    volt_module *mlp = volt_mlp_new(NULL);
    REFUSED(volt_gpt_forward(mlp, tokens(1, 1, (int64_t[]){1})), VOLT_ERR_INVALID_ARGUMENT,
            "gpt_forward: the module is not a model made by volt_gpt_new");
    volt_module_free(mlp);

    int64_t ctx[2] = {1, 2}, out[4];
    assert_int_equal(volt_gpt_generate(m, ctx, 2, 4, 0.0, 0, NULL, out), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "temperature must be a finite number > 0 (got 0)");
    assert_int_equal(volt_gpt_generate(m, ctx, 0, 4, 1.0, 0, NULL, out), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the context needs at least one token (got 0)");
    assert_int_equal(volt_gpt_generate(m, ctx, 2, 4, 1.0, -1, NULL, out),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "top_k must be >= 0 (got -1)");
    ctx[1] = 12;
    assert_int_equal(volt_gpt_generate(m, ctx, 2, 4, 1.0, 0, NULL, out), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "context[1] = 12 is out of range for vocab_size 10");

    /* the steps name the batch's missing or mismatched fields */
    volt_batch b = {0};
    volt_batch_set(&b, "x", tokens(1, 2, (int64_t[]){1, 2}));
    REFUSED(m->ops->training_step(m, &b, 0, NULL), VOLT_ERR_INVALID_ARGUMENT,
            "gpt: the batch needs fields 'x' (tokens [B, T]) and 'y'");
    volt_batch_set(&b, "y", tokens(1, 1, (int64_t[]){1}));
    REFUSED(m->ops->training_step(m, &b, 0, NULL), VOLT_ERR_SHAPE,
            "gpt: targets y i64[1,1] do not match tokens x i64[1,2]");
    volt_module_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_shapes_and_counts),
        VT_TEST(test_state_dict_names),
        VT_TEST(test_init),
        VT_TEST(test_causal),
        VT_TEST(test_blocks_free_their_temporaries),
        VT_TEST(test_tied_gradient),
        VT_TEST(test_gradcheck),
        VT_TEST(test_torch_parity),
        VT_TEST(test_fit_and_sample),
        VT_TEST(test_fit_bf16_mixed),
        VT_TEST(test_generate_crops),
        VT_TEST(test_option_table),
        VT_TEST(test_cli_links_vocab),
        VT_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
