/* copy.c: CPU kernels that write whole tensors — copy with dtype conversion
 * and broadcast, and fill. */
#include <string.h>

#include "ops/cpu/cpu_kernels.h"

static double load(const char *p, volt_dtype d) {
    switch (d) {
    case VOLT_F32: return *(const float *)p;
    case VOLT_F64: return *(const double *)p;
    case VOLT_BF16: return volt_bf16_to_f32(*(const uint16_t *)p);
    case VOLT_F16: return volt_f16_to_f32(*(const uint16_t *)p);
    case VOLT_I64: return (double)*(const int64_t *)p;
    case VOLT_I32: return *(const int32_t *)p;
    case VOLT_U8: return *(const uint8_t *)p;
    case VOLT_BOOL: return *(const uint8_t *)p != 0;
    case VOLT_DTYPE_COUNT: break;
    }
    return 0;
}

static void store(char *p, volt_dtype d, double v) {
    switch (d) {
    case VOLT_F32: *(float *)p = (float)v; break;
    case VOLT_F64: *(double *)p = v; break;
    case VOLT_BF16: *(uint16_t *)p = volt_f32_to_bf16((float)v); break;
    case VOLT_F16: *(uint16_t *)p = volt_f32_to_f16((float)v); break;
    case VOLT_I64: *(int64_t *)p = (int64_t)v; break;
    case VOLT_I32: *(int32_t *)p = (int32_t)v; break;
    case VOLT_U8: *(uint8_t *)p = (uint8_t)(int64_t)v; break;
    case VOLT_BOOL: *(uint8_t *)p = v != 0; break;
    case VOLT_DTYPE_COUNT: break;
    }
}

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
    for (int64_t i = 0; i < n; i++) store(p[0] + i * s[0], c->out, load(p[1] + i * s[1], c->in));
}

void volt_cpu_copy(volt_tensor *out, const volt_tensor *src) {
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
    store(c.value, out->dtype, value);
    bool zero = true;
    for (size_t i = 0; i < c.esize; i++) zero = zero && c.value[i] == 0;
    const volt_tensor *ops[1] = {out};
    volt_elementwise_loop(1, ops, zero ? fill_zero_row : fill_row, &c);
}
