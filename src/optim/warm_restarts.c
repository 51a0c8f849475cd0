/* warm_restarts.c: CosineAnnealingWarmRestarts (SGDR) of torch 1.13 — a
 * cosine from the initial lr to eta_min over T_i epochs, T_i growing by
 * T_mult at each restart; its own step (T_cur + 1) and step to an epoch
 * (PyTorch's closed form with the log for T_mult > 1). */
#include <math.h>

#include "optim/optim_impl.h"

typedef struct {
    volt_lr_scheduler base;
    int64_t t_0, t_i, t_mult;
    double eta_min, t_cur;
} warm_restarts;

static volt_status apply_lrs(volt_lr_scheduler *s) {
    const warm_restarts *w = (const warm_restarts *)s;
    for (int g = 0; g < s->n_groups; g++)
        s->scratch[g] = w->eta_min + (s->base_lrs[g] - w->eta_min) *
                                         (1 + cos(VOLT_PI * w->t_cur / (double)w->t_i)) / 2;
    return volt_sched_apply(s, s->scratch);
}

static int64_t ipow(int64_t b, int64_t e) {
    int64_t r = 1;
    while (e-- > 0) r *= b;
    return r;
}

static volt_status step_to(volt_lr_scheduler *s, int64_t epoch) {
    warm_restarts *w = (warm_restarts *)s;
    if (epoch < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: negative epoch %lld", s->cls->name,
                              (long long)epoch);
    if (epoch >= w->t_0) {
        if (w->t_mult == 1) {
            w->t_cur = (double)(epoch % w->t_0);
        } else {
            double x = (double)epoch / (double)w->t_0 * (double)(w->t_mult - 1) + 1;
            int64_t n = (int64_t)(log(x) / log((double)w->t_mult));
            w->t_cur = (double)epoch -
                       (double)(w->t_0 * (ipow(w->t_mult, n) - 1)) / (double)(w->t_mult - 1);
            w->t_i = w->t_0 * ipow(w->t_mult, n);
        }
    } else {
        w->t_i = w->t_0;
        w->t_cur = (double)epoch;
    }
    s->last_epoch = epoch;
    return apply_lrs(s);
}

static volt_status step(volt_lr_scheduler *s) {
    warm_restarts *w = (warm_restarts *)s;
    if (s->last_epoch < 0) return step_to(s, 0);
    w->t_cur = w->t_cur + 1;
    if (w->t_cur >= (double)w->t_i) {
        w->t_cur = w->t_cur - (double)w->t_i;
        w->t_i = w->t_i * w->t_mult;
    }
    s->last_epoch++;
    return apply_lrs(s);
}

static void save(const volt_lr_scheduler *s, cJSON *obj) {
    const warm_restarts *w = (const warm_restarts *)s;
    volt_json_add_number(obj, "T_i", (double)w->t_i);
    volt_json_add_number(obj, "T_cur", w->t_cur);
}

static bool load(volt_lr_scheduler *s, const cJSON *obj, bool apply) {
    warm_restarts *w = (warm_restarts *)s;
    int64_t t_i;
    double t_cur;
    if (!volt_json_get_int(cJSON_GetObjectItemCaseSensitive(obj, "T_i"), &t_i) || t_i < 1 ||
        !volt_json_get_number(cJSON_GetObjectItemCaseSensitive(obj, "T_cur"), &t_cur)) {
        volt_error_set(VOLT_ERR_FORMAT, "%s: load_state_dict: 'T_i' or 'T_cur' missing or bad",
                       s->cls->name);
        return false;
    }
    if (apply) {
        w->t_i = t_i;
        w->t_cur = t_cur;
    }
    return true;
}

static const volt_sched_class warm_restarts_class = {
    .name = "CosineAnnealingWarmRestarts",
    .step = step,
    .step_to = step_to,
    .save = save,
    .load = load,
};

volt_lr_scheduler *volt_cosine_warm_restarts_lr_new(volt_optimizer *opt, int64_t t_0,
                                                    int64_t t_mult, double eta_min) {
    const char *name = warm_restarts_class.name;
    if (t_mult == 0) t_mult = 1;
    if (t_0 < 1) return volt_sched_fail(name, "invalid T_0 %lld (must be >= 1)", (long long)t_0);
    if (t_mult < 1)
        return volt_sched_fail(name, "invalid T_mult %lld (must be >= 1)", (long long)t_mult);
    if (!(eta_min >= 0 && isfinite(eta_min)))
        return volt_sched_fail(name, "invalid eta_min %g (must be >= 0)", eta_min);
    warm_restarts *w =
        (warm_restarts *)volt_sched_alloc(opt, &warm_restarts_class, sizeof *w, true);
    if (!w) return NULL;
    w->t_0 = w->t_i = t_0;
    w->t_mult = t_mult;
    w->eta_min = eta_min;
    w->t_cur = -1;
    return volt_sched_initial_step(&w->base);
}
