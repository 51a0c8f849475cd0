/* test_control.c: what steers a run besides the flags — training_step
 * returning NULL (skip the batch) with and without accumulation,
 * volt_step_skip_epoch from on_train_batch_start (and its refusal
 * elsewhere), the default and overridden model eval/train switches, the
 * batch-transfer hooks editing a batch, the loader entry points (results
 * equal to the datamodule's, loaders left to the caller), deterministic=true
 * (bitwise-identical weights, refused settings) and inference_mode (no-grad
 * either way). */
#include "train_fixture.h"

/* ------------------------------------------------------ a steerable module */

typedef struct {
    lin_module lin;
    uint64_t skip_mask;           /* bit i: training_step returns NULL (no error) at batch i */
    int64_t cut_epoch, cut_batch; /* on_train_batch_start skips the rest of that epoch */
    bool skip_in_step;            /* misuse: volt_step_skip_epoch from training_step */
    int null_outputs;             /* on_train_batch_end calls that saw NULL outputs */
    double dropout;               /* > 0: dropout on x in training_step (uses the RNG) */
    int grad_seen, eval_seen, train_seen; /* from validation/test/predict steps */
} ctl_module;

static volt_tensor *ctl_training_step(volt_module *self, volt_batch *b, int64_t i,
                                      volt_step *step) {
    ctl_module *m = (ctl_module *)self;
    if (m->lin.rec) list_add(m->lin.rec, "", "training_step");
    if (m->skip_in_step) {
        volt_step_skip_epoch(step); /* refused: records the error */
        return NULL;
    }
    if (i < 64 && ((m->skip_mask >> i) & 1u)) return NULL;
    volt_tensor *x = b->x;
    if (m->dropout > 0) x = volt_dropout(x, m->dropout, true, NULL);
    return volt_mse_loss(lin_forward(&m->lin, x), b->y, VOLT_REDUCTION_MEAN);
}

static volt_status ctl_batch_start(volt_module *self, volt_step *step) {
    ctl_module *m = (ctl_module *)self;
    lin_hook(self, step);
    if (volt_trainer_current_epoch(volt_step_trainer(step)) == m->cut_epoch &&
        volt_step_batch_idx(step) == m->cut_batch)
        return volt_step_skip_epoch(step);
    return VOLT_OK;
}

static volt_status ctl_batch_end(volt_module *self, volt_step *step) {
    ctl_module *m = (ctl_module *)self;
    lin_hook(self, step);
    if (!volt_step_outputs(step)) m->null_outputs++;
    return VOLT_OK;
}

static volt_tensor *ctl_eval_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    ctl_module *m = (ctl_module *)self;
    m->grad_seen += volt_grad_enabled();
    m->eval_seen += !volt_module_is_training(self);
    m->train_seen += volt_module_is_training(self);
    return lin_eval_step(self, b, i, step);
}

static const volt_module_ops ctl_ops = {
    .name = "ctl",
    .training_step = ctl_training_step,
    .validation_step = ctl_eval_step,
    .test_step = ctl_eval_step,
    .predict_step = ctl_eval_step,
    .configure_optimizers = lin_configure,
    .on_train_batch_start = ctl_batch_start,
    .on_train_batch_end = ctl_batch_end,
    .on_train_epoch_end = lin_hook,
    .on_before_zero_grad = lin_hook,
    .on_before_backward = lin_hook,
    .on_after_backward = lin_hook,
    .on_before_optimizer_step = lin_hook,
    .optimizer_step = lin_hook,
    .on_exception = lin_hook,
};

static void ctl_init(ctl_module *m, const volt_module_ops *ops, name_list *rec) {
    memset(m, 0, sizeof *m);
    lin_init(&m->lin, ops, 3, 0.1);
    m->lin.rec = rec;
    m->cut_epoch = m->cut_batch = -1;
}

static void add_all(name_list *l, int n, const char *const *names) {
    for (int i = 0; i < n; i++) list_add(l, "", names[i]);
}

/* ------------------------------------------------------------ skipping */

/* Accumulation 2 over 4 batches; batches 0 and 3 return NULL. Batch 1
 * zeroes (the window's first gradient) and steps; batch 2 zeroes (a new
 * window); batch 3 produces nothing but closes a window holding batch 2's
 * gradient, so the optimizer still steps. */
static void test_skip_batches_with_accumulation(void **state) {
    (void)state;
    name_list got = {0}, want = {0};
    ctl_module m;
    ctl_init(&m, &ctl_ops, &got);
    m.skip_mask = (1u << 0) | (1u << 3);
    volt_datamodule *dm = tiny_dm_new(8, 0, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    cfg.accumulate_grad_batches = 2;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    add_all(&want, 3,
            (const char *const[]){"configure_optimizers", "on_train_batch_start", "training_step"});
    add_all(&want, 1, (const char *const[]){"on_train_batch_end"});
    add_all(&want, 9,
            (const char *const[]){"on_train_batch_start", "training_step", "on_before_zero_grad",
                                  "on_before_backward", "on_after_backward",
                                  "on_before_optimizer_step", "optimizer_step",
                                  "on_train_batch_end", "on_train_batch_start"});
    add_all(&want, 5,
            (const char *const[]){"training_step", "on_before_zero_grad", "on_before_backward",
                                  "on_after_backward", "on_train_batch_end"});
    add_all(&want, 6,
            (const char *const[]){"on_train_batch_start", "training_step",
                                  "on_before_optimizer_step", "optimizer_step",
                                  "on_train_batch_end", "on_train_epoch_end"});
    /* configure_optimizers is recorded by lin_configure */
    list_assert_equal(&got, &want);
    assert_int_equal(volt_trainer_global_step(t), 2);
    assert_int_equal(m.null_outputs, 2);
    volt_trainer_free(t);
    list_clear(&got);
    list_clear(&want);

    /* every batch skipped: no optimizer hook, the weights do not move */
    volt_module_free(&m.lin.base);
    ctl_init(&m, &ctl_ops, &got);
    m.skip_mask = ~(uint64_t)0;
    cfg.accumulate_grad_batches = 1;
    t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(t), 0);
    assert_int_equal(list_count(&got, "on_before_zero_grad"), 0);
    assert_int_equal(list_count(&got, "optimizer_step"), 0);
    assert_int_equal(list_count(&got, "on_train_batch_end"), 4);
    VT_ASSERT_CLOSE(m.lin.w, ((double[]){0.1 * 1, 0.1 * 2, 0.1 * 3}), 3, 0, 0);
    VT_ASSERT_CLOSE(m.lin.b, ((double[]){0.0}), 1, 0, 0);
    volt_trainer_free(t);
    list_clear(&got);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

/* A skipped batch without accumulation: that batch does not step; the
 * weights equal a fit on the other batches only. */
static void test_skip_one_batch_equals_fewer_batches(void **state) {
    (void)state;
    ctl_module a, b;
    ctl_init(&a, &ctl_ops, NULL);
    ctl_init(&b, &ctl_ops, NULL);
    a.skip_mask = 1u << 1;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    volt_datamodule *dm = tiny_dm_new(6, 0, 3, 2); /* batches 0, 1, 2 */
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &a.lin.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_global_step(t), 2);
    /* b: the same SGD steps on batches 0 and 2 by hand */
    tiny_dm *d = (tiny_dm *)dm;
    volt_optimizer *sgd =
        volt_sgd_new(volt_module_parameters(&b.lin.base), &(volt_sgd_options){.lr = 0.1});
    volt_data_loader_set_epoch(d->train, 0);
    for (int64_t i = 0; i < 3; i++) {
        volt_scope_begin();
        volt_batch batch;
        assert_true(volt_data_loader_next(d->train, &batch));
        if (i != 1) {
            volt_optimizer_zero_grad(sgd);
            volt_tensor *loss =
                volt_mse_loss(lin_forward(&b.lin, batch.x), batch.y, VOLT_REDUCTION_MEAN);
            assert_int_equal(volt_backward(loss), VOLT_OK);
            assert_int_equal(volt_optimizer_step(sgd), VOLT_OK);
        }
        volt_scope_end();
    }
    volt_data_loader_stop(d->train);
    double wb[4];
    for (int j = 0; j < 3; j++) wb[j] = volt_tensor_get_flat(b.lin.w, j);
    wb[3] = volt_tensor_get_flat(b.lin.b, 0);
    VT_ASSERT_CLOSE(a.lin.w, wb, 3, 0, 0);
    VT_ASSERT_CLOSE(a.lin.b, wb + 3, 1, 0, 0);
    volt_optimizer_free(sgd);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&a.lin.base);
    volt_module_free(&b.lin.base);
}

/* on_train_batch_start at epoch 0, batch 2 skips the rest of epoch 0:
 * batches 0 and 1 train, batch 2 has only its start hook, the epoch ends
 * (on_train_epoch_end runs) and epoch 1 runs whole. */
static void test_skip_rest_of_epoch(void **state) {
    (void)state;
    name_list got = {0};
    ctl_module m;
    ctl_init(&m, &ctl_ops, &got);
    m.cut_epoch = 0;
    m.cut_batch = 2;
    volt_datamodule *dm = tiny_dm_new(8, 0, 3, 2); /* 4 batches */
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 2;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    assert_int_equal(list_count(&got, "on_train_batch_start"), 3 + 4);
    assert_int_equal(list_count(&got, "training_step"), 2 + 4);
    assert_int_equal(list_count(&got, "on_train_batch_end"), 2 + 4);
    assert_int_equal(list_count(&got, "on_train_epoch_end"), 2);
    assert_int_equal(volt_trainer_global_step(t), 6);
    assert_int_equal(volt_trainer_current_epoch(t), 2);
    /* the cut: batch 2's start hook, then straight to the epoch end */
    int k = 0;
    while (k < got.n && strcmp(got.items[k], "on_train_epoch_end") != 0) k++;
    assert_true(k >= 2);
    assert_string_equal(got.items[k - 1], "on_train_batch_start");
    assert_string_equal(got.items[k - 2], "on_train_batch_end");
    volt_trainer_free(t);
    list_clear(&got);

    /* anywhere else it is refused, and the run stops naming the hook */
    volt_module_free(&m.lin.base);
    ctl_init(&m, &ctl_ops, NULL);
    m.skip_in_step = true;
    t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE,
                    "fit: training_step failed at epoch 0, batch 0: step_skip_epoch: called in "
                    "training_step; only on_train_batch_start can skip the rest of an epoch");
    assert_true(m.lin.exception_seen);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

/* A callback may cut the epoch too; volt_log is refused in the transfer
 * hooks (Lightning refuses self.log there). */
static volt_status cb_cut(volt_callback *self, volt_module *m, volt_step *step) {
    (void)self;
    (void)m;
    return volt_step_batch_idx(step) == 1 ? volt_step_skip_epoch(step) : VOLT_OK;
}

static volt_status log_in_transfer(volt_module *self, volt_step *step) {
    (void)self;
    return volt_log_ex(step, "x", 1.0, 0, 0);
}

static void test_callback_cut_and_transfer_log(void **state) {
    (void)state;
    static const volt_callback_ops cut_ops = {.name = "cut", .on_train_batch_start = cb_cut};
    volt_callback cut = {&cut_ops, NULL};
    name_list got = {0};
    ctl_module m;
    ctl_init(&m, &ctl_ops, &got);
    volt_datamodule *dm = tiny_dm_new(8, 0, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 3;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_add_callback(t, &cut), VOLT_OK);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    assert_int_equal(list_count(&got, "training_step"), 3 * 1);
    assert_int_equal(list_count(&got, "on_train_epoch_end"), 3);
    assert_int_equal(volt_trainer_global_step(t), 3);
    volt_trainer_free(t);
    list_clear(&got);
    volt_module_free(&m.lin.base);

    volt_module_ops ops = ctl_ops;
    ops.on_before_batch_transfer = log_in_transfer;
    ctl_init(&m, &ops, NULL);
    t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "fit: on_before_batch_transfer failed at epoch 0, batch 0: "
                                    "log('x'): logging is not allowed in on_before_batch_transfer");
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

/* ------------------------------------------------- model eval/train hooks */

static volt_status keep_training(volt_module *self, volt_step *step) {
    (void)self;
    (void)step;
    return VOLT_OK; /* overrides the default: the module stays in train mode */
}

static void test_model_mode_hooks(void **state) {
    (void)state;
    ctl_module m;
    ctl_init(&m, &ctl_ops, NULL);
    volt_datamodule *dm = tiny_dm_new(4, 4, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    cfg.num_sanity_val_steps = 0;
    volt_trainer *t = volt_trainer_new(&cfg);
    /* defaults: eval mode inside validation, train mode again after */
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    assert_int_equal(m.eval_seen, 2);
    assert_int_equal(m.train_seen, 0);
    assert_true(volt_module_is_training(&m.lin.base));
    /* a module in eval mode before validate/test is in eval mode after */
    volt_module_train(&m.lin.base, false);
    assert_int_equal(volt_trainer_test(t, &m.lin.base, dm, NULL, NULL), VOLT_OK);
    assert_false(volt_module_is_training(&m.lin.base));
    volt_module_train(&m.lin.base, true);
    volt_predictions *p = NULL;
    assert_int_equal(volt_trainer_predict(t, &m.lin.base, dm, NULL, &p), VOLT_OK);
    volt_predictions_free(p);
    assert_true(volt_module_is_training(&m.lin.base));
    assert_int_equal(m.eval_seen, 2 + 2 + 2);
    volt_trainer_free(t);
    volt_module_free(&m.lin.base);

    /* an override replaces the default */
    volt_module_ops ops = ctl_ops;
    ops.on_validation_model_eval = keep_training;
    ctl_init(&m, &ops, NULL);
    t = volt_trainer_new(&cfg);
    volt_metrics *metrics = NULL;
    assert_int_equal(volt_trainer_validate(t, &m.lin.base, dm, NULL, &metrics), VOLT_OK);
    volt_metrics_free(metrics);
    assert_int_equal(m.train_seen, 2);
    assert_int_equal(m.eval_seen, 0);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

/* ------------------------------------------------------- batch transfer */

static int transfers;

static volt_status zero_x(volt_module *self, volt_step *step) {
    (void)self;
    volt_batch *b = volt_step_batch(step);
    volt_tensor *z = volt_zeros_like(b->x);
    return z ? volt_batch_set(b, "x", z) : volt_error_status();
}

static volt_status to_device(volt_module *self, volt_step *step) {
    (void)self;
    volt_device d = volt_step_device(step);
    assert_true(volt_device_equal(d, VOLT_DEVICE_CPU));
    assert_non_null(volt_step_batch(step));
    transfers++;
    return VOLT_OK;
}

/* on_after_batch_transfer zeroes x: every prediction is then the bias (0). */
static void test_batch_transfer_hooks(void **state) {
    (void)state;
    volt_module_ops ops = ctl_ops;
    ops.transfer_batch_to_device = to_device;
    ops.on_after_batch_transfer = zero_x;
    ctl_module m;
    ctl_init(&m, &ops, NULL);
    volt_datamodule *dm = tiny_dm_new(4, 6, 3, 2);
    volt_trainer_config cfg = quiet_config();
    volt_trainer *t = volt_trainer_new(&cfg);
    transfers = 0;
    volt_predictions *p = NULL;
    assert_int_equal(volt_trainer_predict(t, &m.lin.base, dm, NULL, &p), VOLT_OK);
    assert_int_equal(transfers, 3);
    assert_int_equal(p->count, 3);
    for (int64_t i = 0; i < p->count; i++)
        VT_ASSERT_CLOSE(p->items[i], ((double[]){0.0, 0.0}), 2, 0, 0);
    volt_predictions_free(p);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

/* ------------------------------------------------------ loader entry points */

static void weights(const lin_module *m, double out[4]) {
    for (int j = 0; j < 3; j++) out[j] = volt_tensor_get_flat(m->w, j);
    out[3] = volt_tensor_get_flat(m->b, 0);
}

static void test_loader_entry_points(void **state) {
    (void)state;
    name_list got = {0};
    volt_datamodule *dm = tiny_dm_new(8, 6, 3, 2);
    tiny_dm *d = (tiny_dm *)dm;
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 2;
    /* the datamodule's fit ... */
    lin_module a, b;
    lin_init(&a, &lin_plain_ops, 3, 0.1);
    lin_init(&b, &lin_rec_ops, 3, 0.1);
    b.rec = &got;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &a.base, dm, NULL), VOLT_OK);
    volt_trainer_free(t);
    /* ... equals the loaders' fit, bit for bit */
    t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit_loaders(t, &b.base, d->train, d->val, NULL), VOLT_OK);
    double wa[4], wb[4];
    weights(&a, wa);
    weights(&b, wb);
    assert_memory_equal(wa, wb, sizeof wa);
    assert_int_equal(list_count(&got, "setup"), 1);
    assert_int_equal(list_count(&got, "teardown"), 1);
    assert_int_equal(list_count(&got, "validation_step"), 2 + 2 * 3); /* sanity + 2 epochs */
    assert_int_equal(volt_trainer_global_step(t), 8);
    list_clear(&got);

    /* no val loader: no validation, no sanity check */
    assert_int_equal(volt_trainer_fit_loaders(t, &b.base, d->train, NULL, NULL), VOLT_OK);
    assert_int_equal(list_count(&got, "validation_step"), 0);
    assert_int_equal(list_count(&got, "training_step"), 8);
    list_clear(&got);

    volt_metrics *metrics = NULL;
    assert_int_equal(volt_trainer_validate_loaders(t, &b.base, d->val, NULL, &metrics), VOLT_OK);
    assert_non_null(metrics);
    volt_metrics_free(metrics);
    assert_int_equal(list_count(&got, "validation_step"), 3);
    assert_int_equal(volt_trainer_test_loaders(t, &b.base, d->test, NULL, NULL), VOLT_OK);
    assert_int_equal(list_count(&got, "test_step"), 3);
    volt_predictions *pa = NULL, *pb = NULL;
    assert_int_equal(volt_trainer_predict_loaders(t, &b.base, d->predict, NULL, &pb), VOLT_OK);
    assert_int_equal(volt_trainer_predict(t, &b.base, dm, NULL, &pa), VOLT_OK);
    assert_int_equal(pb->count, 3);
    for (int64_t i = 0; i < pa->count; i++)
        assert_memory_equal(volt_tensor_data(pa->items[i]), volt_tensor_data(pb->items[i]),
                            2 * sizeof(double));
    volt_predictions_free(pa);
    volt_predictions_free(pb);

    /* NULL loaders are refused, nothing runs */
    list_clear(&got);
    assert_int_equal(volt_trainer_fit_loaders(t, &b.base, NULL, d->val, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fit: NULL train loader");
    volt_predictions dummy = {0};
    pb = &dummy; /* overwritten with NULL */
    assert_int_equal(volt_trainer_predict_loaders(t, &b.base, NULL, NULL, &pb),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "predict: NULL predict loader");
    assert_null(pb);
    assert_int_equal(got.n, 0);
    volt_trainer_free(t);
    /* the caller still owns the loaders: they work after the trainer is gone */
    assert_int_equal(volt_data_loader_len(d->train), 4);
    volt_datamodule_free(dm);
    volt_module_free(&a.base);
    volt_module_free(&b.base);
}

/* --------------------------------------------------------- determinism */

/* Shuffled batches from 2 workers and dropout in training_step: two
 * deterministic fits with the same seed agree bit for bit; another seed
 * gives other weights. */
static void det_fit(int64_t seed, double out[4]) {
    ctl_module m;
    ctl_init(&m, &ctl_ops, NULL);
    m.dropout = 0.5;
    volt_dataset *ds = tiny_dataset(32, 3, 0);
    volt_data_loader_options o = {.batch_size = 4, .shuffle = true, .num_workers = 2, .seed = 11};
    volt_data_loader *dl = volt_data_loader_new(ds, &o);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 2;
    cfg.deterministic = true;
    cfg.seed = seed;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_non_null(t);
    assert_int_equal(volt_trainer_fit_loaders(t, &m.lin.base, dl, NULL, NULL), VOLT_OK);
    weights(&m.lin, out);
    volt_trainer_free(t);
    volt_data_loader_free(dl);
    volt_dataset_free(ds);
    volt_module_free(&m.lin.base);
}

static void test_deterministic(void **state) {
    (void)state;
    double a[4], b[4], c[4];
    det_fit(42, a);
    volt_seed_everything(7); /* whatever happened before, the run reseeds */
    det_fit(42, b);
    det_fit(43, c);
    assert_memory_equal(a, b, sizeof a);
    assert_true(memcmp(a, c, sizeof a) != 0);

    volt_trainer_config cfg = quiet_config();
    cfg.deterministic = true;
    assert_null(volt_trainer_new(&cfg));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "deterministic = true needs a seed");
    cfg.seed = 1;
    cfg.max_time = 60;
    assert_null(volt_trainer_new(&cfg));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "deterministic = true refuses max_time = 60");
}

/* ------------------------------------------------------- inference_mode */

static void test_inference_mode_is_no_grad(void **state) {
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        ctl_module m;
        ctl_init(&m, &ctl_ops, NULL);
        volt_datamodule *dm = tiny_dm_new(4, 4, 3, 2);
        volt_trainer_config cfg = quiet_config();
        cfg.max_epochs = 1;
        cfg.inference_mode = mode == 1;
        volt_trainer *t = volt_trainer_new(&cfg);
        assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
        volt_predictions *p = NULL;
        assert_int_equal(volt_trainer_predict(t, &m.lin.base, dm, NULL, &p), VOLT_OK);
        assert_int_equal(p->count, 2);
        for (int64_t i = 0; i < p->count; i++) assert_false(p->items[i]->requires_grad);
        /* sanity check (2), validation (2), predict (2): never with grad */
        assert_int_equal(m.grad_seen, 0);
        assert_int_equal(m.eval_seen, 6);
        assert_true(volt_grad_enabled());
        volt_predictions_free(p);
        volt_trainer_free(t);
        volt_datamodule_free(dm);
        volt_module_free(&m.lin.base);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_skip_batches_with_accumulation),
        VT_TEST(test_skip_one_batch_equals_fewer_batches),
        VT_TEST(test_skip_rest_of_epoch),
        VT_TEST(test_callback_cut_and_transfer_log),
        VT_TEST(test_model_mode_hooks),
        VT_TEST(test_batch_transfer_hooks),
        VT_TEST(test_loader_entry_points),
        VT_TEST(test_deterministic),
        VT_TEST(test_inference_mode_is_no_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
