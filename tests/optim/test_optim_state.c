/* test_optim_state.c: optimizer (and scheduler) state for checkpoints — the
 * names and JSON of a state dict, exact resume (10 steps, save to a
 * safetensors file, 10 more, against a fresh optimizer and scheduler loaded
 * from the file doing the last 10: equal bit for bit) for every optimizer
 * paired with a scheduler, dtype conversion on load, and every refusal
 * (another type, other shapes or counts, unknown or missing slots, bad
 * JSON) leaving the optimizer as it was. */
#include "optim_helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ------------------------------------------------------------- contents */

static void test_state_dict_contents(void **state) {
    (void)state;
    volt_tensor *w = oh_param((double[]){1, 2, 3, 4, 5, 6}, VOLT_SHAPE(2, 3), VOLT_F32);
    volt_tensor *b = oh_param((double[]){1, 2, 3}, VOLT_SHAPE(3), VOLT_F32);
    volt_optimizer *opt = volt_adam_new(OH_PARAMS(w, b), &(volt_adam_options){.lr = 0.01});
    volt_lr_scheduler *sched = volt_step_lr_new(opt, 2, 0.5);
    for (int s = 0; s < 3; s++) {
        oh_set_grad(w, (double[]){1, -1, 1, -1, 1, -1});
        oh_set_grad(b, (double[]){0.5, 0.5, 0.5});
        volt_optimizer_step(opt);
        volt_lr_scheduler_step(sched);
    }
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(opt, &json);
    assert_non_null(sd);
    assert_int_equal(sd->count, 4);
    assert_string_equal(sd->names[0], "state.0.exp_avg");
    assert_string_equal(sd->names[1], "state.0.exp_avg_sq");
    assert_string_equal(sd->names[3], "state.1.exp_avg_sq");
    VT_ASSERT_SHAPE(sd->tensors[2], 3);
    assert_false(sd->owns_tensors);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "format")->valuestring, "volt-optimizer-1");
    assert_string_equal(cJSON_GetObjectItem(root, "type")->valuestring, "Adam");
    assert_int_equal(cJSON_GetObjectItem(root, "step_count")->valueint, 3);
    cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "param_groups"), 0);
    assert_true(cJSON_GetObjectItem(g0, "lr")->valuedouble == 0.005); /* halved at epoch 2 */
    assert_true(cJSON_GetObjectItem(g0, "initial_lr")->valuedouble == 0.01);
    assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(g0, "betas"), 1)->valuedouble == 0.999);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(g0, "amsgrad")));
    char *shapes = cJSON_PrintUnformatted(cJSON_GetObjectItem(g0, "shapes"));
    assert_string_equal(shapes, "[[2,3],[3]]");
    cJSON_free(shapes);
    cJSON *s1 = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "state"), "1");
    assert_int_equal(cJSON_GetObjectItem(s1, "step")->valueint, 3);
    cJSON_Delete(root);
    free(json);
    volt_state_dict_free(sd);

    char *sj = volt_lr_scheduler_state_dict(sched);
    assert_non_null(strstr(sj, "\"type\":\"StepLR\""));
    assert_non_null(strstr(sj, "\"last_epoch\":3"));
    free(sj);
    volt_lr_scheduler_free(sched);
    volt_optimizer_free(opt);
    volt_tensor_free(w);
    volt_tensor_free(b);
}

/* ---------------------------------------------------------- exact resume */

typedef struct {
    const char *name;
    bool two_groups;
    volt_optimizer *(*make)(volt_params p);
    volt_lr_scheduler *(*sched)(volt_optimizer *opt);
} setup;

static volt_optimizer *sgd(volt_params p) {
    return volt_sgd_new(
        p,
        &(volt_sgd_options){.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01});
}
static volt_optimizer *sgd_plain(volt_params p) {
    return volt_sgd_new(p, &(volt_sgd_options){.lr = 0.05});
}
static volt_optimizer *adam(volt_params p) {
    return volt_adam_new(p, &(volt_adam_options){.lr = 0.01, .amsgrad = true});
}
static volt_optimizer *adamw(volt_params p) {
    return volt_adamw_new(p, &(volt_adam_options){.lr = 0.01, .weight_decay = 0.1});
}
static volt_optimizer *rmsprop(volt_params p) {
    return volt_rmsprop_new(p, &(volt_rmsprop_options){.momentum = 0.5, .centered = true});
}
static volt_optimizer *adagrad(volt_params p) {
    return volt_adagrad_new(p, &(volt_adagrad_options){.lr = 0.1, .lr_decay = 0.01});
}
static volt_optimizer *lion(volt_params p) {
    return volt_lion_new(p, &(volt_lion_options){.lr = 1e-3, .weight_decay = 0.1});
}

static volt_lr_scheduler *cosine(volt_optimizer *o) { return volt_cosine_lr_new(o, 7); }
static volt_lr_scheduler *one_cycle(volt_optimizer *o) {
    return volt_one_cycle_lr_new(o, 0.05, 25, NULL);
}
static volt_lr_scheduler *step_lr(volt_optimizer *o) { return volt_step_lr_new(o, 3, 0.5); }
static volt_lr_scheduler *restarts(volt_optimizer *o) {
    return volt_cosine_warm_restarts_lr_new(o, 3, 2, 1e-4);
}
static volt_lr_scheduler *sequential(volt_optimizer *o) {
    return volt_sequential_lr_new(
        o, 2,
        (volt_lr_scheduler *[]){volt_linear_lr_new(o, 0.2, 1, 4), volt_exponential_lr_new(o, 0.9)},
        (int64_t[]){6});
}
static volt_lr_scheduler *plateau(volt_optimizer *o) {
    volt_plateau_options p = volt_plateau_defaults();
    p.patience = 1;
    p.factor = 0.5;
    p.cooldown = 1;
    return volt_reduce_lr_on_plateau_new(o, &p);
}
static volt_lr_scheduler *chained(volt_optimizer *o) {
    return volt_chained_lr_new(2, (volt_lr_scheduler *[]){volt_constant_lr_new(o, 0.5, 5),
                                                          volt_exponential_lr_new(o, 0.95)});
}

static const setup setups[] = {
    {"SGD+cosine", true, sgd, cosine},
    {"Adam+onecycle", false, adam, one_cycle},
    {"AdamW+step", true, adamw, step_lr},
    {"RMSprop+restarts", false, rmsprop, restarts},
    {"Adagrad+sequential", true, adagrad, sequential},
    {"Lion+plateau", false, lion, plateau},
    {"SGD+chained", false, sgd_plain, chained},
};

typedef struct {
    volt_tensor *w, *b;
    volt_optimizer *opt;
    volt_lr_scheduler *sched;
} run;

static run start(const setup *su, const volt_tensor *w0, const volt_tensor *b0) {
    run r;
    r.w = volt_requires_grad(volt_persist(volt_clone(w0)), true);
    r.b = volt_requires_grad(volt_persist(volt_clone(b0)), true);
    r.opt = su->make(su->two_groups ? OH_PARAMS(r.w) : OH_PARAMS(r.w, r.b));
    if (su->two_groups) {
        assert_int_equal(volt_optimizer_add_param_group(r.opt, OH_PARAMS(r.b), NULL), VOLT_OK);
        volt_optimizer_set_lr(r.opt, 1, 0.02);
    }
    r.sched = su->sched(r.opt);
    assert_non_null(r.sched);
    return r;
}

static void finish(run *r) {
    volt_lr_scheduler_free(r->sched);
    volt_optimizer_free(r->opt);
    volt_tensor_free(r->w);
    volt_tensor_free(r->b);
}

/* Step s (0-based) of the schedule: fixed gradients; b has none every 4th. */
static void do_step(run *r, int s) {
    volt_scope_begin();
    volt_generator g = volt_generator_make(11, (uint64_t)s);
    oh_set_grad_tensor(r->w, volt_randn(VOLT_SHAPE(5, 3), VOLT_F32, &g));
    oh_set_grad_tensor(r->b, s % 4 == 3 ? NULL : volt_randn(VOLT_SHAPE(3), VOLT_F32, &g));
    assert_int_equal(volt_optimizer_step(r->opt), VOLT_OK);
    volt_status st = volt_lr_scheduler_needs_metric(r->sched)
                         ? volt_lr_scheduler_step_metric(r->sched, s < 4 ? 1.0 - 0.1 * s : 0.7)
                         : volt_lr_scheduler_step(r->sched);
    assert_int_equal(st, VOLT_OK);
    volt_scope_end();
}

static void save(run *r, const char *path) {
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(r->opt, &json);
    char *sjson = volt_lr_scheduler_state_dict(r->sched);
    assert_non_null(sd);
    assert_non_null(sjson);
    /* The parameters go along, as the module's state would in a checkpoint. */
    int n = (int)sd->count + 2;
    const char **names = calloc((size_t)n, sizeof *names);
    volt_tensor **tensors = calloc((size_t)n, sizeof *tensors);
    for (int64_t i = 0; i < sd->count; i++) {
        names[i] = sd->names[i];
        tensors[i] = sd->tensors[i];
    }
    names[n - 2] = "w";
    names[n - 1] = "b";
    tensors[n - 2] = r->w;
    tensors[n - 1] = r->b;
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "optimizer", json);
    cJSON_AddStringToObject(meta, "scheduler", sjson);
    char *meta_text = cJSON_PrintUnformatted(meta);
    assert_int_equal(volt_safetensors_save(path, n, names, tensors, meta_text), VOLT_OK);
    cJSON_free(meta_text);
    cJSON_Delete(meta);
    free(names);
    free(tensors);
    free(json);
    free(sjson);
    volt_state_dict_free(sd);
}

static run resume(const setup *su, const char *path) {
    volt_state_dict *file = volt_state_dict_load(path);
    assert_non_null(file);
    run r = start(su, volt_state_dict_get(file, "w"), volt_state_dict_get(file, "b"));
    /* The optimizer's own tensors only. */
    char *names[16];
    volt_tensor *tensors[16];
    volt_state_dict only = {0, names, tensors, false};
    for (int64_t i = 0; i < file->count; i++)
        if (strncmp(file->names[i], "state.", 6) == 0) {
            names[only.count] = file->names[i];
            tensors[only.count++] = file->tensors[i];
        }
    assert_int_equal(only.count, file->count - 2);
    volt_safetensors *f = volt_safetensors_open(path);
    assert_int_equal(
        volt_optimizer_load_state_dict(r.opt, &only, volt_safetensors_metadata(f, "optimizer")),
        VOLT_OK);
    assert_int_equal(
        volt_lr_scheduler_load_state_dict(r.sched, volt_safetensors_metadata(f, "scheduler")),
        VOLT_OK);
    volt_safetensors_close(f);
    volt_state_dict_free(file);
    return r;
}

static void test_exact_resume(void **state) {
    (void)state;
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/optim_resume.safetensors", dir ? dir : ".");
    for (size_t k = 0; k < sizeof setups / sizeof setups[0]; k++) {
        const setup *su = &setups[k];
        volt_generator g = volt_generator_make(5, k);
        volt_tensor *w0 = volt_randn(VOLT_SHAPE(5, 3), VOLT_F32, &g);
        volt_tensor *b0 = volt_randn(VOLT_SHAPE(3), VOLT_F32, &g);
        run a = start(su, w0, b0);
        for (int s = 0; s < 10; s++) do_step(&a, s);
        save(&a, path);
        for (int s = 10; s < 20; s++) do_step(&a, s);
        run b = resume(su, path);
        for (int s = 10; s < 20; s++) do_step(&b, s);
        if (memcmp(volt_tensor_data(a.w), volt_tensor_data(b.w), 15 * sizeof(float)) != 0 ||
            memcmp(volt_tensor_data(a.b), volt_tensor_data(b.b), 3 * sizeof(float)) != 0)
            fail_msg("%s: the resumed run differs from the uninterrupted one", su->name);
        for (int grp = 0; grp < volt_optimizer_num_groups(a.opt); grp++) {
            assert_true(volt_optimizer_lr(a.opt, grp) == volt_optimizer_lr(b.opt, grp));
            assert_true(volt_lr_scheduler_last_lr(a.sched, grp) ==
                        volt_lr_scheduler_last_lr(b.sched, grp));
            if (volt_optimizer_has_momentum(a.opt))
                assert_true(volt_optimizer_momentum(a.opt, grp) ==
                            volt_optimizer_momentum(b.opt, grp));
        }
        assert_int_equal(volt_optimizer_step_count(a.opt), volt_optimizer_step_count(b.opt));
        assert_int_equal(volt_lr_scheduler_last_epoch(a.sched),
                         volt_lr_scheduler_last_epoch(b.sched));
        finish(&a);
        finish(&b);
    }
}

/* A state saved from f64 parameters loads into an f32 optimizer. */
static void test_load_converts_dtype(void **state) {
    (void)state;
    volt_tensor *p64 = oh_param((double[]){1, 2}, VOLT_SHAPE(2), VOLT_F64);
    volt_tensor *p32 = oh_param((double[]){1, 2}, VOLT_SHAPE(2), VOLT_F32);
    volt_optimizer *a = volt_rmsprop_new(OH_PARAMS(p64), NULL);
    volt_optimizer *b = volt_rmsprop_new(OH_PARAMS(p32), NULL);
    oh_set_grad(p64, (double[]){0.5, -1});
    volt_optimizer_step(a);
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(a, &json);
    assert_int_equal(volt_optimizer_load_state_dict(b, sd, json), VOLT_OK);
    free(json);
    volt_state_dict_free(sd);
    sd = volt_optimizer_state_dict(b, &json);
    assert_int_equal(sd->tensors[0]->dtype, VOLT_F32);
    VT_ASSERT_CLOSE(sd->tensors[0], ((double[]){0.0025, 0.01}), 2, 1e-6, 0);
    free(json);
    volt_state_dict_free(sd);
    volt_optimizer_free(a);
    volt_optimizer_free(b);
    volt_tensor_free(p64);
    volt_tensor_free(p32);
}

/* ------------------------------------------------------------- refusals */

static char *replace(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    assert_non_null(at);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static void expect_refused(volt_optimizer *opt, const volt_state_dict *sd, const char *json,
                           volt_status status, const char *message, const char *before) {
    assert_int_equal(volt_optimizer_load_state_dict(opt, sd, json), status);
    VT_ASSERT_ERROR(status, message);
    char *now = NULL;
    volt_state_dict *cur = volt_optimizer_state_dict(opt, &now);
    assert_string_equal(now, before);
    free(now);
    volt_state_dict_free(cur);
}

static void test_load_refusals(void **state) {
    (void)state;
    volt_tensor *w = oh_param((double[]){1, 2, 3, 4, 5, 6}, VOLT_SHAPE(2, 3), VOLT_F32);
    volt_tensor *b = oh_param((double[]){1, 2, 3}, VOLT_SHAPE(3), VOLT_F32);
    volt_tensor *wt = oh_param((double[]){1, 2, 3, 4, 5, 6}, VOLT_SHAPE(3, 2), VOLT_F32);
    volt_optimizer *src = volt_adam_new(OH_PARAMS(w, b), NULL);
    oh_set_grad(w, (double[]){1, 1, 1, 1, 1, 1});
    oh_set_grad(b, (double[]){1, 1, 1});
    volt_optimizer_step(src);
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(src, &json);

    /* The target: another Adam over the same shapes, with its own state. */
    volt_tensor *w2 = oh_param((double[]){1, 2, 3, 4, 5, 6}, VOLT_SHAPE(2, 3), VOLT_F32);
    volt_tensor *b2 = oh_param((double[]){1, 2, 3}, VOLT_SHAPE(3), VOLT_F32);
    volt_optimizer *dst = volt_adam_new(OH_PARAMS(w2, b2), &(volt_adam_options){.lr = 0.5});
    char *before = NULL;
    volt_state_dict *tmp = volt_optimizer_state_dict(dst, &before);
    volt_state_dict_free(tmp);

    volt_optimizer *sgd = volt_sgd_new(OH_PARAMS(w2, b2), &(volt_sgd_options){.lr = 0.1});
    assert_int_equal(volt_optimizer_load_state_dict(sgd, sd, json), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "SGD: load_state_dict: state type 'Adam' does not match this optimizer 'SGD'");
    volt_optimizer_free(sgd);

    volt_optimizer *other = volt_adam_new(OH_PARAMS(wt, b2), NULL);
    assert_int_equal(volt_optimizer_load_state_dict(other, sd, json), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "Adam: load_state_dict: parameter 0 (group 0) has shape [2,3] "
                                    "in the state, f32[3,2] here");
    volt_optimizer_free(other);
    other = volt_adam_new(OH_PARAMS(w2), NULL);
    assert_int_equal(volt_optimizer_load_state_dict(other, sd, json), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "param group 0 has 2 parameters in the state, 1 here");
    volt_optimizer_add_param_group(other, OH_PARAMS(b2), NULL);
    assert_int_equal(volt_optimizer_load_state_dict(other, sd, json), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "1 param groups in the state, 2 here");
    volt_optimizer_free(other);

    expect_refused(dst, sd, "{\"format\": ", VOLT_ERR_FORMAT, "the JSON does not parse", before);
    char *bad = replace(json, "volt-optimizer-1", "volt-optimizer-9");
    expect_refused(dst, sd, bad, VOLT_ERR_FORMAT, "unknown format 'volt-optimizer-9'", before);
    free(bad);
    bad = replace(json, "\"eps\"", "\"epsilon\"");
    expect_refused(dst, sd, bad, VOLT_ERR_FORMAT, "param group 0: 'eps' is missing", before);
    free(bad);
    bad = replace(json, "\"lr\":0.001", "\"lr\":\"inf\"");
    expect_refused(dst, sd, bad, VOLT_ERR_INVALID_ARGUMENT, "param group 0: invalid lr inf",
                   before);
    free(bad);
    bad = replace(json, "0.999", "1.5");
    expect_refused(dst, sd, bad, VOLT_ERR_INVALID_ARGUMENT,
                   "param group 0: invalid beta2 1.5 (must be in [0, 1))", before);
    free(bad);
    bad = replace(json, "\"1\":{\"step\":1}", "\"7\":{\"step\":1}");
    expect_refused(dst, sd, bad, VOLT_ERR_SHAPE,
                   "state of parameter '7', which this optimizer "
                   "lacks (2 parameters)",
                   before);
    free(bad);

    /* Tensors: a slot missing, an unknown one, a wrong shape. */
    volt_state_dict partial = {sd->count - 1, sd->names, sd->tensors, false};
    expect_refused(dst, &partial, json, VOLT_ERR_INVALID_ARGUMENT,
                   "the state of parameter 1 lacks state.1.exp_avg_sq", before);
    char *names[4] = {sd->names[0], sd->names[1], sd->names[2], "state.1.momentum"};
    volt_state_dict renamed = {4, names, sd->tensors, false};
    expect_refused(dst, &renamed, json, VOLT_ERR_INVALID_ARGUMENT,
                   "unexpected tensor 'state.1.momentum'", before);
    volt_tensor *tensors[4] = {sd->tensors[0], sd->tensors[1], sd->tensors[2], sd->tensors[0]};
    volt_state_dict reshaped = {4, sd->names, tensors, false};
    expect_refused(dst, &reshaped, json, VOLT_ERR_SHAPE,
                   "tensor 'state.1.exp_avg_sq' f32[2,3] does not match its parameter f32[3]",
                   before);
    expect_refused(dst, NULL, json, VOLT_ERR_INVALID_ARGUMENT, "lacks state.0.exp_avg", before);

    /* And the real thing loads. */
    assert_int_equal(volt_optimizer_load_state_dict(dst, sd, json), VOLT_OK);
    assert_true(volt_optimizer_lr(dst, 0) == 1e-3);
    free(before);
    free(json);
    volt_state_dict_free(sd);
    volt_optimizer_free(src);
    volt_optimizer_free(dst);
    volt_tensor_free(w);
    volt_tensor_free(b);
    volt_tensor_free(wt);
    volt_tensor_free(w2);
    volt_tensor_free(b2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_state_dict_contents),
        VT_TEST(test_exact_resume),
        VT_TEST(test_load_converts_dtype),
        VT_TEST(test_load_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
