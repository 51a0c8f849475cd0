/* hooks.c: the hook table (names, where each lives in volt_module_ops and
 * volt_callback_ops, where volt_log is allowed), hook dispatch in Lightning's
 * order (callbacks, then the module), failure messages naming the hook, epoch
 * and batch, and the step-context accessors. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "train/precision_impl.h"
#include "train/train_impl.h"

#define NO_OFFSET ((size_t)-1)

typedef struct {
    const char *name;
    size_t module_off, callback_off;
    volt_log_rule log;
} hook_info;

#define BOTH(id, f, rule)                                                                          \
    [id] = {#f, offsetof(volt_module_ops, f), offsetof(volt_callback_ops, f), rule}
#define MOD(id, f, rule) [id] = {#f, offsetof(volt_module_ops, f), NO_OFFSET, rule}

static const hook_info hooks[VOLT_HK_COUNT] = {
    BOTH(VOLT_HK_SETUP, setup, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_TEARDOWN, teardown, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_FIT_START, on_fit_start, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_FIT_END, on_fit_end, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_SANITY_CHECK_START, on_sanity_check_start, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_SANITY_CHECK_END, on_sanity_check_end, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_TRAIN_START, on_train_start, VOLT_LOGRULE_EPOCH),
    BOTH(VOLT_HK_ON_TRAIN_END, on_train_end, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_TRAIN_EPOCH_START, on_train_epoch_start, VOLT_LOGRULE_EPOCH),
    BOTH(VOLT_HK_ON_TRAIN_EPOCH_END, on_train_epoch_end, VOLT_LOGRULE_EPOCH),
    BOTH(VOLT_HK_ON_TRAIN_BATCH_START, on_train_batch_start, VOLT_LOGRULE_STEP),
    BOTH(VOLT_HK_ON_TRAIN_BATCH_END, on_train_batch_end, VOLT_LOGRULE_STEP),
    BOTH(VOLT_HK_ON_VALIDATION_START, on_validation_start, VOLT_LOGRULE_EPOCH),
    BOTH(VOLT_HK_ON_VALIDATION_END, on_validation_end, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_VALIDATION_EPOCH_START, on_validation_epoch_start, VOLT_LOGRULE_EPOCH),
    BOTH(VOLT_HK_ON_VALIDATION_EPOCH_END, on_validation_epoch_end, VOLT_LOGRULE_EPOCH),
    BOTH(VOLT_HK_ON_VALIDATION_BATCH_START, on_validation_batch_start, VOLT_LOGRULE_EVAL_STEP),
    BOTH(VOLT_HK_ON_VALIDATION_BATCH_END, on_validation_batch_end, VOLT_LOGRULE_EVAL_STEP),
    BOTH(VOLT_HK_ON_TEST_START, on_test_start, VOLT_LOGRULE_EPOCH),
    BOTH(VOLT_HK_ON_TEST_END, on_test_end, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_TEST_EPOCH_START, on_test_epoch_start, VOLT_LOGRULE_EPOCH),
    BOTH(VOLT_HK_ON_TEST_EPOCH_END, on_test_epoch_end, VOLT_LOGRULE_EPOCH),
    BOTH(VOLT_HK_ON_TEST_BATCH_START, on_test_batch_start, VOLT_LOGRULE_EVAL_STEP),
    BOTH(VOLT_HK_ON_TEST_BATCH_END, on_test_batch_end, VOLT_LOGRULE_EVAL_STEP),
    BOTH(VOLT_HK_ON_PREDICT_START, on_predict_start, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_PREDICT_END, on_predict_end, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_PREDICT_EPOCH_START, on_predict_epoch_start, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_PREDICT_EPOCH_END, on_predict_epoch_end, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_PREDICT_BATCH_START, on_predict_batch_start, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_PREDICT_BATCH_END, on_predict_batch_end, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_BEFORE_BACKWARD, on_before_backward, VOLT_LOGRULE_STEP),
    BOTH(VOLT_HK_ON_AFTER_BACKWARD, on_after_backward, VOLT_LOGRULE_STEP),
    BOTH(VOLT_HK_ON_BEFORE_OPTIMIZER_STEP, on_before_optimizer_step, VOLT_LOGRULE_STEP),
    BOTH(VOLT_HK_ON_BEFORE_ZERO_GRAD, on_before_zero_grad, VOLT_LOGRULE_STEP),
    BOTH(VOLT_HK_ON_SAVE_CHECKPOINT, on_save_checkpoint, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_LOAD_CHECKPOINT, on_load_checkpoint, VOLT_LOGRULE_REFUSED),
    BOTH(VOLT_HK_ON_EXCEPTION, on_exception, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_OPTIMIZER_STEP, optimizer_step, VOLT_LOGRULE_STEP),
    MOD(VOLT_HK_CONFIGURE_GRADIENT_CLIPPING, configure_gradient_clipping, VOLT_LOGRULE_STEP),
    MOD(VOLT_HK_TRAINING_STEP, training_step, VOLT_LOGRULE_STEP),
    MOD(VOLT_HK_VALIDATION_STEP, validation_step, VOLT_LOGRULE_EVAL_STEP),
    MOD(VOLT_HK_TEST_STEP, test_step, VOLT_LOGRULE_EVAL_STEP),
    MOD(VOLT_HK_PREDICT_STEP, predict_step, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_CONFIGURE_OPTIMIZERS, configure_optimizers, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_ON_VALIDATION_MODEL_EVAL, on_validation_model_eval, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_ON_VALIDATION_MODEL_TRAIN, on_validation_model_train, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_ON_TEST_MODEL_EVAL, on_test_model_eval, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_ON_TEST_MODEL_TRAIN, on_test_model_train, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_ON_PREDICT_MODEL_EVAL, on_predict_model_eval, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_ON_BEFORE_BATCH_TRANSFER, on_before_batch_transfer, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_TRANSFER_BATCH_TO_DEVICE, transfer_batch_to_device, VOLT_LOGRULE_REFUSED),
    MOD(VOLT_HK_ON_AFTER_BATCH_TRANSFER, on_after_batch_transfer, VOLT_LOGRULE_REFUSED),
    [VOLT_HK_BACKWARD] = {"backward", NO_OFFSET, NO_OFFSET, VOLT_LOGRULE_REFUSED},
    [VOLT_HK_DATALOADER] = {"dataloader", NO_OFFSET, NO_OFFSET, VOLT_LOGRULE_REFUSED},
    [VOLT_HK_INTERRUPT] = {"interrupt", NO_OFFSET, NO_OFFSET, VOLT_LOGRULE_REFUSED},
};

const char *volt_hook_name(volt_hook_id id) {
    return (id >= 0 && id < VOLT_HK_COUNT) ? hooks[id].name : "?";
}

volt_log_rule volt_hook_log_rule(volt_hook_id id) {
    return (id >= 0 && id < VOLT_HK_COUNT) ? hooks[id].log : VOLT_LOGRULE_REFUSED;
}

static const char *stage_word(const volt_trainer *t) {
    return t->sanity ? "sanity check" : volt_stage_name(t->stage);
}

volt_status volt_hook_fail(volt_trainer *t, const volt_step *s, volt_hook_id id,
                           volt_status status) {
    if (t->failed) return volt_error_status() ? volt_error_status() : status;
    t->failed = true;
    if (status == VOLT_OK) status = volt_error_status();
    if (status == VOLT_OK) status = VOLT_ERR_STATE;
    const char *msg = volt_error_message();
    if (!*msg) msg = "volt: (no message recorded)";
    if (strncmp(msg, "volt: ", 6) == 0) msg += 6;
    char *orig = strdup(msg);
    volt_error_clear();
    char where[96];
    if (s && s->batch_idx >= 0)
        snprintf(where, sizeof where, "at epoch %lld, batch %lld", (long long)t->epoch,
                 (long long)s->batch_idx);
    else
        snprintf(where, sizeof where, "at epoch %lld", (long long)t->epoch);
    if (id == VOLT_HK_INTERRUPT)
        volt_error_set(status, "%s: stopped %s: %s", stage_word(t), where,
                       orig ? orig : "interrupted");
    else
        volt_error_set(status, "%s: %s failed %s: %s", stage_word(t), volt_hook_name(id), where,
                       orig ? orig : "out of memory");
    free(orig);
    return status;
}

/* One hook function: its status, or the sticky error it left. */
static volt_status checked(volt_trainer *t, volt_step *s, volt_hook_id id, volt_status st) {
    if (st == VOLT_OK && volt_error_status() == VOLT_OK) return VOLT_OK;
    return volt_hook_fail(t, s, id, st);
}

static volt_status run_callbacks(volt_trainer *t, volt_step *s, volt_hook_id id, int which) {
    size_t off = hooks[id].callback_off;
    if (off == NO_OFFSET) return VOLT_OK;
    for (int i = 0; i < t->n_callbacks; i++) {
        volt_callback *cb = t->callbacks[i];
        if (which >= 0 && (int)cb->ops->monitoring != which) continue;
        volt_callback_hook fn = *(const volt_callback_hook *)((const char *)cb->ops + off);
        if (!fn) continue;
        int pt = volt_profile_callback(t, cb, id);
        volt_status st = checked(t, s, id, fn(cb, t->module, s));
        volt_profile_end(t, pt);
        if (st) return st;
    }
    return VOLT_OK;
}

volt_status volt_hook_run_ex(volt_trainer *t, volt_step *s, volt_hook_id id, bool monitoring_last) {
    volt_hook_id saved = s->hook;
    s->hook = id;
    volt_status st = run_callbacks(t, s, id, monitoring_last ? 0 : -1);
    size_t off = hooks[id].module_off;
    if (!st && off != NO_OFFSET && t->module->ops) {
        volt_module_hook fn = *(const volt_module_hook *)((const char *)t->module->ops + off);
        int pt = fn ? volt_profile_module(t, id) : -1;
        if (fn) st = checked(t, s, id, fn(t->module, s));
        volt_profile_end(t, pt);
    }
    if (!st && monitoring_last) st = run_callbacks(t, s, id, 1);
    s->hook = saved;
    return st;
}

volt_status volt_hook_run(volt_trainer *t, volt_step *s, volt_hook_id id) {
    return volt_hook_run_ex(t, s, id, false);
}

bool volt_hook_defined(const volt_trainer *t, volt_hook_id id) {
    if (id < 0 || id >= VOLT_HK_COUNT || hooks[id].module_off == NO_OFFSET) return false;
    if (!t->module || !t->module->ops) return false;
    return *(const volt_module_hook *)((const char *)t->module->ops + hooks[id].module_off) != NULL;
}

/* Lightning: on_before_batch_transfer, the strategy's batch_to_device (the
 * module's transfer_batch_to_device; on the CPU the default moves nothing),
 * on_after_batch_transfer. */
/* precision "bf16-true" / "16-true": the batch's f32/f64 fields become
 * bf16 / f16 (Lightning's convert_input), in the current scope like the
 * batch itself. */
static volt_status convert_input(volt_trainer *t, volt_batch *b) {
    volt_dtype cast = volt_precision_true_dtype(t->cfg.precision);
    if (!b || cast == VOLT_F32) return VOLT_OK;
    for (int i = 0; i < b->n_fields; i++) {
        volt_tensor *f = b->fields[i];
        if (!f || (f->dtype != VOLT_F32 && f->dtype != VOLT_F64)) continue;
        volt_tensor *c = volt_to_dtype(f, cast);
        if (!c)
            return volt_error_prefix(volt_error_status(), "precision %s: batch field '%s'",
                                     t->cfg.precision, b->names[i]);
        volt_status st = volt_batch_set(b, b->names[i], c);
        if (st) return st;
    }
    return VOLT_OK;
}

/* The default transfer_batch_to_device: every field of the batch not on
 * the trainer's device is copied there, in the batch's scope. A CPU field
 * goes through pinned memory (Lightning's pin_memory), so the copy is
 * queued behind the previous step's kernels instead of waiting for them. */
static volt_status move_batch(volt_trainer *t, volt_batch *b) {
    if (!b || t->device.type == VOLT_CPU) return VOLT_OK;
    for (int i = 0; i < b->n_fields; i++) {
        volt_tensor *f = b->fields[i];
        if (!f || volt_device_equal(f->device, t->device)) continue;
        if (f->device.type == VOLT_CPU && t->device.type == VOLT_CUDA &&
            !volt_tensor_is_pinned(f) && !(f = volt_pin_memory(f)))
            return volt_error_prefix(volt_error_status(), "transfer_batch_to_device: field '%s'",
                                     b->names[i]);
        volt_tensor *moved = volt_to_device(f, t->device);
        if (!moved)
            return volt_error_prefix(volt_error_status(), "transfer_batch_to_device: field '%s'",
                                     b->names[i]);
        volt_status st = volt_batch_set(b, b->names[i], moved);
        if (st) return st;
    }
    return VOLT_OK;
}

volt_status volt_hook_batch_transfer(volt_trainer *t, volt_step *s) {
    volt_status st = volt_hook_run(t, s, VOLT_HK_ON_BEFORE_BATCH_TRANSFER);
    if (!st && !volt_hook_defined(t, VOLT_HK_TRANSFER_BATCH_TO_DEVICE))
        st = move_batch(t, s->batch);
    else if (!st)
        st = volt_hook_run(t, s, VOLT_HK_TRANSFER_BATCH_TO_DEVICE);
    if (!st) st = volt_hook_run(t, s, VOLT_HK_ON_AFTER_BATCH_TRANSFER);
    if (!st) st = convert_input(t, s->batch);
    return st;
}

volt_status volt_hook_step(volt_trainer *t, volt_step *s, volt_hook_id id, volt_step_fn fn,
                           volt_tensor **out) {
    volt_hook_id saved = s->hook;
    s->hook = id;
    int pt = volt_profile_module(t, id);
    volt_tensor *r = fn(t->module, s->batch, s->batch_idx, s);
    volt_profile_end(t, pt);
    s->hook = saved;
    *out = r;
    return checked(t, s, id, VOLT_OK);
}

volt_step volt_step_make(volt_trainer *t, volt_log_results *results) {
    return (volt_step){.trainer = t, .hook = VOLT_HK_COUNT, .batch_idx = -1, .results = results};
}

void volt_hook_exception(volt_trainer *t, volt_status status) {
    char *msg = strdup(volt_error_message());
    volt_error_clear();
    bool was_failed = t->failed;
    t->failed = true; /* errors in on_exception are not wrapped again */
    volt_step s = volt_step_make(t, NULL);
    s.error = msg ? msg : "";
    s.hook = VOLT_HK_ON_EXCEPTION;
    for (int i = 0; i < t->n_callbacks; i++) {
        volt_callback *cb = t->callbacks[i];
        if (cb->ops->on_exception) cb->ops->on_exception(cb, t->module, &s);
    }
    if (t->module && t->module->ops && t->module->ops->on_exception)
        t->module->ops->on_exception(t->module, &s);
    /* the first failure of an on_exception hook is told after the cause */
    char *later = volt_error_status() ? strdup(volt_error_message()) : NULL;
    volt_error_clear();
    t->failed = was_failed;
    const char *cause = msg && strncmp(msg, "volt: ", 6) == 0 ? msg + 6 : (msg ? msg : "");
    if (later)
        volt_error_set(status, "%s; then on_exception failed: %s", cause,
                       strncmp(later, "volt: ", 6) == 0 ? later + 6 : later);
    else
        volt_error_set(status, "%s", cause);
    free(later);
    free(msg);
}

/* ------------------------------------------------------------- accessors */

volt_trainer *volt_step_trainer(const volt_step *step) { return step ? step->trainer : NULL; }
const char *volt_step_hook_name(const volt_step *step) {
    return step ? volt_hook_name(step->hook) : "";
}
volt_stage volt_step_stage(const volt_step *step) {
    return step && step->trainer ? step->trainer->stage : VOLT_STAGE_FIT;
}
volt_batch *volt_step_batch(const volt_step *step) { return step ? step->batch : NULL; }
int64_t volt_step_batch_idx(const volt_step *step) { return step ? step->batch_idx : -1; }
volt_tensor *volt_step_outputs(const volt_step *step) { return step ? step->outputs : NULL; }
volt_optimizer *volt_step_optimizer(const volt_step *step) { return step ? step->optimizer : NULL; }
const char *volt_step_error(const volt_step *step) {
    return step && step->error ? step->error : "";
}
volt_device volt_step_device(const volt_step *step) {
    return step && step->trainer ? step->trainer->device : VOLT_DEVICE_CPU;
}

volt_status volt_step_skip_epoch(volt_step *step) {
    if (!step) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "step_skip_epoch: NULL step");
    if (step->hook != VOLT_HK_ON_TRAIN_BATCH_START)
        return volt_error_set(VOLT_ERR_STATE,
                              "step_skip_epoch: called in %s; only on_train_batch_start can skip "
                              "the rest of an epoch",
                              volt_hook_name(step->hook));
    step->skip_epoch = true;
    return VOLT_OK;
}
