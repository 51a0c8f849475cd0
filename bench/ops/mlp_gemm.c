/* mlp_gemm.c: the GEMM floor of the benchmark MLP (784-512-256-10, batch
 * 128; issue 9). Times each f32 product of one training step at its exact
 * shape and layout through OpenBLAS (cblas_sgemm) and through oneDNN's
 * matmul primitive (created once, outside the timing), and prints one JSON
 * line per (shape, backend) with the best GFLOP/s over the runs, then the
 * step's FLOPs and the time the products need at the best rate of each.
 * Then, for the forward shapes, the bias add of a linear layer two ways
 * through volt's kernels: as addmm does it today (rows of out filled with
 * the bias, then the product with beta 1: a oneDNN sum post-op) and as
 * volt_cpu_matmul_bias does (the bias as oneDNN's own argument).
 *
 * Products of a step (row-major, out [n, m] = a [n, k] @ b [k, m]):
 *   fwd:   x [128, k] @ W^T (W [m, k] read transposed)      3 shapes
 *   dgrad: g [128, m] @ W   (the input gradient; not for the first layer)
 *   wgrad: g^T @ x          (g [128, m] read transposed, x [128, k]) -> [m, k]
 * Usage: bench_ops_mlp_gemm [threads] [runs]   (default 2, 200). Not a test. */
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/volt.h>

#include "ops/cpu/matmul.h"

typedef struct {
    const char *name;
    int n, m, k;
    bool ta, tb; /* a stored [k, n] / b stored [m, k] (read transposed) */
} shape;

static const shape shapes[] = {
    {"fwd1", 128, 512, 784, false, true},   {"fwd2", 128, 256, 512, false, true},
    {"fwd3", 128, 10, 256, false, true},    {"dgrad2", 128, 512, 256, false, false},
    {"dgrad3", 128, 256, 10, false, false}, {"wgrad1", 512, 784, 128, true, false},
    {"wgrad2", 256, 512, 128, true, false}, {"wgrad3", 10, 256, 128, true, false},
};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])

static float *filled(size_t n) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 7919u) % 1000u) / 1000.0f - 0.5f;
    return p;
}

static void run_blas(const shape *s, const float *a, const float *b, float *c) {
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                s->n, s->m, s->k, 1.0f, a, s->ta ? s->n : s->k, b, s->tb ? s->k : s->m, 0.0f, c,
                s->m);
}

typedef struct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
} dnnl_run;

/* The oneDNN matmul of s over a, b, c (memory objects wrap the buffers). */
static bool dnnl_setup(dnnl_run *r, const shape *s, float *a, float *b, float *c) {
    dnnl_memory_desc_t amd, bmd, cmd;
    dnnl_dims_t ad = {s->n, s->k}, bd = {s->k, s->m}, cd = {s->n, s->m};
    dnnl_dims_t as = {s->ta ? 1 : s->k, s->ta ? s->n : 1};
    dnnl_dims_t bs = {s->tb ? 1 : s->m, s->tb ? s->k : 1};
    dnnl_dims_t cs = {s->m, 1};
    dnnl_matmul_desc_t d;
    dnnl_primitive_desc_t pd;
    bool ok =
        dnnl_engine_create(&r->engine, dnnl_cpu, 0) == dnnl_success &&
        dnnl_stream_create(&r->stream, r->engine, dnnl_stream_default_flags) == dnnl_success &&
        dnnl_memory_desc_init_by_strides(&amd, 2, ad, dnnl_f32, as) == dnnl_success &&
        dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dnnl_f32, bs) == dnnl_success &&
        dnnl_memory_desc_init_by_strides(&cmd, 2, cd, dnnl_f32, cs) == dnnl_success &&
        dnnl_matmul_desc_init(&d, &amd, &bmd, NULL, &cmd) == dnnl_success &&
        dnnl_primitive_desc_create(&pd, &d, NULL, r->engine, NULL) == dnnl_success;
    if (!ok) return false;
    ok = dnnl_primitive_create(&r->prim, pd) == dnnl_success &&
         dnnl_memory_create(&r->src, &amd, r->engine, a) == dnnl_success &&
         dnnl_memory_create(&r->wei, &bmd, r->engine, b) == dnnl_success &&
         dnnl_memory_create(&r->dst, &cmd, r->engine, c) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static void dnnl_exec(const dnnl_run *r) {
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, r->src}, {DNNL_ARG_WEIGHTS, r->wei}, {DNNL_ARG_DST, r->dst}};
    dnnl_primitive_execute(r->prim, r->stream, 3, args);
    dnnl_stream_wait(r->stream);
}

static void dnnl_teardown(dnnl_run *r) {
    dnnl_memory_destroy(r->src);
    dnnl_memory_destroy(r->wei);
    dnnl_memory_destroy(r->dst);
    dnnl_primitive_destroy(r->prim);
    dnnl_stream_destroy(r->stream);
    dnnl_engine_destroy(r->engine);
}

/* Best seconds of one product over `runs` (after a warm-up). */
static double best_time(const shape *s, bool onednn, int runs, float *a, float *b, float *c) {
    dnnl_run r = {0};
    if (onednn && !dnnl_setup(&r, s, a, b, c)) return -1;
    double best = 1e30;
    for (int i = -3; i < runs; i++) {
        double t0 = volt_time_now();
        if (onednn)
            dnnl_exec(&r);
        else
            run_blas(s, a, b, c);
        double dt = volt_time_now() - t0;
        if (i >= 0 && dt < best) best = dt;
    }
    if (onednn) dnnl_teardown(&r);
    return best;
}

/* Best seconds of out = x @ W^T + bias for the forward shape s, with the
 * bias folded (fused) or copied first (beta 1). */
static double bias_time(const shape *s, bool fused, int runs) {
    volt_tensor *x = volt_persist(volt_rand(VOLT_SHAPE(s->n, s->k), VOLT_F32, NULL));
    volt_tensor *w = volt_persist(volt_rand(VOLT_SHAPE(s->m, s->k), VOLT_F32, NULL));
    volt_tensor *wt = volt_persist(volt_transpose(w, 0, 1));
    volt_tensor *b = volt_persist(volt_rand(VOLT_SHAPE(s->m), VOLT_F32, NULL));
    volt_tensor *out = volt_persist(volt_empty(VOLT_SHAPE(s->n, s->m), VOLT_F32));
    double best = 1e30;
    for (int i = -3; i < runs; i++) {
        double t0 = volt_time_now();
        if (fused) {
            volt_cpu_matmul_bias(out, x, wt, b, 1.0);
        } else {
            float *o = volt_tensor_data(out);
            for (int r = 0; r < s->n; r++)
                memcpy(o + (size_t)r * (size_t)s->m, volt_tensor_data(b),
                       (size_t)s->m * sizeof(float));
            volt_cpu_matmul(out, x, wt, 1.0, 1.0);
        }
        double dt = volt_time_now() - t0;
        if (i >= 0 && dt < best) best = dt;
    }
    volt_tensor_free(x);
    volt_tensor_free(w);
    volt_tensor_free(wt);
    volt_tensor_free(b);
    volt_tensor_free(out);
    return best;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int runs = argc > 2 ? atoi(argv[2]) : 200;
    volt_set_num_threads(threads);
    openblas_set_num_threads(threads);
    dnnl_set_max_cpu_isa(dnnl_cpu_isa_all);
    double flops_total = 0, t_blas = 0, t_dnnl = 0, t_best = 0;
    for (int i = 0; i < N_SHAPES; i++) {
        const shape *s = &shapes[i];
        float *a = filled((size_t)s->n * (size_t)s->k), *b = filled((size_t)s->k * (size_t)s->m);
        float *c = filled((size_t)s->n * (size_t)s->m);
        double flops = 2.0 * s->n * s->m * (double)s->k;
        /* Alternate the backends so both see the same machine state. */
        double tb = 1e30, td = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double x = best_time(s, false, runs, a, b, c), y = best_time(s, true, runs, a, b, c);
            tb = x < tb ? x : tb;
            td = y > 0 && y < td ? y : td;
        }
        printf("{\"bench\":\"mlp_gemm\",\"shape\":\"%s\",\"n\":%d,\"m\":%d,\"k\":%d,\"threads\":%d,"
               "\"openblas_gflops\":%.1f,\"onednn_gflops\":%.1f,\"openblas_us\":%.1f,"
               "\"onednn_us\":%.1f}\n",
               s->name, s->n, s->m, s->k, threads, flops / tb / 1e9, flops / td / 1e9, tb * 1e6,
               td * 1e6);
        flops_total += flops;
        t_blas += tb;
        t_dnnl += td;
        t_best += tb < td ? tb : td;
        free(a);
        free(b);
        free(c);
    }
    printf("{\"bench\":\"mlp_gemm.step\",\"threads\":%d,\"mflop\":%.2f,\"openblas_ms\":%.3f,"
           "\"onednn_ms\":%.3f,\"best_per_shape_ms\":%.3f}\n",
           threads, flops_total / 1e6, t_blas * 1e3, t_dnnl * 1e3, t_best * 1e3);
    volt_cpu_matmul_set_backend(VOLT_GEMM_ONEDNN);
    for (int i = 0; i < 3; i++) {
        double copied = 1e30, fused = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double x = bias_time(&shapes[i], false, runs), y = bias_time(&shapes[i], true, runs);
            copied = x < copied ? x : copied;
            fused = y < fused ? y : fused;
        }
        printf("{\"bench\":\"mlp_gemm.bias\",\"shape\":\"%s\",\"threads\":%d,"
               "\"copy_then_beta1_us\":%.1f,\"fused_bias_us\":%.1f}\n",
               shapes[i].name, threads, copied * 1e6, fused * 1e6);
    }
    return 0;
}
