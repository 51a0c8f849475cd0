/* test_text_chars.c: character-level text — the byte vocabulary (sorted
 * distinct bytes, encode, decode, refusals), and the text datamodule: the
 * train/validation split sizes and window counts, windows whose y is x
 * shifted by one (read back as the text itself), strides, directories
 * (sorted files; *.dat, hidden files and symbolic links skipped) and lists
 * of paths, and refusals naming the path or option: a missing file, an
 * empty directory, a part shorter than a window, bad options. */
#include "volt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmp_path(char *buf, size_t size, const char *name) {
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(buf, size, "%s/%s", dir ? dir : "/tmp", name);
    return buf;
}

static void write_file(const char *path, const char *text, int repeat) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < repeat; i++) fputs(text, f);
    fclose(f);
}

/* ------------------------------------------------------------ vocabulary */

static void test_vocab(void **state) {
    (void)state;
    volt_char_vocab v;
    volt_char_vocab_build(&v, "hello, world", 12);
    assert_int_equal(v.size, 9);
    assert_memory_equal(v.chars, " ,dehlorw", 9); /* ascending bytes */
    for (int i = 0; i < 9; i++) assert_int_equal(v.index[v.chars[i]], i);
    volt_char_vocab_build(&v, NULL, 0);
    assert_int_equal(v.size, 0);
}

static void test_vocab_encode_decode(void **state) {
    (void)state;
    volt_char_vocab v;
    volt_char_vocab_build(&v, "hello", 5);
    assert_int_equal(v.size, 4);
    assert_memory_equal(v.chars, "ehlo", 4);
    assert_int_equal(v.index['l'], 2);
    assert_int_equal(v.index['z'], -1);
    int64_t t[5];
    assert_int_equal(volt_char_vocab_encode(&v, "hello", 5, t), VOLT_OK);
    assert_memory_equal(t, ((int64_t[]){1, 0, 2, 2, 3}), sizeof t);
    char text[6];
    assert_int_equal(volt_char_vocab_decode(&v, t, 5, text), VOLT_OK);
    assert_string_equal(text, "hello");
    assert_int_equal(volt_char_vocab_encode(&v, "hoz", 3, t), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "char_vocab_encode: byte 0x7a ('z') at 2 is not in the vocabulary of 4 "
                    "characters");
    t[1] = 4;
    assert_int_equal(volt_char_vocab_decode(&v, t, 2, text), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "char_vocab_decode: token 4 at 1 is out of range for a vocabulary of 4");
    /* every byte value, in order */
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)(255 - i);
    volt_char_vocab_build(&v, all, 256);
    assert_int_equal(v.size, 256);
    assert_int_equal(v.chars[0], 0);
    assert_int_equal(v.index[255], 255);
}

/* ---------------------------------------------------------- datamodule */

static volt_datamodule *text_dm(const char *path, int64_t block, int64_t stride,
                                double val_fraction, int64_t batch) {
    volt_text_datamodule_options o = volt_text_datamodule_defaults();
    o.path = path, o.block_size = block, o.stride = stride, o.val_fraction = val_fraction;
    o.batch_size = batch;
    volt_datamodule *dm = volt_text_datamodule_new(&o);
    assert_non_null(dm);
    return dm;
}

/* The text of window x (or y) of a batch row, decoded. */
static void row_text(const volt_char_vocab *v, const volt_tensor *t, int64_t row, char *out) {
    int64_t n = t->shape[1], tok[256];
    for (int64_t i = 0; i < n; i++) tok[i] = (int64_t)volt_tensor_get(t, (int64_t[]){row, i});
    assert_int_equal(volt_char_vocab_decode(v, tok, n, out), VOLT_OK);
}

static void test_split_and_windows(void **state) {
    (void)state;
    char path[512];
    /* 1000 characters: "0123456789" 100 times, the last 100 (10%) for validation */
    write_file(tmp_path(path, sizeof path, "digits.txt"), "0123456789", 100);
    volt_datamodule *dm = text_dm(path, 10, 0, 0.1, 1);
    const volt_char_vocab *v = volt_text_datamodule_vocab(dm);
    assert_non_null(v);
    assert_int_equal(v->size, 10);
    assert_memory_equal(v->chars, "0123456789", 10);
    volt_data_loader *train = volt_datamodule_train_loader(dm);
    volt_data_loader *val = volt_datamodule_val_loader(dm);
    volt_data_loader *test = volt_datamodule_test_loader(dm);
    assert_non_null(train);
    assert_non_null(val);
    assert_non_null(test);
    assert_int_equal(volt_data_loader_len(train), 89); /* (900 - 11) / 10 + 1 */
    assert_int_equal(volt_data_loader_len(val), 9);    /* (100 - 11) / 10 + 1 */
    assert_int_equal(volt_data_loader_len(test), 9);
    assert_null(volt_datamodule_predict_loader(dm));
    VT_ASSERT_NO_ERROR();
    volt_batch b;
    char x[16], y[16];
    assert_true(volt_data_loader_next(val, &b));
    VT_ASSERT_SHAPE(b.x, 1, 10);
    assert_int_equal(b.x->dtype, VOLT_I64);
    row_text(v, b.x, 0, x);
    row_text(v, b.y, 0, y);
    assert_string_equal(x, "0123456789"); /* text[900, 910) */
    assert_string_equal(y, "1234567890"); /* one further on */
    volt_data_loader_stop(val);
    volt_datamodule_free(dm);

    /* stride 1: a window at every position; batches of 4 hold the shuffle */
    dm = text_dm(path, 10, 1, 0.1, 4);
    train = volt_datamodule_train_loader(dm);
    v = volt_text_datamodule_vocab(dm);
    assert_int_equal(volt_data_loader_len(train), (890 + 3) / 4);
    assert_true(volt_data_loader_next(train, &b));
    VT_ASSERT_SHAPE(b.y, 4, 10);
    for (int64_t r = 0; r < 4; r++) {
        row_text(v, b.x, r, x);
        row_text(v, b.y, r, y);
        assert_memory_equal(x + 1, y, 9); /* y is x shifted by one */
        assert_true((y[9] - '0') == (x[9] - '0' + 1) % 10);
    }
    volt_data_loader_stop(train);
    char *sd = volt_datamodule_state_dict(dm);
    assert_non_null(strstr(sd, "\"train\""));
    free(sd);
    volt_datamodule_free(dm);

    /* no validation part */
    dm = text_dm(path, 10, 0, 0, 8);
    assert_int_equal(volt_data_loader_len(volt_datamodule_train_loader(dm)), (99 + 7) / 8);
    assert_null(volt_datamodule_val_loader(dm));
    VT_ASSERT_NO_ERROR();
    volt_datamodule_free(dm);
}

static void test_directory_and_lists(void **state) {
    (void)state;
    char dir[512], p[1100], q[600];
    tmp_path(dir, sizeof dir, "corpus");
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/b", dir);
    write_file(p, "b", 30);
    snprintf(p, sizeof p, "%s/a", dir);
    write_file(p, "a", 30);
    snprintf(p, sizeof p, "%s/a.dat", dir); /* fortune's index */
    write_file(p, "x", 30);
    snprintf(p, sizeof p, "%s/.hidden", dir);
    write_file(p, "y", 30);
    snprintf(p, sizeof p, "%s/a.u8", dir); /* fortune's links */
    unlink(p);
    assert_int_equal(symlink("a", p), 0);
    /* a then b: the second half (validation) is all b */
    volt_datamodule *dm = text_dm(dir, 4, 0, 0.5, 2);
    const volt_char_vocab *v = volt_text_datamodule_vocab(dm);
    assert_int_equal(v->size, 2);
    assert_memory_equal(v->chars, "ab", 2);
    volt_data_loader *val = volt_datamodule_val_loader(dm);
    assert_int_equal(volt_data_loader_len(val), 4); /* (30 - 5) / 4 + 1 = 7 windows, 2 a batch */
    volt_batch b;
    assert_true(volt_data_loader_next(val, &b));
    char x[8];
    row_text(v, b.x, 1, x);
    assert_string_equal(x, "bbbb");
    volt_data_loader_stop(val);
    volt_datamodule_free(dm);

    /* a list: the files in the order given */
    snprintf(p, sizeof p, "%s/b:%s/a", dir, dir);
    dm = text_dm(p, 4, 0, 0.5, 2);
    v = volt_text_datamodule_vocab(dm);
    val = volt_datamodule_val_loader(dm);
    assert_true(volt_data_loader_next(val, &b));
    row_text(v, b.x, 0, x);
    assert_string_equal(x, "aaaa");
    volt_data_loader_stop(val);
    volt_datamodule_free(dm);

    /* a directory with no text file */
    tmp_path(q, sizeof q, "empty_corpus");
    mkdir(q, 0755);
    dm = text_dm(q, 4, 0, 0.1, 2);
    assert_null(volt_datamodule_train_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_IO, "empty_corpus: no text files in the directory");
    volt_datamodule_free(dm);
}

static void test_refusals(void **state) {
    (void)state;
    char path[512], missing[512];
    tmp_path(missing, sizeof missing, "no_such_dir/fortunes");
    volt_datamodule *dm = text_dm(missing, 8, 0, 0.1, 2);
    assert_null(volt_datamodule_train_loader(dm));
    char want[700];
    snprintf(want, sizeof want, "text: path: %s: No such file or directory", missing);
    VT_ASSERT_ERROR(VOLT_ERR_IO, want);
    assert_null(volt_text_datamodule_vocab(dm));
    VT_ASSERT_ERROR(VOLT_ERR_IO, missing);
    volt_datamodule_free(dm);

    /* 100 characters: the validation tenth holds no window of 16 + 1 */
    write_file(tmp_path(path, sizeof path, "short.txt"), "abcdefghij", 10);
    dm = text_dm(path, 16, 0, 0.1, 2);
    assert_null(volt_datamodule_train_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "the validation part (the last 0.1 of 100 characters: 10) is shorter than "
                    "block_size + 1 = 17");
    volt_datamodule_free(dm);
    dm = text_dm(path, 100, 0, 0, 2);
    assert_null(volt_datamodule_train_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "the training part (100 characters) is shorter than block_size + 1 = 101");
    volt_datamodule_free(dm);

    volt_text_datamodule_options o = volt_text_datamodule_defaults();
    assert_null(volt_text_datamodule_new(&o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "text: path is required");
    o.path = path;
    o.block_size = 0;
    assert_null(volt_text_datamodule_new(&o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "text: block_size must be >= 1 (got 0)");
    o.block_size = 8, o.val_fraction = 1;
    assert_null(volt_text_datamodule_new(&o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "text: val_fraction must be in [0, 1) (got 1)");
    assert_null(volt_text_datamodule_new(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "text: options are required");
    volt_datamodule *fm = volt_fashion_mnist_new(NULL);
    assert_null(volt_text_datamodule_vocab(fm));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "not a datamodule made by volt_text_datamodule_new");
    volt_datamodule_free(fm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_vocab),
        VT_TEST(test_vocab_encode_decode),
        VT_TEST(test_split_and_windows),
        VT_TEST(test_directory_and_lists),
        VT_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
