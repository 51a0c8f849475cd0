/* volt_test.c: implementation of the shared test helpers (volt_test.h). */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/cpu/dnnl_common.h"

void vt_assert_close(const volt_tensor *t, const double *expected, int64_t n, double rtol,
                     double atol, const char *file, int line) {
    if (!t) {
        fprintf(stderr, "%s:%d: tensor is NULL (%s)\n", file, line, volt_error_message());
        _fail(file, line);
    }
    if (volt_tensor_numel(t) != n) {
        fprintf(stderr, "%s:%d: %lld elements, expected %lld\n", file, line,
                (long long)volt_tensor_numel(t), (long long)n);
        _fail(file, line);
    }
    for (int64_t i = 0; i < n; i++) {
        double v = volt_tensor_get_flat(t, i), e = expected[i];
        if (isnan(e) && isnan(v)) continue;
        if (!(fabs(v - e) <= atol + rtol * fabs(e))) {
            fprintf(stderr, "%s:%d: element %lld is %.10g, expected %.10g\n", file, line,
                    (long long)i, v, e);
            _fail(file, line);
        }
    }
}

void vt_assert_same_params(volt_module *a, volt_module *b, double rtol, const char *who,
                           const char *file, int line) {
    volt_params pa = volt_module_parameters(a), pb = volt_module_parameters(b);
    if (pa.count != pb.count) {
        fprintf(stderr, "%s:%d: %s: %lld parameters vs %lld\n", file, line, who,
                (long long)pa.count, (long long)pb.count);
        _fail(file, line);
    }
    for (int64_t i = 0; i < pa.count; i++)
        for (int64_t k = 0; k < volt_tensor_numel(pa.tensors[i]); k++) {
            double x = volt_tensor_get_flat(pa.tensors[i], k);
            double y = volt_tensor_get_flat(pb.tensors[i], k);
            if (!(fabs(x - y) <= rtol * fmax(1.0, fabs(y)))) {
                fprintf(stderr, "%s:%d: %s: %s[%lld]: %.9g vs %.9g\n", file, line, who, pa.names[i],
                        (long long)k, x, y);
                _fail(file, line);
            }
        }
}

void vt_assert_shape(const volt_tensor *t, int ndim, const int64_t *shape, const char *file,
                     int line) {
    bool same = t && t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char buf[128];
        fprintf(stderr, "%s:%d: shape %s differs from the expected one (%s)\n", file, line,
                volt_shape_str(t, buf, sizeof buf), volt_error_message());
        _fail(file, line);
    }
}

void vt_assert_error(volt_status status, const char *substr, const char *file, int line) {
    if (volt_error_status() != status || !strstr(volt_error_message(), substr)) {
        fprintf(stderr, "%s:%d: expected %s containing \"%s\", got %s: \"%s\"\n", file, line,
                volt_status_name(status), substr, volt_status_name(volt_error_status()),
                volt_error_message());
        _fail(file, line);
    }
    volt_error_clear();
}

void vt_assert_no_error(const char *file, int line) {
    if (volt_error_status() != VOLT_OK) {
        fprintf(stderr, "%s:%d: unexpected error: %s\n", file, line, volt_error_message());
        _fail(file, line);
    }
}

volt_tensor *vt_leaf(int ndim, const int64_t *shape, uint64_t seed, double scale, double shift) {
    volt_generator g = volt_generator_make(seed, 0);
    volt_tensor *t = volt_randn(ndim, shape, VOLT_F64, &g);
    if (!t) return NULL;
    double *p = volt_tensor_data(t);
    for (int64_t i = 0; i < volt_tensor_numel(t); i++) p[i] = p[i] * scale + shift;
    return volt_requires_grad(t, true);
}

volt_tensor *vt_leaf_strided(int ndim, const int64_t *shape, uint64_t seed, double scale,
                             double shift) {
    int64_t base_shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    memcpy(base_shape, shape, (size_t)ndim * sizeof *shape);
    if (ndim == 1) base_shape[0] = 2 * shape[0];
    if (ndim >= 2) {
        base_shape[ndim - 1] = shape[ndim - 2];
        base_shape[ndim - 2] = shape[ndim - 1];
    }
    volt_tensor *base = vt_leaf(ndim, base_shape, seed, scale, shift);
    if (!base) return NULL;
    memcpy(strides, base->strides, (size_t)ndim * sizeof *strides);
    if (ndim == 1) strides[0] = 2;
    if (ndim >= 2) {
        strides[ndim - 1] = base->strides[ndim - 2];
        strides[ndim - 2] = base->strides[ndim - 1];
    }
    volt_tensor *view = volt_tensor_alias(base, ndim, shape, strides, 0);
    return volt_requires_grad(view, true);
}

void vt_gradcheck(volt_gradcheck_fn fn, void *ctx, int n, volt_tensor **inputs, const char *file,
                  int line) {
    if (volt_gradcheck(fn, ctx, n, inputs, NULL) != VOLT_OK) {
        fprintf(stderr, "%s:%d: %s\n", file, line, volt_error_message());
        volt_error_clear();
        _fail(file, line);
    }
}

static int64_t baseline_bytes;

int vt_setup(void **state) {
    (void)state;
    volt_error_clear();
    baseline_bytes = volt_cpu_memory_stats().allocated_bytes;
    volt_scope_begin();
    return 0;
}

int vt_teardown(void **state) {
    (void)state;
    volt_scope_end();
    int failed = 0;
    if (volt_error_status() != VOLT_OK) {
        fprintf(stderr, "teardown: error left recorded: %s\n", volt_error_message());
        failed = 1;
    }
    int64_t now = volt_cpu_memory_stats().allocated_bytes;
    if (now != baseline_bytes) {
        fprintf(stderr, "teardown: %lld bytes of tensor memory leaked\n",
                (long long)(now - baseline_bytes));
        failed = 1;
    }
    /* A test that stops early (a failed assertion) may leave autocast on or
     * the fast kernels off: put them back so the next test starts clean. */
    if (volt_autocast_set(VOLT_AUTOCAST_OFF) != VOLT_AUTOCAST_OFF) {
        fprintf(stderr, "teardown: autocast left on\n");
        failed = 1;
    }
    volt_set_fast_kernels(true);
    volt_error_clear();
    volt_set_grad_enabled(true);
    return failed ? -1 : 0;
}

bool vt_file_mapped(const char *name) {
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, name) != NULL;
    fclose(f);
    return found;
}
