/* trainer.c: the trainer's overhead. One MLP (784-256-10, SGD momentum 0.9,
 * batch 128) on the first 12,800 Fashion-MNIST training images, trained
 * for `epochs` epochs three ways from the same seed over the same loader:
 * a hand-written loop over the engine (scope, forward, loss, zero_grad,
 * backward, step), the trainer with barebones = true, and the trainer with
 * its defaults (progress bar, CSV logger, a volt_log per step; checkpoints
 * are a later issue). Each figure is the best of `reps` runs, in ms per
 * step; prints one JSON line per figure and the overheads in percent.
 * Usage: bench_trainer_trainer [data_dir] [epochs] [reps]  (default 3, 3) */
#include <stdio.h>
#include <stdlib.h>

#include <volt/volt.h>

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
} mlp;

static volt_tensor *forward(mlp *m, const volt_tensor *x) {
    return volt_linear_forward(m->fc2, volt_relu(volt_linear_forward(m->fc1, x)));
}

static volt_tensor *train_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    volt_tensor *loss = volt_cross_entropy(forward((mlp *)self, b->x), b->y);
    volt_log(s, "train_loss", loss, VOLT_LOG_PROG_BAR);
    return loss;
}

static volt_optimizer *make_sgd(volt_module *m) {
    return volt_sgd_new(volt_module_parameters(m),
                        &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
}

static volt_status configure(volt_module *self, volt_optim_setup *o) {
    return volt_optim_setup_add(o, make_sgd(self), NULL, VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops mlp_ops = {
    .name = "mlp", .training_step = train_step, .configure_optimizers = configure};

static void mlp_init(mlp *m) {
    volt_seed_everything(0);
    volt_module_init(&m->base, &mlp_ops);
    m->fc1 = volt_linear_new(&m->base, "fc1", 784, 256);
    m->fc2 = volt_linear_new(&m->base, "fc2", 256, 10);
}

/* A datamodule over one loader. */
typedef struct {
    volt_datamodule base;
    volt_data_loader *loader;
} one_dm;
static volt_data_loader *one_loader(volt_datamodule *d) { return ((one_dm *)d)->loader; }
static const volt_datamodule_ops one_ops = {.name = "bench", .train_loader = one_loader};

/* noinline: count.sh counts each loop alone with callgrind --toggle-collect. */
__attribute__((noinline)) static double hand_loop(volt_data_loader *dl, int epochs,
                                                  double *loss_out) {
    mlp m;
    mlp_init(&m);
    volt_optimizer *opt = make_sgd(&m.base);
    double t0 = volt_time_now();
    for (int e = 0; e < epochs; e++) {
        volt_data_loader_set_epoch(dl, e);
        volt_batch b;
        for (;;) {
            volt_scope_begin();
            bool more = volt_data_loader_next(dl, &b);
            if (more) {
                volt_tensor *loss = volt_cross_entropy(forward(&m, b.x), b.y);
                volt_optimizer_zero_grad(opt);
                volt_backward(loss);
                volt_optimizer_step(opt);
                *loss_out = volt_tensor_item(loss);
            }
            volt_scope_end();
            if (!more) break;
        }
    }
    double dt = volt_time_now() - t0;
    volt_optimizer_free(opt);
    volt_module_free(&m.base);
    return dt;
}

static double trainer_loop(one_dm *dm, int epochs, bool barebones, const char *root) {
    mlp m;
    mlp_init(&m);
    volt_trainer_config cfg = volt_trainer_defaults();
    cfg.accelerator = "cpu"; /* against a CPU loop */
    cfg.max_epochs = epochs;
    cfg.barebones = barebones;
    cfg.num_sanity_val_steps = 0;
    cfg.enable_model_summary = false;
    cfg.default_root_dir = root;
    volt_trainer *t = volt_trainer_new(&cfg);
    double t0 = volt_time_now();
    volt_status st = volt_trainer_fit(t, &m.base, &dm->base, NULL);
    double dt = volt_time_now() - t0;
    if (st) fprintf(stderr, "%s\n", volt_error_message());
    volt_trainer_free(t);
    volt_module_free(&m.base);
    return st ? -1 : dt;
}

__attribute__((noinline)) static double barebones_loop(one_dm *dm, int epochs, const char *root) {
    return trainer_loop(dm, epochs, true, root);
}

__attribute__((noinline)) static double defaults_loop(one_dm *dm, int epochs, const char *root) {
    return trainer_loop(dm, epochs, false, root);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : VOLT_FASHION_MNIST_DIR;
    int epochs = argc > 2 ? atoi(argv[2]) : 3, reps = argc > 3 ? atoi(argv[3]) : 3;
    char images[1024], labels[1024];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte.gz", dir);
    volt_dataset *full = volt_idx_dataset_new(images, labels);
    if (!full) {
        fprintf(stderr, "%s\n", volt_error_message());
        return 1;
    }
    int64_t n = 12800, *idx = malloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    volt_dataset *ds = volt_subset_new(full, idx, n);
    free(idx);
    one_dm dm;
    volt_datamodule_init(&dm.base, &one_ops);
    dm.loader = volt_data_loader_new(
        ds, &(volt_data_loader_options){
                .batch_size = 128, .shuffle = true, .seed = 1, .flatten = true});
    double steps = (double)(epochs * volt_data_loader_len(dm.loader));
    double best[3] = {1e30, 1e30, 1e30}, loss = 0;
    char root[] = "/tmp/volt_bench_trainer_XXXXXX";
    if (!mkdtemp(root)) return 1;
    for (int r = 0; r < reps; r++) {
        double h = hand_loop(dm.loader, epochs, &loss);
        double b = barebones_loop(&dm, epochs, root);
        double d = defaults_loop(&dm, epochs, root);
        if (b < 0 || d < 0) return 1;
        if (h < best[0]) best[0] = h;
        if (b < best[1]) best[1] = b;
        if (d < best[2]) best[2] = d;
    }
    const char *names[3] = {"hand_loop", "trainer_barebones", "trainer_defaults"};
    for (int k = 0; k < 3; k++)
        printf(
            "{\"bench\": \"trainer\", \"impl\": \"%s\", \"ms_per_step\": %.4f, \"threads\": %d}\n",
            names[k], 1e3 * best[k] / steps, volt_get_num_threads());
    printf("{\"ratio\": \"trainer barebones overhead %%\", \"value\": %.2f}\n",
           100 * (best[1] / best[0] - 1));
    printf("{\"ratio\": \"trainer defaults overhead %%\", \"value\": %.2f}\n",
           100 * (best[2] / best[0] - 1));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    volt_data_loader_free(dm.loader);
    volt_dataset_free(ds);
    volt_dataset_free(full);
    return 0;
}
