/* state_dict_file.c: module state dicts to and from safetensors files. */
#include <stdlib.h>
#include <string.h>

#include "io/io_impl.h"
#include "volt/io.h"

volt_status volt_state_dict_save(const char *path, const volt_state_dict *sd,
                                 const char *metadata_json) {
    if (!sd)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "state_dict_save: state dict is NULL");
    if (sd->count > INT32_MAX)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "state_dict_save: too many tensors");
    return volt_safetensors_save(path, (int)sd->count, (const char *const *)sd->names, sd->tensors,
                                 metadata_json);
}

volt_state_dict *volt_state_dict_load(const char *path) {
    volt_safetensors *f = volt_safetensors_open(path);
    if (!f) return NULL;
    int n = volt_safetensors_count(f);
    volt_state_dict *sd = calloc(1, sizeof *sd);
    if (sd) {
        sd->owns_tensors = true;
        sd->names = calloc((size_t)n + 1, sizeof *sd->names);
        sd->tensors = calloc((size_t)n + 1, sizeof *sd->tensors);
    }
    if (!sd || !sd->names || !sd->tensors) {
        volt_state_dict_free(sd);
        volt_safetensors_close(f);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "state_dict_load: %s: out of memory", path);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const char *name = volt_safetensors_name(f, i);
        volt_tensor *t = volt_persist(volt_safetensors_get(f, name));
        char *copy = t ? strdup(name) : NULL;
        if (!t || !copy) {
            volt_tensor_free(t);
            volt_state_dict_free(sd);
            volt_safetensors_close(f);
            if (t) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "state_dict_load: out of memory");
            return NULL;
        }
        sd->names[i] = copy;
        sd->tensors[i] = t;
        sd->count = i + 1;
    }
    volt_safetensors_close(f);
    return sd;
}

volt_status volt_module_save(volt_module *m, const char *path) {
    volt_state_dict *sd = volt_module_state_dict(m);
    if (!sd) return volt_error_status();
    volt_status st = volt_state_dict_save(path, sd, NULL);
    volt_state_dict_free(sd);
    return st;
}

volt_status volt_module_load(volt_module *m, const char *path, bool strict,
                             volt_load_report *report) {
    volt_state_dict *sd = volt_state_dict_load(path);
    if (!sd) return volt_error_status();
    volt_status st = volt_module_load_state_dict(m, sd, strict, report);
    volt_state_dict_free(sd);
    return st;
}
