/* test_validation.c: every op of volt/ops.h, table-driven — a NULL input is
 * refused with a message naming the op, a tensor on a device this build has
 * no kernels for (a CUDA tensor) is refused with a device error (views, which
 * touch no data, work and keep the device), and nothing crashes or leaks. Family tests check each
 * op's own shape/dtype/dim messages. */
#include <string.h>

#include "volt_test.h"

typedef volt_tensor *(*op_fn)(volt_tensor *a, volt_tensor *b, volt_tensor *i);

typedef struct {
    const char *name; /* the op name its messages carry */
    op_fn call;
    bool view; /* metadata only: valid on any device, keeps it */
} op_case;

#define A2 volt_tensor *a, volt_tensor *b, volt_tensor *i
#define UNUSED3 (void)a, (void)b, (void)i
#define OP(label, expr)                                                                            \
    static volt_tensor *call_##label(A2) {                                                         \
        UNUSED3;                                                                                   \
        return (expr);                                                                             \
    }

OP(add, volt_add(a, b))
OP(sub, volt_sub(a, b))
OP(mul, volt_mul(a, b))
OP(div, volt_div(a, b))
OP(pow, volt_pow(a, b))
OP(maximum, volt_maximum(a, b))
OP(minimum, volt_minimum(a, b))
OP(add_scalar, volt_add_scalar(a, 1))
OP(mul_scalar, volt_mul_scalar(a, 2))
OP(div_scalar, volt_div_scalar(a, 2))
OP(pow_scalar, volt_pow_scalar(a, 2))
OP(add_scaled, volt_add_scaled(a, b, 0.5))
OP(eq, volt_eq(a, b))
OP(ne, volt_ne(a, b))
OP(lt, volt_lt(a, b))
OP(le, volt_le(a, b))
OP(gt, volt_gt(a, b))
OP(ge, volt_ge(a, b))
OP(logical_and, volt_logical_and(a, b))
OP(logical_or, volt_logical_or(a, b))
OP(logical_not, volt_logical_not(a))
OP(neg, volt_neg(a))
OP(exp, volt_exp(a))
OP(ln, volt_ln(a))
OP(log1p, volt_log1p(a))
OP(sqrt, volt_sqrt(a))
OP(rsqrt, volt_rsqrt(a))
OP(abs, volt_abs(a))
OP(sign, volt_sign(a))
OP(clamp, volt_clamp(a, -1, 1))
OP(where, volt_where(volt_gt(a, b), a, b))
OP(relu, volt_relu(a))
OP(leaky_relu, volt_leaky_relu(a, 0.1))
OP(elu, volt_elu(a, 1))
OP(gelu, volt_gelu(a, false))
OP(silu, volt_silu(a))
OP(sigmoid, volt_sigmoid(a))
OP(tanh, volt_tanh(a))
OP(softplus, volt_softplus(a, 1, 20))
OP(hardtanh, volt_hardtanh(a, -1, 1))
OP(sum, volt_sum(a, VOLT_DIMS(0), false))
OP(mean, volt_mean(a, VOLT_DIMS(0), false))
OP(prod, volt_prod(a, VOLT_DIMS(0), false))
OP(var, volt_var(a, VOLT_DIMS(0), 1, false))
OP(std, volt_std(a, VOLT_DIMS(0), 1, false))
OP(logsumexp, volt_logsumexp(a, VOLT_DIMS(0), false))
OP(norm, volt_norm(a, 2, VOLT_DIMS(0), false))
OP(max, volt_max(a, 0, false, NULL))
OP(min, volt_min(a, 0, false, NULL))
OP(max_all, volt_max_all(a))
OP(min_all, volt_min_all(a))
OP(argmax, volt_argmax(a, 0, false))
OP(argmin, volt_argmin(a, 0, false))
OP(sum_all, volt_sum_all(a))
OP(mean_all, volt_mean_all(a))
OP(matmul, volt_matmul(a, b))
OP(bmm, volt_bmm(volt_unsqueeze(a, 0), volt_unsqueeze(b, 0)))
OP(addmm, volt_addmm(a, a, b, 1, 1))
OP(outer, volt_outer(volt_flatten(a, 0, -1), volt_flatten(b, 0, -1)))
OP(reshape, volt_reshape(a, VOLT_SHAPE(-1)))
OP(view, volt_view(a, VOLT_SHAPE(-1)))
OP(flatten, volt_flatten(a, 0, -1))
OP(transpose, volt_transpose(a, 0, 1))
OP(permute, volt_permute(a, VOLT_DIMS(1, 0)))
OP(contiguous, volt_contiguous(a))
OP(squeeze, volt_squeeze(a, 0))
OP(squeeze_all, volt_squeeze_all(a))
OP(unsqueeze, volt_unsqueeze(a, 0))
OP(expand, volt_expand(a, VOLT_SHAPE(2, 2, 2)))
OP(repeat, volt_repeat(a, VOLT_SHAPE(2, 1)))
OP(cat, volt_cat(2, (volt_tensor *[]){a, b}, 0))
OP(stack, volt_stack(2, (volt_tensor *[]){a, b}, 0))
OP(narrow, volt_narrow(a, 0, 0, 1))
OP(slice, volt_slice(a, 0, 0, 2, 1))
OP(index_select, volt_index_select(a, 0, i))
OP(gather, volt_gather(a, 0, volt_reshape(i, VOLT_SHAPE(2, 1))))
OP(scatter_add, volt_scatter_add(a, 0, volt_reshape(i, VOLT_SHAPE(2, 1)), b))
OP(masked_fill, volt_masked_fill(a, volt_gt(a, b), 0))
OP(one_hot, volt_one_hot(volt_argmax(a, 1, false), 3))
OP(tril, volt_tril(a, 0))
OP(triu, volt_triu(a, 0))
OP(softmax, volt_softmax(a, 1))
OP(log_softmax, volt_log_softmax(a, 1))
OP(cross_entropy, volt_cross_entropy(a, i))
OP(nll_loss, volt_nll_loss(a, i, NULL, -100, VOLT_REDUCTION_MEAN))
OP(mse_loss, volt_mse_loss(a, b, VOLT_REDUCTION_MEAN))
OP(l1_loss, volt_l1_loss(a, b, VOLT_REDUCTION_MEAN))
OP(smooth_l1_loss, volt_smooth_l1_loss(a, b, VOLT_REDUCTION_MEAN, 1))
OP(binary_cross_entropy,
   volt_binary_cross_entropy(volt_sigmoid(a), volt_sigmoid(b), NULL, VOLT_REDUCTION_MEAN))
OP(binary_cross_entropy_with_logits,
   volt_binary_cross_entropy_with_logits(a, volt_sigmoid(b), NULL, NULL, VOLT_REDUCTION_MEAN))
OP(kl_div, volt_kl_div(a, b, VOLT_REDUCTION_MEAN, true))
OP(dropout, volt_dropout(a, 0.5, true, NULL))
OP(clone, volt_clone(a))
OP(to_dtype, volt_to_dtype(a, VOLT_F64))
OP(bernoulli, volt_bernoulli(volt_sigmoid(a), NULL))
OP(zeros_like, volt_zeros_like(a))

#define CASE(label)                                                                                \
    { #label, call_##label, false }
#define VIEW(label)                                                                                \
    { #label, call_##label, true }

static const op_case cases[] = {
    CASE(add),
    CASE(sub),
    CASE(mul),
    CASE(div),
    CASE(pow),
    CASE(maximum),
    CASE(minimum),
    CASE(add_scalar),
    CASE(mul_scalar),
    CASE(div_scalar),
    CASE(pow_scalar),
    CASE(add_scaled),
    CASE(eq),
    CASE(ne),
    CASE(lt),
    CASE(le),
    CASE(gt),
    CASE(ge),
    CASE(logical_and),
    CASE(logical_or),
    CASE(logical_not),
    CASE(neg),
    CASE(exp),
    CASE(ln),
    CASE(log1p),
    CASE(sqrt),
    CASE(rsqrt),
    CASE(abs),
    CASE(sign),
    CASE(clamp),
    CASE(where),
    CASE(relu),
    CASE(leaky_relu),
    CASE(elu),
    CASE(gelu),
    CASE(silu),
    CASE(sigmoid),
    CASE(tanh),
    CASE(softplus),
    CASE(hardtanh),
    CASE(sum),
    CASE(mean),
    CASE(prod),
    CASE(var),
    CASE(std),
    CASE(logsumexp),
    CASE(norm),
    CASE(max),
    CASE(min),
    CASE(max_all),
    CASE(min_all),
    CASE(argmax),
    CASE(argmin),
    CASE(sum_all),
    CASE(mean_all),
    CASE(matmul),
    CASE(bmm),
    CASE(addmm),
    CASE(outer),
    VIEW(reshape),
    VIEW(view),
    VIEW(flatten),
    VIEW(transpose),
    VIEW(permute),
    VIEW(contiguous),
    VIEW(squeeze),
    VIEW(squeeze_all),
    VIEW(unsqueeze),
    VIEW(expand),
    CASE(repeat),
    CASE(cat),
    CASE(stack),
    VIEW(narrow),
    VIEW(slice),
    CASE(index_select),
    CASE(gather),
    CASE(scatter_add),
    CASE(masked_fill),
    CASE(one_hot),
    CASE(tril),
    CASE(triu),
    CASE(softmax),
    CASE(log_softmax),
    CASE(cross_entropy),
    CASE(nll_loss),
    CASE(mse_loss),
    CASE(l1_loss),
    CASE(smooth_l1_loss),
    CASE(binary_cross_entropy),
    CASE(binary_cross_entropy_with_logits),
    CASE(kl_div),
    CASE(dropout),
    CASE(clone),
    CASE(to_dtype),
    CASE(bernoulli),
    CASE(zeros_like),
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* Valid operands: a, b f32 [2, 2]; i an i64 [2] of class indices. */
static void make_operands(volt_tensor **a, volt_tensor **b, volt_tensor **i) {
    *a = volt_from_array((float[]){0.1f, -0.2f, 0.3f, 0.4f}, VOLT_F32, VOLT_SHAPE(2, 2));
    *b = volt_from_array((float[]){0.5f, 0.6f, -0.7f, 0.8f}, VOLT_F32, VOLT_SHAPE(2, 2));
    *i = volt_from_array((int64_t[]){1, 0}, VOLT_I64, VOLT_SHAPE(2));
}

/* A tensor that claims to live on cuda:0 (over CPU memory, never read). */
static volt_tensor *on_cuda(volt_tensor *t) {
    volt_tensor *fake = volt_tensor_alias(t, t->ndim, t->shape, t->strides, t->offset);
    fake->device = (volt_device){VOLT_CUDA, 0};
    return fake;
}

static void test_valid_operands_work(void **state) {
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
        volt_tensor *a, *b, *i;
        make_operands(&a, &b, &i);
        volt_tensor *out = cases[k].call(a, b, i);
        if (!out) fail_msg("%s failed on valid operands: %s", cases[k].name, volt_error_message());
    }
}

static void test_null_inputs_are_refused(void **state) {
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
        volt_tensor *a, *b, *i;
        make_operands(&a, &b, &i);
        volt_error_clear();
        volt_tensor *out = cases[k].call(NULL, b, i);
        if (out || volt_error_status() != VOLT_ERR_INVALID_ARGUMENT ||
            !strstr(volt_error_message(), "is NULL"))
            fail_msg("%s(NULL, ...): got %p and \"%s\"", cases[k].name, (void *)out,
                     volt_error_message());
        volt_error_clear();
    }
}

static void test_foreign_device_is_refused(void **state) {
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
        volt_tensor *a, *b, *i;
        make_operands(&a, &b, &i);
        volt_error_clear();
        volt_tensor *out = cases[k].call(on_cuda(a), b, i);
        if (cases[k].view) {
            if (!out || out->device.type != VOLT_CUDA)
                fail_msg("view %s on a cuda tensor: got %p and \"%s\"", cases[k].name, (void *)out,
                         volt_error_message());
            continue;
        }
        if (out || volt_error_status() != VOLT_ERR_DEVICE ||
            !strstr(volt_error_message(), "cuda:0"))
            fail_msg("%s(cuda tensor, ...): got %p and %s \"%s\"", cases[k].name, (void *)out,
                     volt_status_name(volt_error_status()), volt_error_message());
        volt_error_clear();
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_valid_operands_work),
        VT_TEST(test_null_inputs_are_refused),
        VT_TEST(test_foreign_device_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
