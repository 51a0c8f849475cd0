/* elementwise.c: the host side of the CUDA fill, copy/convert and binary
 * kernels (cuda_ops.h): which cases they take, their operands, the launch. */
#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/cuda_ops.h"

_Static_assert(VOLT_CUDA_F32 == (int)VOLT_F32 && VOLT_CUDA_F64 == (int)VOLT_F64 &&
                   VOLT_CUDA_BF16 == (int)VOLT_BF16 && VOLT_CUDA_F16 == (int)VOLT_F16,
               "cuda_kernels.h spells volt_dtype's values");
_Static_assert(VOLT_CUDA_ADD == (int)VOLT_BIN_ADD && VOLT_CUDA_SUB == (int)VOLT_BIN_SUB &&
                   VOLT_CUDA_MUL == (int)VOLT_BIN_MUL && VOLT_CUDA_DIV == (int)VOLT_BIN_DIV,
               "cuda_kernels.h spells volt_binary_op's values");

static bool is_kernel_dtype(volt_dtype d) {
    return d == VOLT_F32 || d == VOLT_F64 || d == VOLT_BF16 || d == VOLT_F16;
}

volt_status volt_cuda_fill(const char *op, volt_tensor *out, double value) {
    if (!volt_tensor_is_contiguous(out)) return volt_no_cuda_kernel(op, out, "non-contiguous");
    uint64_t pattern = 0;
    volt_store_from_double(&pattern, out->dtype, value);
    int device = out->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(volt_cuda_launch_fill(volt_tensor_data(out), volt_tensor_numel(out),
                                                 (int)volt_dtype_size(out->dtype), pattern,
                                                 volt_cuda_stream(device)),
                           "the fill kernel");
}

volt_status volt_cuda_copy(const char *op, volt_tensor *out, const volt_tensor *src) {
    if (!volt_tensor_is_contiguous(src)) return volt_no_cuda_kernel(op, src, "non-contiguous");
    if (!volt_tensor_is_contiguous(out)) return volt_no_cuda_kernel(op, out, "non-contiguous");
    int64_t n = volt_tensor_numel(out);
    if (out->dtype == src->dtype) {
        void *pinned =
            src->device.type == VOLT_CPU ? volt_storage_pinned_block(src->storage) : NULL;
        return volt_cuda_memcpy(volt_tensor_data(out), out->device, volt_tensor_data(src),
                                src->device, (size_t)n * volt_dtype_size(out->dtype), pinned);
    }
    if (!volt_device_equal(out->device, src->device) || !is_kernel_dtype(out->dtype) ||
        !is_kernel_dtype(src->dtype))
        return volt_no_cuda_kernel(op, src, "a conversion across devices or of this dtype");
    int device = out->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(volt_cuda_launch_convert(volt_tensor_data(out), (int)out->dtype,
                                                    volt_tensor_data(src), (int)src->dtype, n,
                                                    volt_cuda_stream(device)),
                           "the conversion kernel");
}

bool volt_cuda_binary_supported(const char *name, volt_binary_op op, volt_dtype dtype,
                                const volt_tensor *a, const volt_tensor *b, int ndim,
                                const int64_t *shape) {
    const volt_tensor *on_gpu = a->device.type == VOLT_CUDA ? a : b;
    if (op > VOLT_BIN_DIV || !is_kernel_dtype(dtype)) {
        volt_no_cuda_kernel(name, on_gpu, NULL);
        return false;
    }
    int64_t n = volt_shape_numel(ndim, shape);
    const volt_tensor *operands[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const volt_tensor *x = operands[i];
        if (x->device.type == VOLT_CPU || volt_tensor_numel(x) == 1) continue;
        if (volt_tensor_numel(x) != n) {
            volt_no_cuda_kernel(name, x, "broadcast");
            return false;
        }
        if (!volt_tensor_is_contiguous(x)) {
            volt_no_cuda_kernel(name, x, "non-contiguous");
            return false;
        }
    }
    return true;
}

/* A CPU operand is a 0-d scalar, read now; a CUDA one is read in place. */
static volt_cuda_operand operand_of(const volt_tensor *x) {
    if (x->device.type == VOLT_CPU) return (volt_cuda_operand){NULL, 0, volt_tensor_item(x)};
    return (volt_cuda_operand){volt_tensor_data(x), volt_tensor_numel(x) == 1 ? 0 : 1, 0.0};
}

volt_status volt_cuda_binary(volt_binary_op op, volt_tensor *out, const volt_tensor *a,
                             const volt_tensor *b, double alpha) {
    int device = out->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(volt_cuda_launch_binary((int)op, (int)out->dtype, volt_tensor_data(out),
                                                   operand_of(a), operand_of(b), alpha,
                                                   volt_tensor_numel(out),
                                                   volt_cuda_stream(device)),
                           "the binary kernel");
}
