/* test_cuda_matmul.c (needs a GPU; skipped without one): matmul, bmm, addmm
 * and outer on CUDA (cuBLASLt) against the CPU on the same inputs — every
 * shape case of matmul (dot, vector-matrix, matrix-vector, 2-D, batched,
 * broadcast batch dims, a shared 2-D right operand), transposed views, odd
 * sizes (1, 7, 129), f32, f64, bf16, f16; addmm's bias shapes (the row bias
 * of the epilogue, and the broadcast ones), alpha and beta; gradients
 * through volt_backward on both devices, including a linear layer's (the
 * bias gradient from the GEMM's epilogue); bf16 autocast; results with
 * padded dims (through cross-entropy and a second product); an f64 gradcheck
 * through the GPU. Tolerances: products are sums of k terms in another
 * order than the CPU's, so f32 is 1e-5 relative plus 1e-5 * k absolute; f64
 * 1e-10; bf16 2e-2 and f16 2e-3 (one rounding of the result, f32
 * accumulation on both devices). */
#include "cuda_test.h"
#include "ops/cuda/cuda_gemm.h"

static volt_generator gen;

static volt_tensor *cpu_randn(int ndim, const int64_t *shape, volt_dtype dtype) {
    return volt_to_dtype(volt_randn(ndim, shape, VOLT_F64, &gen), dtype);
}

static volt_tensor *gpu(const volt_tensor *t) { return volt_to_device(t, VT_CUDA0); }

static double rtol_of(volt_dtype d) {
    return d == VOLT_BF16 ? 2e-2 : d == VOLT_F16 ? 2e-3 : d == VOLT_F32 ? 1e-5 : 1e-10;
}

static double atol_of(volt_dtype d, int64_t k) {
    return d == VOLT_F64 ? 1e-10 : d == VOLT_F32 ? 1e-5 * (double)(k + 1) : rtol_of(d);
}

/* The CPU's answer for 16-bit dtypes: the f32 product rounded once (the
 * CPU has no f16 matmul; its bf16 one is the same arithmetic). */
static volt_tensor *cpu_matmul(const volt_tensor *a, const volt_tensor *b) {
    if (a->dtype != VOLT_F16) return volt_matmul(a, b);
    return volt_to_dtype(volt_matmul(volt_to_dtype(a, VOLT_F32), volt_to_dtype(b, VOLT_F32)),
                         VOLT_F16);
}

/* ---------------------------------------------------------- forward */

static void check_matmul(const volt_tensor *a, const volt_tensor *b, const char *what) {
    int64_t k = a->shape[a->ndim - 1];
    volt_tensor *want = cpu_matmul(a, b);
    volt_tensor *got = volt_matmul(gpu(a), gpu(b));
    if (!got) fail_msg("%s: %s", what, volt_error_message());
    assert_true(volt_device_equal(got->device, VT_CUDA0));
    VT_ASSERT_SAME_VALUES(got, want, rtol_of(a->dtype), atol_of(a->dtype, k), what);
}

static void test_matmul_2d(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};
    const int64_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {129, 65, 33}, {64, 128, 96}, {3, 1, 7}};
    for (size_t d = 0; d < 4; d++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s][0], k = sizes[s][1], m = sizes[s][2];
            volt_tensor *a = cpu_randn(VOLT_SHAPE(n, k), dtypes[d]);
            volt_tensor *b = cpu_randn(VOLT_SHAPE(k, m), dtypes[d]);
            check_matmul(a, b, volt_dtype_name(dtypes[d]));
            /* Transposed views, read in place. */
            volt_tensor *at = volt_transpose(cpu_randn(VOLT_SHAPE(k, n), dtypes[d]), 0, 1);
            volt_tensor *bt = volt_transpose(cpu_randn(VOLT_SHAPE(m, k), dtypes[d]), 0, 1);
            check_matmul(at, b, "a^T b");
            check_matmul(a, bt, "a b^T");
            check_matmul(at, bt, "a^T b^T");
        }
    }
}

static void test_matmul_shapes(void **state) {
    (void)state;
    volt_dtype f = VOLT_F32;
    check_matmul(cpu_randn(VOLT_SHAPE(7), f), cpu_randn(VOLT_SHAPE(7), f), "dot");
    check_matmul(cpu_randn(VOLT_SHAPE(5), f), cpu_randn(VOLT_SHAPE(5, 3), f), "vector @ matrix");
    check_matmul(cpu_randn(VOLT_SHAPE(4, 5), f), cpu_randn(VOLT_SHAPE(5), f), "matrix @ vector");
    check_matmul(cpu_randn(VOLT_SHAPE(3, 7, 5), f), cpu_randn(VOLT_SHAPE(3, 5, 4), f), "batched");
    check_matmul(cpu_randn(VOLT_SHAPE(2, 1, 7, 5), f), cpu_randn(VOLT_SHAPE(3, 5, 4), f),
                 "broadcast batch dims");
    check_matmul(cpu_randn(VOLT_SHAPE(3, 7, 5), f), cpu_randn(VOLT_SHAPE(5, 4), f),
                 "shared right operand");
    check_matmul(cpu_randn(VOLT_SHAPE(7, 5), f), cpu_randn(VOLT_SHAPE(3, 5, 4), f),
                 "shared left operand");
    check_matmul(cpu_randn(VOLT_SHAPE(5), f), cpu_randn(VOLT_SHAPE(3, 5, 4), f), "vector @ batch");
    check_matmul(cpu_randn(VOLT_SHAPE(2, 3, 7, 5), f), cpu_randn(VOLT_SHAPE(5), f),
                 "batch @ vector");
    /* Batched transposed views: a [2, 3, 7, 5] stored as [2, 5, 3, 7]. */
    volt_tensor *a = volt_permute(cpu_randn(VOLT_SHAPE(2, 5, 3, 7), f), VOLT_DIMS(0, 2, 3, 1));
    check_matmul(a, cpu_randn(VOLT_SHAPE(5, 6), f), "permuted batch");
    volt_tensor *x = cpu_randn(VOLT_SHAPE(4, 9, 6), f);
    check_matmul(x, volt_transpose(x, 1, 2), "x x^T batched");
    /* bmm with a transposed right operand, and empty products. */
    volt_tensor *p = cpu_randn(VOLT_SHAPE(3, 8, 16), f), *q = cpu_randn(VOLT_SHAPE(3, 8, 16), f);
    volt_tensor *qt = volt_transpose(q, 1, 2);
    VT_ASSERT_SAME_VALUES(volt_bmm(gpu(p), volt_transpose(gpu(q), 1, 2)), volt_bmm(p, qt), 1e-5,
                          1e-4, "bmm");
    check_matmul(cpu_randn(VOLT_SHAPE(3, 0), f), cpu_randn(VOLT_SHAPE(0, 4), f), "k = 0");
    check_matmul(cpu_randn(VOLT_SHAPE(0, 5), f), cpu_randn(VOLT_SHAPE(5, 4), f), "n = 0");
    volt_tensor *u = cpu_randn(VOLT_SHAPE(7), f), *v = cpu_randn(VOLT_SHAPE(5), f);
    VT_ASSERT_SAME_VALUES(volt_outer(gpu(u), gpu(v)), volt_outer(u, v), 1e-6, 0, "outer");
}

static void test_addmm(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_BF16, VOLT_F64};
    for (size_t d = 0; d < 3; d++) {
        volt_dtype f = dtypes[d];
        int64_t n = 9, k = 33, m = 17;
        volt_tensor *a = cpu_randn(VOLT_SHAPE(n, k), f);
        volt_tensor *w = volt_transpose(cpu_randn(VOLT_SHAPE(m, k), f), 0, 1); /* a Linear's */
        volt_tensor *biases[] = {
            cpu_randn(VOLT_SHAPE(m), f),    cpu_randn(VOLT_SHAPE(1, m), f),
            cpu_randn(VOLT_SHAPE(n, m), f), cpu_randn(VOLT_SHAPE(n, 1), f),
            cpu_randn(VOLT_SHAPE(1), f),
        };
        const double betas[][2] = {{1, 1}, {0.5, 2}, {0, 1}};
        for (size_t i = 0; i < sizeof biases / sizeof biases[0]; i++) {
            for (size_t j = 0; j < 3; j++) {
                double beta = betas[j][0], alpha = betas[j][1];
                volt_tensor *want = volt_addmm(biases[i], a, w, beta, alpha);
                volt_tensor *got = volt_addmm(gpu(biases[i]), gpu(a), gpu(w), beta, alpha);
                if (!got) fail_msg("addmm bias %zu: %s", i, volt_error_message());
                VT_ASSERT_SAME_VALUES(got, want, rtol_of(f), 2 * atol_of(f, k), "addmm");
            }
        }
    }
}

/* ---------------------------------------------------------- backward */

typedef volt_tensor *(*forward_fn)(volt_tensor **in);

/* fn on CPU leaves and on CUDA copies of other leaves with the same values;
 * backward from the same random gradient; outputs and every input's
 * gradient compared. */
static void check_grads(forward_fn fn, int n, volt_tensor **values, double rtol, double atol,
                        const char *what) {
    volt_tensor *cpu_in[4], *leaves[4], *gpu_in[4];
    for (int i = 0; i < n; i++) {
        cpu_in[i] = volt_requires_grad(volt_clone(values[i]), true);
        leaves[i] = volt_requires_grad(volt_clone(values[i]), true);
        gpu_in[i] = gpu(leaves[i]);
    }
    volt_tensor *want = fn(cpu_in), *got = fn(gpu_in);
    if (!got) fail_msg("%s: %s", what, volt_error_message());
    VT_ASSERT_SAME_VALUES(got, want, rtol, atol, what);
    volt_tensor *g = cpu_randn(want->ndim, want->shape, want->dtype);
    assert_int_equal(volt_backward_ex(want, g, false), VOLT_OK);
    if (volt_backward_ex(got, gpu(g), false) != VOLT_OK)
        fail_msg("%s: backward: %s", what, volt_error_message());
    for (int i = 0; i < n; i++) {
        assert_non_null(leaves[i]->grad);
        VT_ASSERT_SAME_VALUES(leaves[i]->grad, cpu_in[i]->grad, rtol, atol, what);
    }
}

static volt_tensor *mm(volt_tensor **in) { return volt_matmul(in[0], in[1]); }
static volt_tensor *mm_bt(volt_tensor **in) {
    return volt_matmul(in[0], volt_transpose(in[1], 0, 1));
}
static volt_tensor *linear(volt_tensor **in) {
    return volt_addmm(in[2], in[0], volt_transpose(in[1], 0, 1), 1, 1);
}
static volt_tensor *addmm_scaled(volt_tensor **in) {
    return volt_addmm(in[2], in[0], in[1], 0.5, 2);
}
static volt_tensor *outer(volt_tensor **in) { return volt_outer(in[0], in[1]); }

static void test_backward(void **state) {
    (void)state;
    volt_dtype f = VOLT_F32;
    volt_tensor *a = cpu_randn(VOLT_SHAPE(7, 33), f), *b = cpu_randn(VOLT_SHAPE(33, 5), f);
    check_grads(mm, 2, (volt_tensor *[]){a, b}, 1e-5, 1e-4, "matmul 2-D");
    check_grads(mm_bt, 2, (volt_tensor *[]){a, volt_transpose(b, 0, 1)}, 1e-5, 1e-4, "a b^T");
    volt_tensor *w = cpu_randn(VOLT_SHAPE(5, 33), f), *bias = cpu_randn(VOLT_SHAPE(5), f);
    check_grads(linear, 3, (volt_tensor *[]){a, w, bias}, 1e-5, 1e-4, "linear");
    volt_tensor *wb = volt_to_dtype(w, VOLT_BF16), *ab = volt_to_dtype(a, VOLT_BF16);
    check_grads(linear, 3, (volt_tensor *[]){ab, wb, volt_to_dtype(bias, VOLT_BF16)}, 2e-2, 5e-2,
                "linear bf16");
    check_grads(addmm_scaled, 3, (volt_tensor *[]){a, b, cpu_randn(VOLT_SHAPE(7, 5), f)}, 1e-5,
                1e-4, "addmm alpha beta");
    check_grads(
        mm, 2,
        (volt_tensor *[]){cpu_randn(VOLT_SHAPE(3, 7, 5), f), cpu_randn(VOLT_SHAPE(3, 5, 4), f)},
        1e-5, 1e-4, "batched");
    check_grads(mm, 2,
                (volt_tensor *[]){cpu_randn(VOLT_SHAPE(7), f), cpu_randn(VOLT_SHAPE(7, 3), f)},
                1e-5, 1e-4, "vector @ matrix");
    check_grads(outer, 2,
                (volt_tensor *[]){cpu_randn(VOLT_SHAPE(7), f), cpu_randn(VOLT_SHAPE(4), f)}, 1e-5,
                1e-4, "outer");
}

/* Gradients summed over broadcast batch dims (the engine's reduction on
 * CUDA). */
static void test_backward_broadcast(void **state) {
    (void)state;
    volt_dtype f = VOLT_F32;
    check_grads(
        mm, 2, (volt_tensor *[]){cpu_randn(VOLT_SHAPE(3, 7, 5), f), cpu_randn(VOLT_SHAPE(5, 4), f)},
        1e-5, 1e-4, "shared weight");
    check_grads(
        mm, 2,
        (volt_tensor *[]){cpu_randn(VOLT_SHAPE(2, 1, 7, 5), f), cpu_randn(VOLT_SHAPE(3, 5, 4), f)},
        1e-5, 1e-4, "broadcast batch dims");
}

/* Under bf16 autocast f32 products run in bf16 and return bf16, as on the
 * CPU (same roundings of the operands, f32 accumulation on both); f32
 * operands get f32 gradients. Whole numbers: the results are integers
 * below 256, exact in bf16, so that the CPU (which adds the bias before
 * rounding the result) and CUDA (which rounds the bias for the epilogue)
 * agree exactly. A bf16 result feeds the next product as it is. */
static volt_tensor *whole(int ndim, const int64_t *shape) {
    return volt_to_dtype(volt_randint(-1, 2, ndim, shape, VOLT_I64, &gen), VOLT_F32);
}
static volt_tensor *two_linears(volt_tensor **in) {
    return linear((volt_tensor *[]){linear(in), in[3], in[2]});
}

static void test_autocast_bf16(void **state) {
    (void)state;
    volt_tensor *a = whole(VOLT_SHAPE(16, 64)), *w = whole(VOLT_SHAPE(24, 64));
    volt_tensor *bias = whole(VOLT_SHAPE(24)), *w2 = whole(VOLT_SHAPE(24, 24));
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *got = volt_addmm(gpu(bias), gpu(a), volt_transpose(gpu(w), 0, 1), 1, 1);
    volt_tensor *want = volt_addmm(bias, a, volt_transpose(w, 0, 1), 1, 1);
    volt_autocast_set(prev);
    if (!got) fail_msg("autocast: %s", volt_error_message());
    assert_int_equal(got->dtype, VOLT_BF16);
    VT_ASSERT_SAME_VALUES(got, want, 0, 0, "autocast addmm (whole numbers: exact)");
    prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    check_grads(linear, 3, (volt_tensor *[]){a, w, bias}, 1e-4, 1e-3, "autocast linear");
    /* the second product reads the first's bf16 result; random output
     * gradients: the first result's gradient is rounded to bf16 on both */
    check_grads(two_linears, 4, (volt_tensor *[]){a, w, bias, w2}, 2e-2, 2e-2,
                "autocast linear -> linear");
    volt_autocast_set(prev);
}

/* 16-bit products pad a dim of >= 1024 that is not a multiple of 8 (GPT-2's
 * 50257-token head) with zeros to the next one; a forward's result is then
 * a view of the wider rows. Under autocast and in bf16 (the padded forward,
 * input gradient's inner dim, weight gradient's rows with the epilogue's
 * bias gradient): values and gradients as on the CPU, through
 * cross-entropy (whose kernels read the wider rows in place) and through a
 * second product; under autocast the gradient is padded once for both of
 * its products (matmul.c's padded_backward). */
static volt_tensor *padded_target;
static volt_tensor *linear_ce(volt_tensor **in) {
    volt_tensor *t =
        volt_device_equal(in[0]->device, VT_CUDA0) ? gpu(padded_target) : padded_target;
    return volt_cross_entropy(linear(in), t);
}
static volt_tensor *linear_mm(volt_tensor **in) { return volt_matmul(linear(in), in[3]); }
static volt_tensor *ce_transposed(volt_tensor **in) {
    volt_tensor *t =
        volt_device_equal(in[0]->device, VT_CUDA0) ? gpu(padded_target) : padded_target;
    return volt_cross_entropy(volt_transpose(in[0], 0, 1), t);
}

static void test_padded_dims(void **state) {
    (void)state;
    const int64_t n = 37, k = 64, m = 1031; /* m * 4 and m * 2 bytes: not 16-aligned */
    /* Whole numbers in [-1, 1]: the linear's results are integers below 256,
     * exact in bf16, so that under autocast both devices give the second
     * product the same bf16 operand (a sum order's last-bit difference
     * would otherwise flip some roundings by a bf16 step). */
    volt_tensor *a = volt_to_dtype(volt_randint(-1, 2, VOLT_SHAPE(n, k), VOLT_I64, &gen), VOLT_F32);
    volt_tensor *w = volt_to_dtype(volt_randint(-1, 2, VOLT_SHAPE(m, k), VOLT_I64, &gen), VOLT_F32);
    volt_tensor *bias = volt_to_dtype(volt_randint(-1, 2, VOLT_SHAPE(m), VOLT_I64, &gen), VOLT_F32);
    volt_tensor *v = cpu_randn(VOLT_SHAPE(m, 5), VOLT_F32);
    padded_target = volt_randint(0, m, VOLT_SHAPE(n), VOLT_I64, &gen);
    /* f32: the same layers unpadded, as the reference of the checks */
    check_grads(linear_ce, 3, (volt_tensor *[]){a, w, bias}, 1e-5, 1e-4, "f32 linear + CE");
    check_grads(linear_mm, 4, (volt_tensor *[]){a, w, bias, v}, 1e-5, 1e-3, "f32 linear @ v");
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *got = linear((volt_tensor *[]){gpu(a), gpu(w), gpu(bias)});
    volt_autocast_set(prev);
    if (!got) fail_msg("autocast padded linear: %s", volt_error_message());
    assert_int_equal(got->strides[0], 1032); /* a view of the 1032-wide result */
    VT_ASSERT_SAME_VALUES(got, linear((volt_tensor *[]){a, w, bias}), 0, 0,
                          "autocast padded linear (whole numbers: exact)");
    prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *loss = linear_ce((volt_tensor *[]){gpu(a), gpu(w), gpu(bias)});
    assert_non_null(loss);
    assert_int_equal(loss->dtype, VOLT_F32); /* read from the padded bf16 logits */
    check_grads(linear_ce, 3, (volt_tensor *[]){a, w, bias}, 1e-4, 1e-3,
                "autocast padded linear + CE");
    /* linear's bf16 result @ v rounded to bf16: the product's bf16 result
     * may round the two sum orders a bf16 step apart */
    check_grads(linear_mm, 4, (volt_tensor *[]){a, w, bias, v}, 2e-2, 2e-2, "autocast padded @ v");
    /* a 3-D input times a row-major [k, m] matrix: the padded gradient's
     * weight product in that layout, its input gradient over batches */
    volt_tensor *a3 =
        volt_to_dtype(volt_randint(-1, 2, VOLT_SHAPE(2, 19, k), VOLT_I64, &gen), VOLT_F32);
    volt_tensor *bm =
        volt_to_dtype(volt_randint(-1, 2, VOLT_SHAPE(k, m), VOLT_I64, &gen), VOLT_F32);
    check_grads(mm, 2, (volt_tensor *[]){a3, bm}, 1e-4, 1e-3, "autocast padded 3-D @ [k, m]");
    volt_autocast_set(prev);
    /* bf16 operands: the 1031-wide dims of the product, its input gradient
     * (inner dim) and its weight gradient (rows, with the bias gradient
     * from the epilogue) padded to 1032 with zeros */
    volt_tensor *ab = volt_to_dtype(a, VOLT_BF16), *wb = volt_to_dtype(w, VOLT_BF16);
    check_grads(linear, 3, (volt_tensor *[]){ab, wb, volt_to_dtype(bias, VOLT_BF16)}, 2e-2, 5e-2,
                "bf16 padded linear");
    /* cross-entropy of a transposed view: read through a contiguous copy,
     * forward and backward */
    check_grads(ce_transposed, 1, (volt_tensor *[]){cpu_randn(VOLT_SHAPE(m, n), VOLT_F32)}, 1e-5,
                1e-6, "cross-entropy of a transposed view");
}

/* ---------------------------------------------------------- gradcheck */

static volt_tensor *gpu_product(volt_tensor **in, void *ctx) {
    (void)ctx;
    volt_tensor *y = volt_addmm(gpu(in[2]), gpu(in[0]), volt_transpose(gpu(in[1]), 0, 1), 1, 1);
    y = volt_matmul(y, gpu(in[3]));
    return volt_to_device(y, VOLT_DEVICE_CPU);
}

static void test_gradcheck_f64(void **state) {
    (void)state;
    volt_tensor *in[4] = {
        volt_requires_grad(cpu_randn(VOLT_SHAPE(4, 6), VOLT_F64), true),
        volt_requires_grad(cpu_randn(VOLT_SHAPE(5, 6), VOLT_F64), true),
        volt_requires_grad(cpu_randn(VOLT_SHAPE(5), VOLT_F64), true),
        volt_requires_grad(cpu_randn(VOLT_SHAPE(5, 3), VOLT_F64), true),
    };
    if (volt_gradcheck(gpu_product, NULL, 4, in, NULL) != VOLT_OK)
        fail_msg("gradcheck: %s", volt_error_message());
}

/* ---------------------------------------------------- cache, refusals */

static void test_repeated_calls_and_refusal(void **state) {
    (void)state;
    volt_tensor *a = cpu_randn(VOLT_SHAPE(31, 17), VOLT_F32),
                *b = cpu_randn(VOLT_SHAPE(17, 9), VOLT_F32);
    volt_tensor *want = volt_matmul(a, b), *ga = gpu(a), *gb = gpu(b);
    for (int i = 0; i < 5; i++) /* the cached algorithm from the second call on */
        VT_ASSERT_SAME_VALUES(volt_matmul(ga, gb), want, 1e-5, 2e-4, "repeated");
    /* Operands of two dtypes into an f16 result: no such kernel, named. */
    volt_tensor *out = volt_tensor_new(VOLT_F16, VT_CUDA0, 2, (int64_t[]){31, 9});
    assert_int_equal(volt_cuda_gemm(out, ga, gb, 1, 0, VOLT_GEMM_PLAIN, NULL), VOLT_ERR_DEVICE);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "matmul: no CUDA kernel yet for f16[31,9] on cuda:0");
    assert_null(volt_matmul(ga, volt_to_dtype(gb, VOLT_F16)));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "dtypes differ (f32 vs f16)");
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_matmul");
    gen = volt_generator_make(1234, 0);
    /* The cuBLASLt workspace stays allocated once made: make it before the
     * tests count device memory. */
    volt_tensor *w = volt_tensor_new(VOLT_F32, VT_CUDA0, VOLT_SHAPE(2, 2));
    if (!w || volt_cuda_gemm(w, w, w, 1, 0, VOLT_GEMM_PLAIN, NULL) != VOLT_OK) {
        printf("cuda/test_cuda_matmul: the warm-up matmul failed: %s\n", volt_error_message());
        return 1;
    }
    volt_tensor_free(w);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_matmul_2d),
        VT_CUDA_TEST(test_matmul_shapes),
        VT_CUDA_TEST(test_addmm),
        VT_CUDA_TEST(test_backward),
        VT_CUDA_TEST(test_backward_broadcast),
        VT_CUDA_TEST(test_autocast_bf16),
        VT_CUDA_TEST(test_padded_dims),
        VT_CUDA_TEST(test_gradcheck_f64),
        VT_CUDA_TEST(test_repeated_calls_and_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
