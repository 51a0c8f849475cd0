/* optimizer.c: the optimizer base — construction over parameter groups,
 * option resolution and validation helpers, the lr / momentum accessors the
 * schedulers use, zero_grad, the step driver (check every parameter, create
 * missing state on the parameter's device, then the fused updates under
 * no-grad: one multi-tensor kernel launch per group for CUDA parameters
 * (optim/cuda/), the CPU ones in one OpenMP region when they pay for one)
 * and freeing. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cpu/parallel.h"
#include "optim/cpu_update.h"
#include "optim/cuda/optim_cuda.h"
#include "optim/optim_impl.h"

/* ------------------------------------------------------------ validation */

bool volt_optim_check_nonneg(const char *who, const char *field, double v) {
    if (v >= 0 && isfinite(v)) return true;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: invalid %s %g (must be >= 0)", who, field, v);
    return false;
}

bool volt_optim_check_unit(const char *who, const char *field, double v, bool hi_inclusive) {
    if (v >= 0 && (hi_inclusive ? v <= 1 : v < 1)) return true;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: invalid %s %g (must be in [0, 1%s)", who, field,
                   v, hi_inclusive ? "]" : ")");
    return false;
}

/* A zero field inherits; VOLT_OPTIM_ZERO (negative zero) is a real 0. */
static double pick(double v, double inherit) {
    if (v != 0) return v;
    return signbit(v) ? 0.0 : inherit;
}

bool volt_optim_resolve(const volt_optim_class *cls, const void *options,
                        const volt_optim_hparams *inherit, const char *who,
                        volt_optim_hparams *out) {
    *out = *inherit;
    if (options) {
        volt_optim_hparams raw;
        memset(&raw, 0, sizeof raw);
        cls->from_options(options, &raw);
        for (const volt_optim_field *f = cls->fields; f->key; f++) {
            if (f->kind == VOLT_FIELD_BOOL) {
                bool *o = (bool *)((char *)out + f->offset);
                *o = *(const bool *)((const char *)&raw + f->offset) || *o;
            } else if (f->kind == VOLT_FIELD_BETAS) {
                out->beta1 = pick(raw.beta1, inherit->beta1);
                out->beta2 = pick(raw.beta2, inherit->beta2);
            } else {
                double *o = (double *)((char *)out + f->offset);
                *o = pick(*(const double *)((const char *)&raw + f->offset), *o);
            }
        }
    }
    if (isnan(out->lr) && isnan(inherit->lr)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: lr is required (got 0; write VOLT_OPTIM_ZERO for a rate of 0)", who);
        return false;
    }
    return volt_optim_check_nonneg(who, "lr", out->lr) && cls->validate(who, out);
}

bool volt_optim_check_group(const volt_optimizer *opt, int group, const char *what) {
    if (!opt) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "optimizer_%s: optimizer is NULL", what);
        return false;
    }
    if (group >= 0 && group < opt->n_groups) return true;
    volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s: param group %d out of range (%d group%s)",
                   opt->cls->name, what, group, opt->n_groups, opt->n_groups == 1 ? "" : "s");
    return false;
}

/* "parameter 2 ('fc1.weight', f32[3,4])" */
static const char *param_label(volt_params params, int64_t i, int64_t index, char *buf,
                               size_t size) {
    char shape[96] = "NULL";
    if (params.tensors[i]) volt_shape_str(params.tensors[i], shape, sizeof shape);
    if (params.names && params.names[i])
        snprintf(buf, size, "parameter %lld ('%s', %s)", (long long)index, params.names[i], shape);
    else
        snprintf(buf, size, "parameter %lld (%s)", (long long)index, shape);
    return buf;
}

static bool check_params(const volt_optimizer *opt, volt_params params, const char *who) {
    if (params.count <= 0 || !params.tensors) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: empty parameter list", who);
        return false;
    }
    char label[256];
    for (int64_t i = 0; i < params.count; i++) {
        const volt_tensor *t = params.tensors[i];
        int64_t index = opt->n_params + i;
        const char *what = NULL;
        if (!t)
            what = "is NULL";
        else if (t->dtype != VOLT_F32 && t->dtype != VOLT_F64 && t->dtype != VOLT_BF16 &&
                 !(t->dtype == VOLT_F16 && t->device.type == VOLT_CUDA))
            what = "is not f32, f64 or bf16 (or f16 on a CUDA device)";
        else if (t->device.type != VOLT_CPU && !volt_optim_cuda_supports(opt->cls))
            what = "is on a device this optimizer has no update for";
        else if (!volt_tensor_is_contiguous(t))
            what = "is not contiguous";
        for (int64_t j = 0; !what && j < opt->n_params; j++)
            if (opt->params[j] == t) what = "is already in a param group";
        for (int64_t j = 0; !what && j < i; j++)
            if (params.tensors[j] == t) what = "appears twice in the list";
        if (what) {
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s %s", who,
                           param_label(params, i, index, label, sizeof label), what);
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- groups */

static bool grow(volt_optimizer *opt, int64_t n_more) {
    if (opt->n_groups == opt->cap_groups) {
        int c = opt->cap_groups ? 2 * opt->cap_groups : 2;
        volt_optim_group *g = realloc(opt->groups, (size_t)c * sizeof *g);
        if (!g) return false;
        opt->groups = g;
        opt->cap_groups = c;
    }
    if (opt->n_params + n_more > opt->cap_params) {
        int64_t c = opt->n_params + n_more;
        if (c < 2 * opt->cap_params) c = 2 * opt->cap_params;
        volt_tensor **p = realloc(opt->params, (size_t)c * sizeof *p);
        if (!p) return false;
        opt->params = p;
        volt_optim_pstate *s = realloc(opt->state, (size_t)c * sizeof *s);
        if (!s) return false;
        opt->state = s;
        opt->cap_params = c;
    }
    return true;
}

static volt_status add_group(volt_optimizer *opt, volt_params params, const void *options,
                             const volt_optim_hparams *inherit) {
    char who[96];
    if (opt->n_groups == 0)
        snprintf(who, sizeof who, "%s", opt->cls->name);
    else
        snprintf(who, sizeof who, "%s: param group %d", opt->cls->name, opt->n_groups);
    volt_optim_hparams hp;
    if (!check_params(opt, params, who) ||
        !volt_optim_resolve(opt->cls, options, inherit, who, &hp))
        return volt_error_status();
    if (!grow(opt, params.count))
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", who);
    volt_optim_group *g = &opt->groups[opt->n_groups++];
    g->hp = hp;
    g->initial_lr = NAN;
    g->first = opt->n_params;
    g->count = params.count;
    for (int64_t i = 0; i < params.count; i++) {
        opt->params[opt->n_params] = params.tensors[i];
        memset(&opt->state[opt->n_params], 0, sizeof opt->state[0]);
        opt->n_params++;
    }
    if (opt->n_groups == 1) opt->defaults = hp;
    return VOLT_OK;
}

volt_status volt_optimizer_add_param_group(volt_optimizer *opt, volt_params params,
                                           const void *options) {
    if (!opt)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "add_param_group: optimizer is NULL");
    return add_group(opt, params, options, &opt->defaults);
}

/* ---------------------------------------------------------------- step */

static bool check_for_step(const volt_optimizer *opt, int64_t i) {
    const volt_tensor *p = opt->params[i], *g = p->grad;
    bool contiguous = volt_tensor_is_contiguous(p) && volt_tensor_is_contiguous(g);
    bool same =
        p->ndim == g->ndim && p->dtype == g->dtype && volt_device_equal(g->device, p->device);
    for (int d = 0; same && d < p->ndim; d++) same = p->shape[d] == g->shape[d];
    if (contiguous && same) return true;
    char ps[96], gs[96];
    volt_shape_str(p, ps, sizeof ps);
    volt_shape_str(g, gs, sizeof gs);
    if (!contiguous)
        volt_error_set(VOLT_ERR_UNSUPPORTED,
                       "%s: parameter %lld %s or its gradient %s is not contiguous (the fused "
                       "update needs contiguous tensors)",
                       opt->cls->name, (long long)i, ps, gs);
    else
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: parameter %lld %s has a gradient %s (same dtype, "
                       "shape and device needed)",
                       opt->cls->name, (long long)i, ps, gs);
    return false;
}

static bool is_16bit(const volt_tensor *p) { return volt_dtype_is_16bit(p->dtype); }

static bool make_slots(volt_optimizer *opt, int64_t i, const volt_optim_hparams *hp) {
    const volt_optim_class *cls = opt->cls;
    volt_optim_pstate *st = &opt->state[i];
    const volt_tensor *p = opt->params[i];
    for (int s = 0; s < cls->n_slots; s++) {
        if (st->slot[s] || !cls->slot_used(hp, s)) continue;
        double init = cls->slot_init ? cls->slot_init(hp, s) : 0.0;
        volt_tensor *t = p->device.type == VOLT_CPU ? volt_full(p->ndim, p->shape, init, p->dtype)
                                                    : volt_full_like(p, init);
        if (!t) return false;
        st->slot[s] = volt_persist(t);
        st->fresh |= 1u << s;
    }
    if (opt->compensated && is_16bit(p) && !st->slot[cls->n_slots]) {
        volt_tensor *c = p->device.type == VOLT_CPU ? volt_full(p->ndim, p->shape, 0.0, p->dtype)
                                                    : volt_full_like(p, 0.0);
        if (!c) return false;
        st->slot[cls->n_slots] = volt_persist(c);
    }
    return true;
}

/* Elements per work item of an update region: whole 64-byte lines in every
 * dtype, so that threads share no line of a (64-byte aligned) buffer. */
#define UPDATE_CHUNK 8192

/* The threads of an update region take its work in chunks of UPDATE_CHUNK
 * elements from one counter, parameter after parameter: a thread that
 * starts late (or has other work first, volt_cpu_beside) leaves the
 * chunks to the others. Each thread walks the same list of updates with
 * its own `base` (chunks of the updates before) and `k` (the chunk it
 * holds), from claim_first. */
typedef struct {
    int64_t *next; /* the shared counter */
    int64_t base, k;
} chunk_walk;

static chunk_walk claim_first(int64_t *next) {
    return (chunk_walk){next, 0, __atomic_fetch_add(next, 1, __ATOMIC_RELAXED)};
}

/* Runs the chunks of update u that this thread claims. */
static void run_chunks(const volt_optim_class *cls, volt_optim_update u, chunk_walk *w) {
    int64_t n = u.count, chunks = (n + UPDATE_CHUNK - 1) / UPDATE_CHUNK;
    for (; w->k < w->base + chunks; w->k = __atomic_fetch_add(w->next, 1, __ATOMIC_RELAXED)) {
        u.first = (w->k - w->base) * UPDATE_CHUNK;
        u.count = n - u.first < UPDATE_CHUNK ? n - u.first : UPDATE_CHUNK;
        cls->update(&u);
    }
    w->base += chunks;
}

/* The update of a bf16 parameter (precision "bf16-true"): the f32 update on
 * widened copies of the parameter, its gradient and its state, the results
 * rounded back to bf16 — f32 arithmetic per element, parameter and state
 * stored in bf16 as PyTorch keeps them (no f32 master copy); a compensated
 * parameter's copy starts from p + c and leaves its remainder in c. Grad
 * mode is off. */
static volt_status update_bf16(const volt_optim_class *cls, const volt_optim_update *u,
                               volt_tensor *const *slots, unsigned used) {
    volt_tensor *p32 = volt_bf16_convert(u->param, VOLT_F32);
    volt_tensor *g32 = volt_bf16_convert(u->grad, VOLT_F32);
    volt_tensor *s32[VOLT_OPTIM_MAX_SLOTS] = {0};
    bool ok = p32 && g32;
    volt_optim_update w = *u;
    for (int s = 0; ok && s < cls->n_slots; s++) {
        if (!(used & (1u << s))) continue;
        s32[s] = volt_bf16_convert(slots[s], VOLT_F32);
        ok = s32[s] != NULL;
        if (ok) w.slot[s] = volt_tensor_data(s32[s]);
    }
    if (ok) {
        int64_t n = volt_tensor_numel(p32);
        if (u->comp) volt_cpu_comp_add(volt_tensor_data(p32), u->comp, n);
        w.param = p32;
        w.grad = g32;
        w.comp = NULL;
        int threads = volt_cpu_threads_for_bytes((double)volt_tensor_numel(p32) * 4.0 *
                                                 (3 + 2 * __builtin_popcount(used)));
        int64_t next = 0;
#pragma omp parallel num_threads(threads) if (threads > 1)
        {
            chunk_walk cw = claim_first(&next);
            run_chunks(cls, w, &cw);
        }
        if (u->comp)
            volt_cpu_comp_store(volt_tensor_data(u->param), u->comp, volt_tensor_data(p32), n);
        else
            volt_bf16_copy_into(u->param, p32);
        for (int s = 0; s < cls->n_slots; s++)
            if (s32[s]) volt_bf16_copy_into(slots[s], s32[s]);
    }
    volt_tensor_free(p32);
    volt_tensor_free(g32);
    for (int s = 0; s < cls->n_slots; s++) volt_tensor_free(s32[s]);
    return ok ? VOLT_OK : volt_error_status();
}

static bool on_cuda(const volt_tensor *p) { return p->device.type == VOLT_CUDA; }

/* Whether parameter i's update runs on the parameter itself (not on f32
 * copies of a bf16 one, which update_bf16 allocates; the CUDA kernels take
 * bf16 as it is). */
static bool updates_in_place(const volt_optimizer *opt, int64_t i) {
    const volt_tensor *p = opt->params[i];
    return p->grad && (on_cuda(p) || !(p->dtype == VOLT_BF16 && !opt->cls->bf16_native));
}

/* The update of parameter i of group g from its state, which stays as it
 * is (commit_update moves it on); *used: the slots it uses. */
static volt_optim_update update_of(const volt_optimizer *opt, const volt_optim_group *g, int64_t i,
                                   unsigned *used) {
    volt_tensor *p = opt->params[i];
    const volt_optim_pstate *st = &opt->state[i];
    volt_optim_update u = {.param = p,
                           .grad = p->grad,
                           .step = st->step + 1,
                           .hp = &g->hp,
                           .count = volt_tensor_numel(p)};
    volt_tensor *comp = st->slot[opt->cls->n_slots];
    u.comp = comp ? volt_tensor_data(comp) : NULL;
    *used = 0;
    for (int s = 0; s < opt->cls->n_slots; s++)
        if (opt->cls->slot_used(&g->hp, s)) {
            u.slot[s] = volt_tensor_data(st->slot[s]);
            *used |= 1u << s;
        }
    u.fresh = st->fresh & *used;
    return u;
}

static void commit_update(volt_optimizer *opt, int64_t i, unsigned used) {
    volt_optim_pstate *st = &opt->state[i];
    st->step++;
    st->fresh &= ~used;
    volt_storage_bump_version(opt->params[i]->storage);
    for (int s = 0; s < opt->cls->n_slots; s++)
        if (used & (1u << s)) volt_storage_bump_version(st->slot[s]->storage);
    if (st->slot[opt->cls->n_slots])
        volt_storage_bump_version(st->slot[opt->cls->n_slots]->storage);
}

/* Runs every in-place update, sharing their chunks out among the calling
 * region's threads (counter *next, 0 at the start); alone, a thread does
 * them all. */
static void run_in_place_updates(const volt_optimizer *opt, int64_t *next) {
    chunk_walk w = claim_first(next);
    for (int gi = 0; gi < opt->n_groups; gi++) {
        const volt_optim_group *g = &opt->groups[gi];
        for (int64_t i = g->first; i < g->first + g->count; i++) {
            if (!updates_in_place(opt, i) || on_cuda(opt->params[i])) continue;
            unsigned used;
            run_chunks(opt->cls, update_of(opt, g, i, &used), &w);
        }
    }
}

/* Threads worth using for the in-place updates: each reads the parameter,
 * its gradient and its slots and writes the parameter and the slots. */
static int update_threads(const volt_optimizer *opt) {
    double bytes = 0;
    for (int gi = 0; gi < opt->n_groups; gi++) {
        const volt_optim_group *g = &opt->groups[gi];
        int slots = 0;
        for (int s = 0; s < opt->cls->n_slots; s++) slots += opt->cls->slot_used(&g->hp, s);
        for (int64_t i = g->first; i < g->first + g->count; i++)
            if (updates_in_place(opt, i) && !on_cuda(opt->params[i])) {
                int comp = opt->state[i].slot[opt->cls->n_slots] != NULL;
                bytes += (double)(volt_tensor_numel(opt->params[i]) *
                                  (int64_t)volt_dtype_size(opt->params[i]->dtype) *
                                  (3 + 2 * (slots + comp)));
            }
    }
    return volt_cpu_threads_for_bytes(bytes);
}

/* Queues the updates of the CUDA parameters with a gradient: one launch per
 * group (and device and dtype, when a group mixes them). */
static volt_status run_cuda_updates(const volt_optimizer *opt) {
    volt_optim_update *u = NULL;
    volt_status st = VOLT_OK;
    for (int gi = 0; st == VOLT_OK && gi < opt->n_groups; gi++) {
        const volt_optim_group *g = &opt->groups[gi];
        int64_t n = 0;
        for (int64_t i = g->first; i < g->first + g->count; i++) {
            if (!opt->params[i]->grad || !on_cuda(opt->params[i])) continue;
            if (!u && !(u = malloc((size_t)opt->n_params * sizeof *u))) {
                st = volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", opt->cls->name);
                break;
            }
            unsigned used;
            u[n++] = update_of(opt, g, i, &used);
        }
        if (st == VOLT_OK && n > 0) st = volt_optim_cuda_update(opt->cls, u, n);
    }
    free(u);
    return st;
}

static volt_status step_impl(volt_optimizer *opt) {
    for (int gi = 0; gi < opt->n_groups; gi++) {
        const volt_optim_group *g = &opt->groups[gi];
        for (int64_t i = g->first; i < g->first + g->count; i++)
            if (opt->params[i]->grad && !check_for_step(opt, i)) return volt_error_status();
    }
    for (int gi = 0; gi < opt->n_groups; gi++) {
        const volt_optim_group *g = &opt->groups[gi];
        for (int64_t i = g->first; i < g->first + g->count; i++)
            if (opt->params[i]->grad && !make_slots(opt, i, &g->hp)) return volt_error_status();
    }
    volt_no_grad_begin();
    if (run_cuda_updates(opt) != VOLT_OK) {
        volt_no_grad_end();
        return volt_error_status();
    }
    /* With a team, its thread 0 first does the task set beside (the next
     * batch) while the others take the chunks. */
    int threads = update_threads(opt);
    volt_cpu_beside side = threads > 1 ? volt_cpu_beside_take() : (volt_cpu_beside){0};
    int64_t next = 0;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        if (side.fn && omp_get_thread_num() == 0) side.fn(side.ctx);
        run_in_place_updates(opt, &next);
    }
    /* Their state moves on; then the bf16 parameters on f32 copies, one by
     * one (out of memory there leaves the rest as they were). */
    for (int pass = 0; pass < 2; pass++)
        for (int gi = 0; gi < opt->n_groups; gi++) {
            const volt_optim_group *g = &opt->groups[gi];
            for (int64_t i = g->first; i < g->first + g->count; i++) {
                if (!opt->params[i]->grad || updates_in_place(opt, i) != (pass == 0)) continue;
                unsigned used;
                volt_optim_update u = update_of(opt, g, i, &used);
                volt_status bs =
                    pass == 0 ? VOLT_OK : update_bf16(opt->cls, &u, opt->state[i].slot, used);
                if (bs != VOLT_OK) {
                    volt_no_grad_end();
                    return bs;
                }
                commit_update(opt, i, used);
            }
        }
    volt_no_grad_end();
    opt->step_count++;
    return VOLT_OK;
}

static void zero_grad_impl(volt_optimizer *opt) {
    for (int64_t i = 0; i < opt->n_params; i++) volt_tensor_clear_grad(opt->params[i]);
}

void volt_optim_clear_state(volt_optimizer *opt, int64_t i) {
    volt_optim_pstate *st = &opt->state[i];
    for (int s = 0; s < VOLT_OPTIM_MAX_STATE; s++) volt_tensor_free(st->slot[s]);
    memset(st, 0, sizeof *st);
}

static void free_impl(volt_optimizer *opt) {
    for (int64_t i = 0; i < opt->n_params; i++) volt_optim_clear_state(opt, i);
    free(opt->params);
    free(opt->state);
    free(opt->groups);
    free(opt);
}

static const volt_optimizer_vtable builtin_vtable = {
    .step = step_impl,
    .zero_grad = zero_grad_impl,
    .state_dict = volt_optim_state_dict,
    .load_state_dict = volt_optim_load_state_dict,
    .free = free_impl,
};

volt_optimizer *volt_optimizer_create(const volt_optim_class *cls, volt_params params,
                                      const void *options) {
    volt_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", cls->name);
        return NULL;
    }
    opt->vt = &builtin_vtable;
    opt->cls = cls;
    if (add_group(opt, params, options, &cls->defaults) != VOLT_OK) {
        free_impl(opt);
        return NULL;
    }
    return opt;
}

/* ------------------------------------------------------------- public API */

void volt_optimizer_free(volt_optimizer *opt) {
    if (opt) opt->vt->free(opt);
}

const char *volt_optimizer_name(const volt_optimizer *opt) { return opt ? opt->cls->name : ""; }

int volt_optimizer_num_groups(const volt_optimizer *opt) { return opt ? opt->n_groups : 0; }

volt_params volt_optimizer_params(const volt_optimizer *opt) {
    volt_params p = {0, NULL, NULL};
    if (opt) {
        p.count = opt->n_params;
        p.tensors = opt->params;
    }
    return p;
}

double volt_optimizer_lr(const volt_optimizer *opt, int group) {
    return volt_optim_check_group(opt, group, "lr") ? opt->groups[group].hp.lr : NAN;
}

volt_status volt_optimizer_set_lr(volt_optimizer *opt, int group, double lr) {
    if (!volt_optim_check_group(opt, group, "set_lr")) return volt_error_status();
    char who[96];
    snprintf(who, sizeof who, "%s: set_lr", opt->cls->name);
    if (!volt_optim_check_nonneg(who, "lr", lr)) return volt_error_status();
    opt->groups[group].hp.lr = lr;
    return VOLT_OK;
}

bool volt_optimizer_has_momentum(const volt_optimizer *opt) {
    return opt && opt->cls->momentum != VOLT_MOMENTUM_NONE;
}

double volt_optimizer_momentum(const volt_optimizer *opt, int group) {
    if (!volt_optim_check_group(opt, group, "momentum")) return NAN;
    const volt_optim_hparams *hp = &opt->groups[group].hp;
    switch (opt->cls->momentum) {
    case VOLT_MOMENTUM_FIELD: return hp->momentum;
    case VOLT_MOMENTUM_BETA1: return hp->beta1;
    default:
        volt_error_set(VOLT_ERR_UNSUPPORTED, "%s: has no momentum or beta1", opt->cls->name);
        return NAN;
    }
}

volt_status volt_optimizer_set_momentum(volt_optimizer *opt, int group, double momentum) {
    if (!volt_optim_check_group(opt, group, "set_momentum")) return volt_error_status();
    char who[96];
    snprintf(who, sizeof who, "%s: set_momentum", opt->cls->name);
    volt_optim_hparams *hp = &opt->groups[group].hp;
    switch (opt->cls->momentum) {
    case VOLT_MOMENTUM_FIELD:
        if (!volt_optim_check_unit(who, "momentum", momentum, false)) return volt_error_status();
        hp->momentum = momentum;
        return VOLT_OK;
    case VOLT_MOMENTUM_BETA1:
        if (!volt_optim_check_unit(who, "beta1", momentum, false)) return volt_error_status();
        hp->beta1 = momentum;
        return VOLT_OK;
    default:
        return volt_error_set(VOLT_ERR_UNSUPPORTED, "%s: has no momentum or beta1", opt->cls->name);
    }
}

void volt_optimizer_zero_grad(volt_optimizer *opt) {
    if (opt) opt->vt->zero_grad(opt);
}

volt_status volt_optimizer_step(volt_optimizer *opt) {
    if (!opt) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "optimizer_step: optimizer is NULL");
    return opt->vt->step(opt);
}

int64_t volt_optimizer_step_count(const volt_optimizer *opt) { return opt ? opt->step_count : 0; }

volt_status volt_optimizer_set_compensated(volt_optimizer *opt, bool on) {
    if (!opt)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "optimizer_set_compensated: optimizer is NULL");
    opt->compensated = on;
    for (int64_t i = 0; !on && i < opt->n_params; i++) {
        volt_tensor **c = &opt->state[i].slot[opt->cls->n_slots];
        volt_tensor_free(*c);
        *c = NULL;
    }
    return VOLT_OK;
}

bool volt_optimizer_compensated(const volt_optimizer *opt) { return opt && opt->compensated; }

volt_state_dict *volt_optimizer_state_dict(volt_optimizer *opt, char **json) {
    if (json) *json = NULL;
    if (!opt || !json) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "optimizer_state_dict: NULL %s",
                       opt ? "json pointer" : "optimizer");
        return NULL;
    }
    return opt->vt->state_dict(opt, json);
}

volt_status volt_optimizer_load_state_dict(volt_optimizer *opt, const volt_state_dict *sd,
                                           const char *json) {
    if (!opt || !json)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "optimizer_load_state_dict: NULL %s",
                              opt ? "json" : "optimizer");
    return opt->vt->load_state_dict(opt, sd, json);
}

double volt_optim_initial_lr(const volt_optimizer *opt, int group) {
    return opt->groups[group].initial_lr;
}

void volt_optim_set_initial_lr(volt_optimizer *opt, int group, double lr) {
    opt->groups[group].initial_lr = lr;
}
