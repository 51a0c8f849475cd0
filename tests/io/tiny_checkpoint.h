/* tiny_checkpoint.h: a real checkpoint for the io and tools tests — a tiny
 * module (BatchNorm1d "bn" then Linear "fc", f32) fitted for two epochs of
 * two batches by SGD with momentum on fixed data, then saved by
 * volt_trainer_save_checkpoint. Its tensors: state_dict.bn.{weight, bias,
 * running_mean, running_var, num_batches_tracked (I64, 0-d)},
 * state_dict.fc.{weight, bias}, optimizer.0.<param>.momentum_buffer. */
#ifndef VOLT_TINY_CHECKPOINT_H
#define VOLT_TINY_CHECKPOINT_H

#include <math.h>
#include <stdlib.h>

#include "volt_test.h"

typedef struct {
    volt_module base;
    volt_batch_norm1d *bn;
    volt_linear *fc;
} tiny_net;

/* Its forward (eval or training mode as the module is). */
static inline volt_tensor *tiny_net_forward(tiny_net *m, const volt_tensor *x) {
    return volt_linear_forward(m->fc, volt_batch_norm1d_forward(m->bn, x));
}

static inline volt_tensor *tiny_net_step(volt_module *self, volt_batch *b, int64_t i,
                                         volt_step *step) {
    (void)i, (void)step;
    return volt_mse_loss(tiny_net_forward((tiny_net *)self, b->x), b->y, VOLT_REDUCTION_MEAN);
}

static inline volt_status tiny_net_configure(volt_module *self, volt_optim_setup *o) {
    volt_optimizer *sgd = volt_sgd_new(volt_module_parameters(self),
                                       &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
    return volt_optim_setup_add(o, sgd, NULL, VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops tiny_net_ops = {
    .name = "tiny_net",
    .training_step = tiny_net_step,
    .configure_optimizers = tiny_net_configure,
};

/* The module with fresh weights (from the default generator). */
static inline void tiny_net_init(tiny_net *m) {
    volt_module_init(&m->base, &tiny_net_ops);
    m->bn = volt_batch_norm1d_new(&m->base, "bn", 3, NULL);
    m->fc = volt_linear_new(&m->base, "fc", 3, 1);
    assert_non_null(m->bn);
    assert_non_null(m->fc);
}

/* x [8, 3] f32 = sin(i + 2 j), in the current scope. */
static inline volt_tensor *tiny_net_inputs(void) {
    float x[8][3];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 3; j++) x[i][j] = (float)sin(i + 2.0 * j);
    return volt_from_array(x, VOLT_F32, 2, (int64_t[]){8, 3});
}

/* x as above, y [8, 1] = x0 - 2 x1 + 3 x2 + 0.5. */
static inline volt_dataset *tiny_net_data(void) {
    float y[8][1];
    volt_scope_begin();
    volt_tensor *tx = tiny_net_inputs();
    const float *x = volt_tensor_data(tx);
    for (int i = 0; i < 8; i++) y[i][0] = x[3 * i] - 2 * x[3 * i + 1] + 3 * x[3 * i + 2] + 0.5f;
    volt_tensor *ty = volt_from_array(y, VOLT_F32, 2, (int64_t[]){8, 1});
    volt_dataset *ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){tx, ty});
    volt_scope_end();
    return ds;
}

/* Fits the tiny module (root dir `dir`, nothing else written there) and
 * saves its checkpoint at `path`. Fails the test on any error. */
static inline void tiny_checkpoint_write(const char *dir, const char *path, bool weights_only) {
    volt_seed_everything(7);
    tiny_net m;
    tiny_net_init(&m);
    volt_dataset *ds = tiny_net_data();
    volt_data_loader *dl = volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 4});
    volt_trainer_config c = volt_trainer_defaults();
    c.max_epochs = 2;
    c.enable_progress_bar = false;
    c.enable_model_summary = false;
    c.enable_checkpointing = false;
    c.logger = false;
    c.num_threads = 1;
    c.default_root_dir = dir;
    volt_trainer *t = volt_trainer_new(&c);
    assert_non_null(t);
    volt_status st = volt_trainer_fit_loaders(t, &m.base, dl, NULL, NULL);
    if (st == VOLT_OK) st = volt_trainer_save_checkpoint(t, path, weights_only);
    if (st != VOLT_OK) fprintf(stderr, "tiny_checkpoint_write: %s\n", volt_error_message());
    assert_int_equal(st, VOLT_OK);
    volt_trainer_free(t);
    volt_data_loader_free(dl);
    volt_dataset_free(ds);
    volt_module_free(&m.base);
}

#endif
