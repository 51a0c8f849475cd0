/* test_dropout.c: dropout — statistics of the mask over 100k elements,
 * scaling by 1 / (1 - p), eval mode and p = 0 as an identity view carrying
 * the gradient, p = 1, reproducibility from the generator state (explicit
 * and default), independence from the thread count and the memory layout,
 * the gradient mask * scale (and a float64 gradcheck), and the errors. */
#include "volt_test.h"

#include <math.h>

static const volt_dtype floats[2] = {VOLT_F32, VOLT_F64};

static void test_dropout_statistics_and_scale(void **state) {
    (void)state;
    const double ps[3] = {0.1, 0.3, 0.75};
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 3; j++) {
            double p = ps[j];
            volt_generator g = volt_generator_make(1234, 0);
            volt_tensor *x = volt_ones(VOLT_SHAPE(100, 1000), floats[k]);
            volt_tensor *y = volt_dropout(x, p, true, &g);
            VT_ASSERT_SHAPE(y, 100, 1000);
            assert_int_equal(y->dtype, floats[k]);
            /* Kept elements are exactly 1 / (1 - p) in the tensor's dtype. */
            double scale =
                floats[k] == VOLT_F32 ? (double)(float)(1.0 / (1.0 - p)) : 1.0 / (1.0 - p);
            int64_t zeros = 0;
            for (int64_t i = 0; i < 100000; i++) {
                double v = volt_tensor_get_flat(y, i);
                if (v == 0)
                    zeros++;
                else
                    assert_true(v == scale);
            }
            /* Binomial(1e5, p): standard deviation <= 0.0016; allow ~6 of them. */
            assert_true(fabs((double)zeros / 1e5 - p) < 0.01);
            /* The mean is preserved in expectation. */
            assert_true(fabs(volt_tensor_item(volt_mean_all(y)) - 1.0) < 0.04);
        }
    VT_ASSERT_NO_ERROR();
}

static void test_dropout_eval_and_p0_are_identity(void **state) {
    (void)state;
    volt_tensor *x = vt_leaf(VOLT_SHAPE(4, 5), 1, 1.0, 0.0);
    volt_tensor *views[2] = {volt_dropout(x, 0.5, false, NULL), volt_dropout(x, 0.0, true, NULL)};
    for (int k = 0; k < 2; k++) {
        volt_tensor *y = views[k];
        /* A view of the same data, carrying the gradient. */
        assert_ptr_equal(volt_tensor_data(y), volt_tensor_data(x));
        assert_true(y->requires_grad);
        assert_string_equal(volt_grad_fn_name(y), "dropout");
        assert_int_equal(volt_backward(volt_sum_all(volt_mul_scalar(y, 3.0))), VOLT_OK);
        for (int64_t i = 0; i < 20; i++) assert_true(volt_tensor_get_flat(x->grad, i) == 3.0);
        volt_tensor_clear_grad(x);
    }
    /* Eval mode takes any dtype (nothing to compute). */
    volt_tensor *ints = volt_zeros(VOLT_SHAPE(3), VOLT_I64);
    assert_ptr_equal(volt_tensor_data(volt_dropout(ints, 0.5, false, NULL)),
                     volt_tensor_data(ints));
    VT_ASSERT_NO_ERROR();
}

static void test_dropout_p1_gives_zeros(void **state) {
    (void)state;
    volt_tensor *x = vt_leaf(VOLT_SHAPE(3, 4), 2, 1.0, 0.0);
    volt_tensor *y = volt_dropout(x, 1.0, true, NULL);
    for (int64_t i = 0; i < 12; i++) assert_true(volt_tensor_get_flat(y, i) == 0);
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    for (int64_t i = 0; i < 12; i++) assert_true(volt_tensor_get_flat(x->grad, i) == 0);
    volt_tensor_clear_grad(x);
    VT_ASSERT_NO_ERROR();
}

static bool same_values(const volt_tensor *a, const volt_tensor *b) {
    int64_t n = volt_tensor_numel(a);
    if (n != volt_tensor_numel(b)) return false;
    for (int64_t i = 0; i < n; i++)
        if (volt_tensor_get_flat(a, i) != volt_tensor_get_flat(b, i)) return false;
    return true;
}

static void test_dropout_reproducible(void **state) {
    (void)state;
    volt_tensor *x = volt_ones(VOLT_SHAPE(1000), VOLT_F32);
    /* Same generator state -> same mask; the generator advances. */
    volt_generator g1 = volt_generator_make(42, 0), g2 = volt_generator_make(42, 0);
    volt_tensor *a = volt_dropout(x, 0.5, true, &g1), *b = volt_dropout(x, 0.5, true, &g2);
    assert_true(same_values(a, b));
    assert_true(g1.counter == 250); /* one block per 4 elements */
    volt_tensor *c = volt_dropout(x, 0.5, true, &g1);
    assert_false(same_values(a, c));
    volt_generator g3 = volt_generator_make(43, 0);
    assert_false(same_values(a, volt_dropout(x, 0.5, true, &g3)));
    /* The default generator, reseeded, repeats itself. */
    volt_seed_everything(7);
    volt_tensor *d1 = volt_dropout(x, 0.3, true, NULL), *d2 = volt_dropout(x, 0.3, true, NULL);
    volt_seed_everything(7);
    volt_tensor *e1 = volt_dropout(x, 0.3, true, NULL), *e2 = volt_dropout(x, 0.3, true, NULL);
    assert_true(same_values(d1, e1));
    assert_true(same_values(d2, e2));
    assert_false(same_values(d1, d2));
    VT_ASSERT_NO_ERROR();
}

static void test_dropout_thread_and_layout_independent(void **state) {
    (void)state;
    volt_generator src = volt_generator_make(3, 0);
    volt_tensor *base = volt_randn(VOLT_SHAPE(300, 400), VOLT_F64, &src);
    volt_tensor *strided = volt_transpose(base, 0, 1); /* [400, 300], not contiguous */
    volt_tensor *copy = volt_contiguous(strided);
    int threads = volt_get_num_threads();
    volt_set_num_threads(1);
    volt_generator g1 = volt_generator_make(8, 2);
    volt_tensor *a = volt_dropout(copy, 0.4, true, &g1);
    volt_set_num_threads(threads > 1 ? threads : 2);
    volt_generator g2 = volt_generator_make(8, 2);
    volt_tensor *b = volt_dropout(strided, 0.4, true, &g2);
    volt_set_num_threads(threads);
    assert_true(same_values(a, b));
    VT_ASSERT_NO_ERROR();
}

static void test_dropout_gradient_is_mask_times_scale(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_tensor *x = volt_requires_grad(volt_full(VOLT_SHAPE(50, 40), 2.0, floats[k]), true);
        volt_generator g = volt_generator_make(5, 0);
        volt_tensor *y = volt_dropout(x, 0.2, true, &g);
        assert_string_equal(volt_grad_fn_name(y), "dropout");
        /* Upstream gradient 3: 3 * 1.25 where kept, 0 where dropped. */
        assert_int_equal(volt_backward(volt_sum_all(volt_mul_scalar(y, 3.0))), VOLT_OK);
        for (int64_t i = 0; i < 2000; i++) {
            double yi = volt_tensor_get_flat(y, i), gi = volt_tensor_get_flat(x->grad, i);
            if (yi == 0)
                assert_true(gi == 0);
            else
                assert_true(fabs(gi - 3.75) < 1e-6 && fabs(yi - 2.5) < 1e-6);
        }
        volt_tensor_clear_grad(x);
    }
    VT_ASSERT_NO_ERROR();
}

typedef struct {
    double p;
    uint64_t seed;
} dropout_ctx;

/* A fresh generator each call, so every evaluation uses the same mask. */
static volt_tensor *dropout_fn(volt_tensor **in, void *ctx) {
    dropout_ctx *c = ctx;
    volt_generator g = volt_generator_make(c->seed, 0);
    return volt_dropout(in[0], c->p, true, &g);
}

static void test_dropout_gradcheck(void **state) {
    (void)state;
    dropout_ctx c = {0.35, 11};
    VT_GRADCHECK(dropout_fn, &c, 1, vt_leaf(VOLT_SHAPE(6, 5), 1, 1.0, 0.0));
    VT_GRADCHECK(dropout_fn, &c, 1, vt_leaf_strided(VOLT_SHAPE(6, 5), 2, 1.0, 0.0));
    VT_GRADCHECK(dropout_fn, &c, 1, vt_leaf_strided(VOLT_SHAPE(9), 3, 1.0, 0.0));
    c.p = 0.9;
    VT_GRADCHECK(dropout_fn, &c, 1, vt_leaf(VOLT_SHAPE(2, 3, 4), 4, 1.0, 0.0));
    VT_ASSERT_NO_ERROR();
}

static void test_dropout_errors(void **state) {
    (void)state;
    volt_tensor *x = volt_ones(VOLT_SHAPE(3), VOLT_F32);
    assert_null(volt_dropout(NULL, 0.5, true, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "dropout: argument 'a' is NULL");
    assert_null(volt_dropout(x, 1.5, true, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "dropout: probability p has to be between 0 and 1, got 1.5");
    assert_null(volt_dropout(x, -0.1, false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "got -0.1");
    assert_null(volt_dropout(x, NAN, true, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "got nan");
    assert_null(volt_dropout(volt_zeros(VOLT_SHAPE(3), VOLT_I64), 0.5, true, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "dropout: i64[3] is not supported (f32 and f64 are)");
    assert_null(volt_dropout(volt_zeros(VOLT_SHAPE(3), VOLT_F16), 0.5, true, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "dropout: f16[3] is not supported");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_dropout_statistics_and_scale),
        VT_TEST(test_dropout_eval_and_p0_are_identity),
        VT_TEST(test_dropout_p1_gives_zeros),
        VT_TEST(test_dropout_reproducible),
        VT_TEST(test_dropout_thread_and_layout_independent),
        VT_TEST(test_dropout_gradient_is_mask_times_scale),
        VT_TEST(test_dropout_gradcheck),
        VT_TEST(test_dropout_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
