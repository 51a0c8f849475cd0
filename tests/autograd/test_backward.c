/* test_backward.c: the backward engine — values, accumulation, broadcasting,
 * retain_graph, explicit output gradients, no-grad, detach, grad-ready hooks
 * (once per pass, complete, in reverse order), saved tensors freed as nodes
 * run, deep graphs, and every error the engine reports. */
#include <math.h>

#include "autograd/autograd_impl.h"
#include "volt_test.h"

static volt_tensor *leaf_values(const double *v, int ndim, const int64_t *shape) {
    return volt_requires_grad(volt_from_array(v, VOLT_F64, ndim, shape), true);
}

static void test_chain_values(void **state) {
    (void)state;
    volt_tensor *x = leaf_values((double[]){1, 2, 3}, VOLT_SHAPE(3));
    volt_tensor *w = leaf_values((double[]){4, 5, 6}, VOLT_SHAPE(3));
    /* loss = sum((x * w + x)^2 ... ) written as sum(u * u), u = x*w + x */
    volt_tensor *u = volt_add(volt_mul(x, w), x);
    volt_tensor *loss = volt_sum_all(volt_mul(u, u));
    assert_string_equal(volt_grad_fn_name(loss), "sum");
    assert_string_equal(volt_grad_fn_name(u), "add");
    assert_null(volt_grad_fn_name(x));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    /* u = x (w + 1) = [5, 12, 21]; dL/dx = 2u (w+1); dL/dw = 2u x */
    VT_ASSERT_CLOSE(x->grad, ((double[]){50, 144, 294}), 3, 1e-12, 0);
    VT_ASSERT_CLOSE(w->grad, ((double[]){10, 48, 126}), 3, 1e-12, 0);
    assert_false(x->grad->requires_grad);
}

static void test_accumulation_and_clear(void **state) {
    (void)state;
    volt_tensor *x = leaf_values((double[]){1, 2}, VOLT_SHAPE(2));
    for (int i = 0; i < 3; i++) {
        volt_tensor *loss = volt_sum_all(volt_mul_scalar(x, 2.0));
        assert_int_equal(volt_backward(loss), VOLT_OK);
    }
    VT_ASSERT_CLOSE(x->grad, ((double[]){6, 6}), 2, 0, 0);
    volt_tensor_clear_grad(x);
    assert_null(x->grad);
    /* A leaf used twice in one graph gets both contributions. */
    volt_tensor *loss = volt_sum_all(volt_add(x, volt_mul(x, x)));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad, ((double[]){3, 5}), 2, 1e-12, 0);
}

static void test_broadcast_grads_are_summed(void **state) {
    (void)state;
    volt_tensor *a = leaf_values((double[]){1, 2, 3, 4, 5, 6}, VOLT_SHAPE(2, 3));
    volt_tensor *row = leaf_values((double[]){10, 20, 30}, VOLT_SHAPE(3));
    volt_tensor *col = leaf_values((double[]){1, 2}, VOLT_SHAPE(2, 1));
    volt_tensor *s = volt_scalar(3, VOLT_F64);
    volt_requires_grad(s, true);
    volt_tensor *y = volt_mul(volt_add(volt_add(a, row), col), s);
    assert_int_equal(volt_backward(volt_sum_all(y)), VOLT_OK);
    VT_ASSERT_SHAPE(row->grad, 3);
    VT_ASSERT_SHAPE(col->grad, 2, 1);
    VT_ASSERT_SHAPE(s->grad);
    VT_ASSERT_CLOSE(row->grad, ((double[]){6, 6, 6}), 3, 0, 0);
    VT_ASSERT_CLOSE(col->grad, ((double[]){9, 9}), 2, 0, 0);
    /* ds = sum(a + row + col) = 21 + 6*... : a 21, row 2*60 = 120, col 3*3 = 9 */
    VT_ASSERT_CLOSE(s->grad, ((double[]){150}), 1, 1e-12, 0);
}

static void test_retain_graph(void **state) {
    (void)state;
    volt_tensor *x = leaf_values((double[]){2}, VOLT_SHAPE(1));
    volt_tensor *loss = volt_sum_all(volt_mul(x, x));
    assert_int_equal(volt_backward_ex(loss, NULL, true), VOLT_OK);
    assert_int_equal(volt_backward_ex(loss, NULL, false), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad, ((double[]){8}), 1, 0, 0);
    assert_int_equal(volt_backward(loss), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "the graph through 'sum' was already freed by an earlier "
                                    "backward (pass retain_graph to run backward twice)");
    /* The refused pass changed nothing. */
    VT_ASSERT_CLOSE(x->grad, ((double[]){8}), 1, 0, 0);
}

static void test_explicit_grad_output(void **state) {
    (void)state;
    volt_tensor *x = leaf_values((double[]){1, 2, 3}, VOLT_SHAPE(3));
    volt_tensor *y = volt_mul(x, x);
    assert_int_equal(volt_backward(y), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "a gradient can be implied only for a one-element output, "
                                    "got f64[3] (pass grad_output)");
    volt_tensor *bad = volt_ones(VOLT_SHAPE(2), VOLT_F64);
    assert_int_equal(volt_backward_ex(y, bad, false), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "grad_output f64[2] does not match output f64[3]");
    /* A grad_output of another floating dtype is converted. */
    volt_tensor *g = volt_from_array((float[]){1, 0.5f, -1}, VOLT_F32, VOLT_SHAPE(3));
    assert_int_equal(volt_backward_ex(y, g, false), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad, ((double[]){2, 2, -6}), 3, 0, 0);
}

static void test_backward_refusals(void **state) {
    (void)state;
    volt_tensor *c = volt_ones(VOLT_SHAPE(1), VOLT_F32);
    assert_int_equal(volt_backward(c), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "backward: f32[1] does not require grad and has no grad_fn");
    assert_int_equal(volt_backward(NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "backward: output is NULL");
    volt_tensor *i = volt_ones(VOLT_SHAPE(2), VOLT_I64);
    assert_null(volt_requires_grad(i, true));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "only floating-point tensors can require grad, got i64[2]");
    volt_tensor *x = leaf_values((double[]){1}, VOLT_SHAPE(1));
    volt_tensor *y = volt_mul(x, x);
    assert_null(volt_requires_grad(y, false));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "is the output of 'mul', not a leaf");
    assert_null(volt_requires_grad(NULL, true));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "requires_grad: argument 'tensor' is NULL");
}

static void test_inplace_change_of_saved_tensor(void **state) {
    (void)state;
    volt_tensor *a = leaf_values((double[]){1, 2}, VOLT_SHAPE(2));
    volt_tensor *b = volt_from_array((double[]){3, 4}, VOLT_F64, VOLT_SHAPE(2));
    volt_tensor *loss = volt_sum_all(volt_mul(a, b)); /* saves b for a's gradient */
    volt_mul_scalar_(b, 10.0);
    assert_int_equal(volt_backward(loss), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "backward: f64[2] saved by 'mul' was modified by an in-place "
                                    "operation (version 1, saved at 0)");
    assert_null(a->grad); /* nothing was accumulated */
    /* In-place writes into a tensor that requires grad are refused in grad
     * mode and allowed under no-grad (what optimizers do). */
    assert_null(volt_add_(a, b));
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "add_: in-place operation on f64[2], which requires grad");
    VOLT_NO_GRAD { assert_non_null(volt_add_(a, b)); }
    VT_ASSERT_CLOSE(a, ((double[]){31, 42}), 2, 0, 0);
}

static void test_no_grad_and_detach(void **state) {
    (void)state;
    volt_tensor *x = leaf_values((double[]){1, 2}, VOLT_SHAPE(2));
    assert_true(volt_grad_enabled());
    volt_tensor *y = NULL;
    VOLT_NO_GRAD {
        assert_false(volt_grad_enabled());
        VOLT_NO_GRAD { assert_false(volt_grad_enabled()); }
        assert_false(volt_grad_enabled());
        y = volt_mul(x, x);
    }
    assert_true(volt_grad_enabled());
    assert_false(y->requires_grad);
    assert_null(y->grad_fn);
    volt_set_grad_enabled(false);
    volt_no_grad_begin();
    volt_no_grad_end();
    assert_false(volt_grad_enabled()); /* restored to what it was */
    volt_set_grad_enabled(true);
    volt_no_grad_end();
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "no_grad_end: no no-grad region is open");

    volt_tensor *z = volt_mul(x, x);
    volt_tensor *d = volt_tensor_detach(z);
    assert_false(d->requires_grad);
    assert_null(d->grad_fn);
    assert_ptr_equal(volt_tensor_data(d), volt_tensor_data(z));
    /* Gradient does not flow through the detached branch. */
    volt_tensor *loss = volt_sum_all(volt_add(volt_mul(d, x), x));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad, ((double[]){2, 5}), 2, 0, 0);
}

typedef struct {
    int calls[4];
    int order[8];
    int n_order;
    double seen[4];
} hook_log;

static hook_log *log_of;

static void record_hook(volt_tensor *leaf, void *user) {
    int id = (int)(intptr_t)user;
    log_of->calls[id]++;
    log_of->order[log_of->n_order++] = id;
    log_of->seen[id] = volt_tensor_get_flat(leaf->grad, 0);
}

static void test_grad_ready_hooks(void **state) {
    (void)state;
    hook_log log = {0};
    log_of = &log;
    volt_tensor *w1 = leaf_values((double[]){2}, VOLT_SHAPE(1));
    volt_tensor *w2 = leaf_values((double[]){3}, VOLT_SHAPE(1));
    volt_tensor *w3 = leaf_values((double[]){5}, VOLT_SHAPE(1));
    for (int i = 1; i <= 3; i++)
        assert_int_equal(volt_tensor_add_grad_hook((volt_tensor *[]){NULL, w1, w2, w3}[i],
                                                   record_hook, (void *)(intptr_t)i),
                         VOLT_OK);
    volt_tensor *x = volt_from_array((double[]){7}, VOLT_F64, VOLT_SHAPE(1));
    /* A three-layer chain, w1 also used again at the end: its hook must
     * fire once, with the complete gradient. */
    volt_tensor *h = volt_mul(volt_mul(volt_mul(x, w1), w2), w3);
    volt_tensor *loss = volt_sum_all(volt_add(h, w1));
    assert_int_equal(volt_backward(loss), VOLT_OK);
    assert_int_equal(log.calls[1], 1);
    assert_int_equal(log.calls[2], 1);
    assert_int_equal(log.calls[3], 1);
    /* Reverse order of use: w3 is ready first, w1 last. */
    assert_int_equal(log.order[0], 3);
    assert_int_equal(log.order[1], 2);
    assert_int_equal(log.order[2], 1);
    assert_true(log.seen[3] == 7.0 * 2 * 3);
    assert_true(log.seen[2] == 7.0 * 2 * 5);
    assert_true(log.seen[1] == 7.0 * 3 * 5 + 1);
    assert_int_equal(volt_tensor_add_grad_hook(h, record_hook, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "is not a leaf that requires grad");
    assert_int_equal(volt_tensor_add_grad_hook(w1, NULL, NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "add_grad_hook: NULL hook");
}

static int64_t memory_at_hook;
static void memory_hook(volt_tensor *leaf, void *user) {
    (void)leaf;
    (void)user;
    memory_at_hook = volt_cpu_memory_stats().allocated_bytes;
}

static void test_saved_tensors_freed_during_backward(void **state) {
    (void)state;
    const int64_t n = 1 << 16; /* 512 KiB per f64 tensor */
    volt_tensor *x = volt_requires_grad(volt_full(VOLT_SHAPE(n), 1.0001, VOLT_F64), true);
    volt_tensor *first = volt_requires_grad(volt_full(VOLT_SHAPE(n), 1.0, VOLT_F64), true);
    assert_int_equal(volt_tensor_add_grad_hook(first, memory_hook, NULL), VOLT_OK);
    for (int retain = 0; retain < 2; retain++) {
        volt_tensor *loss;
        volt_scope_begin();
        volt_scope_begin();
        /* first is used at the start, so its hook fires at the end; each
         * mul saves the running product, held only by the graph. */
        volt_tensor *h = volt_mul(first, x);
        for (int i = 0; i < 8; i++) h = volt_mul(h, x);
        loss = volt_keep(volt_sum_all(h));
        volt_scope_end();
        int64_t before = volt_cpu_memory_stats().allocated_bytes;
        assert_int_equal(volt_backward_ex(loss, NULL, retain), VOLT_OK);
        int64_t after = volt_cpu_memory_stats().allocated_bytes;
        if (!retain) {
            /* When the last node runs, most of the eight saved products are
             * gone although the leaves' gradients now exist: memory fell
             * while backward was running (freeing at the end would leave it
             * above `before`). */
            assert_true(memory_at_hook < before - 4 * n * 8);
            assert_true(after < before - 5 * n * 8); /* 8 products freed, 2 grads made */
        } else {
            assert_true(after >= before);
        }
        volt_scope_end();
        volt_tensor_clear_grad(x);
        volt_tensor_clear_grad(first);
    }
}

static void test_deep_graph(void **state) {
    (void)state;
    volt_tensor *x = leaf_values((double[]){1}, VOLT_SHAPE(1));
    volt_tensor *one = volt_ones(VOLT_SHAPE(1), VOLT_F64);
    volt_tensor *loss;
    volt_scope_begin();
    volt_scope_begin();
    volt_tensor *h = x;
    for (int i = 0; i < 100000; i++) h = volt_add(h, one);
    loss = volt_keep(volt_sum_all(h));
    volt_scope_end();
    assert_int_equal(volt_backward(loss), VOLT_OK);
    VT_ASSERT_CLOSE(x->grad, ((double[]){1}), 1, 0, 0);
    volt_scope_end(); /* releasing the 100k-node graph must not recurse */
    /* An unused deep graph is released without backward, too. */
    volt_scope_begin();
    h = x;
    for (int i = 0; i < 100000; i++) h = volt_add(h, one);
    volt_scope_end();
}

static void test_dtype_of_leaf_gradients(void **state) {
    (void)state;
    volt_tensor *x =
        volt_requires_grad(volt_from_array((float[]){1, 2}, VOLT_F32, VOLT_SHAPE(2)), true);
    volt_tensor *loss =
        volt_sum_all(volt_mul(volt_to_dtype(x, VOLT_F64), volt_scalar(3, VOLT_F64)));
    assert_int_equal(loss->dtype, VOLT_F64);
    assert_int_equal(volt_backward(loss), VOLT_OK);
    assert_int_equal(x->grad->dtype, VOLT_F32);
    VT_ASSERT_CLOSE(x->grad, ((double[]){3, 3}), 2, 0, 0);
}

/* A deliberately wrong backward: gradcheck must catch it. */
static volt_status wrong_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    (void)node;
    grads[0] = volt_mul_scalar(g, 3.0); /* the right factor is 2 */
    return VOLT_OK;
}

static volt_tensor *doubled_wrongly(volt_tensor **in, void *ctx) {
    (void)ctx;
    volt_tensor *out = volt_mul_scalar(volt_tensor_detach(in[0]), 2.0);
    const volt_tensor *inputs[1] = {in[0]};
    if (volt_autograd_should_record(1, inputs))
        volt_autograd_record("doubled_wrongly", wrong_backward, out, 1, inputs);
    return out;
}

static volt_tensor *square(volt_tensor **in, void *ctx) {
    (void)ctx;
    return volt_mul(in[0], in[0]);
}

static void test_gradcheck_catches_wrong_gradients(void **state) {
    (void)state;
    volt_tensor *x = vt_leaf(VOLT_SHAPE(3), 1, 1.0, 0.0);
    VT_GRADCHECK(square, NULL, 1, x);
    assert_int_equal(volt_gradcheck(doubled_wrongly, NULL, 1, (volt_tensor *[]){x}, NULL),
                     VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "gradcheck: input 0 (f64[3]) element 0: analytic");
    volt_tensor *f = volt_requires_grad(volt_ones(VOLT_SHAPE(2), VOLT_F32), true);
    assert_int_equal(volt_gradcheck(square, NULL, 1, (volt_tensor *[]){f}, NULL), VOLT_ERR_DTYPE);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "must be an f64 leaf");
    /* Non-contiguous leaves work too. */
    volt_tensor *s = vt_leaf_strided(VOLT_SHAPE(3, 2), 2, 1.0, 0.0);
    assert_false(volt_tensor_is_contiguous(s));
    VT_GRADCHECK(square, NULL, 1, s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_chain_values),
        VT_TEST(test_accumulation_and_clear),
        VT_TEST(test_broadcast_grads_are_summed),
        VT_TEST(test_retain_graph),
        VT_TEST(test_explicit_grad_output),
        VT_TEST(test_backward_refusals),
        VT_TEST(test_inplace_change_of_saved_tensor),
        VT_TEST(test_no_grad_and_detach),
        VT_TEST(test_grad_ready_hooks),
        VT_TEST(test_saved_tensors_freed_during_backward),
        VT_TEST(test_deep_graph),
        VT_TEST(test_dtype_of_leaf_gradients),
        VT_TEST(test_gradcheck_catches_wrong_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
