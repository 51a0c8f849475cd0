/* progress.c: the progress bar on stderr. On a terminal: one line per stage
 * rewritten in place (stage, epoch, i/n, percent, bar, elapsed<remaining,
 * it/s, progress-bar metrics). Otherwise (CI logs, files): a plain line at
 * most every 10 seconds and one at the end of each stage. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "train/train_impl.h"

#define PLAIN_EVERY_S 10.0
#define TTY_EVERY_S 0.1

static bool enabled(const volt_trainer *t) {
    return t->cfg.enable_progress_bar && !t->cfg.barebones && t->rank == 0;
}

void volt_progress_begin(volt_trainer *t, const char *stage, int64_t n) {
    (void)stage;
    (void)n;
    if (!enabled(t)) return;
    t->progress.enabled = true;
    t->progress.tty = isatty(fileno(stderr));
    t->progress.stage_start = volt_time_now();
    t->progress.last_print = t->progress.stage_start;
}

static void fmt_time(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e7) s = 0;
    int64_t k = (int64_t)s;
    snprintf(buf, n, "%02lld:%02lld", (long long)(k / 60), (long long)(k % 60));
}

static int line(volt_trainer *t, const char *stage, int64_t i, int64_t n, char *buf, size_t size) {
    double el = volt_time_now() - t->progress.stage_start;
    double rate = el > 0 ? (double)i / el : 0;
    char e[48], r[48];
    fmt_time(e, sizeof e, el);
    fmt_time(r, sizeof r, rate > 0 ? (double)(n - i) / rate : 0);
    int pct = n > 0 ? (int)(100 * i / n) : 100;
    char bar[21];
    int fill = pct / 5;
    for (int k = 0; k < 20; k++) bar[k] = k < fill ? '#' : '.';
    bar[20] = 0;
    int len;
    if (strcmp(stage, "train") == 0) {
        int64_t me = t->cfg.max_epochs;
        if (me > 0)
            len = snprintf(buf, size, "Epoch %lld/%lld", (long long)t->epoch, (long long)me - 1);
        else
            len = snprintf(buf, size, "Epoch %lld", (long long)t->epoch);
    } else {
        len = snprintf(buf, size, "%s", stage);
    }
    len += snprintf(buf + len, size - (size_t)len, ": %lld/%lld %3d%% [%s] %s<%s %.2fit/s",
                    (long long)i, (long long)n, pct, bar, e, r, rate);
    const volt_metrics *m = &t->pbar_metrics;
    for (int64_t k = 0; k < m->count && (size_t)len < size - 40; k++)
        len += snprintf(buf + len, size - (size_t)len, " %s=%.4g", m->names[k], m->values[k]);
    return len;
}

void volt_progress_update(volt_trainer *t, const char *stage, int64_t i, int64_t n, bool force) {
    if (!enabled(t) || !t->progress.enabled) return;
    double now = volt_time_now();
    double every = t->progress.tty ? TTY_EVERY_S : PLAIN_EVERY_S;
    if (!force && now - t->progress.last_print < every) return;
    t->progress.last_print = now;
    char buf[1024];
    int len = line(t, stage, i, n, buf, sizeof buf);
    if (t->progress.tty) {
        int pad = t->progress.last_len > len ? t->progress.last_len - len : 0;
        fprintf(stderr, "\r%s%*s", buf, pad, "");
        t->progress.last_len = len;
    } else {
        fprintf(stderr, "%s\n", buf);
    }
    fflush(stderr);
}

void volt_progress_end(volt_trainer *t, const char *stage, int64_t n) {
    if (!enabled(t) || !t->progress.enabled) return;
    if (strcmp(stage, "sanity") == 0 && !t->progress.tty) return;
    volt_progress_update(t, stage, n, n, true);
    if (t->progress.tty) {
        fputc('\n', stderr);
        t->progress.last_len = 0;
    }
}
