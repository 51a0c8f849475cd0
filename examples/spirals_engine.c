/* spirals_engine.c: volt's engine without the framework — trains a
 * two-layer MLP with volt's engine (tensors, autograd, ops) on a synthetic
 * three-class spiral data set, by hand: forward, cross-entropy, backward, SGD
 * with momentum. Prints the loss as it falls and the final accuracy.
 *
 *   build/examples/spirals_engine [epochs]                                  */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <volt/volt.h>

#define N_PER_CLASS 300
#define N_CLASSES 3
#define HIDDEN 64

/* Three interleaved spirals in the plane: x [N, 2] f32, y [N] i64. */
static void make_spirals(volt_tensor **x_out, volt_tensor **y_out) {
    int64_t n = N_PER_CLASS * N_CLASSES;
    volt_tensor *x = volt_empty(VOLT_SHAPE(n, 2), VOLT_F32);
    volt_tensor *y = volt_empty(VOLT_SHAPE(n), VOLT_I64);
    volt_tensor *noise = volt_randn(VOLT_SHAPE(n), VOLT_F32, NULL);
    float *px = volt_tensor_data(x), *pn = volt_tensor_data(noise);
    int64_t *py = volt_tensor_data(y);
    for (int c = 0; c < N_CLASSES; c++) {
        for (int i = 0; i < N_PER_CLASS; i++) {
            int64_t k = c * N_PER_CLASS + i;
            float r = (float)i / N_PER_CLASS;
            float angle = 4.0f * (float)c + 4.0f * r + 0.2f * pn[k];
            px[2 * k] = r * sinf(angle);
            px[2 * k + 1] = r * cosf(angle);
            py[k] = c;
        }
    }
    volt_tensor_free(noise);
    *x_out = x;
    *y_out = y;
}

typedef struct {
    volt_tensor *w1, *b1, *w2, *b2; /* parameters */
    volt_tensor *v[4];              /* momentum buffers */
} mlp;

static volt_tensor *param(int ndim, const int64_t *shape, double scale) {
    volt_tensor *t = volt_persist(volt_mul_scalar(volt_randn(ndim, shape, VOLT_F32, NULL), scale));
    return volt_requires_grad(t, true);
}

static volt_tensor *forward(const mlp *m, const volt_tensor *x) {
    volt_tensor *h = volt_relu(volt_add(volt_matmul(x, m->w1), m->b1));
    return volt_add(volt_matmul(h, m->w2), m->b2);
}

/* v = momentum * v + grad; p -= lr * v */
static void sgd_step(mlp *m, double lr, double momentum) {
    volt_tensor *params[4] = {m->w1, m->b1, m->w2, m->b2};
    VOLT_NO_GRAD {
        for (int i = 0; i < 4; i++) {
            volt_mul_scalar_(m->v[i], momentum);
            volt_add_(m->v[i], params[i]->grad);
            volt_sub_(params[i], volt_mul_scalar(m->v[i], lr));
            volt_tensor_clear_grad(params[i]);
        }
    }
}

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 300;
    volt_seed_everything(42);
    volt_tensor *x, *y;
    make_spirals(&x, &y);
    mlp m = {
        .w1 = param(VOLT_SHAPE(2, HIDDEN), sqrt(2.0 / 2)),
        .b1 = param(VOLT_SHAPE(HIDDEN), 0.0),
        .w2 = param(VOLT_SHAPE(HIDDEN, N_CLASSES), sqrt(1.0 / HIDDEN)),
        .b2 = param(VOLT_SHAPE(N_CLASSES), 0.0),
    };
    volt_tensor *params[4] = {m.w1, m.b1, m.w2, m.b2};
    for (int i = 0; i < 4; i++) m.v[i] = volt_persist(volt_zeros_like(params[i]));

    printf("volt %s: MLP 2-%d-%d on %d spiral points, full-batch SGD (momentum 0.9)\n",
           volt_version(), HIDDEN, N_CLASSES, N_PER_CLASS * N_CLASSES);
    double t0 = volt_time_now(), loss_value = NAN;
    for (int epoch = 0; epoch < epochs && volt_error_status() == VOLT_OK; epoch++) {
        volt_scope_begin(); /* every temporary of this step is freed at its end */
        volt_tensor *loss = volt_cross_entropy(forward(&m, x), y);
        if (loss && volt_backward(loss) == VOLT_OK) {
            sgd_step(&m, 0.5, 0.9);
            loss_value = volt_tensor_item(loss);
            if (epoch % 50 == 0 || epoch == epochs - 1)
                printf("epoch %4d  loss %.4f\n", epoch, loss_value);
        }
        volt_scope_end();
    }
    double accuracy = NAN;
    volt_scope_begin();
    VOLT_NO_GRAD {
        volt_tensor *correct = volt_eq(volt_argmax(forward(&m, x), 1, false), y);
        accuracy = volt_tensor_item(volt_mean_all(volt_to_dtype(correct, VOLT_F32)));
    }
    volt_scope_end();
    int status = volt_error_status() == VOLT_OK ? 0 : 1;
    if (status)
        fprintf(stderr, "%s\n", volt_error_message());
    else
        printf("final loss %.4f, training accuracy %.1f%% in %.2f s\n", loss_value, 100 * accuracy,
               volt_time_now() - t0);
    for (int i = 0; i < 4; i++) {
        volt_tensor_free(params[i]);
        volt_tensor_free(m.v[i]);
    }
    volt_tensor_free(x);
    volt_tensor_free(y);
    return status;
}
