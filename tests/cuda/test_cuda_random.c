/* test_cuda_random.c (needs a GPU; skipped without one): Philox on the
 * device in the CPU's stream layout — for the same generator state, CUDA
 * dropout gives exactly the CPU's output (so the same mask) and the same
 * gradient, in f32, f64, bf16 and f16 (bf16 / f16 against the CPU's f32
 * dropout of the same values, rounded), for 1, 7, 1000003 elements and a
 * strided input, and both generators end at the same counter; bernoulli
 * likewise; the device fill for initialisers (volt_cuda_random_fill)
 * against volt_rand / volt_randn (uniforms exact, normals within 1e-6 in
 * f32 and 1e-13 in f64: the device's log, sin and cos against libm's); an
 * integer input refused by name. */
#include "cuda_test.h"
#include "ops/cuda/cuda_random.h"

static volt_generator gen;

/* CPU f64 values representable in dtype. */
static volt_tensor *values(int ndim, const int64_t *shape, volt_dtype dtype) {
    volt_tensor *t = volt_randn(ndim, shape, VOLT_F64, &gen);
    return volt_to_dtype(volt_to_dtype(t, dtype), VOLT_F64);
}

/* dropout on both devices from one generator state: same values, same
 * gradient, same counter after. The CPU runs in dtype (f32 for 16-bit
 * dtypes, then rounded). */
static void check_dropout(const char *what, int ndim, const int64_t *shape, double p,
                          volt_dtype dtype, bool transposed) {
    volt_scope_begin();
    char name[160];
    snprintf(name, sizeof name, "%s %s p=%g", what, volt_dtype_name(dtype), p);
    bool narrow = dtype == VOLT_BF16 || dtype == VOLT_F16;
    volt_dtype cpu_dtype = narrow ? VOLT_F32 : dtype;
    volt_tensor *x64 = values(ndim, shape, dtype);
    volt_tensor *xc = volt_requires_grad(volt_to_dtype(x64, cpu_dtype), true);
    volt_tensor *xg = volt_requires_grad(volt_to_device(volt_to_dtype(x64, dtype), VT_CUDA0), true);
    const volt_tensor *inc = transposed ? volt_transpose(xc, 0, ndim - 1) : xc;
    const volt_tensor *ing = transposed ? volt_transpose(xg, 0, ndim - 1) : xg;
    volt_generator gc = volt_generator_make(1234, 5), gg = gc;
    gc.counter = gg.counter = 77;
    volt_tensor *want = volt_dropout(inc, p, true, &gc), *got = volt_dropout(ing, p, true, &gg);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(gc.counter, gg.counter);
    volt_tensor *want_d = narrow ? volt_to_dtype(want, dtype) : want;
    VT_ASSERT_SAME_VALUES(got, want_d, 0.0, 0.0, name);
    volt_tensor *r = values(want->ndim, want->shape, dtype);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(want, volt_to_dtype(r, cpu_dtype)))),
                     VOLT_OK);
    volt_tensor *rg = volt_to_device(volt_to_dtype(r, dtype), VT_CUDA0);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(got, rg))), VOLT_OK);
    VT_ASSERT_NO_ERROR();
    snprintf(name, sizeof name, "%s %s p=%g gradient", what, volt_dtype_name(dtype), p);
    volt_tensor *gwant = narrow ? volt_to_dtype(xc->grad, dtype) : xc->grad;
    VT_ASSERT_SAME_VALUES(xg->grad, gwant, 0.0, 0.0, name);
    volt_scope_end();
}

static void test_dropout_same_as_cpu(void **state) {
    (void)state;
    const int64_t one[] = {1}, seven[] = {7}, big[] = {1000003}, mat[] = {37, 21};
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};
    for (int i = 0; i < 4; i++) {
        volt_dtype t = dtypes[i];
        check_dropout("dropout 1", 1, one, 0.5, t, false);
        check_dropout("dropout 7", 1, seven, 0.3, t, false);
        check_dropout("dropout 1000003", 1, big, 0.1, t, false);
        check_dropout("dropout transposed", 2, mat, 0.5, t, true);
    }
    check_dropout("dropout p=0.9", 1, big, 0.9, VOLT_F32, false);
}

/* The mask of the default generator after volt_seed_everything: equal on
 * both devices (what a training run's dropout layers draw). */
static void test_dropout_default_generator(void **state) {
    (void)state;
    volt_tensor *x = volt_ones(VOLT_SHAPE(4, 1001), VOLT_F32);
    volt_seed_everything(42);
    volt_tensor *want = volt_dropout(x, 0.25, true, NULL);
    volt_seed_everything(42);
    volt_tensor *got = volt_dropout(volt_to_device(x, VT_CUDA0), 0.25, true, NULL);
    VT_ASSERT_SAME_VALUES(got, want, 0.0, 0.0, "dropout mask from the default generator");
    /* about 3/4 kept (an exact count: the mask is the CPU's) */
    double kept = volt_tensor_item(volt_sum_all(want)) * 0.75;
    assert_true(kept > 0.7 * 4004 && kept < 0.8 * 4004);
}

static void check_bernoulli(int64_t n, volt_dtype dtype) {
    volt_scope_begin();
    char name[96];
    snprintf(name, sizeof name, "bernoulli %lld %s", (long long)n, volt_dtype_name(dtype));
    bool narrow = dtype == VOLT_BF16 || dtype == VOLT_F16;
    volt_tensor *p64 =
        volt_to_dtype(volt_to_dtype(volt_rand(VOLT_SHAPE(n), VOLT_F64, &gen), dtype), VOLT_F64);
    volt_generator gc = volt_generator_make(99, 1), gg = gc;
    volt_tensor *want = volt_bernoulli(volt_to_dtype(p64, narrow ? VOLT_F32 : dtype), &gc);
    volt_tensor *got = volt_bernoulli(volt_to_device(volt_to_dtype(p64, dtype), VT_CUDA0), &gg);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(got->dtype, dtype);
    assert_int_equal(gc.counter, gg.counter);
    VT_ASSERT_SAME_VALUES(got, want, 0.0, 0.0, name);
    volt_scope_end();
}

static void test_bernoulli_same_as_cpu(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};
    for (int i = 0; i < 4; i++) {
        check_bernoulli(1, dtypes[i]);
        check_bernoulli(7, dtypes[i]);
        check_bernoulli(1000003, dtypes[i]);
    }
}

static void test_random_fill_same_as_cpu(void **state) {
    (void)state;
    const volt_dtype dt[] = {VOLT_F32, VOLT_F64};
    const int64_t sizes[] = {1, 7, 1000003};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            for (int normal = 0; normal < 2; normal++) {
                volt_scope_begin();
                volt_generator gc = volt_generator_make(5, 9), gg = gc;
                volt_tensor *want = normal ? volt_randn(VOLT_SHAPE(sizes[k]), dt[i], &gc)
                                           : volt_rand(VOLT_SHAPE(sizes[k]), dt[i], &gc);
                volt_tensor *got = volt_tensor_new(dt[i], VT_CUDA0, VOLT_SHAPE(sizes[k]));
                assert_int_equal(volt_cuda_random_fill("test", got, normal, &gg), VOLT_OK);
                assert_int_equal(gc.counter, gg.counter);
                double tol = !normal ? 0.0 : dt[i] == VOLT_F32 ? 1e-6 : 1e-13;
                char name[64];
                snprintf(name, sizeof name, "random_fill %s normal %d n %lld",
                         volt_dtype_name(dt[i]), normal, (long long)sizes[k]);
                VT_ASSERT_SAME_VALUES(got, want, tol, tol, name);
                volt_scope_end();
            }
}

static void test_refused(void **state) {
    (void)state;
    volt_tensor *x = volt_to_device(volt_zeros(VOLT_SHAPE(2, 3), VOLT_I64), VT_CUDA0);
    assert_null(volt_dropout(x, 0.5, true, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "dropout: expected a floating-point tensor, got i64[2,3]");
    assert_null(volt_bernoulli(x, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "bernoulli: expected a floating-point tensor, got i64[2,3]");
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_random");
    gen = volt_generator_make(77, 3);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_dropout_same_as_cpu),
        VT_CUDA_TEST(test_dropout_default_generator),
        VT_CUDA_TEST(test_bernoulli_same_as_cpu),
        VT_CUDA_TEST(test_random_fill_same_as_cpu),
        VT_CUDA_TEST(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
