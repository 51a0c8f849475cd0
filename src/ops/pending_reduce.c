/* pending_reduce.c: TEMPORARY stubs for reduce ops not written yet; each
 * returns an error. Delete a stub when its op is implemented. */
#include "ops/ops_impl.h"

volt_tensor *volt_mean(const volt_tensor *a, int n_dims, const int *dims, bool keepdim) {
    (void)a;
    (void)n_dims;
    (void)dims;
    (void)keepdim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "mean: not implemented yet");
    return NULL;
}

volt_tensor *volt_prod(const volt_tensor *a, int n_dims, const int *dims, bool keepdim) {
    (void)a;
    (void)n_dims;
    (void)dims;
    (void)keepdim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "prod: not implemented yet");
    return NULL;
}

volt_tensor *volt_var(const volt_tensor *a, int n_dims, const int *dims, double correction, bool keepdim) {
    (void)a;
    (void)n_dims;
    (void)dims;
    (void)correction;
    (void)keepdim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "var: not implemented yet");
    return NULL;
}

volt_tensor *volt_std(const volt_tensor *a, int n_dims, const int *dims, double correction, bool keepdim) {
    (void)a;
    (void)n_dims;
    (void)dims;
    (void)correction;
    (void)keepdim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "std: not implemented yet");
    return NULL;
}

volt_tensor *volt_logsumexp(const volt_tensor *a, int n_dims, const int *dims, bool keepdim) {
    (void)a;
    (void)n_dims;
    (void)dims;
    (void)keepdim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "logsumexp: not implemented yet");
    return NULL;
}

volt_tensor *volt_norm(const volt_tensor *a, double p, int n_dims, const int *dims, bool keepdim) {
    (void)a;
    (void)p;
    (void)n_dims;
    (void)dims;
    (void)keepdim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "norm: not implemented yet");
    return NULL;
}

volt_tensor *volt_max(const volt_tensor *a, int dim, bool keepdim, volt_tensor **indices) {
    (void)a;
    (void)dim;
    (void)keepdim;
    (void)indices;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "max: not implemented yet");
    return NULL;
}

volt_tensor *volt_min(const volt_tensor *a, int dim, bool keepdim, volt_tensor **indices) {
    (void)a;
    (void)dim;
    (void)keepdim;
    (void)indices;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "min: not implemented yet");
    return NULL;
}

volt_tensor *volt_max_all(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "max_all: not implemented yet");
    return NULL;
}

volt_tensor *volt_min_all(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "min_all: not implemented yet");
    return NULL;
}

volt_tensor *volt_argmax(const volt_tensor *a, int dim, bool keepdim) {
    (void)a;
    (void)dim;
    (void)keepdim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "argmax: not implemented yet");
    return NULL;
}

volt_tensor *volt_argmin(const volt_tensor *a, int dim, bool keepdim) {
    (void)a;
    (void)dim;
    (void)keepdim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "argmin: not implemented yet");
    return NULL;
}

volt_tensor *volt_mean_all(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "mean_all: not implemented yet");
    return NULL;
}
