/* test_cuda_index.c (needs a GPU; skipped without one): the CUDA embedding
 * and index ops against the CPU's f64 results on the same values —
 * embedding (row widths taking the 16-byte vector path and not, repeated
 * indices, padding_idx, i32 indices, an out-of-range index giving a NaN
 * row), index_select, gather, scatter_add (a and src gradients, src
 * larger than the index, integer dtypes), masked_fill (broadcast mask, in
 * place), tril / triu and one_hot — in f32, f64, bf16 and f16 where the op
 * takes them, forward (exact: copies) and gradients (sums of repeated
 * indices by atomics: f32 1e-5, bf16 1e-2, f16 2e-3 relative; f64
 * gradcheck through the device); a refused dtype named. */
#include "cuda_test.h"

static volt_generator gen;

static double rtol_of(volt_dtype d) {
    return d == VOLT_BF16 ? 1e-2 : d == VOLT_F16 ? 2e-3 : d == VOLT_F32 ? 1e-5 : 1e-12;
}

static volt_tensor *values(int ndim, const int64_t *shape, volt_dtype dtype) {
    volt_tensor *t = volt_randn(ndim, shape, VOLT_F64, &gen);
    return volt_to_dtype(volt_to_dtype(t, dtype), VOLT_F64);
}

static volt_tensor *gpu(const volt_tensor *t) { return volt_to_device(t, VT_CUDA0); }

/* An op of one float input, with its other operands (indices, masks) on
 * the device of `on_gpu`. */
typedef struct {
    const volt_tensor *cpu[2], *dev[2];
    int dim;
    int64_t arg;
} operands;
typedef volt_tensor *(*op_fn)(const volt_tensor *a, const volt_tensor *const *o,
                              const operands *ctx);

/* f on the CPU in f64 and on CUDA in dtype from the same values a64:
 * forward exact (rtol 0: the ops copy), gradient of sum(f(a) * r). */
static void check(const char *what, op_fn f, const operands *o, volt_tensor *a64, volt_dtype dtype,
                  bool transposed) {
    volt_scope_begin();
    char name[160];
    snprintf(name, sizeof name, "%s %s", what, volt_dtype_name(dtype));
    /* a fresh leaf each call: a64 is shared by several checks */
    volt_tensor *ac = volt_requires_grad(
        transposed ? volt_contiguous(volt_transpose(a64, 0, 1)) : volt_tensor_detach(a64), true);
    volt_tensor *ag = volt_requires_grad(gpu(volt_to_dtype(volt_tensor_detach(ac), dtype)), true);
    const volt_tensor *inc = transposed ? volt_transpose(ac, 0, 1) : ac;
    const volt_tensor *ing = transposed ? volt_transpose(ag, 0, 1) : ag;
    volt_tensor *want = f(inc, o->cpu, o), *got = f(ing, o->dev, o);
    VT_ASSERT_NO_ERROR();
    assert_true(volt_device_equal(got->device, VT_CUDA0));
    VT_ASSERT_SAME_VALUES(got, want, 0.0, 0.0, name);
    volt_tensor *r = values(want->ndim, want->shape, dtype);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(want, r))), VOLT_OK);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(got, gpu(volt_to_dtype(r, dtype))))),
                     VOLT_OK);
    VT_ASSERT_NO_ERROR();
    snprintf(name, sizeof name, "%s %s gradient", what, volt_dtype_name(dtype));
    double rtol = rtol_of(dtype);
    VT_ASSERT_SAME_VALUES(ag->grad, ac->grad, rtol, rtol, name);
    volt_scope_end();
}

static const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};

/* An index tensor (CPU values) and its copy on the device. */
static void set_index(operands *o, int k, volt_tensor *idx) {
    o->cpu[k] = idx;
    o->dev[k] = gpu(idx);
}

static volt_tensor *idx_of(int ndim, const int64_t *shape, const int64_t *v, volt_dtype dtype) {
    volt_tensor *t = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, ndim, shape);
    memcpy(volt_tensor_data(t), v, (size_t)volt_tensor_numel(t) * sizeof *v);
    return dtype == VOLT_I64 ? t : volt_to_dtype(t, dtype);
}

/* -------------------------------------------------------------- embedding */

static volt_tensor *embedding_op(const volt_tensor *w, const volt_tensor *const *o,
                                 const operands *ctx) {
    return volt_embedding(w, o[0], ctx->arg);
}

static void test_embedding(void **state) {
    (void)state;
    const int64_t ishape[] = {3, 5}, iv[] = {4, 0, 3, 4, 4, 49, 3, 1, 0, 4, 2, 2, 3, 48, 4};
    const int64_t widths[] = {8, 7, 768};
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < 4; i++) {
            operands o = {.arg = VOLT_NO_PADDING_IDX};
            set_index(&o, 0, idx_of(2, ishape, iv, w == 1 ? VOLT_I32 : VOLT_I64));
            volt_tensor *w64 = values(VOLT_SHAPE(50, widths[w]), dtypes[i]);
            check(w == 0   ? "embedding width 8"
                  : w == 1 ? "embedding width 7 (i32 indices)"
                           : "embedding width 768",
                  embedding_op, &o, w64, dtypes[i], false);
            o.arg = 3;
            check("embedding padding_idx 3", embedding_op, &o, w64, dtypes[i], false);
            o.arg = -1;
            check("embedding padding_idx -1", embedding_op, &o, w64, dtypes[i], false);
        }
}

/* A CUDA index out of range reads a NaN row (never checked on the host). */
static void test_embedding_out_of_range(void **state) {
    (void)state;
    volt_tensor *w = gpu(volt_ones(VOLT_SHAPE(4, 8), VOLT_F32));
    volt_tensor *idx = gpu(idx_of(VOLT_SHAPE(3), (const int64_t[]){1, 4, -1}, VOLT_I64));
    volt_tensor *out = volt_embedding(w, idx, VOLT_NO_PADDING_IDX);
    VT_ASSERT_NO_ERROR();
    float v[24];
    assert_int_equal(volt_tensor_copy_to_array(out, VOLT_F32, v), VOLT_OK);
    for (int j = 0; j < 8; j++) {
        assert_true(v[j] == 1.0f);
        assert_true(isnan(v[8 + j]) && isnan(v[16 + j]));
    }
}

/* ------------------------------------------------------- index_select etc. */

static volt_tensor *index_select_op(const volt_tensor *a, const volt_tensor *const *o,
                                    const operands *ctx) {
    return volt_index_select(a, ctx->dim, o[0]);
}

static volt_tensor *gather_op(const volt_tensor *a, const volt_tensor *const *o,
                              const operands *ctx) {
    return volt_gather(a, ctx->dim, o[0]);
}

static volt_tensor *masked_fill_op(const volt_tensor *a, const volt_tensor *const *o,
                                   const operands *ctx) {
    (void)ctx;
    return volt_masked_fill(a, o[0], -2.5);
}

static volt_tensor *tril_op(const volt_tensor *a, const volt_tensor *const *o,
                            const operands *ctx) {
    (void)o;
    return ctx->dim ? volt_triu(a, ctx->arg) : volt_tril(a, ctx->arg);
}

static void test_index_select_gather(void **state) {
    (void)state;
    const int64_t sel[] = {4, 0, 4, 2, 4};
    const int64_t g1[] = {0, 5, 5, 1, 2, 3, 4, 4, 0, 5, 1, 1},
                  g0[] = {3, 0, 1, 2, 0, 3, 3, 3, 1, 0, 2, 2};
    for (int i = 0; i < 4; i++) {
        volt_dtype t = dtypes[i];
        volt_tensor *a = values(VOLT_SHAPE(5, 6), t);
        operands o = {.dim = 0};
        set_index(&o, 0, idx_of(VOLT_SHAPE(5), sel, VOLT_I64));
        check("index_select dim 0", index_select_op, &o, a, t, false);
        check("index_select dim 0 transposed", index_select_op, &o, values(VOLT_SHAPE(6, 5), t), t,
              true);
        o.dim = 1;
        check("index_select dim 1", index_select_op, &o, a, t, false);
        set_index(&o, 0, idx_of(VOLT_SHAPE(4, 3), g1, VOLT_I64));
        check("gather dim 1", gather_op, &o, a, t, false);
        o.dim = 0;
        set_index(&o, 0, idx_of(VOLT_SHAPE(2, 6), g0, VOLT_I32));
        check("gather dim 0 (i32 index)", gather_op, &o, a, t, false);
    }
    /* integers are copied as they are */
    volt_tensor *ai = volt_arange(0, 30, 1, VOLT_I64);
    ai = volt_reshape(ai, VOLT_SHAPE(5, 6));
    volt_tensor *idx = idx_of(VOLT_SHAPE(5), sel, VOLT_I64);
    VT_ASSERT_SAME_VALUES(volt_index_select(gpu(ai), 0, gpu(idx)), volt_index_select(ai, 0, idx), 0,
                          0, "index_select i64");
}

static void test_masked_fill_tril(void **state) {
    (void)state;
    for (int i = 0; i < 4; i++) {
        volt_dtype t = dtypes[i];
        volt_tensor *a = values(VOLT_SHAPE(3, 4, 5), t);
        operands o = {0};
        volt_tensor *m =
            volt_gt(volt_randn(VOLT_SHAPE(3, 4, 5), VOLT_F32, &gen), volt_scalar(0, VOLT_F32));
        set_index(&o, 0, m);
        check("masked_fill", masked_fill_op, &o, a, t, false);
        set_index(&o, 0,
                  volt_gt(volt_randn(VOLT_SHAPE(5), VOLT_F32, &gen), volt_scalar(0, VOLT_F32)));
        check("masked_fill broadcast mask", masked_fill_op, &o, a, t, false);
        const int64_t diags[] = {0, 1, -2};
        for (int k = 0; k < 3; k++) {
            o.arg = diags[k];
            o.dim = 0;
            check("tril", tril_op, &o, a, t, false);
            o.dim = 1;
            check("triu", tril_op, &o, a, t, false);
        }
    }
    /* in place, and an integer tensor */
    volt_tensor *ai = volt_reshape(volt_arange(0, 20, 1, VOLT_I64), VOLT_SHAPE(4, 5));
    volt_tensor *mask =
        volt_gt(volt_randn(VOLT_SHAPE(4, 5), VOLT_F32, &gen), volt_scalar(0, VOLT_F32));
    volt_tensor *g = gpu(ai);
    assert_ptr_equal(volt_masked_fill_(g, gpu(mask), 7), g);
    VT_ASSERT_SAME_VALUES(g, volt_masked_fill(ai, mask, 7), 0, 0, "masked_fill_ i64");
}

static void test_one_hot(void **state) {
    (void)state;
    volt_tensor *idx = idx_of(VOLT_SHAPE(2, 3), (const int64_t[]){0, 4, 2, 2, 1, 0}, VOLT_I64);
    VT_ASSERT_SAME_VALUES(volt_one_hot(gpu(idx), -1), volt_one_hot(idx, -1), 0, 0, "one_hot");
    VT_ASSERT_SAME_VALUES(volt_one_hot(gpu(idx), 7), volt_one_hot(idx, 7), 0, 0, "one_hot 7");
    volt_tensor *out = volt_one_hot(gpu(idx), 3);
    assert_null(out);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "one_hot: class index 4 is out of range for 3 classes");
}

/* ------------------------------------------------------------ scatter_add */

static void check_scatter(const char *what, volt_dtype t, int dim, int ndim, const int64_t *ishape,
                          const int64_t *iv, int sndim, const int64_t *sshape) {
    volt_scope_begin();
    char name[160];
    volt_tensor *a64 = volt_requires_grad(values(VOLT_SHAPE(5, 4), t), true);
    volt_tensor *s64 = volt_requires_grad(values(sndim, sshape, t), true);
    volt_tensor *idx = idx_of(ndim, ishape, iv, VOLT_I64);
    volt_tensor *ag = volt_requires_grad(gpu(volt_to_dtype(volt_tensor_detach(a64), t)), true);
    volt_tensor *sg = volt_requires_grad(gpu(volt_to_dtype(volt_tensor_detach(s64), t)), true);
    volt_tensor *want = volt_scatter_add(a64, dim, idx, s64),
                *got = volt_scatter_add(ag, dim, gpu(idx), sg);
    VT_ASSERT_NO_ERROR();
    double rtol = rtol_of(t);
    snprintf(name, sizeof name, "%s %s", what, volt_dtype_name(t));
    VT_ASSERT_SAME_VALUES(got, want, rtol, rtol, name);
    volt_tensor *r = values(VOLT_SHAPE(5, 4), t);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(want, r))), VOLT_OK);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul(got, gpu(volt_to_dtype(r, t))))), VOLT_OK);
    VT_ASSERT_NO_ERROR();
    snprintf(name, sizeof name, "%s %s: a gradient", what, volt_dtype_name(t));
    VT_ASSERT_SAME_VALUES(ag->grad, a64->grad, 0, 0, name);
    snprintf(name, sizeof name, "%s %s: src gradient", what, volt_dtype_name(t));
    VT_ASSERT_SAME_VALUES(sg->grad, s64->grad, 0, 0, name);
    volt_scope_end();
}

static void test_scatter_add(void **state) {
    (void)state;
    const int64_t i0[] = {4, 0, 4, 4, 1, 1, 2, 0, 3, 4, 4, 0};
    const int64_t i1[] = {0, 0, 3, 1, 1, 1, 2, 2, 3, 0, 0, 0, 3, 3, 3};
    const volt_dtype fl[] = {VOLT_F32, VOLT_F64};
    for (int i = 0; i < 2; i++) {
        check_scatter("scatter_add dim 0", fl[i], 0, VOLT_SHAPE(3, 4), i0, VOLT_SHAPE(3, 4));
        check_scatter("scatter_add dim 1 src larger", fl[i], 1, VOLT_SHAPE(5, 3), i1,
                      VOLT_SHAPE(5, 4));
    }
    volt_tensor *a = volt_reshape(volt_arange(0, 20, 1, VOLT_I64), VOLT_SHAPE(5, 4));
    volt_tensor *idx = idx_of(VOLT_SHAPE(3, 4), i0, VOLT_I64);
    volt_tensor *s = volt_reshape(volt_arange(100, 112, 1, VOLT_I64), VOLT_SHAPE(3, 4));
    VT_ASSERT_SAME_VALUES(volt_scatter_add(gpu(a), 0, gpu(idx), gpu(s)),
                          volt_scatter_add(a, 0, idx, s), 0, 0, "scatter_add i64");
    volt_tensor *a32 = volt_to_dtype(a, VOLT_I32), *s32 = volt_to_dtype(s, VOLT_I32);
    VT_ASSERT_SAME_VALUES(volt_scatter_add(gpu(a32), 0, gpu(idx), gpu(s32)),
                          volt_scatter_add(a32, 0, idx, s32), 0, 0, "scatter_add i32");
    volt_tensor *au = volt_to_dtype(a, VOLT_U8),
                *su = volt_to_dtype(volt_ones(VOLT_SHAPE(3, 4), VOLT_F32), VOLT_U8);
    assert_null(volt_scatter_add(gpu(au), 0, gpu(idx), gpu(su)));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "scatter_add: no CUDA kernel yet for u8[5,4] on cuda:0");
}

/* ------------------------------------------------------------- gradcheck */

static volt_tensor *gpu_embedding_gather(volt_tensor **in, void *ctx) {
    (void)ctx;
    volt_tensor *idx = gpu(idx_of(VOLT_SHAPE(4), (const int64_t[]){2, 0, 2, 1}, VOLT_I64));
    volt_tensor *e = volt_embedding(gpu(in[0]), idx, VOLT_NO_PADDING_IDX);
    volt_tensor *g = volt_gather(gpu(in[1]), 0, volt_unsqueeze(idx, 1));
    return volt_to_device(volt_add(volt_sum(e, 1, (const int[]){1}, true), g), VOLT_DEVICE_CPU);
}

static void test_gradcheck_f64(void **state) {
    (void)state;
    volt_tensor *in[2] = {
        volt_requires_grad(volt_randn(VOLT_SHAPE(3, 5), VOLT_F64, &gen), true),
        volt_requires_grad(volt_randn(VOLT_SHAPE(3, 1), VOLT_F64, &gen), true),
    };
    if (volt_gradcheck(gpu_embedding_gather, NULL, 2, in, NULL) != VOLT_OK)
        fail_msg("gradcheck: %s", volt_error_message());
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_index");
    gen = volt_generator_make(4242, 2);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_embedding),
        VT_CUDA_TEST(test_embedding_out_of_range),
        VT_CUDA_TEST(test_index_select_gather),
        VT_CUDA_TEST(test_masked_fill_tril),
        VT_CUDA_TEST(test_one_hot),
        VT_CUDA_TEST(test_scatter_add),
        VT_CUDA_TEST(test_gradcheck_f64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
