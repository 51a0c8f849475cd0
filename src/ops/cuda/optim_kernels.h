/* optim_kernels.h: the C ABI of the multi-tensor kernels of the optimizers
 * and of gradient clipping (optim.cu; their host callers are in
 * src/optim/cuda/). One launch works on a list of tensors: a table of
 * descriptors in device memory, each naming its first block; block b works
 * on elements [(b - first_block) * VOLT_CUDA_OPTIM_CHUNK, ... + CHUNK) of the
 * tensor whose range of blocks holds b. A launcher checks nothing: it queues
 * its kernel on `stream` of the current device and returns the launch's
 * cudaError_t as an int (0: queued). Dtypes are VOLT_CUDA_F32/F64/BF16/F16
 * (cuda_kernels.h). */
#ifndef VOLT_CUDA_OPTIM_KERNELS_H
#define VOLT_CUDA_OPTIM_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Elements per block. */
#define VOLT_CUDA_OPTIM_CHUNK 16384

/* The optimizers (the arithmetic of src/optim/cpu_update.c, operation by
 * operation, without fused multiply-adds, so results equal the CPU's). */
enum {
    VOLT_CUDA_OPTIM_SGD = 0,
    VOLT_CUDA_OPTIM_ADAM,
    VOLT_CUDA_OPTIM_ADAMW,
    VOLT_CUDA_OPTIM_RMSPROP,
    VOLT_CUDA_OPTIM_ADAGRAD,
    VOLT_CUDA_OPTIM_LION,
};

/* One parameter of an update: its data, gradient and state slots (NULL
 * where unused), of the launch's dtype; comp: a 16-bit parameter's
 * compensation under compensated updates (else NULL): the update starts
 * from param + comp in f32 and stores param = round(q), comp = round(q -
 * param) of its result q. */
typedef struct {
    void *param;
    const void *grad;
    void *slot[3];
    void *comp;
    int64_t n;
    int64_t first_block;
    /* Per-parameter coefficients (host doubles, rounded to the compute
     * type in the kernel as the CPU does): Adam/AdamW c0 = -lr / (1 -
     * beta1^step), c1 = sqrt(1 - beta2^step); Adagrad c0 = -lr / (1 +
     * (step - 1) lr_decay). */
    double c0, c1;
    int32_t fresh; /* SGD: the momentum buffer is new (it takes d) */
    int32_t vec;   /* every pointer 16-byte aligned: vector loads */
} volt_cuda_optim_tensor;

/* The group's hyperparameters, derived as cpu_update.c derives them. */
typedef struct {
    int kind, dtype;
    double neg_lr, momentum, keep, weight_decay; /* keep = 1 - dampening */
    double beta1, one_beta1, beta2, one_beta2, decay, eps;
    double alpha, one_alpha;
    int32_t use_wd, use_mom, nesterov, maximize, amsgrad, centered, l2, decoupled;
} volt_cuda_optim_hparams;

/* Updates every tensor of `tensors` (a device array of n_tensors
 * descriptors whose blocks number n_blocks in all). */
int volt_cuda_launch_optim(const volt_cuda_optim_hparams *hp, const volt_cuda_optim_tensor *tensors,
                           int n_tensors, int64_t n_blocks, void *stream);

/* A tensor of a clipping launch (any of the four dtypes, each its own). */
typedef struct {
    void *data;
    int64_t n;
    int64_t first_block;
    int32_t dtype;
    int32_t vec; /* data 16-byte aligned */
} volt_cuda_mt_tensor;

/* The norms: sum |x| (1), sum x^2 (2), max |x| (NaN wins) (inf), sum |x|^p. */
enum {
    VOLT_CUDA_NORM_1 = 0,
    VOLT_CUDA_NORM_2,
    VOLT_CUDA_NORM_INF,
    VOLT_CUDA_NORM_P,
};

/* *out (device, f64) = the accumulation (mode, power p for NORM_P) over
 * every element of every tensor, in f64, deterministic: each block writes
 * its partial to partials[block] (device, n_blocks f64), and one block
 * combines them in a fixed order. */
int volt_cuda_launch_norm(const volt_cuda_mt_tensor *tensors, int n_tensors, int64_t n_blocks,
                          int mode, double p, double *partials, double *out, void *stream);
/* Every element x = x * scale (scale rounded to f32 for f32/bf16/f16). */
int volt_cuda_launch_scale(const volt_cuda_mt_tensor *tensors, int n_tensors, int64_t n_blocks,
                           double scale, void *stream);
/* Every element x = clamp(x, lo, hi) (NaN stays NaN). */
int volt_cuda_launch_clamp(const volt_cuda_mt_tensor *tensors, int n_tensors, int64_t n_blocks,
                           double lo, double hi, void *stream);

#ifdef __cplusplus
}
#endif

#endif
