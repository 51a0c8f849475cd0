/* compose.c: datasets built from others — subset (keeps the base's fast
 * path), concat, and the seeded random_split. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

/* ---------------------------------------------------------------- subset */

typedef struct {
    volt_dataset base;
    volt_dataset *inner;
    int64_t *indices;
    int64_t n;
} subset;

static int64_t subset_len(const volt_dataset *self) { return ((const subset *)self)->n; }

static volt_status subset_get(const volt_dataset *self, int64_t index, volt_sample *out) {
    const subset *s = (const subset *)self;
    return volt_dataset_get(s->inner, s->indices[index], out);
}

static volt_status subset_get_batch(const volt_dataset *self, const int64_t *indices, int64_t n,
                                    volt_batch *out) {
    const subset *s = (const subset *)self;
    int64_t *mapped = malloc((size_t)n * sizeof *mapped);
    if (!mapped) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "subset: out of memory");
    for (int64_t j = 0; j < n; j++) mapped[j] = s->indices[indices[j]];
    volt_status st = volt_dataset_get_batch(s->inner, mapped, n, out);
    free(mapped);
    return st;
}

static void subset_free(volt_dataset *self) {
    subset *s = (subset *)self;
    free(s->indices);
    free(s);
}

static const volt_dataset_ops subset_ops = {
    .name = "subset",
    .len = subset_len,
    .get = subset_get,
    .get_batch = subset_get_batch,
    .free = subset_free,
};

volt_dataset *volt_subset_new(volt_dataset *base, const int64_t *indices, int64_t n) {
    int64_t len = volt_dataset_len(base);
    if (len < 0) return NULL;
    if (n < 0 || (n > 0 && !indices)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "subset: %lld indices%s", (long long)n,
                       n > 0 ? " but a NULL array" : "");
        return NULL;
    }
    for (int64_t j = 0; j < n; j++)
        if (indices[j] < 0 || indices[j] >= len) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                           "subset: indices[%lld] = %lld is out of range [0, %lld)", (long long)j,
                           (long long)indices[j], (long long)len);
            return NULL;
        }
    subset *s = calloc(1, sizeof *s);
    int64_t *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    if (!s || !copy) {
        free(s);
        free(copy);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "subset: out of memory");
        return NULL;
    }
    if (n > 0) memcpy(copy, indices, (size_t)n * sizeof *copy);
    *s = (subset){.base.ops = &subset_ops, .inner = base, .indices = copy, .n = n};
    return &s->base;
}

/* ---------------------------------------------------------------- concat */

typedef struct {
    volt_dataset base;
    int n;
    volt_dataset **parts;
    int64_t *ends; /* ends[i]: items in parts[0..i] */
} concat;

static int64_t concat_len(const volt_dataset *self) {
    const concat *c = (const concat *)self;
    return c->ends[c->n - 1];
}

static volt_status concat_get(const volt_dataset *self, int64_t index, volt_sample *out) {
    const concat *c = (const concat *)self;
    int lo = 0, hi = c->n - 1; /* the first part whose end is past index */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c->ends[mid] > index)
            hi = mid;
        else
            lo = mid + 1;
    }
    int64_t start = lo > 0 ? c->ends[lo - 1] : 0;
    return volt_dataset_get(c->parts[lo], index - start, out);
}

static void concat_free(volt_dataset *self) {
    concat *c = (concat *)self;
    free(c->parts);
    free(c->ends);
    free(c);
}

static const volt_dataset_ops concat_ops = {
    .name = "concat_dataset",
    .len = concat_len,
    .get = concat_get,
    .free = concat_free,
};

volt_dataset *volt_concat_dataset_new(int n, volt_dataset *const *parts) {
    if (n < 1 || !parts) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "concat_dataset: %d parts (need at least 1)", n);
        return NULL;
    }
    concat *c = calloc(1, sizeof *c);
    volt_dataset **copy = malloc((size_t)n * sizeof *copy);
    int64_t *ends = malloc((size_t)n * sizeof *ends);
    if (!c || !copy || !ends) {
        free(c);
        free(copy);
        free(ends);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "concat_dataset: out of memory");
        return NULL;
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t len = volt_dataset_len(parts[i]);
        if (len < 0) {
            free(c);
            free(copy);
            free(ends);
            return NULL;
        }
        copy[i] = parts[i];
        ends[i] = total += len;
    }
    *c = (concat){.base.ops = &concat_ops, .n = n, .parts = copy, .ends = ends};
    return &c->base;
}

/* ---------------------------------------------------------- random_split */

/* Item counts from lengths: counts summing to len, or fractions summing to 1. */
static volt_status split_counts(const double *lengths, int n, int64_t len, int64_t *counts) {
    double sum = 0;
    bool integral = true;
    for (int i = 0; i < n; i++) {
        if (!isfinite(lengths[i]) || lengths[i] < 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "random_split: lengths[%d] = %g is not a count or fraction", i,
                                  lengths[i]);
        integral = integral && lengths[i] == floor(lengths[i]);
        sum += lengths[i];
    }
    if (integral && sum == (double)len) {
        for (int i = 0; i < n; i++) counts[i] = (int64_t)lengths[i];
        return VOLT_OK;
    }
    if (fabs(sum - 1.0) > 1e-9)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "random_split: lengths sum to %g: neither the dataset's %lld items "
                              "nor fractions summing to 1",
                              sum, (long long)len);
    int64_t given = 0;
    for (int i = 0; i < n; i++) given += counts[i] = (int64_t)floor((double)len * lengths[i]);
    for (int64_t r = 0; r < len - given; r++) counts[r % n]++;
    return VOLT_OK;
}

volt_status volt_random_split(volt_dataset *base, int n, const double *lengths, uint64_t seed,
                              volt_dataset **out) {
    if (n < 1 || !lengths || !out)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "random_split: %d parts%s", n,
                              n >= 1 ? " but a NULL argument" : " (need at least 1)");
    for (int i = 0; i < n; i++) out[i] = NULL;
    int64_t len = volt_dataset_len(base);
    if (len < 0) return volt_error_status();
    int64_t *counts = malloc((size_t)n * sizeof *counts);
    int64_t *perm = malloc((size_t)(len > 0 ? len : 1) * sizeof *perm);
    volt_status st = counts && perm
                         ? VOLT_OK
                         : volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "random_split: out of memory");
    if (st == VOLT_OK) st = split_counts(lengths, n, len, counts);
    if (st == VOLT_OK) {
        for (int64_t i = 0; i < len; i++) perm[i] = i;
        volt_data_shuffle(perm, len, seed, volt_data_stream(VOLT_DATA_STREAM_SPLIT, 0, 0));
        int64_t start = 0;
        for (int i = 0; i < n && st == VOLT_OK; i++) {
            out[i] = volt_subset_new(base, perm + start, counts[i]);
            if (!out[i]) st = volt_error_status();
            start += counts[i];
        }
    }
    if (st != VOLT_OK)
        for (int i = 0; i < n; i++) {
            volt_dataset_free(out[i]);
            out[i] = NULL;
        }
    free(counts);
    free(perm);
    return st;
}
