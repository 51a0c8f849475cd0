/* cnn.c: the built-in convolutional classifier — two blocks of Conv2d 3x3
 * (padding 1, no bias: the batch norm's shift replaces it), BatchNorm2d,
 * ReLU and 2x2 max pooling, then Dropout, Linear(2 channels * (size/4)^2,
 * hidden), ReLU, Dropout, Linear(hidden, num_classes). Input
 * [B, in_channels, image_size, image_size] (or those pixels as rows). */
#include <stdio.h>

#include "train/models/models_impl.h"

typedef struct {
    volt_conv2d_layer *conv;
    volt_batch_norm2d *bn;
    volt_max_pool2d_layer *pool;
} conv_block;

typedef struct {
    volt_classifier c;
    conv_block block[2];
    volt_flatten_layer *flatten;
    volt_dropout_layer *drop;
    volt_linear *fc1, *fc2;
} cnn;

/* relu(bn(conv(x))) pooled; ReLU and max pooling commute (both monotone),
 * so the ReLU runs after the pooling, on a quarter of the values. */
static volt_tensor *block_forward(conv_block *b, const volt_tensor *x) {
    volt_tensor *h = volt_module_forward(&b->bn->base, volt_module_forward(&b->conv->base, x));
    return volt_relu(volt_module_forward(&b->pool->base, h));
}

static volt_tensor *cnn_forward(volt_module *self, const volt_tensor *x) {
    cnn *m = (cnn *)self;
    volt_tensor *h = block_forward(&m->block[0], volt_classifier_input(&m->c, x));
    h = volt_module_forward(&m->flatten->base, block_forward(&m->block[1], h));
    h = volt_module_forward(&m->fc1->base, volt_module_forward(&m->drop->base, h));
    h = volt_module_forward(&m->drop->base, volt_relu(h));
    return volt_module_forward(&m->fc2->base, h);
}

static const volt_module_ops cnn_ops = VOLT_CLASSIFIER_OPS("cnn", cnn_forward);
static const volt_module_class cnn_class = {
    .type_name = "CNN", .forward = cnn_forward, .size = sizeof(cnn)};

volt_cnn_options volt_cnn_defaults(void) {
    return (volt_cnn_options){.in_channels = 1,
                              .image_size = 28,
                              .channels = 32,
                              .hidden = 128,
                              .num_classes = 10,
                              .dropout = 0.25,
                              .lr = 1e-3};
}

static volt_status check(const volt_cnn_options *o) {
    if (volt_model_check_int("cnn", "in_channels", o->in_channels, 1) != VOLT_OK ||
        volt_model_check_int("cnn", "image_size", o->image_size, 4) != VOLT_OK ||
        volt_model_check_int("cnn", "channels", o->channels, 1) != VOLT_OK ||
        volt_model_check_int("cnn", "hidden", o->hidden, 1) != VOLT_OK ||
        volt_model_check_int("cnn", "num_classes", o->num_classes, 2) != VOLT_OK ||
        volt_model_check_prob("cnn", "dropout", o->dropout) != VOLT_OK ||
        volt_model_check_lr("cnn", o->lr, o->weight_decay) != VOLT_OK)
        return volt_error_status();
    return VOLT_OK;
}

static volt_status record_hparams(volt_module *m, const volt_cnn_options *o) {
    volt_status st = volt_module_set_hparam_int(m, "in_channels", o->in_channels);
    if (st == VOLT_OK) st = volt_module_set_hparam_int(m, "image_size", o->image_size);
    if (st == VOLT_OK) st = volt_module_set_hparam_int(m, "channels", o->channels);
    if (st == VOLT_OK) st = volt_module_set_hparam_int(m, "hidden", o->hidden);
    if (st == VOLT_OK) st = volt_module_set_hparam_int(m, "num_classes", o->num_classes);
    if (st == VOLT_OK) st = volt_module_set_hparam_double(m, "dropout", o->dropout);
    if (st == VOLT_OK) st = volt_module_set_hparam_double(m, "lr", o->lr);
    if (st == VOLT_OK) st = volt_module_set_hparam_double(m, "weight_decay", o->weight_decay);
    return st;
}

static bool make_block(cnn *m, int i, int64_t in, int64_t out) {
    char conv[8], bn[8], pool[8];
    snprintf(conv, sizeof conv, "conv%d", i + 1);
    snprintf(bn, sizeof bn, "bn%d", i + 1);
    snprintf(pool, sizeof pool, "pool%d", i + 1);
    conv_block *b = &m->block[i];
    b->conv = volt_conv2d_layer_new(&m->c.base, conv, in, out, 3, 3,
                                    &(volt_conv_options){.padding = {1, 1}, .no_bias = true});
    b->bn = volt_batch_norm2d_new(&m->c.base, bn, out, NULL);
    b->pool = volt_max_pool2d_layer_new(&m->c.base, pool, 2, 2, NULL);
    return b->conv && b->bn && b->pool;
}

volt_module *volt_cnn_new(const volt_cnn_options *opt) {
    volt_cnn_options o = opt ? *opt : volt_cnn_defaults();
    if (check(&o) != VOLT_OK) return NULL;
    cnn *m = (cnn *)volt_classifier_new(&cnn_class, &cnn_ops, o.lr, o.weight_decay, 3,
                                        (int64_t[]){o.in_channels, o.image_size, o.image_size});
    if (!m) return NULL;
    int64_t side = o.image_size / 2 / 2; /* after two 2x2 poolings (floor) */
    bool ok =
        make_block(m, 0, o.in_channels, o.channels) && make_block(m, 1, o.channels, 2 * o.channels);
    if (ok) {
        m->flatten = volt_flatten_layer_new(&m->c.base, "flatten", 1, -1);
        m->drop = volt_dropout_layer_new(&m->c.base, "dropout", o.dropout);
        m->fc1 = volt_linear_new(&m->c.base, "fc1", 2 * o.channels * side * side, o.hidden);
        m->fc2 = volt_linear_new(&m->c.base, "fc2", o.hidden, o.num_classes);
        ok = m->flatten && m->drop && m->fc1 && m->fc2;
    }
    if (!ok || record_hparams(&m->c.base, &o) != VOLT_OK) {
        volt_module_free(&m->c.base);
        return NULL;
    }
    return &m->c.base;
}
