/* gpt_cpu.c: volt's side of bench/gpt — the built-in character-level GPT
 * (volt_gpt_new: 4 layers, n_embd 128, 4 heads, block 64, dropout 0, bias,
 * tanh GELU, head tied to the token embedding) trained on the fortune
 * files by a plain loop over the engine (scope, forward, cross entropy,
 * zero_grad, backward, AdamW step; no trainer), the same loop that
 * bench/gpt/torch_gpt.py runs in PyTorch. Both sides read the same bytes
 * (the regular files of the data directory in name order, hidden and *.dat
 * files and symbolic links skipped, as volt's text datamodule does), take
 * the byte vocabulary, train on the first 90% and draw the same windows:
 * window j of step s starts at splitmix64(seed)'s (s * batch + j)-th
 * number modulo (n_train - block). AdamW as nanoGPT configures it: lr 1e-3,
 * betas (0.9, 0.95), weight decay 0.1 on the 2-D weights, none on biases and
 * LayerNorm weights.
 *
 *   bench_gpt_gpt_cpu [steps=200] [warmup=20] [threads=2] [seed=42]
 *                     [profile=10] [data=/usr/share/games/fortunes]
 *
 * Prints one JSON line: tokens_per_s and ms_per_step over the `steps` timed
 * steps (after `warmup` untimed ones), cpu_s (process CPU time, all
 * threads, over them), peak_rss_mb, final_loss (mean train loss of the last
 * 10 steps), threads, blas (BLAS libraries mapped). With profile=N > 0, N
 * more steps run afterwards with volt's op-tracing hook installed and a
 * second JSON line gives ms per step of each phase (data, zero_grad,
 * forward + loss, backward, optimizer step) and each op's self time (its time
 * less the traced ops inside it), calls per step, in the forward and the
 * backward. Not a test. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <volt/volt.h>

#include "../common/mapped_blas.h"

enum { BATCH = 32, BLOCK = 64, LOSS_TAIL = 10, MAX_OPS = 128, MAX_DEPTH = 64 };

typedef struct {
    int64_t steps, warmup, profile;
    int threads;
    uint64_t seed;
    const char *data;
} settings;

/* ----------------------------------------------------------------- data */

typedef struct {
    int64_t *tokens; /* the whole text */
    int64_t n_train; /* the first 90% (floor(0.1 n) held out, as the datamodule) */
    int vocab;
} corpus;

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool skipped(const char *dir, const char *name) {
    size_t n = strlen(name);
    if (name[0] == '.' || (n >= 4 && strcmp(name + n - 4, ".dat") == 0)) return true;
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) != 0 || !S_ISREG(st.st_mode);
}

/* Appends the file's bytes to *buf (size *n, capacity *cap). */
static bool append_file(const char *path, char **buf, size_t *n, size_t *cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t got;
    do {
        if (*cap - *n < 65536) {
            *cap = 2 * *cap + 65536;
            char *grown = realloc(*buf, *cap);
            if (!grown) break;
            *buf = grown;
        }
        got = fread(*buf + *n, 1, *cap - *n, f);
        *n += got;
    } while (got > 0);
    fclose(f);
    return true;
}

/* The bytes of dir's regular files in name order; NULL on failure. */
static char *read_dir(const char *dir, size_t *n) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL, *buf = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (skipped(dir, e->d_name)) continue;
        char **grown = realloc(names, (count + 1) * sizeof *names);
        if (!grown || !(grown[count] = strdup(e->d_name))) {
            names = grown ? grown : names;
            break;
        }
        names = grown;
        count++;
    }
    closedir(d);
    qsort(names, count, sizeof *names, cmp_names);
    *n = 0;
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        append_file(path, &buf, n, &cap);
        free(names[i]);
    }
    free(names);
    return buf;
}

static bool load_corpus(const char *dir, corpus *c) {
    size_t n = 0;
    char *text = read_dir(dir, &n);
    volt_char_vocab v;
    if (!text || n < 10 * BLOCK) {
        fprintf(stderr, "gpt_cpu: cannot read text from %s\n", dir);
        free(text);
        return false;
    }
    volt_char_vocab_build(&v, text, (int64_t)n);
    c->tokens = malloc(n * sizeof *c->tokens);
    volt_status st = c->tokens ? volt_char_vocab_encode(&v, text, (int64_t)n, c->tokens)
                               : VOLT_ERR_OUT_OF_MEMORY;
    free(text);
    c->vocab = v.size;
    c->n_train = (int64_t)n - (int64_t)n / 10;
    return st == VOLT_OK;
}

/* splitmix64, as torch_gpt.py computes it. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* x, y [BATCH, BLOCK] i64 in the current scope: the next windows. */
static void make_batch(const corpus *c, uint64_t *rng, volt_tensor **x, volt_tensor **y) {
    *x = volt_empty(VOLT_SHAPE(BATCH, BLOCK), VOLT_I64);
    *y = volt_empty(VOLT_SHAPE(BATCH, BLOCK), VOLT_I64);
    int64_t *px = volt_tensor_data(*x), *py = volt_tensor_data(*y);
    for (int j = 0; j < BATCH; j++) {
        int64_t start = (int64_t)(splitmix64(rng) % (uint64_t)(c->n_train - BLOCK));
        memcpy(px + j * BLOCK, c->tokens + start, BLOCK * sizeof *px);
        memcpy(py + j * BLOCK, c->tokens + start + 1, BLOCK * sizeof *py);
    }
}

/* --------------------------------------------------------------- model */

/* nanoGPT's configure_optimizers: decay on parameters of >= 2 dims. */
static volt_optimizer *make_adamw(volt_module *m) {
    volt_params all = volt_module_parameters(m);
    volt_tensor **decay = malloc((size_t)all.count * sizeof *decay),
                **other = malloc((size_t)all.count * sizeof *other);
    int64_t nd = 0, no = 0;
    for (int64_t i = 0; decay && other && i < all.count; i++) {
        if (all.tensors[i]->ndim >= 2)
            decay[nd++] = all.tensors[i];
        else
            other[no++] = all.tensors[i];
    }
    volt_adam_options o = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95, .weight_decay = 0.1};
    volt_optimizer *opt = decay ? volt_adamw_new((volt_params){nd, decay, NULL}, &o) : NULL;
    o.weight_decay = VOLT_OPTIM_ZERO;
    if (opt && volt_optimizer_add_param_group(opt, (volt_params){no, other, NULL}, &o) != VOLT_OK) {
        volt_optimizer_free(opt);
        opt = NULL;
    }
    free(decay);
    free(other);
    return opt;
}

/* ----------------------------------------------------------- profiling */

typedef struct {
    const char *name;
    int phase; /* 0 forward, 1 backward */
    double self_s;
    int64_t calls;
} op_stat;

typedef struct {
    op_stat ops[MAX_OPS];
    int n_ops, depth, phase;
    double start[MAX_DEPTH], child[MAX_DEPTH];
    const char *name[MAX_DEPTH];
    double phase_s[8]; /* per phase (PH_*) */
} profile;

static void hook_begin(void *ctx, const char *name) {
    profile *p = ctx;
    if (p->depth < MAX_DEPTH) {
        p->name[p->depth] = name;
        p->child[p->depth] = 0;
        p->start[p->depth] = volt_time_now();
    }
    p->depth++;
}

static op_stat *find_op(profile *p, const char *name) {
    for (int i = 0; i < p->n_ops; i++)
        if (p->ops[i].phase == p->phase && strcmp(p->ops[i].name, name) == 0) return &p->ops[i];
    if (p->n_ops == MAX_OPS) return NULL;
    p->ops[p->n_ops] = (op_stat){.name = name, .phase = p->phase};
    return &p->ops[p->n_ops++];
}

static void hook_end(void *ctx) {
    profile *p = ctx;
    int d = --p->depth;
    if (d >= MAX_DEPTH) return;
    double dt = volt_time_now() - p->start[d];
    op_stat *s = find_op(p, p->name[d]);
    if (s) {
        s->self_s += dt - p->child[d];
        s->calls++;
    }
    if (d > 0) p->child[d - 1] += dt;
}

/* ---------------------------------------------------------------- loop */

typedef struct {
    volt_module *model;
    volt_optimizer *opt;
    const corpus *c;
    uint64_t rng;
    profile *prof; /* NULL: no phase timing */
} trainer;

/* Phases, in step order. Ops traced during PH_FORWARD count as the
 * forward's, the others as the backward's (no op runs in the rest). */
enum { PH_DATA, PH_ZERO_GRAD, PH_FORWARD, PH_BACKWARD, PH_STEP, N_PHASES };

/* Closes phase `done` (started at t0), opens the next; returns now. */
static double lap(trainer *t, int done, double t0) {
    double now = volt_time_now();
    if (t->prof) {
        t->prof->phase_s[done] += now - t0;
        t->prof->phase = done + 1 == PH_FORWARD ? 0 : 1;
    }
    return now;
}

/* One training step (zero_grad, forward + loss, backward, step, as
 * torch_gpt.py); returns the loss (NAN + error on failure). */
static double train_step(trainer *t) {
    volt_scope_begin();
    double t0 = volt_time_now(), loss_v = NAN;
    volt_tensor *x, *y;
    make_batch(t->c, &t->rng, &x, &y);
    t0 = lap(t, PH_DATA, t0);
    volt_optimizer_zero_grad(t->opt);
    t0 = lap(t, PH_ZERO_GRAD, t0);
    volt_tensor *logits = volt_gpt_forward(t->model, x);
    volt_tensor *loss = volt_cross_entropy(volt_reshape(logits, VOLT_SHAPE(-1, t->c->vocab)),
                                           volt_reshape(y, VOLT_SHAPE(-1)));
    t0 = lap(t, PH_FORWARD, t0);
    volt_status st = loss ? volt_backward(loss) : volt_error_status();
    t0 = lap(t, PH_BACKWARD, t0);
    if (st == VOLT_OK) st = volt_optimizer_step(t->opt);
    lap(t, PH_STEP, t0);
    if (st == VOLT_OK) loss_v = volt_tensor_item(loss);
    volt_scope_end();
    return loss_v;
}

/* ---------------------------------------------------------------- output */

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_self_time(const void *a, const void *b) {
    double d = ((const op_stat *)b)->self_s - ((const op_stat *)a)->self_s;
    return d > 0 ? 1 : d < 0 ? -1 : 0;
}

static void print_profile(profile *p, int64_t steps) {
    const char *phases[N_PHASES] = {"data", "zero_grad", "forward", "backward", "step"};
    double ms = 1e3 / (double)steps;
    printf("{\"impl\": \"volt\", \"profile_steps\": %lld, \"phases_ms\": {", (long long)steps);
    for (int i = 0; i < N_PHASES; i++)
        printf("%s\"%s\": %.3f", i ? ", " : "", phases[i], p->phase_s[i] * ms);
    printf("}, \"ops\": [");
    qsort(p->ops, (size_t)p->n_ops, sizeof p->ops[0], by_self_time);
    for (int i = 0; i < p->n_ops; i++)
        printf("%s{\"op\": \"%s\", \"pass\": \"%s\", \"self_ms\": %.3f, \"calls\": %.1f}",
               i ? ", " : "", p->ops[i].name, p->ops[i].phase ? "backward" : "forward",
               p->ops[i].self_s * ms, (double)p->ops[i].calls / (double)steps);
    printf("]}\n");
}

/* --------------------------------------------------------------- main */

static const char *arg(int argc, char **argv, const char *key, const char *fallback) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
    return fallback;
}

static bool parse(int argc, char **argv, settings *s) {
    s->steps = atoll(arg(argc, argv, "steps", "200"));
    s->warmup = atoll(arg(argc, argv, "warmup", "20"));
    s->profile = atoll(arg(argc, argv, "profile", "10"));
    s->threads = atoi(arg(argc, argv, "threads", "2"));
    s->seed = strtoull(arg(argc, argv, "seed", "42"), NULL, 10);
    s->data = arg(argc, argv, "data", "/usr/share/games/fortunes");
    return s->steps >= LOSS_TAIL && s->warmup >= 0 && s->profile >= 0 && s->threads >= 1;
}

/* Runs n steps; the losses of the last LOSS_TAIL go to *tail_mean. */
static bool run_steps(trainer *t, int64_t n, double *tail_mean) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double l = train_step(t);
        if (l != l) return false;
        if (i >= n - LOSS_TAIL) sum += l;
    }
    if (tail_mean) *tail_mean = sum / LOSS_TAIL;
    return true;
}

static bool bench(const settings *s, trainer *t) {
    double loss = 0;
    if (!run_steps(t, s->warmup, NULL)) return false;
    double w0 = volt_time_now(), c0 = cpu_now();
    if (!run_steps(t, s->steps, &loss)) return false;
    double wall = volt_time_now() - w0, cpu = cpu_now() - c0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const char *policy = getenv("OMP_WAIT_POLICY");
    printf("{\"impl\": \"volt\", \"steps\": %lld, \"warmup\": %lld, \"batch\": %d, \"block\": %d, "
           "\"vocab\": %d, \"params\": %lld, \"threads\": %d, \"seed\": %llu, "
           "\"tokens_per_s\": %.1f, \"ms_per_step\": %.3f, \"cpu_s\": %.3f, \"peak_rss_mb\": %.1f, "
           "\"final_loss\": %.4f, \"omp_wait_policy\": \"%s\", \"volt\": \"%s\", \"blas\": ",
           (long long)s->steps, (long long)s->warmup, BATCH, BLOCK, t->c->vocab,
           (long long)volt_module_num_parameters(t->model, false), volt_get_num_threads(),
           (unsigned long long)s->seed, (double)(s->steps * BATCH * BLOCK) / wall,
           1e3 * wall / (double)s->steps, cpu, (double)ru.ru_maxrss / 1024.0, loss,
           policy ? policy : "", volt_version());
    bench_print_mapped_blas(stdout);
    printf("}\n");
    fflush(stdout);
    if (s->profile == 0) return true;
    static profile prof;
    volt_trace_hook hook = {.begin = hook_begin, .end = hook_end, .ctx = &prof};
    t->prof = &prof;
    const volt_trace_hook *prev = volt_trace_hook_set(&hook);
    bool ok = run_steps(t, s->profile, NULL);
    volt_trace_hook_set(prev);
    if (ok) print_profile(&prof, s->profile);
    return ok;
}

int main(int argc, char **argv) {
    settings s;
    corpus c = {0};
    if (!parse(argc, argv, &s)) {
        fprintf(stderr,
                "usage: %s [steps=200 (>= %d)] [warmup=20] [threads=2] [seed=42] "
                "[profile=10] [data=DIR]\n",
                argv[0], LOSS_TAIL);
        return 2;
    }
    if (!load_corpus(s.data, &c)) return 1;
    volt_set_num_threads(s.threads);
    volt_seed_everything(s.seed);
    volt_gpt_options o = volt_gpt_defaults();
    o.vocab_size = c.vocab;
    o.block_size = BLOCK;
    o.n_layer = 4, o.n_head = 4, o.n_embd = 128, o.dropout = 0, o.bias = true;
    trainer t = {.model = volt_gpt_new(&o), .c = &c, .rng = s.seed};
    t.opt = t.model ? make_adamw(t.model) : NULL;
    bool ok = t.opt && bench(&s, &t);
    if (!ok) fprintf(stderr, "gpt_cpu: %s\n", volt_error_message());
    volt_optimizer_free(t.opt);
    volt_module_free(t.model);
    free(c.tokens);
    return ok ? 0 : 1;
}
