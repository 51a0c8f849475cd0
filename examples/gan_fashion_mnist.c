/* gan_fashion_mnist.c: a small GAN on Fashion-MNIST with manual
 * optimization — the module turns automatic optimization off, gets its two
 * optimizers from the trainer and runs both steps itself with
 * volt_manual_backward. Writes 16 generated images to gan_samples.pgm.
 *
 *     ./gan_fashion_mnist [data_dir] [epochs]   (default: 5 epochs) */
#include <stdio.h>
#include <stdlib.h>

#include <volt/volt.h>

#define LATENT 64

/* Generator: z [B, 64] -> images [B, 784] in (0, 1). Discriminator: images
 * -> one logit each. Each is a child module, so each optimizer gets only
 * its own parameters. */
typedef struct {
    volt_module base;
    volt_module gen, disc;
    volt_linear *g1, *g2, *d1, *d2;
} gan;

static volt_tensor *generate(gan *m, const volt_tensor *z) {
    volt_tensor *h = volt_leaky_relu(volt_linear_forward(m->g1, z), 0.2);
    return volt_sigmoid(volt_linear_forward(m->g2, h));
}

static volt_tensor *discriminate(gan *m, const volt_tensor *x) {
    volt_tensor *h = volt_leaky_relu(volt_linear_forward(m->d1, x), 0.2);
    return volt_linear_forward(m->d2, h);
}

/* Binary cross-entropy of logits against all-ones or all-zeros. */
static volt_tensor *bce(const volt_tensor *logits, double target) {
    return volt_binary_cross_entropy_with_logits(logits, volt_full_like(logits, target), NULL, NULL,
                                                 VOLT_REDUCTION_MEAN);
}

static volt_tensor *gan_training_step(volt_module *self, volt_batch *b, int64_t i,
                                      volt_step *step) {
    (void)i;
    gan *m = (gan *)self;
    volt_trainer *t = volt_step_trainer(step);
    volt_optimizer *opt_g = volt_trainer_optimizer(t, 0), *opt_d = volt_trainer_optimizer(t, 1);
    volt_tensor *z = volt_randn(VOLT_SHAPE(b->x->shape[0], LATENT), VOLT_F32, NULL);
    volt_tensor *fake = generate(m, z);

    /* Discriminator: real images are 1, generated ones 0 (no gradient into G). */
    volt_tensor *loss_d = volt_add(bce(discriminate(m, b->x), 1.0),
                                   bce(discriminate(m, volt_tensor_detach(fake)), 0.0));
    volt_optimizer_zero_grad(opt_d);
    if (volt_manual_backward(step, loss_d) || volt_optimizer_step(opt_d)) return NULL;

    /* Generator: make the discriminator call its images real. */
    volt_tensor *loss_g = bce(discriminate(m, fake), 1.0);
    volt_optimizer_zero_grad(opt_g);
    if (volt_manual_backward(step, loss_g) || volt_optimizer_step(opt_g)) return NULL;

    volt_log(step, "d_loss", loss_d, VOLT_LOG_PROG_BAR | VOLT_LOG_ON_STEP | VOLT_LOG_ON_EPOCH);
    volt_log(step, "g_loss", loss_g, VOLT_LOG_PROG_BAR | VOLT_LOG_ON_STEP | VOLT_LOG_ON_EPOCH);
    return NULL; /* manual optimization: nothing for the trainer to do */
}

/* Adam(2e-4, betas 0.5, 0.999) for each network: optimizer 0 the generator,
 * 1 the discriminator. */
static volt_status gan_configure_optimizers(volt_module *self, volt_optim_setup *o) {
    gan *m = (gan *)self;
    volt_adam_options opt = {.lr = 2e-4, .beta1 = 0.5};
    volt_status st = volt_optim_setup_add(o, volt_adam_new(volt_module_parameters(&m->gen), &opt),
                                          NULL, VOLT_INTERVAL_EPOCH);
    if (st) return st;
    return volt_optim_setup_add(o, volt_adam_new(volt_module_parameters(&m->disc), &opt), NULL,
                                VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops gan_ops = {
    .name = "gan",
    .manual_optimization = true,
    .training_step = gan_training_step,
    .configure_optimizers = gan_configure_optimizers,
};

/* 16 samples side by side as a 28 x 448 greyscale PGM. */
static void save_samples(gan *m, const char *path) {
    volt_scope_begin();
    volt_tensor *img = NULL;
    VOLT_NO_GRAD { img = generate(m, volt_randn(VOLT_SHAPE(16, LATENT), VOLT_F32, NULL)); }
    FILE *f = img ? fopen(path, "wb") : NULL;
    if (f) {
        fprintf(f, "P5\n448 28\n255\n");
        for (int r = 0; r < 28; r++)
            for (int k = 0; k < 16 * 28; k++)
                fputc((int)(255 * volt_tensor_get_flat(img, (k / 28) * 784 + r * 28 + k % 28)), f);
        fclose(f);
        printf("samples written to %s\n", path);
    }
    volt_scope_end();
}

int main(int argc, char **argv) {
    volt_seed_everything(0);
    gan m;
    volt_module_init(&m.base, &gan_ops);
    volt_module_init(&m.gen, NULL);
    volt_module_init(&m.disc, NULL);
    volt_module_add_child(&m.base, "generator", &m.gen);
    volt_module_add_child(&m.base, "discriminator", &m.disc);
    m.g1 = volt_linear_new(&m.gen, "fc1", LATENT, 256);
    m.g2 = volt_linear_new(&m.gen, "fc2", 256, 784);
    m.d1 = volt_linear_new(&m.disc, "fc1", 784, 256);
    m.d2 = volt_linear_new(&m.disc, "fc2", 256, 1);

    volt_datamodule *data = volt_fashion_mnist_new(&(volt_fashion_mnist_options){
        .data_dir = argc > 1 && argv[1][0] ? argv[1] : NULL, .batch_size = 128, .val_size = -1});
    volt_trainer_config cfg = volt_trainer_defaults();
    cfg.max_epochs = argc > 2 ? atoi(argv[2]) : 5;
    volt_trainer *t = data ? volt_trainer_new(&cfg) : NULL;
    volt_status st = t ? volt_trainer_fit(t, &m.base, data, NULL) : volt_error_status();
    if (st == VOLT_OK) {
        const volt_metrics *cm = volt_trainer_callback_metrics(t);
        printf("last epoch: d_loss %.4f, g_loss %.4f\n", volt_metrics_get(cm, "d_loss_epoch"),
               volt_metrics_get(cm, "g_loss_epoch"));
        save_samples(&m, "gan_samples.pgm");
    } else {
        fprintf(stderr, "%s\n", volt_error_message());
    }
    volt_trainer_free(t);
    volt_datamodule_free(data);
    volt_module_free(&m.base);
    return st == VOLT_OK ? 0 : 1;
}
