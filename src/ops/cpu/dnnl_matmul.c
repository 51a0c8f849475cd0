/* dnnl_matmul.c: bf16 products for autocast and bf16 tensors through
 * oneDNN's matmul primitive (see dnnl_matmul.h). Each operand is converted once into a dense
 * bf16 buffer that keeps its orientation (a transposed view stays
 * column-major, so the conversion reads memory in order); an operand whose
 * batch dims are all broadcast is converted once and broadcast by oneDNN; a
 * batch of row-major left operands against one shared right operand runs
 * as a single tall product. oneDNN's reference (unoptimised) implementation
 * is declined, so that the caller's f32 fallback runs instead. */
#include "ops/cpu/dnnl_matmul.h"

#include <string.h>

#include "ops/autocast_impl.h"
#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/parallel.h"

enum { KIND_MATMUL = 21 };

/* An operand in bf16: `batch` matrices (1: shared by every product) of
 * r x c, row-major, or column-major when trans. */
typedef struct {
    uint16_t *data; /* scratch, or a bf16 operand's own elements when borrowed */
    int64_t batch, r, c;
    bool trans, borrowed;
} bf16_operand;

/* Strides of t's batch dims seen broadcast to out's (0 where broadcast);
 * returns whether any is non-zero. */
static bool batch_strides(const volt_tensor *t, const volt_tensor *out, int64_t *strides) {
    int nb = out->ndim - 2, tb = t->ndim - 2;
    bool any = false;
    for (int i = 0; i < nb; i++) {
        int ti = i - (nb - tb);
        strides[i] = ti >= 0 && t->shape[ti] != 1 ? t->strides[ti] : 0;
        any = any || strides[i] != 0;
    }
    return any;
}

/* Whether the batch of matrices (each `size` elements, dense) lies in one
 * contiguous run. */
static bool batch_dense(const volt_tensor *out, const int64_t *strides, int64_t size) {
    int64_t expected = size;
    for (int i = out->ndim - 3; i >= 0; i--) {
        if (out->shape[i] == 1) continue;
        if (strides[i] != expected) return false;
        expected *= out->shape[i];
    }
    return true;
}

/* Element offset of batch bi (row-major over out's batch dims). */
static int64_t batch_offset(const volt_tensor *out, const int64_t *strides, int64_t bi) {
    int64_t off = 0;
    for (int i = out->ndim - 3; i >= 0; i--) {
        off += (bi % out->shape[i]) * strides[i];
        bi /= out->shape[i];
    }
    return off;
}

/* Converts t (f32 or bf16, batch dims broadcast to out's) into op; a bf16 t
 * whose matrices lie dense in one run is read where it is. t's matrices must
 * have unit stride along their rows or their columns. */
static bool convert(const volt_tensor *t, const volt_tensor *out, bf16_operand *op) {
    int nd = t->ndim;
    int64_t bstrides[VOLT_MAX_DIMS];
    bool batched = batch_strides(t, out, bstrides);
    int64_t r = t->shape[nd - 2], c = t->shape[nd - 1];
    int64_t rs = t->strides[nd - 2], cs = t->strides[nd - 1];
    bool trans = !(c == 1 || cs == 1);
    int64_t lines = trans ? c : r, len = trans ? r : c, line_stride = trans ? cs : rs;
    if (lines == 1) line_stride = len;
    int64_t batch = batched ? volt_shape_numel(out->ndim - 2, out->shape) : 1;
    *op = (bf16_operand){NULL, batch, r, c, trans, false};
    bool dense = line_stride == len && (!batched || batch_dense(out, bstrides, r * c));
    bool bf16 = t->dtype == VOLT_BF16;
    if (bf16 && dense) {
        op->data = volt_tensor_data(t);
        op->borrowed = true;
        return true;
    }
    op->data = volt_dnnl_scratch((size_t)(batch * r * c) * sizeof(uint16_t));
    if (!op->data) return false;
    if (dense) {
        volt_cpu_f32_to_bf16(op->data, volt_tensor_data(t), batch * r * c);
        return true;
    }
    size_t es = volt_dtype_size(t->dtype);
    for (int64_t bi = 0; bi < batch; bi++) {
        const char *m = (const char *)volt_tensor_data(t) +
                        (size_t)(batched ? batch_offset(out, bstrides, bi) : 0) * es;
        for (int64_t l = 0; l < lines; l++) {
            uint16_t *dst = op->data + (bi * lines + l) * len;
            const char *src = m + (size_t)(l * line_stride) * es;
            if (bf16)
                memcpy(dst, src, (size_t)len * sizeof *dst);
            else
                volt_cpu_f32_to_bf16(dst, (const float *)src, len);
        }
    }
    return true;
}

static void operand_free(bf16_operand *op) {
    if (!op->borrowed) volt_dnnl_scratch_free(op->data);
}

/* ---------------------------------------------------------- primitive */

typedef struct {
    dnnl_memory_desc_t src, w, dst, bias;
    double alpha, beta;
    bool has_bias;
} mm_ctx;

static dnnl_status_t make_attr(dnnl_primitive_attr_t attr, double alpha, double beta) {
    dnnl_status_t st = dnnl_success;
    if (alpha != 1.0) {
        float scale = (float)alpha;
        st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale);
    }
    if (st != dnnl_success || beta == 0.0) return st;
    dnnl_post_ops_t ops = NULL;
    st = dnnl_post_ops_create(&ops);
    if (st == dnnl_success) st = dnnl_post_ops_append_sum(ops, (float)beta);
    if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, ops);
    if (ops) dnnl_post_ops_destroy(ops);
    return st;
}

static dnnl_status_t make_matmul(dnnl_primitive_desc_t *pd, dnnl_engine_t engine, void *vctx) {
    mm_ctx *c = vctx;
    dnnl_matmul_desc_t d;
    dnnl_status_t st =
        dnnl_matmul_desc_init(&d, &c->src, &c->w, c->has_bias ? &c->bias : NULL, &c->dst);
    if (st != dnnl_success) return st;
    dnnl_primitive_attr_t attr = NULL;
    st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success) st = make_attr(attr, c->alpha, c->beta);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(pd, &d, attr, engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    const char *impl = NULL;
    if (st == dnnl_success &&
        dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
        impl && strncmp(impl, "ref", 3) == 0)
        st = dnnl_unimplemented; /* the caller destroys *pd */
    return st;
}

static dnnl_data_type_t dnnl_type(const volt_tensor *t) {
    return t->dtype == VOLT_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* The descriptors of the product of a (op a) and b (op b) into out (f32 or
 * bf16), plus bias (a row of m, f32 or bf16) when not NULL. */
static bool fill_ctx(mm_ctx *c, const bf16_operand *a, const bf16_operand *b, int64_t batch,
                     const volt_tensor *out, const volt_tensor *bias) {
    int64_t n = a->r, k = a->c, m = b->c, ba = a->batch;
    if (b->batch == 1 && a->batch == batch && !a->trans) { /* one tall product */
        n *= batch;
        ba = batch = 1;
    }
    int64_t sa[3] = {n * k, a->trans ? 1 : k, a->trans ? n : 1};
    int64_t sb[3] = {k * m, b->trans ? 1 : m, b->trans ? k : 1};
    int64_t sd[3] = {n * m, m, 1};
    c->has_bias = bias != NULL;
    return volt_dnnl_md_strided(&c->src, 3, (int64_t[]){ba, n, k}, sa, dnnl_bf16) &&
           volt_dnnl_md_strided(&c->w, 3, (int64_t[]){b->batch, k, m}, sb, dnnl_bf16) &&
           volt_dnnl_md_strided(&c->dst, 3, (int64_t[]){batch, n, m}, sd, dnnl_type(out)) &&
           (!bias || volt_dnnl_md_strided(&c->bias, 3, (int64_t[]){1, 1, m}, (int64_t[]){m, m, 1},
                                          dnnl_type(bias)));
}

static volt_status run_locked(mm_ctx *c, const bf16_operand *a, const bf16_operand *b,
                              volt_tensor *out, const volt_tensor *bias) {
    volt_dnnl_key key;
    memset(&key, 0, sizeof key);
    key.kind = KIND_MATMUL;
    int64_t alpha_bits, beta_bits;
    memcpy(&alpha_bits, &c->alpha, sizeof alpha_bits);
    memcpy(&beta_bits, &c->beta, sizeof beta_bits);
    int64_t p[] = {c->src.dims[0], c->w.dims[0],     c->dst.dims[0],
                   c->dst.dims[1], c->dst.dims[2],   c->src.dims[2],
                   a->trans,       b->trans,         alpha_bits,
                   beta_bits,      c->dst.data_type, c->has_bias ? c->bias.data_type : 0};
    memcpy(key.p, p, sizeof p);
    /* Products too small to pay for waking the other threads run on fewer
     * (the bf16 kernels are several times faster than f32's: without AMX,
     * about twice). */
    double flops =
        2.0 * (double)(c->dst.dims[0] * c->dst.dims[1] * c->dst.dims[2] * c->src.dims[2]);
    int team = volt_dnnl_limit_threads(volt_cpu_threads_for_flops(
        flops * VOLT_CPU_FLOPS_PER_NS /
        (volt_dnnl_has_amx() ? VOLT_CPU_BF16_FLOPS_PER_NS : 2.0 * VOLT_CPU_FLOPS_PER_NS)));
    bool unsupported = false;
    const volt_dnnl_prim *prim = volt_dnnl_cache_get(&key, make_matmul, c, &unsupported);
    volt_status st = prim ? VOLT_OK : unsupported ? VOLT_ERR_UNSUPPORTED : volt_error_status();
    const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    const dnnl_memory_desc_t *mds[4] = {&c->src, &c->w, &c->dst, &c->bias};
    void *data[4] = {a->data, b->data, volt_tensor_data(out), bias ? volt_tensor_data(bias) : NULL};
    if (prim && !volt_dnnl_execute(prim, bias ? 4 : 3, args, mds, data)) st = volt_error_status();
    volt_dnnl_restore_threads(team);
    return st;
}

volt_status volt_dnnl_matmul_bf16(volt_tensor *out, const volt_tensor *a, const volt_tensor *b,
                                  const volt_tensor *bias, double alpha, double beta) {
    int nd = out->ndim;
    int64_t batch = volt_shape_numel(nd - 2, out->shape);
    if (!volt_dnnl_has_bf16() || volt_tensor_numel(out) == 0 || a->shape[a->ndim - 1] == 0 ||
        batch == 0)
        return VOLT_ERR_UNSUPPORTED;
    bf16_operand oa = {0}, ob = {0};
    volt_status st = convert(a, out, &oa) && convert(b, out, &ob) ? VOLT_OK : volt_error_status();
    mm_ctx c = {.alpha = alpha, .beta = beta};
    if (st == VOLT_OK)
        st = fill_ctx(&c, &oa, &ob, batch, out, bias) ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK) st = volt_dnnl_lock() ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK) {
        st = run_locked(&c, &oa, &ob, out, bias);
        volt_dnnl_unlock();
    }
    operand_free(&oa);
    operand_free(&ob);
    return st;
}
