/* test_conv_layers.c: the Conv1d, Conv2d, ConvTranspose2d, MaxPool2d,
 * AvgPool2d, AdaptiveAvgPool2d, BatchNorm1d and BatchNorm2d layers —
 * shapes ("same" padding included), PyTorch's default initialisation, the
 * layer against its op, float64 gradchecks through the layers (parameters
 * replaced by f64 copies), running statistics in training (momentum and the
 * cumulative average) and their use in eval mode against PyTorch, state
 * dict keys as PyTorch names them, the layer's weight cache across steps,
 * and the error paths (constructor values, rank, channels, kernel larger
 * than the padded input). */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#include "ops/cpu/dnnl_conv.h"

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, tol, ...)                                                                        \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (tol), (tol))

static volt_tensor *pattern(int ndim, const int64_t *shape, int a, int m, int off, double scale) {
    volt_tensor *t = volt_empty(ndim, shape, VOLT_F64);
    double *p = volt_tensor_data(t);
    for (int64_t i = 0; i < volt_tensor_numel(t); i++) p[i] = (double)((i * a) % m - off) * scale;
    return t;
}

static volt_tensor *f32(volt_tensor *t) { return volt_to_dtype(t, VOLT_F32); }

/* Replaces parameters and buffers `names` of m by f64 copies. */
static void to_f64(volt_module *m, const char *const *names, int n) {
    for (int i = 0; i < n; i++) {
        volt_tensor *p = volt_module_get(m, names[i]), *c = NULL;
        assert_non_null(p);
        VOLT_NO_GRAD { c = volt_to_dtype(p, VOLT_F64); }
        assert_int_equal(volt_module_replace(m, names[i], c), VOLT_OK);
    }
}

static double max_abs(const volt_tensor *t) {
    double m = 0;
    for (int64_t i = 0; i < volt_tensor_numel(t); i++)
        m = fmax(m, fabs(volt_tensor_get_flat(t, i)));
    return m;
}

static void assert_keys(volt_module *m, const char *const *keys, int n) {
    volt_state_dict *sd = volt_module_state_dict(m);
    assert_non_null(sd);
    assert_int_equal(sd->count, n);
    for (int i = 0; i < n; i++) assert_string_equal(sd->names[i], keys[i]);
    volt_state_dict_free(sd);
}

/* ----------------------------------------------------------------- conv */

static void test_conv_shapes_and_init(void **state) {
    (void)state;
    volt_conv2d_layer *c = volt_conv2d_layer_new(NULL, "conv1", 4, 8, 3, 3, NULL);
    assert_non_null(c);
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 4, 28, 28), VOLT_F32, NULL);
    VT_ASSERT_SHAPE(volt_conv2d_layer_forward(c, x), 2, 8, 26, 26);
    VT_ASSERT_SHAPE(volt_module_forward(&c->base, x), 2, 8, 26, 26);
    /* PyTorch's init: U(+-1/sqrt(fan_in)), fan_in = 4 * 3 * 3. */
    double bound = 1.0 / 6.0;
    volt_tensor *w = volt_module_get(&c->base, "weight"), *b = volt_module_get(&c->base, "bias");
    VT_ASSERT_SHAPE(w, 8, 4, 3, 3);
    assert_true(max_abs(w) <= bound && max_abs(w) > 0.8 * bound);
    assert_true(max_abs(b) <= bound && max_abs(b) > 0.1 * bound);
    const char *keys[2] = {"weight", "bias"};
    assert_keys(&c->base, keys, 2);
    volt_module_free(&c->base);

    /* "same" padding with an even kernel, stride, groups, no bias. */
    volt_conv_options o = {.padding = {VOLT_PADDING_SAME, VOLT_PADDING_SAME},
                           .dilation = {2, 1},
                           .groups = 2,
                           .no_bias = true};
    c = volt_conv2d_layer_new(NULL, "same", 4, 6, 4, 2, &o);
    VT_ASSERT_SHAPE(volt_conv2d_layer_forward(c, x), 2, 6, 28, 28);
    VT_ASSERT_SHAPE(volt_module_get(&c->base, "weight"), 6, 2, 4, 2);
    assert_null(volt_module_get(&c->base, "bias"));
    assert_keys(&c->base, keys, 1);
    volt_module_free(&c->base);

    volt_conv1d_layer *c1 = volt_conv1d_layer_new(
        NULL, "c1", 3, 5, 4, &(volt_conv_options){.stride = {2}, .padding = {1}});
    VT_ASSERT_SHAPE(volt_conv1d_layer_forward(c1, volt_randn(VOLT_SHAPE(2, 3, 11), VOLT_F32, NULL)),
                    2, 5, 5);
    VT_ASSERT_SHAPE(volt_conv1d_layer_forward(c1, volt_randn(VOLT_SHAPE(3, 11), VOLT_F32, NULL)), 5,
                    5);
    volt_module_free(&c1->base);

    volt_conv_transpose2d_layer *t = volt_conv_transpose2d_layer_new(
        NULL, "up", 4, 6, 3, 3,
        &(volt_conv_options){
            .stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}, .groups = 2});
    VT_ASSERT_SHAPE(volt_module_get(&t->base, "weight"), 4, 3, 3, 3);
    VT_ASSERT_SHAPE(
        volt_conv_transpose2d_layer_forward(t, volt_randn(VOLT_SHAPE(2, 4, 7, 7), VOLT_F32, NULL)),
        2, 6, 14, 14);
    /* fan_in of a transposed weight [in, out / g, k, k]: 3 * 9. */
    assert_true(max_abs(volt_module_get(&t->base, "bias")) <= 1.0 / sqrt(27.0));
    volt_module_free(&t->base);
    VT_ASSERT_NO_ERROR();
}

/* The layer computes its op with its own parameters, inside a parent. */
static void test_conv_layer_matches_op(void **state) {
    (void)state;
    volt_module net;
    volt_module_init(&net, NULL);
    volt_conv_options o = {.stride = {2, 1}, .padding = {1, 2}, .dilation = {1, 2}};
    volt_conv2d_layer *c = volt_conv2d_layer_new(&net, "conv", 3, 4, 3, 3, &o);
    assert_non_null(volt_module_get(&net, "conv.weight"));
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 3, 9, 8), VOLT_F32, NULL);
    volt_tensor *y = volt_conv2d_layer_forward(c, x);
    volt_tensor *ref =
        volt_conv2d(x, volt_module_get(&net, "conv.weight"), volt_module_get(&net, "conv.bias"),
                    o.stride, o.padding, o.dilation, 1);
    assert_true(max_abs(volt_sub(y, ref)) == 0.0);
    volt_module_free(&net);
    VT_ASSERT_NO_ERROR();
}

/* A layer keeps its reordered weights between steps until the weight
 * changes (an in-place update, as an optimizer step makes). */
static void test_conv_weight_cache(void **state) {
    (void)state;
    volt_conv2d_layer *c =
        volt_conv2d_layer_new(NULL, "conv2", 32, 64, 3, 3, &(volt_conv_options){.padding = {1, 1}});
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 32, 8, 8), VOLT_F32, NULL);
    int64_t r0 = volt_dnnl_weight_reorders();
    volt_tensor *y1 = volt_conv2d_layer_forward(c, x);
    volt_tensor *y2 = volt_conv2d_layer_forward(c, x);
    assert_int_equal(volt_dnnl_weight_reorders(), r0 + 1);
    assert_true(max_abs(volt_sub(y1, y2)) == 0.0);
    volt_tensor *w = volt_module_get(&c->base, "weight");
    VOLT_NO_GRAD { assert_non_null(volt_mul_scalar_(w, 0.5)); }
    volt_tensor *y3 = volt_conv2d_layer_forward(c, x);
    assert_int_equal(volt_dnnl_weight_reorders(), r0 + 2);
    volt_tensor *b = volt_reshape(volt_module_get(&c->base, "bias"), VOLT_SHAPE(1, 64, 1, 1));
    /* y3 - b = (y1 - b) / 2 */
    volt_tensor *d = volt_sub(volt_sub(y3, b), volt_mul_scalar(volt_sub(y1, b), 0.5));
    assert_true(max_abs(d) <= 1e-5 * max_abs(y1));
    volt_module_free(&c->base);
    VT_ASSERT_NO_ERROR();
}

static volt_tensor *module_fn(volt_tensor **in, void *ctx) {
    return volt_module_forward(ctx, in[0]);
}

static void test_gradcheck_f64(void **state) {
    (void)state;
    const char *wb[2] = {"weight", "bias"};
    volt_conv2d_layer *c = volt_conv2d_layer_new(
        NULL, "c", 2, 3, 2, 3, &(volt_conv_options){.stride = {1, 2}, .padding = {1, 0}});
    to_f64(&c->base, wb, 2);
    VT_GRADCHECK(module_fn, &c->base, 3, vt_leaf(VOLT_SHAPE(2, 2, 4, 5), 1, 1.0, 0.0),
                 volt_module_get(&c->base, "weight"), volt_module_get(&c->base, "bias"));
    volt_module_free(&c->base);
    volt_conv1d_layer *c1 =
        volt_conv1d_layer_new(NULL, "c1", 2, 2, 3, &(volt_conv_options){.groups = 2});
    to_f64(&c1->base, wb, 2);
    VT_GRADCHECK(module_fn, &c1->base, 2, vt_leaf(VOLT_SHAPE(2, 2, 6), 2, 1.0, 0.0),
                 volt_module_get(&c1->base, "weight"));
    volt_module_free(&c1->base);
    volt_conv_transpose2d_layer *t = volt_conv_transpose2d_layer_new(
        NULL, "t", 2, 3, 3, 2, &(volt_conv_options){.stride = {2, 2}, .output_padding = {1, 0}});
    to_f64(&t->base, wb, 2);
    VT_GRADCHECK(module_fn, &t->base, 3, vt_leaf(VOLT_SHAPE(1, 2, 3, 3), 3, 1.0, 0.0),
                 volt_module_get(&t->base, "weight"), volt_module_get(&t->base, "bias"));
    volt_module_free(&t->base);

    volt_max_pool2d_layer *mp = volt_max_pool2d_layer_new(NULL, "mp", 2, 2, NULL);
    VT_GRADCHECK(module_fn, &mp->base, 1, vt_leaf(VOLT_SHAPE(1, 2, 4, 6), 4, 1.0, 0.0));
    volt_module_free(&mp->base);
    volt_avg_pool2d_layer *ap = volt_avg_pool2d_layer_new(
        NULL, "ap", 3, 3, &(volt_pool_options){.stride = {2, 2}, .padding = {1, 1}});
    VT_GRADCHECK(module_fn, &ap->base, 1, vt_leaf(VOLT_SHAPE(1, 2, 5, 5), 5, 1.0, 0.0));
    volt_module_free(&ap->base);
    volt_adaptive_avg_pool2d_layer *aa = volt_adaptive_avg_pool2d_layer_new(NULL, "aa", 2, 3);
    VT_GRADCHECK(module_fn, &aa->base, 1, vt_leaf_strided(VOLT_SHAPE(2, 5, 7), 6, 1.0, 0.0));
    volt_module_free(&aa->base);

    const char *bn_names[4] = {"weight", "bias", "running_mean", "running_var"};
    volt_batch_norm2d *bn = volt_batch_norm2d_new(NULL, "bn", 3, NULL);
    to_f64(&bn->base, bn_names, 4);
    volt_module_train(&bn->base, false); /* eval: running stats fixed across calls */
    VT_GRADCHECK(module_fn, &bn->base, 3, vt_leaf(VOLT_SHAPE(2, 3, 2, 2), 7, 1.0, 0.0),
                 volt_module_get(&bn->base, "weight"), volt_module_get(&bn->base, "bias"));
    volt_module_free(&bn->base);
    volt_batch_norm1d *bn1 = volt_batch_norm1d_new(
        NULL, "bn1", 2, &(volt_batch_norm_options){.no_track_running_stats = true});
    to_f64(&bn1->base, bn_names, 2);
    VT_GRADCHECK(module_fn, &bn1->base, 2, vt_leaf(VOLT_SHAPE(4, 2, 3), 8, 1.0, 0.0),
                 volt_module_get(&bn1->base, "weight"));
    volt_module_free(&bn1->base);
    VT_ASSERT_NO_ERROR();
}

/* ----------------------------------------------------------- pool layers */

static void test_pool_layers(void **state) {
    (void)state;
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 3, 28, 28), VOLT_F32, NULL);
    volt_max_pool2d_layer *mp = volt_max_pool2d_layer_new(NULL, "pool", 2, 2, NULL);
    assert_int_equal(mp->stride[0], 2);
    VT_ASSERT_SHAPE(volt_max_pool2d_layer_forward(mp, x), 2, 3, 14, 14);
    VT_ASSERT_SHAPE(volt_module_forward(&mp->base, volt_randn(VOLT_SHAPE(3, 9, 9), VOLT_F32, NULL)),
                    3, 4, 4);
    volt_module_free(&mp->base);
    volt_avg_pool2d_layer *ap = volt_avg_pool2d_layer_new(
        NULL, "avg", 3, 3,
        &(volt_pool_options){.stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true});
    assert_true(ap->count_include_pad);
    VT_ASSERT_SHAPE(volt_avg_pool2d_layer_forward(ap, x), 2, 3, 15, 15);
    volt_module_free(&ap->base);
    volt_adaptive_avg_pool2d_layer *aa = volt_adaptive_avg_pool2d_layer_new(NULL, "gap", 1, 1);
    volt_tensor *g = volt_adaptive_avg_pool2d_layer_forward(aa, x);
    VT_ASSERT_SHAPE(g, 2, 3, 1, 1);
    volt_tensor *mean = volt_mean(x, VOLT_DIMS(2, 3), true);
    assert_true(max_abs(volt_sub(g, mean)) <= 1e-5);
    volt_module_free(&aa->base);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------------ batch norm */

/* BatchNorm2d(3) (momentum 0.1, then None) on two batches x1, x2 in
 * training, then eval on x1. Expected numbers from Debian's torch 1.13 in
 * float64: x1 = pattern(7, 11, 5, 0.25), x2 = pattern(5, 9, 4, 0.5), both
 * [2, 3, 2, 2]. */
static void test_batch_norm_running_stats(void **state) {
    (void)state;
    volt_tensor *x1 = f32(pattern(VOLT_SHAPE(2, 3, 2, 2), 7, 11, 5, 0.25));
    volt_tensor *x2 = f32(pattern(VOLT_SHAPE(2, 3, 2, 2), 5, 9, 4, 0.5));
    for (int cumulative = 0; cumulative < 2; cumulative++) {
        volt_batch_norm_options o = {.momentum = cumulative ? NAN : 0.0};
        volt_batch_norm2d *bn = volt_batch_norm2d_new(NULL, "bn", 3, &o);
        assert_true(bn->eps == 1e-5 && (cumulative ? isnan(bn->momentum) : bn->momentum == 0.1));
        assert_non_null(volt_batch_norm2d_forward(bn, x1));
        assert_non_null(volt_batch_norm2d_forward(bn, x2));
        volt_tensor *nbt = volt_module_get(&bn->base, "num_batches_tracked");
        assert_int_equal(nbt->dtype, VOLT_I64);
        assert_int_equal(nbt->ndim, 0);
        assert_true(volt_tensor_item(nbt) == 2);
        volt_tensor *rm = volt_module_get(&bn->base, "running_mean");
        volt_tensor *rv = volt_module_get(&bn->base, "running_var");
        volt_module_train(&bn->base, false);
        volt_tensor *y = volt_batch_norm2d_forward(bn, x1);
        if (!cumulative) {
            EXPECT(rm, 1e-6, 0.004375, 0.0284375, -0.06);
            EXPECT(rv, 1e-6, 1.049955357, 1.077578125, 1.045535714);
            EXPECT(y, 1e-5, -1.224164849, 0.4836884529, -0.4922277194, 1.215625582, 0.213437074,
                   -0.749889635, 0.9359321057, -0.02739460329, -0.9192980534, 0.7921610886,
                   -0.185815564, -1.163792217, 0.4836884529, -0.4922277194, 1.215625582,
                   0.2397094098, -0.749889635, 0.9359321057, -0.02739460329, -0.9907213122,
                   0.7921610886, -0.185815564, -1.163792217, 0.5476669254);
        } else {
            EXPECT(rm, 1e-6, 0.03125, 0.140625, -0.3125);
            EXPECT(rv, 1e-6, 1.238839286, 1.367745536, 1.214285714);
            EXPECT(y, 1e-5, -1.151130712, 0.4211453825, -0.4772981001, 1.094977994, 0.09352200854,
                   -0.7615363552, 0.7348157814, -0.1202425824, -0.623893515, 0.9641990686,
                   0.05671759227, -0.850763884, 0.4211453825, -0.4772981001, 1.094977994,
                   0.1965345118, -0.7615363552, 0.7348157814, -0.1202425824, -0.9753009462,
                   0.9641990686, 0.05671759227, -0.850763884, 0.7373286995);
        }
        /* Eval leaves the statistics alone. */
        assert_true(volt_tensor_item(nbt) == 2);
        volt_module_free(&bn->base);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_batch_norm_options_and_keys(void **state) {
    (void)state;
    volt_batch_norm2d *bn = volt_batch_norm2d_new(NULL, "bn", 4, NULL);
    const char *all[5] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
    assert_keys(&bn->base, all, 5);
    assert_int_equal(volt_module_num_parameters(&bn->base, false), 8);
    volt_module_free(&bn->base);
    volt_batch_norm1d *na =
        volt_batch_norm1d_new(NULL, "na", 3, &(volt_batch_norm_options){.no_affine = true});
    assert_keys(&na->base, all + 2, 3);
    volt_module_free(&na->base);

    /* Without running statistics: batch statistics in eval mode too. */
    volt_batch_norm1d *nt = volt_batch_norm1d_new(
        NULL, "nt", 2, &(volt_batch_norm_options){.no_track_running_stats = true, .eps = 1e-3});
    assert_keys(&nt->base, all, 2);
    volt_module_train(&nt->base, false);
    volt_tensor *x = volt_from_array((float[]){1, 10, 3, 20}, VOLT_F32, VOLT_SHAPE(2, 2));
    volt_tensor *y = volt_batch_norm1d_forward(nt, x);
    double a = 1.0 / sqrt(1.0 + 1e-3), b = 1.0 / sqrt(25.0 + 1e-3);
    EXPECT(y, 1e-5, -a, -5 * b, a, 5 * b);
    /* [N, C, L] input. */
    VT_ASSERT_SHAPE(volt_batch_norm1d_forward(nt, volt_randn(VOLT_SHAPE(4, 2, 5), VOLT_F32, NULL)),
                    4, 2, 5);
    volt_module_free(&nt->base);
    VT_ASSERT_NO_ERROR();
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state) {
    (void)state;
    assert_null(volt_conv2d_layer_new(NULL, "conv1", 1, 32, 0, 3, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Conv2d 'conv1': kernel_size 0 (must be >= 1)");
    assert_null(
        volt_conv2d_layer_new(NULL, "conv1", 3, 32, 3, 3, &(volt_conv_options){.groups = 2}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "Conv2d 'conv1': groups 2 must divide in_channels (3) and out_channels (32)");
    assert_null(volt_conv2d_layer_new(
        NULL, "c", 3, 4, 3, 3,
        &(volt_conv_options){.stride = {2, 2}, .padding = {VOLT_PADDING_SAME, VOLT_PADDING_SAME}}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Conv2d 'c': padding 'same' needs stride 1");
    assert_null(volt_conv1d_layer_new(NULL, "c", 0, 4, 3, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Conv1d 'c': in_channels 0 (must be >= 1)");
    assert_null(
        volt_conv2d_layer_new(NULL, "c", 3, 4, 3, 3, &(volt_conv_options){.stride = {-1, 1}}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Conv2d 'c': stride -1 (must be >= 1)");
    assert_null(volt_conv_transpose2d_layer_new(NULL, "t", 3, 4, 3, 3,
                                                &(volt_conv_options){.output_padding = {1, 1}}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "ConvTranspose2d 't': output_padding 1");
    assert_null(
        volt_max_pool2d_layer_new(NULL, "p", 2, 2, &(volt_pool_options){.padding = {2, 0}}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "MaxPool2d 'p': padding 2 (must be at most half");
    assert_null(volt_batch_norm2d_new(NULL, "bn", 0, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "BatchNorm2d 'bn': num_features must be >= 1");

    volt_conv2d_layer *c = volt_conv2d_layer_new(NULL, "conv1", 1, 32, 3, 3, NULL);
    assert_null(volt_conv2d_layer_forward(c, volt_randn(VOLT_SHAPE(8, 3, 28, 28), VOLT_F32, NULL)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "Conv2d 'conv1': input f32[8,3,28,28] has 3 channels, expected 1");
    assert_null(volt_conv2d_layer_forward(c, volt_randn(VOLT_SHAPE(28, 28), VOLT_F32, NULL)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "Conv2d 'conv1': input f32[28,28] should be 4-D or 3-D");
    assert_null(volt_conv2d_layer_forward(c, volt_randn(VOLT_SHAPE(1, 1, 2, 2), VOLT_F32, NULL)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "Conv2d 'conv1': conv2d: input [1,1,2,2]: kernel 3 (dilated: "
                                    "3) larger than the padded input (2)");
    assert_null(volt_conv2d_layer_forward(c, volt_randn(VOLT_SHAPE(1, 1, 5, 5), VOLT_F64, NULL)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "Conv2d 'conv1': input f64[1,1,5,5] does not have the "
                                    "parameters' dtype f32");
    assert_null(volt_conv2d_layer_forward(c, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Conv2d 'conv1': input is NULL");
    volt_module_free(&c->base);

    volt_batch_norm2d *bn = volt_batch_norm2d_new(NULL, "bn1", 32, NULL);
    assert_null(volt_batch_norm2d_forward(bn, volt_randn(VOLT_SHAPE(8, 16, 4, 4), VOLT_F32, NULL)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "BatchNorm2d 'bn1': input f32[8,16,4,4] has 16 channels, "
                                    "expected 32");
    assert_null(volt_batch_norm2d_forward(bn, volt_randn(VOLT_SHAPE(8, 32), VOLT_F32, NULL)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "BatchNorm2d 'bn1': input f32[8,32] should be 4-D");
    assert_null(volt_batch_norm2d_forward(bn, volt_randn(VOLT_SHAPE(1, 32, 1, 1), VOLT_F32, NULL)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "BatchNorm2d 'bn1': batch_norm: input [1,32,1,1]: expected "
                                    "more than 1 value per channel when training");
    volt_module_free(&bn->base);

    volt_max_pool2d_layer *mp = volt_max_pool2d_layer_new(NULL, "pool", 5, 5, NULL);
    assert_null(
        volt_max_pool2d_layer_forward(mp, volt_randn(VOLT_SHAPE(1, 1, 3, 3), VOLT_F32, NULL)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "MaxPool2d 'pool': max_pool2d: input [1,1,3,3]: kernel 5");
    volt_module_free(&mp->base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_conv_shapes_and_init),
        VT_TEST(test_conv_layer_matches_op),
        VT_TEST(test_conv_weight_cache),
        VT_TEST(test_gradcheck_f64),
        VT_TEST(test_pool_layers),
        VT_TEST(test_batch_norm_running_stats),
        VT_TEST(test_batch_norm_options_and_keys),
        VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
