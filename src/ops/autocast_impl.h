/* autocast_impl.h: what matmul.c and conv.c share for autocast (the
 * per-thread mode is public, volt/ops.h): whether an op's f32 operands go
 * through bf16, and the f32 -> bf16 conversions (round to nearest even,
 * NaN kept quiet, like volt_f32_to_bf16). */
#ifndef VOLT_AUTOCAST_IMPL_H
#define VOLT_AUTOCAST_IMPL_H

#include "ops/ops_impl.h"

/* Whether a product or convolution of operands of `dtype` recorded now runs
 * in bf16: bf16 autocast is on and dtype is f32. */
bool volt_autocast_bf16_for(volt_dtype dtype);
/* The dtype a product or convolution of `dtype` operands on `device`
 * recorded now computes in: bf16 under bf16 autocast, f16 under f16
 * autocast on CUDA, for f32 operands; else dtype itself. */
volt_dtype volt_autocast_dtype_for(volt_dtype dtype, volt_device device);

/* dst[i] = bf16(src[i]) for n elements (OpenMP for large n). */
void volt_cpu_f32_to_bf16(uint16_t *dst, const float *src, int64_t n);
/* dst[i] = src[i] rounded to the nearest bf16 value, kept as f32 (dst may be
 * src). */
void volt_cpu_round_bf16(float *dst, const float *src, int64_t n);

/* A new contiguous f32 tensor of t's shape holding t's elements rounded to
 * bf16 (t: f32, any strides; broadcast dims are materialised). No autograd.
 * NULL with an out-of-memory error. */
volt_tensor *volt_bf16_rounded(const volt_tensor *t);

#endif
