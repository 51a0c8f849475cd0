/* resnet.c: the built-in small ResNet (He et al. 2016, the CIFAR variant)
 * for 28x28 inputs — a stem (Conv2d 3x3, BatchNorm2d, ReLU), three stages
 * of `blocks` basic blocks (width, 2 width, 4 width channels; the first
 * block of stages 2 and 3 has stride 2 and a 1x1 conv + batch norm
 * shortcut), global average pooling and a linear head. Names follow
 * torchvision's: conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc. */
#include <stdio.h>

#include "train/models/models_impl.h"

/* ------------------------------------------------------------ basic block */

typedef struct {
    volt_module base;
    volt_conv2d_layer *conv1, *conv2;
    volt_batch_norm2d *bn1, *bn2;
    volt_sequential *downsample; /* NULL: the identity shortcut */
} basic_block;

/* relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) */
static volt_tensor *block_forward(volt_module *self, const volt_tensor *x) {
    basic_block *b = (basic_block *)self;
    volt_tensor *h = volt_module_forward(&b->bn1->base, volt_module_forward(&b->conv1->base, x));
    h = volt_module_forward(&b->conv2->base, volt_relu(h));
    h = volt_module_forward(&b->bn2->base, h);
    const volt_tensor *shortcut = b->downsample ? volt_module_forward(&b->downsample->base, x) : x;
    return volt_relu(volt_add(h, shortcut));
}

static const volt_module_class block_class = {
    .type_name = "BasicBlock", .forward = block_forward, .size = sizeof(basic_block)};

static volt_conv2d_layer *conv_new(volt_module *parent, const char *name, int64_t in, int64_t out,
                                   int64_t k, int64_t stride) {
    volt_conv_options o = {.stride = {stride, stride}, .padding = {k / 2, k / 2}, .no_bias = true};
    return volt_conv2d_layer_new(parent, name, in, out, k, k, &o);
}

static bool block_new(volt_module *parent, const char *name, int64_t in, int64_t out,
                      int64_t stride) {
    basic_block *b = (basic_block *)volt_module_new(parent, name, &block_class);
    if (!b) return false;
    b->conv1 = conv_new(&b->base, "conv1", in, out, 3, stride);
    b->bn1 = volt_batch_norm2d_new(&b->base, "bn1", out, NULL);
    b->conv2 = conv_new(&b->base, "conv2", out, out, 3, 1);
    b->bn2 = volt_batch_norm2d_new(&b->base, "bn2", out, NULL);
    if (!b->conv1 || !b->bn1 || !b->conv2 || !b->bn2) return false;
    if (stride == 1 && in == out) return true;
    b->downsample = volt_sequential_new(&b->base, "downsample");
    return b->downsample && conv_new(&b->downsample->base, "0", in, out, 1, stride) &&
           volt_batch_norm2d_new(&b->downsample->base, "1", out, NULL);
}

/* ----------------------------------------------------------------- model */

typedef struct {
    volt_classifier c;
    volt_conv2d_layer *conv1;
    volt_batch_norm2d *bn1;
    volt_sequential *layer[3];
    volt_adaptive_avg_pool2d_layer *avgpool;
    volt_flatten_layer *flatten;
    volt_linear *fc;
} resnet;

static volt_tensor *resnet_forward(volt_module *self, const volt_tensor *x) {
    resnet *m = (resnet *)self;
    volt_tensor *h = volt_module_forward(&m->conv1->base, volt_classifier_input(&m->c, x));
    h = volt_relu(volt_module_forward(&m->bn1->base, h));
    for (int s = 0; s < 3; s++) h = volt_module_forward(&m->layer[s]->base, h);
    h = volt_module_forward(&m->flatten->base, volt_module_forward(&m->avgpool->base, h));
    return volt_module_forward(&m->fc->base, h);
}

static const volt_module_ops resnet_ops = VOLT_CLASSIFIER_OPS("resnet", resnet_forward);
static const volt_module_class resnet_class = {
    .type_name = "ResNet", .forward = resnet_forward, .size = sizeof(resnet)};

volt_resnet_options volt_resnet_defaults(void) {
    return (volt_resnet_options){.in_channels = 1,
                                 .width = 16,
                                 .blocks = 2,
                                 .num_classes = 10,
                                 .lr = 1e-3,
                                 .weight_decay = 5e-4};
}

static volt_status check(const volt_resnet_options *o) {
    if (volt_model_check_int("resnet", "in_channels", o->in_channels, 1) != VOLT_OK ||
        volt_model_check_int("resnet", "width", o->width, 1) != VOLT_OK ||
        volt_model_check_int("resnet", "blocks", o->blocks, 1) != VOLT_OK ||
        volt_model_check_int("resnet", "num_classes", o->num_classes, 2) != VOLT_OK ||
        volt_model_check_lr("resnet", o->lr, o->weight_decay) != VOLT_OK)
        return volt_error_status();
    return VOLT_OK;
}

static volt_status record_hparams(volt_module *m, const volt_resnet_options *o) {
    volt_status st = volt_module_set_hparam_int(m, "in_channels", o->in_channels);
    if (st == VOLT_OK) st = volt_module_set_hparam_int(m, "width", o->width);
    if (st == VOLT_OK) st = volt_module_set_hparam_int(m, "blocks", o->blocks);
    if (st == VOLT_OK) st = volt_module_set_hparam_int(m, "num_classes", o->num_classes);
    if (st == VOLT_OK) st = volt_module_set_hparam_double(m, "lr", o->lr);
    if (st == VOLT_OK) st = volt_module_set_hparam_double(m, "weight_decay", o->weight_decay);
    return st;
}

static bool make_stage(resnet *m, int s, int64_t blocks, int64_t in, int64_t out) {
    char name[24];
    snprintf(name, sizeof name, "layer%d", s + 1);
    m->layer[s] = volt_sequential_new(&m->c.base, name);
    for (int64_t i = 0; m->layer[s] && i < blocks; i++) {
        snprintf(name, sizeof name, "%lld", (long long)i);
        if (!block_new(&m->layer[s]->base, name, i == 0 ? in : out, out, i == 0 && s > 0 ? 2 : 1))
            return false;
    }
    return m->layer[s] != NULL;
}

volt_module *volt_resnet_new(const volt_resnet_options *opt) {
    volt_resnet_options o = opt ? *opt : volt_resnet_defaults();
    if (check(&o) != VOLT_OK) return NULL;
    resnet *m = (resnet *)volt_classifier_new(&resnet_class, &resnet_ops, o.lr, o.weight_decay, 3,
                                              (int64_t[]){o.in_channels, 28, 28});
    if (!m) return NULL;
    m->c.any_hw = true;
    int64_t w = o.width;
    m->conv1 = conv_new(&m->c.base, "conv1", o.in_channels, w, 3, 1);
    m->bn1 = volt_batch_norm2d_new(&m->c.base, "bn1", w, NULL);
    bool ok = m->conv1 && m->bn1 && make_stage(m, 0, o.blocks, w, w) &&
              make_stage(m, 1, o.blocks, w, 2 * w) && make_stage(m, 2, o.blocks, 2 * w, 4 * w);
    if (ok) {
        m->avgpool = volt_adaptive_avg_pool2d_layer_new(&m->c.base, "avgpool", 1, 1);
        m->flatten = volt_flatten_layer_new(&m->c.base, "flatten", 1, -1);
        m->fc = volt_linear_new(&m->c.base, "fc", 4 * w, o.num_classes);
        ok = m->avgpool && m->flatten && m->fc;
    }
    if (!ok || record_hparams(&m->c.base, &o) != VOLT_OK) {
        volt_module_free(&m->c.base);
        return NULL;
    }
    return &m->c.base;
}
