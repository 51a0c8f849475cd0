/* pending_activation.c: TEMPORARY stubs for activation ops not written yet; each
 * returns an error. Delete a stub when its op is implemented. */
#include "ops/ops_impl.h"

volt_tensor *volt_relu(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "relu: not implemented yet");
    return NULL;
}

volt_tensor *volt_leaky_relu(const volt_tensor *a, double negative_slope) {
    (void)a;
    (void)negative_slope;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "leaky_relu: not implemented yet");
    return NULL;
}

volt_tensor *volt_elu(const volt_tensor *a, double alpha) {
    (void)a;
    (void)alpha;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "elu: not implemented yet");
    return NULL;
}

volt_tensor *volt_gelu(const volt_tensor *a, bool approximate_tanh) {
    (void)a;
    (void)approximate_tanh;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "gelu: not implemented yet");
    return NULL;
}

volt_tensor *volt_silu(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "silu: not implemented yet");
    return NULL;
}

volt_tensor *volt_sigmoid(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "sigmoid: not implemented yet");
    return NULL;
}

volt_tensor *volt_tanh(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "tanh: not implemented yet");
    return NULL;
}

volt_tensor *volt_softplus(const volt_tensor *a, double beta, double threshold) {
    (void)a;
    (void)beta;
    (void)threshold;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "softplus: not implemented yet");
    return NULL;
}

volt_tensor *volt_hardtanh(const volt_tensor *a, double min_val, double max_val) {
    (void)a;
    (void)min_val;
    (void)max_val;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "hardtanh: not implemented yet");
    return NULL;
}
