/* metrics.c: metric tables (name -> value in insertion order) and the
 * prediction lists the trainer returns. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_impl.h"

static int64_t find(const volt_metrics *m, const char *name) {
    if (!m || !name) return -1;
    for (int64_t i = 0; i < m->count; i++)
        if (strcmp(m->names[i], name) == 0) return i;
    return -1;
}

double volt_metrics_get(const volt_metrics *m, const char *name) {
    int64_t i = find(m, name);
    return i < 0 ? NAN : m->values[i];
}

bool volt_metrics_has(const volt_metrics *m, const char *name) { return find(m, name) >= 0; }

volt_status volt_metrics_set(volt_metrics *m, const char *name, double value) {
    if (!m || !name || !*name)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "metrics: NULL table or empty name");
    int64_t i = find(m, name);
    if (i >= 0) {
        m->values[i] = value;
        return VOLT_OK;
    }
    if (m->count == m->cap) {
        int64_t cap = m->cap ? 2 * m->cap : 16;
        char **names = realloc(m->names, (size_t)cap * sizeof *names);
        if (!names) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "metrics: out of memory");
        m->names = names;
        double *values = realloc(m->values, (size_t)cap * sizeof *values);
        if (!values) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "metrics: out of memory");
        m->values = values;
        m->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "metrics: out of memory");
    m->names[m->count] = copy;
    m->values[m->count] = value;
    m->count++;
    return VOLT_OK;
}

void volt_metrics_clear(volt_metrics *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->count; i++) free(m->names[i]);
    m->count = 0;
}

void volt_metrics_release(volt_metrics *m) {
    volt_metrics_clear(m);
    free(m->names);
    free(m->values);
    *m = (volt_metrics){0};
}

void volt_metrics_free(volt_metrics *m) {
    if (!m) return;
    volt_metrics_release(m);
    free(m);
}

void volt_predictions_free(volt_predictions *p) {
    if (!p) return;
    for (int64_t i = 0; i < p->count; i++) volt_tensor_free(p->items[i]);
    free(p->items);
    free(p);
}
