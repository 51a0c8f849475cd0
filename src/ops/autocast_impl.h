/* autocast_impl.h: what the ops share for autocast (the per-thread mode
 * is public, volt/ops.h): which operands a product takes, the widening of
 * the ops autocast keeps in f32, and the f32 -> bf16 conversions (round to
 * nearest even, NaN kept quiet, like volt_f32_to_bf16). */
#ifndef VOLT_AUTOCAST_IMPL_H
#define VOLT_AUTOCAST_IMPL_H

#include "ops/ops_impl.h"

/* Whether a product or convolution of operands of `dtype` recorded now runs
 * in bf16: bf16 autocast is on and dtype is f32. */
bool volt_autocast_bf16_for(volt_dtype dtype);

/* Whether autocast to `low` (volt_autocast_dtype: VOLT_F32 when off) takes
 * t, an operand of a product or convolution: t is NULL, f32 or already in
 * `low` (a previous product's result). */
bool volt_autocast_casts(const volt_tensor *t, volt_dtype low);

/* Whether one of ts[0..n) (n <= 4) is in autocast's 16-bit dtype now. */
bool volt_autocast_widens(int n, const volt_tensor *const *ts);
/* The operands of an op autocast keeps in f32 (volt/ops.h: norms, softmax,
 * the losses) widened into o: o->w[i] is ts[i] converted to f32 (recorded,
 * so the gradient goes back in ts[i]'s dtype) when ts[i] is in autocast's
 * 16-bit dtype, else ts[i] itself (NULL stays NULL). false with the error
 * (nothing kept). Release o with volt_bf16_release. */
bool volt_autocast_widen(volt_bf16_operands *o, int n, const volt_tensor *const *ts);
/* At the top of such an op, whose floating operands are the n of `ts` (a
 * parenthesised array expression; NULL entries allowed): when autocast is
 * on and one of them is in its 16-bit dtype, returns `call` (an expression
 * using o.w[i]) on the widened operands: an f32 result. */
#define VOLT_AUTOCAST_F32(n, ts, o, call)                                                          \
    if (volt_autocast_widens(n, ts)) {                                                             \
        volt_bf16_operands o;                                                                      \
        volt_tensor *autocast_result_ = volt_autocast_widen(&o, n, ts) ? (call) : NULL;            \
        volt_bf16_release(&o);                                                                     \
        return autocast_result_;                                                                   \
    }

/* dst[i] = bf16(src[i]) for n elements (OpenMP for large n). */
void volt_cpu_f32_to_bf16(uint16_t *dst, const float *src, int64_t n);
/* dst[i] = src[i] rounded to the nearest bf16 value, kept as f32 (dst may be
 * src). */
void volt_cpu_round_bf16(float *dst, const float *src, int64_t n);

/* A new contiguous f32 tensor of t's shape holding t's elements rounded to
 * bf16 (t: f32, any strides; broadcast dims are materialised). No autograd.
 * NULL with an out-of-memory error. */
volt_tensor *volt_bf16_rounded(const volt_tensor *t);

#endif
