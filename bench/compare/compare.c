/* compare.c: volt's side of the side-by-side benchmark against PyTorch and
 * PyTorch Lightning (bench/compare/harness.py runs it; see bench/README.md).
 * Trains one of the two models of issue 9 on Fashion-MNIST with
 * volt_trainer and prints one JSON line with what the harness compares:
 *
 *   mlp: Linear 784->512, ReLU, Linear 512->256, ReLU, Linear 256->10;
 *        SGD lr 0.05 momentum 0.9, batch 128, 3 epochs
 *   cnn: Conv2d 1->32 3x3 pad 1, ReLU, MaxPool 2; Conv2d 32->64 3x3 pad 1,
 *        ReLU, MaxPool 2; Linear 3136->128, ReLU; Linear 128->10 (each
 *        convolution, its ReLU and its pooling as volt's fused
 *        conv2d_relu_max_pool2x2 layer call);
 *        SGD lr 0.02 momentum 0.9, batch 128, 2 epochs
 *
 * Data: the built-in Fashion-MNIST datamodule over all 60,000 training
 * images (no validation split), pixels / 255, shuffled per epoch, no
 * loader workers (batches are built on the training thread, as the PyTorch
 * side does); the test accuracy is over the 10,000 test images.
 *
 * Arguments (key=value): model=mlp|cnn  mode=off|defaults  epochs=N
 * (default: the model's)  limit=N (training batches per epoch, 0: all)
 * threads=2  seed=42  data=DIR  profiler=simple (off by default)
 * precision=32-true|bf16-mixed|bf16-true (the trainer's precision; default
 * 32-true). bf16-true: the trainer casts the module and the batch's
 * floating fields to bf16, as Lightning's precision plugin does.
 * compensated=1|0: bf16-true's compensated updates (the trainer's default)
 * or PyTorch's plain rounding of the bf16 weights (docs/precision.md).
 * mode=off: checkpointing, logger, progress bar and model summary off;
 * mode=defaults: volt_trainer_defaults() with no val loader (so no sanity
 * check). Writes under the current directory in defaults mode.
 *
 * Output fields: first_step_unix (wall-clock seconds since the epoch at the
 * start of the first training_step, for the harness to subtract its own
 * launch time), epoch_s (each training epoch, on_train_epoch_start to
 * on_train_epoch_end), epoch_cpu_s (the CPU time of the process, all threads,
 * over the same span), fit_s, test_acc, vm_hwm_kb (peak RSS as the process
 * saw it), blas (the BLAS libraries mapped into the process). Not a test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <volt/volt.h>

#include "../common/args.h"
#include "../common/fmnist_net.h"
#include "../common/mapped_blas.h"

#define MAX_EPOCHS 64

typedef struct {
    const char *model, *mode, *data, *profiler, *precision;
    int64_t epochs, limit, seed, compensated;
    int threads;
} settings;

/* ------------------------------------------------------------- arguments */

/* ------------------------------------------------- epoch timing callback */

typedef struct {
    volt_callback base;
    struct timespec start, cpu_start;
    double epoch_s[MAX_EPOCHS], epoch_cpu_s[MAX_EPOCHS];
    int n;
} epoch_timer;

/* Seconds on `clock` since *t0. */
static double since_on(clockid_t clock, const struct timespec *t0) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

static double since(const struct timespec *t0) { return since_on(CLOCK_MONOTONIC, t0); }

static volt_status epoch_start(volt_callback *self, volt_module *m, volt_step *s) {
    (void)m;
    (void)s;
    epoch_timer *e = (epoch_timer *)self;
    clock_gettime(CLOCK_MONOTONIC, &e->start);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &e->cpu_start);
    return VOLT_OK;
}

static volt_status epoch_end(volt_callback *self, volt_module *m, volt_step *s) {
    (void)m;
    (void)s;
    epoch_timer *e = (epoch_timer *)self;
    if (e->n == MAX_EPOCHS) return VOLT_OK;
    e->epoch_s[e->n] = since(&e->start);
    e->epoch_cpu_s[e->n++] = since_on(CLOCK_PROCESS_CPUTIME_ID, &e->cpu_start);
    return VOLT_OK;
}

static const volt_callback_ops epoch_timer_ops = {
    .name = "epoch_timer", .on_train_epoch_start = epoch_start, .on_train_epoch_end = epoch_end};

/* ------------------------------------------------------ process figures */

/* VmHWM of /proc/self/status in KiB; -1 when unreadable. */
static long vm_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

static void print_result(const settings *s, const net *m, const epoch_timer *e, double fit_s,
                         double acc, int64_t n_params) {
    printf("{\"impl\": \"volt\", \"model\": \"%s\", \"mode\": \"%s\", \"epochs\": %lld, "
           "\"limit\": %lld, \"threads\": %d, \"params\": %lld, \"first_step_unix\": %.6f, "
           "\"epoch_s\": [",
           s->model, s->mode, (long long)s->epochs, (long long)s->limit, volt_get_num_threads(),
           (long long)n_params, m->first_step_unix);
    for (int i = 0; i < e->n; i++) printf("%s%.4f", i ? ", " : "", e->epoch_s[i]);
    printf("], \"epoch_cpu_s\": [");
    for (int i = 0; i < e->n; i++) printf("%s%.4f", i ? ", " : "", e->epoch_cpu_s[i]);
    printf("], \"fit_s\": %.4f, \"test_acc\": %.5f, \"vm_hwm_kb\": %ld, \"volt\": \"%s\", "
           "\"blas\": ",
           fit_s, acc, vm_hwm_kb(), volt_version());
    bench_print_mapped_blas(stdout);
    printf(", \"blas_core\": ");
    bench_print_openblas_core(stdout);
    printf("}\n");
}

/* ------------------------------------------------------------------ main */

static volt_trainer *make_trainer(const settings *s) {
    volt_trainer_config cfg = volt_trainer_defaults();
    cfg.accelerator = "cpu"; /* compared with torch on the CPU */
    cfg.max_epochs = s->epochs;
    cfg.num_threads = s->threads;
    cfg.precision = s->precision;
    cfg.compensated_updates = s->compensated != 0;
    if (s->limit > 0) cfg.limit_train_batches = VOLT_BATCHES(s->limit);
    if (strcmp(s->mode, "off") == 0) {
        cfg.enable_checkpointing = false;
        cfg.logger = false;
        cfg.enable_progress_bar = false;
        cfg.enable_model_summary = false;
    }
    if (s->profiler) cfg.profiler = s->profiler;
    return volt_trainer_new(&cfg);
}

static int run(const settings *s) {
    bool cnn = strcmp(s->model, "cnn") == 0;
    volt_seed_everything((uint64_t)s->seed);
    net m;
    bool ok = net_init(&m, cnn);
    volt_datamodule *data =
        volt_fashion_mnist_new(&(volt_fashion_mnist_options){.data_dir = s->data,
                                                             .batch_size = 128,
                                                             .val_size = -1,
                                                             .seed = (uint64_t)s->seed,
                                                             .as_images = cnn});
    volt_trainer *t = ok && data ? make_trainer(s) : NULL;
    epoch_timer *e = calloc(1, sizeof *e);
    e->base.ops = &epoch_timer_ops;
    volt_status st = t ? volt_trainer_add_callback(t, &e->base) : volt_error_status();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (st == VOLT_OK) st = volt_trainer_fit(t, &m.base, data, NULL);
    double fit_s = since(&t0);
    volt_metrics *res = NULL;
    if (st == VOLT_OK) st = volt_trainer_test(t, &m.base, data, NULL, &res);
    if (st == VOLT_OK)
        print_result(s, &m, e, fit_s, volt_metrics_get(res, "test_acc"),
                     volt_module_num_parameters(&m.base, false));
    else
        fprintf(stderr, "compare: %s\n", volt_error_message());
    volt_metrics_free(res);
    volt_trainer_free(t);
    free(e);
    volt_module_free(&m.base);
    volt_datamodule_free(data);
    return st == VOLT_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    settings s = {
        .model = arg_str(argc, argv, "model", "mlp"),
        .mode = arg_str(argc, argv, "mode", "off"),
        .data = arg_str(argc, argv, "data", VOLT_FASHION_MNIST_DIR),
        .profiler = arg_str(argc, argv, "profiler", NULL),
        .precision = arg_str(argc, argv, "precision", "32-true"),
        .limit = arg_int(argc, argv, "limit", 0),
        .seed = arg_int(argc, argv, "seed", 42),
        .compensated = arg_int(argc, argv, "compensated", 1),
        .threads = (int)arg_int(argc, argv, "threads", 2),
    };
    bool cnn = strcmp(s.model, "cnn") == 0;
    s.epochs = arg_int(argc, argv, "epochs", cnn ? 2 : 3);
    if ((!cnn && strcmp(s.model, "mlp") != 0) ||
        (strcmp(s.mode, "off") != 0 && strcmp(s.mode, "defaults") != 0) || s.epochs < 1 ||
        s.epochs > MAX_EPOCHS || s.threads < 1) {
        fprintf(stderr,
                "usage: %s model=mlp|cnn mode=off|defaults [epochs=N] [limit=N] "
                "[threads=2] [seed=42] [data=DIR] [profiler=simple] "
                "[precision=32-true|bf16-mixed|bf16-true] [compensated=1|0]\n",
                argv[0]);
        return 2;
    }
    return run(&s);
}
