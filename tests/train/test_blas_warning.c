/* test_blas_warning.c: volt_blas_advice and the trainer's warning with it.
 * OpenBLAS reads OPENBLAS_CORETYPE when it loads, so the test runs itself
 * again with it set. Naming the generic Prescott kernels: on a CPU with
 * AVX2 or AVX-512 the advice names them and the core to export (Haswell,
 * SkylakeX), the same text on every call, and two fits print it once as
 * "volt: warning: ..." (rank 0); on a CPU with neither, no advice and no
 * warning. Naming the core the CPU runs: no advice, no warning. */
#include "train_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *best_core(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

/* This program again with OPENBLAS_CORETYPE=core and argv[1] = "expect"
 * or "none"; its exit status. */
static int run_self(const char *core, const char *mode) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("OPENBLAS_CORETYPE", core, 1);
        execl("/proc/self/exe", "test_blas_warning", mode, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void test_generic_core(void **state) {
    (void)state;
    assert_int_equal(run_self("Prescott", best_core() ? "expect" : "none"), 0);
}

static void test_fit_core(void **state) {
    (void)state;
    if (!best_core()) skip();
    assert_int_equal(run_self(best_core(), "none"), 0);
}

/* How many lines of the file at path contain `text`. */
static int count_lines(const char *path, const char *text) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}

/* Two fits with stderr in a file: the warnings they print. */
static int warnings_of_two_fits(void) {
    char path[1100];
    snprintf(path, sizeof path, "%s/stderr.txt", fresh_dir("blas_warning"));
    fflush(stderr);
    int saved = dup(2);
    if (!freopen(path, "w", stderr)) return -1;
    for (int i = 0; i < 2; i++) {
        lin_module m;
        lin_init(&m, &lin_plain_ops, 3, 0.1);
        volt_datamodule *dm = tiny_dm_new(8, 0, 3, 4);
        volt_trainer_config c = quiet_config();
        c.max_epochs = 1;
        volt_trainer *t = volt_trainer_new(&c);
        if (!t || volt_trainer_fit(t, &m.base, dm, NULL) != VOLT_OK) return -1;
        volt_trainer_free(t);
        volt_datamodule_free(dm);
        volt_module_free(&m.base);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    return count_lines(path, "volt: warning: OpenBLAS runs its generic");
}

/* In the program run again: 0 when the advice and the warnings are as
 * mode says. */
static int check(const char *mode) {
    const char *advice = volt_blas_advice(), *best = best_core();
    int warnings = warnings_of_two_fits();
    if (strcmp(mode, "none") == 0) {
        if (advice) printf("unexpected advice: %s\n", advice);
        if (warnings != 0) printf("%d warnings, want none\n", warnings);
        return advice != NULL || warnings != 0;
    }
    char want[64];
    snprintf(want, sizeof want, "export OPENBLAS_CORETYPE=%s before", best);
    bool ok = advice && strstr(advice, "generic Prescott kernels") && strstr(advice, want) &&
              volt_blas_advice() == advice;
    if (!ok) printf("advice: %s\n", advice ? advice : "(null)");
    if (warnings != 1) printf("%d warnings, want 1\n", warnings);
    return !ok || warnings != 1;
}

int main(int argc, char **argv) {
    if (argc == 2) return check(argv[1]);
    const struct CMUnitTest tests[] = {
        VT_TEST(test_generic_core),
        VT_TEST(test_fit_core),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
