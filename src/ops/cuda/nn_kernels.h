/* nn_kernels.h: the C ABI of the CUDA kernels of reductions, softmax,
 * cross-entropy and norms (reduce.cu, softmax.cu, loss.cu, norm.cu). As in
 * cuda_kernels.h, a launcher checks nothing: it queues its kernels on
 * `stream` of the current device and returns the launch's cudaError_t as an
 * int (0: queued). Dtypes are VOLT_CUDA_F32/F64/BF16/F16 (cuda_kernels.h);
 * bf16 and f16 are computed in f32 and rounded once on the way out, f64 in
 * f64. Nothing here uses float atomics: every result is deterministic.
 *
 * Row geometry, shared by every kernel here: a contiguous tensor seen as
 * [outer, n, inner]; row r (0 <= r < outer * inner) is the n elements
 * x[(r / inner) * n * inner + k * inner + r % inner], k < n — the elements
 * along one dim at one position of the others. Rows of inner == 1 are
 * contiguous and read by a warp or a block each; others by one thread each
 * (neighbouring threads read neighbouring columns: coalesced). */
#ifndef VOLT_CUDA_NN_KERNELS_H
#define VOLT_CUDA_NN_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VOLT_CUDA_RED_MAX_DIMS 8

/* What a reduction computes over each group (acc: f32, f64 for f64). */
enum {
    VOLT_CUDA_RED_SUM,    /* sum x (0 for none) */
    VOLT_CUDA_RED_PROD,   /* prod x (1) */
    VOLT_CUDA_RED_SUMSQ,  /* sum x^2 */
    VOLT_CUDA_RED_ABSSUM, /* sum |x| */
    VOLT_CUDA_RED_MAXABS, /* max |x|, NaN propagates (0) */
    VOLT_CUDA_RED_MAX,    /* max x, NaN propagates (-inf) */
    VOLT_CUDA_RED_MIN,    /* min x, NaN propagates (+inf) */
    VOLT_CUDA_RED_VAR,    /* sum (x - mean)^2, two passes over the group */
    VOLT_CUDA_RED_LSE,    /* log(sum exp(x - m)) + m, m the group's max (0 if not finite) */
};
/* How the accumulator becomes the result: acc, acc / p, sqrt(acc / p). */
enum { VOLT_CUDA_FINAL_NONE, VOLT_CUDA_FINAL_DIV, VOLT_CUDA_FINAL_SQRT_DIV };

/* A reduction's input: kept and reduced dims (coalesced, each list
 * row-major) with element strides. Outputs are numbered row-major over the
 * kept dims. */
typedef struct {
    int n_keep, n_red;
    int64_t keep_shape[VOLT_CUDA_RED_MAX_DIMS], keep_stride[VOLT_CUDA_RED_MAX_DIMS];
    int64_t red_shape[VOLT_CUDA_RED_MAX_DIMS], red_stride[VOLT_CUDA_RED_MAX_DIMS];
} volt_cuda_reduce_geom;

/* out[o] = final(op over the group of output o) of `dtype` x, any
 * geometry (one thread per output walking its group). */
int volt_cuda_launch_reduce_general(int op, int final, double p, int dtype, void *out,
                                    const void *x, const volt_cuda_reduce_geom *g, int64_t n_out,
                                    void *stream);
/* The same for the row geometry: one output per row. Long rows with few
 * outputs are split into fixed chunks, and strided rows (inner > 1) of 512
 * or more elements into chunks of 256 rows read by column tiles; their
 * partial results (in `partial`, partial_count(n, outer, inner)
 * accumulators of f32, or f64 for f64) are reduced by a second kernel: the
 * result depends on the shape only. */
int volt_cuda_launch_reduce_rows(int op, int final, double p, int dtype, void *out, const void *x,
                                 int64_t outer, int64_t n, int64_t inner, void *partial,
                                 void *stream);
/* How many accumulators volt_cuda_launch_reduce_rows needs in `partial`
 * (0: none, pass NULL). */
int64_t volt_cuda_reduce_partial_count(int op, int64_t outer, int64_t n, int64_t inner);

/* Max (is_max) or min along the rows: values (dtype) and i64 indices (or
 * NULL), one per row. First index on ties; a NaN wins (the first one). */
int volt_cuda_launch_max_rows(int is_max, int dtype, void *values, int64_t *indices, const void *x,
                              int64_t outer, int64_t n, int64_t inner, void *stream);

/* The gradient kernels of the reductions (= volt_reduce_grad_op, plus
 * BROADCAST: out = s * p). out and x contiguous of x's shape; c and s
 * contiguous, one value per group, where group(i) is found by writing i in
 * the coalesced (shape) and summing idx[d] * gstride[d] (0 on reduced
 * dims). */
enum {
    VOLT_CUDA_RGRAD_CENTERED,
    VOLT_CUDA_RGRAD_EXP,
    VOLT_CUDA_RGRAD_SIGN,
    VOLT_CUDA_RGRAD_SCALE,
    VOLT_CUDA_RGRAD_ABSMAX_MASK,
    VOLT_CUDA_RGRAD_ABSMAX_SIGN,
    VOLT_CUDA_RGRAD_VALUE_MASK,
    VOLT_CUDA_RGRAD_VALUE_SELECT,
    VOLT_CUDA_RGRAD_DIV_OR_ZERO,
    VOLT_CUDA_RGRAD_BROADCAST,
};
typedef struct {
    int ndim;
    int64_t shape[VOLT_CUDA_RED_MAX_DIMS], gstride[VOLT_CUDA_RED_MAX_DIMS];
} volt_cuda_bcast_geom;
int volt_cuda_launch_reduce_grad(int op, int dtype, void *out, const void *x, const void *c,
                                 const void *s, double p, const volt_cuda_bcast_geom *g, int64_t n,
                                 void *stream);

/* out (zeroed before, row geometry of out) [row r, index[r]] = g[r]. */
int volt_cuda_launch_scatter_rows(int dtype, void *out, const int64_t *index, const void *g,
                                  int64_t outer, int64_t n, int64_t inner, void *stream);

/* softmax (log = 0) or log_softmax (log = 1) of each row of x into y (same
 * geometry and dtype). */
int volt_cuda_launch_softmax(int log, int dtype, void *y, const void *x, int64_t outer, int64_t n,
                             int64_t inner, void *stream);
/* gx from the saved output y and the output gradient g (same geometry):
 * softmax gx = y (g - sum(g y)); log_softmax gx = g - exp(y) sum(g). */
int volt_cuda_launch_softmax_backward(int log, int dtype, void *gx, const void *g, const void *y,
                                      int64_t outer, int64_t n, int64_t inner, void *stream);

/* Cross-entropy / NLL over class rows (n = C classes) with i64 targets (one
 * per row): loss[r] = (1 - eps) w[t] (-logp[t]) + (eps / C) sum_c w[c]
 * (-logp[c]), 0 where t == ignore_index, NaN where t is out of range (never
 * read: checking on the host would wait for the device); logp = x - lse(x)
 * when from_logits, else x. wrow[r] = w[t] (0 when ignored); lse[r] = the
 * row's logsumexp (from_logits; else NULL). x (and gx) are of dtype;
 * weight (C values, or NULL: 1), loss, lse and wrow of loss_dtype, which is
 * dtype, or f32 for bf16 / f16 logits (autocast). x is [outer, n, inner]
 * contiguous, or with inner 1 [outer, n] rows ld elements apart (ld >= n:
 * rows padded for aligned matrix products); gx is contiguous. */
typedef struct {
    const int64_t *target;
    const void *weight;
    int64_t ignore_index;
    double smoothing;
    int from_logits;
    int64_t ld; /* x's row stride when inner is 1 */
} volt_cuda_class_args;
int volt_cuda_launch_class_loss(int dtype, int loss_dtype, const void *x, volt_cuda_class_args a,
                                void *loss, void *lse, void *wrow, int64_t outer, int64_t n,
                                int64_t inner, void *stream);
/* out[0] = sum(loss) / (mean ? sum(wrow) : 1), and denom[0] = that divisor,
 * both of dtype, by one block in a fixed order. */
int volt_cuda_launch_class_loss_total(int dtype, void *out, void *denom, const void *loss,
                                      const void *wrow, int64_t rows, int mean, void *stream);
/* gx = d loss / d x (an element per thread), row r scaled by g_rows[r]
 * (reduction none) or by g_scalar[0] / denom[0] (denom NULL: 1). */
int volt_cuda_launch_class_loss_backward(int dtype, int loss_dtype, void *gx, const void *x,
                                         volt_cuda_class_args a, const void *lse,
                                         const void *g_rows, const void *g_scalar,
                                         const void *denom, int64_t outer, int64_t n, int64_t inner,
                                         void *stream);

/* Layer norm, RMS norm, group norm (norm.cu) over x [rows, n] contiguous;
 * element k of row r belongs to channel (r % groups) * (n / inner) +
 * k / inner of the weight and bias (= volt_norm_geom, ops/cpu/norm.h).
 * Statistics in the compute type (f32; f64 for f64). */
typedef struct {
    int64_t rows, n, groups, inner;
    int rms; /* no centering: mean 0, var = mean of x^2 */
    double eps;
} volt_cuda_norm_geom;
/* y = (x - mean) rstd w[c] + b[c]; mean, rstd: one per row, of the compute
 * type (float, double for f64). w, b may be NULL. */
int volt_cuda_launch_norm_forward(int dtype, const volt_cuda_norm_geom *g, void *y, void *mean,
                                  void *rstd, const void *x, const void *w, const void *b,
                                  void *stream);
/* gx, gw, gb (each may be NULL) from gy as volt_cpu_norm_backward; partial:
 * volt_cuda_norm_partial_count(g) values of the compute type (scratch for
 * the weight and bias gradients; NULL when 0). Nothing is written for an
 * empty input. */
int volt_cuda_launch_norm_backward(int dtype, const volt_cuda_norm_geom *g, void *gx, void *gw,
                                   void *gb, void *partial, const void *gy, const void *x,
                                   const void *mean, const void *rstd, const void *w, void *stream);
int64_t volt_cuda_norm_partial_count(const volt_cuda_norm_geom *g);

/* The pointwise losses (loss_pointwise.cu; = volt_pointwise_loss and
 * volt_pointwise_what of ops/cpu/loss.h): out[i] (n contiguous) =
 * g[i] * f(x[i], y[i], w[i]), f the loss or its derivative in x or y.
 * Operands contiguous (stride 1) or one value (stride 0), of dtype; w and g
 * may have NULL data (1). */
enum {
    VOLT_CUDA_PW_MSE,
    VOLT_CUDA_PW_L1,
    VOLT_CUDA_PW_SMOOTH_L1,
    VOLT_CUDA_PW_BCE,
    VOLT_CUDA_PW_BCE_LOGITS,
    VOLT_CUDA_PW_KL,
    VOLT_CUDA_PW_KL_LOG,
};
enum { VOLT_CUDA_PW_VALUE, VOLT_CUDA_PW_GRAD_X, VOLT_CUDA_PW_GRAD_Y };
typedef struct {
    const void *data;
    int64_t stride;
} volt_cuda_flat;
int volt_cuda_launch_pointwise_loss(int kind, int what, int dtype, double beta, void *out,
                                    int64_t n, volt_cuda_flat x, volt_cuda_flat y, volt_cuda_flat w,
                                    volt_cuda_flat g, void *stream);

#ifdef __cplusplus
}
#endif

#endif
