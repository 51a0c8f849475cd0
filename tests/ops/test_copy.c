/* test_copy.c: the copy kernel's fast paths held to plain element reads —
 * the tiled copy of transposed matrices (sizes that are and are not
 * multiples of the tile, f32 and f64, above and below the size threshold),
 * and dtype conversions. */
#include "volt_test.h"

static void check_transposed_copy(int64_t rows, int64_t cols, volt_dtype dtype) {
    volt_scope_begin();
    /* base [cols, rows] contiguous; its transpose is [rows, cols] with
     * strides (1, rows). */
    volt_tensor *base = volt_arange(0, (double)(rows * cols), 1, dtype);
    volt_tensor *t = volt_transpose(volt_reshape(base, VOLT_SHAPE(cols, rows)), 0, 1);
    assert_false(volt_tensor_is_contiguous(t));
    volt_tensor *c = volt_contiguous(t);
    assert_true(volt_tensor_is_contiguous(c));
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            if (volt_tensor_get(c, (int64_t[]){i, j}) != (double)(j * rows + i))
                fail_msg("%lldx%lld %s: element (%lld, %lld)", (long long)rows, (long long)cols,
                         volt_dtype_name(dtype), (long long)i, (long long)j);
    volt_scope_end();
}

static void test_transposed_copies(void **state) {
    (void)state;
    int64_t sizes[][2] = {{784, 512}, {513, 257}, {33, 200}, {64, 64}, {3, 5000}, {7, 9}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        check_transposed_copy(sizes[k][0], sizes[k][1], VOLT_F32);
        check_transposed_copy(sizes[k][0], sizes[k][1], VOLT_F64);
    }
    /* A transposed slice (leading dimension larger than the rows). */
    volt_tensor *base = volt_arange(0, 100 * 80, 1, VOLT_F32);
    volt_tensor *m = volt_reshape(base, VOLT_SHAPE(100, 80));
    volt_tensor *s = volt_transpose(volt_narrow(m, 1, 0, 70), 0, 1); /* [70, 100], ld 80 */
    volt_tensor *c = volt_contiguous(s);
    for (int64_t i = 0; i < 70; i++)
        for (int64_t j = 0; j < 100; j++)
            assert_true(volt_tensor_get(c, (int64_t[]){i, j}) == (double)(j * 80 + i));
}

static void test_leaf_gradients_never_share_storage(void **state) {
    (void)state;
    /* add hands the same gradient tensor to both inputs: one leaf may keep
     * it, the other must get its own copy. */
    volt_tensor *a = volt_requires_grad(volt_ones(VOLT_SHAPE(300), VOLT_F32), true);
    volt_tensor *b = volt_requires_grad(volt_ones(VOLT_SHAPE(300), VOLT_F32), true);
    assert_int_equal(volt_backward(volt_sum_all(volt_add(a, b))), VOLT_OK);
    assert_true(a->grad->storage != b->grad->storage);
    VOLT_NO_GRAD { volt_mul_scalar_(a->grad, 5.0); }
    assert_true(volt_tensor_get_flat(b->grad, 0) == 1.0);
    assert_true(volt_tensor_get_flat(a->grad, 0) == 5.0);
    /* The caller's grad_output flows through add unchanged; the leaf gets its
     * own copy, not the caller's tensor. */
    volt_tensor *x = volt_requires_grad(volt_zeros(VOLT_SHAPE(300), VOLT_F32), true);
    volt_tensor *go = volt_persist(volt_full(VOLT_SHAPE(300), 2.0, VOLT_F32));
    assert_int_equal(volt_backward_ex(volt_add(x, b), go, false), VOLT_OK);
    assert_true(x->grad->storage != go->storage);
    volt_fill_(go, 9.0);
    assert_true(volt_tensor_get_flat(x->grad, 0) == 2.0);
    volt_tensor_free(go);
    /* A gradient that is a view of a live tensor is copied, not kept. */
    volt_tensor *w = volt_requires_grad(volt_ones(VOLT_SHAPE(20, 30), VOLT_F32), true);
    volt_tensor *in = volt_ones(VOLT_SHAPE(8, 20), VOLT_F32);
    assert_int_equal(volt_backward(volt_sum_all(volt_matmul(in, w))), VOLT_OK);
    assert_true(volt_tensor_is_contiguous(w->grad));
    VT_ASSERT_CLOSE(volt_sum_all(w->grad), ((double[]){8 * 20 * 30}), 1, 0, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_transposed_copies),
        VT_TEST(test_leaf_gradients_never_share_storage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
