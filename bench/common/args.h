/* args.h: the key=value arguments of the bench programs (the last
 * occurrence of a key wins). Header only, like mapped_blas.h. */
#ifndef VOLT_BENCH_ARGS_H
#define VOLT_BENCH_ARGS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The value of key=... among argv[1..], or def. */
static inline const char *arg_str(int argc, char **argv, const char *key, const char *def) {
    size_t k = strlen(key);
    for (int i = argc - 1; i >= 1; i--)
        if (strncmp(argv[i], key, k) == 0 && argv[i][k] == '=') return argv[i] + k + 1;
    return def;
}

/* The same as an integer (strtoll), or def. */
static inline int64_t arg_int(int argc, char **argv, const char *key, int64_t def) {
    const char *v = arg_str(argc, argv, key, NULL);
    return v ? strtoll(v, NULL, 10) : def;
}

#endif
