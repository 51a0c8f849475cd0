/* gpu_train.c: volt's side of bench/gpu (issue 10, point 7) — volt's
 * trainer on cuda:0 (accelerator "cuda"), timed in steady state, for the
 * lightning side in bench/gpu/torch_gpu.py to be compared with:
 *
 *   cnn: the Fashion-MNIST CNN of issue 9 (bench/common/fmnist_net.h) at
 *        batch 512, SGD momentum 0.9, precision 32-true;
 *   gpt: a GPT-2-small-shaped model (volt_gpt_new: 12 layers, n_embd 768,
 *        12 heads, block 1024, vocabulary 50257, bias, no dropout, head tied)
 *        at batch 8 x 1024 tokens, AdamW (lr 6e-4, betas 0.9/0.95, decay
 *        0.1 on 2-D weights), precision bf16-mixed.
 *
 * Data: random inputs of the right shapes, made once in host memory
 * (cnn: 28x28 pixels in [0, 1) and labels 0..9; gpt: tokens), in a
 * tensor dataset read by volt's loader: the benchmark measures the training
 * step, not a file format.
 *
 *   bench_gpu_gpu_train model=cnn|gpt [steps=50] [warmup=10] [batch=]
 *                       [precision=] [layers=12] [vocab=50257]
 *                       [profile=0|1] [kernels=0|1]
 *
 * vocab=50304 is nanoGPT's padding of GPT-2's 50257 to a multiple of 64:
 * the head's product then runs on cuBLASLt's aligned kernels.
 *
 * Times steps warmup .. warmup+steps-1 (the device synchronised at both
 * ends) and prints one JSON line: ms_per_step, samples_per_s,
 * tokens_per_s (gpt), peak_gpu_mb (volt's caching allocator: peak
 * allocated, and reserved), params, final train loss. With profile=1 the
 * device is synchronised around every traced op of the timed steps (volt's
 * op-tracing hook), and a second line gives each op's self time per step and what no traced
 * op covers (the optimizer, the trainer, launches): a profile, not a
 * timing. With kernels=1 (CUPTI, kernel_trace.h) a further line gives what the
 * GPU ran during the timed steps: busy and idle time, kernels, host calls.
 * Not a test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <volt/volt.h>

#include "../common/args.h"
#include "../common/fmnist_net.h"
#include "kernel_trace.h"

typedef struct {
    const char *model, *precision;
    int64_t steps, warmup, batch, layers, vocab;
    bool profile, kernels;
} settings;

/* ------------------------------------------------------- step timing */

typedef struct {
    volt_callback base;
    int64_t first, last; /* timed batches */
    double t0, t1, loss;
    const volt_trace_hook *profile; /* installed from the first timed batch */
    bool kernels, tracing;          /* kernels=1: CUPTI records the timed steps */
} step_timer;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volt_status batch_start(volt_callback *self, volt_module *m, volt_step *s) {
    (void)m;
    step_timer *t = (step_timer *)self;
    if (volt_step_batch_idx(s) != t->first) return VOLT_OK;
    volt_status st = volt_cuda_synchronize(0);
    t->t0 = now();
    if (t->profile) volt_trace_hook_set(t->profile);
    if (t->kernels) t->tracing = kernel_trace_start();
    return st;
}

static volt_status batch_end(volt_callback *self, volt_module *m, volt_step *s) {
    (void)m;
    step_timer *t = (step_timer *)self;
    if (volt_step_batch_idx(s) != t->last) return VOLT_OK;
    volt_status st = volt_cuda_synchronize(0);
    t->t1 = now();
    if (t->profile) volt_trace_hook_set(NULL);
    if (t->tracing) kernel_trace_stop();
    volt_tensor *loss = volt_step_outputs(s);
    t->loss = loss ? volt_tensor_item(loss) : NAN;
    return st;
}

static const volt_callback_ops step_timer_ops = {
    .name = "step_timer", .on_train_batch_start = batch_start, .on_train_batch_end = batch_end};

/* ------------------------------------------------- op profile (profile=1) */

enum { MAX_OPS = 128, MAX_DEPTH = 64 };

typedef struct {
    const char *name;
    double self_s;
    int64_t calls;
} op_stat;

typedef struct {
    op_stat ops[MAX_OPS];
    int n_ops, depth;
    double start[MAX_DEPTH], child[MAX_DEPTH];
    const char *names[MAX_DEPTH];
} op_profile;

static void prof_begin(void *ctx, const char *name) {
    op_profile *p = ctx;
    volt_cuda_synchronize(0);
    if (p->depth < MAX_DEPTH) {
        p->names[p->depth] = name;
        p->start[p->depth] = now();
        p->child[p->depth] = 0;
    }
    p->depth++;
}

static void prof_end(void *ctx) {
    op_profile *p = ctx;
    volt_cuda_synchronize(0);
    if (--p->depth >= MAX_DEPTH) return;
    double total = now() - p->start[p->depth];
    if (p->depth > 0) p->child[p->depth - 1] += total;
    int i = 0;
    while (i < p->n_ops && strcmp(p->ops[i].name, p->names[p->depth]) != 0) i++;
    if (i == MAX_OPS) return;
    if (i == p->n_ops) p->ops[p->n_ops++] = (op_stat){p->names[p->depth], 0, 0};
    p->ops[i].self_s += total - p->child[p->depth];
    p->ops[i].calls++;
}

static int by_self(const void *a, const void *b) {
    double d = ((const op_stat *)b)->self_s - ((const op_stat *)a)->self_s;
    return d > 0 ? 1 : d < 0 ? -1 : 0;
}

static void print_profile(op_profile *p, int64_t steps, double step_ms) {
    double traced = 0;
    for (int i = 0; i < p->n_ops; i++) traced += p->ops[i].self_s;
    qsort(p->ops, (size_t)p->n_ops, sizeof p->ops[0], by_self);
    printf("{\"profile_ms_per_step\": %.3f, \"untraced_ms\": %.3f, \"ops\": [", step_ms,
           step_ms - traced * 1e3 / (double)steps);
    for (int i = 0; i < p->n_ops; i++)
        printf("%s{\"op\": \"%s\", \"ms\": %.3f, \"calls\": %.1f}", i ? ", " : "", p->ops[i].name,
               p->ops[i].self_s * 1e3 / (double)steps, (double)p->ops[i].calls / (double)steps);
    printf("]}\n");
}

/* ------------------------------------------------------------- data */

/* n random samples: cnn x [n, 1, 28, 28] f32, y [n] i64 < 10; gpt x, y
 * [n, 1024] i64 < 50257 (y is x shifted by one token). */
static volt_dataset *random_data(bool gpt, int64_t n, int64_t vocab) {
    volt_scope_begin();
    volt_tensor *x, *y;
    if (gpt) {
        volt_tensor *tokens = volt_randint(0, vocab, 2, (int64_t[]){n, 1025}, VOLT_I64, NULL);
        x = volt_contiguous(volt_narrow(tokens, 1, 0, 1024));
        y = volt_contiguous(volt_narrow(tokens, 1, 1, 1024));
    } else {
        x = volt_rand(4, (int64_t[]){n, 1, 28, 28}, VOLT_F32, NULL);
        y = volt_randint(0, 10, 1, (int64_t[]){n}, VOLT_I64, NULL);
    }
    volt_dataset *ds = x && y ? volt_tensor_dataset_new(2, (const char *const[]){"x", "y"},
                                                        (volt_tensor *const[]){x, y})
                              : NULL;
    volt_scope_end();
    return ds;
}

/* ------------------------------------------------------------- model */

static volt_module *make_model(const settings *s, net *cnn) {
    if (strcmp(s->model, "cnn") == 0) return net_init(cnn, true) ? &cnn->base : NULL;
    volt_gpt_options o = volt_gpt_defaults();
    o.vocab_size = s->vocab, o.block_size = 1024, o.n_layer = s->layers, o.n_head = 12;
    o.n_embd = 768, o.dropout = 0, o.bias = true, o.lr = 6e-4, o.weight_decay = 0.1;
    return volt_gpt_new(&o);
}

static int run(const settings *s) {
    bool gpt = strcmp(s->model, "gpt") == 0;
    volt_seed_everything(42);
    net cnn;
    volt_module *m = make_model(s, &cnn);
    int64_t n = (s->warmup + s->steps) * s->batch;
    volt_dataset *ds = m ? random_data(gpt, n, s->vocab) : NULL;
    volt_data_loader *dl =
        ds ? volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = s->batch}) : NULL;
    volt_trainer_config cfg = volt_trainer_defaults();
    cfg.accelerator = "cuda";
    cfg.precision = s->precision;
    cfg.max_epochs = 1;
    cfg.limit_train_batches = VOLT_BATCHES(s->warmup + s->steps);
    cfg.enable_checkpointing = false;
    cfg.logger = false;
    cfg.enable_progress_bar = false;
    cfg.enable_model_summary = false;
    volt_trainer *t = dl ? volt_trainer_new(&cfg) : NULL;
    step_timer timer = {.base.ops = &step_timer_ops,
                        .first = s->warmup,
                        .last = s->warmup + s->steps - 1,
                        .kernels = s->kernels};
    volt_status st = t ? volt_trainer_add_callback(t, &timer.base) : volt_error_status();
    op_profile *prof = s->profile ? calloc(1, sizeof *prof) : NULL;
    volt_trace_hook hook = {.begin = prof_begin, .end = prof_end, .ctx = prof};
    timer.profile = prof ? &hook : NULL;
    if (!st) st = volt_trainer_fit_loaders(t, m, dl, NULL, NULL);
    if (st) {
        fprintf(stderr, "gpu_train: %s\n", volt_error_message());
    } else {
        double ms = (timer.t1 - timer.t0) * 1e3 / (double)s->steps;
        volt_memory_stats mem = volt_cuda_memory_stats(0);
        printf("{\"impl\": \"volt\", \"model\": \"%s\", \"precision\": \"%s\", \"vocab\": %lld, "
               "\"layers\": %lld, \"batch\": %lld, "
               "\"steps\": %lld, \"warmup\": %lld, \"params\": %lld, \"ms_per_step\": %.4f, "
               "\"samples_per_s\": %.1f, \"tokens_per_s\": %.1f, \"peak_gpu_mb\": %.1f, "
               "\"reserved_gpu_mb\": %.1f, \"loss\": %.4f, \"volt\": \"%s\"}\n",
               s->model, s->precision, (long long)s->vocab, (long long)s->layers,
               (long long)s->batch, (long long)s->steps, (long long)s->warmup,
               (long long)volt_module_num_parameters(m, false), ms, (double)s->batch * 1e3 / ms,
               gpt ? (double)s->batch * 1024e3 / ms : 0.0,
               (double)mem.peak_allocated_bytes / 1048576.0, (double)mem.reserved_bytes / 1048576.0,
               timer.loss, volt_version());
        if (prof) print_profile(prof, s->steps, ms);
        if (timer.tracing) kernel_trace_report(s->steps);
    }
    free(prof);
    volt_trainer_free(t);
    volt_data_loader_free(dl);
    volt_dataset_free(ds);
    volt_module_free(m);
    return st ? 1 : 0;
}

int main(int argc, char **argv) {
    settings s = {.model = arg_str(argc, argv, "model", "cnn")};
    bool gpt = strcmp(s.model, "gpt") == 0;
    s.precision = arg_str(argc, argv, "precision", gpt ? "bf16-mixed" : "32-true");
    s.steps = arg_int(argc, argv, "steps", 50);
    s.warmup = arg_int(argc, argv, "warmup", 10);
    s.batch = arg_int(argc, argv, "batch", gpt ? 8 : 512);
    s.layers = arg_int(argc, argv, "layers", 12);
    s.vocab = arg_int(argc, argv, "vocab", 50257);
    s.profile = arg_int(argc, argv, "profile", 0) != 0;
    s.kernels = arg_int(argc, argv, "kernels", 0) != 0;
    if ((!gpt && strcmp(s.model, "cnn") != 0) || s.steps < 1 || s.warmup < 1 || s.batch < 1 ||
        s.layers < 1 || s.vocab < 2) {
        fprintf(stderr,
                "usage: %s model=cnn|gpt [steps=50] [warmup=10] [batch=512|8] "
                "[precision=32-true|bf16-mixed] [layers=12] [vocab=50257]\n",
                argv[0]);
        return 2;
    }
    return run(&s);
}
