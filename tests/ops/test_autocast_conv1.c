/* test_autocast_conv1.c: bf16 autocast on a convolution with one input
 * channel, 3x3, padding 1 (a CNN's first layer), which conv.c runs as the
 * direct f32 kernel on operands rounded to bf16 rather than on oneDNN's
 * bf16 primitives: the output (bf16, up to its own rounding) and the weight
 * gradient (the input needs no gradient) must equal the f64 convolution of
 * the rounded operands, the
 * bias gradient the sum of the rounded output gradient; with an input that
 * needs a gradient the backward pass takes oneDNN's bf16 path and must
 * agree as well. */
#include "volt_test.h"

#include <math.h>

static volt_tensor *randn(int ndim, const int64_t *shape, uint64_t seed) {
    volt_generator g = volt_generator_make(seed, 0);
    return volt_randn(ndim, shape, VOLT_F32, &g);
}

/* t's values rounded to bf16 (or not), as a new f64 leaf. */
static volt_tensor *f64_of(const volt_tensor *t, bool round) {
    volt_tensor *d = volt_tensor_detach(t);
    return volt_to_dtype(round ? volt_to_dtype(d, VOLT_BF16) : d, VOLT_F64);
}

/* max |got - want| / max |want|. */
static double rel_err(const volt_tensor *got, const volt_tensor *want) {
    double d = 0, m = 0;
    for (int64_t i = 0; i < volt_tensor_numel(want); i++) {
        double w = volt_tensor_get_flat(want, i);
        d = fmax(d, fabs(volt_tensor_get_flat(got, i) - w));
        m = fmax(m, fabs(w));
    }
    return d / m;
}

static volt_tensor *conv(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_conv2d(x, w, b, NULL, (const int64_t[]){1, 1}, NULL, 1);
}

static void check(bool input_grad) {
    volt_scope_begin();
    volt_tensor *x = randn(VOLT_SHAPE(5, 1, 11, 13), 1);
    volt_tensor *w = volt_requires_grad(randn(VOLT_SHAPE(24, 1, 3, 3), 2), true);
    volt_tensor *b = volt_requires_grad(randn(VOLT_SHAPE(24), 3), true);
    volt_tensor *x32 = volt_requires_grad(volt_clone(x), input_grad);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *y = conv(x32, w, b);
    volt_autocast_set(prev);
    assert_non_null(y);
    assert_int_equal(y->dtype, VOLT_BF16);
    volt_tensor *g = randn(4, y->shape, 4);
    assert_int_equal(volt_backward_ex(y, volt_to_dtype(g, VOLT_BF16), false), VOLT_OK);

    volt_tensor *x64 = volt_requires_grad(f64_of(x, true), input_grad);
    volt_tensor *w64 = volt_requires_grad(f64_of(w, true), true);
    volt_tensor *b64 = volt_requires_grad(f64_of(b, false), true);
    volt_tensor *y64 = conv(x64, w64, b64);
    assert_int_equal(volt_backward_ex(y64, f64_of(g, true), false), VOLT_OK);
    assert_true(rel_err(y, y64) < 1.0 / 256); /* the result rounded to bf16 */
    assert_true(rel_err(w->grad, w64->grad) < 1e-5);
    assert_true(rel_err(b->grad, b64->grad) < 1e-5);
    if (input_grad) assert_true(rel_err(x32->grad, x64->grad) < 1e-5);
    /* Rounding happened: plain f32 differs by about bf16's step. */
    double d = rel_err(y, conv(x, w, b));
    assert_true(d > 1e-5 && d < 3e-2);
    volt_scope_end();
}

static void test_no_input_grad(void **state) {
    (void)state;
    check(false);
}

static void test_input_grad(void **state) {
    (void)state;
    check(true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_no_input_grad),
        VT_TEST(test_input_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
