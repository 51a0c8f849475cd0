/* batch_norm.c: fast f32 batch-norm kernels (see batch_norm.h). Each
 * channel is one thread's job (results do not depend on the thread count):
 * the forward pass makes one sweep for the statistics (sums shifted by the
 * channel's first element, so the variance does not cancel) and one for
 * y = x a + b; the backward pass one sweep for sum(g) and sum(g (x - mean))
 * and one for gx = k1 g + k2 x + k3. Rows are summed in float in chunks and
 * the chunks in double. The row loops are compiled for AVX-512, AVX2 and
 * baseline x86-64 and picked at load time (GCC's target_clones). */
#include "ops/cpu/batch_norm.h"

#include <math.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

#define CHUNK 512
#define SERIAL_WORK 65536

/* sum += sum(p - k), sq += sum((p - k)^2) over s elements. */
CLONES static void row_moments(const float *p, int64_t s, float k, double *sum, double *sq) {
    for (int64_t i0 = 0; i0 < s; i0 += CHUNK) {
        int64_t i1 = i0 + CHUNK < s ? i0 + CHUNK : s;
        float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
        for (int64_t i = i0; i < i1; i++) {
            float d = p[i] - k;
            s1 += d;
            s2 += d * d;
        }
        *sum += s1;
        *sq += s2;
    }
}

/* sg += sum(g), sgx += sum(g (p - m)). */
CLONES static void row_grad_sums(const float *g, const float *p, int64_t s, float m, double *sg,
                                 double *sgx) {
    for (int64_t i0 = 0; i0 < s; i0 += CHUNK) {
        int64_t i1 = i0 + CHUNK < s ? i0 + CHUNK : s;
        float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
        for (int64_t i = i0; i < i1; i++) {
            s1 += g[i];
            s2 += g[i] * (p[i] - m);
        }
        *sg += s1;
        *sgx += s2;
    }
}

/* q = a p + b (+ c r when r is not NULL). */
CLONES static void row_affine(float *q, const float *p, float a, float b, const float *r, float c,
                              int64_t s) {
    if (r) {
#pragma omp simd
        for (int64_t i = 0; i < s; i++) q[i] = a * p[i] + c * r[i] + b;
    } else {
#pragma omp simd
        for (int64_t i = 0; i < s; i++) q[i] = a * p[i] + b;
    }
}

static const float *row(const volt_tensor *t, const volt_bn_geom *g, int64_t k, int64_t ch) {
    return (const float *)volt_tensor_data(t) + (k * g->c + ch) * g->s;
}

static float at(const volt_tensor *t, int64_t i) {
    return t ? ((const float *)volt_tensor_data(t))[i] : 0.0f;
}

void volt_cpu_batch_norm(const volt_bn_geom *g, const volt_tensor *x, volt_tensor *y,
                         volt_tensor *mean, volt_tensor *var, const volt_tensor *scale,
                         const volt_tensor *shift) {
    float *mp = volt_tensor_data(mean), *vp = volt_tensor_data(var);
    double count = (double)(g->n * g->s);
#pragma omp parallel for if (g->n * g->c * g->s > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t ch = 0; ch < g->c; ch++) {
        if (g->training) {
            float k = row(x, g, 0, ch)[0];
            double sum = 0.0, sq = 0.0;
            for (int64_t n = 0; n < g->n; n++) row_moments(row(x, g, n, ch), g->s, k, &sum, &sq);
            double m = sum / count, v = sq / count - m * m;
            mp[ch] = (float)(k + m);
            vp[ch] = (float)(v > 0.0 ? v : 0.0);
        }
        double inv = 1.0 / sqrt((double)vp[ch] + g->eps);
        double a = scale ? at(scale, ch) * inv : inv;
        double b = (shift ? at(shift, ch) : 0.0) - (double)mp[ch] * a;
        for (int64_t n = 0; n < g->n; n++)
            row_affine((float *)row(y, g, n, ch), row(x, g, n, ch), (float)a, (float)b, NULL, 0.0f,
                       g->s);
    }
}

void volt_cpu_batch_norm_backward(const volt_bn_geom *g, const volt_tensor *x,
                                  const volt_tensor *gy, const volt_tensor *mean,
                                  const volt_tensor *var, const volt_tensor *scale, volt_tensor *gx,
                                  volt_tensor *gscale, volt_tensor *gshift) {
    double count = (double)(g->n * g->s);
#pragma omp parallel for if (g->n * g->c * g->s > SERIAL_WORK) num_threads(volt_get_num_threads())
    for (int64_t ch = 0; ch < g->c; ch++) {
        float m = at(mean, ch);
        double inv = 1.0 / sqrt((double)at(var, ch) + g->eps), sg = 0.0, sgx = 0.0;
        for (int64_t n = 0; n < g->n; n++)
            row_grad_sums(row(gy, g, n, ch), row(x, g, n, ch), g->s, m, &sg, &sgx);
        double sum_gxhat = sgx * inv; /* sum of g * (x - mean) / std */
        if (gscale) ((float *)volt_tensor_data(gscale))[ch] = (float)sum_gxhat;
        if (gshift) ((float *)volt_tensor_data(gshift))[ch] = (float)sg;
        if (!gx) continue;
        /* gx = w inv (g - [sg + xhat sum_gxhat] / count) in training,
         * w inv g in eval: k1 g + k2 x + k3. */
        double k1 = (scale ? at(scale, ch) : 1.0) * inv, k2 = 0.0, k3 = 0.0;
        if (g->training) {
            k2 = -k1 * inv * sum_gxhat / count;
            k3 = -k1 * sg / count - k2 * m;
        }
        for (int64_t n = 0; n < g->n; n++)
            row_affine((float *)row(gx, g, n, ch), row(gy, g, n, ch), (float)k1, (float)k3,
                       g->training ? row(x, g, n, ch) : NULL, (float)k2, g->s);
    }
}
