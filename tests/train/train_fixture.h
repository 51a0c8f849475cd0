/* train_fixture.h: what the train suites share — a tiny synthetic
 * regression datamodule (tensor datasets, unshuffled loaders), a linear
 * module whose hooks record their names, and small list helpers. */
#ifndef VOLT_TRAIN_FIXTURE_H
#define VOLT_TRAIN_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "volt_test.h"

/* ------------------------------------------------------------ datamodule */

typedef struct {
    volt_datamodule base;
    volt_dataset *train_ds, *val_ds;
    volt_data_loader *train, *val, *test, *predict;
    struct name_list *rec; /* "Datamodule.setup(<stage>)", ...; NULL: none */
    int setups[VOLT_STAGE_COUNT], teardowns[VOLT_STAGE_COUNT];
} tiny_dm;

static inline void list_add(struct name_list *l, const char *prefix, const char *name);
static inline volt_status tiny_setup(volt_datamodule *d, volt_stage stage) {
    tiny_dm *dm = (tiny_dm *)d;
    dm->setups[stage]++;
    char name[48];
    snprintf(name, sizeof name, "setup(%s)", volt_stage_name(stage));
    if (dm->rec) list_add(dm->rec, "Datamodule.", name);
    return VOLT_OK;
}
static inline volt_status tiny_teardown(volt_datamodule *d, volt_stage stage) {
    tiny_dm *dm = (tiny_dm *)d;
    dm->teardowns[stage]++;
    char name[48];
    snprintf(name, sizeof name, "teardown(%s)", volt_stage_name(stage));
    if (dm->rec) list_add(dm->rec, "Datamodule.", name);
    return VOLT_OK;
}

static inline volt_data_loader *tiny_train(volt_datamodule *d) { return ((tiny_dm *)d)->train; }
static inline volt_data_loader *tiny_val(volt_datamodule *d) { return ((tiny_dm *)d)->val; }
static inline volt_data_loader *tiny_test(volt_datamodule *d) { return ((tiny_dm *)d)->test; }
static inline volt_data_loader *tiny_predict(volt_datamodule *d) { return ((tiny_dm *)d)->predict; }
static inline void tiny_free(volt_datamodule *d) {
    tiny_dm *dm = (tiny_dm *)d;
    volt_data_loader_free(dm->train);
    volt_data_loader_free(dm->val);
    volt_data_loader_free(dm->test);
    volt_data_loader_free(dm->predict);
    volt_dataset_free(dm->train_ds);
    volt_dataset_free(dm->val_ds);
    free(dm);
}
static const volt_datamodule_ops tiny_ops = {
    .name = "tiny",
    .setup = tiny_setup,
    .teardown = tiny_teardown,
    .train_loader = tiny_train,
    .val_loader = tiny_val,
    .test_loader = tiny_test,
    .predict_loader = tiny_predict,
    .free = tiny_free,
};

/* x [n, d] f64 with x[i][j] = sin(i + 2 j), y [n, 1] = x . (1, -2, 3, ...) + 0.5. */
static inline volt_dataset *tiny_dataset(int64_t n, int64_t d, int64_t offset) {
    double *x = malloc((size_t)(n * d) * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        y[i] = 0.5;
        for (int64_t j = 0; j < d; j++) {
            x[i * d + j] = sin((double)(i + offset) + 2.0 * (double)j);
            y[i] += x[i * d + j] * (double)((j % 2) ? -(j + 1) : (j + 1));
        }
    }
    volt_scope_begin();
    volt_tensor *tx = volt_from_array(x, VOLT_F64, 2, (int64_t[]){n, d});
    volt_tensor *ty = volt_from_array(y, VOLT_F64, 2, (int64_t[]){n, 1});
    volt_dataset *ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){tx, ty});
    volt_scope_end();
    free(x);
    free(y);
    return ds;
}

/* n_train / n_val items of dimension d in batches of batch_size (n_val 0:
 * no validation loader). */
static inline volt_datamodule *tiny_dm_new(int64_t n_train, int64_t n_val, int64_t d,
                                           int64_t batch_size) {
    tiny_dm *dm = calloc(1, sizeof *dm);
    volt_datamodule_init(&dm->base, &tiny_ops);
    volt_data_loader_options o = {.batch_size = batch_size};
    dm->train_ds = tiny_dataset(n_train, d, 0);
    dm->train = volt_data_loader_new(dm->train_ds, &o);
    if (n_val > 0) {
        dm->val_ds = tiny_dataset(n_val, d, 1000);
        dm->val = volt_data_loader_new(dm->val_ds, &o);
        dm->test = volt_data_loader_new(dm->val_ds, &o);
        dm->predict = volt_data_loader_new(dm->val_ds, &o);
    }
    return &dm->base;
}

/* ------------------------------------------------------------ the module */

#define REC_MAX 2048

/* A recorded list of names. */
typedef struct name_list {
    int n;
    char *items[REC_MAX];
} name_list;

static inline void list_add(name_list *l, const char *prefix, const char *name) {
    if (l->n >= REC_MAX) return;
    size_t k = strlen(prefix) + strlen(name) + 1;
    l->items[l->n] = malloc(k);
    snprintf(l->items[l->n], k, "%s%s", prefix, name);
    l->n++;
}
static inline void list_clear(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    l->n = 0;
}
static inline int list_count(const name_list *l, const char *name) {
    int c = 0;
    for (int i = 0; i < l->n; i++) c += strcmp(l->items[i], name) == 0;
    return c;
}
/* Fails the test at the first difference, printing both lists around it. */
static inline void list_assert_equal(const name_list *got, const name_list *want) {
    int n = got->n < want->n ? got->n : want->n;
    for (int i = 0; i <= n; i++) {
        bool same = i < n ? strcmp(got->items[i], want->items[i]) == 0 : got->n == want->n;
        if (same) continue;
        fprintf(stderr, "hook lists differ at %d (got %d, want %d):\n", i, got->n, want->n);
        for (int k = i - 3 < 0 ? 0 : i - 3; k < i + 4; k++)
            fprintf(stderr, "  [%d] got %-40s want %s\n", k, k < got->n ? got->items[k] : "-",
                    k < want->n ? want->items[k] : "-");
        fail();
    }
}

typedef struct {
    volt_module base;
    volt_tensor *w, *b; /* [d, 1], [1] f64 */
    double lr;
    name_list *rec; /* NULL: nothing recorded */
    /* behaviour switches for the tests */
    int64_t fail_epoch, fail_batch; /* training_step fails there (-1: never) */
    bool exception_seen;
    double last_grad_norm, last_grad_max;
    int64_t stop_at_step; /* request_stop at this global step (-1: never) */
} lin_module;

static inline volt_tensor *lin_forward(lin_module *m, const volt_tensor *x) {
    return volt_add(volt_matmul(x, m->w), m->b);
}

static inline volt_status lin_hook(volt_module *self, volt_step *step) {
    lin_module *m = (lin_module *)self;
    const char *name = volt_step_hook_name(step);
    if (m->rec) list_add(m->rec, "", name);
    if (strcmp(name, "on_exception") == 0) m->exception_seen = true;
    /* the model_eval / model_train overrides do the default's work */
    if (strstr(name, "_model_eval")) volt_module_train(self, false);
    if (strstr(name, "_model_train")) volt_module_train(self, true);
    if (strcmp(name, "optimizer_step") == 0) {
        volt_params p = volt_optimizer_params(volt_step_optimizer(step));
        double sq = 0, mx = 0;
        for (int64_t i = 0; i < p.count; i++) {
            const volt_tensor *g = p.tensors[i]->grad;
            for (int64_t k = 0; g && k < volt_tensor_numel(g); k++) {
                double v = volt_tensor_get_flat(g, k);
                sq += v * v;
                if (fabs(v) > mx) mx = fabs(v);
            }
        }
        m->last_grad_norm = sqrt(sq);
        m->last_grad_max = mx;
        return volt_optimizer_step(volt_step_optimizer(step));
    }
    if (strcmp(name, "configure_gradient_clipping") == 0) {
        const volt_trainer_config *c = volt_trainer_get_config(volt_step_trainer(step));
        return volt_clip_gradients(step, volt_step_optimizer(step), c->gradient_clip_val,
                                   c->gradient_clip_algorithm);
    }
    return VOLT_OK;
}

static inline volt_tensor *lin_training_step(volt_module *self, volt_batch *b, int64_t i,
                                             volt_step *step) {
    lin_module *m = (lin_module *)self;
    volt_trainer *t = volt_step_trainer(step);
    if (m->rec) list_add(m->rec, "", "training_step");
    if (volt_trainer_current_epoch(t) == m->fail_epoch && i == m->fail_batch) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "deliberate failure");
        return NULL;
    }
    if (m->stop_at_step >= 0 && volt_trainer_global_step(t) >= m->stop_at_step)
        volt_trainer_request_stop(t);
    return volt_mse_loss(lin_forward(m, b->x), b->y, VOLT_REDUCTION_MEAN);
}

static inline volt_tensor *lin_eval_step(volt_module *self, volt_batch *b, int64_t i,
                                         volt_step *step) {
    (void)i;
    lin_module *m = (lin_module *)self;
    if (m->rec) list_add(m->rec, "", volt_step_hook_name(step));
    volt_tensor *out = lin_forward(m, b->x);
    if (strcmp(volt_step_hook_name(step), "predict_step") == 0) return out;
    return NULL;
}

static inline volt_status lin_configure(volt_module *self, volt_optim_setup *o) {
    lin_module *m = (lin_module *)self;
    if (m->rec) list_add(m->rec, "", "configure_optimizers");
    volt_optimizer *sgd =
        volt_sgd_new(volt_module_parameters(self), &(volt_sgd_options){.lr = m->lr});
    return volt_optim_setup_add(o, sgd, NULL, VOLT_INTERVAL_EPOCH);
}

/* Steps and configure_optimizers only (hooks default). */
static const volt_module_ops lin_plain_ops = {
    .name = "lin",
    .training_step = lin_training_step,
    .validation_step = lin_eval_step,
    .test_step = lin_eval_step,
    .predict_step = lin_eval_step,
    .configure_optimizers = lin_configure,
    .on_exception = lin_hook,
};

/* Every hook recorded. */
static const volt_module_ops lin_rec_ops = {
    .name = "lin",
    .training_step = lin_training_step,
    .validation_step = lin_eval_step,
    .test_step = lin_eval_step,
    .predict_step = lin_eval_step,
    .configure_optimizers = lin_configure,
    .setup = lin_hook,
    .teardown = lin_hook,
    .on_fit_start = lin_hook,
    .on_fit_end = lin_hook,
    .on_sanity_check_start = lin_hook,
    .on_sanity_check_end = lin_hook,
    .on_train_start = lin_hook,
    .on_train_end = lin_hook,
    .on_train_epoch_start = lin_hook,
    .on_train_epoch_end = lin_hook,
    .on_train_batch_start = lin_hook,
    .on_train_batch_end = lin_hook,
    .on_validation_start = lin_hook,
    .on_validation_end = lin_hook,
    .on_validation_epoch_start = lin_hook,
    .on_validation_epoch_end = lin_hook,
    .on_validation_batch_start = lin_hook,
    .on_validation_batch_end = lin_hook,
    .on_test_start = lin_hook,
    .on_test_end = lin_hook,
    .on_test_epoch_start = lin_hook,
    .on_test_epoch_end = lin_hook,
    .on_test_batch_start = lin_hook,
    .on_test_batch_end = lin_hook,
    .on_predict_start = lin_hook,
    .on_predict_end = lin_hook,
    .on_predict_epoch_start = lin_hook,
    .on_predict_epoch_end = lin_hook,
    .on_predict_batch_start = lin_hook,
    .on_predict_batch_end = lin_hook,
    .on_before_backward = lin_hook,
    .on_after_backward = lin_hook,
    .on_before_optimizer_step = lin_hook,
    .on_before_zero_grad = lin_hook,
    .optimizer_step = lin_hook,
    .configure_gradient_clipping = lin_hook,
    .on_exception = lin_hook,
    .on_validation_model_eval = lin_hook,
    .on_validation_model_train = lin_hook,
    .on_test_model_eval = lin_hook,
    .on_test_model_train = lin_hook,
    .on_predict_model_eval = lin_hook,
    .on_before_batch_transfer = lin_hook,
    .transfer_batch_to_device = lin_hook,
    .on_after_batch_transfer = lin_hook,
};

/* Weights w[j] = 0.1 (j + 1), b = 0. */
static inline void lin_init(lin_module *m, const volt_module_ops *ops, int64_t d, double lr) {
    memset(m, 0, sizeof *m);
    volt_module_init(&m->base, ops);
    m->lr = lr;
    m->fail_epoch = m->fail_batch = m->stop_at_step = -1;
    volt_scope_begin();
    volt_tensor *w = volt_zeros(2, (int64_t[]){d, 1}, VOLT_F64);
    double *wd = volt_tensor_data(w);
    for (int64_t j = 0; j < d; j++) wd[j] = 0.1 * (double)(j + 1);
    m->w = volt_module_add_parameter(&m->base, "w", w);
    m->b = volt_module_add_parameter(&m->base, "b", volt_zeros(1, (int64_t[]){1}, VOLT_F64));
    volt_scope_end();
}

/* A quiet configuration: no progress bar, summary, logger or checkpoints,
 * one thread. */
static inline volt_trainer_config quiet_config(void) {
    volt_trainer_config c = volt_trainer_defaults();
    c.enable_progress_bar = false;
    c.enable_model_summary = false;
    c.logger = false;
    c.enable_checkpointing = false;
    c.num_threads = 1;
    return c;
}

/* A fresh directory under VOLT_TEST_TMPDIR (or /tmp) for one test. */
static inline const char *fresh_dir(const char *name) {
    static char path[1024];
    const char *base = getenv("VOLT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/%s", base ? base : "/tmp", name);
    char cmd[2200];
    if (snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path) < 0 ||
        system(cmd) != 0)
        fail_msg("cannot make %s", path);
    return path;
}

/* A classification set: x [n, features] f32 from randn(seed); y (i64) =
 * argmax(x W) for a fixed W [features, classes]. */
static inline volt_dataset *fixture_classes_dataset(int64_t n, int64_t features, int64_t classes,
                                                    uint64_t seed) {
    volt_scope_begin();
    volt_generator g = volt_generator_make(seed, 0), gw = volt_generator_make(1234, 0);
    volt_tensor *x = volt_randn(VOLT_SHAPE(n, features), VOLT_F32, &g);
    volt_tensor *w = volt_randn(VOLT_SHAPE(features, classes), VOLT_F32, &gw);
    volt_tensor *y = volt_argmax(volt_matmul(x, w), 1, false);
    volt_dataset *ds =
        volt_tensor_dataset_new(2, (const char *const[]){"x", "y"}, (volt_tensor *const[]){x, y});
    volt_scope_end();
    return ds;
}

/* The mean of v[0..n). */
static inline double fixture_mean(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s / n;
}

#endif
