/* cuda_kernels.h: the C ABI of volt's CUDA kernels (the .cu files of
 * src/ops/cuda/, compiled by nvcc; their host callers there are plain C). A
 * launcher checks nothing: it queues its kernel on `stream` (a cudaStream_t;
 * NULL is the legacy default stream) of the current device and returns the
 * launch's cudaError_t as an int (0: queued). Pointers are device pointers
 * to contiguous elements; dtypes are volt_dtype values, spelled here so that
 * the kernels need no volt header. */
#ifndef VOLT_CUDA_KERNELS_H
#define VOLT_CUDA_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* = VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16 (checked in ops/cuda/launch.c). */
enum { VOLT_CUDA_F32 = 0, VOLT_CUDA_F64 = 1, VOLT_CUDA_BF16 = 2, VOLT_CUDA_F16 = 3 };
/* = VOLT_BIN_ADD .. VOLT_BIN_DIV (ops/cpu/cpu_kernels.h). */
enum { VOLT_CUDA_ADD = 0, VOLT_CUDA_SUB = 1, VOLT_CUDA_MUL = 2, VOLT_CUDA_DIV = 3 };

/* n elements of elem_size bytes (1, 2, 4 or 8) at out = the low elem_size
 * bytes of `pattern` (a value already converted to the element type). */
int volt_cuda_launch_fill(void *out, int64_t n, int elem_size, uint64_t pattern, void *stream);

/* out[i] = in[i] converted, for f32, f64, bf16 and f16 on either side
 * (rounding to nearest even). */
int volt_cuda_launch_convert(void *out, int out_dtype, const void *in, int in_dtype, int64_t n,
                             void *stream);

/* An operand of the binary kernel: element i is ptr[i * stride] (stride 1,
 * or 0 for a one-element operand), or `value` when ptr is NULL (a host
 * scalar). */
typedef struct {
    const void *ptr;
    int64_t stride;
    double value;
} volt_cuda_operand;

/* out[i] = a[i] + alpha * b[i], a[i] - alpha * b[i], a[i] * b[i] or
 * a[i] / b[i] for n elements of `dtype` (f32, f64, bf16, f16; the 16-bit
 * types are computed in f32 and rounded once). */
int volt_cuda_launch_binary(int op, int dtype, void *out, volt_cuda_operand a, volt_cuda_operand b,
                            double alpha, int64_t n, void *stream);

#ifdef __cplusplus
}
#endif

#endif
