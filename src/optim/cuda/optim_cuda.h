/* optim_cuda.h: the optim layer's CUDA entry points — the multi-tensor
 * optimizer update and the gradient-clipping passes over CUDA tensors
 * (the .c files of src/optim/cuda/ with VOLT_CUDA; src/optim/cuda_none.c without, where
 * no CUDA tensor can exist and each answers with the standard "no CUDA
 * backend" error). Work is queued on each device's stream; nothing waits
 * for it except volt_optim_cuda_norm, which reads its result back. */
#ifndef VOLT_OPTIM_CUDA_H
#define VOLT_OPTIM_CUDA_H

#include "optim/optim_impl.h"

/* A pinned host buffer of `bytes` for a launch's descriptors (a tensor of
 * the current scope; its data at *data), and its copy on cuda:device,
 * queued without blocking: the device address, or NULL with an error. */
volt_tensor *volt_optim_cuda_host_table(size_t bytes, void **data);
void *volt_optim_cuda_upload(const volt_tensor *table, int device);

/* Whether cls has a CUDA update (every built-in class does). */
bool volt_optim_cuda_supports(const volt_optim_class *cls);

/* The updates u[0..n) of one parameter group of an optimizer of class cls,
 * every parameter, gradient and used slot a contiguous CUDA tensor of one
 * dtype (f32, f64, bf16 or f16) per parameter, checked by the caller: one kernel
 * launch per (device, dtype) among them. Nothing is committed (steps,
 * versions): the caller does that. A launch failure is a CUDA error. */
volt_status volt_optim_cuda_update(const volt_optim_class *cls, const volt_optim_update *u,
                                   int64_t n);

/* Adds the norm accumulation of order p of grads[0..n) (contiguous CUDA
 * f32/f64/bf16/f16 tensors) to *acc: sum |x| (p = 1), sum x^2 (p = 2), max |x|
 * with NaN winning (p = inf), sum |x|^p otherwise, in f64, deterministic
 * (one launch and one f64 read back per device). */
volt_status volt_optim_cuda_norm(volt_tensor *const *grads, int64_t n, double p, double *acc);
/* grads[i] *= scale (rounded to f32 for f32/bf16/f16), in place. */
volt_status volt_optim_cuda_scale(volt_tensor *const *grads, int64_t n, double scale);
/* grads[i] = clamp(grads[i], lo, hi) in place (NaN stays NaN). */
volt_status volt_optim_cuda_clamp(volt_tensor *const *grads, int64_t n, double lo, double hi);

#endif
