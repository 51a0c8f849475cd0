/* test_scope.c: lifetimes (DESIGN.md §2) — scopes free what they own, keep
 * hands a tensor outwards, persist hands it to the caller, nesting, and the
 * graph keeping saved tensors alive after their scope ends. */
#include "volt_test.h"

static int64_t allocated(void) { return volt_cpu_memory_stats().allocated_bytes; }

static void test_scope_frees_everything(void **state) {
    (void)state;
    int64_t before = allocated();
    int depth = volt_scope_depth();
    volt_scope_begin();
    assert_int_equal(volt_scope_depth(), depth + 1);
    for (int i = 0; i < 100; i++) assert_non_null(volt_ones(VOLT_SHAPE(16, 16), VOLT_F32));
    assert_true(allocated() > before);
    volt_scope_end();
    assert_int_equal(volt_scope_depth(), depth);
    assert_int_equal(allocated(), before);
}

static void test_keep_moves_outwards(void **state) {
    (void)state;
    int64_t before = allocated();
    volt_scope_begin(); /* outer */
    volt_tensor *kept = NULL;
    volt_scope_begin(); /* inner */
    volt_tensor *t = volt_full(VOLT_SHAPE(8), 3.0, VOLT_F64);
    volt_tensor *dropped = volt_full(VOLT_SHAPE(8), 4.0, VOLT_F64);
    (void)dropped;
    kept = volt_keep(t);
    volt_scope_end(); /* inner: frees `dropped`, not `kept` */
    assert_true(volt_tensor_get_flat(kept, 7) == 3.0);
    volt_scope_end(); /* outer frees kept */
    assert_int_equal(allocated(), before);
}

static void test_persist_hands_to_caller(void **state) {
    (void)state;
    int64_t before = allocated();
    int depth = volt_scope_depth();
    volt_tensor *owned = NULL, *persisted = NULL;
    volt_scope_begin();
    owned = volt_ones(VOLT_SHAPE(5), VOLT_F32);
    persisted = volt_persist(volt_zeros(VOLT_SHAPE(5), VOLT_F32));
    volt_scope_end();
    assert_int_equal(volt_scope_depth(), depth);
    (void)owned; /* freed by the scope */
    assert_true(volt_tensor_get_flat(persisted, 4) == 0.0);
    volt_tensor_free(persisted);
    assert_int_equal(allocated(), before);
}

static void test_no_scope_means_caller_owns(void **state) {
    (void)state;
    /* Close vt_setup's scope temporarily: with no scope open the caller
     * owns what it creates. */
    int depth = volt_scope_depth();
    for (int i = 0; i < depth; i++) volt_scope_end();
    int64_t before = allocated();
    volt_tensor *t = volt_ones(VOLT_SHAPE(10), VOLT_F32);
    assert_non_null(t);
    assert_int_equal(volt_scope_depth(), 0);
    volt_tensor *k = volt_keep(t); /* no-op for a caller-owned tensor */
    assert_ptr_equal(k, t);
    volt_tensor_free(t);
    assert_int_equal(allocated(), before);
    for (int i = 0; i < depth; i++) volt_scope_begin();
}

static void test_free_inside_scope(void **state) {
    (void)state;
    int64_t before = allocated();
    volt_scope_begin();
    volt_tensor *a = volt_ones(VOLT_SHAPE(1000), VOLT_F32);
    volt_tensor_free(a); /* dropped early: its memory returns now */
    assert_int_equal(allocated(), before);
    volt_scope_end();
    assert_int_equal(allocated(), before);
}

static void test_views_keep_storage_alive(void **state) {
    (void)state;
    volt_tensor *view;
    volt_scope_begin();
    volt_tensor *base = volt_arange(0, 12, 1, VOLT_F32);
    volt_scope_begin();
    view = volt_keep(volt_reshape(base, VOLT_SHAPE(3, 4)));
    volt_scope_end();
    volt_tensor_free(base);
    /* The view holds the storage. */
    assert_true(volt_tensor_get(view, (int64_t[]){2, 3}) == 11.0);
    volt_scope_end();
}

static void test_graph_survives_its_scope(void **state) {
    (void)state;
    /* The loss is kept out of the scope where the graph was built; the
     * intermediates the graph saved stay alive until backward frees them. */
    int64_t before = allocated();
    volt_tensor *x =
        volt_persist(volt_requires_grad(volt_full(VOLT_SHAPE(4), 3.0, VOLT_F64), true));
    volt_tensor *loss;
    volt_scope_begin();
    volt_scope_begin();
    volt_tensor *y = volt_mul(x, x);                /* saves x twice */
    loss = volt_keep(volt_sum_all(volt_mul(y, y))); /* saves y */
    volt_scope_end();
    assert_int_equal(volt_backward(loss), VOLT_OK);
    /* d/dx sum(x^4) = 4 x^3 = 108 */
    VT_ASSERT_CLOSE(x->grad, ((double[]){108, 108, 108, 108}), 4, 1e-12, 0);
    volt_scope_end();
    volt_tensor_free(x);
    assert_int_equal(allocated(), before);
}

static void test_scope_end_without_begin(void **state) {
    (void)state;
    int depth = volt_scope_depth();
    for (int i = 0; i < depth; i++) volt_scope_end();
    volt_scope_end();
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "scope_end: no scope is open");
    for (int i = 0; i < depth; i++) volt_scope_begin();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_scope_frees_everything),   VT_TEST(test_keep_moves_outwards),
        VT_TEST(test_persist_hands_to_caller),  VT_TEST(test_no_scope_means_caller_owns),
        VT_TEST(test_free_inside_scope),        VT_TEST(test_views_keep_storage_alive),
        VT_TEST(test_graph_survives_its_scope), VT_TEST(test_scope_end_without_begin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
