/* test_model_checkpoint.c: the ModelCheckpoint callback — file-name
 * templates (fields, specs, Python's float repr, errors), option checks,
 * state round trips (hand-written JSON and after training, with the
 * changed-dirpath rule), and real fits on the tiny regression module with
 * a scripted validation score per epoch: top-k keeps exactly the k best
 * files, NaN ranks worst, no monitor keeps the latest, save_last as a copy
 * and as a symbolic link, every_n_train_steps and train_time_interval file
 * names, saving at validation end when validation runs inside the epoch,
 * the version counter, a missing monitor, no saving under fast_dev_run or
 * outside fit, the default directory, nested directories and a too long
 * path. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "train/model_checkpoint_impl.h"
#include "train_fixture.h"

/* ------------------------------------------------------ file-name formats */

static void expect_name(const char *tmpl, const volt_metrics *m, int64_t epoch, int64_t step,
                        bool auto_insert, const char *want) {
    char out[256];
    volt_status st =
        volt_checkpoint_format_name(tmpl, m, epoch, step, auto_insert, out, sizeof out);
    const char *shown = tmpl ? tmpl : "(null)";
    if (st) fail_msg("'%s': %s", shown, volt_error_message());
    if (strcmp(out, want) != 0) fail_msg("'%s' gave '%s', want '%s'", shown, out, want);
}

static void expect_name_error(const char *tmpl, const volt_metrics *m, size_t cap,
                              const char *substr) {
    char out[256];
    assert_true(cap <= sizeof out);
    volt_status st = volt_checkpoint_format_name(tmpl, m, 3, 7, true, out, cap);
    assert_int_equal(st, VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, substr);
}

static void test_format_name(void **state) {
    (void)state;
    volt_metrics *m = calloc(1, sizeof *m);
    assert_int_equal(volt_metrics_set(m, "val_loss", 0.28111), VOLT_OK);
    assert_int_equal(volt_metrics_set(m, "val/acc", 0.123456), VOLT_OK);
    assert_int_equal(volt_metrics_set(m, "half", 0.5), VOLT_OK);
    assert_int_equal(volt_metrics_set(m, "tiny", 1e-5), VOLT_OK);
    assert_int_equal(volt_metrics_set(m, "three", 3.0), VOLT_OK);

    expect_name(NULL, m, 0, 100, true, "epoch=0-step=100");
    expect_name("", m, 2, 5, true, "epoch=2-step=5");
    expect_name("{epoch}-{val_loss:.4f}", m, 3, 9, true, "epoch=3-val_loss=0.2811");
    expect_name("sample-{epoch:02d}-{val_loss:.2f}", m, 3, 9, false, "sample-03-0.28");
    expect_name("{epoch:03d}", m, 5, 0, true, "epoch=005");
    expect_name("{epoch:.2f}", m, 3, 0, true, "epoch=3.00"); /* an integer as a real */
    expect_name("{val/acc:.2f}", m, 0, 0, true, "val/acc=0.12");
    expect_name("{missing}", m, 0, 0, true, "missing=0"); /* Lightning: absent is 0 */
    expect_name("{missing:d}", NULL, 0, 0, true, "missing=0");
    expect_name("{half}-{tiny}-{three}", m, 0, 0, true, "half=0.5-tiny=1e-05-three=3.0");
    expect_name("{three:.3}-{val_loss:.3}", m, 0, 0, true, "three=3.0-val_loss=0.281");
    expect_name("{val_loss:+.1e}", m, 0, 0, true, "val_loss=+2.8e-01");
    expect_name("{half:8}|{half:08}", m, 0, 0, false, "     0.5|000000.5");
    expect_name("last", m, 4, 4, true, "last");
    expect_name("a}b{step}", m, 0, 12, false, "a}b12");
    /* auto-insert puts the name before each field, wherever it is */
    expect_name("epoch={epoch}", m, 1, 0, true, "epoch=epoch=1");

    expect_name_error("{epoch", m, 256, "not closed");
    expect_name_error("x{}", m, 256, "empty name");
    expect_name_error("{val_loss:d}", m, 256, "needs an integer");
    expect_name_error("{epoch:>5}", m, 256, "unsupported format spec");
    expect_name_error("{epoch:.2d}", m, 256, "precision is not allowed");
    expect_name_error("{epoch}-{step}", m, 8, "longer than 7 bytes");
    volt_metrics_free(m);
}

static void expect_repr(double v, const char *want) {
    char buf[40];
    volt_checkpoint_float_repr(v, buf, sizeof buf);
    if (strcmp(buf, want) != 0) fail_msg("repr(%.17g) gave '%s', want '%s'", v, buf, want);
}

static void test_float_repr(void **state) {
    (void)state;
    expect_repr(0.1, "0.1");
    expect_repr(0.28111, "0.28111");
    expect_repr(3.0, "3.0");
    expect_repr(-0.0, "-0.0");
    expect_repr(100.0, "100.0");
    expect_repr(123.456, "123.456");
    expect_repr(1e-4, "0.0001");
    expect_repr(1e-5, "1e-05");
    expect_repr(1.5e-7, "1.5e-07");
    expect_repr(1e16, "1e+16");
    expect_repr(1234567890123456.0, "1234567890123456.0");
    expect_repr(1.0 / 3.0, "0.3333333333333333");
    expect_repr(NAN, "nan");
    expect_repr(INFINITY, "inf");
    expect_repr(-INFINITY, "-inf");
}

/* ------------------------------------------------------------- options */

static void expect_refused(volt_model_checkpoint_options o, const char *substr) {
    volt_callback *cb = volt_model_checkpoint_new(&o);
    if (cb) {
        cb->ops->free(cb);
        fail_msg("options accepted; wanted an error with '%s'", substr);
    }
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, substr);
}

static void test_options(void **state) {
    (void)state;
    volt_model_checkpoint_options d = volt_model_checkpoint_defaults();
    assert_null(d.dirpath);
    assert_null(d.filename);
    assert_null(d.monitor);
    assert_int_equal(d.save_top_k, 1);
    assert_string_equal(d.mode, "min");
    assert_true(d.auto_insert_metric_name);
    assert_true(d.every_n_epochs == VOLT_NONE);
    assert_int_equal(d.save_on_train_epoch_end, -1);
    assert_true(d.enable_version_counter);
    assert_int_equal(d.save_last, VOLT_SAVE_LAST_NO);

    volt_model_checkpoint_options o = d;
    o.mode = "avg";
    expect_refused(o, "mode = 'avg'");
    o = d, o.save_top_k = -2;
    expect_refused(o, "save_top_k = -2");
    o = d, o.every_n_train_steps = -1;
    expect_refused(o, "every_n_train_steps = -1");
    o = d, o.every_n_epochs = -3;
    expect_refused(o, "every_n_epochs = -3");
    o = d, o.train_time_interval = -1;
    expect_refused(o, "train_time_interval = -1");
    o = d, o.train_time_interval = NAN;
    expect_refused(o, "train_time_interval = nan");
    o = d, o.every_n_train_steps = 5, o.train_time_interval = 60;
    expect_refused(o, "mutually exclusive");
    o = d, o.every_n_train_steps = 5, o.every_n_epochs = 1;
    expect_refused(o, "mutually exclusive");
    o = d, o.save_top_k = 3;
    expect_refused(o, "save_top_k = 3 with monitor = NULL");
    o = d, o.save_on_train_epoch_end = 2;
    expect_refused(o, "save_on_train_epoch_end = 2");
    o = d, o.save_last = (volt_save_last)7;
    expect_refused(o, "save_last = 7");
    o = d, o.monitor = "";
    expect_refused(o, "monitor = \"\"");
    o = d, o.filename = "{epoch";
    expect_refused(o, "filename '{epoch'");
    char longdir[PATH_MAX + 100];
    memset(longdir, 'a', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = 0;
    o = d, o.dirpath = longdir;
    expect_refused(o, "dirpath is longer than PATH_MAX");

    /* accepted: k > 1 with a monitor; steps alone (every_n_epochs None -> 0) */
    o = d, o.monitor = "val_loss", o.save_top_k = 3, o.mode = "max", o.dirpath = "rel/../ck/";
    volt_callback *cb = volt_model_checkpoint_new(&o);
    assert_non_null(cb);
    assert_string_equal(cb->ops->name, "ModelCheckpoint");
    assert_true(cb->ops->monitoring);
    char *key = cb->ops->state_key(cb);
    assert_string_equal(key, "ModelCheckpoint{monitor=val_loss,mode=max,every_n_train_steps=0,"
                             "every_n_epochs=1,train_time_interval=None}");
    free(key);
    char cwd[PATH_MAX], want[PATH_MAX + 8];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/ck", cwd);
    assert_string_equal(volt_model_checkpoint_dirpath(cb), want);
    assert_string_equal(volt_model_checkpoint_best_model_path(cb), "");
    assert_true(isnan(volt_model_checkpoint_best_model_score(cb)));
    assert_string_equal(volt_model_checkpoint_last_model_path(cb), "");
    assert_int_equal(volt_model_checkpoint_best_k_count(cb), 0);
    assert_string_equal(volt_model_checkpoint_best_k_path(cb, 0), "");
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "index 0 out of range");
    cb->ops->free(cb);

    o = d, o.every_n_train_steps = 50, o.train_time_interval = 0;
    cb = volt_model_checkpoint_new(&o);
    assert_non_null(cb);
    key = cb->ops->state_key(cb);
    assert_string_equal(key, "ModelCheckpoint{monitor=None,mode=min,every_n_train_steps=50,"
                             "every_n_epochs=0,train_time_interval=None}");
    free(key);
    assert_string_equal(volt_model_checkpoint_dirpath(cb), ""); /* known at setup */
    cb->ops->free(cb);

    o = d, o.train_time_interval = 90;
    cb = volt_model_checkpoint_new(&o);
    key = cb->ops->state_key(cb);
    assert_string_equal(key, "ModelCheckpoint{monitor=None,mode=min,every_n_train_steps=0,"
                             "every_n_epochs=0,train_time_interval=90}");
    free(key);
    cb->ops->free(cb);

    /* NULL options are the defaults */
    cb = volt_model_checkpoint_new(NULL);
    assert_non_null(cb);
    cb->ops->free(cb);

    /* the accessors refuse another callback */
    volt_callback other = {&(volt_callback_ops){.name = "Other"}, NULL};
    assert_string_equal(volt_model_checkpoint_best_model_path(&other), "");
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "Other is not a ModelCheckpoint");
    assert_int_equal(volt_model_checkpoint_best_k_count(NULL), 0);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL is not a ModelCheckpoint");
}

/* ------------------------------------------------- state, hand-written */

static volt_callback *mc_new_dir(const char *dir, const char *monitor, int64_t k) {
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.monitor = monitor;
    o.save_top_k = k;
    volt_callback *cb = volt_model_checkpoint_new(&o);
    assert_non_null(cb);
    return cb;
}

static void test_state_load(void **state) {
    (void)state;
    volt_callback *cb = mc_new_dir("/ck/a", "val_loss", 2);
    const char *json =
        "{\"monitor\":\"val_loss\",\"best_model_score\":0.1,\"best_model_path\":\"/ck/a/e3.ckpt\","
        "\"current_score\":0.1,\"dirpath\":\"/ck/a\",\"best_k_models\":{\"/ck/a/e1.ckpt\":0.3,"
        "\"/ck/a/e3.ckpt\":0.1},\"kth_best_model_path\":\"/ck/a/e1.ckpt\",\"kth_value\":0.3,"
        "\"last_model_path\":\"/ck/a/last.ckpt\"}";
    assert_int_equal(cb->ops->load_state_dict(cb, json), VOLT_OK);
    assert_string_equal(volt_model_checkpoint_best_model_path(cb), "/ck/a/e3.ckpt");
    assert_true(volt_model_checkpoint_best_model_score(cb) == 0.1);
    assert_string_equal(volt_model_checkpoint_last_model_path(cb), "/ck/a/last.ckpt");
    assert_int_equal(volt_model_checkpoint_best_k_count(cb), 2);
    assert_string_equal(volt_model_checkpoint_best_k_path(cb, 0), "/ck/a/e3.ckpt");
    assert_true(volt_model_checkpoint_best_k_score(cb, 0) == 0.1);
    assert_string_equal(volt_model_checkpoint_best_k_path(cb, 1), "/ck/a/e1.ckpt");
    assert_true(volt_model_checkpoint_best_k_score(cb, 1) == 0.3);

    /* and out again: the same keys and values */
    char *out = cb->ops->state_dict(cb);
    cJSON *o = cJSON_Parse(out);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "monitor")->valuestring, "val_loss");
    assert_string_equal(cJSON_GetObjectItem(o, "dirpath")->valuestring, "/ck/a");
    assert_string_equal(cJSON_GetObjectItem(o, "kth_best_model_path")->valuestring,
                        "/ck/a/e1.ckpt");
    assert_true(cJSON_GetObjectItem(o, "kth_value")->valuedouble == 0.3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "current_score"))); /* not restored */
    cJSON *best = cJSON_GetObjectItem(o, "best_k_models");
    assert_int_equal(cJSON_GetArraySize(best), 2);
    assert_string_equal(best->child->string, "/ck/a/e1.ckpt"); /* insertion order kept */
    cJSON_Delete(o);
    free(out);
    cb->ops->free(cb);

    /* another dirpath: only best_model_path comes back (with a warning) */
    cb = mc_new_dir("/ck/b", "val_loss", 2);
    assert_int_equal(cb->ops->load_state_dict(cb, json), VOLT_OK);
    assert_string_equal(volt_model_checkpoint_best_model_path(cb), "/ck/a/e3.ckpt");
    assert_true(isnan(volt_model_checkpoint_best_model_score(cb)));
    assert_int_equal(volt_model_checkpoint_best_k_count(cb), 0);
    assert_string_equal(volt_model_checkpoint_last_model_path(cb), "");

    /* bad states */
    assert_int_equal(cb->ops->load_state_dict(cb, "[1]"), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "not a JSON object");
    assert_int_equal(cb->ops->load_state_dict(cb, "{\"dirpath\":\"/ck/b\",\"best_k_models\":[1]}"),
                     VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "\"best_k_models\" must be");
    assert_int_equal(cb->ops->load_state_dict(cb, "{\"best_model_path\":3}"), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "\"best_model_path\" must be a string");
    cb->ops->free(cb);

    /* non-finite scores survive the trip */
    cb = mc_new_dir("/ck/c", "val_loss", 1);
    assert_int_equal(cb->ops->load_state_dict(
                         cb,
                         "{\"dirpath\":\"/ck/c\",\"best_model_score\":\"inf\",\"best_k_models\":"
                         "{\"/ck/c/x.ckpt\":\"inf\"},\"kth_value\":\"-inf\"}"),
                     VOLT_OK);
    assert_true(isinf(volt_model_checkpoint_best_model_score(cb)));
    out = cb->ops->state_dict(cb);
    assert_non_null(strstr(out, "\"kth_value\":\"-inf\""));
    assert_non_null(strstr(out, "{\"/ck/c/x.ckpt\":\"inf\"}"));
    free(out);
    cb->ops->free(cb);
}

/* --------------------------------------------------------- training runs */

/* The tiny linear module whose validation logs a scripted "val_loss" per
 * epoch (at on_validation_epoch_end). */
typedef struct {
    lin_module lin;
    const double *scores;
    int n_scores;
} scored_module;

static volt_status scored_val_epoch_end(volt_module *self, volt_step *step) {
    scored_module *m = (scored_module *)self;
    int64_t e = volt_trainer_current_epoch(volt_step_trainer(step));
    return volt_log_ex(step, "val_loss", m->scores[e % m->n_scores], 0, 1);
}

static const volt_module_ops scored_ops = {
    .name = "scored",
    .training_step = lin_training_step,
    .validation_step = lin_eval_step,
    .configure_optimizers = lin_configure,
    .on_validation_epoch_end = scored_val_epoch_end,
};

typedef struct {
    scored_module m;
    volt_datamodule *dm;
    volt_trainer *t;
    volt_callback *cb; /* owned by t */
} run_ctx;

/* Fits for `epochs` epochs of 4 batches (8 items in 2s; n_val 0: no
 * validation) with a ModelCheckpoint of options o. */
static volt_status run_fit(run_ctx *r, const volt_model_checkpoint_options *o, const double *scores,
                           int n_scores, int64_t epochs, int64_t n_val, volt_trainer_config cfg) {
    memset(r, 0, sizeof *r);
    lin_init(&r->m.lin, &scored_ops, 3, 0.05);
    r->m.scores = scores;
    r->m.n_scores = n_scores;
    r->dm = tiny_dm_new(8, n_val, 3, 2);
    cfg.max_epochs = epochs;
    cfg.enable_checkpointing = true; /* quiet_config turns it off; ours replaces the default */
    r->t = volt_trainer_new(&cfg);
    assert_non_null(r->t);
    r->cb = volt_model_checkpoint_new(o);
    assert_non_null(r->cb);
    assert_int_equal(volt_trainer_add_callback(r->t, r->cb), VOLT_OK);
    return volt_trainer_fit(r->t, &r->m.lin.base, r->dm, NULL);
}

static void run_done(run_ctx *r) {
    volt_trainer_free(r->t);
    volt_datamodule_free(r->dm);
    volt_module_free(&r->m.lin.base);
}

static void fit_ok(run_ctx *r, const volt_model_checkpoint_options *o, const double *scores,
                   int n_scores, int64_t epochs, int64_t n_val) {
    volt_status st = run_fit(r, o, scores, n_scores, epochs, n_val, quiet_config());
    if (st) fail_msg("fit: %s", volt_error_message());
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory's entries, sorted, joined by " " ("" when empty or absent). */
static const char *dir_listing(const char *dir) {
    static char out[4096];
    char *names[256];
    int n = 0;
    out[0] = 0;
    DIR *d = opendir(dir);
    if (!d) return out;
    for (struct dirent *e; (e = readdir(d)) && n < 256;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        k += (size_t)snprintf(out + k, sizeof out - k, "%s%s", i ? " " : "", names[i]);
        free(names[i]);
    }
    return out;
}

static const char *in_dir(const char *dir, const char *name) {
    static char path[2][PATH_MAX];
    static int which;
    which ^= 1;
    snprintf(path[which], PATH_MAX, "%s/%s", dir, name);
    return path[which];
}

/* The checkpoint at path opens and was written at global step `step`. */
static void expect_ckpt_step(const char *path, int64_t step) {
    volt_checkpoint *ck = volt_checkpoint_open(path);
    if (!ck) fail_msg("%s: %s", path, volt_error_message());
    assert_int_equal(volt_checkpoint_global_step(ck), step);
    volt_checkpoint_close(ck);
}

static const double scores5[] = {0.5, 0.3, 0.4, 0.1, 0.6};

static void test_top_k_min_and_max(void **state) {
    (void)state;
    const char *dir = fresh_dir("topk_min");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.monitor = "val_loss";
    o.save_top_k = 2;
    o.filename = "{epoch}-{val_loss:.2f}";
    run_ctx r;
    fit_ok(&r, &o, scores5, 5, 5, 4);
    assert_string_equal(dir_listing(dir), "epoch=1-val_loss=0.30.ckpt epoch=3-val_loss=0.10.ckpt");
    assert_string_equal(volt_model_checkpoint_best_model_path(r.cb),
                        in_dir(dir, "epoch=3-val_loss=0.10.ckpt"));
    assert_true(volt_model_checkpoint_best_model_score(r.cb) == 0.1);
    assert_int_equal(volt_model_checkpoint_best_k_count(r.cb), 2);
    assert_string_equal(volt_model_checkpoint_best_k_path(r.cb, 0),
                        in_dir(dir, "epoch=3-val_loss=0.10.ckpt"));
    assert_string_equal(volt_model_checkpoint_best_k_path(r.cb, 1),
                        in_dir(dir, "epoch=1-val_loss=0.30.ckpt"));
    assert_true(volt_model_checkpoint_best_k_score(r.cb, 1) == 0.3);
    assert_string_equal(volt_model_checkpoint_dirpath(r.cb), dir);
    assert_string_equal(volt_model_checkpoint_last_model_path(r.cb), "");
    /* saved at the end of epochs 1 and 3: 4 steps per epoch */
    expect_ckpt_step(in_dir(dir, "epoch=1-val_loss=0.30.ckpt"), 8);
    expect_ckpt_step(in_dir(dir, "epoch=3-val_loss=0.10.ckpt"), 16);
    run_done(&r);

    dir = fresh_dir("topk_max");
    o.dirpath = dir;
    o.mode = "max";
    o.verbose = true; /* the messages go to stderr */
    fit_ok(&r, &o, scores5, 5, 5, 4);
    assert_string_equal(dir_listing(dir), "epoch=0-val_loss=0.50.ckpt epoch=4-val_loss=0.60.ckpt");
    assert_string_equal(volt_model_checkpoint_best_model_path(r.cb),
                        in_dir(dir, "epoch=4-val_loss=0.60.ckpt"));
    assert_true(volt_model_checkpoint_best_model_score(r.cb) == 0.6);
    run_done(&r);
}

static void test_nan_ranks_worst(void **state) {
    (void)state;
    const double scores[] = {NAN, 0.3, NAN, 0.2};
    const char *dir = fresh_dir("nan");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.monitor = "val_loss";
    o.save_top_k = 2;
    o.filename = "{epoch}";
    run_ctx r;
    fit_ok(&r, &o, scores, 4, 4, 4);
    /* epoch 0 (NaN -> +inf) is saved while there is room, then replaced */
    assert_string_equal(dir_listing(dir), "epoch=1.ckpt epoch=3.ckpt");
    assert_true(volt_model_checkpoint_best_model_score(r.cb) == 0.2);
    run_done(&r);
}

static void test_no_monitor(void **state) {
    (void)state;
    const char *dir = fresh_dir("latest");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    run_ctx r;
    fit_ok(&r, &o, scores5, 5, 3, 0); /* no validation: saved at train epoch end */
    assert_string_equal(dir_listing(dir), "epoch=2-step=12.ckpt");
    assert_string_equal(volt_model_checkpoint_best_model_path(r.cb),
                        in_dir(dir, "epoch=2-step=12.ckpt"));
    assert_true(isnan(volt_model_checkpoint_best_model_score(r.cb)));
    assert_int_equal(volt_model_checkpoint_best_k_count(r.cb), 0);
    expect_ckpt_step(in_dir(dir, "epoch=2-step=12.ckpt"), 12);
    run_done(&r);

    dir = fresh_dir("all");
    o.dirpath = dir;
    o.save_top_k = -1;
    fit_ok(&r, &o, scores5, 5, 3, 4);
    assert_string_equal(dir_listing(dir),
                        "epoch=0-step=4.ckpt epoch=1-step=8.ckpt epoch=2-step=12.ckpt");
    run_done(&r);
}

static void test_save_last(void **state) {
    (void)state;
    const char *dir = fresh_dir("last_copy");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.save_last = VOLT_SAVE_LAST_YES;
    run_ctx r;
    fit_ok(&r, &o, scores5, 5, 2, 4);
    assert_string_equal(dir_listing(dir), "epoch=1-step=8.ckpt last.ckpt");
    assert_string_equal(volt_model_checkpoint_last_model_path(r.cb), in_dir(dir, "last.ckpt"));
    struct stat sb;
    assert_int_equal(lstat(in_dir(dir, "last.ckpt"), &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    expect_ckpt_step(in_dir(dir, "last.ckpt"), 8);
    run_done(&r);

    dir = fresh_dir("last_link");
    o.dirpath = dir;
    o.save_last = VOLT_SAVE_LAST_LINK;
    fit_ok(&r, &o, scores5, 5, 2, 4);
    assert_string_equal(dir_listing(dir), "epoch=1-step=8.ckpt last.ckpt");
    assert_int_equal(lstat(in_dir(dir, "last.ckpt"), &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    char target[PATH_MAX];
    ssize_t n = readlink(in_dir(dir, "last.ckpt"), target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = 0;
    assert_string_equal(target, "epoch=1-step=8.ckpt");
    expect_ckpt_step(in_dir(dir, "last.ckpt"), 8); /* through the link */
    run_done(&r);

    /* a link with nothing else saved is a file */
    dir = fresh_dir("last_link_only");
    o.dirpath = dir;
    o.save_top_k = 0;
    fit_ok(&r, &o, scores5, 5, 2, 4);
    assert_string_equal(dir_listing(dir), "last.ckpt");
    assert_int_equal(lstat(in_dir(dir, "last.ckpt"), &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    run_done(&r);
}

static void test_every_n_train_steps(void **state) {
    (void)state;
    const char *dir = fresh_dir("steps");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.every_n_train_steps = 3;
    o.save_top_k = -1;
    run_ctx r;
    fit_ok(&r, &o, scores5, 5, 2, 4); /* 8 steps: saves at 3 and 6, none at epoch ends */
    assert_string_equal(dir_listing(dir), "epoch=0-step=3.ckpt epoch=1-step=6.ckpt");
    expect_ckpt_step(in_dir(dir, "epoch=1-step=6.ckpt"), 6);
    run_done(&r);

    /* an interval shorter than any step: a save after every step */
    dir = fresh_dir("time");
    o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.train_time_interval = 1e-9;
    o.save_top_k = -1;
    o.filename = "{step}";
    fit_ok(&r, &o, scores5, 5, 1, 0);
    assert_string_equal(dir_listing(dir), "step=1.ckpt step=2.ckpt step=3.ckpt step=4.ckpt");
    run_done(&r);
}

/* Validation twice per epoch: saved at each validation end (Lightning's
 * rule for val_check_interval != 1), never at train epoch end. */
static void test_saves_at_validation_end(void **state) {
    (void)state;
    const char *dir = fresh_dir("val_end");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.save_top_k = -1;
    volt_trainer_config cfg = quiet_config();
    cfg.val_check_interval = 0.5;
    run_ctx r;
    volt_status st = run_fit(&r, &o, scores5, 5, 2, 4, cfg);
    if (st) fail_msg("fit: %s", volt_error_message());
    assert_string_equal(dir_listing(dir), "epoch=0-step=2.ckpt epoch=0-step=4.ckpt "
                                          "epoch=1-step=6.ckpt epoch=1-step=8.ckpt");
    run_done(&r);

    /* save_on_train_epoch_end = 1: only at the end of the epochs */
    dir = fresh_dir("train_end");
    o.dirpath = dir;
    o.save_on_train_epoch_end = 1;
    st = run_fit(&r, &o, scores5, 5, 2, 4, cfg);
    if (st) fail_msg("fit: %s", volt_error_message());
    assert_string_equal(dir_listing(dir), "epoch=0-step=4.ckpt epoch=1-step=8.ckpt");
    run_done(&r);
}

static void test_version_counter(void **state) {
    (void)state;
    const char *dir = fresh_dir("versions");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    run_ctx r;
    fit_ok(&r, &o, scores5, 5, 1, 0);
    run_done(&r);
    fit_ok(&r, &o, scores5, 5, 1, 0); /* a second run into the same directory */
    assert_string_equal(dir_listing(dir), "epoch=0-step=4-v1.ckpt epoch=0-step=4.ckpt");
    assert_string_equal(volt_model_checkpoint_best_model_path(r.cb),
                        in_dir(dir, "epoch=0-step=4-v1.ckpt"));
    run_done(&r);
    o.enable_version_counter = false; /* overwritten */
    fit_ok(&r, &o, scores5, 5, 1, 0);
    assert_string_equal(dir_listing(dir), "epoch=0-step=4-v1.ckpt epoch=0-step=4.ckpt");
    run_done(&r);

    /* one name for every epoch: versions inside one run */
    dir = fresh_dir("versions_run");
    o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.monitor = "val_loss";
    o.save_top_k = -1;
    o.filename = "best";
    fit_ok(&r, &o, scores5, 5, 3, 4);
    assert_string_equal(dir_listing(dir), "best-v1.ckpt best-v2.ckpt best.ckpt");
    assert_string_equal(volt_model_checkpoint_best_model_path(r.cb), in_dir(dir, "best-v1.ckpt"));
    run_done(&r);
}

static void test_state_after_training(void **state) {
    (void)state;
    const char *dir = fresh_dir("state");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.monitor = "val_loss";
    o.save_top_k = 2;
    o.save_last = VOLT_SAVE_LAST_YES;
    run_ctx r;
    fit_ok(&r, &o, scores5, 5, 4, 4);
    char *json = volt_callback_state_dict(r.cb);
    assert_non_null(json);
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "dirpath")->valuestring, dir);
    assert_true(cJSON_GetObjectItem(j, "current_score")->valuedouble == 0.1);
    assert_true(cJSON_GetObjectItem(j, "kth_value")->valuedouble == 0.3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "best_k_models")), 2);
    cJSON_Delete(j);

    volt_callback *back = volt_model_checkpoint_new(&o);
    assert_int_equal(back->ops->load_state_dict(back, json), VOLT_OK);
    assert_string_equal(volt_model_checkpoint_best_model_path(back),
                        volt_model_checkpoint_best_model_path(r.cb));
    assert_true(volt_model_checkpoint_best_model_score(back) == 0.1);
    assert_string_equal(volt_model_checkpoint_last_model_path(back), in_dir(dir, "last.ckpt"));
    assert_int_equal(volt_model_checkpoint_best_k_count(back), 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(volt_model_checkpoint_best_k_path(back, i),
                            volt_model_checkpoint_best_k_path(r.cb, i));
        assert_true(volt_model_checkpoint_best_k_score(back, i) ==
                    volt_model_checkpoint_best_k_score(r.cb, i));
    }
    char *again = back->ops->state_dict(back);
    j = cJSON_Parse(again);
    cJSON *k1 = cJSON_GetObjectItem(j, "best_k_models"), *k0 = cJSON_Parse(json);
    assert_true(cJSON_Compare(k1, cJSON_GetObjectItem(k0, "best_k_models"), true));
    cJSON_Delete(j);
    cJSON_Delete(k0);
    free(again);
    back->ops->free(back);
    free(json);
    run_done(&r);
}

static void test_missing_monitor(void **state) {
    (void)state;
    const char *dir = fresh_dir("missing");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.monitor = "val_acc";
    run_ctx r;
    volt_status st = run_fit(&r, &o, scores5, 5, 2, 4, quiet_config());
    assert_int_equal(st, VOLT_ERR_INVALID_ARGUMENT);
    /* raised at the first epoch end, after a validation ran; lists what there is */
    assert_non_null(strstr(volt_error_message(), "on_train_epoch_end failed at epoch 0"));
    assert_non_null(strstr(volt_error_message(), "['val_loss', 'epoch', 'step']"));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "ModelCheckpoint(monitor='val_acc') could not find the monitored key");
    assert_string_equal(dir_listing(dir), "");
    run_done(&r);
}

static void test_no_saving_outside_fit(void **state) {
    (void)state;
    const char *dir = fresh_dir("fast_dev");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    o.save_last = VOLT_SAVE_LAST_YES;
    volt_trainer_config cfg = quiet_config();
    cfg.fast_dev_run = 2;
    run_ctx r;
    assert_int_equal(run_fit(&r, &o, scores5, 5, 1, 4, cfg), VOLT_OK);
    assert_string_equal(dir_listing(dir), "");
    /* validate is not fit: nothing saved either */
    assert_int_equal(volt_trainer_validate(r.t, &r.m.lin.base, r.dm, NULL, NULL), VOLT_OK);
    assert_string_equal(dir_listing(dir), "");
    run_done(&r);
}

static void test_directories(void **state) {
    (void)state;
    /* nested directories are made */
    const char *base = fresh_dir("dirs");
    char nested[PATH_MAX];
    snprintf(nested, sizeof nested, "%s/a/b/c", base);
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = nested;
    run_ctx r;
    fit_ok(&r, &o, scores5, 5, 1, 0);
    assert_string_equal(dir_listing(nested), "epoch=0-step=4.ckpt");
    run_done(&r);

    /* no dirpath: <default_root_dir>/checkpoints without a logger */
    volt_trainer_config cfg = quiet_config();
    cfg.default_root_dir = base;
    o = volt_model_checkpoint_defaults();
    assert_int_equal(run_fit(&r, &o, scores5, 5, 1, 0, cfg), VOLT_OK);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s/checkpoints", base);
    assert_string_equal(volt_model_checkpoint_dirpath(r.cb), want);
    assert_string_equal(dir_listing(want), "epoch=0-step=4.ckpt");
    run_done(&r);

    /* a name that fits alone but not after the directory fails the fit */
    static char longname[PATH_MAX];
    memset(longname, 'x', PATH_MAX - 20);
    memcpy(longname + PATH_MAX - 20, "{epoch}", 8);
    o.dirpath = base;
    o.filename = longname;
    o.auto_insert_metric_name = false;
    volt_status st = run_fit(&r, &o, scores5, 5, 1, 0, quiet_config());
    assert_int_equal(st, VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the checkpoint path is longer than PATH_MAX");
    run_done(&r);
}

/* Resuming: the checkpoint resumed from is never removed, even when it
 * falls out of the top k; the state comes back with the same dirpath. */
static void test_resume_keeps_its_checkpoint(void **state) {
    (void)state;
    const char *dir = fresh_dir("resume");
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.dirpath = dir;
    run_ctx r;
    fit_ok(&r, &o, scores5, 5, 2, 4);
    assert_string_equal(dir_listing(dir), "epoch=1-step=8.ckpt");
    /* "best" is the best_model_path */
    assert_int_equal(volt_trainer_validate(r.t, &r.m.lin.base, r.dm, "best", NULL), VOLT_OK);
    run_done(&r);

    char from[PATH_MAX];
    snprintf(from, sizeof from, "%s/epoch=1-step=8.ckpt", dir);
    memset(&r, 0, sizeof r);
    lin_init(&r.m.lin, &scored_ops, 3, 0.05);
    r.m.scores = scores5;
    r.m.n_scores = 5;
    r.dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 4;
    cfg.enable_checkpointing = true;
    r.t = volt_trainer_new(&cfg);
    r.cb = volt_model_checkpoint_new(&o);
    assert_int_equal(volt_trainer_add_callback(r.t, r.cb), VOLT_OK);
    volt_status st = volt_trainer_fit(r.t, &r.m.lin.base, r.dm, from);
    if (st) fail_msg("fit: %s", volt_error_message());
    /* epoch 2 replaced the resumed-from file as "latest" but did not
     * remove it; epoch 3 removed epoch 2's own file */
    assert_string_equal(dir_listing(dir), "epoch=1-step=8.ckpt epoch=3-step=16.ckpt");
    assert_string_equal(volt_model_checkpoint_best_model_path(r.cb),
                        in_dir(dir, "epoch=3-step=16.ckpt"));
    run_done(&r);
}

/* No dirpath: a state loaded before setup waits for the directory, then
 * follows the dirpath rule (here: the same directory, so all of it). */
static void test_state_before_setup(void **state) {
    (void)state;
    const char *root = fresh_dir("pending");
    char json[4 * PATH_MAX];
    snprintf(json, sizeof json,
             "{\"dirpath\":\"%s/checkpoints\",\"best_model_score\":0.05,\"best_model_path\":"
             "\"%s/checkpoints/old.ckpt\",\"best_k_models\":{\"%s/checkpoints/old.ckpt\":0.05},"
             "\"kth_best_model_path\":\"\",\"kth_value\":\"inf\",\"last_model_path\":\"\"}",
             root, root, root);
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.monitor = "val_loss";
    o.save_top_k = 2;
    volt_callback *cb = volt_model_checkpoint_new(&o);
    assert_int_equal(cb->ops->load_state_dict(cb, json), VOLT_OK);
    assert_string_equal(volt_model_checkpoint_best_model_path(cb), ""); /* not yet */
    assert_int_equal(cb->ops->load_state_dict(cb, "nope"), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "not a JSON object");

    run_ctx r;
    memset(&r, 0, sizeof r);
    lin_init(&r.m.lin, &scored_ops, 3, 0.05);
    r.m.scores = scores5;
    r.m.n_scores = 5;
    r.dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    cfg.enable_checkpointing = true;
    cfg.default_root_dir = root;
    r.t = volt_trainer_new(&cfg);
    r.cb = cb;
    assert_int_equal(volt_trainer_add_callback(r.t, cb), VOLT_OK);
    volt_status st = volt_trainer_fit(r.t, &r.m.lin.base, r.dm, NULL);
    if (st) fail_msg("fit: %s", volt_error_message());
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/checkpoints/old.ckpt", root);
    assert_string_equal(volt_model_checkpoint_best_model_path(cb), want);
    assert_true(volt_model_checkpoint_best_model_score(cb) == 0.05);
    assert_int_equal(volt_model_checkpoint_best_k_count(cb), 2);
    snprintf(want, sizeof want, "%s/checkpoints/epoch=0-step=4.ckpt", root);
    assert_string_equal(volt_model_checkpoint_best_k_path(cb, 1), want);
    assert_true(volt_model_checkpoint_best_k_score(cb, 1) == 0.5);
    run_done(&r);
}

/* enable_checkpointing with no ModelCheckpoint added: the trainer's own,
 * with the defaults, into <default_root_dir>/checkpoints. */
static void test_trainer_default_callback(void **state) {
    (void)state;
    const char *root = fresh_dir("default_cb");
    scored_module m;
    lin_init(&m.lin, &scored_ops, 3, 0.05);
    m.scores = scores5;
    m.n_scores = 5;
    volt_datamodule *dm = tiny_dm_new(8, 4, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 2;
    cfg.enable_checkpointing = true;
    cfg.default_root_dir = root;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.lin.base, dm, NULL), VOLT_OK);
    volt_callback *cb = volt_trainer_find_callback(t, "ModelCheckpoint", 0);
    assert_non_null(cb);
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/checkpoints", root);
    assert_string_equal(volt_model_checkpoint_dirpath(cb), dir);
    assert_string_equal(dir_listing(dir), "epoch=1-step=8.ckpt");
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.lin.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_format_name),
        VT_TEST(test_float_repr),
        VT_TEST(test_options),
        VT_TEST(test_state_load),
        VT_TEST(test_top_k_min_and_max),
        VT_TEST(test_nan_ranks_worst),
        VT_TEST(test_no_monitor),
        VT_TEST(test_save_last),
        VT_TEST(test_every_n_train_steps),
        VT_TEST(test_saves_at_validation_end),
        VT_TEST(test_version_counter),
        VT_TEST(test_state_after_training),
        VT_TEST(test_missing_monitor),
        VT_TEST(test_no_saving_outside_fit),
        VT_TEST(test_directories),
        VT_TEST(test_resume_keeps_its_checkpoint),
        VT_TEST(test_state_before_setup),
        VT_TEST(test_trainer_default_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
