/* cuda_none.c: the ops layer's CUDA entry points (ops/cuda/cuda_ops.h) in a
 * build without the CUDA backend (VOLT_CUDA=OFF; the real ones are in
 * ops/cuda/). No CUDA tensor can exist there — volt_device_check refuses
 * the device — so these only answer with the standard error. */
#include "ops/cuda/cuda_ops.h"

volt_status volt_cuda_fill(const char *op, volt_tensor *out, double value) {
    (void)value;
    return volt_no_cuda_kernel(op, out, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_copy(const char *op, volt_tensor *out, const volt_tensor *src) {
    return volt_no_cuda_kernel(op, out->device.type == VOLT_CUDA ? out : src,
                               "this build of volt has no CUDA backend");
}

bool volt_cuda_binary_supported(const char *name, volt_binary_op op, volt_dtype dtype,
                                const volt_tensor *a, const volt_tensor *b, int ndim,
                                const int64_t *shape) {
    (void)op, (void)dtype, (void)ndim, (void)shape;
    volt_no_cuda_kernel(name, a->device.type == VOLT_CUDA ? a : b,
                        "this build of volt has no CUDA backend");
    return false;
}

volt_status volt_cuda_binary(volt_binary_op op, volt_tensor *out, const volt_tensor *a,
                             const volt_tensor *b, double alpha) {
    (void)op, (void)a, (void)b, (void)alpha;
    return volt_no_cuda_kernel("binary", out, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_matmul(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                             double alpha, double beta) {
    (void)out, (void)b, (void)alpha, (void)beta;
    return volt_no_cuda_kernel("matmul", a, "this build of volt has no CUDA backend");
}
