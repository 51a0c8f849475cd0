/* test_fashion_mnist.c: the datamodule interface (prepare once, setup once
 * per stage, teardown, default state) and the Fashion-MNIST datamodule: loader
 * lengths and shapes on the real files, a seeded validation split that keeps
 * every training item exactly once (label counts), transforms per split,
 * state_dict / load_state_dict resuming mid-epoch, a directory of raw
 * MNIST-format files, and bad options and directories. */
#include "volt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <volt/data.h>

/* Label counts over a whole epoch of a loader; returns the item count. */
static int64_t count_labels(volt_data_loader *l, int64_t *counts) {
    int64_t items = 0;
    volt_batch b;
    for (;;) {
        volt_scope_begin();
        bool more = volt_data_loader_next(l, &b);
        if (more) {
            const int64_t *y = volt_tensor_data(b.y);
            for (int64_t i = 0; i < b.size; i++) counts[y[i]]++;
            items += b.size;
        }
        volt_scope_end();
        if (!more) break;
    }
    VT_ASSERT_NO_ERROR();
    return items;
}

static void test_real_files(void **state) {
    (void)state;
    volt_datamodule *dm = volt_fashion_mnist_new(&(volt_fashion_mnist_options){.batch_size = 128});
    assert_non_null(dm);
    volt_data_loader *train = volt_datamodule_train_loader(dm);
    volt_data_loader *val = volt_datamodule_val_loader(dm);
    volt_data_loader *test = volt_datamodule_test_loader(dm);
    assert_non_null(train);
    assert_non_null(val);
    assert_non_null(test);
    assert_ptr_equal(volt_datamodule_train_loader(dm), train); /* the same loader each time */
    assert_int_equal(volt_data_loader_len(train), 430);        /* ceil(55000 / 128) */
    assert_int_equal(volt_data_loader_len(val), 40);           /* ceil(5000 / 128) */
    assert_int_equal(volt_data_loader_len(test), 79);
    assert_int_equal(volt_data_loader_len(volt_datamodule_predict_loader(dm)), 79);

    volt_batch b;
    assert_true(volt_data_loader_next(train, &b));
    VT_ASSERT_SHAPE(b.x, 128, 784);
    VT_ASSERT_SHAPE(b.y, 128);
    assert_true(volt_tensor_item(volt_min_all(b.x)) >= 0.0);
    assert_true(volt_tensor_item(volt_max_all(b.x)) <= 1.0);
    volt_data_loader_stop(train);

    /* Training and validation items together: each class 6000 times. */
    int64_t counts[10] = {0};
    volt_data_loader_set_epoch(train, 0);
    assert_int_equal(count_labels(train, counts), 55000);
    assert_int_equal(count_labels(val, counts), 5000);
    for (int c = 0; c < 10; c++) assert_int_equal(counts[c], 6000);
    int64_t test_counts[10] = {0};
    assert_int_equal(count_labels(test, test_counts), 10000);
    for (int c = 0; c < 10; c++) assert_int_equal(test_counts[c], 1000);
    /* The test loader is in file order: the first labels of the file. */
    assert_true(volt_data_loader_next(test, &b));
    static const int64_t first[5] = {9, 2, 1, 1, 6};
    assert_memory_equal(volt_tensor_data(b.y), first, sizeof first);
    volt_datamodule_free(dm);
}

static void test_split_is_seeded(void **state) {
    (void)state;
    volt_fashion_mnist_options o = {.batch_size = 1000, .seed = 1, .val_size = 3000};
    volt_datamodule *a = volt_fashion_mnist_new(&o), *b = volt_fashion_mnist_new(&o);
    o.seed = 2;
    volt_datamodule *c = volt_fashion_mnist_new(&o);
    volt_batch ba, bb, bc;
    assert_true(volt_data_loader_next(volt_datamodule_val_loader(a), &ba));
    assert_true(volt_data_loader_next(volt_datamodule_val_loader(b), &bb));
    assert_true(volt_data_loader_next(volt_datamodule_val_loader(c), &bc));
    assert_int_equal(volt_data_loader_len(volt_datamodule_val_loader(a)), 3);
    assert_memory_equal(volt_tensor_data(ba.x), volt_tensor_data(bb.x), 1000 * 784 * sizeof(float));
    assert_true(memcmp(volt_tensor_data(ba.y), volt_tensor_data(bc.y), 1000 * sizeof(int64_t)) !=
                0);
    volt_datamodule_free(a);
    volt_datamodule_free(b);
    volt_datamodule_free(c);
}

static void test_set_batch_size(void **state) {
    (void)state;
    volt_fashion_mnist_options o = {.batch_size = 1000, .seed = 1, .val_size = 3000};
    volt_datamodule *dm = volt_fashion_mnist_new(&o);
    assert_int_equal(volt_data_loader_len(volt_datamodule_val_loader(dm)), 3);
    assert_int_equal(volt_fashion_mnist_set_batch_size(dm, 500), VOLT_OK);
    assert_int_equal(volt_data_loader_len(volt_datamodule_val_loader(dm)), 6);
    assert_int_equal(volt_data_loader_len(volt_datamodule_train_loader(dm)), 114); /* 57000/500 */
    assert_int_equal(volt_fashion_mnist_set_batch_size(dm, 0), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "batch_size must be >= 1 (got 0)");
    volt_datamodule other;
    volt_datamodule_init(&other, &(volt_datamodule_ops){.name = "other"});
    assert_int_equal(volt_fashion_mnist_set_batch_size(&other, 8), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "not a Fashion-MNIST datamodule");
    volt_datamodule_free(dm);
}

static void test_images_and_transforms(void **state) {
    (void)state;
    volt_transform eval[1] = {volt_transform_normalize(1, (double[]){0.2860}, (double[]){0.3530})};
    volt_datamodule *dm = volt_fashion_mnist_new(&(volt_fashion_mnist_options){
        .batch_size = 16, .as_images = true, .eval_transforms = eval, .n_eval_transforms = 1});
    volt_batch b;
    assert_true(volt_data_loader_next(volt_datamodule_test_loader(dm), &b));
    VT_ASSERT_SHAPE(b.x, 16, 1, 28, 28);
    /* Bytes of the file (Python's gzip): image 0 (0, 0) = 0, (14, 14) = 110,
     * image 1 (14, 14) = 234; normalized as (v / 255 - mean) / std. */
    double expected[3] = {(0 / 255.0 - 0.2860) / 0.3530, (110 / 255.0 - 0.2860) / 0.3530,
                          (234 / 255.0 - 0.2860) / 0.3530};
    assert_true(fabs(volt_tensor_get(b.x, (int64_t[]){0, 0, 0, 0}) - expected[0]) < 1e-5);
    assert_true(fabs(volt_tensor_get(b.x, (int64_t[]){0, 0, 14, 14}) - expected[1]) < 1e-5);
    assert_true(fabs(volt_tensor_get(b.x, (int64_t[]){1, 0, 14, 14}) - expected[2]) < 1e-5);
    volt_datamodule_free(dm);
}

static void test_state_dict(void **state) {
    (void)state;
    volt_fashion_mnist_options o = {.batch_size = 256, .seed = 3, .num_workers = 2};
    volt_datamodule *a = volt_fashion_mnist_new(&o);
    volt_data_loader *la = volt_datamodule_train_loader(a);
    volt_batch b;
    for (int k = 0; k < 3; k++) {
        volt_scope_begin();
        assert_true(volt_data_loader_next(la, &b));
        volt_scope_end();
    }
    char *json = volt_datamodule_state_dict(a);
    assert_string_equal(json, "{\"train\": {\"seed\": \"3\", \"epoch\": 0, \"position\": 3, "
                              "\"n_batches\": 215}}");
    assert_true(volt_data_loader_next(la, &b)); /* the 4th batch */

    o.num_workers = 0;
    volt_datamodule *c = volt_fashion_mnist_new(&o);
    assert_int_equal(volt_datamodule_load_state_dict(c, json), VOLT_OK);
    volt_batch bc;
    assert_true(volt_data_loader_next(volt_datamodule_train_loader(c), &bc));
    assert_memory_equal(volt_tensor_data(b.x), volt_tensor_data(bc.x), 256 * 784 * sizeof(float));
    assert_memory_equal(volt_tensor_data(b.y), volt_tensor_data(bc.y), 256 * sizeof(int64_t));
    free(json);

    assert_int_equal(volt_datamodule_load_state_dict(c, "[]"), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "fashion_mnist: load_state_dict: not a JSON object");
    assert_int_equal(volt_datamodule_load_state_dict(c, "{\"bogus\": {}}"), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "unknown key 'bogus'");
    assert_int_equal(volt_datamodule_load_state_dict(c,
                                                     "{\"train\": {\"seed\": \"3\", \"epoch\": 0, "
                                                     "\"position\": 3, \"n_batches\": 9}}"),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT,
                    "saved by a loader of 9 batches per epoch, this one has 215");
    volt_datamodule_free(a);
    volt_datamodule_free(c);
}

/* ------------------------------------------------- a directory of raw files */

static void write_idx(const char *dir, const char *name, int ndim, uint32_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t h[16] = {0, 0, 8, (uint8_t)ndim, 0, 0, 0, (uint8_t)n, 0, 0, 0, 28, 0, 0, 0, 28};
    fwrite(h, 1, ndim == 3 ? 16 : 8, f);
    for (uint32_t i = 0; i < n; i++) {
        if (ndim == 1) {
            fputc((int)(i % 10), f);
            continue;
        }
        for (int k = 0; k < 784; k++) fputc((int)((i * 31 + (uint32_t)k) % 256), f);
    }
    fclose(f);
}

static void test_directory_of_raw_files(void **state) {
    (void)state;
    char dir[512];
    const char *tmp = getenv("VOLT_TEST_TMPDIR");
    snprintf(dir, sizeof dir, "%s/mnist", tmp ? tmp : "/tmp");
    mkdir(dir, 0755);
    write_idx(dir, "train-images-idx3-ubyte", 3, 20);
    write_idx(dir, "train-labels-idx1-ubyte", 1, 20);
    write_idx(dir, "t10k-images-idx3-ubyte", 3, 10);
    write_idx(dir, "t10k-labels-idx1-ubyte", 1, 10);
    volt_fashion_mnist_options o = {.data_dir = dir, .batch_size = 4, .val_size = 5};
    volt_datamodule *dm = volt_fashion_mnist_new(&o);
    assert_int_equal(volt_datamodule_prepare_data(dm), VOLT_OK);
    assert_int_equal(volt_data_loader_len(volt_datamodule_train_loader(dm)), 4);
    assert_int_equal(volt_data_loader_len(volt_datamodule_val_loader(dm)), 2);
    assert_int_equal(volt_data_loader_len(volt_datamodule_test_loader(dm)), 3);
    volt_datamodule_free(dm);

    o.val_size = -1; /* no validation split */
    dm = volt_fashion_mnist_new(&o);
    assert_int_equal(volt_data_loader_len(volt_datamodule_train_loader(dm)), 5);
    assert_null(volt_datamodule_val_loader(dm));
    VT_ASSERT_NO_ERROR();
    volt_datamodule_free(dm);

    o.val_size = 20;
    dm = volt_fashion_mnist_new(&o);
    assert_null(volt_datamodule_train_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "val_size 20 leaves no training items");
    volt_datamodule_free(dm);

    /* A training labels file with the wrong count. */
    write_idx(dir, "train-labels-idx1-ubyte", 1, 19);
    o.val_size = 5;
    dm = volt_fashion_mnist_new(&o);
    assert_null(volt_datamodule_train_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "has 20 images but");
    volt_datamodule_free(dm);

    /* An empty directory. */
    snprintf(dir, sizeof dir, "%s/empty", tmp ? tmp : "/tmp");
    mkdir(dir, 0755);
    dm = volt_fashion_mnist_new(&o);
    assert_int_equal(volt_datamodule_prepare_data(dm), VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "neither train-images-idx3-ubyte.gz nor train-images-idx3-ubyte");
    volt_datamodule_free(dm);
}

static void test_bad_options(void **state) {
    (void)state;
    assert_null(volt_fashion_mnist_new(&(volt_fashion_mnist_options){.batch_size = 0}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "fashion_mnist: batch_size must be >= 1 (got 0)");
    assert_null(
        volt_fashion_mnist_new(&(volt_fashion_mnist_options){.batch_size = 8, .num_workers = 65}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "num_workers must be in [0, 64] (got 65)");
    volt_transform bad = volt_transform_random_crop(0, 0);
    assert_null(volt_fashion_mnist_new(&(volt_fashion_mnist_options){
        .batch_size = 8, .train_transforms = &bad, .n_train_transforms = 1}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "random_crop: size 0");
    volt_datamodule *dm = volt_fashion_mnist_new(
        &(volt_fashion_mnist_options){.batch_size = 8, .data_dir = "/nonexistent/fmnist"});
    assert_null(volt_datamodule_train_loader(dm));
    VT_ASSERT_ERROR(VOLT_ERR_IO, "fashion_mnist: /nonexistent/fmnist: no such directory (install "
                                 "the Debian package dataset-fashion-mnist, or set data_dir)");
    volt_datamodule_free(dm);
}

/* ------------------------------------------------- the generic interface */

typedef struct {
    volt_datamodule base;
    int prepared, setups[VOLT_STAGE_COUNT], teardowns;
    bool fail_prepare;
} counting_dm;

static volt_status c_prepare(volt_datamodule *self) {
    counting_dm *d = (counting_dm *)self;
    d->prepared++;
    return d->fail_prepare ? VOLT_ERR_IO : VOLT_OK;
}

static volt_status c_setup(volt_datamodule *self, volt_stage stage) {
    ((counting_dm *)self)->setups[stage]++;
    return VOLT_OK;
}

static volt_status c_teardown(volt_datamodule *self, volt_stage stage) {
    (void)stage;
    ((counting_dm *)self)->teardowns++;
    return VOLT_OK;
}

static const volt_datamodule_ops counting_ops = {
    .name = "counting", .prepare_data = c_prepare, .setup = c_setup, .teardown = c_teardown};

static void test_generic_datamodule(void **state) {
    (void)state;
    counting_dm d = {0};
    volt_datamodule_init(&d.base, &counting_ops);
    assert_int_equal(volt_datamodule_prepare_data(&d.base), VOLT_OK);
    assert_int_equal(volt_datamodule_prepare_data(&d.base), VOLT_OK);
    assert_int_equal(d.prepared, 1);
    assert_int_equal(volt_datamodule_setup(&d.base, VOLT_STAGE_FIT), VOLT_OK);
    assert_int_equal(volt_datamodule_setup(&d.base, VOLT_STAGE_FIT), VOLT_OK);
    assert_int_equal(volt_datamodule_setup(&d.base, VOLT_STAGE_TEST), VOLT_OK);
    assert_int_equal(d.setups[VOLT_STAGE_FIT], 1);
    assert_int_equal(volt_datamodule_teardown(&d.base, VOLT_STAGE_FIT), VOLT_OK);
    assert_int_equal(volt_datamodule_setup(&d.base, VOLT_STAGE_FIT), VOLT_OK);
    assert_int_equal(d.setups[VOLT_STAGE_FIT], 2);
    assert_int_equal(d.teardowns, 1);
    assert_null(volt_datamodule_train_loader(&d.base)); /* none, and no error */
    VT_ASSERT_NO_ERROR();
    char *s = volt_datamodule_state_dict(&d.base);
    assert_string_equal(s, "{}");
    free(s);
    assert_int_equal(volt_datamodule_load_state_dict(&d.base, "{\"a\": 1}"), VOLT_OK);
    assert_int_equal(volt_datamodule_load_state_dict(&d.base, "nope"), VOLT_ERR_FORMAT);
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "counting: load_state_dict: not a JSON object");
    assert_int_equal(volt_datamodule_setup(&d.base, (volt_stage)7), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "unknown stage 7");
    assert_string_equal(volt_stage_name(VOLT_STAGE_PREDICT), "predict");

    counting_dm f = {.fail_prepare = true};
    volt_datamodule_init(&f.base, &counting_ops);
    f.fail_prepare = true;
    assert_int_equal(volt_datamodule_prepare_data(&f.base), VOLT_ERR_IO);
    VT_ASSERT_ERROR(VOLT_ERR_IO, "counting: prepare_data failed without a message");
    assert_int_equal(volt_datamodule_prepare_data(&f.base), VOLT_ERR_IO); /* retried */
    VT_ASSERT_ERROR(VOLT_ERR_IO, "prepare_data failed");
    assert_int_equal(f.prepared, 2);
    assert_int_equal(volt_datamodule_prepare_data(NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL datamodule");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_real_files),     VT_TEST(test_split_is_seeded),
        VT_TEST(test_set_batch_size), VT_TEST(test_images_and_transforms),
        VT_TEST(test_state_dict),     VT_TEST(test_directory_of_raw_files),
        VT_TEST(test_bad_options),    VT_TEST(test_generic_datamodule),
    };
    /* The cache of the uncompressed images goes to the scratch directory. */
    const char *tmp = getenv("VOLT_TEST_TMPDIR");
    char cache[512];
    snprintf(cache, sizeof cache, "%s/cache", tmp ? tmp : "/tmp");
    setenv("XDG_CACHE_HOME", cache, 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
