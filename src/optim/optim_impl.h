/* optim_impl.h: optimizer and scheduler internals shared by the files of
 * src/optim — the optimizer base (vtable, groups, per-parameter state), the
 * per-type classes, the scheduler base, and exact-number JSON helpers. */
#ifndef VOLT_OPTIM_IMPL_H
#define VOLT_OPTIM_IMPL_H

#include <cjson/cJSON.h>

#include "ops/ops_impl.h"
#include "volt/optim.h"

/* ------------------------------------------------------------ optimizers */

/* Every hyperparameter of every built-in optimizer (each uses a subset). */
typedef struct {
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps, alpha, lr_decay,
        initial_accumulator_value;
    bool nesterov, maximize, amsgrad, centered;
} volt_optim_hparams;

typedef enum { VOLT_FIELD_DOUBLE, VOLT_FIELD_BOOL, VOLT_FIELD_BETAS } volt_optim_field_kind;

/* A hyperparameter of a class: its PyTorch key and where it lives.
 * VOLT_FIELD_BETAS is the pair (beta1, beta2) written as "betas". */
typedef struct {
    const char *key;
    volt_optim_field_kind kind;
    size_t offset;
} volt_optim_field;

#define VOLT_OPTIM_MAX_SLOTS 3
/* A parameter's state tensors: its class's slots, then (index n_slots) the
 * compensation of a 16-bit parameter under compensated updates
 * (volt_optimizer_set_compensated): what rounding the updated value to the
 * parameter's dtype dropped, in that dtype, saved as "compensation". */
#define VOLT_OPTIM_MAX_STATE (VOLT_OPTIM_MAX_SLOTS + 1)

/* The state of one parameter: its slots (NULL until first needed), how many
 * updates it had, and which slots were created but not yet written (SGD's
 * first momentum step copies the gradient into a fresh buffer). */
typedef struct {
    volt_tensor *slot[VOLT_OPTIM_MAX_STATE]; /* slot[cls->n_slots]: the compensation */
    int64_t step;
    unsigned fresh;
} volt_optim_pstate;

/* What one fused update gets. */
typedef struct {
    volt_tensor *param;
    const volt_tensor *grad;
    void *slot[VOLT_OPTIM_MAX_SLOTS]; /* data of the slots used (NULL otherwise) */
    unsigned fresh;                   /* bit i: slot i created for this update */
    int64_t step;                     /* the parameter's step count, this one included */
    const volt_optim_hparams *hp;
    /* A 16-bit parameter under compensated updates: its compensation c (the
     * parameter's dtype), else NULL. The update then starts from p + c
     * (in f32) and stores p = round(q), c = round(q - p) of its result q. */
    void *comp;
    /* The elements to update, [first, first + count): optimizer.c cuts a
     * parameter into spans that its threads share out. */
    int64_t first, count;
} volt_optim_update;

/* One built-in optimizer type. */
typedef struct {
    const char *name;
    int n_slots;
    const char *slot_names[VOLT_OPTIM_MAX_SLOTS];
    const volt_optim_field *fields; /* terminated by a NULL key */
    enum { VOLT_MOMENTUM_NONE, VOLT_MOMENTUM_FIELD, VOLT_MOMENTUM_BETA1 } momentum;
    /* PyTorch's defaults (lr NAN where there is none). */
    volt_optim_hparams defaults;
    /* Copies the public options struct into hp (values as given). */
    void (*from_options)(const void *options, volt_optim_hparams *hp);
    /* Checks resolved hyperparameters; records an error prefixed by `who`. */
    bool (*validate)(const char *who, const volt_optim_hparams *hp);
    /* Whether slot i is used under hp, and the value it starts with. */
    bool (*slot_used)(const volt_optim_hparams *hp, int slot);
    double (*slot_init)(const volt_optim_hparams *hp, int slot);
    /* The fused update of a span of one parameter (f32 or f64, contiguous;
     * bf16 too when bf16_native, else optimizer.c runs it on f32 copies),
     * on the calling thread. */
    void (*update)(const volt_optim_update *u);
    bool bf16_native;
} volt_optim_class;

typedef struct {
    volt_optim_hparams hp;
    double initial_lr;    /* NAN until a scheduler records it */
    int64_t first, count; /* the group's parameters: params[first .. first + count) */
} volt_optim_group;

/* The base: what step, zero_grad, state and free do for this optimizer. The
 * built-in types share one implementation and differ by their class; the
 * table is where a wrapping optimizer (sharded state, ...) plugs in. */
typedef struct {
    volt_status (*step)(volt_optimizer *opt);
    void (*zero_grad)(volt_optimizer *opt);
    volt_state_dict *(*state_dict)(volt_optimizer *opt, char **json);
    volt_status (*load_state_dict)(volt_optimizer *opt, const volt_state_dict *sd,
                                   const char *json);
    void (*free)(volt_optimizer *opt);
} volt_optimizer_vtable;

struct volt_optimizer {
    const volt_optimizer_vtable *vt;
    const volt_optim_class *cls;
    volt_optim_hparams defaults; /* the constructor's, resolved */
    volt_tensor **params;
    volt_optim_pstate *state; /* one per parameter */
    int64_t n_params, cap_params;
    volt_optim_group *groups;
    int n_groups, cap_groups;
    int64_t step_count;
    bool compensated; /* volt_optimizer_set_compensated */
};

/* The state tensors a parameter of class cls can hold (its slots and the
 * compensation), and the name of state tensor s. */
static inline int volt_optim_n_state(const volt_optim_class *cls) { return cls->n_slots + 1; }
static inline const char *volt_optim_state_name(const volt_optim_class *cls, int s) {
    return s < cls->n_slots ? cls->slot_names[s] : "compensation";
}

/* Builds an optimizer of class cls over params with options (NULL:
 * defaults). */
volt_optimizer *volt_optimizer_create(const volt_optim_class *cls, volt_params params,
                                      const void *options);
/* Resolves options against `inherit` (zero: inherited, VOLT_OPTIM_ZERO: 0)
 * and validates; false with an error prefixed by who. */
bool volt_optim_resolve(const volt_optim_class *cls, const void *options,
                        const volt_optim_hparams *inherit, const char *who,
                        volt_optim_hparams *out);
/* Validation messages: "<who>: invalid <field> <v> (must be >= 0)" and
 * "... (must be in [0, 1))" (hi_inclusive: "[0, 1]"). */
bool volt_optim_check_nonneg(const char *who, const char *field, double v);
bool volt_optim_check_unit(const char *who, const char *field, double v, bool hi_inclusive);
/* Checks a group index ("<name>: param group 3 out of range (2 groups)"). */
bool volt_optim_check_group(const volt_optimizer *opt, int group, const char *what);
/* Frees every state slot of parameter i. */
void volt_optim_clear_state(volt_optimizer *opt, int64_t i);

/* state.c */
volt_state_dict *volt_optim_state_dict(volt_optimizer *opt, char **json);
volt_status volt_optim_load_state_dict(volt_optimizer *opt, const volt_state_dict *sd,
                                       const char *json);

/* The built-in classes (sgd.c, adam.c, rmsprop.c, adagrad.c, lion.c). */
extern const volt_optim_class volt_sgd_class, volt_adam_class, volt_adamw_class, volt_rmsprop_class,
    volt_adagrad_class, volt_lion_class;

/* ------------------------------------------------------------ schedulers */

typedef struct {
    const char *name;
    /* The chainable form: new lrs from the groups' current lrs at
     * s->last_epoch (already advanced). */
    volt_status (*get_lr)(volt_lr_scheduler *s, double *lrs);
    /* The closed form at s->last_epoch (NULL: get_lr), used when a
     * SequentialLR restarts the scheduler at epoch 0. */
    void (*closed_form)(volt_lr_scheduler *s, double *lrs);
    /* Overrides of the generic step / step to an epoch (NULL: generic). */
    volt_status (*step)(volt_lr_scheduler *s);
    volt_status (*step_to)(volt_lr_scheduler *s, int64_t epoch);
    volt_status (*step_metric)(volt_lr_scheduler *s, double metric);
    /* Extra progress for the state JSON; load checks (apply false) or
     * restores (apply true). May be NULL. */
    void (*save)(const volt_lr_scheduler *s, cJSON *obj);
    bool (*load)(volt_lr_scheduler *s, const cJSON *obj, bool apply);
    /* Frees what the type allocated (children, arrays); may be NULL. */
    void (*destroy)(volt_lr_scheduler *s);
} volt_sched_class;

struct volt_lr_scheduler {
    const volt_sched_class *cls;
    volt_optimizer *opt;
    int n_groups;
    int64_t last_epoch, step_count;
    double *base_lrs, *last_lr, *scratch; /* n_groups each */
    bool owned;                           /* by a SequentialLR / ChainedScheduler */
};

/* Allocates `size` bytes (the type's struct, base first) for a scheduler of
 * opt: base_lrs from each group's initial_lr (recorded from its lr first
 * when unset and record_initial), last_lr the groups' lrs, last_epoch -1.
 * NULL with an error. */
volt_lr_scheduler *volt_sched_alloc(volt_optimizer *opt, const volt_sched_class *cls, size_t size,
                                    bool record_initial);
/* Frees a scheduler (owned or not) and what its type holds. */
void volt_sched_destroy(volt_lr_scheduler *s);
/* PyTorch's _initial_step: step_count 0, then one step. Frees s and returns
 * NULL if it fails. */
volt_lr_scheduler *volt_sched_initial_step(volt_lr_scheduler *s);
/* One step (the type's own, or last_epoch + 1 and get_lr), and a step to
 * `epoch` (the type's own, or the closed form, else get_lr), both writing
 * the lrs into the optimizer and last_lr. */
volt_status volt_sched_step(volt_lr_scheduler *s);
volt_status volt_sched_step_to(volt_lr_scheduler *s, int64_t epoch);
/* Writes lrs into the groups (all checked first) and copies the groups' lrs
 * into last_lr. */
volt_status volt_sched_apply(volt_lr_scheduler *s, const double *lrs);
/* Copies the groups' current lrs into last_lr. */
void volt_sched_record_lrs(volt_lr_scheduler *s);
/* The optimizer still has the scheduler's group count. */
bool volt_sched_check_groups(const volt_lr_scheduler *s);
/* The scheduler's JSON object / restoring from one (check, then apply). */
cJSON *volt_sched_to_json(const volt_lr_scheduler *s);
bool volt_sched_from_json(volt_lr_scheduler *s, const cJSON *obj, bool apply);
/* "<name>: <what>" as an invalid-argument error; returns NULL. */
volt_lr_scheduler *volt_sched_fail(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* pi as Python's math.pi. */
#define VOLT_PI 3.141592653589793

/* Group fields the schedulers read and write. */
double volt_optim_initial_lr(const volt_optimizer *opt, int group);
void volt_optim_set_initial_lr(volt_optimizer *opt, int group, double lr);

/* ------------------------------------------------------------------ JSON */

/* A number JSON holds exactly (the shortest %.15g..%.17g that reads back
 * bit for bit); NaN and infinities as the strings "nan", "inf", "-inf". */
cJSON *volt_json_number(double v);
void volt_json_add_number(cJSON *obj, const char *key, double v);
/* Reads a number written by volt_json_number; false if absent or not one. */
bool volt_json_get_number(const cJSON *item, double *out);
/* An integer-valued number (|v| < 2^53); false otherwise. */
bool volt_json_get_int(const cJSON *item, int64_t *out);
/* cJSON_PrintUnformatted copied into malloc'd memory (free with free()). */
char *volt_json_print(const cJSON *obj);

#endif
