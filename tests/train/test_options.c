/* test_options.c: the option engine and the command line's configuration
 * (volt/train.h "option tables and the command line"; src/train/options*.c,
 * cli*.c) — every public table covers every field of its struct and its
 * defaults equal the struct's *_defaults(); text parsing of every type
 * (counts vs fractions of batches, lists, enums, VOLT_OPTIM_ZERO) and every
 * error message (unknown key with did-you-mean, wrong type, out of range,
 * bad choice, null, required); YAML files (values, syntax errors at their
 * line and column, unknown keys at theirs, a missing file) and the YAML
 * round trip; and cli_main in-process on a registry whose constructors
 * count their calls: --print-config fed back with -c gives the same text,
 * later sources win (files, overrides, environment VOLT_S__K), class
 * sections (name, class_path/init_args, a class change drops the old keys),
 * callbacks (+=, per-callback keys, the YAML forms), --help, and each bad
 * input exits 2 with its message and builds nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli_impl.h"
#include "volt_test.h"

static const char *tmp_path(const char *name) {
    static char buf[8][1024];
    static int next;
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    char *out = buf[next++ % 8];
    snprintf(out, sizeof buf[0], "%s/%s", dir && *dir ? dir : "/tmp", name);
    return out;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* ------------------------------------------------------ table coverage */

static size_t type_size(volt_option_type t) {
    switch (t) {
    case VOLT_OPTION_BOOL: return sizeof(bool);
    case VOLT_OPTION_INT32:
    case VOLT_OPTION_ENUM: return sizeof(int);
    case VOLT_OPTION_INT_LIST: return sizeof(volt_int_list);
    case VOLT_OPTION_STRING:
    case VOLT_OPTION_CHOICE: return sizeof(const char *);
    default: return 8;
    }
}

static size_t type_align(volt_option_type t) {
    return t == VOLT_OPTION_INT_LIST ? _Alignof(volt_int_list) : type_size(t);
}

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

/* The table's fields tile the struct: sorted by offset, each starts where
 * the previous ends (after alignment padding only), and the last ends
 * where the struct does. A field missing from the table leaves a hole. */
static void check_covers(const volt_option *table, size_t size, const char *what) {
    int n = 0;
    while (table[n].name) n++;
    const volt_option *sorted[128];
    assert_true(n <= 128);
    for (int i = 0; i < n; i++) sorted[i] = &table[i];
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sorted[j]->offset < sorted[j - 1]->offset; j--) {
            const volt_option *t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    size_t end = 0, max_align = 1;
    for (int i = 0; i < n; i++) {
        size_t a = type_align(sorted[i]->type);
        if (a > max_align) max_align = a;
        if (sorted[i]->offset != align_up(end, a))
            fail_msg("%s: a hole or overlap before '%s' (offset %zu, previous field ends at %zu)",
                     what, sorted[i]->name, sorted[i]->offset, end);
        end = sorted[i]->offset + type_size(sorted[i]->type);
    }
    if (align_up(end, max_align) != size)
        fail_msg("%s: the fields end at %zu but the struct has %zu bytes (a field missing at "
                 "the end?)",
                 what, end, size);
}

/* The defaults of `table` equal those in `expected`, field by field. */
static void check_defaults(const volt_option *table, const void *expected, size_t size,
                           const char *what) {
    void *obj = calloc(1, size);
    assert_int_equal(volt_options_defaults(table, obj), VOLT_OK);
    for (const volt_option *o = table; o->name; o++) {
        const char *a = (const char *)obj + o->offset, *b = (const char *)expected + o->offset;
        bool same;
        if (o->type == VOLT_OPTION_STRING || o->type == VOLT_OPTION_CHOICE) {
            const char *x = *(const char *const *)(const void *)a,
                       *y = *(const char *const *)(const void *)b;
            same = (!x && !y) || (x && y && strcmp(x, y) == 0);
        } else if (o->type == VOLT_OPTION_DOUBLE || o->type == VOLT_OPTION_BATCHES) {
            double x = *(const double *)(const void *)a, y = *(const double *)(const void *)b;
            same = x == y || (isnan(x) && isnan(y));
        } else {
            same = memcmp(a, b, type_size(o->type)) == 0;
        }
        if (!same) fail_msg("%s.%s: the table's default differs from the struct's", what, o->name);
    }
    volt_options_release(table, obj);
    free(obj);
}

static void test_tables_cover_their_structs(void **state) {
    (void)state;
    check_covers(volt_trainer_config_table, sizeof(volt_trainer_config), "trainer");
    check_covers(volt_model_checkpoint_table, sizeof(volt_model_checkpoint_options),
                 "model_checkpoint");
    check_covers(volt_early_stopping_table, sizeof(volt_early_stopping_options), "early_stopping");
    check_covers(volt_lr_monitor_table, sizeof(volt_lr_monitor_options), "lr_monitor");
    check_covers(volt_timer_table, sizeof(volt_timer_options), "timer");
    check_covers(volt_ema_table, sizeof(volt_ema_options), "ema");
    check_covers(volt_sgd_table, sizeof(volt_sgd_options), "sgd");
    check_covers(volt_adam_table, sizeof(volt_adam_options), "adam");
    check_covers(volt_adamw_table, sizeof(volt_adam_options), "adamw");
    check_covers(volt_rmsprop_table, sizeof(volt_rmsprop_options), "rmsprop");
    check_covers(volt_adagrad_table, sizeof(volt_adagrad_options), "adagrad");
    check_covers(volt_lion_table, sizeof(volt_lion_options), "lion");
    check_covers(volt_mlp_table, sizeof(volt_mlp_options), "mlp");
    check_covers(volt_cnn_table, sizeof(volt_cnn_options), "cnn");
    check_covers(volt_resnet_table, sizeof(volt_resnet_options), "resnet");
    check_covers(volt_gpt_table, sizeof(volt_gpt_options), "gpt");
    check_covers(volt_text_datamodule_table, sizeof(volt_text_datamodule_options), "text");
}

static void test_table_defaults_match_the_structs(void **state) {
    (void)state;
    volt_trainer_config tc = volt_trainer_defaults();
    check_defaults(volt_trainer_config_table, &tc, sizeof tc, "trainer");
    volt_model_checkpoint_options mc = volt_model_checkpoint_defaults();
    check_defaults(volt_model_checkpoint_table, &mc, sizeof mc, "model_checkpoint");
    volt_early_stopping_options es = volt_early_stopping_defaults();
    check_defaults(volt_early_stopping_table, &es, sizeof es, "early_stopping");
    volt_lr_monitor_options lm = {0};
    check_defaults(volt_lr_monitor_table, &lm, sizeof lm, "lr_monitor");
    volt_timer_options tm = volt_timer_defaults();
    check_defaults(volt_timer_table, &tm, sizeof tm, "timer");
    volt_ema_options ema = volt_ema_defaults();
    check_defaults(volt_ema_table, &ema, sizeof ema, "ema");
    volt_mlp_options mlp = volt_mlp_defaults();
    check_defaults(volt_mlp_table, &mlp, sizeof mlp, "mlp");
    volt_cnn_options cnn = volt_cnn_defaults();
    check_defaults(volt_cnn_table, &cnn, sizeof cnn, "cnn");
    volt_resnet_options resnet = volt_resnet_defaults();
    check_defaults(volt_resnet_table, &resnet, sizeof resnet, "resnet");
    volt_gpt_options gpt = volt_gpt_defaults();
    check_defaults(volt_gpt_table, &gpt, sizeof gpt, "gpt");
    volt_text_datamodule_options text = volt_text_datamodule_defaults();
    check_defaults(volt_text_datamodule_table, &text, sizeof text, "text");
}

/* PyTorch's defaults, written out (the optimizers have no *_defaults()). */
static void test_optimizer_defaults(void **state) {
    (void)state;
    volt_adam_options a, w;
    volt_sgd_options s;
    assert_int_equal(volt_options_defaults(volt_adam_table, &a), VOLT_OK);
    assert_int_equal(volt_options_defaults(volt_adamw_table, &w), VOLT_OK);
    assert_int_equal(volt_options_defaults(volt_sgd_table, &s), VOLT_OK);
    assert_true(a.lr == 1e-3 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8);
    assert_true(a.weight_decay == 0 && signbit(a.weight_decay)); /* a real 0 */
    assert_true(w.weight_decay == 0.01 && !a.amsgrad && !a.maximize);
    assert_true(s.lr == 1e-3 && s.momentum == 0 && signbit(s.momentum) && !s.nesterov);
}

/* Lightning's fast_dev_run=True: true reads as 1 and false as 0; other
 * words are still refused. */
static void test_fast_dev_run_true(void **state) {
    (void)state;
    volt_trainer_config tc = volt_trainer_defaults();
    assert_int_equal(
        volt_options_set(volt_trainer_config_table, &tc, "trainer", "fast_dev_run", "true"),
        VOLT_OK);
    assert_int_equal(tc.fast_dev_run, 1);
    assert_int_equal(
        volt_options_set(volt_trainer_config_table, &tc, "trainer", "fast_dev_run", "false"),
        VOLT_OK);
    assert_int_equal(tc.fast_dev_run, 0);
    assert_int_equal(
        volt_options_set(volt_trainer_config_table, &tc, "trainer", "fast_dev_run", "yes"),
        VOLT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(volt_error_message(), "trainer.fast_dev_run: 'yes' is not an integer"));
    volt_error_clear();
}

/* ------------------------------------------------------ a test table */

typedef struct {
    bool flag;
    int64_t count; /* nullable */
    int small;
    uint64_t seed;
    double rate;  /* [0, 1] */
    double limit; /* batches */
    double maybe; /* NAN null */
    const char *path;
    const char *mode;
    int level; /* enum */
    volt_int_list steps;
    double lr; /* OPTIM_ZERO */
} demo_opts;

static const volt_option demo_table[] = {
    {"flag", VOLT_OPTION_BOOL, offsetof(demo_opts, flag), "false", "a flag", 0, 0, NULL, NULL, 0},
    {"count", VOLT_OPTION_INT, offsetof(demo_opts, count), "3", "a count", -1, INFINITY, NULL, NULL,
     VOLT_OPTION_NULLABLE},
    {"small", VOLT_OPTION_INT32, offsetof(demo_opts, small), "7", "an int", 0, 0, NULL, NULL, 0},
    {"seed", VOLT_OPTION_UINT64, offsetof(demo_opts, seed), "18446744073709551615", "a seed", 0, 0,
     NULL, NULL, 0},
    {"rate", VOLT_OPTION_DOUBLE, offsetof(demo_opts, rate), "0.5", "a rate", 0, 1, NULL, NULL, 0},
    {"limit", VOLT_OPTION_BATCHES, offsetof(demo_opts, limit), "1.0", "batches", 0, 0, NULL, NULL,
     0},
    {"maybe", VOLT_OPTION_DOUBLE, offsetof(demo_opts, maybe), "null", "nan null", 0, 0, NULL, NULL,
     VOLT_OPTION_NULL_NAN},
    {"path", VOLT_OPTION_STRING, offsetof(demo_opts, path), "a b", "a path", 0, 0, NULL, NULL,
     VOLT_OPTION_NULLABLE},
    {"mode", VOLT_OPTION_CHOICE, offsetof(demo_opts, mode), "min", "min or max", 0, 0,
     (const char *const[]){"min", "max", NULL}, NULL, 0},
    {"level", VOLT_OPTION_ENUM, offsetof(demo_opts, level), "high", "level", 0, 0,
     (const char *const[]){"low", "high", NULL}, (const int[]){10, 20}, 0},
    {"steps", VOLT_OPTION_INT_LIST, offsetof(demo_opts, steps), "[1, 2]", "steps", 0, 100, NULL,
     NULL, 0},
    {"lr", VOLT_OPTION_DOUBLE, offsetof(demo_opts, lr), "0.1", "lr", 0, 0, NULL, NULL,
     VOLT_OPTION_OPTIM_ZERO},
    {0},
};

static void test_defaults_and_set(void **state) {
    (void)state;
    demo_opts d;
    assert_int_equal(volt_options_defaults(demo_table, &d), VOLT_OK);
    assert_false(d.flag);
    assert_int_equal(d.count, 3);
    assert_int_equal(d.small, 7);
    assert_true(d.seed == UINT64_MAX);
    assert_true(d.rate == 0.5 && d.limit == 1.0 && isnan(d.maybe));
    assert_string_equal(d.path, "a b");
    assert_string_equal(d.mode, "min");
    assert_int_equal(d.level, 20);
    assert_int_equal(d.steps.n, 2);
    assert_true(d.steps.v[0] == 1 && d.steps.v[1] == 2);

    assert_int_equal(volt_options_set(demo_table, &d, "demo", "flag", "yes"), VOLT_OK);
    assert_true(d.flag);
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "count", "null"), VOLT_OK);
    assert_true(d.count == VOLT_NONE);
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "limit", "10"), VOLT_OK);
    assert_true(d.limit == VOLT_BATCHES(10)); /* an integer is a count */
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "limit", "1"), VOLT_OK);
    assert_true(d.limit == VOLT_BATCHES(1)); /* one batch, not all of them */
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "limit", "0.25"), VOLT_OK);
    assert_true(d.limit == 0.25);
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "maybe", "~"), VOLT_OK);
    assert_true(isnan(d.maybe));
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "path", "null"), VOLT_OK);
    assert_null(d.path);
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "mode", "MAX"), VOLT_OK);
    assert_string_equal(d.mode, "max"); /* the canonical spelling */
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "level", "low"), VOLT_OK);
    assert_int_equal(d.level, 10);
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "steps", " [30 ,60, 90] "), VOLT_OK);
    assert_true(d.steps.n == 3 && d.steps.v[2] == 90);
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "lr", "0"), VOLT_OK);
    assert_true(d.lr == 0 && signbit(d.lr)); /* VOLT_OPTIM_ZERO: a real 0 */
    assert_int_equal(volt_options_set(demo_table, &d, "demo", "rate", "1e-3"), VOLT_OK);
    assert_true(d.rate == 1e-3);
    volt_options_release(demo_table, &d);
    assert_null(d.mode);
}

static void expect_set_error(const char *key, const char *value, const char *message) {
    demo_opts d;
    assert_int_equal(volt_options_defaults(demo_table, &d), VOLT_OK);
    assert_int_equal(volt_options_set(demo_table, &d, "demo", key, value),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, message);
    volt_options_release(demo_table, &d);
}

static void test_set_errors(void **state) {
    (void)state;
    expect_set_error("cont", "1", "unknown key 'cont' in demo (did you mean count?)");
    expect_set_error("zzzzzz", "1", "unknown key 'zzzzzz' in demo (its keys: flag, count, small");
    expect_set_error("count", "3.5", "demo.count: '3.5' is not an integer");
    expect_set_error("count", "-2", "demo.count: '-2' is out of range (must be >= -1)");
    expect_set_error("small", "99999999999", "demo.small: '99999999999' is too large");
    expect_set_error("seed", "-1", "demo.seed: '-1' is not an integer >= 0");
    expect_set_error("rate", "fast", "demo.rate: 'fast' is not a number");
    expect_set_error("rate", "1.5", "demo.rate: '1.5' is out of range [0, 1]");
    expect_set_error("flag", "1", "demo.flag: '1' is not true or false");
    expect_set_error("flag", "null", "demo.flag: null is not allowed (true or false)");
    expect_set_error("limit", "2.5",
                     "demo.limit: '2.5' is out of range (a fraction is in [0.0, 1.0]");
    expect_set_error("limit", "-3", "demo.limit: '-3' is not a count of batches");
    expect_set_error("mode", "mx", "demo.mode: 'mx' is not one of min, max (did you mean max?)");
    expect_set_error("level", "medium", "demo.level: 'medium' is not one of low, high");
    expect_set_error("steps", "[1, x]", "demo.steps: '[1, x]' is not a list of integers");
    expect_set_error("steps", "[1, 200]", "demo.steps: '[1, 200]' is out of range [0, 100]");
}

static void test_required_and_help(void **state) {
    (void)state;
    volt_early_stopping_options es;
    assert_int_equal(volt_options_defaults(volt_early_stopping_table, &es), VOLT_OK);
    assert_int_equal(volt_options_check(volt_early_stopping_table, &es, "early_stopping"),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "early_stopping.monitor is required");
    assert_int_equal(volt_options_set(volt_early_stopping_table, &es, "es", "monitor", "val_acc"),
                     VOLT_OK);
    assert_int_equal(volt_options_check(volt_early_stopping_table, &es, "early_stopping"), VOLT_OK);
    volt_options_release(volt_early_stopping_table, &es);

    char *help = volt_options_help(demo_table, "demo");
    assert_non_null(help);
    assert_non_null(strstr(help, "--demo.count  int | null  (default: 3, >= -1)\n      a count"));
    assert_non_null(strstr(help, "--demo.mode  min|max  (default: min)"));
    assert_non_null(strstr(help, "--demo.rate  real  (default: 0.5, in [0, 1])"));
    free(help);
}

/* ------------------------------------------------------ YAML */

static void test_yaml_file(void **state) {
    (void)state;
    const char *path = tmp_path("demo.yaml");
    write_text(path, "# a comment\nflag: true\ncount: 12\npath: \"null\"\nsteps: [5, 6]\n"
                     "limit: 0.5\nmaybe: .inf\n");
    demo_opts d;
    assert_int_equal(volt_options_defaults(demo_table, &d), VOLT_OK);
    assert_int_equal(volt_options_load_yaml(demo_table, &d, "demo", path), VOLT_OK);
    assert_true(d.flag && d.count == 12 && d.limit == 0.5 && isinf(d.maybe));
    assert_string_equal(d.path, "null"); /* quoted: the string, not null */
    assert_true(d.steps.n == 2 && d.steps.v[1] == 6);

    /* Written back and read again: the same values. */
    char *text = volt_options_to_yaml(demo_table, &d);
    assert_non_null(text);
    assert_non_null(strstr(text, "path: \"null\"\n"));
    assert_non_null(strstr(text, "steps: [5, 6]\n"));
    write_text(path, text);
    demo_opts e;
    assert_int_equal(volt_options_defaults(demo_table, &e), VOLT_OK);
    assert_int_equal(volt_options_load_yaml(demo_table, &e, "demo", path), VOLT_OK);
    char *again = volt_options_to_yaml(demo_table, &e);
    assert_string_equal(text, again);
    free(text);
    free(again);
    volt_options_release(demo_table, &d);
    volt_options_release(demo_table, &e);
}

static void expect_yaml_error(const char *text, volt_status status, const char *message) {
    const char *path = tmp_path("bad.yaml");
    write_text(path, text);
    demo_opts d;
    assert_int_equal(volt_options_defaults(demo_table, &d), VOLT_OK);
    assert_int_equal(volt_options_load_yaml(demo_table, &d, "demo", path), status);
    char expected[1200];
    snprintf(expected, sizeof expected, "%s%s", path, message);
    VT_ASSERT_ERROR(status, expected);
    volt_options_release(demo_table, &d);
}

static void test_yaml_errors(void **state) {
    (void)state;
    expect_yaml_error("flag: true\ncount: [1\n", VOLT_ERR_FORMAT, ":3:1: YAML syntax error: ");
    expect_yaml_error("flag: true\n  count: 2\n", VOLT_ERR_FORMAT,
                      ":2:8: YAML syntax error: mapping values are not allowed");
    expect_yaml_error("flag: true\n\ncounts: 2\n", VOLT_ERR_INVALID_ARGUMENT,
                      ":3:1: unknown key 'counts' in demo (did you mean count?)");
    expect_yaml_error("count: two\n", VOLT_ERR_INVALID_ARGUMENT,
                      ":1:8: demo.count: 'two' is not an integer");
    expect_yaml_error("count: {a: 1}\n", VOLT_ERR_INVALID_ARGUMENT,
                      ":1:8: demo.count: expected a single value, not a mapping");
    expect_yaml_error("- 1\n- 2\n", VOLT_ERR_INVALID_ARGUMENT, ":1:1: demo: expected a mapping");
    demo_opts d;
    assert_int_equal(volt_options_defaults(demo_table, &d), VOLT_OK);
    assert_int_equal(volt_options_load_yaml(demo_table, &d, "demo", tmp_path("missing.yaml")),
                     VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "missing.yaml': no such file");
    volt_options_release(demo_table, &d);
}

/* ------------------------------------------------------ the command line */

typedef struct {
    int64_t width;
    double lr;
    const char *tag;
} toy_opts;
static const volt_option toy_table[] = {
    {"width", VOLT_OPTION_INT, offsetof(toy_opts, width), "4", "width", 1, INFINITY, NULL, NULL, 0},
    {"lr", VOLT_OPTION_DOUBLE, offsetof(toy_opts, lr), "0.1", "lr", 0, 0, NULL, NULL, 0},
    {"tag", VOLT_OPTION_STRING, offsetof(toy_opts, tag), "null", "tag", 0, 0, NULL, NULL,
     VOLT_OPTION_NULLABLE},
    {0},
};
typedef struct {
    int64_t depth;
} deep_opts;
static const volt_option deep_table[] = {
    {"depth", VOLT_OPTION_INT, offsetof(deep_opts, depth), "2", "depth", 0, 0, NULL, NULL, 0},
    {0},
};

static int constructed; /* calls of the constructors below */
static volt_module *toy_new(const void *o) {
    (void)o;
    constructed++;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "toy: not built in this test");
    return NULL;
}
static volt_datamodule *toy_data_new(const void *o) {
    (void)o;
    constructed++;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "toy data: not built in this test");
    return NULL;
}

static const volt_cli_class toy_models[] = {
    {"toy", "a toy", toy_table, sizeof(toy_opts), toy_new, NULL},
    {"deep", "a deep toy", deep_table, sizeof(deep_opts), toy_new, NULL},
};
static const volt_cli_class toy_data[] = {
    {"toy-data", "toy data", toy_table, sizeof(toy_opts), NULL, toy_data_new},
};
static const volt_cli_registry toy_registry = {"toycli", toy_models, 2, toy_data, 1};

typedef struct {
    int code;
    char *out, *err;
} cli_result;

/* cli_main with these arguments (after "toycli"; NULL-terminated) and
 * environment. */
static cli_result run_env(char *const *env, ...) {
    char *argv[32] = {"toycli"};
    int argc = 1;
    va_list ap;
    va_start(ap, env);
    for (char *a = va_arg(ap, char *); a && argc < 31; a = va_arg(ap, char *)) argv[argc++] = a;
    va_end(ap);
    cli_result r = {0};
    size_t n_out, n_err;
    FILE *out = open_memstream(&r.out, &n_out), *err = open_memstream(&r.err, &n_err);
    r.code = cli_main(argc, argv, &toy_registry, out, err, env);
    fclose(out);
    fclose(err);
    VT_ASSERT_NO_ERROR();
    return r;
}
#define RUN(...) run_env((char *const[]){NULL}, __VA_ARGS__, NULL)

static void result_free(cli_result *r) {
    free(r->out);
    free(r->err);
}

/* Exit code 2, the message on stderr, nothing built. */
static void expect_cli_error(cli_result r, const char *message) {
    if (r.code != 2 || !strstr(r.err, message))
        fail_msg("exit %d, stderr:\n%s\nwanted exit 2 and: %s", r.code, r.err, message);
    assert_int_equal(constructed, 0);
    result_free(&r);
}

static void expect_config(cli_result r, const char *const *lines) {
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    for (; *lines; lines++)
        if (!strstr(r.out, *lines)) fail_msg("missing \"%s\" in:\n%s", *lines, r.out);
    result_free(&r);
}
#define EXPECT_CONFIG(r, ...) expect_config((r), (const char *const[]){__VA_ARGS__, NULL})

static void test_print_config_round_trip(void **state) {
    (void)state;
    constructed = 0;
    cli_result a = RUN("fit", "--model=deep", "--model.depth=5", "--optimizer=sgd",
                       "--optimizer.lr", "0.2", "--optimizer.momentum=0",
                       "--lr_scheduler=multistep", "--lr_scheduler.milestones=[2, 4]",
                       "--trainer.limit_train_batches=3", "--trainer.callbacks+=early_stopping",
                       "--trainer.callbacks.early_stopping.monitor=val_loss",
                       "--trainer.callbacks+={model_checkpoint: {filename: \"{epoch}\", save_last: "
                       "link}}",
                       "--data.tag=true", "--seed_everything=3", "--print-config");
    assert_int_equal(a.code, 0);
    const char *path = tmp_path("resolved.yaml");
    write_text(path, a.out);
    cli_result b = RUN("fit", "-c", (char *)path, "--print-config");
    assert_int_equal(b.code, 0);
    assert_string_equal(a.out, b.out);
    const char *const lines[] = {"seed_everything: 3\n",
                                 "  limit_train_batches: 3\n",
                                 "  - early_stopping:\n      monitor: val_loss\n",
                                 "      filename: '{epoch}'\n",
                                 "      save_last: link\n",
                                 "model:\n  name: deep\n  depth: 5\n",
                                 "  tag: \"true\"\n",
                                 "optimizer:\n  name: sgd\n  lr: 0.2\n  momentum: 0.0\n",
                                 "  milestones: [2, 4]\n",
                                 NULL};
    for (const char *const *l = lines; *l; l++)
        if (!strstr(a.out, *l)) fail_msg("missing \"%s\" in:\n%s", *l, a.out);
    result_free(&a);
    result_free(&b);
    assert_int_equal(constructed, 0);
}

static void test_later_sources_win(void **state) {
    (void)state;
    const char *one = tmp_path("one.yaml"), *two = tmp_path("two.yaml");
    write_text(one, "trainer:\n  max_epochs: 3\n  max_steps: 100\nmodel:\n  width: 8\n");
    write_text(two, "trainer:\n  max_epochs: 5\n");
    EXPECT_CONFIG(RUN("fit", "-c", (char *)one, "-c", (char *)two, "--print-config"),
                  "  max_epochs: 5\n", "  max_steps: 100\n", "  width: 8\n");
    EXPECT_CONFIG(RUN("fit", "-c", (char *)one, "--trainer.max_epochs=9", "--print-config"),
                  "  max_epochs: 9\n");
    EXPECT_CONFIG(RUN("fit", "--trainer.max_epochs=9", "--config", (char *)one, "--print-config"),
                  "  max_epochs: 3\n");
    /* The environment: defaults under files and arguments. */
    char *const env[] = {
        "VOLT_TRAINER__MAX_EPOCHS=7", "VOLT_MODEL__WIDTH=6", "VOLT_SEED_EVERYTHING=11",
        "VOLT_TEST_TMPDIR=/ignored",  "PATH=/bin",           NULL};
    EXPECT_CONFIG(run_env(env, "fit", "--print-config", NULL), "  max_epochs: 7\n", "  width: 6\n",
                  "seed_everything: 11\n");
    cli_result r =
        run_env(env, "fit", "-c", (char *)two, "--model.width=2", "--print-config", NULL);
    EXPECT_CONFIG(r, "  max_epochs: 5\n", "  width: 2\n");
}

static void test_class_sections(void **state) {
    (void)state;
    const char *path = tmp_path("class.yaml");
    write_text(path, "model:\n  class_path: deep\n  init_args:\n    depth: 9\n"
                     "optimizer: adam\n");
    EXPECT_CONFIG(RUN("fit", "-c", (char *)path, "--print-config"), "  name: deep\n  depth: 9\n",
                  "optimizer:\n  name: adam\n");
    /* Naming another class drops the keys set for the old one. */
    EXPECT_CONFIG(RUN("fit", "-c", (char *)path, "--model=toy", "--print-config"),
                  "model:\n  name: toy\n  width: 4\n");
    /* null removes the section. */
    EXPECT_CONFIG(RUN("fit", "-c", (char *)path, "--optimizer=null", "--print-config"),
                  "optimizer: null\n");
    write_text(path, "trainer:\n  callbacks:\n  - lr_monitor\n  - class_path: timer\n"
                     "    init_args: {duration: 60}\n  - ema: {decay: 0.5}\n");
    EXPECT_CONFIG(
        RUN("fit", "-c", (char *)path, "--trainer.callbacks.ema.decay=0.25", "--print-config"),
        "  - lr_monitor:\n      logging_interval: null\n", "      duration: 60.0\n",
        "      decay: 0.25\n");
    EXPECT_CONFIG(RUN("fit", "-c", (char *)path, "--trainer.callbacks=[]", "--print-config"),
                  "  callbacks: []\n");
}

static void test_cli_errors(void **state) {
    (void)state;
    constructed = 0;
    expect_cli_error(RUN("fit", "--trainer.max_epoch=3"),
                     "volt: command line: unknown key 'max_epoch' in trainer (did you mean "
                     "max_epochs?)");
    expect_cli_error(RUN("fit", "--trainer.max_epochs=three"),
                     "command line: trainer.max_epochs: 'three' is not an integer");
    expect_cli_error(RUN("fit", "--trainer.max_epochs", "-4"),
                     "trainer.max_epochs: '-4' is out of range (must be >= -1)");
    expect_cli_error(RUN("fit", "--model=dep"), "unknown model 'dep' (did you mean deep?");
    expect_cli_error(RUN("fit", "--trainr.max_epochs=1"),
                     "unknown key 'trainr' at the top level (did you mean trainer?)");
    expect_cli_error(RUN("fit", "--model.widht=1"),
                     "unknown key 'widht' in model (did you mean width?)");
    expect_cli_error(RUN("fitt"), "unknown subcommand 'fitt' (did you mean fit?)");
    expect_cli_error(RUN("fit", "stray"), "unexpected argument 'stray'");
    expect_cli_error(RUN("fit", "--trainer.max_epochs"), "--trainer.max_epochs needs a value");
    expect_cli_error(RUN("fit", "-c", (char *)tmp_path("nope.yaml")),
                     "config file '" /* the path */);
    expect_cli_error(RUN("fit", "-c", (char *)tmp_path("nope.yaml")), "nope.yaml': no such file");
    const char *bad = tmp_path("syntax.yaml");
    write_text(bad, "trainer:\n  max_epochs: 3\n    limit: 4\n");
    char want[1200];
    snprintf(want, sizeof want, "%s:3:10: YAML syntax error: mapping values are not allowed", bad);
    expect_cli_error(RUN("fit", "-c", (char *)bad), want);
    write_text(bad, "trainer:\n  max_epochs: 3\n  gradient_clip_algorithm: nrm\n");
    snprintf(want, sizeof want,
             "%s:3:3: trainer.gradient_clip_algorithm: 'nrm' is not one of norm, value (did you "
             "mean norm?)",
             bad);
    expect_cli_error(RUN("fit", "-c", (char *)bad), want);
    expect_cli_error(run_env((char *const[]){"VOLT_TRAINER__MAX_EPOCHS=x", NULL}, "fit", NULL),
                     "environment VOLT_TRAINER__MAX_EPOCHS: trainer.max_epochs: 'x' is not an "
                     "integer");
    expect_cli_error(RUN("fit", "--trainer.callbacks+=early_stopping"),
                     "trainer.callbacks.early_stopping.monitor is required");
    expect_cli_error(RUN("fit", "--trainer.callbacks.ema.decay=1"),
                     "trainer.callbacks has no ema (add it first: --trainer.callbacks+=ema)");
    expect_cli_error(RUN("fit", "--optimizer.lr=1"),
                     "optimizer.lr is set but no optimizer is chosen");
    expect_cli_error(
        RUN("fit", "--optimizer=sgd", "--optimizer.momentum=0", "--optimizer.nesterov=true"),
        "SGD"); /* the optimizer's own check, before anything runs */
    expect_cli_error(RUN("fit", "--lr_scheduler=step", "--lr_scheduler.step_size=1"),
                     "lr_scheduler 'step' needs an optimizer section");
    expect_cli_error(RUN("fit", "--trainer.max_epochs=2", "--trainer.min_epochs=3"),
                     "trainer: min_epochs = 3 exceeds max_epochs = 2");
    expect_cli_error(RUN("fit", "--max_epochs=2"), "unknown key 'max_epochs' at the top level");
    expect_cli_error(RUN("fit", "--model.width+=2"), "only trainer.callbacks can be appended to");
    /* A bad model option is refused by its constructor: exit 2 too. */
    cli_result r = RUN("fit");
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "toy: not built in this test"));
    assert_int_equal(constructed, 1);
    result_free(&r);
    constructed = 0;
}

static void test_help(void **state) {
    (void)state;
    cli_result r = RUN("fit", "--help");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "usage: toycli SUBCOMMAND"));
    assert_non_null(strstr(r.out, "  --seed_everything  int | null"));
    assert_non_null(strstr(r.out, "\n  model             toy, deep\n"));
    assert_non_null(strstr(r.out, "early_stopping"));
    result_free(&r);
    r = RUN("fit", "--help", "trainer");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "--trainer.max_epochs  int | null  (default: null, >= -1)"));
    result_free(&r);
    r = RUN("fit", "--help", "deep");
    assert_non_null(strstr(r.out, "model: deep — a deep toy\n  --model.depth  int  (default: 2)"));
    result_free(&r);
    r = RUN("fit", "-h", "lr_scheduler.onecycle");
    assert_non_null(strstr(r.out, "--lr_scheduler.max_lr  real  (required"));
    result_free(&r);
    r = RUN("fit", "--help", "early_stopping");
    /* the spelling the parser takes: --trainer.callbacks.<name>.<key> */
    assert_non_null(
        strstr(r.out, "--trainer.callbacks.early_stopping.monitor  string  (required)"));
    result_free(&r);
    r = RUN("fit", "--help", "nothing");
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "no help for 'nothing'"));
    result_free(&r);
}

/* The raw parser on odd input (what the fuzz target does): no crash, an
 * error or a config. */
static void test_odd_yaml(void **state) {
    (void)state;
    static const char *const inputs[] = {
        "&a [*a]",
        "trainer: &t\n  max_epochs: 1\nmodel: *t\n",
        "trainer:\n  callbacks: [{}, {a: 1, b: 2}]\n",
        "trainer:\n  callbacks: {early_stopping: [1]}\n",
        "? [a]\n: b\n",
        "\xff\xfe",
        "model: {class_path: [x]}\n",
        "trainer: [1, 2]\n",
        "",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        cli_config c;
        cli_config_init(&c, &toy_registry);
        volt_status st = cli_config_load_text(&c, inputs[i], strlen(inputs[i]), "odd");
        cli_resolved r;
        if (!st)
            st = cli_resolve(&c, &r, false);
        else
            r = (cli_resolved){0};
        cli_resolved_free(&r);
        cli_config_free(&c);
        volt_error_clear();
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_tables_cover_their_structs),
        VT_TEST(test_table_defaults_match_the_structs),
        VT_TEST(test_optimizer_defaults),
        VT_TEST(test_fast_dev_run_true),
        VT_TEST(test_defaults_and_set),
        VT_TEST(test_set_errors),
        VT_TEST(test_required_and_help),
        VT_TEST(test_yaml_file),
        VT_TEST(test_yaml_errors),
        VT_TEST(test_print_config_round_trip),
        VT_TEST(test_later_sources_win),
        VT_TEST(test_class_sections),
        VT_TEST(test_cli_errors),
        VT_TEST(test_help),
        VT_TEST(test_odd_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
