/* cuda_nn.h: the CUDA side of the reductions, softmax, cross-entropy and
 * norms — what reduce.c, softmax.c, loss_classification.c and norm.c call
 * for CUDA tensors once they have validated their arguments (host code in
 * ops/cuda/{reduce,softmax,loss,norm}.c; stubs in ops/cuda_none.c). Each
 * returns VOLT_OK or records and returns an error: what has no kernel
 * (integer dtypes, ...) is refused by name with volt_no_cuda_kernel. Work is
 * queued on the device's stream; the host does not wait for it. Kernels
 * take f32, f64, bf16 and f16 (the 16-bit types computed in f32); results
 * are deterministic (no float atomics). */
#ifndef VOLT_CUDA_NN_H
#define VOLT_CUDA_NN_H

#include "ops/cpu/loss.h"
#include "ops/cpu/norm.h"
#include "ops/ops_impl.h"

/* What a reduction computes (= VOLT_CUDA_RED_* of nn_kernels.h) and how
 * the result is finished (= VOLT_CUDA_FINAL_*: acc, acc / p,
 * sqrt(acc / p)). VAR is sum (x - mean)^2 over the group, LSE its
 * logsumexp. */
typedef enum {
    VOLT_CR_SUM,
    VOLT_CR_PROD,
    VOLT_CR_SUMSQ,
    VOLT_CR_ABSSUM,
    VOLT_CR_MAXABS,
    VOLT_CR_MAX,
    VOLT_CR_MIN,
    VOLT_CR_VAR,
    VOLT_CR_LSE
} volt_cuda_red;
typedef enum { VOLT_CR_FINAL_NONE, VOLT_CR_FINAL_DIV, VOLT_CR_FINAL_SQRT_DIV } volt_cuda_final;

/* out (contiguous, a's dtype, one element per kept position in row-major
 * order) = final(red over the dims of a (CUDA, float dtype, any strides)
 * where mask[d]). */
volt_status volt_cuda_reduce(const char *op, volt_cuda_red red, volt_cuda_final final, double p,
                             volt_tensor *out, const volt_tensor *a,
                             const bool mask[VOLT_MAX_DIMS]);

/* Max (is_max) or min of a (CUDA, float dtype) along dim (size > 0):
 * values (contiguous, a's dtype) and indices (contiguous i64, or NULL), one
 * per position of the other dims; first index on ties, a NaN wins. */
volt_status volt_cuda_max_dim(const char *op, bool is_max, volt_tensor *values,
                              volt_tensor *indices, const volt_tensor *a, int dim);

/* out (contiguous, out's shape and dtype) = f(x, c, s) for f one of
 * volt_reduce_grad_op (ops/cpu/reduce.h) or, for op == VOLT_RGRAD_COUNT,
 * s * p (x and c NULL). c and s (the same shape, or c NULL) hold one value
 * per group: out's shape with 1 on the reduced dims (keepdim form); all of
 * out's dtype. Inputs that are not contiguous are copied first. */
volt_status volt_cuda_reduce_grad(const char *op, int grad_op, volt_tensor *out,
                                  const volt_tensor *x, const volt_tensor *c, const volt_tensor *s,
                                  double p);

/* grad (contiguous, float dtype) = 0, then grad[.., index[o], ..] = g[o]
 * along dim; index (i64) and g (grad's dtype) in keepdim form. */
volt_status volt_cuda_scatter_dim(const char *op, volt_tensor *grad, int dim,
                                  const volt_tensor *index, const volt_tensor *g);

/* out (contiguous, x's shape and dtype) = softmax, or log_softmax (log), of
 * x (CUDA, float dtype; copied first when not contiguous) along dim. */
volt_status volt_cuda_softmax(const char *op, bool log, volt_tensor *out, const volt_tensor *x,
                              int dim);
/* gx (contiguous) from the saved output y (contiguous) and the output
 * gradient g (y's dtype; copied first when not contiguous) along dim. */
volt_status volt_cuda_softmax_backward(const char *op, bool log, volt_tensor *gx,
                                       const volt_tensor *g, const volt_tensor *y, int dim);

/* Cross-entropy (from_logits) or NLL of x (CUDA, float dtype, [C], [N, C]
 * or [N, C, d...]; copied first when not contiguous) with i64 class
 * indices `target` (contiguous, x's shape without dim 1): loss (contiguous,
 * one per row; a NaN where a target is out of range — checking on the host
 * would wait for the device), lse (one per row, from_logits, else NULL) and
 * wrow (the weight of each row's target, 0 where ignored), all of the
 * loss's dtype: x's, or f32 for bf16 / f16 logits (autocast). weight: [C]
 * contiguous of the loss's dtype, or NULL. */
volt_status volt_cuda_class_loss(const char *op, const volt_tensor *x, const volt_tensor *target,
                                 const volt_tensor *weight, int64_t ignore_index, double smoothing,
                                 bool from_logits, volt_tensor *loss, volt_tensor *lse,
                                 volt_tensor *wrow);
/* out (0-d) = sum(loss) / (mean ? sum(wrow) : 1); denom (0-d) = the divisor. */
volt_status volt_cuda_class_loss_total(volt_tensor *out, volt_tensor *denom,
                                       const volt_tensor *loss, const volt_tensor *wrow, bool mean);
/* gx (contiguous, x's shape and dtype) = d loss / d x, row r scaled by
 * g_rows[r] (contiguous, reduction none) or by g_scalar / denom (0-d;
 * denom NULL: 1); lse, g_rows, g_scalar, denom and weight of the loss's
 * dtype. */
volt_status volt_cuda_class_loss_backward(const char *op, volt_tensor *gx, const volt_tensor *x,
                                          const volt_tensor *target, const volt_tensor *weight,
                                          int64_t ignore_index, double smoothing, bool from_logits,
                                          const volt_tensor *lse, const volt_tensor *g_rows,
                                          const volt_tensor *g_scalar, const volt_tensor *denom);

/* Layer norm, RMS norm, group norm (norm geometry of ops/cpu/norm.h) of x
 * (CUDA, contiguous [rows, n], float dtype): y (x's dtype), mean and rstd
 * (one per row, f32 — f64 for f64: see volt_cuda_norm_stats_dtype); w, b
 * contiguous of x's dtype or NULL. */
volt_dtype volt_cuda_norm_stats_dtype(volt_dtype x);
volt_status volt_cuda_norm_forward(const char *op, const volt_norm_geom *geom, volt_tensor *y,
                                   volt_tensor *mean, volt_tensor *rstd, const volt_tensor *x,
                                   const volt_tensor *w, const volt_tensor *b);
/* gx, gw, gb (each NULL when not wanted; contiguous, x's dtype) from gy
 * (contiguous, x's dtype) and the forward's mean and rstd. Deterministic. */
volt_status volt_cuda_norm_backward(const char *op, const volt_norm_geom *geom, volt_tensor *gx,
                                    volt_tensor *gw, volt_tensor *gb, const volt_tensor *gy,
                                    const volt_tensor *x, const volt_tensor *mean,
                                    const volt_tensor *rstd, const volt_tensor *w);

/* = volt_cpu_pointwise_loss (ops/cpu/loss.h) for out (CUDA, contiguous,
 * float dtype) and flat operands of out's dtype on its device. */
volt_status volt_cuda_pointwise_loss(const char *op, volt_pointwise_loss kind,
                                     volt_pointwise_what what, double beta, volt_tensor *out,
                                     volt_flat_arg x, volt_flat_arg y, volt_flat_arg w,
                                     volt_flat_arg g);

#endif
