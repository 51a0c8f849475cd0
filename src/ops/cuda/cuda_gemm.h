/* cuda_gemm.h: the CUDA side of matmul.c and attention.c — what they call for
 * CUDA tensors once they have validated their arguments (ops/cuda/matmul_lt.c
 * and attention_cuda.c with VOLT_CUDA; ops/cuda_none.c without, where no CUDA
 * tensor exists). Each returns VOLT_OK or records and returns an error: for
 * what has no kernel, VOLT_ERR_DEVICE "matmul: no CUDA kernel yet for
 * f32[4,3] on cuda:0 (...)" (volt_no_cuda_kernel); a CUDA or cuBLAS failure
 * otherwise. Work is queued on the device's stream; the host does not wait. */
#ifndef VOLT_CUDA_GEMM_H
#define VOLT_CUDA_GEMM_H

#include "ops/ops_impl.h"

/* What cuBLASLt adds to a product in the same call. */
typedef enum {
    VOLT_GEMM_PLAIN = 0,
    /* out[.., j] += bias[j] (bias: contiguous, m elements, out's dtype). */
    VOLT_GEMM_BIAS,
    /* bias (contiguous, n elements, out's dtype) = the row sums of a
     * ([n, k]: bias[i] = sum_j a[i, j], over the product's inner
     * dimension), for a bias gradient computed with the weight's
     * (cuBLASLt's BGRADB; 2-D products only). */
    VOLT_GEMM_BGRAD_B,
} volt_gemm_epilogue;

/* Whether cuBLASLt reads the last two dims of t in place: unit stride in one
 * of them and a leading dimension no smaller than the other. */
bool volt_cuda_gemm_readable(const volt_tensor *t);

/* out [batch..., n, m] (contiguous) = alpha * a @ b + beta * out (+ the
 * epilogue) on out's device, through cuBLASLt: a [abatch..., n, k] and
 * b [bbatch..., k, m] readable in place (volt_cuda_gemm_readable), their
 * batch dims broadcast to out's (stride-0 and missing dims allowed; a
 * batch is one strided-batched call where the strides allow, else one call
 * per outer index). Types: all f32 (f32 arithmetic, no TF32), all f64,
 * all bf16 or all f16 (f32 accumulation), or bf16/f16 operands with an f32
 * out (autocast). beta == 0 ignores out's contents. The algorithm and
 * descriptors of each (shape, strides, dtypes, epilogue, alignment) are
 * cached: a steady-state call makes no heuristic query. An epilogue cuBLASLt
 * has no algorithm for is answered VOLT_ERR_UNSUPPORTED without an error
 * recorded (the caller does the work another way). */
volt_status volt_cuda_gemm(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                           double alpha, double beta, volt_gemm_epilogue epilogue,
                           volt_tensor *bias);

/* out [n, m] (contiguous) = beta * bias broadcast, for a bias of out's dtype
 * with at most 2 dims that broadcasts to [n, m]. */
volt_status volt_cuda_bias_fill(volt_tensor *out, const volt_tensor *bias, double beta);

/* -------------------------------------------------------------- attention */

/* How volt_scaled_dot_product_attention runs on CUDA: the fused flash kernel
 * (the default) where it applies (f32/bf16/f16, head dims <= 128), or the
 * reference path (two products through cuBLASLt and a softmax kernel),
 * which also serves f64 and larger heads. A process-wide switch for tests
 * and comparisons; returns the previous value. */
bool volt_cuda_attention_use_reference(bool reference);
bool volt_cuda_attention_reference(void);

/* Whether the flash kernel takes q [..., T, D], k [..., S, D], v [..., S, Dv]
 * (dtype f32/bf16/f16, D == Dv <= 128, all contiguous) with the switch
 * above off. */
bool volt_cuda_flash_applies(const volt_tensor *q, const volt_tensor *k, const volt_tensor *v);

/* Fused forward: out [..., T, D] (contiguous, new) and lse [..., T] (f32,
 * contiguous, new) from contiguous q, k, v (volt_cuda_flash_applies). */
volt_status volt_cuda_flash_forward(volt_tensor *out, volt_tensor *lse, const volt_tensor *q,
                                    const volt_tensor *k, const volt_tensor *v, bool causal,
                                    double scale);
/* Fused backward from the saved lse: dq, dk, dv (contiguous, new, of q's
 * shapes and dtype) from g (= dL/dout, contiguous, out's dtype). Allocates
 * f32 scratch of q's size and [..., T] from the caching allocator. */
volt_status volt_cuda_flash_backward(volt_tensor *dq, volt_tensor *dk, volt_tensor *dv,
                                     const volt_tensor *q, const volt_tensor *k,
                                     const volt_tensor *v, const volt_tensor *out,
                                     const volt_tensor *g, const volt_tensor *lse, bool causal,
                                     double scale);

/* volt_attention_qkv's fused path: whether the tensor-core kernels take
 * qkv [B, T, 3E] split into `heads` heads (head dim 64 or 128; the switch
 * above off), and the forward: out [B, T, E] and lse [B, heads, T] (f32)
 * from a contiguous bf16/f16 qkv; the backward: dqkv (qkv's shape and dtype,
 * contiguous, new; every element written) from g (contiguous, out's dtype),
 * with f32 scratch from the caching allocator. */
bool volt_cuda_flash_qkv_applies(const volt_tensor *qkv, int64_t heads);
volt_status volt_cuda_flash_qkv_forward(volt_tensor *out, volt_tensor *lse, const volt_tensor *qkv,
                                        int64_t heads, bool causal, double scale);
volt_status volt_cuda_flash_qkv_backward(volt_tensor *dqkv, const volt_tensor *qkv,
                                         const volt_tensor *out, const volt_tensor *g,
                                         const volt_tensor *lse, int64_t heads, bool causal,
                                         double scale);

/* The reference path's softmax over the last dim of the contiguous scores
 * p [..., T, S] in place (scaled, causal as the CPU kernel), and its
 * backward in place on d (= g v^T) given p. */
volt_status volt_cuda_attention_softmax(volt_tensor *p, bool causal, double scale);
volt_status volt_cuda_attention_softmax_backward(volt_tensor *d, const volt_tensor *p, bool causal,
                                                 double scale);

#endif
