/* attention.h: CPU kernels of scaled dot-product attention
 * (ops/cpu/attention.c): the scaled, optionally causal softmax over the rows
 * of the score matrices, and its backward. */
#ifndef VOLT_CPU_ATTENTION_H
#define VOLT_CPU_ATTENTION_H

#include "ops/ops_impl.h"

/* s: contiguous f32/f64 [..., T, S] scores, rows of S keys. In place:
 * s = softmax(scale * s) per row; with causal, row i (its position among the
 * T queries) sees keys j <= i only and the others get probability 0. */
void volt_cpu_attention_softmax(volt_tensor *s, bool causal, double scale);

/* d (the gradient of the probabilities p, contiguous, p's shape) becomes the
 * gradient of the raw scores in place: d = scale * p * (d - sum(d * p))
 * per row, 0 at masked keys. */
void volt_cpu_attention_softmax_backward(volt_tensor *d, const volt_tensor *p, bool causal,
                                         double scale);

#endif
