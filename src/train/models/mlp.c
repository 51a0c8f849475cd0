/* mlp.c: the built-in multilayer perceptron — Linear(in_features, hidden),
 * ReLU, Dropout, Linear(hidden, num_classes) — over rows [B, in_features]
 * (images [B, C, H, W] are flattened). */
#include "train/models/models_impl.h"

typedef struct {
    volt_classifier c;
    volt_linear *fc1, *fc2;
    volt_dropout_layer *drop;
} mlp;

static volt_tensor *mlp_forward(volt_module *self, const volt_tensor *x) {
    mlp *m = (mlp *)self;
    volt_tensor *h = volt_module_forward(&m->fc1->base, volt_classifier_input(&m->c, x));
    h = volt_module_forward(&m->drop->base, volt_relu(h));
    return volt_module_forward(&m->fc2->base, h);
}

static const volt_module_ops mlp_ops = VOLT_CLASSIFIER_OPS("mlp", mlp_forward);
static const volt_module_class mlp_class = {
    .type_name = "MLP", .forward = mlp_forward, .size = sizeof(mlp)};

volt_mlp_options volt_mlp_defaults(void) {
    return (volt_mlp_options){
        .in_features = 784, .hidden = 256, .num_classes = 10, .dropout = 0, .lr = 1e-3};
}

static volt_status check(const volt_mlp_options *o) {
    if (volt_model_check_int("mlp", "in_features", o->in_features, 1) != VOLT_OK ||
        volt_model_check_int("mlp", "hidden", o->hidden, 1) != VOLT_OK ||
        volt_model_check_int("mlp", "num_classes", o->num_classes, 2) != VOLT_OK ||
        volt_model_check_prob("mlp", "dropout", o->dropout) != VOLT_OK ||
        volt_model_check_lr("mlp", o->lr, o->weight_decay) != VOLT_OK)
        return volt_error_status();
    return VOLT_OK;
}

static volt_status record_hparams(volt_module *m, const volt_mlp_options *o) {
    volt_status st = volt_module_set_hparam_int(m, "in_features", o->in_features);
    if (st == VOLT_OK) st = volt_module_set_hparam_int(m, "hidden", o->hidden);
    if (st == VOLT_OK) st = volt_module_set_hparam_int(m, "num_classes", o->num_classes);
    if (st == VOLT_OK) st = volt_module_set_hparam_double(m, "dropout", o->dropout);
    if (st == VOLT_OK) st = volt_module_set_hparam_double(m, "lr", o->lr);
    if (st == VOLT_OK) st = volt_module_set_hparam_double(m, "weight_decay", o->weight_decay);
    return st;
}

volt_module *volt_mlp_new(const volt_mlp_options *opt) {
    volt_mlp_options o = opt ? *opt : volt_mlp_defaults();
    if (check(&o) != VOLT_OK) return NULL;
    mlp *m = (mlp *)volt_classifier_new(&mlp_class, &mlp_ops, o.lr, o.weight_decay, 1,
                                        (int64_t[]){o.in_features});
    if (!m) return NULL;
    m->fc1 = volt_linear_new(&m->c.base, "fc1", o.in_features, o.hidden);
    m->drop = volt_dropout_layer_new(&m->c.base, "dropout", o.dropout);
    m->fc2 = volt_linear_new(&m->c.base, "fc2", o.hidden, o.num_classes);
    if (!m->fc1 || !m->drop || !m->fc2 || record_hparams(&m->c.base, &o) != VOLT_OK) {
        volt_module_free(&m->c.base);
        return NULL;
    }
    return &m->c.base;
}
