/* update.c (CUDA): the optimizers' step on CUDA parameters — one
 * multi-tensor kernel launch (ops/cuda/optim.cu) per parameter group, device
 * and dtype, its descriptors (pointers, sizes, per-parameter bias
 * corrections) written into pinned host memory and copied to the device
 * ahead of the kernel, without blocking. The hyperparameters are derived
 * in double exactly as cpu_update.c derives them, so that the kernel
 * rounds the same values. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cuda/cuda_impl.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/optim_kernels.h"
#include "optim/cuda/optim_cuda.h"

volt_tensor *volt_optim_cuda_host_table(size_t bytes, void **data) {
    int64_t n = (int64_t)(bytes ? bytes : 1);
    volt_storage *s = volt_storage_new_pinned((size_t)n);
    if (!s) return NULL;
    volt_tensor *t = volt_tensor_from_storage(s, VOLT_U8, 1, &n, NULL, 0);
    volt_storage_release(s);
    if (t) *data = volt_tensor_data(t);
    return t;
}

void *volt_optim_cuda_upload(const volt_tensor *table, int device) {
    volt_tensor *d = volt_to_device(table, (volt_device){VOLT_CUDA, device});
    return d ? volt_tensor_data(d) : NULL;
}

static int kind_of(const volt_optim_class *cls) {
    if (cls == &volt_sgd_class) return VOLT_CUDA_OPTIM_SGD;
    if (cls == &volt_adam_class) return VOLT_CUDA_OPTIM_ADAM;
    if (cls == &volt_adamw_class) return VOLT_CUDA_OPTIM_ADAMW;
    if (cls == &volt_rmsprop_class) return VOLT_CUDA_OPTIM_RMSPROP;
    if (cls == &volt_adagrad_class) return VOLT_CUDA_OPTIM_ADAGRAD;
    if (cls == &volt_lion_class) return VOLT_CUDA_OPTIM_LION;
    return -1;
}

bool volt_optim_cuda_supports(const volt_optim_class *cls) { return kind_of(cls) >= 0; }

static volt_cuda_optim_hparams hparams_of(int kind, const volt_optim_hparams *hp,
                                          volt_dtype dtype) {
    volt_cuda_optim_hparams h;
    memset(&h, 0, sizeof h);
    h.kind = kind;
    h.dtype = (int)dtype;
    h.neg_lr = -hp->lr;
    h.momentum = hp->momentum;
    h.keep = 1.0 - hp->dampening;
    h.weight_decay = hp->weight_decay;
    h.beta1 = hp->beta1;
    h.one_beta1 = 1.0 - hp->beta1;
    h.beta2 = hp->beta2;
    h.one_beta2 = 1.0 - hp->beta2;
    h.decay = 1.0 - hp->lr * hp->weight_decay;
    h.eps = hp->eps;
    h.alpha = hp->alpha;
    h.one_alpha = 1.0 - hp->alpha;
    h.use_wd = hp->weight_decay != 0;
    h.use_mom = kind == VOLT_CUDA_OPTIM_RMSPROP ? hp->momentum > 0 : hp->momentum != 0;
    h.nesterov = hp->nesterov;
    h.maximize = hp->maximize;
    h.amsgrad = hp->amsgrad;
    h.centered = hp->centered;
    h.decoupled = kind == VOLT_CUDA_OPTIM_ADAMW;
    h.l2 = kind == VOLT_CUDA_OPTIM_ADAM && hp->weight_decay != 0;
    return h;
}

static bool aligned16(const void *p) { return !p || ((uintptr_t)p % 16) == 0; }

/* The descriptor of update u (its blocks from *blocks on). */
static volt_cuda_optim_tensor tensor_of(int kind, const volt_optim_update *u, int64_t *blocks) {
    volt_cuda_optim_tensor t;
    memset(&t, 0, sizeof t);
    const volt_optim_hparams *hp = u->hp;
    t.param = volt_tensor_data(u->param);
    t.grad = volt_tensor_data(u->grad);
    bool vec = aligned16(t.param) && aligned16(t.grad);
    for (int s = 0; s < 3; s++) {
        t.slot[s] = u->slot[s];
        vec = vec && aligned16(t.slot[s]);
    }
    t.comp = u->comp;
    vec = vec && aligned16(t.comp);
    t.n = volt_tensor_numel(u->param);
    t.first_block = *blocks;
    *blocks += (t.n + VOLT_CUDA_OPTIM_CHUNK - 1) / VOLT_CUDA_OPTIM_CHUNK;
    double step = (double)u->step;
    if (kind == VOLT_CUDA_OPTIM_ADAM || kind == VOLT_CUDA_OPTIM_ADAMW) {
        t.c0 = -(hp->lr / (1.0 - pow(hp->beta1, step)));
        t.c1 = sqrt(1.0 - pow(hp->beta2, step));
    } else if (kind == VOLT_CUDA_OPTIM_ADAGRAD) {
        t.c0 = -(hp->lr / (1.0 + (step - 1.0) * hp->lr_decay));
    }
    t.fresh = (u->fresh & 1u) != 0;
    t.vec = vec;
    return t;
}

static bool same_launch(const volt_optim_update *a, const volt_optim_update *b) {
    return a->param->dtype == b->param->dtype &&
           volt_device_equal(a->param->device, b->param->device);
}

/* One launch for the updates among u[first..n) that share u[first]'s
 * device and dtype (done[] marks them). */
static volt_status launch_one(int kind, const volt_optim_update *u, int64_t first, int64_t n,
                              bool *done) {
    int64_t count = 0;
    for (int64_t i = first; i < n; i++) count += !done[i] && same_launch(&u[first], &u[i]);
    if (count > INT32_MAX)
        return volt_error_set(VOLT_ERR_UNSUPPORTED, "%s: too many parameters in one group",
                              "optimizer_step");
    void *data = NULL;
    volt_tensor *table =
        volt_optim_cuda_host_table((size_t)count * sizeof(volt_cuda_optim_tensor), &data);
    if (!table) return volt_error_status();
    volt_cuda_optim_tensor *ts = data;
    int64_t k = 0, blocks = 0;
    for (int64_t i = first; i < n; i++)
        if (!done[i] && same_launch(&u[first], &u[i])) {
            ts[k++] = tensor_of(kind, &u[i], &blocks);
            done[i] = true;
        }
    int device = u[first].param->device.index;
    void *dev_table = volt_optim_cuda_upload(table, device);
    if (!dev_table) return volt_error_status();
    volt_cuda_optim_hparams h = hparams_of(kind, u[first].hp, u[first].param->dtype);
    return VOLT_CUDA_CHECK(
        volt_cuda_launch_optim(&h, dev_table, (int)count, blocks, volt_cuda_stream(device)),
        "the optimizer's update kernel");
}

volt_status volt_optim_cuda_update(const volt_optim_class *cls, const volt_optim_update *u,
                                   int64_t n) {
    int kind = kind_of(cls);
    if (kind < 0)
        return volt_error_set(VOLT_ERR_UNSUPPORTED, "%s: no CUDA update for this optimizer",
                              cls->name);
    if (n <= 0) return VOLT_OK;
    bool *done = calloc((size_t)n, sizeof *done);
    if (!done) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory", cls->name);
    volt_status st = VOLT_OK;
    volt_scope_begin();
    for (int64_t i = 0; st == VOLT_OK && i < n; i++)
        if (!done[i]) {
            st = volt_cuda_set_device(u[i].param->device.index);
            if (st == VOLT_OK) st = launch_one(kind, u, i, n, done);
        }
    volt_scope_end();
    free(done);
    return st;
}
