/* lion.c: Lion (Chen et al. 2023; not in torch 1.13) — its options,
 * defaults (those of the paper's reference code: lr 1e-4, betas 0.9, 0.99),
 * validation and state slot (exp_avg); the update is volt_cpu_lion_update. */
#include <stddef.h>

#include "optim/cpu_update.h"

static void from_options(const void *options, volt_optim_hparams *hp) {
    const volt_lion_options *o = options;
    hp->lr = o->lr;
    hp->beta1 = o->beta1;
    hp->beta2 = o->beta2;
    hp->weight_decay = o->weight_decay;
    hp->maximize = o->maximize;
}

static bool validate(const char *who, const volt_optim_hparams *hp) {
    return volt_optim_check_unit(who, "beta1", hp->beta1, false) &&
           volt_optim_check_unit(who, "beta2", hp->beta2, false) &&
           volt_optim_check_nonneg(who, "weight_decay", hp->weight_decay);
}

static bool slot_used(const volt_optim_hparams *hp, int slot) {
    (void)hp, (void)slot;
    return true;
}

#define F(key, kind, field)                                                                        \
    { key, kind, offsetof(volt_optim_hparams, field) }
static const volt_optim_field fields[] = {
    F("lr", VOLT_FIELD_DOUBLE, lr),
    F("betas", VOLT_FIELD_BETAS, beta1),
    F("weight_decay", VOLT_FIELD_DOUBLE, weight_decay),
    F("maximize", VOLT_FIELD_BOOL, maximize),
    {NULL, VOLT_FIELD_DOUBLE, 0},
};

const volt_optim_class volt_lion_class = {
    .name = "Lion",
    .n_slots = 1,
    .slot_names = {"exp_avg"},
    .fields = fields,
    .momentum = VOLT_MOMENTUM_BETA1,
    .defaults = {.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.99},
    .from_options = from_options,
    .validate = validate,
    .slot_used = slot_used,
    .update = volt_cpu_lion_update,
};

volt_optimizer *volt_lion_new(volt_params params, const volt_lion_options *options) {
    return volt_optimizer_create(&volt_lion_class, params, options);
}
