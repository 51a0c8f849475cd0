/* cpu_kernels.h: the CPU kernels of the op families written by the op files
 * in src/ops/ (dispatch by dtype happens inside each kernel). Families added
 * later declare theirs in their own src/ops/cpu/<family>.h. */
#ifndef VOLT_CPU_KERNELS_H
#define VOLT_CPU_KERNELS_H

#include "ops/ops_impl.h"

/* Before a kernel function: GCC compiles it for AVX-512, AVX2 and baseline
 * x86-64 and picks one at load time (target_clones), so loops that do not
 * reduce vectorise wide on a binary built without -march (results do not
 * change: the build is ISO C, so no FMA contraction). Nothing elsewhere. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VOLT_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VOLT_CPU_CLONES
#endif

/* out = src converted to out's dtype, src broadcast to out's shape. */
void volt_cpu_copy(volt_tensor *out, const volt_tensor *src);
/* n contiguous elements converted on this thread, vectorised: f32 -> bf16
 * rounded to nearest even (a NaN stays a quiet NaN), bf16 -> f32 exact. */
void volt_cpu_f32_to_bf16_run(uint16_t *dst, const float *src, int64_t n);
void volt_cpu_bf16_to_f32_run(float *dst, const uint16_t *src, int64_t n);
/* Every element of out = value (converted to out's dtype). */
void volt_cpu_fill(volt_tensor *out, double value);

typedef enum {
    VOLT_BIN_ADD, /* a + alpha * b */
    VOLT_BIN_SUB, /* a - alpha * b */
    VOLT_BIN_MUL,
    VOLT_BIN_DIV,
    VOLT_BIN_POW,
    VOLT_BIN_MAXIMUM,
    VOLT_BIN_MINIMUM,
    VOLT_BIN_EQ, /* comparisons and logical ops write bool */
    VOLT_BIN_NE,
    VOLT_BIN_LT,
    VOLT_BIN_LE,
    VOLT_BIN_GT,
    VOLT_BIN_GE,
    VOLT_BIN_AND,
    VOLT_BIN_OR,
    VOLT_BIN_COUNT
} volt_binary_op;

/* out = a op b elementwise; a and b have the same dtype (out's, or bool out
 * for comparisons) and broadcast to out's shape. Returns VOLT_ERR_DTYPE for a
 * dtype the op has no kernel for (the caller words the message). */
volt_status volt_cpu_binary(volt_binary_op op, volt_tensor *out, const volt_tensor *a,
                            const volt_tensor *b, double alpha);

/* Fills out (f32/f64) with uniform [0,1) or standard normal numbers from
 * blocks first_block, first_block + 1, ... of gen (one block per 4 numbers,
 * or per 2 normals / 2 doubles). */
void volt_cpu_uniform(volt_tensor *out, const volt_generator *gen, uint64_t first_block);
/* out[i] = u_i * scale + shift in double, stored as dtype (f32 or f64; n
 * elements, contiguous), u_i the f64 uniforms volt_cpu_uniform writes into
 * an f64 tensor from the same blocks (2 per block). */
void volt_cpu_uniform_affine(void *out, volt_dtype dtype, int64_t n, const volt_generator *gen,
                             uint64_t first_block, double scale, double shift);
/* The same with the f64 normals volt_cpu_normal writes into an f64 tensor
 * (which it does through this, scale 1 and shift -0: the identity). */
void volt_cpu_normal_affine(void *out, volt_dtype dtype, int64_t n, const volt_generator *gen,
                            uint64_t first_block, double scale, double shift);
void volt_cpu_normal(volt_tensor *out, const volt_generator *gen, uint64_t first_block);

#endif
