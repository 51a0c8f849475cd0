/* test_module.c: the module base — registration and names, parameter lists
 * and counts, freeze, train/eval propagation, lookups by dotted name, state
 * dicts (strict and not, with reports), files, hyperparameters, and freeing
 * with nothing leaked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "volt_test.h"

/* A layer class for tests: a "Dense" with weight [out, in] and bias [out]. */
typedef struct {
    volt_module base;
    int64_t in, out;
} dense;

static volt_tensor *dense_forward(volt_module *self, const volt_tensor *x) {
    volt_tensor *w = volt_module_get(self, "weight"), *b = volt_module_get(self, "bias");
    return volt_add(volt_matmul(x, volt_transpose(w, 0, 1)), b);
}

static const volt_module_class dense_class = {"Dense", dense_forward, NULL, sizeof(dense)};

static dense *dense_new(volt_module *parent, const char *name, int64_t in, int64_t out) {
    dense *d = (dense *)volt_module_new(parent, name, &dense_class);
    if (!d) return NULL;
    d->in = in;
    d->out = out;
    volt_module_add_parameter(&d->base, "weight", volt_full(VOLT_SHAPE(out, in), 0.5, VOLT_F32));
    volt_module_add_parameter(&d->base, "bias", volt_zeros(VOLT_SHAPE(out), VOLT_F32));
    return d;
}

/* A user module: encoder (two Dense) + head, a buffer, hyperparameters. */
typedef struct {
    volt_module base;
    volt_module encoder;
    dense *fc1, *fc2, *head;
} model;

static void model_init(model *m, int64_t hidden) {
    volt_module_init(&m->base, NULL);
    volt_module_init(&m->encoder, NULL);
    assert_int_equal(volt_module_add_child(&m->base, "encoder", &m->encoder), VOLT_OK);
    m->fc1 = dense_new(&m->encoder, "fc1", 4, hidden);
    m->fc2 = dense_new(&m->encoder, "fc2", hidden, hidden);
    m->head = dense_new(&m->base, "head", hidden, 2);
    volt_module_add_buffer(&m->base, "steps", volt_zeros(VOLT_SHAPE(1), VOLT_I64), true);
    volt_module_add_buffer(&m->base, "scratch", volt_zeros(VOLT_SHAPE(3), VOLT_F32), false);
}

static void test_names_and_order(void **state) {
    (void)state;
    model m;
    model_init(&m, 3);
    volt_params p = volt_module_parameters(&m.base);
    assert_int_equal(p.count, 6);
    const char *expected[6] = {"encoder.fc1.weight", "encoder.fc1.bias", "encoder.fc2.weight",
                               "encoder.fc2.bias",   "head.weight",      "head.bias"};
    for (int i = 0; i < 6; i++) assert_string_equal(p.names[i], expected[i]);
    assert_ptr_equal(p.tensors[4], volt_module_get(&m.base, "head.weight"));
    assert_ptr_equal(volt_module_child(&m.base, "encoder.fc2"), &m.fc2->base);
    assert_null(volt_module_get(&m.base, "encoder.fc3.weight"));
    assert_null(volt_module_child(&m.base, "nope"));
    assert_non_null(volt_module_get(&m.base, "steps"));
    assert_string_equal(volt_module_name(&m.fc1->base), "fc1");
    /* Parameters are caller-owned leaves that require grad. */
    assert_true(p.tensors[0]->requires_grad);
    assert_int_equal(p.tensors[0]->scope_depth, -1);
    /* Counts: 4*3+3 + 3*3+3 + 3*2+2 = 35. */
    assert_int_equal(volt_module_num_parameters(&m.base, false), 35);
    volt_module_freeze(&m.encoder);
    assert_int_equal(volt_module_num_parameters(&m.base, true), 8);
    assert_false(m.fc1->base.n_params == 0);
    volt_module_unfreeze(&m.base);
    assert_int_equal(volt_module_num_parameters(&m.base, true), 35);
    volt_module_free(&m.base);
}

static void test_bad_names_and_registration(void **state) {
    (void)state;
    model m;
    model_init(&m, 2);
    assert_null(volt_module_add_parameter(&m.base, "head", volt_zeros(VOLT_SHAPE(1), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the name 'head' is already used");
    assert_null(volt_module_add_parameter(&m.base, "a.b", volt_zeros(VOLT_SHAPE(1), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "invalid parameter name 'a.b'");
    assert_null(volt_module_add_parameter(&m.base, "", volt_zeros(VOLT_SHAPE(1), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "invalid parameter name ''");
    assert_null(volt_module_add_parameter(&m.base, "ints", volt_zeros(VOLT_SHAPE(1), VOLT_I64)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "only floating-point tensors can require grad");
    assert_null(dense_new(&m.base, "head", 2, 2));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the name 'head' is already used");
    assert_int_equal(volt_module_add_child(&m.base, "again", &m.encoder),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "already has a parent");
    assert_null(volt_module_add_parameter(&m.base, "null", NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "tensor 'null' is NULL");
    /* The parameter list is rebuilt after a change. */
    assert_int_equal(volt_module_parameters(&m.base).count, 6);
    volt_module_add_parameter(&m.base, "extra", volt_ones(VOLT_SHAPE(2), VOLT_F32));
    volt_params p = volt_module_parameters(&m.base);
    assert_int_equal(p.count, 7);
    assert_string_equal(p.names[0], "extra");
    volt_module_free(&m.base);
}

static void test_train_eval_and_forward(void **state) {
    (void)state;
    model m;
    model_init(&m, 2);
    assert_true(volt_module_is_training(&m.fc2->base));
    volt_module_train(&m.base, false);
    assert_false(volt_module_is_training(&m.fc1->base));
    assert_false(volt_module_is_training(&m.head->base));
    volt_module_train(&m.encoder, true);
    assert_true(volt_module_is_training(&m.fc1->base));
    assert_false(volt_module_is_training(&m.base));
    /* A child added later follows its parent's mode. */
    dense *late = dense_new(&m.base, "late", 2, 2);
    assert_false(volt_module_is_training(&late->base));
    volt_tensor *x = volt_ones(VOLT_SHAPE(5, 4), VOLT_F32);
    volt_tensor *y = volt_module_forward(&m.fc1->base, x);
    VT_ASSERT_SHAPE(y, 5, 2);
    VT_ASSERT_CLOSE(y, ((double[]){2, 2, 2, 2, 2, 2, 2, 2, 2, 2}), 10, 0, 0);
    assert_null(volt_module_forward(&m.base, x));
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED, "has no forward");
    /* zero_grad clears every parameter's gradient. */
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    assert_non_null(volt_module_get(&m.base, "encoder.fc1.weight")->grad);
    volt_module_zero_grad(&m.base);
    assert_null(volt_module_get(&m.base, "encoder.fc1.weight")->grad);
    volt_module_free(&m.base);
}

static void fill_distinct(volt_module *m, double start) {
    volt_params p = volt_module_parameters(m);
    VOLT_NO_GRAD {
        for (int64_t i = 0; i < p.count; i++) {
            int64_t n = volt_tensor_numel(p.tensors[i]);
            volt_tensor *v = volt_reshape(volt_arange(start, start + (double)n, 1, VOLT_F32),
                                          p.tensors[i]->ndim, p.tensors[i]->shape);
            volt_copy_(p.tensors[i], v);
            start += (double)n;
        }
    }
}

static void test_state_dict_roundtrip(void **state) {
    (void)state;
    model a, b;
    model_init(&a, 3);
    model_init(&b, 3);
    fill_distinct(&a.base, 1.0);
    volt_fill_(volt_module_get(&a.base, "steps"), 7);
    volt_state_dict *sd = volt_module_state_dict(&a.base);
    /* Parameters then persistent buffers; the non-persistent one is absent. */
    assert_int_equal(sd->count, 7);
    assert_string_equal(sd->names[6], "steps");
    assert_null(volt_state_dict_get(sd, "scratch"));
    volt_load_report r;
    assert_int_equal(volt_module_load_state_dict(&b.base, sd, true, &r), VOLT_OK);
    assert_int_equal(r.n_missing + r.n_unexpected + r.n_mismatched, 0);
    volt_load_report_free(&r);
    volt_params pa = volt_module_parameters(&a.base), pb = volt_module_parameters(&b.base);
    for (int64_t i = 0; i < pa.count; i++)
        assert_memory_equal(volt_tensor_data(pa.tensors[i]), volt_tensor_data(pb.tensors[i]),
                            (size_t)volt_tensor_numel(pa.tensors[i]) * 4);
    assert_true(volt_tensor_item(volt_module_get(&b.base, "steps")) == 7.0);
    /* Loading did not change requires_grad or make parameters non-leaves. */
    assert_true(pb.tensors[0]->requires_grad);
    assert_null(pb.tensors[0]->grad_fn);
    volt_state_dict_free(sd);
    volt_module_free(&a.base);
    volt_module_free(&b.base);
}

static void test_state_dict_mismatch(void **state) {
    (void)state;
    model a, wide;
    model_init(&a, 3);
    model_init(&wide, 5); /* other hidden size: shape mismatches */
    dense *extra = dense_new(&wide.base, "extra", 2, 2);
    (void)extra;
    fill_distinct(&a.base, 1.0);
    volt_tensor *before = volt_clone(volt_module_get(&wide.base, "encoder.fc1.bias"));
    volt_state_dict *sd = volt_module_state_dict(&a.base);
    /* Strict: refused, naming the first of each kind, and nothing changed. */
    assert_int_equal(volt_module_load_state_dict(&wide.base, sd, true, NULL), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "2 missing key(s), first extra.weight");
    VT_ASSERT_CLOSE(volt_module_get(&wide.base, "encoder.fc1.bias"), ((double[]){0, 0, 0, 0, 0}), 5,
                    0, 0);
    /* Not strict: matching keys load, the rest is reported. */
    volt_load_report r;
    assert_int_equal(volt_module_load_state_dict(&wide.base, sd, false, &r), VOLT_OK);
    assert_int_equal(r.n_missing, 2);
    assert_string_equal(r.missing[0], "extra.weight");
    assert_int_equal(r.n_unexpected, 0);
    /* fc1.weight, fc1.bias, fc2.weight, fc2.bias, head.weight mismatch;
     * head.bias [2] and steps match. */
    assert_int_equal(r.n_mismatched, 5);
    assert_string_equal(r.mismatched[0],
                        "encoder.fc1.weight: f32[3,4] in the dict, f32[5,4] in the module");
    volt_load_report_free(&r);
    VT_ASSERT_CLOSE(
        volt_module_get(&wide.base, "head.bias"),
        volt_tensor_data(volt_to_dtype(volt_module_get(&a.base, "head.bias"), VOLT_F64)), 2, 0, 0);
    VT_ASSERT_CLOSE(volt_module_get(&wide.base, "encoder.fc1.bias"),
                    volt_tensor_data(volt_to_dtype(before, VOLT_F64)), 5, 0, 0);
    /* Unexpected keys: a dict from the wider model into the smaller one. */
    volt_state_dict *wide_sd = volt_module_state_dict(&wide.base);
    assert_int_equal(volt_module_load_state_dict(&a.base, wide_sd, false, &r), VOLT_OK);
    assert_int_equal(r.n_unexpected, 2);
    assert_string_equal(r.unexpected[0], "extra.weight");
    volt_load_report_free(&r);
    volt_state_dict_free(wide_sd);
    volt_state_dict_free(sd);
    volt_module_free(&a.base);
    volt_module_free(&wide.base);
}

static void test_save_and_load_file(void **state) {
    (void)state;
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir ? dir : "/tmp");
    model a, b;
    model_init(&a, 3);
    model_init(&b, 3);
    fill_distinct(&a.base, 0.25);
    assert_int_equal(volt_module_save(&a.base, path), VOLT_OK);
    assert_int_equal(volt_module_load(&b.base, path, true, NULL), VOLT_OK);
    volt_params pa = volt_module_parameters(&a.base), pb = volt_module_parameters(&b.base);
    for (int64_t i = 0; i < pa.count; i++)
        assert_memory_equal(volt_tensor_data(pa.tensors[i]), volt_tensor_data(pb.tensors[i]),
                            (size_t)volt_tensor_numel(pa.tensors[i]) * 4);
    /* A file from another model is refused whole. */
    model c;
    model_init(&c, 4);
    assert_int_equal(volt_module_load(&c.base, path, true, NULL), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "shape mismatch");
    assert_int_equal(volt_module_load(&c.base, "/nonexistent/model.safetensors", true, NULL),
                     VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "/nonexistent/model.safetensors");
    volt_module_free(&a.base);
    volt_module_free(&b.base);
    volt_module_free(&c.base);
}

static void test_hparams(void **state) {
    (void)state;
    volt_module m;
    volt_module_init(&m, NULL);
    assert_int_equal(volt_module_set_hparam_double(&m, "lr", 0.1), VOLT_OK);
    assert_int_equal(volt_module_set_hparam_int(&m, "hidden", 256), VOLT_OK);
    assert_int_equal(volt_module_set_hparam_bool(&m, "nesterov", true), VOLT_OK);
    assert_int_equal(volt_module_set_hparam_string(&m, "activation", "relu"), VOLT_OK);
    assert_int_equal(volt_module_set_hparam_double(&m, "lr", 0.05), VOLT_OK); /* replaces */
    assert_int_equal(volt_module_hparam_count(&m), 4);
    assert_string_equal(volt_module_hparam_name(&m, 0), "lr");
    assert_string_equal(volt_module_hparam_text(&m, 0), "0.05");
    assert_int_equal(volt_module_hparam_type(&m, 1), VOLT_HPARAM_INT);
    assert_string_equal(volt_module_hparam_text(&m, 1), "256");
    assert_string_equal(volt_module_hparam_text(&m, 2), "true");
    assert_string_equal(volt_module_hparam_text(&m, 3), "relu");
    assert_true(volt_module_hparam_number(&m, "hidden") == 256.0);
    assert_true(volt_module_hparam_number(&m, "nesterov") == 1.0);
    assert_true(isnan(volt_module_hparam_number(&m, "activation")));
    assert_true(isnan(volt_module_hparam_number(&m, "missing")));
    assert_null(volt_module_hparam_name(&m, 4));
    assert_int_equal(volt_module_set_hparam_double(&m, "", 1.0), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "set_hparam");
    volt_module_set_hparam_double(&m, "third", 1.0 / 3.0);
    assert_true(strtod(volt_module_hparam_text(&m, 4), NULL) == 1.0 / 3.0);
    volt_module_free(&m);
    assert_int_equal(volt_module_hparam_count(&m), 0);
}

static void test_standalone_layer_and_reuse(void **state) {
    (void)state;
    dense *d = dense_new(NULL, "solo", 3, 2);
    assert_non_null(d);
    assert_string_equal(volt_module_name(&d->base), "solo");
    assert_int_equal(volt_module_num_parameters(&d->base, false), 8);
    volt_module_free(&d->base); /* frees the struct too */
    /* A caller-owned module is emptied and can be used again. */
    model m;
    model_init(&m, 2);
    volt_module_free(&m.base);
    assert_int_equal(volt_module_parameters(&m.base).count, 0);
    model_init(&m, 2);
    assert_int_equal(volt_module_parameters(&m.base).count, 6);
    volt_module_free(&m.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_names_and_order),
        VT_TEST(test_bad_names_and_registration),
        VT_TEST(test_train_eval_and_forward),
        VT_TEST(test_state_dict_roundtrip),
        VT_TEST(test_state_dict_mismatch),
        VT_TEST(test_save_and_load_file),
        VT_TEST(test_hparams),
        VT_TEST(test_standalone_layer_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
