/* test_precision.c: the trainer's precision "bf16-mixed" (and its alias
 * "bf16"): autocast is on inside training_step and validation/test/predict
 * steps and off in the other hooks and after the run; an MLP (Linear, ReLU,
 * Linear, cross-entropy) trains on a tiny classification set, its loss
 * falls, parameters and gradients stay f32 and end close to, but not equal
 * to, a 32-true run's; precision values volt does not take are refused
 * naming the allowed ones. */
#include "train_fixture.h"

#define N_ITEMS 256
#define N_FEATURES 16
#define N_CLASSES 4
#define EPOCHS 4
#define MAX_STEPS (EPOCHS * N_ITEMS / 32)

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
    double losses[MAX_STEPS];
    int n_losses;
    int steps_in_autocast, steps_outside, evals_in_autocast, evals, hooks_in_autocast;
} mlp_module;

static volt_tensor *mlp_forward(mlp_module *m, const volt_tensor *x) {
    return volt_linear_forward(m->fc2, volt_relu(volt_linear_forward(m->fc1, x)));
}

static volt_tensor *mlp_training_step(volt_module *self, volt_batch *b, int64_t i,
                                      volt_step *step) {
    (void)i, (void)step;
    mlp_module *m = (mlp_module *)self;
    if (volt_autocast_get() == VOLT_AUTOCAST_BF16)
        m->steps_in_autocast++;
    else
        m->steps_outside++;
    volt_tensor *loss = volt_cross_entropy(mlp_forward(m, b->x), b->y);
    if (loss && m->n_losses < MAX_STEPS) m->losses[m->n_losses++] = volt_tensor_item(loss);
    return loss;
}

static volt_tensor *mlp_eval_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i, (void)step;
    mlp_module *m = (mlp_module *)self;
    m->evals++;
    m->evals_in_autocast += volt_autocast_get() == VOLT_AUTOCAST_BF16;
    volt_tensor *y = mlp_forward(m, b->x);
    return strcmp(volt_step_hook_name(step), "predict_step") == 0 ? y : NULL;
}

static volt_status mlp_hook(volt_module *self, volt_step *step) {
    (void)step;
    ((mlp_module *)self)->hooks_in_autocast += volt_autocast_get() == VOLT_AUTOCAST_BF16;
    return VOLT_OK;
}

static volt_status mlp_configure(volt_module *self, volt_optim_setup *o) {
    volt_optimizer *sgd =
        volt_sgd_new(volt_module_parameters(self), &(volt_sgd_options){.lr = 0.1, .momentum = 0.9});
    return volt_optim_setup_add(o, sgd, NULL, VOLT_INTERVAL_EPOCH);
}

static const volt_module_ops mlp_ops = {
    .name = "mlp",
    .training_step = mlp_training_step,
    .validation_step = mlp_eval_step,
    .test_step = mlp_eval_step,
    .predict_step = mlp_eval_step,
    .configure_optimizers = mlp_configure,
    .on_train_batch_start = mlp_hook,
    .on_train_batch_end = mlp_hook,
    .on_before_backward = mlp_hook,
    .on_after_backward = mlp_hook,
    .on_before_optimizer_step = mlp_hook,
    .on_validation_batch_end = mlp_hook,
};

static void mlp_init(mlp_module *m) {
    memset(m, 0, sizeof *m);
    volt_module_init(&m->base, &mlp_ops);
    volt_generator g = volt_generator_make(5, 0);
    volt_linear_options o = {.gen = &g};
    m->fc1 = volt_linear_new_ex(&m->base, "fc1", N_FEATURES, 64, &o);
    m->fc2 = volt_linear_new_ex(&m->base, "fc2", 64, N_CLASSES, &o);
    assert_non_null(m->fc2);
}

static volt_dataset *classes_dataset(int64_t n, uint64_t seed) {
    return fixture_classes_dataset(n, N_FEATURES, N_CLASSES, seed);
}

/* Fits the MLP with this precision; returns the module (caller frees). */
static void fit_with(mlp_module *m, const char *precision) {
    volt_dataset *train = classes_dataset(N_ITEMS, 1), *val = classes_dataset(64, 2);
    volt_data_loader_options o = {.batch_size = 32};
    volt_data_loader *tl = volt_data_loader_new(train, &o), *vl = volt_data_loader_new(val, &o);
    mlp_init(m);
    volt_trainer_config c = quiet_config();
    c.max_epochs = EPOCHS;
    c.precision = precision;
    volt_trainer *t = volt_trainer_new(&c);
    assert_non_null(t);
    assert_int_equal(volt_trainer_fit_loaders(t, &m->base, tl, vl, NULL), VOLT_OK);
    volt_predictions *preds = NULL;
    assert_int_equal(volt_trainer_predict_loaders(t, &m->base, vl, NULL, &preds), VOLT_OK);
    volt_predictions_free(preds);
    volt_trainer_free(t);
    volt_data_loader_free(tl);
    volt_data_loader_free(vl);
    volt_dataset_free(train);
    volt_dataset_free(val);
}

static void test_bf16_mixed_trains(void **state) {
    (void)state;
    mlp_module bf, fp;
    fit_with(&bf, "bf16-mixed");
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_OFF); /* restored */
    assert_int_equal(bf.steps_in_autocast, MAX_STEPS);
    assert_int_equal(bf.steps_outside, 0);
    assert_true(bf.evals > 0);
    assert_int_equal(bf.evals_in_autocast, bf.evals); /* sanity, validation, predict */
    assert_int_equal(bf.hooks_in_autocast, 0);
    int per_epoch = N_ITEMS / 32;
    double first = fixture_mean(bf.losses, per_epoch);
    double last = fixture_mean(bf.losses + MAX_STEPS - per_epoch, per_epoch);
    assert_true(last < 0.5 * first);

    fit_with(&fp, "32-true");
    assert_int_equal(fp.steps_in_autocast, 0);
    assert_int_equal(fp.evals_in_autocast, 0);
    double last32 = fixture_mean(fp.losses + MAX_STEPS - per_epoch, per_epoch);
    assert_true(fabs(last - last32) < 0.1 * first);
    /* Parameters and their gradients stay f32, close to the f32 run's but
     * not equal (the products were rounded). */
    volt_params pb = volt_module_parameters(&bf.base), pf = volt_module_parameters(&fp.base);
    assert_int_equal(pb.count, pf.count);
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < pb.count; i++) {
        assert_int_equal(pb.tensors[i]->dtype, VOLT_F32);
        assert_true(!pb.tensors[i]->grad || pb.tensors[i]->grad->dtype == VOLT_F32);
        for (int64_t k = 0; k < volt_tensor_numel(pb.tensors[i]); k++) {
            double a = volt_tensor_get_flat(pb.tensors[i], k);
            double b = volt_tensor_get_flat(pf.tensors[i], k);
            diff = fmax(diff, fabs(a - b));
            scale = fmax(scale, fabs(b));
        }
    }
    assert_true(diff > 0);
    assert_true(diff < 0.1 * scale);
    volt_module_free(&bf.base);
    volt_module_free(&fp.base);
}

static void test_bf16_alias(void **state) {
    (void)state;
    mlp_module m;
    fit_with(&m, "bf16");
    assert_int_equal(m.steps_in_autocast, MAX_STEPS);
    volt_module_free(&m.base);
}

static void expect_refused(const char *precision, volt_status status, const char *what) {
    volt_trainer_config c = quiet_config();
    c.precision = precision;
    assert_null(volt_trainer_new(&c));
    char want[160];
    snprintf(want, sizeof want, "precision '%s' %s (\"32-true\", \"bf16-mixed\"", precision, what);
    VT_ASSERT_ERROR(status, want);
}

static void test_refused(void **state) {
    (void)state;
    expect_refused("64-true", VOLT_ERR_UNSUPPORTED, "is not supported yet");
    /* float16 only on a GPU */
    const char *f16[] = {"16-mixed", "16", "16-true"};
    for (int i = 0; i < 3; i++) {
        volt_trainer_config c = quiet_config();
        c.precision = f16[i];
        assert_null(volt_trainer_new(&c));
        char want[160];
        snprintf(want, sizeof want,
                 "precision '%s' needs a GPU (accelerator 'auto' runs on the CPU, which has no "
                 "float16 kernels; use \"bf16-mixed\" there)",
                 f16[i]);
        VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED, want);
    }
    expect_refused("bf16_mixed", VOLT_ERR_INVALID_ARGUMENT, "is unknown");
    volt_trainer_config c = quiet_config();
    c.precision = "32";
    assert_int_equal(volt_trainer_config_check(&c), VOLT_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_bf16_mixed_trains),
        VT_TEST(test_bf16_alias),
        VT_TEST(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
