/* resumable_fashion_mnist.c: a training job that survives being stopped —
 * the shape of a job on a preemptible cluster. It checkpoints every 50
 * steps (and keeps last.ckpt), starts with ckpt_path = "last" so a re-run
 * continues where the last one stopped, and on SIGTERM / SIGUSR1 saves at
 * the next step and exits with status 75 (VOLT_EXIT_PREEMPTED: "run me
 * again"). With deterministic = true the weights at the end are bitwise the
 * same however many times the job was interrupted and resumed.
 *
 *     ./resumable_fashion_mnist [--root DIR] [--epochs N] [--limit-batches N]
 *                               [--data DIR]
 *
 * At the end it writes DIR/final.ckpt (volt ckpt inspect shows it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/volt.h>

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
} mlp;

/* Dropout draws from the default generator: resuming exactly needs its
 * state, which checkpoints hold. */
static volt_tensor *forward(mlp *m, volt_tensor *x, bool training) {
    volt_tensor *h = volt_relu(volt_linear_forward(m->fc1, x));
    return volt_linear_forward(m->fc2, volt_dropout(h, 0.2, training, NULL));
}

static volt_tensor *training_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    volt_tensor *loss = volt_cross_entropy(forward((mlp *)self, b->x, true), b->y);
    volt_log(step, "train_loss", loss, VOLT_LOG_PROG_BAR);
    return loss;
}

static volt_tensor *validation_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    volt_tensor *logits = forward((mlp *)self, b->x, false);
    volt_log(step, "val_loss", volt_cross_entropy(logits, b->y), VOLT_LOG_PROG_BAR);
    volt_log(step, "val_acc", volt_accuracy(logits, b->y), VOLT_LOG_PROG_BAR);
    return NULL;
}

static volt_status configure_optimizers(volt_module *self, volt_optim_setup *o) {
    volt_optimizer *adam = volt_adam_new(volt_module_parameters(self), &(volt_adam_options){
                                                                           .lr = 1e-3,
                                                                           .beta1 = 0.9,
                                                                           .beta2 = 0.999,
                                                                           .eps = 1e-8,
                                                                       });
    return volt_optim_setup_add(o, adam, volt_step_lr_new(adam, 100, 0.9), VOLT_INTERVAL_STEP);
}

static const volt_module_ops ops = {
    .name = "mlp",
    .training_step = training_step,
    .validation_step = validation_step,
    .configure_optimizers = configure_optimizers,
};

int main(int argc, char **argv) {
    const char *root = "resumable_run", *data_dir = NULL;
    int64_t epochs = 3, limit = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--root") == 0)
            root = argv[i + 1];
        else if (strcmp(argv[i], "--epochs") == 0)
            epochs = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--limit-batches") == 0)
            limit = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--data") == 0)
            data_dir = argv[i + 1];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }

    volt_seed_everything(42);
    mlp m;
    volt_module_init(&m.base, &ops);
    m.fc1 = volt_linear_new(&m.base, "fc1", 784, 128);
    m.fc2 = volt_linear_new(&m.base, "fc2", 128, 10);
    volt_datamodule *data = volt_fashion_mnist_new(&(volt_fashion_mnist_options){
        .data_dir = data_dir, .batch_size = 64, .num_workers = 1, .seed = 42});

    volt_trainer_config cfg = volt_trainer_defaults();
    cfg.max_epochs = epochs;
    cfg.default_root_dir = root;
    cfg.deterministic = true;
    cfg.seed = 42;
    cfg.enable_progress_bar = false;
    if (limit > 0) cfg.limit_train_batches = cfg.limit_val_batches = VOLT_BATCHES(limit);
    volt_trainer *t = data ? volt_trainer_new(&cfg) : NULL;

    /* every 50 steps, keeping last.ckpt; and the preemption handler */
    volt_model_checkpoint_options ck = volt_model_checkpoint_defaults();
    ck.every_n_train_steps = 50;
    ck.save_last = VOLT_SAVE_LAST_YES;
    volt_status st =
        t ? volt_trainer_add_callback(t, volt_model_checkpoint_new(&ck)) : volt_error_status();
    if (!st) st = volt_trainer_add_callback(t, volt_preemption_new(NULL));

    if (!st) st = volt_trainer_fit(t, &m.base, data, "last");
    char final[4096];
    snprintf(final, sizeof final, "%s/final.ckpt", root);
    if (!st) st = volt_trainer_save_checkpoint(t, final, false);
    if (st)
        fprintf(stderr, "%s\n", volt_error_message());
    else
        printf("done: step %lld, weights in %s\n", (long long)volt_trainer_global_step(t), final);

    int code = volt_exit_code(t, st);
    volt_trainer_free(t);
    volt_datamodule_free(data);
    volt_module_free(&m.base);
    return code;
}
