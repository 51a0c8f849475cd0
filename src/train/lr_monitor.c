/* lr_monitor.c: Lightning's LearningRateMonitor callback — writes the
 * learning rate of every parameter group of every optimizer (and, when
 * asked, its momentum and weight decay) to the loggers under Lightning's
 * names ("lr-SGD", "lr-SGD/pg2", "lr-Adam-1", "lr-SGD-momentum"), at the
 * start of each epoch, of each logged step, or as each optimizer's
 * scheduler steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h" /* the optimizer state's JSON */
#include "train/train_impl.h"

typedef enum { LRM_AUTO = 0, LRM_STEP, LRM_EPOCH } lrm_interval;

typedef struct {
    volt_callback base;
    lrm_interval interval;
    bool log_momentum, log_weight_decay;
} lr_monitor;

/* ------------------------------------------------------------------ names */

/* Lightning's names for optimizer i: "lr-<Name>", "-<k>" for the k+1-th
 * optimizer of that type (those with schedulers counted first), "/pg<g>"
 * with several groups. `order` lists the optimizers in that order. */
static int scheduler_order(const volt_trainer *t, int *order) {
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < t->n_optims; i++)
            if ((t->optims[i].sched != NULL) == (pass == 0)) order[n++] = i;
    return n;
}

/* The "-<k>" suffix of optimizer order[pos]: how many of its type came before. */
static int type_index(const volt_trainer *t, const int *order, int pos) {
    const char *name = volt_optimizer_name(t->optims[order[pos]].opt);
    int k = 0;
    for (int j = 0; j < pos; j++)
        k += strcmp(volt_optimizer_name(t->optims[order[j]].opt), name) == 0;
    return k;
}

static void group_name(const volt_optimizer *opt, int k, int g, char *buf, size_t size) {
    int n = snprintf(buf, size, "lr-%s", volt_optimizer_name(opt));
    if (k > 0 && n >= 0 && (size_t)n < size) n += snprintf(buf + n, size - (size_t)n, "-%d", k);
    if (volt_optimizer_num_groups(opt) > 1 && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "/pg%d", g + 1);
}

/* ----------------------------------------------------------------- values */

/* The weight decay of each group, from the optimizer's state JSON (optim.h
 * has no getter); wd[g] NAN where absent. */
static volt_status weight_decays(volt_optimizer *opt, double *wd, int n_groups) {
    char *json = NULL;
    volt_state_dict *sd = volt_optimizer_state_dict(opt, &json);
    if (!sd) return volt_error_status() ? volt_error_status() : VOLT_ERR_INTERNAL;
    volt_state_dict_free(sd);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "param_groups");
    for (int g = 0; g < n_groups; g++) {
        const cJSON *item =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(groups, g), "weight_decay");
        if (!volt_json_get_number(item, &wd[g])) wd[g] = 0.0;
    }
    cJSON_Delete(root);
    return VOLT_OK;
}

/* Adds the stats of one optimizer to the row. */
static volt_status optimizer_stats(const lr_monitor *lm, volt_optimizer *opt, int k,
                                   volt_metrics *row) {
    int n = volt_optimizer_num_groups(opt);
    double *wd = lm->log_weight_decay ? calloc((size_t)n, sizeof *wd) : NULL;
    if (lm->log_weight_decay && !wd)
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "LearningRateMonitor: out of memory");
    volt_status st = wd ? weight_decays(opt, wd, n) : VOLT_OK;
    bool has_momentum = volt_optimizer_has_momentum(opt);
    for (int g = 0; g < n && !st; g++) {
        char name[256], key[300];
        group_name(opt, k, g, name, sizeof name);
        st = volt_metrics_set(row, name, volt_optimizer_lr(opt, g));
        if (!st && lm->log_momentum) {
            snprintf(key, sizeof key, "%s-momentum", name);
            st = volt_metrics_set(row, key, has_momentum ? volt_optimizer_momentum(opt, g) : 0.0);
        }
        if (!st && wd) {
            snprintf(key, sizeof key, "%s-weight_decay", name);
            st = volt_metrics_set(row, key, wd[g]);
        }
    }
    free(wd);
    return st;
}

/* Whether optimizer i is logged at a step (at_step) or an epoch start:
 * "step"/"epoch" log all of them where they log; with no interval an
 * optimizer with a scheduler logs where the scheduler steps, one without a
 * scheduler at both (as Lightning's _extract_stats). */
static bool logs_now(const lr_monitor *lm, const volt_optim_entry *e, bool at_step) {
    if (lm->interval != LRM_AUTO) return true;
    if (!e->sched) return true;
    return (e->cfg.interval == VOLT_INTERVAL_STEP) == at_step;
}

static volt_status write_stats(const lr_monitor *lm, volt_trainer *t, bool at_step) {
    if (t->n_optims == 0) return VOLT_OK;
    int *order = malloc((size_t)t->n_optims * sizeof *order);
    if (!order) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "LearningRateMonitor: out of memory");
    int n = scheduler_order(t, order);
    volt_metrics row = {0};
    volt_status st = VOLT_OK;
    for (int pos = 0; pos < n && !st; pos++) {
        const volt_optim_entry *e = &t->optims[order[pos]];
        if (logs_now(lm, e, at_step))
            st = optimizer_stats(lm, e->opt, type_index(t, order, pos), &row);
    }
    free(order);
    if (!st && row.count > 0) st = volt_trainer_log_metrics(t, &row, volt_trainer_logger_step(t));
    volt_metrics_release(&row);
    return st;
}

/* ------------------------------------------------------------------ hooks */

static bool has_logger(const volt_trainer *t) {
    const volt_trainer_config *c = volt_trainer_get_config(t);
    return t->n_loggers > 0 || (c->logger && !c->barebones);
}

static volt_status lrm_on_train_start(volt_callback *self, volt_module *m, volt_step *step) {
    (void)self, (void)m;
    volt_trainer *t = volt_step_trainer(step);
    if (!has_logger(t))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "Cannot use LearningRateMonitor callback with a Trainer that has no "
                              "logger (set logger = true or add one with volt_trainer_add_logger)");
    if (volt_trainer_num_optimizers(t) == 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "Cannot use LearningRateMonitor callback with a Trainer that has no "
                              "optimizers (configure_optimizers added none)");
    return VOLT_OK;
}

/* Lightning's should_update_logs: the step about to run is a logging step
 * (log_every_n_steps), or fit is stopping. */
static bool should_update_logs(const volt_trainer *t) {
    int64_t every = volt_trainer_get_config(t)->log_every_n_steps;
    bool due = every > 0 && (volt_trainer_logger_step(t) + 1) % every == 0;
    return due || t->should_stop;
}

static volt_status lrm_on_train_batch_start(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    const lr_monitor *lm = (const lr_monitor *)self;
    volt_trainer *t = volt_step_trainer(step);
    if (lm->interval == LRM_EPOCH || !should_update_logs(t)) return VOLT_OK;
    return write_stats(lm, t, true);
}

static volt_status lrm_on_train_epoch_start(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    const lr_monitor *lm = (const lr_monitor *)self;
    if (lm->interval == LRM_STEP) return VOLT_OK;
    return write_stats(lm, volt_step_trainer(step), false);
}

static void lrm_free(volt_callback *self) { free(self); }

static const volt_callback_ops lrm_ops = {
    .name = "LearningRateMonitor",
    .on_train_start = lrm_on_train_start,
    .on_train_batch_start = lrm_on_train_batch_start,
    .on_train_epoch_start = lrm_on_train_epoch_start,
    .free = lrm_free,
};

volt_callback *volt_lr_monitor_new(const volt_lr_monitor_options *opt) {
    lrm_interval interval = LRM_AUTO;
    const char *li = opt ? opt->logging_interval : NULL;
    if (li && strcmp(li, "step") == 0) {
        interval = LRM_STEP;
    } else if (li && strcmp(li, "epoch") == 0) {
        interval = LRM_EPOCH;
    } else if (li) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "LearningRateMonitor: logging_interval should be \"step\", \"epoch\" or "
                       "NULL, got '%s'",
                       li);
        return NULL;
    }
    lr_monitor *lm = calloc(1, sizeof *lm);
    if (!lm) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "LearningRateMonitor: out of memory");
        return NULL;
    }
    lm->base.ops = &lrm_ops;
    lm->interval = interval;
    lm->log_momentum = opt && opt->log_momentum;
    lm->log_weight_decay = opt && opt->log_weight_decay;
    return &lm->base;
}
