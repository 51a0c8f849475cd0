/* test_overfit.c: an MLP and a small CNN built from volt's layers overfit the
 * first 256 images of the real Fashion-MNIST training set
 * (/usr/share/datasets/fashion-mnist) to 100% training accuracy with Adam,
 * full batch, seeded, within a fixed budget of steps, and the cross-entropy
 * falls below a small value. The accuracy is measured again at the end with
 * the trained weights in eval mode under no-grad.
 *
 *   MLP: Flatten, Linear 784->128, ReLU, Linear 128->10
 *   CNN: Conv2d 1->8 3x3 pad 1, ReLU, MaxPool2d 2, Conv2d 8->16 3x3 pad 1,
 *        ReLU, MaxPool2d 2, Flatten, Linear 784->10
 *
 * ReLU is an op in volt (volt_relu), not a layer: a three-line layer class
 * below wraps it so both models are plain Sequentials. */
#include "volt_test.h"

#include <stdio.h>
#include <time.h>

#include <volt/data.h>
#include <volt/nn.h>
#include <volt/optim.h>

#define N_IMAGES 256
#define LOSS_TARGET 0.05

/* ------------------------------------------------------------ ReLU layer */

static volt_tensor *relu_forward(volt_module *self, const volt_tensor *x) {
    (void)self;
    return volt_relu(x);
}

static const volt_module_class relu_class = {"ReLU", relu_forward, NULL, sizeof(volt_module)};

static void add(volt_sequential *seq, void *layer) {
    assert_non_null(layer);
    assert_int_equal(volt_sequential_append(seq, (volt_module *)layer), VOLT_OK);
}

static void add_relu(volt_sequential *seq) { add(seq, volt_module_new(NULL, "relu", &relu_class)); }

/* ------------------------------------------------------------ models */

static volt_sequential *make_mlp(void) {
    volt_sequential *seq = volt_sequential_new(NULL, "mlp");
    assert_non_null(seq);
    add(seq, volt_flatten_layer_new(NULL, "flatten", 1, -1));
    add(seq, volt_linear_new(NULL, "fc1", 784, 128));
    add_relu(seq);
    add(seq, volt_linear_new(NULL, "fc2", 128, 10));
    return seq;
}

static volt_sequential *make_cnn(void) {
    volt_sequential *seq = volt_sequential_new(NULL, "cnn");
    assert_non_null(seq);
    volt_conv_options pad1 = {.padding = {1, 1}};
    add(seq, volt_conv2d_layer_new(NULL, "conv1", 1, 8, 3, 3, &pad1));
    add_relu(seq);
    add(seq, volt_max_pool2d_layer_new(NULL, "pool1", 2, 2, NULL));
    add(seq, volt_conv2d_layer_new(NULL, "conv2", 8, 16, 3, 3, &pad1));
    add_relu(seq);
    add(seq, volt_max_pool2d_layer_new(NULL, "pool2", 2, 2, NULL));
    add(seq, volt_flatten_layer_new(NULL, "flatten", 1, -1));
    add(seq, volt_linear_new(NULL, "fc", 784, 10));
    return seq;
}

/* ------------------------------------------------------------ training */

/* The first N_IMAGES training images ("x" f32 [N, 1, 28, 28] in [0, 1]) and
 * labels ("y" i64 [N]), in the current scope. */
static void load_images(volt_batch *b) {
    volt_dataset *ds = volt_idx_dataset_new(VOLT_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz",
                                            VOLT_FASHION_MNIST_DIR "/train-labels-idx1-ubyte.gz");
    if (!ds) fail_msg("Fashion-MNIST: %s", volt_error_message());
    int64_t idx[N_IMAGES];
    for (int64_t i = 0; i < N_IMAGES; i++) idx[i] = i;
    assert_int_equal(volt_dataset_get_batch(ds, idx, N_IMAGES, b), VOLT_OK);
    volt_dataset_free(ds);
    VT_ASSERT_SHAPE(b->x, N_IMAGES, 1, 28, 28);
    VT_ASSERT_SHAPE(b->y, N_IMAGES);
    int64_t counts[10] = {0};
    for (int64_t i = 0; i < N_IMAGES; i++) counts[(int)volt_tensor_get_flat(b->y, i)]++;
    for (int c = 0; c < 10; c++) assert_true(counts[c] > 0); /* every class is there */
}

/* Fraction of rows of logits [N, 10] whose argmax is the label. */
static double accuracy(const volt_tensor *logits, const volt_tensor *y) {
    int64_t n = logits->shape[0], k = logits->shape[1], right = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (volt_tensor_get_flat(logits, i * k + j) >
                volt_tensor_get_flat(logits, i * k + best))
                best = j;
        right += best == (int64_t)volt_tensor_get_flat(y, i);
    }
    return (double)right / (double)n;
}

/* Trains `model` full batch with Adam until the accuracy is 100% and the loss
 * below LOSS_TARGET (judged on a forward before each step); asserts it
 * happens within max_steps. */
static void overfit(const char *what, volt_sequential *model, double lr, int max_steps) {
    volt_batch b;
    load_images(&b);
    volt_optimizer *opt =
        volt_adam_new(volt_module_parameters(&model->base), &(volt_adam_options){.lr = lr});
    assert_non_null(opt);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int step = 0;
    double loss_value = 1e9, acc = 0, first_loss = 0;
    for (;;) {
        volt_scope_begin();
        volt_tensor *logits = volt_sequential_forward(model, b.x);
        volt_tensor *loss = logits ? volt_cross_entropy(logits, b.y) : NULL;
        if (!loss) fail_msg("%s: step %d: %s", what, step, volt_error_message());
        loss_value = volt_tensor_item(loss);
        acc = accuracy(logits, b.y);
        if (step == 0) first_loss = loss_value;
        if (step == max_steps || (acc == 1.0 && loss_value < LOSS_TARGET)) {
            volt_scope_end(); /* done: these weights are the ones judged */
            break;
        }
        volt_optimizer_zero_grad(opt);
        assert_int_equal(volt_backward(loss), VOLT_OK);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        volt_scope_end();
        step++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("%s: %d steps (loss %.3f -> %.4f, accuracy %.1f%%), %.2f s\n", what, step, first_loss,
           loss_value, 100 * acc, secs);
    if (acc < 1.0 || loss_value >= LOSS_TARGET)
        fail_msg("%s: after %d steps accuracy %.4f, loss %.4f (want 1 and < %g)", what, step, acc,
                 loss_value, LOSS_TARGET);
    assert_true(first_loss > 1.5); /* it started near ln 10 */

    /* The trained weights, in eval mode, without autograd. */
    volt_module_train(&model->base, false);
    VOLT_NO_GRAD {
        volt_tensor *logits = volt_sequential_forward(model, b.x);
        acc = logits ? accuracy(logits, b.y) : 0;
    }
    VT_ASSERT_NO_ERROR();
    if (acc != 1.0) fail_msg("%s: accuracy %.4f in eval mode", what, acc);

    volt_optimizer_free(opt);
    volt_module_free(&model->base);
    volt_batch_free(&b);
}

static void test_mlp_overfits(void **state) {
    (void)state;
    volt_seed_everything(1);
    overfit("MLP", make_mlp(), 1e-2, 150);
}

static void test_cnn_overfits(void **state) {
    (void)state;
    volt_seed_everything(1);
    overfit("CNN", make_cnn(), 3e-2, 150);
}

int main(void) {
    const struct CMUnitTest tests[] = {VT_TEST(test_mlp_overfits), VT_TEST(test_cnn_overfits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
