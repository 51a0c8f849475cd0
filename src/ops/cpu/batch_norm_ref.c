/* batch_norm_ref.c: reference batch-norm kernels — statistics (two passes:
 * mean, then the biased variance), normalisation, and the gradients of x,
 * scale and shift in training and eval mode — as loops in double, one
 * channel per thread (results independent of the thread count). */
#include "ops/cpu/batch_norm_ref.h"

#include <math.h>

#include "ops/cpu/ref_f64.h"

#define SERIAL_WORK 65536

/* Element i of channel ch in sample k. */
#define AT(p, g, k, ch) ((p) + ((k) * (g)->c + (ch)) * (g)->s)

static void forward(const volt_bn_geom *g, const double *x, double *y, double *mean, double *var,
                    const double *scale, const double *shift) {
    double count = (double)(g->n * g->s);
#pragma omp parallel for if (g->n * g->c * g->s > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t ch = 0; ch < g->c; ch++) {
        if (g->training) {
            double sum = 0.0, sq = 0.0;
            for (int64_t k = 0; k < g->n; k++)
                for (int64_t i = 0; i < g->s; i++) sum += AT(x, g, k, ch)[i];
            double m = sum / count;
            for (int64_t k = 0; k < g->n; k++)
                for (int64_t i = 0; i < g->s; i++) {
                    double d = AT(x, g, k, ch)[i] - m;
                    sq += d * d;
                }
            mean[ch] = m;
            var[ch] = sq / count;
        }
        double inv = 1.0 / sqrt(var[ch] + g->eps), a = scale ? scale[ch] * inv : inv;
        double b = (shift ? shift[ch] : 0.0) - mean[ch] * a;
        for (int64_t k = 0; k < g->n; k++)
            for (int64_t i = 0; i < g->s; i++) AT(y, g, k, ch)[i] = AT(x, g, k, ch)[i] * a + b;
    }
}

static void backward(const volt_bn_geom *g, const double *x, const double *gy, const double *mean,
                     const double *var, const double *scale, double *gx, double *gscale,
                     double *gshift) {
    double count = (double)(g->n * g->s);
#pragma omp parallel for if (g->n * g->c * g->s > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t ch = 0; ch < g->c; ch++) {
        double inv = 1.0 / sqrt(var[ch] + g->eps), m = mean[ch];
        double sum_g = 0.0, sum_gxhat = 0.0;
        for (int64_t k = 0; k < g->n; k++)
            for (int64_t i = 0; i < g->s; i++) {
                double d = AT(gy, g, k, ch)[i];
                sum_g += d;
                sum_gxhat += d * (AT(x, g, k, ch)[i] - m) * inv;
            }
        if (gscale) gscale[ch] = sum_gxhat;
        if (gshift) gshift[ch] = sum_g;
        if (!gx) continue;
        double w = (scale ? scale[ch] : 1.0) * inv;
        for (int64_t k = 0; k < g->n; k++)
            for (int64_t i = 0; i < g->s; i++) {
                double d = AT(gy, g, k, ch)[i];
                if (g->training) {
                    double xhat = (AT(x, g, k, ch)[i] - m) * inv;
                    d -= (sum_g + xhat * sum_gxhat) / count;
                }
                AT(gx, g, k, ch)[i] = w * d;
            }
    }
}

volt_status volt_cpu_batch_norm_ref(const volt_bn_geom *g, const volt_tensor *x, volt_tensor *y,
                                    volt_tensor *mean, volt_tensor *var, const volt_tensor *scale,
                                    const volt_tensor *shift) {
    volt_ref_frame f = volt_ref_begin();
    double *xx = volt_ref_in(&f, x), *yy = volt_ref_out(&f, y);
    double *mm = g->training ? volt_ref_out(&f, mean) : volt_ref_in(&f, mean);
    double *vv = g->training ? volt_ref_out(&f, var) : volt_ref_in(&f, var);
    double *sc = volt_ref_in(&f, scale), *sh = volt_ref_in(&f, shift);
    if (f.ok) forward(g, xx, yy, mm, vv, sc, sh);
    return volt_ref_end(&f);
}

volt_status volt_cpu_batch_norm_backward_ref(const volt_bn_geom *g, const volt_tensor *x,
                                             const volt_tensor *gy, const volt_tensor *mean,
                                             const volt_tensor *var, const volt_tensor *scale,
                                             volt_tensor *gx, volt_tensor *gscale,
                                             volt_tensor *gshift) {
    volt_ref_frame f = volt_ref_begin();
    double *xx = volt_ref_in(&f, x), *gg = volt_ref_in(&f, gy), *mm = volt_ref_in(&f, mean);
    double *vv = volt_ref_in(&f, var), *sc = volt_ref_in(&f, scale);
    double *gxx = volt_ref_out(&f, gx), *gsc = volt_ref_out(&f, gscale);
    double *gsh = volt_ref_out(&f, gshift);
    if (f.ok) backward(g, xx, gg, mm, vv, sc, gxx, gsc, gsh);
    return volt_ref_end(&f);
}
