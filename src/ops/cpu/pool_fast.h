/* pool_fast.h: direct f32 kernels of 2x2, stride-2 max pooling on
 * contiguous NCHW tensors — the CNN's pooling — that keep a compact argmax
 * (one byte per output) for the backward pass, which writes each input
 * gradient exactly once. AVX-512 where the CPU has it (checked at run
 * time), portable C elsewhere; OpenMP over the planes. */
#ifndef VOLT_POOL_FAST_H
#define VOLT_POOL_FAST_H

#include "ops/cpu/pool_ref.h"

/* True when the direct kernels take geometry g: kernel 2x2, stride 2x2, no
 * padding, dilation 1, and every window inside the input (oh == h / 2, ow
 * == w / 2: floor mode, or ceil mode on even sizes). */
bool volt_cpu_max_pool2x2_applies(const volt_pool_geom *g);

/* dst [n, c, oh, ow] = the maximum of each 2x2 window of src [n, c, h, w]
 * (both contiguous f32). argmax (NULL: not wanted) receives, per output,
 * the window position of the maximum, 2 * dy + dx, with the reference
 * kernel's conventions: the first maximum in row-major order, or the last
 * NaN when the window holds one (the output is then NaN). */
void volt_cpu_max_pool2x2_f32(const volt_pool_geom *g, const float *src, float *dst,
                              uint8_t *argmax);

/* diff_src [n, c, h, w] = diff_dst routed to the positions in argmax, every
 * element written once (zero where no window's maximum lies, including the
 * last row / column that floor mode leaves out). */
void volt_cpu_max_pool2x2_backward_f32(const volt_pool_geom *g, const float *diff_dst,
                                       const uint8_t *argmax, float *diff_src);

/* Whether the kernels use AVX-512 (true by default where the CPU has
 * AVX-512 F/BW/VL); false forces the portable path (tests compare the
 * two). Returns the previous setting. Not thread-safe: set it before use. */
bool volt_cpu_pool_fast_set_simd(bool enabled);

#endif
