/* test_output.c: what the trainer prints — the progress bar off a terminal
 * (plain lines at stage ends, no carriage returns), the model summary
 * (rows per child, parameter totals, input/output sizes from an example
 * input, depth limits) — and a clean stop on Ctrl-C. */
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

/* A model: a Sequential "net" (Linear 4->8, Identity) run through its class
 * forward, then a Linear "head" called by its typed forward. */
typedef struct {
    volt_module base;
    volt_sequential *net;
    volt_linear *head;
    int examples;
} sum_model;

static volt_tensor *sum_forward(volt_module *self, const volt_tensor *x) {
    sum_model *m = (sum_model *)self;
    assert_false(volt_grad_enabled());
    assert_false(volt_module_is_training(self));
    volt_tensor *h = volt_module_forward(&m->net->base, x);
    return volt_linear_forward(m->head, h);
}

static volt_tensor *sum_example(volt_module *self) {
    ((sum_model *)self)->examples++;
    return volt_zeros(2, (int64_t[]){5, 4}, VOLT_F32);
}

/* The line of buf that starts with prefix (static copy), or fails. */
static const char *line_of(const char *buf, const char *prefix) {
    static char line[256];
    for (const char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix)) != 0) continue;
        size_t n = strcspn(p, "\n");
        if (n >= sizeof line) n = sizeof line - 1;
        memcpy(line, p, n);
        line[n] = 0;
        return line;
    }
    fail_msg("no line starting with '%s' in:\n%s", prefix, buf);
    return "";
}

static char *summary_text(volt_module *m, int max_depth) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    volt_model_summary_print(m, max_depth, f);
    fclose(f);
    return buf;
}

static void test_summary_sizes_and_depth(void **state) {
    (void)state;
    static const volt_module_ops ops = {
        .name = "Summed", .forward = sum_forward, .example_input = sum_example};
    static const volt_module_ops no_example = {.name = "Summed", .forward = sum_forward};
    sum_model m = {0};
    volt_module_init(&m.base, &ops);
    m.net = volt_sequential_new(&m.base, "net");
    assert_non_null(volt_linear_new(&m.net->base, "fc", 4, 8));
    assert_non_null(volt_identity_new(&m.net->base, "id"));
    m.head = volt_linear_new(&m.base, "head", 8, 2);
    assert_non_null(m.head);

    char *buf = summary_text(&m.base, 2);
    const char *l = line_of(buf, "0  | net ");
    assert_non_null(strstr(l, "| Sequential "));
    assert_non_null(strstr(l, "| [5, 4]        | [5, 8]"));
    l = line_of(buf, "1  | net.fc ");
    assert_non_null(strstr(l, "| Linear "));
    assert_non_null(strstr(l, "| 40 "));
    assert_non_null(strstr(l, "| train | [5, 4]        | [5, 8]"));
    l = line_of(buf, "2  | net.id ");
    assert_non_null(strstr(l, "| [5, 8]        | [5, 8]"));
    l = line_of(buf, "3  | head "); /* called by its typed forward: unknown */
    assert_non_null(strstr(l, "| ?             | ?"));
    assert_non_null(strstr(buf, "Model input [5, 4] -> output [5, 2]\n"));
    assert_int_equal(m.examples, 1);
    free(buf);
    /* the module is as it was: train mode, real classes */
    assert_true(volt_module_is_training(&m.base));
    volt_scope_begin();
    volt_tensor *y = volt_module_forward(&m.net->base, volt_zeros(2, (int64_t[]){1, 4}, VOLT_F32));
    VT_ASSERT_SHAPE(y, 1, 8);
    volt_scope_end();

    /* depth 1: only the direct children; 0: no rows; -1: every level */
    buf = summary_text(&m.base, 1);
    assert_non_null(strstr(buf, "0  | net "));
    assert_non_null(strstr(buf, "1  | head "));
    assert_null(strstr(buf, "net.fc"));
    free(buf);
    buf = summary_text(&m.base, 0);
    assert_null(strstr(buf, "| net "));
    assert_non_null(strstr(buf, "Total params"));
    free(buf);
    buf = summary_text(&m.base, -1);
    assert_non_null(strstr(buf, "1  | net.fc "));
    free(buf);

    /* a module cast to bf16 (precision "bf16-true") gets its f32 example
     * input in bf16: the sizes are there */
    assert_int_equal(volt_module_to_dtype(&m.base, VOLT_BF16), VOLT_OK);
    buf = summary_text(&m.base, 1);
    assert_null(strstr(buf, "no sizes"));
    assert_non_null(strstr(buf, "Model input [5, 4] -> output [5, 2]\n"));
    free(buf);

    /* without an example input every size is "?" */
    m.base.ops = &no_example;
    buf = summary_text(&m.base, 1);
    assert_non_null(strstr(line_of(buf, "0  | net "), "| ?             | ?"));
    assert_null(strstr(buf, "Model input"));
    free(buf);
    volt_module_free(&m.base);
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
        VT_TEST(test_summary_sizes_and_depth),
        VT_TEST(test_interrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
