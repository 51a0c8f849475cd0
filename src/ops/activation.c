/* activation.c: activation functions — relu, leaky_relu, elu, gelu (erf and
 * tanh forms), silu, sigmoid, tanh, softplus, hardtanh. Each is one fused
 * forward kernel and one fused backward kernel (ops/cpu/unary.c, formulas
 * and boundary conventions as PyTorch's), run through volt_unary_apply
 * (ops/unary.c). */
#include <math.h>

#include "ops/cpu/unary.h"

volt_tensor *volt_relu(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_RELU, "relu", a, 0, 0);
}

volt_tensor *volt_leaky_relu(const volt_tensor *a, double negative_slope) {
    return volt_unary_apply(VOLT_UN_LEAKY_RELU, "leaky_relu", a, negative_slope, 0);
}

volt_tensor *volt_elu(const volt_tensor *a, double alpha) {
    return volt_unary_apply(VOLT_UN_ELU, "elu", a, alpha, 0);
}

volt_tensor *volt_gelu(const volt_tensor *a, bool approximate_tanh) {
    return volt_unary_apply(approximate_tanh ? VOLT_UN_GELU_TANH : VOLT_UN_GELU, "gelu", a, 0, 0);
}

volt_tensor *volt_silu(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_SILU, "silu", a, 0, 0);
}

volt_tensor *volt_sigmoid(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_SIGMOID, "sigmoid", a, 0, 0);
}

volt_tensor *volt_tanh(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_TANH, "tanh", a, 0, 0);
}

volt_tensor *volt_softplus(const volt_tensor *a, double beta, double threshold) {
    if (beta == 0 || !isfinite(beta) || isnan(threshold)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "softplus: beta %g, threshold %g (beta must be finite and nonzero, "
                       "threshold not NaN)",
                       beta, threshold);
        return NULL;
    }
    return volt_unary_apply(VOLT_UN_SOFTPLUS, "softplus", a, beta, threshold);
}

volt_tensor *volt_hardtanh(const volt_tensor *a, double min_val, double max_val) {
    if (isnan(min_val) || isnan(max_val) || min_val > max_val) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "hardtanh: min_val %g must not be greater than max_val %g", min_val,
                       max_val);
        return NULL;
    }
    return volt_unary_apply(VOLT_UN_HARDTANH, "hardtanh", a, min_val, max_val);
}
