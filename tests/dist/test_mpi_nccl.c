/* test_mpi_nccl.c: the NCCL process group on two ranks (ctest runs it under
 * mpiexec -n 2; each rank on cuda:(local rank)). Where there is no usable
 * GPU, or fewer GPUs than ranks on the node (NCCL refuses two ranks on one
 * GPU), every rank prints SKIPPED and exits 77 before touching MPI. Checked: the backend and its
 * device; all_reduce sum/mean/max on CUDA f32, bf16 and i64 (1 and 1000003
 * elements); broadcast from rank 1; all_gather in rank order, in place
 * too; reduce_scatter shards; CPU tensors through the same group (MPI);
 * asynchronous works waited for; mismatched devices across ranks failing
 * on both with a clear error. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/dist.h>

static volt_process_group *pg;
static int rank;
static volt_device dev;

static int group_setup(void **state) {
    (void)state;
    pg = volt_process_group_new("nccl", NULL);
    if (!pg) {
        fprintf(stderr, "cannot create the NCCL group: %s\n", volt_error_message());
        return -1;
    }
    rank = volt_process_group_rank(pg);
    dev = (volt_device){VOLT_CUDA, volt_process_group_local_rank(pg)};
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    volt_process_group_free(pg);
    return 0;
}

/* n values v[i] = a + b i (+ rank c) as `dtype` on the rank's GPU. */
static volt_tensor *ramp(int64_t n, double a, double b, volt_dtype dtype) {
    volt_tensor *t = volt_add_scalar(volt_mul_scalar(volt_arange(0, (double)n, 1, VOLT_F64), b), a);
    return volt_to_device(volt_to_dtype(t, dtype), dev);
}

static double at(const volt_tensor *t, int64_t i) { return volt_tensor_get_flat(t, i); }

static void test_layout(void **state) {
    (void)state;
    assert_string_equal(volt_process_group_backend(pg), "nccl");
    assert_int_equal(volt_process_group_world_size(pg), 2);
}

static void test_all_reduce(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_BF16, VOLT_I64};
    for (int d = 0; d < 3; d++)
        for (int64_t n = 1; n <= 1000003; n += 1000002) {
            volt_tensor *t = ramp(n, rank + 1, 1, dtypes[d]); /* rank 0: 1 + i, rank 1: 2 + i */
            assert_int_equal(volt_dist_all_reduce(pg, t, VOLT_REDUCE_SUM), VOLT_OK);
            assert_true(volt_device_equal(t->device, dev));
            for (int64_t i = 0; i<n; i += n> 1 ? 99991 : 1) {
                double want = 3 + 2.0 * (double)i;
                if (dtypes[d] == VOLT_BF16) /* each rank's value and the sum, in bf16 */
                    assert_true(fabs(at(t, i) - want) <= 2e-2 * want);
                else
                    assert_true(at(t, i) == want);
            }
        }
    volt_tensor *m = ramp(5, rank == 0 ? 1 : 3, 0, VOLT_F32);
    assert_int_equal(volt_dist_all_reduce(pg, m, VOLT_REDUCE_MEAN), VOLT_OK);
    assert_true(at(m, 4) == 2.0);
    volt_tensor *x = ramp(3, rank * 10, rank ? -1 : 1, VOLT_F32);
    assert_int_equal(volt_dist_all_reduce(pg, x, VOLT_REDUCE_MAX), VOLT_OK);
    assert_true(at(x, 0) == 10 && at(x, 2) == 8);
}

static void test_broadcast_gather_scatter(void **state) {
    (void)state;
    volt_tensor *b = ramp(7, rank * 100, 1, VOLT_F32);
    assert_int_equal(volt_dist_broadcast(pg, b, 1), VOLT_OK);
    assert_true(at(b, 0) == 100 && at(b, 6) == 106);

    volt_tensor *in = ramp(3, rank * 10, 1, VOLT_F32);
    volt_tensor *out = ramp(6, -1, 0, VOLT_F32);
    assert_int_equal(volt_dist_all_gather(pg, out, in), VOLT_OK);
    const double gathered[6] = {0, 1, 2, 10, 11, 12};
    for (int i = 0; i < 6; i++) assert_true(at(out, i) == gathered[i]);
    /* In place: this rank's slice of out. */
    volt_tensor *big = ramp(4, rank * 2, 0, VOLT_F32);
    volt_tensor *mine = volt_slice(big, 0, rank * 2, rank * 2 + 2, 1);
    assert_int_equal(volt_dist_all_gather(pg, big, mine), VOLT_OK);
    assert_true(at(big, 0) == 0 && at(big, 3) == 2);

    volt_tensor *full = ramp(4, rank, 1, VOLT_F32); /* rank 0: 0 1 2 3, rank 1: 1 2 3 4 */
    volt_tensor *shard = ramp(2, 0, 0, VOLT_F32);
    assert_int_equal(volt_dist_reduce_scatter(pg, shard, full, VOLT_REDUCE_SUM), VOLT_OK);
    assert_true(at(shard, 0) == (rank ? 5 : 1) && at(shard, 1) == (rank ? 7 : 3));
}

static void test_cpu_tensors_and_async(void **state) {
    (void)state;
    volt_tensor *c = volt_full(1, (int64_t[]){4}, rank + 1, VOLT_F64);
    assert_int_equal(volt_dist_all_reduce(pg, c, VOLT_REDUCE_SUM), VOLT_OK);
    assert_true(volt_tensor_get_flat(c, 3) == 3);
    volt_tensor *g[3];
    volt_work *w[3];
    for (int k = 0; k < 3; k++) {
        g[k] = ramp(1000, k + rank, 0, VOLT_F32);
        w[k] = volt_dist_all_reduce_async(pg, g[k], VOLT_REDUCE_SUM);
        assert_non_null(w[k]);
    }
    for (int k = 0; k < 3; k++) {
        assert_int_equal(volt_work_wait(w[k]), VOLT_OK);
        assert_true(volt_work_is_completed(w[k]));
        volt_work_free(w[k]);
        assert_true(at(g[k], 999) == 2 * k + 1);
    }
    assert_int_equal(volt_dist_barrier(pg), VOLT_OK);
}

static void test_mismatched_devices(void **state) {
    (void)state;
    volt_tensor *t = rank == 0 ? volt_zeros(1, (int64_t[]){4}, VOLT_F32) : ramp(4, 0, 0, VOLT_F32);
    assert_int_equal(volt_dist_all_reduce(pg, t, VOLT_REDUCE_SUM), VOLT_ERR_DEVICE);
    VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "all_reduce: some ranks passed CPU tensors, others CUDA");
    /* The group still works. */
    volt_tensor *u = ramp(2, 1, 0, VOLT_F32);
    assert_int_equal(volt_dist_all_reduce(pg, u, VOLT_REDUCE_SUM), VOLT_OK);
    assert_true(at(u, 1) == 2);
}

int main(void) {
    if (volt_device_check((volt_device){VOLT_CUDA, 0}) != VOLT_OK) {
        printf("SKIPPED: dist/test_mpi_nccl: no CUDA device (%s)\n", volt_error_message());
        return 77;
    }
    /* NCCL refuses two ranks on one GPU: both ranks skip alike. */
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int ranks_here = local ? atoi(local) : 1, devices = volt_cuda_device_count();
    if (ranks_here > devices) {
        printf("SKIPPED: dist/test_mpi_nccl: %d ranks on this node but %d CUDA device(s) (NCCL "
               "needs one per rank)\n",
               ranks_here, devices);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        VT_TEST(test_layout),
        VT_TEST(test_all_reduce),
        VT_TEST(test_broadcast_gather_scatter),
        VT_TEST(test_cpu_tensors_and_async),
        VT_TEST(test_mismatched_devices),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
