/* volt_test.h: helpers shared by the cmocka suites — value comparison,
 * error assertions, gradcheck wrappers, leaves with non-contiguous layouts,
 * and per-test setup/teardown that checks no tensor memory leaked. */
#ifndef VOLT_TEST_H
#define VOLT_TEST_H

/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <volt/volt.h>

/* Asserts t has n elements, each within atol + rtol * |expected| of
 * expected[i] (row-major). NaN matches NaN. */
void vt_assert_close(const volt_tensor *t, const double *expected, int64_t n, double rtol,
                     double atol, const char *file, int line);
#define VT_ASSERT_CLOSE(t, expected, n, rtol, atol)                                                \
    vt_assert_close((t), (expected), (n), (rtol), (atol), __FILE__, __LINE__)

/* Asserts modules a and b have the same parameters (count, and every
 * element within rtol * max(1, |b|)); a failure names `who` (e.g. "rank 1"),
 * the parameter and the element. */
void vt_assert_same_params(volt_module *a, volt_module *b, double rtol, const char *who,
                           const char *file, int line);
#define VT_ASSERT_SAME_PARAMS(a, b, rtol, who)                                                     \
    vt_assert_same_params((a), (b), (rtol), (who), __FILE__, __LINE__)

/* Asserts t's shape equals the given one. */
void vt_assert_shape(const volt_tensor *t, int ndim, const int64_t *shape, const char *file,
                     int line);
#define VT_ASSERT_SHAPE(t, ...) vt_assert_shape((t), VOLT_SHAPE(__VA_ARGS__), __FILE__, __LINE__)

/* Asserts the sticky error has `status` and its message contains `substr`,
 * then clears it. */
void vt_assert_error(volt_status status, const char *substr, const char *file, int line);
#define VT_ASSERT_ERROR(status, substr) vt_assert_error((status), (substr), __FILE__, __LINE__)

/* Asserts no error is recorded (prints it otherwise). */
void vt_assert_no_error(const char *file, int line);
#define VT_ASSERT_NO_ERROR() vt_assert_no_error(__FILE__, __LINE__)

/* An f64 leaf with values from randn(seed) (scaled by `scale`, shifted by
 * `shift`), requires_grad set; owned by the current scope. */
volt_tensor *vt_leaf(int ndim, const int64_t *shape, uint64_t seed, double scale, double shift);
/* The same but non-contiguous: a transposed view over storage laid out with
 * the last two dims swapped (ndim >= 2), or a stride-2 view (ndim == 1). */
volt_tensor *vt_leaf_strided(int ndim, const int64_t *shape, uint64_t seed, double scale,
                             double shift);

/* Runs volt_gradcheck and fails the test with its message if it fails. */
void vt_gradcheck(volt_gradcheck_fn fn, void *ctx, int n, volt_tensor **inputs, const char *file,
                  int line);
#define VT_GRADCHECK(fn, ctx, n, ...)                                                              \
    vt_gradcheck((fn), (ctx), (n), (volt_tensor *[]){__VA_ARGS__}, __FILE__, __LINE__)

/* Whether a file whose name contains `name` is mapped into this process
 * (/proc/self/maps): which shared libraries have been loaded. */
bool vt_file_mapped(const char *name);

/* cmocka setup/teardown: opens a scope and records the allocated bytes;
 * teardown ends the scope, fails on a recorded error, on tensor memory
 * still allocated (a leak) or on autocast left on, and resets grad mode,
 * autocast and the fast kernels. Use with
 * cmocka_unit_test_setup_teardown(test, vt_setup, vt_teardown). */
int vt_setup(void **state);
int vt_teardown(void **state);
#define VT_TEST(fn) cmocka_unit_test_setup_teardown(fn, vt_setup, vt_teardown)

#endif
