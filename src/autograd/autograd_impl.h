/* autograd_impl.h: the recording interface ops use to build the graph
 * (DESIGN.md §3): nodes, their inputs' metadata, saved tensors with version
 * checks, and the grad-mode query. The engine is in backward.c. */
#ifndef VOLT_AUTOGRAD_IMPL_H
#define VOLT_AUTOGRAD_IMPL_H

#include "volt/autograd.h"
#include "volt/ops.h"

/* A node's backward: given the gradient of its output, write into grads[i]
 * the gradient for input i (NULL where not needed: see node->inputs[i].needs,
 * or when it is zero). A gradient may have a broadcast shape of the input's:
 * the engine sums it back to the input's shape. Runs with grad mode off,
 * inside a scope of the engine's. Returns VOLT_OK or an error. */
typedef volt_status (*volt_backward_fn)(volt_node *node, volt_tensor *grad_output,
                                        volt_tensor **grads);

typedef struct {
    volt_node *fn; /* where its gradient goes: producer or accumulate node */
    bool needs;    /* whether a gradient is wanted */
    int ndim;
    int64_t shape[VOLT_MAX_DIMS];
    volt_dtype dtype;
} volt_node_input;

#define VOLT_NODE_MAX_SAVED 5
#define VOLT_NODE_INLINE_INPUTS 2

struct volt_node {
    const char *name;
    volt_backward_fn backward;
    int32_t refcount;
    int n_inputs;
    volt_node_input *inputs; /* inline_inputs when n_inputs <= 2 */
    volt_node_input inline_inputs[VOLT_NODE_INLINE_INPUTS];
    volt_tensor *saved[VOLT_NODE_MAX_SAVED];
    uint64_t saved_version[VOLT_NODE_MAX_SAVED];
    int n_saved;
    double args[4]; /* op-specific scalars */
    int64_t iargs[VOLT_MAX_DIMS + 2];
    void *extra; /* op-specific, freed with free() with the node */
    uint64_t sequence;
    volt_tensor *leaf; /* accumulate node: its leaf (not referenced) */
    /* engine state */
    volt_tensor *grad_buffer;
    int32_t pending;
    uint64_t visit;
    bool released;
};

/* True when an op on these inputs must record: grad mode on and one of them
 * requires grad. NULLs are skipped. */
bool volt_autograd_should_record(int n, const volt_tensor *const *inputs);

/* Creates a node for `output` with n inputs and attaches it (output becomes
 * requires_grad, output->grad_fn = node). Returns the node to save tensors
 * into, or NULL with an out-of-memory error. */
volt_node *volt_autograd_record(const char *name, volt_backward_fn backward, volt_tensor *output,
                                int n, const volt_tensor *const *inputs);
/* Saves an input (a reference is held) for backward; returns its slot. */
int volt_node_save(volt_node *node, const volt_tensor *t);
/* Saves the node's own output: a data-only alias, so no cycle forms. */
int volt_node_save_output(volt_node *node, const volt_tensor *output);
/* The saved tensor in `slot` (call only from backward; the engine has
 * checked its version). */
volt_tensor *volt_node_saved(const volt_node *node, int slot);

/* Calls a leaf's grad-ready hooks in the order they were added. */
void volt_autograd_fire_hooks(volt_tensor *leaf);

/* The accumulate node of a leaf that requires grad (created on first use). */
volt_node *volt_autograd_accumulate_node(volt_tensor *leaf);

void volt_node_retain(volt_node *node);
void volt_node_release(volt_node *node);

#endif
