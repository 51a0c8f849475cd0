/* embedding.c: CPU kernels of the embedding lookup — a row copy per index
 * forward; backward a scatter-add of gradient rows into the weight's
 * gradient, split across threads by blocks of columns so that each element
 * is summed in index order (no atomics, thread-count independent). */
#include <string.h>

#include "ops/cpu/embedding.h"

#define COLUMN_BLOCK 64

void volt_cpu_embedding(volt_tensor *out, const volt_tensor *weight, const int64_t *idx,
                        int64_t n) {
    int64_t d = weight->shape[1];
    size_t row = (size_t)d * volt_dtype_size(weight->dtype);
    const char *src = volt_tensor_data(weight);
    char *dst = volt_tensor_data(out);
    if (row == 0) return;
#pragma omp parallel for if (n * d > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
    for (int64_t i = 0; i < n; i++) memcpy(dst + (size_t)i * row, src + (size_t)idx[i] * row, row);
}

#define EMBEDDING_BACKWARD(SUF, T)                                                                 \
    static void backward_##SUF(T *gw, const T *g, const int64_t *idx, int64_t n, int64_t rows,     \
                               int64_t d, int64_t padding_idx) {                                   \
        memset(gw, 0, (size_t)(rows * d) * sizeof(T));                                             \
        int64_t blocks = (d + COLUMN_BLOCK - 1) / COLUMN_BLOCK;                                    \
        _Pragma("omp parallel for if (n * d > VOLT_PARALLEL_GRAIN && blocks > 1) \
                 num_threads(volt_get_num_threads())") for (int64_t b = 0; b < blocks; b++) {      \
            int64_t lo = b * COLUMN_BLOCK, hi = lo + COLUMN_BLOCK < d ? lo + COLUMN_BLOCK : d;     \
            for (int64_t i = 0; i < n; i++) {                                                      \
                if (idx[i] == padding_idx) continue;                                               \
                T *dst = gw + idx[i] * d;                                                          \
                const T *src = g + i * d;                                                          \
                for (int64_t j = lo; j < hi; j++) dst[j] += src[j];                                \
            }                                                                                      \
        }                                                                                          \
    }

EMBEDDING_BACKWARD(f32, float)
EMBEDDING_BACKWARD(f64, double)

void volt_cpu_embedding_backward(volt_tensor *gw, const volt_tensor *g, const int64_t *idx,
                                 int64_t n, int64_t padding_idx) {
    int64_t rows = gw->shape[0], d = gw->shape[1];
    if (gw->dtype == VOLT_F32)
        backward_f32(volt_tensor_data(gw), volt_tensor_data(g), idx, n, rows, d, padding_idx);
    else if (gw->dtype == VOLT_F64)
        backward_f64(volt_tensor_data(gw), volt_tensor_data(g), idx, n, rows, d, padding_idx);
    else
        VOLT_ASSERT(!"embedding backward kernel for this dtype");
}
