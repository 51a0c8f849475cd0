/* ops_impl.h: what every op file shares — argument validation with the
 * standard messages, broadcasting and dtype promotion, output allocation,
 * the strided elementwise loop, and the autograd recording interface. */
#ifndef VOLT_OPS_IMPL_H
#define VOLT_OPS_IMPL_H

#include "autograd/autograd_impl.h"
#include "core/core_impl.h"
#include "volt/ops.h"

/* ------------------------------------------------------------- checks */
/* Each records the standard error and returns false on failure. */

/* "op: argument 'name' is NULL" (or keeps an earlier error). */
bool volt_check_not_null(const char *op, const volt_tensor *t, const char *name);
/* "op: expected a floating-point tensor, got i64[3]". */
bool volt_check_float(const char *op, const volt_tensor *t);
/* f32 or f64: "op: f16[3] is not supported (f32 and f64 are)". */
bool volt_check_f32_f64(const char *op, const volt_tensor *t);
/* "op: tensors on cpu and cuda:0". */
bool volt_check_same_device(const char *op, const volt_tensor *a, const volt_tensor *b);
/* The same, except that a 0-d CPU tensor beside a CUDA tensor is a scalar
 * (as PyTorch allows): *device receives the device the op runs on. */
bool volt_check_operand_devices(const char *op, const volt_tensor *a, const volt_tensor *b,
                                volt_device *device);
/* For an op that has CPU kernels only: true for a CPU tensor, else "relu: no
 * CUDA kernel yet for f32[4] on cuda:0" (VOLT_ERR_DEVICE). Every op calls it
 * (or dispatches to its CUDA kernels) before touching data. */
bool volt_check_device_supported(const char *op, const volt_tensor *t);
/* Records "op: no CUDA kernel yet for f32[4,3] on cuda:0 (why)" ("why" may
 * be NULL) and returns VOLT_ERR_DEVICE. */
volt_status volt_no_cuda_kernel(const char *op, const volt_tensor *t, const char *why);
/* Normalises dim into [0, ndim) ("op: dimension 3 out of range for f32[2,3]
 * (expected -2..1)"); returns -1 on error. */
int volt_normalize_dim(const char *op, const volt_tensor *t, int dim);
/* Turns a dim list into a mask of reduced dims (all dims when n_dims == 0);
 * false on a bad or repeated dim. */
bool volt_dims_to_mask(const char *op, const volt_tensor *t, int n_dims, const int *dims,
                       bool mask[VOLT_MAX_DIMS]);
/* Refuses in-place writes into a tensor that requires grad in grad mode. */
bool volt_check_inplace(const char *op, const volt_tensor *self);
/* In a backward function: whether the incoming gradient g may be written in
 * place as the gradient of a tensor shaped like v — the engine's own buffer
 * that nothing else refers to (the test autograd/backward.c uses to hand a
 * gradient to a leaf), contiguous, with v's dtype and shape. */
bool volt_grad_reusable(const volt_tensor *g, const volt_tensor *v);

/* "[2,3]" into buf. */
const char *volt_shape_only(const volt_tensor *t, char *buf, size_t size);

/* ------------------------------------------------- broadcasting, dtypes */

/* Broadcast shape of a and b into (*ndim, shape); error names both shapes. */
bool volt_broadcast_shapes(const char *op, const volt_tensor *a, const volt_tensor *b, int *ndim,
                           int64_t shape[VOLT_MAX_DIMS]);
/* PyTorch's result dtype for a binary op on a and b. */
volt_dtype volt_promote_types(const volt_tensor *a, const volt_tensor *b);
/* Strides of t as seen broadcast to (ndim, shape): 0 on broadcast dims. */
void volt_broadcast_strides(const volt_tensor *t, int ndim, const int64_t *shape,
                            int64_t strides[VOLT_MAX_DIMS]);
/* t converted to dtype through the differentiable volt_to_dtype, or t itself
 * (not a new reference) when it already has that dtype. */
const volt_tensor *volt_as_dtype(const volt_tensor *t, volt_dtype dtype);

/* ------------------------------------------------------ bf16 (bf16.c) */
/* The rule for floating ops given bf16 tensors: widen the bf16 operands to
 * f32, run the f32 op, round its floating result to bf16 (both steps
 * differentiable). */

/* dst = src converted (same element count): contiguous f32 <-> bf16 pairs
 * run vectorised loops, anything else the strided copy. No autograd. */
void volt_bf16_copy_into(volt_tensor *dst, const volt_tensor *src);
/* A new tensor of t's shape holding t converted to dtype (no autograd); NULL
 * with an out-of-memory error. f32 <-> bf16 (and, on CUDA, f32 <-> f16)
 * keep a transposed or permuted t's layout. */
volt_tensor *volt_bf16_convert(const volt_tensor *t, volt_dtype dtype);
/* zero_padded.c: a new copy of the 2-D CUDA t, converted to dtype, in
 * zeros pr rows and pc columns larger (t in the top-left block), stored in
 * t's orientation (a transposed view stays column-major, as cuBLASLt reads
 * it); NULL with the error. */
volt_tensor *volt_zero_padded(const volt_tensor *t, int64_t pr, int64_t pc, volt_dtype dtype);
/* *out = t (f32, CPU or CUDA) converted to bf16 in the same layout (no autograd),
 * when t's elements fill a block of memory in some order of its dims
 * (contiguous, transposed, permuted); else *out = NULL. false (*out NULL)
 * on out of memory. A t whose storage has a bf16 twin (it was widened from
 * bf16 and neither was written since) gets the twin's same view instead,
 * without a conversion, in any layout. */
bool volt_bf16_copy_kept(const volt_tensor *t, volt_tensor **out);
/* Notes narrow (bf16) as the twin of wide (f32) when wide was just
 * converted from it and both are contiguous tensors filling their storage
 * (volt_storage_set_twin); else nothing. */
void volt_bf16_note_twin(const volt_tensor *wide, const volt_tensor *narrow);
/* t converted to f32 when it is bf16, else t itself (NULL stays NULL). */
const volt_tensor *volt_bf16_widen(const volt_tensor *t);
/* Frees what volt_bf16_widen(t) returned when it is a new tensor. */
void volt_bf16_drop(const volt_tensor *widened, const volt_tensor *t);
/* An f32 result t rounded to bf16: a new tensor, and t is freed (the caller
 * owned it). Anything else (NULL, bool, f64) is returned unchanged. */
volt_tensor *volt_bf16_narrow(volt_tensor *t);
/* In an op taking tensor `a`: when a is bf16, returns the f32 `call` (an
 * expression using the widened input `w`) rounded to bf16. */
#define VOLT_BF16_VIA_F32(a, w, call)                                                              \
    if ((a) && (a)->dtype == VOLT_BF16) {                                                          \
        const volt_tensor *w = volt_bf16_widen(a);                                                 \
        volt_tensor *bf16_result_ = w ? (call) : NULL;                                             \
        volt_bf16_drop(w, a);                                                                      \
        return volt_bf16_narrow(bf16_result_);                                                     \
    }

/* Integer and bool reductions of a CUDA tensor a (sums, products, max /
 * min, argmax / argmin) have no CUDA kernel: they are rare and off a
 * training step's hot path (counting, masks). `call` runs on h, a host copy
 * of a, and its result comes back to a's device. The copy waits for the
 * device. */
#define VOLT_INTEGER_ON_HOST(a, h, call)                                                           \
    if ((a) && (a)->device.type == VOLT_CUDA && !volt_dtype_is_float((a)->dtype)) {                \
        volt_tensor *h = volt_to_device((a), VOLT_DEVICE_CPU);                                     \
        volt_tensor *host_result_ = h ? (call) : NULL;                                             \
        volt_tensor *back_ = host_result_ ? volt_to_device(host_result_, (a)->device) : NULL;      \
        volt_tensor_free(h);                                                                       \
        volt_tensor_free(host_result_);                                                            \
        return back_;                                                                              \
    }

/* The operands of an op with several tensor operands, those in bf16
 * widened to f32 (recorded: gradients flow back through the widening). */
typedef struct {
    const volt_tensor *in[4], *w[4];
    int n;
} volt_bf16_operands;
/* Widens ts[0..n) (n <= 4; NULL entries stay NULL) into o->w; false with
 * an error (nothing kept) on failure. Release o with volt_bf16_release in
 * both cases. */
bool volt_bf16_widen_operands(volt_bf16_operands *o, int n, const volt_tensor *const *ts);
/* The same for the operands of dtype `narrow` (bf16, or f16 on CUDA). */
bool volt_widen_operands(volt_bf16_operands *o, int n, const volt_tensor *const *ts,
                         volt_dtype narrow);
void volt_bf16_release(volt_bf16_operands *o);
/* In an op whose main operand is `a` (its result takes a's dtype) and
 * whose floating operands are the n of `ts`: when a is a CPU bf16 tensor,
 * returns the f32 `call` (an expression using the widened operands o.w[i])
 * rounded to bf16. ts is a parenthesised array expression. */
#define VOLT_BF16_VIA_F32_N(a, n, ts, o, call)                                                     \
    if ((a) && (a)->dtype == VOLT_BF16 && (a)->device.type == VOLT_CPU) {                          \
        volt_bf16_operands o;                                                                      \
        volt_tensor *bf16_result_ = volt_bf16_widen_operands(&o, n, ts) ? (call) : NULL;           \
        volt_bf16_release(&o);                                                                     \
        return volt_bf16_narrow(bf16_result_);                                                     \
    }

/* t = u * scale + shift, computed in double and stored in t's dtype, with
 * u the f64 uniforms volt_rand(..., VOLT_F64, gen) would draw (normal: the
 * f64 normals of volt_randn) from the same blocks, the generator advanced
 * alike — in one pass, without the f64 tensor. Only for contiguous f32/f64
 * CPU tensors: false (nothing drawn) for any other. No autograd; t's
 * storage version is bumped, as by any in-place write (caches keyed on it
 * see new values). */
bool volt_random_affine_into(volt_tensor *t, bool normal, double scale, double shift,
                             volt_generator *gen);

/* --------------------------------------------------- elementwise loop */

/* Inner loop: n elements; ptrs[i] and byte strides[i] of operand i (operand 0
 * is the output). */
typedef void (*volt_loop_fn)(char **ptrs, const int64_t *strides, int64_t n, void *ctx);

/* Runs fn over every element of operands[0]'s shape; the other operands are
 * read broadcast to it. Dims are coalesced, and large loops are split across
 * OpenMP threads (fn must then be thread-safe). At most 4 operands. */
void volt_elementwise_loop(int n_operands, const volt_tensor *const *operands, volt_loop_fn fn,
                           void *ctx);

/* Elements per thread below which loops stay on one thread. */
#define VOLT_PARALLEL_GRAIN 32768

/* Sums grad (broadcast shape) down to (ndim, shape); returns grad itself when
 * the shapes are equal. */
volt_tensor *volt_sum_to_shape(volt_tensor *grad, int ndim, const int64_t *shape);

/* A view of a (same geometry) that carries a's gradient: an identity node. */
volt_tensor *volt_alias_with_grad(const volt_tensor *a, const char *op);

#endif
