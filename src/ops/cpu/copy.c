/* copy.c: CPU kernels that write whole tensors — copy with dtype conversion
 * and broadcast, and fill. */
#include <string.h>

#include "ops/cpu/bf16_round.h"
#include "ops/cpu/cpu_kernels.h"

typedef struct {
    volt_dtype out, in;
    size_t esize;
} copy_ctx;

static void copy_same(char **p, const int64_t *s, int64_t n, void *vctx) {
    const copy_ctx *c = vctx;
    int64_t e = (int64_t)c->esize;
    if (s[0] == e && s[1] == e) {
        memcpy(p[0], p[1], (size_t)(n * e));
        return;
    }
    for (int64_t i = 0; i < n; i++) memcpy(p[0] + i * s[0], p[1] + i * s[1], c->esize);
}

static void copy_f32_f64(char **p, const int64_t *s, int64_t n, void *ctx) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++)
        *(double *)(p[0] + i * s[0]) = *(const float *)(p[1] + i * s[1]);
}

static void copy_f64_f32(char **p, const int64_t *s, int64_t n, void *ctx) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++)
        *(float *)(p[0] + i * s[0]) = (float)*(const double *)(p[1] + i * s[1]);
}

static void copy_u8_f32(char **p, const int64_t *s, int64_t n, void *ctx) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++)
        *(float *)(p[0] + i * s[0]) = *(const uint8_t *)(p[1] + i * s[1]);
}

static void copy_convert(char **p, const int64_t *s, int64_t n, void *vctx) {
    const copy_ctx *c = vctx;
    for (int64_t i = 0; i < n; i++)
        volt_store_from_double(p[0] + i * s[0], c->out,
                               volt_load_as_double(p[1] + i * s[1], c->in));
}

/* f32 <-> bf16 without the trip through double (round to nearest even, as
 * volt_f32_to_bf16); contiguous runs in loops the compiler vectorises. */
VOLT_CPU_CLONES void volt_cpu_f32_to_bf16_run(uint16_t *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = volt_bf16_bits(src[i]);
}

VOLT_CPU_CLONES void volt_cpu_bf16_to_f32_run(float *dst, const uint16_t *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}

static void copy_f32_bf16(char **p, const int64_t *s, int64_t n, void *vctx) {
    (void)vctx;
    if (s[0] == 2 && s[1] == 4) {
        volt_cpu_f32_to_bf16_run((uint16_t *)p[0], (const float *)p[1], n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float x;
        memcpy(&x, p[1] + i * s[1], sizeof x);
        uint16_t b = volt_bf16_bits(x);
        memcpy(p[0] + i * s[0], &b, sizeof b);
    }
}

static void copy_bf16_f32(char **p, const int64_t *s, int64_t n, void *vctx) {
    (void)vctx;
    if (s[0] == 4 && s[1] == 2) {
        volt_cpu_bf16_to_f32_run((float *)p[0], (const uint16_t *)p[1], n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        uint16_t b;
        memcpy(&b, p[1] + i * s[1], sizeof b);
        float x = volt_bf16_to_f32(b);
        memcpy(p[0] + i * s[0], &x, sizeof x);
    }
}

/* out (contiguous [rows, cols]) = src, where src's element (i, j) sits at
 * i + j * ld (a transposed view of a contiguous matrix): copied in square
 * tiles so that both sides stay in cache (a plain row loop strides through
 * src with every element). */
#define TILE 32
#define TRANSPOSE_COPY(NAME, T)                                                                    \
    static void NAME(T *dst, const T *srcp, int64_t rows, int64_t cols, int64_t ld) {              \
        _Pragma("omp parallel for if (rows * cols > VOLT_PARALLEL_GRAIN) \
                 num_threads(volt_get_num_threads()) schedule(static)") for (int64_t i0 = 0;       \
                                                                             i0 < rows;            \
                                                                             i0 +=                 \
                                                                             TILE) for (int64_t    \
                                                                                            j0 =   \
                                                                                                0; \
                                                                                        j0 < cols; \
                                                                                        j0 +=      \
                                                                                        TILE) {    \
            int64_t i1 = i0 + TILE < rows ? i0 + TILE : rows;                                      \
            int64_t j1 = j0 + TILE < cols ? j0 + TILE : cols;                                      \
            for (int64_t j = j0; j < j1; j++)                                                      \
                for (int64_t i = i0; i < i1; i++) dst[i * cols + j] = srcp[i + j * ld];            \
        }                                                                                          \
    }
TRANSPOSE_COPY(transpose_copy_4, uint32_t)
TRANSPOSE_COPY(transpose_copy_8, uint64_t)

static bool copy_transposed(volt_tensor *out, const volt_tensor *src) {
    size_t e = volt_dtype_size(out->dtype);
    if (out->dtype != src->dtype || out->ndim != 2 || src->ndim != 2 || (e != 4 && e != 8) ||
        !volt_tensor_is_contiguous(out) || src->strides[0] != 1 || src->shape[0] < 2 ||
        src->shape[1] < 2 || src->strides[1] < src->shape[0] || out->shape[0] != src->shape[0] ||
        out->shape[1] != src->shape[1] || volt_tensor_numel(out) < 4096)
        return false;
    if (e == 4)
        transpose_copy_4(volt_tensor_data(out), volt_tensor_data(src), out->shape[0], out->shape[1],
                         src->strides[1]);
    else
        transpose_copy_8(volt_tensor_data(out), volt_tensor_data(src), out->shape[0], out->shape[1],
                         src->strides[1]);
    return true;
}

void volt_cpu_copy(volt_tensor *out, const volt_tensor *src) {
    if (copy_transposed(out, src)) return;
    copy_ctx c = {out->dtype, src->dtype, volt_dtype_size(out->dtype)};
    volt_loop_fn fn = copy_convert;
    if (c.out == c.in)
        fn = copy_same;
    else if (c.out == VOLT_F64 && c.in == VOLT_F32)
        fn = copy_f32_f64;
    else if (c.out == VOLT_F32 && c.in == VOLT_F64)
        fn = copy_f64_f32;
    else if (c.out == VOLT_F32 && c.in == VOLT_U8)
        fn = copy_u8_f32;
    else if (c.out == VOLT_BF16 && c.in == VOLT_F32)
        fn = copy_f32_bf16;
    else if (c.out == VOLT_F32 && c.in == VOLT_BF16)
        fn = copy_bf16_f32;
    const volt_tensor *ops[2] = {out, src};
    volt_elementwise_loop(2, ops, fn, &c);
}

typedef struct {
    char value[8];
    size_t esize;
} fill_ctx;

static void fill_row(char **p, const int64_t *s, int64_t n, void *vctx) {
    const fill_ctx *c = vctx;
    for (int64_t i = 0; i < n; i++) memcpy(p[0] + i * s[0], c->value, c->esize);
}

static void fill_zero_row(char **p, const int64_t *s, int64_t n, void *vctx) {
    const fill_ctx *c = vctx;
    if (s[0] == (int64_t)c->esize)
        memset(p[0], 0, (size_t)n * c->esize);
    else
        fill_row(p, s, n, vctx);
}

void volt_cpu_fill(volt_tensor *out, double value) {
    fill_ctx c = {.esize = volt_dtype_size(out->dtype)};
    volt_store_from_double(c.value, out->dtype, value);
    bool zero = true;
    for (size_t i = 0; i < c.esize; i++) zero = zero && c.value[i] == 0;
    const volt_tensor *ops[1] = {out};
    volt_elementwise_loop(1, ops, zero ? fill_zero_row : fill_row, &c);
}
