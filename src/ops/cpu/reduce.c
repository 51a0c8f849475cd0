/* reduce.c: CPU reduction kernels. The reduced dims are walked innermost for
 * each output element; output elements are split across threads. */
#include "ops/cpu/cpu_kernels.h"

/* Geometry of a reduction: kept dims (outer) and reduced dims (inner), in
 * element strides of the input. */
typedef struct {
    int n_outer, n_inner;
    int64_t outer_shape[VOLT_MAX_DIMS], outer_stride[VOLT_MAX_DIMS];
    int64_t inner_shape[VOLT_MAX_DIMS], inner_stride[VOLT_MAX_DIMS];
    int64_t outer_numel, inner_numel;
} reduce_plan;

static void plan_reduce(reduce_plan *p, const volt_tensor *a, const bool reduce[VOLT_MAX_DIMS]) {
    p->n_outer = p->n_inner = 0;
    p->outer_numel = p->inner_numel = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (reduce[d]) {
            p->inner_shape[p->n_inner] = a->shape[d];
            p->inner_stride[p->n_inner++] = a->strides[d];
            p->inner_numel *= a->shape[d];
        } else {
            p->outer_shape[p->n_outer] = a->shape[d];
            p->outer_stride[p->n_outer++] = a->strides[d];
            p->outer_numel *= a->shape[d];
        }
    }
}

static int64_t offset_of(int64_t flat, int n, const int64_t *shape, const int64_t *stride) {
    int64_t off = 0;
    for (int d = n - 1; d >= 0; d--) {
        off += (flat % shape[d]) * stride[d];
        flat /= shape[d];
    }
    return off;
}

#define SUM_KERNEL(NAME, T, ACC)                                                            \
    static void NAME(volt_tensor *out, const volt_tensor *a, const reduce_plan *p) {        \
        const T *src = (const T *)volt_tensor_data(a);                                      \
        T *dst = (T *)volt_tensor_data(out);                                                \
        int64_t last_stride = p->n_inner ? p->inner_stride[p->n_inner - 1] : 1;             \
        int64_t last_size = p->n_inner ? p->inner_shape[p->n_inner - 1] : 1;                \
        int64_t rows = p->inner_numel / (last_size ? last_size : 1);                        \
        _Pragma("omp parallel for if (p->outer_numel * p->inner_numel > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads())")                                      \
        for (int64_t o = 0; o < p->outer_numel; o++) {                                      \
            const T *base = src + offset_of(o, p->n_outer, p->outer_shape, p->outer_stride); \
            ACC acc = 0;                                                                    \
            for (int64_t r = 0; r < rows && last_size > 0; r++) {                           \
                const T *row = base + offset_of(r, p->n_inner - 1, p->inner_shape,          \
                                                p->inner_stride);                           \
                for (int64_t i = 0; i < last_size; i++) acc += (ACC)row[i * last_stride];   \
            }                                                                               \
            dst[o] = (T)acc;                                                                \
        }                                                                                   \
    }

SUM_KERNEL(sum_f32, float, double)
SUM_KERNEL(sum_f64, double, double)
SUM_KERNEL(sum_i64, int64_t, int64_t)

void volt_cpu_sum(volt_tensor *out, const volt_tensor *a, const bool reduce[VOLT_MAX_DIMS]) {
    reduce_plan p;
    plan_reduce(&p, a, reduce);
    switch (a->dtype) {
    case VOLT_F32: sum_f32(out, a, &p); break;
    case VOLT_F64: sum_f64(out, a, &p); break;
    case VOLT_I64: sum_i64(out, a, &p); break;
    default: VOLT_ASSERT(!"sum kernel for this dtype");
    }
}
