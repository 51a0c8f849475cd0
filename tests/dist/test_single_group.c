/* test_single_group.c: the "single" backend (world size 1, no MPI) — every
 * collective is the identity or a copy, synchronous and asynchronous — and
 * the argument checks every backend shares: NULLs, devices, non-contiguous
 * tensors, sizes, dtypes, roots, overlapping buffers, each a clear error
 * naming the collective and what was wrong. */
#include "volt_test.h"

#include <volt/dist.h>

static volt_process_group *pg;

static int group_setup(void **state) {
    (void)state;
    pg = volt_process_group_new("single", NULL);
    return pg ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    volt_process_group_free(pg);
    return 0;
}

static volt_tensor *f64(int64_t n, const double *v) {
    return volt_from_array(v, VOLT_F64, 1, (int64_t[]){n});
}

static void test_layout(void **state) {
    (void)state;
    assert_string_equal(volt_process_group_backend(pg), "single");
    assert_int_equal(volt_process_group_rank(pg), 0);
    assert_int_equal(volt_process_group_world_size(pg), 1);
    assert_int_equal(volt_process_group_local_rank(pg), 0);
    assert_int_equal(volt_process_group_local_world_size(pg), 1);
    assert_int_equal(volt_process_group_node_rank(pg), 0);
    assert_int_equal(volt_process_group_num_nodes(pg), 1);
    assert_int_equal(volt_process_group_rank(NULL), -1);
    assert_string_equal(volt_reduce_op_name(VOLT_REDUCE_MEAN), "mean");
}

static void test_collectives_are_identities(void **state) {
    (void)state;
    for (volt_reduce_op op = VOLT_REDUCE_SUM; op <= VOLT_REDUCE_MAX; op++) {
        volt_tensor *t = f64(3, (double[]){1, -2, 3.5});
        uint64_t before = volt_storage_version(t->storage);
        assert_int_equal(volt_dist_all_reduce(pg, t, op), VOLT_OK);
        VT_ASSERT_CLOSE(t, ((double[]){1, -2, 3.5}), 3, 0, 0);
        assert_true(volt_storage_version(t->storage) > before); /* an in-place write */
    }
    volt_tensor *b = f64(2, (double[]){4, 5});
    assert_int_equal(volt_dist_broadcast(pg, b, 0), VOLT_OK);
    VT_ASSERT_CLOSE(b, ((double[]){4, 5}), 2, 0, 0);
    volt_tensor *in = f64(2, (double[]){6, 7});
    volt_tensor *out = volt_zeros(2, (int64_t[]){1, 2}, VOLT_F64);
    assert_int_equal(volt_dist_all_gather(pg, out, in), VOLT_OK);
    VT_ASSERT_CLOSE(out, ((double[]){6, 7}), 2, 0, 0);
    assert_int_equal(volt_dist_all_gather(pg, out, out), VOLT_OK); /* in place */
    VT_ASSERT_CLOSE(out, ((double[]){6, 7}), 2, 0, 0);
    volt_tensor *rs = volt_zeros(1, (int64_t[]){2}, VOLT_F64);
    assert_int_equal(volt_dist_reduce_scatter(pg, rs, in, VOLT_REDUCE_SUM), VOLT_OK);
    VT_ASSERT_CLOSE(rs, ((double[]){6, 7}), 2, 0, 0);
    assert_int_equal(volt_dist_barrier(pg), VOLT_OK);
    /* Any dtype: bf16 reduces on one rank (there is nothing to add). */
    volt_tensor *h = volt_full(1, (int64_t[]){2}, 1.5, VOLT_BF16);
    assert_int_equal(volt_dist_all_reduce(pg, h, VOLT_REDUCE_SUM), VOLT_OK);
    VT_ASSERT_CLOSE(h, ((double[]){1.5, 1.5}), 2, 0, 0);
}

static void test_async_completes_at_once(void **state) {
    (void)state;
    volt_tensor *t = f64(1, (double[]){2});
    volt_work *w = volt_dist_all_reduce_async(pg, t, VOLT_REDUCE_MEAN);
    assert_non_null(w);
    assert_true(volt_work_is_completed(w));
    assert_int_equal(volt_work_wait(w), VOLT_OK);
    volt_work_free(w);
    volt_tensor *in = f64(1, (double[]){3});
    volt_tensor *out = volt_zeros(1, (int64_t[]){1}, VOLT_F64);
    w = volt_dist_all_gather_async(pg, out, in);
    volt_tensor_free(in); /* the work holds it */
    assert_int_equal(volt_work_wait(w), VOLT_OK);
    volt_work_free(w);
    VT_ASSERT_CLOSE(out, ((double[]){3}), 1, 0, 0);
    volt_work_free(volt_dist_barrier_async(pg));
    volt_work_free(volt_dist_broadcast_async(pg, out, 0));
    volt_work_free(volt_dist_reduce_scatter_async(pg, out, t, VOLT_REDUCE_MAX));
    VT_ASSERT_CLOSE(out, ((double[]){2}), 1, 0, 0);
    assert_false(volt_work_is_completed(NULL));
    volt_work_free(NULL);
    assert_int_equal(volt_work_wait(NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "work_wait: work is NULL");
}

static void test_bad_arguments(void **state) {
    (void)state;
    volt_tensor *t = f64(4, (double[]){1, 2, 3, 4});
    assert_int_equal(volt_dist_all_reduce(NULL, t, VOLT_REDUCE_SUM), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "all_reduce: process group is NULL");
    assert_null(volt_dist_broadcast_async(pg, NULL, 0));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "broadcast: tensor is NULL");
    volt_tensor *tt = volt_transpose(volt_reshape(t, 2, (int64_t[]){2, 2}), 0, 1);
    assert_int_equal(volt_dist_all_reduce(pg, tt, VOLT_REDUCE_SUM), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "all_reduce: tensor f64[2,2] is not contiguous (pass volt_contiguous() of it)");
    volt_tensor *i = volt_zeros(1, (int64_t[]){2}, VOLT_I64);
    assert_int_equal(volt_dist_all_reduce(pg, i, VOLT_REDUCE_MEAN), VOLT_ERR_DTYPE);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "all_reduce: mean needs f32 or f64, not i64");
    assert_int_equal(volt_dist_all_reduce(pg, t, (volt_reduce_op)9), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "all_reduce: unknown reduce op 9");
    assert_int_equal(volt_dist_broadcast(pg, t, 1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "broadcast: root 1 is not a rank of this group (world size 1)");
    assert_int_equal(volt_dist_broadcast(pg, t, -1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "root -1");
}

static void test_bad_gather_and_scatter_arguments(void **state) {
    (void)state;
    volt_tensor *in = f64(2, (double[]){1, 2});
    volt_tensor *out3 = volt_zeros(1, (int64_t[]){3}, VOLT_F64);
    assert_int_equal(volt_dist_all_gather(pg, out3, in), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "all_gather: out f64[3] must have world size (1) x 2 = 2 "
                                    "elements, as in f64[2] has 2");
    assert_int_equal(volt_dist_reduce_scatter(pg, out3, in, VOLT_REDUCE_SUM), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "reduce_scatter: in f64[2] must have world size (1) x 3 = 3 "
                                    "elements, as out f64[3] has 3");
    volt_tensor *out32 = volt_zeros(1, (int64_t[]){2}, VOLT_F32);
    assert_int_equal(volt_dist_all_gather(pg, out32, in), VOLT_ERR_DTYPE);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "all_gather: out f32[2] and in f64[2] differ in dtype");
    assert_null(volt_dist_all_gather_async(pg, NULL, in));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "all_gather: out is NULL");
    /* Overlapping buffers other than in place. */
    volt_tensor *buf = volt_zeros(1, (int64_t[]){4}, VOLT_F64);
    volt_tensor *a = volt_narrow(buf, 0, 0, 2), *b = volt_narrow(buf, 0, 1, 2);
    assert_int_equal(volt_dist_all_gather(pg, a, b), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "all_gather: out f64[2] and in f64[2] overlap in memory (in place, in must "
                    "be exactly this rank's slice of out)");
    assert_int_equal(volt_dist_reduce_scatter(pg, a, a, VOLT_REDUCE_SUM),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "reduce_scatter: in f64[2] and out f64[2] overlap");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_layout),
        VT_TEST(test_collectives_are_identities),
        VT_TEST(test_async_completes_at_once),
        VT_TEST(test_bad_arguments),
        VT_TEST(test_bad_gather_and_scatter_arguments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
