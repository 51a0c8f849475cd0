/* unary.h: the unary elementwise family — the kinds of unary op and
 * activation, the CPU kernels of their forward and fused backward passes
 * (ops/cpu/unary.c), where's kernel, and the op-level helper that the op
 * files ops/unary.c and ops/activation.c share (defined in ops/unary.c). */
#ifndef VOLT_CPU_UNARY_H
#define VOLT_CPU_UNARY_H

#include "ops/ops_impl.h"

typedef enum {
    /* math: f32/f64 (integer inputs are promoted to f32 by the op) */
    VOLT_UN_EXP,
    VOLT_UN_LOG,
    VOLT_UN_LOG1P,
    VOLT_UN_SQRT,
    VOLT_UN_RSQRT,
    /* f32/f64 and integer types */
    VOLT_UN_NEG,
    VOLT_UN_ABS,
    VOLT_UN_SIGN,
    VOLT_UN_CLAMP, /* p0 = min, p1 = max (integers: i0, i1) */
    /* activations: f32/f64 */
    VOLT_UN_RELU,
    VOLT_UN_LEAKY_RELU, /* p0 = negative slope */
    VOLT_UN_ELU,        /* p0 = alpha */
    VOLT_UN_GELU,       /* x * Phi(x) */
    VOLT_UN_GELU_TANH,  /* the tanh approximation */
    VOLT_UN_SILU,
    VOLT_UN_SIGMOID,
    VOLT_UN_TANH,
    VOLT_UN_SOFTPLUS, /* p0 = beta, p1 = threshold */
    VOLT_UN_HARDTANH, /* p0 = min_val, p1 = max_val */
    /* any dtype in, bool out */
    VOLT_UN_LOGICAL_NOT,
    VOLT_UN_COUNT
} volt_unary_op;

/* Parameters of a kind (see the enum); i0/i1 are integer clamp bounds,
 * already within the range of the input dtype. */
typedef struct {
    double p0, p1;
    int64_t i0, i1;
} volt_unary_args;

/* out = op(in) elementwise; out has in's shape and dtype (bool for
 * logical_not). Returns VOLT_ERR_DTYPE when there is no kernel for in's dtype
 * (the caller words the message). */
volt_status volt_cpu_unary(volt_unary_op op, volt_tensor *out, const volt_tensor *in,
                           const volt_unary_args *args);

/* The fused backward pass of a differentiable kind, in one sweep:
 * grad_in = grad_out * op'(x), where `saved` is the input x or the output y,
 * as ops/unary.c saves it for that kind. All three have grad_in's shape and
 * dtype (f32/f64); grad_out and saved may be strided. */
volt_status volt_cpu_unary_backward(volt_unary_op op, volt_tensor *grad_in,
                                    const volt_tensor *grad_out, const volt_tensor *saved,
                                    const volt_unary_args *args);

/* out = cond ? a : b, cond bool, a/b of out's dtype (any), all three
 * broadcast to out's shape. */
void volt_cpu_where(volt_tensor *out, const volt_tensor *cond, const volt_tensor *a,
                    const volt_tensor *b);

/* Op-level helper (ops/unary.c): validates `a` for `op`, converts its dtype
 * where the op promotes, runs the kernel and records the autograd node.
 * `name` names the op in errors and in the graph. */
volt_tensor *volt_unary_apply(volt_unary_op op, const char *name, const volt_tensor *a, double p0,
                              double p1);

#endif
