/* relu_simd.h: contiguous f32 spans of ReLU and its backward pass, with an
 * AVX-512 body where the CPU has AVX-512F (checked at run time) and plain C
 * elsewhere; ops/cpu/unary.c calls them from its elementwise loops. Same
 * results as the scalar kernels: relu(x) = x < 0 ? 0 : x (NaN and -0
 * pass through), grad = y <= 0 ? 0 : g (y the saved output). */
#ifndef VOLT_RELU_SIMD_H
#define VOLT_RELU_SIMD_H

#include <stdbool.h>
#include <stdint.h>

/* out[i] = relu(x[i]) for i < n; out may be x. */
void volt_cpu_relu_span_f32(float *out, const float *x, int64_t n);
/* gx[i] = y[i] <= 0 ? 0 : gy[i] for i < n; gx may be gy. */
void volt_cpu_relu_backward_span_f32(float *gx, const float *gy, const float *y, int64_t n);
/* false: the portable bodies even where AVX-512 is there (tests compare
 * the two); returns the previous setting. Set it before use. */
bool volt_cpu_relu_set_simd(bool enabled);

#endif
