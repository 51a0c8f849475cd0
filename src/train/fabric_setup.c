/* fabric_setup.c: volt_fabric_setup_module (rank 0's state broadcast, sync
 * batch norm, the gradient reducer under ddp), volt_fabric_setup_optimizers
 * (its parameters must belong to set-up modules; zero1 shards it) and
 * volt_fabric_setup_dataloaders (a shard per rank, rank 0's seed; a hook
 * moving batches to the device; the loaders remembered so that a run's end
 * can restore them). */
#include <stdlib.h>
#include <string.h>

#include "train/fabric_impl.h"
#include "train/precision_impl.h"

static const char *module_name(const volt_module *m) {
    return m->ops && m->ops->name ? m->ops->name : "module";
}

/* ------------------------------------------------------------------ module */

static volt_status check_module(volt_fabric *f, volt_module *m) {
    if (!m) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: setup_module: NULL module");
    if (volt_fabric_find_module(f, m))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: setup_module: module '%s' is set up already (once per "
                              "module)",
                              module_name(m));
    if (f->n_modules == f->cap_modules) {
        int cap = f->cap_modules ? 2 * f->cap_modules : 4;
        volt_fabric_module *g = realloc(f->modules, (size_t)cap * sizeof *g);
        if (!g)
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "fabric: setup_module: out of memory");
        f->modules = g;
        f->cap_modules = cap;
    }
    return VOLT_OK;
}

/* The ranks' state dicts must have as many entries, or the broadcasts
 * below would not pair up. */
static volt_status agree_on_count(volt_fabric *f, int64_t count) {
    int64_t v[2] = {count, -count};
    volt_tensor *t = volt_from_array(v, VOLT_I64, 1, (int64_t[]){2});
    volt_status st = t ? volt_dist_all_reduce(f->pg, t, VOLT_REDUCE_MAX) : volt_error_status();
    if (!st) memcpy(v, volt_tensor_data(t), sizeof v);
    if (t) volt_tensor_free(t);
    if (st) return volt_error_prefix(st, "fabric: setup_module");
    if (v[0] != -v[1])
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: setup_module: the ranks' modules differ: between %lld and "
                              "%lld parameters and buffers (this rank, %d: %lld)",
                              (long long)-v[1], (long long)v[0], f->rank, (long long)count);
    return VOLT_OK;
}

static volt_status broadcast_state(volt_fabric *f, volt_module *m) {
    volt_state_dict *sd = volt_module_state_dict(m);
    if (!sd) return volt_error_prefix(volt_error_status(), "fabric: setup_module");
    volt_status st = agree_on_count(f, sd->count);
    for (int64_t i = 0; i < sd->count && !st; i++)
        if ((st = volt_dist_broadcast(f->pg, sd->tensors[i], 0)))
            st = volt_error_prefix(st, "fabric: setup_module: broadcasting '%s' from rank 0",
                                   sd->names[i]);
    volt_state_dict_free(sd);
    return st;
}

/* A reducer over the parameters that require grad (NULL when none). */
static volt_status make_reducer(volt_fabric *f, volt_module *m, volt_grad_reducer **out) {
    volt_params ps = volt_module_parameters(m);
    size_t n_alloc = (size_t)(ps.count ? ps.count : 1);
    volt_tensor **params = malloc(n_alloc * sizeof *params);
    const char **names = malloc(n_alloc * sizeof *names);
    if (!params || !names) {
        free(params);
        free(names);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "fabric: setup_module: out of memory");
    }
    int64_t n = 0;
    for (int64_t i = 0; i < ps.count; i++)
        if (ps.tensors[i]->requires_grad) {
            params[n] = ps.tensors[i];
            names[n++] = ps.names[i];
        }
    volt_grad_reducer_options o = {.bucket_cap_mb = f->bucket_cap_mb};
    *out = n > 0 ? volt_grad_reducer_new(f->pg, params, names, n, &o) : NULL;
    free(params);
    free(names);
    if (n > 0 && !*out) return volt_error_prefix(volt_error_status(), "fabric: setup_module: ddp");
    return VOLT_OK;
}

volt_status volt_fabric_setup_module(volt_fabric *f, volt_module *module) {
    volt_status st = volt_fabric_need_launch(f, "setup_module");
    if (st) return st;
    bool ddp = volt_fabric_distributed(f);
    st = volt_fabric_share_outcome(f, check_module(f, module), "setup_module",
                                   VOLT_ERR_INVALID_ARGUMENT);
    if (st) return st;
    volt_fabric_module entry = {.module = module};
    /* bf16-true / 16-true: the module's floating parameters and buffers
     * become bf16 / f16 in place (Lightning's convert_module; optimizers
     * made before keep their parameters), before the move and the
     * broadcast. */
    volt_dtype cast = volt_precision_true_dtype(f->precision);
    if (cast != VOLT_F32 && (st = volt_module_to_dtype(module, cast)))
        return volt_error_prefix(st, "fabric: setup_module: casting module '%s' to %s",
                                 module_name(module), volt_dtype_name(cast));
    /* On a GPU the module moves there in place (optimizers made before
     * keep their parameters), before rank 0's state is broadcast. */
    if (f->device.type != VOLT_CPU && (st = volt_module_to_device(module, f->device)))
        return volt_error_prefix(st, "fabric: setup_module: moving module '%s' to cuda:%d",
                                 module_name(module), f->device.index);
    if (ddp) {
        st = broadcast_state(f, module);
        if (!st && f->sync_batchnorm) {
            st = volt_sync_batch_norm_convert(module, f->pg);
            entry.sync_bn = !st;
        }
        /* zero1 reduces the optimizer's gradients itself (setup_optimizers) */
        if (!st && strcmp(f->strategy, "zero1") != 0) st = make_reducer(f, module, &entry.reducer);
        if (st) {
            if (entry.sync_bn) volt_sync_batch_norm_convert(module, NULL);
            return st;
        }
    }
    if (f->n_modules == 0) f->last_stats = (volt_grad_reducer_stats){0}; /* a new run */
    f->modules[f->n_modules++] = entry;
    return VOLT_OK;
}

/* -------------------------------------------------------------- optimizers */

static bool in_set_up_module(volt_fabric *f, const volt_tensor *p) {
    for (int i = 0; i < f->n_modules; i++) {
        volt_params ps = volt_module_parameters(f->modules[i].module);
        for (int64_t k = 0; k < ps.count; k++)
            if (ps.tensors[k] == p) return true;
    }
    return false;
}

/* The local checks and room for one more optimizer. */
static volt_status check_optimizer(volt_fabric *f, volt_optimizer *optimizer) {
    if (!optimizer)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: setup_optimizers: NULL optimizer");
    const char *name = volt_optimizer_name(optimizer);
    if (volt_fabric_has_optimizer(f, optimizer))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: setup_optimizers: this %s optimizer is set up already",
                              name);
    if (f->zero1)
        return volt_error_set(VOLT_ERR_UNSUPPORTED,
                              "fabric: setup_optimizers: strategy 'zero1' shards one optimizer, "
                              "and one is set up already");
    volt_params ps = volt_optimizer_params(optimizer);
    for (int64_t k = 0; k < ps.count; k++)
        if (!in_set_up_module(f, ps.tensors[k])) {
            char shape[64];
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "fabric: setup_optimizers: parameter %lld of the %s optimizer "
                                  "(shape %s) belongs to no module set up with "
                                  "volt_fabric_setup_module (set the module up first: its "
                                  "gradients would not be averaged)",
                                  (long long)k, name,
                                  volt_shape_str(ps.tensors[k], shape, sizeof shape));
        }
    if (f->n_optimizers == f->cap_optimizers) {
        int cap = f->cap_optimizers ? 2 * f->cap_optimizers : 4;
        volt_fabric_optimizer *g = realloc(f->optimizers, (size_t)cap * sizeof *g);
        if (!g)
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY,
                                  "fabric: setup_optimizers: out of memory");
        f->optimizers = g;
        f->cap_optimizers = cap;
    }
    return VOLT_OK;
}

volt_status volt_fabric_setup_optimizers(volt_fabric *f, volt_optimizer *optimizer) {
    volt_status st = volt_fabric_need_launch(f, "setup_optimizers");
    if (st) return st;
    bool zero1 = strcmp(f->strategy, "zero1") == 0 && volt_fabric_distributed(f);
    st = check_optimizer(f, optimizer);
    if (zero1) { /* collective from here: every rank fails alike */
        st = volt_fabric_share_outcome(f, st, "setup_optimizers", VOLT_ERR_INVALID_ARGUMENT);
        if (!st && !(f->zero1 = volt_zero1_new_over(f->pg, optimizer)))
            st = volt_error_prefix(volt_error_status(), "fabric: setup_optimizers");
    }
    if (st) return st;
    /* bf16-true / 16-true: compensated updates, as the trainer's default */
    if (volt_precision_true_dtype(f->precision) != VOLT_F32)
        volt_optimizer_set_compensated(optimizer, true);
    f->optimizers[f->n_optimizers++] = (volt_fabric_optimizer){.optimizer = optimizer};
    return VOLT_OK;
}

/* ----------------------------------------------------------------- loaders */

/* Every rank's validity and flag: fails on every rank when a rank's loader
 * is NULL or the ranks disagree on use_distributed_sampler. */
static volt_status agree_on_loader(volt_fabric *f, bool ok, bool shard) {
    int32_t v[3] = {ok, shard, -(int32_t)shard};
    volt_tensor *t = volt_from_array(v, VOLT_I32, 1, (int64_t[]){3});
    volt_status st = t ? volt_dist_all_reduce(f->pg, t, VOLT_REDUCE_MIN) : volt_error_status();
    if (!st) memcpy(v, volt_tensor_data(t), sizeof v);
    if (t) volt_tensor_free(t);
    if (st) return volt_error_prefix(st, "fabric: setup_dataloaders");
    if (!ok) return volt_error_status();
    if (!v[0])
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: setup_dataloaders: another rank passed a NULL loader");
    if (v[1] != -v[2])
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: setup_dataloaders: the ranks disagree on "
                              "use_distributed_sampler (this rank, %d: %s)",
                              f->rank, shard ? "true" : "false");
    return VOLT_OK;
}

/* The fabric's record of dl, NULL when it has none. */
static volt_fabric_loader *record_of(const volt_fabric *f, const volt_data_loader *dl) {
    for (int i = 0; f && dl && i < f->n_loaders; i++)
        if (f->loaders[i].loader == dl) return &f->loaders[i];
    return NULL;
}

bool volt_fabric_has_loader(const volt_fabric *f, const volt_data_loader *loader) {
    const volt_fabric_loader *r = record_of(f, loader);
    return r && r->sharded;
}

void volt_fabric_release_loaders(volt_fabric *f) {
    for (int i = 0; f && i < f->n_loaders; i++) {
        volt_fabric_loader *r = &f->loaders[i];
        if (r->sharded) {
            volt_data_loader_set_distributed(r->loader, 0, 1);
            volt_data_loader_set_seed(r->loader, r->seed);
        }
        if (r->moved) volt_data_loader_set_hook(r->loader, NULL, NULL, NULL);
    }
    if (f) f->n_loaders = 0;
}

/* The record of dl, made on first use (NULL: out of memory, recorded). */
static volt_fabric_loader *remember(volt_fabric *f, volt_data_loader *dl) {
    volt_fabric_loader *r = record_of(f, dl);
    if (r) return r;
    if (f->n_loaders == f->cap_loaders) {
        int cap = f->cap_loaders ? 2 * f->cap_loaders : 4;
        volt_fabric_loader *g = realloc(f->loaders, (size_t)cap * sizeof *g);
        if (!g) {
            volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "fabric: setup_dataloaders: out of memory");
            return NULL;
        }
        f->loaders = g;
        f->cap_loaders = cap;
    }
    f->loaders[f->n_loaders] = (volt_fabric_loader){.loader = dl};
    return &f->loaders[f->n_loaders++];
}

static volt_status shard(volt_fabric *f, volt_data_loader *dl) {
    /* Shuffled shards are disjoint only when every rank shuffles alike. */
    uint64_t own = volt_data_loader_state_get(dl).seed, seed = own;
    volt_tensor *t = volt_from_array(&seed, VOLT_I64, 0, NULL); /* the bits */
    volt_status st = t ? volt_dist_broadcast(f->pg, t, 0) : volt_error_status();
    if (!st) memcpy(&seed, volt_tensor_data(t), sizeof seed);
    if (t) volt_tensor_free(t);
    volt_fabric_loader *r = st ? NULL : remember(f, dl);
    if (!st && !r) st = volt_error_status();
    if (!st && !r->sharded) { /* a second setup keeps the first's seed to restore */
        r->seed = own;
        r->sharded = true;
    }
    if (!st) st = volt_data_loader_set_distributed(dl, f->rank, f->world);
    if (!st) st = volt_data_loader_set_seed(dl, seed);
    return st ? volt_error_prefix(st, "fabric: setup_dataloaders") : VOLT_OK;
}

static volt_status move_batch(void *link, volt_batch *batch) {
    volt_fabric *f = ((volt_fabric_link *)link)->fabric;
    if (!f)
        return volt_error_set(VOLT_ERR_STATE, "fabric: this loader moves its batches to the "
                                              "device of a fabric that was freed");
    return volt_fabric_to_device(f, batch);
}

static void unlink_loader(void *link) {
    volt_fabric_link *k = link;
    if (--k->refs == 0) free(k);
}

volt_status volt_fabric_setup_dataloaders(volt_fabric *f, volt_data_loader *loader,
                                          bool use_distributed_sampler, bool move_to_device) {
    volt_status st = volt_fabric_need_launch(f, "setup_dataloaders");
    if (st) return st;
    if (!loader)
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: setup_dataloaders: NULL loader");
    if (f->world > 1) {
        st = agree_on_loader(f, loader != NULL, use_distributed_sampler);
        if (!st && use_distributed_sampler) st = shard(f, loader);
    } else if (!loader) {
        st = volt_error_status();
    }
    if (st || !move_to_device) return st;
    volt_fabric_loader *r = remember(f, loader);
    if (r && !f->link && (f->link = malloc(sizeof *f->link)))
        *f->link = (volt_fabric_link){.fabric = f, .refs = 1};
    if (!r || !f->link)
        return r ? volt_error_set(VOLT_ERR_OUT_OF_MEMORY,
                                  "fabric: setup_dataloaders: out of memory")
                 : volt_error_status();
    r->moved = true;
    f->link->refs++;
    volt_data_loader_set_hook(loader, move_batch, f->link, unlink_loader);
    return VOLT_OK;
}
