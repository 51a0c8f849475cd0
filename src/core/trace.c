/* trace.c: the op-tracing seam (volt_trace_hook in core.h): the hook of each
 * thread, and a process-wide count of installed hooks that lets every op
 * skip the thread-local lookup with one load and branch while there is none
 * (VOLT_TRACE_OP in core_impl.h). */
#include "core/core_impl.h"

int volt_trace_hooks_installed; /* threads with a hook now */
static _Thread_local const volt_trace_hook *current;

const volt_trace_hook *volt_trace_hook_set(const volt_trace_hook *hook) {
    const volt_trace_hook *prev = current;
    if (hook && !prev) __atomic_add_fetch(&volt_trace_hooks_installed, 1, __ATOMIC_RELAXED);
    if (!hook && prev) __atomic_sub_fetch(&volt_trace_hooks_installed, 1, __ATOMIC_RELAXED);
    current = hook;
    return prev;
}

bool volt_trace_begin_slow(const char *name) {
    const volt_trace_hook *h = current;
    if (!h || !h->begin) return false;
    h->begin(h->ctx, name);
    return true;
}

void volt_trace_end_slow(void) {
    const volt_trace_hook *h = current;
    if (h && h->end) h->end(h->ctx);
}
