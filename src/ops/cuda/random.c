/* random.c: the host side of the CUDA dropout and random ops
 * (cuda_random.h): the generator's blocks reserved here or by the caller,
 * then one launch. */
#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_random.h"
#include "ops/cuda/random_kernels.h"

static bool is_kernel_dtype(volt_dtype d) { return volt_dtype_is_float(d); }

static volt_cuda_philox philox_of(const volt_generator *gen, uint64_t first) {
    return (volt_cuda_philox){gen->seed, gen->stream, first};
}

/* Blocks the CPU layout of dtype uses for n elements. */
static uint64_t blocks_of(volt_dtype dtype, int64_t n) {
    int64_t per = dtype == VOLT_F64 ? 2 : 4;
    return (uint64_t)((n + per - 1) / per);
}

/* t itself when contiguous, else a contiguous copy (not recorded). */
static volt_tensor *dense(const volt_tensor *t) {
    if (volt_tensor_is_contiguous(t)) return (volt_tensor *)t;
    volt_tensor *c = NULL;
    VOLT_NO_GRAD { c = volt_contiguous(t); }
    return c;
}

volt_status volt_cuda_dropout(const char *op, volt_tensor *out, volt_tensor *mask,
                              const volt_tensor *x, double p, double scale,
                              const volt_generator *gen, uint64_t first_block) {
    if (!is_kernel_dtype(x->dtype)) return volt_no_cuda_kernel(op, x, NULL);
    int device = x->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st != VOLT_OK) return st;
    return VOLT_CUDA_CHECK(
        volt_cuda_launch_dropout((int)x->dtype, volt_tensor_data(out), volt_tensor_data(mask),
                                 volt_tensor_data(x), volt_tensor_numel(x), p, scale,
                                 philox_of(gen, first_block), volt_cuda_stream(device)),
        "the dropout kernel");
}

volt_status volt_cuda_dropout_backward(const char *op, volt_tensor *gx, const volt_tensor *g,
                                       const volt_tensor *mask, double scale) {
    if (!is_kernel_dtype(gx->dtype)) return volt_no_cuda_kernel(op, gx, NULL);
    volt_tensor *gc = dense(g);
    if (!gc) return volt_error_status();
    int device = gx->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(volt_cuda_launch_dropout_backward(
                                 (int)gx->dtype, volt_tensor_data(gx), volt_tensor_data(gc),
                                 volt_tensor_data(mask), volt_tensor_numel(gx), scale,
                                 volt_cuda_stream(device)),
                             "the dropout backward kernel");
    if (gc != g) volt_tensor_free(gc);
    return st;
}

volt_status volt_cuda_bernoulli(const char *op, volt_tensor *out, const volt_tensor *p,
                                volt_generator *gen) {
    if (!is_kernel_dtype(p->dtype)) return volt_no_cuda_kernel(op, p, NULL);
    volt_tensor *pc = dense(p);
    if (!pc) return volt_error_status();
    int64_t n = volt_tensor_numel(p);
    uint64_t first = volt_generator_reserve(gen, blocks_of(p->dtype, n));
    int device = p->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st == VOLT_OK)
        st = VOLT_CUDA_CHECK(
            volt_cuda_launch_bernoulli((int)p->dtype, volt_tensor_data(out), volt_tensor_data(pc),
                                       n, philox_of(gen, first), volt_cuda_stream(device)),
            "the bernoulli kernel");
    if (pc != p) volt_tensor_free(pc);
    return st;
}

volt_status volt_cuda_random_fill(const char *op, volt_tensor *out, bool normal,
                                  volt_generator *gen) {
    if (!is_kernel_dtype(out->dtype) || !volt_tensor_is_contiguous(out))
        return volt_no_cuda_kernel(op, out, volt_tensor_is_contiguous(out) ? NULL : "strided");
    if (!gen) gen = volt_default_generator();
    int64_t n = volt_tensor_numel(out);
    uint64_t first = volt_generator_reserve(gen, blocks_of(out->dtype, n));
    int device = out->device.index;
    volt_status st = volt_cuda_set_device(device);
    if (st != VOLT_OK) return st;
    return VOLT_CUDA_CHECK(volt_cuda_launch_random((int)out->dtype, normal, volt_tensor_data(out),
                                                   n, philox_of(gen, first),
                                                   volt_cuda_stream(device)),
                           "the random kernel");
}
