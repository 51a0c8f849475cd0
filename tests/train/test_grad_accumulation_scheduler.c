/* test_grad_accumulation_scheduler.c: GradientAccumulationScheduler —
 * optimizer steps per epoch follow the schedule ({0: 1, 2: 4} over 8
 * batches: 8, 8, 2, 2; a schedule without epoch 0 starts at factor 1), an
 * epoch at factor 2 trains exactly as a trainer configured with
 * accumulate_grad_batches = 2, the refusals (manual optimization, a trainer
 * accumulating already) and the schedules refused at construction. */
#include "train_fixture.h"

#define MAXEP 8

typedef struct {
    lin_module lin;
    int n_epochs;
    int64_t steps_at_end[MAXEP]; /* global step at each on_train_epoch_end */
    int64_t factor[MAXEP];       /* accumulate_grad_batches at each epoch */
} gas_module;

static volt_status rec_epoch_end(volt_module *self, volt_step *step) {
    gas_module *m = (gas_module *)self;
    volt_trainer *t = volt_step_trainer(step);
    if (m->n_epochs < MAXEP) {
        m->factor[m->n_epochs] = volt_trainer_accumulate_grad_batches(t);
        m->steps_at_end[m->n_epochs++] = volt_trainer_global_step(t);
    }
    return VOLT_OK;
}

static const volt_module_ops gas_module_ops = {
    .name = "gas_lin",
    .training_step = lin_training_step,
    .configure_optimizers = lin_configure,
    .on_train_epoch_end = rec_epoch_end,
};

static const volt_module_ops manual_ops = {
    .name = "manual_lin",
    .training_step = lin_training_step,
    .configure_optimizers = lin_configure,
    .manual_optimization = true,
};

static volt_trainer_config gas_config(int64_t epochs) {
    volt_trainer_config c = quiet_config();
    c.max_epochs = epochs;
    c.enable_checkpointing = false;
    c.default_root_dir = fresh_dir("gas");
    return c;
}

/* Fits m for `epochs` epochs over 8 batches with the schedule (n 0: no
 * callback) and the configured factor. */
static volt_status fit(gas_module *m, int64_t epochs, int n, const int64_t *ep, const int64_t *f,
                       int64_t configured) {
    volt_datamodule *dm = tiny_dm_new(16, 0, 3, 2);
    volt_trainer_config c = gas_config(epochs);
    c.accumulate_grad_batches = configured;
    volt_trainer *t = volt_trainer_new(&c);
    if (n > 0) {
        volt_callback *cb = volt_grad_accumulation_scheduler_new(n, ep, f);
        assert_non_null(cb);
        assert_int_equal(volt_trainer_add_callback(t, cb), VOLT_OK);
    }
    volt_status st = volt_trainer_fit(t, &m->lin.base, dm, NULL);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    return st;
}

static void gas_init(gas_module *m, const volt_module_ops *ops) {
    memset(m, 0, sizeof *m);
    lin_init(&m->lin, ops, 3, 0.05);
}

static void test_steps_follow_schedule(void **state) {
    (void)state;
    gas_module m;
    gas_init(&m, &gas_module_ops);
    assert_int_equal(fit(&m, 4, 2, (int64_t[]){0, 2}, (int64_t[]){1, 4}, 1), VOLT_OK);
    assert_int_equal(m.n_epochs, 4);
    const int64_t want_steps[] = {8, 16, 18, 20}, want_factor[] = {1, 1, 4, 4};
    for (int e = 0; e < 4; e++) {
        assert_int_equal(m.steps_at_end[e], want_steps[e]);
        assert_int_equal(m.factor[e], want_factor[e]);
    }
    volt_module_free(&m.lin.base);

    /* no entry for epoch 0: factor 1 until epoch 1, then 2, then 8 */
    gas_init(&m, &gas_module_ops);
    assert_int_equal(fit(&m, 3, 2, (int64_t[]){1, 2}, (int64_t[]){2, 8}, 1), VOLT_OK);
    const int64_t want2[] = {8, 12, 13};
    for (int e = 0; e < 3; e++) assert_int_equal(m.steps_at_end[e], want2[e]);
    volt_module_free(&m.lin.base);
}

static void assert_same_weights(const lin_module *a, const lin_module *b) {
    for (int j = 0; j < 3; j++)
        assert_true(volt_tensor_get_flat(a->w, j) == volt_tensor_get_flat(b->w, j));
    assert_true(volt_tensor_get_flat(a->b, 0) == volt_tensor_get_flat(b->b, 0));
}

/* Epoch 0 at factor 1 then epoch 1 at factor 2 by the schedule equals a fit
 * of 1 epoch plainly followed by a fit of 1 epoch with
 * accumulate_grad_batches = 2 (SGD without momentum carries no state). */
static void test_equals_configured_accumulation(void **state) {
    (void)state;
    gas_module a, b;
    gas_init(&a, &gas_module_ops);
    gas_init(&b, &gas_module_ops);
    assert_int_equal(fit(&a, 2, 2, (int64_t[]){0, 1}, (int64_t[]){1, 2}, 1), VOLT_OK);
    assert_int_equal(fit(&b, 1, 0, NULL, NULL, 1), VOLT_OK);
    assert_int_equal(fit(&b, 1, 0, NULL, NULL, 2), VOLT_OK);
    assert_int_equal(a.steps_at_end[1], 12);
    assert_int_equal(b.steps_at_end[1], 4);
    assert_same_weights(&a.lin, &b.lin);
    /* and it is not what factor 1 throughout gives */
    gas_module c;
    gas_init(&c, &gas_module_ops);
    assert_int_equal(fit(&c, 2, 0, NULL, NULL, 1), VOLT_OK);
    assert_true(volt_tensor_get_flat(c.lin.w, 0) != volt_tensor_get_flat(a.lin.w, 0));
    volt_module_free(&a.lin.base);
    volt_module_free(&b.lin.base);
    volt_module_free(&c.lin.base);
}

static void test_refused_at_fit_start(void **state) {
    (void)state;
    gas_module m;
    gas_init(&m, &manual_ops);
    assert_int_equal(fit(&m, 1, 1, (int64_t[]){0}, (int64_t[]){2}, 1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "on_fit_start failed at epoch 0: GradientAccumulationScheduler: module "
                    "'manual_lin' uses manual optimization");
    volt_module_free(&m.lin.base);

    gas_init(&m, &gas_module_ops);
    assert_int_equal(fit(&m, 1, 1, (int64_t[]){0}, (int64_t[]){2}, 3), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "GradientAccumulationScheduler: the trainer has accumulate_grad_batches = 3");
    assert_int_equal(m.n_epochs, 0);
    volt_module_free(&m.lin.base);
}

static void test_bad_schedules(void **state) {
    (void)state;
    assert_null(volt_grad_accumulation_scheduler_new(0, (int64_t[]){0}, (int64_t[]){1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "at least one entry (n = 0");
    assert_null(volt_grad_accumulation_scheduler_new(1, NULL, (int64_t[]){1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "epochs NULL");
    assert_null(volt_grad_accumulation_scheduler_new(2, (int64_t[]){0, 3}, (int64_t[]){1, 0}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "GradientAccumulationScheduler: factors[1] = 0 (epoch 3) must be >= 1");
    assert_null(volt_grad_accumulation_scheduler_new(2, (int64_t[]){-1, 3}, (int64_t[]){1, 2}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "epochs[0] = -1 is negative");
    assert_null(
        volt_grad_accumulation_scheduler_new(3, (int64_t[]){0, 4, 4}, (int64_t[]){1, 2, 3}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "epochs must be strictly ascending: epochs[2] = 4 after epochs[1] = 4");
    volt_callback *cb = volt_grad_accumulation_scheduler_new(1, (int64_t[]){5}, (int64_t[]){3});
    assert_non_null(cb);
    assert_string_equal(cb->ops->name, "GradientAccumulationScheduler");
    cb->ops->free(cb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_steps_follow_schedule),
        VT_TEST(test_equals_configured_accumulation),
        VT_TEST(test_refused_at_fit_start),
        VT_TEST(test_bad_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
