/* test_layers_basic.c: Embedding (N(0,1) init, padding row zero and without
 * gradient, lookups, gradcheck), Dropout (train/eval, scaling, gradient,
 * p = 0 and 1), Flatten, Identity, and Sequential (appended and named
 * children, state-dict names, nested containers, train/eval propagation,
 * a Linear-ReLU-Linear regression that trains, errors naming the child). */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, tol, ...)                                                                        \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (tol), (tol))

static volt_tensor *idx64(int ndim, const int64_t *shape, const int64_t *v) {
    return volt_from_array(v, VOLT_I64, ndim, shape);
}

/* ------------------------------------------------------------ Embedding */

static void test_embedding_layer_init_and_lookup(void **state) {
    (void)state;
    volt_embedding_layer *e = volt_embedding_layer_new(NULL, "emb", 1000, 64, 3);
    assert_non_null(e);
    volt_tensor *w = volt_module_get(&e->base, "weight");
    VT_ASSERT_SHAPE(w, 1000, 64);
    assert_int_equal(w->dtype, VOLT_F32);
    /* N(0, 1) over 64000 values, and padding row 3 all zero. */
    double s = 0, ss = 0;
    for (int64_t i = 0; i < 64000; i++) {
        double v = volt_tensor_get_flat(w, i);
        s += v;
        ss += v * v;
        if (i / 64 == 3) assert_true(v == 0);
    }
    assert_true(fabs(s / 64000) < 0.02 && fabs(sqrt(ss / 64000) - 1) < 0.02);
    assert_int_equal(e->padding_idx, 3);
    volt_module_free(&e->base);
    /* Negative padding_idx counts from the end (like PyTorch); none. */
    e = volt_embedding_layer_new(NULL, "emb", 5, 3, -1);
    assert_int_equal(e->padding_idx, 4);
    volt_module_free(&e->base);
    e = volt_embedding_layer_new(NULL, "emb", 5, 3, VOLT_NO_PADDING_IDX);
    assert_true(e->padding_idx == VOLT_NO_PADDING_IDX);

    /* Fixed weights: row r = [10 r, 10 r + 1, 10 r + 2] (torch's F.embedding
     * copies rows: the expected values follow by hand). */
    double wv[15];
    for (int i = 0; i < 15; i++) wv[i] = 10 * (i / 3) + i % 3;
    VOLT_NO_GRAD {
        volt_copy_(volt_module_get(&e->base, "weight"),
                   volt_from_array(wv, VOLT_F64, VOLT_SHAPE(5, 3)));
    }
    volt_tensor *y =
        volt_embedding_layer_forward(e, idx64(VOLT_SHAPE(2, 2), (const int64_t[]){4, 0, 2, 4}));
    VT_ASSERT_SHAPE(y, 2, 2, 3);
    EXPECT(y, 0, 40, 41, 42, 0, 1, 2, 20, 21, 22, 40, 41, 42);
    EXPECT(volt_module_forward(&e->base, idx64(VOLT_SHAPE(1), (const int64_t[]){1})), 0, 10, 11,
           12);
    volt_module_free(&e->base);
    VT_ASSERT_NO_ERROR();
}

static void test_embedding_layer_padding_gradient(void **state) {
    (void)state;
    volt_embedding_layer *e = volt_embedding_layer_new(NULL, "emb", 4, 2, 1);
    volt_tensor *y =
        volt_embedding_layer_forward(e, idx64(VOLT_SHAPE(4), (const int64_t[]){1, 2, 2, 1}));
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    /* Row 2 picked twice: gradient 2; padding row 1 stays 0; rows 0, 3: 0. */
    EXPECT(volt_module_get(&e->base, "weight")->grad, 0, 0, 0, 0, 0, 2, 2, 0, 0);
    volt_module_free(&e->base);
    VT_ASSERT_NO_ERROR();
}

typedef struct {
    volt_embedding_layer *e;
    volt_tensor *idx;
} emb_ctx;

static volt_tensor *embedding_fn(volt_tensor **in, void *vctx) {
    (void)in;
    emb_ctx *c = vctx;
    return volt_embedding_layer_forward(c->e, c->idx);
}

static void test_embedding_layer_gradcheck_f64(void **state) {
    (void)state;
    emb_ctx c = {volt_embedding_layer_new(NULL, "emb", 6, 3, VOLT_NO_PADDING_IDX),
                 idx64(VOLT_SHAPE(5), (const int64_t[]){0, 5, 5, 2, 0})};
    volt_tensor *w64 = NULL;
    VOLT_NO_GRAD { w64 = volt_to_dtype(volt_module_get(&c.e->base, "weight"), VOLT_F64); }
    assert_int_equal(volt_module_replace(&c.e->base, "weight", w64), VOLT_OK);
    VT_GRADCHECK(embedding_fn, &c, 1, volt_module_get(&c.e->base, "weight"));
    volt_module_free(&c.e->base);
}

static void test_embedding_layer_errors(void **state) {
    (void)state;
    assert_null(volt_embedding_layer_new(NULL, "emb", -1, 3, VOLT_NO_PADDING_IDX));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Embedding 'emb': num_embeddings -1 (must be >= 0)");
    assert_null(volt_embedding_layer_new(NULL, "emb", 4, -3, VOLT_NO_PADDING_IDX));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "embedding_dim -3");
    assert_null(volt_embedding_layer_new(NULL, "emb", 4, 3, 4));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "Embedding 'emb': padding_idx 4 must be within num_embeddings 4");
    assert_null(volt_embedding_layer_new(NULL, "emb", 4, 3, -5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "padding_idx -5");
    volt_embedding_layer *e = volt_embedding_layer_new(NULL, "emb", 4, 3, VOLT_NO_PADDING_IDX);
    assert_null(volt_embedding_layer_forward(e, volt_zeros(VOLT_SHAPE(2), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "Embedding 'emb': input f32[2] must hold i64 or i32 indices");
    assert_null(volt_embedding_layer_forward(e, idx64(VOLT_SHAPE(1), (const int64_t[]){4})));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "embedding: index 4 is out of range for weight f32[4,3]");
    volt_module_free(&e->base);
}

/* -------------------------------------------------------------- Dropout */

static void test_dropout_layer_train_and_eval(void **state) {
    (void)state;
    volt_dropout_layer *d = volt_dropout_layer_new(NULL, "drop", 0.25);
    assert_non_null(d);
    volt_tensor *x = volt_requires_grad(volt_ones(VOLT_SHAPE(100, 100), VOLT_F32), true);
    assert_true(volt_module_is_training(&d->base));
    volt_tensor *y = volt_dropout_layer_forward(d, x);
    int64_t zeros = 0;
    for (int64_t i = 0; i < 10000; i++) {
        double v = volt_tensor_get_flat(y, i);
        if (v == 0)
            zeros++;
        else
            assert_true(fabs(v - 1 / 0.75) < 1e-6);
    }
    assert_true(zeros > 2300 && zeros < 2700); /* 2500 +- 6 sigma (43) */
    /* Gradient: the mask times 1 / (1 - p). */
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    for (int64_t i = 0; i < 10000; i++)
        assert_true(volt_tensor_get_flat(x->grad, i) == volt_tensor_get_flat(y, i));
    /* Eval: the identity. */
    volt_module_train(&d->base, false);
    y = volt_module_forward(&d->base, x);
    for (int64_t i = 0; i < 10000; i++) assert_true(volt_tensor_get_flat(y, i) == 1);
    volt_module_free(&d->base);
    /* p = 1 zeroes everything in training, p = 0 keeps everything. */
    d = volt_dropout_layer_new(NULL, "all", 1.0);
    y = volt_dropout_layer_forward(d, x);
    for (int64_t i = 0; i < 10000; i++) assert_true(volt_tensor_get_flat(y, i) == 0);
    volt_module_free(&d->base);
    d = volt_dropout_layer_new(NULL, "none", 0.0);
    y = volt_dropout_layer_forward(d, x);
    for (int64_t i = 0; i < 10000; i++) assert_true(volt_tensor_get_flat(y, i) == 1);
    volt_module_free(&d->base);
    VT_ASSERT_NO_ERROR();
}

static void test_dropout_layer_errors(void **state) {
    (void)state;
    assert_null(volt_dropout_layer_new(NULL, "drop", -0.1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "Dropout 'drop': dropout probability p -0.1 has to be between 0 and 1");
    assert_null(volt_dropout_layer_new(NULL, "drop", 1.5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "p 1.5");
    assert_null(volt_dropout_layer_new(NULL, "drop", NAN));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "p nan");
    volt_dropout_layer *d = volt_dropout_layer_new(NULL, NULL, 0.5);
    assert_null(volt_dropout_layer_forward(d, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Dropout: input is NULL");
    volt_module_free(&d->base);
}

/* ------------------------------------------------------ Flatten, Identity */

static volt_tensor *flatten_fn(volt_tensor **in, void *ctx) {
    return volt_flatten_layer_forward(ctx, in[0]);
}

static void test_flatten_and_identity(void **state) {
    (void)state;
    volt_tensor *x = volt_zeros(VOLT_SHAPE(2, 3, 4, 5), VOLT_F32);
    volt_flatten_layer *f = volt_flatten_layer_new(NULL, "flat", 1, -1);
    VT_ASSERT_SHAPE(volt_flatten_layer_forward(f, x), 2, 60);
    volt_flatten_layer *all = volt_flatten_layer_new(NULL, "all", 0, -1);
    VT_ASSERT_SHAPE(volt_module_forward(&all->base, x), 120);
    volt_flatten_layer *mid = volt_flatten_layer_new(NULL, "mid", 1, 2);
    VT_ASSERT_SHAPE(volt_flatten_layer_forward(mid, x), 2, 12, 5);
    VT_GRADCHECK(flatten_fn, mid, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 2), 1, 1.0, 0.0));
    assert_null(volt_flatten_layer_forward(f, volt_zeros(VOLT_SHAPE(7), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "Flatten 'flat': cannot flatten dims 1..-1 of input f32[7]");
    volt_module_free(&f->base);
    volt_module_free(&all->base);
    volt_module_free(&mid->base);

    volt_identity *id = volt_identity_new(NULL, "id");
    volt_tensor *a = vt_leaf(VOLT_SHAPE(3), 2, 1.0, 0.0);
    volt_tensor *y = volt_identity_forward(id, a);
    assert_true(y != a);
    for (int i = 0; i < 3; i++)
        assert_true(volt_tensor_get_flat(y, i) == volt_tensor_get_flat(a, i));
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(volt_module_forward(&id->base, a), a))),
                     VOLT_OK);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(volt_tensor_get_flat(a->grad, i) - 2 * volt_tensor_get_flat(a, i)) <
                    1e-15);
    volt_module_free(&id->base);
    VT_ASSERT_NO_ERROR();
}

/* ----------------------------------------------------------- Sequential */

/* A user-defined single-input layer: ReLU, for Sequential. */
static volt_tensor *relu_forward(volt_module *self, const volt_tensor *x) {
    (void)self;
    return volt_relu(x);
}

static const volt_module_class relu_class = {"ReLU", relu_forward, NULL, sizeof(volt_module)};

static volt_module *relu_new(void) { return volt_module_new(NULL, "relu", &relu_class); }

static void test_sequential_names_and_state_dict(void **state) {
    (void)state;
    volt_sequential *seq = volt_sequential_new(NULL, "net");
    assert_int_equal(volt_sequential_append(seq, &volt_linear_new(NULL, "ignored", 4, 8)->base),
                     VOLT_OK);
    assert_int_equal(volt_sequential_append(seq, relu_new()), VOLT_OK);
    assert_int_equal(volt_sequential_append(seq, &volt_linear_new(NULL, NULL, 8, 2)->base),
                     VOLT_OK);
    volt_state_dict *sd = volt_module_state_dict(&seq->base);
    assert_int_equal(sd->count, 4);
    assert_string_equal(sd->names[0], "0.weight");
    assert_string_equal(sd->names[1], "0.bias");
    assert_string_equal(sd->names[2], "2.weight");
    assert_string_equal(sd->names[3], "2.bias");
    volt_state_dict_free(sd);
    assert_string_equal(volt_module_name(volt_module_child(&seq->base, "1")), "1");
    VT_ASSERT_SHAPE(volt_sequential_forward(seq, volt_zeros(VOLT_SHAPE(5, 4), VOLT_F32)), 5, 2);

    /* A user module holding named layers and a nested Sequential. */
    volt_module root;
    volt_module_init(&root, NULL);
    volt_linear *fc1 = volt_linear_new(&root, "fc1", 3, 4);
    volt_sequential *inner = volt_sequential_new(&root, "head");
    volt_layernorm_new(&inner->base, "norm", VOLT_SHAPE(4), NULL);
    volt_linear_new(&inner->base, "out", 4, 1);
    assert_non_null(fc1);
    sd = volt_module_state_dict(&root);
    const char *expected[6] = {"fc1.weight",     "fc1.bias",        "head.norm.weight",
                               "head.norm.bias", "head.out.weight", "head.out.bias"};
    assert_int_equal(sd->count, 6);
    for (int i = 0; i < 6; i++) assert_string_equal(sd->names[i], expected[i]);
    volt_state_dict_free(sd);
    /* The Sequential runs its named children in order: [2, 4] -> [2, 1]. */
    VT_ASSERT_SHAPE(volt_module_forward(&inner->base, volt_ones(VOLT_SHAPE(2, 4), VOLT_F32)), 2, 1);
    /* Appending continues numbering by position. */
    assert_int_equal(volt_sequential_append(inner, relu_new()), VOLT_OK);
    assert_non_null(volt_module_child(&root, "head.2"));
    volt_module_free(&root);
    volt_module_free(&seq->base);
    VT_ASSERT_NO_ERROR();
}

static void test_sequential_train_eval_and_empty(void **state) {
    (void)state;
    volt_sequential *seq = volt_sequential_new(NULL, "net");
    volt_tensor *x = vt_leaf(VOLT_SHAPE(4), 1, 1.0, 0.0);
    volt_tensor *y = volt_sequential_forward(seq, x); /* empty: identity */
    for (int i = 0; i < 4; i++)
        assert_true(volt_tensor_get_flat(y, i) == volt_tensor_get_flat(x, i));
    volt_dropout_layer *d = volt_dropout_layer_new(&seq->base, "drop", 0.5);
    volt_identity_new(&seq->base, "id");
    volt_tensor *ones = volt_ones(VOLT_SHAPE(1000), VOLT_F32);
    y = volt_sequential_forward(seq, ones);
    double sum = volt_tensor_item(volt_sum_all(y));
    assert_true(sum != 1000); /* some dropped, the rest doubled */
    volt_module_train(&seq->base, false);
    assert_false(volt_module_is_training(&d->base));
    y = volt_sequential_forward(seq, ones);
    assert_true(volt_tensor_item(volt_sum_all(y)) == 1000);
    volt_module_free(&seq->base);
    VT_ASSERT_NO_ERROR();
}

/* Linear(2, 32) - ReLU - Linear(32, 1) fits y = tanh(2 x0) + x1^2 on 64
 * points with plain gradient descent: the loss falls at least tenfold. */
static double mse_step(volt_sequential *net, const volt_tensor *x, const volt_tensor *target,
                       double lr) {
    volt_scope_begin();
    volt_tensor *loss = volt_mse_loss(volt_sequential_forward(net, x), target, VOLT_REDUCTION_MEAN);
    double value = volt_tensor_item(loss);
    assert_int_equal(volt_backward(loss), VOLT_OK);
    volt_params p = volt_module_parameters(&net->base);
    VOLT_NO_GRAD {
        for (int64_t i = 0; i < p.count; i++)
            volt_add_(p.tensors[i], volt_mul_scalar(p.tensors[i]->grad, -lr));
    }
    volt_module_zero_grad(&net->base);
    volt_scope_end();
    return value;
}

static void test_sequential_mlp_trains(void **state) {
    (void)state;
    volt_seed_everything(11);
    volt_sequential *net = volt_sequential_new(NULL, "mlp");
    volt_sequential_append(net, &volt_linear_new(NULL, NULL, 2, 32)->base);
    volt_sequential_append(net, relu_new());
    volt_sequential_append(net, &volt_linear_new(NULL, NULL, 32, 1)->base);
    volt_generator g = volt_generator_make(12, 0);
    volt_tensor *x =
        volt_add_scalar(volt_mul_scalar(volt_rand(VOLT_SHAPE(64, 2), VOLT_F32, &g), 2), -1);
    volt_tensor *x0 = volt_narrow(x, 1, 0, 1), *x1 = volt_narrow(x, 1, 1, 1);
    volt_tensor *target = volt_add(volt_tanh(volt_mul_scalar(x0, 2)), volt_mul(x1, x1));
    double first = mse_step(net, x, target, 0.1), last = first;
    for (int step = 1; step < 600; step++) last = mse_step(net, x, target, 0.1);
    assert_true(last < first / 10);
    assert_int_equal(volt_module_num_parameters(&net->base, true), 2 * 32 + 32 + 32 + 1);
    volt_module_free(&net->base);
    VT_ASSERT_NO_ERROR();
}

static void test_sequential_errors(void **state) {
    (void)state;
    volt_sequential *seq = volt_sequential_new(NULL, "net");
    volt_linear_new(&seq->base, "0", 3, 3);
    volt_bilinear_new(&seq->base, "pair", 3, 3, 3, NULL);
    assert_null(volt_sequential_forward(seq, volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED,
                    "Sequential 'net': child 'pair' (Bilinear) has no single-input forward");
    volt_module_free(&seq->base);
    seq = volt_sequential_new(NULL, "net");
    volt_linear_new(&seq->base, "fc1", 3, 4);
    volt_linear_new(&seq->base, "fc2", 5, 2);
    /* The failing child names itself. */
    assert_null(volt_sequential_forward(seq, volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "Linear 'fc2': input f32[2,4] has 4 features, expected 5");
    /* A child of another module cannot be appended; NULLs. */
    volt_linear *owned = volt_linear_new(&seq->base, "fc3", 2, 2);
    assert_int_equal(volt_sequential_append(seq, &owned->base), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "Sequential 'net': cannot append 'fc3', it is already a child");
    assert_int_equal(volt_sequential_append(seq, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "sequential_append: layer is NULL");
    /* A name already taken: "3" after a user named a child "3". */
    volt_identity_new(&seq->base, "4");
    volt_identity *id = volt_identity_new(NULL, NULL);
    assert_int_equal(volt_sequential_append(seq, &id->base), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the name '4' is already used");
    volt_module_free(&id->base);
    volt_module_free(&seq->base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_embedding_layer_init_and_lookup),
        VT_TEST(test_embedding_layer_padding_gradient),
        VT_TEST(test_embedding_layer_gradcheck_f64),
        VT_TEST(test_embedding_layer_errors),
        VT_TEST(test_dropout_layer_train_and_eval),
        VT_TEST(test_dropout_layer_errors),
        VT_TEST(test_flatten_and_identity),
        VT_TEST(test_sequential_names_and_state_dict),
        VT_TEST(test_sequential_train_eval_and_empty),
        VT_TEST(test_sequential_mlp_trains),
        VT_TEST(test_sequential_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
