/* test_conv_flip.c: the input gradient of a stride-1 convolution computed
 * by oneDNN as the forward convolution of the output gradient with the
 * flipped, transposed weights (ops/cpu/dnnl_conv.c): values by hand, held to
 * the reference kernels over dilation, uneven ("same") padding, a
 * transposed convolution and the benchmark CNN's conv 32->64, the cases it
 * must leave to oneDNN's backward-data primitive (stride 2, groups, a
 * padding wider than the kernel, a small image, weights large next to the
 * output gradient), oneDNN memory objects reused across calls with new
 * data, and the same path in bf16 under autocast. */
#include "volt_test.h"

#include <math.h>
#include <stdlib.h>

#include "ops/conv_impl.h"
#include "ops/cpu/dnnl_common.h"

/* Ones everywhere: gx[i][j] = O * (the output positions whose 3x3 window,
 * padding 1, covers (i, j)) = 16 * 4 at a corner, 16 * 6 on an edge,
 * 16 * 9 inside. (4 images of 24x24: the flipped path wants diff_dst at
 * least 16 times the weights' size.) */
static void test_values_by_hand(void **state) {
    (void)state;
    enum { N = 4, C = 16, S = 24 };
    volt_tensor *x = volt_requires_grad(volt_ones(VOLT_SHAPE(N, C, S, S), VOLT_F32), true);
    volt_tensor *w = volt_requires_grad(volt_ones(VOLT_SHAPE(16, C, 3, 3), VOLT_F32), true);
    int64_t before = volt_dnnl_flipped_backward_data();
    volt_tensor *y = volt_conv2d(x, w, NULL, NULL, (int64_t[]){1, 1}, NULL, 1);
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    assert_int_equal(volt_dnnl_flipped_backward_data() - before, 1);
    const float *g = volt_tensor_data(x->grad);
    for (int64_t nc = 0; nc < N * C; nc++)
        for (int64_t i = 0; i < S; i++)
            for (int64_t j = 0; j < S; j++) {
                int rows = (i == 0 || i == S - 1) ? 2 : 3, cols = (j == 0 || j == S - 1) ? 2 : 3;
                assert_true(g[(nc * S + i) * S + j] == 16.0f * (float)(rows * cols));
            }
    VT_ASSERT_NO_ERROR();
}

typedef struct {
    int64_t stride[2], padding[2], dilation[2], groups;
    bool transposed;
} geom;

/* The input gradient (and output) of one run with fast kernels on or off;
 * malloc'd copies as double. */
static double *input_grad(const geom *c, const volt_tensor *x0, const volt_tensor *w0, bool fast,
                          int64_t *n) {
    volt_set_fast_kernels(fast);
    volt_scope_begin();
    volt_tensor *x = volt_requires_grad(volt_clone(x0), true);
    volt_tensor *w = volt_clone(w0);
    volt_tensor *y =
        c->transposed
            ? volt_conv_transpose2d(x, w, NULL, c->stride, c->padding, NULL, c->dilation, c->groups)
            : volt_conv2d(x, w, NULL, c->stride, c->padding, c->dilation, c->groups);
    assert_non_null(y);
    volt_generator gen = volt_generator_make(3, 0);
    volt_tensor *gy = volt_randn(y->ndim, y->shape, VOLT_F32, &gen);
    assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);
    *n = volt_tensor_numel(x->grad);
    double *v = malloc((size_t)*n * sizeof *v);
    assert_int_equal(volt_tensor_copy_to_array(x->grad, VOLT_F64, v), VOLT_OK);
    volt_scope_end();
    volt_set_fast_kernels(true);
    return v;
}

/* The fast input gradient within 1e-4 (relative to its largest value) of
 * the reference kernel's; `flips`: how many times the flipped path ran. */
static void compare(geom c, const int64_t *xs, const int64_t *ws, int64_t flips) {
    volt_generator gen = volt_generator_make(11, 0);
    volt_tensor *x = volt_randn(4, xs, VOLT_F32, &gen);
    volt_tensor *w = volt_randn(4, ws, VOLT_F32, &gen);
    int64_t n_fast, n_ref, before = volt_dnnl_flipped_backward_data();
    double *fast = input_grad(&c, x, w, true, &n_fast);
    assert_int_equal(volt_dnnl_flipped_backward_data() - before, flips);
    double *ref = input_grad(&c, x, w, false, &n_ref);
    assert_int_equal(n_fast, n_ref);
    double err = 0, scale = 1e-30;
    for (int64_t i = 0; i < n_ref; i++) {
        err = fmax(err, fabs(fast[i] - ref[i]));
        scale = fmax(scale, fabs(ref[i]));
    }
    if (err > 1e-4 * scale) fail_msg("max error %g against a scale of %g", err, scale);
    free(fast);
    free(ref);
    volt_tensor_free(x);
    volt_tensor_free(w);
}

static void test_matches_reference(void **state) {
    (void)state;
    geom cnn = {{1, 1}, {1, 1}, {1, 1}, 1, false}; /* the CNN's conv2, fewer outputs */
    compare(cnn, (int64_t[]){24, 32, 14, 14}, (int64_t[]){16, 32, 3, 3}, 1);
    geom dilated = {{1, 1}, {2, 1}, {2, 1}, 1, false};
    compare(dilated, (int64_t[]){4, 16, 24, 24}, (int64_t[]){16, 16, 3, 3}, 1);
    geom same = {{1, 1}, {VOLT_PADDING_SAME, VOLT_PADDING_SAME}, {1, 1}, 1, false};
    compare(same, (int64_t[]){4, 16, 24, 23}, (int64_t[]){16, 16, 4, 2}, 1);
    geom unpadded = {{1, 1}, {0, 0}, {1, 1}, 1, false};
    compare(unpadded, (int64_t[]){8, 16, 28, 28}, (int64_t[]){16, 16, 5, 3}, 1);
    /* conv_transpose2d's output is the input gradient of a conv2d */
    geom transposed = {{1, 1}, {1, 0}, {1, 1}, 1, true};
    compare(transposed, (int64_t[]){8, 16, 24, 24}, (int64_t[]){16, 16, 3, 3}, 1);
    VT_ASSERT_NO_ERROR();
}

static void test_left_to_backward_data(void **state) {
    (void)state;
    geom strided = {{2, 2}, {1, 1}, {1, 1}, 1, false};
    compare(strided, (int64_t[]){2, 16, 9, 9}, (int64_t[]){32, 16, 3, 3}, 0);
    geom grouped = {{1, 1}, {1, 1}, {1, 1}, 2, false};
    compare(grouped, (int64_t[]){2, 32, 8, 8}, (int64_t[]){32, 16, 3, 3}, 0);
    geom wide = {{1, 1}, {3, 3}, {1, 1}, 1, false}; /* padding 3 > kernel - 1 */
    compare(wide, (int64_t[]){8, 16, 24, 24}, (int64_t[]){16, 16, 3, 3}, 0);
    geom plain = {{1, 1}, {1, 1}, {1, 1}, 1, false};
    compare(plain, (int64_t[]){64, 16, 7, 7}, (int64_t[]){16, 16, 3, 3}, 0); /* 7x7 image */
    compare(plain, (int64_t[]){2, 64, 8, 8}, (int64_t[]){64, 64, 3, 3}, 0);  /* big weights */
    VT_ASSERT_NO_ERROR();
}

/* Two convolutions of one shape on different tensors: the second runs the
 * cached primitives on memory objects pointed at its own data. */
static void test_memory_objects_follow_data(void **state) {
    (void)state;
    volt_tensor *w = volt_ones(VOLT_SHAPE(16, 16, 1, 1), VOLT_F32);
    for (int k = 1; k <= 3; k++) {
        volt_tensor *x = volt_full(VOLT_SHAPE(2, 16, 4, 4), (double)k, VOLT_F32);
        volt_tensor *y = volt_conv2d(x, w, NULL, NULL, NULL, NULL, 1);
        assert_non_null(y);
        const float *v = volt_tensor_data(y);
        for (int64_t i = 0; i < volt_tensor_numel(y); i++) assert_true(v[i] == 16.0f * (float)k);
        volt_tensor_free(y);
        volt_tensor_free(x);
    }
    volt_tensor_free(w);
    VT_ASSERT_NO_ERROR();
}

/* Largest |a - b| (tensors of one shape) and the largest |b|. */
static void max_err(const volt_tensor *a, const volt_tensor *b, double *err, double *scale) {
    *err = 0;
    *scale = 1e-30;
    for (int64_t i = 0; i < volt_tensor_numel(b); i++) {
        *err = fmax(*err, fabs(volt_tensor_get_flat(a, i) - volt_tensor_get_flat(b, i)));
        *scale = fmax(*scale, fabs(volt_tensor_get_flat(b, i)));
    }
}

/* Under bf16 autocast the flipped path runs on bf16 too (the output
 * gradient and the flipped weights rounded, f32 accumulation): the input
 * gradient of the benchmark CNN's conv2 shape equals an f64 reference on the
 * rounded output gradient and weights, up to f32 summation, and is off the
 * unrounded reference by about bf16's step. */
static void test_bf16_autocast(void **state) {
    (void)state;
    volt_generator gen = volt_generator_make(5, 0);
    volt_tensor *x0 = volt_randn(VOLT_SHAPE(24, 32, 14, 14), VOLT_F32, &gen);
    volt_tensor *w0 = volt_randn(VOLT_SHAPE(16, 32, 3, 3), VOLT_F32, &gen);
    volt_tensor *gy = volt_randn(VOLT_SHAPE(24, 16, 14, 14), VOLT_F32, &gen);
    const int64_t pad[2] = {1, 1};
    volt_tensor *x = volt_requires_grad(volt_clone(x0), true);
    int64_t before = volt_dnnl_flipped_backward_data();
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *y = volt_conv2d(x, w0, NULL, NULL, pad, NULL, 1);
    volt_autocast_set(prev);
    assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);
    assert_int_equal(volt_dnnl_flipped_backward_data() - before, 1);
    double err, scale;
    for (int rounded = 1; rounded >= 0; rounded--) {
        volt_dtype via = rounded ? VOLT_BF16 : VOLT_F64;
        volt_tensor *x64 = volt_requires_grad(volt_to_dtype(x0, VOLT_F64), true);
        volt_tensor *w64 = volt_to_dtype(volt_to_dtype(w0, via), VOLT_F64);
        volt_tensor *y64 = volt_conv2d(x64, w64, NULL, NULL, pad, NULL, 1);
        assert_int_equal(
            volt_backward_ex(y64, volt_to_dtype(volt_to_dtype(gy, via), VOLT_F64), false), VOLT_OK);
        max_err(x->grad, x64->grad, &err, &scale);
        if (rounded && err > 1e-5 * scale)
            fail_msg("max error %g against a scale of %g (rounded operands)", err, scale);
        if (!rounded && !(err > 1e-4 * scale && err < 3e-2 * scale))
            fail_msg("max difference %g from f32, scale %g: not bf16's", err, scale);
    }
    VT_ASSERT_NO_ERROR();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_values_by_hand),        VT_TEST(test_matches_reference),
        VT_TEST(test_left_to_backward_data), VT_TEST(test_memory_objects_follow_data),
        VT_TEST(test_bf16_autocast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
