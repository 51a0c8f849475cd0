/* classifier.c: what the built-in classifiers share — the input shape check
 * (images or flat rows), the training/validation/test/predict steps with
 * their logged metrics, the default optimizer, the summary's example input,
 * and option checks. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/models/models_impl.h"

volt_classifier *volt_classifier_new(const volt_module_class *cls, const volt_module_ops *ops,
                                     double lr, double weight_decay, int item_ndim,
                                     const int64_t *item_shape) {
    volt_classifier *m = (volt_classifier *)volt_module_new(NULL, NULL, cls);
    if (!m) return NULL;
    m->base.ops = ops;
    m->lr = lr;
    m->weight_decay = weight_decay;
    m->item_ndim = item_ndim;
    memcpy(m->item_shape, item_shape, (size_t)item_ndim * sizeof *item_shape);
    return m;
}

static int64_t item_numel(const volt_classifier *m) {
    int64_t n = 1;
    for (int d = 0; d < m->item_ndim; d++) n *= m->item_shape[d];
    return n;
}

static bool same_item(const volt_classifier *m, const volt_tensor *x) {
    if (x->ndim != m->item_ndim + 1) return false;
    if (m->any_hw) return x->shape[1] == m->item_shape[0] && x->shape[2] > 0 && x->shape[3] > 0;
    for (int d = 0; d < m->item_ndim; d++)
        if (x->shape[d + 1] != m->item_shape[d]) return false;
    return true;
}

static void expected_str(const volt_classifier *m, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[B");
    for (int d = 0; d < m->item_ndim && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, ", %lld", (long long)m->item_shape[d]);
    if (n < size && m->any_hw)
        snprintf(buf + n, size - n, "] (any H, W) or [B, %lld]", (long long)item_numel(m));
    else if (n < size && m->item_ndim > 1)
        snprintf(buf + n, size - n, "] or [B, %lld]", (long long)item_numel(m));
    else if (n < size)
        snprintf(buf + n, size - n, "] (or images of %lld pixels)", (long long)item_numel(m));
}

const volt_tensor *volt_classifier_input(volt_classifier *m, const volt_tensor *x) {
    if (!x || same_item(m, x)) return x;
    int64_t b = x->ndim >= 2 ? x->shape[0] : 0;
    if (b > 0 && volt_tensor_numel(x) == b * item_numel(m)) {
        /* rows of pixels as images, or images as rows */
        int64_t shape[4] = {b, m->item_shape[0], m->item_shape[1], m->item_shape[2]};
        if (m->item_ndim == 1 || x->ndim == 2) return volt_reshape(x, m->item_ndim + 1, shape);
    }
    char got[64], want[64];
    expected_str(m, want, sizeof want);
    volt_error_set(VOLT_ERR_SHAPE, "%s: input %s does not fit the model (expected %s)",
                   m->base.ops->name, volt_shape_str(x, got, sizeof got), want);
    return NULL;
}

/* ----------------------------------------------------------------- steps */

static volt_tensor *logits_of(volt_module *self, const volt_batch *b) {
    if (!b->x)
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: the batch has no field 'x'",
                       self->ops->name);
    return b->x ? self->ops->forward(self, b->x) : NULL;
}

static volt_tensor *check_target(volt_module *self, const volt_batch *b) {
    if (!b->y)
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: the batch has no field 'y' (class labels)",
                       self->ops->name);
    return b->y;
}

volt_tensor *volt_classifier_training_step(volt_module *self, volt_batch *b, int64_t i,
                                           volt_step *step) {
    (void)i;
    volt_tensor *y = check_target(self, b);
    volt_tensor *loss = y ? volt_cross_entropy(logits_of(self, b), y) : NULL;
    if (!loss || volt_log(step, "train_loss", loss, VOLT_LOG_PROG_BAR) != VOLT_OK) return NULL;
    return loss;
}

/* Logs <stage>_loss and <stage>_acc; returns NULL (no output). */
static volt_tensor *eval_step(volt_module *self, volt_batch *b, volt_step *step,
                              const char *stage) {
    volt_tensor *y = check_target(self, b);
    volt_tensor *logits = y ? logits_of(self, b) : NULL;
    volt_tensor *loss = volt_cross_entropy(logits, y);
    volt_tensor *acc = volt_accuracy(logits, y);
    if (!loss || !acc) return NULL;
    char loss_name[32], acc_name[32];
    snprintf(loss_name, sizeof loss_name, "%s_loss", stage);
    snprintf(acc_name, sizeof acc_name, "%s_acc", stage);
    /* sync_dist: under ddp each rank sees a shard; the metrics cover all */
    unsigned flags = VOLT_LOG_PROG_BAR | VOLT_LOG_SYNC_DIST;
    if (volt_log(step, loss_name, loss, flags) == VOLT_OK) volt_log(step, acc_name, acc, flags);
    return NULL;
}

volt_tensor *volt_classifier_validation_step(volt_module *self, volt_batch *b, int64_t i,
                                             volt_step *step) {
    (void)i;
    return eval_step(self, b, step, "val");
}

volt_tensor *volt_classifier_test_step(volt_module *self, volt_batch *b, int64_t i,
                                       volt_step *step) {
    (void)i;
    return eval_step(self, b, step, "test");
}

volt_tensor *volt_classifier_predict_step(volt_module *self, volt_batch *b, int64_t i,
                                          volt_step *step) {
    (void)i;
    (void)step;
    return logits_of(self, b);
}

/* Adam with L2 weight decay added to the gradient (torch.optim.Adam's
 * weight_decay), at a constant lr; the CLI's optimizer and lr_scheduler
 * sections replace it. */
volt_status volt_classifier_configure_optimizers(volt_module *self, volt_optim_setup *setup) {
    volt_classifier *m = (volt_classifier *)self;
    volt_optimizer *adam =
        volt_adam_new(volt_module_parameters(self),
                      &(volt_adam_options){.lr = m->lr, .weight_decay = m->weight_decay});
    if (!adam) return volt_error_status();
    return volt_optim_setup_add(setup, adam, NULL, VOLT_INTERVAL_EPOCH);
}

volt_tensor *volt_classifier_example_input(volt_module *self) {
    volt_classifier *m = (volt_classifier *)self;
    int64_t shape[4] = {1, m->item_shape[0], m->item_shape[1], m->item_shape[2]};
    return volt_zeros(m->item_ndim + 1, shape, VOLT_F32);
}

/* --------------------------------------------------------------- options */

volt_status volt_model_check_int(const char *model, const char *field, int64_t value, int64_t min) {
    if (value >= min) return VOLT_OK;
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s must be >= %lld (got %lld)", model,
                          field, (long long)min, (long long)value);
}

volt_status volt_model_check_prob(const char *model, const char *field, double value) {
    if (value >= 0 && value < 1) return VOLT_OK;
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s must be in [0, 1) (got %g)", model,
                          field, value);
}

volt_status volt_model_check_lr(const char *model, double lr, double weight_decay) {
    if (!(lr > 0) || !isfinite(lr))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: lr must be a finite number > 0 (got %g)", model, lr);
    if (!(weight_decay >= 0) || !isfinite(weight_decay))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: weight_decay must be a finite number >= 0 (got %g)", model,
                              weight_decay);
    return VOLT_OK;
}
