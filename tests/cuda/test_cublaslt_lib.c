/* test_cublaslt_lib.c: cuBLASLt is opened at its first use, not linked, so a
 * program that never runs a CUDA matmul does not load its 500 MB (issue 9's
 * start-up and memory goals); and the loader finds the library and every
 * function volt calls. Runs without a GPU: loading needs no driver. Skipped
 * (77) in a build without the CUDA backend. */
#include <stdio.h>
#include <string.h>

#include "volt_test.h"

#ifdef VOLT_HAVE_CUDA
#include "ops/cuda/cublaslt_lib.h"

static void test_not_loaded_until_used(void **state) {
    (void)state;
    volt_tensor *a = volt_ones(VOLT_SHAPE(4, 4), VOLT_F32);
    volt_tensor *p = volt_matmul(a, a); /* a CPU product, CUDA devices counted */
    assert_non_null(p);
    (void)volt_cuda_is_available();
    assert_false(vt_file_mapped("libcublasLt"));
}

static void test_loads_every_function(void **state) {
    (void)state;
    const volt_cublaslt_api *lt = volt_cublaslt();
    assert_non_null(lt);
    assert_true(vt_file_mapped("libcublasLt"));
    assert_true(lt->Create && lt->Destroy && lt->Matmul && lt->MatmulAlgoGetHeuristic &&
                lt->MatmulDescCreate && lt->MatmulDescDestroy && lt->MatmulDescSetAttribute &&
                lt->MatmulPreferenceCreate && lt->MatmulPreferenceDestroy &&
                lt->MatmulPreferenceSetAttribute && lt->MatrixLayoutCreate &&
                lt->MatrixLayoutDestroy && lt->MatrixLayoutSetAttribute && lt->GetStatusName &&
                lt->GetStatusString);
    assert_string_equal(lt->GetStatusName(CUBLAS_STATUS_NOT_INITIALIZED),
                        "CUBLAS_STATUS_NOT_INITIALIZED");
    assert_ptr_equal(volt_cublaslt(), lt); /* loaded once */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_not_loaded_until_used), /* first: nothing has loaded it yet */
        VT_TEST(test_loads_every_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
int main(void) {
    printf("SKIPPED: cuda/test_cublaslt_lib: this build has no CUDA backend\n");
    return 77;
}
#endif
