/* lin_fixture.h: the one-layer module the Fabric tests step by hand —
 * y = w . x + b with w = (1, 2), b = 0.5 (a Linear 2 -> 1), so that a
 * gradient and an SGD step can be written down exactly. */
#ifndef VOLT_TEST_LIN_FIXTURE_H
#define VOLT_TEST_LIN_FIXTURE_H

#include <volt/volt.h>

typedef struct {
    volt_module base;
    volt_linear *fc;
} lin;

static const volt_module_ops lin_ops = {.name = "lin"};

static inline void lin_init(lin *m) {
    volt_module_init(&m->base, &lin_ops);
    m->fc = volt_linear_new(&m->base, "fc", 2, 1);
    float *w = volt_tensor_data(volt_module_get(&m->base, "fc.weight"));
    w[0] = 1, w[1] = 2;
    *(float *)volt_tensor_data(volt_module_get(&m->base, "fc.bias")) = 0.5f;
}

#endif
