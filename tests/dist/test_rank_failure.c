/* test_rank_failure.c: a rank that fails never leaves the others hanging.
 * The test (one process) starts itself five times under
 * `mpiexec -n 2 --oversubscribe --allow-run-as-root`, all at once, with
 * `--rank MODE`; rank 0 always all-reduces, rank 1 in each mode:
 *   ok      all-reduces too: the job succeeds (the control);
 *   sigkill raises SIGKILL: mpiexec ends the job and names the signal;
 *   error   reports an error, frees its group and exits 1: the exit handler
 *           skips MPI_Finalize, so mpiexec ends the job at once;
 *   exit0   exits 0 without the all-reduce: its exit handler waits at the
 *           final barrier for its timeout (1 s), says so and skips
 *           MPI_Finalize; mpiexec ends the job;
 *   stuck   sleeps: rank 0's all-reduce times out (its timeout is 1 s) with
 *           a clear error, rank 0 exits 1, mpiexec ends the job.
 * Each job must end within 60 s (rank 0 waits with a 120 s timeout where
 * the point is that something else ends it); a job still running then is
 * killed and the test fails as a hang. The bound is a timeout, not a
 * performance threshold: each job takes one to three seconds here. */
#include "volt_test.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <volt/dist.h>

extern char **environ;

#define HANG_LIMIT_S 60.0

/* ------------------------------------------------------------ the ranks */

/* The timeout a rank gives its group: short where the rank's own timeout is
 * the mechanism under test, long elsewhere (so it cannot be what ends the
 * job). */
static double rank_timeout(const char *mode, int rank) {
    if (strcmp(mode, "stuck") == 0 && rank == 0) return 1;
    if (strcmp(mode, "exit0") == 0 && rank == 1) return 1;
    return 120;
}

static int run_rank(const char *mode) {
    const char *env_rank = getenv("OMPI_COMM_WORLD_RANK");
    int rank = env_rank ? atoi(env_rank) : -1;
    volt_process_group_options options = {.timeout_s = rank_timeout(mode, rank)};
    volt_process_group *pg = volt_process_group_new("mpi", &options);
    if (!pg) {
        fprintf(stderr, "rank %d: %s\n", rank, volt_error_message());
        return 2;
    }
    if (rank == 1 && strcmp(mode, "sigkill") == 0) raise(SIGKILL);
    if (rank == 1 && strcmp(mode, "error") == 0) {
        fprintf(stderr, "rank 1: simulated failure\n");
        volt_process_group_free(pg);
        return 1;
    }
    if (rank == 1 && strcmp(mode, "exit0") == 0) {
        volt_process_group_free(pg);
        return 0;
    }
    if (rank == 1 && strcmp(mode, "stuck") == 0) sleep(100);
    volt_tensor *t = volt_full(1, (int64_t[]){4}, rank + 1.0, VOLT_F64);
    volt_status st = volt_dist_all_reduce(pg, t, VOLT_REDUCE_SUM);
    if (st != VOLT_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, volt_error_message());
        fflush(stderr);
        return 1; /* a broken group is left as it is: the job is ending */
    }
    printf("rank %d: all_reduce gave %g\n", rank, volt_tensor_get_flat(t, 0));
    volt_tensor_free(t);
    volt_process_group_free(pg);
    return 0;
}

/* ------------------------------------------------------------- the jobs */

typedef struct {
    const char *mode;
    pid_t pid;
    double start;
    char log[1024];
} job;

static job jobs[] = {
    {.mode = "ok"}, {.mode = "sigkill"}, {.mode = "error"}, {.mode = "exit0"}, {.mode = "stuck"}};
#define N_JOBS (int)(sizeof jobs / sizeof *jobs)

static void start_job(job *j, const char *self) {
    const char *tmp = getenv("VOLT_TEST_TMPDIR");
    const char *mpiexec = getenv("VOLT_MPIEXEC");
    snprintf(j->log, sizeof j->log, "%s/%s.log", tmp && *tmp ? tmp : "/tmp", j->mode);
    char *argv[] = {(char *)(mpiexec && *mpiexec ? mpiexec : "mpiexec"),
                    "-n",
                    "2",
                    "--oversubscribe",
                    "--allow-run-as-root",
                    (char *)self,
                    "--rank",
                    (char *)j->mode,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, j->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP); /* killable as a whole */
    posix_spawnattr_setpgroup(&attr, 0);
    j->start = volt_time_now();
    int rc = posix_spawnp(&j->pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) j->pid = -1;
}

/* Waits for the job at most until HANG_LIMIT_S after its start; its exit
 * status (128 + signal), or -1 when it had to be killed. */
static int finish_job(job *j, double *elapsed) {
    int status;
    for (;;) {
        pid_t r = waitpid(j->pid, &status, WNOHANG);
        *elapsed = volt_time_now() - j->start;
        if (r == j->pid) break;
        if (*elapsed > HANG_LIMIT_S) {
            kill(-j->pid, SIGKILL);
            waitpid(j->pid, &status, 0);
            return -1;
        }
        usleep(20 * 1000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *read_log(const job *j) {
    FILE *fp = fopen(j->log, "rb");
    assert_non_null(fp);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    text[n] = 0;
    fclose(fp);
    return text;
}

static job *find(const char *mode) {
    for (int i = 0; i < N_JOBS; i++)
        if (strcmp(jobs[i].mode, mode) == 0) return &jobs[i];
    fail_msg("no job %s", mode);
    return NULL;
}

/* Runs job `mode` to its end; fails on a hang, returns status and log. */
static int check_job(const char *mode, char **log) {
    job *j = find(mode);
    assert_true(j->pid > 0);
    double elapsed;
    int status = finish_job(j, &elapsed);
    *log = read_log(j);
    if (status < 0)
        fail_msg("mode %s: the job was still running after %g s (a hang); its output:\n%s", mode,
                 HANG_LIMIT_S, *log);
    print_message("mode %s: mpiexec exited with %d after %.1f s\n", mode, status, elapsed);
    return status;
}

static void assert_contains(const char *log, const char *what, const char *mode) {
    if (!strstr(log, what)) fail_msg("mode %s: output lacks \"%s\"; it was:\n%s", mode, what, log);
}

static void assert_lacks(const char *log, const char *what, const char *mode) {
    if (strstr(log, what)) fail_msg("mode %s: output has \"%s\"; it was:\n%s", mode, what, log);
}

static void test_ok_control(void **state) {
    (void)state;
    char *log;
    assert_int_equal(check_job("ok", &log), 0);
    assert_contains(log, "rank 0: all_reduce gave 3", "ok");
    assert_contains(log, "rank 1: all_reduce gave 3", "ok");
}

static void test_killed_rank_ends_the_job(void **state) {
    (void)state;
    char *log;
    assert_int_not_equal(check_job("sigkill", &log), 0);
    assert_contains(log, "rank 1", "sigkill");
    assert_contains(log, "signal 9", "sigkill");
    assert_lacks(log, "all_reduce gave", "sigkill");
}

static void test_failed_rank_ends_the_job(void **state) {
    (void)state;
    char *log;
    assert_int_not_equal(check_job("error", &log), 0);
    assert_contains(log, "rank 1: simulated failure", "error");
    assert_lacks(log, "all_reduce gave", "error");
}

static void test_rank_exiting_early_ends_the_job(void **state) {
    (void)state;
    char *log;
    assert_int_not_equal(check_job("exit0", &log), 0);
    assert_contains(log,
                    "volt: rank 1: the other ranks did not reach the end of the program within "
                    "1 s; exiting without MPI_Finalize so that the launcher ends the job",
                    "exit0");
    assert_lacks(log, "all_reduce gave", "exit0");
}

static void test_stuck_rank_times_out(void **state) {
    (void)state;
    char *log;
    assert_int_not_equal(check_job("stuck", &log), 0);
    assert_contains(log,
                    "rank 0: volt: all_reduce: timed out after 1 s waiting for the other ranks "
                    "(a rank died, is stuck, or called another collective)",
                    "stuck");
    assert_lacks(log, "all_reduce gave", "stuck");
}

static int start_all(void **state) {
    (void)state;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    for (int i = 0; i < N_JOBS; i++) start_job(&jobs[i], self);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--rank") == 0) return run_rank(argv[2]);
    const struct CMUnitTest tests[] = {
        VT_TEST(test_ok_control),
        VT_TEST(test_killed_rank_ends_the_job),
        VT_TEST(test_failed_rank_ends_the_job),
        VT_TEST(test_rank_exiting_early_ends_the_job),
        VT_TEST(test_stuck_rank_times_out),
    };
    return cmocka_run_group_tests(tests, start_all, NULL);
}
