/* matmul_lt.c: 2-D matrix products on CUDA through cuBLASLt (cuda_ops.h's
 * volt_cuda_matmul) — f32 with f32 arithmetic (no TF32, like PyTorch's
 * default), bf16 and f16 with f32 accumulation; row-major operands and
 * transposed views read in place. One cuBLASLt handle and a 32 MiB
 * workspace (from the caching allocator) per device, made at first use.
 * cuBLASLt is column-major: row-major C = A @ B is computed as the
 * column-major C^T = B^T @ A^T, which is the same memory. */
#include <pthread.h>
#include <stdlib.h>

#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cublaslt_lib.h"
#include "ops/cuda/cuda_ops.h"

#define WORKSPACE_BYTES ((size_t)32 << 20)

typedef struct {
    cublasLtHandle_t handle;
    void *workspace, *workspace_block;
    bool ready;
} lt_device;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static lt_device *devices;
static int n_devices;
/* cuBLASLt's functions; set by lt_device_of before any other call here. */
static const volt_cublaslt_api *lt;

/* The handle and workspace of cuda:device (the current device), made at
 * first use; NULL with an error. */
static lt_device *lt_device_of(int device) {
    pthread_mutex_lock(&lock);
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
    pthread_mutex_unlock(&lock);
    return d;
}

/* How cuBLASLt reads a row-major matrix t [r, c] as its transpose [c, r]:
 * rows-major storage (strides (ld, 1)) is the column-major [c, r] with
 * leading dimension ld, taken as is (N); a transposed view (strides (1, ld))
 * is a column-major [r, c], taken transposed (T). */
typedef struct {
    cublasOperation_t op;
    uint64_t rows, cols; /* of the stored column-major matrix */
    int64_t ld;
} lt_operand;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static bool lt_operand_of(const volt_tensor *t, lt_operand *o) {
    int64_t r = t->shape[0], c = t->shape[1], s0 = t->strides[0], s1 = t->strides[1];
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

/* The largest power of two dividing p's address, at most 256. */
static uint32_t alignment_of(const void *p) {
    uint32_t a = 256;
    while (a > 1 && (uintptr_t)p % a) a /= 2;
    return a;
}

/* The descriptors of one product; destroyed together. */
typedef struct {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulPreference_t pref;
} lt_call;

static void lt_call_destroy(lt_call *c) {
    if (c->pref) lt->MatmulPreferenceDestroy(c->pref);
    if (c->lc) lt->MatrixLayoutDestroy(c->lc);
    if (c->lb) lt->MatrixLayoutDestroy(c->lb);
    if (c->la) lt->MatrixLayoutDestroy(c->la);
    if (c->desc) lt->MatmulDescDestroy(c->desc);
}

static cudaDataType_t lt_type(volt_dtype d) {
    return d == VOLT_BF16 ? CUDA_R_16BF : d == VOLT_F16 ? CUDA_R_16F : CUDA_R_32F;
}

/* Sets up the descriptors for Lt's D = alpha * op(A) op(B) + beta * C with
 * A = b's storage, B = a's, C = D = out's ([m, n] = [cols of out, rows]). */
static volt_status lt_describe(lt_call *c, volt_dtype dtype, const lt_operand *ob,
                               const lt_operand *oa, uint64_t m, uint64_t n, const void *pa,
                               const void *pb, const void *pc) {
    cudaDataType_t type = lt_type(dtype);
    cublasOperation_t ta = ob->op, tb = oa->op;
    uint64_t ws = WORKSPACE_BYTES;
    uint32_t align_a = alignment_of(pb), align_b = alignment_of(pa), align_c = alignment_of(pc);
    if (VOLT_CUBLAS_CHECK(lt->MatmulDescCreate(&c->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), NULL) ||
        VOLT_CUBLAS_CHECK(
            lt->MatmulDescSetAttribute(c->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta),
            NULL) ||
        VOLT_CUBLAS_CHECK(
            lt->MatmulDescSetAttribute(c->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb),
            NULL) ||
        VOLT_CUBLAS_CHECK(lt->MatrixLayoutCreate(&c->la, type, ob->rows, ob->cols, ob->ld), NULL) ||
        VOLT_CUBLAS_CHECK(lt->MatrixLayoutCreate(&c->lb, type, oa->rows, oa->cols, oa->ld), NULL) ||
        VOLT_CUBLAS_CHECK(lt->MatrixLayoutCreate(&c->lc, type, m, n, (int64_t)m), NULL) ||
        VOLT_CUBLAS_CHECK(lt->MatmulPreferenceCreate(&c->pref), NULL))
        return volt_error_status();
    const struct {
        cublasLtMatmulPreferenceAttributes_t attr;
        const void *value;
        size_t size;
    } prefs[] = {
        {CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof align_c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof align_c},
    };
    for (size_t i = 0; i < sizeof prefs / sizeof prefs[0]; i++)
        if (VOLT_CUBLAS_CHECK(lt->MatmulPreferenceSetAttribute(c->pref, prefs[i].attr,
                                                               prefs[i].value, prefs[i].size),
                              NULL))
            return volt_error_status();
    return VOLT_OK;
}

/* Checks what cuBLASLt takes here; fills the operands' descriptions. */
static bool lt_supported(const volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                         lt_operand *oa, lt_operand *ob) {
    if (a->ndim != 2 || b->ndim != 2 || out->ndim != 2) {
        volt_no_cuda_kernel("matmul", a->ndim != 2 ? a : b, "batched or 1-D");
        return false;
    }
    volt_dtype d = out->dtype;
    if ((d != VOLT_F32 && d != VOLT_BF16 && d != VOLT_F16) || a->dtype != d || b->dtype != d) {
        volt_no_cuda_kernel("matmul", a->dtype != d ? a : b->dtype != d ? b : out, NULL);
        return false;
    }
    if (!volt_tensor_is_contiguous(out)) {
        volt_no_cuda_kernel("matmul", out, "a non-contiguous output");
        return false;
    }
    if (!lt_operand_of(a, oa) || !lt_operand_of(b, ob)) {
        volt_no_cuda_kernel("matmul", lt_operand_of(a, oa) ? b : a, "strided");
        return false;
    }
    return true;
}

volt_status volt_cuda_matmul(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                             double alpha, double beta) {
    lt_operand oa, ob;
    if (!lt_supported(out, a, b, &oa, &ob)) return volt_error_status();
    uint64_t rows = (uint64_t)out->shape[0], cols = (uint64_t)out->shape[1];
    if (rows == 0 || cols == 0) return VOLT_OK;
    if (a->shape[1] == 0) /* an empty sum */
        return beta == 0   ? volt_cuda_fill("matmul", out, 0.0)
               : beta == 1 ? VOLT_OK
                           : volt_no_cuda_kernel("matmul", a, "k = 0 with beta");
    int device = out->device.index;
    lt_device *d = volt_cuda_set_device(device) ? NULL : lt_device_of(device);
    if (!d) return volt_error_status();
    lt_call c = {0};
    const void *pa = volt_tensor_data(a), *pb = volt_tensor_data(b);
    void *pc = volt_tensor_data(out);
    volt_status st = lt_describe(&c, out->dtype, &ob, &oa, cols, rows, pa, pb, pc);
    cublasLtMatmulHeuristicResult_t algo;
    int found = 0;
    if (!st)
        st = VOLT_CUBLAS_CHECK(lt->MatmulAlgoGetHeuristic(d->handle, c.desc, c.la, c.lb, c.lc, c.lc,
                                                          c.pref, 1, &algo, &found),
                               "choosing a matmul algorithm");
    if (!st && found == 0)
        st = volt_no_cuda_kernel("matmul", a, "cuBLASLt has no algorithm for this layout");
    float alpha_f = (float)alpha, beta_f = (float)beta;
    if (!st)
        st = VOLT_CUBLAS_CHECK(lt->Matmul(d->handle, c.desc, &alpha_f, pb, c.la, pa, c.lb, &beta_f,
                                          pc, c.lc, pc, c.lc, &algo.algo, d->workspace,
                                          WORKSPACE_BYTES, volt_cuda_stream(device)),
                               "the matmul");
    lt_call_destroy(&c);
    return st;
}
