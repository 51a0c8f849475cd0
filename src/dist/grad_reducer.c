/* grad_reducer.c: the data-parallel gradient reducer (volt/dist.h,
 * "gradient reducer") — parameters packed into per-dtype buckets in reverse
 * order, a grad-ready hook per parameter that copies its gradient into its
 * bucket and starts every bucket that became ready (strictly in bucket
 * order), and finish, which starts the rest, waits, and writes the mean
 * over ranks back into each parameter's grad.
 *
 * Bucket layout: [gradients of its parameters, back to back | one flag per
 * parameter]. A flag is 1 where this rank produced the gradient this pass,
 * so after the SUM all-reduce it counts the ranks that did: 0 means no
 * rank did, and the parameter keeps grad NULL.
 *
 * The layout is checked across ranks once, at creation (a hash of every
 * parameter's dtype and shape; on a mismatch the descriptors are gathered
 * to name the first parameter that differs), so the bucket all-reduces skip
 * the per-call agreement check.
 *
 * CPU bf16 gradients (precision "bf16-true") go into f32 buckets, widened
 * (MPI has no bf16 sum); their mean comes back rounded to bf16 once.
 *
 * CUDA gradients (a group on a GPU, "nccl"): the buckets live on the
 * group's device and hold gradients only (f32, f64, bf16 or f16, one dtype
 * per bucket); a gradient goes in and comes back with device copies through
 * a view of its bucket (`view`), queued on volt's stream, and each bucket is
 * all-reduced with MEAN (ncclAvg) on that stream. The flags are a CPU
 * vector of one per parameter, all-reduced (SUM, through the group's MPI
 * side) once per pass in finish, so that no flag crosses the PCIe bus. The
 * write-back copies are queued right after the collectives, before finish
 * waits for them (one host wait per pass, for the last bucket's event). */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist_impl.h"
#include "volt/autograd.h"
#include "volt/ops.h"

#define DEFAULT_BUCKET_CAP_MB 25.0
#define DESC_LEN (2 + VOLT_MAX_DIMS) /* dtype, ndim, shape */

/* ---------------------------------------------------------- hook context */

/* Grad-ready hooks cannot be removed (volt/autograd.h) and a parameter may
 * outlive its reducer, so the hooks' user_data must outlive it too: each
 * reducer has one hook_block, whose `reducer` is set to NULL when the
 * reducer is freed (its hooks then do nothing). The block is never freed —
 * a hook may fire for as long as its parameter lives, and nothing tells us
 * when that ends — but kept on a process-wide list, so that it stays
 * reachable (no leak report) and its cost is plain: 16 bytes per parameter
 * per reducer ever made. */
typedef struct hook_block hook_block;

typedef struct {
    hook_block *block;
    int64_t index; /* the parameter's index in the reducer */
} hook_entry;

struct hook_block {
    volt_grad_reducer *reducer; /* NULL once the reducer is freed */
    hook_block *next_retired;
    int64_t n;
    hook_entry entries[];
};

static pthread_mutex_t retired_mutex = PTHREAD_MUTEX_INITIALIZER;
static hook_block *retired_blocks;

static void retire_block(hook_block *b) {
    b->reducer = NULL;
    pthread_mutex_lock(&retired_mutex);
    b->next_retired = retired_blocks;
    retired_blocks = b;
    pthread_mutex_unlock(&retired_mutex);
}

/* --------------------------------------------------------------- reducer */

typedef struct {
    volt_tensor *param;
    char *name;     /* "fc.weight" or "params[3]" */
    int64_t bucket; /* its bucket */
    int64_t offset; /* first element of its gradient in the bucket */
    int64_t flag;   /* element of its flag in the bucket */
    int64_t numel;
    volt_tensor *view; /* CUDA: its gradient's place in the bucket, its shape */
    bool ready;        /* its gradient is in the bucket for this pass */
} slot;

typedef struct {
    volt_dtype dtype;
    int64_t numel;       /* gradient elements */
    int64_t count;       /* parameters */
    int64_t pending;     /* parameters not ready this pass */
    volt_tensor *buffer; /* numel + count elements; caller-owned */
    volt_work *work;     /* this pass's all-reduce, once started */
} bucket;

struct volt_grad_reducer {
    volt_process_group *pg;
    int64_t n, n_buckets;
    slot *slots;
    bucket *buckets;
    hook_block *hooks;   /* NULL until the hooks are added */
    int64_t next_launch; /* buckets [0, next_launch) were started this pass */
    int64_t next_poll;   /* buckets before it are known to be complete */
    bool sync;
    bool cuda;          /* the group's device is a GPU: see the top */
    volt_tensor *flags; /* CUDA: CPU f64 [n], 1 where this rank had a gradient */
    volt_status error;  /* the first failure of this pass (hooks, starts) */
    char message[VOLT_DIST_MESSAGE_CAPACITY];
    volt_grad_reducer_stats stats;
};

/* Keeps the first failure of this pass (printf-style). */
static void keep_error(volt_grad_reducer *r, volt_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void keep_error(volt_grad_reducer *r, volt_status st, const char *fmt, ...) {
    if (r->error != VOLT_OK) return;
    r->error = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

/* Keeps the sticky error as the pass's failure (without its "volt: "). */
static void keep_sticky(volt_grad_reducer *r) {
    const char *m = volt_error_message();
    if (strncmp(m, "volt: ", 6) == 0) m += 6;
    keep_error(r, volt_error_status() != VOLT_OK ? volt_error_status() : VOLT_ERR_INTERNAL, "%s",
               m);
}

static char *bucket_data(const bucket *b, int64_t element) {
    return (char *)volt_tensor_data(b->buffer) + (size_t)element * volt_dtype_size(b->dtype);
}

static void set_flag(const bucket *b, int64_t element, double v) {
    if (b->dtype == VOLT_F32)
        *(float *)bucket_data(b, element) = (float)v;
    else
        *(double *)bucket_data(b, element) = v;
}

static double get_flag(const bucket *b, int64_t element) {
    if (b->dtype == VOLT_F32) return *(const float *)bucket_data(b, element);
    return *(const double *)bucket_data(b, element);
}

/* The bucket's all-reduce, without the agreement check: the layout was
 * verified across ranks at creation, and buckets start in the same order
 * on every rank. The group's own setting is restored at once (one thread
 * at a time per group, volt/dist.h). */
static volt_work *start_all_reduce(volt_process_group *pg, volt_tensor *t, volt_reduce_op op) {
    bool saved = pg->skip_agreement_check;
    pg->skip_agreement_check = true;
    volt_work *w = volt_dist_all_reduce_async(pg, t, op);
    pg->skip_agreement_check = saved;
    return w;
}

/* Starts every bucket from next_launch on whose parameters are all ready;
 * stops at the first that is not (buckets start in order). */
static volt_status launch_ready(volt_grad_reducer *r) {
    while (r->next_launch < r->n_buckets && r->buckets[r->next_launch].pending == 0) {
        bucket *b = &r->buckets[r->next_launch];
        b->work = start_all_reduce(r->pg, b->buffer, r->cuda ? VOLT_REDUCE_MEAN : VOLT_REDUCE_SUM);
        if (!b->work) return volt_error_status() != VOLT_OK ? volt_error_status() : VOLT_ERR_IO;
        r->next_launch++;
    }
    return VOLT_OK;
}

/* Lets MPI move the buckets in flight along (it progresses only inside
 * MPI calls). */
static void poll_in_flight(volt_grad_reducer *r) {
    while (r->next_poll < r->next_launch && volt_work_is_completed(r->buckets[r->next_poll].work))
        r->next_poll++;
}

/* CUDA: the gradient (or zeros) into the bucket with a device copy. */
static volt_status fill_slot_cuda(volt_grad_reducer *r, slot *s) {
    volt_tensor *g = s->param->grad;
    if (!(g ? volt_copy_(s->view, g) : volt_zero_(s->view))) return volt_error_status();
    ((double *)volt_tensor_data(r->flags))[s - r->slots] = g ? 1.0 : 0.0;
    s->ready = true;
    r->buckets[s->bucket].pending--;
    return VOLT_OK;
}

/* Copies the parameter's gradient into its bucket and marks it ready. */
static volt_status fill_slot(volt_grad_reducer *r, slot *s) {
    if (r->cuda) return fill_slot_cuda(r, s);
    bucket *b = &r->buckets[s->bucket];
    volt_tensor *g = s->param->grad;
    volt_status st = VOLT_OK;
    if (g)
        st = volt_tensor_copy_to_array(g, b->dtype, bucket_data(b, s->offset));
    else
        memset(bucket_data(b, s->offset), 0, (size_t)s->numel * volt_dtype_size(b->dtype));
    if (st != VOLT_OK) return st;
    set_flag(b, s->flag, g ? 1.0 : 0.0);
    s->ready = true;
    b->pending--;
    return VOLT_OK;
}

static void on_grad_ready(volt_grad_reducer *r, slot *s) {
    if (s->ready) {
        keep_error(r, VOLT_ERR_STATE,
                   "grad_reducer: the gradient of parameter '%s' became ready twice in one "
                   "synchronized pass (turn sync off for the accumulation micro-batches, on for "
                   "the last, and call volt_grad_reducer_finish after its backward)",
                   s->name);
        return;
    }
    volt_status st = fill_slot(r, s);
    if (st == VOLT_OK && r->error == VOLT_OK) st = launch_ready(r);
    if (st != VOLT_OK) keep_sticky(r);
    poll_in_flight(r);
}

/* The grad-ready hook. Errors are kept for finish and taken off the sticky
 * error, which backward does not expect hooks to leave behind. */
static void grad_hook(volt_tensor *leaf, void *user_data) {
    (void)leaf;
    hook_entry *e = user_data;
    volt_grad_reducer *r = e->block->reducer;
    if (!r) return;
    slot *s = &r->slots[e->index];
    if (!r->sync) {
        /* Its bucket already holds an earlier pass's gradient of this
         * window, which this one would silently miss. */
        if (s->ready)
            keep_error(r, VOLT_ERR_STATE,
                       "grad_reducer: parameter '%s' got a gradient in a pass with sync off "
                       "after a synchronized pass of the same window (turn sync on only for "
                       "the last micro-batch, then call volt_grad_reducer_finish)",
                       s->name);
        return;
    }
    bool clean = volt_error_status() == VOLT_OK;
    on_grad_ready(r, s);
    if (clean && volt_error_status() != VOLT_OK) {
        keep_sticky(r); /* a poll's failure, which finish's wait reports too */
        volt_error_clear();
    }
}

/* ------------------------------------------------------------ creation */

static const char *device_name(volt_device d, char *buf, size_t size) {
    if (d.type == VOLT_CPU) return "cpu";
    snprintf(buf, size, "cuda:%d", d.index);
    return buf;
}

static volt_status check_param(const volt_process_group *pg, volt_tensor *const *params,
                               const char *const *names, int64_t i) {
    const volt_tensor *p = params[i];
    const char *name = names && names[i] ? names[i] : NULL;
    char shape[96], label[256];
    if (!p)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "grad_reducer: params[%lld]%s%s%s is NULL",
                              (long long)i, name ? " ('" : "", name ? name : "", name ? "')" : "");
    volt_shape_str(p, shape, sizeof shape);
    if (name)
        snprintf(label, sizeof label, "params[%lld] ('%s', %s)", (long long)i, name, shape);
    else
        snprintf(label, sizeof label, "params[%lld] (%s)", (long long)i, shape);
    const char *why = NULL;
    char buf[160];
    bool floating = p->dtype == VOLT_F32 || p->dtype == VOLT_F64 || p->dtype == VOLT_BF16 ||
                    (pg->device.type == VOLT_CUDA && p->dtype == VOLT_F16);
    if (!floating) {
        why = pg->device.type == VOLT_CUDA
                  ? "is not f32, f64, bf16 or f16 (the floating dtypes buckets hold)"
                  : "is not f32, f64 or bf16 (buckets hold f32 or f64 gradients)";
    } else if (p->grad_fn) {
        snprintf(buf, sizeof buf,
                 "is not a leaf (the output of '%s'; pass the parameters themselves)",
                 volt_grad_fn_name(p));
        why = buf;
    } else if (!p->requires_grad) {
        why = "does not require grad";
    } else if (!volt_device_equal(p->device, pg->device)) {
        char d0[24], d1[24];
        snprintf(buf, sizeof buf, "is on %s; the %s backend takes %s tensors",
                 device_name(p->device, d0, sizeof d0), pg->ops->name,
                 device_name(pg->device, d1, sizeof d1));
        why = buf;
    } else if (!volt_tensor_is_contiguous(p)) {
        why = "is not contiguous";
    } else if (volt_tensor_numel(p) >= INT_MAX) {
        why = "has too many elements for one all-reduce (INT_MAX)";
    }
    if (!why) return VOLT_OK;
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "grad_reducer: %s %s", label, why);
}

static int compare_ptr(const void *a, const void *b) {
    volt_tensor *const *pa = a, *const *pb = b;
    uintptr_t x = (uintptr_t)*pa, y = (uintptr_t)*pb;
    return (x > y) - (x < y);
}

/* Every parameter valid, none twice. */
static volt_status check_params(const volt_process_group *pg, volt_tensor *const *params,
                                const char *const *names, int64_t n) {
    if (!params) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "grad_reducer: params is NULL");
    if (n <= 0)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "grad_reducer: n must be a positive number of parameters (got %lld)",
                              (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (check_param(pg, params, names, i) != VOLT_OK) return volt_error_status();
    volt_tensor **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "grad_reducer: out of memory");
    memcpy(sorted, params, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_ptr);
    volt_tensor *dup = NULL;
    for (int64_t i = 1; i < n && !dup; i++)
        if (sorted[i] == sorted[i - 1]) dup = sorted[i];
    free(sorted);
    if (!dup) return VOLT_OK;
    int64_t first = -1, second = -1;
    for (int64_t i = 0; i < n && second < 0; i++)
        if (params[i] == dup) {
            if (first < 0)
                first = i;
            else
                second = i;
        }
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                          "grad_reducer: params[%lld] is the same tensor as params[%lld]",
                          (long long)second, (long long)first);
}

static volt_status check_options(const volt_grad_reducer_options *o, double *cap_bytes) {
    double mb = o ? o->bucket_cap_mb : 0;
    if (!(mb >= 0) || !isfinite(mb))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "grad_reducer: bucket_cap_mb must be a positive number of megabytes "
                              "(0: %g), got %g",
                              DEFAULT_BUCKET_CAP_MB, mb);
    *cap_bytes = (mb == 0 ? DEFAULT_BUCKET_CAP_MB : mb) * 1e6;
    return VOLT_OK;
}

static char *name_of(const char *const *names, int64_t i) {
    char buf[32];
    const char *name = names && names[i] ? names[i] : NULL;
    if (!name) {
        snprintf(buf, sizeof buf, "params[%lld]", (long long)i);
        name = buf;
    }
    size_t len = strlen(name) + 1;
    char *copy = malloc(len);
    if (copy) memcpy(copy, name, len);
    return copy;
}

/* Assigns the parameters to buckets, last parameter first: one open bucket
 * per dtype, closed when the next gradient would take it past the cap (or
 * past INT_MAX elements). Buckets are numbered in the order they open. */
static volt_status plan_buckets(volt_grad_reducer *r, double cap_bytes) {
    int64_t open[VOLT_DTYPE_COUNT];
    for (int d = 0; d < VOLT_DTYPE_COUNT; d++) open[d] = -1;
    r->buckets = calloc((size_t)r->n, sizeof *r->buckets); /* at most one per parameter */
    if (!r->buckets) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "grad_reducer: out of memory");
    for (int64_t i = r->n - 1; i >= 0; i--) {
        slot *s = &r->slots[i];
        /* CPU bf16 gradients travel widened, in f32 buckets (MPI has no
         * bf16 sum); the mean is rounded back once, in write_back. */
        volt_dtype dtype = !r->cuda && s->param->dtype == VOLT_BF16 ? VOLT_F32 : s->param->dtype;
        int d = (int)dtype;
        double esize = (double)volt_dtype_size(dtype);
        if (open[d] >= 0) {
            bucket *b = &r->buckets[open[d]];
            bool full = (double)(b->numel + s->numel) * esize > cap_bytes ||
                        b->numel + s->numel + (r->cuda ? 0 : b->count + 1) > INT_MAX;
            if (full) open[d] = -1;
        }
        if (open[d] < 0) {
            open[d] = r->n_buckets++;
            r->buckets[open[d]].dtype = dtype;
        }
        bucket *b = &r->buckets[open[d]];
        s->bucket = open[d];
        s->offset = b->numel;
        s->flag = b->count; /* made absolute below, once numel is known */
        b->numel += s->numel;
        b->count++;
    }
    for (int64_t i = 0; i < r->n; i++) r->slots[i].flag += r->buckets[r->slots[i].bucket].numel;
    return VOLT_OK;
}

/* CUDA: each parameter's view of its bucket, and the flags. */
static volt_status make_views(volt_grad_reducer *r) {
    for (int64_t i = 0; i < r->n; i++) {
        slot *s = &r->slots[i];
        const volt_tensor *buf = r->buckets[s->bucket].buffer;
        s->view =
            volt_tensor_alias(buf, s->param->ndim, s->param->shape, NULL, buf->offset + s->offset);
        if (!s->view) return volt_error_status();
        volt_persist(s->view);
    }
    r->flags = volt_tensor_new(VOLT_F64, VOLT_DEVICE_CPU, 1, (int64_t[]){r->n});
    if (!r->flags) return volt_error_status();
    volt_persist(r->flags);
    return VOLT_OK;
}

static volt_status alloc_buffers(volt_grad_reducer *r) {
    for (int64_t k = 0; k < r->n_buckets; k++) {
        bucket *b = &r->buckets[k];
        int64_t len = b->numel + (r->cuda ? 0 : b->count);
        b->buffer = volt_tensor_new(b->dtype, r->pg->device, 1, &len);
        if (!b->buffer) return volt_error_status();
        volt_persist(b->buffer);
        b->pending = b->count;
        r->stats.bytes += len * (int64_t)volt_dtype_size(b->dtype);
    }
    r->stats.buckets = r->n_buckets;
    return r->cuda ? make_views(r) : VOLT_OK;
}

static volt_status add_hooks(volt_grad_reducer *r) {
    hook_block *hb = calloc(1, sizeof *hb + (size_t)r->n * sizeof(hook_entry));
    if (!hb) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "grad_reducer: out of memory");
    hb->reducer = r;
    hb->n = r->n;
    r->hooks = hb;
    for (int64_t i = 0; i < r->n; i++) {
        hb->entries[i] = (hook_entry){.block = hb, .index = i};
        volt_status st = volt_tensor_add_grad_hook(r->slots[i].param, grad_hook, &hb->entries[i]);
        if (st != VOLT_OK) return st;
    }
    return VOLT_OK;
}

/* This rank's half of the reducer: slots, buckets, buffers, hooks. */
static volt_status build(volt_grad_reducer *r, volt_tensor *const *params, const char *const *names,
                         double cap_bytes) {
    r->slots = calloc((size_t)r->n, sizeof *r->slots);
    if (!r->slots) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "grad_reducer: out of memory");
    for (int64_t i = 0; i < r->n; i++) {
        slot *s = &r->slots[i];
        s->param = params[i];
        s->numel = volt_tensor_numel(params[i]);
        s->name = name_of(names, i);
        if (!s->name) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "grad_reducer: out of memory");
    }
    volt_status st = plan_buckets(r, cap_bytes);
    if (st == VOLT_OK) st = alloc_buffers(r);
    if (st == VOLT_OK) st = add_hooks(r);
    return st;
}

/* ------------------------------------------------- layout across ranks */

static void describe(const volt_tensor *p, int64_t *desc) {
    memset(desc, 0, DESC_LEN * sizeof *desc);
    desc[0] = p->dtype;
    desc[1] = p->ndim;
    for (int d = 0; d < p->ndim; d++) desc[2 + d] = p->shape[d];
}

/* FNV-1a over every parameter's descriptor, 62 bits (so that its negation
 * fits an int64 for the max-by-min trick). */
static int64_t layout_hash(volt_tensor *const *params, int64_t n) {
    uint64_t h = 1469598103934665603ull;
    int64_t desc[DESC_LEN];
    for (int64_t i = 0; i < n; i++) {
        describe(params[i], desc);
        for (int j = 0; j < DESC_LEN; j++) {
            h ^= (uint64_t)desc[j];
            h *= 1099511628211ull;
        }
    }
    return (int64_t)(h >> 2);
}

static void desc_str(const int64_t *desc, char *buf, size_t size) {
    int len = snprintf(buf, size, "%s[", volt_dtype_name((volt_dtype)desc[0]));
    for (int64_t d = 0; d < desc[1] && len > 0 && (size_t)len < size; d++)
        len +=
            snprintf(buf + len, size - (size_t)len, "%s%lld", d ? "," : "", (long long)desc[2 + d]);
    if (len > 0 && (size_t)len < size) snprintf(buf + len, size - (size_t)len, "]");
}

/* The ranks' layouts differ: gathers the counts and the descriptors of the
 * parameters every rank has, and fails on every rank naming the first
 * parameter that differs. */
static volt_status explain_mismatch(volt_grad_reducer *r, int64_t min_n) {
    volt_process_group *pg = r->pg;
    int world = pg->world_size;
    volt_status st = VOLT_OK;
    volt_scope_begin();
    volt_tensor *count = volt_full(1, (int64_t[]){1}, (double)r->n, VOLT_I64);
    volt_tensor *counts = volt_zeros(1, (int64_t[]){world}, VOLT_I64);
    volt_tensor *mine = volt_zeros(1, (int64_t[]){min_n * DESC_LEN}, VOLT_I64);
    volt_tensor *all = volt_zeros(1, (int64_t[]){(int64_t)world * min_n * DESC_LEN}, VOLT_I64);
    if (!count || !counts || !mine || !all) st = volt_error_status();
    for (int64_t i = 0; i < min_n && st == VOLT_OK; i++)
        describe(r->slots[i].param, (int64_t *)volt_tensor_data(mine) + i * DESC_LEN);
    if (st == VOLT_OK) st = volt_dist_all_gather(pg, counts, count);
    if (st == VOLT_OK && min_n > 0) st = volt_dist_all_gather(pg, all, mine);
    if (st == VOLT_OK) {
        const int64_t *c = volt_tensor_data(counts), *d = volt_tensor_data(all);
        for (int64_t i = 0; i < min_n && st == VOLT_OK; i++)
            for (int q = 1; q < world && st == VOLT_OK; q++) {
                const int64_t *a = d + i * DESC_LEN, *b = d + ((int64_t)q * min_n + i) * DESC_LEN;
                if (memcmp(a, b, DESC_LEN * sizeof *a) == 0) continue;
                char sa[128], sb[128];
                desc_str(a, sa, sizeof sa), desc_str(b, sb, sizeof sb);
                st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                    "grad_reducer: the ranks' parameters differ: parameter %lld "
                                    "'%s' is %s on rank 0 and %s on rank %d",
                                    (long long)i, r->slots[i].name, sa, sb, q);
            }
        for (int q = 1; q < world && st == VOLT_OK; q++)
            if (c[q] != c[0])
                st = volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                                    "grad_reducer: the ranks have different numbers of parameters: "
                                    "%lld on rank 0, %lld on rank %d",
                                    (long long)c[0], (long long)c[q], q);
        if (st == VOLT_OK) /* a hash collision cannot make equal layouts differ */
            st = volt_error_set(VOLT_ERR_INTERNAL, "grad_reducer: layout check inconsistent");
    }
    volt_scope_end();
    return st;
}

/* The collective half of creation: every rank learns whether every rank
 * built its reducer (`local`) and whether their layouts match. */
static volt_status check_layout(volt_grad_reducer *r, volt_tensor *const *params,
                                volt_status local) {
    volt_process_group *pg = r->pg;
    int64_t h = local == VOLT_OK ? layout_hash(params, r->n) : 0;
    int64_t n = local == VOLT_OK ? r->n : 0;
    int64_t v[5] = {local == VOLT_OK ? pg->world_size : pg->rank, n, -n, h, -h};
    volt_scope_begin();
    volt_tensor *t = volt_from_array(v, VOLT_I64, 1, (int64_t[]){5});
    volt_status st = t ? volt_dist_all_reduce(pg, t, VOLT_REDUCE_MIN) : volt_error_status();
    if (st == VOLT_OK) memcpy(v, volt_tensor_data(t), sizeof v);
    volt_scope_end();
    if (st != VOLT_OK) return st;
    if (local != VOLT_OK) return local; /* this rank's own message is recorded */
    if (v[0] < pg->world_size)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "grad_reducer: rank %lld could not make its reducer (its error says "
                              "why), so every rank fails",
                              (long long)v[0]);
    if (v[1] == -v[2] && v[3] == -v[4]) return VOLT_OK;
    return explain_mismatch(r, v[1]);
}

volt_grad_reducer *volt_grad_reducer_new(volt_process_group *pg, volt_tensor *const *params,
                                         const char *const *names, int64_t n,
                                         const volt_grad_reducer_options *options) {
    if (!pg) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "grad_reducer: process group is NULL");
        return NULL;
    }
    volt_grad_reducer *r = calloc(1, sizeof *r);
    if (!r) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "grad_reducer: out of memory");
        return NULL;
    }
    r->pg = pg;
    r->sync = true;
    r->cuda = pg->device.type == VOLT_CUDA;
    double cap_bytes = 0;
    /* Local failures still take part in the layout check, so that every
     * rank fails instead of the others hanging in it. */
    volt_status local = check_options(options, &cap_bytes);
    if (local == VOLT_OK) local = check_params(pg, params, names, n);
    if (local == VOLT_OK) {
        r->n = n;
        local = build(r, params, names, cap_bytes);
    }
    if (check_layout(r, params, local) != VOLT_OK) {
        volt_grad_reducer_free(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------- finishing */

/* Waits for every bucket started this pass and frees its work. */
static void wait_all(volt_grad_reducer *r) {
    double start = volt_time_now();
    for (int64_t k = 0; k < r->next_launch; k++) {
        bucket *b = &r->buckets[k];
        if (volt_work_wait(b->work) != VOLT_OK) keep_sticky(r);
        volt_work_free(b->work);
        b->work = NULL;
    }
    r->stats.wait_seconds += volt_time_now() - start;
}

/* grad = sum / world size where any rank produced one (CUDA: the bucket
 * holds the mean already, copied back on the stream). */
static volt_status write_back(volt_grad_reducer *r, slot *s) {
    const bucket *b = &r->buckets[s->bucket];
    bool any = r->cuda ? ((const double *)volt_tensor_data(r->flags))[s - r->slots] >= 0.5
                       : get_flag(b, s->flag) >= 0.5;
    if (!any) return VOLT_OK; /* no rank had a gradient */
    volt_tensor *p = s->param, *g = p->grad;
    if (!g || g->dtype != p->dtype || !volt_tensor_is_contiguous(g) ||
        volt_tensor_numel(g) != s->numel) {
        volt_tensor *fresh = volt_tensor_new(p->dtype, p->device, p->ndim, p->shape);
        if (!fresh) return volt_error_status();
        volt_persist(fresh); /* owned by the leaf, as backward's gradients are */
        volt_tensor_clear_grad(p);
        p->grad = g = fresh;
    }
    if (r->cuda) return volt_copy_(g, s->view) ? VOLT_OK : volt_error_status();
    double world = r->pg->world_size;
    if (g->dtype == VOLT_BF16) { /* an f32 bucket: the mean in f32, rounded once */
        const float *src = (const float *)bucket_data(b, s->offset);
        uint16_t *dst = volt_tensor_data(g);
        float w = (float)world;
        for (int64_t i = 0; i < s->numel; i++) dst[i] = volt_f32_to_bf16(src[i] / w);
    } else if (b->dtype == VOLT_F32) {
        const float *src = (const float *)bucket_data(b, s->offset);
        float *dst = volt_tensor_data(g), w = (float)world;
        for (int64_t i = 0; i < s->numel; i++) dst[i] = src[i] / w;
    } else {
        const double *src = (const double *)bucket_data(b, s->offset);
        double *dst = volt_tensor_data(g);
        for (int64_t i = 0; i < s->numel; i++) dst[i] = src[i] / world;
    }
    volt_storage_bump_version(g->storage);
    return VOLT_OK;
}

/* CUDA: the flags summed over the ranks (CPU, through the group's MPI
 * side; after a failure too, so that the ranks' collectives match), the
 * copies back queued behind the buckets' collectives, then the wait. On a
 * failure the gradients are undefined (the group is broken). */
static void finish_cuda(volt_grad_reducer *r) {
    volt_work *w = start_all_reduce(r->pg, r->flags, VOLT_REDUCE_SUM);
    if (!w || volt_work_wait(w) != VOLT_OK) keep_sticky(r);
    volt_work_free(w);
    for (int64_t i = 0; i < r->n && r->error == VOLT_OK; i++)
        if (write_back(r, &r->slots[i]) != VOLT_OK) keep_sticky(r);
    wait_all(r);
}

/* Ready for the next pass. */
static void reset_pass(volt_grad_reducer *r) {
    for (int64_t i = 0; i < r->n; i++) r->slots[i].ready = false;
    for (int64_t k = 0; k < r->n_buckets; k++) r->buckets[k].pending = r->buckets[k].count;
    r->next_launch = r->next_poll = 0;
    r->error = VOLT_OK;
    r->message[0] = '\0';
}

volt_status volt_grad_reducer_finish(volt_grad_reducer *r) {
    if (!r)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "grad_reducer_finish: reducer is NULL");
    bool clean = volt_error_status() == VOLT_OK;
    /* Parameters whose hook did not fire in a synchronized pass of this
     * window: the gradient they hold (accumulated on no_sync passes), else
     * zeros with flag 0. */
    for (int64_t i = 0; i < r->n; i++) {
        slot *s = &r->slots[i];
        if (!s->ready && fill_slot(r, s) != VOLT_OK) keep_sticky(r);
    }
    /* Every bucket is complete now; start the rest, in order, even after a
     * failure on this rank, so that the other ranks' collectives match. */
    if (launch_ready(r) != VOLT_OK) keep_sticky(r);
    if (r->cuda) {
        finish_cuda(r);
    } else {
        wait_all(r);
        for (int64_t i = 0; i < r->n && r->error == VOLT_OK; i++)
            if (write_back(r, &r->slots[i]) != VOLT_OK) keep_sticky(r);
    }
    volt_status st = r->error;
    if (st != VOLT_OK) {
        if (clean) volt_error_clear(); /* replaced by the pass's first failure */
        volt_error_set(st, "%s", r->message);
    } else {
        r->stats.reductions++;
    }
    reset_pass(r);
    return st;
}

void volt_grad_reducer_free(volt_grad_reducer *r) {
    if (!r) return;
    for (int64_t k = 0; k < r->next_launch; k++) volt_work_free(r->buckets[k].work);
    if (r->hooks) retire_block(r->hooks);
    for (int64_t i = 0; r->slots && i < r->n; i++) {
        free(r->slots[i].name);
        volt_tensor_free(r->slots[i].view);
    }
    for (int64_t k = 0; r->buckets && k < r->n_buckets; k++) volt_tensor_free(r->buckets[k].buffer);
    volt_tensor_free(r->flags);
    free(r->buckets);
    free(r->slots);
    free(r);
}

void volt_grad_reducer_set_sync(volt_grad_reducer *r, bool sync) {
    if (r) r->sync = sync;
}

bool volt_grad_reducer_sync(const volt_grad_reducer *r) { return r && r->sync; }

volt_grad_reducer_stats volt_grad_reducer_get_stats(const volt_grad_reducer *r) {
    return r ? r->stats : (volt_grad_reducer_stats){0};
}
