/* cuda_random.h: the CUDA side of dropout and the random ops — what
 * dropout.c and random.c call for CUDA tensors once they have validated
 * their arguments (host code in ops/cuda/random.c; stubs in
 * ops/cuda_none.c). Numbers come from the generator's Philox stream in the
 * CPU kernels' layout (random_kernels.h): the same generator state gives
 * the same mask, the same uniforms and normals on both devices. Each
 * returns VOLT_OK or records and returns an error; dtypes without a kernel
 * are refused by name. Work is queued on the device's stream. */
#ifndef VOLT_CUDA_RANDOM_H
#define VOLT_CUDA_RANDOM_H

#include "ops/ops_impl.h"

/* As volt_cpu_dropout (ops/cpu/dropout.h) for x (CUDA, contiguous, float
 * dtype): out (x's dtype) and mask (u8), contiguous, from Philox block
 * first_block of gen on. */
volt_status volt_cuda_dropout(const char *op, volt_tensor *out, volt_tensor *mask,
                              const volt_tensor *x, double p, double scale,
                              const volt_generator *gen, uint64_t first_block);
/* gx (contiguous) = g * mask * scale; g (gx's dtype and shape, any layout:
 * copied first when not contiguous). */
volt_status volt_cuda_dropout_backward(const char *op, volt_tensor *gx, const volt_tensor *g,
                                       const volt_tensor *mask, double scale);
/* out (contiguous, p's dtype and shape) = 1 where u < p, else 0, for p
 * (CUDA, float dtype, any layout); u as volt_rand of p's dtype would draw
 * it from gen (bf16 / f16: the f32 layout). Reserves the blocks from gen. */
volt_status volt_cuda_bernoulli(const char *op, volt_tensor *out, const volt_tensor *p,
                                volt_generator *gen);
/* out (CUDA, contiguous, float dtype) = uniform [0, 1) or standard normal
 * numbers as volt_rand / volt_randn of its dtype would draw them from gen
 * (NULL: the default generator); reserves the blocks. For in-place
 * initialisation of CUDA tensors. */
volt_status volt_cuda_random_fill(const char *op, volt_tensor *out, bool normal,
                                  volt_generator *gen);

#endif
