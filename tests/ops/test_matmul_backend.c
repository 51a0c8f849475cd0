/* test_matmul_backend.c: the two f32 matmul backends (OpenBLAS and oneDNN's
 * matmul primitive) against each other and against a naive f64 product: the
 * MLP's layouts (x @ W^T, g @ W, g^T @ x) at odd sizes around the k >= 32
 * switch, strided operands (a leading dimension wider than the matrix),
 * addmm's alpha and beta (oneDNN output scale and sum post-op), the
 * product with a bias row (oneDNN's bias argument), a stacked
 * batch, the primitive created once per shape and reused, the forced
 * OpenBLAS backend creating none, a recorded error left as it was, a
 * linear layer's forward and gradients equal under both backends, and
 * products split by volt into a larger part for the calling thread (the
 * threads sleeping between regions) equal to the naive product, and a
 * linear layer's two gradient products run as one pair in one region,
 * equal bit for bit to those on one thread. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/matmul.h"
#include "ops/cpu/parallel.h"

static volt_tensor *randn(int ndim, const int64_t *shape, uint64_t seed) {
    volt_generator g = volt_generator_make(seed, 0);
    return volt_randn(ndim, shape, VOLT_F32, &g);
}

/* A view with the two dims swapped (no copy). */
static volt_tensor *tview(const volt_tensor *t) {
    int64_t shape[2] = {t->shape[1], t->shape[0]}, strides[2] = {t->strides[1], t->strides[0]};
    return volt_tensor_alias(t, 2, shape, strides, t->offset);
}

/* out[i] vs the f64 product of a and b (2-D, any strides). */
static void check_naive(const volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                        double alpha, const volt_tensor *bias, double beta) {
    int64_t n = a->shape[0], k = a->shape[1], m = b->shape[1];
    static double want[1 << 16];
    assert_true(n * m <= (int64_t)(sizeof want / sizeof want[0]));
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < m; c++) {
            double s = 0, mag = 0;
            for (int64_t q = 0; q < k; q++) {
                double x =
                    volt_tensor_get(a, (int64_t[]){r, q}) * volt_tensor_get(b, (int64_t[]){q, c});
                s += x;
                mag += fabs(x);
            }
            s *= alpha;
            if (bias) s += beta * volt_tensor_get_flat(bias, c);
            want[r * m + c] = s;
            double got = volt_tensor_get_flat(out, r * m + c);
            /* float products: error bounded by k ulps of the magnitude */
            double tol = 1e-6 * (double)k * (fabs(alpha) * mag + 1) + 1e-6;
            if (!(fabs(got - s) <= tol))
                fail_msg("[%lld,%lld] of %lldx%lldx%lld: got %.9g, want %.9g", (long long)r,
                         (long long)c, (long long)n, (long long)m, (long long)k, got, s);
        }
}

/* a @ b (or addmm) under one backend. */
static volt_tensor *product(volt_gemm_backend backend, const volt_tensor *a, const volt_tensor *b,
                            const volt_tensor *bias, double beta, double alpha) {
    volt_cpu_matmul_set_backend(backend);
    volt_tensor *c = bias ? volt_addmm(bias, a, b, beta, alpha) : volt_matmul(a, b);
    volt_cpu_matmul_set_backend(VOLT_GEMM_AUTO);
    return c;
}

/* Both backends on a @ b: each matches the naive product, and they agree. */
static void check_both(const volt_tensor *a, const volt_tensor *b, const volt_tensor *bias,
                       double beta, double alpha) {
    volt_tensor *x = product(VOLT_GEMM_OPENBLAS, a, b, bias, beta, alpha);
    volt_tensor *y = product(VOLT_GEMM_ONEDNN, a, b, bias, beta, alpha);
    assert_non_null(x);
    assert_non_null(y);
    check_naive(x, a, b, alpha, bias, beta);
    check_naive(y, a, b, alpha, bias, beta);
}

/* The layouts of a linear layer's three products, at sizes around k = 32
 * and with rows/columns that fill no vector. */
static void test_layouts_and_sizes(void **state) {
    (void)state;
    const int64_t dims[][3] = {{1, 1, 1},    {3, 5, 31},    {3, 5, 32},   {7, 9, 33},
                               {17, 10, 64}, {33, 65, 127}, {64, 3, 200}, {128, 10, 256}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        int64_t n = dims[i][0], m = dims[i][1], k = dims[i][2];
        volt_scope_begin();
        volt_tensor *x = randn(VOLT_SHAPE(n, k), 10 + i);
        volt_tensor *w = randn(VOLT_SHAPE(m, k), 20 + i);
        volt_tensor *wk = randn(VOLT_SHAPE(k, m), 30 + i);
        volt_tensor *xt = randn(VOLT_SHAPE(k, n), 40 + i);
        check_both(x, tview(w), NULL, 0, 1);         /* forward: x @ W^T */
        check_both(x, wk, NULL, 0, 1);               /* input grad: g @ W */
        check_both(tview(xt), wk, NULL, 0, 1);       /* weight grad: g^T @ x */
        check_both(tview(xt), tview(w), NULL, 0, 1); /* both transposed */
        volt_scope_end();
    }
    VT_ASSERT_NO_ERROR();
}

/* Operands inside wider storage (leading dimension > the matrix's width),
 * row- and column-major. */
static void test_strided_operands(void **state) {
    (void)state;
    volt_tensor *wide_a = randn(VOLT_SHAPE(24, 100), 1);
    volt_tensor *a = volt_tensor_alias(wide_a, 2, (int64_t[]){24, 40}, (int64_t[]){100, 1}, 3);
    volt_tensor *wide_b = randn(VOLT_SHAPE(13, 90), 2);
    volt_tensor *bt = volt_tensor_alias(wide_b, 2, (int64_t[]){40, 13}, (int64_t[]){1, 90}, 5);
    assert_false(volt_tensor_is_contiguous(a));
    assert_false(volt_tensor_is_contiguous(bt));
    check_both(a, bt, NULL, 0, 1);
    volt_tensor *wide_c = randn(VOLT_SHAPE(40, 50), 3);
    volt_tensor *b = volt_tensor_alias(wide_c, 2, (int64_t[]){40, 17}, (int64_t[]){50, 1}, 7);
    check_both(a, b, NULL, 0, 1);
    VT_ASSERT_NO_ERROR();
}

/* addmm: bias broadcast over rows or columns, alpha and beta not 1. */
static void test_alpha_beta(void **state) {
    (void)state;
    volt_tensor *a = randn(VOLT_SHAPE(9, 48), 4);
    volt_tensor *b = randn(VOLT_SHAPE(48, 11), 5);
    volt_tensor *row = randn(VOLT_SHAPE(11), 6);
    check_both(a, b, row, 1, 1);
    check_both(a, b, row, 2, 0.5);
    check_both(a, b, row, 0, -3);
    check_both(a, b, row, -1, 1);
    /* A [9, 1] bias (one value per row) through the same check, transposed. */
    volt_tensor *col = randn(VOLT_SHAPE(9, 1), 7);
    volt_tensor *x = product(VOLT_GEMM_ONEDNN, a, b, col, 2, 0.5);
    volt_tensor *y = product(VOLT_GEMM_OPENBLAS, a, b, col, 2, 0.5);
    VT_ASSERT_CLOSE(x, volt_tensor_data(volt_to_dtype(y, VOLT_F64)), 99, 1e-5, 1e-5);
    VT_ASSERT_NO_ERROR();
}

/* volt_cpu_matmul_bias (bias as oneDNN's argument, or rows filled for BLAS)
 * against addmm with the same bias, for both backends, a transposed weight
 * and k on both sides of the switch. */
static void test_matmul_bias(void **state) {
    (void)state;
    const int64_t dims[][3] = {{1, 1, 1}, {5, 9, 20}, {33, 17, 70}, {128, 10, 256}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        int64_t n = dims[i][0], m = dims[i][1], k = dims[i][2];
        volt_tensor *x = randn(VOLT_SHAPE(n, k), 50 + i);
        volt_tensor *wt = tview(randn(VOLT_SHAPE(m, k), 60 + i));
        volt_tensor *bias = randn(VOLT_SHAPE(m), 70 + i);
        for (int b = 0; b < 2; b++) {
            volt_gemm_backend be = b ? VOLT_GEMM_ONEDNN : VOLT_GEMM_OPENBLAS;
            for (int s = 0; s < 2; s++) {
                double alpha = s ? -0.5 : 1.0;
                volt_tensor *out = volt_empty(VOLT_SHAPE(n, m), VOLT_F32);
                volt_cpu_matmul_set_backend(be);
                volt_cpu_matmul_bias(out, x, wt, bias, alpha);
                volt_cpu_matmul_set_backend(VOLT_GEMM_AUTO);
                check_naive(out, x, wt, alpha, bias, 1);
            }
        }
    }
    /* k == 0: the bias alone in every row. */
    volt_tensor *out = volt_empty(VOLT_SHAPE(2, 3), VOLT_F32);
    volt_tensor *bias =
        volt_to_dtype(volt_from_array((double[]){1, 2, 3}, VOLT_F64, VOLT_SHAPE(3)), VOLT_F32);
    volt_cpu_matmul_bias(out, volt_empty(VOLT_SHAPE(2, 0), VOLT_F32),
                         volt_empty(VOLT_SHAPE(0, 3), VOLT_F32), bias, 1);
    VT_ASSERT_CLOSE(out, ((double[]){1, 2, 3, 1, 2, 3}), 6, 0, 0);
    VT_ASSERT_NO_ERROR();
}

/* A batch of rows stacked into one product ([2, 8, 40] @ [40, 6]). */
static void test_stacked_batch(void **state) {
    (void)state;
    volt_tensor *x = randn(VOLT_SHAPE(2, 8, 40), 8);
    volt_tensor *w = randn(VOLT_SHAPE(40, 6), 9);
    volt_tensor *p = product(VOLT_GEMM_ONEDNN, x, w, NULL, 0, 1);
    volt_tensor *q = product(VOLT_GEMM_OPENBLAS, x, w, NULL, 0, 1);
    VT_ASSERT_SHAPE(p, 2, 8, 6);
    VT_ASSERT_CLOSE(p, volt_tensor_data(volt_to_dtype(q, VOLT_F64)), 96, 1e-5, 1e-5);
    VT_ASSERT_NO_ERROR();
}

/* One primitive per shape and layout, reused; none under OpenBLAS, none
 * for k < 32 under the default choice. */
static void test_primitive_cache(void **state) {
    (void)state;
    volt_tensor *a = randn(VOLT_SHAPE(37, 41), 11), *b = randn(VOLT_SHAPE(41, 43), 12);
    volt_tensor_free(product(VOLT_GEMM_AUTO, a, b, NULL, 0, 1));
    int64_t made = volt_dnnl_primitives_created();
    for (int i = 0; i < 3; i++) volt_tensor_free(product(VOLT_GEMM_AUTO, a, b, NULL, 0, 1));
    assert_int_equal(volt_dnnl_primitives_created(), made);
    volt_tensor_free(product(VOLT_GEMM_AUTO, a, tview(tview(b)), NULL, 0, 1));
    assert_int_equal(volt_dnnl_primitives_created(), made);
    volt_tensor *bt = tview(randn(VOLT_SHAPE(43, 41), 13)); /* another layout */
    volt_tensor_free(product(VOLT_GEMM_AUTO, a, bt, NULL, 0, 1));
    assert_int_equal(volt_dnnl_primitives_created(), made + 1);
    volt_tensor *c = randn(VOLT_SHAPE(50, 40), 14), *d = randn(VOLT_SHAPE(40, 30), 15);
    volt_tensor_free(product(VOLT_GEMM_OPENBLAS, c, d, NULL, 0, 1));
    volt_tensor *e = randn(VOLT_SHAPE(50, 20), 16), *f = randn(VOLT_SHAPE(20, 30), 17);
    volt_tensor_free(product(VOLT_GEMM_AUTO, e, f, NULL, 0, 1)); /* k = 20 */
    assert_int_equal(volt_dnnl_primitives_created(), made + 1);
    VT_ASSERT_NO_ERROR();
}

/* An error recorded before the product stays the one reported, and the
 * product is still computed. */
static void test_earlier_error_kept(void **state) {
    (void)state;
    volt_tensor *a = randn(VOLT_SHAPE(5, 64), 18), *b = randn(VOLT_SHAPE(64, 7), 19);
    volt_error_set(VOLT_ERR_IO, "an earlier failure");
    volt_tensor *c = product(VOLT_GEMM_ONEDNN, a, b, NULL, 0, 1);
    assert_non_null(c);
    check_naive(c, a, b, 1, NULL, 0);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "an earlier failure");
}

/* The linear layer of an MLP: forward, input and weight gradients equal
 * (to float rounding) under both backends. */
static void test_linear_gradients(void **state) {
    (void)state;
    volt_tensor *xs[2], *ws[2], *bs[2], *ys[2];
    for (int t = 0; t < 2; t++) {
        volt_cpu_matmul_set_backend(t ? VOLT_GEMM_ONEDNN : VOLT_GEMM_OPENBLAS);
        xs[t] = volt_requires_grad(randn(VOLT_SHAPE(19, 70), 21), true);
        ws[t] = volt_requires_grad(randn(VOLT_SHAPE(33, 70), 22), true);
        bs[t] = volt_requires_grad(randn(VOLT_SHAPE(33), 23), true);
        ys[t] = volt_addmm(bs[t], xs[t], volt_transpose(ws[t], 0, 1), 1, 1);
        volt_tensor *g = randn(VOLT_SHAPE(19, 33), 24);
        assert_int_equal(volt_backward(volt_sum_all(volt_mul(ys[t], g))), VOLT_OK);
    }
    volt_cpu_matmul_set_backend(VOLT_GEMM_AUTO);
    const volt_tensor *pairs[4][2] = {{ys[0], ys[1]},
                                      {xs[0]->grad, xs[1]->grad},
                                      {ws[0]->grad, ws[1]->grad},
                                      {bs[0]->grad, bs[1]->grad}};
    for (int i = 0; i < 4; i++) {
        assert_non_null(pairs[i][0]);
        int64_t n = volt_tensor_numel(pairs[i][0]);
        volt_tensor *ref = volt_to_dtype(volt_contiguous(pairs[i][0]), VOLT_F64);
        VT_ASSERT_CLOSE(pairs[i][1], volt_tensor_data(ref), n, 1e-4, 1e-4);
    }
    VT_ASSERT_NO_ERROR();
}

/* With threads that sleep between regions (a 50 us region cost), a product
 * worth several threads runs as one oneDNN primitive per thread on parts
 * of its output, the calling thread's larger: columns (in 16s, the last
 * part ragged) where there are enough, else rows; each layout, a bias row,
 * alpha and beta give the naive product, on 2 and 3 threads. The parts'
 * primitives are made on the first call of a shape and reused. */
static void test_split_product(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    volt_cpu_set_region_ns(50e3);
    /* columns, rows; each worth three threads */
    const int64_t dims[][3] = {{128, 500, 200}, {300, 20, 1400}};
    for (int threads = 2; threads <= 3; threads++) {
        volt_set_num_threads(threads);
        for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
            int64_t n = dims[i][0], m = dims[i][1], k = dims[i][2];
            volt_scope_begin();
            volt_tensor *x = randn(VOLT_SHAPE(n, k), 80 + i), *w = randn(VOLT_SHAPE(m, k), 81 + i);
            volt_tensor *wk = randn(VOLT_SHAPE(k, m), 82 + i),
                        *xt = randn(VOLT_SHAPE(k, n), 83 + i);
            int64_t made = volt_dnnl_primitives_created();
            volt_tensor *y = product(VOLT_GEMM_ONEDNN, x, tview(w), NULL, 0, 1);
            /* one primitive per thread, the first time only */
            assert_int_equal(volt_dnnl_primitives_created(), made + threads);
            check_naive(y, x, tview(w), 1, NULL, 0);
            volt_tensor_free(product(VOLT_GEMM_ONEDNN, x, tview(w), NULL, 0, 1));
            assert_int_equal(volt_dnnl_primitives_created(), made + threads);
            check_both(x, wk, NULL, 0, 1);
            check_both(tview(xt), wk, NULL, 0, 1);
            check_both(tview(xt), tview(w), NULL, 0, 1);
            volt_tensor *bias = randn(VOLT_SHAPE(m), 84 + i);
            check_both(x, wk, bias, 2, 0.5);
            volt_tensor *out = volt_empty(VOLT_SHAPE(n, m), VOLT_F32);
            volt_cpu_matmul_bias(out, x, tview(w), bias, 1);
            check_naive(out, x, tview(w), 1, bias, 1);
            volt_scope_end();
        }
    }
    volt_cpu_set_region_ns(-1);
    volt_set_num_threads(saved);
    VT_ASSERT_NO_ERROR();
}

/* Asserts contiguous f32 tensors a and b hold the same bits. */
static void assert_same_bits(const volt_tensor *a, const volt_tensor *b, const char *what) {
    int64_t n = volt_tensor_numel(a);
    assert_int_equal(n, volt_tensor_numel(b));
    const float *x = volt_tensor_data(a), *y = volt_tensor_data(b);
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&x[i], &y[i], sizeof x[i]) != 0)
            fail_msg("%s: element %lld: %.9g vs %.9g", what, (long long)i, x[i], y[i]);
}

static volt_tensor *one_thread_product(const volt_tensor *a, const volt_tensor *b) {
    int saved = volt_get_num_threads();
    volt_set_num_threads(1);
    volt_tensor *out = volt_empty(VOLT_SHAPE(a->shape[0], b->shape[1]), VOLT_F32);
    volt_cpu_matmul(out, a, b, 1, 0);
    volt_set_num_threads(saved);
    return out;
}

/* t * s, s a power of two (exact). */
static volt_tensor *scaled(volt_tensor *t, float s) {
    float *p = volt_tensor_data(t);
    for (int64_t i = 0; i < volt_tensor_numel(t); i++) p[i] *= s;
    return t;
}

/* The input and weight gradients of addmm(b, x, w^T) with alpha 0.5 on
 * `threads` threads, checked against 0.5 g @ w and 0.5 g^T @ x computed on
 * one thread (the scaling is exact). */
static void check_linear_grads(int threads) {
    int saved = volt_get_num_threads();
    volt_set_num_threads(threads);
    volt_tensor *x = volt_requires_grad(randn(VOLT_SHAPE(128, 512), 95), true);
    volt_tensor *w = volt_requires_grad(randn(VOLT_SHAPE(256, 512), 96), true);
    volt_tensor *b = volt_requires_grad(randn(VOLT_SHAPE(256), 97), true);
    volt_tensor *y = volt_addmm(b, x, volt_transpose(w, 0, 1), 1, 0.5);
    volt_tensor *g = randn(VOLT_SHAPE(128, 256), 98);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(y, g))), VOLT_OK);
    volt_tensor *gx = volt_contiguous(x->grad), *gw = volt_contiguous(w->grad);
    volt_set_num_threads(saved);
    assert_same_bits(gx, scaled(one_thread_product(g, w), 0.5f), "linear: input gradient");
    assert_same_bits(gw, scaled(one_thread_product(tview(g), x), 0.5f), "linear: weight gradient");
}

/* Linear's backward on the CPU: the input gradient g @ W and the weight's
 * g^T @ x as one pair (volt_cpu_matmul_pair). With threads that sleep
 * between regions both split, each into one primitive per thread made on
 * the first call only, and run in one region (the MLP's and the CNN's
 * layer shapes, and odd ones); each equals the naive
 * product and, bit for bit, the two products computed one after the other
 * on one thread. Through autograd, a linear layer's input and weight
 * gradients on 2 and 3 threads equal those on one thread bit for bit. */
static void test_paired_products(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    volt_cpu_set_region_ns(50e3);
    for (int threads = 2; threads <= 3; threads++) {
        volt_set_num_threads(threads);
        volt_scope_begin();
        /* the benchmark MLP's second layer, odd sizes (also checked
         * against the naive product), and the benchmark CNN's 3136 -> 128
         * layer (each product alone barely worth a split of volt's: the
         * pair's larger share is under MIN_LEAD_GAIN, it still pairs) */
        const int64_t dims[][3] = {{128, 256, 512}, {77, 150, 420}, {128, 128, 3136}};
        for (int i = 0; i < 3; i++) {
            int64_t n = dims[i][0], m = dims[i][1], k = dims[i][2];
            volt_tensor *g = randn(VOLT_SHAPE(n, m), 90 + i), *w = randn(VOLT_SHAPE(m, k), 92 + i);
            volt_tensor *x = randn(VOLT_SHAPE(n, k), 94 + i);
            volt_tensor *dx = volt_empty(VOLT_SHAPE(n, k), VOLT_F32);
            volt_tensor *dw = volt_empty(VOLT_SHAPE(m, k), VOLT_F32);
            int64_t made = volt_dnnl_primitives_created(), regions = volt_dnnl_part_regions();
            volt_cpu_matmul_pair(dx, g, w, dw, tview(g), x, 1);
            assert_int_equal(volt_dnnl_primitives_created(), made + 2 * threads);
            assert_int_equal(volt_dnnl_part_regions(), regions + 1); /* one region for both */
            volt_cpu_matmul_pair(dx, g, w, dw, tview(g), x, 1);
            assert_int_equal(volt_dnnl_primitives_created(), made + 2 * threads);
            if (i == 1) { /* check_naive's size limit */
                check_naive(dx, g, w, 1, NULL, 0);
                check_naive(dw, tview(g), x, 1, NULL, 0);
            }
            assert_same_bits(dx, one_thread_product(g, w), "input gradient");
            assert_same_bits(dw, one_thread_product(tview(g), x), "weight gradient");
        }
        check_linear_grads(1);
        check_linear_grads(threads);
        volt_scope_end();
    }
    volt_cpu_set_region_ns(-1);
    volt_set_num_threads(saved);
    VT_ASSERT_NO_ERROR();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_layouts_and_sizes),  VT_TEST(test_strided_operands),
        VT_TEST(test_alpha_beta),         VT_TEST(test_matmul_bias),
        VT_TEST(test_stacked_batch),      VT_TEST(test_primitive_cache),
        VT_TEST(test_earlier_error_kept), VT_TEST(test_linear_gradients),
        VT_TEST(test_split_product),      VT_TEST(test_paired_products),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
