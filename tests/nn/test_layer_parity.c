/* test_layer_parity.c: volt's layers against PyTorch on recorded vectors
 * (DESIGN.md §8). tests/parity/record_layers.py ran each torch.nn layer (a
 * few configurations of every layer of volt/nn.h) in float32 with seeded
 * parameters and inputs and a fixed upstream gradient, and wrote
 * tests/parity/vectors/layers.safetensors: the state dict before the forward,
 * the inputs, the output, the upstream gradient, the gradients of the inputs
 * and parameters, and the buffers after the forward (BatchNorm's running
 * statistics), with each case's layer type and hyperparameters as JSON in the
 * metadata. For every case this test builds the volt layer with the same
 * configuration, checks that its state-dict keys are torch's, loads the
 * recorded values, runs the forward in the recorded mode and
 * volt_backward_ex with the upstream gradient, and compares output, input
 * gradients, parameter gradients and buffers with
 * |volt - torch| <= 1e-6 + 1e-5 |torch| (integers exactly).
 * Every case runs twice: parameters copied in (volt_copy_), and loaded
 * with a strict volt_module_load_state_dict after a first forward with the
 * layer's own initial weights (so stale cached weights would show);
 * MultiheadSelfAttention cases also through the reference forward.
 *
 * Environment: VOLT_SOURCE_DIR (set by ctest) locates the vectors;
 * VOLT_PARITY_FILTER=substring runs only the matching cases. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <volt/io.h>
#include <volt/nn.h>

#define ATOL 1e-6
#define RTOL 1e-5
#define MAX_IN 4

typedef struct {
    const char *name;
    volt_safetensors *file;
    const cJSON *cfg;
    bool bad_cfg;
} lcase;

/* ------------------------------------------------------------ config */

static const cJSON *item(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const cJSON *cfg(lcase *c, const char *key) {
    const cJSON *v = item(c->cfg, key);
    if (!v) {
        fprintf(stderr, "layer parity: %s: config '%s' missing\n", c->name, key);
        c->bad_cfg = true;
    }
    return v;
}

static double cfg_num(lcase *c, const char *key) {
    const cJSON *v = cfg(c, key);
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? 1 : 0;
    if (v) c->bad_cfg = true;
    return NAN;
}

static int64_t cfg_i64(lcase *c, const char *key) { return (int64_t)cfg_num(c, key); }
static bool cfg_bool(lcase *c, const char *key) { return cfg_num(c, key) != 0; }
static bool cfg_null(lcase *c, const char *key) { return cJSON_IsNull(cfg(c, key)); }

/* A list of integers into out[0..max); returns the count (0 for null). */
static int cfg_list(lcase *c, const char *key, int64_t *out, int max) {
    const cJSON *v = cfg(c, key);
    if (cJSON_IsNull(v)) return 0;
    int n = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || n > max) {
        c->bad_cfg = true;
        return 0;
    }
    for (int i = 0; i < n; i++) out[i] = (int64_t)cJSON_GetArrayItem(v, i)->valuedouble;
    return n;
}

/* An optional number: null (or absent) -> dflt. */
static double cfg_num_or(lcase *c, const char *key, double dflt) {
    const cJSON *v = item(c->cfg, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* ------------------------------------------------------------ layers */

static volt_conv_options conv_options(lcase *c) {
    volt_conv_options o = {0};
    int64_t v[2];
    o.groups = cfg_i64(c, "groups");
    o.no_bias = !cfg_bool(c, "bias");
    int n = cfg_list(c, "stride", v, 2);
    for (int i = 0; i < n; i++) o.stride[i] = v[i];
    n = cfg_list(c, "dilation", v, 2);
    for (int i = 0; i < n; i++) o.dilation[i] = v[i];
    const cJSON *p = cfg(c, "padding");
    if (cJSON_IsString(p) && strcmp(p->valuestring, "same") == 0) {
        o.padding[0] = o.padding[1] = VOLT_PADDING_SAME;
    } else {
        n = cfg_list(c, "padding", v, 2);
        for (int i = 0; i < n; i++) o.padding[i] = v[i];
    }
    if (item(c->cfg, "output_padding")) {
        n = cfg_list(c, "output_padding", v, 2);
        for (int i = 0; i < n; i++) o.output_padding[i] = v[i];
    }
    return o;
}

static volt_pool_options pool_options(lcase *c) {
    volt_pool_options o = {0};
    int64_t v[2];
    int n = cfg_list(c, "stride", v, 2);
    for (int i = 0; i < n; i++) o.stride[i] = v[i];
    n = cfg_list(c, "padding", v, 2);
    for (int i = 0; i < n; i++) o.padding[i] = v[i];
    if (item(c->cfg, "dilation")) {
        n = cfg_list(c, "dilation", v, 2);
        for (int i = 0; i < n; i++) o.dilation[i] = v[i];
    }
    o.ceil_mode = cfg_bool(c, "ceil_mode");
    if (item(c->cfg, "count_include_pad")) o.exclude_pad = !cfg_bool(c, "count_include_pad");
    return o;
}

static volt_norm_options norm_options(lcase *c) {
    return (volt_norm_options){.eps = cfg_num_or(c, "eps", NAN),
                               .no_affine = !cfg_bool(c, "affine")};
}

/* Sequential(Flatten, Linear(12, 6), Dropout(0), Linear(6, 3)), as recorded. */
static volt_module *build_sequential(void) {
    volt_sequential *seq = volt_sequential_new(NULL, "layer");
    if (!seq) return NULL;
    volt_module *parts[4] = {
        (volt_module *)volt_flatten_layer_new(NULL, "flatten", 1, -1),
        (volt_module *)volt_linear_new(NULL, "fc1", 12, 6),
        (volt_module *)volt_dropout_layer_new(NULL, "drop", 0.0),
        (volt_module *)volt_linear_new(NULL, "fc2", 6, 3),
    };
    for (int i = 0; i < 4; i++) volt_sequential_append(seq, parts[i]);
    return &seq->base;
}

/* The volt layer of a case (standalone, named "layer"); NULL if unknown. */
static volt_module *build(lcase *c, const char *layer, bool *known) {
    *known = true;
    int64_t v[VOLT_MAX_DIMS];
    if (strcmp(layer, "Linear") == 0) {
        volt_linear_options o = {.no_bias = !cfg_bool(c, "bias")};
        return (volt_module *)volt_linear_new_ex(NULL, "layer", cfg_i64(c, "in"), cfg_i64(c, "out"),
                                                 &o);
    }
    if (strcmp(layer, "Bilinear") == 0) {
        volt_linear_options o = {.no_bias = !cfg_bool(c, "bias")};
        return (volt_module *)volt_bilinear_new(NULL, "layer", cfg_i64(c, "in1"), cfg_i64(c, "in2"),
                                                cfg_i64(c, "out"), &o);
    }
    if (strcmp(layer, "Embedding") == 0) {
        int64_t pidx = cfg_null(c, "padding_idx") ? VOLT_NO_PADDING_IDX : cfg_i64(c, "padding_idx");
        return (volt_module *)volt_embedding_layer_new(NULL, "layer", cfg_i64(c, "num"),
                                                       cfg_i64(c, "dim"), pidx);
    }
    if (strcmp(layer, "Dropout") == 0)
        return (volt_module *)volt_dropout_layer_new(NULL, "layer", cfg_num(c, "p"));
    if (strcmp(layer, "Flatten") == 0)
        return (volt_module *)volt_flatten_layer_new(NULL, "layer", (int)cfg_i64(c, "start_dim"),
                                                     (int)cfg_i64(c, "end_dim"));
    if (strcmp(layer, "Identity") == 0) return (volt_module *)volt_identity_new(NULL, "layer");
    if (strcmp(layer, "Sequential") == 0) return build_sequential();
    if (strcmp(layer, "LayerNorm") == 0 || strcmp(layer, "RMSNorm") == 0) {
        int n = cfg_list(c, "shape", v, VOLT_MAX_DIMS);
        volt_norm_options o = norm_options(c);
        if (layer[0] == 'L') return (volt_module *)volt_layernorm_new(NULL, "layer", n, v, &o);
        return (volt_module *)volt_rmsnorm_new(NULL, "layer", n, v, &o);
    }
    if (strcmp(layer, "GroupNorm") == 0) {
        volt_norm_options o = norm_options(c);
        return (volt_module *)volt_groupnorm_new(NULL, "layer", cfg_i64(c, "groups"),
                                                 cfg_i64(c, "channels"), &o);
    }
    if (strcmp(layer, "MultiheadSelfAttention") == 0) {
        volt_multihead_attention_options o = {.no_bias = !cfg_bool(c, "bias"),
                                              .causal = cfg_bool(c, "causal"),
                                              .dropout = cfg_num(c, "dropout")};
        return (volt_module *)volt_multihead_attention_new(NULL, "layer", cfg_i64(c, "embed_dim"),
                                                           cfg_i64(c, "num_heads"), &o);
    }
    if (strcmp(layer, "Conv1d") == 0 || strcmp(layer, "Conv2d") == 0 ||
        strcmp(layer, "ConvTranspose2d") == 0) {
        volt_conv_options o = conv_options(c);
        int64_t in = cfg_i64(c, "in"), out = cfg_i64(c, "out");
        int nk = cfg_list(c, "k", v, 2);
        if (layer[4] == '1')
            return (volt_module *)volt_conv1d_layer_new(NULL, "layer", in, out, v[0], &o);
        if (nk != 2) return NULL;
        if (layer[4] == '2')
            return (volt_module *)volt_conv2d_layer_new(NULL, "layer", in, out, v[0], v[1], &o);
        return (volt_module *)volt_conv_transpose2d_layer_new(NULL, "layer", in, out, v[0], v[1],
                                                              &o);
    }
    if (strcmp(layer, "MaxPool2d") == 0 || strcmp(layer, "AvgPool2d") == 0) {
        volt_pool_options o = pool_options(c);
        if (cfg_list(c, "k", v, 2) != 2) return NULL;
        if (layer[0] == 'M')
            return (volt_module *)volt_max_pool2d_layer_new(NULL, "layer", v[0], v[1], &o);
        return (volt_module *)volt_avg_pool2d_layer_new(NULL, "layer", v[0], v[1], &o);
    }
    if (strcmp(layer, "AdaptiveAvgPool2d") == 0) {
        if (cfg_list(c, "out", v, 2) != 2) return NULL;
        return (volt_module *)volt_adaptive_avg_pool2d_layer_new(NULL, "layer", v[0], v[1]);
    }
    if (strcmp(layer, "BatchNorm1d") == 0 || strcmp(layer, "BatchNorm2d") == 0) {
        volt_batch_norm_options o = {
            .eps = cfg_num(c, "eps"),
            .momentum = cfg_null(c, "momentum") ? NAN : cfg_num(c, "momentum"),
            .no_affine = !cfg_bool(c, "affine"),
            .no_track_running_stats = !cfg_bool(c, "track_running_stats"),
        };
        int64_t f = cfg_i64(c, "features");
        if (layer[9] == '1') return (volt_module *)volt_batch_norm1d_new(NULL, "layer", f, &o);
        return (volt_module *)volt_batch_norm2d_new(NULL, "layer", f, &o);
    }
    *known = false;
    return NULL;
}

/* How a case runs: parameters copied in, or loaded with a strict
 * volt_module_load_state_dict after a first forward with the layer's own
 * initial weights (which must not leave stale cached weights behind), or
 * MultiheadSelfAttention's reference forward. */
typedef enum { RUN_COPY, RUN_WARM_STATE_DICT, RUN_REFERENCE, RUN_COUNT } run_kind;
static const char *const run_names[RUN_COUNT] = {"", " (loaded after a first forward)",
                                                 " (the reference forward)"};

/* The forward of a case. */
static volt_tensor *forward(volt_module *m, const char *layer, volt_tensor **in, int n_in,
                            int variant) {
    if (strcmp(layer, "Bilinear") == 0)
        return n_in == 2 ? volt_bilinear_forward((volt_bilinear *)m, in[0], in[1]) : NULL;
    if (variant == RUN_REFERENCE)
        return volt_multihead_attention_forward_reference((volt_multihead_attention *)m, in[0]);
    return volt_module_forward(m, in[0]);
}

/* ------------------------------------------------------------ comparing */

/* Compares `got` with `want` (same dtype, shape and values); prints the first
 * mismatches. */
static bool compare(const lcase *c, const char *what, const volt_tensor *got,
                    const volt_tensor *want) {
    char b1[96], b2[96];
    if (!want) {
        fprintf(stderr, "layer parity: %s: %s: not in the file\n", c->name, what);
        return false;
    }
    if (!got) {
        fprintf(stderr, "layer parity: %s: %s: volt gave none, torch %s\n", c->name, what,
                volt_shape_str(want, b2, sizeof b2));
        return false;
    }
    bool same_shape = got->ndim == want->ndim && got->dtype == want->dtype;
    for (int d = 0; same_shape && d < got->ndim; d++) same_shape = got->shape[d] == want->shape[d];
    if (!same_shape) {
        fprintf(stderr, "layer parity: %s: %s: volt %s, torch %s\n", c->name, what,
                volt_shape_str(got, b1, sizeof b1), volt_shape_str(want, b2, sizeof b2));
        return false;
    }
    int64_t n = volt_tensor_numel(want), bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = volt_tensor_get_flat(got, i), e = volt_tensor_get_flat(want, i);
        bool ok = v == e;
        if (!ok && volt_dtype_is_float(want->dtype) && isfinite(e))
            ok = fabs(v - e) <= ATOL + RTOL * fabs(e);
        if (!ok && bad++ < 3)
            fprintf(stderr, "layer parity: %s: %s element %lld: volt %.9g, torch %.9g\n", c->name,
                    what, (long long)i, v, e);
    }
    if (bad > 3)
        fprintf(stderr, "layer parity: %s: %s: %lld of %lld elements differ\n", c->name, what,
                (long long)bad, (long long)n);
    return bad == 0;
}

/* The key part [E, 2E) of in_proj_bias's gradient is zero in exact
 * arithmetic (a bias on every key adds the same q.b to a whole row of scores,
 * which softmax ignores); both sides hold float32 rounding noise there
 * (~1e-7 .. 1e-6). It is checked to be below 1e-5 on both sides and then
 * zeroed, the rest of the gradient compared as usual. */
static bool compare_in_proj_bias_grad(const lcase *c, const char *what, volt_tensor *got,
                                      volt_tensor *want) {
    if (!got || !want || want->ndim != 1 || want->shape[0] % 3 || want->dtype != VOLT_F32)
        return compare(c, what, got, want);
    got = volt_clone(got), want = volt_clone(want);
    if (!got || !want || got->ndim != 1 || got->shape[0] != want->shape[0] ||
        got->dtype != VOLT_F32)
        return compare(c, what, got, want);
    int64_t e = want->shape[0] / 3;
    float *g = volt_tensor_data(got), *w = volt_tensor_data(want);
    bool ok = true;
    for (int64_t i = e; i < 2 * e; i++) {
        if (fabsf(g[i]) > 1e-5f || fabsf(w[i]) > 1e-5f) {
            fprintf(stderr,
                    "layer parity: %s: %s element %lld (a key bias): volt %.9g, torch %.9g "
                    "(should be ~0)\n",
                    c->name, what, (long long)i, g[i], w[i]);
            ok = false;
        }
        g[i] = w[i] = 0;
    }
    return compare(c, what, got, want) && ok;
}

static volt_tensor *get(lcase *c, const char *prefix, const char *key) {
    char name[512];
    snprintf(name, sizeof name, "%s/%s%s", c->name, prefix, key);
    int ndim;
    int64_t shape[VOLT_MAX_DIMS];
    volt_dtype dt;
    if (volt_safetensors_info(c->file, name, &dt, &ndim, shape) != VOLT_OK) {
        volt_error_clear();
        return NULL;
    }
    return volt_safetensors_get(c->file, name);
}

static int list_count(const cJSON *l) { return cJSON_IsArray(l) ? cJSON_GetArraySize(l) : 0; }

static bool list_has(const cJSON *list, const char *s) {
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0) return true;
    }
    return false;
}

/* volt's state-dict keys must be torch's (parameters and buffers). */
static bool same_keys(lcase *c, volt_module *m, const cJSON *params, const cJSON *buffers) {
    volt_state_dict *sd = volt_module_state_dict(m);
    if (!sd) return false;
    bool ok = sd->count == list_count(params) + list_count(buffers);
    for (int64_t i = 0; i < sd->count; i++) {
        if (!list_has(params, sd->names[i]) && !list_has(buffers, sd->names[i])) {
            fprintf(stderr, "layer parity: %s: volt key '%s' is not torch's\n", c->name,
                    sd->names[i]);
            ok = false;
        }
    }
    if (!ok) {
        fprintf(stderr, "layer parity: %s: volt has %lld state-dict keys, torch %d\n", c->name,
                (long long)sd->count, list_count(params) + list_count(buffers));
    }
    volt_state_dict_free(sd);
    return ok;
}

/* Copies the recorded "p.<key>" values into m's tensors. */
static bool load(lcase *c, volt_module *m, const cJSON *keys) {
    const cJSON *it;
    cJSON_ArrayForEach(it, keys) {
        const char *key = it->valuestring;
        volt_tensor *dst = volt_module_get(m, key), *src = get(c, "p.", key);
        if (!dst || !src) {
            fprintf(stderr, "layer parity: %s: '%s' missing in %s\n", c->name, key,
                    dst ? "the file" : "volt's layer");
            return false;
        }
        volt_tensor *r = NULL;
        VOLT_NO_GRAD { r = volt_copy_(dst, src); }
        if (!r) {
            fprintf(stderr, "layer parity: %s: loading '%s': %s\n", c->name, key,
                    volt_error_message());
            return false;
        }
    }
    return true;
}

/* The recorded "p.<key>" values as a state dict, loaded strictly. */
static bool load_state_dict(lcase *c, volt_module *m, const cJSON *params, const cJSON *buffers) {
    char *names[64];
    volt_tensor *tensors[64];
    volt_state_dict sd = {.names = names, .tensors = tensors};
    const cJSON *lists[2] = {params, buffers}, *it;
    for (int l = 0; l < 2; l++) {
        cJSON_ArrayForEach(it, lists[l]) {
            if (sd.count == 64) return false;
            names[sd.count] = it->valuestring;
            tensors[sd.count] = get(c, "p.", it->valuestring);
            if (!tensors[sd.count++]) return false;
        }
    }
    if (volt_module_load_state_dict(m, &sd, true, NULL) != VOLT_OK) {
        fprintf(stderr, "layer parity: %s: load_state_dict: %s\n", c->name, volt_error_message());
        return false;
    }
    return true;
}

static bool run_loaded_case(lcase *c, const cJSON *spec, int variant) {
    const char *layer = cJSON_GetStringValue(item(spec, "layer"));
    const cJSON *inputs = item(spec, "inputs"), *params = item(spec, "params");
    const cJSON *buffers = item(spec, "buffers");
    c->cfg = item(spec, "config");
    if (!layer || !cJSON_IsArray(inputs) || list_count(inputs) > MAX_IN || !c->cfg) {
        fprintf(stderr, "layer parity: %s: malformed case\n", c->name);
        return false;
    }
    bool known;
    volt_module *m = build(c, layer, &known);
    if (!known) {
        fprintf(stderr, "layer parity: %s: no volt layer for '%s'\n", c->name, layer);
        return false;
    }
    if (!m || c->bad_cfg) {
        fprintf(stderr, "layer parity: %s: building %s: %s\n", c->name, layer,
                c->bad_cfg ? "bad config" : volt_error_message());
        volt_module_free(m);
        return false;
    }
    bool ok = same_keys(c, m, params, buffers);
    volt_module_train(m, cJSON_IsTrue(item(spec, "train")));

    volt_tensor *in[MAX_IN];
    int n_in = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, inputs) {
        volt_tensor *t = get(c, "", it->valuestring);
        if (!t) ok = false;
        in[n_in++] = t;
    }
    if (ok && variant == RUN_WARM_STATE_DICT) {
        VOLT_NO_GRAD { ok = forward(m, layer, in, n_in, variant) != NULL; }
        ok = ok && load_state_dict(c, m, params, buffers);
    } else if (ok) {
        ok = load(c, m, params) && load(c, m, buffers);
    }
    for (int i = 0; ok && i < n_in; i++)
        if (volt_dtype_is_float(in[i]->dtype)) ok = volt_requires_grad(in[i], true) != NULL;
    volt_tensor *out = ok ? forward(m, layer, in, n_in, variant) : NULL;
    if (ok && !out)
        fprintf(stderr, "layer parity: %s: forward: %s\n", c->name, volt_error_message());
    ok = ok && compare(c, "output", out, get(c, "", "out"));
    if (ok && volt_backward_ex(out, get(c, "", "gout"), false) != VOLT_OK) {
        fprintf(stderr, "layer parity: %s: backward: %s\n", c->name, volt_error_message());
        ok = false;
    }
    char what[256];
    for (int i = 0; ok && i < n_in; i++) {
        if (!volt_dtype_is_float(in[i]->dtype)) continue;
        const char *role = cJSON_GetArrayItem(inputs, i)->valuestring;
        snprintf(what, sizeof what, "grad_%s", role);
        volt_tensor *want = get(c, "", what);
        ok &= compare(c, what, in[i]->grad ? in[i]->grad : volt_zeros_like(want), want);
    }
    cJSON_ArrayForEach(it, params) {
        if (!ok) break;
        volt_tensor *p = volt_module_get(m, it->valuestring),
                    *want = get(c, "grad.", it->valuestring);
        snprintf(what, sizeof what, "grad of %s", it->valuestring);
        volt_tensor *got = p->grad ? p->grad : volt_zeros_like(want);
        if (strcmp(it->valuestring, "in_proj_bias") == 0)
            ok &= compare_in_proj_bias_grad(c, what, got, want);
        else
            ok &= compare(c, what, got, want);
    }
    cJSON_ArrayForEach(it, buffers) {
        if (!ok) break;
        snprintf(what, sizeof what, "%s after the forward", it->valuestring);
        ok &= compare(c, what, volt_module_get(m, it->valuestring),
                      get(c, "after.", it->valuestring));
    }
    volt_module_free(m);
    return ok;
}

static bool run_case(volt_safetensors *file, const char *name, const cJSON *spec, int variant) {
    lcase c = {.name = name, .file = file};
    volt_scope_begin();
    bool ok = run_loaded_case(&c, spec, variant);
    volt_scope_end();
    if (volt_error_status() != VOLT_OK) {
        if (ok) fprintf(stderr, "layer parity: %s: error left: %s\n", name, volt_error_message());
        ok = false;
        volt_error_clear();
    }
    return ok;
}

/* ------------------------------------------------------------ groups */

static bool is_reserved_key(const char *key) {
    return strcmp(key, "format") == 0 || strcmp(key, "family") == 0 ||
           strcmp(key, "torch_version") == 0 || strcmp(key, "generator") == 0;
}

static volt_safetensors *open_vectors(void) {
    const char *src = getenv("VOLT_SOURCE_DIR");
    if (!src) {
        fprintf(stderr, "layer parity: VOLT_SOURCE_DIR is not set (ctest sets it)\n");
        return NULL;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/parity/vectors/layers.safetensors", src);
    volt_safetensors *f = volt_safetensors_open(path);
    if (!f) {
        fprintf(stderr, "layer parity: %s\n", volt_error_message());
        volt_error_clear();
        return NULL;
    }
    const char *format = volt_safetensors_metadata(f, "format");
    if (!format || strcmp(format, "volt-parity-1") != 0) {
        fprintf(stderr, "layer parity: %s: format '%s', expected volt-parity-1\n", path,
                format ? format : "(none)");
        volt_safetensors_close(f);
        return NULL;
    }
    return f;
}

static bool in_group(const char *layer, const char *const *group) {
    for (int i = 0; group[i]; i++)
        if (strcmp(layer, group[i]) == 0) return true;
    return false;
}

/* Runs the cases whose layer is in `group` (NULL-terminated); group NULL:
 * checks instead that every case's layer belongs to one of the groups. */
static void run_group(const char *title, const char *const *group) {
    static const char *const all[] = {"Linear",
                                      "Bilinear",
                                      "Embedding",
                                      "Dropout",
                                      "Flatten",
                                      "Identity",
                                      "Sequential",
                                      "LayerNorm",
                                      "GroupNorm",
                                      "RMSNorm",
                                      "MultiheadSelfAttention",
                                      "Conv1d",
                                      "Conv2d",
                                      "ConvTranspose2d",
                                      "MaxPool2d",
                                      "AvgPool2d",
                                      "AdaptiveAvgPool2d",
                                      "BatchNorm1d",
                                      "BatchNorm2d",
                                      NULL};
    volt_safetensors *f = open_vectors();
    if (!f) fail();
    const char *filter = getenv("VOLT_PARITY_FILTER");
    int passed = 0, failed = 0;
    for (int i = 0; i < volt_safetensors_metadata_count(f); i++) {
        const char *key = volt_safetensors_metadata_key(f, i);
        if (is_reserved_key(key)) continue;
        cJSON *spec = cJSON_Parse(volt_safetensors_metadata(f, key));
        const char *layer = spec ? cJSON_GetStringValue(item(spec, "layer")) : NULL;
        if (!group) {
            if (!layer || !in_group(layer, all)) {
                fprintf(stderr, "layer parity: %s: layer '%s' is in no group\n", key,
                        layer ? layer : "(malformed)");
                failed++;
            } else {
                passed++;
            }
        } else if (layer && in_group(layer, group) && (!filter || strstr(key, filter))) {
            int variants = strcmp(layer, "MultiheadSelfAttention") == 0 ? RUN_COUNT : RUN_REFERENCE;
            for (int v = 0; v < variants; v++) {
                if (run_case(f, key, spec, v)) {
                    passed++;
                } else {
                    failed++;
                    fprintf(stderr, "layer parity: %s: failed%s\n", key, run_names[v]);
                }
            }
        }
        cJSON_Delete(spec);
    }
    printf("layer parity %s (torch %s): %d runs: %d passed, %d failed\n", title,
           volt_safetensors_metadata(f, "torch_version"), passed + failed, passed, failed);
    volt_safetensors_close(f);
    if (failed > 0) fail_msg("%d %s runs differ from torch", failed, title);
    if (passed == 0 && !filter) fail_msg("no %s cases ran", title);
}

static void test_basic_layers(void **state) {
    (void)state;
    static const char *const g[] = {"Linear",  "Bilinear", "Embedding",  "Dropout",
                                    "Flatten", "Identity", "Sequential", NULL};
    run_group("basic", g);
}

static void test_norm_layers(void **state) {
    (void)state;
    static const char *const g[] = {"LayerNorm", "GroupNorm", "RMSNorm", NULL};
    run_group("norm", g);
}

static void test_attention(void **state) {
    (void)state;
    static const char *const g[] = {"MultiheadSelfAttention", NULL};
    run_group("attention", g);
}

static void test_conv_layers(void **state) {
    (void)state;
    static const char *const g[] = {"Conv1d", "Conv2d", "ConvTranspose2d", NULL};
    run_group("conv", g);
}

static void test_pool_layers(void **state) {
    (void)state;
    static const char *const g[] = {"MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", NULL};
    run_group("pool", g);
}

static void test_batch_norm(void **state) {
    (void)state;
    static const char *const g[] = {"BatchNorm1d", "BatchNorm2d", NULL};
    run_group("batch norm", g);
}

static void test_every_case_has_a_group(void **state) {
    (void)state;
    run_group("all", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_basic_layers),
        VT_TEST(test_norm_layers),
        VT_TEST(test_attention),
        VT_TEST(test_conv_layers),
        VT_TEST(test_pool_layers),
        VT_TEST(test_batch_norm),
        VT_TEST(test_every_case_has_a_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
