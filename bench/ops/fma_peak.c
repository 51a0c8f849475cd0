/* fma_peak.c: the machine's f32 arithmetic peak, the ceiling every GEMM
 * figure in bench/RESULTS.md is measured against: each OpenMP thread runs 12
 * independent chains of 512-bit fused multiply-adds (enough to keep two FMA
 * units busy through their latency) and the program prints one JSON line
 * with the GFLOP/s of all threads together. Needs AVX-512F (checked at run
 * time). Usage: bench_ops_fma_peak [threads, default 2] [millions of rounds
 * of the chains per thread, default 100: ~0.2 s]. Not a test. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define CHAINS 12

/* Runs `iters` rounds of CHAINS FMAs on 16 floats; returns a sum so the
 * compiler keeps the work. */
__attribute__((target("avx512f"))) static float fma_chains(long iters) {
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i * 1e-3f);
    const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
    __m512 sum = acc[0];
    for (int i = 1; i < CHAINS; i++) sum = _mm512_add_ps(sum, acc[i]);
    return _mm512_reduce_add_ps(sum);
}

int main(int argc, char **argv) {
    if (!__builtin_cpu_supports("avx512f")) {
        fprintf(stderr, "fma_peak: this CPU has no AVX-512F\n");
        return 1;
    }
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    long iters = (long)((argc > 2 ? atof(argv[2]) : 100.0) * 1e6);
    float sink = 0;
    double t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += fma_chains(iters);
    double seconds = omp_get_wtime() - t0;
    double flops = (double)iters * CHAINS * 16 * 2 * threads;
    printf("{\"bench\": \"fma_peak\", \"threads\": %d, \"gflops\": %.1f, \"seconds\": %.3f, "
           "\"sink\": %g}\n",
           threads, flops / seconds / 1e9, seconds, (double)sink);
    return 0;
}
