/* composite.c: SequentialLR and ChainedScheduler of torch 1.13 — schedulers
 * made of others, which they own. SequentialLR hands over from one
 * scheduler to the next at each milestone (restarting the next at epoch 0 in
 * closed form); ChainedScheduler steps all of them each time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"

typedef struct {
    volt_lr_scheduler base;
    int n;
    volt_lr_scheduler **children;
    int64_t *milestones; /* SequentialLR: n - 1 */
} composite;

static void destroy(volt_lr_scheduler *s) {
    composite *c = (composite *)s;
    for (int i = 0; i < c->n; i++)
        if (c->children && c->children[i]) volt_sched_destroy(c->children[i]);
    free(c->children);
    free(c->milestones);
}

static void save(const volt_lr_scheduler *s, cJSON *obj) {
    const composite *c = (const composite *)s;
    cJSON *a = cJSON_AddArrayToObject(obj, "schedulers");
    for (int i = 0; i < c->n; i++) cJSON_AddItemToArray(a, volt_sched_to_json(c->children[i]));
}

static bool load(volt_lr_scheduler *s, const cJSON *obj, bool apply) {
    composite *c = (composite *)s;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "schedulers");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != c->n) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: load_state_dict: 'schedulers' must hold %d states",
                       s->cls->name, c->n);
        return false;
    }
    for (int i = 0; i < c->n; i++)
        if (!volt_sched_from_json(c->children[i], cJSON_GetArrayItem(a, i), apply)) return false;
    return true;
}

/* The first milestone above last_epoch (bisect_right). */
static int bisect_right(const composite *c, int64_t e) {
    int i = 0;
    while (i < c->n - 1 && c->milestones[i] <= e) i++;
    return i;
}

static volt_status sequential_step(volt_lr_scheduler *s) {
    composite *c = (composite *)s;
    s->last_epoch++;
    int idx = bisect_right(c, s->last_epoch);
    volt_lr_scheduler *child = c->children[idx];
    volt_status st = (idx > 0 && c->milestones[idx - 1] == s->last_epoch)
                         ? volt_sched_step_to(child, 0)
                         : volt_sched_step(child);
    if (st != VOLT_OK) {
        s->last_epoch--;
        return st;
    }
    memcpy(s->last_lr, child->last_lr, (size_t)s->n_groups * sizeof(double));
    return VOLT_OK;
}

static volt_status chained_step(volt_lr_scheduler *s) {
    composite *c = (composite *)s;
    for (int i = 0; i < c->n; i++) {
        volt_status st = volt_sched_step(c->children[i]);
        if (st != VOLT_OK) return st;
    }
    s->last_epoch++;
    volt_sched_record_lrs(s);
    return VOLT_OK;
}

static const volt_sched_class sequential_class = {.name = "SequentialLR",
                                                  .step = sequential_step,
                                                  .save = save,
                                                  .load = load,
                                                  .destroy = destroy};
static const volt_sched_class chained_class = {.name = "ChainedScheduler",
                                               .step = chained_step,
                                               .save = save,
                                               .load = load,
                                               .destroy = destroy};

/* Frees the listed schedulers the caller handed over (each once; not those
 * another composite owns). */
static void free_all(int n, volt_lr_scheduler *const *list) {
    for (int i = 0; list && i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++) seen = seen || list[j] == list[i];
        if (list[i] && !list[i]->owned && !seen) volt_sched_destroy(list[i]);
    }
}

/* Checks the children; frees them all and records an error on failure. */
static bool check_children(const char *name, volt_optimizer *opt, int n,
                           volt_lr_scheduler *const *list, bool sequential) {
    const char *bad = NULL;
    int at = 0;
    if (n < 1 || !list) bad = "needs at least one scheduler";
    for (int i = 0; !bad && i < n; i++) {
        at = i;
        volt_lr_scheduler *s = list[i];
        if (!s)
            bad = "is NULL (its constructor failed)";
        else if (s->owned)
            bad = "already belongs to another SequentialLR or ChainedScheduler";
        else if (s->opt != (opt ? opt : list[0]->opt))
            bad = "belongs to another optimizer";
        else if (s->cls->step_metric)
            bad = "is a ReduceLROnPlateau, which needs a metric to step";
        else if (sequential && (s->cls == &sequential_class || s->cls == &chained_class))
            bad = "is a SequentialLR or ChainedScheduler, which cannot restart at an epoch";
        for (int j = 0; !bad && j < i; j++)
            if (list[j] == s) bad = "appears twice";
    }
    if (!bad) return true;
    if (n < 1 || !list)
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s", name, bad);
    else
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: scheduler %d %s", name, at, bad);
    free_all(n, list);
    return false;
}

static composite *make(volt_optimizer *opt, const volt_sched_class *cls, int n,
                       volt_lr_scheduler *const *list) {
    composite *c = (composite *)volt_sched_alloc(opt, cls, sizeof *c, false);
    if (c) c->children = calloc((size_t)n, sizeof *c->children);
    if (!c || !c->children) {
        if (c) volt_sched_destroy(&c->base);
        free_all(n, list);
        if (c) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", cls->name);
        return NULL;
    }
    c->n = n;
    for (int i = 0; i < n; i++) {
        c->children[i] = list[i];
        list[i]->owned = true;
    }
    return c;
}

volt_lr_scheduler *volt_sequential_lr_new(volt_optimizer *opt, int n,
                                          volt_lr_scheduler *const *schedulers,
                                          const int64_t *milestones) {
    const char *name = sequential_class.name;
    if (!opt) {
        free_all(n, schedulers);
        return volt_sched_fail(name, "optimizer is NULL");
    }
    if (!check_children(name, opt, n, schedulers, true)) return NULL;
    for (int i = 0; i < n - 1; i++)
        if (!milestones || milestones[i] < 0 || (i > 0 && milestones[i] < milestones[i - 1])) {
            free_all(n, schedulers);
            return volt_sched_fail(name, "milestones must be %d non-decreasing epochs >= 0", n - 1);
        }
    composite *c = make(opt, &sequential_class, n, schedulers);
    if (!c) return NULL;
    c->milestones = malloc((size_t)(n > 1 ? n - 1 : 1) * sizeof(int64_t));
    if (!c->milestones) {
        volt_sched_destroy(&c->base);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
        return NULL;
    }
    if (n > 1) memcpy(c->milestones, milestones, (size_t)(n - 1) * sizeof(int64_t));
    /* Back to the initial lrs, undo the children's initial steps, and redo
     * only the first one's. */
    for (int g = 0; g < opt->n_groups; g++) {
        double initial = volt_optim_initial_lr(opt, g);
        if (!isnan(initial)) opt->groups[g].hp.lr = initial;
    }
    for (int i = 0; i < n; i++) c->children[i]->last_epoch--;
    c->children[0]->step_count = 0;
    if (volt_sched_step(c->children[0]) != VOLT_OK) {
        volt_sched_destroy(&c->base);
        return NULL;
    }
    c->base.last_epoch = 0;
    memcpy(c->base.last_lr, c->children[0]->last_lr, (size_t)c->base.n_groups * sizeof(double));
    return &c->base;
}

volt_lr_scheduler *volt_chained_lr_new(int n, volt_lr_scheduler *const *schedulers) {
    const char *name = chained_class.name;
    if (!check_children(name, NULL, n, schedulers, false)) return NULL;
    composite *c = make(schedulers[0]->opt, &chained_class, n, schedulers);
    if (!c) return NULL;
    c->base.last_epoch = 0;
    return &c->base;
}
