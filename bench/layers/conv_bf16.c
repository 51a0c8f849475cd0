/* conv_bf16.c: the benchmark CNN's two convolutions under bf16 autocast (or
 * in f32), one training step's worth each: conv1 = Conv2d(1, 32, 3, pad 1)
 * on [128, 1, 28, 28] (its input needs no grad: forward + weight/bias
 * gradients) and conv2 = Conv2d(32, 64, 3, pad 1) on [128, 32, 14, 14]
 * (forward + input, weight and bias gradients). Each run bumps the weights'
 * version first, as an optimizer step does, so cached weight reorders are
 * redone once per run, as in training. Prints one JSON line per layer with
 * the medians (ms) of the forward and of the backward, in wall time and in
 * process CPU time (all threads). Run it with
 * DNNL_VERBOSE=profile_exec to see each oneDNN primitive and reorder.
 * Usage: bench_layers_conv_bf16 [precision=bf16|f32] [layer=conv1|conv2|both]
 *        [runs=N] [threads=N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <volt/volt.h>

#define WARMUP 5
#define MAX_RUNS 1000

static const char *arg(int argc, char **argv, const char *key, const char *def) {
    size_t k = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, k) == 0 && argv[i][k] == '=') return argv[i] + k + 1;
    return def;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v; its median in ms. */
static double median_ms(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return v[n / 2] * 1e3;
}

/* CPU time of the process, all threads (s): less sensitive than wall time
 * to other processes on a shared machine (OpenMP threads sleep when idle
 * with OMP_WAIT_POLICY=passive). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Times `runs` steps of one layer; false on an error. */
static bool bench_layer(const char *name, int64_t cin, int64_t cout, int64_t hw, bool bf16,
                        int runs) {
    volt_conv_options pad1 = {.padding = {1, 1}};
    volt_conv2d_layer *conv = volt_conv2d_layer_new(NULL, name, cin, cout, 3, 3, &pad1);
    if (!conv) return false;
    volt_tensor *weight = volt_module_get(&conv->base, "weight");
    volt_tensor *x = volt_persist(volt_randn(4, (int64_t[]){128, cin, hw, hw}, VOLT_F32, NULL));
    volt_tensor *gy = volt_persist(volt_randn(4, (int64_t[]){128, cout, hw, hw}, VOLT_F32, NULL));
    volt_requires_grad(x, cin > 1); /* conv1's input is the data */
    static double tf[MAX_RUNS], tb[MAX_RUNS], cf[MAX_RUNS], cb[MAX_RUNS];
    for (int i = 0; i < WARMUP + runs && volt_error_status() == VOLT_OK; i++) {
        volt_scope_begin();
        VOLT_NO_GRAD { volt_mul_scalar_(weight, 1.0); } /* a new weight version */
        volt_autocast_mode prev = volt_autocast_set(bf16 ? VOLT_AUTOCAST_BF16 : VOLT_AUTOCAST_OFF);
        double t0 = volt_time_now(), c0 = cpu_now();
        volt_tensor *y = volt_conv2d_layer_forward(conv, x);
        double t1 = volt_time_now(), c1 = cpu_now();
        volt_autocast_set(prev);
        if (y) volt_backward_ex(y, gy, false);
        double t2 = volt_time_now(), c2 = cpu_now();
        if (i >= WARMUP) {
            int r = i - WARMUP;
            tf[r] = t1 - t0, tb[r] = t2 - t1, cf[r] = c1 - c0, cb[r] = c2 - c1;
        }
        volt_scope_end();
        volt_module_zero_grad(&conv->base);
        if (x->grad) volt_zero_(x->grad);
    }
    bool ok = volt_error_status() == VOLT_OK;
    if (ok) {
        double mf = median_ms(tf, runs), mb = median_ms(tb, runs);
        double mcf = median_ms(cf, runs), mcb = median_ms(cb, runs);
        printf("{\"bench\":\"conv_bf16\",\"layer\":\"%s\",\"precision\":\"%s\",\"fwd_ms\":%.3f,"
               "\"bwd_ms\":%.3f,\"fwd_cpu_ms\":%.3f,\"bwd_cpu_ms\":%.3f,\"threads\":%d,"
               "\"runs\":%d}\n",
               name, bf16 ? "bf16" : "f32", mf, mb, mcf, mcb, volt_get_num_threads(), runs);
    }
    volt_tensor_free(x);
    volt_tensor_free(gy);
    volt_module_free(&conv->base);
    return ok;
}

int main(int argc, char **argv) {
    volt_set_num_threads(atoi(arg(argc, argv, "threads", "2")));
    volt_seed_everything(0);
    bool bf16 = strcmp(arg(argc, argv, "precision", "bf16"), "f32") != 0;
    const char *layer = arg(argc, argv, "layer", "both");
    int runs = atoi(arg(argc, argv, "runs", "30"));
    if (runs < 1 || runs > MAX_RUNS) runs = 30;
    bool all = strcmp(layer, "both") == 0, ok = true;
    if (all || strcmp(layer, "conv1") == 0) ok = bench_layer("conv1", 1, 32, 28, bf16, runs);
    if (ok && (all || strcmp(layer, "conv2") == 0))
        ok = bench_layer("conv2", 32, 64, 14, bf16, runs);
    if (!ok) fprintf(stderr, "conv_bf16: %s\n", volt_error_message());
    return ok ? 0 : 1;
}
