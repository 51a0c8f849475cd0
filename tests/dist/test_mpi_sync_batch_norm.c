/* test_mpi_sync_batch_norm.c: synchronized batch norm on two ranks (ctest
 * runs it under mpiexec -n 2). A deterministic batch of 8 samples is split
 * 3 / 5 between the ranks; BatchNorm1d / BatchNorm2d layers converted with
 * volt_sync_batch_norm_convert (f32) and the op volt_sync_batch_norm (f64)
 * give each rank its slice of what plain batch norm gives on the whole
 * batch in one process: outputs, running statistics, input gradients, and
 * weight / bias gradients once summed over the ranks. Also: a rank with an
 * empty batch, one value per rank, eval mode without communication, bf16
 * (the f32 op rounded), and
 * bad input on one rank failing both with clear errors. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/dist.h>

static volt_process_group *pg;
static int rank;

static int group_setup(void **state) {
    (void)state;
    pg = volt_process_group_new("mpi", &(volt_process_group_options){.timeout_s = 60});
    if (!pg) {
        fprintf(stderr, "cannot create the MPI group: %s\n", volt_error_message());
        return -1;
    }
    rank = volt_process_group_rank(pg);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    volt_process_group_free(pg);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

enum { TOTAL = 8 };
/* Rank 0 holds samples [0, 3), rank 1 [3, 8). */
#define START(r) ((r) == 0 ? 0 : 3)
#define COUNT(r) ((r) == 0 ? 3 : 5)

/* make(): round the values to f32 (so that f32 copies hold exactly the
 * same numbers). */
static bool round_to_f32 = true;

/* f64 values sin(0.7 i + seed) * scale + shift + 3 * channel. */
static volt_tensor *make(int ndim, const int64_t *shape, double seed, double scale, double shift) {
    int64_t n = 1, inner = 1, c = ndim > 1 ? shape[1] : 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    for (int i = 2; i < ndim; i++) inner *= shape[i];
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        v[i] = sin(0.7 * (double)i + seed) * scale + shift + 3.0 * (double)((i / inner) % c);
        if (round_to_f32) v[i] = (float)v[i];
    }
    volt_tensor *t = volt_from_array(v, VOLT_F64, ndim, shape);
    free(v);
    return t;
}

/* A new leaf requiring grad: `dt` copy of t's samples [start, start + len). */
static volt_tensor *leaf_slice(const volt_tensor *t, int64_t start, int64_t len, volt_dtype dt) {
    volt_tensor *s = volt_to_dtype(volt_narrow(volt_tensor_detach(t), 0, start, len), dt);
    return volt_requires_grad(volt_mul_scalar(s, 1.0), true);
}

/* This rank's slice of a full-batch tensor. */
static volt_tensor *mine(const volt_tensor *full) {
    return volt_narrow(full, 0, START(rank), COUNT(rank));
}

/* Asserts a is within rtol |b| + atol of b (any dtypes, same count). */
static void assert_near(const volt_tensor *a, const volt_tensor *b, double rtol, double atol) {
    assert_non_null(a);
    assert_non_null(b);
    int64_t n = volt_tensor_numel(b);
    assert_int_equal(volt_tensor_numel(a), n);
    double *e = malloc((size_t)(n ? n : 1) * sizeof *e);
    for (int64_t i = 0; i < n; i++) e[i] = volt_tensor_get_flat(b, i);
    VT_ASSERT_CLOSE(a, e, n, rtol, atol);
    free(e);
}

/* The sum over the ranks of t (a copy). */
static volt_tensor *summed(const volt_tensor *t) {
    volt_tensor *s = volt_mul_scalar(t, 1.0);
    assert_int_equal(volt_dist_all_reduce(pg, s, VOLT_REDUCE_SUM), VOLT_OK);
    return s;
}

/* Backward of sum(y * r) for r the rows [start, start + n) of a fixed
 * full-batch tensor. */
static void backward_weighted(const volt_tensor *y, int64_t start) {
    int64_t shape[VOLT_MAX_DIMS];
    memcpy(shape, y->shape, sizeof shape);
    shape[0] = TOTAL;
    volt_tensor *r = volt_narrow(make(y->ndim, shape, 5.5, 1.0, 0.0), 0, start, y->shape[0]);
    r = volt_to_dtype(volt_contiguous(r), y->dtype);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(y, r))), VOLT_OK);
}

/* The reference: plain batch norm in f64 on the whole batch. */
typedef struct {
    volt_tensor *x, *w, *b, *rm, *rv, *y;
} reference;

static reference reference_new(int ndim, const int64_t *full_shape, double shift) {
    int64_t c = full_shape[1];
    reference ref = {0};
    ref.x = volt_requires_grad(make(ndim, full_shape, 0.3, 1.5, shift), true);
    ref.w = volt_requires_grad(make(1, &c, 1.1, 0.5, 1.0), true);
    ref.b = volt_requires_grad(make(1, &c, 2.2, 0.5, -0.5), true);
    ref.rm = volt_zeros(1, &c, VOLT_F64);
    ref.rv = volt_ones(1, &c, VOLT_F64);
    return ref;
}

/* Step 0 runs on x, step 1 on x times 2, -0.5 or 1 by element of the
 * whole batch (x: its samples from `start` on) — exact in f32, and not a
 * scaling, which batch norm would undo. */
static volt_tensor *step_input(volt_tensor *x, int step, int64_t start) {
    if (step == 0) return x;
    int64_t n = volt_tensor_numel(x), first = start * (n / x->shape[0]);
    double *f = malloc((size_t)n * sizeof *f);
    for (int64_t i = 0; i < n; i++) {
        int64_t g = first + i;
        f[i] = g % 3 == 0 ? 2.0 : g % 3 == 1 ? -0.5 : 1.0;
    }
    volt_tensor *t = volt_to_dtype(volt_from_array(f, VOLT_F64, x->ndim, x->shape), x->dtype);
    free(f);
    return volt_mul(x, t);
}

static void reference_step(reference *ref, int step, double momentum) {
    ref->y = volt_batch_norm(step_input(ref->x, step, 0), ref->rm, ref->rv, ref->w, ref->b, true,
                             momentum, 1e-5);
    assert_non_null(ref->y);
    backward_weighted(ref->y, 0);
}

/* ------------------------------------------------------ layers, f32 */

static volt_batch_norm_layer *layer_like(const reference *ref, int dims) {
    int64_t c = ref->w->shape[0];
    volt_batch_norm_layer *l = dims == 1 ? volt_batch_norm1d_new(NULL, "bn", c, NULL)
                                         : volt_batch_norm2d_new(NULL, "bn", c, NULL);
    assert_non_null(l);
    float *w = volt_tensor_data(volt_module_get(&l->base, "weight"));
    float *b = volt_tensor_data(volt_module_get(&l->base, "bias"));
    for (int64_t i = 0; i < c; i++) {
        w[i] = (float)volt_tensor_get_flat(ref->w, i);
        b[i] = (float)volt_tensor_get_flat(ref->b, i);
    }
    return l;
}

static volt_tensor *layer_forward(volt_batch_norm_layer *l, int dims, const volt_tensor *x) {
    return dims == 1 ? volt_batch_norm1d_forward(l, x) : volt_batch_norm2d_forward(l, x);
}

/* A converted layer on this rank's slice against the reference on the whole
 * batch, two training steps then eval. */
static void check_layer(int dims, int ndim, const int64_t *full_shape) {
    reference ref = reference_new(ndim, full_shape, 0.25);
    volt_batch_norm_layer *l = layer_like(&ref, dims);
    assert_int_equal(volt_sync_batch_norm_convert(&l->base, pg), VOLT_OK);
    assert_non_null(l->train_fn);
    volt_tensor *x = leaf_slice(ref.x, START(rank), COUNT(rank), VOLT_F32);
    for (int step = 0; step < 2; step++) {
        volt_tensor *y = layer_forward(l, dims, step_input(x, step, START(rank)));
        assert_non_null(y);
        reference_step(&ref, step, 0.1);
        assert_near(y, mine(ref.y), 1e-5, 1e-6);
        backward_weighted(y, START(rank));
    }
    assert_near(x->grad, mine(ref.x->grad), 1e-5, 1e-6);
    assert_near(summed(volt_module_get(&l->base, "weight")->grad), ref.w->grad, 1e-5, 1e-6);
    assert_near(summed(volt_module_get(&l->base, "bias")->grad), ref.b->grad, 1e-5, 1e-6);
    assert_near(volt_module_get(&l->base, "running_mean"), ref.rm, 1e-5, 1e-6);
    assert_near(volt_module_get(&l->base, "running_var"), ref.rv, 1e-5, 1e-6);
    assert_int_equal(volt_tensor_item(volt_module_get(&l->base, "num_batches_tracked")), 2);

    /* Eval: the running statistics, no communication — rank 0 runs it
     * twice, rank 1 once, and the barrier after still matches. */
    volt_module_train(&l->base, false);
    volt_tensor *e = volt_batch_norm(ref.x, ref.rm, ref.rv, ref.w, ref.b, false, 0.1, 1e-5);
    for (int i = 0; i <= (rank == 0); i++)
        assert_near(layer_forward(l, dims, x), mine(e), 1e-5, 1e-6);
    assert_int_equal(volt_dist_barrier(pg), VOLT_OK);

    assert_int_equal(volt_sync_batch_norm_convert(&l->base, NULL), VOLT_OK);
    assert_null(l->train_fn);
    volt_module_free(&l->base);
}

static void test_batch_norm2d_layer_f32(void **state) {
    (void)state;
    check_layer(2, 4, (int64_t[]){TOTAL, 3, 2, 3});
}

static void test_batch_norm1d_layer_f32(void **state) {
    (void)state;
    check_layer(1, 2, (int64_t[]){TOTAL, 4});
    check_layer(1, 3, (int64_t[]){TOTAL, 2, 5});
}

/* --------------------------------------------------------------- op, f64 */

/* The op on this rank's slice against the reference; `shift` moves every
 * value (1e6: the variance must not come from sums of squares, which lose
 * 12 of double's 16 digits there). */
static void check_op_f64(int ndim, const int64_t *full_shape, double shift, double tol) {
    reference ref = reference_new(ndim, full_shape, shift);
    int64_t c = full_shape[1];
    volt_tensor *x = leaf_slice(ref.x, START(rank), COUNT(rank), VOLT_F64);
    volt_tensor *w = leaf_slice(ref.w, 0, c, VOLT_F64);
    volt_tensor *b = leaf_slice(ref.b, 0, c, VOLT_F64);
    volt_tensor *rm = volt_zeros(1, &c, VOLT_F64), *rv = volt_ones(1, &c, VOLT_F64);
    for (int step = 0; step < 2; step++) {
        volt_tensor *y = volt_sync_batch_norm(pg, step_input(x, step, START(rank)), rm, rv, w, b,
                                              true, 0.3, 1e-5);
        assert_non_null(y);
        assert_string_equal(volt_grad_fn_name(y), "sync_batch_norm");
        reference_step(&ref, step, 0.3);
        assert_near(y, mine(ref.y), tol, tol);
        backward_weighted(y, START(rank));
    }
    assert_near(x->grad, mine(ref.x->grad), tol, tol);
    assert_near(summed(w->grad), ref.w->grad, tol, tol);
    assert_near(summed(b->grad), ref.b->grad, tol, tol);
    assert_near(rm, ref.rm, tol, tol);
    assert_near(rv, ref.rv, tol, tol);
    /* Every rank holds the same running statistics, bit for bit. */
    volt_tensor *both = volt_zeros(1, (int64_t[]){2 * c}, VOLT_F64);
    assert_int_equal(volt_dist_all_gather(pg, both, rv), VOLT_OK);
    assert_int_equal(memcmp(volt_tensor_data(both), (double *)volt_tensor_data(both) + c,
                            (size_t)c * sizeof(double)),
                     0);
}

static void test_op_f64(void **state) {
    (void)state;
    check_op_f64(4, (int64_t[]){TOTAL, 3, 2, 2}, 0.25, 1e-11);
    check_op_f64(2, (int64_t[]){TOTAL, 5}, 0.25, 1e-11);
    /* x - mean itself is only good to ~1e-10 at 1e6. */
    round_to_f32 = false;
    check_op_f64(2, (int64_t[]){TOTAL, 3}, 1e6, 1e-8);
    check_op_f64(4, (int64_t[]){TOTAL, 2, 3, 1}, -1e6, 1e-8);
    round_to_f32 = true;
}

/* Rank 0 has no samples: rank 1's batch alone sets the statistics. */
static void test_empty_rank(void **state) {
    (void)state;
    int64_t n = rank == 0 ? 0 : 4;
    volt_tensor *full = make(2, (int64_t[]){4, 3}, 0.6, 2.0, 1.0);
    volt_tensor *x = rank == 0
                         ? volt_requires_grad(volt_zeros(2, (int64_t[]){0, 3}, VOLT_F64), true)
                         : leaf_slice(full, 0, n, VOLT_F64);
    volt_tensor *rm = volt_zeros(1, (int64_t[]){3}, VOLT_F64),
                *rv = volt_ones(1, (int64_t[]){3}, VOLT_F64);
    volt_tensor *y = volt_sync_batch_norm(pg, x, rm, rv, NULL, NULL, true, 0.1, 1e-5);
    assert_non_null(y);
    VT_ASSERT_SHAPE(y, n, 3);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(y, y))), VOLT_OK);
    volt_tensor *rm2 = volt_zeros(1, (int64_t[]){3}, VOLT_F64),
                *rv2 = volt_ones(1, (int64_t[]){3}, VOLT_F64);
    volt_tensor *x2 = leaf_slice(full, 0, 4, VOLT_F64);
    volt_tensor *y2 = volt_batch_norm(x2, rm2, rv2, NULL, NULL, true, 0.1, 1e-5);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(y2, y2))), VOLT_OK);
    assert_near(rm, rm2, 1e-12, 1e-14);
    assert_near(rv, rv2, 1e-12, 1e-14);
    if (rank == 1) {
        assert_near(y, y2, 1e-12, 1e-12);
        assert_near(x->grad, x2->grad, 1e-9, 1e-12);
    }
}

/* One sample per rank: plain batch norm would refuse each alone; together
 * they are the batch of two. */
static void test_one_sample_per_rank(void **state) {
    (void)state;
    volt_tensor *full = make(2, (int64_t[]){2, 4}, 0.1, 1.0, 0.0);
    volt_tensor *x = leaf_slice(full, rank, 1, VOLT_F64);
    assert_null(volt_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "expected more than 1 value per channel");
    volt_tensor *y = volt_sync_batch_norm(pg, x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
    volt_tensor *y2 = volt_batch_norm(full, NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
    assert_near(y, volt_narrow(y2, 0, rank, 1), 1e-12, 1e-12);
}

/* ------------------------------------------------------------- bad input */

static void test_too_few_values_fail_both(void **state) {
    (void)state;
    volt_tensor *x = volt_zeros(2, (int64_t[]){rank == 0 ? 1 : 0, 3}, VOLT_F32);
    assert_null(volt_sync_batch_norm(pg, x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "expected more than 1 value per channel when training (1 "
                                    "over 2 ranks)");
}

static void test_bad_arguments_on_one_rank_fail_both(void **state) {
    (void)state;
    volt_tensor *x = volt_ones(2, (int64_t[]){4, 3}, VOLT_F32);
    volt_tensor *w = volt_ones(1, (int64_t[]){rank == 1 ? 5 : 3}, VOLT_F32);
    assert_null(volt_sync_batch_norm(pg, x, NULL, NULL, w, NULL, true, 0.1, 1e-5));
    if (rank == 1)
        VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                        "sync_batch_norm: input f32[4,3]: weight f32[5] should be f32[3]");
    else
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                        "sync_batch_norm: all_gather: rank 1 passed invalid arguments");
    /* Different channel counts. */
    volt_tensor *x2 = volt_ones(2, (int64_t[]){4, rank == 0 ? 3 : 4}, VOLT_F32);
    assert_null(volt_sync_batch_norm(pg, x2, NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "sync_batch_norm: all_gather: the ranks passed different element counts");
    /* The group still works. */
    assert_false(volt_process_group_is_broken(pg));
    assert_int_equal(volt_dist_barrier(pg), VOLT_OK);
}

/* Convert reaches nested layers; NULL restores them. */
static void test_convert_nested(void **state) {
    (void)state;
    volt_module root, inner;
    volt_module_init(&root, NULL);
    volt_module_init(&inner, NULL);
    assert_int_equal(volt_module_add_child(&root, "inner", &inner), VOLT_OK);
    volt_batch_norm1d *a = volt_batch_norm1d_new(&root, "a", 2, NULL);
    volt_batch_norm2d *b = volt_batch_norm2d_new(&inner, "b", 2, NULL);
    assert_int_equal(volt_sync_batch_norm_convert(&root, pg), VOLT_OK);
    assert_non_null(a->train_fn);
    assert_non_null(b->train_fn);
    assert_ptr_equal(b->train_ctx, pg);
    assert_int_equal(volt_sync_batch_norm_convert(&root, NULL), VOLT_OK);
    assert_null(a->train_fn);
    assert_null(b->train_fn);
    volt_module_free(&root);
}

/* bf16 (precision "bf16-true"): the f32 sync batch norm on the widened
 * operands, rounded to bf16 once — output, running statistics and every
 * gradient equal the f32 ones on the same values rounded, bit for bit. */
static void test_op_bf16(void **state) {
    (void)state;
    const int64_t full[4] = {TOTAL, 3, 2, 2}, cs[1] = {3};
    volt_tensor *x = volt_to_dtype(mine(make(4, full, 0.3, 2.0, 0.5)), VOLT_BF16);
    volt_tensor *w = volt_to_dtype(make(1, cs, 1.1, 1.0, 1.0), VOLT_BF16);
    volt_tensor *b = volt_to_dtype(make(1, cs, 2.2, 1.0, 0.0), VOLT_BF16);
    volt_tensor *xb = leaf_slice(x, 0, x->shape[0], VOLT_BF16);
    volt_tensor *xf = leaf_slice(x, 0, x->shape[0], VOLT_F32);
    volt_tensor *wb = volt_requires_grad(volt_clone(w), true);
    volt_tensor *bb = volt_requires_grad(volt_clone(b), true);
    volt_tensor *wf = volt_requires_grad(volt_to_dtype(w, VOLT_F32), true);
    volt_tensor *bf = volt_requires_grad(volt_to_dtype(b, VOLT_F32), true);
    volt_tensor *rmb = volt_zeros(1, cs, VOLT_BF16), *rvb = volt_ones(1, cs, VOLT_BF16);
    volt_tensor *rmf = volt_zeros(1, cs, VOLT_F32), *rvf = volt_ones(1, cs, VOLT_F32);
    volt_tensor *yb = volt_sync_batch_norm(pg, xb, rmb, rvb, wb, bb, true, 0.1, 1e-5);
    volt_tensor *yf = volt_sync_batch_norm(pg, xf, rmf, rvf, wf, bf, true, 0.1, 1e-5);
    assert_non_null(yb);
    assert_int_equal(yb->dtype, VOLT_BF16);
    volt_tensor *gout = volt_to_dtype(mine(make(4, full, 5.5, 1.0, 0.0)), VOLT_BF16);
    assert_int_equal(volt_backward_ex(yb, volt_contiguous(gout), false), VOLT_OK);
    assert_int_equal(volt_backward_ex(yf, volt_to_dtype(gout, VOLT_F32), false), VOLT_OK);
    const volt_tensor *got[6] = {yb, rmb, rvb, xb->grad, wb->grad, bb->grad};
    const volt_tensor *want[6] = {yf, rmf, rvf, xf->grad, wf->grad, bf->grad};
    const char *names[6] = {"y", "running_mean", "running_var", "dx", "dweight", "dbias"};
    for (int i = 0; i < 6; i++) {
        assert_non_null(got[i]);
        assert_int_equal(got[i]->dtype, VOLT_BF16);
        volt_tensor *rounded = volt_to_dtype(want[i], VOLT_BF16);
        for (int64_t k = 0; k < volt_tensor_numel(rounded); k++)
            if (volt_tensor_get_flat(got[i], k) != volt_tensor_get_flat(rounded, k))
                fail_msg("rank %d: %s[%lld] is %.9g, want %.9g", rank, names[i], (long long)k,
                         volt_tensor_get_flat(got[i], k), volt_tensor_get_flat(rounded, k));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_batch_norm2d_layer_f32),
        VT_TEST(test_batch_norm1d_layer_f32),
        VT_TEST(test_op_f64),
        VT_TEST(test_op_bf16),
        VT_TEST(test_empty_rank),
        VT_TEST(test_one_sample_per_rank),
        VT_TEST(test_too_few_values_fail_both),
        VT_TEST(test_bad_arguments_on_one_rank_fail_both),
        VT_TEST(test_convert_nested),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
