/* test_tensorboard_python.c: volt's event files read by TensorBoard itself,
 * with tests/io/interop/check_tensorboard.py run by a Python that has the
 * `tensorboard` package: (a) rows and hyperparameters given to a
 * TensorBoard logger come back from EventAccumulator as the same tags,
 * steps and (float32) values, the hparams plugin's session summaries hold
 * the hyperparameters and the status, and the HPARAMS tab's backend lists
 * the run; (b) after a fit with the trainer's default loggers, the event
 * file holds exactly what metrics.csv of the same run holds; (c) so does
 * the one event file after a fit and a test on the same trainer, with
 * the train and the test scalars and one HPARAMS session.
 * The Python: $VOLT_PYTHON, else <source>/.venv/bin/python3, else
 * <source>/bench/.venv/bin/python3, else /usr/bin/python3, else python3 on
 * PATH — the first that imports tensorboard. None: a visible "SKIPPED" line
 * and exit 77 (ctest: skipped). Setting one up:
 *     /usr/bin/python3 -m venv --system-site-packages .venv
 *     .venv/bin/pip install tensorboard */
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "python_script.h"

#include "../train/train_fixture.h"

static const char *tmp_path(const char *name) {
    static char buf[4][1024];
    static int next;
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    char *out = buf[next++ % 4];
    snprintf(out, sizeof buf[0], "%s/%s", dir && *dir ? dir : "/tmp", name);
    return out;
}

/* ------------------------------------------- (a) the logger on its own */

/* A module that only holds hyperparameters. */
static const volt_module_ops hp_ops = {.name = "hp"};

static void add_point(cJSON *scalars, const char *tag, int64_t step, double v) {
    cJSON *points = cJSON_GetObjectItemCaseSensitive(scalars, tag);
    if (!points) points = cJSON_AddArrayToObject(scalars, tag);
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateNumber((double)step));
    char text[40];
    snprintf(text, sizeof text, "%.17g", v); /* exact */
    cJSON_AddItemToArray(p, cJSON_CreateRaw(text));
    cJSON_AddItemToArray(points, p);
}

static void json_write(const char *path, const cJSON *root) {
    char *text = cJSON_Print(root);
    assert_non_null(text);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
    cJSON_free(text);
}

static void test_logger_rows_read_by_tensorboard(void **state) {
    (void)state;
    const char *root = fresh_dir("logger");
    volt_module m;
    volt_module_init(&m, &hp_ops);
    volt_module_set_hparam_double(&m, "lr", 0.05);
    volt_module_set_hparam_int(&m, "hidden", 64);
    volt_module_set_hparam_string(&m, "act", "gelu");
    volt_module_set_hparam_bool(&m, "bn", true);
    cJSON *want = cJSON_CreateObject(), *scalars = cJSON_AddObjectToObject(want, "scalars");
    cJSON *hp = cJSON_AddObjectToObject(want, "hparams");
    cJSON_AddNumberToObject(hp, "lr", 0.05);
    cJSON_AddNumberToObject(hp, "hidden", 64);
    cJSON_AddStringToObject(hp, "act", "gelu");
    cJSON_AddBoolToObject(hp, "bn", true);
    cJSON_AddStringToObject(want, "status", "STATUS_SUCCESS");

    volt_logger *lg = volt_tensorboard_logger_new(root, "tb_logs", -1, 120);
    assert_non_null(lg);
    assert_int_equal(lg->ops->log_hyperparams(lg, &m), VOLT_OK);
    /* 6 training steps (loss 1/(s+1), epoch s/3), validation every third */
    for (int64_t s = 0; s < 6; s++) {
        volt_metrics row = {0};
        volt_metrics_set(&row, "train_loss", 1.0 / (double)(s + 1));
        volt_metrics_set(&row, "epoch", (double)(s / 3));
        add_point(scalars, "train_loss", s, 1.0 / (double)(s + 1));
        add_point(scalars, "epoch", s, (double)(s / 3));
        if (s % 3 == 2) {
            volt_metrics_set(&row, "val_acc", 0.7 + 0.01 * (double)s);
            add_point(scalars, "val_acc", s, 0.7 + 0.01 * (double)s);
        }
        assert_int_equal(lg->ops->log_metrics(lg, &row, s), VOLT_OK);
        volt_metrics_clear(&row);
        free(row.names);
        free(row.values);
    }
    assert_int_equal(lg->ops->finalize(lg, true), VOLT_OK);
    char run[1100];
    snprintf(run, sizeof run, "%s", lg->ops->log_dir(lg));
    lg->ops->free(lg);
    volt_module_free(&m);

    const char *json = tmp_path("logger.expected.json");
    json_write(json, want);
    cJSON_Delete(want);
    assert_int_equal(run_script(python, "expected", run, json, NULL), 0);
}

/* ------------------------- (b) a fit with the trainer's default loggers */

static volt_tensor *fit_train_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    volt_tensor *loss =
        volt_mse_loss(lin_forward((lin_module *)self, b->x), b->y, VOLT_REDUCTION_MEAN);
    volt_log(s, "train_loss", loss, 0);
    return loss;
}

static volt_tensor *fit_val_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    volt_log(s, "val_loss",
             volt_mse_loss(lin_forward((lin_module *)self, b->x), b->y, VOLT_REDUCTION_MEAN), 0);
    return NULL;
}

static volt_tensor *fit_test_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    volt_log(s, "test_loss",
             volt_mse_loss(lin_forward((lin_module *)self, b->x), b->y, VOLT_REDUCTION_MEAN), 0);
    return NULL;
}

static const volt_module_ops fit_ops = {.name = "fit",
                                        .training_step = fit_train_step,
                                        .validation_step = fit_val_step,
                                        .test_step = fit_test_step,
                                        .configure_optimizers = lin_configure};

/* A fit (then a test, with_test) with the default loggers; the run's
 * directory into run[1100]. */
static void fit_with_default_loggers(const char *root, bool with_test, char *run) {
    lin_module m;
    lin_init(&m, &fit_ops, 3, 0.05);
    volt_module_set_hparam_double(&m.base, "lr", 0.05);
    volt_datamodule *dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.logger = true;
    cfg.default_root_dir = root;
    cfg.max_epochs = 3;
    cfg.log_every_n_steps = 2;
    cfg.num_sanity_val_steps = 0;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    if (with_test) assert_int_equal(volt_trainer_test(t, &m.base, dm, NULL, NULL), VOLT_OK);
    snprintf(run, 1100, "%s", volt_trainer_log_dir(t));
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

static void test_fit_events_match_metrics_csv(void **state) {
    (void)state;
    char run[1100];
    fit_with_default_loggers(fresh_dir("fit"), false, run);
    assert_int_equal(run_script(python, "csv", run, NULL), 0);
}

/* metrics.csv holds the test row too (the CSV logger keeps every row of its
 * trainer's runs): the one event file must hold it as well. */
static void test_fit_then_test_one_event_file(void **state) {
    (void)state;
    char run[1100], path[1200];
    fit_with_default_loggers(fresh_dir("fit_test"), true, run);
    snprintf(path, sizeof path, "%s/metrics.csv", run);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char header[256];
    assert_non_null(fgets(header, sizeof header, f));
    fclose(f);
    assert_non_null(strstr(header, "test_loss"));
    assert_non_null(strstr(header, "train_loss"));
    assert_int_equal(run_script(python, "csv", run, NULL), 0);
}

int main(void) {
    if (!find_python("check_tensorboard.py")) {
        printf("SKIPPED: io/test_tensorboard_python: no Python with the tensorboard package "
               "(tried $VOLT_PYTHON, .venv, bench/.venv, /usr/bin/python3, python3); set one "
               "up with\n"
               "  /usr/bin/python3 -m venv --system-site-packages .venv && "
               ".venv/bin/pip install tensorboard\n");
        return 77;
    }
    printf("tensorboard: using %s\n", python);
    const struct CMUnitTest tests[] = {
        VT_TEST(test_logger_rows_read_by_tensorboard),
        VT_TEST(test_fit_events_match_metrics_csv),
        VT_TEST(test_fit_then_test_one_event_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
