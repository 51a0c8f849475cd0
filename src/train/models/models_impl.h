/* models_impl.h: what the built-in models (mlp.c, cnn.c, resnet.c) share,
 * implemented in classifier.c — the classifier base struct, its steps
 * (train_loss, val_loss/val_acc, test_loss/test_acc, logits from predict),
 * the default optimizer (Adam at lr with L2 weight_decay), the example input
 * for the model summary, and option checks with clear messages (gpt.c
 * uses those); and what gpt.c lends gpt_generate.c. */
#ifndef VOLT_TRAIN_MODELS_IMPL_H
#define VOLT_TRAIN_MODELS_IMPL_H

#include "volt/train.h"

/* The first member of every built-in model. The model's class forward (and
 * its ops' forward) maps a batch's x to logits [B, num_classes]. */
typedef struct {
    volt_module base;
    double lr, weight_decay;
    /* One item of the input the model expects: [F] or [C, H, W]. */
    int item_ndim;
    int64_t item_shape[3];
    bool any_hw; /* [C, H, W] items of any H and W (item_shape: the example's) */
} volt_classifier;

/* A model struct of cls->size bytes (volt_classifier first), standalone
 * (volt_module_free frees it), with `ops` for the trainer. NULL + error. */
volt_classifier *volt_classifier_new(const volt_module_class *cls, const volt_module_ops *ops,
                                     double lr, double weight_decay, int item_ndim,
                                     const int64_t *item_shape);

/* x as [B, item_shape...]: a [B, F] batch is viewed as images when F is the
 * item's size, a [B, C, H, W] batch is flattened for a [F] item; anything
 * else is an error naming the model, what it got and what it expects. */
const volt_tensor *volt_classifier_input(volt_classifier *m, const volt_tensor *x);

/* The shared volt_module_ops entries. */
volt_tensor *volt_classifier_training_step(volt_module *self, volt_batch *b, int64_t i,
                                           volt_step *step);
volt_tensor *volt_classifier_validation_step(volt_module *self, volt_batch *b, int64_t i,
                                             volt_step *step);
volt_tensor *volt_classifier_test_step(volt_module *self, volt_batch *b, int64_t i,
                                       volt_step *step);
volt_tensor *volt_classifier_predict_step(volt_module *self, volt_batch *b, int64_t i,
                                          volt_step *step);
volt_status volt_classifier_configure_optimizers(volt_module *self, volt_optim_setup *setup);
volt_tensor *volt_classifier_example_input(volt_module *self);

/* A module ops table for model `name_` whose logits come from `forward_`. */
#define VOLT_CLASSIFIER_OPS(name_, forward_)                                                       \
    {                                                                                              \
        .name = (name_), .training_step = volt_classifier_training_step,                           \
        .validation_step = volt_classifier_validation_step,                                        \
        .test_step = volt_classifier_test_step, .predict_step = volt_classifier_predict_step,      \
        .configure_optimizers = volt_classifier_configure_optimizers, .forward = (forward_),       \
        .example_input = volt_classifier_example_input,                                            \
    }

/* Option checks: VOLT_OK, or VOLT_ERR_INVALID_ARGUMENT with "<model>: <field>
 * must be ... (got ...)". */
volt_status volt_model_check_int(const char *model, const char *field, int64_t value, int64_t min);
volt_status volt_model_check_prob(const char *model, const char *field, double value);
volt_status volt_model_check_lr(const char *model, double lr, double weight_decay);

/* gpt.c's parts gpt_generate.c uses: the logits [B, V] of the last position
 * of idx [B, T] (NULL + error as volt_gpt_forward), and the model's
 * block_size and vocab_size (-1 + error for a module not from volt_gpt_new). */
volt_tensor *volt_gpt_last_logits(volt_module *gpt, const volt_tensor *idx);
int64_t volt_gpt_block_size(volt_module *gpt);
int64_t volt_gpt_vocab_size(volt_module *gpt);

#endif
