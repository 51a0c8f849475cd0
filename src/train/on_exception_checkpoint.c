/* on_exception_checkpoint.c: Lightning's OnExceptionCheckpoint — when fit
 * fails (a hook or step error, an interrupt), saves a full (not
 * weights-only) checkpoint of where the run got to at
 * <dirpath>/<filename>.ckpt, the directory made if needed (Lightning's
 * trainer.save_checkpoint(ckpt_path)). Other stages save nothing. The
 * trainer runs on_exception with the failure's error set aside, so the save
 * runs as usual; a failed save cannot change the failure fit reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_impl.h"
#include "volt/train.h"

#define WHO "OnExceptionCheckpoint"

typedef struct {
    volt_callback base;
    char *dirpath;
    char *path; /* <dirpath>/<filename>.ckpt */
} oec_cb;

static volt_status on_exception(volt_callback *cb, volt_module *m, volt_step *step) {
    (void)m;
    oec_cb *o = (oec_cb *)cb;
    if (volt_step_stage(step) != VOLT_STAGE_FIT) return VOLT_OK;
    volt_status st = volt_make_dirs(o->dirpath, WHO);
    return st ? st : volt_trainer_save_checkpoint(volt_step_trainer(step), o->path, false);
}

static void oec_free(volt_callback *cb) {
    oec_cb *o = (oec_cb *)cb;
    free(o->dirpath);
    free(o->path);
    free(o);
}

static const volt_callback_ops oec_ops = {
    .name = WHO,
    .on_exception = on_exception,
    .free = oec_free,
};

volt_callback *volt_on_exception_checkpoint_new(const char *dirpath, const char *filename) {
    if (!dirpath || !*dirpath) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, WHO ": dirpath is required (got %s)",
                       dirpath ? "\"\"" : "NULL");
        return NULL;
    }
    if (!filename) filename = "on_exception";
    if (!*filename) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, WHO ": filename is empty (NULL gives "
                                                      "\"on_exception\")");
        return NULL;
    }
    oec_cb *o = calloc(1, sizeof *o);
    size_t n = strlen(dirpath) + strlen(filename) + sizeof "/.ckpt";
    if (o) {
        o->dirpath = strdup(dirpath);
        o->path = malloc(n);
    }
    if (!o || !o->dirpath || !o->path) {
        if (o) oec_free(&o->base);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, WHO ": out of memory");
        return NULL;
    }
    snprintf(o->path, n, "%s/%s.ckpt", dirpath, filename);
    o->base.ops = &oec_ops;
    return &o->base;
}
