/* fashion_mnist.c: the built-in Fashion-MNIST datamodule (MNIST-format IDX
 * files in a directory): file checks in prepare_data, a seeded
 * training/validation split in setup(fit), the test set in setup(test /
 * predict), one loader per stage, and the loaders' states as its state
 * dict. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_impl.h"

#define DEFAULT_VAL_SIZE 5000
#define DEFAULT_BATCH_SIZE 64

enum { TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS, N_FILES };
static const char *const file_names[N_FILES] = {"train-images-idx3-ubyte",
                                                "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                                "t10k-labels-idx1-ubyte"};

typedef struct {
    volt_datamodule base;
    volt_fashion_mnist_options opt; /* transforms point at the copies below */
    char *dir;
    char *paths[N_FILES];
    volt_transform *train_t, *eval_t;
    uint64_t seed;
    volt_dataset *train_full, *test_set;
    volt_dataset *split[2]; /* training and validation subsets */
    volt_data_loader *loaders[VOLT_DM_LOADERS];
} fashion_mnist;

/* ------------------------------------------------------------ files */

static volt_status resolve_paths(fashion_mnist *m) {
    struct stat st;
    if (stat(m->dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return volt_error_set(VOLT_ERR_IO,
                              "fashion_mnist: %s: no such directory (install the "
                              "Debian package dataset-fashion-mnist, or set data_dir)",
                              m->dir);
    for (int f = 0; f < N_FILES; f++) {
        if (m->paths[f]) continue;
        size_t size = strlen(m->dir) + strlen(file_names[f]) + 8;
        char *path = malloc(size);
        if (!path) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "fashion_mnist: out of memory");
        snprintf(path, size, "%s/%s.gz", m->dir, file_names[f]);
        if (access(path, R_OK) != 0) snprintf(path, size, "%s/%s", m->dir, file_names[f]);
        if (access(path, R_OK) != 0) {
            free(path);
            return volt_error_set(VOLT_ERR_IO,
                                  "fashion_mnist: %s: neither %s.gz nor %s is there "
                                  "(or readable)",
                                  m->dir, file_names[f], file_names[f]);
        }
        m->paths[f] = path;
    }
    return VOLT_OK;
}

static volt_status fm_prepare_data(volt_datamodule *self) {
    return resolve_paths((fashion_mnist *)self);
}

static volt_status setup_fit(fashion_mnist *m) {
    if (m->train_full) return VOLT_OK;
    m->train_full = volt_idx_dataset_new(m->paths[TRAIN_IMAGES], m->paths[TRAIN_LABELS]);
    if (!m->train_full) return volt_error_status();
    int64_t n = volt_dataset_len(m->train_full);
    int64_t val = m->opt.val_size == 0  ? DEFAULT_VAL_SIZE
                  : m->opt.val_size < 0 ? 0
                                        : m->opt.val_size;
    if (val >= n)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fashion_mnist: val_size %lld leaves no "
                              "training items (%s has %lld)",
                              (long long)val, m->paths[TRAIN_IMAGES], (long long)n);
    if (val == 0) return VOLT_OK;
    double lengths[2] = {(double)(n - val), (double)val};
    return volt_random_split(m->train_full, 2, lengths, m->seed, m->split);
}

static volt_status fm_setup(volt_datamodule *self, volt_stage stage) {
    fashion_mnist *m = (fashion_mnist *)self;
    volt_status st = resolve_paths(m);
    if (st != VOLT_OK) return st;
    if (stage == VOLT_STAGE_FIT || stage == VOLT_STAGE_VALIDATE) return setup_fit(m);
    if (!m->test_set)
        m->test_set = volt_idx_dataset_new(m->paths[TEST_IMAGES], m->paths[TEST_LABELS]);
    return m->test_set ? VOLT_OK : volt_error_status();
}

/* ---------------------------------------------------------- loaders */

static volt_data_loader *make_loader(fashion_mnist *m, int which, volt_dataset *ds) {
    if (m->loaders[which]) return m->loaders[which];
    if (!ds) {
        if (which == VOLT_DM_VAL && m->train_full) return NULL; /* val_size -1: no validation */
        volt_error_set(VOLT_ERR_STATE, "fashion_mnist: %s loader before setup",
                       volt_dm_loader_keys[which]);
        return NULL;
    }
    bool train = which == VOLT_DM_TRAIN;
    volt_data_loader_options o = {
        .batch_size = m->opt.batch_size,
        .shuffle = train,
        .drop_last = train && m->opt.drop_last,
        .num_workers = m->opt.num_workers,
        .prefetch_factor = m->opt.prefetch_factor,
        .seed = m->seed,
        .transforms = train ? m->train_t : m->eval_t,
        .n_transforms = train ? m->opt.n_train_transforms : m->opt.n_eval_transforms,
        .flatten = !m->opt.as_images,
    };
    m->loaders[which] = volt_data_loader_new(ds, &o);
    return m->loaders[which];
}

static volt_data_loader *fm_train_loader(volt_datamodule *self) {
    fashion_mnist *m = (fashion_mnist *)self;
    return make_loader(m, VOLT_DM_TRAIN, m->split[0] ? m->split[0] : m->train_full);
}

static volt_data_loader *fm_val_loader(volt_datamodule *self) {
    fashion_mnist *m = (fashion_mnist *)self;
    return make_loader(m, VOLT_DM_VAL, m->split[1]);
}

static volt_data_loader *fm_test_loader(volt_datamodule *self) {
    fashion_mnist *m = (fashion_mnist *)self;
    return make_loader(m, VOLT_DM_TEST, m->test_set);
}

static volt_data_loader *fm_predict_loader(volt_datamodule *self) {
    fashion_mnist *m = (fashion_mnist *)self;
    return make_loader(m, VOLT_DM_PREDICT, m->test_set);
}

static volt_status fm_teardown(volt_datamodule *self, volt_stage stage) {
    volt_dm_loaders_teardown(((fashion_mnist *)self)->loaders, stage);
    return VOLT_OK;
}

/* ------------------------------------------------------------ state */

static char *fm_state_dict(volt_datamodule *self) {
    return volt_dm_loaders_state_dict(((fashion_mnist *)self)->loaders, "fashion_mnist");
}

static volt_status fm_load_state_dict(volt_datamodule *self, const char *json) {
    return volt_dm_loaders_load_state_dict(self, json, "fashion_mnist");
}

/* ------------------------------------------------------------ lifetime */

static void fm_free(volt_datamodule *self) {
    fashion_mnist *m = (fashion_mnist *)self;
    for (int i = 0; i < VOLT_DM_LOADERS; i++) volt_data_loader_free(m->loaders[i]);
    volt_dataset_free(m->split[0]);
    volt_dataset_free(m->split[1]);
    volt_dataset_free(m->train_full);
    volt_dataset_free(m->test_set);
    for (int f = 0; f < N_FILES; f++) free(m->paths[f]);
    free(m->dir);
    free(m->train_t);
    free(m->eval_t);
    free(m);
}

static const volt_datamodule_ops fashion_mnist_ops = {
    .name = "fashion_mnist",
    .prepare_data = fm_prepare_data,
    .setup = fm_setup,
    .train_loader = fm_train_loader,
    .val_loader = fm_val_loader,
    .test_loader = fm_test_loader,
    .predict_loader = fm_predict_loader,
    .teardown = fm_teardown,
    .state_dict = fm_state_dict,
    .load_state_dict = fm_load_state_dict,
    .free = fm_free,
};

volt_status volt_fashion_mnist_set_batch_size(volt_datamodule *dm, int64_t batch_size) {
    if (!dm || dm->ops != &fashion_mnist_ops)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fashion_mnist: set_batch_size: not a Fashion-MNIST datamodule");
    if (batch_size < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fashion_mnist: batch_size must be >= 1 (got %lld)",
                              (long long)batch_size);
    fashion_mnist *m = (fashion_mnist *)dm;
    m->opt.batch_size = batch_size;
    for (int i = 0; i < VOLT_DM_LOADERS; i++) { /* rebuilt at the new size when next asked for */
        volt_data_loader_free(m->loaders[i]);
        m->loaders[i] = NULL;
    }
    return VOLT_OK;
}

static volt_status check_options(const volt_fashion_mnist_options *o) {
    if (o->batch_size < 1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fashion_mnist: batch_size must be >= 1 "
                              "(got %lld)",
                              (long long)o->batch_size);
    if (o->num_workers < 0 || o->num_workers > VOLT_DATA_MAX_WORKERS)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fashion_mnist: num_workers must be in "
                              "[0, %d] (got %d)",
                              VOLT_DATA_MAX_WORKERS, o->num_workers);
    if (o->prefetch_factor < 0 || o->val_size < -1)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "fashion_mnist: prefetch_factor %d, "
                              "val_size %lld (need >= 0, >= -1)",
                              o->prefetch_factor, (long long)o->val_size);
    if (o->n_train_transforms < 0 || o->n_eval_transforms < 0 ||
        (o->n_train_transforms > 0 && !o->train_transforms) ||
        (o->n_eval_transforms > 0 && !o->eval_transforms))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fashion_mnist: bad transform lists");
    for (int i = 0; i < o->n_train_transforms; i++)
        if (volt_transform_check(&o->train_transforms[i]) != VOLT_OK) return volt_error_status();
    for (int i = 0; i < o->n_eval_transforms; i++)
        if (volt_transform_check(&o->eval_transforms[i]) != VOLT_OK) return volt_error_status();
    return VOLT_OK;
}

static volt_transform *copy_transforms(const volt_transform *t, int n) {
    volt_transform *c = calloc((size_t)n + 1, sizeof *c);
    if (c && n > 0) memcpy(c, t, (size_t)n * sizeof *c);
    return c;
}

volt_datamodule *volt_fashion_mnist_new(const volt_fashion_mnist_options *opt) {
    volt_fashion_mnist_options o =
        opt ? *opt : (volt_fashion_mnist_options){.batch_size = DEFAULT_BATCH_SIZE};
    if (check_options(&o) != VOLT_OK) return NULL;
    fashion_mnist *m = calloc(1, sizeof *m);
    if (!m) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "fashion_mnist: out of memory");
        return NULL;
    }
    volt_datamodule_init(&m->base, &fashion_mnist_ops);
    m->opt = o;
    m->dir = strdup(o.data_dir ? o.data_dir : VOLT_FASHION_MNIST_DIR);
    m->train_t = copy_transforms(o.train_transforms, o.n_train_transforms);
    m->eval_t = copy_transforms(o.eval_transforms, o.n_eval_transforms);
    m->seed = o.seed ? o.seed : volt_global_seed();
    if (!m->dir || !m->train_t || !m->eval_t) {
        fm_free(&m->base);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "fashion_mnist: out of memory");
        return NULL;
    }
    m->opt.data_dir = m->dir;
    m->opt.train_transforms = m->train_t;
    m->opt.eval_transforms = m->eval_t;
    return &m->base;
}
