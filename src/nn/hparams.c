/* hparams.c: a module's hyperparameter record (name -> int, double, bool or
 * string), kept in insertion order with each value's text form. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

struct volt_hparam {
    char *name;
    volt_hparam_type type;
    double number;
    char *text;
};

void volt_module_free_hparams(volt_module *m) {
    for (int i = 0; i < m->n_hparams; i++) {
        free(m->hparams[i].name);
        free(m->hparams[i].text);
    }
    free(m->hparams);
    m->hparams = NULL;
    m->n_hparams = m->cap_hparams = 0;
}

static volt_status set(volt_module *m, const char *name, volt_hparam_type type, double number,
                       const char *text) {
    if (!m || !name || !*name || !text)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "set_hparam: NULL or empty argument");
    char *text_copy = strdup(text);
    if (!text_copy) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "set_hparam: out of memory");
    for (int i = 0; i < m->n_hparams; i++) {
        if (strcmp(m->hparams[i].name, name) != 0) continue;
        free(m->hparams[i].text);
        m->hparams[i] = (volt_hparam){m->hparams[i].name, type, number, text_copy};
        return VOLT_OK;
    }
    if (m->n_hparams == m->cap_hparams) {
        int cap = m->cap_hparams ? 2 * m->cap_hparams : 8;
        volt_hparam *grown = realloc(m->hparams, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(text_copy);
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "set_hparam: out of memory");
        }
        m->hparams = grown;
        m->cap_hparams = cap;
    }
    char *name_copy = strdup(name);
    if (!name_copy) {
        free(text_copy);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "set_hparam: out of memory");
    }
    m->hparams[m->n_hparams++] = (volt_hparam){name_copy, type, number, text_copy};
    return VOLT_OK;
}

volt_status volt_module_set_hparam_int(volt_module *m, const char *name, int64_t value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)value);
    return set(m, name, VOLT_HPARAM_INT, (double)value, text);
}

volt_status volt_module_set_hparam_double(volt_module *m, const char *name, double value) {
    char text[40];
    snprintf(text, sizeof text, "%.17g", value);
    /* Shortest text that reads back exactly. */
    for (int precision = 1; precision <= 17; precision++) {
        char shorter[40];
        snprintf(shorter, sizeof shorter, "%.*g", precision, value);
        if (strtod(shorter, NULL) == value || isnan(value)) {
            memcpy(text, shorter, sizeof text);
            break;
        }
    }
    return set(m, name, VOLT_HPARAM_DOUBLE, value, text);
}

volt_status volt_module_set_hparam_bool(volt_module *m, const char *name, bool value) {
    return set(m, name, VOLT_HPARAM_BOOL, value ? 1.0 : 0.0, value ? "true" : "false");
}

volt_status volt_module_set_hparam_string(volt_module *m, const char *name, const char *value) {
    return set(m, name, VOLT_HPARAM_STRING, NAN, value);
}

int volt_module_hparam_count(const volt_module *m) { return m ? m->n_hparams : 0; }

const char *volt_module_hparam_name(const volt_module *m, int i) {
    return m && i >= 0 && i < m->n_hparams ? m->hparams[i].name : NULL;
}

volt_hparam_type volt_module_hparam_type(const volt_module *m, int i) {
    return m && i >= 0 && i < m->n_hparams ? m->hparams[i].type : VOLT_HPARAM_STRING;
}

const char *volt_module_hparam_text(const volt_module *m, int i) {
    return m && i >= 0 && i < m->n_hparams ? m->hparams[i].text : NULL;
}

double volt_module_hparam_number(const volt_module *m, const char *name) {
    for (int i = 0; m && name && i < m->n_hparams; i++)
        if (strcmp(m->hparams[i].name, name) == 0) return m->hparams[i].number;
    return NAN;
}
