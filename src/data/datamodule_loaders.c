/* datamodule_loaders.c: what datamodules holding their four loaders in an
 * array share — the loaders' state dict and its restore, and the teardown
 * of a stage's loaders (fashion_mnist.c, csv_datamodule.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "data/data_impl.h"

const char *const volt_dm_loader_keys[VOLT_DM_LOADERS] = {"train", "val", "test", "predict"};

char *volt_dm_loaders_state_dict(volt_data_loader *const *loaders, const char *who) {
    char *parts[VOLT_DM_LOADERS] = {0}, *out = NULL;
    size_t len = 3;
    bool ok = true;
    for (int i = 0; ok && i < VOLT_DM_LOADERS; i++) {
        if (!loaders[i]) continue;
        volt_data_loader_state s = volt_data_loader_state_get(loaders[i]);
        ok = (parts[i] = volt_data_loader_state_to_json(&s)) != NULL;
        if (ok) len += strlen(parts[i]) + strlen(volt_dm_loader_keys[i]) + 6;
    }
    if (ok && (out = malloc(len))) { /* {"train": {...}, "val": {...}} */
        size_t n = (size_t)snprintf(out, len, "{");
        for (int i = 0; i < VOLT_DM_LOADERS; i++)
            if (parts[i])
                n += (size_t)snprintf(out + n, len - n, "%s\"%s\": %s", n > 1 ? ", " : "",
                                      volt_dm_loader_keys[i], parts[i]);
        snprintf(out + n, len - n, "}");
    }
    for (int i = 0; i < VOLT_DM_LOADERS; i++) free(parts[i]);
    if (!out && volt_error_status() == VOLT_OK)
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: state_dict: out of memory", who);
    return out;
}

static volt_data_loader *loader_by_index(volt_datamodule *dm, int i) {
    switch (i) {
    case VOLT_DM_TRAIN: return volt_datamodule_train_loader(dm);
    case VOLT_DM_VAL: return volt_datamodule_val_loader(dm);
    case VOLT_DM_TEST: return volt_datamodule_test_loader(dm);
    default: return volt_datamodule_predict_loader(dm);
    }
}

static volt_status load_one(volt_datamodule *dm, int i, const cJSON *item, const char *who) {
    char *text = cJSON_PrintUnformatted(item);
    if (!text) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", who);
    volt_data_loader_state s;
    volt_status st = volt_data_loader_state_from_json(text, &s);
    cJSON_free(text);
    if (st != VOLT_OK) return st;
    volt_data_loader *l = loader_by_index(dm, i);
    if (l) return volt_data_loader_state_set(l, &s);
    if (volt_error_status() != VOLT_OK) return volt_error_status();
    return volt_error_set(VOLT_ERR_FORMAT,
                          "%s: load_state_dict: a '%s' state, but this datamodule has no "
                          "such loader",
                          who, volt_dm_loader_keys[i]);
}

volt_status volt_dm_loaders_load_state_dict(volt_datamodule *dm, const char *json,
                                            const char *who) {
    cJSON *o = cJSON_Parse(json);
    volt_status st =
        cJSON_IsObject(o)
            ? VOLT_OK
            : volt_error_set(VOLT_ERR_FORMAT, "%s: load_state_dict: not a JSON object", who);
    for (const cJSON *item = o ? o->child : NULL; item && st == VOLT_OK; item = item->next) {
        int i = 0;
        while (i < VOLT_DM_LOADERS && strcmp(item->string, volt_dm_loader_keys[i]) != 0) i++;
        st = i < VOLT_DM_LOADERS
                 ? load_one(dm, i, item, who)
                 : volt_error_set(VOLT_ERR_FORMAT, "%s: load_state_dict: unknown key '%s'", who,
                                  item->string);
    }
    cJSON_Delete(o);
    return st;
}

void volt_dm_loaders_teardown(volt_data_loader **loaders, volt_stage stage) {
    int first = stage == VOLT_STAGE_FIT        ? VOLT_DM_TRAIN
                : stage == VOLT_STAGE_VALIDATE ? VOLT_DM_VAL
                : stage == VOLT_STAGE_TEST     ? VOLT_DM_TEST
                                               : VOLT_DM_PREDICT;
    int last = stage == VOLT_STAGE_FIT ? VOLT_DM_VAL : first;
    for (int i = first; i <= last; i++) {
        volt_data_loader_free(loaders[i]);
        loaders[i] = NULL;
    }
}
