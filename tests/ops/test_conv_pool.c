/* test_conv_pool.c: volt_conv2d_relu_max_pool2x2 against max_pool2d(
 * conv2d_relu(x), 2), the ops it fuses. On the one-pass kernel (Conv2d(1,
 * o, 3, padding=1), f32, an input without gradient): the output bit for
 * bit, with exact zeros, -0 and NaN among the convolution's outputs, odd
 * sizes (floor pooling) and rows longer than a vector; the weight and bias
 * gradients within float rounding of the three ops' and bit for bit the
 * same on 1 and 3 threads; AVX-512 and portable bodies; a forward and a
 * gradient worked by hand; the kernel's codes. On the oneDNN path (16, 32
 * output channels; inputs with and without gradient, padding 0 and 1, odd
 * sizes, each of x, w and b alone needing a gradient): output and every
 * gradient bit for bit the three ops' (the bias alone: within rounding).
 * Elsewhere — one input channel with an input that needs its gradient (the
 * direct kernel's case), f64, a stride, the fast kernels off — it is the
 * three ops (the node says which ran). Under bf16 autocast the one-pass
 * kernel runs on rounded operands and the oneDNN path on its bf16 kernels
 * (NHWC output), both matching the three ops under autocast; on bf16
 * tensors the one-pass kernel rounds each convolution value as the bf16 ops
 * do. Bad input is refused with conv2d_relu's messages. The layer call
 * equals the layer plus pooling. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#include "autograd/autograd_impl.h"
#include "conv_c1_geom.h"
#include "ops/cpu/conv_c1.h"
#include "ops/cpu/conv_c1_pool.h"
#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/parallel.h"
#include "ops/cpu/pool_blocked.h"

/* The op that made y: under autocast the fused op's f32 result is rounded
 * to bf16 by a conversion of its own, whose input is the op's node. */
static const char *made_by(const volt_tensor *y) {
    const volt_node *n = y->grad_fn;
    if (strcmp(n->name, "to_dtype") == 0) n = n->inputs[0].fn;
    return n->name;
}

static const int64_t PAD[2] = {1, 1};

/* The three ops. */
static volt_tensor *unfused(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_max_pool2d(volt_conv2d_relu(x, w, b, NULL, PAD, NULL, 1), (int64_t[]){2, 2}, NULL,
                           NULL, NULL, false, NULL);
}

static void assert_bits(const volt_tensor *a, const volt_tensor *b, const char *what) {
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(volt_tensor_numel(a), volt_tensor_numel(b));
    if (memcmp(volt_tensor_data(a), volt_tensor_data(b),
               (size_t)volt_tensor_numel(a) * volt_dtype_size(a->dtype)) != 0)
        fail_msg("%s: the fused and unfused results differ", what);
}

/* Largest |a - b| / max(1, |b|) over floating tensors. */
static double max_rel_diff(const volt_tensor *a, const volt_tensor *b) {
    double worst = 0;
    for (int64_t i = 0; i < volt_tensor_numel(a); i++) {
        double p = volt_tensor_get_flat(a, i), q = volt_tensor_get_flat(b, i);
        double d = fabs(p - q) / fmax(1.0, fabs(q));
        worst = d > worst || isnan(d) ? d : worst;
    }
    return worst;
}

/* Random images, image 0 all zeros and image 1 all -0 (exact zeros and -0
 * among the outputs, so ties in every window), and with nan a NaN pixel in
 * image 2. */
static volt_tensor *input(int64_t n, int64_t h, int64_t w, uint64_t seed, bool nan) {
    volt_generator g = volt_generator_make(seed, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(n, 1, h, w), VOLT_F32, &g);
    float *p = volt_tensor_data(x);
    for (int64_t i = 0; i < h * w; i++) p[i] = 0.0f, p[h * w + i] = -0.0f;
    if (nan) p[2 * h * w + w + 1] = NAN;
    return x;
}

/* Channel 0 bias 0, channel 1 bias -0 with positive weights. */
static void weights(int64_t o, uint64_t seed, volt_tensor **w, volt_tensor **b) {
    volt_generator g = volt_generator_make(seed, 1);
    *w = volt_randn(VOLT_SHAPE(o, 1, 3, 3), VOLT_F32, &g);
    *b = volt_randn(VOLT_SHAPE(o), VOLT_F32, &g);
    float *pw = volt_tensor_data(*w), *pb = volt_tensor_data(*b);
    pb[0] = 0.0f;
    pb[1] = -0.0f;
    for (int k = 0; k < 9; k++) pw[9 + k] = fabsf(pw[9 + k]);
}

/* Forward bits with NaN in the input; then, on an input without NaN, the
 * gradients against the three ops'. Returns the fused weight gradient (for
 * the thread-count check). */
static volt_tensor *check(int64_t n, int64_t o, int64_t h, int64_t w, uint64_t seed) {
    volt_tensor *wt, *b;
    weights(o, seed, &wt, &b);
    volt_tensor *x = input(n, h, w, seed, true);
    volt_tensor *fused = volt_conv2d_relu_max_pool2x2(x, wt, b, NULL, PAD, NULL, 1);
    VT_ASSERT_NO_ERROR();
    assert_bits(fused, unfused(x, wt, b), "forward");

    x = input(n, h, w, seed, false);
    volt_tensor *w1 = volt_requires_grad(volt_clone(wt), true);
    volt_tensor *b1 = volt_requires_grad(volt_clone(b), true);
    volt_tensor *w2 = volt_requires_grad(volt_clone(wt), true);
    volt_tensor *b2 = volt_requires_grad(volt_clone(b), true);
    fused = volt_conv2d_relu_max_pool2x2(x, w1, b1, NULL, PAD, NULL, 1);
    volt_tensor *plain = unfused(x, w2, b2);
    assert_string_equal(made_by(fused), "conv2d_relu_max_pool2x2");
    assert_bits(fused, plain, "forward");
    volt_generator g = volt_generator_make(seed, 2);
    volt_tensor *gout = volt_randn(fused->ndim, fused->shape, VOLT_F32, &g);
    assert_int_equal(volt_backward_ex(fused, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(plain, gout, false), VOLT_OK);
    /* sums of n h w / 4 terms of size ~1, in another order */
    double tol = 1e-6 * sqrt((double)(n * h * w));
    if (max_rel_diff(w1->grad, w2->grad) > tol || max_rel_diff(b1->grad, b2->grad) > tol)
        fail_msg("%lldx%lldx%lldx%lld: gradients off by %g / %g (tolerance %g)", (long long)n,
                 (long long)o, (long long)h, (long long)w, max_rel_diff(w1->grad, w2->grad),
                 max_rel_diff(b1->grad, b2->grad), tol);
    return w1->grad;
}

static void test_matches_three_ops(void **state) {
    (void)state;
    static const int64_t sizes[][4] = {
        {5, 8, 12, 10},  {3, 3, 7, 17}, /* odd sizes: floor pooling, masked tails */
        {4, 5, 28, 70},                 /* 35 windows a row: three vectors */
        {3, 32, 28, 28}, {3, 2, 2, 2},  {3, 4, 3, 2},
    };
    int saved = volt_get_num_threads();
    for (int simd = 1; simd >= 0; simd--) {
        bool prev = volt_cpu_conv_c1_set_simd(simd != 0);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            volt_scope_begin();
            volt_cpu_set_region_ns(0); /* every loop that can split does */
            volt_tensor *dw[2];
            for (int t = 0; t < 2; t++) {
                volt_set_num_threads(1 + 2 * t);
                dw[t] = check(sizes[i][0], sizes[i][1], sizes[i][2], sizes[i][3], 10 + i);
            }
            assert_bits(dw[0], dw[1], "weight gradient on 1 and 3 threads");
            volt_cpu_set_region_ns(-1);
            volt_scope_end();
        }
        volt_cpu_conv_c1_set_simd(prev);
    }
    volt_set_num_threads(saved);
}

/* The oneDNN path against the three ops, bit for bit: x [n, c, h, w], o
 * output channels, padding pad; needs: which of x, w, b need a gradient
 * (bits 1, 2, 4). */
static void check_blocked(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t pad,
                          int needs, uint64_t seed) {
    volt_scope_begin();
    bool bf16 = volt_autocast_get() == VOLT_AUTOCAST_BF16;
    volt_generator g = volt_generator_make(seed, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(n, c, h, w), VOLT_F32, &g);
    volt_tensor *wt = volt_randn(VOLT_SHAPE(o, c, 3, 3), VOLT_F32, &g);
    volt_tensor *b = volt_randn(VOLT_SHAPE(o), VOLT_F32, &g);
    float *px = volt_tensor_data(x);
    for (int64_t i = 0; i < c * h * w; i++) px[i] = 0.0f; /* image 0: ties at 0 */
    ((float *)volt_tensor_data(b))[0] = 0.0f;
    const int64_t p2[2] = {pad, pad};
    volt_tensor *in[2][3];
    for (int k = 0; k < 2; k++) {
        in[k][0] = volt_requires_grad(volt_clone(x), (needs & 1) != 0);
        in[k][1] = volt_requires_grad(volt_clone(wt), (needs & 2) != 0);
        in[k][2] = volt_requires_grad(volt_clone(b), (needs & 4) != 0);
    }
    volt_tensor *fused =
        volt_conv2d_relu_max_pool2x2(in[0][0], in[0][1], in[0][2], NULL, p2, NULL, 1);
    volt_tensor *plain =
        volt_max_pool2d(volt_conv2d_relu(in[1][0], in[1][1], in[1][2], NULL, p2, NULL, 1),
                        (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_OFF);
    volt_tensor *f32 = bf16 ? volt_conv2d_relu_max_pool2x2(x, wt, b, NULL, p2, NULL, 1) : NULL;
    volt_autocast_set(prev);
    VT_ASSERT_NO_ERROR();
    if (bf16) assert_true(max_rel_diff(fused, f32) > 1e-4); /* the bf16 kernels ran */
    assert_string_equal(made_by(fused), "conv2d_relu_max_pool2x2");
    assert_bits(fused, plain, "forward (oneDNN path)");
    volt_tensor *gout = volt_randn(fused->ndim, fused->shape, VOLT_F32, &g);
    assert_int_equal(volt_backward_ex(fused, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(plain, gout, false), VOLT_OK);
    static const char *what[3] = {"input gradient", "weight gradient", "bias gradient"};
    for (int k = 0; k < 3; k++)
        if (!(needs & (1 << k)))
            assert_null(in[0][k]->grad);
        else if (needs == 4) /* the three ops sum it apart from the weights', from
                              * the f32 gradient; oneDNN's bf16 kernel from it
                              * rounded to bf16: n oh ow terms off by 2^-9 each */
            assert_true(max_rel_diff(in[0][k]->grad, in[1][k]->grad) <
                        (bf16 ? ldexp(1.0, -8) * sqrt((double)(n * h * w)) : 1e-5));
        else
            assert_bits(in[0][k]->grad, in[1][k]->grad, what[k]);
    volt_scope_end();
}

/* Under bf16 autocast the oneDNN path takes oneDNN's bf16 layout (NHWC on
 * AMX, or 16-channel blocks): bit for bit the three ops under autocast,
 * except a bias gradient wanted alone (see check_blocked). */
static void test_blocked_path_bf16(void **state) {
    (void)state;
    if (!volt_cpu_pool_blocked16_available() || !volt_autocast_bf16_native()) skip();
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    check_blocked(2, 32, 14, 14, 64, 1, 7, 11); /* the benchmark CNN's second block */
    check_blocked(2, 16, 9, 11, 32, 1, 7, 12);  /* odd sizes: floor pooling */
    check_blocked(2, 32, 10, 9, 16, 0, 7, 13);  /* no padding, 16 outputs */
    check_blocked(2, 32, 8, 8, 32, 1, 1, 14);   /* only x needs a gradient */
    check_blocked(2, 32, 8, 8, 32, 1, 2, 15);   /* only w */
    check_blocked(2, 32, 8, 8, 32, 1, 4, 16);   /* only b */
    volt_autocast_set(prev);
}

static void test_blocked_path(void **state) {
    (void)state;
    if (!volt_cpu_pool_blocked16_available()) skip();
    check_blocked(3, 8, 14, 14, 16, 1, 7, 1);
    check_blocked(2, 32, 14, 14, 64, 1, 7, 2); /* the benchmark CNN's second block */
    check_blocked(2, 3, 9, 11, 32, 1, 7, 3);   /* odd sizes: floor pooling */
    check_blocked(2, 4, 10, 9, 16, 0, 7, 4);   /* no padding */
    check_blocked(2, 4, 8, 8, 16, 1, 1, 5);    /* only x needs a gradient */
    check_blocked(2, 4, 8, 8, 16, 1, 2, 6);    /* only w */
    check_blocked(2, 4, 8, 8, 16, 1, 4, 7);    /* only b */
}

/* One image [1 2 -9; 3 4 0; 0 0 5; 1 1 1] (4 x 3), one channel, the centre
 * tap 1 and bias 0: the convolution is the image, ReLU'd: [1 2 0; 3 4 0;
 * 0 0 5; 1 1 1]; floor pooling keeps columns 0-1: [4; 1] with codes 3 and
 * 2 (the first of the bottom row's ties). A gradient [10; 20] reaches the
 * centre tap as 10 * 4 + 20 * 1 = 60, the bias as 30, and the tap above
 * the centre (ky 0, kx 1) as 10 * 2 + 20 * 0 = 20. */
static void test_by_hand(void **state) {
    (void)state;
    for (int simd = 0; simd < 2; simd++) {
        bool was = volt_cpu_conv_c1_set_simd(simd == 1);
        volt_conv_geom g = vt_conv_c1_geom(1, 1, 4, 3);
        assert_true(volt_cpu_conv_c1_relu_pool_applies(&g));
        const float x[12] = {1, 2, -9, 3, 4, 0, 0, 0, 5, 1, 1, 1};
        const float w[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, b[1] = {0}, gy[2] = {10, 20};
        float y[2], dw[9], db[1];
        uint8_t code[2];
        assert_int_equal(volt_cpu_conv_c1_relu_pool_forward_f32(&g, x, w, b, false, y, code),
                         VOLT_OK);
        assert_true(y[0] == 4 && y[1] == 1);
        assert_int_equal(code[0], 3);
        assert_int_equal(code[1], 2);
        assert_int_equal(volt_cpu_conv_c1_relu_pool_backward_weights_f32(&g, x, gy, code, dw, db),
                         VOLT_OK);
        assert_true(dw[4] == 60 && dw[1] == 20 && db[0] == 30);
        volt_cpu_conv_c1_set_simd(was);
    }
}

/* A window whose maximum is <= 0 passes no gradient: its code says so. */
static void test_code_of_dead_windows(void **state) {
    (void)state;
    for (int simd = 0; simd < 2; simd++) {
        bool was = volt_cpu_conv_c1_set_simd(simd == 1);
        volt_conv_geom g = vt_conv_c1_geom(1, 2, 2, 2);
        const float x[4] = {1, 1, 1, 1}, w[18] = {0}, b[2] = {-1, 2};
        float y[2];
        uint8_t code[2];
        assert_int_equal(volt_cpu_conv_c1_relu_pool_forward_f32(&g, x, w, b, false, y, code),
                         VOLT_OK);
        assert_true(y[0] == 0 && y[1] == 2);
        assert_int_equal(code[0], VOLT_CONV_POOL_NO_GRADIENT);
        assert_int_equal(code[1], 0);
        volt_cpu_conv_c1_set_simd(was);
    }
}

/* Cases the kernel does not take run the three ops: same values, and the
 * input's own gradient where it needs one. */
static void test_other_cases_are_the_three_ops(void **state) {
    (void)state;
    volt_tensor *wt, *b;
    weights(4, 3, &wt, &b);
    /* the input needs its gradient */
    volt_tensor *x1 = volt_requires_grad(input(2, 6, 8, 3, false), true);
    volt_tensor *x2 = volt_requires_grad(input(2, 6, 8, 3, false), true);
    volt_tensor *y1 = volt_conv2d_relu_max_pool2x2(x1, wt, b, NULL, PAD, NULL, 1);
    volt_tensor *y2 = unfused(x2, wt, b);
    assert_string_equal(y1->grad_fn->name, "max_pool2d");
    volt_generator g16 = volt_generator_make(4, 0); /* also with 16 output channels */
    volt_tensor *w16 = volt_randn(VOLT_SHAPE(16, 1, 3, 3), VOLT_F32, &g16);
    assert_string_equal(
        volt_conv2d_relu_max_pool2x2(x1, w16, NULL, NULL, PAD, NULL, 1)->grad_fn->name,
        "max_pool2d");
    assert_bits(y1, y2, "forward, x with gradient");
    assert_int_equal(volt_backward(volt_sum_all(y1)), VOLT_OK);
    assert_int_equal(volt_backward(volt_sum_all(y2)), VOLT_OK);
    assert_bits(x1->grad, x2->grad, "input gradient");
    /* f64 */
    volt_tensor *x64 = volt_to_dtype(input(2, 6, 8, 4, false), VOLT_F64);
    volt_tensor *w64 = volt_to_dtype(wt, VOLT_F64), *b64 = volt_to_dtype(b, VOLT_F64);
    assert_bits(volt_conv2d_relu_max_pool2x2(x64, w64, b64, NULL, PAD, NULL, 1),
                unfused(x64, w64, b64), "f64");
    /* two input channels, and a stride */
    volt_generator g = volt_generator_make(5, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 2, 8, 8), VOLT_F32, &g);
    volt_tensor *w2 = volt_randn(VOLT_SHAPE(3, 2, 3, 3), VOLT_F32, &g);
    assert_bits(volt_conv2d_relu_max_pool2x2(x, w2, NULL, NULL, PAD, NULL, 1), unfused(x, w2, NULL),
                "two channels");
    const int64_t stride[2] = {2, 2};
    x = input(2, 8, 8, 6, false);
    assert_bits(volt_conv2d_relu_max_pool2x2(x, wt, b, stride, PAD, NULL, 1),
                volt_max_pool2d(volt_conv2d_relu(x, wt, b, stride, PAD, NULL, 1), (int64_t[]){2, 2},
                                NULL, NULL, NULL, false, NULL),
                "stride 2");
    /* the fast kernels off */
    bool fast = volt_fast_kernels_enabled();
    volt_set_fast_kernels(false);
    volt_tensor *off = volt_conv2d_relu_max_pool2x2(x1, w16, NULL, NULL, PAD, NULL, 1);
    assert_string_equal(off->grad_fn->name, "max_pool2d");
    volt_set_fast_kernels(fast);
    /* grad mode off: the kernel, no node */
    VOLT_NO_GRAD {
        volt_tensor *y = volt_conv2d_relu_max_pool2x2(x, wt, b, NULL, PAD, NULL, 1);
        assert_null(y->grad_fn);
        assert_bits(y, unfused(x, wt, b), "no grad");
    }
    VT_ASSERT_NO_ERROR();
}

/* Under bf16 autocast the one-pass kernel takes the first block on x, w and
 * the incoming gradient rounded to bf16, as conv2d_relu computes one input
 * channel under autocast: the output bit for bit the three ops' under
 * autocast, the gradients within rounding, and both off the f32 results (so
 * the rounding happened). (The oneDNN path: test_blocked_path_bf16.) */
static void test_autocast(void **state) {
    (void)state;
    volt_tensor *wt, *b;
    weights(8, 21, &wt, &b);
    volt_tensor *x = input(4, 12, 10, 21, false);
    volt_tensor *w[3], *bias[3], *y[3];
    for (int k = 0; k < 3; k++) {
        w[k] = volt_requires_grad(volt_clone(wt), true);
        bias[k] = volt_requires_grad(volt_clone(b), true);
    }
    y[2] = volt_conv2d_relu_max_pool2x2(x, w[2], bias[2], NULL, PAD, NULL, 1); /* f32 */
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    y[0] = volt_conv2d_relu_max_pool2x2(x, w[0], bias[0], NULL, PAD, NULL, 1);
    y[1] = unfused(x, w[1], bias[1]);
    volt_autocast_set(prev);
    VT_ASSERT_NO_ERROR();
    assert_string_equal(made_by(y[0]), "conv2d_relu_max_pool2x2");
    assert_int_equal(y[0]->dtype, VOLT_BF16);
    assert_bits(y[0], y[1], "forward under autocast");
    assert_true(max_rel_diff(y[0], y[2]) > 1e-4);
    volt_generator g = volt_generator_make(21, 2);
    volt_tensor *gout = volt_randn(y[0]->ndim, y[0]->shape, VOLT_F32, &g);
    for (int k = 0; k < 3; k++) assert_int_equal(volt_backward_ex(y[k], gout, false), VOLT_OK);
    double tol = 1e-6 * sqrt(4.0 * 12 * 10);
    assert_true(max_rel_diff(w[0]->grad, w[1]->grad) < tol);
    assert_true(max_rel_diff(bias[0]->grad, bias[1]->grad) < tol);
    assert_true(max_rel_diff(w[0]->grad, w[2]->grad) > 1e-4);
    assert_true(max_rel_diff(bias[0]->grad, bias[2]->grad) > 1e-5);
}

/* bf16 tensors (precision "bf16-true"), on inputs with many ties after
 * rounding: on the one-pass kernel (AVX-512 and portable bodies) and on the
 * oneDNN path (4 -> 16 and 32 -> 32 channels), the output bit for bit the
 * three ops' on bf16 tensors, and the same pooling choices: the gradients,
 * bf16, within a bf16 step (2^-7 relative), which they miss when the
 * kernels pool unrounded values. */
static void test_bf16_tensors(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(31, 0);
    const int64_t cs[4] = {1, 1, 4, 32}, os[4] = {8, 8, 16, 32};
    for (int k = 0; k < 4; k++) {
        volt_scope_begin();
        bool prev_simd = volt_cpu_conv_c1_set_simd(k != 1); /* k = 1: the portable body */
        /* pixels 1 + i / 128, i in 0..3 (exact in bf16): a window's four
         * values differ by less than a bf16 step at their size */
        volt_tensor *steps = volt_randint(0, 4, VOLT_SHAPE(6, cs[k], 14, 12), VOLT_I64, &g);
        volt_tensor *x = volt_to_dtype(
            volt_add_scalar(volt_mul_scalar(volt_to_dtype(steps, VOLT_F32), 1.0 / 128), 1.0),
            VOLT_BF16);
        volt_tensor *wt =
            volt_to_dtype(volt_randn(VOLT_SHAPE(os[k], cs[k], 3, 3), VOLT_F32, &g), VOLT_BF16);
        volt_tensor *b = volt_to_dtype(volt_randn(VOLT_SHAPE(os[k]), VOLT_F32, &g), VOLT_BF16);
        volt_tensor *w[2], *bias[2], *y[2];
        for (int j = 0; j < 2; j++) {
            w[j] = volt_requires_grad(volt_clone(wt), true);
            bias[j] = volt_requires_grad(volt_clone(b), true);
        }
        y[0] = volt_conv2d_relu_max_pool2x2(x, w[0], bias[0], NULL, PAD, NULL, 1);
        y[1] = unfused(x, w[1], bias[1]);
        VT_ASSERT_NO_ERROR();
        assert_int_equal(y[0]->dtype, VOLT_BF16);
        assert_bits(y[0], y[1], "bf16 forward");
        volt_tensor *gout =
            volt_to_dtype(volt_randn(y[0]->ndim, y[0]->shape, VOLT_F32, &g), VOLT_BF16);
        for (int j = 0; j < 2; j++) assert_int_equal(volt_backward_ex(y[j], gout, false), VOLT_OK);
        assert_int_equal(w[0]->grad->dtype, VOLT_BF16);
        assert_int_equal(bias[0]->grad->dtype, VOLT_BF16);
        if (max_rel_diff(w[0]->grad, w[1]->grad) > 1.0 / 128 ||
            max_rel_diff(bias[0]->grad, bias[1]->grad) > 1.0 / 128)
            fail_msg("bf16, %lld input channels: gradients off by %g / %g", (long long)cs[k],
                     max_rel_diff(w[0]->grad, w[1]->grad),
                     max_rel_diff(bias[0]->grad, bias[1]->grad));
        volt_cpu_conv_c1_set_simd(prev_simd);
        volt_scope_end();
    }
}

static void test_bad_input(void **state) {
    (void)state;
    volt_tensor *x = volt_zeros(VOLT_SHAPE(2, 3, 8, 8), VOLT_F32);
    volt_tensor *w = volt_zeros(VOLT_SHAPE(4, 1, 3, 3), VOLT_F32);
    assert_null(volt_conv2d_relu_max_pool2x2(x, w, NULL, NULL, PAD, NULL, 1));
    VT_ASSERT_ERROR(volt_error_status(), "has 3 channels but weight");
    volt_error_clear();
    assert_null(volt_conv2d_relu_max_pool2x2(NULL, w, NULL, NULL, PAD, NULL, 1));
    VT_ASSERT_ERROR(volt_error_status(), "x");
    volt_error_clear();
    volt_tensor *b = volt_zeros(VOLT_SHAPE(5), VOLT_F32);
    x = volt_zeros(VOLT_SHAPE(2, 1, 8, 8), VOLT_F32);
    assert_null(volt_conv2d_relu_max_pool2x2(x, w, b, NULL, PAD, NULL, 1));
    VT_ASSERT_ERROR(volt_error_status(), "bias");
    volt_error_clear();
    x = volt_zeros(VOLT_SHAPE(2, 1, 1, 8), VOLT_F32); /* a one-row output cannot pool 2x2 */
    assert_null(volt_conv2d_relu_max_pool2x2(x, w, NULL, NULL, PAD, NULL, 1));
    VT_ASSERT_ERROR(volt_error_status(), "max_pool2d");
    volt_error_clear();
}

static void test_layer(void **state) {
    (void)state;
    volt_conv2d_layer *c =
        volt_conv2d_layer_new(NULL, "conv1", 1, 6, 3, 3, &(volt_conv_options){.padding = {1, 1}});
    assert_non_null(c);
    volt_tensor *x = input(3, 10, 12, 8, false);
    volt_tensor *fused = volt_conv2d_relu_max_pool2x2_layer_forward(c, x);
    volt_tensor *plain = volt_max_pool2d(volt_conv2d_relu_layer_forward(c, x), (int64_t[]){2, 2},
                                         NULL, NULL, NULL, false, NULL);
    VT_ASSERT_SHAPE(fused, 3, 6, 5, 6);
    assert_bits(fused, plain, "layer");
    volt_module_free(&c->base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_matches_three_ops),
        VT_TEST(test_blocked_path),
        VT_TEST(test_blocked_path_bf16),
        VT_TEST(test_by_hand),
        VT_TEST(test_code_of_dead_windows),
        VT_TEST(test_other_cases_are_the_three_ops),
        VT_TEST(test_autocast),
        VT_TEST(test_bf16_tensors),
        VT_TEST(test_bad_input),
        VT_TEST(test_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
