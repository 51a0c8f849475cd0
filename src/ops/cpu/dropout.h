/* dropout.h: CPU kernels of dropout (ops/cpu/dropout.c). */
#ifndef VOLT_CPU_DROPOUT_H
#define VOLT_CPU_DROPOUT_H

#include "ops/ops_impl.h"

/* For every element i of the contiguous x (f32/f64): keep[i] = u_i >= p,
 * out[i] = x[i] * keep[i] * scale, mask[i] = keep[i] (u8), where u_i is
 * word i % 4 of Philox block first_block + i / 4 of gen, as a uniform [0, 1).
 * out and mask are contiguous, x's shape. */
void volt_cpu_dropout(volt_tensor *out, volt_tensor *mask, const volt_tensor *x, double p,
                      double scale, const volt_generator *gen, uint64_t first_block);

/* gx = g * mask * scale (g broadcast to gx's shape; gx contiguous f32/f64). */
void volt_cpu_dropout_backward(volt_tensor *gx, const volt_tensor *g, const volt_tensor *mask,
                               double scale);

#endif
