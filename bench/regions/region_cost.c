/* region_cost.c: what one OpenMP parallel region costs on this machine under
 * the process's wait policy (OMP_WAIT_POLICY / GOMP_SPINCOUNT), the figure
 * behind ops/cpu/parallel.h's cost model. For a range of serial work W it
 * times W on one thread and W split over a team of `threads` (each thread
 * W / threads of arithmetic), with `gap` microseconds of serial work between
 * regions as in a training step, and prints one JSON line per W with the
 * medians and the overhead: team time - W / threads.
 * Usage: bench_regions_region_cost [threads] [gap_us] [reps]   (default 2,
 * 20, 200). Not a test. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include <volt/volt.h>

#include "ops/cpu/parallel.h"

static volatile double sink;
static double iters_per_us;

/* About `us` microseconds of dependent multiply-adds. */
static void work(double us) {
    long n = (long)(us * iters_per_us);
    double x = 1.0;
    for (long i = 0; i < n; i++) x = x * 1.0000001 + 1e-9;
    sink = x;
}

/* Iterations per microsecond: the best of a few runs (a busy machine only
 * ever makes one slower). */
static void calibrate(void) {
    long n = 4000000;
    double best = 1e9;
    iters_per_us = 1.0;
    for (int i = 0; i < 5; i++) {
        double t = volt_time_now();
        work((double)n);
        t = volt_time_now() - t;
        if (t < best) best = t;
    }
    iters_per_us = (double)n / (best * 1e6);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    double gap = argc > 2 ? atof(argv[2]) : 20.0;
    int reps = argc > 3 ? atoi(argv[3]) : 200;
    if (threads < 2 || gap < 0 || reps < 1 || reps > 100000) {
        fprintf(stderr, "usage: %s [threads >= 2] [gap_us] [reps]\n", argv[0]);
        return 2;
    }
    calibrate();
    double *serial = malloc((size_t)reps * sizeof *serial);
    double *team = malloc((size_t)reps * sizeof *team);
    if (!serial || !team) return 1;
    const double ws[] = {0, 10, 20, 50, 100, 200, 400, 800};
    for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
        double w = ws[k];
        for (int r = 0; r < reps; r++) {
            work(gap);
            double t = volt_time_now();
            work(w);
            serial[r] = volt_time_now() - t;
            work(gap);
            t = volt_time_now();
#pragma omp parallel num_threads(threads)
            work(w / omp_get_num_threads());
            team[r] = volt_time_now() - t;
        }
        double s = 1e6 * median(serial, reps), p = 1e6 * median(team, reps);
        printf("{\"bench\":\"region_cost\",\"threads\":%d,\"gap_us\":%.0f,\"work_us\":%.0f,"
               "\"serial_us\":%.1f,\"team_us\":%.1f,\"overhead_us\":%.1f,"
               "\"model_region_us\":%.0f}\n",
               threads, gap, w, s, p, p - s / threads, volt_cpu_region_ns() / 1000.0);
    }
    free(serial);
    free(team);
    return 0;
}
