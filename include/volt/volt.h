/* volt/volt.h: everything volt offers, in one include.
 *
 * A whole program (the layers above the engine — modules, the trainer, data —
 * arrive in later headers; this one trains a linear model by hand):
 *
 *     #include <volt/volt.h>
 *     #include <stdio.h>
 *
 *     int main(void) {
 *         volt_seed_everything(0);
 *         volt_tensor *w = volt_persist(volt_zeros(VOLT_SHAPE(3, 1), VOLT_F32));
 *         volt_requires_grad(w, true);
 *         volt_tensor *x = volt_persist(volt_randn(VOLT_SHAPE(64, 3), VOLT_F32, NULL));
 *         volt_tensor *y = volt_persist(volt_matmul(x, volt_full(VOLT_SHAPE(3, 1), 2.0,
 * VOLT_F32))); for (int step = 0; step < 100; step++) { volt_scope_begin(); // frees every
 * temporary below volt_tensor *loss = volt_mse_loss(volt_matmul(x, w), y, VOLT_REDUCTION_MEAN);
 *             volt_tensor_clear_grad(w);
 *             if (volt_backward(loss) != VOLT_OK) break;
 *             VOLT_NO_GRAD { volt_sub_(w, volt_mul_scalar(w->grad, 0.1)); }
 *             if (step % 20 == 0) printf("step %d loss %.4f\n", step, volt_tensor_item(loss));
 *             volt_scope_end();
 *         }
 *         if (volt_error_status() != VOLT_OK) fprintf(stderr, "%s\n", volt_error_message());
 *         volt_tensor_free(w); volt_tensor_free(x); volt_tensor_free(y);
 *         return volt_error_status() == VOLT_OK ? 0 : 1;
 *     }
 */
#ifndef VOLT_VOLT_H
#define VOLT_VOLT_H

#include "volt/autograd.h"
#include "volt/core.h"
#include "volt/data.h"
#include "volt/io.h"
#include "volt/nn.h"
#include "volt/ops.h"
#include "volt/optim.h"

#endif /* VOLT_VOLT_H */
