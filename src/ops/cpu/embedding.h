/* embedding.h: CPU kernels of the embedding lookup (ops/cpu/embedding.c). */
#ifndef VOLT_CPU_EMBEDDING_H
#define VOLT_CPU_EMBEDDING_H

#include "ops/ops_impl.h"

/* out [n, D] (contiguous) = rows idx[0..n) of weight [N, D] (contiguous,
 * f32/f64); idx already checked to lie in [0, N). */
void volt_cpu_embedding(volt_tensor *out, const volt_tensor *weight, const int64_t *idx, int64_t n);

/* gw [N, D] (contiguous, zeroed by the kernel) += row i of g [n, D]
 * (contiguous) at row idx[i], skipping idx[i] == padding_idx. Rows are added
 * in the order of i whatever the thread count. */
void volt_cpu_embedding_backward(volt_tensor *gw, const volt_tensor *g, const int64_t *idx,
                                 int64_t n, int64_t padding_idx);

#endif
