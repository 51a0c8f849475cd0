/* adam.c: torch.optim.Adam and torch.optim.AdamW — their options, defaults,
 * validation and state slots (exp_avg, exp_avg_sq, max_exp_avg_sq); the
 * updates are volt_cpu_adam_update / volt_cpu_adamw_update. */
#include <stddef.h>

#include "optim/cpu_update.h"

static void from_options(const void *options, volt_optim_hparams *hp) {
    const volt_adam_options *o = options;
    hp->lr = o->lr;
    hp->beta1 = o->beta1;
    hp->beta2 = o->beta2;
    hp->eps = o->eps;
    hp->weight_decay = o->weight_decay;
    hp->amsgrad = o->amsgrad;
    hp->maximize = o->maximize;
}

static bool validate(const char *who, const volt_optim_hparams *hp) {
    return volt_optim_check_unit(who, "beta1", hp->beta1, false) &&
           volt_optim_check_unit(who, "beta2", hp->beta2, false) &&
           volt_optim_check_nonneg(who, "eps", hp->eps) &&
           volt_optim_check_nonneg(who, "weight_decay", hp->weight_decay);
}

static bool slot_used(const volt_optim_hparams *hp, int slot) { return slot < 2 || hp->amsgrad; }

#define F(key, kind, field)                                                                        \
    { key, kind, offsetof(volt_optim_hparams, field) }
static const volt_optim_field fields[] = {
    F("lr", VOLT_FIELD_DOUBLE, lr),         F("betas", VOLT_FIELD_BETAS, beta1),
    F("eps", VOLT_FIELD_DOUBLE, eps),       F("weight_decay", VOLT_FIELD_DOUBLE, weight_decay),
    F("amsgrad", VOLT_FIELD_BOOL, amsgrad), F("maximize", VOLT_FIELD_BOOL, maximize),
    {NULL, VOLT_FIELD_DOUBLE, 0},
};

const volt_optim_class volt_adam_class = {
    .name = "Adam",
    .n_slots = 3,
    .slot_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    .fields = fields,
    .momentum = VOLT_MOMENTUM_BETA1,
    .defaults = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    .from_options = from_options,
    .validate = validate,
    .slot_used = slot_used,
    .update = volt_cpu_adam_update,
};

const volt_optim_class volt_adamw_class = {
    .name = "AdamW",
    .n_slots = 3,
    .slot_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    .fields = fields,
    .momentum = VOLT_MOMENTUM_BETA1,
    .defaults = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 1e-2},
    .from_options = from_options,
    .validate = validate,
    .slot_used = slot_used,
    .update = volt_cpu_adamw_update,
};

volt_optimizer *volt_adam_new(volt_params params, const volt_adam_options *options) {
    return volt_optimizer_create(&volt_adam_class, params, options);
}

volt_optimizer *volt_adamw_new(volt_params params, const volt_adam_options *options) {
    return volt_optimizer_create(&volt_adamw_class, params, options);
}
