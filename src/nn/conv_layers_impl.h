/* conv_layers_impl.h: what the conv, pool and batch-norm layer files share:
 * the checks of an input's rank and channel count, and the relabelling of
 * an op's error with the layer's name. Implemented in nn/conv.c. */
#ifndef VOLT_CONV_LAYERS_IMPL_H
#define VOLT_CONV_LAYERS_IMPL_H

#include "nn/layers_impl.h"

/* Checks x (not NULL, dtype of param when given) has one of the ranks
 * rank_a / rank_b and, when channels >= 0, `channels` at dim channel_dim
 * (negative: from the end); errors name the layer. */
bool volt_conv_layer_check(const char *type, const volt_module *m, const volt_tensor *x,
                           const volt_tensor *param, int rank_a, int rank_b, int channel_dim,
                           int64_t channels);
/* y as returned by an op: when it is NULL and the op recorded the error
 * (none was recorded before: had_error false), the message is prefixed with
 * the layer's label. Returns y. */
volt_tensor *volt_conv_layer_result(const volt_module *m, volt_tensor *y, bool had_error);

#endif
