/* matmul.h: CPU matrix products through OpenBLAS (cblas_sgemm / cblas_dgemm)
 * or oneDNN's f32 matmul, batched with broadcast batch dims. */
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

/* out [n, m] (contiguous, f32) = alpha * a @ b + bias, for 2-D f32 a [n, k]
 * and b [k, m] that pass volt_cpu_gemm_operand and a contiguous f32 bias of
 * m elements added to every row (a linear layer's bias). Through oneDNN the
 * bias is the primitive's own argument (out written once); through OpenBLAS
 * the rows of out are filled with it and the product added (beta 1), as
 * also when alpha != 1 (oneDNN would scale the bias too). */
void volt_cpu_matmul_bias(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                          const volt_tensor *bias, double alpha);

/* out0 = alpha * a0 @ b0 and out1 = alpha * a1 @ b1, two independent
 * products with volt_cpu_matmul_bias's operand rules (2-D f32, outs
 * contiguous, neither out overlapping another operand): in one parallel
 * region when both go to oneDNN and pay for a split across threads (each
 * split with the same share for the calling thread, which runs the first
 * part of both) — one wake-up of the team instead of two, as a linear
 * layer's input and weight gradients use; otherwise one after the other as
 * volt_cpu_matmul computes them. Same values either way. */
void volt_cpu_matmul_pair(volt_tensor *out0, const volt_tensor *a0, const volt_tensor *b0,
                          volt_tensor *out1, const volt_tensor *a1, const volt_tensor *b1,
                          double alpha);

/* Which library runs a single f32 product (batched products of several
 * small gemms always use OpenBLAS; f64 too). AUTO (the default): oneDNN when
 * the inner dimension k >= 32, else OpenBLAS. The default comes from the
 * environment variable VOLT_MATMUL_BACKEND ("openblas", "onednn"; anything
 * else: auto) at first use; tests and benchmarks switch it process-wide.
 * Both backends give the same products up to float rounding. */
typedef enum { VOLT_GEMM_AUTO = 0, VOLT_GEMM_OPENBLAS, VOLT_GEMM_ONEDNN } volt_gemm_backend;
volt_gemm_backend volt_cpu_matmul_backend(void);
void volt_cpu_matmul_set_backend(volt_gemm_backend backend);

#endif
