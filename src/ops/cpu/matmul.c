/* matmul.c: CPU matrix products. Each matrix goes to cblas_sgemm/dgemm as
 * it is laid out (row-major, or column-major as CblasTrans); batch dims are a
 * loop over gemm calls with strided pointers (stride 0 for a broadcast
 * operand). A batched product whose right operand is shared by every batch
 * and whose left batches stack into one matrix is a single gemm. A single
 * f32 gemm whose inner dimension is not tiny goes to oneDNN's matmul
 * primitive instead (created once per shape, layout, alpha, beta and thread
 * count, kept in the oneDNN glue's cache): at the shapes of a small MLP's
 * layers (batch 128, 256..784 features) it runs 10-30% faster than OpenBLAS
 * on one and on two threads; OpenBLAS keeps k < 32, where it is faster
 * (bench/ops/mlp_gemm.c measures both). oneDNN gets as many threads as the
 * product's flops pay for (ops/cpu/parallel.h): a [128, 256] x [256, 10]
 * product runs on one; when the threads sleep between regions, a product
 * worth several is split here into one part per thread, the calling
 * thread's larger (see split). OpenBLAS gets the cost model's threads too.
 * Two independent products (a linear layer's input and weight gradients)
 * can share one region: volt_cpu_matmul_pair. */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/matmul.h"
#include "ops/cpu/parallel.h"

/* ------------------------------------------------------- backend choice */

static int backend = -1; /* -1: not read from the environment yet */

static int backend_from_env(void) {
    const char *s = getenv("VOLT_MATMUL_BACKEND");
    if (s && strcmp(s, "openblas") == 0) return VOLT_GEMM_OPENBLAS;
    if (s && strcmp(s, "onednn") == 0) return VOLT_GEMM_ONEDNN;
    return VOLT_GEMM_AUTO;
}

volt_gemm_backend volt_cpu_matmul_backend(void) {
    int b = __atomic_load_n(&backend, __ATOMIC_RELAXED);
    if (b < 0) {
        b = backend_from_env();
        __atomic_store_n(&backend, b, __ATOMIC_RELAXED);
    }
    return (volt_gemm_backend)b;
}

void volt_cpu_matmul_set_backend(volt_gemm_backend b) {
    __atomic_store_n(&backend, (int)b, __ATOMIC_RELAXED);
}

/* Inner dimensions below this stay on OpenBLAS under VOLT_GEMM_AUTO. */
#define ONEDNN_MIN_K 32

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

/* One BLAS call. OpenBLAS's OpenMP build runs on omp_get_max_threads()
 * threads (one inside a parallel region) once the product passes its own
 * size threshold (about 2^18 multiply-adds), far below what pays for a
 * region under the passive wait policy: a [128, 10] x [10, 256] product
 * took 73 us on two threads, 40 of them waking the second. The team is cut
 * to what the cost model gives (ops/cpu/parallel.h) for the call. */
static void gemm(const gemm_args *g, int64_t rows, const char *a, const char *b, char *c) {
    double flops = 2.0 * (double)rows * (double)g->m * (double)g->k;
    int team = volt_dnnl_limit_threads(volt_cpu_threads_for_flops(g->f64 ? 2.0 * flops : flops));
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
    volt_dnnl_restore_threads(team);
}

/* ------------------------------------------------------ oneDNN matmul */

enum { KIND_MATMUL_F32 = 22 }; /* the cache key's family (dnnl_matmul.c has 21) */

typedef struct {
    dnnl_memory_desc_t a, b, c, bias;
    float alpha, beta;
    bool with_bias;
} onednn_ctx;

static dnnl_status_t make_matmul(dnnl_primitive_desc_t *pd, dnnl_engine_t engine, void *ctx) {
    onednn_ctx *c = ctx;
    dnnl_matmul_desc_t d;
    dnnl_status_t st =
        dnnl_matmul_desc_init(&d, &c->a, &c->b, c->with_bias ? &c->bias : NULL, &c->c);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    if (st == dnnl_success) st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success && c->alpha != 1.0f)
        st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &c->alpha);
    if (st == dnnl_success && c->beta != 0.0f) {
        st = dnnl_post_ops_create(&ops);
        if (st == dnnl_success) st = dnnl_post_ops_append_sum(ops, c->beta);
        if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, ops);
    }
    if (st == dnnl_success) st = dnnl_primitive_desc_create(pd, &d, attr, engine, NULL);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

/* The f32 descriptor of a rows x cols matrix, transposed (column-major) or
 * not, with leading dimension ld. */
static bool matrix_md(dnnl_memory_desc_t *md, int64_t rows, int64_t cols, bool trans, int64_t ld) {
    dnnl_dims_t dims = {rows, cols}, strides = {trans ? 1 : ld, trans ? ld : 1};
    return VOLT_DNNL_CHECK(dnnl_memory_desc_init_by_strides(md, 2, dims, dnnl_f32, strides));
}

/* One part of a split product: rows [r0, r0 + n) and columns [c0, c0 +
 * cols) of c. */
typedef struct {
    int64_t r0, n, c0, cols;
} gemm_part;

/* Parts a product splits into on more threads than one, at most. */
#define MAX_PARTS 8
/* Columns per unit of a column split (one AVX-512 vector of f32). */
#define COLUMN_UNIT 16
/* The least extra share of the work worth a split of our own: below it
 * (threads that spin and wake in a microsecond) oneDNN's own threading is
 * faster (an even split of ours cost the MLP's products 8% there). */
#define MIN_LEAD_GAIN 0.02

/* Splits c [rows, m] into one part per thread of team, thread 0 taking
 * about `lead` of the work: columns in units of COLUMN_UNIT where there are
 * enough of them, else rows. 0 when there are fewer units than threads. */
static int split_lead(int64_t rows, int64_t m, double lead, int team, gemm_part *parts) {
    bool by_cols = m >= 2 * COLUMN_UNIT * team;
    int64_t unit = by_cols ? COLUMN_UNIT : 1, size = by_cols ? m : rows;
    if (team > MAX_PARTS || team < 2 || (size + unit - 1) / unit < team) return 0;
    for (int i = 0; i < team; i++) {
        int64_t lo, hi;
        volt_cpu_share(size, unit, lead, team, i, &lo, &hi);
        parts[i] = by_cols ? (gemm_part){0, rows, lo, hi - lo} : (gemm_part){lo, hi - lo, 0, m};
    }
    return team;
}

/* Whether a split of work taking serial_ns on one thread pays on team
 * threads, and thread 0's share *lead. oneDNN's own split is even, so the
 * calling thread, which starts at once while the others wake, would finish
 * first and then wait for them and to be woken itself: a split of ours
 * gives it the larger share volt_cpu_lead_share gives (ops/cpu/parallel.h),
 * when that is at least MIN_LEAD_GAIN more than an even share. */
static bool lead_pays(double serial_ns, int team, double *lead) {
    *lead = volt_cpu_lead_share(serial_ns, team);
    return team >= 2 && *lead - 1.0 / team >= MIN_LEAD_GAIN;
}

/* Splits c [rows, m], whose product takes serial_ns on one thread, into one
 * part per thread of team (at most MAX_PARTS; 1: the whole, which oneDNN
 * parallelises itself) where lead_pays. */
static int split(int64_t rows, int64_t m, double serial_ns, int team, gemm_part *parts) {
    double lead;
    int n = lead_pays(serial_ns, team, &lead) ? split_lead(rows, m, lead, team, parts) : 0;
    if (n == 0) parts[0] = (gemm_part){0, rows, 0, m};
    return n ? n : 1;
}

/* The descriptors and cache key of part `index` (0 and the whole product:
 * the plain key) of c [rows, m] = alpha a @ b (+ bias) + beta c. */
static bool part_ctx(const gemm_args *g, const gemm_part *pt, bool bias, int index, onednn_ctx *ctx,
                     volt_dnnl_key *key) {
    *ctx = (onednn_ctx){.alpha = (float)g->alpha, .beta = (float)g->beta, .with_bias = bias};
    if (!matrix_md(&ctx->a, pt->n, g->k, g->ta, g->lda) ||
        !matrix_md(&ctx->b, g->k, pt->cols, g->tb, g->ldb) ||
        !matrix_md(&ctx->c, pt->n, pt->cols, false, g->m) ||
        (bias && !matrix_md(&ctx->bias, 1, pt->cols, false, pt->cols)))
        return false;
    memset(key, 0, sizeof *key);
    key->kind = KIND_MATMUL_F32;
    int64_t *p = key->p;
    p[0] = pt->n, p[1] = pt->cols, p[2] = g->k, p[3] = g->ta, p[4] = g->tb, p[5] = g->lda;
    p[6] = g->ldb;
    memcpy(&p[7], &ctx->alpha, sizeof ctx->alpha);
    memcpy(&p[8], &ctx->beta, sizeof ctx->beta);
    p[9] = bias;
    p[10] = index ? g->m : 0; /* c's row length, which a part's width is not */
    p[11] = index;            /* parts are distinct primitives (execute_parts) */
    return true;
}

static const int part_args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};

/* The oneDNN executions of parts pt[0..n) of c [rows, m] = alpha a @ b (+
 * bias) + beta c into run[0..n), their descriptors and pointers in ctx,
 * mds and data (which run points into); a split's parts get cache indices
 * from index0 + 1 on (distinct primitives), a whole product (index0 < 0)
 * the plain key. false as onednn_sgemm. Lock held. */
static bool prepare_parts(const gemm_args *g, const gemm_part *pt, int n, int index0,
                          const float *a, const float *b, const float *bias, float *c,
                          onednn_ctx *ctx, const dnnl_memory_desc_t *(*mds)[4], void *(*data)[4],
                          volt_dnnl_part *run, bool *unsupported) {
    for (int i = 0; i < n; i++) {
        volt_dnnl_key key;
        if (!part_ctx(g, &pt[i], bias != NULL, index0 < 0 ? 0 : index0 + i + 1, &ctx[i], &key))
            return false;
        const volt_dnnl_prim *prim = volt_dnnl_cache_get(&key, make_matmul, &ctx[i], unsupported);
        if (!prim) return false;
        int64_t a_at = g->ta ? pt[i].r0 : pt[i].r0 * g->lda;
        int64_t b_at = g->tb ? pt[i].c0 * g->ldb : pt[i].c0;
        mds[i][0] = &ctx[i].a, mds[i][1] = &ctx[i].b, mds[i][2] = &ctx[i].c;
        mds[i][3] = &ctx[i].bias;
        data[i][0] = (void *)(a + a_at), data[i][1] = (void *)(b + b_at);
        data[i][2] = c + pt[i].r0 * g->m + pt[i].c0;
        data[i][3] = bias ? (void *)(bias + pt[i].c0) : NULL;
        run[i] = (volt_dnnl_part){prim, bias ? 4 : 3, part_args, mds[i], data[i]};
    }
    return true;
}

/* c [rows, m] = alpha a @ b (+ bias, m values added to every row, when not
 * NULL) + beta c through cached oneDNN matmuls: one on as many threads as
 * the product pays for, or one per thread on the parts of split. false
 * with no error when oneDNN has no implementation (the caller uses BLAS),
 * false with an error on a failure. */
static bool onednn_sgemm(const gemm_args *g, int64_t rows, const float *a, const float *b,
                         const float *bias, float *c, bool *unsupported) {
    *unsupported = false;
    double flops = 2.0 * (double)rows * (double)g->m * (double)g->k;
    if (!volt_dnnl_lock()) return false;
    int threads = volt_cpu_threads_for_flops(flops);
    gemm_part pt[MAX_PARTS];
    int n_parts = split(rows, g->m, flops / VOLT_CPU_FLOPS_PER_NS, threads, pt);
    /* A part's primitive is made for the one thread it runs on (its region
     * names its own team size). */
    int team = volt_dnnl_limit_threads(n_parts > 1 ? 1 : threads);
    onednn_ctx ctx[MAX_PARTS];
    volt_dnnl_part run[MAX_PARTS];
    const dnnl_memory_desc_t *mds[MAX_PARTS][4];
    void *data[MAX_PARTS][4];
    bool ok = prepare_parts(g, pt, n_parts, n_parts > 1 ? 0 : -1, a, b, bias, c, ctx, mds, data,
                            run, unsupported);
    if (ok && n_parts == 1)
        ok = volt_dnnl_execute(run[0].p, run[0].n, part_args, mds[0], data[0]);
    else if (ok)
        ok = volt_dnnl_execute_parts(run, n_parts, n_parts);
    volt_dnnl_restore_threads(team);
    volt_dnnl_unlock();
    return ok;
}

/* Whether a single gemm of `rows` rows goes to oneDNN. */
static bool use_onednn(const gemm_args *g, int64_t rows) {
    if (g->f64 || rows == 0) return false;
    volt_gemm_backend b = volt_cpu_matmul_backend();
    if (b == VOLT_GEMM_OPENBLAS) return false;
    return b == VOLT_GEMM_ONEDNN || g->k >= ONEDNN_MIN_K;
}

/* Both products of a pair (see volt_cpu_matmul_pair) through oneDNN in one
 * region: each split into one part per thread with the same share for
 * thread 0 (the pair's lead share), which runs part 0 of each. Where a
 * split of volt's pays (lead_pays) for the pair's work or for each product
 * alone (two large products: the pair's larger share can be under
 * MIN_LEAD_GAIN while each alone would take its own region); not with
 * spinning threads, where oneDNN's threading does better. false with no
 * error when they do not qualify (or a product oneDNN does not take, or
 * that cannot be split so); false with an error on a failure. */
static bool onednn_pair(const gemm_args *g, const float *const *a, const float *const *b,
                        float *const *c, bool *unsupported) {
    *unsupported = false;
    double ns[2], own;
    bool alone_split = true;
    for (int p = 0; p < 2; p++) {
        if (!use_onednn(&g[p], g[p].n)) return false;
        ns[p] = 2.0 * (double)g[p].n * (double)g[p].m * (double)g[p].k / VOLT_CPU_FLOPS_PER_NS;
        alone_split = alone_split && lead_pays(ns[p], volt_cpu_threads_for_ns(ns[p]), &own);
    }
    int threads = volt_cpu_threads_for_ns(ns[0] + ns[1]);
    double lead;
    if (!(lead_pays(ns[0] + ns[1], threads, &lead) || (threads >= 2 && alone_split)) ||
        !volt_dnnl_lock())
        return false;
    gemm_part pt[2][MAX_PARTS];
    bool ok = split_lead(g[0].n, g[0].m, lead, threads, pt[0]) == threads &&
              split_lead(g[1].n, g[1].m, lead, threads, pt[1]) == threads;
    if (!ok) {
        volt_dnnl_unlock();
        return false;
    }
    int team = volt_dnnl_limit_threads(1);
    onednn_ctx ctx[2 * MAX_PARTS];
    volt_dnnl_part run[2 * MAX_PARTS];
    const dnnl_memory_desc_t *mds[2 * MAX_PARTS][4];
    void *data[2 * MAX_PARTS][4];
    for (int p = 0; p < 2 && ok; p++) {
        int at = p * threads;
        ok = prepare_parts(&g[p], pt[p], threads, at, a[p], b[p], NULL, c[p], ctx + at, mds + at,
                           data + at, run + at, unsupported);
    }
    if (ok) ok = volt_dnnl_execute_parts(run, 2 * threads, threads);
    volt_dnnl_restore_threads(team);
    volt_dnnl_unlock();
    return ok;
}

/* One gemm of `rows` rows through the chosen backend; OpenBLAS when oneDNN
 * has no implementation or fails (its error is dropped: BLAS does the work).
 * bias (f32 only, may be NULL): m values added to every row of c, which BLAS
 * does as rows of c filled with them and beta 1 (g->beta is then 0). */
static void single_gemm(const gemm_args *g, int64_t rows, const char *a, const char *b,
                        const float *bias, char *c) {
    /* oneDNN scales the bias with the product: alpha != 1 takes BLAS. */
    if (use_onednn(g, rows) && (!bias || g->alpha == 1.0)) {
        bool unsupported, had_error = volt_error_status() != VOLT_OK;
        if (onednn_sgemm(g, rows, (const float *)a, (const float *)b, bias, (float *)c,
                         &unsupported))
            return;
        if (!had_error) volt_error_clear();
    }
    if (!bias) {
        gemm(g, rows, a, b, c);
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        memcpy((float *)c + r * g->m, bias, (size_t)g->m * sizeof(float));
    gemm_args g1 = *g;
    g1.beta = 1.0;
    gemm(&g1, rows, a, b, c);
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
        single_gemm(&g, batch * g.n, pa, pb, NULL, pc);
        return;
    }
    int threads = g.n * g.m * g.k < SMALL_GEMM
                      ? volt_cpu_threads_for_flops(2.0 * (double)(batch * g.n * g.m * g.k))
                      : 1;
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
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

void volt_cpu_matmul_bias(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                          const volt_tensor *bias, double alpha) {
    VOLT_ASSERT(out->dtype == VOLT_F32 && a->dtype == VOLT_F32 && b->dtype == VOLT_F32);
    VOLT_ASSERT(bias->dtype == VOLT_F32 && volt_tensor_is_contiguous(bias));
    VOLT_ASSERT(volt_tensor_is_contiguous(out) && out->ndim == 2 && a->ndim == 2 && b->ndim == 2);
    gemm_args g = {.f64 = false, .alpha = alpha, .beta = 0.0};
    g.n = out->shape[0];
    g.m = out->shape[1];
    g.k = a->shape[1];
    VOLT_ASSERT(volt_tensor_numel(bias) == g.m);
    if (g.n == 0 || g.m == 0) return;
    const float *pbias = volt_tensor_data(bias);
    float *pc = volt_tensor_data(out);
    if (g.k == 0) {
        for (int64_t r = 0; r < g.n; r++) memcpy(pc + r * g.m, pbias, (size_t)g.m * sizeof(float));
        return;
    }
    VOLT_ASSERT(volt_cpu_gemm_operand(a, &g.ta, &g.lda) && volt_cpu_gemm_operand(b, &g.tb, &g.ldb));
    single_gemm(&g, g.n, volt_tensor_data(a), volt_tensor_data(b), pbias, (char *)pc);
}

void volt_cpu_matmul_pair(volt_tensor *out0, const volt_tensor *a0, const volt_tensor *b0,
                          volt_tensor *out1, const volt_tensor *a1, const volt_tensor *b1,
                          double alpha) {
    volt_tensor *out[2] = {out0, out1};
    const volt_tensor *a[2] = {a0, a1}, *b[2] = {b0, b1};
    gemm_args g[2];
    const float *pa[2], *pb[2];
    float *pc[2];
    bool paired = true;
    for (int p = 0; p < 2; p++) {
        VOLT_ASSERT(out[p]->dtype == VOLT_F32 && a[p]->dtype == VOLT_F32 &&
                    b[p]->dtype == VOLT_F32);
        VOLT_ASSERT(volt_tensor_is_contiguous(out[p]) && out[p]->ndim == 2 && a[p]->ndim == 2 &&
                    b[p]->ndim == 2);
        g[p] = (gemm_args){.f64 = false, .alpha = alpha, .beta = 0.0};
        g[p].n = out[p]->shape[0];
        g[p].m = out[p]->shape[1];
        g[p].k = a[p]->shape[1];
        VOLT_ASSERT(volt_cpu_gemm_operand(a[p], &g[p].ta, &g[p].lda) &&
                    volt_cpu_gemm_operand(b[p], &g[p].tb, &g[p].ldb));
        paired = paired && g[p].n > 0 && g[p].m > 0 && g[p].k > 0;
        pa[p] = volt_tensor_data(a[p]), pb[p] = volt_tensor_data(b[p]);
        pc[p] = volt_tensor_data(out[p]);
    }
    bool unsupported, had_error = volt_error_status() != VOLT_OK;
    if (paired && onednn_pair(g, pa, pb, pc, &unsupported)) return;
    if (!had_error) volt_error_clear(); /* each product alone (BLAS where oneDNN failed) */
    volt_cpu_matmul(out0, a0, b0, alpha, 0.0);
    volt_cpu_matmul(out1, a1, b1, alpha, 0.0);
}
