/* unary.c: CPU kernels of the unary elementwise ops and activations — one
 * forward and one fused backward inner loop per (kind, dtype), each with a
 * contiguous fast path and a strided path — plus logical_not and where.
 * <tgmath.h> makes exp, log, erf, ... pick the float or double function from
 * the argument, so one expression serves f32 and f64. f32 ReLU and its
 * backward take the vectorised spans of ops/cpu/relu_simd.c on contiguous
 * rows; the f32 GELU of the tanh form takes its tanh from volt_expf. The
 * loops are compiled for AVX-512, AVX2 and baseline x86-64 (VOLT_CPU_CLONES). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math") /* vectorises volt_expf: see softmax.h */
#endif
#include <string.h>
#include <tgmath.h>

#include "ops/cpu/unary.h"

#include "ops/cpu/cpu_kernels.h"

#include "ops/cpu/relu_simd.h"
#include "ops/cpu/softmax.h"

/* Defines static void NAME(char **p, strides, n, ctx) computing
 * out = EXPR(x) with out of type TO and input x of type TI; PARAMS declares
 * the kind's parameters from ctx (a volt_unary_args). */
#define UNARY_LOOP(NAME, TO, TI, PARAMS, EXPR)                                                     \
    VOLT_CPU_CLONES static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {           \
        const volt_unary_args *args = ctx;                                                         \
        (void)args;                                                                                \
        PARAMS                                                                                     \
        if (s[0] == (int64_t)sizeof(TO) && s[1] == (int64_t)sizeof(TI)) {                          \
            TO *o = (TO *)p[0];                                                                    \
            const TI *in = (const TI *)p[1];                                                       \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const TI x = in[i];                                                                \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const TI x = *(const TI *)(p[1] + i * s[1]);                                       \
                *(TO *)(p[0] + i * s[0]) = (TO)(EXPR);                                             \
            }                                                                                      \
        }                                                                                          \
    }

/* grad_in = EXPR(g, v): g the incoming gradient, v the saved input or output. */
#define BACKWARD_LOOP(NAME, T, EXPR)                                                               \
    VOLT_CPU_CLONES static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {           \
        const volt_unary_args *args = ctx;                                                         \
        const T p0 = (T)args->p0, p1 = (T)args->p1;                                                \
        (void)p0;                                                                                  \
        (void)p1;                                                                                  \
        const int64_t e = (int64_t)sizeof(T);                                                      \
        if (s[0] == e && s[1] == e && s[2] == e) {                                                 \
            T *o = (T *)p[0];                                                                      \
            const T *gp = (const T *)p[1], *vp = (const T *)p[2];                                  \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const T g = gp[i], v = vp[i];                                                      \
                o[i] = (T)(EXPR);                                                                  \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const T g = *(const T *)(p[1] + i * s[1]), v = *(const T *)(p[2] + i * s[2]);      \
                *(T *)(p[0] + i * s[0]) = (T)(EXPR);                                               \
            }                                                                                      \
        }                                                                                          \
    }

#define FPARAMS(T)                                                                                 \
    const T p0 = (T)args->p0, p1 = (T)args->p1;                                                    \
    (void)p0;                                                                                      \
    (void)p1;
#define IPARAMS                                                                                    \
    const int64_t i0 = args->i0, i1 = args->i1;                                                    \
    (void)i0;                                                                                      \
    (void)i1;

static inline int64_t clamp_int(int64_t v, int64_t lo, int64_t hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* The tanh inside GELU's tanh form. f32: 1 - 2 / (exp(2u) + 1) through the
 * vectorisable volt_expf, u clamped to +-10 (where it rounds to +-1, as
 * tanhf does from 9.01 on, so 1 - tanh^2 there is exactly 0), within a
 * few 1e-8 of tanhf in absolute terms, which the 1 + tanh around it turns
 * into a relative error of that size; a GPT's MLP rows run it several times
 * faster than libm's scalar tanhf. f64: libm's tanh. */
static inline float gelu_tanh_of_f32(float u) {
    u = u < -10.0f ? -10.0f : u > 10.0f ? 10.0f : u; /* NaN passes through */
    return 1.0f - 2.0f / (volt_expf(2.0f * u) + 1.0f);
}
static inline double gelu_tanh_of_f64(double u) { return tanh(u); }

/* Scalar helpers per floating type. The sigmoid is stable for large |x|
 * (exp only of -|x|); softplus likewise: max(bx, 0) + log1p(exp(-|bx|)). */
#define FLOAT_HELPERS(T, SUF)                                                                      \
    static inline T s_clamp_##SUF(T x, T lo, T hi) {                                               \
        T v = x < lo ? lo : x; /* NaN passes through */                                            \
        return v > hi ? hi : v;                                                                    \
    }                                                                                              \
    static inline T s_sigmoid_##SUF(T x) {                                                         \
        T e = exp(-fabs(x));                                                                       \
        T r = (T)1 / ((T)1 + e);                                                                   \
        return x >= 0 ? r : e * r;                                                                 \
    }                                                                                              \
    static inline T s_softplus_##SUF(T x, T beta, T threshold) {                                   \
        T bx = beta * x;                                                                           \
        if (bx > threshold) return x;                                                              \
        return ((bx > 0 ? bx : (T)0) + log1p(exp(-fabs(bx)))) / beta;                              \
    }                                                                                              \
    static inline T s_gelu_##SUF(T x) {                                                            \
        return (T)0.5 * x * ((T)1 + erf(x * (T)0.70710678118654752440));                           \
    }                                                                                              \
    static inline T s_gelu_grad_##SUF(T x) {                                                       \
        T cdf = (T)0.5 * ((T)1 + erf(x * (T)0.70710678118654752440));                              \
        T pdf = exp((T)-0.5 * x * x) * (T)0.39894228040143267794;                                  \
        return cdf + x * pdf;                                                                      \
    }                                                                                              \
    static inline T s_gelu_tanh_##SUF(T x) {                                                       \
        T inner = (T)0.79788456080286535588 * (x + (T)0.044715 * x * x * x);                       \
        return (T)0.5 * x * ((T)1 + gelu_tanh_of_##SUF(inner));                                    \
    }                                                                                              \
    static inline T s_gelu_tanh_grad_##SUF(T x) {                                                  \
        const T k = (T)0.79788456080286535588, c = (T)0.044715;                                    \
        T t = gelu_tanh_of_##SUF(k * (x + c * x * x * x));                                         \
        T d_inner = k * ((T)1 + (T)3 * c * x * x);                                                 \
        return (T)0.5 * ((T)1 + t) + (T)0.5 * x * ((T)1 - t * t) * d_inner;                        \
    }

/* clang-format would read "g * v" in these macro arguments as declarations. */
/* clang-format off */
#define FLOAT_LOOPS(T, SUF)                                                                        \
    FLOAT_HELPERS(T, SUF)                                                                          \
    UNARY_LOOP(exp_##SUF, T, T, FPARAMS(T), exp(x))                                                \
    UNARY_LOOP(log_##SUF, T, T, FPARAMS(T), log(x))                                                \
    UNARY_LOOP(log1p_##SUF, T, T, FPARAMS(T), log1p(x))                                            \
    UNARY_LOOP(sqrt_##SUF, T, T, FPARAMS(T), sqrt(x))                                              \
    UNARY_LOOP(rsqrt_##SUF, T, T, FPARAMS(T), (T)1 / sqrt(x))                                      \
    UNARY_LOOP(neg_##SUF, T, T, FPARAMS(T), -x)                                                    \
    UNARY_LOOP(abs_##SUF, T, T, FPARAMS(T), fabs(x))                                               \
    UNARY_LOOP(sign_##SUF, T, T, FPARAMS(T), (T)((x > 0) - (x < 0)))                               \
    UNARY_LOOP(clamp_##SUF, T, T, FPARAMS(T), s_clamp_##SUF(x, p0, p1))                            \
    UNARY_LOOP(relu_##SUF, T, T, FPARAMS(T), x < 0 ? (T)0 : x)                                     \
    UNARY_LOOP(leaky_relu_##SUF, T, T, FPARAMS(T), x > 0 ? x : x * p0)                             \
    UNARY_LOOP(elu_##SUF, T, T, FPARAMS(T), x > 0 ? x : p0 * expm1(x))                             \
    UNARY_LOOP(gelu_##SUF, T, T, FPARAMS(T), s_gelu_##SUF(x))                                      \
    UNARY_LOOP(gelu_tanh_##SUF, T, T, FPARAMS(T), s_gelu_tanh_##SUF(x))                            \
    UNARY_LOOP(silu_##SUF, T, T, FPARAMS(T), x * s_sigmoid_##SUF(x))                               \
    UNARY_LOOP(sigmoid_##SUF, T, T, FPARAMS(T), s_sigmoid_##SUF(x))                                \
    UNARY_LOOP(tanh_##SUF, T, T, FPARAMS(T), tanh(x))                                              \
    UNARY_LOOP(softplus_##SUF, T, T, FPARAMS(T), s_softplus_##SUF(x, p0, p1))                      \
    UNARY_LOOP(hardtanh_##SUF, T, T, FPARAMS(T), s_clamp_##SUF(x, p0, p1))                         \
    UNARY_LOOP(not_##SUF, uint8_t, T, , x == 0)                                                    \
    /* backward: v is the saved output y for exp, sqrt, rsqrt, relu, sigmoid,                      \
     * tanh; the input x for the others (see ops/unary.c). */                                      \
    BACKWARD_LOOP(exp_bw_##SUF, T, g * v)                                                          \
    BACKWARD_LOOP(log_bw_##SUF, T, g / v)                                                          \
    BACKWARD_LOOP(log1p_bw_##SUF, T, g / ((T)1 + v))                                               \
    BACKWARD_LOOP(sqrt_bw_##SUF, T, g / ((T)2 * v))                                                \
    BACKWARD_LOOP(rsqrt_bw_##SUF, T, (T)-0.5 * g * v * v * v)                                      \
    BACKWARD_LOOP(abs_bw_##SUF, T, g * (T)((v > 0) - (v < 0)))                                     \
    BACKWARD_LOOP(clamp_bw_##SUF, T, (v >= p0 && v <= p1) ? g : (T)0)                              \
    BACKWARD_LOOP(relu_bw_##SUF, T, v <= 0 ? (T)0 : g)                                             \
    BACKWARD_LOOP(leaky_relu_bw_##SUF, T, v > 0 ? g : g * p0)                                      \
    BACKWARD_LOOP(elu_bw_##SUF, T, v <= 0 ? g * p0 * exp(v) : g)                                   \
    BACKWARD_LOOP(gelu_bw_##SUF, T, g * s_gelu_grad_##SUF(v))                                      \
    BACKWARD_LOOP(gelu_tanh_bw_##SUF, T, g * s_gelu_tanh_grad_##SUF(v))                            \
    BACKWARD_LOOP(silu_bw_##SUF, T,                                                                \
                  g * s_sigmoid_##SUF(v) * ((T)1 + v * ((T)1 - s_sigmoid_##SUF(v))))               \
    BACKWARD_LOOP(sigmoid_bw_##SUF, T, g * v * ((T)1 - v))                                         \
    BACKWARD_LOOP(tanh_bw_##SUF, T, g * ((T)1 - v * v))                                            \
    BACKWARD_LOOP(softplus_bw_##SUF, T, v * p0 > p1 ? g : g * s_sigmoid_##SUF(v * p0))             \
    BACKWARD_LOOP(hardtanh_bw_##SUF, T, (v <= p0 || v >= p1) ? (T)0 : g)

/* clang-format on */

/* Negation wraps (through uint64_t, so INT64_MIN is no undefined overflow). */
#define INT_LOOPS(T, SUF)                                                                          \
    UNARY_LOOP(neg_##SUF, T, T, IPARAMS, (T)(UINT64_C(0) - (uint64_t)x))                           \
    UNARY_LOOP(abs_##SUF, T, T, IPARAMS, x < 0 ? (T)(UINT64_C(0) - (uint64_t)x) : x)               \
    UNARY_LOOP(sign_##SUF, T, T, IPARAMS, (x > 0) - (x < 0))                                       \
    UNARY_LOOP(clamp_##SUF, T, T, IPARAMS, clamp_int((int64_t)x, i0, i1))                          \
    UNARY_LOOP(not_##SUF, uint8_t, T, , x == 0)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wfloat-equal"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wtype-limits"
FLOAT_LOOPS(float, f32)
FLOAT_LOOPS(double, f64)
INT_LOOPS(int64_t, i64)
INT_LOOPS(int32_t, i32)
INT_LOOPS(uint8_t, u8)
/* bf16 / f16 are zero when every bit but the sign is. */
UNARY_LOOP(not_half, uint8_t, uint16_t, , (x & 0x7fff) == 0)
#pragma GCC diagnostic pop

#define FLOAT_ROW(OP, N) [OP] = {[VOLT_F32] = N##_f32, [VOLT_F64] = N##_f64}
#define NUMERIC_ROW(OP, N)                                                                         \
    [OP] = {[VOLT_F32] = N##_f32,                                                                  \
            [VOLT_F64] = N##_f64,                                                                  \
            [VOLT_I64] = N##_i64,                                                                  \
            [VOLT_I32] = N##_i32,                                                                  \
            [VOLT_U8] = N##_u8}

static const volt_loop_fn forward[VOLT_UN_COUNT][VOLT_DTYPE_COUNT] = {
    FLOAT_ROW(VOLT_UN_EXP, exp),
    FLOAT_ROW(VOLT_UN_LOG, log),
    FLOAT_ROW(VOLT_UN_LOG1P, log1p),
    FLOAT_ROW(VOLT_UN_SQRT, sqrt),
    FLOAT_ROW(VOLT_UN_RSQRT, rsqrt),
    NUMERIC_ROW(VOLT_UN_NEG, neg),
    NUMERIC_ROW(VOLT_UN_ABS, abs),
    NUMERIC_ROW(VOLT_UN_SIGN, sign),
    NUMERIC_ROW(VOLT_UN_CLAMP, clamp),
    FLOAT_ROW(VOLT_UN_RELU, relu),
    FLOAT_ROW(VOLT_UN_LEAKY_RELU, leaky_relu),
    FLOAT_ROW(VOLT_UN_ELU, elu),
    FLOAT_ROW(VOLT_UN_GELU, gelu),
    FLOAT_ROW(VOLT_UN_GELU_TANH, gelu_tanh),
    FLOAT_ROW(VOLT_UN_SILU, silu),
    FLOAT_ROW(VOLT_UN_SIGMOID, sigmoid),
    FLOAT_ROW(VOLT_UN_TANH, tanh),
    FLOAT_ROW(VOLT_UN_SOFTPLUS, softplus),
    FLOAT_ROW(VOLT_UN_HARDTANH, hardtanh),
    [VOLT_UN_LOGICAL_NOT] = {[VOLT_F32] = not_f32,
                             [VOLT_F64] = not_f64,
                             [VOLT_BF16] = not_half,
                             [VOLT_F16] = not_half,
                             [VOLT_I64] = not_i64,
                             [VOLT_I32] = not_i32,
                             [VOLT_U8] = not_u8,
                             [VOLT_BOOL] = not_u8},
};

static const volt_loop_fn backward[VOLT_UN_COUNT][VOLT_DTYPE_COUNT] = {
    FLOAT_ROW(VOLT_UN_EXP, exp_bw),
    FLOAT_ROW(VOLT_UN_LOG, log_bw),
    FLOAT_ROW(VOLT_UN_LOG1P, log1p_bw),
    FLOAT_ROW(VOLT_UN_SQRT, sqrt_bw),
    FLOAT_ROW(VOLT_UN_RSQRT, rsqrt_bw),
    FLOAT_ROW(VOLT_UN_ABS, abs_bw),
    FLOAT_ROW(VOLT_UN_CLAMP, clamp_bw),
    FLOAT_ROW(VOLT_UN_RELU, relu_bw),
    FLOAT_ROW(VOLT_UN_LEAKY_RELU, leaky_relu_bw),
    FLOAT_ROW(VOLT_UN_ELU, elu_bw),
    FLOAT_ROW(VOLT_UN_GELU, gelu_bw),
    FLOAT_ROW(VOLT_UN_GELU_TANH, gelu_tanh_bw),
    FLOAT_ROW(VOLT_UN_SILU, silu_bw),
    FLOAT_ROW(VOLT_UN_SIGMOID, sigmoid_bw),
    FLOAT_ROW(VOLT_UN_TANH, tanh_bw),
    FLOAT_ROW(VOLT_UN_SOFTPLUS, softplus_bw),
    FLOAT_ROW(VOLT_UN_HARDTANH, hardtanh_bw),
};

/* f32 ReLU rows: the vectorised span when contiguous. */
static void relu_f32_rows(char **p, const int64_t *s, int64_t n, void *ctx) {
    if (s[0] == 4 && s[1] == 4)
        volt_cpu_relu_span_f32((float *)p[0], (const float *)p[1], n);
    else
        relu_f32(p, s, n, ctx);
}

static void relu_bw_f32_rows(char **p, const int64_t *s, int64_t n, void *ctx) {
    if (s[0] == 4 && s[1] == 4 && s[2] == 4)
        volt_cpu_relu_backward_span_f32((float *)p[0], (const float *)p[1], (const float *)p[2], n);
    else
        relu_bw_f32(p, s, n, ctx);
}

volt_status volt_cpu_unary(volt_unary_op op, volt_tensor *out, const volt_tensor *in,
                           const volt_unary_args *args) {
    volt_loop_fn fn =
        op == VOLT_UN_RELU && in->dtype == VOLT_F32 ? relu_f32_rows : forward[op][in->dtype];
    if (!fn) return VOLT_ERR_DTYPE;
    const volt_tensor *ops[2] = {out, in};
    volt_elementwise_loop(2, ops, fn, (void *)args);
    return VOLT_OK;
}

volt_status volt_cpu_unary_backward(volt_unary_op op, volt_tensor *grad_in,
                                    const volt_tensor *grad_out, const volt_tensor *saved,
                                    const volt_unary_args *args) {
    volt_loop_fn fn = op == VOLT_UN_RELU && grad_in->dtype == VOLT_F32
                          ? relu_bw_f32_rows
                          : backward[op][grad_in->dtype];
    if (!fn || grad_out->dtype != grad_in->dtype || saved->dtype != grad_in->dtype)
        return VOLT_ERR_DTYPE;
    const volt_tensor *ops[3] = {grad_in, grad_out, saved};
    volt_elementwise_loop(3, ops, fn, (void *)args);
    return VOLT_OK;
}

/* where: a byte-level select by element size, so every dtype works. */
#define WHERE_LOOP(NAME, T)                                                                        \
    VOLT_CPU_CLONES static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {           \
        (void)ctx;                                                                                 \
        const int64_t e = (int64_t)sizeof(T);                                                      \
        if (s[0] == e && s[1] == 1 && s[2] == e && s[3] == e) {                                    \
            T *o = (T *)p[0];                                                                      \
            const uint8_t *c = (const uint8_t *)p[1];                                              \
            const T *a = (const T *)p[2], *b = (const T *)p[3];                                    \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? a[i] : b[i];                             \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++)                                                        \
                *(T *)(p[0] + i * s[0]) = *(const uint8_t *)(p[1] + i * s[1])                      \
                                              ? *(const T *)(p[2] + i * s[2])                      \
                                              : *(const T *)(p[3] + i * s[3]);                     \
        }                                                                                          \
    }

WHERE_LOOP(where_1, uint8_t)
WHERE_LOOP(where_2, uint16_t)
WHERE_LOOP(where_4, uint32_t)
WHERE_LOOP(where_8, uint64_t)

void volt_cpu_where(volt_tensor *out, const volt_tensor *cond, const volt_tensor *a,
                    const volt_tensor *b) {
    size_t es = volt_dtype_size(out->dtype);
    volt_loop_fn fn = es == 8 ? where_8 : es == 4 ? where_4 : es == 2 ? where_2 : where_1;
    const volt_tensor *ops[4] = {out, cond, a, b};
    volt_elementwise_loop(4, ops, fn, NULL);
}
