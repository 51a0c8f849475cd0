/* cuda_none.c: the ops layer's CUDA entry points (ops/cuda/cuda_*.h, one
 * section per family) in a build without the CUDA backend (VOLT_CUDA=OFF;
 * the real ones are in ops/cuda/). No CUDA tensor can exist there —
 * volt_device_check refuses the device — so these only answer with the
 * standard error. */
#include "ops/cuda/cuda_dnn.h"
#include "ops/cuda/cuda_gemm.h"
#include "ops/cuda/cuda_index.h"
#include "ops/cuda/cuda_nn.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_random.h"

volt_status volt_cuda_fill(const char *op, volt_tensor *out, double value) {
    (void)value;
    return volt_no_cuda_kernel(op, out, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_copy(const char *op, volt_tensor *out, const volt_tensor *src) {
    return volt_no_cuda_kernel(op, out->device.type == VOLT_CUDA ? out : src,
                               "this build of volt has no CUDA backend");
}

bool volt_cuda_binary_supported(const char *name, volt_binary_op op, volt_dtype dtype,
                                const volt_tensor *a, const volt_tensor *b, int ndim,
                                const int64_t *shape) {
    (void)op, (void)dtype, (void)ndim, (void)shape;
    volt_no_cuda_kernel(name, a->device.type == VOLT_CUDA ? a : b,
                        "this build of volt has no CUDA backend");
    return false;
}

volt_status volt_cuda_binary(volt_binary_op op, volt_tensor *out, const volt_tensor *a,
                             const volt_tensor *b, double alpha) {
    (void)op, (void)a, (void)b, (void)alpha;
    return volt_no_cuda_kernel("binary", out, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_matmul(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                             double alpha, double beta) {
    (void)out, (void)b, (void)alpha, (void)beta;
    return volt_no_cuda_kernel("matmul", a, "this build of volt has no CUDA backend");
}

/* elementwise: unary, unary backward, where (ops/cuda/elementwise.c). */
volt_status volt_cuda_unary(const char *name, volt_unary_op op, volt_tensor *out,
                            const volt_tensor *in, double p0, double p1) {
    (void)op, (void)out, (void)p0, (void)p1;
    return volt_no_cuda_kernel(name, in, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_unary_backward(const char *name, volt_unary_op op, volt_tensor *grad_in,
                                     const volt_tensor *grad_out, const volt_tensor *saved,
                                     double p0, double p1) {
    (void)op, (void)grad_out, (void)saved, (void)p0, (void)p1;
    return volt_no_cuda_kernel(name, grad_in, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_where(volt_tensor *out, const volt_tensor *cond, const volt_tensor *a,
                            const volt_tensor *b) {
    (void)cond, (void)a, (void)b;
    return volt_no_cuda_kernel("where", out, "this build of volt has no CUDA backend");
}

/* ---- cudnn family (ops/cuda/cuda_dnn.h): convolution, pooling, batch norm */

#define VOLT_NO_CUDA_DNN(op, t) volt_no_cuda_kernel(op, t, "this build of volt has no CUDA backend")

bool volt_cuda_conv_supported(const char *op, const volt_conv_geom *g, const volt_tensor *x) {
    (void)g;
    VOLT_NO_CUDA_DNN(op, x);
    return false;
}

volt_status volt_cuda_conv_forward(const volt_conv_geom *g, const volt_tensor *x,
                                   const volt_tensor *w, const volt_tensor *b, volt_tensor *y,
                                   bool relu) {
    (void)g, (void)w, (void)b, (void)y, (void)relu;
    return VOLT_NO_CUDA_DNN("conv2d", x);
}

volt_status volt_cuda_conv_backward_data(const volt_conv_geom *g, const volt_tensor *dy,
                                         const volt_tensor *w, volt_tensor *dx) {
    (void)g, (void)w, (void)dx;
    return VOLT_NO_CUDA_DNN("conv2d", dy);
}

volt_status volt_cuda_conv_backward_filter(const volt_conv_geom *g, const volt_tensor *x,
                                           const volt_tensor *dy, volt_tensor *dw) {
    (void)g, (void)x, (void)dw;
    return VOLT_NO_CUDA_DNN("conv2d", dy);
}

volt_status volt_cuda_channel_sum(const volt_tensor *dy, volt_tensor *db) {
    (void)db;
    return VOLT_NO_CUDA_DNN("conv2d", dy);
}

volt_status volt_cuda_channel_add(volt_tensor *y, const volt_tensor *b) {
    (void)b;
    return VOLT_NO_CUDA_DNN("conv2d", y);
}

volt_status volt_cuda_relu_mask(volt_tensor *out, const volt_tensor *g, const volt_tensor *y) {
    (void)g, (void)y;
    return VOLT_NO_CUDA_DNN("conv2d_relu", out);
}

bool volt_cuda_pool_cudnn_takes(const volt_pool_geom *g, const volt_tensor *x) {
    (void)g, (void)x;
    return false;
}

volt_status volt_cuda_pool_forward(bool max, const volt_pool_geom *g, const volt_tensor *x,
                                   volt_tensor *y) {
    (void)g, (void)y;
    return VOLT_NO_CUDA_DNN(max ? "max_pool2d" : "avg_pool2d", x);
}

volt_status volt_cuda_pool_backward(bool max, const volt_pool_geom *g, const volt_tensor *x,
                                    const volt_tensor *y, const volt_tensor *dy, volt_tensor *dx) {
    (void)g, (void)x, (void)y, (void)dy;
    return VOLT_NO_CUDA_DNN(max ? "max_pool2d" : "avg_pool2d", dx);
}

volt_status volt_cuda_pool_direct_forward(bool max, const volt_pool_geom *g, const volt_tensor *x,
                                          volt_tensor *y, volt_tensor *indices) {
    (void)g, (void)y, (void)indices;
    return VOLT_NO_CUDA_DNN(max ? "max_pool2d" : "avg_pool2d", x);
}

volt_status volt_cuda_pool_direct_backward(bool max, const volt_pool_geom *g,
                                           const volt_tensor *indices, const volt_tensor *dy,
                                           volt_tensor *dx) {
    (void)g, (void)indices, (void)dy;
    return VOLT_NO_CUDA_DNN(max ? "max_pool2d" : "avg_pool2d", dx);
}

volt_status volt_cuda_batch_norm_forward(const volt_bn_geom *g, const volt_tensor *x,
                                         volt_tensor *y, volt_tensor *running_mean,
                                         volt_tensor *running_var, const volt_tensor *w,
                                         const volt_tensor *b, double momentum,
                                         volt_tensor *save_mean, volt_tensor *save_invstd) {
    (void)g, (void)y, (void)running_mean, (void)running_var, (void)w, (void)b, (void)momentum,
        (void)save_mean, (void)save_invstd;
    return VOLT_NO_CUDA_DNN("batch_norm", x);
}

volt_status volt_cuda_batch_norm_backward(const volt_bn_geom *g, const volt_tensor *x,
                                          const volt_tensor *dy, const volt_tensor *w,
                                          const volt_tensor *save_mean,
                                          const volt_tensor *save_invstd, volt_tensor *dx,
                                          volt_tensor *dw, volt_tensor *db) {
    (void)g, (void)dy, (void)w, (void)save_mean, (void)save_invstd, (void)dx, (void)dw, (void)db;
    return VOLT_NO_CUDA_DNN("batch_norm", x);
}

volt_status volt_cuda_batch_norm_backward_eval(const volt_bn_geom *g, const volt_tensor *x,
                                               const volt_tensor *dy, const volt_tensor *w,
                                               const volt_tensor *mean, const volt_tensor *var,
                                               volt_tensor *dx, volt_tensor *dw, volt_tensor *db) {
    (void)g, (void)dy, (void)w, (void)mean, (void)var, (void)dx, (void)dw, (void)db;
    return VOLT_NO_CUDA_DNN("batch_norm", x);
}

/* nn: reductions, softmax, losses, norms (ops/cuda/cuda_nn.h). */

volt_status volt_cuda_reduce(const char *op, volt_cuda_red red, volt_cuda_final final, double p,
                             volt_tensor *out, const volt_tensor *a,
                             const bool mask[VOLT_MAX_DIMS]) {
    (void)red, (void) final, (void)p, (void)out, (void)mask;
    return volt_no_cuda_kernel(op, a, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_max_dim(const char *op, bool is_max, volt_tensor *values,
                              volt_tensor *indices, const volt_tensor *a, int dim) {
    (void)is_max, (void)values, (void)indices, (void)dim;
    return volt_no_cuda_kernel(op, a, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_reduce_grad(const char *op, int grad_op, volt_tensor *out,
                                  const volt_tensor *x, const volt_tensor *c, const volt_tensor *s,
                                  double p) {
    (void)grad_op, (void)x, (void)c, (void)s, (void)p;
    return volt_no_cuda_kernel(op, out, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_scatter_dim(const char *op, volt_tensor *grad, int dim,
                                  const volt_tensor *index, const volt_tensor *g) {
    (void)dim, (void)index, (void)g;
    return volt_no_cuda_kernel(op, grad, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_softmax(const char *op, bool log, volt_tensor *out, const volt_tensor *x,
                              int dim) {
    (void)log, (void)out, (void)dim;
    return volt_no_cuda_kernel(op, x, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_softmax_backward(const char *op, bool log, volt_tensor *gx,
                                       const volt_tensor *g, const volt_tensor *y, int dim) {
    (void)log, (void)gx, (void)g, (void)dim;
    return volt_no_cuda_kernel(op, y, "this build of volt has no CUDA backend");
}

/* ---- gemm family (ops/cuda/cuda_gemm.h: matmul_lt.c, attention_cuda.c) */

#define NO_BACKEND "this build of volt has no CUDA backend"

bool volt_cuda_gemm_readable(const volt_tensor *t) {
    (void)t;
    return false;
}

volt_status volt_cuda_gemm(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                           double alpha, double beta, volt_gemm_epilogue epilogue,
                           volt_tensor *bias) {
    (void)out, (void)b, (void)alpha, (void)beta, (void)epilogue, (void)bias;
    return volt_no_cuda_kernel("matmul", a, NO_BACKEND);
}

volt_status volt_cuda_bias_fill(volt_tensor *out, const volt_tensor *bias, double beta) {
    (void)bias, (void)beta;
    return volt_no_cuda_kernel("addmm", out, NO_BACKEND);
}

bool volt_cuda_attention_use_reference(bool reference) {
    (void)reference;
    return false;
}

bool volt_cuda_attention_reference(void) { return false; }

bool volt_cuda_flash_applies(const volt_tensor *q, const volt_tensor *k, const volt_tensor *v) {
    (void)q, (void)k, (void)v;
    return false;
}

volt_status volt_cuda_flash_forward(volt_tensor *out, volt_tensor *lse, const volt_tensor *q,
                                    const volt_tensor *k, const volt_tensor *v, bool causal,
                                    double scale) {
    (void)out, (void)lse, (void)k, (void)v, (void)causal, (void)scale;
    return volt_no_cuda_kernel("scaled_dot_product_attention", q, NO_BACKEND);
}

volt_status volt_cuda_flash_backward(volt_tensor *dq, volt_tensor *dk, volt_tensor *dv,
                                     const volt_tensor *q, const volt_tensor *k,
                                     const volt_tensor *v, const volt_tensor *out,
                                     const volt_tensor *g, const volt_tensor *lse, bool causal,
                                     double scale) {
    (void)dq, (void)dk, (void)dv, (void)k, (void)v, (void)out, (void)g, (void)lse, (void)causal,
        (void)scale;
    return volt_no_cuda_kernel("scaled_dot_product_attention", q, NO_BACKEND);
}

bool volt_cuda_flash_qkv_applies(const volt_tensor *qkv, int64_t heads) {
    (void)qkv, (void)heads;
    return false;
}

volt_status volt_cuda_flash_qkv_forward(volt_tensor *out, volt_tensor *lse, const volt_tensor *qkv,
                                        int64_t heads, bool causal, double scale) {
    (void)out, (void)lse, (void)heads, (void)causal, (void)scale;
    return volt_no_cuda_kernel("attention_qkv", qkv, NO_BACKEND);
}

volt_status volt_cuda_flash_qkv_backward(volt_tensor *dqkv, const volt_tensor *qkv,
                                         const volt_tensor *out, const volt_tensor *g,
                                         const volt_tensor *lse, int64_t heads, bool causal,
                                         double scale) {
    (void)dqkv, (void)out, (void)g, (void)lse, (void)heads, (void)causal, (void)scale;
    return volt_no_cuda_kernel("attention_qkv", qkv, NO_BACKEND);
}

volt_status volt_cuda_attention_softmax(volt_tensor *p, bool causal, double scale) {
    (void)causal, (void)scale;
    return volt_no_cuda_kernel("scaled_dot_product_attention", p, NO_BACKEND);
}

volt_status volt_cuda_attention_softmax_backward(volt_tensor *d, const volt_tensor *p, bool causal,
                                                 double scale) {
    (void)p, (void)causal, (void)scale;
    return volt_no_cuda_kernel("scaled_dot_product_attention", d, NO_BACKEND);
}
#undef NO_BACKEND

volt_status volt_cuda_class_loss(const char *op, const volt_tensor *x, const volt_tensor *target,
                                 const volt_tensor *weight, int64_t ignore_index, double smoothing,
                                 bool from_logits, volt_tensor *loss, volt_tensor *lse,
                                 volt_tensor *wrow) {
    (void)target, (void)weight, (void)ignore_index, (void)smoothing, (void)from_logits;
    (void)loss, (void)lse, (void)wrow;
    return volt_no_cuda_kernel(op, x, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_class_loss_total(volt_tensor *out, volt_tensor *denom,
                                       const volt_tensor *loss, const volt_tensor *wrow,
                                       bool mean) {
    (void)denom, (void)loss, (void)wrow, (void)mean;
    return volt_no_cuda_kernel("cross_entropy", out, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_class_loss_backward(const char *op, volt_tensor *gx, const volt_tensor *x,
                                          const volt_tensor *target, const volt_tensor *weight,
                                          int64_t ignore_index, double smoothing, bool from_logits,
                                          const volt_tensor *lse, const volt_tensor *g_rows,
                                          const volt_tensor *g_scalar, const volt_tensor *denom) {
    (void)gx, (void)target, (void)weight, (void)ignore_index, (void)smoothing, (void)from_logits;
    (void)lse, (void)g_rows, (void)g_scalar, (void)denom;
    return volt_no_cuda_kernel(op, x, "this build of volt has no CUDA backend");
}

/* ---- nn2: norms (ops/cuda/norm.c) */
volt_dtype volt_cuda_norm_stats_dtype(volt_dtype x) { return x == VOLT_F64 ? VOLT_F64 : VOLT_F32; }

volt_status volt_cuda_norm_forward(const char *op, const volt_norm_geom *geom, volt_tensor *y,
                                   volt_tensor *mean, volt_tensor *rstd, const volt_tensor *x,
                                   const volt_tensor *w, const volt_tensor *b) {
    (void)geom, (void)y, (void)mean, (void)rstd, (void)w, (void)b;
    return volt_no_cuda_kernel(op, x, "this build of volt has no CUDA backend");
}

volt_status volt_cuda_norm_backward(const char *op, const volt_norm_geom *geom, volt_tensor *gx,
                                    volt_tensor *gw, volt_tensor *gb, const volt_tensor *gy,
                                    const volt_tensor *x, const volt_tensor *mean,
                                    const volt_tensor *rstd, const volt_tensor *w) {
    (void)geom, (void)gx, (void)gw, (void)gb, (void)gy, (void)mean, (void)rstd, (void)w;
    return volt_no_cuda_kernel(op, x, "this build of volt has no CUDA backend");
}

/* ---- nn2: dropout and random (ops/cuda/random.c), embedding and index ops
 * (ops/cuda/index.c) */
#define NO_BACKEND "this build of volt has no CUDA backend"

volt_status volt_cuda_dropout(const char *op, volt_tensor *out, volt_tensor *mask,
                              const volt_tensor *x, double p, double scale,
                              const volt_generator *gen, uint64_t first_block) {
    (void)out, (void)mask, (void)p, (void)scale, (void)gen, (void)first_block;
    return volt_no_cuda_kernel(op, x, NO_BACKEND);
}

volt_status volt_cuda_dropout_backward(const char *op, volt_tensor *gx, const volt_tensor *g,
                                       const volt_tensor *mask, double scale) {
    (void)g, (void)mask, (void)scale;
    return volt_no_cuda_kernel(op, gx, NO_BACKEND);
}

volt_status volt_cuda_bernoulli(const char *op, volt_tensor *out, const volt_tensor *p,
                                volt_generator *gen) {
    (void)out, (void)gen;
    return volt_no_cuda_kernel(op, p, NO_BACKEND);
}

volt_status volt_cuda_random_fill(const char *op, volt_tensor *out, bool normal,
                                  volt_generator *gen) {
    (void)normal, (void)gen;
    return volt_no_cuda_kernel(op, out, NO_BACKEND);
}

volt_status volt_cuda_embedding(const char *op, volt_tensor *out, const volt_tensor *w,
                                const volt_tensor *idx) {
    (void)out, (void)idx;
    return volt_no_cuda_kernel(op, w, NO_BACKEND);
}

volt_status volt_cuda_embedding_backward(const char *op, volt_tensor *gw, const volt_tensor *g,
                                         const volt_tensor *idx, int64_t padding_idx) {
    (void)g, (void)idx, (void)padding_idx;
    return volt_no_cuda_kernel(op, gw, NO_BACKEND);
}

volt_status volt_cuda_gather(const char *op, volt_tensor *out, const volt_tensor *a, int dim,
                             const volt_tensor *idx, const int64_t *idx_strides) {
    (void)out, (void)dim, (void)idx, (void)idx_strides;
    return volt_no_cuda_kernel(op, a, NO_BACKEND);
}

volt_status volt_cuda_scatter_add(const char *op, volt_tensor *out, int dim, const volt_tensor *idx,
                                  const int64_t *idx_strides, const volt_tensor *src, int ndim,
                                  const int64_t *shape) {
    (void)dim, (void)idx, (void)idx_strides, (void)src, (void)ndim, (void)shape;
    return volt_no_cuda_kernel(op, out, NO_BACKEND);
}

volt_status volt_cuda_triangle(const char *op, volt_tensor *out, const volt_tensor *a,
                               int64_t diagonal, bool upper) {
    (void)out, (void)diagonal, (void)upper;
    return volt_no_cuda_kernel(op, a, NO_BACKEND);
}
#undef NO_BACKEND

/* ---- nn2: pointwise losses (ops/cuda/loss.c) */
volt_status volt_cuda_pointwise_loss(const char *op, volt_pointwise_loss kind,
                                     volt_pointwise_what what, double beta, volt_tensor *out,
                                     volt_flat_arg x, volt_flat_arg y, volt_flat_arg w,
                                     volt_flat_arg g) {
    (void)kind, (void)what, (void)beta, (void)x, (void)y, (void)w, (void)g;
    return volt_no_cuda_kernel(op, out, "this build of volt has no CUDA backend");
}
