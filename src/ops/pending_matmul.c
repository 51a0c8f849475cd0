/* pending_matmul.c: TEMPORARY stubs for matmul ops not written yet; each
 * returns an error. Delete a stub when its op is implemented. */
#include "ops/ops_impl.h"

volt_tensor *volt_matmul(const volt_tensor *a, const volt_tensor *b) {
    (void)a;
    (void)b;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "matmul: not implemented yet");
    return NULL;
}

volt_tensor *volt_bmm(const volt_tensor *a, const volt_tensor *b) {
    (void)a;
    (void)b;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "bmm: not implemented yet");
    return NULL;
}

volt_tensor *volt_addmm(const volt_tensor *bias, const volt_tensor *a, const volt_tensor *b, double beta, double alpha) {
    (void)bias;
    (void)a;
    (void)b;
    (void)beta;
    (void)alpha;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "addmm: not implemented yet");
    return NULL;
}

volt_tensor *volt_outer(const volt_tensor *a, const volt_tensor *b) {
    (void)a;
    (void)b;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "outer: not implemented yet");
    return NULL;
}
