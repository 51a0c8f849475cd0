/* cnn_ops.c: per-op profile of one training step of issue 9's benchmark CNN
 * (conv 1->32 3x3 pad 1, ReLU, max-pool 2; conv 32->64 3x3 pad 1, ReLU,
 * max-pool 2; Linear 3136->128, ReLU; Linear 128->10; cross-entropy; SGD
 * momentum 0.9), batch 128 of random data, on volt's engine (no trainer).
 * A trace hook (volt_trace_hook_set) times every op span; each op's
 * exclusive time (minus the ops it ran inside it) is taken per op call
 * ("max_pool2d#2": the step's second max_pool2d; the numbers count the calls
 * that end, so an op that runs others inside it ends after them) and the
 * medians over the timed steps are printed as one JSON line per call, plus
 * one for the whole step. cnn_ops_torch.py is PyTorch's side.
 * Usage: bench_layers_cnn_ops [threads] [steps]   (defaults 2, 30) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volt/volt.h>

#define WARMUP 5
#define MAX_STEPS 200
#define MAX_OPS 64
#define MAX_DEPTH 32

typedef struct {
    char names[MAX_OPS][48]; /* "conv2d#1": the op's name and its call number in the step */
    double total[MAX_OPS];   /* this step's exclusive seconds per name */
    int n;
    const char *bases[MAX_OPS]; /* call numbers so far this step per op name */
    int calls[MAX_OPS], nbases;
    const char *stack_name[MAX_DEPTH];
    double stack_t0[MAX_DEPTH], stack_child[MAX_DEPTH];
    int depth;
} profile;

/* The slot of the next call of op `name` in this step ("name#k"). */
static int slot_of(profile *p, const char *name) {
    int b = 0;
    while (b < p->nbases && strcmp(p->bases[b], name) != 0) b++;
    if (b == p->nbases && p->nbases < MAX_OPS) p->bases[p->nbases++] = name;
    char key[48];
    snprintf(key, sizeof key, "%s#%d", name, b < MAX_OPS ? ++p->calls[b] : 0);
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->names[i], key) == 0) return i;
    if (p->n == MAX_OPS) return MAX_OPS - 1;
    memcpy(p->names[p->n], key, sizeof key);
    return p->n++;
}

static void on_begin(void *ctx, const char *name) {
    profile *p = ctx;
    if (p->depth == MAX_DEPTH) return;
    p->stack_name[p->depth] = name;
    p->stack_child[p->depth] = 0;
    p->stack_t0[p->depth++] = volt_time_now();
}

static void on_end(void *ctx) {
    profile *p = ctx;
    if (p->depth == 0) return;
    double dt = volt_time_now() - p->stack_t0[--p->depth];
    p->total[slot_of(p, p->stack_name[p->depth])] += dt - p->stack_child[p->depth];
    if (p->depth > 0) p->stack_child[p->depth - 1] += dt;
}

typedef struct {
    volt_module base;
    volt_conv2d_layer *conv1, *conv2;
    volt_max_pool2d_layer *pool;
    volt_linear *fc1, *fc2;
} cnn;

static volt_tensor *cnn_forward(cnn *m, const volt_tensor *x) {
    volt_tensor *h = volt_relu(volt_conv2d_layer_forward(m->conv1, x));
    h = volt_max_pool2d_layer_forward(m->pool, h);
    h = volt_relu(volt_conv2d_layer_forward(m->conv2, h));
    h = volt_flatten(volt_max_pool2d_layer_forward(m->pool, h), 1, -1);
    h = volt_relu(volt_linear_forward(m->fc1, h));
    return volt_linear_forward(m->fc2, h);
}

static const volt_module_ops cnn_ops_table = {.name = "cnn"};

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return v[n / 2];
}

int main(int argc, char **argv) {
    volt_set_num_threads(argc > 1 ? atoi(argv[1]) : 2);
    int steps = argc > 2 ? atoi(argv[2]) : 30;
    if (steps < 1 || steps > MAX_STEPS) steps = 30;
    volt_seed_everything(0);
    cnn m;
    memset(&m, 0, sizeof m);
    volt_module_init(&m.base, &cnn_ops_table);
    volt_conv_options pad1 = {.padding = {1, 1}};
    m.conv1 = volt_conv2d_layer_new(&m.base, "conv1", 1, 32, 3, 3, &pad1);
    m.conv2 = volt_conv2d_layer_new(&m.base, "conv2", 32, 64, 3, 3, &pad1);
    m.pool = volt_max_pool2d_layer_new(&m.base, "pool", 2, 2, NULL);
    m.fc1 = volt_linear_new(&m.base, "fc1", 64 * 7 * 7, 128);
    m.fc2 = volt_linear_new(&m.base, "fc2", 128, 10);
    volt_optimizer *opt = volt_sgd_new(volt_module_parameters(&m.base),
                                       &(volt_sgd_options){.lr = 0.02, .momentum = 0.9});
    volt_tensor *x = volt_persist(volt_rand(4, (int64_t[]){128, 1, 28, 28}, VOLT_F32, NULL));
    volt_tensor *y = volt_persist(volt_randint(0, 10, 1, (int64_t[]){128}, VOLT_I64, NULL));
    static profile prof;
    static double per_op[MAX_OPS][MAX_STEPS], step_s[MAX_STEPS];
    volt_trace_hook hook = {on_begin, on_end, &prof};
    volt_trace_hook_set(&hook);
    for (int i = 0; i < WARMUP + steps && volt_error_status() == VOLT_OK; i++) {
        memset(prof.total, 0, sizeof prof.total);
        memset(prof.calls, 0, sizeof prof.calls);
        double t0 = volt_time_now();
        volt_scope_begin();
        volt_backward(volt_cross_entropy(cnn_forward(&m, x), y));
        volt_optimizer_step(opt);
        volt_optimizer_zero_grad(opt);
        volt_scope_end();
        if (i < WARMUP) continue;
        step_s[i - WARMUP] = volt_time_now() - t0;
        for (int k = 0; k < prof.n; k++) per_op[k][i - WARMUP] = prof.total[k];
    }
    volt_trace_hook_set(NULL);
    if (volt_error_status() != VOLT_OK) {
        fprintf(stderr, "cnn_ops: %s\n", volt_error_message());
        return 1;
    }
    for (int k = 0; k < prof.n; k++)
        printf("{\"bench\":\"cnn_ops\",\"impl\":\"volt\",\"op\":\"%s\",\"ms\":%.4f}\n",
               prof.names[k], median(per_op[k], steps) * 1e3);
    printf("{\"bench\":\"cnn_ops\",\"impl\":\"volt\",\"op\":\"step\",\"ms\":%.4f,\"threads\":%d}\n",
           median(step_s, steps) * 1e3, volt_get_num_threads());
    volt_tensor_free(x);
    volt_tensor_free(y);
    volt_optimizer_free(opt);
    volt_module_free(&m.base);
    return 0;
}
