/* sgd_step.c: one SGD step (lr 0.05, momentum 0.9) over the benchmark MLP's
 * parameters (784-512-256-10: 535,818 values in six tensors) with fixed
 * gradients, the optimizer alone. Prints one JSON line: the median and best
 * microseconds per step over `steps` steps after 50 warm-up steps.
 * Usage: bench_ops_sgd_step [threads] [steps] [f32|bf16]   (default 2, 500,
 * f32; bf16: parameters, gradients and momentum in bf16, as precision
 * "bf16-true"). Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/volt.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, steps = argc > 2 ? atoi(argv[2]) : 500;
    bool bf16 = argc > 3 && strcmp(argv[3], "bf16") == 0;
    if (threads < 1 || steps < 1 || volt_set_num_threads(threads) != VOLT_OK) {
        fprintf(stderr, "usage: %s [threads] [steps] [f32|bf16]\n", argv[0]);
        return 2;
    }
    volt_dtype dtype = bf16 ? VOLT_BF16 : VOLT_F32;
    const int64_t sizes[6] = {784 * 512, 512, 512 * 256, 256, 256 * 10, 10};
    volt_tensor *params[6];
    volt_generator gen = volt_generator_make(1, 0);
    for (int i = 0; i < 6; i++) {
        params[i] = volt_persist(volt_requires_grad(
            volt_to_dtype(volt_randn(1, &sizes[i], VOLT_F32, &gen), dtype), true));
        params[i]->grad = volt_persist(
            volt_to_dtype(volt_mul_scalar(volt_randn(1, &sizes[i], VOLT_F32, &gen), 0.01), dtype));
    }
    volt_optimizer *opt = volt_sgd_new((volt_params){6, params, NULL},
                                       &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
    double *us = malloc((size_t)steps * sizeof *us);
    if (!opt || !us) {
        fprintf(stderr, "sgd_step: %s\n", opt ? "out of memory" : volt_error_message());
        return 1;
    }
    for (int s = 0; s < 50 + steps; s++) {
        double t0 = volt_time_now();
        if (volt_optimizer_step(opt) != VOLT_OK) {
            fprintf(stderr, "sgd_step: %s\n", volt_error_message());
            return 1;
        }
        if (s >= 50) us[s - 50] = (volt_time_now() - t0) * 1e6;
    }
    qsort(us, (size_t)steps, sizeof *us, cmp_double);
    printf("{\"bench\":\"sgd_step\",\"dtype\":\"%s\",\"threads\":%d,\"params\":535818,"
           "\"median_us\":%.1f,\"best_us\":%.1f}\n",
           bf16 ? "bf16" : "f32", threads, us[steps / 2], us[0]);
    free(us);
    volt_optimizer_free(opt);
    for (int i = 0; i < 6; i++) volt_tensor_free(params[i]);
    return 0;
}
