/* cudnn_kernels.h: the C ABI of the few kernels of volt's own that the
 * cuDNN-backed ops need (cudnn_kernels.cu): conv2d_relu's ReLU and its
 * backward, and the bias gradient's channel sums. A launcher queues its kernel on `stream` (a
 * cudaStream_t) of the current device and returns the launch's cudaError_t as an int (0: queued);
 * dtype is volt's enum value (f32 0, f64 1, bf16 2, f16 3). */
#ifndef VOLT_CUDNN_KERNELS_H
#define VOLT_CUDNN_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] = max(y[i], 0) for n contiguous elements (NaN stays NaN, as the CPU
 * relu does). */
int volt_cudnn_launch_relu(void *y, int64_t n, int dtype, void *stream);
/* out[i] = y[i] > 0 ? g[i] : 0 (out may be g). */
int volt_cudnn_launch_relu_mask(void *out, const void *g, const void *y, int64_t n, int dtype,
                                void *stream);

/* db[ch] = the sum over n and s of dy [n, c, s] (contiguous), for c
 * channels: one block per channel, a fixed summation order (deterministic),
 * f32 accumulation for bf16 and f16, f64 for f64. */
int volt_cudnn_launch_channel_sum(void *db, const void *dy, int64_t n, int64_t c, int64_t s,
                                  int dtype, void *stream);

#ifdef __cplusplus
}
#endif

#endif
