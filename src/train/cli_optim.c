/* cli_optim.c: the optimizer: and lr_scheduler: sections of the command
 * line — the optimizer classes (sgd, adam, adamw, rmsprop, adagrad, lion:
 * their option tables are in option_tables.c), the scheduler classes (step,
 * multistep, exponential, cosine, cosine_warm_restarts, linear, constant,
 * polynomial, onecycle, plateau) with their argument structs and tables,
 * and the configure_optimizers that replaces the module's
 * (volt_trainer_set_configure_optimizers). */
#include <stdlib.h>
#include <string.h>

#include "train/cli_impl.h"
#include "train/option_tables_impl.h"

/* ------------------------------------------------------------ optimizers */

static volt_optimizer *sgd(volt_params p, const void *o) { return volt_sgd_new(p, o); }
static volt_optimizer *adam(volt_params p, const void *o) { return volt_adam_new(p, o); }
static volt_optimizer *adamw(volt_params p, const void *o) { return volt_adamw_new(p, o); }
static volt_optimizer *rmsprop(volt_params p, const void *o) { return volt_rmsprop_new(p, o); }
static volt_optimizer *adagrad(volt_params p, const void *o) { return volt_adagrad_new(p, o); }
static volt_optimizer *lion(volt_params p, const void *o) { return volt_lion_new(p, o); }

#define OPTIMIZER(name, help, table, type, fn)                                                     \
    { .cls = {name, help, table, sizeof(type), NULL, NULL}, .new_optimizer = fn }
const cli_builtin cli_optimizers[] = {
    OPTIMIZER("sgd", "torch.optim.SGD", volt_sgd_table, volt_sgd_options, sgd),
    OPTIMIZER("adam", "torch.optim.Adam", volt_adam_table, volt_adam_options, adam),
    OPTIMIZER("adamw", "torch.optim.AdamW", volt_adamw_table, volt_adam_options, adamw),
    OPTIMIZER("rmsprop", "torch.optim.RMSprop", volt_rmsprop_table, volt_rmsprop_options, rmsprop),
    OPTIMIZER("adagrad", "torch.optim.Adagrad", volt_adagrad_table, volt_adagrad_options, adagrad),
    OPTIMIZER("lion", "Lion (Chen et al. 2023)", volt_lion_table, volt_lion_options, lion),
};
const int cli_n_optimizers = sizeof cli_optimizers / sizeof cli_optimizers[0];

/* ------------------------------------------------------------ schedulers */

/* interval, frequency (and monitor for plateau) come first in every struct. */
#define COMMON(S, interval_default)                                                                \
    VOLT_OPT_KEY("interval", S, c.interval, CHOICE, interval_default,                              \
                 "step the scheduler every epoch or every optimizer step",                         \
                 VOLT_CHOICES("epoch", "step")),                                                   \
        VOLT_OPT_KEY("frequency", S, c.frequency, INT, "1", "step it every n intervals",           \
                     VOLT_GE(1))
#define REQUIRED .flags = VOLT_OPTION_REQUIRED

typedef struct {
    cli_sched_common c;
    int64_t step_size;
    double gamma;
} step_args;
static const volt_option step_table[] = {
    COMMON(step_args, "epoch"),
    VOLT_OPT(step_args, step_size, INT, "null", "decay every step_size epochs", VOLT_GE(1),
             REQUIRED),
    VOLT_OPT(step_args, gamma, DOUBLE, "0.1", "decay factor", VOLT_GE(0)),
    {0},
};
static volt_lr_scheduler *step_new(volt_optimizer *o, const void *a) {
    const step_args *s = a;
    return volt_step_lr_new(o, s->step_size, s->gamma);
}

typedef struct {
    cli_sched_common c;
    volt_int_list milestones;
    double gamma;
} multistep_args;
static const volt_option multistep_table[] = {
    COMMON(multistep_args, "epoch"),
    VOLT_OPT(multistep_args, milestones, INT_LIST, "null", "epochs at which to decay ([30, 60])",
             VOLT_GE(0), REQUIRED),
    VOLT_OPT(multistep_args, gamma, DOUBLE, "0.1", "decay factor", VOLT_GE(0)),
    {0},
};
static volt_lr_scheduler *multistep_new(volt_optimizer *o, const void *a) {
    const multistep_args *s = a;
    return volt_multistep_lr_new(o, s->milestones.n, s->milestones.v, s->gamma);
}

typedef struct {
    cli_sched_common c;
    double gamma;
} exponential_args;
static const volt_option exponential_table[] = {
    COMMON(exponential_args, "epoch"),
    VOLT_OPT(exponential_args, gamma, DOUBLE, "null", "decay factor per epoch", VOLT_GE(0),
             REQUIRED),
    {0},
};
static volt_lr_scheduler *exponential_new(volt_optimizer *o, const void *a) {
    return volt_exponential_lr_new(o, ((const exponential_args *)a)->gamma);
}

typedef struct {
    cli_sched_common c;
    int64_t t_max;
    double eta_min;
} cosine_args;
static const volt_option cosine_table[] = {
    COMMON(cosine_args, "epoch"),
    VOLT_OPT(cosine_args, t_max, INT, "null", "epochs of the half cosine (usually max_epochs)",
             VOLT_GE(1), REQUIRED),
    VOLT_OPT(cosine_args, eta_min, DOUBLE, "0.0", "the lowest learning rate", VOLT_GE(0)),
    {0},
};
static volt_lr_scheduler *cosine_new(volt_optimizer *o, const void *a) {
    const cosine_args *s = a;
    return volt_cosine_lr_new_ex(o, s->t_max, s->eta_min);
}

typedef struct {
    cli_sched_common c;
    int64_t t_0, t_mult;
    double eta_min;
} warm_args;
static const volt_option warm_table[] = {
    COMMON(warm_args, "epoch"),
    VOLT_OPT(warm_args, t_0, INT, "null", "epochs until the first restart", VOLT_GE(1), REQUIRED),
    VOLT_OPT(warm_args, t_mult, INT, "1", "each period is t_mult times longer", VOLT_GE(1)),
    VOLT_OPT(warm_args, eta_min, DOUBLE, "0.0", "the lowest learning rate", VOLT_GE(0)),
    {0},
};
static volt_lr_scheduler *warm_new(volt_optimizer *o, const void *a) {
    const warm_args *s = a;
    return volt_cosine_warm_restarts_lr_new(o, s->t_0, s->t_mult, s->eta_min);
}

typedef struct {
    cli_sched_common c;
    double start_factor, end_factor;
    int64_t total_iters;
} linear_args;
static const volt_option linear_table[] = {
    COMMON(linear_args, "epoch"),
    VOLT_OPT(linear_args, start_factor, DOUBLE, "0.3333333333333333", "the first factor",
             VOLT_RANGE(0, 1)),
    VOLT_OPT(linear_args, end_factor, DOUBLE, "1.0", "the last factor", VOLT_RANGE(0, 1)),
    VOLT_OPT(linear_args, total_iters, INT, "5", "epochs from the first factor to the last",
             VOLT_GE(1)),
    {0},
};
static volt_lr_scheduler *linear_new(volt_optimizer *o, const void *a) {
    const linear_args *s = a;
    return volt_linear_lr_new(o, s->start_factor, s->end_factor, s->total_iters);
}

typedef struct {
    cli_sched_common c;
    double factor;
    int64_t total_iters;
} constant_args;
static const volt_option constant_table[] = {
    COMMON(constant_args, "epoch"),
    VOLT_OPT(constant_args, factor, DOUBLE, "0.3333333333333333", "the factor, until total_iters",
             VOLT_RANGE(0, 1)),
    VOLT_OPT(constant_args, total_iters, INT, "5", "epochs at the reduced rate", VOLT_GE(0)),
    {0},
};
static volt_lr_scheduler *constant_new(volt_optimizer *o, const void *a) {
    const constant_args *s = a;
    return volt_constant_lr_new(o, s->factor, s->total_iters);
}

typedef struct {
    cli_sched_common c;
    int64_t total_iters;
    double power;
} polynomial_args;
static const volt_option polynomial_table[] = {
    COMMON(polynomial_args, "epoch"),
    VOLT_OPT(polynomial_args, total_iters, INT, "5", "epochs until the rate reaches 0", VOLT_GE(1)),
    VOLT_OPT(polynomial_args, power, DOUBLE, "1.0", "power of the polynomial"),
    {0},
};
static volt_lr_scheduler *polynomial_new(volt_optimizer *o, const void *a) {
    const polynomial_args *s = a;
    return volt_polynomial_lr_new(o, s->total_iters, s->power);
}

typedef struct {
    cli_sched_common c;
    double max_lr;
    int64_t total_steps;
    volt_one_cycle_options o;
} onecycle_args;
#define OC(key, f, T, d, h, ...) VOLT_OPT_KEY(key, onecycle_args, o.f, T, d, h, __VA_ARGS__)
static const volt_option onecycle_table[] = {
    COMMON(onecycle_args, "step"),
    VOLT_OPT(onecycle_args, max_lr, DOUBLE, "null", "the peak learning rate", VOLT_GE(0), REQUIRED),
    VOLT_OPT(onecycle_args, total_steps, INT, "null",
             "steps of the cycle (epochs x batches per epoch, with interval: step)", VOLT_GE(1),
             REQUIRED),
    OC("pct_start", pct_start, DOUBLE, "0.3", "share of the steps spent rising", VOLT_RANGE(0, 1)),
    OC("anneal_strategy", anneal_strategy, ENUM, "cos", "cos or linear annealing",
       VOLT_CHOICES("cos", "linear"), .values = (const int[]){VOLT_ANNEAL_COS, VOLT_ANNEAL_LINEAR}),
    OC("cycle_momentum", cycle_momentum, BOOL, "true", "cycle momentum (beta1) inversely"),
    OC("base_momentum", base_momentum, DOUBLE, "0.85", "the lowest momentum", VOLT_RANGE(0, 1)),
    OC("max_momentum", max_momentum, DOUBLE, "0.95", "the highest momentum", VOLT_RANGE(0, 1)),
    OC("div_factor", div_factor, DOUBLE, "25.0", "initial lr = max_lr / div_factor", VOLT_GE(0)),
    OC("final_div_factor", final_div_factor, DOUBLE, "10000.0",
       "lowest lr = initial lr / final_div_factor", VOLT_GE(0)),
    OC("three_phase", three_phase, BOOL, "false", "a third phase down to the lowest lr"),
    {0},
};
static volt_lr_scheduler *onecycle_new(volt_optimizer *o, const void *a) {
    const onecycle_args *s = a;
    return volt_one_cycle_lr_new(o, s->max_lr, s->total_steps, &s->o);
}

typedef struct {
    cli_sched_common c;
    volt_plateau_options o;
} plateau_args;
#define PL(key, f, T, d, h, ...) VOLT_OPT_KEY(key, plateau_args, o.f, T, d, h, __VA_ARGS__)
static const volt_option plateau_table[] = {
    COMMON(plateau_args, "epoch"),
    VOLT_OPT_KEY("monitor", plateau_args, c.monitor, STRING, "val_loss",
                 "the metric whose plateau lowers the rate"),
    PL("mode", mode, ENUM, "min", "min or max: which way the monitor improves",
       VOLT_CHOICES("min", "max"), .values = (const int[]){VOLT_PLATEAU_MIN, VOLT_PLATEAU_MAX}),
    PL("factor", factor, DOUBLE, "0.1", "lr = lr * factor on a plateau", VOLT_RANGE(0, 1)),
    PL("patience", patience, INT, "10", "epochs without improvement tolerated", VOLT_GE(0)),
    PL("threshold", threshold, DOUBLE, "0.0001", "smallest change that counts", VOLT_GE(0)),
    PL("threshold_mode", threshold_mode, ENUM, "rel", "rel or abs threshold",
       VOLT_CHOICES("rel", "abs"), .values = (const int[]){VOLT_THRESHOLD_REL, VOLT_THRESHOLD_ABS}),
    PL("cooldown", cooldown, INT, "0", "epochs to wait after a reduction", VOLT_GE(0)),
    PL("min_lr", min_lr, DOUBLE, "0.0", "the lowest learning rate", VOLT_GE(0)),
    PL("eps", eps, DOUBLE, "1.0e-08", "smaller changes of lr are skipped", VOLT_GE(0)),
    {0},
};
static volt_lr_scheduler *plateau_new(volt_optimizer *o, const void *a) {
    return volt_reduce_lr_on_plateau_new(o, &((const plateau_args *)a)->o);
}

#define SCHEDULER(name, help, table, type, fn)                                                     \
    { .cls = {name, help, table, sizeof(type), NULL, NULL}, .new_scheduler = fn }
const cli_builtin cli_schedulers[] = {
    SCHEDULER("step", "StepLR: lr * gamma every step_size epochs", step_table, step_args, step_new),
    SCHEDULER("multistep", "MultiStepLR: lr * gamma at each milestone", multistep_table,
              multistep_args, multistep_new),
    SCHEDULER("exponential", "ExponentialLR: lr * gamma every epoch", exponential_table,
              exponential_args, exponential_new),
    SCHEDULER("cosine", "CosineAnnealingLR: a half cosine over t_max epochs", cosine_table,
              cosine_args, cosine_new),
    SCHEDULER("cosine_warm_restarts", "CosineAnnealingWarmRestarts (SGDR)", warm_table, warm_args,
              warm_new),
    SCHEDULER("linear", "LinearLR: a linear factor over total_iters epochs", linear_table,
              linear_args, linear_new),
    SCHEDULER("constant", "ConstantLR: a constant factor for total_iters epochs", constant_table,
              constant_args, constant_new),
    SCHEDULER("polynomial", "PolynomialLR: polynomial decay to 0", polynomial_table,
              polynomial_args, polynomial_new),
    SCHEDULER("onecycle", "OneCycleLR: the 1cycle policy (interval: step)", onecycle_table,
              onecycle_args, onecycle_new),
    SCHEDULER("plateau", "ReduceLROnPlateau: lower the rate when the monitor stalls", plateau_table,
              plateau_args, plateau_new),
};
const int cli_n_schedulers = sizeof cli_schedulers / sizeof cli_schedulers[0];

/* ----------------------------------------------------- configure_optimizers */

/* The optimizer of the config over `params`, and its scheduler (NULL when
 * none) with its configuration. */
static volt_status build(const cli_resolved *r, volt_params params, volt_optimizer **opt,
                         volt_lr_scheduler **sched, volt_lr_scheduler_config *cfg) {
    const cli_builtin *ob = (const cli_builtin *)(const void *)r->optimizer.cls;
    *sched = NULL;
    *opt = ob->new_optimizer(params, r->optimizer.opts);
    if (!*opt) return volt_error_status();
    *cfg = (volt_lr_scheduler_config){VOLT_INTERVAL_EPOCH, 1, NULL, true};
    if (!r->lr_scheduler.cls) return VOLT_OK;
    const cli_builtin *sb = (const cli_builtin *)(const void *)r->lr_scheduler.cls;
    const cli_sched_common *c = r->lr_scheduler.opts;
    *sched = sb->new_scheduler(*opt, r->lr_scheduler.opts);
    if (!*sched) {
        volt_optimizer_free(*opt);
        *opt = NULL;
        return volt_error_status();
    }
    cfg->interval = strcmp(c->interval, "step") == 0 ? VOLT_INTERVAL_STEP : VOLT_INTERVAL_EPOCH;
    cfg->frequency = c->frequency;
    cfg->monitor = c->monitor;
    return VOLT_OK;
}

volt_status cli_configure_optimizers(void *ctx, volt_module *module, volt_optim_setup *setup) {
    volt_optimizer *opt;
    volt_lr_scheduler *sched;
    volt_lr_scheduler_config cfg;
    volt_status st = build(ctx, volt_module_parameters(module), &opt, &sched, &cfg);
    if (st) return st;
    return volt_optim_setup_add_ex(setup, opt, sched, &cfg);
}

/* Builds the optimizer and scheduler once over a stand-in parameter, so a
 * bad combination of options fails before anything runs. */
volt_status cli_check_optim(const cli_resolved *r) {
    if (!r->optimizer.cls) return VOLT_OK;
    volt_scope_begin();
    volt_tensor *w = volt_requires_grad(volt_zeros(1, (int64_t[]){1}, VOLT_F32), true);
    volt_tensor *const ws[] = {w};
    volt_optimizer *opt = NULL;
    volt_lr_scheduler *sched = NULL;
    volt_lr_scheduler_config cfg;
    volt_status st =
        w ? build(r, (volt_params){1, ws, NULL}, &opt, &sched, &cfg) : volt_error_status();
    volt_lr_scheduler_free(sched);
    volt_optimizer_free(opt);
    volt_scope_end();
    return st;
}
