/* eval_loop.c: the evaluation loops — the sanity check, validation inside
 * fit, validate, test and predict — under no-grad (whatever inference_mode
 * says: both of Lightning's modes are no-grad): on_*_model_eval (default:
 * eval mode), start and epoch-start hooks, one scope per batch (batch
 * transfer and batch hooks around the step), epoch-end hooks, epoch metrics
 * to the loggers, end hooks, on_*_model_train (default: the mode from
 * before). */
#include <stdlib.h>

#include "train/precision_impl.h"
#include "train/train_impl.h"

typedef struct {
    volt_hook_id start, end, epoch_start, epoch_end, batch_start, batch_end, step;
    const char *label;
    volt_hook_id model_eval, model_train; /* VOLT_HK_COUNT: none */
} eval_hooks;

static const eval_hooks kinds[] = {
    [VOLT_EVAL_SANITY] = {VOLT_HK_ON_VALIDATION_START, VOLT_HK_ON_VALIDATION_END,
                          VOLT_HK_ON_VALIDATION_EPOCH_START, VOLT_HK_ON_VALIDATION_EPOCH_END,
                          VOLT_HK_ON_VALIDATION_BATCH_START, VOLT_HK_ON_VALIDATION_BATCH_END,
                          VOLT_HK_VALIDATION_STEP, "sanity", VOLT_HK_ON_VALIDATION_MODEL_EVAL,
                          VOLT_HK_ON_VALIDATION_MODEL_TRAIN},
    [VOLT_EVAL_VAL] = {VOLT_HK_ON_VALIDATION_START, VOLT_HK_ON_VALIDATION_END,
                       VOLT_HK_ON_VALIDATION_EPOCH_START, VOLT_HK_ON_VALIDATION_EPOCH_END,
                       VOLT_HK_ON_VALIDATION_BATCH_START, VOLT_HK_ON_VALIDATION_BATCH_END,
                       VOLT_HK_VALIDATION_STEP, "val", VOLT_HK_ON_VALIDATION_MODEL_EVAL,
                       VOLT_HK_ON_VALIDATION_MODEL_TRAIN},
    [VOLT_EVAL_TEST] = {VOLT_HK_ON_TEST_START, VOLT_HK_ON_TEST_END, VOLT_HK_ON_TEST_EPOCH_START,
                        VOLT_HK_ON_TEST_EPOCH_END, VOLT_HK_ON_TEST_BATCH_START,
                        VOLT_HK_ON_TEST_BATCH_END, VOLT_HK_TEST_STEP, "test",
                        VOLT_HK_ON_TEST_MODEL_EVAL, VOLT_HK_ON_TEST_MODEL_TRAIN},
    [VOLT_EVAL_PREDICT] = {VOLT_HK_ON_PREDICT_START, VOLT_HK_ON_PREDICT_END,
                           VOLT_HK_ON_PREDICT_EPOCH_START, VOLT_HK_ON_PREDICT_EPOCH_END,
                           VOLT_HK_ON_PREDICT_BATCH_START, VOLT_HK_ON_PREDICT_BATCH_END,
                           VOLT_HK_PREDICT_STEP, "predict", VOLT_HK_ON_PREDICT_MODEL_EVAL,
                           VOLT_HK_COUNT},
};

static volt_step_fn step_fn(const volt_module_ops *ops, volt_eval_kind kind) {
    if (kind == VOLT_EVAL_TEST) return ops->test_step;
    if (kind == VOLT_EVAL_PREDICT) return ops->predict_step;
    return ops->validation_step;
}

static volt_status keep_prediction(volt_predictions *preds, volt_tensor *out) {
    if (!preds) return VOLT_OK;
    volt_tensor **grown = realloc(preds->items, (size_t)(preds->count + 1) * sizeof *grown);
    if (!grown) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "predict: out of memory");
    preds->items = grown;
    /* on the CPU, as Lightning returns them */
    volt_tensor *copy = !out                           ? NULL
                        : out->device.type == VOLT_CPU ? volt_clone(out)
                                                       : volt_to_device(out, VOLT_DEVICE_CPU);
    if (out && !copy) return volt_error_status();
    preds->items[preds->count++] = copy ? volt_persist(copy) : NULL;
    return VOLT_OK;
}

/* One batch, inside its own scope. */
static volt_status eval_batch(volt_trainer *t, volt_eval_kind kind, volt_batch *b, int64_t i,
                              volt_predictions *preds) {
    const eval_hooks *h = &kinds[kind];
    volt_step s = volt_step_make(t, &t->eval_results);
    s.batch = b;
    s.batch_idx = i;
    volt_status st = volt_hook_batch_transfer(t, &s);
    if (!st) st = volt_hook_run(t, &s, h->batch_start);
    volt_tensor *out = NULL;
    volt_autocast_mode ac = volt_autocast_set(volt_precision_autocast(t->cfg.precision));
    if (!st) st = volt_hook_step(t, &s, h->step, step_fn(t->module->ops, kind), &out);
    volt_autocast_set(ac);
    if (!st && kind == VOLT_EVAL_PREDICT && (st = keep_prediction(preds, out)))
        st = volt_hook_fail(t, &s, h->step, st);
    s.outputs = out;
    if (!st) st = volt_hook_run(t, &s, h->batch_end);
    if (!st && kind != VOLT_EVAL_SANITY) {
        bool write = kind != VOLT_EVAL_PREDICT;
        if ((st = volt_log_step_end(t, &t->eval_results, write, t->log_step)))
            st = volt_hook_fail(t, &s, h->batch_end, st);
    }
    return st;
}

static volt_status batches(volt_trainer *t, volt_eval_kind kind, volt_data_loader *dl, int64_t n,
                           volt_predictions *preds) {
    const char *label = kinds[kind].label;
    volt_data_loader_set_epoch(dl, 0);
    volt_progress_begin(t, label, n);
    volt_status st = VOLT_OK;
    for (int64_t i = 0; i < n && !st; i++) {
        volt_scope_begin();
        volt_batch b;
        if (volt_profiled_next(t, dl, &b, volt_profiler_eval_action(kind, VOLT_PROF_EVAL_NEXT))) {
            int pt = volt_profile_begin(t, volt_profiler_eval_action(kind, VOLT_PROF_EVAL_BATCH));
            st = eval_batch(t, kind, &b, i, preds);
            volt_profile_end(t, pt);
        } else
            st = volt_error_status()
                     ? volt_error_status()
                     : volt_error_set(VOLT_ERR_STATE, "the %s loader ended early", label);
        volt_scope_end();
        volt_hook_id where = VOLT_HK_DATALOADER;
        if (!st && (st = volt_interrupt_check())) where = VOLT_HK_INTERRUPT;
        if (st) {
            volt_step s = volt_step_make(t, NULL);
            s.batch_idx = i;
            st = volt_hook_fail(t, &s, where, st);
        }
        volt_progress_update(t, label, i + 1, n, false);
    }
    volt_data_loader_stop(dl);
    return st;
}

static volt_status eval_body(volt_trainer *t, volt_eval_kind kind, volt_data_loader *dl, int64_t n,
                             volt_metrics *epoch_metrics, volt_predictions *preds) {
    const eval_hooks *h = &kinds[kind];
    volt_step s = volt_step_make(t, &t->eval_results);
    volt_status st = volt_hook_run(t, &s, h->start);
    if (!st) st = volt_hook_run(t, &s, h->epoch_start);
    if (!st) st = batches(t, kind, dl, n, preds);
    if (!st) st = volt_hook_run(t, &s, h->epoch_end);
    if (!st && kind != VOLT_EVAL_SANITY && kind != VOLT_EVAL_PREDICT) {
        int64_t step = t->log_step > 0 ? t->log_step - 1 : 0;
        if ((st = volt_log_epoch_end(t, &t->eval_results, true, step, epoch_metrics)))
            st = volt_hook_fail(t, &s, h->epoch_end, st);
    }
    if (!st) st = volt_hook_run(t, &s, h->end);
    if (!st) volt_progress_end(t, kinds[kind].label, n);
    return st;
}

/* A model_eval / model_train hook: the module's override, or the default
 * mode switch. */
static volt_status model_mode(volt_trainer *t, volt_hook_id id, bool training) {
    if (id == VOLT_HK_COUNT) return VOLT_OK;
    if (!volt_hook_defined(t, id)) {
        volt_module_train(t->module, training);
        return VOLT_OK;
    }
    volt_step s = volt_step_make(t, NULL);
    return volt_hook_run(t, &s, id);
}

volt_status volt_eval_run(volt_trainer *t, volt_eval_kind kind, volt_data_loader *dl,
                          int64_t n_batches, volt_metrics *epoch_metrics, volt_predictions *preds) {
    if (n_batches == 0) return VOLT_OK;
    int pt = volt_profile_begin(t, volt_profiler_eval_action(kind, VOLT_PROF_EVAL_RUN));
    volt_log_results_reset(&t->eval_results);
    bool was_training = volt_module_is_training(t->module);
    volt_no_grad_begin();
    volt_status st = model_mode(t, kinds[kind].model_eval, false);
    if (!st) st = eval_body(t, kind, dl, n_batches, epoch_metrics, preds);
    if (!st) st = model_mode(t, kinds[kind].model_train, was_training);
    volt_no_grad_end();
    if (kind == VOLT_EVAL_PREDICT || st) volt_module_train(t->module, was_training);
    volt_log_results_reset(&t->eval_results);
    volt_profile_end(t, pt);
    return st;
}
