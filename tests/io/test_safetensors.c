/* test_safetensors.c: the safetensors reader and writer (volt/io.h) — round
 * trips of every dtype (0-d, empty, strided), metadata, the exact bytes of
 * the format (written by hand here as Python's safetensors writes them),
 * refusal of corrupt files with clear messages (and no crash on any
 * truncation or byte flip), and atomic writes that leave the old file intact
 * when they fail. */
#include "volt_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <volt/io.h>

/* ------------------------------------------------------------- helpers */

static char *tmp_path(const char *name) {
    static char buf[4][1024];
    static int next;
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    char *out = buf[next++ % 4];
    snprintf(out, sizeof buf[0], "%s/%s", dir && *dir ? dir : "/tmp", name);
    return out;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    /* A new file, not a truncated one: ext4 flushes a file truncated and
     * rewritten at close (auto_da_alloc), which makes the loops below slow. */
    unlink(path);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Reads a whole file into a malloc'd buffer. */
static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *n = (size_t)size;
    return data;
}

/* A safetensors file from a header text (padded here) and data bytes. */
static void write_st(const char *path, const char *header, const void *data, size_t ndata) {
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    size_t total = 8 + padded + ndata;
    unsigned char *buf = malloc(total);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    if (ndata) memcpy(buf + 8 + padded, data, ndata);
    write_bytes(path, buf, total);
    free(buf);
}

/* Opening `path` fails with `status` and a message naming the file and `what`. */
static void expect_refused(const char *path, volt_status status, const char *what) {
    volt_safetensors *f = volt_safetensors_open(path);
    if (f) {
        fprintf(stderr, "opened a file that should be refused (%s)\n", what);
        volt_safetensors_close(f);
        fail();
    }
    if (!strstr(volt_error_message(), path)) {
        fprintf(stderr, "message does not name the file: %s\n", volt_error_message());
        fail();
    }
    VT_ASSERT_ERROR(status, what);
}

static bool dir_has_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    bool found = false;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp-")) found = true;
    closedir(d);
    return found;
}

static volt_tensor *filled(volt_dtype dtype, int ndim, const int64_t *shape, unsigned seed) {
    volt_tensor *t = volt_tensor_new(dtype, VOLT_DEVICE_CPU, ndim, shape);
    assert_non_null(t);
    size_t n = (size_t)volt_tensor_numel(t) * volt_dtype_size(dtype);
    unsigned char *p = volt_tensor_data(t);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed * 31u + i * 7u + 1u);
    if (dtype == VOLT_BOOL)
        for (size_t i = 0; i < n; i++) p[i] &= 1;
    return t;
}

/* ---------------------------------------------------------- round trips */

static void test_round_trip_every_dtype(void **state) {
    (void)state;
    const char *path = tmp_path("dtypes.safetensors");
    enum { N = 8 * 3 };
    const char *names[N];
    char name_buf[N][32];
    volt_tensor *tensors[N];
    const int64_t shapes[3][3] = {{2, 3, 0}, {0, 0, 0}, {2, 0, 3}};
    const int ndims[3] = {2, 0, 3}; /* [2,3], 0-d, [2,0,3] (empty) */
    for (int d = 0; d < VOLT_DTYPE_COUNT; d++) {
        for (int s = 0; s < 3; s++) {
            int i = d * 3 + s;
            snprintf(name_buf[i], sizeof name_buf[i], "%s.%d", volt_dtype_name((volt_dtype)d), s);
            names[i] = name_buf[i];
            tensors[i] = filled((volt_dtype)d, ndims[s], shapes[s], (unsigned)i);
        }
    }
    assert_int_equal(volt_safetensors_save(path, N, names, tensors, NULL), VOLT_OK);
    volt_safetensors *f = volt_safetensors_open(path);
    assert_non_null(f);
    assert_int_equal(volt_safetensors_count(f), N);
    assert_int_equal(volt_safetensors_metadata_count(f), 0);
    for (int i = 0; i < N; i++) {
        assert_string_equal(volt_safetensors_name(f, i), names[i]); /* header order */
        volt_dtype dtype;
        int ndim;
        int64_t shape[VOLT_MAX_DIMS];
        assert_int_equal(volt_safetensors_info(f, names[i], &dtype, &ndim, shape), VOLT_OK);
        assert_int_equal(dtype, tensors[i]->dtype);
        assert_int_equal(ndim, tensors[i]->ndim);
        volt_tensor *t = volt_safetensors_get(f, names[i]);
        assert_non_null(t);
        assert_int_equal(t->dtype, tensors[i]->dtype);
        vt_assert_shape(t, tensors[i]->ndim, tensors[i]->shape, __FILE__, __LINE__);
        size_t nbytes = (size_t)volt_tensor_numel(t) * volt_dtype_size(t->dtype);
        if (nbytes) assert_memory_equal(volt_tensor_data(t), volt_tensor_data(tensors[i]), nbytes);
    }
    assert_null(volt_safetensors_name(f, N));
    assert_null(volt_safetensors_name(f, -1));
    volt_safetensors_close(f);
}

static void test_round_trip_strided_and_empty_file(void **state) {
    (void)state;
    const char *path = tmp_path("strided.safetensors");
    double vals[6] = {0, 1, 2, 3, 4, 5};
    volt_tensor *base = volt_from_array(vals, VOLT_F64, VOLT_SHAPE(2, 3));
    /* its transpose [3,2]: row-major 0 3 1 4 2 5 */
    volt_tensor *t =
        volt_tensor_alias(base, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 3}, 0);
    /* every other column of row 1: 3 5 */
    volt_tensor *s = volt_tensor_alias(base, 1, (const int64_t[]){2}, (const int64_t[]){2}, 3);
    assert_false(volt_tensor_is_contiguous(t));
    assert_int_equal(
        volt_safetensors_save(path, 2, (const char *[]){"t", "s"}, (volt_tensor *[]){t, s}, NULL),
        VOLT_OK);
    volt_safetensors *f = volt_safetensors_open(path);
    assert_non_null(f);
    volt_tensor *rt = volt_safetensors_get(f, "t"), *rs = volt_safetensors_get(f, "s");
    VT_ASSERT_SHAPE(rt, 3, 2);
    VT_ASSERT_CLOSE(rt, ((double[]){0, 3, 1, 4, 2, 5}), 6, 0, 0);
    VT_ASSERT_CLOSE(rs, ((double[]){3, 5}), 2, 0, 0);
    volt_safetensors_close(f);

    /* No tensors at all: a header "{}" padded to 8 bytes, nothing else. */
    assert_int_equal(volt_safetensors_save(path, 0, NULL, NULL, NULL), VOLT_OK);
    size_t n;
    unsigned char *bytes = read_bytes(path, &n);
    assert_int_equal(n, 16);
    assert_memory_equal(bytes, "\x08\0\0\0\0\0\0\0{}      ", 16);
    free(bytes);
    f = volt_safetensors_open(path);
    assert_non_null(f);
    assert_int_equal(volt_safetensors_count(f), 0);
    volt_safetensors_close(f);
}

static void test_metadata_round_trip(void **state) {
    (void)state;
    const char *path = tmp_path("meta.safetensors");
    volt_tensor *x = volt_scalar(1.5, VOLT_F32);
    const char *meta = "{\"epoch\": \"3\", \"note\": \"caf\\u00e9 \\\"quoted\\\"\\n\", "
                       "\"json\": \"{\\\"lr\\\": 0.1}\", \"empty\": \"\"}";
    assert_int_equal(volt_safetensors_save(path, 1, (const char *[]){"x"}, &x, meta), VOLT_OK);
    volt_safetensors *f = volt_safetensors_open(path);
    assert_non_null(f);
    assert_int_equal(volt_safetensors_metadata_count(f), 4);
    assert_string_equal(volt_safetensors_metadata_key(f, 0), "epoch");
    assert_string_equal(volt_safetensors_metadata_key(f, 3), "empty");
    assert_null(volt_safetensors_metadata_key(f, 4));
    assert_string_equal(volt_safetensors_metadata(f, "epoch"), "3");
    assert_string_equal(volt_safetensors_metadata(f, "note"), "caf\xc3\xa9 \"quoted\"\n");
    assert_string_equal(volt_safetensors_metadata(f, "json"), "{\"lr\": 0.1}");
    assert_string_equal(volt_safetensors_metadata(f, "empty"), "");
    assert_null(volt_safetensors_metadata(f, "missing"));
    VT_ASSERT_NO_ERROR();
    assert_int_equal(volt_safetensors_count(f), 1);
    VT_ASSERT_CLOSE(volt_safetensors_get(f, "x"), ((double[]){1.5}), 1, 0, 0);
    volt_safetensors_close(f);
}

/* --------------------------------------------------- the exact format */

static void test_written_bytes_follow_the_format(void **state) {
    (void)state;
    const char *path = tmp_path("bytes.safetensors");
    float v[2] = {1.0f, -2.0f};
    volt_tensor *x = volt_from_array(v, VOLT_F32, VOLT_SHAPE(2));
    volt_tensor *y = volt_tensor_new(VOLT_I64, VOLT_DEVICE_CPU, 0, NULL);
    *(int64_t *)volt_tensor_data(y) = 7;
    assert_int_equal(volt_safetensors_save(path, 2, (const char *[]){"x", "y"},
                                           (volt_tensor *[]){x, y}, "{\"format\":\"pt\"}"),
                     VOLT_OK);
    const char *header = "{\"__metadata__\":{\"format\":\"pt\"},"
                         "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"y\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8, n;
    unsigned char *bytes = read_bytes(path, &n);
    assert_int_equal(n, 8 + padded + 16);
    assert_int_equal(bytes[0] | bytes[1] << 8, padded);
    for (int i = 2; i < 8; i++) assert_int_equal(bytes[i], 0);
    assert_memory_equal(bytes + 8, header, hl);
    for (size_t i = hl; i < padded; i++) assert_int_equal(bytes[8 + i], ' ');
    assert_memory_equal(bytes + 8 + padded, v, 8);
    int64_t seven = 7;
    assert_memory_equal(bytes + 8 + padded + 8, &seven, 8);
    free(bytes);
}

/* A file as Python's safetensors writes it: keys sorted, tensors ordered by
 * dtype alignment, metadata first, spaces after the JSON. */
static void test_reads_a_python_written_file(void **state) {
    (void)state;
    const char *path = tmp_path("python.safetensors");
    unsigned char data[8 + 6 + 3 + 2 + 1];
    double w = -0.25;
    memcpy(data, &w, 8);                             /* w: F64 0-d */
    const uint16_t bf[3] = {0x3f80, 0xc000, 0x4040}; /* b: BF16 [3]: 1 -2 3 */
    memcpy(data + 8, bf, 6);
    const unsigned char u8[3] = {0, 200, 255}; /* u: U8 [3] */
    memcpy(data + 14, u8, 3);
    const unsigned char bo[2] = {1, 0}; /* m: BOOL [2,1] */
    memcpy(data + 17, bo, 2);
    data[19] = 0; /* pad: U8 [1] */
    write_st(path,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]},"
             "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[19,19]},"
             "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2,1],\"data_offsets\":[17,19]},"
             "\"pad\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[19,20]},"
             "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[14,17]},"
             "\"w\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
             "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\":{\"dtype\":\"F32\",\"shape\":[0],"
             "\"data_offsets\":[20,20]}}",
             data, sizeof data);
    volt_safetensors *f = volt_safetensors_open(path);
    if (!f) fprintf(stderr, "%s\n", volt_error_message());
    assert_non_null(f);
    assert_int_equal(volt_safetensors_count(f), 7);
    assert_string_equal(volt_safetensors_name(f, 0), "b");
    assert_string_equal(volt_safetensors_name(f, 6), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    assert_string_equal(volt_safetensors_metadata(f, "format"), "pt");
    volt_tensor *tw = volt_safetensors_get(f, "w");
    assert_int_equal(tw->ndim, 0);
    assert_int_equal(tw->dtype, VOLT_F64);
    VT_ASSERT_CLOSE(tw, ((double[]){-0.25}), 1, 0, 0);
    volt_tensor *tb = volt_safetensors_get(f, "b");
    assert_int_equal(tb->dtype, VOLT_BF16);
    VT_ASSERT_CLOSE(tb, ((double[]){1, -2, 3}), 3, 0, 0);
    VT_ASSERT_CLOSE(volt_safetensors_get(f, "u"), ((double[]){0, 200, 255}), 3, 0, 0);
    volt_tensor *tm = volt_safetensors_get(f, "m");
    VT_ASSERT_SHAPE(tm, 2, 1);
    assert_int_equal(tm->dtype, VOLT_BOOL);
    VT_ASSERT_CLOSE(tm, ((double[]){1, 0}), 2, 0, 0);
    volt_tensor *te = volt_safetensors_get(f, "e");
    VT_ASSERT_SHAPE(te, 0, 4);
    assert_null(volt_safetensors_get(f, "nope"));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "no tensor named 'nope'");
    volt_safetensors_close(f);
}

/* ---------------------------------------------------------- corruption */

static void test_corrupt_headers_are_refused(void **state) {
    (void)state;
    const char *path = tmp_path("corrupt.safetensors");
    unsigned char data[64] = {0};
    static const struct {
        const char *header;
        size_t ndata;
        const char *what;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid JSON"},
        {"[1, 2]", 0, "does not start with '{'"},
        {"{\"a\": 1}", 0, "not a JSON object"},
        {"{} x", 0, "text after its JSON"},
        {"{\"a\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
         "unknown dtype \"I16\""},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "no \"dtype\""},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "no \"shape\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "size >= 0"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "size >= 0"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "9 dimensions"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "pair of offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8,
         "pair of offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8,
         "outside the data section"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
         "outside the data section"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12 bytes"},
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
         "need"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
         "4 bytes of data after the last tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "appears twice"},
        {"{\"__metadata__\":{\"epoch\":3}}", 0, "not a string"},
        {"{\"__metadata__\":[\"x\"]}", 0, "\"__metadata__\" is not a JSON object"},
        {"{\"a\":[]}", 0, "entry is not a JSON object"},
        {"{\"caf\xff\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
         "not valid UTF-8"},
        {"{\"\xc0\xaf\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
         "not valid UTF-8"},
        {"{\"\xed\xa0\x80\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
         "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st(path, cases[i].header, data, cases[i].ndata);
        expect_refused(path, VOLT_ERR_FORMAT, cases[i].what);
    }

    /* Header length fields that do not fit the file. */
    unsigned char raw[24] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    write_bytes(path, raw, sizeof raw);
    expect_refused(path, VOLT_ERR_FORMAT, "header length 18446744073709551615");
    raw[0] = 200;
    memset(raw + 1, 0, 7);
    write_bytes(path, raw, sizeof raw);
    expect_refused(path, VOLT_ERR_FORMAT, "header length 200 is larger than the file allows");
    raw[0] = 0;
    write_bytes(path, raw, sizeof raw);
    expect_refused(path, VOLT_ERR_FORMAT, "too small");
    write_bytes(path, raw, 5);
    expect_refused(path, VOLT_ERR_FORMAT, "too short");
    const unsigned char nul[24] = {16,  0,   0,   0,   0,   0,   0,   0,   '{', '}', 0,   ' ',
                                   ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    write_bytes(path, nul, sizeof nul);
    expect_refused(path, VOLT_ERR_FORMAT, "NUL byte");

    expect_refused(tmp_path("does-not-exist.safetensors"), VOLT_ERR_IO, "cannot open");
    expect_refused(getenv("VOLT_TEST_TMPDIR") ? getenv("VOLT_TEST_TMPDIR") : "/tmp",
                   VOLT_ERR_FORMAT, "not a regular file");
}

/* A valid file cut at every length, and with each header byte replaced by a
 * few others: open either refuses it with VOLT_ERR_FORMAT or succeeds, and
 * then every tensor reads. Never a crash (the sanitizer build checks). */
static void test_truncations_and_byte_flips_never_crash(void **state) {
    (void)state;
    const char *good = tmp_path("good.safetensors"), *bad = tmp_path("mangled.safetensors");
    volt_tensor *a = filled(VOLT_F32, 2, (const int64_t[]){2, 3}, 1);
    volt_tensor *b = filled(VOLT_I64, 0, NULL, 2);
    volt_tensor *c = filled(VOLT_BOOL, 1, (const int64_t[]){0}, 3);
    assert_int_equal(volt_safetensors_save(good, 3, (const char *[]){"a", "b", "c"},
                                           (volt_tensor *[]){a, b, c}, "{\"k\":\"v\"}"),
                     VOLT_OK);
    size_t n;
    unsigned char *bytes = read_bytes(good, &n);
    for (size_t len = 0; len < n; len++) {
        write_bytes(bad, bytes, len);
        volt_safetensors *f = volt_safetensors_open(bad);
        assert_null(f);
        assert_int_equal(volt_error_status(), VOLT_ERR_FORMAT);
        volt_error_clear();
    }
    const unsigned char subs[] = {'0', '9', '"', '{', '}', ']', ',', ' ', 0, 0xff};
    size_t header_end = 8 + (size_t)(bytes[0] | bytes[1] << 8);
    int opened = 0;
    for (size_t pos = 0; pos < header_end; pos++) {
        for (size_t s = 0; s < sizeof subs; s++) {
            if (bytes[pos] == subs[s]) continue;
            unsigned char saved = bytes[pos];
            bytes[pos] = subs[s];
            write_bytes(bad, bytes, n);
            bytes[pos] = saved;
            volt_scope_begin();
            volt_safetensors *f = volt_safetensors_open(bad);
            if (f) {
                opened++;
                for (int i = 0; i < volt_safetensors_count(f); i++)
                    assert_non_null(volt_safetensors_get(f, volt_safetensors_name(f, i)));
                volt_safetensors_close(f);
            } else {
                assert_int_equal(volt_error_status(), VOLT_ERR_FORMAT);
                volt_error_clear();
            }
            volt_scope_end();
        }
    }
    assert_true(opened > 0); /* some flips keep the file valid (a digit in a name, ...) */
    free(bytes);
}

static void test_read_after_truncation_is_an_io_error(void **state) {
    (void)state;
    const char *path = tmp_path("shrinks.safetensors");
    volt_tensor *a = filled(VOLT_F64, 1, (const int64_t[]){16}, 4);
    assert_int_equal(volt_safetensors_save(path, 1, (const char *[]){"a"}, &a, NULL), VOLT_OK);
    volt_safetensors *f = volt_safetensors_open(path);
    assert_non_null(f);
    assert_int_equal(truncate(path, 40), 0);
    assert_null(volt_safetensors_get(f, "a"));
    VT_ASSERT_ERROR(VOLT_ERR_IO, "file ends early");
    volt_safetensors_close(f);
}

/* ------------------------------------------------------- atomic writes */

static void test_failed_saves_leave_the_old_file(void **state) {
    (void)state;
    const char *dir = getenv("VOLT_TEST_TMPDIR") ? getenv("VOLT_TEST_TMPDIR") : "/tmp";
    const char *path = tmp_path("keep.safetensors");
    volt_tensor *a = filled(VOLT_F32, 1, (const int64_t[]){5}, 5);
    assert_int_equal(volt_safetensors_save(path, 1, (const char *[]){"a"}, &a, NULL), VOLT_OK);
    size_t n0, n1;
    unsigned char *before = read_bytes(path, &n0);

    volt_tensor *b = filled(VOLT_F32, 1, (const int64_t[]){7}, 6);
    assert_int_equal(volt_safetensors_save(path, 2, (const char *[]){"b", "a"},
                                           (volt_tensor *[]){b, NULL}, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "tensor 'a' is NULL");
    assert_int_equal(
        volt_safetensors_save(path, 2, (const char *[]){"b", "b"}, (volt_tensor *[]){b, a}, NULL),
        VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "'b' used twice");
    assert_int_equal(volt_safetensors_save(path, 1, (const char *[]){"__metadata__"}, &b, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "reserved");
    assert_int_equal(volt_safetensors_save(path, 1, (const char *[]){""}, &b, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "empty");
    assert_int_equal(volt_safetensors_save(path, 1, (const char *[]){"b"}, &b, "{\"e\": 3}"),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "value of 'e' is not a string");
    assert_int_equal(volt_safetensors_save(path, 1, (const char *[]){"b"}, &b, "[\"x\"]"),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "metadata is not a JSON object");
    assert_int_equal(volt_safetensors_save(NULL, 1, (const char *[]){"b"}, &b, NULL),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "path");

    /* The target is a directory: the temporary file is written, the rename
     * fails, the temporary file is removed. */
    const char *sub = tmp_path("a-directory.safetensors");
    mkdir(sub, 0755);
    assert_int_equal(volt_safetensors_save(sub, 1, (const char *[]){"b"}, &b, NULL), VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "cannot rename the temporary file over");
    rmdir(sub);

    assert_int_equal(volt_safetensors_save(tmp_path("no/such/dir/x.safetensors"), 1,
                                           (const char *[]){"b"}, &b, NULL),
                     VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "cannot create a temporary file beside");

    /* An unwritable directory (root writes anyway, so only as a user). */
    if (geteuid() != 0) {
        const char *ro = tmp_path("read-only");
        mkdir(ro, 0755);
        char target[1200];
        snprintf(target, sizeof target, "%s/x.safetensors", ro);
        assert_int_equal(volt_safetensors_save(target, 1, (const char *[]){"a"}, &a, NULL),
                         VOLT_OK);
        chmod(ro, 0555);
        assert_int_equal(volt_safetensors_save(target, 1, (const char *[]){"b"}, &b, NULL),
                         VOLT_ERR_IO);
        VT_ASSERT_ERROR(VOLT_ERR_IO, "Permission denied");
        chmod(ro, 0755);
        volt_safetensors *f = volt_safetensors_open(target);
        assert_non_null(f);
        assert_string_equal(volt_safetensors_name(f, 0), "a");
        volt_safetensors_close(f);
        unlink(target);
        rmdir(ro);
    }

    unsigned char *after = read_bytes(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    assert_false(dir_has_temp_files(dir));

    /* A successful save replaces the file. */
    assert_int_equal(volt_safetensors_save(path, 1, (const char *[]){"b"}, &b, NULL), VOLT_OK);
    volt_safetensors *f = volt_safetensors_open(path);
    assert_non_null(f);
    assert_string_equal(volt_safetensors_name(f, 0), "b");
    volt_safetensors_close(f);
    assert_false(dir_has_temp_files(dir));
}

static void test_bad_arguments(void **state) {
    (void)state;
    assert_null(volt_safetensors_open(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "safetensors_open");
    assert_int_equal(volt_safetensors_count(NULL), 0);
    assert_null(volt_safetensors_name(NULL, 0));
    assert_null(volt_safetensors_metadata(NULL, "k"));
    assert_null(volt_safetensors_get(NULL, "x"));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "safetensors_get");
    volt_safetensors_close(NULL);
    assert_string_equal(volt_safetensors_dtype_name(VOLT_BF16), "BF16");
    assert_string_equal(volt_safetensors_dtype_name(VOLT_BOOL), "BOOL");
    assert_null(volt_safetensors_dtype_name(VOLT_DTYPE_COUNT));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_round_trip_every_dtype),
        VT_TEST(test_round_trip_strided_and_empty_file),
        VT_TEST(test_metadata_round_trip),
        VT_TEST(test_written_bytes_follow_the_format),
        VT_TEST(test_reads_a_python_written_file),
        VT_TEST(test_corrupt_headers_are_refused),
        VT_TEST(test_truncations_and_byte_flips_never_crash),
        VT_TEST(test_read_after_truncation_is_an_io_error),
        VT_TEST(test_failed_saves_leave_the_old_file),
        VT_TEST(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
