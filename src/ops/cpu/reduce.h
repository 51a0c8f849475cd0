/* reduce.h: the CPU reduction kernels: floating reductions accumulated in double, integer sum and
 * product, max/min with indices along one dim, and the elementwise kernels
 * the reductions' gradients are made of. */
#ifndef VOLT_CPU_REDUCE_H
#define VOLT_CPU_REDUCE_H

#include "ops/cpu/cpu_kernels.h"

/* What is accumulated (in double) over each group of reduced elements; c is
 * the group's entry of `center`. */
typedef enum {
    VOLT_RED_SUM,    /* sum x                      (0 for an empty group) */
    VOLT_RED_PROD,   /* prod x                     (1) */
    VOLT_RED_SUMSQ,  /* sum x^2                    (0) */
    VOLT_RED_SQDEV,  /* sum (x - c)^2              (0) */
    VOLT_RED_EXPSUM, /* sum exp(x - c)             (0) */
    VOLT_RED_ABSSUM, /* sum |x|                    (0) */
    VOLT_RED_MAXABS, /* max |x|, NaN propagates    (0) */
    VOLT_RED_MAX,    /* max x, NaN propagates      (-inf) */
    VOLT_RED_MIN,    /* min x, NaN propagates      (+inf) */
    VOLT_RED_COUNT
} volt_cpu_reduce_op;

/* How the accumulator becomes the output value. */
typedef enum {
    VOLT_RED_FINAL_NONE,     /* acc */
    VOLT_RED_FINAL_DIV,      /* acc / p */
    VOLT_RED_FINAL_SQRT_DIV, /* sqrt(acc / p) */
    VOLT_RED_FINAL_LOG_ADD,  /* log(acc) + c */
} volt_reduce_final;

/* out[o] = final(reduction of a over the dims where reduce[d]), a f32/f64 of
 * any layout, out a contiguous f32/f64 tensor with one element per kept
 * position (row-major over a's kept dims). center: NULL, or one double per
 * output. Fast paths: the reduced elements contiguous (rows), or the kept
 * dims contiguous innermost (columns: whole rows are accumulated into the
 * outputs). Long groups are split into blocks fixed by the group size, so
 * results never depend on the thread count. */
void volt_cpu_reduce(volt_cpu_reduce_op op, volt_reduce_final final, double p, volt_tensor *out,
                     const volt_tensor *a, const bool reduce[VOLT_MAX_DIMS], const double *center);
/* The same through the simple strided loop only (tests hold the fast paths
 * to it). */
void volt_cpu_reduce_reference(volt_cpu_reduce_op op, volt_reduce_final final, double p,
                               volt_tensor *out, const volt_tensor *a,
                               const bool reduce[VOLT_MAX_DIMS], const double *center);

/* out (contiguous i64) = sum or product of i64 tensor a over the reduced dims
 * (wrapping on overflow). */
void volt_cpu_reduce_i64(bool product, volt_tensor *out, const volt_tensor *a,
                         const bool reduce[VOLT_MAX_DIMS]);

/* Max (is_max) or min of a along `dim` (size > 0): values (contiguous, a's
 * dtype; bool as u8) and indices (contiguous i64, or NULL) hold one element per
 * position of the other dims. First index on ties; a NaN wins (the first one). */
void volt_cpu_max_dim(bool is_max, volt_tensor *values, volt_tensor *indices, const volt_tensor *a,
                      int dim);

/* grad (contiguous, a's shape) = gradient of the product over the reduced
 * dims: for each element, g of its group times the product of the group's
 * other elements (prefix and suffix products: exact with zeros). g is
 * contiguous with one element per group. */
void volt_cpu_prod_backward(volt_tensor *grad, const volt_tensor *a,
                            const bool reduce[VOLT_MAX_DIMS], const volt_tensor *g);

/* grad (contiguous zeros of the input's shape) [.., index[o], ..] = g[o] along
 * dim; index (i64) and g are contiguous in keepdim form (size 1 at dim). */
void volt_cpu_scatter_dim(volt_tensor *grad, int dim, const volt_tensor *index,
                          const volt_tensor *g);

/* Elementwise kernels of the gradients: out = f(x, c, s), x, c and s of out's
 * dtype (f32/f64) broadcast to out's shape. */
typedef enum {
    VOLT_RGRAD_CENTERED,     /* s * (x - c) */
    VOLT_RGRAD_EXP,          /* s * exp(x - c) */
    VOLT_RGRAD_SIGN,         /* s * sign(x) */
    VOLT_RGRAD_SCALE,        /* s * x */
    VOLT_RGRAD_ABSMAX_MASK,  /* |x| == c or x is NaN: 1, else 0 */
    VOLT_RGRAD_ABSMAX_SIGN,  /* s * sign(x) * absmax_mask */
    VOLT_RGRAD_VALUE_MASK,   /* x == c, or both NaN: 1, else 0 */
    VOLT_RGRAD_VALUE_SELECT, /* s * value_mask */
    VOLT_RGRAD_DIV_OR_ZERO,  /* c == 0 ? 0 : s / c */
    VOLT_RGRAD_COUNT
} volt_reduce_grad_op;

void volt_cpu_reduce_grad(volt_reduce_grad_op op, volt_tensor *out, const volt_tensor *x,
                          const volt_tensor *c, const volt_tensor *s);

#endif
