/* test_parity.c: volt's ops against PyTorch on recorded vectors (DESIGN.md
 * §8). tests/parity/record.py wrote, per family, a safetensors file of cases:
 * inputs, outputs, upstream gradients and input gradients, with each case's
 * op and arguments as JSON in the metadata. For every case this test calls
 * the volt op (the table in run_op), runs volt_backward_ex with the recorded
 * upstream gradients, and compares outputs and input gradients with
 * |volt - torch| <= 1e-6 + 1e-5 |torch| (integer and bool outputs exactly).
 *
 * Environment: VOLT_SOURCE_DIR (set by ctest) locates the vectors;
 * VOLT_PARITY_FILTER=substring runs only the matching cases;
 * VOLT_PARITY_SKIP_PENDING=1 lets cases of ops that are still "not
 * implemented yet" stubs pass (for development only: by default they fail). */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <volt/io.h>

#define MAX_IN 8
#define MAX_OUT 16
#define ATOL 1e-6
#define RTOL 1e-5

typedef struct {
    const char *name;
    volt_safetensors *file;
    const cJSON *args;
    int n_in;
    const char *roles[MAX_IN];
    volt_tensor *in[MAX_IN];
    volt_tensor *out[MAX_OUT];
    bool bad_args;
} pcase;

/* ------------------------------------------------------------ arguments */

static const cJSON *arg(pcase *c, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->args, key);
    if (!v) {
        fprintf(stderr, "parity: %s: argument '%s' missing\n", c->name, key);
        c->bad_args = true;
    }
    return v;
}

static double arg_num(pcase *c, const char *key) {
    const cJSON *v = arg(c, key);
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? 1 : 0;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "inf") == 0) return INFINITY;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "-inf") == 0) return -INFINITY;
    if (v) fprintf(stderr, "parity: %s: argument '%s' is not a number\n", c->name, key);
    c->bad_args = true;
    return NAN;
}

static int64_t arg_i64(pcase *c, const char *key) { return (int64_t)arg_num(c, key); }
static int arg_int(pcase *c, const char *key) { return (int)arg_num(c, key); }
static bool arg_bool(pcase *c, const char *key) { return arg_num(c, key) != 0; }

/* A JSON list of integers into out[]; returns the count, or -1 for null. */
static int arg_list(pcase *c, const char *key, int64_t *out, int max) {
    const cJSON *v = arg(c, key);
    if (cJSON_IsNull(v)) return -1;
    int n = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || n > max) {
        c->bad_args = true;
        return 0;
    }
    for (int i = 0; i < n; i++) out[i] = (int64_t)cJSON_GetArrayItem(v, i)->valuedouble;
    return n;
}

/* dims: null -> every dim (n 0, dims NULL). */
typedef struct {
    int n;
    int dims[VOLT_MAX_DIMS];
    bool all;
} dims_arg;

static void arg_dims(pcase *c, const char *key, dims_arg *d) {
    int64_t v[VOLT_MAX_DIMS];
    int n = arg_list(c, key, v, VOLT_MAX_DIMS);
    d->all = n < 0;
    d->n = n < 0 ? 0 : n;
    for (int i = 0; i < d->n; i++) d->dims[i] = (int)v[i];
}

#define DIMS_PTR(d) ((d).all ? NULL : (d).dims)

static volt_reduction arg_reduction(pcase *c) {
    const cJSON *v = arg(c, "reduction");
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    if (strcmp(s, "mean") == 0) return VOLT_REDUCTION_MEAN;
    if (strcmp(s, "sum") == 0) return VOLT_REDUCTION_SUM;
    if (strcmp(s, "none") == 0) return VOLT_REDUCTION_NONE;
    if (strcmp(s, "batchmean") == 0) return VOLT_REDUCTION_BATCHMEAN;
    c->bad_args = true;
    return VOLT_REDUCTION_MEAN;
}

static volt_dtype arg_dtype(pcase *c, const char *key) {
    const cJSON *v = arg(c, key);
    for (int d = 0; cJSON_IsString(v) && d < VOLT_DTYPE_COUNT; d++)
        if (strcmp(volt_safetensors_dtype_name((volt_dtype)d), v->valuestring) == 0)
            return (volt_dtype)d;
    c->bad_args = true;
    return VOLT_F32;
}

/* The input of a role; NULL when the case has none (optional weights). */
static volt_tensor *in(const pcase *c, const char *role) {
    for (int i = 0; i < c->n_in; i++)
        if (strcmp(c->roles[i], role) == 0) return c->in[i];
    return NULL;
}

/* ------------------------------------------------------------ op table */

typedef volt_tensor *(*unary_fn)(const volt_tensor *);
typedef volt_tensor *(*binary_fn)(const volt_tensor *, const volt_tensor *);
typedef volt_tensor *(*inplace_fn)(volt_tensor *, const volt_tensor *);

static const struct {
    const char *name;
    unary_fn fn;
} unary_ops[] = {
    {"neg", volt_neg},
    {"exp", volt_exp},
    {"log", volt_ln},
    {"log1p", volt_log1p},
    {"sqrt", volt_sqrt},
    {"rsqrt", volt_rsqrt},
    {"abs", volt_abs},
    {"sign", volt_sign},
    {"logical_not", volt_logical_not},
    {"clone", volt_clone},
    {"relu", volt_relu},
    {"silu", volt_silu},
    {"sigmoid", volt_sigmoid},
    {"tanh", volt_tanh},
    {"max_all", volt_max_all},
    {"min_all", volt_min_all},
    {"sum_all", volt_sum_all},
    {"mean_all", volt_mean_all},
    {"contiguous", volt_contiguous},
    {"squeeze_all", volt_squeeze_all},
};

static const struct {
    const char *name;
    binary_fn fn;
} binary_ops[] = {
    {"add", volt_add},
    {"sub", volt_sub},
    {"mul", volt_mul},
    {"div", volt_div},
    {"pow", volt_pow},
    {"maximum", volt_maximum},
    {"minimum", volt_minimum},
    {"eq", volt_eq},
    {"ne", volt_ne},
    {"lt", volt_lt},
    {"le", volt_le},
    {"gt", volt_gt},
    {"ge", volt_ge},
    {"logical_and", volt_logical_and},
    {"logical_or", volt_logical_or},
    {"matmul", volt_matmul},
    {"bmm", volt_bmm},
    {"outer", volt_outer},
};

static const struct {
    const char *name;
    inplace_fn fn;
} inplace_ops[] = {
    {"add_", volt_add_}, {"sub_", volt_sub_},   {"mul_", volt_mul_},
    {"div_", volt_div_}, {"copy_", volt_copy_},
};

#define N_OF(a) (int)(sizeof(a) / sizeof((a)[0]))

static int one(pcase *c, volt_tensor *t) {
    c->out[0] = t;
    return t ? 1 : -1;
}

static int run_table_ops(pcase *c, const char *op) {
    for (int i = 0; i < N_OF(unary_ops); i++)
        if (strcmp(op, unary_ops[i].name) == 0) return one(c, unary_ops[i].fn(c->in[0]));
    for (int i = 0; i < N_OF(binary_ops); i++)
        if (strcmp(op, binary_ops[i].name) == 0)
            return one(c, binary_ops[i].fn(c->in[0], c->in[1]));
    for (int i = 0; i < N_OF(inplace_ops); i++)
        if (strcmp(op, inplace_ops[i].name) == 0)
            return one(c, inplace_ops[i].fn(c->in[0], c->in[1]));
    return -2;
}

#define IS(name) (strcmp(op, name) == 0)

static int run_elementwise(pcase *c, const char *op) {
    volt_tensor *a = in(c, "a"), *self = in(c, "self");
    if (IS("add_scaled")) return one(c, volt_add_scaled(a, in(c, "b"), arg_num(c, "alpha")));
    if (IS("add_scalar")) return one(c, volt_add_scalar(a, arg_num(c, "b")));
    if (IS("mul_scalar")) return one(c, volt_mul_scalar(a, arg_num(c, "b")));
    if (IS("div_scalar")) return one(c, volt_div_scalar(a, arg_num(c, "b")));
    if (IS("pow_scalar")) return one(c, volt_pow_scalar(a, arg_num(c, "exponent")));
    if (IS("clamp")) return one(c, volt_clamp(a, arg_num(c, "min"), arg_num(c, "max")));
    if (IS("where")) return one(c, volt_where(in(c, "cond"), a, in(c, "b")));
    if (IS("to_dtype")) return one(c, volt_to_dtype(a, arg_dtype(c, "dtype")));
    if (IS("fill_")) return one(c, volt_fill_(self, arg_num(c, "value")));
    if (IS("zero_")) return one(c, volt_zero_(self));
    if (IS("mul_scalar_")) return one(c, volt_mul_scalar_(self, arg_num(c, "value")));
    if (IS("add_scalar_")) return one(c, volt_add_scalar_(self, arg_num(c, "value")));
    if (IS("masked_fill_"))
        return one(c, volt_masked_fill_(self, in(c, "mask"), arg_num(c, "value")));
    if (IS("leaky_relu")) return one(c, volt_leaky_relu(a, arg_num(c, "negative_slope")));
    if (IS("elu")) return one(c, volt_elu(a, arg_num(c, "alpha")));
    if (IS("gelu")) {
        const cJSON *v = arg(c, "approximate");
        return one(c, volt_gelu(a, cJSON_IsString(v) && strcmp(v->valuestring, "tanh") == 0));
    }
    if (IS("softplus"))
        return one(c, volt_softplus(a, arg_num(c, "beta"), arg_num(c, "threshold")));
    if (IS("hardtanh"))
        return one(c, volt_hardtanh(a, arg_num(c, "min_val"), arg_num(c, "max_val")));
    return -2;
}

static int run_reduce_matmul(pcase *c, const char *op) {
    volt_tensor *a = in(c, "a");
    static const struct {
        const char *name;
        volt_tensor *(*fn)(const volt_tensor *, int, const int *, bool);
    } dim_ops[] = {
        {"sum", volt_sum}, {"mean", volt_mean}, {"prod", volt_prod}, {"logsumexp", volt_logsumexp}};
    for (int i = 0; i < N_OF(dim_ops); i++) {
        if (!IS(dim_ops[i].name)) continue;
        dims_arg d;
        arg_dims(c, "dims", &d);
        return one(c, dim_ops[i].fn(a, d.n, DIMS_PTR(d), arg_bool(c, "keepdim")));
    }
    if (IS("var") || IS("std")) {
        dims_arg d;
        arg_dims(c, "dims", &d);
        double corr = arg_num(c, "correction");
        bool keep = arg_bool(c, "keepdim");
        return one(c, (IS("var") ? volt_var : volt_std)(a, d.n, DIMS_PTR(d), corr, keep));
    }
    if (IS("norm")) {
        dims_arg d;
        arg_dims(c, "dims", &d);
        return one(c, volt_norm(a, arg_num(c, "p"), d.n, DIMS_PTR(d), arg_bool(c, "keepdim")));
    }
    if (IS("max") || IS("min")) {
        volt_tensor *idx = NULL;
        c->out[0] =
            (IS("max") ? volt_max : volt_min)(a, arg_int(c, "dim"), arg_bool(c, "keepdim"), &idx);
        c->out[1] = idx;
        return c->out[0] && idx ? 2 : -1;
    }
    if (IS("argmax") || IS("argmin"))
        return one(c, (IS("argmax") ? volt_argmax : volt_argmin)(a, arg_int(c, "dim"),
                                                                 arg_bool(c, "keepdim")));
    if (IS("addmm"))
        return one(
            c, volt_addmm(in(c, "bias"), a, in(c, "b"), arg_num(c, "beta"), arg_num(c, "alpha")));
    return -2;
}

static int run_shape(pcase *c, const char *op) {
    volt_tensor *a = in(c, "a");
    int64_t v[VOLT_MAX_DIMS + 1];
    static const struct {
        const char *name, *key;
        volt_tensor *(*fn)(const volt_tensor *, int, const int64_t *);
    } shape_ops[] = {{"reshape", "shape", volt_reshape},
                     {"view", "shape", volt_view},
                     {"expand", "shape", volt_expand},
                     {"repeat", "repeats", volt_repeat}};
    for (int i = 0; i < N_OF(shape_ops); i++)
        if (IS(shape_ops[i].name))
            return one(c, shape_ops[i].fn(a, arg_list(c, shape_ops[i].key, v, VOLT_MAX_DIMS), v));
    if (IS("permute")) {
        dims_arg d;
        arg_dims(c, "dims", &d);
        return one(c, volt_permute(a, d.n, DIMS_PTR(d)));
    }
    if (IS("flatten"))
        return one(c, volt_flatten(a, arg_int(c, "start_dim"), arg_int(c, "end_dim")));
    if (IS("transpose")) return one(c, volt_transpose(a, arg_int(c, "dim0"), arg_int(c, "dim1")));
    if (IS("squeeze")) return one(c, volt_squeeze(a, arg_int(c, "dim")));
    if (IS("unsqueeze")) return one(c, volt_unsqueeze(a, arg_int(c, "dim")));
    if (IS("cat") || IS("stack")) {
        volt_tensor *ts[MAX_IN];
        int n = 0;
        for (int i = 0; i < c->n_in; i++)
            if (c->roles[i][0] == 't') ts[n++] = c->in[i];
        return one(c, (IS("cat") ? volt_cat : volt_stack)(n, ts, arg_int(c, "dim")));
    }
    if (IS("split") || IS("chunk")) {
        int n = IS("split")
                    ? volt_split(a, arg_i64(c, "split_size"), arg_int(c, "dim"), c->out, MAX_OUT)
                    : volt_chunk(a, arg_int(c, "chunks"), arg_int(c, "dim"), c->out, MAX_OUT);
        return n < 0 ? -1 : n;
    }
    if (IS("narrow"))
        return one(c, volt_narrow(a, arg_int(c, "dim"), arg_i64(c, "start"), arg_i64(c, "length")));
    if (IS("slice"))
        return one(c, volt_slice(a, arg_int(c, "dim"), arg_i64(c, "start"), arg_i64(c, "end"),
                                 arg_i64(c, "step")));
    return -2;
}

static int run_index(pcase *c, const char *op) {
    volt_tensor *a = in(c, "a"), *index = in(c, "index");
    if (IS("index_select")) return one(c, volt_index_select(a, arg_int(c, "dim"), index));
    if (IS("gather")) return one(c, volt_gather(a, arg_int(c, "dim"), index));
    if (IS("scatter_add"))
        return one(c, volt_scatter_add(a, arg_int(c, "dim"), index, in(c, "src")));
    if (IS("masked_fill")) return one(c, volt_masked_fill(a, in(c, "mask"), arg_num(c, "value")));
    if (IS("one_hot")) return one(c, volt_one_hot(index, arg_i64(c, "num_classes")));
    if (IS("tril")) return one(c, volt_tril(a, arg_i64(c, "diagonal")));
    if (IS("triu")) return one(c, volt_triu(a, arg_i64(c, "diagonal")));
    return -2;
}

static int run_loss(pcase *c, const char *op) {
    volt_tensor *input = in(c, "input"), *target = in(c, "target"), *weight = in(c, "weight");
    if (IS("softmax")) return one(c, volt_softmax(in(c, "a"), arg_int(c, "dim")));
    if (IS("log_softmax")) return one(c, volt_log_softmax(in(c, "a"), arg_int(c, "dim")));
    if (IS("cross_entropy")) return one(c, volt_cross_entropy(in(c, "logits"), target));
    if (IS("cross_entropy_ex")) {
        volt_cross_entropy_options o = volt_cross_entropy_defaults();
        o.reduction = arg_reduction(c);
        o.ignore_index = arg_i64(c, "ignore_index");
        o.label_smoothing = arg_num(c, "label_smoothing");
        o.weight = weight;
        return one(c, volt_cross_entropy_ex(in(c, "logits"), target, &o));
    }
    if (IS("nll_loss"))
        return one(
            c, volt_nll_loss(input, target, weight, arg_i64(c, "ignore_index"), arg_reduction(c)));
    if (IS("mse_loss")) return one(c, volt_mse_loss(input, target, arg_reduction(c)));
    if (IS("l1_loss")) return one(c, volt_l1_loss(input, target, arg_reduction(c)));
    if (IS("smooth_l1_loss"))
        return one(c, volt_smooth_l1_loss(input, target, arg_reduction(c), arg_num(c, "beta")));
    if (IS("binary_cross_entropy"))
        return one(c, volt_binary_cross_entropy(input, target, weight, arg_reduction(c)));
    if (IS("binary_cross_entropy_with_logits"))
        return one(c, volt_binary_cross_entropy_with_logits(input, target, weight,
                                                            in(c, "pos_weight"), arg_reduction(c)));
    if (IS("dropout"))
        return one(c, volt_dropout(in(c, "a"), arg_num(c, "p"), arg_bool(c, "training"), NULL));
    if (IS("kl_div"))
        return one(c, volt_kl_div(input, target, arg_reduction(c), arg_bool(c, "log_target")));
    return -2;
}

/* Runs the case's op: the number of outputs, -1 on a volt error, -2 for an
 * op this table does not know. */
static int run_op(pcase *c, const char *op) {
    int (*const families[])(pcase *, const char *) = {
        run_table_ops, run_elementwise, run_reduce_matmul, run_shape, run_index, run_loss};
    for (int i = 0; i < N_OF(families); i++) {
        int n = families[i](c, op);
        if (n != -2) return n;
    }
    return -2;
}

/* ------------------------------------------------------------ comparing */

static bool is_float(volt_dtype d) { return volt_dtype_is_float(d); }

/* Compares `got` with `want` (same dtype, shape and values); prints the first
 * mismatches. */
static bool compare(const pcase *c, const char *what, const volt_tensor *got,
                    const volt_tensor *want) {
    char b1[96], b2[96];
    if (!got) {
        fprintf(stderr, "parity: %s: %s: volt gave none, torch %s\n", c->name, what,
                volt_shape_str(want, b2, sizeof b2));
        return false;
    }
    bool same_shape = got->ndim == want->ndim && got->dtype == want->dtype;
    for (int d = 0; same_shape && d < got->ndim; d++) same_shape = got->shape[d] == want->shape[d];
    if (!same_shape) {
        fprintf(stderr, "parity: %s: %s: volt %s, torch %s\n", c->name, what,
                volt_shape_str(got, b1, sizeof b1), volt_shape_str(want, b2, sizeof b2));
        return false;
    }
    int64_t n = volt_tensor_numel(want), bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = volt_tensor_get_flat(got, i), e = volt_tensor_get_flat(want, i);
        bool ok = v == e || (isnan(v) && isnan(e));
        if (!ok && is_float(want->dtype) && isfinite(e)) ok = fabs(v - e) <= ATOL + RTOL * fabs(e);
        if (!ok && bad++ < 3)
            fprintf(stderr, "parity: %s: %s element %lld: volt %.9g, torch %.9g\n", c->name, what,
                    (long long)i, v, e);
    }
    if (bad > 3)
        fprintf(stderr, "parity: %s: %s: %lld of %lld elements differ\n", c->name, what,
                (long long)bad, (long long)n);
    return bad == 0;
}

/* ------------------------------------------------------------ one case */

static volt_tensor *get(pcase *c, const char *suffix) {
    char name[512];
    snprintf(name, sizeof name, "%s/%s", c->name, suffix);
    return volt_safetensors_get(c->file, name);
}

/* The same values as t (contiguous, ndim >= 1) in a non-contiguous layout:
 * the last two dims stored transposed, or every other element for 1-D. */
static volt_tensor *strided_copy(const volt_tensor *t) {
    int nd = t->ndim;
    int64_t base_shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    memcpy(base_shape, t->shape, (size_t)nd * sizeof *base_shape);
    if (nd == 1)
        base_shape[0] = 2 * t->shape[0];
    else
        base_shape[nd - 1] = t->shape[nd - 2], base_shape[nd - 2] = t->shape[nd - 1];
    volt_tensor *base = volt_zeros(nd, base_shape, t->dtype);
    if (!base) return NULL;
    memcpy(strides, base->strides, (size_t)nd * sizeof *strides);
    if (nd == 1)
        strides[0] = 2;
    else
        strides[nd - 1] = base->strides[nd - 2], strides[nd - 2] = base->strides[nd - 1];
    volt_tensor *view = volt_tensor_alias(base, nd, t->shape, strides, 0);
    if (!view) return NULL;
    size_t es = volt_dtype_size(t->dtype);
    const char *src = volt_tensor_data(t);
    char *dst = volt_tensor_data(view);
    int64_t idx[VOLT_MAX_DIMS] = {0}, n = volt_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int d = 0; d < nd; d++) off += idx[d] * strides[d];
        memcpy(dst + off * (int64_t)es, src + i * (int64_t)es, es);
        for (int d = nd - 1; d >= 0 && ++idx[d] == t->shape[d]; d--) idx[d] = 0;
    }
    return view;
}

static bool list_has(const cJSON *list, const char *s) {
    const cJSON *it;
    cJSON_ArrayForEach(it,
                       list) if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0) return true;
    return false;
}

typedef enum { CASE_PASS, CASE_FAIL, CASE_PENDING } case_result;

static case_result run_loaded_case(pcase *c, const cJSON *spec) {
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(spec, "inputs");
    const cJSON *grads = cJSON_GetObjectItemCaseSensitive(spec, "grad");
    const cJSON *strided = cJSON_GetObjectItemCaseSensitive(spec, "strided");
    const cJSON *gouts = cJSON_GetObjectItemCaseSensitive(spec, "gout");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(spec, "op");
    int n_out = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(spec, "n_out"));
    c->args = cJSON_GetObjectItemCaseSensitive(spec, "args");
    if (!cJSON_IsString(op) || !cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) > MAX_IN ||
        n_out < 1 || n_out > MAX_OUT) {
        fprintf(stderr, "parity: %s: malformed case\n", c->name);
        return CASE_FAIL;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, inputs) {
        const char *role = it->valuestring;
        volt_tensor *t = get(c, role);
        if (t && list_has(strided, role)) t = strided_copy(t);
        if (t && list_has(grads, role)) t = volt_requires_grad(t, true);
        if (!t) {
            fprintf(stderr, "parity: %s: input %s: %s\n", c->name, role, volt_error_message());
            return CASE_FAIL;
        }
        c->roles[c->n_in] = role;
        c->in[c->n_in++] = t;
    }

    int n = run_op(c, op->valuestring);
    if (c->bad_args) return CASE_FAIL;
    if (n == -2) {
        fprintf(stderr, "parity: %s: no volt call for op '%s' in test_parity.c\n", c->name,
                op->valuestring);
        return CASE_FAIL;
    }
    if (n < 0) {
        bool pending = volt_error_status() == VOLT_ERR_UNSUPPORTED &&
                       strstr(volt_error_message(), "not implemented yet");
        fprintf(stderr, "parity: %s: %s%s\n", c->name, volt_error_message(),
                pending ? " (pending)" : "");
        return pending ? CASE_PENDING : CASE_FAIL;
    }
    bool ok = true;
    if (n != n_out) {
        fprintf(stderr, "parity: %s: volt gave %d outputs, torch %d\n", c->name, n, n_out);
        ok = false;
    }
    char what[160];
    for (int j = 0; j < n && j < n_out; j++) {
        snprintf(what, sizeof what, "out%d", j);
        ok &= compare(c, what, c->out[j], get(c, what));
    }
    if (!ok) return CASE_FAIL;

    /* Backward from each differentiable output with its recorded gradient;
     * leaf gradients accumulate over the outputs, as in torch.autograd.backward. */
    int n_gout = cJSON_GetArraySize(gouts), k = 0;
    cJSON_ArrayForEach(it, gouts) {
        int j = (int)it->valuedouble;
        k++;
        if (j >= n || !c->out[j]->requires_grad) continue; /* grads then compare to zero */
        snprintf(what, sizeof what, "gout%d", j);
        volt_tensor *g = get(c, what);
        if (volt_backward_ex(c->out[j], g, k < n_gout) != VOLT_OK) {
            fprintf(stderr, "parity: %s: backward: %s\n", c->name, volt_error_message());
            return CASE_FAIL;
        }
    }
    cJSON_ArrayForEach(it, grads) {
        const char *role = it->valuestring;
        snprintf(what, sizeof what, "grad_%s", role);
        volt_tensor *want = get(c, what), *leaf = in(c, role);
        volt_tensor *got = leaf && leaf->grad ? leaf->grad : volt_zeros_like(want);
        snprintf(what, sizeof what, "grad of %s%s", role,
                 leaf && leaf->grad ? "" : " (volt has none: compared as zeros)");
        ok &= compare(c, what, got, want);
    }
    return ok ? CASE_PASS : CASE_FAIL;
}

static case_result run_case(volt_safetensors *file, const char *name, const char *json) {
    cJSON *spec = cJSON_Parse(json);
    if (!spec) {
        fprintf(stderr, "parity: %s: metadata is not JSON\n", name);
        return CASE_FAIL;
    }
    pcase c = {.name = name, .file = file};
    volt_scope_begin();
    case_result r = run_loaded_case(&c, spec);
    volt_scope_end();
    if (volt_error_status() != VOLT_OK) {
        if (r == CASE_PASS)
            fprintf(stderr, "parity: %s: error left: %s\n", name, volt_error_message());
        if (r == CASE_PASS) r = CASE_FAIL;
        volt_error_clear();
    }
    cJSON_Delete(spec);
    return r;
}

/* ------------------------------------------------------------ families */

static bool is_reserved_key(const char *key) {
    return strcmp(key, "format") == 0 || strcmp(key, "family") == 0 ||
           strcmp(key, "torch_version") == 0 || strcmp(key, "generator") == 0;
}

static void run_family(const char *family) {
    const char *src = getenv("VOLT_SOURCE_DIR");
    if (!src) {
        fprintf(stderr, "parity: VOLT_SOURCE_DIR is not set (ctest sets it)\n");
        fail();
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/parity/vectors/%s.safetensors", src, family);
    volt_safetensors *f = volt_safetensors_open(path);
    if (!f) {
        fprintf(stderr, "parity: %s\n", volt_error_message());
        volt_error_clear();
        fail();
    }
    const char *format = volt_safetensors_metadata(f, "format");
    if (!format || strcmp(format, "volt-parity-1") != 0) {
        fprintf(stderr, "parity: %s: format '%s', expected volt-parity-1\n", path,
                format ? format : "(none)");
        volt_safetensors_close(f);
        fail();
    }
    const char *filter = getenv("VOLT_PARITY_FILTER");
    const char *skip = getenv("VOLT_PARITY_SKIP_PENDING");
    bool skip_pending = skip && *skip && strcmp(skip, "0") != 0;
    int count[3] = {0, 0, 0};
    for (int i = 0; i < volt_safetensors_metadata_count(f); i++) {
        const char *key = volt_safetensors_metadata_key(f, i);
        if (is_reserved_key(key) || (filter && !strstr(key, filter))) continue;
        count[run_case(f, key, volt_safetensors_metadata(f, key))]++;
    }
    printf("parity %s (torch %s): %d cases: %d passed, %d failed, %d pending%s\n", family,
           volt_safetensors_metadata(f, "torch_version"), count[0] + count[1] + count[2],
           count[CASE_PASS], count[CASE_FAIL], count[CASE_PENDING],
           count[CASE_PENDING] && skip_pending ? " (skipped: VOLT_PARITY_SKIP_PENDING)" : "");
    volt_safetensors_close(f);
    if (count[CASE_FAIL] > 0) fail_msg("%d %s cases differ from torch", count[CASE_FAIL], family);
    if (count[CASE_PENDING] > 0 && !skip_pending)
        fail_msg("%d %s cases use ops still not implemented", count[CASE_PENDING], family);
    if (count[CASE_PASS] == 0 && !filter) fail_msg("no %s cases ran", family);
}

static void test_elementwise(void **state) {
    (void)state;
    run_family("elementwise");
}
static void test_activation(void **state) {
    (void)state;
    run_family("activation");
}
static void test_reduce(void **state) {
    (void)state;
    run_family("reduce");
}
static void test_matmul(void **state) {
    (void)state;
    run_family("matmul");
}
static void test_shape(void **state) {
    (void)state;
    run_family("shape");
}
static void test_index(void **state) {
    (void)state;
    run_family("index");
}
static void test_loss(void **state) {
    (void)state;
    run_family("loss");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_elementwise), VT_TEST(test_activation), VT_TEST(test_reduce),
        VT_TEST(test_matmul),      VT_TEST(test_shape),      VT_TEST(test_index),
        VT_TEST(test_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
