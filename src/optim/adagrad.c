/* adagrad.c: torch.optim.Adagrad — its options, defaults, validation and
 * state slot (sum, starting at initial_accumulator_value); the update is
 * volt_cpu_adagrad_update. */
#include <stddef.h>

#include "optim/cpu_update.h"

static void from_options(const void *options, volt_optim_hparams *hp) {
    const volt_adagrad_options *o = options;
    hp->lr = o->lr;
    hp->lr_decay = o->lr_decay;
    hp->weight_decay = o->weight_decay;
    hp->initial_accumulator_value = o->initial_accumulator_value;
    hp->eps = o->eps;
    hp->maximize = o->maximize;
}

static bool validate(const char *who, const volt_optim_hparams *hp) {
    return volt_optim_check_nonneg(who, "lr_decay", hp->lr_decay) &&
           volt_optim_check_nonneg(who, "weight_decay", hp->weight_decay) &&
           volt_optim_check_nonneg(who, "initial_accumulator_value",
                                   hp->initial_accumulator_value) &&
           volt_optim_check_nonneg(who, "eps", hp->eps);
}

static bool slot_used(const volt_optim_hparams *hp, int slot) {
    (void)hp, (void)slot;
    return true;
}

static double slot_init(const volt_optim_hparams *hp, int slot) {
    (void)slot;
    return hp->initial_accumulator_value;
}

#define F(key, kind, field)                                                                        \
    { key, kind, offsetof(volt_optim_hparams, field) }
static const volt_optim_field fields[] = {
    F("lr", VOLT_FIELD_DOUBLE, lr),
    F("lr_decay", VOLT_FIELD_DOUBLE, lr_decay),
    F("weight_decay", VOLT_FIELD_DOUBLE, weight_decay),
    F("initial_accumulator_value", VOLT_FIELD_DOUBLE, initial_accumulator_value),
    F("eps", VOLT_FIELD_DOUBLE, eps),
    F("maximize", VOLT_FIELD_BOOL, maximize),
    {NULL, VOLT_FIELD_DOUBLE, 0},
};

const volt_optim_class volt_adagrad_class = {
    .name = "Adagrad",
    .n_slots = 1,
    .slot_names = {"sum"},
    .fields = fields,
    .momentum = VOLT_MOMENTUM_NONE,
    .defaults = {.lr = 1e-2, .eps = 1e-10},
    .from_options = from_options,
    .validate = validate,
    .slot_used = slot_used,
    .slot_init = slot_init,
    .update = volt_cpu_adagrad_update,
};

volt_optimizer *volt_adagrad_new(volt_params params, const volt_adagrad_options *options) {
    return volt_optimizer_create(&volt_adagrad_class, params, options);
}
