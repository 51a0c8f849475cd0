/* test_autocast_flow.c: how tensors flow through a network under bf16
 * autocast (volt/ops.h), as under torch.autocast: products return bf16 and
 * the next product reads them as they are (an MLP's activations, logits
 * and the gradients between them are bf16; its loss and its parameters'
 * gradients f32, and equal to an f64 reference with the same roundings);
 * the ops autocast keeps in f32 (norms, softmax, log_softmax, the losses)
 * widen a bf16 input and return f32, bit for bit the op on the widened
 * tensor, and send a bf16 gradient back; attention returns bf16; layers
 * take a bf16 input with f32 parameters; a backward run while autocast is
 * on computes what it computes outside; without autocast, mixed operands
 * and a bf16 input to an f32 layer are refused by name. */
#include "volt_test.h"

#include <math.h>

static volt_tensor *randn(int ndim, const int64_t *shape, uint64_t seed) {
    volt_generator g = volt_generator_make(seed, 0);
    return volt_randn(ndim, shape, VOLT_F32, &g);
}

/* t as f64, its values rounded to bf16 first (differentiable both ways: the
 * reference's way of rounding an intermediate result). */
static volt_tensor *rounded64(const volt_tensor *t) {
    return volt_to_dtype(volt_to_dtype(t, VOLT_BF16), VOLT_F64);
}

/* max |a - b| / max |b| (any floating dtypes, one shape). */
static double rel_diff(const volt_tensor *a, const volt_tensor *b) {
    assert_int_equal(volt_tensor_numel(a), volt_tensor_numel(b));
    double d = 0, m = 0;
    for (int64_t i = 0; i < volt_tensor_numel(a); i++) {
        double x = volt_tensor_get_flat(a, i), y = volt_tensor_get_flat(b, i);
        d = fmax(d, fabs(x - y));
        m = fmax(m, fabs(y));
    }
    return d / m;
}

static void assert_same_bits(const volt_tensor *a, const volt_tensor *b) {
    assert_int_equal(a->dtype, b->dtype);
    for (int64_t i = 0; i < volt_tensor_numel(a); i++)
        assert_true(volt_tensor_get_flat(a, i) == volt_tensor_get_flat(b, i));
}

/* x @ w^T + b, Linear's product. */
static volt_tensor *affine(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b) {
    return volt_addmm(b, x, volt_transpose(w, 0, 1), 1.0, 1.0);
}

static void test_mlp(void **state) {
    (void)state;
    volt_tensor *x = randn(VOLT_SHAPE(16, 20), 1);
    volt_tensor *w1 = volt_requires_grad(randn(VOLT_SHAPE(12, 20), 2), true);
    volt_tensor *b1 = volt_requires_grad(randn(VOLT_SHAPE(12), 3), true);
    volt_tensor *w2 = volt_requires_grad(randn(VOLT_SHAPE(5, 12), 4), true);
    volt_tensor *b2 = volt_requires_grad(randn(VOLT_SHAPE(5), 5), true);
    volt_generator g = volt_generator_make(6, 0);
    volt_tensor *target = volt_randint(0, 5, VOLT_SHAPE(16), VOLT_I64, &g);

    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *h = affine(x, w1, b1);
    volt_tensor *r = volt_relu(h);
    volt_tensor *logits = affine(r, w2, b2);
    volt_tensor *loss = volt_cross_entropy(logits, target);
    volt_autocast_set(prev);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(h->dtype, VOLT_BF16);
    assert_int_equal(r->dtype, VOLT_BF16);
    assert_int_equal(logits->dtype, VOLT_BF16);
    assert_int_equal(loss->dtype, VOLT_F32);
    assert_int_equal(volt_backward(loss), VOLT_OK);
    const volt_tensor *params[4] = {w1, b1, w2, b2};
    for (int i = 0; i < 4; i++) assert_int_equal(params[i]->grad->dtype, VOLT_F32);

    /* f64 with the same roundings: operands and each product's result */
    volt_tensor *p64[4];
    for (int i = 0; i < 4; i++) {
        volt_tensor *d = volt_tensor_detach(params[i]);
        p64[i] = volt_requires_grad(i % 2 ? volt_to_dtype(d, VOLT_F64) : rounded64(d), true);
    }
    volt_tensor *h64 = rounded64(affine(rounded64(x), p64[0], p64[1]));
    volt_tensor *l64 = rounded64(affine(volt_relu(h64), p64[2], p64[3]));
    volt_tensor *loss64 = volt_cross_entropy(l64, target);
    assert_int_equal(volt_backward(loss64), VOLT_OK);
    assert_true(rel_diff(logits, l64) < 1.0 / 128); /* one bf16 step at most */
    assert_true(rel_diff(loss, loss64) < 1e-3);
    /* the gradients between the products are rounded to bf16 (the
     * reference's are not): within a few bf16 steps */
    for (int i = 0; i < 4; i++) {
        double d = rel_diff(params[i]->grad, p64[i]->grad);
        if (d > 2e-2) fail_msg("parameter %d: gradient off by %g", i, d);
    }
}

/* f32-kept ops on a bf16 tensor under autocast: the op on its f32 widening,
 * bit for bit, an f32 result, and a bf16 gradient back. */
static volt_tensor *kept_op(int which, const volt_tensor *t) {
    volt_tensor *w = volt_ones(VOLT_SHAPE(10), VOLT_F32), *b = volt_zeros(VOLT_SHAPE(10), VOLT_F32);
    volt_generator g = volt_generator_make(9, 0);
    switch (which) {
    case 0: return volt_layer_norm(t, 1, w, b, 1e-5);
    case 1: return volt_softmax(t, 1);
    case 2: return volt_log_softmax(t, 1);
    case 3: return volt_cross_entropy(t, volt_randint(0, 10, VOLT_SHAPE(6), VOLT_I64, &g));
    case 4: return volt_mse_loss(t, volt_zeros(VOLT_SHAPE(6, 10), VOLT_F32), VOLT_REDUCTION_MEAN);
    default: return volt_rms_norm(t, 1, w, 1e-6);
    }
}

static void test_f32_kept_ops(void **state) {
    (void)state;
    volt_tensor *src = volt_to_dtype(randn(VOLT_SHAPE(6, 10), 7), VOLT_BF16);
    for (int which = 0; which < 6; which++) {
        volt_scope_begin();
        volt_tensor *t = volt_requires_grad(volt_clone(src), true);
        volt_tensor *wide = volt_requires_grad(volt_to_dtype(src, VOLT_F32), true);
        volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
        volt_tensor *y = kept_op(which, t);
        volt_autocast_set(prev);
        volt_tensor *want = kept_op(which, wide);
        VT_ASSERT_NO_ERROR();
        assert_int_equal(y->dtype, VOLT_F32);
        assert_same_bits(y, want);
        volt_tensor *gy = volt_ones_like(y);
        assert_int_equal(volt_backward_ex(y, gy, false), VOLT_OK);
        assert_int_equal(volt_backward_ex(want, gy, false), VOLT_OK);
        assert_int_equal(t->grad->dtype, VOLT_BF16);
        assert_same_bits(volt_to_dtype(wide->grad, VOLT_BF16), t->grad);
        /* without autocast a bf16 tensor gives a bf16 result */
        if (which >= 1 && which <= 4) assert_int_equal(kept_op(which, t)->dtype, VOLT_BF16);
        volt_scope_end();
    }
}

static void test_attention(void **state) {
    (void)state;
    volt_tensor *q = volt_requires_grad(randn(VOLT_SHAPE(2, 3, 8, 16), 11), true);
    volt_tensor *k = randn(VOLT_SHAPE(2, 3, 8, 16), 12), *v = randn(VOLT_SHAPE(2, 3, 8, 16), 13);
    volt_tensor *k16 = volt_to_dtype(k, VOLT_BF16);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *y = volt_scaled_dot_product_attention(q, k16, v, true, 0.0); /* mixed */
    volt_tensor *qkv = volt_attention_qkv(randn(VOLT_SHAPE(2, 8, 48), 14), 4, true, 0.0);
    volt_autocast_set(prev);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(y->dtype, VOLT_BF16);
    assert_int_equal(qkv->dtype, VOLT_BF16);
    volt_tensor *want =
        volt_scaled_dot_product_attention(rounded64(q), rounded64(k), rounded64(v), true, 0.0);
    assert_true(rel_diff(y, want) < 1.0 / 128);
    /* an f32 attention recorded without autocast, its backward run inside
     * autocast: the products of attention's backward stay f32, the same
     * bits as a backward outside */
    volt_tensor *ya = volt_scaled_dot_product_attention(q, k, v, true, 0.0);
    volt_tensor *g = randn(ya->ndim, ya->shape, 15);
    assert_int_equal(volt_backward_ex(ya, g, true), VOLT_OK);
    volt_tensor *outside = volt_clone(q->grad);
    volt_tensor_clear_grad(q);
    prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    assert_int_equal(volt_backward_ex(ya, g, false), VOLT_OK);
    volt_autocast_set(prev);
    assert_int_equal(q->grad->dtype, VOLT_F32);
    assert_same_bits(q->grad, outside);
    /* without autocast, mixed dtypes are refused */
    assert_null(volt_scaled_dot_product_attention(q, k16, v, true, 0.0));
    VT_ASSERT_ERROR(volt_error_status(), "dtypes differ");
    volt_error_clear();
}

static void test_layers(void **state) {
    (void)state;
    volt_linear *fc = volt_linear_new(NULL, "fc", 8, 4);
    volt_layernorm *ln = volt_layernorm_new(NULL, "ln", 1, (const int64_t[]){4}, NULL);
    volt_tensor *x16 = volt_to_dtype(randn(VOLT_SHAPE(3, 8), 21), VOLT_BF16);
    volt_autocast_mode prev = volt_autocast_set(VOLT_AUTOCAST_BF16);
    volt_tensor *y = volt_linear_forward(fc, x16);
    volt_tensor *z = y ? volt_layernorm_forward(ln, y) : NULL;
    volt_autocast_set(prev);
    VT_ASSERT_NO_ERROR();
    assert_int_equal(y->dtype, VOLT_BF16);
    assert_int_equal(z->dtype, VOLT_F32);
    assert_null(volt_linear_forward(fc, x16));
    VT_ASSERT_ERROR(volt_error_status(), "Linear 'fc': input bf16[3,8] does not have");
    volt_error_clear();
    assert_null(volt_matmul(x16, randn(VOLT_SHAPE(8, 2), 22)));
    VT_ASSERT_ERROR(volt_error_status(), "dtypes differ (bf16 vs f32)");
    volt_error_clear();
    volt_module_free(&fc->base);
    volt_module_free(&ln->base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_mlp),
        VT_TEST(test_f32_kept_ops),
        VT_TEST(test_attention),
        VT_TEST(test_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
