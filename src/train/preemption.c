/* preemption.c: the preemption callback for cluster jobs. While fit runs,
 * SIGTERM or SIGUSR1 only sets a flag; at the next step boundary (the end of
 * a training batch that closed its accumulation window) the callback writes
 * a full checkpoint and stops fit with an error that volt_exit_code() turns
 * into VOLT_EXIT_PREEMPTED, so the job's next run resumes with
 * ckpt_path = "last". The flag is process-wide: a signal handler can reach
 * nothing else. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_impl.h"

static volatile sig_atomic_t received;
static struct sigaction previous_term, previous_usr1;
static int installed;

static void on_signal(int sig) { received = sig; }

typedef struct {
    volt_callback base;
    char *path; /* NULL: <default checkpoint dir>/last.ckpt */
    bool armed;
} preemption;

static void arm(preemption *p) {
    if (p->armed) return;
    p->armed = true;
    if (installed++) return;
    received = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &previous_term);
    sigaction(SIGUSR1, &sa, &previous_usr1);
}

static void disarm(preemption *p) {
    if (!p->armed) return;
    p->armed = false;
    if (--installed) return;
    sigaction(SIGTERM, &previous_term, NULL);
    sigaction(SIGUSR1, &previous_usr1, NULL);
}

static volt_status fit_start(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    if (volt_step_stage(step) == VOLT_STAGE_FIT) arm((preemption *)self);
    return VOLT_OK;
}

static volt_status fit_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m, (void)step;
    disarm((preemption *)self);
    return VOLT_OK;
}

static volt_status batch_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    preemption *p = (preemption *)self;
    volt_trainer *t = volt_step_trainer(step);
    int sig = received;
    if (!sig || !t->batch_stepped) return VOLT_OK;
    const char *path = p->path;
    char buf[4096];
    if (!path) {
        const char *dir = volt_trainer_default_checkpoint_dir(t);
        if (!dir) return volt_error_status();
        snprintf(buf, sizeof buf, "%s/last.ckpt", dir);
        path = buf;
    }
    volt_status st = volt_trainer_save_checkpoint(t, path, false);
    if (st) return st;
    t->preempted = true;
    return volt_error_set(VOLT_ERR_STATE,
                          "preempted (%s): checkpoint saved to %s; resume with ckpt_path = "
                          "\"last\"",
                          sig == SIGTERM ? "SIGTERM" : "SIGUSR1", path);
}

static volt_status on_exception(volt_callback *self, volt_module *m, volt_step *step) {
    return fit_end(self, m, step);
}

static void preemption_free(volt_callback *self) {
    preemption *p = (preemption *)self;
    disarm(p);
    free(p->path);
    free(p);
}

static const volt_callback_ops preemption_ops = {
    .name = "Preemption",
    .on_fit_start = fit_start,
    .on_fit_end = fit_end,
    .on_train_batch_end = batch_end,
    .on_exception = on_exception,
    .free = preemption_free,
};

volt_callback *volt_preemption_new(const char *path) {
    preemption *p = calloc(1, sizeof *p);
    if (!p || (path && !(p->path = strdup(path)))) {
        free(p);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "preemption: out of memory");
        return NULL;
    }
    if (path && !*path) {
        free(p->path);
        free(p);
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "preemption: empty checkpoint path");
        return NULL;
    }
    p->base.ops = &preemption_ops;
    return &p->base;
}
