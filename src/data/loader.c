/* loader.c: the data loader — options, the per-epoch order (sampler or
 * seeded shuffle), building batch k (get_batch, u8 -> f32, transforms,
 * flatten), in-order delivery into the caller's scope, early stop, and the
 * resumable state (seed, epoch, position). The worker threads are in
 * loader_workers.c, the shards of distributed training in
 * loader_distributed.c. */
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

static volt_status check_options(const volt_dataset *ds, const volt_data_loader_options *o) {
    if (!o) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader: NULL options");
    if (!ds) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader: NULL dataset");
    if (o->batch_size < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader: batch_size must be >= 1 "
                              "(got %lld)",
                              (long long)o->batch_size);
    if (o->num_workers < 0 || o->num_workers > VOLT_DATA_MAX_WORKERS)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader: num_workers must be in "
                              "[0, %d] (got %d)",
                              VOLT_DATA_MAX_WORKERS, o->num_workers);
    if (o->prefetch_factor < 0 || o->prefetch_factor > 1024)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader: prefetch_factor must be in "
                              "[0, 1024] (got %d)",
                              o->prefetch_factor);
    if (o->sampler && o->shuffle)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader: a sampler and shuffle "
                              "together (the sampler decides the order)");
    if (o->n_transforms < 0 || (o->n_transforms > 0 && !o->transforms))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader: %d transforms but a NULL "
                              "array",
                              o->n_transforms);
    for (int i = 0; i < o->n_transforms; i++)
        if (volt_transform_check(&o->transforms[i]) != VOLT_OK) return volt_error_status();
    return VOLT_OK;
}

volt_data_loader *volt_data_loader_new(volt_dataset *ds, const volt_data_loader_options *opt) {
    if (check_options(ds, opt) != VOLT_OK) return NULL;
    int64_t len = volt_dataset_len(ds);
    int64_t n = opt->sampler ? volt_sampler_len(opt->sampler) : len;
    if (len < 0 || n < 0) return NULL;
    volt_data_loader *l = calloc(1, sizeof *l);
    volt_transform *t = calloc((size_t)opt->n_transforms + 1, sizeof *t);
    if (!l || !t) {
        free(l);
        free(t);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "data_loader: out of memory");
        return NULL;
    }
    if (opt->n_transforms) memcpy(t, opt->transforms, (size_t)opt->n_transforms * sizeof *t);
    l->dataset = ds;
    l->opt = *opt;
    l->opt.transforms = t;
    if (l->opt.prefetch_factor == 0) l->opt.prefetch_factor = 2;
    l->transforms = t;
    l->sampler = opt->sampler;
    l->dataset_len = len;
    l->n_full = n;
    l->world_size = 1;
    volt_loader_count(l);
    l->seed = opt->seed ? opt->seed : volt_global_seed();
    return l;
}

void volt_loader_count(volt_data_loader *l) {
    int64_t n = l->n_full, w = l->world_size, b = l->opt.batch_size;
    l->n_items = w > 1 ? (n + w - 1) / w : n;
    l->n_batches = l->opt.drop_last ? l->n_items / b : (l->n_items + b - 1) / b;
}

int64_t volt_data_loader_len(const volt_data_loader *l) {
    if (!l) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader_len: NULL loader");
        return -1;
    }
    return l->n_batches;
}

/* ------------------------------------------------------------ one batch */

static volt_tensor *u8_to_f32(const volt_tensor *t) {
    volt_tensor *f = volt_tensor_new(VOLT_F32, VOLT_DEVICE_CPU, t->ndim, t->shape);
    if (!f) return NULL;
    const uint8_t *src = volt_tensor_data(t);
    float *dst = volt_tensor_data(f);
    for (int64_t i = 0, n = volt_tensor_numel(t); i < n; i++) dst[i] = (float)src[i] / 255.0f;
    return f;
}

static volt_tensor *flatten(const volt_tensor *x) {
    int64_t shape[2] = {x->shape[0], x->shape[0] ? volt_tensor_numel(x) / x->shape[0] : 0};
    if (volt_tensor_is_contiguous(x)) return volt_tensor_alias(x, 2, shape, NULL, x->offset);
    volt_tensor *c = volt_tensor_new(x->dtype, VOLT_DEVICE_CPU, 2, shape);
    if (c && volt_tensor_copy_to_array(x, x->dtype, volt_tensor_data(c)) != VOLT_OK) {
        volt_tensor_free(c);
        return NULL;
    }
    return c;
}

/* u8 conversion, transforms and flatten on a collated batch (in a scope). */
static volt_status finish_batch(const volt_data_loader *l, const int64_t *indices, volt_batch *b) {
    for (int f = 0; f < b->n_fields && !l->opt.keep_u8; f++) {
        volt_tensor *t = b->fields[f];
        if (t->dtype != VOLT_U8) continue;
        volt_tensor *c = volt_tensor_is_contiguous(t) ? u8_to_f32(t) : NULL;
        if (!c)
            return volt_error_status() != VOLT_OK
                       ? volt_error_status()
                       : volt_error_set(VOLT_ERR_INTERNAL, "data_loader: non-contiguous u8 batch");
        volt_batch_replace(b, f, c);
    }
    int x = -1;
    for (int f = 0; f < b->n_fields; f++)
        if (b->fields[f] == b->x) x = f;
    if ((l->opt.n_transforms > 0 || l->opt.flatten) && x < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader: transforms and flatten act "
                              "on a field named 'x', and the %s has none",
                              l->dataset->ops->name ? l->dataset->ops->name : "dataset");
    if (l->opt.n_transforms > 0) {
        volt_tensor *t = volt_transforms_apply(l->transforms, l->opt.n_transforms, b->x, indices,
                                               l->seed, l->epoch);
        if (!t) return volt_error_status();
        if (t != b->x) volt_batch_replace(b, x, t);
    }
    if (l->opt.flatten && b->x->ndim != 2) {
        volt_tensor *t = flatten(b->x);
        if (!t) return volt_error_status();
        volt_batch_replace(b, x, t);
    }
    return VOLT_OK;
}

volt_status volt_loader_build(const volt_data_loader *l, int64_t k, volt_batch *out) {
    int64_t start = k * l->opt.batch_size;
    int64_t n = l->n_items - start < l->opt.batch_size ? l->n_items - start : l->opt.batch_size;
    const int64_t *indices = l->order + start;
    volt_batch b;
    volt_scope_begin();
    volt_status st = volt_dataset_get_batch(l->dataset, indices, n, &b);
    if (st == VOLT_OK) st = finish_batch(l, indices, &b);
    if (st == VOLT_OK) {
        b.size = n;
        volt_batch_persist(&b);
    }
    volt_scope_end();
    if (st != VOLT_OK && volt_error_status() == VOLT_OK)
        volt_error_set(st, "data_loader: batch %lld failed without a message", (long long)k);
    if (st == VOLT_OK)
        *out = b;
    else
        memset(out, 0, sizeof *out);
    return st;
}

/* -------------------------------------------------------------- epochs */

/* The whole epoch's order (every rank's), n_full indices, into all: the
 * sampler's, or 0..n-1, shuffled from (seed, epoch) — the same for every
 * world size, so that the ranks' shards interleave into the order of one
 * process. */
static volt_status epoch_order(const volt_data_loader *l, int64_t *all) {
    if (!l->sampler) {
        for (int64_t i = 0; i < l->n_full; i++) all[i] = i;
        if (l->opt.shuffle)
            volt_data_shuffle(all, l->n_full, l->seed,
                              volt_data_stream(VOLT_DATA_STREAM_SHUFFLE, (uint64_t)l->epoch, 0));
        return VOLT_OK;
    }
    volt_sampler_set_epoch(l->sampler, l->epoch);
    volt_status st = volt_sampler_indices(l->sampler, all);
    for (int64_t i = 0; st == VOLT_OK && i < l->n_full; i++)
        if (all[i] < 0 || all[i] >= l->dataset_len)
            st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                "data_loader: %s gave index %lld "
                                "for a dataset of %lld items",
                                l->sampler->ops->name ? l->sampler->ops->name : "sampler",
                                (long long)all[i], (long long)l->dataset_len);
    return st;
}

/* This rank's order of the epoch into l->order (n_items indices). */
static volt_status shard_order(volt_data_loader *l) {
    bool sharded = l->world_size > 1;
    l->order = malloc((size_t)(l->n_items > 0 ? l->n_items : 1) * sizeof *l->order);
    int64_t *all =
        sharded ? malloc((size_t)(l->n_full > 0 ? l->n_full : 1) * sizeof *all) : l->order;
    if (!l->order || !all) {
        if (sharded) free(all);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "data_loader: out of memory");
    }
    volt_status st = epoch_order(l, all);
    if (sharded) {
        if (st == VOLT_OK) volt_loader_shard(l, all, l->order);
        free(all);
    }
    return st;
}

static volt_status start_epoch(volt_data_loader *l) {
    volt_status st = shard_order(l);
    if (st == VOLT_OK && l->opt.num_workers > 0) {
        l->pool = volt_loader_pool_start(l, l->position);
        if (!l->pool) st = volt_error_status();
    }
    if (st != VOLT_OK) {
        free(l->order);
        l->order = NULL;
        return st;
    }
    l->running = true;
    return VOLT_OK;
}

void volt_data_loader_stop(volt_data_loader *l) {
    if (!l || !l->running) return;
    if (l->has_ahead) volt_batch_free(&l->ahead);
    l->has_ahead = false;
    volt_loader_pool_stop(l->pool);
    l->pool = NULL;
    free(l->order);
    l->order = NULL;
    l->running = false;
}

bool volt_data_loader_next(volt_data_loader *l, volt_batch *out) {
    if (!l || !out) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader_next: NULL %s",
                       l ? "batch" : "loader");
        return false;
    }
    memset(out, 0, sizeof *out);
    if (l->position >= l->n_batches) { /* the epoch is over */
        volt_data_loader_stop(l);
        l->epoch++;
        l->position = 0;
        return false;
    }
    if (!l->running && start_epoch(l) != VOLT_OK) return false;
    volt_status st = VOLT_OK;
    if (l->has_ahead) {
        *out = l->ahead;
        l->has_ahead = false;
    } else {
        st = l->pool ? volt_loader_pool_take(l->pool, l->position, out)
                     : volt_loader_build(l, l->position, out);
    }
    if (st != VOLT_OK) {
        volt_data_loader_stop(l);
        return false;
    }
    volt_batch_adopt(out);
    l->position++;
    if (l->hook && l->hook(l->hook_ctx, out) != VOLT_OK) {
        memset(out, 0, sizeof *out); /* its tensors go with the caller's scope */
        return false;
    }
    return true;
}

void volt_data_loader_prefetch(volt_data_loader *l) {
    if (!l || !l->running || l->pool || l->has_ahead || l->position >= l->n_batches ||
        volt_error_status() != VOLT_OK)
        return;
    if (volt_loader_build(l, l->position, &l->ahead) == VOLT_OK)
        l->has_ahead = true;
    else
        volt_error_clear(); /* next() builds the batch again and reports it */
}

void volt_data_loader_set_hook(volt_data_loader *l, volt_data_loader_hook fn, void *ctx,
                               void (*release)(void *ctx)) {
    if (!l) return;
    if (l->hook_release) l->hook_release(l->hook_ctx);
    l->hook = fn;
    l->hook_ctx = fn ? ctx : NULL;
    l->hook_release = fn ? release : NULL;
}

void volt_data_loader_set_epoch(volt_data_loader *l, int64_t epoch) {
    if (!l) return;
    volt_data_loader_stop(l);
    l->epoch = epoch;
    l->position = 0;
}

void volt_data_loader_free(volt_data_loader *l) {
    if (!l) return;
    volt_data_loader_stop(l);
    volt_data_loader_set_hook(l, NULL, NULL, NULL);
    free(l->transforms);
    free(l);
}

/* --------------------------------------------------------------- state */

volt_data_loader_state volt_data_loader_state_get(const volt_data_loader *l) {
    if (!l) return (volt_data_loader_state){0};
    return (volt_data_loader_state){
        .seed = l->seed, .epoch = l->epoch, .position = l->position, .n_batches = l->n_batches};
}

volt_status volt_data_loader_state_set(volt_data_loader *l, const volt_data_loader_state *s) {
    if (!l || !s)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader_state_set: NULL %s",
                              l ? "state" : "loader");
    if (s->n_batches != l->n_batches)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader_state_set: the state was saved "
                              "by a loader of %lld batches per epoch, this one has %lld "
                              "(rank %d of %d)",
                              (long long)s->n_batches, (long long)l->n_batches, l->rank,
                              l->world_size);
    if (s->epoch < 0 || s->position < 0 || s->position > l->n_batches)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "data_loader_state_set: epoch %lld, "
                              "position %lld out of range (0 <= position <= %lld)",
                              (long long)s->epoch, (long long)s->position, (long long)l->n_batches);
    volt_data_loader_stop(l);
    l->seed = s->seed;
    l->epoch = s->epoch;
    l->position = s->position;
    return VOLT_OK;
}
