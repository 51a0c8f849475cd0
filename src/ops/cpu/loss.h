/* loss.h: CPU kernels of the losses — the fused class-dimension kernel
 * behind cross_entropy and nll_loss (log-softmax + NLL + label smoothing +
 * class weights in one pass per row, and its fused backward), and the
 * elementwise kernels of the pointwise losses (mse, l1, smooth_l1, bce,
 * bce_with_logits, kl_div) with their derivatives. */
#ifndef VOLT_CPU_LOSS_H
#define VOLT_CPU_LOSS_H

#include "ops/ops_impl.h"

/* ------------------------------------------------ class-dimension losses */

/* The loss of one row (the C values along the class dim at one position):
 *  - class-index targets (target != NULL):
 *      (1 - eps) w[t] (-logp[t]) + (eps / C) sum_c w[c] (-logp[c]),
 *    0 where t == ignore_index;
 *  - probability targets (probs != NULL): -sum_c w[c] q[c] logp[c] with
 *    q = (1 - eps) probs + eps / C.
 * logp = x - logsumexp(x) when from_logits, else x itself (nll_loss). w[c]
 * = 1 without weight. Targets must have been checked to lie in [0, C). */
typedef struct {
    int class_dim;            /* dim of x holding the classes */
    const int64_t *target;    /* one per row (contiguous), or NULL */
    const volt_tensor *probs; /* x's shape, x's dtype, any strides; or NULL */
    const void *weight;       /* C values of x's dtype (contiguous), or NULL */
    double weight_total;      /* sum of the weights (C without weight) */
    int64_t ignore_index;
    double smoothing; /* eps in [0, 1] */
    bool from_logits;
} volt_class_loss_args;

/* loss: [rows] contiguous, x's dtype. lse: [rows] contiguous or NULL (only
 * from_logits), receives logsumexp of each row for the backward. */
void volt_cpu_class_loss(const volt_tensor *x, const volt_class_loss_args *a, volt_tensor *loss,
                         volt_tensor *lse);

/* gx (contiguous, x's shape) = d loss / d x, each row scaled by
 * scale * g[r] (g: [rows] contiguous of x's dtype, or NULL for 1).
 * gprobs (contiguous, or NULL) = d loss / d probs, likewise scaled. */
void volt_cpu_class_loss_backward(const volt_tensor *x, const volt_class_loss_args *a,
                                  const volt_tensor *lse, const volt_tensor *g, double scale,
                                  volt_tensor *gx, volt_tensor *gprobs);

/* Sum of a contiguous f32/f64 tensor, in double, in index order. */
double volt_cpu_sum_flat(const volt_tensor *t);

/* --------------------------------------------------------- pointwise losses */

typedef enum {
    VOLT_PW_MSE,        /* (x - y)^2 */
    VOLT_PW_L1,         /* |x - y| */
    VOLT_PW_SMOOTH_L1,  /* 0.5 d^2 / beta if |d| < beta, else |d| - 0.5 beta (beta > 0) */
    VOLT_PW_BCE,        /* -(y log x + (1 - y) log(1 - x)), logs clamped at -100 */
    VOLT_PW_BCE_LOGITS, /* -(w y log s(x) + (1 - y) log(1 - s(x))), w = pos_weight */
    VOLT_PW_KL,         /* y (log y - x), 0 where y == 0 */
    VOLT_PW_KL_LOG,     /* exp(y) (y - x) */
} volt_pointwise_loss;

typedef enum { VOLT_PW_VALUE, VOLT_PW_GRAD_X, VOLT_PW_GRAD_Y } volt_pointwise_what;

/* An operand of the flat kernels: contiguous (stride 1) or one value
 * broadcast to every element (stride 0); data of the output's dtype. */
typedef struct {
    const void *data;
    int64_t stride;
} volt_flat_arg;

/* out[i] = g[i] * f(x[i], y[i], w[i]) for i < numel(out), where f is the
 * loss or its derivative in x or y; out is contiguous f32/f64; g.data NULL
 * means 1, w.data NULL means 1. Elementwise, so thread-count independent. */
void volt_cpu_pointwise_loss(volt_pointwise_loss kind, volt_pointwise_what what, double beta,
                             volt_tensor *out, volt_flat_arg x, volt_flat_arg y, volt_flat_arg w,
                             volt_flat_arg g);

/* Index of the first element of contiguous t (f32/f64) outside [lo, hi]
 * (NaN counts as outside), or -1. */
int64_t volt_cpu_first_outside(const volt_tensor *t, double lo, double hi);

#endif
