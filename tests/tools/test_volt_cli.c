/* test_volt_cli.c: the `volt` command line program (tools/volt), run as a
 * separate process (its path in VOLT_CLI, set by cmake/VoltTests.cmake):
 * usage errors exit 2, --help and --version 0; `volt ckpt inspect` lists the
 * tensors, totals and metadata (JSON values pretty-printed) of a plain
 * safetensors file and of a real checkpoint (with its summary line);
 * `volt ckpt verify` exits 0 on a sound checkpoint and 1 with the reason on
 * a flipped data byte (checksum), a truncated file, an empty file, a file
 * that is not safetensors, a safetensors file that is not a checkpoint and
 * an unknown format version. Without VOLT_CLI it exits 77 (ctest: skipped). */
#include "volt_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <volt/io.h>

#include "../io/tiny_checkpoint.h"

static const char *cli;

/* This test's scratch directory, and a path in it (from a ring of 8). */
static const char *tmp_dir(void) {
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    return dir && *dir ? dir : "/tmp";
}
static const char *tmp_path(const char *name) {
    static char buf[8][1024];
    static int next;
    char *out = buf[next++ % 8];
    snprintf(out, sizeof buf[0], "%s/%s", tmp_dir(), name);
    return out;
}

/* ------------------------------------------------- running the program */

typedef struct {
    int status; /* the exit status */
    char *out;  /* stdout and stderr together, NUL-terminated (malloc'd) */
} run_result;

/* Runs `volt ARGS...` (a NULL-terminated list) and collects its output. */
static run_result run(const char *arg, ...) {
    const char *argv[16] = {cli};
    int argc = 1;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 15; a = va_arg(ap, const char *)) argv[argc++] = a;
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

/* Asserts the exit status and that the output holds every given string
 * (a NULL-terminated list); prints the output on failure. */
static void expect(run_result r, int status, ...) {
    bool ok = r.status == status;
    va_list ap;
    va_start(ap, status);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        if (strstr(r.out, s)) continue;
        fprintf(stderr, "missing from the output: \"%s\"\n", s);
        ok = false;
    }
    va_end(ap);
    if (!ok) fprintf(stderr, "exit status %d (want %d); output:\n%s\n", r.status, status, r.out);
    free(r.out);
    assert_true(ok);
}

/* ------------------------------------------------------------ files */

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size + 1);
    assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *n = (size_t)size;
    return data;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* A plain safetensors file: "w" F32 [2, 3], "steps" I64 [4], metadata
 * with a plain string and a JSON object. */
static const char *plain_file(void) {
    const char *path = tmp_path("plain.safetensors");
    volt_tensor *w = volt_zeros(2, (int64_t[]){2, 3}, VOLT_F32);
    volt_tensor *steps = volt_zeros(1, (int64_t[]){4}, VOLT_I64);
    const char *meta =
        "{\"note\": \"hello\", \"cfg\": \"{\\\"lr\\\": 0.5, \\\"sizes\\\": [3, 4]}\"}";
    assert_int_equal(volt_safetensors_save(path, 2, (const char *[]){"w", "steps"},
                                           (volt_tensor *[]){w, steps}, meta),
                     VOLT_OK);
    return path;
}

/* -------------------------------------------------------------- tests */

static void test_usage_errors_exit_2(void **state) {
    (void)state;
    expect(run(NULL), 2, "usage: volt COMMAND", "ckpt", NULL);
    expect(run("bogus", NULL), 2, "unknown command 'bogus'", "usage: volt", NULL);
    expect(run("--bogus", NULL), 2, "unknown option '--bogus'", NULL);
    expect(run("ckpt", NULL), 2, "usage: volt ckpt", "inspect", "verify", NULL);
    expect(run("ckpt", "frob", "x", NULL), 2, "volt ckpt: unknown command 'frob'", NULL);
    expect(run("ckpt", "inspect", NULL), 2, "volt ckpt inspect: missing FILE", NULL);
    expect(run("ckpt", "verify", "a", "b", NULL), 2, "expected one FILE, got 2 arguments", NULL);
}

static void test_help_and_version_exit_0(void **state) {
    (void)state;
    expect(run("--help", NULL), 0, "usage: volt COMMAND", "ckpt inspect|verify FILE", NULL);
    expect(run("-h", NULL), 0, "usage: volt COMMAND", NULL);
    expect(run("ckpt", "--help", NULL), 0, "inspect FILE", "verify FILE", NULL);
    char version[64];
    snprintf(version, sizeof version, "volt %s\n", volt_version());
    expect(run("--version", NULL), 0, version, NULL);
}

static void test_inspect_plain_safetensors(void **state) {
    (void)state;
    const char *path = plain_file();
    run_result r = run("ckpt", "inspect", path, NULL);
    assert_null(strstr(r.out, "volt checkpoint")); /* no summary line */
    expect(r, 0, "tensors: 2", "NAME", "DTYPE", "SHAPE", "BYTES", "  w      F32    [2, 3]  24\n",
           "  steps  I64    [4]     32\n", "total: 2 tensors, 10 elements, 56 bytes",
           "metadata: 2 keys", "  note: hello\n",
           /* the JSON value, pretty-printed and indented */
           "  cfg:\n    {\n      \"lr\": 0.5,\n      \"sizes\": [3, 4]\n    }\n", NULL);
    /* verify is for checkpoints only */
    expect(run("ckpt", "verify", path, NULL), 1, "not a volt checkpoint", NULL);
}

static void test_inspect_and_verify_a_checkpoint(void **state) {
    (void)state;
    const char *path = tmp_path("tiny.ckpt");
    tiny_checkpoint_write(tmp_dir(), path, false);
    expect(run("ckpt", "inspect", path, NULL), 0, "volt checkpoint (volt-checkpoint-1): epoch ",
           "global step 4, volt ", "weights_only false", "state_dict.fc.weight",
           "state_dict.bn.running_mean", "state_dict.bn.num_batches_tracked ",
           " I64    []      8\n", "total: 11 tensors, 27 elements, 112 bytes",
           "optimizer.0.fc.weight.momentum_buffer", "format: volt-checkpoint-1",
           "checksum: crc32:", "global_step: 4", "  hparams: {}\n",
           "  loops:\n    {\n      \"phase\": ", NULL);
    expect(run("ckpt", "verify", path, NULL), 0, path, ": OK (volt-checkpoint-1", NULL);

    const char *wo = tmp_path("tiny-weights.ckpt");
    tiny_checkpoint_write(tmp_dir(), wo, true);
    run_result r = run("ckpt", "inspect", wo, NULL);
    assert_null(strstr(r.out, "optimizer.0."));
    expect(r, 0, "weights_only true", "state_dict.fc.bias", NULL);
    expect(run("ckpt", "verify", wo, NULL), 0, ": OK", NULL);
}

static void test_verify_refuses_damaged_files(void **state) {
    (void)state;
    const char *good = tmp_path("good.ckpt");
    tiny_checkpoint_write(tmp_dir(), good, false);
    size_t n;
    unsigned char *bytes = read_file(good, &n);

    /* One flipped byte in the data section (the last byte of the file):
     * the structure holds, the checksum does not; inspect still lists it. */
    const char *flipped = tmp_path("flipped.ckpt");
    bytes[n - 1] ^= 0x40;
    write_file(flipped, bytes, n);
    bytes[n - 1] ^= 0x40;
    expect(run("ckpt", "verify", flipped, NULL), 1, flipped, "checksum", NULL);
    expect(run("ckpt", "inspect", flipped, NULL), 0, "state_dict.fc.weight", NULL);

    const char *truncated = tmp_path("truncated.ckpt");
    write_file(truncated, bytes, n - 4);
    expect(run("ckpt", "verify", truncated, NULL), 1, truncated, NULL);
    expect(run("ckpt", "inspect", truncated, NULL), 1, truncated, NULL);

    const char *empty = tmp_path("empty.ckpt");
    write_file(empty, "", 0);
    expect(run("ckpt", "verify", empty, NULL), 1, empty, NULL);

    const char *text = tmp_path("text.ckpt");
    const char *words = "this is not a checkpoint, only some words in a file\n";
    write_file(text, words, strlen(words));
    expect(run("ckpt", "verify", text, NULL), 1, text, "header length", NULL);

    expect(run("ckpt", "verify", tmp_path("missing.ckpt"), NULL), 1, "missing.ckpt", "No such file",
           NULL);
    free(bytes);

    /* A format version this volt does not know. */
    const char *future = tmp_path("future.ckpt");
    volt_tensor *w = volt_zeros(1, (int64_t[]){2}, VOLT_F32);
    assert_int_equal(volt_safetensors_save(future, 1, (const char *[]){"state_dict.w"}, &w,
                                           "{\"format\": \"volt-checkpoint-9\"}"),
                     VOLT_OK);
    expect(run("ckpt", "verify", future, NULL), 1, "volt-checkpoint-9", NULL);
    expect(run("ckpt", "inspect", future, NULL), 0,
           "volt checkpoint (volt-checkpoint-9, a version this volt does not read)", NULL);
}

int main(void) {
    cli = getenv("VOLT_CLI");
    if (!cli || !*cli || access(cli, X_OK) != 0) {
        printf("SKIPPED: VOLT_CLI does not name the built volt program (%s); configure with "
               "VOLT_BUILD_TOOLS=ON and run through ctest\n",
               cli ? cli : "unset");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        VT_TEST(test_usage_errors_exit_2),          VT_TEST(test_help_and_version_exit_0),
        VT_TEST(test_inspect_plain_safetensors),    VT_TEST(test_inspect_and_verify_a_checkpoint),
        VT_TEST(test_verify_refuses_damaged_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
