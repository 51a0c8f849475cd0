/* random.c: CPU kernels turning Philox blocks into uniform and normal
 * numbers. Element i always comes from the same block and word, so the
 * result does not depend on how the work is split across threads. */
#include <math.h>
#include <string.h>

#include "ops/cpu/cpu_kernels.h"

static void block(const volt_generator *g, uint64_t counter, uint32_t out[4]) {
    uint32_t key[2] = {(uint32_t)g->seed, (uint32_t)(g->seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), (uint32_t)g->stream,
                       (uint32_t)(g->stream >> 32)};
    volt_philox4x32(key, ctr, out);
}

enum { LANES = 16 };

/* Blocks first .. first + LANES - 1 of g at once: w[j][i] is word j of
 * block first + i, volt_philox4x32's rounds over arrays of counters (loops
 * the compiler vectorises, 32 x 32 -> 64-bit products and all). */
VOLT_CPU_CLONES static void blocks16(const volt_generator *g, uint64_t first,
                                     uint32_t w[4][LANES]) {
    uint32_t k0 = (uint32_t)g->seed, k1 = (uint32_t)(g->seed >> 32);
    uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
    for (int i = 0; i < LANES; i++) {
        uint64_t c = first + (uint64_t)i;
        c0[i] = (uint32_t)c;
        c1[i] = (uint32_t)(c >> 32);
        c2[i] = (uint32_t)g->stream;
        c3[i] = (uint32_t)(g->stream >> 32);
    }
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < LANES; i++) {
            uint64_t p0 = (uint64_t)VOLT_PHILOX_M0 * c0[i], p1 = (uint64_t)VOLT_PHILOX_M1 * c2[i];
            c0[i] = (uint32_t)(p1 >> 32) ^ c1[i] ^ k0;
            c1[i] = (uint32_t)p1;
            c2[i] = (uint32_t)(p0 >> 32) ^ c3[i] ^ k1;
            c3[i] = (uint32_t)p0;
        }
        k0 += VOLT_PHILOX_W0;
        k1 += VOLT_PHILOX_W1;
    }
    memcpy(w[0], c0, sizeof c0);
    memcpy(w[1], c1, sizeof c1);
    memcpy(w[2], c2, sizeof c2);
    memcpy(w[3], c3, sizeof c3);
}

/* Four f32 uniforms per block (24-bit), LANES blocks at a time. */
void volt_cpu_uniform(volt_tensor *out, const volt_generator *gen, uint64_t first_block) {
    int64_t n = volt_tensor_numel(out);
    if (out->dtype != VOLT_F32) {
        volt_cpu_uniform_affine(volt_tensor_data(out), out->dtype, n, gen, first_block, 1.0, -0.0);
        return;
    }
    float *p = volt_tensor_data(out);
    int64_t groups = ((n + 3) / 4 + LANES - 1) / LANES;
#pragma omp parallel for if (n > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
    for (int64_t gi = 0; gi < groups; gi++) {
        uint32_t w[4][LANES];
        blocks16(gen, first_block + (uint64_t)(gi * LANES), w);
        for (int64_t i = 0; i < LANES; i++)
            for (int k = 0; k < 4; k++) {
                int64_t e = 4 * (gi * LANES + i) + k;
                if (e < n) p[e] = volt_uniform_u32_inline(w[k][i]);
            }
    }
}

/* Two f64 uniforms per block (53-bit), scaled and shifted in double and
 * stored in dtype (f32 rounds once); u * 1 + (-0) is u itself. */
void volt_cpu_uniform_affine(void *out, volt_dtype dtype, int64_t n, const volt_generator *gen,
                             uint64_t first_block, double scale, double shift) {
    int64_t groups = ((n + 1) / 2 + LANES - 1) / LANES;
    bool f32 = dtype == VOLT_F32;
#pragma omp parallel for if (n > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
    for (int64_t gi = 0; gi < groups; gi++) {
        uint32_t w[4][LANES];
        blocks16(gen, first_block + (uint64_t)(gi * LANES), w);
        for (int64_t i = 0; i < LANES; i++)
            for (int k = 0; k < 2; k++) {
                int64_t e = 2 * (gi * LANES + i) + k;
                if (e >= n) break;
                double v = volt_uniform_u64_inline(w[2 * k][i], w[2 * k + 1][i]) * scale + shift;
                if (f32)
                    ((float *)out)[e] = (float)v;
                else
                    ((double *)out)[e] = v;
            }
    }
}

/* Box-Muller: each pair of uniforms (u1 in (0, 1], u2) gives two normals. */
void volt_cpu_normal(volt_tensor *out, const volt_generator *gen, uint64_t first_block) {
    int64_t n = volt_tensor_numel(out);
    const double two_pi = 6.283185307179586;
    if (out->dtype == VOLT_F32) {
        float *p = volt_tensor_data(out);
#pragma omp parallel for if (n > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
        for (int64_t b = 0; b < (n + 3) / 4; b++) {
            uint32_t r[4];
            block(gen, first_block + (uint64_t)b, r);
            for (int k = 0; k < 4; k += 2) {
                double u1 = 1.0 - volt_uniform_from_u32(r[k]), u2 = volt_uniform_from_u32(r[k + 1]);
                double rad = sqrt(-2.0 * log(u1));
                if (4 * b + k < n) p[4 * b + k] = (float)(rad * cos(two_pi * u2));
                if (4 * b + k + 1 < n) p[4 * b + k + 1] = (float)(rad * sin(two_pi * u2));
            }
        }
    } else { /* x * 1 + (-0) is x, a zero's sign included */
        volt_cpu_normal_affine(volt_tensor_data(out), out->dtype, n, gen, first_block, 1.0, -0.0);
    }
}

/* Two f64 normals per block (Box-Muller on two 53-bit uniforms), each
 * scaled and shifted in double and stored in dtype. */
void volt_cpu_normal_affine(void *out, volt_dtype dtype, int64_t n, const volt_generator *gen,
                            uint64_t first_block, double scale, double shift) {
    const double two_pi = 6.283185307179586;
    int64_t groups = ((n + 1) / 2 + LANES - 1) / LANES;
    bool f32 = dtype == VOLT_F32;
#pragma omp parallel for if (n > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
    for (int64_t gi = 0; gi < groups; gi++) {
        uint32_t w[4][LANES];
        blocks16(gen, first_block + (uint64_t)(gi * LANES), w);
        for (int64_t i = 0; i < LANES; i++) {
            int64_t e = 2 * (gi * LANES + i);
            if (e >= n) break;
            double u1 = 1.0 - volt_uniform_u64_inline(w[0][i], w[1][i]);
            double u2 = volt_uniform_u64_inline(w[2][i], w[3][i]);
            double rad = sqrt(-2.0 * log(u1));
            double v[2] = {rad * cos(two_pi * u2) * scale + shift,
                           rad * sin(two_pi * u2) * scale + shift};
            for (int k = 0; k < 2 && e + k < n; k++) {
                if (f32)
                    ((float *)out)[e + k] = (float)v[k];
                else
                    ((double *)out)[e + k] = v[k];
            }
        }
    }
}
