/* text_datamodule.c: the built-in character-level text datamodule — a
 * corpus (files, directories) read once, its byte vocabulary, the text
 * encoded as tokens and split into a training part and a validation part
 * (the last val_fraction), next-token windows over each (text_chars.c),
 * one loader per stage (test reads the validation part), and the loaders'
 * states as its state dict. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/text_impl.h"

#define NAME "text"

typedef struct {
    volt_datamodule base;
    volt_text_datamodule_options opt; /* path points at the copy below */
    char *path;
    uint64_t seed;
    uint8_t *tokens; /* the whole text, encoded */
    int64_t n_tokens, n_val;
    volt_char_vocab vocab;
    volt_dataset *train, *val;
    volt_data_loader *loaders[VOLT_DM_LOADERS];
} text_dm;

/* ---------------------------------------------------------------- setup */

static volt_status text_prepare_data(volt_datamodule *self) {
    text_dm *m = (text_dm *)self;
    char *list = strdup(m->path), *save = NULL;
    if (!list) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, NAME ": out of memory");
    volt_status st = VOLT_OK;
    for (char *p = strtok_r(list, ":", &save); p && st == VOLT_OK; p = strtok_r(NULL, ":", &save))
        if (access(p, R_OK) != 0) st = volt_data_io_error(NAME ": path", p);
    free(list);
    return st;
}

/* The validation part: the last floor(val_fraction * n) tokens. Both parts
 * must hold a window (block_size + 1 tokens). */
static volt_status split(text_dm *m) {
    int64_t n = m->n_tokens, need = m->opt.block_size + 1;
    m->n_val = (int64_t)floor(m->opt.val_fraction * (double)n);
    if (m->opt.val_fraction > 0 && m->n_val < need)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": %s: the validation part (the last %g of %lld characters: "
                                   "%lld) is shorter than block_size + 1 = %lld",
                              m->path, m->opt.val_fraction, (long long)n, (long long)m->n_val,
                              (long long)need);
    if (n - m->n_val < need)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": %s: the training part (%lld characters) is shorter than "
                                   "block_size + 1 = %lld",
                              m->path, (long long)(n - m->n_val), (long long)need);
    return VOLT_OK;
}

/* Reads and encodes the corpus, once. */
static volt_status load(text_dm *m) {
    if (m->tokens) return VOLT_OK;
    uint8_t *text;
    int64_t n;
    volt_status st = volt_text_read(m->path, &text, &n);
    if (st != VOLT_OK) return st;
    volt_char_vocab_build(&m->vocab, text, n);
    for (int64_t i = 0; i < n; i++) text[i] = (uint8_t)m->vocab.index[text[i]];
    m->tokens = text;
    m->n_tokens = n;
    return VOLT_OK;
}

static volt_status text_setup(volt_datamodule *self, volt_stage stage) {
    (void)stage; /* every stage needs the text and both parts */
    text_dm *m = (text_dm *)self;
    if (m->train) return VOLT_OK;
    volt_status st = load(m);
    if (st == VOLT_OK) st = split(m);
    if (st != VOLT_OK) return st;
    int64_t n_train = m->n_tokens - m->n_val, block = m->opt.block_size;
    m->train =
        volt_text_windows_new(m->tokens, n_train, block, m->opt.stride ? m->opt.stride : block);
    if (m->train && m->n_val > 0)
        m->val = volt_text_windows_new(m->tokens + n_train, m->n_val, block, block);
    return m->train && (m->val || m->n_val == 0) ? VOLT_OK : volt_error_status();
}

/* -------------------------------------------------------------- loaders */

static volt_data_loader *make_loader(text_dm *m, int which, volt_dataset *ds) {
    if (m->loaders[which] || !ds) {
        if (!m->train)
            volt_error_set(VOLT_ERR_STATE, NAME ": %s loader before setup",
                           volt_dm_loader_keys[which]);
        return m->loaders[which];
    }
    bool train = which == VOLT_DM_TRAIN;
    volt_data_loader_options o = {
        .batch_size = m->opt.batch_size,
        .shuffle = train,
        .drop_last = train && m->opt.drop_last,
        .num_workers = m->opt.num_workers,
        .prefetch_factor = m->opt.prefetch_factor,
        .seed = m->seed,
    };
    m->loaders[which] = volt_data_loader_new(ds, &o);
    return m->loaders[which];
}

static volt_data_loader *text_train_loader(volt_datamodule *self) {
    text_dm *m = (text_dm *)self;
    return make_loader(m, VOLT_DM_TRAIN, m->train);
}

static volt_data_loader *text_val_loader(volt_datamodule *self) {
    text_dm *m = (text_dm *)self;
    return make_loader(m, VOLT_DM_VAL, m->val);
}

static volt_data_loader *text_test_loader(volt_datamodule *self) {
    text_dm *m = (text_dm *)self;
    return make_loader(m, VOLT_DM_TEST, m->val);
}

static volt_status text_teardown(volt_datamodule *self, volt_stage stage) {
    volt_dm_loaders_teardown(((text_dm *)self)->loaders, stage);
    return VOLT_OK;
}

/* ---------------------------------------------------------------- state */

static char *text_state_dict(volt_datamodule *self) {
    return volt_dm_loaders_state_dict(((text_dm *)self)->loaders, NAME);
}

static volt_status text_load_state_dict(volt_datamodule *self, const char *json) {
    return volt_dm_loaders_load_state_dict(self, json, NAME);
}

/* ------------------------------------------------------------- lifetime */

static void text_free(volt_datamodule *self) {
    text_dm *m = (text_dm *)self;
    for (int i = 0; i < VOLT_DM_LOADERS; i++) volt_data_loader_free(m->loaders[i]);
    volt_dataset_free(m->train);
    volt_dataset_free(m->val);
    free(m->tokens);
    free(m->path);
    free(m);
}

static const volt_datamodule_ops text_dm_ops = {
    .name = NAME,
    .prepare_data = text_prepare_data,
    .setup = text_setup,
    .train_loader = text_train_loader,
    .val_loader = text_val_loader,
    .test_loader = text_test_loader,
    .teardown = text_teardown,
    .state_dict = text_state_dict,
    .load_state_dict = text_load_state_dict,
    .free = text_free,
};

volt_text_datamodule_options volt_text_datamodule_defaults(void) {
    return (volt_text_datamodule_options){
        .block_size = 128, .val_fraction = 0.1, .batch_size = 64, .prefetch_factor = 2};
}

static volt_status check_count(const char *field, int64_t value, int64_t min) {
    if (value >= min) return VOLT_OK;
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, NAME ": %s must be >= %lld (got %lld)", field,
                          (long long)min, (long long)value);
}

static volt_status check_options(const volt_text_datamodule_options *o) {
    if (!o->path || !*o->path)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": path is required (a text file, a directory, or several "
                                   "separated by ':')");
    if (check_count("block_size", o->block_size, 1) || check_count("stride", o->stride, 0) ||
        check_count("batch_size", o->batch_size, 1) ||
        check_count("prefetch_factor", o->prefetch_factor, 0))
        return volt_error_status();
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": val_fraction must be in [0, 1) (got %g)", o->val_fraction);
    if (o->num_workers < 0 || o->num_workers > VOLT_DATA_MAX_WORKERS)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": num_workers must be in [0, %d] (got %d)",
                              VOLT_DATA_MAX_WORKERS, o->num_workers);
    return VOLT_OK;
}

volt_datamodule *volt_text_datamodule_new(const volt_text_datamodule_options *opt) {
    if (!opt) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, NAME ": options are required (path; start from "
                                                       "volt_text_datamodule_defaults())");
        return NULL;
    }
    if (check_options(opt) != VOLT_OK) return NULL;
    text_dm *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(opt->path))) {
        free(m);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, NAME ": out of memory");
        return NULL;
    }
    volt_datamodule_init(&m->base, &text_dm_ops);
    m->opt = *opt;
    m->opt.path = m->path;
    m->seed = opt->seed ? opt->seed : volt_global_seed();
    return &m->base;
}

static text_dm *as_text(volt_datamodule *dm) {
    if (dm && dm->ops == &text_dm_ops) return (text_dm *)dm;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                   NAME ": %s is not a datamodule made by volt_text_datamodule_new",
                   dm ? "the datamodule" : "NULL");
    return NULL;
}

const volt_char_vocab *volt_text_datamodule_vocab(volt_datamodule *dm) {
    text_dm *m = as_text(dm);
    if (!m || volt_datamodule_prepare_data(dm) != VOLT_OK || load(m) != VOLT_OK) return NULL;
    return &m->vocab;
}
