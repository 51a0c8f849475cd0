/* matmul.c: CPU matrix products. Each matrix goes to cblas_sgemm/dgemm as
 * it is laid out (row-major, or column-major as CblasTrans); batch dims are a
 * loop over gemm calls with strided pointers (stride 0 for a broadcast
 * operand). A batched product whose right operand is shared by every batch
 * and whose left batches stack into one matrix is a single gemm. */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "ops/cpu/matmul.h"

bool volt_cpu_gemm_operand(const volt_tensor *t, bool *trans, int64_t *ld) {
    int nd = t->ndim;
    int64_t r = t->shape[nd - 2], c = t->shape[nd - 1];
    int64_t s0 = t->strides[nd - 2], s1 = t->strides[nd - 1];
    if (c <= 1) s1 = 1; /* the stride of a size-1 dim is never used */
    if (r <= 1) s0 = c > 1 ? c : 1;
    if (s1 == 1 && s0 >= (c > 1 ? c : 1) && s0 <= INT_MAX) {
        *trans = false;
        *ld = s0;
        return true;
    }
    if (s0 == 1 && s1 >= (r > 1 ? r : 1) && s1 <= INT_MAX) {
        *trans = true;
        *ld = s1;
        return true;
    }
    return false;
}

typedef struct {
    bool f64;
    bool ta, tb;
    int64_t n, m, k, lda, ldb;
    double alpha, beta;
} gemm_args;

static void gemm(const gemm_args *g, int64_t rows, const char *a, const char *b, char *c) {
    enum CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = g->tb ? CblasTrans : CblasNoTrans;
    if (g->f64)
        cblas_dgemm(CblasRowMajor, ta, tb, (blasint)rows, (blasint)g->m, (blasint)g->k, g->alpha,
                    (const double *)a, (blasint)g->lda, (const double *)b, (blasint)g->ldb, g->beta,
                    (double *)c, (blasint)g->m);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)rows, (blasint)g->m, (blasint)g->k,
                    (float)g->alpha, (const float *)a, (blasint)g->lda, (const float *)b,
                    (blasint)g->ldb, (float)g->beta, (float *)c, (blasint)g->m);
}

/* Element strides of t's batch dims seen broadcast to out's nb batch dims. */
static void batch_strides(const volt_tensor *t, int nb, int64_t *strides) {
    for (int i = 0; i < nb; i++) {
        int it = t->ndim - 2 - nb + i;
        strides[i] = (it >= 0 && t->shape[it] != 1) ? t->strides[it] : 0;
    }
}

/* out = beta * out when there is nothing to multiply (k == 0). */
static void scale_out(volt_tensor *out, double beta) {
    int64_t n = volt_tensor_numel(out);
    if (out->dtype == VOLT_F64) {
        double *p = volt_tensor_data(out);
        for (int64_t i = 0; i < n; i++) p[i] = beta == 0 ? 0.0 : beta * p[i];
    } else {
        float *p = volt_tensor_data(out);
        for (int64_t i = 0; i < n; i++) p[i] = beta == 0 ? 0.0f : (float)beta * p[i];
    }
}

/* Whether the batches of a (row-major) stack into one [batch * n, k] matrix
 * of leading dimension lda. */
static bool stacks(const int64_t *shape, const int64_t *a_strides, int nb, int64_t n, int64_t lda,
                   int64_t batch) {
    if (batch * n > INT_MAX) return false;
    int64_t expected = n * lda;
    for (int i = nb - 1; i >= 0; i--) {
        if (shape[i] == 1) continue;
        if (a_strides[i] != expected) return false;
        expected *= shape[i];
    }
    return true;
}

/* Products below this many multiply-adds run one batch per thread (BLAS
 * then stays single-threaded inside the parallel region). */
#define SMALL_GEMM (64 * 64 * 64)

void volt_cpu_matmul(volt_tensor *out, const volt_tensor *a, const volt_tensor *b, double alpha,
                     double beta) {
    VOLT_ASSERT(out->dtype == VOLT_F32 || out->dtype == VOLT_F64);
    VOLT_ASSERT(a->dtype == out->dtype && b->dtype == out->dtype);
    VOLT_ASSERT(volt_tensor_is_contiguous(out) && out->ndim >= 2);
    int nb = out->ndim - 2;
    gemm_args g = {.f64 = out->dtype == VOLT_F64, .alpha = alpha, .beta = beta};
    g.n = out->shape[nb];
    g.m = out->shape[nb + 1];
    g.k = a->shape[a->ndim - 1];
    int64_t batch = volt_shape_numel(nb, out->shape);
    if (batch == 0 || g.n == 0 || g.m == 0) return;
    if (g.k == 0) {
        scale_out(out, beta);
        return;
    }
    VOLT_ASSERT(volt_cpu_gemm_operand(a, &g.ta, &g.lda) && volt_cpu_gemm_operand(b, &g.tb, &g.ldb));
    int64_t as[VOLT_MAX_DIMS], bs[VOLT_MAX_DIMS];
    batch_strides(a, nb, as);
    batch_strides(b, nb, bs);
    size_t es = volt_dtype_size(out->dtype);
    const char *pa = volt_tensor_data(a), *pb = volt_tensor_data(b);
    char *pc = volt_tensor_data(out);
    bool b_shared = true;
    for (int i = 0; i < nb; i++) b_shared = b_shared && bs[i] == 0;
    if (batch == 1 || (b_shared && !g.ta && stacks(out->shape, as, nb, g.n, g.lda, batch))) {
        gemm(&g, batch * g.n, pa, pb, pc);
        return;
    }
    bool small = g.n * g.m * g.k < SMALL_GEMM;
#pragma omp parallel for if (small && batch * g.n * g.m * g.k > VOLT_PARALLEL_GRAIN)               \
    num_threads(volt_get_num_threads()) schedule(static)
    for (int64_t i = 0; i < batch; i++) {
        int64_t oa = 0, ob = 0, rem = i;
        for (int d = nb - 1; d >= 0; d--) {
            int64_t j = rem % out->shape[d];
            rem /= out->shape[d];
            oa += j * as[d];
            ob += j * bs[d];
        }
        gemm(&g, g.n, pa + (size_t)oa * es, pb + (size_t)ob * es,
             pc + (size_t)(i * g.n * g.m) * es);
    }
}
