/* grad_scaler.c: dynamic loss scaling for precision "16-mixed" (torch's
 * GradScaler as Lightning's MixedPrecision plugin drives it): the loss is
 * multiplied by the scale before backward, so small float16 gradients do
 * not flush to zero; before the optimizer step the gradients are divided by
 * it and checked; a step whose gradients hold an inf or NaN is skipped and
 * the scale halved, and after 2000 good steps in a row it doubles. The
 * state goes in checkpoints as the "grad_scaler" metadata entry. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "train/train_impl.h"

enum { GROWTH_INTERVAL = 2000 };
#define INIT_SCALE 65536.0
#define GROWTH_FACTOR 2.0
#define BACKOFF_FACTOR 0.5

void volt_grad_scaler_init(volt_grad_scaler *s, bool enabled) {
    *s = (volt_grad_scaler){.enabled = enabled, .scale = INIT_SCALE};
}

volt_tensor *volt_grad_scaler_scale(const volt_grad_scaler *s, volt_tensor *loss) {
    return s->enabled ? volt_mul_scalar(loss, s->scale) : loss;
}

/* Divides every gradient of opt's parameters by the scale, in place, and
 * sets found_inf when one holds an inf or NaN: sum(0 * g) is NaN exactly
 * then, and 0 otherwise (no overflow), so one number per gradient is
 * summed on the device and read once. */
volt_status volt_grad_scaler_unscale(volt_grad_scaler *s, volt_optimizer *opt) {
    s->found_inf = false;
    if (!s->enabled) return VOLT_OK;
    volt_params p = volt_optimizer_params(opt);
    volt_scope_begin();
    volt_tensor *probe = NULL;
    volt_status st = VOLT_OK;
    VOLT_NO_GRAD {
        for (int64_t i = 0; i < p.count && !st; i++) {
            volt_tensor *g = p.tensors[i]->grad;
            if (!g) continue;
            volt_tensor *zeroed = volt_sum_all(volt_mul_scalar(g, 0.0));
            probe = probe ? volt_add(probe, zeroed) : zeroed;
            if (!volt_mul_scalar_(g, 1.0 / s->scale) || !probe) st = volt_error_status();
        }
    }
    if (!st && probe) s->found_inf = !isfinite(volt_tensor_item(probe));
    volt_scope_end();
    return st ? volt_error_prefix(st, "precision 16-mixed: unscaling the gradients") : VOLT_OK;
}

void volt_grad_scaler_update(volt_grad_scaler *s) {
    if (!s->enabled) return;
    if (s->found_inf) {
        s->scale *= BACKOFF_FACTOR;
        s->growth_tracker = 0;
    } else if (++s->growth_tracker == GROWTH_INTERVAL) {
        s->scale *= GROWTH_FACTOR;
        s->growth_tracker = 0;
    }
}

cJSON *volt_grad_scaler_to_json(const volt_grad_scaler *s) {
    cJSON *o = cJSON_CreateObject();
    if (o && (!cJSON_AddNumberToObject(o, "scale", s->scale) ||
              !cJSON_AddNumberToObject(o, "growth_tracker", (double)s->growth_tracker))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

volt_status volt_grad_scaler_from_json(volt_grad_scaler *s, const char *text, const char *path) {
    if (!text) return VOLT_OK; /* written without 16-mixed: the initial scale */
    cJSON *o = cJSON_Parse(text);
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(o, "scale");
    const cJSON *tracker = cJSON_GetObjectItemCaseSensitive(o, "growth_tracker");
    bool ok = cJSON_IsNumber(scale) && scale->valuedouble > 0 && isfinite(scale->valuedouble) &&
              cJSON_IsNumber(tracker) && tracker->valuedouble >= 0;
    if (ok) {
        s->scale = scale->valuedouble;
        s->growth_tracker = (int64_t)tracker->valuedouble;
    }
    cJSON_Delete(o);
    if (ok) return VOLT_OK;
    return volt_error_set(VOLT_ERR_FORMAT,
                          "checkpoint %s: 'grad_scaler' is malformed (precision 16-mixed "
                          "needs {\"scale\": > 0, \"growth_tracker\": >= 0})",
                          path);
}
