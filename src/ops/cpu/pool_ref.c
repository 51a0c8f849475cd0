/* pool_ref.c: reference 2-D pooling kernels — max (with indices), average
 * and adaptive average, forward and backward — as direct loops in double,
 * one input plane per thread (so results do not depend on the thread
 * count), following PyTorch's CPU kernels' conventions. */
#include "ops/cpu/pool_ref.h"

#include <math.h>

#include "ops/cpu/ref_f64.h"

#define SERIAL_WORK 65536

static void max_forward(const volt_pool_geom *g, const double *x, double *y, int64_t *idx) {
    int64_t work = g->n * g->c * g->oh * g->ow * g->kh * g->kw;
#pragma omp parallel for if (work > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t plane = 0; plane < g->n * g->c; plane++) {
        const double *xp = x + plane * g->h * g->w;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t y0 = oy * g->sh - g->ph, x0 = ox * g->sw - g->pw;
                while (y0 < 0) y0 += g->dh;
                while (x0 < 0) x0 += g->dw;
                int64_t y1 = oy * g->sh - g->ph + (g->kh - 1) * g->dh + 1;
                int64_t x1 = ox * g->sw - g->pw + (g->kw - 1) * g->dw + 1;
                if (y1 > g->h) y1 = g->h;
                if (x1 > g->w) x1 = g->w;
                int64_t best = y0 * g->w + x0;
                double m = -INFINITY;
                for (int64_t iy = y0; iy < y1; iy += g->dh)
                    for (int64_t ix = x0; ix < x1; ix += g->dw) {
                        double v = xp[iy * g->w + ix];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = iy * g->w + ix;
                        }
                    }
                int64_t o = (plane * g->oh + oy) * g->ow + ox;
                y[o] = m;
                if (idx) idx[o] = best;
            }
    }
}

static void max_backward(const volt_pool_geom *g, const double *gy, const int64_t *idx,
                         double *gx) {
    int64_t work = g->n * g->c * (g->h * g->w + g->oh * g->ow);
#pragma omp parallel for if (work > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t plane = 0; plane < g->n * g->c; plane++) {
        double *gp = gx + plane * g->h * g->w;
        for (int64_t i = 0; i < g->h * g->w; i++) gp[i] = 0.0;
        for (int64_t o = plane * g->oh * g->ow; o < (plane + 1) * g->oh * g->ow; o++)
            gp[idx[o]] += gy[o];
    }
}

/* PyTorch's window of average pooling: [y0, y1) clipped to the input, and the
 * divisor (the window within input + padding, or only its valid part). */
static void avg_window(const volt_pool_geom *g, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                       int64_t *x0, int64_t *x1, double *divisor) {
    *y0 = oy * g->sh - g->ph;
    *x0 = ox * g->sw - g->pw;
    *y1 = *y0 + g->kh < g->h + g->ph ? *y0 + g->kh : g->h + g->ph;
    *x1 = *x0 + g->kw < g->w + g->pw ? *x0 + g->kw : g->w + g->pw;
    int64_t padded = (*y1 - *y0) * (*x1 - *x0);
    if (*y0 < 0) *y0 = 0;
    if (*x0 < 0) *x0 = 0;
    if (*y1 > g->h) *y1 = g->h;
    if (*x1 > g->w) *x1 = g->w;
    *divisor = (double)(g->count_include_pad ? padded : (*y1 - *y0) * (*x1 - *x0));
}

static void avg_forward(const volt_pool_geom *g, const double *x, double *y) {
    int64_t work = g->n * g->c * g->oh * g->ow * g->kh * g->kw;
#pragma omp parallel for if (work > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t plane = 0; plane < g->n * g->c; plane++) {
        const double *xp = x + plane * g->h * g->w;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t y0, y1, x0, x1;
                double div, sum = 0.0;
                avg_window(g, oy, ox, &y0, &y1, &x0, &x1, &div);
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) sum += xp[iy * g->w + ix];
                y[(plane * g->oh + oy) * g->ow + ox] = sum / div;
            }
    }
}

static void avg_backward(const volt_pool_geom *g, const double *gy, double *gx) {
    int64_t work = g->n * g->c * g->oh * g->ow * g->kh * g->kw;
#pragma omp parallel for if (work > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t plane = 0; plane < g->n * g->c; plane++) {
        double *gp = gx + plane * g->h * g->w;
        for (int64_t i = 0; i < g->h * g->w; i++) gp[i] = 0.0;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t y0, y1, x0, x1;
                double div;
                avg_window(g, oy, ox, &y0, &y1, &x0, &x1, &div);
                double v = gy[(plane * g->oh + oy) * g->ow + ox] / div;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) gp[iy * g->w + ix] += v;
            }
    }
}

/* Adaptive windows: [floor(o in / out), ceil((o + 1) in / out)). */
static int64_t start_of(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
static int64_t end_of(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

static void adaptive_forward(const volt_pool_geom *g, const double *x, double *y) {
    int64_t work = g->n * g->c * g->h * g->w;
#pragma omp parallel for if (work > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t plane = 0; plane < g->n * g->c; plane++) {
        const double *xp = x + plane * g->h * g->w;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t y0 = start_of(oy, g->oh, g->h), y1 = end_of(oy, g->oh, g->h);
                int64_t x0 = start_of(ox, g->ow, g->w), x1 = end_of(ox, g->ow, g->w);
                double sum = 0.0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) sum += xp[iy * g->w + ix];
                y[(plane * g->oh + oy) * g->ow + ox] = sum / (double)((y1 - y0) * (x1 - x0));
            }
    }
}

static void adaptive_backward(const volt_pool_geom *g, const double *gy, double *gx) {
    int64_t work = g->n * g->c * g->h * g->w;
#pragma omp parallel for if (work > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t plane = 0; plane < g->n * g->c; plane++) {
        double *gp = gx + plane * g->h * g->w;
        for (int64_t i = 0; i < g->h * g->w; i++) gp[i] = 0.0;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t y0 = start_of(oy, g->oh, g->h), y1 = end_of(oy, g->oh, g->h);
                int64_t x0 = start_of(ox, g->ow, g->w), x1 = end_of(ox, g->ow, g->w);
                double v = gy[(plane * g->oh + oy) * g->ow + ox] / (double)((y1 - y0) * (x1 - x0));
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) gp[iy * g->w + ix] += v;
            }
    }
}

/* ------------------------------------------------------------- entry */

volt_status volt_cpu_max_pool_ref(const volt_pool_geom *g, const volt_tensor *src, volt_tensor *dst,
                                  volt_tensor *indices) {
    volt_ref_frame f = volt_ref_begin();
    double *x = volt_ref_in(&f, src), *y = volt_ref_out(&f, dst);
    if (f.ok) max_forward(g, x, y, indices ? volt_tensor_data(indices) : NULL);
    return volt_ref_end(&f);
}

volt_status volt_cpu_max_pool_backward_ref(const volt_pool_geom *g, const volt_tensor *diff_dst,
                                           const volt_tensor *indices, volt_tensor *diff_src) {
    volt_ref_frame f = volt_ref_begin();
    double *gy = volt_ref_in(&f, diff_dst), *gx = volt_ref_out(&f, diff_src);
    if (f.ok) max_backward(g, gy, volt_tensor_data(indices), gx);
    return volt_ref_end(&f);
}

volt_status volt_cpu_avg_pool_ref(const volt_pool_geom *g, const volt_tensor *src,
                                  volt_tensor *dst) {
    volt_ref_frame f = volt_ref_begin();
    double *x = volt_ref_in(&f, src), *y = volt_ref_out(&f, dst);
    if (f.ok) avg_forward(g, x, y);
    return volt_ref_end(&f);
}

volt_status volt_cpu_avg_pool_backward_ref(const volt_pool_geom *g, const volt_tensor *diff_dst,
                                           volt_tensor *diff_src) {
    volt_ref_frame f = volt_ref_begin();
    double *gy = volt_ref_in(&f, diff_dst), *gx = volt_ref_out(&f, diff_src);
    if (f.ok) avg_backward(g, gy, gx);
    return volt_ref_end(&f);
}

volt_status volt_cpu_adaptive_avg_pool_ref(const volt_pool_geom *g, const volt_tensor *src,
                                           volt_tensor *dst) {
    volt_ref_frame f = volt_ref_begin();
    double *x = volt_ref_in(&f, src), *y = volt_ref_out(&f, dst);
    if (f.ok) adaptive_forward(g, x, y);
    return volt_ref_end(&f);
}

volt_status volt_cpu_adaptive_avg_pool_backward_ref(const volt_pool_geom *g,
                                                    const volt_tensor *diff_dst,
                                                    volt_tensor *diff_src) {
    volt_ref_frame f = volt_ref_begin();
    double *gy = volt_ref_in(&f, diff_dst), *gx = volt_ref_out(&f, diff_src);
    if (f.ok) adaptive_backward(g, gy, gx);
    return volt_ref_end(&f);
}
