/* volt/autograd.h: reverse-mode automatic differentiation — grad mode,
 * requires_grad, backward, leaf gradients, grad-ready hooks and gradcheck
 * (DESIGN.md §3).
 *
 * Every op whose inputs require grad records a node while grad mode is on.
 * volt_backward runs the nodes in reverse topological order, accumulates into
 * the `grad` of leaf tensors (owned by the leaf), frees each node's saved
 * tensors as soon as it has run (unless retain_graph), and fires each leaf's
 * grad-ready hooks once that leaf's gradient for this pass is complete. */
#ifndef VOLT_AUTOGRAD_H
#define VOLT_AUTOGRAD_H

#include "volt/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Grad mode is per thread and on by default. */
bool volt_grad_enabled(void);
void volt_set_grad_enabled(bool enabled);
/* No-grad regions nest: begin saves the mode and turns it off, end restores. */
void volt_no_grad_begin(void);
void volt_no_grad_end(void);
/* VOLT_NO_GRAD { ... } runs the block with grad mode off (do not leave the
 * block with return/goto/break: end would not run). */
#define VOLT_NO_GRAD VOLT_NO_GRAD_LOOP_(VOLT_NO_GRAD_CAT_(volt_no_grad_once_, __LINE__))
#define VOLT_NO_GRAD_CAT_(a, b) VOLT_NO_GRAD_CAT2_(a, b)
#define VOLT_NO_GRAD_CAT2_(a, b) a##b
#define VOLT_NO_GRAD_LOOP_(flag)                                                                   \
    for (int flag = (volt_no_grad_begin(), 1); flag; flag = (volt_no_grad_end(), 0))

/* Marks a leaf tensor (no grad_fn) as requiring grad; floating dtypes only.
 * Returns t, or NULL with an error for a non-leaf or an integer tensor. */
volt_tensor *volt_requires_grad(volt_tensor *t, bool requires_grad);

/* Backward from a one-element `loss` (grad 1). Returns VOLT_OK, or an error:
 * VOLT_ERR_SHAPE for a loss of several elements, VOLT_ERR_STATE for a graph
 * already freed by an earlier backward, for a tensor that does not require
 * grad, or for a saved tensor changed in place since it was saved. */
volt_status volt_backward(volt_tensor *loss);
/* Backward from `output` with an explicit gradient of its shape (NULL: ones,
 * allowed only for one element). retain_graph keeps saved tensors for another
 * pass. */
volt_status volt_backward_ex(volt_tensor *output, const volt_tensor *grad_output,
                             bool retain_graph);

/* A tensor sharing t's data with no graph history and requires_grad false.
 * Owned by the current scope. */
volt_tensor *volt_tensor_detach(const volt_tensor *t);
/* Frees t's gradient (t->grad becomes NULL), like zero_grad(set_to_none). */
void volt_tensor_clear_grad(volt_tensor *t);

/* Grad-ready hook: called during backward, on the backward thread, right after
 * a leaf's gradient for this pass is complete (leaf->grad holds it). */
typedef void (*volt_grad_hook_fn)(volt_tensor *leaf, void *user_data);
volt_status volt_tensor_add_grad_hook(volt_tensor *leaf, volt_grad_hook_fn fn, void *user_data);

/* The name of the op that produced t ("mul", "matmul", ...); NULL for leaves. */
const char *volt_grad_fn_name(const volt_tensor *t);

/* Gradient check by central differences, in float64. `fn` maps the inputs to
 * an output tensor; inputs must be f64 leaves with requires_grad set on those
 * to check. The output is reduced with fixed pseudo-random weights, and each
 * analytic input gradient is compared with
 * (f(x + eps) - f(x - eps)) / (2 eps) element by element:
 * |analytic - numeric| <= atol + rtol * |numeric|.
 * Returns VOLT_OK, or VOLT_ERR_STATE with a message naming the input, the
 * element and both values. */
typedef volt_tensor *(*volt_gradcheck_fn)(volt_tensor **inputs, void *ctx);
typedef struct {
    double eps;  /* 0: 1e-6 */
    double atol; /* 0: 1e-5 */
    double rtol; /* 0: 1e-3 */
} volt_gradcheck_options;
volt_status volt_gradcheck(volt_gradcheck_fn fn, void *ctx, int n_inputs, volt_tensor **inputs,
                           const volt_gradcheck_options *options);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_AUTOGRAD_H */
