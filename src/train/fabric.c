/* fabric.c: the fabric object — its options checked, launch (strategy,
 * devices and num_nodes resolved against the launcher, the self-launch,
 * the process group), the rank getters, seed_everything, and the helpers
 * the other fabric_*.c files share. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "train/fabric_impl.h"
#include "train/precision_impl.h"

/* ---------------------------------------------------------------- options */

static volt_status check_names(const volt_fabric_options *o) {
    int n_gpus = volt_accelerator_is_cuda(o->accelerator) ? volt_cuda_device_count() : 0;
    if (n_gpus > 0 && o->devices > n_gpus)
        return volt_error_set(VOLT_ERR_DEVICE,
                              "fabric: accelerator '%s': devices = %lld, but this machine has %d "
                              "CUDA device(s)",
                              o->accelerator ? o->accelerator : "auto", (long long)o->devices,
                              n_gpus);
    if (volt_check_run_names("fabric", o->accelerator, o->strategy, o->precision))
        return volt_error_status();
    if (o->root_dir && !*o->root_dir)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: root_dir is empty (NULL for the current directory)");
    return VOLT_OK;
}

static volt_status check_numbers(const volt_fabric_options *o) {
    if (o->devices < -1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: devices = %lld (must be >= 1, 0 for 1, or -1 for all)",
                              (long long)o->devices);
    if (o->num_nodes < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: num_nodes = %lld (must be >= 1, or 0 for 1)",
                              (long long)o->num_nodes);
    if (!(o->bucket_cap_mb >= 0) || o->bucket_cap_mb > 1e12)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: bucket_cap_mb = %g (must be >= 0; 0: 25)", o->bucket_cap_mb);
    if (!(o->timeout_s >= 0) || o->timeout_s > 1e9)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: timeout_s = %g (must be >= 0; 0: VOLT_DIST_TIMEOUT or 1800)",
                              o->timeout_s);
    return VOLT_OK;
}

/* precision's canonical name (its aliases resolved; NULL: "32-true"). */
static const char *canonical_precision(const char *precision) {
    switch (volt_precision_true_dtype(precision)) {
    case VOLT_BF16: return "bf16-true";
    case VOLT_F16: return "16-true";
    default: break;
    }
    switch (volt_precision_autocast(precision)) {
    case VOLT_AUTOCAST_BF16: return "bf16-mixed";
    case VOLT_AUTOCAST_F16: return "16-mixed";
    default: return "32-true";
    }
}

volt_fabric *volt_fabric_new(const volt_fabric_options *options) {
    volt_fabric_options o = options ? *options : (volt_fabric_options){0};
    if (check_names(&o) || check_numbers(&o)) return NULL;
    volt_fabric *f = calloc(1, sizeof *f);
    if (f) {
        f->strategy = strdup(o.strategy ? o.strategy : "auto");
        f->root_dir = strdup(o.root_dir ? o.root_dir : ".");
        f->precision = canonical_precision(o.precision);
        volt_grad_scaler_init(&f->scaler,
                              volt_precision_autocast(f->precision) == VOLT_AUTOCAST_F16);
    }
    if (!f || !f->strategy || !f->root_dir) {
        volt_fabric_free(f);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "fabric: out of memory");
        return NULL;
    }
    f->devices = o.devices == 0 ? 1 : o.devices;
    f->num_nodes = o.num_nodes == 0 ? 1 : o.num_nodes;
    f->bucket_cap_mb = o.bucket_cap_mb;
    f->timeout_s = o.timeout_s;
    f->sync_batchnorm = o.sync_batchnorm;
    f->cuda = volt_accelerator_is_cuda(o.accelerator);
    f->device = VOLT_DEVICE_CPU;
    f->world = 1;
    return f;
}

/* Frees the reducers and zero1's sharding, restores plain batch norm;
 * the modules and optimizers are forgotten. */
static void release_modules(volt_fabric *f) {
    for (int i = 0; i < f->n_modules; i++) {
        volt_grad_reducer_free(f->modules[i].reducer);
        if (f->modules[i].sync_bn) volt_sync_batch_norm_convert(f->modules[i].module, NULL);
    }
    f->n_modules = f->n_optimizers = 0;
    volt_zero1_free(f->zero1);
    f->zero1 = NULL;
}

void volt_fabric_release(volt_fabric *f) {
    if (!f) return;
    if (f->n_modules > 0) f->last_stats = volt_fabric_gradient_sync_stats(f);
    release_modules(f);
    volt_fabric_release_loaders(f);
}

void volt_fabric_free(volt_fabric *f) {
    if (!f) return;
    volt_fabric_loggers_free(f);
    release_modules(f); /* the loaders stay sharded (the header says so) */
    if (f->link) {      /* loaders that move batches now fail, by name */
        f->link->fabric = NULL;
        if (--f->link->refs == 0) free(f->link);
    }
    free(f->modules);
    free(f->optimizers);
    free(f->loaders);
    volt_process_group_free(f->pg);
    free(f->strategy);
    free(f->root_dir);
    free(f);
}

/* ----------------------------------------------------------------- launch */

static int64_t cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    return 1;
}

static volt_status set_strategy(volt_fabric *f, const char *name) {
    char *s = strdup(name);
    if (!s) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "fabric: out of memory");
    free(f->strategy);
    f->strategy = s;
    return VOLT_OK;
}

/* Resolves "auto" and checks the counts against the launcher; *exec_n > 1
 * when this process must re-execute itself as exec_n ranks. */
static volt_status resolve(volt_fabric *f, const volt_cluster_env *env, int64_t *exec_n) {
    /* devices -1: every GPU (or CPU) of the node */
    int64_t per_node = f->devices != -1 ? f->devices
                       : f->cuda        ? volt_cuda_device_count()
                                        : cpu_count();
    int64_t want = per_node * f->num_nodes;
    bool launcher = env->world_size > 1 || env->source != VOLT_CLUSTER_NONE;
    *exec_n = 0;
    if (strcmp(f->strategy, "single_device") == 0) {
        if (want > 1)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "fabric: launch: strategy 'single_device' runs one process, but "
                                  "devices * num_nodes is %lld (use strategy 'ddp' or 'auto')",
                                  (long long)want);
        return VOLT_OK;
    }
    if (strcmp(f->strategy, "auto") == 0 &&
        set_strategy(f, want > 1 || env->world_size > 1 ? "ddp" : "single_device"))
        return volt_error_status();
    if (strcmp(f->strategy, "ddp") != 0 && strcmp(f->strategy, "zero1") != 0) return VOLT_OK;
    if (launcher) {
        if (f->devices != 1 && env->world_size != want)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "fabric: launch: devices * num_nodes = %lld, but the launcher "
                                  "(%s) started %d processes; make them agree, or leave devices "
                                  "at 1",
                                  (long long)want, volt_cluster_source_name(env->source),
                                  env->world_size);
    } else if (want > 1) {
        if (f->num_nodes > 1)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "fabric: launch: num_nodes = %lld needs a launcher that starts "
                                  "the processes on every node (mpirun -np N --host ..., or srun "
                                  "--mpi=pmix); fabric launches on one node only",
                                  (long long)f->num_nodes);
        *exec_n = want;
    }
    return VOLT_OK;
}

volt_status volt_fabric_launch(volt_fabric *f) {
    if (!f) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: launch: NULL fabric");
    if (f->launched)
        return volt_error_set(VOLT_ERR_STATE, "fabric: launch: already launched (call it once)");
    bool clean = volt_error_status() == VOLT_OK; /* an older error is not detect's */
    volt_cluster_env env = volt_cluster_env_detect();
    if (clean && volt_error_status())
        return volt_error_prefix(volt_error_status(), "fabric: launch");
    int64_t exec_n = 0;
    volt_status st = resolve(f, &env, &exec_n);
    if (st) return st;
    if (exec_n > 1) {
        st = volt_dist_launch((int)exec_n); /* returns only on failure */
        return volt_error_prefix(st ? st : VOLT_ERR_STATE, "fabric: launch: devices = %lld",
                                 (long long)exec_n);
    }
    bool alone = strcmp(f->strategy, "single_device") == 0;
    volt_process_group_options po = {.timeout_s = f->timeout_s};
    /* On GPUs ddp and zero1 talk through NCCL (one GPU per rank). */
    f->pg = volt_process_group_new(alone ? "single" : f->cuda ? "nccl" : NULL, &po);
    if (!f->pg)
        return volt_error_prefix(volt_error_status(), "fabric: launch: strategy '%s'", f->strategy);
    f->rank = volt_process_group_rank(f->pg);
    f->world = volt_process_group_world_size(f->pg);
    f->local_rank = volt_process_group_local_rank(f->pg);
    f->node_rank = volt_process_group_node_rank(f->pg);
    f->device = volt_run_device(f->cuda ? "cuda" : "cpu", f->local_rank);
    if (strcmp(volt_process_group_backend(f->pg), "nccl") == 0)
        f->device = volt_process_group_device(f->pg);
    f->launched = true;
    return VOLT_OK;
}

bool volt_fabric_distributed(const volt_fabric *f) {
    if (!f || !f->pg || strcmp(f->strategy, "single_device") == 0) return false;
    return f->world > 1 || strcmp(volt_process_group_backend(f->pg), "nccl") == 0;
}

volt_device volt_fabric_device(const volt_fabric *f) { return f ? f->device : VOLT_DEVICE_CPU; }

bool volt_fabric_launched(const volt_fabric *f) { return f && f->launched; }
int volt_fabric_global_rank(const volt_fabric *f) { return f ? f->rank : 0; }
int volt_fabric_world_size(const volt_fabric *f) { return f && f->world > 0 ? f->world : 1; }
int volt_fabric_local_rank(const volt_fabric *f) { return f ? f->local_rank : 0; }
int volt_fabric_node_rank(const volt_fabric *f) { return f ? f->node_rank : 0; }
bool volt_fabric_is_global_zero(const volt_fabric *f) { return !f || f->rank == 0; }
const char *volt_fabric_strategy(const volt_fabric *f) { return f ? f->strategy : NULL; }
volt_process_group *volt_fabric_process_group(const volt_fabric *f) { return f ? f->pg : NULL; }

volt_status volt_fabric_seed_everything(volt_fabric *f, uint64_t seed) {
    if (!f)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: seed_everything: NULL fabric");
    volt_seed_everything(seed);
    return VOLT_OK;
}

/* ---------------------------------------------------------------- helpers */

volt_status volt_fabric_need_launch(const volt_fabric *f, const char *op) {
    if (!f) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: %s: NULL fabric", op);
    if (!f->launched)
        return volt_error_set(VOLT_ERR_STATE,
                              "fabric: %s: the fabric is not launched (call volt_fabric_launch "
                              "first)",
                              op);
    return VOLT_OK;
}

volt_fabric_module *volt_fabric_find_module(volt_fabric *f, const volt_module *m) {
    for (int i = 0; m && i < f->n_modules; i++)
        if (f->modules[i].module == m) return &f->modules[i];
    return NULL;
}

volt_fabric_optimizer *volt_fabric_find_optimizer(volt_fabric *f, const volt_optimizer *opt) {
    for (int i = 0; opt && i < f->n_optimizers; i++)
        if (f->optimizers[i].optimizer == opt) return &f->optimizers[i];
    return NULL;
}

bool volt_fabric_has_optimizer(const volt_fabric *f, const volt_optimizer *opt) {
    return volt_fabric_find_optimizer((volt_fabric *)f, opt) != NULL;
}

volt_status volt_fabric_share_outcome(volt_fabric *f, volt_status st, const char *op,
                                      volt_status others) {
    if (!f->pg || f->world < 2) return st;
    int32_t ok = st == VOLT_OK;
    volt_tensor *flag = volt_from_array(&ok, VOLT_I32, 0, NULL);
    volt_status cst =
        flag ? volt_dist_all_reduce(f->pg, flag, VOLT_REDUCE_MIN) : volt_error_status();
    bool all_ok = !cst && *(const int32_t *)volt_tensor_data(flag) == 1;
    if (flag) volt_tensor_free(flag);
    if (st) return st;
    if (cst) return volt_error_prefix(cst, "fabric: %s", op);
    if (!all_ok)
        return volt_error_set(others, "fabric: %s: another rank failed (see that rank's error)",
                              op);
    return VOLT_OK;
}

volt_status volt_fabric_check_state(const char *op, const char *path, const volt_fabric_state *s) {
    if (!path || !*path)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL or empty path", op);
    if (!s || !s->module)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: no state or no module", op, path);
    if (s->n_optimizers < 0 || (s->n_optimizers > 0 && !s->optimizers))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: %s: n_optimizers = %d without an optimizers array", op, path,
                              s->n_optimizers);
    for (int i = 0; i < s->n_optimizers; i++)
        if (!s->optimizers[i])
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: optimizer %d is NULL", op,
                                  path, i);
    return VOLT_OK;
}

volt_status volt_fabric_autocast_begin(volt_fabric *f) {
    if (!f) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: autocast_begin: NULL fabric");
    if (f->in_autocast)
        return volt_error_set(
            VOLT_ERR_STATE, "fabric: autocast_begin: already inside autocast (call autocast_end)");
    f->autocast_saved = volt_autocast_set(volt_precision_autocast(f->precision));
    f->in_autocast = true;
    return VOLT_OK;
}

volt_status volt_fabric_autocast_end(volt_fabric *f) {
    if (!f) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: autocast_end: NULL fabric");
    if (!f->in_autocast)
        return volt_error_set(VOLT_ERR_STATE, "fabric: autocast_end: no autocast_begin before it");
    volt_autocast_set(f->autocast_saved);
    f->in_autocast = false;
    return VOLT_OK;
}

const char *volt_fabric_precision(const volt_fabric *f) { return f ? f->precision : NULL; }
