/* attention_cuda.c: the host side of scaled dot-product attention on CUDA
 * (cuda_gemm.h) — the fused flash kernels' geometry, scratch and launch, the
 * reference path's softmax launches, and the switch between the two. */
#include <stdatomic.h>

#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_gemm.h"
#include "ops/cuda/gemm_kernels.h"

static atomic_bool use_reference;

bool volt_cuda_attention_use_reference(bool reference) {
    return atomic_exchange(&use_reference, reference);
}

bool volt_cuda_attention_reference(void) { return atomic_load(&use_reference); }

bool volt_cuda_flash_applies(const volt_tensor *q, const volt_tensor *k, const volt_tensor *v) {
    int nd = q->ndim;
    volt_dtype d = q->dtype;
    int64_t hd = q->shape[nd - 1], bh = nd > 2 ? volt_shape_numel(nd - 2, q->shape) : 1;
    return !volt_cuda_attention_reference() && (d == VOLT_F32 || d == VOLT_BF16 || d == VOLT_F16) &&
           hd >= 1 && hd <= VOLT_CUDA_FLASH_MAX_HEAD_DIM && v->shape[nd - 1] == hd &&
           bh <= INT32_MAX && q->shape[nd - 2] <= (int64_t)65535 * 64 &&
           k->shape[nd - 2] <= (int64_t)65535 * 64 && volt_tensor_is_contiguous(q) &&
           volt_tensor_is_contiguous(k) && volt_tensor_is_contiguous(v);
}

/* (batch * heads, T, S, D) of q [..., T, D] and k [..., S, D]. */
static void geometry(const volt_tensor *q, const volt_tensor *k, int64_t *bh, int64_t *nt,
                     int64_t *ns, int64_t *hd) {
    int nd = q->ndim;
    *bh = nd > 2 ? volt_shape_numel(nd - 2, q->shape) : 1;
    *nt = q->shape[nd - 2], *ns = k->shape[nd - 2], *hd = q->shape[nd - 1];
}

volt_status volt_cuda_flash_forward(volt_tensor *out, volt_tensor *lse, const volt_tensor *q,
                                    const volt_tensor *k, const volt_tensor *v, bool causal,
                                    double scale) {
    int64_t bh, nt, ns, hd;
    geometry(q, k, &bh, &nt, &ns, &hd);
    int device = q->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(volt_cuda_launch_flash_forward(
                               volt_tensor_data(q), volt_tensor_data(k), volt_tensor_data(v),
                               volt_tensor_data(out), volt_tensor_data(lse), (int)q->dtype, bh, nt,
                               ns, hd, causal, (float)scale, volt_cuda_stream(device)),
                           "the flash attention forward kernel");
}

/* The backward's f32 scratch, dq32 of like's shape (q's) and delta of lse's,
 * with the device made current; the error where that fails. */
static volt_status backward_scratch(const volt_tensor *like, const volt_tensor *lse,
                                    volt_tensor **dq32, volt_tensor **delta) {
    *dq32 = volt_tensor_new(VOLT_F32, like->device, like->ndim, like->shape);
    *delta = *dq32 ? volt_tensor_new(VOLT_F32, lse->device, lse->ndim, lse->shape) : NULL;
    return *delta ? volt_cuda_set_device(like->device.index) : volt_error_status();
}

volt_status volt_cuda_flash_backward(volt_tensor *dq, volt_tensor *dk, volt_tensor *dv,
                                     const volt_tensor *q, const volt_tensor *k,
                                     const volt_tensor *v, const volt_tensor *out,
                                     const volt_tensor *g, const volt_tensor *lse, bool causal,
                                     double scale) {
    int64_t bh, nt, ns, hd;
    geometry(q, k, &bh, &nt, &ns, &hd);
    volt_tensor *dq32, *delta;
    int device = q->device.index;
    volt_status st = backward_scratch(q, lse, &dq32, &delta);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(volt_cuda_launch_flash_backward(
                                 volt_tensor_data(q), volt_tensor_data(k), volt_tensor_data(v),
                                 volt_tensor_data(out), volt_tensor_data(g), volt_tensor_data(lse),
                                 volt_tensor_data(delta), volt_tensor_data(dq32),
                                 volt_tensor_data(dq), volt_tensor_data(dk), volt_tensor_data(dv),
                                 (int)q->dtype, bh, nt, ns, hd, causal, (float)scale,
                                 volt_cuda_stream(device)),
                             "the flash attention backward kernels");
    /* Freed now, reused by the allocator only after the queued kernels. */
    volt_tensor_free(delta);
    volt_tensor_free(dq32);
    return st;
}

bool volt_cuda_flash_qkv_applies(const volt_tensor *qkv, int64_t heads) {
    int64_t e = qkv->shape[2] / 3, hd = e / heads;
    return !volt_cuda_attention_reference() && (hd == 64 || hd == 128) &&
           qkv->shape[0] * heads <= INT32_MAX && qkv->shape[1] <= (int64_t)65535 * 64;
}

volt_status volt_cuda_flash_qkv_forward(volt_tensor *out, volt_tensor *lse, const volt_tensor *qkv,
                                        int64_t heads, bool causal, double scale) {
    int64_t b = qkv->shape[0], t = qkv->shape[1], hd = qkv->shape[2] / 3 / heads;
    int device = qkv->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(
        volt_cuda_launch_flash_qkv_forward(volt_tensor_data(qkv), volt_tensor_data(out),
                                           volt_tensor_data(lse), (int)qkv->dtype, b, heads, t, hd,
                                           causal, (float)scale, volt_cuda_stream(device)),
        "the packed flash attention forward kernel");
}

volt_status volt_cuda_flash_qkv_backward(volt_tensor *dqkv, const volt_tensor *qkv,
                                         const volt_tensor *out, const volt_tensor *g,
                                         const volt_tensor *lse, int64_t heads, bool causal,
                                         double scale) {
    int64_t b = qkv->shape[0], t = qkv->shape[1], hd = qkv->shape[2] / 3 / heads;
    volt_tensor *dq32, *delta;
    int device = qkv->device.index;
    volt_status st = backward_scratch(out, lse, &dq32, &delta);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(volt_cuda_launch_flash_qkv_backward(
                                 volt_tensor_data(qkv), volt_tensor_data(out), volt_tensor_data(g),
                                 volt_tensor_data(lse), volt_tensor_data(delta),
                                 volt_tensor_data(dq32), volt_tensor_data(dqkv), (int)qkv->dtype, b,
                                 heads, t, hd, causal, (float)scale, volt_cuda_stream(device)),
                             "the packed flash attention backward kernels");
    volt_tensor_free(delta);
    volt_tensor_free(dq32);
    return st;
}

/* rows, T and S of a contiguous [..., T, S] score tensor. */
static void score_geometry(const volt_tensor *p, int64_t *rows, int64_t *nt, int64_t *ns) {
    *nt = p->shape[p->ndim - 2], *ns = p->shape[p->ndim - 1];
    *rows = *ns ? volt_tensor_numel(p) / *ns : 0;
}

volt_status volt_cuda_attention_softmax(volt_tensor *p, bool causal, double scale) {
    int64_t rows, nt, ns;
    score_geometry(p, &rows, &nt, &ns);
    int device = p->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(volt_cuda_launch_attention_softmax(volt_tensor_data(p), (int)p->dtype,
                                                              rows, nt, ns, causal, scale,
                                                              volt_cuda_stream(device)),
                           "the attention softmax kernel");
}

volt_status volt_cuda_attention_softmax_backward(volt_tensor *d, const volt_tensor *p, bool causal,
                                                 double scale) {
    int64_t rows, nt, ns;
    score_geometry(p, &rows, &nt, &ns);
    int device = p->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(volt_cuda_launch_attention_softmax_backward(
                               volt_tensor_data(d), volt_tensor_data(p), (int)p->dtype, rows, nt,
                               ns, causal, scale, volt_cuda_stream(device)),
                           "the attention softmax backward kernel");
}
