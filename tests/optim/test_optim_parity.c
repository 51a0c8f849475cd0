/* test_optim_parity.c: volt's optimizers and LR schedulers against PyTorch
 * (DESIGN.md §8). tests/parity/record_optim.py ran, in torch 1.13, 20 steps
 * of each optimizer paired with a scheduler over a [3,4] matrix "w" and a
 * [4] vector "b" (one param group or two) with fixed gradients, and recorded
 * the parameters, the groups' lrs and momenta after every step. This test
 * builds the same optimizer and scheduler from each case's JSON, replays the
 * gradients, and compares: parameters within 1e-5 relative + 1e-6 absolute,
 * lrs and momenta within 1e-9 relative.
 *
 * Environment: VOLT_SOURCE_DIR (set by ctest) locates the vectors;
 * VOLT_PARITY_FILTER=substring runs only the matching cases. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <volt/io.h>
#include <volt/optim.h>

#define W_RTOL 1e-5
#define W_ATOL 1e-6
#define LR_RTOL 1e-9

/* ---------------------------------------------------------- JSON helpers */

static const cJSON *item(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double num_or(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = item(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* An optimizer option: absent -> 0 (the default / inherited), a recorded 0
 * -> VOLT_OPTIM_ZERO (a real 0). */
static double opt_val(const cJSON *o, const char *k) {
    const cJSON *v = item(o, k);
    if (!cJSON_IsNumber(v)) return 0;
    return v->valuedouble == 0 ? VOLT_OPTIM_ZERO : v->valuedouble;
}

static double opt_beta(const cJSON *o, int i) {
    const cJSON *v = cJSON_GetArrayItem(item(o, "betas"), i);
    if (!cJSON_IsNumber(v)) return 0;
    return v->valuedouble == 0 ? VOLT_OPTIM_ZERO : v->valuedouble;
}

static bool opt_flag(const cJSON *o, const char *k) { return cJSON_IsTrue(item(o, k)); }

/* ------------------------------------------------------------ optimizers */

typedef union {
    volt_sgd_options sgd;
    volt_adam_options adam;
    volt_rmsprop_options rmsprop;
    volt_adagrad_options adagrad;
    volt_lion_options lion;
} any_options;

static void fill_options(const char *type, const cJSON *o, any_options *u) {
    memset(u, 0, sizeof *u);
    if (strcmp(type, "SGD") == 0)
        u->sgd = (volt_sgd_options){opt_val(o, "lr"),        opt_val(o, "momentum"),
                                    opt_val(o, "dampening"), opt_val(o, "weight_decay"),
                                    opt_flag(o, "nesterov"), opt_flag(o, "maximize")};
    else if (strcmp(type, "Adam") == 0 || strcmp(type, "AdamW") == 0)
        u->adam = (volt_adam_options){opt_val(o, "lr"),
                                      opt_beta(o, 0),
                                      opt_beta(o, 1),
                                      opt_val(o, "eps"),
                                      opt_val(o, "weight_decay"),
                                      opt_flag(o, "amsgrad"),
                                      opt_flag(o, "maximize")};
    else if (strcmp(type, "RMSprop") == 0)
        u->rmsprop = (volt_rmsprop_options){opt_val(o, "lr"),       opt_val(o, "alpha"),
                                            opt_val(o, "eps"),      opt_val(o, "weight_decay"),
                                            opt_val(o, "momentum"), opt_flag(o, "centered"),
                                            opt_flag(o, "maximize")};
    else if (strcmp(type, "Adagrad") == 0)
        u->adagrad = (volt_adagrad_options){
            opt_val(o, "lr"),           opt_val(o, "lr_decay"),
            opt_val(o, "weight_decay"), opt_val(o, "initial_accumulator_value"),
            opt_val(o, "eps"),          opt_flag(o, "maximize")};
    else if (strcmp(type, "Lion") == 0)
        u->lion = (volt_lion_options){opt_val(o, "lr"), opt_beta(o, 0), opt_beta(o, 1),
                                      opt_val(o, "weight_decay"), opt_flag(o, "maximize")};
}

static volt_optimizer *create_optimizer(const char *type, volt_params p, const any_options *u) {
    if (strcmp(type, "SGD") == 0) return volt_sgd_new(p, &u->sgd);
    if (strcmp(type, "Adam") == 0) return volt_adam_new(p, &u->adam);
    if (strcmp(type, "AdamW") == 0) return volt_adamw_new(p, &u->adam);
    if (strcmp(type, "RMSprop") == 0) return volt_rmsprop_new(p, &u->rmsprop);
    if (strcmp(type, "Adagrad") == 0) return volt_adagrad_new(p, &u->adagrad);
    if (strcmp(type, "Lion") == 0) return volt_lion_new(p, &u->lion);
    return NULL;
}

/* The parameters named in a JSON list ("w", "b"). */
static volt_params named(const cJSON *names, volt_tensor *w, volt_tensor *b, volt_tensor **buf) {
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, names) buf[n++] = strcmp(e->valuestring, "w") == 0 ? w : b;
    return (volt_params){n, buf, NULL};
}

static volt_optimizer *build_optimizer(const cJSON *spec, volt_tensor *w, volt_tensor *b) {
    const char *type = item(spec, "optimizer")->valuestring;
    const cJSON *groups = item(spec, "groups");
    any_options base, over;
    fill_options(type, item(spec, "options"), &base);
    volt_tensor *buf[2];
    const cJSON *g0 = cJSON_GetArrayItem(groups, 0);
    volt_optimizer *opt =
        create_optimizer(type, named(cJSON_GetArrayItem(g0, 0), w, b, buf), &base);
    for (int g = 1; opt && g < cJSON_GetArraySize(groups); g++) {
        const cJSON *grp = cJSON_GetArrayItem(groups, g);
        fill_options(type, cJSON_GetArrayItem(grp, 1), &over);
        if (volt_optimizer_add_param_group(opt, named(cJSON_GetArrayItem(grp, 0), w, b, buf),
                                           &over) != VOLT_OK) {
            volt_optimizer_free(opt);
            return NULL;
        }
    }
    return opt;
}

/* ------------------------------------------------------------ schedulers */

static double warmup_decay(int64_t e, void *ctx) {
    (void)ctx;
    return e < 5 ? (double)(e + 1) / 5 : pow(0.9, (double)(e - 5));
}

static volt_lr_scheduler *build_scheduler(volt_optimizer *opt, const cJSON *s) {
    const char *type = item(s, "type")->valuestring;
    if (strcmp(type, "StepLR") == 0)
        return volt_step_lr_new(opt, (int64_t)num_or(s, "step_size", 0), num_or(s, "gamma", 0.1));
    if (strcmp(type, "MultiStepLR") == 0) {
        int64_t m[16];
        int n = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, item(s, "milestones")) m[n++] = (int64_t)e->valuedouble;
        return volt_multistep_lr_new(opt, n, m, num_or(s, "gamma", 0.1));
    }
    if (strcmp(type, "ExponentialLR") == 0)
        return volt_exponential_lr_new(opt, num_or(s, "gamma", 0));
    if (strcmp(type, "CosineAnnealingLR") == 0)
        return volt_cosine_lr_new_ex(opt, (int64_t)num_or(s, "T_max", 0), num_or(s, "eta_min", 0));
    if (strcmp(type, "CosineAnnealingWarmRestarts") == 0)
        return volt_cosine_warm_restarts_lr_new(opt, (int64_t)num_or(s, "T_0", 0),
                                                (int64_t)num_or(s, "T_mult", 1),
                                                num_or(s, "eta_min", 0));
    if (strcmp(type, "LinearLR") == 0)
        return volt_linear_lr_new(opt, num_or(s, "start_factor", 1.0 / 3),
                                  num_or(s, "end_factor", 1.0),
                                  (int64_t)num_or(s, "total_iters", 5));
    if (strcmp(type, "ConstantLR") == 0)
        return volt_constant_lr_new(opt, num_or(s, "factor", 1.0 / 3),
                                    (int64_t)num_or(s, "total_iters", 5));
    if (strcmp(type, "PolynomialLR") == 0)
        return volt_polynomial_lr_new(opt, (int64_t)num_or(s, "total_iters", 5),
                                      num_or(s, "power", 1.0));
    if (strcmp(type, "LambdaLR") == 0) return volt_lambda_lr_new(opt, warmup_decay, NULL);
    if (strcmp(type, "OneCycleLR") == 0) {
        volt_one_cycle_options o = volt_one_cycle_defaults();
        o.pct_start = num_or(s, "pct_start", o.pct_start);
        const cJSON *a = item(s, "anneal_strategy");
        if (cJSON_IsString(a) && strcmp(a->valuestring, "linear") == 0)
            o.anneal_strategy = VOLT_ANNEAL_LINEAR;
        if (item(s, "cycle_momentum")) o.cycle_momentum = cJSON_IsTrue(item(s, "cycle_momentum"));
        o.base_momentum = num_or(s, "base_momentum", o.base_momentum);
        o.max_momentum = num_or(s, "max_momentum", o.max_momentum);
        o.div_factor = num_or(s, "div_factor", o.div_factor);
        o.final_div_factor = num_or(s, "final_div_factor", o.final_div_factor);
        o.three_phase = cJSON_IsTrue(item(s, "three_phase"));
        return volt_one_cycle_lr_new(opt, num_or(s, "max_lr", 0),
                                     (int64_t)num_or(s, "total_steps", 0), &o);
    }
    if (strcmp(type, "ReduceLROnPlateau") == 0) {
        volt_plateau_options o = volt_plateau_defaults();
        const cJSON *mode = item(s, "mode"), *tm = item(s, "threshold_mode");
        if (cJSON_IsString(mode) && strcmp(mode->valuestring, "max") == 0)
            o.mode = VOLT_PLATEAU_MAX;
        if (cJSON_IsString(tm) && strcmp(tm->valuestring, "abs") == 0)
            o.threshold_mode = VOLT_THRESHOLD_ABS;
        o.factor = num_or(s, "factor", o.factor);
        o.patience = (int64_t)num_or(s, "patience", (double)o.patience);
        o.threshold = num_or(s, "threshold", o.threshold);
        o.cooldown = (int64_t)num_or(s, "cooldown", (double)o.cooldown);
        o.min_lr = num_or(s, "min_lr", o.min_lr);
        o.eps = num_or(s, "eps", o.eps);
        return volt_reduce_lr_on_plateau_new(opt, &o);
    }
    if (strcmp(type, "SequentialLR") == 0 || strcmp(type, "ChainedScheduler") == 0) {
        volt_lr_scheduler *children[8];
        int64_t m[8];
        int n = 0, nm = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, item(s, "schedulers")) children[n++] = build_scheduler(opt, e);
        cJSON_ArrayForEach(e, item(s, "milestones")) m[nm++] = (int64_t)e->valuedouble;
        if (strcmp(type, "ChainedScheduler") == 0) return volt_chained_lr_new(n, children);
        return volt_sequential_lr_new(opt, n, children, m);
    }
    fprintf(stderr, "parity: unknown scheduler %s\n", type);
    return NULL;
}

/* ------------------------------------------------------------- replaying */

/* Sets p's gradient to exactly g (NULL: none) through backward of sum(p g). */
static void set_grad(volt_tensor *p, const volt_tensor *g) {
    volt_tensor_clear_grad(p);
    if (!g) return;
    volt_scope_begin();
    volt_backward(volt_sum_all(volt_mul(p, g)));
    volt_scope_end();
}

static bool close_to(double got, double want, double rtol, double atol) {
    return fabs(got - want) <= atol + rtol * fabs(want);
}

/* Compares t with row `step` of the recorded `all` ([steps, ...]). */
static int compare_row(const char *c, const char *what, int step, const volt_tensor *t,
                       const volt_tensor *all) {
    int64_t n = volt_tensor_numel(t), errors = 0;
    for (int64_t i = 0; i < n; i++) {
        double got = volt_tensor_get_flat(t, i), want = volt_tensor_get_flat(all, step * n + i);
        if (!close_to(got, want, W_RTOL, W_ATOL) && errors++ == 0)
            fprintf(stderr, "parity: %s: step %d: %s[%lld] = %.9g, torch %.9g\n", c, step + 1, what,
                    (long long)i, got, want);
    }
    return errors ? 1 : 0;
}

static bool in_list(const cJSON *list, int step) {
    const cJSON *e;
    cJSON_ArrayForEach(e, list) if ((int)e->valuedouble == step) return true;
    return false;
}

static volt_tensor *row(volt_tensor *all, int step) {
    return volt_squeeze(volt_narrow(all, 0, step, 1), 0);
}

/* Replays one case; returns the number of mismatching steps (or 1 on a
 * setup failure). */
static int replay(volt_safetensors *f, const char *c, const cJSON *spec) {
    char key[160];
#define GET(role) (snprintf(key, sizeof key, "%s/%s", c, role), volt_safetensors_get(f, key))
    volt_tensor *w = volt_persist(volt_clone(GET("w0"))), *b = volt_persist(volt_clone(GET("b0")));
    volt_requires_grad(w, true);
    volt_requires_grad(b, true);
    volt_tensor *gw = GET("gw"), *gb = GET("gb"), *ws = GET("w"), *bs = GET("b");
    volt_tensor *lrs = GET("lr"), *lr0 = GET("lr0");
    snprintf(key, sizeof key, "%s/momentum", c);
    volt_tensor *moms = volt_safetensors_info(f, key, &(volt_dtype){0}, &(int){0},
                                              (int64_t[VOLT_MAX_DIMS]){0}) == VOLT_OK
                            ? volt_safetensors_get(f, key)
                            : (volt_error_clear(), NULL);
    snprintf(key, sizeof key, "%s/metric", c);
    volt_tensor *metrics = volt_safetensors_info(f, key, &(volt_dtype){0}, &(int){0},
                                                 (int64_t[VOLT_MAX_DIMS]){0}) == VOLT_OK
                               ? volt_safetensors_get(f, key)
                               : (volt_error_clear(), NULL);
#undef GET
    volt_optimizer *opt = build_optimizer(spec, w, b);
    volt_lr_scheduler *sched = opt ? build_scheduler(opt, item(spec, "scheduler")) : NULL;
    int failures = 0;
    if (!sched) {
        fprintf(stderr, "parity: %s: setup failed: %s\n", c, volt_error_message());
        volt_error_clear();
        failures = 1;
    }
    int groups = volt_optimizer_num_groups(opt);
    for (int g = 0; sched && g < groups; g++)
        if (!close_to(volt_optimizer_lr(opt, g), volt_tensor_get_flat(lr0, g), LR_RTOL, 0)) {
            fprintf(stderr, "parity: %s: initial lr of group %d = %.17g, torch %.17g\n", c, g,
                    volt_optimizer_lr(opt, g), volt_tensor_get_flat(lr0, g));
            failures++;
        }
    int steps = (int)num_or(spec, "steps", 0);
    for (int s = 0; sched && s < steps; s++) {
        volt_scope_begin();
        set_grad(w, row(gw, s));
        set_grad(b, in_list(item(spec, "skip_b"), s) ? NULL : row(gb, s));
        volt_status st = volt_optimizer_step(opt);
        if (st == VOLT_OK)
            st = metrics ? volt_lr_scheduler_step_metric(sched, volt_tensor_get_flat(metrics, s))
                         : volt_lr_scheduler_step(sched);
        volt_scope_end();
        if (st != VOLT_OK) {
            fprintf(stderr, "parity: %s: step %d: %s\n", c, s + 1, volt_error_message());
            volt_error_clear();
            failures++;
            break;
        }
        int bad = compare_row(c, "w", s, w, ws) + compare_row(c, "b", s, b, bs);
        for (int g = 0; g < groups; g++) {
            double want = volt_tensor_get_flat(lrs, s * groups + g);
            double got = volt_optimizer_lr(opt, g), last = volt_lr_scheduler_last_lr(sched, g);
            if (!close_to(got, want, LR_RTOL, 0) || !close_to(last, want, LR_RTOL, 0)) {
                fprintf(stderr,
                        "parity: %s: step %d: lr of group %d = %.17g (last_lr %.17g), "
                        "torch %.17g\n",
                        c, s + 1, g, got, last, want);
                bad++;
            }
            if (moms) {
                double m = volt_optimizer_momentum(opt, g);
                double mw = volt_tensor_get_flat(moms, s * groups + g);
                if (!close_to(m, mw, LR_RTOL, 1e-15)) {
                    fprintf(stderr,
                            "parity: %s: step %d: momentum of group %d = %.17g, torch "
                            "%.17g\n",
                            c, s + 1, g, m, mw);
                    bad++;
                }
            }
        }
        failures += bad != 0;
    }
    volt_lr_scheduler_free(sched);
    volt_optimizer_free(opt);
    volt_tensor_free(w);
    volt_tensor_free(b);
    return failures;
}

static void test_optim_parity(void **state) {
    (void)state;
    const char *src = getenv("VOLT_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/parity/vectors/optim.safetensors", src);
    volt_safetensors *f = volt_safetensors_open(path);
    if (!f) fprintf(stderr, "parity: %s\n", volt_error_message());
    assert_non_null(f);
    assert_string_equal(volt_safetensors_metadata(f, "format"), "volt-parity-1");
    fprintf(stderr, "parity: optim vectors recorded with torch %s\n",
            volt_safetensors_metadata(f, "torch_version"));
    const char *filter = getenv("VOLT_PARITY_FILTER");
    int cases = 0, failed = 0;
    for (int i = 0; i < volt_safetensors_metadata_count(f); i++) {
        const char *c = volt_safetensors_metadata_key(f, i);
        if (strcmp(c, "format") == 0 || strcmp(c, "family") == 0 ||
            strcmp(c, "torch_version") == 0 || strcmp(c, "generator") == 0)
            continue;
        if (filter && !strstr(c, filter)) continue;
        cJSON *spec = cJSON_Parse(volt_safetensors_metadata(f, c));
        assert_non_null(spec);
        volt_scope_begin();
        int bad = replay(f, c, spec);
        volt_scope_end();
        cJSON_Delete(spec);
        cases++;
        failed += bad != 0;
        if (bad) fprintf(stderr, "parity: %s: %d mismatching steps\n", c, bad);
    }
    volt_safetensors_close(f);
    fprintf(stderr, "parity: %d optimizer x scheduler cases, %d failed\n", cases, failed);
    assert_int_equal(failed, 0);
    if (!filter) assert_int_equal(cases, 18);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_optim_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
