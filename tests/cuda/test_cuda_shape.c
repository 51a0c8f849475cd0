/* test_cuda_shape.c (needs a GPU; skipped without one): copies and layout
 * ops on CUDA against the CPU — contiguous of transposed, permuted,
 * expanded and stepped views; to_dtype between all 8 dtypes; copy_ with
 * broadcast, conversion and strided destinations on the device and across
 * devices; reshape/flatten that must copy; cat and stack (mixed dtypes) and
 * their gradients; slice and narrow gradients; repeat. Exact: these ops
 * move or convert values as the CPU does. */
#include "cuda_test.h"

static volt_generator gen;

static volt_tensor *gpu(const volt_tensor *t) { return volt_to_device(t, VT_CUDA0); }
static volt_tensor *cpu(const volt_tensor *t) { return volt_to_device(t, VOLT_DEVICE_CPU); }

/* Small integers (exact in every dtype) as dtype; bool: odd ones. */
static volt_tensor *ints(int ndim, const int64_t *shape, volt_dtype dtype) {
    volt_tensor *t = volt_randn(ndim, shape, VOLT_F64, &gen);
    t = volt_clamp(volt_mul_scalar(t, 20), dtype == VOLT_U8 ? 0 : -100, 100);
    t = volt_to_dtype(volt_to_dtype(t, VOLT_I64), VOLT_F64); /* integral */
    if (dtype == VOLT_BOOL) return volt_gt(t, volt_scalar(0, VOLT_F64));
    return volt_to_dtype(t, dtype);
}

static const volt_dtype all_dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16,
                                        VOLT_I64, VOLT_I32, VOLT_U8,   VOLT_BOOL};

static void test_contiguous_of_views(void **state) {
    (void)state;
    for (size_t d = 0; d < 8; d++) {
        volt_scope_begin();
        volt_tensor *x = ints(VOLT_SHAPE(3, 5, 7, 2), all_dtypes[d]);
        volt_tensor *g = gpu(x);
        const char *name = volt_dtype_name(all_dtypes[d]);
        VT_ASSERT_SAME_VALUES(volt_contiguous(volt_transpose(g, 1, 2)),
                              volt_contiguous(volt_transpose(x, 1, 2)), 0, 0, name);
        volt_tensor *p = volt_contiguous(volt_permute(g, 4, (int[]){3, 0, 2, 1}));
        assert_true(volt_tensor_is_contiguous(p));
        VT_ASSERT_SAME_VALUES(p, volt_permute(x, 4, (int[]){3, 0, 2, 1}), 0, 0, name);
        VT_ASSERT_SAME_VALUES(volt_contiguous(volt_slice(g, 2, 1, 7, 3)), volt_slice(x, 2, 1, 7, 3),
                              0, 0, name);
        volt_tensor *e = volt_expand(volt_narrow(g, 0, 1, 1), VOLT_SHAPE(2, 4, 5, 7, 2));
        VT_ASSERT_SAME_VALUES(volt_contiguous(e),
                              volt_expand(volt_narrow(x, 0, 1, 1), VOLT_SHAPE(2, 4, 5, 7, 2)), 0, 0,
                              name);
        volt_scope_end();
    }
    /* A large transposed matrix (the 32- and 64-bit loops agree). */
    volt_tensor *m = ints(VOLT_SHAPE(1000, 1003), VOLT_F32);
    VT_ASSERT_SAME_VALUES(volt_contiguous(volt_transpose(gpu(m), 0, 1)), volt_transpose(m, 0, 1), 0,
                          0, "[1003, 1000] transposed");
}

static void test_to_dtype_all_pairs(void **state) {
    (void)state;
    for (size_t i = 0; i < 8; i++) {
        volt_tensor *x = ints(VOLT_SHAPE(5, 13), all_dtypes[i]);
        volt_tensor *g = gpu(x);
        for (size_t j = 0; j < 8; j++) {
            volt_tensor *got = volt_to_dtype(g, all_dtypes[j]);
            assert_non_null(got);
            assert_int_equal(got->dtype, all_dtypes[j]);
            /* The CPU has no f16 ops but converts to and from it. */
            VT_ASSERT_SAME_VALUES(got, volt_to_dtype(x, all_dtypes[j]), 0, 0,
                                  volt_dtype_name(all_dtypes[j]));
            VT_ASSERT_SAME_VALUES(volt_to_dtype(volt_transpose(g, 0, 1), all_dtypes[j]),
                                  volt_to_dtype(volt_transpose(x, 0, 1), all_dtypes[j]), 0, 0,
                                  "strided");
        }
    }
    /* Rounding to bf16/f16 matches the CPU's (nearest even). */
    volt_tensor *f = volt_randn(VOLT_SHAPE(1000), VOLT_F32, &gen);
    VT_ASSERT_SAME_VALUES(volt_to_dtype(gpu(f), VOLT_BF16), volt_to_dtype(f, VOLT_BF16), 0, 0,
                          "bf16");
    VT_ASSERT_SAME_VALUES(volt_to_dtype(gpu(f), VOLT_F16), volt_to_dtype(f, VOLT_F16), 0, 0, "f16");
    volt_tensor *d = volt_randn(VOLT_SHAPE(1000), VOLT_F64, &gen);
    VT_ASSERT_SAME_VALUES(volt_to_dtype(gpu(d), VOLT_BF16), volt_to_dtype(d, VOLT_BF16), 0, 0,
                          "f64 -> bf16");
}

static void test_copy_(void **state) {
    (void)state;
    volt_tensor *row = ints(VOLT_SHAPE(3), VOLT_F64);
    /* Broadcast and convert on the device, into a transposed destination. */
    volt_tensor *dst = gpu(volt_zeros(VOLT_SHAPE(3, 4), VOLT_BF16));
    assert_non_null(volt_copy_(volt_transpose(dst, 0, 1), gpu(row)));
    volt_tensor *want = volt_zeros(VOLT_SHAPE(3, 4), VOLT_BF16);
    volt_copy_(volt_transpose(want, 0, 1), row);
    VT_ASSERT_SAME_VALUES(dst, want, 0, 0, "copy_ broadcast into a view");
    /* From a strided CPU tensor, converting, broadcasting. */
    volt_tensor *src = ints(VOLT_SHAPE(6, 1, 5), VOLT_I32);
    volt_tensor *d2 = gpu(volt_zeros(VOLT_SHAPE(5, 4, 6), VOLT_F32));
    assert_non_null(volt_copy_(d2, volt_permute(src, 3, (int[]){2, 1, 0})));
    volt_tensor *w2 = volt_zeros(VOLT_SHAPE(5, 4, 6), VOLT_F32);
    volt_copy_(w2, volt_permute(src, 3, (int[]){2, 1, 0}));
    VT_ASSERT_SAME_VALUES(d2, w2, 0, 0, "copy_ from the CPU");
    /* Into a strided CPU tensor from the device. */
    volt_tensor *host = volt_zeros(VOLT_SHAPE(6, 5), VOLT_F64);
    volt_tensor *plane = volt_reshape(volt_narrow(d2, 1, 2, 1), VOLT_SHAPE(5, 6));
    assert_non_null(volt_copy_(volt_transpose(host, 0, 1), plane));
    VT_ASSERT_SAME_VALUES(
        host, volt_transpose(volt_reshape(volt_narrow(w2, 1, 2, 1), VOLT_SHAPE(5, 6)), 0, 1), 0, 0,
        "copy_ to the CPU");
    assert_null(volt_copy_(dst, gpu(volt_ones(VOLT_SHAPE(5), VOLT_F32))));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "copy_: [3,4] and [5]: shapes cannot be broadcast");
}

static void test_reshape_that_copies(void **state) {
    (void)state;
    volt_tensor *x = ints(VOLT_SHAPE(4, 6), VOLT_F32);
    volt_tensor *g = volt_requires_grad(gpu(x), true);
    volt_tensor *r = volt_reshape(volt_transpose(g, 0, 1), VOLT_SHAPE(3, 8));
    assert_non_null(r);
    VT_ASSERT_SAME_VALUES(r, volt_reshape(volt_transpose(x, 0, 1), VOLT_SHAPE(3, 8)), 0, 0,
                          "reshape");
    VT_ASSERT_SAME_VALUES(volt_flatten(volt_transpose(g, 0, 1), 0, 1),
                          volt_flatten(volt_transpose(x, 0, 1), 0, 1), 0, 0, "flatten");
    volt_tensor *w = ints(VOLT_SHAPE(3, 8), VOLT_F32);
    assert_int_equal(volt_backward(volt_sum_all(cpu(volt_mul(r, gpu(w))))), VOLT_OK);
    VT_ASSERT_SAME_VALUES(g->grad, volt_transpose(volt_reshape(w, VOLT_SHAPE(6, 4)), 0, 1), 0, 0,
                          "d reshape");
}

static void test_cat_stack(void **state) {
    (void)state;
    volt_tensor *a = ints(VOLT_SHAPE(2, 3), VOLT_F32), *b = ints(VOLT_SHAPE(4, 3), VOLT_BF16);
    volt_tensor *c = ints(VOLT_SHAPE(3, 2), VOLT_F32);
    volt_tensor *ga = volt_requires_grad(gpu(a), true), *gb = volt_requires_grad(gpu(b), true);
    volt_tensor *got = volt_cat(3, (volt_tensor *[]){ga, gb, volt_transpose(gpu(c), 0, 1)}, 0);
    assert_int_equal(got->dtype, VOLT_F32);
    VT_ASSERT_SAME_VALUES(got, volt_cat(3, (volt_tensor *[]){a, b, volt_transpose(c, 0, 1)}, 0), 0,
                          0, "cat dim 0");
    VT_ASSERT_SAME_VALUES(volt_cat(2, (volt_tensor *[]){volt_transpose(ga, 0, 1), gpu(c)}, 1),
                          volt_cat(2, (volt_tensor *[]){volt_transpose(a, 0, 1), c}, 1), 0, 0,
                          "cat dim 1");
    VT_ASSERT_SAME_VALUES(volt_stack(2, (volt_tensor *[]){ga, ga}, 1),
                          volt_stack(2, (volt_tensor *[]){a, a}, 1), 0, 0, "stack");
    volt_tensor *w = ints(VOLT_SHAPE(8, 3), VOLT_F32);
    assert_int_equal(volt_backward(volt_sum_all(cpu(volt_mul(got, gpu(w))))), VOLT_OK);
    VT_ASSERT_SAME_VALUES(ga->grad, volt_narrow(w, 0, 0, 2), 0, 0, "d cat / da");
    assert_int_equal(gb->grad->dtype, VOLT_BF16);
    VT_ASSERT_SAME_VALUES(gb->grad, volt_to_dtype(volt_narrow(w, 0, 2, 4), VOLT_BF16), 0, 0,
                          "d cat / db");
}

static void test_slice_gradients_and_repeat(void **state) {
    (void)state;
    volt_tensor *x = ints(VOLT_SHAPE(4, 7), VOLT_F64);
    volt_tensor *g = volt_requires_grad(gpu(x), true);
    volt_tensor *s = volt_slice(g, 1, 1, 7, 2); /* [4, 3] */
    volt_tensor *w = ints(VOLT_SHAPE(4, 3), VOLT_F64);
    assert_int_equal(volt_backward(volt_sum_all(cpu(volt_mul(s, gpu(w))))), VOLT_OK);
    volt_tensor *cx = volt_requires_grad(volt_clone(x), true);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(volt_slice(cx, 1, 1, 7, 2), w))), VOLT_OK);
    VT_ASSERT_SAME_VALUES(g->grad, cx->grad, 0, 0, "d slice");
    const volt_dtype dts[] = {VOLT_F32, VOLT_BF16, VOLT_I64, VOLT_BOOL};
    for (size_t d = 0; d < 4; d++) {
        volt_tensor *y = ints(VOLT_SHAPE(2, 3), dts[d]);
        VT_ASSERT_SAME_VALUES(volt_repeat(gpu(y), VOLT_SHAPE(2, 3, 1)),
                              volt_repeat(y, VOLT_SHAPE(2, 3, 1)), 0, 0, "repeat");
        VT_ASSERT_SAME_VALUES(volt_repeat(volt_transpose(gpu(y), 0, 1), VOLT_SHAPE(1, 2)),
                              volt_repeat(volt_transpose(y, 0, 1), VOLT_SHAPE(1, 2)), 0, 0,
                              "repeat of a view");
    }
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_shape");
    gen = volt_generator_make(99, 5);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_contiguous_of_views),
        VT_CUDA_TEST(test_to_dtype_all_pairs),
        VT_CUDA_TEST(test_copy_),
        VT_CUDA_TEST(test_reshape_that_copies),
        VT_CUDA_TEST(test_cat_stack),
        VT_CUDA_TEST(test_slice_gradients_and_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
