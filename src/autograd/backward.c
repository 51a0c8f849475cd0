/* backward.c: the backward engine — finds the nodes reachable from the
 * output, checks them (freed graph, in-place changes of saved tensors) before
 * running any, then runs them in reverse creation order, summing gradients
 * into each node's buffer, releasing saved tensors as each node finishes, and
 * accumulating into leaves and firing their grad-ready hooks. */
#include <stdlib.h>

#include "ops/ops_impl.h"

typedef struct {
    volt_node **items;
    int64_t count, capacity;
} node_list;

static bool list_push(node_list *l, volt_node *n) {
    if (l->count == l->capacity) {
        int64_t cap = l->capacity ? 2 * l->capacity : 64;
        volt_node **items = realloc(l->items, (size_t)cap * sizeof *items);
        if (!items) return false;
        l->items = items;
        l->capacity = cap;
    }
    l->items[l->count++] = n;
    return true;
}

/* Max-heap on sequence: the most recently created ready node runs first. */
static void heap_push(node_list *h, volt_node *n) {
    VOLT_ASSERT(list_push(h, n));
    int64_t i = h->count - 1;
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (h->items[parent]->sequence >= h->items[i]->sequence) break;
        volt_node *tmp = h->items[parent];
        h->items[parent] = h->items[i];
        h->items[i] = tmp;
        i = parent;
    }
}

static volt_node *heap_pop(node_list *h) {
    volt_node *top = h->items[0];
    h->items[0] = h->items[--h->count];
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->count && h->items[l]->sequence > h->items[m]->sequence) m = l;
        if (r < h->count && h->items[r]->sequence > h->items[m]->sequence) m = r;
        if (m == i) break;
        volt_node *tmp = h->items[m];
        h->items[m] = h->items[i];
        h->items[i] = tmp;
        i = m;
    }
    return top;
}

static _Thread_local uint64_t pass_stamp;

/* Collects the reachable nodes, counts the edges into each, and refuses a
 * freed graph or a saved tensor changed in place. */
static volt_status collect(volt_node *root, node_list *nodes) {
    uint64_t stamp = ++pass_stamp;
    node_list stack = {0};
    root->visit = stamp;
    root->pending = 0;
    volt_status st = VOLT_OK;
    if (!list_push(&stack, root) || !list_push(nodes, root)) st = VOLT_ERR_OUT_OF_MEMORY;
    while (st == VOLT_OK && stack.count > 0) {
        volt_node *n = stack.items[--stack.count];
        if (n->released) {
            st = volt_error_set(VOLT_ERR_STATE,
                                "backward: the graph through '%s' was already freed by an earlier "
                                "backward (pass retain_graph to run backward twice)",
                                n->name);
            break;
        }
        for (int i = 0; i < n->n_saved; i++) {
            uint64_t now = volt_storage_version(n->saved[i]->storage);
            if (now != n->saved_version[i]) {
                char buf[96];
                st = volt_error_set(VOLT_ERR_STATE,
                                    "backward: %s saved by '%s' was modified by an in-place "
                                    "operation (version %llu, saved at %llu)",
                                    volt_shape_str(n->saved[i], buf, sizeof buf), n->name,
                                    (unsigned long long)now,
                                    (unsigned long long)n->saved_version[i]);
                break;
            }
        }
        for (int i = 0; i < n->n_inputs && st == VOLT_OK; i++) {
            volt_node *in = n->inputs[i].fn;
            if (!in || !n->inputs[i].needs) continue;
            if (in->visit != stamp) {
                in->visit = stamp;
                in->pending = 0;
                if (!list_push(&stack, in) || !list_push(nodes, in)) st = VOLT_ERR_OUT_OF_MEMORY;
            }
            in->pending++;
        }
    }
    free(stack.items);
    if (st == VOLT_ERR_OUT_OF_MEMORY && volt_error_status() == VOLT_OK)
        volt_error_set(st, "backward: out of memory");
    return st;
}

/* buffer += g (taking a reference to the result). */
static volt_status add_to_buffer(volt_node *target, volt_tensor *g) {
    if (!target->grad_buffer) {
        target->grad_buffer = volt_tensor_retain(g);
        return VOLT_OK;
    }
    volt_tensor *sum = volt_add(target->grad_buffer, g);
    if (!sum) return volt_error_status();
    volt_tensor_release(target->grad_buffer);
    target->grad_buffer = volt_tensor_retain(sum);
    return VOLT_OK;
}

static volt_status accumulate_into_leaf(volt_node *acc) {
    volt_tensor *leaf = acc->leaf, *g = acc->grad_buffer;
    if (!leaf || !g) return VOLT_OK;
    if (!leaf->grad) {
        /* A gradient nothing else refers to (the usual fresh output of a
         * backward op) becomes the leaf's own; anything else is copied. */
        bool sole = g->refcount == 1 && g->scope_depth < 0 && volt_tensor_is_contiguous(g) &&
                    g->offset == 0 && volt_storage_refcount(g->storage) == 1 &&
                    volt_storage_nbytes(g->storage) ==
                        (size_t)volt_tensor_numel(g) * volt_dtype_size(g->dtype) &&
                    g->dtype == leaf->dtype;
        if (sole) {
            leaf->grad = volt_tensor_retain(g);
        } else {
            volt_tensor *copy = volt_clone(g);
            if (!copy) return volt_error_status();
            leaf->grad = volt_persist(copy);
        }
    } else if (!volt_add_(leaf->grad, g)) {
        return volt_error_status();
    }
    volt_autograd_fire_hooks(leaf);
    return VOLT_OK;
}

static volt_status run_node(volt_node *n, node_list *ready) {
    if (!n->backward) return accumulate_into_leaf(n);
    volt_tensor *local[16];
    volt_tensor **grads = n->n_inputs <= 16 ? local : calloc((size_t)n->n_inputs, sizeof *grads);
    if (!grads) return volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "backward: out of memory");
    for (int i = 0; i < n->n_inputs; i++) grads[i] = NULL;
    volt_scope_begin();
    bool clean_before = volt_error_status() == VOLT_OK;
    volt_status st = n->grad_buffer ? n->backward(n, n->grad_buffer, grads) : VOLT_OK;
    if (st != VOLT_OK && volt_error_status() == VOLT_OK)
        volt_error_set(st, "backward: '%s' failed", n->name);
    /* An op that failed inside the backward left the sticky error and a NULL
     * gradient: that is a failure, not a zero gradient. */
    if (st == VOLT_OK && clean_before && volt_error_status() != VOLT_OK) st = volt_error_status();
    for (int i = 0; i < n->n_inputs && st == VOLT_OK; i++) {
        const volt_node_input *in = &n->inputs[i];
        if (!in->needs || !grads[i]) continue;
        /* A 16-bit gradient of an f32 input (a parameter under autocast) is
         * widened before it is summed over broadcast dims (a bias), so that
         * the sum keeps f32's precision. */
        volt_tensor *g = grads[i];
        bool widen = volt_dtype_size(g->dtype) < volt_dtype_size(in->dtype) &&
                     volt_dtype_is_float(g->dtype) && volt_dtype_is_float(in->dtype);
        if (widen) g = volt_to_dtype(g, in->dtype);
        g = volt_sum_to_shape(g, in->ndim, in->shape);
        if (g && g->dtype != in->dtype) g = volt_to_dtype(g, in->dtype);
        st = g ? add_to_buffer(in->fn, g) : volt_error_status();
    }
    volt_scope_end();
    if (grads != local) free(grads);
    if (st != VOLT_OK) return st;
    for (int i = 0; i < n->n_inputs; i++) {
        const volt_node_input *in = &n->inputs[i];
        if (in->needs && --in->fn->pending == 0) heap_push(ready, in->fn);
    }
    return VOLT_OK;
}

static void release_saved(volt_node *n) {
    for (int i = 0; i < n->n_saved; i++) volt_tensor_release(n->saved[i]);
    n->n_saved = 0;
    if (n->backward) n->released = true;
}

volt_status volt_backward(volt_tensor *loss) { return volt_backward_ex(loss, NULL, false); }

volt_status volt_backward_ex(volt_tensor *output, const volt_tensor *grad_output,
                             bool retain_graph) {
    if (!output) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "backward: output is NULL");
    char buf[96], buf2[96];
    if (!output->requires_grad)
        return volt_error_set(VOLT_ERR_STATE,
                              "backward: %s does not require grad and has no grad_fn",
                              volt_shape_str(output, buf, sizeof buf));
    if (!grad_output && volt_tensor_numel(output) != 1)
        return volt_error_set(VOLT_ERR_SHAPE,
                              "backward: a gradient can be implied only for a one-element output, "
                              "got %s (pass grad_output)",
                              volt_shape_str(output, buf, sizeof buf));
    if (grad_output) {
        bool same = grad_output->ndim == output->ndim;
        for (int i = 0; same && i < output->ndim; i++)
            same = grad_output->shape[i] == output->shape[i];
        if (!same)
            return volt_error_set(VOLT_ERR_SHAPE,
                                  "backward: grad_output %s does not match output %s",
                                  volt_shape_str(grad_output, buf, sizeof buf),
                                  volt_shape_str(output, buf2, sizeof buf2));
    }
    volt_node *root = output->grad_fn ? output->grad_fn : volt_autograd_accumulate_node(output);
    if (!root) return volt_error_status();
    volt_node_retain(root);
    node_list nodes = {0}, ready = {0};
    volt_status st = collect(root, &nodes);
    bool was_enabled = volt_grad_enabled();
    volt_set_grad_enabled(false);
    /* Backward functions run with autocast off, whatever the caller's mode:
     * a node computes as its forward did (products keep their forward's
     * mode), and the products inside other nodes' backward (attention's)
     * run in their operands' dtype. */
    volt_autocast_mode autocast = volt_autocast_set(VOLT_AUTOCAST_OFF);
    volt_scope_begin();
    if (st == VOLT_OK) {
        /* The caller's grad_output is used as it is when its dtype fits: the
         * engine never writes into a gradient it does not own. */
        volt_tensor *seed;
        if (!grad_output)
            seed = volt_ones_like(output);
        else if (grad_output->dtype == output->dtype)
            seed = (volt_tensor *)grad_output;
        else
            seed = volt_to_dtype(grad_output, output->dtype);
        st = seed ? add_to_buffer(root, seed) : volt_error_status();
    }
    if (st == VOLT_OK) heap_push(&ready, root);
    while (st == VOLT_OK && ready.count > 0) {
        volt_node *n = heap_pop(&ready);
        st = run_node(n, &ready);
        volt_tensor_release(n->grad_buffer);
        n->grad_buffer = NULL;
        if (!retain_graph) release_saved(n);
    }
    for (int64_t i = 0; i < nodes.count; i++) {
        volt_tensor_release(nodes.items[i]->grad_buffer);
        nodes.items[i]->grad_buffer = NULL;
    }
    volt_scope_end();
    volt_autocast_set(autocast);
    volt_set_grad_enabled(was_enabled);
    free(nodes.items);
    free(ready.items);
    volt_node_release(root);
    return st;
}
