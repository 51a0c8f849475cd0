/* test_init.c: the initialisers — fans and gains, the statistics of every
 * distribution over large tensors (bounds, mean, standard deviation against
 * the formulas), the truncated normal against the truncated-normal moments
 * (also deep in a tail), orthogonality and R's positive diagonal for
 * orthogonal_, determinism with a seed, in-place writes into parameters,
 * strided views and other floating dtypes, and the error paths. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

typedef struct {
    double min, max, mean, std;
} stats;

static stats stats_of(const volt_tensor *t) {
    int64_t n = volt_tensor_numel(t);
    stats s = {INFINITY, -INFINITY, 0, 0};
    double sum = 0, sumsq = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = volt_tensor_get_flat(t, i);
        s.min = fmin(s.min, v);
        s.max = fmax(s.max, v);
        sum += v;
    }
    s.mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = volt_tensor_get_flat(t, i) - s.mean;
        sumsq += d * d;
    }
    s.std = sqrt(sumsq / (double)n);
    return s;
}

/* |got - want| within k standard errors of a mean of n samples of std sd. */
static void assert_near(double got, double want, double tolerance) {
    if (!(fabs(got - want) <= tolerance)) {
        print_error("%.8g differs from %.8g by more than %.3g\n", got, want, tolerance);
        fail();
    }
}

/* ------------------------------------------------------------ fans, gains */

static void test_fans_and_gains(void **state) {
    (void)state;
    int64_t fi = 0, fo = 0;
    volt_tensor *w = volt_empty(VOLT_SHAPE(5, 3), VOLT_F32);
    assert_int_equal(volt_init_fans(w, &fi, &fo), VOLT_OK);
    assert_int_equal(fi, 3);
    assert_int_equal(fo, 5);
    /* A conv weight [out 4, in 3, 5, 2]: receptive field 10. */
    assert_int_equal(volt_init_fans(volt_empty(VOLT_SHAPE(4, 3, 5, 2), VOLT_F32), &fi, &fo),
                     VOLT_OK);
    assert_int_equal(fi, 30);
    assert_int_equal(fo, 40);
    assert_int_equal(volt_init_fans(volt_empty(VOLT_SHAPE(5), VOLT_F32), &fi, &fo), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "at least 2 dimensions, got f32[5]");

    assert_true(volt_init_calculate_gain("linear", NAN) == 1.0);
    assert_true(volt_init_calculate_gain("conv2d", NAN) == 1.0);
    assert_true(volt_init_calculate_gain("sigmoid", NAN) == 1.0);
    assert_near(volt_init_calculate_gain("tanh", NAN), 5.0 / 3.0, 1e-15);
    assert_near(volt_init_calculate_gain("relu", NAN), sqrt(2.0), 1e-15);
    assert_near(volt_init_calculate_gain("selu", NAN), 0.75, 1e-15);
    /* torch: calculate_gain('leaky_relu') = sqrt(2 / (1 + 0.01^2)) = 1.4141428569978354;
     * with param 0.2: sqrt(2 / 1.04) = 1.3867504905630728. */
    assert_near(volt_init_calculate_gain("leaky_relu", NAN), 1.4141428569978354, 1e-15);
    assert_near(volt_init_calculate_gain("leaky_relu", 0.2), 1.3867504905630728, 1e-15);
    assert_near(volt_init_calculate_gain("leaky_relu", sqrt(5.0)), sqrt(1.0 / 3.0), 1e-15);
    VT_ASSERT_NO_ERROR();
    assert_true(isnan(volt_init_calculate_gain("swish", NAN)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "calculate_gain: unsupported nonlinearity 'swish'");
}

/* ------------------------------------------------------- distributions */

static void test_uniform_and_normal_statistics(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(1, 0);
    volt_tensor *t = volt_empty(VOLT_SHAPE(200, 500), VOLT_F32);
    const double n = 1e5;
    assert_int_equal(volt_init_uniform_(t, -2, 3, &g), VOLT_OK);
    stats s = stats_of(t);
    assert_true(s.min >= -2 && s.max <= 3);
    assert_true(s.min < -1.99 && s.max > 2.99);
    assert_near(s.mean, 0.5, 5 * (5 / sqrt(12.0)) / sqrt(n));
    assert_near(s.std, 5 / sqrt(12.0), 0.01);
    volt_tensor *t64 = volt_empty(VOLT_SHAPE(100, 1000), VOLT_F64);
    assert_int_equal(volt_init_normal_(t64, 1.5, 0.5, &g), VOLT_OK);
    s = stats_of(t64);
    assert_near(s.mean, 1.5, 5 * 0.5 / sqrt(n));
    assert_near(s.std, 0.5, 0.005);
    /* std 0: every value is the mean. */
    assert_int_equal(volt_init_normal_(t64, -3, 0, &g), VOLT_OK);
    s = stats_of(t64);
    assert_true(s.min == -3 && s.max == -3);
    VT_ASSERT_NO_ERROR();
}

static void test_constants_any_layout_and_dtype(void **state) {
    (void)state;
    volt_tensor *t = volt_empty(VOLT_SHAPE(3, 4), VOLT_F64);
    assert_int_equal(volt_init_constant_(t, 2.5), VOLT_OK);
    stats s = stats_of(t);
    assert_true(s.min == 2.5 && s.max == 2.5);
    assert_int_equal(volt_init_zeros_(t), VOLT_OK);
    assert_true(stats_of(t).max == 0 && stats_of(t).min == 0);
    /* A transposed view writes through to its base. */
    volt_tensor *view = volt_transpose(t, 0, 1);
    assert_int_equal(volt_init_ones_(view), VOLT_OK);
    assert_true(stats_of(t).min == 1);
    assert_int_equal(volt_init_uniform_(view, 5, 6, NULL), VOLT_OK);
    assert_true(stats_of(t).min >= 5 && stats_of(t).max <= 6);
    /* bf16 and f16 tensors take the values rounded. */
    volt_tensor *h = volt_empty(VOLT_SHAPE(64), VOLT_BF16);
    assert_int_equal(volt_init_ones_(h), VOLT_OK);
    assert_true(stats_of(h).min == 1 && stats_of(h).max == 1);
    volt_tensor *f16 = volt_empty(VOLT_SHAPE(8, 8), VOLT_F16);
    assert_int_equal(volt_init_kaiming_uniform_(f16, 0, VOLT_FAN_IN, "relu", NULL), VOLT_OK);
    assert_true(stats_of(f16).max <= sqrt(6.0 / 8) * 1.001);
    VT_ASSERT_NO_ERROR();
}

/* Standard normal density and CDF, for the truncated moments. */
static double phi(double x) { return exp(-0.5 * x * x) / sqrt(2 * M_PI); }
static double cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Mean and standard deviation of N(mean, std) truncated to [a, b]. */
static void truncated_moments(double mean, double std, double a, double b, double *m, double *sd) {
    double al = (a - mean) / std, be = (b - mean) / std, z = cdf(be) - cdf(al);
    /* In the upper tail use the complementary CDF (no cancellation). */
    if (al > 0) z = 0.5 * erfc(al / sqrt(2.0)) - 0.5 * erfc(be / sqrt(2.0));
    double d1 = (phi(al) - phi(be)) / z;
    double d2 = (al * phi(al) - be * phi(be)) / z;
    *m = mean + std * d1;
    *sd = std * sqrt(1 + d2 - d1 * d1);
}

static void test_trunc_normal_statistics(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(2, 0);
    volt_tensor *t = volt_empty(VOLT_SHAPE(100, 1000), VOLT_F64);
    const double cases[4][4] = {
        {0, 1, -2, 2},    /* torch's default */
        {0, 1, 3, 4},     /* deep in the upper tail */
        {5, 2, 4, 5},     /* mean at the edge */
        {0, 0.02, -2, 2}, /* ViT-style: bounds far outside */
    };
    for (int c = 0; c < 4; c++) {
        double mean = cases[c][0], std = cases[c][1], a = cases[c][2], b = cases[c][3];
        assert_int_equal(volt_init_trunc_normal_(t, mean, std, a, b, &g), VOLT_OK);
        stats s = stats_of(t);
        double m, sd;
        truncated_moments(mean, std, a, b, &m, &sd);
        assert_true(s.min >= a && s.max <= b);
        assert_near(s.mean, m, 5 * sd / sqrt(1e5));
        assert_near(s.std, sd, 0.01 * sd);
    }
    /* The lower tail mirrored: [-4, -3] has mean -3.26... */
    assert_int_equal(volt_init_trunc_normal_(t, 0, 1, -4, -3, &g), VOLT_OK);
    double m, sd;
    truncated_moments(0, 1, 3, 4, &m, &sd);
    assert_near(stats_of(t).mean, -m, 5 * sd / sqrt(1e5));
    /* std 0: the mean clamped into [a, b]. */
    assert_int_equal(volt_init_trunc_normal_(t, 7, 0, -2, 2, &g), VOLT_OK);
    assert_true(stats_of(t).min == 2 && stats_of(t).max == 2);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------ xavier, kaiming */

static void test_xavier_and_kaiming_bounds(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(3, 0);
    volt_tensor *w = volt_empty(VOLT_SHAPE(256, 400), VOLT_F32); /* fan_in 400, fan_out 256 */
    double n = 256 * 400;

    /* kaiming_uniform(a = sqrt 5): gain sqrt(1/3), bound = gain sqrt(3 / fan_in) = 1/20. */
    assert_int_equal(volt_init_kaiming_uniform_(w, sqrt(5.0), VOLT_FAN_IN, "leaky_relu", &g),
                     VOLT_OK);
    stats s = stats_of(w);
    assert_true(s.max <= 0.05 && s.min >= -0.05 && s.max > 0.0499 && s.min < -0.0499);
    assert_near(s.std, 0.05 / sqrt(3.0), 0.01 * 0.05);
    assert_near(s.mean, 0, 5 * 0.05 / sqrt(3 * n));
    /* relu, fan_out: bound sqrt(2) sqrt(3 / 256). */
    double bound = sqrt(2.0) * sqrt(3.0 / 256);
    assert_int_equal(volt_init_kaiming_uniform_(w, 0, VOLT_FAN_OUT, "relu", &g), VOLT_OK);
    s = stats_of(w);
    assert_true(s.max <= bound * (1 + 1e-6) && s.max > 0.999 * bound);
    /* kaiming_normal (torch's default nonlinearity leaky_relu, a = 0): std sqrt(2 / 400). */
    assert_int_equal(volt_init_kaiming_normal_(w, 0, VOLT_FAN_IN, NULL, &g), VOLT_OK);
    assert_near(stats_of(w).std, sqrt(2.0 / 400), 0.01 * sqrt(2.0 / 400));
    /* xavier_uniform with gain 2: bound 2 sqrt(6 / 656). */
    bound = 2 * sqrt(6.0 / 656);
    assert_int_equal(volt_init_xavier_uniform_(w, 2, &g), VOLT_OK);
    s = stats_of(w);
    assert_true(s.max <= bound * (1 + 1e-6) && s.max > 0.999 * bound && s.min < -0.999 * bound);
    assert_near(s.std, bound / sqrt(3.0), 0.01 * bound);
    /* xavier_normal: std = sqrt(2 / 656). */
    assert_int_equal(volt_init_xavier_normal_(w, 1, &g), VOLT_OK);
    assert_near(stats_of(w).std, sqrt(2.0 / 656), 0.01 * sqrt(2.0 / 656));
    /* A conv weight: fans include the receptive field (fan_in 3 * 9). */
    volt_tensor *c = volt_empty(VOLT_SHAPE(64, 3, 3, 3), VOLT_F64);
    assert_int_equal(volt_init_kaiming_uniform_(c, sqrt(5.0), VOLT_FAN_IN, "leaky_relu", &g),
                     VOLT_OK);
    assert_true(stats_of(c).max <= 1 / sqrt(27.0) && stats_of(c).max > 0.95 / sqrt(27.0));
    VT_ASSERT_NO_ERROR();
}

/* ---------------------------------------------------------- orthogonal */

/* Max |(A^T A or A A^T) - gain^2 I| for a [rows, cols] matrix. */
static double orthogonality_error(const volt_tensor *q, double gain) {
    int64_t rows = q->shape[0], cols = volt_tensor_numel(q) / rows;
    volt_tensor *m = volt_reshape(q, VOLT_SHAPE(rows, cols));
    bool tall = rows >= cols;
    volt_tensor *p =
        tall ? volt_matmul(volt_transpose(m, 0, 1), m) : volt_matmul(m, volt_transpose(m, 0, 1));
    int64_t k = tall ? cols : rows;
    double worst = 0;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < k; j++)
            worst =
                fmax(worst, fabs(volt_tensor_get_flat(p, i * k + j) - (i == j ? gain * gain : 0)));
    return worst;
}

static void test_orthogonal(void **state) {
    (void)state;
    const int64_t shapes[4][3] = {{10, 6, 1}, {6, 10, 1}, {8, 8, 1}, {4, 2, 3}};
    for (int c = 0; c < 4; c++) {
        int nd = shapes[c][2] == 1 ? 2 : 3;
        volt_tensor *t = volt_empty(nd, shapes[c], VOLT_F64);
        assert_int_equal(volt_init_orthogonal_(t, 1, NULL), VOLT_OK);
        assert_true(orthogonality_error(t, 1) < 1e-12);
        volt_tensor *t32 = volt_empty(nd, shapes[c], VOLT_F32);
        assert_int_equal(volt_init_orthogonal_(t32, 2, NULL), VOLT_OK);
        assert_true(orthogonality_error(t32, 2) < 1e-5);
    }
    /* PyTorch's sign convention: Q = QR's Q with R's diagonal made positive,
     * so R = Q^T A (A the normal matrix drawn first from the generator) is
     * upper triangular with a positive diagonal. */
    volt_generator g1 = volt_generator_make(7, 0), g2 = volt_generator_make(7, 0);
    volt_tensor *q = volt_empty(VOLT_SHAPE(7, 5), VOLT_F64);
    assert_int_equal(volt_init_orthogonal_(q, 1, &g1), VOLT_OK);
    volt_tensor *a = volt_randn(VOLT_SHAPE(7, 5), VOLT_F64, &g2);
    volt_tensor *r = volt_matmul(volt_transpose(q, 0, 1), a);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            double v = volt_tensor_get_flat(r, i * 5 + j);
            if (i > j) assert_true(fabs(v) < 1e-12);
            if (i == j) assert_true(v > 0);
        }
    /* Wide: the rows of Q are the columns of the QR of A^T. */
    volt_tensor *w = volt_empty(VOLT_SHAPE(3, 6), VOLT_F64);
    g1 = volt_generator_make(8, 0);
    g2 = volt_generator_make(8, 0);
    assert_int_equal(volt_init_orthogonal_(w, 1, &g1), VOLT_OK);
    a = volt_randn(VOLT_SHAPE(3, 6), VOLT_F64, &g2);
    r = volt_matmul(w, volt_transpose(a, 0, 1)); /* (Q^T)^T A^T = R [3, 3] */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double v = volt_tensor_get_flat(r, i * 3 + j);
            if (i > j) assert_true(fabs(v) < 1e-12);
            if (i == j) assert_true(v > 0);
        }
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------- determinism */

static void test_seeded_determinism_and_parameters(void **state) {
    (void)state;
    volt_tensor *a = volt_empty(VOLT_SHAPE(30, 20), VOLT_F32),
                *b = volt_empty(VOLT_SHAPE(30, 20), VOLT_F32);
    volt_generator g1 = volt_generator_make(42, 0), g2 = volt_generator_make(42, 0);
    assert_int_equal(volt_init_trunc_normal_(a, 0, 1, -2, 2, &g1), VOLT_OK);
    assert_int_equal(volt_init_trunc_normal_(b, 0, 1, -2, 2, &g2), VOLT_OK);
    for (int i = 0; i < 600; i++)
        assert_true(volt_tensor_get_flat(a, i) == volt_tensor_get_flat(b, i));
    /* The generator advanced: the next draw differs. */
    assert_int_equal(volt_init_trunc_normal_(b, 0, 1, -2, 2, &g2), VOLT_OK);
    assert_true(volt_tensor_get_flat(a, 0) != volt_tensor_get_flat(b, 0));
    /* The default generator follows volt_seed_everything. */
    volt_seed_everything(5);
    assert_int_equal(volt_init_xavier_normal_(a, 1, NULL), VOLT_OK);
    volt_seed_everything(5);
    assert_int_equal(volt_init_xavier_normal_(b, 1, NULL), VOLT_OK);
    for (int i = 0; i < 600; i++)
        assert_true(volt_tensor_get_flat(a, i) == volt_tensor_get_flat(b, i));
    /* A tensor that requires grad is written under no-grad, without a node. */
    volt_requires_grad(a, true);
    assert_true(volt_grad_enabled());
    assert_int_equal(volt_init_orthogonal_(a, 1, NULL), VOLT_OK);
    assert_int_equal(volt_init_zeros_(a), VOLT_OK);
    assert_null(a->grad_fn);
    assert_true(a->requires_grad && volt_grad_enabled());
    VT_ASSERT_NO_ERROR();
}

/* init.uniform_ and init.normal_ are, in every layout and dtype, the f64
 * uniforms of volt_rand (normals of volt_randn) scaled and shifted in
 * double, then stored (rounded once for f32): a contiguous f32 or f64 tensor
 * (one pass) and a transposed view (drawn, then copied) give the same
 * values, leave the generator where volt_rand / volt_randn would, and count
 * as an in-place write (the storage version). */
static void test_random_values_every_layout(void **state) {
    (void)state;
    const double a = -0.3, b = 0.7;
    for (int normal = 0; normal < 2; normal++)
        for (int dt = 0; dt < 2; dt++) {
            volt_dtype dtype = dt ? VOLT_F64 : VOLT_F32;
            for (int transposed = 0; transposed < 2; transposed++) {
                volt_generator g = volt_generator_make(9, 2), ref = g;
                volt_tensor *t = volt_empty(VOLT_SHAPE(37, 29), dtype);
                volt_tensor *target = transposed ? volt_transpose(t, 0, 1) : t;
                uint64_t version = volt_storage_version(t->storage);
                assert_int_equal(normal ? volt_init_normal_(target, a, b, &g)
                                        : volt_init_uniform_(target, a, b, &g),
                                 VOLT_OK);
                /* An in-place write: caches keyed on the version see it. */
                assert_true(volt_storage_version(t->storage) != version);
                volt_tensor *u = normal ? volt_randn(target->ndim, target->shape, VOLT_F64, &ref)
                                        : volt_rand(target->ndim, target->shape, VOLT_F64, &ref);
                assert_true(g.counter == ref.counter);
                for (int64_t i = 0; i < 37 * 29; i++) {
                    int64_t r = i / target->shape[1], c = i % target->shape[1];
                    double want = normal ? volt_tensor_get_flat(u, i) * b + a
                                         : volt_tensor_get_flat(u, i) * (b - a) + a;
                    if (dtype == VOLT_F32) want = (double)(float)want;
                    double got = volt_tensor_get(target, (const int64_t[]){r, c});
                    if (got != want)
                        fail_msg("%s %s %s element %lld: %.17g, want %.17g",
                                 normal ? "normal" : "uniform", volt_dtype_name(dtype),
                                 transposed ? "transposed" : "contiguous", (long long)i, got, want);
                }
            }
        }
}

/* ---------------------------------------------------------------- errors */

static void test_init_errors(void **state) {
    (void)state;
    volt_tensor *i64 = volt_zeros(VOLT_SHAPE(3, 4), VOLT_I64);
    volt_tensor *vec = volt_zeros(VOLT_SHAPE(4), VOLT_F32),
                *m = volt_zeros(VOLT_SHAPE(3, 4), VOLT_F32);
    assert_int_equal(volt_init_uniform_(i64, 0, 1, NULL), VOLT_ERR_DTYPE);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "init: uniform_: tensor i64[3,4] is not floating-point");
    assert_int_equal(volt_init_ones_(i64), VOLT_ERR_DTYPE);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "init: ones_: tensor i64[3,4]");
    assert_int_equal(volt_init_normal_(NULL, 0, 1, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "init: normal_: tensor is NULL");
    assert_int_equal(volt_init_xavier_uniform_(vec, 1, NULL), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "init: xavier_uniform_: fan in and fan out need a tensor of at "
                                    "least 2 dimensions, got f32[4]");
    assert_int_equal(volt_init_kaiming_normal_(vec, 0, VOLT_FAN_IN, "relu", NULL), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "init: kaiming_normal_");
    assert_int_equal(volt_init_kaiming_uniform_(m, 0, VOLT_FAN_IN, "softmax", NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "unsupported nonlinearity 'softmax'");
    assert_int_equal(volt_init_kaiming_uniform_(m, 0, (volt_fan_mode)7, "relu", NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "mode 7");
    assert_int_equal(volt_init_orthogonal_(vec, 1, NULL), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "init: orthogonal_: only tensors with 2 or more dimensions");
    assert_int_equal(volt_init_uniform_(m, 1, 0, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "init: uniform_: low 1 is greater than high 0");
    assert_int_equal(volt_init_normal_(m, 0, -1, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "init: normal_: std -1");
    assert_int_equal(volt_init_trunc_normal_(m, 0, 1, 2, -2, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "init: trunc_normal_: bounds [2, -2]");
    assert_int_equal(volt_init_uniform_(m, 0, INFINITY, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "high inf");
    /* Values untouched by a refused call. */
    assert_true(stats_of(m).max == 0 && stats_of(m).min == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_fans_and_gains),
        VT_TEST(test_uniform_and_normal_statistics),
        VT_TEST(test_constants_any_layout_and_dtype),
        VT_TEST(test_trunc_normal_statistics),
        VT_TEST(test_xavier_and_kaiming_bounds),
        VT_TEST(test_orthogonal),
        VT_TEST(test_seeded_determinism_and_parameters),
        VT_TEST(test_random_values_every_layout),
        VT_TEST(test_init_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
