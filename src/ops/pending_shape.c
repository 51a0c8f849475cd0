/* pending_shape.c: TEMPORARY stubs for shape ops not written yet; each
 * returns an error. Delete a stub when its op is implemented. */
#include "ops/ops_impl.h"

volt_tensor *volt_flatten(const volt_tensor *a, int start_dim, int end_dim) {
    (void)a;
    (void)start_dim;
    (void)end_dim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "flatten: not implemented yet");
    return NULL;
}

volt_tensor *volt_transpose(const volt_tensor *a, int dim0, int dim1) {
    (void)a;
    (void)dim0;
    (void)dim1;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "transpose: not implemented yet");
    return NULL;
}

volt_tensor *volt_permute(const volt_tensor *a, int ndim, const int *dims) {
    (void)a;
    (void)ndim;
    (void)dims;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "permute: not implemented yet");
    return NULL;
}

volt_tensor *volt_squeeze(const volt_tensor *a, int dim) {
    (void)a;
    (void)dim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "squeeze: not implemented yet");
    return NULL;
}

volt_tensor *volt_squeeze_all(const volt_tensor *a) {
    (void)a;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "squeeze_all: not implemented yet");
    return NULL;
}

volt_tensor *volt_unsqueeze(const volt_tensor *a, int dim) {
    (void)a;
    (void)dim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "unsqueeze: not implemented yet");
    return NULL;
}

volt_tensor *volt_repeat(const volt_tensor *a, int ndim, const int64_t *repeats) {
    (void)a;
    (void)ndim;
    (void)repeats;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "repeat: not implemented yet");
    return NULL;
}

volt_tensor *volt_cat(int n, volt_tensor *const *tensors, int dim) {
    (void)n;
    (void)tensors;
    (void)dim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "cat: not implemented yet");
    return NULL;
}

volt_tensor *volt_stack(int n, volt_tensor *const *tensors, int dim) {
    (void)n;
    (void)tensors;
    (void)dim;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "stack: not implemented yet");
    return NULL;
}

int volt_split(const volt_tensor *a, int64_t split_size, int dim, volt_tensor **out, int max_out) {
    (void)a;
    (void)split_size;
    (void)dim;
    (void)out;
    (void)max_out;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "split: not implemented yet");
    return -1;
}

int volt_chunk(const volt_tensor *a, int chunks, int dim, volt_tensor **out, int max_out) {
    (void)a;
    (void)chunks;
    (void)dim;
    (void)out;
    (void)max_out;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "chunk: not implemented yet");
    return -1;
}

volt_tensor *volt_narrow(const volt_tensor *a, int dim, int64_t start, int64_t length) {
    (void)a;
    (void)dim;
    (void)start;
    (void)length;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "narrow: not implemented yet");
    return NULL;
}

volt_tensor *volt_slice(const volt_tensor *a, int dim, int64_t start, int64_t end, int64_t step) {
    (void)a;
    (void)dim;
    (void)start;
    (void)end;
    (void)step;
    volt_error_set(VOLT_ERR_UNSUPPORTED, "slice: not implemented yet");
    return NULL;
}
