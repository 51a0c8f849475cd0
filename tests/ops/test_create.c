/* test_create.c: creation ops (empty, zeros, ones, full, scalar, *_like,
 * arange, linspace, eye, from_array), clone and to_dtype with their
 * gradients, the whole-tensor in-place writes fill_, zero_ and copy_, and the
 * random ops rand, randn, randint and bernoulli: reproducibility by (seed,
 * stream), statistics, independence from the thread count, and errors. */
#include "volt_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
#define VEC(dtype, ...) vec((dtype), (const double[]){__VA_ARGS__}, COUNT(__VA_ARGS__))
#define EXPECT(t, rtol, ...)                                                                       \
    VT_ASSERT_CLOSE((t), ((const double[]){__VA_ARGS__}), COUNT(__VA_ARGS__), (rtol), 1e-300)

static volt_tensor *vec(volt_dtype dtype, const double *v, int64_t n) {
    volt_tensor *t = volt_from_array(v, VOLT_F64, 1, &n);
    return dtype == VOLT_F64 ? t : volt_to_dtype(t, dtype);
}

/* ----------------------------------------------------------- creation */

static void test_empty_zeros_ones_full(void **state) {
    (void)state;
    for (int d = 0; d < VOLT_DTYPE_COUNT; d++) {
        volt_dtype dt = (volt_dtype)d;
        volt_tensor *z = volt_zeros(VOLT_SHAPE(2, 3), dt);
        VT_ASSERT_SHAPE(z, 2, 3);
        assert_int_equal(z->dtype, dt);
        assert_true(volt_tensor_is_contiguous(z));
        EXPECT(z, 0, 0, 0, 0, 0, 0, 0);
        EXPECT(volt_ones(VOLT_SHAPE(3), dt), 0, 1, 1, 1);
        volt_tensor *e = volt_empty(VOLT_SHAPE(4, 1), dt);
        VT_ASSERT_SHAPE(e, 4, 1);
        assert_int_equal(e->dtype, dt);
    }
    EXPECT(volt_full(VOLT_SHAPE(2, 2), 2.5, VOLT_F32), 0, 2.5, 2.5, 2.5, 2.5);
    EXPECT(volt_full(VOLT_SHAPE(2), -7, VOLT_I64), 0, -7, -7);
    EXPECT(volt_full(VOLT_SHAPE(2), 0.1, VOLT_BF16), 0, 0.10009765625, 0.10009765625);
    EXPECT(volt_full(VOLT_SHAPE(1), 3, VOLT_BOOL), 0, 1);
    volt_tensor *s = volt_scalar(4.25, VOLT_F64);
    assert_int_equal(s->ndim, 0);
    assert_true(volt_tensor_item(s) == 4.25);
    VT_ASSERT_SHAPE(volt_zeros(VOLT_SHAPE(0, 5), VOLT_F32), 0, 5);
    VT_ASSERT_NO_ERROR();
}

static void test_like_variants(void **state) {
    (void)state;
    /* A strided source: the results are contiguous, with its shape and dtype. */
    volt_tensor *base = volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32);
    volt_tensor *t =
        volt_tensor_alias(base, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 3}, base->offset);
    volt_tensor *outs[4] = {volt_empty_like(t), volt_zeros_like(t), volt_ones_like(t),
                            volt_full_like(t, 7.5)};
    for (int i = 0; i < 4; i++) {
        VT_ASSERT_SHAPE(outs[i], 3, 2);
        assert_int_equal(outs[i]->dtype, VOLT_F32);
        assert_true(volt_tensor_is_contiguous(outs[i]));
        assert_ptr_not_equal(outs[i]->storage, base->storage);
    }
    EXPECT(outs[1], 0, 0, 0, 0, 0, 0, 0);
    EXPECT(outs[2], 0, 1, 1, 1, 1, 1, 1);
    EXPECT(outs[3], 0, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5);
    volt_tensor *i = volt_full_like(VEC(VOLT_I64, 1, 2), 3);
    assert_int_equal(i->dtype, VOLT_I64);
    EXPECT(i, 0, 3, 3);
    volt_tensor *z = volt_zeros_like(volt_scalar(1, VOLT_U8));
    assert_int_equal(z->ndim, 0);
    assert_int_equal(z->dtype, VOLT_U8);
    VT_ASSERT_NO_ERROR();
}

static void test_arange(void **state) {
    (void)state;
    volt_tensor *a = volt_arange(0, 5, 1, VOLT_F32);
    VT_ASSERT_SHAPE(a, 5);
    EXPECT(a, 0, 0, 1, 2, 3, 4);
    /* A fractional count rounds up: [0, 0.3, 0.6, 0.9]. */
    volt_tensor *f = volt_arange(0, 1, 0.3, VOLT_F64);
    VT_ASSERT_SHAPE(f, 4);
    EXPECT(f, 1e-15, 0, 0.3, 0.6, 0.9);
    EXPECT(volt_arange(0, 10, 3, VOLT_I64), 0, 0, 3, 6, 9);
    volt_tensor *n = volt_arange(5, 0, -2, VOLT_I64);
    assert_int_equal(n->dtype, VOLT_I64);
    EXPECT(n, 0, 5, 3, 1);
    EXPECT(volt_arange(-1, -2.5, -0.5, VOLT_F32), 0, -1, -1.5, -2);
    VT_ASSERT_SHAPE(volt_arange(2, 2, 1, VOLT_F32), 0);
    VT_ASSERT_NO_ERROR();
}

static void test_linspace(void **state) {
    (void)state;
    EXPECT(volt_linspace(0, 1, 5, VOLT_F64), 0, 0, 0.25, 0.5, 0.75, 1);
    /* Both endpoints exact, even when the step is not representable. */
    int64_t steps[3] = {7, 11, 100};
    double ends[3][2] = {{-1, 1}, {0, 0.1}, {0.3, 2.7}};
    for (int i = 0; i < 3; i++) {
        volt_tensor *t = volt_linspace(ends[i][0], ends[i][1], steps[i], VOLT_F64);
        VT_ASSERT_SHAPE(t, steps[i]);
        assert_true(volt_tensor_get_flat(t, 0) == ends[i][0]);
        assert_true(volt_tensor_get_flat(t, steps[i] - 1) == ends[i][1]);
        double step = (ends[i][1] - ends[i][0]) / (double)(steps[i] - 1);
        assert_true(fabs(volt_tensor_get_flat(t, 3) - (ends[i][0] + 3 * step)) < 1e-15);
    }
    volt_tensor *f = volt_linspace(-2, 2, 5, VOLT_F32);
    assert_int_equal(f->dtype, VOLT_F32);
    EXPECT(f, 0, -2, -1, 0, 1, 2);
    EXPECT(volt_linspace(3, 7, 1, VOLT_F64), 0, 3); /* one step: the start */
    VT_ASSERT_SHAPE(volt_linspace(0, 1, 0, VOLT_F64), 0);
    EXPECT(volt_linspace(0, 10, 3, VOLT_I64), 0, 0, 5, 10);
    VT_ASSERT_NO_ERROR();
}

static void test_eye(void **state) {
    (void)state;
    volt_tensor *e = volt_eye(2, 3, VOLT_F32);
    VT_ASSERT_SHAPE(e, 2, 3);
    EXPECT(e, 0, 1, 0, 0, 0, 1, 0);
    EXPECT(volt_eye(3, 2, VOLT_F64), 0, 1, 0, 0, 1, 0, 0);
    volt_tensor *i = volt_eye(2, 2, VOLT_I64);
    assert_int_equal(i->dtype, VOLT_I64);
    EXPECT(i, 0, 1, 0, 0, 1);
    EXPECT(volt_eye(2, 2, VOLT_BF16), 0, 1, 0, 0, 1);
    VT_ASSERT_SHAPE(volt_eye(0, 3, VOLT_F32), 0, 3);
    VT_ASSERT_NO_ERROR();
}

static void test_from_array(void **state) {
    (void)state;
    float f[4] = {1.5f, -2, 3, 4};
    volt_tensor *t = volt_from_array(f, VOLT_F32, VOLT_SHAPE(2, 2));
    VT_ASSERT_SHAPE(t, 2, 2);
    assert_int_equal(t->dtype, VOLT_F32);
    EXPECT(t, 0, 1.5, -2, 3, 4);
    f[0] = 100; /* a copy, not a view of the array */
    assert_true(volt_tensor_get_flat(t, 0) == 1.5);
    int64_t i[3] = {INT64_C(1) << 60, -5, 0};
    volt_tensor *ti = volt_from_array(i, VOLT_I64, VOLT_SHAPE(3));
    assert_true(((const int64_t *)volt_tensor_data(ti))[0] == INT64_C(1) << 60);
    uint8_t b[2] = {1, 0};
    EXPECT(volt_from_array(b, VOLT_BOOL, VOLT_SHAPE(2)), 0, 1, 0);
    double d = 2.5;
    volt_tensor *s = volt_from_array(&d, VOLT_F64, 0, NULL);
    assert_int_equal(s->ndim, 0);
    assert_true(volt_tensor_item(s) == 2.5);
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------- clone and to_dtype */

static void test_clone(void **state) {
    (void)state;
    volt_tensor *base = volt_reshape(VEC(VOLT_F64, 0, 1, 2, 3, 4, 5), VOLT_SHAPE(2, 3));
    volt_tensor *t =
        volt_tensor_alias(base, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 3}, base->offset);
    volt_tensor *c = volt_clone(t);
    VT_ASSERT_SHAPE(c, 3, 2);
    assert_true(volt_tensor_is_contiguous(c));
    assert_ptr_not_equal(c->storage, base->storage);
    EXPECT(c, 0, 0, 3, 1, 4, 2, 5);
    volt_fill_(base, -1);
    EXPECT(c, 0, 0, 3, 1, 4, 2, 5);
    /* The gradient flows through a clone. */
    volt_tensor *x = volt_requires_grad(VEC(VOLT_F64, 1, 2, 3), true);
    volt_tensor *y = volt_clone(x);
    assert_string_equal(volt_grad_fn_name(y), "clone");
    assert_int_equal(volt_backward(volt_sum_all(volt_mul_scalar(y, 3))), VOLT_OK);
    EXPECT(x->grad, 0, 3, 3, 3);
    VT_ASSERT_NO_ERROR();
}

static void test_to_dtype(void **state) {
    (void)state;
    /* f32 -> bf16 rounds to nearest even; back to f32 is exact. */
    volt_tensor *h = volt_to_dtype(VEC(VOLT_F32, 1.00390625, 1.01171875, 3.14159, -2.5), VOLT_BF16);
    assert_int_equal(h->dtype, VOLT_BF16);
    volt_tensor *back = volt_to_dtype(h, VOLT_F32);
    EXPECT(back, 0, 1.0, 1.015625, 3.140625, -2.5);
    /* f64 -> f32 rounds to the nearest float. */
    volt_tensor *f = volt_to_dtype(VEC(VOLT_F64, 0.1, 1e300), VOLT_F32);
    assert_true(volt_tensor_get_flat(f, 0) == (double)0.1f);
    assert_true(isinf(volt_tensor_get_flat(f, 1)));
    /* Floating -> integer truncates toward zero. */
    volt_tensor *i = volt_to_dtype(VEC(VOLT_F32, 2.7, -2.7, 0.5, -0.5), VOLT_I64);
    assert_int_equal(i->dtype, VOLT_I64);
    EXPECT(i, 0, 2, -2, 0, 0);
    EXPECT(volt_to_dtype(VEC(VOLT_F64, 7.9, -7.9), VOLT_I32), 0, 7, -7);
    /* u8 -> f32, and anything -> bool (nonzero, NaN included, is true). */
    uint8_t u[3] = {0, 200, 255};
    EXPECT(volt_to_dtype(volt_from_array(u, VOLT_U8, VOLT_SHAPE(3)), VOLT_F32), 0, 0, 200, 255);
    EXPECT(volt_to_dtype(VEC(VOLT_F32, 0, 2, NAN, -0.0), VOLT_BOOL), 0, 0, 1, 1, 0);
    /* A copy even when the dtype is already right. */
    volt_tensor *x = VEC(VOLT_F32, 1, 2);
    volt_tensor *same = volt_to_dtype(x, VOLT_F32);
    assert_ptr_not_equal(same->storage, x->storage);
    /* A strided source converts in row-major order. */
    volt_tensor *base = VEC(VOLT_F64, 1, 2, 3, 4);
    volt_tensor *even =
        volt_tensor_alias(base, 1, (const int64_t[]){2}, (const int64_t[]){2}, base->offset);
    EXPECT(volt_to_dtype(even, VOLT_I32), 0, 1, 3);
    VT_ASSERT_NO_ERROR();
}

/* f32 <-> bf16 conversions of contiguous (vectorised) and strided tensors
 * give volt_f32_to_bf16's / volt_bf16_to_f32's bits for every kind of value:
 * ties both ways, values that round up into the exponent, infinities, NaNs
 * (quiet and signalling), subnormals, zeros of both signs. */
static void test_to_dtype_bf16_bits(void **state) {
    (void)state;
    const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x3f7fffffu, 0x7f7fffffu, 0x7f800000u,
                                0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffbfffffu, 0x00000001u,
                                0x807fffffu, 0x00008000u, 0x00000000u, 0x80000000u};
    enum { N = 1000 };
    float v[N];
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        uint32_t bits =
            i < (int)(sizeof special / sizeof *special) ? special[i] : (uint32_t)(x >> 32);
        memcpy(&v[i], &bits, sizeof bits);
    }
    volt_tensor *f = volt_from_array(v, VOLT_F32, VOLT_SHAPE(N));
    volt_tensor *strided = volt_slice(volt_reshape(f, VOLT_SHAPE(N / 2, 2)), 1, 0, 1, 1);
    volt_tensor *b = volt_to_dtype(f, VOLT_BF16), *bs = volt_to_dtype(strided, VOLT_BF16);
    volt_tensor *w = volt_to_dtype(b, VOLT_F32);
    volt_tensor *ws =
        volt_to_dtype(volt_slice(volt_reshape(b, VOLT_SHAPE(N / 2, 2)), 1, 0, 1, 1), VOLT_F32);
    assert_non_null(w);
    assert_non_null(ws);
    const uint16_t *bb = volt_tensor_data(b), *bsb = volt_tensor_data(bs);
    const float *wf = volt_tensor_data(w), *wsf = volt_tensor_data(ws);
    for (int i = 0; i < N; i++) {
        uint16_t want = volt_f32_to_bf16(v[i]);
        float wide = volt_bf16_to_f32(want);
        if (bb[i] != want) fail_msg("element %d: 0x%04x, want 0x%04x", i, bb[i], want);
        if (i % 2 == 0 && bsb[i / 2] != want) fail_msg("strided element %d: 0x%04x", i, bsb[i / 2]);
        if (memcmp(&wf[i], &wide, sizeof wide) != 0) fail_msg("widened element %d", i);
        if (i % 2 == 0 && memcmp(&wsf[i / 2], &wide, sizeof wide) != 0)
            fail_msg("strided widened element %d", i);
    }
}

static void test_to_dtype_gradient(void **state) {
    (void)state;
    volt_tensor *a = volt_requires_grad(VEC(VOLT_F32, 1, 2), true);
    volt_tensor *a64 = volt_to_dtype(a, VOLT_F64);
    assert_string_equal(volt_grad_fn_name(a64), "to_dtype");
    assert_int_equal(volt_backward(volt_sum_all(volt_mul_scalar(a64, 3))), VOLT_OK);
    assert_int_equal(a->grad->dtype, VOLT_F32);
    EXPECT(a->grad, 0, 3, 3);
    volt_tensor *b = volt_requires_grad(VEC(VOLT_F64, 1, 2), true);
    assert_int_equal(
        volt_backward(volt_sum_all(volt_mul(volt_to_dtype(b, VOLT_F32), VEC(VOLT_F32, 0.5, 4)))),
        VOLT_OK);
    assert_int_equal(b->grad->dtype, VOLT_F64);
    EXPECT(b->grad, 0, 0.5, 4);
    /* No graph into integer dtypes. */
    assert_false(volt_to_dtype(b, VOLT_I64)->requires_grad);
    VT_ASSERT_NO_ERROR();
}

static volt_tensor *clone_fn(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_mul(volt_clone(in[0]), in[0]);
}

static volt_tensor *to_dtype_fn(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_mul(volt_to_dtype(in[0], VOLT_F64), in[0]);
}

static void test_gradcheck_clone_to_dtype(void **state) {
    (void)state;
    VT_GRADCHECK(clone_fn, NULL, 1, vt_leaf(0, NULL, 1, 1, 0));
    VT_GRADCHECK(clone_fn, NULL, 1, vt_leaf_strided(VOLT_SHAPE(2, 3, 4), 2, 1, 0));
    VT_GRADCHECK(to_dtype_fn, NULL, 1, vt_leaf_strided(VOLT_SHAPE(5), 3, 1, 0));
    VT_GRADCHECK(to_dtype_fn, NULL, 1, vt_leaf(VOLT_SHAPE(3, 4), 4, 1, 0));
    VT_ASSERT_NO_ERROR();
}

/* ------------------------------------------------- fill_, zero_, copy_ */

static void test_fill_zero(void **state) {
    (void)state;
    volt_tensor *t = volt_zeros(VOLT_SHAPE(2, 2), VOLT_F32);
    uint64_t v = volt_storage_version(t->storage);
    assert_ptr_equal(volt_fill_(t, 2.5), t);
    EXPECT(t, 0, 2.5, 2.5, 2.5, 2.5);
    assert_true(volt_storage_version(t->storage) == v + 1);
    assert_ptr_equal(volt_zero_(t), t);
    EXPECT(t, 0, 0, 0, 0, 0);
    assert_true(volt_storage_version(t->storage) == v + 2);
    EXPECT(volt_fill_(volt_empty(VOLT_SHAPE(3), VOLT_I64), -4), 0, -4, -4, -4);
    EXPECT(volt_fill_(volt_empty(VOLT_SHAPE(2), VOLT_BOOL), 0.5), 0, 1, 1);
    EXPECT(volt_fill_(volt_empty(VOLT_SHAPE(1), VOLT_BF16), 3.14159), 0, 3.140625);
    /* A strided view: only its elements change. */
    volt_tensor *base = VEC(VOLT_F64, 1, 2, 3, 4, 5, 6);
    volt_tensor *odd =
        volt_tensor_alias(base, 1, (const int64_t[]){3}, (const int64_t[]){2}, base->offset + 1);
    volt_fill_(odd, 0);
    EXPECT(base, 0, 1, 0, 3, 0, 5, 0);
    volt_zero_(base);
    EXPECT(base, 0, 0, 0, 0, 0, 0, 0);
    /* Refused on a tensor requiring grad in grad mode, allowed without. */
    volt_tensor *leaf = volt_requires_grad(VEC(VOLT_F64, 1, 2), true);
    assert_null(volt_fill_(leaf, 0));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "fill_: in-place operation on f64[2], which requires grad");
    assert_null(volt_zero_(leaf));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "zero_: in-place operation on f64[2]");
    VOLT_NO_GRAD { volt_zero_(leaf); }
    EXPECT(leaf, 0, 0, 0);
    VT_ASSERT_NO_ERROR();
}

static void test_copy(void **state) {
    (void)state;
    /* Broadcast [3] into [2, 3], with conversion i32 -> f64. */
    volt_tensor *dst = volt_zeros(VOLT_SHAPE(2, 3), VOLT_F64);
    uint64_t v = volt_storage_version(dst->storage);
    assert_ptr_equal(volt_copy_(dst, VEC(VOLT_I32, 1, 2, 3)), dst);
    EXPECT(dst, 0, 1, 2, 3, 1, 2, 3);
    assert_true(volt_storage_version(dst->storage) == v + 1);
    /* f64 -> i32 truncates; a 0-d source fills. */
    volt_tensor *i = volt_zeros(VOLT_SHAPE(3), VOLT_I32);
    volt_copy_(i, VEC(VOLT_F64, 1.9, -1.9, 7));
    EXPECT(i, 0, 1, -1, 7);
    volt_copy_(i, volt_scalar(5, VOLT_F32));
    EXPECT(i, 0, 5, 5, 5);
    /* From and into strided views. */
    volt_tensor *base = volt_reshape(VEC(VOLT_F32, 0, 1, 2, 3, 4, 5), VOLT_SHAPE(2, 3));
    volt_tensor *tr =
        volt_tensor_alias(base, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 3}, base->offset);
    volt_tensor *c = volt_zeros(VOLT_SHAPE(3, 2), VOLT_F64);
    volt_copy_(c, tr);
    EXPECT(c, 0, 0, 3, 1, 4, 2, 5);
    volt_copy_(tr, volt_reshape(VEC(VOLT_F64, 10, 20, 30, 40, 50, 60), VOLT_SHAPE(3, 2)));
    EXPECT(base, 0, 10, 30, 50, 20, 40, 60);
    /* Errors. */
    assert_null(volt_copy_(VEC(VOLT_F32, 1, 2, 3), volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "copy_: [2,3] cannot be broadcast into [3]");
    assert_null(volt_copy_(VEC(VOLT_F32, 1, 2, 3), VEC(VOLT_F32, 1, 2)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "copy_: [3] and [2]: shapes cannot be broadcast");
    volt_tensor *leaf = volt_requires_grad(VEC(VOLT_F64, 1), true);
    assert_null(volt_copy_(leaf, VEC(VOLT_F64, 2)));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "copy_: in-place operation on f64[1]");
    assert_null(volt_copy_(NULL, leaf));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "copy_: argument 'self' is NULL");
    assert_null(volt_copy_(dst, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "copy_: argument 'src' is NULL");
}

static void test_creation_errors(void **state) {
    (void)state;
    assert_null(volt_zeros(VOLT_SHAPE(2, -1), VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "zeros: negative size -1 in dimension 1");
    assert_null(volt_ones(VOLT_SHAPE(2), (volt_dtype)99));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "ones: invalid dtype 99");
    assert_null(volt_empty(9, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "empty: 9 dimensions (at most 8)");
    assert_null(volt_full(VOLT_SHAPE(2), NAN, VOLT_I64));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "full: value nan cannot be converted to i64");
    assert_null(volt_full(VOLT_SHAPE(2), 300, VOLT_U8));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "full: value 300 cannot be converted to u8");
    assert_null(volt_scalar(INFINITY, VOLT_I32));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "scalar: value inf cannot be converted to i32");
    assert_null(volt_fill_(volt_zeros(VOLT_SHAPE(2), VOLT_I64), 1e19));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fill_: value 1e+19 cannot be converted to i64");
    assert_null(volt_eye(-1, 2, VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "eye: negative size -1 in dimension 0");
    assert_null(volt_arange(0, 1, 0, VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "arange: start 0, end 1, step 0 do not make a finite range");
    assert_null(volt_arange(0, 5, -1, VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "arange: start 0, end 5, step -1");
    assert_null(volt_arange(0, NAN, 1, VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "arange: start 0, end nan, step 1");
    assert_null(volt_arange(0, 1e300, 1e-300, VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "too many values");
    assert_null(volt_arange(0, 5, 1, (volt_dtype)42));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "arange: invalid dtype 42");
    assert_null(volt_linspace(0, 1, -1, VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "linspace: -1 steps (need >= 0)");
    assert_null(volt_from_array(NULL, VOLT_F32, VOLT_SHAPE(2)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "from_array: data is NULL");
    float f[2] = {0};
    assert_null(volt_from_array(f, VOLT_F32, VOLT_SHAPE(-2)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "from_array: negative size -2 in dimension 0");
    assert_null(volt_clone(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clone: argument 't' is NULL");
    assert_null(volt_to_dtype(NULL, VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "to_dtype: argument 't' is NULL");
    assert_null(volt_to_dtype(volt_scalar(1, VOLT_F32), (volt_dtype)99));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "to_dtype: invalid dtype 99");
    assert_null(volt_zeros_like(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "zeros_like: argument 't' is NULL");
    assert_null(volt_full_like(volt_scalar(1, VOLT_U8), -1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "full_like: value -1 cannot be converted to u8");
    assert_null(volt_fill_(NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fill_: argument 'self' is NULL");
}

/* --------------------------------------------------------------- random */

static bool same_data(const volt_tensor *a, const volt_tensor *b) {
    return volt_tensor_numel(a) == volt_tensor_numel(b) && a->dtype == b->dtype &&
           memcmp(volt_tensor_data(a), volt_tensor_data(b),
                  (size_t)volt_tensor_numel(a) * volt_dtype_size(a->dtype)) == 0;
}

static void test_random_reproducible(void **state) {
    (void)state;
    for (int k = 0; k < 4; k++) {
        volt_generator g1 = volt_generator_make(42, 0), g2 = volt_generator_make(42, 0);
        volt_generator g3 = volt_generator_make(42, 1), g4 = volt_generator_make(43, 0);
        volt_tensor *t[4];
        volt_generator *gens[4] = {&g1, &g2, &g3, &g4};
        for (int j = 0; j < 4; j++) {
            switch (k) {
            case 0: t[j] = volt_rand(VOLT_SHAPE(5, 7), VOLT_F32, gens[j]); break;
            case 1: t[j] = volt_randn(VOLT_SHAPE(5, 7), VOLT_F64, gens[j]); break;
            case 2: t[j] = volt_randint(0, 1000, VOLT_SHAPE(5, 7), VOLT_I64, gens[j]); break;
            default:
                t[j] = volt_bernoulli(volt_full(VOLT_SHAPE(5, 7), 0.5, VOLT_F32), gens[j]);
                break;
            }
        }
        assert_true(same_data(t[0], t[1]));  /* same (seed, stream) */
        assert_false(same_data(t[0], t[2])); /* another stream */
        assert_false(same_data(t[0], t[3])); /* another seed */
        assert_true(g1.counter > 0 && g1.counter == g2.counter);
    }
    /* Successive draws advance the counter: 10 f32 uniforms take 3 blocks. */
    volt_generator g = volt_generator_make(1, 0);
    volt_tensor *a = volt_rand(VOLT_SHAPE(10), VOLT_F32, &g);
    assert_true(g.counter == 3);
    volt_tensor *b = volt_rand(VOLT_SHAPE(10), VOLT_F32, &g);
    assert_false(same_data(a, b));
    /* The default generator, reseeded, repeats itself. */
    volt_seed_everything(123);
    volt_tensor *d1 = volt_randn(VOLT_SHAPE(16), VOLT_F32, NULL);
    volt_tensor *d2 = volt_randn(VOLT_SHAPE(16), VOLT_F32, NULL);
    volt_seed_everything(123);
    volt_tensor *d3 = volt_randn(VOLT_SHAPE(16), VOLT_F32, NULL);
    assert_true(same_data(d1, d3));
    assert_false(same_data(d1, d2));
    VT_ASSERT_NO_ERROR();
}

static void moments(const volt_tensor *t, double *mean, double *var) {
    int64_t n = volt_tensor_numel(t);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = volt_tensor_get_flat(t, i);
        s += x;
        s2 += x * x;
    }
    *mean = s / (double)n;
    *var = s2 / (double)n - *mean * *mean;
}

static void test_random_statistics(void **state) {
    (void)state;
    volt_generator g = volt_generator_make(2024, 0);
    const int64_t n = 100000;
    double mean, var;
    for (int k = 0; k < 2; k++) {
        volt_dtype d = k ? VOLT_F64 : VOLT_F32;
        volt_tensor *u = volt_rand(1, &n, d, &g);
        moments(u, &mean, &var);
        assert_true(fabs(mean - 0.5) < 0.005);
        assert_true(fabs(var - 1.0 / 12) < 0.002);
        for (int64_t i = 0; i < n; i++) {
            double x = volt_tensor_get_flat(u, i);
            assert_true(x >= 0 && x < 1);
        }
        volt_tensor *z = volt_randn(1, &n, d, &g);
        moments(z, &mean, &var);
        assert_true(fabs(mean) < 0.015);
        assert_true(fabs(var - 1) < 0.02);
    }
    /* randint: inside [low, high), every value drawn, uniform mean. */
    volt_dtype int_types[3] = {VOLT_I64, VOLT_I32, VOLT_F32};
    for (int k = 0; k < 3; k++) {
        volt_tensor *r = volt_randint(-3, 4, 1, &n, int_types[k], &g);
        assert_int_equal(r->dtype, int_types[k]);
        int64_t hits[7] = {0};
        for (int64_t i = 0; i < n; i++) {
            double x = volt_tensor_get_flat(r, i);
            assert_true(x >= -3 && x < 4 && x == floor(x));
            hits[(int)x + 3]++;
        }
        for (int v = 0; v < 7; v++) assert_true(hits[v] > n / 7 - 1000 && hits[v] < n / 7 + 1000);
    }
    volt_tensor *u8 = volt_randint(250, 256, 1, &n, VOLT_U8, &g);
    moments(u8, &mean, &var);
    assert_true(fabs(mean - 252.5) < 0.05);
    /* bernoulli: 0/1 with the given probability, per element. */
    volt_tensor *b = volt_bernoulli(volt_full(1, &n, 0.3, VOLT_F64), &g);
    assert_int_equal(b->dtype, VOLT_F64);
    moments(b, &mean, &var);
    assert_true(fabs(mean - 0.3) < 0.007);
    assert_true(fabs(var - mean * (1 - mean)) < 1e-12); /* only 0s and 1s */
    /* Per-element probabilities 0 and 1, from a broadcast (strided) p. */
    volt_tensor *p =
        volt_expand(volt_reshape(VEC(VOLT_F32, 0, 1), VOLT_SHAPE(2, 1)), VOLT_SHAPE(2, 500));
    volt_tensor *bp = volt_bernoulli(p, &g);
    VT_ASSERT_SHAPE(bp, 2, 500);
    assert_int_equal(bp->dtype, VOLT_F32);
    for (int64_t i = 0; i < 1000; i++) assert_true(volt_tensor_get_flat(bp, i) == (i >= 500));
    VT_ASSERT_NO_ERROR();
}

/* Element i always comes from the same Philox block and word, so the thread
 * count does not change a single bit. */
static void test_random_independent_of_threads(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    const int64_t n = 1000000;
    volt_tensor *r[2][3];
    for (int t = 0; t < 2; t++) {
        volt_set_num_threads(t + 1);
        volt_generator g = volt_generator_make(7, 3);
        r[t][0] = volt_randn(1, &n, VOLT_F32, &g);
        r[t][1] = volt_randn(1, &n, VOLT_F64, &g);
        r[t][2] = volt_rand(1, &n, VOLT_F32, &g);
    }
    volt_set_num_threads(saved);
    for (int k = 0; k < 3; k++) assert_true(same_data(r[0][k], r[1][k]));
    VT_ASSERT_NO_ERROR();
}

/* volt_rand's values are, element by element, the scalar Philox blocks
 * (volt_philox4x32) turned into uniforms (and volt_randn's f64 ones into
 * Box-Muller normals, bit for bit): 4 f32 or 2 f64 per block, for
 * sizes that end inside a block and inside a group of blocks, from a
 * counter that crosses 2^32 (the counter's high word) with a seed and a
 * stream whose high words are set; the generator advances by the blocks. */
static void test_random_matches_scalar_philox(void **state) {
    (void)state;
    const int64_t sizes[] = {1, 3, 67, 1001};
    for (int si = 0; si < 4; si++) {
        for (int wide = 0; wide < 2; wide++) {
            int64_t n = sizes[si];
            volt_generator g = volt_generator_make(0x123456789abcdefull, 0xfedcba987ull);
            g.counter = 0xfffffff0ull;
            uint64_t first = g.counter;
            volt_tensor *t = volt_rand(1, &n, wide ? VOLT_F64 : VOLT_F32, &g);
            assert_non_null(t);
            int64_t per = wide ? 2 : 4;
            assert_true(g.counter == first + (uint64_t)((n + per - 1) / per));
            uint32_t key[2] = {(uint32_t)g.seed, (uint32_t)(g.seed >> 32)};
            for (int64_t i = 0; i < n; i++) {
                uint64_t c = first + (uint64_t)(i / per);
                uint32_t ctr[4] = {(uint32_t)c, (uint32_t)(c >> 32), (uint32_t)g.stream,
                                   (uint32_t)(g.stream >> 32)};
                uint32_t r[4];
                volt_philox4x32(key, ctr, r);
                int k = (int)(i % per);
                double want = wide ? volt_uniform_from_u64(r[2 * k], r[2 * k + 1])
                                   : (double)volt_uniform_from_u32(r[k]);
                if (volt_tensor_get_flat(t, i) != want)
                    fail_msg("n %lld %s element %lld: %.17g, want %.17g", (long long)n,
                             wide ? "f64" : "f32", (long long)i, volt_tensor_get_flat(t, i), want);
            }
        }
        /* f64 normals: Box-Muller on the two 53-bit uniforms of each block. */
        int64_t n = sizes[si];
        volt_generator g = volt_generator_make(0x123456789abcdefull, 0xfedcba987ull);
        g.counter = 0xfffffff0ull;
        uint64_t first = g.counter;
        volt_tensor *t = volt_randn(1, &n, VOLT_F64, &g);
        assert_non_null(t);
        assert_true(g.counter == first + (uint64_t)((n + 1) / 2));
        uint32_t key[2] = {(uint32_t)g.seed, (uint32_t)(g.seed >> 32)};
        for (int64_t i = 0; i < n; i++) {
            uint64_t c = first + (uint64_t)(i / 2);
            uint32_t ctr[4] = {(uint32_t)c, (uint32_t)(c >> 32), (uint32_t)g.stream,
                               (uint32_t)(g.stream >> 32)};
            uint32_t r[4];
            volt_philox4x32(key, ctr, r);
            double u1 = 1.0 - volt_uniform_from_u64(r[0], r[1]);
            double u2 = volt_uniform_from_u64(r[2], r[3]), rad = sqrt(-2.0 * log(u1));
            double want =
                i % 2 ? rad * sin(6.283185307179586 * u2) : rad * cos(6.283185307179586 * u2);
            if (memcmp(&want, (const double *)volt_tensor_data(t) + i, sizeof want) != 0)
                fail_msg("randn n %lld element %lld: %.17g, want %.17g", (long long)n, (long long)i,
                         volt_tensor_get_flat(t, i), want);
        }
    }
}

static void test_random_errors(void **state) {
    (void)state;
    assert_null(volt_rand(VOLT_SHAPE(3), VOLT_I64, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "rand: dtype i64 is not supported (f32 and f64 are)");
    assert_null(volt_randn(VOLT_SHAPE(3), VOLT_BF16, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "randn: dtype bf16 is not supported");
    assert_null(volt_rand(VOLT_SHAPE(-2), VOLT_F32, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "rand: negative size -2 in dimension 0");
    assert_null(volt_randn(VOLT_SHAPE(2, -1), VOLT_F64, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "randn: negative size -1 in dimension 1");
    assert_null(volt_randint(5, 5, VOLT_SHAPE(3), VOLT_I64, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "randint: empty range [5, 5)");
    assert_null(volt_randint(0, 2, VOLT_SHAPE(3), VOLT_BOOL, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "randint: dtype bool is not supported");
    assert_null(volt_randint(0, 300, VOLT_SHAPE(3), VOLT_U8, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "randint: range [0, 300) does not fit u8");
    assert_null(volt_randint(INT64_MIN, INT64_MAX, VOLT_SHAPE(3), VOLT_I64, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "does not fit i64");
    assert_null(volt_randint(0, 2, VOLT_SHAPE(-3), VOLT_I64, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "randint: negative size -3 in dimension 0");
    assert_null(volt_bernoulli(VEC(VOLT_I64, 1, 0, 1), NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "bernoulli: i64[3] is not supported (f32 and f64 are)");
    assert_null(volt_bernoulli(NULL, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "bernoulli: argument 'p' is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_empty_zeros_ones_full),
        VT_TEST(test_like_variants),
        VT_TEST(test_arange),
        VT_TEST(test_linspace),
        VT_TEST(test_eye),
        VT_TEST(test_from_array),
        VT_TEST(test_clone),
        VT_TEST(test_to_dtype),
        VT_TEST(test_to_dtype_bf16_bits),
        VT_TEST(test_to_dtype_gradient),
        VT_TEST(test_gradcheck_clone_to_dtype),
        VT_TEST(test_fill_zero),
        VT_TEST(test_copy),
        VT_TEST(test_creation_errors),
        VT_TEST(test_random_reproducible),
        VT_TEST(test_random_statistics),
        VT_TEST(test_random_independent_of_threads),
        VT_TEST(test_random_matches_scalar_philox),
        VT_TEST(test_random_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
