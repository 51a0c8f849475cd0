/* zero1_fixture.h: what the zero1 tests share — a small f32 MLP (4 -> 8 ->
 * 4 -> 1, six parameters of 32, 8, 32, 4, 4 and 1 elements) with fixed
 * initial weights and a choice of optimizer, an unshuffled f32 regression
 * datamodule, a fit helper, and weight comparisons. Under 2 ranks zero1's
 * greedy partition gives rank 0 parameters {0, 1, 5} (41 elements) and
 * rank 1 {2, 3, 4} (40 elements). */
#ifndef VOLT_ZERO1_FIXTURE_H
#define VOLT_ZERO1_FIXTURE_H

#include "../train/train_fixture.h"

enum { OPT_SGD, OPT_ADAM };

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2, *fc3;
    int optimizer; /* OPT_SGD: momentum 0.9, nesterov, weight decay; OPT_ADAM */
} mlp;

static inline volt_tensor *mlp_forward(mlp *m, const volt_tensor *x) {
    volt_tensor *h = volt_tanh(volt_linear_forward(m->fc1, x));
    h = volt_tanh(volt_linear_forward(m->fc2, h));
    return volt_linear_forward(m->fc3, h);
}

static inline volt_tensor *mlp_training_step(volt_module *self, volt_batch *b, int64_t i,
                                             volt_step *step) {
    (void)i, (void)step;
    return volt_mse_loss(mlp_forward((mlp *)self, b->x), b->y, VOLT_REDUCTION_MEAN);
}

static inline volt_status mlp_configure(volt_module *self, volt_optim_setup *o) {
    mlp *m = (mlp *)self;
    volt_params ps = volt_module_parameters(self);
    volt_optimizer *opt = m->optimizer == OPT_ADAM
                              ? volt_adam_new(ps, &(volt_adam_options){.lr = 0.01})
                              : volt_sgd_new(ps, &(volt_sgd_options){.lr = 0.05,
                                                                     .momentum = 0.9,
                                                                     .nesterov = true,
                                                                     .weight_decay = 1e-3});
    return volt_optim_setup_add(o, opt, NULL, VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops mlp_ops = {
    .name = "mlp",
    .training_step = mlp_training_step,
    .configure_optimizers = mlp_configure,
};

/* Every parameter element k of parameter i set to 0.4 sin(1.3 k + i + 0.7). */
static inline void mlp_init(mlp *m, int optimizer, const volt_module_ops *ops) {
    volt_module_init(&m->base, ops ? ops : &mlp_ops);
    m->optimizer = optimizer;
    m->fc1 = volt_linear_new(&m->base, "fc1", 4, 8);
    m->fc2 = volt_linear_new(&m->base, "fc2", 8, 4);
    m->fc3 = volt_linear_new(&m->base, "fc3", 4, 1);
    volt_params ps = volt_module_parameters(&m->base);
    for (int64_t i = 0; i < ps.count; i++) {
        float *d = volt_tensor_data(ps.tensors[i]);
        for (int64_t k = 0; k < volt_tensor_numel(ps.tensors[i]); k++)
            d[k] = (float)(0.4 * sin(1.3 * (double)k + (double)i + 0.7));
    }
}

/* n items: x[i][j] = sin(i + 2 j), y[i] = tanh(x . (1, -2, 3, -4)) + 0.5, f32. */
static inline volt_dataset *mlp_dataset(int64_t n) {
    float *x = malloc((size_t)(n * 4) * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        double dot = 0;
        for (int64_t j = 0; j < 4; j++) {
            x[i * 4 + j] = (float)sin((double)i + 2.0 * (double)j);
            dot += x[i * 4 + j] * (double)((j % 2) ? -(j + 1) : (j + 1));
        }
        y[i] = (float)(tanh(dot) + 0.5);
    }
    volt_scope_begin();
    volt_tensor *tx = volt_from_array(x, VOLT_F32, 2, (int64_t[]){n, 4});
    volt_tensor *ty = volt_from_array(y, VOLT_F32, 2, (int64_t[]){n, 1});
    volt_dataset *ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){tx, ty});
    volt_scope_end();
    free(x);
    free(y);
    return ds;
}

/* 32 items in unshuffled batches of batch_size (per rank under ddp/zero1). */
static inline volt_datamodule *mlp_dm_new(int64_t batch_size) {
    tiny_dm *dm = calloc(1, sizeof *dm);
    volt_datamodule_init(&dm->base, &tiny_ops);
    dm->train_ds = mlp_dataset(32);
    dm->train =
        volt_data_loader_new(dm->train_ds, &(volt_data_loader_options){.batch_size = batch_size});
    return &dm->base;
}

typedef struct {
    const char *strategy; /* NULL: "auto" */
    int optimizer;
    int64_t epochs;
    int64_t batch_size;         /* 0: 4 */
    int64_t accumulate;         /* 0: 1 */
    double clip;                /* 0: none */
    const char *resume;         /* ckpt_path, or NULL */
    const char *save;           /* a checkpoint written after fit, or NULL */
    const volt_module_ops *ops; /* NULL: mlp_ops */
    const char *precision;      /* NULL: "32-true" */
} fit_args;

/* Fits a fresh mlp (weights as mlp_init) into *m; returns the trainer
 * (free it, then the module). */
static inline volt_trainer *fit_mlp(mlp *m, fit_args a) {
    volt_trainer_config c = quiet_config();
    if (a.strategy) c.strategy = a.strategy;
    c.max_epochs = a.epochs;
    c.accumulate_grad_batches = a.accumulate ? a.accumulate : 1;
    if (a.clip > 0) c.gradient_clip_val = a.clip;
    if (a.precision) c.precision = a.precision;
    c.num_sanity_val_steps = 0;
    c.default_root_dir = getenv("VOLT_TEST_TMPDIR");
    volt_trainer *t = volt_trainer_new(&c);
    assert_non_null(t);
    mlp_init(m, a.optimizer, a.ops);
    volt_datamodule *dm = mlp_dm_new(a.batch_size ? a.batch_size : 4);
    volt_status st = volt_trainer_fit(t, &m->base, dm, a.resume);
    if (st)
        fprintf(stderr, "fit (%s): %s\n", a.strategy ? a.strategy : "auto", volt_error_message());
    assert_int_equal(st, VOLT_OK);
    if (a.save) {
        st = volt_trainer_save_checkpoint(t, a.save, false);
        if (st) fprintf(stderr, "save: %s\n", volt_error_message());
        assert_int_equal(st, VOLT_OK);
    }
    volt_datamodule_free(dm);
    return t;
}

/* Each element of `got` within rtol (relative) of `want`'s. */
static inline void assert_tensor_close(const volt_tensor *got, const volt_tensor *want, double rtol,
                                       const char *what) {
    int64_t n = volt_tensor_numel(want);
    assert_int_equal(volt_tensor_numel(got), n);
    for (int64_t k = 0; k < n; k++) {
        double a = volt_tensor_get_flat(got, k), b = volt_tensor_get_flat(want, k);
        if (fabs(a - b) > rtol * fmax(fabs(b), 1e-3))
            fail_msg("%s[%lld]: %.9g, want %.9g", what, (long long)k, a, b);
    }
}

/* Every parameter of a within rtol of b's. */
static inline void assert_same_weights(mlp *a, mlp *b, double rtol) {
    volt_params pa = volt_module_parameters(&a->base), pb = volt_module_parameters(&b->base);
    assert_int_equal(pa.count, pb.count);
    for (int64_t i = 0; i < pa.count; i++)
        assert_tensor_close(pa.tensors[i], pb.tensors[i], rtol, pa.names[i]);
}

/* How far training moved the weights from mlp_init's (max |change|). */
static inline double moved(mlp *m) {
    mlp fresh;
    mlp_init(&fresh, m->optimizer, NULL);
    volt_params pa = volt_module_parameters(&m->base), pb = volt_module_parameters(&fresh.base);
    double mx = 0;
    for (int64_t i = 0; i < pa.count; i++)
        for (int64_t k = 0; k < volt_tensor_numel(pa.tensors[i]); k++)
            mx = fmax(mx, fabs(volt_tensor_get_flat(pa.tensors[i], k) -
                               volt_tensor_get_flat(pb.tensors[i], k)));
    volt_module_free(&fresh.base);
    return mx;
}

#endif
