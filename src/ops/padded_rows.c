/* padded_rows.c: tensors whose rows (last dim) are padded to a multiple of
 * 16 bytes, for CUDA matrix products. cuBLASLt's fast kernels need each
 * operand's and result's leading dimension aligned to 16 bytes; a row length
 * that is not (GPT-2's 50257-token vocabulary) sends the product to kernels
 * several times slower. A padded tensor is an ordinary strided view, its
 * rows ld elements apart; the padding is never read. */
#include "ops/ops_impl.h"

int64_t volt_padded_row_length(volt_dtype dtype, int64_t n) {
    int64_t per = 16 / (int64_t)volt_dtype_size(dtype);
    return per > 1 ? (n + per - 1) / per * per : n;
}

volt_tensor *volt_padded_rows_new(volt_dtype dtype, volt_device device, int ndim,
                                  const int64_t *shape) {
    int64_t n = shape[ndim - 1], ld = volt_padded_row_length(dtype, n);
    int64_t rows = 1;
    for (int d = 0; d < ndim - 1; d++) rows *= shape[d];
    if (ndim < 2 || ld == n || rows <= 1) return volt_tensor_new(dtype, device, ndim, shape);
    int64_t strides[VOLT_MAX_DIMS], total = rows * ld;
    strides[ndim - 1] = 1;
    strides[ndim - 2] = ld;
    for (int d = ndim - 3; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
    volt_tensor *flat = volt_tensor_new(dtype, device, 1, &total);
    volt_tensor *out = flat ? volt_tensor_alias(flat, ndim, shape, strides, 0) : NULL;
    volt_tensor_free(flat);
    return out;
}
