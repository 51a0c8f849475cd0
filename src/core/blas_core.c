/* blas_core.c: whether OpenBLAS runs kernels fit for this CPU. OpenBLAS
 * picks its kernels from the CPU model when it loads; a release older than
 * the CPU does not know the model and falls back to generic SSE3 kernels
 * ("Prescott"): Debian 12's 0.3.21 does so on Emerald Rapids, where its
 * products run about 3x slower than with the AVX-512 ones. Only the
 * environment (OPENBLAS_CORETYPE, read at load) can change that, so volt
 * says what to set (volt_blas_advice; the trainer warns with it). */
#include <pthread.h>
#include <stdio.h>
#include <strings.h>

#include "volt/core.h"

/* OpenBLAS's own (declared here so that only this file knows it). */
char *openblas_get_corename(void);

/* OpenBLAS's names for x86 cores that have neither AVX2 nor AVX-512
 * kernels. */
static const char *const generic_cores[] = {"Prescott",  "Core2",  "Penryn", "Dunnington",
                                            "Nehalem",   "Atom",   "Katmai", "Coppermine",
                                            "Northwood", "Banias", "Unknown"};

/* The OpenBLAS core this CPU runs, NULL when none beats the generic ones. */
static const char *best_core(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

static char advice[384];
static pthread_once_t advice_once = PTHREAD_ONCE_INIT;

static void make_advice(void) {
    const char *core = openblas_get_corename(), *best = best_core();
    bool generic = false;
    for (size_t i = 0; core && i < sizeof generic_cores / sizeof generic_cores[0]; i++)
        generic = generic || strcasecmp(core, generic_cores[i]) == 0;
    if (!generic || !best) return;
    snprintf(advice, sizeof advice,
             "OpenBLAS runs its generic %s kernels on this CPU, which has %s (a model this "
             "OpenBLAS release does not know, or OPENBLAS_CORETYPE naming them): the products it "
             "computes for volt (f64 ones, f32 ones with a short inner dimension) run about 3x "
             "slower; export OPENBLAS_CORETYPE=%s before starting the program",
             core, best[0] == 'S' ? "AVX-512" : "AVX2", best);
}

const char *volt_blas_advice(void) {
    pthread_once(&advice_once, make_advice);
    return advice[0] ? advice : NULL;
}
