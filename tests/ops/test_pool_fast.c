/* test_pool_fast.c: the direct 2x2 stride-2 max-pooling kernels
 * (ops/cpu/pool_fast.c) — AVX-512 and portable — held to the reference
 * kernels (ops/cpu/pool_ref.c, which the f64 gradchecks of test_pool.c
 * cover) bit for bit, forward and backward, on odd sizes, row tails that are
 * not a multiple of 16, ceil mode, 3-D and non-contiguous inputs, ties and
 * NaN; plus hand-computed windows and the geometries the kernels take. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/pool_fast.h"

/* Value i of a pattern: 0 random normal, 1 few distinct values (ties, many
 * zeros as after a ReLU), 2 ties with NaN and infinities mixed in. */
static float pattern_value(int kind, int64_t i, float normal) {
    static const float few[6] = {0.0f, 0.0f, 0.0f, 1.0f, -1.0f, 2.0f};
    uint64_t h = (uint64_t)i * 2654435761u % 1000003u;
    if (kind == 0) return normal;
    if (kind == 2 && h % 7 == 0) return NAN;
    if (kind == 2 && h % 11 == 0) return h % 2 ? INFINITY : -INFINITY;
    return few[h % 6];
}

static volt_tensor *make_input(int kind, int ndim, const int64_t *shape) {
    volt_generator gen = volt_generator_make(3, 0);
    volt_tensor *x = volt_randn(ndim, shape, VOLT_F32, &gen);
    float *p = volt_tensor_data(x);
    for (int64_t i = 0; i < volt_tensor_numel(x); i++) p[i] = pattern_value(kind, i, p[i]);
    return x;
}

/* NaN matches NaN; otherwise exact (the kernels only select and route). */
static void assert_same(const volt_tensor *a, const volt_tensor *b, const char *what) {
    assert_int_equal(volt_tensor_numel(a), volt_tensor_numel(b));
    const float *p = volt_tensor_data(a), *q = volt_tensor_data(b);
    for (int64_t i = 0; i < volt_tensor_numel(a); i++)
        if (!(p[i] == q[i] || (isnan(p[i]) && isnan(q[i]))))
            fail_msg("%s: element %lld: %g vs %g", what, (long long)i, (double)p[i], (double)q[i]);
}

typedef enum { PATH_REFERENCE, PATH_PORTABLE, PATH_SIMD } path;

/* y = max_pool2d(x, 2, ceil_mode) and x's gradient for upstream gradient
 * 1 + (i % 5) / 4 (transposed: the pooled view is x's last two dims
 * swapped); both copied out to the caller's scope. */
static void run(path p, const volt_tensor *x_data, bool transposed, bool ceil_mode,
                volt_tensor **y_out, volt_tensor **gx_out) {
    bool fast = volt_fast_kernels_enabled();
    bool simd = volt_cpu_pool_fast_set_simd(p == PATH_SIMD);
    volt_set_fast_kernels(p != PATH_REFERENCE);
    volt_tensor *x = volt_requires_grad(volt_clone(x_data), true);
    volt_scope_begin();
    int nd = x->ndim;
    const volt_tensor *in = transposed ? volt_transpose(x, nd - 2, nd - 1) : x;
    volt_tensor *y = volt_max_pool2d(in, (int64_t[]){2, 2}, NULL, NULL, NULL, ceil_mode, NULL);
    assert_non_null(y);
    volt_tensor *gy = volt_empty(y->ndim, y->shape, VOLT_F32);
    float *g = volt_tensor_data(gy);
    for (int64_t i = 0; i < volt_tensor_numel(gy); i++) g[i] = 1.0f + (float)(i % 5) * 0.25f;
    assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);
    volt_tensor *y_copy = volt_persist(volt_clone(y));
    volt_scope_end();
    *y_out = y_copy;
    *gx_out = volt_persist(volt_clone(x->grad));
    volt_tensor_free(x);
    volt_set_fast_kernels(fast);
    volt_cpu_pool_fast_set_simd(simd);
}

static void check(int kind, int ndim, const int64_t *shape, bool transposed, bool ceil_mode) {
    volt_scope_begin();
    volt_tensor *x = make_input(kind, ndim, shape);
    volt_tensor *y[3], *gx[3];
    for (int p = 0; p < 3; p++) run((path)p, x, transposed, ceil_mode, &y[p], &gx[p]);
    for (int p = 1; p < 3; p++) {
        assert_same(y[p], y[0], p == PATH_SIMD ? "forward, AVX-512" : "forward, portable");
        assert_same(gx[p], gx[0], p == PATH_SIMD ? "backward, AVX-512" : "backward, portable");
    }
    for (int p = 0; p < 3; p++) {
        volt_tensor_free(y[p]);
        volt_tensor_free(gx[p]);
    }
    volt_scope_end();
}

static void test_matches_reference(void **state) {
    (void)state;
    static const int64_t shapes[][4] = {
        {2, 3, 5, 7},                  /* odd H and W: floor mode drops the last row and column */
        {1, 2, 28, 28},                /* the CNN's first pooling (14 outputs a row) */
        {3, 1, 14, 14},                /* the second (7 a row) */
        {1, 1, 2, 2},   {2, 2, 9, 33}, /* 16 outputs a row, and one input column left */
        {1, 1, 4, 66},                 /* 33 outputs: two full vectors and a tail of one */
        {1, 1, 3, 3},   {2, 1, 6, 34}, {4, 8, 64, 66}, /* large enough for the threads */
    };
    for (int kind = 0; kind < 3; kind++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            check(kind, 4, shapes[s], false, false);
            check(kind, 4, shapes[s], true, false); /* non-contiguous */
        }
    check(2, 3, (int64_t[]){3, 6, 10}, false, false);  /* unbatched */
    check(1, 4, (int64_t[]){2, 2, 6, 8}, false, true); /* ceil mode, even: the same windows */
    check(1, 4, (int64_t[]){2, 2, 5, 7}, false, true); /* ceil mode, odd: partial windows */
    check(1, 3, (int64_t[]){2, 7, 5}, true, true);
    VT_ASSERT_NO_ERROR();
}

/* Windows worked by hand: the first maximum wins ties, the last NaN wins,
 * an all -inf window routes to its first element. */
static void test_windows_by_hand(void **state) {
    (void)state;
    for (int simd = 0; simd < 2; simd++) {
        bool was = volt_cpu_pool_fast_set_simd(simd == 1);
        /* One 2x8 plane = four windows: [1 3 / 3 2], [NaN 1 / NaN 5],
         * [-inf -inf / -inf -inf], [0 0 / 0 0]. */
        const float v[16] = {1, 3, NAN, 1, -INFINITY, -INFINITY, 0, 0,
                             3, 2, NAN, 5, -INFINITY, -INFINITY, 0, 0};
        volt_tensor *x =
            volt_requires_grad(volt_from_array(v, VOLT_F32, VOLT_SHAPE(1, 1, 2, 8)), true);
        volt_tensor *y = volt_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
        assert_non_null(y);
        const float *yp = volt_tensor_data(y);
        assert_true(yp[0] == 3.0f && isnan(yp[1]) && isinf(yp[2]) && yp[2] < 0 && yp[3] == 0.0f);
        const float g[4] = {10, 20, 30, 40};
        volt_tensor *gy = volt_from_array(g, VOLT_F32, 4, (int64_t[]){1, 1, 1, 4});
        assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);
        VT_ASSERT_CLOSE(x->grad,
                        ((const double[]){0, 10, 0, 0, 30, 0, 40, 0, 0, 0, 20, 0, 0, 0, 0, 0}), 16,
                        0, 0);
        volt_cpu_pool_fast_set_simd(was);
    }
    VT_ASSERT_NO_ERROR();
}

/* The geometries the direct kernels take, and the ones left to oneDNN. */
static void test_applies(void **state) {
    (void)state;
    volt_pool_geom g = {.n = 1,
                        .c = 1,
                        .h = 5,
                        .w = 7,
                        .oh = 2,
                        .ow = 3,
                        .kh = 2,
                        .kw = 2,
                        .sh = 2,
                        .sw = 2,
                        .dh = 1,
                        .dw = 1};
    assert_true(volt_cpu_max_pool2x2_applies(&g));
    volt_pool_geom ceil_odd = g;
    ceil_odd.oh = 3; /* ceil mode on an odd height: a partial window */
    assert_false(volt_cpu_max_pool2x2_applies(&ceil_odd));
    volt_pool_geom padded = g;
    padded.ph = 1;
    assert_false(volt_cpu_max_pool2x2_applies(&padded));
    volt_pool_geom k3 = g;
    k3.kh = k3.kw = 3;
    assert_false(volt_cpu_max_pool2x2_applies(&k3));
    volt_pool_geom dilated = g;
    dilated.dw = 2;
    assert_false(volt_cpu_max_pool2x2_applies(&dilated));
    volt_pool_geom stride1 = g;
    stride1.sh = 1;
    assert_false(volt_cpu_max_pool2x2_applies(&stride1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_matches_reference),
        VT_TEST(test_windows_by_hand),
        VT_TEST(test_applies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
