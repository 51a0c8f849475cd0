/* test_conv.c: conv2d, conv1d and conv_transpose2d — values and gradients
 * against numbers from PyTorch, float64 gradchecks (reference kernels) over
 * stride, padding ("same" included), dilation, groups, depthwise, unbatched
 * and non-contiguous inputs, oneDNN's f32 results held to the reference
 * kernels (forward and both gradients, 1e-4 relative), reuse of cached
 * primitives, the weight-reorder cache and its invalidation by an in-place
 * update, the thread count oneDNN runs with, out-of-memory and oneDNN
 * failures turned into errors, and the error paths. */
#include "volt_test.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv_impl.h"
#include "ops/cpu/dnnl_common.h"

/* ((i * a) % m - off) * scale for i = 0, 1, ...: exact in binary, so the
 * same inputs are easy to build in PyTorch (see the comment on the values). */
static volt_tensor *pattern(int ndim, const int64_t *shape, int a, int m, int off, double scale,
                            volt_dtype dtype) {
    volt_tensor *t = volt_empty(ndim, shape, VOLT_F64);
    double *p = volt_tensor_data(t);
    for (int64_t i = 0; i < volt_tensor_numel(t); i++) p[i] = (double)((i * a) % m - off) * scale;
    return volt_requires_grad(dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype), true);
}
#define PX(dtype, ...) pattern(VOLT_SHAPE(__VA_ARGS__), 7, 11, 5, 0.25, dtype)
#define PW(dtype, ...) pattern(VOLT_SHAPE(__VA_ARGS__), 5, 7, 3, 0.125, dtype)
#define PB(dtype, n) pattern(VOLT_SHAPE(n), 3, 5, 2, 0.5, dtype)

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, tol, ...)                                                                        \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (tol), (tol))

/* Backward of y with the upstream gradient pattern(3, 8, 4, 0.5). */
static void backward_pattern(volt_tensor *y) {
    assert_non_null(y);
    volt_tensor *gy = pattern(y->ndim, y->shape, 3, 8, 4, 0.5, y->dtype);
    assert_int_equal(volt_backward_ex(y, volt_tensor_detach(gy), false), VOLT_OK);
}

static const volt_dtype dtypes[2] = {VOLT_F32, VOLT_F64};

/* Expected numbers from Debian's torch 1.13 in float64, inputs built the same
 * way (x: 7, 11, 5, 0.25; w: 5, 7, 3, 0.125; bias: 3, 5, 2, 0.5; upstream
 * gradient: 3, 8, 4, 0.5), e.g.
 *   y = F.conv2d(x, w, b, stride=2, padding=1); y.backward(gy)
 * printing y, x.grad, w.grad, b.grad. */
static void test_conv2d_torch_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = dtypes[k];
        double tol = d == VOLT_F32 ? 1e-5 : 1e-12;
        volt_tensor *x = PX(d, 1, 2, 4, 4), *w = PW(d, 2, 2, 3, 3), *b = PB(d, 2);
        volt_tensor *y = volt_conv2d(x, w, b, (int64_t[]){2, 2}, (int64_t[]){1, 1}, NULL, 1);
        VT_ASSERT_SHAPE(y, 1, 2, 2, 2);
        EXPECT(y, tol, -1.90625, -1.125, -2.21875, -0.53125, 0.75, 0.3125, 0.625, 0.75);
        backward_pattern(y);
        EXPECT(x->grad, tol, -0.75, -0.6875, 0.1875, -0.0625, 0.875, 0.0625, 0.4375, 0, 0.125,
               0.3125, -0.4375, -0.1875, -0.75, 0.1875, 0.75, -0.3125, 0.25, 0.6875, -0.3125, 0.75,
               0.125, 0.625, 0, -0.875, 0.125, -0.9375, 0.0625, 0.75, 0.125, -0.1875, -0.0625,
               0.1875);
        EXPECT(w->grad, tol, 1.125, -1.25, -0.75, -1.375, 2.125, 1, 1.125, -2.375, 0.625, 0.375,
               2.625, -1, -2.375, 0.625, 0.875, 0.125, 1.625, -0.875, -0.375, 0.25, 0.75, 1.125,
               0.125, 0.5, -1.375, 1.625, 0.625, -0.125, -1.375, 0.5, 2.125, 0.625, -3.125, -0.375,
               -3.375, 1.125);
        EXPECT(b->grad, tol, -3, 1);

        /* groups=2, dilation=2, padding=1, stride=(1, 2). */
        x = PX(d, 1, 4, 3, 3), w = PW(d, 2, 2, 2, 2), b = PB(d, 2);
        y = volt_conv2d(x, w, b, (int64_t[]){1, 2}, (int64_t[]){1, 1}, (int64_t[]){2, 2}, 2);
        VT_ASSERT_SHAPE(y, 1, 2, 3, 2);
        EXPECT(y, tol, -0.875, -0.9375, -0.625, -1.1875, -1, -1.28125, 0.21875, 0.53125, 0.96875,
               -0.125, 0.40625, 0.28125);
        backward_pattern(y);
        EXPECT(x->grad, tol, 0, 0.8125, 0, 0, -0.0625, 0, 0, -0.25, 0, 0, -0.4375, 0, 0, 1.375, 0,
               0, -0.1875, 0, 0, -0.125, 0, 0, -0.875, 0, 0, -0.625, 0, 0, 0.1875, 0, 0, -0.75, 0,
               0, -0.3125, 0);
        EXPECT(w->grad, tol, -0.375, 0.5, -0.125, -0.5, -0.375, -0.25, 1.375, 0.25, 2.375, 0.75,
               -1.25, -1.25, -1.625, -1.25, 0.125, -1.75);
        EXPECT(b->grad, tol, -1.5, -3.5);

        /* padding="same" with an even kernel (2, 3): the odd pad at the end. */
        x = PX(d, 1, 1, 3, 4), w = PW(d, 1, 1, 2, 3);
        y = volt_conv2d(x, w, NULL, NULL, (int64_t[]){VOLT_PADDING_SAME, VOLT_PADDING_SAME}, NULL,
                        1);
        VT_ASSERT_SHAPE(y, 1, 1, 3, 4);
        EXPECT(y, tol, -0.3125, 0.375, 0.25, 0.25, -0.21875, 0.21875, 0.09375, -0.78125, -0.25,
               0.5625, -0.34375, -0.21875);
        backward_pattern(y);
        EXPECT(x->grad, tol, -0.3125, -0.5, 0.8125, -0.375, -1.1875, 0.0625, 0.25, -0.3125, -0.6875,
               0.3125, 0.5, -0.3125);
        EXPECT(w->grad, tol, 5.125, 1, -0.625, -4.75, 1.625, 1.875);
    }
    VT_ASSERT_NO_ERROR();
}

/* F.conv1d(x, w, b, stride=2, padding=1, dilation=2) and
 * F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
 * groups=2), as above. */
static void test_conv1d_transpose_torch_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = dtypes[k];
        double tol = d == VOLT_F32 ? 1e-5 : 1e-12;
        volt_tensor *x = PX(d, 1, 2, 7), *w = PW(d, 2, 2, 3), *b = PB(d, 2);
        volt_tensor *y = volt_conv1d(x, w, b, 2, 1, 2, 1);
        VT_ASSERT_SHAPE(y, 1, 2, 3);
        EXPECT(y, tol, -1.28125, -0.65625, -1.40625, 0.78125, 0.03125, 0.5);
        backward_pattern(y);
        EXPECT(x->grad, tol, 0, 0.25, 0, -1.0625, 0, -0.3125, 0, 0, -0.25, 0, -1.25, 0, -0.0625, 0);
        EXPECT(w->grad, tol, 1, -2.375, -2.125, 0.25, 2.625, 0.25, 1.875, -1.875, -1.875, -0.375,
               2.25, 0.375);
        EXPECT(b->grad, tol, -1.5, 0);

        x = PX(d, 1, 2, 2, 3), w = PW(d, 2, 1, 3, 3), b = PB(d, 2);
        y = volt_conv_transpose2d(x, w, b, (int64_t[]){2, 2}, (int64_t[]){1, 1}, (int64_t[]){1, 1},
                                  NULL, 2);
        VT_ASSERT_SHAPE(y, 1, 2, 4, 6);
        EXPECT(y, tol, -1.46875, -1.28125, -0.8125, -0.8125, -1.1875, -1.0625, -0.21875, -1.46875,
               -1.125, -0.53125, -1, -1.125, -0.53125, -0.90625, -0.90625, -0.78125, -1.28125,
               -1.09375, -1.46875, -0.71875, -1.09375, -0.84375, -0.71875, -1.1875, 0.375, 0.125,
               0.5, 0.375, 0.625, 0.875, 0.3125, 0.53125, 0.5625, 0.15625, 0.8125, 0.28125, 0.40625,
               0.1875, 0.53125, 0.4375, 0.65625, 0.96875, 0.5, 0.25, 0.5, 0.25, 0.5, 0.8125);
        backward_pattern(y);
        EXPECT(x->grad, tol, -0.3125, 0.875, -0.125, -0.8125, -0.8125, -0.1875, 0.3125, 0.625, -0.5,
               0.25, -0.3125, -0.0625);
        EXPECT(w->grad, tol, 0.5, -2.5, 1.625, 0.5, 4.25, 1.5, -1, 1.75, -2, 0.5, -1.5, 2.375, 0.5,
               0.75, -0.375, -1, 0, -0.125);
        EXPECT(b->grad, tol, -6, -6);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_shapes(void **state) {
    (void)state;
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 3, 9, 8), VOLT_F32, NULL);
    volt_tensor *w = volt_randn(VOLT_SHAPE(6, 3, 4, 3), VOLT_F32, NULL);
    int64_t same[2] = {VOLT_PADDING_SAME, VOLT_PADDING_SAME};
    VT_ASSERT_SHAPE(volt_conv2d(x, w, NULL, NULL, same, NULL, 1), 2, 6, 9, 8);
    VT_ASSERT_SHAPE(volt_conv2d(x, w, NULL, NULL, same, (int64_t[]){2, 3}, 1), 2, 6, 9, 8);
    /* (9 + 2 - 4) / 2 + 1 = 4, (8 + 0 - 3) / 3 + 1 = 2 */
    VT_ASSERT_SHAPE(volt_conv2d(x, w, NULL, (int64_t[]){2, 3}, (int64_t[]){1, 0}, NULL, 1), 2, 6, 4,
                    2);
    /* Unbatched input [C, H, W]. */
    volt_tensor *x3 = volt_randn(VOLT_SHAPE(3, 9, 8), VOLT_F32, NULL);
    VT_ASSERT_SHAPE(volt_conv2d(x3, w, NULL, NULL, NULL, NULL, 1), 6, 6, 6);
    /* conv1d, unbatched and "same". */
    volt_tensor *x1 = volt_randn(VOLT_SHAPE(3, 10), VOLT_F32, NULL);
    volt_tensor *w1 = volt_randn(VOLT_SHAPE(4, 3, 4), VOLT_F32, NULL);
    VT_ASSERT_SHAPE(volt_conv1d(x1, w1, NULL, 1, VOLT_PADDING_SAME, 1, 1), 4, 10);
    /* conv_transpose2d: (5 - 1) * 3 - 2 + 2 * (3 - 1) + 2 + 1 = 17. */
    volt_tensor *xt = volt_randn(VOLT_SHAPE(2, 4, 5, 5), VOLT_F32, NULL);
    volt_tensor *wt = volt_randn(VOLT_SHAPE(4, 3, 3, 3), VOLT_F32, NULL);
    VT_ASSERT_SHAPE(volt_conv_transpose2d(xt, wt, NULL, (int64_t[]){3, 3}, (int64_t[]){1, 1},
                                          (int64_t[]){2, 2}, (int64_t[]){2, 2}, 1),
                    2, 3, 17, 17);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------------ gradcheck */

typedef struct {
    int64_t stride[2], padding[2], dilation[2], output_padding[2], groups;
    int kind; /* 0: conv2d, 1: conv1d, 2: conv_transpose2d */
} conv_case;

static volt_tensor *conv_fn(volt_tensor **in, void *ctx) {
    const conv_case *c = ctx;
    if (c->kind == 1)
        return volt_conv1d(in[0], in[1], in[2], c->stride[1], c->padding[1], c->dilation[1],
                           c->groups);
    if (c->kind == 2)
        return volt_conv_transpose2d(in[0], in[1], in[2], c->stride, c->padding, c->output_padding,
                                     c->dilation, c->groups);
    return volt_conv2d(in[0], in[1], in[2], c->stride, c->padding, c->dilation, c->groups);
}

static void check_case(conv_case c, int xnd, const int64_t *xs, const int64_t *ws, int64_t nb,
                       bool strided) {
    volt_scope_begin();
    volt_tensor *x =
        strided ? vt_leaf_strided(xnd, xs, 1, 1.0, 0.0) : vt_leaf(xnd, xs, 1, 1.0, 0.0);
    volt_tensor *w = vt_leaf(c.kind == 1 ? 3 : 4, ws, 2, 0.5, 0.0);
    volt_tensor *b = nb ? vt_leaf(1, (int64_t[]){nb}, 3, 1.0, 0.0) : NULL;
    volt_tensor *inputs[3] = {x, w, b}; /* conv_fn reads inputs[2] (NULL: no bias) */
    vt_gradcheck(conv_fn, &c, b ? 3 : 2, inputs, __FILE__, __LINE__);
    volt_scope_end();
}

static void test_gradcheck(void **state) {
    (void)state;
    conv_case plain = {{1, 1}, {0, 0}, {1, 1}, {0, 0}, 1, 0};
    check_case(plain, 4, (int64_t[]){2, 2, 5, 4}, (int64_t[]){3, 2, 3, 2}, 3, false);
    conv_case spd = {{2, 1}, {1, 2}, {2, 1}, {0, 0}, 1, 0};
    check_case(spd, 4, (int64_t[]){1, 2, 7, 5}, (int64_t[]){2, 2, 3, 3}, 2, true);
    conv_case groups = {{1, 2}, {1, 0}, {1, 2}, {0, 0}, 2, 0};
    check_case(groups, 4, (int64_t[]){2, 4, 5, 6}, (int64_t[]){6, 2, 2, 2}, 6, false);
    conv_case depthwise = {{1, 1}, {1, 1}, {1, 1}, {0, 0}, 3, 0};
    check_case(depthwise, 4, (int64_t[]){1, 3, 4, 4}, (int64_t[]){3, 1, 3, 3}, 0, true);
    conv_case same = {{1, 1}, {VOLT_PADDING_SAME, VOLT_PADDING_SAME}, {1, 2}, {0, 0}, 1, 0};
    check_case(same, 3, (int64_t[]){2, 4, 5}, (int64_t[]){2, 2, 2, 3}, 2, false);
    conv_case c1 = {{1, 2}, {0, 1}, {1, 2}, {0, 0}, 2, 1};
    check_case(c1, 3, (int64_t[]){2, 4, 9}, (int64_t[]){4, 2, 3}, 4, true);
    conv_case c1same = {{1, 1}, {0, VOLT_PADDING_SAME}, {1, 1}, {0, 0}, 1, 1};
    check_case(c1same, 2, (int64_t[]){2, 6}, (int64_t[]){3, 2, 4}, 3, false);
    conv_case t = {{2, 2}, {1, 0}, {1, 1}, {1, 1}, 1, 2};
    check_case(t, 4, (int64_t[]){2, 2, 3, 3}, (int64_t[]){2, 3, 3, 2}, 3, false);
    conv_case tg = {{1, 2}, {0, 1}, {2, 1}, {1, 1}, 2, 2};
    check_case(tg, 4, (int64_t[]){1, 4, 3, 4}, (int64_t[]){4, 1, 2, 3}, 2, true);
    VT_ASSERT_NO_ERROR();
}

/* ---------------------------------------------- oneDNN vs reference */

typedef struct {
    double *y, *gx, *gw, *gb;
    int64_t ny, nx, nw, nb;
} run_out;

static double *values(const volt_tensor *t, int64_t *n) {
    *n = volt_tensor_numel(t);
    double *v = malloc((size_t)*n * sizeof *v);
    assert_int_equal(volt_tensor_copy_to_array(t, VOLT_F64, v), VOLT_OK);
    return v;
}

static run_out run_f32(const conv_case *c, int xnd, const int64_t *xs, const int64_t *ws,
                       int64_t nb) {
    volt_scope_begin();
    volt_generator gen = volt_generator_make(7, 0);
    volt_tensor *x = volt_requires_grad(volt_randn(xnd, xs, VOLT_F32, &gen), true);
    volt_tensor *w = volt_requires_grad(volt_randn(c->kind == 1 ? 3 : 4, ws, VOLT_F32, &gen), true);
    volt_tensor *b =
        nb ? volt_requires_grad(volt_randn(VOLT_SHAPE(nb), VOLT_F32, &gen), true) : NULL;
    volt_tensor *y = conv_fn((volt_tensor *[]){x, w, b}, (void *)c);
    assert_non_null(y);
    volt_tensor *gy = volt_randn(y->ndim, y->shape, VOLT_F32, &gen);
    assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);
    run_out r = {0};
    r.y = values(y, &r.ny);
    r.gx = values(x->grad, &r.nx);
    r.gw = values(w->grad, &r.nw);
    if (b) r.gb = values(b->grad, &r.nb);
    volt_scope_end();
    return r;
}

/* max |a - b| <= 1e-4 max |b|. */
static void assert_rel(const double *a, const double *b, int64_t n, const char *what) {
    double err = 0, scale = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        err = fmax(err, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    if (err > 1e-4 * scale) fail_msg("%s: max error %g against a scale of %g", what, err, scale);
}

static void compare_case(conv_case c, int xnd, const int64_t *xs, const int64_t *ws, int64_t nb) {
    run_out fast = run_f32(&c, xnd, xs, ws, nb);
    volt_set_fast_kernels(false);
    run_out ref = run_f32(&c, xnd, xs, ws, nb);
    volt_set_fast_kernels(true);
    assert_int_equal(fast.ny, ref.ny);
    assert_rel(fast.y, ref.y, ref.ny, "output");
    assert_rel(fast.gx, ref.gx, ref.nx, "input gradient");
    assert_rel(fast.gw, ref.gw, ref.nw, "weight gradient");
    if (nb) assert_rel(fast.gb, ref.gb, ref.nb, "bias gradient");
    double *ptrs[8] = {fast.y, fast.gx, fast.gw, fast.gb, ref.y, ref.gx, ref.gw, ref.gb};
    for (int i = 0; i < 8; i++) free(ptrs[i]);
}

/* What CUDA runs for padding 'same' with an even dilated kernel (cuDNN pads
 * both sides alike): padded by the end's amount on both sides, the first
 * output row / column dropped. The same values and gradients as the direct
 * op, in f64, with even kernels in one dim or both, dilation, groups, and an
 * unbatched input. */
static void test_same_widened(void **state) {
    (void)state;
    static const struct {
        int64_t n, c, o, h, w, kh, kw, dh, dw, groups;
    } cases[] = {
        {2, 3, 4, 5, 6, 2, 2, 1, 1, 1},
        {2, 4, 2, 7, 5, 4, 3, 1, 2, 2},
        {1, 2, 4, 6, 6, 3, 2, 2, 3, 2},
        {0, 3, 2, 5, 4, 2, 4, 3, 1, 1}, /* n 0: unbatched */
    };
    int64_t same[2] = {VOLT_PADDING_SAME, VOLT_PADDING_SAME};
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        volt_tensor *want[4] = {0}, *got[4] = {0};
        for (int run = 0; run < 2; run++) {
            int64_t dil[2] = {cases[k].dh, cases[k].dw};
            volt_tensor *x = cases[k].n
                                 ? PX(VOLT_F64, cases[k].n, cases[k].c, cases[k].h, cases[k].w)
                                 : PX(VOLT_F64, cases[k].c, cases[k].h, cases[k].w);
            volt_tensor *w =
                PW(VOLT_F64, cases[k].o, cases[k].c / cases[k].groups, cases[k].kh, cases[k].kw);
            volt_tensor *b = PB(VOLT_F64, cases[k].o);
            volt_tensor *y = run == 0 ? volt_conv2d(x, w, b, NULL, same, dil, cases[k].groups)
                                      : volt_conv2d_same_widened(x, w, b, dil, cases[k].groups);
            assert_non_null(y);
            assert_int_equal(y->shape[y->ndim - 2], cases[k].h);
            assert_int_equal(y->shape[y->ndim - 1], cases[k].w);
            backward_pattern(y);
            volt_tensor **out = run == 0 ? want : got;
            out[0] = y, out[1] = x->grad, out[2] = w->grad, out[3] = b->grad;
        }
        for (int i = 0; i < 4; i++) {
            assert_int_equal(volt_tensor_numel(got[i]), volt_tensor_numel(want[i]));
            volt_tensor *flat = volt_contiguous(want[i]);
            VT_ASSERT_CLOSE(volt_contiguous(got[i]), (const double *)volt_tensor_data(flat),
                            volt_tensor_numel(flat), 1e-12, 1e-12);
        }
    }
}

static void test_onednn_matches_reference(void **state) {
    (void)state;
    conv_case plain = {{1, 1}, {1, 1}, {1, 1}, {0, 0}, 1, 0};
    compare_case(plain, 4, (int64_t[]){4, 1, 28, 28}, (int64_t[]){32, 1, 3, 3}, 32);
    compare_case(plain, 4, (int64_t[]){3, 32, 14, 14}, (int64_t[]){64, 32, 3, 3}, 64);
    conv_case odd = {{2, 3}, {0, 2}, {2, 1}, {0, 0}, 1, 0};
    compare_case(odd, 4, (int64_t[]){3, 5, 13, 11}, (int64_t[]){7, 5, 3, 2}, 7);
    conv_case groups = {{1, 1}, {1, 1}, {1, 1}, {0, 0}, 4, 0};
    compare_case(groups, 4, (int64_t[]){2, 16, 9, 9}, (int64_t[]){8, 4, 3, 3}, 0);
    conv_case depthwise = {{2, 2}, {1, 1}, {1, 1}, {0, 0}, 16, 0};
    compare_case(depthwise, 4, (int64_t[]){2, 16, 10, 10}, (int64_t[]){16, 1, 3, 3}, 16);
    conv_case same = {{1, 1}, {VOLT_PADDING_SAME, VOLT_PADDING_SAME}, {1, 1}, {0, 0}, 1, 0};
    compare_case(same, 3, (int64_t[]){3, 7, 6}, (int64_t[]){5, 3, 4, 2}, 5);
    conv_case c1 = {{1, 2}, {0, 1}, {1, 3}, {0, 0}, 1, 1};
    compare_case(c1, 3, (int64_t[]){2, 6, 31}, (int64_t[]){8, 6, 5}, 8);
    conv_case t = {{2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, 2};
    compare_case(t, 4, (int64_t[]){2, 8, 7, 7}, (int64_t[]){8, 4, 3, 3}, 4);
    conv_case tg = {{2, 1}, {0, 1}, {1, 2}, {1, 0}, 2, 2};
    compare_case(tg, 4, (int64_t[]){2, 6, 5, 6}, (int64_t[]){6, 3, 2, 3}, 6);
    VT_ASSERT_NO_ERROR();
}

/* ---------------------------------------------------------------- caches */

static void test_primitive_cache_reused(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(volt_randn(VOLT_SHAPE(2, 8, 10, 10), VOLT_F32, NULL), true);
    volt_tensor *w = volt_requires_grad(volt_randn(VOLT_SHAPE(16, 8, 3, 3), VOLT_F32, NULL), true);
    volt_tensor *b = volt_requires_grad(volt_randn(VOLT_SHAPE(16), VOLT_F32, NULL), true);
    int64_t pad[2] = {1, 1};
    for (int step = 0; step < 2; step++) {
        int64_t before = volt_dnnl_primitives_created();
        volt_scope_begin();
        volt_tensor *y = volt_conv2d(x, w, b, NULL, pad, NULL, 1);
        assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
        volt_scope_end();
        int64_t made = volt_dnnl_primitives_created() - before;
        if (step == 0)
            assert_true(made >= 3); /* forward, backward data, backward weights */
        else
            assert_int_equal(made, 0);
        volt_tensor_clear_grad(x);
        volt_tensor_clear_grad(w);
        volt_tensor_clear_grad(b);
    }
    VT_ASSERT_NO_ERROR();
}

static void test_weight_cache_invalidation(void **state) {
    (void)state;
    volt_dnnl_weight_cache *cache = volt_dnnl_weight_cache_new();
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 32, 8, 8), VOLT_F32, NULL);
    volt_tensor *w = volt_randn(VOLT_SHAPE(64, 32, 3, 3), VOLT_F32, NULL);
    int64_t pad[2] = {1, 1};
    int64_t r0 = volt_dnnl_weight_reorders();
    volt_tensor *y1 = volt_conv2d_cached(x, w, NULL, NULL, pad, NULL, 1, cache);
    assert_int_equal(volt_dnnl_weight_reorders(), r0 + 1); /* blocked weights */
    int64_t p1 = volt_dnnl_primitives_created();
    volt_tensor *y2 = volt_conv2d_cached(x, w, NULL, NULL, pad, NULL, 1, cache);
    assert_int_equal(volt_dnnl_weight_reorders(), r0 + 1);
    assert_int_equal(volt_dnnl_primitives_created(), p1);
    assert_true(volt_tensor_item(volt_max_all(volt_abs(volt_sub(y1, y2)))) == 0.0);
    /* An in-place update (as an optimizer step makes) invalidates it. */
    assert_non_null(volt_mul_scalar_(w, -2.0));
    volt_tensor *y3 = volt_conv2d_cached(x, w, NULL, NULL, pad, NULL, 1, cache);
    assert_int_equal(volt_dnnl_weight_reorders(), r0 + 2);
    volt_tensor *diff = volt_sub(y3, volt_mul_scalar(y1, -2.0));
    double scale = volt_tensor_item(volt_max_all(volt_abs(y1)));
    assert_true(volt_tensor_item(volt_max_all(volt_abs(diff))) <= 1e-5 * scale);
    volt_dnnl_weight_cache_free(cache);
    VT_ASSERT_NO_ERROR();
}

/* volt_set_num_threads governs oneDNN on every thread: a conv run from a
 * new thread (whose OpenMP default differs) runs with volt's count, and a
 * new count gets its own primitives. */
static void *conv_on_thread(void *arg) {
    volt_scope_begin();
    volt_tensor *x = volt_randn(VOLT_SHAPE(2, 8, 10, 10), VOLT_F32, NULL);
    volt_tensor *w = volt_randn(VOLT_SHAPE(16, 8, 3, 3), VOLT_F32, NULL);
    *(int *)arg = volt_conv2d(x, w, NULL, NULL, NULL, NULL, 1) ? omp_get_max_threads() : -1;
    volt_scope_end();
    return NULL;
}

static void test_thread_count(void **state) {
    (void)state;
    int n = volt_get_num_threads(), seen = 0;
    assert_int_equal(volt_set_num_threads(n + 1), VOLT_OK);
    int64_t before = volt_dnnl_primitives_created();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, conv_on_thread, &seen), 0);
    pthread_join(t, NULL);
    assert_int_equal(seen, n + 1);
    assert_true(volt_dnnl_primitives_created() > before);
    assert_int_equal(volt_set_num_threads(n), VOLT_OK);
    VT_ASSERT_NO_ERROR();
}

/* Every allocation of a conv step (tensors, oneDNN scratch and reorders)
 * failing in turn gives an out-of-memory error, never a crash or a leak. */
static void test_out_of_memory(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(volt_randn(VOLT_SHAPE(2, 32, 6, 6), VOLT_F32, NULL), true);
    volt_tensor *w = volt_requires_grad(volt_randn(VOLT_SHAPE(16, 32, 3, 3), VOLT_F32, NULL), true);
    int failures = 0;
    for (int n = 1; n < 60; n++) {
        volt_scope_begin();
        volt_cpu_alloc_fail_after(n);
        volt_tensor *y = volt_conv2d(x, w, NULL, NULL, (int64_t[]){1, 1}, NULL, 1);
        volt_status st = y ? volt_backward(volt_sum_all(y)) : volt_error_status();
        volt_cpu_alloc_fail_after(0);
        if (st != VOLT_OK) {
            assert_int_equal(volt_error_status(), VOLT_ERR_OUT_OF_MEMORY);
            volt_error_clear();
            failures++;
        }
        volt_scope_end();
        volt_tensor_clear_grad(x);
        volt_tensor_clear_grad(w);
    }
    assert_true(failures > 5);
    assert_false(volt_dnnl_check(dnnl_invalid_arguments, "dnnl_x(a, b)", "f.c", 7));
    VT_ASSERT_ERROR(VOLT_ERR_INTERNAL, "dnnl: dnnl_x(a, b) failed: dnnl_invalid_arguments (f.c:7)");
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state) {
    (void)state;
    volt_tensor *x = volt_randn(VOLT_SHAPE(1, 3, 5, 5), VOLT_F32, NULL);
    volt_tensor *w = volt_randn(VOLT_SHAPE(4, 3, 3, 3), VOLT_F32, NULL);
    assert_null(volt_conv2d(NULL, w, NULL, NULL, NULL, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "conv2d: argument 'x' is NULL");
    assert_null(
        volt_conv2d(volt_randn(VOLT_SHAPE(3, 5), VOLT_F32, NULL), w, NULL, NULL, NULL, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "expected a 3-D or 4-D input");
    assert_null(volt_conv2d(x, volt_randn(VOLT_SHAPE(4, 2, 3, 3), VOLT_F32, NULL), NULL, NULL, NULL,
                            NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "input [1,3,5,5] has 3 channels but weight [4,2,3,3] expects 2");
    assert_null(volt_conv2d(volt_randn(VOLT_SHAPE(1, 4, 5, 5), VOLT_F32, NULL),
                            volt_randn(VOLT_SHAPE(6, 1, 3, 3), VOLT_F32, NULL), NULL, NULL, NULL,
                            NULL, 4));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "groups 4 must divide the input channels (4) and the output "
                                    "channels (6)");
    assert_null(volt_conv2d(x, w, NULL, (int64_t[]){0, 1}, NULL, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "stride 0 is invalid");
    assert_null(volt_conv2d(x, w, NULL, NULL, (int64_t[]){-2, 0}, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "padding -2 is invalid");
    assert_null(volt_conv2d(x, w, NULL, NULL, NULL, NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "groups 0");
    assert_null(volt_conv2d(volt_randn(VOLT_SHAPE(1, 3, 2, 2), VOLT_F32, NULL), w, NULL, NULL, NULL,
                            NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "kernel 3 (dilated: 3) larger than the padded input (2)");
    assert_null(volt_conv2d(x, w, NULL, (int64_t[]){2, 2},
                            (int64_t[]){VOLT_PADDING_SAME, VOLT_PADDING_SAME}, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "padding 'same' needs stride 1");
    assert_null(volt_conv2d(x, w, volt_randn(VOLT_SHAPE(3), VOLT_F32, NULL), NULL, NULL, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "bias [3] should be [4]");
    assert_null(
        volt_conv2d(volt_zeros(VOLT_SHAPE(1, 3, 5, 5), VOLT_I64), w, NULL, NULL, NULL, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "(f32 and f64 are)");
    assert_null(volt_conv2d(x, volt_to_dtype(w, VOLT_F64), NULL, NULL, NULL, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "must share a dtype");
    assert_null(volt_conv1d(x, w, NULL, 1, 0, 1, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "conv1d: input [1,3,5,5], weight [4,3,3,3]");
    assert_null(volt_conv_transpose2d(x, volt_randn(VOLT_SHAPE(3, 2, 3, 3), VOLT_F32, NULL), NULL,
                                      (int64_t[]){2, 2}, NULL, (int64_t[]){2, 0}, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "output_padding 2 must be smaller than the stride (2) or the dilation (1)");
    assert_null(volt_conv_transpose2d(x, w, NULL, NULL, NULL, NULL, NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "weight [4,3,3,3] expects 4");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_conv2d_torch_values),
        VT_TEST(test_conv1d_transpose_torch_values),
        VT_TEST(test_shapes),
        VT_TEST(test_gradcheck),
        VT_TEST(test_same_widened),
        VT_TEST(test_onednn_matches_reference),
        VT_TEST(test_primitive_cache_reused),
        VT_TEST(test_weight_cache_invalidation),
        VT_TEST(test_thread_count),
        VT_TEST(test_out_of_memory),
        VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
