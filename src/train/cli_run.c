/* cli_run.c: running a resolved configuration (cli_run) — checks ckpt_path,
 * seeds, builds the model, datamodule, trainer and callbacks (any refusal
 * here is a configuration error: exit 2, nothing has run), installs the
 * optimizer section and a callback that saves the configuration as
 * <log_dir>/config.yaml at fit start, runs the subcommand and prints its
 * results: metrics, predictions, and after fit where the logs and
 * checkpoints are (then the test of the best checkpoint when
 * test_after_fit). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/io_impl.h"
#include "train/cli_impl.h"

/* ------------------------------------------------------------ config.yaml */

typedef struct {
    volt_callback base;
    const char *yaml;
    FILE *out;
} save_config;

static volt_status save_config_on_fit_start(volt_callback *self, volt_module *module,
                                            volt_step *step) {
    (void)module;
    save_config *sc = (save_config *)self;
    const char *dir = volt_trainer_log_dir(volt_step_trainer(step));
    if (!dir || !sc->yaml) return VOLT_OK; /* no logger: nowhere to save it */
    size_t n = strlen(dir) + sizeof "/config.yaml";
    char *path = malloc(n);
    if (!path) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "config.yaml: out of memory");
    snprintf(path, n, "%s/config.yaml", dir);
    volt_status st = volt_make_dirs(dir, "config.yaml");
    volt_atomic_file *f = st ? NULL : volt_atomic_file_open(path, "config.yaml");
    if (!st && !f) st = volt_error_status();
    if (f && (st = volt_atomic_file_write(f, sc->yaml, strlen(sc->yaml))) != VOLT_OK)
        volt_atomic_file_abort(f);
    else if (f)
        st = volt_atomic_file_commit(f);
    free(path);
    return st;
}

static const volt_callback_ops save_config_ops = {
    .name = "SaveConfig",
    .on_fit_start = save_config_on_fit_start,
};

/* ------------------------------------------------------------ building */

typedef struct {
    volt_module *model;
    volt_datamodule *data;
    volt_trainer *trainer;
    save_config saver;
} cli_built;

static void built_free(cli_built *b) {
    volt_trainer_free(b->trainer);
    volt_datamodule_free(b->data);
    volt_module_free(b->model);
    *b = (cli_built){0};
}

static bool is_keyword(const char *ckpt) {
    return strcmp(ckpt, "last") == 0 || strcmp(ckpt, "best") == 0;
}

/* Everything the run needs; VOLT_OK or an error (nothing has run). */
static volt_status build(cli_command cmd, const cli_resolved *r, const char *yaml, FILE *out,
                         cli_built *b) {
    const char *ckpt = r->top.ckpt_path;
    if (ckpt && !is_keyword(ckpt) && access(ckpt, R_OK) != 0)
        return volt_error_set(
            VOLT_ERR_IO, "ckpt_path '%s': no such file (a checkpoint file, last or best)", ckpt);
    if (r->top.seed_everything != VOLT_NONE) volt_seed_everything((uint64_t)r->top.seed_everything);
    if (!(b->model = r->model.cls->new_module(r->model.opts))) return volt_error_at("model");
    if (!(b->data = r->data.cls->new_datamodule(r->data.opts))) return volt_error_at("data");
    if (!(b->trainer = volt_trainer_new(&r->trainer))) return volt_error_status();
    for (int i = 0; i < r->n_cbs; i++) {
        const cli_builtin *cls = (const cli_builtin *)(const void *)r->cbs[i].cls;
        volt_callback *cb = cls->new_callback(r->cbs[i].opts);
        if (!cb) return volt_error_at("trainer.callbacks");
        volt_status st = volt_trainer_add_callback(b->trainer, cb);
        if (st) {
            cb->ops->free(cb);
            return st;
        }
    }
    if (r->optimizer.cls)
        volt_trainer_set_configure_optimizers(b->trainer, cli_configure_optimizers, (void *)r);
    if (cmd == CLI_FIT) {
        b->saver = (save_config){{&save_config_ops, NULL}, yaml, out};
        return volt_trainer_add_callback(b->trainer, &b->saver.base);
    }
    return VOLT_OK;
}

/* ------------------------------------------------------------ results */

static void print_metrics(FILE *out, const char *what, const volt_metrics *m) {
    fprintf(out, "%s:\n", what);
    int width = 0;
    for (int64_t i = 0; m && i < m->count; i++)
        if ((int)strlen(m->names[i]) > width) width = (int)strlen(m->names[i]);
    for (int64_t i = 0; m && i < m->count; i++)
        fprintf(out, "  %-*s  %.4f\n", width, m->names[i], m->values[i]);
    if (!m || m->count == 0) fprintf(out, "  (no metrics were logged)\n");
}

/* Where the run wrote: the log directory and the checkpoints. */
static void print_places(FILE *out, volt_trainer *t) {
    const char *logs = volt_trainer_log_dir(t);
    if (logs) fprintf(out, "logs: %s (CSV, TensorBoard: tensorboard --logdir %s)\n", logs, logs);
    volt_callback *mc = volt_trainer_find_callback(t, "ModelCheckpoint", 0);
    if (!mc) return;
    fprintf(out, "checkpoints: %s\n", volt_model_checkpoint_dirpath(mc));
    const char *best = volt_model_checkpoint_best_model_path(mc);
    double score = volt_model_checkpoint_best_model_score(mc);
    if (best && *best) {
        if (isnan(score))
            fprintf(out, "best checkpoint: %s\n", best);
        else
            fprintf(out, "best checkpoint: %s (score %.4f)\n", best, score);
    }
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Under ddp rank 0 alone reports (the other ranks' stream is /dev/null,
 * opened once and kept); errors are printed by every rank that has one. */
static FILE *rank_zero(volt_trainer *t, FILE *out) {
    static FILE *devnull;
    if (volt_trainer_is_global_zero(t)) return out;
    if (!devnull) devnull = fopen("/dev/null", "w");
    return devnull ? devnull : out;
}

static volt_status run_fit(const cli_resolved *r, cli_built *b, FILE *out) {
    double start = seconds();
    volt_status st = volt_trainer_fit(b->trainer, b->model, b->data, r->top.ckpt_path);
    if (st) return st;
    out = rank_zero(b->trainer, out);
    fprintf(out, "\nfit: %lld epochs, %lld optimizer steps, %.1f s\n",
            (long long)volt_trainer_current_epoch(b->trainer),
            (long long)volt_trainer_global_step(b->trainer), seconds() - start);
    if (r->top.test_after_fit) {
        volt_callback *mc = volt_trainer_find_callback(b->trainer, "ModelCheckpoint", 0);
        const char *best = mc ? volt_model_checkpoint_best_model_path(mc) : NULL;
        const char *ckpt = best && *best ? "best" : NULL;
        volt_metrics *m = NULL;
        st = volt_trainer_test(b->trainer, b->model, b->data, ckpt, &m);
        if (!st) {
            char what[4200];
            snprintf(what, sizeof what, "test (%s)",
                     ckpt ? volt_trainer_ckpt_path(b->trainer) : "the weights at the end of fit");
            print_metrics(out, what, m);
        }
        volt_metrics_free(m);
        if (st) return st;
    }
    print_places(out, b->trainer);
    return VOLT_OK;
}

static volt_status save_predictions(const char *path, const volt_predictions *p) {
    if (p->count == 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "predictions_path: no predictions to save");
    volt_scope_begin();
    volt_tensor *all = volt_cat((int)p->count, p->items, 0);
    const char *name = "predictions";
    volt_status st = all ? volt_safetensors_save(path, 1, &name, &all, NULL) : volt_error_status();
    volt_scope_end();
    return st;
}

static volt_status run_eval(cli_command cmd, const cli_resolved *r, cli_built *b, FILE *out) {
    const char *ckpt = r->top.ckpt_path;
    volt_metrics *m = NULL;
    volt_status st;
    if (cmd == CLI_PREDICT) {
        volt_predictions *p = NULL;
        st = volt_trainer_predict(b->trainer, b->model, b->data, ckpt, &p);
        out = rank_zero(b->trainer, out);
        int64_t items = 0;
        for (int64_t i = 0; !st && p && i < p->count; i++)
            items += p->items[i] && p->items[i]->ndim > 0 ? p->items[i]->shape[0] : 0;
        if (!st)
            fprintf(out, "predict: %lld batches, %lld items\n", (long long)(p ? p->count : 0),
                    (long long)items);
        /* under ddp each rank predicted its shard: rank 0 saves its own */
        if (!st && p && r->top.predictions_path && volt_trainer_is_global_zero(b->trainer)) {
            st = save_predictions(r->top.predictions_path, p);
            if (!st) fprintf(out, "predictions: %s\n", r->top.predictions_path);
        }
        volt_predictions_free(p);
        return st;
    }
    st = cmd == CLI_VALIDATE ? volt_trainer_validate(b->trainer, b->model, b->data, ckpt, &m)
                             : volt_trainer_test(b->trainer, b->model, b->data, ckpt, &m);
    if (!st)
        print_metrics(rank_zero(b->trainer, out), cmd == CLI_VALIDATE ? "validate" : "test", m);
    volt_metrics_free(m);
    return st;
}

int cli_run(cli_command cmd, const cli_resolved *r, const char *config_yaml, FILE *out, FILE *err) {
    cli_built b = {0};
    if (build(cmd, r, config_yaml, out, &b) != VOLT_OK) {
        cli_print_error(err, "volt");
        built_free(&b);
        return 2;
    }
    int code;
    if (cmd == CLI_TUNE) {
        code = cli_tune_run(r, b.trainer, b.model, b.data, out, err);
    } else {
        volt_status st = cmd == CLI_FIT ? run_fit(r, &b, out) : run_eval(cmd, r, &b, out);
        code = volt_exit_code(b.trainer, st);
        if (st) cli_print_error(err, "volt");
    }
    fflush(out);
    built_free(&b);
    return code;
}
