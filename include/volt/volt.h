/* volt/volt.h: everything volt offers, in one include.
 *
 * A whole training program: the science in a module, the engineering in the
 * trainer (examples/mlp_fashion_mnist.c is the complete, commented version).
 *
 *     #include <stdio.h>
 *     #include <volt/volt.h>
 *
 *     typedef struct { volt_module base; volt_linear *fc1, *fc2; } mlp;
 *
 *     static volt_tensor *training_step(volt_module *self, volt_batch *b, int64_t i,
 *                                       volt_step *step) {
 *         mlp *m = (mlp *)self;
 *         (void)i;
 *         volt_tensor *h = volt_relu(volt_linear_forward(m->fc1, b->x));
 *         volt_tensor *loss = volt_cross_entropy(volt_linear_forward(m->fc2, h), b->y);
 *         volt_log(step, "train_loss", loss, VOLT_LOG_PROG_BAR);
 *         return loss;                  // the trainer runs backward and the step
 *     }
 *
 *     static volt_status configure_optimizers(volt_module *self, volt_optim_setup *o) {
 *         volt_optimizer *sgd = volt_sgd_new(volt_module_parameters(self),
 *                                            &(volt_sgd_options){.lr = 0.05, .momentum = 0.9});
 *         return volt_optim_setup_add(o, sgd, NULL, VOLT_INTERVAL_EPOCH);
 *     }
 *
 *     static const volt_module_ops ops = {.name = "mlp", .training_step = training_step,
 *                                         .configure_optimizers = configure_optimizers};
 *
 *     int main(void) {
 *         mlp m;
 *         volt_module_init(&m.base, &ops);
 *         m.fc1 = volt_linear_new(&m.base, "fc1", 784, 256);
 *         m.fc2 = volt_linear_new(&m.base, "fc2", 256, 10);
 *         volt_datamodule *data =
 *             volt_fashion_mnist_new(&(volt_fashion_mnist_options){.batch_size = 64});
 *         volt_trainer_config cfg = volt_trainer_defaults();
 *         cfg.max_epochs = 5;
 *         volt_trainer *t = volt_trainer_new(&cfg);
 *         volt_status st = t ? volt_trainer_fit(t, &m.base, data, NULL) : volt_error_status();
 *         if (st != VOLT_OK) fprintf(stderr, "%s\n", volt_error_message());
 *         volt_trainer_free(t); volt_datamodule_free(data); volt_module_free(&m.base);
 *         return st == VOLT_OK ? 0 : 1;
 *     }
 */
#ifndef VOLT_VOLT_H
#define VOLT_VOLT_H

#include "volt/autograd.h"
#include "volt/core.h"
#include "volt/data.h"
#include "volt/dist.h"
#include "volt/fabric.h"
#include "volt/io.h"
#include "volt/nn.h"
#include "volt/ops.h"
#include "volt/optim.h"
#include "volt/train.h"

#endif /* VOLT_VOLT_H */
