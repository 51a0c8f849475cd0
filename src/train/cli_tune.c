/* cli_tune.c: `volt tune` — the tuner section's classes, lr_find
 * (volt_tuner_lr_find) and scale_batch_size (volt_tuner_scale_batch_size),
 * their option tables, and their runs. scale_batch_size changes the batch
 * size of any registered datamodule that has a batch_size key: the run
 * hands the tuner a stand-in datamodule that builds the real one from its
 * options, again at each new size. Each prints the result and the override
 * that applies it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli_impl.h"
#include "train/option_tables_impl.h"

/* ------------------------------------------------------------ tables */

typedef struct {
    volt_lr_find_options o;
} lr_find_cli;
#define LF(f, T, d, h, ...) VOLT_OPT_KEY(#f, lr_find_cli, o.f, T, d, h, __VA_ARGS__)
static const volt_option lr_find_table[] = {
    LF(min_lr, DOUBLE, "1.0e-08", "the first learning rate", VOLT_GE(0)),
    LF(max_lr, DOUBLE, "1.0", "the last learning rate", VOLT_GE(0)),
    LF(num_training, INT, "100", "optimizer steps of the sweep", VOLT_GE(2)),
    LF(mode, CHOICE, "exponential", "exponential or linear sweep",
       VOLT_CHOICES("exponential", "linear")),
    LF(early_stop_threshold, DOUBLE, "4.0",
       "stop once the loss exceeds this many times the best (null: never)", VOLT_GE(0),
       .flags = VOLT_OPTION_NULL_NAN),
    LF(csv_path, STRING, "null", "write the curve (lr,loss) to this CSV file", VOLT_NULLABLE),
    LF(verbose, BOOL, "false", "print the early stop and the suggestion"),
    {0},
};

typedef struct {
    volt_batch_size_options o;
} batch_size_cli;
#define BS(f, T, d, h, ...) VOLT_OPT_KEY(#f, batch_size_cli, o.f, T, d, h, __VA_ARGS__)
static const volt_option batch_size_table[] = {
    BS(mode, CHOICE, "power", "power (double while it fits) or binsearch (then bisect)",
       VOLT_CHOICES("power", "binsearch")),
    BS(init_val, INT, "2", "the first batch size", VOLT_GE(1)),
    BS(max_trials, INT, "25", "at most this many trials", VOLT_GE(1)),
    BS(steps_per_trial, INT, "3", "optimizer steps per trial", VOLT_GE(1)),
    BS(memory_budget, INT, "0",
       "bytes a trial may allocate at its peak (0: until allocation fails)", VOLT_GE(0)),
    BS(verbose, BOOL, "false", "print each trial"),
    {0},
};

#define TUNER(name, help, table, type)                                                             \
    {                                                                                              \
        .cls = { name, help, table, sizeof(type), NULL, NULL }                                     \
    }
const cli_builtin cli_tuners[] = {
    TUNER("lr_find", "sweep the learning rate and suggest one (Tuner.lr_find)", lr_find_table,
          lr_find_cli),
    TUNER("scale_batch_size", "the largest batch size that fits (Tuner.scale_batch_size)",
          batch_size_table, batch_size_cli),
};
const int cli_n_tuners = sizeof cli_tuners / sizeof cli_tuners[0];

/* ------------------------------------------------------------ lr_find */

static int lr_find(const cli_resolved *r, volt_trainer *t, volt_module *model,
                   volt_datamodule *data, FILE *out, FILE *err) {
    volt_lr_find_options o = ((const lr_find_cli *)r->tuner.opts)->o;
    volt_lr_find_result *res = NULL;
    volt_status st = volt_tuner_lr_find(t, model, data, &o, &res);
    if (st) {
        cli_print_error(err, "volt");
        return 1;
    }
    fprintf(out, "lr_find: %lld steps from %g to %g%s\n", (long long)res->count, o.min_lr, o.max_lr,
            res->stopped_early ? " (stopped early: the loss diverged)" : "");
    if (isnan(res->suggestion)) {
        fprintf(out, "lr_find: no suggestion (too few finite losses)\n");
    } else {
        fprintf(out, "lr_find: suggested learning rate %.3g (step %lld)\n", res->suggestion,
                (long long)res->suggestion_index);
        const char *key = r->optimizer.cls ? "optimizer.lr" : "model.lr";
        if (r->optimizer.cls || volt_option_find(r->model.cls->options, "lr"))
            fprintf(out, "  apply it: --%s=%.3g\n", key, res->suggestion);
    }
    if (o.csv_path) fprintf(out, "lr_find: curve in %s\n", o.csv_path);
    volt_lr_find_result_free(res);
    return 0;
}

/* ------------------------------------------------------------ batch size */

/* A datamodule standing in for the configured one, rebuilt at each size. */
typedef struct {
    volt_datamodule base;
    volt_datamodule *inner;
    const cli_object *data; /* the class and its options */
    void *opts;             /* a copy of the options (shares their strings) */
} resizable;

static volt_datamodule *inner(volt_datamodule *d) { return ((resizable *)d)->inner; }
static volt_status rs_prepare(volt_datamodule *d) { return volt_datamodule_prepare_data(inner(d)); }
static volt_status rs_setup(volt_datamodule *d, volt_stage s) {
    return volt_datamodule_setup(inner(d), s);
}
static volt_status rs_teardown(volt_datamodule *d, volt_stage s) {
    return volt_datamodule_teardown(inner(d), s);
}
static volt_data_loader *rs_train(volt_datamodule *d) {
    return volt_datamodule_train_loader(inner(d));
}
static volt_data_loader *rs_val(volt_datamodule *d) { return volt_datamodule_val_loader(inner(d)); }
static volt_data_loader *rs_test(volt_datamodule *d) {
    return volt_datamodule_test_loader(inner(d));
}
static volt_data_loader *rs_predict(volt_datamodule *d) {
    return volt_datamodule_predict_loader(inner(d));
}
static char *rs_state(volt_datamodule *d) { return volt_datamodule_state_dict(inner(d)); }
static volt_status rs_load(volt_datamodule *d, const char *json) {
    return volt_datamodule_load_state_dict(inner(d), json);
}
static void rs_free(volt_datamodule *d) {
    resizable *rs = (resizable *)d;
    volt_datamodule_free(rs->inner);
    free(rs->opts);
    free(rs);
}
static const volt_datamodule_ops resizable_ops = {
    .name = "resizable",
    .prepare_data = rs_prepare,
    .setup = rs_setup,
    .train_loader = rs_train,
    .val_loader = rs_val,
    .test_loader = rs_test,
    .predict_loader = rs_predict,
    .teardown = rs_teardown,
    .state_dict = rs_state,
    .load_state_dict = rs_load,
    .free = rs_free,
};

static volt_status set_batch_size(volt_datamodule *dm, int64_t batch_size, void *ctx) {
    (void)ctx;
    resizable *rs = (resizable *)dm;
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)batch_size);
    const volt_option *o = volt_option_find(rs->data->cls->options, "batch_size");
    volt_status st = volt_option_set_text(o, rs->opts, "data", text, false);
    volt_datamodule *fresh = st ? NULL : rs->data->cls->new_datamodule(rs->opts);
    if (!fresh) return volt_error_status();
    volt_datamodule_free(rs->inner);
    rs->inner = fresh;
    return VOLT_OK;
}

static int scale_batch_size(const cli_resolved *r, volt_trainer *t, volt_module *model, FILE *out,
                            FILE *err) {
    const volt_option *bs = volt_option_find(r->data.cls->options, "batch_size");
    if (!bs || (bs->type != VOLT_OPTION_INT)) {
        fprintf(err, "volt: scale_batch_size: datamodule '%s' has no batch_size option\n",
                r->data.cls->name);
        return 2;
    }
    resizable *rs = calloc(1, sizeof *rs);
    void *opts = malloc(r->data.cls->options_size);
    if (!rs || !opts) {
        free(rs);
        free(opts);
        fprintf(err, "volt: scale_batch_size: out of memory\n");
        return 1;
    }
    memcpy(opts, r->data.opts, r->data.cls->options_size);
    volt_datamodule_init(&rs->base, &resizable_ops);
    rs->data = &r->data;
    rs->opts = opts;
    rs->inner = r->data.cls->new_datamodule(opts);
    volt_batch_size_options o = ((const batch_size_cli *)r->tuner.opts)->o;
    o.set_batch_size = set_batch_size;
    volt_batch_size_result *res = NULL;
    volt_status st = rs->inner ? volt_tuner_scale_batch_size(t, model, &rs->base, &o, &res)
                               : volt_error_status();
    int code = 0;
    if (st) {
        cli_print_error(err, "volt");
        code = 1;
    } else {
        fprintf(out,
                "scale_batch_size: batch_size %lld after %lld trials:", (long long)res->batch_size,
                (long long)res->n_trials);
        for (int64_t i = 0; i < res->n_trials; i++)
            fprintf(out, " %lld %s;", (long long)res->trials[i].batch_size, res->trials[i].why);
        fprintf(out, "\n  apply it: --data.batch_size=%lld\n", (long long)res->batch_size);
    }
    volt_batch_size_result_free(res);
    volt_datamodule_free(&rs->base);
    return code;
}

int cli_tune_run(const cli_resolved *r, volt_trainer *t, volt_module *model, volt_datamodule *data,
                 FILE *out, FILE *err) {
    if (strcmp(r->tuner.cls->name, "lr_find") == 0) return lr_find(r, t, model, data, out, err);
    (void)data; /* scale_batch_size rebuilds the datamodule at each size */
    return scale_batch_size(r, t, model, out, err);
}
