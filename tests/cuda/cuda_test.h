/* cuda_test.h: what the GPU tests (tests/cuda/test_cuda_*.c) share — the
 * skip where no CUDA device is usable (exit 77, which ctest reports as
 * skipped, after a "SKIPPED: no CUDA device (<reason>)" line), setup and
 * teardown that also check for leaked device memory, and the comparison of
 * a CUDA result with the CPU's. */
#ifndef VOLT_CUDA_TEST_H
#define VOLT_CUDA_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "volt_test.h"

#define VT_CUDA0 ((volt_device){VOLT_CUDA, 0})

/* Why cuda:0 cannot be used, from volt_device_check's message: what the
 * CUDA runtime said ("cudaGetDeviceCount: CUDA driver version is
 * insufficient for CUDA runtime version"), or the whole message. */
static inline const char *vt_cuda_unavailable_reason(char *buf, size_t size) {
    const char *msg = volt_error_message(), *open = strstr(msg, "available (");
    if (strncmp(msg, "volt: ", 6) == 0) msg += 6;
    snprintf(buf, size, "%s", open ? open + strlen("available (") : msg);
    size_t n = strlen(buf);
    if (open && n > 0 && buf[n - 1] == ')') buf[n - 1] = '\0';
    return buf;
}

/* In main(): returns 77 from it, after "SKIPPED: <test>: no CUDA device
 * (<reason>)", when cuda:0 cannot be used. */
#define VT_CUDA_SKIP_UNLESS_AVAILABLE(test_name)                                                   \
    do {                                                                                           \
        if (volt_device_check(VT_CUDA0) != VOLT_OK) {                                              \
            char why_[512];                                                                        \
            printf("SKIPPED: %s: no CUDA device (%s)\n", (test_name),                              \
                   vt_cuda_unavailable_reason(why_, sizeof why_));                                 \
            volt_error_clear();                                                                    \
            return 77;                                                                             \
        }                                                                                          \
    } while (0)

static int64_t vt_cuda_baseline;

/* vt_setup / vt_teardown, and no device memory left allocated on cuda:0. */
static inline int vt_cuda_setup(void **state) {
    vt_cuda_baseline = volt_cuda_memory_stats(0).allocated_bytes;
    return vt_setup(state);
}

static inline int vt_cuda_teardown(void **state) {
    int failed = vt_teardown(state);
    int64_t now = volt_cuda_memory_stats(0).allocated_bytes;
    if (now != vt_cuda_baseline) {
        fprintf(stderr, "teardown: %lld bytes of cuda:0 memory leaked\n",
                (long long)(now - vt_cuda_baseline));
        failed = -1;
    }
    volt_error_clear();
    return failed;
}

#define VT_CUDA_TEST(fn) cmocka_unit_test_setup_teardown(fn, vt_cuda_setup, vt_cuda_teardown)

/* Asserts got (any device) has want's shape and every element within
 * atol + rtol * |want| of want's (any device; read as f64). */
static inline void vt_assert_same_values(const volt_tensor *got, const volt_tensor *want,
                                         double rtol, double atol, const char *what,
                                         const char *file, int line) {
    if (!got || !want) {
        fprintf(stderr, "%s:%d: %s: a NULL tensor (%s)\n", file, line, what, volt_error_message());
        _fail(file, line);
    }
    vt_assert_shape(got, want->ndim, want->shape, file, line);
    int64_t n = volt_tensor_numel(want);
    double *g = malloc((size_t)(n ? n : 1) * sizeof *g),
           *w = malloc((size_t)(n ? n : 1) * sizeof *w);
    if (!g || !w || volt_tensor_copy_to_array(got, VOLT_F64, g) != VOLT_OK ||
        volt_tensor_copy_to_array(want, VOLT_F64, w) != VOLT_OK) {
        fprintf(stderr, "%s:%d: %s: reading the values failed (%s)\n", file, line, what,
                volt_error_message());
        _fail(file, line);
    }
    for (int64_t i = 0; i < n; i++) {
        if (!(fabs(g[i] - w[i]) <= atol + rtol * fabs(w[i]))) {
            fprintf(stderr, "%s:%d: %s: element %lld is %.9g, expected %.9g\n", file, line, what,
                    (long long)i, g[i], w[i]);
            free(g), free(w);
            _fail(file, line);
        }
    }
    free(g), free(w);
}
#define VT_ASSERT_SAME_VALUES(got, want, rtol, atol, what)                                         \
    vt_assert_same_values((got), (want), (rtol), (atol), (what), __FILE__, __LINE__)

#endif
