/* layers_impl.h: helpers shared by the layer files (linear.c, norm.c,
 * attention.c, ...): building a layer before registering it, labels for
 * error messages, parameter lookup and input checks. Implemented in
 * layer.c. */
#ifndef VOLT_LAYERS_IMPL_H
#define VOLT_LAYERS_IMPL_H

#include "nn/nn_impl.h"

/* "Linear 'fc1'" (or "Linear" for an unnamed layer) into buf. */
const char *volt_layer_label(const volt_module *m, char *buf, size_t size);
/* Same from a type and a name (before the layer exists). */
const char *volt_layer_label_of(const char *type, const char *name, char *buf, size_t size);

/* A new standalone layer of cls named `name`: the constructor fills it, then
 * volt_layer_attach registers it, so a failure half-way frees it whole. */
volt_module *volt_layer_create(const volt_module_class *cls, const char *name);
/* ok: registers m under parent (if any) and returns it; on failure, or when
 * ok is false, frees m and returns NULL. */
volt_module *volt_layer_attach(volt_module *m, volt_module *parent, const char *name, bool ok);
/* A new f32 parameter `name` of the given shape (uninitialised). */
volt_tensor *volt_layer_add_param(volt_module *m, const char *name, int ndim, const int64_t *shape);
/* Parameter or buffer `name` of m; NULL if absent. */
volt_tensor *volt_layer_param(const volt_module *m, const char *name);

/* Checks that the layer and its input exist and that x has the dtype of
 * param (when not NULL); errors name the layer. */
bool volt_layer_check_input(const char *type, const volt_module *m, const volt_tensor *x,
                            const volt_tensor *param);

/* x [..., in] @ w^T (+ b) -> [..., out] for w [out, in] (b NULL or [out]),
 * through addmm / matmul with w^T as a transposed view. No checks beyond the
 * ops' own. */
volt_tensor *volt_layer_linear(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b);

#endif
