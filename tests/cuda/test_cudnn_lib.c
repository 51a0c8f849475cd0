/* test_cudnn_lib.c: cuDNN is opened at its first use, not linked, so a
 * program that never runs a CUDA convolution, pooling or batch norm does not
 * map its libraries; and the loader finds the library and every function
 * volt calls. Runs without a GPU: loading needs no driver. Skipped (77) in
 * a build without the CUDA backend. */
#include <stdio.h>
#include <string.h>

#include "volt_test.h"

#ifdef VOLT_HAVE_CUDA
#include "ops/cuda/cudnn_lib.h"

static void test_not_loaded_until_used(void **state) {
    (void)state;
    volt_tensor *x = volt_randn(VOLT_SHAPE(1, 2, 5, 5), VOLT_F32, NULL);
    volt_tensor *w = volt_randn(VOLT_SHAPE(3, 2, 3, 3), VOLT_F32, NULL);
    volt_tensor *y = volt_max_pool2d(volt_conv2d(x, w, NULL, NULL, NULL, NULL, 1),
                                     (int64_t[]){2, 2}, NULL, NULL, NULL, false, NULL);
    assert_non_null(y); /* CPU ops, CUDA devices counted */
    (void)volt_cuda_is_available();
    assert_false(vt_file_mapped("libcudnn"));
}

static void test_loads_every_function(void **state) {
    (void)state;
    const volt_cudnn_api *dnn = volt_cudnn();
    assert_non_null(dnn);
    assert_true(vt_file_mapped("libcudnn"));
    const void *const fns[] = {
#define FN(f) (const void *)dnn->f,
        VOLT_CUDNN_FUNCTIONS(FN)
#undef FN
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) assert_non_null(fns[i]);
    assert_true(dnn->GetVersion() >= 90000);
    assert_string_equal(dnn->GetErrorString(CUDNN_STATUS_NOT_INITIALIZED),
                        "CUDNN_STATUS_NOT_INITIALIZED");
    assert_ptr_equal(volt_cudnn(), dnn); /* loaded once */
}

/* A failed cuDNN call becomes a volt error naming the call and the reason. */
static void test_check_reports(void **state) {
    (void)state;
    assert_int_equal(VOLT_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM, "a hint"), VOLT_ERR_DEVICE);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE,
                    "cudnn: CUDNN_STATUS_BAD_PARAM failed: CUDNN_STATUS_BAD_PARAM");
    assert_int_equal(VOLT_CUDNN_CHECK(CUDNN_STATUS_SUCCESS, NULL), VOLT_OK);
    cudnnDataType_t t;
    assert_true(volt_cudnn_dtype(VOLT_BF16, &t) && t == CUDNN_DATA_BFLOAT16);
    assert_false(volt_cudnn_dtype(VOLT_I64, &t));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_not_loaded_until_used), /* first: nothing has loaded it yet */
        VT_TEST(test_loads_every_function),
        VT_TEST(test_check_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
int main(void) {
    printf("SKIPPED: cuda/test_cudnn_lib: this build has no CUDA backend\n");
    return 77;
}
#endif
