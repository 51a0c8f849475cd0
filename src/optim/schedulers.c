/* schedulers.c: the plain schedulers of torch.optim.lr_scheduler 1.13 —
 * StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR,
 * ConstantLR, PolynomialLR and LambdaLR: each a chainable get_lr (the
 * recursion PyTorch uses on every step, from the groups' current lrs) and a
 * closed form (used when a SequentialLR restarts it), written with the same
 * operations in the same order as PyTorch's Python so the doubles agree. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"

#define GROUP_LR(s, g) ((s)->opt->groups[g].hp.lr)

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* ---------------------------------------------------------------- StepLR */

typedef struct {
    volt_lr_scheduler base;
    int64_t step_size;
    double gamma;
} step_lr;

static volt_status step_get_lr(volt_lr_scheduler *s, double *lrs) {
    const step_lr *t = (const step_lr *)s;
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = (s->last_epoch == 0 || s->last_epoch % t->step_size != 0)
                     ? GROUP_LR(s, g)
                     : GROUP_LR(s, g) * t->gamma;
    return VOLT_OK;
}

static void step_closed(volt_lr_scheduler *s, double *lrs) {
    const step_lr *t = (const step_lr *)s;
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = s->base_lrs[g] * pow(t->gamma, (double)floor_div(s->last_epoch, t->step_size));
}

static const volt_sched_class step_class = {
    .name = "StepLR", .get_lr = step_get_lr, .closed_form = step_closed};

volt_lr_scheduler *volt_step_lr_new(volt_optimizer *opt, int64_t step_size, double gamma) {
    if (gamma == 0) gamma = 0.1;
    if (step_size < 1)
        return volt_sched_fail("StepLR", "invalid step_size %lld (must be >= 1)",
                               (long long)step_size);
    if (!(gamma > 0 && isfinite(gamma)))
        return volt_sched_fail("StepLR", "invalid gamma %g (must be > 0)", gamma);
    step_lr *t = (step_lr *)volt_sched_alloc(opt, &step_class, sizeof *t, true);
    if (!t) return NULL;
    t->step_size = step_size;
    t->gamma = gamma;
    return volt_sched_initial_step(&t->base);
}

/* ----------------------------------------------------------- MultiStepLR */

typedef struct {
    volt_lr_scheduler base;
    int n;
    int64_t *milestones; /* sorted */
    double gamma;
} multistep_lr;

static volt_status multistep_get_lr(volt_lr_scheduler *s, double *lrs) {
    const multistep_lr *t = (const multistep_lr *)s;
    int count = 0;
    for (int i = 0; i < t->n; i++) count += t->milestones[i] == s->last_epoch;
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = count == 0 ? GROUP_LR(s, g) : GROUP_LR(s, g) * pow(t->gamma, (double)count);
    return VOLT_OK;
}

static void multistep_closed(volt_lr_scheduler *s, double *lrs) {
    const multistep_lr *t = (const multistep_lr *)s;
    int passed = 0; /* bisect_right */
    while (passed < t->n && t->milestones[passed] <= s->last_epoch) passed++;
    for (int g = 0; g < s->n_groups; g++) lrs[g] = s->base_lrs[g] * pow(t->gamma, (double)passed);
}

static void multistep_destroy(volt_lr_scheduler *s) { free(((multistep_lr *)s)->milestones); }

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static const volt_sched_class multistep_class = {.name = "MultiStepLR",
                                                 .get_lr = multistep_get_lr,
                                                 .closed_form = multistep_closed,
                                                 .destroy = multistep_destroy};

volt_lr_scheduler *volt_multistep_lr_new(volt_optimizer *opt, int n_milestones,
                                         const int64_t *milestones, double gamma) {
    const char *name = "MultiStepLR";
    if (gamma == 0) gamma = 0.1;
    if (n_milestones < 0 || (n_milestones > 0 && !milestones))
        return volt_sched_fail(name, "invalid milestones (%d of them%s)", n_milestones,
                               milestones ? "" : ", NULL array");
    for (int i = 0; i < n_milestones; i++)
        if (milestones[i] < 0)
            return volt_sched_fail(name, "invalid milestone %lld (must be >= 0)",
                                   (long long)milestones[i]);
    if (!(gamma > 0 && isfinite(gamma)))
        return volt_sched_fail(name, "invalid gamma %g (must be > 0)", gamma);
    multistep_lr *t = (multistep_lr *)volt_sched_alloc(opt, &multistep_class, sizeof *t, true);
    if (!t) return NULL;
    t->milestones = malloc((size_t)(n_milestones > 0 ? n_milestones : 1) * sizeof(int64_t));
    if (!t->milestones) {
        volt_sched_destroy(&t->base);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
        return NULL;
    }
    if (n_milestones > 0) memcpy(t->milestones, milestones, (size_t)n_milestones * sizeof(int64_t));
    qsort(t->milestones, (size_t)n_milestones, sizeof(int64_t), cmp_i64);
    t->n = n_milestones;
    t->gamma = gamma;
    return volt_sched_initial_step(&t->base);
}

/* --------------------------------------------------------- ExponentialLR */

typedef struct {
    volt_lr_scheduler base;
    double gamma;
} exponential_lr;

static volt_status exponential_get_lr(volt_lr_scheduler *s, double *lrs) {
    double gamma = ((const exponential_lr *)s)->gamma;
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = s->last_epoch == 0 ? GROUP_LR(s, g) : GROUP_LR(s, g) * gamma;
    return VOLT_OK;
}

static void exponential_closed(volt_lr_scheduler *s, double *lrs) {
    double gamma = ((const exponential_lr *)s)->gamma;
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = s->base_lrs[g] * pow(gamma, (double)s->last_epoch);
}

static const volt_sched_class exponential_class = {
    .name = "ExponentialLR", .get_lr = exponential_get_lr, .closed_form = exponential_closed};

volt_lr_scheduler *volt_exponential_lr_new(volt_optimizer *opt, double gamma) {
    if (!(gamma > 0 && isfinite(gamma)))
        return volt_sched_fail("ExponentialLR", "invalid gamma %g (must be > 0)", gamma);
    exponential_lr *t =
        (exponential_lr *)volt_sched_alloc(opt, &exponential_class, sizeof *t, true);
    if (!t) return NULL;
    t->gamma = gamma;
    return volt_sched_initial_step(&t->base);
}

/* ----------------------------------------------------- CosineAnnealingLR */

typedef struct {
    volt_lr_scheduler base;
    int64_t t_max;
    double eta_min;
} cosine_lr;

static volt_status cosine_get_lr(volt_lr_scheduler *s, double *lrs) {
    const cosine_lr *t = (const cosine_lr *)s;
    double T = (double)t->t_max, eta = t->eta_min, e = (double)s->last_epoch;
    for (int g = 0; g < s->n_groups; g++) {
        double lr = GROUP_LR(s, g), base = s->base_lrs[g];
        if (s->last_epoch == 0)
            lrs[g] = lr;
        else if (s->step_count == 1 && s->last_epoch > 0)
            lrs[g] = eta + (base - eta) * (1 + cos(e * VOLT_PI / T)) / 2;
        else if ((s->last_epoch - 1 - t->t_max) % (2 * t->t_max) == 0)
            lrs[g] = lr + (base - eta) * (1 - cos(VOLT_PI / T)) / 2;
        else
            lrs[g] =
                (1 + cos(VOLT_PI * e / T)) / (1 + cos(VOLT_PI * (e - 1) / T)) * (lr - eta) + eta;
    }
    return VOLT_OK;
}

static void cosine_closed(volt_lr_scheduler *s, double *lrs) {
    const cosine_lr *t = (const cosine_lr *)s;
    double T = (double)t->t_max, eta = t->eta_min, e = (double)s->last_epoch;
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = eta + (s->base_lrs[g] - eta) * (1 + cos(VOLT_PI * e / T)) / 2;
}

static const volt_sched_class cosine_class = {
    .name = "CosineAnnealingLR", .get_lr = cosine_get_lr, .closed_form = cosine_closed};

volt_lr_scheduler *volt_cosine_lr_new_ex(volt_optimizer *opt, int64_t t_max, double eta_min) {
    if (t_max < 1)
        return volt_sched_fail("CosineAnnealingLR", "invalid T_max %lld (must be >= 1)",
                               (long long)t_max);
    if (!(eta_min >= 0 && isfinite(eta_min)))
        return volt_sched_fail("CosineAnnealingLR", "invalid eta_min %g (must be >= 0)", eta_min);
    cosine_lr *t = (cosine_lr *)volt_sched_alloc(opt, &cosine_class, sizeof *t, true);
    if (!t) return NULL;
    t->t_max = t_max;
    t->eta_min = eta_min;
    return volt_sched_initial_step(&t->base);
}

volt_lr_scheduler *volt_cosine_lr_new(volt_optimizer *opt, int64_t t_max) {
    return volt_cosine_lr_new_ex(opt, t_max, 0.0);
}

/* -------------------------------------------------------------- LinearLR */

typedef struct {
    volt_lr_scheduler base;
    double start, end;
    int64_t total;
} linear_lr;

static volt_status linear_get_lr(volt_lr_scheduler *s, double *lrs) {
    const linear_lr *t = (const linear_lr *)s;
    double total = (double)t->total, e = (double)s->last_epoch;
    for (int g = 0; g < s->n_groups; g++) {
        double lr = GROUP_LR(s, g);
        if (s->last_epoch == 0)
            lrs[g] = lr * t->start;
        else if (s->last_epoch > t->total)
            lrs[g] = lr;
        else
            lrs[g] = lr * (1. + (t->end - t->start) /
                                    (total * t->start + (e - 1) * (t->end - t->start)));
    }
    return VOLT_OK;
}

static void linear_closed(volt_lr_scheduler *s, double *lrs) {
    const linear_lr *t = (const linear_lr *)s;
    double upto = (double)(s->last_epoch < t->total ? s->last_epoch : t->total);
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = s->base_lrs[g] * (t->start + (t->end - t->start) * upto / (double)t->total);
}

static const volt_sched_class linear_class = {
    .name = "LinearLR", .get_lr = linear_get_lr, .closed_form = linear_closed};

volt_lr_scheduler *volt_linear_lr_new(volt_optimizer *opt, double start_factor, double end_factor,
                                      int64_t total_iters) {
    const char *name = "LinearLR";
    if (!(start_factor > 0 && start_factor <= 1))
        return volt_sched_fail(name, "invalid start_factor %g (must be in (0, 1])", start_factor);
    if (!(end_factor >= 0 && end_factor <= 1))
        return volt_sched_fail(name, "invalid end_factor %g (must be in [0, 1])", end_factor);
    if (total_iters < 1)
        return volt_sched_fail(name, "invalid total_iters %lld (must be >= 1)",
                               (long long)total_iters);
    linear_lr *t = (linear_lr *)volt_sched_alloc(opt, &linear_class, sizeof *t, true);
    if (!t) return NULL;
    t->start = start_factor;
    t->end = end_factor;
    t->total = total_iters;
    return volt_sched_initial_step(&t->base);
}

/* ------------------------------------------------------------ ConstantLR */

typedef struct {
    volt_lr_scheduler base;
    double factor;
    int64_t total;
} constant_lr;

static volt_status constant_get_lr(volt_lr_scheduler *s, double *lrs) {
    const constant_lr *t = (const constant_lr *)s;
    for (int g = 0; g < s->n_groups; g++) {
        double lr = GROUP_LR(s, g);
        if (s->last_epoch == 0)
            lrs[g] = lr * t->factor;
        else if (s->last_epoch != t->total)
            lrs[g] = lr;
        else
            lrs[g] = lr * (1.0 / t->factor);
    }
    return VOLT_OK;
}

static void constant_closed(volt_lr_scheduler *s, double *lrs) {
    const constant_lr *t = (const constant_lr *)s;
    double after = s->last_epoch >= t->total ? 1.0 : 0.0;
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = s->base_lrs[g] * (t->factor + after * (1 - t->factor));
}

static const volt_sched_class constant_class = {
    .name = "ConstantLR", .get_lr = constant_get_lr, .closed_form = constant_closed};

volt_lr_scheduler *volt_constant_lr_new(volt_optimizer *opt, double factor, int64_t total_iters) {
    if (!(factor > 0 && factor <= 1))
        return volt_sched_fail("ConstantLR", "invalid factor %g (must be in (0, 1])", factor);
    if (total_iters < 0)
        return volt_sched_fail("ConstantLR", "invalid total_iters %lld (must be >= 0)",
                               (long long)total_iters);
    constant_lr *t = (constant_lr *)volt_sched_alloc(opt, &constant_class, sizeof *t, true);
    if (!t) return NULL;
    t->factor = factor;
    t->total = total_iters;
    return volt_sched_initial_step(&t->base);
}

/* ---------------------------------------------------------- PolynomialLR */

typedef struct {
    volt_lr_scheduler base;
    int64_t total;
    double power;
} polynomial_lr;

static volt_status polynomial_get_lr(volt_lr_scheduler *s, double *lrs) {
    const polynomial_lr *t = (const polynomial_lr *)s;
    double total = (double)t->total, e = (double)s->last_epoch;
    for (int g = 0; g < s->n_groups; g++) {
        if (s->last_epoch == 0 || s->last_epoch > t->total) {
            lrs[g] = GROUP_LR(s, g);
            continue;
        }
        double decay = pow((1.0 - e / total) / (1.0 - (e - 1) / total), t->power);
        lrs[g] = GROUP_LR(s, g) * decay;
    }
    return VOLT_OK;
}

static void polynomial_closed(volt_lr_scheduler *s, double *lrs) {
    const polynomial_lr *t = (const polynomial_lr *)s;
    double upto = (double)(s->last_epoch < t->total ? s->last_epoch : t->total);
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = s->base_lrs[g] * pow(1.0 - upto / (double)t->total, t->power);
}

static const volt_sched_class polynomial_class = {
    .name = "PolynomialLR", .get_lr = polynomial_get_lr, .closed_form = polynomial_closed};

volt_lr_scheduler *volt_polynomial_lr_new(volt_optimizer *opt, int64_t total_iters, double power) {
    if (total_iters < 1)
        return volt_sched_fail("PolynomialLR", "invalid total_iters %lld (must be >= 1)",
                               (long long)total_iters);
    if (!(power >= 0 && isfinite(power)))
        return volt_sched_fail("PolynomialLR", "invalid power %g (must be >= 0)", power);
    polynomial_lr *t = (polynomial_lr *)volt_sched_alloc(opt, &polynomial_class, sizeof *t, true);
    if (!t) return NULL;
    t->total = total_iters;
    t->power = power;
    return volt_sched_initial_step(&t->base);
}

/* -------------------------------------------------------------- LambdaLR */

typedef struct {
    volt_lr_scheduler base;
    volt_lr_lambda_fn fn;
    void *ctx;
} lambda_lr;

static volt_status lambda_get_lr(volt_lr_scheduler *s, double *lrs) {
    const lambda_lr *t = (const lambda_lr *)s;
    double factor = t->fn(s->last_epoch, t->ctx);
    for (int g = 0; g < s->n_groups; g++) lrs[g] = s->base_lrs[g] * factor;
    return VOLT_OK;
}

static const volt_sched_class lambda_class = {.name = "LambdaLR", .get_lr = lambda_get_lr};

volt_lr_scheduler *volt_lambda_lr_new(volt_optimizer *opt, volt_lr_lambda_fn fn, void *ctx) {
    if (!fn) return volt_sched_fail("LambdaLR", "the lambda is NULL");
    lambda_lr *t = (lambda_lr *)volt_sched_alloc(opt, &lambda_class, sizeof *t, true);
    if (!t) return NULL;
    t->fn = fn;
    t->ctx = ctx;
    return volt_sched_initial_step(&t->base);
}
