/* test_optimizers.c: the optimizers — first steps of each against values
 * worked out by hand, options and their defaults (VOLT_OPTIM_ZERO),
 * parameter groups with their own hyperparameters, zero_grad, skipping
 * parameters without gradients, the fused kernels against an unfused
 * reference written with volt ops in PyTorch's order (f64, 1e-12), thread
 * count independence, and every validation error with its message. */
#include "optim_helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-12

static void expect(const volt_tensor *t, const double *want, int64_t n) {
    VT_ASSERT_CLOSE(t, want, n, TOL, 1e-15);
}

/* ------------------------------------------------------------ first steps */

static void test_sgd_momentum_weight_decay(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1, -2}, VOLT_SHAPE(2), VOLT_F64);
    volt_optimizer *opt = volt_sgd_new(
        OH_PARAMS(p), &(volt_sgd_options){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
    assert_non_null(opt);
    oh_set_grad(p, (double[]){0.5, 0.25});
    assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
    /* d = g + 0.1 p = [0.6, 0.05]; buf = d; p -= 0.1 d */
    expect(p, (double[]){0.94, -2.005}, 2);
    assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
    /* d = [0.5 + 0.094, 0.25 - 0.2005]; buf = 0.9 [0.6, 0.05] + d = [1.134, 0.0945] */
    expect(p, (double[]){0.94 - 0.1134, -2.005 - 0.00945}, 2);
    assert_int_equal(volt_optimizer_step_count(opt), 2);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
}

static void test_sgd_nesterov_dampening_maximize(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1, -2}, VOLT_SHAPE(2), VOLT_F32);
    volt_optimizer *opt = volt_sgd_new(
        OH_PARAMS(p),
        &(volt_sgd_options){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true});
    oh_set_grad(p, (double[]){0.5, 0.25});
    volt_optimizer_step(opt);
    /* d = [0.6, 0.05]; buf = d; d + 0.9 buf = 1.9 d; p -= 0.1 * 1.9 d */
    VT_ASSERT_CLOSE(p, ((double[]){0.886, -2.0095}), 2, 1e-6, 1e-7);
    volt_optimizer_free(opt);

    volt_tensor *q = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F64);
    opt = volt_sgd_new(
        OH_PARAMS(q),
        &(volt_sgd_options){.lr = 0.5, .momentum = 0.5, .dampening = 0.5, .maximize = true});
    oh_set_grad(q, (double[]){2});
    volt_optimizer_step(opt); /* d = -2; buf = -2; q = 1 + 1 */
    expect(q, (double[]){2}, 1);
    volt_optimizer_step(opt); /* buf = 0.5 (-2) + 0.5 (-2) = -2; q = 2 + 1 */
    expect(q, (double[]){3}, 1);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
    volt_tensor_free(q);
}

static void test_adam_adamw_amsgrad(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F64);
    volt_optimizer *opt = volt_adam_new(OH_PARAMS(p), &(volt_adam_options){.lr = 0.01});
    oh_set_grad(p, (double[]){0.5});
    volt_optimizer_step(opt);
    /* m = 0.05, v = 0.00025; m/(1-0.9) = 0.5, sqrt(v/(1-0.999)) = 0.5 */
    expect(p, (double[]){1 - 0.01 * 0.5 / (0.5 + 1e-8)}, 1);
    oh_set_grad(p, (double[]){-0.25});
    volt_optimizer_step(opt);
    /* m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225 */
    double mhat = 0.02 / (1 - 0.81), vhat = 0.00031225 / (1 - 0.998001);
    expect(p, (double[]){1 - 0.01 * 0.5 / (0.5 + 1e-8) - 0.01 * mhat / (sqrt(vhat) + 1e-8)}, 1);
    volt_optimizer_free(opt);

    /* AdamW decays the weight first: p (1 - lr wd), then the Adam step. */
    volt_tensor *q = oh_param((double[]){2}, VOLT_SHAPE(1), VOLT_F64);
    opt = volt_adamw_new(OH_PARAMS(q), &(volt_adam_options){.lr = 0.1, .weight_decay = 0.5});
    oh_set_grad(q, (double[]){-3});
    volt_optimizer_step(opt);
    expect(q, (double[]){2 * 0.95 + 0.1 * 3 / (3 + 1e-8)}, 1);
    volt_optimizer_free(opt);

    /* amsgrad: the second step divides by the larger first v. */
    volt_tensor *r = oh_param((double[]){0}, VOLT_SHAPE(1), VOLT_F64);
    opt = volt_adam_new(OH_PARAMS(r), &(volt_adam_options){.lr = 1,
                                                           .beta1 = VOLT_OPTIM_ZERO,
                                                           .beta2 = 0.5,
                                                           .eps = VOLT_OPTIM_ZERO,
                                                           .amsgrad = true});
    oh_set_grad(r, (double[]){4});
    volt_optimizer_step(opt); /* m = 4, v = 8, bc2 = 0.5: p -= 4 / sqrt(16) */
    expect(r, (double[]){-1}, 1);
    oh_set_grad(r, (double[]){1});
    volt_optimizer_step(opt); /* v = 4.5 < vmax 8; bc2 = 0.75: p -= 1 / sqrt(8 / 0.75) */
    expect(r, (double[]){-1 - 1 / sqrt(8 / 0.75)}, 1);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
    volt_tensor_free(q);
    volt_tensor_free(r);
}

static void test_rmsprop(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F64);
    volt_optimizer *opt = volt_rmsprop_new(OH_PARAMS(p), NULL); /* lr 0.01, alpha 0.99 */
    oh_set_grad(p, (double[]){0.5});
    volt_optimizer_step(opt); /* sq = 0.0025, avg = 0.05 */
    expect(p, (double[]){1 - 0.01 * 0.5 / (0.05 + 1e-8)}, 1);
    volt_optimizer_free(opt);

    volt_tensor *q = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F64);
    opt = volt_rmsprop_new(
        OH_PARAMS(q),
        &(volt_rmsprop_options){
            .lr = 0.1, .alpha = 0.5, .momentum = 0.5, .centered = true, .eps = VOLT_OPTIM_ZERO});
    oh_set_grad(q, (double[]){2});
    volt_optimizer_step(opt); /* sq = 2, ga = 1, avg = 1, buf = 2 */
    expect(q, (double[]){0.8}, 1);
    volt_optimizer_step(opt); /* sq = 3, ga = 1.5, avg = sqrt(0.75), buf = 1 + 2 / avg */
    expect(q, (double[]){0.8 - 0.1 * (1 + 2 / sqrt(0.75))}, 1);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
    volt_tensor_free(q);
}

static void test_adagrad(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F64);
    volt_optimizer *opt = volt_adagrad_new(
        OH_PARAMS(p),
        &(volt_adagrad_options){.lr = 0.1, .lr_decay = 0.5, .initial_accumulator_value = 0.75});
    oh_set_grad(p, (double[]){0.5});
    volt_optimizer_step(opt); /* sum = 1, clr = 0.1 */
    expect(p, (double[]){1 - 0.1 * 0.5 / (1 + 1e-10)}, 1);
    volt_optimizer_step(opt); /* sum = 1.25, clr = 0.1 / 1.5 */
    expect(p, (double[]){1 - 0.1 * 0.5 / (1 + 1e-10) - 0.1 / 1.5 * 0.5 / (sqrt(1.25) + 1e-10)}, 1);
    assert_false(volt_optimizer_has_momentum(opt));
    volt_optimizer_free(opt);
    volt_tensor_free(p);
}

static void test_lion(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1, 1, 1}, VOLT_SHAPE(3), VOLT_F64);
    volt_optimizer *opt = volt_lion_new(
        OH_PARAMS(p),
        &(volt_lion_options){.lr = 0.1, .beta1 = 0.9, .beta2 = 0.99, .weight_decay = 0.1});
    oh_set_grad(p, (double[]){0.5, -0.5, 0});
    volt_optimizer_step(opt); /* p (1 - 0.01) - 0.1 sign(0.1 g); m = 0.01 g */
    expect(p, (double[]){0.89, 1.09, 0.99}, 3);
    oh_set_grad(p, (double[]){-0.01, 0.5, 0.2});
    volt_optimizer_step(opt); /* c = 0.9 m + 0.1 g = [0.0035, 0.0455, 0.02]: all positive */
    expect(p, (double[]){0.89 * 0.99 - 0.1, 1.09 * 0.99 - 0.1, 0.99 * 0.99 - 0.1}, 3);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
}

static void test_defaults_and_zero(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
    volt_optimizer *opt = volt_adam_new(OH_PARAMS(p), NULL);
    assert_string_equal(volt_optimizer_name(opt), "Adam");
    assert_true(volt_optimizer_lr(opt, 0) == 1e-3);
    assert_true(volt_optimizer_momentum(opt, 0) == 0.9);
    volt_optimizer_free(opt);
    opt = volt_adam_new(OH_PARAMS(p), &(volt_adam_options){.beta1 = VOLT_OPTIM_ZERO});
    assert_true(volt_optimizer_momentum(opt, 0) == 0.0);
    volt_optimizer_free(opt);
    /* AdamW's default weight decay is 0.01; VOLT_OPTIM_ZERO switches it off. */
    double want[2] = {1 - 1e-3 * 0.01 - 1e-3, 1 - 1e-3};
    for (int k = 0; k < 2; k++) {
        volt_tensor *q = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F64);
        opt = volt_adamw_new(OH_PARAMS(q),
                             k ? &(volt_adam_options){.weight_decay = VOLT_OPTIM_ZERO} : NULL);
        oh_set_grad(q, (double[]){1});
        volt_optimizer_step(opt);
        VT_ASSERT_CLOSE(q, &want[k], 1, 1e-9, 0);
        volt_optimizer_free(opt);
        volt_tensor_free(q);
    }
    opt = volt_lion_new(OH_PARAMS(p), NULL);
    assert_true(volt_optimizer_lr(opt, 0) == 1e-4);
    volt_optimizer_free(opt);
    opt = volt_sgd_new(OH_PARAMS(p), &(volt_sgd_options){.lr = VOLT_OPTIM_ZERO});
    assert_non_null(opt);
    assert_true(volt_optimizer_lr(opt, 0) == 0.0);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
}

/* ---------------------------------------------------------- param groups */

static void test_param_groups(void **state) {
    (void)state;
    volt_tensor *a = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F64);
    volt_tensor *b = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F64);
    volt_tensor *c = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F64);
    volt_optimizer *opt =
        volt_sgd_new(OH_PARAMS(a), &(volt_sgd_options){.lr = 0.1, .momentum = 0.5});
    /* b: its own lr, momentum inherited; c: momentum switched off. */
    assert_int_equal(
        volt_optimizer_add_param_group(opt, OH_PARAMS(b), &(volt_sgd_options){.lr = 0.01}),
        VOLT_OK);
    assert_int_equal(volt_optimizer_add_param_group(
                         opt, OH_PARAMS(c), &(volt_sgd_options){.momentum = VOLT_OPTIM_ZERO}),
                     VOLT_OK);
    assert_int_equal(volt_optimizer_num_groups(opt), 3);
    assert_true(volt_optimizer_lr(opt, 1) == 0.01);
    assert_true(volt_optimizer_lr(opt, 2) == 0.1);
    assert_true(volt_optimizer_momentum(opt, 1) == 0.5);
    assert_true(volt_optimizer_momentum(opt, 2) == 0.0);
    volt_params all = volt_optimizer_params(opt);
    assert_int_equal(all.count, 3);
    assert_ptr_equal(all.tensors[2], c);
    for (int s = 0; s < 2; s++) {
        oh_set_grad(a, (double[]){1});
        oh_set_grad(b, (double[]){1});
        oh_set_grad(c, (double[]){1});
        volt_optimizer_step(opt);
    }
    expect(a, (double[]){1 - 0.1 - 0.1 * 1.5}, 1);
    expect(b, (double[]){1 - 0.01 - 0.01 * 1.5}, 1);
    expect(c, (double[]){1 - 0.2}, 1);
    assert_int_equal(volt_optimizer_set_lr(opt, 2, 0.5), VOLT_OK);
    oh_set_grad(c, (double[]){1});
    volt_optimizer_step(opt);
    expect(c, (double[]){0.3}, 1);
    volt_optimizer_free(opt);
    volt_tensor_free(a);
    volt_tensor_free(b);
    volt_tensor_free(c);
}

static void test_zero_grad_and_skip(void **state) {
    (void)state;
    volt_tensor *a = oh_param((double[]){1, 2}, VOLT_SHAPE(2), VOLT_F64);
    volt_tensor *b = oh_param((double[]){3}, VOLT_SHAPE(1), VOLT_F64);
    volt_optimizer *opt = volt_adam_new(OH_PARAMS(a, b), &(volt_adam_options){.lr = 0.1});
    oh_set_grad(a, (double[]){1, 1});
    oh_set_grad(b, (double[]){1});
    volt_optimizer_zero_grad(opt);
    assert_null(a->grad);
    assert_null(b->grad);
    /* Only a has a gradient: b is left alone and gets no state. */
    oh_set_grad(a, (double[]){1, -1});
    uint64_t va = volt_storage_version(a->storage), vb = volt_storage_version(b->storage);
    assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
    assert_true(volt_storage_version(a->storage) > va);
    assert_true(volt_storage_version(b->storage) == vb);
    expect(b, (double[]){3}, 1);
    VT_ASSERT_CLOSE(a, ((double[]){0.9, 2.1}), 2, 1e-6, 0);
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(opt, &json);
    assert_int_equal(sd->count, 2);
    assert_string_equal(sd->names[0], "state.0.exp_avg");
    assert_string_equal(sd->names[1], "state.0.exp_avg_sq");
    assert_null(strstr(json, "\"1\":"));
    free(json);
    volt_state_dict_free(sd);
    /* b's first step later uses step 1 of its own bias correction. */
    volt_optimizer_zero_grad(opt);
    oh_set_grad(b, (double[]){2});
    volt_optimizer_step(opt);
    VT_ASSERT_CLOSE(b, ((double[]){2.9}), 1, 1e-6, 0);
    volt_optimizer_free(opt);
    volt_tensor_free(a);
    volt_tensor_free(b);
}

/* ------------------------------------------- fused kernels vs reference */

/* Writes src into the parameter p (the reference runs under no-grad). */
static void assign(volt_tensor *p, const volt_tensor *src) { volt_copy_(p, src); }

/* A persisted slot (zeros or `init`) the reference keeps between steps. */
static volt_tensor *slot(volt_tensor **s, const volt_tensor *p, double init) {
    if (!*s) *s = volt_persist(volt_full_like(p, init));
    return *s;
}

typedef struct {
    const char *type;
    volt_sgd_options sgd;
    volt_adam_options adam;
    volt_rmsprop_options rms;
    volt_adagrad_options ada;
    volt_lion_options lion;
} variant;

/* One step of PyTorch 1.13's single-tensor algorithm, op by op. */
static void reference_step(const variant *v, volt_tensor *p, const volt_tensor *grad,
                           volt_tensor *st[3], int64_t step) {
    volt_no_grad_begin();
    volt_scope_begin();
    const char *t = v->type;
    if (strcmp(t, "SGD") == 0) {
        const volt_sgd_options *o = &v->sgd;
        volt_tensor *d = o->maximize ? volt_neg(grad) : (volt_tensor *)grad;
        if (o->weight_decay != 0) d = volt_add_scaled(d, p, o->weight_decay);
        if (o->momentum != 0) {
            if (!st[0])
                st[0] = volt_persist(volt_clone(d));
            else
                volt_copy_(st[0], volt_add_scaled(volt_mul_scalar(st[0], o->momentum), d,
                                                  1 - o->dampening));
            d = o->nesterov ? volt_add_scaled(d, st[0], o->momentum) : st[0];
        }
        assign(p, volt_add_scaled(p, d, -o->lr));
    } else if (strcmp(t, "Adam") == 0 || strcmp(t, "AdamW") == 0) {
        const volt_adam_options *o = &v->adam;
        volt_tensor *g = o->maximize ? volt_neg(grad) : (volt_tensor *)grad;
        if (strcmp(t, "AdamW") == 0)
            assign(p, volt_mul_scalar(p, 1 - o->lr * o->weight_decay));
        else if (o->weight_decay != 0)
            g = volt_add_scaled(g, p, o->weight_decay);
        volt_tensor *m = slot(&st[0], p, 0), *vv = slot(&st[1], p, 0);
        volt_copy_(m, volt_add_scaled(volt_mul_scalar(m, o->beta1), g, 1 - o->beta1));
        volt_copy_(vv, volt_add(volt_mul_scalar(vv, o->beta2),
                                volt_mul(volt_mul_scalar(g, 1 - o->beta2), g)));
        double bc1 = 1 - pow(o->beta1, (double)step), bc2 = 1 - pow(o->beta2, (double)step);
        volt_tensor *src = vv;
        if (o->amsgrad) {
            volt_tensor *mx = slot(&st[2], p, 0);
            volt_copy_(mx, volt_maximum(mx, vv));
            src = mx;
        }
        volt_tensor *den = volt_add_scalar(volt_div_scalar(volt_sqrt(src), sqrt(bc2)), o->eps);
        assign(p, volt_add(p, volt_div(volt_mul_scalar(m, -(o->lr / bc1)), den)));
    } else if (strcmp(t, "RMSprop") == 0) {
        const volt_rmsprop_options *o = &v->rms;
        volt_tensor *g = o->maximize ? volt_neg(grad) : (volt_tensor *)grad;
        if (o->weight_decay != 0) g = volt_add_scaled(g, p, o->weight_decay);
        volt_tensor *sq = slot(&st[0], p, 0);
        volt_copy_(sq, volt_add(volt_mul_scalar(sq, o->alpha),
                                volt_mul(volt_mul_scalar(g, 1 - o->alpha), g)));
        volt_tensor *avg;
        if (o->centered) {
            volt_tensor *ga = slot(&st[2], p, 0);
            volt_copy_(ga, volt_add_scaled(volt_mul_scalar(ga, o->alpha), g, 1 - o->alpha));
            avg = volt_sqrt(volt_sub(sq, volt_mul(ga, ga)));
        } else {
            avg = volt_sqrt(sq);
        }
        avg = volt_add_scalar(avg, o->eps);
        if (o->momentum > 0) {
            volt_tensor *buf = slot(&st[1], p, 0);
            volt_copy_(buf, volt_add(volt_mul_scalar(buf, o->momentum), volt_div(g, avg)));
            assign(p, volt_add_scaled(p, buf, -o->lr));
        } else {
            assign(p, volt_add(p, volt_div(volt_mul_scalar(g, -o->lr), avg)));
        }
    } else if (strcmp(t, "Adagrad") == 0) {
        const volt_adagrad_options *o = &v->ada;
        volt_tensor *g = o->maximize ? volt_neg(grad) : (volt_tensor *)grad;
        if (o->weight_decay != 0) g = volt_add_scaled(g, p, o->weight_decay);
        double clr = o->lr / (1 + (double)(step - 1) * o->lr_decay);
        volt_tensor *sum = slot(&st[0], p, o->initial_accumulator_value);
        volt_copy_(sum, volt_add(sum, volt_mul(g, g)));
        volt_tensor *std = volt_add_scalar(volt_sqrt(sum), o->eps);
        assign(p, volt_add(p, volt_div(volt_mul_scalar(g, -clr), std)));
    } else {
        const volt_lion_options *o = &v->lion;
        volt_tensor *g = o->maximize ? volt_neg(grad) : (volt_tensor *)grad;
        volt_tensor *m = slot(&st[0], p, 0);
        assign(p, volt_mul_scalar(p, 1 - o->lr * o->weight_decay));
        volt_tensor *u = volt_sign(volt_add_scaled(volt_mul_scalar(m, o->beta1), g, 1 - o->beta1));
        assign(p, volt_add_scaled(p, u, -o->lr));
        volt_copy_(m, volt_add_scaled(volt_mul_scalar(m, o->beta2), g, 1 - o->beta2));
    }
    volt_scope_end();
    volt_no_grad_end();
}

static volt_optimizer *make(const variant *v, volt_tensor *p) {
    volt_params ps = OH_PARAMS(p);
    const char *t = v->type;
    if (strcmp(t, "SGD") == 0) return volt_sgd_new(ps, &v->sgd);
    if (strcmp(t, "Adam") == 0) return volt_adam_new(ps, &v->adam);
    if (strcmp(t, "AdamW") == 0) return volt_adamw_new(ps, &v->adam);
    if (strcmp(t, "RMSprop") == 0) return volt_rmsprop_new(ps, &v->rms);
    if (strcmp(t, "Adagrad") == 0) return volt_adagrad_new(ps, &v->ada);
    return volt_lion_new(ps, &v->lion);
}

static const variant variants[] = {
    {"SGD", .sgd = {.lr = 0.1}},
    {"SGD", .sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true}},
    {"SGD", .sgd = {.lr = 0.05, .momentum = 0.8, .dampening = 0.2, .maximize = true}},
    {"Adam", .adam = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}},
    {"Adam", .adam = {.lr = 0.01,
                      .beta1 = 0.8,
                      .beta2 = 0.99,
                      .eps = 1e-6,
                      .weight_decay = 0.1,
                      .amsgrad = true,
                      .maximize = true}},
    {"AdamW", .adam = {.lr = 0.01,
                       .beta1 = 0.9,
                       .beta2 = 0.999,
                       .eps = 1e-8,
                       .weight_decay = 0.05,
                       .amsgrad = true}},
    {"RMSprop", .rms = {.lr = 0.01, .alpha = 0.99, .eps = 1e-8}},
    {"RMSprop", .rms = {.lr = 0.01,
                        .alpha = 0.9,
                        .eps = 1e-8,
                        .weight_decay = 0.01,
                        .momentum = 0.5,
                        .centered = true,
                        .maximize = true}},
    {"Adagrad", .ada = {.lr = 0.1,
                        .lr_decay = 0.1,
                        .weight_decay = 0.01,
                        .initial_accumulator_value = 0.2,
                        .eps = 1e-10}},
    {"Lion",
     .lion = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .weight_decay = 0.1, .maximize = true}},
};

static void test_fused_matches_reference(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++) {
        const variant *v = &variants[k];
        volt_generator gen = volt_generator_make(7, k);
        volt_tensor *init = volt_randn(VOLT_SHAPE(7, 43), VOLT_F64, &gen);
        volt_tensor *p = volt_requires_grad(volt_persist(volt_clone(init)), true);
        volt_tensor *r = volt_requires_grad(volt_persist(volt_clone(init)), true);
        volt_tensor *st[3] = {NULL, NULL, NULL};
        volt_optimizer *opt = make(v, p);
        assert_non_null(opt);
        for (int64_t s = 1; s <= 6; s++) {
            volt_scope_begin();
            volt_tensor *g = volt_randn(VOLT_SHAPE(7, 43), VOLT_F64, &gen);
            oh_set_grad_tensor(p, g);
            assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
            reference_step(v, r, g, st, s);
            int64_t n = volt_tensor_numel(p);
            for (int64_t i = 0; i < n; i++) {
                double a = volt_tensor_get_flat(p, i), b = volt_tensor_get_flat(r, i);
                if (!(fabs(a - b) <= TOL * fabs(b) + 1e-15))
                    fail_msg("%s variant %zu step %lld element %lld: fused %.17g, reference %.17g",
                             v->type, k, (long long)s, (long long)i, a, b);
            }
            volt_scope_end();
        }
        volt_optimizer_free(opt);
        for (int i = 0; i < 3; i++) volt_tensor_free(st[i]);
        volt_tensor_free(p);
        volt_tensor_free(r);
    }
}

/* Large parameters take the OpenMP path: 1 and 2 threads agree bit for bit. */
static void test_threads_do_not_matter(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    int64_t n = 150001;
    volt_generator gen = volt_generator_make(3, 0);
    volt_tensor *init = volt_randn(VOLT_SHAPE(n), VOLT_F32, &gen);
    volt_tensor *grad = volt_randn(VOLT_SHAPE(n), VOLT_F32, &gen);
    for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++) {
        volt_tensor *out[2];
        for (int threads = 1; threads <= 2; threads++) {
            volt_set_num_threads(threads);
            volt_tensor *p = volt_requires_grad(volt_persist(volt_clone(init)), true);
            volt_optimizer *opt = make(&variants[k], p);
            for (int s = 0; s < 3; s++) {
                oh_set_grad_tensor(p, grad);
                volt_optimizer_step(opt);
            }
            volt_optimizer_free(opt);
            volt_tensor_clear_grad(p);
            out[threads - 1] = p;
        }
        assert_memory_equal(volt_tensor_data(out[0]), volt_tensor_data(out[1]),
                            (size_t)n * sizeof(float));
        volt_tensor_free(out[0]);
        volt_tensor_free(out[1]);
    }
    volt_set_num_threads(saved);
}

/* ------------------------------------------------------------ validation */

static void test_option_errors(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
    volt_params ps = OH_PARAMS(p);
    assert_null(volt_sgd_new(ps, &(volt_sgd_options){.momentum = 0.9}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: lr is required");
    assert_null(volt_sgd_new(ps, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: lr is required");
    assert_null(volt_sgd_new(ps, &(volt_sgd_options){.lr = -0.1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: invalid lr -0.1 (must be >= 0)");
    assert_null(volt_sgd_new(ps, &(volt_sgd_options){.lr = 0.1, .momentum = 1.5}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: invalid momentum 1.5 (must be in [0, 1))");
    assert_null(volt_sgd_new(ps, &(volt_sgd_options){.lr = 0.1, .momentum = -0.5}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: invalid momentum -0.5");
    assert_null(volt_sgd_new(ps, &(volt_sgd_options){.lr = 0.1, .nesterov = true}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "SGD: nesterov needs momentum > 0 and dampening 0 (got momentum 0, ");
    assert_null(volt_sgd_new(
        ps, &(volt_sgd_options){.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "dampening 0.1)");
    assert_null(volt_sgd_new(ps, &(volt_sgd_options){.lr = 0.1, .weight_decay = -1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: invalid weight_decay -1 (must be >= 0)");
    assert_null(volt_adam_new(ps, &(volt_adam_options){.beta1 = 1.0}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Adam: invalid beta1 1 (must be in [0, 1))");
    assert_null(volt_adam_new(ps, &(volt_adam_options){.beta2 = -0.1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Adam: invalid beta2 -0.1");
    assert_null(volt_adam_new(ps, &(volt_adam_options){.eps = -1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Adam: invalid eps -1 (must be >= 0)");
    assert_null(volt_adam_new(ps, &(volt_adam_options){.lr = NAN}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Adam: invalid lr nan");
    assert_null(volt_adamw_new(ps, &(volt_adam_options){.weight_decay = -0.5}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "AdamW: invalid weight_decay -0.5");
    assert_null(volt_rmsprop_new(ps, &(volt_rmsprop_options){.alpha = 1.5}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "RMSprop: invalid alpha 1.5 (must be in [0, 1])");
    assert_null(volt_rmsprop_new(ps, &(volt_rmsprop_options){.momentum = 1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "RMSprop: invalid momentum 1");
    assert_null(volt_adagrad_new(ps, &(volt_adagrad_options){.lr_decay = -1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Adagrad: invalid lr_decay -1");
    assert_null(volt_adagrad_new(ps, &(volt_adagrad_options){.initial_accumulator_value = -2}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Adagrad: invalid initial_accumulator_value -2");
    assert_null(volt_lion_new(ps, &(volt_lion_options){.beta2 = 1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Lion: invalid beta2 1");
    volt_tensor_free(p);
}

static void test_param_errors(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1, 2, 3, 4, 5, 6}, VOLT_SHAPE(2, 3), VOLT_F32);
    volt_tensor *q = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
    volt_sgd_options o = {.lr = 0.1};
    assert_null(volt_sgd_new((volt_params){0, NULL, NULL}, &o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: empty parameter list");
    assert_null(volt_sgd_new(OH_PARAMS(p, NULL), &o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: parameter 1 (NULL) is NULL");
    assert_null(volt_sgd_new(OH_PARAMS(p, p), &o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: parameter 1 (f32[2,3]) appears twice");
    volt_tensor *ints = volt_zeros(VOLT_SHAPE(3), VOLT_I64);
    assert_null(volt_adam_new(OH_PARAMS(ints), NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "Adam: parameter 0 (i64[3]) is not f32, f64 or bf16");
    /* f16 parameters update on CUDA only ("16-true"): the CPU has no f16 kernels. */
    volt_tensor *halves = volt_zeros(VOLT_SHAPE(3), VOLT_F16);
    assert_null(volt_adam_new(OH_PARAMS(halves), NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "Adam: parameter 0 (f16[3]) is not f32, f64 or bf16 (or f16 on a CUDA device)");
    volt_tensor *view = volt_transpose(p, 0, 1);
    assert_null(volt_adam_new(OH_PARAMS(view), NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Adam: parameter 0 (f32[3,2]) is not contiguous");
    const char *names[] = {"fc.weight"};
    assert_null(volt_adam_new((volt_params){1, (volt_tensor *const[]){view}, names}, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "parameter 0 ('fc.weight', f32[3,2])");

    volt_optimizer *opt = volt_sgd_new(OH_PARAMS(p), &o);
    assert_int_equal(volt_optimizer_add_param_group(opt, OH_PARAMS(p), NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "SGD: param group 1: parameter 1 (f32[2,3]) is already in a param group");
    assert_int_equal(
        volt_optimizer_add_param_group(opt, OH_PARAMS(q), &(volt_sgd_options){.lr = -1}),
        VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: param group 1: invalid lr -1");
    assert_int_equal(volt_optimizer_num_groups(opt), 1);
    assert_true(isnan(volt_optimizer_lr(opt, 3)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: lr: param group 3 out of range (1 group)");
    assert_int_equal(volt_optimizer_set_lr(opt, 0, -1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: set_lr: invalid lr -1 (must be >= 0)");
    assert_int_equal(volt_optimizer_set_momentum(opt, 0, 1.0), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "SGD: set_momentum: invalid momentum 1");
    assert_int_equal(volt_optimizer_step(NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "optimizer is NULL");

    /* A non-contiguous gradient is refused before anything is written. */
    p->grad = volt_persist(volt_transpose(volt_ones(VOLT_SHAPE(3, 2), VOLT_F32), 0, 1));
    uint64_t version = volt_storage_version(p->storage);
    assert_int_equal(volt_optimizer_step(opt), VOLT_ERR_UNSUPPORTED);
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED,
                    "SGD: parameter 0 f32[2,3] or its gradient f32[2,3] is not contiguous");
    assert_int_equal(volt_storage_version(p->storage), version);
    assert_int_equal(volt_optimizer_step_count(opt), 0);
    volt_optimizer_free(opt);

    volt_optimizer *ada = volt_adagrad_new(OH_PARAMS(q), NULL);
    assert_true(isnan(volt_optimizer_momentum(ada, 0)));
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED, "Adagrad: has no momentum or beta1");
    volt_optimizer_free(ada);
    volt_tensor_free(p);
    volt_tensor_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_sgd_momentum_weight_decay),
        VT_TEST(test_sgd_nesterov_dampening_maximize),
        VT_TEST(test_adam_adamw_amsgrad),
        VT_TEST(test_rmsprop),
        VT_TEST(test_adagrad),
        VT_TEST(test_lion),
        VT_TEST(test_defaults_and_zero),
        VT_TEST(test_param_groups),
        VT_TEST(test_zero_grad_and_skip),
        VT_TEST(test_fused_matches_reference),
        VT_TEST(test_threads_do_not_matter),
        VT_TEST(test_option_errors),
        VT_TEST(test_param_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
