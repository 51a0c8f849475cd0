/* reduce.c: reductions over a set of dims with keepdim (sum, mean, prod,
 * var/std, logsumexp, norm), max/min along one dim with indices, argmax /
 * argmin, max/min of all elements, and their gradients. Kernels:
 * ops/cpu/reduce.c. bf16 inputs reduce in f32 and round the result to bf16
 * (ops/bf16.c). On CUDA (ops/cuda/reduce.c): every floating dtype natively
 * (bf16 and f16 accumulated in f32), the gradients by the same kernels. */
#include <math.h>

#include "ops/cpu/reduce.h"
#include "ops/cuda/cuda_nn.h"

/* Node layout of every reduction: iargs[0..ndim) = reduced-dim mask of the
 * input; args[] and iargs[VOLT_MAX_DIMS..] are op-specific. */

/* Output shape: a's shape with reduced dims set to 1 (keepdim) or removed. */
static int reduced_shape(const volt_tensor *a, const bool mask[VOLT_MAX_DIMS], bool keepdim,
                         int64_t *shape) {
    int n = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (!mask[d])
            shape[n++] = a->shape[d];
        else if (keepdim)
            shape[n++] = 1;
    }
    return n;
}

static int64_t reduced_count(const volt_tensor *a, const bool mask[VOLT_MAX_DIMS]) {
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++)
        if (mask[d]) n *= a->shape[d];
    return n;
}

/* Validation shared by the reductions over dims. */
static bool prologue(const char *op, const volt_tensor *a, int n_dims, const int *dims,
                     bool mask[VOLT_MAX_DIMS], bool floating_only) {
    if (!volt_check_not_null(op, a, "a") || !volt_check_device_supported(op, a)) return false;
    if (!volt_dims_to_mask(op, a, n_dims, dims, mask)) return false;
    if (floating_only && !volt_check_float(op, a)) return false;
    return !volt_dtype_is_float(a->dtype) || volt_check_f32_f64(op, a);
}

/* One kernel pass over a floating `a` into a new tensor of the reduced
 * shape; center: NULL or an f64 tensor with one element per output. */
static volt_tensor *run_reduce(volt_cpu_reduce_op op, volt_reduce_final final, double p,
                               const volt_tensor *a, const bool mask[VOLT_MAX_DIMS], bool keepdim,
                               volt_dtype dtype, const volt_tensor *center) {
    int64_t shape[VOLT_MAX_DIMS];
    int n = reduced_shape(a, mask, keepdim, shape);
    volt_tensor *out = volt_tensor_new(dtype, a->device, n, shape);
    if (out)
        volt_cpu_reduce(op, final, p, out, a, mask,
                        center ? (const double *)volt_tensor_data(center) : NULL);
    return out;
}

/* Sum or product of an integer or bool tensor, as i64 (like PyTorch). */
static volt_tensor *reduce_integer(bool product, const volt_tensor *a,
                                   const bool mask[VOLT_MAX_DIMS], bool keepdim) {
    const volt_tensor *src = volt_as_dtype(a, VOLT_I64);
    if (!src) return NULL;
    int64_t shape[VOLT_MAX_DIMS];
    int n = reduced_shape(a, mask, keepdim, shape);
    volt_tensor *out = volt_tensor_new(VOLT_I64, a->device, n, shape);
    if (out) volt_cpu_reduce_i64(product, out, src, mask);
    if (src != a) volt_tensor_free((volt_tensor *)src);
    return out;
}

static volt_node *record(const char *name, volt_backward_fn backward, volt_tensor *out,
                         const volt_tensor *a, const bool mask[VOLT_MAX_DIMS]) {
    if (!out || !volt_autograd_should_record(1, &a)) return NULL;
    volt_node *node = volt_autograd_record(name, backward, out, 1, &a);
    if (node)
        for (int d = 0; d < a->ndim; d++) node->iargs[d] = mask[d];
    return node;
}

/* ------------------------------------------------ gradient helpers */

static void node_mask(const volt_node *node, bool mask[VOLT_MAX_DIMS]) {
    for (int d = 0; d < VOLT_MAX_DIMS; d++)
        mask[d] = d < node->inputs[0].ndim && node->iargs[d] != 0;
}

/* The reduced dims as a list (n == 0: a 0-d input, i.e. all dims). */
static int node_dims(const volt_node *node, int dims[VOLT_MAX_DIMS]) {
    int n = 0;
    for (int d = 0; d < node->inputs[0].ndim; d++)
        if (node->iargs[d]) dims[n++] = d;
    return n;
}

/* t (shaped like the reduction's output) in keepdim form: size 1 on the
 * reduced dims, so that it broadcasts against the input. */
static volt_tensor *keepdim_form(volt_tensor *t, const volt_node *node) {
    const volt_node_input *in = &node->inputs[0];
    int64_t shape[VOLT_MAX_DIMS];
    for (int d = 0; d < in->ndim; d++) shape[d] = node->iargs[d] ? 1 : in->shape[d];
    return volt_reshape(t, in->ndim, shape);
}

/* A new tensor of the input's shape and dtype. */
static volt_tensor *input_like(const volt_node *node, const volt_tensor *g) {
    const volt_node_input *in = &node->inputs[0];
    return volt_tensor_new(g->dtype, g->device, in->ndim, in->shape);
}

/* out = kernel(x, c, s) into a new tensor of x's shape. */
static volt_tensor *grad_kernel(volt_reduce_grad_op op, const volt_tensor *x, const volt_tensor *c,
                                const volt_tensor *s) {
    if (!x || !c || !s) return NULL;
    volt_tensor *out = volt_tensor_new(x->dtype, x->device, x->ndim, x->shape);
    if (out && x->device.type == VOLT_CUDA) {
        if (volt_cuda_reduce_grad("reduction backward", (int)op, out, x, c, s, 0.0) == VOLT_OK)
            return out;
        volt_tensor_free(out);
        return NULL;
    }
    if (out) volt_cpu_reduce_grad(op, out, x, c, s);
    return out;
}

/* s / c where c != 0, else 0; same shape as c. */
static volt_tensor *div_or_zero(const volt_tensor *s, const volt_tensor *c) {
    return grad_kernel(VOLT_RGRAD_DIV_OR_ZERO, c, c, s);
}

static volt_status status_of(const volt_tensor *t) { return t ? VOLT_OK : volt_error_status(); }

/* ------------------------------------------------------------------ CUDA */

/* The reduced-dim mask of a CUDA tensor of a floating dtype (sum and prod
 * of integers run on the host, VOLT_INTEGER_ON_HOST; the other reductions
 * take floating tensors only, as on the CPU). */
static bool cuda_mask(const char *op, const volt_tensor *a, int n_dims, const int *dims,
                      bool mask[VOLT_MAX_DIMS]) {
    return volt_dims_to_mask(op, a, n_dims, dims, mask) && volt_check_float(op, a);
}

/* A new tensor of the reduced shape = final(red of a over mask), on CUDA. */
static volt_tensor *cuda_run(const char *op, volt_cuda_red red, volt_cuda_final final, double p,
                             const volt_tensor *a, const bool mask[VOLT_MAX_DIMS], bool keepdim) {
    int64_t shape[VOLT_MAX_DIMS];
    int n = reduced_shape(a, mask, keepdim, shape);
    volt_tensor *out = volt_tensor_new(a->dtype, a->device, n, shape);
    if (out && volt_cuda_reduce(op, red, final, p, out, a, mask) != VOLT_OK) {
        volt_tensor_free(out);
        return NULL;
    }
    return out;
}

/* grads[0] = g * scale broadcast to the input's shape (materialised). */
static volt_status cuda_broadcast_grad(volt_node *node, volt_tensor *g, double scale,
                                       volt_tensor **grads) {
    volt_tensor *gk = keepdim_form(g, node);
    volt_tensor *grad = gk ? input_like(node, g) : NULL;
    if (!grad) return volt_error_status();
    volt_status st =
        volt_cuda_reduce_grad("reduction backward", VOLT_RGRAD_COUNT, grad, NULL, NULL, gk, scale);
    if (st != VOLT_OK) return st;
    grads[0] = grad;
    return VOLT_OK;
}

/* ------------------------------------------------------------- sum, mean */

static volt_status sum_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    if (g->device.type == VOLT_CUDA) return cuda_broadcast_grad(node, g, 1.0, grads);
    const volt_node_input *in = &node->inputs[0];
    grads[0] = volt_expand(keepdim_form(g, node), in->ndim, in->shape);
    return status_of(grads[0]);
}

volt_tensor *volt_sum(const volt_tensor *a, int n_dims, const int *dims, bool keepdim) {
    VOLT_TRACE_OP("sum");
    VOLT_INTEGER_ON_HOST(a, h, volt_sum(h, n_dims, dims, keepdim))
    bool mask[VOLT_MAX_DIMS];
    if (a && a->device.type == VOLT_CUDA) {
        if (!cuda_mask("sum", a, n_dims, dims, mask)) return NULL;
        volt_tensor *out = cuda_run("sum", VOLT_CR_SUM, VOLT_CR_FINAL_NONE, 1.0, a, mask, keepdim);
        record("sum", sum_backward, out, a, mask);
        return out;
    }
    VOLT_BF16_VIA_F32(a, w, volt_sum(w, n_dims, dims, keepdim))
    if (!prologue("sum", a, n_dims, dims, mask, false)) return NULL;
    if (!volt_dtype_is_float(a->dtype)) return reduce_integer(false, a, mask, keepdim);
    volt_tensor *out =
        run_reduce(VOLT_RED_SUM, VOLT_RED_FINAL_NONE, 1.0, a, mask, keepdim, a->dtype, NULL);
    record("sum", sum_backward, out, a, mask);
    return out;
}

volt_tensor *volt_sum_all(const volt_tensor *a) { return volt_sum(a, VOLT_ALL_DIMS, false); }

static volt_status mean_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    if (g->device.type == VOLT_CUDA)
        return cuda_broadcast_grad(node, g, 1.0 / node->args[0], grads);
    const volt_node_input *in = &node->inputs[0];
    volt_tensor *scaled = volt_div_scalar(keepdim_form(g, node), node->args[0]);
    grads[0] = volt_expand(scaled, in->ndim, in->shape);
    return status_of(grads[0]);
}

volt_tensor *volt_mean(const volt_tensor *a, int n_dims, const int *dims, bool keepdim) {
    VOLT_TRACE_OP("mean");
    bool mask[VOLT_MAX_DIMS];
    if (a && a->device.type == VOLT_CUDA) {
        if (!cuda_mask("mean", a, n_dims, dims, mask)) return NULL;
        double count = (double)reduced_count(a, mask);
        volt_tensor *out =
            cuda_run("mean", VOLT_CR_SUM, VOLT_CR_FINAL_DIV, count, a, mask, keepdim);
        volt_node *node = record("mean", mean_backward, out, a, mask);
        if (node) node->args[0] = count;
        return out;
    }
    VOLT_BF16_VIA_F32(a, w, volt_mean(w, n_dims, dims, keepdim))
    if (!prologue("mean", a, n_dims, dims, mask, true)) return NULL;
    double count = (double)reduced_count(a, mask); /* 0: NaN, like PyTorch */
    volt_tensor *out =
        run_reduce(VOLT_RED_SUM, VOLT_RED_FINAL_DIV, count, a, mask, keepdim, a->dtype, NULL);
    volt_node *node = record("mean", mean_backward, out, a, mask);
    if (node) node->args[0] = count;
    return out;
}

volt_tensor *volt_mean_all(const volt_tensor *a) { return volt_mean(a, VOLT_ALL_DIMS, false); }

/* ------------------------------------------------------------------ prod */

/* d prod / d x_i = product of the group's other elements: prefix times
 * suffix products, so zeros need no special case (and no division). A CUDA
 * prod (rare) has no backward kernel: f64 host copies of its input and g go
 * through the CPU's, and the gradient is copied back in g's dtype. */
static volt_tensor *f64_on_host(const volt_tensor *t) {
    volt_tensor *h = volt_to_device(t, VOLT_DEVICE_CPU);
    return h ? volt_to_dtype(h, VOLT_F64) : NULL;
}

static volt_status prod_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *a = volt_node_saved(node, 0);
    bool cuda = a->device.type == VOLT_CUDA;
    volt_tensor *ah = cuda ? f64_on_host(a) : a;
    volt_tensor *gh = cuda ? f64_on_host(g) : g;
    volt_tensor *gc = gh ? volt_contiguous(gh) : NULL;
    volt_tensor *grad = ah && gc ? input_like(node, gc) : NULL;
    if (!grad) return volt_error_status();
    bool mask[VOLT_MAX_DIMS];
    node_mask(node, mask);
    volt_cpu_prod_backward(grad, ah, mask, gc);
    grads[0] = cuda ? volt_to_device(volt_to_dtype(grad, g->dtype), a->device) : grad;
    return status_of(grads[0]);
}

volt_tensor *volt_prod(const volt_tensor *a, int n_dims, const int *dims, bool keepdim) {
    VOLT_INTEGER_ON_HOST(a, h, volt_prod(h, n_dims, dims, keepdim))
    bool mask[VOLT_MAX_DIMS];
    if (a && a->device.type == VOLT_CUDA) {
        if (!cuda_mask("prod", a, n_dims, dims, mask)) return NULL;
        volt_tensor *out =
            cuda_run("prod", VOLT_CR_PROD, VOLT_CR_FINAL_NONE, 1.0, a, mask, keepdim);
        volt_node *node = record("prod", prod_backward, out, a, mask);
        if (node) volt_node_save(node, a);
        return out;
    }
    VOLT_BF16_VIA_F32(a, w, volt_prod(w, n_dims, dims, keepdim))
    if (!prologue("prod", a, n_dims, dims, mask, false)) return NULL;
    if (!volt_dtype_is_float(a->dtype)) return reduce_integer(true, a, mask, keepdim);
    volt_tensor *out =
        run_reduce(VOLT_RED_PROD, VOLT_RED_FINAL_NONE, 1.0, a, mask, keepdim, a->dtype, NULL);
    volt_node *node = record("prod", prod_backward, out, a, mask);
    if (node) volt_node_save(node, a);
    return out;
}

/* --------------------------------------------------------------- var, std */

/* args[0] = the divisor max(0, N - correction); args[1] = 1 for std. Saved:
 * the input (slot 0) and, for std, the output (slot 1). */
static volt_status var_std_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *a = volt_node_saved(node, 0);
    int dims[VOLT_MAX_DIMS];
    int n = node_dims(node, dims);
    volt_tensor *mean = volt_mean(a, n, dims, true);
    volt_tensor *gk = keepdim_form(g, node), *scale;
    if (node->args[1] != 0) { /* std: g / (divisor * std), 0 where std is 0 */
        volt_tensor *sd = keepdim_form(volt_node_saved(node, 1), node);
        scale = div_or_zero(volt_div_scalar(gk, node->args[0]), sd);
    } else { /* var: 2 g / divisor */
        scale = volt_mul_scalar(gk, 2.0 / node->args[0]);
    }
    grads[0] = grad_kernel(VOLT_RGRAD_CENTERED, a, mean, scale);
    return status_of(grads[0]);
}

/* var or std of a CPU tensor: two passes in double, the mean, then the
 * squared deviations from it. */
static volt_tensor *var_std_cpu(const volt_tensor *a, const bool mask[VOLT_MAX_DIMS], bool keepdim,
                                double count, double divisor, bool root) {
    volt_tensor *mean =
        run_reduce(VOLT_RED_SUM, VOLT_RED_FINAL_DIV, count, a, mask, false, VOLT_F64, NULL);
    if (!mean) return NULL;
    volt_tensor *out =
        run_reduce(VOLT_RED_SQDEV, root ? VOLT_RED_FINAL_SQRT_DIV : VOLT_RED_FINAL_DIV, divisor, a,
                   mask, keepdim, a->dtype, mean);
    volt_tensor_free(mean);
    return out;
}

static volt_tensor *var_std(const char *op, const volt_tensor *a, int n_dims, const int *dims,
                            double correction, bool keepdim, bool root) {
    VOLT_TRACE_OP(op);
    bool cuda = a && a->device.type == VOLT_CUDA;
    if (!cuda) VOLT_BF16_VIA_F32(a, w, var_std(op, w, n_dims, dims, correction, keepdim, root))
    bool mask[VOLT_MAX_DIMS];
    if (cuda ? !cuda_mask(op, a, n_dims, dims, mask) : !prologue(op, a, n_dims, dims, mask, true))
        return NULL;
    double count = (double)reduced_count(a, mask);
    double divisor = fmax(0.0, count - correction);
    volt_tensor *out =
        cuda ? cuda_run(op, VOLT_CR_VAR, root ? VOLT_CR_FINAL_SQRT_DIV : VOLT_CR_FINAL_DIV, divisor,
                        a, mask, keepdim)
             : var_std_cpu(a, mask, keepdim, count, divisor, root);
    volt_node *node = record(op, var_std_backward, out, a, mask);
    if (node) {
        node->args[0] = divisor;
        node->args[1] = root ? 1.0 : 0.0;
        volt_node_save(node, a);
        if (root) volt_node_save_output(node, out);
    }
    return out;
}

volt_tensor *volt_var(const volt_tensor *a, int n_dims, const int *dims, double correction,
                      bool keepdim) {
    return var_std("var", a, n_dims, dims, correction, keepdim, false);
}

volt_tensor *volt_std(const volt_tensor *a, int n_dims, const int *dims, double correction,
                      bool keepdim) {
    return var_std("std", a, n_dims, dims, correction, keepdim, true);
}

/* ------------------------------------------------------------ logsumexp */

/* d lse / d x = exp(x - lse) (the softmax over the group). */
static volt_status logsumexp_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *a = volt_node_saved(node, 0);
    volt_tensor *lse = keepdim_form(volt_node_saved(node, 1), node);
    grads[0] = grad_kernel(VOLT_RGRAD_EXP, a, lse, keepdim_form(g, node));
    return status_of(grads[0]);
}

/* log(sum(exp(x - m))) + m of a CPU tensor, with m the group's max (0
 * where it is not finite: an all -inf group gives -inf, a +inf gives +inf). */
static volt_tensor *logsumexp_cpu(const volt_tensor *a, const bool mask[VOLT_MAX_DIMS],
                                  bool keepdim) {
    volt_tensor *shift =
        run_reduce(VOLT_RED_MAX, VOLT_RED_FINAL_NONE, 1.0, a, mask, false, VOLT_F64, NULL);
    if (!shift) return NULL;
    double *m = volt_tensor_data(shift);
    for (int64_t i = 0; i < volt_tensor_numel(shift); i++)
        if (!isfinite(m[i])) m[i] = 0.0;
    volt_tensor *out =
        run_reduce(VOLT_RED_EXPSUM, VOLT_RED_FINAL_LOG_ADD, 1.0, a, mask, keepdim, a->dtype, shift);
    volt_tensor_free(shift);
    return out;
}

volt_tensor *volt_logsumexp(const volt_tensor *a, int n_dims, const int *dims, bool keepdim) {
    VOLT_TRACE_OP("logsumexp");
    bool cuda = a && a->device.type == VOLT_CUDA;
    if (!cuda) VOLT_BF16_VIA_F32(a, w, volt_logsumexp(w, n_dims, dims, keepdim))
    bool mask[VOLT_MAX_DIMS];
    if (cuda ? !cuda_mask("logsumexp", a, n_dims, dims, mask)
             : !prologue("logsumexp", a, n_dims, dims, mask, true))
        return NULL;
    volt_tensor *out =
        cuda ? cuda_run("logsumexp", VOLT_CR_LSE, VOLT_CR_FINAL_NONE, 1.0, a, mask, keepdim)
             : logsumexp_cpu(a, mask, keepdim);
    volt_node *node = record("logsumexp", logsumexp_backward, out, a, mask);
    if (node) {
        volt_node_save(node, a);
        volt_node_save_output(node, out);
    }
    return out;
}

/* ------------------------------------------------------------------ norm */

/* Like PyTorch's vector_norm backward: p = 1: sign(x) g; p = 2: x g / norm
 * (0 where the norm is 0); p = inf: g shared evenly by the elements whose |x|
 * reaches the norm, times their sign. */
static volt_status norm_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *a = volt_node_saved(node, 0);
    volt_tensor *norm = keepdim_form(volt_node_saved(node, 1), node);
    volt_tensor *gk = keepdim_form(g, node);
    double p = node->args[0];
    if (p == 1.0) {
        grads[0] = grad_kernel(VOLT_RGRAD_SIGN, a, a, gk);
    } else if (p == 2.0) {
        grads[0] = grad_kernel(VOLT_RGRAD_SCALE, a, a, div_or_zero(gk, norm));
    } else {
        int dims[VOLT_MAX_DIMS];
        int n = node_dims(node, dims);
        volt_tensor *hits = grad_kernel(VOLT_RGRAD_ABSMAX_MASK, a, norm, norm);
        volt_tensor *share = volt_div(gk, volt_sum(hits, n, dims, true));
        grads[0] = grad_kernel(VOLT_RGRAD_ABSMAX_SIGN, a, norm, share);
    }
    return status_of(grads[0]);
}

volt_tensor *volt_norm(const volt_tensor *a, double p, int n_dims, const int *dims, bool keepdim) {
    VOLT_TRACE_OP("norm");
    bool mask[VOLT_MAX_DIMS];
    volt_tensor *out;
    bool cuda = a && a->device.type == VOLT_CUDA;
    if (cuda) {
        if (!cuda_mask("norm", a, n_dims, dims, mask)) return NULL;
    } else {
        VOLT_BF16_VIA_F32(a, w, volt_norm(w, p, n_dims, dims, keepdim))
        if (!prologue("norm", a, n_dims, dims, mask, true)) return NULL;
    }
    if (cuda && (p == 1.0 || p == 2.0 || p == INFINITY)) {
        volt_cuda_red red = p == 1.0 ? VOLT_CR_ABSSUM : p == 2.0 ? VOLT_CR_SUMSQ : VOLT_CR_MAXABS;
        out = cuda_run("norm", red, p == 2.0 ? VOLT_CR_FINAL_SQRT_DIV : VOLT_CR_FINAL_NONE, 1.0, a,
                       mask, keepdim);
    } else if (p == 1.0) {
        out =
            run_reduce(VOLT_RED_ABSSUM, VOLT_RED_FINAL_NONE, 1.0, a, mask, keepdim, a->dtype, NULL);
    } else if (p == 2.0) {
        out = run_reduce(VOLT_RED_SUMSQ, VOLT_RED_FINAL_SQRT_DIV, 1.0, a, mask, keepdim, a->dtype,
                         NULL);
    } else if (p == INFINITY) {
        out =
            run_reduce(VOLT_RED_MAXABS, VOLT_RED_FINAL_NONE, 1.0, a, mask, keepdim, a->dtype, NULL);
    } else {
        char buf[96];
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "norm: p = %g is not supported for %s (p must be 1, 2 or INFINITY)", p,
                       volt_shape_str(a, buf, sizeof buf));
        return NULL;
    }
    volt_node *node = record("norm", norm_backward, out, a, mask);
    if (node) {
        node->args[0] = p;
        volt_node_save(node, a);
        volt_node_save_output(node, out);
    }
    return out;
}

/* --------------------------------------------------- max / min along dim */

static bool check_ordered(const char *op, const volt_tensor *a) {
    if (a->dtype != VOLT_BF16 && a->dtype != VOLT_F16) return true;
    char buf[96];
    volt_error_set(VOLT_ERR_DTYPE, "%s: %s is not supported (f32, f64, integer and bool are)", op,
                   volt_shape_str(a, buf, sizeof buf));
    return false;
}

/* iargs[VOLT_MAX_DIMS] = dim; saved: the indices in keepdim form (slot 0).
 * The gradient goes to the selected element of each group. */
static volt_status select_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    const volt_node_input *in = &node->inputs[0];
    volt_tensor *idx = volt_node_saved(node, 0);
    volt_tensor *gk = volt_contiguous(volt_reshape(g, idx->ndim, idx->shape));
    if (gk && g->device.type == VOLT_CUDA) {
        volt_tensor *grad = volt_tensor_new(g->dtype, g->device, in->ndim, in->shape);
        if (!grad) return volt_error_status();
        volt_status st = volt_cuda_scatter_dim("max/min backward", grad,
                                               (int)node->iargs[VOLT_MAX_DIMS], idx, gk);
        if (st != VOLT_OK) return st;
        grads[0] = grad;
        return VOLT_OK;
    }
    volt_tensor *grad = gk ? volt_zeros(in->ndim, in->shape, g->dtype) : NULL;
    if (!grad) return volt_error_status();
    volt_cpu_scatter_dim(grad, (int)node->iargs[VOLT_MAX_DIMS], idx, gk);
    grads[0] = grad;
    return VOLT_OK;
}

/* Values (returned) and, when `indices` is not NULL, i64 indices of the max
 * or min along dim. */
static volt_tensor *extreme_dim(const char *op, const volt_tensor *a, int dim, bool keepdim,
                                volt_tensor **indices, bool is_max);

/* max / min along dim of an integer or bool CUDA tensor, on a host copy
 * (VOLT_INTEGER_ON_HOST, with the indices too); both results on a's device. */
static volt_tensor *integer_dim_on_host(const char *op, const volt_tensor *a, int dim, bool keepdim,
                                        volt_tensor **indices, bool is_max) {
    volt_tensor *h = volt_to_device(a, VOLT_DEVICE_CPU), *h_idx = NULL;
    volt_tensor *h_values =
        h ? extreme_dim(op, h, dim, keepdim, indices ? &h_idx : NULL, is_max) : NULL;
    volt_tensor *values = h_values ? volt_to_device(h_values, a->device) : NULL;
    volt_tensor *idx = values && h_idx ? volt_to_device(h_idx, a->device) : NULL;
    volt_tensor_free(h);
    volt_tensor_free(h_values);
    volt_tensor_free(h_idx);
    if (indices && values && !idx) {
        volt_tensor_free(values);
        return NULL;
    }
    if (indices) *indices = idx;
    return values;
}

static volt_tensor *extreme_dim(const char *op, const volt_tensor *a, int dim, bool keepdim,
                                volt_tensor **indices, bool is_max) {
    VOLT_TRACE_OP(op);
    bool cuda = a && a->device.type == VOLT_CUDA;
    if (!cuda) VOLT_BF16_VIA_F32(a, w, extreme_dim(op, w, dim, keepdim, indices, is_max))
    if (indices) *indices = NULL;
    if (cuda && !volt_dtype_is_float(a->dtype))
        return integer_dim_on_host(op, a, dim, keepdim, indices, is_max);
    if (!volt_check_not_null(op, a, "a") || (!cuda && !volt_check_device_supported(op, a)))
        return NULL;
    int d = volt_normalize_dim(op, a, dim);
    if (d < 0 || (!cuda && !check_ordered(op, a))) return NULL;
    char buf[96];
    if (a->ndim > 0 && a->shape[d] == 0) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: dimension %d of %s has size 0 (the %s of no elements is undefined)", op,
                       dim, volt_shape_str(a, buf, sizeof buf), is_max ? "maximum" : "minimum");
        return NULL;
    }
    int64_t shape[VOLT_MAX_DIMS], kshape[VOLT_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < a->ndim; i++) {
        kshape[i] = i == d ? 1 : a->shape[i];
        if (i != d || keepdim) shape[n++] = kshape[i];
    }
    bool rec = volt_autograd_should_record(1, &a);
    volt_tensor *values = volt_tensor_new(a->dtype, a->device, n, shape);
    volt_tensor *idx =
        values && (indices || rec) ? volt_tensor_new(VOLT_I64, a->device, n, shape) : NULL;
    if (!values || ((indices || rec) && !idx)) return NULL;
    if (cuda) {
        if (volt_cuda_max_dim(op, is_max, values, idx, a, d) != VOLT_OK) {
            volt_tensor_free(values);
            volt_tensor_free(idx);
            return NULL;
        }
    } else {
        volt_cpu_max_dim(is_max, values, idx, a, d);
    }
    if (rec) {
        volt_node *node = volt_autograd_record(op, select_backward, values, 1, &a);
        volt_tensor *idx_k = volt_tensor_alias(idx, a->ndim, kshape, NULL, 0);
        if (node && idx_k) {
            node->iargs[VOLT_MAX_DIMS] = d;
            volt_node_save(node, idx_k);
        }
        volt_tensor_free(idx_k);
    }
    if (indices)
        *indices = idx;
    else
        volt_tensor_free(idx);
    return values;
}

volt_tensor *volt_max(const volt_tensor *a, int dim, bool keepdim, volt_tensor **indices) {
    return extreme_dim("max", a, dim, keepdim, indices, true);
}

volt_tensor *volt_min(const volt_tensor *a, int dim, bool keepdim, volt_tensor **indices) {
    return extreme_dim("min", a, dim, keepdim, indices, false);
}

static volt_tensor *arg_extreme(const char *op, const volt_tensor *a, int dim, bool keepdim,
                                bool is_max) {
    volt_tensor *idx = NULL, *values;
    VOLT_NO_GRAD { values = extreme_dim(op, a, dim, keepdim, &idx, is_max); }
    volt_tensor_free(values);
    return idx;
}

volt_tensor *volt_argmax(const volt_tensor *a, int dim, bool keepdim) {
    return arg_extreme("argmax", a, dim, keepdim, true);
}

volt_tensor *volt_argmin(const volt_tensor *a, int dim, bool keepdim) {
    return arg_extreme("argmin", a, dim, keepdim, false);
}

/* ------------------------------------------------- max / min of all */

/* Like torch.max(x): the gradient is shared evenly by every element equal
 * to the result (NaN counts as equal to a NaN result). */
static volt_status extreme_all_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *a = volt_node_saved(node, 0), *v = volt_node_saved(node, 1);
    volt_tensor *hits = grad_kernel(VOLT_RGRAD_VALUE_MASK, a, v, v);
    volt_tensor *share = volt_div(g, volt_sum_all(hits));
    grads[0] = grad_kernel(VOLT_RGRAD_VALUE_SELECT, a, v, share);
    return status_of(grads[0]);
}

static volt_tensor *extreme_all(const char *op, const volt_tensor *a, bool is_max) {
    VOLT_TRACE_OP(op);
    bool cuda = a && a->device.type == VOLT_CUDA;
    if (!cuda) VOLT_BF16_VIA_F32(a, w, extreme_all(op, w, is_max))
    if (!volt_check_not_null(op, a, "a") || (!cuda && !volt_check_device_supported(op, a)))
        return NULL;
    if (!cuda && !check_ordered(op, a)) return NULL;
    VOLT_INTEGER_ON_HOST(a, h, extreme_all(op, h, is_max))
    char buf[96];
    int64_t numel = volt_tensor_numel(a);
    if (numel == 0) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: %s has no elements (the %s of no elements is undefined)", op,
                       volt_shape_str(a, buf, sizeof buf), is_max ? "maximum" : "minimum");
        return NULL;
    }
    if (!volt_dtype_is_float(a->dtype)) {
        /* Integers and bool: along dim 0 of a contiguous flat view. */
        volt_tensor *flat;
        if (volt_tensor_is_contiguous(a)) {
            flat = volt_tensor_alias(a, 1, &numel, NULL, a->offset);
        } else {
            volt_tensor *c = volt_tensor_new(a->dtype, a->device, a->ndim, a->shape);
            if (!c) return NULL;
            volt_cpu_copy(c, a);
            flat = volt_tensor_alias(c, 1, &numel, NULL, 0);
            volt_tensor_free(c);
        }
        if (!flat) return NULL;
        volt_tensor *out = volt_tensor_new(a->dtype, a->device, 0, NULL);
        if (out) volt_cpu_max_dim(is_max, out, NULL, flat, 0);
        volt_tensor_free(flat);
        return out;
    }
    bool mask[VOLT_MAX_DIMS];
    for (int d = 0; d < VOLT_MAX_DIMS; d++) mask[d] = d < a->ndim;
    volt_tensor *out = cuda ? cuda_run(op, is_max ? VOLT_CR_MAX : VOLT_CR_MIN, VOLT_CR_FINAL_NONE,
                                       1.0, a, mask, false)
                            : run_reduce(is_max ? VOLT_RED_MAX : VOLT_RED_MIN, VOLT_RED_FINAL_NONE,
                                         1.0, a, mask, false, a->dtype, NULL);
    volt_node *node = record(op, extreme_all_backward, out, a, mask);
    if (node) {
        volt_node_save(node, a);
        volt_node_save_output(node, out);
    }
    return out;
}

volt_tensor *volt_max_all(const volt_tensor *a) { return extreme_all("max_all", a, true); }

volt_tensor *volt_min_all(const volt_tensor *a) { return extreme_all("min_all", a, false); }

/* ------------------------------------------------------- sum_to_shape */

volt_tensor *volt_sum_to_shape(volt_tensor *grad, int ndim, const int64_t *shape) {
    if (!grad) return NULL;
    bool same = grad->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = grad->shape[i] == shape[i];
    if (same) return grad;
    /* Sum the leading extra dims and the dims broadcast from size 1. */
    int lead = grad->ndim - ndim;
    VOLT_ASSERT(lead >= 0);
    int dims[VOLT_MAX_DIMS], n = 0;
    for (int d = 0; d < grad->ndim; d++)
        if (d < lead || (shape[d - lead] == 1 && grad->shape[d] != 1)) dims[n++] = d;
    volt_tensor *s = n ? volt_sum(grad, n, dims, true) : grad;
    return volt_reshape(s, ndim, shape);
}
