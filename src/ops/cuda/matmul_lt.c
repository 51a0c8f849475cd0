/* matmul_lt.c: matrix products on CUDA through cuBLASLt (cuda_gemm.h's
 * volt_cuda_gemm, cuda_ops.h's volt_cuda_matmul) — f32 with f32 arithmetic
 * (no TF32, like PyTorch's default), f64, bf16 and f16 with f32
 * accumulation (also into an f32 result, for autocast); row-major operands
 * and transposed views read in place; batches as strided-batched calls;
 * bias and bias-gradient epilogues. One cuBLASLt handle and a 32 MiB
 * workspace (from the caching allocator) per device, made at first use; the
 * descriptors and the heuristic's algorithm of each distinct call are kept
 * in a cache, so a training step's products make no heuristic query.
 * cuBLASLt is column-major: row-major C = A @ B is computed as the
 * column-major C^T = B^T @ A^T, which is the same memory. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cublaslt_lib.h"
#include "ops/cuda/cuda_gemm.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/gemm_kernels.h"

#define WORKSPACE_BYTES ((size_t)32 << 20)
#define CACHE_SLOTS 512 /* a power of two */
#define CACHE_PROBE 8

typedef struct {
    cublasLtHandle_t handle;
    void *workspace, *workspace_block;
    bool ready;
} lt_device;

/* Everything that decides a call's descriptors and algorithm. */
typedef struct {
    int32_t device, type_ab, type_cd, compute, epilogue, op_a, op_b, batch;
    uint64_t a_rows, a_cols, b_rows, b_cols, m, n;
    int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
    uint32_t align_a, align_b, align_c, align_bias;
} lt_key;

typedef struct {
    lt_key key;
    bool used, supported;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} lt_entry;

/* The lock guards the devices, the cache and each cached descriptor from
 * its lookup to the end of the call that uses it (the bias pointer is set
 * on the shared descriptor just before the call). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static lt_device *devices;
static int n_devices;
static lt_entry cache[CACHE_SLOTS];
/* cuBLASLt's functions; set by lt_device_of before any other call here. */
static const volt_cublaslt_api *lt;

/* The handle and workspace of cuda:device (the current device), made at
 * first use; NULL with an error. Called with the lock held. */
static lt_device *lt_device_of(int device) {
    if (!devices) {
        int n = volt_cuda_device_count();
        devices = calloc((size_t)(n > 0 ? n : 1), sizeof *devices);
        n_devices = devices ? n : 0;
    }
    lt_device *d = device >= 0 && device < n_devices ? &devices[device] : NULL;
    if (!d) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "matmul: cuda:%d: no cuBLASLt state", device);
    if (d && !lt && !(lt = volt_cublaslt())) d = NULL;
    if (d && !d->ready) {
        if (VOLT_CUBLAS_CHECK(lt->Create(&d->handle), "creating the cuBLASLt handle")) {
            d = NULL;
        } else if (!(d->workspace =
                         volt_cuda_alloc(device, WORKSPACE_BYTES, &d->workspace_block))) {
            lt->Destroy(d->handle);
            d = NULL;
        } else {
            d->ready = true;
        }
    }
    return d;
}

/* ------------------------------------------------------------ operands */

/* How cuBLASLt reads a row-major matrix t [r, c] as its transpose [c, r]:
 * row-major storage (strides (ld, 1)) is the column-major [c, r] with
 * leading dimension ld, taken as is (N); a transposed view (strides (1, ld))
 * is a column-major [r, c], taken transposed (T). */
typedef struct {
    cublasOperation_t op;
    uint64_t rows, cols; /* of the stored column-major matrix */
    int64_t ld;
} lt_operand;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* t's last two dims as an operand; false when cuBLASLt cannot read them. */
static bool lt_operand_of(const volt_tensor *t, lt_operand *o) {
    int nd = t->ndim;
    int64_t r = t->shape[nd - 2], c = t->shape[nd - 1];
    int64_t s0 = t->strides[nd - 2], s1 = t->strides[nd - 1];
    if ((s1 == 1 || c == 1) && (r == 1 || s0 >= max64(c, 1))) {
        *o = (lt_operand){CUBLAS_OP_N, (uint64_t)c, (uint64_t)r, r == 1 ? max64(c, 1) : s0};
        return true;
    }
    if ((s0 == 1 || r == 1) && (c == 1 || s1 >= max64(r, 1))) {
        *o = (lt_operand){CUBLAS_OP_T, (uint64_t)r, (uint64_t)c, c == 1 ? max64(r, 1) : s1};
        return true;
    }
    return false;
}

bool volt_cuda_gemm_readable(const volt_tensor *t) {
    lt_operand o;
    return t->ndim >= 2 && lt_operand_of(t, &o);
}

/* The largest power of two dividing p's address, at most 256. */
static uint32_t alignment_of(const void *p) {
    uint32_t a = 256;
    while (a > 1 && (uintptr_t)p % a) a /= 2;
    return a;
}

static cudaDataType_t lt_type(volt_dtype d) {
    return d == VOLT_BF16  ? CUDA_R_16BF
           : d == VOLT_F16 ? CUDA_R_16F
           : d == VOLT_F64 ? CUDA_R_64F
                           : CUDA_R_32F;
}

/* --------------------------------------------------------------- cache */

static uint32_t key_hash(const lt_key *k) {
    const unsigned char *p = (const unsigned char *)k;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static void entry_clear(lt_entry *e) {
    if (e->lc) lt->MatrixLayoutDestroy(e->lc);
    if (e->lb) lt->MatrixLayoutDestroy(e->lb);
    if (e->la) lt->MatrixLayoutDestroy(e->la);
    if (e->desc) lt->MatmulDescDestroy(e->desc);
    memset(e, 0, sizeof *e);
}

static volt_status set_desc(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr,
                            const void *value, size_t size) {
    return VOLT_CUBLAS_CHECK(lt->MatmulDescSetAttribute(d, attr, value, size), NULL);
}

/* A layout of rows x cols (ld), with its batch count and stride. */
static volt_status make_layout(cublasLtMatrixLayout_t *l, int32_t type, uint64_t rows,
                               uint64_t cols, int64_t ld, int32_t batch, int64_t stride) {
    if (VOLT_CUBLAS_CHECK(lt->MatrixLayoutCreate(l, (cudaDataType_t)type, rows, cols, ld), NULL))
        return volt_error_status();
    if (batch == 1) return VOLT_OK;
    if (VOLT_CUBLAS_CHECK(lt->MatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &batch, sizeof batch),
                          NULL) ||
        VOLT_CUBLAS_CHECK(lt->MatrixLayoutSetAttribute(*l,
                                                       CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                       &stride, sizeof stride),
                          NULL))
        return volt_error_status();
    return VOLT_OK;
}

/* The descriptors of key into e. */
static volt_status entry_describe(lt_entry *e, const lt_key *k) {
    cublasOperation_t ta = (cublasOperation_t)k->op_a, tb = (cublasOperation_t)k->op_b;
    cudaDataType_t scale = k->compute == CUBLAS_COMPUTE_64F ? CUDA_R_64F : CUDA_R_32F;
    cublasLtEpilogue_t epi = k->epilogue == VOLT_GEMM_BIAS      ? CUBLASLT_EPILOGUE_BIAS
                             : k->epilogue == VOLT_GEMM_BGRAD_B ? CUBLASLT_EPILOGUE_BGRADB
                                                                : CUBLASLT_EPILOGUE_DEFAULT;
    cudaDataType_t bias_type = (cudaDataType_t)k->type_cd;
    if (VOLT_CUBLAS_CHECK(lt->MatmulDescCreate(&e->desc, (cublasComputeType_t)k->compute, scale),
                          NULL) ||
        set_desc(e->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) ||
        set_desc(e->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) ||
        set_desc(e->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi) ||
        (k->epilogue != VOLT_GEMM_PLAIN &&
         set_desc(e->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type)) ||
        make_layout(&e->la, k->type_ab, k->a_rows, k->a_cols, k->lda, k->batch, k->stride_a) ||
        make_layout(&e->lb, k->type_ab, k->b_rows, k->b_cols, k->ldb, k->batch, k->stride_b) ||
        make_layout(&e->lc, k->type_cd, k->m, k->n, k->ldc, k->batch, k->stride_c))
        return volt_error_status();
    return VOLT_OK;
}

/* Asks the heuristic for key's algorithm into e (e->supported false when it
 * has none). */
static volt_status entry_choose(lt_entry *e, const lt_key *k, lt_device *d) {
    cublasLtMatmulPreference_t pref = NULL;
    uint64_t ws = WORKSPACE_BYTES;
    const struct {
        cublasLtMatmulPreferenceAttributes_t attr;
        const void *value;
        size_t size;
    } prefs[] = {
        {CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &k->align_a, sizeof k->align_a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &k->align_b, sizeof k->align_b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &k->align_c, sizeof k->align_c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &k->align_c, sizeof k->align_c},
    };
    volt_status st = VOLT_CUBLAS_CHECK(lt->MatmulPreferenceCreate(&pref), NULL);
    for (size_t i = 0; !st && i < sizeof prefs / sizeof prefs[0]; i++)
        st = VOLT_CUBLAS_CHECK(
            lt->MatmulPreferenceSetAttribute(pref, prefs[i].attr, prefs[i].value, prefs[i].size),
            NULL);
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    if (!st) {
        cublasStatus_t s = lt->MatmulAlgoGetHeuristic(d->handle, e->desc, e->la, e->lb, e->lc,
                                                      e->lc, pref, 1, &result, &found);
        /* An epilogue or type combination it does not take is "no algorithm". */
        if (s == CUBLAS_STATUS_NOT_SUPPORTED)
            found = 0;
        else
            st = VOLT_CUBLAS_CHECK(s, "choosing a matmul algorithm");
    }
    if (pref) lt->MatmulPreferenceDestroy(pref);
    e->supported = !st && found > 0;
    if (e->supported) e->algo = result.algo;
    return st;
}

/* key's cached entry, made (descriptors, heuristic) when new; NULL with an
 * error. Called with the lock held. */
static lt_entry *entry_of(const lt_key *k, lt_device *d) {
    uint32_t h = key_hash(k);
    lt_entry *slot = NULL;
    for (uint32_t i = 0; i < CACHE_PROBE; i++) {
        lt_entry *e = &cache[(h + i) & (CACHE_SLOTS - 1)];
        if (e->used && memcmp(&e->key, k, sizeof *k) == 0) return e;
        if (!e->used && !slot) slot = e;
    }
    if (!slot) { /* the window is full: the first of it makes room */
        slot = &cache[h & (CACHE_SLOTS - 1)];
        entry_clear(slot);
    }
    if (entry_describe(slot, k) || entry_choose(slot, k, d)) {
        entry_clear(slot);
        return NULL;
    }
    slot->key = *k;
    slot->used = true;
    return slot;
}

/* -------------------------------------------------------------- batches */

/* Batch dims of the product after broadcasting and merging: sizes and the
 * element strides of a, b and out along each (0 where broadcast). */
typedef struct {
    int n;
    int64_t size[VOLT_MAX_DIMS], sa[VOLT_MAX_DIMS], sb[VOLT_MAX_DIMS], so[VOLT_MAX_DIMS];
} batch_dims;

/* The stride of t's batch dim i of nb (right-aligned), 0 where broadcast. */
static int64_t batch_stride(const volt_tensor *t, int i, int nb) {
    int j = i - (nb - (t->ndim - 2));
    return j >= 0 && t->shape[j] != 1 ? t->strides[j] : 0;
}

static void batch_dims_of(const volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                          batch_dims *bd) {
    int nb = out->ndim - 2;
    bd->n = 0;
    for (int i = 0; i < nb; i++) {
        if (out->shape[i] == 1) continue;
        int64_t sa = batch_stride(a, i, nb), sb = batch_stride(b, i, nb);
        int64_t so = out->strides[i];
        int p = bd->n - 1;
        /* Merges into the previous dim when every operand steps evenly. */
        if (p >= 0 && bd->sa[p] == sa * out->shape[i] && bd->sb[p] == sb * out->shape[i] &&
            bd->so[p] == so * out->shape[i]) {
            bd->size[p] *= out->shape[i];
            bd->sa[p] = sa, bd->sb[p] = sb, bd->so[p] = so;
            continue;
        }
        bd->size[bd->n] = out->shape[i];
        bd->sa[bd->n] = sa, bd->sb[bd->n] = sb, bd->so[bd->n] = so;
        bd->n++;
    }
}

/* ---------------------------------------------------------------- calls */

/* One product (all of it, or one outer batch index): the pointers. */
typedef struct {
    const void *pa, *pb;
    void *pc;
} lt_ptrs;

/* The scalars in the compute type. */
typedef struct {
    float f[2];
    double d[2];
} lt_scalars;

static volt_status gemm_locked(lt_device *d, const lt_key *key, const batch_dims *bd, int inner,
                               lt_ptrs p, const lt_scalars *sc, void *bias, size_t esize_ab,
                               size_t esize_cd, int device) {
    lt_entry *e = entry_of(key, d);
    if (!e) return volt_error_status();
    if (!e->supported) return VOLT_ERR_UNSUPPORTED; /* no error recorded */
    /* The epilogue's vector: set on the shared descriptor for this call. */
    if (bias && set_desc(e->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias))
        return volt_error_status();
    const void *alpha =
        key->compute == CUBLAS_COMPUTE_64F ? (const void *)&sc->d[0] : (const void *)&sc->f[0];
    const void *beta =
        key->compute == CUBLAS_COMPUTE_64F ? (const void *)&sc->d[1] : (const void *)&sc->f[1];
    /* Outer batch dims (those a strided batch cannot express) one by one. */
    int64_t outer = 1;
    for (int i = 0; i < inner; i++) outer *= bd->size[i];
    for (int64_t o = 0; o < outer; o++) {
        int64_t rest = o, oa = 0, ob = 0, oc = 0;
        for (int i = inner - 1; i >= 0; i--) {
            int64_t idx = rest % bd->size[i];
            rest /= bd->size[i];
            oa += idx * bd->sa[i], ob += idx * bd->sb[i], oc += idx * bd->so[i];
        }
        const char *pa = (const char *)p.pa + (size_t)oa * esize_ab;
        const char *pb = (const char *)p.pb + (size_t)ob * esize_ab;
        char *pc = (char *)p.pc + (size_t)oc * esize_cd;
        /* Lt's A is b's storage, its B is a's (see the top of the file). */
        if (VOLT_CUBLAS_CHECK(lt->Matmul(d->handle, e->desc, alpha, pb, e->la, pa, e->lb, beta, pc,
                                         e->lc, pc, e->lc, &e->algo, d->workspace, WORKSPACE_BYTES,
                                         volt_cuda_stream(device)),
                              "the matmul"))
            return volt_error_status();
    }
    return VOLT_OK;
}

/* The dtypes volt_cuda_gemm takes; false with the refusal recorded. */
static bool gemm_types_ok(const volt_tensor *out, const volt_tensor *a, const volt_tensor *b) {
    volt_dtype d = a->dtype, o = out->dtype;
    bool ok = b->dtype == d && volt_dtype_is_float(d);
    ok = ok && (o == d || (o == VOLT_F32 && volt_dtype_is_16bit(d)));
    if (!ok) volt_no_cuda_kernel("matmul", b->dtype != d ? b : a->dtype != o ? out : a, NULL);
    return ok;
}

/* The key of one call: operands, types, batch (the innermost merged batch
 * dim, or 1), epilogue, alignments. */
static void key_of(lt_key *k, const volt_tensor *out, const volt_tensor *a, const lt_operand *oa,
                   const lt_operand *ob, const batch_dims *bd, int inner, volt_gemm_epilogue epi,
                   const lt_ptrs *p, const void *bias) {
    memset(k, 0, sizeof *k);
    k->device = out->device.index;
    k->type_ab = (int32_t)lt_type(a->dtype);
    k->type_cd = (int32_t)lt_type(out->dtype);
    k->compute = a->dtype == VOLT_F64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
    k->epilogue = (int32_t)epi;
    k->op_a = (int32_t)ob->op, k->op_b = (int32_t)oa->op;
    k->a_rows = ob->rows, k->a_cols = ob->cols, k->lda = ob->ld;
    k->b_rows = oa->rows, k->b_cols = oa->cols, k->ldb = oa->ld;
    int nd = out->ndim;
    k->m = (uint64_t)out->shape[nd - 1], k->n = (uint64_t)out->shape[nd - 2];
    k->ldc = max64(out->shape[nd - 1], 1);
    k->batch = 1;
    if (bd->n > inner) {
        k->batch = (int32_t)bd->size[inner];
        k->stride_a = bd->sb[inner], k->stride_b = bd->sa[inner], k->stride_c = bd->so[inner];
    }
    k->align_a = alignment_of(p->pb), k->align_b = alignment_of(p->pa);
    k->align_c = alignment_of(p->pc);
    k->align_bias = bias ? alignment_of(bias) : 0;
}

/* Folds a batched product whose b is shared by every batch and whose a's
 * rows run evenly through its batches into one 2-D product: rows of a and
 * out stacked ([batch * n, k] @ [k, m]). */
static bool fold_batches(const volt_tensor *a, const batch_dims *bd, const lt_operand *oa) {
    if (bd->n != 1 || bd->sb[0] != 0 || oa->op != CUBLAS_OP_N) return false;
    int64_t n = a->shape[a->ndim - 2];
    return bd->sa[0] == n * oa->ld && bd->so[0] != 0;
}

volt_status volt_cuda_gemm(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                           double alpha, double beta, volt_gemm_epilogue epilogue,
                           volt_tensor *bias) {
    lt_operand oa, ob;
    if (!gemm_types_ok(out, a, b)) return volt_error_status();
    if (!volt_tensor_is_contiguous(out))
        return volt_no_cuda_kernel("matmul", out, "a non-contiguous output");
    if (!lt_operand_of(a, &oa) || !lt_operand_of(b, &ob))
        return volt_no_cuda_kernel("matmul", lt_operand_of(a, &oa) ? b : a, "strided");
    int nd = out->ndim;
    int64_t rows = out->shape[nd - 2], cols = out->shape[nd - 1], k = a->shape[a->ndim - 1];
    if (epilogue != VOLT_GEMM_PLAIN && (volt_tensor_numel(out) == 0 || k == 0 || nd != 2))
        return VOLT_ERR_UNSUPPORTED; /* the caller adds or sums itself */
    if (volt_tensor_numel(out) == 0) return VOLT_OK;
    if (k == 0) /* an empty sum */
        return beta == 0   ? volt_cuda_fill("matmul", out, 0.0)
               : beta == 1 ? VOLT_OK
                           : volt_no_cuda_kernel("matmul", a, "k = 0 with beta");
    batch_dims bd;
    batch_dims_of(out, a, b, &bd);
    if (fold_batches(a, &bd, &oa)) {
        int64_t stacked = rows * bd.size[0];
        oa.cols = (uint64_t)stacked; /* a's stacked rows: Lt's B columns */
        bd.n = 0;
        rows = stacked;
    }
    int inner = bd.n > 0 ? bd.n - 1 : 0; /* dims before it: one call each */
    if (rows > INT32_MAX || cols > INT32_MAX || k > INT32_MAX ||
        (bd.n > 0 && bd.size[inner] > INT32_MAX))
        return volt_no_cuda_kernel("matmul", out, "a dimension over 2^31");
    int device = out->device.index;
    lt_ptrs p = {volt_tensor_data(a), volt_tensor_data(b), volt_tensor_data(out)};
    void *pbias = bias ? volt_tensor_data(bias) : NULL;
    lt_key key;
    key_of(&key, out, a, &oa, &ob, &bd, inner, epilogue, &p, pbias);
    key.n = (uint64_t)rows; /* with folded batches */
    lt_scalars sc = {{(float)alpha, (float)beta}, {alpha, beta}};
    if (volt_cuda_set_device(device)) return volt_error_status();
    pthread_mutex_lock(&lock);
    lt_device *d = lt_device_of(device);
    volt_status st = d ? gemm_locked(d, &key, &bd, inner, p, &sc, pbias, volt_dtype_size(a->dtype),
                                     volt_dtype_size(out->dtype), device)
                       : volt_error_status();
    pthread_mutex_unlock(&lock);
    if (st == VOLT_ERR_UNSUPPORTED && epilogue == VOLT_GEMM_PLAIN)
        return volt_no_cuda_kernel("matmul", out, "cuBLASLt has no algorithm for this layout");
    return st;
}

volt_status volt_cuda_matmul(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                             double alpha, double beta) {
    if (a->ndim != 2 || b->ndim != 2 || out->ndim != 2)
        return volt_no_cuda_kernel("matmul", a->ndim != 2 ? a : b, "batched or 1-D");
    return volt_cuda_gemm(out, a, b, alpha, beta, VOLT_GEMM_PLAIN, NULL);
}

volt_status volt_cuda_bias_fill(volt_tensor *out, const volt_tensor *bias, double beta) {
    int64_t n = out->shape[0], m = out->shape[1], s0 = 0, s1 = 0;
    if (bias->ndim == 2) {
        s0 = bias->shape[0] == 1 ? 0 : bias->strides[0];
        s1 = bias->shape[1] == 1 ? 0 : bias->strides[1];
    } else if (bias->ndim == 1) {
        s1 = bias->shape[0] == 1 ? 0 : bias->strides[0];
    }
    if (bias->dtype != out->dtype) return volt_no_cuda_kernel("addmm", bias, "a bias dtype");
    int device = out->device.index;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(volt_cuda_launch_bias_fill(volt_tensor_data(out), (int)out->dtype,
                                                      volt_tensor_data(bias), n, m, s0, s1, beta,
                                                      volt_cuda_stream(device)),
                           "the bias fill kernel");
}
