/* test_cuda_optim.c (needs a GPU; skipped without one): the optimizers'
 * multi-tensor CUDA updates and gradient clipping against the CPU's on the
 * same parameters and gradients — every optimizer (SGD with each option,
 * Adam, AdamW, amsgrad, RMSprop, Adagrad, Lion) in f32, f64 and bf16 over
 * parameters of 1, 7, 33x65 and (f32) 1000003 elements, in two groups,
 * for several steps, one parameter skipping a step; the state dict moved
 * CUDA -> CPU -> CUDA mid-run; clip_grad_norm (orders 1, 2, 3, inf) and
 * clip_grad_value; compensated updates of bf16 parameters (their
 * compensations compared as state); f16 parameters and gradients (precision "16-true")
 * against the CPU's f32 updates of the same numbers; and refusals naming
 * the optimizer. The kernels do the
 * CPU's operations in the same order without fused multiply-adds, so the
 * tolerances (f32 1e-6 relative, bf16 1e-2, f64 1e-12) are margins: the
 * values are expected to be equal. The norm sums in another order than the
 * CPU (per block, then a tree): 1e-12 relative. */
#include "cuda_test.h"

static volt_generator gen;

static volt_tensor *gpu(const volt_tensor *t) { return volt_to_device(t, VT_CUDA0); }

static volt_tensor *randn_of(int ndim, const int64_t *shape, volt_dtype dtype, double scale) {
    return volt_to_dtype(volt_mul_scalar(volt_randn(ndim, shape, VOLT_F64, &gen), scale), dtype);
}

static double rtol_of(volt_dtype d) { return d == VOLT_BF16 ? 1e-2 : d == VOLT_F32 ? 1e-6 : 1e-12; }

#define N_PARAMS 4

/* The same parameters on the CPU and on cuda:0 (caller-owned leaves). */
typedef struct {
    int n;
    volt_tensor *cpu[N_PARAMS], *dev[N_PARAMS];
} twin_params;

static void twins_make(twin_params *tp, volt_dtype dtype, bool big) {
    const int64_t sizes[N_PARAMS][2] = {{1, 1}, {7, 1}, {33, 65}, {1000003, 1}};
    tp->n = big ? 4 : 3;
    for (int i = 0; i < tp->n; i++) {
        int ndim = sizes[i][1] == 1 ? 1 : 2;
        volt_tensor *x = randn_of(ndim, sizes[i], dtype, 1.0);
        tp->cpu[i] = volt_requires_grad(volt_persist(volt_clone(x)), true);
        tp->dev[i] = volt_requires_grad(volt_persist(gpu(x)), true);
    }
}

static void twins_free(twin_params *tp) {
    for (int i = 0; i < tp->n; i++) {
        volt_tensor_free(tp->cpu[i]);
        volt_tensor_free(tp->dev[i]);
    }
}

/* Gives parameter i of both the same random gradient (none when skip). */
static void twins_grad(twin_params *tp, int i, bool skip) {
    volt_tensor_clear_grad(tp->cpu[i]);
    volt_tensor_clear_grad(tp->dev[i]);
    if (skip) return;
    volt_tensor *g = randn_of(tp->cpu[i]->ndim, tp->cpu[i]->shape, tp->cpu[i]->dtype, 0.5);
    tp->cpu[i]->grad = volt_persist(volt_clone(g));
    tp->dev[i]->grad = volt_persist(gpu(g));
}

static void assert_twins_equal(const twin_params *tp, const char *what) {
    for (int i = 0; i < tp->n; i++)
        VT_ASSERT_SAME_VALUES(tp->dev[i], tp->cpu[i], rtol_of(tp->cpu[i]->dtype), 1e-30, what);
}

/* The state slots of both optimizers hold the same values. */
static void assert_states_equal(volt_optimizer *a, volt_optimizer *b, volt_dtype dtype,
                                const char *what) {
    char *ja = NULL, *jb = NULL;
    volt_state_dict *sa = volt_optimizer_state_dict(a, &ja);
    volt_state_dict *sb = volt_optimizer_state_dict(b, &jb);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_int_equal(sa->count, sb->count);
    for (int64_t k = 0; k < sa->count; k++) {
        assert_string_equal(sa->names[k], sb->names[k]);
        assert_true(volt_device_equal(sb->tensors[k]->device, VT_CUDA0));
        VT_ASSERT_SAME_VALUES(sb->tensors[k], sa->tensors[k], rtol_of(dtype), 1e-30, what);
    }
    volt_state_dict_free(sa);
    volt_state_dict_free(sb);
    free(ja);
    free(jb);
}

/* ---------------------------------------------------- every optimizer */

typedef volt_optimizer *(*make_fn)(volt_params p, int variant);

static volt_optimizer *make_sgd(volt_params p, int v) {
    volt_sgd_options o = {.lr = 0.1};
    if (v == 1) o.momentum = 0.9;
    if (v == 2)
        o = (volt_sgd_options){
            .lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.01, .maximize = true};
    if (v == 3)
        o = (volt_sgd_options){.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.1};
    return volt_sgd_new(p, &o);
}

static volt_optimizer *make_adam(volt_params p, int v) {
    volt_adam_options o = {.lr = 0.01};
    if (v == 1) o = (volt_adam_options){.lr = 0.02, .weight_decay = 0.1, .amsgrad = true};
    if (v == 2) o = (volt_adam_options){.lr = 0.01, .beta1 = 0.5, .eps = 1e-6, .maximize = true};
    return volt_adam_new(p, &o);
}

static volt_optimizer *make_adamw(volt_params p, int v) {
    volt_adam_options o = {.lr = 0.01};
    if (v == 1) o = (volt_adam_options){.lr = 0.02, .weight_decay = 0.3, .amsgrad = true};
    return volt_adamw_new(p, &o);
}

static volt_optimizer *make_rmsprop(volt_params p, int v) {
    volt_rmsprop_options o = {.lr = 0.01};
    if (v == 1)
        o = (volt_rmsprop_options){
            .lr = 0.01, .momentum = 0.9, .centered = true, .weight_decay = 0.05};
    return volt_rmsprop_new(p, &o);
}

static volt_optimizer *make_adagrad(volt_params p, int v) {
    volt_adagrad_options o = {.lr = 0.1};
    if (v == 1)
        o = (volt_adagrad_options){
            .lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.1, .initial_accumulator_value = 0.5};
    return volt_adagrad_new(p, &o);
}

static volt_optimizer *make_lion(volt_params p, int v) {
    volt_lion_options o = {.lr = 0.001};
    if (v == 1) o = (volt_lion_options){.lr = 0.001, .weight_decay = 0.5, .maximize = true};
    return volt_lion_new(p, &o);
}

static const struct {
    const char *name;
    make_fn make;
    int variants;
} optimizers[] = {
    {"SGD", make_sgd, 4},         {"Adam", make_adam, 3},       {"AdamW", make_adamw, 2},
    {"RMSprop", make_rmsprop, 2}, {"Adagrad", make_adagrad, 2}, {"Lion", make_lion, 2},
};

/* Parameters 0..1 in group 0, the others in group 1 (half the lr where the
 * options have one). */
static volt_optimizer *make_grouped(make_fn make, int variant, volt_tensor *const *params, int n) {
    volt_optimizer *opt = make((volt_params){2, params, NULL}, variant);
    if (!opt) return NULL;
    volt_params rest = {n - 2, params + 2, NULL};
    if (volt_optimizer_add_param_group(opt, rest, NULL) != VOLT_OK) return NULL;
    volt_optimizer_set_lr(opt, 1, volt_optimizer_lr(opt, 0) / 2);
    return opt;
}

static void run_pair(make_fn make, int variant, volt_dtype dtype, bool big, bool compensated,
                     const char *what) {
    twin_params tp;
    twins_make(&tp, dtype, big);
    volt_optimizer *oc = make_grouped(make, variant, tp.cpu, tp.n);
    volt_optimizer *og = make_grouped(make, variant, tp.dev, tp.n);
    assert_non_null(oc);
    assert_non_null(og);
    assert_int_equal(volt_optimizer_set_compensated(oc, compensated), VOLT_OK);
    assert_int_equal(volt_optimizer_set_compensated(og, compensated), VOLT_OK);
    for (int step = 0; step < 4; step++) {
        volt_scope_begin();
        for (int i = 0; i < tp.n; i++) twins_grad(&tp, i, step == 1 && i == 1);
        assert_int_equal(volt_optimizer_step(oc), VOLT_OK);
        assert_int_equal(volt_optimizer_step(og), VOLT_OK);
        VT_ASSERT_NO_ERROR();
        assert_twins_equal(&tp, what);
        volt_scope_end();
    }
    assert_states_equal(oc, og, dtype, what);
    volt_optimizer_free(oc);
    volt_optimizer_free(og);
    twins_free(&tp);
}

static void test_optimizers_match_cpu(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16};
    char what[96];
    for (size_t o = 0; o < sizeof optimizers / sizeof optimizers[0]; o++)
        for (int v = 0; v < optimizers[o].variants; v++)
            for (size_t d = 0; d < 3; d++) {
                snprintf(what, sizeof what, "%s variant %d %s", optimizers[o].name, v,
                         volt_dtype_name(dtypes[d]));
                run_pair(optimizers[o].make, v, dtypes[d], false, false, what);
            }
}

/* Compensated updates (volt_optimizer_set_compensated) of bf16 parameters:
 * parameters and states, the compensations among them, as the CPU's. */
static void test_compensated_match_cpu(void **state) {
    (void)state;
    char what[96];
    for (size_t o = 0; o < sizeof optimizers / sizeof optimizers[0]; o++)
        for (int v = 0; v < optimizers[o].variants; v++) {
            snprintf(what, sizeof what, "%s variant %d bf16 compensated", optimizers[o].name, v);
            run_pair(optimizers[o].make, v, VOLT_BF16, false, true, what);
        }
    run_pair(make_sgd, 1, VOLT_BF16, true, true, "SGD momentum bf16 compensated, large");
}

/* The big parameter: many blocks, vector loads and a tail. */
static void test_large_parameter(void **state) {
    (void)state;
    run_pair(make_sgd, 1, VOLT_F32, true, false, "SGD momentum, 1000003 elements");
    run_pair(make_adamw, 0, VOLT_F32, true, false, "AdamW, 1000003 elements");
    run_pair(make_adam, 1, VOLT_BF16, true, false, "Adam amsgrad bf16, 1000003 elements");
}

/* f16 parameters (precision "16-true") have no CPU update to match: each
 * optimizer's f16 CUDA update is held to the CPU's f32 update of the same
 * values and gradients (f16 numbers widened), 4 steps. The kernel computes
 * in f32 and rounds each stored value to f16 (2^-11 relative), so the two
 * part by a few such roundings: 4e-3 relative, 1e-3 absolute (values near
 * zero, Adam's early steps of about lr). */
static void run_f16(make_fn make, int variant, const char *what) {
    twin_params tp;
    twins_make(&tp, VOLT_F16, false);
    for (int i = 0; i < tp.n; i++) { /* the CPU twin in f32 */
        volt_tensor *wide = volt_to_dtype(tp.cpu[i], VOLT_F32);
        volt_tensor_free(tp.cpu[i]);
        tp.cpu[i] = volt_requires_grad(volt_persist(volt_clone(wide)), true);
    }
    volt_optimizer *oc = make_grouped(make, variant, tp.cpu, tp.n);
    volt_optimizer *og = make_grouped(make, variant, tp.dev, tp.n);
    assert_non_null(oc);
    assert_non_null(og);
    for (int step = 0; step < 4; step++) {
        volt_scope_begin();
        for (int i = 0; i < tp.n; i++) {
            volt_tensor_clear_grad(tp.cpu[i]);
            volt_tensor_clear_grad(tp.dev[i]);
            volt_tensor *g = randn_of(tp.dev[i]->ndim, tp.dev[i]->shape, VOLT_F16, 0.5);
            tp.cpu[i]->grad = volt_persist(volt_to_dtype(g, VOLT_F32));
            tp.dev[i]->grad = volt_persist(gpu(g));
        }
        assert_int_equal(volt_optimizer_step(oc), VOLT_OK);
        assert_int_equal(volt_optimizer_step(og), VOLT_OK);
        VT_ASSERT_NO_ERROR();
        for (int i = 0; i < tp.n; i++) {
            assert_int_equal(tp.dev[i]->dtype, VOLT_F16);
            VT_ASSERT_SAME_VALUES(tp.dev[i], tp.cpu[i], 4e-3, 1e-3, what);
        }
        volt_scope_end();
    }
    volt_optimizer_free(oc);
    volt_optimizer_free(og);
    twins_free(&tp);
}

static void test_f16_parameters(void **state) {
    (void)state;
    char what[96];
    for (size_t o = 0; o < sizeof optimizers / sizeof optimizers[0]; o++)
        for (int v = 0; v < optimizers[o].variants; v++) {
            snprintf(what, sizeof what, "%s variant %d f16", optimizers[o].name, v);
            run_f16(optimizers[o].make, v, what);
        }
}

/* ------------------------------------------------------ state across devices */

static void set_all_grads(twin_params *tp) {
    for (int i = 0; i < tp->n; i++) twins_grad(tp, i, false);
}

static void test_state_dict_across_devices(void **state) {
    (void)state;
    twin_params tp;
    twins_make(&tp, VOLT_F32, false);
    volt_optimizer *og = make_grouped(make_adamw, 1, tp.dev, tp.n);
    volt_optimizer *oc = make_grouped(make_adamw, 1, tp.cpu, tp.n);
    for (int s = 0; s < 2; s++) {
        set_all_grads(&tp);
        assert_int_equal(volt_optimizer_step(og), VOLT_OK);
        assert_int_equal(volt_optimizer_step(oc), VOLT_OK);
    }
    /* CUDA state -> a fresh CPU optimizer over the CPU parameters. */
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(og, &json);
    assert_non_null(sd);
    assert_true(volt_device_equal(sd->tensors[0]->device, VT_CUDA0));
    volt_optimizer *oc2 = make_grouped(make_adamw, 1, tp.cpu, tp.n);
    volt_optimizer_free(oc);
    assert_int_equal(volt_optimizer_load_state_dict(oc2, sd, json), VOLT_OK);
    volt_state_dict_free(sd);
    free(json);
    char *jc = NULL;
    volt_state_dict *sc = volt_optimizer_state_dict(oc2, &jc);
    assert_int_equal(sc->tensors[0]->device.type, VOLT_CPU);
    /* ... and back: the CPU state -> a fresh CUDA optimizer. */
    volt_optimizer *og2 = make_grouped(make_adamw, 1, tp.dev, tp.n);
    volt_optimizer_free(og);
    assert_int_equal(volt_optimizer_load_state_dict(og2, sc, jc), VOLT_OK);
    assert_int_equal(volt_optimizer_step_count(og2), 2);
    volt_state_dict_free(sc);
    free(jc);
    for (int s = 0; s < 3; s++) {
        volt_scope_begin();
        set_all_grads(&tp);
        assert_int_equal(volt_optimizer_step(og2), VOLT_OK);
        assert_int_equal(volt_optimizer_step(oc2), VOLT_OK);
        assert_twins_equal(&tp, "resumed across devices");
        volt_scope_end();
    }
    assert_states_equal(oc2, og2, VOLT_F32, "resumed state");
    volt_optimizer_free(oc2);
    volt_optimizer_free(og2);
    twins_free(&tp);
}

/* ------------------------------------------------------------ clipping */

static void test_clip_grad_norm(void **state) {
    (void)state;
    const double orders[] = {2, 1, 3, INFINITY};
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_BF16, VOLT_F64};
    for (size_t d = 0; d < 3; d++)
        for (size_t k = 0; k < 4; k++) {
            volt_scope_begin();
            twin_params tp;
            twins_make(&tp, dtypes[d], dtypes[d] == VOLT_F32);
            set_all_grads(&tp);
            volt_tensor_clear_grad(tp.cpu[1]); /* one without a gradient */
            volt_tensor_clear_grad(tp.dev[1]);
            double want =
                volt_clip_grad_norm((volt_params){tp.n, tp.cpu, NULL}, 0.5, orders[k], false);
            double got =
                volt_clip_grad_norm((volt_params){tp.n, tp.dev, NULL}, 0.5, orders[k], false);
            VT_ASSERT_NO_ERROR();
            assert_true(want > 0.5);
            assert_true(fabs(got - want) <= 1e-12 * want);
            for (int i = 0; i < tp.n; i++)
                if (tp.cpu[i]->grad)
                    VT_ASSERT_SAME_VALUES(tp.dev[i]->grad, tp.cpu[i]->grad, rtol_of(dtypes[d]),
                                          1e-30, "clipped gradient");
            /* Under max_norm: untouched. */
            double again =
                volt_clip_grad_norm((volt_params){tp.n, tp.dev, NULL}, 1e9, orders[k], false);
            assert_true(fabs(again - 0.5) <= 1e-2);
            twins_free(&tp);
            volt_scope_end();
        }
}

/* f16 gradients: the norm in f64 of the same numbers as the CPU's f32
 * copies (equal to 1e-12), the scaled values rounded to f16. */
static void test_clip_grad_norm_f16(void **state) {
    (void)state;
    const double orders[] = {2, 1, INFINITY};
    for (size_t k = 0; k < 3; k++) {
        volt_scope_begin();
        twin_params tp;
        twins_make(&tp, VOLT_F16, false);
        volt_tensor *wide[N_PARAMS];
        for (int i = 0; i < tp.n; i++) {
            volt_tensor *g = randn_of(tp.dev[i]->ndim, tp.dev[i]->shape, VOLT_F16, 0.5);
            tp.dev[i]->grad = volt_persist(gpu(g));
            wide[i] = volt_requires_grad(volt_to_dtype(g, VOLT_F32), true);
            wide[i]->grad = volt_persist(volt_to_dtype(g, VOLT_F32));
        }
        double want = volt_clip_grad_norm((volt_params){tp.n, wide, NULL}, 0.5, orders[k], false);
        double got = volt_clip_grad_norm((volt_params){tp.n, tp.dev, NULL}, 0.5, orders[k], false);
        VT_ASSERT_NO_ERROR();
        assert_true(want > 0.5);
        assert_true(fabs(got - want) <= 1e-12 * want);
        for (int i = 0; i < tp.n; i++) {
            assert_int_equal(tp.dev[i]->grad->dtype, VOLT_F16);
            VT_ASSERT_SAME_VALUES(tp.dev[i]->grad, wide[i]->grad, 1e-3, 1e-7, "clipped f16");
            volt_tensor_clear_grad(wide[i]);
        }
        assert_int_equal(volt_clip_grad_value((volt_params){tp.n, tp.dev, NULL}, 0.01), VOLT_OK);
        for (int i = 0; i < tp.n; i++)
            assert_true(volt_tensor_item(volt_max_all(volt_abs(tp.dev[i]->grad))) <= 0.01);
        twins_free(&tp);
        volt_scope_end();
    }
}

static void test_clip_grad_norm_nonfinite(void **state) {
    (void)state;
    volt_tensor *p =
        volt_requires_grad(volt_persist(gpu(volt_zeros(VOLT_SHAPE(5), VOLT_F32))), true);
    double v[5] = {1, NAN, 2, 3, 4};
    p->grad =
        volt_persist(gpu(volt_to_dtype(volt_from_array(v, VOLT_F64, VOLT_SHAPE(5)), VOLT_F32)));
    double t = volt_clip_grad_norm((volt_params){1, &p, NULL}, 1.0, INFINITY, true);
    assert_true(isnan(t));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "clip_grad_norm: the total norm of order inf");
    assert_true(volt_tensor_get_flat(p->grad, 0) == 1.0); /* left as it was */
    volt_tensor_free(p);
}

static void test_clip_grad_value(void **state) {
    (void)state;
    twin_params tp;
    twins_make(&tp, VOLT_F32, true);
    set_all_grads(&tp);
    assert_int_equal(volt_clip_grad_value((volt_params){tp.n, tp.cpu, NULL}, 0.3), VOLT_OK);
    assert_int_equal(volt_clip_grad_value((volt_params){tp.n, tp.dev, NULL}, 0.3), VOLT_OK);
    for (int i = 0; i < tp.n; i++)
        VT_ASSERT_SAME_VALUES(tp.dev[i]->grad, tp.cpu[i]->grad, 0, 0, "clamped gradient");
    twins_free(&tp);
}

/* ------------------------------------------------------------ refusals */

static void test_refusals(void **state) {
    (void)state;
    volt_tensor *h = volt_persist(gpu(volt_zeros(VOLT_SHAPE(3), VOLT_I32)));
    assert_null(volt_adamw_new((volt_params){1, &h, NULL}, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "AdamW: parameter 0 (i32[3]");
    volt_tensor_free(h);

    /* A CUDA parameter with a CPU gradient. */
    volt_tensor *p =
        volt_requires_grad(volt_persist(gpu(volt_zeros(VOLT_SHAPE(3), VOLT_F32))), true);
    p->grad = volt_persist(volt_ones(VOLT_SHAPE(3), VOLT_F32));
    volt_optimizer *opt = volt_sgd_new((volt_params){1, &p, NULL}, &(volt_sgd_options){.lr = 1});
    assert_int_equal(volt_optimizer_step(opt), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "SGD: parameter 0 f32[3]");
    assert_true(volt_tensor_get_flat(p, 0) == 0.0);
    volt_optimizer_free(opt);

    /* A non-contiguous CUDA gradient is refused by clipping, by name. */
    volt_tensor_clear_grad(p);
    volt_tensor *m = volt_persist(gpu(volt_zeros(VOLT_SHAPE(3, 2), VOLT_F32)));
    volt_tensor *q =
        volt_requires_grad(volt_persist(gpu(volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32))), true);
    q->grad = volt_persist(volt_transpose(m, 0, 1));
    assert_true(isnan(volt_clip_grad_norm((volt_params){1, &q, NULL}, 1, 2, false)));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "clip_grad_norm: no CUDA kernel yet");
    volt_tensor_free(m);
    volt_tensor_free(q);
    volt_tensor_free(p);
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_optim");
    gen = volt_generator_make(2026, 11);
    /* The pinned-memory cache and the allocator warm up before the tests
     * count device memory. */
    volt_tensor *w = volt_pin_memory(volt_zeros(VOLT_SHAPE(4), VOLT_F32));
    volt_tensor_free(w);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_optimizers_match_cpu),      VT_CUDA_TEST(test_compensated_match_cpu),
        VT_CUDA_TEST(test_large_parameter),           VT_CUDA_TEST(test_f16_parameters),
        VT_CUDA_TEST(test_state_dict_across_devices), VT_CUDA_TEST(test_clip_grad_norm),
        VT_CUDA_TEST(test_clip_grad_norm_f16),        VT_CUDA_TEST(test_clip_grad_norm_nonfinite),
        VT_CUDA_TEST(test_clip_grad_value),           VT_CUDA_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
