/* test_mpi_collectives.c: the MPI process group on two ranks (ctest runs
 * it under mpiexec -n 2): where each rank sits, the values of every
 * collective (all_reduce sum/mean/min/max on f32, f64, i64, i32; broadcast
 * from rank 1; all_gather order, in place too; reduce_scatter shards;
 * barrier ordering), their asynchronous forms, and mismatched calls (sizes,
 * dtypes, collectives, roots, one rank's bad arguments) failing on both
 * ranks with the same clear error, after which the group still works. */
#include "volt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <volt/dist.h>

static volt_process_group *pg;
static int rank;

static int group_setup(void **state) {
    (void)state;
    pg = volt_process_group_new("mpi", NULL);
    if (!pg) {
        fprintf(stderr, "cannot create the MPI group: %s\n", volt_error_message());
        return -1;
    }
    rank = volt_process_group_rank(pg);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    volt_process_group_free(pg);
    return 0;
}

static volt_tensor *f64(int64_t n, const double *v) {
    return volt_from_array(v, VOLT_F64, 1, (int64_t[]){n});
}
static volt_tensor *f32(int64_t n, const float *v) {
    return volt_from_array(v, VOLT_F32, 1, (int64_t[]){n});
}
static volt_tensor *i64(int64_t n, const int64_t *v) {
    return volt_from_array(v, VOLT_I64, 1, (int64_t[]){n});
}

/* ---------------------------------------------------------------- layout */

static void test_layout(void **state) {
    (void)state;
    assert_string_equal(volt_process_group_backend(pg), "mpi");
    assert_int_equal(volt_process_group_world_size(pg), 2);
    assert_int_equal(rank, atoi(getenv("OMPI_COMM_WORLD_RANK")));
    /* Both ranks on this machine, or one on each of two hosts
     * (tests/dist/two_hosts.sh sets VOLT_TWO_HOSTS=1). */
    bool two_hosts = getenv("VOLT_TWO_HOSTS") != NULL;
    assert_int_equal(volt_process_group_local_rank(pg), two_hosts ? 0 : rank);
    assert_int_equal(volt_process_group_local_world_size(pg), two_hosts ? 1 : 2);
    assert_int_equal(volt_process_group_node_rank(pg), two_hosts ? rank : 0);
    assert_int_equal(volt_process_group_num_nodes(pg), two_hosts ? 2 : 1);
    assert_true(volt_process_group_timeout(pg) > 0);
    assert_false(volt_process_group_is_broken(pg));
}

/* ------------------------------------------------------------ all_reduce */

static void test_all_reduce_sum_f32(void **state) {
    (void)state;
    float r = (float)rank;
    volt_tensor *t = f32(3, (float[]){r + 1, 10 * (r + 1), -1.5f});
    assert_int_equal(volt_dist_all_reduce(pg, t, VOLT_REDUCE_SUM), VOLT_OK);
    VT_ASSERT_CLOSE(t, ((double[]){3, 30, -3}), 3, 0, 0);
}

static void test_all_reduce_mean_f64(void **state) {
    (void)state;
    double r = rank;
    volt_tensor *t =
        volt_from_array((double[]){r, 2 * r + 1, 7, -r}, VOLT_F64, 2, (int64_t[]){2, 2});
    assert_int_equal(volt_dist_all_reduce(pg, t, VOLT_REDUCE_MEAN), VOLT_OK);
    VT_ASSERT_CLOSE(t, ((double[]){0.5, 2, 7, -0.5}), 4, 0, 0);
    VT_ASSERT_SHAPE(t, 2, 2);
}

static void test_all_reduce_min_max_i64(void **state) {
    (void)state;
    int64_t a = rank == 0 ? 5 : -7, b = rank == 0 ? -3 : 9;
    volt_tensor *lo = i64(2, (int64_t[]){a, b});
    volt_tensor *hi = i64(2, (int64_t[]){a, b});
    assert_int_equal(volt_dist_all_reduce(pg, lo, VOLT_REDUCE_MIN), VOLT_OK);
    assert_int_equal(volt_dist_all_reduce(pg, hi, VOLT_REDUCE_MAX), VOLT_OK);
    const int64_t *l = volt_tensor_data(lo), *h = volt_tensor_data(hi);
    assert_int_equal(l[0], -7);
    assert_int_equal(l[1], -3);
    assert_int_equal(h[0], 5);
    assert_int_equal(h[1], 9);
}

static void test_all_reduce_sum_i64_large_values(void **state) {
    (void)state;
    /* Beyond double precision: exact integer arithmetic. */
    int64_t big = (int64_t)1 << 60;
    volt_tensor *t = i64(1, (int64_t[]){big + rank});
    assert_int_equal(volt_dist_all_reduce(pg, t, VOLT_REDUCE_SUM), VOLT_OK);
    assert_int_equal(((int64_t *)volt_tensor_data(t))[0], 2 * big + 1);
}

static void test_all_reduce_max_i32_and_f32(void **state) {
    (void)state;
    int32_t v = rank == 0 ? 4 : -4;
    volt_tensor *t = volt_from_array(&v, VOLT_I32, 1, (int64_t[]){1});
    assert_int_equal(volt_dist_all_reduce(pg, t, VOLT_REDUCE_MAX), VOLT_OK);
    assert_int_equal(((int32_t *)volt_tensor_data(t))[0], 4);
    volt_tensor *m = f32(2, (float[]){rank ? 1.f : 2.f, rank ? 0.25f : -8.f});
    assert_int_equal(volt_dist_all_reduce(pg, m, VOLT_REDUCE_MIN), VOLT_OK);
    VT_ASSERT_CLOSE(m, ((double[]){1, -8}), 2, 0, 0);
}

static void test_all_reduce_1m_elements(void **state) {
    (void)state;
    /* Large enough for MPI to pipeline it in segments. */
    int64_t n = 1 << 20;
    volt_tensor *t = volt_full(1, (int64_t[]){n}, rank + 1.0, VOLT_F32);
    assert_int_equal(volt_dist_all_reduce(pg, t, VOLT_REDUCE_SUM), VOLT_OK);
    const float *p = volt_tensor_data(t);
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; i++) wrong += p[i] != 3.0f;
    assert_int_equal(wrong, 0);
}

/* ------------------------------------------------- broadcast and gathers */

static void test_broadcast_from_rank_1(void **state) {
    (void)state;
    volt_tensor *t = f64(3, rank == 1 ? (double[]){4, 5, 6} : (double[]){-1, -1, -1});
    assert_int_equal(volt_dist_broadcast(pg, t, 1), VOLT_OK);
    VT_ASSERT_CLOSE(t, ((double[]){4, 5, 6}), 3, 0, 0);
    /* Dtypes MPI does not reduce are still moved: bf16, bool. */
    uint16_t bits[2] = {volt_f32_to_bf16(rank ? 1.5f : 0.f), volt_f32_to_bf16(rank ? -2.f : 0.f)};
    volt_tensor *b = volt_from_array(bits, VOLT_BF16, 1, (int64_t[]){2});
    assert_int_equal(volt_dist_broadcast(pg, b, 1), VOLT_OK);
    VT_ASSERT_CLOSE(b, ((double[]){1.5, -2}), 2, 0, 0);
    bool flags[3] = {rank == 0, true, rank == 0};
    volt_tensor *f = volt_from_array(flags, VOLT_BOOL, 1, (int64_t[]){3});
    assert_int_equal(volt_dist_broadcast(pg, f, 0), VOLT_OK);
    VT_ASSERT_CLOSE(f, ((double[]){1, 1, 1}), 3, 0, 0);
}

static void test_all_gather_in_rank_order(void **state) {
    (void)state;
    double r = rank;
    volt_tensor *in = f64(3, (double[]){10 * r, 10 * r + 1, 10 * r + 2});
    volt_tensor *out = volt_zeros(2, (int64_t[]){2, 3}, VOLT_F64);
    assert_int_equal(volt_dist_all_gather(pg, out, in), VOLT_OK);
    VT_ASSERT_CLOSE(out, ((double[]){0, 1, 2, 10, 11, 12}), 6, 0, 0);
    VT_ASSERT_CLOSE(in, ((double[]){10 * r, 10 * r + 1, 10 * r + 2}), 3, 0, 0); /* unchanged */
}

static void test_all_gather_in_place(void **state) {
    (void)state;
    /* Each rank fills its own slice of out, then gathers the others'. */
    volt_tensor *out = volt_full(1, (int64_t[]){4}, -1, VOLT_I64);
    volt_tensor *mine = volt_narrow(out, 0, 2 * rank, 2);
    volt_fill_(mine, 100 + rank);
    assert_int_equal(volt_dist_all_gather(pg, out, mine), VOLT_OK);
    const int64_t *p = volt_tensor_data(out);
    assert_int_equal(p[0], 100);
    assert_int_equal(p[1], 100);
    assert_int_equal(p[2], 101);
    assert_int_equal(p[3], 101);
}

static void test_reduce_scatter_shards(void **state) {
    (void)state;
    double s = rank + 1;
    volt_tensor *in = f64(4, (double[]){s, 10 * s, 100 * s, 1000 * s});
    volt_tensor *out = volt_zeros(1, (int64_t[]){2}, VOLT_F64);
    assert_int_equal(volt_dist_reduce_scatter(pg, out, in, VOLT_REDUCE_SUM), VOLT_OK);
    /* Sums [3, 30, 300, 3000]: rank 0 holds the first half, rank 1 the second. */
    if (rank == 0)
        VT_ASSERT_CLOSE(out, ((double[]){3, 30}), 2, 0, 0);
    else
        VT_ASSERT_CLOSE(out, ((double[]){300, 3000}), 2, 0, 0);
    volt_tensor *in32 = f32(2, (float[]){rank ? 3.f : 1.f, rank ? -2.f : 5.f});
    volt_tensor *out32 = volt_zeros(1, (int64_t[]){1}, VOLT_F32);
    assert_int_equal(volt_dist_reduce_scatter(pg, out32, in32, VOLT_REDUCE_MEAN), VOLT_OK);
    VT_ASSERT_CLOSE(out32, ((double[]){rank == 0 ? 2.0 : 1.5}), 1, 0, 0);
    assert_int_equal(volt_dist_reduce_scatter(pg, out32, in32, VOLT_REDUCE_MAX), VOLT_OK);
    VT_ASSERT_CLOSE(out32, ((double[]){rank == 0 ? 3.0 : 5.0}), 1, 0, 0);
}

/* Rank 0 writes a file before the barrier; rank 1 finds it after. */
static void test_barrier_orders_ranks(void **state) {
    (void)state;
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/barrier_marker", dir && *dir ? dir : "/tmp");
    if (rank == 1) assert_int_equal(volt_dist_barrier(pg), VOLT_OK); /* rank 0 removed it */
    if (rank == 0) {
        unlink(path);
        assert_int_equal(volt_dist_barrier(pg), VOLT_OK);
        usleep(200 * 1000); /* rank 1 must not find the file before this */
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fclose(fp);
    }
    assert_int_equal(volt_dist_barrier(pg), VOLT_OK);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(volt_dist_barrier(pg), VOLT_OK);
}

/* ----------------------------------------------------------------- async */

static void test_async_in_flight_together(void **state) {
    (void)state;
    double r = rank;
    volt_tensor *a = f64(2, (double[]){r, 1});
    volt_tensor *b = f32(1, (float[]){(float)(3 * r)});
    volt_tensor *c = i64(1, (int64_t[]){rank ? 42 : 0});
    volt_tensor *gin = f64(1, (double[]){r + 0.5});
    volt_tensor *gout = volt_zeros(1, (int64_t[]){2}, VOLT_F64);
    volt_tensor *sin = f64(2, (double[]){r, r});
    volt_tensor *sout = volt_zeros(1, (int64_t[]){1}, VOLT_F64);
    volt_work *w[6] = {
        volt_dist_all_reduce_async(pg, a, VOLT_REDUCE_SUM),
        volt_dist_all_reduce_async(pg, b, VOLT_REDUCE_MAX),
        volt_dist_broadcast_async(pg, c, 1),
        volt_dist_all_gather_async(pg, gout, gin),
        volt_dist_reduce_scatter_async(pg, sout, sin, VOLT_REDUCE_SUM),
        volt_dist_barrier_async(pg),
    };
    for (int i = 0; i < 6; i++) assert_non_null(w[i]);
    /* The works hold their tensors: dropping ours changes nothing. */
    volt_tensor_free(gin);
    volt_tensor_free(sin);
    for (int i = 5; i >= 0; i--) assert_int_equal(volt_work_wait(w[i]), VOLT_OK);
    for (int i = 0; i < 6; i++) {
        assert_true(volt_work_is_completed(w[i]));
        assert_int_equal(volt_work_wait(w[i]), VOLT_OK); /* again: same result */
        volt_work_free(w[i]);
    }
    VT_ASSERT_CLOSE(a, ((double[]){1, 2}), 2, 0, 0);
    VT_ASSERT_CLOSE(b, ((double[]){3}), 1, 0, 0);
    assert_int_equal(((int64_t *)volt_tensor_data(c))[0], 42);
    VT_ASSERT_CLOSE(gout, ((double[]){0.5, 1.5}), 2, 0, 0);
    VT_ASSERT_CLOSE(sout, ((double[]){1}), 1, 0, 0);
}

static void test_async_polled_to_completion(void **state) {
    (void)state;
    volt_tensor *t = f64(1, (double[]){rank + 1.0});
    volt_work *w = volt_dist_all_reduce_async(pg, t, VOLT_REDUCE_MEAN);
    assert_non_null(w);
    while (!volt_work_is_completed(w)) usleep(100);
    VT_ASSERT_CLOSE(t, ((double[]){1.5}), 1, 0, 0);
    assert_int_equal(volt_work_wait(w), VOLT_OK);
    volt_work_free(w);
    /* Freed without a wait: the free waits. */
    volt_tensor *u = f64(1, (double[]){2.0});
    volt_work_free(volt_dist_all_reduce_async(pg, u, VOLT_REDUCE_SUM));
    VT_ASSERT_CLOSE(u, ((double[]){4}), 1, 0, 0);
}

/* ------------------------------------------------------------ mismatches */

static void test_mismatched_sizes_fail_on_both_ranks(void **state) {
    (void)state;
    volt_tensor *t = volt_zeros(1, (int64_t[]){rank == 0 ? 10 : 6}, VOLT_F32);
    assert_int_equal(volt_dist_all_reduce(pg, t, VOLT_REDUCE_SUM), VOLT_ERR_SHAPE);
    char expected[128];
    snprintf(expected, sizeof expected,
             "all_reduce: the ranks passed different element counts (6 to 10; this rank %d)",
             rank == 0 ? 10 : 6);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, expected);
    /* The asynchronous form reports it when started. */
    assert_null(volt_dist_all_reduce_async(pg, t, VOLT_REDUCE_SUM));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "different element counts");
    volt_tensor *in = volt_zeros(1, (int64_t[]){rank == 0 ? 2 : 3}, VOLT_F32);
    volt_tensor *out = volt_zeros(1, (int64_t[]){rank == 0 ? 4 : 6}, VOLT_F32);
    assert_int_equal(volt_dist_all_gather(pg, out, in), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "all_gather: the ranks passed different element counts (2 to 3");
    /* The group still works. */
    assert_false(volt_process_group_is_broken(pg));
    volt_tensor *ok = f64(1, (double[]){1});
    assert_int_equal(volt_dist_all_reduce(pg, ok, VOLT_REDUCE_SUM), VOLT_OK);
    VT_ASSERT_CLOSE(ok, ((double[]){2}), 1, 0, 0);
}

static void test_mismatched_calls_fail_on_both_ranks(void **state) {
    (void)state;
    volt_tensor *t = volt_zeros(1, (int64_t[]){4}, rank == 0 ? VOLT_F32 : VOLT_F64);
    assert_int_equal(volt_dist_all_reduce(pg, t, VOLT_REDUCE_SUM), VOLT_ERR_DTYPE);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "all_reduce: the ranks passed different dtypes (f32 and f64)");

    volt_tensor *u = volt_zeros(1, (int64_t[]){4}, VOLT_F32);
    volt_status st =
        rank == 0 ? volt_dist_all_reduce(pg, u, VOLT_REDUCE_SUM) : volt_dist_broadcast(pg, u, 0);
    assert_int_equal(st, VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the ranks called different collectives "
                                               "(all_reduce and broadcast)");

    assert_int_equal(volt_dist_broadcast(pg, u, rank), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "broadcast: the ranks passed different roots (0 to 1");

    assert_int_equal(volt_dist_all_reduce(pg, u, rank ? VOLT_REDUCE_MAX : VOLT_REDUCE_SUM),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "different reduce ops (sum and max)");
    assert_false(volt_process_group_is_broken(pg));
}

static void test_one_ranks_bad_arguments_fail_both(void **state) {
    (void)state;
    volt_tensor *t = volt_zeros(1, (int64_t[]){4}, VOLT_F32);
    assert_int_equal(volt_dist_all_reduce(pg, rank == 1 ? NULL : t, VOLT_REDUCE_SUM),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, rank == 1
                                                   ? "all_reduce: tensor is NULL"
                                                   : "all_reduce: rank 1 passed invalid arguments");
    /* Rank 0's out has the wrong size for the gather. */
    volt_tensor *in = volt_zeros(1, (int64_t[]){2}, VOLT_F64);
    volt_tensor *out = volt_zeros(1, (int64_t[]){rank == 0 ? 3 : 4}, VOLT_F64);
    volt_status st = volt_dist_all_gather(pg, out, in);
    assert_int_equal(st, rank == 0 ? VOLT_ERR_SHAPE : VOLT_ERR_INVALID_ARGUMENT);
    if (rank == 0)
        VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "all_gather: out f64[3] must have world size (2) x 2 = 4 "
                                        "elements, as in f64[2] has 2");
    else
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "all_gather: rank 0 passed invalid arguments");
    /* A dtype MPI cannot reduce fails on both alike. */
    volt_tensor *b = volt_zeros(1, (int64_t[]){2}, VOLT_BF16);
    assert_int_equal(volt_dist_all_reduce(pg, b, VOLT_REDUCE_SUM), VOLT_ERR_DTYPE);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "all_reduce: the mpi backend reduces f32, f64, i64, i32 and "
                                    "u8, not bf16");
    assert_false(volt_process_group_is_broken(pg));
}

/* A second group over the same ranks, with checks off, beside the first. */
static void test_second_group(void **state) {
    (void)state;
    volt_process_group *g2 = volt_process_group_new(
        NULL, &(volt_process_group_options){.timeout_s = 60, .skip_agreement_check = true});
    assert_non_null(g2);
    assert_string_equal(volt_process_group_backend(g2), "mpi"); /* auto under mpiexec -n 2 */
    assert_int_equal(volt_process_group_rank(g2), rank);
    assert_true(volt_process_group_timeout(g2) == 60);
    volt_tensor *t = f64(1, (double[]){rank + 1.0});
    volt_work *w = volt_dist_all_reduce_async(g2, t, VOLT_REDUCE_SUM);
    assert_int_equal(
        volt_dist_all_reduce(pg, volt_full(1, (int64_t[]){1}, 1, VOLT_F64), VOLT_REDUCE_SUM),
        VOLT_OK);
    assert_int_equal(volt_work_wait(w), VOLT_OK);
    volt_work_free(w);
    VT_ASSERT_CLOSE(t, ((double[]){3}), 1, 0, 0);
    volt_process_group_free(g2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_layout),
        VT_TEST(test_all_reduce_sum_f32),
        VT_TEST(test_all_reduce_mean_f64),
        VT_TEST(test_all_reduce_min_max_i64),
        VT_TEST(test_all_reduce_sum_i64_large_values),
        VT_TEST(test_all_reduce_max_i32_and_f32),
        VT_TEST(test_all_reduce_1m_elements),
        VT_TEST(test_broadcast_from_rank_1),
        VT_TEST(test_all_gather_in_rank_order),
        VT_TEST(test_all_gather_in_place),
        VT_TEST(test_reduce_scatter_shards),
        VT_TEST(test_barrier_orders_ranks),
        VT_TEST(test_async_in_flight_together),
        VT_TEST(test_async_polled_to_completion),
        VT_TEST(test_mismatched_sizes_fail_on_both_ranks),
        VT_TEST(test_mismatched_calls_fail_on_both_ranks),
        VT_TEST(test_one_ranks_bad_arguments_fail_both),
        VT_TEST(test_second_group),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
