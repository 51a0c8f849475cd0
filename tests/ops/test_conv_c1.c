/* test_conv_c1.c: the direct kernels of Conv2d(1, o, 3, padding=1)
 * (ops/cpu/conv_c1.c) — AVX-512 and portable — against the reference
 * convolution (ops/cpu/conv_ref.c, double accumulation) on widths that are
 * not multiples of 16, tiny and odd planes, with and without a bias; a
 * forward worked by hand; results independent of the thread count; the
 * geometries the kernels take. And conv2d_relu with the ReLU fused into the
 * kernel — on the forward stores, and as the mask of the weight gradient when
 * the input needs no gradient (a CNN's first layer) — gives the bits of
 * relu(conv2d) on the unfused kernels: AVX-512 and portable bodies, 1 and 3
 * threads, with NaN, -0 and exact zeros among the outputs (and their
 * gradients); and the fused kernels against the unfused one plus the ReLU's
 * own kernels directly. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#include "conv_c1_geom.h"
#include "ops/cpu/conv_c1.h"
#include "ops/cpu/parallel.h"
#include "ops/cpu/unary.h"

/* Largest |a - b| over the elements, relative to max(1, |b|). */
static double max_rel_diff(const volt_tensor *a, const volt_tensor *b) {
    const float *p = volt_tensor_data(a), *q = volt_tensor_data(b);
    double worst = 0;
    for (int64_t i = 0; i < volt_tensor_numel(a); i++) {
        double d = fabs((double)p[i] - (double)q[i]) / fmax(1.0, fabs((double)q[i]));
        worst = d > worst ? d : worst;
    }
    return worst;
}

static void check(int64_t n, int64_t o, int64_t h, int64_t w, bool bias, bool simd) {
    volt_scope_begin();
    bool was = volt_cpu_conv_c1_set_simd(simd);
    volt_conv_geom g = vt_conv_c1_geom(n, o, h, w);
    volt_generator gen = volt_generator_make(7, (uint64_t)(h * 100 + w));
    volt_tensor *x = volt_randn(VOLT_SHAPE(n, 1, h, w), VOLT_F32, &gen);
    volt_tensor *wt = volt_randn(VOLT_SHAPE(o, 1, 3, 3), VOLT_F32, &gen);
    volt_tensor *b = bias ? volt_randn(VOLT_SHAPE(o), VOLT_F32, &gen) : NULL;
    volt_tensor *gy = volt_randn(VOLT_SHAPE(n, o, h, w), VOLT_F32, &gen);
    volt_tensor *y = volt_empty(VOLT_SHAPE(n, o, h, w), VOLT_F32);
    volt_tensor *y_ref = volt_empty(VOLT_SHAPE(n, o, h, w), VOLT_F32);
    assert_int_equal(volt_cpu_conv_c1_3x3_forward_f32(&g, volt_tensor_data(x), volt_tensor_data(wt),
                                                      b ? volt_tensor_data(b) : NULL,
                                                      volt_tensor_data(y)),
                     VOLT_OK);
    assert_int_equal(volt_cpu_conv_forward_ref(&g, x, wt, b, y_ref), VOLT_OK);
    if (max_rel_diff(y, y_ref) > 1e-5)
        fail_msg("forward %lldx%lldx%lldx%lld (simd %d): off by %g", (long long)n, (long long)o,
                 (long long)h, (long long)w, simd, max_rel_diff(y, y_ref));
    volt_tensor *dw = volt_empty(VOLT_SHAPE(o, 1, 3, 3), VOLT_F32);
    volt_tensor *dw_ref = volt_empty(VOLT_SHAPE(o, 1, 3, 3), VOLT_F32);
    volt_tensor *db = bias ? volt_empty(VOLT_SHAPE(o), VOLT_F32) : NULL;
    volt_tensor *db_ref = bias ? volt_empty(VOLT_SHAPE(o), VOLT_F32) : NULL;
    assert_int_equal(volt_cpu_conv_c1_3x3_backward_weights_f32(
                         &g, volt_tensor_data(x), volt_tensor_data(gy), volt_tensor_data(dw),
                         db ? volt_tensor_data(db) : NULL),
                     VOLT_OK);
    assert_int_equal(volt_cpu_conv_backward_weights_ref(&g, x, gy, dw_ref, db_ref), VOLT_OK);
    /* Sums over n h w terms of size ~1: relative to sqrt of that count. */
    double tol = 1e-5 * sqrt((double)(n * h * w));
    if (max_rel_diff(dw, dw_ref) > tol || (db && max_rel_diff(db, db_ref) > tol))
        fail_msg("weight gradient %lldx%lldx%lldx%lld (simd %d): off by %g / %g", (long long)n,
                 (long long)o, (long long)h, (long long)w, simd, max_rel_diff(dw, dw_ref),
                 db ? max_rel_diff(db, db_ref) : 0.0);
    volt_cpu_conv_c1_set_simd(was);
    volt_scope_end();
}

static void test_matches_reference(void **state) {
    (void)state;
    static const int64_t sizes[][4] = {
        {2, 3, 5, 7},  {1, 32, 28, 28}, {3, 4, 1, 1},  {2, 5, 16, 16},
        {1, 2, 3, 17}, {2, 3, 9, 33},   {1, 1, 2, 40}, {8, 16, 28, 28}, /* threads */
    };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (int simd = 0; simd < 2; simd++) {
            check(sizes[i][0], sizes[i][1], sizes[i][2], sizes[i][3], true, simd == 1);
            check(sizes[i][0], sizes[i][1], sizes[i][2], sizes[i][3], false, simd == 1);
        }
    VT_ASSERT_NO_ERROR();
}

/* A 2x2 input [1 2; 3 4], one channel with weights 1..9 and bias 10:
 * y[0][0] = 10 + 5*1 + 6*2 + 8*3 + 9*4 = 87, y[0][1] = 10 + 4*1 + 5*2 +
 * 7*3 + 8*4 = 77, y[1][0] = 10 + 2*1 + 3*2 + 5*3 + 6*4 = 57, y[1][1] = 10 +
 * 1*1 + 2*2 + 4*3 + 5*4 = 47. With gy = ones: dw[ky][kx] = the sum of the
 * 2x2 block at (ky, kx) of the zero-padded input (0 0 0 0 / 0 1 2 0 /
 * 0 3 4 0 / 0 0 0 0): 1 3 2 / 4 10 6 / 3 7 4; db = 4. */
static void test_by_hand(void **state) {
    (void)state;
    for (int simd = 0; simd < 2; simd++) {
        bool was = volt_cpu_conv_c1_set_simd(simd == 1);
        volt_conv_geom g = vt_conv_c1_geom(1, 1, 2, 2);
        const float x[4] = {1, 2, 3, 4}, w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, b[1] = {10};
        const float ones[4] = {1, 1, 1, 1};
        float y[4], dw[9], db[1];
        assert_int_equal(volt_cpu_conv_c1_3x3_forward_f32(&g, x, w, b, y), VOLT_OK);
        assert_true(y[0] == 87 && y[1] == 77 && y[2] == 57 && y[3] == 47);
        assert_int_equal(volt_cpu_conv_c1_3x3_backward_weights_f32(&g, x, ones, dw, db), VOLT_OK);
        const float want[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
        for (int k = 0; k < 9; k++)
            if (dw[k] != want[k])
                fail_msg("dw[%d] = %g, expected %g", k, (double)dw[k], (double)want[k]);
        assert_true(db[0] == 4);
        volt_cpu_conv_c1_set_simd(was);
    }
}

/* The weight gradient is summed per channel in a fixed order: bit for bit
 * the same with 1 and 2 threads. */
static void test_thread_count(void **state) {
    (void)state;
    volt_conv_geom g = vt_conv_c1_geom(16, 8, 28, 28);
    volt_generator gen = volt_generator_make(9, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(16, 1, 28, 28), VOLT_F32, &gen);
    volt_tensor *gy = volt_randn(VOLT_SHAPE(16, 8, 28, 28), VOLT_F32, &gen);
    float dw[2][72], db[2][8];
    int threads = volt_get_num_threads();
    for (int t = 0; t < 2; t++) {
        volt_set_num_threads(t + 1);
        assert_int_equal(volt_cpu_conv_c1_3x3_backward_weights_f32(
                             &g, volt_tensor_data(x), volt_tensor_data(gy), dw[t], db[t]),
                         VOLT_OK);
    }
    volt_set_num_threads(threads);
    assert_memory_equal(dw[0], dw[1], sizeof dw[0]);
    assert_memory_equal(db[0], db[1], sizeof db[0]);
}

static void test_applies(void **state) {
    (void)state;
    volt_conv_geom g = vt_conv_c1_geom(2, 4, 5, 6);
    assert_true(volt_cpu_conv_c1_3x3_applies(&g));
    volt_conv_geom two_channels = g;
    two_channels.c = 2;
    assert_false(volt_cpu_conv_c1_3x3_applies(&two_channels));
    volt_conv_geom no_pad = g;
    no_pad.ph = no_pad.pw = 0, no_pad.oh = 3, no_pad.ow = 4;
    assert_false(volt_cpu_conv_c1_3x3_applies(&no_pad));
    volt_conv_geom strided = g;
    strided.sw = 2, strided.ow = 3;
    assert_false(volt_cpu_conv_c1_3x3_applies(&strided));
    volt_conv_geom k5 = g;
    k5.kh = k5.kw = 5;
    assert_false(volt_cpu_conv_c1_3x3_applies(&k5));
}

/* ------------------------------------------------ conv2d with ReLU fused */

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
    volt_conv_geom geo = vt_conv_c1_geom(4, 6, 9, 19);
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
        VT_TEST(test_matches_reference),      VT_TEST(test_by_hand),
        VT_TEST(test_thread_count),           VT_TEST(test_applies),
        VT_TEST(test_op_equals_relu_of_conv), VT_TEST(test_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
