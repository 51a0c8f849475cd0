/* ops.c: the ops benchmark, volt's side (bench/ops/run.sh runs it beside
 * ops_torch.py). Prints one JSON line per figure:
 *  - chain: 1,000 elementwise ops (alternating add and mul) on 64-element f32
 *    tensors with autograd, forward + backward; ns per op (median of runs);
 *  - matmul: n^3 f32 products for n = 512, 2048 through volt_matmul and
 *    through cblas_sgemm called directly; GFLOP/s (best of runs).
 * Usage: bench_ops_ops [threads]   (default: VOLT_NUM_THREADS or all cores) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include <volt/volt.h>

#define CHAIN_OPS 1000
#define CHAIN_RUNS 51

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double chain_ns_per_op(void) {
    volt_tensor *x =
        volt_persist(volt_requires_grad(volt_rand(VOLT_SHAPE(64), VOLT_F32, NULL), true));
    volt_tensor *c = volt_persist(volt_full(VOLT_SHAPE(64), 1.0001, VOLT_F32));
    double times[CHAIN_RUNS];
    for (int run = 0; run < CHAIN_RUNS; run++) {
        double t0 = volt_time_now();
        volt_scope_begin();
        volt_tensor *h = x;
        for (int i = 0; i < CHAIN_OPS - 1; i++) h = (i & 1) ? volt_mul(h, c) : volt_add(h, c);
        volt_tensor *loss = volt_sum_all(h); /* the 1000th op */
        volt_backward(loss);
        volt_scope_end();
        volt_tensor_clear_grad(x);
        times[run] = (volt_time_now() - t0) * 1e9 / CHAIN_OPS;
    }
    volt_tensor_free(x);
    volt_tensor_free(c);
    qsort(times, CHAIN_RUNS, sizeof *times, compare_doubles);
    return times[CHAIN_RUNS / 2];
}

static double best_gflops(int n, int runs, int use_volt) {
    volt_tensor *a = volt_persist(volt_rand(VOLT_SHAPE(n, n), VOLT_F32, NULL));
    volt_tensor *b = volt_persist(volt_rand(VOLT_SHAPE(n, n), VOLT_F32, NULL));
    volt_tensor *c = volt_persist(volt_empty(VOLT_SHAPE(n, n), VOLT_F32));
    double best = 1e30;
    for (int run = 0; run < runs; run++) {
        double t0 = volt_time_now();
        if (use_volt) {
            volt_scope_begin();
            volt_matmul(a, b);
            volt_scope_end();
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                        volt_tensor_data(a), n, volt_tensor_data(b), n, 0.0f, volt_tensor_data(c),
                        n);
        }
        double dt = volt_time_now() - t0;
        if (dt < best) best = dt;
    }
    volt_tensor_free(a);
    volt_tensor_free(b);
    volt_tensor_free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

int main(int argc, char **argv) {
    if (argc > 1) volt_set_num_threads(atoi(argv[1]));
    int threads = volt_get_num_threads();
    volt_seed_everything(0);
    double ns = chain_ns_per_op();
    printf("{\"bench\":\"ops.chain\",\"impl\":\"volt\",\"threads\":%d,\"ns_per_op\":%.1f}\n",
           threads, ns);
    int sizes[2] = {512, 2048};
    for (int i = 0; i < 2; i++) {
        int runs = sizes[i] == 512 ? 30 : 5;
        /* Alternate the two so that both see the same machine state. */
        double v = 0, o = 0;
        for (int rep = 0; rep < 2; rep++) {
            double vv = best_gflops(sizes[i], runs, 1), oo = best_gflops(sizes[i], runs, 0);
            v = vv > v ? vv : v;
            o = oo > o ? oo : o;
        }
        printf("{\"bench\":\"ops.matmul\",\"impl\":\"volt\",\"n\":%d,\"threads\":%d,\"gflops\":%."
               "1f}\n",
               sizes[i], threads, v);
        printf("{\"bench\":\"ops.matmul\",\"impl\":\"openblas\",\"n\":%d,\"threads\":%d,\"gflops\":"
               "%.1f}\n",
               sizes[i], threads, o);
    }
    if (volt_error_status() != VOLT_OK) {
        fprintf(stderr, "%s\n", volt_error_message());
        return 1;
    }
    return 0;
}
