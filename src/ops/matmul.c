/* matmul.c: matrix products — matmul (torch.matmul semantics: dot, matrix,
 * vector and batched products with broadcast batch dims), bmm, addmm and
 * outer — and their gradients. Operands reach BLAS as they are laid out (a
 * transposed view goes as CblasTrans, no copy); only layouts BLAS cannot
 * read are made contiguous. Kernels: ops/cpu/matmul.c. Under autocast
 * (volt/ops.h) products of f32 operands (or of operands already in the
 * autocast dtype) run in bf16 — f16 under f16 autocast on CUDA — with f32
 * accumulation and return their result in that dtype; f32 operands get f32
 * gradients. On the CPU: oneDNN's bf16 matmul (ops/cpu/dnnl_matmul.c), or
 * the f32 kernel on operands rounded to bf16 where the CPU has no bf16
 * instructions; each operand is converted once and the node keeps the
 * bf16 copies. bf16 operands (precision "bf16-true") run that way too. CUDA
 * tensors go to cuBLASLt (ops/cuda/matmul_lt.c, product_cuda): f32, f64,
 * bf16 and f16 in their own dtype (f32 accumulation); a linear layer's
 * bias added, and its gradient summed, by the GEMM's epilogue. */
#include <limits.h>
#include <string.h>

#include "ops/autocast_impl.h"
#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/dnnl_matmul.h"
#include "ops/cpu/matmul.h"
#include "ops/cuda/cuda_gemm.h"

/* How an operand is seen as a matrix: 1-D operands gain a size-1 dim. */
enum { AS_IS = 0, AS_ROW = 1 /* [k] -> [1, k] */, AS_COL = 2 /* [n] -> [n, 1] */ };

/* A view of t as a matrix (or batch of them); always a new alias. */
static volt_tensor *as_matrix(const volt_tensor *t, int how) {
    if (how == AS_IS) return volt_tensor_alias(t, t->ndim, t->shape, t->strides, t->offset);
    int64_t len = t->shape[0], s = t->strides[0];
    int64_t shape[2] = {how == AS_ROW ? 1 : len, how == AS_ROW ? len : 1};
    int64_t strides[2] = {how == AS_ROW ? len * s : s, how == AS_ROW ? s : 1};
    return volt_tensor_alias(t, 2, shape, strides, t->offset);
}

/* A view with the last two dims swapped. */
static volt_tensor *transposed(const volt_tensor *t) {
    if (!t) return NULL;
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    int nd = t->ndim;
    for (int i = 0; i < nd; i++) {
        int j = i == nd - 2 ? nd - 1 : i == nd - 1 ? nd - 2 : i;
        shape[i] = t->shape[j];
        strides[i] = t->strides[j];
    }
    return volt_tensor_alias(t, nd, shape, strides, t->offset);
}

/* The shape of ma @ mb ([batch..., n, m], batch dims broadcast) into shape;
 * returns its ndim, or -1 with an error naming the user's operands ua, ub. */
static int product_shape(const char *op, const volt_tensor *ma, const volt_tensor *mb,
                         const volt_tensor *ua, const volt_tensor *ub, int64_t *shape) {
    int nba = ma->ndim - 2, nbb = mb->ndim - 2, nb = nba > nbb ? nba : nbb;
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - nba), ib = i - (nb - nbb);
        int64_t sa = ia >= 0 ? ma->shape[ia] : 1, sb = ib >= 0 ? mb->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char ba[96], bb[96];
            volt_error_set(VOLT_ERR_SHAPE,
                           "%s: %s @ %s: batch dimensions cannot be broadcast (%lld vs %lld)", op,
                           volt_shape_only(ua, ba, sizeof ba), volt_shape_only(ub, bb, sizeof bb),
                           (long long)sa, (long long)sb);
            return -1;
        }
        shape[i] = sa == 1 ? sb : sa;
    }
    shape[nb] = ma->shape[ma->ndim - 2];
    shape[nb + 1] = mb->shape[mb->ndim - 1];
    return nb + 2;
}

/* A copy of t that BLAS can read, or NULL when t itself will do. */
static volt_tensor *blas_ready(const volt_tensor *t, bool *failed) {
    bool trans;
    int64_t ld;
    if (volt_cpu_gemm_operand(t, &trans, &ld)) return NULL;
    volt_tensor *c = volt_tensor_new(t->dtype, t->device, t->ndim, t->shape);
    if (c)
        volt_cpu_copy(c, t);
    else
        *failed = true;
    return c;
}

/* *copy = t (f32; NULL or already in low: nothing) converted to low, the
 * 16-bit dtype of autocast, in t's own layout (no autograd); for bf16, a
 * tensor widened from bf16 gets its twin (volt_bf16_copy_kept). false with
 * the error. */
static bool low_copy(const volt_tensor *t, volt_dtype low, volt_tensor **copy) {
    *copy = NULL;
    if (!t || t->dtype != VOLT_F32) return true;
    if (low == VOLT_BF16) return volt_bf16_copy_kept(t, copy);
    *copy = volt_bf16_convert(t, low);
    return *copy != NULL;
}

/* A new f32 copy of t's values rounded to bf16 (t: f32, or bf16 widened). */
static volt_tensor *rounded_f32(const volt_tensor *t) {
    return t->dtype == VOLT_BF16 ? volt_bf16_convert(t, VOLT_F32) : volt_bf16_rounded(t);
}

/* out = alpha * a @ b + beta * out (operands BLAS can read) in f32, or in
 * bf16 with f32 accumulation (f32 or bf16 operands) when bf16: oneDNN's bf16
 * kernel, else the f32 kernel on copies rounded to bf16. With bf16, out may
 * be bf16 (the result is rounded once), and bias (a row of out's width;
 * alpha 1, beta 0) is added to every row before the rounding. */
static volt_status gemm(volt_tensor *out, const volt_tensor *a, const volt_tensor *b, double alpha,
                        double beta, const volt_tensor *bias, bool bf16) {
    if (!bf16) {
        volt_cpu_matmul(out, a, b, alpha, beta);
        return VOLT_OK;
    }
    if (volt_fast_kernels_enabled()) {
        volt_status st = volt_dnnl_matmul_bf16(out, a, b, bias, alpha, beta);
        if (st != VOLT_ERR_UNSUPPORTED) return st;
    }
    volt_tensor *wide = out;
    if (out->dtype == VOLT_BF16)
        wide = beta != 0 ? volt_bf16_convert(out, VOLT_F32)
                         : volt_tensor_new(VOLT_F32, out->device, out->ndim, out->shape);
    volt_tensor *ra = wide ? rounded_f32(a) : NULL, *rb = ra ? rounded_f32(b) : NULL;
    if (rb) {
        if (bias) volt_cpu_copy(wide, bias);
        volt_cpu_matmul(wide, ra, rb, alpha, bias ? 1.0 : beta);
        if (wide != out) volt_bf16_copy_into(out, wide);
    }
    if (wide != out) volt_tensor_free(wide);
    volt_tensor_free(ra);
    volt_tensor_free(rb);
    return rb ? VOLT_OK : volt_error_status();
}

/* ma or mb as cuBLASLt reads it: t itself, or a new copy in *copy (in
 * calc, the dtype the product computes in, under autocast; in t's own
 * layout when t is a transposed or permuted block, so that a transposed
 * gradient is not copied transposed; contiguous where t's layout is not
 * readable). NULL with the error when a copy fails. */
static const volt_tensor *lt_ready(const volt_tensor *t, volt_dtype calc, volt_tensor **copy) {
    *copy = NULL;
    const volt_tensor *r = t;
    VOLT_NO_GRAD {
        if (t->dtype != calc) r = *copy = volt_bf16_convert(t, calc);
        if (r && !volt_cuda_gemm_readable(r)) {
            volt_tensor *c = volt_contiguous(r);
            volt_tensor_free(*copy);
            r = *copy = c;
        }
    }
    return r;
}

/* Whether bias is one contiguous row of m values ([m] or [1, m]). */
static bool is_row(const volt_tensor *bias, int64_t m) {
    return volt_tensor_is_contiguous(bias) && volt_tensor_numel(bias) == m &&
           (bias->ndim == 1 || (bias->ndim == 2 && bias->shape[0] == 1));
}

/* Whether bias is one row of out's columns in out's dtype. */
static bool is_row_bias(const volt_tensor *bias, const volt_tensor *out) {
    return bias->dtype == out->dtype && is_row(bias, out->shape[out->ndim - 1]);
}

/* The smallest dim dim_padding pads: narrower ones are small products,
 * where the copies would cost more than the aligned kernels save. */
#define PAD_MIN_DIM 1024

/* cuBLASLt's tensor-core kernels want each dim of a 16-bit product in
 * multiples of 8: at GPT-2's 50257-token head the product runs at 95-150
 * TFLOP/s, at 50264 at 700-790 (H100, bench/gpu/attention_bench.c
 * what=head). A 2-D product's dim of at least PAD_MIN_DIM that is not a
 * multiple of 8 is padded with zeros to the next one: the operands are
 * copied into buffers that much wider (zeros add nothing to the inner sum),
 * the result is computed that much larger and viewed at its size. */
static int64_t dim_padding(int64_t n) { return n >= PAD_MIN_DIM && n % 8 != 0 ? 8 - n % 8 : 0; }

/* The operands of one CUDA product as cuBLASLt reads them (bf16 copies
 * under autocast, contiguous copies of unreadable layouts, zero-padded
 * copies per dim_padding) and the padding of out's rows (pn) and columns
 * (pm). */
typedef struct {
    const volt_tensor *a, *b, *bias;
    volt_tensor *owned[5];
    int64_t pn, pm;
} lt_operands;

static void operands_free(lt_operands *o) {
    for (int i = 0; i < 5; i++) volt_tensor_free(o->owned[i]);
}

/* Pads a 2-D 16-bit product's dims (dim_padding), when its bias is none or
 * a row (extended with zeros); pm only when pad_cols (the caller takes a
 * result whose rows lie further apart than its width). false with the
 * error. */
static bool pad_dims(lt_operands *o, int nd, const int64_t *shape, bool add, bool pad_cols) {
    volt_dtype d = o->a->dtype;
    if (nd != 2 || (d != VOLT_BF16 && d != VOLT_F16)) return true;
    int64_t pn = dim_padding(shape[0]), pk = dim_padding(o->a->shape[1]);
    int64_t pm = pad_cols ? dim_padding(shape[1]) : 0;
    if ((!pn && !pk && !pm) || (add && !is_row(o->bias, shape[1]))) return true;
    if ((pn || pk) && !(o->a = o->owned[2] = volt_zero_padded(o->a, pn, pk, o->a->dtype)))
        return false;
    if ((pk || pm) && !(o->b = o->owned[3] = volt_zero_padded(o->b, pk, pm, o->b->dtype)))
        return false;
    if (add && pm) {
        volt_tensor *row =
            volt_tensor_alias(o->bias, VOLT_SHAPE(1, shape[1]), NULL, o->bias->offset);
        volt_tensor *z = row ? volt_zero_padded(row, 0, pm, row->dtype) : NULL;
        volt_tensor_free(row);
        if (!z) return false;
        o->bias = o->owned[4] = z;
    }
    o->pn = pn, o->pm = pm;
    return true;
}

/* product() on CUDA into a new out [shape] (nd dims; a view of wider rows
 * when pad_cols and dim_padding pad its columns): see product. When bgrad is not NULL (2-D
 * products), *bgrad receives the row sums of ma (n elements, from the same GEMM's epilogue) or
 * stays NULL where cuBLASLt cannot do that. */
static volt_tensor *product_cuda(const volt_tensor *ma, const volt_tensor *mb, double alpha,
                                 const volt_tensor *bias, double beta, int nd, const int64_t *shape,
                                 volt_dtype calc, volt_dtype dtype, bool pad_cols,
                                 volt_tensor **bgrad) {
    bool add = bias && beta != 0;
    lt_operands o = {.bias = bias};
    o.a = lt_ready(ma, calc, &o.owned[0]);
    o.b = o.a ? lt_ready(mb, calc, &o.owned[1]) : NULL;
    bool ready = o.b && pad_dims(&o, nd, shape, add, pad_cols);
    int64_t big[VOLT_MAX_DIMS];
    memcpy(big, shape, (size_t)nd * sizeof *big);
    big[nd - 2] += o.pn, big[nd - 1] += o.pm;
    volt_tensor *out = ready ? volt_tensor_new(dtype, ma->device, nd, big) : NULL;
    volt_status st = out ? VOLT_ERR_UNSUPPORTED : volt_error_status();
    const volt_tensor *a = o.a, *b = o.b;
    bias = o.bias;
    if (out && add && beta == 1 && nd == 2 && is_row_bias(bias, out))
        st = volt_cuda_gemm(out, a, b, alpha, 0.0, VOLT_GEMM_BIAS, (volt_tensor *)bias);
    if (out && bgrad) {
        *bgrad = volt_tensor_new(out->dtype, out->device, 1, out->shape);
        st = *bgrad ? volt_cuda_gemm(out, a, b, alpha, 0.0, VOLT_GEMM_BGRAD_B, *bgrad)
                    : volt_error_status();
        if (st == VOLT_ERR_UNSUPPORTED) {
            volt_tensor_free(*bgrad);
            *bgrad = NULL;
        } else if (st == VOLT_OK && o.pn) { /* the sums of the real rows */
            volt_tensor *real = volt_tensor_alias(*bgrad, 1, shape, NULL, 0);
            volt_tensor_free(*bgrad);
            *bgrad = real;
            st = real ? VOLT_OK : volt_error_status();
        }
    }
    if (st == VOLT_ERR_UNSUPPORTED) {
        st = add ? volt_cuda_bias_fill(out, bias, beta) : VOLT_OK;
        if (st == VOLT_OK)
            st = volt_cuda_gemm(out, a, b, alpha, add ? 1.0 : 0.0, VOLT_GEMM_PLAIN, NULL);
    }
    operands_free(&o);
    if (st == VOLT_OK && (o.pn || o.pm)) { /* the result at its size */
        volt_tensor *view = volt_tensor_alias(out, nd, shape, out->strides, out->offset);
        volt_tensor_free(out);
        out = view;
        if (!out) st = volt_error_status();
    }
    if (st != VOLT_OK) {
        volt_tensor_free(out);
        out = NULL;
    }
    return out;
}

/* alpha * ma @ mb (+ beta * bias broadcast, when bias is not NULL and beta is
 * not 0) for matrices or batches of them (ndim >= 2, inner dims equal),
 * computed in calc — the operands' dtype, or a 16-bit one (bf16; f16 on
 * CUDA) they are rounded to, with f32 accumulation — into a result of
 * dtype (calc, or f32 for a 16-bit calc). On CUDA a wide result may be a
 * view of wider rows when pad_cols (a forward's; see dim_padding). No
 * autograd. ua, ub: the user's operands, for messages. */
static volt_tensor *product(const char *op, const volt_tensor *ma, const volt_tensor *mb,
                            double alpha, const volt_tensor *bias, double beta,
                            const volt_tensor *ua, const volt_tensor *ub, volt_dtype calc,
                            volt_dtype dtype, bool pad_cols) {
    if (!ma || !mb) return NULL;
    int64_t shape[VOLT_MAX_DIMS];
    int nd = product_shape(op, ma, mb, ua, ub, shape);
    if (nd < 0) return NULL;
    int64_t k = ma->shape[ma->ndim - 1];
    if (shape[nd - 2] > INT_MAX || shape[nd - 1] > INT_MAX || k > INT_MAX) {
        char ba[96], bb[96];
        volt_error_set(VOLT_ERR_UNSUPPORTED, "%s: %s @ %s: a dimension exceeds BLAS's int range",
                       op, volt_shape_only(ua, ba, sizeof ba), volt_shape_only(ub, bb, sizeof bb));
        return NULL;
    }
    if (ma->device.type == VOLT_CUDA)
        return product_cuda(ma, mb, alpha, bias, beta, nd, shape, calc, dtype, pad_cols, NULL);
    bool bf16 = calc == VOLT_BF16, failed = false;
    volt_tensor *ca = blas_ready(ma, &failed), *cb = blas_ready(mb, &failed);
    volt_tensor *out = failed ? NULL : volt_tensor_new(dtype, ma->device, nd, shape);
    if (out) {
        bool add = bias && beta != 0;
        /* A linear layer's bias (one row, beta 1): the GEMM adds it itself
         * (in bf16 products, f32 and bf16 biases; alpha 1). */
        bool row = add && beta == 1 && nd == 2 && is_row(bias, shape[1]) &&
                   (bf16 ? alpha == 1 && (bias->dtype == VOLT_F32 || bias->dtype == VOLT_BF16)
                         : out->dtype == VOLT_F32 && bias->dtype == VOLT_F32);
        if (row && !bf16) {
            volt_cpu_matmul_bias(out, ca ? ca : ma, cb ? cb : mb, bias, alpha);
        } else {
            if (add && !row) volt_cpu_copy(out, bias);
            if (gemm(out, ca ? ca : ma, cb ? cb : mb, alpha, add && !row ? beta : 0.0,
                     row ? bias : NULL, bf16) != VOLT_OK) {
                volt_tensor_free(out);
                out = NULL;
            }
        }
    }
    volt_tensor_free(ca);
    volt_tensor_free(cb);
    return out;
}

/* t ([..., r, c]) without the size-1 dim a 1-D operand gained. */
static volt_tensor *drop_added_dim(volt_tensor *t, int how) {
    if (!t || how == AS_IS) return t;
    int64_t shape[VOLT_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < t->ndim; i++)
        if (i != t->ndim - (how == AS_ROW ? 2 : 1)) shape[n++] = t->shape[i];
    return volt_reshape(t, n, shape);
}

/* ------------------------------------------------------------ gradient */

/* Node layout: iargs[0], iargs[1] = how a and b are seen as matrices;
 * iargs[2] = index of a among the inputs (1 when a bias comes first);
 * iargs[3] = 1 when the forward ran in a 16-bit dtype its operands were
 * rounded to (autocast, or bf16 operands on the CPU), iargs[4] = that
 * dtype (so do the gradients);
 * args[0] = alpha, args[1] = beta; saved: a (slot 0), b (slot 1).
 * grad a = alpha g @ b^T, grad b = alpha a^T @ g, with transposed views; the
 * engine sums batch dims that were broadcast back to each input's shape. */
/* Whether a node input (a bias) is one row of m: [m] or [1, m]. */
static bool row_input(const volt_node_input *in, int64_t m) {
    return (in->ndim == 1 && in->shape[0] == m) ||
           (in->ndim == 2 && in->shape[0] == 1 && in->shape[1] == m);
}

/* Whether t has the input's shape. */
static bool input_shaped(const volt_tensor *t, const volt_node_input *in) {
    if (t->ndim != in->ndim) return false;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != in->shape[i]) return false;
    return true;
}

/* The dtype the node's products compute in: its 16-bit dtype, or the
 * saved operand a's own. */
static volt_dtype calc_of(const volt_node *node, const volt_tensor *a) {
    return node->iargs[3] ? (volt_dtype)node->iargs[4] : a->dtype;
}

/* The dtype of input i's gradient, the product x @ y, as made: x's own
 * for a product in its operands' dtype; for one in a 16-bit dtype, that
 * dtype when input i has it (a bf16 activation) and the product has its
 * element count (a gradient still to be summed over broadcast dims, as a
 * bias's, is left to the engine, which sums in f32 first), else f32 (an
 * f32 parameter's). */
static volt_dtype grad_dtype(const volt_node *node, int i, const volt_tensor *x,
                             const volt_tensor *y) {
    if (!x || !y) return VOLT_F32;
    if (!node->iargs[3]) return x->dtype;
    const volt_node_input *in = &node->inputs[i];
    if (in->dtype != (volt_dtype)node->iargs[4]) return VOLT_F32;
    int nx = x->ndim, ny = y->ndim, nd = nx > ny ? nx : ny;
    int64_t numel = x->shape[nx - 2] * y->shape[ny - 1];
    for (int d = 3; d <= nd; d++) {
        int64_t sx = d <= nx ? x->shape[nx - d] : 1, sy = d <= ny ? y->shape[ny - d] : 1;
        numel *= sx > sy ? sx : sy;
    }
    return numel == volt_shape_numel(in->ndim, in->shape) ? in->dtype : VOLT_F32;
}

/* The backward of a 16-bit CUDA product whose result's columns m (a GPT
 * head's vocabulary) dim_padding pads, b one matrix: g is rounded to that
 * dtype once into a buffer of m + pm columns, zeros past m, and both products
 * read that buffer as it is (every dim a multiple of 8) instead of each
 * copying a zero-padded bf16 g of its own; the weight gradient is the
 * first m rows or columns of a padded one. Sets *done where it applies. */
static volt_status padded_backward(volt_node *node, const volt_tensor *ma, const volt_tensor *mb,
                                   const volt_tensor *gf, int nd, const int64_t *shape,
                                   volt_tensor **grads, bool *done) {
    int ia = (int)node->iargs[2];
    int64_t m = shape[nd - 1], pm = dim_padding(m), M = m + pm, k = ma->shape[ma->ndim - 1];
    *done = node->iargs[3] != 0 && gf->device.type == VOLT_CUDA && mb->ndim == 2 && pm > 0 &&
            node->iargs[0] == AS_IS && node->iargs[1] == AS_IS;
    if (!*done) return VOLT_OK;
    double alpha = node->args[0];
    volt_dtype calc = calc_of(node, ma);
    int64_t rows = volt_tensor_numel(gf) / m, big[VOLT_MAX_DIMS];
    memcpy(big, shape, (size_t)nd * sizeof *big);
    big[nd - 1] = M;
    volt_tensor *g2 = volt_reshape(gf, VOLT_SHAPE(rows, m));
    volt_tensor *gp = g2 ? volt_zero_padded(g2, 0, pm, calc) : NULL; /* [rows, M] */
    volt_tensor_free(g2);
    volt_status st = gp ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK && node->inputs[ia].needs) { /* [..., n, M] @ [M, k] */
        volt_tensor *bt = transposed(mb), *btp = bt ? volt_zero_padded(bt, pm, 0, bt->dtype) : NULL;
        volt_tensor *gn = btp ? volt_tensor_alias(gp, nd, big, NULL, 0) : NULL;
        grads[ia] = gn ? product(node->name, gn, btp, alpha, NULL, 0, gn, btp, calc,
                                 grad_dtype(node, ia, gn, btp), false)
                       : NULL;
        volt_tensor_free(bt), volt_tensor_free(btp), volt_tensor_free(gn);
        if (!grads[ia]) st = volt_error_status();
    }
    if (st == VOLT_OK && node->inputs[ia + 1].needs) {
        volt_tensor *a2 = volt_reshape(ma, VOLT_SHAPE(rows, k)), *gb = NULL;
        if (mb->strides[0] == 1 && mb->shape[0] > 1) { /* a transposed weight: [M, k], transposed */
            volt_tensor *gt = a2 ? transposed(gp) : NULL;
            volt_tensor *gbt = gt ? product(node->name, gt, a2, alpha, NULL, 0, gt, a2, calc,
                                            grad_dtype(node, ia + 1, gt, a2), false)
                                  : NULL;
            volt_tensor *real =
                gbt ? volt_tensor_alias(gbt, VOLT_SHAPE(m, k), gbt->strides, 0) : NULL;
            gb = transposed(real);
            volt_tensor_free(gt), volt_tensor_free(gbt), volt_tensor_free(real);
        } else { /* [k, M] */
            volt_tensor *at = a2 ? transposed(a2) : NULL;
            volt_tensor *wide = at ? product(node->name, at, gp, alpha, NULL, 0, at, gp, calc,
                                             grad_dtype(node, ia + 1, at, gp), false)
                                   : NULL;
            gb = wide ? volt_tensor_alias(wide, VOLT_SHAPE(k, m), wide->strides, 0) : NULL;
            volt_tensor_free(at), volt_tensor_free(wide);
        }
        volt_tensor_free(a2);
        grads[ia + 1] = gb;
        if (!gb) st = volt_error_status();
    }
    volt_tensor_free(gp);
    return st;
}

/* On the CPU in f32, the backward of a product with a column-major b (a
 * Linear's weight, read transposed) when both operands need gradients:
 * g @ b^T and the weight's (g^T a, handed back transposed as below) through
 * volt_cpu_matmul_pair, one parallel region for both where they split
 * across threads. Sets *done where it applies. */
static volt_status cpu_pair_backward(volt_node *node, const volt_tensor *ma, const volt_tensor *mb,
                                     const volt_tensor *gf, int nd, const int64_t *shape,
                                     bool b_colmajor, volt_tensor **grads, bool *done) {
    int ia = (int)node->iargs[2];
    *done = false;
    if (!b_colmajor || node->iargs[3] || gf->device.type != VOLT_CPU || gf->dtype != VOLT_F32 ||
        ma->dtype != VOLT_F32 || mb->dtype != VOLT_F32 || !node->inputs[ia].needs ||
        !node->inputs[ia + 1].needs)
        return VOLT_OK;
    int64_t k = ma->shape[ma->ndim - 1], m = shape[nd - 1];
    int64_t rows = volt_tensor_numel(ma) / (k ? k : 1);
    volt_tensor *g2 = volt_reshape(gf, VOLT_SHAPE(rows, m)),
                *a2 = volt_reshape(ma, VOLT_SHAPE(rows, k));
    volt_tensor *gt = transposed(g2), *bt = transposed(mb);
    bool trans;
    int64_t ld;
    bool readable = g2 && a2 && gt && bt && volt_cpu_gemm_operand(g2, &trans, &ld) &&
                    volt_cpu_gemm_operand(a2, &trans, &ld) &&
                    volt_cpu_gemm_operand(gt, &trans, &ld) &&
                    volt_cpu_gemm_operand(bt, &trans, &ld);
    volt_tensor *dx = readable ? volt_tensor_new(VOLT_F32, gf->device, VOLT_SHAPE(rows, k)) : NULL;
    volt_tensor *dwt = dx ? volt_tensor_new(VOLT_F32, gf->device, VOLT_SHAPE(m, k)) : NULL;
    volt_status st = VOLT_OK;
    if (dwt) {
        volt_cpu_matmul_pair(dx, g2, bt, dwt, gt, a2, node->args[0]);
        grads[ia] = drop_added_dim(volt_reshape(dx, ma->ndim, ma->shape), (int)node->iargs[0]);
        grads[ia + 1] = drop_added_dim(transposed(dwt), (int)node->iargs[1]);
        if (!grads[ia] || !grads[ia + 1]) st = volt_error_status();
        *done = true;
    } else if (readable) {
        st = volt_error_status();
        *done = true;
    }
    volt_tensor_free(g2), volt_tensor_free(a2), volt_tensor_free(gt), volt_tensor_free(bt);
    volt_tensor_free(dx), volt_tensor_free(dwt);
    return st;
}

static volt_status matmul_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("matmul_backward");
    int how_a = (int)node->iargs[0], how_b = (int)node->iargs[1], ia = (int)node->iargs[2];
    double alpha = node->args[0], beta = node->args[1];
    bool low = node->iargs[3] != 0;
    volt_tensor *a = volt_node_saved(node, 0), *b = volt_node_saved(node, 1);
    volt_dtype calc = calc_of(node, a);
    if (ia == 1 && node->inputs[0].needs && beta != 0)
        grads[0] = beta == 1 ? g : volt_mul_scalar(g, beta);
    volt_tensor *ma = as_matrix(a, how_a), *mb = as_matrix(b, how_b);
    int64_t shape[VOLT_MAX_DIMS];
    int nd = ma && mb ? product_shape(node->name, ma, mb, a, b, shape) : -1;
    volt_tensor *gf = nd > 0 ? volt_reshape(g, nd, shape) : NULL;
    bool done = false;
    volt_status padded = gf ? padded_backward(node, ma, mb, gf, nd, shape, grads, &done) : VOLT_OK;
    if (done || padded != VOLT_OK) {
        volt_tensor_free(ma);
        volt_tensor_free(mb);
        return padded;
    }
    /* In 16 bits the saved operands are in that dtype already (product_op),
     * as is the gradient (the result's dtype) unless it came in f32: then it
     * is converted once for both products. */
    volt_tensor *gc = NULL;
    if (gf && low && !low_copy(gf, calc, &gc)) gf = NULL;
    if (gc) gf = gc;
    volt_status st = gf ? VOLT_OK : volt_error_status();
    /* A column-major b (a transposed weight, as in Linear) gets its gradient
     * in the same layout: (g^T a) computed contiguous and handed back
     * transposed, so that the transpose's own backward yields a contiguous
     * gradient the engine can keep without a copy. Same arithmetic, one gemm. */
    bool b_colmajor = mb && mb->ndim == 2 && mb->strides[0] == 1 && mb->shape[0] > 1 &&
                      mb->shape[1] > 1 && mb->strides[1] >= mb->shape[0];
    if (st == VOLT_OK)
        st = cpu_pair_backward(node, ma, mb, gf, nd, shape, b_colmajor, grads, &done);
    if (st == VOLT_OK && !done && node->inputs[ia].needs) {
        volt_tensor *bt = transposed(mb);
        grads[ia] = drop_added_dim(product(node->name, gf, bt, alpha, NULL, 0, gf, bt, calc,
                                           grad_dtype(node, ia, gf, bt), false),
                                   how_a);
        volt_tensor_free(bt);
        if (!grads[ia]) st = volt_error_status();
    }
    if (st == VOLT_OK && !done && node->inputs[ia + 1].needs && b_colmajor) {
        int64_t k = ma->shape[ma->ndim - 1], m = shape[nd - 1];
        int64_t rows = volt_tensor_numel(ma) / (k ? k : 1);
        volt_tensor *g2 = volt_reshape(gf, VOLT_SHAPE(rows, m));
        volt_tensor *gt = transposed(g2);
        volt_tensor *a2 = volt_reshape(ma, VOLT_SHAPE(rows, k));
        /* On CUDA, a row bias's gradient (the sums of g's columns, in f32
         * under autocast, like the weight's) comes from the same GEMM's
         * epilogue where cuBLASLt can do it. */
        volt_tensor *bgrad = NULL;
        bool fused = ia == 1 && node->inputs[0].needs && beta == 1 && alpha == 1 && gt && a2 &&
                     gt->device.type == VOLT_CUDA && row_input(&node->inputs[0], m);
        volt_tensor *gbt = fused ? product_cuda(gt, a2, 1.0, NULL, 0, VOLT_SHAPE(m, k), calc,
                                                grad_dtype(node, ia + 1, gt, a2), false, &bgrad)
                                 : product(node->name, gt, a2, alpha, NULL, 0, gt, a2, calc,
                                           grad_dtype(node, ia + 1, gt, a2), false);
        if (bgrad) grads[0] = volt_reshape(bgrad, node->inputs[0].ndim, node->inputs[0].shape);
        volt_tensor_free(gt);
        volt_tensor *gb = gbt ? transposed(gbt) : NULL;
        grads[ia + 1] = drop_added_dim(gb, how_b);
        if (!grads[ia + 1]) st = volt_error_status();
    } else if (st == VOLT_OK && !done && node->inputs[ia + 1].needs) {
        volt_tensor *gb;
        if (mb->ndim == 2 && ma->ndim > 2) {
            /* b shared by every batch: one product over the stacked batches,
             * [k, batch * n] @ [batch * n, m], instead of a sum of them. */
            int64_t k = ma->shape[ma->ndim - 1], m = shape[nd - 1];
            int64_t rows = volt_tensor_numel(ma) / (k ? k : 1);
            volt_tensor *a2 = volt_reshape(ma, VOLT_SHAPE(rows, k));
            volt_tensor *at = transposed(a2);
            volt_tensor *g2 = volt_reshape(gf, VOLT_SHAPE(rows, m));
            gb = product(node->name, at, g2, alpha, NULL, 0, at, gf, calc,
                         grad_dtype(node, ia + 1, at, g2), false);
            volt_tensor_free(at);
        } else {
            volt_tensor *at = transposed(ma);
            gb = product(node->name, at, gf, alpha, NULL, 0, at, gf, calc,
                         grad_dtype(node, ia + 1, at, gf), false);
            volt_tensor_free(at);
        }
        grads[ia + 1] = drop_added_dim(gb, how_b);
        if (!grads[ia + 1]) st = volt_error_status();
    }
    volt_tensor_free(ma);
    volt_tensor_free(mb);
    /* A gradient of a bf16 input still in f32 here (the products above
     * write theirs in bf16; a bias gets g itself, or g scaled) is rounded to
     * bf16 in the layout it has (the engine's conversion would make it
     * contiguous on a slower path); one still to be summed over broadcast
     * dims is left to the engine, which sums in f32 first. */
    for (int i = 0; st == VOLT_OK && i < node->n_inputs; i++) {
        const volt_node_input *in = &node->inputs[i];
        if (!grads[i] || in->dtype != VOLT_BF16 || grads[i]->dtype != VOLT_F32 ||
            grads[i]->device.type != VOLT_CPU || !input_shaped(grads[i], in))
            continue;
        volt_tensor *r = volt_bf16_convert(grads[i], VOLT_BF16);
        if (!r) st = volt_error_status();
        if (grads[i] != g) volt_tensor_free(grads[i]);
        grads[i] = r;
    }
    return st;
}

/* ------------------------------------------------------------- forward */

/* Checks two operands' devices and dtypes (same floating dtype, f32/f64). */
static bool check_operands(const char *op, const volt_tensor *a, const volt_tensor *b,
                           const char *sep) {
    if (!volt_check_same_device(op, a, b) ||
        (a->device.type != VOLT_CUDA && !volt_check_device_supported(op, a)))
        return false;
    char ba[96], bb[96];
    volt_shape_str(a, ba, sizeof ba);
    volt_shape_str(b, bb, sizeof bb);
    volt_dtype low = volt_autocast_dtype(a->device); /* mixing f32 and it is fine then */
    if (a->dtype != b->dtype && !(volt_autocast_casts(a, low) && volt_autocast_casts(b, low))) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: %s %s %s: dtypes differ (%s vs %s)", op, ba, sep, bb,
                       volt_dtype_name(a->dtype), volt_dtype_name(b->dtype));
        return false;
    }
    if (!volt_dtype_is_float(a->dtype)) {
        volt_error_set(
            VOLT_ERR_DTYPE,
            "%s: %s %s %s: integer and bool products are not supported (f32 and f64 are)", op, ba,
            sep, bb);
        return false;
    }
    bool cuda = a->device.type == VOLT_CUDA;
    if (a->dtype != VOLT_F32 && a->dtype != VOLT_F64 && a->dtype != VOLT_BF16 &&
        !(cuda && a->dtype == VOLT_F16)) {
        volt_error_set(VOLT_ERR_DTYPE, "%s: %s %s %s: %s is not supported (f32, f64, bf16%s are)",
                       op, ba, sep, bb, volt_dtype_name(a->dtype), cuda ? ", f16" : "");
        return false;
    }
    return true;
}

static bool check_inner(const char *op, const volt_tensor *a, const volt_tensor *b, int64_t ka,
                        int64_t kb) {
    if (ka == kb) return true;
    char ba[96], bb[96];
    volt_error_set(VOLT_ERR_SHAPE, "%s: %s @ %s: inner dimensions differ (%lld vs %lld)", op,
                   volt_shape_only(a, ba, sizeof ba), volt_shape_only(b, bb, sizeof bb),
                   (long long)ka, (long long)kb);
    return false;
}

/* Runs a validated product and records its node. Under autocast (f32
 * operands, or operands already in the autocast dtype) and for bf16
 * operands on the CPU (precision "bf16-true") the product computes in that
 * 16-bit dtype with f32 accumulation and returns its result in it: each
 * f32 operand is converted once, here, in its own layout, and the node
 * saves the copies, so the backward converts nothing more (PyTorch's
 * autocast also keeps them). On the CPU the bias is added in f32 before the
 * result is rounded; on CUDA it is converted too, for the GEMM's epilogue.
 * The backward runs the same way. */
static volt_tensor *product_op(const char *op, const volt_tensor *bias, const volt_tensor *a,
                               const volt_tensor *b, int how_a, int how_b, double alpha,
                               double beta) {
    VOLT_TRACE_OP(op);
    bool cuda = a->device.type == VOLT_CUDA;
    volt_dtype low = volt_autocast_dtype(a->device);
    bool cast = volt_autocast_casts(a, low) && volt_autocast_casts(b, low) &&
                volt_autocast_casts(bias, low);
    if (!cast && a->dtype == VOLT_BF16 && !cuda) cast = true, low = VOLT_BF16;
    volt_tensor *ca = NULL, *cb = NULL, *cbias = NULL;
    if (cast && (!low_copy(a, low, &ca) || !low_copy(b, low, &cb) ||
                 (cuda && !low_copy(bias, low, &cbias)))) {
        volt_tensor_free(ca);
        volt_tensor_free(cb);
        return NULL;
    }
    const volt_tensor *pa = ca ? ca : a, *pb = cb ? cb : b;
    volt_dtype calc = cast ? low : a->dtype;
    volt_tensor *ma = as_matrix(pa, how_a), *mb = as_matrix(pb, how_b);
    volt_tensor *full =
        product(op, ma, mb, alpha, cbias ? cbias : bias, beta, a, b, calc, calc, true);
    volt_tensor_free(ma);
    volt_tensor_free(mb);
    volt_tensor_free(cbias);
    if (!full) {
        volt_tensor_free(ca);
        volt_tensor_free(cb);
        return NULL;
    }
    /* Drop the dims that 1-D operands of matmul gained (outer keeps both);
     * full's strides stay (a view of wider rows, see dim_padding). */
    int64_t shape[VOLT_MAX_DIMS], strides[VOLT_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < full->ndim; i++) {
        if (i == full->ndim - 2 && how_a == AS_ROW) continue;
        if (i == full->ndim - 1 && how_b == AS_COL) continue;
        strides[n] = full->strides[i];
        shape[n++] = full->shape[i];
    }
    volt_tensor *out = volt_tensor_alias(full, n, shape, strides, full->offset);
    volt_tensor_free(full);
    const volt_tensor *inputs[3] = {bias, a, b};
    const volt_tensor *const *in = bias ? inputs : inputs + 1;
    int n_in = bias ? 3 : 2;
    if (out && volt_autograd_should_record(n_in, in)) {
        volt_node *node = volt_autograd_record(op, matmul_backward, out, n_in, in);
        if (node) {
            node->iargs[0] = how_a;
            node->iargs[1] = how_b;
            node->iargs[2] = bias ? 1 : 0;
            node->iargs[3] = cast;
            node->iargs[4] = calc;
            node->args[0] = alpha;
            node->args[1] = beta;
            volt_node_save(node, pa);
            volt_node_save(node, pb);
        }
    }
    volt_tensor_free(ca);
    volt_tensor_free(cb);
    return out;
}

volt_tensor *volt_matmul(const volt_tensor *a, const volt_tensor *b) {
    if (!volt_check_not_null("matmul", a, "a") || !volt_check_not_null("matmul", b, "b"))
        return NULL;
    char ba[96], bb[96];
    if (a->ndim == 0 || b->ndim == 0) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "matmul: %s @ %s: 0-d operand (both need at least 1 dimension)",
                       volt_shape_only(a, ba, sizeof ba), volt_shape_only(b, bb, sizeof bb));
        return NULL;
    }
    int64_t ka = a->shape[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    if (!check_inner("matmul", a, b, ka, kb) || !check_operands("matmul", a, b, "@")) return NULL;
    return product_op("matmul", NULL, a, b, a->ndim == 1 ? AS_ROW : AS_IS,
                      b->ndim == 1 ? AS_COL : AS_IS, 1.0, 0.0);
}

volt_tensor *volt_bmm(const volt_tensor *a, const volt_tensor *b) {
    if (!volt_check_not_null("bmm", a, "a") || !volt_check_not_null("bmm", b, "b")) return NULL;
    char ba[96], bb[96];
    volt_shape_only(a, ba, sizeof ba);
    volt_shape_only(b, bb, sizeof bb);
    if (a->ndim != 3 || b->ndim != 3) {
        volt_error_set(VOLT_ERR_SHAPE, "bmm: %s @ %s: expected 3-D tensors [B, n, k] and [B, k, m]",
                       ba, bb);
        return NULL;
    }
    if (a->shape[0] != b->shape[0]) {
        volt_error_set(VOLT_ERR_SHAPE, "bmm: %s @ %s: batch sizes differ (%lld vs %lld)", ba, bb,
                       (long long)a->shape[0], (long long)b->shape[0]);
        return NULL;
    }
    if (!check_inner("bmm", a, b, a->shape[2], b->shape[1]) || !check_operands("bmm", a, b, "@"))
        return NULL;
    return product_op("bmm", NULL, a, b, AS_IS, AS_IS, 1.0, 0.0);
}

volt_tensor *volt_addmm(const volt_tensor *bias, const volt_tensor *a, const volt_tensor *b,
                        double beta, double alpha) {
    if (!volt_check_not_null("addmm", bias, "bias") || !volt_check_not_null("addmm", a, "a") ||
        !volt_check_not_null("addmm", b, "b"))
        return NULL;
    char ba[96], bb[96], bc[96];
    volt_shape_only(a, ba, sizeof ba);
    volt_shape_only(b, bb, sizeof bb);
    if (a->ndim != 2 || b->ndim != 2) {
        volt_error_set(VOLT_ERR_SHAPE, "addmm: %s @ %s: expected 2-D matrices", ba, bb);
        return NULL;
    }
    if (!check_inner("addmm", a, b, a->shape[1], b->shape[0]) ||
        !check_operands("addmm", a, b, "@") || !check_operands("addmm", bias, a, "and"))
        return NULL;
    int64_t n = a->shape[0], m = b->shape[1];
    bool fits = bias->ndim <= 2;
    for (int i = 0; fits && i < bias->ndim; i++) {
        int64_t want = i == bias->ndim - 1 ? m : n, have = bias->shape[i];
        fits = have == want || have == 1;
    }
    if (!fits) {
        volt_error_set(VOLT_ERR_SHAPE,
                       "addmm: bias %s cannot be broadcast to [%lld,%lld] (%s @ %s)",
                       volt_shape_only(bias, bc, sizeof bc), (long long)n, (long long)m, ba, bb);
        return NULL;
    }
    return product_op("addmm", bias, a, b, AS_IS, AS_IS, alpha, beta);
}

volt_tensor *volt_outer(const volt_tensor *a, const volt_tensor *b) {
    if (!volt_check_not_null("outer", a, "a") || !volt_check_not_null("outer", b, "b")) return NULL;
    if (a->ndim != 1 || b->ndim != 1) {
        char ba[96], bb[96];
        volt_error_set(VOLT_ERR_SHAPE, "outer: %s and %s: expected 1-D tensors",
                       volt_shape_only(a, ba, sizeof ba), volt_shape_only(b, bb, sizeof bb));
        return NULL;
    }
    if (!check_operands("outer", a, b, "and")) return NULL;
    return product_op("outer", NULL, a, b, AS_COL, AS_ROW, 1.0, 0.0);
}
