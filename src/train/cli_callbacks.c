/* cli_callbacks.c: the callbacks a config's trainer.callbacks list can name
 * — model_checkpoint, early_stopping, lr_monitor, timer, ema (their option
 * tables are in option_tables.c), preemption, on_exception_checkpoint and
 * grad_accumulation_scheduler (whose constructors take plain arguments:
 * small option structs here) — and the list the resolver looks names up in. */
#include "train/cli_impl.h"
#include "train/option_tables_impl.h"

static volt_callback *model_checkpoint(const void *o) { return volt_model_checkpoint_new(o); }
static volt_callback *early_stopping(const void *o) { return volt_early_stopping_new(o); }
static volt_callback *lr_monitor(const void *o) { return volt_lr_monitor_new(o); }
static volt_callback *timer(const void *o) { return volt_timer_new(o); }
static volt_callback *ema(const void *o) { return volt_ema_new(o); }

typedef struct {
    const char *path;
} preemption_options;
static const volt_option preemption_table[] = {
    VOLT_OPT(preemption_options, path, STRING, "null",
             "checkpoint written on SIGTERM/SIGUSR1 (null: <checkpoint dir>/last.ckpt)",
             VOLT_NULLABLE),
    {0},
};
static volt_callback *preemption(const void *o) {
    return volt_preemption_new(((const preemption_options *)o)->path);
}

typedef struct {
    const char *dirpath, *filename;
} on_exception_options;
static const volt_option on_exception_table[] = {
    VOLT_OPT(on_exception_options, dirpath, STRING, "null", "directory of the checkpoint",
             .flags = VOLT_OPTION_REQUIRED),
    VOLT_OPT(on_exception_options, filename, STRING, "null",
             "file name without .ckpt (null: on_exception)", VOLT_NULLABLE),
    {0},
};
static volt_callback *on_exception(const void *o) {
    const on_exception_options *e = o;
    return volt_on_exception_checkpoint_new(e->dirpath, e->filename);
}

typedef struct {
    volt_int_list epochs, factors;
} accumulation_options;
static const volt_option accumulation_table[] = {
    VOLT_OPT(accumulation_options, epochs, INT_LIST, "null",
             "epochs where a factor starts ([0, 4, 8])", VOLT_GE(0), .flags = VOLT_OPTION_REQUIRED),
    VOLT_OPT(accumulation_options, factors, INT_LIST, "null",
             "batches accumulated from each of those epochs on ([4, 2, 1])", VOLT_GE(1),
             .flags = VOLT_OPTION_REQUIRED),
    {0},
};
static volt_callback *accumulation(const void *o) {
    const accumulation_options *a = o;
    if (a->epochs.n != a->factors.n) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "grad_accumulation_scheduler: %d epochs but %d factors (one factor per "
                       "epoch)",
                       a->epochs.n, a->factors.n);
        return NULL;
    }
    return volt_grad_accumulation_scheduler_new(a->epochs.n, a->epochs.v, a->factors.v);
}

#define CALLBACK(name, help, table, type, fn)                                                      \
    { .cls = {name, help, table, sizeof(type), NULL, NULL}, .new_callback = fn }
const cli_builtin cli_callbacks[] = {
    CALLBACK("model_checkpoint", "ModelCheckpoint: save the best k and the last checkpoints",
             volt_model_checkpoint_table, volt_model_checkpoint_options, model_checkpoint),
    CALLBACK("early_stopping", "EarlyStopping: stop when the monitor stops improving",
             volt_early_stopping_table, volt_early_stopping_options, early_stopping),
    CALLBACK("lr_monitor", "LearningRateMonitor: log the learning rates", volt_lr_monitor_table,
             volt_lr_monitor_options, lr_monitor),
    CALLBACK("timer", "Timer: stop fit after a duration", volt_timer_table, volt_timer_options,
             timer),
    CALLBACK("ema", "an exponential moving average of the weights, validated and saved",
             volt_ema_table, volt_ema_options, ema),
    CALLBACK("preemption", "save a checkpoint and stop cleanly on SIGTERM or SIGUSR1",
             preemption_table, preemption_options, preemption),
    CALLBACK("on_exception_checkpoint", "OnExceptionCheckpoint: save a checkpoint when fit fails",
             on_exception_table, on_exception_options, on_exception),
    CALLBACK("grad_accumulation_scheduler",
             "GradientAccumulationScheduler: change accumulate_grad_batches by epoch",
             accumulation_table, accumulation_options, accumulation),
};
const int cli_n_callbacks = sizeof cli_callbacks / sizeof cli_callbacks[0];

const cli_class_list cli_callback_list = {"callback", &cli_callbacks[0].cls,
                                          sizeof cli_callbacks / sizeof cli_callbacks[0],
                                          sizeof(cli_builtin)};
