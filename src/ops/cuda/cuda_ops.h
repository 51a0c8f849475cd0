/* cuda_ops.h: the CUDA side of the elementwise, copy and matmul ops — what an
 * op file calls for CUDA tensors once it has validated its arguments (the .c
 * files of ops/cuda/ with VOLT_CUDA; ops/cuda_none.c without, where no CUDA
 * tensor can exist). Other op families declare theirs in their own
 * ops/cuda/cuda_<family>.h. Each returns VOLT_OK, or records and returns an
 * error: for what has no kernel, VOLT_ERR_DEVICE "add: no CUDA kernel yet for
 * f32[4,3] on cuda:0 (...)" (volt_no_cuda_kernel); a CUDA failure otherwise.
 * The work is queued on the device's stream: it runs after what was queued
 * before, and the host does not wait for it (except where a copy ends on the
 * host). Operands of the elementwise kernels may have any strides (views,
 * expanded and transposed tensors), broadcast to the output's shape; the
 * output may be a strided view too (an in-place op or copy_ into a slice). */
#ifndef VOLT_CUDA_OPS_H
#define VOLT_CUDA_OPS_H

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/unary.h"

/* Every element of out (any layout and dtype) = value in out's dtype. */
volt_status volt_cuda_fill(const char *op, volt_tensor *out, double value);

/* out = src converted to out's dtype (any two of the 8 dtypes, as
 * volt_cpu_copy converts) and broadcast to out's shape, any layouts, on one
 * CUDA device; or between a CUDA device and the CPU (one of them CUDA): the
 * same dtype contiguous without broadcast as one copy (from pinned host
 * memory without blocking), otherwise through a contiguous staging copy on
 * the far side. Between two CUDA devices: contiguous, same dtype and shape. */
volt_status volt_cuda_copy(const char *op, volt_tensor *out, const volt_tensor *src);

/* Whether volt_cuda_binary takes op in compute dtype `dtype` (the promoted
 * dtype; bool for logical and/or): floats every op but and/or (bf16 and f16
 * in f32), integers all but div, bool the comparisons, maximum/minimum and
 * and/or. Records the "no CUDA kernel yet" error (naming `name` and the CUDA
 * operand) when not. ndim and shape: the broadcast shape (unused). */
bool volt_cuda_binary_supported(const char *name, volt_binary_op op, volt_dtype dtype,
                                const volt_tensor *a, const volt_tensor *b, int ndim,
                                const int64_t *shape);
/* out = a op b (a + alpha * b, a - alpha * b for add, sub) for an op that
 * passed volt_cuda_binary_supported: a and b CUDA tensors of the compute
 * dtype on out's device, or CPU 0-d scalars (read now, used unrounded in
 * the compute type); out of the compute dtype, or bool for comparisons and
 * logical ops. out may alias a (in place). */
volt_status volt_cuda_binary(volt_binary_op op, volt_tensor *out, const volt_tensor *a,
                             const volt_tensor *b, double alpha);

/* out = op(in) (ops/cpu/unary.h; parameters p0, p1 as volt_unary_args, the
 * integer clamp bounds already in the dtype's range), out and in of one
 * dtype on one device (bool out for logical_not): floats take every op,
 * integers neg, abs, sign and clamp, logical_not any dtype. `name` names the
 * op in errors. */
volt_status volt_cuda_unary(const char *name, volt_unary_op op, volt_tensor *out,
                            const volt_tensor *in, double p0, double p1);
/* The fused backward of op: grad_in = grad_out * op'(saved), all three of
 * grad_in's float dtype and shape (grad_out and saved may be strided);
 * grad_in may be grad_out. */
volt_status volt_cuda_unary_backward(const char *name, volt_unary_op op, volt_tensor *grad_in,
                                     const volt_tensor *grad_out, const volt_tensor *saved,
                                     double p0, double p1);

/* out = cond ? a : b on one CUDA device: cond bool, a and b of out's dtype,
 * all broadcast to out's shape. */
volt_status volt_cuda_where(volt_tensor *out, const volt_tensor *cond, const volt_tensor *a,
                            const volt_tensor *b);

/* out [n, m] (contiguous) = alpha * a @ b + beta * out for 2-D a [n, k] and
 * b [k, m] on out's device, all of one dtype: f32 (f32 arithmetic, no TF32),
 * bf16 or f16 (f32 accumulation), through cuBLASLt. Operands are read as
 * laid out: row-major with a leading dimension, or transposed views of such.
 * beta == 0 ignores out's contents. */
volt_status volt_cuda_matmul(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                             double alpha, double beta);

#endif
