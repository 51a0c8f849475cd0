/* volt/data.h: the data layer (DESIGN.md §1) — samples and batches,
 * datasets (tensor, concat, subset, random_split), readers (IDX, CSV, token
 * files), samplers, the threaded data loader, transforms, datamodules and the
 * built-in Fashion-MNIST, CSV and character-level text datamodules.
 *
 * A loop over one epoch:
 *
 *     volt_dataset *ds = volt_idx_dataset_new(images_path, labels_path);
 *     volt_data_loader *dl = volt_data_loader_new(ds, &(volt_data_loader_options){
 *         .batch_size = 128, .shuffle = true, .num_workers = 2, .flatten = true});
 *     volt_batch b;
 *     for (;;) {
 *         volt_scope_begin();                    // the batch's tensors land here
 *         bool more = volt_data_loader_next(dl, &b);
 *         if (more) train_step(b.x, b.y);        // x: f32 [128, 784], y: i64 [128]
 *         volt_scope_end();
 *         if (!more) break;                      // end of epoch, or an error
 *     }
 *     if (volt_error_status() != VOLT_OK) fprintf(stderr, "%s\n", volt_error_message());
 *     volt_data_loader_free(dl);
 *     volt_dataset_free(ds);
 *
 * Lifetimes. Tensors a dataset returns from get/get_batch, and the tensors of
 * a batch the loader delivers, belong to the caller's innermost open scope
 * (with no scope open the caller owns them: volt_batch_free). Datasets,
 * samplers, loaders and datamodules are objects with _new/_free; a composed
 * dataset, a loader or a sampler given to a loader BORROWS what it is built
 * on, which must outlive it.
 *
 * Randomness (DESIGN.md §2). Every random choice comes from a Philox stream
 * keyed by a seed and derived from integers only: the shuffle of epoch e from
 * (seed, e), a transform of item i in epoch e from (seed, e, i). Nothing reads
 * shared mutable state, so 0, 1 or N workers deliver bitwise identical
 * batches, and the loader state (seed, epoch, position) resumes exactly.
 *
 * Threads. A dataset's len/get/get_batch may be called from several worker
 * threads at once and must only read the dataset (all built-in ones do).
 *
 * Errors. Functions record the sticky error (volt/core.h) and return NULL or
 * a status: VOLT_ERR_IO when a file cannot be opened or read (the message
 * names the file and the reason), VOLT_ERR_FORMAT for a file whose contents
 * are wrong (it names the file and what is wrong: a bad magic number, a
 * truncation, a missing value), VOLT_ERR_INVALID_ARGUMENT for bad options
 * (batch size 0, too many workers), VOLT_ERR_SHAPE / VOLT_ERR_DTYPE for items
 * that cannot be collated. Bad input never crashes or hangs. */
#ifndef VOLT_DATA_H
#define VOLT_DATA_H

#include "volt/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------ samples, batches */

#define VOLT_DATA_MAX_FIELDS 8

/* One item: up to 8 named tensors, e.g. "x" [1, 28, 28] f32 and "y" [] i64.
 * Names are not copied: they must live as long as the dataset (string
 * literals usually). */
typedef struct {
    int n_fields;
    const char *names[VOLT_DATA_MAX_FIELDS];
    volt_tensor *fields[VOLT_DATA_MAX_FIELDS];
} volt_sample;

/* Sets field `name` (replacing a field of that name; the replaced tensor is
 * not freed). VOLT_ERR_INVALID_ARGUMENT when full or given a NULL. */
volt_status volt_sample_set(volt_sample *s, const char *name, volt_tensor *t);
/* The field named `name`, or NULL (no error). */
volt_tensor *volt_sample_get(const volt_sample *s, const char *name);

/* A batch: the items' fields stacked along a new leading dimension of
 * `size`. x and y point at the fields named "x" and "y" (NULL when absent). */
typedef struct {
    volt_tensor *x;
    volt_tensor *y;
    int64_t size;
    int n_fields;
    const char *names[VOLT_DATA_MAX_FIELDS];
    volt_tensor *fields[VOLT_DATA_MAX_FIELDS];
} volt_batch;

/* The field named `name`, or NULL (no error). */
volt_tensor *volt_batch_get(const volt_batch *b, const char *name);
/* Sets field `name` as volt_sample_set does, and x/y when the name is "x"/"y". */
volt_status volt_batch_set(volt_batch *b, const char *name, volt_tensor *t);
/* Frees the batch's tensors now (volt_tensor_free each) and empties it. */
void volt_batch_free(volt_batch *b);

/* Stacks n items into a batch: every item must have the same field names in
 * the same order, and per field the same dtype and shape; field f becomes
 * [n, item shape...] with the items' dtype. The batch's tensors belong to
 * the current scope. VOLT_ERR_SHAPE / VOLT_ERR_DTYPE / VOLT_ERR_INVALID_ARGUMENT
 * name the item and field that differ. */
volt_status volt_collate(const volt_sample *items, int64_t n, volt_batch *out);

/* -------------------------------------------------------------- datasets */

typedef struct volt_dataset volt_dataset;

/* A dataset embeds volt_dataset as its first member and supplies this table.
 * len and get are required. get fills `out` (cleared by the caller) with
 * tensors in the current scope; `index` is in [0, len). get_batch is an
 * optional fast path that builds the collated batch of items
 * indices[0..n) directly (it must equal volt_collate of the gets). free
 * releases the dataset itself (NULL: nothing to free). All but free must be
 * safe to call from several threads at once. */
typedef struct {
    const char *name;
    int64_t (*len)(const volt_dataset *self);
    volt_status (*get)(const volt_dataset *self, int64_t index, volt_sample *out);
    volt_status (*get_batch)(const volt_dataset *self, const int64_t *indices, int64_t n,
                             volt_batch *out);
    void (*free)(volt_dataset *self);
} volt_dataset_ops;

struct volt_dataset {
    const volt_dataset_ops *ops;
};

/* Number of items; -1 with an error for a NULL dataset. */
int64_t volt_dataset_len(const volt_dataset *ds);
/* Item `index` (0 <= index < len; VOLT_ERR_INVALID_ARGUMENT otherwise). */
volt_status volt_dataset_get(const volt_dataset *ds, int64_t index, volt_sample *out);
/* Items indices[0..n) collated (n >= 1): the dataset's fast path when it has
 * one, else get + volt_collate. Dtypes are kept (u8 stays u8). */
volt_status volt_dataset_get_batch(const volt_dataset *ds, const int64_t *indices, int64_t n,
                                   volt_batch *out);
void volt_dataset_free(volt_dataset *ds);

/* n tensors of equal leading size N, named names[i] (copied): item i has
 * field names[f] = tensors[f][i] (a read-only view). The dataset keeps its
 * own reference to (a contiguous copy of) each tensor. */
volt_dataset *volt_tensor_dataset_new(int n, const char *const *names, volt_tensor *const *tensors);
/* The items of parts[0], then parts[1], ...; every part must have the same
 * fields (checked when collated). Borrows the parts. */
volt_dataset *volt_concat_dataset_new(int n, volt_dataset *const *parts);
/* Items base[indices[0]], base[indices[1]], ... (indices copied, each in
 * [0, len(base))). Borrows base; keeps its get_batch fast path. */
volt_dataset *volt_subset_new(volt_dataset *base, const int64_t *indices, int64_t n);
/* Splits base into n subsets of a random permutation from `seed`. lengths
 * are item counts that sum to len(base), or fractions that sum to 1 (counts
 * floor(f * len), the remainder given one by one to the first parts, as
 * PyTorch does). out[0..n) receive the subsets (free each). */
volt_status volt_random_split(volt_dataset *base, int n, const double *lengths, uint64_t seed,
                              volt_dataset **out);

/* --------------------------------------------------------------- readers */

/* Reads an IDX file (the MNIST format: magic 0x000008NN for u8 data with NN
 * dimensions, big-endian sizes, then the bytes), gzip'd or raw, into a new u8
 * tensor of the file's shape in the current scope. Refuses a bad magic, an
 * element type other than u8, a zero size, a truncated file and trailing
 * bytes, naming the file. */
volt_tensor *volt_idx_read(const char *path);

/* Images (IDX, [N, H, W] u8) with their labels (IDX, [N] u8). Item i: "x" f32
 * [1, H, W] = pixel / 255, "y" i64 [] the label. Its get_batch converts
 * straight from the u8 pixels into the batch. The pixels do not stay in the
 * process's memory: each item's bytes are read (pread) from a raw images
 * file itself, or from the uncompressed copy of a gzip'd one (1 MiB and
 * more) that the first use writes to $XDG_CACHE_HOME/volt (else
 * $HOME/.cache/volt), named after the file and keyed by its real path, size
 * and modification time, so a changed file gets a new copy; old copies are
 * not removed. Where no copy can be written (no such directory can be made,
 * a full disk) the pixels are decompressed into memory instead, without an
 * error. The labels are read into memory. An images file that gets shorter
 * while the dataset reads it makes get / get_batch fail with VOLT_ERR_IO.
 * Refuses image and label files whose counts differ. */
volt_dataset *volt_idx_dataset_new(const char *images_path, const char *labels_path);

typedef struct {
    const char *label_column; /* header name of the label column; NULL: the last column */
    char delimiter;           /* 0: ',' */
    bool no_header;           /* the first line is data; columns are named "0", "1", ... */
    bool float_label;         /* label as f32 (regression) instead of an i64 class index */
} volt_csv_options;

/* A CSV file of numbers (opt NULL: the defaults above): item i is row i,
 * "x" f32 [n_features] (every column but the label, in file order) and "y"
 * the label (i64 [] or f32 []). Refuses missing values (an empty field, NA,
 * NaN, null), text that is not a number, rows with the wrong number of fields,
 * a non-integer class label, an unknown label column and a file with no rows,
 * naming the file, the line and the column. */
volt_dataset *volt_csv_dataset_new(const char *path, const volt_csv_options *opt);

/* Token files for language modelling: a 32-byte little-endian header, then
 * n_tokens unsigned tokens of 2 or 4 bytes:
 *     bytes 0-7   "VOLTTOKS"      bytes 8-11  version (1)
 *     bytes 12-15 token width (2 or 4)
 *     bytes 16-23 n_tokens        bytes 24-31 zero
 * Writes tokens[0..n) (each in [0, 2^(8*width))) to `path`. */
volt_status volt_token_file_write(const char *path, int token_bytes, const int64_t *tokens,
                                  int64_t n);

typedef struct {
    int64_t seq_len; /* tokens per window (>= 1) */
    int64_t stride;  /* tokens between window starts; 0: seq_len */
} volt_token_options;

/* A memory-mapped token file: item i is the window starting at token
 * i * stride, "x" i64 [seq_len] = tokens[s, s + seq_len) and "y" i64 [seq_len]
 * = tokens[s + 1, s + seq_len + 1) (the next tokens). There are
 * (n_tokens - seq_len - 1) / stride + 1 items. Refuses a bad magic, an
 * unknown version or width, a size that does not match the header and a file
 * shorter than seq_len + 1 tokens. */
volt_dataset *volt_token_dataset_new(const char *path, const volt_token_options *opt);

/* -------------------------------------------------------------- samplers */

typedef struct volt_sampler volt_sampler;

/* A sampler yields, for its current epoch, `len` dataset indices. indices
 * must be a pure function of the sampler's configuration and epoch (that is
 * what makes resume exact). */
typedef struct {
    const char *name;
    int64_t (*len)(const volt_sampler *self);
    volt_status (*indices)(const volt_sampler *self, int64_t epoch, int64_t *out);
    void (*free)(volt_sampler *self);
} volt_sampler_ops;

struct volt_sampler {
    const volt_sampler_ops *ops;
    int64_t epoch; /* set by volt_sampler_set_epoch */
};

/* 0, 1, ..., n - 1. */
volt_sampler *volt_sequential_sampler_new(int64_t n);
/* A permutation of 0..n-1, a new one per epoch, from (seed, epoch). */
volt_sampler *volt_random_sampler_new(int64_t n, uint64_t seed);
/* num_samples indices drawn with probability proportional to weights[0..n)
 * (finite, >= 0, not all 0), with or without replacement (then num_samples
 * must not exceed the number of positive weights), from (seed, epoch). */
volt_sampler *volt_weighted_sampler_new(const double *weights, int64_t n, int64_t num_samples,
                                        bool replacement, uint64_t seed);
/* Shard `rank` of `world_size` of 0..n-1, PyTorch's DistributedSampler: the
 * (shuffled from (seed, epoch), or ordered) indices are padded by repeating
 * the first ones to a multiple of world_size, or cut to one with drop_last;
 * rank r takes every world_size-th index from r. Every shard has the same
 * length; together they cover every index (without drop_last). */
volt_sampler *volt_distributed_sampler_new(int64_t n, int rank, int world_size, bool shuffle,
                                           bool drop_last, uint64_t seed);

int64_t volt_sampler_len(const volt_sampler *s);
/* Selects the epoch (the loader calls it at the start of each epoch). */
void volt_sampler_set_epoch(volt_sampler *s, int64_t epoch);
/* Writes the current epoch's len indices into out. */
volt_status volt_sampler_indices(const volt_sampler *s, int64_t *out);
void volt_sampler_free(volt_sampler *s);

/* ------------------------------------------------------------ transforms */

/* Transforms act on the batch field "x", f32 images [B, C, H, W] or [B, H, W]
 * (C = 1), one item at a time, in the loader's workers. */
typedef enum {
    VOLT_TRANSFORM_NORMALIZE = 1,  /* (x - mean[c]) / std[c] */
    VOLT_TRANSFORM_RANDOM_CROP,    /* pad with zeros, then a random size x size window */
    VOLT_TRANSFORM_RANDOM_HFLIP,   /* mirror left-right with probability p */
    VOLT_TRANSFORM_RANDOM_ERASING, /* torchvision's RandomErasing, constant value */
    VOLT_TRANSFORM_CUSTOM,         /* fn(item, c, h, w, gen, ctx) in place */
} volt_transform_kind;

#define VOLT_TRANSFORM_MAX_CHANNELS 4

/* Make them with the constructors below. */
typedef struct {
    volt_transform_kind kind;
    int n_channels; /* normalize: 1 (all channels) or C */
    double mean[VOLT_TRANSFORM_MAX_CHANNELS];
    double std[VOLT_TRANSFORM_MAX_CHANNELS]; /* > 0 */
    int64_t size;                            /* crop: output height = width */
    int64_t padding;                         /* crop: zeros on each side */
    double p;                                /* flip, erasing: probability */
    double scale[2];                         /* erasing: area fraction range */
    double ratio[2];                         /* erasing: aspect ratio range */
    double value;                            /* erasing: fill value */
    volt_status (*fn)(float *item, int64_t c, int64_t h, int64_t w, volt_generator *gen, void *ctx);
    void *ctx;
} volt_transform;

volt_transform volt_transform_normalize(int n_channels, const double *mean, const double *std);
volt_transform volt_transform_random_crop(int64_t size, int64_t padding);
volt_transform volt_transform_random_hflip(double p);
/* Scale (0.02, 0.33), ratio (0.3, 3.3), value 0, as torchvision's defaults. */
volt_transform volt_transform_random_erasing(double p);
/* fn changes an item [c, h, w] in place, drawing from gen only. */
volt_transform volt_transform_custom(volt_status (*fn)(float *item, int64_t c, int64_t h, int64_t w,
                                                       volt_generator *gen, void *ctx),
                                     void *ctx);
/* Checks a transform's parameters (what the loader does when it is made). */
volt_status volt_transform_check(const volt_transform *t);

/* Applies transforms t[0..n) in order to every item of x (f32, [B, C, H, W]
 * or [B, H, W]); item j draws from the Philox stream of (seed, epoch,
 * indices[j]). Returns x itself, changed in place (x untouched when n is 0),
 * or a new tensor in the current scope when the list holds a crop. NULL +
 * error when x does not fit a transform. */
volt_tensor *volt_transforms_apply(const volt_transform *t, int n, volt_tensor *x,
                                   const int64_t *indices, uint64_t seed, int64_t epoch);

/* ----------------------------------------------------------- data loader */

#define VOLT_DATA_MAX_WORKERS 64

typedef struct {
    int64_t batch_size;               /* >= 1 */
    bool shuffle;                     /* a new permutation per epoch from (seed, epoch) */
    bool drop_last;                   /* drop the last, incomplete batch */
    int num_workers;                  /* 0: batches built in next(); 1..64 threads */
    int prefetch_factor;              /* batches built ahead per worker; 0: 2 */
    uint64_t seed;                    /* 0: volt_global_seed() when the loader is made */
    volt_sampler *sampler;            /* NULL: sequential or random; borrowed; not with shuffle */
    const volt_transform *transforms; /* applied to x in order (copied) */
    int n_transforms;
    bool flatten; /* x reshaped to [B, numel / B] after the transforms */
    bool keep_u8; /* u8 fields stay u8 (default: f32 = value / 255) */
} volt_data_loader_options;

typedef struct volt_data_loader volt_data_loader;

/* A loader over `ds` (borrowed). Refuses batch_size < 1, num_workers outside
 * [0, 64], prefetch_factor < 0, a sampler together with shuffle, a bad
 * transform. The dataset's length is read once, here. */
volt_data_loader *volt_data_loader_new(volt_dataset *ds, const volt_data_loader_options *opt);
/* Stops the workers (joined, prefetched batches freed) and frees the loader. */
void volt_data_loader_free(volt_data_loader *l);

/* Batches per epoch: ceil(n / batch_size), or floor with drop_last, where n
 * is the sampler's length (the dataset's without one), or after
 * volt_data_loader_set_distributed the shard's, ceil(n / world_size). -1
 * for NULL. */
int64_t volt_data_loader_len(const volt_data_loader *l);

/* Delivers the next batch of the current epoch into *out (its tensors in the
 * caller's innermost scope) and returns true. The first call of an epoch
 * computes its order and starts the workers, which build up to
 * prefetch_factor * num_workers batches ahead; batches arrive in order.
 * Returns false at the end of the epoch (the workers are joined and the
 * state moves to the next epoch, position 0: the next call starts it), or on
 * an error (volt_error_status() != VOLT_OK; a dataset's error raised in a
 * worker is re-raised here, when its batch is due; the position stays at
 * the failed batch). */
bool volt_data_loader_next(volt_data_loader *l, volt_batch *out);
/* With 0 workers, builds the batch the next call to next() delivers, now,
 * on the calling thread (a trainer does it while its other threads update
 * the parameters); next() then only hands it over. Nothing changes what is
 * delivered or the loader's state (the position counts delivered batches:
 * a checkpoint taken meanwhile resumes at the same batch). Does nothing
 * between epochs, at an epoch's end, with workers or when a batch is
 * already built ahead; an error while building is dropped here and raised
 * by next(), which builds the batch again. stop() frees a batch built
 * ahead. */
void volt_data_loader_prefetch(volt_data_loader *l);
/* What a delivered batch goes through: fn(ctx, batch) may replace the
 * batch's fields (with tensors in the caller's innermost scope) and returns
 * VOLT_OK, or an error with which next() then returns false (the batch
 * counted as delivered). */
typedef volt_status (*volt_data_loader_hook)(void *ctx, volt_batch *batch);
/* Every batch next() delivers passes through fn first, on the caller's
 * thread: Lightning's loader wrapping, e.g. volt_fabric_setup_dataloaders
 * moving batches to the fabric's device. One hook per loader; fn NULL
 * removes it. release (may be NULL) is called with ctx when the hook is
 * replaced or removed, or the loader freed. */
void volt_data_loader_set_hook(volt_data_loader *l, volt_data_loader_hook fn, void *ctx,
                               void (*release)(void *ctx));
/* Stops iterating early: joins the workers and frees the batches built ahead.
 * The position is kept, so the next call to next() resumes after the last
 * delivered batch; volt_data_loader_set_epoch restarts instead. */
void volt_data_loader_stop(volt_data_loader *l);
/* Stops, then selects `epoch` from its first batch. */
void volt_data_loader_set_epoch(volt_data_loader *l, int64_t epoch);

/* Distributed training: this loader delivers only shard `rank` of
 * `world_size` of every epoch (PyTorch's DistributedSampler, Lightning's
 * DistributedSamplerWrapper). The epoch's whole order — the sampler's
 * indices, the shuffled permutation, or 0..n-1 — is padded by repeating its
 * first indices to a multiple of world_size, and rank r takes the indices at
 * positions r, r + world_size, r + 2 * world_size, ...: the shards have the
 * same length, ceil(n / world_size), and together cover every index, the
 * padding (fewer than world_size indices) counted twice. batch_size and
 * drop_last apply to the shard. The order does not depend on the world
 * size (a shuffling loader's permutation is volt_random_sampler_new(n,
 * seed)'s), so the ranks' batch k together hold the items of batch k of one
 * process with world_size times the batch size. The ranks' shards are disjoint only when their
 * orders agree: every rank needs the same seed (volt_data_loader_set_seed; the trainer makes them
 * agree) and the same sampler (not a volt_distributed_sampler: that would
 * shard twice). world_size 1 restores the whole order (and the shuffle of a
 * loader never sharded). Stops the loader, keeps the epoch, restarts it from
 * its first batch (position 0); the state (position, n_batches) then counts
 * the shard's batches. VOLT_ERR_INVALID_ARGUMENT for
 * a NULL loader, world_size < 1, or a rank outside [0, world_size). */
volt_status volt_data_loader_set_distributed(volt_data_loader *l, int rank, int world_size);
/* The shard: rank 0 of 1 unless set_distributed changed it; -1 for NULL. */
int volt_data_loader_rank(const volt_data_loader *l);
int volt_data_loader_world_size(const volt_data_loader *l);
/* Stops the loader and replaces the seed its shuffle and transforms draw
 * from (taken as it is: 0 is a seed like any other); epoch and position are
 * kept. VOLT_ERR_INVALID_ARGUMENT for NULL. */
volt_status volt_data_loader_set_seed(volt_data_loader *l, uint64_t seed);

/* Everything needed to resume exactly: the next batch delivered after a
 * restore is batch `position` of epoch `epoch`. */
typedef struct {
    uint64_t seed;
    int64_t epoch;
    int64_t position;  /* batches delivered in this epoch */
    int64_t n_batches; /* batches per epoch of the loader that saved it */
} volt_data_loader_state;

volt_data_loader_state volt_data_loader_state_get(const volt_data_loader *l);
/* Stops, then restores. VOLT_ERR_INVALID_ARGUMENT when n_batches differs
 * from this loader's length, or epoch/position are out of range. */
volt_status volt_data_loader_state_set(volt_data_loader *l, const volt_data_loader_state *s);
/* The state as a JSON object text, {"seed": "12", "epoch": 3, "position": 5,
 * "n_batches": 469} (the seed a string: 64 bits do not fit a JSON number);
 * malloc'd, free() it. NULL + error on failure. */
char *volt_data_loader_state_to_json(const volt_data_loader_state *s);
volt_status volt_data_loader_state_from_json(const char *json, volt_data_loader_state *s);

/* ------------------------------------------------------------ datamodules */

typedef enum {
    VOLT_STAGE_FIT = 0,
    VOLT_STAGE_VALIDATE,
    VOLT_STAGE_TEST,
    VOLT_STAGE_PREDICT,
    VOLT_STAGE_COUNT
} volt_stage;

const char *volt_stage_name(volt_stage stage); /* "fit", "validate", ... */

typedef struct volt_datamodule volt_datamodule;

/* Lightning's LightningDataModule. A datamodule embeds volt_datamodule as its
 * first member and supplies a table; NULL entries mean: nothing to prepare or
 * set up, no such loader, an empty state ("{}"). The loaders it returns are
 * its own (the same one on every call) and live until it is freed. */
typedef struct {
    const char *name;
    volt_status (*prepare_data)(volt_datamodule *self); /* once per node: check/fetch files */
    volt_status (*setup)(volt_datamodule *self, volt_stage stage); /* every process */
    volt_data_loader *(*train_loader)(volt_datamodule *self);
    volt_data_loader *(*val_loader)(volt_datamodule *self);
    volt_data_loader *(*test_loader)(volt_datamodule *self);
    volt_data_loader *(*predict_loader)(volt_datamodule *self);
    volt_status (*teardown)(volt_datamodule *self, volt_stage stage);
    char *(*state_dict)(volt_datamodule *self); /* malloc'd JSON object text */
    volt_status (*load_state_dict)(volt_datamodule *self, const char *json);
    void (*free)(volt_datamodule *self);
} volt_datamodule_ops;

struct volt_datamodule {
    const volt_datamodule_ops *ops;
    /* private: */
    bool prepared;
    bool set_up[VOLT_STAGE_COUNT];
};

void volt_datamodule_init(volt_datamodule *dm, const volt_datamodule_ops *ops);
/* Runs prepare_data unless it already succeeded. */
volt_status volt_datamodule_prepare_data(volt_datamodule *dm);
/* Runs setup(stage) unless it already succeeded for that stage (since the
 * last teardown of it). */
volt_status volt_datamodule_setup(volt_datamodule *dm, volt_stage stage);
volt_status volt_datamodule_teardown(volt_datamodule *dm, volt_stage stage);
/* The loaders. Each first runs prepare_data and the matching setup (fit for
 * train; fit for val unless only validate has been set up; test; predict)
 * if they have not run. NULL without an error:
 * the datamodule has no such loader; NULL with an error: it failed. */
volt_data_loader *volt_datamodule_train_loader(volt_datamodule *dm);
volt_data_loader *volt_datamodule_val_loader(volt_datamodule *dm);
volt_data_loader *volt_datamodule_test_loader(volt_datamodule *dm);
volt_data_loader *volt_datamodule_predict_loader(volt_datamodule *dm);
/* malloc'd JSON object text (free() it); "{}" for a datamodule without state. */
char *volt_datamodule_state_dict(volt_datamodule *dm);
volt_status volt_datamodule_load_state_dict(volt_datamodule *dm, const char *json);
void volt_datamodule_free(volt_datamodule *dm);

/* The Fashion-MNIST datamodule (also reads MNIST: the same four files). */
typedef struct {
    const char *data_dir; /* NULL: /usr/share/datasets/fashion-mnist */
    int64_t batch_size;   /* >= 1 */
    int num_workers;      /* per loader */
    int prefetch_factor;  /* 0: 2 */
    int64_t val_size;     /* training items held out for validation; 0: 5000; -1: none */
    uint64_t seed;        /* split and shuffle seed; 0: volt_global_seed() */
    bool drop_last;       /* of the training loader */
    bool as_images;       /* x as [B, 1, 28, 28]; default [B, 784] (after transforms) */
    const volt_transform *train_transforms; /* training loader (copied) */
    int n_train_transforms;
    const volt_transform *eval_transforms; /* validation, test and predict loaders */
    int n_eval_transforms;
} volt_fashion_mnist_options;

#define VOLT_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* opt NULL: batch size 64, the defaults above. The files
 * {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] are looked for in
 * data_dir by prepare_data (a missing directory or file is an error naming
 * it); setup(fit) loads the training set and splits it with `seed` into
 * training and validation sets, setup(test/predict) loads the test set. The
 * training loader shuffles; the others do not. state_dict holds the
 * loaders' states ({"train": {...}, ...}). Refuses batch_size < 1, bad
 * worker counts or transforms. */
volt_datamodule *volt_fashion_mnist_new(const volt_fashion_mnist_options *opt);
/* Changes the batch size of every loader (the tuner's scale_batch_size):
 * the loaders are freed and rebuilt at the new size when next asked for
 * (their positions restart). Not while a run uses them. VOLT_ERR_INVALID_ARGUMENT
 * for batch_size < 1 or a datamodule not made by volt_fashion_mnist_new. */
volt_status volt_fashion_mnist_set_batch_size(volt_datamodule *dm, int64_t batch_size);

/* A datamodule over CSV files of numbers (volt_csv_dataset_new): rows
 * "x" f32 [B, n_features] and "y" (class indices, or f32 with
 * csv.float_label). Start from volt_csv_datamodule_defaults(). */
typedef struct {
    const char *train_path; /* required */
    const char *val_path;   /* NULL: val_fraction of the training rows held out */
    const char *test_path;  /* NULL: no test or predict loader; else both read it */
    double val_fraction;    /* 0.1; in [0, 1); 0: no validation (without val_path) */
    volt_csv_options csv;   /* label column, delimiter, header, float labels (all files) */
    int64_t batch_size;     /* 64; >= 1 */
    int num_workers;        /* 0; per loader, in [0, 64] */
    int prefetch_factor;    /* 0: 2 */
    uint64_t seed;          /* split and shuffle seed; 0: volt_global_seed() */
    bool drop_last;         /* of the training loader */
    bool normalize;         /* false; true: every feature column standardised with
                             * the mean and (population) standard deviation of the
                             * training rows (1 for a constant column), in every loader */
} volt_csv_datamodule_options;

volt_csv_datamodule_options volt_csv_datamodule_defaults(void);
/* Paths are copied. prepare_data checks the files can be read; setup(fit)
 * reads the training file (and the validation file) and splits it with
 * `seed` (val_fraction: floor(fraction * rows) rows, at least one, held
 * out); setup(test/predict) reads the test file. The files must have the
 * same number of feature columns. The training loader shuffles; the others
 * do not. state_dict holds the loaders' states, as Fashion-MNIST's does.
 * NULL + VOLT_ERR_INVALID_ARGUMENT naming the option: no train_path, a
 * val_fraction outside [0, 1), batch_size < 1, bad worker counts. */
volt_datamodule *volt_csv_datamodule_new(const volt_csv_datamodule_options *opt);

/* Character-level text. A byte vocabulary: the distinct bytes of a text in
 * ascending order, token i standing for byte chars[i] (UTF-8 text is taken
 * byte by byte: a multi-byte character is several tokens). */
typedef struct {
    int size;           /* distinct bytes, 0..256 */
    uint8_t chars[256]; /* token -> byte */
    int16_t index[256]; /* byte -> token; -1: not in the vocabulary */
} volt_char_vocab;

/* The vocabulary of text[0..n). */
void volt_char_vocab_build(volt_char_vocab *v, const void *text, int64_t n);
/* tokens[i] = the token of text[i], i < n. VOLT_ERR_INVALID_ARGUMENT naming
 * the first byte not in the vocabulary and its position. */
volt_status volt_char_vocab_encode(const volt_char_vocab *v, const char *text, int64_t n,
                                   int64_t *tokens);
/* text[i] = the byte of tokens[i], i < n, then text[n] = '\0' (room for
 * n + 1 bytes). VOLT_ERR_INVALID_ARGUMENT naming the first token outside
 * [0, size) (text then ends before it). */
volt_status volt_char_vocab_decode(const volt_char_vocab *v, const int64_t *tokens, int64_t n,
                                   char *text);

/* A datamodule of character-level language modelling (nanoGPT's
 * shakespeare_char): the bytes of `path` — a file, a directory (its
 * regular files in name order; hidden files, *.dat files — fortune's
 * indexes — and symbolic links skipped), or several of either separated by
 * ':' — concatenated, their vocabulary (volt_text_datamodule_vocab), the
 * text as tokens split into a training part and a validation part (the
 * last floor(val_fraction * n) tokens). Items are windows of block_size
 * tokens, "x" i64 [block_size] and "y" i64 [block_size] = the tokens one
 * further on (x shifted by one): training windows start every `stride`
 * tokens (0: block_size, windows side by side; 1: every position, a random
 * one per item with the shuffle, like nanoGPT's sampling), validation
 * windows every block_size. The training loader shuffles (seed); the
 * validation loader, and the test loader (which reads the validation part
 * too), do not; there is no predict loader. Start from
 * volt_text_datamodule_defaults(). */
typedef struct {
    const char *path;    /* required */
    int64_t block_size;  /* 128; >= 1 */
    int64_t stride;      /* 0: block_size */
    double val_fraction; /* 0.1; in [0, 1); 0: no validation part */
    int64_t batch_size;  /* 64; >= 1 */
    int num_workers;     /* 0; per loader, in [0, 64] */
    int prefetch_factor; /* 2 (0 also means 2) */
    uint64_t seed;       /* shuffle seed; 0: volt_global_seed() */
    bool drop_last;      /* of the training loader */
} volt_text_datamodule_options;

volt_text_datamodule_options volt_text_datamodule_defaults(void);
/* The path is copied. prepare_data checks that each path can be read;
 * setup (any stage) reads and encodes the text, once. NULL +
 * VOLT_ERR_INVALID_ARGUMENT naming the option: no path, block_size < 1,
 * stride < 0, val_fraction outside [0, 1), batch_size < 1, bad worker
 * counts. setup fails with VOLT_ERR_IO naming a path that cannot be read
 * (or a directory without text files), VOLT_ERR_INVALID_ARGUMENT when a
 * part is shorter than block_size + 1 tokens. */
volt_datamodule *volt_text_datamodule_new(const volt_text_datamodule_options *opt);
/* The vocabulary (owned by the datamodule), reading the text first when no
 * setup has; NULL + error (a missing file, a datamodule of another kind). */
const volt_char_vocab *volt_text_datamodule_vocab(volt_datamodule *dm);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_DATA_H */
