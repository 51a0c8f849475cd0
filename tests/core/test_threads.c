/* test_threads.c: VOLT_NUM_THREADS is read at first use and applied to
 * volt's OpenMP kernels; volt_set_num_threads changes it later. Its own
 * binary, so that nothing reads the thread count before the variable is set. */
#include <omp.h>
#include <stdlib.h>

#include "volt_test.h"

static void test_environment_sets_threads(void **state) {
    (void)state;
    assert_int_equal(volt_get_num_threads(), 3);
    assert_int_equal(omp_get_max_threads(), 3);
    assert_int_equal(volt_set_num_threads(1), VOLT_OK);
    assert_int_equal(omp_get_max_threads(), 1);
    /* A large op still computes the same result on one thread. */
    volt_tensor *x = volt_ones(VOLT_SHAPE(1 << 20), VOLT_F32);
    VT_ASSERT_CLOSE(volt_sum_all(x), ((double[]){1 << 20}), 1, 0, 0);
    assert_int_equal(volt_set_num_threads(2), VOLT_OK);
    VT_ASSERT_CLOSE(volt_sum_all(x), ((double[]){1 << 20}), 1, 0, 0);
}

int main(void) {
    setenv("VOLT_NUM_THREADS", "3", 1);
    const struct CMUnitTest tests[] = {
        VT_TEST(test_environment_sets_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
