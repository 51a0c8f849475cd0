/* pending_unary.c: TEMPORARY stubs for unary ops not written yet; each
 * returns an error. Delete a stub when its op is implemented. */
#include "ops/ops_impl.h"

volt_tensor *volt_neg(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "neg: not implemented yet");
    return NULL;
}

volt_tensor *volt_exp(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "exp: not implemented yet");
    return NULL;
}

volt_tensor *volt_log(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "log: not implemented yet");
    return NULL;
}

volt_tensor *volt_log1p(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "log1p: not implemented yet");
    return NULL;
}

volt_tensor *volt_sqrt(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "sqrt: not implemented yet");
    return NULL;
}

volt_tensor *volt_rsqrt(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "rsqrt: not implemented yet");
    return NULL;
}

volt_tensor *volt_abs(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "abs: not implemented yet");
    return NULL;
}

volt_tensor *volt_sign(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "sign: not implemented yet");
    return NULL;
}

volt_tensor *volt_clamp(const volt_tensor *a, double min, double max) {
    (void)a;
    (void)min;
    (void)max;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "clamp: not implemented yet");
    return NULL;
}

volt_tensor *volt_where(const volt_tensor *cond, const volt_tensor *a, const volt_tensor *b) {
    (void)cond;
    (void)a;
    (void)b;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "where: not implemented yet");
    return NULL;
}

volt_tensor *volt_logical_not(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "logical_not: not implemented yet");
    return NULL;
}
