/* one_cycle.c: OneCycleLR of torch 1.13 — the 1cycle policy in two phases
 * (fastai) or three (the paper), cosine or linear annealing between the
 * phases' end points, and momentum (or beta1) cycled inversely to the lr.
 * It rewrites each group's initial_lr to max_lr / div_factor, as PyTorch
 * does. */
#include <math.h>
#include <stdlib.h>

#include "optim/optim_impl.h"

enum { LR_INITIAL, LR_MAX, LR_MIN, MOM_MAX, MOM_BASE };

typedef struct {
    double end_step;
    int start_lr, end_lr, start_mom, end_mom;
} phase;

typedef struct {
    volt_lr_scheduler base;
    volt_one_cycle_options o;
    int64_t total_steps;
    int n_phases;
    phase phases[3];
    double max_lr, min_lr;
} one_cycle;

volt_one_cycle_options volt_one_cycle_defaults(void) {
    return (volt_one_cycle_options){
        .pct_start = 0.3,
        .anneal_strategy = VOLT_ANNEAL_COS,
        .cycle_momentum = true,
        .base_momentum = 0.85,
        .max_momentum = 0.95,
        .div_factor = 25.0,
        .final_div_factor = 1e4,
        .three_phase = false,
    };
}

static double anneal(const one_cycle *c, double start, double end, double pct) {
    if (c->o.anneal_strategy == VOLT_ANNEAL_LINEAR) return (end - start) * pct + start;
    double cos_out = cos(VOLT_PI * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
}

static double value(const one_cycle *c, int g, int which) {
    double initial = volt_optim_initial_lr(c->base.opt, g);
    switch (which) {
    case LR_INITIAL: return initial;
    case LR_MAX: return c->max_lr;
    case LR_MIN: return c->min_lr;
    case MOM_MAX: return c->o.max_momentum;
    default: return c->o.base_momentum;
    }
}

static volt_status get_lr(volt_lr_scheduler *s, double *lrs) {
    const one_cycle *c = (const one_cycle *)s;
    double step_num = (double)s->last_epoch;
    if (s->last_epoch > c->total_steps)
        return volt_error_set(VOLT_ERR_STATE, "%s: stepped %lld times, but total_steps is %lld",
                              s->cls->name, (long long)s->last_epoch + 1,
                              (long long)c->total_steps);
    for (int g = 0; g < s->n_groups; g++) {
        double start_step = 0, lr = 0, mom = 0;
        for (int i = 0; i < c->n_phases; i++) {
            const phase *ph = &c->phases[i];
            if (step_num <= ph->end_step || i == c->n_phases - 1) {
                double pct = (step_num - start_step) / (ph->end_step - start_step);
                lr = anneal(c, value(c, g, ph->start_lr), value(c, g, ph->end_lr), pct);
                mom = anneal(c, value(c, g, ph->start_mom), value(c, g, ph->end_mom), pct);
                break;
            }
            start_step = ph->end_step;
        }
        lrs[g] = lr;
        if (c->o.cycle_momentum && volt_optimizer_set_momentum(s->opt, g, mom) != VOLT_OK)
            return volt_error_status();
    }
    return VOLT_OK;
}

static const volt_sched_class one_cycle_class = {.name = "OneCycleLR", .get_lr = get_lr};

#define FAIL(...) ((void)volt_sched_fail(name, __VA_ARGS__), false)

static bool check(volt_optimizer *opt, double max_lr, int64_t total_steps,
                  const volt_one_cycle_options *o) {
    const char *name = one_cycle_class.name;
    if (!(max_lr > 0 && isfinite(max_lr))) return FAIL("invalid max_lr %g (must be > 0)", max_lr);
    if (total_steps < 1)
        return FAIL("invalid total_steps %lld (must be >= 1)", (long long)total_steps);
    if (!(o->pct_start >= 0 && o->pct_start <= 1))
        return FAIL("invalid pct_start %g (must be in [0, 1])", o->pct_start);
    if (o->anneal_strategy != VOLT_ANNEAL_COS && o->anneal_strategy != VOLT_ANNEAL_LINEAR)
        return FAIL("invalid anneal_strategy %d", (int)o->anneal_strategy);
    if (!(o->div_factor > 0 && isfinite(o->div_factor)))
        return FAIL("invalid div_factor %g (must be > 0)", o->div_factor);
    if (!(o->final_div_factor > 0 && isfinite(o->final_div_factor)))
        return FAIL("invalid final_div_factor %g (must be > 0)", o->final_div_factor);
    if (o->cycle_momentum) {
        if (opt && !volt_optimizer_has_momentum(opt))
            return FAIL("cycle_momentum needs an optimizer with momentum or "
                        "betas (%s has neither)",
                        volt_optimizer_name(opt));
        if (!(o->base_momentum >= 0 && o->base_momentum < 1))
            return FAIL("invalid base_momentum %g (must be in [0, 1))", o->base_momentum);
        if (!(o->max_momentum >= 0 && o->max_momentum < 1))
            return FAIL("invalid max_momentum %g (must be in [0, 1))", o->max_momentum);
    }
    return true;
}

volt_lr_scheduler *volt_one_cycle_lr_new(volt_optimizer *opt, double max_lr, int64_t total_steps,
                                         const volt_one_cycle_options *options) {
    volt_one_cycle_options o = options ? *options : volt_one_cycle_defaults();
    if (!check(opt, max_lr, total_steps, &o)) return NULL;
    one_cycle *c = (one_cycle *)volt_sched_alloc(opt, &one_cycle_class, sizeof *c, true);
    if (!c) return NULL;
    c->o = o;
    c->total_steps = total_steps;
    c->max_lr = max_lr;
    c->min_lr = max_lr / o.div_factor / o.final_div_factor;
    double total = (double)total_steps;
    if (o.three_phase) {
        c->n_phases = 3;
        c->phases[0] = (phase){o.pct_start * total - 1, LR_INITIAL, LR_MAX, MOM_MAX, MOM_BASE};
        c->phases[1] = (phase){2 * o.pct_start * total - 2, LR_MAX, LR_INITIAL, MOM_BASE, MOM_MAX};
        c->phases[2] = (phase){total - 1, LR_INITIAL, LR_MIN, MOM_MAX, MOM_MAX};
    } else {
        c->n_phases = 2;
        c->phases[0] = (phase){o.pct_start * total - 1, LR_INITIAL, LR_MAX, MOM_MAX, MOM_BASE};
        c->phases[1] = (phase){total - 1, LR_MAX, LR_MIN, MOM_BASE, MOM_MAX};
    }
    for (int g = 0; g < c->base.n_groups; g++) {
        volt_optim_set_initial_lr(opt, g, max_lr / o.div_factor);
        c->base.base_lrs[g] = max_lr / o.div_factor;
        if (o.cycle_momentum) volt_optimizer_set_momentum(opt, g, o.max_momentum);
    }
    return volt_sched_initial_step(&c->base);
}
