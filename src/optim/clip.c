/* clip.c: gradient clipping — torch.nn.utils.clip_grad_norm_ (the norm of
 * all gradients together, accumulated in double, and an in-place rescale
 * when it exceeds max_norm) and clip_grad_value_ (an in-place clamp). bf16
 * gradients (precision "bf16-true") are summed exactly in double too.
 * CUDA gradients go through multi-tensor kernels (optim/cuda/clip.c): one
 * norm launch per device whose f64 result is read back (the total is
 * returned), one scale or clamp launch per device. */
#include <math.h>
#include <stdlib.h>

#include "optim/cuda/optim_cuda.h"
#include "optim/optim_impl.h"

static bool check_list(const char *op, volt_params params) {
    if (params.count < 0 || (params.count > 0 && !params.tensors)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: invalid parameter list", op);
        return false;
    }
    for (int64_t i = 0; i < params.count; i++) {
        const volt_tensor *p = params.tensors[i];
        char buf[96];
        if (!p) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: parameter %lld is NULL", op,
                           (long long)i);
            return false;
        }
        volt_dtype d = p->grad ? p->grad->dtype : VOLT_F32;
        bool cuda = p->grad && p->grad->device.type == VOLT_CUDA;
        if (p->grad &&
            ((d != VOLT_F32 && d != VOLT_F64 && d != VOLT_BF16 && !(d == VOLT_F16 && cuda)) ||
             (p->grad->device.type != VOLT_CPU && !cuda))) {
            volt_error_set(VOLT_ERR_DTYPE,
                           "%s: the gradient of parameter %lld is %s (f32, f64 or bf16 "
                           "on the CPU or a CUDA device, or f16 on a CUDA device, needed)",
                           op, (long long)i, volt_shape_str(p->grad, buf, sizeof buf));
            return false;
        }
        if (p->grad && p->grad->device.type == VOLT_CUDA && !volt_tensor_is_contiguous(p->grad)) {
            volt_no_cuda_kernel(op, p->grad, "non-contiguous gradient");
            return false;
        }
    }
    return true;
}

/* Adds |x|^p over g's elements into *acc (max |x| for p = inf). */
#define ACCUMULATE(T)                                                                              \
    do {                                                                                           \
        const T *x = volt_tensor_data(g);                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double a = fabs((double)x[i]);                                                         \
            if (isinf(p))                                                                          \
                *acc = (a > *acc || isnan(a)) ? a : *acc;                                          \
            else                                                                                   \
                *acc += p == 1 ? a : p == 2 ? a * a : pow(a, p);                                   \
        }                                                                                          \
    } while (0)

static void accumulate(const volt_tensor *grad, double p, double *acc) {
    volt_scope_begin();
    const volt_tensor *g = volt_tensor_is_contiguous(grad) ? grad : volt_contiguous(grad);
    if (g && g->dtype == VOLT_BF16) g = volt_bf16_convert(g, VOLT_F32); /* exact */
    int64_t n = volt_tensor_numel(g);
    if (g && g->dtype == VOLT_F32)
        ACCUMULATE(float);
    else if (g)
        ACCUMULATE(double);
    volt_scope_end();
}

/* The CUDA gradients of params (malloc'd, *n of them; NULL when none, or
 * on failure with an error: *n is then -1). */
static volt_tensor **cuda_grads(volt_params params, int64_t *n) {
    *n = 0;
    for (int64_t i = 0; i < params.count; i++) {
        const volt_tensor *g = params.tensors[i]->grad;
        *n += g && g->device.type == VOLT_CUDA;
    }
    if (*n == 0) return NULL;
    volt_tensor **out = malloc((size_t)*n * sizeof *out);
    if (!out) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "clip_grad: out of memory");
        *n = -1;
        return NULL;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < params.count; i++) {
        volt_tensor *g = params.tensors[i]->grad;
        if (g && g->device.type == VOLT_CUDA) out[k++] = g;
    }
    return out;
}

static void bump_versions(volt_tensor *const *grads, int64_t n) {
    for (int64_t i = 0; i < n; i++) volt_storage_bump_version(grads[i]->storage);
}

double volt_clip_grad_norm(volt_params params, double max_norm, double norm_type,
                           bool error_if_nonfinite) {
    const char *op = "clip_grad_norm";
    if (!check_list(op, params)) return NAN;
    if (!(max_norm >= 0)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: invalid max_norm %g (must be >= 0)", op,
                       max_norm);
        return NAN;
    }
    if (!(norm_type > 0)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: invalid norm_type %g (must be > 0, e.g. "
                       "1, 2 or INFINITY)",
                       op, norm_type);
        return NAN;
    }
    double acc = 0;
    bool any = false;
    int64_t n_cuda;
    volt_tensor **on_cuda = cuda_grads(params, &n_cuda);
    if (n_cuda < 0) return NAN;
    volt_no_grad_begin();
    for (int64_t i = 0; i < params.count; i++)
        if (params.tensors[i]->grad) {
            if (params.tensors[i]->grad->device.type == VOLT_CPU)
                accumulate(params.tensors[i]->grad, norm_type, &acc);
            any = true;
        }
    volt_no_grad_end();
    if (n_cuda > 0 && volt_optim_cuda_norm(on_cuda, n_cuda, norm_type, &acc) != VOLT_OK) {
        free(on_cuda);
        return NAN;
    }
    if (!any) return 0.0;
    double total = isinf(norm_type) || norm_type == 1 ? acc
                   : norm_type == 2                   ? sqrt(acc)
                                                      : pow(acc, 1.0 / norm_type);
    if (error_if_nonfinite && !isfinite(total)) {
        volt_error_set(VOLT_ERR_STATE,
                       "%s: the total norm of order %g of the gradients is %g "
                       "(non-finite), so they cannot be clipped; pass error_if_nonfinite = false "
                       "to scale them anyway",
                       op, norm_type, total);
        free(on_cuda);
        return total;
    }
    double coef = max_norm / (total + 1e-6);
    if (!(coef >= 1.0)) {
        volt_no_grad_begin();
        for (int64_t i = 0; i < params.count; i++) {
            volt_tensor *g = params.tensors[i]->grad;
            if (g && g->device.type == VOLT_CPU) volt_mul_scalar_(g, coef);
        }
        volt_no_grad_end();
        if (n_cuda > 0) {
            if (volt_optim_cuda_scale(on_cuda, n_cuda, coef) != VOLT_OK)
                total = NAN;
            else
                bump_versions(on_cuda, n_cuda);
        }
    }
    free(on_cuda);
    return total;
}

volt_status volt_clip_grad_value(volt_params params, double clip_value) {
    const char *op = "clip_grad_value";
    if (!check_list(op, params)) return volt_error_status();
    if (!(clip_value >= 0))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: invalid clip_value %g (must be >= 0)",
                              op, clip_value);
    int64_t n_cuda;
    volt_tensor **on_cuda = cuda_grads(params, &n_cuda);
    if (n_cuda < 0) return volt_error_status();
    volt_status st = VOLT_OK;
    if (n_cuda > 0) {
        st = volt_optim_cuda_clamp(on_cuda, n_cuda, -clip_value, clip_value);
        if (st == VOLT_OK) bump_versions(on_cuda, n_cuda);
        free(on_cuda);
    }
    volt_no_grad_begin();
    for (int64_t i = 0; st == VOLT_OK && i < params.count; i++) {
        volt_tensor *g = params.tensors[i]->grad;
        if (!g || g->device.type != VOLT_CPU) continue;
        volt_scope_begin();
        if (!volt_copy_(g, volt_clamp(g, -clip_value, clip_value))) st = volt_error_status();
        volt_scope_end();
    }
    volt_no_grad_end();
    return st;
}
