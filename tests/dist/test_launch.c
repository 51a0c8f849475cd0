/* test_launch.c: volt_dist_launch, the self-launcher. The test (one
 * process) starts itself as a child with `--child N args...` and no
 * launcher environment; the child calls volt_dist_launch(N), which replaces
 * it by mpiexec running N copies, and each rank prints what it sees:
 *   - N = 2 with the real mpiexec (VOLT_MPIEXEC from ctest): both ranks make
 *     an MPI process group and print "rank R of 2", with the child's
 *     arguments and environment; the exit status is mpiexec's, 0;
 *   - a fake mpiexec (a shell script) prints the command line it was given
 *     and exits 3: the flags, the executable, the original arguments, and
 *     the exit status passed through.
 * The refusals run in this process: more processes than CPUs, a missing
 * mpiexec, a launcher that started another number of processes, a rank
 * started by the launcher that finds no launcher (no second launch). */
#include "volt_test.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <volt/dist.h>

extern char **environ;

#define HANG_LIMIT_S 60.0

static char real_mpiexec[4096]; /* VOLT_MPIEXEC as ctest set it */

/* ------------------------------------------------------------ the child */

static int run_child(int argc, char **argv) {
    int n = atoi(argv[2]);
    if (volt_dist_launch(n) != VOLT_OK) {
        fprintf(stderr, "child: %s\n", volt_error_message());
        return 1;
    }
    volt_process_group *pg = volt_process_group_new(NULL, NULL);
    if (!pg) {
        fprintf(stderr, "child: %s\n", volt_error_message());
        return 1;
    }
    printf("rank %d of %d; args:", volt_process_group_rank(pg), volt_process_group_world_size(pg));
    for (int i = 3; i < argc; i++) printf(" %s", argv[i]);
    printf("; VOLT_LAUNCHED=%s VOLT_NUM_THREADS=%s\n", getenv("VOLT_LAUNCHED"),
           getenv("VOLT_NUM_THREADS"));
    fflush(stdout);
    volt_process_group_free(pg);
    return 0;
}

/* ------------------------------------------------------------- helpers */

static int cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    return CPU_COUNT(&set);
}

static const char *tmpdir(void) {
    const char *t = getenv("VOLT_TEST_TMPDIR");
    return t && *t ? t : "/tmp";
}

static bool is_launcher_variable(const char *kv) {
    static const char *const prefixes[] = {"OMPI_",
                                           "PMIX_",
                                           "SLURM_",
                                           "RANK=",
                                           "WORLD_SIZE=",
                                           "LOCAL_RANK=",
                                           "VOLT_LAUNCHED=",
                                           "VOLT_NUM_THREADS=",
                                           "VOLT_ALLOW_OVERSUBSCRIBE=",
                                           "VOLT_MPIEXEC="};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(kv, prefixes[i], strlen(prefixes[i])) == 0) return true;
    return false;
}

/* Runs this program with `args` (NULL-terminated) and this environment
 * less any launcher's variables, plus `extra` (NULL-terminated "K=V");
 * stdout and stderr go to `log`. Returns its exit status (128 + signal);
 * fails the test when it runs longer than HANG_LIMIT_S. */
static int spawn_self(const char *const *args, const char *const *extra, const char *log) {
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = 0;
    const char *argv[16] = {self};
    int na = 1;
    for (; args[na - 1]; na++) argv[na] = args[na - 1];
    argv[na] = NULL;
    const char *envp[512];
    int ne = 0;
    for (char **e = environ; *e && ne < 480; e++)
        if (!is_launcher_variable(*e)) envp[ne++] = *e;
    for (; *extra; extra++) envp[ne++] = *extra;
    envp[ne] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, &attr, (char *const *)argv, (char *const *)envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    assert_int_equal(rc, 0);

    double start = volt_time_now();
    int status;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (volt_time_now() - start > HANG_LIMIT_S) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the launched job still ran after %g s (a hang)", HANG_LIMIT_S);
        }
        usleep(20 * 1000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *read_text(const char *path) {
    static char text[1 << 16];
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(text, 1, sizeof text - 1, fp);
    text[n] = 0;
    fclose(fp);
    return text;
}

static void assert_contains(const char *text, const char *what) {
    if (!strstr(text, what)) fail_msg("output lacks \"%s\"; it was:\n%s", what, text);
}

/* ----------------------------------------------------- launching for real */

static void test_launch_two_ranks(void **state) {
    (void)state;
    char log[4096], mpiexec_var[4200];
    snprintf(log, sizeof log, "%s/two_ranks.log", tmpdir());
    snprintf(mpiexec_var, sizeof mpiexec_var, "VOLT_MPIEXEC=%s", real_mpiexec);
    /* Oversubscription allowed so that the test also runs on one CPU. */
    const char *extra[] = {mpiexec_var, "VOLT_ALLOW_OVERSUBSCRIBE=1", NULL};
    int status =
        spawn_self((const char *[]){"--child", "2", "alpha", "--beta=1", NULL}, extra, log);
    char *out = read_text(log);
    if (status != 0) fail_msg("the launched job exited with %d; its output:\n%s", status, out);
    char expected[256];
    int threads = cpus() / 2 > 1 ? cpus() / 2 : 1;
    for (int r = 0; r < 2; r++) {
        snprintf(expected, sizeof expected,
                 "rank %d of 2; args: alpha --beta=1; VOLT_LAUNCHED=2 VOLT_NUM_THREADS=%d", r,
                 threads);
        assert_contains(out, expected);
    }
}

/* A fake mpiexec: prints its arguments, exits 3. */
static void write_fake_mpiexec(char *path, size_t size) {
    snprintf(path, size, "%s/fake_mpiexec.sh", tmpdir());
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("#!/bin/sh\necho \"fake mpiexec: $*\"\necho \"VOLT_NUM_THREADS=$VOLT_NUM_THREADS\"\n"
          "exit 3\n",
          fp);
    fclose(fp);
    assert_int_equal(chmod(path, 0755), 0);
}

static void test_command_line_and_exit_status(void **state) {
    (void)state;
    char fake[4096], var[4200], log[4096], self[4096];
    write_fake_mpiexec(fake, sizeof fake);
    snprintf(var, sizeof var, "VOLT_MPIEXEC=%s", fake);
    snprintf(log, sizeof log, "%s/fake.log", tmpdir());
    const char *extra[] = {var, "VOLT_ALLOW_OVERSUBSCRIBE=1", "VOLT_NUM_THREADS=7", NULL};
    int status = spawn_self((const char *[]){"--child", "5", "a b", "c", NULL}, extra, log);
    char *out = read_text(log);
    assert_int_equal(status, 3);
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = 0;
    char expected[8192];
    snprintf(expected, sizeof expected,
             "fake mpiexec: -n 5 --oversubscribe --bind-to none%s %s --child 5 a b c\n",
             geteuid() == 0 ? " --allow-run-as-root" : "", self);
    assert_contains(out, expected);
    assert_contains(out, "VOLT_NUM_THREADS=7\n"); /* the user's choice is kept */
}

/* ------------------------------------------------------------ refusals */

static void test_one_process_does_nothing(void **state) {
    (void)state;
    assert_int_equal(volt_dist_launch(1), VOLT_OK);
    assert_int_equal(volt_dist_launch(0), VOLT_OK);
    assert_null(getenv("VOLT_LAUNCHED"));
}

static void test_more_processes_than_cpus(void **state) {
    (void)state;
    int n = cpus() + 1;
    char expected[256];
    snprintf(expected, sizeof expected, "dist_launch: devices=%d but only %d CPU%s available", n,
             n - 1, n - 1 == 1 ? " is" : "s are");
    assert_int_equal(volt_dist_launch(n), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, expected);
    assert_int_equal(volt_dist_launch(n), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "or set VOLT_ALLOW_OVERSUBSCRIBE=1");
}

static void test_mpiexec_missing(void **state) {
    (void)state;
    setenv("VOLT_ALLOW_OVERSUBSCRIBE", "1", 1);
    setenv("VOLT_MPIEXEC", "/nonexistent", 1);
    assert_int_equal(volt_dist_launch(2), VOLT_ERR_UNSUPPORTED);
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED,
                    "dist_launch: VOLT_MPIEXEC=/nonexistent is not an executable (No such file "
                    "or directory)");

    unsetenv("VOLT_MPIEXEC");
    char *path = strdup(getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", "/nonexistent-dir", 1);
    assert_int_equal(volt_dist_launch(3), VOLT_ERR_UNSUPPORTED);
    setenv("PATH", path, 1);
    free(path);
    unsetenv("VOLT_ALLOW_OVERSUBSCRIBE");
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED,
                    "devices=3 needs Open MPI's mpiexec to start the processes and there is "
                    "none on PATH; install it (Debian: apt-get install openmpi-bin), set "
                    "VOLT_MPIEXEC to its path, or start the program yourself: mpirun -np 3 "
                    "<program>");
    assert_null(getenv("VOLT_LAUNCHED"));
}

static void set_openmpi_env(const char *rank, const char *size) {
    setenv("OMPI_COMM_WORLD_RANK", rank, 1);
    setenv("OMPI_COMM_WORLD_SIZE", size, 1);
}

static void unset_openmpi_env(void) {
    unsetenv("OMPI_COMM_WORLD_RANK");
    unsetenv("OMPI_COMM_WORLD_SIZE");
}

static void test_under_a_launcher(void **state) {
    (void)state;
    set_openmpi_env("1", "2");
    assert_int_equal(volt_dist_launch(2), VOLT_OK);
    assert_int_equal(volt_dist_launch(4), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "dist_launch: devices=4 but the launcher (openmpi) started 2 processes; "
                    "start 4 (mpirun -np 4 ...) or set devices=2");
    set_openmpi_env("0", "1"); /* mpirun -np 1 is a launcher too */
    assert_int_equal(volt_dist_launch(2), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "devices=2 but the launcher (openmpi) started 1 "
                                               "process;");
    set_openmpi_env("x", "2");
    assert_int_equal(volt_dist_launch(2), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "OMPI_COMM_WORLD_RANK='x' is not an integer");
    unset_openmpi_env();

    setenv("RANK", "0", 1);
    setenv("WORLD_SIZE", "3", 1);
    assert_int_equal(volt_dist_launch(2), VOLT_ERR_INVALID_ARGUMENT);
    unsetenv("RANK");
    unsetenv("WORLD_SIZE");
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the launcher (env) started 3 processes");
}

static void test_no_second_launch(void **state) {
    (void)state;
    setenv("VOLT_LAUNCHED", "2", 1);
    assert_int_equal(volt_dist_launch(2), VOLT_ERR_STATE);
    unsetenv("VOLT_LAUNCHED");
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "dist_launch: this process was started by volt_dist_launch "
                                    "(VOLT_LAUNCHED=2) but finds no launcher environment");
}

/* The group starts without any launcher's variables (ctest sets
 * VOLT_MPIEXEC: kept in real_mpiexec for the child that launches). */
static int clean_environment(void **state) {
    (void)state;
    const char *m = getenv("VOLT_MPIEXEC");
    snprintf(real_mpiexec, sizeof real_mpiexec, "%s", m && *m ? m : "mpiexec");
    for (char **e = environ; *e;) {
        if (!is_launcher_variable(*e)) {
            e++;
            continue;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
        unsetenv(name);
        e = environ; /* unsetenv moved the entries */
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--child") == 0) return run_child(argc, argv);
    const struct CMUnitTest tests[] = {
        VT_TEST(test_one_process_does_nothing), VT_TEST(test_more_processes_than_cpus),
        VT_TEST(test_mpiexec_missing),          VT_TEST(test_under_a_launcher),
        VT_TEST(test_no_second_launch),         VT_TEST(test_command_line_and_exit_status),
        VT_TEST(test_launch_two_ranks),
    };
    return cmocka_run_group_tests(tests, clean_environment, NULL);
}
