/* sgd.c: torch.optim.SGD — its options, defaults, validation and state slot
 * (momentum_buffer); the update itself is volt_cpu_sgd_update. */
#include <math.h>
#include <stddef.h>

#include "optim/cpu_update.h"

static void from_options(const void *options, volt_optim_hparams *hp) {
    const volt_sgd_options *o = options;
    hp->lr = o->lr;
    hp->momentum = o->momentum;
    hp->dampening = o->dampening;
    hp->weight_decay = o->weight_decay;
    hp->nesterov = o->nesterov;
    hp->maximize = o->maximize;
}

static bool validate(const char *who, const volt_optim_hparams *hp) {
    if (!volt_optim_check_unit(who, "momentum", hp->momentum, false) ||
        !volt_optim_check_unit(who, "dampening", hp->dampening, true) ||
        !volt_optim_check_nonneg(who, "weight_decay", hp->weight_decay))
        return false;
    if (hp->nesterov && (hp->momentum <= 0 || hp->dampening != 0)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: nesterov needs momentum > 0 and dampening 0 (got momentum %g, "
                       "dampening %g)",
                       who, hp->momentum, hp->dampening);
        return false;
    }
    return true;
}

static bool slot_used(const volt_optim_hparams *hp, int slot) {
    (void)slot;
    return hp->momentum != 0;
}

#define F(key, kind, field)                                                                        \
    { key, kind, offsetof(volt_optim_hparams, field) }
static const volt_optim_field fields[] = {
    F("lr", VOLT_FIELD_DOUBLE, lr),
    F("momentum", VOLT_FIELD_DOUBLE, momentum),
    F("dampening", VOLT_FIELD_DOUBLE, dampening),
    F("weight_decay", VOLT_FIELD_DOUBLE, weight_decay),
    F("nesterov", VOLT_FIELD_BOOL, nesterov),
    F("maximize", VOLT_FIELD_BOOL, maximize),
    {NULL, VOLT_FIELD_DOUBLE, 0},
};

const volt_optim_class volt_sgd_class = {
    .name = "SGD",
    .n_slots = 1,
    .slot_names = {"momentum_buffer"},
    .fields = fields,
    .momentum = VOLT_MOMENTUM_FIELD,
    .defaults = {.lr = NAN},
    .from_options = from_options,
    .validate = validate,
    .slot_used = slot_used,
    .update = volt_cpu_sgd_update,
    .bf16_native = true,
};

volt_optimizer *volt_sgd_new(volt_params params, const volt_sgd_options *options) {
    return volt_optimizer_create(&volt_sgd_class, params, options);
}
