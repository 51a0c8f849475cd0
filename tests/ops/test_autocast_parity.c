/* test_autocast_parity.c: bf16 autocast against PyTorch's CPU autocast
 * (torch.autocast("cpu", dtype=torch.bfloat16)) on vectors recorded by
 * tests/parity/record_autocast.py: a Linear (addmm of x, weight^T and bias)
 * and a conv2d with bias, outputs and gradients of input, weight and bias.
 * torch's autocast gives bf16 outputs (volt keeps f32) and rounds the bias
 * too, so values agree to bf16's precision: |volt - torch| <= 2e-2 *
 * max |torch| (bf16 keeps 8 significant bits, a relative step of 2^-8 ~
 * 4e-3, and the gradients go through a second rounded product). */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/io.h>

static volt_safetensors *open_vectors(void) {
    const char *src = getenv("VOLT_SOURCE_DIR");
    if (!src) fail_msg("VOLT_SOURCE_DIR is not set (ctest sets it)");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/parity/vectors/autocast.safetensors", src);
    volt_safetensors *f = volt_safetensors_open(path);
    if (!f) fail_msg("%s", volt_error_message());
    const char *format = volt_safetensors_metadata(f, "format");
    assert_non_null(format);
    assert_string_equal(format, "volt-autocast-parity-1");
    return f;
}

static volt_tensor *get(volt_safetensors *f, const char *c, const char *role) {
    char name[96];
    snprintf(name, sizeof name, "%s/%s", c, role);
    volt_tensor *t = volt_safetensors_get(f, name);
    if (!t) fail_msg("%s: %s", name, volt_error_message());
    return t;
}

static void near(const volt_tensor *got, const volt_tensor *want, const char *what) {
    assert_non_null(got);
    assert_int_equal(volt_tensor_numel(got), volt_tensor_numel(want));
    double d = 0, scale = 0;
    for (int64_t i = 0; i < volt_tensor_numel(want); i++) {
        double w = volt_tensor_get_flat(want, i);
        d = fmax(d, fabs(volt_tensor_get_flat(got, i) - w));
        scale = fmax(scale, fabs(w));
    }
    if (d > 2e-2 * scale) fail_msg("%s: max |volt - torch| %g > 2e-2 * %g", what, d, scale);
}

typedef volt_tensor *(*op_fn)(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b);

static volt_tensor *linear(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_addmm(b, x, volt_transpose(w, 0, 1), 1.0, 1.0);
}

static volt_tensor *conv(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_conv2d(x, w, b, NULL, (const int64_t[]){1, 1}, NULL, 1);
}

static void check_case(const char *c, op_fn fn) {
    volt_safetensors *f = open_vectors();
    volt_tensor *x = volt_requires_grad(get(f, c, "x"), true);
    volt_tensor *w = volt_requires_grad(get(f, c, "weight"), true);
    volt_tensor *b = volt_requires_grad(get(f, c, "bias"), true);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *y = fn(x, w, b);
    volt_autocast_set(prev);
    volt_tensor *want = get(f, c, "out");
    near(y, want, "output");
    assert_int_equal(volt_backward_ex(y, get(f, c, "gout"), false), VOLT_OK);
    near(x->grad, get(f, c, "grad_x"), "grad x");
    near(w->grad, get(f, c, "grad_weight"), "grad weight");
    near(b->grad, get(f, c, "grad_bias"), "grad bias");
    volt_safetensors_close(f);
}

static void test_linear(void **state) {
    (void)state;
    check_case("linear", linear);
}

static void test_conv2d(void **state) {
    (void)state;
    check_case("conv2d", conv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_linear),
        VT_TEST(test_conv2d),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
