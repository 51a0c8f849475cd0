/* json.c: JSON helpers of the optim layer's state — numbers written so that
 * they read back bit for bit (cJSON's own printer only promises 15 digits),
 * non-finite values as strings, and reading them back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"

cJSON *volt_json_number(double v) {
    if (!isfinite(v)) return cJSON_CreateString(isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return cJSON_CreateRaw(buf);
}

void volt_json_add_number(cJSON *obj, const char *key, double v) {
    cJSON *item = volt_json_number(v);
    if (!item || !cJSON_AddItemToObject(obj, key, item)) cJSON_Delete(item);
}

bool volt_json_get_number(const cJSON *item, double *out) {
    if (cJSON_IsNumber(item)) {
        *out = item->valuedouble;
        return true;
    }
    if (!cJSON_IsString(item)) return false;
    const char *s = item->valuestring;
    if (strcmp(s, "nan") == 0)
        *out = NAN;
    else if (strcmp(s, "inf") == 0)
        *out = INFINITY;
    else if (strcmp(s, "-inf") == 0)
        *out = -INFINITY;
    else
        return false;
    return true;
}

bool volt_json_get_int(const cJSON *item, int64_t *out) {
    double v;
    if (!cJSON_IsNumber(item) || !volt_json_get_number(item, &v)) return false;
    if (!(fabs(v) < 9007199254740992.0) || v != floor(v)) return false;
    *out = (int64_t)v;
    return true;
}

char *volt_json_print(const cJSON *obj) {
    char *text = cJSON_PrintUnformatted(obj);
    if (!text) return NULL;
    char *copy = strdup(text);
    cJSON_free(text);
    return copy;
}
