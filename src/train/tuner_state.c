/* tuner_state.c: what the tuners share — their argument checks, the
 * snapshot of a module (parameter and buffer bytes, gradients, train/eval
 * mode, the default generator and global seed) that puts it back bit for bit after a
 * search (converted, as load_state_dict would, when the search's fit cast
 * the module: precision "bf16-true"), and the private trainer each short
 * fit runs on. */
#include <stdlib.h>
#include <string.h>

#include "train/tuner_impl.h"

volt_status volt_tuner_check_args(const volt_trainer *t, const volt_module *module,
                                  const volt_datamodule *data, const void *out, const char *op) {
    if (!module || !data || !out)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL %s", op,
                              !module ? "module"
                              : !data ? "datamodule"
                                      : "result pointer");
    if (volt_error_status())
        return volt_error_set(volt_error_status(), "%s: an error is already recorded", op);
    if (t && t->running)
        return volt_error_set(VOLT_ERR_STATE, "%s: the trainer is running (tune before fit)", op);
    const char *name = module->ops && module->ops->name ? module->ops->name : "module";
    if (!module->ops || !module->ops->training_step)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: module '%s' has no training_step", op,
                              name);
    if (module->ops->manual_optimization)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: module '%s' optimizes manually; the tuner needs automatic "
                              "optimization (the loss of training_step)",
                              op, name);
    return VOLT_OK;
}

/* ------------------------------------------------------------ snapshot */

typedef struct {
    void *data; /* a copy of the tensor's bytes; NULL: none */
    size_t nbytes;
    volt_dtype dtype;
    int64_t numel;
} saved_bytes;

struct volt_tuner_snapshot {
    int64_t n_state; /* state-dict entries */
    char **names;
    saved_bytes *state;
    int64_t n_params;
    saved_bytes *grads; /* data NULL: the parameter had no gradient */
    bool training;
    volt_generator gen;
    uint64_t global_seed;
};

static volt_status copy_bytes(const volt_tensor *t, saved_bytes *out, const char *name,
                              const char *op) {
    if (!volt_tensor_is_contiguous(t))
        return volt_error_set(VOLT_ERR_UNSUPPORTED, "%s: tensor '%s' is not contiguous", op, name);
    out->dtype = t->dtype;
    out->numel = volt_tensor_numel(t);
    out->nbytes = (size_t)out->numel * volt_dtype_size(t->dtype);
    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->data) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    if (out->nbytes) memcpy(out->data, volt_tensor_data(t), out->nbytes);
    return VOLT_OK;
}

static volt_status take_state(volt_tuner_snapshot *s, volt_module *m, const char *op) {
    volt_state_dict *sd = volt_module_state_dict(m);
    if (!sd) return volt_error_status() ? volt_error_status() : VOLT_ERR_OUT_OF_MEMORY;
    s->n_state = sd->count;
    s->names = calloc((size_t)sd->count + 1, sizeof *s->names);
    s->state = calloc((size_t)sd->count + 1, sizeof *s->state);
    volt_status st = s->names && s->state
                         ? VOLT_OK
                         : volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    for (int64_t i = 0; i < sd->count && !st; i++) {
        s->names[i] = strdup(sd->names[i]);
        st = s->names[i] ? copy_bytes(sd->tensors[i], &s->state[i], sd->names[i], op)
                         : volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    }
    volt_state_dict_free(sd);
    return st;
}

static volt_status take_grads(volt_tuner_snapshot *s, volt_module *m, const char *op) {
    volt_params p = volt_module_parameters(m);
    s->n_params = p.count;
    s->grads = calloc((size_t)p.count + 1, sizeof *s->grads);
    if (!s->grads) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    for (int64_t i = 0; i < p.count; i++) {
        const volt_tensor *g = p.tensors[i]->grad;
        volt_status st = g ? copy_bytes(g, &s->grads[i], p.names[i], op) : VOLT_OK;
        if (st) return st;
    }
    return VOLT_OK;
}

volt_tuner_snapshot *volt_tuner_snapshot_take(volt_module *module, const char *op) {
    volt_tuner_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
        return NULL;
    }
    s->training = volt_module_is_training(module);
    s->gen = *volt_default_generator();
    s->global_seed = volt_global_seed();
    if (take_state(s, module, op) || take_grads(s, module, op)) {
        volt_tuner_snapshot_free(s);
        return NULL;
    }
    return s;
}

/* Whether t can take b's values back: contiguous with as many elements, of
 * b's dtype or (a precision plugin cast the module during the search, as
 * "bf16-true" does) another floating one. */
static bool same_size(const volt_tensor *t, const saved_bytes *b) {
    return volt_tensor_is_contiguous(t) && volt_tensor_numel(t) == b->numel &&
           (t->dtype == b->dtype ||
            (volt_dtype_is_float(t->dtype) && volt_dtype_is_float(b->dtype)));
}

/* b's values into t (same_size holds): its bytes, or converted to t's dtype
 * (as load_state_dict converts). */
static volt_status write_back(volt_tensor *t, const saved_bytes *b) {
    if (t->dtype == b->dtype) {
        if (b->nbytes) memcpy(volt_tensor_data(t), b->data, b->nbytes);
        volt_storage_bump_version(t->storage);
        return VOLT_OK;
    }
    volt_scope_begin();
    volt_tensor *saved = volt_from_array(b->data, b->dtype, t->ndim, t->shape);
    volt_status st = VOLT_OK;
    VOLT_NO_GRAD { st = saved && volt_copy_(t, saved) ? VOLT_OK : volt_error_status(); }
    volt_scope_end();
    return st;
}

static volt_status restore_state(const volt_tuner_snapshot *s, volt_module *m, const char *op) {
    volt_state_dict *sd = volt_module_state_dict(m);
    if (!sd) return volt_error_status() ? volt_error_status() : VOLT_ERR_OUT_OF_MEMORY;
    volt_status st = VOLT_OK;
    if (sd->count != s->n_state)
        st = volt_error_set(VOLT_ERR_STATE,
                            "%s: the module has %lld state tensors, %lld before the search", op,
                            (long long)sd->count, (long long)s->n_state);
    for (int64_t i = 0; i < sd->count && !st; i++) {
        if (strcmp(sd->names[i], s->names[i]) != 0 || !same_size(sd->tensors[i], &s->state[i]))
            st = volt_error_set(VOLT_ERR_STATE,
                                "%s: tensor '%s' changed shape or place during "
                                "the search; the module cannot be restored",
                                op, sd->names[i]);
        else
            st = write_back(sd->tensors[i], &s->state[i]);
    }
    volt_state_dict_free(sd);
    return st;
}

/* A parameter that had no gradient gets none; one that had gets its values
 * back (when backward left one of the same size). */
static volt_status restore_grads(const volt_tuner_snapshot *s, volt_module *m) {
    volt_params p = volt_module_parameters(m);
    volt_status st = VOLT_OK;
    for (int64_t i = 0; i < p.count && i < s->n_params && !st; i++) {
        volt_tensor *g = p.tensors[i]->grad;
        if (!s->grads[i].data)
            volt_tensor_clear_grad(p.tensors[i]);
        else if (g && same_size(g, &s->grads[i]))
            st = write_back(g, &s->grads[i]);
    }
    return st;
}

volt_status volt_tuner_snapshot_restore(const volt_tuner_snapshot *s, volt_module *module,
                                        const char *op) {
    volt_status st = restore_state(s, module, op);
    if (!st) st = restore_grads(s, module);
    if (st) return st;
    volt_module_train(module, s->training);
    volt_seed_everything(s->global_seed); /* the seed data loaders key by */
    *volt_default_generator() = s->gen;
    return VOLT_OK;
}

void volt_tuner_snapshot_free(volt_tuner_snapshot *s) {
    if (!s) return;
    for (int64_t i = 0; i < s->n_state; i++) {
        if (s->names) free(s->names[i]);
        if (s->state) free(s->state[i].data);
    }
    for (int64_t i = 0; s->grads && i < s->n_params; i++) free(s->grads[i].data);
    free(s->names);
    free(s->state);
    free(s->grads);
    free(s);
}

/* ------------------------------------------------------ private trainer */

volt_trainer *volt_tuner_trainer_new(const volt_trainer *t, int64_t max_steps, const char *op) {
    volt_trainer_config c = t ? t->cfg : volt_trainer_defaults();
    c.max_steps = max_steps;
    c.max_epochs = -1;
    c.min_epochs = c.min_steps = VOLT_NONE;
    c.max_time = (double)VOLT_NONE;
    c.fast_dev_run = 0;
    c.detect_anomaly = false; /* a diverging loss is what lr_find looks for */
    c.limit_val_batches = 0.0;
    c.val_check_interval = 1.0;
    c.check_val_every_n_epoch = 1;
    c.num_sanity_val_steps = 0;
    c.logger = c.enable_checkpointing = false;
    c.enable_progress_bar = c.enable_model_summary = false;
    volt_trainer *inner = volt_trainer_new(&c);
    if (!inner) {
        volt_error_prefix(volt_error_status(), "%s", op);
        return NULL;
    }
    if (t) volt_trainer_set_configure_optimizers(inner, t->configure_override, t->configure_ctx);
    return inner;
}

void volt_tuner_drop_schedulers(volt_trainer *t) {
    for (int i = 0; i < t->n_optims; i++) {
        volt_lr_scheduler_free(t->optims[i].sched);
        t->optims[i].sched = NULL;
    }
}
