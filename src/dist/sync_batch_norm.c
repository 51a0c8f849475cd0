/* sync_batch_norm.c: synchronized batch normalization (volt/dist.h, "sync
 * batch norm") — the op volt_sync_batch_norm and its autograd node: local
 * per-channel statistics all-gathered and combined in rank order in
 * forward, the gradient sums all-reduced in backward — and
 * volt_sync_batch_norm_convert, which installs the op in the batch norm
 * layers through their train_fn (volt/nn.h). Loops run in double, one
 * channel per thread, like the reference kernels of ops/cpu/batch_norm_ref.c
 * (same formulas, so one rank's results match them). A bf16 x (precision
 * "bf16-true") runs through f32 as volt_batch_norm's does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/sync_batch_norm_impl.h"
#include "ops/conv_impl.h"
#include "ops/cpu/cpu_kernels.h"
#include "volt/nn.h"

#define OP "sync_batch_norm"
#define SERIAL_WORK 65536

/* x seen as contiguous [n, c, s] (s: the product of the spatial sizes). */
typedef struct {
    int64_t n, c, s;
} bn_shape;

/* What the node keeps beside its saved tensors. */
typedef struct {
    volt_process_group *pg;
} node_ctx;

/* Offset of element [k, ch, 0]. */
#define AT(g, k, ch) (((k) * (g)->c + (ch)) * (g)->s)
#define PARALLEL_IF(g) ((g)->n * (g)->c * (g)->s > SERIAL_WORK)

static inline double load(const void *p, volt_dtype dt, int64_t i) {
    return dt == VOLT_F64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static inline void store(void *p, volt_dtype dt, int64_t i, double v) {
    if (dt == VOLT_F64)
        ((double *)p)[i] = v;
    else
        ((float *)p)[i] = (float)v;
}

/* ---------------------------------------------------------------- kernels */

/* Per channel: the mean of this rank's values (0 for none) and the sum of
 * squared deviations from it (two passes). */
static void local_stats(const bn_shape *g, const void *x, volt_dtype dt, double *mean, double *m2) {
    double count = (double)(g->n * g->s);
#pragma omp parallel for if (PARALLEL_IF(g)) num_threads(volt_get_num_threads())
    for (int64_t ch = 0; ch < g->c; ch++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t k = 0; k < g->n; k++)
            for (int64_t i = 0; i < g->s; i++) sum += load(x, dt, AT(g, k, ch) + i);
        double m = count > 0 ? sum / count : 0.0;
        for (int64_t k = 0; k < g->n; k++)
            for (int64_t i = 0; i < g->s; i++) {
                double d = load(x, dt, AT(g, k, ch) + i) - m;
                sq += d * d;
            }
        mean[ch] = m;
        m2[ch] = sq;
    }
}

/* y = (x - mean) / sqrt(var + eps) * w + b (w, b may be NULL). */
static void normalize(const bn_shape *g, const void *x, void *y, volt_dtype dt, const double *mean,
                      const double *var, const void *w, const void *b, double eps) {
#pragma omp parallel for if (PARALLEL_IF(g)) num_threads(volt_get_num_threads())
    for (int64_t ch = 0; ch < g->c; ch++) {
        double inv = 1.0 / sqrt(var[ch] + eps), a = w ? load(w, dt, ch) * inv : inv;
        double shift = (b ? load(b, dt, ch) : 0.0) - mean[ch] * a;
        for (int64_t k = 0; k < g->n; k++)
            for (int64_t i = 0; i < g->s; i++) {
                int64_t at = AT(g, k, ch) + i;
                store(y, dt, at, load(x, dt, at) * a + shift);
            }
    }
}

/* Per channel: sums[ch] = sum(dy), sums[c + ch] = sum(dy * xhat). */
static void grad_sums(const bn_shape *g, const void *x, const void *gy, volt_dtype dt,
                      const double *mean, const double *var, double eps, double *sums) {
#pragma omp parallel for if (PARALLEL_IF(g)) num_threads(volt_get_num_threads())
    for (int64_t ch = 0; ch < g->c; ch++) {
        double inv = 1.0 / sqrt(var[ch] + eps), m = mean[ch];
        double sum_g = 0.0, sum_gxhat = 0.0;
        for (int64_t k = 0; k < g->n; k++)
            for (int64_t i = 0; i < g->s; i++) {
                int64_t at = AT(g, k, ch) + i;
                double d = load(gy, dt, at);
                sum_g += d;
                sum_gxhat += d * (load(x, dt, at) - m) * inv;
            }
        sums[ch] = sum_g;
        sums[g->c + ch] = sum_gxhat;
    }
}

/* gx = w / sqrt(var + eps) * (dy - (sum(dy) + xhat sum(dy xhat)) / total)
 * with the sums over every rank (`sums`, as grad_sums lays them out). */
static void grad_input(const bn_shape *g, const void *x, const void *gy, void *gx, volt_dtype dt,
                       const double *mean, const double *var, const void *w, double eps,
                       double total, const double *sums) {
#pragma omp parallel for if (PARALLEL_IF(g)) num_threads(volt_get_num_threads())
    for (int64_t ch = 0; ch < g->c; ch++) {
        double inv = 1.0 / sqrt(var[ch] + eps), m = mean[ch];
        double scale = (w ? load(w, dt, ch) : 1.0) * inv;
        double sum_g = sums[ch], sum_gxhat = sums[g->c + ch];
        for (int64_t k = 0; k < g->n; k++)
            for (int64_t i = 0; i < g->s; i++) {
                int64_t at = AT(g, k, ch) + i;
                double d = load(gy, dt, at), xhat = (load(x, dt, at) - m) * inv;
                d -= (sum_g + xhat * sum_gxhat) / total;
                store(gx, dt, at, scale * d);
            }
    }
}

/* ------------------------------------------------------------- statistics */

/* The packed statistics of one rank: [count, mean[c], m2[c]]. */
static void pack_stats(const bn_shape *g, const volt_tensor *x3, double *packed) {
    packed[0] = (double)(g->n * g->s);
    local_stats(g, volt_tensor_data(x3), x3->dtype, packed + 1, packed + 1 + g->c);
}

/* Combines the ranks' packed statistics in rank order (Chan, Golub and
 * LeVeque's pairwise update), the same arithmetic on every rank: the global
 * mean and biased variance per channel; returns the total count. */
static double combine_stats(const double *all, int world, int64_t c, double *mean, double *var) {
    double total = 0.0;
    for (int r = 0; r < world; r++) total += all[r * (2 * c + 1)];
    for (int64_t ch = 0; ch < c; ch++) {
        double n = 0.0, m = 0.0, m2 = 0.0;
        for (int r = 0; r < world; r++) {
            const double *p = all + r * (2 * c + 1);
            double nb = p[0], mb = p[1 + ch], m2b = p[1 + c + ch];
            if (nb <= 0) continue;
            if (n == 0) {
                n = nb, m = mb, m2 = m2b;
                continue;
            }
            double delta = mb - m, sum = n + nb;
            m += delta * (nb / sum);
            m2 += m2b + delta * delta * (n * nb / sum);
            n = sum;
        }
        mean[ch] = m;
        var[ch] = total > 0 ? m2 / total : 0.0;
    }
    return total;
}

/* r = (1 - momentum) r + momentum factor s, in place (s: [C] f64). */
static bool update_running(volt_tensor *r, const double *s, double momentum, double factor) {
    volt_tensor *next = volt_tensor_new(r->dtype, r->device, 1, r->shape);
    if (!next) return false;
    for (int64_t i = 0; i < r->shape[0]; i++)
        store(volt_tensor_data(next), r->dtype, i,
              (1.0 - momentum) * volt_tensor_get_flat(r, i) + momentum * factor * s[i]);
    volt_cpu_copy(r, next);
    volt_storage_bump_version(r->storage);
    volt_tensor_free(next);
    return true;
}

/* ------------------------------------------------------------- validation */

/* Prefixes the recorded error with "sync_batch_norm: ", for errors of the
 * collectives (called only when none was recorded before them). */
static void prefix_error(void) {
    char msg[512];
    const char *text = volt_error_message();
    if (strncmp(text, "volt: ", 6) == 0) text += 6;
    snprintf(msg, sizeof msg, "%s", text);
    volt_status st = volt_error_status();
    volt_error_clear();
    volt_error_set(st, "%s: %s", OP, msg);
}

static bool check_channel_tensor(const volt_tensor *x, const volt_tensor *t, const char *name) {
    if (!t) return true;
    char bx[96], bt[96];
    if (!volt_check_same_device(OP, x, t)) return false;
    if (t->dtype != x->dtype || t->ndim != 1 || t->shape[0] != x->shape[1]) {
        volt_error_set(t->dtype != x->dtype ? VOLT_ERR_DTYPE : VOLT_ERR_SHAPE,
                       "%s: input %s: %s %s should be %s[%lld]", OP,
                       volt_shape_str(x, bx, sizeof bx), name, volt_shape_str(t, bt, sizeof bt),
                       volt_dtype_name(x->dtype), (long long)x->shape[1]);
        return false;
    }
    return true;
}

/* This rank's arguments (the count per channel is checked over all ranks
 * later). */
static bool check_args(volt_process_group *pg, const volt_tensor *x, const volt_tensor *rm,
                       const volt_tensor *rv, const volt_tensor *w, const volt_tensor *b,
                       double momentum, double eps) {
    if (!pg) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: process group is NULL", OP);
        return false;
    }
    if (!volt_check_not_null(OP, x, "x") || !volt_check_device_supported(OP, x) ||
        !volt_check_f32_f64(OP, x))
        return false;
    char bx[96];
    volt_shape_only(x, bx, sizeof bx);
    if (x->ndim < 2) {
        volt_error_set(VOLT_ERR_SHAPE, "%s: input %s: expected [N, C, ...] (2-D or more)", OP, bx);
        return false;
    }
    if (!check_channel_tensor(x, rm, "running_mean") ||
        !check_channel_tensor(x, rv, "running_var") || !check_channel_tensor(x, w, "weight") ||
        !check_channel_tensor(x, b, "bias"))
        return false;
    if (!rm != !rv) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: input %s: running_mean and running_var go together", OP, bx);
        return false;
    }
    if (!(eps >= 0) || !isfinite(eps) || (rm && !isfinite(momentum))) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "%s: input %s: eps %g / momentum %g (eps must be >= 0, momentum finite)", OP,
                       bx, eps, momentum);
        return false;
    }
    return true;
}

/* --------------------------------------------------------------- backward */

/* Saved: 0 x (dense [n, c, s]), 1 mean, 2 biased var (f64 [c], over every
 * rank), 3 weight (if any); iargs[0..2] = n, c, s; args[0] = eps, args[1]
 * = the count per channel over every rank; extra: node_ctx. */
static volt_status sync_batch_norm_backward(volt_node *node, volt_tensor *g, volt_tensor **grads) {
    VOLT_TRACE_OP("sync_batch_norm_backward");
    bn_shape sh = {node->iargs[0], node->iargs[1], node->iargs[2]};
    volt_process_group *pg = ((node_ctx *)node->extra)->pg;
    volt_tensor *x = volt_node_saved(node, 0);
    const double *mean = volt_tensor_data(volt_node_saved(node, 1));
    const double *var = volt_tensor_data(volt_node_saved(node, 2));
    volt_tensor *w = node->n_saved > 3 ? volt_node_saved(node, 3) : NULL;
    double eps = node->args[0], total = node->args[1];
    bool need_x = node->inputs[0].needs;
    const volt_tensor *gd = volt_as_dtype(g, x->dtype);
    volt_tensor *g3 = gd ? volt_dense_as(gd, 3, x->shape) : NULL;
    volt_tensor *sums = volt_tensor_new(VOLT_F64, x->device, 1, (int64_t[]){2 * sh.c});
    volt_tensor *gw = volt_tensor_new(x->dtype, x->device, 1, (int64_t[]){sh.c});
    volt_tensor *gb = volt_tensor_new(x->dtype, x->device, 1, (int64_t[]){sh.c});
    volt_tensor *gx = need_x ? volt_tensor_new(x->dtype, x->device, 3, x->shape) : NULL;
    bool ok = g3 && sums && gw && gb && (gx || !need_x);
    double *s = ok ? volt_tensor_data(sums) : NULL;
    if (ok) {
        grad_sums(&sh, volt_tensor_data(x), volt_tensor_data(g3), x->dtype, mean, var, eps, s);
        for (int64_t ch = 0; ch < sh.c; ch++) {
            store(volt_tensor_data(gb), x->dtype, ch, s[ch]);
            store(volt_tensor_data(gw), x->dtype, ch, s[sh.c + ch]);
        }
    }
    volt_status st = ok ? VOLT_OK : volt_error_status();
    if (need_x) {
        /* Even after a local failure, so that the other ranks fail too. */
        bool clean = ok && volt_error_status() == VOLT_OK;
        volt_status reduced = volt_dist_all_reduce(pg, ok ? sums : NULL, VOLT_REDUCE_SUM);
        if (clean && reduced != VOLT_OK) prefix_error();
        if (ok) st = reduced;
        if (st == VOLT_OK)
            grad_input(&sh, volt_tensor_data(x), volt_tensor_data(g3), volt_tensor_data(gx),
                       x->dtype, mean, var, w ? volt_tensor_data(w) : NULL, eps, total, s);
    }
    if (st == VOLT_OK) {
        const volt_node_input *in = &node->inputs[0];
        grads[0] = need_x ? volt_tensor_alias(gx, in->ndim, in->shape, NULL, gx->offset) : NULL;
        grads[1] = node->inputs[1].needs ? gw : NULL;
        grads[2] = node->inputs[2].needs ? gb : NULL;
    }
    volt_tensor_free(g3);
    volt_tensor_free(sums);
    volt_tensor_free(gx);
    if (st != VOLT_OK || !grads[1]) volt_tensor_free(gw);
    if (st != VOLT_OK || !grads[2]) volt_tensor_free(gb);
    return st;
}

/* ---------------------------------------------------------------- forward */

/* Records the node of `out`; false (error recorded) when out of memory. */
static bool record(volt_process_group *pg, volt_tensor *out, const volt_tensor *x,
                   const volt_tensor *weight, const volt_tensor *bias, volt_tensor *x3,
                   volt_tensor *mean, volt_tensor *var, volt_tensor *w1, const bn_shape *sh,
                   double eps, double total) {
    const volt_tensor *inputs[3] = {x, weight, bias};
    if (!volt_autograd_should_record(3, inputs)) return true;
    node_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", OP);
        return false;
    }
    ctx->pg = pg;
    volt_node *node = volt_autograd_record(OP, sync_batch_norm_backward, out, 3, inputs);
    if (!node) {
        free(ctx);
        return false;
    }
    node->extra = ctx;
    volt_node_save(node, x3);
    volt_node_save(node, mean);
    volt_node_save(node, var);
    if (w1) volt_node_save(node, w1);
    node->iargs[0] = sh->n, node->iargs[1] = sh->c, node->iargs[2] = sh->s;
    node->args[0] = eps, node->args[1] = total;
    return true;
}

/* The global statistics into mean and var (f64 [c]): this rank's packed
 * into a [2c + 1] tensor, all-gathered, combined. Returns the total count
 * per channel, or -1 with the error recorded. `ok`: whether this rank's
 * arguments were valid (it takes part in the collective anyway). */
static double global_stats(volt_process_group *pg, const bn_shape *sh, const volt_tensor *x3,
                           bool ok, volt_tensor *mean, volt_tensor *var) {
    int world = volt_process_group_world_size(pg);
    volt_tensor *mine =
        ok ? volt_tensor_new(VOLT_F64, x3->device, 1, (int64_t[]){2 * sh->c + 1}) : NULL;
    volt_tensor *all =
        mine ? volt_tensor_new(VOLT_F64, x3->device, 2, (int64_t[]){world, 2 * sh->c + 1}) : NULL;
    bool clean = all && volt_error_status() == VOLT_OK;
    if (all) pack_stats(sh, x3, volt_tensor_data(mine));
    volt_status st = volt_dist_all_gather(pg, all, mine);
    if (st != VOLT_OK && clean) prefix_error();
    double total = -1;
    if (st == VOLT_OK)
        total = combine_stats(volt_tensor_data(all), world, sh->c, volt_tensor_data(mean),
                              volt_tensor_data(var));
    volt_tensor_free(mine);
    volt_tensor_free(all);
    return total;
}

/* volt_sync_batch_norm_train as a volt_batch_norm_train_fn (ctx: the group). */
static volt_tensor *train_on(void *pg, const volt_tensor *x, volt_tensor *running_mean,
                             volt_tensor *running_var, const volt_tensor *weight,
                             const volt_tensor *bias, double momentum, double eps) {
    return volt_sync_batch_norm_train(pg, x, running_mean, running_var, weight, bias, momentum,
                                      eps);
}

volt_tensor *volt_sync_batch_norm_train(volt_process_group *pg, const volt_tensor *x,
                                        volt_tensor *running_mean, volt_tensor *running_var,
                                        const volt_tensor *weight, const volt_tensor *bias,
                                        double momentum, double eps) {
    if (pg && x && x->dtype == VOLT_BF16 && x->device.type == VOLT_CPU)
        return volt_batch_norm_bf16(train_on, pg, x, running_mean, running_var, weight, bias, true,
                                    momentum, eps);
    VOLT_TRACE_OP("sync_batch_norm");
    bool ok = check_args(pg, x, running_mean, running_var, weight, bias, momentum, eps);
    if (!pg) return NULL;
    bn_shape sh = {0, 0, 0};
    if (ok) {
        sh.n = x->shape[0], sh.c = x->shape[1];
        sh.s = sh.n && sh.c ? volt_tensor_numel(x) / sh.n / sh.c : 0;
    }
    int64_t shape3[3] = {sh.n, sh.c, sh.s}, cs[1] = {sh.c};
    volt_tensor *x3 = ok ? volt_dense_as(x, 3, shape3) : NULL;
    volt_tensor *w1 = ok && weight ? volt_dense_as(weight, 1, cs) : NULL;
    volt_tensor *b1 = ok && bias ? volt_dense_as(bias, 1, cs) : NULL;
    volt_tensor *mean = ok ? volt_tensor_new(VOLT_F64, x->device, 1, cs) : NULL;
    volt_tensor *var = ok ? volt_tensor_new(VOLT_F64, x->device, 1, cs) : NULL;
    volt_tensor *y = ok ? volt_tensor_new(x->dtype, x->device, 3, shape3) : NULL;
    ok = ok && x3 && (w1 || !weight) && (b1 || !bias) && mean && var && y;
    double total = global_stats(pg, &sh, x3, ok, mean, var);
    ok = ok && total >= 0;
    if (ok && total <= 1) {
        char bx[96];
        volt_error_set(VOLT_ERR_SHAPE,
                       "%s: input %s: expected more than 1 value per channel when training "
                       "(%.0f over %d rank%s)",
                       OP, volt_shape_str(x, bx, sizeof bx), total,
                       volt_process_group_world_size(pg),
                       volt_process_group_world_size(pg) == 1 ? "" : "s");
        ok = false;
    }
    if (ok) {
        const double *m = volt_tensor_data(mean), *v = volt_tensor_data(var);
        normalize(&sh, volt_tensor_data(x3), volt_tensor_data(y), x->dtype, m, v,
                  w1 ? volt_tensor_data(w1) : NULL, b1 ? volt_tensor_data(b1) : NULL, eps);
        /* The unbiased variance uses the count over every rank. */
        if (running_mean)
            ok = update_running(running_mean, m, momentum, 1.0) &&
                 update_running(running_var, v, momentum, total / (total - 1.0));
    }
    volt_tensor *out = ok ? volt_tensor_alias(y, x->ndim, x->shape, NULL, y->offset) : NULL;
    if (out && !record(pg, out, x, weight, bias, x3, mean, var, w1, &sh, eps, total)) {
        volt_tensor_free(out);
        out = NULL;
    }
    volt_tensor *temps[6] = {x3, w1, b1, mean, var, y};
    for (int i = 0; i < 6; i++) volt_tensor_free(temps[i]);
    return out;
}

/* --------------------------------------------------------------------- API */

volt_tensor *volt_sync_batch_norm(volt_process_group *pg, const volt_tensor *x,
                                  volt_tensor *running_mean, volt_tensor *running_var,
                                  const volt_tensor *weight, const volt_tensor *bias, bool training,
                                  double momentum, double eps) {
    if (!training || !pg || volt_process_group_world_size(pg) <= 1)
        return volt_batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
    return volt_sync_batch_norm_train(pg, x, running_mean, running_var, weight, bias, momentum,
                                      eps);
}

/* The layers' train_fn (volt_batch_norm_train_fn); ctx: the group. */
static volt_tensor *sync_train_fn(void *ctx, const volt_tensor *x, volt_tensor *running_mean,
                                  volt_tensor *running_var, const volt_tensor *weight,
                                  const volt_tensor *bias, double momentum, double eps) {
    return volt_sync_batch_norm((volt_process_group *)ctx, x, running_mean, running_var, weight,
                                bias, true, momentum, eps);
}

volt_status volt_sync_batch_norm_convert(volt_module *m, volt_process_group *pg) {
    if (!m)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "volt_sync_batch_norm_convert: module is NULL");
    bool sync = pg && volt_process_group_world_size(pg) > 1;
    volt_batch_norm_set_train_fn(m, sync ? sync_train_fn : NULL, sync ? pg : NULL);
    return VOLT_OK;
}
