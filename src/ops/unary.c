/* unary.c: unary elementwise ops — neg, exp, log, log1p, sqrt, rsqrt, abs,
 * sign, clamp, logical_not and where — and volt_unary_apply, the path every
 * unary op and activation takes: validate, promote, run the kernel, record
 * one node whose backward is a single fused kernel (ops/cpu/unary.c). bf16
 * inputs run the f32 op and round its result (ops/bf16.c). On CUDA
 * (ops/cuda/unary.cu): every op, forward and fused backward, in f32, f64,
 * bf16 and f16 (computed in f32) and the integer dtypes the CPU takes; where
 * on any dtype. */
#include <math.h>
#include <stdio.h>

#include "ops/cuda/cuda_ops.h"

typedef enum {
    CLASS_MATH,       /* f32/f64; integer and bool inputs promote to f32 */
    CLASS_NUMERIC,    /* f32/f64 and integer types (integers: no grad) */
    CLASS_ACTIVATION, /* f32/f64 */
    CLASS_LOGICAL,    /* any dtype, bool out */
} op_class;

typedef enum { SAVE_NONE, SAVE_INPUT, SAVE_OUTPUT } save_kind;

typedef struct {
    op_class cls;
    save_kind save; /* what the fused backward kernel reads */
    bool differentiable;
} unary_info;

static const unary_info infos[VOLT_UN_COUNT] = {
    [VOLT_UN_EXP] = {CLASS_MATH, SAVE_OUTPUT, true},
    [VOLT_UN_LOG] = {CLASS_MATH, SAVE_INPUT, true},
    [VOLT_UN_LOG1P] = {CLASS_MATH, SAVE_INPUT, true},
    [VOLT_UN_SQRT] = {CLASS_MATH, SAVE_OUTPUT, true},
    [VOLT_UN_RSQRT] = {CLASS_MATH, SAVE_OUTPUT, true},
    [VOLT_UN_NEG] = {CLASS_NUMERIC, SAVE_NONE, true},
    [VOLT_UN_ABS] = {CLASS_NUMERIC, SAVE_INPUT, true},
    [VOLT_UN_SIGN] = {CLASS_NUMERIC, SAVE_NONE, true},
    [VOLT_UN_CLAMP] = {CLASS_NUMERIC, SAVE_INPUT, true},
    [VOLT_UN_RELU] = {CLASS_ACTIVATION, SAVE_OUTPUT, true},
    [VOLT_UN_LEAKY_RELU] = {CLASS_ACTIVATION, SAVE_INPUT, true},
    [VOLT_UN_ELU] = {CLASS_ACTIVATION, SAVE_INPUT, true},
    [VOLT_UN_GELU] = {CLASS_ACTIVATION, SAVE_INPUT, true},
    [VOLT_UN_GELU_TANH] = {CLASS_ACTIVATION, SAVE_INPUT, true},
    [VOLT_UN_SILU] = {CLASS_ACTIVATION, SAVE_INPUT, true},
    [VOLT_UN_SIGMOID] = {CLASS_ACTIVATION, SAVE_OUTPUT, true},
    [VOLT_UN_TANH] = {CLASS_ACTIVATION, SAVE_OUTPUT, true},
    [VOLT_UN_SOFTPLUS] = {CLASS_ACTIVATION, SAVE_INPUT, true},
    [VOLT_UN_HARDTANH] = {CLASS_ACTIVATION, SAVE_INPUT, true},
    [VOLT_UN_LOGICAL_NOT] = {CLASS_LOGICAL, SAVE_NONE, false},
};

/* node->iargs[0] = kind, node->args[0..1] = its parameters, saved slot 0 =
 * the input or output the kernel reads. */
static volt_status unary_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("unary_backward");
    volt_unary_op op = (volt_unary_op)node->iargs[0];
    if (op == VOLT_UN_NEG) {
        grads[0] = volt_neg(g);
        return grads[0] ? VOLT_OK : volt_error_status();
    }
    if (op == VOLT_UN_SIGN) {
        grads[0] = volt_zeros_like(g);
        return grads[0] ? VOLT_OK : volt_error_status();
    }
    volt_tensor *v = volt_node_saved(node, 0);
    bool in_place = volt_grad_reusable(g, v);
    const volt_tensor *gv = in_place ? g : volt_as_dtype(g, v->dtype);
    volt_tensor *gi = in_place ? g : volt_tensor_new(v->dtype, v->device, v->ndim, v->shape);
    if (!gv || !gi) return volt_error_status();
    volt_unary_args args = {node->args[0], node->args[1], 0, 0};
    if (v->device.type == VOLT_CUDA) {
        if (volt_cuda_unary_backward(node->name, op, gi, gv, v, args.p0, args.p1) != VOLT_OK)
            return volt_error_status();
    } else if (volt_cpu_unary_backward(op, gi, gv, v, &args) != VOLT_OK) {
        return volt_error_set(VOLT_ERR_DTYPE, "%s: no backward kernel for %s", node->name,
                              volt_dtype_name(v->dtype));
    }
    /* In place: the engine's buffer, which it releases after this node, is
     * the gradient it passes on (add_to_buffer takes its own reference). */
    grads[0] = gi;
    return VOLT_OK;
}

/* An integer clamp bound, within dtype d's range (bounds are integral). */
static int64_t int_bound(double v, volt_dtype d) {
    double lo = d == VOLT_U8 ? 0.0 : d == VOLT_I32 ? (double)INT32_MIN : -9223372036854775808.0;
    double hi = d == VOLT_U8 ? 255.0 : d == VOLT_I32 ? (double)INT32_MAX : 9223372036854775808.0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return d == VOLT_I64 ? INT64_MAX : (int64_t)hi;
    return (int64_t)v;
}

static bool is_integral_or_inf(double v) { return isinf(v) || v == floor(v); }

/* The input the kernel runs on: `a` itself or a converted copy; NULL with
 * the error recorded when the op does not take a's dtype. */
static const volt_tensor *kernel_input(volt_unary_op op, const char *name, const volt_tensor *a,
                                       const volt_unary_args *args) {
    char buf[96];
    bool half = volt_dtype_is_16bit(a->dtype);
    switch (infos[op].cls) {
    case CLASS_MATH:
        if (!volt_dtype_is_float(a->dtype)) return volt_to_dtype(a, VOLT_F32);
        return volt_check_f32_f64(name, a) ? a : NULL;
    case CLASS_NUMERIC:
        if (half || a->dtype == VOLT_BOOL) {
            volt_error_set(VOLT_ERR_DTYPE,
                           "%s: %s is not supported (f32, f64 and integer dtypes are)", name,
                           volt_shape_str(a, buf, sizeof buf));
            return NULL;
        }
        /* Non-integral bounds make an integer clamp floating, like PyTorch. */
        if (op == VOLT_UN_CLAMP && !volt_dtype_is_float(a->dtype) &&
            !(is_integral_or_inf(args->p0) && is_integral_or_inf(args->p1)))
            return volt_to_dtype(a, VOLT_F32);
        return a;
    case CLASS_ACTIVATION: return volt_check_f32_f64(name, a) ? a : NULL;
    case CLASS_LOGICAL: return a;
    }
    return NULL;
}

static void record(volt_unary_op op, const char *name, volt_tensor *out, const volt_tensor *x,
                   const volt_unary_args *args) {
    const unary_info *info = &infos[op];
    if (!info->differentiable || !volt_dtype_is_float(x->dtype) ||
        !volt_autograd_should_record(1, &x))
        return;
    volt_node *node = volt_autograd_record(name, unary_backward, out, 1, &x);
    if (!node) return;
    node->iargs[0] = op;
    node->args[0] = args->p0;
    node->args[1] = args->p1;
    if (info->save == SAVE_INPUT) volt_node_save(node, x);
    if (info->save == SAVE_OUTPUT) volt_node_save_output(node, out);
}

/* The input a CUDA kernel runs on (every float dtype is native there): `a`
 * or a converted copy; NULL with the error recorded. */
static const volt_tensor *cuda_kernel_input(volt_unary_op op, const char *name,
                                            const volt_tensor *a, const volt_unary_args *args) {
    char buf[96];
    bool is_float = volt_dtype_is_float(a->dtype);
    switch (infos[op].cls) {
    case CLASS_MATH: return is_float ? a : volt_to_dtype(a, VOLT_F32);
    case CLASS_NUMERIC:
        if (a->dtype == VOLT_BOOL) {
            volt_error_set(VOLT_ERR_DTYPE, "%s: %s is not supported (float and integer dtypes are)",
                           name, volt_shape_str(a, buf, sizeof buf));
            return NULL;
        }
        if (op == VOLT_UN_CLAMP && !is_float &&
            !(is_integral_or_inf(args->p0) && is_integral_or_inf(args->p1)))
            return volt_to_dtype(a, VOLT_F32);
        return a;
    case CLASS_ACTIVATION:
        if (is_float) return a;
        volt_error_set(VOLT_ERR_DTYPE, "%s: %s is not supported (f32, f64, bf16 and f16 are)", name,
                       volt_shape_str(a, buf, sizeof buf));
        return NULL;
    case CLASS_LOGICAL: return a;
    }
    return NULL;
}

/* The CUDA path of volt_unary_apply. */
static volt_tensor *unary_cuda(volt_unary_op op, const char *name, const volt_tensor *a,
                               volt_unary_args args) {
    const volt_tensor *x = cuda_kernel_input(op, name, a, &args);
    if (!x) return NULL;
    if (op == VOLT_UN_CLAMP && !volt_dtype_is_float(x->dtype)) {
        args.p0 = (double)int_bound(args.p0, x->dtype);
        args.p1 = (double)int_bound(args.p1, x->dtype);
    }
    volt_dtype out_dtype = op == VOLT_UN_LOGICAL_NOT ? VOLT_BOOL : x->dtype;
    volt_tensor *out = volt_tensor_new(out_dtype, x->device, x->ndim, x->shape);
    if (!out || volt_cuda_unary(name, op, out, x, args.p0, args.p1) != VOLT_OK) {
        volt_tensor_free(out);
        return NULL;
    }
    record(op, name, out, x, &args);
    return out;
}

volt_tensor *volt_unary_apply(volt_unary_op op, const char *name, const volt_tensor *a, double p0,
                              double p1) {
    VOLT_TRACE_OP(name);
    if (!volt_check_not_null(name, a, "a")) return NULL;
    if (a->device.type == VOLT_CUDA)
        return unary_cuda(op, name, a, (volt_unary_args){p0, p1, 0, 0});
    if (!volt_check_device_supported(name, a)) return NULL;
    /* bf16: the f32 op on the widened input, rounded back (ops/bf16.c). */
    if (a->dtype == VOLT_BF16 && infos[op].cls != CLASS_LOGICAL) {
        const volt_tensor *w = volt_bf16_widen(a);
        volt_tensor *r = w ? volt_unary_apply(op, name, w, p0, p1) : NULL;
        volt_bf16_drop(w, a);
        return volt_bf16_narrow(r);
    }
    volt_unary_args args = {p0, p1, 0, 0};
    const volt_tensor *x = kernel_input(op, name, a, &args);
    if (!x) return NULL;
    if (op == VOLT_UN_CLAMP && !volt_dtype_is_float(x->dtype)) {
        args.i0 = int_bound(p0, x->dtype);
        args.i1 = int_bound(p1, x->dtype);
    }
    volt_dtype out_dtype = op == VOLT_UN_LOGICAL_NOT ? VOLT_BOOL : x->dtype;
    volt_tensor *out = volt_tensor_new(out_dtype, x->device, x->ndim, x->shape);
    if (!out) return NULL;
    if (volt_cpu_unary(op, out, x, &args) != VOLT_OK) {
        char buf[96];
        volt_error_set(VOLT_ERR_DTYPE, "%s: no kernel for %s", name,
                       volt_shape_str(x, buf, sizeof buf));
        volt_tensor_free(out);
        return NULL;
    }
    record(op, name, out, x, &args);
    return out;
}

volt_tensor *volt_neg(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_NEG, "neg", a, 0, 0);
}
volt_tensor *volt_exp(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_EXP, "exp", a, 0, 0);
}
volt_tensor *volt_ln(const volt_tensor *a) { return volt_unary_apply(VOLT_UN_LOG, "ln", a, 0, 0); }
volt_tensor *volt_log1p(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_LOG1P, "log1p", a, 0, 0);
}
volt_tensor *volt_sqrt(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_SQRT, "sqrt", a, 0, 0);
}
volt_tensor *volt_rsqrt(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_RSQRT, "rsqrt", a, 0, 0);
}
volt_tensor *volt_abs(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_ABS, "abs", a, 0, 0);
}
volt_tensor *volt_sign(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_SIGN, "sign", a, 0, 0);
}
volt_tensor *volt_logical_not(const volt_tensor *a) {
    return volt_unary_apply(VOLT_UN_LOGICAL_NOT, "logical_not", a, 0, 0);
}

volt_tensor *volt_clamp(const volt_tensor *a, double min, double max) {
    if (isnan(min) || isnan(max)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "clamp: bounds [%g, %g] contain NaN", min, max);
        return NULL;
    }
    return volt_unary_apply(VOLT_UN_CLAMP, "clamp", a, min, max);
}

/* ---------------------------------------------------------------- where */

/* The broadcast shape of n tensors; the error names all of them. */
static bool broadcast_n(const char *op, int n, const volt_tensor *const *ts,
                        const char *const *names, int *ndim, int64_t shape[VOLT_MAX_DIMS]) {
    int nd = 0;
    for (int k = 0; k < n; k++) nd = ts[k]->ndim > nd ? ts[k]->ndim : nd;
    for (int i = 0; i < nd; i++) {
        int64_t size = 1;
        for (int k = 0; k < n; k++) {
            int j = ts[k]->ndim - nd + i;
            int64_t s = j >= 0 ? ts[k]->shape[j] : 1;
            if (s == 1 || s == size) continue;
            if (size != 1) {
                char msg[400];
                size_t len = 0;
                for (int m = 0; m < n && len < sizeof msg; m++) {
                    char b[96];
                    len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s %s", m ? ", " : "",
                                            names[m], volt_shape_only(ts[m], b, sizeof b));
                }
                volt_error_set(VOLT_ERR_SHAPE,
                               "%s: %s: shapes cannot be broadcast (%lld vs %lld in dimension %d)",
                               op, msg, (long long)size, (long long)s, i);
                return false;
            }
            size = s;
        }
        shape[i] = size;
    }
    *ndim = nd;
    return true;
}

/* Inputs (cond, a, b); saved slot 0 = cond. */
static volt_status where_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *cond = volt_node_saved(node, 0);
    volt_tensor *zero = volt_scalar(0.0, g->dtype);
    if (!zero) return volt_error_status();
    if (node->inputs[1].needs && !(grads[1] = volt_where(cond, g, zero)))
        return volt_error_status();
    if (node->inputs[2].needs && !(grads[2] = volt_where(cond, zero, g)))
        return volt_error_status();
    return VOLT_OK;
}

/* A CPU 0-d operand beside a CUDA condition, as a 0-d tensor on its device
 * (filled on the device unless it needs its gradient); t otherwise. */
static const volt_tensor *where_operand(const volt_tensor *t, volt_device device) {
    if (device.type != VOLT_CUDA || t->device.type != VOLT_CPU || t->ndim != 0) return t;
    if (t->requires_grad) return volt_to_device(t, device);
    volt_tensor *d = volt_tensor_new(t->dtype, device, 0, NULL);
    if (d && volt_cuda_fill("where", d, volt_tensor_item(t)) != VOLT_OK) {
        volt_tensor_free(d);
        return NULL;
    }
    return d;
}

volt_tensor *volt_where(const volt_tensor *cond, const volt_tensor *a, const volt_tensor *b) {
    VOLT_TRACE_OP("where");
    if (!volt_check_not_null("where", cond, "cond") || !volt_check_not_null("where", a, "a") ||
        !volt_check_not_null("where", b, "b"))
        return NULL;
    a = where_operand(a, cond->device);
    b = a ? where_operand(b, cond->device) : NULL;
    if (!a || !b) return NULL;
    if (!volt_check_same_device("where", cond, a) || !volt_check_same_device("where", a, b))
        return NULL;
    char buf[96];
    if (cond->dtype != VOLT_BOOL) {
        volt_error_set(VOLT_ERR_DTYPE, "where: the condition must be bool, got %s",
                       volt_shape_str(cond, buf, sizeof buf));
        return NULL;
    }
    const volt_tensor *ts[3] = {cond, a, b};
    static const char *const names[3] = {"cond", "a", "b"};
    int ndim;
    int64_t shape[VOLT_MAX_DIMS];
    if (!broadcast_n("where", 3, ts, names, &ndim, shape)) return NULL;
    volt_dtype dtype = volt_promote_types(a, b);
    const volt_tensor *ca = volt_as_dtype(a, dtype), *cb = volt_as_dtype(b, dtype);
    if (!ca || !cb) return NULL;
    volt_tensor *out = volt_tensor_new(dtype, a->device, ndim, shape);
    if (!out) return NULL;
    if (out->device.type == VOLT_CUDA) {
        if (volt_cuda_where(out, cond, ca, cb) != VOLT_OK) return NULL;
    } else {
        volt_cpu_where(out, cond, ca, cb);
    }
    const volt_tensor *inputs[3] = {cond, ca, cb};
    if (volt_dtype_is_float(dtype) && volt_autograd_should_record(3, inputs)) {
        volt_node *node = volt_autograd_record("where", where_backward, out, 3, inputs);
        if (node) volt_node_save(node, cond);
    }
    return out;
}
