/* test_checkpoint.c: checkpoints written by the trainer — their contents,
 * exact resume from each place in the loop a checkpoint can be written
 * (mid-epoch after a batch, after a mid-epoch validation, at epoch end,
 * between epochs) against an uninterrupted run, also with the next batch
 * built during each optimizer step (two threads), "last" and "best", module
 * hooks adding entries, preemption by SIGTERM, and bad files refused with a
 * clear message before anything runs or is written. */
#include <signal.h>
#include <sys/stat.h>

#include "train_fixture.h"

#include "ops/cpu/parallel.h"

/* ------------------------------------------------------------ the setup */

/* The tiny training set, counting the items it builds (to see batches
 * built ahead during the optimizer step). */
typedef struct {
    volt_dataset base;
    volt_dataset *inner;
} counting_ds;

static int64_t items_built;

static int64_t cd_len(const volt_dataset *self) {
    return volt_dataset_len(((const counting_ds *)self)->inner);
}
static volt_status cd_get(const volt_dataset *self, int64_t i, volt_sample *out) {
    __atomic_fetch_add(&items_built, 1, __ATOMIC_RELAXED);
    return volt_dataset_get(((const counting_ds *)self)->inner, i, out);
}
static void cd_free(volt_dataset *self) {
    volt_dataset_free(((counting_ds *)self)->inner);
    free(self);
}
static const volt_dataset_ops counting_ops = {
    .name = "counting", .len = cd_len, .get = cd_get, .free = cd_free};

/* A shuffled training loader (its position matters on resume), validation
 * twice per epoch, and a noisy loss that draws from the default generator
 * (the generator's state matters too). */
typedef struct {
    volt_datamodule base;
    volt_dataset *train_ds, *val_ds;
    volt_data_loader *train, *val;
} shuf_dm;

static volt_data_loader *sd_train(volt_datamodule *d) { return ((shuf_dm *)d)->train; }
static volt_data_loader *sd_val(volt_datamodule *d) { return ((shuf_dm *)d)->val; }
static void sd_free(volt_datamodule *d) {
    shuf_dm *dm = (shuf_dm *)d;
    volt_data_loader_free(dm->train);
    volt_data_loader_free(dm->val);
    volt_dataset_free(dm->train_ds);
    volt_dataset_free(dm->val_ds);
    free(dm);
}
static const volt_datamodule_ops shuf_ops = {
    .name = "shuf", .train_loader = sd_train, .val_loader = sd_val, .free = sd_free};

static volt_datamodule *shuf_dm_new(void) {
    shuf_dm *dm = calloc(1, sizeof *dm);
    volt_datamodule_init(&dm->base, &shuf_ops);
    counting_ds *train = calloc(1, sizeof *train);
    *train = (counting_ds){{&counting_ops}, tiny_dataset(40, 3, 0)};
    dm->train_ds = &train->base;
    dm->val_ds = tiny_dataset(12, 3, 1000);
    dm->train = volt_data_loader_new(
        dm->train_ds, &(volt_data_loader_options){.batch_size = 4, .shuffle = true, .seed = 7});
    dm->val = volt_data_loader_new(dm->val_ds, &(volt_data_loader_options){.batch_size = 4});
    return &dm->base;
}

static volt_tensor *noisy_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    lin_module *m = (lin_module *)self;
    volt_tensor *loss = volt_mse_loss(lin_forward(m, b->x), b->y, VOLT_REDUCTION_MEAN);
    volt_tensor *noise = volt_rand(0, NULL, VOLT_F64, NULL);
    volt_log(step, "train_loss", loss, 0);
    return volt_mul(loss, volt_add_scalar(volt_mul_scalar(noise, 0.1), 1.0));
}

static volt_tensor *val_step(volt_module *self, volt_batch *b, int64_t i, volt_step *step) {
    (void)i;
    lin_module *m = (lin_module *)self;
    volt_log(step, "val_loss", volt_mse_loss(lin_forward(m, b->x), b->y, VOLT_REDUCTION_MEAN), 0);
    return NULL;
}

/* SGD with momentum and a step-interval StepLR, or (use_plateau) an
 * epoch-interval ReduceLROnPlateau on val_loss: optimizer and scheduler
 * state matter, and for the plateau one the restored callback metrics. */
static bool use_plateau;

static volt_status sched_configure(volt_module *self, volt_optim_setup *o) {
    volt_optimizer *sgd = volt_sgd_new(volt_module_parameters(self),
                                       &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
    if (!use_plateau)
        return volt_optim_setup_add(o, sgd, volt_step_lr_new(sgd, 7, 0.5), VOLT_INTERVAL_STEP);
    volt_plateau_options po = volt_plateau_defaults();
    po.patience = 0;
    po.factor = 0.5;
    po.threshold = 0.5; /* any rise within 50%: "no improvement" */
    return volt_optim_setup_add_ex(
        o, sgd, volt_reduce_lr_on_plateau_new(sgd, &po),
        &(volt_lr_scheduler_config){.monitor = "val_loss", .strict = true});
}

static int hook_saves, hook_loads;
static char hook_seen[64];

static volt_status save_hook(volt_module *self, volt_step *step) {
    volt_checkpoint *ck = volt_step_checkpoint(step);
    hook_saves++;
    volt_status st = volt_checkpoint_set_meta(ck, "note", "hello");
    if (!st)
        st =
            volt_checkpoint_add_tensor(ck, "extra.w2", volt_mul_scalar(((lin_module *)self)->w, 2));
    return st;
}

static volt_status load_hook(volt_module *self, volt_step *step) {
    (void)self;
    volt_checkpoint *ck = volt_step_checkpoint(step);
    hook_loads++;
    const char *note = volt_checkpoint_meta(ck, "note");
    snprintf(hook_seen, sizeof hook_seen, "%s", note ? note : "(none)");
    return volt_checkpoint_tensor(ck, "extra.w2") ? VOLT_OK : volt_error_status();
}

static const volt_module_ops noisy_ops = {
    .name = "noisy",
    .training_step = noisy_step,
    .validation_step = val_step,
    .test_step = val_step,
    .configure_optimizers = sched_configure,
    .on_save_checkpoint = save_hook,
    .on_load_checkpoint = load_hook,
};

/* Each run starts from other weights: a resumed run must take the
 * checkpoint's. */
static void noisy_init(lin_module *m, double scale) {
    lin_init(m, &noisy_ops, 3, 0.05);
    double *w = volt_tensor_data(m->w);
    for (int j = 0; j < 3; j++) w[j] *= scale;
}

static int resume_threads = 1;

static volt_trainer_config resume_config(int64_t epochs) {
    volt_trainer_config c = quiet_config();
    c.num_threads = resume_threads;
    c.max_epochs = epochs;
    c.seed = 3;
    c.deterministic = true;
    c.val_check_interval = 0.5;
    c.num_sanity_val_steps = 1;
    return c;
}

/* A callback that saves to `path` at one place of the loop. */
typedef enum { AT_BATCH_END, AT_VALIDATION_END, AT_EPOCH_END } save_place;
typedef struct {
    volt_callback base;
    save_place place;
    int64_t epoch, when; /* batch index (AT_BATCH_END) or occurrence within the epoch */
    int64_t seen;
    const char *path;
    bool stop_after; /* a failure right after saving: the "crash" */
} saver;

static volt_status saver_maybe(saver *s, volt_step *step, save_place place, int64_t idx) {
    volt_trainer *t = volt_step_trainer(step);
    if (s->place != place || volt_trainer_current_epoch(t) != s->epoch || idx != s->when)
        return VOLT_OK;
    volt_status st = volt_trainer_save_checkpoint(t, s->path, false);
    if (!st && s->stop_after) st = volt_error_set(VOLT_ERR_STATE, "simulated crash");
    return st;
}
static volt_status sv_batch_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    return saver_maybe((saver *)self, step, AT_BATCH_END, volt_step_batch_idx(step));
}
static volt_status sv_val_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    if (volt_trainer_sanity_checking(volt_step_trainer(step))) return VOLT_OK;
    saver *s = (saver *)self;
    return saver_maybe(s, step, AT_VALIDATION_END, s->seen++ % 2);
}
static volt_status sv_epoch_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    return saver_maybe((saver *)self, step, AT_EPOCH_END, 0);
}
static const volt_callback_ops saver_ops = {
    .name = "saver",
    .on_train_batch_end = sv_batch_end,
    .on_validation_end = sv_val_end,
    .on_train_epoch_end = sv_epoch_end,
};

/* Counts the optimizer steps during which the training set built items:
 * the next batch, built ahead while the other threads update. */
static int64_t built_before, steps_building;
static volt_status ahead_before_step(volt_callback *self, volt_module *m, volt_step *step) {
    (void)self, (void)m, (void)step;
    built_before = items_built;
    return VOLT_OK;
}
static volt_status ahead_batch_end(volt_callback *self, volt_module *m, volt_step *step) {
    (void)self, (void)m, (void)step;
    steps_building += items_built > built_before;
    built_before = items_built;
    return VOLT_OK;
}
static const volt_callback_ops ahead_ops = {.name = "ahead",
                                            .on_before_optimizer_step = ahead_before_step,
                                            .on_train_batch_end = ahead_batch_end};

/* Counts and remembers state for the resume checks. */
typedef struct {
    double w[3], b;
    int64_t global_step;
    double lr, val_loss;
} outcome;

static outcome outcome_of(volt_trainer *t, lin_module *m) {
    outcome o;
    memcpy(o.w, volt_tensor_data(m->w), sizeof o.w);
    o.b = *(double *)volt_tensor_data(m->b);
    o.global_step = volt_trainer_global_step(t);
    o.lr = volt_optimizer_lr(volt_trainer_optimizer(t, 0), 0);
    o.val_loss = volt_metrics_get(volt_trainer_callback_metrics(t), "val_loss");
    return o;
}

static void assert_same(const outcome *a, const outcome *b) {
    assert_memory_equal(a->w, b->w, sizeof a->w); /* bit for bit */
    assert_memory_equal(&a->b, &b->b, sizeof a->b);
    assert_int_equal(a->global_step, b->global_step);
    assert_memory_equal(&a->lr, &b->lr, sizeof a->lr);
    assert_memory_equal(&a->val_loss, &b->val_loss, sizeof a->val_loss);
}

/* The uninterrupted run of `epochs` epochs. */
static outcome straight_run(int64_t epochs) {
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(epochs);
    volt_trainer *t = volt_trainer_new(&c);
    volt_callback ahead = {.ops = &ahead_ops};
    assert_int_equal(volt_trainer_add_callback(t, &ahead), VOLT_OK);
    lin_module m;
    noisy_init(&m, 1.0);
    steps_building = 0;
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    outcome o = outcome_of(t, &m);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
    return o;
}

/* A run that saves at `place` then crashes, and a new process-like run
 * (new trainer, module with other weights, new datamodule) resumed from
 * the file. */
static outcome crashed_and_resumed(save_place place, int64_t epoch, int64_t when,
                                   const char *path) {
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(3);
    volt_trainer *t = volt_trainer_new(&c);
    saver *s = calloc(1, sizeof *s);
    *s = (saver){.base.ops = &saver_ops,
                 .place = place,
                 .epoch = epoch,
                 .when = when,
                 .path = path,
                 .stop_after = true};
    assert_int_equal(volt_trainer_add_callback(t, &s->base), VOLT_OK);
    lin_module m;
    noisy_init(&m, 1.0);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "simulated crash");
    volt_trainer_free(t);
    free(s);
    volt_checkpoint *ck = volt_checkpoint_open(path);
    assert_non_null(ck);
    assert_non_null(volt_checkpoint_meta(ck, "train_loader"));
    assert_non_null(volt_checkpoint_meta(ck, "datamodule"));
    volt_checkpoint_close(ck);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);

    dm = shuf_dm_new();
    t = volt_trainer_new(&c);
    noisy_init(&m, -3.0);
    hook_loads = 0;
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, path), VOLT_OK);
    assert_int_equal(hook_loads, 1);
    assert_string_equal(hook_seen, "hello");
    assert_string_equal(volt_trainer_ckpt_path(t), path);
    outcome o = outcome_of(t, &m);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
    return o;
}

/* dir/name in buf (1200 bytes). */
static char *file_in(char *buf, const char *dir, const char *name) {
    if (snprintf(buf, 1200, "%s/%s", dir, name) >= 1200) fail_msg("path too long");
    return buf;
}

/* ------------------------------------------------------------ the tests */

static void resume_cases(void) {
    outcome want = straight_run(3);
    const char *dir = fresh_dir("ckpt_resume");
    char path[1200];
    struct {
        save_place place;
        int64_t epoch, when;
    } cases[] = {
        {AT_BATCH_END, 0, 3},      /* mid-epoch, after a batch, before validation */
        {AT_BATCH_END, 1, 4},      /* the batch validation follows */
        {AT_BATCH_END, 1, 9},      /* the epoch's last batch */
        {AT_VALIDATION_END, 1, 0}, /* after the mid-epoch validation */
        {AT_VALIDATION_END, 0, 1}, /* after the epoch-end validation */
        {AT_EPOCH_END, 1, 0},      /* on_train_epoch_end */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char name[32];
        snprintf(name, sizeof name, "case%zu.ckpt", k);
        file_in(path, dir, name);
        outcome got = crashed_and_resumed(cases[k].place, cases[k].epoch, cases[k].when, path);
        assert_same(&got, &want);
    }
}

static void test_resume_equals_uninterrupted(void **state) {
    (void)state;
    use_plateau = false;
    resume_cases();
    use_plateau = true;
    resume_cases();
    use_plateau = false;
}

/* With a team of two and every loop parallel, each optimizer step but an
 * epoch's last builds the next batch (volt_data_loader_prefetch beside the
 * update): the same outcome as one thread, and the same on resume. */
static void test_resume_with_batches_built_ahead(void **state) {
    (void)state;
    outcome plain = straight_run(3);
    assert_int_equal(steps_building, 0);
    resume_threads = 2;
    volt_cpu_set_region_ns(0);
    outcome ahead = straight_run(3);
    assert_int_equal(steps_building, 3 * (10 - 1));
    assert_same(&ahead, &plain);
    resume_cases();
    volt_cpu_set_region_ns(-1);
    resume_threads = 1;
}

static void test_resume_between_epochs(void **state) {
    (void)state;
    outcome want = straight_run(3);
    char path[1200];
    file_in(path, fresh_dir("ckpt_between"), "after2.ckpt");
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(2);
    volt_trainer *t = volt_trainer_new(&c);
    lin_module m;
    noisy_init(&m, 1.0);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_save_checkpoint(t, path, false), VOLT_OK);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);

    dm = shuf_dm_new();
    c.max_epochs = 3;
    t = volt_trainer_new(&c);
    noisy_init(&m, 5.0);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, path), VOLT_OK);
    outcome got = outcome_of(t, &m);
    assert_same(&got, &want);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_checkpoint_contents(void **state) {
    (void)state;
    char path[1200];
    file_in(path, fresh_dir("ckpt_contents"), "sub/dir/c.ckpt");
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(1);
    volt_trainer *t = volt_trainer_new(&c);
    lin_module m;
    noisy_init(&m, 1.0);
    volt_module_set_hparam_double(&m.base, "lr", 0.05);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    hook_saves = 0;
    assert_int_equal(volt_trainer_save_checkpoint(t, path, false), VOLT_OK); /* makes sub/dir */
    assert_int_equal(hook_saves, 1);

    volt_checkpoint *ck = volt_checkpoint_open(path);
    assert_non_null(ck);
    assert_int_equal(volt_checkpoint_epoch(ck), 1);
    assert_int_equal(volt_checkpoint_global_step(ck), 10);
    assert_false(volt_checkpoint_weights_only(ck));
    volt_safetensors *f = volt_checkpoint_file(ck);
    const char *want[] = {"state_dict.w", "state_dict.b", "optimizer.0.w.momentum_buffer",
                          "optimizer.0.b.momentum_buffer", "extra.w2"};
    assert_int_equal(volt_safetensors_count(f), 5);
    for (int i = 0; i < 5; i++) assert_string_equal(volt_safetensors_name(f, i), want[i]);
    const char *keys[] = {"format",  "volt_version", "epoch",         "global_step", "weights_only",
                          "loops",   "optimizers",   "lr_schedulers", "callbacks",   "rng",
                          "hparams", "precision",    "checksum",      "note"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        assert_non_null(volt_checkpoint_meta(ck, keys[i]));
    assert_null(volt_checkpoint_meta(ck, "train_loader")); /* written after fit: no loader */
    assert_string_equal(volt_checkpoint_meta(ck, "format"), "volt-checkpoint-1");
    assert_string_equal(volt_checkpoint_meta(ck, "volt_version"), volt_version());
    assert_string_equal(volt_checkpoint_meta(ck, "hparams"), "{\"lr\":0.05}");
    assert_non_null(strstr(volt_checkpoint_meta(ck, "loops"), "\"phase\":\"epoch_start\""));
    assert_non_null(strstr(volt_checkpoint_meta(ck, "lr_schedulers"), "StepLR"));
    /* the saved weights are the module's, byte for byte */
    volt_tensor *w = volt_checkpoint_tensor(ck, "state_dict.w");
    assert_memory_equal(volt_tensor_data(w), volt_tensor_data(m.w), 3 * sizeof(double));
    volt_tensor *w2 = volt_checkpoint_tensor(ck, "extra.w2");
    assert_true(volt_tensor_get_flat(w2, 1) == 2 * volt_tensor_get_flat(m.w, 1));
    assert_null(volt_checkpoint_tensor(ck, "nope"));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "no tensor 'nope'");
    /* reading side: adding is refused */
    assert_int_equal(volt_checkpoint_set_meta(ck, "x", "y"), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "is being read");
    volt_checkpoint_close(ck);

    /* weights only: no training state, and fit refuses to resume from it */
    char wpath[1200];
    file_in(wpath, fresh_dir("ckpt_contents_w"), "w.ckpt");
    assert_int_equal(volt_trainer_save_checkpoint(t, wpath, true), VOLT_OK);
    ck = volt_checkpoint_open(wpath);
    assert_true(volt_checkpoint_weights_only(ck));
    assert_null(volt_checkpoint_meta(ck, "loops"));
    assert_int_equal(volt_safetensors_count(volt_checkpoint_file(ck)), 3); /* w, b, extra.w2 */
    volt_checkpoint_close(ck);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, wpath), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "is weights-only: fit cannot resume from it");

    /* load_from_checkpoint of the weights into another module */
    lin_module m2;
    noisy_init(&m2, 9.0);
    assert_int_equal(volt_module_load_checkpoint(&m2.base, wpath, true, NULL), VOLT_OK);
    assert_memory_equal(volt_tensor_data(m2.w), volt_tensor_data(m.w), 3 * sizeof(double));
    volt_module_free(&m2.base);

    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static volt_status bad_save_hook(volt_module *self, volt_step *step) {
    (void)self;
    volt_checkpoint *ck = volt_step_checkpoint(step);
    volt_status st = volt_checkpoint_set_meta(ck, "epoch", "7");
    assert_int_equal(st, VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "'epoch' is a key of the checkpoint format");
    st = volt_checkpoint_add_tensor(ck, "state_dict.evil", ((lin_module *)self)->w);
    assert_int_equal(st, VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "the prefixes state_dict. and optimizer.");
    return volt_error_set(VOLT_ERR_STATE, "hook says no");
}

static void test_save_failures_keep_previous_file(void **state) {
    (void)state;
    char dir[1200], path[1200], blocked[1200];
    snprintf(dir, sizeof dir, "%s", fresh_dir("ckpt_savefail"));
    file_in(path, dir, "c.ckpt");
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(1);
    volt_trainer *t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_save_checkpoint(t, path, false), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "the trainer has no module yet");
    lin_module m;
    noisy_init(&m, 1.0);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_save_checkpoint(t, path, false), VOLT_OK);
    struct stat before;
    assert_int_equal(stat(path, &before), 0);

    static const volt_module_ops refusing = {.name = "refusing",
                                             .training_step = noisy_step,
                                             .configure_optimizers = sched_configure,
                                             .on_save_checkpoint = bad_save_hook};
    m.base.ops = &refusing;
    assert_int_equal(volt_trainer_save_checkpoint(t, path, false), VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "on_save_checkpoint failed at epoch 1: hook says no");
    m.base.ops = &noisy_ops;
    /* a directory in the way of the file */
    file_in(blocked, dir, "c.ckpt/inner.ckpt");
    assert_int_not_equal(volt_trainer_save_checkpoint(t, blocked, false), VOLT_OK);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "is not a directory");
    struct stat after;
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(volt_checkpoint_verify(path), VOLT_OK);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

/* Writes `n` bytes of `data` to `path`. */
static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(*n);
    assert_int_equal(fread(buf, 1, *n, f), *n);
    fclose(f);
    return buf;
}

/* fit from `path` fails with `status` and `msg`, trains nothing, writes
 * nothing, and leaves the module's weights alone. */
static void assert_refused(const char *path, volt_status status, const char *msg) {
    const char *root = fresh_dir("ckpt_refused_root");
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(1);
    c.default_root_dir = root;
    c.logger = true;
    c.enable_checkpointing = true;
    volt_trainer *t = volt_trainer_new(&c);
    lin_module m;
    noisy_init(&m, 1.0);
    double w[3];
    memcpy(w, volt_tensor_data(m.w), sizeof w);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, path), status);
    VT_ASSERT_ERROR(status, msg);
    assert_int_equal(volt_trainer_global_step(t), 0);
    assert_memory_equal(volt_tensor_data(m.w), w, sizeof w);
    char probe[1200];
    file_in(probe, root, "volt_logs");
    struct stat sb;
    assert_int_not_equal(stat(probe, &sb), 0); /* no log directory made */
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_bad_checkpoints_refused(void **state) {
    (void)state;
    char dir[1200], good[1200], bad[1200];
    snprintf(dir, sizeof dir, "%s", fresh_dir("ckpt_bad"));
    file_in(good, dir, "good.ckpt");
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(1);
    volt_trainer *t = volt_trainer_new(&c);
    lin_module m;
    noisy_init(&m, 1.0);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_save_checkpoint(t, good, false), VOLT_OK);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
    size_t n;
    char *bytes = read_all(good, &n);

    file_in(bad, dir, "truncated.ckpt");
    write_bytes(bad, bytes, n - 9);
    assert_refused(bad, VOLT_ERR_FORMAT, "truncated.ckpt");
    file_in(bad, dir, "empty.ckpt");
    write_bytes(bad, bytes, 0);
    assert_refused(bad, VOLT_ERR_FORMAT, "too short for a header");
    file_in(bad, dir, "text.ckpt");
    write_bytes(bad, "hello, this is not a checkpoint at all\n", 39);
    assert_refused(bad, VOLT_ERR_FORMAT, "text.ckpt");
    file_in(bad, dir, "flipped.ckpt");
    bytes[n - 3] ^= 0x10; /* a bit of the last tensor */
    write_bytes(bad, bytes, n);
    bytes[n - 3] ^= 0x10;
    assert_refused(bad, VOLT_ERR_FORMAT, "checksum mismatch");
    assert_refused(file_in(bad, dir, "missing.ckpt"), VOLT_ERR_IO, "missing.ckpt");
    free(bytes);

    /* a plain safetensors file: not a checkpoint */
    file_in(bad, dir, "plain.safetensors");
    volt_scope_begin();
    volt_tensor *x = volt_zeros(1, (int64_t[]){2}, VOLT_F32);
    assert_int_equal(volt_safetensors_save(bad, 1, (const char *const[]){"x"}, &x, NULL), VOLT_OK);
    volt_scope_end();
    assert_refused(bad, VOLT_ERR_FORMAT, "not a volt checkpoint");

    /* the checkpoint of another model: another shape, or a key missing */
    lin_module other;
    lin_init(&other, &noisy_ops, 4, 0.05);
    assert_int_equal(volt_module_load_checkpoint(&other.base, good, true, NULL), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "good.ckpt: load_state_dict: the state dict does not match");
    volt_module_free(&other.base);

    /* a module with an extra parameter: "missing" */
    lin_module extra;
    noisy_init(&extra, 1.0);
    volt_scope_begin();
    volt_module_add_parameter(&extra.base, "gain", volt_ones(1, (int64_t[]){1}, VOLT_F64));
    volt_scope_end();
    dm = shuf_dm_new();
    t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit(t, &extra.base, dm, good), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "key 'state_dict.gain' is missing");
    /* ... and the other way round: "unexpected" */
    file_in(bad, dir, "extra.ckpt");
    assert_int_equal(volt_trainer_fit(t, &extra.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_save_checkpoint(t, bad, false), VOLT_OK);
    volt_trainer_free(t);
    t = volt_trainer_new(&c);
    lin_module plain;
    noisy_init(&plain, 1.0);
    assert_int_equal(volt_trainer_fit(t, &plain.base, dm, bad), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "unexpected key 'state_dict.gain'");
    volt_module_free(&plain.base);
    volt_trainer_free(t);
    volt_module_free(&extra.base);
    volt_datamodule_free(dm);
}

static void test_last_and_best(void **state) {
    (void)state;
    const char *root = fresh_dir("ckpt_last");
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(2);
    c.default_root_dir = root;
    c.logger = true;
    c.enable_checkpointing = true;
    lin_module m;
    noisy_init(&m, 1.0);
    volt_trainer *t = volt_trainer_new(&c);
    /* nothing there yet: a warning and a fresh start */
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, "last"), VOLT_OK);
    assert_null(volt_trainer_ckpt_path(t));
    assert_int_equal(volt_trainer_global_step(t), 20);
    /* "best" without a monitor: the latest checkpoint the ModelCheckpoint kept */
    volt_metrics *res = NULL;
    assert_int_equal(volt_trainer_validate(t, &m.base, dm, "best", &res), VOLT_OK);
    assert_non_null(strstr(volt_trainer_ckpt_path(t), "epoch=1-step=20.ckpt"));
    volt_metrics_free(res);
    volt_trainer_free(t);

    /* a save_last ModelCheckpoint: a new trainer resumes from last.ckpt */
    t = volt_trainer_new(&c);
    volt_model_checkpoint_options o = volt_model_checkpoint_defaults();
    o.save_last = VOLT_SAVE_LAST_YES;
    assert_int_equal(volt_trainer_add_callback(t, volt_model_checkpoint_new(&o)), VOLT_OK);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    volt_trainer_free(t);
    c.max_epochs = 3;
    t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, "last"), VOLT_OK);
    assert_non_null(strstr(volt_trainer_ckpt_path(t), "last.ckpt"));
    assert_int_equal(volt_trainer_global_step(t), 30); /* 20 restored + 10 */
    volt_trainer_free(t);

    /* "best" without any ModelCheckpoint */
    c.enable_checkpointing = false;
    t = volt_trainer_new(&c);
    assert_int_equal(volt_trainer_test(t, &m.base, dm, "best", NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "no ModelCheckpoint callback");
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

/* Raises SIGTERM at one batch end, as a cluster scheduler would. */
static volt_status raise_at(volt_callback *self, volt_module *m, volt_step *step) {
    (void)self, (void)m;
    volt_trainer *t = volt_step_trainer(step);
    if (volt_trainer_current_epoch(t) == 1 && volt_step_batch_idx(step) == 2) raise(SIGTERM);
    return VOLT_OK;
}
static const volt_callback_ops raiser_ops = {.name = "raiser", .on_train_batch_end = raise_at};

static void test_preemption_saves_and_resumes(void **state) {
    (void)state;
    outcome want = straight_run(3);
    char root[1200], last[1200];
    snprintf(root, sizeof root, "%s", fresh_dir("ckpt_preempt"));
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(3);
    c.default_root_dir = root;
    volt_trainer *t = volt_trainer_new(&c);
    static volt_callback raiser = {.ops = &raiser_ops};
    assert_int_equal(volt_trainer_add_callback(t, &raiser), VOLT_OK);
    assert_int_equal(volt_trainer_add_callback(t, volt_preemption_new(NULL)), VOLT_OK);
    lin_module m;
    noisy_init(&m, 1.0);
    volt_status st = volt_trainer_fit(t, &m.base, dm, NULL);
    assert_int_equal(st, VOLT_ERR_STATE);
    VT_ASSERT_ERROR(VOLT_ERR_STATE, "preempted (SIGTERM): checkpoint saved to");
    assert_int_equal(volt_exit_code(t, st), VOLT_EXIT_PREEMPTED);
    assert_int_equal(volt_trainer_global_step(t), 13);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
    assert_int_equal(volt_checkpoint_verify(file_in(last, root, "checkpoints/last.ckpt")), VOLT_OK);
    /* the handler is gone once fit ended: SIGTERM is ignored here to prove
     * nothing else catches it */
    struct sigaction now;
    sigaction(SIGTERM, NULL, &now);
    assert_true(now.sa_handler == SIG_DFL);

    dm = shuf_dm_new();
    t = volt_trainer_new(&c);
    noisy_init(&m, 2.0);
    st = volt_trainer_fit(t, &m.base, dm, "last");
    assert_int_equal(st, VOLT_OK);
    assert_int_equal(volt_exit_code(t, st), 0);
    outcome got = outcome_of(t, &m);
    assert_same(&got, &want);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_datamodule_free(dm);
}

static void test_validate_from_checkpoint(void **state) {
    (void)state;
    char path[1200];
    file_in(path, fresh_dir("ckpt_validate"), "v.ckpt");
    volt_datamodule *dm = shuf_dm_new();
    volt_trainer_config c = resume_config(1);
    volt_trainer *t = volt_trainer_new(&c);
    lin_module m;
    noisy_init(&m, 1.0);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    assert_int_equal(volt_trainer_save_checkpoint(t, path, true), VOLT_OK);
    volt_metrics *a = NULL, *b = NULL;
    assert_int_equal(volt_trainer_validate(t, &m.base, dm, NULL, &a), VOLT_OK);
    lin_module fresh;
    noisy_init(&fresh, 4.0);
    hook_loads = 0;
    assert_int_equal(volt_trainer_validate(t, &fresh.base, dm, path, &b), VOLT_OK);
    assert_int_equal(hook_loads, 1);
    assert_true(volt_metrics_get(a, "val_loss") == volt_metrics_get(b, "val_loss"));
    volt_metrics_free(a);
    volt_metrics_free(b);
    volt_trainer_free(t);
    volt_module_free(&m.base);
    volt_module_free(&fresh.base);
    volt_datamodule_free(dm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_resume_equals_uninterrupted),
        VT_TEST(test_resume_with_batches_built_ahead),
        VT_TEST(test_resume_between_epochs),
        VT_TEST(test_checkpoint_contents),
        VT_TEST(test_save_failures_keep_previous_file),
        VT_TEST(test_bad_checkpoints_refused),
        VT_TEST(test_last_and_best),
        VT_TEST(test_preemption_saves_and_resumes),
        VT_TEST(test_validate_from_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
