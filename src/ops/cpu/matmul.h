/* matmul.h: CPU matrix products through OpenBLAS (cblas_sgemm / cblas_dgemm),
 * batched with broadcast batch dims. */
#ifndef VOLT_CPU_MATMUL_H
#define VOLT_CPU_MATMUL_H

#include "ops/cpu/cpu_kernels.h"

/* Whether the last two dims of t ([r, c], strides s0, s1) can be handed to
 * BLAS without a copy: row-major (s1 == 1, s0 >= c: *trans false, *ld = s0)
 * or column-major, e.g. a transposed view (s0 == 1, s1 >= r: *trans true,
 * *ld = s1). Strides of size-1 dims do not matter. False when the leading
 * dimension does not fit BLAS's int. */
bool volt_cpu_gemm_operand(const volt_tensor *t, bool *trans, int64_t *ld);

/* out [batch..., n, m] (contiguous) = alpha * a @ b + beta * out for a
 * [..., n, k] and b [..., k, m] of out's dtype (f32/f64) whose batch dims
 * broadcast to out's (read with stride 0, never copied) and whose matrices
 * pass volt_cpu_gemm_operand. beta == 0 ignores out's contents. n, m, k fit
 * in an int. */
void volt_cpu_matmul(volt_tensor *out, const volt_tensor *a, const volt_tensor *b, double alpha,
                     double beta);

#endif
