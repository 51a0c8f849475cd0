/* checkpoint.c: the checkpoint object — on the write side the tensors and
 * metadata being gathered (written with a CRC-32 of the data section), on
 * the read side an open safetensors file checked for the format version and
 * the checksum — with the extra-entry API of the on_save_checkpoint /
 * on_load_checkpoint hooks and Lightning's load_from_checkpoint for weights. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "train/train_impl.h"

#define FORMAT "volt-checkpoint-1"

struct volt_checkpoint {
    /* write side */
    bool writing;
    int n, cap;
    char **names;
    volt_tensor **tensors;
    bool *owned; /* copies made by volt_checkpoint_add_tensor */
    cJSON *meta;
    /* read side */
    volt_safetensors *file;
    char *path;
    int64_t epoch, global_step;
    bool weights_only;
};

/* The metadata keys of the format (hooks may not set them). */
static const char *const reserved[] = {
    "format",     "volt_version",  "epoch",     "global_step", "weights_only", "loops",
    "optimizers", "lr_schedulers", "callbacks", "rng",         "train_loader", "datamodule",
    "hparams",    "precision",     "checksum",  "world_size",  "fabric",
};

static bool is_reserved(const char *key) {
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(key, reserved[i]) == 0) return true;
    return false;
}

volt_checkpoint *volt_checkpoint_for_write(void) {
    volt_checkpoint *ck = calloc(1, sizeof *ck);
    if (ck) ck->meta = cJSON_CreateObject();
    if (!ck || !ck->meta) {
        free(ck);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "save_checkpoint: out of memory");
        return NULL;
    }
    ck->writing = true;
    return ck;
}

void volt_checkpoint_close(volt_checkpoint *ck) {
    if (!ck) return;
    for (int i = 0; i < ck->n; i++) {
        free(ck->names[i]);
        if (ck->owned[i]) volt_tensor_free(ck->tensors[i]);
    }
    free(ck->names);
    free(ck->tensors);
    free(ck->owned);
    cJSON_Delete(ck->meta);
    volt_safetensors_close(ck->file);
    free(ck->path);
    free(ck);
}

static volt_status put(volt_checkpoint *ck, const char *name, volt_tensor *t, bool owned) {
    for (int i = 0; i < ck->n; i++)
        if (strcmp(ck->names[i], name) == 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "save_checkpoint: tensor name '%s' used twice", name);
    if (ck->n == ck->cap) {
        int cap = ck->cap ? 2 * ck->cap : 64;
        char **names = realloc(ck->names, (size_t)cap * sizeof *names);
        if (names) ck->names = names;
        volt_tensor **ts = names ? realloc(ck->tensors, (size_t)cap * sizeof *ts) : NULL;
        if (ts) ck->tensors = ts;
        bool *ow = ts ? realloc(ck->owned, (size_t)cap * sizeof *ow) : NULL;
        if (!ow) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "save_checkpoint: out of memory");
        ck->owned = ow;
        ck->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "save_checkpoint: out of memory");
    ck->names[ck->n] = copy;
    ck->tensors[ck->n] = t;
    ck->owned[ck->n] = owned;
    ck->n++;
    return VOLT_OK;
}

/* A tensor on a GPU is written from a CPU copy the checkpoint owns, so
 * checkpoints written from any device load on any other. */
volt_status volt_checkpoint_put(volt_checkpoint *ck, const char *name, volt_tensor *t) {
    if (t->device.type == VOLT_CPU) return put(ck, name, t, false);
    volt_tensor *host;
    VOLT_NO_GRAD { host = volt_to_device(t, VOLT_DEVICE_CPU); }
    if (!host) return volt_error_prefix(volt_error_status(), "save_checkpoint: '%s'", name);
    volt_persist(host);
    volt_status st = put(ck, name, host, true);
    if (st) volt_tensor_free(host);
    return st;
}

volt_status volt_checkpoint_put_meta(volt_checkpoint *ck, const char *key, const char *value) {
    cJSON_DeleteItemFromObjectCaseSensitive(ck->meta, key);
    if (!cJSON_AddStringToObject(ck->meta, key, value))
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "save_checkpoint: out of memory");
    return VOLT_OK;
}

/* ------------------------------------------------------ hooks' entries */

static volt_status need_writing(const volt_checkpoint *ck, const char *op) {
    if (!ck) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: NULL checkpoint", op);
    if (!ck->writing)
        return volt_error_set(VOLT_ERR_STATE,
                              "%s: the checkpoint %s is being read (only on_save_checkpoint "
                              "adds entries)",
                              op, ck->path ? ck->path : "");
    return VOLT_OK;
}

volt_status volt_checkpoint_set_meta(volt_checkpoint *ck, const char *key, const char *value) {
    volt_status st = need_writing(ck, "checkpoint_set_meta");
    if (st) return st;
    if (!key || !*key || !value)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "checkpoint_set_meta: NULL or empty key "
                                                         "or NULL value");
    if (is_reserved(key))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "checkpoint_set_meta: '%s' is a key of the checkpoint format; "
                              "choose another name",
                              key);
    return volt_checkpoint_put_meta(ck, key, value);
}

volt_status volt_checkpoint_add_tensor(volt_checkpoint *ck, const char *name,
                                       const volt_tensor *tensor) {
    volt_status st = need_writing(ck, "checkpoint_add_tensor");
    if (st) return st;
    if (!name || !*name || !tensor)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "checkpoint_add_tensor: NULL or empty name, or NULL tensor");
    if (strncmp(name, "state_dict.", 11) == 0 || strncmp(name, "optimizer.", 10) == 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "checkpoint_add_tensor: '%s': the prefixes state_dict. and "
                              "optimizer. belong to the module and the optimizers",
                              name);
    volt_tensor *copy;
    VOLT_NO_GRAD {
        copy = tensor->device.type == VOLT_CPU ? volt_clone(tensor)
                                               : volt_to_device(tensor, VOLT_DEVICE_CPU);
    }
    if (!copy) return volt_error_status();
    volt_persist(copy);
    st = put(ck, name, copy, true);
    if (st) volt_tensor_free(copy);
    return st;
}

const char *volt_checkpoint_meta(const volt_checkpoint *ck, const char *key) {
    if (!ck || !key) return NULL;
    if (ck->file) return volt_safetensors_metadata(ck->file, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ck->meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

volt_tensor *volt_checkpoint_tensor(volt_checkpoint *ck, const char *name) {
    if (!ck || !name) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "checkpoint_tensor: NULL argument");
        return NULL;
    }
    if (!ck->file) {
        volt_error_set(VOLT_ERR_STATE,
                       "checkpoint_tensor: '%s': the checkpoint is being "
                       "written (read tensors in on_load_checkpoint)",
                       name);
        return NULL;
    }
    if (volt_safetensors_info(ck->file, name, NULL, NULL, NULL)) {
        volt_error_clear();
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "checkpoint %s: no tensor '%s'", ck->path, name);
        return NULL;
    }
    return volt_safetensors_get(ck->file, name);
}

volt_checkpoint *volt_step_checkpoint(const volt_step *step) {
    return step ? step->checkpoint : NULL;
}

volt_status volt_checkpoint_hooks(volt_trainer *t, volt_checkpoint *ck, volt_hook_id id,
                                  bool callbacks) {
    volt_step s = volt_step_make(t, NULL);
    s.checkpoint = ck;
    int n = t->n_callbacks;
    if (!callbacks) t->n_callbacks = 0; /* the module's hook alone */
    volt_status st = volt_hook_run(t, &s, id);
    t->n_callbacks = n;
    return st;
}

/* --------------------------------------------------------------- write */

/* CRC-32 of the tensors' row-major bytes, in order: the data section. */
static volt_status checksum(volt_checkpoint *ck, uint32_t *out) {
    uLong crc = crc32(0L, Z_NULL, 0);
    volt_scope_begin();
    for (int i = 0; i < ck->n; i++) {
        const volt_tensor *t = ck->tensors[i];
        if (!volt_tensor_is_contiguous(t)) t = volt_contiguous(t);
        if (!t) break;
        size_t nbytes = (size_t)volt_tensor_numel(t) * volt_dtype_size(t->dtype);
        const unsigned char *p = volt_tensor_data(t);
        while (nbytes > 0) { /* zlib takes 32-bit lengths */
            uInt chunk = nbytes > (1u << 30) ? (1u << 30) : (uInt)nbytes;
            crc = crc32(crc, p, chunk);
            p += chunk;
            nbytes -= chunk;
        }
    }
    volt_scope_end();
    *out = (uint32_t)crc;
    return volt_error_status();
}

volt_status volt_checkpoint_write(volt_checkpoint *ck, const char *path) {
    for (int i = 0; i < ck->n; i++)
        if (ck->tensors[i]->device.type != VOLT_CPU)
            return volt_error_set(VOLT_ERR_UNSUPPORTED,
                                  "save_checkpoint: %s: tensor '%s' is not on the CPU", path,
                                  ck->names[i]);
    uint32_t crc = 0;
    volt_status st = checksum(ck, &crc);
    if (st) return st;
    char text[24];
    snprintf(text, sizeof text, "crc32:%08" PRIx32, crc);
    if ((st = volt_checkpoint_put_meta(ck, "checksum", text))) return st;
    char *meta = cJSON_PrintUnformatted(ck->meta);
    if (!meta) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "save_checkpoint: out of memory");
    st = volt_safetensors_save(path, ck->n, (const char *const *)ck->names, ck->tensors, meta);
    cJSON_free(meta);
    return st;
}

/* ---------------------------------------------------------------- read */

static volt_checkpoint *open_failed(volt_checkpoint *ck) {
    volt_checkpoint_close(ck);
    return NULL;
}

static bool parse_int(const char *text, int64_t *out) {
    if (!text || !*text) return false;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (*end) return false;
    *out = v;
    return true;
}

volt_checkpoint *volt_checkpoint_open(const char *path) {
    if (!path || !*path) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "checkpoint_open: NULL or empty path");
        return NULL;
    }
    volt_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->path = strdup(path))) {
        free(ck);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "checkpoint_open: out of memory");
        return NULL;
    }
    if (!(ck->file = volt_safetensors_open(path))) return open_failed(ck);
    const char *format = volt_safetensors_metadata(ck->file, "format");
    if (!format) {
        volt_error_set(VOLT_ERR_FORMAT,
                       "checkpoint %s: not a volt checkpoint (a safetensors file without the "
                       "'format' metadata key)",
                       path);
        return open_failed(ck);
    }
    if (strcmp(format, FORMAT) != 0) {
        volt_error_set(VOLT_ERR_FORMAT,
                       "checkpoint %s: format '%s' is not one this volt reads (" FORMAT ")", path,
                       format);
        return open_failed(ck);
    }
    const char *sum = volt_safetensors_metadata(ck->file, "checksum");
    unsigned stored = 0;
    int used = 0;
    if (!sum || sscanf(sum, "crc32:%8x%n", &stored, &used) != 1 || sum[used] || used != 14) {
        volt_error_set(VOLT_ERR_FORMAT,
                       "checkpoint %s: checksum '%s' is missing or malformed "
                       "(want crc32:<8 hex digits>)",
                       path, sum ? sum : "");
        return open_failed(ck);
    }
    uint32_t actual = 0;
    if (volt_safetensors_crc32(ck->file, &actual)) return open_failed(ck);
    if (actual != stored) {
        volt_error_set(VOLT_ERR_FORMAT,
                       "checkpoint %s: checksum mismatch (stored crc32:%08x, data crc32:%08" PRIx32
                       "): the file is corrupt",
                       path, stored, actual);
        return open_failed(ck);
    }
    const char *wo = volt_safetensors_metadata(ck->file, "weights_only");
    if (!parse_int(volt_safetensors_metadata(ck->file, "epoch"), &ck->epoch) ||
        !parse_int(volt_safetensors_metadata(ck->file, "global_step"), &ck->global_step) || !wo ||
        (strcmp(wo, "true") != 0 && strcmp(wo, "false") != 0)) {
        volt_error_set(VOLT_ERR_FORMAT,
                       "checkpoint %s: 'epoch', 'global_step' or 'weights_only' metadata is "
                       "missing or malformed",
                       path);
        return open_failed(ck);
    }
    ck->weights_only = strcmp(wo, "true") == 0;
    return ck;
}

volt_status volt_checkpoint_verify(const char *path) {
    volt_checkpoint *ck = volt_checkpoint_open(path);
    if (!ck) return volt_error_status();
    volt_checkpoint_close(ck);
    return VOLT_OK;
}

const char *volt_checkpoint_path(const volt_checkpoint *ck) { return ck ? ck->path : NULL; }
int64_t volt_checkpoint_epoch(const volt_checkpoint *ck) { return ck ? ck->epoch : 0; }
int64_t volt_checkpoint_global_step(const volt_checkpoint *ck) { return ck ? ck->global_step : 0; }
bool volt_checkpoint_weights_only(const volt_checkpoint *ck) { return ck && ck->weights_only; }
volt_safetensors *volt_checkpoint_file(volt_checkpoint *ck) { return ck ? ck->file : NULL; }

volt_status volt_error_prefix(volt_status status, const char *fmt, ...) {
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char *msg = strdup(volt_error_message());
    volt_error_clear();
    const char *m = msg ? msg : "";
    if (strncmp(m, "volt: ", 6) == 0) m += 6;
    volt_error_set(status, "%s: %s", prefix, m);
    free(msg);
    return status;
}

/* ------------------------------------------------------- module weights */

volt_status volt_module_load_checkpoint(volt_module *m, const char *path, bool strict,
                                        volt_load_report *report) {
    if (!m) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "module_load_checkpoint: NULL module");
    volt_checkpoint *ck = volt_checkpoint_open(path);
    if (!ck) return volt_error_status();
    volt_state_dict *sd = volt_checkpoint_state_dict(ck);
    volt_status st = sd ? volt_module_load_state_dict(m, sd, strict, report) : volt_error_status();
    if (st) volt_error_prefix(st, "checkpoint %s", path);
    volt_state_dict_free(sd);
    volt_checkpoint_close(ck);
    return st;
}

volt_state_dict *volt_checkpoint_state_dict(volt_checkpoint *ck) {
    volt_state_dict *sd = calloc(1, sizeof *sd);
    int n = volt_safetensors_count(ck->file);
    if (sd) {
        sd->names = calloc((size_t)n + 1, sizeof *sd->names);
        sd->tensors = calloc((size_t)n + 1, sizeof *sd->tensors);
        sd->owns_tensors = true;
    }
    if (!sd || !sd->names || !sd->tensors) {
        volt_state_dict_free(sd);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "checkpoint %s: out of memory", ck->path);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const char *name = volt_safetensors_name(ck->file, i);
        if (strncmp(name, "state_dict.", 11) != 0) continue;
        volt_tensor *t = volt_safetensors_get(ck->file, name);
        if (!t || !(sd->names[sd->count] = strdup(name + 11))) {
            if (t) volt_tensor_free(t);
            volt_state_dict_free(sd);
            if (!volt_error_status())
                volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "checkpoint %s: out of memory", ck->path);
            return NULL;
        }
        sd->tensors[sd->count++] = volt_persist(t);
    }
    return sd;
}
