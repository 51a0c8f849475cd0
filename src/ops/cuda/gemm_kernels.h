/* gemm_kernels.h: the C ABI of the CUDA kernels of the matrix-product and
 * attention family (src/ops/cuda/gemm.cu, attention.cu; their host callers,
 * matmul_lt.c and attention_cuda.c, are plain C). As in cuda_kernels.h, a
 * launcher checks nothing: it queues its kernel on `stream` (a cudaStream_t)
 * of the current device and returns the launch's cudaError_t as an int
 * (0: queued). Pointers are device pointers; dtypes are volt_dtype values
 * (VOLT_CUDA_F32 .. VOLT_CUDA_F16 of cuda_kernels.h). */
#ifndef VOLT_GEMM_KERNELS_H
#define VOLT_GEMM_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out[i, j] = beta * bias[i * s0 + j * s1] for the contiguous out [n, m]
 * (a stride 0 broadcasts bias along that dim); out and bias of `dtype`. */
int volt_cuda_launch_bias_fill(void *out, int dtype, const void *bias, int64_t n, int64_t m,
                               int64_t s0, int64_t s1, double beta, void *stream);

/* The reference attention's softmax, in place on the contiguous scores
 * p [rows, ns] of `dtype` (rows = batch * nt): row r (query r % nt) sees
 * keys 0 .. min(r % nt, ns - 1) when causal, all ns otherwise; each visible
 * score is multiplied by `scale`, the row softmaxed (max-subtracted, f32
 * arithmetic for 16-bit types, f64 for f64) and the masked tail set to 0. */
int volt_cuda_launch_attention_softmax(void *p, int dtype, int64_t rows, int64_t nt, int64_t ns,
                                       int causal, double scale, void *stream);
/* Its backward, in place on d [rows, ns] (= g v^T on entry):
 * d = scale * p * (d - sum_j d_j p_j) over the visible keys, 0 beyond. */
int volt_cuda_launch_attention_softmax_backward(void *d, const void *p, int dtype, int64_t rows,
                                                int64_t nt, int64_t ns, int causal, double scale,
                                                void *stream);

/* The flash-attention kernels (attention.cu): q [bh, nt, hd], k [bh, ns, hd],
 * v [bh, ns, hd], o [bh, nt, hd] contiguous of `dtype` (f32, bf16, f16),
 * hd <= VOLT_CUDA_FLASH_MAX_HEAD_DIM, causal as above. Tiles of queries and
 * keys are streamed through shared memory with an online softmax (f32), so
 * no [nt, ns] matrix is stored; lse [bh, nt] (f32) receives each row's
 * log-sum-exp of the scaled scores (for the backward). bf16 and f16 at
 * head dims 64 and 128 with 16-byte-aligned pointers run on the tensor
 * cores (attention_tc.cu), the rest on f32 FMAs. */
#define VOLT_CUDA_FLASH_MAX_HEAD_DIM 128
int volt_cuda_launch_flash_forward(const void *q, const void *k, const void *v, void *o, float *lse,
                                   int dtype, int64_t bh, int64_t nt, int64_t ns, int64_t hd,
                                   int causal, float scale, void *stream);
/* The backward from the saved lse: delta [bh, nt] (f32 scratch) =
 * rowsum(dO * O); then dq [bh, nt, hd] (f32 scratch, zeroed here, added to
 * atomically), dk, dv [bh, ns, hd] of `dtype` written once per key tile;
 * dq32 is finally converted into dq (`dtype`). */
int volt_cuda_launch_flash_backward(const void *q, const void *k, const void *v, const void *o,
                                    const void *dout, const float *lse, float *delta, float *dq32,
                                    void *dq, void *dk, void *dv, int dtype, int64_t bh, int64_t nt,
                                    int64_t ns, int64_t hd, int causal, float scale, void *stream);

/* The same kernels (tensor-core path only: bf16/f16, hd 64 or 128) on
 * packed heads: qkv [batch, nt, 3 * heads * hd] contiguous, q, k and v its
 * three thirds of each row, head h at columns h * hd of its third (the
 * layout of a linear's output split by volt_chunk and reshaped);
 * o and dout [batch, nt, heads * hd] contiguous; lse [batch * heads, nt].
 * The backward writes dqkv in qkv's layout (every element) with the
 * scratch as above. cudaErrorInvalidValue where the kernels do not apply. */
int volt_cuda_launch_flash_qkv_forward(const void *qkv, void *o, float *lse, int dtype,
                                       int64_t batch, int64_t heads, int64_t nt, int64_t hd,
                                       int causal, float scale, void *stream);
int volt_cuda_launch_flash_qkv_backward(const void *qkv, const void *o, const void *dout,
                                        const float *lse, float *delta, float *dq32, void *dqkv,
                                        int dtype, int64_t batch, int64_t heads, int64_t nt,
                                        int64_t hd, int causal, float scale, void *stream);

#ifdef __cplusplus
}
#endif

#endif
