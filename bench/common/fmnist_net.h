/* fmnist_net.h: the two Fashion-MNIST models of issue 9 as volt modules,
 * shared by bench/compare (CPU, against PyTorch and Lightning) and bench/gpu
 * (the same CNN on a GPU). Header only, like mapped_blas.h:
 *
 *   mlp: Linear 784->512, ReLU, Linear 512->256, ReLU, Linear 256->10;
 *        SGD lr 0.05 momentum 0.9
 *   cnn: Conv2d 1->32 3x3 pad 1, ReLU, MaxPool 2; Conv2d 32->64 3x3 pad 1,
 *        ReLU, MaxPool 2; Linear 3136->128, ReLU; Linear 128->10 (each
 *        convolution, its ReLU and its pooling as volt's fused
 *        conv2d_relu_max_pool2x2 layer call);
 *        SGD lr 0.02 momentum 0.9
 *
 * training_step logs train_loss (prog_bar) and notes the wall-clock time of
 * the first step; test_step logs test_acc. */
#ifndef VOLT_BENCH_FMNIST_NET_H
#define VOLT_BENCH_FMNIST_NET_H

#include <string.h>
#include <time.h>

#include <volt/volt.h>

static double wall_unix(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    volt_module base;
    bool cnn;
    double lr;
    volt_linear *fc1, *fc2, *fc3;
    volt_conv2d_layer *conv1, *conv2;
    volt_max_pool2d_layer *pool;
    double first_step_unix; /* 0 until the first training_step */
} net;

static volt_tensor *mlp_forward(net *m, const volt_tensor *x) {
    volt_tensor *h = volt_relu(volt_linear_forward(m->fc1, x));
    h = volt_relu(volt_linear_forward(m->fc2, h));
    return volt_linear_forward(m->fc3, h);
}

static volt_tensor *cnn_forward(net *m, const volt_tensor *x) {
    /* pool(relu(conv(x))) as one fused op (volt_conv2d_relu_max_pool2x2,
     * m->pool's 2x2 window): the same values; the first block runs as one
     * pass that never stores the convolution's output, the second as
     * conv2d_relu (the ReLU on the convolution's output, in place) and
     * max_pool2d */
    volt_tensor *h = volt_conv2d_relu_max_pool2x2_layer_forward(m->conv1, x);
    h = volt_conv2d_relu_max_pool2x2_layer_forward(m->conv2, h);
    h = volt_flatten(h, 1, -1);
    h = volt_relu(volt_linear_forward(m->fc1, h));
    return volt_linear_forward(m->fc2, h);
}

static volt_tensor *net_forward(net *m, const volt_tensor *x) {
    return m->cnn ? cnn_forward(m, x) : mlp_forward(m, x);
}

static volt_tensor *training_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    net *m = (net *)self;
    if (m->first_step_unix == 0) m->first_step_unix = wall_unix();
    volt_tensor *loss = volt_cross_entropy(net_forward(m, b->x), b->y);
    volt_log(s, "train_loss", loss, VOLT_LOG_PROG_BAR);
    return loss;
}

static volt_tensor *test_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    volt_log(s, "test_acc", volt_accuracy(net_forward((net *)self, b->x), b->y), 0);
    return NULL;
}

static volt_status configure(volt_module *self, volt_optim_setup *o) {
    net *m = (net *)self;
    volt_optimizer *opt = volt_sgd_new(volt_module_parameters(self),
                                       &(volt_sgd_options){.lr = m->lr, .momentum = 0.9});
    return volt_optim_setup_add(o, opt, NULL, VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops net_ops = {.name = "compare",
                                        .training_step = training_step,
                                        .test_step = test_step,
                                        .configure_optimizers = configure};

static bool net_init(net *m, bool cnn) {
    memset(m, 0, sizeof *m);
    volt_module_init(&m->base, &net_ops);
    m->cnn = cnn;
    if (!cnn) {
        m->lr = 0.05;
        m->fc1 = volt_linear_new(&m->base, "fc1", 784, 512);
        m->fc2 = volt_linear_new(&m->base, "fc2", 512, 256);
        m->fc3 = volt_linear_new(&m->base, "fc3", 256, 10);
        return m->fc1 && m->fc2 && m->fc3;
    }
    m->lr = 0.02;
    volt_conv_options pad1 = {.padding = {1, 1}};
    m->conv1 = volt_conv2d_layer_new(&m->base, "conv1", 1, 32, 3, 3, &pad1);
    m->conv2 = volt_conv2d_layer_new(&m->base, "conv2", 32, 64, 3, 3, &pad1);
    m->pool = volt_max_pool2d_layer_new(&m->base, "pool", 2, 2, NULL);
    m->fc1 = volt_linear_new(&m->base, "fc1", 64 * 7 * 7, 128);
    m->fc2 = volt_linear_new(&m->base, "fc2", 128, 10);
    return m->conv1 && m->conv2 && m->pool && m->fc1 && m->fc2;
}

#endif
