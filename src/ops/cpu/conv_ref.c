/* conv_ref.c: reference 2-D convolution kernels — forward, gradient of the
 * input, gradient of the weights and bias — as direct loops in double over
 * contiguous tensors (f32 operands are converted to f64 and back). Every
 * output element is computed by one thread in a fixed order, so results do
 * not depend on the thread count. Used for f64, as the fallback where oneDNN
 * takes no problem, and by the tests that hold oneDNN to them. */
#include "ops/cpu/conv_ref.h"

#include "ops/cpu/ref_f64.h"

/* Multiply-adds below which the loops stay on one thread. */
#define SERIAL_WORK 65536

static void forward(const volt_conv_geom *g, const double *x, const double *wt, const double *b,
                    double *y) {
    int64_t cg = g->c / g->groups, og = g->o / g->groups, jobs = g->n * g->o;
    int64_t work = jobs * g->oh * g->ow * cg * g->kh * g->kw;
#pragma omp parallel for if (work > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t job = 0; job < jobs; job++) {
        int64_t n = job / g->o, o = job % g->o, c0 = (o / og) * cg;
        double *yp = y + job * g->oh * g->ow;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                double acc = b ? b[o] : 0.0;
                for (int64_t c = 0; c < cg; c++) {
                    const double *xp = x + (n * g->c + c0 + c) * g->h * g->w;
                    const double *wp = wt + (o * cg + c) * g->kh * g->kw;
                    for (int64_t ky = 0; ky < g->kh; ky++) {
                        int64_t iy = oy * g->sh - g->ph + ky * g->dh;
                        if (iy < 0 || iy >= g->h) continue;
                        for (int64_t kx = 0; kx < g->kw; kx++) {
                            int64_t ix = ox * g->sw - g->pw + kx * g->dw;
                            if (ix >= 0 && ix < g->w)
                                acc += xp[iy * g->w + ix] * wp[ky * g->kw + kx];
                        }
                    }
                }
                yp[oy * g->ow + ox] = acc;
            }
    }
}

/* Each input element gathers the taps of the outputs it fed. */
static void backward_data(const volt_conv_geom *g, const double *gy, const double *wt, double *gx) {
    int64_t cg = g->c / g->groups, og = g->o / g->groups, jobs = g->n * g->c;
    int64_t work = jobs * g->h * g->w * og * g->kh * g->kw;
#pragma omp parallel for if (work > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t job = 0; job < jobs; job++) {
        int64_t n = job / g->c, grp = (job % g->c) / cg, c = (job % g->c) % cg;
        double *gp = gx + job * g->h * g->w;
        for (int64_t iy = 0; iy < g->h; iy++)
            for (int64_t ix = 0; ix < g->w; ix++) {
                double acc = 0.0;
                for (int64_t o = grp * og; o < (grp + 1) * og; o++) {
                    const double *yp = gy + (n * g->o + o) * g->oh * g->ow;
                    const double *wp = wt + (o * cg + c) * g->kh * g->kw;
                    for (int64_t ky = 0; ky < g->kh; ky++) {
                        int64_t ty = iy + g->ph - ky * g->dh, oy = ty / g->sh;
                        if (ty < 0 || ty % g->sh || oy >= g->oh) continue;
                        for (int64_t kx = 0; kx < g->kw; kx++) {
                            int64_t tx = ix + g->pw - kx * g->dw, ox = tx / g->sw;
                            if (tx < 0 || tx % g->sw || ox >= g->ow) continue;
                            acc += yp[oy * g->ow + ox] * wp[ky * g->kw + kx];
                        }
                    }
                }
                gp[iy * g->w + ix] = acc;
            }
    }
}

/* One weight tap of output channel o: the sum over the batch and the output
 * positions of diff_dst times the input it read. */
static double weight_tap(const volt_conv_geom *g, const double *x, const double *gy, int64_t o,
                         int64_t ci, int64_t ky, int64_t kx) {
    double acc = 0.0;
    for (int64_t n = 0; n < g->n; n++) {
        const double *xp = x + (n * g->c + ci) * g->h * g->w;
        const double *yp = gy + (n * g->o + o) * g->oh * g->ow;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            int64_t iy = oy * g->sh - g->ph + ky * g->dh;
            if (iy < 0 || iy >= g->h) continue;
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t ix = ox * g->sw - g->pw + kx * g->dw;
                if (ix >= 0 && ix < g->w) acc += yp[oy * g->ow + ox] * xp[iy * g->w + ix];
            }
        }
    }
    return acc;
}

static void backward_weights(const volt_conv_geom *g, const double *x, const double *gy, double *gw,
                             double *gb) {
    int64_t cg = g->c / g->groups, og = g->o / g->groups;
    int64_t work = g->n * g->o * g->oh * g->ow * cg * g->kh * g->kw;
#pragma omp parallel for if (work > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t o = 0; o < g->o; o++) {
        int64_t c0 = (o / og) * cg;
        for (int64_t c = 0; c < cg; c++)
            for (int64_t ky = 0; ky < g->kh; ky++)
                for (int64_t kx = 0; kx < g->kw; kx++)
                    gw[((o * cg + c) * g->kh + ky) * g->kw + kx] =
                        weight_tap(g, x, gy, o, c0 + c, ky, kx);
        if (gb) {
            double acc = 0.0;
            for (int64_t n = 0; n < g->n; n++) {
                const double *yp = gy + (n * g->o + o) * g->oh * g->ow;
                for (int64_t i = 0; i < g->oh * g->ow; i++) acc += yp[i];
            }
            gb[o] = acc;
        }
    }
}

/* ------------------------------------------------------------- entry */

volt_status volt_cpu_conv_forward_ref(const volt_conv_geom *g, const volt_tensor *src,
                                      const volt_tensor *w, const volt_tensor *b,
                                      volt_tensor *dst) {
    volt_ref_frame f = volt_ref_begin();
    double *x = volt_ref_in(&f, src), *wt = volt_ref_in(&f, w), *bb = volt_ref_in(&f, b);
    double *y = volt_ref_out(&f, dst);
    if (f.ok) forward(g, x, wt, bb, y);
    return volt_ref_end(&f);
}

volt_status volt_cpu_conv_backward_data_ref(const volt_conv_geom *g, const volt_tensor *diff_dst,
                                            const volt_tensor *w, volt_tensor *diff_src) {
    volt_ref_frame f = volt_ref_begin();
    double *gy = volt_ref_in(&f, diff_dst), *wt = volt_ref_in(&f, w);
    double *gx = volt_ref_out(&f, diff_src);
    if (f.ok) backward_data(g, gy, wt, gx);
    return volt_ref_end(&f);
}

volt_status volt_cpu_conv_backward_weights_ref(const volt_conv_geom *g, const volt_tensor *src,
                                               const volt_tensor *diff_dst, volt_tensor *diff_w,
                                               volt_tensor *diff_b) {
    volt_ref_frame f = volt_ref_begin();
    double *x = volt_ref_in(&f, src), *gy = volt_ref_in(&f, diff_dst);
    double *gw = volt_ref_out(&f, diff_w), *gb = volt_ref_out(&f, diff_b);
    if (f.ok) backward_weights(g, x, gy, gw, gb);
    return volt_ref_end(&f);
}

/* -------------------------------------------------- per-channel helpers */

void volt_cpu_channel_add(volt_tensor *y, const volt_tensor *b) {
    int64_t n = y->shape[0], c = y->shape[1], hw = y->shape[2] * y->shape[3];
#pragma omp parallel for if (n * c * hw > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t job = 0; job < n * c; job++) {
        int64_t ch = job % c;
        if (y->dtype == VOLT_F32) {
            float *p = (float *)volt_tensor_data(y) + job * hw,
                  v = ((float *)volt_tensor_data(b))[ch];
            for (int64_t i = 0; i < hw; i++) p[i] += v;
        } else {
            double *p = (double *)volt_tensor_data(y) + job * hw;
            double v = ((double *)volt_tensor_data(b))[ch];
            for (int64_t i = 0; i < hw; i++) p[i] += v;
        }
    }
}

void volt_cpu_channel_sum(const volt_tensor *gy, volt_tensor *gb) {
    int64_t n = gy->shape[0], c = gy->shape[1], hw = gy->shape[2] * gy->shape[3];
#pragma omp parallel for if (n * c * hw > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t ch = 0; ch < c; ch++) {
        double acc = 0.0;
        for (int64_t i = 0; i < n; i++) {
            int64_t base = (i * c + ch) * hw;
            if (gy->dtype == VOLT_F32) {
                const float *p = (const float *)volt_tensor_data(gy) + base;
                for (int64_t k = 0; k < hw; k++) acc += p[k];
            } else {
                const double *p = (const double *)volt_tensor_data(gy) + base;
                for (int64_t k = 0; k < hw; k++) acc += p[k];
            }
        }
        if (gb->dtype == VOLT_F32)
            ((float *)volt_tensor_data(gb))[ch] = (float)acc;
        else
            ((double *)volt_tensor_data(gb))[ch] = acc;
    }
}
