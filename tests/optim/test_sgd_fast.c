/* test_sgd_fast.c: the vectorised f32 SGD path (momentum, no weight decay,
 * no nesterov, not maximising, after the first step) against the same
 * arithmetic written out in float here, element by element — bit for bit,
 * for sizes that do not fill a vector (1, 7, 33), one of a few vectors and
 * one past the parallel grain run on 1 and 2 threads; dampening; the first
 * step (buf = g) and a parameter without a gradient in the same optimizer;
 * and the paths the fast one leaves to the general kernel (weight decay,
 * nesterov, maximize) still matching hand-computed values. The bf16 fast
 * path (precision "bf16-true"; AVX-512 intrinsics where the CPU has them,
 * the tail in the plain loop) against float arithmetic rounded to bf16 at
 * each store, NaN included, on 1 and 3 threads. */
#include "optim_helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Values of a float vector of n elements from a seed (exactly representable
 * in float; no autograd). */
static volt_tensor *rand_f32(int64_t n, uint64_t seed) {
    volt_generator g = volt_generator_make(seed, 0);
    return volt_persist(volt_randn(VOLT_SHAPE(n), VOLT_F32, &g));
}

/* Runs `steps` steps of SGD(lr, momentum, dampening) on a parameter
 * initialised from p0 with gradients grads[s], and checks each step against
 * the float arithmetic of PyTorch's order: buf = g on the first step, else
 * buf = momentum buf + (1 - dampening) g; p = p + (-lr) buf. */
static void check_sgd(int64_t n, int steps, double lr, double momentum, double dampening) {
    volt_tensor *p0 = rand_f32(n, 1);
    volt_tensor *p = volt_requires_grad(volt_persist(volt_clone(p0)), true);
    volt_optimizer *opt = volt_sgd_new(
        OH_PARAMS(p), &(volt_sgd_options){.lr = lr, .momentum = momentum, .dampening = dampening});
    assert_non_null(opt);
    float *want = malloc((size_t)n * sizeof *want), *buf = malloc((size_t)n * sizeof *buf);
    memcpy(want, volt_tensor_data(p0), (size_t)n * sizeof *want);
    const float mom = (float)momentum, keep = (float)(1.0 - dampening), neg_lr = (float)(-lr);
    for (int s = 0; s < steps; s++) {
        volt_tensor *g = rand_f32(n, 100 + (uint64_t)s);
        const float *gv = volt_tensor_data(g);
        oh_set_grad_tensor(p, g);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        for (int64_t i = 0; i < n; i++) {
            volatile float prod = buf[i] * mom; /* no fused multiply-add here either */
            volatile float kg = keep * gv[i];
            float b = s == 0 ? gv[i] : prod + kg;
            buf[i] = b;
            volatile float step = neg_lr * b;
            want[i] = want[i] + step;
        }
        const float *got = volt_tensor_data(p);
        for (int64_t i = 0; i < n; i++)
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
                fail_msg("n %lld step %d element %lld: got %.9g, want %.9g", (long long)n, s,
                         (long long)i, (double)got[i], (double)want[i]);
        volt_tensor_free(g);
    }
    free(want);
    free(buf);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
    volt_tensor_free(p0);
}

static void test_fast_path_bitwise(void **state) {
    (void)state;
    const int64_t sizes[] = {1, 7, 33, 1000, 150001};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        check_sgd(sizes[i], 4, 0.05, 0.9, 0.0);
        check_sgd(sizes[i], 3, 0.1, 0.5, 0.25);
    }
    VT_ASSERT_NO_ERROR();
}

/* rand_f32's values rounded to bf16. */
static volt_tensor *rand_bf16(int64_t n, uint64_t seed) {
    volt_tensor *f = rand_f32(n, seed);
    volt_tensor *t = volt_persist(volt_to_dtype(f, VOLT_BF16));
    volt_tensor_free(f);
    return t;
}

/* The same for a bf16 parameter (precision "bf16-true"): each element's
 * operations in float, the buffer and the parameter rounded to bf16 when
 * stored (the step uses the unrounded buffer value). Gradients are bf16;
 * one is NaN at step 2, which must give the parameter bf16's quiet NaN. */
static void check_sgd_bf16(int64_t n, int steps, double lr, double momentum, double dampening) {
    volt_tensor *p0 = rand_bf16(n, 1);
    volt_tensor *p = volt_requires_grad(volt_persist(volt_clone(p0)), true);
    volt_optimizer *opt = volt_sgd_new(
        OH_PARAMS(p), &(volt_sgd_options){.lr = lr, .momentum = momentum, .dampening = dampening});
    assert_non_null(opt);
    uint16_t *want = malloc((size_t)n * sizeof *want), *buf = malloc((size_t)n * sizeof *buf);
    memcpy(want, volt_tensor_data(p0), (size_t)n * sizeof *want);
    const float mom = (float)momentum, keep = (float)(1.0 - dampening), neg_lr = (float)(-lr);
    for (int s = 0; s < steps; s++) {
        volt_tensor *g = rand_bf16(n, 100 + (uint64_t)s);
        uint16_t *gv = volt_tensor_data(g);
        if (s == 2) gv[n / 2] = 0x7f81; /* a signalling NaN */
        oh_set_grad_tensor(p, g);
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
        for (int64_t i = 0; i < n; i++) {
            float gi = volt_bf16_to_f32(gv[i]);
            volatile float prod = volt_bf16_to_f32(buf[i]) * mom;
            volatile float kg = keep * gi;
            float b = s == 0 ? gi : prod + kg;
            buf[i] = volt_f32_to_bf16(b);
            volatile float step = neg_lr * b;
            want[i] = volt_f32_to_bf16(volt_bf16_to_f32(want[i]) + step);
        }
        const uint16_t *got = volt_tensor_data(p);
        for (int64_t i = 0; i < n; i++)
            if (got[i] != want[i])
                fail_msg("bf16 n %lld step %d element %lld: got 0x%04x, want 0x%04x", (long long)n,
                         s, (long long)i, got[i], want[i]);
        volt_tensor_free(g);
    }
    if (steps > 2) assert_int_equal(((const uint16_t *)volt_tensor_data(p))[n / 2], 0x7fc1);
    free(want);
    free(buf);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
    volt_tensor_free(p0);
}

static void test_fast_path_bf16(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    const int64_t sizes[] = {1, 7, 33, 1000, 150001};
    for (int threads = 1; threads <= 3; threads += 2) {
        volt_set_num_threads(threads);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            check_sgd_bf16(sizes[i], 4, 0.05, 0.9, 0.0);
            check_sgd_bf16(sizes[i], 3, 0.1, 0.5, 0.25);
        }
    }
    volt_set_num_threads(saved);
    VT_ASSERT_NO_ERROR();
}

/* Past the parallel grain the elements are split between threads: the
 * result does not depend on how many. */
static void test_fast_path_threads(void **state) {
    (void)state;
    int saved = volt_get_num_threads();
    for (int threads = 1; threads <= 3; threads++) {
        volt_set_num_threads(threads);
        check_sgd(150001, 3, 0.05, 0.9, 0.0);
        check_sgd(65539, 2, 0.05, 0.9, 0.0);
    }
    volt_set_num_threads(saved);
    VT_ASSERT_NO_ERROR();
}

/* One optimizer, two parameters: one steps every time, the other misses a
 * gradient once (skipped, its buffer untouched); then both on the fast path. */
static void test_mixed_parameters(void **state) {
    (void)state;
    volt_tensor *a = oh_param((double[]){1, 2}, VOLT_SHAPE(2), VOLT_F32);
    volt_tensor *b = oh_param((double[]){-1}, VOLT_SHAPE(1), VOLT_F32);
    volt_optimizer *opt =
        volt_sgd_new(OH_PARAMS(a, b), &(volt_sgd_options){.lr = 0.5, .momentum = 0.5});
    oh_set_grad(a, (double[]){1, 2});
    oh_set_grad(b, (double[]){4});
    assert_int_equal(volt_optimizer_step(opt), VOLT_OK); /* bufs a [1, 2], b [4] */
    VT_ASSERT_CLOSE(a, ((double[]){0.5, 1}), 2, 0, 0);
    VT_ASSERT_CLOSE(b, ((double[]){-3}), 1, 0, 0);
    oh_set_grad(a, (double[]){2, 0});
    volt_tensor_clear_grad(b);
    assert_int_equal(volt_optimizer_step(opt), VOLT_OK); /* buf a = [2.5, 1] */
    VT_ASSERT_CLOSE(a, ((double[]){-0.75, 0.5}), 2, 0, 0);
    VT_ASSERT_CLOSE(b, ((double[]){-3}), 1, 0, 0);
    oh_set_grad(a, (double[]){0, 0});
    oh_set_grad(b, (double[]){2});
    assert_int_equal(volt_optimizer_step(opt), VOLT_OK); /* a [1.25, 0.5], b 0.5*4+2 = 4 */
    VT_ASSERT_CLOSE(a, ((double[]){-1.375, 0.25}), 2, 0, 0);
    VT_ASSERT_CLOSE(b, ((double[]){-5}), 1, 0, 0);
    volt_optimizer_free(opt);
    volt_tensor_free(a);
    volt_tensor_free(b);
}

/* Weight decay, nesterov and maximize keep the general kernel (f32). */
static void test_general_cases_f32(void **state) {
    (void)state;
    volt_tensor *p = oh_param((double[]){1, -2}, VOLT_SHAPE(2), VOLT_F32);
    volt_optimizer *opt = volt_sgd_new(
        OH_PARAMS(p), &(volt_sgd_options){.lr = 0.5, .momentum = 0.5, .weight_decay = 0.5});
    for (int s = 0; s < 2; s++) {
        oh_set_grad(p, (double[]){1, 1});
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
    }
    /* step 1: d = [1.5, 0]; buf = d; p = [0.25, -2]
     * step 2: d = [1.125, 0]; buf = [1.875, 0]; p = [-0.6875, -2] */
    VT_ASSERT_CLOSE(p, ((double[]){-0.6875, -2}), 2, 0, 0);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
    p = oh_param((double[]){1}, VOLT_SHAPE(1), VOLT_F32);
    opt = volt_sgd_new(
        OH_PARAMS(p),
        &(volt_sgd_options){.lr = 0.5, .momentum = 0.5, .nesterov = true, .maximize = true});
    for (int s = 0; s < 2; s++) {
        oh_set_grad(p, (double[]){1});
        assert_int_equal(volt_optimizer_step(opt), VOLT_OK);
    }
    /* d = -1; step 1: buf = -1, d = -1.5, p = 1.75; step 2: buf = -1.5,
     * d = -1.75, p = 2.625 */
    VT_ASSERT_CLOSE(p, ((double[]){2.625}), 1, 0, 0);
    volt_optimizer_free(opt);
    volt_tensor_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_fast_path_bitwise), VT_TEST(test_fast_path_threads),
        VT_TEST(test_fast_path_bf16),    VT_TEST(test_mixed_parameters),
        VT_TEST(test_general_cases_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
