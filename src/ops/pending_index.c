/* pending_index.c: TEMPORARY stubs for index ops not written yet; each
 * returns an error. Delete a stub when its op is implemented. */
#include "ops/ops_impl.h"

volt_tensor *volt_index_select(const volt_tensor *a, int dim, const volt_tensor *index) {
    (void)a;
    (void)dim;
    (void)index;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "index_select: not implemented yet");
    return NULL;
}

volt_tensor *volt_gather(const volt_tensor *a, int dim, const volt_tensor *index) {
    (void)a;
    (void)dim;
    (void)index;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "gather: not implemented yet");
    return NULL;
}

volt_tensor *volt_scatter_add(const volt_tensor *a, int dim, const volt_tensor *index, const volt_tensor *src) {
    (void)a;
    (void)dim;
    (void)index;
    (void)src;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "scatter_add: not implemented yet");
    return NULL;
}

volt_tensor *volt_masked_fill(const volt_tensor *a, const volt_tensor *mask, double value) {
    (void)a;
    (void)mask;
    (void)value;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "masked_fill: not implemented yet");
    return NULL;
}

volt_tensor *volt_one_hot(const volt_tensor *index, int64_t num_classes) {
    (void)index;
    (void)num_classes;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "one_hot: not implemented yet");
    return NULL;
}

volt_tensor *volt_tril(const volt_tensor *a, int64_t diagonal) {
    (void)a;
    (void)diagonal;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "tril: not implemented yet");
    return NULL;
}

volt_tensor *volt_triu(const volt_tensor *a, int64_t diagonal) {
    (void)a;
    (void)diagonal;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "triu: not implemented yet");
    return NULL;
}

volt_tensor *volt_masked_fill_(volt_tensor *self, const volt_tensor *mask, double value) {
    (void)self;
    (void)mask;
    (void)value;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "masked_fill_: not implemented yet");
    return NULL;
}
