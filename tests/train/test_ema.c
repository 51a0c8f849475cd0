/* test_ema.c: the EMA callback — the average after training equals the
 * recurrence ema = decay ema + (1 - decay) w computed here from the weights
 * recorded after every batch (every step, every second step), validation
 * (sanity check, in fit, validate() after fit) sees the average and the
 * weights come back bit for bit after it (also when validation fails),
 * validate_original_weights, the options refused, and checkpoints: "ema.*"
 * tensors saved, a resumed run continuing the same average bit for bit, a
 * checkpoint without them refused naming the tensor, a checkpoint saved
 * while the average is swapped in holding the trained weights. */
#include "train_fixture.h"

#define NW 4 /* w [3, 1] and b [1] */
#define MAXREC 64

typedef struct {
    lin_module lin;
    int n_train; /* on_train_batch_end calls recorded */
    int64_t step[MAXREC];
    double w[MAXREC][NW];
    int n_val;             /* validation_step calls */
    int val_after[MAXREC]; /* n_train when it ran */
    double vw[MAXREC][NW];
    int n_end; /* on_validation_end calls (after the callback's) */
    int end_after[MAXREC];
    double ew[MAXREC][NW];
    int fail_val_call; /* validation_step fails at this call (-1: never) */
} ema_module;

static void snapshot(const lin_module *m, double out[NW]) {
    for (int j = 0; j < 3; j++) out[j] = volt_tensor_get_flat(m->w, j);
    out[3] = volt_tensor_get_flat(m->b, 0);
}

static volt_status rec_batch_end(volt_module *self, volt_step *step) {
    ema_module *m = (ema_module *)self;
    if (m->n_train >= MAXREC) return VOLT_OK;
    m->step[m->n_train] = volt_trainer_global_step(volt_step_trainer(step));
    snapshot(&m->lin, m->w[m->n_train++]);
    return VOLT_OK;
}

static volt_tensor *rec_val_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    ema_module *m = (ema_module *)self;
    if (m->n_val == m->fail_val_call) {
        m->n_val++;
        volt_error_set(VOLT_ERR_STATE, "validation broke");
        return NULL;
    }
    if (m->n_val < MAXREC) {
        m->val_after[m->n_val] = m->n_train;
        snapshot(&m->lin, m->vw[m->n_val++]);
    }
    return lin_eval_step(self, b, i, step);
}

static volt_status rec_val_end(volt_module *self, volt_step *step) {
    (void)step;
    ema_module *m = (ema_module *)self;
    if (m->n_end < MAXREC) {
        m->end_after[m->n_end] = m->n_train;
        snapshot(&m->lin, m->ew[m->n_end++]);
    }
    return VOLT_OK;
}

static const volt_module_ops ema_module_ops = {
    .name = "ema_lin",
    .training_step = lin_training_step,
    .validation_step = rec_val_step,
    .configure_optimizers = lin_configure,
    .on_train_batch_end = rec_batch_end,
    .on_validation_end = rec_val_end,
    .on_exception = lin_hook,
};

static void ema_module_init(ema_module *m) {
    memset(m, 0, sizeof *m);
    lin_init(&m->lin, &ema_module_ops, 3, 0.1);
    m->fail_val_call = -1;
}

/* The average the callback should hold after the first `upto` recorded
 * batches: from the initial weights, one update at each batch end whose
 * global step moved past the last update and is a multiple of `every`. */
static void expected_ema(const ema_module *m, int upto, double decay, int64_t every,
                         double out[NW]) {
    const double init[NW] = {0.1 * 1, 0.1 * 2, 0.1 * 3, 0.0}; /* lin_init's */
    memcpy(out, init, sizeof init);
    int64_t last = 0;
    for (int k = 0; k < upto; k++) {
        int64_t g = m->step[k];
        if (g <= last || g % every != 0) continue;
        for (int j = 0; j < NW; j++) out[j] = decay * out[j] + (1 - decay) * m->w[k][j];
        last = g;
    }
}

static void assert_same(const double *got, const double *want) {
    for (int j = 0; j < NW; j++)
        if (got[j] != want[j])
            fail_msg("value %d: got %.17g, want %.17g (diff %g)", j, got[j], want[j],
                     got[j] - want[j]);
}

static volt_trainer_config ema_config(const char *dir, int64_t epochs) {
    volt_trainer_config c = quiet_config();
    c.max_epochs = epochs;
    c.enable_checkpointing = false;
    c.default_root_dir = dir;
    return c;
}

static volt_trainer *trainer_with_ema(const volt_trainer_config *c, double decay, int64_t every,
                                      bool original) {
    volt_trainer *t = volt_trainer_new(c);
    assert_non_null(t);
    volt_callback *cb = volt_ema_new(&(volt_ema_options){
        .decay = decay, .update_every_n_steps = every, .validate_original_weights = original});
    assert_non_null(cb);
    assert_int_equal(volt_trainer_add_callback(t, cb), VOLT_OK);
    return t;
}

/* 2 epochs of 4 batches, validation (2 batches) after each and a sanity
 * check first: every validation_step sees the recurrence's average, every
 * on_validation_end (after the callback's) the trained weights again. */
static void check_fit(double decay, int64_t every, int64_t accumulate) {
    const char *dir = fresh_dir("ema_fit");
    ema_module m;
    ema_module_init(&m);
    volt_datamodule *dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config c = ema_config(dir, 2);
    c.accumulate_grad_batches = accumulate;
    volt_trainer *t = trainer_with_ema(&c, decay, every, false);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    assert_int_equal(m.n_train, 8);
    assert_int_equal(m.step[7], 8 / accumulate);
    assert_int_equal(m.n_val, 6);
    assert_int_equal(m.n_end, 3);
    for (int v = 0; v < m.n_val; v++) {
        double want[NW];
        expected_ema(&m, m.val_after[v], decay, every, want);
        assert_same(m.vw[v], want);
    }
    if (every > 1) { /* not what updating at every step gives */
        double every_step[NW];
        expected_ema(&m, 8, decay, 1, every_step);
        assert_true(every_step[0] != m.vw[4][0]);
    }
    if (accumulate > 1) { /* nor what updating at every batch gives */
        double per_batch[NW] = {0.1 * 1, 0.1 * 2, 0.1 * 3, 0.0};
        for (int k = 0; k < 8; k++)
            for (int j = 0; j < NW; j++)
                per_batch[j] = decay * per_batch[j] + (1 - decay) * m.w[k][j];
        assert_true(per_batch[0] != m.vw[4][0]);
    }
    assert_int_equal(m.val_after[0], 0); /* the sanity check: the initial weights */
    assert_int_equal(m.val_after[2], 4);
    assert_int_equal(m.val_after[4], 8);
    const double init[NW] = {0.1 * 1, 0.1 * 2, 0.1 * 3, 0.0};
    assert_same(m.ew[0], init);
    for (int k = 1; k < m.n_end; k++) assert_same(m.ew[k], m.w[m.end_after[k] - 1]);
    /* nothing applied at fit end: the module keeps its trained weights */
    double now[NW];
    snapshot(&m.lin, now);
    assert_same(now, m.w[7]);

    /* state: the step of the last update */
    char *sd = volt_callback_state_dict(volt_trainer_find_callback(t, "EMA", 0));
    char want_sd[64];
    snprintf(want_sd, sizeof want_sd, "\"last_update_step\":%d", (int)(8 / accumulate));
    assert_non_null(strstr(sd, want_sd));
    free(sd);

    /* validate() after fit validates the average too, and restores */
    int before = m.n_val;
    assert_int_equal(volt_trainer_validate(t, &m.lin.base, dm, NULL, NULL), VOLT_OK);
    assert_int_equal(m.n_val, before + 2);
    double want[NW];
    expected_ema(&m, 8, decay, every, want);
    assert_same(m.vw[before], want);
    snapshot(&m.lin, now);
    assert_same(now, m.w[7]);
    /* the average moved away from the weights */
    assert_true(want[0] != now[0]);

    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

static void test_ema_every_step(void **state) {
    (void)state;
    check_fit(0.75, 1, 1);
}

/* update_every_n_steps = 2: updates at steps 2, 4, 6, 8 only (half as
 * often), which the recurrence with every = 2 reproduces. */
static void test_ema_every_second_step(void **state) {
    (void)state;
    check_fit(0.75, 2, 1);
}

/* accumulate_grad_batches = 2: one update per optimizer step, not per
 * batch (the global step stays put on the window's first batch). */
static void test_ema_with_accumulation(void **state) {
    (void)state;
    check_fit(0.75, 1, 2);
}

/* validate_original_weights: validation sees the trained weights. */
static void test_ema_validate_original(void **state) {
    (void)state;
    const char *dir = fresh_dir("ema_orig");
    ema_module m;
    ema_module_init(&m);
    volt_datamodule *dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config c = ema_config(dir, 1);
    volt_trainer *t = trainer_with_ema(&c, 0.5, 1, true);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    assert_int_equal(m.n_val, 4);
    assert_same(m.vw[2], m.w[3]);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

/* A validation_step failing while the average is swapped in: fit fails and
 * the module has its trained weights back (on_exception swaps back). */
static void test_ema_failed_validation_restores(void **state) {
    (void)state;
    const char *dir = fresh_dir("ema_fail");
    ema_module m;
    ema_module_init(&m);
    m.fail_val_call = 3; /* the second batch of the validation after epoch 0 */
    volt_datamodule *dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config c = ema_config(dir, 2);
    volt_trainer *t = trainer_with_ema(&c, 0.5, 1, false);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "validation broke");
    double want[NW], now[NW];
    expected_ema(&m, 4, 0.5, 1, want);
    assert_same(m.vw[2], want); /* the first batch saw the average */
    snapshot(&m.lin, now);
    assert_same(now, m.w[3]);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

static void test_ema_options(void **state) {
    (void)state;
    assert_null(volt_ema_new(&(volt_ema_options){.decay = 1.5, .update_every_n_steps = 1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "EMA: decay must be in [0, 1] (got 1.5)");
    assert_null(volt_ema_new(&(volt_ema_options){.decay = -0.1, .update_every_n_steps = 1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "decay must be in [0, 1]");
    assert_null(volt_ema_new(&(volt_ema_options){.decay = NAN, .update_every_n_steps = 1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "decay must be in [0, 1] (got nan)");
    assert_null(volt_ema_new(&(volt_ema_options){.decay = 0.9, .update_every_n_steps = 0}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "EMA: update_every_n_steps must be >= 1 (got 0)");
    /* NULL: the defaults (decay 0.999, every step) */
    volt_callback *cb = volt_ema_new(NULL);
    assert_non_null(cb);
    assert_string_equal(cb->ops->name, "EMA");
    char *sd = volt_callback_state_dict(cb);
    assert_string_equal(sd, "{\"decay\":0.999,\"update_every_n_steps\":1,\"last_update_step\":0}");
    free(sd);
    /* a broken state is refused */
    assert_int_equal(cb->ops->load_state_dict(cb, "{\"decay\": 0.5}"), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "last_update_step");
    cb->ops->free(cb);
}

/* ------------------------------------------------------------ checkpoints */

static void ckpt_path(char *buf, size_t n, const char *dir, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

/* The average of a checkpoint's "ema.*" tensors (w then b). */
static void ema_from_checkpoint(const char *path, double out[NW]) {
    volt_checkpoint *ck = volt_checkpoint_open(path);
    if (!ck) fail_msg("%s", volt_error_message());
    volt_scope_begin();
    volt_tensor *w = volt_checkpoint_tensor(ck, "ema.w");
    volt_tensor *b = volt_checkpoint_tensor(ck, "ema.b");
    if (!w || !b) fail_msg("%s", volt_error_message());
    for (int j = 0; j < 3; j++) out[j] = volt_tensor_get_flat(w, j);
    out[3] = volt_tensor_get_flat(b, 0);
    volt_scope_end();
    volt_checkpoint_close(ck);
}

/* A run of 1 epoch saved, then resumed to 3 epochs with a new module and a
 * new callback, ends with the average of the uninterrupted 3-epoch run, bit
 * for bit; the saved tensors equal the recurrence. */
static void test_ema_checkpoint_resume(void **state) {
    (void)state;
    const char *d = fresh_dir("ema_ckpt");
    char dir[1024], first[1100], whole[1100], resumed[1100];
    snprintf(dir, sizeof dir, "%s", d);
    ckpt_path(first, sizeof first, dir, "first.ckpt");
    ckpt_path(whole, sizeof whole, dir, "whole.ckpt");
    ckpt_path(resumed, sizeof resumed, dir, "resumed.ckpt");
    volt_datamodule *dm = tiny_dm_new(8, 4, 3, 2);

    ema_module a;
    ema_module_init(&a);
    volt_trainer_config c = ema_config(dir, 3);
    volt_trainer *t = trainer_with_ema(&c, 0.8, 1, false);
    assert_int_equal(volt_trainer_fit(t, &a.lin.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_save_checkpoint(t, whole, false), VOLT_OK);
    volt_trainer_free(t);
    double want[NW], got[NW];
    expected_ema(&a, a.n_train, 0.8, 1, want);
    ema_from_checkpoint(whole, got);
    assert_same(got, want);

    ema_module b;
    ema_module_init(&b);
    c.max_epochs = 1;
    t = trainer_with_ema(&c, 0.8, 1, false);
    assert_int_equal(volt_trainer_fit(t, &b.lin.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_save_checkpoint(t, first, false), VOLT_OK);
    volt_trainer_free(t);
    expected_ema(&b, b.n_train, 0.8, 1, want);
    ema_from_checkpoint(first, got);
    assert_same(got, want);

    ema_module r;
    ema_module_init(&r);
    c.max_epochs = 3;
    t = trainer_with_ema(&c, 0.8, 1, false);
    if (volt_trainer_fit(t, &r.lin.base, dm, first) != VOLT_OK)
        fail_msg("%s", volt_error_message());
    assert_int_equal(volt_trainer_save_checkpoint(t, resumed, false), VOLT_OK);
    ema_from_checkpoint(resumed, got);
    ema_from_checkpoint(whole, want);
    assert_same(got, want);
    /* the validation after the last epoch saw the same average in both */
    assert_same(r.vw[r.n_val - 1], a.vw[a.n_val - 1]);
    volt_trainer_free(t);

    /* a checkpoint without the average: refused, naming the tensor */
    ema_module p;
    ema_module_init(&p);
    c.max_epochs = 1;
    t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit(t, &p.lin.base, dm, NULL), VOLT_OK);
    char plain[1100];
    ckpt_path(plain, sizeof plain, dir, "plain.ckpt");
    assert_int_equal(volt_trainer_save_checkpoint(t, plain, false), VOLT_OK);
    volt_trainer_free(t);
    c.max_epochs = 2;
    t = trainer_with_ema(&c, 0.8, 1, false);
    assert_int_equal(volt_trainer_fit(t, &r.lin.base, dm, plain), VOLT_ERR_INVALID_ARGUMENT);
    char msg[1400];
    snprintf(msg, sizeof msg,
             "fit: on_load_checkpoint failed at epoch 0: EMA: checkpoint %s has no tensor "
             "'ema.w' (saved without the EMA callback?)",
             plain);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, msg);
    volt_trainer_free(t);

    volt_datamodule_free(dm);
    volt_module_free(&a.lin.base);
    volt_module_free(&b.lin.base);
    volt_module_free(&r.lin.base);
    volt_module_free(&p.lin.base);
}

/* A callback added before the EMA saving in on_validation_end (while the
 * average is swapped in): the file holds the trained weights as
 * state_dict.* and the average as ema.*, and the module has its weights
 * back. */
static volt_status save_at_val_end(volt_callback *cb, volt_module *m, volt_step *step) {
    (void)m;
    volt_trainer *t = volt_step_trainer(step);
    if (volt_trainer_sanity_checking(t)) return VOLT_OK;
    return volt_trainer_save_checkpoint(t, (const char *)cb->state, false);
}

static void test_ema_saved_while_swapped(void **state) {
    (void)state;
    const char *d = fresh_dir("ema_swapped");
    char path[1100];
    ckpt_path(path, sizeof path, d, "mid.ckpt");
    static const volt_callback_ops saver_ops = {.name = "saver",
                                                .on_validation_end = save_at_val_end};
    volt_callback saver = {&saver_ops, path};
    ema_module m;
    ema_module_init(&m);
    volt_datamodule *dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config c = ema_config(d, 1);
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_add_callback(t, &saver), VOLT_OK);
    volt_callback *ema = volt_ema_new(&(volt_ema_options){.decay = 0.5, .update_every_n_steps = 1});
    assert_int_equal(volt_trainer_add_callback(t, ema), VOLT_OK);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    double want[NW], got[NW];
    expected_ema(&m, 4, 0.5, 1, want);
    assert_same(m.vw[2], want);   /* validated with the average */
    assert_same(m.ew[1], m.w[3]); /* the module's on_validation_end: the weights */
    ema_from_checkpoint(path, got);
    assert_same(got, want);
    volt_checkpoint *ck = volt_checkpoint_open(path);
    assert_non_null(ck);
    volt_scope_begin();
    volt_tensor *w = volt_safetensors_get(volt_checkpoint_file(ck), "state_dict.w");
    volt_tensor *b = volt_safetensors_get(volt_checkpoint_file(ck), "state_dict.b");
    assert_non_null(w);
    assert_non_null(b);
    for (int j = 0; j < 3; j++) got[j] = volt_tensor_get_flat(w, j);
    got[3] = volt_tensor_get_flat(b, 0);
    assert_same(got, m.w[3]);
    volt_scope_end();
    volt_checkpoint_close(ck);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_ema_every_step),
        VT_TEST(test_ema_every_second_step),
        VT_TEST(test_ema_with_accumulation),
        VT_TEST(test_ema_validate_original),
        VT_TEST(test_ema_failed_validation_restores),
        VT_TEST(test_ema_options),
        VT_TEST(test_ema_checkpoint_resume),
        VT_TEST(test_ema_saved_while_swapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
