/* random.c: random creation ops — rand, randn, randint, bernoulli — all
 * drawn from a Philox generator, so results depend only on (seed, stream,
 * counter), never on the thread count. bernoulli of a CUDA tensor draws on
 * the device (ops/cuda/random.c) from the same blocks as on the CPU. */
#include <math.h>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cuda/cuda_random.h"

static volt_generator *generator_or_default(volt_generator *gen) {
    return gen ? gen : volt_default_generator();
}

/* Refuses a negative size, naming the op. */
static bool check_sizes(const char *op, int ndim, const int64_t *shape) {
    for (int i = 0; shape && i < ndim && i < VOLT_MAX_DIMS; i++)
        if (shape[i] < 0) {
            volt_error_set(VOLT_ERR_SHAPE, "%s: negative size %lld in dimension %d", op,
                           (long long)shape[i], i);
            return false;
        }
    return true;
}

static volt_tensor *random_float(const char *op, int ndim, const int64_t *shape, volt_dtype dtype,
                                 volt_generator *gen, bool normal) {
    if (dtype != VOLT_F32 && dtype != VOLT_F64) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: dtype %s is not supported (f32 and f64 are)", op,
                       volt_dtype_name(dtype));
        return NULL;
    }
    if (!check_sizes(op, ndim, shape)) return NULL;
    volt_tensor *t = volt_empty(ndim, shape, dtype);
    if (!t) return NULL;
    gen = generator_or_default(gen);
    int64_t per_block = dtype == VOLT_F32 ? 4 : 2;
    int64_t blocks = (volt_tensor_numel(t) + per_block - 1) / per_block;
    uint64_t first = volt_generator_reserve(gen, (uint64_t)blocks);
    if (normal)
        volt_cpu_normal(t, gen, first);
    else
        volt_cpu_uniform(t, gen, first);
    return t;
}

bool volt_random_affine_into(volt_tensor *t, bool normal, double scale, double shift,
                             volt_generator *gen) {
    if (t->device.type != VOLT_CPU || (t->dtype != VOLT_F32 && t->dtype != VOLT_F64) ||
        !volt_tensor_is_contiguous(t))
        return false;
    int64_t n = volt_tensor_numel(t);
    gen = generator_or_default(gen);
    uint64_t first = volt_generator_reserve(gen, (uint64_t)((n + 1) / 2));
    (normal ? volt_cpu_normal_affine : volt_cpu_uniform_affine)(volt_tensor_data(t), t->dtype, n,
                                                                gen, first, scale, shift);
    volt_storage_bump_version(t->storage); /* an in-place write, as copy_ would count it */
    return true;
}

volt_tensor *volt_rand(int ndim, const int64_t *shape, volt_dtype dtype, volt_generator *gen) {
    return random_float("rand", ndim, shape, dtype, gen, false);
}

volt_tensor *volt_randn(int ndim, const int64_t *shape, volt_dtype dtype, volt_generator *gen) {
    return random_float("randn", ndim, shape, dtype, gen, true);
}

volt_tensor *volt_randint(int64_t low, int64_t high, int ndim, const int64_t *shape,
                          volt_dtype dtype, volt_generator *gen) {
    if (high <= low) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "randint: empty range [%lld, %lld)",
                       (long long)low, (long long)high);
        return NULL;
    }
    if (dtype == VOLT_BOOL || !volt_dtype_is_valid(dtype)) {
        volt_error_set(VOLT_ERR_DTYPE, "randint: dtype %s is not supported",
                       volt_dtype_name(dtype));
        return NULL;
    }
    /* The values must fit the dtype, and high - low an int64. */
    int64_t span;
    bool fits = !__builtin_sub_overflow(high, low, &span);
    if (dtype == VOLT_U8) fits = fits && low >= 0 && high - 1 <= UINT8_MAX;
    if (dtype == VOLT_I32) fits = fits && low >= INT32_MIN && high - 1 <= INT32_MAX;
    if (!fits) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "randint: range [%lld, %lld) does not fit %s",
                       (long long)low, (long long)high, volt_dtype_name(dtype));
        return NULL;
    }
    volt_tensor *u = random_float("randint", ndim, shape, VOLT_F64, gen, false);
    if (!u) return NULL;
    double *p = volt_tensor_data(u);
    int64_t n = volt_tensor_numel(u);
    double range = (double)span;
    for (int64_t i = 0; i < n; i++) {
        double k = floor(p[i] * range); /* < range, but rounding may reach it */
        p[i] = (double)low + (k < range ? k : range - 1);
    }
    volt_tensor *t = volt_empty(ndim, shape, dtype);
    if (t) volt_cpu_copy(t, u);
    volt_tensor_free(u);
    return t;
}

/* On CUDA: every float dtype (bf16 / f16 drawn in the f32 layout). */
static volt_tensor *bernoulli_cuda(const volt_tensor *p, volt_generator *gen) {
    if (!volt_check_float("bernoulli", p)) return NULL;
    volt_tensor *out = volt_tensor_new(p->dtype, p->device, p->ndim, p->shape);
    if (!out) return NULL;
    if (volt_cuda_bernoulli("bernoulli", out, p, generator_or_default(gen)) == VOLT_OK) return out;
    volt_tensor_free(out);
    return NULL;
}

volt_tensor *volt_bernoulli(const volt_tensor *p, volt_generator *gen) {
    if (p && p->device.type == VOLT_CUDA) return bernoulli_cuda(p, gen);
    if (!volt_check_not_null("bernoulli", p, "p") || !volt_check_f32_f64("bernoulli", p) ||
        !volt_check_device_supported("bernoulli", p))
        return NULL;
    volt_tensor *u = volt_rand(p->ndim, p->shape, p->dtype, gen);
    volt_tensor *mask = u ? volt_lt(u, p) : NULL;
    volt_tensor *out = mask ? volt_to_dtype(mask, p->dtype) : NULL;
    volt_tensor_free(u);
    volt_tensor_free(mask);
    return out;
}
