/* module.c: the module tree — registration of parameters, buffers and
 * children, lookups by dotted name, parameter lists and counts, freezing,
 * train/eval mode, and freeing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

void volt_module_init(volt_module *m, const volt_module_ops *ops) {
    memset(m, 0, sizeof *m);
    m->ops = ops;
    m->training = true;
}

volt_module *volt_module_new(volt_module *parent, const char *name, const volt_module_class *cls) {
    if (!cls || cls->size < sizeof(volt_module)) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                       "module_new: a layer class with its size is needed");
        return NULL;
    }
    if (parent && !volt_module_check_name(parent, "child", name)) return NULL;
    volt_module *m = calloc(1, cls->size);
    if (!m) {
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "module_new: out of memory for a %s",
                       cls->type_name);
        return NULL;
    }
    volt_module_init(m, NULL);
    m->cls = cls;
    m->heap = true;
    if (parent && volt_module_add_child(parent, name, m) != VOLT_OK) {
        free(m);
        return NULL;
    }
    if (!parent && name && !(m->name = strdup(name))) {
        free(m);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "module_new: out of memory");
        return NULL;
    }
    return m;
}

bool volt_module_check_name(const volt_module *m, const char *what, const char *name) {
    const char *owner = m->name ? m->name : (m->cls ? m->cls->type_name : "module");
    if (!name || !*name || strchr(name, '.')) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: invalid %s name '%s' (not empty, no '.')",
                       owner, what, name ? name : "(null)");
        return false;
    }
    const volt_module_entry *lists[3] = {m->params, m->buffers, m->children};
    int counts[3] = {m->n_params, m->n_buffers, m->n_children};
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < counts[l]; i++)
            if (strcmp(lists[l][i].name, name) == 0) {
                volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "%s: the name '%s' is already used",
                               owner, name);
                return false;
            }
    return true;
}

void volt_module_invalidate(volt_module *m) {
    for (; m; m = m->parent) m->flat_valid = false;
}

static volt_module_entry *push_entry(volt_module_entry **list, int *n, int *cap) {
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 4;
        volt_module_entry *grown = realloc(*list, (size_t)c * sizeof *grown);
        if (!grown) return NULL;
        *list = grown;
        *cap = c;
    }
    volt_module_entry *e = &(*list)[(*n)++];
    memset(e, 0, sizeof *e);
    return e;
}

static volt_tensor *add_tensor(volt_module *m, const char *what, const char *name, volt_tensor *t,
                               bool is_param, bool persistent) {
    if (!m || !t) {
        if (!m) volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "module_add_%s: module is NULL", what);
        if (!t)
            volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "module_add_%s: tensor '%s' is NULL", what,
                           name ? name : "(null)");
        return NULL;
    }
    volt_persist(t);
    if (!volt_module_check_name(m, what, name) || (is_param && !volt_requires_grad(t, true))) {
        volt_tensor_free(t);
        return NULL;
    }
    volt_module_entry *e = is_param ? push_entry(&m->params, &m->n_params, &m->cap_params)
                                    : push_entry(&m->buffers, &m->n_buffers, &m->cap_buffers);
    char *copy = strdup(name);
    if (!e || !copy) {
        if (e) (is_param ? m->n_params-- : m->n_buffers--);
        free(copy);
        volt_tensor_free(t);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "module_add_%s: out of memory", what);
        return NULL;
    }
    e->name = copy;
    e->tensor = t;
    e->persistent = persistent;
    volt_module_invalidate(m);
    return t;
}

volt_tensor *volt_module_add_parameter(volt_module *m, const char *name, volt_tensor *t) {
    return add_tensor(m, "parameter", name, t, true, true);
}

volt_tensor *volt_module_add_buffer(volt_module *m, const char *name, volt_tensor *t,
                                    bool persistent) {
    return add_tensor(m, "buffer", name, t, false, persistent);
}

volt_status volt_module_replace(volt_module *m, const char *name, volt_tensor *t) {
    if (!m || !name || !t)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "module_replace: NULL argument");
    for (int l = 0; l < 2; l++) {
        volt_module_entry *list = l ? m->buffers : m->params;
        int n = l ? m->n_buffers : m->n_params;
        for (int i = 0; i < n; i++) {
            if (strcmp(list[i].name, name) != 0) continue;
            volt_persist(t);
            if (!l && !volt_requires_grad(t, list[i].tensor->requires_grad)) {
                volt_tensor_free(t);
                return volt_error_status();
            }
            volt_tensor_free(list[i].tensor);
            list[i].tensor = t;
            volt_module_invalidate(m);
            return VOLT_OK;
        }
    }
    volt_tensor_free(t);
    return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "module_replace: no parameter or buffer '%s'",
                          name);
}

/* The tensors of one entry list converted in place (volt_tensor_set_data):
 * to *dtype, the floating ones (see volt_module_to_dtype), or with dtype
 * NULL to *device (see volt_module_to_device). */
static volt_status list_convert(volt_module_entry *list, int n, const volt_dtype *dtype,
                                const volt_device *device) {
    volt_status st = VOLT_OK;
    for (int i = 0; i < n && !st; i++) {
        volt_tensor *t = list[i].tensor;
        if (dtype ? !volt_dtype_is_float(t->dtype) || t->dtype == *dtype
                  : volt_device_equal(t->device, *device))
            continue;
        volt_scope_begin();
        volt_tensor *c = NULL;
        VOLT_NO_GRAD { c = dtype ? volt_to_dtype(t, *dtype) : volt_to_device(t, *device); }
        st = c ? volt_tensor_set_data(t, c) : volt_error_status();
        volt_scope_end();
    }
    return st;
}

volt_status volt_module_to_dtype(volt_module *m, volt_dtype dtype) {
    if (!m) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "module_to_dtype: module is NULL");
    if (!volt_dtype_is_valid(dtype) || !volt_dtype_is_float(dtype))
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "module_to_dtype: '%s' is not a floating dtype",
                              volt_dtype_is_valid(dtype) ? volt_dtype_name(dtype) : "?");
    volt_status st = list_convert(m->params, m->n_params, &dtype, NULL);
    if (!st) st = list_convert(m->buffers, m->n_buffers, &dtype, NULL);
    for (int i = 0; !st && i < m->n_children; i++)
        st = volt_module_to_dtype(m->children[i].module, dtype);
    volt_module_invalidate(m);
    return st;
}

volt_status volt_module_to_device(volt_module *m, volt_device device) {
    if (!m) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "module_to_device: module is NULL");
    volt_status st = volt_device_check(device);
    if (!st) st = list_convert(m->params, m->n_params, NULL, &device);
    if (!st) st = list_convert(m->buffers, m->n_buffers, NULL, &device);
    for (int i = 0; !st && i < m->n_children; i++)
        st = volt_module_to_device(m->children[i].module, device);
    volt_module_invalidate(m);
    return st;
}

volt_status volt_module_add_child(volt_module *parent, const char *name, volt_module *child) {
    if (!parent || !child)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "module_add_child: NULL module");
    if (child->parent || child == parent)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT,
                              "module_add_child: '%s' already has a parent", name ? name : "");
    if (!volt_module_check_name(parent, "child", name)) return volt_error_status();
    volt_module_entry *e =
        push_entry(&parent->children, &parent->n_children, &parent->cap_children);
    char *copy = strdup(name);
    if (!e || !copy) {
        if (e) parent->n_children--;
        free(copy);
        return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "module_add_child: out of memory");
    }
    free(child->name);
    child->name = copy;
    child->parent = parent;
    child->training = parent->training;
    e->name = copy;
    e->module = child;
    volt_module_invalidate(parent);
    return VOLT_OK;
}

const char *volt_module_name(const volt_module *m) { return m && m->name ? m->name : ""; }

volt_module *volt_module_child(const volt_module *m, const char *dotted) {
    if (!m || !dotted) return NULL;
    const char *dot = strchr(dotted, '.');
    size_t len = dot ? (size_t)(dot - dotted) : strlen(dotted);
    for (int i = 0; i < m->n_children; i++) {
        const char *n = m->children[i].name;
        if (strlen(n) == len && strncmp(n, dotted, len) == 0)
            return dot ? volt_module_child(m->children[i].module, dot + 1) : m->children[i].module;
    }
    return NULL;
}

volt_tensor *volt_module_get(const volt_module *m, const char *dotted) {
    if (!m || !dotted) return NULL;
    const char *dot = strrchr(dotted, '.');
    const volt_module *owner = m;
    if (dot) {
        char prefix[512];
        size_t len = (size_t)(dot - dotted);
        if (len >= sizeof prefix) return NULL;
        memcpy(prefix, dotted, len);
        prefix[len] = '\0';
        owner = volt_module_child(m, prefix);
        if (!owner) return NULL;
    }
    const char *local = dot ? dot + 1 : dotted;
    for (int i = 0; i < owner->n_params; i++)
        if (strcmp(owner->params[i].name, local) == 0) return owner->params[i].tensor;
    for (int i = 0; i < owner->n_buffers; i++)
        if (strcmp(owner->buffers[i].name, local) == 0) return owner->buffers[i].tensor;
    return NULL;
}

/* Walks the tree with a dotted-name prefix buffer. */
static void visit(const volt_module *m, char *prefix, size_t len, size_t cap, bool params,
                  bool buffers, volt_module_visit_fn fn, void *ctx, int pass) {
    const volt_module_entry *list = pass == 0 ? m->params : m->buffers;
    int n = pass == 0 ? m->n_params : m->n_buffers;
    for (int i = 0; i < n; i++) {
        if (pass == 1 && !list[i].persistent) continue;
        snprintf(prefix + len, cap - len, "%s", list[i].name);
        fn(prefix, list[i].tensor, pass == 0, ctx);
    }
    for (int i = 0; i < m->n_children; i++) {
        int w = snprintf(prefix + len, cap - len, "%s.", m->children[i].name);
        size_t next = len + (size_t)(w > 0 ? w : 0);
        if (next >= cap) next = cap - 1;
        visit(m->children[i].module, prefix, next, cap, params, buffers, fn, ctx, pass);
    }
    prefix[len] = '\0';
}

void volt_module_visit(const volt_module *m, bool params, bool buffers, volt_module_visit_fn fn,
                       void *ctx) {
    char prefix[1024] = "";
    if (params) visit(m, prefix, 0, sizeof prefix, params, buffers, fn, ctx, 0);
    if (buffers) visit(m, prefix, 0, sizeof prefix, params, buffers, fn, ctx, 1);
}

typedef struct {
    volt_tensor **tensors;
    char **names;
    int64_t count;
    bool failed;
} flat_ctx;

static void count_one(const char *name, volt_tensor *t, bool is_param, void *vctx) {
    (void)name, (void)t, (void)is_param;
    ((flat_ctx *)vctx)->count++;
}

static void collect_one(const char *name, volt_tensor *t, bool is_param, void *vctx) {
    (void)is_param;
    flat_ctx *c = vctx;
    c->tensors[c->count] = t;
    c->names[c->count] = strdup(name);
    if (!c->names[c->count]) c->failed = true;
    c->count++;
}

static void free_flat(volt_module *m) {
    for (int64_t i = 0; i < m->n_flat; i++) free(m->flat_names[i]);
    free(m->flat_names);
    free(m->flat_params);
    m->flat_names = NULL;
    m->flat_params = NULL;
    m->n_flat = 0;
    m->flat_valid = false;
}

volt_params volt_module_parameters(volt_module *m) {
    volt_params out = {0, NULL, NULL};
    if (!m) return out;
    if (!m->flat_valid) {
        free_flat(m);
        flat_ctx c = {0};
        volt_module_visit(m, true, false, count_one, &c);
        if (c.count == 0) { /* nothing to cache (and nothing to leak) */
            m->flat_valid = true;
            return out;
        }
        c.tensors = calloc((size_t)c.count + 1, sizeof *c.tensors);
        c.names = calloc((size_t)c.count + 1, sizeof *c.names);
        int64_t n = c.count;
        c.count = 0;
        if (c.tensors && c.names) volt_module_visit(m, true, false, collect_one, &c);
        m->flat_params = c.tensors;
        m->flat_names = c.names;
        m->n_flat = c.count;
        if (!c.tensors || !c.names || c.failed || c.count != n) {
            free_flat(m);
            volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "module_parameters: out of memory");
            return out;
        }
        m->flat_valid = true;
    }
    out.count = m->n_flat;
    out.tensors = m->flat_params;
    out.names = (const char *const *)m->flat_names;
    return out;
}

int64_t volt_module_num_parameters(volt_module *m, bool trainable_only) {
    volt_params p = volt_module_parameters(m);
    int64_t n = 0;
    for (int64_t i = 0; i < p.count; i++)
        if (!trainable_only || p.tensors[i]->requires_grad) n += volt_tensor_numel(p.tensors[i]);
    return n;
}

static void set_requires_grad(volt_module *m, bool on) {
    volt_params p = volt_module_parameters(m);
    for (int64_t i = 0; i < p.count; i++) p.tensors[i]->requires_grad = on;
}

void volt_module_freeze(volt_module *m) {
    if (m) set_requires_grad(m, false);
}

void volt_module_unfreeze(volt_module *m) {
    if (m) set_requires_grad(m, true);
}

void volt_module_train(volt_module *m, bool training) {
    if (!m) return;
    m->training = training;
    for (int i = 0; i < m->n_children; i++) volt_module_train(m->children[i].module, training);
}

bool volt_module_is_training(const volt_module *m) { return m && m->training; }

void volt_module_zero_grad(volt_module *m) {
    volt_params p = volt_module_parameters(m);
    for (int64_t i = 0; i < p.count; i++) volt_tensor_clear_grad(p.tensors[i]);
}

volt_tensor *volt_module_forward(volt_module *m, const volt_tensor *x) {
    if (!m) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "module_forward: module is NULL");
        return NULL;
    }
    if (!m->cls || !m->cls->forward) {
        volt_error_set(VOLT_ERR_UNSUPPORTED, "module_forward: '%s' (%s) has no forward",
                       volt_module_name(m), m->cls ? m->cls->type_name : "user module");
        return NULL;
    }
    return m->cls->forward(m, x);
}

void volt_module_free(volt_module *m) {
    if (!m) return;
    for (int i = m->n_children - 1; i >= 0; i--) {
        volt_module *c = m->children[i].module;
        c->parent = NULL;
        c->name = NULL; /* the entry's copy, freed below */
        volt_module_free(c);
    }
    if (m->cls && m->cls->destroy) m->cls->destroy(m);
    for (int i = 0; i < m->n_params; i++) {
        volt_tensor_free(m->params[i].tensor);
        free(m->params[i].name);
    }
    for (int i = 0; i < m->n_buffers; i++) {
        volt_tensor_free(m->buffers[i].tensor);
        free(m->buffers[i].name);
    }
    for (int i = 0; i < m->n_children; i++) free(m->children[i].name);
    free(m->params);
    free(m->buffers);
    free(m->children);
    free_flat(m);
    volt_module_free_hparams(m);
    bool heap = m->heap;
    if (!m->parent) free(m->name);
    const volt_module_ops *ops = m->ops;
    const volt_module_class *cls = m->cls;
    if (heap) {
        free(m);
        return;
    }
    /* A caller-owned module is left empty and reusable. */
    volt_module_init(m, ops);
    m->cls = cls;
}
