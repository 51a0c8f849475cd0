/* cpu_update.c: the fused CPU update of each built-in optimizer — one loop
 * over a span of a parameter's elements that reads the parameter, its
 * gradient and its state and writes them back, in f32 and f64 (SGD also in
 * bf16; the other optimizers take bf16 through optimizer.c's f32 copies).
 * Each element follows PyTorch 1.13's single-tensor implementation
 * operation by operation (the same order, the hyperparameters rounded to
 * the parameter's dtype as PyTorch's scalars are), so a step matches
 * PyTorch's to the last bits in most elements. Elements are independent:
 * the results do not depend on how optimizer.c cuts a parameter into spans
 * or which thread updates which. */
#include <math.h>
#include <string.h>

#include "optim/cpu_update.h"

#include "ops/cpu/bf16_round.h"

/* Update u's span: its first element of the parameter, the gradient, the
 * slots and the compensation (all in the parameter's dtype), and its
 * length. */
typedef struct {
    void *p;
    const void *g;
    void *slot[VOLT_OPTIM_MAX_SLOTS];
    void *comp;
    int64_t n;
} span;

static void *at(const void *base, int64_t first, size_t elt) {
    return base ? (char *)base + (size_t)first * elt : NULL;
}

static span span_of(const volt_optim_update *u) {
    size_t e = volt_dtype_size(u->param->dtype);
    span s = {.p = at(volt_tensor_data(u->param), u->first, e),
              .g = at(volt_tensor_data(u->grad), u->first, e),
              .comp = at(u->comp, u->first, e),
              .n = u->count};
    for (int i = 0; i < VOLT_OPTIM_MAX_SLOTS; i++) s.slot[i] = at(u->slot[i], u->first, e);
    return s;
}

/* ------------------------------------------------------------------ SGD */

/* d = ±g (+ wd p); buf = d on the first step, else momentum buf + (1 -
 * dampening) d; d = nesterov ? d + momentum buf : buf; p -= lr d. */
#define SGD_KERNEL(SUF, T)                                                                         \
    static void sgd_##SUF(T *restrict p, const T *restrict g, T *restrict buf, int64_t n,          \
                          const volt_optim_hparams *hp, bool fresh) {                              \
        const T wd = (T)hp->weight_decay, mom = (T)hp->momentum;                                   \
        const T keep = (T)(1.0 - hp->dampening), neg_lr = (T)(-hp->lr);                            \
        const bool use_wd = hp->weight_decay != 0, use_mom = hp->momentum != 0;                    \
        const bool nesterov = hp->nesterov, maximize = hp->maximize;                               \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = maximize ? -g[i] : g[i];                                                         \
            if (use_wd) d = d + wd * p[i];                                                         \
            if (use_mom) {                                                                         \
                T b = fresh ? d : buf[i] * mom + keep * d;                                         \
                buf[i] = b;                                                                        \
                d = nesterov ? d + mom * b : b;                                                    \
            }                                                                                      \
            p[i] = p[i] + neg_lr * d;                                                              \
        }                                                                                          \
    }

SGD_KERNEL(f32, float)
SGD_KERNEL(f64, double)

/* The usual f32 case — momentum, no weight decay, no nesterov, not
 * maximising, past the first step: buf = momentum buf + keep g; p -= lr buf,
 * the same operations in the same order as sgd_f32 (no fused multiply-add:
 * ISO C mode compiles with -ffp-contract=off), in a loop without branches
 * that the compiler vectorises. Compiled for AVX-512, AVX2 and baseline
 * x86-64 and picked at load time (GCC's target_clones). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

CLONES static void sgd_momentum_span(float *restrict p, const float *restrict g,
                                     float *restrict buf, int64_t n, float mom, float keep,
                                     float neg_lr) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float b = buf[i] * mom + keep * g[i];
        buf[i] = b;
        p[i] = p[i] + neg_lr * b;
    }
}

static void sgd_momentum_f32(float *p, const float *g, float *buf, int64_t n,
                             const volt_optim_hparams *hp) {
    const float mom = (float)hp->momentum, keep = (float)(1.0 - hp->dampening);
    const float neg_lr = (float)(-hp->lr);
    sgd_momentum_span(p, g, buf, n, mom, keep, neg_lr);
}

static bool sgd_is_plain_momentum(const volt_optim_update *u, bool fresh) {
    const volt_optim_hparams *hp = u->hp;
    return !fresh && hp->momentum != 0 && hp->weight_decay == 0 && !hp->nesterov && !hp->maximize;
}

/* bf16 parameter, gradient and momentum buffer (precision "bf16-true"):
 * sgd_f32's operations in f32 per element, the parameter and buffer rounded
 * to bf16 (nearest even) when stored — what optimizer.c's generic bf16 path
 * computes, without its f32 copies. With a compensation c (compensated
 * updates) the parameter's value is p + c and c keeps what rounding the
 * new value dropped. */
static inline float bf16_load(uint16_t v) {
    uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Stores q as the parameter p (rounded) and, when c, its remainder. */
static inline void bf16_store_param(uint16_t *p, uint16_t *c, float q) {
    uint16_t r = volt_bf16_bits(q);
    *p = r;
    if (c) *c = volt_bf16_bits(q - bf16_load(r));
}

static void sgd_bf16(uint16_t *restrict p, const uint16_t *restrict g, uint16_t *restrict buf,
                     uint16_t *restrict c, int64_t n, const volt_optim_hparams *hp, bool fresh) {
    const float wd = (float)hp->weight_decay, mom = (float)hp->momentum;
    const float keep = (float)(1.0 - hp->dampening), neg_lr = (float)(-hp->lr);
    const bool use_wd = hp->weight_decay != 0, use_mom = hp->momentum != 0;
    const bool nesterov = hp->nesterov, maximize = hp->maximize;
    for (int64_t i = 0; i < n; i++) {
        float pi = bf16_load(p[i]), gi = bf16_load(g[i]);
        if (c) pi = pi + bf16_load(c[i]);
        float d = maximize ? -gi : gi;
        if (use_wd) d = d + wd * pi;
        if (use_mom) {
            float b = fresh ? d : bf16_load(buf[i]) * mom + keep * d;
            buf[i] = volt_bf16_bits(b);
            d = nesterov ? d + mom * b : b;
        }
        bf16_store_param(p + i, c ? c + i : NULL, pi + neg_lr * d);
    }
}

/* sgd_momentum_span in bf16: sgd_bf16's operations for the plain momentum
 * case, in a loop without branches (the NaN test of the rounding is a
 * select) that the compiler vectorises. */
CLONES static void sgd_momentum_bf16_span(uint16_t *restrict p, const uint16_t *restrict g,
                                          uint16_t *restrict buf, int64_t n, float mom, float keep,
                                          float neg_lr) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float b = bf16_load(buf[i]) * mom + keep * bf16_load(g[i]);
        buf[i] = volt_bf16_bits(b);
        p[i] = volt_bf16_bits(bf16_load(p[i]) + neg_lr * b);
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* sgd_momentum_bf16_span with AVX-512 F intrinsics (the compiler's own
 * vectorisation of the rounding runs at half this speed): the same
 * operations in the same order, 16 elements at a time; the tail goes to
 * the plain loop. */
__attribute__((target("avx512f"))) static void
sgd_momentum_bf16_avx512(uint16_t *restrict p, const uint16_t *restrict g, uint16_t *restrict buf,
                         int64_t n, float mom, float keep, float neg_lr) {
    const __m512 vm = _mm512_set1_ps(mom), vk = _mm512_set1_ps(keep);
    const __m512 vl = _mm512_set1_ps(neg_lr);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 b = _mm512_add_ps(_mm512_mul_ps(volt_bf16_load_16(buf + i), vm),
                                 _mm512_mul_ps(vk, volt_bf16_load_16(g + i)));
        __m512 q = _mm512_add_ps(volt_bf16_load_16(p + i), _mm512_mul_ps(vl, b));
        volt_bf16_store_16(buf + i, b);
        volt_bf16_store_16(p + i, q);
    }
    sgd_momentum_bf16_span(p + i, g + i, buf + i, n - i, mom, keep, neg_lr);
}

#define SGD_BF16_AVX512 1
#endif

/* sgd_momentum_bf16_span with a compensation c: the parameter's value is
 * p + c, and c keeps what rounding the new value dropped. */
CLONES static void sgd_momentum_bf16_comp_span(uint16_t *restrict p, const uint16_t *restrict g,
                                               uint16_t *restrict buf, uint16_t *restrict c,
                                               int64_t n, float mom, float keep, float neg_lr) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float b = bf16_load(buf[i]) * mom + keep * bf16_load(g[i]);
        buf[i] = volt_bf16_bits(b);
        float q = (bf16_load(p[i]) + bf16_load(c[i])) + neg_lr * b;
        uint16_t r = volt_bf16_bits(q);
        p[i] = r;
        c[i] = volt_bf16_bits(q - bf16_load(r));
    }
}

#ifdef SGD_BF16_AVX512
/* sgd_momentum_bf16_comp_span with AVX-512 F intrinsics, as
 * sgd_momentum_bf16_avx512 is to its plain loop. */
__attribute__((target("avx512f"))) static void
sgd_momentum_bf16_comp_avx512(uint16_t *restrict p, const uint16_t *restrict g,
                              uint16_t *restrict buf, uint16_t *restrict c, int64_t n, float mom,
                              float keep, float neg_lr) {
    const __m512 vm = _mm512_set1_ps(mom), vk = _mm512_set1_ps(keep);
    const __m512 vl = _mm512_set1_ps(neg_lr);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 b = _mm512_add_ps(_mm512_mul_ps(volt_bf16_load_16(buf + i), vm),
                                 _mm512_mul_ps(vk, volt_bf16_load_16(g + i)));
        __m512 v = _mm512_add_ps(volt_bf16_load_16(p + i), volt_bf16_load_16(c + i));
        __m512 q = _mm512_add_ps(v, _mm512_mul_ps(vl, b));
        __m512 r = volt_round_bf16_16(q);
        volt_bf16_store_16(buf + i, b);
        volt_bf16_store_16(p + i, r);
        volt_bf16_store_16(c + i, _mm512_sub_ps(q, r));
    }
    sgd_momentum_bf16_comp_span(p + i, g + i, buf + i, c + i, n - i, mom, keep, neg_lr);
}
#endif

static void sgd_momentum_bf16(uint16_t *p, const uint16_t *g, uint16_t *buf, uint16_t *c, int64_t n,
                              const volt_optim_hparams *hp) {
    const float mom = (float)hp->momentum, keep = (float)(1.0 - hp->dampening);
    const float neg_lr = (float)(-hp->lr);
#ifdef SGD_BF16_AVX512
    if (c && __builtin_cpu_supports("avx512f")) {
        sgd_momentum_bf16_comp_avx512(p, g, buf, c, n, mom, keep, neg_lr);
        return;
    }
#endif
    if (c) {
        sgd_momentum_bf16_comp_span(p, g, buf, c, n, mom, keep, neg_lr);
        return;
    }
#ifdef SGD_BF16_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        sgd_momentum_bf16_avx512(p, g, buf, n, mom, keep, neg_lr);
        return;
    }
#endif
    sgd_momentum_bf16_span(p, g, buf, n, mom, keep, neg_lr);
}

void volt_cpu_sgd_update(const volt_optim_update *u) {
    span s = span_of(u);
    bool fresh = u->fresh & 1u;
    bool plain = sgd_is_plain_momentum(u, fresh);
    if (u->param->dtype == VOLT_BF16 && plain)
        sgd_momentum_bf16(s.p, s.g, s.slot[0], s.comp, s.n, u->hp);
    else if (u->param->dtype == VOLT_BF16)
        sgd_bf16(s.p, s.g, s.slot[0], s.comp, s.n, u->hp, fresh);
    else if (plain && u->param->dtype == VOLT_F32)
        sgd_momentum_f32(s.p, s.g, s.slot[0], s.n, u->hp);
    else if (u->param->dtype == VOLT_F32)
        sgd_f32(s.p, s.g, s.slot[0], s.n, u->hp, fresh);
    else
        sgd_f64(s.p, s.g, s.slot[0], s.n, u->hp, fresh);
}

/* ----------------------------------------------------------- Adam, AdamW */

typedef struct {
    double b1, b2, wd, decay, bc2_sqrt, eps, neg_step_size;
    bool l2, decoupled, amsgrad, maximize;
} adam_coef;

/* g = ±g; AdamW: p *= 1 - lr wd, Adam: g += wd p; m = b1 m + (1 - b1) g;
 * v = b2 v + (1 - b2) g g; vmax = max(vmax, v) (amsgrad);
 * p += -lr / bc1 * m / (sqrt(v or vmax) / sqrt(bc2) + eps). */
#define ADAM_KERNEL(SUF, T, SQRT)                                                                  \
    static void adam_##SUF(T *restrict p, const T *restrict g, T *restrict m, T *restrict v,       \
                           T *restrict vmax, int64_t n, const adam_coef *c) {                      \
        const T b1 = (T)c->b1, one_b1 = (T)(1.0 - c->b1), b2 = (T)c->b2;                           \
        const T one_b2 = (T)(1.0 - c->b2), wd = (T)c->wd, decay = (T)c->decay;                     \
        const T bc2_sqrt = (T)c->bc2_sqrt, eps = (T)c->eps, neg_ss = (T)c->neg_step_size;          \
        const bool l2 = c->l2, decoupled = c->decoupled, amsgrad = c->amsgrad;                     \
        const bool maximize = c->maximize;                                                         \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T gi = maximize ? -g[i] : g[i];                                                        \
            T pi = p[i];                                                                           \
            if (decoupled)                                                                         \
                pi = pi * decay;                                                                   \
            else if (l2)                                                                           \
                gi = gi + wd * pi;                                                                 \
            T mi = m[i] * b1 + one_b1 * gi;                                                        \
            T vi = v[i] * b2 + one_b2 * gi * gi;                                                   \
            m[i] = mi;                                                                             \
            v[i] = vi;                                                                             \
            T den;                                                                                 \
            if (amsgrad) {                                                                         \
                T mx = (isnan(vi) || vi > vmax[i]) ? vi : vmax[i];                                 \
                vmax[i] = mx;                                                                      \
                den = SQRT(mx) / bc2_sqrt + eps;                                                   \
            } else {                                                                               \
                den = SQRT(vi) / bc2_sqrt + eps;                                                   \
            }                                                                                      \
            p[i] = pi + neg_ss * mi / den;                                                         \
        }                                                                                          \
    }

ADAM_KERNEL(f32, float, sqrtf)
ADAM_KERNEL(f64, double, sqrt)

static void adam_update(const volt_optim_update *u, bool decoupled) {
    const volt_optim_hparams *hp = u->hp;
    double step = (double)u->step;
    double bc1 = 1.0 - pow(hp->beta1, step), bc2 = 1.0 - pow(hp->beta2, step);
    adam_coef c = {
        .b1 = hp->beta1,
        .b2 = hp->beta2,
        .wd = hp->weight_decay,
        .decay = 1.0 - hp->lr * hp->weight_decay,
        .bc2_sqrt = sqrt(bc2),
        .eps = hp->eps,
        .neg_step_size = -(hp->lr / bc1),
        .l2 = !decoupled && hp->weight_decay != 0,
        .decoupled = decoupled,
        .amsgrad = hp->amsgrad,
        .maximize = hp->maximize,
    };
    span s = span_of(u);
    if (u->param->dtype == VOLT_F32)
        adam_f32(s.p, s.g, s.slot[0], s.slot[1], s.slot[2], s.n, &c);
    else
        adam_f64(s.p, s.g, s.slot[0], s.slot[1], s.slot[2], s.n, &c);
}

void volt_cpu_adam_update(const volt_optim_update *u) { adam_update(u, false); }
void volt_cpu_adamw_update(const volt_optim_update *u) { adam_update(u, true); }

/* --------------------------------------------------------------- RMSprop */

/* g = ±g (+ wd p); sq = alpha sq + (1 - alpha) g g; centered: ga = alpha ga
 * + (1 - alpha) g, avg = sqrt(sq - ga ga), else avg = sqrt(sq); avg += eps;
 * momentum: buf = momentum buf + g / avg, p -= lr buf; else p -= lr g / avg. */
#define RMSPROP_KERNEL(SUF, T, SQRT)                                                               \
    static void rmsprop_##SUF(T *restrict p, const T *restrict g, T *restrict sq, T *restrict buf, \
                              T *restrict ga, int64_t n, const volt_optim_hparams *hp) {           \
        const T alpha = (T)hp->alpha, one_alpha = (T)(1.0 - hp->alpha), wd = (T)hp->weight_decay;  \
        const T eps = (T)hp->eps, mom = (T)hp->momentum, neg_lr = (T)(-hp->lr);                    \
        const bool use_wd = hp->weight_decay != 0, use_mom = hp->momentum > 0;                     \
        const bool centered = hp->centered, maximize = hp->maximize;                               \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T gi = maximize ? -g[i] : g[i];                                                        \
            if (use_wd) gi = gi + wd * p[i];                                                       \
            T s = sq[i] * alpha + one_alpha * gi * gi;                                             \
            sq[i] = s;                                                                             \
            T avg;                                                                                 \
            if (centered) {                                                                        \
                T a = ga[i] * alpha + one_alpha * gi;                                              \
                ga[i] = a;                                                                         \
                avg = SQRT(s - a * a);                                                             \
            } else {                                                                               \
                avg = SQRT(s);                                                                     \
            }                                                                                      \
            avg = avg + eps;                                                                       \
            if (use_mom) {                                                                         \
                T b = buf[i] * mom + gi / avg;                                                     \
                buf[i] = b;                                                                        \
                p[i] = p[i] + neg_lr * b;                                                          \
            } else {                                                                               \
                p[i] = p[i] + neg_lr * gi / avg;                                                   \
            }                                                                                      \
        }                                                                                          \
    }

RMSPROP_KERNEL(f32, float, sqrtf)
RMSPROP_KERNEL(f64, double, sqrt)

void volt_cpu_rmsprop_update(const volt_optim_update *u) {
    span s = span_of(u);
    if (u->param->dtype == VOLT_F32)
        rmsprop_f32(s.p, s.g, s.slot[0], s.slot[1], s.slot[2], s.n, u->hp);
    else
        rmsprop_f64(s.p, s.g, s.slot[0], s.slot[1], s.slot[2], s.n, u->hp);
}

/* --------------------------------------------------------------- Adagrad */

/* g = ±g (+ wd p); sum += g g; p -= clr g / (sqrt(sum) + eps) with
 * clr = lr / (1 + (step - 1) lr_decay). */
#define ADAGRAD_KERNEL(SUF, T, SQRT)                                                               \
    static void adagrad_##SUF(T *restrict p, const T *restrict g, T *restrict sum, int64_t n,      \
                              const volt_optim_hparams *hp, double clr) {                          \
        const T wd = (T)hp->weight_decay, eps = (T)hp->eps, neg_clr = (T)(-clr);                   \
        const bool use_wd = hp->weight_decay != 0, maximize = hp->maximize;                        \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T gi = maximize ? -g[i] : g[i];                                                        \
            if (use_wd) gi = gi + wd * p[i];                                                       \
            T s = sum[i] + gi * gi;                                                                \
            sum[i] = s;                                                                            \
            T std = SQRT(s) + eps;                                                                 \
            p[i] = p[i] + neg_clr * gi / std;                                                      \
        }                                                                                          \
    }

ADAGRAD_KERNEL(f32, float, sqrtf)
ADAGRAD_KERNEL(f64, double, sqrt)

void volt_cpu_adagrad_update(const volt_optim_update *u) {
    const volt_optim_hparams *hp = u->hp;
    double clr = hp->lr / (1.0 + (double)(u->step - 1) * hp->lr_decay);
    span s = span_of(u);
    if (u->param->dtype == VOLT_F32)
        adagrad_f32(s.p, s.g, s.slot[0], s.n, hp, clr);
    else
        adagrad_f64(s.p, s.g, s.slot[0], s.n, hp, clr);
}

/* ------------------------------------------------------------------ Lion */

/* g = ±g; p *= 1 - lr wd; p -= lr sign(b1 m + (1 - b1) g);
 * m = b2 m + (1 - b2) g. */
#define LION_KERNEL(SUF, T)                                                                        \
    static void lion_##SUF(T *restrict p, const T *restrict g, T *restrict m, int64_t n,           \
                           const volt_optim_hparams *hp) {                                         \
        const T b1 = (T)hp->beta1, one_b1 = (T)(1.0 - hp->beta1), b2 = (T)hp->beta2;               \
        const T one_b2 = (T)(1.0 - hp->beta2), decay = (T)(1.0 - hp->lr * hp->weight_decay);       \
        const T neg_lr = (T)(-hp->lr);                                                             \
        const bool maximize = hp->maximize;                                                        \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T gi = maximize ? -g[i] : g[i];                                                        \
            T c = m[i] * b1 + one_b1 * gi;                                                         \
            T s = (T)(c > 0) - (T)(c < 0);                                                         \
            p[i] = p[i] * decay + neg_lr * s;                                                      \
            m[i] = m[i] * b2 + one_b2 * gi;                                                        \
        }                                                                                          \
    }

LION_KERNEL(f32, float)
LION_KERNEL(f64, double)

void volt_cpu_lion_update(const volt_optim_update *u) {
    span s = span_of(u);
    if (u->param->dtype == VOLT_F32)
        lion_f32(s.p, s.g, s.slot[0], s.n, u->hp);
    else
        lion_f64(s.p, s.g, s.slot[0], s.n, u->hp);
}

/* ------------------------------------------- compensated bf16 on copies */

void volt_cpu_comp_add(float *restrict q, const uint16_t *restrict c, int64_t n) {
    for (int64_t i = 0; i < n; i++) q[i] = q[i] + bf16_load(c[i]);
}

void volt_cpu_comp_store(uint16_t *restrict p, uint16_t *restrict c, const float *restrict q,
                         int64_t n) {
    for (int64_t i = 0; i < n; i++) bf16_store_param(p + i, c + i, q[i]);
}
