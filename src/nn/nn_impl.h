/* nn_impl.h: module internals shared by the nn files. */
#ifndef VOLT_NN_IMPL_H
#define VOLT_NN_IMPL_H

#include "ops/ops_impl.h"
#include "volt/nn.h"

struct volt_module_entry {
    char *name;
    volt_tensor *tensor; /* parameters and buffers */
    volt_module *module; /* children */
    bool persistent;     /* buffers */
};

/* Checks a local name: not empty, no '.', not already used in m. */
bool volt_module_check_name(const volt_module *m, const char *what, const char *name);
/* Marks the parameter caches of m and its ancestors stale. */
void volt_module_invalidate(volt_module *m);
/* Calls fn(dotted name, tensor, ctx) for every parameter (params) and then
 * every persistent buffer (buffers) below m, in registration order. */
typedef void (*volt_module_visit_fn)(const char *name, volt_tensor *t, bool is_param, void *ctx);
void volt_module_visit(const volt_module *m, bool params, bool buffers, volt_module_visit_fn fn,
                       void *ctx);

/* Frees m's hyperparameter record (hparams.c). */
void volt_module_free_hparams(volt_module *m);

#endif
