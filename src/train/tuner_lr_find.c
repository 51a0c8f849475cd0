/* tuner_lr_find.c: Lightning's learning-rate finder (Tuner.lr_find) — a short
 * fit on a private trainer whose callback sets the learning rate of every
 * optimizer step from an exponential or linear sweep, records the loss
 * smoothed as Lightning does (beta 0.98, bias-corrected), stops when it
 * diverges, and suggests the rate of the steepest descent; the module comes
 * back bit for bit and the curve can be written as CSV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_impl.h"
#include "train/tuner_impl.h"

#define OP "lr_find"
#define SMOOTH_BETA 0.98 /* Lightning's _LRCallback */
#define SKIP_BEGIN 10    /* Lightning's suggestion(skip_begin=10, skip_end=1) */
#define SKIP_END 1

volt_lr_find_options volt_lr_find_defaults(void) {
    return (volt_lr_find_options){
        .min_lr = 1e-8,
        .max_lr = 1.0,
        .num_training = 100,
        .mode = "exponential",
        .early_stop_threshold = 4.0,
        .update_attr = NULL,
        .csv_path = NULL,
        .verbose = false,
    };
}

void volt_lr_find_result_free(volt_lr_find_result *r) {
    if (!r) return;
    free(r->lrs);
    free(r->losses);
    free(r->raw_losses);
    free(r);
}

/* ------------------------------------------------------------- options */

static volt_status check_options(const volt_lr_find_options *o, bool *linear) {
    const char *mode = o->mode ? o->mode : "exponential";
    *linear = strcmp(mode, "linear") == 0;
    if (!*linear && strcmp(mode, "exponential") != 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              OP ": mode '%s' is not one of exponential, linear", mode);
    if (!(o->min_lr > 0) || !isfinite(o->min_lr))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              OP ": min_lr must be finite and > 0 (got %g)", o->min_lr);
    if (!(o->max_lr > o->min_lr) || !isfinite(o->max_lr))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              OP ": max_lr must be finite and > min_lr = %g (got %g)", o->min_lr,
                              o->max_lr);
    if (o->num_training < 2)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              OP ": num_training must be >= 2 (got %lld)",
                              (long long)o->num_training);
    double th = o->early_stop_threshold;
    if (!isnan(th) && (!(th > 0) || !isfinite(th)))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              OP ": early_stop_threshold must be finite and > 0, or NAN to never "
                                 "stop (got %g)",
                              th);
    if (o->csv_path && !o->csv_path[0])
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": csv_path is empty (NULL: no CSV)");
    return VOLT_OK;
}

/* The rate of step i of n: min * (max/min)^(i/(n-1)) or min + (max-min) i/(n-1);
 * the first step runs at min_lr, the last at max_lr. */
static double sweep_lr(const volt_lr_find_options *o, bool linear, int64_t i) {
    double r = (double)i / (double)(o->num_training - 1);
    if (i == o->num_training - 1) return o->max_lr;
    return linear ? o->min_lr + (o->max_lr - o->min_lr) * r
                  : o->min_lr * pow(o->max_lr / o->min_lr, r);
}

/* ----------------------------------------------------------- the callback */

typedef struct {
    volt_callback base;
    const volt_lr_find_options *opt;
    bool linear;
    volt_lr_find_result *res;
    double avg, best;  /* Lightning's avg_loss and best_loss */
    double window_sum; /* losses of the open accumulation window */
    int64_t window_n;
    int64_t steps_seen; /* the trainer's global step at the last point */
} lr_finder;

static volt_status finder_fit_start(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    volt_tuner_drop_schedulers(volt_step_trainer(step));
    ((lr_finder *)self)->steps_seen = 0;
    return VOLT_OK;
}

/* Every group of every optimizer at the rate of the coming step. */
static volt_status finder_batch_start(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    lr_finder *f = (lr_finder *)self;
    volt_trainer *t = volt_step_trainer(step);
    int64_t k = f->res->count < f->opt->num_training ? f->res->count : f->opt->num_training - 1;
    double lr = sweep_lr(f->opt, f->linear, k);
    for (int i = 0; i < volt_trainer_num_optimizers(t); i++) {
        volt_optimizer *o = volt_trainer_optimizer(t, i);
        for (int g = 0; g < volt_optimizer_num_groups(o); g++) {
            volt_status st = volt_optimizer_set_lr(o, g, lr);
            if (st) return st;
        }
    }
    return VOLT_OK;
}

/* One point per optimizer step: the mean loss of its accumulation window,
 * smoothed; the divergence check of Lightning's _LRCallback. */
static void record_point(lr_finder *f, volt_trainer *t, double loss) {
    volt_lr_find_result *r = f->res;
    int64_t k = r->count;
    f->avg = SMOOTH_BETA * f->avg + (1 - SMOOTH_BETA) * loss;
    double smoothed = f->avg / (1 - pow(SMOOTH_BETA, (double)(k + 1)));
    r->lrs[k] = sweep_lr(f->opt, f->linear, k);
    r->raw_losses[k] = loss;
    r->losses[k] = smoothed;
    r->count = k + 1;
    double th = f->opt->early_stop_threshold;
    if (!isnan(th) && k > 0 && (!isfinite(smoothed) || smoothed > th * f->best)) {
        r->stopped_early = true;
        volt_trainer_request_stop(t);
    }
    if (k == 0 || smoothed < f->best) f->best = smoothed;
}

static volt_status finder_batch_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    lr_finder *f = (lr_finder *)self;
    volt_trainer *t = volt_step_trainer(step);
    const volt_tensor *loss = volt_step_outputs(step);
    if (loss) {
        f->window_sum += volt_tensor_item(loss);
        f->window_n++;
    }
    int64_t gs = volt_trainer_global_step(t);
    if (gs == f->steps_seen || f->res->count >= f->opt->num_training) return VOLT_OK;
    f->steps_seen = gs;
    double mean = f->window_n > 0 ? f->window_sum / (double)f->window_n : NAN;
    f->window_sum = 0;
    f->window_n = 0;
    record_point(f, t, mean);
    return VOLT_OK;
}

static const volt_callback_ops finder_ops = {
    .name = "LRFinder",
    .on_fit_start = finder_fit_start,
    .on_train_batch_start = finder_batch_start,
    .on_train_batch_end = finder_batch_end,
};

/* ---------------------------------------------------------- suggestion */

/* torch.gradient with unit spacing at point i of y[0..n). */
static double unit_gradient(const double *y, int64_t n, int64_t i) {
    if (i == 0) return y[1] - y[0];
    if (i == n - 1) return y[n - 1] - y[n - 2];
    return (y[i + 1] - y[i - 1]) / 2;
}

double volt_lr_find_suggest(const volt_lr_find_result *r, int64_t skip_begin, int64_t skip_end,
                            int64_t *index) {
    if (index) *index = -1;
    if (!r || skip_begin < 0 || skip_end < 0) return NAN;
    int64_t end = r->count - skip_end, n = 0;
    if (end - skip_begin < 2) return NAN;
    double *y = malloc((size_t)(end - skip_begin) * sizeof *y);
    int64_t *at = malloc((size_t)(end - skip_begin) * sizeof *at);
    for (int64_t i = skip_begin; y && at && i < end; i++) {
        if (!isfinite(r->losses[i])) continue; /* Lightning drops non-finite losses */
        y[n] = r->losses[i];
        at[n++] = i;
    }
    int64_t best = -1;
    double best_g = INFINITY;
    for (int64_t i = 0; n >= 2 && i < n; i++) {
        double g = unit_gradient(y, n, i);
        if (g < best_g) best_g = g, best = at[i];
    }
    free(y);
    free(at);
    if (best < 0) return NAN;
    if (index) *index = best;
    return r->lrs[best];
}

/* ----------------------------------------------------------------- CSV */

static volt_status write_csv(const volt_lr_find_result *r, const char *path) {
    volt_status st = volt_make_parent_dirs(path, OP);
    volt_atomic_file *f = st ? NULL : volt_atomic_file_open(path, OP);
    if (!f) return volt_error_status();
    char line[96];
    st = volt_atomic_file_write(f, "lr,loss\n", 8);
    for (int64_t i = 0; i < r->count && !st; i++) {
        int k = snprintf(line, sizeof line, "%.17g,%.17g\n", r->lrs[i], r->losses[i]);
        st = volt_atomic_file_write(f, line, (size_t)k);
    }
    if (st) {
        volt_atomic_file_abort(f);
        return st;
    }
    return volt_atomic_file_commit(f);
}

/* ------------------------------------------------------------ the search */

static volt_lr_find_result *result_new(int64_t n) {
    volt_lr_find_result *r = calloc(1, sizeof *r);
    if (r) {
        r->lrs = calloc((size_t)n, sizeof *r->lrs);
        r->losses = calloc((size_t)n, sizeof *r->losses);
        r->raw_losses = calloc((size_t)n, sizeof *r->raw_losses);
        r->suggestion = NAN;
        r->suggestion_index = -1;
    }
    if (r && (!r->lrs || !r->losses || !r->raw_losses)) {
        volt_lr_find_result_free(r);
        r = NULL;
    }
    if (!r) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    return r;
}

/* The short fit; the module is restored by the caller. */
static volt_status sweep(volt_trainer *t, volt_module *module, volt_datamodule *data,
                         lr_finder *f) {
    volt_trainer *inner = volt_tuner_trainer_new(t, f->opt->num_training, OP);
    if (!inner) return volt_error_status();
    volt_status st = volt_trainer_add_callback(inner, &f->base);
    if (!st && (st = volt_trainer_fit(inner, module, data, NULL))) volt_error_prefix(st, OP);
    volt_trainer_free(inner);
    if (!st && f->res->count == 0)
        st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                            OP ": no optimizer step ran (no training batch: check the train "
                               "loader and limit_train_batches)");
    return st;
}

static void report(const volt_lr_find_result *r, const volt_lr_find_options *o) {
    if (!o->verbose) return;
    if (r->stopped_early)
        fprintf(stderr, "LR finder stopped early after %lld steps due to diverging loss.\n",
                (long long)r->count);
    if (isnan(r->suggestion))
        fprintf(stderr,
                "LR finder: not enough points for a suggestion (%lld steps; raise "
                "num_training)\n",
                (long long)r->count);
    else
        fprintf(stderr, "LR finder: suggested learning rate %.6g (step %lld of %lld)\n",
                r->suggestion, (long long)r->suggestion_index, (long long)r->count);
}

volt_status volt_tuner_lr_find(volt_trainer *t, volt_module *module, volt_datamodule *data,
                               const volt_lr_find_options *options, volt_lr_find_result **out) {
    if (out) *out = NULL;
    volt_lr_find_options o = options ? *options : volt_lr_find_defaults();
    bool linear = false;
    volt_status st = volt_tuner_check_args(t, module, data, out, OP);
    if (!st) st = check_options(&o, &linear);
    if (st) return st;
    volt_lr_find_result *r = result_new(o.num_training);
    volt_tuner_snapshot *snap = r ? volt_tuner_snapshot_take(module, OP) : NULL;
    char *dm_state = snap ? volt_datamodule_state_dict(data) : NULL;
    if (!dm_state) {
        volt_tuner_snapshot_free(snap);
        volt_lr_find_result_free(r);
        return volt_error_status() ? volt_error_status() : VOLT_ERR_OUT_OF_MEMORY;
    }
    lr_finder f = {.base = {.ops = &finder_ops}, .opt = &o, .linear = linear, .res = r};
    st = sweep(t, module, data, &f);
    volt_status rs = volt_tuner_snapshot_restore(snap, module, OP);
    if (!rs && strcmp(dm_state, "{}") != 0) rs = volt_datamodule_load_state_dict(data, dm_state);
    if (!st) st = rs;
    volt_tuner_snapshot_free(snap);
    free(dm_state);
    if (!st) {
        r->suggestion = volt_lr_find_suggest(r, SKIP_BEGIN, SKIP_END, &r->suggestion_index);
        if (o.csv_path) st = write_csv(r, o.csv_path);
    }
    if (st) {
        volt_lr_find_result_free(r);
        return st;
    }
    if (o.update_attr && !isnan(r->suggestion)) *o.update_attr = r->suggestion;
    report(r, &o);
    *out = r;
    return VOLT_OK;
}
