/* conv_layouts.c: oneDNN's f32 convolution primitives on each activation
 * layout volt could give them — blocked ("any": nChw16c here), NHWC, plain
 * NCHW — for forward, backward data and backward weights, the input
 * gradient run as the forward convolution of the flipped weights
 * (src/ops/cpu/dnnl_conv.c), and the reorders between the layouts: the
 * median wall and process CPU time of each, measured in alternation (CPU
 * time is the steadier number on a shared machine). The numbers behind the
 * layout choice in dnnl_conv.c. Default problem: the benchmark CNN's conv2
 * (batch 128, 32 -> 64 channels, 14x14, 3x3, padding 1).
 * Usage: bench_layers_conv_layouts [threads] [iters] [n c o hw k pad] */
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VARIANTS 16
#define MAX_ITERS 200

typedef struct {
    char name[64];
    dnnl_primitive_t prim;
    int n_args;
    int args[4];
    dnnl_memory_t mem[4];
    double wall[MAX_ITERS], cpu[MAX_ITERS];
} variant;

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static int64_t N = 128, HW = 14, K = 3, PAD = 1;

static void check(dnnl_status_t st, const char *what) {
    if (st == dnnl_success) return;
    fprintf(stderr, "conv_layouts: %s failed (%d)\n", what, (int)st);
    exit(1);
}

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static dnnl_memory_desc_t act(int64_t c, dnnl_format_tag_t tag) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {N, c, HW, HW};
    check(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, tag), "activation desc");
    return md;
}

static dnnl_memory_t zeroed(const dnnl_memory_desc_t *md) {
    dnnl_memory_t m;
    check(dnnl_memory_create(&m, md, engine, DNNL_MEMORY_ALLOCATE), "memory");
    void *p = NULL;
    check(dnnl_memory_get_data_handle(m, &p), "data handle");
    memset(p, 0, dnnl_memory_desc_get_size(md));
    return m;
}

/* kind 0: forward, 1: backward data, 2: backward weights; c -> o channels. */
static void add_conv(variant *v, int kind, int64_t c, int64_t o, dnnl_format_tag_t tag,
                     dnnl_primitive_desc_t *fwd) {
    dnnl_memory_desc_t src = act(c, tag), dst = act(o, tag), w;
    dnnl_dims_t wd = {o, c, K, K}, stride = {1, 1}, dil = {0, 0}, pad = {PAD, PAD};
    check(dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_f32, dnnl_format_tag_any), "weights desc");
    dnnl_convolution_desc_t d;
    dnnl_alg_kind_t alg = dnnl_convolution_direct;
    if (kind == 0)
        check(dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_training, alg, &src, &w,
                                                         NULL, &dst, stride, dil, pad, pad),
              "forward desc");
    else if (kind == 1)
        check(dnnl_dilated_convolution_backward_data_desc_init(&d, alg, &src, &w, &dst, stride, dil,
                                                               pad, pad),
              "backward data desc");
    else
        check(dnnl_dilated_convolution_backward_weights_desc_init(&d, alg, &src, &w, NULL, &dst,
                                                                  stride, dil, pad, pad),
              "backward weights desc");
    dnnl_primitive_desc_t pd;
    check(dnnl_primitive_desc_create(&pd, &d, NULL, engine, kind ? *fwd : NULL), "primitive desc");
    check(dnnl_primitive_create(&v->prim, pd), "primitive");
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    size_t len = strlen(v->name);
    snprintf(v->name + len, sizeof v->name - len, " %s", impl);
    static const dnnl_query_t q[3][3] = {
        {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md},
        {dnnl_query_diff_src_md, dnnl_query_weights_md, dnnl_query_diff_dst_md},
        {dnnl_query_src_md, dnnl_query_diff_weights_md, dnnl_query_diff_dst_md}};
    static const int a[3][3] = {{DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
                                {DNNL_ARG_DIFF_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST},
                                {DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_DST}};
    v->n_args = 3;
    for (int i = 0; i < 3; i++) {
        v->args[i] = a[kind][i];
        v->mem[i] = zeroed(dnnl_primitive_desc_query_md(pd, q[kind][i], 0));
    }
    if (kind == 0 && fwd)
        *fwd = pd;
    else
        dnnl_primitive_desc_destroy(pd);
}

static void add_reorder(variant *v, int64_t c, dnnl_format_tag_t from, dnnl_format_tag_t to) {
    dnnl_memory_desc_t a = act(c, from), b = act(c, to);
    dnnl_primitive_desc_t pd;
    check(dnnl_reorder_primitive_desc_create(&pd, &a, engine, &b, engine, NULL), "reorder desc");
    check(dnnl_primitive_create(&v->prim, pd), "reorder");
    dnnl_primitive_desc_destroy(pd);
    v->n_args = 2;
    v->args[0] = DNNL_ARG_FROM;
    v->args[1] = DNNL_ARG_TO;
    v->mem[0] = zeroed(&a);
    v->mem[1] = zeroed(&b);
}

static void run(variant *v, int it) {
    dnnl_exec_arg_t e[4];
    for (int i = 0; i < v->n_args; i++) e[i] = (dnnl_exec_arg_t){v->args[i], v->mem[i]};
    double w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
    check(dnnl_primitive_execute(v->prim, stream, v->n_args, e), "execute");
    check(dnnl_stream_wait(stream), "wait");
    v->wall[it] = seconds(CLOCK_MONOTONIC) - w0;
    v->cpu[it] = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return v[n / 2];
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, iters = argc > 2 ? atoi(argv[2]) : 30;
    if (iters < 1 || iters > MAX_ITERS) iters = 30;
    int64_t c = 32, o = 64;
    if (argc > 8) {
        N = atoll(argv[3]), c = atoll(argv[4]), o = atoll(argv[5]);
        HW = atoll(argv[6]), K = atoll(argv[7]), PAD = atoll(argv[8]);
    }
    omp_set_num_threads(threads);
    check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine");
    check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream");
    static variant v[MAX_VARIANTS];
    int n = 0;
    static const struct {
        const char *name;
        dnnl_format_tag_t tag;
    } layouts[3] = {{"blocked", dnnl_format_tag_any}, {"nhwc", dnnl_acdb}, {"nchw", dnnl_abcd}};
    for (int l = 0; l < 3; l++) {
        dnnl_primitive_desc_t fwd = NULL;
        static const char *kinds[3] = {"fwd", "bwd_data", "bwd_weights"};
        for (int kind = 0; kind < 3; kind++) {
            snprintf(v[n].name, sizeof v[n].name, "%s %s", kinds[kind], layouts[l].name);
            add_conv(&v[n++], kind, c, o, layouts[l].tag, &fwd);
        }
        dnnl_primitive_desc_destroy(fwd);
        if (l == 2) break;
        snprintf(v[n].name, sizeof v[n].name, "flipped %s", layouts[l].name);
        add_conv(&v[n++], 0, o, c, layouts[l].tag, NULL);
    }
    static const dnnl_format_tag_t pairs[4][2] = {{dnnl_abcd, dnnl_aBcd16b},
                                                  {dnnl_aBcd16b, dnnl_abcd},
                                                  {dnnl_abcd, dnnl_acdb},
                                                  {dnnl_acdb, dnnl_abcd}};
    static const char *pair_names[4] = {"nchw->blocked", "blocked->nchw", "nchw->nhwc",
                                        "nhwc->nchw"};
    for (int p = 0; p < 4; p++) {
        snprintf(v[n].name, sizeof v[n].name, "reorder %s", pair_names[p]);
        add_reorder(&v[n++], o, pairs[p][0], pairs[p][1]);
    }
    for (int i = 0; i < n; i++) run(&v[i], 0); /* warm up */
    for (int it = 0; it < iters; it++)
        for (int i = 0; i < n; i++) run(&v[i], it);
    for (int i = 0; i < n; i++)
        printf("{\"bench\":\"conv_layouts\",\"variant\":\"%s\",\"wall_ms\":%.3f,\"cpu_ms\":%.3f,"
               "\"threads\":%d}\n",
               v[i].name, median(v[i].wall, iters) * 1e3, median(v[i].cpu, iters) * 1e3, threads);
    return 0;
}
