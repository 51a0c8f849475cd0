/* test_flags.c: the effect of each Trainer flag — limit_train_batches,
 * accumulate_grad_batches (equal to one step on a 4x batch), gradient
 * clipping by norm and value, fast_dev_run, max_steps, max_time,
 * min_epochs with a stop request, val_check_interval, check_val_every_n_epoch,
 * overfit_batches, and the refusal of bad configurations. */
#include <sys/stat.h>

#include "train_fixture.h"

typedef struct {
    lin_module m;
    name_list rec;
    volt_datamodule *dm;
    volt_trainer *t;
} run_ctx;

/* Fits a recording module on n_train items (n_val validation items) in
 * batches of `batch`; returns the status. */
static volt_status fit(run_ctx *r, volt_trainer_config cfg, int64_t n_train, int64_t n_val,
                       int64_t batch) {
    memset(r, 0, sizeof *r);
    lin_init(&r->m, &lin_rec_ops, 3, 0.1);
    r->m.rec = &r->rec;
    r->dm = tiny_dm_new(n_train, n_val, 3, batch);
    r->t = volt_trainer_new(&cfg);
    assert_non_null(r->t);
    return volt_trainer_fit(r->t, &r->m.base, r->dm, NULL);
}

static void done(run_ctx *r) {
    list_clear(&r->rec);
    volt_trainer_free(r->t);
    volt_datamodule_free(r->dm);
    volt_module_free(&r->m.base);
}

static void test_limit_train_batches(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 2;
    cfg.limit_train_batches = 0.25; /* 8 batches -> 2 */
    run_ctx r;
    assert_int_equal(fit(&r, cfg, 16, 0, 2), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "training_step"), 2 * 2);
    assert_int_equal(volt_trainer_global_step(r.t), 4);
    done(&r);

    cfg.limit_train_batches = VOLT_BATCHES(3);
    assert_int_equal(fit(&r, cfg, 16, 0, 2), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "training_step"), 2 * 3);
    done(&r);
}

/* accumulate_grad_batches = 4 on batches of 2 gives the weights of one
 * step on batches of 8 (mean losses of equal-size batches). */
static void test_accumulation_equals_big_batch(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    cfg.accumulate_grad_batches = 4;
    run_ctx a, b;
    assert_int_equal(fit(&a, cfg, 16, 0, 2), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(a.t), 2);
    assert_int_equal(list_count(&a.rec, "optimizer_step"), 2);
    assert_int_equal(list_count(&a.rec, "on_before_zero_grad"), 2);
    cfg.accumulate_grad_batches = 1;
    assert_int_equal(fit(&b, cfg, 16, 0, 8), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(b.t), 2);
    double wb[4];
    for (int j = 0; j < 3; j++) wb[j] = volt_tensor_get_flat(b.m.w, j);
    wb[3] = volt_tensor_get_flat(b.m.b, 0);
    VT_ASSERT_CLOSE(a.m.w, wb, 3, 1e-12, 1e-14);
    VT_ASSERT_CLOSE(a.m.b, wb + 3, 1, 1e-12, 1e-14);
    /* and the weights did move */
    assert_true(fabs(wb[0] - 0.1) > 1e-3);
    done(&a);
    done(&b);
}

static void test_gradient_clipping(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    run_ctx r;
    assert_int_equal(fit(&r, cfg, 4, 0, 4), VOLT_OK);
    double unclipped = r.m.last_grad_norm;
    assert_true(unclipped > 0.1);
    done(&r);

    cfg.gradient_clip_val = 0.05;
    assert_int_equal(fit(&r, cfg, 4, 0, 4), VOLT_OK);
    assert_true(r.m.last_grad_norm <= 0.05 * (1 + 1e-9));
    assert_true(r.m.last_grad_norm > 0.049);
    done(&r);

    cfg.gradient_clip_val = 0.01;
    cfg.gradient_clip_algorithm = "value";
    assert_int_equal(fit(&r, cfg, 4, 0, 4), VOLT_OK);
    assert_true(r.m.last_grad_max <= 0.01 + 1e-15);
    assert_true(r.m.last_grad_max >= 0.01 - 1e-15);
    done(&r);
}

static void test_fast_dev_run(void **state) {
    (void)state;
    const char *dir = fresh_dir("fast_dev_run");
    volt_trainer_config cfg = quiet_config();
    cfg.fast_dev_run = 1;
    cfg.logger = true;
    cfg.default_root_dir = dir;
    run_ctx r;
    assert_int_equal(fit(&r, cfg, 16, 8, 2), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "training_step"), 1);
    assert_int_equal(list_count(&r.rec, "validation_step"), 1); /* no sanity check */
    assert_int_equal(list_count(&r.rec, "on_sanity_check_start"), 0);
    assert_int_equal(volt_trainer_current_epoch(r.t), 1);
    list_clear(&r.rec);
    assert_int_equal(volt_trainer_test(r.t, &r.m.base, r.dm, NULL, NULL), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "test_step"), 1);
    char path[1200];
    snprintf(path, sizeof path, "%s/volt_logs", dir);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0); /* nothing written */
    done(&r);
}

static void test_max_steps_time_min_epochs(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 10;
    cfg.max_steps = 3;
    run_ctx r;
    assert_int_equal(fit(&r, cfg, 8, 0, 2), VOLT_OK); /* 4 batches per epoch */
    assert_int_equal(list_count(&r.rec, "training_step"), 3);
    assert_int_equal(volt_trainer_global_step(r.t), 3);
    done(&r);

    cfg = quiet_config();
    cfg.max_time = 0; /* stops after the first batch */
    assert_int_equal(fit(&r, cfg, 8, 0, 2), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "training_step"), 1);
    done(&r);

    /* a stop requested at once still trains min_epochs whole epochs */
    cfg = quiet_config();
    cfg.max_epochs = 5;
    cfg.min_epochs = 2;
    memset(&r, 0, sizeof r);
    lin_init(&r.m, &lin_rec_ops, 3, 0.1);
    r.m.rec = &r.rec;
    r.m.stop_at_step = 0;
    r.dm = tiny_dm_new(8, 0, 3, 2);
    r.t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.base, r.dm, NULL), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "training_step"), 8);
    assert_int_equal(volt_trainer_current_epoch(r.t), 2);
    done(&r);

    /* without min_epochs the stop ends fit after the batch */
    cfg.min_epochs = VOLT_NONE;
    memset(&r, 0, sizeof r);
    lin_init(&r.m, &lin_rec_ops, 3, 0.1);
    r.m.rec = &r.rec;
    r.m.stop_at_step = 0;
    r.dm = tiny_dm_new(8, 0, 3, 2);
    r.t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.base, r.dm, NULL), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "training_step"), 1);
    done(&r);
}

static void test_val_check_interval(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 3;
    cfg.num_sanity_val_steps = 0;
    cfg.val_check_interval = 0.5;
    run_ctx r;
    assert_int_equal(fit(&r, cfg, 8, 4, 2), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "on_validation_start"), 2 * 3);
    assert_int_equal(list_count(&r.rec, "validation_step"), 2 * 3 * 2);
    done(&r);

    cfg.val_check_interval = 1.0;
    cfg.check_val_every_n_epoch = 2;
    assert_int_equal(fit(&r, cfg, 8, 4, 2), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "on_validation_start"), 1);
    done(&r);

    /* a count across epochs: every 3 batches over 3 epochs of 4 = 4 times */
    cfg.val_check_interval = VOLT_BATCHES(3);
    cfg.check_val_every_n_epoch = VOLT_NONE;
    assert_int_equal(fit(&r, cfg, 8, 4, 2), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "on_validation_start"), 4);
    done(&r);

    /* a count larger than an epoch needs check_val_every_n_epoch = None */
    /* (refused before any work: no log directory appears) */
    const char *dir = fresh_dir("val_check_refused");
    cfg.val_check_interval = 5;
    cfg.check_val_every_n_epoch = 1;
    cfg.logger = true;
    cfg.default_root_dir = dir;
    assert_int_equal(fit(&r, cfg, 8, 4, 2), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "val_check_interval = 5 batches exceeds the 4");
    assert_int_equal(list_count(&r.rec, "training_step"), 0);
    char path[1200];
    snprintf(path, sizeof path, "%s/volt_logs", dir);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0);
    done(&r);
}

static void test_sanity_steps_and_limits(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    cfg.num_sanity_val_steps = -1; /* all 4 validation batches */
    cfg.limit_val_batches = 0.5;   /* -> 2 */
    run_ctx r;
    assert_int_equal(fit(&r, cfg, 4, 8, 2), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "validation_step"), 2 + 2);
    done(&r);

    cfg = quiet_config();
    cfg.max_epochs = 2;
    cfg.overfit_batches = VOLT_BATCHES(1);
    assert_int_equal(fit(&r, cfg, 8, 8, 2), VOLT_OK);
    assert_int_equal(list_count(&r.rec, "training_step"), 2);
    assert_int_equal(list_count(&r.rec, "validation_step"), 1 + 2);
    done(&r);
}

static void expect_config_error(volt_trainer_config cfg, volt_status st, const char *msg) {
    assert_null(volt_trainer_new(&cfg));
    VT_ASSERT_ERROR(st, msg);
}

static void test_config_errors(void **state) {
    (void)state;
    volt_trainer_config c = quiet_config();
    c.max_epochs = -3;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "max_epochs = -3");
    c = quiet_config();
    c.min_epochs = 4;
    c.max_epochs = 2;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "min_epochs = 4 exceeds max_epochs = 2");
    c = quiet_config();
    c.limit_train_batches = 1.5;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "limit_train_batches = 1.5: a fraction");
    c = quiet_config();
    c.limit_val_batches = -0.5;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "limit_val_batches = -0.5 is negative");
    c = quiet_config();
    c.val_check_interval = 0;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "val_check_interval = 0");
    c = quiet_config();
    c.accumulate_grad_batches = 0;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "accumulate_grad_batches = 0");
    c = quiet_config();
    c.gradient_clip_algorithm = "l3";
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "gradient_clip_algorithm 'l3'");
    c = quiet_config();
    c.num_sanity_val_steps = -2;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "num_sanity_val_steps = -2");
    c = quiet_config();
    c.check_val_every_n_epoch = 0;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "check_val_every_n_epoch = 0");
    c = quiet_config();
    c.precision = "16-mixed";
    expect_config_error(c, VOLT_ERR_UNSUPPORTED, "precision '16-mixed' needs a GPU");
    c = quiet_config();
    c.precision = "fp9";
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "precision 'fp9' is unknown");
    c = quiet_config();
    c.strategy = "fsdp";
    expect_config_error(c, VOLT_ERR_UNSUPPORTED, "strategy 'fsdp' is not supported yet");
    c = quiet_config();
    c.strategy = "dp";
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "strategy 'dp' is unknown");
    c = quiet_config();
    c.bucket_cap_mb = -1;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "bucket_cap_mb = -1");
    c = quiet_config();
    c.max_time = -1;
    expect_config_error(c, VOLT_ERR_INVALID_ARGUMENT, "max_time = -1");
}

static volt_tensor *vector_loss_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    (void)s;
    return volt_sub(lin_forward((lin_module *)self, b->x), b->y); /* [B, 1], not a scalar */
}

static volt_status no_optimizer(volt_module *self, volt_optim_setup *o) {
    (void)self;
    (void)o;
    return VOLT_OK;
}

static void test_module_errors(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    volt_datamodule *dm = tiny_dm_new(4, 0, 3, 2);
    volt_trainer *t = volt_trainer_new(&cfg);
    lin_module m;

    static const volt_module_ops no_step = {.name = "nostep"};
    lin_init(&m, &no_step, 3, 0.1);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fit: module 'nostep' has no training_step");
    volt_module_free(&m.base);

    static const volt_module_ops vec = {
        .name = "vec", .training_step = vector_loss_step, .configure_optimizers = lin_configure};
    lin_init(&m, &vec, 3, 0.1);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "training_step failed at epoch 0, batch 0: the loss f64[2,1] "
                                    "is not a scalar");
    volt_module_free(&m.base);

    static const volt_module_ops noopt = {
        .name = "noopt", .training_step = lin_training_step, .configure_optimizers = no_optimizer};
    lin_init(&m, &noopt, 3, 0.1);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "configure_optimizers of module 'noopt' added no");
    volt_module_free(&m.base);

    lin_init(&m, &lin_plain_ops, 3, 0.1);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, "/nonexistent/x.ckpt"), VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "fit: cannot resume from ckpt_path '/nonexistent/x.ckpt'");
    /* detect_anomaly: a NaN loss stops fit */
    volt_trainer_free(t);
    cfg.detect_anomaly = true;
    t = volt_trainer_new(&cfg);
    double *w = volt_tensor_data(m.w);
    w[0] = NAN;
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "detect_anomaly: the loss is nan");
    volt_module_free(&m.base);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_limit_train_batches),
        VT_TEST(test_accumulation_equals_big_batch),
        VT_TEST(test_gradient_clipping),
        VT_TEST(test_fast_dev_run),
        VT_TEST(test_max_steps_time_min_epochs),
        VT_TEST(test_val_check_interval),
        VT_TEST(test_sanity_steps_and_limits),
        VT_TEST(test_config_errors),
        VT_TEST(test_module_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
