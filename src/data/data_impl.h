/* data_impl.h: declarations shared inside the data layer — the random
 * streams every data-side choice draws from, batch ownership helpers, and
 * the loader's internals shared by loader.c and loader_workers.c. */
#ifndef VOLT_DATA_IMPL_H
#define VOLT_DATA_IMPL_H

#include "core/core_impl.h"
#include "volt/data.h"

/* ------------------------------------------------------------ randomness */

/* Purposes, so that two uses of one seed never share a stream. */
enum {
    VOLT_DATA_STREAM_SHUFFLE = 1,
    VOLT_DATA_STREAM_TRANSFORM,
    VOLT_DATA_STREAM_SPLIT,
    VOLT_DATA_STREAM_WEIGHTED,
};

/* A Philox stream id mixed from (purpose, a, b) with splitmix64 steps. */
uint64_t volt_data_stream(uint64_t purpose, uint64_t a, uint64_t b);

/* A buffered reader of one Philox stream: uses all four words of a block. */
typedef struct {
    volt_generator gen;
    uint32_t buf[4];
    int used; /* words of buf already handed out */
} volt_data_rng;

void volt_data_rng_init(volt_data_rng *r, uint64_t seed, uint64_t stream);
uint32_t volt_data_rng_u32(volt_data_rng *r);
/* Uniform [0, 1) with 53 random bits. */
double volt_data_rng_uniform(volt_data_rng *r);
/* Uniform integer in [0, k) (k >= 1), from 64 random bits. */
uint64_t volt_data_rng_below(volt_data_rng *r, uint64_t k);
/* Fisher-Yates shuffle of a[0..n) drawing from stream (seed, stream). */
void volt_data_shuffle(int64_t *a, int64_t n, uint64_t seed, uint64_t stream);

/* ------------------------------------------------------------- batches */

/* Takes every tensor of b out of its scope: the caller owns them. */
void volt_batch_persist(volt_batch *b);
/* Registers every (caller-owned) tensor of b with the current scope. */
void volt_batch_adopt(volt_batch *b);
/* Replaces field i's tensor by t, freeing the old one (both caller-owned or
 * in the same scope), and keeps x/y in step. */
void volt_batch_replace(volt_batch *b, int i, volt_tensor *t);

/* An IO error naming the file and strerror(errno); returns VOLT_ERR_IO. */
volt_status volt_data_io_error(const char *what, const char *path);

/* ------------------------------------------------------ the IDX cache */

/* Uncompressed copies of gzip'd IDX files (idx_cache.c), none of which
 * records an error. cache_path: the malloc'd path of src's copy under
 * $XDG_CACHE_HOME/volt (else $HOME/.cache/volt; without HOME, the home
 * directory of the password database), named after src and keyed
 * by its real path, size and mtime; NULL when src is not a readable gzip
 * file or there is no cache directory. cache_begin: a new temporary file
 * beside cache_path (its directories made), its fd and *tmp_path, or -1.
 * cache_write appends n bytes (false on a failed write). cache_commit
 * fsyncs, closes and renames the temporary file to cache_path (false on
 * failure, the temporary file removed); cache_abort closes and removes it.
 * commit and abort free tmp_path. */
char *volt_idx_cache_path(const char *src);
int volt_idx_cache_begin(const char *cache_path, char **tmp_path);
bool volt_idx_cache_write(int fd, const void *data, size_t n);
bool volt_idx_cache_commit(int fd, char *tmp_path, const char *cache_path);
void volt_idx_cache_abort(int fd, char *tmp_path);

/* --------------------------------------------------------------- loader */

typedef struct volt_loader_pool volt_loader_pool;

struct volt_data_loader {
    volt_dataset *dataset;
    volt_data_loader_options opt; /* transforms -> the copy below */
    volt_transform *transforms;
    volt_sampler *sampler; /* borrowed; NULL: sequential or shuffled order */
    int64_t dataset_len;
    int64_t n_full;       /* indices of the whole epoch's order (all ranks) */
    int rank, world_size; /* this loader's shard (loader_distributed.c) */
    int64_t n_items;      /* indices per epoch of this shard (n_full for world 1) */
    int64_t n_batches;
    uint64_t seed;
    int64_t epoch;
    int64_t position;           /* batches delivered in this epoch */
    volt_data_loader_hook hook; /* NULL, or what each delivered batch goes through */
    void *hook_ctx;
    void (*hook_release)(void *ctx);
    /* the running epoch */
    bool running;
    int64_t *order;         /* n_items dataset indices */
    volt_loader_pool *pool; /* NULL with 0 workers */
    volt_batch ahead;       /* batch `position`, built early (volt_data_loader_prefetch) */
    bool has_ahead;
};

/* Sets n_items and n_batches from n_full, the shard and the batch size. */
void volt_loader_count(volt_data_loader *l);
/* Rank l->rank's shard of the whole order all[0..n_full) into
 * out[0..n_items): padded by repeating its first entries to a multiple of
 * world_size, every world_size-th entry from rank. */
void volt_loader_shard(const volt_data_loader *l, const int64_t *all, int64_t *out);

/* Builds batch k of the running epoch (order, transforms, flatten, u8
 * conversion) into *out with caller-owned tensors. Safe from any thread: it
 * only reads the loader. Opens and closes its own scope. */
volt_status volt_loader_build(const volt_data_loader *l, int64_t k, volt_batch *out);

/* The worker threads (loader_workers.c). pool_start spawns num_workers
 * threads that build batches [first, n_batches) of the running epoch into a
 * ring of prefetch_factor * num_workers slots. */
volt_loader_pool *volt_loader_pool_start(volt_data_loader *l, int64_t first);
/* Waits for batch k (the next in order) and moves it into *out: VOLT_OK, or
 * the status of the error raised while building it (re-recorded here). */
volt_status volt_loader_pool_take(volt_loader_pool *p, int64_t k, volt_batch *out);
/* Stops and joins the workers, frees undelivered batches and the pool. */
void volt_loader_pool_stop(volt_loader_pool *p);

/* Datamodules that keep their four loaders in an array indexed like this
 * (datamodule_loaders.c): the state dict {"train": {...}, ...} of the
 * loaders made so far, its restore (which makes the loaders it names
 * through the datamodule's getters), and teardown(stage) freeing the
 * stage's loaders. `who` prefixes error messages. */
enum { VOLT_DM_TRAIN, VOLT_DM_VAL, VOLT_DM_TEST, VOLT_DM_PREDICT, VOLT_DM_LOADERS };
extern const char *const volt_dm_loader_keys[VOLT_DM_LOADERS];
char *volt_dm_loaders_state_dict(volt_data_loader *const *loaders, const char *who);
volt_status volt_dm_loaders_load_state_dict(volt_datamodule *dm, const char *json, const char *who);
void volt_dm_loaders_teardown(volt_data_loader **loaders, volt_stage stage);

#endif
