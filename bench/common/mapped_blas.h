/* mapped_blas.h: the fairness check the bench programs print — which BLAS
 * libraries this process has mapped (bench/README.md: an unoptimised BLAS
 * makes a comparison meaningless). Header only: each bench/<dir>/<name>.c is a
 * program of its own, so shared code cannot be a .c file there. */
#ifndef VOLT_BENCH_MAPPED_BLAS_H
#define VOLT_BENCH_MAPPED_BLAS_H

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

#endif
