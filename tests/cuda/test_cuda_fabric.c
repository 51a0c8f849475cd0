/* test_cuda_fabric.c: fabric on a GPU under the float16 precisions. A
 * hand-written loop (forward and loss inside autocast_begin / end,
 * volt_fabric_backward, clip_gradients, volt_fabric_optimizer_step) trains
 * the built-in MLP under "16-mixed" to the "32-true" loop's loss within 1%,
 * with f32 parameters and a loss scale of 65536 after the clean steps; an
 * inf gradient skips that step and halves the scale, which save / load
 * carry. Under "16-true" the module and the batches become f16 (also those
 * a loader set up with move_to_device delivers) and the loss falls. (The scaler's logic on the CPU:
 * tests/train/test_fabric_scaler.c.) */
#include "cuda_test.h"
#include "train/fabric_impl.h"

#define N 192
#define FEATURES 20
#define CLASSES 3
#define BATCH 32

/* x [N, FEATURES] from a fixed-seed normal; y = the class of the largest of
 * three fixed linear scores. On the CPU, persistent. */
static void blobs(volt_tensor **x, volt_tensor **y) {
    volt_seed_everything(11);
    *x = volt_persist(volt_randn(2, (int64_t[]){N, FEATURES}, VOLT_F32, NULL));
    const float *xs = volt_tensor_data(*x);
    int64_t labels[N];
    for (int64_t i = 0; i < N; i++) {
        double best = -1e30;
        for (int c = 0; c < CLASSES; c++) {
            double s = 0;
            for (int j = 0; j < FEATURES; j++) s += xs[i * FEATURES + j] * sin(1.0 + c * 7 + j);
            if (s > best) best = s, labels[i] = c;
        }
    }
    *y = volt_persist(volt_from_array(labels, VOLT_I64, 1, (int64_t[]){N}));
}

static volt_module *mlp(void) {
    volt_mlp_options o = volt_mlp_defaults();
    o.in_features = FEATURES, o.hidden = 32, o.num_classes = CLASSES;
    volt_seed_everything(5);
    return volt_mlp_new(&o);
}

/* One epoch of BATCH-row batches (the batch at index `poison` gets an inf
 * gradient before its step; -1: none); returns the mean loss. */
static double epoch(volt_fabric *f, volt_module *m, volt_optimizer *opt, volt_tensor *x,
                    volt_tensor *y, int poison) {
    double sum = 0;
    for (int b = 0; b < N / BATCH; b++) {
        volt_scope_begin();
        volt_batch batch = {0};
        assert_int_equal(volt_batch_set(&batch, "x", volt_narrow(x, 0, b * BATCH, BATCH)), VOLT_OK);
        assert_int_equal(volt_batch_set(&batch, "y", volt_narrow(y, 0, b * BATCH, BATCH)), VOLT_OK);
        assert_int_equal(volt_fabric_to_device(f, &batch), VOLT_OK);
        assert_int_equal(volt_fabric_autocast_begin(f), VOLT_OK);
        volt_tensor *loss =
            volt_cross_entropy(volt_module_forward(m, batch.fields[0]), batch.fields[1]);
        assert_int_equal(volt_fabric_autocast_end(f), VOLT_OK);
        assert_non_null(loss);
        volt_optimizer_zero_grad(opt);
        assert_int_equal(volt_fabric_backward(f, loss, NULL), VOLT_OK);
        if (b == poison)
            assert_non_null(volt_fill_(volt_module_parameters(m).tensors[0]->grad, INFINITY));
        double norm = 0;
        assert_int_equal(volt_fabric_clip_gradients(f, m, opt, 0, 1e6, &norm), VOLT_OK);
        assert_true(b == poison ? isinf(norm) : isfinite(norm));
        assert_int_equal(volt_fabric_optimizer_step(f, opt), VOLT_OK);
        sum += volt_tensor_item(loss);
        volt_scope_end();
    }
    return sum / (N / BATCH);
}

typedef struct {
    volt_fabric *f;
    volt_module *m;
    volt_optimizer *opt;
} run;

static run run_new(const char *precision) {
    run r = {volt_fabric_new(&(volt_fabric_options){.accelerator = "cuda", .precision = precision}),
             mlp(), NULL};
    assert_non_null(r.f);
    assert_int_equal(volt_fabric_launch(r.f), VOLT_OK);
    assert_int_equal(volt_fabric_setup_module(r.f, r.m), VOLT_OK);
    r.opt = volt_adam_new(volt_module_parameters(r.m), &(volt_adam_options){.lr = 1e-2});
    assert_non_null(r.opt);
    assert_int_equal(volt_fabric_setup_optimizers(r.f, r.opt), VOLT_OK);
    return r;
}

static void run_free(run *r) {
    volt_fabric_free(r->f);
    volt_optimizer_free(r->opt);
    volt_module_free(r->m);
}

static void test_sixteen_mixed(void **state) {
    (void)state;
    volt_tensor *x, *y;
    blobs(&x, &y);
    run a = run_new("32-true"), h = run_new("16");
    assert_string_equal(volt_fabric_precision(h.f), "16-mixed");
    double first = 0, loss32 = 0, loss16 = 0;
    for (int e = 0; e < 3; e++) {
        loss32 = epoch(a.f, a.m, a.opt, x, y, -1);
        loss16 = epoch(h.f, h.m, h.opt, x, y, -1);
        if (e == 0) first = loss32;
    }
    assert_true(loss32 < first);
    assert_true(fabs(loss16 - loss32) <= 0.01 * loss32);
    volt_params p = volt_module_parameters(h.m);
    for (int64_t i = 0; i < p.count; i++) {
        assert_int_equal(p.tensors[i]->dtype, VOLT_F32);
        assert_int_equal(p.tensors[i]->device.type, VOLT_CUDA);
    }

    /* one more epoch with the 2nd step poisoned: skipped, scale halved */
    epoch(h.f, h.m, h.opt, x, y, 1);
    const char *path = getenv("VOLT_TEST_TMPDIR");
    char file[1024];
    snprintf(file, sizeof file, "%s/cuda_fabric_f16.ckpt", path ? path : "/tmp");
    volt_fabric_state st = {.module = h.m, .n_optimizers = 1, .optimizers = &h.opt};
    assert_int_equal(volt_fabric_save(h.f, file, &st), VOLT_OK);
    volt_safetensors *sf = volt_safetensors_open(file);
    assert_non_null(sf);
    /* 6 steps per epoch, 18 clean, then 1 clean, 1 skipped, 4 clean */
    const char *scaler = volt_safetensors_metadata(sf, "grad_scaler");
    assert_non_null(scaler);
    assert_non_null(strstr(scaler, "\"scale\":32768"));
    assert_non_null(strstr(scaler, "\"growth_tracker\":4"));
    volt_safetensors_close(sf);
    run c = run_new("16-mixed");
    volt_fabric_state back = {.module = c.m, .n_optimizers = 1, .optimizers = &c.opt};
    assert_int_equal(volt_fabric_load(c.f, file, &back, NULL), VOLT_OK);
    assert_float_equal(c.f->scaler.scale, 32768, 0);
    remove(file);
    run_free(&a);
    run_free(&h);
    run_free(&c);
    volt_tensor_free(x);
    volt_tensor_free(y);
}

static void test_sixteen_true(void **state) {
    (void)state;
    volt_tensor *x, *y;
    blobs(&x, &y);
    run h = run_new("16-true");
    volt_params p = volt_module_parameters(h.m);
    for (int64_t i = 0; i < p.count; i++) assert_int_equal(p.tensors[i]->dtype, VOLT_F16);
    volt_scope_begin();
    volt_tensor *moved = volt_fabric_tensor_to_device(h.f, x);
    assert_int_equal(moved->dtype, VOLT_F16);
    assert_int_equal(moved->device.type, VOLT_CUDA);
    /* a loader set up with move_to_device delivers such batches itself */
    volt_dataset *ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){x, y});
    volt_data_loader *dl =
        volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = BATCH});
    assert_int_equal(volt_fabric_setup_dataloaders(h.f, dl, true, true), VOLT_OK);
    volt_batch b;
    assert_true(volt_data_loader_next(dl, &b));
    assert_int_equal(b.x->dtype, VOLT_F16);
    assert_int_equal(b.x->device.type, VOLT_CUDA);
    assert_int_equal(b.y->dtype, VOLT_I64);
    assert_int_equal(b.y->device.type, VOLT_CUDA);
    volt_data_loader_free(dl);
    volt_dataset_free(ds);
    volt_scope_end();
    double first = epoch(h.f, h.m, h.opt, x, y, -1), last = first;
    for (int e = 0; e < 3; e++) last = epoch(h.f, h.m, h.opt, x, y, -1);
    assert_true(last < 0.9 * first);
    run_free(&h);
    volt_tensor_free(x);
    volt_tensor_free(y);
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_fabric");
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_sixteen_mixed),
        VT_CUDA_TEST(test_sixteen_true),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
