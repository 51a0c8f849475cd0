/* fabric_save.c: volt_fabric_save — a module, its optimizers and schedulers,
 * two counters and user values as one checkpoint file in the trainer's
 * format (the parts shared with the trainer's save: checkpoint_state.c;
 * checkpoint.c writes it: checksum, atomic write), written by rank 0 with
 * every rank learning the outcome. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io/io_impl.h"
#include "train/fabric_impl.h"

#define OP "fabric: save"

/* What every rank checks before rank 0 writes. */
static volt_status check_state(const char *path, const volt_fabric_state *s) {
    volt_status st = volt_fabric_check_state(OP, path, s);
    if (st) return st;
    if (s->extra_json) {
        cJSON *v = cJSON_Parse(s->extra_json);
        bool object = cJSON_IsObject(v);
        cJSON_Delete(v);
        if (!object)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  OP ": %s: extra_json is not a JSON object: %.60s", path,
                                  s->extra_json);
    }
    return VOLT_OK;
}

static volt_status fill(volt_checkpoint *ck, volt_fabric *f, const volt_fabric_state *s) {
    volt_status st = volt_checkpoint_put_meta(ck, "format", "volt-checkpoint-1");
    if (!st) st = volt_checkpoint_put_meta(ck, "volt_version", volt_version());
    if (!st) st = volt_checkpoint_put_int(ck, "epoch", s->epoch);
    if (!st) st = volt_checkpoint_put_int(ck, "global_step", s->step);
    if (!st) st = volt_checkpoint_put_int(ck, "world_size", f->world);
    if (!st) st = volt_checkpoint_put_meta(ck, "weights_only", s->n_optimizers ? "false" : "true");
    if (!st) {
        char precision[64];
        snprintf(precision, sizeof precision, "{\"precision\": \"%s\"}", f->precision);
        st = volt_checkpoint_put_meta(ck, "precision", precision);
    }
    if (!st && f->scaler.enabled) /* 16-mixed: the loss scale, as the trainer saves it */
        st = volt_checkpoint_put_json(ck, "grad_scaler", volt_grad_scaler_to_json(&f->scaler), OP);
    if (!st) st = volt_checkpoint_put_meta(ck, "fabric", s->extra_json ? s->extra_json : "{}");
    if (!st) st = volt_checkpoint_put_hparams(ck, s->module, OP);
    if (!st) st = volt_checkpoint_put_module(ck, s->module);
    if (!st && s->n_optimizers)
        st = volt_checkpoint_put_optimizers(ck, s->module, s->n_optimizers, s->optimizers,
                                            s->schedulers, f->zero1, OP);
    return st;
}

/* Every rank builds the checkpoint (zero1 gathers its optimizer's state
 * there, a collective step); rank 0 writes it. */
static volt_status write_file(volt_fabric *f, const char *path, const volt_fabric_state *s) {
    volt_checkpoint *ck = volt_checkpoint_for_write();
    if (!ck) return volt_error_status();
    volt_scope_begin();
    volt_status st = fill(ck, f, s);
    if (!st && f->rank == 0 && !(st = volt_make_parent_dirs(path, OP)) &&
        (st = volt_checkpoint_write(ck, path)))
        volt_error_prefix(st, OP);
    volt_checkpoint_close(ck);
    volt_scope_end();
    return st;
}

volt_status volt_fabric_save(volt_fabric *f, const char *path, const volt_fabric_state *state) {
    volt_status st = volt_fabric_need_launch(f, "save");
    if (st) return st;
    st = volt_fabric_share_outcome(f, check_state(path, state), "save", VOLT_ERR_INVALID_ARGUMENT);
    if (st) return st;
    return volt_fabric_share_outcome(f, write_file(f, path, state), "save", VOLT_ERR_IO);
}
