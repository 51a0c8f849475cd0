/* test_pool_window.c: the window arithmetic of volt's CUDA pooling kernels
 * (ops/cuda/pool_kernels.h), run on the host in the kernels' loop order —
 * forward one output at a time, backward one input element at a time
 * gathering from the outputs that reach it — and held to the CPU
 * reference's values, indices and gradients (f64) over geometries with
 * padding, dilation, overlapping and gapped windows, and ceil_mode's extra
 * window. The kernels themselves run on a GPU in tests/cuda/test_cuda_conv. */
#include "volt_test.h"

#include <math.h>
#include <stdlib.h>

#include "ops/cuda/pool_kernels.h"

typedef struct {
    int64_t h, w, k[2], s[2], p[2], d[2];
    bool ceil_mode;
} geometry;

static const geometry cases[] = {
    {5, 6, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true},   /* overlapping, extra window */
    {5, 5, {2, 2}, {1, 1}, {0, 0}, {2, 2}, false},  /* dilated */
    {7, 8, {3, 3}, {3, 3}, {1, 1}, {2, 2}, true},   /* dilated, extra window */
    {5, 7, {2, 2}, {2, 2}, {0, 0}, {1, 1}, true},   /* partial last window */
    {4, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, false},  /* stride 1 */
    {5, 5, {1, 1}, {2, 2}, {0, 0}, {1, 1}, false},  /* gaps between windows */
    {9, 10, {3, 2}, {2, 1}, {1, 0}, {1, 3}, true},  /* each dim its own */
    {10, 9, {4, 4}, {3, 3}, {2, 2}, {1, 1}, true},  /* padding 2 */
    {6, 11, {2, 5}, {3, 2}, {1, 2}, {2, 1}, false}, /* wide kernel */
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static volt_pool_dims dims_of(const geometry *c, const volt_tensor *y, bool max, bool include_pad) {
    return (volt_pool_dims){
        2,          3,       c->h,    c->w,    y->shape[2], y->shape[3],       c->k[0],
        c->k[1],    c->s[0], c->s[1], c->p[0], c->p[1],     max ? c->d[0] : 1, max ? c->d[1] : 1,
        include_pad};
}

/* upstream gradient: ((5 i) % 7 - 3) / 4 */
static volt_tensor *pattern_like(const volt_tensor *y) {
    volt_tensor *g = volt_empty(y->ndim, y->shape, VOLT_F64);
    double *p = volt_tensor_data(g);
    for (int64_t i = 0; i < volt_tensor_numel(g); i++) p[i] = (double)((i * 5) % 7 - 3) * 0.25;
    return g;
}

/* max_pool_kernel and max_pool_backward_kernel of pool.cu, on the host. */
static void max_forward(const volt_pool_dims *g, const double *x, double *y, int64_t *idx) {
    for (int64_t o = 0; o < g->n * g->c * g->oh * g->ow; o++) {
        int64_t ox = o % g->ow, oy = o / g->ow % g->oh, plane = o / (g->ow * g->oh);
        int64_t y0, y1, x0, x1;
        volt_pool_max_span(oy, g->kh, g->sh, g->ph, g->dh, g->h, &y0, &y1);
        volt_pool_max_span(ox, g->kw, g->sw, g->pw, g->dw, g->w, &x0, &x1);
        const double *xp = x + plane * g->h * g->w;
        int64_t best = y0 * g->w + x0;
        double m = -INFINITY;
        for (int64_t iy = y0; iy < y1; iy += g->dh)
            for (int64_t ix = x0; ix < x1; ix += g->dw)
                if (xp[iy * g->w + ix] > m || isnan(xp[iy * g->w + ix])) {
                    m = xp[iy * g->w + ix];
                    best = iy * g->w + ix;
                }
        y[o] = m;
        idx[o] = best;
    }
}

static void max_backward(const volt_pool_dims *g, const double *dy, const int64_t *idx,
                         double *dx) {
    for (int64_t e = 0; e < g->n * g->c * g->h * g->w; e++) {
        int64_t pos = e % (g->h * g->w), plane = e / (g->h * g->w);
        int64_t oy0, oy1, ox0, ox1;
        volt_pool_reach(pos / g->w, g->kh, g->sh, g->ph, g->dh, g->oh, &oy0, &oy1);
        volt_pool_reach(pos % g->w, g->kw, g->sw, g->pw, g->dw, g->ow, &ox0, &ox1);
        double sum = 0;
        for (int64_t oy = oy0; oy < oy1; oy++)
            for (int64_t ox = ox0; ox < ox1; ox++) {
                int64_t o = plane * g->oh * g->ow + oy * g->ow + ox;
                if (idx[o] == pos) sum += dy[o];
            }
        dx[e] = sum;
    }
}

/* avg_pool_kernel and avg_pool_backward_kernel of pool.cu, on the host. */
static double divisor(const volt_pool_dims *g, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                      int64_t *x0, int64_t *x1) {
    int64_t ph, pw;
    volt_pool_avg_span(oy, g->kh, g->sh, g->ph, g->h, y0, y1, &ph);
    volt_pool_avg_span(ox, g->kw, g->sw, g->pw, g->w, x0, x1, &pw);
    return (double)(g->count_include_pad ? ph * pw : (*y1 - *y0) * (*x1 - *x0));
}

static void avg_forward(const volt_pool_dims *g, const double *x, double *y) {
    for (int64_t o = 0; o < g->n * g->c * g->oh * g->ow; o++) {
        int64_t ox = o % g->ow, oy = o / g->ow % g->oh, plane = o / (g->ow * g->oh);
        int64_t y0, y1, x0, x1;
        double div = divisor(g, oy, ox, &y0, &y1, &x0, &x1), sum = 0;
        for (int64_t iy = y0; iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++) sum += x[plane * g->h * g->w + iy * g->w + ix];
        y[o] = sum / div;
    }
}

static void avg_backward(const volt_pool_dims *g, const double *dy, double *dx) {
    for (int64_t e = 0; e < g->n * g->c * g->h * g->w; e++) {
        int64_t pos = e % (g->h * g->w), plane = e / (g->h * g->w);
        int64_t oy0, oy1, ox0, ox1, y0, y1, x0, x1;
        volt_pool_reach(pos / g->w, g->kh, g->sh, g->ph, 1, g->oh, &oy0, &oy1);
        volt_pool_reach(pos % g->w, g->kw, g->sw, g->pw, 1, g->ow, &ox0, &ox1);
        double sum = 0;
        for (int64_t oy = oy0; oy < oy1; oy++)
            for (int64_t ox = ox0; ox < ox1; ox++)
                sum += dy[plane * g->oh * g->ow + oy * g->ow + ox] /
                       divisor(g, oy, ox, &y0, &y1, &x0, &x1);
        dx[e] = sum;
    }
}

static void assert_same(const volt_tensor *t, const double *want, double tol, const char *what,
                        int c) {
    const double *got = volt_tensor_data(t);
    for (int64_t i = 0; i < volt_tensor_numel(t); i++)
        if (!(got[i] == want[i] || fabs(got[i] - want[i]) <= tol)) {
            print_error("case %d, %s [%lld]: reference %.17g, kernel arithmetic %.17g\n", c, what,
                        (long long)i, got[i], want[i]);
            fail();
        }
}

static void test_max_windows(void **state) {
    (void)state;
    for (int c = 0; c < NCASES; c++) {
        const geometry *k = &cases[c];
        volt_tensor *x =
            volt_requires_grad(volt_randn(VOLT_SHAPE(2, 3, k->h, k->w), VOLT_F64, NULL), true);
        if (c == 1) /* a plane of -inf: every window keeps its first element */
            for (int64_t i = 0; i < k->h * k->w; i++)
                ((double *)volt_tensor_data(x))[i] = -INFINITY;
        volt_tensor *idx = NULL;
        volt_tensor *y = volt_max_pool2d(x, k->k, k->s, k->p, k->d, k->ceil_mode, &idx);
        assert_non_null(y);
        volt_pool_dims g = dims_of(k, y, true, false);
        volt_tensor *gy = pattern_like(y);
        assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);

        int64_t ny = volt_tensor_numel(y), nx = volt_tensor_numel(x);
        double *want_y = malloc((size_t)ny * sizeof(double));
        int64_t *want_idx = malloc((size_t)ny * sizeof(int64_t));
        double *want_dx = malloc((size_t)nx * sizeof(double));
        max_forward(&g, volt_tensor_data(x), want_y, want_idx);
        max_backward(&g, volt_tensor_data(gy), want_idx, want_dx);
        assert_same(y, want_y, 0, "max y", c);
        const int64_t *got_idx = volt_tensor_data(idx);
        for (int64_t i = 0; i < ny; i++) assert_int_equal(got_idx[i], want_idx[i]);
        assert_same(x->grad, want_dx, 0, "max dx", c);
        free(want_y);
        free(want_idx);
        free(want_dx);
    }
}

static void test_avg_windows(void **state) {
    (void)state;
    for (int c = 0; c < NCASES; c++)
        for (int include_pad = 0; include_pad < 2; include_pad++) {
            const geometry *k = &cases[c];
            volt_tensor *x =
                volt_requires_grad(volt_randn(VOLT_SHAPE(2, 3, k->h, k->w), VOLT_F64, NULL), true);
            volt_tensor *y = volt_avg_pool2d(x, k->k, k->s, k->p, k->ceil_mode, include_pad);
            assert_non_null(y);
            volt_pool_dims g = dims_of(k, y, false, include_pad);
            volt_tensor *gy = pattern_like(y);
            assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);

            int64_t ny = volt_tensor_numel(y), nx = volt_tensor_numel(x);
            double *want_y = malloc((size_t)ny * sizeof(double));
            double *want_dx = malloc((size_t)nx * sizeof(double));
            avg_forward(&g, volt_tensor_data(x), want_y);
            avg_backward(&g, volt_tensor_data(gy), want_dx);
            assert_same(y, want_y, 1e-14, include_pad ? "avg y (with padding)" : "avg y", c);
            assert_same(x->grad, want_dx, 1e-14, include_pad ? "avg dx (with padding)" : "avg dx",
                        c);
            free(want_y);
            free(want_dx);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_max_windows),
        VT_TEST(test_avg_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
