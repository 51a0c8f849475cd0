/* launch.c: volt_dist_launch — the self-launcher (Lightning's subprocess
 * launcher, the MPI way). A program asked for N processes and started
 * without a launcher replaces itself by `mpiexec -n N <itself> <its
 * arguments>`; under a launcher it only checks that the launcher started N.
 * The ranks it starts carry VOLT_LAUNCHED=N, so that a rank that finds no
 * launcher environment fails instead of launching again (a fork bomb). */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/dist_impl.h"

#define LAUNCHED_VAR "VOLT_LAUNCHED"
#define MAX_CMDLINE (1 << 20)

/* CPUs this process may run on (its affinity mask), at least 1. */
static int available_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= INT_MAX ? (int)n : 1;
}

static bool env_is(const char *name, const char *value) {
    const char *s = getenv(name);
    return s && strcmp(s, value) == 0;
}

/* Checks a process already started by a launcher: it must have started
 * exactly nprocs processes. */
static volt_status check_launched(const volt_cluster_env *e, int nprocs) {
    if (e->world_size == nprocs) return VOLT_OK;
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                          "dist_launch: devices=%d but the launcher (%s) started %d process%s; "
                          "start %d (mpirun -np %d ...) or set devices=%d",
                          nprocs, volt_cluster_source_name(e->source), e->world_size,
                          e->world_size == 1 ? "" : "es", nprocs, nprocs, e->world_size);
}

/* The executable `name` (a path when it holds a '/', else looked up in
 * PATH) into out; false when there is none. */
static bool find_executable(const char *name, char *out, size_t size) {
    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        int n = snprintf(out, size, "%.*s/%s", (int)len, len ? p : ".", name);
        if (n > 0 && (size_t)n < size && access(out, X_OK) == 0) return true;
        p += len;
        if (*p == ':') p++;
    }
    return false;
}

static volt_status find_mpiexec(int nprocs, char *out, size_t size) {
    const char *env = getenv("VOLT_MPIEXEC");
    if (env && *env) {
        if (find_executable(env, out, size)) return VOLT_OK;
        return volt_error_set(VOLT_ERR_UNSUPPORTED,
                              "dist_launch: VOLT_MPIEXEC=%s is not an executable (%s); point it "
                              "at Open MPI's mpiexec, or start the program yourself: "
                              "mpirun -np %d <program>",
                              env, strerror(errno), nprocs);
    }
    if (find_executable("mpiexec", out, size)) return VOLT_OK;
    return volt_error_set(VOLT_ERR_UNSUPPORTED,
                          "dist_launch: devices=%d needs Open MPI's mpiexec to start the "
                          "processes and there is none on PATH; install it (Debian: apt-get "
                          "install openmpi-bin), set VOLT_MPIEXEC to its path, or start the "
                          "program yourself: mpirun -np %d <program>",
                          nprocs, nprocs);
}

/* The program's own arguments (argv[1..]) from /proc/self/cmdline: *args
 * points into *buf (free it), *n of them. */
static volt_status read_arguments(char **buf, char ***args, int *n) {
    *buf = NULL, *args = NULL, *n = 0;
    FILE *fp = fopen("/proc/self/cmdline", "rb");
    if (!fp)
        return volt_error_set(VOLT_ERR_IO, "dist_launch: cannot read /proc/self/cmdline (%s)",
                              strerror(errno));
    char *text = malloc(MAX_CMDLINE + 1);
    size_t len = text ? fread(text, 1, MAX_CMDLINE, fp) : 0;
    fclose(fp);
    if (!text) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "dist_launch: out of memory");
    text[len] = 0;
    int count = 0;
    for (size_t i = 0; i < len; i++) count += text[i] == 0;
    char **list = calloc((size_t)count + 1, sizeof *list);
    if (!list) {
        free(text);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "dist_launch: out of memory");
    }
    int k = 0;
    for (size_t i = 0; i < len && k < count; i += strlen(text + i) + 1) list[k++] = text + i;
    /* list[0] is argv[0]: the executable comes from /proc/self/exe instead. */
    *buf = text;
    *args = list;
    *n = k;
    return VOLT_OK;
}

/* The absolute path of this program's executable. */
static volt_status self_executable(char *out, size_t size) {
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    if (n <= 0 || (size_t)n >= size - 1)
        return volt_error_set(VOLT_ERR_IO, "dist_launch: cannot resolve /proc/self/exe (%s)",
                              n < 0 ? strerror(errno) : "path too long");
    out[n] = 0;
    if (access(out, X_OK) != 0)
        return volt_error_set(VOLT_ERR_IO,
                              "dist_launch: this program's executable %s cannot be started "
                              "again (%s)",
                              out, strerror(errno));
    return VOLT_OK;
}

/* Sets VOLT_LAUNCHED and, unless the user chose, VOLT_NUM_THREADS (the
 * CPUs shared out among the ranks) for the ranks to inherit. */
static void set_rank_environment(int nprocs, int cpus) {
    char value[32];
    snprintf(value, sizeof value, "%d", nprocs);
    setenv(LAUNCHED_VAR, value, 1);
    const char *threads = getenv("VOLT_NUM_THREADS");
    if (!threads || !*threads) {
        snprintf(value, sizeof value, "%d", cpus / nprocs > 1 ? cpus / nprocs : 1);
        setenv("VOLT_NUM_THREADS", value, 1);
    }
}

/* Replaces the process by mpiexec running nprocs copies of it; returns
 * only on failure. */
static volt_status exec_mpiexec(const char *mpiexec, int nprocs, int cpus) {
    char exe[PATH_MAX], count[16], *buf, **args;
    int n_args;
    if (self_executable(exe, sizeof exe) != VOLT_OK) return volt_error_status();
    if (read_arguments(&buf, &args, &n_args) != VOLT_OK) return volt_error_status();
    char **argv = calloc((size_t)n_args + 10, sizeof *argv);
    if (!argv) {
        free(args);
        free(buf);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "dist_launch: out of memory");
    }
    snprintf(count, sizeof count, "%d", nprocs);
    int k = 0;
    argv[k++] = (char *)mpiexec;
    argv[k++] = "-n";
    argv[k++] = count;
    /* volt checked the CPUs itself; Open MPI's own check counts cores, not
     * hardware threads, and would refuse 2 ranks on one 2-thread core. */
    argv[k++] = "--oversubscribe";
    /* No pinning: Open MPI would pin each rank to a core, or several ranks
     * to the same one under a restricted affinity mask. */
    argv[k++] = "--bind-to";
    argv[k++] = "none";
    if (geteuid() == 0) argv[k++] = "--allow-run-as-root";
    argv[k++] = exe;
    for (int i = 1; i < n_args; i++) argv[k++] = args[i];
    argv[k] = NULL;

    char *old_threads = getenv("VOLT_NUM_THREADS");
    bool had_threads = old_threads && *old_threads;
    set_rank_environment(nprocs, cpus);
    fflush(NULL);
    execv(mpiexec, argv);
    int err = errno;
    unsetenv(LAUNCHED_VAR);
    if (!had_threads) unsetenv("VOLT_NUM_THREADS");
    free(argv);
    free(args);
    free(buf);
    return volt_error_set(VOLT_ERR_IO, "dist_launch: cannot start %s (%s)", mpiexec, strerror(err));
}

volt_status volt_dist_launch(int nprocs) {
    if (nprocs <= 1) return VOLT_OK;
    bool had_error = volt_error_status() != VOLT_OK;
    volt_cluster_env e = volt_cluster_env_detect();
    if (!had_error && volt_error_status() != VOLT_OK) return volt_error_status();
    if (e.source != VOLT_CLUSTER_NONE || e.world_size > 1) return check_launched(&e, nprocs);

    const char *launched = getenv(LAUNCHED_VAR);
    if (launched && *launched)
        return volt_error_set(VOLT_ERR_STATE,
                              "dist_launch: this process was started by volt_dist_launch "
                              "(%s=%s) but finds no launcher environment (OMPI_COMM_WORLD_*, "
                              "SLURM_*, RANK/WORLD_SIZE); refusing to launch again (is "
                              "VOLT_MPIEXEC an Open MPI mpiexec?)",
                              LAUNCHED_VAR, launched);
    int cpus = available_cpus();
    bool oversubscribe = env_is("VOLT_ALLOW_OVERSUBSCRIBE", "1");
    if (nprocs > cpus && !oversubscribe)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "dist_launch: devices=%d but only %d CPU%s available to this "
                              "process; use at most %d, or set VOLT_ALLOW_OVERSUBSCRIBE=1 to run "
                              "more processes than CPUs (slow)",
                              nprocs, cpus, cpus == 1 ? " is" : "s are", cpus);
    char mpiexec[PATH_MAX];
    if (find_mpiexec(nprocs, mpiexec, sizeof mpiexec) != VOLT_OK) return volt_error_status();
    return exec_mpiexec(mpiexec, nprocs, cpus);
}
