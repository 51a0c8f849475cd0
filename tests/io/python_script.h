/* python_script.h: what the interop tests share — finding a Python that can
 * run a tests/io/interop/ script (its "probe" command exits 0 when the
 * packages it needs import) and running that script's commands. */
#ifndef VOLT_TEST_PYTHON_SCRIPT_H
#define VOLT_TEST_PYTHON_SCRIPT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char python[1024]; /* the Python found */
static char script[1024]; /* the script it runs */

/* Runs `py script ARGS...` (NULL-terminated), its output going to ours;
 * returns its exit status (-1 when it did not exit). */
static inline int run_script(const char *py, const char *arg, ...) {
    const char *argv[8] = {py, script};
    int argc = 2;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 7; a = va_arg(ap, const char *)) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execvp(py, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

/* The first of $VOLT_PYTHON, <src>/.venv, <src>/bench/.venv, /usr/bin/python3
 * and python3 whose `tests/io/interop/<name> probe` succeeds. */
static inline bool find_python(const char *name) {
    const char *src = getenv("VOLT_SOURCE_DIR");
    if (!src || !*src) src = ".";
    snprintf(script, sizeof script, "%s/tests/io/interop/%s", src, name);
    char venv[1024], bench_venv[1024];
    snprintf(venv, sizeof venv, "%s/.venv/bin/python3", src);
    snprintf(bench_venv, sizeof bench_venv, "%s/bench/.venv/bin/python3", src);
    const char *candidates[] = {getenv("VOLT_PYTHON"), venv, bench_venv, "/usr/bin/python3",
                                "python3"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        const char *py = candidates[i];
        if (!py || !*py || (strchr(py, '/') && access(py, X_OK) != 0)) continue;
        printf("%s: trying %s\n", name, py);
        if (run_script(py, "probe", NULL) == 0) {
            snprintf(python, sizeof python, "%s", py);
            return true;
        }
    }
    return false;
}

#endif
