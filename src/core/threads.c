/* threads.c: the thread count shared by volt's OpenMP kernels and OpenBLAS,
 * read from VOLT_NUM_THREADS at first use; and the monotonic clock. */
#include <omp.h>
#include <stdlib.h>
#include <time.h>

#include "volt/core.h"

/* OpenBLAS's own setter (declared here so that only this file knows it). */
void openblas_set_num_threads(int n);

static int num_threads; /* 0: not read yet */

static int initial_thread_count(void) {
    const char *env = getenv("VOLT_NUM_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n >= 1 && n <= 4096) return (int)n;
    }
    return omp_get_num_procs();
}

static void apply(int n) {
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

volt_status volt_set_num_threads(int n) {
    if (n < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "set_num_threads: %d threads (need >= 1)",
                              n);
    __atomic_store_n(&num_threads, n, __ATOMIC_RELAXED);
    apply(n);
    return VOLT_OK;
}

int volt_get_num_threads(void) {
    int n = __atomic_load_n(&num_threads, __ATOMIC_RELAXED);
    if (n == 0) {
        n = initial_thread_count();
        __atomic_store_n(&num_threads, n, __ATOMIC_RELAXED);
        apply(n);
    }
    return n;
}

double volt_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
