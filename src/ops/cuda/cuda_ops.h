/* cuda_ops.h: the CUDA side of the ops — what an op file calls for CUDA
 * tensors once it has validated its arguments (the .c files of ops/cuda/ with VOLT_CUDA;
 * ops/cuda_none.c without, where no CUDA tensor can exist). Each returns
 * VOLT_OK, or records and returns an error: for what has no kernel yet,
 * VOLT_ERR_DEVICE "add: no CUDA kernel yet for f32[4,3] on cuda:0
 * (non-contiguous)" (volt_no_cuda_kernel); a CUDA failure otherwise. The
 * work is queued on the device's stream: it runs after what was queued
 * before, and the host does not wait for it. */
#ifndef VOLT_CUDA_OPS_H
#define VOLT_CUDA_OPS_H

#include "ops/cpu/cpu_kernels.h"

/* Every element of out (contiguous, any dtype) = value in out's dtype. */
volt_status volt_cuda_fill(const char *op, volt_tensor *out, double value);

/* out = src, both contiguous with the same element count: the same dtype
 * between any two devices (one of them CUDA; from pinned host memory without
 * blocking), or converted between f32, f64, bf16 and f16 on one device. */
volt_status volt_cuda_copy(const char *op, volt_tensor *out, const volt_tensor *src);

/* Whether volt_cuda_binary takes op on a and b, broadcast to (ndim, shape)
 * in `dtype`: add, sub, mul, div in f32, f64, bf16 or f16, each operand a
 * CPU 0-d scalar, a CUDA tensor of one element, or a contiguous CUDA tensor
 * of the result's element count. Records the "no CUDA kernel yet" error
 * (naming `name`) when not. */
bool volt_cuda_binary_supported(const char *name, volt_binary_op op, volt_dtype dtype,
                                const volt_tensor *a, const volt_tensor *b, int ndim,
                                const int64_t *shape);
/* out = a op b (a + alpha * b, a - alpha * b) for operands that passed
 * volt_cuda_binary_supported, the CUDA ones of out's dtype. out may be a. */
volt_status volt_cuda_binary(volt_binary_op op, volt_tensor *out, const volt_tensor *a,
                             const volt_tensor *b, double alpha);

/* out [n, m] (contiguous) = alpha * a @ b + beta * out for 2-D a [n, k] and
 * b [k, m] on out's device, all of one dtype: f32 (f32 arithmetic, no TF32),
 * bf16 or f16 (f32 accumulation), through cuBLASLt. Operands are read as
 * laid out: row-major with a leading dimension, or transposed views of such.
 * beta == 0 ignores out's contents. */
volt_status volt_cuda_matmul(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                             double alpha, double beta);

#endif
