/* summary.c: the model summary printed when fit starts (Lightning's
 * ModelSummary): one row per sub-module down to max_depth (dotted name,
 * type, parameters, mode), then trainable, non-trainable and total
 * parameters and their size in MB. Output shapes are not known without a
 * forward pass and are not shown. */
#include <string.h>

#include "nn/nn_impl.h"
#include "train/train_impl.h"

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

typedef struct {
    FILE *out;
    int row, max_depth;
} walk;

static void rows(walk *w, const volt_module *m, const char *prefix, int depth) {
    for (int i = 0; i < m->n_children; i++) {
        volt_module *c = m->children[i].module;
        char name[256], params[32];
        if (snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", m->children[i].name) <
            0)
            continue;
        human(params, sizeof params, (double)volt_module_num_parameters(c, false));
        fprintf(w->out, "%-3d| %-24s| %-20s| %-8s| %s\n", w->row++, name, type_name(c), params,
                volt_module_is_training(c) ? "train" : "eval");
        if (depth + 1 < w->max_depth) rows(w, c, name, depth + 1);
    }
}

void volt_model_summary_print(volt_module *m, int max_depth, FILE *out) {
    walk w = {out, 0, max_depth};
    fprintf(out, "   | %-24s| %-20s| %-8s| %s\n", "Name", "Type", "Params", "Mode");
    fprintf(out, "---------------------------------------------------------------------\n");
    if (max_depth > 0) rows(&w, m, "", 0);
    fprintf(out, "---------------------------------------------------------------------\n");
    int64_t total = volt_module_num_parameters(m, false);
    int64_t trainable = volt_module_num_parameters(m, true);
    double bytes = 0;
    volt_params p = volt_module_parameters(m);
    for (int64_t i = 0; i < p.count; i++)
        bytes +=
            (double)volt_tensor_numel(p.tensors[i]) * (double)volt_dtype_size(p.tensors[i]->dtype);
    char a[32], b[32], c[32];
    human(a, sizeof a, (double)trainable);
    human(b, sizeof b, (double)(total - trainable));
    human(c, sizeof c, (double)total);
    fprintf(out, "%-10s Trainable params\n%-10s Non-trainable params\n%-10s Total params\n", a, b,
            c);
    fprintf(out, "%-10.3f Total estimated model params size (MB)\n", bytes / 1e6);
}
