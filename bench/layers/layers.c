/* layers.c: the layers benchmark, volt's side (bench/layers/run.sh runs it
 * beside layers_torch.py). Forward + backward (with a fixed upstream
 * gradient) of
 *  - conv1: Conv2d(1, 32, 3, padding 1) on [128, 1, 28, 28] (input needs no grad)
 *  - conv2: Conv2d(32, 64, 3, padding 1) on [128, 32, 14, 14] (input needs grad)
 *  - fc1:   Linear(784, 512) on [128, 784] (input needs no grad)
 *  - fc2:   Linear(512, 256) on [128, 512] (input needs grad)
 *  - bn:    BatchNorm2d(32), training, on [128, 32, 28, 28] (input needs grad)
 *  - relu1, relu2: ReLU on [128, 32, 28, 28] and [128, 64, 14, 14]
 *  - pool1, pool2: MaxPool2d(2) on the same two shapes (the CNN's pooling)
 *    (inputs need grad)
 * Prints one JSON line per layer: milliseconds per forward + backward, the
 * median (ms) and the fastest (ms_min) of the timed runs after warm-up, and
 * the median of the forward pass alone (fwd_ms, in the same runs).
 * Usage: bench_layers_layers [threads]   (default: VOLT_NUM_THREADS or all cores) */
#include <stdio.h>
#include <stdlib.h>

#include <volt/volt.h>

#define WARMUP 5
#define RUNS 30

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volt_tensor *relu_fn(const volt_tensor *x) { return volt_relu(x); }
static volt_tensor *pool_fn(const volt_tensor *x) {
    return volt_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
}

/* The layer's forward, or the op's when layer is NULL. */
static volt_tensor *forward(volt_module *layer, volt_tensor *(*op)(const volt_tensor *),
                            const volt_tensor *x) {
    return layer ? volt_module_forward(layer, x) : op(x);
}

/* Milliseconds per forward + backward: the median and the fastest run; and
 * the median of the forward alone. */
static void time_ms(volt_module *layer, volt_tensor *(*op)(const volt_tensor *), int ndim,
                    const int64_t *shape, bool x_grad, double *median, double *fastest,
                    double *fwd_median) {
    volt_tensor *x = volt_persist(volt_randn(ndim, shape, VOLT_F32, NULL));
    if (x_grad) volt_requires_grad(x, true);
    volt_tensor *gy = NULL;
    VOLT_NO_GRAD {
        volt_tensor *y = forward(layer, op, x);
        gy = y ? volt_persist(volt_randn(y->ndim, y->shape, VOLT_F32, NULL)) : NULL;
    }
    double times[RUNS], fwd_times[RUNS];
    for (int i = 0; gy && i < WARMUP + RUNS; i++) {
        double t0 = volt_time_now();
        volt_scope_begin();
        volt_tensor *y = forward(layer, op, x);
        double t_fwd = volt_time_now() - t0;
        if (y) volt_backward_ex(y, gy, false);
        volt_scope_end();
        double t = volt_time_now() - t0;
        if (layer) volt_module_zero_grad(layer);
        volt_tensor_clear_grad(x);
        if (i >= WARMUP) times[i - WARMUP] = t, fwd_times[i - WARMUP] = t_fwd;
    }
    volt_tensor_free(x);
    volt_tensor_free(gy);
    qsort(times, RUNS, sizeof *times, compare_doubles);
    *median = times[RUNS / 2] * 1e3;
    *fastest = times[0] * 1e3;
    qsort(fwd_times, RUNS, sizeof *fwd_times, compare_doubles);
    *fwd_median = fwd_times[RUNS / 2] * 1e3;
}

int main(int argc, char **argv) {
    if (argc > 1) volt_set_num_threads(atoi(argv[1]));
    int threads = volt_get_num_threads();
    volt_seed_everything(0);
    volt_conv_options pad1 = {.padding = {1, 1}};
    struct {
        const char *name;
        volt_module *layer;
        volt_tensor *(*op)(const volt_tensor *); /* when layer is NULL */
        int ndim;
        int64_t shape[4];
        bool x_grad;
    } cases[] = {
        {"conv1",
         &volt_conv2d_layer_new(NULL, "conv1", 1, 32, 3, 3, &pad1)->base,
         NULL,
         4,
         {128, 1, 28, 28},
         false},
        {"conv2",
         &volt_conv2d_layer_new(NULL, "conv2", 32, 64, 3, 3, &pad1)->base,
         NULL,
         4,
         {128, 32, 14, 14},
         true},
        {"fc1", &volt_linear_new(NULL, "fc1", 784, 512)->base, NULL, 2, {128, 784}, false},
        {"fc2", &volt_linear_new(NULL, "fc2", 512, 256)->base, NULL, 2, {128, 512}, true},
        {"bn",
         &volt_batch_norm2d_new(NULL, "bn", 32, NULL)->base,
         NULL,
         4,
         {128, 32, 28, 28},
         true},
        {"relu1", NULL, relu_fn, 4, {128, 32, 28, 28}, true},
        {"relu2", NULL, relu_fn, 4, {128, 64, 14, 14}, true},
        {"pool1", NULL, pool_fn, 4, {128, 32, 28, 28}, true},
        {"pool2", NULL, pool_fn, 4, {128, 64, 14, 14}, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double ms, ms_min, fwd_ms;
        time_ms(cases[i].layer, cases[i].op, cases[i].ndim, cases[i].shape, cases[i].x_grad, &ms,
                &ms_min, &fwd_ms);
        if (volt_error_status() != VOLT_OK) {
            fprintf(stderr, "%s: %s\n", cases[i].name, volt_error_message());
            return 1;
        }
        printf("{\"bench\":\"layers.%s\",\"impl\":\"volt\",\"ms\":%.4f,\"ms_min\":%.4f,"
               "\"fwd_ms\":%.4f,\"threads\":%d}\n",
               cases[i].name, ms, ms_min, fwd_ms, threads);
        fflush(stdout);
        if (cases[i].layer) volt_module_free(cases[i].layer);
    }
    return 0;
}
