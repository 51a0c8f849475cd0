/* init_random.c: kaiming_uniform_ (PyTorch's Linear default, a = sqrt(5))
 * or normal_(0, 0.02) (GPT's) of the benchmark MLP's largest weight,
 * [512, 784] f32, over and over on the same tensor: the initialisers'
 * random paths alone, which decide much of a model's start-up time. Prints
 * one JSON line: the median and best milliseconds per call over `runs`
 * calls after 3 warm-up calls.
 * Usage: bench_ops_init_random [threads] [runs] [uniform|normal]   (default
 * 2, 50, uniform). Not a test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/volt.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, runs = argc > 2 ? atoi(argv[2]) : 50;
    bool normal = argc > 3 && strcmp(argv[3], "normal") == 0;
    if (threads < 1 || runs < 1 || volt_set_num_threads(threads) != VOLT_OK) {
        fprintf(stderr, "usage: %s [threads] [runs] [uniform|normal]\n", argv[0]);
        return 2;
    }
    volt_tensor *w = volt_persist(volt_empty(2, (const int64_t[]){512, 784}, VOLT_F32));
    double *ms = malloc((size_t)runs * sizeof *ms);
    if (!w || !ms) {
        fprintf(stderr, "init_random: out of memory\n");
        return 1;
    }
    for (int r = 0; r < 3 + runs; r++) {
        double t0 = volt_time_now();
        volt_status st =
            normal ? volt_init_normal_(w, 0.0, 0.02, NULL)
                   : volt_init_kaiming_uniform_(w, sqrt(5.0), VOLT_FAN_IN, "leaky_relu", NULL);
        if (st != VOLT_OK) {
            fprintf(stderr, "init_random: %s\n", volt_error_message());
            return 1;
        }
        if (r >= 3) ms[r - 3] = (volt_time_now() - t0) * 1e3;
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    printf("{\"bench\":\"init_random\",\"init\":\"%s\",\"shape\":[512,784],\"threads\":%d,"
           "\"median_ms\":%.3f,\"best_ms\":%.3f}\n",
           normal ? "normal" : "uniform", threads, ms[runs / 2], ms[0]);
    free(ms);
    volt_tensor_free(w);
    return 0;
}
