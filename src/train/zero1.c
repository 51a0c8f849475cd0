/* zero1.c: strategy "zero1" (ZeRO stage 1, sharded optimizer state) — each
 * parameter of the optimizer is owned by one rank (a greedy partition by
 * size); the gradients are reduce-scattered so that each rank holds the mean
 * gradient of the parameters it owns and none for the others (so its
 * optimizer updates, and keeps state for, only those), the updated
 * parameters are all-gathered after each step; gradient clipping by norm
 * over the ranks' shards; and the optimizer state gathered into its
 * unsharded form for checkpoints (and cut back to a rank's shard on
 * restore), so that a checkpoint loads at any world size and strategy.
 *
 * CUDA parameters (the "nccl" group): the buffers live on the group's
 * device, gradients and parameters go in and out through persistent views
 * of them with device copies, the reduce-scatter averages (MEAN: ncclAvg),
 * and the "had a gradient" flags are a CPU vector all-reduced through the
 * group's MPI side, so that nothing but the norm for clipping is read back
 * to the host.
 *
 * CPU bf16 or f16 parameters (precision "bf16-true"): MPI sums neither, so
 * the buffers are f32 ("wide"): gradients go in widened, each owned mean is
 * computed in f32 and rounded to the parameter's dtype once (as the ddp
 * reducer does), and the parameters travel widened through the same
 * persistent views as on CUDA (exact both ways). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "optim/cuda/optim_cuda.h" /* the gradient norm on CUDA */
#include "optim/optim_impl.h"      /* the optimizer's slot names; exact JSON */
#include "train/train_impl.h"

/* The flat buffers: rank r's partition is elements [r P, (r + 1) P) —
 * the data of the parameters it owns (in parameter order), then one flag
 * per owned parameter ("this rank had a gradient" for reduce_gradients),
 * then padding up to P, the largest partition. */
struct volt_zero1 {
    volt_process_group *pg;
    volt_optimizer *opt;
    int rank, world;
    int64_t n;
    volt_tensor **params; /* the optimizer's, borrowed */
    int *owner;
    int64_t *offset;      /* where parameter i's data starts in its owner's partition */
    int64_t *flag;        /* where its flag is */
    int64_t part;         /* P */
    volt_dtype dtype;     /* the buffers': the parameters', or f32 when wide */
    bool wide;            /* CPU bf16/f16 parameters in f32 buffers */
    volt_tensor *full;    /* [world P] */
    volt_tensor *mine;    /* this rank's slice of full (a view) */
    volt_tensor *shard;   /* [P]: what reduce_scatter delivers */
    bool cuda;            /* the parameters are on the group's GPU */
    volt_tensor **fullv;  /* CUDA or wide: parameter i's place in full (its shape) */
    volt_tensor **shardv; /* CUDA or wide: an owned parameter's place in shard */
    volt_tensor *flags;   /* CUDA: CPU f64 [n], 1 where this rank had a gradient */
};

static volt_status oom(void) {
    return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "zero1: out of memory");
}

int volt_zero1_owner(const volt_zero1 *z, int64_t i) {
    return z && i >= 0 && i < z->n ? z->owner[i] : -1;
}

volt_optimizer *volt_zero1_optimizer(const volt_zero1 *z) { return z ? z->opt : NULL; }

void volt_zero1_free(volt_zero1 *z) {
    if (!z) return;
    volt_tensor_free(z->mine);
    volt_tensor_free(z->full);
    volt_tensor_free(z->shard);
    for (int64_t i = 0; i < z->n; i++) {
        if (z->fullv) volt_tensor_free(z->fullv[i]);
        if (z->shardv) volt_tensor_free(z->shardv[i]);
    }
    free(z->fullv);
    free(z->shardv);
    volt_tensor_free(z->flags);
    free(z->owner);
    free(z->offset);
    free(z->flag);
    free(z->params);
    free(z);
}

/* ---------------------------------------------------------------- layout */

typedef struct {
    int64_t numel, index;
} by_size;

/* Largest first; equal sizes in parameter order (a total order: the
 * partition is the same on every rank). */
static int larger_first(const void *a, const void *b) {
    const by_size *x = a, *y = b;
    if (x->numel != y->numel) return x->numel > y->numel ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Each parameter to the least-loaded rank (the lowest on ties), largest
 * first; then the offsets within the partitions and P. */
static volt_status partition(volt_zero1 *z) {
    by_size *order = malloc((size_t)z->n * sizeof *order);
    int64_t *load = calloc((size_t)z->world, sizeof *load);
    int64_t *count = calloc((size_t)z->world, sizeof *count);
    if (!order || !load || !count) {
        free(order), free(load), free(count);
        return oom();
    }
    for (int64_t i = 0; i < z->n; i++) order[i] = (by_size){volt_tensor_numel(z->params[i]), i};
    qsort(order, (size_t)z->n, sizeof *order, larger_first);
    for (int64_t k = 0; k < z->n; k++) {
        int best = 0;
        for (int r = 1; r < z->world; r++)
            if (load[r] < load[best]) best = r;
        z->owner[order[k].index] = best;
        load[best] += order[k].numel;
    }
    /* load[r] is now the data of partition r: its flags follow it. */
    z->part = 0;
    for (int64_t i = 0; i < z->n; i++) {
        int r = z->owner[i];
        z->flag[i] = load[r] + count[r]++;
    }
    int64_t *cursor = calloc((size_t)z->world, sizeof *cursor);
    if (!cursor) {
        free(order), free(load), free(count);
        return oom();
    }
    for (int64_t i = 0; i < z->n; i++) {
        int r = z->owner[i];
        z->offset[i] = cursor[r];
        cursor[r] += volt_tensor_numel(z->params[i]);
    }
    for (int r = 0; r < z->world; r++)
        if (load[r] + count[r] > z->part) z->part = load[r] + count[r];
    free(order), free(load), free(count), free(cursor);
    return VOLT_OK;
}

/* The parameters are floating tensors (the optimizer checked), all of one
 * dtype (the buffers hold one), on the group's device. Sets the buffers'
 * dtype. */
static volt_status check_params(volt_zero1 *z) {
    char a[96], b[96];
    volt_dtype dtype = z->params[0]->dtype;
    volt_device dev = volt_process_group_device(z->pg);
    z->cuda = dev.type == VOLT_CUDA;
    for (int64_t i = 0; i < z->n; i++)
        if (!volt_device_equal(z->params[i]->device, dev))
            return volt_error_set(VOLT_ERR_DEVICE,
                                  "zero1: the optimizer's parameter %lld %s is on %s, but the %s "
                                  "group works on %s",
                                  (long long)i, volt_shape_str(z->params[i], a, sizeof a),
                                  z->params[i]->device.type == VOLT_CPU ? "the CPU" : "a GPU",
                                  volt_process_group_backend(z->pg),
                                  z->cuda ? "its GPU" : "the CPU");
    for (int64_t i = 1; i < z->n; i++)
        if (z->params[i]->dtype != dtype)
            return volt_error_set(VOLT_ERR_DTYPE,
                                  "zero1: the optimizer's parameter %lld is %s but parameter 0 is "
                                  "%s; zero1 needs one dtype for all of them",
                                  (long long)i, volt_shape_str(z->params[i], a, sizeof a),
                                  volt_shape_str(z->params[0], b, sizeof b));
    z->wide = !z->cuda && volt_dtype_is_16bit(dtype);
    z->dtype = z->wide ? VOLT_F32 : dtype;
    return VOLT_OK;
}

/* n zeros of the buffers' dtype on the parameters' device (current scope). */
static volt_tensor *zeros_like_params(const volt_zero1 *z, int64_t n) {
    if (!z->cuda) return volt_zeros(1, &n, z->dtype);
    volt_tensor *t = volt_tensor_new(z->dtype, z->params[0]->device, 1, &n);
    return t ? volt_zero_(t) : NULL;
}

/* A persistent view of `buf` at element `at` with parameter i's shape. */
static volt_tensor *param_view(const volt_zero1 *z, const volt_tensor *buf, int64_t i, int64_t at) {
    const volt_tensor *p = z->params[i];
    volt_tensor *v = volt_tensor_alias(buf, p->ndim, p->shape, NULL, buf->offset + at);
    return v ? volt_persist(v) : NULL;
}

/* CUDA or wide: the views; CUDA: the flags. */
static volt_status build_views(volt_zero1 *z) {
    z->fullv = calloc((size_t)z->n, sizeof *z->fullv);
    z->shardv = calloc((size_t)z->n, sizeof *z->shardv);
    if (!z->fullv || !z->shardv) return oom();
    for (int64_t i = 0; i < z->n; i++) {
        z->fullv[i] = param_view(z, z->full, i, (int64_t)z->owner[i] * z->part + z->offset[i]);
        if (!z->fullv[i]) return volt_error_status();
        if (z->owner[i] == z->rank && !(z->shardv[i] = param_view(z, z->shard, i, z->offset[i])))
            return volt_error_status();
    }
    if (!z->cuda) return VOLT_OK;
    z->flags = volt_tensor_new(VOLT_F64, VOLT_DEVICE_CPU, 1, (int64_t[]){z->n});
    return z->flags ? (volt_persist(z->flags), VOLT_OK) : volt_error_status();
}

static volt_status build(volt_zero1 *z) {
    size_t n = (size_t)z->n;
    z->owner = malloc(n * sizeof *z->owner);
    z->offset = malloc(n * sizeof *z->offset);
    z->flag = malloc(n * sizeof *z->flag);
    if (!z->owner || !z->offset || !z->flag) return oom();
    volt_status st = check_params(z);
    if (!st) st = partition(z);
    if (st) return st;
    volt_scope_begin();
    volt_tensor *full = zeros_like_params(z, z->world * z->part);
    volt_tensor *shard = zeros_like_params(z, z->part);
    volt_tensor *mine = full ? volt_tensor_alias(full, 1, (int64_t[]){z->part}, NULL,
                                                 full->offset + z->rank * z->part)
                             : NULL;
    if (full && shard && mine) {
        z->full = volt_persist(full);
        z->shard = volt_persist(shard);
        z->mine = volt_persist(mine);
    }
    volt_scope_end();
    if (!z->mine) return volt_error_status() ? volt_error_status() : oom();
    return z->cuda || z->wide ? build_views(z) : VOLT_OK;
}

/* FNV-1a over the dtype and shape of parameters [from, to), as a positive
 * int64 (so that its negation is one too). */
static int64_t shapes_hash(const volt_zero1 *z, int64_t from, int64_t to) {
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = from; i < to; i++) {
        const volt_tensor *p = z->params[i];
        int64_t words[2 + VOLT_MAX_DIMS] = {(int64_t)p->dtype, p->ndim};
        for (int d = 0; d < p->ndim; d++) words[2 + d] = p->shape[d];
        for (int w = 0; w < 2 + p->ndim; w++) h = (h ^ (uint64_t)words[w]) * 1099511628211ull;
    }
    return (int64_t)(h >> 2);
}

/* values[k] = min over ranks, in place. */
static volt_status min_over_ranks(volt_process_group *pg, int64_t *values, int64_t n) {
    volt_scope_begin();
    volt_tensor *t = volt_from_array(values, VOLT_I64, 1, (int64_t[]){n});
    volt_status st = t ? volt_dist_all_reduce(pg, t, VOLT_REDUCE_MIN) : volt_error_status();
    if (!st) memcpy(values, volt_tensor_data(t), (size_t)n * sizeof *values);
    volt_scope_end();
    return st;
}

/* Names the first parameter whose shape or dtype differs across ranks
 * (the counts agree). */
static volt_status explain_mismatch(volt_zero1 *z) {
    int64_t *v = malloc((size_t)(2 * z->n) * sizeof *v);
    if (!v) return oom();
    for (int64_t i = 0; i < z->n; i++) {
        v[2 * i] = shapes_hash(z, i, i + 1);
        v[2 * i + 1] = -v[2 * i];
    }
    volt_status st = min_over_ranks(z->pg, v, 2 * z->n);
    int64_t bad = 0;
    while (!st && bad < z->n - 1 && v[2 * bad] == -v[2 * bad + 1]) bad++;
    free(v);
    if (st) return st;
    char here[96];
    return volt_error_set(VOLT_ERR_SHAPE,
                          "zero1: the optimizer's parameter %lld (%s on rank %d) differs across "
                          "ranks in shape or dtype; every rank must build the same model and "
                          "optimizer",
                          (long long)bad, volt_shape_str(z->params[bad], here, sizeof here),
                          z->rank);
}

/* The collective half of creation: every rank learns whether every rank
 * built its state (`local`) and whether their parameters match. */
static volt_status check_layout(volt_zero1 *z, volt_status local) {
    int64_t h = local ? 0 : shapes_hash(z, 0, z->n), n = local ? 0 : z->n;
    int64_t v[5] = {local ? z->rank : z->world, n, -n, h, -h};
    volt_status st = min_over_ranks(z->pg, v, 5);
    if (st || local) return st ? st : local;
    if (v[0] < z->world)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "zero1: rank %lld could not set up (its error says why), so every "
                              "rank fails",
                              (long long)v[0]);
    if (v[1] != -v[2])
        return volt_error_set(VOLT_ERR_SHAPE,
                              "zero1: the ranks' optimizers have from %lld to %lld parameters "
                              "(%lld on rank %d); every rank must build the same model and "
                              "optimizer",
                              (long long)v[1], (long long)-v[2], (long long)z->n, z->rank);
    return v[3] == -v[4] ? VOLT_OK : explain_mismatch(z);
}

volt_zero1 *volt_zero1_new(volt_trainer *t, volt_optimizer *opt) {
    return volt_zero1_new_over(t ? t->pg : NULL, opt);
}

volt_zero1 *volt_zero1_new_over(volt_process_group *pg, volt_optimizer *opt) {
    if (!pg) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "zero1: no process group");
        return NULL;
    }
    volt_zero1 *z = calloc(1, sizeof *z);
    if (!z) {
        oom();
        return NULL;
    }
    z->pg = pg;
    z->rank = volt_process_group_rank(pg);
    z->world = volt_process_group_world_size(pg);
    z->opt = opt;
    volt_params ps = volt_optimizer_params(opt);
    volt_status local = VOLT_OK;
    if (!opt || ps.count <= 0)
        local = volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "zero1: no optimizer parameters");
    else if (!(z->params = malloc((size_t)ps.count * sizeof *z->params)))
        local = oom();
    if (!local) {
        memcpy(z->params, ps.tensors, (size_t)ps.count * sizeof *z->params);
        z->n = ps.count;
        local = build(z);
    }
    if (check_layout(z, local)) {
        volt_zero1_free(z);
        return NULL;
    }
    return z;
}

/* ------------------------------------------------------------ gradients */

static void *element(const volt_tensor *t, int64_t i) {
    return (char *)volt_tensor_data(t) + (size_t)i * volt_dtype_size(t->dtype);
}

static void set_element(volt_tensor *t, int64_t i, double v) {
    if (t->dtype == VOLT_F32)
        *(float *)element(t, i) = (float)v;
    else
        *(double *)element(t, i) = v;
}

/* Element i of a contiguous f32, f64 or bf16 tensor. */
static double get_element(const volt_tensor *t, int64_t i) {
    if (t->dtype == VOLT_BF16) return (double)volt_bf16_to_f32(*(const uint16_t *)element(t, i));
    return t->dtype == VOLT_F32 ? (double)*(const float *)element(t, i)
                                : *(const double *)element(t, i);
}

/* Parameter i's gradient into its owner's partition of `full`, flag 1. */
static volt_status pack_grad(volt_zero1 *z, int64_t i) {
    const volt_tensor *p = z->params[i], *g = p->grad;
    int64_t base = (int64_t)z->owner[i] * z->part, n = volt_tensor_numel(p);
    if (volt_tensor_numel(g) != n) {
        char ps[96], gs[96];
        return volt_error_set(VOLT_ERR_SHAPE, "zero1: parameter %lld %s has a gradient %s",
                              (long long)i, volt_shape_str(p, ps, sizeof ps),
                              volt_shape_str(g, gs, sizeof gs));
    }
    void *dst = element(z->full, base + z->offset[i]);
    volt_status st = VOLT_OK;
    if (g->dtype == z->dtype && volt_tensor_is_contiguous(g))
        memcpy(dst, volt_tensor_data(g), (size_t)n * volt_dtype_size(z->dtype));
    else
        st = volt_tensor_copy_to_array(g, z->dtype, dst);
    set_element(z->full, base + z->flag[i], 1.0);
    return st;
}

/* An owned parameter's gradient: the reduced sum / world size (wide: in
 * f32, then rounded once to the parameter's dtype), or none when no rank
 * had one. */
static volt_status write_grad(volt_zero1 *z, int64_t i) {
    volt_tensor *p = z->params[i], *g = p->grad;
    if (get_element(z->shard, z->flag[i]) < 0.5) {
        volt_tensor_clear_grad(p);
        return VOLT_OK;
    }
    int64_t n = volt_tensor_numel(p);
    if (!g || g->dtype != p->dtype || !volt_tensor_is_contiguous(g) || volt_tensor_numel(g) != n) {
        volt_tensor *fresh = volt_tensor_new(p->dtype, p->device, p->ndim, p->shape);
        if (!fresh) return volt_error_status();
        volt_persist(fresh); /* owned by the leaf, as backward's gradients are */
        volt_tensor_clear_grad(p);
        p->grad = g = fresh;
    }
    if (z->wide) {
        float *mean = element(z->shard, z->offset[i]), w = (float)z->world;
        for (int64_t k = 0; k < n; k++) mean[k] /= w;
        volt_no_grad_begin();
        volt_status st = volt_copy_(g, z->shardv[i]) ? VOLT_OK : volt_error_status();
        volt_no_grad_end();
        return st;
    }
    if (z->dtype == VOLT_F32) {
        const float *src = element(z->shard, z->offset[i]);
        float *dst = volt_tensor_data(g), w = (float)z->world;
        for (int64_t k = 0; k < n; k++) dst[k] = src[k] / w;
    } else {
        const double *src = element(z->shard, z->offset[i]);
        double *dst = volt_tensor_data(g), w = (double)z->world;
        for (int64_t k = 0; k < n; k++) dst[k] = src[k] / w;
    }
    volt_storage_bump_version(g->storage);
    return VOLT_OK;
}

/* CUDA: the gradients into full (device copies), reduce-scattered as a
 * mean, the flags summed on the CPU, the owned means copied back. */
static volt_status reduce_gradients_cuda(volt_zero1 *z) {
    volt_status local = volt_zero_(z->full) ? VOLT_OK : volt_error_status();
    double *flags = volt_tensor_data(z->flags);
    for (int64_t i = 0; i < z->n && !local; i++) {
        const volt_tensor *g = z->params[i]->grad;
        flags[i] = g ? 1.0 : 0.0;
        if (g && !volt_copy_(z->fullv[i], g)) local = volt_error_status();
    }
    /* A rank that failed still takes part (with no tensors). */
    volt_status st = volt_dist_reduce_scatter(z->pg, local ? NULL : z->shard,
                                              local ? NULL : z->full, VOLT_REDUCE_MEAN);
    volt_status fst = volt_dist_all_reduce(z->pg, local ? NULL : z->flags, VOLT_REDUCE_SUM);
    if (local || st || fst) return local ? local : st ? st : fst;
    for (int64_t i = 0; i < z->n && !st; i++) {
        volt_tensor *p = z->params[i], *g = p->grad;
        if (z->owner[i] != z->rank || flags[i] < 0.5) {
            volt_tensor_clear_grad(p);
            continue;
        }
        if (!g || g->dtype != p->dtype || !volt_tensor_is_contiguous(g) ||
            !volt_device_equal(g->device, p->device)) {
            volt_tensor *fresh = volt_tensor_new(p->dtype, p->device, p->ndim, p->shape);
            if (!fresh) return volt_error_status();
            volt_persist(fresh); /* owned by the leaf, as backward's gradients are */
            volt_tensor_clear_grad(p);
            p->grad = g = fresh;
        }
        if (!volt_copy_(g, z->shardv[i])) st = volt_error_status();
    }
    return st;
}

volt_status volt_zero1_reduce_gradients(volt_zero1 *z) {
    if (!z) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "zero1: reduce_gradients: NULL");
    if (z->cuda) return reduce_gradients_cuda(z);
    memset(volt_tensor_data(z->full), 0, (size_t)(z->world * z->part) * volt_dtype_size(z->dtype));
    volt_status local = VOLT_OK;
    for (int64_t i = 0; i < z->n && !local; i++)
        if (z->params[i]->grad) local = pack_grad(z, i);
    volt_storage_bump_version(z->full->storage);
    /* A rank that failed still takes part (with no tensor), so that every
     * rank fails instead of the others waiting for it. */
    volt_status st = volt_dist_reduce_scatter(z->pg, local ? NULL : z->shard,
                                              local ? NULL : z->full, VOLT_REDUCE_SUM);
    if (local || st) return local ? local : st;
    for (int64_t i = 0; i < z->n && !st; i++) {
        if (z->owner[i] == z->rank)
            st = write_grad(z, i);
        else
            volt_tensor_clear_grad(z->params[i]);
    }
    return st;
}

/* Sum of squares of g's elements, in double (as clip_grad_norm). */
static double sum_squares(const volt_tensor *g) {
    double acc = 0;
    int64_t n = volt_tensor_numel(g);
    bool flat = volt_tensor_is_contiguous(g) &&
                (g->dtype == VOLT_F32 || g->dtype == VOLT_F64 || g->dtype == VOLT_BF16);
    for (int64_t k = 0; k < n; k++) {
        double a = flat ? get_element(g, k) : volt_tensor_get_flat(g, k);
        acc += a * a;
    }
    return acc;
}

/* CUDA: the sum of squares of the owned gradients (one launch, one read
 * back). */
static volt_status sum_squares_cuda(const volt_zero1 *z, double *acc) {
    volt_tensor **grads = malloc((size_t)z->n * sizeof *grads);
    if (!grads) return oom();
    int64_t k = 0;
    for (int64_t i = 0; i < z->n; i++)
        if (z->owner[i] == z->rank && z->params[i]->grad) grads[k++] = z->params[i]->grad;
    volt_status st = k ? volt_optim_cuda_norm(grads, k, 2.0, acc) : VOLT_OK;
    free(grads);
    return st;
}

volt_status volt_zero1_clip_grad_norm(volt_zero1 *z, double max_norm, double *total_norm) {
    if (!z) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "zero1: clip_grad_norm: NULL");
    double acc = 0;
    volt_status norm_st = z->cuda ? sum_squares_cuda(z, &acc) : VOLT_OK;
    for (int64_t i = 0; i < z->n && !z->cuda; i++)
        if (z->owner[i] == z->rank && z->params[i]->grad) acc += sum_squares(z->params[i]->grad);
    volt_status local = norm_st ? norm_st
                        : max_norm >= 0
                            ? VOLT_OK
                            : volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                             "clip_grad_norm: invalid max_norm %g (must "
                                             "be >= 0)",
                                             max_norm);
    volt_scope_begin();
    volt_tensor *sum = local ? NULL : volt_from_array(&acc, VOLT_F64, 1, (int64_t[]){1});
    volt_status st = volt_dist_all_reduce(z->pg, sum, VOLT_REDUCE_SUM);
    if (!st) acc = *(const double *)volt_tensor_data(sum);
    volt_scope_end();
    if (local || st) return local ? local : st;
    double total = sqrt(acc), coef = max_norm / (total + 1e-6);
    if (total_norm) *total_norm = total;
    if (coef >= 1.0) return VOLT_OK;
    volt_no_grad_begin();
    for (int64_t i = 0; i < z->n && !st; i++)
        if (z->owner[i] == z->rank && z->params[i]->grad &&
            !volt_mul_scalar_(z->params[i]->grad, coef))
            st = volt_error_status();
    volt_no_grad_end();
    return st;
}

/* ----------------------------------------------------------- parameters */

/* CUDA or wide: the owned parameters into this rank's partition, the
 * all-gather, the others' back into the parameters (copies through the
 * views, widening and narrowing when wide; no autograd). */
static volt_status gather_through_views(volt_zero1 *z) {
    volt_status st = VOLT_OK;
    volt_no_grad_begin();
    for (int64_t i = 0; i < z->n && !st; i++)
        if (z->owner[i] == z->rank && !volt_copy_(z->fullv[i], z->params[i]))
            st = volt_error_status();
    volt_no_grad_end();
    /* A rank that failed still takes part (with no tensors). */
    volt_status gst = volt_dist_all_gather(z->pg, st ? NULL : z->full, st ? NULL : z->mine);
    if (st || gst) return st ? st : gst;
    volt_no_grad_begin();
    for (int64_t i = 0; i < z->n && !st; i++)
        if (z->owner[i] != z->rank && !volt_copy_(z->params[i], z->fullv[i]))
            st = volt_error_status();
    volt_no_grad_end();
    return st;
}

volt_status volt_zero1_gather_parameters(volt_zero1 *z) {
    if (!z) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "zero1: gather_parameters: NULL");
    if (z->cuda || z->wide) return gather_through_views(z);
    size_t es = volt_dtype_size(z->dtype);
    for (int64_t i = 0; i < z->n; i++)
        if (z->owner[i] == z->rank)
            memcpy(element(z->mine, z->offset[i]), volt_tensor_data(z->params[i]),
                   (size_t)volt_tensor_numel(z->params[i]) * es);
    volt_status st = volt_dist_all_gather(z->pg, z->full, z->mine);
    if (st) return st;
    for (int64_t i = 0; i < z->n; i++) {
        if (z->owner[i] == z->rank) continue;
        volt_tensor *p = z->params[i];
        memcpy(volt_tensor_data(p), element(z->full, (int64_t)z->owner[i] * z->part + z->offset[i]),
               (size_t)volt_tensor_numel(p) * es);
        volt_storage_bump_version(p->storage);
    }
    return VOLT_OK;
}

/* ---------------------------------------------------------- checkpoints */

/* "state.<i>.<slot>" -> i and the slot's index in the optimizer's class;
 * false for another name. */
static bool parse_state_name(const volt_zero1 *z, const char *name, int64_t *i, int *slot) {
    long long j;
    int off = 0;
    if (!name || sscanf(name, "state.%lld.%n", &j, &off) != 1 || off == 0 || j < 0 || j >= z->n)
        return false;
    *i = j;
    for (int s = 0; s < volt_optim_n_state(z->opt->cls); s++)
        if (strcmp(name + off, volt_optim_state_name(z->opt->cls, s)) == 0) {
            *slot = s;
            return true;
        }
    return false;
}

/* The owned parameters' step counts and slot masks from this rank's state
 * (info[2 i], info[2 i + 1]; zero elsewhere). */
static volt_status local_info(const volt_zero1 *z, const volt_state_dict *sd, const cJSON *root,
                              int64_t *info) {
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "state"), *e;
    cJSON_ArrayForEach(e, state) {
        long long i = strtoll(e->string, NULL, 10);
        int64_t step = 0;
        if (i >= 0 && i < z->n && z->owner[i] == z->rank &&
            volt_json_get_int(cJSON_GetObjectItemCaseSensitive(e, "step"), &step))
            info[2 * i] = step;
    }
    for (int64_t k = 0; k < sd->count; k++) {
        int64_t i;
        int s;
        if (!parse_state_name(z, sd->names[k], &i, &s) || z->owner[i] != z->rank)
            return volt_error_set(VOLT_ERR_INTERNAL, "zero1: state_dict: unexpected tensor '%s'",
                                  sd->names[k]);
        info[2 * i + 1] |= (int64_t)1 << s;
    }
    return VOLT_OK;
}

/* The "state" object of the unsharded optimizer: {"<i>": {"step": n}} for
 * every parameter that stepped, in parameter order. */
static cJSON *full_state_json(const volt_zero1 *z, const int64_t *info) {
    cJSON *state = cJSON_CreateObject();
    for (int64_t i = 0; state && i < z->n; i++) {
        if (info[2 * i] <= 0) continue;
        char key[32], step[32];
        snprintf(key, sizeof key, "%lld", (long long)i);
        snprintf(step, sizeof step, "%lld", (long long)info[2 * i]);
        cJSON *entry = cJSON_AddObjectToObject(state, key);
        if (!entry || !cJSON_AddRawToObject(entry, "step", step)) {
            cJSON_Delete(state);
            return NULL;
        }
    }
    return state;
}

/* Tensor `name` (a slot of parameter i) from its owner into out: this
 * rank's own tensor, a new one in the current scope on rank 0; other ranks
 * receive it and drop it. A rank that fails locally passes no tensor, which
 * fails the broadcast on every rank. */
static volt_status fetch_slot(volt_zero1 *z, const volt_state_dict *local, int64_t i,
                              const char *name, volt_state_dict *out) {
    const volt_tensor *p = z->params[i];
    volt_tensor *t = z->owner[i] == z->rank ? volt_state_dict_get(local, name) : NULL;
    bool keep = t || z->rank == 0;
    char *copy = keep ? strdup(name) : NULL;
    if (!keep) volt_scope_begin();
    if (!t && (copy || !keep)) t = volt_tensor_new(p->dtype, p->device, p->ndim, p->shape);
    volt_status st = volt_dist_broadcast(z->pg, keep && !copy ? NULL : t, z->owner[i]);
    if (!keep) volt_scope_end();
    if (!st && keep) {
        out->names[out->count] = copy;
        out->tensors[out->count++] = t;
    } else {
        free(copy);
    }
    return st;
}

/* Every slot tensor, in parameter and slot order, from its owner. */
static volt_status gather_slots(volt_zero1 *z, const volt_state_dict *local, const int64_t *info,
                                volt_state_dict *out) {
    volt_status st = VOLT_OK;
    for (int64_t i = 0; i < z->n && !st; i++)
        for (int s = 0; s < volt_optim_n_state(z->opt->cls) && !st; s++) {
            if (!(info[2 * i + 1] & ((int64_t)1 << s))) continue;
            char name[96];
            snprintf(name, sizeof name, "state.%lld.%s", (long long)i,
                     volt_optim_state_name(z->opt->cls, s));
            st = fetch_slot(z, local, i, name, out);
        }
    return st;
}

volt_state_dict *volt_zero1_state_dict(volt_zero1 *z, char **json) {
    if (!z || !json) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "zero1: state_dict: NULL");
        return NULL;
    }
    *json = NULL;
    char *text = NULL;
    volt_state_dict *local = volt_optimizer_state_dict(z->opt, &text);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    int64_t *info = calloc((size_t)(2 * z->n), sizeof *info);
    volt_status st = !local ? volt_error_status() : !root || !info ? oom() : VOLT_OK;
    if (!st) st = local_info(z, local, root, info);
    /* Steps and masks to every rank (a failed rank sends no tensor, which
     * fails the collective everywhere). */
    volt_scope_begin();
    volt_tensor *all = st ? NULL : volt_from_array(info, VOLT_I64, 1, (int64_t[]){2 * z->n});
    volt_status cst = volt_dist_all_reduce(z->pg, all, VOLT_REDUCE_SUM);
    if (!st && !cst) memcpy(info, volt_tensor_data(all), (size_t)(2 * z->n) * sizeof *info);
    volt_scope_end();
    if (!st) st = cst;
    int64_t total = 0;
    for (int64_t i = 0; !st && i < z->n; i++)
        for (int s = 0; s < volt_optim_n_state(z->opt->cls); s++)
            total += (info[2 * i + 1] >> s) & 1;
    volt_state_dict *out = st ? NULL : calloc(1, sizeof *out);
    if (out) {
        out->names = calloc((size_t)total + 1, sizeof *out->names);
        out->tensors = calloc((size_t)total + 1, sizeof *out->tensors);
    }
    if (!st && (!out || !out->names || !out->tensors)) st = oom();
    if (!st) st = gather_slots(z, local, info, out); /* the tensors stay valid: see the header */
    cJSON *state = st ? NULL : full_state_json(z, info);
    if (!st && (!state || !cJSON_ReplaceItemInObjectCaseSensitive(root, "state", state))) {
        cJSON_Delete(state);
        st = oom();
    }
    if (!st && !(*json = volt_json_print(root))) st = oom();
    volt_state_dict_free(local);
    cJSON_Delete(root);
    free(info);
    if (!st) return out;
    volt_state_dict_free(out);
    return NULL;
}

volt_status volt_zero1_keep_owned(const volt_zero1 *z, volt_state_dict *sd, cJSON *optimizer) {
    if (!z || !sd || !optimizer)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "zero1: keep_owned: NULL");
    int64_t kept = 0;
    for (int64_t k = 0; k < sd->count; k++) {
        int64_t i;
        int s;
        if (parse_state_name(z, sd->names[k], &i, &s) && z->owner[i] != z->rank) {
            free(sd->names[k]);
            if (sd->owns_tensors) volt_tensor_free(sd->tensors[k]);
            continue;
        }
        sd->names[kept] = sd->names[k]; /* the optimizer's load judges the others */
        sd->tensors[kept++] = sd->tensors[k];
    }
    sd->count = kept;
    cJSON *state = cJSON_GetObjectItemCaseSensitive(optimizer, "state");
    for (cJSON *e = state ? state->child : NULL, *next; e; e = next) {
        next = e->next;
        char *end;
        long long i = strtoll(e->string, &end, 10);
        if (!*end && end != e->string && i >= 0 && i < z->n && z->owner[i] != z->rank)
            cJSON_Delete(cJSON_DetachItemViaPointer(state, e));
    }
    return VOLT_OK;
}
