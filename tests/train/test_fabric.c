/* test_fabric.c: volt_fabric in one process — options refused with the
 * option named, launch and its refusals (nothing here re-executes the
 * program), calls before launch, bad arguments (NULL module, a module or
 * optimizer not set up), a fabric loop equal bit for bit to the plain loop,
 * no_backward_sync accumulation, gradient clipping by norm and value,
 * collectives with one rank, save/load of weights, optimizer and scheduler
 * state, counters and user values (and a resumed run equal to an
 * uninterrupted one), load errors, and the CSV log on rank 0. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 24, D = 4, B = 4 };

/* ------------------------------------------------------------ fixtures */

typedef struct {
    volt_module base;
    volt_linear *fc1, *fc2;
} net;

static const volt_module_ops net_ops = {.name = "net"};

static void net_init(net *m, uint64_t seed, int64_t hidden) {
    volt_seed_everything(seed);
    *m = (net){0};
    volt_module_init(&m->base, &net_ops);
    m->fc1 = volt_linear_new(&m->base, "fc1", D, hidden);
    m->fc2 = volt_linear_new(&m->base, "fc2", hidden, 1);
}

static volt_tensor *net_loss(net *m, const volt_batch *b) {
    volt_tensor *h = volt_relu(volt_linear_forward(m->fc1, b->x));
    return volt_mse_loss(volt_linear_forward(m->fc2, h), b->y, VOLT_REDUCTION_MEAN);
}

typedef struct {
    volt_dataset *ds;
    volt_data_loader *dl;
} data;

/* x[i][j] = sin(i + 3j), y = x0 - 2 x1 + x3. */
static data data_new(void) {
    float x[N * D], y[N];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) x[i * D + j] = (float)sin(i + 3.0 * j);
        y[i] = x[i * D] - 2 * x[i * D + 1] + x[i * D + 3];
    }
    data d;
    volt_scope_begin();
    volt_tensor *tx = volt_from_array(x, VOLT_F32, VOLT_SHAPE(N, D));
    volt_tensor *ty = volt_from_array(y, VOLT_F32, VOLT_SHAPE(N, 1));
    d.ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){tx, ty});
    volt_scope_end();
    d.dl = volt_data_loader_new(
        d.ds, &(volt_data_loader_options){.batch_size = B, .shuffle = true, .seed = 5});
    assert_non_null(d.dl);
    return d;
}

static void data_free(data *d) {
    volt_data_loader_free(d->dl);
    volt_dataset_free(d->ds);
}

static volt_fabric *launched(const char *strategy) {
    volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.strategy = strategy});
    assert_non_null(f);
    assert_int_equal(volt_fabric_launch(f), VOLT_OK);
    return f;
}

static volt_optimizer *sgd(net *m) {
    return volt_sgd_new(volt_module_parameters(&m->base),
                        &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
}

/* `steps` optimizer steps over the loader (wrapping around epochs), with
 * the fabric's backward when f is given, else the plain one. */
static void train(net *m, volt_fabric *f, volt_optimizer *opt, volt_data_loader *dl, int steps) {
    for (int s = 0; s < steps;) {
        volt_scope_begin();
        volt_batch b;
        if (volt_data_loader_next(dl, &b)) {
            volt_tensor *loss = net_loss(m, &b);
            volt_optimizer_zero_grad(opt);
            assert_int_equal(f ? volt_fabric_backward(f, loss, NULL) : volt_backward(loss),
                             VOLT_OK);
            assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
            s++;
        }
        VT_ASSERT_NO_ERROR();
        volt_scope_end();
    }
}

static void assert_same_params(net *a, net *b, double tol) {
    volt_params pa = volt_module_parameters(&a->base), pb = volt_module_parameters(&b->base);
    assert_int_equal(pa.count, pb.count);
    for (int64_t i = 0; i < pa.count; i++)
        for (int64_t k = 0; k < volt_tensor_numel(pa.tensors[i]); k++)
            assert_float_equal(volt_tensor_get_flat(pa.tensors[i], k),
                               volt_tensor_get_flat(pb.tensors[i], k), tol);
}

static const char *tmp(const char *name) {
    static char path[1024];
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/tmp", name);
    return path;
}

/* --------------------------------------------------------------- options */

static void refused(volt_fabric_options o, volt_status status, const char *substr) {
    assert_null(volt_fabric_new(&o));
    VT_ASSERT_ERROR(status, substr);
}

static void test_options_refused(void **state) {
    (void)state;
    refused((volt_fabric_options){.accelerator = "tpu"}, VOLT_ERR_UNSUPPORTED, "accelerator 'tpu'");
    refused((volt_fabric_options){.accelerator = "gpus"}, VOLT_ERR_INVALID_ARGUMENT, "is unknown");
    refused((volt_fabric_options){.strategy = "dpp"}, VOLT_ERR_INVALID_ARGUMENT, "strategy 'dpp'");
    refused((volt_fabric_options){.strategy = "fsdp"}, VOLT_ERR_UNSUPPORTED, "not supported");
    refused((volt_fabric_options){.precision = "16-mixed"}, VOLT_ERR_UNSUPPORTED,
            "precision '16-mixed' needs a GPU (accelerator 'auto' runs on the CPU");
    refused((volt_fabric_options){.precision = "bf17"}, VOLT_ERR_INVALID_ARGUMENT,
            "precision 'bf17' is unknown");
    refused((volt_fabric_options){.devices = -2}, VOLT_ERR_INVALID_ARGUMENT, "devices = -2");
    refused((volt_fabric_options){.num_nodes = -1}, VOLT_ERR_INVALID_ARGUMENT, "num_nodes = -1");
    refused((volt_fabric_options){.bucket_cap_mb = -1}, VOLT_ERR_INVALID_ARGUMENT, "bucket_cap_mb");
    refused((volt_fabric_options){.timeout_s = NAN}, VOLT_ERR_INVALID_ARGUMENT, "timeout_s");
    refused((volt_fabric_options){.root_dir = ""}, VOLT_ERR_INVALID_ARGUMENT, "root_dir");
    volt_fabric_free(NULL);
}

/* Lightning's fabric.autocast(): bf16 between begin and end with
 * "bf16-mixed" (alias "bf16"), off with "32-true"; the mode found before
 * begin comes back; begin twice and end alone are refused. */
static void test_autocast(void **state) {
    (void)state;
    volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.precision = "bf16"});
    assert_non_null(f);
    assert_string_equal(volt_fabric_precision(f), "bf16-mixed");
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_OFF);
    assert_int_equal(volt_fabric_autocast_begin(f), VOLT_OK);
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_BF16);
    assert_int_equal(volt_fabric_autocast_begin(f), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "already inside autocast");
    assert_int_equal(volt_fabric_autocast_end(f), VOLT_OK);
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_OFF);
    assert_int_equal(volt_fabric_autocast_end(f), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "no autocast_begin");
    volt_fabric_free(f);

    f = volt_fabric_new(NULL);
    assert_non_null(f);
    assert_string_equal(volt_fabric_precision(f), "32-true");
    volt_autocast_mode before = volt_autocast_set(VOLT_AUTOCAST_BF16);
    assert_int_equal(volt_fabric_autocast_begin(f), VOLT_OK);
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_OFF);
    assert_int_equal(volt_fabric_autocast_end(f), VOLT_OK);
    assert_int_equal(volt_autocast_get(), VOLT_AUTOCAST_BF16);
    volt_autocast_set(before);
    volt_fabric_free(f);
}

/* ---------------------------------------------------------------- launch */

static void test_launch_one_process(void **state) {
    (void)state;
    volt_fabric *f = volt_fabric_new(NULL);
    assert_non_null(f);
    assert_false(volt_fabric_launched(f));
    assert_string_equal(volt_fabric_strategy(f), "auto");
    assert_null(volt_fabric_process_group(f));
    assert_int_equal(volt_fabric_world_size(f), 1);
    assert_int_equal(volt_fabric_launch(f), VOLT_OK);
    assert_true(volt_fabric_launched(f));
    assert_string_equal(volt_fabric_strategy(f), "single_device");
    assert_int_equal(volt_fabric_global_rank(f), 0);
    assert_int_equal(volt_fabric_world_size(f), 1);
    assert_int_equal(volt_fabric_local_rank(f), 0);
    assert_int_equal(volt_fabric_node_rank(f), 0);
    assert_true(volt_fabric_is_global_zero(f));
    assert_string_equal(volt_process_group_backend(volt_fabric_process_group(f)), "single");
    assert_int_equal(volt_fabric_launch(f), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "already launched");
    volt_fabric_free(f);

    /* ddp with one process: a world of one */
    f = launched("ddp");
    assert_string_equal(volt_fabric_strategy(f), "ddp");
    assert_int_equal(volt_fabric_world_size(f), 1);
    volt_fabric_free(f);
}

static void test_launch_refusals(void **state) {
    (void)state;
    /* single_device with two devices */
    volt_fabric *f =
        volt_fabric_new(&(volt_fabric_options){.strategy = "single_device", .devices = 2});
    assert_int_equal(volt_fabric_launch(f), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "strategy 'single_device' runs one process");
    assert_false(volt_fabric_launched(f));
    volt_fabric_free(f);
    /* several nodes without a launcher (refused before any re-execution) */
    f = volt_fabric_new(&(volt_fabric_options){.num_nodes = 2});
    assert_int_equal(volt_fabric_launch(f), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "num_nodes = 2 needs a launcher");
    volt_fabric_free(f);
    assert_int_equal(volt_fabric_launch(NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL fabric");
}

static void test_calls_before_launch(void **state) {
    (void)state;
    volt_fabric *f = volt_fabric_new(NULL);
    net m;
    net_init(&m, 1, 3);
    volt_optimizer *opt = sgd(&m);
    data d = data_new();
    volt_tensor *t = volt_zeros(VOLT_SHAPE(2), VOLT_F32);
    double v = 1;
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "setup_module: the fabric is not launched");
    assert_int_equal(volt_fabric_setup_optimizers(f, opt), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "setup_optimizers: the fabric is not launched");
    assert_int_equal(volt_fabric_setup_dataloaders(f, d.dl, true, false), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "volt_fabric_launch first");
    assert_int_equal(volt_fabric_backward(f, t, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "backward: the fabric is not launched");
    assert_int_equal(volt_fabric_no_backward_sync(f, NULL, true), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "no_backward_sync");
    assert_int_equal(volt_fabric_clip_gradients(f, &m.base, NULL, 1, 0, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "clip_gradients");
    assert_int_equal(volt_fabric_all_reduce(f, t, VOLT_REDUCE_SUM), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "all_reduce");
    assert_int_equal(volt_fabric_broadcast(f, t, 0), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "broadcast");
    assert_int_equal(volt_fabric_barrier(f), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "barrier");
    assert_int_equal(volt_fabric_all_reduce_double(f, &v, VOLT_REDUCE_SUM), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "all_reduce_double");
    assert_int_equal(
        volt_fabric_save(f, tmp("never.ckpt"), &(volt_fabric_state){.module = &m.base}),
        VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "save");
    assert_int_equal(
        volt_fabric_load(f, tmp("never.ckpt"), &(volt_fabric_state){.module = &m.base}, NULL),
        VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "load");
    volt_fabric_free(f);
    volt_optimizer_free(opt);
    data_free(&d);
    volt_module_free(&m.base);
}

/* --------------------------------------------------------- bad arguments */

static void test_bad_arguments(void **state) {
    (void)state;
    volt_fabric *f = launched(NULL);
    net m, other;
    net_init(&m, 1, 3);
    net_init(&other, 2, 3);
    volt_optimizer *opt = sgd(&m), *other_opt = sgd(&other);
    data d = data_new();
    volt_batch b;
    assert_true(volt_data_loader_next(d.dl, &b));

    /* backward before any module is set up */
    assert_int_equal(volt_fabric_backward(f, net_loss(&m, &b), NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "backward: no module is set up");
    assert_int_equal(volt_fabric_setup_module(f, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "setup_module: NULL module");
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "module 'net' is set up already");

    /* a module that was not set up */
    assert_int_equal(volt_fabric_backward(f, net_loss(&other, &b), &other.base),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "backward: module 'net' was not set up (volt_fabric_setup_module)");
    assert_null(volt_module_get(&other.base, "fc1.weight")->grad); /* no backward ran */
    assert_int_equal(volt_fabric_no_backward_sync(f, &other.base, true), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "no_backward_sync: module 'net' was not set up");
    assert_int_equal(volt_fabric_backward(f, NULL, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "backward: NULL loss");

    /* optimizers */
    assert_int_equal(volt_fabric_setup_optimizers(f, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL optimizer");
    assert_int_equal(volt_fabric_setup_optimizers(f, other_opt), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(
        VOLT_ERR_INVALID_ARGUMENT,
        "parameter 0 of the SGD optimizer (shape f32[3,4]) belongs to no module set up");
    assert_int_equal(volt_fabric_setup_optimizers(f, opt), VOLT_OK);
    assert_int_equal(volt_fabric_setup_optimizers(f, opt), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "set up already");

    /* clipping */
    assert_int_equal(volt_fabric_clip_gradients(f, NULL, NULL, 1, 0, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "module and optimizer are both NULL");
    assert_int_equal(volt_fabric_clip_gradients(f, &m.base, NULL, 1, 2, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "exactly one of clip_val (1) and max_norm (2)");
    assert_int_equal(volt_fabric_clip_gradients(f, &m.base, NULL, 0, 0, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "exactly one");
    assert_int_equal(volt_fabric_clip_gradients(f, &m.base, NULL, -1, 0, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clip_val = -1");
    assert_int_equal(volt_fabric_clip_gradients(f, NULL, other_opt, 1, 0, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the SGD optimizer was not set up");
    assert_int_equal(volt_fabric_clip_gradients(f, &other.base, NULL, 1, 0, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clip_gradients: module 'net' was not set up");

    /* loaders, logging */
    assert_int_equal(volt_fabric_setup_dataloaders(f, NULL, true, true), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL loader");
    assert_int_equal(volt_fabric_log(f, "", 1, 0), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL or empty name");
    assert_int_equal(volt_fabric_seed_everything(NULL, 1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "seed_everything: NULL fabric");

    volt_fabric_free(f);
    volt_optimizer_free(opt);
    volt_optimizer_free(other_opt);
    data_free(&d);
    volt_module_free(&m.base);
    volt_module_free(&other.base);
}

/* ---------------------------------------------------------------- loops */

static void test_loop_equals_plain_loop(void **state) {
    (void)state;
    net ref, m;
    net_init(&ref, 3, 5);
    net_init(&m, 3, 5);
    data dr = data_new(), dm = data_new();
    volt_optimizer *ro = sgd(&ref), *mo = sgd(&m);
    train(&ref, NULL, ro, dr.dl, 10);

    volt_fabric *f = launched(NULL);
    assert_int_equal(volt_fabric_seed_everything(f, 11), VOLT_OK);
    assert_int_equal(volt_global_seed(), 11);
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    assert_int_equal(volt_fabric_setup_optimizers(f, mo), VOLT_OK);
    assert_int_equal(volt_fabric_setup_dataloaders(f, dm.dl, true, false), VOLT_OK);
    assert_int_equal(volt_data_loader_world_size(dm.dl), 1); /* one process: unchanged */
    assert_int_equal(volt_data_loader_len(dm.dl), N / B);
    train(&m, f, mo, dm.dl, 10);
    assert_same_params(&m, &ref, 0); /* bit for bit */
    volt_fabric_free(f);

    volt_optimizer_free(ro);
    volt_optimizer_free(mo);
    data_free(&dr);
    data_free(&dm);
    volt_module_free(&ref.base);
    volt_module_free(&m.base);
}

/* Two backward passes, the first inside no_backward_sync: the gradients are
 * the sum of both passes' (one process: what plain backward gives). */
static void test_no_backward_sync_accumulates(void **state) {
    (void)state;
    net ref, m;
    net_init(&ref, 4, 3);
    net_init(&m, 4, 3);
    data d = data_new();
    volt_batch b1, b2;
    assert_true(volt_data_loader_next(d.dl, &b1));
    assert_true(volt_data_loader_next(d.dl, &b2));
    assert_int_equal(volt_backward(net_loss(&ref, &b1)), VOLT_OK);
    assert_int_equal(volt_backward(net_loss(&ref, &b2)), VOLT_OK);

    volt_fabric *f = launched("ddp");
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    assert_int_equal(volt_fabric_no_backward_sync(f, &m.base, true), VOLT_OK);
    assert_int_equal(volt_fabric_backward(f, net_loss(&m, &b1), &m.base), VOLT_OK);
    assert_int_equal(volt_fabric_no_backward_sync(f, NULL, false), VOLT_OK);
    assert_int_equal(volt_fabric_backward(f, net_loss(&m, &b2), NULL), VOLT_OK);
    volt_params pr = volt_module_parameters(&ref.base), pm = volt_module_parameters(&m.base);
    for (int64_t i = 0; i < pr.count; i++)
        for (int64_t k = 0; k < volt_tensor_numel(pr.tensors[i]); k++)
            assert_float_equal(volt_tensor_get_flat(pm.tensors[i]->grad, k),
                               volt_tensor_get_flat(pr.tensors[i]->grad, k), 0);
    volt_fabric_free(f);
    data_free(&d);
    volt_module_free(&ref.base);
    volt_module_free(&m.base);
}

/* loss = sum(w * c), c = [3, -4]: the gradient is c, its norm 5. */
static void test_clip_gradients(void **state) {
    (void)state;
    net m;
    net_init(&m, 1, 3);
    volt_optimizer *opt = sgd(&m);
    volt_fabric *f = launched(NULL);
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    assert_int_equal(volt_fabric_setup_optimizers(f, opt), VOLT_OK);
    volt_tensor *w = volt_module_get(&m.base, "fc2.bias");  /* [1] */
    volt_tensor *w2 = volt_module_get(&m.base, "fc1.bias"); /* [3] */
    volt_tensor *c = volt_from_array((double[]){3}, VOLT_F64, VOLT_SHAPE(1));
    volt_tensor *c2 = volt_from_array((double[]){0, -4, 0}, VOLT_F64, VOLT_SHAPE(3));
    volt_tensor *loss = volt_add(volt_sum_all(volt_mul(volt_to_dtype(w, VOLT_F64), c)),
                                 volt_sum_all(volt_mul(volt_to_dtype(w2, VOLT_F64), c2)));
    assert_int_equal(volt_fabric_backward(f, loss, NULL), VOLT_OK);
    double norm = 0;
    assert_int_equal(volt_fabric_clip_gradients(f, &m.base, opt, 0, 1, &norm), VOLT_OK);
    assert_float_equal(norm, 5, 1e-12);
    double s = 1 / (5 + 1e-6);
    VT_ASSERT_CLOSE(w->grad, ((double[]){3 * s}), 1, 1e-6, 0);
    VT_ASSERT_CLOSE(w2->grad, ((double[]){0, -4 * s, 0}), 3, 1e-6, 0);
    /* by value: the optimizer's parameters */
    volt_tensor_clear_grad(w);
    volt_tensor_clear_grad(w2);
    loss = volt_add(volt_sum_all(volt_mul(volt_to_dtype(w, VOLT_F64), c)),
                    volt_sum_all(volt_mul(volt_to_dtype(w2, VOLT_F64), c2)));
    assert_int_equal(volt_fabric_backward(f, loss, NULL), VOLT_OK);
    assert_int_equal(volt_fabric_clip_gradients(f, NULL, opt, 2, 0, &norm), VOLT_OK);
    assert_true(isnan(norm));
    VT_ASSERT_CLOSE(w->grad, ((double[]){2}), 1, 0, 0);
    VT_ASSERT_CLOSE(w2->grad, ((double[]){0, -2, 0}), 3, 0, 0);
    /* a non-finite norm is an error (Lightning's error_if_nonfinite) */
    volt_fill_(w->grad, INFINITY);
    assert_int_not_equal(volt_fabric_clip_gradients(f, &m.base, NULL, 0, 1, &norm), VOLT_OK);
    VT_ASSERT_ERROR(volt_error_status(), "fabric: clip_gradients");
    volt_fabric_free(f);
    volt_optimizer_free(opt);
    volt_module_free(&m.base);
}

/* ----------------------------------------------------------- collectives */

static void test_collectives_with_one_rank(void **state) {
    (void)state;
    volt_fabric *f = launched(NULL);
    volt_tensor *t = volt_from_array((float[]){1, 2, 3}, VOLT_F32, VOLT_SHAPE(3));
    assert_int_equal(volt_fabric_all_reduce(f, t, VOLT_REDUCE_SUM), VOLT_OK);
    assert_int_equal(volt_fabric_all_reduce(f, t, VOLT_REDUCE_MEAN), VOLT_OK);
    assert_int_equal(volt_fabric_broadcast(f, t, 0), VOLT_OK);
    VT_ASSERT_CLOSE(t, ((double[]){1, 2, 3}), 3, 0, 0);
    volt_tensor *out = volt_zeros(VOLT_SHAPE(3), VOLT_F32);
    assert_int_equal(volt_fabric_all_gather(f, out, t), VOLT_OK);
    VT_ASSERT_CLOSE(out, ((double[]){1, 2, 3}), 3, 0, 0);
    assert_int_equal(volt_fabric_barrier(f), VOLT_OK);
    double v = 2.5;
    assert_int_equal(volt_fabric_all_reduce_double(f, &v, VOLT_REDUCE_MAX), VOLT_OK);
    assert_int_equal(volt_fabric_broadcast_double(f, &v, 0), VOLT_OK);
    assert_float_equal(v, 2.5, 0);
    /* the arguments are checked as with several ranks */
    assert_int_equal(volt_fabric_broadcast(f, t, 1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fabric: broadcast");
    volt_tensor *i = volt_from_array((int64_t[]){1, 2}, VOLT_I64, VOLT_SHAPE(2));
    assert_int_not_equal(volt_fabric_all_reduce(f, i, VOLT_REDUCE_MEAN), VOLT_OK);
    VT_ASSERT_ERROR(volt_error_status(), "fabric: all_reduce");
    assert_int_not_equal(volt_fabric_all_reduce(f, NULL, VOLT_REDUCE_SUM), VOLT_OK);
    VT_ASSERT_ERROR(volt_error_status(), "fabric: all_reduce");
    assert_int_equal(volt_fabric_all_reduce_double(f, NULL, VOLT_REDUCE_SUM),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "all_reduce_double: NULL value");
    volt_fabric_free(f);
}

/* ------------------------------------------------------------ checkpoints */

typedef struct {
    net m;
    volt_optimizer *opt;
    volt_lr_scheduler *sched;
    data d;
} run;

static void run_init(run *r, uint64_t seed) {
    net_init(&r->m, seed, 3);
    r->opt = sgd(&r->m);
    r->sched = volt_step_lr_new(r->opt, 2, 0.5);
    r->d = data_new();
}

static void run_free(run *r) {
    volt_lr_scheduler_free(r->sched);
    volt_optimizer_free(r->opt);
    data_free(&r->d);
    volt_module_free(&r->m.base);
}

/* `epochs` of N / B steps, the scheduler stepped after each. */
static void run_epochs(run *r, volt_fabric *f, int epochs) {
    for (int e = 0; e < epochs; e++) {
        train(&r->m, f, r->opt, r->d.dl, N / B);
        assert_int_equal(volt_lr_scheduler_step(r->sched), VOLT_OK);
    }
}

static volt_fabric_state state_of(run *r) {
    static volt_optimizer *opts[1];
    static volt_lr_scheduler *scheds[1];
    opts[0] = r->opt;
    scheds[0] = r->sched;
    return (volt_fabric_state){
        .module = &r->m.base, .n_optimizers = 1, .optimizers = opts, .schedulers = scheds};
}

static void test_save_load_resumes_exactly(void **state) {
    (void)state;
    const char *path = tmp("fabric/sub/run.ckpt");
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", path);
    run ref, a, b;
    run_init(&ref, 1);
    run_epochs(&ref, NULL, 3);

    volt_fabric *f = launched(NULL);
    run_init(&a, 1);
    volt_module_set_hparam_int(&a.m.base, "hidden", 3);
    assert_int_equal(volt_fabric_setup_module(f, &a.m.base), VOLT_OK);
    run_epochs(&a, f, 2);
    volt_fabric_state s = state_of(&a);
    s.epoch = 2;
    s.step = 2 * N / B;
    s.extra_json = "{\"best\": 0.5, \"note\": \"x\"}";
    assert_int_equal(volt_fabric_save(f, saved, &s), VOLT_OK);

    /* the trainer's checkpoint format */
    volt_checkpoint *ck = volt_checkpoint_open(saved);
    assert_non_null(ck);
    assert_int_equal(volt_checkpoint_epoch(ck), 2);
    assert_int_equal(volt_checkpoint_global_step(ck), 2 * N / B);
    assert_false(volt_checkpoint_weights_only(ck));
    assert_string_equal(volt_checkpoint_meta(ck, "fabric"), "{\"best\": 0.5, \"note\": \"x\"}");
    assert_string_equal(volt_checkpoint_meta(ck, "hparams"), "{\"hidden\":3}");
    assert_string_equal(volt_checkpoint_meta(ck, "world_size"), "1");
    volt_safetensors *file = volt_checkpoint_file(ck);
    assert_int_equal(volt_safetensors_info(file, "state_dict.fc1.weight", NULL, NULL, NULL),
                     VOLT_OK);
    assert_int_equal(
        volt_safetensors_info(file, "optimizer.0.fc2.bias.momentum_buffer", NULL, NULL, NULL),
        VOLT_OK);
    volt_checkpoint_close(ck);

    /* loaded into another run, which then goes on like the uninterrupted one */
    run_init(&b, 77);
    volt_fabric *g = launched(NULL);
    assert_int_equal(volt_fabric_setup_module(g, &b.m.base), VOLT_OK);
    volt_fabric_state l = state_of(&b);
    char *extra = NULL;
    assert_int_equal(volt_fabric_load(g, saved, &l, &extra), VOLT_OK);
    assert_int_equal(l.epoch, 2);
    assert_int_equal(l.step, 2 * N / B);
    assert_string_equal(extra, "{\"best\": 0.5, \"note\": \"x\"}");
    free(extra);
    assert_same_params(&b.m, &a.m, 0);
    assert_float_equal(volt_optimizer_lr(b.opt, 0), 0.025, 1e-15); /* StepLR restored */
    volt_data_loader_set_epoch(b.d.dl, 2);
    run_epochs(&b, g, 1);
    assert_same_params(&b.m, &ref.m, 0); /* momentum restored too: bit for bit */

    /* the weights alone, with the trainer's loader of checkpoints */
    net w;
    net_init(&w, 9, 3);
    assert_int_equal(volt_module_load_checkpoint(&w.base, saved, true, NULL), VOLT_OK);
    assert_same_params(&w, &a.m, 0);
    volt_module_free(&w.base);

    volt_fabric_free(f);
    volt_fabric_free(g);
    run_free(&ref);
    run_free(&a);
    run_free(&b);
}

static void test_save_load_errors(void **state) {
    (void)state;
    volt_fabric *f = launched(NULL);
    run r;
    run_init(&r, 1);
    char path[1024];
    snprintf(path, sizeof path, "%s", tmp("weights_only.ckpt"));
    /* a weights-only file */
    assert_int_equal(volt_fabric_save(f, path, &(volt_fabric_state){.module = &r.m.base}), VOLT_OK);
    assert_int_equal(volt_checkpoint_verify(path), VOLT_OK);
    volt_fabric_state s = state_of(&r);
    assert_int_equal(volt_fabric_load(f, path, &s, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "holds the state of 0 optimizers; 1 given");
    /* bad arguments */
    assert_int_equal(volt_fabric_save(f, "", &s), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "save: NULL or empty path");
    assert_int_equal(volt_fabric_save(f, path, &(volt_fabric_state){0}), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "no state or no module");
    assert_int_equal(
        volt_fabric_save(f, path, &(volt_fabric_state){.module = &r.m.base, .extra_json = "[1]"}),
        VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "extra_json is not a JSON object: [1]");
    assert_int_equal(
        volt_fabric_save(f, path, &(volt_fabric_state){.module = &r.m.base, .n_optimizers = 1}),
        VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "n_optimizers = 1 without an optimizers array");
    assert_int_equal(volt_checkpoint_verify(path), VOLT_OK); /* the file is intact */
    /* a missing file, another model */
    char *extra = (char *)"untouched";
    assert_int_not_equal(volt_fabric_load(f, tmp("missing.ckpt"), &s, &extra), VOLT_OK);
    VT_ASSERT_ERROR(volt_error_status(), "missing.ckpt");
    assert_null(extra);
    net other;
    net_init(&other, 1, 5);
    volt_status st = volt_fabric_load(f, path, &(volt_fabric_state){.module = &other.base}, NULL);
    assert_int_not_equal(st, VOLT_OK);
    VT_ASSERT_ERROR(st, "weights_only.ckpt: load_state_dict: the state dict does not match");
    /* an unwritable place */
    assert_int_equal(
        volt_fabric_save(f, "/proc/volt_fabric/x.ckpt", &(volt_fabric_state){.module = &r.m.base}),
        VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "/proc/volt_fabric");
    volt_module_free(&other.base);
    run_free(&r);
    volt_fabric_free(f);
}

/* ---------------------------------------------------------------- logging */

static char *read_text(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

/* setup_dataloaders with move_to_device: every delivered batch has been
 * through volt_fabric_to_device (here bf16-true's cast on the CPU: x in
 * bf16, its values rounded; y's f32 too), a loader set up without it
 * delivers f32; after the fabric is freed the hooked loader refuses by name
 * until its hook is removed; a hooked loader may also be freed first. */
static void test_dataloaders_move_batches(void **state) {
    (void)state;
    volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.precision = "bf16-true"});
    assert_non_null(f);
    assert_int_equal(volt_fabric_launch(f), VOLT_OK);
    data moved = data_new(), plain = data_new(), early = data_new();
    assert_int_equal(volt_fabric_setup_dataloaders(f, moved.dl, true, true), VOLT_OK);
    assert_int_equal(volt_fabric_setup_dataloaders(f, plain.dl, true, false), VOLT_OK);
    assert_int_equal(volt_fabric_setup_dataloaders(f, early.dl, false, true), VOLT_OK);
    volt_batch a, b;
    assert_true(volt_data_loader_next(moved.dl, &a));
    assert_true(volt_data_loader_next(plain.dl, &b));
    assert_int_equal(a.x->dtype, VOLT_BF16);
    assert_int_equal(a.y->dtype, VOLT_BF16);
    assert_int_equal(b.x->dtype, VOLT_F32);
    /* the same items (same seed), x rounded to bf16 */
    for (int64_t i = 0; i < volt_tensor_numel(b.x); i++) {
        double want = volt_tensor_get_flat(b.x, i);
        assert_true(fabs(volt_tensor_get_flat(a.x, i) - want) <= fabs(want) / 128);
    }
    data_free(&early); /* before the fabric: its hook is released with it */
    volt_fabric_free(f);
    assert_false(volt_data_loader_next(moved.dl, &a));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "a fabric that was freed");
    volt_data_loader_set_hook(moved.dl, NULL, NULL, NULL);
    assert_true(volt_data_loader_next(moved.dl, &a));
    assert_int_equal(a.x->dtype, VOLT_F32);
    data_free(&moved);
    data_free(&plain);
}

static void test_log_writes_csv(void **state) {
    (void)state;
    char root[1024];
    snprintf(root, sizeof root, "%s", tmp("fabric_logs"));
    volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.root_dir = root});
    assert_int_equal(volt_fabric_launch(f), VOLT_OK);
    assert_null(volt_fabric_log_dir(f)); /* nothing logged yet */
    assert_int_equal(volt_fabric_log(f, "loss", 0.5, 0), VOLT_OK);
    assert_int_equal(volt_fabric_log_dict(f, 2, (const char *const[]){"loss", "acc"},
                                          (const double[]){0.25, 0.75}, -1),
                     VOLT_OK);
    assert_int_equal(volt_fabric_log(f, "acc", 0.875, 7), VOLT_OK);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", volt_fabric_log_dir(f));
    assert_non_null(strstr(dir, "fabric_logs/volt_logs/version_"));
    volt_fabric_free(f); /* writes the file */
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    const char *csv = read_text(path);
    assert_non_null(csv);
    print_message("%s", csv);
    assert_string_equal(csv, "acc,loss,step\n,0.5,0\n0.75,0.25,1\n0.875,,7\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_options_refused),
        VT_TEST(test_autocast),
        VT_TEST(test_launch_one_process),
        VT_TEST(test_launch_refusals),
        VT_TEST(test_calls_before_launch),
        VT_TEST(test_bad_arguments),
        VT_TEST(test_loop_equals_plain_loop),
        VT_TEST(test_no_backward_sync_accumulates),
        VT_TEST(test_clip_gradients),
        VT_TEST(test_collectives_with_one_rank),
        VT_TEST(test_save_load_resumes_exactly),
        VT_TEST(test_save_load_errors),
        VT_TEST(test_dataloaders_move_batches),
        VT_TEST(test_log_writes_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
