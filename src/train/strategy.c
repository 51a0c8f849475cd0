/* strategy.c: the trainer's strategy — one process, or data parallel over
 * a process group ("ddp", "zero1"): resolving strategy/devices/num_nodes
 * against the launcher, the self-launch, the process group, rank 0's module
 * state broadcast at fit setup, synchronous batch norm, the gradient
 * reducer, sharded loaders, and the small collectives the rest of the
 * trainer uses (boolean decisions, barriers, sync_dist values, rank 0's
 * strings). See "Distributed training" in volt/train.h. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_impl.h"

static bool strategy_is(const volt_trainer *t, const char *name) {
    return t->cfg.strategy && strcmp(t->cfg.strategy, name) == 0;
}

static int64_t cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    return 1;
}

/* The processes the configuration asks for, before looking at a launcher. */
static int64_t wanted_processes(const volt_trainer *t) {
    int64_t per_node = t->cfg.devices == -1 ? cpu_count() : t->cfg.devices;
    if (per_node == VOLT_NONE || per_node < 1) per_node = 1;
    return per_node * t->cfg.num_nodes;
}

static void take_ranks(volt_trainer *t) {
    t->rank = volt_process_group_rank(t->pg);
    t->world = volt_process_group_world_size(t->pg);
    t->local_rank = volt_process_group_local_rank(t->pg);
    t->node_rank = volt_process_group_node_rank(t->pg);
}

volt_status volt_strategy_setup(volt_trainer *t) {
    if (t->pg) return VOLT_OK; /* made by an earlier run of this trainer */
    t->rank = t->local_rank = t->node_rank = 0;
    t->world = 1;
    int64_t want = wanted_processes(t);
    volt_cluster_env env = volt_cluster_env_detect();
    if (volt_error_status()) return volt_error_prefix(volt_error_status(), "trainer");
    /* single_device: this process trains alone, launcher or not. */
    bool single = strategy_is(t, "single_device");
    if (single && want > 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: strategy 'single_device' runs one process, but devices * "
                              "num_nodes is %lld (use strategy 'ddp' or 'auto')",
                              (long long)want);
    bool parallel = strategy_is(t, "ddp") || strategy_is(t, "zero1");
    if (!single && !parallel) parallel = want > 1 || env.world_size > 1; /* auto */
    if (!parallel) return VOLT_OK;
    t->zero1 = strategy_is(t, "zero1");
    if (env.world_size > 1 || env.source != VOLT_CLUSTER_NONE) {
        /* Under a launcher: devices 1 (the default) adopts its count. */
        if (t->cfg.devices != 1 && env.world_size != want)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "trainer: devices * num_nodes = %lld, but the launcher (%s) "
                                  "started %d processes; make them agree, or leave devices at 1",
                                  (long long)want, volt_cluster_source_name(env.source),
                                  env.world_size);
    } else if (want > 1) {
        if (t->cfg.num_nodes > 1)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "trainer: num_nodes = %lld needs a launcher that starts the "
                                  "processes on every node (mpirun -np N --host ..., or srun "
                                  "--mpi=pmix); the trainer launches on one node only",
                                  (long long)t->cfg.num_nodes);
        volt_status st = volt_dist_launch((int)want); /* returns only on failure */
        return volt_error_prefix(st ? st : VOLT_ERR_STATE, "trainer: devices = %lld",
                                 (long long)want);
    }
    t->pg = volt_process_group_new(NULL, NULL);
    if (!t->pg) return volt_error_prefix(volt_error_status(), "trainer: strategy '%s'",
                                         t->cfg.strategy);
    take_ranks(t);
    return VOLT_OK;
}

void volt_strategy_free(volt_trainer *t) {
    volt_grad_reducer_free(t->reducer);
    t->reducer = NULL;
    volt_process_group_free(t->pg);
    t->pg = NULL;
}

/* ---------------------------------------------------------------- fit setup */

static volt_status broadcast_module(volt_trainer *t) {
    volt_state_dict *sd = volt_module_state_dict(t->module);
    if (!sd) return volt_error_status();
    volt_status st = VOLT_OK;
    for (int64_t i = 0; i < sd->count && !st; i++) {
        st = volt_dist_broadcast(t->pg, sd->tensors[i], 0);
        if (st)
            st = volt_error_prefix(st, "ddp: broadcasting '%s' from rank 0", sd->names[i]);
    }
    volt_state_dict_free(sd);
    return st;
}

volt_status volt_strategy_fit_setup(volt_trainer *t) {
    t->sync_stats = (volt_grad_reducer_stats){0};
    if (!t->pg || t->world < 2) return VOLT_OK; /* one process: nothing to share */
    volt_status st = broadcast_module(t);
    if (st) return st;
    if (t->cfg.sync_batchnorm) {
        if ((st = volt_sync_batch_norm_convert(t->module, t->pg))) return st;
        t->sync_bn = true;
    }
    if (t->zero1) {
        if (t->module->ops->manual_optimization)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "fit: strategy 'zero1' needs automatic optimization (module "
                                  "'%s' optimizes manually)",
                                  t->module->ops->name ? t->module->ops->name : "module");
        t->zero1_state = volt_zero1_new(t, t->optims[0].opt);
        return t->zero1_state ? VOLT_OK : volt_error_prefix(volt_error_status(), "zero1");
    }
    /* The parameters that train: those requiring grad. */
    volt_params ps = volt_module_parameters(t->module);
    volt_tensor **params = malloc((size_t)(ps.count ? ps.count : 1) * sizeof *params);
    const char **names = malloc((size_t)(ps.count ? ps.count : 1) * sizeof *names);
    if (!params || !names) {
        free(params);
        free(names);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "ddp: out of memory");
    }
    int64_t n = 0;
    for (int64_t i = 0; i < ps.count; i++)
        if (ps.tensors[i]->requires_grad) {
            params[n] = ps.tensors[i];
            names[n++] = ps.names[i];
        }
    volt_grad_reducer_options o = {.bucket_cap_mb = t->cfg.bucket_cap_mb};
    t->reducer = n > 0 ? volt_grad_reducer_new(t->pg, params, names, n, &o) : NULL;
    free(params);
    free(names);
    if (n > 0 && !t->reducer) return volt_error_prefix(volt_error_status(), "ddp");
    /* Manual optimization reduces when the module asks
     * (volt_trainer_all_reduce_gradients), not from backward. */
    if (t->reducer && t->module->ops->manual_optimization)
        volt_grad_reducer_set_sync(t->reducer, false);
    return VOLT_OK;
}

void volt_strategy_before_backward(volt_trainer *t, bool closes_window) {
    if (t->reducer) volt_grad_reducer_set_sync(t->reducer, closes_window);
}

volt_status volt_strategy_sync_gradients(volt_trainer *t) {
    if (!t->reducer && !t->zero1_state) return VOLT_OK;
    int pt = volt_profile_begin(t, "ddp_gradient_sync");
    volt_status st = t->zero1_state ? volt_zero1_reduce_gradients(t->zero1_state)
                                    : volt_grad_reducer_finish(t->reducer);
    volt_profile_end(t, pt);
    return st ? volt_error_prefix(st, "%s: averaging gradients", t->zero1 ? "zero1" : "ddp")
              : VOLT_OK;
}

volt_status volt_strategy_after_optimizer_step(volt_trainer *t) {
    if (!t->zero1_state) return VOLT_OK;
    int pt = volt_profile_begin(t, "zero1_gather_parameters");
    volt_status st = volt_zero1_gather_parameters(t->zero1_state);
    volt_profile_end(t, pt);
    return st ? volt_error_prefix(st, "zero1: gathering parameters") : VOLT_OK;
}

volt_grad_reducer_stats volt_trainer_gradient_sync_stats(const volt_trainer *t) {
    if (!t) return (volt_grad_reducer_stats){0};
    return t->reducer ? volt_grad_reducer_get_stats(t->reducer) : t->sync_stats;
}

volt_status volt_trainer_all_reduce_gradients(volt_trainer *t) {
    if (!t) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "all_reduce_gradients: NULL trainer");
    return volt_strategy_sync_gradients(t);
}

/* ------------------------------------------------------------------ loaders */

volt_status volt_strategy_shard_loader(volt_trainer *t, volt_data_loader *dl) {
    if (!t->pg || t->world < 2 || !dl || !t->cfg.use_distributed_sampler) return VOLT_OK;
    for (int i = 0; i < t->n_sharded; i++)
        if (t->sharded[i] == dl) return VOLT_OK;
    if (t->n_sharded == (int)(sizeof t->sharded / sizeof *t->sharded))
        return volt_error_set(VOLT_ERR_STATE, "ddp: too many loaders to shard");
    /* Shuffled shards are disjoint only when every rank shuffles alike. */
    volt_data_loader_state s = volt_data_loader_state_get(dl);
    uint64_t own_seed = s.seed;
    volt_tensor *seed = volt_from_array(&s.seed, VOLT_I64, 0, NULL); /* the bits */
    volt_status st = seed ? volt_dist_broadcast(t->pg, seed, 0) : volt_error_status();
    if (!st) {
        memcpy(&s.seed, volt_tensor_data(seed), sizeof s.seed);
        st = volt_data_loader_set_distributed(dl, t->rank, t->world);
    }
    if (!st) st = volt_data_loader_set_seed(dl, s.seed);
    if (seed) volt_tensor_free(seed);
    if (st) return volt_error_prefix(st, "ddp: sharding a loader");
    t->sharded_seed[t->n_sharded] = own_seed;
    t->sharded[t->n_sharded++] = dl;
    return VOLT_OK;
}

volt_status volt_strategy_share_checkpoint_dir(volt_trainer *t) {
    t->ckpt_dir_shared = false;
    if (!t->pg || t->world < 2) return VOLT_OK;
    if (t->rank == 0 && !volt_trainer_default_checkpoint_dir(t)) return volt_error_status();
    volt_status st = volt_strategy_broadcast_string(t, &t->ckpt_dir);
    t->ckpt_dir_shared = !st;
    return st;
}

void volt_strategy_unshard_loaders(volt_trainer *t) {
    for (int i = 0; i < t->n_sharded; i++) { /* the loaders as they were */
        volt_data_loader_set_distributed(t->sharded[i], 0, 1);
        volt_data_loader_set_seed(t->sharded[i], t->sharded_seed[i]);
    }
    t->n_sharded = 0;
}

void volt_strategy_run_end(volt_trainer *t) {
    t->ckpt_dir_shared = false;
    if (t->reducer) t->sync_stats = volt_grad_reducer_get_stats(t->reducer);
    volt_grad_reducer_free(t->reducer);
    t->reducer = NULL;
    volt_zero1_free(t->zero1_state);
    t->zero1_state = NULL;
    volt_strategy_unshard_loaders(t);
    if (t->sync_bn && t->module) volt_sync_batch_norm_convert(t->module, NULL);
    t->sync_bn = false;
}

/* -------------------------------------------------------------- collectives */

int volt_trainer_global_rank(const volt_trainer *t) { return t ? t->rank : 0; }
int volt_trainer_world_size(const volt_trainer *t) { return t && t->world > 0 ? t->world : 1; }
int volt_trainer_local_rank(const volt_trainer *t) { return t ? t->local_rank : 0; }
int volt_trainer_node_rank(const volt_trainer *t) { return t ? t->node_rank : 0; }
bool volt_trainer_is_global_zero(const volt_trainer *t) { return !t || t->rank == 0; }
volt_process_group *volt_trainer_process_group(const volt_trainer *t) { return t ? t->pg : NULL; }

volt_status volt_trainer_reduce_bool(volt_trainer *t, bool *value, bool all) {
    if (!t || !value)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "reduce_bool: NULL trainer or value");
    if (!t->pg || t->world < 2) return VOLT_OK;
    int32_t v = *value ? 1 : 0;
    volt_tensor *x = volt_from_array(&v, VOLT_I32, 0, NULL);
    if (!x) return volt_error_status();
    volt_status st = volt_dist_all_reduce(t->pg, x, all ? VOLT_REDUCE_MIN : VOLT_REDUCE_MAX);
    if (!st) *value = *(int32_t *)volt_tensor_data(x) != 0;
    volt_tensor_free(x);
    return st;
}

volt_status volt_trainer_barrier(volt_trainer *t) {
    if (!t) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "barrier: NULL trainer");
    return t->pg ? volt_dist_barrier(t->pg) : VOLT_OK;
}

volt_status volt_strategy_sync_value(volt_trainer *t, unsigned reduce, double *value,
                                     double *weight) {
    if (!t->pg || t->world < 2) return VOLT_OK;
    bool extreme = reduce == VOLT_LOG_REDUCE_MIN || reduce == VOLT_LOG_REDUCE_MAX;
    /* mean: (value * weight, weight) summed; sum: (value, weight) summed;
     * min/max: the value alone, then the weights summed. */
    double v[2] = {reduce == 0 ? *value * *weight : *value, *weight};
    volt_tensor *x = volt_from_array(v, VOLT_F64, 1, (int64_t[]){extreme ? 1 : 2});
    volt_tensor *w = extreme ? volt_from_array(weight, VOLT_F64, 1, (int64_t[]){1}) : NULL;
    volt_status st = x && (!extreme || w) ? VOLT_OK : volt_error_status();
    volt_reduce_op op = reduce == VOLT_LOG_REDUCE_MIN   ? VOLT_REDUCE_MIN
                        : reduce == VOLT_LOG_REDUCE_MAX ? VOLT_REDUCE_MAX
                                                        : VOLT_REDUCE_SUM;
    if (!st) st = volt_dist_all_reduce(t->pg, x, op);
    if (!st && w) st = volt_dist_all_reduce(t->pg, w, VOLT_REDUCE_SUM);
    if (!st) {
        const double *r = volt_tensor_data(x);
        *weight = w ? *(const double *)volt_tensor_data(w) : r[1];
        *value = reduce == 0 ? (*weight > 0 ? r[0] / *weight : 0) : r[0];
    }
    if (x) volt_tensor_free(x);
    if (w) volt_tensor_free(w);
    return st;
}

volt_status volt_strategy_broadcast_string(volt_trainer *t, char **s) {
    if (!t->pg || t->world < 2) return VOLT_OK;
    int64_t len = t->rank == 0 && *s ? (int64_t)strlen(*s) + 1 : 0;
    volt_tensor *n = volt_from_array(&len, VOLT_I64, 0, NULL);
    volt_status st = n ? volt_dist_broadcast(t->pg, n, 0) : volt_error_status();
    if (!st) len = *(int64_t *)volt_tensor_data(n);
    if (n) volt_tensor_free(n);
    if (st || len == 0) {
        if (!st && t->rank != 0) free(*s), *s = NULL;
        return st;
    }
    volt_tensor *b = volt_empty(1, &len, VOLT_U8);
    if (!b) return volt_error_status();
    if (t->rank == 0) memcpy(volt_tensor_data(b), *s, (size_t)len);
    st = volt_dist_broadcast(t->pg, b, 0);
    if (!st && t->rank != 0) {
        char *copy = malloc((size_t)len);
        if (!copy) {
            st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "ddp: out of memory");
        } else {
            memcpy(copy, volt_tensor_data(b), (size_t)len);
            copy[len - 1] = '\0';
            free(*s);
            *s = copy;
        }
    }
    volt_tensor_free(b);
    return st;
}
