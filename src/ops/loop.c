/* loop.c: the strided elementwise loop every elementwise kernel runs on:
 * broadcast strides, coalesced dims, an inner loop per row, and OpenMP
 * splitting of loops large enough to pay for it (ops/cpu/parallel.h). */
#include <omp.h>
#include <string.h>

#include "ops/cpu/parallel.h"
#include "ops/ops_impl.h"

#define MAX_OPERANDS 4

typedef struct {
    int n_operands;
    int ndim;                                     /* after coalescing, >= 1 */
    int64_t shape[VOLT_MAX_DIMS];                 /* innermost last */
    int64_t strides[MAX_OPERANDS][VOLT_MAX_DIMS]; /* bytes */
    char *base[MAX_OPERANDS];
} loop_plan;

static void plan_loop(loop_plan *p, int n_operands, const volt_tensor *const *ops) {
    const volt_tensor *out = ops[0];
    int ndim = out->ndim;
    int64_t el_strides[MAX_OPERANDS][VOLT_MAX_DIMS];
    for (int k = 0; k < n_operands; k++) {
        volt_broadcast_strides(ops[k], ndim, out->shape, el_strides[k]);
        p->base[k] = volt_tensor_data(ops[k]);
    }
    /* Coalesce: merge dim d into d+1 (inner) when every operand's geometry
     * lets the two act as one; drop size-1 dims. */
    int n = 0;
    int64_t shape[VOLT_MAX_DIMS];
    int64_t strides[MAX_OPERANDS][VOLT_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        if (out->shape[d] == 1) continue;
        if (n > 0) {
            bool merge = true;
            for (int k = 0; k < n_operands && merge; k++)
                merge = strides[k][n - 1] == el_strides[k][d] * out->shape[d];
            if (merge) {
                shape[n - 1] *= out->shape[d];
                for (int k = 0; k < n_operands; k++) strides[k][n - 1] = el_strides[k][d];
                continue;
            }
        }
        shape[n] = out->shape[d];
        for (int k = 0; k < n_operands; k++) strides[k][n] = el_strides[k][d];
        n++;
    }
    if (n == 0) {
        shape[0] = 1;
        for (int k = 0; k < n_operands; k++) strides[k][0] = 0;
        n = 1;
    }
    p->n_operands = n_operands;
    p->ndim = n;
    memcpy(p->shape, shape, sizeof shape);
    for (int k = 0; k < n_operands; k++) {
        int64_t es = (int64_t)volt_dtype_size(ops[k]->dtype);
        for (int d = 0; d < n; d++) p->strides[k][d] = strides[k][d] * es;
    }
}

/* Runs rows [row_begin, row_end) of the plan; a row is the innermost dim. */
static void run_rows(const loop_plan *p, int64_t row_begin, int64_t row_end, volt_loop_fn fn,
                     void *ctx) {
    int inner = p->ndim - 1;
    int64_t inner_strides[MAX_OPERANDS];
    for (int k = 0; k < p->n_operands; k++) inner_strides[k] = p->strides[k][inner];
    for (int64_t row = row_begin; row < row_end; row++) {
        char *ptrs[MAX_OPERANDS];
        int64_t rem = row;
        for (int k = 0; k < p->n_operands; k++) ptrs[k] = p->base[k];
        for (int d = inner - 1; d >= 0; d--) {
            int64_t i = rem % p->shape[d];
            rem /= p->shape[d];
            for (int k = 0; k < p->n_operands; k++) ptrs[k] += i * p->strides[k][d];
        }
        fn(ptrs, inner_strides, p->shape[inner], ctx);
    }
}

void volt_elementwise_loop(int n_operands, const volt_tensor *const *operands, volt_loop_fn fn,
                           void *ctx) {
    VOLT_ASSERT(n_operands >= 1 && n_operands <= MAX_OPERANDS);
    int64_t numel = volt_tensor_numel(operands[0]);
    if (numel == 0) return;
    loop_plan p;
    plan_loop(&p, n_operands, operands);
    int64_t row_len = p.shape[p.ndim - 1];
    int64_t rows = numel / row_len;
    size_t element_bytes = 0; /* read and written per element */
    for (int k = 0; k < n_operands; k++) element_bytes += volt_dtype_size(operands[k]->dtype);
    int64_t chunks = volt_cpu_threads_for_bytes((double)numel * (double)element_bytes);
    if (chunks < 2) {
        run_rows(&p, 0, rows, fn, ctx);
        return;
    }
    if (rows == 1) {
        /* One long row: split it into chunks. */
        int64_t inner_strides[MAX_OPERANDS];
        for (int k = 0; k < p.n_operands; k++) inner_strides[k] = p.strides[k][0];
#pragma omp parallel for num_threads((int)chunks) schedule(static)
        for (int64_t c = 0; c < chunks; c++) {
            int64_t begin = row_len * c / chunks, end = row_len * (c + 1) / chunks;
            char *ptrs[MAX_OPERANDS];
            for (int k = 0; k < p.n_operands; k++) ptrs[k] = p.base[k] + begin * inner_strides[k];
            fn(ptrs, inner_strides, end - begin, ctx);
        }
        return;
    }
    if (chunks > rows) chunks = rows;
#pragma omp parallel for num_threads((int)chunks) schedule(static)
    for (int64_t c = 0; c < chunks; c++)
        run_rows(&p, rows * c / chunks, rows * (c + 1) / chunks, fn, ctx);
}
