/* test_cuda_ops.c (needs a GPU; skipped without one): the first CUDA ops
 * against the CPU's on the same inputs — to_device both ways (and its
 * gradient), element access on CUDA tensors, pinned memory, fill and the
 * *_like creators, clone / to_dtype / copy_, add, sub, mul and div in f32,
 * f64, bf16 and f16 (same shapes, one-element operands, CPU scalars, in
 * place) with their gradients, and the cuBLASLt matmul. Tolerances: f32
 * 1e-5 relative, bf16 1e-2, f16 1e-3. The other elementwise ops:
 * test_cuda_elementwise.c; copies and layouts: test_cuda_shape.c. */
#include "cuda_test.h"
#include "ops/cuda/cuda_ops.h"

static volt_generator gen;

/* A CPU tensor of `dtype` from randn (scale, shift), and its CUDA copy. */
static volt_tensor *cpu_randn(int ndim, const int64_t *shape, volt_dtype dtype, double scale,
                              double shift) {
    volt_tensor *t = volt_randn(ndim, shape, VOLT_F64, &gen);
    t = volt_add_scalar(volt_mul_scalar(t, scale), shift);
    return volt_to_dtype(t, dtype);
}

static volt_tensor *gpu(const volt_tensor *t) { return volt_to_device(t, VT_CUDA0); }

static double rtol_of(volt_dtype d) {
    return d == VOLT_BF16 ? 1e-2 : d == VOLT_F16 ? 1e-3 : d == VOLT_F32 ? 1e-5 : 1e-12;
}

/* ------------------------------------------------------------- copies */

static void test_to_device_round_trip(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16, VOLT_I64, VOLT_U8};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        volt_tensor *x =
            volt_dtype_is_float(dtypes[i])
                ? cpu_randn(VOLT_SHAPE(3, 5), dtypes[i], 4, 1)
                : volt_to_dtype(volt_reshape(volt_arange(0, 15, 1, VOLT_F64), VOLT_SHAPE(3, 5)),
                                dtypes[i]);
        volt_tensor *g = gpu(x);
        VT_ASSERT_NO_ERROR();
        assert_true(volt_device_equal(g->device, VT_CUDA0));
        assert_int_equal(g->dtype, dtypes[i]);
        volt_tensor *back = volt_to_device(g, VOLT_DEVICE_CPU);
        VT_ASSERT_SAME_VALUES(back, x, 0, 0, volt_dtype_name(dtypes[i]));
        VT_ASSERT_SAME_VALUES(g, x, 0, 0, "read on the device");
    }
    /* A strided CPU source is made contiguous on the way. */
    volt_tensor *x = cpu_randn(VOLT_SHAPE(4, 6), VOLT_F32, 1, 0);
    VT_ASSERT_SAME_VALUES(gpu(volt_transpose(x, 0, 1)), volt_transpose(x, 0, 1), 0, 0, "strided");
    /* Same device: a view. */
    volt_tensor *g = gpu(x);
    volt_tensor *same = volt_to_device(g, VT_CUDA0);
    assert_ptr_equal(same->storage, g->storage);
    /* A device that is not there. */
    int n = volt_cuda_device_count();
    assert_null(volt_to_device(x, (volt_device){VOLT_CUDA, n}));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "to_device: cuda:");
    VT_ASSERT_NO_ERROR();
}

static void test_element_access(void **state) {
    (void)state;
    volt_tensor *s = gpu(volt_scalar(3.5, VOLT_F32));
    assert_true(volt_tensor_item(s) == 3.5);
    volt_tensor *m = gpu(volt_reshape(volt_arange(0, 6, 1, VOLT_F32), VOLT_SHAPE(2, 3)));
    volt_tensor *t = volt_transpose(m, 0, 1); /* [3, 2], strided */
    assert_true(volt_tensor_get(t, (int64_t[]){2, 1}) == 5.0);
    assert_true(volt_tensor_get_flat(t, 1) == 3.0);
    double out[6];
    assert_int_equal(volt_tensor_copy_to_array(t, VOLT_F64, out), VOLT_OK);
    const double want[6] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) assert_true(out[i] == want[i]);
    float same[6];
    assert_int_equal(volt_tensor_copy_to_array(m, VOLT_F32, same), VOLT_OK);
    for (int i = 0; i < 6; i++) assert_true(same[i] == (float)i);
}

static void test_pinned_memory(void **state) {
    (void)state;
    volt_tensor *x = cpu_randn(VOLT_SHAPE(64, 33), VOLT_F32, 1, 0);
    for (int round = 0; round < 3; round++) { /* the pinned block is cached, then reused */
        volt_scope_begin();
        volt_tensor *p = volt_pin_memory(x);
        assert_true(volt_tensor_is_pinned(p));
        assert_false(volt_tensor_is_pinned(x));
        VT_ASSERT_SAME_VALUES(p, x, 0, 0, "pinned copy");
        volt_tensor *g = gpu(p); /* queued, not waited for */
        VT_ASSERT_SAME_VALUES(g, x, 0, 0, "from pinned memory");
        volt_scope_end();
    }
    VT_ASSERT_SAME_VALUES(volt_pin_memory(volt_transpose(x, 0, 1)), volt_transpose(x, 0, 1), 0, 0,
                          "pinned strided");
    assert_null(volt_pin_memory(gpu(x)));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "pin_memory: f32[64,33] is on cuda:0");
}

static void test_to_device_gradient(void **state) {
    (void)state;
    volt_tensor *x = volt_requires_grad(cpu_randn(VOLT_SHAPE(3, 4), VOLT_F32, 1, 0), true);
    volt_tensor *y = gpu(x);
    volt_tensor *loss = volt_sum_all(volt_to_device(volt_mul(y, y), VOLT_DEVICE_CPU));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    assert_non_null(x->grad);
    assert_true(volt_device_equal(x->grad->device, VOLT_DEVICE_CPU));
    VT_ASSERT_SAME_VALUES(x->grad, volt_mul_scalar(x, 2), 1e-6, 0, "d sum(x^2) / dx");
}

/* ------------------------------------------------- fill and creation */

static void test_fill_and_like(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_BF16, VOLT_F16, VOLT_F64,
                                 VOLT_I64, VOLT_I32,  VOLT_U8,  VOLT_BOOL};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        volt_tensor *g = gpu(volt_zeros(VOLT_SHAPE(5, 3), dtypes[i]));
        const char *name = volt_dtype_name(dtypes[i]);
        VT_ASSERT_SAME_VALUES(volt_ones_like(g), volt_ones(VOLT_SHAPE(5, 3), dtypes[i]), 0, 0,
                              name);
        VT_ASSERT_SAME_VALUES(volt_full_like(g, 7), volt_full(VOLT_SHAPE(5, 3), 7, dtypes[i]), 0, 0,
                              name);
        VT_ASSERT_SAME_VALUES(volt_fill_(g, 3), volt_full(VOLT_SHAPE(5, 3), 3, dtypes[i]), 0, 0,
                              name);
        VT_ASSERT_SAME_VALUES(volt_zero_(g), volt_zeros(VOLT_SHAPE(5, 3), dtypes[i]), 0, 0, name);
        VT_ASSERT_SAME_VALUES(volt_zeros_like(volt_ones_like(g)),
                              volt_zeros(VOLT_SHAPE(5, 3), dtypes[i]), 0, 0, name);
    }
    /* 2.5 rounds to bf16 exactly; 0.1 does not, the same way on both. */
    volt_tensor *b = gpu(volt_zeros(VOLT_SHAPE(7), VOLT_BF16));
    VT_ASSERT_SAME_VALUES(volt_full_like(b, 0.1), volt_full(VOLT_SHAPE(7), 0.1, VOLT_BF16), 0, 0,
                          "bf16 0.1");
}

static void test_clone_to_dtype_copy(void **state) {
    (void)state;
    volt_tensor *x = cpu_randn(VOLT_SHAPE(6, 7), VOLT_F32, 3, 0);
    volt_tensor *g = gpu(x);
    volt_tensor *c = volt_clone(g);
    assert_ptr_not_equal(c->storage, g->storage);
    VT_ASSERT_SAME_VALUES(c, x, 0, 0, "clone");
    const volt_dtype to[] = {VOLT_BF16, VOLT_F16, VOLT_F64};
    for (size_t i = 0; i < 3; i++) {
        volt_tensor *d = volt_to_dtype(g, to[i]);
        assert_int_equal(d->dtype, to[i]);
        VT_ASSERT_SAME_VALUES(d, volt_to_dtype(x, to[i]), 0, 0, volt_dtype_name(to[i]));
        VT_ASSERT_SAME_VALUES(volt_to_dtype(d, VOLT_F32),
                              volt_to_dtype(volt_to_dtype(x, to[i]), VOLT_F32), 0, 0, "and back");
    }
    /* copy_: from the CPU, to the CPU, and converting on the device. */
    volt_tensor *dst = gpu(volt_zeros(VOLT_SHAPE(6, 7), VOLT_F32));
    assert_non_null(volt_copy_(dst, x));
    VT_ASSERT_SAME_VALUES(dst, x, 0, 0, "copy_ from the CPU");
    volt_tensor *host = volt_zeros(VOLT_SHAPE(6, 7), VOLT_F32);
    assert_non_null(volt_copy_(host, dst));
    VT_ASSERT_SAME_VALUES(host, x, 0, 0, "copy_ to the CPU");
    volt_tensor *half = gpu(volt_zeros(VOLT_SHAPE(6, 7), VOLT_BF16));
    assert_non_null(volt_copy_(half, dst));
    VT_ASSERT_SAME_VALUES(half, volt_to_dtype(x, VOLT_BF16), 0, 0, "copy_ converting");
    /* Strided and broadcast copies (more in test_cuda_shape.c). */
    VT_ASSERT_SAME_VALUES(volt_contiguous(volt_transpose(g, 0, 1)), volt_transpose(x, 0, 1), 0, 0,
                          "contiguous of a transpose");
    assert_non_null(volt_copy_(dst, volt_ones(VOLT_SHAPE(7), VOLT_F32)));
    VT_ASSERT_SAME_VALUES(dst, volt_ones(VOLT_SHAPE(6, 7), VOLT_F32), 0, 0, "copy_ broadcast");
}

/* ------------------------------------------------------------ binary */

typedef volt_tensor *(*binary_fn)(const volt_tensor *, const volt_tensor *);

/* The CPU's answer in `dtype`: the op in f32 (f64 for f64) on the widened
 * operands, rounded to dtype — bf16's own CPU rule, and f16's (no CPU f16
 * kernels). */
static volt_tensor *reference(binary_fn fn, const volt_tensor *a, const volt_tensor *b,
                              volt_dtype dtype) {
    volt_dtype wide = dtype == VOLT_F64 ? VOLT_F64 : VOLT_F32;
    return volt_to_dtype(fn(volt_to_dtype(a, wide), volt_to_dtype(b, wide)), dtype);
}

static void test_binary_matches_cpu(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};
    const binary_fn fns[] = {volt_add, volt_sub, volt_mul, volt_div};
    const char *names[] = {"add", "sub", "mul", "div"};
    for (size_t d = 0; d < 4; d++) {
        volt_dtype dt = dtypes[d];
        double rtol = rtol_of(dt), atol = rtol * 1e-3;
        volt_tensor *a = cpu_randn(VOLT_SHAPE(37, 29), dt, 2, 0);
        volt_tensor *b = cpu_randn(VOLT_SHAPE(37, 29), dt, 0.25, 2); /* away from 0 */
        volt_tensor *one = volt_to_dtype(volt_scalar(1.75, VOLT_F64), dt);
        volt_tensor *ga = gpu(a), *gb = gpu(b), *gone = gpu(one);
        for (size_t k = 0; k < 4; k++) {
            volt_tensor *got = fns[k](ga, gb);
            assert_non_null(got);
            assert_int_equal(got->dtype, dt);
            assert_true(volt_device_equal(got->device, VT_CUDA0));
            VT_ASSERT_SAME_VALUES(got, reference(fns[k], a, b, dt), rtol, atol, names[k]);
            /* A one-element CUDA operand on either side. */
            VT_ASSERT_SAME_VALUES(fns[k](ga, gone), reference(fns[k], a, one, dt), rtol, atol,
                                  names[k]);
            VT_ASSERT_SAME_VALUES(fns[k](gone, gb), reference(fns[k], one, b, dt), rtol, atol,
                                  names[k]);
        }
        /* CPU scalars, and alpha. */
        volt_dtype wide = dt == VOLT_F64 ? VOLT_F64 : VOLT_F32;
        volt_tensor *wa = volt_to_dtype(a, wide), *wb = volt_to_dtype(b, wide);
        VT_ASSERT_SAME_VALUES(volt_mul_scalar(ga, 2.5), volt_to_dtype(volt_mul_scalar(wa, 2.5), dt),
                              rtol, atol, "mul_scalar");
        VT_ASSERT_SAME_VALUES(volt_add_scalar(ga, -1.25),
                              volt_to_dtype(volt_add_scalar(wa, -1.25), dt), rtol, atol,
                              "add_scalar");
        VT_ASSERT_SAME_VALUES(volt_div_scalar(ga, 3), volt_to_dtype(volt_div_scalar(wa, 3), dt),
                              rtol, atol, "div_scalar");
        VT_ASSERT_SAME_VALUES(volt_add_scaled(ga, gb, 0.5),
                              volt_to_dtype(volt_add_scaled(wa, wb, 0.5), dt), rtol, atol,
                              "add_scaled");
        /* In place. */
        volt_tensor *c = volt_clone(ga);
        assert_ptr_equal(volt_add_(c, gb), c);
        VT_ASSERT_SAME_VALUES(c, reference(volt_add, a, b, dt), rtol, atol, "add_");
        assert_ptr_equal(volt_mul_scalar_(c, 2), c);
        VT_ASSERT_SAME_VALUES(
            c,
            volt_to_dtype(volt_mul_scalar(volt_to_dtype(reference(volt_add, a, b, dt), wide), 2),
                          dt),
            rtol, atol, "mul_scalar_");
    }
    /* Mixed dtypes promote as on the CPU. */
    volt_tensor *f = cpu_randn(VOLT_SHAPE(8), VOLT_F32, 1, 0),
                *h = cpu_randn(VOLT_SHAPE(8), VOLT_BF16, 1, 0);
    volt_tensor *mixed = volt_mul(gpu(f), gpu(h));
    assert_int_equal(mixed->dtype, VOLT_F32);
    VT_ASSERT_SAME_VALUES(mixed, volt_mul(f, h), 1e-6, 0, "f32 * bf16");
    /* Broadcast operands and integers (every op: test_cuda_elementwise.c). */
    volt_tensor *h4 = cpu_randn(VOLT_SHAPE(4, 3), VOLT_F32, 1, 0), *g = gpu(h4);
    volt_tensor *ones3 = volt_ones(VOLT_SHAPE(3), VOLT_F32);
    VT_ASSERT_SAME_VALUES(volt_add(g, gpu(ones3)), volt_add(h4, ones3), 0, 0, "broadcast add");
    VT_ASSERT_SAME_VALUES(
        volt_add(gpu(volt_ones(VOLT_SHAPE(3), VOLT_I64)), gpu(volt_ones(VOLT_SHAPE(3), VOLT_I64))),
        volt_full(VOLT_SHAPE(3), 2, VOLT_I64), 0, 0, "i64 add");
}

static void test_binary_gradients(void **state) {
    (void)state;
    volt_tensor *a0 = cpu_randn(VOLT_SHAPE(3, 4), VOLT_F32, 1, 0);
    volt_tensor *b0 = cpu_randn(VOLT_SHAPE(3, 4), VOLT_F32, 0.25, 2);
    volt_tensor *a = volt_requires_grad(gpu(a0), true), *b = volt_requires_grad(gpu(b0), true);
    /* y = a * b - (a + 0.5 b): dy/da = b - 1, dy/db = a - 0.5. */
    volt_tensor *y = volt_sub(volt_mul(a, b), volt_add_scaled(a, b, 0.5));
    volt_tensor *loss = volt_sum_all(volt_to_device(y, VOLT_DEVICE_CPU));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    assert_true(volt_device_equal(a->grad->device, VT_CUDA0));
    VT_ASSERT_SAME_VALUES(a->grad, volt_add_scalar(b0, -1), 1e-6, 0, "da");
    VT_ASSERT_SAME_VALUES(b->grad, volt_add_scalar(a0, -0.5), 1e-6, 0, "db");
    /* div by a constant: d(a / c)/da = 1 / c. */
    volt_tensor *a2 = volt_requires_grad(gpu(a0), true);
    volt_tensor *q = volt_div(a2, gpu(b0));
    assert_int_equal(volt_backward(volt_sum_all(volt_to_device(q, VOLT_DEVICE_CPU))), VOLT_OK);
    VT_ASSERT_SAME_VALUES(a2->grad, volt_div(volt_ones(VOLT_SHAPE(3, 4), VOLT_F32), b0), 1e-6, 0,
                          "d(a/c)/da");
}

/* ------------------------------------------------------------ matmul */

/* out = alpha * a @ b + beta * out on the GPU (ops/cuda/matmul_lt.c). */
static volt_tensor *gpu_matmul(const volt_tensor *a, const volt_tensor *b, volt_tensor *out,
                               double alpha, double beta) {
    if (!out) out = volt_tensor_new(a->dtype, VT_CUDA0, VOLT_SHAPE(a->shape[0], b->shape[1]));
    if (volt_cuda_matmul(out, a, b, alpha, beta) != VOLT_OK)
        fail_msg("matmul: %s", volt_error_message());
    return out;
}

static void test_matmul_matches_cpu(void **state) {
    (void)state;
    const int64_t m = 33, k = 65, n = 17;
    volt_tensor *a = cpu_randn(VOLT_SHAPE(m, k), VOLT_F32, 1, 0);
    volt_tensor *b = cpu_randn(VOLT_SHAPE(k, n), VOLT_F32, 1, 0);
    volt_tensor *want = volt_matmul(a, b);
    double atol = 1e-5 * sqrt((double)k) * 4;
    VT_ASSERT_SAME_VALUES(gpu_matmul(gpu(a), gpu(b), NULL, 1, 0), want, 1e-5, atol, "f32");
    /* Transposed views are read in place (cuBLASLt's op T). */
    volt_tensor *at = volt_transpose(gpu(volt_contiguous(volt_transpose(a, 0, 1))), 0, 1);
    volt_tensor *bt = volt_transpose(gpu(volt_contiguous(volt_transpose(b, 0, 1))), 0, 1);
    assert_false(volt_tensor_is_contiguous(at));
    VT_ASSERT_SAME_VALUES(gpu_matmul(at, bt, NULL, 1, 0), want, 1e-5, atol, "f32, a^T b^T");
    VT_ASSERT_SAME_VALUES(gpu_matmul(at, gpu(b), NULL, 1, 0), want, 1e-5, atol, "f32, a^T b");
    /* alpha and beta. */
    volt_tensor *out = volt_ones_like(gpu(want));
    VT_ASSERT_SAME_VALUES(gpu_matmul(gpu(a), gpu(b), out, 2, 0.5),
                          volt_add_scalar(volt_mul_scalar(want, 2), 0.5), 1e-5, 2 * atol,
                          "alpha beta");
    /* bf16 and f16: f32 accumulation, rounded once. */
    volt_tensor *ab = volt_to_dtype(a, VOLT_BF16), *bb = volt_to_dtype(b, VOLT_BF16);
    VT_ASSERT_SAME_VALUES(gpu_matmul(gpu(ab), gpu(bb), NULL, 1, 0), volt_matmul(ab, bb), 1e-2, 1e-2,
                          "bf16");
    volt_tensor *ah = volt_to_dtype(a, VOLT_F16), *bh = volt_to_dtype(b, VOLT_F16);
    volt_tensor *want_h = volt_to_dtype(
        volt_matmul(volt_to_dtype(ah, VOLT_F32), volt_to_dtype(bh, VOLT_F32)), VOLT_F16);
    VT_ASSERT_SAME_VALUES(gpu_matmul(gpu(ah), gpu(bh), NULL, 1, 0), want_h, 2e-3, 2e-3, "f16");
    /* Empty inner dimension: zeros. */
    volt_tensor *e = gpu_matmul(gpu(volt_zeros(VOLT_SHAPE(3, 0), VOLT_F32)),
                                gpu(volt_zeros(VOLT_SHAPE(0, 2), VOLT_F32)), NULL, 1, 0);
    VT_ASSERT_SAME_VALUES(e, volt_zeros(VOLT_SHAPE(3, 2), VOLT_F32), 0, 0, "k = 0");
    /* Batched products have no CUDA kernel yet. */
    volt_tensor *o3 = volt_tensor_new(VOLT_F32, VT_CUDA0, VOLT_SHAPE(2, 3, 3));
    volt_tensor *x3 = gpu(volt_ones(VOLT_SHAPE(2, 3, 3), VOLT_F32));
    assert_int_equal(volt_cuda_matmul(o3, x3, x3, 1, 0), VOLT_ERR_DEVICE);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "matmul: no CUDA kernel yet for f32[2,3,3] on cuda:0");
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_ops");
    gen = volt_generator_make(2024, 7);
    /* The cuBLASLt workspace stays allocated once made: make it before the
     * tests count device memory. */
    volt_tensor *w = volt_tensor_new(VOLT_F32, VT_CUDA0, VOLT_SHAPE(2, 2));
    if (!w || volt_cuda_matmul(w, w, w, 1, 0) != VOLT_OK) {
        printf("cuda/test_cuda_ops: the warm-up matmul failed: %s\n", volt_error_message());
        return 1;
    }
    volt_tensor_free(w);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_to_device_round_trip), VT_CUDA_TEST(test_element_access),
        VT_CUDA_TEST(test_pinned_memory),        VT_CUDA_TEST(test_to_device_gradient),
        VT_CUDA_TEST(test_fill_and_like),        VT_CUDA_TEST(test_clone_to_dtype_copy),
        VT_CUDA_TEST(test_binary_matches_cpu),   VT_CUDA_TEST(test_binary_gradients),
        VT_CUDA_TEST(test_matmul_matches_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
