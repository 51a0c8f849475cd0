/* test_tfevents.c: TensorBoard event files — CRC-32C and its masking on
 * known answers, a TFRecord's framing bytes (computed with TensorBoard's
 * own Python crc32c), and files read back here with a small protobuf
 * decoder of our own: the writer's records (file_version first, scalars,
 * the hparams plugin's session summaries), the file name, the logger's
 * buffering (flush_secs), directories, versions and bad arguments, the
 * trainer's default CSV + TensorBoard loggers sharing version_<N>, and a
 * trainer's runs (fit, then test) appending to one event file. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/tfevents.h"
#include "../train/train_fixture.h"

/* ------------------------------------------------------ protobuf decoding */

typedef struct {
    int wire;         /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
    uint64_t v;       /* varint, or the fixed bits */
    const uint8_t *p; /* bytes */
    size_t n;
} pb_field;

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

static uint64_t le_bits(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The nth (0-based) occurrence of field `num` in the message [p, p + n). */
static bool pb_get(const uint8_t *p, size_t n, unsigned num, int nth, pb_field *out) {
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t key, len = 0;
        assert_true(pb_varint(&p, end, &key));
        pb_field f = {.wire = (int)(key & 7)};
        if (f.wire == 0) {
            assert_true(pb_varint(&p, end, &f.v));
        } else if (f.wire == 1 || f.wire == 5) {
            int k = f.wire == 1 ? 8 : 4;
            assert_true(end - p >= k);
            f.v = le_bits(p, k);
            p += k;
        } else {
            assert_int_equal(f.wire, 2);
            assert_true(pb_varint(&p, end, &len));
            assert_true((uint64_t)(end - p) >= len);
            f.p = p;
            f.n = (size_t)len;
            p += len;
        }
        if ((key >> 3) == num && nth-- == 0) {
            *out = f;
            return true;
        }
    }
    return false;
}

/* Field num of p[n], which must be there with wire type `wire`. */
static pb_field pb_must(const uint8_t *p, size_t n, unsigned num, int nth, int wire) {
    pb_field f;
    if (!pb_get(p, n, num, nth, &f)) fail_msg("protobuf field %u (#%d) missing", num, nth);
    assert_int_equal(f.wire, wire);
    return f;
}

static double pb_double(pb_field f) {
    double d;
    memcpy(&d, &f.v, sizeof d);
    return d;
}

static float pb_float(pb_field f) {
    uint32_t bits = (uint32_t)f.v;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static bool pb_is(pb_field f, const char *s) {
    return f.wire == 2 && f.n == strlen(s) && memcmp(f.p, s, f.n) == 0;
}

/* --------------------------------------------------------- event files */

#define MAX_RECORDS 64

typedef struct {
    uint8_t *data;
    size_t size;
    int count;
    const uint8_t *rec[MAX_RECORDS];
    size_t len[MAX_RECORDS];
} records;

/* Reads a whole file of TFRecords, checking every length and CRC. */
static void read_records(const char *path, records *r) {
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    r->size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    r->data = malloc(r->size + 1);
    assert_int_equal(fread(r->data, 1, r->size, f), r->size);
    fclose(f);
    for (size_t off = 0; off < r->size;) {
        assert_true(r->size - off >= 16 && r->count < MAX_RECORDS);
        const uint8_t *h = r->data + off;
        uint64_t n = le_bits(h, 8);
        assert_int_equal(le_bits(h + 8, 4), volt_crc32c_mask(volt_crc32c(0, h, 8)));
        assert_true(n <= r->size - off - 16);
        assert_int_equal(le_bits(h + 12 + n, 4), volt_crc32c_mask(volt_crc32c(0, h + 12, n)));
        r->rec[r->count] = h + 12;
        r->len[r->count++] = (size_t)n;
        off += 16 + n;
    }
}

/* The events.out.tfevents.* files in dir: how many, and the first's path. */
static int event_files(const char *dir, char *path, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "events.out.tfevents.", 20) != 0) continue;
        if (n++ == 0 && path && snprintf(path, cap, "%s/%s", dir, e->d_name) >= (int)cap)
            fail_msg("path too long in %s", dir);
    }
    closedir(d);
    return n;
}

/* Record i's Event: its summary's value v (NULL: the record has none). */
static bool event_value(const records *r, int i, int v, pb_field *value) {
    pb_field sum;
    if (!pb_get(r->rec[i], r->len[i], 5, 0, &sum)) return false;
    return pb_get(sum.p, sum.n, 1, v, value);
}

static int64_t event_step(const records *r, int i) {
    pb_field f;
    return pb_get(r->rec[i], r->len[i], 2, 0, &f) ? (int64_t)f.v : 0;
}

/* The scalar `tag` of record i; NAN when the record lacks it. */
static double event_scalar(const records *r, int i, const char *tag) {
    pb_field val;
    for (int v = 0; event_value(r, i, v, &val); v++)
        if (pb_is(pb_must(val.p, val.n, 1, 0, 2), tag))
            return pb_float(pb_must(val.p, val.n, 2, 0, 5));
    return NAN;
}

/* The hparams plugin data of record i, whose value must be tagged `tag`. */
static pb_field hparams_data(const records *r, int i, const char *tag) {
    pb_field val;
    assert_true(event_value(r, i, 0, &val));
    assert_true(pb_is(pb_must(val.p, val.n, 1, 0, 2), tag));
    pb_field meta = pb_must(val.p, val.n, 9, 0, 2);
    pb_field plugin = pb_must(meta.p, meta.n, 1, 0, 2);
    assert_true(pb_is(pb_must(plugin.p, plugin.n, 1, 0, 2), "hparams"));
    return pb_must(plugin.p, plugin.n, 2, 0, 2);
}

static const char *tmp(const char *name) {
    static char path[4][1024];
    static int next;
    const char *base = getenv("VOLT_TEST_TMPDIR");
    char *out = path[next++ % 4];
    snprintf(out, sizeof path[0], "%s/%s", base ? base : "/tmp", name);
    return out;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- tests */

static void test_crc32c_known_answers(void **state) {
    (void)state;
    assert_int_equal(volt_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(volt_crc32c(0, "", 0), 0);
    assert_int_equal(volt_crc32c(volt_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    /* RFC 3720 (iSCSI) B.4: 32 zero bytes, 32 0xff bytes, 0, 1, ..., 31 */
    uint8_t b[32];
    memset(b, 0, sizeof b);
    assert_int_equal(volt_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xff, sizeof b);
    assert_int_equal(volt_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    assert_int_equal(volt_crc32c(0, b, 32), 0x46DD794Eu);
    /* ((crc >> 15) | (crc << 17)) + 0xa282ead8, by hand */
    assert_int_equal(volt_crc32c_mask(0), 0xa282ead8u);
    assert_int_equal(volt_crc32c_mask(0x12345678u), 0x4f730f40u);
    assert_int_equal(volt_crc32c_mask(0xE3069283u), 0xc78ab0e5u);
}

static void test_record_framing(void **state) {
    (void)state;
    /* "abc": length 3 (8 bytes LE), masked CRC of the length, the data,
     * masked CRC of the data — from tensorboard's pywrap masked_crc32c */
    static const uint8_t want[19] = {0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb0, 0x99,
                                     0x49, 0x0e, 'a',  'b',  'c',  0x6e, 0x57, 0xf1, 0x21};
    uint8_t out[19 + 1];
    out[19] = 0x5a;
    volt_tfrecord_frame(out, "abc", 3);
    assert_memory_equal(out, want, sizeof want);
    assert_int_equal(out[19], 0x5a); /* nothing past n + 16 */
    /* data already in place at out + 12 */
    memcpy(out + 12, "abc", 3);
    volt_tfrecord_frame(out, out + 12, 3);
    assert_memory_equal(out, want, sizeof want);
}

static void test_writer_records_read_back(void **state) {
    (void)state;
    const char *dir = tmp("writer/run");
    assert_int_equal(system("rm -rf \"$VOLT_TEST_TMPDIR/writer\""), 0);
    double t0 = now();
    volt_tfevents *w = volt_tfevents_new(dir);
    assert_non_null(w);
    const char *tags[] = {"loss", "acc"};
    assert_int_equal(volt_tfevents_add_scalars(w, 7, 2, tags, (double[]){0.5, 0.25}), VOLT_OK);
    volt_tfevents_hparam hp[] = {
        {.name = "lr", .kind = VOLT_TFEVENTS_NUMBER, .number = 0.125},
        {.name = "act", .kind = VOLT_TFEVENTS_STRING, .string = "relu"},
        {.name = "bn", .kind = VOLT_TFEVENTS_BOOL, .boolean = false},
    };
    assert_int_equal(volt_tfevents_add_session_start(w, hp, 3), VOLT_OK);
    struct stat sb;
    assert_int_not_equal(stat(dir, &sb), 0); /* nothing on disk before a flush */
    assert_null(volt_tfevents_path(w));
    assert_int_equal(volt_tfevents_flush(w), VOLT_OK);
    assert_int_equal(volt_tfevents_add_scalars(w, 8, 1, tags, (double[]){-1e30}), VOLT_OK);
    assert_int_equal(volt_tfevents_add_session_end(w, true), VOLT_OK);

    /* events.out.tfevents.<time>.<host>.<pid>.0 */
    char path[1024], want[1024], host[256] = "";
    snprintf(path, sizeof path, "%s", volt_tfevents_path(w));
    gethostname(host, sizeof host);
    long long secs = 0;
    assert_int_equal(sscanf(path + strlen(dir), "/events.out.tfevents.%lld.", &secs), 1);
    snprintf(want, sizeof want, "%s/events.out.tfevents.%lld.%s.%lld.0", dir, secs, host,
             (long long)getpid());
    assert_string_equal(path, want);
    assert_true(secs >= (long long)t0 && secs <= (long long)now());
    assert_int_equal(volt_tfevents_close(w), VOLT_OK);

    records r;
    read_records(path, &r);
    assert_int_equal(r.count, 5);
    /* file_version first, every wall time between t0 and now */
    assert_true(pb_is(pb_must(r.rec[0], r.len[0], 3, 0, 2), "brain.Event:2"));
    for (int i = 0; i < r.count; i++) {
        double wt = pb_double(pb_must(r.rec[i], r.len[i], 1, 0, 1));
        assert_true(wt >= t0 - 1e-3 && wt <= now());
    }
    /* scalars: float32 values at their steps */
    assert_int_equal(event_step(&r, 1), 7);
    assert_true(event_scalar(&r, 1, "loss") == 0.5 && event_scalar(&r, 1, "acc") == 0.25);
    assert_int_equal(event_step(&r, 3), 8);
    assert_true(event_scalar(&r, 3, "loss") == (double)(float)-1e30);
    assert_true(isnan(event_scalar(&r, 3, "acc")));
    /* session_start_info: hparams lr 0.125, act "relu", bn false, start time */
    pb_field data = hparams_data(&r, 2, "_hparams_/session_start_info");
    pb_field ssi = pb_must(data.p, data.n, 3, 0, 2);
    for (int i = 0; i < 3; i++) {
        pb_field e = pb_must(ssi.p, ssi.n, 1, i, 2);
        assert_true(pb_is(pb_must(e.p, e.n, 1, 0, 2), hp[i].name));
        pb_field v = pb_must(e.p, e.n, 2, 0, 2);
        if (i == 0) assert_true(pb_double(pb_must(v.p, v.n, 2, 0, 1)) == 0.125);
        if (i == 1) assert_true(pb_is(pb_must(v.p, v.n, 3, 0, 2), "relu"));
        if (i == 2) assert_int_equal(pb_must(v.p, v.n, 4, 0, 0).v, 0);
    }
    pb_field none;
    assert_false(pb_get(ssi.p, ssi.n, 1, 3, &none));
    assert_true(pb_double(pb_must(ssi.p, ssi.n, 5, 0, 1)) >= t0 - 1e-3);
    /* session_end_info: status SUCCESS (1) */
    data = hparams_data(&r, 4, "_hparams_/session_end_info");
    pb_field sei = pb_must(data.p, data.n, 4, 0, 2);
    assert_int_equal(pb_must(sei.p, sei.n, 1, 0, 0).v, 1);
    free(r.data);

    /* a second writer in the same directory never reuses a file */
    volt_tfevents *w2 = volt_tfevents_new(dir);
    assert_non_null(w2);
    assert_int_equal(volt_tfevents_flush(w2), VOLT_OK);
    assert_string_not_equal(volt_tfevents_path(w2), path);
    assert_int_equal(volt_tfevents_close(w2), VOLT_OK);
    assert_int_equal(event_files(dir, NULL, 0), 2);
    read_records(path, &r); /* the first one untouched */
    assert_int_equal(r.count, 5);
    free(r.data);
}

static void test_writer_errors_name_the_file(void **state) {
    (void)state;
    const char *file = tmp("not_a_dir");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/run", file);
    volt_tfevents *w = volt_tfevents_new(dir);
    assert_non_null(w);
    assert_int_equal(volt_tfevents_flush(w), VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "not_a_dir");
    assert_int_equal(volt_tfevents_close(w), VOLT_ERR_IO); /* freed all the same */
    VT_ASSERT_ERROR(VOLT_ERR_IO, "tensorboard: ");
}

/* A module that only holds hyperparameters. */
static const volt_module_ops hp_ops = {.name = "hp"};

static void hp_module(volt_module *m) {
    volt_module_init(m, &hp_ops);
    volt_module_set_hparam_int(m, "hidden", 64);
    volt_module_set_hparam_double(m, "lr", 0.05);
    volt_module_set_hparam_bool(m, "bn", true);
    volt_module_set_hparam_string(m, "act", "gelu");
}

static void log_row(volt_logger *lg, int64_t step, double loss) {
    volt_metrics row = {0};
    assert_int_equal(volt_metrics_set(&row, "loss", loss), VOLT_OK);
    assert_int_equal(volt_metrics_set(&row, "epoch", 0), VOLT_OK);
    assert_int_equal(lg->ops->log_metrics(lg, &row, step), VOLT_OK);
    volt_metrics_clear(&row);
    free(row.names);
    free(row.values);
}

/* Records in the one event file of dir. */
static int count_records(const char *dir) {
    char path[1024];
    assert_int_equal(event_files(dir, path, sizeof path), 1);
    records r;
    read_records(path, &r);
    free(r.data);
    return r.count;
}

static void test_logger_flushes_first_row_then_on_timer(void **state) {
    (void)state;
    assert_int_equal(system("rm -rf \"$VOLT_TEST_TMPDIR/tb\""), 0);
    volt_module m;
    hp_module(&m);
    /* flush_secs huge: the first row reaches the file, later ones wait */
    volt_logger *lg = volt_tensorboard_logger_new(tmp("tb"), "slow", -1, 1e9);
    assert_non_null(lg);
    assert_string_equal(lg->ops->name, "TensorBoardLogger");
    const char *dir = tmp("tb/slow/version_0");
    assert_string_equal(lg->ops->log_dir(lg), dir);
    assert_int_equal(lg->ops->log_hyperparams(lg, &m), VOLT_OK);
    assert_int_equal(event_files(dir, NULL, 0), 0);
    log_row(lg, 0, 1.0);
    assert_int_equal(count_records(dir), 3); /* file_version, session start, row */
    log_row(lg, 1, 0.5);
    assert_int_equal(count_records(dir), 3);
    assert_int_equal(lg->ops->flush(lg), VOLT_OK);
    assert_int_equal(count_records(dir), 4);
    log_row(lg, 2, 0.25);
    assert_int_equal(lg->ops->finalize(lg, true), VOLT_OK);
    assert_int_equal(count_records(dir), 6); /* + the row, session end */
    lg->ops->free(lg);

    /* flush_secs 0: every row at once; a failure ends the session so */
    lg = volt_tensorboard_logger_new(tmp("tb"), "fast", 3, 0);
    assert_non_null(lg);
    dir = tmp("tb/fast/version_3");
    assert_int_equal(lg->ops->log_hyperparams(lg, &m), VOLT_OK);
    log_row(lg, 0, 1.0);
    log_row(lg, 1, 0.5);
    assert_int_equal(count_records(dir), 4);
    assert_int_equal(lg->ops->finalize(lg, false), VOLT_OK);
    char path[1024];
    event_files(dir, path, sizeof path);
    records r;
    read_records(path, &r);
    assert_int_equal(r.count, 5);
    pb_field data = hparams_data(&r, 4, "_hparams_/session_end_info");
    pb_field sei = pb_must(data.p, data.n, 4, 0, 2);
    assert_int_equal(pb_must(sei.p, sei.n, 1, 0, 0).v, 2); /* FAILURE */
    free(r.data);
    /* the next run (finalize ended the last) appends to the same file, with
     * no second session */
    assert_int_equal(lg->ops->log_hyperparams(lg, &m), VOLT_OK);
    log_row(lg, 5, 0.1);
    assert_int_equal(lg->ops->finalize(lg, true), VOLT_OK);
    assert_int_equal(event_files(dir, path, sizeof path), 1);
    read_records(path, &r);
    assert_int_equal(r.count, 6);
    assert_int_equal(event_step(&r, 5), 5);
    assert_true(event_scalar(&r, 5, "loss") == 0.1f);
    free(r.data);
    lg->ops->free(lg);
    volt_module_free(&m);
}

static void test_logger_versions_and_failed_runs(void **state) {
    (void)state;
    assert_int_equal(system("rm -rf \"$VOLT_TEST_TMPDIR/v\" && mkdir -p "
                            "\"$VOLT_TEST_TMPDIR/v/logs/version_0\" "
                            "\"$VOLT_TEST_TMPDIR/v/logs/version_4\" "
                            "\"$VOLT_TEST_TMPDIR/v/logs/version_x\""),
                     0);
    volt_module m;
    hp_module(&m);
    volt_logger *lg = volt_tensorboard_logger_new(tmp("v"), "logs", -1, 120);
    assert_non_null(lg);
    assert_string_equal(lg->ops->log_dir(lg), tmp("v/logs/version_5"));
    /* a run that fails before any metric leaves nothing */
    assert_int_equal(lg->ops->log_hyperparams(lg, &m), VOLT_OK);
    assert_int_equal(lg->ops->finalize(lg, false), VOLT_OK);
    struct stat sb;
    assert_int_not_equal(stat(tmp("v/logs/version_5"), &sb), 0);
    /* one that succeeds without metrics keeps its hyperparameters */
    assert_int_equal(lg->ops->log_hyperparams(lg, &m), VOLT_OK);
    assert_int_equal(lg->ops->finalize(lg, true), VOLT_OK);
    assert_int_equal(count_records(tmp("v/logs/version_5")), 3);
    /* a later run that fails before any metric adds nothing */
    assert_int_equal(lg->ops->log_hyperparams(lg, &m), VOLT_OK);
    assert_int_equal(lg->ops->finalize(lg, false), VOLT_OK);
    assert_int_equal(count_records(tmp("v/logs/version_5")), 3);
    lg->ops->free(lg);
    volt_module_free(&m);
}

static void test_logger_bad_arguments(void **state) {
    (void)state;
    assert_null(volt_tensorboard_logger_new(NULL, "x", -1, 120));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "tensorboard logger: needs a save_dir");
    assert_null(volt_tensorboard_logger_new("/tmp", "a/b", -1, 120));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "a name without '/'");
    assert_null(volt_tensorboard_logger_new("/tmp", "x", -1, -1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "flush_secs >= 0");
    assert_null(volt_tensorboard_logger_new("/tmp", "x", -1, NAN));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "flush_secs >= 0");
    /* a directory that cannot be made fails the first row, naming it */
    const char *file = tmp("plain_file");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    volt_logger *lg = volt_tensorboard_logger_new(file, "logs", 0, 120);
    assert_non_null(lg);
    volt_metrics row = {0};
    volt_metrics_set(&row, "loss", 1);
    assert_int_equal(lg->ops->log_metrics(lg, &row, 0), VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "plain_file");
    volt_metrics_clear(&row);
    free(row.names);
    free(row.values);
    lg->ops->free(lg);
}

/* ---------------------------------- the trainer's default loggers */

static volt_tensor *logging_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    volt_log_ex(s, "train_v",
                10.0 * (double)volt_trainer_current_epoch(volt_step_trainer(s)) + (double)i, 0, 0);
    return volt_mse_loss(lin_forward((lin_module *)self, b->x), b->y, VOLT_REDUCTION_MEAN);
}

static const volt_module_ops logging_ops = {
    .name = "logging", .training_step = logging_step, .configure_optimizers = lin_configure};

static void fit_default_loggers(const char *root) {
    lin_module m;
    lin_init(&m, &logging_ops, 3, 0.1);
    volt_module_set_hparam_int(&m.base, "hidden", 3);
    volt_datamodule *dm = tiny_dm_new(4, 0, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.logger = true;
    cfg.default_root_dir = root;
    cfg.max_epochs = 2;
    cfg.log_every_n_steps = 1;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    volt_trainer_free(t);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

static void test_default_loggers_share_version_dir(void **state) {
    (void)state;
    const char *root = fresh_dir("default");
    char dir[1100], path[1200];
    fit_default_loggers(root);
    snprintf(dir, sizeof dir, "%s/volt_logs/version_0", root);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(event_files(dir, path, sizeof path), 1);
    /* 2 epochs of 2 batches: train_v 0, 1, 10, 11 at steps 0..3, with epoch */
    records r;
    read_records(path, &r);
    assert_int_equal(r.count, 2 + 4 + 1); /* version, session start, 4 rows, end */
    static const double want[] = {0, 1, 10, 11};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(event_step(&r, 2 + k), k);
        assert_true(event_scalar(&r, 2 + k, "train_v") == want[k]);
        assert_true(event_scalar(&r, 2 + k, "epoch") == (double)(k / 2));
    }
    hparams_data(&r, 1, "_hparams_/session_start_info");
    hparams_data(&r, 6, "_hparams_/session_end_info");
    free(r.data);
    /* the next run: version_1 for both */
    fit_default_loggers(root);
    snprintf(dir, sizeof dir, "%s/volt_logs/version_1", root);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(event_files(dir, NULL, 0), 1);
}

/* fit, then test on the same trainer: one event file (every record framed
 * and checksummed, read_records checks) holding the training rows, one
 * HPARAMS session ended by the fit, then the test row. */
static volt_tensor *test_logging_step(volt_module *self, volt_batch *b, int64_t i, volt_step *s) {
    (void)i;
    volt_log(s, "test_loss",
             volt_mse_loss(lin_forward((lin_module *)self, b->x), b->y, VOLT_REDUCTION_MEAN), 0);
    return NULL;
}

static const volt_module_ops fit_test_ops = {.name = "logging",
                                             .training_step = logging_step,
                                             .test_step = test_logging_step,
                                             .configure_optimizers = lin_configure};

static void test_fit_then_test_append_to_one_file(void **state) {
    (void)state;
    const char *root = fresh_dir("fit_test");
    lin_module m;
    lin_init(&m, &fit_test_ops, 3, 0.1);
    volt_module_set_hparam_int(&m.base, "hidden", 3);
    volt_datamodule *dm = tiny_dm_new(4, 2, 3, 2);
    volt_trainer_config cfg = quiet_config();
    cfg.logger = true;
    cfg.default_root_dir = root;
    cfg.max_epochs = 2;
    cfg.log_every_n_steps = 1;
    cfg.num_sanity_val_steps = 0;
    cfg.limit_val_batches = 0.0;
    volt_trainer *t = volt_trainer_new(&cfg);
    assert_int_equal(volt_trainer_fit(t, &m.base, dm, NULL), VOLT_OK);
    volt_metrics *got = NULL;
    assert_int_equal(volt_trainer_test(t, &m.base, dm, NULL, &got), VOLT_OK);
    double test_loss = volt_metrics_get(got, "test_loss");
    assert_true(isfinite(test_loss));
    volt_metrics_free(got);
    char dir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s", volt_trainer_log_dir(t));
    /* the file is complete while the trainer lives */
    assert_int_equal(event_files(dir, path, sizeof path), 1);
    records r;
    read_records(path, &r);
    /* version, session start, 4 training rows, session end, the test row */
    assert_int_equal(r.count, 2 + 4 + 1 + 1);
    hparams_data(&r, 1, "_hparams_/session_start_info");
    for (int k = 0; k < 4; k++) {
        assert_int_equal(event_step(&r, 2 + k), k);
        assert_true(event_scalar(&r, 2 + k, "train_v") == 10.0 * (k / 2) + k % 2);
    }
    pb_field data = hparams_data(&r, 6, "_hparams_/session_end_info");
    pb_field sei = pb_must(data.p, data.n, 4, 0, 2);
    assert_int_equal(pb_must(sei.p, sei.n, 1, 0, 0).v, 1); /* SUCCESS */
    assert_int_equal(event_step(&r, 7), 3); /* evaluation rows: the last logged step */
    assert_true(event_scalar(&r, 7, "test_loss") == (float)test_loss);
    assert_true(event_scalar(&r, 7, "epoch") == 2.0);
    free(r.data);
    volt_trainer_free(t);
    assert_int_equal(event_files(dir, NULL, 0), 1);
    assert_int_equal(count_records(dir), 8);
    volt_datamodule_free(dm);
    volt_module_free(&m.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_crc32c_known_answers),
        VT_TEST(test_record_framing),
        VT_TEST(test_writer_records_read_back),
        VT_TEST(test_writer_errors_name_the_file),
        VT_TEST(test_logger_flushes_first_row_then_on_timer),
        VT_TEST(test_logger_versions_and_failed_runs),
        VT_TEST(test_logger_bad_arguments),
        VT_TEST(test_default_loggers_share_version_dir),
        VT_TEST(test_fit_then_test_append_to_one_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
