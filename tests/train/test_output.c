/* test_output.c: what the trainer prints — the progress bar off a terminal
 * (plain lines at stage ends, no carriage returns), the model summary
 * (rows per child, parameter totals) — and a clean stop on Ctrl-C. */
#include <signal.h>
#include <unistd.h>

#include "train/train_impl.h"
#include "train_fixture.h"

/* Runs fit with stderr sent to a file; returns the text written. */
static char *fit_capturing(volt_trainer_config cfg, volt_module *m, volt_datamodule *dm,
                           volt_status *st) {
    const char *dir = fresh_dir("output");
    char path[1200];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    dup2(fileno(f), 2);
    volt_trainer *t = volt_trainer_new(&cfg);
    *st = volt_trainer_fit(t, m, dm, NULL);
    volt_trainer_free(t);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    static char text[16384];
    fseek(f, 0, SEEK_SET);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

static void test_plain_progress_and_summary(void **state) {
    (void)state;
    lin_module m;
    lin_init(&m, &lin_plain_ops, 3, 0.1);
    volt_datamodule *dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.enable_progress_bar = true;
    cfg.enable_model_summary = true;
    cfg.max_epochs = 2;
    volt_status st;
    const char *text = fit_capturing(cfg, &m.base, dm, &st);
    assert_int_equal(st, VOLT_OK);
    assert_null(strchr(text, '\r')); /* not a terminal: plain lines */
    assert_non_null(strstr(text, "Epoch 0/1: 4/4 100% [####################]"));
    assert_non_null(strstr(text, "Epoch 1/1: 4/4 100%"));
    assert_non_null(strstr(text, "val: 2/2 100%"));
    assert_null(strstr(text, "sanity")); /* the sanity check prints nothing off a terminal */
    assert_non_null(strstr(text, "4          Trainable params"));
    assert_non_null(strstr(text, "0.000      Total estimated model params size (MB)"));
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

static void test_summary_rows(void **state) {
    (void)state;
    volt_module root;
    volt_module_init(&root, NULL);
    volt_linear *fc1 = volt_linear_new(&root, "fc1", 4, 8);
    volt_linear *fc2 = volt_linear_new(&root, "fc2", 8, 2);
    assert_non_null(fc1);
    assert_non_null(fc2);
    volt_module_freeze(&fc2->base);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    volt_model_summary_print(&root, 1, f);
    fclose(f);
    assert_non_null(strstr(buf, "0  | fc1                     | Linear              | 40 "));
    assert_non_null(strstr(buf, "1  | fc2                     | Linear              | 18 "));
    assert_non_null(strstr(buf, "40         Trainable params"));
    assert_non_null(strstr(buf, "18         Non-trainable params"));
    assert_non_null(strstr(buf, "58         Total params"));
    free(buf);
    volt_module_free(&root);
}

static volt_status interrupt_hook(volt_module *self, volt_step *step) {
    (void)self;
    if (volt_step_batch_idx(step) == 1) raise(SIGINT);
    return VOLT_OK;
}

static void test_interrupt(void **state) {
    (void)state;
    static const volt_module_ops ops = {
        .name = "int",
        .training_step = lin_training_step,
        .configure_optimizers = lin_configure,
        .on_train_batch_end = interrupt_hook,
        .on_exception = lin_hook,
    };
    lin_module m;
    lin_init(&m, &ops, 3, 0.1);
    volt_datamodule *dm = tiny_dm_new(8, 0, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "fit: stopped at epoch 0, batch 1: interrupted (SIGINT)");
    assert_true(m.exception_seen);
    assert_int_equal(volt_trainer_global_step(t), 2);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_plain_progress_and_summary),
        VT_TEST(test_summary_rows),
        VT_TEST(test_interrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
