/* interrupt.c: Ctrl-C during fit/validate/test/predict. While a run is
 * going, SIGINT only sets a flag; the loops check it after each batch and
 * stop cleanly (on_exception hooks, loggers flushed) with an error. The
 * previous handler is restored when the run ends. The flag is the one piece
 * of process-wide state here: a signal handler can reach nothing else. */
#include <signal.h>
#include <string.h>

#include "train/train_impl.h"

static volatile sig_atomic_t interrupted;
static struct sigaction previous;
static _Thread_local int armed;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

void volt_interrupt_arm(void) {
    if (armed++) return;
    interrupted = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &previous);
}

void volt_interrupt_disarm(void) {
    if (armed == 0 || --armed) return;
    sigaction(SIGINT, &previous, NULL);
}

volt_status volt_interrupt_check(void) {
    if (!interrupted) return VOLT_OK;
    interrupted = 0;
    return volt_error_set(VOLT_ERR_STATE, "interrupted (SIGINT)");
}
