/* test_csv_datamodule.c: the CSV datamodule — a seeded training/validation
 * split that keeps every row exactly once, a validation file of its own, the
 * test and predict loaders over the test file (and none without one), the
 * standardisation with the training rows' statistics (values computed by
 * hand), state_dict / load_state_dict resuming mid-epoch, and the refusals
 * (missing train_path, bad options, unreadable files, files whose feature
 * counts differ). */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/data.h>

static const char *write_csv(const char *name, const char *text) {
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    snprintf(path, 512, "%s/%s", dir ? dir : "/tmp", name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* n rows "i,2i,label" with label i % 3, the feature column a = i. */
static const char *numbered_csv(const char *name, int n) {
    char *text = malloc((size_t)n * 32 + 16);
    size_t len = (size_t)sprintf(text, "a,b,label\n");
    for (int i = 0; i < n; i++) len += (size_t)sprintf(text + len, "%d,%d,%d\n", i, 2 * i, i % 3);
    const char *p = write_csv(name, text);
    free(text);
    return p;
}

/* Marks seen[a] for every row of one epoch of l; returns the row count. */
static int64_t collect_rows(volt_data_loader *l, int *seen) {
    int64_t rows = 0;
    volt_batch b;
    for (;;) {
        volt_scope_begin();
        bool more = volt_data_loader_next(l, &b);
        for (int64_t i = 0; more && i < b.size; i++) {
            int a = (int)volt_tensor_get(b.x, (int64_t[]){i, 0});
            assert_int_equal((int64_t)volt_tensor_get(b.y, (int64_t[]){i}), a % 3);
            seen[a]++;
            rows++;
        }
        volt_scope_end();
        if (!more) break;
    }
    VT_ASSERT_NO_ERROR();
    return rows;
}

static void test_split(void **state) {
    (void)state;
    volt_csv_datamodule_options o = volt_csv_datamodule_defaults();
    o.train_path = numbered_csv("rows20.csv", 20);
    o.val_fraction = 0.25;
    o.batch_size = 4;
    o.seed = 7;
    volt_datamodule *dm = volt_csv_datamodule_new(&o);
    assert_non_null(dm);
    volt_data_loader *train = volt_datamodule_train_loader(dm);
    volt_data_loader *val = volt_datamodule_val_loader(dm);
    assert_non_null(train);
    assert_non_null(val);
    assert_int_equal(volt_data_loader_len(train), 4); /* 15 rows in batches of 4 */
    assert_int_equal(volt_data_loader_len(val), 2);   /* floor(0.25 * 20) = 5 rows */
    int seen[20] = {0}, val_seen[20] = {0};
    assert_int_equal(collect_rows(train, seen), 15);
    assert_int_equal(collect_rows(val, val_seen), 5);
    for (int i = 0; i < 20; i++) assert_int_equal(seen[i] + val_seen[i], 1);
    /* no test file: no test or predict loader, and no error */
    assert_null(volt_datamodule_test_loader(dm));
    assert_null(volt_datamodule_predict_loader(dm));
    VT_ASSERT_NO_ERROR();
    volt_datamodule_free(dm);

    /* the same seed holds out the same rows */
    volt_datamodule *again = volt_csv_datamodule_new(&o);
    int val_again[20] = {0};
    assert_int_equal(collect_rows(volt_datamodule_val_loader(again), val_again), 5);
    assert_memory_equal(val_seen, val_again, sizeof val_seen);
    volt_datamodule_free(again);

    /* val_fraction 0: every row trains, no validation loader */
    o.val_fraction = 0;
    dm = volt_csv_datamodule_new(&o);
    memset(seen, 0, sizeof seen);
    assert_int_equal(collect_rows(volt_datamodule_train_loader(dm), seen), 20);
    assert_null(volt_datamodule_val_loader(dm));
    VT_ASSERT_NO_ERROR();
    volt_datamodule_free(dm);
}

static void test_files(void **state) {
    (void)state;
    volt_csv_datamodule_options o = volt_csv_datamodule_defaults();
    o.train_path = numbered_csv("train12.csv", 12);
    o.val_path = numbered_csv("val5.csv", 5);
    o.test_path = numbered_csv("test7.csv", 7);
    o.batch_size = 5;
    o.drop_last = true;
    volt_datamodule *dm = volt_csv_datamodule_new(&o);
    assert_non_null(dm);
    assert_int_equal(volt_data_loader_len(volt_datamodule_train_loader(dm)), 2); /* 12, drop_last */
    assert_int_equal(volt_data_loader_len(volt_datamodule_val_loader(dm)), 1);
    assert_int_equal(volt_data_loader_len(volt_datamodule_test_loader(dm)), 2);
    volt_data_loader *predict = volt_datamodule_predict_loader(dm);
    assert_int_equal(volt_data_loader_len(predict), 2);
    /* the test rows in file order (not shuffled) */
    volt_batch b;
    assert_true(volt_data_loader_next(predict, &b));
    VT_ASSERT_SHAPE(b.x, 5, 2);
    VT_ASSERT_CLOSE(b.x, ((double[]){0, 0, 1, 2, 2, 4, 3, 6, 4, 8}), 10, 0, 0);
    volt_data_loader_stop(predict);
    VT_ASSERT_NO_ERROR();
    volt_datamodule_free(dm);
}

static void test_normalize(void **state) {
    (void)state;
    /* column a: 1, 3, 5, 7 -> mean 4, population std sqrt(5); column b is
     * constant (10): std 1, so it becomes 0 */
    volt_csv_datamodule_options o = volt_csv_datamodule_defaults();
    o.train_path = write_csv("norm_train.csv", "a,b,y\n1,10,0\n3,10,1\n5,10,0\n7,10,1\n");
    o.test_path = write_csv("norm_test.csv", "a,b,y\n4,12,1\n9,10,0\n");
    o.val_fraction = 0;
    o.normalize = true;
    o.batch_size = 4;
    volt_datamodule *dm = volt_csv_datamodule_new(&o);
    volt_batch b;
    volt_data_loader *test = volt_datamodule_test_loader(dm); /* the statistics come from train */
    assert_non_null(test);
    assert_true(volt_data_loader_next(test, &b));
    double s = sqrt(5.0);
    VT_ASSERT_CLOSE(b.x, ((double[]){0, 2, 5 / s, 0}), 4, 1e-6, 1e-6);
    volt_data_loader_stop(test);
    volt_data_loader *train = volt_datamodule_train_loader(dm);
    assert_true(volt_data_loader_next(train, &b));
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < 4; i++) {
        double v = volt_tensor_get(b.x, (int64_t[]){i, 0});
        sum += v;
        sq += v * v;
        assert_true(volt_tensor_get(b.x, (int64_t[]){i, 1}) == 0.0);
    }
    assert_true(fabs(sum) < 1e-5 && fabs(sq / 4 - 1) < 1e-5); /* mean 0, variance 1 */
    volt_data_loader_stop(train);
    VT_ASSERT_NO_ERROR();
    volt_datamodule_free(dm);
}

/* The first column of the next batch of l. */
static double next_first(volt_data_loader *l) {
    volt_scope_begin();
    volt_batch b;
    double v = volt_data_loader_next(l, &b) ? volt_tensor_get(b.x, (int64_t[]){0, 0}) : NAN;
    volt_scope_end();
    return v;
}

static void test_state_dict(void **state) {
    (void)state;
    volt_csv_datamodule_options o = volt_csv_datamodule_defaults();
    o.train_path = numbered_csv("rows30.csv", 30);
    o.batch_size = 3;
    o.seed = 11;
    volt_datamodule *dm = volt_csv_datamodule_new(&o);
    volt_data_loader *train = volt_datamodule_train_loader(dm);
    next_first(train);
    next_first(train);
    char *json = volt_datamodule_state_dict(dm);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"train\""));
    assert_non_null(strstr(json, "\"position\": 2")); /* the loader state text, as written */
    double want = next_first(train);
    volt_datamodule_free(dm);

    volt_datamodule *resumed = volt_csv_datamodule_new(&o);
    assert_int_equal(volt_datamodule_load_state_dict(resumed, json), VOLT_OK);
    assert_true(next_first(volt_datamodule_train_loader(resumed)) == want);
    volt_data_loader_stop(volt_datamodule_train_loader(resumed));
    assert_int_not_equal(volt_datamodule_load_state_dict(resumed, "{\"nope\": {}}"), VOLT_OK);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "csv_datamodule: load_state_dict: unknown key 'nope'");
    free(json);
    volt_datamodule_free(resumed);
}

static void expect_refused(const volt_csv_datamodule_options *o, const char *substr) {
    assert_null(volt_csv_datamodule_new(o));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, substr);
}

static void test_refusals(void **state) {
    (void)state;
    assert_null(volt_csv_datamodule_new(NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "csv_datamodule: options are required");
    volt_csv_datamodule_options o = volt_csv_datamodule_defaults();
    expect_refused(&o, "csv_datamodule: train_path is required");
    o.train_path = numbered_csv("rows10.csv", 10);
    o.val_fraction = 1;
    expect_refused(&o, "csv_datamodule: val_fraction must be in [0, 1) (got 1)");
    o.val_fraction = NAN;
    expect_refused(&o, "val_fraction must be in [0, 1) (got nan)");
    o.val_fraction = 0.1;
    o.batch_size = 0;
    expect_refused(&o, "csv_datamodule: batch_size must be >= 1 (got 0)");
    o.batch_size = 2;
    o.num_workers = 65;
    expect_refused(&o, "csv_datamodule: num_workers must be in [0, 64] (got 65)");
    o.num_workers = 0;

    /* a file that is not there: the loader fails, naming the option and the file */
    o.test_path = "/nonexistent/test.csv";
    volt_datamodule *dm = volt_csv_datamodule_new(&o);
    assert_non_null(dm);
    assert_null(volt_datamodule_test_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_IO, "csv_datamodule: test_path /nonexistent/test.csv: No such file");
    volt_datamodule_free(dm);

    /* a test file with another number of feature columns */
    o.test_path = write_csv("three.csv", "a,b,c,y\n1,2,3,0\n");
    dm = volt_csv_datamodule_new(&o);
    assert_non_null(volt_datamodule_train_loader(dm));
    assert_null(volt_datamodule_test_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "has 3 feature columns, the training file 2");
    volt_datamodule_free(dm);

    /* a split that leaves no training rows; a bad row names the file and line */
    o.test_path = NULL;
    o.train_path = write_csv("one.csv", "a,y\n1,0\n");
    dm = volt_csv_datamodule_new(&o);
    assert_null(volt_datamodule_train_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "leaves no training rows");
    volt_datamodule_free(dm);
    o.train_path = write_csv("bad.csv", "a,y\n1,0\nx,1\n");
    dm = volt_csv_datamodule_new(&o);
    assert_null(volt_datamodule_train_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "bad.csv:3");
    volt_datamodule_free(dm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_split),      VT_TEST(test_files),    VT_TEST(test_normalize),
        VT_TEST(test_state_dict), VT_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
