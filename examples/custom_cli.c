/* custom_cli.c: a program with its own model type that gets volt's whole
 * command line — fit/validate/test/predict/tune, YAML configs, overrides,
 * --help, --print-config — by registering the model with an option table
 * (the built-in datamodules come along).
 *
 *     ./custom_cli fit --model.hidden=128 --trainer.max_epochs=3
 *     ./custom_cli fit --help model
 *     ./custom_cli fit -c my.yaml --print-config
 *
 * The model: one hidden layer with a choice of activation, SGD with
 * momentum at `lr`. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <volt/volt.h>

/* ------------------------------------------------------------ the options */

typedef struct {
    int64_t hidden;
    const char *activation; /* "relu" or "tanh" */
    double lr, momentum;
} two_layer_options;

/* One row per field: key, type, offset, default (text), help, range or choices. */
static const volt_option two_layer_table[] = {
    {.name = "hidden",
     .type = VOLT_OPTION_INT,
     .offset = offsetof(two_layer_options, hidden),
     .def = "256",
     .help = "hidden units",
     .min = 1,
     .max = 65536},
    {.name = "activation",
     .type = VOLT_OPTION_CHOICE,
     .offset = offsetof(two_layer_options, activation),
     .def = "relu",
     .help = "the hidden layer's activation",
     .choices = (const char *const[]){"relu", "tanh", NULL}},
    {.name = "lr",
     .type = VOLT_OPTION_DOUBLE,
     .offset = offsetof(two_layer_options, lr),
     .def = "0.05",
     .help = "SGD learning rate",
     .min = 0,
     .max = 10},
    {.name = "momentum",
     .type = VOLT_OPTION_DOUBLE,
     .offset = offsetof(two_layer_options, momentum),
     .def = "0.9",
     .help = "SGD momentum",
     .min = 0,
     .max = 0.999},
    {0},
};

/* ------------------------------------------------------------ the module */

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
    bool tanh;
    double lr, momentum;
} two_layer;

/* x: [B, 784] (or [B, 1, 28, 28], flattened) -> logits [B, 10]. */
static volt_tensor *forward(two_layer *m, volt_tensor *x) {
    x = volt_reshape(x, 2, (int64_t[]){x->shape[0], -1});
    volt_tensor *h = volt_linear_forward(m->fc1, x);
    return volt_linear_forward(m->fc2, m->tanh ? volt_tanh(h) : volt_relu(h));
}

static volt_tensor *training_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    volt_tensor *loss = volt_cross_entropy(forward((two_layer *)self, b->x), b->y);
    volt_log(step, "train_loss", loss, VOLT_LOG_PROG_BAR);
    return loss;
}

static volt_tensor *eval_step(volt_module *self, volt_batch *b, volt_step *step, const char *loss,
                              const char *acc) {
    volt_tensor *logits = forward((two_layer *)self, b->x);
    volt_log(step, loss, volt_cross_entropy(logits, b->y), VOLT_LOG_PROG_BAR);
    volt_log(step, acc, volt_accuracy(logits, b->y), VOLT_LOG_PROG_BAR);
    return NULL;
}
static volt_tensor *validation_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    return eval_step(self, b, step, "val_loss", "val_acc");
}
static volt_tensor *test_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    return eval_step(self, b, step, "test_loss", "test_acc");
}
static volt_tensor *predict_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    (void)step;
    return forward((two_layer *)self, b->x);
}

/* Used unless the config has an optimizer: section. */
static volt_status configure_optimizers(volt_module *self, volt_optim_setup *setup) {
    two_layer *m = (two_layer *)self;
    volt_sgd_options o = {.lr = m->lr, .momentum = m->momentum > 0 ? m->momentum : VOLT_OPTIM_ZERO};
    return volt_optim_setup_add(setup, volt_sgd_new(volt_module_parameters(self), &o), NULL,
                                VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops two_layer_ops = {
    .name = "two_layer",
    .training_step = training_step,
    .validation_step = validation_step,
    .test_step = test_step,
    .predict_step = predict_step,
    .configure_optimizers = configure_optimizers,
};

/* The struct's size, so volt_module_free frees it whole. */
static const volt_module_class two_layer_class = {.type_name = "TwoLayer",
                                                  .size = sizeof(two_layer)};

/* The registry's constructor: options filled from the config. */
static volt_module *two_layer_new(const void *options) {
    const two_layer_options *o = options;
    two_layer *m = (two_layer *)volt_module_new(NULL, NULL, &two_layer_class);
    if (!m) return NULL;
    m->base.ops = &two_layer_ops;
    m->tanh = strcmp(o->activation, "tanh") == 0;
    m->lr = o->lr;
    m->momentum = o->momentum;
    m->fc1 = volt_linear_new(&m->base, "fc1", 784, o->hidden);
    m->fc2 = volt_linear_new(&m->base, "fc2", o->hidden, 10);
    volt_module_set_hparam_int(&m->base, "hidden", o->hidden);
    volt_module_set_hparam_string(&m->base, "activation", o->activation);
    if (!m->fc1 || !m->fc2) {
        volt_module_free(&m->base);
        return NULL;
    }
    return &m->base;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
    static const volt_cli_class models[] = {
        {"two_layer", "one hidden layer, relu or tanh, SGD", two_layer_table,
         sizeof(two_layer_options), two_layer_new, NULL},
    };
    const volt_cli_registry *builtin = volt_cli_builtin_registry();
    volt_cli_registry registry = {
        .prog = "custom_cli",
        .models = models,
        .n_models = 1,
        .datamodules = builtin->datamodules, /* fashion-mnist (the default), csv */
        .n_datamodules = builtin->n_datamodules,
    };
    return volt_cli_main(argc, argv, &registry);
}
