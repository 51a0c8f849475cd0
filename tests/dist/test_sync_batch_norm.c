/* test_sync_batch_norm.c: synchronized batch norm in one process (the
 * "single" backend): volt_sync_batch_norm is exactly volt_batch_norm at
 * world size 1; its synchronized path (all_gather of the statistics,
 * all_reduce of the gradient sums) matches plain batch norm in f32 and
 * f64, passes gradcheck, updates the running statistics like it; eval mode
 * never goes through the layers' train_fn; volt_sync_batch_norm_convert
 * with NULL (or a one-rank group) restores plain batch norm; bad input
 * gives clear errors. The two-rank case is test_mpi_sync_batch_norm.c. */
#include "volt_test.h"

#include <math.h>
#include <stdlib.h>

#include <volt/dist.h>

#include "dist/sync_batch_norm_impl.h"

static volt_process_group *pg;

static int group_setup(void **state) {
    (void)state;
    pg = volt_process_group_new("single", NULL);
    return pg ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    volt_process_group_free(pg);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* A tensor of dtype dt with element i = sin(0.7 i + seed) * scale + shift
 * (+ 3 * channel, so that channels differ), requiring grad when asked. */
static bool round_to_f32; /* make(): f64 tensors hold f32-rounded values */

static volt_tensor *make(volt_dtype dt, int ndim, const int64_t *shape, double seed, double scale,
                         double shift, bool grad) {
    int64_t n = numel_of(ndim, shape), inner = ndim > 2 ? numel_of(ndim - 2, shape + 2) : 1;
    int64_t c = ndim > 1 ? shape[1] : 1;
    double *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = sin(0.7 * (double)i + seed) * scale + shift + 3.0 * (double)((i / inner) % c);
    for (int64_t i = 0; round_to_f32 && i < n; i++) v[i] = (float)v[i];
    volt_tensor *t = volt_from_array(v, VOLT_F64, ndim, shape);
    free(v);
    if (dt != VOLT_F64) t = volt_to_dtype(t, dt);
    return grad ? volt_requires_grad(t, true) : t;
}

/* Asserts a and b hold the same values, bit for bit (as doubles). */
static void assert_same(const volt_tensor *a, const volt_tensor *b) {
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(volt_tensor_numel(a), volt_tensor_numel(b));
    for (int64_t i = 0; i < volt_tensor_numel(a); i++)
        assert_true(volt_tensor_get_flat(a, i) == volt_tensor_get_flat(b, i));
}

/* Asserts a is within atol + rtol |b| of b element-wise. */
static void assert_near(const volt_tensor *a, const volt_tensor *b, double rtol, double atol) {
    assert_non_null(a);
    assert_non_null(b);
    int64_t n = volt_tensor_numel(b);
    assert_int_equal(volt_tensor_numel(a), n);
    double *e = malloc((size_t)n * sizeof *e);
    for (int64_t i = 0; i < n; i++) e[i] = volt_tensor_get_flat(b, i);
    VT_ASSERT_CLOSE(a, e, n, rtol, atol);
    free(e);
}

/* One batch norm problem: inputs, running statistics, and what the op
 * gave (output, gradients). */
typedef struct {
    volt_tensor *x, *w, *b, *rm, *rv, *y;
} problem;

static problem make_problem(volt_dtype dt, int ndim, const int64_t *shape) {
    int64_t c = shape[1];
    problem p = {0};
    p.x = make(dt, ndim, shape, 0.3, 1.5, 0.25, true);
    p.w = make(dt, 1, &c, 1.1, 0.5, 1.0, true);
    p.b = make(dt, 1, &c, 2.2, 0.5, -0.5, true);
    p.rm = make(dt, 1, &c, 3.3, 0.2, 0.0, false);
    p.rv = make(dt, 1, &c, 4.4, 0.2, 1.0, false);
    return p;
}

/* Backward of sum(y * r) for a fixed r. */
static void backward_weighted(const volt_tensor *y) {
    volt_tensor *r = make(y->dtype, y->ndim, y->shape, 5.5, 1.0, 0.0, false);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(y, r))), VOLT_OK);
}

/* Step 0 runs on x, step 1 on x times 2, -0.5 or 1 by element (exact in
 * f32, and not a scaling: batch norm would undo that). */
static volt_tensor *step_input(volt_tensor *x, int step) {
    if (step == 0) return x;
    int64_t n = volt_tensor_numel(x);
    double *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    for (int64_t i = 0; i < n; i++) f[i] = i % 3 == 0 ? 2.0 : i % 3 == 1 ? -0.5 : 1.0;
    volt_tensor *t = volt_to_dtype(volt_from_array(f, VOLT_F64, x->ndim, x->shape), x->dtype);
    free(f);
    return volt_mul(x, t);
}

typedef enum { VIA_PUBLIC_OP, VIA_SYNC_PATH, VIA_PLAIN } via;

/* Two training steps of one problem through `how`, with backward. */
static problem run(volt_dtype dt, int ndim, const int64_t *shape, via how) {
    problem p = make_problem(dt, ndim, shape);
    for (int step = 0; step < 2; step++) {
        volt_tensor *x = step_input(p.x, step);
        double momentum = step == 0 ? 0.1 : 0.3;
        if (how == VIA_PUBLIC_OP)
            p.y = volt_sync_batch_norm(pg, x, p.rm, p.rv, p.w, p.b, true, momentum, 1e-5);
        else if (how == VIA_SYNC_PATH)
            p.y = volt_sync_batch_norm_train(pg, x, p.rm, p.rv, p.w, p.b, momentum, 1e-5);
        else
            p.y = volt_batch_norm(x, p.rm, p.rv, p.w, p.b, true, momentum, 1e-5);
        assert_non_null(p.y);
        backward_weighted(p.y);
    }
    return p;
}

static const int64_t SHAPE4[4] = {5, 3, 2, 3};
static const int64_t SHAPE2[2] = {7, 4};

/* ------------------------------------------------------------------ tests */

static void test_one_rank_is_plain_batch_norm_exactly(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        volt_dtype dt = d ? VOLT_F64 : VOLT_F32;
        for (int k = 0; k < 2; k++) {
            int ndim = k ? 2 : 4;
            const int64_t *shape = k ? SHAPE2 : SHAPE4;
            problem a = run(dt, ndim, shape, VIA_PUBLIC_OP), b = run(dt, ndim, shape, VIA_PLAIN);
            assert_same(a.y, b.y);
            assert_same(a.rm, b.rm);
            assert_same(a.rv, b.rv);
            assert_same(a.x->grad, b.x->grad);
            assert_same(a.w->grad, b.w->grad);
            assert_same(a.b->grad, b.b->grad);
        }
    }
    /* pg NULL too. */
    problem p = make_problem(VOLT_F64, 4, SHAPE4);
    volt_tensor *y1 = volt_sync_batch_norm(NULL, p.x, NULL, NULL, p.w, p.b, true, 0.1, 1e-5);
    volt_tensor *y2 = volt_batch_norm(p.x, NULL, NULL, p.w, p.b, true, 0.1, 1e-5);
    assert_same(y1, y2);
}

/* The all_gather / all_reduce path itself, at world size 1: the same
 * formulas as the reference kernels, so f64 agrees to rounding. In f32 the
 * reference is plain batch norm in f64 on the same (f32) values: the sync
 * path computes in double, more precisely than plain f32's fused kernels
 * (whose input gradients have absolute errors of a few 1e-6 here). */
static void test_sync_path_matches_plain(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        volt_dtype dt = d ? VOLT_F64 : VOLT_F32;
        double rtol = d ? 1e-12 : 1e-5, atol = d ? 1e-12 : 1e-6;
        for (int k = 0; k < 2; k++) {
            int ndim = k ? 2 : 4;
            const int64_t *shape = k ? SHAPE2 : SHAPE4;
            round_to_f32 = true;
            problem a = run(dt, ndim, shape, VIA_SYNC_PATH);
            problem b = run(VOLT_F64, ndim, shape, VIA_PLAIN);
            round_to_f32 = false;
            assert_string_equal(volt_grad_fn_name(a.y), "sync_batch_norm");
            assert_near(a.y, b.y, rtol, atol);
            assert_near(a.rm, b.rm, rtol, atol);
            assert_near(a.rv, b.rv, rtol, atol);
            assert_near(a.x->grad, b.x->grad, rtol, atol);
            assert_near(a.w->grad, b.w->grad, rtol, atol);
            assert_near(a.b->grad, b.b->grad, rtol, atol);
        }
    }
}

/* Hand-computed: channel 0 holds 1, 2, 3, 6 (mean 3, biased variance 3.5,
 * unbiased 14/3); channel 1 holds 0, 0, 4, 4 (mean 2, variance 4). */
static void test_sync_path_values_by_hand(void **state) {
    (void)state;
    volt_tensor *x =
        volt_from_array((double[]){1, 0, 2, 0, 3, 4, 6, 4}, VOLT_F64, 2, (int64_t[]){4, 2});
    volt_tensor *rm = volt_zeros(1, (int64_t[]){2}, VOLT_F64);
    volt_tensor *rv = volt_ones(1, (int64_t[]){2}, VOLT_F64);
    volt_tensor *y = volt_sync_batch_norm_train(pg, x, rm, rv, NULL, NULL, 0.5, 0.0);
    double s0 = sqrt(3.5);
    VT_ASSERT_CLOSE(y, ((double[]){-2 / s0, -1, -1 / s0, -1, 0, 1, 3 / s0, 1}), 8, 1e-12, 0);
    VT_ASSERT_CLOSE(rm, ((double[]){1.5, 1.0}), 2, 1e-12, 0);
    VT_ASSERT_CLOSE(rv, ((double[]){0.5 + 0.5 * 14.0 / 3.0, 0.5 + 0.5 * 16.0 / 3.0}), 2, 1e-12, 0);
}

static volt_tensor *sync_fn(volt_tensor **in, void *ctx) {
    bool affine = *(bool *)ctx;
    return volt_sync_batch_norm_train(pg, in[0], NULL, NULL, affine ? in[1] : NULL,
                                      affine ? in[2] : NULL, 0.1, 1e-5);
}

static void test_gradcheck_f64(void **state) {
    (void)state;
    bool affine = true;
    problem p = make_problem(VOLT_F64, 4, (int64_t[]){3, 2, 2, 2});
    VT_GRADCHECK(sync_fn, &affine, 3, p.x, p.w, p.b);
    p = make_problem(VOLT_F64, 2, (int64_t[]){5, 3});
    VT_GRADCHECK(sync_fn, &affine, 3, p.x, p.w, p.b);
    affine = false;
    p = make_problem(VOLT_F64, 3, (int64_t[]){2, 3, 4});
    VT_GRADCHECK(sync_fn, &affine, 1, p.x);
    /* Only the weight and bias need gradients: no all_reduce, same values. */
    affine = true;
    p = make_problem(VOLT_F64, 2, (int64_t[]){4, 3});
    volt_requires_grad(p.x, false);
    VT_GRADCHECK(sync_fn, &affine, 3, p.x, p.w, p.b);
}

static void test_eval_mode_is_plain(void **state) {
    (void)state;
    problem p = make_problem(VOLT_F32, 4, SHAPE4);
    volt_tensor *y1 = volt_sync_batch_norm(pg, p.x, p.rm, p.rv, p.w, p.b, false, 0.1, 1e-5);
    volt_tensor *y2 = volt_batch_norm(p.x, p.rm, p.rv, p.w, p.b, false, 0.1, 1e-5);
    assert_same(y1, y2);
    assert_string_equal(volt_grad_fn_name(y1), "batch_norm");
}

/* A train_fn that counts its calls and checks what the layer passes. */
typedef struct {
    int calls;
    double momentum, eps;
} counter;

static volt_tensor *counting_fn(void *ctx, const volt_tensor *x, volt_tensor *rm, volt_tensor *rv,
                                const volt_tensor *w, const volt_tensor *b, double momentum,
                                double eps) {
    counter *c = ctx;
    c->calls++;
    c->momentum = momentum, c->eps = eps;
    return volt_sync_batch_norm_train(pg, x, rm, rv, w, b, momentum, eps);
}

/* The layer goes through train_fn in training only, with its momentum and
 * eps; eval gives plain batch norm's output; the results match a plain
 * layer. */
static void test_layer_train_fn(void **state) {
    (void)state;
    volt_batch_norm_options o = {.eps = 1e-3, .momentum = 0.25};
    volt_batch_norm2d *hooked = volt_batch_norm2d_new(NULL, "bn", 3, &o);
    volt_batch_norm2d *plain = volt_batch_norm2d_new(NULL, "bn", 3, &o);
    counter c = {0};
    assert_int_equal(volt_batch_norm_set_train_fn(&hooked->base, counting_fn, &c), 1);
    assert_ptr_equal(hooked->train_ctx, &c);
    volt_tensor *x = make(VOLT_F32, 4, SHAPE4, 0.9, 2.0, 1.0, false);
    volt_tensor *y1 = volt_batch_norm2d_forward(hooked, x),
                *y2 = volt_batch_norm2d_forward(plain, x);
    assert_int_equal(c.calls, 1);
    assert_true(c.momentum == 0.25 && c.eps == 1e-3);
    assert_near(y1, y2, 1e-5, 1e-6);
    assert_near(volt_module_get(&hooked->base, "running_var"),
                volt_module_get(&plain->base, "running_var"), 1e-6, 1e-7);
    assert_int_equal(volt_tensor_item(volt_module_get(&hooked->base, "num_batches_tracked")), 1);
    volt_module_train(&hooked->base, false);
    volt_module_train(&plain->base, false);
    assert_same(volt_batch_norm2d_forward(hooked, x), volt_batch_norm2d_forward(plain, x));
    assert_int_equal(c.calls, 1);
    volt_module_free(&hooked->base);
    volt_module_free(&plain->base);
}

/* A model with batch norm layers at several depths. */
typedef struct {
    volt_module base;
    volt_module inner;
    volt_batch_norm1d *bn1;
    volt_batch_norm2d *bn2, *bn3;
} model;

static void model_init(model *m) {
    volt_module_init(&m->base, NULL);
    volt_module_init(&m->inner, NULL);
    assert_int_equal(volt_module_add_child(&m->base, "inner", &m->inner), VOLT_OK);
    assert_non_null(volt_linear_new(&m->base, "fc", 4, 4));
    m->bn1 = volt_batch_norm1d_new(&m->base, "bn1", 4, NULL);
    m->bn2 = volt_batch_norm2d_new(&m->inner, "bn2", 3, NULL);
    m->bn3 = volt_batch_norm2d_new(&m->inner, "bn3", 3,
                                   &(volt_batch_norm_options){.no_track_running_stats = true});
    assert_non_null(m->bn3);
}

static void test_convert_null_or_one_rank_restores(void **state) {
    (void)state;
    model m;
    model_init(&m);
    counter c = {0};
    assert_int_equal(volt_batch_norm_set_train_fn(&m.base, counting_fn, &c), 3);
    assert_ptr_equal(m.bn1->train_fn, counting_fn);
    assert_ptr_equal(m.bn3->train_fn, counting_fn);
    assert_int_equal(volt_sync_batch_norm_convert(&m.base, NULL), VOLT_OK);
    assert_null(m.bn1->train_fn);
    assert_null(m.bn2->train_fn);
    assert_null(m.bn3->train_fn);
    assert_null(m.bn2->train_ctx);
    volt_batch_norm_set_train_fn(&m.inner, counting_fn, &c); /* a subtree only */
    assert_null(m.bn1->train_fn);
    assert_ptr_equal(m.bn2->train_fn, counting_fn);
    /* A one-rank group is plain batch norm too. */
    assert_int_equal(volt_sync_batch_norm_convert(&m.base, pg), VOLT_OK);
    assert_null(m.bn2->train_fn);
    volt_tensor *x = make(VOLT_F32, 4, SHAPE4, 0.1, 1.0, 0.0, false);
    assert_non_null(volt_batch_norm2d_forward(m.bn2, x));
    assert_int_equal(c.calls, 0);
    /* A module without batch norm layers. */
    volt_linear *fc = volt_linear_new(NULL, "fc", 2, 2);
    assert_int_equal(volt_sync_batch_norm_convert(&fc->base, pg), VOLT_OK);
    assert_int_equal(volt_batch_norm_set_train_fn(&fc->base, counting_fn, &c), 0);
    volt_module_free(&fc->base);
    volt_module_free(&m.base);
}

static void test_bad_input(void **state) {
    (void)state;
    assert_int_equal(volt_sync_batch_norm_convert(NULL, pg), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "volt_sync_batch_norm_convert: module is NULL");
    assert_int_equal(volt_batch_norm_set_train_fn(NULL, NULL, NULL), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "volt_batch_norm_set_train_fn: module is NULL");

    problem p = make_problem(VOLT_F32, 2, SHAPE2);
    assert_null(volt_sync_batch_norm_train(pg, NULL, NULL, NULL, NULL, NULL, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "sync_batch_norm: argument 'x' is NULL");
    assert_null(volt_sync_batch_norm_train(NULL, p.x, NULL, NULL, NULL, NULL, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "sync_batch_norm: process group is NULL");
    volt_tensor *w5 = volt_ones(1, (int64_t[]){5}, VOLT_F32);
    assert_null(volt_sync_batch_norm_train(pg, p.x, NULL, NULL, w5, NULL, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "sync_batch_norm: input f32[7,4]: weight f32[5] should be f32[4]");
    volt_tensor *b64 = volt_zeros(1, (int64_t[]){4}, VOLT_F64);
    assert_null(volt_sync_batch_norm_train(pg, p.x, NULL, NULL, NULL, b64, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "bias f64[4] should be f32[4]");
    assert_null(volt_sync_batch_norm_train(pg, p.x, p.rm, NULL, NULL, NULL, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "running_mean and running_var go together");
    assert_null(volt_sync_batch_norm_train(pg, p.x, NULL, NULL, NULL, NULL, 0.1, -1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "eps -1 / momentum 0.1");
    volt_tensor *i = volt_zeros(2, (int64_t[]){3, 2}, VOLT_I64);
    assert_null(volt_sync_batch_norm_train(pg, i, NULL, NULL, NULL, NULL, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "sync_batch_norm");
    volt_tensor *v = volt_zeros(1, (int64_t[]){6}, VOLT_F32);
    assert_null(volt_sync_batch_norm_train(pg, v, NULL, NULL, NULL, NULL, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "sync_batch_norm: input [6]: expected [N, C, ...]");
    volt_tensor *one = volt_zeros(2, (int64_t[]){1, 4}, VOLT_F32);
    assert_null(volt_sync_batch_norm_train(pg, one, NULL, NULL, NULL, NULL, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "sync_batch_norm: input f32[1,4]: expected more than 1 value "
                                    "per channel when training (1 over 1 rank)");
    /* The group is still fine. */
    assert_non_null(volt_sync_batch_norm_train(pg, p.x, NULL, NULL, NULL, NULL, 0.1, 1e-5));
    /* Through a layer, the layer is named. */
    volt_batch_norm1d *bn = volt_batch_norm1d_new(NULL, "bn", 4, NULL);
    volt_batch_norm_set_train_fn(&bn->base, counting_fn, &(counter){0});
    assert_null(volt_batch_norm1d_forward(bn, one));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "BatchNorm1d 'bn': sync_batch_norm: input f32[1,4]");
    volt_module_free(&bn->base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_one_rank_is_plain_batch_norm_exactly),
        VT_TEST(test_sync_path_matches_plain),
        VT_TEST(test_sync_path_values_by_hand),
        VT_TEST(test_gradcheck_f64),
        VT_TEST(test_eval_mode_is_plain),
        VT_TEST(test_layer_train_fn),
        VT_TEST(test_convert_null_or_one_rank_restores),
        VT_TEST(test_bad_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
