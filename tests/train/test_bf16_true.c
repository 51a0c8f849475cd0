/* test_bf16_true.c: the trainer's precision "bf16-true": the module is cast
 * to bf16 after its setup hook (parameters and buffers; Lightning's
 * convert_module) and stays bf16 after fit; the batch's floating fields
 * reach the step hooks as bf16 (Lightning's convert_input; labels stay
 * i64); no autocast is on; an MLP trains on a small
 * classification set and its loss (bf16) falls; gradients and SGD's
 * momentum are bf16; a weights checkpoint round-trips the bf16 weights bit
 * for bit and a full one (with the compensated updates' compensations)
 * resumes training as the uninterrupted run, bit for bit; plain rounding
 * (compensated_updates false) trains other weights; Fabric's bf16-true (module cast
 * in place at setup, batches cast by to_device) gives the trainer's
 * weights bit for bit. */
#include "train_fixture.h"

#include <volt/fabric.h>

#include <math.h>

#define N_ITEMS 256
#define N_FEATURES 16
#define N_CLASSES 4
#define EPOCHS 4
#define MAX_STEPS (EPOCHS * N_ITEMS / 32)

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
    double losses[MAX_STEPS];
    int n_losses, bf16_losses, autocast_steps, bf16_inputs;
} mlp_module;

static volt_tensor *mlp_forward(mlp_module *m, const volt_tensor *x) {
    return volt_linear_forward(m->fc2, volt_relu(volt_linear_forward(m->fc1, x)));
}

static volt_tensor *mlp_training_step(volt_module *self, volt_batch *b, int64_t i,
                                      volt_step *step) {
    (void)i, (void)step;
    mlp_module *m = (mlp_module *)self;
    m->autocast_steps += volt_autocast_get() != VOLT_AUTOCAST_OFF;
    m->bf16_inputs += b->x->dtype == VOLT_BF16 && b->y->dtype == VOLT_I64;
    volt_tensor *loss = volt_cross_entropy(mlp_forward(m, b->x), b->y);
    if (loss && m->n_losses < MAX_STEPS) {
        m->bf16_losses += loss->dtype == VOLT_BF16;
        m->losses[m->n_losses++] = volt_tensor_item(loss);
    }
    return loss;
}

static volt_tensor *mlp_eval_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    volt_tensor *y = mlp_forward((mlp_module *)self, b->x);
    volt_log(step, "val_acc", volt_accuracy(y, b->y), 0);
    return NULL;
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
    .configure_optimizers = mlp_configure,
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

static void test_bf16_true_trains(void **state) {
    (void)state;
    volt_dataset *train = classes_dataset(N_ITEMS, 1), *val = classes_dataset(64, 2);
    volt_data_loader_options o = {.batch_size = 32};
    volt_data_loader *tl = volt_data_loader_new(train, &o), *vl = volt_data_loader_new(val, &o);
    mlp_module m;
    mlp_init(&m);
    volt_trainer_config c = quiet_config();
    c.max_epochs = EPOCHS;
    c.precision = "bf16-true";
    volt_trainer *t = volt_trainer_new(&c);
    assert_non_null(t);
    assert_int_equal(volt_trainer_fit_loaders(t, &m.base, tl, vl, NULL), VOLT_OK);
    assert_int_equal(m.n_losses, MAX_STEPS);
    assert_int_equal(m.bf16_losses, MAX_STEPS);
    assert_int_equal(m.autocast_steps, 0);
    assert_int_equal(m.bf16_inputs, MAX_STEPS);
    int per_epoch = N_ITEMS / 32;
    double first = fixture_mean(m.losses, per_epoch);
    double last = fixture_mean(m.losses + MAX_STEPS - per_epoch, per_epoch);
    if (!(last < 0.5 * first)) fail_msg("loss %g -> %g did not halve", first, last);
    volt_params ps = volt_module_parameters(&m.base);
    for (int64_t i = 0; i < ps.count; i++) {
        assert_int_equal(ps.tensors[i]->dtype, VOLT_BF16);
        assert_true(!ps.tensors[i]->grad || ps.tensors[i]->grad->dtype == VOLT_BF16);
    }
    /* The weights checkpoint holds bf16 tensors; a module cast to bf16 loads
     * them bit for bit. */
    char path[1100];
    snprintf(path, sizeof path, "%s/w.ckpt", fresh_dir("bf16_true"));
    assert_int_equal(volt_trainer_save_checkpoint(t, path, true), VOLT_OK);
    volt_checkpoint *ck = volt_checkpoint_open(path);
    assert_non_null(ck);
    volt_scope_begin();
    volt_tensor *w = volt_checkpoint_tensor(ck, "state_dict.fc1.weight");
    assert_non_null(w);
    assert_int_equal(w->dtype, VOLT_BF16);
    volt_scope_end();
    volt_checkpoint_close(ck);
    mlp_module m2;
    mlp_init(&m2);
    assert_int_equal(volt_module_to_dtype(&m2.base, VOLT_BF16), VOLT_OK);
    assert_int_equal(volt_module_load_checkpoint(&m2.base, path, true, NULL), VOLT_OK);
    volt_params p2 = volt_module_parameters(&m2.base);
    for (int64_t i = 0; i < ps.count; i++)
        for (int64_t k = 0; k < volt_tensor_numel(ps.tensors[i]); k++)
            assert_true(volt_tensor_get_flat(ps.tensors[i], k) ==
                        volt_tensor_get_flat(p2.tensors[i], k));
    volt_module_free(&m2.base);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_data_loader_free(tl);
    volt_data_loader_free(vl);
    volt_dataset_free(train);
    volt_dataset_free(val);
}

/* Whether a checkpoint holds tensor `name` (as bf16). */
static bool checkpoint_has(const char *path, const char *name) {
    volt_checkpoint *ck = volt_checkpoint_open(path);
    assert_non_null(ck);
    volt_scope_begin();
    volt_tensor *t = volt_checkpoint_tensor(ck, name);
    if (t)
        assert_int_equal(t->dtype, VOLT_BF16);
    else
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, name);
    volt_scope_end();
    volt_checkpoint_close(ck);
    return t != NULL;
}

static void assert_same_weights(volt_module *a, volt_module *b, bool same) {
    volt_params pa = volt_module_parameters(a), pb = volt_module_parameters(b);
    int64_t differ = 0;
    for (int64_t i = 0; i < pa.count; i++)
        for (int64_t k = 0; k < volt_tensor_numel(pa.tensors[i]); k++)
            differ +=
                volt_tensor_get_flat(pa.tensors[i], k) != volt_tensor_get_flat(pb.tensors[i], k);
    if (same && differ) fail_msg("%lld weights differ", (long long)differ);
    if (!same && !differ) fail_msg("the weights are the same");
}

/* A full checkpoint (bf16 weights, SGD momentum and the compensations of
 * the compensated updates, on by default) resumes: fit for one more epoch
 * from it gives the uninterrupted run's weights bit for bit. With
 * compensated_updates false the checkpoint has no compensation and the
 * weights differ (PyTorch's plain rounding). */
static void test_bf16_true_resumes(void **state) {
    (void)state;
    volt_dataset *train = classes_dataset(64, 1);
    volt_data_loader_options o = {.batch_size = 32};
    volt_data_loader *tl = volt_data_loader_new(train, &o);
    mlp_module m;
    mlp_init(&m);
    volt_trainer_config c = quiet_config();
    c.max_epochs = 1;
    c.precision = "bf16-true";
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit_loaders(t, &m.base, tl, NULL, NULL), VOLT_OK);
    const char *dir = fresh_dir("bf16_true_resume");
    char path[1100], plain_path[1100];
    snprintf(path, sizeof path, "%s/full.ckpt", dir);
    snprintf(plain_path, sizeof plain_path, "%s/plain.ckpt", dir);
    assert_int_equal(volt_trainer_save_checkpoint(t, path, false), VOLT_OK);
    volt_trainer_free(t);
    assert_true(checkpoint_has(path, "optimizer.0.fc1.weight.compensation"));
    assert_true(checkpoint_has(path, "optimizer.0.fc2.bias.compensation"));
    mlp_module m2;
    mlp_init(&m2);
    c.max_epochs = 2;
    t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit_loaders(t, &m2.base, tl, NULL, path), VOLT_OK);
    assert_int_equal(m2.n_losses, 2); /* the second epoch only */
    assert_int_equal(volt_module_get(&m2.base, "fc2.bias")->dtype, VOLT_BF16);
    volt_trainer_free(t);

    mlp_module whole, plain;
    mlp_init(&whole);
    t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit_loaders(t, &whole.base, tl, NULL, NULL), VOLT_OK);
    volt_trainer_free(t);
    assert_same_weights(&m2.base, &whole.base, true);

    mlp_init(&plain);
    c.compensated_updates = false;
    t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit_loaders(t, &plain.base, tl, NULL, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_save_checkpoint(t, plain_path, false), VOLT_OK);
    volt_trainer_free(t);
    assert_false(checkpoint_has(plain_path, "optimizer.0.fc1.weight.compensation"));
    assert_true(checkpoint_has(plain_path, "optimizer.0.fc1.weight.momentum_buffer"));
    assert_same_weights(&plain.base, &whole.base, false);

    volt_module_free(&m.base);
    volt_module_free(&m2.base);
    volt_module_free(&whole.base);
    volt_module_free(&plain.base);
    volt_data_loader_free(tl);
    volt_dataset_free(train);
}

/* Fabric with "bf16-true": setup_module casts the module in place (an
 * optimizer built before keeps working on the same, now bf16, parameters
 * and makes bf16 momentum), to_device casts x to bf16 and leaves y i64, and
 * a loop of forward, volt_fabric_backward and step gives the trainer's
 * bf16-true weights bit for bit (same data order, same SGD). */
static void test_fabric_bf16_true(void **state) {
    (void)state;
    volt_dataset *train = classes_dataset(N_ITEMS, 1);
    volt_data_loader_options o = {.batch_size = 32};
    volt_data_loader *tl = volt_data_loader_new(train, &o);
    mlp_module ref;
    mlp_init(&ref);
    volt_trainer_config c = quiet_config();
    c.max_epochs = 2;
    c.precision = "bf16-true";
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit_loaders(t, &ref.base, tl, NULL, NULL), VOLT_OK);
    volt_trainer_free(t);

    mlp_module m;
    mlp_init(&m);
    volt_params before = volt_module_parameters(&m.base);
    volt_tensor *w0 = before.tensors[0];
    volt_optimizer *opt = volt_sgd_new(before, &(volt_sgd_options){.lr = 0.1, .momentum = 0.9});
    volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.precision = "bf16-true"});
    assert_non_null(f);
    assert_string_equal(volt_fabric_precision(f), "bf16-true");
    assert_int_equal(volt_fabric_launch(f), VOLT_OK);
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    assert_int_equal(volt_fabric_setup_optimizers(f, opt), VOLT_OK);
    assert_true(volt_module_parameters(&m.base).tensors[0] == w0); /* in place */
    assert_int_equal(w0->dtype, VOLT_BF16);
    for (int epoch = 0; epoch < 2; epoch++) {
        volt_data_loader_set_epoch(tl, epoch);
        for (;;) {
            volt_scope_begin();
            volt_batch b;
            if (!volt_data_loader_next(tl, &b)) {
                volt_scope_end();
                break;
            }
            assert_int_equal(volt_fabric_to_device(f, &b), VOLT_OK);
            assert_int_equal(b.x->dtype, VOLT_BF16);
            assert_int_equal(b.y->dtype, VOLT_I64);
            volt_tensor *loss = volt_cross_entropy(mlp_forward(&m, b.x), b.y);
            assert_non_null(loss);
            assert_int_equal(loss->dtype, VOLT_BF16);
            volt_optimizer_zero_grad(opt);
            assert_int_equal(volt_fabric_backward(f, loss, &m.base), VOLT_OK);
            assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
            volt_scope_end();
        }
    }
    volt_params pr = volt_module_parameters(&ref.base), pm = volt_module_parameters(&m.base);
    for (int64_t i = 0; i < pr.count; i++) {
        assert_int_equal(pm.tensors[i]->dtype, VOLT_BF16);
        for (int64_t k = 0; k < volt_tensor_numel(pr.tensors[i]); k++)
            if (volt_tensor_get_flat(pm.tensors[i], k) != volt_tensor_get_flat(pr.tensors[i], k))
                fail_msg("parameter %lld element %lld: fabric %.9g, trainer %.9g", (long long)i,
                         (long long)k, volt_tensor_get_flat(pm.tensors[i], k),
                         volt_tensor_get_flat(pr.tensors[i], k));
    }
    volt_fabric_free(f);
    volt_optimizer_free(opt);
    volt_module_free(&m.base);
    volt_module_free(&ref.base);
    volt_data_loader_free(tl);
    volt_dataset_free(train);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_bf16_true_trains),
        VT_TEST(test_bf16_true_resumes),
        VT_TEST(test_fabric_bf16_true),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
