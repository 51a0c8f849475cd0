/* plateau.c: ReduceLROnPlateau of torch 1.13 — multiplies the groups' lrs by
 * `factor` (down to min_lr) once the monitored metric has not improved for
 * more than `patience` steps, then waits `cooldown` steps. Stepped with the
 * metric; it does not record initial_lr nor step at creation. */
#include <math.h>

#include "optim/optim_impl.h"

typedef struct {
    volt_lr_scheduler base;
    volt_plateau_options o;
    double best;
    int64_t num_bad_epochs, cooldown_counter;
} plateau;

volt_plateau_options volt_plateau_defaults(void) {
    return (volt_plateau_options){
        .mode = VOLT_PLATEAU_MIN,
        .factor = 0.1,
        .patience = 10,
        .threshold = 1e-4,
        .threshold_mode = VOLT_THRESHOLD_REL,
        .cooldown = 0,
        .min_lr = 0,
        .eps = 1e-8,
    };
}

static bool is_better(const plateau *p, double a, double best) {
    bool min = p->o.mode == VOLT_PLATEAU_MIN, rel = p->o.threshold_mode == VOLT_THRESHOLD_REL;
    if (min && rel) return a < best * (1. - p->o.threshold);
    if (min) return a < best - p->o.threshold;
    if (rel) return a > best * (p->o.threshold + 1.);
    return a > best + p->o.threshold;
}

static volt_status step_metric(volt_lr_scheduler *s, double current) {
    plateau *p = (plateau *)s;
    s->last_epoch++;
    if (is_better(p, current, p->best)) {
        p->best = current;
        p->num_bad_epochs = 0;
    } else {
        p->num_bad_epochs++;
    }
    if (p->cooldown_counter > 0) {
        p->cooldown_counter--;
        p->num_bad_epochs = 0;
    }
    if (p->num_bad_epochs > p->o.patience) {
        for (int g = 0; g < s->n_groups; g++) {
            double old_lr = s->opt->groups[g].hp.lr;
            double new_lr = old_lr * p->o.factor;
            if (new_lr < p->o.min_lr) new_lr = p->o.min_lr;
            if (old_lr - new_lr > p->o.eps) s->opt->groups[g].hp.lr = new_lr;
        }
        p->cooldown_counter = p->o.cooldown;
        p->num_bad_epochs = 0;
    }
    volt_sched_record_lrs(s);
    return VOLT_OK;
}

static void save(const volt_lr_scheduler *s, cJSON *obj) {
    const plateau *p = (const plateau *)s;
    volt_json_add_number(obj, "best", p->best);
    volt_json_add_number(obj, "num_bad_epochs", (double)p->num_bad_epochs);
    volt_json_add_number(obj, "cooldown_counter", (double)p->cooldown_counter);
}

static bool load(volt_lr_scheduler *s, const cJSON *obj, bool apply) {
    plateau *p = (plateau *)s;
    double best;
    int64_t bad, cooldown;
    if (!volt_json_get_number(cJSON_GetObjectItemCaseSensitive(obj, "best"), &best) ||
        !volt_json_get_int(cJSON_GetObjectItemCaseSensitive(obj, "num_bad_epochs"), &bad) ||
        !volt_json_get_int(cJSON_GetObjectItemCaseSensitive(obj, "cooldown_counter"), &cooldown)) {
        volt_error_set(VOLT_ERR_FORMAT,
                       "%s: load_state_dict: 'best', 'num_bad_epochs' or "
                       "'cooldown_counter' missing or bad",
                       s->cls->name);
        return false;
    }
    if (apply) {
        p->best = best;
        p->num_bad_epochs = bad;
        p->cooldown_counter = cooldown;
    }
    return true;
}

static const volt_sched_class plateau_class = {
    .name = "ReduceLROnPlateau",
    .step_metric = step_metric,
    .save = save,
    .load = load,
};

volt_lr_scheduler *volt_reduce_lr_on_plateau_new(volt_optimizer *opt,
                                                 const volt_plateau_options *options) {
    const char *name = plateau_class.name;
    volt_plateau_options o = options ? *options : volt_plateau_defaults();
    if (o.mode != VOLT_PLATEAU_MIN && o.mode != VOLT_PLATEAU_MAX)
        return volt_sched_fail(name, "invalid mode %d (min or max)", (int)o.mode);
    if (o.threshold_mode != VOLT_THRESHOLD_REL && o.threshold_mode != VOLT_THRESHOLD_ABS)
        return volt_sched_fail(name, "invalid threshold_mode %d (rel or abs)",
                               (int)o.threshold_mode);
    if (!(o.factor >= 0 && o.factor < 1))
        return volt_sched_fail(name, "invalid factor %g (must be in [0, 1))", o.factor);
    if (o.patience < 0)
        return volt_sched_fail(name, "invalid patience %lld (must be >= 0)", (long long)o.patience);
    if (o.cooldown < 0)
        return volt_sched_fail(name, "invalid cooldown %lld (must be >= 0)", (long long)o.cooldown);
    if (!(o.min_lr >= 0 && isfinite(o.min_lr)))
        return volt_sched_fail(name, "invalid min_lr %g (must be >= 0)", o.min_lr);
    if (!(o.eps >= 0 && isfinite(o.eps)))
        return volt_sched_fail(name, "invalid eps %g (must be >= 0)", o.eps);
    if (!isfinite(o.threshold))
        return volt_sched_fail(name, "invalid threshold %g (must be finite)", o.threshold);
    plateau *p = (plateau *)volt_sched_alloc(opt, &plateau_class, sizeof *p, false);
    if (!p) return NULL;
    p->o = o;
    p->base.last_epoch = 0;
    p->best = o.mode == VOLT_PLATEAU_MIN ? INFINITY : -INFINITY;
    return &p->base;
}
