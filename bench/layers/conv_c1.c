/* conv_c1.c: the CNN's first convolution, Conv2d(1, 32, 3, padding=1) on
 * [128, 1, 28, 28] (input needs no grad), two ways, alternating run by
 * run: the op as volt runs it (volt_conv2d: oneDNN's primitives with their
 * layout reorders) and the direct kernels of ops/cpu/conv_c1.c called on
 * the same plain NCHW tensors. Prints one JSON line per way: milliseconds
 * of the forward pass and of the weight + bias gradient (medians), and the
 * largest difference between the two ways' results.
 * Usage: bench_layers_conv_c1 [threads]   (default 2) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <volt/volt.h>

#include "ops/cpu/conv_c1.h"

#define WARMUP 5
#define RUNS 30

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_ms(double *v) {
    qsort(v, RUNS, sizeof *v, compare_doubles);
    return v[RUNS / 2] * 1e3;
}

static double max_diff(const volt_tensor *a, const float *b) {
    const float *p = volt_tensor_data(a);
    double m = 0;
    for (int64_t i = 0; i < volt_tensor_numel(a); i++) m = fmax(m, fabs((double)p[i] - b[i]));
    return m;
}

int main(int argc, char **argv) {
    volt_set_num_threads(argc > 1 ? atoi(argv[1]) : 2);
    volt_seed_everything(0);
    volt_conv_options pad1 = {.padding = {1, 1}};
    volt_conv2d_layer *conv = volt_conv2d_layer_new(NULL, "conv1", 1, 32, 3, 3, &pad1);
    volt_tensor *weight = volt_module_get(&conv->base, "weight");
    volt_tensor *bias = volt_module_get(&conv->base, "bias");
    volt_tensor *x = volt_persist(volt_randn(4, (int64_t[]){128, 1, 28, 28}, VOLT_F32, NULL));
    volt_tensor *gy = volt_persist(volt_randn(4, (int64_t[]){128, 32, 28, 28}, VOLT_F32, NULL));
    volt_tensor *y2 = volt_persist(volt_empty(4, (int64_t[]){128, 32, 28, 28}, VOLT_F32));
    float dw2[32 * 9], db2[32];
    volt_conv_geom g = {.n = 128,
                        .c = 1,
                        .h = 28,
                        .w = 28,
                        .o = 32,
                        .oh = 28,
                        .ow = 28,
                        .kh = 3,
                        .kw = 3,
                        .sh = 1,
                        .sw = 1,
                        .dh = 1,
                        .dw = 1,
                        .ph = 1,
                        .pw = 1,
                        .groups = 1,
                        .with_bias = true};
    double t[4][RUNS], diff_y = 0, diff_w = 0, diff_b = 0;
    for (int i = 0; i < WARMUP + RUNS && volt_error_status() == VOLT_OK; i++) {
        volt_scope_begin();
        double t0 = volt_time_now();
        volt_tensor *y = volt_conv2d_layer_forward(conv, x);
        double t1 = volt_time_now();
        volt_backward_ex(y, gy, false);
        double t2 = volt_time_now();
        volt_cpu_conv_c1_3x3_forward_f32(&g, volt_tensor_data(x), volt_tensor_data(weight),
                                         volt_tensor_data(bias), volt_tensor_data(y2));
        double t3 = volt_time_now();
        volt_cpu_conv_c1_3x3_backward_weights_f32(&g, volt_tensor_data(x), volt_tensor_data(gy),
                                                  dw2, db2);
        double t4 = volt_time_now();
        if (i >= WARMUP) {
            int r = i - WARMUP;
            t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2, t[3][r] = t4 - t3;
        }
        if (i == WARMUP + RUNS - 1) {
            diff_y = max_diff(y, volt_tensor_data(y2));
            diff_w = max_diff(weight->grad, dw2);
            diff_b = max_diff(bias->grad, db2);
        }
        volt_scope_end();
        volt_module_zero_grad(&conv->base);
    }
    if (volt_error_status() != VOLT_OK) {
        fprintf(stderr, "conv_c1: %s\n", volt_error_message());
        return 1;
    }
    printf(
        "{\"bench\":\"conv_c1\",\"impl\":\"volt_conv2d\",\"fwd_ms\":%.4f,\"bwd_weights_ms\":%.4f,"
        "\"threads\":%d}\n",
        median_ms(t[0]), median_ms(t[1]), volt_get_num_threads());
    printf("{\"bench\":\"conv_c1\",\"impl\":\"direct\",\"fwd_ms\":%.4f,\"bwd_weights_ms\":%.4f,"
           "\"max_diff_y\":%.3g,\"max_diff_w\":%.3g,\"max_diff_b\":%.3g}\n",
           median_ms(t[2]), median_ms(t[3]), diff_y, diff_w, diff_b);
    volt_tensor_free(x);
    volt_tensor_free(gy);
    volt_tensor_free(y2);
    volt_module_free(&conv->base);
    return 0;
}
