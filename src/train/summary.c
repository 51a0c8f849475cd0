/* summary.c: the model summary printed when fit starts (Lightning's
 * ModelSummary): one row per sub-module down to max_depth (dotted name,
 * type, parameters, mode, input and output sizes), then trainable,
 * non-trainable and total parameters and their size in MB.
 *
 * Sizes come from one forward pass of the module's example_input (module
 * ops forward + example_input; cast to the parameters' floating dtype and
 * moved to their device), in eval mode under no-grad: while it runs,
 * every descendant with a class forward gets a stand-in class whose forward
 * calls the real one and notes the shapes of its first call; the real
 * classes are back before anything else sees the modules. Children the
 * forward calls by their typed functions (volt_linear_forward) bypass the
 * class and show "?", as does every row without an example input. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"
#include "train/train_impl.h"

typedef struct {
    volt_module *m;
    const volt_module_class *orig;
    volt_module_class shim;
    bool seen;
    char in[64], out[64];
} probe_entry;

typedef struct {
    probe_entry *e;
    int n, cap;
    bool ran;
    char model_in[64], model_out[64];
} probe;

static _Thread_local probe *active; /* the probe of the forward running now */

static probe_entry *probe_find(probe *p, const volt_module *m) {
    for (int i = 0; p && i < p->n; i++)
        if (p->e[i].m == m) return &p->e[i];
    return NULL;
}

/* "[5, 4]", as Lightning's summary writes sizes. */
static void shape_str(const volt_tensor *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

static volt_tensor *shim_forward(volt_module *self, const volt_tensor *x) {
    probe_entry *e = probe_find(active, self);
    VOLT_ASSERT(e != NULL);
    volt_tensor *y = e->orig->forward(self, x);
    if (!e->seen && x && y) {
        e->seen = true;
        shape_str(x, e->in, sizeof e->in);
        shape_str(y, e->out, sizeof e->out);
    }
    return y;
}

static void probe_collect(probe *p, volt_module *m) {
    for (int i = 0; i < m->n_children; i++) {
        volt_module *c = m->children[i].module;
        if (c->cls && c->cls->forward && p->n < p->cap) {
            probe_entry *e = &p->e[p->n++];
            e->m = c;
            e->orig = c->cls;
            e->shim = *c->cls;
            e->shim.forward = shim_forward;
        }
        probe_collect(p, c);
    }
}

static int count_modules(const volt_module *m) {
    int n = 0;
    for (int i = 0; i < m->n_children; i++) n += 1 + count_modules(m->children[i].module);
    return n;
}

/* x on m's parameters' device, and in their dtype when both are floating
 * (a module cast to bf16 by precision "bf16-true" or moved to a GPU: what
 * the batch transfer does to real batches). x itself when nothing differs
 * or m has no parameters; NULL (the error set) when the copy fails. */
static volt_tensor *as_parameters(volt_module *m, volt_tensor *x) {
    volt_params ps = volt_module_parameters(m);
    if (!x || ps.count == 0) return x;
    const volt_tensor *p = ps.tensors[0];
    if (volt_dtype_is_float(x->dtype) && volt_dtype_is_float(p->dtype) && x->dtype != p->dtype)
        x = volt_to_dtype(x, p->dtype);
    if (x && !volt_device_equal(x->device, p->device)) x = volt_to_device(x, p->device);
    return x;
}

/* Runs forward(example_input()) with the stand-in classes installed. */
static void probe_run(probe *p, volt_module *m, FILE *out) {
    const volt_module_ops *ops = m->ops;
    if (!ops || !ops->forward || !ops->example_input) return;
    p->cap = count_modules(m);
    p->e = p->cap ? calloc((size_t)p->cap, sizeof *p->e) : NULL;
    if (p->cap && !p->e) return;
    probe_collect(p, m);
    for (int i = 0; i < p->n; i++) p->e[i].m->cls = &p->e[i].shim;
    probe *saved = active;
    active = p;
    bool was_training = volt_module_is_training(m);
    volt_module_train(m, false);
    volt_scope_begin();
    volt_no_grad_begin();
    volt_tensor *x = as_parameters(m, ops->example_input(m));
    volt_tensor *y = x ? ops->forward(m, x) : NULL;
    volt_no_grad_end();
    if (x && y && !volt_error_status()) {
        p->ran = true;
        shape_str(x, p->model_in, sizeof p->model_in);
        shape_str(y, p->model_out, sizeof p->model_out);
    } else {
        fprintf(out, "(no sizes: the example input's forward failed: %s)\n",
                volt_error_status() ? volt_error_message() : "it returned NULL");
        volt_error_clear();
    }
    volt_scope_end();
    volt_module_train(m, was_training);
    active = saved;
    for (int i = 0; i < p->n; i++) p->e[i].m->cls = p->e[i].orig;
}

static void human(char *buf, size_t n, double v) {
    const char *unit[] = {"", " K", " M", " B", " T"};
    int u = 0;
    while (v >= 1000 && u < 4) v /= 1000, u++;
    if (u == 0)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%.*f%s", v < 10 ? 1 : 0, v, unit[u]);
}

static const char *type_name(const volt_module *m) {
    if (m->cls && m->cls->type_name) return m->cls->type_name;
    if (m->ops && m->ops->name) return m->ops->name;
    return "Module";
}

/* Two walks over the rows: the first (print false) only widens the
 * columns to their longest entry, the second prints. */
typedef struct {
    FILE *out;
    int row, max_depth;
    probe *p;
    bool print;
    int w_name, w_type, w_in;
} walk;

/* Entries keep at least one space before the next column's bar. */
static int widest(int w, const char *s) {
    int n = (int)strlen(s) + 1;
    return n > w ? n : w;
}

static void rows(walk *w, const volt_module *m, const char *prefix, int depth) {
    for (int i = 0; i < m->n_children; i++) {
        volt_module *c = m->children[i].module;
        char name[256], params[32];
        if (snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", m->children[i].name) <
            0)
            continue;
        const probe_entry *e = probe_find(w->p, c);
        const char *in = e && e->seen ? e->in : "?", *out = e && e->seen ? e->out : "?";
        if (w->print) {
            human(params, sizeof params, (double)volt_module_num_parameters(c, false));
            fprintf(w->out, "%-3d| %-*s| %-*s| %-8s| %-6s| %-*s| %s\n", w->row++, w->w_name, name,
                    w->w_type, type_name(c), params, volt_module_is_training(c) ? "train" : "eval",
                    w->w_in, in, out);
        } else {
            w->w_name = widest(w->w_name, name);
            w->w_type = widest(w->w_type, type_name(c));
            w->w_in = widest(w->w_in, in);
        }
        if (depth + 1 < w->max_depth) rows(w, c, name, depth + 1);
    }
}

static void rule(FILE *out, const walk *w) {
    int n = 5 + w->w_name + 2 + w->w_type + 2 + 10 + 8 + w->w_in + 2 + 14;
    for (int i = 0; i < n; i++) fputc('-', out);
    fputc('\n', out);
}

void volt_model_summary_print(volt_module *m, int max_depth, FILE *out) {
    probe p = {0};
    probe_run(&p, m, out);
    walk w = {out, 0, max_depth < 0 ? INT_MAX : max_depth, &p, false, 24, 20, 14};
    if (w.max_depth > 0) rows(&w, m, "", 0);
    w.print = true;
    fprintf(out, "   | %-*s| %-*s| %-8s| %-6s| %-*s| %s\n", w.w_name, "Name", w.w_type, "Type",
            "Params", "Mode", w.w_in, "In sizes", "Out sizes");
    rule(out, &w);
    if (w.max_depth > 0) rows(&w, m, "", 0);
    rule(out, &w);
    int64_t total = volt_module_num_parameters(m, false);
    int64_t trainable = volt_module_num_parameters(m, true);
    double bytes = 0;
    volt_params ps = volt_module_parameters(m);
    for (int64_t i = 0; i < ps.count; i++)
        bytes += (double)volt_tensor_numel(ps.tensors[i]) *
                 (double)volt_dtype_size(ps.tensors[i]->dtype);
    char a[32], b[32], c[32];
    human(a, sizeof a, (double)trainable);
    human(b, sizeof b, (double)(total - trainable));
    human(c, sizeof c, (double)total);
    fprintf(out, "%-10s Trainable params\n%-10s Non-trainable params\n%-10s Total params\n", a, b,
            c);
    fprintf(out, "%-10.3f Total estimated model params size (MB)\n", bytes / 1e6);
    if (p.ran) fprintf(out, "Model input %s -> output %s\n", p.model_in, p.model_out);
    free(p.e);
}
