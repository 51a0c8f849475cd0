/* attention.c: CPU kernels of scaled dot-product attention — the scaled,
 * masked softmax over each row of scores (forward, in place) and its
 * backward. A row under a causal mask is processed over its visible prefix
 * only; the masked tail is written as zeros. Rows are independent and split
 * across threads; each row is computed in a fixed order (thread-count
 * independent). The row primitives (8-lane double sums, the vectorisable
 * f32 exp) come from softmax.h. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math") /* vectorises volt_expf: see softmax.h */
#endif
#include "ops/cpu/attention.h"
#include "ops/cpu/softmax.h"

/* Number of keys row r of a [.., T, S] score tensor sees. */
static inline int64_t visible(int64_t r, int64_t t, int64_t s, bool causal) {
    if (!causal) return s;
    int64_t i = r % t + 1;
    return i < s ? i : s;
}

#define ATTENTION_KERNELS(SUF, T)                                                                  \
    static void softmax_##SUF(T *s, int64_t rows, int64_t nt, int64_t ns, bool causal,             \
                              double scale) {                                                      \
        _Pragma("omp parallel for if (rows * ns > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t r = 0;        \
                                                                             r < rows; r++) {      \
            T *row = s + r * ns;                                                                   \
            int64_t n = visible(r, nt, ns, causal);                                                \
            for (int64_t j = 0; j < n; j++) row[j] *= (T)scale;                                    \
            T m = volt_row_max_##SUF(row, 1, n);                                                   \
            T inv = (T)(1.0 / volt_row_exp_##SUF(row, 1, row, 1, m, n));                           \
            for (int64_t j = 0; j < n; j++) row[j] *= inv;                                         \
            for (int64_t j = n; j < ns; j++) row[j] = 0;                                           \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void backward_##SUF(T *d, const T *p, int64_t rows, int64_t nt, int64_t ns,             \
                               bool causal, double scale) {                                        \
        _Pragma("omp parallel for if (rows * ns > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t r = 0;        \
                                                                             r < rows; r++) {      \
            T *dr = d + r * ns;                                                                    \
            const T *pr = p + r * ns;                                                              \
            int64_t n = visible(r, nt, ns, causal);                                                \
            T dot = (T)volt_row_dot_##SUF(dr, 1, pr, 1, n);                                        \
            for (int64_t j = 0; j < n; j++) dr[j] = (T)scale * pr[j] * (dr[j] - dot);              \
            for (int64_t j = n; j < ns; j++) dr[j] = 0;                                            \
        }                                                                                          \
    }

ATTENTION_KERNELS(f32, float)
ATTENTION_KERNELS(f64, double)

/* rows (all leading dims and T), T and S of a [..., T, S] tensor. */
static void geometry(const volt_tensor *s, int64_t *rows, int64_t *nt, int64_t *ns) {
    *nt = s->shape[s->ndim - 2];
    *ns = s->shape[s->ndim - 1];
    *rows = *ns ? volt_tensor_numel(s) / *ns : 0;
}

void volt_cpu_attention_softmax(volt_tensor *s, bool causal, double scale) {
    int64_t rows, nt, ns;
    geometry(s, &rows, &nt, &ns);
    if (rows == 0 || ns == 0) return;
    if (s->dtype == VOLT_F32)
        softmax_f32(volt_tensor_data(s), rows, nt, ns, causal, scale);
    else if (s->dtype == VOLT_F64)
        softmax_f64(volt_tensor_data(s), rows, nt, ns, causal, scale);
    else
        VOLT_ASSERT(!"attention softmax kernel for this dtype");
}

void volt_cpu_attention_softmax_backward(volt_tensor *d, const volt_tensor *p, bool causal,
                                         double scale) {
    int64_t rows, nt, ns;
    geometry(p, &rows, &nt, &ns);
    if (rows == 0 || ns == 0) return;
    if (p->dtype == VOLT_F32)
        backward_f32(volt_tensor_data(d), volt_tensor_data(p), rows, nt, ns, causal, scale);
    else if (p->dtype == VOLT_F64)
        backward_f64(volt_tensor_data(d), volt_tensor_data(p), rows, nt, ns, causal, scale);
    else
        VOLT_ASSERT(!"attention softmax backward kernel for this dtype");
}
