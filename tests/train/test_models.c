/* test_models.c: the built-in models (mlp, cnn, resnet) — output shapes on
 * images and on rows, parameter counts equal to the PyTorch equivalents'
 * (formulas and hand-computed defaults), state-dict names, float64
 * gradient checks through tiny instances, a short fit on a Fashion-MNIST
 * subset whose validation loss falls (with hparams.yaml, test metrics and
 * predictions), and the refusals of bad options and inputs. */
#include "train_fixture.h"

/* ------------------------------------------------- parameter counts */
/* sum(p.numel() for p in model.parameters()) of the PyTorch modules:
 *
 * mlp:    nn.Sequential(nn.Flatten(), nn.Linear(in, h), nn.ReLU(), nn.Dropout(p),
 *                       nn.Linear(h, k))
 * cnn:    nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), ReLU,
 *         MaxPool2d(2), nn.Conv2d(c, 2c, 3, padding=1, bias=False),
 *         nn.BatchNorm2d(2c), ReLU, MaxPool2d(2), Flatten, Dropout,
 *         nn.Linear(2c * (s // 4)^2, h), ReLU, Dropout, nn.Linear(h, k)
 * resnet: conv1 = nn.Conv2d(c_in, w, 3, padding=1, bias=False), bn1, then
 *         torchvision's BasicBlock (conv3x3 no bias, BN, ReLU, conv3x3, BN,
 *         downsample = conv1x1 no bias + BN when the shape changes) in
 *         layer1..3 of widths w, 2w, 4w, AdaptiveAvgPool2d(1), nn.Linear(4w, k) */

static int64_t mlp_count(int64_t in, int64_t h, int64_t k) { return in * h + h + h * k + k; }

static int64_t cnn_count(int64_t c_in, int64_t s, int64_t c, int64_t h, int64_t k) {
    int64_t side = s / 2 / 2;
    return 9 * c_in * c + 2 * c          /* conv1, bn1 */
           + 9 * c * 2 * c + 2 * 2 * c   /* conv2, bn2 */
           + 2 * c * side * side * h + h /* fc1 */
           + h * k + k;                  /* fc2 */
}

static int64_t block_count(int64_t cin, int64_t cout, bool down) {
    return 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout +
           (down ? cin * cout + 2 * cout : 0);
}

static int64_t resnet_count(int64_t c_in, int64_t w, int64_t blocks, int64_t k) {
    int64_t n = 9 * c_in * w + 2 * w + 4 * w * k + k; /* stem, fc */
    for (int s = 0; s < 3; s++) {
        int64_t out = w << s, in = s == 0 ? w : out / 2;
        n += block_count(in, out, s > 0);
        n += (blocks - 1) * block_count(out, out, false);
    }
    return n;
}

static void test_parameter_counts(void **state) {
    (void)state;
    /* the defaults, by hand:
     * mlp 784*256 + 256 + 256*10 + 10 = 203,530
     * cnn 9*32 + 64 + 9*32*64 + 128 + 64*7*7*128 + 128 + 128*10 + 10
     *     = 288 + 64 + 18,432 + 128 + 401,408 + 128 + 1,290 = 421,738
     * resnet 176 (stem) + 2 * 4,672 (layer1) + 14,528 + 18,560 (layer2)
     *     + 57,728 + 73,984 (layer3) + 650 (fc) = 174,970 */
    volt_module *m = volt_mlp_new(NULL);
    assert_int_equal(volt_module_num_parameters(m, false), 203530);
    assert_int_equal(mlp_count(784, 256, 10), 203530);
    volt_module_free(m);
    m = volt_cnn_new(NULL);
    assert_int_equal(volt_module_num_parameters(m, false), 421738);
    assert_int_equal(cnn_count(1, 28, 32, 128, 10), 421738);
    volt_module_free(m);
    m = volt_resnet_new(NULL);
    assert_int_equal(volt_module_num_parameters(m, false), 174970);
    assert_int_equal(resnet_count(1, 16, 2, 10), 174970);
    volt_module_free(m);

    /* other options follow the formulas */
    volt_mlp_options mo = volt_mlp_defaults();
    mo.in_features = 20, mo.hidden = 7, mo.num_classes = 3;
    m = volt_mlp_new(&mo);
    assert_int_equal(volt_module_num_parameters(m, false), mlp_count(20, 7, 3));
    volt_module_free(m);
    volt_cnn_options co = volt_cnn_defaults();
    co.in_channels = 3, co.image_size = 30, co.channels = 5, co.hidden = 9, co.num_classes = 4;
    m = volt_cnn_new(&co);
    assert_int_equal(volt_module_num_parameters(m, false), cnn_count(3, 30, 5, 9, 4));
    volt_module_free(m);
    volt_resnet_options ro = volt_resnet_defaults();
    ro.in_channels = 3, ro.width = 4, ro.blocks = 3, ro.num_classes = 5;
    m = volt_resnet_new(&ro);
    assert_int_equal(volt_module_num_parameters(m, false), resnet_count(3, 4, 3, 5));
    volt_module_free(m);
}

static bool has_key(volt_module *m, const char *name) {
    volt_state_dict *sd = volt_module_state_dict(m);
    bool found = volt_state_dict_get(sd, name) != NULL;
    volt_state_dict_free(sd);
    return found;
}

static void test_state_dict_names(void **state) {
    (void)state;
    volt_module *m = volt_resnet_new(NULL);
    const char *keys[] = {"conv1.weight",
                          "bn1.running_var",
                          "layer1.1.conv2.weight",
                          "layer2.0.downsample.0.weight",
                          "layer3.0.downsample.1.num_batches_tracked",
                          "fc.bias"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) assert_true(has_key(m, keys[i]));
    assert_false(has_key(m, "layer1.0.downsample.0.weight")); /* identity shortcut */
    assert_false(has_key(m, "conv1.bias"));                   /* no bias before batch norm */
    volt_module_free(m);
    m = volt_cnn_new(NULL);
    assert_true(has_key(m, "conv2.weight") && has_key(m, "bn2.running_mean") &&
                has_key(m, "fc1.weight") && has_key(m, "fc2.bias"));
    volt_module_free(m);
}

/* ---------------------------------------------------------- shapes */

static volt_tensor *forward(volt_module *m, int ndim, const int64_t *shape) {
    return volt_module_forward(m, volt_randn(ndim, shape, VOLT_F32, NULL));
}

static void test_output_shapes(void **state) {
    (void)state;
    volt_module *m = volt_mlp_new(NULL);
    VT_ASSERT_SHAPE(forward(m, VOLT_SHAPE(4, 784)), 4, 10);
    VT_ASSERT_SHAPE(forward(m, VOLT_SHAPE(4, 1, 28, 28)), 4, 10); /* images flattened */
    volt_module_free(m);

    m = volt_cnn_new(NULL);
    VT_ASSERT_SHAPE(forward(m, VOLT_SHAPE(3, 1, 28, 28)), 3, 10);
    VT_ASSERT_SHAPE(forward(m, VOLT_SHAPE(3, 784)), 3, 10); /* rows viewed as images */
    volt_module_free(m);
    volt_cnn_options co = volt_cnn_defaults();
    co.in_channels = 3, co.image_size = 10, co.channels = 4, co.num_classes = 5;
    m = volt_cnn_new(&co);
    VT_ASSERT_SHAPE(forward(m, VOLT_SHAPE(2, 3, 10, 10)), 2, 5);
    volt_module_free(m);

    m = volt_resnet_new(NULL);
    VT_ASSERT_SHAPE(forward(m, VOLT_SHAPE(2, 1, 28, 28)), 2, 10);
    VT_ASSERT_SHAPE(forward(m, VOLT_SHAPE(2, 1, 32, 20)), 2, 10); /* any size: global pooling */
    VT_ASSERT_SHAPE(forward(m, VOLT_SHAPE(2, 784)), 2, 10);
    /* the summary's example input */
    VT_ASSERT_SHAPE(m->ops->example_input(m), 1, 1, 28, 28);
    volt_module_free(m);
    VT_ASSERT_NO_ERROR();
}

/* The cnn in eval mode equals its layers composed as the PyTorch model does
 * them (ReLU before the pooling). */
static void test_cnn_composition(void **state) {
    (void)state;
    volt_module *m = volt_cnn_new(NULL);
    volt_module_train(m, false);
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 1, 28, 28), VOLT_F32, NULL);
    volt_tensor *h = x;
    const char *blocks[2][3] = {{"conv1", "bn1", "pool1"}, {"conv2", "bn2", "pool2"}};
    for (int b = 0; b < 2; b++) {
        h = volt_module_forward(volt_module_child(m, blocks[b][0]), h);
        h = volt_relu(volt_module_forward(volt_module_child(m, blocks[b][1]), h));
        h = volt_module_forward(volt_module_child(m, blocks[b][2]), h);
    }
    h = volt_relu(volt_module_forward(volt_module_child(m, "fc1"), volt_flatten(h, 1, -1)));
    h = volt_module_forward(volt_module_child(m, "fc2"), h);
    double want[20];
    assert_int_equal(volt_tensor_copy_to_array(h, VOLT_F64, want), VOLT_OK);
    VT_ASSERT_CLOSE(volt_module_forward(m, x), want, 20, 1e-5, 1e-6);
    volt_module_free(m);
}

/* ---------------------------------------------------- gradient checks */

/* Every floating parameter and buffer of m as float64. */
static void to_f64(volt_module *m) {
    volt_state_dict *sd = volt_module_state_dict(m);
    for (int64_t i = 0; i < sd->count; i++) {
        if (!volt_dtype_is_float(sd->tensors[i]->dtype)) continue;
        const char *name = sd->names[i], *dot = strrchr(name, '.');
        char parent[128] = "";
        memcpy(parent, name, (size_t)(dot - name));
        volt_tensor *c = NULL;
        VOLT_NO_GRAD { c = volt_to_dtype(sd->tensors[i], VOLT_F64); }
        volt_module *owner = volt_module_child(m, parent);
        assert_non_null(owner);
        assert_int_equal(volt_module_replace(owner, dot + 1, c), VOLT_OK);
    }
    volt_state_dict_free(sd);
}

static volt_tensor *model_fn(volt_tensor **in, void *ctx) {
    return volt_module_forward(ctx, in[0]);
}

/* d(logits)/d(input, every parameter) of m on x, by central differences;
 * training mode: batch norm with the batch's statistics. */
static void gradcheck_model(volt_module *m, volt_tensor *x) {
    to_f64(m);
    volt_params p = volt_module_parameters(m);
    volt_tensor *inputs[64] = {x};
    assert_true(p.count < 64);
    for (int64_t i = 0; i < p.count; i++) inputs[i + 1] = p.tensors[i];
    vt_gradcheck(model_fn, m, (int)p.count + 1, inputs, __FILE__, __LINE__);
}

static void test_gradcheck(void **state) {
    (void)state;
    volt_mlp_options mo = volt_mlp_defaults();
    mo.in_features = 6, mo.hidden = 4, mo.num_classes = 3;
    volt_module *m = volt_mlp_new(&mo);
    gradcheck_model(m, vt_leaf(VOLT_SHAPE(3, 6), 1, 1.0, 0.0));
    volt_module_free(m);

    volt_cnn_options co = volt_cnn_defaults();
    co.image_size = 4, co.channels = 2, co.hidden = 3, co.num_classes = 3, co.dropout = 0;
    m = volt_cnn_new(&co);
    gradcheck_model(m, vt_leaf(VOLT_SHAPE(3, 1, 4, 4), 2, 1.0, 0.0));
    volt_module_free(m);

    volt_resnet_options ro = volt_resnet_defaults();
    ro.width = 2, ro.blocks = 1, ro.num_classes = 3;
    m = volt_resnet_new(&ro);
    gradcheck_model(m, vt_leaf(VOLT_SHAPE(2, 1, 5, 5), 3, 1.0, 0.0));
    volt_module_free(m);
}

/* ------------------------------------------------------ a short fit */

static double validate_loss(volt_trainer *t, volt_module *m, volt_datamodule *dm, double *acc) {
    volt_metrics *r = NULL;
    assert_int_equal(volt_trainer_validate(t, m, dm, NULL, &r), VOLT_OK);
    double loss = volt_metrics_get(r, "val_loss");
    *acc = volt_metrics_get(r, "val_acc");
    volt_metrics_free(r);
    return loss;
}

static void test_short_fit(void **state) {
    (void)state;
    volt_seed_everything(3);
    volt_datamodule *dm = volt_fashion_mnist_new(
        &(volt_fashion_mnist_options){.batch_size = 64, .as_images = true, .seed = 3});
    volt_cnn_options co = volt_cnn_defaults();
    co.channels = 8, co.hidden = 32;
    volt_module *m = volt_cnn_new(&co);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    cfg.limit_train_batches = VOLT_BATCHES(40);
    cfg.limit_val_batches = VOLT_BATCHES(8);
    cfg.limit_test_batches = VOLT_BATCHES(4);
    cfg.limit_predict_batches = VOLT_BATCHES(1);
    cfg.num_sanity_val_steps = 0;
    cfg.logger = true;
    cfg.default_root_dir = fresh_dir("models_fit");
    volt_trainer *t = volt_trainer_new(&cfg);
    double acc0, acc1;
    double loss0 = validate_loss(t, m, dm, &acc0);
    assert_int_equal(volt_trainer_fit(t, m, dm, NULL), VOLT_OK);
    double loss1 = validate_loss(t, m, dm, &acc1);
    /* 40 Adam steps: from chance (loss ~ ln 10) to well above it */
    assert_true(loss0 > 1.8);
    assert_true(loss1 < 0.75 * loss0);
    assert_true(acc1 > 0.55 && acc1 > acc0 + 0.3);
    const volt_metrics *cm = volt_trainer_callback_metrics(t);
    assert_true(volt_metrics_has(cm, "val_acc") && volt_metrics_has(cm, "val_loss"));

    /* the hyperparameters reach hparams.yaml */
    char path[1200];
    assert_non_null(volt_trainer_log_dir(t));
    snprintf(path, sizeof path, "%s/hparams.yaml", volt_trainer_log_dir(t));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[512] = "";
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "channels: 8\n"));
    assert_non_null(strstr(text, "hidden: 32\n"));
    assert_non_null(strstr(text, "dropout: 0.25\n"));

    volt_metrics *r = NULL;
    assert_int_equal(volt_trainer_test(t, m, dm, NULL, &r), VOLT_OK);
    assert_true(volt_metrics_get(r, "test_acc") > 0.55);
    assert_true(volt_metrics_has(r, "test_loss"));
    volt_metrics_free(r);
    volt_predictions *pred = NULL;
    assert_int_equal(volt_trainer_predict(t, m, dm, NULL, &pred), VOLT_OK);
    assert_int_equal(pred->count, 1);
    VT_ASSERT_SHAPE(pred->items[0], 64, 10); /* logits */
    volt_predictions_free(pred);
    volt_trainer_free(t);
    volt_module_free(m);
    volt_datamodule_free(dm);
}

/* The mlp on the CSV datamodule: two features around 1000 with a spread of
 * 100 (standardised by the datamodule: without it the MLP stays at chance
 * here), the class = whether their sum is above the middle. */
static void test_mlp_on_csv(void **state) {
    (void)state;
    const char *dir = fresh_dir("models_csv");
    char path[1100];
    snprintf(path, sizeof path, "%s/blobs.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "u,v,label\n");
    for (int i = 0; i < 400; i++) {
        double u = sin(i * 1.7) * 100, v = cos(i * 2.3) * 100;
        fprintf(f, "%.3f,%.3f,%d\n", 1000 + u, 1000 + v, u + v > 0);
    }
    fclose(f);
    volt_seed_everything(5);
    volt_csv_datamodule_options o = volt_csv_datamodule_defaults();
    o.train_path = path;
    o.val_fraction = 0.25;
    o.batch_size = 50;
    o.normalize = true;
    volt_datamodule *dm = volt_csv_datamodule_new(&o);
    volt_mlp_options mo = volt_mlp_defaults();
    mo.in_features = 2, mo.hidden = 16, mo.num_classes = 2, mo.lr = 0.02;
    volt_module *m = volt_mlp_new(&mo);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 15;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, m, dm, NULL), VOLT_OK);
    assert_true(volt_metrics_get(volt_trainer_callback_metrics(t), "val_acc") > 0.9);
    volt_trainer_free(t);
    volt_module_free(m);
    volt_datamodule_free(dm);
}

/* ---------------------------------------------------------- refusals */

#define REFUSED(call, substr)                                                                      \
    do {                                                                                           \
        assert_null(call);                                                                         \
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, substr);                                        \
    } while (0)

static void test_bad_options(void **state) {
    (void)state;
    volt_mlp_options mo = volt_mlp_defaults();
    mo.hidden = 0;
    REFUSED(volt_mlp_new(&mo), "mlp: hidden must be >= 1 (got 0)");
    mo = volt_mlp_defaults();
    mo.dropout = 1;
    REFUSED(volt_mlp_new(&mo), "mlp: dropout must be in [0, 1) (got 1)");
    mo = volt_mlp_defaults();
    mo.lr = 0;
    REFUSED(volt_mlp_new(&mo), "mlp: lr must be a finite number > 0 (got 0)");

    volt_cnn_options co = volt_cnn_defaults();
    co.image_size = 3;
    REFUSED(volt_cnn_new(&co), "cnn: image_size must be >= 4 (got 3)");
    co = volt_cnn_defaults();
    co.num_classes = 1;
    REFUSED(volt_cnn_new(&co), "cnn: num_classes must be >= 2 (got 1)");
    co = volt_cnn_defaults();
    co.lr = NAN;
    REFUSED(volt_cnn_new(&co), "cnn: lr must be a finite number > 0 (got nan)");
    co = volt_cnn_defaults();
    co.weight_decay = -1;
    REFUSED(volt_cnn_new(&co), "cnn: weight_decay must be a finite number >= 0 (got -1)");

    volt_resnet_options ro = volt_resnet_defaults();
    ro.blocks = 0;
    REFUSED(volt_resnet_new(&ro), "resnet: blocks must be >= 1 (got 0)");
    ro = volt_resnet_defaults();
    ro.width = -2;
    REFUSED(volt_resnet_new(&ro), "resnet: width must be >= 1 (got -2)");
}

static void test_bad_input(void **state) {
    (void)state;
    volt_module *m = volt_cnn_new(NULL);
    assert_null(forward(m, VOLT_SHAPE(2, 3, 28, 28)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "cnn: input f32[2,3,28,28] does not fit the model (expected "
                                    "[B, 1, 28, 28] or [B, 784])");
    volt_module_free(m);
    m = volt_mlp_new(NULL);
    assert_null(forward(m, VOLT_SHAPE(2, 100)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "mlp: input f32[2,100] does not fit the model (expected "
                                    "[B, 784] (or images of 784 pixels))");
    volt_module_free(m);
    m = volt_resnet_new(NULL);
    assert_null(forward(m, VOLT_SHAPE(2, 2, 28, 28)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "expected [B, 1, 28, 28] (any H, W) or [B, 784]");
    volt_module_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_parameter_counts), VT_TEST(test_state_dict_names), VT_TEST(test_output_shapes),
        VT_TEST(test_cnn_composition),  VT_TEST(test_gradcheck),        VT_TEST(test_short_fit),
        VT_TEST(test_mlp_on_csv),       VT_TEST(test_bad_options),      VT_TEST(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
