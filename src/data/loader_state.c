/* loader_state.c: the data loader's state as JSON text (for datamodule
 * state dicts and checkpoint metadata): {"seed": "<u64 as a string>",
 * "epoch": e, "position": p, "n_batches": n}. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

char *volt_data_loader_state_to_json(const volt_data_loader_state *s) {
    if (!s) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader_state_to_json: NULL state");
        return NULL;
    }
    char buf[160];
    int n =
        snprintf(buf, sizeof buf,
                 "{\"seed\": \"%llu\", \"epoch\": %lld, \"position\": %lld, \"n_batches\": %lld}",
                 (unsigned long long)s->seed, (long long)s->epoch, (long long)s->position,
                 (long long)s->n_batches);
    char *out = malloc((size_t)n + 1);
    if (!out) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "data_loader_state_to_json: out of memory");
        return NULL;
    }
    memcpy(out, buf, (size_t)n + 1);
    return out;
}

/* A non-negative integer member (a JSON number below 2^53). */
static bool get_count(const cJSON *o, const char *key, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return false;
    *out = (int64_t)d;
    return true;
}

static bool get_seed(const cJSON *o, uint64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "seed");
    if (!cJSON_IsString(v) || !v->valuestring[0] || v->valuestring[0] == '-') return false;
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(v->valuestring, &end, 10);
    if (*end != '\0' || errno != 0) return false;
    *out = seed;
    return true;
}

volt_status volt_data_loader_state_from_json(const char *json, volt_data_loader_state *s) {
    if (!json || !s)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "data_loader_state_from_json: NULL %s",
                              json ? "state" : "text");
    cJSON *o = cJSON_Parse(json);
    volt_data_loader_state r = {0};
    const char *bad =
        !cJSON_IsObject(o)                         ? "not a JSON object"
        : !get_seed(o, &r.seed)                    ? "'seed' is not an unsigned integer string"
        : !get_count(o, "epoch", &r.epoch)         ? "'epoch' is not a non-negative integer"
        : !get_count(o, "position", &r.position)   ? "'position' is not a non-negative integer"
        : !get_count(o, "n_batches", &r.n_batches) ? "'n_batches' is not a non-negative integer"
                                                   : NULL;
    cJSON_Delete(o);
    if (bad) return volt_error_set(VOLT_ERR_FORMAT, "data_loader_state_from_json: %s", bad);
    *s = r;
    return VOLT_OK;
}
