/* test_conv_relu_c1.c: conv2d_relu on the direct kernel of one input
 * channel with the ReLU fused into the kernel — on the forward stores, and
 * as the mask of the weight gradient when the input needs no gradient (a
 * CNN's first layer) — gives the bits of relu(conv2d) on the unfused
 * kernels: AVX-512 and portable bodies, 1 and 3 threads, with NaN, -0 and
 * exact zeros among the outputs (and their gradients); and the fused kernels against the unfused
 * one plus the ReLU's own kernels directly. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#include "ops/cpu/conv_c1.h"
#include "ops/cpu/parallel.h"
#include "ops/cpu/unary.h"

static void assert_bits(const volt_tensor *a, const volt_tensor *b, const char *what) {
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(volt_tensor_numel(a), volt_tensor_numel(b));
    if (memcmp(volt_tensor_data(a), volt_tensor_data(b), (size_t)volt_tensor_numel(a) * 4) != 0)
        fail_msg("%s: the fused and unfused results differ", what);
}

/* An input whose convolution has exact zeros, -0 and NaN among its outputs:
 * zero images, a negated zero image and a NaN pixel. */
static volt_tensor *special_input(int64_t n, int64_t h, int64_t w, uint64_t seed) {
    volt_generator g = volt_generator_make(seed, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(n, 1, h, w), VOLT_F32, &g);
    float *p = volt_tensor_data(x);
    int64_t plane = h * w;
    for (int64_t i = 0; i < plane; i++) p[i] = 0.0f;          /* image 0: zeros */
    for (int64_t i = 0; i < plane; i++) p[plane + i] = -0.0f; /* image 1: -0 */
    p[2 * plane + 5] = NAN;                                   /* image 2: one NaN */
    return x;
}

/* Channel 0 gets bias 0 (exact zeros on image 0), channel 1 bias -0 and
 * positive weights (-0 outputs on image 1). */
static void special_weights(volt_tensor *wt, volt_tensor *b) {
    float *pw = volt_tensor_data(wt), *pb = volt_tensor_data(b);
    pb[0] = 0.0f;
    pb[1] = -0.0f;
    for (int k = 0; k < 9; k++) pw[9 + k] = fabsf(pw[9 + k]);
}

/* conv2d_relu against relu(conv2d), x without gradient: forward and the
 * weight and bias gradients, bit for bit. */
static void check_op(int64_t n, int64_t o, int64_t h, int64_t w, uint64_t seed) {
    volt_scope_begin();
    volt_tensor *x = special_input(n, h, w, seed);
    volt_generator g = volt_generator_make(seed + 1, 0);
    volt_tensor *wt = volt_randn(VOLT_SHAPE(o, 1, 3, 3), VOLT_F32, &g);
    volt_tensor *b = volt_randn(VOLT_SHAPE(o), VOLT_F32, &g);
    special_weights(wt, b);
    volt_tensor *w1 = volt_requires_grad(volt_clone(wt), true);
    volt_tensor *b1 = volt_requires_grad(volt_clone(b), true);
    volt_tensor *w2 = volt_requires_grad(volt_clone(wt), true);
    volt_tensor *b2 = volt_requires_grad(volt_clone(b), true);
    const int64_t pad[2] = {1, 1};
    volt_tensor *fused = volt_conv2d_relu(x, w1, b1, NULL, pad, NULL, 1);
    volt_tensor *plain = volt_relu(volt_conv2d(x, w2, b2, NULL, pad, NULL, 1));
    VT_ASSERT_NO_ERROR();
    assert_bits(fused, plain, "forward");
    /* the output gradient: a leaf's values, so that nothing masks it in place */
    volt_tensor *gout = volt_randn(fused->ndim, fused->shape, VOLT_F32, &g);
    assert_int_equal(volt_backward_ex(fused, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(plain, gout, false), VOLT_OK);
    assert_bits(w1->grad, w2->grad, "dw");
    assert_bits(b1->grad, b2->grad, "db");
    volt_scope_end();
}

static void test_op_equals_relu_of_conv(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    for (int simd = 1; simd >= 0; simd--) {
        bool prev = volt_cpu_conv_c1_set_simd(simd != 0);
        for (int threads = 1; threads <= 3; threads += 2) {
            volt_set_num_threads(threads);
            volt_cpu_set_region_ns(0); /* every loop that can split does */
            check_op(5, 8, 12, 10, 1);
            check_op(3, 3, 7, 17, 2); /* rows of 17: a masked tail */
            volt_cpu_set_region_ns(-1);
        }
        volt_cpu_conv_c1_set_simd(prev);
    }
    volt_set_num_threads(saved);
}

/* The kernels themselves: relu_forward == relu(forward), and the masked
 * weight gradient == the unmasked one of the ReLU's backward. */
static void test_kernels(void **state) {
    (void)state;
    volt_conv_geom geo = {.n = 4,
                          .c = 1,
                          .h = 9,
                          .w = 19,
                          .o = 6,
                          .oh = 9,
                          .ow = 19,
                          .kh = 3,
                          .kw = 3,
                          .sh = 1,
                          .sw = 1,
                          .dh = 1,
                          .dw = 1,
                          .ph = 1,
                          .pw = 1,
                          .groups = 1,
                          .with_bias = true};
    assert_true(volt_cpu_conv_c1_3x3_applies(&geo));
    volt_tensor *x = special_input(geo.n, geo.h, geo.w, 5);
    volt_generator g = volt_generator_make(6, 0);
    volt_tensor *wt = volt_randn(VOLT_SHAPE(6, 1, 3, 3), VOLT_F32, &g);
    volt_tensor *b = volt_randn(VOLT_SHAPE(6), VOLT_F32, &g);
    special_weights(wt, b);
    volt_tensor *gy = volt_randn(VOLT_SHAPE(4, 6, 9, 19), VOLT_F32, &g);
    for (int simd = 1; simd >= 0; simd--) {
        bool prev = volt_cpu_conv_c1_set_simd(simd != 0);
        volt_tensor *y1 = volt_empty(VOLT_SHAPE(4, 6, 9, 19), VOLT_F32);
        volt_tensor *y2 = volt_empty(VOLT_SHAPE(4, 6, 9, 19), VOLT_F32);
        const float *px = volt_tensor_data(x), *pw = volt_tensor_data(wt);
        const float *pb = volt_tensor_data(b);
        assert_int_equal(
            volt_cpu_conv_c1_3x3_relu_forward_f32(&geo, px, pw, pb, volt_tensor_data(y1)), VOLT_OK);
        assert_int_equal(volt_cpu_conv_c1_3x3_forward_f32(&geo, px, pw, pb, volt_tensor_data(y2)),
                         VOLT_OK);
        volt_tensor *r2 = volt_relu(y2);
        assert_bits(y1, r2, "relu forward");
        volt_tensor *masked = volt_empty_like(gy);
        assert_int_equal(
            volt_cpu_unary_backward(VOLT_UN_RELU, masked, gy, y1, &(volt_unary_args){0}), VOLT_OK);
        volt_tensor *dw1 = volt_empty(VOLT_SHAPE(6, 1, 3, 3), VOLT_F32);
        volt_tensor *dw2 = volt_empty(VOLT_SHAPE(6, 1, 3, 3), VOLT_F32);
        volt_tensor *db1 = volt_empty(VOLT_SHAPE(6), VOLT_F32);
        volt_tensor *db2 = volt_empty(VOLT_SHAPE(6), VOLT_F32);
        assert_int_equal(volt_cpu_conv_c1_3x3_relu_backward_weights_f32(
                             &geo, px, volt_tensor_data(gy), volt_tensor_data(y1),
                             volt_tensor_data(dw1), volt_tensor_data(db1)),
                         VOLT_OK);
        assert_int_equal(
            volt_cpu_conv_c1_3x3_backward_weights_f32(&geo, px, volt_tensor_data(masked),
                                                      volt_tensor_data(dw2), volt_tensor_data(db2)),
            VOLT_OK);
        assert_bits(dw1, dw2, "masked dw");
        assert_bits(db1, db2, "masked db");
        volt_cpu_conv_c1_set_simd(prev);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_op_equals_relu_of_conv),
        VT_TEST(test_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
