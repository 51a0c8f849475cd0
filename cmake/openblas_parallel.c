/* openblas_parallel.c: configure-time probe. Prints the threading model of
 * the OpenBLAS the dynamic loader picks at run time (0 sequential, 1 pthreads,
 * 2 OpenMP) and its build configuration. Declared here rather than taken from
 * cblas.h, whose extensions differ between OpenBLAS versions. */
#include <stdio.h>

int openblas_get_parallel(void);
char *openblas_get_config(void);

int main(void) {
    printf("%d;%s\n", openblas_get_parallel(), openblas_get_config());
    return 0;
}
