/* strategy.c: the trainer's strategy over a volt_fabric, its lower layer —
 * one process, or data parallel over a process group ("ddp", "zero1"). The
 * fabric, made from the trainer's configuration, resolves strategy /
 * devices / num_nodes against the launcher, self-launches and makes the
 * process group; a fit sets the module and its optimizers up on it (rank
 * 0's state broadcast, synchronous batch norm, the gradient reducer or
 * zero1's sharding) and its loaders (a shard per rank); the small
 * collectives the rest of the trainer uses (boolean decisions, barriers,
 * sync_dist values, rank 0's strings) are the fabric's. See "Distributed
 * training" in volt/train.h. */
#include <string.h>

#include "train/fabric_impl.h"

/* The fabric's options from the trainer's configuration. */
static volt_fabric_options fabric_options(const volt_trainer *t) {
    const volt_trainer_config *c = &t->cfg;
    return (volt_fabric_options){
        .accelerator = c->accelerator,
        .strategy = c->strategy,
        .devices = c->devices == VOLT_NONE ? 1 : c->devices,
        .num_nodes = c->num_nodes,
        .bucket_cap_mb = c->bucket_cap_mb,
        .sync_batchnorm = c->sync_batchnorm,
    };
}

volt_status volt_strategy_setup(volt_trainer *t) {
    if (t->fabric) return VOLT_OK; /* made by an earlier run of this trainer */
    volt_fabric_options o = fabric_options(t);
    volt_fabric *f = volt_fabric_new(&o);
    volt_status st = f ? volt_fabric_launch(f) : volt_error_status(); /* may re-execute */
    if (st) {
        volt_fabric_free(f);
        return volt_error_prefix(st, "trainer");
    }
    t->fabric = f;
    const char *strategy = volt_fabric_strategy(f);
    /* single_device (also "auto" with one process): no group to talk to */
    t->pg = strcmp(strategy, "single_device") == 0 ? NULL : volt_fabric_process_group(f);
    t->zero1 = strcmp(strategy, "zero1") == 0;
    t->rank = volt_fabric_global_rank(f);
    t->world = volt_fabric_world_size(f);
    t->local_rank = volt_fabric_local_rank(f);
    t->node_rank = volt_fabric_node_rank(f);
    return VOLT_OK;
}

void volt_strategy_free(volt_trainer *t) {
    volt_fabric_free(t->fabric);
    t->fabric = NULL;
    t->pg = NULL;
}

/* Several ranks, or ddp / zero1 over NCCL (which communicates with one
 * rank too, as Lightning's DDP on one GPU does). */
static bool parallel(const volt_trainer *t) { return t->pg && volt_fabric_distributed(t->fabric); }

/* ---------------------------------------------------------------- fit setup */

volt_status volt_strategy_fit_setup(volt_trainer *t) {
    if (!parallel(t)) return VOLT_OK; /* one process: nothing to share */
    volt_fabric *f = t->fabric;
    volt_status st = volt_fabric_setup_module(f, t->module);
    if (st) return st;
    bool manual = t->module->ops->manual_optimization;
    if (t->zero1 && manual)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fit: strategy 'zero1' needs automatic optimization (module "
                              "'%s' optimizes manually)",
                              t->module->ops->name ? t->module->ops->name : "module");
    for (int i = 0; i < t->n_optims && !st; i++)
        st = volt_fabric_setup_optimizers(f, t->optims[i].opt);
    if (st) return st;
    t->zero1_state = f->zero1;
    /* Manual optimization reduces when the module asks
     * (volt_trainer_all_reduce_gradients), not from backward. */
    return manual ? volt_fabric_no_backward_sync(f, t->module, true) : VOLT_OK;
}

void volt_strategy_before_backward(volt_trainer *t, bool closes_window) {
    if (parallel(t)) volt_fabric_no_backward_sync(t->fabric, NULL, !closes_window);
}

volt_status volt_strategy_sync_gradients(volt_trainer *t) {
    if (!parallel(t) || !volt_fabric_syncs_gradients(t->fabric)) return VOLT_OK;
    int pt = volt_profile_begin(t, "ddp_gradient_sync");
    volt_status st = volt_fabric_sync_gradients(t->fabric);
    volt_profile_end(t, pt);
    return st ? volt_error_prefix(st, "%s: averaging gradients", t->zero1 ? "zero1" : "ddp")
              : VOLT_OK;
}

volt_status volt_strategy_after_optimizer_step(volt_trainer *t) {
    if (!t->zero1_state) return VOLT_OK;
    int pt = volt_profile_begin(t, "zero1_gather_parameters");
    volt_status st = volt_fabric_after_step(t->fabric, volt_zero1_optimizer(t->zero1_state));
    volt_profile_end(t, pt);
    return st ? volt_error_prefix(st, "zero1: gathering parameters") : VOLT_OK;
}

volt_grad_reducer_stats volt_trainer_gradient_sync_stats(const volt_trainer *t) {
    return volt_fabric_gradient_sync_stats(t ? t->fabric : NULL);
}

volt_status volt_trainer_all_reduce_gradients(volt_trainer *t) {
    if (!t) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "all_reduce_gradients: NULL trainer");
    return volt_strategy_sync_gradients(t);
}

/* ------------------------------------------------------------------ loaders */

volt_status volt_strategy_shard_loader(volt_trainer *t, volt_data_loader *dl) {
    if (!parallel(t) || !dl || !t->cfg.use_distributed_sampler ||
        volt_fabric_has_loader(t->fabric, dl))
        return VOLT_OK;
    return volt_fabric_setup_dataloaders(t->fabric, dl, true, false); /* hooks move batches */
}

volt_status volt_strategy_share_checkpoint_dir(volt_trainer *t) {
    t->ckpt_dir_shared = false;
    if (!parallel(t)) return VOLT_OK;
    if (t->rank == 0 && !volt_trainer_default_checkpoint_dir(t)) return volt_error_status();
    volt_status st = volt_strategy_broadcast_string(t, &t->ckpt_dir);
    t->ckpt_dir_shared = !st;
    return st;
}

void volt_strategy_release_loaders(volt_trainer *t) { volt_fabric_release_loaders(t->fabric); }

void volt_strategy_run_end(volt_trainer *t) {
    t->ckpt_dir_shared = false;
    t->zero1_state = NULL;
    volt_fabric_release(t->fabric); /* reducer, zero1, batch norm, loaders */
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
    return parallel(t) ? volt_fabric_reduce_bool(t->fabric, value, all) : VOLT_OK;
}

volt_status volt_trainer_barrier(volt_trainer *t) {
    if (!t) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "barrier: NULL trainer");
    return t->pg ? volt_fabric_barrier(t->fabric) : VOLT_OK;
}

volt_status volt_strategy_sync_value(volt_trainer *t, unsigned reduce, double *value,
                                     double *weight) {
    if (!parallel(t)) return VOLT_OK;
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
    if (!st) st = volt_fabric_all_reduce(t->fabric, x, op);
    if (!st && w) st = volt_fabric_all_reduce(t->fabric, w, VOLT_REDUCE_SUM);
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
    return parallel(t) ? volt_fabric_broadcast_string(t->fabric, s, 0) : VOLT_OK;
}
