/* test_schedulers.c: the LR schedulers — each against its closed form (or a
 * trace worked out by hand where there is none: ReduceLROnPlateau,
 * SequentialLR, ChainedScheduler), OneCycleLR's phases and momentum, state
 * round trips of every scheduler (a resumed schedule continues exactly), and
 * the errors with their messages. */
#include "optim_helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.141592653589793

typedef struct {
    volt_tensor *p;
    volt_optimizer *opt;
} fixture;

static fixture sgd_at(double lr) {
    fixture f;
    f.p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
    f.opt = volt_sgd_new(OH_PARAMS(f.p), &(volt_sgd_options){.lr = lr});
    return f;
}

static void done(fixture *f, volt_lr_scheduler *s) {
    volt_lr_scheduler_free(s);
    volt_optimizer_free(f->opt);
    volt_tensor_free(f->p);
}

/* Steps s n times; after step e (and at creation, e = 0) the lr must be
 * want(e) within rtol. */
static void check_schedule(volt_lr_scheduler *s, volt_optimizer *opt, int n,
                           double (*want)(int64_t e), double rtol, const char *what) {
    assert_non_null(s);
    for (int e = 0; e <= n; e++) {
        if (e > 0) assert_int_equal(volt_lr_scheduler_step(s), VOLT_OK);
        double got = volt_optimizer_lr(opt, 0), w = want(e);
        if (!(fabs(got - w) <= rtol * fabs(w) + 1e-300))
            fail_msg("%s: epoch %d: lr %.17g, expected %.17g", what, e, got, w);
        assert_true(volt_lr_scheduler_last_lr(s, 0) == got);
        assert_int_equal(volt_lr_scheduler_last_epoch(s), e);
    }
}

static double step_want(int64_t e) { return 0.1 * pow(0.5, (double)(e / 3)); }
static double multistep_want(int64_t e) { return e < 2 ? 0.1 : e < 5 ? 0.1 * 0.1 : 0.1 * 1e-3; }
static double exponential_want(int64_t e) { return 0.1 * pow(0.9, (double)e); }
static double cosine_want(int64_t e) { return 0.01 + 0.09 * (1 + cos(PI * (double)e / 10)) / 2; }
static double linear_want(int64_t e) { return 0.1 * (0.5 + 0.5 * (double)(e < 4 ? e : 4) / 4); }
static double constant_want(int64_t e) { return e < 3 ? 0.025 : 0.1; }
static double poly_want(int64_t e) { return 0.1 * pow(1 - (double)(e < 4 ? e : 4) / 4, 2); }
static double restarts_want(int64_t e) {
    int64_t start = 0, len = 2; /* T_0 = 2, T_mult = 2: restarts at 0, 2, 6, 14 */
    while (e >= start + len) {
        start += len;
        len *= 2;
    }
    return 1e-3 + (0.1 - 1e-3) * (1 + cos(PI * (double)(e - start) / (double)len)) / 2;
}

static double inverse(int64_t e, void *ctx) { return 1 / (1 + *(double *)ctx * (double)e); }
static double lambda_want(int64_t e) { return 0.1 / (1 + 0.5 * (double)e); }

static void test_closed_forms(void **state) {
    (void)state;
    struct {
        const char *name;
        double (*want)(int64_t);
        double rtol;
        int n;
    } cases[] = {
        {"StepLR", step_want, 1e-15, 12},
        {"MultiStepLR", multistep_want, 1e-12, 8},
        {"ExponentialLR", exponential_want, 1e-12, 12},
        {"Cosine", cosine_want, 1e-12, 20},
        {"LinearLR", linear_want, 1e-12, 8},
        {"ConstantLR", constant_want, 1e-15, 6},
        {"PolynomialLR", poly_want, 1e-12, 7},
        {"WarmRestarts", restarts_want, 1e-12, 16},
        {"LambdaLR", lambda_want, 1e-15, 9},
    };
    double half = 0.5;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fixture f = sgd_at(0.1);
        volt_lr_scheduler *s = NULL;
        switch (k) {
        case 0: s = volt_step_lr_new(f.opt, 3, 0.5); break;
        case 1: s = volt_multistep_lr_new(f.opt, 3, (int64_t[]){5, 2, 5}, 0); break;
        case 2: s = volt_exponential_lr_new(f.opt, 0.9); break;
        case 3: s = volt_cosine_lr_new_ex(f.opt, 10, 0.01); break;
        case 4: s = volt_linear_lr_new(f.opt, 0.5, 1.0, 4); break;
        case 5: s = volt_constant_lr_new(f.opt, 0.25, 3); break;
        case 6: s = volt_polynomial_lr_new(f.opt, 4, 2.0); break;
        case 7: s = volt_cosine_warm_restarts_lr_new(f.opt, 2, 2, 1e-3); break;
        default: s = volt_lambda_lr_new(f.opt, inverse, &half); break;
        }
        check_schedule(s, f.opt, cases[k].n, cases[k].want, cases[k].rtol, cases[k].name);
        assert_string_equal(volt_lr_scheduler_name(s), k == 3   ? "CosineAnnealingLR"
                                                       : k == 7 ? "CosineAnnealingWarmRestarts"
                                                                : cases[k].name);
        assert_false(volt_lr_scheduler_needs_metric(s));
        done(&f, s);
    }
}

static void test_one_cycle(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
    volt_optimizer *opt = volt_adam_new(OH_PARAMS(p), NULL);
    volt_lr_scheduler *s = volt_one_cycle_lr_new(opt, 1.0, 10, NULL);
    assert_non_null(s);
    /* Two phases, cosine: 0.04 -> 1.0 over epochs 0..2, then -> 4e-6 at 9;
     * beta1 0.95 -> 0.85 -> 0.95. */
    assert_true(fabs(volt_optimizer_lr(opt, 0) - 0.04) < 1e-15);
    assert_true(fabs(volt_optimizer_momentum(opt, 0) - 0.95) < 1e-15);
    volt_lr_scheduler_step(s);
    assert_true(fabs(volt_optimizer_lr(opt, 0) - 0.52) < 1e-12);
    assert_true(fabs(volt_optimizer_momentum(opt, 0) - 0.90) < 1e-12);
    volt_lr_scheduler_step(s);
    assert_true(fabs(volt_optimizer_lr(opt, 0) - 1.0) < 1e-12);
    assert_true(fabs(volt_optimizer_momentum(opt, 0) - 0.85) < 1e-12);
    for (int e = 3; e <= 9; e++) volt_lr_scheduler_step(s);
    assert_true(fabs(volt_optimizer_lr(opt, 0) - 4e-6) < 1e-15);
    assert_true(fabs(volt_optimizer_momentum(opt, 0) - 0.95) < 1e-12);
    assert_int_equal(volt_lr_scheduler_step(s), VOLT_OK); /* epoch 10 = total_steps */
    assert_int_equal(volt_lr_scheduler_step(s), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "OneCycleLR: stepped 12 times, but total_steps is 10");
    assert_int_equal(volt_lr_scheduler_last_epoch(s), 10);
    volt_lr_scheduler_free(s);
    volt_optimizer_free(opt);

    /* Three phases, linear, on SGD whose momentum 0 becomes the cycled one. */
    opt = volt_sgd_new(OH_PARAMS(p), &(volt_sgd_options){.lr = 0.1});
    volt_one_cycle_options o = volt_one_cycle_defaults();
    o.anneal_strategy = VOLT_ANNEAL_LINEAR;
    o.three_phase = true;
    s = volt_one_cycle_lr_new(opt, 1.0, 10, &o);
    assert_true(fabs(volt_optimizer_momentum(opt, 0) - 0.95) < 1e-15);
    double want[10] = {0.04, 0.52, 1.0, 0.52, 0.04, 0.04 - 0.2 * (0.04 - 4e-6)};
    for (int e = 1; e <= 5; e++) {
        volt_lr_scheduler_step(s);
        assert_true(fabs(volt_optimizer_lr(opt, 0) - want[e]) < 1e-12);
    }
    volt_lr_scheduler_free(s);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
}

static void test_plateau(void **state) {
    (void)state;
    fixture f = sgd_at(1.0);
    volt_plateau_options o = volt_plateau_defaults();
    o.patience = 1;
    o.factor = 0.5;
    o.cooldown = 1;
    o.min_lr = 0.2;
    o.threshold = 0;
    volt_lr_scheduler *s = volt_reduce_lr_on_plateau_new(f.opt, &o);
    assert_true(volt_lr_scheduler_needs_metric(s));
    double want[12] = {1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2};
    for (int e = 0; e < 12; e++) {
        assert_int_equal(volt_lr_scheduler_step_metric(s, 1.0), VOLT_OK);
        assert_true(volt_optimizer_lr(f.opt, 0) == want[e]);
    }
    assert_int_equal(volt_lr_scheduler_step(s), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "ReduceLROnPlateau: step needs the monitored metric");
    done(&f, s);

    /* max mode, abs threshold: rising by more than 0.1 counts as better. */
    f = sgd_at(1.0);
    o = volt_plateau_defaults();
    o.mode = VOLT_PLATEAU_MAX;
    o.threshold_mode = VOLT_THRESHOLD_ABS;
    o.threshold = 0.1;
    o.patience = 0;
    s = volt_reduce_lr_on_plateau_new(f.opt, &o);
    volt_lr_scheduler_step_metric(s, 1.0);
    volt_lr_scheduler_step_metric(s, 1.2);
    assert_true(volt_optimizer_lr(f.opt, 0) == 1.0);
    volt_lr_scheduler_step_metric(s, 1.25);
    assert_true(fabs(volt_optimizer_lr(f.opt, 0) - 0.1) < 1e-15);
    done(&f, s);
}

static void test_sequential_and_chained(void **state) {
    (void)state;
    fixture f = sgd_at(1.0);
    volt_lr_scheduler *s =
        volt_sequential_lr_new(f.opt, 2,
                               (volt_lr_scheduler *[]){volt_constant_lr_new(f.opt, 0.5, 10),
                                                       volt_exponential_lr_new(f.opt, 0.5)},
                               (int64_t[]){3});
    assert_non_null(s);
    double want[7] = {0.5, 0.5, 0.5, 1.0, 0.5, 0.25, 0.125};
    assert_true(volt_optimizer_lr(f.opt, 0) == want[0]);
    for (int e = 1; e < 7; e++) {
        volt_lr_scheduler_step(s);
        assert_true(volt_optimizer_lr(f.opt, 0) == want[e]);
        assert_true(volt_lr_scheduler_last_lr(s, 0) == want[e]);
    }
    done(&f, s);

    f = sgd_at(1.0);
    s = volt_chained_lr_new(2, (volt_lr_scheduler *[]){volt_constant_lr_new(f.opt, 0.5, 2),
                                                       volt_exponential_lr_new(f.opt, 0.9)});
    for (int e = 0; e < 6; e++) {
        if (e) volt_lr_scheduler_step(s);
        double w = pow(0.9, e) * (e < 2 ? 0.5 : 1.0);
        assert_true(fabs(volt_optimizer_lr(f.opt, 0) - w) < 1e-15);
    }
    done(&f, s);
}

/* ---------------------------------------------------------- round trips */

static volt_lr_scheduler *make_sched(int k, volt_optimizer *o) {
    static double half = 0.5;
    volt_plateau_options po = volt_plateau_defaults();
    po.patience = 1;
    switch (k) {
    case 0: return volt_step_lr_new(o, 3, 0.5);
    case 1: return volt_multistep_lr_new(o, 2, (int64_t[]){2, 9}, 0.3);
    case 2: return volt_exponential_lr_new(o, 0.9);
    case 3: return volt_cosine_lr_new(o, 5);
    case 4: return volt_cosine_warm_restarts_lr_new(o, 2, 3, 0);
    case 5: return volt_linear_lr_new(o, 0.3, 0.9, 8);
    case 6: return volt_constant_lr_new(o, 0.4, 7);
    case 7: return volt_polynomial_lr_new(o, 10, 1.5);
    case 8: return volt_lambda_lr_new(o, inverse, &half);
    case 9: return volt_one_cycle_lr_new(o, 0.3, 14, NULL);
    case 10: return volt_reduce_lr_on_plateau_new(o, &po);
    case 11:
        return volt_sequential_lr_new(
            o, 3,
            (volt_lr_scheduler *[]){volt_linear_lr_new(o, 0.1, 1, 3), volt_cosine_lr_new(o, 4),
                                    volt_cosine_warm_restarts_lr_new(o, 2, 1, 0.01)},
            (int64_t[]){4, 8});
    default:
        return volt_chained_lr_new(
            2, (volt_lr_scheduler *[]){volt_step_lr_new(o, 2, 0.8), volt_cosine_lr_new(o, 6)});
    }
}

static void advance(volt_lr_scheduler *s, int e) {
    volt_status st = volt_lr_scheduler_needs_metric(s)
                         ? volt_lr_scheduler_step_metric(s, e % 3 == 0 ? 1.0 / (e + 1) : 2.0)
                         : volt_lr_scheduler_step(s);
    assert_int_equal(st, VOLT_OK);
}

static void test_state_round_trip(void **state) {
    (void)state;
    for (int k = 0; k <= 12; k++) {
        volt_tensor *p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
        volt_optimizer *a = volt_adam_new(OH_PARAMS(p), &(volt_adam_options){.lr = 0.1});
        volt_lr_scheduler *sa = make_sched(k, a);
        assert_non_null(sa);
        for (int e = 1; e <= 6; e++) advance(sa, e);
        char *ojson = NULL, *sjson = volt_lr_scheduler_state_dict(sa);
        volt_state_dict *sd = volt_optimizer_state_dict(a, &ojson);
        volt_optimizer *b = volt_adam_new(OH_PARAMS(p), &(volt_adam_options){.lr = 0.1});
        volt_lr_scheduler *sb = make_sched(k, b);
        assert_int_equal(volt_optimizer_load_state_dict(b, sd, ojson), VOLT_OK);
        assert_int_equal(volt_lr_scheduler_load_state_dict(sb, sjson), VOLT_OK);
        for (int e = 7; e <= 13; e++) {
            advance(sa, e);
            advance(sb, e);
            if (volt_optimizer_lr(a, 0) != volt_optimizer_lr(b, 0) ||
                volt_optimizer_momentum(a, 0) != volt_optimizer_momentum(b, 0))
                fail_msg("%s: epoch %d: resumed lr %.17g, uninterrupted %.17g",
                         volt_lr_scheduler_name(sa), e, volt_optimizer_lr(b, 0),
                         volt_optimizer_lr(a, 0));
        }
        assert_int_equal(volt_lr_scheduler_last_epoch(sa), volt_lr_scheduler_last_epoch(sb));
        free(ojson);
        free(sjson);
        volt_state_dict_free(sd);
        volt_lr_scheduler_free(sa);
        volt_lr_scheduler_free(sb);
        volt_optimizer_free(a);
        volt_optimizer_free(b);
        volt_tensor_free(p);
    }
}

/* --------------------------------------------------------------- errors */

static void test_errors(void **state) {
    (void)state;
    fixture f = sgd_at(0.1);
    volt_optimizer *o = f.opt;
    assert_null(volt_step_lr_new(NULL, 3, 0.5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "StepLR: optimizer is NULL");
    assert_null(volt_step_lr_new(o, 0, 0.5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "StepLR: invalid step_size 0 (must be >= 1)");
    assert_null(volt_multistep_lr_new(o, 2, (int64_t[]){3, -1}, 0.5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "MultiStepLR: invalid milestone -1");
    assert_null(volt_exponential_lr_new(o, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "ExponentialLR: invalid gamma 0 (must be > 0)");
    assert_null(volt_cosine_lr_new(o, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "CosineAnnealingLR: invalid T_max 0");
    assert_null(volt_cosine_warm_restarts_lr_new(o, 2, -1, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "CosineAnnealingWarmRestarts: invalid T_mult -1");
    assert_null(volt_linear_lr_new(o, 0, 1, 5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "LinearLR: invalid start_factor 0 (must be in (0, 1])");
    assert_null(volt_constant_lr_new(o, 1.5, 5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "ConstantLR: invalid factor 1.5");
    assert_null(volt_polynomial_lr_new(o, 0, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "PolynomialLR: invalid total_iters 0");
    assert_null(volt_lambda_lr_new(o, NULL, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "LambdaLR: the lambda is NULL");
    volt_one_cycle_options oc = volt_one_cycle_defaults();
    oc.pct_start = 1.5;
    assert_null(volt_one_cycle_lr_new(o, 0.1, 10, &oc));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "OneCycleLR: invalid pct_start 1.5");
    volt_plateau_options po = volt_plateau_defaults();
    po.factor = 1;
    assert_null(volt_reduce_lr_on_plateau_new(o, &po));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "ReduceLROnPlateau: invalid factor 1 (must be in [0, 1))");

    volt_tensor *q = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
    volt_optimizer *ada = volt_adagrad_new(OH_PARAMS(q), NULL);
    assert_null(volt_one_cycle_lr_new(ada, 0.1, 10, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "OneCycleLR: cycle_momentum needs an optimizer "
                                               "with momentum or betas (Adagrad has neither)");

    /* Composites own their children, also when they fail. */
    assert_null(volt_sequential_lr_new(
        o, 2, (volt_lr_scheduler *[]){volt_step_lr_new(o, 2, 0.5), volt_step_lr_new(ada, 2, 0.5)},
        (int64_t[]){3}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "SequentialLR: scheduler 1 belongs to another optimizer");
    assert_null(volt_sequential_lr_new(
        o, 2, (volt_lr_scheduler *[]){volt_step_lr_new(o, 2, 0.5), volt_step_lr_new(o, 2, 0.5)},
        NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SequentialLR: milestones must be 1 non-decreasing");
    assert_null(
        volt_chained_lr_new(2, (volt_lr_scheduler *[]){volt_step_lr_new(o, 2, 0.5),
                                                       volt_reduce_lr_on_plateau_new(o, NULL)}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "ChainedScheduler: scheduler 1 is a "
                                               "ReduceLROnPlateau, which needs a metric");
    assert_null(volt_chained_lr_new(
        2, (volt_lr_scheduler *[]){volt_step_lr_new(o, 2, 0.5), volt_step_lr_new(o, 0, 0.5)}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "StepLR: invalid step_size 0");
    volt_lr_scheduler *child = volt_step_lr_new(o, 2, 0.5);
    volt_lr_scheduler *chain = volt_chained_lr_new(1, &child);
    volt_lr_scheduler_free(child);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "StepLR: owned by a SequentialLR or ChainedScheduler");
    volt_lr_scheduler_free(chain);

    volt_lr_scheduler *s = volt_step_lr_new(o, 2, 0.5);
    assert_int_equal(volt_lr_scheduler_step_metric(s, 1.0), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "StepLR: takes no metric");
    assert_true(isnan(volt_lr_scheduler_last_lr(s, 1)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "StepLR: last_lr: param group 1 out of range");
    assert_int_equal(volt_lr_scheduler_load_state_dict(s, "{\"format\""), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "StepLR: load_state_dict: the JSON does not parse");
    volt_lr_scheduler *cos = volt_cosine_lr_new(o, 4);
    char *cjson = volt_lr_scheduler_state_dict(cos);
    assert_int_equal(volt_lr_scheduler_load_state_dict(s, cjson), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "StepLR: load_state_dict: state type "
                                               "'CosineAnnealingLR' does not match this "
                                               "scheduler 'StepLR'");
    free(cjson);
    volt_lr_scheduler_free(cos);

    /* A group added after the scheduler was made. */
    volt_tensor *r = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
    volt_optimizer_add_param_group(o, OH_PARAMS(r), NULL);
    assert_int_equal(volt_lr_scheduler_step(s), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "StepLR: the optimizer has 2 param groups, 1 when the "
                                    "scheduler was made");
    volt_lr_scheduler *s2 = volt_step_lr_new(o, 2, 0.5);
    char *json = volt_lr_scheduler_state_dict(s);
    assert_int_equal(volt_lr_scheduler_load_state_dict(s2, json), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "'base_lrs' and 'last_lr' must hold 2 numbers");
    free(json);
    volt_lr_scheduler_free(s2);
    volt_lr_scheduler_free(s);
    volt_optimizer_free(ada);
    done(&f, NULL);
    volt_tensor_free(q);
    volt_tensor_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_closed_forms),           VT_TEST(test_one_cycle),        VT_TEST(test_plateau),
        VT_TEST(test_sequential_and_chained), VT_TEST(test_state_round_trip), VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
