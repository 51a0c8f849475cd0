/* tuner_batch_size.c: Lightning's batch-size finder (Tuner.scale_batch_size)
 * — short fits on a private trainer at growing batch sizes ("power":
 * doubling until one fails; "binsearch": then bisecting between the last
 * size that passed and the first that failed), where a trial fails when the
 * allocator runs out of memory or the memory it held went over a budget;
 * the module is put back bit for bit after every trial and the datamodule
 * is left at the largest size that passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/tuner_impl.h"

#define OP "scale_batch_size"

volt_batch_size_options volt_batch_size_defaults(void) {
    return (volt_batch_size_options){
        .mode = "power",
        .init_val = 2,
        .max_trials = 25,
        .steps_per_trial = 3,
        .memory_budget = 0,
        .set_batch_size = NULL,
        .ctx = NULL,
        .verbose = false,
    };
}

void volt_batch_size_result_free(volt_batch_size_result *r) {
    if (!r) return;
    free(r->trials);
    free(r);
}

static volt_status check_options(const volt_batch_size_options *o, bool *binsearch) {
    const char *mode = o->mode ? o->mode : "power";
    *binsearch = strcmp(mode, "binsearch") == 0;
    if (!*binsearch && strcmp(mode, "power") != 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              OP ": mode '%s' is not one of power, binsearch", mode);
    if (!o->set_batch_size)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              OP ": set_batch_size is NULL (the callback that rebuilds the "
                                 "datamodule's loaders at another batch size)");
    const struct {
        const char *name;
        int64_t value;
    } counts[] = {{"init_val", o->init_val},
                  {"max_trials", o->max_trials},
                  {"steps_per_trial", o->steps_per_trial}};
    for (int i = 0; i < 3; i++)
        if (counts[i].value < 1)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": %s must be >= 1 (got %lld)",
                                  counts[i].name, (long long)counts[i].value);
    if (o->memory_budget < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              OP ": memory_budget must be >= 0 bytes (0: none; got %lld)",
                              (long long)o->memory_budget);
    return VOLT_OK;
}

/* --------------------------------------------------------- the probe */

/* Watches one trial: the optimizer steps and the train loader's length
 * (the peak memory comes from the allocator's stats, reset before it). */
typedef struct {
    volt_callback base;
    int64_t peak, steps, n_batches;
} probe;

static volt_status probe_fit_start(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    probe *p = (probe *)self;
    volt_trainer *t = volt_step_trainer(step);
    volt_tuner_drop_schedulers(t);
    p->n_batches = volt_data_loader_len(t->train_dl);
    return VOLT_OK;
}

static volt_status probe_batch_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    ((probe *)self)->steps = volt_trainer_global_step(volt_step_trainer(step));
    return VOLT_OK;
}

static const volt_callback_ops probe_ops = {
    .name = "BatchSizeFinder",
    .on_fit_start = probe_fit_start,
    .on_train_batch_end = probe_batch_end,
};

/* ------------------------------------------------------------ a trial */

typedef struct {
    volt_trainer *t;
    volt_module *module;
    volt_datamodule *data;
    const volt_batch_size_options *opt;
    const volt_tuner_snapshot *snap;
    volt_batch_size_result *res;
    bool whole_set; /* the last size that passed put the training set in one batch */
} search;

static volt_status add_trial(volt_batch_size_result *r, volt_batch_size_trial trial) {
    volt_batch_size_trial *g = realloc(r->trials, (size_t)(r->n_trials + 1) * sizeof *g);
    if (!g) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    r->trials = g;
    r->trials[r->n_trials++] = trial;
    return VOLT_OK;
}

/* A short fit at batch size bs; the module is restored after it. An
 * out-of-memory failure is a failed trial (its error cleared); other
 * errors end the search. */
static volt_status fit_at(search *s, probe *p) {
    volt_trainer *inner = volt_tuner_trainer_new(s->t, s->opt->steps_per_trial, OP);
    if (!inner) return volt_error_status();
    volt_status st = volt_trainer_add_callback(inner, &p->base);
    volt_cpu_reset_peak_memory_stats();
    if (!st) st = volt_trainer_fit(inner, s->module, s->data, NULL);
    p->peak = volt_cpu_memory_stats().peak_allocated_bytes;
    volt_trainer_free(inner);
    if (st == VOLT_ERR_OUT_OF_MEMORY) volt_error_clear();
    volt_status rs = volt_tuner_snapshot_restore(s->snap, s->module, OP);
    if (st && st != VOLT_ERR_OUT_OF_MEMORY) return volt_error_prefix(st, OP);
    return rs ? rs : st;
}

static volt_status run_trial(search *s, int64_t bs, bool *passed) {
    const volt_batch_size_options *o = s->opt;
    volt_status st = o->set_batch_size(s->data, bs, o->ctx);
    if (st) return volt_error_prefix(st, OP ": set_batch_size(%lld)", (long long)bs);
    probe p = {.base = {.ops = &probe_ops}};
    st = fit_at(s, &p);
    if (st && st != VOLT_ERR_OUT_OF_MEMORY) return st;
    volt_batch_size_trial tr = {.batch_size = bs, .peak_bytes = p.peak, .steps = p.steps};
    tr.why = st                                                  ? "out of memory"
             : p.steps == 0                                      ? "no training batch"
             : o->memory_budget > 0 && p.peak > o->memory_budget ? "over the memory budget"
                                                                 : "passed";
    tr.passed = strcmp(tr.why, "passed") == 0;
    *passed = tr.passed;
    s->whole_set = tr.passed && p.n_batches <= 1;
    if (o->verbose)
        fprintf(stderr, "Batch size %lld %s (peak %lld bytes allocated)\n", (long long)bs,
                tr.passed ? "succeeded" : tr.why, (long long)p.peak);
    return add_trial(s->res, tr);
}

/* ----------------------------------------------------------- the modes */

/* Doubles while trials pass; after a failure with nothing passed yet, halves
 * (never again reaching a size that failed). */
static volt_status power_search(search *s, int64_t *best) {
    int64_t bs = s->opt->init_val, failed_at = 0;
    *best = 0;
    for (int64_t n = 0; n < s->opt->max_trials; n++) {
        bool ok;
        volt_status st = run_trial(s, bs, &ok);
        if (st) return st;
        if (ok) {
            *best = bs;
            if (s->whole_set || (failed_at && bs * 2 >= failed_at)) break;
            bs *= 2;
        } else {
            failed_at = bs;
            if (*best || bs == 1) break;
            bs /= 2;
        }
    }
    return VOLT_OK;
}

/* Doubles until a failure, then bisects between the largest size that
 * passed (low) and the smallest that failed (high) until they are adjacent. */
static volt_status binsearch_search(search *s, int64_t *best) {
    int64_t bs = s->opt->init_val, low = 0, high = 0;
    for (int64_t n = 0; n < s->opt->max_trials; n++) {
        bool ok;
        volt_status st = run_trial(s, bs, &ok);
        if (st) return st;
        if (ok)
            low = bs;
        else
            high = bs;
        if ((ok && s->whole_set && !high) || (high && high - low <= 1)) break;
        bs = high ? low + (high - low) / 2 : bs * 2;
    }
    *best = low;
    return VOLT_OK;
}

static volt_status no_fit_error(const volt_batch_size_result *r) {
    const volt_batch_size_trial *last = &r->trials[r->n_trials - 1];
    return volt_error_set(VOLT_ERR_OUT_OF_MEMORY,
                          OP ": no batch size passed in %lld trials (the last, %lld: %s, "
                             "peak %lld bytes)",
                          (long long)r->n_trials, (long long)last->batch_size, last->why,
                          (long long)last->peak_bytes);
}

volt_status volt_tuner_scale_batch_size(volt_trainer *t, volt_module *module, volt_datamodule *data,
                                        const volt_batch_size_options *options,
                                        volt_batch_size_result **out) {
    if (out) *out = NULL;
    volt_batch_size_options o = options ? *options : volt_batch_size_defaults();
    bool binsearch = false;
    volt_status st = volt_tuner_check_args(t, module, data, out, OP);
    if (!st) st = check_options(&o, &binsearch);
    if (st) return st;
    volt_batch_size_result *r = calloc(1, sizeof *r);
    volt_tuner_snapshot *snap = r ? volt_tuner_snapshot_take(module, OP) : NULL;
    if (!snap) {
        free(r);
        return volt_error_status() ? volt_error_status()
                                   : volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    }
    search s = {t, module, data, &o, snap, r, false};
    int64_t best = 0;
    st = binsearch ? binsearch_search(&s, &best) : power_search(&s, &best);
    volt_tuner_snapshot_free(snap);
    if (!st && best == 0) st = no_fit_error(r);
    if (!st && (st = o.set_batch_size(data, best, o.ctx)))
        volt_error_prefix(st, OP ": set_batch_size(%lld)", (long long)best);
    if (st) {
        volt_batch_size_result_free(r);
        return st;
    }
    r->batch_size = best;
    if (o.verbose)
        fprintf(stderr,
                "Finished batch size finder, will continue with full run using batch "
                "size %lld\n",
                (long long)best);
    *out = r;
    return VOLT_OK;
}
