/* test_optim_one_region.c: an optimizer step runs the updates of all its
 * parameters in one OpenMP region (its threads take chunks of 8192
 * elements from one counter, no barrier between parameters). Parameters of
 * uneven sizes (1, 17, 4099 and 2 x 8192 + 37 elements), one without a
 * gradient and one in bf16 (which Adam and the others update on f32
 * copies, after the region) in one optimizer, stepped on 1, 2 and 3
 * threads with every loop forced parallel, end up with the bits of each
 * parameter stepped alone in its own optimizer on one thread — for every
 * built-in optimizer type and several options; also when the calling
 * thread first does a task set beside (volt_cpu_beside_set), which runs
 * once, on that thread, only with a team. */
#include "optim_helpers.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "ops/cpu/parallel.h"

enum { N_PARAMS = 6, STEPS = 3 };
static const int64_t sizes[N_PARAMS] = {4099, 17, 1, 300, 33, 2 * 8192 + 37};
/* parameter 3 gets no gradient; parameter 4 is bf16 */

typedef struct {
    const char *type;
    volt_sgd_options sgd;
    volt_adam_options adam;
    volt_rmsprop_options rms;
    volt_adagrad_options ada;
    volt_lion_options lion;
} variant;

static const variant variants[] = {
    {"SGD", .sgd = {.lr = 0.05, .momentum = 0.9}}, /* the vectorised path */
    {"SGD", .sgd = {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true}},
    {"Adam", .adam = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .amsgrad = true}},
    {"AdamW", .adam = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1}},
    {"RMSprop", .rms = {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .momentum = 0.5, .centered = true}},
    {"Adagrad", .ada = {.lr = 0.1, .lr_decay = 0.1, .eps = 1e-10}},
    {"Lion", .lion = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .weight_decay = 0.1}},
};

static volt_optimizer *make(const variant *v, volt_params ps) {
    const char *t = v->type;
    if (strcmp(t, "SGD") == 0) return volt_sgd_new(ps, &v->sgd);
    if (strcmp(t, "Adam") == 0) return volt_adam_new(ps, &v->adam);
    if (strcmp(t, "AdamW") == 0) return volt_adamw_new(ps, &v->adam);
    if (strcmp(t, "RMSprop") == 0) return volt_rmsprop_new(ps, &v->rms);
    if (strcmp(t, "Adagrad") == 0) return volt_adagrad_new(ps, &v->ada);
    return volt_lion_new(ps, &v->lion);
}

/* Parameter i's initial values and its gradient at step s (caller-owned). */
static volt_tensor *values(int i, uint64_t stream) {
    volt_generator g = volt_generator_make(11 + (uint64_t)i, stream);
    volt_tensor *t = volt_randn(VOLT_SHAPE(sizes[i]), VOLT_F32, &g);
    return volt_persist(i == 4 ? volt_to_dtype(t, VOLT_BF16) : t);
}

/* The task set beside each step: it sleeps 1 ms (the other threads take
 * the chunks meanwhile) and counts its runs and those on the thread that
 * set it. */
static bool use_beside;
static int beside_runs, beside_on_caller;

static void beside_task(void *caller) {
    nanosleep(&(struct timespec){0, 1000000}, NULL);
    beside_runs++;
    beside_on_caller += pthread_equal(pthread_self(), *(pthread_t *)caller) != 0;
}

/* Steps the parameters (in one optimizer, or each in its own) and returns
 * them (caller-owned). */
static void run(const variant *v, bool together, volt_tensor **p) {
    for (int i = 0; i < N_PARAMS; i++) p[i] = volt_requires_grad(values(i, 0), true);
    volt_optimizer *opt[N_PARAMS] = {0};
    if (together)
        opt[0] = make(v, (volt_params){N_PARAMS, p, NULL});
    else
        for (int i = 0; i < N_PARAMS; i++) opt[i] = make(v, (volt_params){1, &p[i], NULL});
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < N_PARAMS; i++) {
            volt_tensor *g = i == 3 ? NULL : values(i, 1 + (uint64_t)s);
            oh_set_grad_tensor(p[i], g);
            volt_tensor_free(g);
        }
        pthread_t self = pthread_self();
        for (int i = 0; i < N_PARAMS; i++) {
            if (use_beside) volt_cpu_beside_set(beside_task, &self);
            if (opt[i]) assert_int_equal(volt_optimizer_step(opt[i]), VOLT_OK);
            volt_cpu_beside_set(NULL, NULL);
        }
    }
    for (int i = 0; i < N_PARAMS; i++) {
        volt_optimizer_free(opt[i]);
        volt_tensor_clear_grad(p[i]);
    }
}

static void same_bits(bool beside) {
    int saved = volt_get_num_threads();
    for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++) {
        volt_tensor *alone[N_PARAMS], *together[N_PARAMS];
        volt_set_num_threads(1);
        run(&variants[k], false, alone);
        volt_cpu_set_region_ns(0); /* every update goes parallel */
        for (int threads = 1; threads <= 3; threads++) {
            volt_set_num_threads(threads);
            use_beside = beside;
            beside_runs = beside_on_caller = 0;
            run(&variants[k], true, together);
            use_beside = false;
            /* once per step with a team, on the calling thread; not alone */
            assert_int_equal(beside_runs, beside && threads > 1 ? STEPS : 0);
            assert_int_equal(beside_on_caller, beside_runs);
            for (int i = 0; i < N_PARAMS; i++) {
                size_t bytes = (size_t)sizes[i] * volt_dtype_size(alone[i]->dtype);
                if (memcmp(volt_tensor_data(alone[i]), volt_tensor_data(together[i]), bytes))
                    fail_msg("%s (variant %zu), %d threads: parameter %d differs", variants[k].type,
                             k, threads, i);
                volt_tensor_free(together[i]);
            }
        }
        volt_cpu_set_region_ns(-1);
        for (int i = 0; i < N_PARAMS; i++) volt_tensor_free(alone[i]);
    }
    volt_set_num_threads(saved);
}

static void test_one_region_same_bits(void **state) {
    (void)state;
    same_bits(false);
}

static void test_task_beside_same_bits(void **state) {
    (void)state;
    same_bits(true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_one_region_same_bits),
        VT_TEST(test_task_beside_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
