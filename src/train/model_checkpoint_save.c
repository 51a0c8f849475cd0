/* model_checkpoint_save.c: how ModelCheckpoint saves — Lightning's
 * _save_topk_checkpoint (with a monitor: the best k by score, the file that
 * falls out removed; without: the latest), _save_last_checkpoint (a copy or
 * a symbolic link named last.ckpt), file names with the version counter,
 * and the rule of which files may be removed (inside dirpath, never the
 * checkpoint the run resumed from). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_impl.h" /* volt_make_parent_dirs */
#include "train/model_checkpoint_impl.h"

#define NAME_LAST "last"

/* ------------------------------------------------------------------ paths */

bool volt_mc_abs_path(const char *path, char *out) {
    char buf[PATH_MAX];
    if (path[0] == '/') {
        if (strlen(path) >= sizeof buf) return false;
        strcpy(buf, path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) return false;
        if (snprintf(buf, sizeof buf, "%s/%s", cwd, path) >= (int)sizeof buf) return false;
    }
    /* collapse "//", "/./", "/../" and a trailing "/" */
    size_t n = 0;
    out[0] = 0;
    for (char *save = NULL, *part = strtok_r(buf, "/", &save); part;
         part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0) continue;
        if (strcmp(part, "..") == 0) {
            while (n > 0 && out[n - 1] != '/') n--;
            if (n > 0) n--;
            out[n] = 0;
            continue;
        }
        size_t k = strlen(part);
        if (n + 1 + k >= PATH_MAX) return false;
        out[n++] = '/';
        memcpy(out + n, part, k + 1);
        n += k;
    }
    if (n == 0) strcpy(out, "/");
    return true;
}

/* The values the file names see (Lightning's _monitor_candidates): the
 * callback metrics, with "epoch" and "step" the trainer's unless logged. */
typedef struct {
    const volt_metrics *metrics;
    int64_t epoch, step;
} candidates;

static int64_t logged_int(const volt_metrics *m, const char *name, int64_t fallback) {
    if (!volt_metrics_has(m, name)) return fallback;
    double v = volt_metrics_get(m, name);
    return isfinite(v) && fabs(v) < 9e18 ? (int64_t)v : fallback;
}

static candidates monitor_candidates(volt_trainer *t) {
    const volt_metrics *m = volt_trainer_callback_metrics(t);
    return (candidates){m, logged_int(m, "epoch", volt_trainer_current_epoch(t)),
                        logged_int(m, "step", volt_trainer_global_step(t))};
}

/* Lightning's format_checkpoint_name: <dirpath>/<name>[-v<ver>].ckpt. */
static volt_status format_path(const volt_model_ckpt *mc, const candidates *c, const char *tmpl,
                               bool auto_insert, int ver, char *out) {
    char name[PATH_MAX];
    volt_status st = volt_checkpoint_format_name(tmpl, c->metrics, c->epoch, c->step, auto_insert,
                                                 name, sizeof name);
    if (st) return st;
    char v[32] = "";
    if (ver > 0) snprintf(v, sizeof v, "-v%d", ver);
    int n = snprintf(out, PATH_MAX, "%s/%s%s.ckpt", mc->dirpath, name, v);
    if (n < 0 || n >= PATH_MAX)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: the checkpoint path is longer than PATH_MAX (%d): "
                              "%s/%s%s.ckpt",
                              PATH_MAX, mc->dirpath, name, v);
    return VOLT_OK;
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* format_path with the version counter: while the name exists and is not
 * `keep` (the file being replaced), -v1, -v2, ... */
static volt_status versioned_path(const volt_model_ckpt *mc, const candidates *c, const char *tmpl,
                                  bool auto_insert, const char *keep, char *out) {
    volt_status st = format_path(mc, c, tmpl, auto_insert, 0, out);
    if (st || !mc->version_counter) return st;
    for (int ver = 1; file_exists(out) && !(keep && strcmp(out, keep) == 0); ver++)
        if ((st = format_path(mc, c, tmpl, auto_insert, ver, out))) return st;
    return VOLT_OK;
}

/* ---------------------------------------------------- saving and removing */

/* Lightning's _save_checkpoint. */
static volt_status save_file(volt_model_ckpt *mc, volt_trainer *t, const char *path) {
    volt_status st = volt_make_parent_dirs(path, "ModelCheckpoint");
    if (!st) st = volt_trainer_save_checkpoint(t, path, mc->weights_only);
    if (st) return st;
    mc->last_step_saved = volt_trainer_global_step(t);
    return volt_mc_set_str(&mc->last_saved, path);
}

/* Lightning's _should_remove_checkpoint: not the new file, not the file
 * the run resumed from, and inside dirpath. */
static bool should_remove(const volt_model_ckpt *mc, volt_trainer *t, const char *previous,
                          const char *current) {
    if (strcmp(previous, current) == 0) return false;
    char prev[PATH_MAX], other[PATH_MAX];
    if (!volt_mc_abs_path(previous, prev)) return false;
    const char *resume = volt_trainer_ckpt_path(t);
    if (resume && volt_mc_abs_path(resume, other) && strcmp(prev, other) == 0) return false;
    if (!volt_mc_abs_path(mc->dirpath, other)) return false;
    if (strcmp(other, "/") == 0) return true;
    size_t n = strlen(other);
    return strncmp(prev, other, n) == 0 && prev[n] == '/';
}

/* Files are removed and linked by rank 0 alone (ddp). */
static volt_status remove_file(volt_trainer *t, const char *path) {
    if (!volt_trainer_is_global_zero(t)) return VOLT_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        return volt_error_set(VOLT_ERR_IO, "ModelCheckpoint: cannot remove %s: %s", path,
                              strerror(errno));
    return VOLT_OK;
}

/* Lightning's _link_checkpoint: linkpath becomes a symbolic link to
 * target (by its name alone when both are in one directory). */
static volt_status link_file(volt_trainer *t, const char *target, const char *linkpath) {
    if (!volt_trainer_is_global_zero(t)) return VOLT_OK;
    struct stat sb;
    if (lstat(linkpath, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return volt_error_set(VOLT_ERR_IO, "ModelCheckpoint: cannot link %s: it is a directory",
                                  linkpath);
        volt_status st = remove_file(t, linkpath);
        if (st) return st;
    }
    const char *ts = strrchr(target, '/'), *ls = strrchr(linkpath, '/');
    const char *rel = target;
    if (ts && ls && ts - target == ls - linkpath &&
        strncmp(target, linkpath, (size_t)(ts - target)) == 0)
        rel = ts + 1;
    volt_status st = volt_make_parent_dirs(linkpath, "ModelCheckpoint");
    if (st) return st;
    if (symlink(rel, linkpath) != 0)
        return volt_error_set(VOLT_ERR_IO, "ModelCheckpoint: cannot link %s to %s: %s", linkpath,
                              target, strerror(errno));
    return VOLT_OK;
}

/* ------------------------------------------------------------------ top k */

/* Lightning's check_monitor_top_k (a NaN never beats the k-th). */
static bool in_top_k(const volt_model_ckpt *mc, double current) {
    if (mc->save_top_k == -1 || mc->n_best < mc->save_top_k) return true;
    int k = volt_mc_best_find(mc, mc->kth_best_model_path);
    double kth = k >= 0 ? mc->best[k].score : mc->kth_value;
    return mc->mode_max ? current > kth : current < kth;
}

/* The entry ranked worst (Python's max/min by score: the first on ties)
 * and best. */
static int extreme(const volt_model_ckpt *mc, bool worst) {
    int r = 0;
    for (int i = 1; i < mc->n_best; i++) {
        double a = mc->best[i].score, b = mc->best[r].score;
        bool higher = a > b, lower = a < b;
        if (worst ? (mc->mode_max ? lower : higher) : (mc->mode_max ? higher : lower)) r = i;
    }
    return r;
}

static void print_saved(const volt_model_ckpt *mc, const candidates *c, double current, int64_t k,
                        const char *path) {
    if (!mc->verbose) return;
    fprintf(stderr,
            "Epoch %lld, global step %lld: '%s' reached %0.5f (best %0.5f), saving model to '%s' "
            "as top %lld\n",
            (long long)c->epoch, (long long)c->step, mc->monitor, current, mc->best_model_score,
            path, (long long)k);
}

/* Lightning's _update_best_and_save. */
static volt_status update_best_and_save(volt_model_ckpt *mc, volt_trainer *t, const candidates *c,
                                        double current) {
    int64_t k = mc->save_top_k == -1 ? mc->n_best + 1 : mc->save_top_k;
    char *del = NULL;
    if (mc->n_best == k && k > 0) {
        if (!(del = strdup(mc->kth_best_model_path)))
            return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "ModelCheckpoint: out of memory");
        volt_mc_best_pop(mc, del);
    }
    if (isnan(current)) current = mc->mode_max ? -INFINITY : INFINITY;
    char path[PATH_MAX];
    volt_status st = versioned_path(mc, c, mc->filename, mc->auto_insert, del, path);
    if (!st) {
        mc->current_score = current;
        st = volt_mc_best_set(mc, path, current);
    }
    if (!st && mc->n_best == k) {
        int w = extreme(mc, true);
        mc->kth_value = mc->best[w].score;
        st = volt_mc_set_str(&mc->kth_best_model_path, mc->best[w].path);
    }
    if (!st) {
        int b = extreme(mc, false);
        mc->best_model_score = mc->best[b].score;
        st = volt_mc_set_str(&mc->best_model_path, mc->best[b].path);
    }
    if (!st && volt_trainer_is_global_zero(t)) print_saved(mc, c, current, k, path);
    if (!st) st = save_file(mc, t, path);
    if (!st && del && should_remove(mc, t, del, path)) st = remove_file(t, del);
    free(del);
    return st;
}

/* The message of a monitor missing from the metrics (Lightning's). */
static volt_status missing_monitor(volt_model_ckpt *mc, const candidates *c) {
    char list[1024];
    size_t n = 0;
    list[0] = 0;
    for (int64_t i = 0; c->metrics && i < c->metrics->count && n < sizeof list - 64; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s'%s'", n ? ", " : "",
                              c->metrics->names[i]);
    if (!volt_metrics_has(c->metrics, "epoch"))
        n += (size_t)snprintf(list + n, sizeof list - n, "%s'epoch'", n ? ", " : "");
    if (n < sizeof list && !volt_metrics_has(c->metrics, "step"))
        snprintf(list + n, sizeof list - n, "%s'step'", n ? ", " : "");
    const char *fmt = "ModelCheckpoint(monitor='%s') could not find the monitored key in the "
                      "returned metrics: [%s]. HINT: did you call volt_log(step, \"%s\", ...) in "
                      "the module?";
    if (mc->val_has_run)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, fmt, mc->monitor, list, mc->monitor);
    if (!mc->warned_missing) {
        fprintf(stderr, "volt: warning: ");
        fprintf(stderr, fmt, mc->monitor, list, mc->monitor);
        fprintf(stderr, "\n");
        mc->warned_missing = true;
    }
    return VOLT_OK;
}

/* Lightning's _save_none_monitor_checkpoint: the latest file, the previous
 * one removed when save_top_k is 1. */
static volt_status save_none_monitor(volt_model_ckpt *mc, volt_trainer *t, const candidates *c) {
    char path[PATH_MAX];
    volt_status st =
        versioned_path(mc, c, mc->filename, mc->auto_insert, mc->best_model_path, path);
    char *previous = mc->best_model_path;
    mc->best_model_path = NULL;
    if (!st) st = volt_mc_set_str(&mc->best_model_path, path);
    if (st) { /* keep the previous path */
        free(mc->best_model_path);
        mc->best_model_path = previous;
        return st;
    }
    st = save_file(mc, t, path);
    if (!st && mc->save_top_k == 1 && *previous && should_remove(mc, t, previous, path))
        st = remove_file(t, previous);
    free(previous);
    return st;
}

volt_status volt_mc_save_topk(volt_model_ckpt *mc, volt_trainer *t) {
    if (mc->save_top_k == 0) return VOLT_OK;
    candidates c = monitor_candidates(t);
    if (!mc->monitor) return save_none_monitor(mc, t, &c);
    if (!volt_metrics_has(c.metrics, mc->monitor)) {
        volt_status st = missing_monitor(mc, &c);
        if (st) return st;
    } else {
        double current = volt_metrics_get(c.metrics, mc->monitor);
        bool top = in_top_k(mc, current);
        volt_status st = volt_trainer_reduce_bool(t, &top, true); /* ddp: every rank agrees */
        if (st) return st;
        if (top) return update_best_and_save(mc, t, &c, current);
    }
    if (mc->verbose && volt_trainer_is_global_zero(t))
        fprintf(stderr, "Epoch %lld, global step %lld: '%s' was not in top %lld\n",
                (long long)c.epoch, (long long)c.step, mc->monitor, (long long)mc->save_top_k);
    return VOLT_OK;
}

/* ------------------------------------------------------------------- last */

volt_status volt_mc_save_last(volt_model_ckpt *mc, volt_trainer *t) {
    if (mc->save_last == VOLT_SAVE_LAST_NO) return VOLT_OK;
    candidates c = monitor_candidates(t);
    char path[PATH_MAX];
    volt_status st = versioned_path(mc, &c, NAME_LAST, mc->auto_insert, mc->last_model_path, path);
    if (st) return st;
    char *previous = mc->last_model_path;
    mc->last_model_path = NULL;
    if ((st = volt_mc_set_str(&mc->last_model_path, path))) {
        mc->last_model_path = previous;
        return st;
    }
    if (mc->save_last == VOLT_SAVE_LAST_LINK && *mc->last_saved && mc->save_top_k != 0)
        st = link_file(t, mc->last_saved, path);
    else
        st = save_file(mc, t, path);
    if (!st && *previous && should_remove(mc, t, previous, path)) st = remove_file(t, previous);
    free(previous);
    return st;
}
