/* volt/optim.h: the optim layer (DESIGN.md §1) — optimizers (SGD, Adam,
 * AdamW, RMSprop, Adagrad, Lion) with parameter groups, learning-rate
 * schedulers, gradient clipping, and the state of each for checkpoints.
 * The arithmetic of every optimizer and scheduler follows PyTorch 1.13's
 * (tests/parity/record_optim.py holds volt to it).
 *
 *     volt_optimizer *opt = volt_sgd_new(volt_module_parameters(&m.base),
 *                                        &(volt_sgd_options){.lr = 0.1, .momentum = 0.9});
 *     volt_lr_scheduler *sched = volt_cosine_lr_new(opt, 10);
 *     for (int epoch = 0; epoch < 10; epoch++) {
 *         for (each batch) {
 *             volt_scope_begin();
 *             volt_tensor *loss = ...;
 *             volt_optimizer_zero_grad(opt);
 *             volt_backward(loss);
 *             volt_optimizer_step(opt);
 *             volt_scope_end();
 *         }
 *         volt_lr_scheduler_step(sched);
 *     }
 *     volt_lr_scheduler_free(sched);
 *     volt_optimizer_free(opt);
 *
 * Ownership. An optimizer refers to its parameters without owning them (they
 * must outlive it, and must not be replaced while it lives) and owns its
 * state tensors (momentum buffers, moments, ...). A scheduler refers to its
 * optimizer: free the scheduler first.
 *
 * Options. Each optimizer takes an options struct whose zeroed fields mean
 * PyTorch's default (stated beside each field). Where PyTorch's default is
 * not 0 but 0 is a meaningful value (Adam's beta1, AdamW's weight_decay,
 * eps, ...), write VOLT_OPTIM_ZERO for a real 0. NULL options mean all
 * defaults (SGD has no default lr and refuses NULL).
 *
 * Parameter groups. The constructor makes group 0;
 * volt_optimizer_add_param_group adds more, each with its own
 * hyperparameters: a zero (or false) field of a group's options takes the
 * constructor's value, as missing keys do in PyTorch (a boolean set at the
 * constructor cannot be switched off for one group).
 *
 * Errors. Constructors return NULL and functions return a status with the
 * sticky error set (volt/core.h); messages name the optimizer or scheduler,
 * the field and the value: "volt: SGD: invalid momentum 1.5 (must be in
 * [0, 1))". */
#ifndef VOLT_OPTIM_H
#define VOLT_OPTIM_H

#include "volt/autograd.h"
#include "volt/core.h"
#include "volt/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A real 0 for an options field whose zero means a non-zero default
 * (negative zero, which the option parser tells from a plain 0). */
#define VOLT_OPTIM_ZERO (-0.0)

/* ------------------------------------------------------------ optimizers */

typedef struct volt_optimizer volt_optimizer;

/* torch.optim.SGD. */
typedef struct {
    double lr;           /* required (> 0; VOLT_OPTIM_ZERO for 0) */
    double momentum;     /* 0; in [0, 1) */
    double dampening;    /* 0; in [0, 1] */
    double weight_decay; /* 0; L2 penalty added to the gradient, >= 0 */
    bool nesterov;       /* false; needs momentum > 0 and dampening 0 */
    bool maximize;       /* false: minimise */
} volt_sgd_options;

/* torch.optim.Adam and torch.optim.AdamW. */
typedef struct {
    double lr;           /* 1e-3; >= 0 */
    double beta1, beta2; /* 0.9, 0.999; each in [0, 1) */
    double eps;          /* 1e-8; >= 0 */
    double weight_decay; /* Adam: 0 (L2 in the gradient); AdamW: 1e-2 (decoupled); >= 0 */
    bool amsgrad;        /* false */
    bool maximize;       /* false */
} volt_adam_options;

/* torch.optim.RMSprop. */
typedef struct {
    double lr;           /* 1e-2; >= 0 */
    double alpha;        /* 0.99; smoothing constant, in [0, 1] */
    double eps;          /* 1e-8; >= 0 */
    double weight_decay; /* 0; >= 0 */
    double momentum;     /* 0; in [0, 1) */
    bool centered;       /* false: true normalises by the variance estimate */
    bool maximize;       /* false */
} volt_rmsprop_options;

/* torch.optim.Adagrad. */
typedef struct {
    double lr;                        /* 1e-2; >= 0 */
    double lr_decay;                  /* 0; >= 0 */
    double weight_decay;              /* 0; >= 0 */
    double initial_accumulator_value; /* 0; >= 0 */
    double eps;                       /* 1e-10; >= 0 */
    bool maximize;                    /* false */
} volt_adagrad_options;

/* Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"):
 *   c = beta1 m + (1 - beta1) g;  p = p (1 - lr wd) - lr sign(c);
 *   m = beta2 m + (1 - beta2) g. Not in torch 1.13. */
typedef struct {
    double lr;           /* 1e-4; >= 0 */
    double beta1, beta2; /* 0.9, 0.99; each in [0, 1) */
    double weight_decay; /* 0; decoupled, >= 0 */
    bool maximize;       /* false */
} volt_lion_options;

/* Each takes the parameters (floating CPU or CUDA tensors: f32, f64, bf16;
 * f16 on CUDA, for precision "16-true", its state in f16 too; module parameters are contiguous,
 * which the update requires), copies the list (the optimizer does not own the tensors), and
 * validates options; NULL with an error on an empty list, a NULL or repeated tensor, or a bad
 * hyperparameter. */
volt_optimizer *volt_sgd_new(volt_params params, const volt_sgd_options *options);
volt_optimizer *volt_adam_new(volt_params params, const volt_adam_options *options);
volt_optimizer *volt_adamw_new(volt_params params, const volt_adam_options *options);
volt_optimizer *volt_rmsprop_new(volt_params params, const volt_rmsprop_options *options);
volt_optimizer *volt_adagrad_new(volt_params params, const volt_adagrad_options *options);
volt_optimizer *volt_lion_new(volt_params params, const volt_lion_options *options);
/* Frees the optimizer and its state (not the parameters). NULL is a no-op. */
void volt_optimizer_free(volt_optimizer *opt);

/* "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion". */
const char *volt_optimizer_name(const volt_optimizer *opt);

/* Adds a group: `options` points to the optimizer's own options type
 * (volt_sgd_options for SGD, volt_adam_options for Adam/AdamW, ...) or is
 * NULL (the constructor's options). A tensor already in a group is an error
 * (nothing is added). */
volt_status volt_optimizer_add_param_group(volt_optimizer *opt, volt_params params,
                                           const void *options);
int volt_optimizer_num_groups(const volt_optimizer *opt);
/* Every parameter, group after group (names NULL); valid until a group is
 * added or the optimizer is freed. */
volt_params volt_optimizer_params(const volt_optimizer *opt);

/* The learning rate of a group (NAN with an error for a bad group), and
 * setting it (>= 0, finite) — what schedulers do. */
double volt_optimizer_lr(const volt_optimizer *opt, int group);
volt_status volt_optimizer_set_lr(volt_optimizer *opt, int group, double lr);
/* The momentum of a group: `momentum` for SGD and RMSprop, beta1 for Adam,
 * AdamW and Lion (what OneCycleLR cycles); Adagrad has none
 * (volt_optimizer_has_momentum false, NAN and an error). */
bool volt_optimizer_has_momentum(const volt_optimizer *opt);
double volt_optimizer_momentum(const volt_optimizer *opt, int group);
volt_status volt_optimizer_set_momentum(volt_optimizer *opt, int group, double momentum);

/* Sets every parameter's gradient to none (volt_tensor_clear_grad). */
void volt_optimizer_zero_grad(volt_optimizer *opt);
/* One update of every parameter that has a gradient (the others are
 * skipped, as in PyTorch), under no-grad: a single fused pass over each
 * parameter reading it, its gradient and its state and writing them back,
 * then a bump of the parameter's storage version. Parameters and gradients
 * must be contiguous f32/f64/bf16 (CUDA: or f16) tensors of the same dtype and shape, the
 * gradient on the parameter's device (CUDA: one multi-tensor kernel per
 * parameter group, queued and not waited for); any
 * violation is an error that names the optimizer and the parameter, checked
 * before anything is written (so a failed step changes nothing). */
volt_status volt_optimizer_step(volt_optimizer *opt);
/* Number of successful volt_optimizer_step calls (restored by loads). */
int64_t volt_optimizer_step_count(const volt_optimizer *opt);

/* Compensated updates of 16-bit parameters (bf16, and f16 on CUDA): off by
 * default, which rounds each updated parameter to its dtype as PyTorch does,
 * so that an update smaller than half a step of the parameter's dtype is
 * lost. On, each such parameter gets a state tensor "compensation" of its
 * dtype and shape (created zero at its next update) that holds what the
 * rounding dropped (Kahan summation): the update starts from parameter +
 * compensation in f32 and stores parameter = round(q), compensation =
 * round(q - parameter) of its result q, so small updates add up as they
 * would on an f32 parameter while the parameter itself stays 16-bit (two
 * bytes more per element). f32 and f64 parameters are not affected. The
 * trainer and Fabric turn it on for precision "bf16-true" and "16-true"
 * (volt_trainer_config.compensated_updates). Turning it off frees the
 * compensations. Error only for a NULL optimizer. */
volt_status volt_optimizer_set_compensated(volt_optimizer *opt, bool on);
bool volt_optimizer_compensated(const volt_optimizer *opt);

/* State for checkpoints. The tensors are the optimizer's own state slots
 * (not copies), named "state.<i>.<slot>" with <i> the parameter's index in
 * volt_optimizer_params and <slot> PyTorch's state key (momentum_buffer,
 * exp_avg, exp_avg_sq, max_exp_avg_sq, square_avg, grad_avg, sum) or
 * "compensation" (compensated updates, a 16-bit parameter's); free the
 * list with volt_state_dict_free. *json receives (malloc'd, free with
 * free()) the rest: {"format": "volt-optimizer-1", "type", "step_count",
 * "param_groups": [{hyperparameters with PyTorch's keys, "initial_lr" once
 * a scheduler set it, "params": [indices], "shapes": [[...]]}],
 * "state": {"<i>": {"step": n}}} (numbers printed so they read back
 * exactly). NULL with an error on failure. */
volt_state_dict *volt_optimizer_state_dict(volt_optimizer *opt, char **json);
/* Restores a state written by volt_optimizer_state_dict of an optimizer of
 * the same type over parameters of the same shapes in the same groups (sd
 * may be NULL when it holds no tensors): hyperparameters, steps and slots,
 * copied and converted to each parameter's dtype. A compensation is
 * restored when compensated updates are on (else dropped; one missing
 * starts at zero). Any mismatch (type, group
 * or parameter counts, shapes, unknown or missing slots, bad JSON) is an
 * error naming it, and nothing is changed. A run resumed this way continues
 * bit for bit as the uninterrupted one. */
volt_status volt_optimizer_load_state_dict(volt_optimizer *opt, const volt_state_dict *sd,
                                           const char *json);

/* ------------------------------------------------------------ schedulers */
/* Each follows torch.optim.lr_scheduler (1.13): created on an optimizer, it
 * records each group's initial_lr (unless set), performs its initial step
 * (epoch 0) at once, and changes the groups' lr on each step. Step after the
 * optimizer's step. Constructors return NULL with an error naming the
 * scheduler and the bad value. */

typedef struct volt_lr_scheduler volt_lr_scheduler;

/* lr * gamma every step_size epochs (step_size >= 1; gamma 0: 0.1). */
volt_lr_scheduler *volt_step_lr_new(volt_optimizer *opt, int64_t step_size, double gamma);
/* lr * gamma at each milestone (epochs >= 0, in any order; a repeated one
 * applies gamma twice; gamma 0: 0.1). */
volt_lr_scheduler *volt_multistep_lr_new(volt_optimizer *opt, int n_milestones,
                                         const int64_t *milestones, double gamma);
/* lr * gamma every epoch (gamma > 0). */
volt_lr_scheduler *volt_exponential_lr_new(volt_optimizer *opt, double gamma);
/* Cosine from the initial lr to eta_min (0 for the short form) over t_max
 * epochs (t_max >= 1), PyTorch's recursive form. */
volt_lr_scheduler *volt_cosine_lr_new(volt_optimizer *opt, int64_t t_max);
volt_lr_scheduler *volt_cosine_lr_new_ex(volt_optimizer *opt, int64_t t_max, double eta_min);
/* SGDR: cosine restarts after t_0, t_0 t_mult, ... epochs (t_0 >= 1;
 * t_mult >= 1, 0 meaning 1). */
volt_lr_scheduler *volt_cosine_warm_restarts_lr_new(volt_optimizer *opt, int64_t t_0,
                                                    int64_t t_mult, double eta_min);
/* Factor from start_factor (in (0, 1]) linearly to end_factor (in [0, 1])
 * over total_iters epochs (>= 1). */
volt_lr_scheduler *volt_linear_lr_new(volt_optimizer *opt, double start_factor, double end_factor,
                                      int64_t total_iters);
/* lr * factor (in (0, 1]) until total_iters (>= 0), then lr. */
volt_lr_scheduler *volt_constant_lr_new(volt_optimizer *opt, double factor, int64_t total_iters);
/* lr * (1 - epoch / total_iters)^power until total_iters (>= 1), then 0. */
volt_lr_scheduler *volt_polynomial_lr_new(volt_optimizer *opt, int64_t total_iters, double power);
/* lr = initial_lr * fn(epoch, ctx) for every group. */
typedef double (*volt_lr_lambda_fn)(int64_t epoch, void *ctx);
volt_lr_scheduler *volt_lambda_lr_new(volt_optimizer *opt, volt_lr_lambda_fn fn, void *ctx);

typedef enum { VOLT_ANNEAL_COS = 0, VOLT_ANNEAL_LINEAR } volt_anneal_strategy;
typedef struct {
    double pct_start;                     /* 0.3: share of the steps spent rising */
    volt_anneal_strategy anneal_strategy; /* cos */
    bool cycle_momentum;                  /* true: momentum / beta1 cycled inversely */
    double base_momentum;                 /* 0.85 */
    double max_momentum;                  /* 0.95 */
    double div_factor;                    /* 25: initial_lr = max_lr / div_factor */
    double final_div_factor;              /* 1e4: min_lr = initial_lr / final_div_factor */
    bool three_phase;                     /* false */
} volt_one_cycle_options;
/* PyTorch's defaults, to be changed field by field. */
volt_one_cycle_options volt_one_cycle_defaults(void);
/* The 1cycle policy over total_steps steps (>= 1); options NULL: defaults.
 * Stepping past total_steps is an error (VOLT_ERR_STATE). */
volt_lr_scheduler *volt_one_cycle_lr_new(volt_optimizer *opt, double max_lr, int64_t total_steps,
                                         const volt_one_cycle_options *options);

/* Runs schedulers[0] until milestones[0], then schedulers[1] (restarted at
 * epoch 0, in closed form), ... (n >= 1 schedulers of `opt`, n - 1
 * non-decreasing milestones). Takes ownership of the schedulers, also when it
 * fails (a NULL among them fails it). */
volt_lr_scheduler *volt_sequential_lr_new(volt_optimizer *opt, int n,
                                          volt_lr_scheduler *const *schedulers,
                                          const int64_t *milestones);
/* Steps every scheduler (of one optimizer) in turn; owns them as above. */
volt_lr_scheduler *volt_chained_lr_new(int n, volt_lr_scheduler *const *schedulers);

typedef enum { VOLT_PLATEAU_MIN = 0, VOLT_PLATEAU_MAX } volt_plateau_mode;
typedef enum { VOLT_THRESHOLD_REL = 0, VOLT_THRESHOLD_ABS } volt_threshold_mode;
typedef struct {
    volt_plateau_mode mode;             /* min: the metric should fall */
    double factor;                      /* 0.1; in [0, 1) */
    int64_t patience;                   /* 10 bad epochs tolerated; >= 0 */
    double threshold;                   /* 1e-4 */
    volt_threshold_mode threshold_mode; /* rel */
    int64_t cooldown;                   /* 0 epochs; >= 0 */
    double min_lr;                      /* 0; >= 0 */
    double eps;                         /* 1e-8: smaller changes are skipped */
} volt_plateau_options;
volt_plateau_options volt_plateau_defaults(void);
/* ReduceLROnPlateau; options NULL: defaults. Stepped with
 * volt_lr_scheduler_step_metric. */
volt_lr_scheduler *volt_reduce_lr_on_plateau_new(volt_optimizer *opt,
                                                 const volt_plateau_options *options);

/* One epoch (or batch) of the schedule. ReduceLROnPlateau refuses it (it
 * needs step_metric); every other scheduler refuses step_metric. */
volt_status volt_lr_scheduler_step(volt_lr_scheduler *s);
volt_status volt_lr_scheduler_step_metric(volt_lr_scheduler *s, double metric);
bool volt_lr_scheduler_needs_metric(const volt_lr_scheduler *s);
/* The lr of `group` after the last step (get_last_lr()[group]); NAN with an
 * error for a bad group. */
double volt_lr_scheduler_last_lr(const volt_lr_scheduler *s, int group);
int64_t volt_lr_scheduler_last_epoch(const volt_lr_scheduler *s);
/* "StepLR", "CosineAnnealingLR", ... */
const char *volt_lr_scheduler_name(const volt_lr_scheduler *s);
/* The scheduler's progress as JSON (malloc'd, free with free()):
 * {"format": "volt-lr-scheduler-1", "type", "last_epoch", "step_count",
 * "base_lrs", "last_lr", per-type counters, "schedulers": [...] for
 * Sequential/Chained}. Hyperparameters are the constructor's: load restores
 * progress into a scheduler built with the same arguments. */
char *volt_lr_scheduler_state_dict(const volt_lr_scheduler *s);
/* Refuses (changing nothing) JSON of another type, group count or shape. */
volt_status volt_lr_scheduler_load_state_dict(volt_lr_scheduler *s, const char *json);
/* Frees the scheduler (and the ones it owns). NULL is a no-op. */
void volt_lr_scheduler_free(volt_lr_scheduler *s);

/* ------------------------------------------------------- gradient utilities */

/* torch.nn.utils.clip_grad_norm_: the norm (norm_type p > 0: 1, 2, ...,
 * INFINITY) of all gradients of `params` together (those without a
 * gradient ignored; 0 when none has one), computed in double; when it
 * exceeds max_norm every gradient is scaled in place by
 * max_norm / (total + 1e-6). Returns the total norm before clipping. With
 * error_if_nonfinite a NaN or infinite total is an error (the gradients are
 * left as they are) and is returned; bad arguments give NAN and an error.
 * CUDA gradients too: the norm is read back once per device. */
double volt_clip_grad_norm(volt_params params, double max_norm, double norm_type,
                           bool error_if_nonfinite);
/* torch.nn.utils.clip_grad_value_: clamps every gradient into
 * [-clip_value, clip_value] in place (clip_value >= 0). */
volt_status volt_clip_grad_value(volt_params params, double clip_value);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_OPTIM_H */
