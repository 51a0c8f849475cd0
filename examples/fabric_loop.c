/* fabric_loop.c: the Fashion-MNIST perceptron (784-256-10) trained by a
 * hand-written loop with Fabric (volt/fabric.h) instead of the trainer: the
 * same program runs in one process, under `mpiexec -n 2`, or starts its own
 * ranks with --devices 2; on a GPU where the machine has one (accelerator
 * "auto"), on the CPU otherwise.
 *
 *     ./fabric_loop [--devices N] [--epochs E] [--limit-batches K]
 *                   [--out weights.ckpt] [--data-dir DIR] [--log-dir DIR]
 *
 *   --devices N        processes on this machine (default 1; under mpiexec
 *                      or srun the launcher's count is used)
 *   --epochs E         passes over the training set (default 1)
 *   --limit-batches K  at most K training batches per epoch and rank
 *   --out FILE         saves the final weights (a volt checkpoint: tensors
 *                      state_dict.fc1.weight, ...; `volt ckpt inspect FILE`)
 *   --data-dir DIR     the Fashion-MNIST files (default
 *                      /usr/share/datasets/fashion-mnist)
 *   --log-dir DIR      the per-epoch loss as CSV in DIR/volt_logs/version_N
 *
 * Rank 0 prints the training loss of each epoch (the mean over ranks) and
 * the test accuracy (counted over every rank's shard of the test set). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/volt.h>

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
} mlp;

/* x: [B, 784] -> logits [B, 10]. */
static volt_tensor *mlp_forward(mlp *m, const volt_tensor *x) {
    return volt_linear_forward(m->fc2, volt_relu(volt_linear_forward(m->fc1, x)));
}

typedef struct {
    int64_t devices, epochs, limit;
    const char *out, *data_dir, *log_dir;
} args;

static int usage(const char *prog) {
    fprintf(stderr,
            "usage: %s [--devices N] [--epochs E] [--limit-batches K] [--out FILE] "
            "[--data-dir DIR] [--log-dir DIR]\n",
            prog);
    return 2;
}

/* 0, or the exit status for a bad command line. */
static int parse_args(int argc, char **argv, args *a) {
    *a = (args){.devices = 1, .epochs = 1, .limit = -1};
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        int64_t *num = strcmp(argv[i], "--devices") == 0         ? &a->devices
                       : strcmp(argv[i], "--epochs") == 0        ? &a->epochs
                       : strcmp(argv[i], "--limit-batches") == 0 ? &a->limit
                                                                 : NULL;
        const char **text = strcmp(argv[i], "--out") == 0        ? &a->out
                            : strcmp(argv[i], "--data-dir") == 0 ? &a->data_dir
                            : strcmp(argv[i], "--log-dir") == 0  ? &a->log_dir
                                                                 : NULL;
        if ((!num && !text) || !v) return usage(argv[0]);
        if (text) *text = v;
        if (num && ((*num = strtoll(v, &end, 10)) < 1 || *end)) return usage(argv[0]);
    }
    return 0;
}

/* Epoch `epoch` over this rank's shard (its own shuffle, the same on every
 * rank); *loss: the mean loss over every rank. */
static volt_status train_epoch(volt_fabric *f, mlp *m, volt_optimizer *opt, volt_data_loader *dl,
                               int64_t epoch, int64_t limit, double *loss) {
    double sum = 0;
    int64_t n = 0;
    volt_status st = VOLT_OK;
    volt_module_train(&m->base, true);
    volt_data_loader_set_epoch(dl, epoch);
    while (!st && (limit < 0 || n < limit)) {
        volt_scope_begin();
        volt_batch b;
        bool more = volt_data_loader_next(dl, &b); /* on the fabric's device */
        if (more) {
            volt_tensor *l = volt_cross_entropy(mlp_forward(m, b.x), b.y);
            volt_optimizer_zero_grad(opt);
            st = volt_fabric_backward(f, l, NULL); /* gradients averaged over ranks */
            if (!st) st = volt_optimizer_step(opt);
            if (!st) sum += volt_tensor_item(l), n++;
        }
        volt_scope_end();
        if (!more) break;
    }
    if (!st) st = volt_error_status();
    volt_data_loader_stop(dl);
    *loss = n ? sum / (double)n : 0;
    return st ? st : volt_fabric_all_reduce_double(f, loss, VOLT_REDUCE_MEAN);
}

/* The accuracy over the test set: every rank counts its shard. */
static volt_status test(volt_fabric *f, mlp *m, volt_data_loader *dl, double *accuracy) {
    double counts[2] = {0, 0}; /* correct, seen */
    volt_module_train(&m->base, false);
    volt_no_grad_begin();
    for (bool more = true; more;) {
        volt_scope_begin();
        volt_batch b;
        if ((more = volt_data_loader_next(dl, &b))) {
            double size = (double)b.x->shape[0];
            counts[0] += volt_tensor_item(volt_accuracy(mlp_forward(m, b.x), b.y)) * size;
            counts[1] += size;
        }
        volt_scope_end();
    }
    volt_no_grad_end();
    volt_status st = volt_error_status();
    volt_tensor *t = st ? NULL : volt_from_array(counts, VOLT_F64, 1, (int64_t[]){2});
    if (!st) st = volt_fabric_all_reduce(f, t, VOLT_REDUCE_SUM);
    if (!st) {
        const double *c = volt_tensor_data(t);
        *accuracy = c[1] > 0 ? c[0] / c[1] : 0;
    }
    if (t) volt_tensor_free(t);
    return st;
}

static volt_status run(volt_fabric *f, const args *a, mlp *m, volt_datamodule *data) {
    volt_optimizer *opt = volt_sgd_new(volt_module_parameters(&m->base),
                                       &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
    volt_data_loader *train = volt_datamodule_train_loader(data);
    volt_data_loader *test_dl = train ? volt_datamodule_test_loader(data) : NULL;
    volt_status st = opt && train && test_dl ? VOLT_OK : volt_error_status();
    if (!st) st = volt_fabric_setup_module(f, &m->base); /* rank 0's weights everywhere */
    if (!st) st = volt_fabric_setup_optimizers(f, opt);
    /* each rank its shard, its batches moved to the fabric's device (the GPU under "auto") */
    if (!st) st = volt_fabric_setup_dataloaders(f, train, true, true);
    if (!st) st = volt_fabric_setup_dataloaders(f, test_dl, true, true);
    if (!st && volt_fabric_is_global_zero(f))
        printf("fabric: %d process%s (strategy %s), %lld training batches of 64 per rank and "
               "epoch\n",
               volt_fabric_world_size(f), volt_fabric_world_size(f) > 1 ? "es" : "",
               volt_fabric_strategy(f),
               (long long)(a->limit > 0 && a->limit < volt_data_loader_len(train)
                               ? a->limit
                               : volt_data_loader_len(train)));
    int64_t steps = 0;
    for (int64_t e = 0; e < a->epochs && !st; e++) {
        double loss = 0;
        double t0 = volt_time_now();
        st = train_epoch(f, m, opt, train, e, a->limit, &loss);
        steps += a->limit > 0 && a->limit < volt_data_loader_len(train)
                     ? a->limit
                     : volt_data_loader_len(train);
        if (!st && a->log_dir) st = volt_fabric_log(f, "train_loss", loss, e);
        if (!st && volt_fabric_is_global_zero(f))
            printf("epoch %lld: train loss %.4f (%.1f s)\n", (long long)e, loss,
                   volt_time_now() - t0);
    }
    double acc = 0;
    if (!st) st = test(f, m, test_dl, &acc);
    if (!st && volt_fabric_is_global_zero(f)) printf("test accuracy %.4f\n", acc);
    if (!st && a->out)
        st = volt_fabric_save(
            f, a->out, &(volt_fabric_state){.module = &m->base, .epoch = a->epochs, .step = steps});
    if (!st && a->out && volt_fabric_is_global_zero(f)) printf("weights saved to %s\n", a->out);
    volt_optimizer_free(opt);
    return st;
}

int main(int argc, char **argv) {
    args a;
    int bad = parse_args(argc, argv, &a);
    if (bad) return bad;
    volt_fabric *f =
        volt_fabric_new(&(volt_fabric_options){.devices = a.devices, .root_dir = a.log_dir});
    /* With --devices 2 and no launcher this re-executes the program under
     * mpiexec: everything above runs again in each rank. */
    volt_status st = f ? volt_fabric_launch(f) : volt_error_status();
    if (!st) st = volt_fabric_seed_everything(f, 42);
    if (st) {
        fprintf(stderr, "%s\n", volt_error_message());
        volt_fabric_free(f);
        return 1;
    }

    mlp m;
    volt_module_init(&m.base, NULL);
    m.fc1 = volt_linear_new(&m.base, "fc1", 784, 256);
    m.fc2 = volt_linear_new(&m.base, "fc2", 256, 10);
    volt_datamodule *data = volt_fashion_mnist_new(&(volt_fashion_mnist_options){
        .data_dir = a.data_dir, .batch_size = 64, .num_workers = 1, .val_size = -1});
    st = data ? run(f, &a, &m, data) : volt_error_status();
    if (st) fprintf(stderr, "rank %d: %s\n", volt_fabric_global_rank(f), volt_error_message());

    volt_datamodule_free(data);
    volt_fabric_free(f);
    volt_module_free(&m.base);
    return st == VOLT_OK ? 0 : 1;
}
