/* test_csv.c: the CSV dataset — header and label column, no header, other
 * delimiters, CRLF, quotes, float labels, the fast path against get, and the
 * refusals (missing values, text, ragged rows, non-integer classes, unknown
 * label column, empty files, missing file). */
#include "volt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/data.h>

static const char *write_csv(const char *name, const char *text) {
    static char path[512];
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "/tmp", name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_header_and_label(void **state) {
    (void)state;
    const char *p = write_csv("iris.csv", "a,b,label\n1,2,0\n3.5,-4e1,1\n\n0.25, 8 ,2\n");
    volt_dataset *ds = volt_csv_dataset_new(p, NULL);
    assert_non_null(ds);
    assert_int_equal(volt_dataset_len(ds), 3);
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(ds, (int64_t[]){1, 2, 0}, 3, &b), VOLT_OK);
    VT_ASSERT_SHAPE(b.x, 3, 2);
    VT_ASSERT_CLOSE(b.x, ((double[]){3.5, -40, 0.25, 8, 1, 2}), 6, 0, 0);
    assert_int_equal(b.y->dtype, VOLT_I64);
    VT_ASSERT_CLOSE(b.y, ((double[]){1, 2, 0}), 3, 0, 0);
    volt_sample s;
    assert_int_equal(volt_dataset_get(ds, 2, &s), VOLT_OK);
    VT_ASSERT_CLOSE(volt_sample_get(&s, "x"), ((double[]){0.25, 8}), 2, 0, 0);
    assert_int_equal(volt_sample_get(&s, "y")->ndim, 0);
    assert_int_equal((int64_t)volt_tensor_item(volt_sample_get(&s, "y")), 2);
    volt_dataset_free(ds);

    /* The label in the first column, as a float target. */
    ds = volt_csv_dataset_new(p, &(volt_csv_options){.label_column = "a", .float_label = true});
    assert_int_equal(volt_dataset_get(ds, 1, &s), VOLT_OK);
    VT_ASSERT_CLOSE(volt_sample_get(&s, "x"), ((double[]){-40, 1}), 2, 0, 0);
    assert_int_equal(volt_sample_get(&s, "y")->dtype, VOLT_F32);
    VT_ASSERT_CLOSE(volt_sample_get(&s, "y"), ((double[]){3.5}), 1, 0, 0);
    volt_dataset_free(ds);
}

static void test_no_header_delimiter_crlf_quotes(void **state) {
    (void)state;
    const char *p = write_csv("semi.csv", "\"7\";1.5;2\r\n8;\"2.5\";3\r\n");
    volt_dataset *ds = volt_csv_dataset_new(
        p, &(volt_csv_options){.no_header = true, .delimiter = ';', .label_column = "0"});
    assert_non_null(ds);
    assert_int_equal(volt_dataset_len(ds), 2);
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(ds, (int64_t[]){0, 1}, 2, &b), VOLT_OK);
    VT_ASSERT_CLOSE(b.x, ((double[]){1.5, 2, 2.5, 3}), 4, 0, 0);
    VT_ASSERT_CLOSE(b.y, ((double[]){7, 8}), 2, 0, 0);
    volt_dataset_free(ds);
}

static void expect_error(const char *name, const char *text, const volt_csv_options *o,
                         volt_status status, const char *substr) {
    const char *p = write_csv(name, text);
    assert_null(volt_csv_dataset_new(p, o));
    VT_ASSERT_ERROR(status, substr);
}

static void test_refusals(void **state) {
    (void)state;
    expect_error(
        "empty-field.csv", "a,b,y\n1,2,0\n3,,1\n", NULL, VOLT_ERR_FORMAT,
        "empty-field.csv:3: column 'b' is missing a value (''); missing values are not supported");
    expect_error("na.csv", "a,b,y\n1,NA,0\n", NULL, VOLT_ERR_FORMAT,
                 "na.csv:2: column 'b' is missing a value ('NA')");
    expect_error("nan.csv", "a,b,y\n1,2,0\nNaN,2,0\n", NULL, VOLT_ERR_FORMAT,
                 "nan.csv:3: column 'a' is missing a value ('NaN')");
    expect_error("text.csv", "a,b,y\n1,abc,0\n", NULL, VOLT_ERR_FORMAT,
                 "text.csv:2: column 'b': 'abc' is not a number");
    expect_error("partial.csv", "a,b,y\n1,2x,0\n", NULL, VOLT_ERR_FORMAT, "'2x' is not a number");
    expect_error("inf.csv", "a,b,y\n1,inf,0\n", NULL, VOLT_ERR_FORMAT, "'inf' is not finite");
    expect_error("ragged.csv", "a,b,y\n1,2,0\n1,2\n", NULL, VOLT_ERR_FORMAT,
                 "ragged.csv:3: 2 fields, expected 3");
    expect_error("class.csv", "a,y\n1,2.5\n", NULL, VOLT_ERR_FORMAT,
                 "class.csv:2: label column 'y' holds 2.5, not an integer class index");
    expect_error("nolabel.csv", "a,b\n1,2\n", &(volt_csv_options){.label_column = "target"},
                 VOLT_ERR_INVALID_ARGUMENT,
                 "nolabel.csv: no column 'target' (2 columns, the first 'a')");
    expect_error("header-only.csv", "a,b,y\n", NULL, VOLT_ERR_FORMAT,
                 "header-only.csv: no data rows");
    expect_error("empty.csv", "", NULL, VOLT_ERR_FORMAT, "empty.csv: no data rows");
    expect_error("one-column.csv", "y\n1\n", NULL, VOLT_ERR_FORMAT,
                 "1 column; need features and a label");
    assert_null(volt_csv_dataset_new("/nonexistent/data.csv", NULL));
    VT_ASSERT_ERROR(VOLT_ERR_IO, "csv: /nonexistent/data.csv: No such file or directory");
    assert_null(volt_csv_dataset_new(NULL, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL path");
}

static void test_large_file(void **state) {
    (void)state;
    /* 5000 rows (beyond the first read buffer and row allocation). */
    size_t cap = 5000 * 40 + 64, n = 0;
    char *text = malloc(cap);
    n += (size_t)snprintf(text + n, cap - n, "x0,x1,x2,y\n");
    for (int r = 0; r < 5000; r++)
        n += (size_t)snprintf(text + n, cap - n, "%d,%d.5,%d,%d\n", r, r, -r, r % 7);
    const char *p = write_csv("large.csv", text);
    free(text);
    volt_dataset *ds = volt_csv_dataset_new(p, NULL);
    assert_int_equal(volt_dataset_len(ds), 5000);
    volt_sample s;
    assert_int_equal(volt_dataset_get(ds, 4321, &s), VOLT_OK);
    VT_ASSERT_CLOSE(volt_sample_get(&s, "x"), ((double[]){4321, 4321.5, -4321}), 3, 0, 0);
    assert_int_equal((int64_t)volt_tensor_item(volt_sample_get(&s, "y")), 4321 % 7);
    volt_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_header_and_label),
        VT_TEST(test_no_header_delimiter_crlf_quotes),
        VT_TEST(test_refusals),
        VT_TEST(test_large_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
