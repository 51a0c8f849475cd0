/* option_tables.c: the option tables of volt's public option structs — the
 * trainer configuration, the built-in callbacks, the optimizers and the
 * built-in models (volt/train.h). Each row is one field: its key, type,
 * offset, default (as text), help and allowed range or choices; the engine
 * (options.c) does everything else. tests/train/test_options.c checks that
 * every table covers every field of its struct and that its defaults equal
 * the struct's *_defaults() function. */
#include <math.h>
#include <stddef.h>

#include "train/option_tables_impl.h"

/* ---------------------------------------------------------------- trainer */

#define T(f, type, def, help, ...) VOLT_OPT(volt_trainer_config, f, type, def, help, __VA_ARGS__)
#define LIMIT(f, def, help) T(f, BATCHES, def, help)

const volt_option volt_trainer_config_table[] = {
    T(accelerator, STRING, "auto",
      "hardware: auto (a GPU when the machine has one, else the CPU), cpu, or cuda / gpu (the "
      "module and batches on a GPU)"),
    T(strategy, STRING, "auto",
      "distribution: auto, single_device, ddp (data parallel over MPI), zero1 (ddp with sharded "
      "optimizer state)"),
    T(devices, INT, "1",
      "processes per node (-1: one per GPU on a GPU, else one per CPU core); > 1 without "
      "mpirun/srun: the program "
      "re-executes itself under mpiexec",
      VOLT_GE(-1), VOLT_NULLABLE),
    T(num_nodes, INT, "1", "nodes (started by mpirun/srun)", VOLT_GE(1)),
    T(precision, CHOICE, "32-true",
      "numeric precision: 32-true; bf16-mixed (matmul, linear and conv in bf16 under autocast, "
      "fp32 weights; 32 and bf16 are aliases); bf16-true (weights, activations and optimizer "
      "state in bf16); on a GPU also 16-mixed (f16 products, dynamic loss scaling; 16 is an "
      "alias) and 16-true",
      VOLT_CHOICES("32-true", "32", "bf16-mixed", "bf16", "bf16-true", "16-mixed", "16",
                   "16-true")),
    T(compensated_updates, BOOL, "true",
      "bf16-true / 16-true: the optimizers keep each 16-bit parameter's rounding remainder so "
      "that small updates add up (false: plain rounding, as PyTorch)"),
    T(sync_batchnorm, BOOL, "false", "ddp: batch norm statistics over every process"),
    T(use_distributed_sampler, BOOL, "true",
      "ddp: each process iterates its own shard of the data"),
    T(bucket_cap_mb, DOUBLE, "25", "ddp: gradient bucket size in megabytes", VOLT_GE(0)),
    T(max_epochs, INT, "null",
      "stop after this many epochs (null: 1000 unless max_steps or max_time; -1: no limit)",
      VOLT_GE(-1), VOLT_NULLABLE),
    T(min_epochs, INT, "null", "train at least this many epochs (null: 0)", VOLT_GE(0),
      VOLT_NULLABLE),
    T(max_steps, INT, "-1", "stop after this many optimizer steps (-1: no limit)", VOLT_GE(-1)),
    T(min_steps, INT, "null", "train at least this many optimizer steps (null: 0)", VOLT_GE(0),
      VOLT_NULLABLE),
    T(max_time, DOUBLE, "null", "stop fit after this many seconds (null: no limit)", VOLT_GE(0),
      VOLT_NULLABLE),
    LIMIT(limit_train_batches, "1.0", "training batches per epoch: a fraction or a count"),
    LIMIT(limit_val_batches, "1.0", "validation batches per run: a fraction or a count"),
    LIMIT(limit_test_batches, "1.0", "test batches: a fraction or a count"),
    LIMIT(limit_predict_batches, "1.0", "predict batches: a fraction or a count"),
    LIMIT(overfit_batches, "0.0", "train and validate on these first batches (0.0: off)"),
    LIMIT(val_check_interval, "1.0",
          "validate every fraction of an epoch, or every count of training batches"),
    T(check_val_every_n_epoch, INT, "1",
      "validate every n epochs (null: val_check_interval counts across epochs)", VOLT_GE(1),
      VOLT_NULLABLE),
    T(num_sanity_val_steps, INT, "2", "validation batches run before training (-1: all)",
      VOLT_GE(-1)),
    T(fast_dev_run, INT, "0",
      "n > 0 (or true: 1): n batches of each stage, one epoch, no logs or checkpoints", VOLT_GE(0),
      .flags = VOLT_OPTION_TRUE_IS_ONE),
    T(accumulate_grad_batches, INT, "1", "batches whose gradients add up to one step", VOLT_GE(1)),
    T(gradient_clip_val, DOUBLE, "0.0", "clip gradients at this value or norm (0: no clipping)",
      VOLT_GE(0)),
    T(gradient_clip_algorithm, CHOICE, "null", "norm or value (null: norm)",
      VOLT_CHOICES("norm", "value"), VOLT_NULLABLE),
    T(log_every_n_steps, INT, "50", "log training metrics every n steps", VOLT_GE(0)),
    T(default_root_dir, STRING, "null",
      "where volt_logs/ and checkpoints go (null: the current directory)", VOLT_NULLABLE),
    T(logger, BOOL, "true", "log metrics (CSV, TensorBoard) under <default_root_dir>/volt_logs"),
    T(enable_checkpointing, BOOL, "true", "a ModelCheckpoint unless callbacks hold one"),
    T(enable_progress_bar, BOOL, "true", "show the progress bar"),
    T(enable_model_summary, BOOL, "true", "print the model summary at fit start"),
    T(model_summary_max_depth, INT, "1", "depth of the model summary (-1: all levels)",
      VOLT_RANGE(-1, 1000)),
    T(barebones, BOOL, "false", "no logging, checkpoints, progress bar or summary: bare speed"),
    T(profiler, CHOICE, "null", "simple (a table of time per stage and hook) or trace (JSON)",
      VOLT_CHOICES("simple", "trace"), VOLT_NULLABLE),
    T(profiler_path, STRING, "null",
      "where the profiler writes (null: simple to stderr, trace to <log_dir>/trace.json)",
      VOLT_NULLABLE),
    T(deterministic, BOOL, "false", "bitwise reproducible runs (needs seed; refuses max_time)"),
    T(inference_mode, BOOL, "true", "evaluation without gradient recording"),
    T(detect_anomaly, BOOL, "false", "stop fit on a NaN or infinite loss"),
    T(reload_dataloaders_every_n_epochs, INT, "0", "rebuild the loaders every n epochs (0: never)",
      VOLT_GE(0)),
    T(seed, INT, "null", "volt_seed_everything(seed) at each entry point (null: none)", VOLT_GE(0),
      VOLT_NULLABLE),
    T(num_threads, INT32, "0", "CPU threads (0: unchanged, VOLT_NUM_THREADS or all cores)",
      VOLT_GE(0)),
    {0},
};

/* -------------------------------------------------------------- callbacks */

#define MC(f, type, def, help, ...)                                                                \
    VOLT_OPT(volt_model_checkpoint_options, f, type, def, help, __VA_ARGS__)
const volt_option volt_model_checkpoint_table[] = {
    MC(dirpath, STRING, "null", "directory (null: <log_dir>/checkpoints)", VOLT_NULLABLE),
    MC(filename, STRING, "null", "file name pattern (null: {epoch}-{step}; {val_loss:.4f} ...)",
       VOLT_NULLABLE),
    MC(monitor, STRING, "null", "metric to rank checkpoints by (null: keep the latest)",
       VOLT_NULLABLE),
    MC(verbose, BOOL, "false", "print each save"),
    MC(save_last, ENUM, "false", "also keep last.ckpt (link: a symbolic link to the newest)",
       VOLT_CHOICES("false", "true", "link"),
       .values = (const int[]){VOLT_SAVE_LAST_NO, VOLT_SAVE_LAST_YES, VOLT_SAVE_LAST_LINK}),
    MC(save_top_k, INT, "1", "keep the k best (-1: all, 0: none)", VOLT_GE(-1)),
    MC(save_weights_only, BOOL, "false", "weights only (no optimizer or loop state)"),
    MC(mode, CHOICE, "min", "min or max: which way the monitor improves",
       VOLT_CHOICES("min", "max")),
    MC(auto_insert_metric_name, BOOL, "true", "epoch=3-val_loss=0.28.ckpt rather than 3-0.28.ckpt"),
    MC(every_n_train_steps, INT, "0", "save every n training steps (0: off)", VOLT_GE(0)),
    MC(train_time_interval, DOUBLE, "0.0", "save every so many seconds (0: off)", VOLT_GE(0)),
    MC(every_n_epochs, INT, "null", "save every n epochs (null: 1 unless a step or time trigger)",
       VOLT_GE(0), VOLT_NULLABLE),
    MC(save_on_train_epoch_end, ENUM, "null",
       "save at the end of the training epoch rather than after validation (null: auto)",
       VOLT_CHOICES("false", "true"), VOLT_NULLABLE),
    MC(enable_version_counter, BOOL, "true", "name-v1.ckpt when name.ckpt exists"),
    {0},
};

#define ES(f, type, def, help, ...)                                                                \
    VOLT_OPT(volt_early_stopping_options, f, type, def, help, __VA_ARGS__)
const volt_option volt_early_stopping_table[] = {
    ES(monitor, STRING, "null", "the metric to watch (val_loss, val_acc, ...)",
       .flags = VOLT_OPTION_REQUIRED),
    ES(min_delta, DOUBLE, "0.0", "smallest change that counts as an improvement"),
    ES(patience, INT, "3", "checks without improvement before stopping", VOLT_GE(0)),
    ES(verbose, BOOL, "false", "print why it stops"),
    ES(mode, CHOICE, "min", "min or max: which way the monitor improves",
       VOLT_CHOICES("min", "max")),
    ES(strict, BOOL, "true", "a missing monitor is an error"),
    ES(check_finite, BOOL, "true", "stop when the monitor is NaN or infinite"),
    ES(stopping_threshold, DOUBLE, "null", "stop once the monitor reaches this value",
       .flags = VOLT_OPTION_NULL_NAN),
    ES(divergence_threshold, DOUBLE, "null", "stop once the monitor is worse than this",
       .flags = VOLT_OPTION_NULL_NAN),
    ES(check_on_train_epoch_end, BOOL, "false",
       "check at training epoch end, not after validation"),
    {0},
};

#define LM(f, type, def, help, ...)                                                                \
    VOLT_OPT(volt_lr_monitor_options, f, type, def, help, __VA_ARGS__)
const volt_option volt_lr_monitor_table[] = {
    LM(logging_interval, CHOICE, "null", "step or epoch (null: each scheduler's interval)",
       VOLT_CHOICES("step", "epoch"), VOLT_NULLABLE),
    LM(log_momentum, BOOL, "false", "also log the momentum (or beta1)"),
    LM(log_weight_decay, BOOL, "false", "also log the weight decay"),
    {0},
};

#define TM(f, type, def, help, ...) VOLT_OPT(volt_timer_options, f, type, def, help, __VA_ARGS__)
const volt_option volt_timer_table[] = {
    TM(duration, DOUBLE, "null", "stop fit after this many seconds (null: only measure)",
       VOLT_GE(0), .flags = VOLT_OPTION_NULL_NAN),
    TM(interval, CHOICE, "step", "check the time every step or epoch",
       VOLT_CHOICES("step", "epoch")),
    TM(verbose, BOOL, "true", "print when time is up"),
    {0},
};

#define EMA(f, type, def, help, ...) VOLT_OPT(volt_ema_options, f, type, def, help, __VA_ARGS__)
const volt_option volt_ema_table[] = {
    EMA(decay, DOUBLE, "0.999", "ema = decay * ema + (1 - decay) * weights", VOLT_RANGE(0, 1)),
    EMA(update_every_n_steps, INT, "1", "update after every n optimizer steps", VOLT_GE(1)),
    EMA(validate_original_weights, BOOL, "false", "validate the trained weights, not the EMA"),
    {0},
};

/* ------------------------------------------------------------- optimizers */
/* Doubles carry VOLT_OPTION_OPTIM_ZERO: a 0 read from a config is a real 0
 * (VOLT_OPTIM_ZERO), never "the default". */

#define Z .flags = VOLT_OPTION_OPTIM_ZERO
#define OPT_LR(S, def) VOLT_OPT(S, lr, DOUBLE, def, "learning rate", VOLT_GE(0), Z)
#define OPT_WD(S, def) VOLT_OPT(S, weight_decay, DOUBLE, def, "weight decay", VOLT_GE(0), Z)
#define OPT_EPS(S, def)                                                                            \
    VOLT_OPT(S, eps, DOUBLE, def, "term added for numerical stability", VOLT_GE(0), Z)
#define OPT_BETA(S, f, def, help) VOLT_OPT(S, f, DOUBLE, def, help, VOLT_RANGE(0, 1), Z)
#define OPT_MAXIMIZE(S) VOLT_OPT(S, maximize, BOOL, "false", "maximise the objective")

const volt_option volt_sgd_table[] = {
    OPT_LR(volt_sgd_options, "0.001"),
    VOLT_OPT(volt_sgd_options, momentum, DOUBLE, "0.0", "momentum factor, in [0, 1)",
             VOLT_RANGE(0, 1), Z),
    VOLT_OPT(volt_sgd_options, dampening, DOUBLE, "0.0", "dampening of momentum", VOLT_RANGE(0, 1),
             Z),
    OPT_WD(volt_sgd_options, "0.0"),
    VOLT_OPT(volt_sgd_options, nesterov, BOOL, "false", "Nesterov momentum"),
    OPT_MAXIMIZE(volt_sgd_options),
    {0},
};

#define ADAM_TABLE(wd, wd_help)                                                                    \
    {                                                                                              \
        OPT_LR(volt_adam_options, "0.001"),                                                        \
            OPT_BETA(volt_adam_options, beta1, "0.9", "decay of the first moment"),                \
            OPT_BETA(volt_adam_options, beta2, "0.999", "decay of the second moment"),             \
            OPT_EPS(volt_adam_options, "1.0e-08"),                                                 \
            VOLT_OPT(volt_adam_options, weight_decay, DOUBLE, wd, wd_help, VOLT_GE(0), Z),         \
            VOLT_OPT(volt_adam_options, amsgrad, BOOL, "false", "the AMSGrad variant"),            \
            OPT_MAXIMIZE(volt_adam_options), {0},                                                  \
    }
const volt_option volt_adam_table[] = ADAM_TABLE("0.0", "L2 penalty added to the gradient");
const volt_option volt_adamw_table[] = ADAM_TABLE("0.01", "decoupled weight decay");

const volt_option volt_rmsprop_table[] = {
    OPT_LR(volt_rmsprop_options, "0.01"),
    OPT_BETA(volt_rmsprop_options, alpha, "0.99", "smoothing constant"),
    OPT_EPS(volt_rmsprop_options, "1.0e-08"),
    OPT_WD(volt_rmsprop_options, "0.0"),
    OPT_BETA(volt_rmsprop_options, momentum, "0.0", "momentum factor, in [0, 1)"),
    VOLT_OPT(volt_rmsprop_options, centered, BOOL, "false", "normalise by the variance estimate"),
    OPT_MAXIMIZE(volt_rmsprop_options),
    {0},
};

const volt_option volt_adagrad_table[] = {
    OPT_LR(volt_adagrad_options, "0.01"),
    VOLT_OPT(volt_adagrad_options, lr_decay, DOUBLE, "0.0", "learning rate decay", VOLT_GE(0), Z),
    OPT_WD(volt_adagrad_options, "0.0"),
    VOLT_OPT(volt_adagrad_options, initial_accumulator_value, DOUBLE, "0.0",
             "starting value of the squared-gradient sums", VOLT_GE(0), Z),
    OPT_EPS(volt_adagrad_options, "1.0e-10"),
    OPT_MAXIMIZE(volt_adagrad_options),
    {0},
};

const volt_option volt_lion_table[] = {
    OPT_LR(volt_lion_options, "0.0001"),
    OPT_BETA(volt_lion_options, beta1, "0.9", "interpolation of the update"),
    OPT_BETA(volt_lion_options, beta2, "0.99", "decay of the momentum"),
    OPT_WD(volt_lion_options, "0.0"),
    OPT_MAXIMIZE(volt_lion_options),
    {0},
};

/* ----------------------------------------------------------------- models */

#define MODEL_LR(S, wd)                                                                            \
    VOLT_OPT(S, lr, DOUBLE, "0.001", "learning rate of the default optimizer (Adam)", VOLT_GE(0)), \
        VOLT_OPT(S, weight_decay, DOUBLE, wd, "weight decay of the default optimizer", VOLT_GE(0))
#define COUNT(S, f, def, help, lo) VOLT_OPT(S, f, INT, def, help, VOLT_GE(lo))

const volt_option volt_mlp_table[] = {
    COUNT(volt_mlp_options, in_features, "784", "input features (28 x 28 images: 784)", 1),
    COUNT(volt_mlp_options, hidden, "256", "hidden units", 1),
    COUNT(volt_mlp_options, num_classes, "10", "classes", 2),
    VOLT_OPT(volt_mlp_options, dropout, DOUBLE, "0.0", "dropout after the hidden layer",
             VOLT_RANGE(0, 1)),
    MODEL_LR(volt_mlp_options, "0.0"),
    {0},
};

const volt_option volt_cnn_table[] = {
    COUNT(volt_cnn_options, in_channels, "1", "image channels", 1),
    COUNT(volt_cnn_options, image_size, "28", "image height = width", 4),
    COUNT(volt_cnn_options, channels, "32", "channels of the first conv block (the second: twice)",
          1),
    COUNT(volt_cnn_options, hidden, "128", "units of the first linear layer", 1),
    COUNT(volt_cnn_options, num_classes, "10", "classes", 2),
    VOLT_OPT(volt_cnn_options, dropout, DOUBLE, "0.25", "dropout before the linear layers",
             VOLT_RANGE(0, 1)),
    MODEL_LR(volt_cnn_options, "0.0"),
    {0},
};

const volt_option volt_resnet_table[] = {
    COUNT(volt_resnet_options, in_channels, "1", "image channels", 1),
    COUNT(volt_resnet_options, width, "16", "channels of the first stage (then 2x, 4x)", 1),
    COUNT(volt_resnet_options, blocks, "2", "basic blocks per stage", 1),
    COUNT(volt_resnet_options, num_classes, "10", "classes", 2),
    MODEL_LR(volt_resnet_options, "0.0005"),
    {0},
};
