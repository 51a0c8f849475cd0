/* autocast.c: the per-thread autocast mode (volt/ops.h) and the f32 -> bf16
 * conversions the bf16 products and convolutions use (autocast_impl.h),
 * split across threads as the cost model says. The loops (copy.c's
 * volt_cpu_f32_to_bf16_run, and the rounding kept as f32 here) are compiled
 * for AVX-512, AVX2 and baseline x86-64 and picked at load time (GCC's
 * target_clones). */
#include "ops/autocast_impl.h"

#include <string.h>

#include "ops/cpu/bf16_round.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/dnnl_common.h"
#include "ops/cpu/parallel.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

/* Elements per block of the parallel loops. */
#define BLOCK 16384

static _Thread_local volt_autocast_mode mode;

volt_autocast_mode volt_autocast_get(void) { return mode; }

volt_autocast_mode volt_autocast_set(volt_autocast_mode new_mode) {
    volt_autocast_mode prev = mode;
    mode = new_mode == VOLT_AUTOCAST_BF16 || new_mode == VOLT_AUTOCAST_F16 ? new_mode
                                                                           : VOLT_AUTOCAST_OFF;
    return prev;
}

bool volt_autocast_bf16_native(void) { return volt_dnnl_has_bf16(); }

bool volt_autocast_bf16_for(volt_dtype dtype) {
    return mode == VOLT_AUTOCAST_BF16 && dtype == VOLT_F32;
}

volt_dtype volt_autocast_dtype(volt_device device) {
    if (mode == VOLT_AUTOCAST_BF16) return VOLT_BF16;
    if (mode == VOLT_AUTOCAST_F16 && device.type == VOLT_CUDA) return VOLT_F16;
    return VOLT_F32;
}

bool volt_autocast_casts(const volt_tensor *t, volt_dtype low) {
    return low != VOLT_F32 && (!t || t->dtype == VOLT_F32 || t->dtype == low);
}

/* Whether t is in autocast's 16-bit dtype on its device now. */
static bool is_low(const volt_tensor *t) {
    if (!t || t->dtype == VOLT_F32) return false;
    return t->dtype == volt_autocast_dtype(t->device);
}

bool volt_autocast_widens(int n, const volt_tensor *const *ts) {
    if (mode == VOLT_AUTOCAST_OFF) return false;
    for (int i = 0; i < n; i++)
        if (is_low(ts[i])) return true;
    return false;
}

bool volt_autocast_widen(volt_bf16_operands *o, int n, const volt_tensor *const *ts) {
    const volt_tensor *t = NULL;
    for (int i = 0; i < n && !t; i++) t = ts[i];
    return volt_widen_operands(o, n, ts, t ? volt_autocast_dtype(t->device) : VOLT_F32);
}

CLONES static void round_block(float *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)volt_bf16_bits(src[i]) << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}

void volt_cpu_f32_to_bf16(uint16_t *dst, const float *src, int64_t n) {
    int64_t blocks = (n + BLOCK - 1) / BLOCK;
    int threads = volt_cpu_threads_for_bytes(6.0 * (double)n);
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t i0 = b * BLOCK, len = n - i0 < BLOCK ? n - i0 : BLOCK;
        volt_cpu_f32_to_bf16_run(dst + i0, src + i0, len);
    }
}

void volt_cpu_round_bf16(float *dst, const float *src, int64_t n) {
    int64_t blocks = (n + BLOCK - 1) / BLOCK;
    int threads = volt_cpu_threads_for_bytes(6.0 * (double)n);
#pragma omp parallel for if (threads > 1) num_threads(threads) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t i0 = b * BLOCK, len = n - i0 < BLOCK ? n - i0 : BLOCK;
        round_block(dst + i0, src + i0, len);
    }
}

volt_tensor *volt_bf16_rounded(const volt_tensor *t) {
    volt_tensor *r = volt_tensor_new(VOLT_F32, t->device, t->ndim, t->shape);
    if (!r) return NULL;
    const float *src = volt_tensor_data(t);
    if (!volt_tensor_is_contiguous(t)) {
        volt_cpu_copy(r, t);
        src = volt_tensor_data(r);
    }
    volt_cpu_round_bf16(volt_tensor_data(r), src, volt_tensor_numel(r));
    return r;
}
