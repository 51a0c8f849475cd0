/* dnnl_pool.c: f32 2-D pooling through oneDNN (pooling_v2 forward_training /
 * forward_inference and backward), on plain NCHW memory: pooling is bound by
 * memory traffic, so no layout reorders. */
#include "ops/cpu/dnnl_pool.h"

#include <string.h>

#include "ops/cpu/dnnl_common.h"

enum { KIND_FWD_TRAIN = 11, KIND_FWD_INFER, KIND_BWD };

typedef struct {
    const volt_pool_geom *g;
    int kind;
    dnnl_alg_kind_t alg;
    const_dnnl_primitive_desc_t hint;
    const dnnl_memory_desc_t *src, *dst;
} pool_ctx;

static int64_t pad_end(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pad) {
    return (out - 1) * s + d * (k - 1) + 1 - in - pad;
}

static dnnl_status_t make_pool(dnnl_primitive_desc_t *pd, dnnl_engine_t engine, void *vctx) {
    const pool_ctx *c = vctx;
    const volt_pool_geom *g = c->g;
    dnnl_dims_t strides = {g->sh, g->sw}, kernel = {g->kh, g->kw}, dil = {g->dh - 1, g->dw - 1};
    dnnl_dims_t pl = {g->ph, g->pw};
    dnnl_dims_t pr = {pad_end(g->h, g->oh, g->kh, g->sh, g->dh, g->ph),
                      pad_end(g->w, g->ow, g->kw, g->sw, g->dw, g->pw)};
    dnnl_pooling_v2_desc_t d;
    dnnl_status_t st;
    if (c->kind == KIND_BWD)
        st = dnnl_pooling_v2_backward_desc_init(&d, c->alg, c->src, c->dst, strides, kernel, dil,
                                                pl, pr);
    else
        st = dnnl_pooling_v2_forward_desc_init(
            &d, c->kind == KIND_FWD_TRAIN ? dnnl_forward_training : dnnl_forward_inference, c->alg,
            c->src, c->dst, strides, kernel, dil, pl, pr);
    if (st != dnnl_success) return st;
    return dnnl_primitive_desc_create(pd, &d, NULL, engine, c->hint);
}

static const volt_dnnl_prim *get_pool(const volt_pool_geom *g, int kind, dnnl_alg_kind_t alg,
                                      const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                                      bool *unsupported) {
    const_dnnl_primitive_desc_t hint = NULL;
    if (kind == KIND_BWD) {
        const volt_dnnl_prim *fwd = get_pool(g, KIND_FWD_TRAIN, alg, src, dst, unsupported);
        if (!fwd) return NULL;
        hint = fwd->pd;
    }
    volt_dnnl_key key;
    memset(&key, 0, sizeof key);
    key.kind = kind;
    int64_t p[] = {g->n,  g->c,  g->h,  g->w,  g->oh, g->ow, g->kh,       g->kw,
                   g->sh, g->sw, g->ph, g->pw, g->dh, g->dw, (int64_t)alg};
    memcpy(key.p, p, sizeof p);
    pool_ctx ctx = {g, kind, alg, hint, src, dst};
    return volt_dnnl_cache_get(&key, make_pool, &ctx, unsupported);
}

/* The algorithm for this problem, or 0 when PyTorch's semantics differ:
 * average pooling that counts padding divides by the window within input +
 * padding, which oneDNN's include_padding matches only while no ceil_mode
 * window runs past the padding. */
static dnnl_alg_kind_t algorithm(const volt_pool_geom *g, bool max) {
    int64_t prh = pad_end(g->h, g->oh, g->kh, g->sh, g->dh, g->ph);
    int64_t prw = pad_end(g->w, g->ow, g->kw, g->sw, g->dw, g->pw);
    if (g->n * g->c == 0 || prh + g->sh <= 0 || prw + g->sw <= 0) return (dnnl_alg_kind_t)0;
    if (max) return dnnl_pooling_max;
    if (!g->count_include_pad) return dnnl_pooling_avg_exclude_padding;
    return prh <= g->ph && prw <= g->pw ? dnnl_pooling_avg_include_padding : (dnnl_alg_kind_t)0;
}

static volt_status forward_locked(const volt_pool_geom *g, dnnl_alg_kind_t alg,
                                  const volt_tensor *src, volt_tensor *dst,
                                  volt_tensor **workspace) {
    dnnl_memory_desc_t s, d;
    if (!volt_dnnl_md_plain(&s, 4, (int64_t[]){g->n, g->c, g->h, g->w}) ||
        !volt_dnnl_md_plain(&d, 4, (int64_t[]){g->n, g->c, g->oh, g->ow}))
        return volt_error_status();
    bool unsupported = false, train = workspace != NULL;
    const volt_dnnl_prim *p =
        get_pool(g, train ? KIND_FWD_TRAIN : KIND_FWD_INFER, alg, &s, &d, &unsupported);
    if (!p) return unsupported ? VOLT_ERR_UNSUPPORTED : volt_error_status();
    const dnnl_memory_desc_t *ws_md = volt_dnnl_query_md(p, dnnl_query_workspace_md, 0);
    size_t ws_size = ws_md ? dnnl_memory_desc_get_size(ws_md) : 0;
    volt_tensor *ws = NULL;
    if (train && ws_size) {
        ws = volt_tensor_new(VOLT_U8, src->device, 1, (int64_t[]){(int64_t)ws_size});
        if (!ws) return volt_error_status();
    }
    const int args[3] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE};
    const dnnl_memory_desc_t *mds[3] = {&s, &d, ws_md};
    void *data[3] = {volt_tensor_data(src), volt_tensor_data(dst), volt_tensor_data(ws)};
    if (!volt_dnnl_execute(p, ws ? 3 : 2, args, mds, data)) {
        volt_tensor_free(ws);
        return volt_error_status();
    }
    if (workspace) *workspace = ws;
    return VOLT_OK;
}

static volt_status backward_locked(const volt_pool_geom *g, dnnl_alg_kind_t alg,
                                   const volt_tensor *diff_dst, const volt_tensor *workspace,
                                   volt_tensor *diff_src) {
    dnnl_memory_desc_t s, d;
    if (!volt_dnnl_md_plain(&s, 4, (int64_t[]){g->n, g->c, g->h, g->w}) ||
        !volt_dnnl_md_plain(&d, 4, (int64_t[]){g->n, g->c, g->oh, g->ow}))
        return volt_error_status();
    bool unsupported = false;
    const volt_dnnl_prim *p = get_pool(g, KIND_BWD, alg, &s, &d, &unsupported);
    if (!p) return unsupported ? VOLT_ERR_UNSUPPORTED : volt_error_status();
    const dnnl_memory_desc_t *ws_md = volt_dnnl_query_md(p, dnnl_query_workspace_md, 0);
    bool with_ws = ws_md && dnnl_memory_desc_get_size(ws_md) > 0;
    if (with_ws &&
        (!workspace || (size_t)volt_tensor_numel(workspace) != dnnl_memory_desc_get_size(ws_md))) {
        volt_error_set(VOLT_ERR_INTERNAL, "dnnl: max pooling backward without its workspace");
        return VOLT_ERR_INTERNAL;
    }
    const int args[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_WORKSPACE};
    const dnnl_memory_desc_t *mds[3] = {&d, &s, ws_md};
    void *data[3] = {volt_tensor_data(diff_dst), volt_tensor_data(diff_src),
                     with_ws ? volt_tensor_data(workspace) : NULL};
    return volt_dnnl_execute(p, with_ws ? 3 : 2, args, mds, data) ? VOLT_OK : volt_error_status();
}

volt_status volt_dnnl_pool_forward(const volt_pool_geom *g, bool max, const volt_tensor *src,
                                   volt_tensor *dst, volt_tensor **workspace) {
    dnnl_alg_kind_t alg = algorithm(g, max);
    if (!alg) return VOLT_ERR_UNSUPPORTED;
    if (!volt_dnnl_lock()) return volt_error_status();
    volt_status st = forward_locked(g, alg, src, dst, workspace);
    volt_dnnl_unlock();
    return st;
}

volt_status volt_dnnl_pool_backward(const volt_pool_geom *g, bool max, const volt_tensor *diff_dst,
                                    const volt_tensor *workspace, volt_tensor *diff_src) {
    dnnl_alg_kind_t alg = algorithm(g, max);
    if (!alg) return VOLT_ERR_UNSUPPORTED;
    if (!volt_dnnl_lock()) return volt_error_status();
    volt_status st = backward_locked(g, alg, diff_dst, workspace, diff_src);
    volt_dnnl_unlock();
    return st;
}
