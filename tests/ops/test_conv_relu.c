/* test_conv_relu.c: volt_conv2d_relu (and the layer's fused forward) is
 * relu(conv2d) as one op: the same values bit for bit, forward and every
 * gradient, in f32 (oneDNN, the one-channel direct kernel) and bf16 (true
 * and under autocast); a float64 gradcheck away from the ReLU's kink; and
 * half the live activation bytes of the unfused pair (one output tensor
 * instead of two). */
#include "volt_test.h"

#include <math.h>

typedef struct {
    int64_t n, c, o, h, w;
} shape5;

static void assert_same(const volt_tensor *a, const volt_tensor *b, const char *what) {
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(volt_tensor_numel(a), volt_tensor_numel(b));
    for (int64_t i = 0; i < volt_tensor_numel(a); i++) {
        double x = volt_tensor_get_flat(a, i), y = volt_tensor_get_flat(b, i);
        if (!(x == y || (isnan(x) && isnan(y))))
            fail_msg("%s: element %lld: %.9g vs %.9g", what, (long long)i, x, y);
    }
}

static volt_tensor *leaf(const volt_tensor *t) { return volt_requires_grad(volt_clone(t), true); }

/* Fused against unfused on the same inputs (dtype dt), forward and
 * backward with the same output gradient. */
static void check_equal(shape5 s, volt_dtype dt, uint64_t seed) {
    volt_generator g = volt_generator_make(seed, 0);
    volt_tensor *x = volt_to_dtype(volt_randn(VOLT_SHAPE(s.n, s.c, s.h, s.w), VOLT_F32, &g), dt);
    volt_tensor *w = volt_to_dtype(volt_randn(VOLT_SHAPE(s.o, s.c, 3, 3), VOLT_F32, &g), dt);
    volt_tensor *b = volt_to_dtype(volt_randn(VOLT_SHAPE(s.o), VOLT_F32, &g), dt);
    volt_tensor *x1 = leaf(x), *w1 = leaf(w), *b1 = leaf(b);
    volt_tensor *x2 = leaf(x), *w2 = leaf(w), *b2 = leaf(b);
    const int64_t pad[2] = {1, 1};
    volt_tensor *fused = volt_conv2d_relu(x1, w1, b1, NULL, pad, NULL, 1);
    volt_tensor *plain = volt_relu(volt_conv2d(x2, w2, b2, NULL, pad, NULL, 1));
    VT_ASSERT_NO_ERROR();
    assert_same(fused, plain, "forward");
    volt_tensor *gout = volt_to_dtype(volt_randn(fused->ndim, fused->shape, VOLT_F32, &g), dt);
    assert_int_equal(volt_backward_ex(fused, gout, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(plain, gout, false), VOLT_OK);
    assert_same(x1->grad, x2->grad, "dx");
    assert_same(w1->grad, w2->grad, "dw");
    assert_same(b1->grad, b2->grad, "db");
}

static void test_equals_relu_of_conv(void **state) {
    (void)state;
    check_equal((shape5){4, 3, 8, 9, 7}, VOLT_F32, 1);   /* oneDNN */
    check_equal((shape5){4, 1, 8, 12, 10}, VOLT_F32, 2); /* one input channel */
    check_equal((shape5){2, 3, 5, 6, 6}, VOLT_F64, 3);   /* reference kernels */
    check_equal((shape5){2, 3, 5, 6, 6}, VOLT_BF16, 4);  /* bf16-true */
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    check_equal((shape5){2, 3, 5, 6, 6}, VOLT_F32, 5); /* bf16-mixed */
    volt_autocast_set(prev);
}

/* The gradient reaching the fused op from another op is the engine's own
 * buffer, which its backward masks in place: the same gradients again. */
static void test_mask_in_place(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(9, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(4, 2, 8, 8), VOLT_F32, &g);
    volt_tensor *w = volt_randn(VOLT_SHAPE(5, 2, 3, 3), VOLT_F32, &g);
    volt_tensor *r = volt_randn(VOLT_SHAPE(4, 5, 8, 8), VOLT_F32, &g);
    volt_tensor *w1 = leaf(w), *w2 = leaf(w);
    const int64_t pad[2] = {1, 1};
    volt_tensor *l1 = volt_sum_all(volt_mul(volt_conv2d_relu(x, w1, NULL, NULL, pad, NULL, 1), r));
    volt_tensor *l2 =
        volt_sum_all(volt_mul(volt_relu(volt_conv2d(x, w2, NULL, NULL, pad, NULL, 1)), r));
    assert_int_equal(volt_backward(l1), VOLT_OK);
    assert_int_equal(volt_backward(l2), VOLT_OK);
    assert_same(w1->grad, w2->grad, "dw through mul");
}

static volt_tensor *fused_fn(volt_tensor **in, void *ctx) {
    (void)ctx;
    const int64_t pad[2] = {1, 1};
    return volt_conv2d_relu(in[0], in[1], in[2], NULL, pad, NULL, 1);
}

/* Shifted so that no output sits within the gradcheck's step of the kink. */
static void test_gradcheck(void **state) {
    (void)state;
    volt_tensor *x = vt_leaf(VOLT_SHAPE(2, 2, 5, 4), 11, 1.0, 0.0);
    volt_tensor *w = vt_leaf(VOLT_SHAPE(3, 2, 3, 3), 12, 0.5, 0.0);
    volt_tensor *b = vt_leaf(VOLT_SHAPE(3), 13, 0.1, 0.0);
    const int64_t pad[2] = {1, 1};
    volt_tensor *y = volt_conv2d_relu(x, w, b, NULL, pad, NULL, 1);
    for (int64_t i = 0; i < volt_tensor_numel(y); i++) {
        double v = volt_tensor_get_flat(y, i);
        if (v > 0 && v < 1e-3) skip(); /* not expected for these seeds */
    }
    VT_GRADCHECK(fused_fn, NULL, 3, x, w, b);
}

/* The layer's fused forward equals relu(layer forward); and the fused pair
 * keeps one output tensor alive where the unfused one keeps two. */
static void test_layer_and_memory(void **state) {
    (void)state;
    volt_conv_options o = {.padding = {1, 1}};
    volt_conv2d_layer *c = volt_conv2d_layer_new(NULL, "conv", 1, 8, 3, 3, &o);
    assert_non_null(c);
    volt_generator g = volt_generator_make(7, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(16, 1, 28, 28), VOLT_F32, &g);
    int64_t out_bytes = 16 * 8 * 28 * 28 * 4;
    volt_scope_begin();
    int64_t before = volt_cpu_memory_stats().allocated_bytes;
    volt_tensor *fused = volt_conv2d_relu_layer_forward(c, x);
    int64_t fused_bytes = volt_cpu_memory_stats().allocated_bytes - before;
    volt_tensor *plain = volt_relu(volt_conv2d_layer_forward(c, x));
    int64_t plain_bytes = volt_cpu_memory_stats().allocated_bytes - before - fused_bytes;
    assert_same(fused, plain, "layer forward");
    assert_true(fused_bytes >= out_bytes && fused_bytes < 2 * out_bytes);
    assert_true(plain_bytes >= 2 * out_bytes);
    volt_scope_end();
    volt_module_free(&c->base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_equals_relu_of_conv),
        VT_TEST(test_mask_in_place),
        VT_TEST(test_gradcheck),
        VT_TEST(test_layer_and_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
