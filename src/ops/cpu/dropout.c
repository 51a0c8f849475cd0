/* dropout.c: CPU kernels of dropout — one fused pass drawing the mask from
 * Philox blocks and writing the scaled output, and the masked backward.
 * Element i always uses the same block and word, so the mask depends only on
 * the generator state, never on the thread count. */
#include "ops/cpu/dropout.h"

static void philox_block(const volt_generator *g, uint64_t counter, uint32_t out[4]) {
    uint32_t key[2] = {(uint32_t)g->seed, (uint32_t)(g->seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), (uint32_t)g->stream,
                       (uint32_t)(g->stream >> 32)};
    volt_philox4x32(key, ctr, out);
}

#define DROPOUT_KERNEL(SUF, T)                                                                     \
    static void dropout_##SUF(T *out, uint8_t *mask, const T *x, int64_t n, double p,              \
                              double scale, const volt_generator *gen, uint64_t first) {           \
        const T s = (T)scale;                                                                      \
        _Pragma("omp parallel for if (n > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t b = 0;        \
                                                                             b < (n + 3) / 4;      \
                                                                             b++) {                \
            uint32_t r[4];                                                                         \
            philox_block(gen, first + (uint64_t)b, r);                                             \
            for (int64_t k = 0; k < 4 && 4 * b + k < n; k++) {                                     \
                int64_t i = 4 * b + k;                                                             \
                uint8_t keep = (double)volt_uniform_from_u32(r[k]) >= p;                           \
                mask[i] = keep;                                                                    \
                out[i] = x[i] * (T)keep * s;                                                       \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void dropout_grad_##SUF(char **ptr, const int64_t *st, int64_t n, void *ctx) {          \
        const T s = (T)(*(const double *)ctx);                                                     \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T g = *(const T *)(ptr[1] + i * st[1]);                                                \
            uint8_t m = *(const uint8_t *)(ptr[2] + i * st[2]);                                    \
            *(T *)(ptr[0] + i * st[0]) = g * (T)m * s;                                             \
        }                                                                                          \
    }

DROPOUT_KERNEL(f32, float)
DROPOUT_KERNEL(f64, double)

void volt_cpu_dropout(volt_tensor *out, volt_tensor *mask, const volt_tensor *x, double p,
                      double scale, const volt_generator *gen, uint64_t first_block) {
    int64_t n = volt_tensor_numel(x);
    uint8_t *m = volt_tensor_data(mask);
    if (x->dtype == VOLT_F32)
        dropout_f32(volt_tensor_data(out), m, volt_tensor_data(x), n, p, scale, gen, first_block);
    else if (x->dtype == VOLT_F64)
        dropout_f64(volt_tensor_data(out), m, volt_tensor_data(x), n, p, scale, gen, first_block);
    else
        VOLT_ASSERT(!"dropout kernel for this dtype");
}

void volt_cpu_dropout_backward(volt_tensor *gx, const volt_tensor *g, const volt_tensor *mask,
                               double scale) {
    const volt_tensor *ops[3] = {gx, g, mask};
    if (gx->dtype == VOLT_F32)
        volt_elementwise_loop(3, ops, dropout_grad_f32, &scale);
    else if (gx->dtype == VOLT_F64)
        volt_elementwise_loop(3, ops, dropout_grad_f64, &scale);
    else
        VOLT_ASSERT(!"dropout backward kernel for this dtype");
}
