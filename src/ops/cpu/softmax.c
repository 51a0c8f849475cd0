/* softmax.c: CPU kernels of softmax and log_softmax along any dim, forward
 * (max shift, then one pass for the sum of exponentials, one to write) and
 * backward, and the row geometry shared with the cross-entropy kernels.
 * Rows are independent and split across threads; each row is computed by one
 * thread in a fixed order, so results do not depend on the thread count.
 * f32 uses volt_expf, which vectorises on contiguous rows (softmax.h). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math") /* vectorises volt_expf: see softmax.h */
#endif
#include "ops/cpu/softmax.h"

void volt_row_plan_init(volt_row_plan *p, int dim, int n_tensors, const volt_tensor *const *t) {
    const volt_tensor *ref = t[0];
    VOLT_ASSERT(n_tensors >= 1 && n_tensors <= VOLT_ROW_PLAN_MAX);
    p->n_tensors = n_tensors;
    p->n = ref->ndim ? ref->shape[dim] : 1;
    p->rows = 1;
    p->n_other = 0;
    p->simple = ref->ndim == 0 || dim == ref->ndim - 1;
    for (int k = 0; k < n_tensors; k++)
        if (t[k] && !volt_tensor_is_contiguous(t[k])) p->simple = false;
    for (int d = 0; d < ref->ndim; d++) {
        if (d == dim) continue;
        p->other_shape[p->n_other] = ref->shape[d];
        for (int k = 0; k < n_tensors; k++)
            p->other_stride[k][p->n_other] = t[k] ? t[k]->strides[d] : 0;
        p->rows *= ref->shape[d];
        p->n_other++;
    }
    for (int k = 0; k < n_tensors; k++)
        p->dim_stride[k] = (p->simple || !t[k] || ref->ndim == 0) ? 1 : t[k]->strides[dim];
}

/* One row: m = max x, s = sum exp(x - m); softmax writes exp(x - m) / s,
 * log_softmax (x - m) - log s. NaN anywhere in the row gives NaN. The
 * stride-1 call sites let the compiler specialise (and vectorise) the
 * contiguous case; the strided one runs the same code element by element. */
#define SOFTMAX_KERNELS(SUF, T, EXP)                                                               \
    static inline void softmax_row_##SUF(const T *x, int64_t sx, T *y, int64_t sy, int64_t n,      \
                                         bool lg) {                                                \
        T m = volt_row_max_##SUF(x, sx, n);                                                        \
        if (lg) {                                                                                  \
            T log_s = (T)log(volt_row_expsum_##SUF(x, sx, m, n));                                  \
            for (int64_t i = 0; i < n; i++) y[i * sy] = (x[i * sx] - m) - log_s;                   \
        } else {                                                                                   \
            T inv = (T)(1.0 / volt_row_exp_##SUF(y, sy, x, sx, m, n));                             \
            for (int64_t i = 0; i < n; i++) y[i * sy] *= inv;                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* softmax: gx = y (g - sum(g y)); log_softmax: gx = g - exp(y) sum(g). */                     \
    static inline void softmax_backward_row_##SUF(T *gx, int64_t sgx, const T *g, int64_t sg,      \
                                                  const T *y, int64_t sy, int64_t n, bool lg) {    \
        if (lg) {                                                                                  \
            T sum = (T)volt_row_dot_##SUF(g, sg, NULL, 0, n);                                      \
            for (int64_t i = 0; i < n; i++) gx[i * sgx] = g[i * sg] - EXP(y[i * sy]) * sum;        \
        } else {                                                                                   \
            T dot = (T)volt_row_dot_##SUF(g, sg, y, sy, n);                                        \
            for (int64_t i = 0; i < n; i++) gx[i * sgx] = y[i * sy] * (g[i * sg] - dot);           \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void softmax_##SUF(volt_tensor *out, const volt_tensor *x, const volt_row_plan *p,      \
                              bool lg) {                                                           \
        const T *src = volt_tensor_data(x);                                                        \
        T *dst = volt_tensor_data(out);                                                            \
        int64_t sx = p->dim_stride[0], sy = p->dim_stride[1];                                      \
        _Pragma("omp parallel for if (p->rows * p->n > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t r = 0;        \
                                                                             r < p->rows; r++) {   \
            const T *xr = src + volt_row_offset(p, 0, r);                                          \
            T *yr = dst + volt_row_offset(p, 1, r);                                                \
            if (sx == 1 && sy == 1)                                                                \
                softmax_row_##SUF(xr, 1, yr, 1, p->n, lg);                                         \
            else                                                                                   \
                softmax_row_##SUF(xr, sx, yr, sy, p->n, lg);                                       \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void softmax_backward_##SUF(volt_tensor *gx, const volt_tensor *g,                      \
                                       const volt_tensor *y, const volt_row_plan *p, bool lg) {    \
        T *dgx = volt_tensor_data(gx);                                                             \
        const T *dg = volt_tensor_data(g), *dy = volt_tensor_data(y);                              \
        int64_t s0 = p->dim_stride[0], s1 = p->dim_stride[1], s2 = p->dim_stride[2];               \
        _Pragma("omp parallel for if (p->rows * p->n > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t r = 0;        \
                                                                             r < p->rows; r++) {   \
            T *a = dgx + volt_row_offset(p, 0, r);                                                 \
            const T *b = dg + volt_row_offset(p, 1, r), *c = dy + volt_row_offset(p, 2, r);        \
            if (s0 == 1 && s1 == 1 && s2 == 1)                                                     \
                softmax_backward_row_##SUF(a, 1, b, 1, c, 1, p->n, lg);                            \
            else                                                                                   \
                softmax_backward_row_##SUF(a, s0, b, s1, c, s2, p->n, lg);                         \
        }                                                                                          \
    }

SOFTMAX_KERNELS(f32, float, volt_expf)
SOFTMAX_KERNELS(f64, double, exp)

void volt_cpu_softmax(volt_tensor *out, const volt_tensor *x, int dim, bool lg) {
    volt_row_plan p;
    const volt_tensor *t[2] = {x, out};
    volt_row_plan_init(&p, dim, 2, t);
    if (x->dtype == VOLT_F32)
        softmax_f32(out, x, &p, lg);
    else if (x->dtype == VOLT_F64)
        softmax_f64(out, x, &p, lg);
    else
        VOLT_ASSERT(!"softmax kernel for this dtype");
}

void volt_cpu_softmax_backward(volt_tensor *gx, const volt_tensor *g, const volt_tensor *y, int dim,
                               bool lg) {
    volt_row_plan p;
    const volt_tensor *t[3] = {gx, g, y};
    volt_row_plan_init(&p, dim, 3, t);
    if (gx->dtype == VOLT_F32)
        softmax_backward_f32(gx, g, y, &p, lg);
    else if (gx->dtype == VOLT_F64)
        softmax_backward_f64(gx, g, y, &p, lg);
    else
        VOLT_ASSERT(!"softmax backward kernel for this dtype");
}
