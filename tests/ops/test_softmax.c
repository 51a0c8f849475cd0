/* test_softmax.c: softmax and log_softmax — values from the formulas (f32,
 * f64), numerical stability for huge logits, every dim (contiguous and
 * strided rows), NaN propagation, thread-count independence, float64
 * gradchecks on contiguous and strided inputs, and the error paths. */
#include "volt_test.h"

#include "ops/cpu/softmax.h" /* volt_expf, the f32 kernels' exp */

#include <math.h>
#include <stdio.h>
#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define VEC(dtype, ...) vec((dtype), (const double[]){__VA_ARGS__}, COUNT(__VA_ARGS__))
#define EXPECT(t, rtol, ...)                                                                       \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (rtol), 1e-300)

static volt_tensor *vec(volt_dtype dtype, const double *v, int64_t n) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, 1, &n);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

static double tol(volt_dtype d) { return d == VOLT_F32 ? 1e-6 : 1e-14; }

static const volt_dtype floats[2] = {VOLT_F32, VOLT_F64};

/* Asserts a and b hold the same values (same numel, row-major order). */
static void assert_same(const volt_tensor *a, const volt_tensor *b, double rtol) {
    int64_t n = volt_tensor_numel(a);
    assert_int_equal(n, volt_tensor_numel(b));
    for (int64_t i = 0; i < n; i++) {
        double x = volt_tensor_get_flat(a, i), y = volt_tensor_get_flat(b, i);
        if (!(fabs(x - y) <= rtol * fabs(y) + 1e-300)) {
            fprintf(stderr, "element %lld: %.17g vs %.17g\n", (long long)i, x, y);
            fail();
        }
    }
}

/* ------------------------------------------------------------- values */

static void test_softmax_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        /* sum exp([1,2,3]) = e + e^2 + e^3 = 30.19287485057736; logsumexp =
         * 3 + log(1 + e^-1 + e^-2) = 3 + log(1.5032147244080551) = 3.40760596444438.
         * softmax = exp(x - lse), log_softmax = x - lse. */
        volt_tensor *s = volt_softmax(VEC(d, 1, 2, 3), 0);
        assert_int_equal(s->dtype, d);
        EXPECT(s, tol(d), 0.09003057317038046, 0.24472847105479767, 0.6652409557748219);
        volt_tensor *l = volt_log_softmax(VEC(d, 1, 2, 3), -1);
        assert_int_equal(l->dtype, d);
        EXPECT(l, tol(d), -2.40760596444438, -1.40760596444438, -0.40760596444438);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_softmax_large_logits_stay_finite(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = floats[k];
        /* Shifted by the max 1000: exp([0, 0, -1]) summed = 2 + e^-1 =
         * 2.3678794411714423; softmax = [1, 1, e^-1] / 2.36787944117...;
         * log_softmax = [0, 0, -1] - log(2.36787944117...) = -0.8619948040582511 - [0,0,1]. */
        EXPECT(volt_softmax(VEC(d, 1000, 1000, 999), 0), tol(d), 0.4223187982515182,
               0.4223187982515182, 0.15536240349696362);
        EXPECT(volt_log_softmax(VEC(d, 1000, 1000, 999), 0), tol(d), -0.8619948040582511,
               -0.8619948040582511, -1.8619948040582512);
        /* [-1000, 0]: exp(-1000) underflows to 0, log_softmax keeps -1000 exactly. */
        EXPECT(volt_softmax(VEC(d, -1000, 0), 0), tol(d), 0, 1);
        EXPECT(volt_log_softmax(VEC(d, -1000, 0), 0), tol(d), -1000, 0);
        /* A row with -inf (a masked position) gives probability 0. */
        EXPECT(volt_softmax(VEC(d, -INFINITY, 0, 0), 0), tol(d), 0, 0.5, 0.5);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_softmax_nan_propagates(void **state) {
    (void)state;
    volt_tensor *s = volt_softmax(VEC(VOLT_F64, 1, NAN, 3), 0);
    for (int i = 0; i < 3; i++) assert_true(isnan(volt_tensor_get_flat(s, i)));
    volt_tensor *l = volt_log_softmax(VEC(VOLT_F32, NAN, 1, 3), 0);
    for (int i = 0; i < 3; i++) assert_true(isnan(volt_tensor_get_flat(l, i)));
    VT_ASSERT_NO_ERROR();
}

static void test_softmax_dim0_and_0d(void **state) {
    (void)state;
    /* [[1,2,3],[4,6,0]] along dim 0: each column is [sigmoid(a-b), sigmoid(b-a)]:
     * sigmoid(-3) = 0.04742587317756679, sigmoid(-4) = 0.017986209962091555,
     * sigmoid(3) = 0.9525741268224334. */
    double v[6] = {1, 2, 3, 4, 6, 0};
    volt_tensor *a = volt_from_array(v, VOLT_F64, VOLT_SHAPE(2, 3));
    volt_tensor *s = volt_softmax(a, 0);
    VT_ASSERT_SHAPE(s, 2, 3);
    EXPECT(s, 1e-14, 0.04742587317756679, 0.017986209962091555, 0.9525741268224334,
           0.9525741268224334, 0.9820137900379085, 0.04742587317756679);
    /* log_softmax along dim -2 is log of the same. */
    volt_tensor *l = volt_log_softmax(a, -2);
    for (int i = 0; i < 6; i++)
        assert_true(fabs(volt_tensor_get_flat(l, i) - log(volt_tensor_get_flat(s, i))) < 1e-14);
    /* A 0-d tensor is a single row of one element. */
    EXPECT(volt_softmax(volt_scalar(5, VOLT_F32), 0), 0, 1);
    EXPECT(volt_log_softmax(volt_scalar(-5, VOLT_F64), -1), 0, 0);
    VT_ASSERT_NO_ERROR();
}

/* Every dim of a [3,4,5] tensor, contiguous and as a strided view, against
 * a direct evaluation of the formula. */
static void test_softmax_every_dim_matches_formula(void **state) {
    (void)state;
    const int64_t shape[3] = {3, 4, 5};
    volt_tensor *views[2] = {vt_leaf(3, shape, 11, 2.0, 0.0),
                             vt_leaf_strided(3, shape, 12, 2.0, 0.0)};
    assert_false(volt_tensor_is_contiguous(views[1]));
    for (int v = 0; v < 2; v++) {
        volt_tensor *x = views[v];
        for (int dim = 0; dim < 3; dim++) {
            volt_tensor *s = volt_softmax(x, dim), *l = volt_log_softmax(x, dim - 3);
            assert_true(volt_tensor_is_contiguous(s));
            int64_t idx[3], j[3];
            for (idx[0] = 0; idx[0] < 3; idx[0]++)
                for (idx[1] = 0; idx[1] < 4; idx[1]++)
                    for (idx[2] = 0; idx[2] < 5; idx[2]++) {
                        double m = -INFINITY, sum = 0;
                        memcpy(j, idx, sizeof j);
                        for (j[dim] = 0; j[dim] < shape[dim]; j[dim]++)
                            m = fmax(m, volt_tensor_get(x, j));
                        for (j[dim] = 0; j[dim] < shape[dim]; j[dim]++)
                            sum += exp(volt_tensor_get(x, j) - m);
                        double xi = volt_tensor_get(x, idx);
                        assert_true(fabs(volt_tensor_get(s, idx) - exp(xi - m) / sum) < 1e-14);
                        assert_true(fabs(volt_tensor_get(l, idx) - (xi - m - log(sum))) < 1e-13);
                    }
        }
    }
    VT_ASSERT_NO_ERROR();
}

/* Large enough to run on several threads: same result on one thread. */
static void test_softmax_thread_count_independent(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(3, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(64, 1500), VOLT_F32, &g);
    int threads = volt_get_num_threads();
    volt_set_num_threads(1);
    volt_tensor *a = volt_softmax(x, 1), *b = volt_log_softmax(x, 0);
    volt_set_num_threads(threads > 1 ? threads : 2);
    volt_tensor *c = volt_softmax(x, 1), *d = volt_log_softmax(x, 0);
    volt_set_num_threads(threads);
    assert_same(c, a, 0);
    assert_same(d, b, 0);
    VT_ASSERT_NO_ERROR();
}

/* The f32 kernels' vectorisable exp against libm's, and the f32 kernels
 * (contiguous rows of 1003 = 8 * 125 + 3: vector body and tail) against the
 * f64 ones, which use libm. */
static void test_fast_exp_matches_libm(void **state) {
    (void)state;
    double worst = 0;
    for (double x = -87.4; x < 88.3; x += 0.00097) {
        float xf = (float)x;
        double ref = exp((double)xf), rel = fabs((double)volt_expf(xf) - ref) / ref;
        if (rel > worst) worst = rel;
    }
    assert_true(worst < 2e-7); /* within 2 ulp of float */
    assert_true(volt_expf(0.0f) == 1.0f);
    assert_true(volt_expf(-INFINITY) == 0.0f);
    assert_true(volt_expf(-100.0f) == 0.0f); /* no subnormal results */
    assert_true(isinf(volt_expf(INFINITY)) && isinf(volt_expf(89.0f)));
    assert_true(isnan(volt_expf(NAN)));
}

static void test_softmax_f32_matches_f64(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(17, 0);
    volt_tensor *x64 = volt_mul_scalar(volt_randn(VOLT_SHAPE(7, 1003), VOLT_F64, &g), 4.0);
    volt_tensor *x32 = volt_to_dtype(x64, VOLT_F32);
    x64 = volt_to_dtype(x32, VOLT_F64); /* the same values in both */
    volt_tensor *pairs[4][2] = {{volt_softmax(x32, 1), volt_softmax(x64, 1)},
                                {volt_log_softmax(x32, 1), volt_log_softmax(x64, 1)},
                                {volt_softmax(x32, 0), volt_softmax(x64, 0)},
                                {volt_log_softmax(x32, 0), volt_log_softmax(x64, 0)}};
    for (int k = 0; k < 4; k++)
        for (int64_t i = 0; i < 7 * 1003; i++) {
            double a = volt_tensor_get_flat(pairs[k][0], i),
                   b = volt_tensor_get_flat(pairs[k][1], i);
            assert_true(fabs(a - b) <= 3e-6 * fabs(b) + 1e-30);
        }
    VT_ASSERT_NO_ERROR();
}

/* ----------------------------------------------------------- gradients */

static volt_tensor *softmax_fn(volt_tensor **in, void *ctx) {
    return volt_softmax(in[0], *(int *)ctx);
}

static volt_tensor *log_softmax_fn(volt_tensor **in, void *ctx) {
    return volt_log_softmax(in[0], *(int *)ctx);
}

static void test_softmax_gradcheck(void **state) {
    (void)state;
    int dim = 0;
    VT_GRADCHECK(softmax_fn, &dim, 1, vt_leaf(VOLT_SHAPE(5), 1, 1.0, 0.0));
    VT_GRADCHECK(log_softmax_fn, &dim, 1, vt_leaf(VOLT_SHAPE(5), 2, 1.0, 0.0));
    VT_GRADCHECK(softmax_fn, &dim, 1, vt_leaf_strided(VOLT_SHAPE(4), 3, 1.0, 0.0));
    for (dim = -3; dim < 3; dim++) {
        VT_GRADCHECK(softmax_fn, &dim, 1, vt_leaf(VOLT_SHAPE(2, 3, 4), 4, 1.0, 0.0));
        VT_GRADCHECK(log_softmax_fn, &dim, 1, vt_leaf(VOLT_SHAPE(2, 3, 4), 5, 1.0, 0.0));
        VT_GRADCHECK(softmax_fn, &dim, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 6, 1.0, 0.0));
        VT_GRADCHECK(log_softmax_fn, &dim, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 7, 1.0, 0.0));
    }
    dim = 1;
    VT_GRADCHECK(log_softmax_fn, &dim, 1, vt_leaf_strided(VOLT_SHAPE(3, 6), 8, 3.0, 0.0));
    VT_ASSERT_NO_ERROR();
}

/* sum(softmax) is 1 whatever x is, so its gradient is 0; the gradient of
 * sum(log_softmax) is 1 - C * softmax. */
static void test_softmax_gradient_values(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(VEC(VOLT_F64, 1, 2, 3), true);
    assert_int_equal(volt_backward(volt_sum_all(volt_softmax(x, 0))), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad, ((const double[]){0, 0, 0}), 3, 0, 1e-15);
    volt_tensor_clear_grad(x);
    assert_int_equal(volt_backward(volt_sum_all(volt_log_softmax(x, 0))), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad,
                    ((const double[]){1 - 3 * 0.09003057317038046, 1 - 3 * 0.24472847105479767,
                                      1 - 3 * 0.6652409557748219}),
                    3, 1e-12, 1e-15);
    volt_tensor_clear_grad(x);
    VT_ASSERT_NO_ERROR();
}

/* --------------------------------------------------------------- errors */

static void test_softmax_errors(void **state) {
    (void)state;
    assert_null(volt_softmax(NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "softmax: argument 'a' is NULL");
    assert_null(volt_log_softmax(NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "log_softmax: argument 'a' is NULL");
    volt_tensor *x = volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32);
    assert_null(volt_softmax(x, 2));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "softmax: dimension 2 out of range for f32[2,3]");
    assert_null(volt_log_softmax(x, -3));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "log_softmax: dimension -3 out of range");
    assert_null(volt_softmax(volt_zeros(VOLT_SHAPE(3), VOLT_I64), 0));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "softmax: i64[3] is not supported (f32 and f64 are)");
    assert_null(volt_log_softmax(volt_zeros(VOLT_SHAPE(3), VOLT_F16), 0));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "log_softmax: f16[3] is not supported");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_softmax_values),
        VT_TEST(test_softmax_large_logits_stay_finite),
        VT_TEST(test_softmax_nan_propagates),
        VT_TEST(test_softmax_dim0_and_0d),
        VT_TEST(test_softmax_every_dim_matches_formula),
        VT_TEST(test_softmax_thread_count_independent),
        VT_TEST(test_fast_exp_matches_libm),
        VT_TEST(test_softmax_f32_matches_f64),
        VT_TEST(test_softmax_gradcheck),
        VT_TEST(test_softmax_gradient_values),
        VT_TEST(test_softmax_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
