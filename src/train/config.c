/* config.c: the trainer configuration — Lightning's defaults, the checks of
 * every field and combination, and the limit_*_batches arithmetic. */
#include <math.h>
#include <string.h>

#include "train/precision_impl.h"
#include "train/train_impl.h"

volt_trainer_config volt_trainer_defaults(void) {
    volt_trainer_config c;
    memset(&c, 0, sizeof c);
    c.accelerator = "auto";
    c.strategy = "auto";
    c.devices = 1;
    c.num_nodes = 1;
    c.precision = "32-true";
    c.compensated_updates = true;
    c.use_distributed_sampler = true;
    c.bucket_cap_mb = 25;
    c.max_epochs = VOLT_NONE;
    c.min_epochs = VOLT_NONE;
    c.max_steps = -1;
    c.min_steps = VOLT_NONE;
    c.max_time = (double)VOLT_NONE;
    c.limit_train_batches = 1.0;
    c.limit_val_batches = 1.0;
    c.limit_test_batches = 1.0;
    c.limit_predict_batches = 1.0;
    c.overfit_batches = 0.0;
    c.val_check_interval = 1.0;
    c.check_val_every_n_epoch = 1;
    c.num_sanity_val_steps = 2;
    c.fast_dev_run = 0;
    c.accumulate_grad_batches = 1;
    c.gradient_clip_val = 0.0;
    c.gradient_clip_algorithm = NULL;
    c.log_every_n_steps = 50;
    c.default_root_dir = NULL;
    c.logger = true;
    c.enable_checkpointing = true;
    c.enable_progress_bar = true;
    c.enable_model_summary = true;
    c.model_summary_max_depth = 1;
    c.barebones = false;
    c.profiler = NULL;
    c.profiler_path = NULL;
    c.deterministic = false;
    c.inference_mode = true;
    c.detect_anomaly = false;
    c.reload_dataloaders_every_n_epochs = 0;
    c.seed = VOLT_NONE;
    c.num_threads = 0;
    return c;
}

bool volt_limit_is_count(double v, int64_t *count) {
    if (v <= -VOLT_BATCHES_TAG) {
        *count = (int64_t)(-v - VOLT_BATCHES_TAG);
        return true;
    }
    if (v > 1.0) {
        *count = (int64_t)v;
        return true;
    }
    return false;
}

/* A fraction in [0, 1], a whole number > 1, or VOLT_BATCHES(n). */
static volt_status check_limit(const char *field, double v, bool allow_zero) {
    if (isnan(v) || isinf(v))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: %s = %g is not a number of batches", field, v);
    if (v <= -VOLT_BATCHES_TAG) {
        double n = -v - VOLT_BATCHES_TAG;
        if (n != floor(n) || (n == 0 && !allow_zero))
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "trainer: %s = VOLT_BATCHES(%g): a count must be a whole "
                                  "number >= %d",
                                  field, n, allow_zero ? 0 : 1);
        return VOLT_OK;
    }
    if (v < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: %s = %g is negative (a fraction in [0, 1] or a count "
                              "of batches)",
                              field, v);
    if (v > 1.0 && v != floor(v))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: %s = %g: a fraction must be in [0, 1] and a count of "
                              "batches a whole number",
                              field, v);
    if (v == 0 && !allow_zero)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "trainer: %s = 0 (must be > 0)", field);
    return VOLT_OK;
}

int64_t volt_limit_batches(double limit, int64_t n, const char *field) {
    int64_t count;
    if (volt_limit_is_count(limit, &count)) return count < n ? count : n;
    if (limit >= 1.0) return n;
    int64_t k = (int64_t)floor((double)n * limit);
    if (k == 0 && limit > 0 && n > 0) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "trainer: %s = %g of %lld batches gives 0 batches; raise it or set it "
                       "to 0 to skip the stage",
                       field, limit, (long long)n);
        return -1;
    }
    return k;
}

static bool is_one_of(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return true;
    return false;
}

const char *const volt_precision_values[] = {"32-true",  "32", "bf16-mixed", "bf16", "bf16-true",
                                             "16-mixed", "16", "16-true",    NULL};

bool volt_precision_bf16_true(const char *precision) {
    return precision && strcmp(precision, "bf16-true") == 0;
}

volt_dtype volt_precision_true_dtype(const char *precision) {
    if (volt_precision_bf16_true(precision)) return VOLT_BF16;
    if (precision && strcmp(precision, "16-true") == 0) return VOLT_F16;
    return VOLT_F32;
}

bool volt_precision_f16(const char *precision) {
    return precision && (strcmp(precision, "16-mixed") == 0 || strcmp(precision, "16") == 0 ||
                         strcmp(precision, "16-true") == 0);
}

volt_autocast_mode volt_precision_autocast(const char *precision) {
    if (precision && (strcmp(precision, "bf16-mixed") == 0 || strcmp(precision, "bf16") == 0))
        return VOLT_AUTOCAST_BF16;
    if (precision && (strcmp(precision, "16-mixed") == 0 || strcmp(precision, "16") == 0))
        return VOLT_AUTOCAST_F16;
    return VOLT_AUTOCAST_OFF;
}

static bool names_cuda(const char *accelerator) {
    return accelerator && (strcmp(accelerator, "cuda") == 0 || strcmp(accelerator, "gpu") == 0);
}

static bool is_auto(const char *accelerator) {
    return !accelerator || strcmp(accelerator, "auto") == 0;
}

bool volt_accelerator_is_cuda(const char *accelerator) {
    return names_cuda(accelerator) || (is_auto(accelerator) && volt_cuda_device_count() > 0);
}

/* accelerator "cuda" / "gpu" (Lightning's two names): refused with the
 * reason when this machine cannot run it (no CUDA backend, driver or
 * device: volt_device_check's message). The trainer and fabric move their
 * modules and batches there. */
static volt_status check_cuda_accelerator(const char *who, const char *accelerator) {
    volt_status st = volt_device_check((volt_device){VOLT_CUDA, 0});
    return st ? volt_error_prefix(st, "%s: accelerator '%s'", who, accelerator) : VOLT_OK;
}

volt_device volt_run_device(const char *accelerator, int local_rank) {
    if (!volt_accelerator_is_cuda(accelerator)) return VOLT_DEVICE_CPU;
    int n = volt_cuda_device_count();
    return (volt_device){VOLT_CUDA, n > 0 ? local_rank % n : 0};
}

volt_status volt_check_run_names(const char *who, const char *accelerator, const char *strategy,
                                 const char *precision) {
    static const char *const later_acc[] = {"mps", "tpu", NULL};
    if (names_cuda(accelerator) && check_cuda_accelerator(who, accelerator))
        return volt_error_status();
    static const char *const later_prec[] = {"64-true", "64", "transformer-engine", NULL};
    static const char *const later_strat[] = {"ddp_spawn", "fsdp", "deepspeed", NULL};
    static const char *const strategies[] = {"auto", "single_device", "ddp", "zero1", NULL};
    if (!is_auto(accelerator) && strcmp(accelerator, "cpu") != 0 && !names_cuda(accelerator))
        return volt_error_set(
            is_one_of(accelerator, later_acc) ? VOLT_ERR_UNSUPPORTED : VOLT_ERR_INVALID_ARGUMENT,
            "%s: accelerator '%s' %s", who, accelerator,
            is_one_of(accelerator, later_acc)
                ? "is not supported yet (use \"cpu\")"
                : "is unknown (\"auto\", \"cpu\"; \"cuda\" or \"gpu\" on a machine with a GPU)");
    if (strategy && !is_one_of(strategy, strategies))
        return volt_error_set(is_one_of(strategy, later_strat) ? VOLT_ERR_UNSUPPORTED
                                                               : VOLT_ERR_INVALID_ARGUMENT,
                              "%s: strategy '%s' %s", who, strategy,
                              is_one_of(strategy, later_strat)
                                  ? "is not supported yet (\"ddp\", \"zero1\")"
                                  : "is unknown (\"auto\", \"single_device\", \"ddp\", \"zero1\")");
    if (precision && !is_one_of(precision, volt_precision_values))
        return volt_error_set(
            is_one_of(precision, later_prec) ? VOLT_ERR_UNSUPPORTED : VOLT_ERR_INVALID_ARGUMENT,
            "%s: precision '%s' %s (\"32-true\", \"bf16-mixed\", \"bf16-true\"; also \"32\", "
            "\"bf16\"; \"16-mixed\", \"16-true\" on a GPU)",
            who, precision,
            is_one_of(precision, later_prec) ? "is not supported yet" : "is unknown");
    /* float16 has kernels on CUDA only (Lightning refuses it on the CPU too). */
    if (volt_precision_f16(precision) && !volt_accelerator_is_cuda(accelerator))
        return volt_error_set(VOLT_ERR_UNSUPPORTED,
                              "%s: precision '%s' needs a GPU (accelerator '%s' runs on the CPU, "
                              "which has no float16 kernels; use \"bf16-mixed\" there)",
                              who, precision, accelerator ? accelerator : "auto");
    return VOLT_OK;
}

static volt_status check_hardware(const volt_trainer_config *c) {
    int n_gpus = volt_accelerator_is_cuda(c->accelerator) ? volt_cuda_device_count() : 0;
    if (n_gpus > 0 && c->devices > n_gpus)
        return volt_error_set(VOLT_ERR_DEVICE,
                              "trainer: accelerator '%s': devices = %lld, but this machine has %d "
                              "CUDA device(s)",
                              c->accelerator ? c->accelerator : "auto", (long long)c->devices,
                              n_gpus);
    if (volt_check_run_names("trainer", c->accelerator, c->strategy, c->precision))
        return volt_error_status();
    if (c->devices != VOLT_NONE && c->devices != -1 && c->devices < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: devices = %lld (must be >= 1, or -1 for all)",
                              (long long)c->devices);
    if (c->bucket_cap_mb < 0 || !isfinite(c->bucket_cap_mb))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: bucket_cap_mb = %g (must be >= 0; 0: 25)",
                              c->bucket_cap_mb);
    if (c->num_nodes < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "trainer: num_nodes = %lld (must be >= 1)",
                              (long long)c->num_nodes);
    return VOLT_OK;
}

static volt_status check_lengths(const volt_trainer_config *c) {
    if (c->max_epochs != VOLT_NONE && c->max_epochs < -1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: max_epochs = %lld (must be >= 0, -1 for no limit, or "
                              "VOLT_NONE)",
                              (long long)c->max_epochs);
    if (c->min_epochs != VOLT_NONE && c->min_epochs < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: min_epochs = %lld (must be >= 0)",
                              (long long)c->min_epochs);
    if (c->min_epochs != VOLT_NONE && c->max_epochs != VOLT_NONE && c->max_epochs >= 0 &&
        c->min_epochs > c->max_epochs)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: min_epochs = %lld exceeds max_epochs = %lld",
                              (long long)c->min_epochs, (long long)c->max_epochs);
    if (c->max_steps < -1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: max_steps = %lld (must be >= 0, or -1 for no limit)",
                              (long long)c->max_steps);
    if (c->min_steps != VOLT_NONE && c->min_steps < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "trainer: min_steps = %lld (must be >= 0)",
                              (long long)c->min_steps);
    if (c->min_steps != VOLT_NONE && c->max_steps >= 0 && c->min_steps > c->max_steps)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: min_steps = %lld exceeds max_steps = %lld",
                              (long long)c->min_steps, (long long)c->max_steps);
    if (c->max_time != (double)VOLT_NONE && !(c->max_time >= 0 && isfinite(c->max_time)))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: max_time = %g (seconds >= 0, or VOLT_NONE)", c->max_time);
    if (c->fast_dev_run < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: fast_dev_run = %lld (must be >= 0)",
                              (long long)c->fast_dev_run);
    return VOLT_OK;
}

static volt_status check_batches(const volt_trainer_config *c) {
    volt_status st;
    if ((st = check_limit("limit_train_batches", c->limit_train_batches, true))) return st;
    if ((st = check_limit("limit_val_batches", c->limit_val_batches, true))) return st;
    if ((st = check_limit("limit_test_batches", c->limit_test_batches, true))) return st;
    if ((st = check_limit("limit_predict_batches", c->limit_predict_batches, true))) return st;
    if ((st = check_limit("overfit_batches", c->overfit_batches, true))) return st;
    if ((st = check_limit("val_check_interval", c->val_check_interval, false))) return st;
    if (c->check_val_every_n_epoch != VOLT_NONE && c->check_val_every_n_epoch < 1)
        return volt_error_set(
            VOLT_ERR_INVALID_ARGUMENT,
            "trainer: check_val_every_n_epoch = %lld (must be >= 1, or VOLT_NONE)",
            (long long)c->check_val_every_n_epoch);
    if (c->num_sanity_val_steps < -1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: num_sanity_val_steps = %lld (must be >= 0, or -1 for all)",
                              (long long)c->num_sanity_val_steps);
    if (c->accumulate_grad_batches < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: accumulate_grad_batches = %lld (must be >= 1)",
                              (long long)c->accumulate_grad_batches);
    return VOLT_OK;
}

static volt_status check_rest(const volt_trainer_config *c) {
    if (c->gradient_clip_val != (double)VOLT_NONE &&
        !(c->gradient_clip_val >= 0 && isfinite(c->gradient_clip_val)))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: gradient_clip_val = %g (must be >= 0)",
                              c->gradient_clip_val);
    if (c->gradient_clip_algorithm && strcmp(c->gradient_clip_algorithm, "norm") != 0 &&
        strcmp(c->gradient_clip_algorithm, "value") != 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: gradient_clip_algorithm '%s' is unknown (\"norm\" or "
                              "\"value\")",
                              c->gradient_clip_algorithm);
    if (c->log_every_n_steps < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: log_every_n_steps = %lld (must be >= 0)",
                              (long long)c->log_every_n_steps);
    if (c->reload_dataloaders_every_n_epochs < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: reload_dataloaders_every_n_epochs = %lld (must be >= 0)",
                              (long long)c->reload_dataloaders_every_n_epochs);
    if (c->seed != VOLT_NONE && c->seed < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: seed = %lld (must be >= 0, or VOLT_NONE)",
                              (long long)c->seed);
    if (c->model_summary_max_depth < -1 || c->model_summary_max_depth > 1000)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: model_summary_max_depth = %lld (must be >= 0, or -1 for "
                              "all levels)",
                              (long long)c->model_summary_max_depth);
    if (c->deterministic && c->seed == VOLT_NONE)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: deterministic = true needs a seed (set seed; the run's "
                              "randomness starts from it)");
    if (c->deterministic && c->max_time != (double)VOLT_NONE)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: deterministic = true refuses max_time = %g (where a "
                              "clock stops training is not reproducible; use max_steps or "
                              "max_epochs)",
                              c->max_time);
    if (c->num_threads < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "trainer: num_threads = %d (must be >= 0)",
                              c->num_threads);
    return VOLT_OK;
}

static volt_status check_profiler(const volt_trainer_config *c) {
    const char *p = c->profiler;
    if (!p || !*p) return VOLT_OK;
    if (strcmp(p, "simple") != 0 && strcmp(p, "trace") != 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: profiler '%s' is unknown (\"simple\", \"trace\", or "
                              "NULL for none)",
                              p);
    if (c->barebones)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "trainer: profiler '%s' with barebones = true (barebones turns "
                              "every extra off; set profiler = NULL)",
                              p);
    return VOLT_OK;
}

volt_status volt_trainer_config_check(const volt_trainer_config *cfg) {
    if (!cfg) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "trainer: NULL configuration");
    volt_status st;
    if ((st = check_hardware(cfg))) return st;
    if ((st = check_lengths(cfg))) return st;
    if ((st = check_batches(cfg))) return st;
    if ((st = check_profiler(cfg))) return st;
    return check_rest(cfg);
}
