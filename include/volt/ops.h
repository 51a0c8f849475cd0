/* volt/ops.h: every tensor operation (DESIGN.md §3). Each op validates its
 * arguments, allocates its output in the current scope (see volt/core.h),
 * dispatches to the kernel for the inputs' device and dtype, and records an
 * autograd node when an input requires grad and grad mode is on.
 *
 * Contract shared by every op here unless its comment says otherwise:
 *  - a NULL input, a shape, dtype, dimension or device mismatch records the
 *    sticky error ("volt: <op>: <shapes>: <what is wrong>") and returns NULL;
 *  - dims may be negative (counted from the end);
 *  - binary ops broadcast like NumPy and promote dtypes like PyTorch
 *    (bool < u8 < i32 < i64 < f16/bf16 < f32 < f64; a 0-d operand does not
 *    raise the dtype of the other within the same kind);
 *  - floating ops take f32 and f64; integer and bool tensors are accepted
 *    where the operation makes sense for them (arithmetic, comparisons,
 *    indexing, shape ops, sum/max/min).
 *  - ops that only move data (views, cat, repeat, indexing, where) take every
 *    dtype, bf16/f16 included;
 *  - bf16 (precision "bf16-true", docs/precision.md): the elementwise and
 *    activation ops, binary ops and their in-place forms, the reductions,
 *    softmax / log_softmax, cross_entropy / nll_loss, dropout, max/avg
 *    pooling, batch_norm, matmul / bmm / addmm / outer take bf16 tensors:
 *    each computes in f32 on the widened operands and rounds its result to
 *    bf16 once (a bf16 loss too); its gradients likewise. Products run as
 *    under bf16 autocast (f32 accumulation). A scalar operand of a bf16
 *    tensor keeps f32 precision. Convolutions, layer/group/RMS norm,
 *    attention and embedding take them the same way; an op that does not
 *    refuses them with a dtype error, and on the CPU every op refuses f16;
 *  - exp, log, log1p, sqrt and rsqrt of integer or bool tensors give f32;
 *    activations and floating reductions (mean, var, ...) refuse integers;
 *  - gradients follow PyTorch's conventions at non-differentiable points
 *    (relu 0 at 0, clamp 1 at its bounds, abs 0 at 0, max/min of all
 *    elements split evenly among ties), with one deliberate difference: the
 *    gradient of std (and norm p=2) where the value is 0 is 0, not NaN.
 * Shapes are passed as (ndim, const int64_t *shape); VOLT_SHAPE(2, 3) expands
 * to that pair, VOLT_DIMS(0, 2) to a (count, const int *dims) pair. */
#ifndef VOLT_OPS_H
#define VOLT_OPS_H

#include "volt/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VOLT_SHAPE(...)                                                                            \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]) { __VA_ARGS__ }
#define VOLT_DIMS(...)                                                                             \
    (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (const int[]) { __VA_ARGS__ }
/* Reduce over every dimension. */
#define VOLT_ALL_DIMS 0, (const int *)0

/* ------------------------------------------------------------ creation */
/* On the CPU. Random ops draw from `gen` (NULL: the default generator). */

volt_tensor *volt_empty(int ndim, const int64_t *shape, volt_dtype dtype);
volt_tensor *volt_zeros(int ndim, const int64_t *shape, volt_dtype dtype);
volt_tensor *volt_ones(int ndim, const int64_t *shape, volt_dtype dtype);
volt_tensor *volt_full(int ndim, const int64_t *shape, double value, volt_dtype dtype);
/* A 0-d tensor holding value. */
volt_tensor *volt_scalar(double value, volt_dtype dtype);
/* Same shape, dtype and device as t. */
volt_tensor *volt_empty_like(const volt_tensor *t);
volt_tensor *volt_zeros_like(const volt_tensor *t);
volt_tensor *volt_ones_like(const volt_tensor *t);
volt_tensor *volt_full_like(const volt_tensor *t, double value);
/* [ceil((end - start) / step)] values start, start + step, ... (step != 0). */
volt_tensor *volt_arange(double start, double end, double step, volt_dtype dtype);
/* [steps] evenly spaced values from start to end inclusive (steps >= 0). */
volt_tensor *volt_linspace(double start, double end, int64_t steps, volt_dtype dtype);
/* [n, m] identity (ones on the main diagonal). */
volt_tensor *volt_eye(int64_t n, int64_t m, volt_dtype dtype);
/* Uniform [0, 1), standard normal, integers in [low, high) (floating dtypes
 * for rand/randn, any non-bool dtype for randint). */
volt_tensor *volt_rand(int ndim, const int64_t *shape, volt_dtype dtype, volt_generator *gen);
volt_tensor *volt_randn(int ndim, const int64_t *shape, volt_dtype dtype, volt_generator *gen);
volt_tensor *volt_randint(int64_t low, int64_t high, int ndim, const int64_t *shape,
                          volt_dtype dtype, volt_generator *gen);
/* 1 with probability p[i], else 0; same shape and dtype as p (floating). */
volt_tensor *volt_bernoulli(const volt_tensor *p, volt_generator *gen);
/* A contiguous copy of `numel(shape)` elements of `dtype` read from data. */
volt_tensor *volt_from_array(const void *data, volt_dtype dtype, int ndim, const int64_t *shape);
/* A contiguous copy (differentiable). */
volt_tensor *volt_clone(const volt_tensor *t);
/* t converted to dtype (differentiable between floating dtypes); returns a
 * copy even when the dtype is already right. */
volt_tensor *volt_to_dtype(const volt_tensor *t, volt_dtype dtype);

/* ------------------------------------------------- devices (device_copy.c) */

/* A copy of t on `device` (a contiguous tensor, owned by the current
 * scope), or a view of t when it is already there; differentiable: the
 * gradient is copied back to t's device. CPU -> CUDA from pinned memory
 * (volt_pin_memory) does not block: the copy is queued on the device's
 * stream, ahead of the kernels that use it. A non-contiguous source is made
 * contiguous on its own device first. Errors: a
 * device that does not exist (volt_device_check's message, prefixed with
 * "to_device: "), VOLT_ERR_OUT_OF_MEMORY. */
volt_tensor *volt_to_device(const volt_tensor *t, volt_device device);
/* A copy of CPU tensor t in page-locked ("pinned") host memory, contiguous,
 * owned by the current scope and not recording autograd; its copies to a
 * GPU with volt_to_device do not block. Pinned blocks are cached for reuse.
 * Needs a CUDA device (VOLT_ERR_DEVICE otherwise). */
volt_tensor *volt_pin_memory(const volt_tensor *t);
/* Whether t's storage is pinned host memory. */
bool volt_tensor_is_pinned(const volt_tensor *t);

/* ------------------------------------------------------------- in place */
/* These write into `self` and return it (NULL + error on failure). They bump
 * the storage's version counter, and refuse a tensor that requires grad while
 * grad mode is on. */

volt_tensor *volt_fill_(volt_tensor *self, double value);
volt_tensor *volt_zero_(volt_tensor *self);
/* Copies src (broadcast to self's shape, converted to its dtype). */
volt_tensor *volt_copy_(volt_tensor *self, const volt_tensor *src);
volt_tensor *volt_add_(volt_tensor *self, const volt_tensor *other);
volt_tensor *volt_sub_(volt_tensor *self, const volt_tensor *other);
volt_tensor *volt_mul_(volt_tensor *self, const volt_tensor *other);
volt_tensor *volt_div_(volt_tensor *self, const volt_tensor *other);
volt_tensor *volt_mul_scalar_(volt_tensor *self, double value);
volt_tensor *volt_add_scalar_(volt_tensor *self, double value);
volt_tensor *volt_masked_fill_(volt_tensor *self, const volt_tensor *mask, double value);

/* --------------------------------------------------------- elementwise */

volt_tensor *volt_add(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_sub(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_mul(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_div(const volt_tensor *a, const volt_tensor *b); /* true division */
volt_tensor *volt_pow(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_maximum(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_minimum(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_add_scalar(const volt_tensor *a, double b);
volt_tensor *volt_mul_scalar(const volt_tensor *a, double b);
volt_tensor *volt_div_scalar(const volt_tensor *a, double b);
volt_tensor *volt_pow_scalar(const volt_tensor *a, double exponent);
/* a + alpha * b, a single op (differentiable). */
volt_tensor *volt_add_scaled(const volt_tensor *a, const volt_tensor *b, double alpha);

volt_tensor *volt_neg(const volt_tensor *a);
volt_tensor *volt_exp(const volt_tensor *a);
/* Natural logarithm (torch.log; named ln because volt_log is the trainer's
 * metric logging, volt/train.h). */
volt_tensor *volt_ln(const volt_tensor *a);
volt_tensor *volt_log1p(const volt_tensor *a);
volt_tensor *volt_sqrt(const volt_tensor *a);
volt_tensor *volt_rsqrt(const volt_tensor *a);
volt_tensor *volt_abs(const volt_tensor *a);
volt_tensor *volt_sign(const volt_tensor *a);
/* Clamps into [min, max]; pass -INFINITY / INFINITY for no bound. */
volt_tensor *volt_clamp(const volt_tensor *a, double min, double max);
/* cond ? a : b elementwise (cond must be bool; the three broadcast together;
 * a and b promote like binary ops). */
volt_tensor *volt_where(const volt_tensor *cond, const volt_tensor *a, const volt_tensor *b);

/* Comparisons give bool tensors; logical ops take any dtype (nonzero = true). */
volt_tensor *volt_eq(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_ne(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_lt(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_le(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_gt(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_ge(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_logical_and(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_logical_or(const volt_tensor *a, const volt_tensor *b);
volt_tensor *volt_logical_not(const volt_tensor *a);

/* --------------------------------------------------------- activations */

volt_tensor *volt_relu(const volt_tensor *a);
volt_tensor *volt_leaky_relu(const volt_tensor *a, double negative_slope);
volt_tensor *volt_elu(const volt_tensor *a, double alpha);
/* approximate false: x * Phi(x) (erf); true: the tanh approximation. */
volt_tensor *volt_gelu(const volt_tensor *a, bool approximate_tanh);
volt_tensor *volt_silu(const volt_tensor *a);
volt_tensor *volt_sigmoid(const volt_tensor *a);
volt_tensor *volt_tanh(const volt_tensor *a);
/* log(1 + exp(beta x)) / beta, linear where beta x > threshold. */
volt_tensor *volt_softplus(const volt_tensor *a, double beta, double threshold);
volt_tensor *volt_hardtanh(const volt_tensor *a, double min_val, double max_val);

/* ----------------------------------------------------------- reductions */
/* Over `n_dims` dims (VOLT_ALL_DIMS: all of them, giving a 0-d tensor unless
 * keepdim). A dim listed twice is an error. */

volt_tensor *volt_sum(const volt_tensor *a, int n_dims, const int *dims, bool keepdim);
volt_tensor *volt_mean(const volt_tensor *a, int n_dims, const int *dims, bool keepdim);
volt_tensor *volt_prod(const volt_tensor *a, int n_dims, const int *dims, bool keepdim);
/* Variance with `correction` (1: unbiased, 0: population) and its root. */
volt_tensor *volt_var(const volt_tensor *a, int n_dims, const int *dims, double correction,
                      bool keepdim);
volt_tensor *volt_std(const volt_tensor *a, int n_dims, const int *dims, double correction,
                      bool keepdim);
volt_tensor *volt_logsumexp(const volt_tensor *a, int n_dims, const int *dims, bool keepdim);
/* p = 1, 2 or INFINITY. */
volt_tensor *volt_norm(const volt_tensor *a, double p, int n_dims, const int *dims, bool keepdim);
/* Max / min along one dim; *indices (if not NULL) receives an i64 tensor of
 * the positions (the first one on ties). */
volt_tensor *volt_max(const volt_tensor *a, int dim, bool keepdim, volt_tensor **indices);
volt_tensor *volt_min(const volt_tensor *a, int dim, bool keepdim, volt_tensor **indices);
/* Max / min of all elements (0-d). */
volt_tensor *volt_max_all(const volt_tensor *a);
volt_tensor *volt_min_all(const volt_tensor *a);
volt_tensor *volt_argmax(const volt_tensor *a, int dim, bool keepdim);
volt_tensor *volt_argmin(const volt_tensor *a, int dim, bool keepdim);
/* Sum of all elements (0-d); shorthand for volt_sum(a, VOLT_ALL_DIMS, false). */
volt_tensor *volt_sum_all(const volt_tensor *a);
volt_tensor *volt_mean_all(const volt_tensor *a);

/* -------------------------------------------------------------- matmul */
/* f32 and f64 through BLAS; transposed operands are passed without copies.
 * Under bf16 autocast (below), f32 products run in bf16. */

/* torch.matmul: 1-D x 1-D dot, 2-D x 2-D, and batched with broadcast batch
 * dims ([..., n, k] @ [..., k, m]). */
volt_tensor *volt_matmul(const volt_tensor *a, const volt_tensor *b);
/* [B, n, k] @ [B, k, m] -> [B, n, m]. */
volt_tensor *volt_bmm(const volt_tensor *a, const volt_tensor *b);
/* beta * bias + alpha * (a @ b); a [n, k], b [k, m], bias broadcast to [n, m]. */
volt_tensor *volt_addmm(const volt_tensor *bias, const volt_tensor *a, const volt_tensor *b,
                        double beta, double alpha);
/* [n] x [m] -> [n, m]. */
volt_tensor *volt_outer(const volt_tensor *a, const volt_tensor *b);

/* --------------------------------------------------------------- shape */
/* Views share storage with their input where the geometry allows. */

/* One entry of shape may be -1 (inferred). reshape copies when a view is
 * impossible; view refuses instead. */
volt_tensor *volt_reshape(const volt_tensor *a, int ndim, const int64_t *shape);
volt_tensor *volt_view(const volt_tensor *a, int ndim, const int64_t *shape);
volt_tensor *volt_flatten(const volt_tensor *a, int start_dim, int end_dim);
volt_tensor *volt_transpose(const volt_tensor *a, int dim0, int dim1);
volt_tensor *volt_permute(const volt_tensor *a, int ndim, const int *dims);
/* a itself if already contiguous (then it is a new reference, not a copy). */
volt_tensor *volt_contiguous(const volt_tensor *a);
/* Removes dim if its size is 1 (else returns a view unchanged). */
volt_tensor *volt_squeeze(const volt_tensor *a, int dim);
/* Removes every size-1 dim. */
volt_tensor *volt_squeeze_all(const volt_tensor *a);
volt_tensor *volt_unsqueeze(const volt_tensor *a, int dim);
/* Broadcasts size-1 dims to `shape` (-1 keeps a size), a view with stride 0. */
volt_tensor *volt_expand(const volt_tensor *a, int ndim, const int64_t *shape);
/* Tiles a `repeats[i]` times along dim i (ndim >= a->ndim). */
volt_tensor *volt_repeat(const volt_tensor *a, int ndim, const int64_t *repeats);
volt_tensor *volt_cat(int n, volt_tensor *const *tensors, int dim);
volt_tensor *volt_stack(int n, volt_tensor *const *tensors, int dim);
/* Pieces of `split_size` along dim (the last may be smaller) into out[];
 * returns the count, or -1 with an error (also when it exceeds max_out). */
int volt_split(const volt_tensor *a, int64_t split_size, int dim, volt_tensor **out, int max_out);
/* `chunks` pieces of ceil(size / chunks) (fewer if the size is small). */
int volt_chunk(const volt_tensor *a, int chunks, int dim, volt_tensor **out, int max_out);
volt_tensor *volt_narrow(const volt_tensor *a, int dim, int64_t start, int64_t length);
/* Elements start, start + step, ... < end along dim (negative start/end count
 * from the end and are clamped like Python slices; step >= 1). */
volt_tensor *volt_slice(const volt_tensor *a, int dim, int64_t start, int64_t end, int64_t step);

/* -------------------------------------------------------------- index */
/* Index tensors are i64 (i32 accepted); out-of-range indices are errors. */

volt_tensor *volt_index_select(const volt_tensor *a, int dim, const volt_tensor *index);
/* out[i][j] = a[index[i][j]][j] for dim 0, and so on (index same ndim as a). */
volt_tensor *volt_gather(const volt_tensor *a, int dim, const volt_tensor *index);
/* A copy of a with src added at index along dim (differentiable in a, src). */
volt_tensor *volt_scatter_add(const volt_tensor *a, int dim, const volt_tensor *index,
                              const volt_tensor *src);
/* a with `value` where mask (bool, broadcast to a) is true. */
volt_tensor *volt_masked_fill(const volt_tensor *a, const volt_tensor *mask, double value);
/* [..., num_classes] i64 one-hot of an integer tensor (num_classes < 0:
 * max + 1). */
volt_tensor *volt_one_hot(const volt_tensor *index, int64_t num_classes);
/* Lower / upper triangle of the last two dims; others zeroed. */
volt_tensor *volt_tril(const volt_tensor *a, int64_t diagonal);
volt_tensor *volt_triu(const volt_tensor *a, int64_t diagonal);

/* ----------------------------------------------------- softmax, losses */

typedef enum {
    VOLT_REDUCTION_MEAN = 0,
    VOLT_REDUCTION_SUM,
    VOLT_REDUCTION_NONE,
    VOLT_REDUCTION_BATCHMEAN, /* kl_div only: sum / batch size */
} volt_reduction;

volt_tensor *volt_softmax(const volt_tensor *a, int dim);
volt_tensor *volt_log_softmax(const volt_tensor *a, int dim);

typedef struct {
    volt_reduction reduction;  /* mean */
    int64_t ignore_index;      /* -100; targets equal to it add nothing */
    double label_smoothing;    /* 0 */
    const volt_tensor *weight; /* NULL, or [C] per-class weights */
} volt_cross_entropy_options;
volt_cross_entropy_options volt_cross_entropy_defaults(void);

/* logits [N, C] or [N, C, d1, ...] (or [C]); target either class indices
 * (integer, [N] / [N, d1, ...]) or probabilities (floating, logits' shape).
 * options NULL: defaults. With reduction mean and weights, divides by the sum
 * of the targets' weights, like PyTorch (probability targets: by the number
 * of rows); every target ignored gives NaN. Gradients flow to the logits and
 * to probability targets, not to the weights. */
volt_tensor *volt_cross_entropy(const volt_tensor *logits, const volt_tensor *target);
volt_tensor *volt_cross_entropy_ex(const volt_tensor *logits, const volt_tensor *target,
                                   const volt_cross_entropy_options *options);
/* log_probs [N, C] (or [N, C, d...]), target class indices; weight may be NULL. */
volt_tensor *volt_nll_loss(const volt_tensor *log_probs, const volt_tensor *target,
                           const volt_tensor *weight, int64_t ignore_index,
                           volt_reduction reduction);
volt_tensor *volt_mse_loss(const volt_tensor *input, const volt_tensor *target,
                           volt_reduction reduction);
volt_tensor *volt_l1_loss(const volt_tensor *input, const volt_tensor *target,
                          volt_reduction reduction);
/* Quadratic below beta, linear above; beta >= 0 (0 is the l1 loss). */
volt_tensor *volt_smooth_l1_loss(const volt_tensor *input, const volt_tensor *target,
                                 volt_reduction reduction, double beta);
/* input: probabilities in [0, 1]; weight NULL or broadcast to input. */
volt_tensor *volt_binary_cross_entropy(const volt_tensor *input, const volt_tensor *target,
                                       const volt_tensor *weight, volt_reduction reduction);
/* weight and pos_weight NULL or broadcast to logits (pos_weight [C] along the
 * last dim); pos_weight gets no gradient. */
volt_tensor *volt_binary_cross_entropy_with_logits(const volt_tensor *logits,
                                                   const volt_tensor *target,
                                                   const volt_tensor *weight,
                                                   const volt_tensor *pos_weight,
                                                   volt_reduction reduction);
/* input: log-probabilities; target probabilities (or log-probabilities with
 * log_target). */
volt_tensor *volt_kl_div(const volt_tensor *input, const volt_tensor *target,
                         volt_reduction reduction, bool log_target);

/* Zeroes each element with probability p and scales the rest by 1/(1-p)
 * when training (p = 1: a * 0, like PyTorch); returns a view of a (carrying
 * its gradient) otherwise or when p = 0. The mask comes from `gen` (NULL: the
 * default generator), so the same generator state gives the same mask. */
volt_tensor *volt_dropout(const volt_tensor *a, double p, bool training, volt_generator *gen);

/* ------------------------------------------------- nn ops: norms, embedding,
 * attention (src/ops/norm.c, embedding.c, attention.c) --- */
/* f32 and f64; x, weight and bias share one dtype. Statistics are computed
 * per row in double, with the biased variance; eps >= 0. Each has a fused
 * backward for x, weight and bias. */

/* Normalises over the last `normalized_ndim` dims of x ([..., *S], 1 <=
 * normalized_ndim <= x->ndim): y = (x - mean) / sqrt(var + eps) * weight +
 * bias; weight and bias NULL or of shape S. */
volt_tensor *volt_layer_norm(const volt_tensor *x, int normalized_ndim, const volt_tensor *weight,
                             const volt_tensor *bias, double eps);
/* x [N, C, *]: statistics per sample over each of num_groups groups of
 * C / num_groups channels (num_groups must divide C); weight and bias NULL
 * or [C], applied per channel. */
volt_tensor *volt_group_norm(const volt_tensor *x, int64_t num_groups, const volt_tensor *weight,
                             const volt_tensor *bias, double eps);
/* y = x / sqrt(mean(x^2) + eps) * weight over the last normalized_ndim dims;
 * weight NULL or of their shape S. eps NAN: the machine epsilon of x's dtype
 * (torch's default). */
volt_tensor *volt_rms_norm(const volt_tensor *x, int normalized_ndim, const volt_tensor *weight,
                           double eps);

/* padding_idx value meaning "no padding row". */
#define VOLT_NO_PADDING_IDX INT64_MIN
/* weight [N, D] (floating), indices integer (i64 or i32) of any shape, each
 * in [0, N) -> [*indices, D] rows of weight. padding_idx: a row in [-N, N)
 * (negative counts from the end) whose gradient is always zero, or
 * VOLT_NO_PADDING_IDX. Backward adds the output gradient's rows into the
 * weight gradient (no gradient to indices). */
volt_tensor *volt_embedding(const volt_tensor *weight, const volt_tensor *indices,
                            int64_t padding_idx);

/* softmax(q @ k^T * scale (+ causal mask)) @ v over the last two dims:
 * q [..., T, D], k [..., S, D], v [..., S, Dv] with the same leading dims
 * (typically [B, H, T, D]) -> [..., T, Dv]. causal: query i sees keys
 * j <= i (torch's is_causal, aligned top-left). scale 0 or NAN: 1/sqrt(D).
 * f32/f64, q, k and v one dtype. One node: backward through the saved
 * attention probabilities. */
volt_tensor *volt_scaled_dot_product_attention(const volt_tensor *q, const volt_tensor *k,
                                               const volt_tensor *v, bool causal, double scale);

/* Attention of the heads packed in one projection's output: qkv [B, T, 3E]
 * (or [T, 3E]) holds q, k and v as the three E-wide thirds of each row,
 * each split into num_heads heads of E / num_heads (the layout of a GPT's
 * c_attn and of MultiheadAttention's in_proj). Returns the heads' outputs
 * side by side, [B, T, E] (or [T, E]): the same as volt_chunk into q, k, v,
 * each reshaped to [B, T, H, D] and transposed to [B, H, T, D],
 * volt_scaled_dot_product_attention, transposed back and reshaped. causal
 * and scale as there. On CUDA in bf16/f16 (or under autocast, in its
 * dtype, the result too) at head dims 64 and 128, one fused node reads the
 * heads in place and writes qkv's whole gradient at once. */
volt_tensor *volt_attention_qkv(const volt_tensor *qkv, int64_t num_heads, bool causal,
                                double scale);

/* ------------------------------------------------------------ autocast */
/* Mixed precision (DESIGN.md §6; the trainer's precision "bf16-mixed" and
 * "16-mixed"), as torch.autocast does it. The mode is per thread, like grad
 * mode, and off by default. While it is on:
 *  - the products — matmul, bmm, addmm, outer (and so the Linear layer) —
 *    the convolutions — conv2d, conv1d, conv_transpose2d and their fused
 *    forms — and attention (scaled_dot_product_attention, attention_qkv)
 *    take operands that are f32 or already in the autocast dtype (bf16;
 *    f16 under VOLT_AUTOCAST_F16, on CUDA only), in any mix, compute in
 *    that dtype with f32 accumulation and return their result in it: a
 *    network's activations are bf16 from its first product on, as under
 *    torch.autocast. On the CPU a bias is added in f32 before the result is
 *    rounded; on CUDA it is converted too. Their gradients are computed the
 *    same way (the output gradient and the saved operands in bf16): an f32
 *    operand (a parameter) gets an f32 gradient, a bf16 one a bf16
 *    gradient, whatever the mode is when backward runs (a node keeps the
 *    mode of its forward);
 *  - the ops autocast keeps in f32 — layer, group, RMS and batch norm,
 *    softmax, log_softmax and the losses — given a tensor in the autocast
 *    dtype widen it to f32 (a recorded conversion) and return f32, so a
 *    loss is f32;
 *  - every other op runs in its operands' dtype (ReLU of a bf16 tensor is
 *    bf16; an f32 + bf16 sum is f32, by promotion), and layers take an input
 *    in the autocast dtype with their f32 parameters.
 * f64 operands are unaffected; parameters, their gradients and optimizer
 * state stay f32. The bf16 products run on oneDNN's bf16 kernels where the
 * CPU has AVX-512-BF16 or AMX; elsewhere (or with the fast kernels switched
 * off) the rounded operands are multiplied in f32, which gives the same
 * numbers up to the order of the f32 accumulation. */
typedef enum {
    VOLT_AUTOCAST_OFF = 0,
    VOLT_AUTOCAST_BF16,
    /* f16 products on CUDA tensors (precision "16-mixed"); the CPU has no
     * f16 kernels, so CPU products ignore it and stay f32. */
    VOLT_AUTOCAST_F16,
} volt_autocast_mode;
/* This thread's mode. */
volt_autocast_mode volt_autocast_get(void);
/* Sets this thread's mode and returns the previous one, to restore after
 * the region (regions nest that way):
 *     volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
 *     ... forward ...
 *     volt_autocast_set(prev);
 * A value other than the three modes is taken as VOLT_AUTOCAST_OFF. */
volt_autocast_mode volt_autocast_set(volt_autocast_mode mode);
/* The dtype autocast's products and convolutions on `device` compute in
 * and return on this thread now: VOLT_BF16 under bf16 autocast, VOLT_F16
 * under f16 autocast on a CUDA device, else VOLT_F32 (autocast off, or f16
 * autocast on the CPU, which has no f16 kernels). */
volt_dtype volt_autocast_dtype(volt_device device);
/* Whether bf16 products run on bf16 hardware here (oneDNN's effective ISA
 * has AVX-512-BF16 or AMX). */
bool volt_autocast_bf16_native(void);

/* ------------------------------------------- nn ops: convolution, pooling,
 * batch norm (src/ops/conv.c, pool.c, batch_norm.c; oneDNN + reference) --- */
/* torch.nn.functional's conv2d, conv1d, conv_transpose2d, max_pool2d,
 * avg_pool2d, adaptive_avg_pool2d and batch_norm, with their gradients.
 * f32 convolution and pooling run through oneDNN, f32 batch norm through
 * volt's own fused kernels (faster than oneDNN's on NCHW), f64 through
 * simple reference kernels (which also take the few f32 problems oneDNN
 * does not); other dtypes are refused. x, weight and bias share one dtype.
 * Per-dimension arguments are arrays of 2 ({H, W}); NULL gives the default
 * (stride 1, padding 0, dilation 1). A 3-D input [C, H, W] is taken as a
 * batch of one (the result is 3-D too).
 * Output size per dim: (in + 2 padding - dilation (k - 1) - 1) / stride + 1
 * (floor; ceil_mode rounds up, like PyTorch). Errors name the op and shapes:
 * channel mismatch, groups not dividing channels, stride or dilation < 1,
 * negative padding, an empty output ("kernel larger than the padded
 * input"). */

/* padding[i] == VOLT_PADDING_SAME: "same" padding in dim i (stride 1 only):
 * total dilation (k - 1), the odd one at the end, like PyTorch. */
#define VOLT_PADDING_SAME (-1)

/* x [N, C, H, W], w [O, C / groups, kH, kW], bias NULL or [O] ->
 * [N, O, OH, OW]. */
volt_tensor *volt_conv2d(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                         const int64_t stride[2], const int64_t padding[2],
                         const int64_t dilation[2], int64_t groups);
/* relu(conv2d(...)) as one op, the same values: one output tensor instead
 * of two (the ReLU is applied in place to the convolution's result, and
 * its backward masks the gradient by the saved output), so a
 * convolution-ReLU pair holds half the activation memory until the step
 * ends. */
volt_tensor *volt_conv2d_relu(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                              const int64_t stride[2], const int64_t padding[2],
                              const int64_t dilation[2], int64_t groups);
/* max_pool2d(relu(conv2d(...)), kernel 2, stride 2) — a CNN block — as one
 * op, the same values. In f32 on the CPU: Conv2d(1, O, 3, padding 1) on an
 * input that needs no gradient (a network's first block) runs as one pass
 * that never stores the convolution's [N, O, H, W] output (only the pooled
 * [N, O, H / 2, W / 2] and a byte per output for the backward pass: a
 * quarter of the memory traffic each way), under bf16 autocast too; other
 * ungrouped stride-1 convolutions with a multiple of 16 output channels
 * pool oneDNN's blocked (or, in bf16, NHWC) output directly and hand its
 * gradient back in that layout (no reorders, no ReLU pass). bf16 tensors
 * take the first-block pass too. Every other case runs conv2d_relu and
 * max_pool2d, whose errors it reports. */
volt_tensor *volt_conv2d_relu_max_pool2x2(const volt_tensor *x, const volt_tensor *w,
                                          const volt_tensor *bias, const int64_t stride[2],
                                          const int64_t padding[2], const int64_t dilation[2],
                                          int64_t groups);
/* x [N, C, L] (or [C, L]), w [O, C / groups, k], bias NULL or [O]; padding
 * may be VOLT_PADDING_SAME. */
volt_tensor *volt_conv1d(const volt_tensor *x, const volt_tensor *w, const volt_tensor *bias,
                         int64_t stride, int64_t padding, int64_t dilation, int64_t groups);
/* The gradient of conv2d with respect to its input, as a layer: x
 * [N, C, H, W], w [C, O / groups, kH, kW], bias NULL or [O] -> [N, O, OH,
 * OW] with OH = (H - 1) stride - 2 padding + dilation (kH - 1) +
 * output_padding + 1; output_padding[i] < max(stride[i], dilation[i])
 * (NULL: 0). "same" padding is not taken. */
volt_tensor *volt_conv_transpose2d(const volt_tensor *x, const volt_tensor *w,
                                   const volt_tensor *bias, const int64_t stride[2],
                                   const int64_t padding[2], const int64_t output_padding[2],
                                   const int64_t dilation[2], int64_t groups);

/* Max over kernel windows of x [N, C, H, W]; stride NULL: the kernel size;
 * padding (implicit -inf) at most half the dilated kernel. indices (may be
 * NULL) receives an i64 tensor of the output's shape holding each maximum's
 * position h * W + w in its input plane (the first one on ties), like
 * PyTorch's return_indices. The gradient goes to the maximum of each
 * window. */
volt_tensor *volt_max_pool2d(const volt_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                             const int64_t padding[2], const int64_t dilation[2], bool ceil_mode,
                             volt_tensor **indices);
/* Mean over kernel windows; count_include_pad: padding zeros count in the
 * divisor (not the part of a ceil_mode window past the padding), like
 * PyTorch. */
volt_tensor *volt_avg_pool2d(const volt_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                             const int64_t padding[2], bool ceil_mode, bool count_include_pad);
/* x [N, C, H, W] -> [N, C, out_h, out_w]: output cell i averages input rows
 * floor(i H / out_h) .. ceil((i + 1) H / out_h) - 1 (and so for columns). */
volt_tensor *volt_adaptive_avg_pool2d(const volt_tensor *x, int64_t out_h, int64_t out_w);

/* x [N, C, *] normalised per channel. training: with the batch's mean and
 * (biased) variance, and, when running_mean / running_var are given (both
 * or neither, [C], x's dtype), updates them in place: r = (1 - momentum) r +
 * momentum s, with the unbiased variance for running_var (needs more than
 * one value per channel). Not training: with running_mean / running_var
 * (required). weight, bias: NULL or [C]. Gradients to x, weight and bias in
 * both modes; none to the running statistics. */
volt_tensor *volt_batch_norm(const volt_tensor *x, volt_tensor *running_mean,
                             volt_tensor *running_var, const volt_tensor *weight,
                             const volt_tensor *bias, bool training, double momentum, double eps);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_OPS_H */
