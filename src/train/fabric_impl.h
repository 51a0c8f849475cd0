/* fabric_impl.h: the volt_fabric struct and the helpers shared by the
 * fabric_*.c files (volt/fabric.h is the public side). */
#ifndef VOLT_FABRIC_IMPL_H
#define VOLT_FABRIC_IMPL_H

#include "train/train_impl.h"
#include "volt/fabric.h"

/* A module handed to volt_fabric_setup_module. */
typedef struct {
    volt_module *module;
    volt_grad_reducer *reducer; /* NULL with one process or no trainable parameter */
    bool no_sync;               /* inside a no_backward_sync window */
    bool sync_bn;               /* its batch norm layers were synchronized */
} volt_fabric_module;

/* An optimizer handed to volt_fabric_setup_optimizers, and under 16-mixed
 * whether its gradients were unscaled since its last step (by
 * clip_gradients) and held an inf or NaN then. */
typedef struct {
    volt_optimizer *optimizer;
    bool unscaled, found_inf;
} volt_fabric_optimizer;

/* A loader set up by volt_fabric_setup_dataloaders: sharded (and the seed
 * it had before), and / or moving its batches (a hook). */
typedef struct {
    volt_data_loader *loader;
    uint64_t seed;
    bool sharded, moved;
} volt_fabric_loader;

/* What a loader's hook moving batches holds: the fabric, NULL once freed
 * (the loader may outlive it); shared by the fabric and its loaders. */
typedef struct {
    volt_fabric *fabric;
    int refs;
} volt_fabric_link;

struct volt_fabric {
    /* options, resolved: strings the fabric owns */
    char *strategy; /* "auto", "single_device", "ddp", "zero1" (launch resolves "auto") */
    char *root_dir;
    int64_t devices, num_nodes;
    double bucket_cap_mb, timeout_s;
    bool sync_batchnorm;
    /* "32-true", "bf16-mixed", "bf16-true", "16-mixed" or "16-true" (static) */
    const char *precision;
    volt_autocast_mode autocast_saved; /* the mode autocast_begin replaced */
    bool in_autocast;
    volt_grad_scaler scaler; /* enabled under "16-mixed" */

    bool cuda;          /* accelerator "cuda" / "gpu" */
    volt_device device; /* cuda:(local rank) on a GPU, else the CPU; set by launch */

    bool launched;
    volt_process_group *pg; /* made by launch; "single" with one process */
    int rank, world, local_rank, node_rank;

    volt_fabric_module *modules;
    int n_modules, cap_modules;
    volt_fabric_optimizer *optimizers;
    int n_optimizers, cap_optimizers;
    volt_zero1 *zero1; /* strategy "zero1", several ranks: the optimizer's sharding */

    volt_fabric_loader *loaders; /* sharded or hooked by setup_dataloaders */
    volt_fabric_link *link;      /* NULL until a loader moves batches */
    int n_loaders, cap_loaders;
    /* the reducers' figures, summed, when the modules were last released */
    volt_grad_reducer_stats last_stats;

    volt_logger **loggers;
    int n_loggers, cap_loggers;
    int64_t next_log_step;
};

/* Whether the set-up modules and optimizers communicate: several ranks,
 * or ddp / zero1 over NCCL (on a GPU the collectives run even with one
 * rank, as Lightning's DDP does). */
bool volt_fabric_distributed(const volt_fabric *f);
/* VOLT_ERR_INVALID_ARGUMENT for a NULL fabric, VOLT_ERR_STATE before
 * launch; `op` names the caller ("setup_module"). */
volt_status volt_fabric_need_launch(const volt_fabric *f, const char *op);
/* The entry of a set-up module, NULL if it was not set up. */
volt_fabric_module *volt_fabric_find_module(volt_fabric *f, const volt_module *m);
/* Whether the optimizer was registered by setup_optimizers; its entry
 * (NULL if it was not). */
bool volt_fabric_has_optimizer(const volt_fabric *f, const volt_optimizer *opt);
volt_fabric_optimizer *volt_fabric_find_optimizer(volt_fabric *f, const volt_optimizer *opt);
/* Every rank learns whether every rank succeeded: `st` when this rank
 * failed, `others` with a message naming `op` when another did (its own
 * message is on that rank), VOLT_OK when all did. One process: st.
 * Collective. */
volt_status volt_fabric_share_outcome(volt_fabric *f, volt_status st, const char *op,
                                      volt_status others);
/* The arguments of save and load (`op` names which): a path, a state with
 * a module, n_optimizers >= 0 non-NULL optimizers. */
volt_status volt_fabric_check_state(const char *op, const char *path, const volt_fabric_state *s);
/* fabric_precision.c: "16-mixed"'s loss scaling (f->scaler). The loss
 * multiplied by the scale for backward (loss itself without scaling). */
volt_tensor *volt_fabric_scale_loss(volt_fabric *f, volt_tensor *loss);
/* e's gradients divided by the scale, once between two of its steps (its
 * unscaled / found_inf flags record it); under zero1 every rank learns
 * whether any rank's shard held an inf (collective then). Nothing without
 * scaling. Errors unprefixed. */
volt_status volt_fabric_unscale(volt_fabric *f, volt_fabric_optimizer *e);
/* e's step under the scaler: unscaled (above), skipped when the gradients
 * held an inf or NaN, then the scale updated (halved after a skip, doubled
 * after 2000 good steps) and e ready for the next window. Without scaling
 * the plain step. Errors unprefixed. */
volt_status volt_fabric_scaled_step(volt_fabric *f, volt_fabric_optimizer *e);

/* The loggers' end (fabric_log.c): finalize (rank 0) and free them all. */
void volt_fabric_loggers_free(volt_fabric *f);

/* ------------------------------------------- the trainer's lower layer */
/* What the trainer (strategy.c) uses beyond the public calls. */

/* Whether a backward would communicate: a module has a gradient reducer,
 * or zero1 shards an optimizer. */
bool volt_fabric_syncs_gradients(const volt_fabric *f);
/* Averages the gradients now, whatever the no_backward_sync switches say:
 * every reducer finishes (volt_grad_reducer_finish), and zero1
 * reduce-scatters its optimizer's gradients. Collective; errors unprefixed. */
volt_status volt_fabric_sync_gradients(volt_fabric *f);
/* After `optimizer` stepped: under zero1 (the optimizer it shards), the
 * updated parameters all-gathered. Collective; errors unprefixed. */
volt_status volt_fabric_after_step(volt_fabric *f, volt_optimizer *optimizer);
/* Whether the loader was sharded by this fabric's setup_dataloaders. */
bool volt_fabric_has_loader(const volt_fabric *f, const volt_data_loader *loader);
/* The loaders set up, back to one process and their own seeds, their
 * hooks removed; forgotten. */
void volt_fabric_release_loaders(volt_fabric *f);
/* The end of a run: the reducers' figures kept (last_stats), the reducers
 * and zero1 freed, plain batch norm restored, the loaders released; the
 * modules and optimizers forgotten, so that they may be set up again. The
 * process group stays. Local. */
void volt_fabric_release(volt_fabric *f);

#endif
