/* rmsprop.c: torch.optim.RMSprop — its options, defaults, validation and
 * state slots (square_avg, momentum_buffer, grad_avg); the update is
 * volt_cpu_rmsprop_update. */
#include <stddef.h>

#include "optim/cpu_update.h"

static void from_options(const void *options, volt_optim_hparams *hp) {
    const volt_rmsprop_options *o = options;
    hp->lr = o->lr;
    hp->alpha = o->alpha;
    hp->eps = o->eps;
    hp->weight_decay = o->weight_decay;
    hp->momentum = o->momentum;
    hp->centered = o->centered;
    hp->maximize = o->maximize;
}

static bool validate(const char *who, const volt_optim_hparams *hp) {
    return volt_optim_check_unit(who, "alpha", hp->alpha, true) &&
           volt_optim_check_nonneg(who, "eps", hp->eps) &&
           volt_optim_check_nonneg(who, "weight_decay", hp->weight_decay) &&
           volt_optim_check_unit(who, "momentum", hp->momentum, false);
}

static bool slot_used(const volt_optim_hparams *hp, int slot) {
    return slot == 0 || (slot == 1 && hp->momentum > 0) || (slot == 2 && hp->centered);
}

#define F(key, kind, field)                                                                        \
    { key, kind, offsetof(volt_optim_hparams, field) }
static const volt_optim_field fields[] = {
    F("lr", VOLT_FIELD_DOUBLE, lr),
    F("alpha", VOLT_FIELD_DOUBLE, alpha),
    F("eps", VOLT_FIELD_DOUBLE, eps),
    F("weight_decay", VOLT_FIELD_DOUBLE, weight_decay),
    F("momentum", VOLT_FIELD_DOUBLE, momentum),
    F("centered", VOLT_FIELD_BOOL, centered),
    F("maximize", VOLT_FIELD_BOOL, maximize),
    {NULL, VOLT_FIELD_DOUBLE, 0},
};

const volt_optim_class volt_rmsprop_class = {
    .name = "RMSprop",
    .n_slots = 3,
    .slot_names = {"square_avg", "momentum_buffer", "grad_avg"},
    .fields = fields,
    .momentum = VOLT_MOMENTUM_FIELD,
    .defaults = {.lr = 1e-2, .alpha = 0.99, .eps = 1e-8},
    .from_options = from_options,
    .validate = validate,
    .slot_used = slot_used,
    .update = volt_cpu_rmsprop_update,
};

volt_optimizer *volt_rmsprop_new(volt_params params, const volt_rmsprop_options *options) {
    return volt_optimizer_create(&volt_rmsprop_class, params, options);
}
