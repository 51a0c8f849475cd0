/* test_cuda_conv.c: convolutions, pooling and batch norm on CUDA (cuDNN,
 * and volt's kernels for the pooling cuDNN lacks) against the CPU ops on the same random inputs,
 * forward and every gradient (through volt_backward_ex with the same output gradient on both
 * devices). The reference runs in f64 on the CPU from the CUDA inputs'
 * values (rounded to their dtype first), so one tolerance per dtype covers
 * the CUDA side's own rounding: f32 1e-4 (sums of up to a few hundred
 * products, f32 accumulation), f16 5e-3, bf16 3e-2 (results rounded to 8
 * bits of mantissa), f64 1e-10; plus a gradcheck in f64 and the refusals. */
#include "cuda_test.h"

static volt_tensor *gpu(const volt_tensor *t) { return volt_to_device(t, VT_CUDA0); }

static double rtol_of(volt_dtype d) {
    return d == VOLT_F64 ? 1e-10 : d == VOLT_F32 ? 1e-4 : d == VOLT_F16 ? 5e-3 : 3e-2;
}

/* Random values rounded to dtype: *dev on cuda:0 in dtype, the return value
 * the same values in f64 on the CPU (both leaves requiring grad when asked). */
static volt_tensor *pair(int ndim, const int64_t *shape, volt_dtype dtype, bool grad,
                         volt_tensor **dev) {
    volt_tensor *r = volt_to_dtype(volt_randn(ndim, shape, VOLT_F64, NULL), dtype);
    *dev = gpu(r);
    volt_tensor *ref = volt_to_dtype(r, VOLT_F64);
    assert_non_null(*dev);
    if (grad) {
        volt_requires_grad(*dev, true);
        volt_requires_grad(ref, true);
    }
    return ref;
}

/* Compares y (CUDA) with yr (CPU), then backpropagates one random output
 * gradient through both and compares the gradients of the n inputs. */
static void compare(volt_tensor *y, volt_tensor *yr, int n, volt_tensor **in, volt_tensor **ref,
                    double tol, const char *what) {
    assert_non_null(y);
    assert_true(volt_device_equal(y->device, VT_CUDA0));
    VT_ASSERT_SAME_VALUES(y, yr, tol, tol, what);
    volt_tensor *g;
    volt_tensor *gr = pair(yr->ndim, yr->shape, y->dtype, false, &g);
    assert_int_equal(volt_backward_ex(y, g, false), VOLT_OK);
    assert_int_equal(volt_backward_ex(yr, gr, false), VOLT_OK);
    for (int i = 0; i < n; i++) {
        if (!in[i]) continue;
        assert_non_null(in[i]->grad);
        assert_true(volt_device_equal(in[i]->grad->device, VT_CUDA0));
        /* gradients sum over many elements: an absolute term scaled to them */
        VT_ASSERT_SAME_VALUES(in[i]->grad, ref[i]->grad, tol, 4 * tol, what);
    }
}

typedef struct {
    int64_t n, c, h, w, o, kh, kw, stride[2], pad[2], dil[2], groups;
    bool bias, relu, transposed;
} conv_case;

static void check_conv(const conv_case *k, volt_dtype dt, const char *what) {
    volt_scope_begin();
    volt_tensor *in[3] = {0}, *ref[3] = {0};
    ref[0] = pair(4, (int64_t[]){k->n, k->c, k->h, k->w}, dt, true, &in[0]);
    int64_t w4[4] = {k->transposed ? k->c : k->o,
                     k->transposed ? k->o / k->groups : k->c / k->groups, k->kh, k->kw};
    ref[1] = pair(4, w4, dt, true, &in[1]);
    if (k->bias) ref[2] = pair(1, (int64_t[]){k->o}, dt, true, &in[2]);
    volt_tensor *y, *yr;
    if (k->transposed) {
        int64_t op[2] = {k->stride[0] - 1, 0};
        y = volt_conv_transpose2d(in[0], in[1], in[2], k->stride, k->pad, op, k->dil, k->groups);
        yr =
            volt_conv_transpose2d(ref[0], ref[1], ref[2], k->stride, k->pad, op, k->dil, k->groups);
    } else {
        volt_tensor *(*fn)(const volt_tensor *, const volt_tensor *, const volt_tensor *,
                           const int64_t *, const int64_t *, const int64_t *, int64_t) =
            k->relu ? volt_conv2d_relu : volt_conv2d;
        y = fn(in[0], in[1], in[2], k->stride, k->pad, k->dil, k->groups);
        yr = fn(ref[0], ref[1], ref[2], k->stride, k->pad, k->dil, k->groups);
    }
    VT_ASSERT_NO_ERROR();
    compare(y, yr, 3, in, ref, rtol_of(dt), what);
    volt_scope_end();
}

static const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};

#define SAME VOLT_PADDING_SAME

static void test_conv2d_matches_cpu(void **state) {
    (void)state;
    const conv_case cases[] = {
        {2, 3, 8, 8, 4, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1, true, false, false},
        {3, 4, 9, 7, 6, 3, 2, {2, 1}, {1, 0}, {2, 1}, 2, true, false, false},  /* odd, grouped */
        {2, 6, 5, 5, 6, 3, 3, {1, 2}, {1, 1}, {1, 1}, 6, false, false, false}, /* depthwise */
        {1, 1, 1, 1, 1, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1, true, false, false},  /* one element */
        {2, 3, 8, 8, 5, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1, true, true, false},   /* conv2d_relu */
        {2, 4, 5, 6, 6, 3, 3, {2, 2}, {1, 1}, {1, 1}, 2, true, false, true},   /* transposed */
        /* 'same' with even kernels: one more padding at the end (the op pads
         * both sides by it and drops the first output row / column) */
        {2, 3, 6, 7, 4, 2, 2, {1, 1}, {SAME, SAME}, {1, 1}, 1, true, false, false},
        {2, 4, 7, 6, 4, 4, 3, {1, 1}, {SAME, SAME}, {1, 2}, 2, true, true, false},
    };
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char what[64];
            snprintf(what, sizeof what, "conv case %zu, %s", i, volt_dtype_name(dtypes[d]));
            check_conv(&cases[i], dtypes[d], what);
        }
}

static void test_conv1d_and_large(void **state) {
    (void)state;
    volt_tensor *in[3], *ref[3];
    ref[0] = pair(3, (int64_t[]){2, 3, 37}, VOLT_F32, true, &in[0]);
    ref[1] = pair(3, (int64_t[]){4, 3, 5}, VOLT_F32, true, &in[1]);
    ref[2] = pair(1, (int64_t[]){4}, VOLT_F32, true, &in[2]);
    compare(volt_conv1d(in[0], in[1], in[2], 2, 2, 1, 1),
            volt_conv1d(ref[0], ref[1], ref[2], 2, 2, 1, 1), 3, in, ref, 1e-4, "conv1d");
    ref[0] = pair(3, (int64_t[]){2, 3, 37}, VOLT_F32, true, &in[0]);
    ref[1] = pair(3, (int64_t[]){4, 3, 4}, VOLT_F32, true, &in[1]);
    ref[2] = pair(1, (int64_t[]){4}, VOLT_F32, true, &in[2]);
    compare(volt_conv1d(in[0], in[1], in[2], 1, SAME, 1, 1),
            volt_conv1d(ref[0], ref[1], ref[2], 1, SAME, 1, 1), 3, in, ref, 1e-4,
            "conv1d 'same', kernel 4");
    /* The CNN's first layer at batch 64 (1 channel, 28x28, "same" padding). */
    ref[0] = pair(4, (int64_t[]){64, 1, 28, 28}, VOLT_F32, true, &in[0]);
    ref[1] = pair(4, (int64_t[]){32, 1, 3, 3}, VOLT_F32, true, &in[1]);
    ref[2] = pair(1, (int64_t[]){32}, VOLT_F32, true, &in[2]);
    int64_t same[2] = {VOLT_PADDING_SAME, VOLT_PADDING_SAME};
    compare(volt_conv2d_relu(in[0], in[1], in[2], NULL, same, NULL, 1),
            volt_conv2d_relu(ref[0], ref[1], ref[2], NULL, same, NULL, 1), 3, in, ref, 1e-4,
            "conv2d_relu 64x1x28x28");
}

/* A non-contiguous input (a transposed view) is made dense first. */
static void test_conv_non_contiguous(void **state) {
    (void)state;
    volt_tensor *in[2], *ref[2];
    ref[0] = pair(4, (int64_t[]){2, 3, 6, 5}, VOLT_F32, true, &in[0]);
    ref[1] = pair(4, (int64_t[]){4, 3, 3, 3}, VOLT_F32, true, &in[1]);
    volt_tensor *y = volt_conv2d(volt_transpose(in[0], 2, 3), in[1], NULL, NULL, NULL, NULL, 1);
    if (!y && strstr(volt_error_message(), "no CUDA kernel yet")) {
        printf("note: non-contiguous conv input skipped (%s)\n", volt_error_message());
        volt_error_clear();
        return;
    }
    compare(y, volt_conv2d(volt_transpose(ref[0], 2, 3), ref[1], NULL, NULL, NULL, NULL, 1), 2, in,
            ref, 1e-4, "conv2d of a transposed view");
}

static volt_tensor *conv_f64_on_gpu(volt_tensor **inputs, void *ctx) {
    (void)ctx;
    volt_tensor *x = gpu(inputs[0]), *w = gpu(inputs[1]), *b = gpu(inputs[2]);
    volt_tensor *y = volt_conv2d(x, w, b, (int64_t[]){2, 1}, (int64_t[]){1, 1}, NULL, 1);
    return volt_to_device(y, VOLT_DEVICE_CPU);
}

static void test_conv_gradcheck_f64(void **state) {
    (void)state;
    volt_tensor *in[3] = {
        volt_requires_grad(volt_randn(VOLT_SHAPE(2, 2, 5, 4), VOLT_F64, NULL), true),
        volt_requires_grad(volt_randn(VOLT_SHAPE(3, 2, 3, 3), VOLT_F64, NULL), true),
        volt_requires_grad(volt_randn(VOLT_SHAPE(3), VOLT_F64, NULL), true)};
    assert_int_equal(volt_gradcheck(conv_f64_on_gpu, NULL, 3, in, NULL), VOLT_OK);
}

/* ---------------------------------------------------------------- pooling */

typedef struct {
    int kind; /* 0 max, 1 avg, 2 avg without padding, 3 adaptive, 4 max with indices */
    int64_t n, c, h, w, k[2], s[2], p[2];
    int64_t d[2]; /* dilation (max); {0, 0}: none */
    bool ceil_mode;
} pool_case;

/* The pooling of case k; *idx its indices (kind 4). */
static volt_tensor *pool(const pool_case *k, volt_tensor *x, volt_tensor **idx) {
    const int64_t *d = k->d[0] ? k->d : NULL;
    switch (k->kind) {
    case 0: return volt_max_pool2d(x, k->k, k->s, k->p, d, k->ceil_mode, NULL);
    case 1: return volt_avg_pool2d(x, k->k, k->s, k->p, k->ceil_mode, true);
    case 2: return volt_avg_pool2d(x, k->k, k->s, k->p, k->ceil_mode, false);
    case 3: return volt_adaptive_avg_pool2d(x, k->k[0], k->k[1]);
    default: return volt_max_pool2d(x, k->k, k->s, k->p, d, k->ceil_mode, idx);
    }
}

static void test_pool_matches_cpu(void **state) {
    (void)state;
    const pool_case cases[] = {
        {0, 4, 3, 8, 8, {2, 2}, {2, 2}, {0, 0}, {0, 0}, false},
        {0, 2, 5, 7, 9, {3, 3}, {2, 2}, {1, 1}, {0, 0}, false},
        {0, 1, 1, 1, 1, {1, 1}, {1, 1}, {0, 0}, {0, 0}, false},
        {1, 2, 3, 7, 6, {3, 3}, {1, 2}, {1, 1}, {0, 0}, false},
        {2, 2, 3, 7, 6, {3, 2}, {2, 1}, {1, 1}, {0, 0}, false},
        {3, 2, 4, 8, 6, {2, 3}, {0, 0}, {0, 0}, {0, 0}, false},
        {3, 2, 4, 7, 10, {3, 4}, {0, 0}, {0, 0}, {0, 0}, false}, /* unequal: two products */
        {0, 64, 32, 28, 28, {2, 2}, {2, 2}, {0, 0}, {0, 0}, false},
        /* volt's kernels: dilation, ceil_mode's extra window, indices */
        {0, 2, 3, 7, 8, {3, 3}, {3, 3}, {1, 1}, {2, 2}, true},
        {0, 2, 3, 5, 7, {2, 2}, {2, 2}, {0, 0}, {0, 0}, true},
        {1, 2, 3, 5, 7, {2, 2}, {2, 2}, {1, 1}, {0, 0}, true},
        {2, 2, 3, 10, 9, {4, 4}, {3, 3}, {2, 2}, {0, 0}, true},
        {4, 2, 3, 9, 10, {3, 2}, {2, 1}, {1, 0}, {1, 3}, true},
        {4, 4, 3, 8, 8, {2, 2}, {2, 2}, {0, 0}, {0, 0}, false},
        {4, 2, 2, 6, 11, {2, 5}, {3, 2}, {1, 2}, {2, 1}, false},
    };
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            volt_scope_begin();
            const pool_case *k = &cases[i];
            volt_tensor *x, *xr = pair(4, (int64_t[]){k->n, k->c, k->h, k->w}, dtypes[d], true, &x);
            char what[64];
            snprintf(what, sizeof what, "pool case %zu, %s", i, volt_dtype_name(dtypes[d]));
            volt_tensor *idx = NULL, *idx_ref = NULL;
            compare(pool(k, x, &idx), pool(k, xr, &idx_ref), 1, &x, &xr, rtol_of(dtypes[d]), what);
            if (k->kind == 4) { /* the same positions (ties: the first, on both) */
                assert_non_null(idx);
                assert_true(volt_device_equal(idx->device, VT_CUDA0));
                assert_int_equal(idx->dtype, VOLT_I64);
                VT_ASSERT_SAME_VALUES(idx, idx_ref, 0, 0, what);
            }
            volt_scope_end();
        }
    /* 3-D (unbatched) input */
    volt_tensor *x, *xr = pair(3, (int64_t[]){3, 6, 6}, VOLT_F32, true, &x);
    const int64_t k2[2] = {2, 2};
    compare(volt_max_pool2d(x, k2, NULL, NULL, NULL, false, NULL),
            volt_max_pool2d(xr, k2, NULL, NULL, NULL, false, NULL), 1, &x, &xr, 1e-6,
            "unbatched max_pool2d");
}

/* ------------------------------------------------------------- batch norm */

static void check_bn(int ndim, const int64_t *shape, volt_dtype dt, bool affine, bool training) {
    volt_scope_begin();
    int64_t c = shape[1];
    volt_tensor *in[3] = {0}, *ref[3] = {0};
    ref[0] = pair(ndim, shape, dt, true, &in[0]);
    if (affine) {
        ref[1] = pair(1, &c, dt, true, &in[1]);
        ref[2] = pair(1, &c, dt, true, &in[2]);
    }
    volt_tensor *rm, *rv, *rmr = pair(1, &c, dt, false, &rm);
    volt_tensor *rvr = volt_add_scalar(volt_abs(rmr), 0.5);
    rvr = volt_to_dtype(volt_to_dtype(rvr, dt), VOLT_F64);
    rv = gpu(volt_to_dtype(rvr, dt));
    volt_tensor *y = volt_batch_norm(in[0], rm, rv, in[1], in[2], training, 0.3, 1e-5);
    volt_tensor *yr = volt_batch_norm(ref[0], rmr, rvr, ref[1], ref[2], training, 0.3, 1e-5);
    VT_ASSERT_NO_ERROR();
    double tol = rtol_of(dt);
    compare(y, yr, 3, in, ref, tol, training ? "batch_norm (training)" : "batch_norm (eval)");
    VT_ASSERT_SAME_VALUES(rm, rmr, tol, tol, "running_mean");
    VT_ASSERT_SAME_VALUES(rv, rvr, tol, tol, "running_var");
    volt_scope_end();
}

static void test_batch_norm_matches_cpu(void **state) {
    (void)state;
    const volt_dtype bn_dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16};
    for (size_t d = 0; d < 3; d++)
        for (int training = 0; training < 2; training++) {
            check_bn(4, (int64_t[]){4, 3, 5, 7}, bn_dtypes[d], true, training);
            check_bn(4, (int64_t[]){2, 5, 3, 3}, bn_dtypes[d], false, training);
            check_bn(2, (int64_t[]){7, 6}, bn_dtypes[d], true, training);
            check_bn(3, (int64_t[]){3, 4, 11}, bn_dtypes[d], true, training);
        }
    check_bn(4, (int64_t[]){64, 32, 14, 14}, VOLT_F32, true, true);
}

/* Running statistics that are strided views (every other element of a
 * buffer) are updated through dense copies; the elements between them stay
 * as they were. */
static void test_batch_norm_strided_running(void **state) {
    (void)state;
    volt_tensor *x, *xr = pair(4, (int64_t[]){4, 3, 5, 5}, VOLT_F32, true, &x);
    volt_tensor *buf_r = volt_full(VOLT_SHAPE(6), 7.0, VOLT_F64);
    volt_tensor *buf = gpu(volt_full(VOLT_SHAPE(6), 7.0, VOLT_F32));
    volt_tensor *rm = volt_slice(buf, 0, 0, 6, 2), *rv = volt_slice(buf, 0, 1, 6, 2);
    volt_tensor *rmr = volt_slice(buf_r, 0, 0, 6, 2), *rvr = volt_slice(buf_r, 0, 1, 6, 2);
    assert_false(volt_tensor_is_contiguous(rm));
    volt_tensor *y = volt_batch_norm(x, rm, rv, NULL, NULL, true, 0.3, 1e-5);
    volt_tensor *yr = volt_batch_norm(xr, rmr, rvr, NULL, NULL, true, 0.3, 1e-5);
    VT_ASSERT_NO_ERROR();
    compare(y, yr, 1, &x, &xr, 1e-4, "batch_norm, strided running statistics");
    VT_ASSERT_SAME_VALUES(buf, buf_r, 1e-5, 1e-6, "the running statistics' buffer");
    /* eval mode reads them strided too */
    y = volt_batch_norm(x, rm, rv, NULL, NULL, false, 0.3, 1e-5);
    yr = volt_batch_norm(xr, rmr, rvr, NULL, NULL, false, 0.3, 1e-5);
    VT_ASSERT_SAME_VALUES(y, yr, 1e-4, 1e-4, "batch_norm eval, strided running statistics");
}

/* ---------------------------------------------------------------- refusals */

static void test_refusals_name_the_op(void **state) {
    (void)state;
    volt_tensor *w = gpu(volt_randn(VOLT_SHAPE(3, 2, 2, 2), VOLT_F32, NULL));
    assert_null(volt_conv2d(gpu(volt_ones(VOLT_SHAPE(1, 2, 6, 6), VOLT_I64)), w, NULL, NULL, NULL,
                            NULL, 1));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "conv2d");
    assert_null(volt_max_pool2d(gpu(volt_ones(VOLT_SHAPE(1, 2, 6, 6), VOLT_I64)), (int64_t[]){2, 2},
                                NULL, NULL, NULL, false, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "max_pool2d");
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_conv");
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_conv2d_matches_cpu),         VT_CUDA_TEST(test_conv1d_and_large),
        VT_CUDA_TEST(test_conv_non_contiguous),        VT_CUDA_TEST(test_conv_gradcheck_f64),
        VT_CUDA_TEST(test_pool_matches_cpu),           VT_CUDA_TEST(test_batch_norm_matches_cpu),
        VT_CUDA_TEST(test_batch_norm_strided_running), VT_CUDA_TEST(test_refusals_name_the_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
