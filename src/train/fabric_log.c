/* fabric_log.c: volt_fabric_log / log_dict — rows of metrics to the
 * fabric's loggers on rank 0 only (a CSV logger under root_dir unless
 * loggers were added) — and the loggers' end. */
#include <stdlib.h>

#include "train/fabric_impl.h"

volt_status volt_fabric_add_logger(volt_fabric *f, volt_logger *logger) {
    if (!f || !logger) {
        if (logger && logger->ops && logger->ops->free) logger->ops->free(logger);
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: add_logger: NULL %s",
                              f ? "logger" : "fabric");
    }
    if (f->n_loggers == f->cap_loggers) {
        int cap = f->cap_loggers ? 2 * f->cap_loggers : 4;
        volt_logger **g = realloc(f->loggers, (size_t)cap * sizeof *g);
        if (!g) {
            if (logger->ops->free) logger->ops->free(logger);
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "fabric: add_logger: out of memory");
        }
        f->loggers = g;
        f->cap_loggers = cap;
    }
    f->loggers[f->n_loggers++] = logger;
    return VOLT_OK;
}

/* The default logger, made at the first row when none was added. */
static volt_status ensure_logger(volt_fabric *f) {
    if (f->n_loggers > 0) return VOLT_OK;
    volt_logger *csv = volt_csv_logger_new(f->root_dir, "volt_logs", -1, 0);
    if (!csv) return volt_error_prefix(volt_error_status(), "fabric: log");
    return volt_fabric_add_logger(f, csv);
}

volt_status volt_fabric_log_dict(volt_fabric *f, int n, const char *const *names,
                                 const double *values, int64_t step) {
    if (!f) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: log: NULL fabric");
    if (n < 0 || (n > 0 && (!names || !values)))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fabric: log_dict: n = %d without names or values", n);
    for (int i = 0; i < n; i++)
        if (!names[i] || !*names[i])
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "fabric: log: metric %d has a NULL or empty name", i);
    if (f->rank != 0) return VOLT_OK;
    volt_status st = ensure_logger(f);
    volt_metrics row = {0};
    for (int i = 0; i < n && !st; i++) st = volt_metrics_set(&row, names[i], values[i]);
    if (step < 0) step = f->next_log_step;
    for (int i = 0; i < f->n_loggers && !st; i++)
        if (f->loggers[i]->ops->log_metrics)
            st = f->loggers[i]->ops->log_metrics(f->loggers[i], &row, step);
    volt_metrics_release(&row);
    if (st) return volt_error_prefix(st, "fabric: log");
    f->next_log_step = step + 1;
    return VOLT_OK;
}

volt_status volt_fabric_log(volt_fabric *f, const char *name, double value, int64_t step) {
    return volt_fabric_log_dict(f, 1, (const char *const[]){name}, &value, step);
}

const char *volt_fabric_log_dir(volt_fabric *f) {
    if (!f || f->rank != 0 || f->n_loggers == 0 || !f->loggers[0]->ops->log_dir) return NULL;
    return f->loggers[0]->ops->log_dir(f->loggers[0]);
}

void volt_fabric_loggers_free(volt_fabric *f) {
    for (int i = 0; i < f->n_loggers; i++) {
        volt_logger *lg = f->loggers[i];
        if (f->rank == 0 && lg->ops->finalize) lg->ops->finalize(lg, true); /* error recorded */
        if (lg->ops->free) lg->ops->free(lg);
    }
    free(f->loggers);
    f->loggers = NULL;
    f->n_loggers = 0;
}
