/* csv_datamodule.c: the built-in CSV datamodule — CSV datasets
 * (volt_csv_dataset_new) for training, validation (a seeded split of the
 * training rows or a file of its own) and test/predict, optional feature
 * standardisation with the training rows' statistics, one loader per stage,
 * and the loaders' states as its state dict. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data_impl.h"

#define NAME "csv_datamodule"

/* A dataset whose "x" rows are standardised: (x - mean) * inv_std. It
 * changes the rows its inner dataset returns in place, which is right for
 * the CSV dataset (and subsets of it): every get builds fresh tensors. */
typedef struct {
    volt_dataset base;
    volt_dataset *inner; /* borrowed */
    int64_t n_features;
    const float *mean, *inv_std; /* the datamodule's */
} norm_dataset;

typedef struct {
    volt_datamodule base;
    volt_csv_datamodule_options opt; /* strings point at the copies below */
    char *paths[3];                  /* train, val, test */
    char *label_column;
    uint64_t seed;
    volt_dataset *train_file, *val_file, *test_file;
    volt_dataset *split[2];           /* training / validation subsets of train_file */
    volt_dataset *train, *val, *test; /* what the loaders read (maybe normalising) */
    norm_dataset *norm[3];            /* the wrappers, when normalising */
    float *mean, *inv_std;            /* [n_features] */
    int64_t n_features;
    volt_data_loader *loaders[VOLT_DM_LOADERS];
} csv_dm;

/* ---------------------------------------------------------- normalising */

static void standardise(const norm_dataset *d, volt_tensor *x) {
    float *v = volt_tensor_data(x);
    int64_t rows = volt_tensor_numel(x) / d->n_features;
    for (int64_t r = 0; r < rows; r++, v += d->n_features)
        for (int64_t f = 0; f < d->n_features; f++) v[f] = (v[f] - d->mean[f]) * d->inv_std[f];
}

static int64_t norm_len(const volt_dataset *self) {
    return volt_dataset_len(((const norm_dataset *)self)->inner);
}

static volt_status norm_get(const volt_dataset *self, int64_t index, volt_sample *out) {
    const norm_dataset *d = (const norm_dataset *)self;
    volt_status st = volt_dataset_get(d->inner, index, out);
    if (st == VOLT_OK) standardise(d, volt_sample_get(out, "x"));
    return st;
}

static volt_status norm_get_batch(const volt_dataset *self, const int64_t *indices, int64_t n,
                                  volt_batch *out) {
    const norm_dataset *d = (const norm_dataset *)self;
    volt_status st = volt_dataset_get_batch(d->inner, indices, n, out);
    if (st == VOLT_OK) standardise(d, out->x);
    return st;
}

static void norm_free(volt_dataset *self) { free(self); }

static const volt_dataset_ops norm_ops = {
    .name = "normalized_csv",
    .len = norm_len,
    .get = norm_get,
    .get_batch = norm_get_batch,
    .free = norm_free,
};

/* ds itself, or a standardising wrapper of it kept in m->norm[slot]. */
static volt_dataset *maybe_normalised(csv_dm *m, int slot, volt_dataset *ds) {
    if (!m->opt.normalize || !ds) return ds;
    norm_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, NAME ": out of memory");
        return NULL;
    }
    *d = (norm_dataset){.base.ops = &norm_ops,
                        .inner = ds,
                        .n_features = m->n_features,
                        .mean = m->mean,
                        .inv_std = m->inv_std};
    m->norm[slot] = d;
    return &d->base;
}

/* Column means and population standard deviations of ds (f64 sums, in
 * chunks of rows); a constant column gets 1. */
static volt_status compute_stats(csv_dm *m, volt_dataset *ds) {
    int64_t n = volt_dataset_len(ds), nf = m->n_features, chunk = 1024;
    double *sum = calloc((size_t)nf, sizeof *sum), *sq = calloc((size_t)nf, sizeof *sq);
    int64_t *idx = malloc((size_t)chunk * sizeof *idx);
    m->mean = malloc((size_t)nf * sizeof *m->mean);
    m->inv_std = malloc((size_t)nf * sizeof *m->inv_std);
    volt_status st = sum && sq && idx && m->mean && m->inv_std
                         ? VOLT_OK
                         : volt_error_set(VOLT_ERR_OUT_OF_MEMORY, NAME ": out of memory");
    for (int64_t start = 0; st == VOLT_OK && start < n; start += chunk) {
        int64_t k = n - start < chunk ? n - start : chunk;
        for (int64_t i = 0; i < k; i++) idx[i] = start + i;
        volt_scope_begin();
        volt_batch b;
        st = volt_dataset_get_batch(ds, idx, k, &b);
        const float *x = st == VOLT_OK ? volt_tensor_data(b.x) : NULL;
        for (int64_t i = 0; x && i < k * nf; i++) {
            sum[i % nf] += x[i];
            sq[i % nf] += (double)x[i] * x[i];
        }
        volt_scope_end();
    }
    for (int64_t f = 0; st == VOLT_OK && f < nf; f++) {
        double mean = sum[f] / (double)n, var = sq[f] / (double)n - mean * mean;
        m->mean[f] = (float)mean;
        m->inv_std[f] = var > 1e-12 ? (float)(1.0 / sqrt(var)) : 1.0f;
    }
    free(sum);
    free(sq);
    free(idx);
    return st;
}

/* ---------------------------------------------------------------- setup */

static const char *path_key(int i) {
    return i == 0 ? "train_path" : i == 1 ? "val_path" : "test_path";
}

static volt_status csv_prepare_data(volt_datamodule *self) {
    csv_dm *m = (csv_dm *)self;
    for (int i = 0; i < 3; i++)
        if (m->paths[i] && access(m->paths[i], R_OK) != 0)
            return volt_error_set(VOLT_ERR_IO, NAME ": %s %s: %s", path_key(i), m->paths[i],
                                  strerror(errno));
    return VOLT_OK;
}

/* Reads file i; checks it has the training file's number of features. */
static volt_dataset *read_file(csv_dm *m, int i) {
    volt_dataset *ds = volt_csv_dataset_new(m->paths[i], &m->opt.csv);
    if (!ds) return NULL;
    volt_scope_begin();
    volt_sample s = {0};
    int64_t nf = volt_dataset_get(ds, 0, &s) == VOLT_OK ? volt_sample_get(&s, "x")->shape[0] : -1;
    volt_scope_end();
    if (nf < 0 || (m->n_features > 0 && nf != m->n_features)) {
        if (nf >= 0)
            volt_error_set(VOLT_ERR_FORMAT,
                           NAME ": %s %s has %lld feature columns, the training file %lld",
                           path_key(i), m->paths[i], (long long)nf, (long long)m->n_features);
        volt_dataset_free(ds);
        return NULL;
    }
    m->n_features = nf;
    return ds;
}

static volt_status split_train(csv_dm *m) {
    int64_t n = volt_dataset_len(m->train_file);
    int64_t val = (int64_t)floor(m->opt.val_fraction * (double)n);
    if (val < 1) val = 1;
    if (val >= n)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": val_fraction %g of %lld rows in %s leaves no training rows",
                              m->opt.val_fraction, (long long)n, m->paths[0]);
    double lengths[2] = {(double)(n - val), (double)val};
    return volt_random_split(m->train_file, 2, lengths, m->seed, m->split);
}

static volt_status setup_fit(csv_dm *m) {
    if (m->train) return VOLT_OK;
    if (!m->train_file && !(m->train_file = read_file(m, 0))) return volt_error_status();
    volt_dataset *train = m->train_file, *val = NULL;
    if (m->paths[1]) {
        if (!m->val_file && !(m->val_file = read_file(m, 1))) return volt_error_status();
        val = m->val_file;
    } else if (m->opt.val_fraction > 0) {
        if (!m->split[0] && split_train(m) != VOLT_OK) return volt_error_status();
        train = m->split[0];
        val = m->split[1];
    }
    if (m->opt.normalize && !m->mean && compute_stats(m, train) != VOLT_OK)
        return volt_error_status();
    m->val = maybe_normalised(m, VOLT_DM_VAL, val);
    m->train = maybe_normalised(m, VOLT_DM_TRAIN, train);
    return m->train && (m->val || !val) ? VOLT_OK : volt_error_status();
}

static volt_status setup_test(csv_dm *m) {
    if (m->test || !m->paths[2]) return VOLT_OK;
    /* the statistics (and the feature count) come from the training rows */
    if (m->opt.normalize && setup_fit(m) != VOLT_OK) return volt_error_status();
    if (!m->test_file && !(m->test_file = read_file(m, 2))) return volt_error_status();
    m->test = maybe_normalised(m, VOLT_DM_TEST, m->test_file);
    return m->test ? VOLT_OK : volt_error_status();
}

static volt_status csv_setup(volt_datamodule *self, volt_stage stage) {
    csv_dm *m = (csv_dm *)self;
    if (stage == VOLT_STAGE_FIT || stage == VOLT_STAGE_VALIDATE) return setup_fit(m);
    return setup_test(m);
}

/* -------------------------------------------------------------- loaders */

static volt_data_loader *make_loader(csv_dm *m, int which, volt_dataset *ds, bool set_up) {
    if (m->loaders[which] || !ds) {
        if (!m->loaders[which] && !set_up)
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

static volt_data_loader *csv_train_loader(volt_datamodule *self) {
    csv_dm *m = (csv_dm *)self;
    return make_loader(m, VOLT_DM_TRAIN, m->train, false);
}

static volt_data_loader *csv_val_loader(volt_datamodule *self) {
    csv_dm *m = (csv_dm *)self;
    return make_loader(m, VOLT_DM_VAL, m->val, m->train != NULL); /* none without validation */
}

static volt_data_loader *csv_test_loader(volt_datamodule *self) {
    csv_dm *m = (csv_dm *)self;
    return make_loader(m, VOLT_DM_TEST, m->test, !m->paths[2]);
}

static volt_data_loader *csv_predict_loader(volt_datamodule *self) {
    csv_dm *m = (csv_dm *)self;
    return make_loader(m, VOLT_DM_PREDICT, m->test, !m->paths[2]);
}

static volt_status csv_teardown(volt_datamodule *self, volt_stage stage) {
    volt_dm_loaders_teardown(((csv_dm *)self)->loaders, stage);
    return VOLT_OK;
}

/* ---------------------------------------------------------------- state */

static char *csv_state_dict(volt_datamodule *self) {
    return volt_dm_loaders_state_dict(((csv_dm *)self)->loaders, NAME);
}

static volt_status csv_load_state_dict(volt_datamodule *self, const char *json) {
    return volt_dm_loaders_load_state_dict(self, json, NAME);
}

/* ------------------------------------------------------------- lifetime */

static void csv_free(volt_datamodule *self) {
    csv_dm *m = (csv_dm *)self;
    for (int i = 0; i < VOLT_DM_LOADERS; i++) volt_data_loader_free(m->loaders[i]);
    for (int i = 0; i < 3; i++) free(m->norm[i]);
    volt_dataset_free(m->split[0]);
    volt_dataset_free(m->split[1]);
    volt_dataset_free(m->train_file);
    volt_dataset_free(m->val_file);
    volt_dataset_free(m->test_file);
    for (int i = 0; i < 3; i++) free(m->paths[i]);
    free(m->label_column);
    free(m->mean);
    free(m->inv_std);
    free(m);
}

static const volt_datamodule_ops csv_dm_ops = {
    .name = NAME,
    .prepare_data = csv_prepare_data,
    .setup = csv_setup,
    .train_loader = csv_train_loader,
    .val_loader = csv_val_loader,
    .test_loader = csv_test_loader,
    .predict_loader = csv_predict_loader,
    .teardown = csv_teardown,
    .state_dict = csv_state_dict,
    .load_state_dict = csv_load_state_dict,
    .free = csv_free,
};

volt_csv_datamodule_options volt_csv_datamodule_defaults(void) {
    return (volt_csv_datamodule_options){.val_fraction = 0.1, .batch_size = 64};
}

static volt_status check_options(const volt_csv_datamodule_options *o) {
    if (!o->train_path || !*o->train_path)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, NAME ": train_path is required");
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": val_fraction must be in [0, 1) (got %g)", o->val_fraction);
    if (o->batch_size < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": batch_size must be >= 1 (got %lld)",
                              (long long)o->batch_size);
    if (o->num_workers < 0 || o->num_workers > VOLT_DATA_MAX_WORKERS)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": num_workers must be in [0, %d] (got %d)",
                              VOLT_DATA_MAX_WORKERS, o->num_workers);
    if (o->prefetch_factor < 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": prefetch_factor must be >= 0 (got %d)", o->prefetch_factor);
    if (o->csv.delimiter == '\n' || o->csv.delimiter == '"')
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              NAME ": csv.delimiter '\\x%02x' is not allowed",
                              (unsigned char)o->csv.delimiter);
    return VOLT_OK;
}

static char *copy_str(const char *s, bool *ok) {
    char *c = s && *s ? strdup(s) : NULL; /* "" counts as not given */
    if (s && *s && !c) *ok = false;
    return c;
}

volt_datamodule *volt_csv_datamodule_new(const volt_csv_datamodule_options *opt) {
    if (!opt) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       NAME ": options are required (train_path; start from "
                            "volt_csv_datamodule_defaults())");
        return NULL;
    }
    if (check_options(opt) != VOLT_OK) return NULL;
    csv_dm *m = calloc(1, sizeof *m);
    if (!m) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, NAME ": out of memory");
        return NULL;
    }
    volt_datamodule_init(&m->base, &csv_dm_ops);
    m->opt = *opt;
    bool ok = true;
    m->paths[0] = copy_str(opt->train_path, &ok);
    m->paths[1] = copy_str(opt->val_path, &ok);
    m->paths[2] = copy_str(opt->test_path, &ok);
    m->label_column = copy_str(opt->csv.label_column, &ok);
    if (!ok) {
        csv_free(&m->base);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, NAME ": out of memory");
        return NULL;
    }
    m->opt.train_path = m->paths[0];
    m->opt.val_path = m->paths[1];
    m->opt.test_path = m->paths[2];
    m->opt.csv.label_column = m->label_column;
    m->seed = opt->seed ? opt->seed : volt_global_seed();
    return &m->base;
}
