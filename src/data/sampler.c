/* sampler.c: the sampler interface and the sequential, random (a seeded
 * permutation per epoch) and distributed (PyTorch's DistributedSampler:
 * equal-length disjoint shards per rank) samplers. */
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

int64_t volt_sampler_len(const volt_sampler *s) {
    if (!s || !s->ops) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "sampler_len: NULL sampler");
        return -1;
    }
    return s->ops->len(s);
}

void volt_sampler_set_epoch(volt_sampler *s, int64_t epoch) {
    if (s) s->epoch = epoch;
}

volt_status volt_sampler_indices(const volt_sampler *s, int64_t *out) {
    if (!s || !s->ops || (!out && s->ops->len(s) > 0))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "sampler_indices: NULL %s",
                              s && s->ops ? "output" : "sampler");
    volt_status st = s->ops->indices(s, s->epoch, out);
    if (st != VOLT_OK && volt_error_status() == VOLT_OK)
        volt_error_set(st, "%s: indices failed without a message",
                       s->ops->name ? s->ops->name : "sampler");
    return st;
}

void volt_sampler_free(volt_sampler *s) {
    if (s && s->ops && s->ops->free) s->ops->free(s);
}

static volt_sampler *sampler_alloc(size_t size, const char *who) {
    volt_sampler *s = calloc(1, size);
    if (!s) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", who);
    return s;
}

static void sampler_free_plain(volt_sampler *s) { free(s); }

/* ------------------------------------------------------ sequential, random */

typedef struct {
    volt_sampler base;
    int64_t n;
    uint64_t seed;
} simple_sampler;

static int64_t simple_len(const volt_sampler *self) { return ((const simple_sampler *)self)->n; }

static volt_status sequential_indices(const volt_sampler *self, int64_t epoch, int64_t *out) {
    (void)epoch;
    for (int64_t i = 0; i < ((const simple_sampler *)self)->n; i++) out[i] = i;
    return VOLT_OK;
}

static volt_status random_indices(const volt_sampler *self, int64_t epoch, int64_t *out) {
    const simple_sampler *s = (const simple_sampler *)self;
    for (int64_t i = 0; i < s->n; i++) out[i] = i;
    volt_data_shuffle(out, s->n, s->seed,
                      volt_data_stream(VOLT_DATA_STREAM_SHUFFLE, (uint64_t)epoch, 0));
    return VOLT_OK;
}

static const volt_sampler_ops sequential_ops = {.name = "sequential_sampler",
                                                .len = simple_len,
                                                .indices = sequential_indices,
                                                .free = sampler_free_plain};
static const volt_sampler_ops random_ops = {.name = "random_sampler",
                                            .len = simple_len,
                                            .indices = random_indices,
                                            .free = sampler_free_plain};

static volt_sampler *simple_new(const volt_sampler_ops *ops, int64_t n, uint64_t seed) {
    if (n < 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %lld items", ops->name, (long long)n);
        return NULL;
    }
    simple_sampler *s = (simple_sampler *)sampler_alloc(sizeof *s, ops->name);
    if (!s) return NULL;
    s->base.ops = ops;
    s->n = n;
    s->seed = seed;
    return &s->base;
}

volt_sampler *volt_sequential_sampler_new(int64_t n) { return simple_new(&sequential_ops, n, 0); }

volt_sampler *volt_random_sampler_new(int64_t n, uint64_t seed) {
    return simple_new(&random_ops, n, seed);
}

/* ------------------------------------------------------------ distributed */

typedef struct {
    volt_sampler base;
    int64_t n, num_samples, total;
    int rank, world_size;
    bool shuffle;
    uint64_t seed;
} distributed_sampler;

static int64_t distributed_len(const volt_sampler *self) {
    return ((const distributed_sampler *)self)->num_samples;
}

static volt_status distributed_indices(const volt_sampler *self, int64_t epoch, int64_t *out) {
    const distributed_sampler *s = (const distributed_sampler *)self;
    if (s->num_samples == 0) return VOLT_OK;
    int64_t *all = malloc((size_t)s->n * sizeof *all);
    if (!all) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "distributed_sampler: out of memory");
    for (int64_t i = 0; i < s->n; i++) all[i] = i;
    /* The loader's own shuffle stream (loader.c): a shuffled loader sharded
     * with volt_data_loader_set_distributed (the trainer's and Fabric's
     * use_distributed_sampler) and this sampler of the same seed give every
     * rank the same items in the same order; with world size 1 this is the
     * random sampler's order. */
    if (s->shuffle)
        volt_data_shuffle(all, s->n, s->seed,
                          volt_data_stream(VOLT_DATA_STREAM_SHUFFLE, (uint64_t)epoch, 0));
    /* Position p of the padded list is all[p % n]; rank r takes r, r + w, ... */
    for (int64_t k = 0; k < s->num_samples; k++) out[k] = all[(s->rank + k * s->world_size) % s->n];
    free(all);
    return VOLT_OK;
}

static const volt_sampler_ops distributed_ops = {.name = "distributed_sampler",
                                                 .len = distributed_len,
                                                 .indices = distributed_indices,
                                                 .free = sampler_free_plain};

volt_sampler *volt_distributed_sampler_new(int64_t n, int rank, int world_size, bool shuffle,
                                           bool drop_last, uint64_t seed) {
    if (n < 0 || world_size < 1 || rank < 0 || rank >= world_size) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "distributed_sampler: rank %d of world size %d "
                       "over %lld items (need 0 <= rank < world_size, n >= 0)",
                       rank, world_size, (long long)n);
        return NULL;
    }
    distributed_sampler *s = (distributed_sampler *)sampler_alloc(sizeof *s, "distributed_sampler");
    if (!s) return NULL;
    s->base.ops = &distributed_ops;
    s->n = n;
    s->rank = rank;
    s->world_size = world_size;
    s->shuffle = shuffle;
    s->seed = seed;
    s->num_samples = drop_last ? n / world_size : (n + world_size - 1) / world_size;
    s->total = s->num_samples * world_size;
    return &s->base;
}
