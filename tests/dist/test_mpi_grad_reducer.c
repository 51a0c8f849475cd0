/* test_mpi_grad_reducer.c: the data-parallel gradient reducer on two ranks
 * (ctest runs it under mpiexec -n 2). Each rank builds the same small model
 * by hand — f32 layers, f64 layers in buckets of their own, a parameter only
 * rank 1 uses and one nobody uses — computes a loss from its own data, and
 * after backward and finish both ranks must hold the mean of the two ranks'
 * gradients, which each rank computes itself as reference (the data of
 * either rank is a function of the rank). Also: several buckets with a tiny
 * capacity, accumulation with sync off then on or off throughout, a second
 * backward before finish, hooks of a freed reducer, bf16 parameters (their
 * mean in f32, rounded once), and mismatched parameters or one rank's bad
 * arguments failing on both ranks with a clear error. */
#include "volt_test.h"

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

/* ------------------------------------------------------------- the model */

/* unused f32[5], extra f32[2] (only rank 1 uses it), then
 * out = to_f64(tanh(x @ w0 + b0)) @ w1 + b1, loss = mean(out^2) (+ the
 * extra term on rank 1). */
enum { UNUSED, EXTRA, W0, B0, W1, B1, N_PARAMS };
static const char *const names[N_PARAMS] = {"unused", "extra", "w0", "b0", "w1", "b1"};
static const int64_t sizes[N_PARAMS] = {5, 2, 12, 3, 6, 2};
#define BATCH 3

typedef struct {
    volt_tensor *p[N_PARAMS];
} model;

static volt_tensor *leaf(const double *v, volt_dtype dtype, int ndim, const int64_t *shape) {
    volt_tensor *t = volt_to_dtype(volt_from_array(v, VOLT_F64, ndim, shape), dtype);
    return volt_requires_grad(t, true);
}

/* The same initial values on every rank and for every copy. */
static model model_new(void) {
    double v[12];
    model m;
    for (int k = 0; k < N_PARAMS; k++) {
        for (int64_t i = 0; i < sizes[k]; i++) v[i] = 0.1 * (double)((i * 7 + k * 3) % 11) - 0.5;
        volt_dtype dtype = k == W1 || k == B1 ? VOLT_F64 : VOLT_F32;
        int64_t shape[2] = {sizes[k], 0};
        int ndim = 1;
        if (k == W0) shape[0] = 4, shape[1] = 3, ndim = 2;
        if (k == W1) shape[0] = 3, shape[1] = 2, ndim = 2;
        m.p[k] = leaf(v, dtype, ndim, shape);
    }
    return m;
}

/* Rank r's loss on micro-batch `pass` (data a function of both). */
static volt_tensor *model_loss(const model *m, int r, int pass) {
    double x[BATCH * 4];
    for (int i = 0; i < BATCH * 4; i++) x[i] = 0.25 * ((i * 5 + r * 3 + pass * 7) % 9) - 1.0;
    volt_tensor *xt = volt_to_dtype(volt_from_array(x, VOLT_F64, VOLT_SHAPE(BATCH, 4)), VOLT_F32);
    volt_tensor *h = volt_tanh(volt_add(volt_matmul(xt, m->p[W0]), m->p[B0]));
    volt_tensor *out = volt_add(volt_matmul(volt_to_dtype(h, VOLT_F64), m->p[W1]), m->p[B1]);
    volt_tensor *loss = volt_mean_all(volt_mul(out, out));
    if (r == 1) {
        volt_tensor *z =
            volt_from_array((float[]){1.5f + (float)pass, -0.5f}, VOLT_F32, VOLT_SHAPE(2));
        loss = volt_add(loss, volt_to_dtype(volt_sum_all(volt_mul(m->p[EXTRA], z)), VOLT_F64));
    }
    return loss;
}

/* The gradients the reducer must produce after `passes` accumulated
 * micro-batches: the mean over both ranks of each rank's summed gradients,
 * computed here on fresh copies of the model. any[k]: some rank had one. */
typedef struct {
    double g[N_PARAMS][12];
    bool any[N_PARAMS];
} expected;

static expected reference(int passes) {
    expected e;
    memset(&e, 0, sizeof e);
    for (int r = 0; r < 2; r++) {
        model m = model_new();
        for (int pass = 0; pass < passes; pass++)
            assert_int_equal(volt_backward(model_loss(&m, r, pass)), VOLT_OK);
        for (int k = 0; k < N_PARAMS; k++) {
            if (!m.p[k]->grad) continue;
            e.any[k] = true;
            for (int64_t i = 0; i < sizes[k]; i++)
                e.g[k][i] += volt_tensor_get_flat(m.p[k]->grad, i) / 2;
        }
    }
    return e;
}

static void assert_grads(const model *m, const expected *e) {
    for (int k = 0; k < N_PARAMS; k++) {
        if (!e->any[k]) {
            assert_null(m->p[k]->grad);
            continue;
        }
        assert_non_null(m->p[k]->grad);
        double tol = m->p[k]->dtype == VOLT_F32 ? 1e-6 : 1e-12;
        VT_ASSERT_CLOSE(m->p[k]->grad, e->g[k], sizes[k], tol, tol);
    }
}

static volt_grad_reducer *reducer_for(model *m, double cap_mb) {
    volt_grad_reducer *r = volt_grad_reducer_new(
        pg, m->p, names, N_PARAMS, &(volt_grad_reducer_options){.bucket_cap_mb = cap_mb});
    if (!r) fprintf(stderr, "rank %d: %s\n", rank, volt_error_message());
    assert_non_null(r);
    return r;
}

/* ----------------------------------------------------------------- tests */

static void test_mean_of_both_ranks_gradients(void **state) {
    (void)state;
    expected e = reference(1);
    assert_false(e.any[UNUSED]);
    assert_true(e.any[EXTRA]);
    model m = model_new();
    volt_grad_reducer *r = reducer_for(&m, 0);
    assert_true(volt_grad_reducer_sync(r));
    assert_int_equal(volt_backward(model_loss(&m, rank, 0)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_grads(&m, &e);
    /* extra: rank 1's gradient z = [1.5, -0.5], zero on rank 0: z / 2. */
    VT_ASSERT_CLOSE(m.p[EXTRA]->grad, ((double[]){0.75, -0.25}), 2, 0, 0);
    volt_grad_reducer_stats s = volt_grad_reducer_get_stats(r);
    assert_int_equal(s.reductions, 1);
    assert_int_equal(s.buckets, 2); /* f32 and f64 */
    /* f32: 22 elements + 4 flags; f64: 8 + 2. */
    assert_int_equal(s.bytes, (22 + 4) * 4 + (8 + 2) * 8);
    assert_true(s.wait_seconds >= 0);
    volt_grad_reducer_free(r);
}

static void test_several_buckets(void **state) {
    (void)state;
    expected e = reference(1);
    model m = model_new();
    /* 32 bytes; last parameter first: b1 | w1 | b0 | w0 | extra + unused. */
    volt_grad_reducer *r = reducer_for(&m, 32e-6);
    for (int step = 0; step < 3; step++) {
        for (int k = 0; k < N_PARAMS; k++) volt_tensor_clear_grad(m.p[k]);
        assert_int_equal(volt_backward(model_loss(&m, rank, 0)), VOLT_OK);
        assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
        assert_grads(&m, &e);
    }
    volt_grad_reducer_stats s = volt_grad_reducer_get_stats(r);
    assert_int_equal(s.reductions, 3);
    assert_int_equal(s.buckets, 5);
    assert_int_equal(s.bytes, (2 + 1) * 8 + (6 + 1) * 8 + (3 + 1) * 4 + (12 + 1) * 4 + (7 + 2) * 4);
    print_message("rank %d: 3 reductions of 5 buckets, %.3f ms waiting in finish\n", rank,
                  s.wait_seconds * 1e3);
    volt_grad_reducer_free(r);
}

static void test_accumulation_without_sync(void **state) {
    (void)state;
    expected e = reference(3);
    model m = model_new();
    volt_grad_reducer *r = reducer_for(&m, 32e-6);
    for (int pass = 0; pass < 3; pass++) {
        volt_grad_reducer_set_sync(r, pass == 2);
        assert_int_equal(volt_backward(model_loss(&m, rank, pass)), VOLT_OK);
    }
    assert_true(volt_grad_reducer_sync(r));
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_grads(&m, &e);
    /* extra on rank 1: z summed over passes [1.5+2.5+3.5, -1.5], halved. */
    VT_ASSERT_CLOSE(m.p[EXTRA]->grad, ((double[]){3.75, -0.75}), 2, 1e-6, 0);
    volt_grad_reducer_free(r);
}

/* Every pass with sync off: finish starts all the buckets itself. */
static void test_finish_after_passes_without_sync(void **state) {
    (void)state;
    expected e = reference(2);
    model m = model_new();
    volt_grad_reducer *r = reducer_for(&m, 32e-6);
    volt_grad_reducer_set_sync(r, false);
    for (int pass = 0; pass < 2; pass++)
        assert_int_equal(volt_backward(model_loss(&m, rank, pass)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_grads(&m, &e);
    assert_int_equal(volt_grad_reducer_get_stats(r).reductions, 1);
    volt_grad_reducer_free(r);
}

/* A second backward before finish: both ranks fail cleanly (no hang), then
 * the reducer works again. */
static void test_second_backward_before_finish(void **state) {
    (void)state;
    model m = model_new();
    volt_grad_reducer *r = reducer_for(&m, 32e-6);
    assert_int_equal(volt_backward(model_loss(&m, rank, 0)), VOLT_OK);
    assert_int_equal(volt_backward(model_loss(&m, rank, 0)), VOLT_OK);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "became ready twice in one synchronized pass");
    expected e = reference(1);
    for (int k = 0; k < N_PARAMS; k++) volt_tensor_clear_grad(m.p[k]);
    assert_int_equal(volt_backward(model_loss(&m, rank, 0)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_grads(&m, &e);
    volt_grad_reducer_free(r);
}

/* Hooks stay on the parameters after free and then do nothing; a new
 * reducer over the same parameters works. */
static void test_hooks_of_a_freed_reducer(void **state) {
    (void)state;
    model m = model_new();
    volt_grad_reducer_free(reducer_for(&m, 0));
    assert_int_equal(volt_backward(model_loss(&m, rank, 0)), VOLT_OK);
    VT_ASSERT_NO_ERROR();
    double local = volt_tensor_get_flat(m.p[W0]->grad, 0);
    volt_grad_reducer *r = reducer_for(&m, 0);
    for (int k = 0; k < N_PARAMS; k++) volt_tensor_clear_grad(m.p[k]);
    assert_int_equal(volt_backward(model_loss(&m, rank, 0)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    expected e = reference(1);
    assert_grads(&m, &e);
    assert_true(local != volt_tensor_get_flat(m.p[W0]->grad, 0)); /* reduced this time */
    volt_grad_reducer_free(r);
}

/* ------------------------------------------------------------ mismatches */

static volt_tensor *param(volt_dtype dtype, int64_t n) {
    return volt_requires_grad(volt_zeros(1, (int64_t[]){n}, dtype), true);
}

/* bf16 parameters (precision "bf16-true"): each rank's gradient c_rank
 * (bf16 values, a function of the rank) goes into an f32 bucket beside an
 * f32 parameter's; finish leaves bf16 gradients holding the f32 mean rounded
 * once, bf16((c_0 + c_1) / 2), bit for bit, and the f32 one its mean. */
static void test_bf16_parameters(void **state) {
    (void)state;
    enum { N = 37 };
    volt_tensor *p[2] = {param(VOLT_BF16, N), param(VOLT_F32, 3)};
    volt_grad_reducer *r = volt_grad_reducer_new(pg, p, (const char *[]){"w", "b"}, 2, NULL);
    assert_non_null(r);
    float c[2][N];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < N; i++) /* bf16 values with low bits that the mean rounds */
            c[k][i] = volt_bf16_to_f32(
                volt_f32_to_bf16((float)(0.3 * (i + 1) * (k ? 0.0071 : 1.13)) + (float)k * 1e-3f));
    volt_tensor *ct = volt_to_dtype(volt_from_array(c[rank], VOLT_F32, VOLT_SHAPE(N)), VOLT_BF16);
    volt_tensor *loss = volt_add(volt_to_dtype(volt_sum_all(volt_mul(p[0], ct)), VOLT_F32),
                                 volt_sum_all(volt_mul_scalar(p[1], rank + 1.0)));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_int_equal(p[0]->grad->dtype, VOLT_BF16);
    const uint16_t *g = volt_tensor_data(p[0]->grad);
    for (int i = 0; i < N; i++) {
        uint16_t want = volt_f32_to_bf16((c[0][i] + c[1][i]) / 2.0f);
        if (g[i] != want) fail_msg("element %d: 0x%04x, want 0x%04x", i, g[i], want);
    }
    VT_ASSERT_CLOSE(p[1]->grad, ((double[]){1.5, 1.5, 1.5}), 3, 0, 0);
    volt_grad_reducer_stats st = volt_grad_reducer_get_stats(r);
    assert_int_equal(st.buckets, 1); /* f32, both */
    assert_int_equal(st.bytes, (N + 3 + 2) * 4);
    volt_grad_reducer_free(r);
}

static void test_mismatched_shapes_fail_on_both_ranks(void **state) {
    (void)state;
    volt_tensor *p[3] = {param(VOLT_F32, 4), param(VOLT_F32, rank == 0 ? 3 : 5),
                         param(VOLT_F64, 2)};
    const char *n3[3] = {"a", "b", "c"};
    assert_null(volt_grad_reducer_new(pg, p, n3, 3, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "parameters differ: parameter 1 'b' is f32[3] on rank 0 and f32[5] on rank 1");
    /* A dtype. */
    p[1] = param(rank == 0 ? VOLT_F32 : VOLT_F64, 3);
    assert_null(volt_grad_reducer_new(pg, p, n3, 3, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "'b' is f32[3] on rank 0 and f64[3] on rank 1");
    /* A count. */
    p[1] = param(VOLT_F32, 3);
    assert_null(volt_grad_reducer_new(pg, p, n3, rank == 0 ? 3 : 2, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "different numbers of parameters: 3 on rank 0, 2 on rank 1");
    /* The group still works, and so does a matching reducer. */
    volt_grad_reducer *r = volt_grad_reducer_new(pg, p, NULL, 3, NULL);
    assert_non_null(r);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK); /* no gradients anywhere */
    for (int k = 0; k < 3; k++) assert_null(p[k]->grad);
    volt_grad_reducer_free(r);
}

static void test_one_ranks_bad_parameters_fail_both(void **state) {
    (void)state;
    volt_tensor *a = param(VOLT_F32, 2);
    volt_tensor *p[2] = {a, rank == 1 ? volt_mul_scalar(a, 2) : param(VOLT_F32, 2)};
    assert_null(volt_grad_reducer_new(pg, p, (const char *[]){"a", "twice_a"}, 2, NULL));
    if (rank == 1)
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "params[1] ('twice_a', f32[2]) is not a leaf");
    else
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "rank 1 could not make its reducer");
    /* Options too. */
    p[1] = param(VOLT_F32, 2);
    volt_grad_reducer_options bad = {.bucket_cap_mb = rank == 0 ? -1 : 1};
    assert_null(volt_grad_reducer_new(pg, p, NULL, 2, &bad));
    if (rank == 0)
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "bucket_cap_mb");
    else
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "rank 0 could not make its reducer");
    assert_int_equal(volt_dist_barrier(pg), VOLT_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_mean_of_both_ranks_gradients),
        VT_TEST(test_several_buckets),
        VT_TEST(test_accumulation_without_sync),
        VT_TEST(test_finish_after_passes_without_sync),
        VT_TEST(test_second_backward_before_finish),
        VT_TEST(test_hooks_of_a_freed_reducer),
        VT_TEST(test_bf16_parameters),
        VT_TEST(test_mismatched_shapes_fail_on_both_ranks),
        VT_TEST(test_one_ranks_bad_parameters_fail_both),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
