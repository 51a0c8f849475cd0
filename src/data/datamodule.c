/* datamodule.c: the datamodule interface's entry points — prepare_data once,
 * setup once per stage, the loaders (running prepare and setup first when
 * needed), teardown, state dicts and free. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

const char *volt_stage_name(volt_stage stage) {
    switch (stage) {
    case VOLT_STAGE_FIT: return "fit";
    case VOLT_STAGE_VALIDATE: return "validate";
    case VOLT_STAGE_TEST: return "test";
    case VOLT_STAGE_PREDICT: return "predict";
    case VOLT_STAGE_COUNT: break;
    }
    return "?";
}

static const char *dm_name(const volt_datamodule *dm) {
    return dm->ops->name ? dm->ops->name : "datamodule";
}

static volt_status check_dm(const volt_datamodule *dm, const char *who) {
    if (!dm || !dm->ops)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL datamodule%s", who,
                              dm ? " ops (call volt_datamodule_init)" : "");
    return VOLT_OK;
}

/* An error status always leaves a message. */
static volt_status ensure_message(volt_status st, const volt_datamodule *dm, const char *hook) {
    if (st != VOLT_OK && volt_error_status() == VOLT_OK)
        volt_error_set(st, "%s: %s failed without a message", dm_name(dm), hook);
    return st;
}

void volt_datamodule_init(volt_datamodule *dm, const volt_datamodule_ops *ops) {
    if (!dm) return;
    memset(dm, 0, sizeof *dm);
    dm->ops = ops;
}

volt_status volt_datamodule_prepare_data(volt_datamodule *dm) {
    if (check_dm(dm, "datamodule_prepare_data") != VOLT_OK) return VOLT_ERR_INVALID_ARGUMENT;
    if (dm->prepared) return VOLT_OK;
    volt_status st = dm->ops->prepare_data ? dm->ops->prepare_data(dm) : VOLT_OK;
    dm->prepared = st == VOLT_OK;
    return ensure_message(st, dm, "prepare_data");
}

static volt_status check_stage(volt_stage stage, const char *who) {
    if ((int)stage < 0 || stage >= VOLT_STAGE_COUNT)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: unknown stage %d", who, (int)stage);
    return VOLT_OK;
}

volt_status volt_datamodule_setup(volt_datamodule *dm, volt_stage stage) {
    if (check_dm(dm, "datamodule_setup") != VOLT_OK) return VOLT_ERR_INVALID_ARGUMENT;
    if (check_stage(stage, "datamodule_setup") != VOLT_OK) return VOLT_ERR_INVALID_ARGUMENT;
    if (dm->set_up[stage]) return VOLT_OK;
    volt_status st = dm->ops->setup ? dm->ops->setup(dm, stage) : VOLT_OK;
    dm->set_up[stage] = st == VOLT_OK;
    return ensure_message(st, dm, "setup");
}

volt_status volt_datamodule_teardown(volt_datamodule *dm, volt_stage stage) {
    if (check_dm(dm, "datamodule_teardown") != VOLT_OK) return VOLT_ERR_INVALID_ARGUMENT;
    if (check_stage(stage, "datamodule_teardown") != VOLT_OK) return VOLT_ERR_INVALID_ARGUMENT;
    volt_status st = dm->ops->teardown ? dm->ops->teardown(dm, stage) : VOLT_OK;
    dm->set_up[stage] = false;
    return ensure_message(st, dm, "teardown");
}

typedef volt_data_loader *(*loader_fn)(volt_datamodule *);

static volt_data_loader *get_loader(volt_datamodule *dm, loader_fn fn, volt_stage stage) {
    if (!fn) return NULL;
    if (volt_datamodule_prepare_data(dm) != VOLT_OK) return NULL;
    if (volt_datamodule_setup(dm, stage) != VOLT_OK) return NULL;
    return fn(dm);
}

volt_data_loader *volt_datamodule_train_loader(volt_datamodule *dm) {
    if (check_dm(dm, "datamodule_train_loader") != VOLT_OK) return NULL;
    return get_loader(dm, dm->ops->train_loader, VOLT_STAGE_FIT);
}

volt_data_loader *volt_datamodule_val_loader(volt_datamodule *dm) {
    if (check_dm(dm, "datamodule_val_loader") != VOLT_OK) return NULL;
    /* Validation belongs to fit and to validate: a datamodule already set up
     * for either is not set up again for the other (as in Lightning). */
    volt_stage stage = dm->set_up[VOLT_STAGE_VALIDATE] && !dm->set_up[VOLT_STAGE_FIT]
                           ? VOLT_STAGE_VALIDATE
                           : VOLT_STAGE_FIT;
    return get_loader(dm, dm->ops->val_loader, stage);
}

volt_data_loader *volt_datamodule_test_loader(volt_datamodule *dm) {
    if (check_dm(dm, "datamodule_test_loader") != VOLT_OK) return NULL;
    return get_loader(dm, dm->ops->test_loader, VOLT_STAGE_TEST);
}

volt_data_loader *volt_datamodule_predict_loader(volt_datamodule *dm) {
    if (check_dm(dm, "datamodule_predict_loader") != VOLT_OK) return NULL;
    return get_loader(dm, dm->ops->predict_loader, VOLT_STAGE_PREDICT);
}

char *volt_datamodule_state_dict(volt_datamodule *dm) {
    if (check_dm(dm, "datamodule_state_dict") != VOLT_OK) return NULL;
    char *s = dm->ops->state_dict ? dm->ops->state_dict(dm) : strdup("{}");
    if (!s) ensure_message(VOLT_ERR_OUT_OF_MEMORY, dm, "state_dict");
    return s;
}

volt_status volt_datamodule_load_state_dict(volt_datamodule *dm, const char *json) {
    if (check_dm(dm, "datamodule_load_state_dict") != VOLT_OK) return VOLT_ERR_INVALID_ARGUMENT;
    if (!json)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: load_state_dict: NULL text",
                              dm_name(dm));
    if (dm->ops->load_state_dict)
        return ensure_message(dm->ops->load_state_dict(dm, json), dm, "load_state_dict");
    cJSON *o = cJSON_Parse(json);
    bool ok = cJSON_IsObject(o);
    cJSON_Delete(o);
    if (!ok)
        return volt_error_set(VOLT_ERR_FORMAT, "%s: load_state_dict: not a JSON object",
                              dm_name(dm));
    return VOLT_OK;
}

void volt_datamodule_free(volt_datamodule *dm) {
    if (dm && dm->ops && dm->ops->free) dm->ops->free(dm);
}
