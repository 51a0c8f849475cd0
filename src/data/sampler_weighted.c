/* sampler_weighted.c: PyTorch's WeightedRandomSampler — indices drawn with
 * probability proportional to their weights, with replacement (inverse CDF)
 * or without (Efraimidis-Spirakis keys log(u) / w, largest first), from a
 * Philox stream of (seed, epoch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

typedef struct {
    volt_sampler base;
    int64_t n, num_samples;
    bool replacement;
    uint64_t seed;
    double *weights;
    double *cumulative; /* cumulative[i] = weights[0] + ... + weights[i] */
} weighted_sampler;

typedef struct {
    double key;
    int64_t index;
} keyed;

static int by_key_desc(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? 1 : -1;
    return (x->index > y->index) - (x->index < y->index);
}

static int64_t weighted_len(const volt_sampler *self) {
    return ((const weighted_sampler *)self)->num_samples;
}

/* The first i with cumulative[i] > u (u < total), skipping zero weights. */
static int64_t upper_bound(const double *cumulative, int64_t n, double u) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cumulative[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static volt_status weighted_indices(const volt_sampler *self, int64_t epoch, int64_t *out) {
    const weighted_sampler *s = (const weighted_sampler *)self;
    volt_data_rng r;
    volt_data_rng_init(&r, s->seed,
                       volt_data_stream(VOLT_DATA_STREAM_WEIGHTED, (uint64_t)epoch, 0));
    if (s->replacement) {
        double total = s->cumulative[s->n - 1], top = nextafter(total, 0.0);
        for (int64_t k = 0; k < s->num_samples; k++)
            out[k] = upper_bound(s->cumulative, s->n, fmin(volt_data_rng_uniform(&r) * total, top));
        return VOLT_OK;
    }
    keyed *keys = malloc((size_t)s->n * sizeof *keys);
    if (!keys) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "weighted_sampler: out of memory");
    for (int64_t i = 0; i < s->n; i++) {
        double u = 1.0 - volt_data_rng_uniform(&r); /* (0, 1] */
        keys[i].key = s->weights[i] > 0 ? log(u) / s->weights[i] : -INFINITY;
        keys[i].index = i;
    }
    qsort(keys, (size_t)s->n, sizeof *keys, by_key_desc);
    for (int64_t k = 0; k < s->num_samples; k++) out[k] = keys[k].index;
    free(keys);
    return VOLT_OK;
}

static void weighted_free(volt_sampler *self) {
    weighted_sampler *s = (weighted_sampler *)self;
    free(s->weights);
    free(s->cumulative);
    free(s);
}

static const volt_sampler_ops weighted_ops = {.name = "weighted_sampler",
                                              .len = weighted_len,
                                              .indices = weighted_indices,
                                              .free = weighted_free};

static volt_status check_weights(const double *weights, int64_t n, int64_t num_samples,
                                 bool replacement) {
    if (n < 1 || !weights || num_samples < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "weighted_sampler: %lld weights, %lld "
                              "samples (need weights and num_samples >= 0)",
                              (long long)n, (long long)num_samples);
    int64_t positive = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(weights[i]) || weights[i] < 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "weighted_sampler: weights[%lld] = %g (need finite, >= 0)",
                                  (long long)i, weights[i]);
        positive += weights[i] > 0;
    }
    if (positive == 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "weighted_sampler: every weight is 0");
    if (!replacement && num_samples > positive)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "weighted_sampler: %lld samples without "
                              "replacement, but only %lld weights are positive",
                              (long long)num_samples, (long long)positive);
    return VOLT_OK;
}

volt_sampler *volt_weighted_sampler_new(const double *weights, int64_t n, int64_t num_samples,
                                        bool replacement, uint64_t seed) {
    if (check_weights(weights, n, num_samples, replacement) != VOLT_OK) return NULL;
    weighted_sampler *s = calloc(1, sizeof *s);
    double *w = malloc((size_t)n * sizeof *w), *c = malloc((size_t)n * sizeof *c);
    if (!s || !w || !c) {
        free(s);
        free(w);
        free(c);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "weighted_sampler: out of memory");
        return NULL;
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        w[i] = weights[i];
        c[i] = sum += weights[i];
    }
    *s = (weighted_sampler){.base.ops = &weighted_ops,
                            .n = n,
                            .num_samples = num_samples,
                            .replacement = replacement,
                            .seed = seed,
                            .weights = w,
                            .cumulative = c};
    return &s->base;
}
