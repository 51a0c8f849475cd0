/* volt/nn.h: the nn layer — modules (parameters, buffers, children,
 * train/eval mode, state dicts, hyperparameters), layers, initialisers.
 *
 * A module is a struct whose first member is a volt_module. A user's own
 * module is initialised with volt_module_init (it may live on the stack or
 * inside another struct); layers are created with volt_<layer>_new(parent,
 * name, ...), which registers them as a child of `parent` (NULL: standalone).
 * Parameters, buffers and children belong to their module: volt_module_free
 * frees them all, children first. Parameter and buffer tensors are
 * caller-owned (not in any scope) and live as long as their module.
 *
 * Names: a parameter "weight" of child "fc1" of child "encoder" is
 * "encoder.fc1.weight" in state dicts and lookups. Local names may not be
 * empty, contain '.', or repeat within one module. */
#ifndef VOLT_NN_H
#define VOLT_NN_H

#include "volt/autograd.h"
#include "volt/core.h"
#include "volt/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct volt_module volt_module;
/* The training hooks of a module (training_step, configure_optimizers, ...)
 * are defined by the train layer (volt/train.h); nn only carries the pointer. */
typedef struct volt_module_ops volt_module_ops;

/* What a layer type supplies: its name, how to run it (for Sequential and
 * generic callers) and how to free its own extra state. */
typedef struct {
    const char *type_name; /* "Linear", "Conv2d", ... */
    /* y = layer(x); NULL for layers that take other inputs. */
    volt_tensor *(*forward)(volt_module *self, const volt_tensor *x);
    /* Frees what the layer allocated beyond parameters, buffers and children
     * (caches, primitives); may be NULL. Does not free the struct itself. */
    void (*destroy)(volt_module *self);
    /* Size of the layer's struct (volt_module first), for heap layers. */
    size_t size;
} volt_module_class;

typedef struct volt_module_entry volt_module_entry; /* private */
typedef struct volt_hparam volt_hparam;             /* private */

struct volt_module {
    const volt_module_ops *ops;   /* training hooks; NULL for plain layers */
    const volt_module_class *cls; /* layer type; NULL for user modules */
    /* private: */
    char *name;
    volt_module *parent;
    bool training;
    bool heap; /* created by volt_module_new: freed with its parent */
    volt_module_entry *params, *buffers, *children;
    int n_params, n_buffers, n_children;
    int cap_params, cap_buffers, cap_children;
    volt_hparam *hparams;
    int n_hparams, cap_hparams;
    volt_tensor **flat_params; /* cache for volt_module_parameters */
    char **flat_names;
    int64_t n_flat;
    bool flat_valid;
};

/* Prepares a module living in caller memory (zeroes it, training mode on). */
void volt_module_init(volt_module *m, const volt_module_ops *ops);
/* Allocates a zeroed module of cls->size bytes, initialises it and registers
 * it as `name` under parent (parent NULL: standalone, freed with
 * volt_module_free). Returns NULL with an error on a bad name. For layer
 * constructors. */
volt_module *volt_module_new(volt_module *parent, const char *name, const volt_module_class *cls);
/* Frees parameters, buffers, hyperparameters and children (layers created by
 * volt_module_new entirely). A module from volt_module_init keeps its own
 * struct; one from volt_module_new that has no parent is freed too. */
void volt_module_free(volt_module *m);

/* Registers `t` as a parameter: takes it out of any scope (the module owns
 * it now), sets requires_grad (floating dtypes only). Returns t, or NULL with
 * an error (bad or repeated name; t freed). */
volt_tensor *volt_module_add_parameter(volt_module *m, const char *name, volt_tensor *t);
/* Registers `t` as a buffer (running statistics, ...): owned by the module,
 * no gradient; persistent buffers appear in state dicts. */
volt_tensor *volt_module_add_buffer(volt_module *m, const char *name, volt_tensor *t,
                                    bool persistent);
/* Replaces the tensor of parameter or buffer `name` of m (local name), for
 * layers that reallocate; the old tensor is freed. */
volt_status volt_module_replace(volt_module *m, const char *name, volt_tensor *t);
/* Registers an existing module as a child (a user's sub-module struct; it is
 * not freed with the parent unless it came from volt_module_new). */
volt_status volt_module_add_child(volt_module *parent, const char *name, volt_module *child);

/* Looks up a parameter or buffer by dotted name ("encoder.fc1.weight");
 * NULL (no error recorded) if absent. */
volt_tensor *volt_module_get(const volt_module *m, const char *dotted_name);
/* Looks up a child by dotted name; NULL if absent. */
volt_module *volt_module_child(const volt_module *m, const char *dotted_name);
const char *volt_module_name(const volt_module *m); /* local name; "" for a root */

/* Every parameter of m and its descendants, in registration order (own
 * parameters first, then each child's, depth first), with dotted names. The
 * arrays belong to the module and stay valid until its parameters change. */
typedef struct {
    int64_t count;
    volt_tensor *const *tensors;
    const char *const *names;
} volt_params;
volt_params volt_module_parameters(volt_module *m);
/* Number of parameter elements (all, or only those requiring grad). */
int64_t volt_module_num_parameters(volt_module *m, bool trainable_only);

/* requires_grad off (freeze) / on (unfreeze) for every parameter below m. */
void volt_module_freeze(volt_module *m);
void volt_module_unfreeze(volt_module *m);
/* Train (true) or eval (false) mode for m and all its descendants. */
void volt_module_train(volt_module *m, bool training);
bool volt_module_is_training(const volt_module *m);
/* Clears the gradient of every parameter (set to none). */
void volt_module_zero_grad(volt_module *m);
/* Runs cls->forward; error for a module without one. */
volt_tensor *volt_module_forward(volt_module *m, const volt_tensor *x);

/* ------------------------------------------------------------ state dicts */

/* A list of (dotted name, tensor): parameters then persistent buffers, in
 * registration order. The tensors are the module's own (not copies); the
 * list itself is freed with volt_state_dict_free. */
typedef struct {
    int64_t count;
    char **names;
    volt_tensor **tensors;
    bool owns_tensors; /* true for dicts read from files */
} volt_state_dict;

volt_state_dict *volt_module_state_dict(volt_module *m);
void volt_state_dict_free(volt_state_dict *sd);
/* A tensor of the dict by name; NULL if absent. */
volt_tensor *volt_state_dict_get(const volt_state_dict *sd, const char *name);

/* What a load did not match. Strings are owned by the report. */
typedef struct {
    int64_t n_missing, n_unexpected, n_mismatched;
    char **missing;    /* in the module, not in the dict */
    char **unexpected; /* in the dict, not in the module */
    char **mismatched; /* in both with other shapes: "fc1.weight: [10,5] vs [10,4]" */
} volt_load_report;
void volt_load_report_free(volt_load_report *r);

/* Copies the dict's values into m's parameters and buffers (converting
 * dtype). strict: any missing, unexpected or mismatched key is an error
 * naming the first of each, and nothing is changed. Not strict: matching
 * keys are loaded and `report` (may be NULL) lists the rest; shape
 * mismatches are never loaded. */
volt_status volt_module_load_state_dict(volt_module *m, const volt_state_dict *sd, bool strict,
                                        volt_load_report *report);
/* Files: volt_state_dict_save / volt_state_dict_load in volt/io.h (the io
 * layer sits above nn). */

/* -------------------------------------------------------- hyperparameters */

typedef enum { VOLT_HPARAM_INT, VOLT_HPARAM_DOUBLE, VOLT_HPARAM_BOOL, VOLT_HPARAM_STRING } volt_hparam_type;

/* Records name -> value (replacing an earlier value of the same name), in
 * insertion order; checkpoints and hparams.yaml store them. */
volt_status volt_module_set_hparam_int(volt_module *m, const char *name, int64_t value);
volt_status volt_module_set_hparam_double(volt_module *m, const char *name, double value);
volt_status volt_module_set_hparam_bool(volt_module *m, const char *name, bool value);
volt_status volt_module_set_hparam_string(volt_module *m, const char *name, const char *value);
int volt_module_hparam_count(const volt_module *m);
const char *volt_module_hparam_name(const volt_module *m, int i);
volt_hparam_type volt_module_hparam_type(const volt_module *m, int i);
/* The value as text: "3", "0.1", "true", the string itself. NULL if i is out
 * of range. */
const char *volt_module_hparam_text(const volt_module *m, int i);
/* Numeric lookup by name (ints and bools convert); NAN if absent or text. */
double volt_module_hparam_number(const volt_module *m, const char *name);

/* ----------------------------------------------------------- initialisers */
/* In place, under no-grad, drawing from `gen` (NULL: the default generator).
 * Floating tensors only; each returns VOLT_OK or records an error naming the
 * initialiser and the tensor. Fans follow PyTorch: for a weight [out, in,
 * k...], fan_in = in * prod(k), fan_out = out * prod(k); 1-D tensors refused
 * by the fan-based initialisers. (init.c) */

typedef enum { VOLT_FAN_IN = 0, VOLT_FAN_OUT } volt_fan_mode;

volt_status volt_init_fans(const volt_tensor *t, int64_t *fan_in, int64_t *fan_out);
/* torch.nn.init.calculate_gain: "linear", "conv1d", "conv2d", "sigmoid",
 * "tanh", "relu", "leaky_relu" (param = negative slope; NAN: 0.01), "selu". */
double volt_init_calculate_gain(const char *nonlinearity, double param);
volt_status volt_init_uniform_(volt_tensor *t, double low, double high, volt_generator *gen);
volt_status volt_init_normal_(volt_tensor *t, double mean, double std, volt_generator *gen);
/* Normal(mean, std) redrawn (or inverse-CDF sampled) into [a, b]. */
volt_status volt_init_trunc_normal_(volt_tensor *t, double mean, double std, double a, double b,
                                    volt_generator *gen);
volt_status volt_init_constant_(volt_tensor *t, double value);
volt_status volt_init_zeros_(volt_tensor *t);
volt_status volt_init_ones_(volt_tensor *t);
volt_status volt_init_xavier_uniform_(volt_tensor *t, double gain, volt_generator *gen);
volt_status volt_init_xavier_normal_(volt_tensor *t, double gain, volt_generator *gen);
/* a: the negative slope for leaky_relu; nonlinearity "relu" or "leaky_relu". */
volt_status volt_init_kaiming_uniform_(volt_tensor *t, double a, volt_fan_mode mode,
                                       const char *nonlinearity, volt_generator *gen);
volt_status volt_init_kaiming_normal_(volt_tensor *t, double a, volt_fan_mode mode,
                                      const char *nonlinearity, volt_generator *gen);
/* A (semi-)orthogonal matrix from the QR of a normal one (t viewed as
 * [rows, numel / rows]). */
volt_status volt_init_orthogonal_(volt_tensor *t, double gain, volt_generator *gen);

/* ------------------------------------------------------------------ layers */
/* Each layer: a struct embedding volt_module first, a constructor
 * volt_<layer>_new(parent, name, ...) returning it registered under parent
 * (NULL + error on bad hyperparameters, naming the layer and the value), and
 * volt_<layer>_forward(layer, x...) (NULL + error naming the layer on a wrong
 * input rank or size). Options structs: a zeroed field means PyTorch's
 * default. Parameters are f32 and initialised like PyTorch's defaults. */

/* --- layers: Linear, Bilinear, Embedding, Dropout, Flatten, Identity,
 *     Sequential, LayerNorm, GroupNorm, RMSNorm, MultiheadSelfAttention
 *     (layers.c and friends) --- */

/* --- layers: Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d,
 *     AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d (conv.c and friends) --- */

#ifdef __cplusplus
}
#endif

#endif /* VOLT_NN_H */
