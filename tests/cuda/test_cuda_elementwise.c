/* test_cuda_elementwise.c (needs a GPU; skipped without one): the CUDA
 * binary, unary/activation and where kernels against the CPU's on the same
 * inputs — every binary op in every dtype with broadcast and transposed
 * operands, odd sizes (1, 7, 1000003 elements; misaligned views), CPU
 * scalars, in place into strided views; every unary op and activation
 * forward and backward in f32, f64, bf16 and f16, the integer ones; where
 * with broadcast and scalars. References: the CPU op in f64 for f64, in f32
 * for the others, rounded to the dtype (the CPU's bf16 rule; f16 has no CPU
 * kernels). Tolerances: f64 1e-12, f32 1e-5 (GPU libm within a few ulp),
 * f16 1e-3, bf16 1e-2 relative (one rounding of the same f32 value can land
 * one ulp apart), integers exact. The f64 gradients equal the CPU's, whose
 * formulas are gradchecked in tests/ops. */
#include "cuda_test.h"

static volt_generator gen;

static volt_tensor *gpu(const volt_tensor *t) { return volt_to_device(t, VT_CUDA0); }
static volt_tensor *cpu(const volt_tensor *t) { return volt_to_device(t, VOLT_DEVICE_CPU); }

static double rtol_of(volt_dtype d) {
    return d == VOLT_BF16  ? 1e-2
           : d == VOLT_F16 ? 1e-3
           : d == VOLT_F32 ? 1e-5
           : d == VOLT_F64 ? 1e-12
                           : 0;
}

/* The dtype the CPU reference computes in. */
static volt_dtype wide_of(volt_dtype d) { return d == VOLT_BF16 || d == VOLT_F16 ? VOLT_F32 : d; }

/* randn * scale + shift in dtype (integers: rounded; bool: > 0). */
static volt_tensor *values(int ndim, const int64_t *shape, volt_dtype dtype, double scale,
                           double shift) {
    volt_tensor *t =
        volt_add_scalar(volt_mul_scalar(volt_randn(ndim, shape, VOLT_F64, &gen), scale), shift);
    if (dtype == VOLT_BOOL) return volt_gt(t, volt_scalar(0, VOLT_F64));
    if (!volt_dtype_is_float(dtype)) t = volt_clamp(t, dtype == VOLT_U8 ? 0 : -100, 100);
    return volt_to_dtype(t, dtype);
}

/* |randn| * scale + shift in dtype (made in f64: the CPU has no f16 ops). */
static volt_tensor *positive(int ndim, const int64_t *shape, volt_dtype dtype, double scale,
                             double shift) {
    volt_tensor *t = volt_abs(volt_randn(ndim, shape, VOLT_F64, &gen));
    return volt_to_dtype(volt_add_scalar(volt_mul_scalar(t, scale), shift), dtype);
}

/* ------------------------------------------------------------ binary */

typedef volt_tensor *(*binary_fn)(const volt_tensor *, const volt_tensor *);

typedef struct {
    const char *name;
    binary_fn fn;
    bool floats_only, takes_bool, writes_bool;
} binary_case;

static const binary_case binary_cases[] = {
    {"add", volt_add, false, false, false},
    {"sub", volt_sub, false, false, false},
    {"mul", volt_mul, false, false, false},
    {"div", volt_div, true, false, false},
    {"pow", volt_pow, false, false, false},
    {"maximum", volt_maximum, false, true, false},
    {"minimum", volt_minimum, false, true, false},
    {"eq", volt_eq, false, true, true},
    {"ne", volt_ne, false, true, true},
    {"lt", volt_lt, false, true, true},
    {"le", volt_le, false, true, true},
    {"gt", volt_gt, false, true, true},
    {"ge", volt_ge, false, true, true},
    {"logical_and", volt_logical_and, false, true, true},
    {"logical_or", volt_logical_or, false, true, true},
};

/* The CPU's answer for a op b in dtype (operands given in dtype). */
static volt_tensor *binary_reference(const binary_case *c, const volt_tensor *a,
                                     const volt_tensor *b, volt_dtype dtype) {
    volt_dtype w = wide_of(dtype);
    volt_tensor *r = c->fn(volt_to_dtype(a, w), volt_to_dtype(b, w));
    return c->writes_bool ? r : volt_to_dtype(r, dtype);
}

/* a [7,1,5] (a transposed view) op b [3,1] -> [7,3,5], each op and dtype;
 * pow keeps its base positive and integer exponents small. */
static void test_binary_broadcast_strided(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16,
                                 VOLT_I64, VOLT_I32, VOLT_U8,   VOLT_BOOL};
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        volt_dtype dt = dtypes[d];
        bool fl = volt_dtype_is_float(dt);
        for (size_t k = 0; k < sizeof binary_cases / sizeof binary_cases[0]; k++) {
            const binary_case *c = &binary_cases[k];
            if ((c->floats_only && !fl) || (dt == VOLT_BOOL && !c->takes_bool)) continue;
            volt_scope_begin();
            bool is_pow = c->fn == volt_pow;
            volt_tensor *a0 = is_pow && fl ? positive(VOLT_SHAPE(5, 7), dt, 1, 0.5)
                                           : values(VOLT_SHAPE(5, 7), dt, 3, 0);
            volt_tensor *b = values(VOLT_SHAPE(3, 1), dt, 2, 0.5);
            if (is_pow)
                b = fl ? values(VOLT_SHAPE(3, 1), dt, 1, 1.5)
                       : positive(VOLT_SHAPE(3, 1), dt, 1.2, 0);
            if (c->fn == volt_div) b = positive(VOLT_SHAPE(3, 1), dt, 2, 0.5);
            volt_tensor *a = volt_unsqueeze(volt_transpose(a0, 0, 1), 1); /* [7,1,5] */
            volt_tensor *ga = volt_unsqueeze(volt_transpose(gpu(a0), 0, 1), 1);
            volt_tensor *got = c->fn(ga, gpu(b));
            char what[64];
            snprintf(what, sizeof what, "%s %s", c->name, volt_dtype_name(dt));
            if (!got) fail_msg("%s: %s", what, volt_error_message());
            volt_tensor *want = binary_reference(c, a, b, dt);
            assert_int_equal(got->dtype, want->dtype);
            VT_ASSERT_SAME_VALUES(got, want, rtol_of(dt), rtol_of(dt) * 1e-3, what);
            volt_scope_end();
        }
    }
}

/* Contiguous operands of 1, 7 and 1000003 elements (the vector path and
 * its tail), and views starting one element in (not 16-byte aligned). */
static void test_binary_sizes(void **state) {
    (void)state;
    const int64_t sizes[] = {1, 7, 1000003};
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_BF16, VOLT_F16, VOLT_F64};
    for (size_t s = 0; s < 3; s++) {
        for (size_t d = 0; d < 4; d++) {
            volt_scope_begin();
            volt_dtype dt = dtypes[d];
            int64_t n = sizes[s];
            volt_tensor *a = values(VOLT_SHAPE(n + 1), dt, 1, 0);
            volt_tensor *b = values(VOLT_SHAPE(n + 1), dt, 1, 0);
            volt_tensor *ga = gpu(a), *gb = gpu(b);
            VT_ASSERT_SAME_VALUES(volt_mul(ga, gb), binary_reference(&binary_cases[2], a, b, dt),
                                  rtol_of(dt), 0, "mul, contiguous");
            volt_tensor *an = volt_narrow(a, 0, 1, n), *bn = volt_narrow(b, 0, 0, n);
            VT_ASSERT_SAME_VALUES(volt_add(volt_narrow(ga, 0, 1, n), volt_narrow(gb, 0, 0, n)),
                                  binary_reference(&binary_cases[0], an, bn, dt), rtol_of(dt),
                                  rtol_of(dt) * 1e-3, "add, misaligned");
            volt_scope_end();
        }
    }
}

/* CPU scalars (unrounded in the compute type), mixed dtypes, and in-place
 * ops into strided views. */
static void test_binary_scalars_and_in_place(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};
    for (size_t d = 0; d < 4; d++) {
        volt_dtype dt = dtypes[d], w = wide_of(dt);
        double rtol = rtol_of(dt), atol = rtol * 1e-3;
        volt_tensor *a = values(VOLT_SHAPE(6, 9), dt, 2, 0),
                    *b = values(VOLT_SHAPE(9, 6), dt, 1, 0);
        volt_tensor *wa = volt_to_dtype(a, w), *ga = gpu(a);
        VT_ASSERT_SAME_VALUES(volt_mul_scalar(ga, 0.1), volt_to_dtype(volt_mul_scalar(wa, 0.1), dt),
                              rtol, atol, "mul_scalar");
        VT_ASSERT_SAME_VALUES(volt_pow_scalar(volt_abs(ga), 1.5),
                              volt_to_dtype(volt_pow_scalar(volt_abs(wa), 1.5), dt), rtol, atol,
                              "pow_scalar");
        VT_ASSERT_SAME_VALUES(volt_sub(volt_scalar(3, VOLT_F64), ga),
                              volt_to_dtype(volt_sub(volt_scalar(3, VOLT_F64), wa), dt), rtol, atol,
                              "scalar - tensor");
        /* In place into a transposed view of a CUDA tensor. */
        volt_tensor *host = volt_clone(a), *dev = gpu(a);
        volt_tensor *hv = volt_transpose(host, 0, 1), *dv = volt_transpose(dev, 0, 1);
        volt_tensor *wh = volt_to_dtype(host, w);
        volt_tensor *whv = volt_transpose(wh, 0, 1);
        assert_ptr_equal(volt_add_(dv, gpu(b)), dv);
        volt_add_(whv, volt_to_dtype(b, w));
        assert_ptr_equal(volt_mul_scalar_(dv, -2), dv);
        volt_mul_scalar_(whv, -2);
        assert_ptr_equal(volt_add_scalar_(dv, 0.25), dv);
        volt_add_scalar_(whv, 0.25);
        /* The device rounds to dt after each op: an absolute error of a few
         * ulp of the largest values (about 10). */
        VT_ASSERT_SAME_VALUES(dev, volt_to_dtype(wh, dt), rtol * 4, rtol * 40,
                              "add_, mul_scalar_, add_scalar_ into a view");
        (void)hv;
        /* fill_ and zero_ of a strided slice. */
        volt_tensor *z = gpu(volt_zeros(VOLT_SHAPE(4, 6), dt));
        volt_fill_(volt_slice(z, 1, 1, 6, 2), 2.5);
        volt_zero_(volt_narrow(z, 0, 0, 1));
        volt_tensor *zc = volt_zeros(VOLT_SHAPE(4, 6), w);
        volt_fill_(volt_slice(zc, 1, 1, 6, 2), 2.5);
        volt_zero_(volt_narrow(zc, 0, 0, 1));
        VT_ASSERT_SAME_VALUES(z, zc, 0, 0, "fill_ of a slice");
    }
    /* Mixed dtypes promote as on the CPU; integers and bools too. */
    volt_tensor *f = values(VOLT_SHAPE(8), VOLT_F32, 1, 0),
                *i = values(VOLT_SHAPE(8), VOLT_I64, 3, 0);
    volt_tensor *r = volt_mul(gpu(f), gpu(i));
    assert_int_equal(r->dtype, VOLT_F32);
    VT_ASSERT_SAME_VALUES(r, volt_mul(f, i), 1e-6, 0, "f32 * i64");
    r = volt_div(gpu(i), gpu(volt_add_scalar(volt_abs(i), 1)));
    assert_int_equal(r->dtype, VOLT_F32);
    VT_ASSERT_SAME_VALUES(r, volt_div(i, volt_add_scalar(volt_abs(i), 1)), 1e-6, 0, "i64 / i64");
    /* What no device computes says so, naming the op. */
    volt_tensor *bl = gpu(values(VOLT_SHAPE(3), VOLT_BOOL, 1, 0));
    assert_null(volt_add(bl, bl));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "add: bool[3] and bool[3]: no kernel for bool");
}

static void test_binary_gradients(void **state) {
    (void)state;
    const binary_fn fns[] = {volt_add, volt_sub,     volt_mul,    volt_div,
                             volt_pow, volt_maximum, volt_minimum};
    for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++) {
        volt_tensor *a0 = positive(VOLT_SHAPE(5, 6), VOLT_F64, 0.5, 0.5);
        volt_tensor *b0 = positive(VOLT_SHAPE(5, 6), VOLT_F64, 0.5, 1);
        volt_tensor *tie = volt_eq(volt_reshape(volt_arange(0, 30, 1, VOLT_F64), VOLT_SHAPE(5, 6)),
                                   volt_scalar(3, VOLT_F64));
        b0 = volt_where(tie, a0, b0); /* a tie for maximum and minimum */
        volt_tensor *w = values(VOLT_SHAPE(5, 6), VOLT_F64, 1, 0);
        volt_tensor *ca = volt_requires_grad(volt_clone(a0), true);
        volt_tensor *cb = volt_requires_grad(volt_clone(b0), true);
        volt_tensor *ga = volt_requires_grad(gpu(a0), true),
                    *gb = volt_requires_grad(gpu(b0), true);
        assert_int_equal(volt_backward(volt_sum_all(volt_mul(fns[k](ca, cb), w))), VOLT_OK);
        volt_tensor *y = cpu(volt_mul(fns[k](ga, gb), gpu(w)));
        assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
        assert_true(volt_device_equal(ga->grad->device, VT_CUDA0));
        VT_ASSERT_SAME_VALUES(ga->grad, ca->grad, 1e-12, 1e-14, "d/da");
        VT_ASSERT_SAME_VALUES(gb->grad, cb->grad, 1e-12, 1e-14, "d/db");
    }
}

/* ------------------------------------------------------------- unary */

typedef struct {
    const char *name;
    volt_tensor *(*fn)(const volt_tensor *, const void *);
    bool positive; /* domain: x > 0 */
} unary_case;

#define UNARY(NAME, EXPR)                                                                          \
    static volt_tensor *u_##NAME(const volt_tensor *x, const void *ctx) {                          \
        (void)ctx;                                                                                 \
        return EXPR;                                                                               \
    }
UNARY(neg, volt_neg(x))
UNARY(exp, volt_exp(x))
UNARY(ln, volt_ln(x))
UNARY(log1p, volt_log1p(x))
UNARY(sqrt, volt_sqrt(x))
UNARY(rsqrt, volt_rsqrt(x))
UNARY(abs, volt_abs(x))
UNARY(sign, volt_sign(x))
UNARY(clamp, volt_clamp(x, -0.5, 0.75))
UNARY(relu, volt_relu(x))
UNARY(leaky_relu, volt_leaky_relu(x, 0.1))
UNARY(elu, volt_elu(x, 1.5))
UNARY(gelu, volt_gelu(x, false))
UNARY(gelu_tanh, volt_gelu(x, true))
UNARY(silu, volt_silu(x))
UNARY(sigmoid, volt_sigmoid(x))
UNARY(tanh, volt_tanh(x))
UNARY(softplus, volt_softplus(x, 2, 3))
UNARY(hardtanh, volt_hardtanh(x, -0.5, 1))

static const unary_case unary_cases[] = {
    {"neg", u_neg, false},
    {"exp", u_exp, false},
    {"ln", u_ln, true},
    {"log1p", u_log1p, true},
    {"sqrt", u_sqrt, true},
    {"rsqrt", u_rsqrt, true},
    {"abs", u_abs, false},
    {"sign", u_sign, false},
    {"clamp", u_clamp, false},
    {"relu", u_relu, false},
    {"leaky_relu", u_leaky_relu, false},
    {"elu", u_elu, false},
    {"gelu", u_gelu, false},
    {"gelu_tanh", u_gelu_tanh, false},
    {"silu", u_silu, false},
    {"sigmoid", u_sigmoid, false},
    {"tanh", u_tanh, false},
    {"softplus", u_softplus, false},
    {"hardtanh", u_hardtanh, false},
};

/* Forward on a transposed [29, 37] view and backward (through a weighted
 * sum on the CPU) against the CPU in the wide dtype, rounded. */
static void test_unary_forward_backward(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16};
    for (size_t d = 0; d < 4; d++) {
        volt_dtype dt = dtypes[d], w = wide_of(dt);
        /* f32 atol 1e-6: GELU's 1 + erf(x) cancels for x < -2, where the
         * device's and libm's erff differ by an ulp of 1. */
        double rtol = rtol_of(dt), atol = dt == VOLT_F64   ? 1e-13
                                          : dt == VOLT_F32 ? 1e-6
                                                           : rtol * 1e-2;
        for (size_t k = 0; k < sizeof unary_cases / sizeof unary_cases[0]; k++) {
            const unary_case *c = &unary_cases[k];
            volt_scope_begin();
            char what[64];
            snprintf(what, sizeof what, "%s %s", c->name, volt_dtype_name(dt));
            volt_tensor *x0 = c->positive ? positive(VOLT_SHAPE(37, 29), dt, 1.5, 0.1)
                                          : values(VOLT_SHAPE(37, 29), dt, 1.5, 0);
            volt_tensor *gx = volt_requires_grad(gpu(x0), true);
            volt_tensor *got = c->fn(volt_transpose(gx, 0, 1), NULL);
            if (!got) fail_msg("%s: %s", what, volt_error_message());
            assert_int_equal(got->dtype, dt);
            volt_tensor *cx = volt_requires_grad(volt_to_dtype(x0, w), true);
            volt_tensor *want = c->fn(volt_transpose(cx, 0, 1), NULL);
            VT_ASSERT_SAME_VALUES(got, volt_to_dtype(want, dt), rtol, atol, what);
            /* Backward: loss = sum(y * wt) on the CPU. */
            volt_tensor *wt = values(VOLT_SHAPE(29, 37), w, 1, 0);
            assert_int_equal(volt_backward(volt_sum_all(volt_mul(volt_to_dtype(cpu(got), w), wt))),
                             VOLT_OK);
            assert_int_equal(volt_backward(volt_sum_all(volt_mul(want, wt))), VOLT_OK);
            assert_int_equal(gx->grad->dtype, dt);
            /* bf16/f16: exp, sqrt, rsqrt, sigmoid and tanh save their
             * rounded output (as PyTorch does on CUDA), the CPU reference
             * its f32 one: 1 - y near y = 1 is off by up to half an ulp of 1,
             * times |g| (about 3 at most). */
            double gatol = dt == VOLT_BF16 || dt == VOLT_F16 ? rtol * 4 : atol * 10;
            VT_ASSERT_SAME_VALUES(gx->grad, volt_to_dtype(cx->grad, dt), rtol * 2, gatol, what);
            volt_scope_end();
        }
    }
}

/* Odd sizes and the 32-/64-bit paths: 1, 7 and 1000003 elements. */
static void test_unary_sizes(void **state) {
    (void)state;
    const int64_t sizes[] = {1, 7, 1000003};
    for (size_t s = 0; s < 3; s++) {
        volt_tensor *x = values(VOLT_SHAPE(sizes[s]), VOLT_F32, 2, 0);
        VT_ASSERT_SAME_VALUES(volt_gelu(gpu(x), true), volt_gelu(x, true), 1e-5, 1e-6, "gelu");
        VT_ASSERT_SAME_VALUES(volt_gelu(gpu(x), false), volt_gelu(x, false), 1e-5, 1e-6,
                              "gelu erf");
        VT_ASSERT_SAME_VALUES(volt_relu(gpu(x)), volt_relu(x), 0, 0, "relu");
        volt_tensor *h = volt_to_dtype(x, VOLT_BF16);
        VT_ASSERT_SAME_VALUES(volt_sigmoid(gpu(h)), volt_sigmoid(h), 1e-2, 1e-4, "sigmoid bf16");
    }
}

static void test_unary_integers_and_logical(void **state) {
    (void)state;
    const volt_dtype ints[] = {VOLT_I64, VOLT_I32, VOLT_U8};
    for (size_t d = 0; d < 3; d++) {
        volt_tensor *x = values(VOLT_SHAPE(4, 9), ints[d], 30, 0);
        volt_tensor *g = gpu(x);
        VT_ASSERT_SAME_VALUES(volt_neg(g), volt_neg(x), 0, 0, "neg");
        VT_ASSERT_SAME_VALUES(volt_abs(g), volt_abs(x), 0, 0, "abs");
        VT_ASSERT_SAME_VALUES(volt_sign(g), volt_sign(x), 0, 0, "sign");
        VT_ASSERT_SAME_VALUES(volt_clamp(g, -7, 12), volt_clamp(x, -7, 12), 0, 0, "clamp");
        volt_tensor *cf = volt_clamp(g, -7.5, 12); /* non-integral bounds: f32 */
        assert_int_equal(cf->dtype, VOLT_F32);
        VT_ASSERT_SAME_VALUES(cf, volt_clamp(x, -7.5, 12), 0, 0, "clamp to f32");
        VT_ASSERT_SAME_VALUES(volt_exp(volt_mul_scalar(g, 0)), volt_exp(volt_mul_scalar(x, 0)), 0,
                              0, "exp of integers: f32");
    }
    const volt_dtype all[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_F16,
                              VOLT_I64, VOLT_I32, VOLT_U8,   VOLT_BOOL};
    for (size_t d = 0; d < 8; d++) {
        volt_tensor *x = volt_to_dtype(volt_relu(values(VOLT_SHAPE(33), VOLT_F32, 1, 0)), all[d]);
        volt_tensor *got = volt_logical_not(gpu(x));
        assert_int_equal(got->dtype, VOLT_BOOL);
        volt_tensor *want = volt_logical_not(all[d] == VOLT_F16 ? volt_to_dtype(x, VOLT_F32) : x);
        VT_ASSERT_SAME_VALUES(got, want, 0, 0, "logical_not");
    }
    /* Activations of integers are refused by name. */
    volt_tensor *i = gpu(volt_ones(VOLT_SHAPE(3), VOLT_I64));
    assert_null(volt_relu(i));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "relu: i64[3] is not supported");
    assert_null(volt_abs(gpu(volt_ones(VOLT_SHAPE(2), VOLT_BOOL))));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "abs: bool[2] is not supported");
}

/* ------------------------------------------------------------- where */

static void test_where(void **state) {
    (void)state;
    const volt_dtype dtypes[] = {VOLT_F32, VOLT_F64, VOLT_BF16, VOLT_I64, VOLT_U8};
    for (size_t d = 0; d < 5; d++) {
        volt_tensor *cond = values(VOLT_SHAPE(4, 1, 6), VOLT_BOOL, 1, 0);
        volt_tensor *a = values(VOLT_SHAPE(3, 6), dtypes[d], 4, 0);
        volt_tensor *b = values(VOLT_SHAPE(4, 3, 1), dtypes[d], 4, 0);
        VT_ASSERT_SAME_VALUES(volt_where(gpu(cond), gpu(a), gpu(b)), volt_where(cond, a, b), 0, 0,
                              "where, broadcast");
        volt_tensor *s = volt_scalar(7, dtypes[d]);
        VT_ASSERT_SAME_VALUES(volt_where(gpu(cond), s, gpu(b)), volt_where(cond, s, b), 0, 0,
                              "where, a CPU scalar");
    }
    /* The gradient goes to the chosen side. */
    volt_tensor *cond = values(VOLT_SHAPE(5, 4), VOLT_BOOL, 1, 0);
    volt_tensor *a0 = values(VOLT_SHAPE(5, 4), VOLT_F32, 1, 0);
    volt_tensor *a = volt_requires_grad(gpu(a0), true);
    volt_tensor *y = volt_where(gpu(cond), a, volt_scalar(0, VOLT_F32));
    assert_int_equal(volt_backward(volt_sum_all(cpu(y))), VOLT_OK);
    VT_ASSERT_SAME_VALUES(a->grad, volt_to_dtype(cond, VOLT_F32), 0, 0, "d where / da");
}

int main(void) {
    VT_CUDA_SKIP_UNLESS_AVAILABLE("cuda/test_cuda_elementwise");
    gen = volt_generator_make(77, 3);
    const struct CMUnitTest tests[] = {
        VT_CUDA_TEST(test_binary_broadcast_strided),    VT_CUDA_TEST(test_binary_sizes),
        VT_CUDA_TEST(test_binary_scalars_and_in_place), VT_CUDA_TEST(test_binary_gradients),
        VT_CUDA_TEST(test_unary_forward_backward),      VT_CUDA_TEST(test_unary_sizes),
        VT_CUDA_TEST(test_unary_integers_and_logical),  VT_CUDA_TEST(test_where),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
