/* test_tensor.c: tensors over storage — geometry, views, element access,
 * copies out, wrapped storage, version counters, devices, the sticky error,
 * thread control, and volt_tensor_set_data. */
#include <math.h>
#include <string.h>

#include "volt_test.h"

static void test_geometry(void **state) {
    (void)state;
    volt_tensor *t = volt_empty(VOLT_SHAPE(2, 3, 4), VOLT_F32);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->strides[0], 12);
    assert_int_equal(t->strides[1], 4);
    assert_int_equal(t->strides[2], 1);
    assert_int_equal(volt_tensor_numel(t), 24);
    assert_true(volt_tensor_is_contiguous(t));
    assert_false(t->requires_grad);
    assert_null(t->grad);
    assert_null(t->grad_fn);
    volt_tensor *s = volt_scalar(5, VOLT_I64);
    assert_int_equal(s->ndim, 0);
    assert_int_equal(volt_tensor_numel(s), 1);
    assert_true(volt_tensor_item(s) == 5.0);
    volt_tensor *e = volt_empty(VOLT_SHAPE(3, 0), VOLT_F32);
    assert_int_equal(volt_tensor_numel(e), 0);
    char buf[64];
    assert_string_equal(volt_shape_str(t, buf, sizeof buf), "f32[2,3,4]");
    assert_string_equal(volt_shape_str(s, buf, sizeof buf), "i64[]");
    assert_string_equal(volt_shape_str(NULL, buf, sizeof buf), "NULL");
    assert_null(volt_empty(9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, VOLT_F32));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "9 dimensions (at most 8)");
    assert_null(volt_empty(VOLT_SHAPE(2), (volt_dtype)42));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "invalid dtype 42");
}

static void test_alias_views_share_storage(void **state) {
    (void)state;
    volt_tensor *base = volt_arange(0, 6, 1, VOLT_F64); /* 0..5 */
    /* A transposed [3,2] view of the [2,3] layout. */
    volt_tensor *tv = volt_tensor_alias(base, 2, (int64_t[]){3, 2}, (int64_t[]){1, 3}, 0);
    assert_false(volt_tensor_is_contiguous(tv));
    assert_true(volt_tensor_get(tv, (int64_t[]){2, 1}) == 5.0);
    assert_true(volt_tensor_get(tv, (int64_t[]){1, 0}) == 1.0);
    double out[6];
    assert_int_equal(volt_tensor_copy_to_array(tv, VOLT_F64, out), VOLT_OK);
    double expected[6] = {0, 3, 1, 4, 2, 5};
    assert_memory_equal(out, expected, sizeof out);
    /* Writes through the base are seen by the view. */
    ((double *)volt_tensor_data(base))[4] = 40;
    assert_true(volt_tensor_get(tv, (int64_t[]){1, 1}) == 40.0);
    /* An offset view. */
    volt_tensor *tail = volt_tensor_alias(base, 1, (int64_t[]){2}, NULL, 4);
    assert_true(volt_tensor_get_flat(tail, 0) == 40.0);
    assert_ptr_equal(volt_tensor_data(tail), (double *)volt_tensor_data(base) + 4);
    /* A size-1 dim with any stride is still contiguous. */
    volt_tensor *row = volt_tensor_alias(base, 2, (int64_t[]){1, 6}, (int64_t[]){99, 1}, 0);
    assert_true(volt_tensor_is_contiguous(row));
}

static void test_element_access_errors(void **state) {
    (void)state;
    volt_tensor *t = volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32);
    assert_true(isnan(volt_tensor_get(t, (int64_t[]){2, 0})));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "index 2 out of range for dimension 0 of size 2");
    assert_true(isnan(volt_tensor_get_flat(t, 6)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "index 6 out of range for 6 elements");
    assert_true(isnan(volt_tensor_item(t)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "item: f32[2,3] has 6 elements, not one");
    assert_int_equal(volt_tensor_copy_to_array(t, VOLT_F32, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL argument");
}

static void test_copy_to_array_converts(void **state) {
    (void)state;
    volt_tensor *t = volt_from_array((float[]){1.5f, -2.25f, 3.0f}, VOLT_F32, VOLT_SHAPE(3));
    int64_t i[3];
    assert_int_equal(volt_tensor_copy_to_array(t, VOLT_I64, i), VOLT_OK);
    assert_int_equal(i[0], 1);
    assert_int_equal(i[1], -2);
    uint16_t h[3];
    assert_int_equal(volt_tensor_copy_to_array(t, VOLT_F16, h), VOLT_OK);
    assert_int_equal(h[0], volt_f32_to_f16(1.5f));
    uint8_t b[3];
    volt_tensor *z = volt_from_array((double[]){0, 2, -1}, VOLT_F64, VOLT_SHAPE(3));
    assert_int_equal(volt_tensor_copy_to_array(z, VOLT_BOOL, b), VOLT_OK);
    assert_memory_equal(b, ((uint8_t[]){0, 1, 1}), 3);
}

static int released_count;
static void count_release(void *data, void *ctx) {
    (void)data;
    released_count += *(int *)ctx;
}

static void test_wrapped_storage(void **state) {
    (void)state;
    static float user[4] = {1, 2, 3, 4};
    int weight = 1;
    released_count = 0;
    volt_storage *s = volt_storage_wrap(VOLT_DEVICE_CPU, user, sizeof user, count_release, &weight);
    assert_non_null(s);
    volt_tensor *t = volt_tensor_from_storage(s, VOLT_F32, 2, (int64_t[]){2, 2}, NULL, 0);
    volt_storage_release(s); /* the tensor holds it now */
    assert_true(volt_tensor_get(t, (int64_t[]){1, 0}) == 3.0);
    assert_int_equal(released_count, 0);
    volt_tensor_free(t);
    assert_int_equal(released_count, 1);
    assert_null(volt_storage_wrap(VOLT_DEVICE_CPU, NULL, 16, NULL, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL data of 16 bytes");
}

static void test_version_counter(void **state) {
    (void)state;
    volt_tensor *t = volt_zeros(VOLT_SHAPE(3), VOLT_F32);
    volt_tensor *view = volt_reshape(t, VOLT_SHAPE(1, 3));
    uint64_t v0 = volt_storage_version(t->storage);
    volt_fill_(view, 2.0);
    assert_int_equal(volt_storage_version(t->storage), v0 + 1);
    volt_add_(view, t);
    assert_int_equal(volt_storage_version(t->storage), v0 + 2);
    assert_true(volt_tensor_get_flat(t, 2) == 4.0);
}

/* cuda:<the device count> never exists; the message says why. */
static void test_devices(void **state) {
    (void)state;
    assert_int_equal(volt_device_check(VOLT_DEVICE_CPU), VOLT_OK);
    int n = volt_cuda_device_count();
    volt_device cuda = {VOLT_CUDA, n};
    const char *why = !volt_cuda_is_built() ? "cuda:0: this build of volt has no CUDA backend"
                      : n == 0 ? "cuda:0: no CUDA device is available (cudaGetDeviceCount: "
                               : "this machine has";
    assert_int_equal(volt_device_check(cuda), VOLT_ERR_DEVICE);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, why);
    assert_null(volt_tensor_new(VOLT_F32, cuda, 1, (int64_t[]){4}));
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, why);
    assert_int_equal(volt_device_check((volt_device){VOLT_CUDA, -1}), VOLT_ERR_DEVICE);
    volt_error_clear();
    assert_true(volt_device_equal(VOLT_DEVICE_CPU, (volt_device){VOLT_CPU, 3}));
    assert_false(volt_device_equal((volt_device){VOLT_CUDA, 0}, (volt_device){VOLT_CUDA, 1}));
    char buf[32];
    assert_string_equal(volt_device_str((volt_device){VOLT_CUDA, 2}, buf, sizeof buf), "cuda:2");
    assert_string_equal(volt_device_str(VOLT_DEVICE_CPU, buf, sizeof buf), "cpu");
}

static void test_sticky_error(void **state) {
    (void)state;
    assert_int_equal(volt_error_status(), VOLT_OK);
    assert_string_equal(volt_error_message(), "");
    assert_int_equal(volt_error_set(VOLT_ERR_SHAPE, "first %d", 1), VOLT_ERR_SHAPE);
    volt_error_set(VOLT_ERR_DTYPE, "second");
    /* The first error is kept: it is the cause. */
    assert_int_equal(volt_error_status(), VOLT_ERR_SHAPE);
    assert_string_equal(volt_error_message(), "volt: first 1");
    volt_error_clear();
    assert_int_equal(volt_error_status(), VOLT_OK);
    assert_string_equal(volt_status_name(VOLT_ERR_IO), "VOLT_ERR_IO");
    /* NULL inputs propagate as NULL without replacing the cause. */
    volt_tensor *a = volt_ones(VOLT_SHAPE(2, 3), VOLT_F32), *b = volt_ones(VOLT_SHAPE(4), VOLT_F32);
    volt_tensor *bad = volt_add(a, b);
    assert_null(bad);
    assert_null(volt_mul(bad, a));
    assert_null(volt_sum_all(volt_exp(bad)));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "add: [2,3] and [4]: shapes cannot be broadcast");
}

static void test_threads_and_time(void **state) {
    (void)state;
    int n = volt_get_num_threads();
    assert_true(n >= 1);
    assert_int_equal(volt_set_num_threads(1), VOLT_OK);
    assert_int_equal(volt_get_num_threads(), 1);
    assert_int_equal(volt_set_num_threads(0), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "set_num_threads: 0 threads");
    assert_int_equal(volt_set_num_threads(n), VOLT_OK);
    double t0 = volt_time_now(), t1 = volt_time_now();
    assert_true(t1 >= t0);
    assert_string_equal(volt_version(), VOLT_VERSION_STRING);
}

/* torch's t.data = src: the same tensor object over src's storage and
 * geometry, its gradient dropped, requires_grad kept; a non-leaf refused. */
static void test_set_data(void **state) {
    (void)state;
    volt_tensor *p = volt_requires_grad(volt_zeros(VOLT_SHAPE(2, 3), VOLT_F32), true);
    assert_int_equal(volt_backward(volt_sum_all(volt_mul_scalar(p, 2.0))), VOLT_OK);
    assert_non_null(p->grad);
    volt_tensor *src = volt_transpose(volt_ones(VOLT_SHAPE(3, 4), VOLT_F64), 0, 1);
    assert_int_equal(volt_tensor_set_data(p, src), VOLT_OK);
    assert_ptr_equal(p->storage, src->storage);
    assert_int_equal(p->dtype, VOLT_F64);
    assert_int_equal(p->ndim, 2);
    assert_int_equal(p->shape[0], 4);
    assert_int_equal(p->strides[0], 1);
    assert_null(p->grad);
    assert_true(p->requires_grad);
    assert_true(volt_tensor_get_flat(p, 5) == 1.0);
    volt_tensor *y = volt_mul_scalar(p, 3.0);
    assert_int_equal(volt_tensor_set_data(y, src), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "tensor_set_data: the tensor is not a leaf");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_geometry),
        VT_TEST(test_alias_views_share_storage),
        VT_TEST(test_element_access_errors),
        VT_TEST(test_copy_to_array_converts),
        VT_TEST(test_wrapped_storage),
        VT_TEST(test_version_counter),
        VT_TEST(test_devices),
        VT_TEST(test_sticky_error),
        VT_TEST(test_threads_and_time),
        VT_TEST(test_set_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
