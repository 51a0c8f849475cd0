/* test_attention_op.c: volt_scaled_dot_product_attention — values and
 * gradients against PyTorch (with and without the causal mask, default and
 * explicit scale, T != S), the fused op held to the composition of plain ops
 * (matmul, softmax, matmul) in f32, float64 gradchecks (causal, strided,
 * 3-D) and the error paths; volt_attention_qkv (packed heads) against each
 * head attended on its own. */
#include "volt_test.h"

#include <math.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, tol, ...)                                                                        \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (tol), (tol))

/* f(i) for i < n, shaped; f = sin(a i + b) or cos(a i) (cosine when cosine). */
static volt_tensor *wave(volt_dtype dtype, int ndim, const int64_t *shape, double a, double b,
                         bool cosine) {
    double v[64];
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    for (int64_t i = 0; i < n; i++) v[i] = cosine ? cos(a * (double)i) : sin(a * (double)i + b);
    volt_tensor *t = volt_from_array(v, VOLT_F64, ndim, shape);
    return volt_requires_grad(dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype), true);
}

/* Expected values: Debian's torch 1.13 (/usr/bin/python3), float64, from
 * softmax(q @ k^T * scale (masked_fill(~tril(ones(T, S)), -inf) when causal)) @ v
 * (1.13 has no F.scaled_dot_product_attention) with
 *   q = sin(0.9 * arange(12)).reshape(1,2,3,2),
 *   k = cos(0.7 * arange(16)).reshape(1,2,4,2),
 *   v = sin(0.4 * arange(24) + 1).reshape(1,2,4,3),
 * and for the gradients y.backward(cos(0.5 * arange(18)).reshape(1,2,3,3)). */
static void test_attention_matches_torch(void **state) {
    (void)state;
    const volt_dtype dtypes[2] = {VOLT_F32, VOLT_F64};
    for (int k = 0; k < 2; k++) {
        volt_dtype d = dtypes[k];
        double tol = d == VOLT_F32 ? 3e-6 : 1e-13;
        volt_tensor *q = wave(d, VOLT_SHAPE(1, 2, 3, 2), 0.9, 0, false);
        volt_tensor *kk = wave(d, VOLT_SHAPE(1, 2, 4, 2), 0.7, 0, true);
        volt_tensor *v = wave(d, VOLT_SHAPE(1, 2, 4, 3), 0.4, 1, false);
        volt_tensor *y = volt_scaled_dot_product_attention(q, kk, v, false, 0);
        VT_ASSERT_SHAPE(y, 1, 2, 3, 3);
        assert_int_equal(y->dtype, d);
        EXPECT(y, tol, 0.16116379913158396, 0.11723994982991875, 0.054806490322802714,
               0.4414373406621821, 0.43372280247043327, 0.35753297046808646, -0.04183165120784704,
               -0.26739720982638404, -0.45074662854472775, 0.32721566249949924, 0.20963602170236767,
               0.05895946255648776, 0.01191469002694171, 0.2506035835773763, 0.44972768155398524,
               0.3561903951949293, 0.36671277931986246, 0.3193392788728977);
        EXPECT(volt_scaled_dot_product_attention(q, kk, v, false, 2.0), tol, 0.33078514793496877,
               0.3886261145264992, 0.38511156274754443, 0.7786439349037301, 0.8904072809949104,
               0.8615948956974268, -0.1564938935421735, -0.4785225814363674, -0.7250030754790409,
               0.31692090682549945, 0.04671559384104779, -0.23086508422815777, -0.2838556111777578,
               0.07184499478881587, 0.41620285580639615, 0.47084000877556087, 0.4879983713105934,
               0.4281125211266879);
        y = volt_scaled_dot_product_attention(q, kk, v, true, NAN);
        /* Query 0 sees key 0 only: its output is v's row 0 (sin(1), sin(1.4), sin(1.8)). */
        EXPECT(y, tol, 0.8414709848078965, 0.9854497299884601, 0.9738476308781951,
               0.8323098236398541, 0.8548863529632438, 0.7424951243997993, 0.1828951392359398,
               -0.10413290256317387, -0.37472064872242483, -0.4646021794137566, -0.0830894028174964,
               0.3115413635133787, -0.06529659915848382, 0.2664479922837836, 0.5561263044044338,
               0.4465862124005253, 0.5666961469859613, 0.5973372204804647);
        volt_tensor *g = wave(d, VOLT_SHAPE(1, 2, 3, 3), 0.5, 0, true);
        assert_int_equal(volt_backward_ex(y, volt_tensor_detach(g), false), VOLT_OK);
        EXPECT(q->grad, tol, 0.0, 0.0, -0.1013162178065191, -0.1549818352690594,
               -0.7225405265746032, -0.4503171787883645, 0.0, 0.0, -0.008968601840046941,
               -0.35043928228550963, -0.08354161860556114, -0.08026998917103852);
        EXPECT(kk->grad, tol, -0.039518071121388, 0.12312309567133253, 0.26778285573630345,
               0.3811150816703196, -0.22826478461491548, -0.5042381773416522, 0.0, 0.0,
               -0.33256668963662817, -0.3970948302887399, 0.3055930941015495, 0.42704104377692287,
               0.026973595535078672, -0.029946213488182997, 0.0, 0.0);
        EXPECT(v->grad, tol, 0.95277746240783, 0.48406067338943276, -0.103171050680875,
               -0.2869197397530566, -0.40560976557810235, -0.42499237465451245, -0.5851130175875158,
               -0.5534718697588964, -0.3863215052070183, 0.0, 0.0, 0.0, 0.5039763050044684,
               0.8720867657986202, 1.026679971236017, 0.46786063104055836, 0.2947845228940836,
               0.04953488257348371, 0.12417286900958528, -0.05212151131006767, -0.21565472785975973,
               0.0, 0.0, 0.0);
    }
    VT_ASSERT_NO_ERROR();
}

/* The composition the op fuses, from plain differentiable ops. */
static volt_tensor *composed(const volt_tensor *q, const volt_tensor *k, const volt_tensor *v,
                             bool causal) {
    int64_t t = q->shape[q->ndim - 2], s = k->shape[k->ndim - 2];
    volt_tensor *scores = volt_mul_scalar(volt_matmul(q, volt_transpose(k, -2, -1)),
                                          1.0 / sqrt((double)q->shape[q->ndim - 1]));
    if (causal) {
        volt_tensor *ones = volt_ones(VOLT_SHAPE(t, s), VOLT_F64);
        volt_tensor *masked = volt_eq(volt_tril(ones, 0), volt_zeros(VOLT_SHAPE(1), VOLT_F64));
        scores = volt_masked_fill(scores, masked, -INFINITY);
    }
    return volt_matmul(volt_softmax(scores, -1), v);
}

/* f32, [2, 3, 9, 8] x [2, 3, 7, 8]: the fused op and the composition agree in
 * values and in all three gradients. */
static void test_attention_fused_matches_composition(void **state) {
    (void)state;
    volt_generator gen = volt_generator_make(12, 0);
    volt_tensor *q = volt_requires_grad(volt_randn(VOLT_SHAPE(2, 3, 9, 8), VOLT_F32, &gen), true);
    volt_tensor *k = volt_requires_grad(volt_randn(VOLT_SHAPE(2, 3, 7, 8), VOLT_F32, &gen), true);
    volt_tensor *v = volt_requires_grad(volt_randn(VOLT_SHAPE(2, 3, 7, 5), VOLT_F32, &gen), true);
    volt_tensor *g = volt_randn(VOLT_SHAPE(2, 3, 9, 5), VOLT_F32, &gen);
    for (int causal = 0; causal < 2; causal++) {
        volt_tensor *res[2][4];
        for (int path = 0; path < 2; path++) {
            volt_tensor *y = path ? composed(q, k, v, causal)
                                  : volt_scaled_dot_product_attention(q, k, v, causal, 0);
            assert_int_equal(volt_backward_ex(y, g, false), VOLT_OK);
            res[path][0] = y;
            res[path][1] = volt_clone(q->grad);
            res[path][2] = volt_clone(k->grad);
            res[path][3] = volt_clone(v->grad);
            volt_tensor_clear_grad(q);
            volt_tensor_clear_grad(k);
            volt_tensor_clear_grad(v);
        }
        for (int j = 0; j < 4; j++) {
            int64_t n = volt_tensor_numel(res[0][j]);
            assert_int_equal(n, volt_tensor_numel(res[1][j]));
            for (int64_t i = 0; i < n; i++)
                assert_true(fabs(volt_tensor_get_flat(res[0][j], i) -
                                 volt_tensor_get_flat(res[1][j], i)) < 2e-5);
        }
    }
    VT_ASSERT_NO_ERROR();
}

typedef struct {
    bool causal;
    double scale;
} attn_ctx;

static volt_tensor *attention_fn(volt_tensor **in, void *vctx) {
    attn_ctx *c = vctx;
    return volt_scaled_dot_product_attention(in[0], in[1], in[2], c->causal, c->scale);
}

static void test_attention_gradcheck(void **state) {
    (void)state;
    attn_ctx c = {false, 0};
    VT_GRADCHECK(attention_fn, &c, 3, vt_leaf(VOLT_SHAPE(2, 2, 3, 4), 1, 1.0, 0.0),
                 vt_leaf(VOLT_SHAPE(2, 2, 5, 4), 2, 1.0, 0.0),
                 vt_leaf(VOLT_SHAPE(2, 2, 5, 3), 3, 1.0, 0.0));
    c = (attn_ctx){true, 0.7};
    VT_GRADCHECK(attention_fn, &c, 3, vt_leaf_strided(VOLT_SHAPE(1, 2, 4, 3), 4, 1.0, 0.0),
                 vt_leaf_strided(VOLT_SHAPE(1, 2, 4, 3), 5, 1.0, 0.0),
                 vt_leaf_strided(VOLT_SHAPE(1, 2, 4, 2), 6, 1.0, 0.0));
    /* 3-D inputs, more queries than keys under the causal mask. */
    c = (attn_ctx){true, 0};
    VT_GRADCHECK(attention_fn, &c, 3, vt_leaf(VOLT_SHAPE(2, 5, 3), 7, 1.0, 0.0),
                 vt_leaf(VOLT_SHAPE(2, 3, 3), 8, 1.0, 0.0),
                 vt_leaf(VOLT_SHAPE(2, 3, 2), 9, 1.0, 0.0));
}

static void test_attention_errors(void **state) {
    (void)state;
    volt_tensor *q = volt_zeros(VOLT_SHAPE(1, 2, 3, 4), VOLT_F32);
    volt_tensor *k = volt_zeros(VOLT_SHAPE(1, 2, 5, 4), VOLT_F32);
    volt_tensor *v = volt_zeros(VOLT_SHAPE(1, 2, 5, 6), VOLT_F32);
    assert_null(volt_scaled_dot_product_attention(NULL, k, v, false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "scaled_dot_product_attention: argument 'q' is NULL");
    assert_null(volt_scaled_dot_product_attention(q, k, NULL, false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "argument 'v' is NULL");
    assert_null(volt_scaled_dot_product_attention(q, volt_zeros(VOLT_SHAPE(1, 2, 5, 4), VOLT_F64),
                                                  v, false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE,
                    "q f32[1,2,3,4], k f64[1,2,5,4], v f32[1,2,5,6]: dtypes differ");
    assert_null(volt_scaled_dot_product_attention(q, volt_zeros(VOLT_SHAPE(1, 2, 5, 3), VOLT_F32),
                                                  v, false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "q f32[1,2,3,4] and k f32[1,2,5,3]: head dims differ (4 vs 3)");
    assert_null(volt_scaled_dot_product_attention(
        q, k, volt_zeros(VOLT_SHAPE(1, 2, 4, 6), VOLT_F32), false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "key counts differ (5 vs 4)");
    assert_null(volt_scaled_dot_product_attention(q, volt_zeros(VOLT_SHAPE(2, 2, 5, 4), VOLT_F32),
                                                  v, false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "with the same leading dims");
    assert_null(volt_scaled_dot_product_attention(volt_zeros(VOLT_SHAPE(4), VOLT_F32),
                                                  volt_zeros(VOLT_SHAPE(4), VOLT_F32),
                                                  volt_zeros(VOLT_SHAPE(4), VOLT_F32), false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "expected [..., T, D]");
    assert_null(volt_scaled_dot_product_attention(
        volt_zeros(VOLT_SHAPE(3, 4), VOLT_I64), volt_zeros(VOLT_SHAPE(5, 4), VOLT_I64),
        volt_zeros(VOLT_SHAPE(5, 4), VOLT_I64), false, 0));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "scaled_dot_product_attention: i64[3,4] is not supported");
    assert_null(volt_scaled_dot_product_attention(q, k, v, false, INFINITY));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "scale inf");
}

/* Head hh of qkv [.., T, 3E] attended on its own: q, k, v narrowed out of
 * the three thirds of each row, the heads' outputs concatenated. */
static volt_tensor *per_head(const volt_tensor *qkv, int64_t heads, bool causal) {
    int64_t e = qkv->shape[qkv->ndim - 1] / 3, d = e / heads;
    volt_tensor *out[8];
    for (int64_t hh = 0; hh < heads; hh++) {
        volt_tensor *q = volt_narrow(qkv, -1, hh * d, d), *k = volt_narrow(qkv, -1, e + hh * d, d),
                    *v = volt_narrow(qkv, -1, 2 * e + hh * d, d);
        out[hh] = volt_scaled_dot_product_attention(q, k, v, causal, 0);
    }
    return volt_cat((int)heads, out, -1);
}

typedef struct {
    int64_t heads;
    bool causal;
} qkv_ctx;

static volt_tensor *qkv_fn(volt_tensor **in, void *vctx) {
    qkv_ctx *c = vctx;
    return volt_attention_qkv(in[0], c->heads, c->causal, 0);
}

/* Asserts a and b hold the same values within tol. */
static void assert_same(const volt_tensor *a, const volt_tensor *b, double tol) {
    int64_t n = volt_tensor_numel(b);
    assert_int_equal(volt_tensor_numel(a), n);
    for (int64_t i = 0; i < n; i++)
        assert_true(fabs(volt_tensor_get_flat(a, i) - volt_tensor_get_flat(b, i)) < tol);
}

/* volt_attention_qkv against each head attended on its own (values and
 * gradients), batched and [T, 3E], causal or not; f64 gradchecks. */
static void test_attention_qkv(void **state) {
    (void)state;
    volt_generator gen = volt_generator_make(13, 0);
    for (int c = 0; c < 2; c++) {
        for (int batched = 0; batched < 2; batched++) {
            int64_t heads = batched ? 3 : 2;
            volt_tensor *x = batched ? volt_randn(VOLT_SHAPE(2, 5, 18), VOLT_F64, &gen)
                                     : volt_randn(VOLT_SHAPE(4, 12), VOLT_F64, &gen);
            volt_tensor *x2 = volt_requires_grad(volt_clone(x), true);
            volt_requires_grad(x, true);
            volt_tensor *got = volt_attention_qkv(x, heads, c, 0), *want = per_head(x2, heads, c);
            assert_non_null(got);
            assert_int_equal(got->ndim, x->ndim);
            assert_same(got, want, 1e-14);
            volt_tensor *g = volt_randn(got->ndim, got->shape, VOLT_F64, &gen);
            assert_int_equal(volt_backward_ex(got, g, false), VOLT_OK);
            assert_int_equal(volt_backward_ex(want, g, false), VOLT_OK);
            assert_same(x->grad, x2->grad, 1e-14);
        }
    }
    qkv_ctx ctx = {2, true};
    VT_GRADCHECK(qkv_fn, &ctx, 1, vt_leaf(VOLT_SHAPE(2, 4, 12), 11, 1.0, 0.0));
    ctx = (qkv_ctx){3, false};
    VT_GRADCHECK(qkv_fn, &ctx, 1, vt_leaf(VOLT_SHAPE(5, 9), 12, 1.0, 0.0));
    VT_ASSERT_NO_ERROR();
}

static void test_attention_qkv_errors(void **state) {
    (void)state;
    assert_null(volt_attention_qkv(NULL, 2, true, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "attention_qkv: argument 'qkv' is NULL");
    volt_tensor *x = volt_zeros(VOLT_SHAPE(2, 3, 12), VOLT_F32);
    assert_null(volt_attention_qkv(x, 0, true, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "attention_qkv: num_heads 0 must be at least 1");
    assert_null(volt_attention_qkv(x, 3, true, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "attention_qkv: qkv f32[2,3,12]: the last dim 12 is not 3 x E "
                                    "with E a multiple of num_heads 3");
    assert_null(volt_attention_qkv(volt_zeros(VOLT_SHAPE(1, 2, 3, 12), VOLT_F32), 2, true, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "qkv f32[1,2,3,12] must be [B, T, 3E] or [T, 3E]");
    assert_null(volt_attention_qkv(volt_zeros(VOLT_SHAPE(3, 12), VOLT_I64), 2, true, 0));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "attention_qkv: i64[3,12] is not supported");
    assert_null(volt_attention_qkv(x, 2, true, INFINITY));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "scale inf");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_attention_matches_torch), VT_TEST(test_attention_fused_matches_composition),
        VT_TEST(test_attention_gradcheck),     VT_TEST(test_attention_errors),
        VT_TEST(test_attention_qkv),           VT_TEST(test_attention_qkv_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
