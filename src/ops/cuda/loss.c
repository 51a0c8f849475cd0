/* loss.c: the host side of the fused CUDA cross-entropy / NLL kernels
 * (cuda_nn.h): the logits as class rows along dim 1, the kernels' options. */
#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_nn.h"
#include "ops/cuda/nn_kernels.h"

/* x as [outer, C, inner] with the classes along dim 1 (dim 0 of a [C]). */
static void class_rows(const volt_tensor *x, int64_t *outer, int64_t *n, int64_t *inner) {
    int cd = x->ndim == 1 ? 0 : 1;
    *outer = *inner = 1;
    *n = x->shape[cd];
    for (int d = 0; d < x->ndim; d++) {
        if (d < cd) *outer *= x->shape[d];
        if (d > cd) *inner *= x->shape[d];
    }
}

static volt_cuda_class_args options(const volt_tensor *target, const volt_tensor *weight,
                                    int64_t ignore_index, double smoothing, bool from_logits,
                                    int64_t ld) {
    return (volt_cuda_class_args){volt_tensor_data(target),
                                  weight ? volt_tensor_data(weight) : NULL,
                                  ignore_index,
                                  smoothing,
                                  from_logits,
                                  ld};
}

/* x as the kernels read it (nn_kernels.h): x itself when contiguous (*ld
 * its row length), or when it is [N, C] rows with a longer stride (a
 * product's result viewed from wider rows, see matmul.c's dim_padding), *ld
 * then that stride; else a contiguous copy in *copy. NULL with the error
 * when the copy fails. */
static const volt_tensor *kernel_input(const volt_tensor *x, int64_t *ld, volt_tensor **copy) {
    *copy = NULL;
    *ld = x->shape[x->ndim > 1 ? 1 : 0];
    if (volt_tensor_is_contiguous(x)) return x;
    if (x->ndim == 2 && x->strides[1] == 1 && x->strides[0] >= x->shape[1]) {
        *ld = x->strides[0];
        return x;
    }
    VOLT_NO_GRAD { *copy = volt_contiguous(x); }
    return *copy;
}

static bool is_kernel_dtype(volt_dtype d) { return volt_dtype_is_float(d); }

volt_status volt_cuda_class_loss(const char *op, const volt_tensor *x, const volt_tensor *target,
                                 const volt_tensor *weight, int64_t ignore_index, double smoothing,
                                 bool from_logits, volt_tensor *loss, volt_tensor *lse,
                                 volt_tensor *wrow) {
    if (!is_kernel_dtype(x->dtype)) return volt_no_cuda_kernel(op, x, NULL);
    int64_t ld;
    volt_tensor *copy;
    const volt_tensor *xc = kernel_input(x, &ld, &copy);
    if (!xc) return volt_error_status();
    int64_t outer, n, inner;
    class_rows(xc, &outer, &n, &inner);
    int device = x->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(volt_cuda_launch_class_loss(
                                 (int)x->dtype, (int)loss->dtype, volt_tensor_data(xc),
                                 options(target, weight, ignore_index, smoothing, from_logits, ld),
                                 volt_tensor_data(loss), lse ? volt_tensor_data(lse) : NULL,
                                 volt_tensor_data(wrow), outer, n, inner, volt_cuda_stream(device)),
                             "the cross-entropy kernel");
    volt_tensor_free(copy);
    return st;
}

volt_status volt_cuda_class_loss_total(volt_tensor *out, volt_tensor *denom,
                                       const volt_tensor *loss, const volt_tensor *wrow,
                                       bool mean) {
    int device = out->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(volt_cuda_launch_class_loss_total(
                               (int)out->dtype, volt_tensor_data(out), volt_tensor_data(denom),
                               volt_tensor_data(loss), volt_tensor_data(wrow),
                               volt_tensor_numel(loss), mean, volt_cuda_stream(device)),
                           "the cross-entropy total kernel");
}

volt_status volt_cuda_class_loss_backward(const char *op, volt_tensor *gx, const volt_tensor *x,
                                          const volt_tensor *target, const volt_tensor *weight,
                                          int64_t ignore_index, double smoothing, bool from_logits,
                                          const volt_tensor *lse, const volt_tensor *g_rows,
                                          const volt_tensor *g_scalar, const volt_tensor *denom) {
    if (!is_kernel_dtype(x->dtype)) return volt_no_cuda_kernel(op, x, NULL);
    int64_t outer, n, inner, ld;
    class_rows(x, &outer, &n, &inner);
    volt_tensor *copy;
    const volt_tensor *xc = kernel_input(x, &ld, &copy);
    int device = x->device.index;
    volt_status st = xc ? volt_cuda_set_device(device) : volt_error_status();
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(
            volt_cuda_launch_class_loss_backward(
                (int)x->dtype, (int)(g_rows ? g_rows : g_scalar)->dtype, volt_tensor_data(gx),
                volt_tensor_data(xc),
                options(target, weight, ignore_index, smoothing, from_logits, ld),
                lse ? volt_tensor_data(lse) : NULL, g_rows ? volt_tensor_data(g_rows) : NULL,
                g_scalar ? volt_tensor_data(g_scalar) : NULL,
                denom ? volt_tensor_data(denom) : NULL, outer, n, inner, volt_cuda_stream(device)),
            "the cross-entropy backward kernel");
    volt_tensor_free(copy);
    return st;
}

/* ------------------------------------------------- pointwise losses */

_Static_assert(VOLT_CUDA_PW_KL_LOG == (int)VOLT_PW_KL_LOG &&
                   VOLT_CUDA_PW_GRAD_Y == (int)VOLT_PW_GRAD_Y,
               "nn_kernels.h spells volt_pointwise_loss and volt_pointwise_what");

static volt_cuda_flat flat(volt_flat_arg a) { return (volt_cuda_flat){a.data, a.stride}; }

volt_status volt_cuda_pointwise_loss(const char *op, volt_pointwise_loss kind,
                                     volt_pointwise_what what, double beta, volt_tensor *out,
                                     volt_flat_arg x, volt_flat_arg y, volt_flat_arg w,
                                     volt_flat_arg g) {
    if (!is_kernel_dtype(out->dtype)) return volt_no_cuda_kernel(op, out, NULL);
    int device = out->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st != VOLT_OK) return st;
    return VOLT_CUDA_CHECK(
        volt_cuda_launch_pointwise_loss((int)kind, (int)what, (int)out->dtype, beta,
                                        volt_tensor_data(out), volt_tensor_numel(out), flat(x),
                                        flat(y), flat(w), flat(g), volt_cuda_stream(device)),
        "the pointwise loss kernel");
}
