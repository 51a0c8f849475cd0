/* test_cuda_attention.c (needs a GPU; skipped without one): scaled
 * dot-product attention on CUDA against the CPU op on the same inputs —
 * the fused flash kernels and the reference path (cuBLASLt products and a
 * softmax kernel), causal and not, several lengths (1, 7, 129, T != S) and
 * head dims (8, 64, 100, 128; 160 goes to the reference path), forward and
 * gradients through volt_backward on both devices, bf16 and f16 against the
 * CPU's f32 result on the same rounded inputs, and an f64 gradcheck
 * through the GPU (the reference path). bf16 and f16 at head dims 64 and
 * 128 run on the tensor-core kernels (probabilities and dS rounded to the
 * element type as they enter the products): also at T = 1024 (many key
 * tiles, causal tiles skipped) with a norm-wise check, and from inputs
 * that are not 16-byte aligned (they fall back to the plain kernel). A
 * GPT's head views (transposed slices) reach the fused kernels too, and
 * under bf16 autocast attention runs in bf16, its result too.
 * Tolerances: f32 2e-5 relative plus 2e-5 absolute (sums over S keys and
 * D dims in another order); bf16 3e-2, f16 5e-3 (inputs, probabilities and
 * output rounded); norm-wise 1e-2 (bf16), 2e-3 (f16). */
#include "cuda_test.h"
#include "ops/cuda/cuda_gemm.h"

static volt_generator gen;

static volt_tensor *cpu_randn(int ndim, const int64_t *shape, volt_dtype dtype) {
    return volt_to_dtype(volt_randn(ndim, shape, VOLT_F64, &gen), dtype);
}

static volt_tensor *gpu(const volt_tensor *t) { return volt_to_device(t, VT_CUDA0); }

/* Attention of [B, H, T, D] q and [B, H, S, D] k, v in `dtype` on the GPU
 * vs the CPU in f32 (f64 for f64) on the same values, forward and backward
 * from the same gradient. */
static void check_attention(int64_t b, int64_t h, int64_t t, int64_t s, int64_t d, volt_dtype dtype,
                            bool causal, double tol, const char *what) {
    volt_dtype ref = dtype == VOLT_F64 ? VOLT_F64 : VOLT_F32;
    volt_tensor *vals[3] = {cpu_randn(VOLT_SHAPE(b, h, t, d), dtype),
                            cpu_randn(VOLT_SHAPE(b, h, s, d), dtype),
                            cpu_randn(VOLT_SHAPE(b, h, s, d), dtype)};
    volt_tensor *cpu_in[3], *leaves[3], *gpu_in[3];
    for (int i = 0; i < 3; i++) {
        cpu_in[i] = volt_requires_grad(volt_to_dtype(vals[i], ref), true);
        leaves[i] = volt_requires_grad(volt_clone(vals[i]), true);
        gpu_in[i] = gpu(leaves[i]);
    }
    volt_tensor *want =
        volt_scaled_dot_product_attention(cpu_in[0], cpu_in[1], cpu_in[2], causal, 0);
    volt_tensor *got =
        volt_scaled_dot_product_attention(gpu_in[0], gpu_in[1], gpu_in[2], causal, 0);
    if (!got) fail_msg("%s: %s", what, volt_error_message());
    assert_int_equal(got->dtype, dtype);
    VT_ASSERT_SAME_VALUES(got, want, tol, tol, what);
    volt_tensor *g = cpu_randn(want->ndim, want->shape, dtype);
    assert_int_equal(volt_backward_ex(want, volt_to_dtype(g, ref), false), VOLT_OK);
    if (volt_backward_ex(got, gpu(g), false) != VOLT_OK)
        fail_msg("%s: backward: %s", what, volt_error_message());
    for (int i = 0; i < 3; i++) {
        assert_non_null(leaves[i]->grad);
        VT_ASSERT_SAME_VALUES(leaves[i]->grad, cpu_in[i]->grad, tol, 2 * tol, what);
    }
}

static const int64_t sizes[][5] = {
    /* b, h, t, s, d */
    {1, 1, 1, 1, 8},     {2, 3, 7, 7, 64},   {1, 2, 129, 129, 64},
    {2, 1, 65, 130, 32}, {1, 1, 70, 9, 100}, {1, 2, 40, 40, 128},
};

static void run_sizes(volt_dtype dtype, double tol, const char *what) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int causal = 0; causal < 2; causal++) {
            char label[128];
            snprintf(label, sizeof label, "%s [%lld,%lld,%lld,%lld,%lld]%s", what,
                     (long long)sizes[i][0], (long long)sizes[i][1], (long long)sizes[i][2],
                     (long long)sizes[i][3], (long long)sizes[i][4], causal ? " causal" : "");
            check_attention(sizes[i][0], sizes[i][1], sizes[i][2], sizes[i][3], sizes[i][4], dtype,
                            causal, tol, label);
        }
}

static void test_flash_f32(void **state) {
    (void)state;
    run_sizes(VOLT_F32, 2e-5, "flash f32");
}

static void test_flash_16bit(void **state) {
    (void)state;
    run_sizes(VOLT_BF16, 3e-2, "flash bf16");
    run_sizes(VOLT_F16, 5e-3, "flash f16");
}

static void test_reference_path(void **state) {
    (void)state;
    bool prev = volt_cuda_attention_use_reference(true);
    run_sizes(VOLT_F32, 2e-5, "reference f32");
    run_sizes(VOLT_BF16, 3e-2, "reference bf16");
    volt_cuda_attention_use_reference(prev);
    /* Heads over 128 and f64 take it whatever the switch. */
    check_attention(1, 2, 9, 11, 160, VOLT_F32, true, 2e-5, "head dim 160");
    check_attention(2, 1, 7, 5, 16, VOLT_F64, true, 1e-10, "f64");
}

/* ||got - want|| / ||want|| over all elements. */
static double rel_err(const volt_tensor *got, const volt_tensor *want) {
    int64_t n = volt_tensor_numel(want);
    double *g = malloc((size_t)n * sizeof *g), *w = malloc((size_t)n * sizeof *w);
    assert_non_null(g);
    assert_non_null(w);
    assert_int_equal(volt_tensor_copy_to_array(got, VOLT_F64, g), VOLT_OK);
    assert_int_equal(volt_tensor_copy_to_array(want, VOLT_F64, w), VOLT_OK);
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += (g[i] - w[i]) * (g[i] - w[i]);
        den += w[i] * w[i];
    }
    free(g), free(w);
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Forward and gradients of [1, 2, t, d] attention in `dtype` on the GPU vs
 * the CPU in f32 on the same values; `offset` elements of q's, k's and v's
 * storage are skipped (misaligning them). Norm-wise tolerance `tol`. */
static void check_long(int64_t t, int64_t d, volt_dtype dtype, bool causal, int64_t offset,
                       double tol, const char *what) {
    int64_t n = 2 * t * d;
    volt_tensor *cpu_in[3], *leaves[3], *gpu_in[3];
    for (int i = 0; i < 3; i++) {
        volt_tensor *flat = cpu_randn(VOLT_SHAPE(n + offset), dtype);
        cpu_in[i] = volt_requires_grad(
            volt_reshape(volt_to_dtype(volt_narrow(flat, 0, offset, n), VOLT_F32),
                         VOLT_SHAPE(1, 2, t, d)),
            true);
        leaves[i] = volt_requires_grad(gpu(flat), true);
        gpu_in[i] = volt_view(volt_narrow(leaves[i], 0, offset, n), VOLT_SHAPE(1, 2, t, d));
        assert_non_null(gpu_in[i]);
        assert_int_equal(gpu_in[i]->offset, offset);
    }
    volt_tensor *want =
        volt_scaled_dot_product_attention(cpu_in[0], cpu_in[1], cpu_in[2], causal, 0);
    volt_tensor *got =
        volt_scaled_dot_product_attention(gpu_in[0], gpu_in[1], gpu_in[2], causal, 0);
    if (!got) fail_msg("%s: %s", what, volt_error_message());
    double e = rel_err(got, want);
    if (!(e < tol)) fail_msg("%s: output relative error %g (tolerance %g)", what, e, tol);
    volt_tensor *g = cpu_randn(want->ndim, want->shape, dtype);
    assert_int_equal(volt_backward_ex(want, volt_to_dtype(g, VOLT_F32), false), VOLT_OK);
    if (volt_backward_ex(got, gpu(g), false) != VOLT_OK)
        fail_msg("%s: backward: %s", what, volt_error_message());
    for (int i = 0; i < 3; i++) {
        volt_tensor *gi = volt_narrow(leaves[i]->grad, 0, offset, n);
        e = rel_err(gi, cpu_in[i]->grad);
        if (!(e < tol))
            fail_msg("%s: gradient %d relative error %g (tolerance %g)", what, i, e, tol);
    }
}

static void test_flash_long(void **state) {
    (void)state;
    check_long(1024, 64, VOLT_BF16, true, 0, 1e-2, "bf16 T=1024 D=64 causal");
    check_long(1024, 64, VOLT_BF16, false, 0, 1e-2, "bf16 T=1024 D=64");
    check_long(300, 128, VOLT_F16, true, 0, 2e-3, "f16 T=300 D=128 causal");
    check_long(200, 64, VOLT_BF16, true, 1, 1e-2, "bf16 misaligned");
}

/* Counts the products traced while installed. */
static void count_begin(void *ctx, const char *name) {
    if (strcmp(name, "matmul") == 0) ++*(int *)ctx;
}
static void count_end(void *ctx) { (void)ctx; }

/* A GPT's heads: views of one [B, T, 3 * H * D] projection, chunked,
 * reshaped to [B, T, H, D] and transposed to [B, H, T, D]. */
static volt_tensor *gpt_attention(const volt_tensor *x, int64_t h) {
    int64_t b = x->shape[0], t = x->shape[1], e = x->shape[2] / 3;
    volt_tensor *heads[3];
    assert_int_equal(volt_chunk(x, 3, -1, heads, 3), 3);
    for (int i = 0; i < 3; i++)
        heads[i] = volt_transpose(volt_reshape(heads[i], VOLT_SHAPE(b, t, h, e / h)), 1, 2);
    return volt_scaled_dot_product_attention(heads[0], heads[1], heads[2], true, 0);
}

/* Head views go to the fused kernels (copied contiguous; no [T, S]
 * product), in f32 and, under bf16 autocast, in bf16 with a bf16 result. */
static void test_head_views_and_autocast(void **state) {
    (void)state;
    const int64_t b = 2, t = 129, h = 2, d = 64;
    volt_tensor *x = cpu_randn(VOLT_SHAPE(b, t, 3 * h * d), VOLT_F32);
    volt_tensor *g = cpu_randn(VOLT_SHAPE(b, h, t, d), VOLT_F32);
    volt_tensor *cx = volt_requires_grad(volt_clone(x), true);
    volt_tensor *want = gpt_attention(cx, h);
    assert_int_equal(volt_backward_ex(want, g, false), VOLT_OK);
    for (int autocast = 0; autocast < 2; autocast++) {
        const char *what = autocast ? "autocast head views" : "f32 head views";
        volt_tensor *leaf = volt_requires_grad(volt_clone(x), true);
        int products = 0;
        volt_trace_hook hook = {count_begin, count_end, &products};
        volt_autocast_mode prev =
            volt_autocast_set(autocast ? VOLT_AUTOCAST_BF16 : VOLT_AUTOCAST_OFF);
        const volt_trace_hook *old = volt_trace_hook_set(&hook);
        volt_tensor *got = gpt_attention(gpu(leaf), h);
        volt_trace_hook_set(old);
        volt_autocast_set(prev);
        if (!got) fail_msg("%s: %s", what, volt_error_message());
        assert_int_equal(got->dtype, autocast ? VOLT_BF16 : VOLT_F32);
        assert_int_equal(products, 0);
        if (volt_backward_ex(got, gpu(g), false) != VOLT_OK)
            fail_msg("%s: backward: %s", what, volt_error_message());
        if (autocast) { /* bf16 inputs and probabilities: norm-wise */
            double e = rel_err(got, want), eg = rel_err(leaf->grad, cx->grad);
            if (!(e < 1e-2 && eg < 1e-2))
                fail_msg("%s: relative error %g, gradient %g (tolerance 1e-2)", what, e, eg);
        } else {
            VT_ASSERT_SAME_VALUES(got, want, 2e-5, 2e-5, what);
            VT_ASSERT_SAME_VALUES(leaf->grad, cx->grad, 2e-5, 4e-5, what);
        }
    }
}

/* Counts attention_qkv's and scaled_dot_product_attention's traced calls. */
static void count_attention(void *ctx, const char *name) {
    int *n = ctx;
    if (strcmp(name, "attention_qkv") == 0) n[0]++;
    if (strcmp(name, "scaled_dot_product_attention") == 0) n[1]++;
}

/* volt_attention_qkv on CUDA against the CPU (its composition, in f32 on
 * the same rounded inputs): fused under bf16 autocast, in bf16 and in f16 at
 * head dims 64 and 128 (no scaled_dot_product_attention runs, the gradient
 * reaches qkv in its dtype), the composition at head dim 32; causal or not,
 * batched or [T, 3E]. */
static void check_qkv(int64_t b, int64_t t, int64_t h, int64_t d, bool causal, volt_dtype dtype,
                      bool autocast) {
    char what[128];
    snprintf(what, sizeof what, "attention_qkv b %lld t %lld h %lld d %lld causal %d %s%s",
             (long long)b, (long long)t, (long long)h, (long long)d, causal, volt_dtype_name(dtype),
             autocast ? " autocast" : "");
    volt_tensor *x = b ? cpu_randn(VOLT_SHAPE(b, t, 3 * h * d), VOLT_F32)
                       : cpu_randn(VOLT_SHAPE(t, 3 * h * d), VOLT_F32);
    volt_tensor *g = b ? cpu_randn(VOLT_SHAPE(b, t, h * d), VOLT_F32)
                       : cpu_randn(VOLT_SHAPE(t, h * d), VOLT_F32);
    volt_dtype in = autocast ? VOLT_F32 : dtype;
    volt_tensor *x_in = volt_to_dtype(x, in), *g_in = volt_to_dtype(g, in);
    volt_tensor *cx = volt_requires_grad(
        volt_to_dtype(autocast ? volt_to_dtype(x, VOLT_BF16) : x_in, VOLT_F32), true);
    volt_tensor *want = volt_attention_qkv(cx, h, causal, 0);
    assert_non_null(want);
    assert_int_equal(volt_backward_ex(want, volt_to_dtype(g_in, VOLT_F32), false), VOLT_OK);
    volt_tensor *leaf = volt_requires_grad(gpu(x_in), true);
    int calls[2] = {0, 0};
    volt_trace_hook hook = {count_attention, count_end, calls};
    volt_autocast_mode prev = volt_autocast_set(autocast ? VOLT_AUTOCAST_BF16 : VOLT_AUTOCAST_OFF);
    const volt_trace_hook *old = volt_trace_hook_set(&hook);
    volt_tensor *got = volt_attention_qkv(leaf, h, causal, 0);
    volt_trace_hook_set(old);
    volt_autocast_set(prev);
    if (!got) fail_msg("%s: %s", what, volt_error_message());
    assert_int_equal(got->dtype, autocast ? VOLT_BF16 : in); /* autocast: a bf16 result */
    assert_int_equal(got->ndim, x->ndim);
    assert_int_equal(calls[0], 1);
    bool fused = d == 64 || d == 128;
    if (fused ? calls[1] != 0 : calls[1] < 1)
        fail_msg("%s: scaled_dot_product_attention ran %d times (fused %d)", what, calls[1], fused);
    if (volt_backward_ex(got, gpu(g_in), false) != VOLT_OK)
        fail_msg("%s: backward: %s", what, volt_error_message());
    assert_int_equal(leaf->grad->dtype, in);
    volt_tensor *got32 = volt_to_dtype(volt_to_device(got, VOLT_DEVICE_CPU), VOLT_F32);
    volt_tensor *grad32 = volt_to_dtype(volt_to_device(leaf->grad, VOLT_DEVICE_CPU), VOLT_F32);
    double e = rel_err(got32, want), eg = rel_err(grad32, cx->grad);
    double tol = dtype == VOLT_F16 && !autocast ? 4e-3 : 1e-2; /* 16-bit probabilities */
    if (!(e < tol && eg < tol))
        fail_msg("%s: relative error %g, gradient %g (tolerance %g)", what, e, eg, tol);
}

static void test_attention_qkv(void **state) {
    (void)state;
    for (int c = 0; c < 2; c++) {
        check_qkv(2, 129, 2, 64, c, VOLT_BF16, true);
        check_qkv(2, 70, 3, 128, c, VOLT_BF16, false);
        check_qkv(1, 100, 2, 64, c, VOLT_F16, false);
    }
    check_qkv(0, 65, 2, 64, true, VOLT_BF16, true); /* [T, 3E] */
    check_qkv(2, 33, 2, 32, true, VOLT_BF16, true); /* head dim 32: composed */
}

static volt_tensor *gpu_attention(volt_tensor **in, void *ctx) {
    bool causal = *(bool *)ctx;
    return volt_to_device(
        volt_scaled_dot_product_attention(gpu(in[0]), gpu(in[1]), gpu(in[2]), causal, 0.7),
        VOLT_DEVICE_CPU);
}

static void test_gradcheck_f64(void **state) {
    (void)state;
    for (int c = 0; c < 2; c++) {
        bool causal = c;
        volt_tensor *in[3] = {
            volt_requires_grad(cpu_randn(VOLT_SHAPE(2, 5, 4), VOLT_F64), true),
            volt_requires_grad(cpu_randn(VOLT_SHAPE(2, 6, 4), VOLT_F64), true),
            volt_requires_grad(cpu_randn(VOLT_SHAPE(2, 6, 3), VOLT_F64), true),
        };
        if (volt_gradcheck(gpu_attention, &causal, 3, in, NULL) != VOLT_OK)
            fail_msg("gradcheck (causal %d): %s", c, volt_error_message());
    }
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_attention");
    gen = volt_generator_make(99, 0);
    /* The cuBLASLt workspace stays allocated once made: make it before the
     * tests count device memory. */
    volt_tensor *w = volt_tensor_new(VOLT_F32, VT_CUDA0, VOLT_SHAPE(2, 2));
    if (!w || volt_cuda_gemm(w, w, w, 1, 0, VOLT_GEMM_PLAIN, NULL) != VOLT_OK) {
        printf("cuda/test_cuda_attention: the warm-up matmul failed: %s\n", volt_error_message());
        return 1;
    }
    volt_tensor_free(w);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_flash_f32),     VT_CUDA_TEST(test_flash_16bit),
        VT_CUDA_TEST(test_flash_long),    VT_CUDA_TEST(test_reference_path),
        VT_CUDA_TEST(test_gradcheck_f64), VT_CUDA_TEST(test_head_views_and_autocast),
        VT_CUDA_TEST(test_attention_qkv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
