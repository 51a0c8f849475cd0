/* tfevents.c: TensorBoard event files. CRC-32C and the TFRecord framing,
 * and a writer that encodes Event messages (src/io/proto/, protobuf-c) into
 * framed records, keeps them in memory and appends them to
 * events.out.tfevents.<unix time>.<hostname>.<pid>.<n> on flush. */
#include "io/tfevents.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event.pb-c.h"
#include "hparams.pb-c.h"
#include "io/io_impl.h"
#include "summary.pb-c.h"

#define OP "tensorboard"

/* ------------------------------------------------------------ framing */

/* CRC-32C of each 4-bit value, reflected polynomial 0x82F63B78: two table
 * steps per byte. Event records are small; this is not a hot path. */
static const uint32_t crc32c_nibble[16] = {
    0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3, 0x61c69362, 0x7198540d,
    0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9, 0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

uint32_t volt_crc32c(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc32c_nibble[crc & 15];
        crc = (crc >> 4) ^ crc32c_nibble[crc & 15];
    }
    return ~crc;
}

uint32_t volt_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

static void put_le(uint8_t *out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) out[i] = (uint8_t)(v >> (8 * i));
}

void volt_tfrecord_frame(uint8_t *out, const void *data, size_t n) {
    put_le(out, n, 8);
    put_le(out + 8, volt_crc32c_mask(volt_crc32c(0, out, 8)), 4);
    if (out + 12 != (const uint8_t *)data) memmove(out + 12, data, n);
    put_le(out + 12 + n, volt_crc32c_mask(volt_crc32c(0, out + 12, n)), 4);
}

/* ------------------------------------------------------------- writer */

struct volt_tfevents {
    char *dir, *path; /* path: NULL until the file exists */
    int fd;           /* -1 until then */
    uint8_t *buf;     /* framed records not yet written */
    size_t n, cap;
};

static double wall_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Frames ev at the end of the buffer. */
static volt_status append_event(volt_tfevents *w, Volt__Tfevents__Event *ev) {
    size_t n = volt__tfevents__event__get_packed_size(ev);
    size_t need = w->n + n + VOLT_TFRECORD_OVERHEAD;
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < need) cap *= 2;
        uint8_t *g = realloc(w->buf, cap);
        if (!g) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
        w->buf = g;
        w->cap = cap;
    }
    uint8_t *rec = w->buf + w->n;
    volt__tfevents__event__pack(ev, rec + 12);
    volt_tfrecord_frame(rec, rec + 12, n);
    w->n = need;
    return VOLT_OK;
}

volt_tfevents *volt_tfevents_new(const char *dir) {
    volt_tfevents *w = calloc(1, sizeof *w);
    if (w) {
        w->fd = -1;
        w->dir = strdup(dir ? dir : ".");
    }
    if (!w || !w->dir) {
        volt_tfevents_free(w);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
        return NULL;
    }
    Volt__Tfevents__Event ev = VOLT__TFEVENTS__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.what_case = VOLT__TFEVENTS__EVENT__WHAT_FILE_VERSION;
    ev.file_version = "brain.Event:2";
    if (append_event(w, &ev)) {
        volt_tfevents_free(w);
        return NULL;
    }
    return w;
}

volt_status volt_tfevents_add_scalars(volt_tfevents *w, int64_t step, int64_t n,
                                      const char *const *tags, const double *values) {
    if (n <= 0) return VOLT_OK;
    Volt__Tfevents__Summary__Value *vals = malloc((size_t)n * sizeof *vals);
    Volt__Tfevents__Summary__Value **ptrs = malloc((size_t)n * sizeof *ptrs);
    volt_status st = VOLT_OK;
    if (!vals || !ptrs) {
        st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    } else {
        for (int64_t i = 0; i < n; i++) {
            vals[i] = (Volt__Tfevents__Summary__Value)VOLT__TFEVENTS__SUMMARY__VALUE__INIT;
            vals[i].tag = (char *)tags[i];
            vals[i].value_case = VOLT__TFEVENTS__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
            vals[i].simple_value = (float)values[i];
            ptrs[i] = &vals[i];
        }
        Volt__Tfevents__Summary sum = VOLT__TFEVENTS__SUMMARY__INIT;
        sum.n_value = (size_t)n;
        sum.value = ptrs;
        Volt__Tfevents__Event ev = VOLT__TFEVENTS__EVENT__INIT;
        ev.wall_time = wall_time();
        ev.step = step;
        ev.what_case = VOLT__TFEVENTS__EVENT__WHAT_SUMMARY;
        ev.summary = &sum;
        st = append_event(w, &ev);
    }
    free(vals);
    free(ptrs);
    return st;
}

/* An Event at step 0 whose one value, `tag`, carries the hparams plugin's
 * data in its metadata. */
static volt_status add_hparams_event(volt_tfevents *w, const char *tag,
                                     Volt__Tfevents__HParamsPluginData *data) {
    size_t n = volt__tfevents__hparams_plugin_data__get_packed_size(data);
    uint8_t *content = malloc(n ? n : 1);
    if (!content) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    volt__tfevents__hparams_plugin_data__pack(data, content);
    Volt__Tfevents__SummaryMetadata__PluginData plugin =
        VOLT__TFEVENTS__SUMMARY_METADATA__PLUGIN_DATA__INIT;
    plugin.plugin_name = "hparams";
    plugin.content = (ProtobufCBinaryData){.len = n, .data = content};
    Volt__Tfevents__SummaryMetadata meta = VOLT__TFEVENTS__SUMMARY_METADATA__INIT;
    meta.plugin_data = &plugin;
    Volt__Tfevents__Summary__Value val = VOLT__TFEVENTS__SUMMARY__VALUE__INIT;
    val.tag = (char *)tag;
    val.metadata = &meta;
    Volt__Tfevents__Summary__Value *vals[1] = {&val};
    Volt__Tfevents__Summary sum = VOLT__TFEVENTS__SUMMARY__INIT;
    sum.n_value = 1;
    sum.value = vals;
    Volt__Tfevents__Event ev = VOLT__TFEVENTS__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.what_case = VOLT__TFEVENTS__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    volt_status st = append_event(w, &ev);
    free(content);
    return st;
}

static void hparam_value(Volt__Tfevents__HParamValue *v, const volt_tfevents_hparam *hp) {
    *v = (Volt__Tfevents__HParamValue)VOLT__TFEVENTS__HPARAM_VALUE__INIT;
    if (hp->kind == VOLT_TFEVENTS_STRING) {
        v->kind_case = VOLT__TFEVENTS__HPARAM_VALUE__KIND_STRING_VALUE;
        v->string_value = (char *)(hp->string ? hp->string : "");
    } else if (hp->kind == VOLT_TFEVENTS_BOOL) {
        v->kind_case = VOLT__TFEVENTS__HPARAM_VALUE__KIND_BOOL_VALUE;
        v->bool_value = hp->boolean;
    } else {
        v->kind_case = VOLT__TFEVENTS__HPARAM_VALUE__KIND_NUMBER_VALUE;
        v->number_value = hp->number;
    }
}

volt_status volt_tfevents_add_session_start(volt_tfevents *w, const volt_tfevents_hparam *hp,
                                            int n) {
    size_t k = n > 0 ? (size_t)n : 0;
    Volt__Tfevents__HParamValue *vals = malloc((k ? k : 1) * sizeof *vals);
    Volt__Tfevents__SessionStartInfo__HparamsEntry *ents = malloc((k ? k : 1) * sizeof *ents);
    Volt__Tfevents__SessionStartInfo__HparamsEntry **ptrs = malloc((k ? k : 1) * sizeof *ptrs);
    volt_status st = VOLT_OK;
    if (!vals || !ents || !ptrs) {
        st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    } else {
        for (size_t i = 0; i < k; i++) {
            hparam_value(&vals[i], &hp[i]);
            ents[i] = (Volt__Tfevents__SessionStartInfo__HparamsEntry)
                VOLT__TFEVENTS__SESSION_START_INFO__HPARAMS_ENTRY__INIT;
            ents[i].key = (char *)hp[i].name;
            ents[i].value = &vals[i];
            ptrs[i] = &ents[i];
        }
        Volt__Tfevents__SessionStartInfo info = VOLT__TFEVENTS__SESSION_START_INFO__INIT;
        info.n_hparams = k;
        info.hparams = ptrs;
        info.start_time_secs = wall_time();
        Volt__Tfevents__HParamsPluginData data = VOLT__TFEVENTS__HPARAMS_PLUGIN_DATA__INIT;
        data.data_case = VOLT__TFEVENTS__HPARAMS_PLUGIN_DATA__DATA_SESSION_START_INFO;
        data.session_start_info = &info;
        st = add_hparams_event(w, "_hparams_/session_start_info", &data);
    }
    free(vals);
    free(ents);
    free(ptrs);
    return st;
}

volt_status volt_tfevents_add_session_end(volt_tfevents *w, bool success) {
    Volt__Tfevents__SessionEndInfo info = VOLT__TFEVENTS__SESSION_END_INFO__INIT;
    info.status = success ? VOLT__TFEVENTS__SESSION_STATUS__STATUS_SUCCESS
                          : VOLT__TFEVENTS__SESSION_STATUS__STATUS_FAILURE;
    info.end_time_secs = wall_time();
    Volt__Tfevents__HParamsPluginData data = VOLT__TFEVENTS__HPARAMS_PLUGIN_DATA__INIT;
    data.data_case = VOLT__TFEVENTS__HPARAMS_PLUGIN_DATA__DATA_SESSION_END_INFO;
    data.session_end_info = &info;
    return add_hparams_event(w, "_hparams_/session_end_info", &data);
}

/* Makes the directory and the first free events.out.tfevents.* name in it. */
static volt_status create_file(volt_tfevents *w) {
    volt_status st = volt_make_dirs(w->dir, OP);
    if (st) return st;
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *c = host; *c; c++)
        if (*c == '/') *c = '_';
    size_t len = strlen(w->dir) + strlen(host) + 96;
    char *path = malloc(len);
    if (!path) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, OP ": out of memory");
    long long now = (long long)time(NULL);
    for (int k = 0; k < 10000; k++) {
        snprintf(path, len, "%s/events.out.tfevents.%lld.%s.%lld.%d", w->dir, now, host,
                 (long long)getpid(), k);
        w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (w->fd >= 0) {
            w->path = path;
            return VOLT_OK;
        }
        if (errno != EEXIST) break;
    }
    st = volt_error_set(VOLT_ERR_IO, OP ": cannot create %s: %s", path, strerror(errno));
    free(path);
    return st;
}

volt_status volt_tfevents_flush(volt_tfevents *w) {
    if (!w) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, OP ": NULL writer");
    if (w->n == 0) return VOLT_OK;
    if (w->fd < 0) {
        volt_status st = create_file(w);
        if (st) return st;
    }
    size_t done = 0;
    while (done < w->n) {
        ssize_t k = write(w->fd, w->buf + done, w->n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int err = k < 0 ? errno : EIO;
            memmove(w->buf, w->buf + done, w->n - done); /* the next flush goes on from here */
            w->n -= done;
            return volt_error_set(VOLT_ERR_IO, OP ": cannot write %s: %s", w->path, strerror(err));
        }
        done += (size_t)k;
    }
    w->n = 0;
    return VOLT_OK;
}

const char *volt_tfevents_path(const volt_tfevents *w) { return w ? w->path : NULL; }

volt_status volt_tfevents_close(volt_tfevents *w) {
    if (!w) return VOLT_OK;
    volt_status st = volt_tfevents_flush(w);
    if (w->fd >= 0) {
        if (fsync(w->fd) != 0 && errno != EINVAL && !st)
            st = volt_error_set(VOLT_ERR_IO, OP ": cannot sync %s: %s", w->path, strerror(errno));
        if (close(w->fd) != 0 && !st)
            st = volt_error_set(VOLT_ERR_IO, OP ": cannot close %s: %s", w->path, strerror(errno));
        w->fd = -1;
    }
    volt_tfevents_free(w);
    return st;
}

void volt_tfevents_free(volt_tfevents *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    free(w->dir);
    free(w->path);
    free(w->buf);
    free(w);
}
