/* reduce.c: CPU reduction kernels. A reduction is planned as kept dims
 * (outer, one output each) and reduced dims (inner), size-1 dims dropped and
 * dims that walk memory as one merged. Floating reductions accumulate in
 * double; the two common layouts are fast: reduced elements contiguous (each
 * group is a contiguous span) and kept dims contiguous innermost (column
 * reductions: each input row is added into a block of outputs, in loops
 * compiled for AVX-512, AVX2 and baseline x86-64, VOLT_CPU_CLONES). Also: integer
 * sum/product, max/min with indices along one dim, and the elementwise and
 * scatter kernels of the gradients. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/parallel.h"
#include "ops/cpu/reduce.h"

/* ---------------------------------------------------------------- plans */

typedef struct {
    int n_outer, n_inner;
    int64_t outer_shape[VOLT_MAX_DIMS], outer_stride[VOLT_MAX_DIMS];
    int64_t inner_shape[VOLT_MAX_DIMS], inner_stride[VOLT_MAX_DIMS];
    int64_t outer_numel, inner_numel;
} reduce_plan;

/* Merges each dim into the previous one where walking both is one strided
 * walk; returns the new count. */
static int coalesce(int n, int64_t *shape, int64_t *stride) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && stride[m - 1] == shape[i] * stride[i]) {
            shape[m - 1] *= shape[i];
            stride[m - 1] = stride[i];
        } else {
            shape[m] = shape[i];
            stride[m] = stride[i];
            m++;
        }
    }
    return m;
}

/* Kept dims stay in a's order (the output's row-major order); reduced dims
 * are sorted by decreasing stride when `sort_inner` (the smallest innermost).
 * With `simple`, no dim is dropped or merged. */
static void plan_reduce(reduce_plan *p, const volt_tensor *a, const bool reduce[VOLT_MAX_DIMS],
                        bool sort_inner, bool simple) {
    p->n_outer = p->n_inner = 0;
    p->outer_numel = p->inner_numel = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (reduce[d])
            p->inner_numel *= a->shape[d];
        else
            p->outer_numel *= a->shape[d];
        if (a->shape[d] == 1 && !simple) continue;
        if (reduce[d]) {
            p->inner_shape[p->n_inner] = a->shape[d];
            p->inner_stride[p->n_inner++] = a->strides[d];
        } else {
            p->outer_shape[p->n_outer] = a->shape[d];
            p->outer_stride[p->n_outer++] = a->strides[d];
        }
    }
    if (simple) return;
    for (int i = 1; sort_inner && i < p->n_inner; i++) {
        for (int j = i; j > 0 && p->inner_stride[j - 1] < p->inner_stride[j]; j--) {
            int64_t s = p->inner_shape[j];
            p->inner_shape[j] = p->inner_shape[j - 1];
            p->inner_shape[j - 1] = s;
            s = p->inner_stride[j];
            p->inner_stride[j] = p->inner_stride[j - 1];
            p->inner_stride[j - 1] = s;
        }
    }
    p->n_outer = coalesce(p->n_outer, p->outer_shape, p->outer_stride);
    p->n_inner = coalesce(p->n_inner, p->inner_shape, p->inner_stride);
}

/* Element offset of row-major index `flat` over (n, shape, stride). */
static int64_t offset_of(int64_t flat, int n, const int64_t *shape, const int64_t *stride) {
    int64_t off = 0;
    for (int d = n - 1; d >= 0; d--) {
        off += (flat % shape[d]) * stride[d];
        flat /= shape[d];
    }
    return off;
}

/* ------------------------------------------------ floating reductions */

/* acc folded with n elements from data + off, step s (elements). */
typedef double (*span_fn)(double acc, const void *data, int64_t off, int64_t n, int64_t s,
                          double c);
/* acc[i] folded with data[off + i], i < n (one row of a column reduction). */
typedef void (*col_fn)(double *acc, const void *data, int64_t off, int64_t n, const double *c);

#define STEP_SUM(acc, x, c) acc += x
#define STEP_PROD(acc, x, c) acc *= x
#define STEP_SUMSQ(acc, x, c) acc += x * x
#define STEP_SQDEV(acc, x, c) acc += (x - c) * (x - c)
#define STEP_EXPSUM(acc, x, c) acc += exp(x - c)
#define STEP_ABSSUM(acc, x, c) acc += fabs(x)
#define STEP_MAXABS(acc, x, c)                                                                     \
    if (fabs(x) > acc || x != x) acc = fabs(x)
#define STEP_MAX(acc, x, c)                                                                        \
    if (x > acc || x != x) acc = x
#define STEP_MIN(acc, x, c)                                                                        \
    if (x < acc || x != x) acc = x

#define PRAGMA(x) _Pragma(#x)

/* A span and a column function for one (op, type); RED is the OpenMP simd
 * reduction operator of additive/multiplicative ops. */
#define SPAN_SIMD(NAME, T, STEP, RED)                                                              \
    static double NAME(double acc, const void *data, int64_t off, int64_t n, int64_t s,            \
                       double c) {                                                                 \
        const T *x = (const T *)data + off;                                                        \
        (void)c;                                                                                   \
        if (s == 1) {                                                                              \
            PRAGMA(omp simd reduction(RED : acc))                                                  \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double v = (double)x[i];                                                           \
                STEP(acc, v, c);                                                                   \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double v = (double)x[i * s];                                                       \
                STEP(acc, v, c);                                                                   \
            }                                                                                      \
        }                                                                                          \
        return acc;                                                                                \
    }

/* max / min (of |x| with ABS = fabs): vectorisable compare-select, with NaN
 * tracked on the side so that it still propagates. */
#define NO_ABS(v) (v)
#define SPAN_EXTREME(NAME, T, ABS, RED, OP)                                                        \
    static double NAME(double acc, const void *data, int64_t off, int64_t n, int64_t s,            \
                       double c) {                                                                 \
        const T *x = (const T *)data + off;                                                        \
        (void)c;                                                                                   \
        if (acc != acc) return acc;                                                                \
        double m = acc;                                                                            \
        int nan = 0;                                                                               \
        if (s == 1) {                                                                              \
            PRAGMA(omp simd reduction(RED : m) reduction(| : nan))                                 \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double v = ABS((double)x[i]);                                                      \
                m = v OP m ? v : m;                                                                \
                nan |= v != v;                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double v = ABS((double)x[i * s]);                                                  \
                m = v OP m ? v : m;                                                                \
                nan |= v != v;                                                                     \
            }                                                                                      \
        }                                                                                          \
        return nan ? (double)NAN : m;                                                              \
    }

#define COL(NAME, T, STEP)                                                                         \
    VOLT_CPU_CLONES static void NAME(double *acc, const void *data, int64_t off, int64_t n,        \
                                     const double *c) {                                            \
        const T *x = (const T *)data + off;                                                        \
        if (c) {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double v = (double)x[i], ci = c[i];                                                \
                (void)ci;                                                                          \
                STEP(acc[i], v, ci);                                                               \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double v = (double)x[i], ci = 0.0;                                                 \
                (void)ci;                                                                          \
                STEP(acc[i], v, ci);                                                               \
            }                                                                                      \
        }                                                                                          \
    }

#define FLOAT_REDUCERS(T, SUF)                                                                     \
    SPAN_SIMD(span_sum_##SUF, T, STEP_SUM, +)                                                      \
    SPAN_SIMD(span_prod_##SUF, T, STEP_PROD, *)                                                    \
    SPAN_SIMD(span_sumsq_##SUF, T, STEP_SUMSQ, +)                                                  \
    SPAN_SIMD(span_sqdev_##SUF, T, STEP_SQDEV, +)                                                  \
    SPAN_SIMD(span_expsum_##SUF, T, STEP_EXPSUM, +)                                                \
    SPAN_SIMD(span_abssum_##SUF, T, STEP_ABSSUM, +)                                                \
    SPAN_EXTREME(span_maxabs_##SUF, T, fabs, max, >)                                               \
    SPAN_EXTREME(span_max_##SUF, T, NO_ABS, max, >)                                                \
    SPAN_EXTREME(span_min_##SUF, T, NO_ABS, min, <)                                                \
    COL(col_sum_##SUF, T, STEP_SUM)                                                                \
    COL(col_prod_##SUF, T, STEP_PROD)                                                              \
    COL(col_sumsq_##SUF, T, STEP_SUMSQ)                                                            \
    COL(col_sqdev_##SUF, T, STEP_SQDEV)                                                            \
    COL(col_expsum_##SUF, T, STEP_EXPSUM)                                                          \
    COL(col_abssum_##SUF, T, STEP_ABSSUM)                                                          \
    COL(col_maxabs_##SUF, T, STEP_MAXABS)                                                          \
    COL(col_max_##SUF, T, STEP_MAX)                                                                \
    COL(col_min_##SUF, T, STEP_MIN)

FLOAT_REDUCERS(float, f32)
FLOAT_REDUCERS(double, f64)

/* [op][0: f32, 1: f64] */
static const span_fn spans[VOLT_RED_COUNT][2] = {
    [VOLT_RED_SUM] = {span_sum_f32, span_sum_f64},
    [VOLT_RED_PROD] = {span_prod_f32, span_prod_f64},
    [VOLT_RED_SUMSQ] = {span_sumsq_f32, span_sumsq_f64},
    [VOLT_RED_SQDEV] = {span_sqdev_f32, span_sqdev_f64},
    [VOLT_RED_EXPSUM] = {span_expsum_f32, span_expsum_f64},
    [VOLT_RED_ABSSUM] = {span_abssum_f32, span_abssum_f64},
    [VOLT_RED_MAXABS] = {span_maxabs_f32, span_maxabs_f64},
    [VOLT_RED_MAX] = {span_max_f32, span_max_f64},
    [VOLT_RED_MIN] = {span_min_f32, span_min_f64},
};

static const col_fn cols[VOLT_RED_COUNT][2] = {
    [VOLT_RED_SUM] = {col_sum_f32, col_sum_f64},
    [VOLT_RED_PROD] = {col_prod_f32, col_prod_f64},
    [VOLT_RED_SUMSQ] = {col_sumsq_f32, col_sumsq_f64},
    [VOLT_RED_SQDEV] = {col_sqdev_f32, col_sqdev_f64},
    [VOLT_RED_EXPSUM] = {col_expsum_f32, col_expsum_f64},
    [VOLT_RED_ABSSUM] = {col_abssum_f32, col_abssum_f64},
    [VOLT_RED_MAXABS] = {col_maxabs_f32, col_maxabs_f64},
    [VOLT_RED_MAX] = {col_max_f32, col_max_f64},
    [VOLT_RED_MIN] = {col_min_f32, col_min_f64},
};

static double identity_of(volt_cpu_reduce_op op) {
    switch (op) {
    case VOLT_RED_PROD: return 1.0;
    case VOLT_RED_MAX: return -INFINITY;
    case VOLT_RED_MIN: return INFINITY;
    default: return 0.0;
    }
}

/* Folds a block's partial result into acc. */
static double combine(volt_cpu_reduce_op op, double acc, double part) {
    switch (op) {
    case VOLT_RED_PROD: return acc * part;
    case VOLT_RED_MAXABS:
    case VOLT_RED_MAX: return (part > acc || part != part) ? part : acc;
    case VOLT_RED_MIN: return (part < acc || part != part) ? part : acc;
    default: return acc + part;
    }
}

static double finish(volt_reduce_final f, double acc, double p, double c) {
    switch (f) {
    case VOLT_RED_FINAL_DIV: return acc / p;
    case VOLT_RED_FINAL_SQRT_DIV: return sqrt(acc / p);
    case VOLT_RED_FINAL_LOG_ADD: return log(acc) + c;
    case VOLT_RED_FINAL_NONE: break;
    }
    return acc;
}

typedef struct {
    volt_cpu_reduce_op op;
    volt_reduce_final final;
    double p;
    const double *center;
    span_fn span;
    col_fn col;
    const void *data;
    void *out;
    bool out_f64;
    size_t in_size; /* bytes per input element */
    reduce_plan plan;
} red_ctx;

static void store(const red_ctx *r, int64_t o, double acc) {
    double v = finish(r->final, acc, r->p, r->center ? r->center[o] : 0.0);
    if (r->out_f64)
        ((double *)r->out)[o] = v;
    else
        ((float *)r->out)[o] = (float)v;
}

/* acc folded with the group's elements [begin, end) (row-major over the
 * inner dims) of the group starting at element offset base. */
static double run_range(const red_ctx *r, int64_t base, int64_t begin, int64_t end, double acc,
                        double c) {
    const reduce_plan *p = &r->plan;
    if (p->n_inner == 0) return begin < end ? r->span(acc, r->data, base, 1, 1, c) : acc;
    int last = p->n_inner - 1;
    int64_t len = p->inner_shape[last], s = p->inner_stride[last];
    while (begin < end) {
        int64_t row = begin / len, col = begin % len;
        int64_t n = len - col < end - begin ? len - col : end - begin;
        int64_t off = base + offset_of(row, last, p->inner_shape, p->inner_stride) + col * s;
        acc = r->span(acc, r->data, off, n, s, c);
        begin += n;
    }
    return acc;
}

/* Threads worth using to reduce n input elements. */
static int reduce_threads(const red_ctx *r, int64_t n) {
    return volt_cpu_threads_for_ns((double)n * (double)r->in_size / VOLT_CPU_REDUCE_BYTES_PER_NS);
}

/* Long groups are cut into blocks whose bounds depend only on the group
 * size, reduced separately and folded in order: the result is the same on
 * any number of threads (and blocking also helps accuracy). */
#define BLOCK 16384
#define MAX_BLOCKS 64

static int64_t n_blocks(int64_t inner) {
    if (inner <= BLOCK) return 1;
    int64_t nb = (inner + BLOCK - 1) / BLOCK;
    return nb > MAX_BLOCKS ? MAX_BLOCKS : nb;
}

static double block_of(const red_ctx *r, int64_t o, int64_t j, int64_t nb) {
    const reduce_plan *p = &r->plan;
    int64_t base = offset_of(o, p->n_outer, p->outer_shape, p->outer_stride);
    int64_t inner = p->inner_numel;
    double c = r->center ? r->center[o] : 0.0;
    return run_range(r, base, inner * j / nb, inner * (j + 1) / nb, identity_of(r->op), c);
}

static double group_of(const red_ctx *r, int64_t o, int64_t nb) {
    double acc = identity_of(r->op);
    for (int64_t j = 0; j < nb; j++) acc = combine(r->op, acc, block_of(r, o, j, nb));
    return acc;
}

/* One output per group; parallel over outputs, or over (output, block)
 * pairs when there are fewer outputs than threads. */
static void reduce_rows(const red_ctx *r) {
    int64_t outer = r->plan.outer_numel, inner = r->plan.inner_numel;
    int64_t nb = n_blocks(inner);
    int threads = reduce_threads(r, outer * inner);
    if (nb > 1 && outer < threads) {
        double local[1024];
        double *part = outer * nb <= 1024 ? local : malloc((size_t)(outer * nb) * sizeof *part);
        if (part) {
#pragma omp parallel for num_threads(threads) schedule(static)
            for (int64_t t = 0; t < outer * nb; t++) part[t] = block_of(r, t / nb, t % nb, nb);
            for (int64_t o = 0; o < outer; o++) {
                double acc = identity_of(r->op);
                for (int64_t j = 0; j < nb; j++) acc = combine(r->op, acc, part[o * nb + j]);
                store(r, o, acc);
            }
            if (part != local) free(part);
            return;
        }
    }
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int64_t o = 0; o < outer; o++) store(r, o, group_of(r, o, nb));
}

/* Kept dims are one contiguous run of K outputs: every input row (one
 * position of the reduced dims) is folded into a block of accumulators, so
 * the input is read row by row instead of strided. Threads own blocks of
 * columns; each column is folded in row order. */
#define COL_CHUNK 256

static void reduce_cols(const red_ctx *r) {
    const reduce_plan *p = &r->plan;
    int64_t k_total = p->outer_shape[0], rows = p->inner_numel;
    int64_t chunks = (k_total + COL_CHUNK - 1) / COL_CHUNK;
    double ident = identity_of(r->op);
    int threads = reduce_threads(r, k_total * rows);
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int64_t ch = 0; ch < chunks; ch++) {
        int64_t k0 = ch * COL_CHUNK;
        int64_t n = k_total - k0 < COL_CHUNK ? k_total - k0 : COL_CHUNK;
        double acc[COL_CHUNK];
        for (int64_t i = 0; i < n; i++) acc[i] = ident;
        const double *c = r->center ? r->center + k0 : NULL;
        for (int64_t row = 0; row < rows; row++) {
            int64_t off = offset_of(row, p->n_inner, p->inner_shape, p->inner_stride);
            r->col(acc, r->data, off + k0, n, c);
        }
        for (int64_t i = 0; i < n; i++) store(r, k0 + i, acc[i]);
    }
}

static void setup(red_ctx *r, volt_cpu_reduce_op op, volt_reduce_final final, double p,
                  volt_tensor *out, const volt_tensor *a, const double *center) {
    VOLT_ASSERT(a->dtype == VOLT_F32 || a->dtype == VOLT_F64);
    VOLT_ASSERT(out->dtype == VOLT_F32 || out->dtype == VOLT_F64);
    VOLT_ASSERT(volt_tensor_is_contiguous(out));
    int t = a->dtype == VOLT_F64;
    r->op = op;
    r->final = final;
    r->p = p;
    r->center = center;
    r->span = spans[op][t];
    r->col = cols[op][t];
    r->data = volt_tensor_data(a);
    r->out = volt_tensor_data(out);
    r->out_f64 = out->dtype == VOLT_F64;
    r->in_size = volt_dtype_size(a->dtype);
}

void volt_cpu_reduce(volt_cpu_reduce_op op, volt_reduce_final final, double p, volt_tensor *out,
                     const volt_tensor *a, const bool reduce[VOLT_MAX_DIMS], const double *center) {
    red_ctx r;
    setup(&r, op, final, p, out, a, center);
    plan_reduce(&r.plan, a, reduce, true, false);
    VOLT_ASSERT(volt_tensor_numel(out) == r.plan.outer_numel);
    if (r.plan.outer_numel == 0) return;
    if (r.plan.inner_numel == 0) {
        for (int64_t o = 0; o < r.plan.outer_numel; o++) store(&r, o, identity_of(op));
        return;
    }
    if (r.plan.n_outer == 1 && r.plan.outer_stride[0] == 1 && r.plan.n_inner >= 1)
        reduce_cols(&r);
    else
        reduce_rows(&r);
}

void volt_cpu_reduce_reference(volt_cpu_reduce_op op, volt_reduce_final final, double p,
                               volt_tensor *out, const volt_tensor *a,
                               const bool reduce[VOLT_MAX_DIMS], const double *center) {
    red_ctx r;
    setup(&r, op, final, p, out, a, center);
    const reduce_plan *pl = &r.plan;
    plan_reduce(&r.plan, a, reduce, false, true);
    for (int64_t o = 0; o < pl->outer_numel; o++) {
        int64_t base = offset_of(o, pl->n_outer, pl->outer_shape, pl->outer_stride);
        double acc = identity_of(op), c = center ? center[o] : 0.0;
        for (int64_t i = 0; i < pl->inner_numel; i++)
            acc = r.span(acc, r.data,
                         base + offset_of(i, pl->n_inner, pl->inner_shape, pl->inner_stride), 1, 1,
                         c);
        store(&r, o, acc);
    }
}

/* ----------------------------------------------------- integer sum, prod */

void volt_cpu_reduce_i64(bool product, volt_tensor *out, const volt_tensor *a,
                         const bool reduce[VOLT_MAX_DIMS]) {
    VOLT_ASSERT(a->dtype == VOLT_I64 && out->dtype == VOLT_I64);
    reduce_plan p;
    plan_reduce(&p, a, reduce, true, false);
    const int64_t *x = volt_tensor_data(a);
    int64_t *dst = volt_tensor_data(out);
    int last = p.n_inner - 1;
    int64_t len = p.n_inner ? p.inner_shape[last] : 1, s = p.n_inner ? p.inner_stride[last] : 0;
    int64_t rows = len ? p.inner_numel / len : 0;
#pragma omp parallel for if (p.outer_numel * p.inner_numel > VOLT_PARALLEL_GRAIN)                  \
    num_threads(volt_get_num_threads())
    for (int64_t o = 0; o < p.outer_numel; o++) {
        int64_t base = offset_of(o, p.n_outer, p.outer_shape, p.outer_stride);
        uint64_t acc = product ? 1u : 0u; /* unsigned: overflow wraps */
        for (int64_t r = 0; r < rows; r++) {
            const int64_t *row =
                x + base + (last > 0 ? offset_of(r, last, p.inner_shape, p.inner_stride) : 0);
            for (int64_t i = 0; i < len; i++) {
                uint64_t v = (uint64_t)row[i * s];
                acc = product ? acc * v : acc + v;
            }
        }
        dst[o] = (int64_t)acc;
    }
}

/* ------------------------------------------------- max / min along a dim */

typedef struct {
    int n_outer;
    int64_t outer_shape[VOLT_MAX_DIMS], outer_stride[VOLT_MAX_DIMS];
    int64_t outer_numel, len, stride;
} dim_plan;

#define FLOAT_BETTER_MAX(x, cur) ((x) > (cur) || ((x) != (x) && (cur) == (cur)))
#define FLOAT_BETTER_MIN(x, cur) ((x) < (cur) || ((x) != (x) && (cur) == (cur)))
#define INT_BETTER_MAX(x, cur) ((x) > (cur))
#define INT_BETTER_MIN(x, cur) ((x) < (cur))

#define MAXMIN_KERNEL(NAME, T, BETTER)                                                             \
    static void NAME(void *values, int64_t *indices, const void *data, const dim_plan *p) {        \
        const T *x = (const T *)data;                                                              \
        T *val = (T *)values;                                                                      \
        int64_t len = p->len, s = p->stride;                                                       \
        bool big = p->outer_numel * len > VOLT_PARALLEL_GRAIN;                                     \
        if (p->n_outer == 1 && p->outer_stride[0] == 1) {                                          \
            int64_t k_total = p->outer_shape[0], chunks = (k_total + COL_CHUNK - 1) / COL_CHUNK;   \
            _Pragma(                                                                               \
                "omp parallel for if (big) num_threads(volt_get_num_threads())") for (int64_t ch = \
                                                                                          0;       \
                                                                                      ch < chunks; \
                                                                                      ch++) {      \
                int64_t k0 = ch * COL_CHUNK;                                                       \
                int64_t n = k_total - k0 < COL_CHUNK ? k_total - k0 : COL_CHUNK;                   \
                T best[COL_CHUNK];                                                                 \
                int64_t at[COL_CHUNK];                                                             \
                for (int64_t i = 0; i < n; i++) {                                                  \
                    best[i] = x[k0 + i];                                                           \
                    at[i] = 0;                                                                     \
                }                                                                                  \
                for (int64_t r = 1; r < len; r++) {                                                \
                    const T *row = x + r * s + k0;                                                 \
                    for (int64_t i = 0; i < n; i++) {                                              \
                        if (BETTER(row[i], best[i])) {                                             \
                            best[i] = row[i];                                                      \
                            at[i] = r;                                                             \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
                memcpy(val + k0, best, (size_t)n * sizeof(T));                                     \
                if (indices) memcpy(indices + k0, at, (size_t)n * sizeof(int64_t));                \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        _Pragma(                                                                                   \
            "omp parallel for if (big) num_threads(volt_get_num_threads())") for (int64_t o = 0;   \
                                                                                  o <              \
                                                                                  p->outer_numel;  \
                                                                                  o++) {           \
            const T *g = x + offset_of(o, p->n_outer, p->outer_shape, p->outer_stride);            \
            T best = g[0];                                                                         \
            int64_t at = 0;                                                                        \
            for (int64_t r = 1; r < len; r++) {                                                    \
                if (BETTER(g[r * s], best)) {                                                      \
                    best = g[r * s];                                                               \
                    at = r;                                                                        \
                }                                                                                  \
            }                                                                                      \
            val[o] = best;                                                                         \
            if (indices) indices[o] = at;                                                          \
        }                                                                                          \
    }

MAXMIN_KERNEL(max_f32, float, FLOAT_BETTER_MAX)
MAXMIN_KERNEL(min_f32, float, FLOAT_BETTER_MIN)
MAXMIN_KERNEL(max_f64, double, FLOAT_BETTER_MAX)
MAXMIN_KERNEL(min_f64, double, FLOAT_BETTER_MIN)
MAXMIN_KERNEL(max_i64, int64_t, INT_BETTER_MAX)
MAXMIN_KERNEL(min_i64, int64_t, INT_BETTER_MIN)
MAXMIN_KERNEL(max_i32, int32_t, INT_BETTER_MAX)
MAXMIN_KERNEL(min_i32, int32_t, INT_BETTER_MIN)
MAXMIN_KERNEL(max_u8, uint8_t, INT_BETTER_MAX)
MAXMIN_KERNEL(min_u8, uint8_t, INT_BETTER_MIN)

typedef void (*maxmin_fn)(void *values, int64_t *indices, const void *data, const dim_plan *p);

void volt_cpu_max_dim(bool is_max, volt_tensor *values, volt_tensor *indices, const volt_tensor *a,
                      int dim) {
    static const maxmin_fn table[VOLT_DTYPE_COUNT][2] = {
        [VOLT_F32] = {min_f32, max_f32}, [VOLT_F64] = {min_f64, max_f64},
        [VOLT_I64] = {min_i64, max_i64}, [VOLT_I32] = {min_i32, max_i32},
        [VOLT_U8] = {min_u8, max_u8},    [VOLT_BOOL] = {min_u8, max_u8},
    };
    maxmin_fn fn = table[a->dtype][is_max];
    VOLT_ASSERT(fn && values->dtype == a->dtype && volt_tensor_is_contiguous(values));
    dim_plan p = {.outer_numel = 1, .len = 1, .stride = 0};
    for (int d = 0; d < a->ndim; d++) {
        if (d == dim) {
            p.len = a->shape[d];
            p.stride = a->strides[d];
            continue;
        }
        p.outer_numel *= a->shape[d];
        if (a->shape[d] == 1) continue;
        p.outer_shape[p.n_outer] = a->shape[d];
        p.outer_stride[p.n_outer++] = a->strides[d];
    }
    p.n_outer = coalesce(p.n_outer, p.outer_shape, p.outer_stride);
    VOLT_ASSERT(p.len > 0 || p.outer_numel == 0);
    if (p.outer_numel == 0) return;
    fn(volt_tensor_data(values), indices ? (int64_t *)volt_tensor_data(indices) : NULL,
       volt_tensor_data(a), &p);
}

/* ------------------------------------------------------------ gradients */

#define PROD_BACKWARD(NAME, T)                                                                     \
    static void NAME(T *grad, const T *x, const T *g, const reduce_plan *pa,                       \
                     const reduce_plan *pg) {                                                      \
        _Pragma("omp parallel for if (pa->outer_numel * pa->inner_numel > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads())") for (int64_t o = 0; o < pa->outer_numel;    \
                                                            o++) {                                 \
            int64_t ba = offset_of(o, pa->n_outer, pa->outer_shape, pa->outer_stride);             \
            int64_t bg = offset_of(o, pg->n_outer, pg->outer_shape, pg->outer_stride);             \
            int64_t n = pa->inner_numel;                                                           \
            double run = 1.0, go = (double)g[o];                                                   \
            for (int64_t i = 0; i < n; i++) { /* grad = product of the ones before */              \
                grad[bg + offset_of(i, pg->n_inner, pg->inner_shape, pg->inner_stride)] = (T)run;  \
                run *=                                                                             \
                    (double)x[ba + offset_of(i, pa->n_inner, pa->inner_shape, pa->inner_stride)];  \
            }                                                                                      \
            run = 1.0;                                                                             \
            for (int64_t i = n - 1; i >= 0; i--) { /* times the ones after, times g */             \
                T *dst = grad + bg + offset_of(i, pg->n_inner, pg->inner_shape, pg->inner_stride); \
                *dst = (T)((double)*dst * run * go);                                               \
                run *=                                                                             \
                    (double)x[ba + offset_of(i, pa->n_inner, pa->inner_shape, pa->inner_stride)];  \
            }                                                                                      \
        }                                                                                          \
    }

PROD_BACKWARD(prod_backward_f32, float)
PROD_BACKWARD(prod_backward_f64, double)

void volt_cpu_prod_backward(volt_tensor *grad, const volt_tensor *a,
                            const bool reduce[VOLT_MAX_DIMS], const volt_tensor *g) {
    VOLT_ASSERT(grad->dtype == a->dtype && g->dtype == a->dtype);
    VOLT_ASSERT(volt_tensor_is_contiguous(g));
    reduce_plan pa, pg;
    plan_reduce(&pa, a, reduce, false, true);
    plan_reduce(&pg, grad, reduce, false, true);
    if (a->dtype == VOLT_F64)
        prod_backward_f64(volt_tensor_data(grad), volt_tensor_data(a), volt_tensor_data(g), &pa,
                          &pg);
    else
        prod_backward_f32(volt_tensor_data(grad), volt_tensor_data(a), volt_tensor_data(g), &pa,
                          &pg);
}

void volt_cpu_scatter_dim(volt_tensor *grad, int dim, const volt_tensor *index,
                          const volt_tensor *g) {
    VOLT_ASSERT(volt_tensor_is_contiguous(grad) && volt_tensor_is_contiguous(g) &&
                volt_tensor_is_contiguous(index) && g->dtype == grad->dtype);
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < grad->ndim; d++) {
        if (d < dim) outer *= grad->shape[d];
        if (d == dim) len = grad->shape[d];
        if (d > dim) inner *= grad->shape[d];
    }
    size_t es = volt_dtype_size(grad->dtype);
    char *dst = volt_tensor_data(grad);
    const char *src = volt_tensor_data(g);
    const int64_t *idx = volt_tensor_data(index);
    for (int64_t o1 = 0; o1 < outer; o1++) {
        for (int64_t o2 = 0; o2 < inner; o2++) {
            int64_t o = o1 * inner + o2;
            VOLT_ASSERT(idx[o] >= 0 && idx[o] < len);
            memcpy(dst + (size_t)((o1 * len + idx[o]) * inner + o2) * es, src + (size_t)o * es, es);
        }
    }
}

#define GRAD_LOOP(NAME, T, EXPR)                                                                   \
    static void NAME(char **p, const int64_t *st, int64_t n, void *ctx) {                          \
        (void)ctx;                                                                                 \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const T x = *(const T *)(p[1] + i * st[1]);                                            \
            const T c = *(const T *)(p[2] + i * st[2]);                                            \
            const T s = *(const T *)(p[3] + i * st[3]);                                            \
            (void)x;                                                                               \
            (void)c;                                                                               \
            (void)s;                                                                               \
            *(T *)(p[0] + i * st[0]) = (T)(EXPR);                                                  \
        }                                                                                          \
    }

#define SIGN(x) ((x) > 0 ? 1.0 : (x) < 0 ? -1.0 : 0.0)
#define ABSMAX_HIT(x, c) (fabs((double)(x)) == (double)(c) || (x) != (x))
#define VALUE_HIT(x, c) ((x) == (c) || ((x) != (x) && (c) != (c)))

#define GRAD_LOOPS(T, SUF)                                                                         \
    GRAD_LOOP(g_centered_##SUF, T, s *(x - c))                                                     \
    GRAD_LOOP(g_exp_##SUF, T, (double)s *exp((double)x - (double)c))                               \
    GRAD_LOOP(g_sign_##SUF, T, (double)s *SIGN(x))                                                 \
    GRAD_LOOP(g_scale_##SUF, T, s *x)                                                              \
    GRAD_LOOP(g_absmax_mask_##SUF, T, ABSMAX_HIT(x, c) ? 1.0 : 0.0)                                \
    GRAD_LOOP(g_absmax_sign_##SUF, T, ABSMAX_HIT(x, c) ? (double)s *SIGN(x) : 0.0)                 \
    GRAD_LOOP(g_value_mask_##SUF, T, VALUE_HIT(x, c) ? 1.0 : 0.0)                                  \
    GRAD_LOOP(g_value_select_##SUF, T, VALUE_HIT(x, c) ? (double)s : 0.0)                          \
    GRAD_LOOP(g_div_or_zero_##SUF, T, c == 0 ? 0.0 : (double)s / (double)c)

GRAD_LOOPS(float, f32)
GRAD_LOOPS(double, f64)

void volt_cpu_reduce_grad(volt_reduce_grad_op op, volt_tensor *out, const volt_tensor *x,
                          const volt_tensor *c, const volt_tensor *s) {
    static const volt_loop_fn table[VOLT_RGRAD_COUNT][2] = {
        [VOLT_RGRAD_CENTERED] = {g_centered_f32, g_centered_f64},
        [VOLT_RGRAD_EXP] = {g_exp_f32, g_exp_f64},
        [VOLT_RGRAD_SIGN] = {g_sign_f32, g_sign_f64},
        [VOLT_RGRAD_SCALE] = {g_scale_f32, g_scale_f64},
        [VOLT_RGRAD_ABSMAX_MASK] = {g_absmax_mask_f32, g_absmax_mask_f64},
        [VOLT_RGRAD_ABSMAX_SIGN] = {g_absmax_sign_f32, g_absmax_sign_f64},
        [VOLT_RGRAD_VALUE_MASK] = {g_value_mask_f32, g_value_mask_f64},
        [VOLT_RGRAD_VALUE_SELECT] = {g_value_select_f32, g_value_select_f64},
        [VOLT_RGRAD_DIV_OR_ZERO] = {g_div_or_zero_f32, g_div_or_zero_f64},
    };
    VOLT_ASSERT(out->dtype == VOLT_F32 || out->dtype == VOLT_F64);
    VOLT_ASSERT(x->dtype == out->dtype && c->dtype == out->dtype && s->dtype == out->dtype);
    const volt_tensor *ops[4] = {out, x, c, s};
    volt_elementwise_loop(4, ops, table[op][out->dtype == VOLT_F64], NULL);
}
