/* optim_helpers.h: small helpers shared by the optim suites — parameters
 * made from literal values, and gradients set to exact values through the
 * autograd engine (backward of sum(p * g) leaves exactly g in p->grad). */
#ifndef VOLT_OPTIM_HELPERS_H
#define VOLT_OPTIM_HELPERS_H

#include "volt_test.h"

/* A caller-owned leaf parameter (requires_grad) holding `values`. */
static inline volt_tensor *oh_param(const double *values, int ndim, const int64_t *shape,
                                    volt_dtype dtype) {
    volt_tensor *t =
        volt_persist(volt_to_dtype(volt_from_array(values, VOLT_F64, ndim, shape), dtype));
    return volt_requires_grad(t, true);
}

/* p->grad = g exactly (g of p's shape; NULL clears the gradient). */
static inline void oh_set_grad_tensor(volt_tensor *p, const volt_tensor *g) {
    volt_tensor_clear_grad(p);
    if (!g) return;
    volt_scope_begin();
    volt_backward(volt_sum_all(volt_mul(p, volt_to_dtype(g, p->dtype))));
    volt_scope_end();
}

/* p->grad = the values (p's shape, row-major). */
static inline void oh_set_grad(volt_tensor *p, const double *values) {
    volt_scope_begin();
    oh_set_grad_tensor(p, volt_from_array(values, VOLT_F64, p->ndim, p->shape));
    volt_scope_end();
}

#define OH_PARAMS(...)                                                                             \
    ((volt_params){(int64_t)(sizeof((volt_tensor *[]){__VA_ARGS__}) / sizeof(volt_tensor *)),      \
                   (volt_tensor *const[]){__VA_ARGS__}, NULL})

#endif
