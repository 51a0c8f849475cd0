/* ddp.c: the data-parallel benchmark — the Fashion-MNIST MLP 784-512-256-10
 * (batch 128 per rank, SGD momentum 0.9) trained by the trainer with
 * strategy "ddp" and one thread per rank, for as many ranks as it is
 * started with (bench/ddp/run.sh runs 1 and 2). Rank 0 prints one JSON
 * line: ranks, samples per second over all ranks, ms per step, and the
 * share of the step spent waiting for the gradient all-reduce after
 * backward (volt_trainer_gradient_sync_stats).
 * Usage: ddp DATA_DIR [BATCHES] */
#include <stdio.h>
#include <stdlib.h>

#include <volt/volt.h>

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2, *fc3;
} mlp;

static volt_tensor *mlp_training_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i, (void)s;
    mlp *m = (mlp *)self;
    volt_tensor *h = volt_relu(volt_linear_forward(m->fc1, b->x));
    h = volt_relu(volt_linear_forward(m->fc2, h));
    return volt_cross_entropy(volt_linear_forward(m->fc3, h), b->y);
}

static volt_status mlp_configure(volt_module *self, volt_optim_setup *o) {
    volt_optimizer *sgd = volt_sgd_new(volt_module_parameters(self),
                                       &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
    return volt_optim_setup_add(o, sgd, NULL, VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops mlp_ops = {
    .name = "mlp", .training_step = mlp_training_step, .configure_optimizers = mlp_configure};

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : VOLT_FASHION_MNIST_DIR;
    int64_t batches = argc > 2 ? atoll(argv[2]) : 200;
    volt_seed_everything(1);
    mlp m;
    volt_module_init(&m.base, &mlp_ops);
    m.fc1 = volt_linear_new(&m.base, "fc1", 784, 512);
    m.fc2 = volt_linear_new(&m.base, "fc2", 512, 256);
    m.fc3 = volt_linear_new(&m.base, "fc3", 256, 10);
    volt_datamodule *dm = volt_fashion_mnist_new(
        &(volt_fashion_mnist_options){.data_dir = dir, .batch_size = 128, .seed = 1});
    volt_trainer_config c = volt_trainer_defaults();
    c.accelerator = "cpu"; /* data parallel over MPI on the CPU */
    c.strategy = "ddp";
    c.barebones = true;
    c.num_threads = 1;
    c.max_epochs = 1;
    c.num_sanity_val_steps = 0;
    c.limit_val_batches = 0;
    c.limit_train_batches = VOLT_BATCHES(batches);
    volt_trainer *t = dm ? volt_trainer_new(&c) : NULL;
    /* a short warm-up fit, then the measured one */
    c.limit_train_batches = VOLT_BATCHES(10);
    volt_trainer *warm = t ? volt_trainer_new(&c) : NULL;
    volt_status st = warm ? volt_trainer_fit(warm, &m.base, dm, NULL) : volt_error_status();
    double start = volt_time_now();
    if (!st) st = volt_trainer_fit(t, &m.base, dm, NULL);
    double seconds = volt_time_now() - start;
    if (st) {
        fprintf(stderr, "ddp bench: %s\n", volt_error_message());
    } else if (volt_trainer_is_global_zero(t)) {
        volt_grad_reducer_stats s = volt_trainer_gradient_sync_stats(t);
        int world = volt_trainer_world_size(t);
        int64_t steps = volt_trainer_global_step(t);
        printf("{\"ranks\": %d, \"steps\": %lld, \"samples_per_s\": %.1f, \"ms_per_step\": %.3f, "
               "\"sync_wait_share\": %.4f, \"bytes_per_step\": %lld, \"buckets\": %lld}\n",
               world, (long long)steps, (double)(steps * 128 * world) / seconds,
               1e3 * seconds / (double)steps, s.wait_seconds / seconds, (long long)s.bytes,
               (long long)s.buckets);
    }
    volt_trainer_free(warm);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
    return st ? 1 : 0;
}
