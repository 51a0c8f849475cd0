/* test_optim_loop.c: how fit drives optimizers — schedulers by step and by
 * epoch with a frequency, ReduceLROnPlateau's monitor, one optimizer in
 * automatic optimization, and manual optimization (two optimizers,
 * volt_manual_backward with its hooks, global_step counting their steps). */
#include "train/train_impl.h"
#include "train_fixture.h"

typedef struct {
    lin_module lin;
    volt_interval interval;
    int64_t frequency;
    int kind; /* 0 StepLR, 1 plateau without its metric, 2 two optimizers */
} sched_module;

static volt_status sched_configure(volt_module *self, volt_optim_setup *o) {
    sched_module *m = (sched_module *)self;
    volt_optimizer *sgd =
        volt_sgd_new(volt_module_parameters(self), &(volt_sgd_options){.lr = 0.1});
    if (m->kind == 2) {
        volt_status st = volt_optim_setup_add(o, sgd, NULL, VOLT_INTERVAL_EPOCH);
        if (st) return st;
        sgd = volt_sgd_new(volt_module_parameters(self), &(volt_sgd_options){.lr = 0.1});
        return volt_optim_setup_add(o, sgd, NULL, VOLT_INTERVAL_EPOCH);
    }
    volt_lr_scheduler *s =
        m->kind == 0 ? volt_step_lr_new(sgd, 1, 0.5) : volt_reduce_lr_on_plateau_new(sgd, NULL);
    volt_lr_scheduler_config c = {m->interval, m->frequency, m->kind == 1 ? "val_loss" : NULL,
                                  true};
    return volt_optim_setup_add_ex(o, sgd, s, &c);
}

static const volt_module_ops sched_ops = {
    .name = "sched", .training_step = lin_training_step, .configure_optimizers = sched_configure};

static volt_status fit_sched(sched_module *m, int kind, volt_interval interval, int64_t frequency,
                             int64_t epochs, double *lr) {
    memset(m, 0, sizeof *m);
    lin_init(&m->lin, &sched_ops, 3, 0.1);
    m->kind = kind;
    m->interval = interval;
    m->frequency = frequency;
    volt_datamodule *dm = tiny_dm_new(8, 0, 3, 2); /* 4 batches */
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = epochs;
    volt_trainer *t = volt_trainer_new(&cfg);
    volt_status st = volt_trainer_fit(t, &m->lin.base, dm, NULL);
    if (!st) *lr = volt_optimizer_lr(volt_trainer_optimizer(t, 0), 0);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m->lin.base);
    return st;
}

static void test_scheduler_intervals(void **state) {
    (void)state;
    sched_module m;
    double lr = 0;
    assert_int_equal(fit_sched(&m, 0, VOLT_INTERVAL_STEP, 1, 1, &lr), VOLT_OK);
    assert_true(fabs(lr - 0.1 * pow(0.5, 4)) < 1e-15); /* 4 optimizer steps */
    assert_int_equal(fit_sched(&m, 0, VOLT_INTERVAL_STEP, 2, 1, &lr), VOLT_OK);
    assert_true(fabs(lr - 0.1 * pow(0.5, 2)) < 1e-15);
    assert_int_equal(fit_sched(&m, 0, VOLT_INTERVAL_EPOCH, 1, 3, &lr), VOLT_OK);
    assert_true(fabs(lr - 0.1 * pow(0.5, 3)) < 1e-15);
    assert_int_equal(fit_sched(&m, 0, VOLT_INTERVAL_EPOCH, 2, 3, &lr), VOLT_OK);
    assert_true(fabs(lr - 0.1 * 0.5) < 1e-15); /* after epoch 2 only */
    assert_int_equal(fit_sched(&m, 1, VOLT_INTERVAL_EPOCH, 1, 1, &lr), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "ReduceLROnPlateau conditioned on metric 'val_loss', which is not available");
    assert_int_equal(fit_sched(&m, 2, VOLT_INTERVAL_EPOCH, 1, 1, &lr), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "added 2 optimizers; automatic optimization takes "
                                               "one");
}

/* Manual optimization: each optimizer steps on its own parameter. */
static volt_tensor *manual_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    lin_module *m = (lin_module *)self;
    volt_trainer *t = volt_step_trainer(s);
    for (int k = 0; k < 2; k++) {
        volt_optimizer *opt = volt_trainer_optimizer(t, k);
        volt_optimizer_zero_grad(opt);
        volt_tensor *loss = volt_mse_loss(lin_forward(m, b->x), b->y, VOLT_REDUCTION_MEAN);
        if (volt_manual_backward(s, loss)) return NULL;
        if (volt_optimizer_step(opt)) return NULL;
    }
    return NULL;
}

static volt_status manual_configure(volt_module *self, volt_optim_setup *o) {
    lin_module *m = (lin_module *)self;
    volt_params pw = {1, &m->w, NULL}, pb = {1, &m->b, NULL};
    volt_status st = volt_optim_setup_add(o, volt_sgd_new(pw, &(volt_sgd_options){.lr = 0.1}), NULL,
                                          VOLT_INTERVAL_EPOCH);
    if (st) return st;
    return volt_optim_setup_add(o, volt_sgd_new(pb, &(volt_sgd_options){.lr = 0.1}), NULL,
                                VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops manual_ops = {
    .name = "manual",
    .manual_optimization = true,
    .training_step = manual_step,
    .configure_optimizers = manual_configure,
    .on_before_backward = lin_hook,
    .on_after_backward = lin_hook,
    .on_before_zero_grad = lin_hook,
};

static void test_manual_optimization(void **state) {
    (void)state;
    lin_module m;
    name_list rec = {0};
    lin_init(&m, &manual_ops, 3, 0.1);
    m.rec = &rec;
    volt_datamodule *dm = tiny_dm_new(8, 0, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(t), 8); /* 4 batches x 2 optimizers */
    assert_int_equal(list_count(&rec, "on_before_backward"), 8);
    assert_int_equal(list_count(&rec, "on_after_backward"), 8);
    assert_int_equal(list_count(&rec, "on_before_zero_grad"), 0);
    assert_true(fabs(volt_tensor_get_flat(m.b, 0)) > 1e-6); /* both parameters moved */
    assert_true(fabs(volt_tensor_get_flat(m.w, 0) - 0.1) > 1e-6);
    list_clear(&rec);
    volt_trainer_free(t);

    /* manual optimization refuses accumulation */
    cfg.accumulate_grad_batches = 2;
    t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "accumulate_grad_batches = 2 needs automatic");
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

/* configure_optimizers errors: a failed constructor, a plateau scheduler
 * without a monitor, a bad frequency; what was handed over is freed. */
static void test_setup_errors(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    volt_trainer *t = volt_trainer_new(&cfg);
    volt_optim_setup setup = {t};
    assert_int_equal(volt_optim_setup_add(&setup, NULL, NULL, VOLT_INTERVAL_EPOCH),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "configure_optimizers: NULL optimizer");
    lin_module m;
    lin_init(&m, &lin_plain_ops, 3, 0.1);
    volt_optimizer *sgd =
        volt_sgd_new(volt_module_parameters(&m.base), &(volt_sgd_options){.lr = 0.1});
    assert_int_equal(volt_optim_setup_add(&setup, sgd, volt_reduce_lr_on_plateau_new(sgd, NULL),
                                          VOLT_INTERVAL_EPOCH),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "ReduceLROnPlateau needs a monitor");
    sgd = volt_sgd_new(volt_module_parameters(&m.base), &(volt_sgd_options){.lr = 0.1});
    volt_lr_scheduler_config c = {VOLT_INTERVAL_STEP, -2, NULL, true};
    assert_int_equal(volt_optim_setup_add_ex(&setup, sgd, NULL, &c), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "frequency must be >= 1");
    assert_int_equal(volt_trainer_num_optimizers(t), 0);
    assert_null(volt_trainer_optimizer(t, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "no optimizer 0 (there are 0)");
    volt_trainer_free(t);
    volt_module_free(&m.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_scheduler_intervals),
        VT_TEST(test_manual_optimization),
        VT_TEST(test_setup_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
