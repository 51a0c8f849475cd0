/* binary.c: binary elementwise ops — arithmetic with broadcasting, dtype
 * promotion and autograd; scalar and in-place variants; comparisons and
 * logical and/or. Kernels: ops/cpu/binary.c; bf16 operands run the f32 op
 * and round its result (ops/bf16.c). On CUDA (ops/cuda/binary.cu): every op
 * in every dtype the CPU takes, plus f16 (bf16 and f16 computed in f32),
 * on broadcast and strided operands, a CPU 0-d tensor as a scalar. */
#include <math.h>

#include "ops/cuda/cuda_ops.h"

/* Gradient slots: node->iargs[0] = saved slot of a, iargs[1] of b (-1: not
 * saved), node->args[0] = alpha. */

static volt_status add_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    grads[0] = g;
    if (node->inputs[1].needs)
        grads[1] = node->args[0] == 1.0 ? g : volt_mul_scalar(g, node->args[0]);
    return VOLT_OK;
}

static volt_status sub_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    grads[0] = g;
    if (node->inputs[1].needs) grads[1] = volt_mul_scalar(g, -node->args[0]);
    return VOLT_OK;
}

static volt_status mul_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    if (node->inputs[0].needs) grads[0] = volt_mul(g, volt_node_saved(node, (int)node->iargs[1]));
    if (node->inputs[1].needs) grads[1] = volt_mul(g, volt_node_saved(node, (int)node->iargs[0]));
    return VOLT_OK;
}

static volt_status div_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *b = volt_node_saved(node, (int)node->iargs[1]);
    volt_tensor *g_over_b = volt_div(g, b);
    if (node->inputs[0].needs) grads[0] = g_over_b;
    if (node->inputs[1].needs) {
        volt_tensor *a = volt_node_saved(node, (int)node->iargs[0]);
        /* -x as x * -1: the same bits, and mul has a CUDA kernel */
        grads[1] = volt_mul_scalar(volt_mul(g_over_b, volt_div(a, b)), -1.0);
    }
    return VOLT_OK;
}

/* d(a^b)/da = b a^(b-1), taken as 0 where b == 0 (also at a == 0);
 * d(a^b)/db = a^b log(a), taken as 0 where a == 0 and b >= 0, like PyTorch. */
static volt_status pow_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_tensor *a = volt_node_saved(node, (int)node->iargs[0]);
    volt_tensor *b = volt_node_saved(node, (int)node->iargs[1]);
    volt_tensor *zero = volt_scalar(0.0, a->dtype);
    if (node->inputs[0].needs) {
        volt_tensor *d = volt_mul(b, volt_pow(a, volt_add_scalar(b, -1.0)));
        grads[0] = volt_mul(g, volt_where(volt_eq(b, zero), zero, d));
    }
    if (node->inputs[1].needs) {
        volt_tensor *out = volt_node_saved(node, 2);
        volt_tensor *mask = volt_logical_and(volt_eq(a, zero), volt_ge(b, zero));
        volt_tensor *d = volt_where(mask, zero, volt_mul(out, volt_ln(a)));
        grads[1] = volt_mul(g, d);
    }
    return VOLT_OK;
}

/* The larger input gets the gradient; ties split it evenly. */
static volt_status extremum_backward(volt_node *node, volt_tensor *g, volt_tensor **grads,
                                     bool maximum) {
    volt_tensor *a = volt_node_saved(node, (int)node->iargs[0]);
    volt_tensor *b = volt_node_saved(node, (int)node->iargs[1]);
    volt_tensor *wins_a = volt_to_dtype(maximum ? volt_gt(a, b) : volt_lt(a, b), g->dtype);
    volt_tensor *ties = volt_mul_scalar(volt_to_dtype(volt_eq(a, b), g->dtype), 0.5);
    volt_tensor *share_a = volt_add(wins_a, ties);
    if (node->inputs[0].needs) grads[0] = volt_mul(g, share_a);
    if (node->inputs[1].needs) grads[1] = volt_mul(g, volt_add_scalar(volt_neg(share_a), 1.0));
    return VOLT_OK;
}

static volt_status maximum_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    return extremum_backward(node, g, grads, true);
}

static volt_status minimum_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    return extremum_backward(node, g, grads, false);
}

typedef struct {
    const char *name;
    volt_backward_fn backward;
    bool save_a_for_b, save_b_for_a; /* saved when the other needs grad */
    bool save_both, save_output;
} binary_info;

static const binary_info infos[VOLT_BIN_COUNT] = {
    [VOLT_BIN_ADD] = {"add", add_backward, false, false, false, false},
    [VOLT_BIN_SUB] = {"sub", sub_backward, false, false, false, false},
    [VOLT_BIN_MUL] = {"mul", mul_backward, true, true, false, false},
    [VOLT_BIN_DIV] = {"div", div_backward, true, true, false, false},
    [VOLT_BIN_POW] = {"pow", pow_backward, false, false, true, true},
    [VOLT_BIN_MAXIMUM] = {"maximum", maximum_backward, false, false, true, false},
    [VOLT_BIN_MINIMUM] = {"minimum", minimum_backward, false, false, true, false},
    [VOLT_BIN_EQ] = {"eq", NULL, false, false, false, false},
    [VOLT_BIN_NE] = {"ne", NULL, false, false, false, false},
    [VOLT_BIN_LT] = {"lt", NULL, false, false, false, false},
    [VOLT_BIN_LE] = {"le", NULL, false, false, false, false},
    [VOLT_BIN_GT] = {"gt", NULL, false, false, false, false},
    [VOLT_BIN_GE] = {"ge", NULL, false, false, false, false},
    [VOLT_BIN_AND] = {"logical_and", NULL, false, false, false, false},
    [VOLT_BIN_OR] = {"logical_or", NULL, false, false, false, false},
};

static bool writes_bool(volt_binary_op op) { return op >= VOLT_BIN_EQ; }

static void record(volt_binary_op op, volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                   double alpha) {
    const binary_info *info = &infos[op];
    const volt_tensor *inputs[2] = {a, b};
    if (!info->backward || !volt_autograd_should_record(2, inputs)) return;
    volt_node *node = volt_autograd_record(info->name, info->backward, out, 2, inputs);
    if (!node) return;
    node->args[0] = alpha;
    node->iargs[0] = node->iargs[1] = -1;
    bool save_a = info->save_both || (info->save_a_for_b && b->requires_grad) ||
                  (op == VOLT_BIN_DIV && b->requires_grad);
    bool save_b = info->save_both || (info->save_b_for_a && a->requires_grad) || op == VOLT_BIN_DIV;
    if (save_a) node->iargs[0] = volt_node_save(node, a);
    if (save_b) node->iargs[1] = volt_node_save(node, b);
    if (info->save_output) volt_node_save_output(node, out);
}

/* The CUDA path (device: the operands' CUDA device): the CUDA operands
 * converted to the compute dtype; a CPU scalar operand is passed by value,
 * unconverted. */
static volt_tensor *binary_cuda(volt_binary_op op, const volt_tensor *a, const volt_tensor *b,
                                double alpha, volt_device device, int ndim, const int64_t *shape,
                                volt_dtype dtype) {
    if (!volt_cuda_binary_supported(infos[op].name, op, dtype, a, b, ndim, shape)) return NULL;
    const volt_tensor *ca = a->device.type == VOLT_CUDA ? volt_as_dtype(a, dtype) : a;
    const volt_tensor *cb = b->device.type == VOLT_CUDA ? volt_as_dtype(b, dtype) : b;
    volt_dtype out_dtype = writes_bool(op) ? VOLT_BOOL : dtype;
    volt_tensor *out = ca && cb ? volt_tensor_new(out_dtype, device, ndim, shape) : NULL;
    if (!out || volt_cuda_binary(op, out, ca, cb, alpha) != VOLT_OK) return NULL;
    record(op, out, ca, cb, alpha);
    return out;
}

/* Refuses a dtype no device computes op in (f16: only CUDA does), and a
 * non-integral alpha with integer operands. */
static bool check_dtype(volt_binary_op op, const volt_tensor *a, const volt_tensor *b,
                        volt_dtype dtype, double alpha, volt_device device) {
    const char *name = infos[op].name;
    bool bool_arith =
        dtype == VOLT_BOOL && !writes_bool(op) && op != VOLT_BIN_MAXIMUM && op != VOLT_BIN_MINIMUM;
    if ((dtype == VOLT_F16 && device.type == VOLT_CPU) || bool_arith) {
        char ba[96], bb[96];
        volt_error_set(VOLT_ERR_DTYPE, "%s: %s and %s: no kernel for %s", name,
                       volt_shape_str(a, ba, sizeof ba), volt_shape_str(b, bb, sizeof bb),
                       volt_dtype_name(dtype));
        return false;
    }
    if (alpha != floor(alpha) && !volt_dtype_is_float(dtype)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: alpha %g must be an integer for %s operands",
                       name, alpha, volt_dtype_name(dtype));
        return false;
    }
    return true;
}

static volt_tensor *binary(volt_binary_op op, const volt_tensor *a, const volt_tensor *b,
                           double alpha) {
    const char *name = infos[op].name;
    VOLT_TRACE_OP(name);
    if (!volt_check_not_null(name, a, "a") || !volt_check_not_null(name, b, "b")) return NULL;
    volt_device device;
    if (!volt_check_operand_devices(name, a, b, &device)) return NULL;
    int ndim;
    int64_t shape[VOLT_MAX_DIMS];
    if (!volt_broadcast_shapes(name, a, b, &ndim, shape)) return NULL;
    volt_dtype dtype = volt_promote_types(a, b);
    if (op == VOLT_BIN_DIV && !volt_dtype_is_float(dtype)) dtype = VOLT_F32;
    if (op == VOLT_BIN_AND || op == VOLT_BIN_OR) dtype = VOLT_BOOL;
    if (!check_dtype(op, a, b, dtype, alpha, device)) return NULL;
    if (device.type == VOLT_CUDA) return binary_cuda(op, a, b, alpha, device, ndim, shape, dtype);
    /* bf16: the f32 op on widened operands; a floating result is rounded
     * back (ops/bf16.c). */
    if (dtype == VOLT_BF16) {
        const volt_tensor *wa = volt_bf16_widen(a), *wb = volt_bf16_widen(b);
        volt_tensor *r = wa && wb ? binary(op, wa, wb, alpha) : NULL;
        volt_bf16_drop(wa, a);
        volt_bf16_drop(wb, b);
        return writes_bool(op) ? r : volt_bf16_narrow(r);
    }
    const volt_tensor *ca = volt_as_dtype(a, dtype), *cb = volt_as_dtype(b, dtype);
    if (!ca || !cb) return NULL;
    volt_tensor *out = volt_tensor_new(writes_bool(op) ? VOLT_BOOL : dtype, a->device, ndim, shape);
    if (!out) return NULL;
    if (volt_cpu_binary(op, out, ca, cb, alpha) != VOLT_OK) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: no kernel for %s", name, volt_dtype_name(dtype));
        return NULL;
    }
    record(op, out, ca, cb, alpha);
    return out;
}

volt_tensor *volt_add(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_ADD, a, b, 1.0);
}
volt_tensor *volt_sub(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_SUB, a, b, 1.0);
}
volt_tensor *volt_mul(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_MUL, a, b, 1.0);
}
volt_tensor *volt_div(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_DIV, a, b, 1.0);
}
volt_tensor *volt_pow(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_POW, a, b, 1.0);
}
volt_tensor *volt_maximum(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_MAXIMUM, a, b, 1.0);
}
volt_tensor *volt_minimum(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_MINIMUM, a, b, 1.0);
}
volt_tensor *volt_eq(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_EQ, a, b, 1.0);
}
volt_tensor *volt_ne(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_NE, a, b, 1.0);
}
volt_tensor *volt_lt(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_LT, a, b, 1.0);
}
volt_tensor *volt_le(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_LE, a, b, 1.0);
}
volt_tensor *volt_gt(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_GT, a, b, 1.0);
}
volt_tensor *volt_ge(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_GE, a, b, 1.0);
}
volt_tensor *volt_logical_and(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_AND, a, b, 1.0);
}
volt_tensor *volt_logical_or(const volt_tensor *a, const volt_tensor *b) {
    return binary(VOLT_BIN_OR, a, b, 1.0);
}

volt_tensor *volt_add_scaled(const volt_tensor *a, const volt_tensor *b, double alpha) {
    return binary(VOLT_BIN_ADD, a, b, alpha);
}

/* A 0-d operand for a scalar: keeps a's dtype, except an integer tensor with
 * a non-integral or infinite value, which promotes to f32 (like PyTorch). */
static volt_tensor *scalar_for(const volt_tensor *a, double value) {
    if (!a) return NULL;
    volt_dtype d = a->dtype;
    if (!volt_dtype_is_float(d) && (value != floor(value) || isinf(value))) d = VOLT_F32;
    /* A bf16 tensor's scalar keeps f32 precision (PyTorch's opmath); being
     * 0-d, it does not raise the result above bf16. */
    if (d == VOLT_BF16) d = VOLT_F32;
    return volt_scalar(value, d == VOLT_BOOL ? VOLT_I64 : d);
}

volt_tensor *volt_add_scalar(const volt_tensor *a, double b) {
    if (!volt_check_not_null("add_scalar", a, "a")) return NULL;
    return binary(VOLT_BIN_ADD, a, scalar_for(a, b), 1.0);
}

volt_tensor *volt_mul_scalar(const volt_tensor *a, double b) {
    if (!volt_check_not_null("mul_scalar", a, "a")) return NULL;
    return binary(VOLT_BIN_MUL, a, scalar_for(a, b), 1.0);
}

volt_tensor *volt_div_scalar(const volt_tensor *a, double b) {
    if (!volt_check_not_null("div_scalar", a, "a")) return NULL;
    return binary(VOLT_BIN_DIV, a, scalar_for(a, b), 1.0);
}

volt_tensor *volt_pow_scalar(const volt_tensor *a, double exponent) {
    if (!volt_check_not_null("pow_scalar", a, "a")) return NULL;
    return binary(VOLT_BIN_POW, a, scalar_for(a, exponent), 1.0);
}

/* ------------------------------------------------------------- in place */

/* self (bf16) op= other: the f32 kernel on a widened copy of self and other
 * as f32, rounded back into self. No autograd (checked by the caller). */
static volt_tensor *bf16_inplace(volt_binary_op op, const char *name, volt_tensor *self,
                                 const volt_tensor *other, double alpha) {
    volt_tensor *w = volt_bf16_convert(self, VOLT_F32);
    const volt_tensor *c = NULL;
    VOLT_NO_GRAD {
        c = other->dtype == VOLT_BF16 ? volt_bf16_convert(other, VOLT_F32)
                                      : volt_as_dtype(other, VOLT_F32);
    }
    if (!w || !c) return NULL;
    if (volt_cpu_binary(op, w, w, c, alpha) != VOLT_OK) {
        char bs[96];
        volt_error_set(VOLT_ERR_DTYPE, "%s: no kernel for %s", name,
                       volt_shape_str(self, bs, sizeof bs));
        return NULL;
    }
    volt_bf16_copy_into(self, w);
    volt_storage_bump_version(self->storage);
    volt_tensor_free(w);
    if (c != other) volt_tensor_free((volt_tensor *)c);
    return self;
}

/* self op= other on CUDA (checked by the caller), self of any layout:
 * other converted to self's dtype when it is a CUDA tensor (a bf16/f16 self
 * thus adds a rounded f32 tensor, where the CPU adds it unrounded); a CPU
 * scalar is passed by value. */
static volt_tensor *binary_inplace_cuda(volt_binary_op op, const char *name, volt_tensor *self,
                                        const volt_tensor *other, double alpha) {
    if (!volt_cuda_binary_supported(name, op, self->dtype, self, other, self->ndim, self->shape))
        return NULL;
    const volt_tensor *c = other;
    VOLT_NO_GRAD {
        if (other->device.type == VOLT_CUDA) c = volt_as_dtype(other, self->dtype);
    }
    if (!c || volt_cuda_binary(op, self, self, c, alpha) != VOLT_OK) return NULL;
    if (c != other) volt_tensor_free((volt_tensor *)c);
    volt_storage_bump_version(self->storage);
    return self;
}

static volt_tensor *binary_inplace(volt_binary_op op, const char *name, volt_tensor *self,
                                   const volt_tensor *other, double alpha) {
    VOLT_TRACE_OP(name);
    if (!volt_check_not_null(name, self, "self") || !volt_check_not_null(name, other, "other"))
        return NULL;
    volt_device device;
    if (!volt_check_inplace(name, self) || !volt_check_operand_devices(name, self, other, &device))
        return NULL;
    if (!volt_device_equal(device, self->device)) { /* a CUDA 0-d other into a CPU self */
        volt_check_same_device(name, self, other);
        return NULL;
    }
    int ndim;
    int64_t shape[VOLT_MAX_DIMS];
    if (!volt_broadcast_shapes(name, self, other, &ndim, shape)) return NULL;
    bool same = ndim == self->ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] == self->shape[i];
    char bs[96], bo[96];
    if (!same) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: %s cannot be broadcast into %s in place", name,
                       volt_shape_only(other, bo, sizeof bo), volt_shape_only(self, bs, sizeof bs));
        return NULL;
    }
    if (op == VOLT_BIN_DIV && !volt_dtype_is_float(self->dtype)) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: true division into %s in place", name,
                       volt_shape_str(self, bs, sizeof bs));
        return NULL;
    }
    /* Like PyTorch, the result type may not be a floating one written into an
     * integer self, nor a non-bool one written into a bool self. */
    volt_dtype result = volt_promote_types(self, other);
    if ((volt_dtype_is_float(result) && !volt_dtype_is_float(self->dtype)) ||
        (self->dtype == VOLT_BOOL && result != VOLT_BOOL)) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: the result type %s cannot be written into %s in place",
                       name, volt_dtype_name(result), volt_shape_str(self, bs, sizeof bs));
        return NULL;
    }
    if (device.type == VOLT_CUDA) return binary_inplace_cuda(op, name, self, other, alpha);
    if (self->dtype == VOLT_BF16) return bf16_inplace(op, name, self, other, alpha);
    const volt_tensor *c = other;
    VOLT_NO_GRAD { c = volt_as_dtype(other, self->dtype); }
    if (!c) return NULL;
    if (volt_cpu_binary(op, self, self, c, alpha) != VOLT_OK) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: no kernel for %s", name,
                       volt_shape_str(self, bs, sizeof bs));
        return NULL;
    }
    volt_storage_bump_version(self->storage);
    return self;
}

volt_tensor *volt_add_(volt_tensor *self, const volt_tensor *other) {
    return binary_inplace(VOLT_BIN_ADD, "add_", self, other, 1.0);
}
volt_tensor *volt_sub_(volt_tensor *self, const volt_tensor *other) {
    return binary_inplace(VOLT_BIN_SUB, "sub_", self, other, 1.0);
}
volt_tensor *volt_mul_(volt_tensor *self, const volt_tensor *other) {
    return binary_inplace(VOLT_BIN_MUL, "mul_", self, other, 1.0);
}
volt_tensor *volt_div_(volt_tensor *self, const volt_tensor *other) {
    return binary_inplace(VOLT_BIN_DIV, "div_", self, other, 1.0);
}

volt_tensor *volt_mul_scalar_(volt_tensor *self, double value) {
    if (!volt_check_not_null("mul_scalar_", self, "self")) return NULL;
    return binary_inplace(VOLT_BIN_MUL, "mul_scalar_", self, scalar_for(self, value), 1.0);
}

volt_tensor *volt_add_scalar_(volt_tensor *self, double value) {
    if (!volt_check_not_null("add_scalar_", self, "self")) return NULL;
    return binary_inplace(VOLT_BIN_ADD, "add_scalar_", self, scalar_for(self, value), 1.0);
}
