/* test_embedding_op.c: volt_embedding — row lookups (i64 and i32 indices of
 * any rank, strided weights), the gradient's scatter-add of repeated rows,
 * the padding row (also counted from the end) kept at zero gradient,
 * thread-count independence, a float64 gradcheck and the error paths. */
#include "volt_test.h"

#include <math.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, ...)                                                                             \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), 0, 1e-6)

/* weight[r][c] = 10 r + c, [4, 3]. */
static volt_tensor *table(volt_dtype dtype) {
    double v[12];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++) v[r * 3 + c] = 10 * r + c;
    volt_tensor *t = volt_from_array(v, VOLT_F64, VOLT_SHAPE(4, 3));
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

static volt_tensor *idx64(int ndim, const int64_t *shape, const int64_t *v) {
    return volt_from_array(v, VOLT_I64, ndim, shape);
}

static void test_embedding_values(void **state) {
    (void)state;
    volt_tensor *w = table(VOLT_F32);
    volt_tensor *y = volt_embedding(w, idx64(VOLT_SHAPE(2, 2), (const int64_t[]){0, 2, 3, 2}),
                                    VOLT_NO_PADDING_IDX);
    VT_ASSERT_SHAPE(y, 2, 2, 3);
    assert_int_equal(y->dtype, VOLT_F32);
    EXPECT(y, 0, 1, 2, 20, 21, 22, 30, 31, 32, 20, 21, 22);
    /* i32 indices, f64 weight, 0-d index. */
    int32_t i32[3] = {1, 1, 0};
    y = volt_embedding(table(VOLT_F64), volt_from_array(i32, VOLT_I32, VOLT_SHAPE(3)), 1);
    VT_ASSERT_SHAPE(y, 3, 3);
    EXPECT(y, 10, 11, 12, 10, 11, 12, 0, 1, 2);
    int64_t three = 3;
    y = volt_embedding(w, volt_from_array(&three, VOLT_I64, 0, NULL), VOLT_NO_PADDING_IDX);
    VT_ASSERT_SHAPE(y, 3);
    EXPECT(y, 30, 31, 32);
    /* A strided weight: the transpose of a [3, 4] table. */
    volt_tensor *wt = volt_transpose(volt_contiguous(volt_transpose(w, 0, 1)), 0, 1);
    assert_false(volt_tensor_is_contiguous(wt));
    EXPECT(volt_embedding(wt, idx64(VOLT_SHAPE(2), (const int64_t[]){3, 1}), VOLT_NO_PADDING_IDX),
           30, 31, 32, 10, 11, 12);
    /* Empty indices. */
    y = volt_embedding(w, volt_zeros(VOLT_SHAPE(0, 2), VOLT_I64), VOLT_NO_PADDING_IDX);
    VT_ASSERT_SHAPE(y, 0, 2, 3);
    VT_ASSERT_NO_ERROR();
}

/* d(sum(y * g))/dw: row r collects the rows of g whose index is r. */
static void test_embedding_gradient_scatter_adds(void **state) {
    (void)state;
    const int64_t iv[5] = {2, 0, 2, 3, 2};
    double gv[15];
    for (int i = 0; i < 15; i++) gv[i] = i + 1; /* rows [1,2,3], [4,5,6], ... */
    volt_tensor *g = volt_from_array(gv, VOLT_F64, VOLT_SHAPE(5, 3));
    for (int pad = 0; pad < 3; pad++) {
        volt_tensor *w = volt_requires_grad(table(VOLT_F64), true);
        int64_t padding = pad == 0 ? VOLT_NO_PADDING_IDX : pad == 1 ? 2 : -2;
        volt_tensor *y = volt_embedding(w, idx64(VOLT_SHAPE(5), iv), padding);
        assert_int_equal(volt_backward_ex(y, g, false), VOLT_OK);
        /* row 0: g row 1 = [4,5,6]; row 2: rows 0, 2, 4 = [1+7+13, 2+8+14, 3+9+15];
         * row 3: row 3 = [10,11,12]; row 1 never picked. Padding 2 (or -2,
         * counted from the end of 4 rows) keeps row 2 at zero. */
        if (pad == 0)
            EXPECT(w->grad, 4, 5, 6, 0, 0, 0, 21, 24, 27, 10, 11, 12);
        else
            EXPECT(w->grad, 4, 5, 6, 0, 0, 0, 0, 0, 0, 10, 11, 12);
    }
    /* The forward still reads the padding row (PyTorch does too). */
    EXPECT(volt_embedding(table(VOLT_F32), idx64(VOLT_SHAPE(1), (const int64_t[]){2}), 2), 20, 21,
           22);
    VT_ASSERT_NO_ERROR();
}

static void test_embedding_thread_count_independent(void **state) {
    (void)state;
    volt_generator gen = volt_generator_make(4, 0);
    volt_tensor *idx = volt_randint(0, 50, VOLT_SHAPE(4000), VOLT_I64, &gen);
    volt_tensor *g = volt_randn(VOLT_SHAPE(4000, 200), VOLT_F32, &gen);
    volt_tensor *w = volt_requires_grad(volt_randn(VOLT_SHAPE(50, 200), VOLT_F32, &gen), true);
    volt_tensor *grads[2];
    int threads = volt_get_num_threads();
    for (int run = 0; run < 2; run++) {
        volt_set_num_threads(run == 0 ? 1 : (threads > 1 ? threads : 2));
        assert_int_equal(volt_backward_ex(volt_embedding(w, idx, 7), g, false), VOLT_OK);
        grads[run] = volt_clone(w->grad);
        volt_tensor_clear_grad(w);
    }
    volt_set_num_threads(threads);
    for (int64_t i = 0; i < 50 * 200; i++)
        assert_true(volt_tensor_get_flat(grads[0], i) == volt_tensor_get_flat(grads[1], i));
    for (int64_t c = 0; c < 200; c++) assert_true(volt_tensor_get_flat(grads[0], 7 * 200 + c) == 0);
    VT_ASSERT_NO_ERROR();
}

typedef struct {
    volt_tensor *idx;
    int64_t padding;
} emb_ctx;

static volt_tensor *embedding_fn(volt_tensor **in, void *vctx) {
    emb_ctx *c = vctx;
    return volt_embedding(in[0], c->idx, c->padding);
}

static void test_embedding_gradcheck(void **state) {
    (void)state;
    emb_ctx c = {idx64(VOLT_SHAPE(2, 3), (const int64_t[]){1, 4, 1, 0, 4, 4}), VOLT_NO_PADDING_IDX};
    VT_GRADCHECK(embedding_fn, &c, 1, vt_leaf(VOLT_SHAPE(5, 3), 1, 1.0, 0.0));
    /* A padding row that no index picks (the padding row's gradient is zero by
     * definition, which a finite difference would not see). */
    c.padding = 2;
    VT_GRADCHECK(embedding_fn, &c, 1, vt_leaf_strided(VOLT_SHAPE(5, 3), 2, 1.0, 0.0));
}

static void test_embedding_errors(void **state) {
    (void)state;
    volt_tensor *w = table(VOLT_F32);
    volt_tensor *idx = idx64(VOLT_SHAPE(2), (const int64_t[]){0, 1});
    assert_null(volt_embedding(NULL, idx, VOLT_NO_PADDING_IDX));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "embedding: argument 'weight' is NULL");
    assert_null(volt_embedding(w, NULL, VOLT_NO_PADDING_IDX));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "embedding: argument 'indices' is NULL");
    assert_null(volt_embedding(volt_zeros(VOLT_SHAPE(4), VOLT_F32), idx, VOLT_NO_PADDING_IDX));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "embedding: weight must be 2-D [num_embeddings, dim], got f32[4]");
    assert_null(volt_embedding(volt_zeros(VOLT_SHAPE(4, 3), VOLT_I64), idx, VOLT_NO_PADDING_IDX));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "embedding: i64[4,3] is not supported");
    assert_null(volt_embedding(w, volt_zeros(VOLT_SHAPE(2), VOLT_F32), VOLT_NO_PADDING_IDX));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "embedding: indices must be i64 or i32, got f32[2]");
    assert_null(
        volt_embedding(w, idx64(VOLT_SHAPE(3), (const int64_t[]){0, 4, 1}), VOLT_NO_PADDING_IDX));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "embedding: index 4 is out of range for weight f32[4,3]");
    assert_null(
        volt_embedding(w, idx64(VOLT_SHAPE(1), (const int64_t[]){-1}), VOLT_NO_PADDING_IDX));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "index -1 is out of range");
    assert_null(volt_embedding(w, idx, 4));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "embedding: padding_idx 4 is out of range for weight f32[4,3]");
    assert_null(volt_embedding(w, idx, -5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "padding_idx -5");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_embedding_values),
        VT_TEST(test_embedding_gradient_scatter_adds),
        VT_TEST(test_embedding_thread_count_independent),
        VT_TEST(test_embedding_gradcheck),
        VT_TEST(test_embedding_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
