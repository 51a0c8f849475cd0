/* attention_bench.c: volt's side of the attention and GEMM micro-benchmarks
 * of issue 10 (bench/gpu/attention_torch.py is PyTorch's), on cuda:0:
 *
 *   attn: volt_scaled_dot_product_attention, causal, at B=8, H=12, T=1024,
 *         D=64 (the GPT-2-small shape) in bf16 and f32, and B=8, H=6, D=128
 *         in bf16: the forward alone (grad off) and forward + backward;
 *   gemm: the GPT-2-small linear layers at 8 x 1024 tokens in bf16 through
 *         volt_addmm / volt_matmul as volt's Linear runs them — forward
 *         x @ W^T + b (W [out, in] as a transposed view), input gradient
 *         dY @ W, weight gradient dY^T @ x (a transposed view).
 *
 *   bench_gpu_attention_bench [what=attn|gemm|head|all] [reps=20] [autocast=0]
 *                             [vocab=50257]
 *
 * autocast=1: the gemm cases on f32 tensors under bf16 autocast, as a
 * bf16-mixed training step runs them (operands cast to bf16 at each call,
 * f32 results). vocab: the head's width (50304 and 50264 show what the
 * alignment of 50257 costs).
 *
 * Each case is warmed up, then timed in 5 groups of `reps` calls with the
 * device synchronised around each group (host clock); the median group's
 * mean is printed as one JSON line: ms and TFLOP/s (attention FLOPs count
 * the causal half: forward 2 B H T^2 D, backward 2.5x that). Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <volt/volt.h>

#include "../common/args.h"

#define GROUPS 5
#define CUDA0 ((volt_device){VOLT_CUDA, 0})

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "attention_bench: %s: %s\n", what, volt_error_message());
    exit(1);
}

typedef void (*bench_fn)(void *ctx);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over GROUPS of the mean ms of `reps` calls of fn. */
static double time_ms(bench_fn fn, void *ctx, int reps) {
    for (int i = 0; i < 3; i++) fn(ctx);
    if (volt_cuda_synchronize(0)) die("synchronize");
    double ms[GROUPS];
    for (int g = 0; g < GROUPS; g++) {
        double t0 = now();
        for (int i = 0; i < reps; i++) fn(ctx);
        if (volt_cuda_synchronize(0)) die("synchronize");
        ms[g] = (now() - t0) * 1e3 / reps;
    }
    qsort(ms, GROUPS, sizeof ms[0], cmp_double);
    return ms[GROUPS / 2];
}

static volt_generator gen;

static volt_tensor *gpu_randn(int ndim, const int64_t *shape, volt_dtype dtype) {
    volt_tensor *c = volt_randn(ndim, shape, VOLT_F32, &gen);
    volt_tensor *t = c ? volt_to_device(volt_to_dtype(c, dtype), CUDA0) : NULL;
    if (!t) die("making inputs");
    return volt_persist(t);
}

/* ----------------------------------------------------------- attention */

typedef struct {
    volt_tensor *q, *k, *v, *g;
} attn_ctx;

static void attn_forward(void *p) {
    attn_ctx *c = p;
    volt_scope_begin();
    VOLT_NO_GRAD {
        if (!volt_scaled_dot_product_attention(c->q, c->k, c->v, true, 0)) die("attention");
    }
    volt_scope_end();
}

static void attn_forward_backward(void *p) {
    attn_ctx *c = p;
    volt_scope_begin();
    volt_tensor *out = volt_scaled_dot_product_attention(c->q, c->k, c->v, true, 0);
    if (!out || volt_backward_ex(out, c->g, false)) die("attention backward");
    volt_tensor_clear_grad(c->q);
    volt_tensor_clear_grad(c->k);
    volt_tensor_clear_grad(c->v);
    volt_scope_end();
}

static void bench_attention(int64_t b, int64_t h, int64_t t, int64_t d, volt_dtype dtype,
                            int reps) {
    attn_ctx c;
    c.q = volt_requires_grad(gpu_randn(VOLT_SHAPE(b, h, t, d), dtype), true);
    c.k = volt_requires_grad(gpu_randn(VOLT_SHAPE(b, h, t, d), dtype), true);
    c.v = volt_requires_grad(gpu_randn(VOLT_SHAPE(b, h, t, d), dtype), true);
    c.g = gpu_randn(VOLT_SHAPE(b, h, t, d), dtype);
    double fwd_flop = 2.0 * (double)(b * h * t * t * d); /* causal: half of 4 B H T^2 D */
    double f = time_ms(attn_forward, &c, reps);
    double fb = time_ms(attn_forward_backward, &c, reps);
    const char *dt = dtype == VOLT_BF16 ? "bf16" : "f32";
    printf(
        "{\"impl\": \"volt\", \"case\": \"attn\", \"dtype\": \"%s\", \"shape\": [%lld, %lld, "
        "%lld, %lld], \"causal\": true, \"fwd_ms\": %.4f, \"fwd_tflops\": %.1f, "
        "\"fwdbwd_ms\": %.4f, \"fwdbwd_tflops\": %.1f, \"bwd_ms\": %.4f, \"bwd_tflops\": %.1f}\n",
        dt, (long long)b, (long long)h, (long long)t, (long long)d, f, fwd_flop / f * 1e-9, fb,
        3.5 * fwd_flop / fb * 1e-9, fb - f, 2.5 * fwd_flop / (fb - f) * 1e-9);
    fflush(stdout);
    volt_tensor_free(c.q);
    volt_tensor_free(c.k);
    volt_tensor_free(c.v);
    volt_tensor_free(c.g);
}

/* ---------------------------------------------------------------- gemm */

typedef struct {
    volt_tensor *x, *w, *bias, *dy;
    int kind; /* 0: x @ W^T + b, 1: dY @ W, 2: dY^T @ x */
} gemm_ctx;

static void gemm_run(void *p) {
    gemm_ctx *c = p;
    volt_scope_begin();
    volt_tensor *r = NULL;
    if (c->kind == 0)
        r = c->bias ? volt_addmm(c->bias, c->x, volt_transpose(c->w, 0, 1), 1.0, 1.0)
                    : volt_matmul(c->x, volt_transpose(c->w, 0, 1));
    else if (c->kind == 1)
        r = volt_matmul(c->dy, c->w);
    else
        r = volt_matmul(volt_transpose(c->dy, 0, 1), c->x);
    if (!r) die("gemm");
    volt_scope_end();
}

/* autocast: f32 operands under bf16 autocast (the products of a
 * bf16-mixed step: cast to bf16, f32 results) instead of bf16 ones. */
static void bench_gemm(const char *name, int64_t m, int64_t in, int64_t out, bool bias, int reps,
                       bool autocast) {
    gemm_ctx c;
    volt_dtype dt = autocast ? VOLT_F32 : VOLT_BF16;
    c.x = gpu_randn(VOLT_SHAPE(m, in), dt);
    c.w = gpu_randn(VOLT_SHAPE(out, in), dt);
    c.bias = bias ? gpu_randn(VOLT_SHAPE(out), dt) : NULL;
    c.dy = gpu_randn(VOLT_SHAPE(m, out), dt);
    volt_autocast_mode prev = volt_autocast_set(autocast ? VOLT_AUTOCAST_BF16 : VOLT_AUTOCAST_OFF);
    static const char *kinds[3] = {"fwd x@W^T+b", "dX dY@W", "dW dY^T@x"};
    double flop = 2.0 * (double)m * (double)in * (double)out;
    VOLT_NO_GRAD {
        for (int k = 0; k < 3; k++) {
            c.kind = k;
            double ms = time_ms(gemm_run, &c, reps);
            printf("{\"impl\": \"volt\", \"case\": \"%s\", \"layer\": \"%s\", \"op\": \"%s\", "
                   "\"m\": %lld, \"in\": %lld, \"out\": %lld, \"ms\": %.4f, \"tflops\": %.1f}\n",
                   autocast ? "gemm-autocast" : "gemm", name, kinds[k], (long long)m, (long long)in,
                   (long long)out, ms, flop / ms * 1e-9);
            fflush(stdout);
        }
    }
    volt_autocast_set(prev);
    volt_tensor_free(c.x);
    volt_tensor_free(c.w);
    volt_tensor_free(c.bias);
    volt_tensor_free(c.dy);
}

int main(int argc, char **argv) {
    const char *what = arg_str(argc, argv, "what", "all");
    int reps = atoi(arg_str(argc, argv, "reps", "20"));
    if (reps < 1) reps = 1;
    bool autocast = atoi(arg_str(argc, argv, "autocast", "0")) != 0;
    int64_t vocab = atoll(arg_str(argc, argv, "vocab", "50257"));
    if (!volt_cuda_is_available()) {
        fprintf(stderr, "attention_bench: no CUDA device\n");
        return 77;
    }
    gen = volt_generator_make(1234, 0);
    bool all = strcmp(what, "all") == 0;
    if (all || strcmp(what, "attn") == 0) {
        bench_attention(8, 12, 1024, 64, VOLT_BF16, reps);
        bench_attention(8, 6, 1024, 128, VOLT_BF16, reps);
        bench_attention(8, 12, 1024, 64, VOLT_F32, reps > 4 ? reps / 4 : 1);
    }
    if (all || strcmp(what, "gemm") == 0 || strcmp(what, "head") == 0) {
        int64_t m = 8 * 1024;
        bool head_only = strcmp(what, "head") == 0;
        if (!head_only) bench_gemm("attn.qkv", m, 768, 2304, true, reps, autocast);
        if (!head_only) bench_gemm("attn.proj", m, 768, 768, true, reps, autocast);
        if (!head_only) bench_gemm("mlp.fc", m, 768, 3072, true, reps, autocast);
        if (!head_only) bench_gemm("mlp.proj", m, 3072, 768, true, reps, autocast);
        bench_gemm("lm_head", m, 768, vocab, false, reps > 4 ? reps / 4 : 1, autocast);
    }
    return 0;
}
