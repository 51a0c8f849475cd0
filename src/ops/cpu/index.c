/* index.c: CPU kernels of the index ops — gather-style copies (gather,
 * index_select), deterministic scatter-add (scatter_add, and the backward of
 * gather and index_select), masked fill, triangles and one-hot. Tensors are
 * walked as rows along their last dim; each row's start is found from its
 * coordinates, and large loops are split across OpenMP threads. */
#include <string.h>

#include "ops/cpu/index.h"

bool volt_cpu_index_in_range(const int64_t *idx, int64_t n, int64_t size, int64_t *bad) {
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= size) {
            *bad = idx[i];
            return false;
        }
    }
    return true;
}

/* Strides along one row (elements) and the row length. */
typedef struct {
    int64_t len;
    int64_t ol, al, il; /* along the row: out, a / src, idx */
    int64_t ad;         /* a's (gather) or out's (scatter) stride on the indexed dim */
} row_geom;

typedef void (*row_fn)(char *o, const char *a, const int64_t *irow, const row_geom *g);

/* ------------------------------------------------------------ gather */

#define GATHER_ROW(NAME, T)                                                                        \
    static void NAME(char *o, const char *a, const int64_t *irow, const row_geom *g) {             \
        T *out = (T *)o;                                                                           \
        const T *src = (const T *)a;                                                               \
        if (g->il == 0) {                                                                          \
            const T *x = src + irow[0] * g->ad;                                                    \
            for (int64_t k = 0; k < g->len; k++) out[k * g->ol] = x[k * g->al];                    \
        } else {                                                                                   \
            for (int64_t k = 0; k < g->len; k++)                                                   \
                out[k * g->ol] = src[k * g->al + irow[k * g->il] * g->ad];                         \
        }                                                                                          \
    }

GATHER_ROW(gather_row1, uint8_t)
GATHER_ROW(gather_row2, uint16_t)
GATHER_ROW(gather_row4, uint32_t)
GATHER_ROW(gather_row8, uint64_t)

static row_fn gather_row_for(size_t esize) {
    switch (esize) {
    case 1: return gather_row1;
    case 2: return gather_row2;
    case 4: return gather_row4;
    default: return gather_row8;
    }
}

void volt_cpu_gather(volt_tensor *out, const volt_tensor *a, int dim, const int64_t *idx,
                     const int64_t *idx_strides) {
    int64_t numel = volt_tensor_numel(out);
    if (numel == 0) return;
    int last = out->ndim - 1;
    int64_t es = (int64_t)volt_dtype_size(out->dtype);
    row_geom g = {.len = out->shape[last],
                  .ol = out->strides[last],
                  .al = last == dim ? 0 : a->strides[last],
                  .il = idx_strides[last],
                  .ad = a->strides[dim]};
    row_fn fn = gather_row_for((size_t)es);
    char *o = volt_tensor_data(out);
    const char *src = volt_tensor_data(a);
    int64_t rows = numel / g.len;
#pragma omp parallel for if (numel > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
    for (int64_t r = 0; r < rows; r++) {
        int64_t rem = r, po = 0, pa = 0, pi = 0;
        for (int d = last - 1; d >= 0; d--) {
            int64_t c = rem % out->shape[d];
            rem /= out->shape[d];
            po += c * out->strides[d];
            pi += c * idx_strides[d];
            if (d != dim) pa += c * a->strides[d];
        }
        const int64_t *irow = idx + pi;
        if (g.il == 0 && g.ol == 1 && g.al == 1)
            memcpy(o + po * es, src + (pa + irow[0] * g.ad) * es, (size_t)(g.len * es));
        else
            fn(o + po * es, src + pa * es, irow, &g);
    }
}

/* -------------------------------------------------------- scatter_add */

#define SCATTER_ROW(NAME, T)                                                                       \
    static void NAME(char *o, const char *s, const int64_t *irow, const row_geom *g) {             \
        T *out = (T *)o;                                                                           \
        const T *src = (const T *)s;                                                               \
        for (int64_t k = 0; k < g->len; k++)                                                       \
            out[k * g->ol + irow[k * g->il] * g->ad] += src[k * g->al];                            \
    }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
SCATTER_ROW(scatter_f32, float)
SCATTER_ROW(scatter_f64, double)
SCATTER_ROW(scatter_i64, int64_t)
SCATTER_ROW(scatter_i32, int32_t)
SCATTER_ROW(scatter_u8, uint8_t)
#pragma GCC diagnostic pop

/* Row pieces of this many elements are the unit of parallel work when the
 * indexed dim is not the last one. */
#define SCATTER_CHUNK 256

volt_status volt_cpu_scatter_add(volt_tensor *out, int dim, const int64_t *idx,
                                 const int64_t *idx_strides, const volt_tensor *src, int ndim,
                                 const int64_t *shape) {
    row_fn fn;
    switch (out->dtype) {
    case VOLT_F32: fn = scatter_f32; break;
    case VOLT_F64: fn = scatter_f64; break;
    case VOLT_I64: fn = scatter_i64; break;
    case VOLT_I32: fn = scatter_i32; break;
    case VOLT_U8: fn = scatter_u8; break;
    default: return VOLT_ERR_DTYPE;
    }
    int64_t numel = volt_shape_numel(ndim, shape);
    if (numel == 0) return VOLT_OK;
    int last = ndim - 1;
    int64_t es = (int64_t)volt_dtype_size(out->dtype);
    const int64_t *os = out->strides, *ss = src->strides;
    row_geom g = {.len = shape[last],
                  .ol = last == dim ? 0 : os[last],
                  .al = ss[last],
                  .il = idx_strides[last],
                  .ad = os[dim]};
    /* A unit is one combination of the coordinates other than dim and the
     * last, times a piece of the row; it runs over dim in order, so units
     * never write the same element. Along the indexed last dim, a unit is a
     * whole row, in order. */
    int64_t steps = last == dim ? 1 : shape[dim];
    int64_t pieces = last == dim ? 1 : (g.len + SCATTER_CHUNK - 1) / SCATTER_CHUNK;
    int64_t units = numel / g.len / steps * pieces;
    char *o = volt_tensor_data(out);
    const char *s = volt_tensor_data(src);
#pragma omp parallel for if (numel > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
    for (int64_t u = 0; u < units; u++) {
        int64_t rem = u / pieces, k0 = (u % pieces) * SCATTER_CHUNK;
        int64_t po = 0, ps = 0, pi = 0;
        for (int d = last - 1; d >= 0; d--) {
            if (d == dim) continue;
            int64_t c = rem % shape[d];
            rem /= shape[d];
            po += c * os[d];
            ps += c * ss[d];
            pi += c * idx_strides[d];
        }
        row_geom piece = g;
        if (last != dim) piece.len = g.len - k0 < SCATTER_CHUNK ? g.len - k0 : SCATTER_CHUNK;
        for (int64_t j = 0; j < steps; j++) {
            int64_t js = last == dim ? 0 : j * ss[dim], ji = last == dim ? 0 : j * idx_strides[dim];
            fn(o + (po + k0 * g.ol) * es, s + (ps + js + k0 * g.al) * es, idx + pi + ji + k0 * g.il,
               &piece);
        }
    }
    return VOLT_OK;
}

/* -------------------------------------------------------- masked fill */

#define MASKED_FILL_LOOP(NAME, T)                                                                  \
    static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {                           \
        T value;                                                                                   \
        memcpy(&value, ctx, sizeof value);                                                         \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T x = *(const T *)(p[1] + i * s[1]);                                                   \
            *(T *)(p[0] + i * s[0]) = *(const uint8_t *)(p[2] + i * s[2]) ? value : x;             \
        }                                                                                          \
    }

MASKED_FILL_LOOP(masked_fill1, uint8_t)
MASKED_FILL_LOOP(masked_fill2, uint16_t)
MASKED_FILL_LOOP(masked_fill4, uint32_t)
MASKED_FILL_LOOP(masked_fill8, uint64_t)

void volt_cpu_masked_fill(volt_tensor *out, const volt_tensor *a, const volt_tensor *mask,
                          const void *value) {
    volt_loop_fn fn;
    switch (volt_dtype_size(out->dtype)) {
    case 1: fn = masked_fill1; break;
    case 2: fn = masked_fill2; break;
    case 4: fn = masked_fill4; break;
    default: fn = masked_fill8; break;
    }
    char bytes[8] = {0};
    memcpy(bytes, value, volt_dtype_size(out->dtype));
    const volt_tensor *ops[3] = {out, a, mask};
    volt_elementwise_loop(3, ops, fn, bytes);
}

/* ---------------------------------------------------------- triangles */

/* o[k] = a[k] for k in [begin, end), 0 elsewhere (len elements). */
#define TRIANGLE_ROW(NAME, T)                                                                      \
    static void NAME(char *o, const char *a, int64_t ol, int64_t al, int64_t len, int64_t begin,   \
                     int64_t end) {                                                                \
        T *out = (T *)o;                                                                           \
        const T *src = (const T *)a;                                                               \
        for (int64_t k = 0; k < len; k++) out[k * ol] = k >= begin && k < end ? src[k * al] : 0;   \
    }

TRIANGLE_ROW(triangle_row1, uint8_t)
TRIANGLE_ROW(triangle_row2, uint16_t)
TRIANGLE_ROW(triangle_row4, uint32_t)
TRIANGLE_ROW(triangle_row8, uint64_t)

typedef void (*triangle_row_fn)(char *o, const char *a, int64_t ol, int64_t al, int64_t len,
                                int64_t begin, int64_t end);

void volt_cpu_triangle(volt_tensor *out, const volt_tensor *a, int64_t diagonal, bool upper) {
    int64_t numel = volt_tensor_numel(out);
    if (numel == 0) return;
    int64_t es = (int64_t)volt_dtype_size(out->dtype);
    triangle_row_fn fn = es == 1   ? triangle_row1
                         : es == 2 ? triangle_row2
                         : es == 4 ? triangle_row4
                                   : triangle_row8;
    int last = out->ndim - 1;
    int64_t cols = out->shape[last], rows = numel / cols;
    char *o = volt_tensor_data(out);
    const char *src = volt_tensor_data(a);
#pragma omp parallel for if (numel > VOLT_PARALLEL_GRAIN) num_threads(volt_get_num_threads())
    for (int64_t r = 0; r < rows; r++) {
        int64_t rem = r, po = 0, pa = 0, i = r % out->shape[last - 1];
        for (int d = last - 1; d >= 0; d--) {
            int64_t c = rem % out->shape[d];
            rem /= out->shape[d];
            po += c * out->strides[d];
            pa += c * a->strides[d];
        }
        /* Kept columns: j - i <= diagonal (lower) or j - i >= diagonal (upper). */
        int64_t begin = 0, end = cols;
        if (upper)
            begin = i + diagonal;
        else
            end = i + diagonal + 1;
        fn(o + po * es, src + pa * es, out->strides[last], a->strides[last], cols, begin, end);
    }
}

void volt_cpu_one_hot(volt_tensor *out, const int64_t *idx, int64_t n, int64_t classes) {
    int64_t *o = volt_tensor_data(out);
    for (int64_t i = 0; i < n; i++) o[i * classes + idx[i]] = 1;
}
