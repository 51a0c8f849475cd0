/* conv_c1_geom.h: the geometry of Conv2d(1, o, 3, padding=1) on [n, 1, h, w]
 * with a bias, the case of the direct kernels (ops/cpu/conv_c1.h,
 * conv_c1_pool.h), for their tests. Header only. */
#ifndef VOLT_TEST_CONV_C1_GEOM_H
#define VOLT_TEST_CONV_C1_GEOM_H

#include "ops/cpu/conv_ref.h"

static inline volt_conv_geom vt_conv_c1_geom(int64_t n, int64_t o, int64_t h, int64_t w) {
    return (volt_conv_geom){.n = n,
                            .c = 1,
                            .h = h,
                            .w = w,
                            .o = o,
                            .oh = h,
                            .ow = w,
                            .kh = 3,
                            .kw = 3,
                            .sh = 1,
                            .sw = 1,
                            .dh = 1,
                            .dw = 1,
                            .ph = 1,
                            .pw = 1,
                            .groups = 1,
                            .with_bias = true};
}

#endif
