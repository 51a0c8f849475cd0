/* transforms.c: image transforms applied per item in the loader's workers —
 * normalize, random crop with zero padding, random horizontal flip, random
 * erasing (torchvision's algorithm) and user callbacks. Item j of a batch
 * draws only from its own Philox stream (seed, epoch, dataset index), so the
 * result does not depend on workers or order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

volt_transform volt_transform_normalize(int n_channels, const double *mean, const double *std) {
    volt_transform t = {.kind = VOLT_TRANSFORM_NORMALIZE, .n_channels = n_channels};
    for (int c = 0; mean && std && c < n_channels && c < VOLT_TRANSFORM_MAX_CHANNELS; c++) {
        t.mean[c] = mean[c];
        t.std[c] = std[c];
    }
    return t;
}

volt_transform volt_transform_random_crop(int64_t size, int64_t padding) {
    return (volt_transform){.kind = VOLT_TRANSFORM_RANDOM_CROP, .size = size, .padding = padding};
}

volt_transform volt_transform_random_hflip(double p) {
    return (volt_transform){.kind = VOLT_TRANSFORM_RANDOM_HFLIP, .p = p};
}

volt_transform volt_transform_random_erasing(double p) {
    return (volt_transform){.kind = VOLT_TRANSFORM_RANDOM_ERASING,
                            .p = p,
                            .scale = {0.02, 0.33},
                            .ratio = {0.3, 3.3},
                            .value = 0.0};
}

volt_transform volt_transform_custom(volt_status (*fn)(float *item, int64_t c, int64_t h, int64_t w,
                                                       volt_generator *gen, void *ctx),
                                     void *ctx) {
    return (volt_transform){.kind = VOLT_TRANSFORM_CUSTOM, .fn = fn, .ctx = ctx};
}

volt_status volt_transform_check(const volt_transform *t) {
    if (!t) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "transform: NULL");
    switch (t->kind) {
    case VOLT_TRANSFORM_NORMALIZE:
        if (t->n_channels < 1 || t->n_channels > VOLT_TRANSFORM_MAX_CHANNELS)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "transform normalize: %d channels "
                                  "(expected 1 to %d)",
                                  t->n_channels, VOLT_TRANSFORM_MAX_CHANNELS);
        for (int c = 0; c < t->n_channels; c++)
            if (!(t->std[c] > 0) || !isfinite(t->std[c]) || !isfinite(t->mean[c]))
                return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                      "transform normalize: channel %d: "
                                      "mean %g, std %g (std must be finite and > 0)",
                                      c, t->mean[c], t->std[c]);
        return VOLT_OK;
    case VOLT_TRANSFORM_RANDOM_CROP:
        if (t->size < 1 || t->padding < 0)
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "transform random_crop: size %lld, "
                                  "padding %lld (need size >= 1, padding >= 0)",
                                  (long long)t->size, (long long)t->padding);
        return VOLT_OK;
    case VOLT_TRANSFORM_RANDOM_HFLIP:
    case VOLT_TRANSFORM_RANDOM_ERASING:
        if (!(t->p >= 0 && t->p <= 1))
            return volt_error_set(
                VOLT_ERR_INVALID_ARGUMENT, "transform %s: p = %g (need 0 <= p <= 1)",
                t->kind == VOLT_TRANSFORM_RANDOM_HFLIP ? "random_hflip" : "random_erasing", t->p);
        if (t->kind == VOLT_TRANSFORM_RANDOM_ERASING &&
            !(t->scale[0] > 0 && t->scale[0] <= t->scale[1] && t->scale[1] <= 1 &&
              t->ratio[0] > 0 && t->ratio[0] <= t->ratio[1] && isfinite(t->ratio[1])))
            return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                  "transform random_erasing: scale "
                                  "(%g, %g), ratio (%g, %g) (need 0 < scale0 <= scale1 <= 1, "
                                  "0 < ratio0 <= ratio1)",
                                  t->scale[0], t->scale[1], t->ratio[0], t->ratio[1]);
        return VOLT_OK;
    case VOLT_TRANSFORM_CUSTOM:
        if (!t->fn) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "transform custom: NULL fn");
        return VOLT_OK;
    }
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "transform: unknown kind %d", (int)t->kind);
}

/* ------------------------------------------------------------ per item */

typedef struct {
    int64_t c, h, w;
} geometry;

static void normalize(const volt_transform *t, float *item, geometry g) {
    for (int64_t c = 0; c < g.c; c++) {
        int k = t->n_channels == 1 ? 0 : (int)c;
        float mean = (float)t->mean[k], inv = (float)(1.0 / t->std[k]);
        float *p = item + c * g.h * g.w;
        for (int64_t i = 0; i < g.h * g.w; i++) p[i] = (p[i] - mean) * inv;
    }
}

/* dst [c, size, size] = window at (top, left) of src zero-padded by `pad`:
 * per row, zeros left of the image, a copy of the overlap, zeros right. */
static void crop(const float *src, geometry g, float *dst, int64_t size, int64_t pad, int64_t top,
                 int64_t left) {
    int64_t x0 = pad - left > 0 ? pad - left : 0;                   /* first x inside */
    int64_t x1 = g.w + pad - left < size ? g.w + pad - left : size; /* past the last */
    if (x0 > size) x0 = size;
    if (x1 < x0) x1 = x0;
    for (int64_t c = 0; c < g.c; c++)
        for (int64_t y = 0; y < size; y++) {
            float *out = dst + (c * size + y) * size;
            int64_t sy = y + top - pad;
            if (sy < 0 || sy >= g.h) {
                memset(out, 0, (size_t)size * sizeof *out);
                continue;
            }
            memset(out, 0, (size_t)x0 * sizeof *out);
            memcpy(out + x0, src + (c * g.h + sy) * g.w + (x0 + left - pad),
                   (size_t)(x1 - x0) * sizeof *out);
            memset(out + x1, 0, (size_t)(size - x1) * sizeof *out);
        }
}

static void hflip(float *item, geometry g) {
    for (int64_t row = 0; row < g.c * g.h; row++) {
        float *p = item + row * g.w;
        for (int64_t a = 0, b = g.w - 1; a < b; a++, b--) {
            float t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }
}

static void erase(const volt_transform *t, float *item, geometry g, volt_data_rng *r) {
    double area = (double)(g.h * g.w);
    double log_r0 = log(t->ratio[0]), log_r1 = log(t->ratio[1]);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target =
            area * (t->scale[0] + volt_data_rng_uniform(r) * (t->scale[1] - t->scale[0]));
        double aspect = exp(log_r0 + volt_data_rng_uniform(r) * (log_r1 - log_r0));
        int64_t h = (int64_t)llround(sqrt(target * aspect));
        int64_t w = (int64_t)llround(sqrt(target / aspect));
        if (!(h < g.h && w < g.w)) continue;
        int64_t top = (int64_t)volt_data_rng_below(r, (uint64_t)(g.h - h + 1));
        int64_t left = (int64_t)volt_data_rng_below(r, (uint64_t)(g.w - w + 1));
        for (int64_t c = 0; c < g.c; c++)
            for (int64_t y = top; y < top + h; y++)
                for (int64_t x = left; x < left + w; x++)
                    item[(c * g.h + y) * g.w + x] = (float)t->value;
        return;
    }
}

/* ------------------------------------------------------------ per batch */

static volt_status check_images(const volt_tensor *x, const volt_transform *t, int n, geometry *g) {
    char buf[96];
    if (!x) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "transforms: NULL images");
    if (x->dtype != VOLT_F32 || (x->ndim != 3 && x->ndim != 4) || !volt_tensor_is_contiguous(x) ||
        x->device.type != VOLT_CPU)
        return volt_error_set(x->dtype != VOLT_F32 ? VOLT_ERR_DTYPE : VOLT_ERR_SHAPE,
                              "transforms: need contiguous f32 CPU images [B,C,H,W] or [B,H,W], "
                              "got %s",
                              volt_shape_str(x, buf, sizeof buf));
    *g = x->ndim == 4 ? (geometry){x->shape[1], x->shape[2], x->shape[3]}
                      : (geometry){1, x->shape[1], x->shape[2]};
    for (int i = 0; i < n; i++) {
        if (volt_transform_check(&t[i]) != VOLT_OK) return VOLT_ERR_INVALID_ARGUMENT;
        if (t[i].kind == VOLT_TRANSFORM_NORMALIZE && t[i].n_channels != 1 &&
            t[i].n_channels != g->c)
            return volt_error_set(VOLT_ERR_SHAPE,
                                  "transform normalize: %d channels of mean/std for "
                                  "images %s",
                                  t[i].n_channels, volt_shape_str(x, buf, sizeof buf));
    }
    return VOLT_OK;
}

/* Crops every item into a new tensor; NULL + error when it does not fit. */
static volt_tensor *crop_batch(const volt_transform *t, const volt_tensor *cur, geometry *g,
                               volt_data_rng *rngs) {
    int64_t s = t->size, pad = t->padding;
    if (s > g->h + 2 * pad || s > g->w + 2 * pad) {
        char buf[96];
        volt_error_set(VOLT_ERR_SHAPE,
                       "transform random_crop: size %lld with padding %lld does "
                       "not fit images %s",
                       (long long)s, (long long)pad, volt_shape_str(cur, buf, sizeof buf));
        return NULL;
    }
    int64_t shape[4] = {cur->shape[0], g->c, s, s};
    volt_tensor *out = cur->ndim == 4 ? volt_tensor_new(VOLT_F32, VOLT_DEVICE_CPU, 4, shape)
                                      : volt_tensor_new(VOLT_F32, VOLT_DEVICE_CPU, 3,
                                                        (int64_t[]){cur->shape[0], s, s});
    if (!out) return NULL;
    const float *src = volt_tensor_data(cur);
    float *dst = volt_tensor_data(out);
    for (int64_t j = 0; j < cur->shape[0]; j++) {
        int64_t top = (int64_t)volt_data_rng_below(&rngs[j], (uint64_t)(g->h + 2 * pad - s + 1));
        int64_t left = (int64_t)volt_data_rng_below(&rngs[j], (uint64_t)(g->w + 2 * pad - s + 1));
        crop(src + j * g->c * g->h * g->w, *g, dst + j * g->c * s * s, s, pad, top, left);
    }
    g->h = g->w = s;
    return out;
}

static volt_status apply_one(const volt_transform *t, float *item, geometry g, volt_data_rng *r) {
    switch (t->kind) {
    case VOLT_TRANSFORM_NORMALIZE: normalize(t, item, g); break;
    case VOLT_TRANSFORM_RANDOM_HFLIP:
        if (volt_data_rng_uniform(r) < t->p) hflip(item, g);
        break;
    case VOLT_TRANSFORM_RANDOM_ERASING:
        if (volt_data_rng_uniform(r) < t->p) erase(t, item, g, r);
        break;
    case VOLT_TRANSFORM_CUSTOM: {
        volt_status st = t->fn(item, g.c, g.h, g.w, &r->gen, t->ctx);
        r->used = 4; /* later draws continue after the callback's */
        if (st != VOLT_OK && volt_error_status() == VOLT_OK)
            volt_error_set(st, "transform custom: failed without a message");
        return st;
    }
    default: break;
    }
    return VOLT_OK;
}

volt_tensor *volt_transforms_apply(const volt_transform *t, int n, volt_tensor *x,
                                   const int64_t *indices, uint64_t seed, int64_t epoch) {
    geometry g = {0, 0, 0};
    if (n < 0 || (n > 0 && !t) || !indices) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "transforms: bad transform list or NULL indices");
        return NULL;
    }
    if (n == 0) return x;
    if (check_images(x, t, n, &g) != VOLT_OK) return NULL;
    int64_t batch = x->shape[0];
    volt_data_rng *rngs = malloc((size_t)(batch > 0 ? batch : 1) * sizeof *rngs);
    if (!rngs) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "transforms: out of memory");
        return NULL;
    }
    for (int64_t j = 0; j < batch; j++)
        volt_data_rng_init(
            &rngs[j], seed,
            volt_data_stream(VOLT_DATA_STREAM_TRANSFORM, (uint64_t)epoch, (uint64_t)indices[j]));
    volt_tensor *cur = x;
    volt_status st = VOLT_OK;
    for (int i = 0; i < n && st == VOLT_OK; i++) {
        if (t[i].kind == VOLT_TRANSFORM_RANDOM_CROP) {
            volt_tensor *next = crop_batch(&t[i], cur, &g, rngs);
            if (cur != x) volt_tensor_free(cur);
            cur = next;
            if (!cur) st = volt_error_status();
            continue;
        }
        float *data = volt_tensor_data(cur);
        for (int64_t j = 0; j < batch && st == VOLT_OK; j++)
            st = apply_one(&t[i], data + j * g.c * g.h * g.w, g, &rngs[j]);
    }
    free(rngs);
    if (st != VOLT_OK) {
        if (cur && cur != x) volt_tensor_free(cur);
        return NULL;
    }
    if (cur == x) volt_storage_bump_version(x->storage);
    return cur;
}
