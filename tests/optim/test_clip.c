/* test_clip.c: gradient clipping — clip_grad_norm's returned total norm (2,
 * 1, inf and a general p, worked out by hand), the in-place rescale by
 * max_norm / (total + 1e-6) only above max_norm, parameters without
 * gradients ignored, error_if_nonfinite, non-finite totals scaling anyway
 * like PyTorch, clip_grad_value, and the argument errors. */
#include "optim_helpers.h"

#include <math.h>

typedef struct {
    volt_tensor *a, *b, *c;
} trio;

/* a.grad = [3, 4], b.grad = [[12]], c has no gradient. */
static trio make(volt_dtype dtype) {
    trio t;
    t.a = oh_param((double[]){0, 0}, VOLT_SHAPE(2), dtype);
    t.b = oh_param((double[]){0}, VOLT_SHAPE(1, 1), dtype);
    t.c = oh_param((double[]){0}, VOLT_SHAPE(1), dtype);
    oh_set_grad(t.a, (double[]){3, -4});
    oh_set_grad(t.b, (double[]){12});
    return t;
}

static void drop(trio *t) {
    volt_tensor_free(t->a);
    volt_tensor_free(t->b);
    volt_tensor_free(t->c);
}

#define ALL(t) OH_PARAMS((t).a, (t).b, (t).c)

static void test_norms(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        volt_dtype dtype = d ? VOLT_F32 : VOLT_F64;
        double tol = d ? 1e-6 : 1e-12;
        trio t = make(dtype);
        /* Below max_norm: the total (sqrt(9 + 16 + 144) = 13), nothing scaled. */
        assert_true(fabs(volt_clip_grad_norm(ALL(t), 20, 2, false) - 13) < 1e-12);
        VT_ASSERT_CLOSE(t.a->grad, ((double[]){3, -4}), 2, 0, 0);
        assert_true(fabs(volt_clip_grad_norm(ALL(t), 100, 1, false) - 19) < 1e-12);
        assert_true(fabs(volt_clip_grad_norm(ALL(t), 100, INFINITY, false) - 12) < 1e-12);
        assert_true(fabs(volt_clip_grad_norm(ALL(t), 100, 3, false) - cbrt(27 + 64 + 1728)) < 1e-9);
        /* Above: every gradient times 6.5 / (13 + 1e-6). */
        assert_true(fabs(volt_clip_grad_norm(ALL(t), 6.5, 2, false) - 13) < 1e-12);
        double k = 6.5 / (13 + 1e-6);
        VT_ASSERT_CLOSE(t.a->grad, ((double[]){3 * k, -4 * k}), 2, tol, 0);
        VT_ASSERT_CLOSE(t.b->grad, ((double[]){12 * k}), 1, tol, 0);
        assert_null(t.c->grad);
        /* Infinity norm clipping. */
        assert_true(fabs(volt_clip_grad_norm(ALL(t), 1, INFINITY, false) - 12 * k) < 1e-5);
        VT_ASSERT_CLOSE(t.b->grad, ((double[]){1}), 1, 1e-5, 0);
        drop(&t);
    }
    /* No gradients at all: 0. */
    volt_tensor *p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
    assert_true(volt_clip_grad_norm(OH_PARAMS(p), 1, 2, true) == 0);
    volt_tensor_free(p);
}

static void test_nonfinite(void **state) {
    (void)state;
    trio t = make(VOLT_F64);
    oh_set_grad(t.b, (double[]){NAN});
    double total = volt_clip_grad_norm(ALL(t), 1, 2, true);
    assert_true(isnan(total));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "clip_grad_norm: the total norm of order 2 of the gradients is "
                                    "nan (non-finite), so they cannot be clipped");
    VT_ASSERT_CLOSE(t.a->grad, ((double[]){3, -4}), 2, 0, 0);
    oh_set_grad(t.b, (double[]){INFINITY});
    assert_true(isinf(volt_clip_grad_norm(ALL(t), 1, INFINITY, true)));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "order inf of the gradients is inf");
    /* Without the check PyTorch scales anyway: by 1 / (inf + 1e-6) = 0. */
    assert_true(isinf(volt_clip_grad_norm(ALL(t), 1, 2, false)));
    VT_ASSERT_CLOSE(t.a->grad, ((double[]){0, 0}), 2, 0, 0);
    VT_ASSERT_CLOSE(t.b->grad, ((double[]){NAN}), 1, 0, 0);
    drop(&t);
}

static void test_clip_value(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){0, 0, 0}, VOLT_SHAPE(3), VOLT_F32);
    volt_tensor *q = oh_param((double[]){0}, VOLT_SHAPE(1), VOLT_F32);
    oh_set_grad(p, (double[]){-3, 0.5, 7});
    assert_int_equal(volt_clip_grad_value(OH_PARAMS(p, q), 1), VOLT_OK);
    VT_ASSERT_CLOSE(p->grad, ((double[]){-1, 0.5, 1}), 3, 0, 0);
    assert_null(q->grad);
    assert_int_equal(volt_clip_grad_value(OH_PARAMS(p), -1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clip_grad_value: invalid clip_value -1");
    volt_tensor_free(p);
    volt_tensor_free(q);
}

static void test_errors(void **state) {
    (void)state;
    trio t = make(VOLT_F32);
    assert_true(isnan(volt_clip_grad_norm(ALL(t), 1, 0, false)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clip_grad_norm: invalid norm_type 0 (must be > 0");
    assert_true(isnan(volt_clip_grad_norm(ALL(t), NAN, 2, false)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clip_grad_norm: invalid max_norm nan");
    assert_true(isnan(volt_clip_grad_norm(OH_PARAMS(t.a, NULL), 1, 2, false)));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "clip_grad_norm: parameter 1 is NULL");
    VT_ASSERT_CLOSE(t.a->grad, ((double[]){3, -4}), 2, 0, 0);
    drop(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_norms),
        VT_TEST(test_nonfinite),
        VT_TEST(test_clip_value),
        VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
