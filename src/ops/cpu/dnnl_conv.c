/* dnnl_conv.c: f32 2-D convolution through oneDNN's convolution primitives
 * (forward_training, backward_data, backward_weights; direct algorithm).
 * Activations stay plain NCHW in volt: oneDNN picks its layouts ("any") and
 * they are reordered in and out here, which pays. Measured with
 * bench/layers/conv_layouts.c (CPU time, 2 threads, oneDNN 2.6) on the
 * benchmark CNN's conv 32->64 3x3, 14x14, batch 128: the blocked (nChw16c)
 * kernels take 5.2 ms forward, 5.8 backward data, 5.5 backward weights; on
 * NHWC 6.1 (brgemm), 7.6 and 5.9, with reorders no cheaper; on plain NCHW
 * (gemm) 12.0, 14.0 and 11.6. The input gradient of a stride-1 ungrouped
 * convolution runs as the forward convolution of diff_dst with the flipped,
 * transposed weights (5.2 ms there against 5.8; see flipped_geometry), and
 * diff_dst keeps the layout the weight gradient reads. Weights are
 * reordered too, once per weight version when a layer passes its cache.
 * (Keeping the forward's reordered src for the weight gradient saves one
 * reorder but measured slower overall in f32, with one more copy of src
 * alive; in bf16, conv2d_relu_max_pool2x2 keeps the forward's bf16 NHWC copy
 * instead of the f32 input, half its size: 0.28 ms less per CNN step.)
 * For bf16 autocast the same primitives take bf16 sources, weights and
 * output gradients (the reorders from volt's f32 round them) and give f32
 * outputs and gradients; the flipped input gradient too (on the CNN's conv2
 * at batch 128, oneDNN's AMX backward-data kernel took 1.4 ms, the forward
 * brgconv kernel 0.4 on the flipped problem: 0.45 ms less per training
 * step). */
#include "ops/cpu/dnnl_conv.h"

#include <stdlib.h>
#include <string.h>

#include "ops/cpu/dnnl_common.h"

enum { KIND_FWD = 1, KIND_BWD_DATA, KIND_BWD_WEIGHTS };

struct volt_dnnl_weight_cache {
    volt_storage *storage; /* referenced; NULL: empty */
    int64_t offset;
    uint64_t version;
    dnnl_memory_desc_t md;
    void *data;
    size_t capacity;
};

static int64_t n_weight_reorders;
static int64_t n_flipped;

volt_dnnl_weight_cache *volt_dnnl_weight_cache_new(void) {
    volt_dnnl_weight_cache *c = calloc(1, sizeof *c);
    if (!c) volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "dnnl: out of memory for a weight cache");
    return c;
}

void volt_dnnl_weight_cache_free(volt_dnnl_weight_cache *c) {
    if (!c) return;
    if (c->storage) volt_storage_release(c->storage);
    volt_dnnl_scratch_free(c->data);
    free(c);
}

int64_t volt_dnnl_flipped_backward_data(void) {
    return __atomic_load_n(&n_flipped, __ATOMIC_RELAXED);
}

int64_t volt_dnnl_weight_reorders(void) {
    return __atomic_load_n(&n_weight_reorders, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------ descriptors */

/* The plain (volt) layouts of src, weights ([groups, o/g, c/g, kh, kw] when
 * grouped), dst and bias. */
typedef struct {
    dnnl_memory_desc_t src, w, dst, b;
} plain_mds;

static bool plain_descs(const volt_conv_geom *g, plain_mds *m) {
    int64_t cg = g->c / g->groups, og = g->o / g->groups;
    bool ok = volt_dnnl_md_plain(&m->src, 4, (int64_t[]){g->n, g->c, g->h, g->w}) &&
              volt_dnnl_md_plain(&m->dst, 4, (int64_t[]){g->n, g->o, g->oh, g->ow}) &&
              volt_dnnl_md_plain(&m->b, 1, (int64_t[]){g->o});
    if (g->groups == 1)
        return ok && volt_dnnl_md_plain(&m->w, 4, (int64_t[]){g->o, cg, g->kh, g->kw});
    return ok && volt_dnnl_md_plain(&m->w, 5, (int64_t[]){g->groups, og, cg, g->kh, g->kw});
}

static dnnl_status_t any_desc(dnnl_memory_desc_t *md, int ndim, const int64_t *shape,
                              dnnl_data_type_t type) {
    dnnl_dims_t dims = {0};
    for (int i = 0; i < ndim; i++) dims[i] = shape[i];
    return dnnl_memory_desc_init_by_tag(md, ndim, dims, type, dnnl_format_tag_any);
}

/* Right/bottom padding that makes oneDNN's size formula give (oh, ow). */
static int64_t pad_end(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pad) {
    return (out - 1) * s + d * (k - 1) + 1 - in - pad;
}

typedef struct {
    const volt_conv_geom *g;
    int kind;
    bool bias, bf16;
    const_dnnl_primitive_desc_t hint;
} conv_ctx;

/* Declines oneDNN's reference (unoptimised) bf16 implementation: the
 * caller's f32 path on rounded operands is faster. */
static dnnl_status_t no_ref(dnnl_primitive_desc_t *pd, dnnl_status_t st, bool bf16) {
    const char *impl = NULL;
    if (st == dnnl_success && bf16 &&
        dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
        impl && strncmp(impl, "ref", 3) == 0)
        return dnnl_unimplemented; /* the cache destroys *pd */
    return st;
}

static bool impl_is(const_dnnl_primitive_desc_t pd, const char *prefix) {
    const char *impl = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
           impl && strncmp(impl, prefix, strlen(prefix)) == 0;
}

static dnnl_status_t make_conv(dnnl_primitive_desc_t *pd, dnnl_engine_t engine, void *vctx) {
    conv_ctx *ctx = vctx;
    const volt_conv_geom *g = ctx->g;
    int64_t cg = g->c / g->groups, og = g->o / g->groups;
    /* bf16: the inputs of each pass (src, weights; diff_dst backward) */
    dnnl_data_type_t in = ctx->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_data_type_t dst_type = ctx->kind == KIND_FWD ? dnnl_f32 : in;
    dnnl_data_type_t src_type = ctx->kind == KIND_BWD_DATA ? dnnl_f32 : in;
    dnnl_data_type_t w_type = ctx->kind == KIND_BWD_WEIGHTS ? dnnl_f32 : in;
    dnnl_memory_desc_t src, w, dst, b;
    dnnl_status_t st = any_desc(&src, 4, (int64_t[]){g->n, g->c, g->h, g->w}, src_type);
    if (st == dnnl_success) st = any_desc(&dst, 4, (int64_t[]){g->n, g->o, g->oh, g->ow}, dst_type);
    if (st == dnnl_success) st = any_desc(&b, 1, (int64_t[]){g->o}, dnnl_f32);
    if (st == dnnl_success)
        st = g->groups == 1 ? any_desc(&w, 4, (int64_t[]){g->o, cg, g->kh, g->kw}, w_type)
                            : any_desc(&w, 5, (int64_t[]){g->groups, og, cg, g->kh, g->kw}, w_type);
    if (st != dnnl_success) return st;
    dnnl_dims_t strides = {g->sh, g->sw}, dil = {g->dh - 1, g->dw - 1}, pl = {g->ph, g->pw};
    dnnl_dims_t pr = {pad_end(g->h, g->oh, g->kh, g->sh, g->dh, g->ph),
                      pad_end(g->w, g->ow, g->kw, g->sw, g->dw, g->pw)};
    dnnl_convolution_desc_t d;
    const dnnl_memory_desc_t *bias = ctx->bias ? &b : NULL;
    if (ctx->kind == KIND_FWD)
        st = dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_training,
                                                        dnnl_convolution_direct, &src, &w, bias,
                                                        &dst, strides, dil, pl, pr);
    else if (ctx->kind == KIND_BWD_DATA)
        st = dnnl_dilated_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &src, &w,
                                                              &dst, strides, dil, pl, pr);
    else
        st = dnnl_dilated_convolution_backward_weights_desc_init(
            &d, dnnl_convolution_direct, &src, &w, bias, &dst, strides, dil, pl, pr);
    if (st != dnnl_success) return st;
    return no_ref(pd, dnnl_primitive_desc_create(pd, &d, NULL, engine, ctx->hint), ctx->bf16);
}

/* The cached primitive of this kind (backward ones get the forward one as
 * their hint). NULL: *unsupported, or an error. */
static const volt_dnnl_prim *get_conv(const volt_conv_geom *g, int kind, bool bias, bool bf16,
                                      bool *unsupported) {
    const_dnnl_primitive_desc_t hint = NULL;
    if (kind != KIND_FWD) {
        const volt_dnnl_prim *fwd = get_conv(g, KIND_FWD, g->with_bias, bf16, unsupported);
        if (!fwd) return NULL;
        hint = fwd->pd;
    }
    volt_dnnl_key key;
    memset(&key, 0, sizeof key);
    key.kind = kind;
    int64_t p[] = {g->n,  g->c,  g->h,  g->w,  g->o,  g->oh,     g->ow,        g->kh, g->kw, g->sh,
                   g->sw, g->dh, g->dw, g->ph, g->pw, g->groups, g->with_bias, bias,  bf16};
    memcpy(key.p, p, sizeof p);
    conv_ctx ctx = {g, kind, bias, bf16, hint};
    return volt_dnnl_cache_get(&key, make_conv, &ctx, unsupported);
}

/* oneDNN's own limits on the geometry (checked before asking it). */
static bool geometry_ok(const volt_conv_geom *g) {
    int64_t prh = pad_end(g->h, g->oh, g->kh, g->sh, g->dh, g->ph);
    int64_t prw = pad_end(g->w, g->ow, g->kw, g->sw, g->dw, g->pw);
    return g->n > 0 && g->oh > 0 && g->ow > 0 && prh + g->sh > 0 && prw + g->sw > 0 && g->ph >= 0 &&
           g->pw >= 0;
}

/* ------------------------------------------------------------ weights */

/* Weights in the layout `want`: from the cache when it holds this version. */
static void *weights_for(volt_dnnl_weight_cache *c, const volt_tensor *w,
                         const dnnl_memory_desc_t *have, const dnnl_memory_desc_t *want,
                         void **scratch) {
    *scratch = NULL;
    if (!c || volt_dnnl_md_equal(have, want))
        return volt_dnnl_as_layout(have, volt_tensor_data(w), want, scratch);
    uint64_t version = volt_storage_version(w->storage);
    if (c->storage == w->storage && c->offset == w->offset && c->version == version &&
        volt_dnnl_md_equal(&c->md, want))
        return c->data;
    size_t size = dnnl_memory_desc_get_size(want);
    if (size > c->capacity) {
        volt_dnnl_scratch_free(c->data);
        c->capacity = 0;
        if (!(c->data = volt_dnnl_scratch(size))) return NULL;
        c->capacity = size;
    }
    if (c->storage) volt_storage_release(c->storage);
    c->storage = NULL;
    if (!volt_dnnl_reorder(have, volt_tensor_data(w), want, c->data)) return NULL;
    volt_storage_retain(w->storage);
    c->storage = w->storage;
    c->offset = w->offset;
    c->version = version;
    c->md = *want;
    __atomic_add_fetch(&n_weight_reorders, 1, __ATOMIC_RELAXED);
    return c->data;
}

/* ------------------------------------------------------------- passes */

static volt_status status_of(bool ok, bool unsupported) {
    if (ok) return VOLT_OK;
    return unsupported ? VOLT_ERR_UNSUPPORTED : volt_error_status();
}

/* The descriptor of g's output, f32 (or bf16), in layout tag (o a multiple
 * of 16). */
static bool output_desc(const volt_conv_geom *g, dnnl_format_tag_t tag, bool bf16,
                        dnnl_memory_desc_t *md) {
    dnnl_dims_t dims = {g->n, g->o, g->oh, g->ow};
    return g->o % 16 == 0 && dnnl_memory_desc_init_by_tag(md, 4, dims, bf16 ? dnnl_bf16 : dnnl_f32,
                                                          tag) == dnnl_success;
}

/* Whether md is g's input in bf16 NHWC (what the AMX kernels read). */
static bool is_src_nhwc_bf16(const dnnl_memory_desc_t *md, const volt_conv_geom *g) {
    dnnl_memory_desc_t b;
    dnnl_dims_t dims = {g->n, g->c, g->h, g->w};
    return dnnl_memory_desc_init_by_tag(&b, 4, dims, dnnl_bf16, dnnl_acdb) == dnnl_success &&
           volt_dnnl_md_equal(md, &b);
}

/* The channels per block of md's layout when it is g's output, f32, in
 * aBcd16b (16) or NHWC (o; with 16 channels both are the same memory);
 * 0 otherwise. */
static int64_t block_of(const dnnl_memory_desc_t *md, const volt_conv_geom *g) {
    dnnl_memory_desc_t b;
    if (output_desc(g, dnnl_aBcd16b, false, &b) && volt_dnnl_md_equal(md, &b)) return 16;
    if (output_desc(g, dnnl_acdb, false, &b) && volt_dnnl_md_equal(md, &b)) return g->o;
    return 0;
}

/* dst = conv(src, w) + b; with blocked not NULL, the output is left in a new
 * scratch buffer in channel blocks, *blocked, of *block channels
 * (VOLT_ERR_UNSUPPORTED, no error, when the primitive wants another
 * layout), and dst is unused. keep_src: see volt_dnnl_conv_forward_blocked. */
static volt_status forward_locked(const volt_conv_geom *g, const volt_tensor *src,
                                  const volt_tensor *w, const volt_tensor *b, volt_tensor *dst,
                                  volt_dnnl_weight_cache *cache, bool bf16, float **blocked,
                                  int64_t *block, volt_tensor **keep_src) {
    bool unsupported = false;
    plain_mds m;
    const volt_dnnl_prim *p =
        plain_descs(g, &m) ? get_conv(g, KIND_FWD, g->with_bias, bf16, &unsupported) : NULL;
    if (!p) return status_of(false, unsupported);
    const dnnl_memory_desc_t *want_src = volt_dnnl_query_md(p, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *want_w = volt_dnnl_query_md(p, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *want_dst = volt_dnnl_query_md(p, dnnl_query_dst_md, 0);
    if (blocked && !(*block = block_of(want_dst, g))) return VOLT_ERR_UNSUPPORTED;
    void *s_src = NULL, *s_w = NULL, *s_dst = NULL, *y = NULL, *x = NULL;
    if (keep_src && is_src_nhwc_bf16(want_src, g)) {
        *keep_src = volt_tensor_new(VOLT_BF16, src->device, 4, (int64_t[]){g->n, g->h, g->w, g->c});
        if (*keep_src &&
            volt_dnnl_reorder(&m.src, volt_tensor_data(src), want_src, volt_tensor_data(*keep_src)))
            x = volt_tensor_data(*keep_src);
    } else {
        x = volt_dnnl_as_layout(&m.src, volt_tensor_data(src), want_src, &s_src);
    }
    void *wt = x ? weights_for(cache, w, &m.w, want_w, &s_w) : NULL;
    if (wt && blocked)
        y = s_dst = volt_dnnl_scratch(dnnl_memory_desc_get_size(want_dst));
    else if (wt)
        y = volt_dnnl_output(want_dst, &m.dst, volt_tensor_data(dst), &s_dst);
    bool ok = false;
    if (y) {
        const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
        const dnnl_memory_desc_t *mds[4] = {want_src, want_w, want_dst, &m.b};
        void *data[4] = {x, wt, y, g->with_bias ? volt_tensor_data(b) : NULL};
        ok = volt_dnnl_execute(p, g->with_bias ? 4 : 3, args, mds, data);
        if (ok && blocked)
            *blocked = y;
        else if (ok)
            ok = volt_dnnl_output_finish(want_dst, s_dst, &m.dst, volt_tensor_data(dst));
        if (ok) s_dst = NULL; /* the caller's, or freed by finish */
    }
    volt_dnnl_scratch_free(s_dst);
    volt_dnnl_scratch_free(s_src);
    volt_dnnl_scratch_free(s_w);
    if (!ok && keep_src) {
        volt_tensor_free(*keep_src);
        *keep_src = NULL;
    }
    return status_of(ok, false);
}

/* diff_dst in the layout a backward primitive wants, reordered at most once
 * for both backward primitives when they want the same one. */
typedef struct {
    const dnnl_memory_desc_t *have; /* diff_dst as given: its layout and data */
    const void *have_data;
    const dnnl_memory_desc_t *md; /* of data; NULL: nothing yet */
    void *data, *scratch;
} shared_input;

static void *shared_as(shared_input *s, const dnnl_memory_desc_t *want) {
    if (s->md && volt_dnnl_md_equal(s->md, want)) return s->data;
    volt_dnnl_scratch_free(s->scratch);
    s->md = want;
    s->data = volt_dnnl_as_layout(s->have, s->have_data, want, &s->scratch);
    if (!s->data) s->md = NULL;
    return s->data;
}

static volt_status backward_data_locked(const volt_conv_geom *g, const plain_mds *m,
                                        shared_input *gys, const volt_tensor *w,
                                        volt_tensor *diff_src, bool bf16) {
    bool unsupported = false;
    const volt_dnnl_prim *p = get_conv(g, KIND_BWD_DATA, false, bf16, &unsupported);
    if (!p) return status_of(false, unsupported);
    const dnnl_memory_desc_t *want_gy = volt_dnnl_query_md(p, dnnl_query_diff_dst_md, 0);
    const dnnl_memory_desc_t *want_w = volt_dnnl_query_md(p, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *want_gx = volt_dnnl_query_md(p, dnnl_query_diff_src_md, 0);
    void *s_w = NULL, *s_gx = NULL, *gx = NULL;
    void *gy = shared_as(gys, want_gy);
    void *wt = gy ? volt_dnnl_as_layout(&m->w, volt_tensor_data(w), want_w, &s_w) : NULL;
    if (wt) gx = volt_dnnl_output(want_gx, &m->src, volt_tensor_data(diff_src), &s_gx);
    bool ok = false;
    if (gx) {
        const int args[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
        const dnnl_memory_desc_t *mds[3] = {want_gy, want_w, want_gx};
        void *data[3] = {gy, wt, gx};
        ok = volt_dnnl_execute(p, 3, args, mds, data);
        if (ok) ok = volt_dnnl_output_finish(want_gx, s_gx, &m->src, volt_tensor_data(diff_src));
        if (ok) s_gx = NULL; /* freed by finish */
    }
    volt_dnnl_scratch_free(s_gx);
    volt_dnnl_scratch_free(s_w);
    return status_of(ok, false);
}

/* The convolution whose forward pass is g's input gradient: diff_dst
 * convolved with the flipped, transposed weights, padded so the output
 * has src's size. false: none, or not worth it. Only for stride 1 and one
 * group, and where the weights are small next to diff_dst (flipping
 * them costs a pass over them) and the image is not tiny. Measured (CPU
 * time, 2 threads, oneDNN 2.6 blocked kernels): the forward kernel beats
 * backward data by 12-20% on 14x14 to 32x32 images (32->64 at batch 128,
 * 64->64 and 16->16), is even at 8x8 to 16x16 with 128-256 channels and
 * slower on 4x4 with 512 (by 8%, before flipping 9 MB of weights). */
static bool flipped_geometry(const volt_conv_geom *g, volt_conv_geom *f) {
    if (g->sh != 1 || g->sw != 1 || g->groups != 1) return false;
    int64_t weights = g->o * g->c * g->kh * g->kw, diff_dst = g->n * g->o * g->oh * g->ow;
    if (g->oh * g->ow < 64 || weights * 16 > diff_dst) return false;
    *f = (volt_conv_geom){.n = g->n,
                          .c = g->o,
                          .h = g->oh,
                          .w = g->ow,
                          .o = g->c,
                          .oh = g->h,
                          .ow = g->w,
                          .kh = g->kh,
                          .kw = g->kw,
                          .sh = 1,
                          .sw = 1,
                          .dh = g->dh,
                          .dw = g->dw,
                          .groups = 1,
                          .with_bias = false};
    f->ph = g->dh * (g->kh - 1) - g->ph;
    f->pw = g->dw * (g->kw - 1) - g->pw;
    return f->ph >= 0 && f->pw >= 0 && geometry_ok(f);
}

/* wf[c][o][i][j] = w[o][c][kh-1-i][kw-1-j] (plain f32). */
static void flip_weights(const volt_conv_geom *g, const float *w, float *wf) {
    int64_t k = g->kh * g->kw;
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t c = 0; c < g->c; c++) {
            const float *src = w + (o * g->c + c) * k;
            float *dst = wf + (c * g->o + o) * k;
            for (int64_t i = 0; i < k; i++) dst[i] = src[k - 1 - i];
        }
}

/* diff_src as the forward convolution of flipped_geometry (f).
 * VOLT_ERR_UNSUPPORTED (no error) when oneDNN has no jit kernel for f
 * (gemm or reference only): the caller runs its backward-data primitive. */
static volt_status backward_data_flipped_locked(const volt_conv_geom *g, const volt_conv_geom *f,
                                                const plain_mds *m, shared_input *gys,
                                                const volt_tensor *w, volt_tensor *diff_src,
                                                bool bf16) {
    bool unsupported = false;
    plain_mds fm;
    const volt_dnnl_prim *p =
        plain_descs(f, &fm) ? get_conv(f, KIND_FWD, false, bf16, &unsupported) : NULL;
    if (!p) return status_of(false, unsupported);
    if (!impl_is(p->pd, "jit") && !impl_is(p->pd, "brg")) return VOLT_ERR_UNSUPPORTED;
    const dnnl_memory_desc_t *want_x = volt_dnnl_query_md(p, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *want_w = volt_dnnl_query_md(p, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *want_y = volt_dnnl_query_md(p, dnnl_query_dst_md, 0);
    void *s_w = NULL, *s_gx = NULL, *wt = NULL, *gx = NULL;
    float *wf = volt_dnnl_scratch((size_t)volt_tensor_numel(w) * sizeof(float));
    void *gy = wf ? shared_as(gys, want_x) : NULL;
    if (gy) {
        flip_weights(g, volt_tensor_data(w), wf);
        wt = volt_dnnl_as_layout(&fm.w, wf, want_w, &s_w);
    }
    if (wt) gx = volt_dnnl_output(want_y, &m->src, volt_tensor_data(diff_src), &s_gx);
    bool ok = false;
    if (gx) {
        const int args[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
        const dnnl_memory_desc_t *mds[3] = {want_x, want_w, want_y};
        void *data[3] = {gy, wt, gx};
        ok = volt_dnnl_execute(p, 3, args, mds, data);
        if (ok) ok = volt_dnnl_output_finish(want_y, s_gx, &m->src, volt_tensor_data(diff_src));
        if (ok) s_gx = NULL; /* freed by finish */
    }
    if (ok) __atomic_add_fetch(&n_flipped, 1, __ATOMIC_RELAXED);
    volt_dnnl_scratch_free(s_gx);
    volt_dnnl_scratch_free(s_w);
    volt_dnnl_scratch_free(wf);
    return status_of(ok, false);
}

/* src_nhwc (not NULL): src as forward_locked kept it, read instead of src. */
static volt_status backward_weights_locked(const volt_conv_geom *g, const plain_mds *m,
                                           shared_input *gys, const volt_tensor *src,
                                           const volt_tensor *src_nhwc, volt_tensor *diff_w,
                                           volt_tensor *diff_b, bool bf16) {
    bool unsupported = false;
    const volt_dnnl_prim *p = get_conv(g, KIND_BWD_WEIGHTS, diff_b != NULL, bf16, &unsupported);
    if (!p) return status_of(false, unsupported);
    const dnnl_memory_desc_t *want_x = volt_dnnl_query_md(p, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *want_gy = volt_dnnl_query_md(p, dnnl_query_diff_dst_md, 0);
    const dnnl_memory_desc_t *want_gw = volt_dnnl_query_md(p, dnnl_query_diff_weights_md, 0);
    const dnnl_memory_desc_t *want_gb = volt_dnnl_query_md(p, dnnl_query_diff_weights_md, 1);
    void *s_x, *s_gw = NULL, *s_gb = NULL, *gw = NULL, *gb = NULL;
    dnnl_memory_desc_t kept;
    dnnl_dims_t dims = {g->n, g->c, g->h, g->w};
    void *x = src_nhwc && dnnl_memory_desc_init_by_tag(&kept, 4, dims, dnnl_bf16, dnnl_acdb) ==
                              dnnl_success
                  ? volt_dnnl_as_layout(&kept, volt_tensor_data(src_nhwc), want_x, &s_x)
                  : volt_dnnl_as_layout(&m->src, volt_tensor_data(src), want_x, &s_x);
    void *gy = x ? shared_as(gys, want_gy) : NULL;
    if (gy) gw = volt_dnnl_output(want_gw, &m->w, volt_tensor_data(diff_w), &s_gw);
    if (gw && diff_b) gb = volt_dnnl_output(want_gb, &m->b, volt_tensor_data(diff_b), &s_gb);
    bool ok = false;
    if (gw && (gb || !diff_b)) {
        const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS,
                             DNNL_ARG_DIFF_BIAS};
        const dnnl_memory_desc_t *mds[4] = {want_x, want_gy, want_gw, want_gb};
        void *data[4] = {x, gy, gw, gb};
        ok = volt_dnnl_execute(p, diff_b ? 4 : 3, args, mds, data);
        if (ok) {
            bool done_w = volt_dnnl_output_finish(want_gw, s_gw, &m->w, volt_tensor_data(diff_w));
            bool done_b =
                !diff_b || volt_dnnl_output_finish(want_gb, s_gb, &m->b, volt_tensor_data(diff_b));
            s_gw = s_gb = NULL; /* freed by finish */
            ok = done_w && done_b;
        }
    }
    volt_dnnl_scratch_free(s_gw);
    volt_dnnl_scratch_free(s_gb);
    volt_dnnl_scratch_free(s_x);
    return status_of(ok, false);
}

volt_status volt_dnnl_conv_forward(const volt_conv_geom *g, const volt_tensor *src,
                                   const volt_tensor *w, const volt_tensor *b, volt_tensor *dst,
                                   volt_dnnl_weight_cache *cache, bool bf16) {
    if (!geometry_ok(g) || (bf16 && !volt_dnnl_has_bf16())) return VOLT_ERR_UNSUPPORTED;
    if (!volt_dnnl_lock()) return volt_error_status();
    volt_status st = forward_locked(g, src, w, b, dst, cache, bf16, NULL, NULL, NULL);
    volt_dnnl_unlock();
    return st;
}

volt_status volt_dnnl_conv_forward_blocked(const volt_conv_geom *g, const volt_tensor *src,
                                           const volt_tensor *w, const volt_tensor *b,
                                           volt_dnnl_weight_cache *cache, bool bf16, float **dst,
                                           int64_t *block, volt_tensor **keep_src) {
    *dst = NULL;
    if (keep_src) *keep_src = NULL;
    if (!geometry_ok(g) || g->o % 16 != 0 || (bf16 && !volt_dnnl_has_bf16()))
        return VOLT_ERR_UNSUPPORTED;
    if (!volt_dnnl_lock()) return volt_error_status();
    volt_status st = forward_locked(g, src, w, b, NULL, cache, bf16, dst, block, keep_src);
    volt_dnnl_unlock();
    return st;
}

/* The backward passes with diff_dst in layout `have` (NULL: plain); src_nhwc
 * as backward_weights_locked's. */
static volt_status backward(const volt_conv_geom *g, const volt_tensor *src,
                            const volt_tensor *src_nhwc, const dnnl_memory_desc_t *have,
                            const void *diff_dst, const volt_tensor *w, volt_tensor *diff_src,
                            volt_tensor *diff_w, volt_tensor *diff_b, bool bf16) {
    if (!geometry_ok(g) || (bf16 && !volt_dnnl_has_bf16())) return VOLT_ERR_UNSUPPORTED;
    plain_mds m;
    if (!volt_dnnl_lock()) return volt_error_status();
    volt_status st = plain_descs(g, &m) ? VOLT_OK : volt_error_status();
    shared_input gys = {have ? have : &m.dst, diff_dst, NULL, NULL, NULL};
    volt_conv_geom f;
    bool flipped = st == VOLT_OK && diff_src && flipped_geometry(g, &f);
    if (flipped) st = backward_data_flipped_locked(g, &f, &m, &gys, w, diff_src, bf16);
    if (flipped && st == VOLT_ERR_UNSUPPORTED) st = VOLT_OK, flipped = false;
    if (st == VOLT_OK && diff_src && !flipped)
        st = backward_data_locked(g, &m, &gys, w, diff_src, bf16);
    if (st == VOLT_OK && diff_w)
        st = backward_weights_locked(g, &m, &gys, src, src_nhwc, diff_w, diff_b, bf16);
    volt_dnnl_scratch_free(gys.scratch);
    volt_dnnl_unlock();
    return st;
}

volt_status volt_dnnl_conv_backward(const volt_conv_geom *g, const volt_tensor *src,
                                    const volt_tensor *diff_dst, const volt_tensor *w,
                                    volt_tensor *diff_src, volt_tensor *diff_w, volt_tensor *diff_b,
                                    bool bf16) {
    return backward(g, src, NULL, NULL, volt_tensor_data(diff_dst), w, diff_src, diff_w, diff_b,
                    bf16);
}

volt_status volt_dnnl_conv_backward_blocked(const volt_conv_geom *g, const volt_tensor *src,
                                            const volt_tensor *src_nhwc, const void *diff_dst,
                                            bool diff_bf16, int64_t block, const volt_tensor *w,
                                            volt_tensor *diff_src, volt_tensor *diff_w,
                                            volt_tensor *diff_b, bool bf16) {
    dnnl_memory_desc_t have;
    if ((block != 16 && block != g->o) || (diff_bf16 && !bf16) ||
        !output_desc(g, block == 16 ? dnnl_aBcd16b : dnnl_acdb, diff_bf16, &have))
        return VOLT_ERR_UNSUPPORTED;
    return backward(g, src, src_nhwc, &have, diff_dst, w, diff_src, diff_w, diff_b, bf16);
}
