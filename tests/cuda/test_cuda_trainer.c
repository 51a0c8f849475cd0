/* test_cuda_trainer.c: the trainer on a GPU (accelerator "cuda") — a module
 * moved to the device and back keeps its values; a fit of the built-in MLP
 * on cuda:0 ends with the same parameters and metrics as the same fit on the
 * CPU; a checkpoint written by a GPU fit resumes on the CPU (and one written
 * on the CPU resumes on the GPU) to the uninterrupted run's parameters; and
 * out of memory inside a GPU fit fails it with the allocator's message and
 * lets OnExceptionCheckpoint save the last good state; precision 16-mixed
 * trains like f32 and skips a step with inf gradients; 16-true and
 * bf16-true train close to f32; and the refusals
 * (more devices than the machine has). */
#include "cuda_test.h"

#define N_TRAIN 192
#define N_VAL 64
#define FEATURES 20
#define CLASSES 3

/* x [n, FEATURES] f32 from a fixed-seed normal; y = the class of the largest
 * of three fixed linear scores. */
static volt_dataset *blobs(int64_t n, uint64_t seed) {
    volt_scope_begin();
    volt_seed_everything(seed);
    volt_tensor *x = volt_randn(2, (int64_t[]){n, FEATURES}, VOLT_F32, NULL);
    float *xs = volt_tensor_data(x);
    int64_t *labels = malloc((size_t)n * sizeof *labels);
    for (int64_t i = 0; i < n; i++) {
        double best = -1e30;
        for (int c = 0; c < CLASSES; c++) {
            double s = 0;
            for (int j = 0; j < FEATURES; j++) s += xs[i * FEATURES + j] * sin(1.0 + c * 7 + j);
            if (s > best) best = s, labels[i] = c;
        }
    }
    volt_tensor *y = volt_from_array(labels, VOLT_I64, 1, (int64_t[]){n});
    volt_dataset *ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){x, y});
    volt_scope_end();
    free(labels);
    return ds;
}

typedef struct {
    volt_dataset *train_ds, *val_ds;
    volt_data_loader *train, *val;
} data;

static data data_new(void) {
    data d = {blobs(N_TRAIN, 11), blobs(N_VAL, 12), NULL, NULL};
    volt_data_loader_options o = {.batch_size = 32};
    d.train = volt_data_loader_new(d.train_ds, &o);
    d.val = volt_data_loader_new(d.val_ds, &o);
    return d;
}

static void data_free(data *d) {
    volt_data_loader_free(d->train);
    volt_data_loader_free(d->val);
    volt_dataset_free(d->train_ds);
    volt_dataset_free(d->val_ds);
}

static volt_module *mlp(void) {
    volt_mlp_options o = volt_mlp_defaults();
    o.in_features = FEATURES, o.hidden = 32, o.num_classes = CLASSES, o.lr = 1e-2;
    volt_seed_everything(5);
    return volt_mlp_new(&o);
}

static volt_trainer_config config(const char *accelerator, int64_t epochs, const char *dir) {
    volt_trainer_config c = volt_trainer_defaults();
    c.accelerator = accelerator;
    c.max_epochs = epochs;
    c.enable_progress_bar = false;
    c.enable_model_summary = false;
    c.logger = false;
    c.enable_checkpointing = false;
    c.num_sanity_val_steps = 0;
    c.num_threads = 1;
    c.seed = 3;
    c.default_root_dir = dir;
    return c;
}

static const char *tmp_path(const char *name) {
    static char path[1024];
    const char *base = getenv("VOLT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/%s", base ? base : "/tmp", name);
    return path;
}

/* Fits a fresh MLP for `epochs` on `accelerator` (from ckpt_path when not
 * NULL; saving a full checkpoint at save_path when not NULL); returns the
 * module and the final val_loss. */
static volt_module *fit(const char *accelerator, int64_t epochs, const char *ckpt_path,
                        const char *save_path, double *val_loss) {
    data d = data_new();
    volt_module *m = mlp();
    volt_trainer_config c = config(accelerator, epochs, tmp_path(""));
    volt_trainer *t = volt_trainer_new(&c);
    assert_non_null(t);
    volt_status st = volt_trainer_fit_loaders(t, m, d.train, d.val, ckpt_path);
    if (st) fprintf(stderr, "fit on %s: %s\n", accelerator, volt_error_message());
    assert_int_equal(st, VOLT_OK);
    *val_loss = volt_metrics_get(volt_trainer_callback_metrics(t), "val_loss");
    if (save_path) assert_int_equal(volt_trainer_save_checkpoint(t, save_path, false), VOLT_OK);
    volt_trainer_free(t);
    data_free(&d);
    return m;
}

/* Every parameter of a (any device) within tolerance of b's (CPU). */
static void assert_same_parameters(volt_module *a, volt_module *b, double rtol, double atol) {
    volt_params pa = volt_module_parameters(a), pb = volt_module_parameters(b);
    assert_int_equal(pa.count, pb.count);
    for (int64_t i = 0; i < pa.count; i++)
        VT_ASSERT_SAME_VALUES(pa.tensors[i], pb.tensors[i], rtol, atol, pa.names[i]);
}

static void test_module_to_device(void **state) {
    (void)state;
    volt_module *m = mlp(), *ref = mlp();
    volt_tensor *first = volt_module_parameters(m).tensors[0];
    assert_int_equal(volt_module_to_device(m, VT_CUDA0), VOLT_OK);
    volt_params p = volt_module_parameters(m);
    assert_true(p.count > 0);
    assert_ptr_equal(p.tensors[0], first); /* moved in place: optimizers stay valid */
    for (int64_t i = 0; i < p.count; i++) {
        assert_int_equal(p.tensors[i]->device.type, VOLT_CUDA);
        assert_true(p.tensors[i]->requires_grad);
    }
    assert_same_parameters(m, ref, 0, 0);
    assert_int_equal(volt_module_to_device(m, VOLT_DEVICE_CPU), VOLT_OK);
    p = volt_module_parameters(m);
    for (int64_t i = 0; i < p.count; i++) assert_int_equal(p.tensors[i]->device.type, VOLT_CPU);
    assert_same_parameters(m, ref, 0, 0);
    assert_int_equal(volt_module_to_device(m, (volt_device){VOLT_CUDA, 99}), VOLT_ERR_DEVICE);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "cuda:99");
    volt_module_free(m);
    volt_module_free(ref);
}

/* The same fit on both devices: the GPU's products and reductions sum in
 * another order, so parameters agree to about 1e-5 after 18 Adam steps.
 * accelerator "auto" trains on the GPU too. */
static void test_fit_matches_cpu(void **state) {
    (void)state;
    double loss_cpu, loss_gpu, loss_0, loss_auto;
    volt_module *first = fit("cpu", 1, NULL, NULL, &loss_0);
    volt_module *by_auto = fit("auto", 1, NULL, NULL, &loss_auto);
    assert_int_equal(volt_module_parameters(by_auto).tensors[0]->device.type, VOLT_CUDA);
    assert_same_parameters(by_auto, first, 1e-4, 1e-5);
    volt_module_free(by_auto);
    volt_module *cpu = fit("cpu", 3, NULL, NULL, &loss_cpu);
    volt_module *gpu = fit("cuda", 3, NULL, NULL, &loss_gpu);
    volt_params p = volt_module_parameters(gpu);
    for (int64_t i = 0; i < p.count; i++) assert_int_equal(p.tensors[i]->device.type, VOLT_CUDA);
    assert_same_parameters(gpu, cpu, 1e-4, 1e-5);
    assert_true(fabs(loss_gpu - loss_cpu) <= 1e-4 * fabs(loss_cpu));
    assert_true(loss_cpu < loss_0);
    volt_module_free(first);
    volt_module_free(cpu);
    volt_module_free(gpu);
}

/* 2 epochs on one device, a full checkpoint, the third epoch on the other:
 * the uninterrupted 3-epoch CPU run's parameters. */
static void test_checkpoint_across_devices(void **state) {
    (void)state;
    double loss;
    const char *path = tmp_path("cuda_trainer_gpu.ckpt");
    char gpu_ckpt[1024], cpu_ckpt[1024];
    snprintf(gpu_ckpt, sizeof gpu_ckpt, "%s", path);
    snprintf(cpu_ckpt, sizeof cpu_ckpt, "%s", tmp_path("cuda_trainer_cpu.ckpt"));
    volt_module *whole = fit("cpu", 3, NULL, NULL, &loss);
    volt_module *a = fit("cuda", 2, NULL, gpu_ckpt, &loss);
    volt_module *b = fit("cpu", 3, gpu_ckpt, NULL, &loss);
    assert_same_parameters(b, whole, 1e-4, 1e-5);
    volt_module *c = fit("cpu", 2, NULL, cpu_ckpt, &loss);
    volt_module *d = fit("gpu", 3, cpu_ckpt, NULL, &loss);
    assert_same_parameters(d, whole, 1e-4, 1e-5);
    volt_module_free(whole);
    volt_module_free(a);
    volt_module_free(b);
    volt_module_free(c);
    volt_module_free(d);
    remove(gpu_ckpt);
    remove(cpu_ckpt);
}

/* Makes the 5th CUDA allocation after batch `at` starts fail (inside that
 * batch's forward). */
typedef struct {
    volt_callback base;
    int64_t at;
} oom_at;

static volt_status arm_oom(volt_callback *self, volt_module *m, volt_step *s) {
    (void)m;
    if (volt_step_batch_idx(s) == ((oom_at *)self)->at) volt_cuda_alloc_fail_after(5);
    return VOLT_OK;
}

static const volt_callback_ops oom_ops = {.name = "oom_at", .on_train_batch_start = arm_oom};

/* Out of memory in the 4th step of a GPU fit: fit fails with the
 * allocator's message, and OnExceptionCheckpoint writes the parameters of
 * the last good state (3 optimizer steps, as a 3-batch CPU fit ends). */
static void test_out_of_memory_in_fit(void **state) {
    (void)state;
    data d = data_new();
    volt_module *ref = mlp();
    volt_trainer_config c = config("cpu", 1, tmp_path(""));
    c.limit_train_batches = VOLT_BATCHES(3);
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit_loaders(t, ref, d.train, NULL, NULL), VOLT_OK);
    volt_trainer_free(t);

    volt_module *m = mlp();
    c = config("cuda", 1, tmp_path(""));
    t = volt_trainer_new(&c);
    oom_at oom = {.base.ops = &oom_ops, .at = 3};
    assert_int_equal(volt_trainer_add_callback(t, &oom.base), VOLT_OK);
    const char *dir = tmp_path("cuda_trainer_oom");
    char path[1100];
    snprintf(path, sizeof path, "%s/on_exception.ckpt", dir);
    remove(path);
    assert_int_equal(volt_trainer_add_callback(t, volt_on_exception_checkpoint_new(dir, NULL)),
                     VOLT_OK);
    assert_int_equal(volt_trainer_fit_loaders(t, m, d.train, NULL, NULL), VOLT_ERR_OUT_OF_MEMORY);
    volt_cuda_alloc_fail_after(0);
    const char *msg = volt_error_message();
    assert_non_null(strstr(msg, "out of memory allocating"));
    assert_non_null(strstr(msg, "reserved"));
    volt_error_clear();
    volt_trainer_free(t);

    volt_scope_begin();
    volt_safetensors *f = volt_safetensors_open(path);
    assert_non_null(f);
    volt_params p = volt_module_parameters(ref);
    for (int64_t i = 0; i < p.count; i++) {
        char key[256];
        snprintf(key, sizeof key, "state_dict.%s", p.names[i]);
        VT_ASSERT_SAME_VALUES(volt_safetensors_get(f, key), p.tensors[i], 1e-4, 1e-5, key);
    }
    volt_safetensors_close(f);
    volt_scope_end();
    remove(path);
    volt_module_free(m);
    volt_module_free(ref);
    data_free(&d);
}

/* Fills the gradient of the module's first parameter with inf after the
 * backward of batch `at`. */
typedef struct {
    volt_callback base;
    int64_t at;
} poison_at;

static volt_status poison(volt_callback *self, volt_module *m, volt_step *s) {
    if (volt_step_batch_idx(s) != ((poison_at *)self)->at) return VOLT_OK;
    volt_tensor *g = volt_module_parameters(m).tensors[0]->grad;
    return volt_fill_(g, INFINITY) ? VOLT_OK : volt_error_status();
}

static const volt_callback_ops poison_ops = {.name = "poison_at", .on_after_backward = poison};

/* precision 16-mixed: f16 products with f32 weights train like f32 (val
 * loss within 1%); an inf gradient skips that step and halves the scale,
 * and the scaler's state is in the checkpoint ({"scale": 32768,
 * "growth_tracker": 4} after 6 steps with the 2nd poisoned). */
static void test_sixteen_mixed(void **state) {
    (void)state;
    double loss32, loss16;
    volt_module *a = fit("cuda", 3, NULL, NULL, &loss32);
    data d = data_new();
    volt_module *m = mlp();
    volt_trainer_config c = config("cuda", 3, tmp_path(""));
    c.precision = "16-mixed";
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit_loaders(t, m, d.train, d.val, NULL), VOLT_OK);
    loss16 = volt_metrics_get(volt_trainer_callback_metrics(t), "val_loss");
    assert_true(fabs(loss16 - loss32) <= 0.01 * loss32);
    volt_params p = volt_module_parameters(m);
    for (int64_t i = 0; i < p.count; i++) assert_int_equal(p.tensors[i]->dtype, VOLT_F32);
    volt_trainer_free(t);
    volt_module_free(m);

    m = mlp();
    c.max_epochs = 1;
    t = volt_trainer_new(&c);
    poison_at pz = {.base.ops = &poison_ops, .at = 1};
    assert_int_equal(volt_trainer_add_callback(t, &pz.base), VOLT_OK);
    assert_int_equal(volt_trainer_fit_loaders(t, m, d.train, NULL, NULL), VOLT_OK);
    const char *path = tmp_path("cuda_trainer_f16.ckpt");
    char ckpt[1024];
    snprintf(ckpt, sizeof ckpt, "%s", path);
    assert_int_equal(volt_trainer_save_checkpoint(t, ckpt, false), VOLT_OK);
    volt_safetensors *f = volt_safetensors_open(ckpt);
    assert_non_null(f);
    const char *scaler = volt_safetensors_metadata(f, "grad_scaler");
    assert_non_null(scaler);
    assert_non_null(strstr(scaler, "\"scale\":32768"));
    assert_non_null(strstr(scaler, "\"growth_tracker\":4"));
    volt_safetensors_close(f);
    p = volt_module_parameters(m);
    volt_scope_begin();
    for (int64_t i = 0; i < p.count; i++)
        assert_true(isfinite(volt_tensor_item(volt_sum_all(p.tensors[i]))));
    volt_scope_end();
    remove(ckpt);
    volt_trainer_free(t);
    volt_module_free(m);
    volt_module_free(a);
    data_free(&d);
}

/* precision "16-true" and "bf16-true": the module, its batches, gradients
 * and optimizer state in f16 / bf16 on the GPU (the optimizer and the
 * clipping kernels in that dtype) train the MLP close to f32: val loss
 * within 5% (f16) and 10% (bf16, 8 bits of mantissa) of the f32 fit's. */
static void test_half_true(void **state) {
    (void)state;
    double loss32;
    volt_module *a = fit("cuda", 3, NULL, NULL, &loss32);
    const char *precisions[2] = {"16-true", "bf16-true"};
    const volt_dtype dtypes[2] = {VOLT_F16, VOLT_BF16};
    const double within[2] = {0.05, 0.10};
    for (int k = 0; k < 2; k++) {
        data d = data_new();
        volt_module *m = mlp();
        volt_trainer_config c = config("cuda", 3, tmp_path(""));
        c.precision = precisions[k];
        c.gradient_clip_val = 1e3; /* clipping runs, clips nothing */
        volt_trainer *t = volt_trainer_new(&c);
        assert_non_null(t);
        volt_status st = volt_trainer_fit_loaders(t, m, d.train, d.val, NULL);
        if (st) fprintf(stderr, "%s: %s\n", precisions[k], volt_error_message());
        assert_int_equal(st, VOLT_OK);
        double loss = volt_metrics_get(volt_trainer_callback_metrics(t), "val_loss");
        printf("%s: val_loss %.5f (32-true %.5f)\n", precisions[k], loss, loss32);
        assert_true(fabs(loss - loss32) <= within[k] * loss32);
        volt_params p = volt_module_parameters(m);
        for (int64_t i = 0; i < p.count; i++) {
            assert_int_equal(p.tensors[i]->dtype, dtypes[k]);
            assert_int_equal(p.tensors[i]->device.type, VOLT_CUDA);
        }
        volt_trainer_free(t);
        volt_module_free(m);
        data_free(&d);
    }
    volt_module_free(a);
}

static void test_refusals(void **state) {
    (void)state;
    volt_trainer_config c = config("cuda", 1, tmp_path(""));
    c.devices = volt_cuda_device_count() + 1;
    assert_null(volt_trainer_new(&c));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "CUDA device(s)");
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_trainer");
    /* cuBLASLt's workspace (32 MiB per device, kept for the process) is made
     * by the first product: make it before the tests count device memory. */
    volt_scope_begin();
    volt_tensor *a = volt_to_device(volt_ones(2, (int64_t[]){2, 2}, VOLT_F32), VT_CUDA0);
    if (!volt_matmul(a, a)) return fprintf(stderr, "%s\n", volt_error_message()), 1;
    volt_scope_end();
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_module_to_device),
        VT_CUDA_TEST(test_fit_matches_cpu),
        VT_CUDA_TEST(test_checkpoint_across_devices),
        VT_CUDA_TEST(test_out_of_memory_in_fit),
        VT_CUDA_TEST(test_sixteen_mixed),
        VT_CUDA_TEST(test_half_true),
        VT_CUDA_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
