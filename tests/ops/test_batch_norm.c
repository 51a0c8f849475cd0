/* test_batch_norm.c: batch_norm — outputs, gradients and running
 * statistics against numbers from PyTorch (training and eval, 4-D and 2-D
 * inputs), float64 gradchecks in both modes (with and without weight and
 * bias, non-contiguous inputs), oneDNN's f32 results held to the reference
 * kernels, and the error paths. */
#include "volt_test.h"

#include <math.h>
#include <stdlib.h>

#include "ops/cpu/dnnl_common.h"

static volt_tensor *pattern(int ndim, const int64_t *shape, int a, int m, int off, double scale,
                            double shift, volt_dtype d) {
    volt_tensor *t = volt_empty(ndim, shape, VOLT_F64);
    double *p = volt_tensor_data(t);
    for (int64_t i = 0; i < volt_tensor_numel(t); i++)
        p[i] = (double)((i * a) % m - off) * scale + shift;
    return d == VOLT_F64 ? t : volt_to_dtype(t, d);
}

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define EXPECT(t, tol, ...)                                                                        \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (tol), (tol))

static const volt_dtype dtypes[2] = {VOLT_F32, VOLT_F64};

typedef struct {
    volt_tensor *x, *w, *b, *rm, *rv, *y;
} bn_run;

/* x: (7, 11, 5, 0.25); weight: 1 + (5, 7, 3, 0.125); bias: (3, 5, 2, 0.5);
 * running_mean: (2, 5, 1, 0.1); running_var: 0.5 + (1, 3, 0, 0.5); upstream
 * gradient (3, 8, 4, 0.5); momentum 0.1, eps 1e-5. */
static bn_run run(volt_dtype d, int ndim, const int64_t *shape, bool training) {
    bn_run r;
    r.x = volt_requires_grad(pattern(ndim, shape, 7, 11, 5, 0.25, 0, d), true);
    r.w = volt_requires_grad(pattern(VOLT_SHAPE(3), 5, 7, 3, 0.125, 1, d), true);
    r.b = volt_requires_grad(pattern(VOLT_SHAPE(3), 3, 5, 2, 0.5, 0, d), true);
    r.rm = pattern(VOLT_SHAPE(3), 2, 5, 1, 0.1, 0, d);
    r.rv = pattern(VOLT_SHAPE(3), 1, 3, 0, 0.5, 0.5, d);
    r.y = volt_batch_norm(r.x, r.rm, r.rv, r.w, r.b, training, 0.1, 1e-5);
    assert_non_null(r.y);
    volt_tensor *gy = pattern(r.y->ndim, r.y->shape, 3, 8, 4, 0.5, 0, d);
    assert_int_equal(volt_backward_ex(r.y, gy, false), VOLT_OK);
    return r;
}

/* Expected numbers: Debian's torch 1.13, float64, the same inputs:
 *   y = F.batch_norm(x, rm, rv, w, b, training=..., momentum=0.1, eps=1e-5)
 *   y.backward(gy); print(y, x.grad, w.grad, b.grad, rm, rv) */
static void test_torch_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = dtypes[k];
        double tol = d == VOLT_F32 ? 2e-5 : 1e-9;
        bn_run r = run(d, VOLT_SHAPE(2, 3, 2, 2), true);
        EXPECT(r.y, tol, -2.086639912, -0.7637739322, -1.519697349, -0.1968313694, 0.9863752592,
               -0.7429589957, 2.28337595, 0.5540416955, -1.437035258, 0.7493803439, -0.5,
               -1.749380344, -0.7637739322, -1.519697349, -0.1968313694, -0.9527547864,
               -0.7429589957, 2.28337595, 0.5540416955, -1.175292559, 0.7493803439, -0.5,
               -1.749380344, 0.4370352579);
        EXPECT(r.x->grad, tol, -1.645748545, -0.1187889923, 0.790482175, -0.7062519407,
               0.3959697544, 3.119264681, -1.430334659, 1.292960268, -1.477936588, -1.256983771,
               1.56172543, -0.6170867447, 0.2591727162, 1.168443884, -0.3282902322, 0.5809809351,
               -2.933405211, -0.5656675313, 2.157627395, -2.036414697, -0.6322935992, 2.186415602,
               0.007603427249, 0.228556244);
        EXPECT(r.w->grad, tol, -1.965400884, 0.4323335637, 4.841348833);
        EXPECT(r.b->grad, tol, -2, -2, -2);
        EXPECT(r.rm, tol, -0.07125, 0.086875, 0.245);
        EXPECT(r.rv, tol, 0.528125, 0.9597098214, 1.423214286);

        r = run(d, VOLT_SHAPE(2, 3, 2, 2), false);
        EXPECT(r.y, tol, -2.016455833, -0.4696752173, -1.353549855, 0.193230761, 0.6874990625,
               -0.5624946875, 1.624994375, 0.375000625, -1.561442017, -0.1325777633, -0.9490716226,
               -1.765565482, -0.4696752173, -1.353549855, 0.193230761, -0.6906438768, -0.5624946875,
               1.624994375, 0.375000625, -0.8749931251, -0.1325777633, -0.9490716226, -1.765565482,
               -0.3367012281);
        EXPECT(r.x->grad, tol, -1.767749276, -0.4419373189, 0.8838746378, -1.325811957, 0,
               1.874990625, -1.24999375, 0.624996875, -1.632987719, -0.4082469296, 0.8164938593,
               -1.224740789, 0, 1.325811957, -0.8838746378, 0.4419373189, -2.4999875, -0.624996875,
               1.24999375, -1.874990625, 0, 1.224740789, -0.8164938593, 0.4082469296);
        EXPECT(r.w->grad, tol, -3.111238725, 0.574997125, 4.06205695);
        EXPECT(r.b->grad, tol, -2, -2, -2);
        EXPECT(r.rm, tol, -0.1, 0.1, 0.3); /* unchanged in eval */
        EXPECT(r.rv, tol, 0.5, 1, 1.5);

        r = run(d, VOLT_SHAPE(4, 3), true);
        EXPECT(r.y, tol, -2.065135123, 2.176943662, 0.8415549297, -0.4871571628, 1.058981221,
               -0.05281502342, -0.6449549588, -0.05898122072, -0.9471849766, -0.8027527549,
               -1.176943662, -1.84155493);
        EXPECT(r.x->grad, tol, -0.08298927696, -0.0004292426345, -1.430236458, -0.3457701459,
               -0.0001430808782, 4.293227597, 0.02766309232, 0.0001430808782, -4.293227597,
               0.4010963306, 0.0004292426345, 1.430236458);
        EXPECT(r.w->grad, tol, 1.451739724, -2.235924883, 4.919034742);
        EXPECT(r.b->grad, tol, -5, 1, -1);
        EXPECT(r.rm, tol, -0.04625, 0.1025, 0.1825);
        EXPECT(r.rv, tol, 0.5807291667, 0.9104166667, 1.360416667);
    }
    VT_ASSERT_NO_ERROR();
}

/* Without weight, bias or running statistics: plain standardisation. */
static void test_plain(void **state) {
    (void)state;
    volt_tensor *x = volt_from_array((double[]){1, 10, 3, 20}, VOLT_F64, VOLT_SHAPE(2, 2));
    volt_tensor *y = volt_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 0.0);
    EXPECT(y, 1e-12, -1, -1, 1, 1);
    volt_tensor *y32 =
        volt_batch_norm(volt_to_dtype(x, VOLT_F32), NULL, NULL, NULL, NULL, true, 0.1, 0.0);
    EXPECT(y32, 1e-6, -1, -1, 1, 1);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------------------ gradcheck */

typedef struct {
    bool training;
    volt_tensor *rm, *rv;
} bn_case;

static volt_tensor *bn_fn(volt_tensor **in, void *ctx) {
    const bn_case *c = ctx;
    return volt_batch_norm(in[0], c->rm, c->rv, in[1], in[2], c->training, 0.1, 1e-5);
}

static void check(bool training, int nd, const int64_t *shape, bool affine, bool strided) {
    volt_scope_begin();
    int64_t c = shape[1];
    volt_tensor *x =
        strided ? vt_leaf_strided(nd, shape, 3, 1.0, 0.5) : vt_leaf(nd, shape, 3, 1.0, 0.5);
    volt_tensor *w = affine ? vt_leaf(VOLT_SHAPE(c), 4, 0.5, 1.0) : NULL;
    volt_tensor *b = affine ? vt_leaf(VOLT_SHAPE(c), 5, 1.0, 0.0) : NULL;
    bn_case bc = {training, NULL, NULL};
    if (!training) {
        bc.rm = volt_randn(VOLT_SHAPE(c), VOLT_F64, NULL);
        bc.rv = volt_add_scalar(volt_rand(VOLT_SHAPE(c), VOLT_F64, NULL), 0.5);
    }
    volt_tensor *inputs[3] = {x, w, b};
    vt_gradcheck(bn_fn, &bc, affine ? 3 : 1, inputs, __FILE__, __LINE__);
    volt_scope_end();
}

static void test_gradcheck(void **state) {
    (void)state;
    check(true, 4, (int64_t[]){3, 2, 3, 2}, true, false);
    check(true, 3, (int64_t[]){2, 3, 4}, true, true);
    check(true, 2, (int64_t[]){5, 3}, false, true);
    check(false, 4, (int64_t[]){2, 3, 2, 2}, true, true);
    check(false, 2, (int64_t[]){4, 2}, false, false);
    VT_ASSERT_NO_ERROR();
}

/* ---------------------------------------------- oneDNN vs reference */

static void values(const volt_tensor *t, double *out) {
    assert_int_equal(volt_tensor_copy_to_array(t, VOLT_F64, out), VOLT_OK);
}

static void run_f32(bool training, const int64_t *shape, double *out) {
    volt_scope_begin();
    volt_generator gen = volt_generator_make(3, 0);
    int64_t c = shape[1], n = volt_shape_numel(4, shape);
    volt_tensor *x = volt_requires_grad(volt_randn(4, shape, VOLT_F32, &gen), true);
    volt_tensor *w = volt_requires_grad(volt_randn(VOLT_SHAPE(c), VOLT_F32, &gen), true);
    volt_tensor *b = volt_requires_grad(volt_randn(VOLT_SHAPE(c), VOLT_F32, &gen), true);
    volt_tensor *rm = volt_randn(VOLT_SHAPE(c), VOLT_F32, &gen);
    volt_tensor *rv = volt_add_scalar(volt_rand(VOLT_SHAPE(c), VOLT_F32, &gen), 0.5);
    volt_tensor *y = volt_batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5);
    assert_int_equal(volt_backward_ex(y, volt_randn(4, shape, VOLT_F32, &gen), false), VOLT_OK);
    values(y, out);
    values(x->grad, out + n);
    values(w->grad, out + 2 * n);
    values(b->grad, out + 2 * n + c);
    values(rm, out + 2 * n + 2 * c);
    values(rv, out + 2 * n + 3 * c);
    volt_scope_end();
}

static void test_onednn_matches_reference(void **state) {
    (void)state;
    int64_t shapes[2][4] = {{8, 32, 14, 14}, {5, 3, 7, 1}};
    for (int s = 0; s < 2; s++)
        for (int training = 0; training < 2; training++) {
            int64_t n = volt_shape_numel(4, shapes[s]), total = 2 * n + 4 * shapes[s][1];
            double *fast = malloc((size_t)total * sizeof *fast);
            double *ref = malloc((size_t)total * sizeof *ref);
            run_f32(training, shapes[s], fast);
            volt_set_fast_kernels(false);
            run_f32(training, shapes[s], ref);
            volt_set_fast_kernels(true);
            double scale = 1e-30, err = 0;
            for (int64_t i = 0; i < total; i++) {
                scale = fmax(scale, fabs(ref[i]));
                err = fmax(err, fabs(fast[i] - ref[i]));
            }
            assert_true(err <= 1e-4 * scale);
            free(fast);
            free(ref);
        }
    VT_ASSERT_NO_ERROR();
}

static void test_errors(void **state) {
    (void)state;
    volt_tensor *x = volt_randn(VOLT_SHAPE(4, 3, 2), VOLT_F32, NULL);
    volt_tensor *c3 = volt_ones(VOLT_SHAPE(3), VOLT_F32);
    assert_null(volt_batch_norm(NULL, NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "batch_norm: argument 'x' is NULL");
    assert_null(volt_batch_norm(volt_randn(VOLT_SHAPE(4), VOLT_F32, NULL), NULL, NULL, NULL, NULL,
                                true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "batch_norm: input [4]: expected [N, C, ...]");
    assert_null(
        volt_batch_norm(x, volt_zeros(VOLT_SHAPE(4), VOLT_F32), c3, NULL, NULL, true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "running_mean f32[4] should be f32[3]");
    assert_null(
        volt_batch_norm(x, NULL, NULL, volt_ones(VOLT_SHAPE(3), VOLT_F64), NULL, true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "weight f64[3] should be f32[3]");
    assert_null(volt_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "eval mode needs running_mean and running_var");
    assert_null(volt_batch_norm(x, c3, NULL, NULL, NULL, true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "running_mean and running_var go together");
    assert_null(volt_batch_norm(volt_randn(VOLT_SHAPE(1, 3), VOLT_F32, NULL), NULL, NULL, NULL,
                                NULL, true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "expected more than 1 value per channel when training");
    assert_null(volt_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, -1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "eps must be >= 0");
    assert_null(volt_batch_norm(volt_zeros(VOLT_SHAPE(4, 3), VOLT_I64), NULL, NULL, NULL, NULL,
                                true, 0.1, 1e-5));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "(f32 and f64 are)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_torch_values), VT_TEST(test_plain),
        VT_TEST(test_gradcheck),    VT_TEST(test_onednn_matches_reference),
        VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
