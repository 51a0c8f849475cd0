/* test_dataset.c: samples and batches, collate (and its errors), the tensor
 * dataset, subset, concat and random_split (disjoint, complete, seeded,
 * counts and fractions). */
#include "volt_test.h"

#include <stdlib.h>
#include <string.h>

#include <volt/data.h>

/* x f32 [n, 2] = 0, 1, 2, ...; y i64 [n] = 100 + i. */
static volt_dataset *make_tensor_dataset(int64_t n) {
    volt_tensor *x = volt_arange(0, (double)(2 * n), 1, VOLT_F32);
    x = volt_reshape(x, VOLT_SHAPE(n, 2));
    volt_tensor *y = volt_arange(100, (double)(100 + n), 1, VOLT_I64);
    return volt_tensor_dataset_new(2, (const char *[]){"x", "y"}, (volt_tensor *[]){x, y});
}

static int64_t label_of(const volt_dataset *ds, int64_t i) {
    volt_sample s;
    assert_int_equal(volt_dataset_get(ds, i, &s), VOLT_OK);
    return (int64_t)volt_tensor_item(volt_sample_get(&s, "y"));
}

static void test_sample_and_batch_fields(void **state) {
    (void)state;
    volt_sample s = {0};
    volt_tensor *t = volt_zeros(VOLT_SHAPE(2), VOLT_F32);
    static const char *names[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    for (int i = 0; i < 8; i++) assert_int_equal(volt_sample_set(&s, names[i], t), VOLT_OK);
    assert_int_equal(volt_sample_set(&s, "a", t), VOLT_OK); /* replaces, no new field */
    assert_int_equal(s.n_fields, 8);
    assert_int_equal(volt_sample_set(&s, names[8], t), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "more than 8 fields (adding 'i')");
    assert_ptr_equal(volt_sample_get(&s, "h"), t);
    assert_null(volt_sample_get(&s, "zz"));
    assert_int_equal(volt_sample_set(&s, "x", NULL), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL tensor");

    volt_batch b = {0};
    volt_tensor *u = volt_ones(VOLT_SHAPE(2), VOLT_F32);
    assert_int_equal(volt_batch_set(&b, "y", t), VOLT_OK);
    assert_int_equal(volt_batch_set(&b, "x", u), VOLT_OK);
    assert_ptr_equal(b.x, u);
    assert_ptr_equal(b.y, t);
    assert_ptr_equal(volt_batch_get(&b, "x"), u);
    assert_null(volt_batch_get(&b, "w"));
}

static void test_tensor_dataset(void **state) {
    (void)state;
    volt_dataset *ds = make_tensor_dataset(5);
    assert_non_null(ds);
    assert_int_equal(volt_dataset_len(ds), 5);
    volt_sample s;
    assert_int_equal(volt_dataset_get(ds, 3, &s), VOLT_OK);
    VT_ASSERT_SHAPE(volt_sample_get(&s, "x"), 2);
    VT_ASSERT_CLOSE(volt_sample_get(&s, "x"), ((double[]){6, 7}), 2, 0, 0);
    assert_int_equal(volt_sample_get(&s, "y")->ndim, 0);
    assert_int_equal(label_of(ds, 3), 103);
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(ds, (int64_t[]){4, 0, 4}, 3, &b), VOLT_OK);
    assert_int_equal(b.size, 3);
    VT_ASSERT_SHAPE(b.x, 3, 2);
    VT_ASSERT_CLOSE(b.x, ((double[]){8, 9, 0, 1, 8, 9}), 6, 0, 0);
    VT_ASSERT_CLOSE(b.y, ((double[]){104, 100, 104}), 3, 0, 0);
    assert_int_equal(b.y->dtype, VOLT_I64);
    assert_int_equal(volt_dataset_get(ds, -1, &s), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "tensor_dataset: index -1 out of range [0, 5)");
    assert_int_equal(volt_dataset_get_batch(ds, (int64_t[]){0, 5}, 2, &b),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "index 5 out of range");
    volt_dataset_free(ds);
}

static void test_tensor_dataset_non_contiguous(void **state) {
    (void)state;
    /* x = transpose of a [2, 3] tensor: rows of x are the columns. */
    volt_tensor *base = volt_arange(0, 6, 1, VOLT_F64);
    base = volt_reshape(base, VOLT_SHAPE(2, 3));
    volt_tensor *x =
        volt_tensor_alias(base, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 3}, 0);
    volt_dataset *ds = volt_tensor_dataset_new(1, (const char *[]){"x"}, &x);
    assert_non_null(ds);
    volt_sample s;
    assert_int_equal(volt_dataset_get(ds, 1, &s), VOLT_OK);
    VT_ASSERT_CLOSE(s.fields[0], ((double[]){1, 4}), 2, 0, 0);
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(ds, (int64_t[]){2, 0}, 2, &b), VOLT_OK);
    VT_ASSERT_CLOSE(b.x, ((double[]){2, 5, 0, 3}), 4, 0, 0);
    assert_null(b.y);
    volt_dataset_free(ds);
}

static void test_tensor_dataset_errors(void **state) {
    (void)state;
    volt_tensor *a = volt_zeros(VOLT_SHAPE(4, 2), VOLT_F32),
                *b = volt_zeros(VOLT_SHAPE(3), VOLT_I64);
    assert_null(volt_tensor_dataset_new(2, (const char *[]){"x", "y"}, (volt_tensor *[]){a, b}));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "'y' is i64[3] but 'x' is f32[4,2] (leading sizes differ)");
    assert_null(volt_tensor_dataset_new(2, (const char *[]){"x", "x"}, (volt_tensor *[]){a, a}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "two tensors named 'x'");
    assert_null(volt_tensor_dataset_new(1, (const char *[]){"x"}, (volt_tensor *[]){NULL}));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL tensor");
    assert_null(volt_tensor_dataset_new(1, (const char *[]){"x"},
                                        (volt_tensor *[]){volt_scalar(1, VOLT_F32)}));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "leading item dimension");
    assert_null(volt_tensor_dataset_new(0, NULL, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "0 tensors");
    assert_int_equal(volt_dataset_len(NULL), -1);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "NULL dataset");
}

/* ------------------------------------------------ a dataset without get_batch */

typedef struct {
    volt_dataset base;
    int64_t n;
    int64_t odd_index;   /* item with a different x shape (-1: none) */
    int64_t u8_index;    /* item with a u8 x (-1: none) */
    int64_t short_index; /* item without "w" (-1: none) */
} items_dataset;

static int64_t items_len(const volt_dataset *self) { return ((const items_dataset *)self)->n; }

/* x f32 [3] = {i, i*i, -i}, y i64 [] = i % 2, w u8 [2] = {i, 255 - i}. */
static volt_status items_get(const volt_dataset *self, int64_t i, volt_sample *out) {
    const items_dataset *d = (const items_dataset *)self;
    int64_t xn = i == d->odd_index ? 4 : 3;
    volt_tensor *x = volt_zeros(1, &xn, i == d->u8_index ? VOLT_U8 : VOLT_F32);
    if (i != d->u8_index) {
        float *p = volt_tensor_data(x);
        p[0] = (float)i;
        p[1] = (float)(i * i);
        p[2] = (float)-i;
    }
    volt_sample_set(out, "x", x);
    volt_sample_set(out, "y", volt_scalar((double)(i % 2), VOLT_I64));
    if (i != d->short_index) {
        volt_tensor *w = volt_empty(VOLT_SHAPE(2), VOLT_U8);
        ((uint8_t *)volt_tensor_data(w))[0] = (uint8_t)i;
        ((uint8_t *)volt_tensor_data(w))[1] = (uint8_t)(255 - i);
        volt_sample_set(out, "w", w);
    }
    return VOLT_OK;
}

static const volt_dataset_ops items_ops = {.name = "items", .len = items_len, .get = items_get};

static void test_collate_by_items(void **state) {
    (void)state;
    items_dataset d = {{&items_ops}, 6, -1, -1, -1};
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(&d.base, (int64_t[]){5, 2}, 2, &b), VOLT_OK);
    assert_int_equal(b.size, 2);
    assert_int_equal(b.n_fields, 3);
    VT_ASSERT_SHAPE(b.x, 2, 3);
    VT_ASSERT_CLOSE(b.x, ((double[]){5, 25, -5, 2, 4, -2}), 6, 0, 0);
    VT_ASSERT_CLOSE(b.y, ((double[]){1, 0}), 2, 0, 0);
    volt_tensor *w = volt_batch_get(&b, "w");
    assert_int_equal(w->dtype, VOLT_U8); /* dtypes are kept here; the loader converts */
    VT_ASSERT_CLOSE(w, ((double[]){5, 250, 2, 253}), 4, 0, 0);
}

static void test_collate_errors(void **state) {
    (void)state;
    items_dataset d = {{&items_ops}, 6, 3, 4, 5};
    volt_batch b;
    assert_int_equal(volt_dataset_get_batch(&d.base, (int64_t[]){0, 3}, 2, &b), VOLT_ERR_SHAPE);
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "collate: item 1 field 'x' is f32[4], item 0 has f32[3]");
    assert_int_equal(volt_dataset_get_batch(&d.base, (int64_t[]){1, 2, 4}, 3, &b), VOLT_ERR_DTYPE);
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "collate: item 2 field 'x' is u8[3], item 0 has f32[3]");
    assert_int_equal(volt_dataset_get_batch(&d.base, (int64_t[]){1, 5}, 2, &b),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "collate: item 1 has fields different from item 0");
    assert_int_equal(volt_collate(NULL, 0, &b), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "collate: no items");
    assert_int_equal(volt_dataset_get_batch(&d.base, (int64_t[]){0}, 0, &b),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "no indices");
}

static void test_subset_and_concat(void **state) {
    (void)state;
    volt_dataset *a = make_tensor_dataset(3), *b = make_tensor_dataset(2);
    volt_dataset *sub = volt_subset_new(a, (int64_t[]){2, 0}, 2);
    assert_int_equal(volt_dataset_len(sub), 2);
    assert_int_equal(label_of(sub, 0), 102);
    assert_int_equal(label_of(sub, 1), 100);
    volt_batch batch;
    assert_int_equal(volt_dataset_get_batch(sub, (int64_t[]){1, 0}, 2, &batch), VOLT_OK);
    VT_ASSERT_CLOSE(batch.y, ((double[]){100, 102}), 2, 0, 0);
    assert_null(volt_subset_new(a, (int64_t[]){3}, 1));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "subset: indices[0] = 3 is out of range [0, 3)");

    volt_dataset *cat = volt_concat_dataset_new(3, (volt_dataset *[]){a, b, sub});
    assert_int_equal(volt_dataset_len(cat), 7);
    static const int64_t expected[7] = {100, 101, 102, 100, 101, 102, 100};
    for (int i = 0; i < 7; i++) assert_int_equal(label_of(cat, i), expected[i]);
    assert_int_equal(volt_dataset_get_batch(cat, (int64_t[]){6, 2, 3}, 3, &batch), VOLT_OK);
    VT_ASSERT_CLOSE(batch.y, ((double[]){100, 102, 100}), 3, 0, 0);
    VT_ASSERT_CLOSE(batch.x, ((double[]){0, 1, 4, 5, 0, 1}), 6, 0, 0);
    assert_null(volt_concat_dataset_new(0, NULL));
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "concat_dataset: 0 parts");
    volt_dataset_free(cat);
    volt_dataset_free(sub);
    volt_dataset_free(a);
    volt_dataset_free(b);
}

/* Labels of every item of the parts, marked in seen[] (base labels 100..). */
static void collect(volt_dataset **parts, int n, int64_t total, int *seen) {
    for (int p = 0; p < n; p++)
        for (int64_t i = 0; i < volt_dataset_len(parts[p]); i++) {
            int64_t y = label_of(parts[p], i) - 100;
            assert_true(y >= 0 && y < total);
            seen[y]++;
        }
}

static void test_random_split(void **state) {
    (void)state;
    volt_dataset *base = make_tensor_dataset(100);
    volt_dataset *parts[3], *again[3], *other[3];
    assert_int_equal(volt_random_split(base, 3, (double[]){50, 30, 20}, 7, parts), VOLT_OK);
    assert_int_equal(volt_dataset_len(parts[0]), 50);
    assert_int_equal(volt_dataset_len(parts[1]), 30);
    assert_int_equal(volt_dataset_len(parts[2]), 20);
    int seen[100] = {0};
    collect(parts, 3, 100, seen);
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1); /* disjoint and complete */
    /* The same seed splits the same way; another seed another way. */
    assert_int_equal(volt_random_split(base, 3, (double[]){50, 30, 20}, 7, again), VOLT_OK);
    assert_int_equal(volt_random_split(base, 3, (double[]){50, 30, 20}, 8, other), VOLT_OK);
    int same = 1, differs = 0;
    for (int i = 0; i < 50; i++) {
        same &= label_of(parts[0], i) == label_of(again[0], i);
        differs |= label_of(parts[0], i) != label_of(other[0], i);
    }
    assert_true(same);
    assert_true(differs);
    for (int p = 0; p < 3; p++) {
        volt_dataset_free(parts[p]);
        volt_dataset_free(again[p]);
        volt_dataset_free(other[p]);
    }
    /* Fractions: floor(0.7 * 10) = 7, 2, 1; with 5 items, 0.5/0.5 -> 3, 2. */
    assert_int_equal(volt_random_split(base, 3, (double[]){0.7, 0.2, 0.1}, 1, parts), VOLT_OK);
    assert_int_equal(volt_dataset_len(parts[0]), 70);
    assert_int_equal(volt_dataset_len(parts[1]), 20);
    assert_int_equal(volt_dataset_len(parts[2]), 10);
    for (int p = 0; p < 3; p++) volt_dataset_free(parts[p]);
    volt_dataset *five = make_tensor_dataset(5);
    assert_int_equal(volt_random_split(five, 2, (double[]){0.5, 0.5}, 1, parts), VOLT_OK);
    assert_int_equal(volt_dataset_len(parts[0]), 3);
    assert_int_equal(volt_dataset_len(parts[1]), 2);
    int seen5[5] = {0};
    collect(parts, 2, 5, seen5);
    for (int i = 0; i < 5; i++) assert_int_equal(seen5[i], 1);
    volt_dataset_free(parts[0]);
    volt_dataset_free(parts[1]);
    /* Bad lengths. */
    assert_int_equal(volt_random_split(five, 2, (double[]){3, 3}, 1, parts),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "lengths sum to 6");
    assert_null(parts[0]);
    assert_int_equal(volt_random_split(five, 2, (double[]){-1, 6}, 1, parts),
                     VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "lengths[0] = -1");
    volt_dataset_free(five);
    volt_dataset_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_sample_and_batch_fields),
        VT_TEST(test_tensor_dataset),
        VT_TEST(test_tensor_dataset_non_contiguous),
        VT_TEST(test_tensor_dataset_errors),
        VT_TEST(test_collate_by_items),
        VT_TEST(test_collate_errors),
        VT_TEST(test_subset_and_concat),
        VT_TEST(test_random_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
