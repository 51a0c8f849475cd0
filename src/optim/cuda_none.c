/* cuda_none.c: the optim layer's CUDA entry points (optim/cuda/optim_cuda.h)
 * in a build without the CUDA backend (the real ones are in optim/cuda/).
 * No CUDA tensor can exist there, so these only answer with the standard
 * error. */
#include "optim/cuda/optim_cuda.h"

#define NO_CUDA "this build of volt has no CUDA backend"

bool volt_optim_cuda_supports(const volt_optim_class *cls) {
    (void)cls;
    return false;
}

volt_status volt_optim_cuda_update(const volt_optim_class *cls, const volt_optim_update *u,
                                   int64_t n) {
    (void)n;
    return volt_no_cuda_kernel(cls->name, u->param, NO_CUDA);
}

volt_status volt_optim_cuda_norm(volt_tensor *const *grads, int64_t n, double p, double *acc) {
    (void)n, (void)p, (void)acc;
    return volt_no_cuda_kernel("clip_grad_norm", grads[0], NO_CUDA);
}

volt_status volt_optim_cuda_scale(volt_tensor *const *grads, int64_t n, double scale) {
    (void)n, (void)scale;
    return volt_no_cuda_kernel("clip_grad_norm", grads[0], NO_CUDA);
}

volt_status volt_optim_cuda_clamp(volt_tensor *const *grads, int64_t n, double lo, double hi) {
    (void)n, (void)lo, (void)hi;
    return volt_no_cuda_kernel("clip_grad_value", grads[0], NO_CUDA);
}
