/* work.c: waiting on an asynchronous collective (volt_work) — the wait
 * loop bounded by the group's timeout, polling, and freeing. */
#include <stdlib.h>

#include "dist/dist_impl.h"

/* A finished work: record its outcome; a successful write is an in-place
 * change of its output (autograd checks the storage version). */
static void finish(volt_work *w) {
    w->done = true;
    if (w->status == VOLT_OK && w->out) volt_storage_bump_version(w->out->storage);
}

/* One poll; true once the work finished (or failed). */
static bool poll(volt_work *w) {
    bool done = false;
    if (w->pg->ops->test(w, &done) != VOLT_OK) {
        /* The failure is in w; the request may still be in flight. */
        w->abandoned = true;
        done = true;
    }
    if (done) finish(w);
    return done;
}

static void wait_loop(volt_work *w) {
    volt_process_group *pg = w->pg;
    double start = volt_time_now();
    while (!poll(w)) {
        double waited = volt_time_now() - start;
        if (waited > pg->timeout_s) {
            w->abandoned = true;
            volt_dist_fail(pg, w, VOLT_ERR_IO, true,
                           "%s: timed out after %g s waiting for the other ranks (a rank died, "
                           "is stuck, or called another collective)",
                           volt_collective_name(w->kind), pg->timeout_s);
            finish(w);
            return;
        }
        volt_dist_backoff(waited);
    }
}

volt_status volt_work_wait(volt_work *w) {
    if (!w) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "work_wait: work is NULL");
    if (!w->done) wait_loop(w);
    if (w->status != VOLT_OK) return volt_error_set(w->status, "%s", w->message);
    return VOLT_OK;
}

bool volt_work_is_completed(volt_work *w) {
    if (!w) return false;
    return w->done || poll(w);
}

void volt_work_free(volt_work *w) {
    if (!w) return;
    if (!w->done) wait_loop(w);
    if (!w->abandoned) {
        /* An abandoned work's tensors stay referenced: MPI may still write
         * into their storage. */
        volt_tensor_release(w->out);
        volt_tensor_release(w->in);
    }
    free(w);
}
