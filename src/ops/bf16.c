/* bf16.c: the general rule by which floating ops take bf16 tensors
 * (precision "bf16-true"): the bf16 operands are widened to f32 (exact), the
 * op runs its f32 kernel, and its floating result is rounded back to bf16 (to
 * nearest even). Both conversions are differentiable (their backward converts
 * the gradient the other way), so the backward runs the f32 backward on the
 * widened gradient and rounds the input gradients to bf16: each op's result
 * and gradients are the f32 op's, rounded once, as PyTorch's CPU kernels
 * compute bf16 (in f32 "opmath"). The conversions of contiguous tensors run
 * copy.c's vectorised loops, split across threads as the cost model says;
 * the f32 temporaries are freed at once (the graph keeps what it needs). A CUDA
 * tensor converts with the device's own kernel (volt_cuda_copy). */

#include "ops/autocast_impl.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/parallel.h"
#include "ops/cuda/cuda_ops.h"

#define BLOCK 4096

static void cpu_bf16_to_f32(float *dst, const uint16_t *src, int64_t n) {
    int64_t blocks = (n + BLOCK - 1) / BLOCK;
    int threads = volt_cpu_threads_for_bytes(6.0 * (double)n);
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t i0 = b * BLOCK, len = n - i0 < BLOCK ? n - i0 : BLOCK;
        volt_cpu_bf16_to_f32_run(dst + i0, src + i0, len);
    }
}

/* Whether dst = src converted can take the fast loops: f32 <-> bf16, both
 * contiguous, the same element count. */
static bool fast_pair(const volt_tensor *dst, const volt_tensor *src) {
    bool pair = (dst->dtype == VOLT_F32 && src->dtype == VOLT_BF16) ||
                (dst->dtype == VOLT_BF16 && src->dtype == VOLT_F32);
    return pair && dst->device.type == VOLT_CPU && src->device.type == VOLT_CPU &&
           volt_tensor_is_contiguous(dst) && volt_tensor_is_contiguous(src) &&
           volt_tensor_numel(dst) == volt_tensor_numel(src);
}

void volt_bf16_copy_into(volt_tensor *dst, const volt_tensor *src) {
    if (!fast_pair(dst, src)) {
        volt_cpu_copy(dst, src);
        return;
    }
    int64_t n = volt_tensor_numel(src);
    if (dst->dtype == VOLT_F32)
        cpu_bf16_to_f32(volt_tensor_data(dst), volt_tensor_data(src), n);
    else
        volt_cpu_f32_to_bf16(volt_tensor_data(dst), volt_tensor_data(src), n);
}

/* Whether t's elements fill a block of memory without gaps in some order of
 * its dims (a transposed or permuted contiguous tensor), all strides > 0. */
static bool dense_permuted(const volt_tensor *t) {
    int64_t span = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 1) continue;
        if (t->strides[i] <= 0) return false;
        span += (t->shape[i] - 1) * t->strides[i];
    }
    return span == volt_tensor_numel(t);
}

/* dst = src converted, both contiguous on one device: copy.c's loops on the
 * CPU, the device's own conversion kernel on CUDA. */
static volt_status convert_into(volt_tensor *dst, const volt_tensor *src) {
    if (src->device.type != VOLT_CPU) return volt_cuda_copy("to_dtype", dst, src);
    volt_bf16_copy_into(dst, src);
    return VOLT_OK;
}

/* Whether dtype is a 16-bit float volt converts to and from f32 on device:
 * bf16 anywhere, f16 on CUDA. */
static bool is_half(volt_dtype dtype, volt_device device) {
    return dtype == VOLT_BF16 || (dtype == VOLT_F16 && device.type == VOLT_CUDA);
}

volt_tensor *volt_bf16_convert(const volt_tensor *t, volt_dtype dtype) {
    bool pair = (t->dtype == VOLT_F32 && is_half(dtype, t->device)) ||
                (is_half(t->dtype, t->device) && dtype == VOLT_F32);
    if (pair && t->ndim > 0 && !volt_tensor_is_contiguous(t) && dense_permuted(t)) {
        /* Same layout in the new dtype (a transposed weight or gradient stays
         * a transposed view, which the products read without a copy). */
        int64_t n = volt_tensor_numel(t);
        volt_tensor *flat = volt_tensor_new(dtype, t->device, 1, &n);
        volt_tensor *src = flat ? volt_tensor_alias(t, 1, &n, NULL, t->offset) : NULL;
        volt_tensor *out = src ? volt_tensor_alias(flat, t->ndim, t->shape, t->strides, 0) : NULL;
        if (out && convert_into(flat, src) != VOLT_OK) {
            volt_tensor_free(out);
            out = NULL;
        }
        volt_tensor_free(src);
        volt_tensor_free(flat);
        return out;
    }
    volt_tensor *out = volt_tensor_new(dtype, t->device, t->ndim, t->shape);
    if (out && t->device.type != VOLT_CPU) { /* the device's own conversion kernel */
        if (volt_cuda_copy("to_dtype", out, t) != VOLT_OK) {
            volt_tensor_free(out);
            return NULL;
        }
    } else if (out) {
        volt_bf16_copy_into(out, t);
    }
    if (out) volt_bf16_note_twin(out, t);
    return out;
}

/* Whether t is contiguous from the start of its storage and fills it. */
static bool whole_storage(const volt_tensor *t) {
    return t->offset == 0 && volt_tensor_is_contiguous(t) &&
           volt_storage_nbytes(t->storage) ==
               (size_t)volt_tensor_numel(t) * volt_dtype_size(t->dtype);
}

void volt_bf16_note_twin(const volt_tensor *wide, const volt_tensor *narrow) {
    if (wide->dtype == VOLT_F32 && narrow->dtype == VOLT_BF16 &&
        volt_tensor_numel(wide) == volt_tensor_numel(narrow) && whole_storage(wide) &&
        whole_storage(narrow))
        volt_storage_set_twin(wide->storage, narrow->storage);
}

bool volt_bf16_copy_kept(const volt_tensor *t, volt_tensor **out) {
    *out = NULL;
    volt_storage *twin = t->dtype == VOLT_F32 ? volt_storage_twin(t->storage) : NULL;
    if (twin) { /* t was widened from bf16: those very values */
        *out = volt_tensor_from_storage(twin, VOLT_BF16, t->ndim, t->shape, t->strides, t->offset);
        if (*out) (*out)->device = t->device;
        return *out != NULL;
    }
    if (t->dtype != VOLT_F32 || !(volt_tensor_is_contiguous(t) || dense_permuted(t))) return true;
    *out = volt_bf16_convert(t, VOLT_BF16);
    return *out != NULL;
}

/* The gradient converted to the input's dtype (node->iargs[0]). */
static volt_status convert_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    volt_dtype d = (volt_dtype)node->iargs[0];
    grads[0] = g->dtype == d ? g : volt_bf16_convert(g, d);
    return grads[0] ? VOLT_OK : volt_error_status();
}

/* t (f32 or bf16) converted to dtype, recorded like volt_to_dtype. */
static volt_tensor *convert_recorded(const volt_tensor *t, volt_dtype dtype) {
    volt_tensor *out = volt_bf16_convert(t, dtype);
    if (out && volt_autograd_should_record(1, &t)) {
        volt_node *node = volt_autograd_record("to_dtype", convert_backward, out, 1, &t);
        if (node) node->iargs[0] = t->dtype;
    }
    return out;
}

const volt_tensor *volt_bf16_widen(const volt_tensor *t) {
    return t && t->dtype == VOLT_BF16 ? convert_recorded(t, VOLT_F32) : t;
}

void volt_bf16_drop(const volt_tensor *widened, const volt_tensor *t) {
    if (widened && widened != t) volt_tensor_free((volt_tensor *)widened);
}

bool volt_widen_operands(volt_bf16_operands *o, int n, const volt_tensor *const *ts,
                         volt_dtype narrow) {
    VOLT_ASSERT(n >= 0 && n <= 4);
    o->n = n;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        o->in[i] = ts[i];
        bool widen = ok && ts[i] && ts[i]->dtype == narrow && narrow != VOLT_F32;
        o->w[i] = widen ? convert_recorded(ts[i], VOLT_F32) : ok ? ts[i] : NULL;
        ok = ok && (o->w[i] || !ts[i]);
    }
    if (!ok) volt_bf16_release(o);
    return ok;
}

bool volt_bf16_widen_operands(volt_bf16_operands *o, int n, const volt_tensor *const *ts) {
    return volt_widen_operands(o, n, ts, VOLT_BF16);
}

void volt_bf16_release(volt_bf16_operands *o) {
    for (int i = 0; i < o->n; i++) {
        volt_bf16_drop(o->w[i], o->in[i]);
        o->w[i] = NULL;
    }
}

volt_tensor *volt_bf16_narrow(volt_tensor *t) {
    if (!t || t->dtype != VOLT_F32) return t;
    volt_tensor *r = convert_recorded(t, VOLT_BF16);
    volt_tensor_free(t);
    return r;
}
