/* random_kernels.h: the C ABI of the CUDA random kernels (random.cu):
 * Philox-4x32-10 blocks computed on the device in the CPU kernels' layout
 * (ops/cpu/random.c, ops/cpu/dropout.c: element i of an f32 result from
 * word i % 4 of block first + i / 4; of an f64 result from words (0, 1) or
 * (2, 3) of block first + i / 2), so the same generator state gives the
 * same numbers on both devices. A launcher checks nothing: it queues its
 * kernel on `stream` of the current device and returns the launch's
 * cudaError_t as an int (0: queued). Dtypes are VOLT_CUDA_* (cuda_kernels.h);
 * bf16 and f16 use the f32 layout, rounded once. */
#ifndef VOLT_CUDA_RANDOM_KERNELS_H
#define VOLT_CUDA_RANDOM_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A generator state: key (seed), stream, and the first block to use. */
typedef struct {
    uint64_t seed, stream, first;
} volt_cuda_philox;

/* out (n contiguous elements of dtype) = uniform [0, 1) (normal: standard
 * normal by Box-Muller, as volt_cpu_normal). */
int volt_cuda_launch_random(int dtype, int normal, void *out, int64_t n, volt_cuda_philox ph,
                            void *stream);
/* out[i] = u_i < p[i] ? 1 : 0 (dtype, contiguous), u_i uniform as above. */
int volt_cuda_launch_bernoulli(int dtype, void *out, const void *p, int64_t n, volt_cuda_philox ph,
                               void *stream);
/* keep_i = u_i >= p (u_i from the f32 layout whatever the dtype, compared
 * in double); mask[i] = keep_i, out[i] = x[i] * keep_i * scale (scale
 * rounded to the compute type first). All contiguous. */
int volt_cuda_launch_dropout(int dtype, void *out, uint8_t *mask, const void *x, int64_t n,
                             double p, double scale, volt_cuda_philox ph, void *stream);
/* gx[i] = g[i] * mask[i] * scale, all contiguous. */
int volt_cuda_launch_dropout_backward(int dtype, void *gx, const void *g, const uint8_t *mask,
                                      int64_t n, double scale, void *stream);

#ifdef __cplusplus
}
#endif

#endif
