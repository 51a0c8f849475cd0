/* graph.c: building the autograd graph — grad mode, nodes and their
 * references, saved tensors, leaves' accumulate nodes and grad-ready hooks,
 * requires_grad and detach. */
#include <stdlib.h>
#include <string.h>

#include "ops/ops_impl.h"

struct volt_grad_hook {
    volt_grad_hook_fn fn;
    void *user_data;
    struct volt_grad_hook *next;
};

static _Thread_local bool grad_disabled;
static _Thread_local int no_grad_depth;
static _Thread_local bool saved_modes[64];
static _Thread_local uint64_t next_sequence;

bool volt_grad_enabled(void) { return !grad_disabled; }

void volt_set_grad_enabled(bool enabled) { grad_disabled = !enabled; }

void volt_no_grad_begin(void) {
    if (no_grad_depth < 64) saved_modes[no_grad_depth] = grad_disabled;
    no_grad_depth++;
    grad_disabled = true;
}

void volt_no_grad_end(void) {
    if (no_grad_depth == 0) {
        volt_error_set(VOLT_ERR_STATE, "no_grad_end: no no-grad region is open");
        return;
    }
    no_grad_depth--;
    grad_disabled = no_grad_depth < 64 ? saved_modes[no_grad_depth] : true;
}

bool volt_autograd_should_record(int n, const volt_tensor *const *inputs) {
    if (grad_disabled) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

static volt_node *node_new(const char *name, volt_backward_fn backward, int n_inputs) {
    volt_node *node = volt_cache_alloc(VOLT_CACHE_NODE, sizeof *node);
    volt_node_input *inputs = NULL;
    if (node && n_inputs <= VOLT_NODE_INLINE_INPUTS)
        inputs = node->inline_inputs;
    else if (node)
        inputs = calloc((size_t)n_inputs, sizeof *inputs);
    if (!node || !inputs) {
        volt_cache_free(VOLT_CACHE_NODE, node);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "%s: out of memory recording the graph", name);
        return NULL;
    }
    node->name = name;
    node->backward = backward;
    node->refcount = 1;
    node->n_inputs = n_inputs;
    node->inputs = inputs;
    node->sequence = next_sequence++;
    return node;
}

/* The accumulate node of a leaf that requires grad (created on first use;
 * the leaf holds one reference, the graph others). */
volt_node *volt_autograd_accumulate_node(volt_tensor *leaf) {
    if (!leaf->grad_acc) {
        leaf->grad_acc = node_new("accumulate_grad", NULL, 0);
        if (leaf->grad_acc) leaf->grad_acc->leaf = leaf;
    }
    return leaf->grad_acc;
}

volt_node *volt_autograd_record(const char *name, volt_backward_fn backward, volt_tensor *output,
                                int n, const volt_tensor *const *inputs) {
    volt_node *node = node_new(name, backward, n);
    if (!node) return NULL;
    for (int i = 0; i < n; i++) {
        const volt_tensor *in = inputs[i];
        volt_node_input *slot = &node->inputs[i];
        if (!in) continue;
        slot->ndim = in->ndim;
        memcpy(slot->shape, in->shape, sizeof slot->shape);
        slot->dtype = in->dtype;
        if (!in->requires_grad) continue;
        volt_node *fn =
            in->grad_fn ? in->grad_fn : volt_autograd_accumulate_node((volt_tensor *)in);
        if (!fn) {
            volt_node_release(node);
            return NULL;
        }
        volt_node_retain(fn);
        slot->fn = fn;
        slot->needs = true;
    }
    output->requires_grad = true;
    output->grad_fn = node;
    return node;
}

int volt_node_save(volt_node *node, const volt_tensor *t) {
    VOLT_ASSERT(node->n_saved < VOLT_NODE_MAX_SAVED);
    int slot = node->n_saved++;
    node->saved[slot] = volt_tensor_retain((volt_tensor *)t);
    node->saved_version[slot] = volt_storage_version(t->storage);
    return slot;
}

int volt_node_save_output(volt_node *node, const volt_tensor *output) {
    VOLT_ASSERT(node->n_saved < VOLT_NODE_MAX_SAVED);
    volt_tensor *alias = volt_persist(
        volt_tensor_alias(output, output->ndim, output->shape, output->strides, output->offset));
    VOLT_ASSERT(alias != NULL);
    int slot = node->n_saved++;
    node->saved[slot] = alias;
    node->saved_version[slot] = volt_storage_version(output->storage);
    return slot;
}

volt_tensor *volt_node_saved(const volt_node *node, int slot) {
    VOLT_ASSERT(slot >= 0 && slot < node->n_saved);
    return node->saved[slot];
}

void volt_node_retain(volt_node *node) {
    if (node) node->refcount++;
}

/* Releases without recursion (graphs can be deep): nodes whose count drops
 * to zero are queued and their inputs released in turn. */
void volt_node_release(volt_node *node) {
    if (!node || --node->refcount > 0) return;
    volt_node **stack = NULL;
    int64_t top = 0, cap = 0;
    volt_node *current = node;
    while (current) {
        for (int i = 0; i < current->n_inputs; i++) {
            volt_node *in = current->inputs[i].fn;
            if (!in || --in->refcount > 0) continue;
            if (top == cap) {
                cap = cap ? 2 * cap : 64;
                volt_node **grown = realloc(stack, (size_t)cap * sizeof *grown);
                VOLT_ASSERT(grown != NULL);
                stack = grown;
            }
            stack[top++] = in;
        }
        for (int i = 0; i < current->n_saved; i++) volt_tensor_release(current->saved[i]);
        volt_tensor_release(current->grad_buffer);
        free(current->extra);
        if (current->inputs != current->inline_inputs) free(current->inputs);
        volt_cache_free(VOLT_CACHE_NODE, current);
        current = top > 0 ? stack[--top] : NULL;
    }
    free(stack);
}

/* Called by the core when a tensor's last reference goes. */
void volt_autograd_tensor_freed(volt_tensor *t) {
    if (t->grad) {
        volt_tensor *g = t->grad;
        t->grad = NULL;
        volt_tensor_release(g);
    }
    if (t->grad_acc) {
        t->grad_acc->leaf = NULL;
        volt_node *acc = t->grad_acc;
        t->grad_acc = NULL;
        volt_node_release(acc);
    }
    volt_node_release(t->grad_fn);
    t->grad_fn = NULL;
    struct volt_grad_hook *h = t->hooks;
    while (h) {
        struct volt_grad_hook *next = h->next;
        free(h);
        h = next;
    }
    t->hooks = NULL;
}

volt_tensor *volt_requires_grad(volt_tensor *t, bool requires_grad) {
    if (!volt_check_not_null("requires_grad", t, "tensor")) return NULL;
    char buf[96];
    if (t->grad_fn) {
        volt_error_set(VOLT_ERR_STATE,
                       "requires_grad: %s is the output of '%s', not a leaf (detach it first)",
                       volt_shape_str(t, buf, sizeof buf), t->grad_fn->name);
        return NULL;
    }
    if (requires_grad && !volt_dtype_is_float(t->dtype)) {
        volt_error_set(VOLT_ERR_DTYPE,
                       "requires_grad: only floating-point tensors can require grad, got %s",
                       volt_shape_str(t, buf, sizeof buf));
        return NULL;
    }
    t->requires_grad = requires_grad;
    return t;
}

volt_tensor *volt_tensor_detach(const volt_tensor *t) {
    if (!volt_check_not_null("detach", t, "tensor")) return NULL;
    return volt_tensor_alias(t, t->ndim, t->shape, t->strides, t->offset);
}

void volt_tensor_clear_grad(volt_tensor *t) {
    if (!t || !t->grad) return;
    volt_tensor *g = t->grad;
    t->grad = NULL;
    volt_tensor_release(g);
}

volt_status volt_tensor_add_grad_hook(volt_tensor *leaf, volt_grad_hook_fn fn, void *user_data) {
    if (!leaf || !fn)
        return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "add_grad_hook: NULL %s",
                              leaf ? "hook" : "tensor");
    if (leaf->grad_fn || !leaf->requires_grad) {
        char buf[96];
        return volt_error_set(VOLT_ERR_STATE, "add_grad_hook: %s is not a leaf that requires grad",
                              volt_shape_str(leaf, buf, sizeof buf));
    }
    struct volt_grad_hook *h = malloc(sizeof *h);
    if (!h) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "add_grad_hook: out of memory");
    h->fn = fn;
    h->user_data = user_data;
    h->next = NULL;
    struct volt_grad_hook **tail = &leaf->hooks;
    while (*tail) tail = &(*tail)->next;
    *tail = h;
    return VOLT_OK;
}

void volt_autograd_fire_hooks(volt_tensor *leaf) {
    for (struct volt_grad_hook *h = leaf->hooks; h; h = h->next) h->fn(leaf, h->user_data);
}

const char *volt_grad_fn_name(const volt_tensor *t) {
    return t && t->grad_fn ? t->grad_fn->name : NULL;
}
