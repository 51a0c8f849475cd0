/* test_cuda_ddp.c: data parallel on a GPU over NCCL, in a one-rank world
 * (one process; MPI starts as a singleton, or under `mpiexec -n 1`) — the
 * one GPU this runs on is enough for every code path: the "nccl" group's
 * collectives on CUDA tensors (all_reduce sum/mean/min/max in f32 and bf16,
 * 1 and 1000003 elements; broadcast; all_gather, in place too;
 * reduce_scatter; CPU tensors through its MPI side; asynchronous works), the
 * gradient reducer on CUDA parameters (buckets on the device, several
 * buckets, a bf16 bucket, a parameter without gradient, accumulation with
 * sync off), zero1 on CUDA parameters (reduce, clip by norm, gather), fabric
 * on the GPU (its device, setup_module moving the module in place,
 * to_device, a short loop whose loss falls, ddp through NCCL) and a trainer
 * fit with strategy "ddp" equal to the plain GPU fit. With one rank every
 * collective leaves its data as it is (a mean over one rank is the value),
 * which is what is checked. Skips (77) without a GPU. */
#include "cuda_test.h"

#include <volt/dist.h>
#include <volt/fabric.h>

#include "train/train_impl.h" /* zero1 */

static volt_process_group *pg;

static int group_setup(void **state) {
    (void)state;
    /* One GEMM first: cuBLASLt's workspace (32 MiB from the caching
     * allocator, kept for the process) is made at the first use, which
     * would otherwise count as a leak of the first test that multiplies. */
    volt_scope_begin();
    volt_tensor *a = volt_to_device(volt_ones(2, (int64_t[]){4, 4}, VOLT_F32), VT_CUDA0);
    bool warm = a && volt_matmul(a, a);
    volt_scope_end();
    if (!warm) fprintf(stderr, "cannot run a GEMM on cuda:0: %s\n", volt_error_message());
    pg = warm ? volt_process_group_new("nccl", NULL) : NULL;
    if (!pg) fprintf(stderr, "cannot create the NCCL group: %s\n", volt_error_message());
    volt_error_clear();
    return pg ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    volt_process_group_free(pg);
    return 0;
}

/* n values a + b i as dtype on cuda:0 (current scope). */
static volt_tensor *ramp(int64_t n, double a, double b, volt_dtype dtype) {
    volt_tensor *t = volt_add_scalar(volt_mul_scalar(volt_arange(0, (double)n, 1, VOLT_F64), b), a);
    return volt_to_device(volt_to_dtype(t, dtype), VT_CUDA0);
}

/* ------------------------------------------------------------ collectives */

static void test_group(void **state) {
    (void)state;
    assert_string_equal(volt_process_group_backend(pg), "nccl");
    assert_int_equal(volt_process_group_world_size(pg), 1);
    assert_int_equal(volt_process_group_rank(pg), 0);
    volt_device d = volt_process_group_device(pg);
    assert_true(volt_device_equal(d, VT_CUDA0));
}

static void test_all_reduce(void **state) {
    (void)state;
    const volt_reduce_op ops[] = {VOLT_REDUCE_SUM, VOLT_REDUCE_MEAN, VOLT_REDUCE_MIN,
                                  VOLT_REDUCE_MAX};
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_BF16};
    for (int d = 0; d < 2; d++)
        for (int o = 0; o < 4; o++)
            for (int64_t n = 1; n <= 1000003; n += 1000002) {
                volt_scope_begin();
                volt_tensor *t = ramp(n, -3, 0.25, dtypes[d]), *want = volt_clone(t);
                assert_int_equal(volt_dist_all_reduce(pg, t, ops[o]), VOLT_OK);
                assert_true(volt_device_equal(t->device, VT_CUDA0));
                VT_ASSERT_SAME_VALUES(t, want, 0, 0, volt_reduce_op_name(ops[o]));
                volt_scope_end();
            }
    volt_scope_begin();
    volt_tensor *i = volt_to_device(volt_arange(0, 4, 1, VOLT_I64), VT_CUDA0);
    assert_int_equal(volt_dist_all_reduce(pg, i, VOLT_REDUCE_MEAN), VOLT_ERR_DTYPE);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "all_reduce: mean needs f32 or f64 (bf16 or f16 on a GPU)");
    volt_scope_end();
}

static void test_broadcast_gather_scatter(void **state) {
    (void)state;
    volt_scope_begin();
    volt_tensor *b = ramp(7, 100, 1, VOLT_F32);
    assert_int_equal(volt_dist_broadcast(pg, b, 0), VOLT_OK);
    assert_true(volt_tensor_get_flat(b, 6) == 106);
    volt_tensor *in = ramp(1000, 10, 1, VOLT_F32), *out = ramp(1000, -1, 0, VOLT_F32);
    assert_int_equal(volt_dist_all_gather(pg, out, in), VOLT_OK);
    VT_ASSERT_SAME_VALUES(out, in, 0, 0, "all_gather");
    volt_tensor *big = ramp(6, 2, 1, VOLT_F32), *mine = volt_slice(big, 0, 0, 6, 1);
    assert_int_equal(volt_dist_all_gather(pg, big, mine), VOLT_OK); /* in place */
    assert_true(volt_tensor_get_flat(big, 5) == 7);
    volt_tensor *full = ramp(9, 1, 2, VOLT_F32), *shard = ramp(9, 0, 0, VOLT_F32);
    assert_int_equal(volt_dist_reduce_scatter(pg, shard, full, VOLT_REDUCE_SUM), VOLT_OK);
    VT_ASSERT_SAME_VALUES(shard, full, 0, 0, "reduce_scatter");
    volt_scope_end();
}

static void test_cpu_tensors_and_async(void **state) {
    (void)state;
    volt_scope_begin();
    volt_tensor *c = volt_full(1, (int64_t[]){4}, 2.5, VOLT_F64);
    assert_int_equal(volt_dist_all_reduce(pg, c, VOLT_REDUCE_SUM), VOLT_OK);
    assert_true(volt_tensor_get_flat(c, 3) == 2.5);
    volt_tensor *g[3];
    volt_work *w[3];
    for (int k = 0; k < 3; k++) {
        g[k] = ramp(100000, k, 0, VOLT_F32);
        w[k] = volt_dist_all_reduce_async(pg, g[k], VOLT_REDUCE_SUM);
        assert_non_null(w[k]);
    }
    for (int k = 0; k < 3; k++) {
        assert_int_equal(volt_work_wait(w[k]), VOLT_OK);
        assert_true(volt_work_is_completed(w[k]));
        volt_work_free(w[k]);
        assert_true(volt_tensor_get_flat(g[k], 99999) == k);
    }
    assert_int_equal(volt_dist_barrier(pg), VOLT_OK);
    volt_scope_end();
}

/* ------------------------------------------------------- gradient reducer */

/* Leaf parameters on cuda:0 (persistent): w f32 [300, 7], b f32 [7], h bf16
 * [5], unused f32 [4]. */
static void make_params(volt_tensor **p) {
    volt_scope_begin();
    p[0] = volt_persist(
        volt_clone(volt_reshape(ramp(2100, -1, 0.001, VOLT_F32), 2, (int64_t[]){300, 7})));
    p[1] = volt_persist(ramp(7, 0.5, 0.1, VOLT_F32));
    p[2] = volt_persist(ramp(5, 1, 0.5, VOLT_BF16));
    p[3] = volt_persist(ramp(4, 0, 1, VOLT_F32));
    volt_scope_end();
    for (int i = 0; i < 4; i++) volt_requires_grad(p[i], true);
}

/* loss = sum(w^2 / 2) + sum(b * 3) + sum(h): grads w, 3, 1 (unused: none). */
static void backward_once(volt_tensor **p) {
    volt_scope_begin();
    volt_tensor *l = volt_add(volt_mul_scalar(volt_sum_all(volt_mul(p[0], p[0])), 0.5),
                              volt_mul_scalar(volt_sum_all(p[1]), 3.0));
    l = volt_add(l, volt_to_dtype(volt_sum_all(p[2]), VOLT_F32));
    assert_int_equal(volt_backward(l), VOLT_OK);
    volt_scope_end();
}

static void test_grad_reducer(void **state) {
    (void)state;
    volt_tensor *p[4];
    make_params(p);
    /* 4 kB buckets: w (8.4 kB) alone, b + unused, h (bf16) in its own */
    volt_grad_reducer_options o = {.bucket_cap_mb = 0.004};
    volt_grad_reducer *r = volt_grad_reducer_new(pg, p, NULL, 4, &o);
    assert_non_null(r);
    assert_int_equal(volt_grad_reducer_get_stats(r).buckets, 3);
    backward_once(p);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    VT_ASSERT_SAME_VALUES(p[0]->grad, p[0], 0, 0, "grad of w");
    assert_true(volt_device_equal(p[0]->grad->device, VT_CUDA0));
    assert_true(volt_tensor_get_flat(p[1]->grad, 6) == 3.0);
    assert_int_equal(p[2]->grad->dtype, VOLT_BF16);
    assert_true(volt_tensor_get_flat(p[2]->grad, 4) == 1.0);
    assert_null(p[3]->grad); /* no rank had one */
    /* Accumulation: a pass with sync off, then one with it on: the sums. */
    for (int i = 0; i < 4; i++) volt_tensor_clear_grad(p[i]);
    volt_grad_reducer_set_sync(r, false);
    backward_once(p);
    volt_grad_reducer_set_sync(r, true);
    backward_once(p);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_true(volt_tensor_get_flat(p[1]->grad, 0) == 6.0);
    assert_true(
        fabs(volt_tensor_get_flat(p[0]->grad, 2099) - 2 * volt_tensor_get_flat(p[0], 2099)) < 1e-6);
    assert_int_equal(volt_grad_reducer_get_stats(r).reductions, 2);
    volt_grad_reducer_free(r);
    for (int i = 0; i < 4; i++) volt_tensor_free(p[i]);
}

static void test_grad_reducer_refusals(void **state) {
    (void)state;
    volt_tensor *cpu = volt_persist(volt_zeros(1, (int64_t[]){3}, VOLT_F32));
    volt_requires_grad(cpu, true);
    const char *names[] = {"fc.bias"};
    assert_null(volt_grad_reducer_new(pg, &cpu, names, 1, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "params[0] ('fc.bias', f32[3]) is on cpu; the nccl backend takes cuda:0");
    volt_tensor_free(cpu);
}

/* ------------------------------------------------------------------ zero1 */

static void test_zero1(void **state) {
    (void)state;
    volt_tensor *p[4];
    make_params(p);
    volt_tensor *f32[3] = {p[0], p[1], p[3]}; /* zero1: one dtype */
    volt_optimizer *opt =
        volt_sgd_new((volt_params){.count = 3, .tensors = f32}, &(volt_sgd_options){.lr = 0.1});
    assert_non_null(opt);
    volt_zero1 *z = volt_zero1_new_over(pg, opt);
    assert_non_null(z);
    backward_once(p);
    volt_tensor *want_w = volt_persist(volt_clone(p[0]->grad));
    assert_int_equal(volt_zero1_reduce_gradients(z), VOLT_OK);
    VT_ASSERT_SAME_VALUES(p[0]->grad, want_w, 0, 0, "zero1 grad of w");
    assert_true(volt_tensor_get_flat(p[1]->grad, 3) == 3.0);
    assert_null(p[3]->grad);
    /* The norm: sqrt(sum w^2 + 7 * 9), computed on the host here. */
    double acc = 63, norm = 0;
    for (int64_t k = 0; k < 2100; k++) {
        double v = volt_tensor_get_flat(want_w, k);
        acc += v * v;
    }
    assert_int_equal(volt_zero1_clip_grad_norm(z, 1.0, &norm), VOLT_OK);
    assert_true(fabs(norm - sqrt(acc)) <= 1e-6 * sqrt(acc));
    assert_true(fabs(volt_tensor_get_flat(p[1]->grad, 0) - 3.0 / (sqrt(acc) + 1e-6)) < 1e-6);
    volt_scope_begin();
    volt_tensor *before = volt_clone(p[1]);
    assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
    assert_int_equal(volt_zero1_gather_parameters(z), VOLT_OK);
    assert_true(fabs(volt_tensor_get_flat(p[1], 0) -
                     (volt_tensor_get_flat(before, 0) - 0.1 * 3.0 / (sqrt(acc) + 1e-6))) < 1e-6);
    volt_scope_end();
    volt_tensor_free(want_w);
    volt_zero1_free(z);
    volt_optimizer_free(opt);
    for (int i = 0; i < 4; i++) volt_tensor_free(p[i]);
}

/* ----------------------------------------------------------------- fabric */

#define FEATURES 12
#define CLASSES 3

static volt_module *mlp(void) {
    volt_mlp_options o = volt_mlp_defaults();
    o.in_features = FEATURES, o.hidden = 16, o.num_classes = CLASSES, o.lr = 1e-2;
    volt_seed_everything(5);
    return volt_mlp_new(&o);
}

/* A fixed batch: x [64, FEATURES] normal, y = argmax of 3 fixed scores. */
static void fixed_batch(volt_batch *b) {
    volt_seed_everything(9);
    volt_tensor *x = volt_randn(2, (int64_t[]){64, FEATURES}, VOLT_F32, NULL);
    int64_t labels[64];
    const float *xs = volt_tensor_data(x);
    for (int i = 0; i < 64; i++) {
        double best = -1e30;
        for (int c = 0; c < CLASSES; c++) {
            double s = 0;
            for (int j = 0; j < FEATURES; j++) s += xs[i * FEATURES + j] * sin(1.0 + c * 5 + j);
            if (s > best) best = s, labels[i] = c;
        }
    }
    *b = (volt_batch){0};
    assert_int_equal(volt_batch_set(b, "x", x), VOLT_OK);
    assert_int_equal(volt_batch_set(b, "y", volt_from_array(labels, VOLT_I64, 1, (int64_t[]){64})),
                     VOLT_OK);
}

/* 10 SGD steps of the MLP on the fixed batch through fabric; the first and
 * last losses. */
static void fabric_loop(const char *strategy, double *first, double *last) {
    volt_fabric *f =
        volt_fabric_new(&(volt_fabric_options){.accelerator = "cuda", .strategy = strategy});
    assert_non_null(f);
    assert_int_equal(volt_fabric_launch(f), VOLT_OK);
    assert_true(volt_device_equal(volt_fabric_device(f), VT_CUDA0));
    volt_module *m = mlp();
    volt_optimizer *opt = volt_sgd_new(volt_module_parameters(m), &(volt_sgd_options){.lr = 0.5});
    volt_tensor *p0 = volt_module_parameters(m).tensors[0];
    assert_int_equal(volt_fabric_setup_module(f, m), VOLT_OK);
    assert_ptr_equal(volt_module_parameters(m).tensors[0], p0); /* moved in place */
    assert_int_equal(p0->device.type, VOLT_CUDA);
    assert_int_equal(volt_fabric_setup_optimizers(f, opt), VOLT_OK);
    for (int step = 0; step < 10; step++) {
        volt_scope_begin();
        volt_batch b;
        fixed_batch(&b);
        assert_int_equal(volt_fabric_to_device(f, &b), VOLT_OK);
        assert_int_equal(b.x->device.type, VOLT_CUDA);
        volt_tensor *loss = volt_cross_entropy(volt_module_forward(m, b.x), b.y);
        assert_non_null(loss);
        double v = volt_tensor_item(loss);
        if (step == 0) *first = v;
        *last = v;
        volt_optimizer_zero_grad(opt);
        assert_int_equal(volt_fabric_backward(f, loss, NULL), VOLT_OK);
        assert_int_equal(volt_fabric_optimizer_step(f, opt), VOLT_OK);
        volt_scope_end();
    }
    if (strcmp(strategy, "ddp") == 0) {
        assert_string_equal(volt_process_group_backend(volt_fabric_process_group(f)), "nccl");
        assert_int_equal(volt_fabric_gradient_sync_stats(f).reductions, 10);
    }
    volt_fabric_free(f);
    volt_optimizer_free(opt);
    volt_module_free(m);
}

static void test_fabric(void **state) {
    (void)state;
    double first, last, ddp_first, ddp_last;
    fabric_loop("auto", &first, &last);
    assert_true(last < 0.8 * first);
    fabric_loop("ddp", &ddp_first, &ddp_last); /* one rank: the same numbers */
    assert_true(fabs(ddp_first - first) <= 1e-6 * first);
    assert_true(fabs(ddp_last - last) <= 1e-5 * last);
    assert_null(
        volt_fabric_new(&(volt_fabric_options){.accelerator = "cuda", .precision = "16-mixed"}));
    VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED,
                    "fabric: precision '16-mixed' is not supported by fabric");
}

/* ---------------------------------------------------------------- trainer */

static volt_module *trainer_fit(const char *strategy, int64_t *reductions) {
    volt_scope_begin();
    volt_batch b;
    fixed_batch(&b);
    volt_dataset *ds = volt_tensor_dataset_new(2, (const char *const[]){"x", "y"},
                                               (volt_tensor *const[]){b.x, b.y});
    volt_scope_end();
    volt_data_loader *dl = volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 16});
    volt_module *m = mlp();
    volt_trainer_config c = volt_trainer_defaults();
    c.accelerator = "cuda";
    c.strategy = strategy;
    c.max_epochs = 2;
    c.enable_progress_bar = c.enable_model_summary = c.logger = c.enable_checkpointing = false;
    c.num_sanity_val_steps = 0;
    c.seed = 3;
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    c.default_root_dir = dir ? dir : "/tmp";
    volt_trainer *t = volt_trainer_new(&c);
    assert_non_null(t);
    volt_status st = volt_trainer_fit_loaders(t, m, dl, NULL, NULL);
    if (st) fprintf(stderr, "fit (%s): %s\n", strategy, volt_error_message());
    assert_int_equal(st, VOLT_OK);
    *reductions = volt_trainer_gradient_sync_stats(t).reductions;
    volt_trainer_free(t);
    volt_data_loader_free(dl);
    volt_dataset_free(ds);
    return m;
}

static void test_trainer_ddp(void **state) {
    (void)state;
    int64_t plain_n, ddp_n;
    volt_module *plain = trainer_fit("auto", &plain_n);
    volt_module *ddp = trainer_fit("ddp", &ddp_n);
    assert_int_equal(plain_n, 0);
    assert_int_equal(ddp_n, 8); /* 2 epochs of 4 batches, each averaged through NCCL */
    volt_params a = volt_module_parameters(ddp), b = volt_module_parameters(plain);
    assert_int_equal(a.count, b.count);
    for (int64_t i = 0; i < a.count; i++) {
        assert_int_equal(a.tensors[i]->device.type, VOLT_CUDA);
        VT_ASSERT_SAME_VALUES(a.tensors[i], b.tensors[i], 1e-6, 1e-7, a.names[i]);
    }
    volt_module_free(plain);
    volt_module_free(ddp);
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_ddp");
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_group),
        VT_CUDA_TEST(test_all_reduce),
        VT_CUDA_TEST(test_broadcast_gather_scatter),
        VT_CUDA_TEST(test_cpu_tensors_and_async),
        VT_CUDA_TEST(test_grad_reducer),
        VT_CUDA_TEST(test_grad_reducer_refusals),
        VT_CUDA_TEST(test_zero1),
        VT_CUDA_TEST(test_fabric),
        VT_CUDA_TEST(test_trainer_ddp),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
