/* test_on_exception_checkpoint.c: OnExceptionCheckpoint — a fit whose
 * training_step fails at batch 3 returns the failure and leaves
 * <dirpath>/on_exception.ckpt (a sound checkpoint holding the 3 steps done
 * and the weights of then), a custom filename in a directory made for it,
 * nothing written by a successful fit or by a failing validate, and a
 * missing dirpath refused. */
#include <sys/stat.h>
#include <unistd.h>

#include "train_fixture.h"

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static volt_trainer_config oec_config(const char *dir, int64_t epochs) {
    volt_trainer_config c = quiet_config();
    c.max_epochs = epochs;
    c.enable_checkpointing = false;
    c.default_root_dir = dir;
    return c;
}

static volt_trainer *trainer_with(const volt_trainer_config *c, const char *dirpath,
                                  const char *filename) {
    volt_trainer *t = volt_trainer_new(c);
    assert_non_null(t);
    volt_callback *cb = volt_on_exception_checkpoint_new(dirpath, filename);
    assert_non_null(cb);
    assert_int_equal(volt_trainer_add_callback(t, cb), VOLT_OK);
    return t;
}

static void test_saves_when_fit_fails(void **state) {
    (void)state;
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s", fresh_dir("oec_fail"));
    snprintf(path, sizeof path, "%s/on_exception.ckpt", dir);
    lin_module m;
    lin_init(&m, &lin_plain_ops, 3, 0.1);
    m.fail_epoch = 0;
    m.fail_batch = 3;
    volt_datamodule *dm = tiny_dm_new(12, 0, 3, 2); /* 6 batches */
    volt_trainer_config c = oec_config(dir, 2);
    volt_trainer *t = trainer_with(&c, dir, NULL);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "fit: training_step failed at epoch 0, batch 3: deliberate failure");
    assert_true(m.exception_seen);
    assert_true(file_exists(path));
    volt_checkpoint *ck = volt_checkpoint_open(path);
    if (!ck) fail_msg("%s", volt_error_message());
    assert_int_equal(volt_checkpoint_global_step(ck), 3);
    assert_int_equal(volt_checkpoint_epoch(ck), 0);
    assert_false(volt_checkpoint_weights_only(ck));
    volt_checkpoint_close(ck);
    volt_trainer_free(t);

    /* the weights saved are those after the 3 steps */
    lin_module back;
    lin_init(&back, &lin_plain_ops, 3, 0.1);
    assert_int_equal(volt_module_load_checkpoint(&back.base, path, true, NULL), VOLT_OK);
    for (int j = 0; j < 3; j++)
        assert_true(volt_tensor_get_flat(back.w, j) == volt_tensor_get_flat(m.w, j));
    assert_true(volt_tensor_get_flat(back.b, 0) == volt_tensor_get_flat(m.b, 0));
    assert_true(volt_tensor_get_flat(back.w, 0) != 0.1);
    volt_module_free(&back.base);

    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

/* filename "crash" under a directory that does not exist yet. */
static void test_custom_filename(void **state) {
    (void)state;
    char dir[1024], sub[1100], path[1200];
    snprintf(dir, sizeof dir, "%s", fresh_dir("oec_name"));
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    snprintf(path, sizeof path, "%s/crash.ckpt", sub);
    lin_module m;
    lin_init(&m, &lin_plain_ops, 3, 0.1);
    m.fail_epoch = 1;
    m.fail_batch = 0;
    volt_datamodule *dm = tiny_dm_new(8, 0, 3, 2); /* 4 batches */
    volt_trainer_config c = oec_config(dir, 3);
    volt_trainer *t = trainer_with(&c, sub, "crash");
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "training_step failed at epoch 1, batch 0");
    volt_checkpoint *ck = volt_checkpoint_open(path);
    if (!ck) fail_msg("%s", volt_error_message());
    assert_int_equal(volt_checkpoint_global_step(ck), 4);
    volt_checkpoint_close(ck);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

static volt_tensor *failing_eval(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)self, (void)b, (void)i, (void)step;
    volt_error_set(VOLT_ERR_STATE, "eval broke");
    return NULL;
}

static const volt_module_ops failing_eval_ops = {
    .name = "lin",
    .training_step = lin_training_step,
    .validation_step = failing_eval,
    .configure_optimizers = lin_configure,
};

/* A successful fit writes nothing; a failing validate (not fit) neither. */
static void test_nothing_saved_otherwise(void **state) {
    (void)state;
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s", fresh_dir("oec_none"));
    snprintf(path, sizeof path, "%s/on_exception.ckpt", dir);
    lin_module m;
    lin_init(&m, &lin_plain_ops, 3, 0.1);
    volt_datamodule *dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config c = oec_config(dir, 1);
    volt_trainer *t = trainer_with(&c, dir, NULL);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_false(file_exists(path));
    volt_trainer_free(t);

    lin_module f;
    lin_init(&f, &failing_eval_ops, 3, 0.1);
    t = trainer_with(&c, dir, NULL);
    assert_int_equal(volt_trainer_validate(t, &f.base, dm, NULL, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "eval broke");
    assert_false(file_exists(path));
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
    volt_module_free(&f.base);
}

static void test_arguments(void **state) {
    (void)state;
    assert_null(volt_on_exception_checkpoint_new(NULL, "x"));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "OnExceptionCheckpoint: dirpath is required (got NULL)");
    assert_null(volt_on_exception_checkpoint_new("", NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "dirpath is required");
    assert_null(volt_on_exception_checkpoint_new("/tmp", ""));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "OnExceptionCheckpoint: filename is empty");
    volt_callback *cb = volt_on_exception_checkpoint_new("/tmp", NULL);
    assert_non_null(cb);
    assert_string_equal(cb->ops->name, "OnExceptionCheckpoint");
    cb->ops->free(cb);
}

/* Resuming from the checkpoint of a failure at batch 3 ends with the
 * weights of a run that never failed. */
static void test_resume_after_failure(void **state) {
    (void)state;
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s", fresh_dir("oec_resume"));
    snprintf(path, sizeof path, "%s/on_exception.ckpt", dir);
    volt_datamodule *dm = tiny_dm_new(12, 0, 3, 2); /* 6 batches */
    volt_trainer_config c = oec_config(dir, 2);

    lin_module whole;
    lin_init(&whole, &lin_plain_ops, 3, 0.1);
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit(t, &whole.base, dm, NULL), VOLT_OK);
    volt_trainer_free(t);

    lin_module m;
    lin_init(&m, &lin_plain_ops, 3, 0.1);
    m.fail_epoch = 0;
    m.fail_batch = 3;
    t = trainer_with(&c, dir, NULL);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_INVALID_ARGUMENT);
    volt_error_clear();
    volt_trainer_free(t);

    lin_module r;
    lin_init(&r, &lin_plain_ops, 3, 0.1);
    t = volt_trainer_new(&c);
    if (volt_trainer_fit(t, &r.base, dm, path)) fail_msg("%s", volt_error_message());
    assert_int_equal(volt_trainer_global_step(t), 12);
    for (int j = 0; j < 3; j++)
        assert_true(volt_tensor_get_flat(r.w, j) == volt_tensor_get_flat(whole.w, j));
    assert_true(volt_tensor_get_flat(r.b, 0) == volt_tensor_get_flat(whole.b, 0));
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&whole.base);
    volt_module_free(&m.base);
    volt_module_free(&r.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_resume_after_failure),
        VT_TEST(test_saves_when_fit_fails),
        VT_TEST(test_custom_filename),
        VT_TEST(test_nothing_saved_otherwise),
        VT_TEST(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
