/* test_optim_train.c: end to end — a small MLP built from nn's Linear layers
 * (4 -> 32 -> tanh -> 1) fits a smooth regression target (128 fixed
 * points) with each optimizer, stepped by a scheduler and with gradient
 * clipping in the loop as a trainer would: the mean squared error must fall
 * at least 10x from its initial value. */
#include "optim_helpers.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
} mlp;

static void mlp_init(mlp *m, uint64_t seed) {
    volt_generator gen = volt_generator_make(seed, 0);
    volt_linear_options o = {.gen = &gen};
    volt_module_init(&m->base, NULL);
    m->fc1 = volt_linear_new_ex(&m->base, "fc1", 4, 32, &o);
    m->fc2 = volt_linear_new_ex(&m->base, "fc2", 32, 1, &o);
    assert_non_null(m->fc1);
    assert_non_null(m->fc2);
}

static volt_tensor *mlp_forward(mlp *m, const volt_tensor *x) {
    return volt_linear_forward(m->fc2, volt_tanh(volt_linear_forward(m->fc1, x)));
}

/* y = tanh(2 x0) + x1 x2 - 0.5 x3, x ~ N(0, 1): [128, 4] -> [128, 1]. */
static void make_data(volt_tensor **x, volt_tensor **y) {
    volt_generator gen = volt_generator_make(99, 1);
    *x = volt_persist(volt_randn(VOLT_SHAPE(128, 4), VOLT_F32, &gen));
    volt_scope_begin();
    volt_tensor *c[4];
    for (int i = 0; i < 4; i++) c[i] = volt_narrow(*x, 1, i, 1);
    volt_tensor *t = volt_add(volt_tanh(volt_mul_scalar(c[0], 2)), volt_mul(c[1], c[2]));
    *y = volt_keep(volt_add_scaled(t, c[3], -0.5));
    volt_scope_end();
    *y = volt_persist(*y);
}

typedef struct {
    const char *name;
    volt_optimizer *(*make)(volt_params p);
} config;

static volt_optimizer *sgd(volt_params p) {
    return volt_sgd_new(p, &(volt_sgd_options){.lr = 0.05, .momentum = 0.9, .nesterov = true});
}
static volt_optimizer *adam(volt_params p) {
    return volt_adam_new(p, &(volt_adam_options){.lr = 0.02});
}
static volt_optimizer *adamw(volt_params p) {
    return volt_adamw_new(p, &(volt_adam_options){.lr = 0.02, .amsgrad = true});
}
static volt_optimizer *rmsprop(volt_params p) {
    return volt_rmsprop_new(p, &(volt_rmsprop_options){.lr = 0.005, .momentum = 0.5});
}
static volt_optimizer *adagrad(volt_params p) {
    return volt_adagrad_new(p, &(volt_adagrad_options){.lr = 0.1});
}
static volt_optimizer *lion(volt_params p) {
    return volt_lion_new(p, &(volt_lion_options){.lr = 5e-3, .weight_decay = 0.01});
}

static double train(const config *c, const volt_tensor *x, const volt_tensor *y, double *first) {
    mlp m;
    mlp_init(&m, 1234);
    volt_optimizer *opt = c->make(volt_module_parameters(&m.base));
    assert_non_null(opt);
    volt_lr_scheduler *sched = volt_cosine_lr_new_ex(opt, 400, volt_optimizer_lr(opt, 0) * 0.1);
    double loss = NAN;
    for (int step = 0; step < 400; step++) {
        volt_scope_begin();
        volt_tensor *l = volt_mse_loss(mlp_forward(&m, x), y, VOLT_REDUCTION_MEAN);
        loss = volt_tensor_item(l);
        if (step == 0) *first = loss;
        volt_optimizer_zero_grad(opt);
        assert_int_equal(volt_backward(l), VOLT_OK);
        volt_clip_grad_norm(volt_module_parameters(&m.base), 10.0, 2.0, true);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        volt_lr_scheduler_step(sched);
        volt_scope_end();
    }
    VT_ASSERT_NO_ERROR();
    volt_lr_scheduler_free(sched);
    volt_optimizer_free(opt);
    volt_module_free(&m.base);
    return loss;
}

static void test_each_optimizer_fits(void **state) {
    (void)state;
    volt_tensor *x, *y;
    make_data(&x, &y);
    const config configs[] = {{"SGD", sgd},         {"Adam", adam},       {"AdamW", adamw},
                              {"RMSprop", rmsprop}, {"Adagrad", adagrad}, {"Lion", lion}};
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) {
        double first = NAN, last = train(&configs[k], x, y, &first);
        fprintf(stderr, "%-8s mse %.4f -> %.4f (%.1fx)\n", configs[k].name, first, last,
                first / last);
        if (!(last * 10 < first))
            fail_msg("%s: the loss fell from %g to %g only", configs[k].name, first, last);
    }
    volt_tensor_free(x);
    volt_tensor_free(y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_each_optimizer_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
