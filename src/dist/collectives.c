/* collectives.c: the public collectives — argument validation, the
 * agreement check across ranks (volt/dist.h), and starting the backend's
 * collective as a volt_work; the blocking forms wait on it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "dist/dist_impl.h"

/* What one rank was asked to do. `numel` is the count the ranks must agree
 * on: numel(t) for all_reduce and broadcast, numel(in) for all_gather,
 * numel(out) for reduce_scatter, 0 for barrier. */
typedef struct {
    volt_collective kind;
    volt_tensor *out;
    const volt_tensor *in;
    volt_reduce_op op;
    int root;
    volt_dtype dtype;
    volt_device device; /* of the tensors (the group's when none) */
    int64_t numel;
    bool in_place;
} call;

static bool reduces(volt_collective kind) {
    return kind == VOLT_COLL_ALL_REDUCE || kind == VOLT_COLL_REDUCE_SCATTER;
}

/* ------------------------------------------------------------ validation */

static const char *device_str(volt_device d, char *buf, size_t n) {
    if (d.type == VOLT_CPU)
        snprintf(buf, n, "cpu");
    else
        snprintf(buf, n, "cuda:%d", d.index);
    return buf;
}

static volt_status check_tensor(const volt_process_group *pg, const char *what, const char *role,
                                const volt_tensor *t) {
    char shape[96], dev[2][24];
    if (!t) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s is NULL", what, role);
    volt_shape_str(t, shape, sizeof shape);
    if (!volt_device_equal(t->device, pg->device) &&
        !(pg->ops->takes_cpu && t->device.type == VOLT_CPU))
        return volt_error_set(VOLT_ERR_DEVICE,
                              "%s: %s %s is on %s; the %s backend takes %s tensors", what, role,
                              shape, device_str(t->device, dev[0], sizeof dev[0]), pg->ops->name,
                              device_str(pg->device, dev[1], sizeof dev[1]));
    if (!volt_tensor_is_contiguous(t))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "%s: %s %s is not contiguous (pass volt_contiguous() of it)", what,
                              role, shape);
    if (volt_tensor_numel(t) > INT_MAX)
        return volt_error_set(VOLT_ERR_UNSUPPORTED,
                              "%s: %s %s has more than INT_MAX elements (split it)", what, role,
                              shape);
    return VOLT_OK;
}

static volt_status check_op(const call *c, const char *what) {
    if (c->op < VOLT_REDUCE_SUM || c->op > VOLT_REDUCE_MAX)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: unknown reduce op %d", what,
                              (int)c->op);
    /* CUDA tensors: bf16 and f16 too (NCCL's ncclAvg). */
    bool half = volt_dtype_is_16bit(c->dtype) && c->device.type == VOLT_CUDA;
    if (c->op == VOLT_REDUCE_MEAN && c->dtype != VOLT_F32 && c->dtype != VOLT_F64 && !half)
        return volt_error_set(VOLT_ERR_DTYPE, "%s: mean needs f32 or f64%s, not %s", what,
                              c->device.type == VOLT_CUDA ? " (bf16 or f16 on a GPU)" : "",
                              volt_dtype_name(c->dtype));
    return VOLT_OK;
}

static bool overlap(const volt_tensor *a, const volt_tensor *b) {
    const char *pa = volt_tensor_data(a), *pb = volt_tensor_data(b);
    size_t na = (size_t)volt_tensor_numel(a) * volt_dtype_size(a->dtype);
    size_t nb = (size_t)volt_tensor_numel(b) * volt_dtype_size(b->dtype);
    return na && nb && pa < pb + nb && pb < pa + na;
}

/* all_gather and reduce_scatter: a big tensor of world * n elements and a
 * small one of n, the same dtype; in place only for all_gather's own slice. */
static volt_status check_pair(const volt_process_group *pg, call *c, const char *what) {
    bool gather = c->kind == VOLT_COLL_ALL_GATHER;
    const volt_tensor *big = gather ? c->out : c->in, *small = gather ? c->in : c->out;
    const char *big_role = gather ? "out" : "in", *small_role = gather ? "in" : "out";
    volt_status st = check_tensor(pg, what, small_role, small);
    if (st == VOLT_OK) st = check_tensor(pg, what, big_role, big);
    if (st != VOLT_OK) return st;
    char bs[96], ss[96];
    volt_shape_str(big, bs, sizeof bs), volt_shape_str(small, ss, sizeof ss);
    if (big->dtype != small->dtype)
        return volt_error_set(VOLT_ERR_DTYPE, "%s: %s %s and %s %s differ in dtype", what, big_role,
                              bs, small_role, ss);
    if (!volt_device_equal(big->device, small->device))
        return volt_error_set(VOLT_ERR_DEVICE, "%s: %s %s and %s %s are on different devices", what,
                              big_role, bs, small_role, ss);
    c->device = small->device;
    int64_t n = volt_tensor_numel(small);
    if (volt_tensor_numel(big) != n * pg->world_size)
        return volt_error_set(VOLT_ERR_SHAPE,
                              "%s: %s %s must have world size (%d) x %lld = %lld elements, as %s "
                              "%s has %lld",
                              what, big_role, bs, pg->world_size, (long long)n,
                              (long long)(n * pg->world_size), small_role, ss, (long long)n);
    c->dtype = small->dtype;
    c->numel = n;
    size_t slot = (size_t)(n * pg->rank) * volt_dtype_size(c->dtype);
    c->in_place = gather && n > 0 &&
                  (const char *)volt_tensor_data(c->in) == (char *)volt_tensor_data(c->out) + slot;
    if (!c->in_place && overlap(c->in, c->out))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: %s %s and %s %s overlap in memory%s",
                              what, big_role, bs, small_role, ss,
                              gather ? " (in place, in must be exactly this rank's slice of out)"
                                     : "");
    return VOLT_OK;
}

/* Checks this rank's arguments and completes `c` (dtype, numel). */
static volt_status validate(const volt_process_group *pg, call *c, const char *what) {
    volt_status st = VOLT_OK;
    switch (c->kind) {
    case VOLT_COLL_ALL_REDUCE:
    case VOLT_COLL_BROADCAST:
        st = check_tensor(pg, what, "tensor", c->out);
        if (st != VOLT_OK) return st;
        c->dtype = c->out->dtype;
        c->device = c->out->device;
        c->numel = volt_tensor_numel(c->out);
        break;
    case VOLT_COLL_ALL_GATHER:
    case VOLT_COLL_REDUCE_SCATTER: st = check_pair(pg, c, what); break;
    case VOLT_COLL_BARRIER: c->device = VOLT_DEVICE_CPU; return VOLT_OK;
    }
    if (st == VOLT_OK && reduces(c->kind)) st = check_op(c, what);
    if (st == VOLT_OK && c->kind == VOLT_COLL_BROADCAST &&
        (c->root < 0 || c->root >= pg->world_size))
        st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                            "%s: root %d is not a rank of this group (world size %d)", what,
                            c->root, pg->world_size);
    if (st == VOLT_OK)
        st = pg->ops->check_dtype((volt_process_group *)pg, c->kind, c->dtype, c->device, what);
    return st;
}

/* ------------------------------------------------------------- agreement */

enum { F_BAD_RANK, F_KIND, F_ROOT, F_OP, F_DTYPE, F_NUMEL, F_DEVICE, N_FIELDS };

/* Which field the ranks disagree on, as an error on every rank. */
static volt_status disagreement(volt_process_group *pg, const int64_t *lo, const int64_t *hi,
                                const call *c, const char *what) {
    if (lo[F_KIND] != hi[F_KIND])
        return volt_dist_fail(pg, NULL, VOLT_ERR_INVALID_ARGUMENT, false,
                              "%s: the ranks called different collectives (%s and %s)", what,
                              volt_collective_name((volt_collective)lo[F_KIND]),
                              volt_collective_name((volt_collective)hi[F_KIND]));
    if (lo[F_ROOT] != hi[F_ROOT])
        return volt_dist_fail(pg, NULL, VOLT_ERR_INVALID_ARGUMENT, false,
                              "%s: the ranks passed different roots (%lld to %lld; this rank %d)",
                              what, (long long)lo[F_ROOT], (long long)hi[F_ROOT], c->root);
    if (lo[F_OP] != hi[F_OP])
        return volt_dist_fail(pg, NULL, VOLT_ERR_INVALID_ARGUMENT, false,
                              "%s: the ranks passed different reduce ops (%s and %s)", what,
                              volt_reduce_op_name((volt_reduce_op)lo[F_OP]),
                              volt_reduce_op_name((volt_reduce_op)hi[F_OP]));
    if (lo[F_DTYPE] != hi[F_DTYPE])
        return volt_dist_fail(pg, NULL, VOLT_ERR_DTYPE, false,
                              "%s: the ranks passed different dtypes (%s and %s)", what,
                              volt_dtype_name((volt_dtype)lo[F_DTYPE]),
                              volt_dtype_name((volt_dtype)hi[F_DTYPE]));
    if (lo[F_DEVICE] != hi[F_DEVICE])
        return volt_dist_fail(pg, NULL, VOLT_ERR_DEVICE, false,
                              "%s: some ranks passed CPU tensors, others CUDA tensors", what);
    return volt_dist_fail(pg, NULL, VOLT_ERR_SHAPE, false,
                          "%s: the ranks passed different element counts (%lld to %lld; this "
                          "rank %lld)",
                          what, (long long)lo[F_NUMEL], (long long)hi[F_NUMEL],
                          (long long)c->numel);
}

/* One all-reduce(min) of each field and of its negation (its max). `local`
 * is this rank's validation status; every rank fails if any rank's
 * arguments were invalid or the ranks disagree. */
static volt_status agree(volt_process_group *pg, const call *c, volt_status local,
                         const char *what) {
    int64_t f[N_FIELDS] = {local == VOLT_OK ? pg->world_size : pg->rank,
                           c->kind,
                           c->kind == VOLT_COLL_BROADCAST ? c->root : 0,
                           reduces(c->kind) ? c->op : 0,
                           local == VOLT_OK ? c->dtype : 0,
                           local == VOLT_OK ? c->numel : 0,
                           local == VOLT_OK ? (int64_t)c->device.type : 0};
    int64_t v[2 * N_FIELDS];
    for (int i = 0; i < N_FIELDS; i++) v[i] = f[i], v[N_FIELDS + i] = -f[i];
    volt_status st = pg->ops->agree_min(pg, v, 2 * N_FIELDS, what);
    if (st != VOLT_OK) return st;
    if (local != VOLT_OK) return local; /* this rank's own message is recorded */
    if (v[F_BAD_RANK] < pg->world_size)
        return volt_dist_fail(pg, NULL, VOLT_ERR_INVALID_ARGUMENT, false,
                              "%s: rank %lld passed invalid arguments (its error says which), so "
                              "every rank fails",
                              what, (long long)v[F_BAD_RANK]);
    int64_t hi[N_FIELDS];
    for (int i = 0; i < N_FIELDS; i++) hi[i] = -v[N_FIELDS + i];
    for (int i = F_KIND; i < N_FIELDS; i++)
        if (v[i] != hi[i]) return disagreement(pg, v, hi, c, what);
    return VOLT_OK;
}

/* --------------------------------------------------------------- launch */

static volt_status launch(volt_process_group *pg, call *c, volt_work **out) {
    const char *what = volt_collective_name(c->kind);
    *out = NULL;
    if (!pg) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: process group is NULL", what);
    if (pg->broken)
        return volt_error_set(VOLT_ERR_STATE,
                              "%s: the process group is unusable after an earlier failure: %s",
                              what, pg->broken_reason);
    volt_status local = validate(pg, c, what);
    volt_status st = pg->skip_agreement_check ? local : agree(pg, c, local, what);
    if (st != VOLT_OK) return st;
    volt_work *w = calloc(1, pg->ops->work_size);
    if (!w) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    *w = (volt_work){
        .pg = pg, .kind = c->kind, .op = c->op, .root = c->root, .in_place = c->in_place};
    w->out = c->out ? volt_tensor_retain(c->out) : NULL;
    w->in = c->in && !c->in_place ? volt_tensor_retain((volt_tensor *)c->in) : NULL;
    st = pg->ops->start(w);
    if (st != VOLT_OK) {
        volt_tensor_release(w->out);
        volt_tensor_release(w->in);
        free(w);
        return st;
    }
    *out = w;
    return VOLT_OK;
}

static volt_status run(volt_process_group *pg, call *c) {
    volt_work *w;
    volt_status st = launch(pg, c, &w);
    if (st != VOLT_OK) return st;
    st = volt_work_wait(w);
    volt_work_free(w);
    return st;
}

static volt_work *run_async(volt_process_group *pg, call *c) {
    volt_work *w;
    launch(pg, c, &w);
    return w;
}

static call all_reduce_call(volt_tensor *t, volt_reduce_op op) {
    return (call){.kind = VOLT_COLL_ALL_REDUCE, .out = t, .op = op};
}
static call broadcast_call(volt_tensor *t, int root) {
    return (call){.kind = VOLT_COLL_BROADCAST, .out = t, .root = root};
}
static call all_gather_call(volt_tensor *out, const volt_tensor *in) {
    return (call){.kind = VOLT_COLL_ALL_GATHER, .out = out, .in = in};
}
static call reduce_scatter_call(volt_tensor *out, const volt_tensor *in, volt_reduce_op op) {
    return (call){.kind = VOLT_COLL_REDUCE_SCATTER, .out = out, .in = in, .op = op};
}

volt_status volt_dist_all_reduce(volt_process_group *pg, volt_tensor *t, volt_reduce_op op) {
    call c = all_reduce_call(t, op);
    return run(pg, &c);
}
volt_status volt_dist_broadcast(volt_process_group *pg, volt_tensor *t, int root) {
    call c = broadcast_call(t, root);
    return run(pg, &c);
}
volt_status volt_dist_all_gather(volt_process_group *pg, volt_tensor *out, const volt_tensor *in) {
    call c = all_gather_call(out, in);
    return run(pg, &c);
}
volt_status volt_dist_reduce_scatter(volt_process_group *pg, volt_tensor *out,
                                     const volt_tensor *in, volt_reduce_op op) {
    call c = reduce_scatter_call(out, in, op);
    return run(pg, &c);
}
volt_status volt_dist_barrier(volt_process_group *pg) {
    call c = {.kind = VOLT_COLL_BARRIER};
    return run(pg, &c);
}

volt_work *volt_dist_all_reduce_async(volt_process_group *pg, volt_tensor *t, volt_reduce_op op) {
    call c = all_reduce_call(t, op);
    return run_async(pg, &c);
}
volt_work *volt_dist_broadcast_async(volt_process_group *pg, volt_tensor *t, int root) {
    call c = broadcast_call(t, root);
    return run_async(pg, &c);
}
volt_work *volt_dist_all_gather_async(volt_process_group *pg, volt_tensor *out,
                                      const volt_tensor *in) {
    call c = all_gather_call(out, in);
    return run_async(pg, &c);
}
volt_work *volt_dist_reduce_scatter_async(volt_process_group *pg, volt_tensor *out,
                                          const volt_tensor *in, volt_reduce_op op) {
    call c = reduce_scatter_call(out, in, op);
    return run_async(pg, &c);
}
volt_work *volt_dist_barrier_async(volt_process_group *pg) {
    call c = {.kind = VOLT_COLL_BARRIER};
    return run_async(pg, &c);
}
