/* test_volt_cli_fit.c: `volt fit|test|predict|validate` run as a separate
 * process (tools/volt/volt: $VOLT_CLI, else tools/volt/volt under the
 * working directory, which ctest sets to the build directory) on a tiny
 * Fashion-MNIST configuration — an MLP, a few batches, one epoch: fit
 * with test_after_fit prints the test metrics, the log directory and the
 * best checkpoint, and saves config.yaml, which read back with -c prints
 * the same configuration; test and predict reuse it with the best
 * checkpoint (the predictions file holds [64, 10] logits); a ckpt_path that
 * does not exist and a bad value exit 2 and create nothing; tune runs
 * lr_find (its curve written) and scale_batch_size; devices=2 re-executes
 * the program under mpiexec and reports once. Without the
 * program or the data set it says so and passes. */
#include "volt_test.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cli;
static char tmp[1024];

typedef struct {
    int status;
    char *out; /* stdout and stderr together */
} run_result;

/* Runs `volt ARGS...` (a NULL-terminated list) and collects its output. */
static run_result run(const char *arg, ...) {
    const char *argv[40] = {cli};
    int argc = 1;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 39; a = va_arg(ap, const char *)) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    for (ssize_t n; (n = read(fds[0], out + len, cap - len - 1)) > 0;) {
        len += (size_t)n;
        if (cap - len < 1024) out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status)) fail_msg("%s died (status %d); output:\n%s", cli, status, out);
    return (run_result){WEXITSTATUS(status), out};
}

static void expect(const run_result *r, int status, const char *const *wanted) {
    bool ok = r->status == status;
    for (; *wanted; wanted++)
        if (!strstr(r->out, *wanted)) {
            fprintf(stderr, "missing from the output: \"%s\"\n", *wanted);
            ok = false;
        }
    if (!ok) fail_msg("exit status %d (want %d); output:\n%s", r->status, status, r->out);
}
#define EXPECT(r, status, ...) expect(&(r), (status), (const char *const[]){__VA_ARGS__, NULL})

static char *path_in(const char *name) {
    static char buf[8][1200];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmp, name);
    return p;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf of what an earlier run of this test left. */
static void remove_tree(const char *path) { nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The path after "best checkpoint: " up to " (" or the end of the line. */
static char *best_path(const char *out) {
    const char *p = strstr(out, "best checkpoint: ");
    if (!p) fail_msg("no best checkpoint in:\n%s", out);
    p += strlen("best checkpoint: ");
    size_t n = strcspn(p, "\n");
    const char *paren = strstr(p, " (score");
    if (paren && (size_t)(paren - p) < n) n = (size_t)(paren - p);
    return strndup(p, n);
}

static void test_fit_test_predict(void **state) {
    (void)state;
    char root[1100], root_arg[1200];
    snprintf(root, sizeof root, "%s/fit", tmp);
    remove_tree(root);
    snprintf(root_arg, sizeof root_arg, "--trainer.default_root_dir=%s", root);
    run_result r =
        run("fit", "--model=mlp", "--model.hidden=32", "--data.batch_size=32",
            "--trainer.max_epochs=1", "--trainer.limit_train_batches=5",
            "--trainer.limit_val_batches=2", "--trainer.limit_test_batches=2",
            "--trainer.limit_predict_batches=2", "--trainer.num_sanity_val_steps=0",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary", "false",
            root_arg, "--test_after_fit=true", "--seed_everything=1",
            "--trainer.callbacks+={model_checkpoint: {monitor: val_acc, mode: max}}", NULL);
    char logs[1300];
    snprintf(logs, sizeof logs, "logs: %s/volt_logs/version_0", root);
    EXPECT(r, 0, "fit: 1 epochs, 5 optimizer steps", "test (", "test_acc", "test_loss", logs,
           "checkpoints: ", "best checkpoint: ");
    char *best = best_path(r.out);
    assert_true(exists(best));
    free(r.out);

    /* config.yaml: the resolved configuration, which reads back the same. */
    char config[1300];
    snprintf(config, sizeof config, "%s/volt_logs/version_0/config.yaml", root);
    char *saved = read_text(config);
    assert_non_null(strstr(saved, "test_after_fit: true\n"));
    assert_non_null(strstr(saved, "  - model_checkpoint:\n      dirpath: null\n"));
    assert_non_null(strstr(saved, "  hidden: 32\n"));
    r = run("fit", "-c", config, "--print-config", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, saved);
    free(r.out);
    free(saved);

    /* test and predict from the saved configuration and the best checkpoint. */
    char ckpt_arg[1400], pred_arg[1300];
    snprintf(ckpt_arg, sizeof ckpt_arg, "--ckpt_path=%s", best);
    snprintf(pred_arg, sizeof pred_arg, "--predictions_path=%s", path_in("pred.safetensors"));
    r = run("test", "-c", config, ckpt_arg, NULL);
    EXPECT(r, 0, "test:\n", "test_acc");
    free(r.out);
    r = run("predict", "-c", config, ckpt_arg, pred_arg, NULL);
    EXPECT(r, 0, "predict: 2 batches, 64 items", "predictions: ");
    free(r.out);
    volt_safetensors *f = volt_safetensors_open(path_in("pred.safetensors"));
    assert_non_null(f);
    volt_dtype dtype;
    int ndim;
    int64_t shape[VOLT_MAX_DIMS];
    assert_int_equal(volt_safetensors_info(f, "predictions", &dtype, &ndim, shape), VOLT_OK);
    assert_int_equal(ndim, 2);
    assert_true(shape[0] == 64 && shape[1] == 10);
    volt_safetensors_close(f);

    /* A checkpoint that does not exist: exit 2 before anything runs. */
    char versions[1300];
    snprintf(versions, sizeof versions, "%s/volt_logs/version_3", root);
    snprintf(ckpt_arg, sizeof ckpt_arg, "--ckpt_path=%s", path_in("missing.ckpt"));
    r = run("validate", "-c", config, ckpt_arg, NULL);
    EXPECT(r, 2, "missing.ckpt': no such file");
    free(r.out);
    assert_false(exists(versions)); /* fit made 0, test 1, predict 2 */
    free(best);
}

/* tune: an lr_find sweep writes its curve and suggests a rate;
 * scale_batch_size doubles the batch size while trials pass. */
static void test_tune(void **state) {
    (void)state;
    char csv_arg[1300];
    snprintf(csv_arg, sizeof csv_arg, "--tuner.csv_path=%s", path_in("lr.csv"));
    remove(path_in("lr.csv"));
    run_result r = run("tune", "--model.hidden=16", "--data.batch_size=16",
                       "--tuner.num_training=20", csv_arg, NULL);
    EXPECT(r, 0, "lr_find: 20 steps from 1e-08 to 1", "apply it: --model.lr=");
    free(r.out);
    char *curve = read_text(path_in("lr.csv"));
    int lines = 0;
    for (const char *p = curve; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 21); /* the header and one row per step */
    free(curve);
    r = run("tune", "--tuner=scale_batch_size", "--tuner.max_trials=2", "--tuner.steps_per_trial=1",
            "--model.hidden=16", NULL);
    EXPECT(r, 0, "scale_batch_size: batch_size 4 after 2 trials: 2 passed; 4 passed;",
           "apply it: --data.batch_size=4");
    free(r.out);
}

static void test_bad_value_starts_nothing(void **state) {
    (void)state;
    char root[1100], root_arg[1200];
    snprintf(root, sizeof root, "%s/bad", tmp);
    remove_tree(root);
    snprintf(root_arg, sizeof root_arg, "--trainer.default_root_dir=%s", root);
    run_result r = run("fit", root_arg, "--trainer.max_epochs=two", NULL);
    EXPECT(r, 2, "trainer.max_epochs: 'two' is not an integer");
    free(r.out);
    r = run("fit", root_arg, "--model=cnnn", NULL);
    EXPECT(r, 2, "unknown model 'cnnn' (did you mean cnn?");
    free(r.out);
    r = run("fit", root_arg, "-c", path_in("no.yaml"), NULL);
    EXPECT(r, 2, "no.yaml': no such file");
    free(r.out);
    assert_false(exists(root));
}

static int count_of(const char *text, const char *what) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* devices=2 without a launcher: the program re-executes itself under
 * mpiexec (issue 8's self-launch); rank 0 alone reports and writes. */
static void test_fit_on_two_devices(void **state) {
    (void)state;
    char root[1100], root_arg[1200];
    snprintf(root, sizeof root, "%s/two", tmp);
    remove_tree(root);
    snprintf(root_arg, sizeof root_arg, "--trainer.default_root_dir=%s", root);
    setenv("VOLT_ALLOW_OVERSUBSCRIBE", "1", 1); /* a one-CPU machine runs it too */
    run_result r =
        run("fit", "--model=mlp", "--model.hidden=32", "--data.batch_size=32",
            "--trainer.devices=2", "--trainer.max_epochs=1", "--trainer.limit_train_batches=4",
            "--trainer.limit_val_batches=2", "--trainer.limit_test_batches=2",
            "--trainer.num_sanity_val_steps=0", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", root_arg, "--test_after_fit=true",
            "--seed_everything=1", NULL);
    unsetenv("VOLT_ALLOW_OVERSUBSCRIBE");
    EXPECT(r, 0, "fit: 1 epochs, 4 optimizer steps", "test (", "test_acc");
    if (count_of(r.out, "fit: 1 epochs") != 1 || count_of(r.out, "test_acc") != 1)
        fail_msg("rank 0 alone should report; output:\n%s", r.out);
    free(r.out);
    char path[1300];
    snprintf(path, sizeof path, "%s/volt_logs/version_0/config.yaml", root);
    assert_true(exists(path));
    snprintf(path, sizeof path, "%s/volt_logs/version_1", root);
    assert_false(exists(path)); /* the second rank made no logs of its own */
}

int main(void) {
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(tmp, sizeof tmp, "%s", dir && *dir ? dir : "/tmp");
    cli = getenv("VOLT_CLI");
    if (!cli || !*cli) cli = "tools/volt/volt";
    if (access(cli, X_OK) != 0) {
        printf("SKIPPED: no volt program at %s (set VOLT_CLI)\n", cli);
        return 0;
    }
    if (access(VOLT_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0 &&
        access(VOLT_FASHION_MNIST_DIR "/train-images-idx3-ubyte", R_OK) != 0) {
        printf("SKIPPED: no Fashion-MNIST in " VOLT_FASHION_MNIST_DIR
               " (Debian: dataset-fashion-mnist)\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        VT_TEST(test_fit_test_predict),
        VT_TEST(test_tune),
        VT_TEST(test_bad_value_starts_nothing),
        VT_TEST(test_fit_on_two_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
