/* attention_tc.cuh: the tensor-core flash-attention kernels of
 * attention_tc.cu, called by attention.cu's launchers (C++ only). The
 * arguments are those of volt_cuda_launch_flash_forward / _backward
 * (gemm_kernels.h); a launcher returns the launch's cudaError_t as an int. */
#ifndef VOLT_CUDA_ATTENTION_TC_CUH
#define VOLT_CUDA_ATTENTION_TC_CUH

#include <stdint.h>

/* Where the rows of head bh = b * heads + h lie: element (row, d) at
 * b * batch + h * head + row * row + d (the head dim contiguous). A
 * contiguous [bh, n, hd] tensor is {n * hd, 0, hd} with heads 1. */
typedef struct {
    int64_t batch, head, row;
} tc_layout;

typedef struct {
    const void *q, *k, *v;
    void *o;
    float *lse; /* [bh, nt], contiguous */
    tc_layout lq, lk, lv, lo;
    int64_t bh, heads, nt, ns, hd;
    int causal;
    float scale;
} tc_fwd_args;

typedef struct {
    const void *q, *k, *v, *o, *dout;
    const float *lse;
    float *delta, *dq32; /* scratch: [bh, nt] and [bh, nt, hd], contiguous */
    void *dq, *dk, *dv;
    tc_layout lq, lk, lv, lo, ldout, ldq, ldk, ldv;
    int64_t bh, heads, nt, ns, hd;
    int causal;
    float scale;
} tc_bwd_args;

/* The layout of a contiguous [bh, n, hd] tensor. */
static inline tc_layout tc_dense(int64_t n, int64_t hd) {
    tc_layout l = {n * hd, 0, hd};
    return l;
}

/* Whether the tensor-core kernels take this problem: a 16-bit type (is16),
 * head dim 64 or 128, the n device pointers 16-byte aligned and the
 * n_layouts layouts' strides multiples of 8 elements. */
bool volt_tc_attention_applies(int is16, int64_t hd, const void *const *ptrs, int n,
                               const tc_layout *layouts, int n_layouts);

/* The forward (o, lse as in gemm_kernels.h) in bf16 (bf16 != 0) or f16. */
int volt_tc_attention_forward(const tc_fwd_args *a, int bf16, void *stream);

/* The whole backward: delta = rowsum(dO O) and dq32 zeroed (one kernel),
 * dK and dV written and dQ added into dq32 (the main kernel), dq32 rounded
 * into dq. */
int volt_tc_attention_backward(const tc_bwd_args *a, int bf16, void *stream);

#endif
