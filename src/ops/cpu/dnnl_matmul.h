/* dnnl_matmul.h: bf16 matrix products for autocast and bf16 tensors through
 * oneDNN's matmul primitive: f32 operands rounded to bf16 (or operands
 * already in bf16), f32 accumulation, the result in f32 or rounded to bf16
 * once. */
#ifndef VOLT_DNNL_MATMUL_H
#define VOLT_DNNL_MATMUL_H

#include "ops/ops_impl.h"

/* out [batch..., n, m] (contiguous, f32 or bf16) = alpha * bf16(a) @ bf16(b)
 * + beta * out (+ bias), for a [..., n, k] and b [..., k, m], each f32 or
 * bf16 (read in place when its matrices lie dense), whose matrices have unit
 * stride along their rows or columns and whose batch dims broadcast to out's
 * (beta == 0 ignores out's contents). bias, when not NULL, is one
 * contiguous row of m (f32 or bf16) added to every row; alpha must then be 1.
 * The sum is formed in f32 and rounded once when out is bf16. Returns
 * VOLT_OK; VOLT_ERR_UNSUPPORTED with no error recorded when the CPU has no
 * bf16 instructions or oneDNN takes no such problem (the caller then
 * multiplies the rounded operands in f32); another status with an error
 * recorded on failure. */
volt_status volt_dnnl_matmul_bf16(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                                  const volt_tensor *bias, double alpha, double beta);

#endif
