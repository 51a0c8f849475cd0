/* cuda_kernels.h: the C ABI of volt's elementwise CUDA kernels (the .cu files
 * of src/ops/cuda/, compiled by nvcc; their host callers there are plain C).
 * A launcher checks nothing: it queues its kernel on `stream` (a
 * cudaStream_t; NULL is the legacy default stream) of the current device and
 * returns the launch's cudaError_t as an int (0: queued). Dtypes and op kinds
 * are volt's enum values, spelled here so that the kernels need no volt
 * header (ops/cuda/elementwise.c checks that they agree). */
#ifndef VOLT_CUDA_KERNELS_H
#define VOLT_CUDA_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* = volt_dtype. */
enum {
    VOLT_CUDA_F32 = 0,
    VOLT_CUDA_F64 = 1,
    VOLT_CUDA_BF16 = 2,
    VOLT_CUDA_F16 = 3,
    VOLT_CUDA_I64 = 4,
    VOLT_CUDA_I32 = 5,
    VOLT_CUDA_U8 = 6,
    VOLT_CUDA_BOOL = 7
};
/* = volt_binary_op (ops/cpu/cpu_kernels.h). */
enum {
    VOLT_CUDA_ADD,
    VOLT_CUDA_SUB,
    VOLT_CUDA_MUL,
    VOLT_CUDA_DIV,
    VOLT_CUDA_POW,
    VOLT_CUDA_MAXIMUM,
    VOLT_CUDA_MINIMUM,
    VOLT_CUDA_EQ,
    VOLT_CUDA_NE,
    VOLT_CUDA_LT,
    VOLT_CUDA_LE,
    VOLT_CUDA_GT,
    VOLT_CUDA_GE,
    VOLT_CUDA_AND,
    VOLT_CUDA_OR
};
/* = volt_unary_op (ops/cpu/unary.h). */
enum {
    VOLT_CUDA_UN_EXP,
    VOLT_CUDA_UN_LOG,
    VOLT_CUDA_UN_LOG1P,
    VOLT_CUDA_UN_SQRT,
    VOLT_CUDA_UN_RSQRT,
    VOLT_CUDA_UN_NEG,
    VOLT_CUDA_UN_ABS,
    VOLT_CUDA_UN_SIGN,
    VOLT_CUDA_UN_CLAMP,
    VOLT_CUDA_UN_RELU,
    VOLT_CUDA_UN_LEAKY_RELU,
    VOLT_CUDA_UN_ELU,
    VOLT_CUDA_UN_GELU,
    VOLT_CUDA_UN_GELU_TANH,
    VOLT_CUDA_UN_SILU,
    VOLT_CUDA_UN_SIGMOID,
    VOLT_CUDA_UN_TANH,
    VOLT_CUDA_UN_SOFTPLUS,
    VOLT_CUDA_UN_HARDTANH,
    VOLT_CUDA_UN_LOGICAL_NOT
};

#define VOLT_CUDA_MAX_DIMS 8
#define VOLT_CUDA_MAX_OPERANDS 4

/* The geometry of one elementwise launch (built by ops/cuda/elementwise.c):
 * operand 0 is the output, the others the inputs, all walked over one
 * logical shape of `numel` elements. Dims are coalesced and stored innermost
 * FIRST (shape[0] varies fastest); strides are in elements, 0 where an
 * operand is broadcast. An input with ptr NULL is a host scalar: every
 * element is `value`, read in the kernel's compute type. `small`: numel and
 * every operand's largest offset are below 2^31 (32-bit index arithmetic). */
typedef struct {
    int ndim; /* >= 1 */
    int n_operands;
    int small;
    int64_t numel;
    int64_t shape[VOLT_CUDA_MAX_DIMS];
    int64_t strides[VOLT_CUDA_MAX_OPERANDS][VOLT_CUDA_MAX_DIMS];
    void *ptr[VOLT_CUDA_MAX_OPERANDS];
    double value[VOLT_CUDA_MAX_OPERANDS];
} volt_cuda_iter;

/* n elements of elem_size bytes (1, 2, 4 or 8) at out = the low elem_size
 * bytes of `pattern` (a value already converted to the element type). */
int volt_cuda_launch_fill(void *out, int64_t n, int elem_size, uint64_t pattern, void *stream);

/* Operand 0 of it (one operand; strided) = the low elem_size bytes of
 * pattern. */
int volt_cuda_launch_fill_strided(const volt_cuda_iter *it, int elem_size, uint64_t pattern,
                                  void *stream);

/* out[i] = in[i] converted, for f32, f64, bf16 and f16 on either side
 * (rounding to nearest even), both contiguous. */
int volt_cuda_launch_convert(void *out, int out_dtype, const void *in, int in_dtype, int64_t n,
                             void *stream);

/* Operand 0 (out_dtype) = operand 1 (in_dtype) converted as the CPU's
 * volt_cpu_copy converts: any of the 8 dtypes on either side (floats to
 * integers truncate toward zero; to bool: nonzero; bf16/f16 round to
 * nearest even). */
int volt_cuda_launch_copy(const volt_cuda_iter *it, int out_dtype, int in_dtype, void *stream);

/* Operand 0 = operand 1 op operand 2 (volt_binary_op `op`), both inputs of
 * `dtype` (their compute type: f32 for bf16/f16), the output of dtype or
 * bool (comparisons and logical ops). add/sub use alpha (a +- alpha * b).
 * Dtypes: floats take every op but and/or; integers all but div; bool the
 * comparisons, maximum/minimum and and/or. cudaErrorInvalidValue for
 * another pair. */
int volt_cuda_launch_binary(const volt_cuda_iter *it, int op, int dtype, double alpha,
                            void *stream);

/* Operand 0 = op(operand 1) (volt_unary_op), both of `dtype`, except
 * logical_not (bool out, any dtype in). p0, p1: the op's parameters
 * (volt_unary_args); integer clamp bounds arrive as p0, p1 in range.
 * Floats take every op; integers neg, abs, sign, clamp. */
int volt_cuda_launch_unary(const volt_cuda_iter *it, int op, int dtype, double p0, double p1,
                           void *stream);

/* The fused backward of a differentiable unary op: operand 0 (grad_in) =
 * operand 1 (grad_out) * op'(operand 2, the saved input or output as
 * ops/unary.c saves it), all of float `dtype`. */
int volt_cuda_launch_unary_backward(const volt_cuda_iter *it, int op, int dtype, double p0,
                                    double p1, void *stream);

/* Operand 0 = operand 1 (bool) ? operand 2 : operand 3, elements of
 * elem_size bytes (1, 2, 4 or 8) copied as they are. */
int volt_cuda_launch_where(const volt_cuda_iter *it, int elem_size, void *stream);

#ifdef __cplusplus
}
#endif

#endif
