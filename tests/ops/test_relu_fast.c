/* test_relu_fast.c: the vectorised f32 ReLU spans (ops/cpu/relu_simd.c) —
 * AVX-512 and portable — bit for bit against the scalar definition on every
 * tail length, NaN, -0 and infinities, in place and not, without writing
 * past the end; the op on strided inputs; and the unary backward pass that
 * writes over the engine's own gradient buffer (ops/unary.c): values worked
 * by hand, a caller's grad_output never overwritten, retain_graph. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#include "ops/cpu/relu_simd.h"

#define MAX_N 1100
#define GUARD 8

static float value(int64_t i) {
    static const float special[6] = {NAN, -0.0f, 0.0f, INFINITY, -INFINITY, 1e-40f};
    if (i % 9 == 4) return special[(i / 9) % 6];
    return (float)((i * 37) % 23 - 11) * 0.375f;
}

/* The definitions: relu(x) = x < 0 ? 0 : x; grad = y <= 0 ? 0 : g. */
static float relu_def(float x) { return x < 0 ? 0.0f : x; }
static float relu_grad_def(float g, float y) { return y <= 0 ? 0.0f : g; }

static void assert_bits(const float *got, const float *want, int64_t n, const char *what,
                        int64_t len) {
    if (memcmp(got, want, (size_t)n * sizeof *got) != 0)
        fail_msg("%s: n = %lld: results differ from the definition", what, (long long)len);
}

static void check_spans(bool simd) {
    static float x[MAX_N + GUARD], g[MAX_N + GUARD], out[MAX_N + GUARD], want[MAX_N + GUARD];
    static const int64_t lengths[] = {0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 130, 1000};
    bool was = volt_cpu_relu_set_simd(simd);
    for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
        int64_t n = lengths[k];
        for (int64_t i = 0; i < n + GUARD; i++) {
            x[i] = value(i);
            g[i] = value(i + 5) + 0.5f;
            out[i] = want[i] = 42.0f; /* the guard past n must stay */
        }
        for (int64_t i = 0; i < n; i++) want[i] = relu_def(x[i]);
        volt_cpu_relu_span_f32(out, x, n);
        assert_bits(out, want, n + GUARD, "relu", n);
        memcpy(out, x, sizeof x); /* in place */
        volt_cpu_relu_span_f32(out, out, n);
        for (int64_t i = n; i < n + GUARD; i++) want[i] = x[i];
        assert_bits(out, want, n + GUARD, "relu in place", n);
        for (int64_t i = 0; i < n + GUARD; i++) want[i] = i < n ? relu_grad_def(g[i], x[i]) : 42.0f;
        for (int64_t i = 0; i < n + GUARD; i++) out[i] = 42.0f;
        volt_cpu_relu_backward_span_f32(out, g, x, n);
        assert_bits(out, want, n + GUARD, "relu backward", n);
        memcpy(out, g, sizeof g);
        volt_cpu_relu_backward_span_f32(out, out, x, n);
        for (int64_t i = n; i < n + GUARD; i++) want[i] = g[i];
        assert_bits(out, want, n + GUARD, "relu backward in place", n);
    }
    volt_cpu_relu_set_simd(was);
}

static void test_spans(void **state) {
    (void)state;
    check_spans(true);
    check_spans(false);
}

/* Strided input and output rows take the scalar loop: same values. */
static void test_strided(void **state) {
    (void)state;
    volt_tensor *base = volt_empty(VOLT_SHAPE(37, 19), VOLT_F32);
    float *p = volt_tensor_data(base);
    for (int64_t i = 0; i < 37 * 19; i++) p[i] = value(i);
    volt_tensor *t = volt_transpose(base, 0, 1);
    volt_tensor *y = volt_relu(t);
    VT_ASSERT_SHAPE(y, 19, 37);
    for (int64_t r = 0; r < 19; r++)
        for (int64_t c = 0; c < 37; c++) {
            float got = ((const float *)volt_tensor_data(y))[r * 37 + c];
            float want = relu_def(p[c * 19 + r]);
            assert_true(memcmp(&got, &want, sizeof got) == 0);
        }
    VT_ASSERT_NO_ERROR();
}

/* h = relu(x); out = relu(h) + 3 h: h's gradient is a sum the engine owns,
 * which relu's backward overwrites; x.grad = x > 0 ? 1 + 3 : 0 (h > 0
 * where x > 0). */
static void test_backward_in_place(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(
        volt_from_array((const float[]){-1, 2, 0, 3, -0.5f}, VOLT_F32, VOLT_SHAPE(5)), true);
    volt_tensor *h = volt_relu(x);
    volt_tensor *out = volt_add(volt_relu(h), volt_mul_scalar(h, 3.0));
    const float ones[5] = {1, 1, 1, 1, 1};
    volt_tensor *gy = volt_from_array(ones, VOLT_F32, VOLT_SHAPE(5));
    assert_int_equal(volt_backward_ex(out, gy, false), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad, ((const double[]){0, 4, 0, 4, 0}), 5, 0, 0);
    /* The caller's gradient is read, never written. */
    VT_ASSERT_CLOSE(gy, ((const double[]){1, 1, 1, 1, 1}), 5, 0, 0);
    VT_ASSERT_NO_ERROR();
}

/* relu's output handed straight to backward: grad_output is the caller's
 * tensor (not the engine's), and must come back unchanged; twice with
 * retain_graph the leaf accumulates. */
static void test_caller_gradient_untouched(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(
        volt_from_array((const float[]){-2, 1, 0.5f, -0.25f, 4}, VOLT_F32, VOLT_SHAPE(5)), true);
    volt_tensor *y = volt_relu(x);
    volt_tensor *gy = volt_from_array((const float[]){5, 6, 7, 8, 9}, VOLT_F32, VOLT_SHAPE(5));
    assert_int_equal(volt_backward_ex(y, gy, true), VOLT_OK);
    VT_ASSERT_CLOSE(gy, ((const double[]){5, 6, 7, 8, 9}), 5, 0, 0);
    VT_ASSERT_CLOSE(x->grad, ((const double[]){0, 6, 7, 0, 9}), 5, 0, 0);
    assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad, ((const double[]){0, 12, 14, 0, 18}), 5, 0, 0);
    VT_ASSERT_CLOSE(gy, ((const double[]){5, 6, 7, 8, 9}), 5, 0, 0);
    VT_ASSERT_NO_ERROR();
}

/* A chain of unary ops (each backward over the buffer the previous one
 * produced): d/dx exp(relu(x) * 2) = 2 exp(2x) for x > 0, else 0. */
static void test_unary_chain(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(
        volt_from_array((const double[]){-1, 0.5, 0.25, -3}, VOLT_F64, VOLT_SHAPE(4)), true);
    volt_tensor *out = volt_exp(volt_mul_scalar(volt_relu(x), 2.0));
    volt_tensor *s = volt_sum(out, VOLT_ALL_DIMS, false);
    assert_int_equal(volt_backward(s), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad, ((const double[]){0, 2 * exp(1.0), 2 * exp(0.5), 0}), 4, 1e-14, 0);
    VT_ASSERT_NO_ERROR();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_spans),
        VT_TEST(test_strided),
        VT_TEST(test_backward_in_place),
        VT_TEST(test_caller_gradient_untouched),
        VT_TEST(test_unary_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
