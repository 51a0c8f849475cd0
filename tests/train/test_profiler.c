/* test_profiler.c: config.profiler, without timing thresholds — "simple"
 * lists every action of a small fit with the call counts the loops imply
 * (training_step once per batch, an epoch span per epoch, a data wait per
 * batch, each hook of a callback and of the module; two callbacks of one
 * name in one row), means and totals that agree, shares of the run within
 * 100 %, per-run reports (validate after fit shows only its own actions), a
 * report file when profiler_path is set; "trace" writes Chrome/Perfetto JSON
 * that cJSON parses, with the expected names, categories and counts, ops
 * among them, every span nested in its parent (a batch's hooks and ops
 * inside the batch's span), every run of the trainer in one file, the
 * default path in the log or root directory, a file even for a failed fit;
 * off, no report and no file; the ops hook of core.h (balanced begin/end,
 * nothing when removed, nothing left installed after a run); bad
 * configuration and an unwritable path. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "train_fixture.h"

/* ------------------------------------------------------- stderr capture */

typedef struct {
    int saved;
    char path[1100];
} capture;

static void capture_begin(capture *c) {
    const char *dir = fresh_dir("profiler_stderr");
    snprintf(c->path, sizeof c->path, "%s/stderr.txt", dir);
    fflush(stderr);
    c->saved = dup(2);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(c->saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(1, (size_t)n + 1);
    size_t got = fread(text, 1, (size_t)n, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

/* Restores stderr; returns what was written (malloc'd). */
static char *capture_end(capture *c) {
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    char *text = read_text(c->path);
    assert_non_null(text);
    fputs(text, stderr); /* still visible in the test log */
    return text;
}

/* ------------------------------------------------------ a callback to time */

static volt_status counter_batch_end(volt_callback *self, volt_module *m, volt_step *s) {
    (void)m;
    (void)s;
    (*(int *)self->state)++;
    return VOLT_OK;
}

static const volt_callback_ops counter_ops = {.name = "Counter",
                                              .on_train_batch_end = counter_batch_end};

/* -------------------------------------------------------------- the runs */

typedef struct {
    lin_module m;
    volt_datamodule *dm;
    volt_trainer *t;
    volt_callback cb;
    int batch_ends;
} run;

/* 3 training batches and 1 validation batch per epoch, 2 epochs, the sanity
 * check (1 batch), every module hook defined, the Counter callback. */
static void run_setup(run *r, const char *profiler, const char *path, const char *root) {
    memset(r, 0, sizeof *r);
    lin_init(&r->m, &lin_rec_ops, 2, 0.05);
    r->dm = tiny_dm_new(12, 4, 2, 4);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 2;
    cfg.profiler = profiler;
    cfg.profiler_path = path;
    cfg.default_root_dir = root;
    r->t = volt_trainer_new(&cfg);
    assert_non_null(r->t);
    r->cb = (volt_callback){&counter_ops, &r->batch_ends};
    assert_int_equal(volt_trainer_add_callback(r->t, &r->cb), VOLT_OK);
}

static void run_free(run *r) {
    volt_trainer_free(r->t);
    volt_datamodule_free(r->dm);
    volt_module_free(&r->m.base);
}

/* ------------------------------------------------------ the simple report */

typedef struct {
    char name[128];
    double mean, total, percent;
    long long calls;
} row;

/* The rows of the report that starts at the first "<STAGE> Profiler
 * Report" in text (the Total row first). */
static int parse_report(const char *text, const char *stage, row *rows, int max) {
    char head[64];
    snprintf(head, sizeof head, "%s Profiler Report\n", stage);
    const char *s = strstr(text, head);
    assert_non_null(s);
    s = strchr(s, '\n') + 2; /* the title, a blank line */
    int n = 0;
    bool header = false;
    while (*s && *s != '\n' && n < max) { /* a blank line ends the table */
        const char *eol = strchr(s, '\n');
        size_t len = eol ? (size_t)(eol - s) : strlen(s);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)len, s);
        s += len + (eol ? 1 : 0);
        if (line[0] == '-' || !strchr(line, '|')) continue;
        if (!header) { /* the column names */
            assert_non_null(strstr(line, "Action"));
            assert_non_null(strstr(line, "Calls"));
            header = true;
            continue;
        }
        row *r = &rows[n];
        char *bar = strchr(line, '|');
        *bar = '\0';
        for (char *e = bar - 1; e >= line && *e == ' '; e--) *e = '\0';
        assert_true(strlen(line) < sizeof r->name);
        memcpy(r->name, line, strlen(line) + 1);
        char mean[32];
        assert_int_equal(
            sscanf(bar + 1, " %31s | %lld | %lf | %lf", mean, &r->calls, &r->total, &r->percent),
            4);
        r->mean = strcmp(mean, "-") == 0 ? -1 : atof(mean);
        n++;
    }
    return n;
}

static const row *find_row(const row *rows, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0) return &rows[i];
    return NULL;
}

static long long calls_of(const row *rows, int n, const char *name) {
    const row *r = find_row(rows, n, name);
    if (!r) fail_msg("the report has no row '%s'", name);
    return r->calls;
}

/* Every row: mean x calls = total (to the printed digits), a share in
 * [0, 100], rows by total time; the Total row first at 100 %. */
static void check_rows(const row *rows, int n) {
    assert_true(n > 1);
    assert_string_equal(rows[0].name, "Total");
    assert_true(rows[0].percent == 100.0);
    long long calls = 0;
    for (int i = 1; i < n; i++) {
        const row *r = &rows[i];
        assert_true(r->calls >= 1);
        calls += r->calls;
        /* five significant digits printed */
        assert_true(fabs(r->mean * (double)r->calls - r->total) <= 2e-4 * r->total + 1e-12);
        assert_true(r->percent >= 0.0 && r->percent <= 100.0);
        assert_true(r->total <= rows[0].total * (1 + 1e-4));
        if (i > 1) assert_true(rows[i - 1].total >= r->total);
    }
    assert_true(rows[0].calls == calls);
}

static void test_simple_report(void **state) {
    (void)state;
    run r;
    run_setup(&r, "simple", NULL, fresh_dir("profiler_simple"));
    capture c;
    capture_begin(&c);
    volt_status st = volt_trainer_fit(r.t, &r.m.base, r.dm, NULL);
    char *text = capture_end(&c);
    assert_int_equal(st, VOLT_OK);
    row rows[128];
    int n = parse_report(text, "FIT", rows, 128);
    check_rows(rows, n);
    /* 2 epochs x 3 batches; validation: 1 sanity batch + 1 per epoch */
    assert_int_equal(calls_of(rows, n, "run_training_epoch"), 2);
    assert_int_equal(calls_of(rows, n, "run_training_batch"), 6);
    assert_int_equal(calls_of(rows, n, "get_train_batch"), 6);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.training_step"), 6);
    assert_int_equal(calls_of(rows, n, "backward"), 6);
    assert_int_equal(calls_of(rows, n, "zero_grad"), 6);
    assert_int_equal(calls_of(rows, n, "optimizer_step"), 6);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.optimizer_step"), 6);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.on_train_batch_end"), 6);
    assert_int_equal(calls_of(rows, n, "[Callback]Counter.on_train_batch_end"), 6);
    assert_int_equal(r.batch_ends, 6);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.on_train_epoch_start"), 2);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.on_fit_start"), 1);
    assert_int_equal(calls_of(rows, n, "run_sanity_check"), 1);
    assert_int_equal(calls_of(rows, n, "run_validation_epoch"), 2);
    assert_int_equal(calls_of(rows, n, "run_validation_batch"), 3);
    assert_int_equal(calls_of(rows, n, "get_validation_batch"), 3);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.validation_step"), 3);
    /* no ops in the simple report, and the run itself is the Total row */
    assert_null(find_row(rows, n, "matmul"));
    assert_null(find_row(rows, n, "fit"));
    /* the top-level spans share the run: within 100 % together */
    double top = find_row(rows, n, "run_training_epoch")->percent +
                 find_row(rows, n, "run_sanity_check")->percent +
                 find_row(rows, n, "[LightningModule]lin.setup")->percent;
    assert_true(top <= 100.0 + 0.02);
    /* a batch's parts within the batch */
    const row *batch = find_row(rows, n, "run_training_batch");
    assert_true(find_row(rows, n, "[LightningModule]lin.training_step")->total <=
                batch->total * (1 + 1e-4));
    assert_true(find_row(rows, n, "backward")->total <= batch->total * (1 + 1e-4));
    free(text);

    /* validate on the same trainer: its own report, none of fit's rows */
    capture_begin(&c);
    st = volt_trainer_validate(r.t, &r.m.base, r.dm, NULL, NULL);
    text = capture_end(&c);
    assert_int_equal(st, VOLT_OK);
    assert_null(strstr(text, "FIT Profiler Report"));
    n = parse_report(text, "VALIDATE", rows, 128);
    check_rows(rows, n);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.validation_step"), 1);
    assert_int_equal(calls_of(rows, n, "run_validation_epoch"), 1);
    assert_null(find_row(rows, n, "[LightningModule]lin.training_step"));
    assert_null(find_row(rows, n, "run_training_epoch"));
    free(text);
    run_free(&r);
}

static void test_simple_report_file(void **state) {
    (void)state;
    const char *dir = fresh_dir("profiler_simple_file");
    char path[1200];
    snprintf(path, sizeof path, "%s/reports/profile.txt", dir);
    run r;
    run_setup(&r, "simple", path, dir);
    capture c;
    capture_begin(&c);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.base, r.dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_test(r.t, &r.m.base, r.dm, NULL, NULL), VOLT_OK);
    char *err = capture_end(&c);
    assert_null(strstr(err, "Profiler Report")); /* the file has it, not stderr */
    free(err);
    char *text = read_text(path);
    assert_non_null(text);
    row rows[128];
    int n = parse_report(text, "FIT", rows, 128);
    check_rows(rows, n);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.training_step"), 6);
    n = parse_report(text, "TEST", rows, 128); /* appended by the second run */
    check_rows(rows, n);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.test_step"), 1);
    assert_int_equal(calls_of(rows, n, "get_test_batch"), 1);
    assert_true(strstr(text, "FIT Profiler Report") < strstr(text, "TEST Profiler Report"));
    free(text);
    run_free(&r);
}

/* Two callbacks of one name share a row, as do the hooks they both run. */
static void test_one_row_per_name(void **state) {
    (void)state;
    run r;
    run_setup(&r, "simple", NULL, fresh_dir("profiler_names"));
    int second_ends = 0;
    volt_callback second = {&counter_ops, &second_ends};
    assert_int_equal(volt_trainer_add_callback(r.t, &second), VOLT_OK);
    capture c;
    capture_begin(&c);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.base, r.dm, NULL), VOLT_OK);
    char *text = capture_end(&c);
    row rows[128];
    int n = parse_report(text, "FIT", rows, 128);
    check_rows(rows, n);
    assert_int_equal(calls_of(rows, n, "[Callback]Counter.on_train_batch_end"), 12);
    int k = 0;
    for (int i = 0; i < n; i++)
        k += strcmp(rows[i].name, "[Callback]Counter.on_train_batch_end") == 0;
    assert_int_equal(k, 1);
    assert_int_equal(second_ends, 6);
    free(text);
    run_free(&r);
}

/* ------------------------------------------------------------- the trace */

static cJSON *load_trace(const char *path) {
    char *text = read_text(path);
    if (!text) fail_msg("no trace file %s", path);
    cJSON *doc = cJSON_Parse(text);
    free(text);
    if (!doc) fail_msg("%s is not valid JSON", path);
    return doc;
}

/* The complete events, checked field by field. */
static int x_events(const cJSON *doc, const cJSON **out, int max) {
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(doc, "traceEvents");
    assert_true(cJSON_IsArray(events));
    int n = 0, meta = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, events) {
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(e, "ph");
        assert_true(cJSON_IsString(ph));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "pid")));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "tid")));
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "name")));
        if (strcmp(ph->valuestring, "M") == 0) {
            meta++;
            continue;
        }
        assert_string_equal(ph->valuestring, "X");
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "cat")));
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(e, "ts");
        const cJSON *dur = cJSON_GetObjectItemCaseSensitive(e, "dur");
        assert_true(cJSON_IsNumber(ts) && ts->valuedouble >= 0);
        assert_true(cJSON_IsNumber(dur) && dur->valuedouble >= 0);
        assert_true(n < max);
        out[n++] = e;
    }
    assert_int_equal(meta, 2); /* process and thread names */
    const cJSON *other = cJSON_GetObjectItemCaseSensitive(doc, "otherData");
    assert_true(cJSON_IsObject(other));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(other, "dropped_events")->valueint, 0);
    return n;
}

static const char *ev_name(const cJSON *e) {
    return cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
}
static const char *ev_cat(const cJSON *e) {
    return cJSON_GetObjectItemCaseSensitive(e, "cat")->valuestring;
}
static double ev_ts(const cJSON *e) {
    return cJSON_GetObjectItemCaseSensitive(e, "ts")->valuedouble;
}
static double ev_end(const cJSON *e) {
    return ev_ts(e) + cJSON_GetObjectItemCaseSensitive(e, "dur")->valuedouble;
}

static int count_named(const cJSON *const *ev, int n, const char *name) {
    int c = 0;
    for (int i = 0; i < n; i++) c += strcmp(ev_name(ev[i]), name) == 0;
    return c;
}

#define EPS 1e-3 /* microseconds: the file's resolution */

static bool inside(const cJSON *a, const cJSON *b) {
    return ev_ts(a) >= ev_ts(b) - EPS && ev_end(a) <= ev_end(b) + EPS;
}

/* The innermost event of `name` holding `e` (NULL: none). */
static const cJSON *holder(const cJSON *const *ev, int n, const cJSON *e, const char *name) {
    const cJSON *best = NULL;
    for (int i = 0; i < n; i++)
        if (ev[i] != e && strcmp(ev_name(ev[i]), name) == 0 && inside(e, ev[i]) &&
            (!best || inside(ev[i], best)))
            best = ev[i];
    return best;
}

/* Spans nest: in file order (parents first) each event lies inside the
 * innermost open one or after it, never across its end. */
static void check_nesting(const cJSON *const *ev, int n) {
    const cJSON *stack[256];
    int depth = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0) assert_true(ev_ts(ev[i]) >= ev_ts(ev[i - 1]) - EPS);
        while (depth > 0 && ev_ts(ev[i]) >= ev_end(stack[depth - 1]) - EPS &&
               !inside(ev[i], stack[depth - 1]))
            depth--;
        if (depth > 0 && !inside(ev[i], stack[depth - 1]))
            fail_msg("'%s' [%f, %f] overlaps the end of '%s' [%f, %f]", ev_name(ev[i]),
                     ev_ts(ev[i]), ev_end(ev[i]), ev_name(stack[depth - 1]),
                     ev_ts(stack[depth - 1]), ev_end(stack[depth - 1]));
        assert_true(depth < 256);
        stack[depth++] = ev[i];
    }
}

#define MAX_EVENTS 20000

static void test_trace_file(void **state) {
    (void)state;
    const char *dir = fresh_dir("profiler_trace");
    char path[1200];
    snprintf(path, sizeof path, "%s/out/trace.json", dir);
    run r;
    run_setup(&r, "trace", path, dir);
    assert_int_equal(volt_trainer_fit(r.t, &r.m.base, r.dm, NULL), VOLT_OK);
    assert_null(volt_trace_hook_set(NULL)); /* the run removed its ops hook */
    cJSON *doc = load_trace(path);
    const cJSON **ev = malloc(MAX_EVENTS * sizeof *ev);
    int n = x_events(doc, ev, MAX_EVENTS);
    assert_int_equal(count_named(ev, n, "fit"), 1);
    assert_int_equal(count_named(ev, n, "run_training_epoch"), 2);
    assert_int_equal(count_named(ev, n, "run_training_batch"), 6);
    assert_int_equal(count_named(ev, n, "get_train_batch"), 6);
    assert_int_equal(count_named(ev, n, "[LightningModule]lin.training_step"), 6);
    assert_int_equal(count_named(ev, n, "[Callback]Counter.on_train_batch_end"), 6);
    assert_int_equal(count_named(ev, n, "backward"), 6);
    assert_int_equal(count_named(ev, n, "run_validation_batch"), 3);
    assert_int_equal(count_named(ev, n, "run_sanity_check"), 1);
    /* ops: the forward matmul and mse_loss of each training step, the
     * validation forwards, and the backward's own ops */
    assert_true(count_named(ev, n, "matmul") >= 6 + 3);
    assert_int_equal(count_named(ev, n, "mse_loss"), 6);
    check_nesting(ev, n);
    const cJSON *fit = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(ev_name(ev[i]), "fit") == 0) fit = ev[i];
    assert_string_equal(ev_cat(fit), "stage");
    int ops = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *e = ev[i];
        const char *name = ev_name(e), *cat = ev_cat(e);
        assert_true(inside(e, fit));
        if (strcmp(cat, "op") == 0) ops++;
        /* a training batch's hooks, step and ops lie inside its span */
        if (strcmp(name, "[LightningModule]lin.training_step") == 0 ||
            strcmp(name, "[Callback]Counter.on_train_batch_end") == 0 ||
            strcmp(name, "backward") == 0 || strcmp(name, "mse_loss") == 0) {
            assert_non_null(holder(ev, n, e, "run_training_batch"));
        }
        if (strcmp(name, "run_training_batch") == 0 || strcmp(name, "get_train_batch") == 0) {
            assert_non_null(holder(ev, n, e, "run_training_epoch"));
        }
        if (strcmp(name, "get_train_batch") == 0) { /* a sibling of the batch, not in it */
            assert_null(holder(ev, n, e, "run_training_batch"));
            assert_string_equal(cat, "data");
        }
        if (strcmp(name, "run_training_batch") == 0) assert_string_equal(cat, "loop");
        if (strncmp(name, "[", 1) == 0) assert_string_equal(cat, "hook");
    }
    assert_true(ops >= 6 * 2);
    free(ev);
    cJSON_Delete(doc);
    run_free(&r);
}

/* fit then test: both runs in one file, test after fit; the default path
 * is trace.json in the logger's directory. */
static void test_trace_runs_and_default_path(void **state) {
    (void)state;
    const char *dir = fresh_dir("profiler_trace_default");
    lin_module m;
    lin_init(&m, &lin_plain_ops, 2, 0.05);
    volt_datamodule *dm = tiny_dm_new(8, 4, 2, 4);
    volt_trainer_config cfg = quiet_config();
    cfg.max_epochs = 1;
    cfg.logger = true;
    cfg.default_root_dir = dir;
    cfg.profiler = "trace";
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_test(t, &m.base, dm, NULL, NULL), VOLT_OK);
    const char *log_dir = volt_trainer_log_dir(t);
    assert_non_null(log_dir);
    char path[1200];
    snprintf(path, sizeof path, "%s/trace.json", log_dir);
    cJSON *doc = load_trace(path);
    const cJSON **ev = malloc(MAX_EVENTS * sizeof *ev);
    int n = x_events(doc, ev, MAX_EVENTS);
    assert_int_equal(count_named(ev, n, "fit"), 1);
    assert_int_equal(count_named(ev, n, "test"), 1);
    assert_int_equal(count_named(ev, n, "[LightningModule]lin.training_step"), 2);
    assert_int_equal(count_named(ev, n, "[LightningModule]lin.test_step"), 1);
    assert_int_equal(count_named(ev, n, "run_test_batch"), 1);
    check_nesting(ev, n);
    const cJSON *fit = NULL, *test = NULL;
    for (int i = 0; i < n; i++) {
        if (strcmp(ev_name(ev[i]), "fit") == 0) fit = ev[i];
        if (strcmp(ev_name(ev[i]), "test") == 0) test = ev[i];
    }
    assert_true(ev_ts(test) >= ev_end(fit) - EPS);
    free(ev);
    cJSON_Delete(doc);
    volt_trainer_free(t);

    /* no logger: trace.json in default_root_dir */
    const char *dir2 = fresh_dir("profiler_trace_root");
    cfg.logger = false;
    cfg.default_root_dir = dir2;
    t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_validate(t, &m.base, dm, NULL, NULL), VOLT_OK);
    snprintf(path, sizeof path, "%s/trace.json", dir2);
    doc = load_trace(path);
    cJSON_Delete(doc);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

/* A failed fit: its error untouched, the hook removed, the trace written
 * up to the failure; simple prints its report too. */
static void test_failed_fit(void **state) {
    (void)state;
    const char *dir = fresh_dir("profiler_failed");
    char path[1200];
    snprintf(path, sizeof path, "%s/trace.json", dir);
    run r;
    run_setup(&r, "trace", path, dir);
    r.m.fail_epoch = 1;
    r.m.fail_batch = 1;
    VT_ASSERT_ERROR(volt_trainer_fit(r.t, &r.m.base, r.dm, NULL), "deliberate failure");
    assert_null(volt_trace_hook_set(NULL));
    cJSON *doc = load_trace(path);
    const cJSON **ev = malloc(MAX_EVENTS * sizeof *ev);
    int n = x_events(doc, ev, MAX_EVENTS);
    assert_int_equal(count_named(ev, n, "run_training_batch"), 5); /* the 5th failed */
    assert_int_equal(count_named(ev, n, "[LightningModule]lin.training_step"), 5);
    check_nesting(ev, n);
    free(ev);
    cJSON_Delete(doc);
    run_free(&r);

    run_setup(&r, "simple", NULL, dir);
    r.m.fail_epoch = 0;
    r.m.fail_batch = 2;
    capture c;
    capture_begin(&c);
    volt_status st = volt_trainer_fit(r.t, &r.m.base, r.dm, NULL);
    char *text = capture_end(&c);
    VT_ASSERT_ERROR(st, "deliberate failure");
    row rows[128];
    n = parse_report(text, "FIT", rows, 128);
    check_rows(rows, n);
    assert_int_equal(calls_of(rows, n, "[LightningModule]lin.training_step"), 3);
    free(text);
    run_free(&r);
}

/* ----------------------------------------------------------------- off */

static void test_off(void **state) {
    (void)state;
    const char *dir = fresh_dir("profiler_off");
    for (int i = 0; i < 2; i++) {
        run r;
        run_setup(&r, i == 0 ? NULL : "", NULL, dir);
        capture c;
        capture_begin(&c);
        assert_int_equal(volt_trainer_fit(r.t, &r.m.base, r.dm, NULL), VOLT_OK);
        char *text = capture_end(&c);
        assert_null(strstr(text, "Profiler Report"));
        free(text);
        const volt_trainer_config *cfg = volt_trainer_get_config(r.t);
        assert_null(cfg->profiler);
        run_free(&r);
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/trace.json", dir);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0);
    volt_trainer_config d = volt_trainer_defaults();
    assert_null(d.profiler);
    assert_null(d.profiler_path);
}

/* ------------------------------------------------------- the ops hook */

typedef struct {
    int begins, ends, depth, max_depth;
    int matmuls, backwards;
} hook_count;

static void hc_begin(void *ctx, const char *name) {
    hook_count *h = ctx;
    h->begins++;
    if (++h->depth > h->max_depth) h->max_depth = h->depth;
    if (strcmp(name, "matmul") == 0) h->matmuls++;
    if (strcmp(name, "matmul_backward") == 0) h->backwards++;
}
static void hc_end(void *ctx) {
    hook_count *h = ctx;
    h->ends++;
    h->depth--;
}

static void test_ops_hook(void **state) {
    (void)state;
    hook_count h = {0};
    volt_trace_hook hook = {hc_begin, hc_end, &h};
    assert_null(volt_trace_hook_set(&hook));
    volt_scope_begin();
    volt_tensor *a = volt_ones(2, (int64_t[]){3, 4}, VOLT_F32);
    volt_tensor *b = volt_ones(2, (int64_t[]){4, 2}, VOLT_F32);
    volt_requires_grad(a, true);
    volt_tensor *y = volt_sum_all(volt_relu(volt_matmul(a, b)));
    assert_int_equal(h.matmuls, 1);
    assert_int_equal(volt_backward(y), VOLT_OK);
    assert_true(h.backwards >= 1); /* the backward's product */
    volt_matmul(a, NULL);          /* a failed op ends too */
    volt_error_clear();
    volt_scope_end();
    assert_true(h.begins >= 5);
    assert_int_equal(h.begins, h.ends);
    assert_int_equal(h.depth, 0);
    /* removed: nothing more */
    assert_ptr_equal(volt_trace_hook_set(NULL), &hook);
    int before = h.begins;
    volt_scope_begin();
    volt_matmul(volt_ones(2, (int64_t[]){2, 2}, VOLT_F32),
                volt_ones(2, (int64_t[]){2, 2}, VOLT_F32));
    volt_scope_end();
    assert_int_equal(h.begins, before);
}

/* --------------------------------------------------------------- errors */

static void test_bad_config(void **state) {
    (void)state;
    volt_trainer_config cfg = quiet_config();
    cfg.profiler = "advanced";
    VT_ASSERT_ERROR(volt_trainer_config_check(&cfg), "profiler 'advanced' is unknown");
    assert_null(volt_trainer_new(&cfg));
    VT_ASSERT_ERROR(volt_error_status(), "\"simple\", \"trace\"");
    volt_error_clear();
    cfg.profiler = "simple";
    cfg.barebones = true;
    VT_ASSERT_ERROR(volt_trainer_config_check(&cfg), "profiler 'simple' with barebones");
    cfg.barebones = false;
    assert_int_equal(volt_trainer_config_check(&cfg), VOLT_OK);
    cfg.profiler = "trace";
    assert_int_equal(volt_trainer_config_check(&cfg), VOLT_OK);

    /* the configuration keeps copies, not the caller's strings */
    char kind[8] = "trace", where[64] = "somewhere/trace.json";
    cfg.profiler = kind;
    cfg.profiler_path = where;
    volt_trainer *t = volt_trainer_new(&cfg);
    kind[0] = where[0] = 'X';
    assert_string_equal(volt_trainer_get_config(t)->profiler, "trace");
    assert_string_equal(volt_trainer_get_config(t)->profiler_path, "somewhere/trace.json");
    volt_trainer_free(t);
}

/* A trace path that cannot be written: fit trains, then fails naming it. */
static void test_unwritable_path(void **state) {
    (void)state;
    const char *dir = fresh_dir("profiler_unwritable");
    char file[1200], path[1300];
    snprintf(file, sizeof file, "%s/a_file", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/trace.json", file); /* under a regular file */
    run r;
    run_setup(&r, "trace", path, dir);
    volt_status st = volt_trainer_fit(r.t, &r.m.base, r.dm, NULL);
    VT_ASSERT_ERROR(st, "a_file");
    assert_int_equal(volt_trainer_global_step(r.t), 6); /* the training ran */
    assert_null(volt_trace_hook_set(NULL));
    run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_simple_report),   VT_TEST(test_simple_report_file),
        VT_TEST(test_trace_file),      VT_TEST(test_trace_runs_and_default_path),
        VT_TEST(test_failed_fit),      VT_TEST(test_off),
        VT_TEST(test_ops_hook),        VT_TEST(test_bad_config),
        VT_TEST(test_unwritable_path), VT_TEST(test_one_row_per_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
