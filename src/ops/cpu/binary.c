/* binary.c: CPU kernels of the binary elementwise ops (arithmetic,
 * maximum/minimum, comparisons, logical), one inner loop per (op, dtype)
 * with fast paths for contiguous and scalar-broadcast operands. */
#include <math.h>

#include "ops/cpu/cpu_kernels.h"

/* Defines static void NAME(char **p, strides, n, ctx) computing
 * out = EXPR(a, b) with out of type TO and operands of type TI. */
#define BINARY_LOOP(NAME, TO, TI, EXPR)                                                            \
    static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {                           \
        const double alpha_d = *(const double *)ctx;                                               \
        const TI alpha = (TI)alpha_d;                                                              \
        (void)alpha;                                                                               \
        TO *o = (TO *)p[0];                                                                        \
        const TI *x = (const TI *)p[1], *y = (const TI *)p[2];                                     \
        const int64_t eo = (int64_t)sizeof(TO), ei = (int64_t)sizeof(TI);                          \
        if (s[0] == eo && s[1] == ei && s[2] == ei) {                                              \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TI a = x[i], b = y[i];                                                             \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else if (s[0] == eo && s[1] == ei && s[2] == 0) {                                        \
            const TI b = *y;                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TI a = x[i];                                                                       \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else if (s[0] == eo && s[1] == 0 && s[2] == ei) {                                        \
            const TI a = *x;                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TI b = y[i];                                                                       \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TI a = *(const TI *)(p[1] + i * s[1]), b = *(const TI *)(p[2] + i * s[2]);         \
                *(TO *)(p[0] + i * s[0]) = (TO)(EXPR);                                             \
            }                                                                                      \
        }                                                                                          \
    }

/* Arithmetic on floating types (NaN-propagating maximum/minimum). */
#define FLOAT_LOOPS(T, SUF)                                                                        \
    BINARY_LOOP(add_##SUF, T, T, a + alpha * b)                                                    \
    BINARY_LOOP(sub_##SUF, T, T, a - alpha * b)                                                    \
    BINARY_LOOP(mul_##SUF, T, T, a *b)                                                             \
    BINARY_LOOP(div_##SUF, T, T, a / b)                                                            \
    BINARY_LOOP(pow_##SUF, T, T, pow((double)a, (double)b))                                        \
    BINARY_LOOP(maximum_##SUF, T, T, (a != a || a > b) ? a : b)                                    \
    BINARY_LOOP(minimum_##SUF, T, T, (a != a || a < b) ? a : b)

/* Arithmetic on integer types (division is never integer: ops promote it). */
#define INT_LOOPS(T, SUF)                                                                          \
    BINARY_LOOP(add_##SUF, T, T, a + alpha * b)                                                    \
    BINARY_LOOP(sub_##SUF, T, T, a - alpha * b)                                                    \
    BINARY_LOOP(mul_##SUF, T, T, a *b)                                                             \
    BINARY_LOOP(pow_##SUF, T, T, pow((double)a, (double)b))                                        \
    BINARY_LOOP(maximum_##SUF, T, T, a > b ? a : b)                                                \
    BINARY_LOOP(minimum_##SUF, T, T, a < b ? a : b)

/* Comparisons and logical ops: bool out. */
#define COMPARE_LOOPS(T, SUF)                                                                      \
    BINARY_LOOP(eq_##SUF, uint8_t, T, a == b)                                                      \
    BINARY_LOOP(ne_##SUF, uint8_t, T, a != b)                                                      \
    BINARY_LOOP(lt_##SUF, uint8_t, T, a < b)                                                       \
    BINARY_LOOP(le_##SUF, uint8_t, T, a <= b)                                                      \
    BINARY_LOOP(gt_##SUF, uint8_t, T, a > b)                                                       \
    BINARY_LOOP(ge_##SUF, uint8_t, T, a >= b)                                                      \
    BINARY_LOOP(and_##SUF, uint8_t, T, (a != 0) && (b != 0))                                       \
    BINARY_LOOP(or_##SUF, uint8_t, T, (a != 0) || (b != 0))

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wfloat-equal"
#pragma GCC diagnostic ignored "-Wconversion"
FLOAT_LOOPS(float, f32)
FLOAT_LOOPS(double, f64)
INT_LOOPS(int64_t, i64)
INT_LOOPS(int32_t, i32)
INT_LOOPS(uint8_t, u8)
COMPARE_LOOPS(float, f32)
COMPARE_LOOPS(double, f64)
COMPARE_LOOPS(int64_t, i64)
COMPARE_LOOPS(int32_t, i32)
COMPARE_LOOPS(uint8_t, u8)
#pragma GCC diagnostic pop

#define ROW(OP, F32, F64, I64, I32, U8, BOOL)                                                      \
    [OP] = {[VOLT_F32] = F32, [VOLT_F64] = F64, [VOLT_I64] = I64,                                  \
            [VOLT_I32] = I32, [VOLT_U8] = U8,   [VOLT_BOOL] = BOOL}

static const volt_loop_fn kernels[VOLT_BIN_COUNT][VOLT_DTYPE_COUNT] = {
    ROW(VOLT_BIN_ADD, add_f32, add_f64, add_i64, add_i32, add_u8, NULL),
    ROW(VOLT_BIN_SUB, sub_f32, sub_f64, sub_i64, sub_i32, sub_u8, NULL),
    ROW(VOLT_BIN_MUL, mul_f32, mul_f64, mul_i64, mul_i32, mul_u8, NULL),
    ROW(VOLT_BIN_DIV, div_f32, div_f64, NULL, NULL, NULL, NULL),
    ROW(VOLT_BIN_POW, pow_f32, pow_f64, pow_i64, pow_i32, pow_u8, NULL),
    ROW(VOLT_BIN_MAXIMUM, maximum_f32, maximum_f64, maximum_i64, maximum_i32, maximum_u8,
        maximum_u8),
    ROW(VOLT_BIN_MINIMUM, minimum_f32, minimum_f64, minimum_i64, minimum_i32, minimum_u8,
        minimum_u8),
    ROW(VOLT_BIN_EQ, eq_f32, eq_f64, eq_i64, eq_i32, eq_u8, eq_u8),
    ROW(VOLT_BIN_NE, ne_f32, ne_f64, ne_i64, ne_i32, ne_u8, ne_u8),
    ROW(VOLT_BIN_LT, lt_f32, lt_f64, lt_i64, lt_i32, lt_u8, lt_u8),
    ROW(VOLT_BIN_LE, le_f32, le_f64, le_i64, le_i32, le_u8, le_u8),
    ROW(VOLT_BIN_GT, gt_f32, gt_f64, gt_i64, gt_i32, gt_u8, gt_u8),
    ROW(VOLT_BIN_GE, ge_f32, ge_f64, ge_i64, ge_i32, ge_u8, ge_u8),
    ROW(VOLT_BIN_AND, and_f32, and_f64, and_i64, and_i32, and_u8, and_u8),
    ROW(VOLT_BIN_OR, or_f32, or_f64, or_i64, or_i32, or_u8, or_u8),
};

volt_status volt_cpu_binary(volt_binary_op op, volt_tensor *out, const volt_tensor *a,
                            const volt_tensor *b, double alpha) {
    volt_loop_fn fn = kernels[op][a->dtype];
    if (!fn) return VOLT_ERR_DTYPE;
    const volt_tensor *ops[3] = {out, a, b};
    volt_elementwise_loop(3, ops, fn, &alpha);
    return VOLT_OK;
}
