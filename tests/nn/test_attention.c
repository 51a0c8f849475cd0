/* test_attention.c: the multi-head self-attention layer — parameters named
 * and initialised like torch.nn.MultiheadAttention, outputs and gradients
 * against PyTorch for a fixed weight set (with and without the causal mask,
 * fused and reference paths), the fused path held to the reference on
 * random data (values and every gradient), unbatched inputs, attention
 * dropout in training only, a float64 gradcheck, and the errors. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, tol, ...)                                                                        \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (tol), (tol))

static const char *const mha_params[4] = {"in_proj_weight", "in_proj_bias", "out_proj.weight",
                                          "out_proj.bias"};

static void set_param(volt_module *m, const char *name, const double *v) {
    volt_tensor *p = volt_module_get(m, name);
    assert_non_null(p);
    VOLT_NO_GRAD {
        assert_non_null(volt_copy_(p, volt_from_array(v, VOLT_F64, p->ndim, p->shape)));
    }
}

/* Replaces every parameter of the layer by an f64 copy. */
static void mha_to_f64(volt_multihead_attention *l) {
    volt_module *owners[4] = {&l->base, &l->base, &l->out_proj->base, &l->out_proj->base};
    const char *local[4] = {"in_proj_weight", "in_proj_bias", "weight", "bias"};
    for (int i = 0; i < 4; i++) {
        volt_tensor *c = NULL;
        VOLT_NO_GRAD { c = volt_to_dtype(volt_module_get(owners[i], local[i]), VOLT_F64); }
        assert_int_equal(volt_module_replace(owners[i], local[i], c), VOLT_OK);
    }
}

static void test_mha_parameters_and_init(void **state) {
    (void)state;
    volt_multihead_attention *m = volt_multihead_attention_new(NULL, "attn", 8, 2, NULL);
    assert_non_null(m);
    volt_state_dict *sd = volt_module_state_dict(&m->base);
    assert_int_equal(sd->count, 4);
    for (int i = 0; i < 4; i++) assert_string_equal(sd->names[i], mha_params[i]);
    volt_state_dict_free(sd);
    VT_ASSERT_SHAPE(volt_module_get(&m->base, "in_proj_weight"), 24, 8);
    VT_ASSERT_SHAPE(volt_module_get(&m->base, "in_proj_bias"), 24);
    VT_ASSERT_SHAPE(volt_module_get(&m->base, "out_proj.weight"), 8, 8);
    /* xavier_uniform on [24, 8]: bound sqrt(6 / 32); biases zero; out_proj.weight
     * Linear's default U(+-1/sqrt(8)). */
    volt_tensor *w = volt_module_get(&m->base, "in_proj_weight");
    double mx = 0;
    for (int i = 0; i < 192; i++) mx = fmax(mx, fabs(volt_tensor_get_flat(w, i)));
    assert_true(mx <= sqrt(6.0 / 32) && mx > 0.8 * sqrt(6.0 / 32));
    for (int i = 0; i < 24; i++)
        assert_true(volt_tensor_get_flat(volt_module_get(&m->base, "in_proj_bias"), i) == 0);
    for (int i = 0; i < 8; i++)
        assert_true(volt_tensor_get_flat(volt_module_get(&m->base, "out_proj.bias"), i) == 0);
    volt_tensor *ow = volt_module_get(&m->base, "out_proj.weight");
    for (int i = 0; i < 64; i++) assert_true(fabs(volt_tensor_get_flat(ow, i)) <= 1 / sqrt(8.0));
    assert_int_equal(m->embed_dim, 8);
    assert_int_equal(m->num_heads, 2);
    volt_module_free(&m->base);
    /* no_bias: weights only. */
    m = volt_multihead_attention_new(NULL, "attn", 4, 4,
                                     &(volt_multihead_attention_options){.no_bias = true});
    assert_null(volt_module_get(&m->base, "in_proj_bias"));
    assert_null(volt_module_get(&m->base, "out_proj.bias"));
    assert_int_equal(volt_module_num_parameters(&m->base, false), 3 * 16 + 16);
    volt_module_free(&m->base);
    VT_ASSERT_NO_ERROR();
}

/* The fixed weights of the PyTorch comparison (dyadic, so exact in f32 and
 * f64): Debian's torch 1.13 (/usr/bin/python3), float64,
 * m = nn.MultiheadAttention(4, 2, batch_first=True).double() with
 *   in_proj_weight = ((5 * arange(48)) % 11 - 5).reshape(12, 4) / 8,
 *   in_proj_bias = (arange(12) % 5 - 2) / 16,
 *   out_proj.weight = ((3 * arange(16)) % 7 - 3).reshape(4, 4) / 8,
 *   out_proj.bias = [0.125, -0.25, 0.375, -0.5];
 * x = sin(0.3 * arange(24) + 0.1).reshape(2, 3, 4); m(x, x, x,
 * need_weights=False), and with attn_mask = triu(ones(3, 3, bool), 1)
 * followed by backward of cos(0.2 * arange(24)).reshape(2, 3, 4). */
static void set_torch_weights(volt_multihead_attention *m) {
    double w[48], b[12], ow[16];
    for (int i = 0; i < 48; i++) w[i] = ((5 * i) % 11 - 5) / 8.0;
    for (int i = 0; i < 12; i++) b[i] = (i % 5 - 2) / 16.0;
    for (int i = 0; i < 16; i++) ow[i] = ((3 * i) % 7 - 3) / 8.0;
    set_param(&m->base, "in_proj_weight", w);
    set_param(&m->base, "in_proj_bias", b);
    set_param(&m->base, "out_proj.weight", ow);
    set_param(&m->base, "out_proj.bias", (const double[]){0.125, -0.25, 0.375, -0.5});
}

static volt_tensor *torch_input(volt_dtype dtype) {
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = sin(0.3 * i + 0.1);
    volt_tensor *x = volt_from_array(v, VOLT_F64, VOLT_SHAPE(2, 3, 4));
    return volt_requires_grad(dtype == VOLT_F64 ? x : volt_to_dtype(x, dtype), true);
}

static const double torch_out[24] = {
    -0.02759635073948788,  -0.3272216138475528,  0.5344557115816313,  -0.32295144727275804,
    -0.02225158501390903,  -0.3203175965431294,  0.5251771856926302,  -0.3235439532833615,
    -0.030834679110375962, -0.32866090961523253, 0.5304572315739947,  -0.3151855451536766,
    0.08550854315794046,   -0.23027498721010167, 0.3725124070248294,  -0.5703237617053318,
    0.08650183658007732,   -0.22803178011234002, 0.38042901815106356, -0.5784389046427073,
    0.11774934489984097,   -0.20407002374877756, 0.35789888231217815, -0.6020810901654745};
static const double torch_causal[24] = {
    -0.13638953506208973,  -0.3760133787608024,  0.6265377603651114,  -0.4259091521461231,
    -0.11957812765455986,  -0.3835615489613782,  0.6251610550559239,  -0.32732538126689326,
    -0.030834679110375962, -0.32866090961523253, 0.5304572315739947,  -0.3151855451536766,
    0.2862722273375281,    -0.11055589542867073, 0.1787322334407691,  -0.5852841584230357,
    0.21718106290018374,   -0.14509088954643407, 0.243222282820875,   -0.6396564607312654,
    0.11774934489984097,   -0.20407002374877756, 0.35789888231217815, -0.6020810901654745};
static const double torch_causal_gx[24] = {
    0.06739731492665879,    0.38834398826499045,  -0.4047210728503325,  -0.10525883687005205,
    -0.01206018703187667,   0.057931965737929365, -0.1446295132706132,  -0.00889629613657251,
    -0.012845759104837241,  -0.03228474099239495, -0.02634555933319765, 0.011423629201383175,
    -0.11808660175878868,   -0.5143029309176347,  0.3308851765820866,   0.13921408849283773,
    -0.039631029161089716,  -0.21093346528395082, 0.22304761996773653,  0.05695358684155905,
    -0.0057102125883974056, -0.06304042433761337, 0.06142026703937054,  0.011032720186281184};
/* Rows 0 and 11 of in_proj_weight.grad (q's first, v's last), out_proj.bias.grad. */
static const double torch_causal_gw_first[4] = {-0.003064165877902774, -0.0024794579583291036,
                                                -0.0016732674437865635, -0.0007176089319013612};
static const double torch_causal_gw_last[4] = {-0.5430178519056948, -0.703161690180676,
                                               -0.8004941888639732, -0.8263209257288396};
static const double torch_causal_gob[4] = {-0.7218249251537343, -1.0207809782728132,
                                           -1.2790417150488085, -1.4863110948953426};

static void test_mha_matches_torch(void **state) {
    (void)state;
    for (int causal = 0; causal < 2; causal++) {
        volt_multihead_attention *m = volt_multihead_attention_new(
            NULL, "attn", 4, 2, &(volt_multihead_attention_options){.causal = causal});
        set_torch_weights(m);
        const double *want = causal ? torch_causal : torch_out;
        /* f32 layer, both paths. */
        volt_tensor *x32 = torch_input(VOLT_F32);
        VT_ASSERT_CLOSE(volt_multihead_attention_forward(m, x32), want, 24, 2e-6, 2e-6);
        VT_ASSERT_CLOSE(volt_multihead_attention_forward_reference(m, x32), want, 24, 2e-6, 2e-6);
        /* f64 parameters (the same f32 values), both paths, and gradients. */
        mha_to_f64(m);
        for (int ref = 0; ref < 2; ref++) {
            volt_tensor *x = torch_input(VOLT_F64);
            volt_tensor *y = ref ? volt_multihead_attention_forward_reference(m, x)
                                 : volt_module_forward(&m->base, x);
            VT_ASSERT_SHAPE(y, 2, 3, 4);
            VT_ASSERT_CLOSE(y, want, 24, 1e-12, 1e-12);
            if (!causal) continue;
            double gv[24];
            for (int i = 0; i < 24; i++) gv[i] = cos(0.2 * i);
            assert_int_equal(
                volt_backward_ex(y, volt_from_array(gv, VOLT_F64, VOLT_SHAPE(2, 3, 4)), false),
                VOLT_OK);
            VT_ASSERT_CLOSE(x->grad, torch_causal_gx, 24, 1e-12, 1e-12);
            volt_tensor *gw = volt_module_get(&m->base, "in_proj_weight")->grad;
            VT_ASSERT_CLOSE(volt_narrow(gw, 0, 0, 1), torch_causal_gw_first, 4, 1e-12, 1e-12);
            VT_ASSERT_CLOSE(volt_narrow(gw, 0, 11, 1), torch_causal_gw_last, 4, 1e-12, 1e-12);
            VT_ASSERT_CLOSE(volt_module_get(&m->base, "out_proj.bias")->grad, torch_causal_gob, 4,
                            1e-12, 1e-12);
            volt_module_zero_grad(&m->base);
        }
        volt_module_free(&m->base);
    }
    VT_ASSERT_NO_ERROR();
}

/* Random [2, 7, 8] input, 2 heads: the fused path and the reference agree
 * in the output and in the gradients of the input and every parameter. */
static void test_mha_fused_matches_reference(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(21, 0);
    for (int causal = 0; causal < 2; causal++) {
        volt_multihead_attention *m = volt_multihead_attention_new(
            NULL, "attn", 8, 2, &(volt_multihead_attention_options){.causal = causal, .gen = &g});
        VOLT_NO_GRAD { volt_init_normal_(volt_module_get(&m->base, "in_proj_bias"), 0, 0.5, &g); }
        volt_tensor *x = volt_requires_grad(volt_randn(VOLT_SHAPE(2, 7, 8), VOLT_F32, &g), true);
        volt_tensor *gy = volt_randn(VOLT_SHAPE(2, 7, 8), VOLT_F32, &g);
        volt_tensor *res[2][5];
        for (int ref = 0; ref < 2; ref++) {
            volt_tensor *y = ref ? volt_multihead_attention_forward_reference(m, x)
                                 : volt_multihead_attention_forward(m, x);
            assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);
            res[ref][0] = y;
            res[ref][1] = volt_clone(x->grad);
            for (int i = 0; i < 3; i++)
                res[ref][2 + i] = volt_clone(volt_module_get(&m->base, mha_params[i])->grad);
            volt_tensor_clear_grad(x);
            volt_module_zero_grad(&m->base);
        }
        for (int k = 0; k < 5; k++)
            for (int64_t i = 0; i < volt_tensor_numel(res[0][k]); i++)
                assert_true(fabs(volt_tensor_get_flat(res[0][k], i) -
                                 volt_tensor_get_flat(res[1][k], i)) < 1e-5);
        volt_module_free(&m->base);
    }
    VT_ASSERT_NO_ERROR();
}

static volt_tensor *mha_fn(volt_tensor **in, void *ctx) {
    return volt_multihead_attention_forward(ctx, in[0]);
}

static void test_mha_gradcheck_f64_and_unbatched(void **state) {
    (void)state;
    volt_multihead_attention *m = volt_multihead_attention_new(
        NULL, "attn", 4, 2, &(volt_multihead_attention_options){.causal = true});
    mha_to_f64(m);
    VOLT_NO_GRAD { volt_init_normal_(volt_module_get(&m->base, "in_proj_bias"), 0, 0.5, NULL); }
    VT_GRADCHECK(
        mha_fn, m, 5, vt_leaf(VOLT_SHAPE(2, 3, 4), 1, 1.0, 0.0),
        volt_module_get(&m->base, "in_proj_weight"), volt_module_get(&m->base, "in_proj_bias"),
        volt_module_get(&m->base, "out_proj.weight"), volt_module_get(&m->base, "out_proj.bias"));
    /* [T, E] input: the same as a batch of one. */
    volt_tensor *x = vt_leaf(VOLT_SHAPE(3, 4), 2, 1.0, 0.0);
    volt_tensor *y = volt_multihead_attention_forward(m, x);
    VT_ASSERT_SHAPE(y, 3, 4);
    volt_tensor *yb = volt_multihead_attention_forward(m, volt_unsqueeze(x, 0));
    for (int i = 0; i < 12; i++)
        assert_true(fabs(volt_tensor_get_flat(y, i) - volt_tensor_get_flat(yb, i)) < 1e-15);
    VT_GRADCHECK(mha_fn, m, 1, vt_leaf_strided(VOLT_SHAPE(3, 4), 3, 1.0, 0.0));
    volt_module_free(&m->base);
}

static void test_mha_dropout_training_only(void **state) {
    (void)state;
    volt_multihead_attention *m = volt_multihead_attention_new(
        NULL, "attn", 8, 2, &(volt_multihead_attention_options){.dropout = 0.5});
    volt_generator g = volt_generator_make(5, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 6, 8), VOLT_F32, &g);
    volt_tensor *train = volt_multihead_attention_forward(m, x);
    volt_module_train(&m->base, false);
    volt_tensor *eval = volt_multihead_attention_forward(m, x);
    volt_tensor *ref = volt_multihead_attention_forward_reference(m, x);
    double diff = 0;
    for (int i = 0; i < 96; i++) {
        diff = fmax(diff, fabs(volt_tensor_get_flat(train, i) - volt_tensor_get_flat(eval, i)));
        assert_true(fabs(volt_tensor_get_flat(eval, i) - volt_tensor_get_flat(ref, i)) < 1e-5);
    }
    assert_true(diff > 1e-3);
    volt_module_free(&m->base);
    VT_ASSERT_NO_ERROR();
}

static void test_mha_errors(void **state) {
    (void)state;
    assert_null(volt_multihead_attention_new(NULL, "attn", 10, 3, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "MultiheadAttention 'attn': embed_dim 10 must be divisible by num_heads 3");
    assert_null(volt_multihead_attention_new(NULL, "attn", 8, 0, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "MultiheadAttention 'attn': num_heads 0 (must be >= 1)");
    assert_null(volt_multihead_attention_new(NULL, "attn", -8, 2, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "embed_dim -8");
    assert_null(volt_multihead_attention_new(NULL, "attn", 8, 2,
                                             &(volt_multihead_attention_options){.dropout = 1.5}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "dropout probability 1.5 has to be between 0 and 1");
    volt_multihead_attention *m = volt_multihead_attention_new(NULL, "attn", 8, 2, NULL);
    assert_null(volt_multihead_attention_forward(m, volt_zeros(VOLT_SHAPE(2, 3, 6), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "MultiheadAttention 'attn': input f32[2,3,6] should be [B, T, 8] or [T, 8]");
    assert_null(volt_multihead_attention_forward_reference(
        m, volt_zeros(VOLT_SHAPE(1, 2, 3, 8), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "input f32[1,2,3,8]");
    assert_null(volt_multihead_attention_forward(m, volt_zeros(VOLT_SHAPE(2, 3, 8), VOLT_F64)));
    VT_ASSERT_ERROR(
        VOLT_ERR_DTYPE,
        "MultiheadAttention 'attn': input f64[2,3,8] does not have the parameters' dtype f32");
    volt_module_free(&m->base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_mha_parameters_and_init),     VT_TEST(test_mha_matches_torch),
        VT_TEST(test_mha_fused_matches_reference), VT_TEST(test_mha_gradcheck_f64_and_unbatched),
        VT_TEST(test_mha_dropout_training_only),   VT_TEST(test_mha_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
