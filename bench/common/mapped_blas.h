/* mapped_blas.h: the fairness checks the bench programs print — which BLAS
 * libraries this process has mapped and which kernels OpenBLAS runs
 * (bench/README.md: an unoptimised BLAS makes a comparison meaningless). Header only: each
 * bench/<dir>/<name>.c is a program of its own, so shared code cannot be a .c file there. */
#ifndef VOLT_BENCH_MAPPED_BLAS_H
#define VOLT_BENCH_MAPPED_BLAS_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Prints the distinct mapped files whose name holds "blas", "lapack" or
 * "mkl" as a JSON array (at most 8). */
static inline void bench_print_mapped_blas(FILE *out) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096], seen[8][512];
    int n = 0;
    fputc('[', out);
    while (f && fgets(line, sizeof line, f)) {
        char *path = strchr(line, '/');
        if (!path) continue;
        path[strcspn(path, "\n")] = '\0';
        const char *base = strrchr(path, '/') + 1;
        if (!strstr(base, "blas") && !strstr(base, "lapack") && !strstr(base, "mkl")) continue;
        bool dup = false;
        for (int i = 0; i < n; i++) dup = dup || strcmp(seen[i], path) == 0;
        if (dup || n == 8) continue;
        snprintf(seen[n], sizeof seen[n], "%s", path);
        fprintf(out, "%s\"%s\"", n ? ", " : "", seen[n]);
        n++;
    }
    if (f) fclose(f);
    fputc(']', out);
}

/* Prints the kernels OpenBLAS picked for this CPU (openblas_get_corename:
 * an OpenBLAS older than the CPU falls back to generic ones, see
 * bench/common/openblas_core.py) as a JSON string, or null without OpenBLAS. */
static inline void bench_print_openblas_core(FILE *out) {
    char *(*corename)(void) = NULL;
    *(void **)&corename = dlsym(RTLD_DEFAULT, "openblas_get_corename");
    if (corename)
        fprintf(out, "\"%s\"", corename());
    else
        fputs("null", out);
}

#endif
