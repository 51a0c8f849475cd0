/* test_grad_reducer.c: the gradient reducer on the "single" backend (one
 * process, no MPI) — after finish every gradient is what backward alone
 * gives (the mean over one rank), parameters without a gradient keep NULL,
 * bucket layouts and their byte counts, accumulation with sync off (finish
 * then starts every bucket itself), the errors of a misused window (two
 * backwards reaching a parameter in a synchronized pass, sync turned off
 * after a synchronized pass), hooks that outlive their reducer, and bad arguments,
 * each a clear error naming the parameter or option. */
#include "volt_test.h"

#include <math.h>

#include <volt/dist.h>

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

/* a f32[2,2], b f32[3], c f64[2], unused f32[4].
 * loss = sum(a * x) + sum(b * b) + sum(c * c * c) in f64:
 * grad a = x, grad b = 2 b, grad c = 3 c^2. */
enum { A, B, C, UNUSED, N };
static const char *const names[N] = {"a", "b", "c", "unused"};

static volt_tensor *leaf(volt_dtype dtype, int ndim, const int64_t *shape, const double *v) {
    volt_tensor *t = volt_to_dtype(volt_from_array(v, VOLT_F64, ndim, shape), dtype);
    return volt_requires_grad(t, true);
}

static void make_params(volt_tensor **p) {
    p[A] = leaf(VOLT_F32, VOLT_SHAPE(2, 2), (double[]){1, 2, 3, 4});
    p[B] = leaf(VOLT_F32, VOLT_SHAPE(3), (double[]){0.5, -1, 2});
    p[C] = leaf(VOLT_F64, VOLT_SHAPE(2), (double[]){-1, 3});
    p[UNUSED] = leaf(VOLT_F32, VOLT_SHAPE(4), (double[]){0, 0, 0, 0});
}

static volt_tensor *loss_of(volt_tensor **p, double scale) {
    volt_tensor *x = volt_full(2, (int64_t[]){2, 2}, scale, VOLT_F32);
    volt_tensor *la = volt_sum_all(volt_mul(p[A], x));
    volt_tensor *lb = volt_sum_all(volt_mul(p[B], p[B]));
    volt_tensor *lc = volt_sum_all(volt_mul(volt_mul(p[C], p[C]), p[C]));
    return volt_add(volt_to_dtype(volt_add(la, lb), VOLT_F64), lc);
}

static void assert_grads(volt_tensor **p, double sum_of_scales, int passes) {
    double x = sum_of_scales, k = passes;
    VT_ASSERT_CLOSE(p[A]->grad, ((double[]){x, x, x, x}), 4, 0, 1e-6);
    VT_ASSERT_CLOSE(p[B]->grad, ((double[]){k * 1, k * -2, k * 4}), 3, 0, 1e-6);
    VT_ASSERT_CLOSE(p[C]->grad, ((double[]){k * 3, k * 27}), 2, 0, 1e-12);
    assert_null(p[UNUSED]->grad);
}

static volt_grad_reducer *make(volt_tensor **p, double cap_mb) {
    volt_grad_reducer *r = volt_grad_reducer_new(
        pg, p, names, N, &(volt_grad_reducer_options){.bucket_cap_mb = cap_mb});
    assert_non_null(r);
    return r;
}

/* ------------------------------------------------------------- behaviour */

static void test_finish_keeps_backward_gradients(void **state) {
    (void)state;
    volt_tensor *p[N];
    make_params(p);
    volt_grad_reducer *r = make(p, 0);
    for (int step = 0; step < 2; step++) {
        for (int i = 0; i < N; i++) volt_tensor_clear_grad(p[i]);
        assert_int_equal(volt_backward(loss_of(p, 0.5 + step)), VOLT_OK);
        assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
        assert_grads(p, 0.5 + step, 1);
    }
    volt_grad_reducer_stats s = volt_grad_reducer_get_stats(r);
    assert_int_equal(s.reductions, 2);
    assert_int_equal(s.buckets, 2);                               /* f32, f64 */
    assert_int_equal(s.bytes, (4 + 3 + 4 + 3) * 4 + (2 + 1) * 8); /* flags included */
    assert_true(s.wait_seconds >= 0);
    volt_grad_reducer_free(r);
}

static void test_bucket_per_parameter_with_a_tiny_cap(void **state) {
    (void)state;
    volt_tensor *p[N];
    make_params(p);
    /* 1 byte: every parameter over the cap gets its own bucket. */
    volt_grad_reducer *r = make(p, 1e-6);
    assert_int_equal(volt_backward(loss_of(p, 2)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_grads(p, 2, 1);
    volt_grad_reducer_stats s = volt_grad_reducer_get_stats(r);
    assert_int_equal(s.buckets, 4);
    assert_int_equal(s.bytes, (4 + 1) * 4 + (2 + 1) * 8 + (3 + 1) * 4 + (4 + 1) * 4);
    volt_grad_reducer_free(r);
    /* 16 bytes, last first: unused (16) | c (16) | b (12) | a (16). */
    r = make(p, 16e-6);
    assert_int_equal(volt_grad_reducer_get_stats(r).buckets, 4);
    volt_grad_reducer_free(r);
    /* 28 bytes: unused + b (28) | c | a. */
    r = make(p, 28e-6);
    assert_int_equal(volt_grad_reducer_get_stats(r).buckets, 3);
    volt_grad_reducer_free(r);
}

static void test_accumulation_with_sync_off(void **state) {
    (void)state;
    volt_tensor *p[N];
    make_params(p);
    volt_grad_reducer *r = make(p, 1e-6);
    volt_grad_reducer_set_sync(r, false);
    assert_false(volt_grad_reducer_sync(r));
    assert_int_equal(volt_backward(loss_of(p, 1)), VOLT_OK);
    assert_int_equal(volt_backward(loss_of(p, 2)), VOLT_OK);
    volt_grad_reducer_set_sync(r, true);
    assert_int_equal(volt_backward(loss_of(p, 4)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_grads(p, 7, 3);
    volt_grad_reducer_free(r);
}

/* A gradient accumulated on no_sync passes counts even when the
 * synchronized pass gives the parameter none. */
static void test_gradient_from_no_sync_pass_counts(void **state) {
    (void)state;
    volt_tensor *p[N];
    make_params(p);
    volt_grad_reducer *r = make(p, 0);
    volt_grad_reducer_set_sync(r, false);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul_scalar(p[UNUSED], 3))), VOLT_OK);
    volt_grad_reducer_set_sync(r, true);
    assert_int_equal(volt_backward(loss_of(p, 1)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    VT_ASSERT_CLOSE(p[UNUSED]->grad, ((double[]){3, 3, 3, 3}), 4, 0, 0);
    VT_ASSERT_CLOSE(p[A]->grad, ((double[]){1, 1, 1, 1}), 4, 0, 0);
    volt_grad_reducer_free(r);
}

/* finish starts every bucket itself after passes that all ran with sync
 * off, or with no backward at all. */
static void test_finish_after_passes_without_sync(void **state) {
    (void)state;
    volt_tensor *p[N];
    make_params(p);
    volt_grad_reducer *r = make(p, 1e-6);
    volt_grad_reducer_set_sync(r, false);
    assert_int_equal(volt_backward(loss_of(p, 1)), VOLT_OK);
    assert_int_equal(volt_backward(loss_of(p, 2)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_grads(p, 3, 2);
    assert_false(volt_grad_reducer_sync(r)); /* finish leaves the setting alone */
    for (int i = 0; i < N; i++) volt_tensor_clear_grad(p[i]);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    for (int i = 0; i < N; i++) assert_null(p[i]->grad);
    assert_int_equal(volt_grad_reducer_get_stats(r).reductions, 2);
    volt_grad_reducer_free(r);
}

/* Sync off after a synchronized pass of the same window would lose that
 * pass's gradient in the bucket: an error from finish. */
static void test_sync_off_after_a_synchronized_pass_fails(void **state) {
    (void)state;
    volt_tensor *p[N];
    make_params(p);
    volt_grad_reducer *r = make(p, 0);
    assert_int_equal(volt_backward(loss_of(p, 1)), VOLT_OK);
    volt_grad_reducer_set_sync(r, false);
    assert_int_equal(volt_backward(loss_of(p, 1)), VOLT_OK);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "got a gradient in a pass with sync off after a "
                                    "synchronized pass of the same window");
    assert_grads(p, 2, 2); /* left as backward made them */
    volt_grad_reducer_free(r);
}

static void test_two_backwards_in_one_synchronized_pass(void **state) {
    (void)state;
    volt_tensor *p[N];
    make_params(p);
    volt_grad_reducer *r = make(p, 1e-6);
    assert_int_equal(volt_backward(volt_sum_all(p[B])), VOLT_OK);
    assert_int_equal(volt_backward(volt_sum_all(p[B])), VOLT_OK);
    VT_ASSERT_NO_ERROR(); /* kept for finish, not left on the sticky error */
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "parameter 'b' became ready twice in one synchronized pass");
    assert_int_equal(volt_grad_reducer_get_stats(r).reductions, 0);
    /* The next pass is clean. */
    for (int i = 0; i < N; i++) volt_tensor_clear_grad(p[i]);
    assert_int_equal(volt_backward(loss_of(p, 1)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_grads(p, 1, 1);
    volt_grad_reducer_free(r);
}

/* The hooks stay on the parameters (they cannot be removed) and do nothing
 * once the reducer is freed; under ASan a use after free would show here. */
static void test_hooks_outlive_the_reducer(void **state) {
    (void)state;
    volt_tensor *p[N];
    make_params(p);
    for (int i = 0; i < 3; i++) {
        volt_grad_reducer *r = make(p, 1e-6);
        assert_int_equal(volt_backward(loss_of(p, 1)), VOLT_OK);
        volt_grad_reducer_free(r); /* mid-pass: buckets in flight are waited for */
    }
    for (int i = 0; i < N; i++) volt_tensor_clear_grad(p[i]);
    assert_int_equal(volt_backward(loss_of(p, 1)), VOLT_OK);
    VT_ASSERT_NO_ERROR();
    assert_grads(p, 1, 1);
    volt_grad_reducer_free(NULL);
}

/* ----------------------------------------------------------- bad inputs */

static void test_bad_arguments(void **state) {
    (void)state;
    volt_tensor *p[N];
    make_params(p);
    assert_null(volt_grad_reducer_new(NULL, p, names, N, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "grad_reducer: process group is NULL");
    assert_null(volt_grad_reducer_new(pg, NULL, names, N, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "grad_reducer: params is NULL");
    assert_null(volt_grad_reducer_new(pg, p, names, 0, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "n must be a positive number of parameters (got 0)");
    assert_null(volt_grad_reducer_new(pg, p, names, -3, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "(got -3)");

    volt_tensor *q[2] = {p[A], NULL};
    assert_null(volt_grad_reducer_new(pg, q, (const char *[]){"a", "gone"}, 2, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "grad_reducer: params[1] ('gone') is NULL");
    q[1] = volt_mul_scalar(p[A], 2);
    assert_null(volt_grad_reducer_new(pg, q, NULL, 2, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "params[1] (f32[2,2]) is not a leaf");
    q[1] = volt_zeros(1, (int64_t[]){3}, VOLT_I64);
    assert_null(volt_grad_reducer_new(pg, q, (const char *[]){"a", "steps"}, 2, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "params[1] ('steps', i64[3]) is not f32, f64 or bf16");
    q[1] = volt_zeros(1, (int64_t[]){3}, VOLT_F32);
    assert_null(volt_grad_reducer_new(pg, q, (const char *[]){"a", "frozen"}, 2, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "params[1] ('frozen', f32[3]) does not require grad");
    q[1] = p[A];
    assert_null(volt_grad_reducer_new(pg, q, NULL, 2, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "params[1] is the same tensor as params[0]");
    volt_tensor *t = volt_zeros(2, (int64_t[]){3, 2}, VOLT_F32);
    q[1] = volt_requires_grad(volt_transpose(t, 0, 1), true);
    assert_null(volt_grad_reducer_new(pg, q, NULL, 2, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "params[1] (f32[2,3]) is not contiguous");

    double caps[3] = {-1, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        volt_grad_reducer_options o = {.bucket_cap_mb = caps[i]};
        assert_null(volt_grad_reducer_new(pg, p, names, N, &o));
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "bucket_cap_mb must be a positive number");
    }

    assert_int_equal(volt_grad_reducer_finish(NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "reducer is NULL");
    volt_grad_reducer_set_sync(NULL, true);
    assert_false(volt_grad_reducer_sync(NULL));
    assert_int_equal(volt_grad_reducer_get_stats(NULL).reductions, 0);
    /* Nothing was left on the parameters: a normal reducer still works. */
    volt_grad_reducer *r = make(p, 0);
    assert_int_equal(volt_backward(loss_of(p, 1)), VOLT_OK);
    assert_int_equal(volt_grad_reducer_finish(r), VOLT_OK);
    assert_grads(p, 1, 1);
    volt_grad_reducer_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_finish_keeps_backward_gradients),
        VT_TEST(test_bucket_per_parameter_with_a_tiny_cap),
        VT_TEST(test_accumulation_with_sync_off),
        VT_TEST(test_gradient_from_no_sync_pass_counts),
        VT_TEST(test_finish_after_passes_without_sync),
        VT_TEST(test_sync_off_after_a_synchronized_pass_fails),
        VT_TEST(test_two_backwards_in_one_synchronized_pass),
        VT_TEST(test_hooks_outlive_the_reducer),
        VT_TEST(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
