/* model_checkpoint_impl.h: internals of the ModelCheckpoint callback shared
 * by its files (model_checkpoint.c: options and hooks; model_checkpoint_save.c:
 * top-k, last and file handling; model_checkpoint_state.c: state and the
 * best_k_models table; checkpoint_filename.c: file-name templates) and by
 * its tests. */
#ifndef VOLT_MODEL_CHECKPOINT_IMPL_H
#define VOLT_MODEL_CHECKPOINT_IMPL_H

#include <limits.h>

#include "volt/train.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Lightning's ModelCheckpoint.format_checkpoint_name without the directory
 * and the extension: the template `tmpl` (NULL or "": "{epoch}-{step}")
 * with every "{name}" or "{name:spec}" field replaced by its value —
 * "epoch" and "step" are the integers given, other names come from
 * `metrics` (real numbers) and a name absent from it is the integer 0, as
 * in Lightning. With auto_insert_metric_name each field is preceded by
 * "name=" ("{epoch}-{val_loss:.2f}" -> "epoch=2-val_loss=0.12"). A spec is
 * Python's [sign][0][width][.precision][type] with type d (integers only),
 * f, F, e, E, g or G; no spec: integers as %lld, reals as Python's repr
 * ("0.5", "1e-05"); a precision with no type: %g with ".0" added to whole
 * numbers (Python's). A "}" outside a field is kept as it is. Writes the
 * name (NUL-terminated) into out[cap]. Errors (VOLT_ERR_INVALID_ARGUMENT,
 * naming the template and the field): an unterminated or empty field, an
 * unsupported spec, "d" for a real number, a name that does not fit in
 * cap bytes. */
volt_status volt_checkpoint_format_name(const char *tmpl, const volt_metrics *metrics,
                                        int64_t epoch, int64_t step, bool auto_insert_metric_name,
                                        char *out, size_t cap);

/* Python's repr of a float: the shortest text that reads back as v, fixed
 * between 1e-4 and 1e16 ("0.2811", "3.0"), else scientific ("1e-05",
 * "1.5e+16"); "nan", "inf", "-inf". buf of at least 32 bytes. */
void volt_checkpoint_float_repr(double v, char *buf, size_t cap);

/* ------------------------------------------------------------ the callback */

/* One entry of best_k_models (path -> score), in insertion order as
 * Python's dict keeps it. */
typedef struct {
    char *path;
    double score;
} volt_mc_entry;

typedef struct {
    volt_callback base;

    /* options (strings owned) */
    char *dirpath; /* the option made absolute; after setup(fit) the directory in use */
    bool dirpath_given;
    char *filename; /* NULL: "{epoch}-{step}" */
    char *monitor;  /* NULL: none */
    bool verbose, weights_only, mode_max, auto_insert, version_counter;
    volt_save_last save_last;
    int64_t save_top_k, every_n_train_steps, every_n_epochs;
    double train_time_interval;  /* seconds; 0: off */
    int save_on_train_epoch_end; /* -1: auto */

    /* Lightning's attributes ("" / NAN: none) */
    volt_mc_entry *best;
    int n_best, cap_best;
    char *kth_best_model_path;
    double kth_value;
    char *best_model_path;
    double best_model_score;
    double current_score;
    char *last_model_path;
    char *last_saved;        /* _last_checkpoint_saved */
    int64_t last_step_saved; /* _last_global_step_saved */

    /* per fit */
    double last_time_checked; /* volt_time_now() at on_train_start and each timed save */
    bool val_has_run;         /* a validation (not the sanity check) ran in this fit */
    bool val_seen;            /* a validation run with batches (sanity included): val batches > 0 */
    bool warned_missing;      /* the missing-monitor warning was printed */
    char *pending_state;      /* state loaded before the dirpath was known (applied at setup) */
} volt_model_ckpt;

/* model_checkpoint.c: the callback behind cb, NULL (no error) if cb is not one. */
volt_model_ckpt *volt_mc_from(volt_callback *cb);
/* Replaces *dst with a copy of src (NULL: NULL); VOLT_ERR_OUT_OF_MEMORY. */
volt_status volt_mc_set_str(char **dst, const char *src);

/* model_checkpoint_save.c: Lightning's _save_topk_checkpoint and
 * _save_last_checkpoint with the trainer's current metrics. */
volt_status volt_mc_save_topk(volt_model_ckpt *mc, volt_trainer *t);
volt_status volt_mc_save_last(volt_model_ckpt *mc, volt_trainer *t);
/* Makes `path` absolute (against the working directory) and removes "."
 * and ".." parts and repeated or trailing slashes, into out[PATH_MAX];
 * false if it does not fit. */
bool volt_mc_abs_path(const char *path, char *out);

/* model_checkpoint_state.c */
/* best_k_models: the index of `path` (-1: absent); set (replaces the score
 * in place or appends); pop (keeps the order of the others). */
int volt_mc_best_find(const volt_model_ckpt *mc, const char *path);
volt_status volt_mc_best_set(volt_model_ckpt *mc, const char *path, double score);
void volt_mc_best_pop(volt_model_ckpt *mc, const char *path);
void volt_mc_best_clear(volt_model_ckpt *mc);
/* The index of the i-th best entry (best first; ties: the earlier entry). */
int volt_mc_best_rank(const volt_model_ckpt *mc, int i);
char *volt_mc_state_dict(volt_callback *cb);
volt_status volt_mc_load_state_dict(volt_callback *cb, const char *json);
char *volt_mc_state_key(volt_callback *cb);
/* Applies a state (JSON) now that the dirpath is known (Lightning's rule:
 * everything when the dirpath is the saved one, else best_model_path only,
 * with a warning on stderr). */
volt_status volt_mc_apply_state(volt_model_ckpt *mc, const char *json);

#endif
