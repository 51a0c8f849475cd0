/* test_idx.c: the IDX reader and dataset against the real Fashion-MNIST
 * files (counts, first labels, pixel sums computed once with Python's gzip
 * + sum), small hand-written files, raw and gzip'd, and every kind of bad
 * file: missing, truncated (cut from the real files), corrupt gzip, bad
 * magic, wrong type or rank, zero or huge sizes, trailing bytes, mismatched
 * counts; and the cache of gzip'd images (made once under XDG_CACHE_HOME,
 * read from there in place, keyed by the source's mtime, no temporary file
 * left by a bad source, memory instead when it cannot be written, a file that
 * shrinks while in use; its directory with and without XDG_CACHE_HOME and
 * HOME). The whole suite caches under VOLT_TEST_TMPDIR. */
#include "volt_test.h"

#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <volt/data.h>

#include "data/data_impl.h"

#define FM VOLT_FASHION_MNIST_DIR
#define TRAIN_IMAGES FM "/train-images-idx3-ubyte.gz"
#define TRAIN_LABELS FM "/train-labels-idx1-ubyte.gz"
#define TEST_IMAGES FM "/t10k-images-idx3-ubyte.gz"
#define TEST_LABELS FM "/t10k-labels-idx1-ubyte.gz"

static const char *tmp_path(char *buf, size_t size, const char *name) {
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(buf, size, "%s/%s", dir ? dir : "/tmp", name);
    return buf;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The first n bytes of `src` copied to `dst`. */
static void copy_prefix(const char *src, const char *dst, size_t n) {
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    char *buf = malloc(n);
    assert_int_equal(fread(buf, 1, n, f), n);
    fclose(f);
    write_file(dst, buf, n);
    free(buf);
}

static uint64_t byte_sum(const volt_tensor *t, int64_t start, int64_t n) {
    const uint8_t *p = (const uint8_t *)volt_tensor_data(t) + start;
    uint64_t s = 0;
    for (int64_t i = 0; i < n; i++) s += p[i];
    return s;
}

/* ------------------------------------------------------- real files */

static void test_read_train_images(void **state) {
    (void)state;
    volt_tensor *t = volt_idx_read(TRAIN_IMAGES);
    VT_ASSERT_NO_ERROR();
    VT_ASSERT_SHAPE(t, 60000, 28, 28);
    assert_int_equal(t->dtype, VOLT_U8);
    assert_int_equal(byte_sum(t, 0, 60000 * 784), 3431114169ull);
    assert_int_equal(byte_sum(t, 0, 784), 76247);
    assert_int_equal(byte_sum(t, 1234 * 784, 784), 75588);
    assert_int_equal(byte_sum(t, 59999 * 784, 784), 16684);
}

static void test_read_labels(void **state) {
    (void)state;
    static const uint8_t train_first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    static const uint8_t test_first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    volt_tensor *train = volt_idx_read(TRAIN_LABELS), *test = volt_idx_read(TEST_LABELS);
    VT_ASSERT_NO_ERROR();
    VT_ASSERT_SHAPE(train, 60000);
    VT_ASSERT_SHAPE(test, 10000);
    assert_memory_equal(volt_tensor_data(train), train_first, 10);
    assert_memory_equal(volt_tensor_data(test), test_first, 10);
    int64_t count[10] = {0};
    const uint8_t *p = volt_tensor_data(train);
    for (int i = 0; i < 60000; i++) {
        assert_true(p[i] < 10);
        count[p[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(count[c], 6000);
    assert_int_equal(byte_sum(test, 0, 10000), 45000);
}

static void test_dataset_test_split(void **state) {
    (void)state;
    volt_dataset *ds = volt_idx_dataset_new(TEST_IMAGES, TEST_LABELS);
    assert_non_null(ds);
    assert_int_equal(volt_dataset_len(ds), 10000);
    /* Every item through the fast path: pixel sum and last label. */
    int64_t *all = malloc(10000 * sizeof *all);
    for (int i = 0; i < 10000; i++) all[i] = i;
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(ds, all, 10000, &b), VOLT_OK);
    VT_ASSERT_SHAPE(b.x, 10000, 1, 28, 28);
    VT_ASSERT_SHAPE(b.y, 10000);
    assert_int_equal(b.x->dtype, VOLT_F32);
    assert_int_equal(b.y->dtype, VOLT_I64);
    const float *x = volt_tensor_data(b.x);
    uint64_t sum = 0;
    for (int64_t i = 0; i < 10000 * 784; i++) {
        assert_true(x[i] >= 0.0f && x[i] <= 1.0f);
        sum += (uint64_t)(x[i] * 255.0f + 0.5f);
    }
    assert_int_equal(sum, 573469082ull);
    assert_int_equal(((const int64_t *)volt_tensor_data(b.y))[9999], 5);
    assert_int_equal(((const int64_t *)volt_tensor_data(b.y))[0], 9);
    free(all);
    volt_dataset_free(ds);
}

static void test_dataset_get_matches_batch(void **state) {
    (void)state;
    volt_dataset *ds = volt_idx_dataset_new(TEST_IMAGES, TEST_LABELS);
    assert_non_null(ds);
    int64_t idx[3] = {17, 0, 9999};
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(ds, idx, 3, &b), VOLT_OK);
    for (int j = 0; j < 3; j++) {
        volt_sample s;
        assert_int_equal(volt_dataset_get(ds, idx[j], &s), VOLT_OK);
        VT_ASSERT_SHAPE(volt_sample_get(&s, "x"), 1, 28, 28);
        assert_int_equal(volt_sample_get(&s, "y")->ndim, 0);
        assert_memory_equal(volt_tensor_data(volt_sample_get(&s, "x")),
                            (const float *)volt_tensor_data(b.x) + j * 784, 784 * sizeof(float));
        assert_int_equal((int64_t)volt_tensor_item(volt_sample_get(&s, "y")),
                         ((const int64_t *)volt_tensor_data(b.y))[j]);
    }
    /* Pixel (14, 14) of test image 0 is exactly value / 255 of its byte. */
    volt_dataset_free(ds);
    volt_dataset *train = volt_idx_dataset_new(TRAIN_IMAGES, TRAIN_LABELS);
    assert_non_null(train);
    assert_int_equal(volt_dataset_len(train), 60000);
    volt_sample s;
    assert_int_equal(volt_dataset_get(train, 0, &s), VOLT_OK);
    assert_true(((const float *)volt_tensor_data(s.fields[0]))[14 * 28 + 14] == 217.0f / 255.0f);
    assert_int_equal((int64_t)volt_tensor_item(volt_sample_get(&s, "y")), 9);
    assert_int_equal(volt_dataset_get(train, 1234, &s), VOLT_OK);
    assert_int_equal((int64_t)volt_tensor_item(volt_sample_get(&s, "y")), 8);
    assert_int_equal(volt_dataset_get(train, 60000, &s), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "index 60000 out of range [0, 60000)");
    volt_dataset_free(train);
}

/* ------------------------------------------------------- small files */

/* An IDX file: magic 0x0000TTNN, sizes, data. */
static size_t make_idx(uint8_t *buf, uint8_t type, int ndim, const uint32_t *dims,
                       const uint8_t *data, size_t n) {
    size_t k = 0;
    buf[k++] = 0;
    buf[k++] = 0;
    buf[k++] = type;
    buf[k++] = (uint8_t)ndim;
    for (int d = 0; d < ndim; d++) {
        buf[k++] = (uint8_t)(dims[d] >> 24);
        buf[k++] = (uint8_t)(dims[d] >> 16);
        buf[k++] = (uint8_t)(dims[d] >> 8);
        buf[k++] = (uint8_t)dims[d];
    }
    memcpy(buf + k, data, n);
    return k + n;
}

static void test_small_raw_and_gzip(void **state) {
    (void)state;
    char ip[512], lp[512], gp[512];
    uint8_t buf[256], pixels[12] = {0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6};
    size_t n = make_idx(buf, 0x08, 3, (uint32_t[]){2, 2, 3}, pixels, 12);
    write_file(tmp_path(ip, sizeof ip, "small-images"), buf, n);
    gzFile gz = gzopen(tmp_path(gp, sizeof gp, "small-images.gz"), "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, buf, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
    n = make_idx(buf, 0x08, 1, (uint32_t[]){2}, (const uint8_t[]){7, 3}, 2);
    write_file(tmp_path(lp, sizeof lp, "small-labels"), buf, n);

    const char *images[2] = {ip, gp};
    for (int k = 0; k < 2; k++) {
        volt_dataset *ds = volt_idx_dataset_new(images[k], lp);
        assert_non_null(ds);
        assert_int_equal(volt_dataset_len(ds), 2);
        volt_sample s;
        assert_int_equal(volt_dataset_get(ds, 0, &s), VOLT_OK);
        double expected[6] = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
        VT_ASSERT_SHAPE(volt_sample_get(&s, "x"), 1, 2, 3);
        VT_ASSERT_CLOSE(volt_sample_get(&s, "x"), expected, 6, 1e-6, 0);
        assert_int_equal((int64_t)volt_tensor_item(volt_sample_get(&s, "y")), 7);
        volt_dataset_free(ds);
    }
    volt_tensor *t = volt_idx_read(gp);
    VT_ASSERT_SHAPE(t, 2, 2, 3);
    assert_memory_equal(volt_tensor_data(t), pixels, 12);
}

/* ------------------------------------------------------------ bad files */

static void expect_images_error(const char *images, const char *labels, volt_status status,
                                const char *substr) {
    volt_dataset *ds = volt_idx_dataset_new(images, labels);
    assert_null(ds);
    VT_ASSERT_ERROR(status, substr);
}

static void test_missing_files(void **state) {
    (void)state;
    expect_images_error("/nonexistent/train-images-idx3-ubyte.gz", TEST_LABELS, VOLT_ERR_IO,
                        "idx: /nonexistent/train-images-idx3-ubyte.gz: No such file");
    assert_null(volt_idx_read(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL path");
    char dir[512];
    tmp_path(dir, sizeof dir, "");
    assert_null(volt_idx_read(dir));
    VT_ASSERT_ERROR(VOLT_ERR_IO, "Is a directory");
}

static void test_truncated_real_files(void **state) {
    (void)state;
    char p[512];
    /* Cut inside the compressed pixels, inside the gzip header, right after
     * the IDX header of a raw copy. */
    copy_prefix(TEST_IMAGES, tmp_path(p, sizeof p, "cut-images.gz"), 100000);
    expect_images_error(p, TEST_LABELS, VOLT_ERR_FORMAT, "cut-images.gz: truncated");
    copy_prefix(TEST_IMAGES, p, 6);
    expect_images_error(p, TEST_LABELS, VOLT_ERR_FORMAT, "cut-images.gz: truncated");
    copy_prefix(TEST_LABELS, tmp_path(p, sizeof p, "cut-labels.gz"), 3000);
    expect_images_error(TEST_IMAGES, p, VOLT_ERR_FORMAT, "cut-labels.gz: truncated");
    copy_prefix(TEST_LABELS, p, 20);
    expect_images_error(TEST_IMAGES, p, VOLT_ERR_FORMAT, "cut-labels.gz");
}

static void test_corrupt_gzip(void **state) {
    (void)state;
    char p[512];
    FILE *f = fopen(TEST_LABELS, "rb");
    assert_non_null(f);
    uint8_t buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, 5125);
    for (size_t i = 1000; i < 1100; i++) buf[i] ^= 0x5a;
    write_file(tmp_path(p, sizeof p, "corrupt-labels.gz"), buf, n);
    assert_null(volt_idx_read(p));
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "corrupt-labels.gz");
    /* A gzip trailer whose CRC no longer matches. */
    f = fopen(TEST_LABELS, "rb");
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    buf[n - 6] ^= 0xff;
    write_file(p, buf, n);
    assert_null(volt_idx_read(p));
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "corrupt gzip data");
}

static void test_bad_headers(void **state) {
    (void)state;
    char ip[512], lp[512];
    uint8_t buf[256], data[6] = {1, 2, 3, 4, 5, 6};
    tmp_path(ip, sizeof ip, "bad-images");
    tmp_path(lp, sizeof lp, "good-labels");
    size_t n = make_idx(buf, 0x08, 1, (uint32_t[]){1}, data, 1);
    write_file(lp, buf, n);

    memset(buf, 0, 16);
    write_file(ip, buf, 16);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT,
                        "bad-images: bad magic 0x00000000 (expected 0x00000803 for u8 images)");
    write_file(ip, "\x1f\x8b", 2);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "truncated");
    n = make_idx(buf, 0x0D, 3, (uint32_t[]){1, 2, 3}, data, 6);
    write_file(ip, buf, n);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "element type 0x0d is not supported");
    n = make_idx(buf, 0x08, 1, (uint32_t[]){6}, data, 6);
    write_file(ip, buf, n);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "1 dimensions (magic 0x00000801), expected 3");
    n = make_idx(buf, 0x08, 3, (uint32_t[]){1, 0, 3}, data, 0);
    write_file(ip, buf, n);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "size of dimension 1 is 0");
    n = make_idx(buf, 0x08, 3, (uint32_t[]){0xffffffffu, 0xffffffffu, 0xffffffffu}, data, 6);
    write_file(ip, buf, n);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "sizes too large");
    /* A header that claims 4 GB on a 22-byte file: refused at its end. */
    n = make_idx(buf, 0x08, 3, (uint32_t[]){100000, 200, 200}, data, 6);
    write_file(ip, buf, n);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "truncated: 6 of the 4000000000 data bytes");
    n = make_idx(buf, 0x08, 3, (uint32_t[]){1, 2, 2}, data, 6);
    write_file(ip, buf, n);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "trailing bytes after the 4 data bytes");
    n = make_idx(buf, 0x08, 3, (uint32_t[]){1, 2, 3}, data, 6);
    write_file(ip, buf, 14);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "truncated in the header");
}

static void test_mismatched_counts(void **state) {
    (void)state;
    char ip[512], lp[512];
    uint8_t buf[256], data[12] = {0};
    size_t n = make_idx(buf, 0x08, 3, (uint32_t[]){2, 2, 3}, data, 12);
    write_file(tmp_path(ip, sizeof ip, "two-images"), buf, n);
    n = make_idx(buf, 0x08, 1, (uint32_t[]){3}, data, 3);
    write_file(tmp_path(lp, sizeof lp, "three-labels"), buf, n);
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "two-images has 2 images but");
    expect_images_error(ip, lp, VOLT_ERR_FORMAT, "three-labels has 3 labels");
    /* Images given as labels. */
    expect_images_error(ip, ip, VOLT_ERR_FORMAT, "expected 1 for u8 labels");
}

/* ------------------------------------------------------------ the cache */

/* Entries of dir whose name starts with prefix (-1: no such directory). */
static int count_entries(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* The path of the one entry of dir starting with prefix. */
static void only_entry(const char *dir, const char *prefix, char *out, size_t size) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n++ == 0)
            snprintf(out, size, "%s/%s", dir, e->d_name);
    closedir(d);
    assert_int_equal(n, 1);
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

/* Image `index` of ds as its bytes (value * 255). */
static void image_bytes(const volt_dataset *ds, int64_t index, uint8_t *out) {
    volt_sample s;
    assert_int_equal(volt_dataset_get(ds, index, &s), VOLT_OK);
    const float *x = volt_tensor_data(volt_sample_get(&s, "x"));
    for (int k = 0; k < 784; k++) out[k] = (uint8_t)(x[k] * 255.0f + 0.5f);
}

static void use_cache_dir(const char *name, char *cache, size_t size) {
    char base[400];
    tmp_path(base, sizeof base, name);
    assert_int_equal(setenv("XDG_CACHE_HOME", base, 1), 0);
    snprintf(cache, size, "%s/volt", base);
}

static void test_gzip_images_cached_and_read_in_place(void **state) {
    (void)state;
    char cache[512], file[1024];
    use_cache_dir("cache-in-place", cache, sizeof cache);
    volt_tensor *all = volt_idx_read(TEST_IMAGES);
    assert_non_null(all);
    volt_dataset *ds = volt_idx_dataset_new(TEST_IMAGES, TEST_LABELS);
    assert_non_null(ds);
    /* The uncompressed copy: header + 10000 x 784 bytes, named after the source. */
    only_entry(cache, "t10k-images-idx3-ubyte-", file, sizeof file);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_size, 16 + 10000 * 784);
    uint8_t got[784];
    image_bytes(ds, 9999, got);
    assert_memory_equal(got, (const uint8_t *)volt_tensor_data(all) + 9999 * 784, 784);
    volt_dataset_free(ds);
    /* Made once: the next dataset reads the copy — a byte changed in it shows. */
    FILE *f = fopen(file, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 16 + 5 * 784 + 400, SEEK_SET), 0);
    assert_int_equal(fputc(77, f), 77);
    assert_int_equal(fclose(f), 0);
    ds = volt_idx_dataset_new(TEST_IMAGES, TEST_LABELS);
    assert_non_null(ds);
    image_bytes(ds, 5, got);
    assert_int_equal(got[400], 77);
    assert_int_equal(count_entries(cache, "t10k"), 1);
    volt_dataset_free(ds);
    volt_tensor_free(all);
}

static void test_training_images_stay_out_of_memory(void **state) {
    (void)state;
    char cache[512];
    use_cache_dir("cache-rss", cache, sizeof cache);
    long before = rss_kb();
    volt_dataset *ds = volt_idx_dataset_new(TRAIN_IMAGES, TRAIN_LABELS);
    assert_non_null(ds);
    int64_t idx[3] = {59999, 0, 1234};
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(ds, idx, 3, &b), VOLT_OK);
    uint64_t sums[3] = {0};
    const float *x = volt_tensor_data(b.x);
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 784; k++) sums[j] += (uint64_t)(x[j * 784 + k] * 255.0f + 0.5f);
    assert_int_equal(sums[0], 16684);
    assert_int_equal(sums[1], 76247);
    assert_int_equal(sums[2], 75588);
    /* The 47 MB of pixels are in the file (the page cache), not the process:
     * its resident memory grew by far less than that. */
    assert_true(rss_kb() - before < 16 * 1024);
    volt_batch_free(&b);
    volt_dataset_free(ds);
}

static void test_cache_keyed_by_mtime(void **state) {
    (void)state;
    char cache[512], src[512];
    use_cache_dir("cache-mtime", cache, sizeof cache);
    FILE *in = fopen(TEST_IMAGES, "rb");
    assert_non_null(in);
    static uint8_t buf[1 << 16];
    FILE *out = fopen(tmp_path(src, sizeof src, "copy-images.gz"), "wb");
    for (size_t n; (n = fread(buf, 1, sizeof buf, in)) > 0;)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    int made = count_entries(cache, "copy-images-"); /* -1: none yet */
    made = made < 0 ? 0 : made;
    volt_dataset *ds = volt_idx_dataset_new(src, TEST_LABELS);
    assert_non_null(ds);
    volt_dataset_free(ds);
    assert_int_equal(count_entries(cache, "copy-images-"), made + 1);
    /* A source with another mtime is another file: a new copy. */
    struct timeval times[2] = {{1000000000 + made, 0}, {1000000000 + made, 0}};
    assert_int_equal(utimes(src, times), 0);
    ds = volt_idx_dataset_new(src, TEST_LABELS);
    assert_non_null(ds);
    assert_int_equal(volt_dataset_len(ds), 10000);
    volt_dataset_free(ds);
    assert_int_equal(count_entries(cache, "copy-images-"), made + 2);
}

static void test_cache_after_bad_source_and_unwritable(void **state) {
    (void)state;
    char cache[512], p[512];
    use_cache_dir("cache-bad", cache, sizeof cache);
    /* A truncated source: its error, and no temporary file left behind. */
    copy_prefix(TEST_IMAGES, tmp_path(p, sizeof p, "cut-cached-images.gz"), 100000);
    expect_images_error(p, TEST_LABELS, VOLT_ERR_FORMAT, "cut-cached-images.gz: truncated");
    assert_int_equal(count_entries(cache, "cut-cached"), 0);
    /* A cache "directory" that is a file: the images are read into memory. */
    char base[512];
    write_file(tmp_path(base, sizeof base, "cache-is-a-file"), "x", 1);
    assert_int_equal(setenv("XDG_CACHE_HOME", base, 1), 0);
    volt_dataset *ds = volt_idx_dataset_new(TEST_IMAGES, TEST_LABELS);
    assert_non_null(ds);
    VT_ASSERT_NO_ERROR();
    uint8_t got[784];
    image_bytes(ds, 0, got);
    uint64_t sum = 0;
    for (int k = 0; k < 784; k++) sum += got[k];
    volt_tensor *all = volt_idx_read(TEST_IMAGES);
    assert_int_equal(sum, byte_sum(all, 0, 784));
    volt_tensor_free(all);
    volt_dataset_free(ds);
}

static void test_raw_file_shrinking_while_in_use(void **state) {
    (void)state;
    char ip[512], lp[512];
    uint8_t buf[256], pixels[12] = {0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6};
    size_t n = make_idx(buf, 0x08, 3, (uint32_t[]){2, 2, 3}, pixels, 12);
    write_file(tmp_path(ip, sizeof ip, "shrinking-images"), buf, n);
    n = make_idx(buf, 0x08, 1, (uint32_t[]){2}, (const uint8_t[]){7, 3}, 2);
    write_file(tmp_path(lp, sizeof lp, "shrinking-labels"), buf, n);
    volt_dataset *ds = volt_idx_dataset_new(ip, lp);
    assert_non_null(ds);
    assert_int_equal(truncate(ip, 16 + 6), 0);
    volt_sample s;
    assert_int_equal(volt_dataset_get(ds, 0, &s), VOLT_OK);
    assert_int_equal(volt_dataset_get(ds, 1, &s), VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "shrinking-images: image 1: the file got shorter while in use");
    volt_dataset_free(ds);
}

/* Where the cache lives: XDG_CACHE_HOME/volt, else HOME/.cache/volt, else
 * (HOME unset) the password database's home/.cache/volt; a relative
 * XDG_CACHE_HOME is ignored. */
static void test_cache_directory(void **state) {
    (void)state;
    char *xdg = strdup(getenv("XDG_CACHE_HOME")), *home = getenv("HOME");
    home = home ? strdup(home) : NULL;
    assert_int_equal(setenv("XDG_CACHE_HOME", "/x/cache", 1), 0);
    char *p = volt_idx_cache_path(TEST_IMAGES);
    assert_non_null(p);
    assert_true(strncmp(p, "/x/cache/volt/t10k-images-idx3-ubyte-", 37) == 0);
    free(p);
    assert_int_equal(setenv("XDG_CACHE_HOME", "relative", 1), 0);
    assert_int_equal(setenv("HOME", "/h", 1), 0);
    p = volt_idx_cache_path(TEST_IMAGES);
    assert_non_null(p);
    assert_true(strncmp(p, "/h/.cache/volt/t10k", 19) == 0);
    free(p);
    assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);
    assert_int_equal(unsetenv("HOME"), 0);
    p = volt_idx_cache_path(TEST_IMAGES);
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_dir && pw->pw_dir[0] == '/') {
        char want[1024];
        snprintf(want, sizeof want, "%s/.cache/volt/t10k", pw->pw_dir);
        assert_non_null(p);
        if (strncmp(p, want, strlen(want)) != 0) fail_msg("%s does not start with %s", p, want);
    }
    free(p);
    assert_int_equal(setenv("XDG_CACHE_HOME", xdg, 1), 0);
    if (home) assert_int_equal(setenv("HOME", home, 1), 0);
    free(xdg);
    free(home);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_read_train_images),
        VT_TEST(test_read_labels),
        VT_TEST(test_dataset_test_split),
        VT_TEST(test_dataset_get_matches_batch),
        VT_TEST(test_small_raw_and_gzip),
        VT_TEST(test_missing_files),
        VT_TEST(test_truncated_real_files),
        VT_TEST(test_corrupt_gzip),
        VT_TEST(test_bad_headers),
        VT_TEST(test_mismatched_counts),
        VT_TEST(test_gzip_images_cached_and_read_in_place),
        VT_TEST(test_training_images_stay_out_of_memory),
        VT_TEST(test_cache_keyed_by_mtime),
        VT_TEST(test_cache_after_bad_source_and_unwritable),
        VT_TEST(test_raw_file_shrinking_while_in_use),
        VT_TEST(test_cache_directory),
    };
    char cache[512];
    setenv("XDG_CACHE_HOME", tmp_path(cache, sizeof cache, "cache"), 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
