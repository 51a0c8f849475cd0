/* cli_registry.c: the classes a configuration names — the built-in registry
 * (models mlp, cnn, resnet, gpt; datamodules fashion-mnist, csv, text), the
 * fashion-mnist datamodule's command-line options (its struct plus the
 * augmentation a config can ask for), the text datamodule's table, the
 * top-level keys, the section names, and looking a class up by name with a
 * did-you-mean. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli_impl.h"
#include "train/option_tables_impl.h"

const char *const cli_section_names[CLI_N_SECTIONS] = {
    [CLI_TOP] = "",        [CLI_TRAINER] = "trainer",     [CLI_MODEL] = "model",
    [CLI_DATA] = "data",   [CLI_OPTIMIZER] = "optimizer", [CLI_LR_SCHEDULER] = "lr_scheduler",
    [CLI_TUNER] = "tuner",
};

const volt_option cli_globals_table[] = {
    VOLT_OPT(cli_globals, seed_everything, INT, "null",
             "volt_seed_everything(seed) before the model and data are built (null: not seeded)",
             VOLT_GE(0), VOLT_NULLABLE),
    VOLT_OPT(cli_globals, ckpt_path, STRING, "null",
             "a checkpoint: fit resumes from it, validate/test/predict load its weights (a path, "
             "last or best)",
             VOLT_NULLABLE),
    VOLT_OPT(cli_globals, test_after_fit, BOOL, "false",
             "fit: then test the best checkpoint and print the test metrics"),
    VOLT_OPT(cli_globals, predictions_path, STRING, "null",
             "predict: save the predictions there (safetensors, tensor \"predictions\")",
             VOLT_NULLABLE),
    {0},
};

/* ------------------------------------------------------------ models */

static volt_module *mlp(const void *o) { return volt_mlp_new(o); }
static volt_module *cnn(const void *o) { return volt_cnn_new(o); }
static volt_module *resnet(const void *o) { return volt_resnet_new(o); }
static volt_module *gpt(const void *o) { return volt_gpt_new(o); }

static const volt_cli_class models[] = {
    {"mlp", "a two-layer perceptron", volt_mlp_table, sizeof(volt_mlp_options), mlp, NULL},
    {"cnn", "two conv blocks (conv, batch norm, ReLU, max pool), dropout, two linear layers",
     volt_cnn_table, sizeof(volt_cnn_options), cnn, NULL},
    {"resnet", "a small ResNet for 28x28 images", volt_resnet_table, sizeof(volt_resnet_options),
     resnet, NULL},
    {"gpt", "a GPT-2-style decoder (language model, tied embeddings)", volt_gpt_table,
     sizeof(volt_gpt_options), gpt, NULL},
};

/* ------------------------------------------------------------ fashion-mnist */

typedef struct {
    volt_fashion_mnist_options o;
    double normalize_mean, normalize_std; /* NAN: no normalization */
    int64_t random_crop_padding;          /* 0: no crop */
    double random_hflip, random_erasing;  /* probabilities; 0: none */
} fashion_mnist_cli;

#define FM(f, T, d, h, ...) VOLT_OPT_KEY(#f, fashion_mnist_cli, o.f, T, d, h, __VA_ARGS__)
#define FMX(f, T, d, h, ...) VOLT_OPT(fashion_mnist_cli, f, T, d, h, __VA_ARGS__)
static const volt_option fashion_mnist_table[] = {
    FM(data_dir, STRING, "null",
       "directory of the four IDX files, MNIST or Fashion-MNIST (null: " VOLT_FASHION_MNIST_DIR ")",
       VOLT_NULLABLE),
    FM(batch_size, INT, "64", "items per batch", VOLT_GE(1)),
    FM(num_workers, INT32, "0", "loader threads per loader (0: batches built in the loop)",
       VOLT_RANGE(0, VOLT_DATA_MAX_WORKERS)),
    FM(prefetch_factor, INT32, "2", "batches built ahead per worker", VOLT_GE(0)),
    FM(val_size, INT, "5000", "training items held out for validation (0 or -1: none)",
       VOLT_GE(-1)),
    FM(seed, UINT64, "0", "split and shuffle seed (0: the global seed)"),
    FM(drop_last, BOOL, "false", "drop the last incomplete training batch"),
    FM(as_images, BOOL, "false", "x as [B, 1, 28, 28] (else [B, 784]; the models take either)"),
    FMX(normalize_mean, DOUBLE, "null", "normalize x to (x - mean) / std (Fashion-MNIST: 0.286)",
        .flags = VOLT_OPTION_NULL_NAN),
    FMX(normalize_std, DOUBLE, "null", "the std of the normalization (Fashion-MNIST: 0.353)",
        VOLT_GE(0), .flags = VOLT_OPTION_NULL_NAN),
    FMX(random_crop_padding, INT, "0",
        "training: pad by this much and crop 28x28 at random (0: off)", VOLT_RANGE(0, 27)),
    FMX(random_hflip, DOUBLE, "0.0", "training: mirror left-right with this probability",
        VOLT_RANGE(0, 1)),
    FMX(random_erasing, DOUBLE, "0.0", "training: erase a random box with this probability",
        VOLT_RANGE(0, 1)),
    {0},
};

static volt_datamodule *fashion_mnist(const void *options) {
    const fashion_mnist_cli *c = options;
    volt_fashion_mnist_options o = c->o;
    if (o.val_size == 0) o.val_size = -1; /* the struct's 0 means 5000 */
    volt_transform train[4], eval[1];
    int n_train = 0, n_eval = 0;
    bool normalize = !isnan(c->normalize_mean) || !isnan(c->normalize_std);
    if (normalize && (isnan(c->normalize_mean) || isnan(c->normalize_std))) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "fashion-mnist: normalize_mean and normalize_std go together (got only %s)",
                       isnan(c->normalize_mean) ? "normalize_std" : "normalize_mean");
        return NULL;
    }
    if (c->random_crop_padding > 0)
        train[n_train++] = volt_transform_random_crop(28, c->random_crop_padding);
    if (c->random_hflip > 0) train[n_train++] = volt_transform_random_hflip(c->random_hflip);
    if (normalize) {
        volt_transform n = volt_transform_normalize(1, &c->normalize_mean, &c->normalize_std);
        train[n_train++] = n;
        eval[n_eval++] = n;
    }
    if (c->random_erasing > 0) train[n_train++] = volt_transform_random_erasing(c->random_erasing);
    o.train_transforms = n_train ? train : NULL;
    o.n_train_transforms = n_train;
    o.eval_transforms = n_eval ? eval : NULL;
    o.n_eval_transforms = n_eval;
    return volt_fashion_mnist_new(&o);
}

/* ------------------------------------------------------------ csv */

typedef struct {
    volt_csv_datamodule_options o;
    const char *delimiter; /* one character */
} csv_cli;

#define CSV(key, f, T, d, h, ...) VOLT_OPT_KEY(key, csv_cli, o.f, T, d, h, __VA_ARGS__)
static const volt_option csv_table[] = {
    CSV("train_path", train_path, STRING, "null", "the training CSV file",
        .flags = VOLT_OPTION_REQUIRED),
    CSV("val_path", val_path, STRING, "null",
        "the validation CSV file (null: val_fraction of the training rows)", VOLT_NULLABLE),
    CSV("test_path", test_path, STRING, "null", "the test (and predict) CSV file", VOLT_NULLABLE),
    CSV("val_fraction", val_fraction, DOUBLE, "0.1",
        "training rows held out for validation without val_path (0: none)", VOLT_RANGE(0, 1)),
    CSV("label_column", csv.label_column, STRING, "null",
        "header name of the label column (null: the last column)", VOLT_NULLABLE),
    VOLT_OPT(csv_cli, delimiter, STRING, ",", "the field separator (one character)"),
    CSV("no_header", csv.no_header, BOOL, "false", "the first line is data, not column names"),
    CSV("float_label", csv.float_label, BOOL, "false",
        "the label is a real number (regression), not a class index"),
    CSV("batch_size", batch_size, INT, "64", "rows per batch", VOLT_GE(1)),
    CSV("num_workers", num_workers, INT32, "0", "loader threads per loader",
        VOLT_RANGE(0, VOLT_DATA_MAX_WORKERS)),
    CSV("prefetch_factor", prefetch_factor, INT32, "2", "batches built ahead per worker",
        VOLT_GE(0)),
    CSV("seed", seed, UINT64, "0", "split and shuffle seed (0: the global seed)"),
    CSV("drop_last", drop_last, BOOL, "false", "drop the last incomplete training batch"),
    CSV("normalize", normalize, BOOL, "false",
        "standardise every feature with the training rows' mean and std"),
    {0},
};

static volt_datamodule *csv(const void *options) {
    const csv_cli *c = options;
    volt_csv_datamodule_options o = c->o;
    if (!c->delimiter || strlen(c->delimiter) != 1) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "csv: delimiter must be one character (got '%s')",
                       c->delimiter ? c->delimiter : "null");
        return NULL;
    }
    o.csv.delimiter = c->delimiter[0];
    return volt_csv_datamodule_new(&o);
}

/* ------------------------------------------------------------ text */

#define TXT(f, T, d, h, ...) VOLT_OPT(volt_text_datamodule_options, f, T, d, h, __VA_ARGS__)
const volt_option volt_text_datamodule_table[] = {
    TXT(path, STRING, "null",
        "a text file, a directory of them (*.dat and symbolic links skipped), or several "
        "separated by ':' (fortunes: /usr/share/games/fortunes)",
        .flags = VOLT_OPTION_REQUIRED),
    TXT(block_size, INT, "128", "tokens (characters) per window", VOLT_GE(1)),
    TXT(stride, INT, "0", "tokens between training windows (0: block_size; 1: every position)",
        VOLT_GE(0)),
    TXT(val_fraction, DOUBLE, "0.1", "the end of the text held out for validation (and test)",
        VOLT_RANGE(0, 1)),
    TXT(batch_size, INT, "64", "windows per batch", VOLT_GE(1)),
    TXT(num_workers, INT32, "0", "loader threads per loader", VOLT_RANGE(0, VOLT_DATA_MAX_WORKERS)),
    TXT(prefetch_factor, INT32, "2", "batches built ahead per worker", VOLT_GE(0)),
    TXT(seed, UINT64, "0", "shuffle seed (0: the global seed)"),
    TXT(drop_last, BOOL, "false", "drop the last incomplete training batch"),
    {0},
};

static volt_datamodule *text(const void *options) { return volt_text_datamodule_new(options); }

static const volt_cli_class datamodules[] = {
    {"fashion-mnist", "Fashion-MNIST (or MNIST) from IDX files, with optional augmentation",
     fashion_mnist_table, sizeof(fashion_mnist_cli), NULL, fashion_mnist},
    {"csv", "CSV files of numbers: features and a label column", csv_table, sizeof(csv_cli), NULL,
     csv},
    {"text", "character-level text files (a corpus such as fortunes) as next-token windows",
     volt_text_datamodule_table, sizeof(volt_text_datamodule_options), NULL, text},
};

static const volt_cli_registry builtin = {
    .prog = "volt",
    .models = models,
    .n_models = sizeof models / sizeof models[0],
    .datamodules = datamodules,
    .n_datamodules = sizeof datamodules / sizeof datamodules[0],
};

const volt_cli_registry *volt_cli_builtin_registry(void) { return &builtin; }

/* ------------------------------------------------------------ lookup */

cli_class_list cli_list(const volt_cli_registry *registry, cli_section section) {
    switch (section) {
    case CLI_MODEL:
        return (cli_class_list){"model", registry->models, registry->n_models,
                                sizeof(volt_cli_class)};
    case CLI_DATA:
        return (cli_class_list){"datamodule", registry->datamodules, registry->n_datamodules,
                                sizeof(volt_cli_class)};
    case CLI_OPTIMIZER:
        return (cli_class_list){"optimizer", &cli_optimizers[0].cls, cli_n_optimizers,
                                sizeof(cli_builtin)};
    case CLI_LR_SCHEDULER:
        return (cli_class_list){"lr_scheduler", &cli_schedulers[0].cls, cli_n_schedulers,
                                sizeof(cli_builtin)};
    case CLI_TUNER:
        return (cli_class_list){"tuner", &cli_tuners[0].cls, cli_n_tuners, sizeof(cli_builtin)};
    default: return (cli_class_list){"?", NULL, 0, sizeof(volt_cli_class)};
    }
}

const volt_cli_class *cli_class_at(const cli_class_list *list, int i) {
    return (const volt_cli_class *)(const void *)((const char *)list->first +
                                                  (size_t)i * list->stride);
}

/* Names match ignoring case, with '-' and '_' alike ("fashion_mnist"). */
static bool same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = (char)tolower((unsigned char)*a), y = (char)tolower((unsigned char)*b);
        if (x == '-') x = '_';
        if (y == '-') y = '_';
        if (x != y) return false;
    }
    return *a == *b;
}

const volt_cli_class *cli_class_find(const cli_class_list *list, const char *name) {
    volt_suggest s;
    volt_suggest_init(&s, name);
    for (int i = 0; i < list->n; i++) {
        const volt_cli_class *c = cli_class_at(list, i);
        if (c->name && same_name(c->name, name)) return c;
        volt_suggest_add(&s, c->name);
    }
    volt_text t = {0};
    for (int i = 0; i < list->n; i++)
        volt_text_printf(&t, "%s%s", i ? ", " : "", cli_class_at(list, i)->name);
    if (volt_suggest_result(&s))
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "unknown %s '%s' (did you mean %s? known: %s)",
                       list->kind, name, volt_suggest_result(&s), t.data ? t.data : "none");
    else
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "unknown %s '%s' (known: %s)", list->kind, name,
                       t.data ? t.data : "none");
    free(t.data);
    return NULL;
}
