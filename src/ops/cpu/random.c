/* random.c: CPU kernels turning Philox blocks into uniform and normal
 * numbers. Element i always comes from the same block and word, so the
 * result does not depend on how the work is split across threads. */
#include <math.h>

#include "ops/cpu/cpu_kernels.h"

static void block(const volt_generator *g, uint64_t counter, uint32_t out[4]) {
    uint32_t key[2] = {(uint32_t)g->seed, (uint32_t)(g->seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), (uint32_t)g->stream,
                       (uint32_t)(g->stream >> 32)};
    volt_philox4x32(key, ctr, out);
}

/* Four f32 or two f64 uniforms per block. */
void volt_cpu_uniform(volt_tensor *out, const volt_generator *gen, uint64_t first_block) {
    int64_t n = volt_tensor_numel(out);
    if (out->dtype == VOLT_F32) {
        float *p = volt_tensor_data(out);
#pragma omp parallel for if (n > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
        for (int64_t b = 0; b < (n + 3) / 4; b++) {
            uint32_t r[4];
            block(gen, first_block + (uint64_t)b, r);
            for (int64_t k = 0; k < 4 && 4 * b + k < n; k++)
                p[4 * b + k] = volt_uniform_from_u32(r[k]);
        }
    } else {
        double *p = volt_tensor_data(out);
#pragma omp parallel for if (n > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
        for (int64_t b = 0; b < (n + 1) / 2; b++) {
            uint32_t r[4];
            block(gen, first_block + (uint64_t)b, r);
            p[2 * b] = volt_uniform_from_u64(r[0], r[1]);
            if (2 * b + 1 < n) p[2 * b + 1] = volt_uniform_from_u64(r[2], r[3]);
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
    } else {
        double *p = volt_tensor_data(out);
#pragma omp parallel for if (n > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
        for (int64_t b = 0; b < (n + 1) / 2; b++) {
            uint32_t r[4];
            block(gen, first_block + (uint64_t)b, r);
            double u1 = 1.0 - volt_uniform_from_u64(r[0], r[1]),
                   u2 = volt_uniform_from_u64(r[2], r[3]);
            double rad = sqrt(-2.0 * log(u1));
            p[2 * b] = rad * cos(two_pi * u2);
            if (2 * b + 1 < n) p[2 * b + 1] = rad * sin(two_pi * u2);
        }
    }
}
