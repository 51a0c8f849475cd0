/* clip.c (CUDA): gradient clipping over CUDA gradients — the norm of many
 * tensors in one deterministic two-pass launch per device (per-block f64
 * partials, then one block combining them in a fixed order), read back as
 * one f64; the in-place scale and clamp as one multi-tensor launch per
 * device (ops/cuda/optim.cu). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/optim_kernels.h"
#include "optim/cuda/optim_cuda.h"

typedef enum { PASS_NORM, PASS_SCALE, PASS_CLAMP } pass_kind;

typedef struct {
    pass_kind kind;
    int mode;    /* PASS_NORM: VOLT_CUDA_NORM_* */
    double a, b; /* norm: p; scale: factor; clamp: lo, hi */
    double acc;  /* PASS_NORM: the combined result so far */
} pass;

static bool aligned16(const void *p) { return ((uintptr_t)p % 16) == 0; }

static double combine(const pass *ps, double acc, double v) {
    if (ps->mode != VOLT_CUDA_NORM_INF) return acc + v;
    return (v > acc || isnan(v)) ? v : acc;
}

/* One launch over the gradients among grads[first..n) on grads[first]'s
 * device (done[] marks them). */
static volt_status launch_device(pass *ps, volt_tensor *const *grads, int64_t first, int64_t n,
                                 bool *done) {
    int device = grads[first]->device.index;
    int64_t count = 0;
    for (int64_t i = first; i < n; i++) count += !done[i] && grads[i]->device.index == device;
    if (count > INT32_MAX)
        return volt_error_set(VOLT_ERR_UNSUPPORTED, "clip_grad: too many gradients");
    void *data = NULL;
    volt_tensor *table =
        volt_optim_cuda_host_table((size_t)count * sizeof(volt_cuda_mt_tensor), &data);
    if (!table) return volt_error_status();
    volt_cuda_mt_tensor *ts = data;
    int64_t k = 0, blocks = 0;
    for (int64_t i = first; i < n; i++) {
        if (done[i] || grads[i]->device.index != device) continue;
        volt_tensor *g = grads[i];
        void *p = volt_tensor_data(g);
        ts[k++] = (volt_cuda_mt_tensor){.data = p,
                                        .n = volt_tensor_numel(g),
                                        .first_block = blocks,
                                        .dtype = (int32_t)g->dtype,
                                        .vec = aligned16(p)};
        blocks += (volt_tensor_numel(g) + VOLT_CUDA_OPTIM_CHUNK - 1) / VOLT_CUDA_OPTIM_CHUNK;
        done[i] = true;
    }
    if (volt_cuda_set_device(device)) return volt_error_status();
    void *dev_table = volt_optim_cuda_upload(table, device);
    if (!dev_table) return volt_error_status();
    void *stream = volt_cuda_stream(device);
    if (ps->kind == PASS_SCALE)
        return VOLT_CUDA_CHECK(volt_cuda_launch_scale(dev_table, (int)count, blocks, ps->a, stream),
                               "the gradient scaling kernel");
    if (ps->kind == PASS_CLAMP)
        return VOLT_CUDA_CHECK(
            volt_cuda_launch_clamp(dev_table, (int)count, blocks, ps->a, ps->b, stream),
            "the gradient clamping kernel");
    int64_t np = blocks + 1;
    volt_tensor *partials = volt_tensor_new(VOLT_F64, (volt_device){VOLT_CUDA, device}, 1, &np);
    if (!partials) return volt_error_status();
    double *pd = volt_tensor_data(partials);
    if (VOLT_CUDA_CHECK(volt_cuda_launch_norm(dev_table, (int)count, blocks, ps->mode, ps->a,
                                              pd + 1, pd, stream),
                        "the gradient norm kernel"))
        return volt_error_status();
    double v = 0;
    if (volt_cuda_memcpy(&v, VOLT_DEVICE_CPU, pd, partials->device, sizeof v, NULL))
        return volt_error_status();
    ps->acc = combine(ps, ps->acc, v);
    return VOLT_OK;
}

static volt_status run(pass *ps, volt_tensor *const *grads, int64_t n) {
    if (n <= 0) return VOLT_OK;
    bool *done = calloc((size_t)n, sizeof *done);
    if (!done) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "clip_grad: out of memory");
    volt_status st = VOLT_OK;
    volt_scope_begin();
    for (int64_t i = 0; st == VOLT_OK && i < n; i++)
        if (!done[i]) st = launch_device(ps, grads, i, n, done);
    volt_scope_end();
    free(done);
    return st;
}

volt_status volt_optim_cuda_norm(volt_tensor *const *grads, int64_t n, double p, double *acc) {
    int mode = isinf(p) ? VOLT_CUDA_NORM_INF
               : p == 1 ? VOLT_CUDA_NORM_1
               : p == 2 ? VOLT_CUDA_NORM_2
                        : VOLT_CUDA_NORM_P;
    pass ps = {.kind = PASS_NORM, .mode = mode, .a = p, .acc = *acc};
    volt_status st = run(&ps, grads, n);
    if (st == VOLT_OK) *acc = ps.acc;
    return st;
}

volt_status volt_optim_cuda_scale(volt_tensor *const *grads, int64_t n, double scale) {
    pass ps = {.kind = PASS_SCALE, .a = scale};
    return run(&ps, grads, n);
}

volt_status volt_optim_cuda_clamp(volt_tensor *const *grads, int64_t n, double lo, double hi) {
    pass ps = {.kind = PASS_CLAMP, .a = lo, .b = hi};
    return run(&ps, grads, n);
}
