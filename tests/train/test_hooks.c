/* test_hooks.c: the hook order of fit (sanity check, gradient accumulation,
 * mid-epoch validation, a monitoring callback, datamodule set-up and
 * tear-down, model eval/train switches, batch transfer), validate, test and
 * predict, with a datamodule or with loaders, against expected lists written
 * out here from Lightning 2.x's order; skipped batches and epochs. */
#include "train_fixture.h"

/* A callback recording "Callback.<hook>" (or "Monitor.<hook>"). */
typedef struct {
    volt_callback base;
    name_list *rec;
    const char *prefix;
} rec_callback;

static volt_status cb_hook(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    rec_callback *c = (rec_callback *)self;
    list_add(c->rec, c->prefix, volt_step_hook_name(step));
    return VOLT_OK;
}

#define CB_ALL(f) .f = cb_hook
static const volt_callback_ops rec_cb_ops = {
    .name = "rec",
    CB_ALL(setup),
    CB_ALL(teardown),
    CB_ALL(on_fit_start),
    CB_ALL(on_fit_end),
    CB_ALL(on_sanity_check_start),
    CB_ALL(on_sanity_check_end),
    CB_ALL(on_train_start),
    CB_ALL(on_train_end),
    CB_ALL(on_train_epoch_start),
    CB_ALL(on_train_epoch_end),
    CB_ALL(on_train_batch_start),
    CB_ALL(on_train_batch_end),
    CB_ALL(on_validation_start),
    CB_ALL(on_validation_end),
    CB_ALL(on_validation_epoch_start),
    CB_ALL(on_validation_epoch_end),
    CB_ALL(on_validation_batch_start),
    CB_ALL(on_validation_batch_end),
    CB_ALL(on_test_start),
    CB_ALL(on_test_end),
    CB_ALL(on_test_epoch_start),
    CB_ALL(on_test_epoch_end),
    CB_ALL(on_test_batch_start),
    CB_ALL(on_test_batch_end),
    CB_ALL(on_predict_start),
    CB_ALL(on_predict_end),
    CB_ALL(on_predict_epoch_start),
    CB_ALL(on_predict_epoch_end),
    CB_ALL(on_predict_batch_start),
    CB_ALL(on_predict_batch_end),
    CB_ALL(on_before_backward),
    CB_ALL(on_after_backward),
    CB_ALL(on_before_optimizer_step),
    CB_ALL(on_before_zero_grad),
};
static const volt_callback_ops monitor_cb_ops = {
    .name = "monitor", .monitoring = true, CB_ALL(on_train_epoch_end)};

/* "Callback.<name>" then "<name>". */
static void both(name_list *l, const char *name) {
    list_add(l, "Callback.", name);
    list_add(l, "", name);
}

/* The batch-transfer hooks (module only) before every batch. */
static void expect_transfer(name_list *l) {
    list_add(l, "", "on_before_batch_transfer");
    list_add(l, "", "transfer_batch_to_device");
    list_add(l, "", "on_after_batch_transfer");
}

static void expect_eval(name_list *l, const char *kind, const char *step, int n_batches) {
    char name[64];
    snprintf(name, sizeof name, "on_%s_model_eval", kind); /* module only */
    list_add(l, "", name);
    snprintf(name, sizeof name, "on_%s_start", kind);
    both(l, name);
    snprintf(name, sizeof name, "on_%s_epoch_start", kind);
    both(l, name);
    for (int i = 0; i < n_batches; i++) {
        expect_transfer(l);
        snprintf(name, sizeof name, "on_%s_batch_start", kind);
        both(l, name);
        list_add(l, "", step);
        snprintf(name, sizeof name, "on_%s_batch_end", kind);
        both(l, name);
    }
    snprintf(name, sizeof name, "on_%s_epoch_end", kind);
    both(l, name);
    snprintf(name, sizeof name, "on_%s_end", kind);
    both(l, name);
    if (strcmp(kind, "predict") != 0) { /* Lightning has no on_predict_model_train */
        snprintf(name, sizeof name, "on_%s_model_train", kind);
        list_add(l, "", name);
    }
}

/* A training batch with accumulation: zero_grad on the first batch of a
 * window, the optimizer hooks on its last. */
static void expect_train_batch(name_list *l, bool first_of_window, bool steps) {
    expect_transfer(l);
    both(l, "on_train_batch_start");
    list_add(l, "", "training_step");
    if (first_of_window) both(l, "on_before_zero_grad");
    both(l, "on_before_backward");
    both(l, "on_after_backward");
    if (steps) {
        both(l, "on_before_optimizer_step");
        list_add(l, "", "configure_gradient_clipping");
        list_add(l, "", "optimizer_step");
    }
    both(l, "on_train_batch_end");
}

typedef struct {
    lin_module m;
    name_list got, want;
    rec_callback cb, mon;
    volt_datamodule *dm;
    volt_trainer *t;
} hook_run;

static void hook_run_init(hook_run *r, volt_trainer_config cfg, int64_t n_train, int64_t n_val) {
    memset(r, 0, sizeof *r);
    lin_init(&r->m, &lin_rec_ops, 3, 0.01);
    r->m.rec = &r->got;
    r->dm = tiny_dm_new(n_train, n_val, 3, 2);
    ((tiny_dm *)r->dm)->rec = &r->got;
    r->t = volt_trainer_new(&cfg);
    assert_non_null(r->t);
    r->cb = (rec_callback){{&rec_cb_ops, NULL}, &r->got, "Callback."};
    r->mon = (rec_callback){{&monitor_cb_ops, NULL}, &r->got, "Monitor."};
    assert_int_equal(volt_trainer_add_callback(r->t, &r->cb.base), VOLT_OK);
    assert_int_equal(volt_trainer_add_callback(r->t, &r->mon.base), VOLT_OK);
}

static void hook_run_free(hook_run *r) {
    list_clear(&r->got);
    list_clear(&r->want);
    volt_trainer_free(r->t);
    volt_datamodule_free(r->dm);
    volt_module_free(&r->m.base);
}

/* 4 training batches, accumulation 2, validation every 2 batches (0.5),
 * a 1-batch sanity check, 2 validation batches, one epoch. */
static void test_fit_order(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    cfg.accumulate_grad_batches = 2;
    cfg.val_check_interval = 0.5;
    cfg.num_sanity_val_steps = 1;
    hook_run r;
    hook_run_init(&r, cfg, 8, 4);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.base, r.dm, NULL), VOLT_OK);

    name_list *w = &r.want;
    list_add(w, "Datamodule.", "setup(fit)"); /* datamodule, callbacks, module */
    both(w, "setup");
    list_add(w, "", "configure_optimizers");
    both(w, "on_fit_start");
    both(w, "on_sanity_check_start");
    expect_eval(w, "validation", "validation_step", 1);
    both(w, "on_sanity_check_end");
    both(w, "on_train_start");
    both(w, "on_train_epoch_start");
    for (int half = 0; half < 2; half++) {
        expect_train_batch(w, true, false);
        expect_train_batch(w, false, true);
        expect_eval(w, "validation", "validation_step", 2);
    }
    both(w, "on_train_epoch_end");
    list_add(w, "Monitor.", "on_train_epoch_end"); /* monitoring callbacks after the module */
    both(w, "on_train_end");
    both(w, "on_fit_end");
    list_add(w, "Datamodule.", "teardown(fit)");
    both(w, "teardown");
    list_assert_equal(&r.got, w);
    tiny_dm *dm = (tiny_dm *)r.dm;
    assert_int_equal(dm->setups[VOLT_STAGE_FIT], 1);
    assert_int_equal(dm->teardowns[VOLT_STAGE_FIT], 1);
    assert_int_equal(volt_trainer_global_step(r.t), 2);
    assert_int_equal(volt_trainer_current_epoch(r.t), 1);
    hook_run_free(&r);
}

static void test_validate_test_predict_order(void **state) {
    (void)state;
    hook_run r;
    hook_run_init(&r, quiet_config(), 4, 6);
    volt_metrics *metrics = NULL;
    assert_int_equal(volt_trainer_validate(r.t, &r.m.base, r.dm, NULL, &metrics), VOLT_OK);
    assert_non_null(metrics);
    volt_metrics_free(metrics);
    list_add(&r.want, "Datamodule.", "setup(validate)");
    both(&r.want, "setup");
    expect_eval(&r.want, "validation", "validation_step", 3);
    list_add(&r.want, "Datamodule.", "teardown(validate)");
    both(&r.want, "teardown");
    list_assert_equal(&r.got, &r.want);

    list_clear(&r.got);
    list_clear(&r.want);
    assert_int_equal(volt_trainer_test(r.t, &r.m.base, r.dm, NULL, NULL), VOLT_OK);
    list_add(&r.want, "Datamodule.", "setup(test)");
    both(&r.want, "setup");
    expect_eval(&r.want, "test", "test_step", 3);
    list_add(&r.want, "Datamodule.", "teardown(test)");
    both(&r.want, "teardown");
    list_assert_equal(&r.got, &r.want);

    list_clear(&r.got);
    list_clear(&r.want);
    volt_predictions *p = NULL;
    assert_int_equal(volt_trainer_predict(r.t, &r.m.base, r.dm, NULL, &p), VOLT_OK);
    list_add(&r.want, "Datamodule.", "setup(predict)");
    both(&r.want, "setup");
    expect_eval(&r.want, "predict", "predict_step", 3);
    list_add(&r.want, "Datamodule.", "teardown(predict)");
    both(&r.want, "teardown");
    list_assert_equal(&r.got, &r.want);
    /* one prediction per batch: [2, 1] each, equal to x w + b */
    assert_non_null(p);
    assert_int_equal(p->count, 3);
    VT_ASSERT_SHAPE(p->items[0], 2, 1);
    double x0 = sin(1000.0), x1 = sin(1002.0), x2 = sin(1004.0);
    double want0 = 0.1 * x0 + 0.2 * x1 + 0.3 * x2;
    VT_ASSERT_CLOSE(p->items[0], ((double[]){want0, volt_tensor_get_flat(p->items[0], 1)}), 2,
                    1e-12, 1e-12);
    assert_false(p->items[0]->requires_grad);
    volt_predictions_free(p);
    hook_run_free(&r);
}

/* A hook that fails stops fit; on_exception runs and the message names the
 * hook, the epoch and the batch. */
static void test_failure_names_hook(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 3;
    hook_run r;
    hook_run_init(&r, cfg, 8, 0);
    r.m.fail_epoch = 1;
    r.m.fail_batch = 2;
    volt_status st = volt_trainer_fit(r.t, &r.m.base, r.dm, NULL);
    assert_int_equal(st, VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "fit: training_step failed at epoch 1, batch 2: deliberate failure");
    assert_true(r.m.exception_seen);
    assert_int_equal(list_count(&r.got, "on_exception"), 1);
    assert_int_equal(list_count(&r.got, "on_train_end"), 0);
    /* a failed run skips the teardown hooks, as Lightning does */
    assert_int_equal(list_count(&r.got, "Datamodule.setup(fit)"), 1);
    assert_int_equal(list_count(&r.got, "Datamodule.teardown(fit)"), 0);
    assert_int_equal(list_count(&r.got, "teardown"), 0);
    assert_int_equal(list_count(&r.got, "training_step"), 4 + 3);
    hook_run_free(&r);
}

/* A callback with private state: its state_dict, and the "{}" default. */
typedef struct {
    volt_callback base;
    int64_t calls;
    bool freed;
} counting_callback;

static volt_status count_batch(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    (void)step;
    ((counting_callback *)self)->calls++;
    return VOLT_OK;
}

static char *count_state(volt_callback *self) {
    char *s = malloc(32);
    snprintf(s, 32, "{\"calls\": %lld}", (long long)((counting_callback *)self)->calls);
    return s;
}

static void count_free(volt_callback *self) { ((counting_callback *)self)->freed = true; }

static void test_callback_state(void **state) {
    (void)state;
    static const volt_callback_ops ops = {.name = "count",
                                          .on_train_batch_end = count_batch,
                                          .state_dict = count_state,
                                          .free = count_free};
    counting_callback cb = {{&ops, NULL}, 0, false};
    lin_module m;
    lin_init(&m, &lin_plain_ops, 3, 0.1);
    volt_datamodule *dm = tiny_dm_new(6, 0, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 2;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_add_callback(t, &cb.base), VOLT_OK);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    char *json = volt_callback_state_dict(&cb.base);
    assert_string_equal(json, "{\"calls\": 6}");
    free(json);
    static const volt_callback_ops bare = {.name = "bare"};
    volt_callback plain = {&bare, NULL};
    json = volt_callback_state_dict(&plain);
    assert_string_equal(json, "{}");
    free(json);
    volt_trainer_free(t); /* frees the callbacks it was given */
    assert_true(cb.freed);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_fit_order),
        VT_TEST(test_validate_test_predict_order),
        VT_TEST(test_failure_names_hook),
        VT_TEST(test_callback_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
