/* mlp_step.c: one training step of the benchmark MLP of issue 9
 * (784-512-256-10, ReLU, batch 128, cross-entropy, SGD lr 0.05 momentum 0.9)
 * on the Fashion-MNIST test set's images, its 78 full batches held in
 * memory and taken in turn, in a hand-written loop over the engine (scope,
 * forward, loss, zero_grad, backward, step) — the step alone, without data
 * loading or the trainer. (Until the nineteenth session it trained on one
 * random batch: the model fitted it, and within a few hundred steps the
 * momentum buffers of the parameters whose gradients had died out held
 * subnormal floats, which made the SGD update 2.2x slower than in real
 * training; random labels did the same.) Prints one JSON line: the median and best ms per
 * step over `steps` steps (after 20 warm-up steps), the calls into volt's CPU
 * allocator per step (all, and those that reached the system allocator), and
 * the last loss (for A/B runs to check they computed the same thing).
 * Usage: bench_ops_mlp_step [threads] [steps] [bf16]   (default 2, 300; bf16:
 * forward under bf16 autocast, as precision "bf16-mixed"). Not a test; for
 * instruction counts run it under callgrind with threads=1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/volt.h>

enum { BATCHES = 78 }; /* 10,000 test images in batches of 128 */

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2, *fc3;
} mlp;

static volt_tensor *forward(mlp *m, const volt_tensor *x) {
    volt_tensor *h = volt_relu(volt_linear_forward(m->fc1, x));
    h = volt_relu(volt_linear_forward(m->fc2, h));
    return volt_linear_forward(m->fc3, h);
}

static const volt_module_ops mlp_ops = {.name = "mlp"};

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volt_autocast_mode autocast = VOLT_AUTOCAST_OFF;

static double step(mlp *m, volt_optimizer *opt, const volt_tensor *x, const volt_tensor *y) {
    volt_scope_begin();
    volt_autocast_mode prev = volt_autocast_set(autocast);
    volt_tensor *logits = forward(m, x);
    volt_autocast_set(prev);
    volt_tensor *loss = volt_cross_entropy(logits, y);
    volt_optimizer_zero_grad(opt);
    volt_backward(loss);
    volt_optimizer_step(opt);
    double l = volt_tensor_item(loss);
    volt_scope_end();
    return l;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int steps = argc > 2 ? atoi(argv[2]) : 300;
    if (steps < 1) steps = 1;
    if (argc > 3 && strcmp(argv[3], "bf16") == 0) autocast = VOLT_AUTOCAST_BF16;
    volt_set_num_threads(threads);
    volt_seed_everything(0);
    mlp m;
    volt_module_init(&m.base, &mlp_ops);
    m.fc1 = volt_linear_new(&m.base, "fc1", 784, 512);
    m.fc2 = volt_linear_new(&m.base, "fc2", 512, 256);
    m.fc3 = volt_linear_new(&m.base, "fc3", 256, 10);
    volt_tensor *x[BATCHES], *y[BATCHES];
    volt_dataset *ds = volt_idx_dataset_new(VOLT_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz",
                                            VOLT_FASHION_MNIST_DIR "/t10k-labels-idx1-ubyte.gz");
    if (!ds) {
        fprintf(stderr, "%s\n", volt_error_message());
        return 1;
    }
    for (int i = 0; i < BATCHES; i++) {
        int64_t idx[128];
        for (int j = 0; j < 128; j++) idx[j] = i * 128 + j;
        volt_batch b;
        if (volt_dataset_get_batch(ds, idx, 128, &b) != VOLT_OK) {
            fprintf(stderr, "%s\n", volt_error_message());
            return 1;
        }
        x[i] = volt_persist(volt_contiguous(volt_reshape(b.x, VOLT_SHAPE(128, 784))));
        y[i] = volt_persist(volt_contiguous(b.y));
        volt_batch_free(&b);
    }
    volt_dataset_free(ds);
    volt_optimizer *opt = volt_sgd_new(volt_module_parameters(&m.base),
                                       &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
    double loss = 0;
    for (int i = 0; i < 20; i++) loss = step(&m, opt, x[i % BATCHES], y[i % BATCHES]);
    double *ms = malloc((size_t)steps * sizeof *ms);
    volt_memory_stats s0 = volt_cpu_memory_stats();
    for (int i = 0; i < steps; i++) {
        double t0 = volt_time_now();
        loss = step(&m, opt, x[i % BATCHES], y[i % BATCHES]);
        ms[i] = (volt_time_now() - t0) * 1e3;
    }
    volt_memory_stats s1 = volt_cpu_memory_stats();
    qsort(ms, (size_t)steps, sizeof *ms, compare_doubles);
    printf("{\"bench\":\"mlp_step\",\"autocast\":\"%s\",\"threads\":%d,\"steps\":%d,\"median_ms\":%"
           ".3f,\"best_ms\":%.3f,"
           "\"allocs_per_step\":%.1f,\"system_allocs_per_step\":%.2f,\"loss\":%.6f}\n",
           autocast == VOLT_AUTOCAST_BF16 ? "bf16" : "off", threads, steps, ms[steps / 2], ms[0],
           (double)(s1.n_allocs - s0.n_allocs) / steps,
           (double)(s1.n_system_allocs - s0.n_system_allocs) / steps, loss);
    free(ms);
    for (int i = 0; i < BATCHES; i++) {
        volt_tensor_free(x[i]);
        volt_tensor_free(y[i]);
    }
    volt_optimizer_free(opt);
    volt_module_free(&m.base);
    if (volt_error_status() != VOLT_OK) {
        fprintf(stderr, "%s\n", volt_error_message());
        return 1;
    }
    return 0;
}
