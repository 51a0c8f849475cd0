/* test_tokens.c: token files — the writer's layout byte by byte, windows of
 * u16 and u32 files (x and the next-token y), strides, the fast path
 * against get, and refusals: bad magic, unknown version or width,
 * truncated files, trailing bytes, too few tokens, bad options. */
#include "volt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/data.h>

static const char *tmp_path(char *buf, size_t size, const char *name) {
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(buf, size, "%s/%s", dir ? dir : "/tmp", name);
    return buf;
}

static size_t read_all(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void write_all(const char *path, const uint8_t *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
}

static void test_layout(void **state) {
    (void)state;
    char p[512];
    tmp_path(p, sizeof p, "layout.tok");
    assert_int_equal(volt_token_file_write(p, 2, (int64_t[]){1, 258, 65535}, 3), VOLT_OK);
    uint8_t buf[64];
    assert_int_equal(read_all(p, buf, sizeof buf), 38);
    static const uint8_t expected[38] = {
        'V', 'O', 'L', 'T', 'T', 'O', 'K', 'S', /* magic */
        1,   0,   0,   0,   2,   0,   0,   0,   /* version 1, width 2 */
        3,   0,   0,   0,   0,   0,   0,   0,   /* 3 tokens */
        0,   0,   0,   0,   0,   0,   0,   0,   /* reserved */
        1,   0,   2,   1,   255, 255};          /* 1, 258, 65535 */
    assert_memory_equal(buf, expected, 38);
}

static void test_windows(void **state) {
    (void)state;
    char p[512];
    int64_t tokens[100];
    for (int i = 0; i < 100; i++) tokens[i] = (i * 7919) % 65536;
    assert_int_equal(volt_token_file_write(tmp_path(p, sizeof p, "u16.tok"), 2, tokens, 100),
                     VOLT_OK);
    volt_dataset *ds = volt_token_dataset_new(p, &(volt_token_options){.seq_len = 8});
    assert_non_null(ds);
    assert_int_equal(volt_dataset_len(ds), 12); /* (100 - 9) / 8 + 1 */
    volt_sample s;
    assert_int_equal(volt_dataset_get(ds, 3, &s), VOLT_OK);
    double x[8], y[8];
    for (int t = 0; t < 8; t++) {
        x[t] = (double)tokens[24 + t];
        y[t] = (double)tokens[25 + t];
    }
    VT_ASSERT_SHAPE(volt_sample_get(&s, "x"), 8);
    assert_int_equal(volt_sample_get(&s, "x")->dtype, VOLT_I64);
    VT_ASSERT_CLOSE(volt_sample_get(&s, "x"), x, 8, 0, 0);
    VT_ASSERT_CLOSE(volt_sample_get(&s, "y"), y, 8, 0, 0);
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(ds, (int64_t[]){11, 3}, 2, &b), VOLT_OK);
    VT_ASSERT_SHAPE(b.x, 2, 8);
    assert_memory_equal((const int64_t *)volt_tensor_data(b.x) + 8,
                        volt_tensor_data(volt_sample_get(&s, "x")), 8 * sizeof(int64_t));
    assert_int_equal(((const int64_t *)volt_tensor_data(b.y))[7], tokens[11 * 8 + 8]);
    volt_dataset_free(ds);
    /* Stride 1: every start position. */
    ds = volt_token_dataset_new(p, &(volt_token_options){.seq_len = 8, .stride = 1});
    assert_int_equal(volt_dataset_len(ds), 92);
    assert_int_equal(volt_dataset_get(ds, 91, &s), VOLT_OK);
    assert_int_equal((int64_t)volt_tensor_get_flat(volt_sample_get(&s, "y"), 7), tokens[99]);
    volt_dataset_free(ds);

    /* u32 tokens above 65535. */
    int64_t big[5] = {70000, 4294967295LL, 0, 123456789, 5};
    assert_int_equal(volt_token_file_write(tmp_path(p, sizeof p, "u32.tok"), 4, big, 5), VOLT_OK);
    ds = volt_token_dataset_new(p, &(volt_token_options){.seq_len = 4});
    assert_int_equal(volt_dataset_len(ds), 1);
    assert_int_equal(volt_dataset_get(ds, 0, &s), VOLT_OK);
    VT_ASSERT_CLOSE(volt_sample_get(&s, "x"), ((double[]){70000, 4294967295.0, 0, 123456789}), 4, 0,
                    0);
    VT_ASSERT_CLOSE(volt_sample_get(&s, "y"), ((double[]){4294967295.0, 0, 123456789, 5}), 4, 0, 0);
    volt_dataset_free(ds);
}

static void expect_refused(const char *path, const volt_token_options *o, volt_status st,
                           const char *substr) {
    assert_null(volt_token_dataset_new(path, o));
    VT_ASSERT_ERROR(st, substr);
}

static void test_refusals(void **state) {
    (void)state;
    char good[512], bad[512];
    int64_t tokens[20] = {0};
    assert_int_equal(volt_token_file_write(tmp_path(good, sizeof good, "good.tok"), 2, tokens, 20),
                     VOLT_OK);
    uint8_t buf[128];
    size_t n = read_all(good, buf, sizeof buf);
    assert_int_equal(n, 72);
    volt_token_options o = {.seq_len = 4};
    tmp_path(bad, sizeof bad, "bad.tok");

    write_all(bad, buf, n - 1);
    expect_refused(bad, &o, VOLT_ERR_FORMAT,
                   "bad.tok: 39 data bytes, but the header declares 20 "
                   "tokens of 2 bytes (truncated)");
    buf[n] = 0;
    write_all(bad, buf, n + 1);
    expect_refused(bad, &o, VOLT_ERR_FORMAT, "(trailing bytes)");
    write_all(bad, buf, 20);
    expect_refused(bad, &o, VOLT_ERR_FORMAT,
                   "bad.tok: truncated: 20 bytes, shorter than the 32-byte header");
    buf[0] = 'X';
    write_all(bad, buf, n);
    expect_refused(bad, &o, VOLT_ERR_FORMAT, "bad.tok: bad magic (expected \"VOLTTOKS\")");
    buf[0] = 'V';
    buf[8] = 2;
    write_all(bad, buf, n);
    expect_refused(bad, &o, VOLT_ERR_FORMAT,
                   "format version 2 is not supported (this volt reads version 1)");
    buf[8] = 1;
    buf[12] = 3;
    write_all(bad, buf, n);
    expect_refused(bad, &o, VOLT_ERR_FORMAT, "token width 3 (expected 2 or 4)");
    buf[12] = 2;
    buf[16] = 0xff; /* 255 tokens declared */
    write_all(bad, buf, n);
    expect_refused(bad, &o, VOLT_ERR_FORMAT, "declares 255 tokens");

    expect_refused(good, &(volt_token_options){.seq_len = 20}, VOLT_ERR_FORMAT,
                   "20 tokens, fewer than seq_len + 1 = 21");
    expect_refused(good, &(volt_token_options){.seq_len = 0}, VOLT_ERR_INVALID_ARGUMENT,
                   "seq_len must be >= 1");
    expect_refused(good, NULL, VOLT_ERR_INVALID_ARGUMENT, "seq_len is required");
    expect_refused("/nonexistent/x.tok", &o, VOLT_ERR_IO,
                   "tokens: /nonexistent/x.tok: No such file");

    assert_int_equal(volt_token_file_write(bad, 2, (int64_t[]){70000}, 1),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "tokens[0] = 70000 does not fit 2 bytes");
    assert_int_equal(volt_token_file_write(bad, 3, tokens, 1), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "token width 3 (expected 2 or 4)");
    assert_int_equal(volt_token_file_write("/nonexistent/dir/x.tok", 2, tokens, 1), VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "/nonexistent/dir/x.tok: No such file");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_layout),
        VT_TEST(test_windows),
        VT_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
