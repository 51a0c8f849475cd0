/* test_cuda_refusal.c: what volt says about CUDA where it cannot run it; runs
 * on every machine. Without a driver or device (or without the CUDA
 * backend) a tensor on cuda:0 is refused with the reason, and so are
 * to_device, pin_memory and the allocator's queries. Ops whose CUDA path
 * composes other ops or takes a route of its own fail cleanly on CPU tensors
 * labelled cuda:0 (which a CPU kernel would read without crashing — so a
 * path that forgets the device shows as a wrong answer here, not as a
 * crash on a GPU machine); ops on two devices name both. */
#include <stdio.h>
#include <string.h>

#include "volt_test.h"

static const volt_device cuda0 = {VOLT_CUDA, 0};

/* t on cuda:0: a real copy where there is a device, else a CPU view
 * labelled cuda:0. */
static volt_tensor *on_gpu(volt_tensor *t) {
    if (volt_cuda_is_available()) return volt_to_device(t, cuda0);
    volt_tensor *v = volt_tensor_alias(t, t->ndim, t->shape, t->strides, t->offset);
    v->device = cuda0;
    return v;
}

/* The reason this machine gives for cuda:0 (no backend, no device). */
static const char *no_device_reason(void) {
    return volt_cuda_is_built() ? "cuda:0: no CUDA device is available (cudaGetDeviceCount: "
                                : "this build of volt has no CUDA backend";
}

static void test_no_device_refused(void **state) {
    (void)state;
    if (volt_cuda_is_available()) {
        int n = volt_cuda_device_count();
        assert_int_equal(volt_device_check((volt_device){VOLT_CUDA, n}), VOLT_ERR_DEVICE);
        VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "this machine has");
        return;
    }
    assert_int_equal(volt_cuda_device_count(), 0);
    assert_int_equal(volt_device_check(cuda0), VOLT_ERR_DEVICE);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, no_device_reason());
    assert_null(volt_tensor_new(VOLT_F32, cuda0, 1, (int64_t[]){4}));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, no_device_reason());
    volt_tensor *x = volt_ones(VOLT_SHAPE(4), VOLT_F32);
    assert_null(volt_to_device(x, cuda0));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "to_device: ");
    assert_null(volt_to_device(x, (volt_device){VOLT_CUDA, 3}));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "cuda:3");
    assert_null(volt_pin_memory(x));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "pin_memory: ");
    assert_false(volt_tensor_is_pinned(x));
    volt_memory_stats s = volt_cuda_memory_stats(0);
    assert_int_equal(s.reserved_bytes, 0);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "cuda_memory_stats: cuda:0");
    assert_int_equal(volt_cuda_synchronize(0), VOLT_ERR_DEVICE);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "cuda_synchronize: cuda:0");
    volt_cuda_reset_peak_memory_stats(0);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "cuda:0");
    volt_cuda_empty_cache();       /* nothing to do, no error */
    volt_cuda_alloc_fail_after(1); /* likewise */
    volt_cuda_alloc_fail_after(0);
    /* The CPU carries on. */
    assert_true(volt_tensor_item(volt_sum_all(x)) == 4.0);
}

/* The inputs every op below takes, on cuda:0. */
typedef struct {
    volt_tensor *x, *m, *v, *p, *idx, *mask, *w, *x1, *w1, *logits, *target, *q, *rm, *rv, *b;
} inputs;

static inputs make_inputs(void) {
    inputs in;
    in.x = on_gpu(volt_randn(VOLT_SHAPE(2, 3, 4, 4), VOLT_F32, NULL)); /* an image batch */
    in.m = on_gpu(volt_randn(VOLT_SHAPE(4, 4), VOLT_F32, NULL));
    in.v = on_gpu(volt_randn(VOLT_SHAPE(4), VOLT_F32, NULL));
    in.p = on_gpu(volt_full(VOLT_SHAPE(4), 0.5, VOLT_F32));
    in.idx = on_gpu(volt_arange(0, 2, 1, VOLT_I64));
    in.mask =
        on_gpu(volt_gt(volt_randn(VOLT_SHAPE(4, 4), VOLT_F32, NULL), volt_scalar(0, VOLT_F32)));
    in.w = on_gpu(volt_randn(VOLT_SHAPE(2, 3, 3, 3), VOLT_F32, NULL));
    in.x1 = on_gpu(volt_randn(VOLT_SHAPE(2, 3, 8), VOLT_F32, NULL));
    in.w1 = on_gpu(volt_randn(VOLT_SHAPE(2, 3, 3), VOLT_F32, NULL));
    in.logits = on_gpu(volt_randn(VOLT_SHAPE(2, 4), VOLT_F32, NULL));
    in.target = on_gpu(volt_arange(1, 3, 1, VOLT_I64));
    in.q = on_gpu(volt_randn(VOLT_SHAPE(1, 2, 3, 4), VOLT_F32, NULL));
    in.rm = on_gpu(volt_zeros(VOLT_SHAPE(3), VOLT_F32));
    in.rv = on_gpu(volt_ones(VOLT_SHAPE(3), VOLT_F32));
    in.b = on_gpu(volt_randn(VOLT_SHAPE(4), VOLT_F32, NULL));
    return in;
}

static const int64_t k2[2] = {2, 2}, s1[2] = {1, 1}, p0[2] = {0, 0}, d1[2] = {1, 1};
static const int64_t same[2] = {VOLT_PADDING_SAME, VOLT_PADDING_SAME};

/* Ops with CUDA kernels checked to fail cleanly on labelled CPU tensors
 * without a device (their CUDA paths cannot allocate there); not run on a
 * GPU, where tests/cuda/test_cuda_{norm,random,index,nn,conv} run them. */
#define GAP_OPS(X)                                                                                 \
    X("bernoulli", volt_bernoulli(in->p, NULL))                                                    \
    X("index_select", volt_index_select(in->m, 0, in->idx))                                        \
    X("gather", volt_gather(in->m, 1, volt_unsqueeze(in->idx, 0)))                                 \
    X("scatter_add", volt_scatter_add(in->m, 0, volt_unsqueeze(in->idx, 1), in->m))                \
    X("masked_fill", volt_masked_fill(in->m, in->mask, 0))                                         \
    X("masked_fill_", volt_masked_fill_(in->m, in->mask, 0))                                       \
    X("one_hot", volt_one_hot(in->idx, 4))                                                         \
    X("tril", volt_tril(in->m, 0))                                                                 \
    X("mse_loss", volt_mse_loss(in->m, in->m, VOLT_REDUCTION_MEAN))                                \
    X("binary_cross_entropy", volt_binary_cross_entropy(in->p, in->p, NULL, VOLT_REDUCTION_MEAN))  \
    X("kl_div", volt_kl_div(in->v, in->p, VOLT_REDUCTION_MEAN, false))                             \
    X("dropout", volt_dropout(in->m, 0.5, true, NULL))                                             \
    X("layer_norm", volt_layer_norm(in->m, 1, NULL, NULL, 1e-5))                                   \
    X("group_norm", volt_group_norm(in->x, 3, NULL, NULL, 1e-5))                                   \
    X("rms_norm", volt_rms_norm(in->m, 1, NULL, 1e-5))                                             \
    X("embedding", volt_embedding(in->m, in->idx, VOLT_NO_PADDING_IDX))                            \
    X("adaptive_avg_pool2d (unequal windows)", volt_adaptive_avg_pool2d(in->x, 3, 3))              \
    X("conv2d (asymmetric 'same' padding)",                                                        \
      volt_conv2d(in->x, volt_narrow(in->w, 2, 0, 2), NULL, s1, same, d1, 1))                      \
    X("max_pool2d (indices)", volt_max_pool2d(in->x, k2, k2, p0, d1, false, &in->b))               \
    X("max_pool2d (dilation)", volt_max_pool2d(in->x, k2, k2, p0, k2, false, NULL))                \
    X("avg_pool2d (ceil_mode's extra window)",                                                     \
      volt_avg_pool2d(in->x, (int64_t[]){3, 3}, k2, p0, true, true))                               \
    X("batch_norm (strided running_mean)",                                                         \
      volt_batch_norm(in->x, volt_slice(volt_flatten(in->m, 0, 1), 0, 0, 6, 2), in->rv, NULL,      \
                      NULL, true, 0.1, 1e-5))

#define RUN_CASE(name, call)                                                                       \
    if (k == i++) return (call);
#define NAME_CASE(name, call) name,

static volt_tensor *run_gap(int k, inputs *in) {
    int i = 0;
    GAP_OPS(RUN_CASE)
    return NULL;
}

static const char *const gap_names[] = {GAP_OPS(NAME_CASE)};

/* Runs gap op k on fresh CUDA inputs; true when it failed with
 * VOLT_ERR_DEVICE and a message naming cuda:0. */
static bool fails_cleanly(int k, const char *name) {
    volt_scope_begin();
    volt_error_clear();
    inputs in = make_inputs();
    VT_ASSERT_NO_ERROR();
    volt_tensor *r = run_gap(k, &in);
    const char *msg = volt_error_message();
    bool ok = !r && volt_error_status() == VOLT_ERR_DEVICE && strstr(msg, "cuda:0");
    if (!ok) printf("%s: not refused (%s): \"%s\"\n", name, r ? "it ran" : "another error", msg);
    volt_error_clear();
    volt_scope_end();
    return ok;
}

static void test_known_gaps_fail_cleanly(void **state) {
    (void)state;
    if (volt_cuda_is_available()) return;
    int failures = 0;
    for (int k = 0; k < (int)(sizeof gap_names / sizeof gap_names[0]); k++)
        failures += !fails_cleanly(k, gap_names[k]);
    assert_int_equal(failures, 0);
}

static void test_two_devices(void **state) {
    (void)state;
    volt_tensor *cpu = volt_ones(VOLT_SHAPE(4), VOLT_F32);
    volt_tensor *gpu = on_gpu(volt_ones(VOLT_SHAPE(4), VOLT_F32));
    assert_null(volt_add(cpu, gpu));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "add: tensors on cpu and cuda:0");
    assert_null(volt_mul(gpu, cpu));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "mul: tensors on cuda:0 and cpu");
    assert_null(volt_add_(cpu, gpu));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "add_: tensors on cpu and cuda:0");
    volt_tensor *m = volt_ones(VOLT_SHAPE(4, 4), VOLT_F32);
    assert_null(volt_matmul(m, on_gpu(m)));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "matmul: tensors on cpu and cuda:0");
    /* A CUDA 0-d tensor is no scalar for a CPU tensor. */
    assert_null(volt_add(cpu, on_gpu(volt_scalar(1, VOLT_F32))));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "add: tensors on cpu and cuda:0");
}

/* Views and the ops with CUDA kernels take CUDA tensors: views work without
 * a device (they touch no data); the kernels need one, and say so. */
static void test_views_and_kernels(void **state) {
    (void)state;
    volt_tensor *m = on_gpu(volt_ones(VOLT_SHAPE(4, 6), VOLT_F32));
    volt_tensor *views[] = {
        volt_reshape(m, VOLT_SHAPE(24)),
        volt_view(m, VOLT_SHAPE(6, 4)),
        volt_flatten(m, 0, 1),
        volt_transpose(m, 0, 1),
        volt_unsqueeze(m, 0),
        volt_squeeze(volt_unsqueeze(m, 0), 0),
        volt_narrow(m, 1, 2, 3),
        volt_slice(m, 1, 0, 6, 2),
        volt_contiguous(m),
        volt_expand(volt_unsqueeze(m, 0), VOLT_SHAPE(3, 4, 6)),
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        VT_ASSERT_NO_ERROR();
        assert_non_null(views[i]);
        assert_true(volt_device_equal(views[i]->device, cuda0));
    }
    if (volt_cuda_is_available()) return; /* tests/cuda/test_cuda_ops runs them */
    assert_null(volt_add(m, m));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, no_device_reason());
    assert_null(volt_mul_scalar(m, 2));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, no_device_reason());
    assert_null(volt_empty_like(m));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, no_device_reason());
    assert_null(volt_zeros_like(m));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, no_device_reason());
    assert_null(volt_clone(m));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, no_device_reason());
    assert_null(volt_contiguous(volt_transpose(m, 0, 1))); /* a clone */
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, no_device_reason());
    assert_null(volt_fill_(m, 3.0)); /* the launch itself fails */
    assert_int_equal(volt_error_status(), VOLT_ERR_DEVICE);
    volt_error_clear();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_no_device_refused),
        VT_TEST(test_known_gaps_fail_cleanly),
        VT_TEST(test_two_devices),
        VT_TEST(test_views_and_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
