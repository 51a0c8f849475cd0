/* model_checkpoint_state.c: ModelCheckpoint's best_k_models table (path ->
 * score in insertion order, like Python's dict), its state for checkpoints
 * (Lightning's state_dict keys as a JSON object; scores written to read
 * back bit for bit, non-finite ones as "inf"/"-inf"/"nan"), its restore
 * (Lightning's rule on a changed dirpath) and its state key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h" /* volt_json_*: exact numbers */
#include "train/model_checkpoint_impl.h"

/* ------------------------------------------------------------ best_k table */

int volt_mc_best_find(const volt_model_ckpt *mc, const char *path) {
    for (int i = 0; path && i < mc->n_best; i++)
        if (strcmp(mc->best[i].path, path) == 0) return i;
    return -1;
}

volt_status volt_mc_best_set(volt_model_ckpt *mc, const char *path, double score) {
    int i = volt_mc_best_find(mc, path);
    if (i >= 0) {
        mc->best[i].score = score;
        return VOLT_OK;
    }
    if (mc->n_best == mc->cap_best) {
        int cap = mc->cap_best ? 2 * mc->cap_best : 8;
        volt_mc_entry *grown = realloc(mc->best, (size_t)cap * sizeof *grown);
        if (!grown) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "ModelCheckpoint: out of memory");
        mc->best = grown;
        mc->cap_best = cap;
    }
    char *copy = strdup(path);
    if (!copy) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "ModelCheckpoint: out of memory");
    mc->best[mc->n_best++] = (volt_mc_entry){copy, score};
    return VOLT_OK;
}

void volt_mc_best_pop(volt_model_ckpt *mc, const char *path) {
    int i = volt_mc_best_find(mc, path);
    if (i < 0) return;
    free(mc->best[i].path);
    memmove(mc->best + i, mc->best + i + 1, (size_t)(mc->n_best - i - 1) * sizeof *mc->best);
    mc->n_best--;
}

void volt_mc_best_clear(volt_model_ckpt *mc) {
    for (int i = 0; i < mc->n_best; i++) free(mc->best[i].path);
    mc->n_best = 0;
}

/* a ranks before b: a better score, or an equal one inserted earlier. */
static bool ranks_before(const volt_model_ckpt *mc, int a, int b) {
    double x = mc->best[a].score, y = mc->best[b].score;
    if (x != y && !(isnan(x) && isnan(y))) {
        if (isnan(x) || isnan(y)) return isnan(y);
        return mc->mode_max ? x > y : x < y;
    }
    return a < b;
}

int volt_mc_best_rank(const volt_model_ckpt *mc, int i) {
    /* the entry with exactly i entries ranked before it */
    for (int a = 0; a < mc->n_best; a++) {
        int before = 0;
        for (int b = 0; b < mc->n_best; b++) before += b != a && ranks_before(mc, b, a);
        if (before == i) return a;
    }
    return -1;
}

/* ------------------------------------------------------------- state_dict */

static void add_score(cJSON *obj, const char *key, double v) {
    if (isnan(v))
        cJSON_AddNullToObject(obj, key); /* Python's None */
    else
        volt_json_add_number(obj, key, v);
}

char *volt_mc_state_dict(volt_callback *cb) {
    volt_model_ckpt *mc = volt_mc_from(cb);
    if (!mc) return NULL;
    cJSON *o = cJSON_CreateObject(), *best = cJSON_CreateObject();
    if (!o || !best) goto oom;
    if (mc->monitor)
        cJSON_AddStringToObject(o, "monitor", mc->monitor);
    else
        cJSON_AddNullToObject(o, "monitor");
    add_score(o, "best_model_score", mc->best_model_score);
    cJSON_AddStringToObject(o, "best_model_path", mc->best_model_path);
    add_score(o, "current_score", mc->current_score);
    if (mc->dirpath)
        cJSON_AddStringToObject(o, "dirpath", mc->dirpath);
    else
        cJSON_AddNullToObject(o, "dirpath");
    for (int i = 0; i < mc->n_best; i++)
        volt_json_add_number(best, mc->best[i].path, mc->best[i].score);
    cJSON_AddItemToObject(o, "best_k_models", best);
    best = NULL;
    cJSON_AddStringToObject(o, "kth_best_model_path", mc->kth_best_model_path);
    volt_json_add_number(o, "kth_value", mc->kth_value);
    cJSON_AddStringToObject(o, "last_model_path", mc->last_model_path);
    char *text = volt_json_print(o);
    cJSON_Delete(o);
    if (!text) goto oom;
    return text;
oom:
    cJSON_Delete(o);
    cJSON_Delete(best);
    volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "ModelCheckpoint: state_dict: out of memory");
    return NULL;
}

/* ---------------------------------------------------------- load_state_dict */

static volt_status bad_key(const char *key, const char *want) {
    return volt_error_set(VOLT_ERR_FORMAT, "ModelCheckpoint: load_state_dict: \"%s\" must be %s",
                          key, want);
}

/* A string member into *out (absent: unchanged; null: ""). */
static volt_status read_str(const cJSON *o, const char *key, char **out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) return VOLT_OK;
    if (cJSON_IsNull(it)) return volt_mc_set_str(out, "");
    if (!cJSON_IsString(it)) return bad_key(key, "a string");
    return volt_mc_set_str(out, it->valuestring);
}

/* A score (null: NAN, Python's None). */
static volt_status read_score(const cJSON *o, const char *key, double *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) return VOLT_OK;
    if (cJSON_IsNull(it)) {
        *out = NAN;
        return VOLT_OK;
    }
    return volt_json_get_number(it, out) ? VOLT_OK : bad_key(key, "a number or null");
}

static volt_status read_best_k(volt_model_ckpt *mc, const cJSON *o) {
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(o, "best_k_models");
    if (!best) return VOLT_OK;
    if (!cJSON_IsObject(best)) return bad_key("best_k_models", "an object of path -> score");
    volt_model_ckpt tmp = {.mode_max = mc->mode_max};
    const cJSON *e;
    volt_status st = VOLT_OK;
    cJSON_ArrayForEach(e, best) {
        double v;
        if (!e->string || !volt_json_get_number(e, &v)) {
            st = bad_key("best_k_models", "an object of path -> score");
            break;
        }
        if ((st = volt_mc_best_set(&tmp, e->string, v))) break;
    }
    if (st) {
        volt_mc_best_clear(&tmp);
        free(tmp.best);
        return st;
    }
    volt_mc_best_clear(mc);
    free(mc->best);
    mc->best = tmp.best;
    mc->n_best = tmp.n_best;
    mc->cap_best = tmp.cap_best;
    return VOLT_OK;
}

volt_status volt_mc_apply_state(volt_model_ckpt *mc, const char *json) {
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return volt_error_set(VOLT_ERR_FORMAT,
                              "ModelCheckpoint: load_state_dict: the state is not a JSON object");
    }
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(o, "dirpath");
    const char *saved_dir = cJSON_IsString(dir) ? dir->valuestring : mc->dirpath;
    volt_status st = VOLT_OK;
    if (dir && !cJSON_IsString(dir) && !cJSON_IsNull(dir)) {
        st = bad_key("dirpath", "a string");
    } else if ((!saved_dir && !mc->dirpath) ||
               (saved_dir && mc->dirpath && strcmp(saved_dir, mc->dirpath) == 0)) {
        st = read_score(o, "best_model_score", &mc->best_model_score);
        if (!st) st = read_str(o, "kth_best_model_path", &mc->kth_best_model_path);
        if (!st) st = read_score(o, "kth_value", &mc->kth_value);
        if (!st) st = read_best_k(mc, o);
        if (!st) st = read_str(o, "last_model_path", &mc->last_model_path);
    } else {
        fprintf(stderr,
                "volt: warning: ModelCheckpoint: the dirpath has changed from '%s' to '%s', "
                "therefore best_model_score, kth_best_model_path, kth_value, last_model_path and "
                "best_k_models won't be reloaded. Only best_model_path will be reloaded.\n",
                saved_dir ? saved_dir : "None", mc->dirpath ? mc->dirpath : "None");
    }
    if (!st) st = read_str(o, "best_model_path", &mc->best_model_path);
    cJSON_Delete(o);
    return st;
}

volt_status volt_mc_load_state_dict(volt_callback *cb, const char *json) {
    volt_model_ckpt *mc = volt_mc_from(cb);
    if (!mc || !json)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "ModelCheckpoint: load_state_dict: NULL callback or state");
    if (mc->dirpath_given || mc->dirpath) return volt_mc_apply_state(mc, json);
    /* the default dirpath is known at setup: check the JSON now, apply then */
    cJSON *o = cJSON_Parse(json);
    bool ok = cJSON_IsObject(o);
    cJSON_Delete(o);
    if (!ok)
        return volt_error_set(VOLT_ERR_FORMAT,
                              "ModelCheckpoint: load_state_dict: the state is not a JSON object");
    return volt_mc_set_str(&mc->pending_state, json);
}

/* ---------------------------------------------------------------- state key */

char *volt_mc_state_key(volt_callback *cb) {
    volt_model_ckpt *mc = volt_mc_from(cb);
    if (!mc) return NULL;
    char interval[40] = "None";
    if (mc->train_time_interval > 0)
        snprintf(interval, sizeof interval, "%g", mc->train_time_interval);
    const char *monitor = mc->monitor ? mc->monitor : "None";
    const char *fmt = "ModelCheckpoint{monitor=%s,mode=%s,every_n_train_steps=%lld,"
                      "every_n_epochs=%lld,train_time_interval=%s}";
    const char *mode = mc->mode_max ? "max" : "min";
    int n = snprintf(NULL, 0, fmt, monitor, mode, (long long)mc->every_n_train_steps,
                     (long long)mc->every_n_epochs, interval);
    char *key = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!key) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "ModelCheckpoint: state_key: out of memory");
        return NULL;
    }
    snprintf(key, (size_t)n + 1, fmt, monitor, mode, (long long)mc->every_n_train_steps,
             (long long)mc->every_n_epochs, interval);
    return key;
}
