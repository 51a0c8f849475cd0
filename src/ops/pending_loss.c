/* pending_loss.c: TEMPORARY stubs for loss ops not written yet; each
 * returns an error. Delete a stub when its op is implemented. */
#include "ops/ops_impl.h"

volt_tensor *volt_softmax(const volt_tensor *a, int dim) {
    (void)a;
    (void)dim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "softmax: not implemented yet");
    return NULL;
}

volt_tensor *volt_log_softmax(const volt_tensor *a, int dim) {
    (void)a;
    (void)dim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "log_softmax: not implemented yet");
    return NULL;
}

volt_tensor *volt_cross_entropy(const volt_tensor *logits, const volt_tensor *target) {
    (void)logits;
    (void)target;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "cross_entropy: not implemented yet");
    return NULL;
}

volt_tensor *volt_cross_entropy_ex(const volt_tensor *logits, const volt_tensor *target, const volt_cross_entropy_options *options) {
    (void)logits;
    (void)target;
    (void)options;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "cross_entropy_ex: not implemented yet");
    return NULL;
}

volt_tensor *volt_nll_loss(const volt_tensor *log_probs, const volt_tensor *target, const volt_tensor *weight, int64_t ignore_index, volt_reduction reduction) {
    (void)log_probs;
    (void)target;
    (void)weight;
    (void)ignore_index;
    (void)reduction;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "nll_loss: not implemented yet");
    return NULL;
}

volt_tensor *volt_mse_loss(const volt_tensor *input, const volt_tensor *target, volt_reduction reduction) {
    (void)input;
    (void)target;
    (void)reduction;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "mse_loss: not implemented yet");
    return NULL;
}

volt_tensor *volt_l1_loss(const volt_tensor *input, const volt_tensor *target, volt_reduction reduction) {
    (void)input;
    (void)target;
    (void)reduction;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "l1_loss: not implemented yet");
    return NULL;
}

volt_tensor *volt_smooth_l1_loss(const volt_tensor *input, const volt_tensor *target, volt_reduction reduction, double beta) {
    (void)input;
    (void)target;
    (void)reduction;
    (void)beta;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "smooth_l1_loss: not implemented yet");
    return NULL;
}

volt_tensor *volt_binary_cross_entropy(const volt_tensor *input, const volt_tensor *target, const volt_tensor *weight, volt_reduction reduction) {
    (void)input;
    (void)target;
    (void)weight;
    (void)reduction;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "binary_cross_entropy: not implemented yet");
    return NULL;
}

volt_tensor *volt_binary_cross_entropy_with_logits(const volt_tensor *logits, const volt_tensor *target, const volt_tensor *weight, const volt_tensor *pos_weight, volt_reduction reduction) {
    (void)logits;
    (void)target;
    (void)weight;
    (void)pos_weight;
    (void)reduction;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "binary_cross_entropy_with_logits: not implemented yet");
    return NULL;
}

volt_tensor *volt_kl_div(const volt_tensor *input, const volt_tensor *target, volt_reduction reduction, bool log_target) {
    (void)input;
    (void)target;
    (void)reduction;
    (void)log_target;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "kl_div: not implemented yet");
    return NULL;
}

volt_tensor *volt_dropout(const volt_tensor *a, double p, bool training, volt_generator *gen) {
    (void)a;
    (void)p;
    (void)training;
    (void)gen;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "dropout: not implemented yet");
    return NULL;
}
