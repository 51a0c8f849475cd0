/* test_fabric_lower.c: the Fabric calls added for the trainer, which runs
 * on Fabric, in one process — volt_fabric_optimizer_step (one step of the
 * set-up optimizer, computed by hand), volt_fabric_reduce_bool and
 * volt_fabric_broadcast_string with one rank, volt_fabric_gradient_sync_stats
 * (zeros without a reducer), strategy "zero1" with one process (nothing to
 * shard: a plain loop), and their errors before launch and for bad
 * arguments. (Two ranks: tests/dist/test_mpi_fabric_zero1.c.) */
#include "volt_test.h"
#include "lin_fixture.h"

#include <stdlib.h>
#include <string.h>

static volt_fabric *launched(const char *strategy) {
    volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.strategy = strategy});
    assert_non_null(f);
    assert_int_equal(volt_fabric_launch(f), VOLT_OK);
    return f;
}

static void test_before_launch(void **state) {
    (void)state;
    volt_fabric *f = volt_fabric_new(NULL);
    bool v = true;
    char *s = NULL;
    assert_int_equal(volt_fabric_reduce_bool(f, &v, true), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "fabric: reduce_bool: the fabric is not launched");
    assert_int_equal(volt_fabric_broadcast_string(f, &s, 0), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "fabric: broadcast_string: the fabric is not launched");
    assert_int_equal(volt_fabric_optimizer_step(f, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "fabric: optimizer_step: the fabric is not launched");
    volt_grad_reducer_stats z = volt_fabric_gradient_sync_stats(f);
    assert_int_equal(z.reductions, 0);
    assert_int_equal(volt_fabric_gradient_sync_stats(NULL).bytes, 0);
    volt_fabric_free(f);
}

/* loss = sum(fc(x)) at x = (3, 4): d/dw = x, d/db = 1; SGD lr 0.1 steps
 * w to (0.7, 1.6) and b to 0.4. */
static void one_step(const char *strategy) {
    lin m;
    lin_init(&m);
    volt_fabric *f = launched(strategy);
    volt_optimizer *opt =
        volt_sgd_new(volt_module_parameters(&m.base), &(volt_sgd_options){.lr = 0.1});
    assert_int_equal(volt_fabric_setup_module(f, &m.base), VOLT_OK);
    assert_int_equal(volt_fabric_setup_optimizers(f, opt), VOLT_OK);
    volt_scope_begin();
    volt_tensor *x = volt_from_array((float[]){3, 4}, VOLT_F32, VOLT_SHAPE(1, 2));
    volt_tensor *loss = volt_sum_all(volt_linear_forward(m.fc, x));
    assert_int_equal(volt_fabric_backward(f, loss, NULL), VOLT_OK);
    volt_scope_end();
    assert_int_equal(volt_fabric_optimizer_step(f, opt), VOLT_OK);
    const float *w = volt_tensor_data(volt_module_get(&m.base, "fc.weight"));
    assert_float_equal(w[0], 0.7, 1e-6);
    assert_float_equal(w[1], 1.6, 1e-6);
    assert_float_equal(*(const float *)volt_tensor_data(volt_module_get(&m.base, "fc.bias")), 0.4,
                       1e-6);
    assert_int_equal(volt_fabric_gradient_sync_stats(f).reductions, 0); /* no reducer */
    volt_fabric_free(f);
    volt_optimizer_free(opt);
    volt_module_free(&m.base);
}

static void test_optimizer_step(void **state) {
    (void)state;
    one_step(NULL);
    one_step("zero1"); /* one process: nothing to shard */
    volt_fabric *f = launched("zero1");
    assert_string_equal(volt_fabric_strategy(f), "zero1");
    assert_int_equal(volt_fabric_world_size(f), 1);
    /* an optimizer that was not set up */
    lin m;
    lin_init(&m);
    volt_optimizer *opt =
        volt_sgd_new(volt_module_parameters(&m.base), &(volt_sgd_options){.lr = 0.1});
    assert_int_equal(volt_fabric_optimizer_step(f, opt), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "fabric: optimizer_step: the optimizer was not set up "
                    "(volt_fabric_setup_optimizers)");
    assert_int_equal(volt_fabric_optimizer_step(f, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fabric: optimizer_step: NULL optimizer");
    volt_fabric_free(f);
    volt_optimizer_free(opt);
    volt_module_free(&m.base);
}

static void test_bool_and_string_with_one_rank(void **state) {
    (void)state;
    volt_fabric *f = launched(NULL);
    bool v = true;
    assert_int_equal(volt_fabric_reduce_bool(f, &v, true), VOLT_OK);
    assert_true(v);
    v = false;
    assert_int_equal(volt_fabric_reduce_bool(f, &v, false), VOLT_OK);
    assert_false(v);
    assert_int_equal(volt_fabric_reduce_bool(f, NULL, true), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fabric: reduce_bool: NULL value");
    char *s = strdup("kept");
    assert_int_equal(volt_fabric_broadcast_string(f, &s, 0), VOLT_OK);
    assert_string_equal(s, "kept");
    assert_int_equal(volt_fabric_broadcast_string(f, &s, 1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fabric: broadcast_string: src = 1 (world size 1)");
    assert_int_equal(volt_fabric_broadcast_string(f, NULL, 0), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fabric: broadcast_string: NULL s");
    free(s);
    volt_fabric_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_before_launch),
        VT_TEST(test_optimizer_step),
        VT_TEST(test_bool_and_string_with_one_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
