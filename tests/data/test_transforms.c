/* test_transforms.c: normalize (values by hand), horizontal flip, random
 * crop with padding (every result is a window of the zero-padded image, and
 * every offset occurs), random erasing (one constant rectangle of a
 * plausible area), custom callbacks, determinism from (seed, epoch, index)
 * whatever the item's position in its batch, and parameter errors. */
#include "volt_test.h"

#include <math.h>
#include <string.h>

#include <volt/data.h>

/* [b, 1, h, w] f32 with value 1 + pixel index in each item. */
static volt_tensor *ramp(int64_t b, int64_t h, int64_t w) {
    volt_tensor *x = volt_empty(VOLT_SHAPE(b, 1, h, w), VOLT_F32);
    float *p = volt_tensor_data(x);
    for (int64_t j = 0; j < b; j++)
        for (int64_t i = 0; i < h * w; i++) p[j * h * w + i] = (float)(1 + i);
    return x;
}

static int64_t *iota(int64_t n, int64_t start) {
    static int64_t buf[1024];
    for (int64_t i = 0; i < n; i++) buf[i] = start + i;
    return buf;
}

static void test_normalize(void **state) {
    (void)state;
    volt_tensor *x = ramp(2, 1, 2); /* items {1, 2} */
    volt_transform t = volt_transform_normalize(1, (double[]){0.5}, (double[]){0.25});
    volt_tensor *y = volt_transforms_apply(&t, 1, x, iota(2, 0), 0, 0);
    assert_ptr_equal(y, x); /* in place */
    VT_ASSERT_CLOSE(y, ((double[]){2, 6, 2, 6}), 4, 1e-6, 0);
    /* Per channel on [1, 3, 1, 2]. */
    volt_tensor *c = volt_from_array((float[]){1, 2, 3, 4, 5, 6}, VOLT_F32, VOLT_SHAPE(1, 3, 1, 2));
    t = volt_transform_normalize(3, (double[]){1, 2, 3}, (double[]){1, 2, 4});
    VT_ASSERT_CLOSE(volt_transforms_apply(&t, 1, c, iota(1, 0), 0, 0),
                    ((double[]){0, 1, 0.5, 1, 0.5, 0.75}), 6, 1e-6, 0);
    /* [B, H, W] images have one channel. */
    volt_tensor *g = volt_full(VOLT_SHAPE(2, 2, 2), 3.0, VOLT_F32);
    t = volt_transform_normalize(1, (double[]){1}, (double[]){2});
    VT_ASSERT_CLOSE(volt_transforms_apply(&t, 1, g, iota(2, 0), 0, 0),
                    ((double[]){1, 1, 1, 1, 1, 1, 1, 1}), 8, 1e-6, 0);
}

static void test_hflip(void **state) {
    (void)state;
    volt_tensor *x = ramp(1, 2, 3);
    volt_transform t = volt_transform_random_hflip(1.0);
    VT_ASSERT_CLOSE(volt_transforms_apply(&t, 1, x, iota(1, 0), 0, 0),
                    ((double[]){3, 2, 1, 6, 5, 4}), 6, 0, 0);
    t = volt_transform_random_hflip(0.0);
    VT_ASSERT_CLOSE(volt_transforms_apply(&t, 1, x, iota(1, 0), 0, 0),
                    ((double[]){3, 2, 1, 6, 5, 4}), 6, 0, 0);
    /* p = 0.5 over 400 items: about half are flipped. */
    volt_tensor *many = ramp(400, 1, 2);
    t = volt_transform_random_hflip(0.5);
    const float *p = volt_tensor_data(volt_transforms_apply(&t, 1, many, iota(400, 0), 3, 0));
    int flipped = 0;
    for (int j = 0; j < 400; j++) flipped += p[2 * j] == 2.0f;
    assert_true(flipped > 160 && flipped < 240);
}

/* Whether item (c=1, s x s) equals the window at (top, left) of src (h x w)
 * zero-padded by pad. */
static bool is_window(const float *item, int64_t s, const float *src, int64_t h, int64_t w,
                      int64_t pad, int64_t top, int64_t left) {
    for (int64_t y = 0; y < s; y++)
        for (int64_t x = 0; x < s; x++) {
            int64_t sy = y + top - pad, sx = x + left - pad;
            float v = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[sy * w + sx] : 0.0f;
            if (item[y * s + x] != v) return false;
        }
    return true;
}

static void test_random_crop(void **state) {
    (void)state;
    enum { B = 200, H = 3, W = 3, PAD = 1, S = 3 };
    volt_tensor *x = ramp(B, H, W);
    float src[H * W];
    memcpy(src, volt_tensor_data(x), sizeof src);
    volt_transform t = volt_transform_random_crop(S, PAD);
    volt_tensor *y = volt_transforms_apply(&t, 1, x, iota(B, 0), 11, 0);
    VT_ASSERT_SHAPE(y, B, 1, S, S);
    const float *p = volt_tensor_data(y);
    int seen[3][3] = {{0}};
    for (int j = 0; j < B; j++) {
        int found = 0;
        for (int top = 0; top <= 2 * PAD; top++)
            for (int left = 0; left <= 2 * PAD; left++)
                if (is_window(p + j * S * S, S, src, H, W, PAD, top, left)) {
                    seen[top][left]++;
                    found++;
                }
        assert_int_equal(found, 1);
    }
    for (int top = 0; top < 3; top++)
        for (int left = 0; left < 3; left++) assert_true(seen[top][left] > 0);
    /* No padding and the full size: the identity (a copy). */
    t = volt_transform_random_crop(3, 0);
    volt_tensor *same = volt_transforms_apply(&t, 1, x, iota(B, 0), 11, 0);
    assert_memory_equal(volt_tensor_data(same), volt_tensor_data(x), sizeof(float) * B * H * W);
    /* Padding wider than the crop: still a window of the padded image (often
     * all zeros), and the image shows up in some items. */
    t = volt_transform_random_crop(2, 10);
    const float *q = volt_tensor_data(volt_transforms_apply(&t, 1, x, iota(B, 0), 4, 0));
    int nonzero = 0;
    for (int j = 0; j < B; j++) {
        int found = 0;
        for (int top = 0; top <= 21; top++)
            for (int left = 0; left <= 21; left++)
                found |= is_window(q + j * 4, 2, src, H, W, 10, top, left);
        assert_true(found);
        nonzero += q[j * 4] != 0 || q[j * 4 + 1] != 0 || q[j * 4 + 2] != 0 || q[j * 4 + 3] != 0;
    }
    assert_true(nonzero > 0);
    /* A smaller crop of [B, H, W] images. */
    volt_tensor *g = volt_ones(VOLT_SHAPE(4, 5, 6), VOLT_F32);
    t = volt_transform_random_crop(2, 0);
    VT_ASSERT_SHAPE(volt_transforms_apply(&t, 1, g, iota(4, 0), 1, 0), 4, 2, 2);
}

static void test_random_erasing(void **state) {
    (void)state;
    enum { B = 100, H = 28, W = 28 };
    volt_tensor *x = volt_ones(VOLT_SHAPE(B, 1, H, W), VOLT_F32);
    volt_transform t = volt_transform_random_erasing(1.0);
    const float *p = volt_tensor_data(volt_transforms_apply(&t, 1, x, iota(B, 0), 5, 2));
    int erased_items = 0;
    for (int j = 0; j < B; j++) {
        const float *item = p + j * H * W;
        int n = 0, y0 = H, y1 = -1, x0 = W, x1 = -1;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                if (item[y * W + xx] == 1.0f) continue;
                assert_true(item[y * W + xx] == 0.0f);
                n++;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
                x0 = xx < x0 ? xx : x0;
                x1 = xx > x1 ? xx : x1;
            }
        if (n == 0) continue;
        erased_items++;
        assert_int_equal(n, (y1 - y0 + 1) * (x1 - x0 + 1)); /* one rectangle */
        double frac = n / (double)(H * W);
        assert_true(frac > 0.01 && frac < 0.40); /* scale (0.02, 0.33), rounded sides */
    }
    assert_true(erased_items >= 95);
    /* p = 0 changes nothing. */
    volt_tensor *z = volt_ones(VOLT_SHAPE(4, 1, H, W), VOLT_F32);
    t = volt_transform_random_erasing(0.0);
    VT_ASSERT_CLOSE(volt_sum_all(volt_transforms_apply(&t, 1, z, iota(4, 0), 5, 2)),
                    ((double[]){4 * H * W}), 1, 0, 0);
}

static volt_status add_noise(float *item, int64_t c, int64_t h, int64_t w, volt_generator *gen,
                             void *ctx) {
    uint32_t r[4];
    volt_generator_next4(gen, r);
    for (int64_t i = 0; i < c * h * w; i++)
        item[i] += *(const float *)ctx + volt_uniform_from_u32(r[0]);
    return VOLT_OK;
}

static volt_status fail_always(float *item, int64_t c, int64_t h, int64_t w, volt_generator *gen,
                               void *ctx) {
    (void)item, (void)c, (void)h, (void)w, (void)gen, (void)ctx;
    return volt_error_set(VOLT_ERR_FORMAT, "custom transform says no");
}

/* Item with dataset index i gets the same result wherever it sits in its
 * batch; another epoch or seed changes the random transforms. */
static void test_determinism(void **state) {
    (void)state;
    float ten = 10.0f;
    volt_transform t[4] = {volt_transform_random_crop(28, 4), volt_transform_random_hflip(0.5),
                           volt_transform_random_erasing(0.5),
                           volt_transform_custom(add_noise, &ten)};
    volt_generator g = volt_generator_make(1, 0);
    volt_tensor *src = volt_rand(VOLT_SHAPE(8, 1, 28, 28), VOLT_F32, &g);
    int64_t fwd[8] = {0, 1, 2, 3, 4, 5, 6, 7}, rev[8] = {7, 6, 5, 4, 3, 2, 1, 0};
    volt_tensor *a = volt_transforms_apply(t, 4, volt_clone(src), fwd, 42, 3);
    /* The reversed batch: item j holds the image of index 7 - j. */
    volt_tensor *flipped_src = volt_empty_like(src);
    for (int j = 0; j < 8; j++)
        memcpy((float *)volt_tensor_data(flipped_src) + j * 784,
               (const float *)volt_tensor_data(src) + (7 - j) * 784, 784 * sizeof(float));
    volt_tensor *b = volt_transforms_apply(t, 4, flipped_src, rev, 42, 3);
    for (int j = 0; j < 8; j++)
        assert_memory_equal((const float *)volt_tensor_data(a) + j * 784,
                            (const float *)volt_tensor_data(b) + (7 - j) * 784,
                            784 * sizeof(float));
    volt_tensor *other_epoch = volt_transforms_apply(t, 4, volt_clone(src), fwd, 42, 4);
    volt_tensor *other_seed = volt_transforms_apply(t, 4, volt_clone(src), fwd, 43, 3);
    assert_true(memcmp(volt_tensor_data(a), volt_tensor_data(other_epoch), 8 * 784 * 4) != 0);
    assert_true(memcmp(volt_tensor_data(a), volt_tensor_data(other_seed), 8 * 784 * 4) != 0);
    /* The custom transform ran: every value is >= 10. */
    assert_true(volt_tensor_item(volt_min_all(a)) >= 10.0);
}

static void test_errors(void **state) {
    (void)state;
    volt_tensor *x = ramp(2, 4, 4);
    volt_transform t = volt_transform_random_crop(11, 3);
    assert_null(volt_transforms_apply(&t, 1, x, iota(2, 0), 0, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "random_crop: size 11 with padding 3 does not fit images f32[2,1,4,4]");
    t = volt_transform_normalize(3, (double[]){0, 0, 0}, (double[]){1, 1, 1});
    assert_null(volt_transforms_apply(&t, 1, x, iota(2, 0), 0, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE, "normalize: 3 channels of mean/std for images f32[2,1,4,4]");
    t = volt_transform_random_hflip(1);
    assert_null(
        volt_transforms_apply(&t, 1, volt_zeros(VOLT_SHAPE(2, 16), VOLT_F32), iota(2, 0), 0, 0));
    VT_ASSERT_ERROR(VOLT_ERR_SHAPE,
                    "need contiguous f32 CPU images [B,C,H,W] or [B,H,W], got f32[2,16]");
    assert_null(
        volt_transforms_apply(&t, 1, volt_zeros(VOLT_SHAPE(2, 4, 4), VOLT_U8), iota(2, 0), 0, 0));
    VT_ASSERT_ERROR(VOLT_ERR_DTYPE, "got u8[2,4,4]");
    t = volt_transform_custom(fail_always, NULL);
    assert_null(volt_transforms_apply(&t, 1, x, iota(2, 0), 0, 0));
    VT_ASSERT_ERROR(VOLT_ERR_FORMAT, "custom transform says no");

    volt_transform bad[] = {
        volt_transform_normalize(1, (double[]){0}, (double[]){0}),
        volt_transform_normalize(5, (double[]){0, 0, 0, 0, 0}, (double[]){1, 1, 1, 1, 1}),
        volt_transform_random_crop(0, 1),
        volt_transform_random_hflip(1.5),
        volt_transform_custom(NULL, NULL),
        {.kind = (volt_transform_kind)99},
    };
    static const char *const messages[] = {"std 0 (std must be finite and > 0)",
                                           "5 channels",
                                           "size 0, padding 1",
                                           "random_hflip: p = 1.5",
                                           "NULL fn",
                                           "unknown kind 99"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(volt_transform_check(&bad[i]), VOLT_ERR_INVALID_ARGUMENT);
        VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, messages[i]);
    }
    volt_transform erasing = volt_transform_random_erasing(0.5);
    erasing.scale[0] = 0.5;
    erasing.scale[1] = 0.1;
    assert_int_equal(volt_transform_check(&erasing), VOLT_ERR_INVALID_ARGUMENT);
    VT_ASSERT_ERROR(VOLT_ERR_INVALID_ARGUMENT, "random_erasing: scale (0.5, 0.1)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_normalize),      VT_TEST(test_hflip),       VT_TEST(test_random_crop),
        VT_TEST(test_random_erasing), VT_TEST(test_determinism), VT_TEST(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
