/* gradcheck.c: checks analytic gradients against central differences in
 * float64, through fixed pseudo-random output weights. */
#include <math.h>

#include "ops/ops_impl.h"

/* sum(out * w) as a double, where w is a fixed pseudo-random tensor. */
static volt_tensor *weighted_sum(volt_tensor *out) {
    volt_generator g = volt_generator_make(0x5eed, 7);
    volt_tensor *w = volt_rand(out->ndim, out->shape, VOLT_F64, &g);
    w = volt_add_scalar(w, 0.5); /* weights in [0.5, 1.5) */
    return volt_sum_all(volt_mul(out, w));
}

static double evaluate(volt_gradcheck_fn fn, void *ctx, volt_tensor **inputs) {
    double v = NAN;
    volt_scope_begin();
    VOLT_NO_GRAD {
        volt_tensor *out = fn(inputs, ctx);
        if (out) v = volt_tensor_item(weighted_sum(out));
    }
    volt_scope_end();
    return v;
}

static double *element_ptr(volt_tensor *t, int64_t flat) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (flat % t->shape[d]) * t->strides[d];
        flat /= t->shape[d];
    }
    return (double *)volt_storage_data(t->storage) + off;
}

static volt_status check_input(volt_gradcheck_fn fn, void *ctx, int n_inputs, volt_tensor **inputs,
                               int k, const volt_tensor *analytic, double eps, double atol,
                               double rtol) {
    volt_tensor *x = inputs[k];
    int64_t n = volt_tensor_numel(x);
    for (int64_t j = 0; j < n; j++) {
        double *p = element_ptr(x, j);
        double orig = *p;
        *p = orig + eps;
        double plus = evaluate(fn, ctx, inputs);
        *p = orig - eps;
        double minus = evaluate(fn, ctx, inputs);
        *p = orig;
        if (volt_error_status() != VOLT_OK) return volt_error_status();
        double numeric = (plus - minus) / (2 * eps);
        double a = analytic ? volt_tensor_get_flat(analytic, j) : 0.0;
        if (!(fabs(a - numeric) <= atol + rtol * fabs(numeric))) {
            char buf[96];
            return volt_error_set(VOLT_ERR_STATE,
                                  "gradcheck: input %d (%s) element %lld: analytic %.10g, numeric "
                                  "%.10g (of %d inputs)",
                                  k, volt_shape_str(x, buf, sizeof buf), (long long)j, a, numeric,
                                  n_inputs);
        }
    }
    return VOLT_OK;
}

volt_status volt_gradcheck(volt_gradcheck_fn fn, void *ctx, int n_inputs, volt_tensor **inputs,
                           const volt_gradcheck_options *options) {
    double eps = options && options->eps > 0 ? options->eps : 1e-6;
    double atol = options && options->atol > 0 ? options->atol : 1e-5;
    double rtol = options && options->rtol > 0 ? options->rtol : 1e-3;
    if (!fn || !inputs || n_inputs < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "gradcheck: no function or inputs");
    for (int k = 0; k < n_inputs; k++) {
        char buf[96];
        if (!inputs[k])
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "gradcheck: input %d is NULL", k);
        if (inputs[k]->dtype != VOLT_F64 || inputs[k]->grad_fn)
            return volt_error_set(VOLT_ERR_DTYPE, "gradcheck: input %d (%s) must be an f64 leaf", k,
                                  volt_shape_str(inputs[k], buf, sizeof buf));
        volt_tensor_clear_grad(inputs[k]);
    }
    volt_status st = VOLT_OK;
    volt_scope_begin();
    volt_tensor *out = fn(inputs, ctx);
    if (!out) {
        st = volt_error_status() != VOLT_OK
                 ? volt_error_status()
                 : volt_error_set(VOLT_ERR_STATE, "gradcheck: the function returned NULL");
    } else if (out->dtype != VOLT_F64) {
        char buf[96];
        st = volt_error_set(VOLT_ERR_DTYPE, "gradcheck: output %s must be f64",
                            volt_shape_str(out, buf, sizeof buf));
    } else {
        volt_tensor *loss = weighted_sum(out);
        st = loss ? volt_backward(loss) : volt_error_status();
    }
    for (int k = 0; k < n_inputs && st == VOLT_OK; k++) {
        if (!inputs[k]->requires_grad) continue;
        volt_tensor *analytic = inputs[k]->grad ? volt_clone(inputs[k]->grad) : NULL;
        st = check_input(fn, ctx, n_inputs, inputs, k, analytic, eps, atol, rtol);
    }
    volt_scope_end();
    for (int k = 0; k < n_inputs; k++) volt_tensor_clear_grad(inputs[k]);
    return st;
}
